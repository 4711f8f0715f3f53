//! `scalelab study`: the whole loop in one command — design (or the given
//! runs) → sweep → fits → IsoFLOP analysis → plan → backtest → summary,
//! everything in one output directory. The work is `scalelab::study`; this
//! module turns the flags into a [`StudyRequest`] and prints the summary
//! or study.json.

use anyhow::{bail, Result};
use scalelab::study::{StudyRequest, DEFAULT_STUDY};
use std::path::PathBuf;

const HELP: &str = r#"A study file is a sweep file (see `scalelab sweep --help`) with a [study]
table:

  [study]
  target_factor = 100     # plan for this multiple of the pilots' total compute
  # target_flops = 1e18   # ... or for this budget
  bootstrap = 400         # resamples for the intervals of the fitted law
  seed = 0

The study runs the sweep (resuming if DIR holds it already), fits the
Chinchilla law (with bootstrap intervals) and the power laws in N, D and C,
runs the IsoFLOP analysis (Approach 2) when the runs were designed at FLOP
budgets, plans the compute-optimal N and D for the target budget, and
backtests: the law is refitted without the largest-compute runs and asked to
predict them. DIR then holds study.toml, the sweep (runs/, runs.csv,
curves.csv), fit.json (Chinchilla), fit-power-{n,d,c}.json, isoflop.json,
study.json (everything the summary shows) and summary.txt.

Examples:

  scalelab study                          # the embedded default, into ./study
  scalelab study my_study.toml --out runs/study1 --jobs 2
  scalelab study --print-default > my_study.toml"#;

#[derive(clap::Args, Debug)]
#[command(after_long_help = HELP)]
pub struct Args {
    /// The study file (TOML); without it, the embedded default study.
    #[arg(value_name = "STUDY_FILE")]
    pub study: Option<PathBuf>,
    /// Output directory (re-use it to resume).
    #[arg(short = 'o', long, default_value = "study", value_name = "DIR")]
    pub out: PathBuf,
    /// Runs at a time (default: one single-threaded run per core).
    #[arg(long, value_name = "K", value_parser = crate::args::at_least_one)]
    pub jobs: Option<usize>,
    /// Print the embedded default study file and exit.
    #[arg(long)]
    pub print_default: bool,
    /// Print study.json instead of the summary.
    #[arg(long)]
    pub json: bool,
    /// No progress display.
    #[arg(long)]
    pub quiet: bool,
}

pub fn run(a: Args) -> Result<()> {
    if a.print_default {
        print!("{DEFAULT_STUDY}");
        return Ok(());
    }
    let req = StudyRequest {
        study: a.study.clone(),
        out: a.out.clone(),
        jobs: a.jobs,
        command: std::env::args().collect::<Vec<_>>().join(" "),
    };
    let bars = crate::progress::Bars::new(a.quiet);
    let done = scalelab::study::study(&req, &bars)?;
    if !a.quiet && !a.json {
        eprintln!("report: {}", done.report_html.display());
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&done.report)?);
    } else {
        print!("{}", done.summary);
    }
    if done.report.runs_done == 0 {
        bail!("no run finished");
    }
    Ok(())
}
