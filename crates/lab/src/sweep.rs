//! Sweeps of pilot runs with the built-in engine, on this machine or as a
//! Slurm array; resumable (done runs are skipped, interrupted ones continue
//! from their last checkpoint, bit-identically).
//!
//! ```no_run
//! # fn main() -> scalelab::Result<()> {
//! use scalelab::sweep::{Sweep, SweepRequest};
//! let sweep = Sweep::load("sweep.toml".as_ref())?;
//! let report = sweep.run(&SweepRequest::local("runs/pilot"), &scalelab::Silent)?;
//! # Ok(()) }
//! ```
//!
//! [`Sweep::load`] reads and checks the sweep file (its warnings and runs
//! are there before anything trains: a dry run is just that);
//! [`Sweep::run`] takes the directory's lock, records the plan, and trains
//! (local) or submits and follows (Slurm), reporting on a [`Progress`].
//! [`run_task`] is one Slurm array task.

use crate::{Error, Progress, Result, Warning, WarningKind};
use scalelab_sweep::local::LocalOptions;
use scalelab_sweep::run::Outcome;
pub use scalelab_sweep::spec::SlurmSettings;
use scalelab_sweep::spec::{SweepFile, SweepPlan};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where the runs execute.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Executor {
    /// This machine, `jobs` runs at a time.
    #[default]
    Local,
    /// A Slurm array (`sbatch`), one task per unfinished run.
    Slurm,
}

/// How to run a loaded sweep.
#[derive(Clone, Debug, Default)]
pub struct SweepRequest {
    /// The sweep directory (created; re-use it to resume).
    pub out: PathBuf,
    pub executor: Executor,
    /// Runs at a time (local; `None`: one per core).
    pub jobs: Option<usize>,
    /// Give failed runs another try (from their last checkpoint).
    pub retry_failed: bool,
    /// Slurm settings given by the caller; each one set overrides the
    /// sweep file's `[slurm]`, and `extra` options are added to its own.
    pub slurm: SlurmSettings,
    /// The program Slurm tasks run as `PROGRAM sweep-task DIR --index I`
    /// (`None`: the current executable).
    pub program: Option<PathBuf>,
    /// Slurm: submit and return without following the job.
    pub no_wait: bool,
    /// Slurm: stop following after this long (the job goes on).
    pub timeout: Option<Duration>,
    /// Stop each run after this many steps in this invocation (testing
    /// interruption and resume).
    pub step_limit: Option<u64>,
}

impl SweepRequest {
    /// A local sweep into `out` with the defaults.
    pub fn local(out: impl Into<PathBuf>) -> Self {
        SweepRequest {
            out: out.into(),
            ..SweepRequest::default()
        }
    }
}

/// One run of the plan, as a dry run lists it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlannedRun {
    pub run: String,
    pub layers: usize,
    pub d_model: usize,
    pub heads: usize,
    /// Non-embedding parameters.
    pub params: u64,
    pub tokens: u64,
    /// 6 N D.
    pub flops: f64,
    pub steps: u64,
    /// `cosine`, `wsd`, or `stable` (the stable phase of WSD cooldown
    /// branches: trained, but not a run of the law).
    #[serde(default)]
    pub schedule: String,
    /// 6 N × the tokens this run trains itself (a cooldown branch only its
    /// decay, from its parent's checkpoint).
    #[serde(default)]
    pub flops_spent: f64,
    /// Peak learning rate.
    #[serde(default)]
    pub lr: f64,
    /// Sequences per step.
    #[serde(default)]
    pub batch: usize,
    /// The FLOP budget the run was designed for, if any.
    #[serde(default)]
    pub flops_budget: Option<f64>,
}

/// What a plan costs to train, against training its runs separately.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlanCost {
    /// 6 N D summed over what is actually trained (stable phases once,
    /// branches from their branch points).
    pub flops_spent: f64,
    /// 6 N D summed over the runs the law sees (every run but stable-phase
    /// parents), as if each were trained from scratch.
    pub flops_separate: f64,
}

