//! `scalelab isoflop`: compute-optimal exponents from runs (Hoffmann et al.
//! 2022 Approaches 1 and 2, and Approach 3 from a fit), side by side.

use anyhow::{bail, Result};
use scalelab_core::data::Observations;
use scalelab_core::isoflop::{
    approach1, approach2, disagreements, fit_line, run_ids, run_ids_by_size, Exponents,
    IsoflopOptions,
};
use scalelab_core::plan::{self, percentile_ci95, six_n};
use serde_json::{json, Map, Value};
use std::path::PathBuf;

use scalelab_core::laws::Variable;
use scalelab_tables::{ColumnMap, Loaded, Table};

/// Shown after the options in `--help`: the method and examples (the
/// subcommand's one-line summary comes from its variant in `main.rs`).
const HELP: &str = r#"Compute-optimal exponents a (N* ∝ C^a) and b (D* ∝ C^b) from runs.

Approach 2 (IsoFLOP profiles): for each FLOP budget, a parabola of loss
against ln N is fitted to the runs around the lowest loss; its vertex is
the budget's optimum N*, and D* follows from the budget's own (N, D)
relation. Approach 1 (loss curves): at each budget, the run that reaches
the lowest loss (the lower envelope of loss against FLOPs, interpolated
along each run's curve) gives N and D. Both then fit power laws in C.
With `--fit`, Approach 3 (the fitted law's own optimum) is shown beside
them, and a warning is printed when approaches disagree beyond their 95%
bootstrap intervals.

Examples:

  scalelab isoflop runs.csv

  scalelab isoflop isoflop_points.csv --params-col n --tokens-col t --group-by config_id

  scalelab isoflop runs.csv --where 'config_id == "rw|base|long|kaplan|kaplan|train"' --json

  scalelab isoflop curves.csv --run-col run_id --fit fit.json"#;

/// Arguments of `scalelab isoflop` (the long help is [`HELP`]).
#[derive(clap::Args, Debug)]
#[command(after_help = HELP)]
pub struct Args {
    /// Table of runs (CSV, JSONL or Parquet, or a sweep directory for its
    /// `runs.*`), one row per (run, budget) with parameters, tokens, FLOPs
    /// and loss. Example: `runs.csv`.
    #[arg(value_name = "RUNS")]
    pub runs: PathBuf,

    /// Keep only rows matching an expression (comparisons joined with `and`);
    /// repeatable. Example: `--where 'config_id == "rw|base|short|chinchilla|standard|val"'`.
    #[arg(long = "where", value_name = "EXPR")]
    pub filters: Vec<String>,

    /// Analyse each value of this column separately, in one call.
    /// Example: `--group-by config_id`.
    #[arg(long, value_name = "COLUMN")]
    pub group_by: Option<String>,

    /// Column of parameter counts N (default `params`). Example: `--params-col n`.
    #[arg(long, value_name = "COLUMN")]
    pub params_col: Option<String>,

    /// Column of training tokens D (default `tokens`). Example: `--tokens-col t`.
    #[arg(long, value_name = "COLUMN")]
    pub tokens_col: Option<String>,

    /// Column of FLOPs C (default `flops`; derived as 6ND when absent).
    /// Rows with equal C (to 1e-6 relative) form one budget. Example: `--flops-col compute`.
    #[arg(long, value_name = "COLUMN")]
    pub flops_col: Option<String>,

    /// Column of losses (default `loss`). Example: `--loss-col val_loss`.
    #[arg(long, value_name = "COLUMN")]
    pub loss_col: Option<String>,

    /// Column identifying a run (one loss curve) for Approach 1; without it,
    /// rows with the same N are taken as one run. Example: `--run-col run_id`.
    #[arg(long, value_name = "COLUMN")]
    pub run_col: Option<String>,

    /// Approach 2 fits each budget's parabola to the runs whose N is within
    /// this factor of the lowest-loss run's N (at least the 3 nearest sizes);
    /// `inf` uses every run. Example: `--window 8`.
    #[arg(
        long,
        default_value_t = 4.0,
        value_name = "FACTOR",
        allow_negative_numbers = true
    )]
    pub window: f64,

    /// Bootstrap replicates for the 95% intervals of a and b (0: none).
    /// Example: `--bootstrap 2000`.
    #[arg(long, default_value_t = 1000, value_name = "N")]
    pub bootstrap: usize,

    /// Seed of the bootstrap. Example: `--seed 7`.
    #[arg(long, default_value_t = 0, value_name = "SEED")]
    pub seed: u64,

    /// A fit (`scalelab fit --out fit.json`) to add as Approach 3: its
    /// compute-optimal exponents, with intervals from its bootstrap draws.
    /// Example: `--fit fit.json`.
    #[arg(long, value_name = "FILE")]
    pub fit: Option<PathBuf>,

    /// Print one JSON object instead of tables (keys documented in docs/plan.md).
    #[arg(long)]
    pub json: bool,
}

