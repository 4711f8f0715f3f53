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
    let flops = table.positive_column("flops").unwrap_or_default();
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
        let done: Vec<bool> = {
            let c = table.require_column("status")?;
            table
                .rows
                .iter()
                .map(|r| r[c].display() == "done")
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
    let _ = writeln!(
        s,
        "\nfiles in {}: runs.csv, curves.csv, fit.json, fit-power-*.json{}, study.json, summary.txt, report.html ({:.0} s in all)",
        out.display(),
        if isoflop.is_some() { ", isoflop.json" } else { "" },
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