/// A run that failed, and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FailedRun {
    pub run: String,
    pub reason: String,
}

/// What a local sweep invocation did (the JSON of `scalelab sweep --json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LocalReport {
    /// `"local"`.
    pub executor: String,
    /// Runs trained to the end in this invocation.
    pub done: Vec<String>,
    /// Runs that were done before this invocation.
    pub skipped: Vec<String>,
    /// Runs stopped by the step limit (resumable).
    pub stopped: Vec<String>,
    pub failed: Vec<FailedRun>,
    pub seconds: f64,
    /// The runs table.
    pub runs_csv: String,
}

impl LocalReport {
    /// The report of the sweep crate's executor on `dir`.
    pub fn from_sweep(dir: &Path, r: scalelab_sweep::local::SweepReport) -> Self {
        LocalReport {
            executor: "local".into(),
            done: r.done,
            skipped: r.skipped,
            stopped: r.stopped,
            failed: r
                .failed
                .into_iter()
                .map(|(run, reason)| FailedRun { run, reason })
                .collect(),
            seconds: r.seconds,
            runs_csv: dir.join("runs.csv").display().to_string(),
        }
    }

    /// The one-line summary of what the sweep did.
    pub fn summary(&self) -> String {
        format!(
            "sweep: {} trained, {} already done, {} stopped, {} failed in {:.1} s; table {}",
            self.done.len(),
            self.skipped.len(),
            self.stopped.len(),
            self.failed.len(),
            self.seconds,
            self.runs_csv
        )
    }

    /// Warnings for the failed runs.
    pub fn warnings(&self) -> Vec<Warning> {
        self.failed
            .iter()
            .map(|f| {
                Warning::new(
                    WarningKind::RunsLeftOut,
                    format!("run {} failed: {}", f.run, f.reason),
                )
            })
            .collect()
    }
}

/// What a followed Slurm job did (the JSON of `scalelab sweep --executor
/// slurm --json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SlurmReport {
    /// `"slurm"`.
    pub executor: String,
    pub job: String,
    pub done: usize,
    pub failed: usize,
    /// Runs still running or pending when the job left the queue.
    pub incomplete: usize,
    pub runs_csv: String,
}

impl SlurmReport {
    /// An error when runs did not finish (killed or timed out).
    pub fn check(&self) -> Result<()> {
        if self.incomplete > 0 {
            return Err(Error::failed(format!(
                "{} runs did not finish (killed or timed out?); run the same command again to resubmit them from their checkpoints",
                self.incomplete
            )));
        }
        Ok(())
    }
}

/// A submitted Slurm job (not followed).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Submitted {
    pub job: String,
    /// The array script.
    pub script: PathBuf,
    /// Indices of the runs submitted.
    pub runs: Vec<usize>,
}

/// What [`Sweep::run`] did.
#[derive(Clone, Debug, PartialEq)]
pub enum SweepReport {
    Local(LocalReport),
    /// Slurm: the job was followed to its end.
    Slurm(SlurmReport),
    /// Slurm with `no_wait`: submitted only.
    Submitted(Submitted),
    /// Slurm: every run was already done; nothing was submitted.
    AllDone {
        runs_csv: PathBuf,
    },
}

/// A sweep file, read and checked (every run's configuration against its
/// data) before anything runs.
#[derive(Debug)]
pub struct Sweep {
    pub plan: SweepPlan,
    pub file: SweepFile,
}

impl Sweep {
    /// Reads and resolves a sweep file.
    pub fn load(path: &Path) -> Result<Sweep> {
        let (plan, file) = load_file(path)?;
        Ok(Sweep { plan, file })
    }

    /// What resolving the file changed (duplicate runs dropped, ...).
    pub fn warnings(&self) -> Vec<Warning> {
        self.plan
            .warnings
            .iter()
            .map(|w| Warning::new(WarningKind::Design, w.clone()))
            .collect()
    }

