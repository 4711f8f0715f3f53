//! Fit a scaling law to runs: all laws and methods, bootstrap intervals, a
//! held-out extrapolation check and identifiability warnings. The result
//! is a [`FitReport`], the `scalelab.fit/1` schema as a type: serialising
//! it gives the JSON `scalelab fit --json` prints and `--out` writes, and
//! [`read_fit`] reads such a file back into the same type.

use crate::runs::{self, Input};
use crate::{Error, Progress, Result, Task, Warning, WarningKind};
use scalelab_core::bootstrap::{bootstrap, BootstrapOptions, BootstrapResult};
use scalelab_core::conditioning::{conditioning, identifiability_warnings, Conditioning};
use scalelab_core::data::{Covariates, Observations};
use scalelab_core::diagnostics::{
    design_warnings, fit_warnings, holdout_report, residual_summary, HoldoutReport, ResidualSummary,
};
use scalelab_core::fit::{fit_law, FitOptions, FitResult};
use scalelab_core::intervals::scatter;
use scalelab_core::laws::DataConstrained;
use scalelab_core::rollout::{rollout, Rollout, RolloutOptions};
use scalelab_tables::Table;
use std::path::{Path, PathBuf};
use std::time::Instant;

pub use scalelab_core::diagnostics::Holdout;
pub use scalelab_core::fit::Method;
pub use scalelab_core::intervals::PredictedLoss;
pub use scalelab_core::laws::{law_by_name, Law, LAW_NAMES};
pub use scalelab_core::robust::Robust;
pub use scalelab_tables::fitfile::{
    BootstrapSummary, ConditioningSummary, Correlations, DataRange, FitColumns, FitCore, FitInput,
    FitTiming, HeldOutPoint, HoldoutSummary, LossFunction, Named, Residuals, RolloutBin,
    RolloutBudget, RolloutCutSummary, RolloutPointSummary, RolloutSummary, FIT_SCHEMA,
};

/// Without a `flops_budget` column, runs whose compute agrees within this
/// many decades (log10) are one budget of the rollout (as in `isoflop`).
pub const ROLLOUT_LOG10_TOL: f64 = 0.05;

/// The most bootstrap resamples each rollout cut runs for its prediction
/// intervals (the request's `bootstrap`, capped: a rollout refits once per
/// cut and resample).
pub const ROLLOUT_BOOTSTRAP_MAX: usize = 100;
pub use scalelab_tables::ColumnMap;

/// A `scalelab.fit/1` object (see [`scalelab_tables::fitfile::FitReport`]),
/// with the library's typed warnings.
pub type FitReport = scalelab_tables::fitfile::FitReport<Warning>;

/// What to fit, and how.
#[derive(Clone, Debug)]
pub struct FitRequest {
    /// The run table: a .csv, .tsv, .jsonl or .parquet file, or a sweep
    /// directory holding runs.csv. Unused by [`fit_input`] and
    /// [`fit_table`].
    pub table: PathBuf,
    /// The law's name: one of [`LAW_NAMES`] (`chinchilla`, `kaplan`,
    /// `power-n`, …).
    pub law: String,
    /// Variable projection (the default) or the law's full start grid.
    pub method: Method,
    /// The loss on log residuals (default Huber with δ = 1e-3).
    pub robust: Robust,
    /// Which columns hold N, D, C and the loss.
    pub columns: ColumnMap,
    /// `--where` filters, all of which a row must pass.
    pub filters: Vec<String>,
    /// Bootstrap resamples (0: none).
    pub bootstrap: usize,
    /// Seed of the bootstrap.
    pub seed: u64,
    /// Hold out runs and report the error of their predictions.
    pub holdout: Option<Holdout>,
    /// The rollout backtest: for every compute budget, fit on the runs at
    /// or below it and predict those above.
    pub rollout: bool,
    /// For `data-constrained`: a `scalelab.fit/1` file (Chinchilla or
    /// data-constrained) whose E, A, B, alpha and beta are held fixed, so
    /// that only R_D_star and R_N_star are fitted. The report then carries
    /// all seven parameters (the base's and the fitted decays).
    pub base: Option<PathBuf>,
}

