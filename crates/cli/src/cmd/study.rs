//! `scalelab study`: the whole loop in one command — design (or the given
//! runs) → sweep → fits → IsoFLOP analysis → plan → backtest → summary,
//! everything in one output directory. With no file it runs the embedded
//! default study on the synthetic language, whose true entropy rate is
//! known, so the fitted irreducible loss E can be checked against it.

use anyhow::{bail, Context, Result};
use clap::Parser;
use scalelab_core::isoflop::{approach2, IsoflopOptions};
use scalelab_core::plan::{self, percentile_ci95, six_n};
use scalelab_sweep::local::{run_local, LocalOptions};
use scalelab_sweep::{load_sweep, lock, prepare_dir};
use scalelab_tables::{ColumnMap, Table};
use serde::Deserialize;
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::path::PathBuf;

/// The embedded default study.
pub const DEFAULT_STUDY: &str = include_str!("default_study.toml");

const HELP: &str = r#"A study file is a sweep file (see `scalelab sweep --help`) with a [study]
table:

  [study]
  target_factor = 100     # plan for this multiple of the pilots' total compute
  # target_flops = 1e18   # ... or for this budget
  bootstrap = 400         # resamples for the intervals of the fitted law
  seed = 0

The study runs the sweep (resuming if DIR holds it already), fits the
Chinchilla law (with bootstrap intervals) and the power laws in N, D and C,
runs the IsoFLOP analysis (Approach 2) when the runs were designed at FLOP
budgets, plans the compute-optimal N and D for the target budget, and
backtests: the law is refitted without the largest-compute runs and asked to
predict them. DIR then holds study.toml, the sweep (runs/, runs.csv,
curves.csv), fit.json (Chinchilla), fit-power-{n,d,c}.json, isoflop.json,
study.json (everything the summary shows) and summary.txt.

Examples:

  scalelab study                          # the embedded default, into ./study
  scalelab study my_study.toml --out runs/study1 --jobs 2
  scalelab study --print-default > my_study.toml"#;

#[derive(clap::Args, Debug)]
#[command(after_long_help = HELP)]
pub struct Args {
    /// The study file (TOML); without it, the embedded default study.
    #[arg(value_name = "STUDY.toml")]
    pub study: Option<PathBuf>,
    /// Output directory (re-use it to resume).
    #[arg(long, default_value = "study", value_name = "DIR")]
    pub out: PathBuf,
    /// Runs at a time (default: one single-threaded run per core).
    #[arg(long, value_name = "K")]
    pub jobs: Option<usize>,
    /// Print the embedded default study file and exit.
    #[arg(long)]
    pub print_default: bool,
    /// Print study.json instead of the summary.
    #[arg(long)]
    pub json: bool,
    /// No progress display.
    #[arg(long)]
    pub quiet: bool,
}

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
fn d_factor() -> f64 {
    100.0
}
fn d_boot() -> usize {
    400
}

#[derive(Parser)]
struct FitCli {
    #[command(flatten)]
    args: super::fit::Args,
}

struct FitOutput {
    value: Value,
    warnings: Vec<String>,
}

fn fit_with(args: &[String]) -> Result<FitOutput> {
    let mut v = vec!["fit".to_string()];
    v.extend(args.iter().cloned());
    let cli = FitCli::try_parse_from(&v).map_err(|e| anyhow::anyhow!("{e}"))?;
    let r = scalelab::fit::fit(&cli.args.request(), &scalelab::Silent)?;
    Ok(FitOutput {
        value: serde_json::to_value(&r)?,
        warnings: r.warnings.iter().map(|w| w.message.clone()).collect(),
    })
}

fn sig(v: f64) -> String {
    super::fit::sig(v)
}

