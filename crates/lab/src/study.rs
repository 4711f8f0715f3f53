//! The whole loop in one call: design (or the given runs) → sweep → fits →
//! IsoFLOP analysis → plan → backtest → summary, everything in one output
//! directory. With no study file it runs the embedded default study on the
//! synthetic language, whose true entropy rate is known, so the fitted
//! irreducible loss E can be checked against it. The result is a
//! [`StudyReport`], the `scalelab.study/1` schema as a type.

use crate::error::write_file;
use crate::fit::{FitReport, FitRequest, Holdout, HoldoutSummary};
use crate::plan::PlanRequest;
pub use crate::sweep::FailedRun;
use crate::sweep::LocalReport;
use crate::{Error, Event, Progress, Result, Task, Warning, WarningKind};
use scalelab_core::isoflop::{approach2, Approach2, IsoflopOptions};
use scalelab_sweep::{lock, prepare_dir};
use scalelab_tables::{ColumnMap, Table};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The embedded default study.
pub const DEFAULT_STUDY: &str = include_str!("default_study.toml");

/// The `schema` value of a study.
pub const STUDY_SCHEMA: &str = "scalelab.study/1";

/// What to study, and where.
#[derive(Clone, Debug)]
pub struct StudyRequest {
    /// The study file (TOML); `None`: the embedded default study.
    pub study: Option<PathBuf>,
    /// Output directory (re-used to resume).
    pub out: PathBuf,
    /// Runs at a time (default: one single-threaded run per core).
    pub jobs: Option<usize>,
    /// The command that made the study, recorded in the report's
    /// provenance.
    pub command: String,
}

impl StudyRequest {
    /// A request for the embedded default study in `out`.
    pub fn new(out: impl Into<PathBuf>) -> Self {
        StudyRequest {
            study: None,
            out: out.into(),
            jobs: None,
            command: String::new(),
        }
    }
}

/// The `[study]` table of a study file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StudySettings {
    #[serde(default = "d_factor")]
    target_factor: f64,
    target_flops: Option<f64>,
    #[serde(default = "d_boot")]
    bootstrap: usize,
    #[serde(default)]
    seed: u64,
    /// Train the recommended model (and its neighbours) at a verification
    /// budget beyond the pilots, and compare with the prediction.
    #[serde(default)]
    verify: bool,
    /// The verification budget over the largest pilot budget.
    #[serde(default = "d_verify_factor")]
    verify_factor: f64,
    /// Verification sizes as multiples of N* at the verification budget.
    #[serde(default = "d_verify_sizes")]
    verify_sizes: Vec<f64>,
}
/// The most bootstrap resamples a study takes (each is a refit).
pub const MAX_STUDY_BOOTSTRAP: usize = 100_000;

impl StudySettings {
    /// Values a study can use, checked before any run starts.
    fn check(&self) -> std::result::Result<(), String> {
        if !(self.target_factor.is_finite() && self.target_factor > 0.0) {
            return Err(format!(
                "target_factor must be a positive number (the planning budget over the pilots' compute), got {}",
                self.target_factor
            ));
        }
        if let Some(c) = self.target_flops {
            if !(c.is_finite() && c > 0.0 && c <= 1e35) {
                return Err(format!(
                    "target_flops must be a positive number of FLOPs up to 1e35, got {c}"
                ));
            }
        }
        if !(self.verify_factor.is_finite()
            && self.verify_factor > 0.0
            && self.verify_factor <= 1e6)
        {
            return Err(format!(
                "verify_factor must be a positive number up to 1e6 (the verification budget over the largest pilot budget), got {}",
                self.verify_factor
            ));
        }
        if self.verify_sizes.is_empty() || self.verify_sizes.len() > MAX_VERIFY_SIZES {
            return Err(format!(
                "verify_sizes must list 1 to {MAX_VERIFY_SIZES} multiples of N*, got {}",
                self.verify_sizes.len()
            ));
        }
        for (i, &k) in self.verify_sizes.iter().enumerate() {
            if !(k.is_finite() && k > 0.0 && k <= 1e3) {
                return Err(format!(
                    "verify_sizes[{i}] must be a positive multiple of N* up to 1000, got {k}"
                ));
            }
            if self.verify_sizes[..i].contains(&k) {
                return Err(format!("verify_sizes[{i}]: {k} is listed twice"));
            }
        }
        if !self.verify_sizes.contains(&1.0) {
            return Err(format!(
                "verify_sizes must include 1 (the recommended size N* itself), got {:?}",
                self.verify_sizes
            ));
        }
        if self.bootstrap > MAX_STUDY_BOOTSTRAP {
            return Err(format!(
                "bootstrap must be at most {MAX_STUDY_BOOTSTRAP}, got {}",
                self.bootstrap
            ));
        }
        Ok(())
    }
}

fn d_factor() -> f64 {
    100.0
}
fn d_boot() -> usize {
    400
}
fn d_verify_factor() -> f64 {
    4.0
}
fn d_verify_sizes() -> Vec<f64> {
    vec![0.5, 1.0, 2.0]
}
/// The most verification sizes a study trains.
pub const MAX_VERIFY_SIZES: usize = 8;
/// The verdict's bound on the recommended model's relative error.
pub const VERIFY_TOLERANCE: f64 = 0.02;