impl Default for FitRequest {
    fn default() -> Self {
        FitRequest {
            table: PathBuf::new(),
            law: "chinchilla".into(),
            method: Method::VarPro,
            robust: Robust::Huber { delta: 1e-3 },
            columns: ColumnMap::default(),
            filters: Vec::new(),
            bootstrap: 0,
            seed: 0,
            holdout: None,
            rollout: false,
            base: None,
        }
    }
}

impl FitRequest {
    /// A request for the table at `path`, with the defaults otherwise.
    pub fn new(table: impl Into<PathBuf>) -> Self {
        FitRequest {
            table: table.into(),
            ..Default::default()
        }
    }

    /// The law, or an error naming `--law` (or `--base`, whose fit file is
    /// read here).
    pub fn scaling_law(&self) -> Result<Box<dyn Law>> {
        if let Some(path) = &self.base {
            return Ok(Box::new(DataConstrained::on_base(&self.base_params(path)?)));
        }
        law_by_name(&self.law).ok_or_else(|| {
            Error::flag(
                "--law",
                format!(
                    "--law: unknown law `{}` (known: {})",
                    self.law,
                    LAW_NAMES.join(", ")
                ),
            )
        })
    }

    /// The Chinchilla parameters `[E, A, B, alpha, beta]` of the `--base`
    /// fit file.
    fn base_params(&self, path: &Path) -> Result<[f64; 5]> {
        if self.law != "data-constrained" {
            return Err(Error::flag(
                "--base",
                format!(
                    "--base fits the data-constrained law on top of a base fit; it needs --law data-constrained, not `{}`",
                    self.law
                ),
            ));
        }
        let f = scalelab_tables::fitfile::read_fit(path)
            .map_err(|e| Error::input(path, None, format!("--base: {e}")))?;
        let law = &f.report.law;
        if law != "chinchilla" && law != "data-constrained" {
            return Err(Error::input(
                path,
                None,
                format!(
                    "--base {}: the base must be a chinchilla (or data-constrained) fit, not `{law}`",
                    path.display()
                ),
            ));
        }
        let mut p = [0.0; 5];
        for (k, name) in ["E", "A", "B", "alpha", "beta"].iter().enumerate() {
            p[k] = f.report.param(name).ok_or_else(|| {
                Error::input(path, None, format!("--base: no parameter `{name}`"))
            })?;
        }
        if !(p.iter().all(|v| v.is_finite()) && p[3] > 0.0 && p[4] > 0.0) {
            return Err(Error::input(
                path,
                None,
                format!(
                    "--base: the base's exponents must be positive, got alpha = {}, beta = {}",
                    p[3], p[4]
                ),
            ));
        }
        Ok(p)
    }

    fn check(&self) -> Result<Box<dyn Law>> {
        if self.holdout == Some(Holdout::Largest(0)) {
            return Err(Error::flag(
                "--holdout-largest",
                "--holdout-largest must be at least 1",
            ));
        }
        self.scaling_law()
    }
}

/// Reads the request's table and fits it.
pub fn fit(req: &FitRequest, progress: &dyn Progress) -> Result<FitReport> {
    let law = req.check()?;
    let input = runs::load(&req.table, &req.columns, &req.filters, law.as_ref())?;
    fit_loaded(req, law.as_ref(), &input, progress)
}

/// Fits a table already in memory (the request's filters and columns
/// apply; its `table` path is not used).
pub fn fit_table(req: &FitRequest, table: Table, progress: &dyn Progress) -> Result<FitReport> {
    let law = req.check()?;
    let input = runs::load_from_table(table, &req.columns, &req.filters, law.as_ref())?;
    fit_loaded(req, law.as_ref(), &input, progress)
}

/// Fits observations already loaded (the request's `table`, `filters` and
/// `columns` are only recorded in the report's `input`).
pub fn fit_input(req: &FitRequest, input: &Input, progress: &dyn Progress) -> Result<FitReport> {
    let law = req.check()?;
    fit_loaded(req, law.as_ref(), input, progress)
}

