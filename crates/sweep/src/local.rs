//! The local executor: K runs at a time on this machine, each in its own
//! thread with its own (single-threaded by default) engine pool.
//!
//! Progress goes to the caller's [`Progress`]: an overall task (steps of
//! the whole sweep), a task per active run (its steps, with the loss as the
//! message), and log lines as notes (start, a few steps per run, done,
//! failed, stopped). The CLI draws them as bars on a terminal and prints the
//! notes elsewhere; nothing here writes to the terminal.

use crate::run::{read_status_checked, run_dir, run_index, Outcome, State};
use crate::spec::SweepPlan;
use crate::table::write_tables;
use anyhow::Result;
use scalelab_common::{Progress, Task};
use std::collections::VecDeque;
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// Options of a local sweep.
#[derive(Clone, Debug)]
pub struct LocalOptions {
    /// Runs at a time.
    pub jobs: usize,
    /// Stop every run after this many steps in this invocation (for tests
    /// of interruption; `None` runs to the end).
    pub step_limit: Option<u64>,
}

/// What a sweep invocation did.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SweepReport {
    pub done: Vec<String>,
    pub failed: Vec<(String, String)>,
    pub stopped: Vec<String>,
    /// Runs that were already done before this invocation.
    pub skipped: Vec<String>,
    pub seconds: f64,
}

