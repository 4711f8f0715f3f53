//! Progress reporting as a value the caller implements.
//!
//! Long work (a bootstrap, a sweep, corpus preparation) opens a [`Task`]
//! on the `Progress` it was given, advances it and lets it drop. The CLI
//! turns the events into terminal bars, the Python package into calls of a
//! user's callback; [`Silent`] ignores them. Tasks may run concurrently
//! (a sweep's runs on several threads), so events carry a task id.

use std::sync::atomic::{AtomicU64, Ordering};

/// One progress event.
#[derive(Clone, Debug, PartialEq)]
pub enum Event<'a> {
    /// A task begins: `total` units if known (`None`: a spinner).
    Begin {
        id: u64,
        /// What is being done, e.g. "bootstrap" or a run's name.
        label: &'a str,
        total: Option<u64>,
        /// What a unit is, e.g. "resamples", "runs", "steps", "bytes".
        unit: &'a str,
    },
    /// `done` units of the task are finished; `message` may say more
    /// (e.g. the current loss). `total` may be revised.
    Advance {
        id: u64,
        done: u64,
        total: Option<u64>,
        message: &'a str,
    },
    /// A line worth showing that belongs to no bar (e.g. "run a: done").
    Note { id: u64, message: &'a str },
    /// The task ended (normally or not).
    End { id: u64 },
}

/// Receives progress events. Implementations must be cheap: events can
/// arrive from many threads, up to thousands per second.
pub trait Progress: Send + Sync {
    fn event(&self, event: &Event<'_>);
}

/// Ignores every event: the default for library callers.
#[derive(Clone, Copy, Debug, Default)]
pub struct Silent;

impl Progress for Silent {
    fn event(&self, _: &Event<'_>) {}
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A running task on a [`Progress`]; sends `End` when dropped.
pub struct Task<'p> {
    progress: &'p dyn Progress,
    id: u64,
    total: Option<u64>,
    done: AtomicU64,
}

impl<'p> Task<'p> {
    /// Begins a task of `total` units (or unknown).
    pub fn begin(progress: &'p dyn Progress, label: &str, total: Option<u64>, unit: &str) -> Self {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        progress.event(&Event::Begin {
            id,
            label,
            total,
            unit,
        });
        Task {
            progress,
            id,
            total,
            done: AtomicU64::new(0),
        }
    }

    /// The task's id (as in its events).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Adds `n` finished units (thread-safe).
    pub fn inc(&self, n: u64) {
        let done = self.done.fetch_add(n, Ordering::Relaxed) + n;
        self.progress.event(&Event::Advance {
            id: self.id,
            done,
            total: self.total,
            message: "",
        });
    }

    /// Sets the number of finished units and a message.
    pub fn set(&self, done: u64, message: &str) {
        self.done.store(done, Ordering::Relaxed);
        self.progress.event(&Event::Advance {
            id: self.id,
            done,
            total: self.total,
            message,
        });
    }

    /// Changes the message shown with the bar, keeping its count.
    pub fn message(&self, message: &str) {
        self.progress.event(&Event::Advance {
            id: self.id,
            done: self.done(),
            total: self.total,
            message,
        });
    }

    /// A line worth showing beside the bar.
    pub fn note(&self, message: &str) {
        self.progress.event(&Event::Note {
            id: self.id,
            message,
        });
    }

    /// Units finished so far.
    pub fn done(&self) -> u64 {
        self.done.load(Ordering::Relaxed)
    }
}

impl Drop for Task<'_> {
    fn drop(&mut self) {
        self.progress.event(&Event::End { id: self.id });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Record(Mutex<Vec<String>>);
    impl Progress for Record {
        fn event(&self, e: &Event<'_>) {
            let s = match e {
                Event::Begin { label, total, .. } => format!("begin {label} {total:?}"),
                Event::Advance { done, message, .. } => format!("advance {done} {message}"),
                Event::Note { message, .. } => format!("note {message}"),
                Event::End { .. } => "end".to_string(),
            };
            self.0.lock().unwrap().push(s);
        }
    }

    #[test]
    fn a_task_sends_begin_advances_and_end() {
        let rec = Record::default();
        {
            let t = Task::begin(&rec, "bootstrap", Some(3), "resamples");
            t.inc(1);
            t.inc(2);
            t.set(3, "loss 1.5");
            t.note("done");
            assert_eq!(t.done(), 3);
        }
        let got = rec.0.into_inner().unwrap();
        assert_eq!(
            got,
            [
                "begin bootstrap Some(3)",
                "advance 1 ",
                "advance 3 ",
                "advance 3 loss 1.5",
                "note done",
                "end"
            ]
        );
    }

    #[test]
    fn tasks_have_distinct_ids() {
        let a = Task::begin(&Silent, "a", None, "");
        let b = Task::begin(&Silent, "b", None, "");
        assert_ne!(a.id(), b.id());
    }
}
