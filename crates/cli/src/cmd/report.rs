//! `scalelab report` (a self-contained HTML page) and `scalelab plot`
//! (single figures as SVG or PNG).

use anyhow::{bail, Context, Result};
use scalelab_report::figures::{self, FittedLaw};
use scalelab_report::{build_report, read_curves, read_json, Data, Inputs};
use std::path::{Path, PathBuf};

const REPORT_HELP: &str = r#"The report is one HTML file with everything inline (SVG figures, CSS; no
scripts, no external requests): the plan and backtest of a study, the fitted
parameters with intervals, the figures (IsoFLOP profiles against N and D,
loss against compute with the compute-optimal frontier, N*(C) and D*(C)
beside the published Chinchilla and Kaplan allocations, residuals, the
regimes of the (N, D) plane, training curves), every warning, and provenance
(input files with SHA-256, command line, version, seeds).

Examples:

  scalelab report study -o study/report.html
  scalelab report fit.json runs.csv -o report.html"#;

#[derive(clap::Args, Debug)]
#[command(after_long_help = REPORT_HELP)]
pub struct ReportArgs {
    /// A study or sweep directory, or files: fit.json, study.json, runs.csv, curves.csv.
    #[arg(required = true, value_name = "DIR|FILES")]
    pub inputs: Vec<PathBuf>,
    /// Where to write the HTML.
    #[arg(short = 'o', long, value_name = "FILE", default_value = "report.html")]
    pub out: PathBuf,
}

pub fn run_report(a: ReportArgs) -> Result<()> {
    let inputs = Inputs::from_files(&a.inputs)?;
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let r = build_report(&inputs, &command)?;
    let html = r.to_html();
    scalelab_tables::write_atomic(&a.out, html.as_bytes())
        .with_context(|| format!("cannot write -o {}", a.out.display()))?;
    eprintln!(
        "wrote {} ({} figures, {} KiB)",
        a.out.display(),
        r.figures().len(),
        html.len() / 1024
    );
    Ok(())
}

pub fn write_report(dir: &Path) -> Result<PathBuf> {
    let inputs = Inputs::from_dir(dir);
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let r = build_report(&inputs, &command)?;
    let out = dir.join("report.html");
    scalelab_tables::write_atomic(&out, r.to_html().as_bytes())?;
    Ok(out)
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

The output format follows the extension of -o: .svg or .png.

Examples:

  scalelab plot isoflop-n study -o isoflop.svg
  scalelab plot frontier-n fit.json runs.csv -o frontier.png"#;

#[derive(clap::Args, Debug)]
#[command(after_long_help = PLOT_HELP)]
pub struct PlotArgs {
    /// The figure.
    #[arg(value_parser = ["isoflop-n", "isoflop-d", "loss-c", "frontier-n", "frontier-d", "residuals", "regimes", "curves", "ability"])]
    pub kind: String,
    /// A study or sweep directory, or files: fit.json, runs.csv, curves.csv.
    #[arg(required = true, value_name = "DIR|FILES")]
    pub inputs: Vec<PathBuf>,
    /// Output file (.svg or .png).
    #[arg(short = 'o', long, value_name = "FILE")]
    pub out: PathBuf,
    /// The task, for `ability` (the discrete metric; `--continuous` for the other panel).
    #[arg(long)]
    pub task: Option<String>,
    /// For `ability`: draw the continuous metric's panel instead.
    #[arg(long)]
    pub continuous: bool,
}

pub fn run_plot(a: PlotArgs) -> Result<()> {
    let inputs = Inputs::from_files(&a.inputs)?;
    let data = Data::load(&inputs)?;
    let runs = &data.runs;
    let fl = data.fitted();
    let need_runs = || -> Result<()> {
        if runs.is_empty() {
            bail!("`{}` needs runs (a runs.csv or a sweep directory)", a.kind);
        }
        Ok(())
    };
    let need_fit = || -> Result<&FittedLaw> {
        fl.as_ref()
            .with_context(|| format!("`{}` needs a fit (fit.json)", a.kind))
    };
    let plot = match a.kind.as_str() {
        "isoflop-n" => {
            need_runs()?;
            figures::isoflop_profiles(runs, fl.as_ref(), false)
        }
        "isoflop-d" => {
            need_runs()?;
            figures::isoflop_profiles(runs, fl.as_ref(), true)
        }
        "loss-c" => {
            need_runs()?;
            figures::loss_vs_compute(runs, fl.as_ref())
        }
        "frontier-n" => figures::frontier(runs, fl.as_ref(), false),
        "frontier-d" => figures::frontier(runs, fl.as_ref(), true),
        "residuals" => {
            need_runs()?;
            figures::residuals(runs, need_fit()?)
        }
        "regimes" => {
            need_runs()?;
            figures::regimes(runs, need_fit()?)
                .context("`regimes` needs a Chinchilla fit (--law chinchilla)")?
        }
        "curves" => {
            let c = inputs
                .curves
                .as_deref()
                .context("`curves` needs curves.csv (or a sweep directory)")?;
            figures::training_curves(&read_curves(c)?)
        }
        "ability" => {
            let e = inputs.emerge.as_deref().context(
                "`ability` needs the file written by `scalelab emerge --out emerge.json`",
            )?;
            let v = read_json(e)?;
            let want = a.task.as_deref().context("`ability` needs --task NAME")?;
            let tasks = v["tasks"].as_array().cloned().unwrap_or_default();
            let t = tasks.iter().find(|t| t["task"] == want).with_context(|| {
                format!(
                    "--task {want}: not in {} (tasks: {})",
                    e.display(),
                    tasks
                        .iter()
                        .filter_map(|t| t["task"].as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })?;
            let mut plots = figures::ability(
                t,
                v["scale"].as_str().unwrap_or("scale"),
                v["discrete_metric"].as_str().unwrap_or("discrete"),
                v["continuous_metric"].as_str().unwrap_or("continuous"),
            );
            if a.continuous {
                if plots.len() < 2 {
                    bail!("--task {want} has no continuous metric");
                }
                plots.remove(1)
            } else {
                plots.remove(0)
            }
        }
        _ => unreachable!("clap checked the kind"),
    };
    let svg = plot.to_svg();
    let ext = a
        .out
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("svg") => scalelab_tables::write_atomic(&a.out, svg.as_bytes())?,
        Some("png") => {
            let png = scalelab_report::png::render(&svg, 2.0)?;
            scalelab_tables::write_atomic(&a.out, &png)?
        }
        _ => bail!("-o {}: use a .svg or .png file name", a.out.display()),
    }
    eprintln!("wrote {}", a.out.display());
    Ok(())
}
