//! Hyperparameter scaling laws from a run table: per compute budget the
//! near-optimal runs (loss within `tol` of the best), a smooth fit of loss
//! against ln lr and its vertex η_opt, then η_opt(C) = a·C^b (and B_opt(C)
//! when the batch varies) with bootstrap intervals; optionally the held-out
//! check at the largest budget. The report (`scalelab.hparams/1`) carries an
//! `lr_rule` that a sweep file's `[schedule] lr_rule` takes as it is.
//!
//! [`run`] reads the table, analyses it and writes the report when asked;
//! [`load`] (or [`load_from_table`], for a table already in memory) and
//! [`analyse`] are its halves.

use crate::runs::{filter_table, load_table, KeptTable};
use crate::{Error, Result, Warning, WarningKind};
use scalelab_core::hparams::{self as core, HpRun, HparamsOptions, OptimumKind};
use scalelab_tables::Table;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The schema tag of the report.
pub const SCHEMA: &str = "scalelab.hparams/1";

/// What to analyse.
#[derive(Clone, Debug, PartialEq)]
pub struct HparamsRequest {
    /// A run table (a sweep's runs.csv, or a sweep directory).
    pub table: PathBuf,
    /// `--where` filters.
    pub filters: Vec<String>,
    pub loss_col: String,
    pub lr_col: String,
    /// The batch column (default: `batch` when the table has one).
    pub batch_col: Option<String>,
    /// The budget column (default: `flops_budget` when the table has it
    /// filled, else `flops`).
    pub budget_col: Option<String>,
    pub tol: f64,
    /// Learning rates nearest the best run the quadratic goes through
    /// (`--fit-points`).
    pub window: usize,
    pub bootstrap: usize,
    pub seed: u64,
    /// Fit on every budget but the largest and check the prediction there.
    pub holdout_largest: bool,
    /// Where to write the report as JSON.
    pub out: Option<PathBuf>,
}

impl HparamsRequest {
    /// The CLI's defaults.
    pub fn new(table: impl Into<PathBuf>) -> Self {
        HparamsRequest {
            table: table.into(),
            filters: Vec::new(),
            loss_col: "loss".into(),
            lr_col: "lr".into(),
            batch_col: None,
            budget_col: None,
            tol: 0.01,
            window: 5,
            bootstrap: 1000,
            seed: 0,
            holdout_largest: false,
            out: None,
        }
    }
}

/// One run of a budget.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub lr: f64,
    pub batch: Option<f64>,
    pub loss: f64,
}

/// A smooth fit: `loss = coef[0] + coef[1]·x + coef[2]·x²`, `x = ln(value)`,
/// through the points whose values lie in `range`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Curve {
    pub coef: [f64; 3],
    pub range: [f64; 2],
}

impl Curve {
    pub fn loss_at(&self, v: f64) -> f64 {
        let x = v.ln();
        self.coef[0] + self.coef[1] * x + self.coef[2] * x * x
    }
}

/// One budget's analysis.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BudgetReport {
    pub flops: f64,
    /// Every run of the budget.
    pub points: Vec<Point>,
    pub best: Point,
    /// (1 + tol)·best loss: the near-optimal threshold.
    pub threshold: f64,
    /// The near-optimal runs, loss ascending.
    pub near_optimal: Vec<Point>,
    /// Lowest and highest lr among the near-optimal runs.
    pub lr_band: [f64; 2],
    pub batch_band: Option<[f64; 2]>,
    /// The vertex of the smooth fit (see `lr_opt_kind`).
    pub lr_opt: f64,
    /// `vertex`, `edge` (outside the fitted points: clamped, the grid does
    /// not bracket the optimum), `not_convex` or `best_run`.
    pub lr_opt_kind: String,
    pub lr_curve: Option<Curve>,
    pub batch_opt: Option<f64>,
    pub batch_opt_kind: Option<String>,
}

/// A power law `y = coef·C^exponent` with 95% bootstrap intervals; `at_ref`
/// is its value at `ref_flops` (the budgets' geometric mean).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Law {
    pub coef: f64,
    pub exponent: f64,
    pub ref_flops: f64,
    pub at_ref: f64,
    pub rms_log: f64,
    pub coef_ci95: Option<[f64; 2]>,
    pub exponent_ci95: Option<[f64; 2]>,
    pub at_ref_ci95: Option<[f64; 2]>,
}

impl Law {
    pub fn at(&self, flops: f64) -> f64 {
        self.coef * flops.powf(self.exponent)
    }

    fn of(l: &core::PowerLaw) -> Law {
        Law {
            coef: l.coef,
            exponent: l.exponent,
            ref_flops: l.ref_flops,
            at_ref: l.at_ref,
            rms_log: l.rms_log,
            coef_ci95: l.coef_ci95,
            exponent_ci95: l.exponent_ci95,
            at_ref_ci95: l.at_ref_ci95,
        }
    }
}

