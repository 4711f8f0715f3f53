//! IsoFLOP analysis: compute-optimal exponents from runs (Hoffmann et al.
//! 2022 Approaches 1 and 2, and Approach 3 from a fit), side by side.
//!
//! [`run`] takes an [`IsoflopRequest`] and returns an [`IsoflopReport`],
//! whose serialisation is the `scalelab.isoflop/1` JSON. [`load`] and
//! [`analyse`] are its two halves, for a caller that wants to show what was
//! left out of the table before the analysis starts.

use crate::{Error, Progress, Result, Task, Warning, WarningKind};
use scalelab_core::bootstrap::interval_over;
use scalelab_core::data::Observations;
use scalelab_core::isoflop::{
    approach1, approach2, disagreements, fit_line, group_budgets, run_ids, run_ids_by_size,
    IsoflopOptions,
};
use scalelab_core::laws::Variable;
use scalelab_core::plan::{self, six_n};
use scalelab_tables::fitfile::{read_fit, FitFile};
use scalelab_tables::Table;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The types the report is made of, and the column map of a request.
pub use scalelab_core::isoflop::{BudgetOptimum, EnvelopePoint, Exponents, SkippedBudget};
pub use scalelab_tables::ColumnMap;

/// The `schema` of an IsoFLOP report.
pub const SCHEMA: &str = "scalelab.isoflop/1";

/// The column of design budgets a designed sweep writes to `runs.csv`; when
/// every row has one and no `--flops-col` is given, runs are grouped by it.
pub const BUDGET_COLUMN: &str = "flops_budget";

/// Without a budget column, runs whose FLOPs agree within this many decades
/// (log10) are one budget: a run's exact FLOPs never equal another's.
pub const BUDGET_LOG10_TOL: f64 = 0.05;

/// What to analyse, and how.
#[derive(Clone, Debug, PartialEq)]
pub struct IsoflopRequest {
    /// The table of runs (CSV, JSONL or Parquet, or a sweep directory for
    /// its `runs.*`), one row per (run, budget).
    pub runs: PathBuf,
    /// `--where` expressions; a row must match all of them.
    pub filters: Vec<String>,
    /// Analyse each combination of these columns' values separately (none:
    /// the whole table).
    pub group_by: Vec<String>,
    /// Columns of N, D, C and loss (`None`: `params`, `tokens`, `flops`,
    /// `loss`; a missing one of N, D and C is derived by C = 6ND).
    pub columns: ColumnMap,
    /// Column identifying a run (one loss curve) for Approach 1; without it
    /// rows with the same N are one run.
    pub run_col: Option<String>,
    /// Approach 2's window: a factor in N around the lowest-loss run
    /// (greater than 1; infinite: every run).
    pub window: f64,
    /// Bootstrap replicates for the intervals of a and b (0: none).
    pub bootstrap: usize,
    pub seed: u64,
    /// A `scalelab.fit/1` file to add as Approach 3.
    pub fit: Option<PathBuf>,
}

impl IsoflopRequest {
    /// A request with the CLI's defaults for the table at `runs`.
    pub fn new(runs: impl Into<PathBuf>) -> Self {
        IsoflopRequest {
            runs: runs.into(),
            filters: Vec::new(),
            group_by: Vec::new(),
            columns: ColumnMap::default(),
            run_col: None,
            window: 4.0,
            bootstrap: 1000,
            seed: 0,
            fit: None,
        }
    }
}

/// Approach 1's exponents and the lower envelope they were fitted to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Approach1Result {
    #[serde(flatten)]
    pub exponents: Exponents,
    pub envelope: Vec<EnvelopePoint>,
}

/// The exponents of each approach that could be computed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Approaches {
    pub approach2: Exponents,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approach1: Option<Approach1Result>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approach3: Option<Exponents>,
}

impl Approaches {
    /// The approaches in the order they are shown: 2, 1, 3.
    pub fn named(&self) -> Vec<(&'static str, &Exponents)> {
        let mut v = vec![("Approach 2", &self.approach2)];
        if let Some(a1) = &self.approach1 {
            v.push(("Approach 1", &a1.exponents));
        }
        if let Some(a3) = &self.approach3 {
            v.push(("Approach 3", a3));
        }
        v
    }
}

