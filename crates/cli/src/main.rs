//! The `scalelab` binary: a thin layer of argument parsing and printing over
//! the library crates. Each subcommand lives in its own module under `cmd/`.

mod args;
mod cmd;
mod conventions;
mod progress;

use clap::{Parser, Subcommand};

/// scalelab — a scaling-law laboratory.
///
/// Train pilot runs, fit scaling laws to them, and plan compute-optimal
/// training runs, with the uncertainty stated.
#[derive(Parser, Debug)]
#[command(
    name = "scalelab",
    version,
    about,
    long_about = None,
    propagate_version = true,
    after_help = "Start here: `scalelab study` runs the embedded default study (pilot runs on a \
synthetic language, fits, plan, backtest, report.html) in a few minutes.\n\
The loop by hand: sweep -> fit -> plan / isoflop -> eval -> emerge -> report. \
Each command's --help gives its method and examples.\n\n\
Examples:\n\n  \
scalelab study -o study\n  \
scalelab fit runs.csv --bootstrap 200 -o fit.json\n  \
scalelab plan --fit fit.json --flops 1e21\n\n\
Conventions: -o/--out names the FILE or DIR a command writes; --json prints one object on \
stdout; -n counts items; --group-by takes a comma-separated list; --quiet hides progress."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Two recipes: the effective-compute multiplier between two ladders, crossover, shared E.
    Compare(cmd::compare::Args),
    /// Corpora: prepare token shards from text/JSONL/Parquet, synthetic
    /// language and task data, dedup, contamination and stats.
    Corpus(cmd::corpus::Args),
    /// Propose pilot runs (an IsoFLOP grid) for a total budget; write a sweep file.
    Design(cmd::design::Args),
    /// Abilities across scale: thresholds in discrete metrics, checked with continuous ones.
    Emerge(cmd::emerge::Args),
    /// Evaluate trained runs on generated tasks (exact match, log-prob, edit distance, ...).
    Eval(cmd::eval::Args),
    /// Fit a scaling law to a table of runs (CSV, JSONL or Parquet).
    Fit(cmd::fit::Args),
    /// Learning-rate (and batch) optima per compute budget and their power laws.
    Hparams(cmd::hparams::Args),
    /// Existing logs into scalelab tables: TensorBoard, tracker CSV exports, lm-eval results.
    Import(cmd::import::Args),
    /// Compute-optimal exponents from IsoFLOP runs and loss curves (Approaches 1-3).
    Isoflop(cmd::isoflop::Args),
    /// Compute-optimal N and D for a budget from a fitted law; FLOP calculator.
    Plan(cmd::plan::Args),
    /// One figure (SVG or PNG): IsoFLOP profiles, frontier, residuals, ...
    Plot(cmd::report::PlotArgs),
    /// A self-contained HTML report of a study, sweep or fit.
    Report(cmd::report::ReportArgs),
    /// The whole loop: design, sweep, fits, IsoFLOP, plan, backtest (default: the embedded study).
    Study(cmd::study::Args),
    /// Run a sweep of pilot runs (local or Slurm), resumable; keeps runs.csv.
    Sweep(cmd::sweep::Args),
    /// One run of a prepared sweep directory (what Slurm array tasks execute).
    #[command(hide = true)]
    SweepTask(cmd::sweep::TaskArgs),
    /// Train a GPT pilot run with the built-in engine.
    Train(cmd::train::Args),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Compare(args) => cmd::compare::run(args),
        Command::Corpus(args) => cmd::corpus::run(args),
        Command::Design(args) => cmd::design::run(args),
        Command::Emerge(args) => cmd::emerge::run(args),
        Command::Eval(args) => cmd::eval::run(args),
        Command::Fit(args) => cmd::fit::run(args),
        Command::Hparams(args) => cmd::hparams::run(args),
        Command::Import(args) => cmd::import::run(args),
        Command::Isoflop(args) => cmd::isoflop::run(args),
        Command::Plan(args) => cmd::plan::run(args),
        Command::Plot(args) => cmd::report::run_plot(args),
        Command::Report(args) => cmd::report::run_report(args),
        Command::Study(args) => cmd::study::run(args),
        Command::Sweep(args) => cmd::sweep::run(args),
        Command::SweepTask(args) => cmd::sweep::run_task_cmd(args),
        Command::Train(args) => cmd::train::run(args),
    };
    if let Err(err) = result {
        eprintln!("error: {err:#}");
        if err.downcast_ref::<cmd::sweep::FailedRuns>().is_some() {
            std::process::exit(cmd::sweep::EXIT_FAILED_RUNS);
        }
        std::process::exit(2);
    }
}