/// The learning-rate law as a sweep's `[schedule] lr_rule`:
/// `lr = base·(C/ref_flops)^exponent`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LrRuleOut {
    pub base: f64,
    pub ref_flops: f64,
    pub exponent: f64,
}

/// The held-out check at the largest budget.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Holdout {
    pub flops: f64,
    /// The budgets the law was fitted on.
    pub fitted_on: Vec<f64>,
    pub law: Law,
    pub predicted_lr: f64,
    pub predicted_lr_ci95: Option<[f64; 2]>,
    /// The held-out budget's own smooth-fit optimum and best run.
    pub measured_lr_opt: f64,
    pub best: Point,
    pub lr_band: [f64; 2],
    /// The held-out budget's smooth fit at the predicted lr (none outside
    /// its grid), and its ratio to the best loss.
    pub fitted_loss_at_prediction: Option<f64>,
    pub loss_ratio: Option<f64>,
    /// The predicted lr lies between the lowest and highest near-optimal lr.
    pub in_measured_band: bool,
    /// The smooth fit at the predicted lr is within tol of the best loss.
    pub within_tol: bool,
}

/// The analysis (`scalelab.hparams/1`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HparamsReport {
    pub schema: String,
    pub table: String,
    pub rows: usize,
    pub budget_column: String,
    pub batch_column: Option<String>,
    pub tol: f64,
    pub window: usize,
    pub bootstrap: usize,
    pub bootstrap_used: usize,
    pub bootstrap_skipped: usize,
    pub seed: u64,
    /// Budgets ascending.
    pub budgets: Vec<BudgetReport>,
    pub lr_law: Law,
    pub batch_law: Option<Law>,
    /// `[schedule] lr_rule` for the next sweep.
    pub lr_rule: LrRuleOut,
    pub holdout: Option<Holdout>,
    pub notes: Vec<String>,
    pub warnings: Vec<Warning>,
}

fn budget_report(runs: &[HpRun], b: &core::BudgetResult) -> BudgetReport {
    let point = |i: usize| Point {
        lr: runs[i].lr,
        batch: runs[i].batch,
        loss: runs[i].loss,
    };
    BudgetReport {
        flops: b.budget,
        points: b.runs.iter().map(|&i| point(i)).collect(),
        best: point(b.best),
        threshold: b.threshold,
        near_optimal: b.near_optimal.iter().map(|&i| point(i)).collect(),
        lr_band: b.lr_band,
        batch_band: b.batch_band,
        lr_opt: b.lr.value,
        lr_opt_kind: b.lr.kind.as_str().into(),
        lr_curve: b.lr.curve.map(|c| Curve {
            coef: c.coef,
            range: c.range,
        }),
        batch_opt: b.batch.as_ref().map(|o| o.value),
        batch_opt_kind: b.batch.as_ref().map(|o| o.kind.as_str().into()),
    }
}

fn core_err(path: &Path, e: core::HparamsError) -> Error {
    match e {
        core::HparamsError::Option { name, message } => {
            Error::flag(format!("--{name}"), format!("--{name}: {message}"))
        }
        e => Error::failed(format!("{}: {e}", path.display())),
    }
}

/// The table of runs, filtered (a sweep's unfinished runs left out).
#[derive(Clone, Debug)]
pub struct HparamsInput {
    /// The table file (for a table in memory, the name it was given).
    pub path: PathBuf,
    /// The rows kept.
    pub table: Table,
    /// Notes about the rows kept (the filters).
    pub notes: Vec<String>,
    /// Runs left out (a sweep's failed or unfinished runs).
    pub warnings: Vec<Warning>,
}

/// Checks the options and reads the table of `req.table`.
pub fn load(req: &HparamsRequest) -> Result<HparamsInput> {
    prepare(req, None)
}

/// [`load`] for a table already in memory (e.g. a DataFrame): the same
/// checks, filters and drop of unfinished runs; `req.table` is not read.
pub fn load_from_table(req: &HparamsRequest, table: Table) -> Result<HparamsInput> {
    prepare(req, Some(table))
}

/// The options' own checks (before any table is read).
fn check(req: &HparamsRequest) -> Result<()> {
    if !(req.tol.is_finite() && req.tol >= 0.0) {
        return Err(Error::flag(
            "--tol",
            format!("--tol must be a non-negative fraction, got {}", req.tol),
        ));
    }
    if req.window < 3 {
        return Err(Error::flag(
            "--fit-points",
            format!("--fit-points must be at least 3, got {}", req.window),
        ));
    }
    Ok(())
}

