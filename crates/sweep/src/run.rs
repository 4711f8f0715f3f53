//! One run of a sweep in its own directory: status file, fresh start or
//! resume from the last checkpoint, divergence handling.
//!
//! A run directory holds `config.toml`, `metrics.jsonl`,
//! `checkpoint.safetensors` and `summary.json` (written by the engine) and
//! `status.json` (written here, atomically):
//!
//! ```json
//! {"state": "done", "reason": null, "step": 120, "total_steps": 120,
//!  "train_loss": 1.93, "val_loss": 1.95, "updated": 1764000000}
//! ```
//!
//! `state` is `pending`, `running`, `done` or `failed` (with `reason`).
//!
//! A finished run is re-validated whenever the sweep runs again or its tables
//! are rebuilt ([`check_done`]): its `summary.json` must parse and its
//! `metrics.jsonl` must hold one readable line per step, from step 1 to the
//! summary's last. A run whose results fail that check is marked failed
//! (reason `summary.json unreadable: …`, `metrics.jsonl unreadable: …` or
//! `metrics.jsonl truncated: …`), so `--retry-failed` reruns it; since its
//! checkpoint is at the last step and cannot regenerate a lost log, the
//! retry starts it from scratch (training is deterministic, so the rerun
//! reproduces the lost results). A run whose checkpoint fails its checksum
//! (reason `… checksum mismatch: the checkpoint is corrupt …`) is likewise
//! failed and retried from scratch.

use crate::spec::RunPlan;
use anyhow::{Context, Result};
use scalelab_engine::{checkpoint, EngineError, RunSummary, StepReport, Trainer};
use serde::{Deserialize, Serialize};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

/// The state of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Pending,
    Running,
    Done,
    Failed,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Running => "running",
            State::Done => "done",
            State::Failed => "failed",
        }
    }
}

/// Contents of `status.json`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Status {
    pub state: State,
    pub reason: Option<String>,
    pub step: u64,
    pub total_steps: u64,
    pub train_loss: Option<f64>,
    pub val_loss: Option<f64>,
    /// Unix seconds of the last update.
    pub updated: u64,
    /// Its part in a WSD cooldown ladder: `stable` (the stable phase) or
    /// `branch` (absent for other runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// A cooldown branch's parent run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
}

impl Status {
    pub fn pending(total_steps: u64) -> Self {
        Status {
            state: State::Pending,
            reason: None,
            step: 0,
            total_steps,
            train_loss: None,
            val_loss: None,
            updated: now(),
            role: None,
            parent: None,
        }
    }

