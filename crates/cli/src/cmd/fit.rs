//! `scalelab fit`: fit a scaling law to a table of runs, with bootstrap
//! intervals, a held-out extrapolation check and identifiability warnings.
//!
//! The JSON object it prints (`--json`) and writes (`--out`) is the
//! `scalelab.fit/1` schema documented in `docs/fit.md`; `scalelab plan`
//! reads it back.

use anyhow::{bail, Context, Result};
use scalelab_core::bootstrap::{bootstrap, BootstrapOptions, BootstrapResult};
use scalelab_core::data::Observations;
use scalelab_core::diagnostics::{
    design_warnings, fit_warnings, holdout_report, residual_summary, Holdout, HoldoutReport,
};
use scalelab_core::fit::{fit_law, FitOptions, FitResult, Method};
use scalelab_core::laws::{law_by_name, Law, LAW_NAMES};
use scalelab_core::robust::Robust;
use scalelab_tables::{ColumnMap, Filter, Table};
use serde_json::{json, Map, Value};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

const HELP: &str = r#"How the fit works:

Residuals are taken on the log scale, r = ln L − ln L̂, with ln L̂ computed by
a stable log-sum-exp (for Chinchilla ln L̂ = LSE(a − α ln N, b − β ln D, e)).
The objective is the SUM over runs of the Huber loss of r (δ = 1e-3), not the
mean: a mean shrinks the objective and its gradient by the number of runs and
makes optimisers stop early. Gradients are analytic; L-BFGS runs until the
gradient is below 1e-11 or the objective stops changing (1e-15 relative).

Methods:
  varpro (default)  Variable projection: on a fine grid of exponents the
                    linear coefficients (E, A, B) are solved by non-negative
                    least squares, the best grid points are polished by
                    L-BFGS on the full objective. Far better conditioned than
                    a 5-parameter search, and independent of a lucky start.
  grid              L-BFGS from every point of the law's start grid, in
                    parallel (Chinchilla: Hoffmann et al.'s 4,500 starts:
                    α, β ∈ {0, 0.5, …, 2}, e ∈ {−1, …, 1}, a, b ∈ {0, 5, …, 25}).
                    The published procedure; the only one for Kaplan's law.
Both report the best objective, how many starts reached it (within 1e-9
relative) and whether the optimiser converged there.

