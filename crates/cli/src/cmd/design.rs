//! `scalelab design`: propose pilot runs (an IsoFLOP grid) for a total
//! budget, and write them as a sweep file.

use anyhow::{bail, Context, Result};
use scalelab_core::design::{design, optimum_at_ratio, DesignOptions};
use scalelab_core::plan::{self, six_n};
use serde_json::json;
use std::path::PathBuf;

/// Shown after the options in `--help`: the method and examples (the
/// subcommand's one-line summary comes from its variant in `main.rs`).
const HELP: &str = r#"Propose pilot runs that can identify a scaling law.

The design is an IsoFLOP grid: `--budgets` FLOP budgets spread evenly in
log space over `--decades` decades (at least 1.5 recommended), and at each
budget `--sizes` model sizes spread evenly in ln N over ×`--spread` either
side of the expected compute-optimal size (from `--tokens-per-param`, or
from a previous fit with `--fit`). The budgets are scaled so that all runs
together spend `--pilot-flops` (6N convention). Each size becomes a GPT
shape through the accounting shape rule; tokens are C/(6N) with N the
shape's exact non-embedding count. Warnings say when the design cannot
identify the law (too few budgets or sizes, too narrow a span, sizes the
shape rule cannot hit, runs too short to train).

Examples:

  scalelab design --pilot-flops 1e17

  scalelab design --pilot-flops 5e17 --budgets 6 --decades 2.5 --sizes 9 --out sweep.json

  scalelab design --pilot-flops 1e18 --fit fit.json --json"#;

/// Arguments of `scalelab design` (the long help is [`HELP`]).
#[derive(clap::Args, Debug)]
#[command(after_help = HELP)]
pub struct Args {
    /// Total FLOPs of all pilot runs together (6N convention).
    /// Example: `--pilot-flops 1e17`.
    #[arg(long, value_name = "FLOPS", allow_negative_numbers = true, value_parser = positive_number)]
    pub pilot_flops: f64,

    /// Number of FLOP budgets (IsoFLOP profiles). Example: `--budgets 6`.
    #[arg(long, default_value_t = 5, value_name = "K")]
    pub budgets: usize,

    /// Decades between the smallest and largest budget. Example: `--decades 2.5`.
    #[arg(
        long,
        default_value_t = 2.0,
        value_name = "DECADES",
        allow_negative_numbers = true
    )]
    pub decades: f64,

    /// Model sizes per budget. Example: `--sizes 9`.
    #[arg(long, default_value_t = 7, value_name = "K")]
    pub sizes: usize,

    /// Sizes span from N*/SPREAD to N*·SPREAD around the expected optimum N*.
    /// Example: `--spread 5`.
    #[arg(
        long,
        default_value_t = 4.0,
        value_name = "FACTOR",
        allow_negative_numbers = true
    )]
    pub spread: f64,

    /// Prior for the expected optimum: tokens per parameter at the optimum,
    /// N* = sqrt(C / (6·r)). Ignored with `--fit`. Example: `--tokens-per-param 20`.
    #[arg(long, default_value_t = 20.0, value_name = "R", allow_negative_numbers = true, value_parser = positive_number)]
    pub tokens_per_param: f64,

    /// Take the expected optimum from a previous fit (`scalelab fit --out`)
    /// instead of a tokens-per-parameter prior. Example: `--fit fit.json`.
    #[arg(long, value_name = "FILE")]
    pub fit: Option<PathBuf>,

    /// Context length of the pilot models. Example: `--context 256`.
    #[arg(long, default_value_t = 128, value_name = "TOKENS")]
    pub context: usize,

    /// Vocabulary size of the pilot models. Example: `--vocab 50257`.
    #[arg(long, default_value_t = 256, value_name = "SIZE")]
    pub vocab: usize,

    /// Write the design as a sweep file (`scalelab.sweep/1` JSON; each run's
    /// `config` is a `scalelab train` configuration). Example: `--out sweep.json`.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,

    /// Print one JSON object instead of a table (keys documented in docs/plan.md).
    #[arg(long)]
    pub json: bool,
}

fn positive_number(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        Ok(v) => Err(format!("must be a positive finite number, got {v}")),
        Err(_) => Err(format!("`{s}` is not a number (write e.g. 1e17)")),
    }
}