/// Runs every run of the plan that is not done, `jobs` at a time, then
/// rewrites the tables, reporting on `progress`.
pub fn run_local(
    dir: &Path,
    plan: &SweepPlan,
    opts: &LocalOptions,
    progress: &dyn Progress,
) -> Result<SweepReport> {
    let t0 = Instant::now();
    let mut report = SweepReport::default();
    let mut queue = VecDeque::new();
    let mut total_steps = 0u64;
    let mut done_steps = 0u64;
    for (i, r) in plan.runs.iter().enumerate() {
        // a cooldown branch trains only the steps after its branch point
        let from = match &r.cooldown {
            Some(crate::spec::Cooldown::Branch { start_step, .. }) => *start_step,
            _ => 0,
        };
        let total = r.config.total_steps().saturating_sub(from);
        total_steps += total;
        // a done run whose results no longer read comes back failed
        let st = read_status_checked(&run_dir(dir, &r.name), r)?;
        match st.state {
            State::Done => {
                report.skipped.push(r.name.clone());
                done_steps += total;
            }
            State::Failed => {
                report
                    .failed
                    .push((r.name.clone(), st.reason.unwrap_or_default()));
                done_steps += total;
            }
            _ => {
                done_steps += st.step.saturating_sub(from);
                queue.push_back(i);
            }
        }
    }
    let overall = Task::begin(
        progress,
        &format!("{} runs", plan.runs.len()),
        Some(total_steps),
        "steps",
    );
    // the bar says how many runs are finished, beside the steps
    let n_runs = plan.runs.len();
    let runs_done = AtomicUsize::new(report.skipped.len());
    let runs_message = |k: usize| format!("{k} of {n_runs} runs done");
    overall.set(done_steps, &runs_message(report.skipped.len()));
    let log = |msg: String| overall.note(&msg);
    log(format!(
        "sweep {}: {} runs, {} to run, {} already done, {} jobs",
        plan.name,
        plan.runs.len(),
        queue.len(),
        report.skipped.len(),
        opts.jobs
    ));
    // Cooldown branches wait for their parent's branch point: a worker takes
    // the first queued run that can start now (a parent always can: it comes
    // before its branches), and waits briefly when only waiting branches are
    // left while their parents run.
    let abort = AtomicBool::new(false);
    let queue = Mutex::new(Queue {
        waiting: queue,
        running: Vec::new(),
    });
    let take = || -> Option<usize> {
        loop {
            if abort.load(Ordering::Relaxed) {
                return None;
            }
            {
                let mut q = queue.lock().expect("queue");
                if q.waiting.is_empty() {
                    return None;
                }
                let pos = q.waiting.iter().position(|&i| {
                    let r = &plan.runs[i];
                    crate::run::ready(dir, r) || !parent_pending(plan, r, &q)
                });
                if let Some(pos) = pos {
                    let i = q.waiting.remove(pos).expect("position");
                    q.running.push(i);
                    return Some(i);
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    };
    let results: Mutex<Vec<(String, Result<Outcome>)>> = Mutex::new(Vec::new());
    let table_lock = Mutex::new(());
    std::thread::scope(|s| {
        for _ in 0..opts.jobs.max(1) {
            s.spawn(|| loop {
                if abort.load(Ordering::Relaxed) {
                    return;
                }
                let Some(i) = take() else {
                    return;
                };
                let r = &plan.runs[i];
                let total = r.config.total_steps();
                let line = Task::begin(progress, &r.name, Some(total), "steps");
                log(format!("start  {} ({} steps)", r.name, total));
                let mut taken = 0u64;
                let every = (total / 4).max(1);
                let mut on_step = |rep: &scalelab_engine::StepReport| {
                    overall.inc(1);
                    let val = rep
                        .val_loss
                        .map(|v| format!(" val {v:.4}"))
                        .unwrap_or_default();
                    line.set(
                        rep.step,
                        &format!("{} loss {:.4}{val}", r.name, rep.train_loss),
                    );
                    if rep.step.is_multiple_of(every) && rep.step < total {
                        log(format!(
                            "       {} step {}/{} loss {:.4}{val}",
                            r.name, rep.step, total, rep.train_loss
                        ));
                    }
                    taken += 1;
                    if abort.load(Ordering::Relaxed) || opts.step_limit.is_some_and(|l| taken >= l)
                    {
                        ControlFlow::Break(())
                    } else {
                        ControlFlow::Continue(())
                    }
                };
                let out = run_index(dir, plan, i, &mut on_step, false);
                drop(line);
                match &out {
                    Ok(Outcome::Done(s)) => {
                        let k = runs_done.fetch_add(1, Ordering::Relaxed) + 1;
                        overall.message(&runs_message(k));
                        log(format!(
                            "done   {} val loss {} ({:.0} tokens/s)",
                            r.name,
                            s.final_val_loss.map_or("-".into(), |v| format!("{v:.4}")),
                            s.tokens_per_second
                        ))
                    }
                    Ok(Outcome::Failed(why)) => log(format!("failed {}: {why}", r.name)),
                    Ok(Outcome::Stopped) => log(format!("stopped {} (resumable)", r.name)),
                    Ok(Outcome::Waiting(why)) => log(format!("waiting {}: {why}", r.name)),
                    Ok(Outcome::Busy) => log(format!(
                        "busy   {}: its trainer from an earlier invocation is still running; left alone",
                        r.name
                    )),
                    Err(e) => {
                        // an I/O failure: stop handing out runs
                        abort.store(true, Ordering::Relaxed);
                        log(format!("error  {}: {e:#}", r.name));
                    }
                }
                {
                    let _g = table_lock.lock().expect("table");
                    let _ = write_tables(dir, plan);
                }
                results.lock().expect("results").push((r.name.clone(), out));
                queue.lock().expect("queue").running.retain(|&j| j != i);
            });
        }
    });
    drop(overall);
    let mut first_err = None;
    for (name, out) in results.into_inner().expect("results") {
        match out {
            Ok(Outcome::Done(_)) => report.done.push(name),
            Ok(Outcome::Failed(w)) => report.failed.push((name, w)),
            Ok(Outcome::Stopped) | Ok(Outcome::Busy) | Ok(Outcome::Waiting(_)) => {
                report.stopped.push(name)
            }
            Err(e) => {
                if first_err.is_none() {
                    first_err = Some(e.context(format!("run {name}")));
                }
            }
        }
    }
    write_tables(dir, plan)?;
    if let Some(e) = first_err {
        return Err(e);
    }
    report.seconds = t0.elapsed().as_secs_f64();
    Ok(report)
}

/// The runs still to hand out and those being trained.
struct Queue {
    waiting: VecDeque<usize>,
    running: Vec<usize>,
}

/// Whether `r` is a cooldown branch whose parent is still queued or
/// training in this invocation (so its branch point may yet appear).
fn parent_pending(plan: &SweepPlan, r: &crate::spec::RunPlan, q: &Queue) -> bool {
    let Some(crate::spec::Cooldown::Branch { parent, .. }) = &r.cooldown else {
        return false;
    };
    q.waiting
        .iter()
        .chain(&q.running)
        .any(|&j| &plan.runs[j].name == parent)
}