Tables: CSV/TSV, JSONL or Parquet (by extension), or a sweep directory (its
runs.csv). Columns default to params (N), tokens (D), flops (C) and loss;
name others with --params-col etc. (spaces are fine: --params-col 'Model
Size'). With two of N, D, C the third follows from C = 6ND (with a note).

Examples:

  scalelab fit runs.csv --law chinchilla --bootstrap 1000 --out fit.json

  scalelab fit chinchilla.csv --params-col 'Model Size' --flops-col 'Training FLOP' \
      --where 'loss < 3.4469' --method grid --json

  scalelab fit runs.parquet --law power-c --holdout-largest 3

  scalelab fit runs.jsonl --law kaplan --loss-col val_loss --where 'status == "done"'"#;

/// Arguments of `scalelab fit`.
#[derive(clap::Args, Debug)]
#[command(after_long_help = HELP)]
pub struct Args {
    /// The run table: a .csv, .tsv, .jsonl or .parquet file, or a sweep
    /// directory holding runs.csv.
    #[arg(value_name = "TABLE")]
    pub table: PathBuf,

    /// The law to fit: chinchilla (L = E + A/N^α + B/D^β), kaplan
    /// (L = [(N_c/N)^(α_N/α_D) + D_c/D]^α_D), power-n|power-d|power-c
    /// (L = E + A·x^-α), broken-n|broken-d|broken-c (a smoothly broken power
    /// law).
    #[arg(long, default_value = "chinchilla", value_parser = LAW_NAMES.to_vec())]
    pub law: String,

    /// Search method: varpro (variable projection, the default) or grid
    /// (L-BFGS from the law's full start grid). Laws without linear
    /// coefficients (kaplan) always use grid.
    #[arg(long, default_value = "varpro", value_parser = ["varpro", "grid"])]
    pub method: String,

    /// Huber δ of the summed robust loss on log residuals.
    #[arg(long, default_value_t = 1e-3, value_name = "DELTA", value_parser = positive, allow_negative_numbers = true)]
    pub huber_delta: f64,

    /// Plain least squares on log residuals instead of Huber.
    #[arg(long)]
    pub least_squares: bool,

    /// Column holding the parameter count N.
    #[arg(long, value_name = "NAME")]
    pub params_col: Option<String>,
    /// Column holding the training tokens D.
    #[arg(long, value_name = "NAME")]
    pub tokens_col: Option<String>,
    /// Column holding the training compute C in FLOPs.
    #[arg(long, value_name = "NAME")]
    pub flops_col: Option<String>,
    /// Column holding the loss (nats per token).
    #[arg(long, value_name = "NAME")]
    pub loss_col: Option<String>,

    /// Keep only rows that match, e.g. `--where 'loss < 3.4469'` or
    /// `--where '`Model Size` >= 1e8 and tokens < 1e11'`; repeat to combine.
    /// Operators: < <= > >= == !=; strings in quotes.
    #[arg(long = "where", value_name = "EXPR")]
    pub filters: Vec<String>,

    /// Bootstrap resamples (runs drawn with replacement, each refitted);
    /// gives standard errors and 95% percentile intervals.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub bootstrap: usize,

    /// Seed of the bootstrap; results are identical for any thread count.
    #[arg(long, default_value_t = 0, value_name = "S")]
    pub seed: u64,

    /// Hold out the runs with compute above C, fit the rest, and report the
    /// error of the held-out predictions.
    #[arg(long, value_name = "C", value_parser = positive, allow_negative_numbers = true, conflicts_with = "holdout_largest")]
    pub holdout_above_flops: Option<f64>,

    /// Hold out the K runs with the largest compute (see --holdout-above-flops).
    #[arg(long, value_name = "K")]
    pub holdout_largest: Option<usize>,

    /// Worker threads (default: all cores).
    #[arg(long, value_name = "K")]
    pub threads: Option<usize>,

    /// Print one JSON object (schema scalelab.fit/1, see docs/fit.md).
    #[arg(long)]
    pub json: bool,

    /// Also write the JSON object to this file (for `scalelab plan --fit`).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,

    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

fn positive(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        Ok(v) => Err(format!("must be a positive number, got {v}")),
        Err(_) => Err(format!("'{s}' is not a number")),
    }
}

/// The table file for a path: the file itself, or a sweep directory's
/// `runs.csv` (or `runs.parquet`).
pub fn resolve_table(path: &Path) -> Result<PathBuf> {
    if path.is_dir() {
        for name in ["runs.csv", "runs.parquet", "runs.jsonl"] {
            let p = path.join(name);
            if p.is_file() {
                return Ok(p);
            }
        }
        bail!(
            "{} is a directory without runs.csv, runs.parquet or runs.jsonl",
            path.display()
        );
    }
    if !path.exists() {
        bail!("{}: no such file", path.display());
    }
    Ok(path.to_path_buf())
}

/// Data read for a fit, with what the user should know about it.
pub struct Input {
    pub path: PathBuf,
    pub rows_read: usize,
    pub obs: Observations,
    pub lines: Vec<usize>,
    pub notes: Vec<String>,
    /// Runs left out (a sweep's failed or unfinished runs).
    pub warnings: Vec<String>,
}

/// A run table after `--where` and the drop of unfinished sweep runs.
pub struct KeptTable {
    pub path: PathBuf,
    /// Rows in the file.
    pub rows_read: usize,
    /// The rows kept.
    pub table: Table,
    pub notes: Vec<String>,
    /// Runs left out (a sweep's failed or unfinished runs).
    pub warnings: Vec<String>,
}

/// Reads a run table (CSV, JSONL or Parquet; a directory means its
/// `runs.*`), applies the filters and, when the table has a `status` column
/// the filters do not mention, leaves out the runs that are not `done` (with
/// a warning naming them). Every error names the file, line and column, or
/// the flag.
pub fn load_table(path: &Path, filters: &[String]) -> Result<KeptTable> {
    let path = resolve_table(path)?;
    let table = Table::read(&path)?;
    let mut parsed = Vec::new();
    for f in filters {
        let filter = Filter::parse(f).map_err(|e| anyhow::anyhow!("--where '{f}': {e}"))?;
        parsed.push(filter);
    }
    let mut kept = table.filter(&parsed)?;
    let mut notes = Vec::new();
    let mut warnings = Vec::new();
    // A sweep table: runs that did not finish have no loss; leave them out.
    let status_filtered = filters.iter().any(|f| f.contains("status"));
    if let (Some(col), false) = (kept.column_index("status"), status_filtered) {
        let keep: Vec<bool> = kept
            .rows
            .iter()
            .map(|r| r[col].display() == "done")
            .collect();
        let left_out: Vec<String> = kept
            .rows
            .iter()
            .zip(&keep)
            .filter(|(_, k)| !**k)
            .map(|(r, _)| {
                let name = kept
                    .column_index("run")
                    .map(|c| r[c].display())
                    .unwrap_or_default();
                let reason = kept
                    .column_index("reason")
                    .map(|c| r[c].display())
                    .filter(|s| !s.is_empty())
                    .map(|s| format!(": {s}"))
                    .unwrap_or_default();
                format!("{name} ({}{reason})", r[col].display())
            })
            .collect();
        if !left_out.is_empty() {
            warnings.push(format!(
                "{} runs left out because their status is not done: {}",
                left_out.len(),
                left_out.join("; ")
            ));
            kept = kept.retain_rows(&keep);
        }
    }
    if !parsed.is_empty() {
        notes.push(format!(
            "{} of {} rows kept by --where {}",
            kept.len(),
            table.len(),
            filters
                .iter()
                .map(|f| format!("'{f}'"))
                .collect::<Vec<_>>()
                .join(" and ")
        ));
    }
    if kept.is_empty() {
        bail!(
            "{}: no rows left after --where {}",
            path.display(),
            filters.join(" and ")
        );
    }
    Ok(KeptTable {
        path,
        rows_read: table.len(),
        table: kept,
        notes,
        warnings,
    })
}

/// Reads a table, applies the filters and returns the observations the law
/// needs. Every error names the file, line and column, or the flag.
pub fn load(path: &Path, map: &ColumnMap, filters: &[String], law: &dyn Law) -> Result<Input> {
    let KeptTable {
        path,
        rows_read,
        table: kept,
        mut notes,
        warnings,
    } = load_table(path, filters)?;
    let loaded = kept.observations(map, &law.variables())?;
    notes.extend(loaded.notes);
    Ok(Input {
        path,
        rows_read,
        obs: loaded.obs,
        lines: loaded.lines,
        notes,
        warnings,
    })
}

pub fn run(args: Args) -> Result<()> {
    if let Some(k) = args.threads {
        if k == 0 {
            bail!("--threads must be at least 1");
        }
        rayon::ThreadPoolBuilder::new()
            .num_threads(k)
            .build_global()
            .context("cannot set up the thread pool")?;
    }
    let out = compute(&args)?;
    if let Some(path) = &args.out {
        let text = serde_json::to_string_pretty(&out.value)? + "\n";
        scalelab_tables::write_atomic(path, text.as_bytes())
            .with_context(|| format!("cannot write --out {}", path.display()))?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&out.value)?);
    } else {
        print!("{}", out.text);
    }
    for w in &out.warnings {
        eprintln!("warning: {w}");
    }
    if let (Some(path), false) = (&args.out, args.json) {
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

/// A finished fit: the `scalelab.fit/1` object, the terminal text and the
/// warnings.
pub struct FitOutput {
    pub value: Value,
    pub text: String,
    pub warnings: Vec<String>,
}

/// Runs a fit as `scalelab fit` would, without printing.
pub fn compute(args: &Args) -> Result<FitOutput> {
    if args.holdout_largest == Some(0) {
        bail!("--holdout-largest must be at least 1");
    }
    let law = law_by_name(&args.law).expect("clap checked the law name");
    let robust = if args.least_squares {
        Robust::LeastSquares
    } else {
        Robust::Huber {
            delta: args.huber_delta,
        }
    };
    let method = if args.method == "grid" {
        Method::Grid
    } else {
        Method::VarPro
    };
    let map = ColumnMap {
        params: args.params_col.clone(),
        tokens: args.tokens_col.clone(),
        flops: args.flops_col.clone(),
        loss: args.loss_col.clone(),
    };
    let input = load(&args.table, &map, &args.filters, law.as_ref())?;
    let obs = &input.obs;
    let opts = FitOptions {
        robust,
        method,
        ..Default::default()
    };

    let t0 = Instant::now();
    let fit = fit_law(law.as_ref(), obs, &opts)
        .map_err(|e| anyhow::anyhow!("{}: {e}", input.path.display()))?;
    let fit_s = t0.elapsed().as_secs_f64();

    let mut warnings: Vec<String> = input.warnings.clone();
    warnings.extend(
        design_warnings(law.as_ref(), obs)
            .into_iter()
            .map(|w| w.message),
    );
    warnings.extend(fit_warnings(&fit));

    let t1 = Instant::now();
    let boot = if args.bootstrap > 0 {
        let bopts = BootstrapOptions {
            resamples: args.bootstrap,
            seed: args.seed,
            robust,
            lbfgs: opts.lbfgs,
            extra_starts: vec![],
        };
        let bar = progress_bar(args.bootstrap as u64, args.quiet, "bootstrap");
        let tick = || {
            if let Some(b) = &bar {
                b.inc(1)
            }
        };
        let b = bootstrap(law.as_ref(), obs, &fit, &bopts, &tick);
        if let Some(b) = bar {
            b.finish_and_clear();
        }
        if b.not_converged > 0 {
            warnings.push(format!(
                "{} of {} bootstrap refits did not converge (they are included)",
                b.not_converged, b.resamples
            ));
        }
        Some(b)
    } else {
        None
    };
    let bootstrap_s = t1.elapsed().as_secs_f64();

    let holdout = match (args.holdout_above_flops, args.holdout_largest) {
        (Some(c), _) => Some(Holdout::AboveFlops(c)),
        (None, Some(k)) => Some(Holdout::Largest(k)),
        _ => None,
    };
    let held = match holdout {
        Some(h) => Some(run_holdout(law.as_ref(), obs, &opts, h, &input)?),
        None => None,
    };

    let residuals = residual_summary(law.as_ref(), &fit, obs);
    let value = to_json(
        args,
        &input,
        &fit,
        boot.as_ref(),
        held.as_ref(),
        &residuals,
        &warnings,
        fit_s,
        bootstrap_s,
    );
    let text = render(
        &input,
        &fit,
        boot.as_ref(),
        held.as_ref(),
        &residuals,
        fit_s,
        bootstrap_s,
    );
    Ok(FitOutput {
        value,
        text,
        warnings,
    })
}

/// The held-out check: fit without the held-out runs, predict them.
pub struct HeldOut {
    pub rule: Holdout,
    pub n_train: usize,
    pub fit: FitResult,
    pub report: HoldoutReport,
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
        bail!(
            "the holdout ({}) selects no runs: the largest compute in {} is {:e}",
            rule.describe(),
            input.path.display(),
            obs.c.iter().cloned().fold(0.0, f64::max)
        );
    }
    if train.len() < law.n_params() {
        bail!(
            "the holdout ({}) leaves {} runs to fit {} parameters",
            rule.describe(),
            train.len(),
            law.n_params()
        );
    }
    let sub = obs.select(&train);
    let fit = fit_law(law, &sub, opts).map_err(|e| anyhow::anyhow!("holdout fit: {e}"))?;
    let report = holdout_report(law, &fit.params, obs, &test);
    Ok(HeldOut {
        rule,
        n_train: train.len(),
        fit,
        report,
    })
}