fn fit_loaded(
    req: &FitRequest,
    law: &dyn Law,
    input: &Input,
    progress: &dyn Progress,
) -> Result<FitReport> {
    let obs = &input.obs;
    let opts = FitOptions {
        robust: req.robust,
        method: req.method,
        ..Default::default()
    };

    let t0 = Instant::now();
    let fit = fit_law(law, obs, &opts)
        .map_err(|e| Error::failed(format!("{}: {e}", input.path.display())))?;
    let fit_s = t0.elapsed().as_secs_f64();

    let mut warnings: Vec<Warning> = input.warnings.clone();
    warnings.extend(
        design_warnings(law, obs)
            .into_iter()
            .map(|w| Warning::new(WarningKind::Design, w.message)),
    );
    if law.needs_unique_tokens() && !(0..obs.len()).any(|i| obs.u[i] < obs.d[i]) {
        warnings.push(Warning::new(
            WarningKind::Design,
            "no run repeats its data (unique tokens >= tokens in every run): R_D_star is not identified by these runs",
        ));
    }
    warnings.extend(
        fit_warnings(&fit)
            .into_iter()
            .map(|w| Warning::new(WarningKind::Fit, w)),
    );

    let t1 = Instant::now();
    let boot = if req.bootstrap > 0 {
        let bopts = BootstrapOptions {
            resamples: req.bootstrap,
            seed: req.seed,
            robust: req.robust,
            lbfgs: opts.lbfgs,
            extra_starts: vec![],
        };
        let task = Task::begin(
            progress,
            "bootstrap",
            Some(req.bootstrap as u64),
            "resamples",
        );
        let b = bootstrap(law, obs, &fit, &bopts, &|| task.inc(1));
        drop(task);
        if b.not_converged > 0 {
            warnings.push(Warning::new(
                WarningKind::Bootstrap,
                format!(
                    "{} of {} bootstrap refits did not converge (they are included)",
                    b.not_converged, b.resamples
                ),
            ));
        }
        if b.degenerate > 0 {
            warnings.push(Warning::new(
                WarningKind::Bootstrap,
                format!(
                    "{} of {} bootstrap refits ({:.0}%) landed on a degenerate solution (E collapsed, a coefficient 1000x off the fit's, or an exponent out of range): the standard errors leave them out, the 95% intervals (percentiles of all draws) keep them{}",
                    b.degenerate,
                    b.resamples,
                    100.0 * b.degenerate as f64 / b.resamples.max(1) as f64,
                    if b.degenerate * 20 > b.resamples {
                        "; with this many, the law is not identified by these runs: read the intervals, not the standard errors"
                    } else {
                        ""
                    }
                ),
            ));
        }
        Some(b)
    } else {
        None
    };
    let bootstrap_s = t1.elapsed().as_secs_f64();

    let held = match req.holdout {
        Some(h) => Some(run_holdout(law, obs, &opts, h, input)?),
        None => None,
    };

    let cond = conditioning(
        law,
        obs,
        &fit.raw,
        boot.as_ref().map_or(&[][..], |b| &b.draws[..]),
    );
    warnings.extend(
        identifiability_warnings(&fit.param_names, &cond)
            .into_iter()
            .map(|w| Warning::new(WarningKind::Fit, w)),
    );

    let t2 = Instant::now();
    let rolled = if req.rollout {
        match run_rollout(req, law, input, &opts, progress) {
            Ok(r) => Some(r),
            Err(w) => {
                warnings.push(w);
                None
            }
        }
    } else {
        None
    };
    let rollout_s = t2.elapsed().as_secs_f64();

    let residuals = residual_summary(law, &fit, obs);
    let mut r = report(
        req,
        input,
        &fit,
        boot.as_ref(),
        held.as_ref(),
        &residuals,
        warnings,
        FitTiming {
            fit_s,
            bootstrap_s,
            rollout_s,
        },
    );
    r.residuals.scatter = scatter(&residuals.residuals, law.n_params());
    r.conditioning = Some(conditioning_summary(&fit.param_names, &cond));
    r.rollout = rolled;
    if law.needs_unique_tokens() {
        r.input.columns.unique_tokens = Some(req.columns.unique_name().to_string());
    }
    if let Some(path) = &req.base {
        with_base(&mut r, req.base_params(path)?, path);
    }
    Ok(r)
}

