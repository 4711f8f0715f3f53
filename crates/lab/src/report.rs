//! The HTML report of a study, sweep or fit, and single figures (SVG or
//! PNG).
//!
//! Both read their inputs with the report crate (`scalelab_report::Inputs`:
//! a study or sweep directory, or files: fit.json, study.json, runs.csv,
//! curves.csv, emerge.json), which reads the runs table with the columns
//! and filters the fit remembers.

use crate::{Error, Result};
use anyhow::Context;
use scalelab_report::figures::{self, FittedLaw};
use scalelab_report::{build_report, read_curves, read_json, Data, Inputs};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// An HTML report to write.
#[derive(Clone, Debug, Default)]
pub struct ReportRequest {
    /// A study or sweep directory, or files.
    pub inputs: Vec<PathBuf>,
    /// Where to write the HTML.
    pub out: PathBuf,
    /// The command line recorded in the report's provenance.
    pub command: String,
}

/// The schema of [`ReportWritten`] (`scalelab report --json`).
pub const REPORT_SCHEMA: &str = "scalelab.report/1";
/// The schema of [`PlotWritten`] (`scalelab plot --json`).
pub const PLOT_SCHEMA: &str = "scalelab.plot/1";

/// A written report (`scalelab report --json` prints it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReportWritten {
    /// Always [`REPORT_SCHEMA`].
    pub schema: String,
    /// The HTML file written.
    pub out: PathBuf,
    /// The inputs the report was built from, as given.
    pub inputs: Vec<PathBuf>,
    /// Figures in the report.
    pub figures: usize,
    /// Size of the HTML file.
    pub bytes: usize,
}

/// Builds the report of `req.inputs` and writes it to `req.out`.
pub fn report(req: &ReportRequest) -> Result<ReportWritten> {
    let inputs = Inputs::from_files(&req.inputs)?;
    let r = build_report(&inputs, &req.command)?;
    let html = r.to_html();
    write_out(&req.out, html.as_bytes())
        .with_context(|| format!("cannot write -o {}", req.out.display()))?;
    Ok(ReportWritten {
        schema: REPORT_SCHEMA.into(),
        out: req.out.clone(),
        inputs: req.inputs.clone(),
        figures: r.figures().len(),
        bytes: html.len(),
    })
}

/// Writes `DIR/report.html` for a study or sweep directory; returns its
/// path.
pub fn write_dir_report(dir: &Path, command: &str) -> Result<PathBuf> {
    let inputs = Inputs::from_dir(dir);
    let r = build_report(&inputs, command)?;
    let out = dir.join("report.html");
    write_out(&out, r.to_html().as_bytes())?;
    Ok(out)
}

/// A single figure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PlotKind {
    /// Loss against N at each FLOP budget, with the fitted law and its band.
    #[serde(rename = "isoflop-n")]
    IsoflopN,
    /// Loss against D at each FLOP budget.
    #[serde(rename = "isoflop-d")]
    IsoflopD,
    /// Loss against compute, with the compute-optimal loss of the fit.
    #[serde(rename = "loss-c")]
    LossC,
    /// N*(C) of the fit beside Chinchilla and Kaplan et al.
    #[serde(rename = "frontier-n")]
    FrontierN,
    /// D*(C) likewise.
    #[serde(rename = "frontier-d")]
    FrontierD,
    /// Log residuals of the fit against compute (needs a fit).
    #[serde(rename = "residuals")]
    Residuals,
    /// Data- and model-limited zones of the (N, D) plane (needs a
    /// Chinchilla fit).
    #[serde(rename = "regimes")]
    Regimes,
    /// Validation loss against tokens for every run (needs curves.csv).
    #[serde(rename = "curves")]
    Curves,
    /// A task's discrete metric with its threshold, or its continuous
    /// metric (needs emerge.json and a task).
    #[serde(rename = "ability")]
    Ability,
    /// The rollout backtest's |error| against extrapolation distance
    /// (needs a fit made with `scalelab fit --rollout`).
    #[serde(rename = "rollout")]
    Rollout,
    /// Two recipes' frontiers and fitted curves (needs a
    /// `scalelab compare --out` file).
    #[serde(rename = "compare-loss")]
    CompareLoss,
    /// The effective-compute multiplier m(C) with its band (needs a
    /// `scalelab compare --out` file).
    #[serde(rename = "compare-multiplier")]
    CompareMultiplier,
}