fn exponents_json(e: &Exponents) -> Value {
    json!({"a": e.a, "b": e.b, "a_ci95": e.a_ci95, "b_ci95": e.b_ci95,
           "ln_n0": e.ln_n0, "ln_d0": e.ln_d0, "bootstrap_ok": e.bootstrap_ok})
}

fn show(v: f64, c: Option<[f64; 2]>) -> String {
    match c {
        Some(c) => format!("{v:.3} [{:.3}, {:.3}]", c[0], c[1]),
        None => format!("{v:.3}"),
    }
}

/// Approach 3 from a fit: the slope of ln N_opt (ln D_opt) against ln C over
/// the table's budget range, for the point estimate and every draw.
fn approach3(fit: &super::plan::FitFile, c_lo: f64, c_hi: f64) -> Result<Exponents, String> {
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
    let av: Vec<f64> = draws.iter().map(|d| d.0).collect();
    let bv: Vec<f64> = draws.iter().map(|d| d.1).collect();
    Ok(Exponents {
        a,
        b,
        a_ci95: percentile_ci95(&av),
        b_ci95: percentile_ci95(&bv),
        ln_n0: n0,
        ln_d0: d0,
        bootstrap_ok: draws.len(),
    })
}

/// The analysis of one set of runs.
fn analyse(
    obs: &Observations,
    runs: Option<&[String]>,
    opts: &IsoflopOptions,
    fit: Option<&super::plan::FitFile>,
) -> Result<(Map<String, Value>, String)> {
    let mut out = Map::new();
    let mut text = String::new();
    let mut warnings = Vec::new();
    let r2 = approach2(obs, opts).map_err(|e| anyhow::anyhow!("{e}"))?;
    let e2 = &r2.exponents;
    out.insert("n_runs".into(), json!(obs.len()));
    out.insert("a".into(), json!(e2.a));
    out.insert("b".into(), json!(e2.b));
    out.insert("a_ci95".into(), json!(e2.a_ci95));
    out.insert("b_ci95".into(), json!(e2.b_ci95));
    out.insert("optima".into(), json!(r2.optima));
    out.insert("skipped".into(), json!(r2.skipped));
    text.push_str(&format!(
        "{:>10}  {:>11}  {:>11}  {:>8}  {:>10}\n",
        "FLOPs", "N*", "D*", "loss*", "runs used"
    ));
    for o in &r2.optima {
        text.push_str(&format!(
            "{:>10.3e}  {:>11.4e}  {:>11.4e}  {:>8.4}  {:>5}/{:<4}\n",
            o.flops, o.n_opt, o.d_opt, o.loss_opt, o.n_used, o.n_runs
        ));
    }
    for s in &r2.skipped {
        text.push_str(&format!("{:>10.3e}  skipped: {}\n", s.flops, s.reason));
    }
    let mut approaches = Map::new();
    approaches.insert("approach2".into(), exponents_json(e2));
    let mut named: Vec<(&str, Exponents)> = vec![("Approach 2", e2.clone())];

    let ids = match runs {
        Some(keys) => run_ids(keys),
        None => run_ids_by_size(obs),
    };
    match approach1(obs, &ids, opts) {
        Ok(r1) => {
            let mut v = exponents_json(&r1.exponents);
            v["envelope"] = json!(r1.envelope);
            approaches.insert("approach1".into(), v);
            named.push(("Approach 1", r1.exponents.clone()));
        }
        Err(e) => warnings.push(format!("Approach 1 unavailable: {e}")),
    }
    if let Some(fit) = fit {
        let c_lo = obs.c.iter().copied().fold(f64::INFINITY, f64::min);
        let c_hi = obs.c.iter().copied().fold(0.0, f64::max);
        match approach3(fit, c_lo, c_hi) {
            Ok(e3) => {
                approaches.insert("approach3".into(), exponents_json(&e3));
                named.push(("Approach 3", e3));
            }
            Err(e) => warnings.push(format!("Approach 3 unavailable: {e}")),
        }
    }
    text.push_str(&format!(
        "\n{:<12}  {:<26}  {:<26}\n",
        "", "a  (N* ∝ C^a) [95% CI]", "b  (D* ∝ C^b) [95% CI]"
    ));
    for (name, e) in &named {
        text.push_str(&format!(
            "{name:<12}  {:<26}  {:<26}\n",
            show(e.a, e.a_ci95),
            show(e.b, e.b_ci95)
        ));
    }
    let pairs: Vec<(&str, &Exponents)> = named.iter().map(|(n, e)| (*n, e)).collect();
    warnings.extend(disagreements(&pairs));
    if r2.optima.len() < 4 {
        warnings.push(format!(
            "only {} budgets gave an optimum: the exponents rest on few points",
            r2.optima.len()
        ));
    }
    out.insert("approaches".into(), Value::Object(approaches));
    out.insert("warnings".into(), json!(warnings));
    for w in &warnings {
        text.push_str(&format!("warning: {w}\n"));
    }
    Ok((out, text))
}

