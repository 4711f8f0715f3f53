//! Progress events to a Python callable.
//!
//! The library runs without the GIL; on each event the adapter takes the
//! GIL, calls the user's callback with a dict, and lets go again. An
//! exception raised by the callback (or a pending KeyboardInterrupt) is
//! kept, later events are ignored, and the exception is raised when the
//! work returns.

use pyo3::prelude::*;
use pyo3::types::PyDict;
use scalelab::{Event, Progress};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// A [`Progress`] calling a Python callable (or nothing).
pub struct PyProgress {
    callback: Option<Py<PyAny>>,
    error: Mutex<Option<PyErr>>,
    stop: AtomicBool,
}

impl PyProgress {
    /// `callback` is `None` or a callable taking one dict.
    pub fn new(callback: Option<Py<PyAny>>) -> Self {
        PyProgress {
            callback,
            error: Mutex::new(None),
            stop: AtomicBool::new(false),
        }
    }

    /// The exception the callback raised, if any.
    pub fn take_error(&self) -> Option<PyErr> {
        self.error.lock().map(|mut e| e.take()).unwrap_or(None)
    }

    /// `result`, unless the callback raised: then its exception.
    pub fn finish<T>(&self, result: PyResult<T>) -> PyResult<T> {
        match self.take_error() {
            Some(e) => Err(e),
            None => result,
        }
    }

    fn call(&self, py: Python<'_>, cb: &Py<PyAny>, event: &Event<'_>) -> PyResult<()> {
        py.check_signals()?;
        let d = PyDict::new(py);
        match event {
            Event::Begin {
                id,
                label,
                total,
                unit,
            } => {
                d.set_item("kind", "begin")?;
                d.set_item("id", id)?;
                d.set_item("label", label)?;
                d.set_item("total", total)?;
                d.set_item("unit", unit)?;
            }
            Event::Advance {
                id,
                done,
                total,
                message,
            } => {
                d.set_item("kind", "advance")?;
                d.set_item("id", id)?;
                d.set_item("done", done)?;
                d.set_item("total", total)?;
                d.set_item("message", message)?;
            }
            Event::Note { id, message } => {
                d.set_item("kind", "note")?;
                d.set_item("id", id)?;
                d.set_item("message", message)?;
            }
            Event::End { id } => {
                d.set_item("kind", "end")?;
                d.set_item("id", id)?;
            }
        }
        cb.call1(py, (d,))?;
        Ok(())
    }
}

impl Progress for PyProgress {
    fn event(&self, event: &Event<'_>) {
        let Some(cb) = &self.callback else { return };
        if self.stop.load(Ordering::Relaxed) {
            return;
        }
        Python::attach(|py| {
            if let Err(e) = self.call(py, cb, event) {
                self.stop.store(true, Ordering::Relaxed);
                if let Ok(mut slot) = self.error.lock() {
                    slot.get_or_insert(e);
                }
            }
        });
    }
}