impl PlotKind {
    /// Every kind, in the order the help lists them.
    pub const ALL: [PlotKind; 12] = [
        PlotKind::IsoflopN,
        PlotKind::IsoflopD,
        PlotKind::LossC,
        PlotKind::FrontierN,
        PlotKind::FrontierD,
        PlotKind::Residuals,
        PlotKind::Regimes,
        PlotKind::Curves,
        PlotKind::Ability,
        PlotKind::Rollout,
        PlotKind::CompareLoss,
        PlotKind::CompareMultiplier,
    ];

    /// The kind's name (`isoflop-n`, ...).
    pub fn name(self) -> &'static str {
        match self {
            PlotKind::IsoflopN => "isoflop-n",
            PlotKind::IsoflopD => "isoflop-d",
            PlotKind::LossC => "loss-c",
            PlotKind::FrontierN => "frontier-n",
            PlotKind::FrontierD => "frontier-d",
            PlotKind::Residuals => "residuals",
            PlotKind::Regimes => "regimes",
            PlotKind::Curves => "curves",
            PlotKind::Ability => "ability",
            PlotKind::Rollout => "rollout",
            PlotKind::CompareLoss => "compare-loss",
            PlotKind::CompareMultiplier => "compare-multiplier",
        }
    }
}

impl FromStr for PlotKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        PlotKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                Error::flag(
                    "KIND",
                    format!(
                        "unknown figure `{s}` (one of {})",
                        PlotKind::ALL.map(|k| k.name()).join(", ")
                    ),
                )
            })
    }
}

/// A figure to draw.
#[derive(Clone, Debug)]
pub struct PlotRequest {
    pub kind: PlotKind,
    /// A study or sweep directory, or files.
    pub inputs: Vec<PathBuf>,
    /// Output file: `.svg` or `.png`.
    pub out: PathBuf,
    /// The task, for [`PlotKind::Ability`].
    pub task: Option<String>,
    /// For [`PlotKind::Ability`]: the continuous metric's panel.
    pub continuous: bool,
}

/// A written figure (`scalelab plot --json` prints it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlotWritten {
    /// Always [`PLOT_SCHEMA`].
    pub schema: String,
    /// The figure drawn.
    pub kind: PlotKind,
    /// The file written.
    pub out: PathBuf,
    /// `svg` or `png`.
    pub format: String,
    pub bytes: usize,
}