pub fn run(args: Args) -> Result<()> {
    if args.window.is_nan() || args.window <= 1.0 {
        bail!(
            "--window must be a factor greater than 1 (or inf), got {}",
            args.window
        );
    }
    let opts = IsoflopOptions {
        window: args.window,
        bootstrap: args.bootstrap,
        seed: args.seed,
        ..Default::default()
    };
    let fit = match &args.fit {
        Some(p) => {
            let f = super::plan::read_fit(p)?;
            scalelab_core::plan::LossSurface::new(f.law.as_ref(), &f.params, &six_n)
                .map_err(|e| anyhow::anyhow!("fit file {}: {e}", p.display()))?;
            Some(f)
        }
        None => None,
    };
    let kept = super::fit::load_table(&args.runs, &args.filters)?;
    for w in &kept.warnings {
        eprintln!("warning: {w}");
    }
    let table = kept.table;
    // a text column named by a flag, the flag named in the error
    let flag_column = |t: &Table, col: &str, flag: &str| -> Result<Vec<String>> {
        t.text_column(col)
            .map_err(|e| anyhow::anyhow!("{flag} {col}: {e}"))
    };
    let groups: Vec<(Option<String>, Table)> = match &args.group_by {
        None => vec![(None, table)],
        Some(col) => {
            let keys = flag_column(&table, col, "--group-by")?;
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
        }
    };
    let mut results = Vec::new();
    let mut text = String::new();
    let mut failures = 0;
    for (name, t) in &groups {
        let mut loaded = load(t, &args)?;
        loaded.notes.splice(0..0, kept.notes.iter().cloned());
        let runs = match &args.run_col {
            Some(c) => Some(flag_column(t, c, "--run-col")?),
            None => None,
        };
        if let Some(n) = name {
            text.push_str(&format!(
                "\n== {} = {n} ({} runs)\n",
                args.group_by.as_deref().unwrap_or_default(),
                loaded.obs.len()
            ));
        }
        for note in &loaded.notes {
            text.push_str(&format!("note: {note}\n"));
        }
        match analyse(&loaded.obs, runs.as_deref(), &opts, fit.as_ref()) {
            Ok((mut obj, t)) => {
                if let Some(n) = name {
                    obj.insert("group".into(), json!(n));
                }
                obj.insert("notes".into(), json!(loaded.notes));
                results.push(Value::Object(obj));
                text.push_str(&t);
            }
            Err(e) => {
                let msg = match name {
                    Some(n) => format!(
                        "{} = {n}: {e:#}",
                        args.group_by.as_deref().unwrap_or_default()
                    ),
                    None => format!("{}: {e:#}", args.runs.display()),
                };
                if groups.len() == 1 {
                    bail!("{msg}");
                }
                failures += 1;
                text.push_str(&format!("error: {msg}\n"));
                results.push(json!({"group": name, "error": format!("{e:#}")}));
            }
        }
    }
    if args.json {
        let mut out = Map::new();
        out.insert("schema".into(), json!("scalelab.isoflop/1"));
        out.insert("runs".into(), json!(args.runs.display().to_string()));
        out.insert("where".into(), json!(args.filters));
        out.insert("window".into(), json!(args.window));
        out.insert("bootstrap".into(), json!(args.bootstrap));
        out.insert("seed".into(), json!(args.seed));
        match &args.group_by {
            Some(col) => {
                out.insert("group_by".into(), json!(col));
                out.insert("groups".into(), Value::Array(results));
            }
            None => {
                if let Some(Value::Object(o)) = results.pop() {
                    out.extend(o);
                }
            }
        }
        println!("{}", serde_json::to_string_pretty(&Value::Object(out))?);
    } else {
        print!("{}", text.trim_start_matches('\n'));
    }
    if failures == groups.len() {
        bail!("no group could be analysed");
    }
    Ok(())
}

/// Reads N, D, C and loss through the tables crate: a missing one of N, D
/// and C is derived from the other two by C = 6ND, with a note.
fn load(t: &Table, args: &Args) -> Result<Loaded> {
    let map = ColumnMap {
        params: args.params_col.clone(),
        tokens: args.tokens_col.clone(),
        flops: args.flops_col.clone(),
        loss: args.loss_col.clone(),
    };
    Ok(t.observations(&map, &[Variable::N, Variable::D, Variable::C])?)
}
