//! `scalelab sweep`: run a sweep file's pilot runs, locally or on Slurm, and
//! keep the runs table; `scalelab sweep-task`: one Slurm array task.

use anyhow::{bail, Context, Result};
use scalelab_sweep::local::{run_local, LocalOptions};
use scalelab_sweep::spec::SlurmSettings;
use scalelab_sweep::{load_sweep, lock, prepare_dir, reset_failed, run_task, slurm};
use std::path::{Path, PathBuf};
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

Each run gets DIR/runs/NAME/ (config.toml, metrics.jsonl, checkpoint.safetensors,
summary.json, status.json). DIR/runs.csv (and .parquet) has one row per run:
params (non-embedding), params_total, tokens, flops (6ND), flops_exact, loss
(final validation), train_loss, status, ...; DIR/curves.csv every evaluation.
`scalelab fit DIR` and `scalelab isoflop DIR/runs.csv` read them.

Running the same command again resumes: done runs are skipped, interrupted
ones continue from their last checkpoint, bit-identically. A run that
diverges is marked failed with the reason and the sweep goes on.

Examples:

  scalelab sweep sweep.toml --out runs/pilot
  scalelab sweep sweep.toml --out runs/pilot --jobs 4
  scalelab sweep sweep.toml --out runs/pilot --executor slurm --partition gpu --time 02:00:00"#;

#[derive(clap::Args, Debug)]
#[command(after_long_help = HELP)]
pub struct Args {
    /// The sweep file (TOML; see --help).
    #[arg(value_name = "SWEEP.toml")]
    pub sweep: PathBuf,

    /// The sweep directory (created; re-use it to resume).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,

    /// Runs at a time (local executor; default: one single-threaded run per core).
    #[arg(long, value_name = "K")]
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
    /// GPUs per Slurm task (e.g. 1 or h100:1).
    #[arg(long, value_name = "SPEC")]
    pub gpus: Option<String>,
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

pub fn run(a: Args) -> Result<()> {
    let (plan, file) = load_sweep(&a.sweep)?;
    for w in &plan.warnings {
        eprintln!("warning: {w}");
    }
    if a.dry_run {
        println!(
            "{:<28} {:>7} {:>7} {:>5} {:>11} {:>11} {:>10} {:>8}",
            "run", "layers", "d_model", "heads", "params", "tokens", "flops", "steps"
        );
        for r in &plan.runs {
            println!(
                "{:<28} {:>7} {:>7} {:>5} {:>11.3e} {:>11.3e} {:>10.3e} {:>8}",
                r.name,
                r.config.n_layer,
                r.config.d_model,
                r.config.n_head,
                r.params as f64,
                r.tokens() as f64,
                6.0 * r.params as f64 * r.tokens() as f64,
                r.config.total_steps()
            );
        }
        return Ok(());
    }
    let _lock = lock::lock(&a.out)?;
    prepare_dir(&a.out, &plan)?;
    if a.retry_failed {
        let r = reset_failed(&a.out, &plan)?;
        if !r.is_empty() && !a.quiet {
            eprintln!("retrying {} failed runs: {}", r.len(), r.join(", "));
        }
    }
    if a.executor == "slurm" {
        let s = slurm_settings(&a, &file.slurm);
        let exe = std::env::current_exe().context("cannot locate the scalelab binary")?;
        let Some((job, script, runs)) = slurm::submit(&a.out, &plan, &s, &exe)? else {
            eprintln!("every run is done; tables in {}", a.out.display());
            return Ok(());
        };
        eprintln!(
            "submitted slurm job {job}: {} runs ({})",
            runs.len(),
            script.display()
        );
        if a.no_wait {
            println!("{job}");
            return Ok(());
        }
        let c = slurm::follow(
            &a.out,
            &plan,
            &job,
            Duration::from_secs(2),
            a.timeout.map(Duration::from_secs),
            a.quiet,
        )?;
        if a.json {
            println!(
                "{}",
                serde_json::json!({"executor": "slurm", "job": job, "done": c.done,
                    "failed": c.failed, "incomplete": c.running + c.pending,
                    "runs_csv": a.out.join("runs.csv").display().to_string()})
            );
        } else {
            eprintln!(
                "slurm job {job} finished: {} done, {} failed, {} incomplete; table {}",
                c.done,
                c.failed,
                c.running + c.pending,
                a.out.join("runs.csv").display()
            );
        }
        if c.running + c.pending > 0 {
            bail!(
                "{} runs did not finish (killed or timed out?); run the same command again to resubmit them from their checkpoints",
                c.running + c.pending
            );
        }
        return Ok(());
    }
    let jobs = a
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    if jobs == 0 {
        bail!("--jobs must be at least 1");
    }
    let rep = run_local(
        &a.out,
        &plan,
        &LocalOptions {
            jobs,
            quiet: a.quiet,
            step_limit: a.step_limit,
        },
    )?;
    report(&a.out, &rep, a.json, a.quiet);
    Ok(())
}

pub fn report(dir: &Path, rep: &scalelab_sweep::local::SweepReport, json: bool, quiet: bool) {
    if json {
        println!(
            "{}",
            serde_json::json!({
                "executor": "local",
                "done": rep.done, "skipped": rep.skipped, "stopped": rep.stopped,
                "failed": rep.failed.iter().map(|(n, w)| serde_json::json!({"run": n, "reason": w})).collect::<Vec<_>>(),
                "seconds": rep.seconds,
                "runs_csv": dir.join("runs.csv").display().to_string(),
            })
        );
    } else if !quiet {
        eprintln!(
            "sweep: {} trained, {} already done, {} stopped, {} failed in {:.1} s; table {}",
            rep.done.len(),
            rep.skipped.len(),
            rep.stopped.len(),
            rep.failed.len(),
            rep.seconds,
            dir.join("runs.csv").display()
        );
        for (n, w) in &rep.failed {
            eprintln!("warning: run {n} failed: {w}");
        }
    }
}

fn slurm_settings(a: &Args, file: &SlurmSettings) -> SlurmSettings {
    let mut s = file.clone();
    macro_rules! over {
        ($f:ident) => {
            if a.$f.is_some() {
                s.$f = a.$f.clone();
            }
        };
    }
    over!(partition);
    over!(account);
    over!(time);
    over!(cpus_per_task);
    over!(gpus);
    over!(max_concurrent);
    s.extra.extend(a.sbatch.iter().cloned());
    s
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
    match run_task(&a.dir, a.index)? {
        scalelab_sweep::run::Outcome::Done(s) => {
            eprintln!(
                "run {} done: val loss {:?}, {:.0} tokens/s",
                a.index, s.final_val_loss, s.tokens_per_second
            );
            Ok(())
        }
        scalelab_sweep::run::Outcome::Failed(w) => bail!("run {} failed: {w}", a.index),
        scalelab_sweep::run::Outcome::Stopped => bail!("run {} stopped", a.index),
    }
}
