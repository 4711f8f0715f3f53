//! `scalelab design`: propose pilot runs (an IsoFLOP grid) for a total
//! budget, and write them as a sweep file.

use anyhow::Result;
use scalelab::design::{DesignReport, DesignRequest};
use std::path::PathBuf;

use crate::args::positive;

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
    #[arg(long, value_name = "FLOPS", allow_negative_numbers = true, value_parser = positive)]
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
    #[arg(long, default_value_t = 20.0, value_name = "R", allow_negative_numbers = true, value_parser = positive)]
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

impl Args {
    /// The library request of these arguments.
    fn request(&self) -> DesignRequest {
        DesignRequest {
            pilot_flops: self.pilot_flops,
            budgets: self.budgets,
            decades: self.decades,
            sizes: self.sizes,
            spread: self.spread,
            tokens_per_param: self.tokens_per_param,
            fit: self.fit.clone(),
            context: self.context,
            vocab: self.vocab,
            out: self.out.clone(),
        }
    }
}

pub fn run(args: Args) -> Result<()> {
    let report = scalelab::design::run(&args.request())?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", text(&report));
    }
    Ok(())
}

/// The design as a table of runs, then the sweep file written and the
/// warnings.
fn text(d: &DesignReport) -> String {
    let mut s = format!(
        "{} pilot runs over {} budgets ({:.2e} … {:.2e} FLOPs), {:.3e} FLOPs in all; sizes around {}\n\n",
        d.runs.len(),
        d.budgets.len(),
        d.budgets.first().copied().unwrap_or(f64::NAN),
        d.budgets.last().copied().unwrap_or(f64::NAN),
        d.total_flops,
        d.prior
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
    if let Some(out) = &d.sweep_file {
        s.push_str(&format!("\nwrote sweep file {out}\n"));
    }
    for w in &d.warnings {
        s.push_str(&format!("warning: {w}\n"));
    }
    s
}
