//! `scalelab emerge`: locate thresholds in discrete metrics across scale and
//! check them with continuous metrics of the same outputs before calling
//! anything emergent.

use anyhow::{bail, Result};
use scalelab::emerge::{EmergeReport, EmergeRequest, MetricFit, TwoStage};
use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::progress::Bars;

const HELP: &str = r#"The table is long: one row per (model, task, metric) with the scale, the
value and (optionally) its standard error — the format of lm-evaluation-harness
results made tidy, and of `scalelab eval`.

For each task, the discrete metric (exact match, accuracy) is fitted against
log10(scale) by four curves — flat, linear, a sigmoid from the chance level
to a ceiling, and a smoothly broken power law in the shortfall from the
ceiling — chosen by AICc with weights 1/se². A sigmoid or broken power law
that wins and rises (10% to 90%) within --sharp-decades is "sharp"; its
midpoint or break is the threshold, with a parametric bootstrap interval. The continuous metric of the same
outputs (per-target perplexity or cross-entropy, lower is better) is checked
for smoothness in two ways, either of which suffices: a power law with
offset, CE = E + A·x^-α, whose RMSE on the log scale is within
--smooth-rmse; or the per-token probability p = exp(-CE) having improved
mostly away from the discrete metric's jump: at most --max-jump-share of p's
change over the observed scales happens between the last scale before the
discrete sigmoid's 10% point and the first after its 90% point (column
"p@jump"). Exact match of an L-token answer behaves like p^L, which stays
near zero while p climbs and then shoots up. The p^L check compares exact
match with exp(-L*CE) for answers of L targets.

Verdicts: no improvement / smooth improvement / sharp in the discrete metric
but smooth in the continuous one (metric artefact likely) / sharp in both
(candidate emergence) / sharp with no continuous metric to check.

Example (Pythia, final checkpoints, standard Pile):

  scalelab emerge pythia_v1_zero_shot_tidy.csv --scale-col params_nonembedding \
      --where 'step == 143000 and deduped == 0' --continuous ppl"#;