fn progress_bar(len: u64, quiet: bool, what: &str) -> Option<indicatif::ProgressBar> {
    if quiet || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg} [{bar:40}] {pos}/{len} ({per_sec}, eta {eta})",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    Some(bar)
}

fn named(names: &[&str], values: &[f64]) -> Value {
    let mut m = Map::new();
    for (n, v) in names.iter().zip(values) {
        m.insert((*n).to_string(), json_num(*v));
    }
    Value::Object(m)
}

/// Non-finite numbers become null (JSON has no NaN).
fn json_num(v: f64) -> Value {
    if v.is_finite() {
        json!(v)
    } else {
        Value::Null
    }
}

fn robust_json(r: Robust) -> Value {
    match r {
        Robust::Huber { delta } => json!({"kind": "huber", "delta": delta, "reduction": "sum"}),
        Robust::LeastSquares => json!({"kind": "least_squares", "reduction": "sum"}),
    }
}

fn fit_core_json(fit: &FitResult) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("params".into(), named(&fit.param_names, &fit.params));
    let dn: Vec<&str> = fit.derived.iter().map(|d| d.0).collect();
    let dv: Vec<f64> = fit.derived.iter().map(|d| d.1).collect();
    m.insert("derived".into(), named(&dn, &dv));
    m.insert("objective".into(), json_num(fit.objective));
    m.insert("n_points".into(), json!(fit.n_points));
    m.insert("starts".into(), json!(fit.starts));
    m.insert("starts_at_best".into(), json!(fit.starts_at_best));
    m.insert("converged".into(), json!(fit.converged));
    m
}

