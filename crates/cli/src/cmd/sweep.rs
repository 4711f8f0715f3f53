//! `scalelab sweep`: run a sweep file's pilot runs, locally or on Slurm, and
//! keep the runs table; `scalelab sweep-task`: one Slurm array task.

use crate::progress::Bars;
use anyhow::Result;
use scalelab::sweep::{
    Executor, LocalReport, PlannedRun, SlurmSettings, Sweep, SweepReport, SweepRequest,
};
use std::path::PathBuf;
use std::time::Duration;

const HELP: &str = r#"A sweep file (TOML) gives shared training settings and the runs:

  name = "pilot"
  [train]                     # any `scalelab train` config field except shape and budget
  data = "synth"              # the synthetic language (or a prepared corpus directory)
  context = 64
  batch = 16
  lr = 3e-3
  [schedule]
  tokens_per_param = 20       # D for runs that give no tokens
  evals = 8                   # validation evaluations per run
  checkpoints = 10            # checkpoints per run
  [[runs]]                    # explicit runs ...
  params = 3e5                # target non-embedding N (the shape rule picks L, d, heads)
  tokens = 2e6                # or tokens_per_param = 20, or flops = 1e13
  [grid]                      # ... a grid ...
  params = [1e4, 3e4, 1e5]
  tokens_per_param = [5, 20, 80]
  [design]                    # ... or an IsoFLOP design, as `scalelab design`
  total_flops = 1e15
  budgets = 4
  sizes = 5
  [slurm]                     # defaults for --executor slurm
  partition = "debug"
  time = "01:00:00"
  max_concurrent = 8
  gpus = "1"                  # also gpus_per_task, nodes, ntasks_per_node
  launcher = "torchrun --nproc-per-node=1"
  [trainer]                   # your own trainer instead of the built-in engine
  command = "python3 trainers/torch_gpt.py --config {config}"   # {n_layer}, {tokens}, {lr}, {run_dir}, ...
  resume = true               # relaunched with {resume} = its checkpoint
  checkpoint = "checkpoint.pt"
  timeout = "2h"

With [trainer], each run executes the command (sh -c, placeholders filled
and quoted); the trainer appends JSON lines (step, tokens, train_loss,
val_loss, ...) to $SCALELAB_METRICS and ends with summary.json; a non-zero
exit, a timeout, a garbage line or a NaN loss fail the run with the reason.
See docs/trainers.md for the protocol and every placeholder.

Each run gets DIR/runs/NAME/ (config.toml, metrics.jsonl, checkpoint.safetensors,
summary.json, status.json). DIR/runs.csv (and .parquet) has one row per run:
params (non-embedding), params_total, tokens, flops (6ND), flops_exact, loss
(final validation), train_loss, status, ...; DIR/curves.csv every evaluation.
`scalelab fit DIR` and `scalelab isoflop DIR/runs.csv` read them.

Running the same command again resumes: done runs are skipped, interrupted
ones continue from their last checkpoint, bit-identically. A run that
diverges is marked failed with the reason and the sweep goes on.

Checkpoints carry a checksum verified on resume; a corrupt checkpoint, or a
finished run whose summary.json or metrics.jsonl no longer reads, marks the
run failed with the reason (--retry-failed restarts it from scratch).

Exit status: 0 when every run is done (or stopped by a limit, or submitted);
2 on an error (bad sweep file or flag, directory in use, I/O, Slurm runs left
unfinished); 3 when the sweep finished with failed runs (locally, or a
followed Slurm job; the tables are written and the summary or --json report
printed first).

Examples:

  scalelab sweep sweep.toml --out runs/pilot
  scalelab sweep sweep.toml --out runs/pilot --jobs 4
  scalelab sweep sweep.toml --out runs/pilot --executor slurm --partition gpu --time 02:00:00
  scalelab sweep torch.toml --out runs/torch --executor slurm --gpus 4 --launcher "torchrun --nproc-per-node=4""#;

#[derive(clap::Args, Debug)]
#[command(after_long_help = HELP)]
pub struct Args {
    /// The sweep file (TOML; see --help).
    #[arg(value_name = "SWEEP_FILE")]
    pub sweep: PathBuf,