/// One verification run: a model of `size_factor` × N* trained at the
/// verification budget, its predicted and measured loss.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VerificationRun {
    pub run: String,
    /// The multiple of N* asked for (the shape rule rounds the size).
    pub size_factor: f64,
    /// Non-embedding parameters of the shape trained.
    pub params: f64,
    pub tokens: f64,
    /// 6 N D.
    pub flops: f64,
    /// The Chinchilla fit's prediction at (N, D).
    pub predicted: f64,
    pub ci95: Option<[f64; 2]>,
    pub pi95: [f64; 2],
    /// The run's final validation loss (`null` when it failed).
    pub measured: f64,
    /// predicted / measured − 1.
    pub rel_error: f64,
    pub inside_pi95: bool,
    /// `done` or `failed`.
    pub status: String,
}

/// The verdict on a verification (see [`verdict`]).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// predicted / measured − 1 of the N* run.
    pub rel_error: f64,
    /// |rel_error| < [`VERIFY_TOLERANCE`].
    pub within_tolerance: bool,
    /// The N* run's measured loss lies in its 95% prediction interval.
    pub inside_pi95: bool,
    /// The noise allowed when comparing sizes: σ × measured(N*).
    pub noise: f64,
    /// measured(N*) ≤ min(measured of the other sizes) + noise; `None`
    /// without another size measured.
    pub n_opt_best: Option<bool>,
    /// within_tolerance and inside_pi95 (and n_opt_best where known).
    pub passed: bool,
}

/// The verdict rule, a pure function: the recommended (N*) run predicted
/// at `predicted` with prediction interval `pi95` measured `measured`;
/// `others` the measured losses of the other sizes at the same budget;
/// `sigma` the fit's residual scatter (relative loss). The prediction
/// holds when |predicted/measured − 1| < 2% and the measured loss is inside
/// the interval; N* is best within noise when its measured loss is at most
/// the best other size's plus σ × measured(N*). Non-finite losses count
/// as failures (a failed other size is left out of the comparison).
pub fn verdict(
    predicted: f64,
    pi95: [f64; 2],
    measured: f64,
    others: &[f64],
    sigma: f64,
) -> Verdict {
    let rel_error = predicted / measured - 1.0;
    let within_tolerance = rel_error.is_finite() && rel_error.abs() < VERIFY_TOLERANCE;
    let inside_pi95 = measured.is_finite() && pi95[0] <= measured && measured <= pi95[1];
    let noise = if sigma.is_finite() && sigma >= 0.0 {
        sigma * measured
    } else {
        0.0
    };
    let best_other = others
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .fold(f64::INFINITY, f64::min);
    let n_opt_best = best_other
        .is_finite()
        .then(|| measured.is_finite() && measured <= best_other + noise);
    Verdict {
        rel_error,
        within_tolerance,
        inside_pi95,
        noise: fin(noise),
        n_opt_best,
        passed: within_tolerance && inside_pi95 && n_opt_best != Some(false),
    }
}

/// The verification stage of a study (`verify = true`): the recommended
/// model N* at the verification budget, and the other sizes beside it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Verification {
    /// The verification budget C_v = verify_factor × the largest pilot
    /// budget.
    pub flops: f64,
    pub verify_factor: f64,
    pub largest_pilot_flops: f64,
    /// The plan at C_v: N* and D* = C_v / (6 N*).
    pub n_opt: f64,
    pub d_opt: f64,
    /// The fit's residual scatter σ (relative loss) behind the noise.
    pub sigma: f64,
    /// By size factor.
    pub runs: Vec<VerificationRun>,
    /// The verdict; `None` when the N* run did not finish.
    pub verdict: Option<Verdict>,
    pub runs_failed: Vec<FailedRun>,
    pub sweep_seconds: f64,
    /// The verification sweep (its own plan.json, runs/, runs.csv).
    pub dir: String,
}

/// The power laws in N, D and C (one whose fit failed is absent, with a
/// warning).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PowerLaws {
    #[serde(rename = "power-n", default, skip_serializing_if = "Option::is_none")]
    pub power_n: Option<FitReport>,
    #[serde(rename = "power-d", default, skip_serializing_if = "Option::is_none")]
    pub power_d: Option<FitReport>,
    #[serde(rename = "power-c", default, skip_serializing_if = "Option::is_none")]
    pub power_c: Option<FitReport>,
}

/// 95% intervals of the study's plan (each absent without enough draws).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StudyPlanCi {
    pub n_opt: Option<[f64; 2]>,
    pub d_opt: Option<[f64; 2]>,
    pub tokens_per_param: Option<[f64; 2]>,
    pub loss_pred: Option<[f64; 2]>,
}

/// The compute-optimal plan for the study's target budget (6N convention).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StudyPlan {
    pub flops: f64,
    pub n_opt: f64,
    pub d_opt: f64,
    pub tokens_per_param: f64,
    pub loss_pred: f64,
    pub ci95: StudyPlanCi,
    pub convention: String,
}

/// The fitted E against the synthetic language's known floor.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Truth {
    pub entropy_rate: f64,
    pub floor: f64,
    pub context: usize,
    #[serde(rename = "fitted_E")]
    pub fitted_e: f64,
    pub rel_error_vs_floor: f64,
}

/// A `scalelab.study/1` object (study.json).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StudyReport {
    /// Always [`STUDY_SCHEMA`].
    pub schema: String,
    pub name: String,
    /// Pilot runs planned.
    pub runs: usize,
    /// Pilot runs done (now or before).
    pub runs_done: usize,
    pub runs_failed: Vec<FailedRun>,
    /// Total compute of the pilot runs (6ND).
    pub pilot_flops: f64,
    pub sweep_seconds: f64,
    pub seconds: f64,
    /// The Chinchilla fit, with bootstrap intervals and the backtest.
    pub fit: FitReport,
    pub power_laws: PowerLaws,
    /// IsoFLOP Approach 2 (when the runs were designed at FLOP budgets).
    pub isoflop: Option<serde_json::Value>,
    pub plan: StudyPlan,
    /// The holdout of the Chinchilla fit.
    pub backtest: Option<HoldoutSummary>,
    pub truth: Option<Truth>,
    /// The verification run (`verify = true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification: Option<Verification>,
    pub warnings: Vec<Warning>,
    pub version: String,
}