#[derive(clap::Args, Debug)]
#[command(after_long_help = HELP)]
pub struct Args {
    /// The evaluation table (CSV, JSONL or Parquet).
    pub table: PathBuf,
    /// Column of the scale (parameters, tokens or FLOPs).
    #[arg(long, default_value = "params", value_name = "COLUMN")]
    pub scale_col: String,
    /// Column of the task name.
    #[arg(long, default_value = "task", value_name = "COLUMN")]
    pub task_col: String,
    /// Column of the metric name (`--discrete` and `--continuous` pick rows by it).
    #[arg(long, default_value = "metric", value_name = "COLUMN")]
    pub metric_col: String,
    /// Column of the metric's value.
    #[arg(long, default_value = "value", value_name = "COLUMN")]
    pub value_col: String,
    /// Column of standard errors (optional; absent values count as unknown).
    #[arg(long, default_value = "stderr", value_name = "COLUMN")]
    pub stderr_col: String,
    /// Analyse each combination of these columns' values separately, within
    /// each task (e.g. `--group-by difficulty` or `--group-by reasoning,difficulty`
    /// on `scalelab eval` tables): thresholds per digit count or depth.
    #[arg(long, value_delimiter = ',', value_name = "COLUMNS")]
    pub group_by: Vec<String>,
    /// Keep only matching rows (repeatable), e.g. `--where 'step == 143000'`.
    #[arg(long = "where", value_name = "EXPR")]
    pub filters: Vec<String>,
    /// The discrete metric (values in [0, 1]).
    #[arg(long, default_value = "acc")]
    pub discrete: String,
    /// The continuous metric of the same outputs: `ppl` (perplexity of the
    /// target) or a cross-entropy in nats (lower is better); `none` for no
    /// continuous check. A metric name not in the table is an error listing
    /// the names there are.
    #[arg(long, default_value = "ppl")]
    pub continuous: String,
    /// Answer length L in targets for the p^L check.
    #[arg(long, default_value_t = 1.0)]
    pub answer_length: f64,
    /// Chance levels by task, e.g. `--chance arc_easy=0.25,piqa=0.5`
    /// (defaults for common tasks are built in; others 0).
    #[arg(long, value_delimiter = ',')]
    pub chance: Vec<String>,
    /// A sigmoid rising within this many decades (10% to 90%) is sharp.
    #[arg(long, default_value_t = 1.5)]
    pub sharp_decades: f64,
    /// The continuous metric counts as smooth when a power law with offset
    /// fits its cross-entropy within this RMSE (natural-log scale).
    #[arg(long, default_value_t = 0.05)]
    pub smooth_rmse: f64,
    /// The continuous metric also counts as smooth when at most this share of
    /// its per-token probability's change happens where the discrete metric
    /// jumps (column "p@jump").
    #[arg(long, default_value_t = 0.5)]
    pub max_jump_share: f64,
    /// Per-item results (`items.jsonl` of `scalelab eval`): the threshold's
    /// interval then comes from resampling each model's items (matched by
    /// the table's `run` column) instead of from standard errors. (The old
    /// spelling `--items` still works; it counts items in eval.)
    #[arg(long = "items-file", alias = "items", value_name = "FILE")]
    pub items: Option<PathBuf>,
    /// Bootstrap resamples of the threshold. The default, 400, is below
    /// `isoflop`'s 1000: each resample refits the nonlinear curves of every
    /// task.
    #[arg(long, default_value_t = 400, value_name = "N")]
    pub bootstrap: usize,
    /// Seed of the bootstrap.
    #[arg(long, default_value_t = 0, value_name = "SEED")]
    pub seed: u64,
    /// Print JSON (schema scalelab.emerge/1).
    #[arg(long)]
    pub json: bool,
    /// Two-stage prediction: the sweep's runs table (its `loss` per `run`),
    /// to fit each task's discrete metric against the loss.
    #[arg(long, value_name = "FILE", requires = "fit")]
    pub runs: Option<PathBuf>,
    /// Two-stage prediction: the fitted scaling law (`scalelab fit --out`)
    /// that predicts the loss at the planned scale.
    #[arg(long, value_name = "FILE", requires = "runs")]
    pub fit: Option<PathBuf>,
    /// Two-stage prediction: the planned budget (FLOPs, compute-optimal N and D).
    #[arg(long, value_name = "FLOPS", requires = "fit")]
    pub predict_flops: Option<f64>,
    /// Also write the JSON to this file (for `scalelab report` and `plot ability`).
    #[arg(short = 'o', long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

impl Args {
    /// The library request of these arguments; `--chance` values are
    /// checked here.
    fn request(&self) -> Result<EmergeRequest> {
        let mut chance = Vec::new();
        for c in &self.chance {
            let Some((k, v)) = c.split_once('=') else {
                bail!("--chance {c}: expected TASK=LEVEL");
            };
            let Ok(v) = v.parse::<f64>() else {
                bail!("--chance {c}: '{v}' is not a number");
            };
            chance.push((k.to_string(), v));
        }
        Ok(EmergeRequest {
            table: self.table.clone(),
            scale_col: self.scale_col.clone(),
            task_col: self.task_col.clone(),
            metric_col: self.metric_col.clone(),
            value_col: self.value_col.clone(),
            stderr_col: self.stderr_col.clone(),
            group_by: self.group_by.clone(),
            filters: self.filters.clone(),
            discrete: self.discrete.clone(),
            continuous: self.continuous.clone(),
            answer_length: self.answer_length,
            chance,
            sharp_decades: self.sharp_decades,
            smooth_rmse: self.smooth_rmse,
            max_jump_share: self.max_jump_share,
            items: self.items.clone(),
            bootstrap: self.bootstrap,
            seed: self.seed,
            runs: self.runs.clone(),
            fit: self.fit.clone(),
            predict_flops: self.predict_flops,
            out: self.out.clone(),
        })
    }
}

fn fmt_t(f: &MetricFit) -> String {
    match (f.threshold, f.threshold_ci95) {
        (Some(t), Some([lo, hi])) => format!("{t:.3e} [{lo:.2e}, {hi:.2e}]"),
        (Some(t), None) => format!("{t:.3e}"),
        _ => "–".into(),
    }
}

pub fn run(a: Args) -> Result<()> {
    let report = scalelab::emerge::run(&a.request()?, &Bars::new(a.quiet))?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    print_text(&report, a.predict_flops);
    Ok(())
}

/// The report as a table of tasks, then the two-stage predictions, and a
/// legend on stderr.
fn print_text(report: &EmergeReport, predict_flops: Option<f64>) {
    let res = &report.tasks;
    let tw = res
        .iter()
        .map(|r| r.task.chars().count())
        .max()
        .unwrap_or(0)
        .max(16);
    println!(
        "{:<tw$} {:>6} {:>8} {:>28} {:>7} {:>7} {:>9} {:>7}  verdict",
        "task", "chance", "best", "threshold [95%]", "width", "p@jump", "PL rmse", "p^L gap"
    );
    for r in res {
        let (best, thr, width) = match &r.discrete {
            Some(f) => (
                f.best.clone(),
                fmt_t(f),
                f.width_decades.map_or("–".into(), |w| format!("{w:.2}")),
            ),
            None => ("–".into(), "–".into(), "–".into()),
        };
        println!(
            "{:<tw$} {:>6.2} {:>8} {:>28} {:>7} {:>7} {:>9} {:>7}  {}",
            r.task,
            r.chance,
            best,
            thr,
            width,
            r.continuous_share_at_jump
                .map_or("–".into(), |s| format!("{s:.2}")),
            r.continuous_power_law
                .as_ref()
                .map_or("–".into(), |p| format!("{:.4}", p.rmse_log)),
            r.p_l_gap.map_or("–".into(), |g| format!("{g:.3}")),
            r.verdict_text
        );
    }
    // by task label, as the predictions are keyed
    let two: BTreeMap<&str, &TwoStage> = res
        .iter()
        .filter_map(|r| Some((r.task.as_str(), r.two_stage.as_ref()?)))
        .collect();
    if !two.is_empty() {
        println!();
        println!(
            "two-stage prediction at {:.3e} FLOPs:",
            predict_flops.unwrap_or(f64::NAN)
        );
        for (task, v) in &two {
            println!(
                "  {:<16} loss {:.4} → {} {:.3}{}",
                task,
                v.loss,
                report.discrete_metric,
                v.metric,
                v.metric_ci95
                    .map(|c| format!(" [{:.3}, {:.3}]", c[0], c[1]))
                    .unwrap_or_default()
            );
        }
    }
    eprintln!(
        "{} rows; scale = {}; discrete `{}`, continuous `{}`; width in decades (10% to 90% of the fitted rise); p@jump: share of the per-token probability's change at the jump; PL rmse: power law with offset on the cross-entropy (log scale)",
        report.rows, report.scale, report.discrete_metric, report.continuous_metric
    );
}
