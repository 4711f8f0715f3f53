//! Abilities across scale: locate thresholds in discrete metrics and check
//! them with continuous metrics of the same outputs before calling anything
//! emergent; optionally predict a task's metric at a planned budget in two
//! stages (metric against loss, loss from the scaling law).
//!
//! [`run`] takes an [`EmergeRequest`] and returns an [`EmergeReport`], whose
//! serialisation is the `scalelab.emerge/1` JSON.

use crate::{Error, Progress, Result, Task};
use rand::{Rng, SeedableRng};
use scalelab_core::bootstrap::interval_over;
use scalelab_core::data::Observations;
use scalelab_core::emergence::{
    continuous_is_smooth, fit_metric, is_sharp, share_of_rise_at_jump, threshold_ci_from_resamples,
    verdict, EmergeOptions,
};
use scalelab_core::fit::{fit_law, log_residuals, FitOptions};
use scalelab_core::laws::{PowerLaw, Variable};
use scalelab_tables::{Filter, Table, TableError};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The types the report is made of.
pub use scalelab_core::emergence::{Candidate, MetricFit, Point, Verdict};

/// The `schema` of an emergence report.
pub const SCHEMA: &str = "scalelab.emerge/1";

/// What to analyse, and how.
#[derive(Clone, Debug, PartialEq)]
pub struct EmergeRequest {
    /// The evaluation table (CSV, JSONL or Parquet), long: one row per
    /// (model, task, metric).
    pub table: PathBuf,
    /// Columns of the scale, task, metric name, value and standard error
    /// (the last optional: absent values count as unknown).
    pub scale_col: String,
    pub task_col: String,
    pub metric_col: String,
    pub value_col: String,
    pub stderr_col: String,
    /// Analyse each combination of these columns' values separately,
    /// within each task.
    pub group_by: Vec<String>,
    /// `--where` expressions; a row must match all of them.
    pub filters: Vec<String>,
    /// The discrete metric, and the continuous metric of the same outputs
    /// (`ppl`, or a cross-entropy in nats).
    pub discrete: String,
    pub continuous: String,
    /// Answer length L in targets for the p^L check.
    pub answer_length: f64,
    /// Chance levels by task (defaults for common tasks are built in;
    /// others 0).
    pub chance: Vec<(String, f64)>,
    /// A rise (10% to 90%) within this many decades is sharp.
    pub sharp_decades: f64,
    /// The continuous metric is smooth when a power law with offset fits
    /// its cross-entropy within this RMSE (log scale) ...
    pub smooth_rmse: f64,
    /// ... or when at most this share of its per-token probability's
    /// change happens where the discrete metric jumps.
    pub max_jump_share: f64,
    /// Per-item results (`items.jsonl` of `scalelab eval`): the
    /// threshold's interval then comes from resampling each model's items.
    pub items: Option<PathBuf>,
    /// Bootstrap resamples of the threshold.
    pub bootstrap: usize,
    pub seed: u64,
    /// Two-stage prediction: the sweep's runs table (`loss` per `run`),
    /// the fitted law and the planned budget in FLOPs (all three or none).
    pub runs: Option<PathBuf>,
    pub fit: Option<PathBuf>,
    pub predict_flops: Option<f64>,
    /// Also write the report's JSON to this file.
    pub out: Option<PathBuf>,
}

impl EmergeRequest {
    /// A request with the CLI's defaults for the table at `table`.
    pub fn new(table: impl Into<PathBuf>) -> Self {
        EmergeRequest {
            table: table.into(),
            scale_col: "params".into(),
            task_col: "task".into(),
            metric_col: "metric".into(),
            value_col: "value".into(),
            stderr_col: "stderr".into(),
            group_by: Vec::new(),
            filters: Vec::new(),
            discrete: "acc".into(),
            continuous: "ppl".into(),
            answer_length: 1.0,
            chance: Vec::new(),
            sharp_decades: 1.5,
            smooth_rmse: 0.05,
            max_jump_share: 0.5,
            items: None,
            bootstrap: 400,
            seed: 0,
            runs: None,
            fit: None,
            predict_flops: None,
            out: None,
        }
    }
}