    /// The sweep directory (created; re-use it to resume).
    #[arg(short = 'o', long, value_name = "DIR")]
    pub out: PathBuf,

    /// Runs at a time (local executor; default: one single-threaded run per core).
    #[arg(long, value_name = "K", value_parser = crate::args::at_least_one)]
    pub jobs: Option<usize>,

    /// Where runs execute: local (this machine) or slurm (an sbatch array).
    #[arg(long, default_value = "local", value_parser = ["local", "slurm"])]
    pub executor: String,

    /// Check the sweep file and print its runs; train nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Give failed runs another try (from their last checkpoint).
    #[arg(long)]
    pub retry_failed: bool,

    /// Slurm partition.
    #[arg(long, value_name = "NAME")]
    pub partition: Option<String>,
    /// Slurm account.
    #[arg(long, value_name = "NAME")]
    pub account: Option<String>,
    /// Slurm time limit per task (e.g. 01:00:00).
    #[arg(long, value_name = "TIME")]
    pub time: Option<String>,
    /// CPUs per Slurm task.
    #[arg(long, value_name = "N")]
    pub cpus_per_task: Option<u32>,
    /// GPUs per Slurm array task (e.g. 1 or h100:1).
    #[arg(long, value_name = "SPEC")]
    pub gpus: Option<String>,
    /// GPUs per Slurm task, for jobs of several tasks (--ntasks-per-node).
    #[arg(long, value_name = "SPEC")]
    pub gpus_per_task: Option<String>,
    /// Nodes per array task (a multi-node external trainer).
    #[arg(long, value_name = "N", value_parser = crate::args::at_least_one_u32)]
    pub nodes: Option<u32>,
    /// Slurm tasks per node.
    #[arg(long, value_name = "N", value_parser = crate::args::at_least_one_u32)]
    pub ntasks_per_node: Option<u32>,
    /// Under Slurm, the launcher put before an external trainer's command
    /// (e.g. "srun" or "torchrun --nproc-per-node=4"); overrides the sweep
    /// file's [slurm] launcher and [trainer] launcher.
    #[arg(long, value_name = "COMMAND")]
    pub launcher: Option<String>,
    /// Array tasks running at once (%K).
    #[arg(long, value_name = "K")]
    pub max_concurrent: Option<usize>,
    /// Extra sbatch option, repeatable (e.g. --sbatch=--qos=low).
    #[arg(long = "sbatch", value_name = "OPTION", allow_hyphen_values = true)]
    pub sbatch: Vec<String>,
    /// Submit and return without following the job.
    #[arg(long)]
    pub no_wait: bool,
    /// Give up following the Slurm job after this many seconds (the job goes on).
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<u64>,

    /// No progress display.
    #[arg(long)]
    pub quiet: bool,

    /// Print a JSON summary (runs by state, seconds) at the end.
    #[arg(long)]
    pub json: bool,

    /// Stop each run after this many steps in this invocation (testing
    /// interruption and resume).
    #[arg(long, hide = true)]
    pub step_limit: Option<u64>,
}

impl Args {
    /// The library request for these flags.
    fn request(&self) -> SweepRequest {
        SweepRequest {
            out: self.out.clone(),
            executor: if self.executor == "slurm" {
                Executor::Slurm
            } else {
                Executor::Local
            },
            jobs: self.jobs,
            retry_failed: self.retry_failed,
            slurm: SlurmSettings {
                partition: self.partition.clone(),
                account: self.account.clone(),
                time: self.time.clone(),
                cpus_per_task: self.cpus_per_task,
                gpus: self.gpus.clone(),
                gpus_per_task: self.gpus_per_task.clone(),
                nodes: self.nodes,
                ntasks_per_node: self.ntasks_per_node,
                launcher: self.launcher.clone(),
                mem: None,
                max_concurrent: self.max_concurrent,
                extra: self.sbatch.clone(),
            },
            program: None,
            no_wait: self.no_wait,
            timeout: self.timeout.map(Duration::from_secs),
            step_limit: self.step_limit,
        }
    }
}