/// The analysis of one set of runs (the whole table, or one group).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    /// Rows analysed.
    pub n_runs: usize,
    /// Approach 2's exponents (repeated from `approaches`).
    pub a: f64,
    pub b: f64,
    pub a_ci95: Option<[f64; 2]>,
    pub b_ci95: Option<[f64; 2]>,
    /// Approach 2's optimum of each budget, and the budgets without one.
    pub optima: Vec<BudgetOptimum>,
    pub skipped: Vec<SkippedBudget>,
    pub approaches: Approaches,
    pub warnings: Vec<Warning>,
    /// The group's value of the `group_by` column (with several columns,
    /// their values joined by `,`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// What the user should know about the data (a derived column, the
    /// rows kept by the filters).
    pub notes: Vec<String>,
}

/// A group that could not be analysed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FailedGroup {
    pub group: Option<String>,
    /// Why (the whole message, as the CLI prints it after `error:` is
    /// [`FailedGroup::message`]).
    pub error: String,
    /// Rows of the group.
    #[serde(skip)]
    pub n_runs: usize,
    #[serde(skip)]
    pub notes: Vec<String>,
}

/// The result of one group.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum GroupResult {
    Analysed(Box<Analysis>),
    Failed(FailedGroup),
}

impl GroupResult {
    pub fn group(&self) -> Option<&str> {
        match self {
            GroupResult::Analysed(a) => a.group.as_deref(),
            GroupResult::Failed(f) => f.group.as_deref(),
        }
    }
    pub fn n_runs(&self) -> usize {
        match self {
            GroupResult::Analysed(a) => a.n_runs,
            GroupResult::Failed(f) => f.n_runs,
        }
    }
    pub fn notes(&self) -> &[String] {
        match self {
            GroupResult::Analysed(a) => &a.notes,
            GroupResult::Failed(f) => &f.notes,
        }
    }
}

/// The `scalelab.isoflop/1` report: the request's settings, then either the
/// analysis of the whole table or (with `group_by`) one result per group.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IsoflopReport {
    pub schema: String,
    /// The table as given.
    pub runs: String,
    #[serde(rename = "where")]
    pub filters: Vec<String>,
    pub window: f64,
    pub bootstrap: usize,
    pub seed: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<GroupResult>>,
    /// Without `group_by`: the analysis of the whole table.
    #[serde(flatten)]
    pub analysis: Option<Analysis>,
    /// Runs left out of the table (unfinished sweep runs); not part of the
    /// JSON, which reports the analysis.
    #[serde(skip)]
    pub left_out: Vec<Warning>,
}

impl IsoflopReport {
    /// Every group's result, in order (one, without `group_by`).
    pub fn results(&self) -> Vec<GroupResult> {
        match (&self.groups, &self.analysis) {
            (Some(g), _) => g.clone(),
            (None, Some(a)) => vec![GroupResult::Analysed(Box::new(a.clone()))],
            (None, None) => Vec::new(),
        }
    }

    /// Whether no group could be analysed.
    pub fn all_failed(&self) -> bool {
        match (&self.groups, &self.analysis) {
            (Some(g), _) => g.iter().all(|r| matches!(r, GroupResult::Failed(_))),
            (None, a) => a.is_none(),
        }
    }

    /// The message of a failed group, as shown to the user.
    pub fn failure_message(&self, f: &FailedGroup) -> String {
        match (&f.group, &self.group_by) {
            (Some(n), Some(col)) => format!("{col} = {n}: {}", f.error),
            _ => format!("{}: {}", self.runs, f.error),
        }
    }
}

/// The table (filtered, unfinished runs dropped) and the fit, read and
/// checked.
pub struct IsoflopInput {
    pub table: Table,
    /// Notes about the rows kept.
    pub notes: Vec<String>,
    /// Runs left out (a sweep's failed or unfinished runs).
    pub warnings: Vec<Warning>,
    pub fit: Option<FitFile>,
}