/// A fit on top of a base: the report carries the base's five parameters
/// before the fitted decays (and so do the bootstrap draws), so that the
/// file is a complete data-constrained law for `plan` and `predict`.
fn with_base(r: &mut FitReport, base: [f64; 5], path: &Path) {
    let names = ["E", "A", "B", "alpha", "beta"];
    let mut params = Named::from_pairs(&names, &base);
    for (name, v) in &r.params.0 {
        params.insert(name.clone(), *v);
    }
    r.params = params;
    let (a, b) = scalelab_core::laws::Chinchilla::allocation_exponents(base[3], base[4]);
    r.derived.insert("a", a);
    r.derived.insert("b", b);
    if let Some(bs) = &mut r.bootstrap {
        for d in &mut bs.draws {
            let mut full = base.to_vec();
            full.extend_from_slice(d);
            *d = full;
        }
    }
    r.input.base_fit = Some(path.display().to_string());
    r.notes.push(format!(
        "E, A, B, alpha and beta held fixed at the base fit {}; only R_D_star and R_N_star fitted",
        path.display()
    ));
}

fn conditioning_summary(names: &[&str], c: &Conditioning) -> ConditioningSummary {
    ConditioningSummary {
        condition_number: c.condition_number,
        weakest: Named::from_pairs(names, &c.weakest),
        correlations: c.correlations.as_ref().map(|m| Correlations {
            names: names.iter().map(|n| n.to_string()).collect(),
            matrix: m.clone(),
        }),
    }
}

/// The rollout backtest of a request; what stops it is a warning (the fit
/// itself stands).
fn run_rollout(
    req: &FitRequest,
    law: &dyn Law,
    input: &Input,
    opts: &FitOptions,
    progress: &dyn Progress,
) -> std::result::Result<RolloutSummary, Warning> {
    let obs = &input.obs;
    let (keys, grouped_by) = match &input.budgets {
        Some(b) => (b.clone(), format!("the '{}' column", runs::BUDGET_COLUMN)),
        None => (
            obs.c.clone(),
            format!("compute C within {ROLLOUT_LOG10_TOL} decades"),
        ),
    };
    let ropts = RolloutOptions {
        fit: opts.clone(),
        rel_tol: 10f64.powf(ROLLOUT_LOG10_TOL) - 1.0,
        bootstrap: req.bootstrap.min(ROLLOUT_BOOTSTRAP_MAX),
        seed: req.seed,
    };
    let task = Task::begin(progress, "rollout", None, "cuts");
    let r = rollout(law, obs, &keys, &ropts, &|| task.inc(1)).map_err(|e| {
        Warning::new(
            WarningKind::Design,
            format!("no rollout backtest: {}: {e}", input.path.display()),
        )
    })?;
    drop(task);
    Ok(rollout_summary(law, input, &r, grouped_by, ropts.bootstrap))
}