/// A finished study: the report (study.json), the summary text
/// (summary.txt) and the HTML report's path.
#[derive(Clone, Debug)]
pub struct StudyOutcome {
    pub report: StudyReport,
    pub summary: String,
    pub report_html: PathBuf,
}

fn sig(v: f64) -> String {
    scalelab_report::html::num(v)
}

/// A number as the JSON file holds it: non-finite values are `null`, read
/// back as NaN.
fn fin(v: f64) -> f64 {
    if v.is_finite() {
        v
    } else {
        f64::NAN
    }
}

fn note(progress: &dyn Progress, message: &str) {
    progress.event(&Event::Note { id: 0, message });
}

fn write_json<T: Serialize>(path: &Path, v: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(v).map_err(|e| Error::failed(e.to_string()))?;
    write_file(&path.display().to_string(), path, text.as_bytes())
}

/// Runs a study: every file it writes lands in `req.out`.
pub fn study(req: &StudyRequest, progress: &dyn Progress) -> Result<StudyOutcome> {
    let t0 = std::time::Instant::now();
    let out = &req.out;
    std::fs::create_dir_all(out).map_err(|e| Error::io("cannot create --out", out, e))?;
    let _lock = lock::lock(out)?;
    let text = match &req.study {
        Some(p) => {
            std::fs::read_to_string(p).map_err(|e| Error::io("cannot read study file", p, e))?
        }
        None => DEFAULT_STUDY.to_string(),
    };
    // The study file is copied into DIR so the study is self-describing;
    // a given file is read in place (relative paths inside it stay valid).
    let copy = out.join("study.toml");
    crate::write_atomic(&copy, text.as_bytes()).map_err(|e| Error::io("cannot write", &copy, e))?;
    let study_path = req.study.clone().unwrap_or(copy);
    let (plan, file) = crate::sweep::load_file(&study_path)?;
    let settings: StudySettings = match &file.study {
        Some(t) => t.clone().try_into().map_err(|e: toml::de::Error| {
            Error::input(
                &study_path,
                None,
                format!(
                    "{}: [study]: {}",
                    study_path.display(),
                    e.to_string().trim()
                ),
            )
        })?,
        None => toml::Table::new().try_into().expect("defaults"),
    };
    settings.check().map_err(|m| {
        Error::input(
            &study_path,
            None,
            format!("{}: [study]: {m}", study_path.display()),
        )
    })?;
    prepare_dir(out, &plan)?;
    let jobs = req
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    note(
        progress,
        &format!(
            "study {}: {} pilot runs in {}",
            plan.name,
            plan.runs.len(),
            out.display()
        ),
    );
    let rep = run_sweep(out, &plan, jobs.max(1), progress)?;
    let sweep_s = rep.seconds;
    let runs_csv = out.join("runs.csv");

    // ---- fits -----------------------------------------------------------
    let table = Table::read(&runs_csv)?;
    // the compute the pilots spent: a WSD ladder's `flops_spent` (its
    // branches' `flops` are those of full runs to their D, which the law
    // needs, but they share their parent's stable phase)
    let spent_column = if table.column_index("flops_spent").is_some() {
        "flops_spent"
    } else {
        "flops"
    };
    let status = table.column_index("status");
    let flops: Vec<f64> = table
        .column_index(spent_column)
        .map(|c| {
            table
                .rows
                .iter()
                .filter(|r| status.is_none_or(|k| r[k].display() == "done"))
                .filter_map(|r| match &r[c] {
                    scalelab_tables::Cell::Num(v) => Some(*v),
                    scalelab_tables::Cell::Str(s) => s.trim().parse::<f64>().ok(),
                    scalelab_tables::Cell::Null => None,
                })
                .filter(|v| v.is_finite() && *v > 0.0)
                .collect()
        })
        .unwrap_or_default();
    let budgets: Vec<f64> = {
        let mut b: Vec<f64> = plan.runs.iter().filter_map(|r| r.flops_budget).collect();
        b.sort_by(f64::total_cmp);
        b.dedup_by(|x, y| (*x / *y - 1.0).abs() < 1e-9);
        b
    };
    let total_flops: f64 = flops.iter().sum();
    // Backtest: hold out the largest budget (or the top fifth by compute).
    let holdout = if budgets.len() >= 3 {
        let k = budgets.len();
        Holdout::AboveFlops((budgets[k - 1] * budgets[k - 2]).sqrt())
    } else {
        Holdout::Largest((plan.runs.len() / 5).max(1))
    };
    let chin_req = FitRequest {
        table: runs_csv.clone(),
        law: "chinchilla".into(),
        bootstrap: settings.bootstrap,
        seed: settings.seed,
        holdout: Some(holdout),
        rollout: true,
        ..Default::default()
    };
    let chin = crate::fit::fit_table(&chin_req, table.clone(), progress)
        .map_err(|e| Error::failed(format!("fitting the Chinchilla law to the pilot runs: {e}")))?;
    write_json(&out.join("fit.json"), &chin)?;
    let mut warnings = chin.warnings.clone();
    let mut power = PowerLaws::default();
    for law in ["power-n", "power-d", "power-c"] {
        let req = FitRequest {
            table: runs_csv.clone(),
            law: law.into(),
            ..Default::default()
        };
        match crate::fit::fit_table(&req, table.clone(), progress) {
            Ok(r) => {
                write_json(&out.join(format!("fit-{law}.json")), &r)?;
                match law {
                    "power-n" => power.power_n = Some(r),
                    "power-d" => power.power_d = Some(r),
                    _ => power.power_c = Some(r),
                }
            }
            Err(e) => warnings.push(Warning::new(WarningKind::Fit, format!("{law}: {e}"))),
        }
    }

    // ---- IsoFLOP (Approach 2) --------------------------------------------
    let isoflop: Option<Approach2> = if budgets.len() >= 2 {
        let map = ColumnMap {
            flops: Some("flops_budget".into()),
            ..Default::default()
        };
        // finished runs; a WSD ladder's stable-phase parents are not
        // end-of-training points (their branches are)
        let done: Vec<bool> = {
            let c = table.require_column("status")?;
            let sched = table.column_index("schedule");
            table
                .rows
                .iter()
                .map(|r| {
                    r[c].display() == "done" && sched.is_none_or(|k| r[k].display() != "stable")
                })
                .collect()
        };
        let t = table.retain_rows(&done);
        let loaded = t.observations(&map, &[])?;
        let opts = IsoflopOptions {
            bootstrap: settings.bootstrap.max(100),
            seed: settings.seed,
            ..Default::default()
        };
        match approach2(&loaded.obs, &opts) {
            Ok(r) => {
                write_json(&out.join("isoflop.json"), &r)?;
                Some(r)
            }
            Err(e) => {
                warnings.push(Warning::new(
                    WarningKind::Other,
                    format!("IsoFLOP analysis: {e}"),
                ));
                None
            }
        }
    } else {
        None
    };

    // ---- plan -------------------------------------------------------------
    let target = settings
        .target_flops
        .unwrap_or(settings.target_factor * total_flops);
    let plan_req = PlanRequest {
        flops: vec![target],
        ..Default::default()
    };
    let planned = crate::plan::plan_fit(&plan_req, &chin, "fit.json").map_err(|e| {
        let prefix = format!("--flops {target:e}: ");
        let msg = e.to_string();
        Error::failed(format!(
            "plan at {target:e} FLOPs: {}",
            msg.strip_prefix(&prefix).unwrap_or(&msg)
        ))
    })?;
    let opt = planned
        .plans
        .and_then(|p| p.into_iter().next())
        .ok_or_else(|| Error::failed(format!("plan at {target:e} FLOPs: no plan")))?;
    let ci = opt.ci95.as_ref();
    let plan_v = StudyPlan {
        flops: target,
        n_opt: opt.n_opt,
        d_opt: opt.d_opt,
        tokens_per_param: opt.tokens_per_param,
        loss_pred: opt.loss_pred,
        ci95: StudyPlanCi {
            n_opt: ci.map(|c| c.n_opt),
            d_opt: ci.map(|c| c.d_opt),
            tokens_per_param: ci.map(|c| c.tokens_per_param),
            loss_pred: ci.map(|c| c.loss_pred),
        },
        convention: "6N (C = 6ND, N non-embedding)".into(),
    };

    // ---- verification -----------------------------------------------------
    let verification = if settings.verify {
        // the largest budget of an IsoFLOP design; otherwise the largest
        // compute at which a pilot's final loss was measured (a WSD
        // ladder's longest branch, not its stable phase)
        let largest = budgets
            .last()
            .copied()
            .unwrap_or_else(|| largest_point_flops(&table).unwrap_or(0.0));
        let v = run_verification(
            &VerifyInput {
                out,
                study_path: &study_path,
                study_text: &text,
                settings: &settings,
                fit: &chin,
                largest,
                jobs: jobs.max(1),
            },
            progress,
        )?;
        for f in &v.runs_failed {
            warnings.push(Warning::new(
                WarningKind::RunsLeftOut,
                format!("verification run {} failed: {}", f.run, f.reason),
            ));
        }
        Some(v)
    } else {
        None
    };

    // ---- truth ------------------------------------------------------------
    let cfg0 = &plan.runs[0].config;
    let truth = scalelab_sweep::data::known_floor(&cfg0.data, cfg0.seed, cfg0.context);
    let param = |k: &str| fin(chin.params.get(k).copied().unwrap_or(f64::NAN));
    let boot = chin.bootstrap.as_ref();
    let se = |k: &str| fin(boot.and_then(|b| b.se.get(k)).copied().unwrap_or(f64::NAN));
    let ci95 = |k: &str| -> Option<[f64; 2]> {
        boot.and_then(|b| b.ci95.get(k))
            .map(|c| [fin(c[0]), fin(c[1])])
    };
    let ci_at = |k: &str, i: usize| ci95(k).map_or(f64::NAN, |c| c[i]);
    let e_fit = param("E");

    // ---- summary ----------------------------------------------------------
    let mut s = String::new();
    let _ = writeln!(
        s,
        "study {}: {} pilot runs ({} done, {} failed), {:.2e} FLOPs in total (6ND), sweep {:.0} s",
        plan.name,
        plan.runs.len(),
        rep.done.len() + rep.skipped.len(),
        rep.failed.len(),
        total_flops,
        sweep_s
    );
    let _ = writeln!(s, "\nfitted law  {}", chin.formula);
    let _ = writeln!(
        s,
        "  {:<7} {:>12} {:>11}   95% interval ({} bootstrap resamples)",
        "", "estimate", "std. error", settings.bootstrap
    );
    for k in ["E", "A", "B", "alpha", "beta"] {
        let _ = writeln!(
            s,
            "  {:<7} {:>12} {:>11}   [{}, {}]",
            k,
            sig(param(k)),
            sig(se(k)),
            sig(ci_at(k, 0)),
            sig(ci_at(k, 1))
        );
    }
    let derived = |k: &str| fin(chin.derived.get(k).copied().unwrap_or(f64::NAN));
    let _ = writeln!(
        s,
        "  compute-optimal exponents a = {} [{}, {}], b = {} [{}, {}]",
        sig(derived("a")),
        sig(ci_at("a", 0)),
        sig(ci_at("a", 1)),
        sig(derived("b")),
        sig(ci_at("b", 0)),
        sig(ci_at("b", 1)),
    );
    if let Some(iso) = &isoflop {
        let e = &iso.exponents;
        let _ = writeln!(
            s,
            "  IsoFLOP (Approach 2, {} budgets): a = {}{}, b = {}{}",
            iso.optima.len(),
            sig(e.a),
            e.a_ci95
                .map(|c| format!(" [{}, {}]", sig(c[0]), sig(c[1])))
                .unwrap_or_default(),
            sig(e.b),
            e.b_ci95
                .map(|c| format!(" [{}, {}]", sig(c[0]), sig(c[1])))
                .unwrap_or_default(),
        );
    }
    let civ = |c: Option<[f64; 2]>| {
        c.map(|c| format!(" [{}, {}]", sig(c[0]), sig(c[1])))
            .unwrap_or_default()
    };
    let _ = writeln!(
        s,
        "\nplan for {:.3e} FLOPs ({}x the pilots' total):",
        target,
        sig(target / total_flops)
    );
    let _ = writeln!(s, "  N_opt = {}{}", sig(opt.n_opt), civ(plan_v.ci95.n_opt));
    let _ = writeln!(s, "  D_opt = {}{}", sig(opt.d_opt), civ(plan_v.ci95.d_opt));
    let _ = writeln!(
        s,
        "  tokens per parameter = {}{}",
        sig(opt.tokens_per_param),
        civ(plan_v.ci95.tokens_per_param)
    );
    let _ = writeln!(
        s,
        "  predicted loss = {}{}",
        sig(opt.loss_pred),
        civ(plan_v.ci95.loss_pred)
    );
    let backtest = chin.holdout.clone();
    if let Some(h) = &backtest {
        let _ = writeln!(
            s,
            "\nbacktest: fitted without {} ({} runs), predicted them:",
            h.rule, h.n_test
        );
        let _ = writeln!(
            s,
            "  mean |error| {:.2}%, max |error| {:.2}%, mean error {:+.2}%",
            100.0 * fin(h.mean_abs_rel_error),
            100.0 * fin(h.max_abs_rel_error),
            100.0 * fin(h.mean_rel_error),
        );
    }
    if let Some(r) = &chin.rollout {
        let _ = writeln!(
            s,
            "\nrollout backtest: fitted on the budgets up to each cut, predicted the runs above \
             ({} of {} inside their 95% prediction interval):",
            r.inside_pi95, r.n_points
        );
        for c in r.cuts.iter().filter(|c| c.failed.is_none()) {
            let _ = writeln!(
                s,
                "  cut at {:.3e} FLOPs ({} runs fitted, {} predicted): mean |error| {:.2}%, max |error| {:.2}%, mean error {:+.2}%",
                c.max_train_flops,
                c.n_train,
                c.n_held_out,
                100.0 * fin(c.mean_abs_rel_error),
                100.0 * fin(c.max_abs_rel_error),
                100.0 * fin(c.mean_rel_error),
            );
        }
        for b in &r.by_distance {
            let _ = writeln!(
                s,
                "  {:.2} to {:.2} decades beyond the cut ({} runs): mean |error| {:.2}%",
                b.lo_decades,
                b.hi_decades,
                b.n,
                100.0 * fin(b.mean_abs_rel_error),
            );
        }
    }
    if let Some((_, floor)) = truth {
        if opt.loss_pred < floor {
            warnings.push(Warning::new(
                WarningKind::Extrapolation,
                format!(
                    "the predicted loss at the target ({:.4}) is below the data's exact floor ({floor:.4}): the fitted E is too low, so the plan's loss is optimistic; more compute near the optimum would pin E down",
                    opt.loss_pred
                ),
            ));
        }
    }
    warnings.extend(
        plan.warnings
            .iter()
            .map(|w| Warning::new(WarningKind::Design, w.clone())),
    );
    let truth_v = match truth {
        Some((rate, floor)) => {
            let _ = writeln!(
                s,
                "\nirreducible loss: fitted E = {}{} vs the language's entropy rate {} \
                 (exact floor at context {}: {}); E is {:+.1}% off the floor",
                sig(e_fit),
                civ(ci95("E")),
                sig(rate),
                cfg0.context,
                sig(floor),
                100.0 * (e_fit / floor - 1.0)
            );
            Some(Truth {
                entropy_rate: rate,
                floor,
                context: cfg0.context,
                fitted_e: e_fit,
                rel_error_vs_floor: e_fit / floor - 1.0,
            })
        }
        None => None,
    };
    for w in &warnings {
        let _ = writeln!(s, "warning: {w}");
    }
    if let Some(v) = &verification {
        s = format!("{}\n{s}", headline(v));
    }
    let _ = writeln!(
        s,
        "\nfiles in {}: runs.csv, curves.csv, fit.json, fit-power-*.json{}{}, study.json, summary.txt, report.html ({:.0} s in all)",
        out.display(),
        if isoflop.is_some() { ", isoflop.json" } else { "" },
        if verification.is_some() { ", verify/" } else { "" },
        t0.elapsed().as_secs_f64()
    );
    let report = StudyReport {
        schema: STUDY_SCHEMA.into(),
        name: plan.name.clone(),
        runs: plan.runs.len(),
        runs_done: rep.done.len() + rep.skipped.len(),
        runs_failed: rep.failed.clone(),
        pilot_flops: total_flops,
        sweep_seconds: sweep_s,
        seconds: t0.elapsed().as_secs_f64(),
        fit: chin,
        power_laws: power,
        isoflop: isoflop
            .as_ref()
            .map(serde_json::to_value)
            .transpose()
            .map_err(|e| Error::failed(e.to_string()))?,
        plan: plan_v,
        backtest,
        truth: truth_v,
        verification,
        warnings,
        version: concat!("scalelab ", env!("CARGO_PKG_VERSION")).into(),
    };
    write_json(&out.join("study.json"), &report)?;
    write_file("summary.txt", &out.join("summary.txt"), s.as_bytes())?;
    let report_html = write_report(out, &req.command)?;
    Ok(StudyOutcome {
        report,
        summary: s,
        report_html,
    })
}

