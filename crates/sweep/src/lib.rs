//! scalelab-sweep: many pilot runs, resumable, on this machine or a Slurm
//! cluster.
//!
//! A sweep directory holds:
//!
//! ```text
//! DIR/plan.json          the resolved runs (configs, sizes, budgets)
//! DIR/.lock              held by the sweep running in DIR
//! DIR/runs/NAME/         one run: config.toml, metrics.jsonl, checkpoint.safetensors,
//!                        summary.json, status.json (and, for the stable-phase
//!                        parent of WSD cooldown branches,
//!                        checkpoint-step{N}.safetensors and metrics-step{N}.jsonl
//!                        at every branch point)
//! DIR/runs.csv           one row per run (also runs.parquet), see [`table`]
//! DIR/curves.csv         every intermediate evaluation
//! DIR/slurm/             job.sh, job_id and task logs (Slurm executor)
//! ```
//!
//! Every file is written atomically (temporary file, fsync, rename), so a
//! `kill -9` at any moment loses at most the steps since each run's last
//! checkpoint; running the same sweep again skips finished runs and resumes
//! the others bit-identically.

pub mod data;
pub mod eval;
pub mod external;
pub mod local;
pub mod lock;
pub mod run;
pub mod slurm;
pub mod spec;
pub mod table;

use anyhow::{bail, Context, Result};
use run::Outcome;
use scalelab_engine::TrainConfig;
use spec::{SweepFile, SweepPlan};
use std::path::Path;

/// Checks a configuration against its data (opening the source once per
/// distinct data spec) and returns the data's vocabulary.
pub fn check_config(cfg: &TrainConfig) -> Result<usize> {
    let src = data::open_source(cfg)?;
    cfg.validate(src.as_ref())?;
    Ok(src.vocab_size())
}

/// As [`check_config`], for a run an external trainer executes: the same
/// checks of shape, budget and settings, but not against this machine's
/// memory (the run may be for a GPU node).
pub fn check_external_config(cfg: &TrainConfig) -> Result<usize> {
    let src = data::open_source(cfg)?;
    cfg.validate_settings(src.as_ref())?;
    Ok(src.vocab_size())
}

/// Reads and resolves a sweep file, checking every run before any starts.
pub fn load_sweep(path: &Path) -> Result<(SweepPlan, SweepFile)> {
    spec::load(path, &|cfg, external| {
        if external {
            check_external_config(cfg)
        } else {
            check_config(cfg)
        }
    })
}

/// Records the plan in `dir` (or checks it matches the one there), and
/// marks new runs pending. Refuses a directory that holds another sweep.
pub fn prepare_dir(dir: &Path, plan: &SweepPlan) -> Result<()> {
    std::fs::create_dir_all(dir.join("runs"))
        .with_context(|| format!("cannot create {}", dir.display()))?;
    let p = spec::plan_path(dir);
    if p.exists() {
        let old = spec::read_plan(dir)?;
        if old.runs != plan.runs {
            let changed: Vec<&str> = plan
                .runs
                .iter()
                .filter(|r| !old.runs.contains(r))
                .map(|r| r.name.as_str())
                .take(5)
                .collect();
            bail!(
                "{} holds a different sweep ({} runs there, {} in the file; differing: {}): \
                 choose another --out, or delete the directory to start over",
                dir.display(),
                old.runs.len(),
                plan.runs.len(),
                if changed.is_empty() {
                    "order or removed runs".into()
                } else {
                    changed.join(", ")
                }
            );
        }
    }
    let json = serde_json::to_string_pretty(plan).expect("serialise") + "\n";
    crate::write_file(&p, json.as_bytes())?;
    for r in &plan.runs {
        let rd = run::run_dir(dir, &r.name);
        if !run::status_path(&rd).exists() {
            std::fs::create_dir_all(&rd)
                .with_context(|| format!("cannot create {}", rd.display()))?;
            run::write_status(&rd, &run::Status::pending(r.config.total_steps()).of(r))?;
        }
    }
    // An external trainer reads the exact token stream the built-in engine
    // would train on, exported once before any run starts.
    for r in &plan.runs {
        if r.trainer.as_ref().is_some_and(|t| t.export_data) {
            external::ensure_data(dir, plan, r)?;
        }
    }
    table::write_tables(dir, plan)
}