/// Reads the fit file (if any) and the table of runs.
pub fn load(req: &IsoflopRequest) -> Result<IsoflopInput> {
    prepare(req, None)
}

/// [`load`] for a table already in memory (e.g. a DataFrame): the same
/// checks, filters and drop of unfinished runs; `req.runs` only names it.
pub fn load_from_table(req: &IsoflopRequest, table: Table) -> Result<IsoflopInput> {
    prepare(req, Some(table))
}

fn prepare(req: &IsoflopRequest, table: Option<Table>) -> Result<IsoflopInput> {
    if req.window.is_nan() || req.window <= 1.0 {
        return Err(Error::flag(
            "--window",
            format!(
                "--window must be a factor greater than 1 (or inf), got {}",
                req.window
            ),
        ));
    }
    let fit = match &req.fit {
        Some(p) => Some(read_plannable_fit(p)?),
        None => None,
    };
    let kept = match table {
        Some(t) => crate::runs::filter_table(t, &req.filters)?,
        None => crate::runs::load_table(&req.runs, &req.filters)?,
    };
    Ok(IsoflopInput {
        table: kept.table,
        notes: kept.notes,
        warnings: kept.warnings,
        fit,
    })
}

/// Reads a `scalelab.fit/1` file whose law has a compute-optimal
/// allocation (a law of both N and D).
pub(crate) fn read_plannable_fit(p: &Path) -> Result<FitFile> {
    let f = read_fit(p).map_err(|e| Error::input(p, None, e.0))?;
    plan::LossSurface::new(f.law.as_ref(), &f.params, &six_n)
        .map_err(|e| Error::input(p, None, format!("fit file {}: {e}", p.display())))?;
    Ok(f)
}

/// Analyses the runs of `input`, each group separately with `group_by`.
/// A group that fails is reported as such; with a single group (no
/// `group_by`), a failure is an error.
pub fn analyse(
    req: &IsoflopRequest,
    input: &IsoflopInput,
    progress: &dyn Progress,
) -> Result<IsoflopReport> {
    let opts = IsoflopOptions {
        window: req.window,
        bootstrap: req.bootstrap,
        seed: req.seed,
        budget_rel_tol: 10f64.powf(BUDGET_LOG10_TOL) - 1.0,
    };
    let table = &input.table;
    // a text column named by a flag, the flag named in the error
    let flag_column = |t: &Table, col: &str, flag: &str| -> Result<Vec<String>> {
        t.text_column(col)
            .map_err(|e| Error::flag(flag, format!("{flag} {col}: {e}")))
    };
    let groups: Vec<(Option<String>, Table)> = if req.group_by.is_empty() {
        vec![(None, table.clone())]
    } else {
        // each row's values of the columns, joined by `,`
        let mut keys = vec![String::new(); table.len()];
        for (i, col) in req.group_by.iter().enumerate() {
            for (k, v) in keys.iter_mut().zip(flag_column(table, col, "--group-by")?) {
                if i > 0 {
                    k.push(',');
                }
                k.push_str(&v);
            }
        }
        let mut names: Vec<String> = keys.clone();
        names.sort();
        names.dedup();
        names
            .into_iter()
            .map(|name| {
                let keep: Vec<bool> = keys.iter().map(|k| *k == name).collect();
                (Some(name), table.retain_rows(&keep))
            })
            .collect()
    };
    let task = Task::begin(progress, "isoflop", Some(groups.len() as u64), "groups");
    let mut results = Vec::new();
    for (name, t) in &groups {
        // A designed sweep's runs.csv says which budget each run belongs to.
        let by_design = req.columns.flops.is_none()
            && t.column_index(BUDGET_COLUMN).is_some()
            && t.positive_column(BUDGET_COLUMN).is_ok();
        let mut columns = req.columns.clone();
        if by_design {
            columns.flops = Some(BUDGET_COLUMN.into());
        }
        let mut loaded = t.observations(&columns, &[Variable::N, Variable::D, Variable::C])?;
        loaded.notes.splice(0..0, input.notes.iter().cloned());
        let runs = match &req.run_col {
            Some(c) => Some(flag_column(t, c, "--run-col")?),
            None => None,
        };
        match analyse_one(&loaded.obs, runs.as_deref(), &opts, input.fit.as_ref()) {
            Ok(mut a) => {
                a.group = name.clone();
                let mut notes = loaded.notes;
                if by_design {
                    notes.push(format!(
                        "runs grouped into {} budgets by the design's '{BUDGET_COLUMN}' column \
                         (--flops-col flops groups them by their own FLOPs instead)",
                        a.optima.len() + a.skipped.len()
                    ));
                }
                notes.append(&mut a.notes);
                a.notes = notes;
                results.push(GroupResult::Analysed(Box::new(a)));
            }
            Err(e) => {
                if groups.len() == 1 {
                    let msg = match name {
                        Some(n) => {
                            format!("{} = {n}: {e}", req.group_by.join(","))
                        }
                        None => format!("{}: {e}", req.runs.display()),
                    };
                    return Err(Error::failed(msg));
                }
                results.push(GroupResult::Failed(FailedGroup {
                    group: name.clone(),
                    error: e,
                    n_runs: loaded.obs.len(),
                    notes: loaded.notes,
                }));
            }
        }
        task.inc(1);
    }
    let mut report = IsoflopReport {
        schema: SCHEMA.into(),
        runs: req.runs.display().to_string(),
        filters: req.filters.clone(),
        window: req.window,
        bootstrap: req.bootstrap,
        seed: req.seed,
        group_by: None,
        groups: None,
        analysis: None,
        left_out: input.warnings.clone(),
    };
    if req.group_by.is_empty() {
        if let Some(GroupResult::Analysed(a)) = results.pop() {
            report.analysis = Some(*a);
        }
    } else {
        report.group_by = Some(req.group_by.join(","));
        report.groups = Some(results);
    }
    Ok(report)
}

