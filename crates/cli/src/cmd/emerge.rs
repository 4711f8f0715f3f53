//! `scalelab emerge`: locate thresholds in discrete metrics across scale and
//! check them with continuous metrics of the same outputs before calling
//! anything emergent.

use anyhow::{bail, Result};
use rand::{Rng, SeedableRng};
use scalelab_core::data::Observations;
use scalelab_core::emergence::{
    continuous_is_smooth, fit_metric, is_sharp, share_of_rise_at_jump, threshold_ci_from_resamples,
    verdict, EmergeOptions, MetricFit, Point, Verdict,
};
use scalelab_core::fit::{fit_law, log_residuals, FitOptions};
use scalelab_core::laws::{PowerLaw, Variable};
use scalelab_tables::{Filter, Table};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;

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
    #[arg(long, default_value = "params")]
    pub scale_col: String,
    #[arg(long, default_value = "task")]
    pub task_col: String,
    #[arg(long, default_value = "metric")]
    pub metric_col: String,
    #[arg(long, default_value = "value")]
    pub value_col: String,
    /// Column of standard errors (optional; absent values count as unknown).
    #[arg(long, default_value = "stderr")]
    pub stderr_col: String,
    /// Analyse each combination of these columns' values separately, within
    /// each task (e.g. `--group-by difficulty` or `--group-by reasoning,difficulty`
    /// on `scalelab eval` tables): thresholds per digit count or depth.
    #[arg(long, value_delimiter = ',', value_name = "COLS")]
    pub group_by: Vec<String>,
    /// Keep only matching rows (repeatable), e.g. `--where 'step == 143000'`.
    #[arg(long = "where", value_name = "EXPR")]
    pub filters: Vec<String>,
    /// The discrete metric.
    #[arg(long, default_value = "acc")]
    pub discrete: String,
    /// The continuous metric of the same outputs: `ppl` (perplexity of the
    /// target) or a cross-entropy in nats (lower is better).
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
    /// the table's `run` column) instead of from standard errors.
    #[arg(long, value_name = "ITEMS.jsonl")]
    pub items: Option<PathBuf>,
    /// Bootstrap resamples of the threshold.
    #[arg(long, default_value_t = 400)]
    pub bootstrap: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Print JSON (schema scalelab.emerge/1).
    #[arg(long)]
    pub json: bool,
    /// Two-stage prediction: the sweep's runs table (its `loss` per `run`),
    /// to fit each task's discrete metric against the loss.
    #[arg(long, value_name = "RUNS.csv", requires = "fit")]
    pub runs: Option<PathBuf>,
    /// Two-stage prediction: the fitted scaling law (`scalelab fit --out`)
    /// that predicts the loss at the planned scale.
    #[arg(long, value_name = "FILE", requires = "runs")]
    pub fit: Option<PathBuf>,
    /// Two-stage prediction: the planned budget (FLOPs, compute-optimal N and D).
    #[arg(long, value_name = "C", requires = "fit")]
    pub predict_flops: Option<f64>,
    /// Also write the JSON to this file (for `scalelab report` and `plot ability`).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// The evaluation table with the `--where` filters applied.
fn read_filtered(a: &Args) -> Result<Table> {
    let t = Table::read(&a.table)?;
    let filters = a
        .filters
        .iter()
        .map(|f| Filter::parse(f).map_err(|e| anyhow::anyhow!("--where '{f}': {e}")))
        .collect::<Result<Vec<_>>>()?;
    Ok(t.filter(&filters)?)
}

/// Item scores of the discrete metric by (run, task, group values), from
/// `items.jsonl`: booleans count 1/0.
type ItemScores = BTreeMap<(String, String, Vec<(String, String)>), Vec<f64>>;