/// Runs one run of a prepared sweep directory (a Slurm array task).
pub fn run_task(dir: &Path, index: usize) -> Result<run::Outcome> {
    let plan = spec::read_plan(dir)?;
    if index >= plan.runs.len() {
        bail!(
            "{}: no run {index} (the sweep has {})",
            dir.display(),
            plan.runs.len()
        );
    }
    let go = |i: usize| {
        run::run_index(
            dir,
            &plan,
            i,
            &mut |_| std::ops::ControlFlow::Continue(()),
            true,
        )
    };
    let out = go(index)?;
    // A stable-phase parent's task then runs its cooldown branches, one
    // after the other (their branch points exist once it is done).
    if let (Outcome::Done(_), Some(spec::Cooldown::Stable { branches })) =
        (&out, &plan.runs[index].cooldown)
    {
        let mut first_bad = None;
        for b in branches {
            let Some(i) = plan.runs.iter().position(|r| &r.name == b) else {
                continue;
            };
            match go(i)? {
                Outcome::Done(_) => {}
                other => {
                    if first_bad.is_none() {
                        first_bad = Some((b.clone(), other));
                    }
                }
            }
        }
        if let Some((b, o)) = first_bad {
            return Ok(match o {
                Outcome::Failed(w) => Outcome::Failed(format!("branch {b}: {w}")),
                Outcome::Waiting(w) => Outcome::Waiting(format!("branch {b}: {w}")),
                o => o,
            });
        }
    }
    Ok(out)
}

/// The run indices a Slurm array submits for the unfinished runs: a
/// cooldown branch is run by its parent's task, so an unfinished branch
/// submits its parent instead (once).
pub fn task_indices(plan: &SweepPlan, unfinished: &[usize]) -> Vec<usize> {
    let mut out: Vec<usize> = Vec::new();
    for &i in unfinished {
        let j = match &plan.runs[i].cooldown {
            Some(spec::Cooldown::Branch { parent, .. }) => plan
                .runs
                .iter()
                .position(|r| &r.name == parent)
                .unwrap_or(i),
            _ => i,
        };
        if !out.contains(&j) {
            out.push(j);
        }
    }
    out.sort_unstable();
    out
}

/// Marks failed runs pending again. Their checkpoints are kept (they resume
/// from it), except for runs whose checkpoint or finished results were found
/// corrupt ([`run::restarts_from_scratch`]): those lose their checkpoint and
/// start from scratch.
pub fn reset_failed(dir: &Path, plan: &SweepPlan) -> Result<Vec<String>> {
    let mut reset = Vec::new();
    for r in &plan.runs {
        let rd = run::run_dir(dir, &r.name);
        let mut st = run::read_status(&rd, r.config.total_steps());
        if st.state == run::State::Failed {
            if st.reason.as_deref().is_some_and(run::restarts_from_scratch) {
                let ck = scalelab_engine::checkpoint::path_in(&rd);
                match std::fs::remove_file(&ck) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        return Err(anyhow::anyhow!("cannot remove {}: {e}", ck.display()))
                    }
                    _ => {}
                }
                st.step = 0;
                st.train_loss = None;
                st.val_loss = None;
            }
            st.state = run::State::Pending;
            st.reason = None;
            run::write_status(&rd, &st)?;
            reset.push(r.name.clone());
        }
    }
    Ok(reset)
}

/// Writes a file of the sweep directory with the workspace's one atomic
/// writer; the error names the file.
pub(crate) fn write_file(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    use anyhow::Context;
    scalelab_common::write_atomic(path, bytes)
        .with_context(|| format!("cannot write {}", path.display()))
}