/// [`load`] then [`analyse`].
pub fn run(req: &IsoflopRequest, progress: &dyn Progress) -> Result<IsoflopReport> {
    let input = load(req)?;
    analyse(req, &input, progress)
}

/// Approach 3 from a fit: the slope of ln N_opt (ln D_opt) against ln C over
/// the table's budget range, for the point estimate and every draw.
fn approach3(fit: &FitFile, c_lo: f64, c_hi: f64) -> Result<Exponents, String> {
    let budgets: Vec<f64> = (0..5)
        .map(|k| (c_lo.ln() + (c_hi.ln() - c_lo.ln()) * k as f64 / 4.0).exp())
        .collect();
    let slopes = |p: &[f64]| -> Result<(f64, f64, f64, f64), String> {
        let mut lc = Vec::new();
        let mut ln = Vec::new();
        let mut ld = Vec::new();
        for &c in &budgets {
            let a = plan::optimum(fit.law.as_ref(), p, c, &six_n, Some(6.0))
                .map_err(|e| e.to_string())?;
            lc.push(c.ln());
            ln.push(a.n.ln());
            ld.push(a.d.ln());
        }
        let (n0, a) = fit_line(&lc, &ln).ok_or("degenerate budgets")?;
        let (d0, b) = fit_line(&lc, &ld).ok_or("degenerate budgets")?;
        Ok((a, b, n0, d0))
    };
    let (a, b, n0, d0) = slopes(&fit.params)?;
    let draws: Vec<(f64, f64)> = fit
        .draws
        .iter()
        .filter_map(|p| slopes(p).ok().map(|s| (s.0, s.1)))
        .collect();
    Ok(Exponents {
        a,
        b,
        a_ci95: interval_over(&draws, |d| Some(d.0)),
        b_ci95: interval_over(&draws, |d| Some(d.1)),
        ln_n0: n0,
        ln_d0: d0,
        bootstrap_ok: draws.len(),
    })
}