    /// The runs (what a dry run lists).
    pub fn runs(&self) -> Vec<PlannedRun> {
        self.plan
            .runs
            .iter()
            .map(|r| PlannedRun {
                run: r.name.clone(),
                layers: r.config.n_layer,
                d_model: r.config.d_model,
                heads: r.config.n_head,
                params: r.params,
                tokens: r.tokens(),
                flops: 6.0 * r.params as f64 * r.tokens() as f64,
                steps: r.config.total_steps(),
                schedule: r.schedule_name().into(),
                flops_spent: 6.0 * r.params as f64 * r.tokens_spent() as f64,
                lr: r.config.lr,
                batch: r.config.batch,
                flops_budget: r.flops_budget,
            })
            .collect()
    }

    /// The plan's compute: what it trains against separate runs (they
    /// differ with WSD cooldown branches).
    pub fn cost(&self) -> PlanCost {
        let runs = self.runs();
        PlanCost {
            flops_spent: runs.iter().map(|r| r.flops_spent).sum(),
            flops_separate: runs
                .iter()
                .filter(|r| r.schedule != "stable")
                .map(|r| r.flops)
                .sum(),
        }
    }

    /// Runs the sweep into `req.out`: takes the directory's lock (one sweep
    /// per directory), records the plan (or checks it is the one there),
    /// then trains every unfinished run locally, or submits them to Slurm
    /// and follows the job. Notes (retried runs, the submitted job) and
    /// progress go to `progress`.
    pub fn run(&self, req: &SweepRequest, progress: &dyn Progress) -> Result<SweepReport> {
        if req.executor == Executor::Local && req.jobs == Some(0) {
            return Err(Error::flag("--jobs", "--jobs must be at least 1"));
        }
        let dir = &req.out;
        let _lock = scalelab_sweep::lock::lock(dir)?;
        scalelab_sweep::prepare_dir(dir, &self.plan)?;
        if req.retry_failed {
            let r = scalelab_sweep::reset_failed(dir, &self.plan)?;
            if !r.is_empty() {
                note(
                    progress,
                    &format!("retrying {} failed runs: {}", r.len(), r.join(", ")),
                );
            }
        }
        match req.executor {
            Executor::Local => {
                let jobs = req
                    .jobs
                    .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
                let rep = run_local(dir, &self.plan, jobs, req.step_limit, progress)?;
                Ok(SweepReport::Local(rep))
            }
            Executor::Slurm => self.run_slurm(req, progress),
        }
    }

    fn run_slurm(&self, req: &SweepRequest, progress: &dyn Progress) -> Result<SweepReport> {
        let dir = &req.out;
        let settings = slurm_settings(&self.file.slurm, &req.slurm);
        let exe = match &req.program {
            Some(p) => p.clone(),
            None => std::env::current_exe().map_err(|e| {
                Error::Other(anyhow::anyhow!("cannot locate the scalelab binary: {e}"))
            })?,
        };
        let Some((job, script, runs)) =
            scalelab_sweep::slurm::submit(dir, &self.plan, &settings, &exe)?
        else {
            return Ok(SweepReport::AllDone {
                runs_csv: dir.join("runs.csv"),
            });
        };
        note(
            progress,
            &format!(
                "submitted slurm job {job}: {} runs ({})",
                runs.len(),
                script.display()
            ),
        );
        if req.no_wait {
            return Ok(SweepReport::Submitted(Submitted { job, script, runs }));
        }
        let c = scalelab_sweep::slurm::follow(
            dir,
            &self.plan,
            &job,
            Duration::from_secs(2),
            req.timeout,
            progress,
        )?;
        Ok(SweepReport::Slurm(SlurmReport {
            executor: "slurm".into(),
            job,
            done: c.done,
            failed: c.failed,
            incomplete: c.running + c.pending,
            runs_csv: dir.join("runs.csv").display().to_string(),
        }))
    }
}