    /// This status with the run's place in a cooldown ladder.
    pub fn of(mut self, plan: &RunPlan) -> Self {
        self.role = plan.cooldown.as_ref().map(|c| c.role().to_string());
        self.parent = match &plan.cooldown {
            Some(crate::spec::Cooldown::Branch { parent, .. }) => Some(parent.clone()),
            _ => None,
        };
        self
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The directory of a run inside a sweep directory.
pub fn run_dir(sweep_dir: &Path, name: &str) -> PathBuf {
    sweep_dir.join("runs").join(name)
}

pub fn status_path(dir: &Path) -> PathBuf {
    dir.join("status.json")
}

/// Reads a run's status; a missing or unreadable file reads as pending.
pub fn read_status(dir: &Path, total_steps: u64) -> Status {
    std::fs::read_to_string(status_path(dir))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_else(|| Status::pending(total_steps))
}

/// Writes a run's status atomically.
pub fn write_status(dir: &Path, s: &Status) -> Result<()> {
    let mut s = s.clone();
    s.updated = now();
    let text = serde_json::to_string(&s).expect("serialise") + "\n";
    crate::write_file(&status_path(dir), text.as_bytes())?;
    Ok(())
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Finished now or earlier.
    Done(Box<RunSummary>),
    /// Stopped for a reason recorded in its status (divergence, bad data).
    Failed(String),
    /// Stopped on request; resumable.
    Stopped,
    /// An external trainer started by an earlier invocation still runs it
    /// (its lock is held); left alone.
    Busy,
    /// A cooldown branch whose branch-point checkpoint does not exist yet
    /// (its parent has not reached the point); nothing was done.
    Waiting(String),
}

/// Runs (or resumes, or skips) run `index` of the plan, with the built-in
/// engine or the run's external trainer. `under_slurm`: this is a Slurm
/// array task (the `[slurm] launcher` applies).
pub fn run_index(
    sweep_dir: &Path,
    plan: &crate::spec::SweepPlan,
    index: usize,
    on_step: &mut dyn FnMut(&StepReport) -> ControlFlow<()>,
    under_slurm: bool,
) -> Result<Outcome> {
    let r = &plan.runs[index];
    if r.trainer.is_none() {
        return run_one(sweep_dir, r, on_step);
    }
    let dir = run_dir(sweep_dir, &r.name);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let total = r.config.total_steps();
    let status = read_status(&dir, total);
    match status.state {
        State::Done => {
            if let Some(x) = crate::external::read_result(&dir) {
                return Ok(Outcome::Done(Box::new(crate::external::as_summary(r, &x))));
            }
        }
        State::Failed => {
            return Ok(Outcome::Failed(
                status.reason.clone().unwrap_or_else(|| "failed".into()),
            ))
        }
        _ => {}
    }
    use crate::external::Attempt;
    match crate::external::run(sweep_dir, plan, index, on_step, under_slurm)? {
        Attempt::Done(s) => {
            write_status(
                &dir,
                &Status {
                    state: State::Done,
                    reason: None,
                    step: s.steps,
                    total_steps: total,
                    train_loss: s.final_train_loss.is_finite().then_some(s.final_train_loss),
                    val_loss: s.final_val_loss,
                    updated: 0,
                    role: None,
                    parent: None,
                },
            )?;
            Ok(Outcome::Done(s))
        }
        Attempt::Failed(why) => fail(&dir, read_status(&dir, total), why),
        Attempt::Stopped => Ok(Outcome::Stopped),
        Attempt::Busy => Ok(Outcome::Busy),
    }
}

/// Runs (or resumes, or skips) one run. `on_step` sees every step and may
/// stop the run (it then stays resumable from its last checkpoint).
pub fn run_one(
    sweep_dir: &Path,
    plan: &RunPlan,
    on_step: &mut dyn FnMut(&StepReport) -> ControlFlow<()>,
) -> Result<Outcome> {
    let dir = run_dir(sweep_dir, &plan.name);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let total = plan.config.total_steps();
    let mut status = read_status(&dir, total);
    match status.state {
        State::Done => {
            return match check_engine_done(&dir) {
                Ok(s) => Ok(Outcome::Done(Box::new(s))),
                Err(why) => fail(&dir, status, why),
            };
        }
        State::Failed => {
            return Ok(Outcome::Failed(
                status.reason.clone().unwrap_or_else(|| "failed".into()),
            ))
        }
        _ => {}
    }
    let ck = checkpoint::path_in(&dir);
    let from = match branch_point(sweep_dir, plan) {
        Some(p) if !ck.exists() => match p {
            Ok(p) => Some(p),
            Err(why) => return Ok(Outcome::Waiting(why)),
        },
        _ => None,
    };
    let data = crate::data::open_source(&plan.config)?;
    let trainer = if ck.exists() {
        Trainer::resume(&dir, data)
    } else {
        // a run that crashed before its first checkpoint starts over
        for f in ["metrics.jsonl", "summary.json", "config.toml"] {
            let _ = std::fs::remove_file(dir.join(f));
        }
        match from {
            Some(from) => Trainer::branch(plan.config.clone(), data, &dir, &from),
            None => Trainer::new(plan.config.clone(), data, Some(&dir)),
        }
    };
    let mut trainer = match trainer {
        Ok(t) => t,
        Err(e) => return fail(&dir, status, format!("cannot start: {e}")),
    };
    status = status.of(plan);
    status.state = State::Running;
    status.step = trainer.current_step();
    write_status(&dir, &status)?;
    let every = plan.config.checkpoint_every.max(1);
    let mut last_val = status.val_loss;
    let mut status_err: Option<anyhow::Error> = None;
    let res = trainer.run(|r| {
        if r.val_loss.is_some() {
            last_val = r.val_loss;
        }
        if r.step % every == 0 || r.step == total {
            let s = Status {
                state: State::Running,
                reason: None,
                step: r.step,
                total_steps: total,
                train_loss: Some(r.train_loss),
                val_loss: last_val,
                updated: 0,
                role: None,
                parent: None,
            }
            .of(plan);
            if let Err(e) = write_status(&dir, &s) {
                status_err = Some(e);
                return ControlFlow::Break(());
            }
        }
        on_step(r)
    });
    if let Some(e) = status_err {
        return Err(e);
    }
    match res {
        Ok(summary) if summary.completed => {
            let s = Status {
                state: State::Done,
                reason: None,
                step: summary.steps,
                total_steps: total,
                train_loss: Some(summary.final_train_loss),
                val_loss: summary.final_val_loss,
                updated: 0,
                role: None,
                parent: None,
            }
            .of(plan);
            write_status(&dir, &s)?;
            Ok(Outcome::Done(Box::new(summary)))
        }
        Ok(_) => Ok(Outcome::Stopped),
        Err(e @ EngineError::Diverged { .. }) => fail(&dir, status, format!("diverged: {e}")),
        Err(e @ (EngineError::Io { .. } | EngineError::Checkpoint(_))) => {
            Err(anyhow::anyhow!("{}: {e}", dir.display()))
        }
        Err(e) => fail(&dir, status, e.to_string()),
    }
}

/// For a cooldown branch: `Ok(path)` of its parent's checkpoint at the
/// branch point, or `Err(why)` when it does not exist yet; `None` for other
/// runs.
pub fn branch_point(
    sweep_dir: &Path,
    plan: &RunPlan,
) -> Option<std::result::Result<PathBuf, String>> {
    let Some(crate::spec::Cooldown::Branch {
        parent, start_step, ..
    }) = &plan.cooldown
    else {
        return None;
    };
    let p = checkpoint::kept_path_in(&run_dir(sweep_dir, parent), *start_step);
    Some(if p.exists() {
        Ok(p)
    } else {
        Err(format!(
            "waits for run {parent} to reach step {start_step} (its branch point)"
        ))
    })
}

/// Whether a run can start (or resume) now: false only for a cooldown
/// branch with neither its own checkpoint nor its branch point yet.
pub fn ready(sweep_dir: &Path, plan: &RunPlan) -> bool {
    match branch_point(sweep_dir, plan) {
        Some(Err(_)) => checkpoint::path_in(&run_dir(sweep_dir, &plan.name)).exists(),
        _ => true,
    }
}

fn fail(dir: &Path, mut status: Status, reason: String) -> Result<Outcome> {
    status.state = State::Failed;
    status.reason = Some(reason.clone());
    write_status(dir, &status)?;
    Ok(Outcome::Failed(reason))
}

/// Reasons of a finished run whose results were found corrupt.
const CORRUPT_RESULTS: &[&str] = &[
    "summary.json unreadable:",
    "metrics.jsonl unreadable:",
    "metrics.jsonl truncated:",
    "result.json unreadable:",
];

/// Whether a failed run's `reason` says its files are corrupt (its results
/// or its checkpoint), so a retry must start it from scratch.
pub fn restarts_from_scratch(reason: &str) -> bool {
    CORRUPT_RESULTS.iter().any(|p| reason.starts_with(p)) || reason.contains("checksum mismatch")
}

/// Re-validates a run whose status is done: `Err(reason)` when its results
/// are unreadable or incomplete (see the module documentation).
pub fn check_done(dir: &Path, plan: &RunPlan) -> std::result::Result<(), String> {
    if plan.trainer.is_some() {
        let p = dir.join("result.json");
        return match std::fs::read_to_string(&p) {
            Ok(t) => serde_json::from_str::<crate::external::ExternalResult>(&t)
                .map(|_| ())
                .map_err(|e| format!("result.json unreadable: {}: {e}", p.display())),
            Err(e) => Err(format!("result.json unreadable: {}: {e}", p.display())),
        };
    }
    check_engine_done(dir).map(|_| ())
}

/// Reads a run's status; a done run whose results fail [`check_done`] is
/// marked failed with the reason (written to `status.json`) first.
pub fn read_status_checked(dir: &Path, plan: &RunPlan) -> Result<Status> {
    let mut st = read_status(dir, plan.config.total_steps());
    if st.state == State::Done {
        if let Err(why) = check_done(dir, plan) {
            st.state = State::Failed;
            st.reason = Some(why);
            write_status(dir, &st)?;
        }
    }
    Ok(st)
}

/// [`check_done`] for a run of the built-in engine; its summary when valid.
pub fn check_engine_done(dir: &Path) -> std::result::Result<RunSummary, String> {
    let p = dir.join("summary.json");
    let summary: RunSummary = match std::fs::read_to_string(&p) {
        Ok(t) => serde_json::from_str(&t)
            .map_err(|e| format!("summary.json unreadable: {}: {e}", p.display()))?,
        Err(e) => return Err(format!("summary.json unreadable: {}: {e}", p.display())),
    };
    let m = dir.join("metrics.jsonl");
    let text = match std::fs::read(&m) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(format!("metrics.jsonl unreadable: {}: {e}", m.display())),
    };
    let text = String::from_utf8(text)
        .map_err(|e| format!("metrics.jsonl unreadable: {}: not UTF-8 ({e})", m.display()))?;
    let mut n = 0u64;
    for (i, line) in text.lines().enumerate() {
        let at = i + 1;
        let r: StepReport = serde_json::from_str(line)
            .map_err(|e| format!("metrics.jsonl unreadable: {}:{at}: {e}", m.display()))?;
        if r.step != at as u64 {
            return Err(format!(
                "metrics.jsonl unreadable: {}:{at}: step {} where step {at} was expected",
                m.display(),
                r.step
            ));
        }
        n = r.step;
    }
    if n != summary.steps || (!text.is_empty() && !text.ends_with('\n')) {
        return Err(format!(
            "metrics.jsonl truncated: {}: {n} steps logged, the run finished {} steps",
            m.display(),
            summary.steps
        ));
    }
    Ok(summary)
}

/// Reads a finished run's `summary.json`.
pub fn read_summary(dir: &Path) -> Result<RunSummary> {
    let p = dir.join("summary.json");
    let t = std::fs::read_to_string(&p).with_context(|| format!("cannot read {}", p.display()))?;
    serde_json::from_str(&t).with_context(|| format!("{}: unreadable summary", p.display()))
}

/// Reads a run's metrics log (steps in order; a torn last line is ignored).
pub fn read_metrics(dir: &Path) -> Vec<StepReport> {
    std::fs::read_to_string(dir.join("metrics.jsonl"))
        .map(|t| {
            t.lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect()
        })
        .unwrap_or_default()
}