/// The largest `flops` (6ND) of a finished end-of-training row of a runs
/// table (a WSD ladder's stable-phase rows left out), if any.
fn largest_point_flops(table: &Table) -> Option<f64> {
    let c = table.column_index("flops")?;
    let status = table.column_index("status");
    let sched = table.column_index("schedule");
    table
        .rows
        .iter()
        .filter(|r| status.is_none_or(|k| r[k].display() == "done"))
        .filter(|r| sched.is_none_or(|k| r[k].display() != "stable"))
        .filter_map(|r| match &r[c] {
            scalelab_tables::Cell::Num(v) => Some(*v),
            scalelab_tables::Cell::Str(s) => s.trim().parse::<f64>().ok(),
            scalelab_tables::Cell::Null => None,
        })
        .filter(|v| v.is_finite() && *v > 0.0)
        .reduce(f64::max)
}

/// What the verification stage works from.
struct VerifyInput<'a> {
    out: &'a Path,
    study_path: &'a Path,
    study_text: &'a str,
    settings: &'a StudySettings,
    fit: &'a FitReport,
    /// The largest pilot budget (FLOPs).
    largest: f64,
    jobs: usize,
}

/// The name of the verification run of `k` × N*.
fn verify_run_name(k: f64) -> String {
    format!("verify-{k}x")
}