fn rollout_summary(
    law: &dyn Law,
    input: &Input,
    r: &Rollout,
    grouped_by: String,
    bootstrap: usize,
) -> RolloutSummary {
    let names = law.param_names();
    let (inside, n) = r.coverage();
    RolloutSummary {
        grouped_by,
        budgets: r
            .budgets
            .iter()
            .map(|(flops, runs)| RolloutBudget {
                flops: *flops,
                runs: *runs,
            })
            .collect(),
        bootstrap,
        inside_pi95: inside,
        n_points: n,
        cuts: r
            .cuts
            .iter()
            .map(|c| RolloutCutSummary {
                budget: c.budget,
                budget_flops: c.budget_flops,
                max_train_flops: c.max_train_flops,
                n_train: c.n_train,
                n_held_out: c.n_held_out,
                mean_abs_rel_error: c.mean_abs_rel_error,
                max_abs_rel_error: c.max_abs_rel_error,
                mean_rel_error: c.mean_rel_error,
                inside_pi95: c.inside_pi95,
                scatter: c.scatter,
                params: Named::from_pairs(&names, &c.params),
                failed: c.failed.clone(),
            })
            .collect(),
        by_distance: r
            .bins
            .iter()
            .map(|b| RolloutBin {
                lo_decades: b.lo,
                hi_decades: b.hi,
                n: b.n,
                mean_abs_rel_error: b.mean_abs_rel_error,
                max_abs_rel_error: b.max_abs_rel_error,
                mean_rel_error: b.mean_rel_error,
                inside_pi95: b.inside_pi95,
            })
            .collect(),
        points: r
            .points
            .iter()
            .map(|p| RolloutPointSummary {
                cut: p.cut,
                line: input.lines.get(p.index).copied(),
                params: input.obs.n[p.index],
                tokens: input.obs.d[p.index],
                flops: input.obs.c[p.index],
                loss: p.loss,
                predicted: p.predicted,
                rel_error: p.rel_error,
                distance_decades: p.distance_decades,
                ci95: p.ci95,
                pi95: p.pi95,
                inside_pi95: p.inside_pi95,
            })
            .collect(),
    }
}

/// The predicted loss of a fit at each point, with its 95% confidence
/// interval (the law: percentiles of the bootstrap laws' predictions; none
/// without bootstrap draws) and 95% prediction interval (a run: the law's
/// interval and the runs' scatter σ combined in quadrature on the log
/// scale, see [`scalelab_core::intervals`]). Errors name the fit's key.
pub fn predict_with_intervals<W>(
    fit: &scalelab_tables::fitfile::FitReport<W>,
    points: &[Covariates],
) -> Result<Vec<PredictedLoss>> {
    let (law, params, draws) = fit.check().map_err(Error::failed)?;
    Ok(scalelab_core::intervals::predict_with_intervals(
        law.as_ref(),
        &params,
        &draws,
        fit.scatter(),
        points,
    ))
}

/// Reads a `scalelab.fit/1` file into a [`FitReport`], checked (a known
/// law, every parameter a number, draws as long as the parameters); errors
/// name the file and the key.
pub fn read_fit(path: &Path) -> Result<FitReport> {
    let f = scalelab_tables::fitfile::read_fit(path)
        .map_err(|e| Error::input(path, None, e.to_string()))?;
    Ok(f.report
        .map_warnings(|w| Warning::new(WarningKind::Other, w)))
}

/// The held-out check: fit without the held-out runs, predict them.
struct HeldOut {
    rule: Holdout,
    n_train: usize,
    fit: FitResult,
    report: HoldoutReport,
}

fn run_holdout(
    law: &dyn Law,
    obs: &Observations,
    opts: &FitOptions,
    rule: Holdout,
    input: &Input,
) -> Result<HeldOut> {
    let (train, test) = rule.split(obs);
    if test.is_empty() {
        return Err(Error::flag(
            holdout_flag(rule),
            format!(
                "the holdout ({}) selects no runs: the largest compute in {} is {:e}",
                rule.describe(),
                input.path.display(),
                obs.c.iter().cloned().fold(0.0, f64::max)
            ),
        ));
    }
    if train.len() < law.n_params() {
        return Err(Error::flag(
            holdout_flag(rule),
            format!(
                "the holdout ({}) leaves {} runs to fit {} parameters",
                rule.describe(),
                train.len(),
                law.n_params()
            ),
        ));
    }
    let sub = obs.select(&train);
    let fit = fit_law(law, &sub, opts).map_err(|e| Error::failed(format!("holdout fit: {e}")))?;
    let report = holdout_report(law, &fit.params, obs, &test);
    Ok(HeldOut {
        rule,
        n_train: train.len(),
        fit,
        report,
    })
}

fn holdout_flag(rule: Holdout) -> &'static str {
    match rule {
        Holdout::AboveFlops(_) => "--holdout-above-flops",
        Holdout::Largest(_) => "--holdout-largest",
    }
}