pub fn run(a: Args) -> Result<()> {
    let sweep = Sweep::load(&a.sweep)?;
    for w in sweep.warnings() {
        eprintln!("warning: {w}");
    }
    if a.dry_run {
        print_runs(&sweep.runs());
        let c = sweep.cost();
        println!(
            "compute: {:.3e} FLOPs (6ND) trained; {:.3e} as separate runs ({:.2}×)",
            c.flops_spent,
            c.flops_separate,
            c.flops_spent / c.flops_separate
        );
        return Ok(());
    }
    let bars = Bars::new(a.quiet);
    match sweep.run(&a.request(), &bars)? {
        SweepReport::Local(rep) => {
            render_local(&rep, a.json, a.quiet);
            if !rep.failed.is_empty() {
                return Err(FailedRuns(rep.failed.len()).into());
            }
        }
        SweepReport::AllDone { .. } => {
            eprintln!("every run is done; tables in {}", a.out.display());
        }
        SweepReport::Submitted(s) => println!("{}", s.job),
        SweepReport::Slurm(rep) => {
            if a.json {
                println!("{}", serde_json::to_string(&rep)?);
            } else {
                eprintln!(
                    "slurm job {} finished: {} done, {} failed, {} incomplete; table {}",
                    rep.job, rep.done, rep.failed, rep.incomplete, rep.runs_csv
                );
            }
            rep.check()?;
            if rep.failed > 0 {
                return Err(FailedRuns(rep.failed).into());
            }
        }
    }
    Ok(())
}

/// Exit status of a local sweep that finished with failed runs.
pub const EXIT_FAILED_RUNS: i32 = 3;

/// A local sweep finished, with this many failed runs (exit status
/// [`EXIT_FAILED_RUNS`], after the tables and the report).
#[derive(Debug)]
pub struct FailedRuns(pub usize);

impl std::fmt::Display for FailedRuns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the sweep finished with {} failed runs (see their reasons; --retry-failed reruns them)",
            self.0
        )
    }
}

impl std::error::Error for FailedRuns {}

/// The dry run's table of runs.
fn print_runs(runs: &[PlannedRun]) {
    println!(
        "{:<28} {:>7} {:>7} {:>5} {:>11} {:>11} {:>10} {:>8} {:>8} {:>11} {:>10} {:>5}",
        "run",
        "layers",
        "d_model",
        "heads",
        "params",
        "tokens",
        "flops",
        "steps",
        "schedule",
        "flops_spent",
        "lr",
        "batch"
    );
    for r in runs {
        println!(
            "{:<28} {:>7} {:>7} {:>5} {:>11.3e} {:>11.3e} {:>10.3e} {:>8} {:>8} {:>11.3e} {:>10.4e} {:>5}",
            r.run,
            r.layers,
            r.d_model,
            r.heads,
            r.params as f64,
            r.tokens as f64,
            r.flops,
            r.steps,
            r.schedule,
            r.flops_spent,
            r.lr,
            r.batch
        );
    }
}

/// A local sweep's summary: JSON on stdout, or a line (and the failed runs)
/// on stderr.
pub fn render_local(rep: &LocalReport, json: bool, quiet: bool) {
    if json {
        println!(
            "{}",
            serde_json::to_string(rep).expect("a sweep report serialises")
        );
    } else if !quiet {
        eprintln!("{}", rep.summary());
        for w in rep.warnings() {
            eprintln!("warning: {w}");
        }
    }
}

/// `scalelab sweep-task DIR --index I` (what the Slurm array runs).
#[derive(clap::Args, Debug)]
pub struct TaskArgs {
    /// The sweep directory.
    pub dir: PathBuf,
    /// The run's index in plan.json (SLURM_ARRAY_TASK_ID).
    #[arg(long)]
    pub index: usize,
}

pub fn run_task_cmd(a: TaskArgs) -> Result<()> {
    let r = scalelab::sweep::run_task(&a.dir, a.index)?;
    eprintln!(
        "run {} done: val loss {:?}, {:.0} tokens/s",
        r.index, r.final_val_loss, r.tokens_per_second
    );
    Ok(())
}