/// `k` × N* as the summary writes it.
fn size_label(k: f64) -> String {
    if k == 1.0 {
        "N*".into()
    } else if k < 1.0 && (1.0 / k - (1.0 / k).round()).abs() < 1e-9 {
        format!("N*/{}", (1.0 / k).round())
    } else {
        format!("{k}N*")
    }
}

/// The verification stage: plans N* at C_v = verify_factor × the largest
/// pilot budget, trains each size k·N* at C_v with the pilots' `[train]`
/// and `[schedule]` settings as a sweep of its own in `DIR/verify`
/// (resumable like the pilots: finished runs are skipped), and compares
/// each measured loss with the fit's prediction and intervals.
fn run_verification(v: &VerifyInput<'_>, progress: &dyn Progress) -> Result<Verification> {
    let c_v = v.settings.verify_factor * v.largest;
    if !(c_v.is_finite() && c_v > 0.0) {
        return Err(Error::failed(format!(
            "verification: no verification budget (largest pilot budget {:e} FLOPs)",
            v.largest
        )));
    }
    let plan_req = PlanRequest {
        flops: vec![c_v],
        ..Default::default()
    };
    let opt = crate::plan::plan_fit(&plan_req, v.fit, "fit.json")
        .map_err(|e| Error::failed(format!("verification: plan at {c_v:e} FLOPs: {e}")))?
        .plans
        .and_then(|p| p.into_iter().next())
        .ok_or_else(|| Error::failed(format!("verification: no plan at {c_v:e} FLOPs")))?;
    // The verification sweep file: the study's [train], [schedule],
    // [slurm] and [trainer], with one run per size at C_v.
    let bad = |e: String| Error::input(v.study_path, None, e);
    let doc: toml::Table = toml::from_str(v.study_text).map_err(|e| {
        bad(format!(
            "{}: {}",
            v.study_path.display(),
            e.to_string().trim()
        ))
    })?;
    let mut vf = toml::Table::new();
    let name = doc
        .get("name")
        .and_then(|n| n.as_str())
        .unwrap_or("study")
        .to_string();
    vf.insert("name".into(), format!("{name}-verify").into());
    for key in ["train", "schedule", "slurm", "trainer"] {
        if let Some(t) = doc.get(key) {
            vf.insert(key.into(), t.clone());
        }
    }
    // A WSD ladder's verification runs are plain WSD runs to their D (a
    // branch is bit for bit such a run): no cooldown branches of their own.
    if let Some(toml::Value::Table(schedule)) = vf.get_mut("schedule") {
        schedule.remove("branches");
    }
    // A relative data path was relative to the study file.
    if let Some(toml::Value::Table(train)) = vf.get_mut("train") {
        if let Some(toml::Value::String(d)) = train.get("data").cloned() {
            let p = Path::new(&d);
            if !(d == "random" || d.starts_with("synth")) && p.is_relative() {
                let beside = v.study_path.parent().unwrap_or(Path::new(".")).join(p);
                let found = if beside.exists() {
                    beside
                } else {
                    p.to_path_buf()
                };
                if let Ok(f) = found.canonicalize() {
                    train.insert("data".into(), f.display().to_string().into());
                }
            }
        }
    }
    // N* first: where the shape rule gives two sizes the same model (tiny
    // studies), the sweep trains it once under the first name, which must
    // be N*'s for the verdict.
    let mut sizes = v.settings.verify_sizes.clone();
    sizes.sort_by_key(|&k| k != 1.0);
    let runs: Vec<toml::Value> = sizes
        .iter()
        .map(|&k| {
            let mut r = toml::Table::new();
            r.insert("name".into(), verify_run_name(k).into());
            r.insert("params".into(), (k * opt.n_opt).into());
            r.insert("flops".into(), c_v.into());
            toml::Value::Table(r)
        })
        .collect();
    vf.insert("runs".into(), toml::Value::Array(runs));
    let dir = v.out.join("verify");
    std::fs::create_dir_all(&dir).map_err(|e| Error::io("cannot create", &dir, e))?;
    let file = dir.join("sweep.toml");
    let text = toml::to_string(&vf).map_err(|e| Error::failed(e.to_string()))?;
    write_file(&file.display().to_string(), &file, text.as_bytes())?;
    let (plan, _) = crate::sweep::load_file(&file)?;
    prepare_dir(&dir, &plan).map_err(|e| {
        Error::failed(format!(
            "verification: {e:#} (the plan at C_v moved since the last run: the pilots, \
             the fit or the [study] settings changed; delete {} to train the new plan)",
            dir.display()
        ))
    })?;
    note(
        progress,
        &format!(
            "verification: {} runs at {c_v:.3e} FLOPs ({}x the largest pilot budget) in {}",
            plan.runs.len(),
            v.settings.verify_factor,
            dir.display()
        ),
    );
    let rep = run_sweep(&dir, &plan, v.jobs, progress)?;

    // ---- predicted vs measured ---------------------------------------------
    let table = Table::read(dir.join("runs.csv"))?;
    let names = table.text_column("run")?;
    let status = table.text_column("status")?;
    let col = |k: &str| table.require_column(k);
    let (ci_n, ci_d, ci_l) = (col("params")?, col("tokens")?, col("loss")?);
    let sigma = v.fit.scatter();
    let mut out_runs = Vec::new();
    for &k in &v.settings.verify_sizes {
        let name = verify_run_name(k);
        let Some(i) = names.iter().position(|n| *n == name) else {
            continue; // the shape rule gave the same model as another size
        };
        let n = table.number_at(i, ci_n)?;
        let d = table.number_at(i, ci_d)?;
        let done = status[i] == "done";
        let measured = if done {
            table.number_at(i, ci_l).unwrap_or(f64::NAN)
        } else {
            f64::NAN
        };
        let p = crate::fit::predict_with_intervals(
            v.fit,
            &[scalelab_core::data::Covariates::from_nd(n, d)],
        )?
        .into_iter()
        .next()
        .ok_or_else(|| Error::failed("verification: no prediction"))?;
        out_runs.push(VerificationRun {
            run: name,
            size_factor: k,
            params: n,
            tokens: d,
            flops: 6.0 * n * d,
            predicted: fin(p.loss),
            ci95: p.ci95.map(|c| [fin(c[0]), fin(c[1])]),
            pi95: [fin(p.pi95[0]), fin(p.pi95[1])],
            measured: fin(measured),
            rel_error: fin(p.loss / measured - 1.0),
            inside_pi95: measured.is_finite() && p.pi95[0] <= measured && measured <= p.pi95[1],
            status: if done {
                "done".into()
            } else {
                status[i].clone()
            },
        });
    }
    let verdict = out_runs
        .iter()
        .find(|r| r.size_factor == 1.0 && r.measured.is_finite())
        .map(|star| {
            let others: Vec<f64> = out_runs
                .iter()
                .filter(|r| r.size_factor != 1.0)
                .map(|r| r.measured)
                .collect();
            verdict(star.predicted, star.pi95, star.measured, &others, sigma)
        });
    Ok(Verification {
        flops: c_v,
        verify_factor: v.settings.verify_factor,
        largest_pilot_flops: v.largest,
        n_opt: opt.n_opt,
        d_opt: opt.d_opt,
        sigma: fin(sigma),
        runs: out_runs,
        verdict,
        runs_failed: rep.failed.clone(),
        sweep_seconds: rep.seconds,
        dir: dir.display().to_string(),
    })
}