/// A line for the user that belongs to no task.
fn note(progress: &dyn Progress, message: &str) {
    progress.event(&crate::Event::Note { id: 0, message });
}

/// The sweep file's Slurm settings with the caller's over them.
fn slurm_settings(file: &SlurmSettings, given: &SlurmSettings) -> SlurmSettings {
    let mut s = file.clone();
    macro_rules! over {
        ($f:ident) => {
            if given.$f.is_some() {
                s.$f = given.$f.clone();
            }
        };
    }
    over!(partition);
    over!(account);
    over!(time);
    over!(cpus_per_task);
    over!(gpus);
    over!(gpus_per_task);
    over!(nodes);
    over!(ntasks_per_node);
    over!(launcher);
    over!(mem);
    over!(max_concurrent);
    s.extra.extend(given.extra.iter().cloned());
    s
}

/// Trains every unfinished run of a prepared sweep directory (see
/// [`Sweep::run`], which prepares it), `jobs` at a time, then rewrites the
/// tables.
pub fn run_local(
    dir: &Path,
    plan: &SweepPlan,
    jobs: usize,
    step_limit: Option<u64>,
    progress: &dyn Progress,
) -> Result<LocalReport> {
    let rep = scalelab_sweep::local::run_local(
        dir,
        plan,
        &LocalOptions {
            jobs: jobs.max(1),
            step_limit,
        },
        progress,
    )?;
    Ok(LocalReport::from_sweep(dir, rep))
}

/// One finished run of a Slurm array task.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskReport {
    pub index: usize,
    pub final_val_loss: Option<f64>,
    pub tokens_per_second: f64,
}

/// Runs run `index` of the prepared sweep directory `dir` (what a Slurm
/// array task executes). A failed or stopped run is an error.
pub fn run_task(dir: &Path, index: usize) -> Result<TaskReport> {
    match scalelab_sweep::run_task(dir, index)? {
        Outcome::Done(s) => Ok(TaskReport {
            index,
            final_val_loss: s.final_val_loss,
            tokens_per_second: s.tokens_per_second,
        }),
        Outcome::Failed(w) => Err(Error::failed(format!("run {index} failed: {w}"))),
        Outcome::Stopped => Err(Error::failed(format!("run {index} stopped"))),
        Outcome::Waiting(w) => Err(Error::failed(format!("run {index} {w}"))),
        Outcome::Busy => Err(Error::failed(format!(
            "run {index} is still being trained by a trainer an earlier task started"
        ))),
    }
}