pub fn run(a: Args) -> Result<()> {
    if a.print_default {
        print!("{DEFAULT_STUDY}");
        return Ok(());
    }
    let t0 = std::time::Instant::now();
    std::fs::create_dir_all(&a.out)
        .with_context(|| format!("cannot create --out {}", a.out.display()))?;
    let _lock = lock::lock(&a.out)?;
    let text = match &a.study {
        Some(p) => std::fs::read_to_string(p)
            .with_context(|| format!("cannot read study file {}", p.display()))?,
        None => DEFAULT_STUDY.to_string(),
    };
    // The study file is copied into DIR so the study is self-describing;
    // a given file is read in place (relative paths inside it stay valid).
    let copy = a.out.join("study.toml");
    scalelab_tables::write_atomic(&copy, text.as_bytes())?;
    let study_path = a.study.clone().unwrap_or(copy);
    let (plan, file) = load_sweep(&study_path)?;
    let settings: StudySettings = match &file.study {
        Some(t) => t.clone().try_into().map_err(|e: toml::de::Error| {
            anyhow::anyhow!(
                "{}: [study]: {}",
                study_path.display(),
                e.to_string().trim()
            )
        })?,
        None => toml::Table::new().try_into().expect("defaults"),
    };
    prepare_dir(&a.out, &plan)?;
    let jobs = a
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    if !a.quiet {
        eprintln!(
            "study {}: {} pilot runs in {}",
            plan.name,
            plan.runs.len(),
            a.out.display()
        );
    }
    let rep = run_local(
        &a.out,
        &plan,
        &LocalOptions {
            jobs: jobs.max(1),
            step_limit: None,
        },
        &crate::progress::Bars::new(a.quiet),
    )?;
    super::sweep::report(&a.out, &rep, false, a.quiet);
    let sweep_s = rep.seconds;
    let runs_csv = a.out.join("runs.csv");
    let runs_csv_s = runs_csv.display().to_string();

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
    let holdout: Vec<String> = if budgets.len() >= 3 {
        let k = budgets.len();
        let cut = (budgets[k - 1] * budgets[k - 2]).sqrt();
        vec!["--holdout-above-flops".into(), format!("{cut:e}")]
    } else {
        vec![
            "--holdout-largest".into(),
            (plan.runs.len() / 5).max(1).to_string(),
        ]
    };
    let mut fit_args = vec![
        runs_csv_s.clone(),
        "--law".into(),
        "chinchilla".into(),
        "--bootstrap".into(),
        settings.bootstrap.to_string(),
        "--seed".into(),
        settings.seed.to_string(),
        "--quiet".into(),
    ];
    fit_args.extend(holdout.iter().cloned());
    let chin = fit_with(&fit_args).context("fitting the Chinchilla law to the pilot runs")?;
    let fit_json = a.out.join("fit.json");
    scalelab_tables::write_atomic(
        &fit_json,
        serde_json::to_string_pretty(&chin.value)?.as_bytes(),
    )?;
    let mut warnings = chin.warnings.clone();
    let mut power = serde_json::Map::new();
    for law in ["power-n", "power-d", "power-c"] {
        match fit_with(&[
            runs_csv_s.clone(),
            "--law".into(),
            law.into(),
            "--quiet".into(),
        ]) {
            Ok(o) => {
                scalelab_tables::write_atomic(
                    &a.out.join(format!("fit-{law}.json")),
                    serde_json::to_string_pretty(&o.value)?.as_bytes(),
                )?;
                power.insert(law.into(), o.value);
            }
            Err(e) => warnings.push(format!("{law}: {e:#}")),
        }
    }

    // ---- IsoFLOP (Approach 2) --------------------------------------------
    let isoflop = if budgets.len() >= 2 {
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
                let v = serde_json::to_value(&r)?;
                scalelab_tables::write_atomic(
                    &a.out.join("isoflop.json"),
                    serde_json::to_string_pretty(&v)?.as_bytes(),
                )?;
                Some(r)
            }
            Err(e) => {
                warnings.push(format!("IsoFLOP analysis: {e}"));
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
    let fit = super::plan::read_fit(&fit_json)?;
    let opt = plan::optimum(fit.law.as_ref(), &fit.params, target, &six_n, Some(6.0))
        .map_err(|e| anyhow::anyhow!("plan at {target:e} FLOPs: {e}"))?;
    let draws: Vec<plan::Allocation> = fit
        .draws
        .iter()
        .filter_map(|d| plan::optimum(fit.law.as_ref(), d, target, &six_n, Some(6.0)).ok())
        .collect();
    let ci = |f: &dyn Fn(&plan::Allocation) -> f64| {
        percentile_ci95(&draws.iter().map(f).collect::<Vec<_>>())
    };
    let plan_v = json!({
        "flops": target,
        "n_opt": opt.n, "d_opt": opt.d, "tokens_per_param": opt.tokens_per_param(),
        "loss_pred": opt.loss,
        "ci95": {
            "n_opt": ci(&|a| a.n), "d_opt": ci(&|a| a.d),
            "tokens_per_param": ci(&|a| a.tokens_per_param()), "loss_pred": ci(&|a| a.loss),
        },
        "convention": "6N (C = 6ND, N non-embedding)",
    });

    // ---- truth ------------------------------------------------------------
    let cfg0 = &plan.runs[0].config;
    let truth = scalelab_sweep::data::known_floor(&cfg0.data, cfg0.seed, cfg0.context);
    let e_fit = chin.value["params"]["E"].as_f64().unwrap_or(f64::NAN);
    let e_ci = chin.value["bootstrap"]["ci95"]["E"].clone();

    // ---- summary ----------------------------------------------------------
    let p = &chin.value["params"];
    let se = &chin.value["bootstrap"]["se"];
    let ci95 = &chin.value["bootstrap"]["ci95"];
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
    let _ = writeln!(
        s,
        "\nfitted law  {}",
        chin.value["formula"].as_str().unwrap_or("")
    );
    let _ = writeln!(
        s,
        "  {:<7} {:>12} {:>11}   95% interval ({} bootstrap resamples)",
        "", "estimate", "std. error", settings.bootstrap
    );
    for k in ["E", "A", "B", "alpha", "beta"] {
        let c = &ci95[k];
        let _ = writeln!(
            s,
            "  {:<7} {:>12} {:>11}   [{}, {}]",
            k,
            sig(p[k].as_f64().unwrap_or(f64::NAN)),
            sig(se[k].as_f64().unwrap_or(f64::NAN)),
            sig(c[0].as_f64().unwrap_or(f64::NAN)),
            sig(c[1].as_f64().unwrap_or(f64::NAN))
        );
    }
    let d = &chin.value["derived"];
    let _ = writeln!(
        s,
        "  compute-optimal exponents a = {} [{}, {}], b = {} [{}, {}]",
        sig(d["a"].as_f64().unwrap_or(f64::NAN)),
        sig(ci95["a"][0].as_f64().unwrap_or(f64::NAN)),
        sig(ci95["a"][1].as_f64().unwrap_or(f64::NAN)),
        sig(d["b"].as_f64().unwrap_or(f64::NAN)),
        sig(ci95["b"][0].as_f64().unwrap_or(f64::NAN)),
        sig(ci95["b"][1].as_f64().unwrap_or(f64::NAN)),
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
    let civ = |k: &str| {
        plan_v["ci95"][k]
            .as_array()
            .map(|c| {
                format!(
                    " [{}, {}]",
                    sig(c[0].as_f64().unwrap_or(f64::NAN)),
                    sig(c[1].as_f64().unwrap_or(f64::NAN))
                )
            })
            .unwrap_or_default()
    };
    let _ = writeln!(
        s,
        "\nplan for {:.3e} FLOPs ({}x the pilots' total):",
        target,
        sig(target / total_flops)
    );
    let _ = writeln!(s, "  N_opt = {}{}", sig(opt.n), civ("n_opt"));
    let _ = writeln!(s, "  D_opt = {}{}", sig(opt.d), civ("d_opt"));
    let _ = writeln!(
        s,
        "  tokens per parameter = {}{}",
        sig(opt.tokens_per_param()),
        civ("tokens_per_param")
    );
    let _ = writeln!(
        s,
        "  predicted loss = {}{}",
        sig(opt.loss),
        civ("loss_pred")
    );
    let h = &chin.value["holdout"];
    let backtest = if h.is_object() {
        let _ = writeln!(
            s,
            "\nbacktest: fitted without {} ({} runs), predicted them:",
            h["rule"].as_str().unwrap_or(""),
            h["n_test"]
        );
        let _ = writeln!(
            s,
            "  mean |error| {:.2}%, max |error| {:.2}%, mean error {:+.2}%",
            100.0 * h["mean_abs_rel_error"].as_f64().unwrap_or(f64::NAN),
            100.0 * h["max_abs_rel_error"].as_f64().unwrap_or(f64::NAN),
            100.0 * h["mean_rel_error"].as_f64().unwrap_or(f64::NAN),
        );
        h.clone()
    } else {
        Value::Null
    };
    if let Some((_, floor)) = truth {
        if opt.loss < floor {
            warnings.push(format!(
                "the predicted loss at the target ({:.4}) is below the data's exact floor ({floor:.4}): the fitted E is too low, so the plan's loss is optimistic; more compute near the optimum would pin E down",
                opt.loss
            ));
        }
    }
    warnings.extend(plan.warnings.iter().cloned());
    let truth_v = match truth {
        Some((rate, floor)) => {
            let _ = writeln!(
                s,
                "\nirreducible loss: fitted E = {}{} vs the language's entropy rate {} \
                 (exact floor at context {}: {}); E is {:+.1}% off the floor",
                sig(e_fit),
                e_ci.as_array()
                    .map(|c| format!(
                        " [{}, {}]",
                        sig(c[0].as_f64().unwrap_or(f64::NAN)),
                        sig(c[1].as_f64().unwrap_or(f64::NAN))
                    ))
                    .unwrap_or_default(),
                sig(rate),
                cfg0.context,
                sig(floor),
                100.0 * (e_fit / floor - 1.0)
            );
            json!({"entropy_rate": rate, "floor": floor, "context": cfg0.context,
                   "fitted_E": e_fit, "rel_error_vs_floor": e_fit / floor - 1.0})
        }
        None => Value::Null,
    };
    for w in &warnings {
        let _ = writeln!(s, "warning: {w}");
    }
    let _ = writeln!(
        s,
        "\nfiles in {}: runs.csv, curves.csv, fit.json, fit-power-*.json{}, study.json, summary.txt, report.html ({:.0} s in all)",
        a.out.display(),
        if isoflop.is_some() { ", isoflop.json" } else { "" },
        t0.elapsed().as_secs_f64()
    );
    let study_v = json!({
        "schema": "scalelab.study/1",
        "name": plan.name,
        "runs": plan.runs.len(),
        "runs_done": rep.done.len() + rep.skipped.len(),
        "runs_failed": rep.failed.iter().map(|(n, w)| json!({"run": n, "reason": w})).collect::<Vec<_>>(),
        "pilot_flops": total_flops,
        "sweep_seconds": sweep_s,
        "seconds": t0.elapsed().as_secs_f64(),
        "fit": chin.value,
        "power_laws": power,
        "isoflop": isoflop.as_ref().map(serde_json::to_value).transpose()?,
        "plan": plan_v,
        "backtest": backtest,
        "truth": truth_v,
        "warnings": warnings,
        "version": concat!("scalelab ", env!("CARGO_PKG_VERSION")),
    });
    scalelab_tables::write_atomic(
        &a.out.join("study.json"),
        serde_json::to_string_pretty(&study_v)?.as_bytes(),
    )?;
    scalelab_tables::write_atomic(&a.out.join("summary.txt"), s.as_bytes())?;
    let report = super::report::write_report(&a.out)?;
    if !a.quiet && !a.json {
        eprintln!("report: {}", report.display());
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&study_v)?);
    } else {
        print!("{s}");
    }
    if rep.done.len() + rep.skipped.len() == 0 {
        bail!("no run finished");
    }
    Ok(())
}