fn prepare(req: &HparamsRequest, table: Option<Table>) -> Result<HparamsInput> {
    check(req)?;
    let kept = match table {
        Some(t) => filter_table(t, &req.filters)?,
        None => load_table(&req.table, &req.filters)?,
    };
    let KeptTable {
        path,
        table,
        notes,
        warnings,
        ..
    } = kept;
    if table.is_empty() {
        return Err(Error::input(
            &path,
            None,
            format!("{}: no runs left to analyse", path.display()),
        ));
    }
    Ok(HparamsInput {
        path,
        table,
        notes,
        warnings,
    })
}

/// Analyses the runs of `input`: the per-budget optima, the laws, the
/// `lr_rule` and (with `holdout_largest`) the held-out check. Writes
/// nothing (`req.out` is [`run`]'s).
pub fn analyse(req: &HparamsRequest, input: &HparamsInput) -> Result<HparamsReport> {
    check(req)?;
    let t = &input.table;
    let path = input.path.clone();
    let budget_col = match &req.budget_col {
        Some(c) => c.clone(),
        None => {
            let filled = t
                .column_index("flops_budget")
                .is_some_and(|c| (0..t.len()).all(|i| t.number_at(i, c).is_ok_and(|v| v > 0.0)));
            if filled { "flops_budget" } else { "flops" }.to_string()
        }
    };
    let budgets = t.positive_column(&budget_col)?;
    let lrs = t.positive_column(&req.lr_col)?;
    let losses = t.positive_column(&req.loss_col)?;
    let batch_col = match &req.batch_col {
        Some(c) => Some(c.clone()),
        None => t.column_index("batch").map(|_| "batch".to_string()),
    };
    let batches = match &batch_col {
        Some(c) => Some(t.positive_column(c)?),
        None => None,
    };
    let runs: Vec<HpRun> = (0..t.len())
        .map(|i| HpRun {
            budget: budgets[i],
            lr: lrs[i],
            batch: batches.as_ref().map(|b| b[i]),
            loss: losses[i],
        })
        .collect();
    let opts = HparamsOptions {
        tol: req.tol,
        window: req.window,
        bootstrap: req.bootstrap,
        seed: req.seed,
        ..HparamsOptions::default()
    };
    let all = core::fit(&runs, &opts).map_err(|e| core_err(&path, e))?;
    let mut warnings = input.warnings.clone();
    for b in &all.budgets {
        match b.lr.kind {
            OptimumKind::Vertex => {}
            OptimumKind::Edge => warnings.push(Warning::new(
                WarningKind::Design,
                format!(
                    "budget {}: the fitted optimum lies outside the lrs around the best run; clamped to {} (extend the lr grid)",
                    crate::format_compact(b.budget),
                    crate::format_compact(b.lr.value)
                ),
            )),
            OptimumKind::NotConvex | OptimumKind::BestRun => warnings.push(Warning::new(
                WarningKind::Fit,
                format!(
                    "budget {}: loss against ln lr is not convex around the best run; its optimum is the best run's lr {}",
                    crate::format_compact(b.budget),
                    crate::format_compact(b.lr.value)
                ),
            )),
        }
    }
    if req.bootstrap > 0 && all.bootstrap_skipped * 10 > req.bootstrap {
        warnings.push(Warning::new(
            WarningKind::Bootstrap,
            format!(
                "{} of {} resamples skipped (a budget left with fewer than 3 distinct lrs)",
                all.bootstrap_skipped, req.bootstrap
            ),
        ));
    }
    let mut notes = input.notes.clone();
    notes.push(format!(
        "near-optimal: loss ≤ (1 + {})·best per budget; η_opt: vertex of a quadratic in ln lr through the {} lrs nearest the best",
        req.tol, req.window
    ));
    let holdout = if req.holdout_largest {
        let largest = all.budgets.last().expect("two budgets");
        let keep: Vec<HpRun> = runs
            .iter()
            .filter(|r| !largest.runs.iter().any(|&i| runs[i] == **r))
            .copied()
            .collect();
        let fit = core::fit(&keep, &opts).map_err(|e| {
            Error::flag(
                "--holdout-largest",
                format!("--holdout-largest: without the largest budget: {e}"),
            )
        })?;
        let c = largest.budget;
        let predicted = fit.lr_law.at(c);
        let fitted = largest.fitted_loss_at(predicted);
        let ratio = fitted.map(|l| l / largest.best_loss);
        Some(Holdout {
            flops: c,
            fitted_on: fit.budgets.iter().map(|b| b.budget).collect(),
            law: Law::of(&fit.lr_law),
            predicted_lr: predicted,
            predicted_lr_ci95: fit.lr_law.interval_at(c),
            measured_lr_opt: largest.lr.value,
            best: Point {
                lr: runs[largest.best].lr,
                batch: runs[largest.best].batch,
                loss: largest.best_loss,
            },
            lr_band: largest.lr_band,
            fitted_loss_at_prediction: fitted,
            loss_ratio: ratio,
            in_measured_band: predicted >= largest.lr_band[0] && predicted <= largest.lr_band[1],
            within_tol: fitted.is_some_and(|l| l <= largest.threshold),
        })
    } else {
        None
    };
    let lr_law = Law::of(&all.lr_law);
    Ok(HparamsReport {
        schema: SCHEMA.into(),
        table: path.display().to_string(),
        rows: t.len(),
        budget_column: budget_col,
        batch_column: batch_col,
        tol: req.tol,
        window: req.window,
        bootstrap: req.bootstrap,
        bootstrap_used: all.bootstrap_used,
        bootstrap_skipped: all.bootstrap_skipped,
        seed: req.seed,
        budgets: all
            .budgets
            .iter()
            .map(|b| budget_report(&runs, b))
            .collect(),
        lr_rule: LrRuleOut {
            base: lr_law.at_ref,
            ref_flops: lr_law.ref_flops,
            exponent: lr_law.exponent,
        },
        lr_law,
        batch_law: all.batch_law.as_ref().map(Law::of),
        holdout,
        notes,
        warnings,
    })
}

