//! `scalelab report` (a self-contained HTML page) and `scalelab plot`
//! (single figures as SVG or PNG).

use anyhow::Result;
use scalelab::report::{PlotKind, PlotRequest, ReportRequest};
use std::path::PathBuf;

const REPORT_HELP: &str = r#"The report is one HTML file with everything inline (SVG figures, CSS; no
scripts, no external requests): the plan and backtest of a study, the fitted
parameters with intervals, the figures (IsoFLOP profiles against N and D,
loss against compute with the compute-optimal frontier, N*(C) and D*(C)
beside the published Chinchilla and Kaplan allocations, residuals, the
regimes of the (N, D) plane, training curves), every warning, and provenance
(input files with SHA-256, command line, version, seeds).

With --json, stdout is one object (schema scalelab.report/1): out (the HTML
file), inputs, figures (how many), bytes.

Examples:

  scalelab report study -o study/report.html
  scalelab report fit.json runs.csv -o report.html --json"#;

#[derive(clap::Args, Debug)]
#[command(after_long_help = REPORT_HELP)]
pub struct ReportArgs {
    /// A study or sweep directory, or files: fit.json, study.json, runs.csv, curves.csv.
    #[arg(required = true, value_name = "DIR|FILES")]
    pub inputs: Vec<PathBuf>,
    /// The HTML file to write.
    #[arg(short = 'o', long, value_name = "FILE", default_value = "report.html")]
    pub out: PathBuf,
    /// Print one JSON object (schema scalelab.report/1) describing the file written.
    #[arg(long)]
    pub json: bool,
}

/// The command line, for the report's provenance.
fn command_line() -> String {
    std::env::args().collect::<Vec<_>>().join(" ")
}

pub fn run_report(a: ReportArgs) -> Result<()> {
    let w = scalelab::report::report(&ReportRequest {
        inputs: a.inputs,
        out: a.out,
        command: command_line(),
    })?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&w)?);
        return Ok(());
    }
    eprintln!(
        "wrote {} ({} figures, {} KiB)",
        w.out.display(),
        w.figures,
        w.bytes / 1024
    );
    Ok(())
}

const PLOT_HELP: &str = r#"Kinds:
  isoflop-n   loss against N at each FLOP budget, with the fitted law and its band
  isoflop-d   loss against D at each FLOP budget
  loss-c      loss against compute, with the compute-optimal loss of the fit
  frontier-n  N*(C) of the fit beside Chinchilla and Kaplan et al.
  frontier-d  D*(C) likewise
  residuals   log residuals of the fit against compute (needs a fit)
  regimes     data- and model-limited zones of the (N, D) plane (needs a Chinchilla fit)
  curves      validation loss against tokens for every run (needs curves.csv)
  ability     a task's discrete metric with its threshold, beside its continuous
              metric (needs `scalelab emerge --out emerge.json` and --task)
  rollout     |error| of the rollout backtest against extrapolation distance
              (needs a fit made with `scalelab fit --rollout`)
  compare-loss        two recipes' frontiers and fitted curves, with the crossover
                      (needs `scalelab compare -o compare.json`)
  compare-multiplier  the effective-compute multiplier m(C) with its 95% band
                      (needs `scalelab compare -o compare.json`)

The output format follows the extension of -o: .svg or .png.

With --json, stdout is one object (schema scalelab.plot/1): kind, out (the
file), format (svg or png), bytes.

Examples:

  scalelab plot isoflop-n study -o isoflop.svg
  scalelab plot frontier-n fit.json runs.csv -o frontier.png

  scalelab plot rollout fit.json -o rollout.png --json

  scalelab plot compare-multiplier compare.json -o multiplier.svg"#;

#[derive(clap::Args, Debug)]
#[command(after_long_help = PLOT_HELP)]
pub struct PlotArgs {
    /// The figure.
    #[arg(value_parser = ["isoflop-n", "isoflop-d", "loss-c", "frontier-n", "frontier-d", "residuals", "regimes", "curves", "ability", "rollout", "compare-loss", "compare-multiplier"])]
    pub kind: String,
    /// A study or sweep directory, or files: fit.json, runs.csv, curves.csv,
    /// compare.json.
    #[arg(required = true, value_name = "DIR|FILES")]
    pub inputs: Vec<PathBuf>,
    /// The figure file to write (.svg or .png).
    #[arg(short = 'o', long, value_name = "FILE")]
    pub out: PathBuf,
    /// The task, for `ability` (the discrete metric; `--continuous` for the other panel).
    #[arg(long)]
    pub task: Option<String>,
    /// For `ability`: draw the continuous metric's panel instead.
    #[arg(long)]
    pub continuous: bool,
    /// Print one JSON object (schema scalelab.plot/1) describing the file written.
    #[arg(long)]
    pub json: bool,
}

pub fn run_plot(a: PlotArgs) -> Result<()> {
    let w = scalelab::report::plot(&PlotRequest {
        kind: a.kind.parse::<PlotKind>()?,
        inputs: a.inputs,
        out: a.out,
        task: a.task,
        continuous: a.continuous,
    })?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&w)?);
        return Ok(());
    }
    eprintln!("wrote {}", w.out.display());
    Ok(())
}