/// The analysis of one set of runs; the error is Approach 2's.
fn analyse_one(
    obs: &Observations,
    runs: Option<&[String]>,
    opts: &IsoflopOptions,
    fit: Option<&FitFile>,
) -> Result<Analysis, String> {
    let mut warnings = Vec::new();
    let mut notes = Vec::new();
    // Loss curves (a run on several rows): Approach 2 takes each run's
    // final point, the loss it reached at its budget.
    let finals = runs.and_then(|keys| {
        let ids = run_ids(keys);
        let n_runs = ids.iter().copied().max().map_or(0, |m| m + 1);
        if n_runs == ids.len() {
            return None;
        }
        let mut last: Vec<Option<usize>> = vec![None; n_runs];
        for (i, &r) in ids.iter().enumerate() {
            if last[r].is_none_or(|j| obs.c[i] > obs.c[j]) {
                last[r] = Some(i);
            }
        }
        Some(last.into_iter().flatten().collect::<Vec<usize>>())
    });
    let a2_obs = match &finals {
        Some(idx) => {
            notes.push(format!(
                "Approach 2 uses each run's final row ({} runs of {} rows)",
                idx.len(),
                obs.len()
            ));
            obs.select(idx)
        }
        None => obs.clone(),
    };
    let budgets = group_budgets(&a2_obs, opts.budget_rel_tol);
    let r2 = approach2(&a2_obs, opts).map_err(|e| {
        let mut m = e.to_string();
        if budgets.len() == a2_obs.len() && a2_obs.len() > 2 {
            m.push_str(&format!(
                "; every run is its own budget (no two runs' FLOPs agree within {BUDGET_LOG10_TOL} \
                 decades): name a column of budgets with --flops-col"
            ));
        }
        m
    })?;
    let mut distinct: Vec<f64> = a2_obs.c.clone();
    distinct.sort_by(|a, b| a.total_cmp(b));
    distinct.dedup();
    if distinct.len() > budgets.len() {
        notes.push(format!(
            "{} runs grouped into {} budgets: FLOPs within {BUDGET_LOG10_TOL} decades (log10) \
             of each other are one budget, shown as its median run's FLOPs",
            a2_obs.len(),
            budgets.len()
        ));
    }
    let e2 = &r2.exponents;
    let ids = match runs {
        Some(keys) => run_ids(keys),
        None => run_ids_by_size(obs),
    };
    let approach1 = match approach1(obs, &ids, opts) {
        Ok(r1) => Some(Approach1Result {
            exponents: r1.exponents,
            envelope: r1.envelope,
        }),
        Err(e) => {
            warnings.push(Warning::new(
                WarningKind::Other,
                format!("Approach 1 unavailable: {e}"),
            ));
            None
        }
    };
    let mut approach3_result = None;
    if let Some(fit) = fit {
        let c_lo = obs.c.iter().copied().fold(f64::INFINITY, f64::min);
        let c_hi = obs.c.iter().copied().fold(0.0, f64::max);
        match approach3(fit, c_lo, c_hi) {
            Ok(e3) => approach3_result = Some(e3),
            Err(e) => warnings.push(Warning::new(
                WarningKind::Other,
                format!("Approach 3 unavailable: {e}"),
            )),
        }
    }
    let approaches = Approaches {
        approach2: e2.clone(),
        approach1,
        approach3: approach3_result,
    };
    warnings.extend(
        disagreements(&approaches.named())
            .into_iter()
            .map(|w| Warning::new(WarningKind::Fit, w)),
    );
    if r2.optima.len() < 4 {
        warnings.push(Warning::new(
            WarningKind::Design,
            format!(
                "only {} budgets gave an optimum: the exponents rest on few points",
                r2.optima.len()
            ),
        ));
    }
    Ok(Analysis {
        n_runs: obs.len(),
        a: e2.a,
        b: e2.b,
        a_ci95: e2.a_ci95,
        b_ci95: e2.b_ci95,
        optima: r2.optima,
        skipped: r2.skipped,
        approaches,
        warnings,
        group: None,
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn synthetic(dir: &Path) -> PathBuf {
        let (alpha, a_true) = (0.34f64, 0.6f64);
        let beta = alpha * a_true / (1.0 - a_true);
        let (e, a, b) = (1.8, 400.0, 2000.0);
        let g = (alpha * a / (beta * b)).powf(1.0 / (alpha + beta));
        let mut s = String::from("params,tokens,flops,loss\n");
        for k in 0..5 {
            let c = 1e17 * 4f64.powi(k);
            let nopt = g * (c / 6.0).powf(a_true);
            for j in -4..=4 {
                let n = nopt * 2f64.powf(j as f64 * 0.5);
                let d = c / (6.0 * n);
                let l = e + a * n.powf(-alpha) + b * d.powf(-beta);
                s.push_str(&format!("{n},{d},{c},{l}\n"));
            }
        }
        let p = dir.join("runs.csv");
        std::fs::write(&p, s).unwrap();
        p
    }

    #[test]
    fn a_report_round_trips_through_its_json() {
        let dir = tempfile::tempdir().unwrap();
        let mut req = IsoflopRequest::new(synthetic(dir.path()));
        req.bootstrap = 20;
        let r = run(&req, &crate::Silent).unwrap();
        let a = r.analysis.as_ref().unwrap();
        assert!((a.a - 0.6).abs() < 0.02, "{}", a.a);
        let j = serde_json::to_value(&r).unwrap();
        assert_eq!(j["schema"], SCHEMA);
        assert!(j.get("groups").is_none());
        assert!(j["approaches"]["approach1"]["envelope"].is_array());
        let back: IsoflopReport = serde_json::from_value(j).unwrap();
        assert_eq!(back.analysis.unwrap().optima, a.optima);
    }

    /// The synthetic runs with each run's FLOPs off its budget by up to
    /// ±5% (as a sweep's exact counts are), optionally with the budgets in
    /// a `flops_budget` column.
    fn jittered(dir: &Path, with_budget: bool) -> PathBuf {
        let text = std::fs::read_to_string(synthetic(dir)).unwrap();
        let mut out = String::new();
        for (i, line) in text.lines().enumerate() {
            if i == 0 {
                out.push_str(line);
                out.push_str(if with_budget { ",flops_budget\n" } else { "\n" });
                continue;
            }
            let v: Vec<f64> = line.split(',').map(|x| x.parse().unwrap()).collect();
            let jitter = 1.0 + 0.05 * ((i % 5) as f64 - 2.0) / 2.0;
            let (n, d, c, l) = (v[0], v[1] * jitter, v[2] * jitter, v[3]);
            out.push_str(&format!("{n},{d},{c},{l}"));
            out.push_str(&if with_budget {
                format!(",{}\n", v[2])
            } else {
                "\n".into()
            });
        }
        let p = dir.join(if with_budget {
            "budget.csv"
        } else {
            "jitter.csv"
        });
        std::fs::write(&p, out).unwrap();
        p
    }

    #[test]
    fn runs_are_grouped_by_tolerance_or_by_the_budget_column() {
        let dir = tempfile::tempdir().unwrap();
        for with_budget in [false, true] {
            let mut req = IsoflopRequest::new(jittered(dir.path(), with_budget));
            req.bootstrap = 0;
            let r = run(&req, &crate::Silent).unwrap();
            let a = r.analysis.unwrap();
            assert_eq!(a.optima.len() + a.skipped.len(), 5, "{:?}", a.notes);
            let notes = a.notes.join("\n");
            if with_budget {
                assert!(notes.contains("flops_budget"), "{notes}");
                assert_eq!(a.optima[0].flops, 1e17);
            } else {
                assert!(notes.contains("0.05 decades"), "{notes}");
            }
        }
    }

    #[test]
    fn a_bad_window_names_the_flag() {
        let mut req = IsoflopRequest::new("x.csv");
        req.window = 0.5;
        let e = run(&req, &crate::Silent).unwrap_err();
        assert!(matches!(e, Error::Flag { ref flag, .. } if flag == "--window"));
    }
}