/// The summary's headline block for a verification.
fn headline(v: &Verification) -> String {
    let mut s = String::new();
    let star = v.runs.iter().find(|r| r.size_factor == 1.0);
    let _ = writeln!(
        s,
        "Verification at C = {:.3e} FLOPs ({}x the largest pilot budget): N* = {}, D* = {}",
        v.flops,
        v.verify_factor,
        sig(v.n_opt),
        sig(v.d_opt)
    );
    match (star, &v.verdict) {
        (Some(r), Some(vd)) => {
            let _ = writeln!(
                s,
                "  predicted L = {} [PI {}, {}], measured L = {} (error {:+.2}%): {}",
                sig(r.predicted),
                sig(r.pi95[0]),
                sig(r.pi95[1]),
                sig(r.measured),
                100.0 * vd.rel_error,
                if vd.inside_pi95 {
                    "inside the prediction interval"
                } else {
                    "outside the prediction interval"
                }
            );
            let others: Vec<String> = v
                .runs
                .iter()
                .filter(|o| o.size_factor != 1.0)
                .map(|o| format!("{}: L = {}", size_label(o.size_factor), sig(o.measured)))
                .collect();
            let best = match vd.n_opt_best {
                Some(true) => "yes",
                Some(false) => "no",
                None => "unknown (no other size measured)",
            };
            let _ = writeln!(
                s,
                "  {}{}N* best within noise (σ = {:.2}%): {}",
                others.join(", "),
                if others.is_empty() { "" } else { ": " },
                100.0 * v.sigma,
                best
            );
            let _ = writeln!(
                s,
                "  verdict: {} (|error| < {}% and inside the interval{})",
                if vd.passed { "passed" } else { "failed" },
                100.0 * VERIFY_TOLERANCE,
                if vd.n_opt_best.is_some() {
                    ", N* no worse than the other sizes beyond noise"
                } else {
                    ""
                }
            );
        }
        _ => {
            let _ = writeln!(s, "  the N* run did not finish: no verdict");
        }
    }
    s
}