#[allow(clippy::too_many_arguments)]
fn to_json(
    args: &Args,
    input: &Input,
    fit: &FitResult,
    boot: Option<&BootstrapResult>,
    held: Option<&HeldOut>,
    res: &scalelab_core::diagnostics::ResidualSummary,
    warnings: &[String],
    fit_s: f64,
    bootstrap_s: f64,
) -> Value {
    let mut m = Map::new();
    m.insert("schema".into(), json!("scalelab.fit/1"));
    m.insert("law".into(), json!(fit.law));
    m.insert("formula".into(), json!(fit.formula));
    m.insert("method".into(), json!(fit.method.as_str()));
    m.insert("loss_function".into(), robust_json(fit.robust));
    for (k, v) in fit_core_json(fit) {
        m.insert(k, v);
    }
    m.insert(
        "termination".into(),
        json!(format!("{:?}", fit.termination)),
    );
    m.insert("iterations".into(), json!(fit.iterations));
    m.insert("evaluations".into(), json!(fit.evaluations));
    m.insert(
        "starts_not_converged".into(),
        json!(fit.starts_not_converged),
    );
    m.insert(
        "residuals".into(),
        json!({
            "scale": "ln L - ln L_hat",
            "rmse": json_num(res.rmse),
            "mean": json_num(res.mean),
            "median_abs": json_num(res.median_abs),
            "max_abs": json_num(res.max_abs),
            "max_abs_line": input.lines.get(res.worst),
        }),
    );
    if let Some(b) = boot {
        let mut se = Map::new();
        let mut ci = Map::new();
        let mut med = Map::new();
        for s in b.params.iter().chain(&b.derived) {
            se.insert(s.name.clone(), json_num(s.se));
            ci.insert(
                s.name.clone(),
                json!([json_num(s.ci95[0]), json_num(s.ci95[1])]),
            );
            med.insert(s.name.clone(), json_num(s.median));
        }
        m.insert(
            "bootstrap".into(),
            json!({
                "n": b.resamples,
                "seed": b.seed,
                "not_converged": b.not_converged,
                "se": se,
                "ci95": ci,
                "median": med,
                "draws": b.draws.iter().map(|d| d.iter().map(|v| json_num(*v)).collect::<Vec<_>>()).collect::<Vec<_>>(),
            }),
        );
    }
    if let Some(h) = held {
        let points: Vec<Value> = h
            .report
            .points
            .iter()
            .map(|p| {
                json!({
                    "line": input.lines.get(p.index),
                    "params": json_num(input.obs.n[p.index]),
                    "tokens": json_num(input.obs.d[p.index]),
                    "flops": json_num(input.obs.c[p.index]),
                    "loss": p.loss,
                    "predicted": json_num(p.predicted),
                    "rel_error": json_num(p.rel_error),
                })
            })
            .collect();
        let mut hm = Map::new();
        hm.insert("rule".into(), json!(h.rule.describe()));
        hm.insert("n_train".into(), json!(h.n_train));
        hm.insert("n_test".into(), json!(h.report.points.len()));
        hm.insert(
            "mean_abs_rel_error".into(),
            json_num(h.report.mean_abs_rel_error),
        );
        hm.insert(
            "max_abs_rel_error".into(),
            json_num(h.report.max_abs_rel_error),
        );
        hm.insert("mean_rel_error".into(), json_num(h.report.mean_rel_error));
        hm.insert("fit".into(), Value::Object(fit_core_json(&h.fit)));
        hm.insert("points".into(), Value::Array(points));
        m.insert("holdout".into(), Value::Object(hm));
    }
    m.insert("warnings".into(), json!(warnings));
    m.insert("notes".into(), json!(input.notes));
    m.insert(
        "input".into(),
        json!({
            "path": input.path.display().to_string(),
            "rows_read": input.rows_read,
            "rows_used": input.obs.len(),
            "where": args.filters,
            "columns": {
                "params": args.params_col.as_deref().unwrap_or("params"),
                "tokens": args.tokens_col.as_deref().unwrap_or("tokens"),
                "flops": args.flops_col.as_deref().unwrap_or("flops"),
                "loss": args.loss_col.as_deref().unwrap_or("loss"),
            },
        }),
    );
    m.insert(
        "timing".into(),
        json!({"fit_s": fit_s, "bootstrap_s": bootstrap_s}),
    );
    m.insert(
        "version".into(),
        json!(concat!("scalelab ", env!("CARGO_PKG_VERSION"))),
    );
    Value::Object(m)
}