/// Reads and resolves a sweep (or study) file. A file that cannot be read
/// is an [`Error::Io`]; every other problem is the file's content (a key,
/// a value, a shape, a `data` path), an [`Error::Input`] naming the file
/// and, where the message gives it, the line. The message is the one the
/// sweep crate wrote.
pub(crate) fn load_file(path: &Path) -> Result<(SweepPlan, SweepFile)> {
    if let Err(e) = std::fs::File::open(path) {
        return Err(Error::io("cannot read sweep file", path, e));
    }
    scalelab_sweep::load_sweep(path).map_err(|e| {
        let message = format!("{e:#}");
        let line = message
            .strip_prefix(&format!("{}:", path.display()))
            .and_then(|rest| rest.split(':').next())
            .and_then(|n| n.parse().ok());
        Error::input(path, line, message)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Keeps the notes a workflow sends, and the messages of its bars.
    #[derive(Default)]
    struct Notes(Mutex<Vec<String>>, Mutex<Vec<String>>);
    impl Progress for Notes {
        fn event(&self, e: &crate::Event<'_>) {
            match e {
                crate::Event::Note { message, .. } => {
                    self.0.lock().unwrap().push(message.to_string())
                }
                crate::Event::Advance { message, .. } if !message.is_empty() => {
                    self.1.lock().unwrap().push(message.to_string())
                }
                _ => {}
            }
        }
    }

    #[test]
    fn a_bad_sweep_file_is_input_naming_the_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("s.toml");
        std::fs::write(&file, "[train]\ndata = \"random\"\nlearning_rate = 1\n").unwrap();
        match Sweep::load(&file) {
            Err(Error::Input {
                path,
                line,
                message,
            }) => {
                assert_eq!((path, line), (file.clone(), Some(3)));
                assert!(message.contains("learning_rate"), "{message}");
            }
            other => panic!("{:?}", other.map(|_| ())),
        }
        let missing = dir.path().join("missing.toml");
        let e = Sweep::load(&missing).map(|_| ()).unwrap_err();
        assert!(matches!(e, Error::Io { .. }), "{e:?}");
        assert!(e.to_string().starts_with("cannot read sweep file"), "{e}");
    }

    #[test]
    fn a_library_sweep_reports_progress_and_resumes() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("s.toml");
        std::fs::write(
            &file,
            "[train]\ndata = \"random\"\ncontext = 8\nbatch = 2\n[[runs]]\nparams = 2e3\ntokens = 400\n",
        )
        .unwrap();
        let sweep = Sweep::load(&file).unwrap();
        assert_eq!(sweep.runs().len(), 1);
        let out = dir.path().join("out");
        let notes = Notes::default();
        let req = SweepRequest {
            jobs: Some(1),
            step_limit: Some(3),
            ..SweepRequest::local(&out)
        };
        let SweepReport::Local(first) = sweep.run(&req, &notes).unwrap() else {
            panic!("a local sweep")
        };
        assert_eq!(first.stopped.len(), 1, "{first:?}");
        let bars = notes.1.lock().unwrap().clone();
        assert!(bars.contains(&"0 of 1 runs done".to_string()), "{bars:?}");
        assert!(!bars.contains(&"1 of 1 runs done".to_string()), "{bars:?}");
        let notes = notes.0.into_inner().unwrap();
        assert!(notes[0].starts_with("sweep "), "{notes:?}");
        assert!(notes.iter().any(|n| n.contains("(resumable)")), "{notes:?}");
        // the same sweep again: the run continues from its checkpoint
        let again = Notes::default();
        let SweepReport::Local(second) = sweep.run(&SweepRequest::local(&out), &again).unwrap()
        else {
            panic!("a local sweep")
        };
        assert_eq!(second.done.len(), 1, "{second:?}");
        // the overall bar counts finished runs
        let bars = again.1.into_inner().unwrap();
        assert_eq!(
            bars.last().map(String::as_str),
            Some("1 of 1 runs done"),
            "{bars:?}"
        );
        assert!(out.join("runs.csv").is_file());
    }

    #[test]
    fn given_slurm_settings_override_the_files_and_add_extras() {
        let file = SlurmSettings {
            partition: Some("debug".into()),
            time: Some("01:00:00".into()),
            extra: vec!["--qos=low".into()],
            ..SlurmSettings::default()
        };
        let given = SlurmSettings {
            partition: Some("gpu".into()),
            extra: vec!["--exclusive".into()],
            ..SlurmSettings::default()
        };
        let s = slurm_settings(&file, &given);
        assert_eq!(s.partition.as_deref(), Some("gpu"));
        assert_eq!(s.time.as_deref(), Some("01:00:00"));
        assert_eq!(s.extra, ["--qos=low", "--exclusive"]);
    }

    #[test]
    fn the_local_report_serialises_as_the_cli_printed_it() {
        let r = LocalReport::from_sweep(
            Path::new("d"),
            scalelab_sweep::local::SweepReport {
                done: vec!["a".into()],
                failed: vec![("b".into(), "diverged".into())],
                stopped: vec![],
                skipped: vec![],
                seconds: 1.5,
            },
        );
        let j = serde_json::to_string(&r).unwrap();
        assert_eq!(
            j,
            r#"{"executor":"local","done":["a"],"skipped":[],"stopped":[],"failed":[{"run":"b","reason":"diverged"}],"seconds":1.5,"runs_csv":"d/runs.csv"}"#
        );
    }
}