fn read_items(path: &std::path::Path, metric: &str, group_by: &[String]) -> Result<ItemScores> {
    use std::io::BufRead;
    let f = std::fs::File::open(path)
        .map_err(|e| anyhow::anyhow!("--items {}: {e}", path.display()))?;
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    let mut out = ItemScores::new();
    for (i, line) in std::io::BufReader::new(f).lines().enumerate() {
        let line = line.map_err(|e| anyhow::anyhow!("--items {}: {e}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let at = || format!("{}:{}", path.display(), i + 1);
        let v: Value = serde_json::from_str(&line)
            .map_err(|e| anyhow::anyhow!("{}:{}: not JSON: {e}", at(), e.column()))?;
        let score = match &v[metric] {
            Value::Bool(b) => f64::from(u8::from(*b)),
            Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
            _ => bail!("{}: no `{metric}` score in this item", at()),
        };
        let group = group_by
            .iter()
            .map(|g| (g.clone(), text(&v[g.as_str()])))
            .collect();
        out.entry((text(&v["run"]), text(&v["task"]), group))
            .or_default()
            .push(score);
    }
    Ok(out)
}

fn default_chance(task: &str) -> f64 {
    match task {
        "arc_easy" | "arc_challenge" | "sciq" | "logiqa" | "hellaswag" | "mmlu" | "choice" => 0.25,
        "piqa" | "winogrande" | "wsc" | "boolq" | "copa" => 0.5,
        _ => 0.0,
    }
}

/// One task's analysis.
pub struct TaskResult {
    /// The task's label: its name, and its `--group-by` values if any.
    pub task: String,
    /// The task's name alone.
    pub base_task: String,
    /// The `--group-by` columns and their values.
    pub group: Vec<(String, String)>,
    pub discrete: Option<MetricFit>,
    pub discrete_points: Vec<Point>,
    /// The run (model) of each discrete point, when the table has a `run`
    /// column.
    pub discrete_runs: Option<Vec<String>>,
    pub continuous: Option<MetricFit>,
    pub continuous_points: Vec<Point>,
    /// Power law with offset on the cross-entropy: [E, A, alpha] and RMSE of log residuals.
    pub power_law: Option<(Vec<f64>, f64)>,
    /// Mean |exact match − exp(−L·CE)|.
    pub pl_gap: Option<f64>,
    /// What [`continuous_is_smooth`] said of the continuous metric.
    pub continuous_smooth: Option<bool>,
    /// What [`share_of_rise_at_jump`] said of the per-token probability.
    pub share_at_jump: Option<f64>,
    /// How the threshold's interval was found: `items` (resampling each
    /// model's items) or `stderr` (parametric, from standard errors).
    pub ci_method: &'static str,
    pub verdict: Verdict,
    pub chance: f64,
}

pub fn analyse(a: &Args) -> Result<(Vec<TaskResult>, usize)> {
    let t = read_filtered(a)?;
    if t.is_empty() {
        bail!("{}: no rows left after --where", a.table.display());
    }
    let (cs, ct, cm, cv) = (
        t.require_column(&a.scale_col)?,
        t.require_column(&a.task_col)?,
        t.require_column(&a.metric_col)?,
        t.require_column(&a.value_col)?,
    );
    let cse = t.column_index(&a.stderr_col);
    let groups = a
        .group_by
        .iter()
        .map(|g| {
            t.require_column(g)
                .map(|i| (g.as_str(), i))
                .map_err(|e| anyhow::anyhow!("--group-by {g}: {e}"))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut chance: BTreeMap<String, f64> = BTreeMap::new();
    for c in &a.chance {
        let (k, v) = c
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("--chance {c}: expected TASK=LEVEL"))?;
        let v: f64 = v
            .parse()
            .map_err(|_| anyhow::anyhow!("--chance {c}: '{v}' is not a number"))?;
        chance.insert(k.to_string(), v);
    }
    // (task, group) -> points of the discrete and the continuous metric
    type Key = (String, Vec<(String, String)>);
    let mut data: BTreeMap<Key, (Vec<Point>, Vec<Point>)> = BTreeMap::new();
    // the run of each discrete point, for --items
    let run_col = t.column_index("run");
    let mut runs_of: BTreeMap<Key, Vec<String>> = BTreeMap::new();
    for r in 0..t.len() {
        let metric = t.rows[r][cm].display();
        let is_d = metric == a.discrete;
        let is_c = metric == a.continuous;
        if !is_d && !is_c {
            continue;
        }
        let x = t.number_at(r, cs)?;
        let y = t.number_at(r, cv)?;
        let se = cse
            .and_then(|c| t.number_at(r, c).ok())
            .filter(|s| s.is_finite() && *s > 0.0);
        let group = groups
            .iter()
            .map(|(name, i)| (name.to_string(), t.rows[r][*i].display()))
            .collect();
        let key = (t.rows[r][ct].display(), group);
        if is_d {
            let run = run_col.map(|c| t.rows[r][c].display()).unwrap_or_default();
            runs_of.entry(key.clone()).or_default().push(run);
        }
        let e = data.entry(key).or_default();
        if is_d {
            e.0.push(Point { x, y, se });
        } else {
            e.1.push(Point { x, y, se });
        }
    }
    let items = match &a.items {
        Some(p) => {
            if run_col.is_none() {
                bail!(
                    "--items needs a `run` column in {} to match items to models (scalelab eval writes it)",
                    a.table.display()
                );
            }
            Some(read_items(p, &a.discrete, &a.group_by)?)
        }
        None => None,
    };
    if data.is_empty() {
        bail!(
            "{}: no rows with metric `{}` or `{}` in column `{}`",
            a.table.display(),
            a.discrete,
            a.continuous,
            a.metric_col
        );
    }
    let mut out = Vec::new();
    for ((task, group), (d, c)) in data {
        let runs = run_col.map(|_| {
            runs_of
                .remove(&(task.clone(), group.clone()))
                .unwrap_or_default()
        });
        let ch = chance
            .get(&task)
            .copied()
            .unwrap_or_else(|| default_chance(&task));
        let d_opts = EmergeOptions {
            chance: ch,
            ceiling: 1.0,
            sharp_decades: a.sharp_decades,
            bootstrap: a.bootstrap,
            seed: a.seed,
        };
        let c_opts = EmergeOptions {
            chance: 0.0,
            ..d_opts
        };
        let mut df = fit_metric(&d, &d_opts);
        let mut ci_method = "stderr";
        if let (Some(items), Some(f)) = (&items, df.as_mut()) {
            // each model's item scores, in the order of the points
            let per_point: Option<Vec<&Vec<f64>>> = runs
                .iter()
                .flatten()
                .map(|r| items.get(&(r.clone(), task.clone(), group.clone())))
                .collect();
            if let Some(per_point) = per_point.filter(|v| v.iter().all(|s| !s.is_empty())) {
                let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(a.seed ^ 0x17e5);
                let samples: Vec<Vec<f64>> = (0..a.bootstrap)
                    .map(|_| {
                        per_point
                            .iter()
                            .map(|v| {
                                (0..v.len())
                                    .map(|_| v[rng.gen_range(0..v.len())])
                                    .sum::<f64>()
                                    / v.len() as f64
                            })
                            .collect()
                    })
                    .collect();
                if let Some(ci) = threshold_ci_from_resamples(f, &d_opts, &d, &samples) {
                    f.threshold_ci95 = Some(ci);
                    ci_method = "items";
                }
            }
        }
        // continuous: cross-entropy per target (ln ppl for perplexities)
        let ce: Vec<Point> = c
            .iter()
            .filter(|p| p.y > 0.0)
            .map(|p| {
                if a.continuous == "ppl" {
                    Point {
                        x: p.x,
                        y: p.y.ln(),
                        se: p.se.map(|s| s / p.y),
                    }
                } else {
                    *p
                }
            })
            .collect();
        let prob: Vec<Point> = ce
            .iter()
            .map(|p| Point {
                x: p.x,
                y: (-p.y).exp(),
                se: p.se.map(|s| s * (-p.y).exp()),
            })
            .collect();
        let cf = fit_metric(&prob, &c_opts);
        let power_law = (ce.len() >= 3)
            .then(|| {
                let obs = Observations::new(
                    ce.iter().map(|p| p.x).collect(),
                    vec![f64::NAN; ce.len()],
                    vec![f64::NAN; ce.len()],
                    ce.iter().map(|p| p.y).collect(),
                )
                .ok()?;
                let law = PowerLaw::new(Variable::N);
                let r = fit_law(&law, &obs, &FitOptions::default()).ok()?;
                let res = log_residuals(&law, &r.params, &obs);
                let rmse = (res.iter().map(|x| x * x).sum::<f64>() / res.len() as f64).sqrt();
                Some((r.params, rmse))
            })
            .flatten();
        let pl_gap = {
            let pairs: Vec<f64> = d
                .iter()
                .filter_map(|p| {
                    ce.iter()
                        .find(|q| (q.x / p.x - 1.0).abs() < 1e-9)
                        .map(|q| (p.y - (-a.answer_length * q.y).exp()).abs())
                })
                .collect();
            (!pairs.is_empty()).then(|| pairs.iter().sum::<f64>() / pairs.len() as f64)
        };
        let share = df.as_ref().and_then(|f| share_of_rise_at_jump(f, &prob));
        let c_smooth = continuous_is_smooth(
            power_law.as_ref().map(|(_, rmse)| *rmse),
            a.smooth_rmse,
            share,
            a.max_jump_share,
        );
        let c_moves = cf
            .as_ref()
            .is_some_and(|f| f.best != "flat" && f.change_z > 2.0);
        let v = match &df {
            Some(f) => verdict(f, &d_opts, c_smooth, c_moves),
            None => Verdict::NoImprovement,
        };
        let label = if group.is_empty() {
            task.clone()
        } else {
            let g: Vec<String> = group.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!("{task} [{}]", g.join(","))
        };
        out.push(TaskResult {
            task: label,
            base_task: task,
            group,
            discrete: df,
            discrete_points: d,
            discrete_runs: runs,
            continuous: cf,
            continuous_points: ce,
            power_law,
            pl_gap,
            verdict: v,
            chance: ch,
            continuous_smooth: c_smooth,
            share_at_jump: share,
            ci_method,
        });
    }
    Ok((out, t.len()))
}

fn fmt_t(f: &MetricFit) -> String {
    match (f.threshold, f.threshold_ci95) {
        (Some(t), Some([lo, hi])) => format!("{t:.3e} [{lo:.2e}, {hi:.2e}]"),
        (Some(t), None) => format!("{t:.3e}"),
        _ => "–".into(),
    }
}

pub fn run(a: Args) -> Result<()> {
    let (res, rows) = analyse(&a)?;
    let two = two_stage(&a, &res)?;
    let tasks: Vec<Value> = res
        .iter()
        .map(|r| {
            json!({
                "two_stage": two.get(&r.task),
                "task": r.task,
                "task_name": r.base_task,
                "group": r.group.iter().cloned().collect::<BTreeMap<String, String>>(),
                "chance": r.chance,
                "verdict": r.verdict,
                "verdict_text": r.verdict.describe(),
                "discrete": r.discrete,
                "discrete_sharp": r.discrete.as_ref().map(|f| is_sharp(f, &EmergeOptions { sharp_decades: a.sharp_decades, ..Default::default() })),
                "continuous": r.continuous,
                "continuous_smooth": r.continuous_smooth,
                "continuous_share_at_jump": r.share_at_jump,
                "threshold_ci_method": r.ci_method,
                "continuous_power_law": r.power_law.as_ref().map(|(p, rmse)| json!({"E": p[0], "A": p[1], "alpha": p[2], "rmse_log": rmse})),
                "p_l_gap": r.pl_gap,
                "points": r.discrete_points,
                "continuous_points": r.continuous_points,
            })
        })
        .collect();
    let value = json!({
        "schema": "scalelab.emerge/1",
        "table": a.table.display().to_string(),
        "rows": rows,
        "scale": a.scale_col,
        "where": a.filters,
        "discrete_metric": a.discrete,
        "continuous_metric": a.continuous,
        "sharp_decades": a.sharp_decades,
        "tasks": tasks,
    });
    if let Some(out) = &a.out {
        scalelab_tables::write_atomic(out, serde_json::to_string_pretty(&value)?.as_bytes())
            .map_err(|e| anyhow::anyhow!("--out {}: {e}", out.display()))?;
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
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
    for r in &res {
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
            r.share_at_jump.map_or("–".into(), |s| format!("{s:.2}")),
            r.power_law
                .as_ref()
                .map_or("–".into(), |p| format!("{:.4}", p.1)),
            r.pl_gap.map_or("–".into(), |g| format!("{g:.3}")),
            r.verdict.describe()
        );
    }
    if !two.is_empty() {
        println!();
        println!(
            "two-stage prediction at {:.3e} FLOPs:",
            a.predict_flops.unwrap_or(f64::NAN)
        );
        for (task, v) in &two {
            println!(
                "  {:<16} loss {:.4} → {} {:.3}{}",
                task,
                v["loss"].as_f64().unwrap_or(f64::NAN),
                a.discrete,
                v["metric"].as_f64().unwrap_or(f64::NAN),
                v["metric_ci95"]
                    .as_array()
                    .map(|c| format!(
                        " [{:.3}, {:.3}]",
                        c[0].as_f64().unwrap_or(f64::NAN),
                        c[1].as_f64().unwrap_or(f64::NAN)
                    ))
                    .unwrap_or_default()
            );
        }
    }
    eprintln!(
        "{} rows; scale = {}; discrete `{}`, continuous `{}`; width in decades (10% to 90% of the fitted rise); p@jump: share of the per-token probability's change at the jump; PL rmse: power law with offset on the cross-entropy (log scale)",
        rows, a.scale_col, a.discrete, a.continuous
    );
    Ok(())
}

/// Two-stage predictions by task: the discrete metric fitted against the
/// runs' loss, evaluated at the loss the scaling law predicts for the
/// planned budget (interval from the law's bootstrap draws and refits).
fn two_stage(a: &Args, res: &[TaskResult]) -> Result<BTreeMap<String, Value>> {
    let mut out = BTreeMap::new();
    let (Some(runs), Some(fitp)) = (&a.runs, &a.fit) else {
        return Ok(out);
    };
    let c = a
        .predict_flops
        .ok_or_else(|| anyhow::anyhow!("--runs and --fit need --predict-flops C"))?;
    if !(c > 0.0 && c.is_finite()) {
        bail!("--predict-flops must be a positive number of FLOPs, got {c}");
    }
    let fit = super::plan::read_fit(fitp)?;
    let at = scalelab_core::plan::optimum(
        fit.law.as_ref(),
        &fit.params,
        c,
        &scalelab_core::plan::six_n,
        Some(6.0),
    )
    .map_err(|e| anyhow::anyhow!("--fit {}: {e}", fitp.display()))?;
    let draws: Vec<f64> = fit
        .draws
        .iter()
        .filter_map(|d| {
            scalelab_core::plan::optimum(
                fit.law.as_ref(),
                d,
                c,
                &scalelab_core::plan::six_n,
                Some(6.0),
            )
            .ok()
            .map(|x| x.loss)
        })
        .collect();
    // loss per run, from the runs table
    let rt = Table::read(runs)?;
    let (rc, lc) = (rt.require_column("run")?, rt.require_column("loss")?);
    let mut loss: BTreeMap<String, f64> = BTreeMap::new();
    for r in 0..rt.len() {
        if let Ok(l) = rt.number_at(r, lc) {
            loss.insert(rt.rows[r][rc].display(), l);
        }
    }
    for r in res {
        let Some(runs) = &r.discrete_runs else {
            bail!(
                "{}: two-stage prediction needs a `run` column (scalelab eval writes it)",
                a.table.display()
            );
        };
        let pairs: Vec<(f64, Point)> = r
            .discrete_points
            .iter()
            .zip(runs)
            .filter_map(|(p, run)| {
                let l = *loss.get(run)?;
                Some((l, Point { x: 0.0, ..*p }))
            })
            .collect();
        if pairs.len() < 3 {
            continue;
        }
        let opts = EmergeOptions {
            chance: r.chance,
            ceiling: 1.0,
            sharp_decades: a.sharp_decades,
            bootstrap: a.bootstrap.min(400),
            seed: a.seed,
        };
        if let Some((m, ci, f)) =
            scalelab_core::emergence::two_stage(&pairs, &opts, at.loss, &draws)
        {
            out.insert(
                r.task.clone(),
                json!({
                    "flops": c, "n": at.n, "d": at.d, "loss": at.loss,
                    "loss_ci95": scalelab_core::plan::percentile_ci95(&draws),
                    "metric": m, "metric_ci95": ci, "curve": f.best, "runs": pairs.len(),
                }),
            );
        }
    }
    Ok(out)
}