fn loss_function(r: Robust) -> LossFunction {
    match r {
        Robust::Huber { delta } => LossFunction {
            kind: "huber".into(),
            delta: Some(delta),
            reduction: "sum".into(),
        },
        Robust::LeastSquares => LossFunction {
            kind: "least_squares".into(),
            delta: None,
            reduction: "sum".into(),
        },
    }
}

fn derived(fit: &FitResult) -> Named<f64> {
    let mut m = Named::default();
    for (n, v) in &fit.derived {
        m.insert(*n, *v);
    }
    m
}

fn core(fit: &FitResult) -> FitCore {
    FitCore {
        params: Named::from_pairs(&fit.param_names, &fit.params),
        derived: derived(fit),
        objective: fit.objective,
        n_points: fit.n_points,
        starts: fit.starts,
        starts_at_best: fit.starts_at_best,
        converged: fit.converged,
    }
}

fn bootstrap_summary(b: &BootstrapResult) -> BootstrapSummary {
    let mut s = BootstrapSummary {
        n: b.resamples,
        seed: b.seed,
        not_converged: b.not_converged,
        degenerate: b.degenerate,
        draws: b.draws.clone(),
        ..Default::default()
    };
    for sp in b.params.iter().chain(&b.derived) {
        s.se.insert(sp.name.clone(), sp.se);
        s.ci95.insert(sp.name.clone(), sp.ci95);
        s.median.insert(sp.name.clone(), sp.median);
    }
    s
}