/// Runs the sweep's pending runs, with the sweep's summary as notes.
fn run_sweep(
    dir: &Path,
    plan: &scalelab_sweep::spec::SweepPlan,
    jobs: usize,
    progress: &dyn Progress,
) -> Result<LocalReport> {
    let task = Task::begin(progress, "sweep", None, "runs");
    let rep = crate::sweep::run_local(dir, plan, jobs, None, progress)?;
    task.note(&rep.summary());
    for w in rep.warnings() {
        task.note(&format!("warning: {w}"));
    }
    Ok(rep)
}

/// The study's HTML report (report.html in `dir`).
fn write_report(dir: &Path, command: &str) -> Result<PathBuf> {
    crate::report::write_dir_report(dir, command)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ladders_largest_pilot_is_its_longest_branch_not_its_stable_phase() {
        use scalelab_tables::{Cell, Format};
        let row = |status: &str, schedule: &str, flops: f64| {
            vec![
                Cell::Str(status.into()),
                Cell::Str(schedule.into()),
                Cell::Num(flops),
            ]
        };
        let table = Table {
            path: PathBuf::from("runs.csv"),
            format: Format::Csv,
            columns: vec!["status".into(), "schedule".into(), "flops".into()],
            rows: vec![
                row("done", "stable", 9e12),
                row("done", "wsd", 2e12),
                row("done", "wsd", 4e12),
                row("failed", "wsd", 8e12),
            ],
            lines: vec![2, 3, 4, 5],
        };
        assert_eq!(largest_point_flops(&table), Some(4e12));
        let none = Table {
            rows: vec![row("done", "stable", 9e12)],
            lines: vec![2],
            ..table
        };
        assert_eq!(largest_point_flops(&none), None);
    }

    fn settings(extra: &str) -> std::result::Result<(), String> {
        let s: StudySettings = toml::from_str(extra).map_err(|e| e.to_string())?;
        s.check()
    }

    #[test]
    fn verdict_passes_an_accurate_prediction_and_a_best_n_opt() {
        let v = verdict(1.01, [0.95, 1.08], 1.0, &[1.02, 1.03], 0.01);
        assert!((v.rel_error - 0.01).abs() < 1e-12);
        assert!(v.within_tolerance && v.inside_pi95);
        assert!((v.noise - 0.01).abs() < 1e-12);
        assert_eq!(v.n_opt_best, Some(true));
        assert!(v.passed);
    }

    #[test]
    fn verdict_allows_noise_but_not_more() {
        // N* worse than N*/2 by 0.5%, noise 1%: still best within noise
        let v = verdict(1.0, [0.9, 1.1], 1.0, &[0.995, 1.05], 0.01);
        assert_eq!(v.n_opt_best, Some(true));
        // worse by 3%: not
        let v = verdict(1.0, [0.9, 1.1], 1.0, &[0.97, 1.05], 0.01);
        assert_eq!(v.n_opt_best, Some(false));
        assert!(!v.passed);
    }

    #[test]
    fn verdict_fails_a_large_error_or_a_loss_outside_the_interval() {
        // 3% error, inside a wide interval
        let v = verdict(1.03, [0.9, 1.2], 1.0, &[], 0.01);
        assert!(!v.within_tolerance && v.inside_pi95 && !v.passed);
        assert_eq!(v.n_opt_best, None);
        // 1% error but the interval misses the measurement
        let v = verdict(1.01, [1.005, 1.02], 1.0, &[1.1], 0.01);
        assert!(v.within_tolerance && !v.inside_pi95 && !v.passed);
        // a failed N* run (NaN) fails everything; failed others are left out
        let v = verdict(1.0, [0.9, 1.1], f64::NAN, &[1.0], 0.01);
        assert!(!v.within_tolerance && !v.inside_pi95 && !v.passed);
        let v = verdict(1.0, [0.9, 1.1], 1.0, &[f64::NAN], f64::NAN);
        assert_eq!(v.n_opt_best, None);
        assert_eq!(v.noise, 0.0);
        assert!(v.passed);
    }

    #[test]
    fn verify_settings_are_checked() {
        assert!(settings("verify = true").is_ok());
        let s: StudySettings = toml::from_str("").unwrap();
        assert!(!s.verify && s.verify_factor == 4.0 && s.verify_sizes == [0.5, 1.0, 2.0]);
        for (bad, want) in [
            ("verify_factor = 0.0", "verify_factor must be a positive"),
            ("verify_factor = -2.0", "verify_factor must be a positive"),
            ("verify_factor = 1e9", "verify_factor must be a positive"),
            ("verify_sizes = []", "verify_sizes must list 1 to 8"),
            ("verify_sizes = [0.5, 2.0]", "must include 1"),
            (
                "verify_sizes = [1.0, -1.0]",
                "verify_sizes[1] must be a positive",
            ),
            ("verify_sizes = [1.0, 1.0]", "listed twice"),
        ] {
            let e = settings(bad).unwrap_err();
            assert!(e.contains(want), "{bad}: {e}");
        }
        assert!(settings("verify = 3").is_err());
    }

    #[test]
    fn size_labels() {
        assert_eq!(size_label(0.5), "N*/2");
        assert_eq!(size_label(1.0), "N*");
        assert_eq!(size_label(2.0), "2N*");
        assert_eq!(size_label(0.3), "0.3N*");
    }
}