/// A task's metric predicted at a planned budget.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TwoStage {
    /// The budget, and the law's compute-optimal N, D and loss there.
    pub flops: f64,
    pub n: f64,
    pub d: f64,
    pub loss: f64,
    /// From the law's bootstrap draws.
    pub loss_ci95: Option<[f64; 2]>,
    /// The discrete metric at that loss, and its interval.
    pub metric: f64,
    pub metric_ci95: Option<[f64; 2]>,
    /// The curve of metric against loss.
    pub curve: String,
    /// Runs the curve was fitted to.
    pub runs: usize,
}

/// The power law with offset fitted to the continuous metric's
/// cross-entropy, CE = E + A·x^-alpha.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ContinuousPowerLaw {
    #[serde(rename = "E")]
    pub e: f64,
    #[serde(rename = "A")]
    pub a: f64,
    pub alpha: f64,
    /// RMSE of the log residuals.
    pub rmse_log: f64,
}

/// One task's (or task and group's) analysis.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskReport {
    pub two_stage: Option<TwoStage>,
    /// The task's label: its name, and its group values if any.
    pub task: String,
    pub task_name: String,
    pub group: BTreeMap<String, String>,
    pub chance: f64,
    pub verdict: Verdict,
    pub verdict_text: String,
    pub discrete: Option<MetricFit>,
    pub discrete_sharp: Option<bool>,
    pub continuous: Option<MetricFit>,
    pub continuous_smooth: Option<bool>,
    pub continuous_share_at_jump: Option<f64>,
    /// `items` (resampling each model's items) or `stderr` (parametric).
    pub threshold_ci_method: String,
    pub continuous_power_law: Option<ContinuousPowerLaw>,
    /// Mean |exact match − exp(−L·CE)|.
    pub p_l_gap: Option<f64>,
    /// The discrete metric's points, and the continuous metric's (as
    /// cross-entropy).
    pub points: Vec<Point>,
    pub continuous_points: Vec<Point>,
}

/// The `scalelab.emerge/1` report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EmergeReport {
    pub schema: String,
    pub table: String,
    /// Rows of the table after the filters.
    pub rows: usize,
    pub scale: String,
    #[serde(rename = "where")]
    pub filters: Vec<String>,
    pub discrete_metric: String,
    pub continuous_metric: String,
    pub sharp_decades: f64,
    pub tasks: Vec<TaskReport>,
}

/// Analyses every task (and group), adds the two-stage predictions if
/// asked, and writes the report to `out` if given.
pub fn run(req: &EmergeRequest, progress: &dyn Progress) -> Result<EmergeReport> {
    check_two_stage_request(req)?;
    let (res, rows) = analyse(req, progress)?;
    let two = two_stage(req, &res)?;
    let sharp = EmergeOptions {
        sharp_decades: req.sharp_decades,
        ..Default::default()
    };
    let tasks = res
        .into_iter()
        .map(|r| TaskReport {
            two_stage: two.get(&r.task).cloned(),
            discrete_sharp: r.discrete.as_ref().map(|f| is_sharp(f, &sharp)),
            group: r.group.into_iter().collect(),
            chance: r.chance,
            verdict: r.verdict,
            verdict_text: r.verdict.describe().to_string(),
            discrete: r.discrete,
            continuous: r.continuous,
            continuous_smooth: r.continuous_smooth,
            continuous_share_at_jump: r.share_at_jump,
            threshold_ci_method: r.ci_method.to_string(),
            continuous_power_law: r.power_law.map(|(p, rmse)| ContinuousPowerLaw {
                e: p[0],
                a: p[1],
                alpha: p[2],
                rmse_log: rmse,
            }),
            p_l_gap: r.pl_gap,
            points: r.discrete_points,
            continuous_points: r.continuous_points,
            task: r.task,
            task_name: r.base_task,
        })
        .collect();
    let report = EmergeReport {
        schema: SCHEMA.into(),
        table: req.table.display().to_string(),
        rows,
        scale: req.scale_col.clone(),
        filters: req.filters.clone(),
        discrete_metric: req.discrete.clone(),
        continuous_metric: req.continuous.clone(),
        sharp_decades: req.sharp_decades,
        tasks,
    };
    if let Some(out) = &req.out {
        let text = serde_json::to_string_pretty(&report)
            .map_err(|e| Error::failed(format!("cannot serialise the report: {e}")))?;
        crate::error::write_file("--out", out, text.as_bytes())?;
    }
    Ok(report)
}