#[allow(clippy::too_many_arguments)]
fn report(
    req: &FitRequest,
    input: &Input,
    fit: &FitResult,
    boot: Option<&BootstrapResult>,
    held: Option<&HeldOut>,
    res: &ResidualSummary,
    warnings: Vec<Warning>,
    timing: FitTiming,
) -> FitReport {
    let FitCore {
        params,
        derived,
        objective,
        n_points,
        starts,
        starts_at_best,
        converged,
    } = core(fit);
    let holdout = held.map(|h| HoldoutSummary {
        rule: h.rule.describe(),
        n_train: h.n_train,
        n_test: h.report.points.len(),
        mean_abs_rel_error: h.report.mean_abs_rel_error,
        max_abs_rel_error: h.report.max_abs_rel_error,
        mean_rel_error: h.report.mean_rel_error,
        fit: core(&h.fit),
        points: h
            .report
            .points
            .iter()
            .map(|p| HeldOutPoint {
                line: input.lines.get(p.index).copied(),
                params: input.obs.n[p.index],
                tokens: input.obs.d[p.index],
                flops: input.obs.c[p.index],
                loss: p.loss,
                predicted: p.predicted,
                rel_error: p.rel_error,
            })
            .collect(),
    });
    let col = |c: &Option<String>, default: &str| c.as_deref().unwrap_or(default).to_string();
    FitReport {
        schema: FIT_SCHEMA.into(),
        law: fit.law.clone(),
        formula: fit.formula.clone(),
        method: fit.method.as_str().into(),
        loss_function: loss_function(fit.robust),
        params,
        derived,
        objective,
        n_points,
        starts,
        starts_at_best,
        converged,
        termination: format!("{:?}", fit.termination),
        iterations: fit.iterations,
        evaluations: fit.evaluations,
        starts_not_converged: fit.starts_not_converged,
        residuals: Residuals {
            scale: "ln L - ln L_hat".into(),
            rmse: res.rmse,
            mean: res.mean,
            median_abs: res.median_abs,
            max_abs: res.max_abs,
            max_abs_line: input.lines.get(res.worst).copied(),
            scatter: f64::NAN,
        },
        bootstrap: boot.map(bootstrap_summary),
        holdout,
        rollout: None,
        conditioning: None,
        warnings,
        notes: input.notes.clone(),
        input: FitInput {
            path: input.path.display().to_string(),
            rows_read: input.rows_read,
            rows_used: input.obs.len(),
            filters: req.filters.clone(),
            columns: FitColumns {
                params: col(&req.columns.params, "params"),
                tokens: col(&req.columns.tokens, "tokens"),
                flops: col(&req.columns.flops, "flops"),
                loss: col(&req.columns.loss, "loss"),
                unique_tokens: None,
            },
            range: Some(DataRange::of(&input.obs.n, &input.obs.d, &input.obs.c)),
            base_fit: None,
        },
        timing,
        version: concat!("scalelab ", env!("CARGO_PKG_VERSION")).into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runs::table_from_columns;
    use crate::Silent;

    fn synthetic() -> Table {
        let (mut n, mut d, mut l) = (vec![], vec![], vec![]);
        for &p in &[1e7, 3e7, 1e8, 3e8, 1e9] {
            for &tpp in &[5.0, 10.0, 20.0, 40.0, 80.0] {
                let t = p * tpp;
                n.push(p);
                d.push(t);
                l.push(1.8 + 400.0 / f64::powf(p, 0.34) + 2000.0 / f64::powf(t, 0.36));
            }
        }
        table_from_columns(
            "<memory>",
            vec![
                ("params".into(), n),
                ("tokens".into(), d),
                ("loss".into(), l),
            ],
        )
        .unwrap()
    }

    #[test]
    fn an_in_memory_fit_recovers_the_law_and_reads_back() {
        let req = FitRequest {
            bootstrap: 8,
            holdout: Some(Holdout::Largest(3)),
            rollout: true,
            ..Default::default()
        };
        let r = fit_table(&req, synthetic(), &Silent).unwrap();
        // The rollout: every cut predicts the runs above it; with enough
        // noiseless runs of the law (not 6 for 5 parameters), closely.
        let ro = r.rollout.as_ref().unwrap();
        assert_eq!(ro.bootstrap, 8);
        assert!(!ro.cuts.is_empty());
        for c in &ro.cuts {
            assert_eq!(c.n_train + c.n_held_out, 25, "{c:?}");
            assert!(c.mean_abs_rel_error.is_finite(), "{c:?}");
            if c.n_train >= 15 {
                assert!(c.mean_abs_rel_error < 0.01, "{c:?}");
            }
        }
        assert_eq!(
            ro.points.len(),
            ro.cuts.iter().map(|c| c.n_held_out).sum::<usize>()
        );
        // Conditioning with the bootstrap's correlations; the scatter.
        let cond = r.conditioning.as_ref().unwrap();
        assert!(cond.condition_number > 1.0);
        assert_eq!(cond.correlations.as_ref().unwrap().matrix.len(), 5);
        assert!(r.residuals.scatter >= 0.0 && r.residuals.scatter < 1e-3);
        // Both intervals of a predicted loss; the run's contains the law's.
        let x = Covariates::from_nd(1e8, 2e9);
        let p = predict_with_intervals(&r, &[x]).unwrap();
        let ci = p[0].ci95.unwrap();
        assert!(p[0].pi95[0] <= ci[0] && ci[1] <= p[0].pi95[1], "{p:?}");
        assert!((p[0].loss / r.predict(&[1e8], &[2e9]).unwrap()[0] - 1.0).abs() < 1e-12);
        assert_eq!(r.schema, FIT_SCHEMA);
        assert!((r.param("E").unwrap() - 1.8).abs() < 1e-3, "{:?}", r.params);
        assert!((r.param("alpha").unwrap() - 0.34).abs() < 1e-3);
        assert_eq!(r.draws().len(), 8);
        assert_eq!(r.holdout.as_ref().unwrap().n_test, 3);
        let l = r.predict(&[1e8], &[2e9]).unwrap();
        let want = 1.8 + 400.0 / f64::powf(1e8, 0.34) + 2000.0 / f64::powf(2e9, 0.36);
        assert!((l[0] / want - 1.0).abs() < 1e-4);
        // The JSON reads back into the same type, unchanged.
        let text = serde_json::to_string_pretty(&r).unwrap();
        let back: FitReport = serde_json::from_str(&text).unwrap();
        assert_eq!(serde_json::to_string_pretty(&back).unwrap(), text);
        // And plans.
        let plan = crate::plan::plan_fit(
            &crate::plan::PlanRequest {
                flops: vec![1e21],
                ..Default::default()
            },
            &r,
            "<memory>",
        )
        .unwrap();
        let p = &plan.plans.unwrap()[0];
        assert!(p.n_opt > 0.0 && p.ci95.is_some());
    }

    #[test]
    fn bad_requests_name_the_flag() {
        let req = FitRequest {
            law: "linear".into(),
            ..Default::default()
        };
        let e = fit_table(&req, synthetic(), &Silent).unwrap_err();
        assert!(
            matches!(e, Error::Flag { ref flag, .. } if flag == "--law"),
            "{e}"
        );
        let req = FitRequest {
            holdout: Some(Holdout::Largest(0)),
            ..Default::default()
        };
        let e = fit_table(&req, synthetic(), &Silent).unwrap_err();
        assert!(e.to_string().contains("--holdout-largest"), "{e}");
    }

    /// Runs of the data-constrained law: 4 sizes × 3 unique budgets × 1…64
    /// epochs.
    fn repeated(unique_col: &str) -> Table {
        let truth = [1.8, 480.0, 2100.0, 0.34, 0.37, 15.0, 5.0];
        let (mut n, mut d, mut u, mut l) = (vec![], vec![], vec![], vec![]);
        for &p in &[2e7, 6e7, 2e8, 6e8] {
            for &uu in &[1e8, 4e8, 1.6e9] {
                for e in 0..7 {
                    let t = uu * f64::powi(2.0, e);
                    n.push(p);
                    d.push(t);
                    u.push(uu);
                    l.push(DataConstrained::loss(&truth, p, t, uu));
                }
            }
        }
        table_from_columns(
            "<memory>",
            vec![
                ("params".into(), n),
                ("tokens".into(), d),
                (unique_col.into(), u),
                ("loss".into(), l),
            ],
        )
        .unwrap()
    }

    #[test]
    fn the_data_constrained_law_reads_unique_tokens_and_plans_with_its_decays() {
        let req = FitRequest {
            law: "data-constrained".into(),
            bootstrap: 10,
            ..Default::default()
        };
        let r = fit_table(&req, repeated("unique_tokens"), &Silent).unwrap();
        assert!(r.converged);
        assert!(
            (r.param("R_D_star").unwrap() / 15.0 - 1.0).abs() < 1e-3,
            "{:?}",
            r.params
        );
        assert!(
            (r.param("R_N_star").unwrap() / 5.0 - 1.0).abs() < 1e-3,
            "{:?}",
            r.params
        );
        assert!(r.bootstrap.as_ref().unwrap().ci95.get("R_D_star").is_some());
        assert_eq!(
            r.input.columns.unique_tokens.as_deref(),
            Some("unique_tokens")
        );
        let plan = crate::plan::plan_fit(
            &crate::plan::PlanRequest {
                flops: vec![1e19],
                unique_tokens: Some(1e9),
                ..Default::default()
            },
            &r,
            "<memory>",
        )
        .unwrap();
        let dc = plan.plans.unwrap()[0].data_constrained.clone().unwrap();
        assert_eq!(dc.r_star_source, "fit");
        assert_eq!(Some(dc.r_star), r.param("R_D_star"));
        assert_eq!(dc.r_star_n, r.param("R_N_star"));
        assert!(dc.ci95.is_some());

        // the column under another name, named by the request
        let mut req = req;
        req.bootstrap = 0;
        let e = fit_table(&req, repeated("U"), &Silent).unwrap_err();
        assert!(e.to_string().contains("--unique-col"), "{e}");
        req.columns.unique = Some("U".into());
        assert!(fit_table(&req, repeated("U"), &Silent).is_ok());
        // --base needs the data-constrained law
        let req = FitRequest {
            base: Some("base.json".into()),
            ..Default::default()
        };
        let e = fit_table(&req, synthetic(), &Silent).unwrap_err();
        assert!(e.to_string().contains("--law data-constrained"), "{e}");
    }
}