/// The SVG text of the figure a request asks for.
pub fn figure_svg(req: &PlotRequest) -> Result<String> {
    let kind = req.kind.name();
    let inputs = Inputs::from_files(&req.inputs)?;
    let data = Data::load(&inputs)?;
    let runs = &data.runs;
    let fl = data.fitted();
    let need_runs = || -> Result<()> {
        if runs.is_empty() {
            return Err(Error::failed(format!(
                "`{kind}` needs runs (a runs.csv or a sweep directory)"
            )));
        }
        Ok(())
    };
    let need_fit = || -> Result<&FittedLaw> {
        fl.as_ref()
            .ok_or_else(|| Error::failed(format!("`{kind}` needs a fit (fit.json)")))
    };
    let plot = match req.kind {
        PlotKind::IsoflopN => {
            need_runs()?;
            figures::isoflop_profiles(runs, fl.as_ref(), false)
        }
        PlotKind::IsoflopD => {
            need_runs()?;
            figures::isoflop_profiles(runs, fl.as_ref(), true)
        }
        PlotKind::LossC => {
            need_runs()?;
            figures::loss_vs_compute(runs, fl.as_ref())
        }
        PlotKind::FrontierN => figures::frontier(runs, fl.as_ref(), false),
        PlotKind::FrontierD => figures::frontier(runs, fl.as_ref(), true),
        PlotKind::Residuals => {
            need_runs()?;
            figures::residuals(runs, need_fit()?)
        }
        PlotKind::Regimes => {
            need_runs()?;
            figures::regimes(runs, need_fit()?)
                .context("`regimes` needs a Chinchilla fit (--law chinchilla)")?
        }
        PlotKind::Rollout => {
            let r = data
                .fit
                .as_ref()
                .and_then(|f| f.report.rollout.as_ref())
                .ok_or_else(|| {
                    Error::failed("`rollout` needs a fit made with `scalelab fit --rollout`")
                })?;
            figures::rollout_errors(r)
        }
        PlotKind::CompareLoss | PlotKind::CompareMultiplier => {
            let c = inputs.compare.as_deref().ok_or_else(|| {
                Error::failed(format!(
                    "`{kind}` needs the file written by `scalelab compare -o compare.json`"
                ))
            })?;
            let v = read_json(c)?;
            if req.kind == PlotKind::CompareLoss {
                figures::compare_losses(&v)
            } else {
                figures::compare_multiplier(&v)
            }
        }
        PlotKind::Curves => {
            let c = inputs
                .curves
                .as_deref()
                .ok_or_else(|| Error::failed("`curves` needs curves.csv (or a sweep directory)"))?;
            figures::training_curves(&read_curves(c)?)
        }
        PlotKind::Ability => {
            let e = inputs.emerge.as_deref().ok_or_else(|| {
                Error::failed(
                    "`ability` needs the file written by `scalelab emerge --out emerge.json`",
                )
            })?;
            let v = read_json(e)?;
            let want = req
                .task
                .as_deref()
                .ok_or_else(|| Error::flag("--task", "`ability` needs --task NAME"))?;
            let tasks = v["tasks"].as_array().cloned().unwrap_or_default();
            let t = tasks.iter().find(|t| t["task"] == want).ok_or_else(|| {
                Error::flag(
                    "--task",
                    format!(
                        "--task {want}: not in {} (tasks: {})",
                        e.display(),
                        tasks
                            .iter()
                            .filter_map(|t| t["task"].as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            })?;
            let mut plots = figures::ability(
                t,
                v["scale"].as_str().unwrap_or("scale"),
                v["discrete_metric"].as_str().unwrap_or("discrete"),
                v["continuous_metric"].as_str().unwrap_or("continuous"),
            );
            if req.continuous {
                if plots.len() < 2 {
                    return Err(Error::flag(
                        "--continuous",
                        format!("--task {want} has no continuous metric"),
                    ));
                }
                plots.remove(1)
            } else {
                plots.remove(0)
            }
        }
    };
    Ok(plot.to_svg())
}

/// Draws the figure and writes it as SVG or PNG, as the extension of
/// `req.out` says.
pub fn plot(req: &PlotRequest) -> Result<PlotWritten> {
    let svg = figure_svg(req)?;
    let ext = req
        .out
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase());
    let (format, bytes) = match ext.as_deref() {
        Some("svg") => ("svg", svg.into_bytes()),
        Some("png") => ("png", scalelab_report::png::render(&svg, 2.0)?),
        _ => {
            return Err(Error::flag(
                "-o",
                format!("-o {}: use a .svg or .png file name", req.out.display()),
            ))
        }
    };
    write_out(&req.out, &bytes)?;
    Ok(PlotWritten {
        schema: PLOT_SCHEMA.into(),
        kind: req.kind,
        out: req.out.clone(),
        format: format.into(),
        bytes: bytes.len(),
    })
}

/// Writes an output file atomically; the error names the file.
fn write_out(path: &Path, bytes: &[u8]) -> Result<()> {
    scalelab_common::write_atomic(path, bytes).map_err(|e| Error::io("cannot write", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plot_kinds_round_trip_their_names() {
        for k in PlotKind::ALL {
            assert_eq!(k.name().parse::<PlotKind>().unwrap(), k);
            assert_eq!(
                serde_json::to_string(&k).unwrap(),
                format!("\"{}\"", k.name())
            );
        }
        assert!("nope".parse::<PlotKind>().is_err());
    }
}