/// A number with about five significant digits, in plain or scientific
/// notation as suits its size (the report's formatting).
pub fn sig(v: f64) -> String {
    scalelab_report::html::num(v)
}

fn render(
    input: &Input,
    fit: &FitResult,
    boot: Option<&BootstrapResult>,
    held: Option<&HeldOut>,
    res: &scalelab_core::diagnostics::ResidualSummary,
    fit_s: f64,
    bootstrap_s: f64,
) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(s, "law      {}   {}", fit.law, fit.formula);
    let _ = writeln!(
        s,
        "data     {} ({} of {} rows)",
        input.path.display(),
        input.obs.len(),
        input.rows_read
    );
    for n in &input.notes {
        let _ = writeln!(s, "note     {n}");
    }
    let _ = writeln!(
        s,
        "method   {} on {}, {} starts, {} reached the best objective, {} ({:.2} s)",
        fit.method.as_str(),
        fit.robust.label(),
        fit.starts,
        fit.starts_at_best,
        if fit.converged {
            "converged"
        } else {
            "NOT converged"
        },
        fit_s
    );
    let _ = writeln!(s, "objective {:.10e} (summed over runs)", fit.objective);
    let _ = writeln!(s);
    let spread =
        |name: &str| boot.and_then(|b| b.params.iter().chain(&b.derived).find(|x| x.name == name));
    if boot.is_some() {
        let _ = writeln!(
            s,
            "{:<10} {:>14} {:>12}   {:<30}",
            "parameter", "estimate", "std. error", "95% interval"
        );
    } else {
        let _ = writeln!(s, "{:<10} {:>14}", "parameter", "estimate");
    }
    let rows = fit
        .param_names
        .iter()
        .zip(&fit.params)
        .map(|(n, v)| (*n, *v))
        .chain(fit.derived.iter().cloned());
    for (k, (name, v)) in rows.enumerate() {
        if k == fit.param_names.len() {
            let _ = writeln!(s, "derived");
        }
        match spread(name) {
            Some(sp) => {
                let _ = writeln!(
                    s,
                    "{:<10} {:>14} {:>12}   [{}, {}]",
                    name,
                    sig(v),
                    sig(sp.se),
                    sig(sp.ci95[0]),
                    sig(sp.ci95[1])
                );
            }
            None => {
                let _ = writeln!(s, "{:<10} {:>14}", name, sig(v));
            }
        }
    }
    if let Some(b) = boot {
        let _ = writeln!(
            s,
            "bootstrap {} resamples (seed {}), {} not converged ({:.2} s)",
            b.resamples, b.seed, b.not_converged, bootstrap_s
        );
    }
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "residuals ln L − ln L̂: rmse {}, mean {}, median |r| {}, max |r| {} (line {})",
        sig(res.rmse),
        sig(res.mean),
        sig(res.median_abs),
        sig(res.max_abs),
        input.lines.get(res.worst).copied().unwrap_or(0)
    );
    if let Some(h) = held {
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "holdout  {}: fitted on {} runs, predicted {}",
            h.rule.describe(),
            h.n_train,
            h.report.points.len()
        );
        let _ = writeln!(
            s,
            "         mean |error| {:.3}%, max |error| {:.3}%, mean error {:+.3}%",
            100.0 * h.report.mean_abs_rel_error,
            100.0 * h.report.max_abs_rel_error,
            100.0 * h.report.mean_rel_error
        );
        let _ = writeln!(
            s,
            "         {:>6} {:>12} {:>12} {:>12} {:>10} {:>10} {:>9}",
            "line", "N", "D", "C", "loss", "predicted", "error"
        );
        for p in &h.report.points {
            let _ = writeln!(
                s,
                "         {:>6} {:>12} {:>12} {:>12} {:>10} {:>10} {:>+8.3}%",
                input.lines.get(p.index).copied().unwrap_or(0),
                sig(input.obs.n[p.index]),
                sig(input.obs.d[p.index]),
                sig(input.obs.c[p.index]),
                sig(p.loss),
                sig(p.predicted),
                100.0 * p.rel_error
            );
        }
    }
    s
}