/// Reads the table, analyses it and writes `out` when asked.
pub fn run(req: &HparamsRequest) -> Result<HparamsReport> {
    let input = load(req)?;
    let report = analyse(req, &input)?;
    if let Some(out) = &req.out {
        write(&report, "--out", out)?;
    }
    Ok(report)
}

/// Writes the report as `--out` does: pretty JSON and a newline, atomically;
/// `what` names the file in an error (`--out`).
pub fn write(report: &HparamsReport, what: &str, out: &Path) -> Result<()> {
    let json = serde_json::to_string_pretty(report)
        .map_err(|e| Error::failed(format!("cannot serialise the report: {e}")))?;
    crate::error::write_file(what, out, format!("{json}\n").as_bytes())
}

/// Reads a report written with `--out` (for `scalelab report`).
pub fn read(path: &Path) -> Result<HparamsReport> {
    crate::error::read_json_report("scalelab.hparams/1", path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_gives_a_law_a_rule_and_a_holdout_check() {
        let dir = std::env::temp_dir().join(format!("scalelab-hparams-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("runs.csv");
        let mut csv = String::from("run,flops,lr,loss\n");
        for c in [1e10f64, 1e11, 1e12, 1e13] {
            let eta = 0.3 * c.powf(-0.125);
            for k in 0..6 {
                let lr = 1e-3 * 2f64.powi(k);
                let d = (lr / eta).ln();
                csv += &format!("r,{c},{lr},{}\n", 3.0 + 0.02 * d * d);
            }
        }
        std::fs::write(&p, csv).unwrap();
        let mut req = HparamsRequest::new(&p);
        req.holdout_largest = true;
        req.bootstrap = 50;
        req.out = Some(dir.join("hp.json"));
        let r = run(&req).unwrap();
        assert_eq!(r.budget_column, "flops");
        assert!((r.lr_law.exponent + 0.125).abs() < 1e-6);
        let h = r.holdout.as_ref().unwrap();
        assert_eq!(h.fitted_on.len(), 3);
        assert!((h.predicted_lr / (0.3 * 1e13f64.powf(-0.125)) - 1.0).abs() < 1e-6);
        assert!(h.within_tol && h.in_measured_band);
        let rule = &r.lr_rule;
        let c = 1e12;
        assert!(
            (rule.base * (c / rule.ref_flops).powf(rule.exponent) / r.lr_law.at(c) - 1.0).abs()
                < 1e-9
        );
        // a table in memory gives the same report, and nothing is written
        let mut mem = req.clone();
        mem.out = Some(dir.join("not-written.json"));
        let t = Table::read(&p).unwrap();
        let m = analyse(&mem, &load_from_table(&mem, t).unwrap()).unwrap();
        assert_eq!(m, r);
        assert!(!dir.join("not-written.json").exists());
        // the options are checked before the table is looked at
        let mut bad = HparamsRequest::new(dir.join("missing.csv"));
        bad.tol = -0.1;
        let e = load(&bad).unwrap_err().to_string();
        assert!(e.starts_with("--tol must be a non-negative"), "{e}");
        // read back (a warning keeps only its message, so compare as JSON)
        let back = read(req.out.as_ref().unwrap()).unwrap();
        assert_eq!(
            serde_json::to_value(&back).unwrap(),
            serde_json::to_value(&r).unwrap()
        );
        std::fs::remove_dir_all(&dir).ok();
    }
}