/// The two-stage fields come together: runs and fit (and a budget).
fn check_two_stage_request(req: &EmergeRequest) -> Result<()> {
    match (&req.runs, &req.fit) {
        (Some(_), None) => Err(Error::flag(
            "--runs",
            "--runs needs --fit (the scaling law that predicts the loss)",
        )),
        (None, Some(_)) => Err(Error::flag(
            "--fit",
            "--fit needs --runs (the sweep's runs table with each run's loss)",
        )),
        (None, None) if req.predict_flops.is_some() => Err(Error::flag(
            "--predict-flops",
            "--predict-flops needs --runs and --fit",
        )),
        _ => Ok(()),
    }
}

/// The evaluation table with the `--where` filters applied.
fn read_filtered(a: &EmergeRequest) -> Result<Table> {
    let t = Table::read(&a.table)?;
    let filters = a
        .filters
        .iter()
        .map(|f| {
            Filter::parse(f).map_err(|e| Error::flag("--where", format!("--where '{f}': {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(t.filter(&filters)?)
}

/// Item scores of the discrete metric by (run, task, group values), from
/// `items.jsonl`: booleans count 1/0.
type ItemScores = BTreeMap<(String, String, Vec<(String, String)>), Vec<f64>>;

fn read_items(path: &Path, metric: &str, group_by: &[String]) -> Result<ItemScores> {
    use std::io::BufRead;
    let f = std::fs::File::open(path).map_err(|e| Error::io("--items-file", path, e))?;
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    let mut out = ItemScores::new();
    for (i, line) in std::io::BufReader::new(f).lines().enumerate() {
        let line = line.map_err(|e| Error::io("--items-file", path, e))?;
        if line.trim().is_empty() {
            continue;
        }
        let at = || format!("{}:{}", path.display(), i + 1);
        let v: Value = serde_json::from_str(&line).map_err(|e| {
            Error::input(
                path,
                Some(i + 1),
                format!("{}:{}: not JSON: {e}", at(), e.column()),
            )
        })?;
        let score = match &v[metric] {
            Value::Bool(b) => f64::from(u8::from(*b)),
            Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
            _ => {
                return Err(Error::input(
                    path,
                    Some(i + 1),
                    format!("{}: no `{metric}` score in this item", at()),
                ))
            }
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
struct TaskResult {
    /// The task's label: its name, and its `--group-by` values if any.
    task: String,
    /// The task's name alone.
    base_task: String,
    /// The `--group-by` columns and their values.
    group: Vec<(String, String)>,
    discrete: Option<MetricFit>,
    discrete_points: Vec<Point>,
    /// The run (model) of each discrete point, when the table has a `run`
    /// column.
    discrete_runs: Option<Vec<String>>,
    continuous: Option<MetricFit>,
    continuous_points: Vec<Point>,
    /// Power law with offset on the cross-entropy: [E, A, alpha] and RMSE of log residuals.
    power_law: Option<(Vec<f64>, f64)>,
    /// Mean |exact match − exp(−L·CE)|.
    pl_gap: Option<f64>,
    /// What [`continuous_is_smooth`] said of the continuous metric.
    continuous_smooth: Option<bool>,
    /// What [`share_of_rise_at_jump`] said of the per-token probability.
    share_at_jump: Option<f64>,
    /// How the threshold's interval was found: `items` (resampling each
    /// model's items) or `stderr` (parametric, from standard errors).
    ci_method: &'static str,
    verdict: Verdict,
    chance: f64,
}

/// `--continuous none`: analyse the discrete metric without the continuous
/// check.
pub const NO_CONTINUOUS: &str = "none";

/// The discrete metric must occur in the metric column (after `--where`),
/// and so must the continuous one, unless it is `none` or the table holds no
/// metric but the discrete one; otherwise a misspelt name would give verdicts
/// from no points. The error lists the metrics there are.
fn check_metrics_exist(a: &EmergeRequest, t: &Table, cm: usize) -> Result<()> {
    let names: std::collections::BTreeSet<String> =
        (0..t.len()).map(|r| t.rows[r][cm].display()).collect();
    let listed = || {
        names
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let missing = |flag: &str, name: &str, hint: &str| {
        Error::flag(
            flag,
            format!(
                "{flag} {name}: no rows with metric `{name}` in column `{}` of {}{}; the metrics there are {}{hint}",
                a.metric_col,
                a.table.display(),
                if a.filters.is_empty() { "" } else { " (after --where)" },
                listed()
            ),
        )
    };
    if !names.contains(&a.discrete) {
        // neither name: the old message, which says both
        if !names.contains(&a.continuous) {
            return Err(Error::input(
                &a.table,
                None,
                format!(
                    "{}: no rows with metric `{}` or `{}` in column `{}`; the metrics there are {}",
                    a.table.display(),
                    a.discrete,
                    a.continuous,
                    a.metric_col,
                    listed()
                ),
            ));
        }
        return Err(missing("--discrete", &a.discrete, ""));
    }
    let only_discrete = names.len() == 1;
    if a.continuous != NO_CONTINUOUS && !names.contains(&a.continuous) && !only_discrete {
        return Err(missing(
            "--continuous",
            &a.continuous,
            " (--continuous none analyses without the continuous check)",
        ));
    }
    Ok(())
}

fn analyse(a: &EmergeRequest, progress: &dyn Progress) -> Result<(Vec<TaskResult>, usize)> {
    let t = read_filtered(a)?;
    if t.is_empty() {
        return Err(Error::input(
            &a.table,
            None,
            format!("{}: no rows left after --where", a.table.display()),
        ));
    }
    let cs = t.require_column(&a.scale_col).map_err(|mut e| {
        e.message = format!("--scale-col {}: {}", a.scale_col, e.message);
        e
    })?;
    let (ct, cm, cv) = (
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
                .map_err(|e| Error::flag("--group-by", format!("--group-by {g}: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    check_metrics_exist(a, &t, cm)?;
    let no_continuous = a.continuous == NO_CONTINUOUS;
    let chance: BTreeMap<String, f64> = a.chance.iter().cloned().collect();
    // (task, group) -> points of the discrete and the continuous metric
    type Key = (String, Vec<(String, String)>);
    let mut data: BTreeMap<Key, (Vec<Point>, Vec<Point>)> = BTreeMap::new();
    // the run of each discrete point, for --items
    let run_col = t.column_index("run");
    let mut runs_of: BTreeMap<Key, Vec<String>> = BTreeMap::new();
    for r in 0..t.len() {
        let metric = t.rows[r][cm].display();
        let is_d = metric == a.discrete;
        let is_c = !no_continuous && metric == a.continuous;
        if !is_d && !is_c {
            continue;
        }
        let x = t.number_at(r, cs)?;
        if !(x.is_finite() && x > 0.0) {
            return Err(TableError::at(
                t.location(r, cs),
                format!(
                    "the scale (--scale-col {}) must be positive, not {x}",
                    a.scale_col
                ),
            )
            .into());
        }
        let y = t.number_at(r, cv)?;
        if is_d && !(0.0..=1.0).contains(&y) {
            return Err(TableError::at(
                t.location(r, cv),
                format!(
                    "the discrete metric `{metric}` must lie in [0, 1] (a fraction, not a percentage), not {y}"
                ),
            )
            .into());
        }
        let se = match cse.map(|c| (c, t.number_at(r, c))) {
            Some((c, Ok(s))) if s < 0.0 => {
                return Err(TableError::at(
                    t.location(r, c),
                    format!("a standard error must not be negative, not {s}"),
                )
                .into())
            }
            Some((_, Ok(s))) => Some(s),
            _ => None,
        }
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
                return Err(Error::flag(
                    "--items-file",
                    format!(
                        "--items-file needs a `run` column in {} to match items to models (scalelab eval writes it)",
                        a.table.display()
                    ),
                ));
            }
            Some(read_items(p, &a.discrete, &a.group_by)?)
        }
        None => None,
    };
    if data.is_empty() {
        return Err(Error::input(
            &a.table,
            None,
            format!(
                "{}: no rows with metric `{}` or `{}` in column `{}`",
                a.table.display(),
                a.discrete,
                a.continuous,
                a.metric_col
            ),
        ));
    }
    let task_progress = Task::begin(progress, "emerge", Some(data.len() as u64), "tasks");
    let mut out = Vec::new();
    for ((task, group), (d, c)) in data {
        // the bar says which task is being fitted (its bootstrap can take seconds)
        task_progress.message(&task);
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
        task_progress.inc(1);
    }
    Ok((out, t.len()))
}

/// Two-stage predictions by task: the discrete metric fitted against the
/// runs' loss, evaluated at the loss the scaling law predicts for the
/// planned budget (interval from the law's bootstrap draws and refits).
fn two_stage(a: &EmergeRequest, res: &[TaskResult]) -> Result<BTreeMap<String, TwoStage>> {
    let mut out = BTreeMap::new();
    let (Some(runs), Some(fitp)) = (&a.runs, &a.fit) else {
        return Ok(out);
    };
    let c = a
        .predict_flops
        .ok_or_else(|| Error::flag("--predict-flops", "--runs and --fit need --predict-flops C"))?;
    if !(c > 0.0 && c.is_finite()) {
        return Err(Error::flag(
            "--predict-flops",
            format!("--predict-flops must be a positive number of FLOPs, got {c}"),
        ));
    }
    let fit =
        scalelab_tables::fitfile::read_fit(fitp).map_err(|e| Error::input(fitp, None, e.0))?;
    let optimum = |p: &[f64]| {
        scalelab_core::plan::optimum(
            fit.law.as_ref(),
            p,
            c,
            &scalelab_core::plan::six_n,
            Some(6.0),
        )
    };
    let at = optimum(&fit.params)
        .map_err(|e| Error::input(fitp, None, format!("--fit {}: {e}", fitp.display())))?;
    let loss_at = |d: &Vec<f64>| optimum(d).ok().map(|x| x.loss);
    let draws: Vec<f64> = fit.draws.iter().filter_map(loss_at).collect();
    let loss_ci95 = interval_over(&fit.draws, loss_at);
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
            return Err(Error::input(
                &a.table,
                None,
                format!(
                    "{}: two-stage prediction needs a `run` column (scalelab eval writes it)",
                    a.table.display()
                ),
            ));
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
                TwoStage {
                    flops: c,
                    n: at.n,
                    d: at.d,
                    loss: at.loss,
                    loss_ci95,
                    metric: m,
                    metric_ci95: ci,
                    curve: f.best,
                    runs: pairs.len(),
                },
            );
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Exact match of a 12-token answer, p^12 with p = exp(-CE) and CE a
    /// smooth power law: a metric artefact.
    fn artefact(dir: &Path) -> PathBuf {
        let mut csv = String::from("params,task,metric,value,stderr\n");
        for i in 0..14 {
            let n = 10f64.powf(5.5 + 0.25 * i as f64);
            let ce = 0.01 + 3e6 / n;
            let em = (-ce).exp().powi(12);
            csv.push_str(&format!("{n},add5,acc,{em},0.01\n{n},add5,ce,{ce},0.002\n"));
        }
        let p = dir.join("evals.csv");
        std::fs::write(&p, csv).unwrap();
        p
    }

    #[test]
    fn a_metric_artefact_is_named_and_the_report_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let mut req = EmergeRequest::new(artefact(dir.path()));
        req.continuous = "ce".into();
        req.answer_length = 12.0;
        req.bootstrap = 20;
        req.out = Some(dir.path().join("emerge.json"));
        let r = run(&req, &crate::Silent).unwrap();
        assert_eq!(r.tasks.len(), 1);
        assert_eq!(r.tasks[0].verdict, Verdict::MetricArtefact);
        let text = std::fs::read_to_string(dir.path().join("emerge.json")).unwrap();
        let back: EmergeReport = serde_json::from_str(&text).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn two_stage_fields_come_together() {
        let mut req = EmergeRequest::new("evals.csv");
        req.runs = Some("runs.csv".into());
        let e = run(&req, &crate::Silent).unwrap_err();
        assert!(
            matches!(e, Error::Flag { ref flag, .. } if flag == "--runs"),
            "{e}"
        );
    }
}