pub fn run(args: Args) -> Result<()> {
    let opts = DesignOptions {
        total_flops: args.pilot_flops,
        budgets: args.budgets,
        decades: args.decades,
        sizes: args.sizes,
        spread: args.spread,
        context: args.context,
        vocab: args.vocab,
    };
    if args.budgets == 0 {
        bail!("--budgets must be at least 1");
    }
    if args.sizes == 0 {
        bail!("--sizes must be at least 1");
    }
    if args.decades.is_nan() || args.decades < 0.0 {
        bail!(
            "--decades must be a non-negative number, got {}",
            args.decades
        );
    }
    if args.spread.is_nan() || args.spread < 1.0 {
        bail!(
            "--spread must be a factor of at least 1, got {}",
            args.spread
        );
    }
    let fit = match &args.fit {
        Some(p) => {
            let f = super::plan::read_fit(p)?;
            plan::LossSurface::new(f.law.as_ref(), &f.params, &six_n)
                .map_err(|e| anyhow::anyhow!("fit file {}: {e}", p.display()))?;
            Some(f)
        }
        None => None,
    };
    let prior = |c: f64| -> f64 {
        match &fit {
            Some(f) => plan::optimum(f.law.as_ref(), &f.params, c, &six_n, Some(6.0))
                .map(|a| a.n)
                .unwrap_or(f64::NAN),
            None => optimum_at_ratio(c, args.tokens_per_param),
        }
    };
    let d = design(&opts, &prior).map_err(|e| anyhow::anyhow!("{e}"))?;
    let prior_text = match &args.fit {
        Some(p) => format!("the optimum of fit {}", p.display()),
        None => format!("{} tokens per parameter", args.tokens_per_param),
    };
    let sweep = json!({
        "schema": "scalelab.sweep/1",
        "generated_by": "scalelab design",
        "pilot_flops": args.pilot_flops,
        "budgets": d.budgets,
        "runs": d.runs.iter().map(|r| json!({
            "name": r.name,
            "flops_budget": r.flops,
            "params_non_embedding": r.params,
            "params_total": r.params_total,
            "flops_exact": r.flops_exact,
            "config": {
                "n_layer": r.shape.n_layer, "d_model": r.shape.d_model, "n_head": r.shape.n_head,
                "d_ff": r.shape.d_ff, "context": r.shape.context, "vocab": r.shape.vocab,
                "tokens": r.tokens.round() as u64,
            },
        })).collect::<Vec<_>>(),
    });
    if let Some(out) = &args.out {
        std::fs::write(out, serde_json::to_string_pretty(&sweep)? + "\n")
            .with_context(|| format!("cannot write sweep file {}", out.display()))?;
    }
    if args.json {
        let v = json!({
            "schema": "scalelab.design/1",
            "pilot_flops": args.pilot_flops,
            "total_flops": d.total_flops,
            "prior": prior_text,
            "budgets": d.budgets,
            "runs": d.runs,
            "warnings": d.warnings,
            "sweep_file": args.out.as_ref().map(|p| p.display().to_string()),
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    let mut s = format!(
        "{} pilot runs over {} budgets ({:.2e} … {:.2e} FLOPs), {:.3e} FLOPs in all; sizes around {prior_text}\n\n",
        d.runs.len(),
        d.budgets.len(),
        d.budgets.first().copied().unwrap_or(f64::NAN),
        d.budgets.last().copied().unwrap_or(f64::NAN),
        d.total_flops
    );
    s.push_str(&format!(
        "{:>10}  {:>22}  {:>6} {:>6} {:>5}  {:>10}  {:>10}  {:>9}  {:>8}\n",
        "FLOPs", "name", "layers", "width", "heads", "params", "tokens", "tok/param", "N/N*"
    ));
    for r in &d.runs {
        s.push_str(&format!(
            "{:>10.3e}  {:>22}  {:>6} {:>6} {:>5}  {:>10.3e}  {:>10.3e}  {:>9.1}  {:>8.2}\n",
            r.flops,
            r.name,
            r.shape.n_layer,
            r.shape.d_model,
            r.shape.n_head,
            r.params,
            r.tokens,
            r.tokens / r.params,
            r.params / r.n_expected_opt
        ));
    }
    if let Some(out) = &args.out {
        s.push_str(&format!("\nwrote sweep file {}\n", out.display()));
    }
    for w in &d.warnings {
        s.push_str(&format!("warning: {w}\n"));
    }
    print!("{s}");
    Ok(())
}
