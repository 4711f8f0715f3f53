//! `scalelab compare`: the effective-compute multiplier between two recipes
//! (two ladders of runs), with bootstrap intervals and the crossover.
//!
//! The work is `scalelab::compare`; this module turns the flags into a
//! [`CompareRequest`] and renders the [`CompareReport`] (the
//! `scalelab.compare/1` schema documented in `docs/compare.md`) as text or
//! JSON.

use anyhow::Result;
use scalelab::compare::{CompareReport, CompareRequest, Groups, DEFAULT_CONVENTION_COLUMN};
use scalelab::fit::{ColumnMap, Robust};
use std::path::PathBuf;

const HELP: &str = r#"What the multiplier means:

Each ladder's compute frontier (per budget, the lowest loss: IsoFLOP data
have several sizes per budget) is fitted with L(C) = E + A·C^-α (summed
Huber loss on log residuals, as `fit --law power-c`). At a compute C of
recipe A, recipe B needs C_B = ((L_A(C) − E_B)/A_B)^(-1/α_B) to reach the
same loss; the multiplier is m(C) = C_B/C. m > 1: A is more
compute-efficient (B needs m times the compute); m < 1: B is. m is
undefined where L_A(C) <= E_B (B never reaches that loss). Reported: m at
A's frontier points inside the common compute range (and at each --at),
its geometric mean over that range, and the crossover compute where the
fitted curves cross (inside the range or within half a decade of it).

Bootstrap: each ladder's frontier points are resampled with replacement
and refitted; 95% percentile intervals for every m, the geometric mean and
the crossover. Default 200 resamples (each refits two 3-parameter laws:
about a second).

Conventions: ladders that count parameters or FLOPs differently (Porian
et al.'s param_count: kaplan, standard, attention) are not comparable; when
both ladders have the --convention-col column (default param_count) and its
values differ, compare stops with an error naming both values
(--no-convention-check compares anyway, with a warning).

Examples:

  scalelab compare recipe_a.csv recipe_b.csv

  scalelab compare data/porian2024_isoflop/isoflop_points.csv --group-by config_id \
      --group-a 'rw|base|short|chinchilla|standard|val' \
      --group-b 'rw|base|short|kaplan|standard|val' --bootstrap 200 -o compare.json

  scalelab compare a.csv b.csv --shared-e --at 1e20 --at 1e21 --json

  scalelab compare a.jsonl b.parquet --flops-col compute --loss-col val_loss \
      --where 'loss < 4' --seed 1"#;

/// Arguments of `scalelab compare`.
#[derive(clap::Args, Debug)]
#[command(after_help = HELP)]
pub struct Args {
    /// Recipe A's run table (CSV/TSV, JSONL, Parquet or a sweep directory),
    /// or with --group-by the one table holding both ladders.
    #[arg(value_name = "TABLE_A")]
    pub table_a: PathBuf,

    /// Recipe B's run table (omit with --group-by).
    #[arg(value_name = "TABLE_B")]
    pub table_b: Option<PathBuf>,

    /// Pick both ladders from TABLE_A by these columns' values (with
    /// --group-a and --group-b; several columns: their values joined with
    /// `,`); comma-separated or repeated. Example: `--group-by config_id`.
    #[arg(long, value_delimiter = ',', value_name = "COLUMNS", requires_all = ["group_a", "group_b"])]
    pub group_by: Vec<String>,

    /// The --group-by value of recipe A.
    #[arg(long, value_name = "VALUE", requires = "group_by")]
    pub group_a: Option<String>,

    /// The --group-by value of recipe B.
    #[arg(long, value_name = "VALUE", requires = "group_by")]
    pub group_b: Option<String>,

    /// Fit both ladders with one irreducible loss E (A and α per ladder).
    #[arg(long)]
    pub shared_e: bool,

    /// Bootstrap resamples of the frontier points (0: none). Default 200:
    /// each resample refits two 3-parameter laws, cheap.
    #[arg(long, default_value_t = 200, value_name = "N")]
    pub bootstrap: usize,

    /// Seed of the bootstrap; results are identical for any thread count.
    #[arg(long, default_value_t = 0, value_name = "SEED")]
    pub seed: u64,

    /// Also report the multiplier at this compute of recipe A (FLOPs);
    /// repeatable. Example: `--at 1e21`.
    #[arg(long, value_name = "FLOPS", value_parser = crate::args::positive, allow_negative_numbers = true)]
    pub at: Vec<f64>,

    /// Column naming each ladder's FLOP/parameter convention (default
    /// param_count); differing values are an error.
    #[arg(long, value_name = "COLUMN", default_value = DEFAULT_CONVENTION_COLUMN)]
    pub convention_col: String,

    /// Compare ladders on different conventions anyway (with a warning).
    #[arg(long)]
    pub no_convention_check: bool,

    /// Column holding the training compute C in FLOPs (default flops; 6ND
    /// from --params-col and --tokens-col when absent).
    #[arg(long, value_name = "COLUMN")]
    pub flops_col: Option<String>,
    /// Column holding the parameter count N (used for C = 6ND without a
    /// flops column).
    #[arg(long, value_name = "COLUMN")]
    pub params_col: Option<String>,
    /// Column holding the training tokens D (used for C = 6ND without a
    /// flops column).
    #[arg(long, value_name = "COLUMN")]
    pub tokens_col: Option<String>,
    /// Column holding the loss (default loss).
    #[arg(long, value_name = "COLUMN")]
    pub loss_col: Option<String>,

    /// Keep only rows that match (both ladders), e.g. `--where 'loss < 4'`;
    /// repeat to combine.
    #[arg(long = "where", value_name = "EXPR")]
    pub filters: Vec<String>,

    /// Huber δ of the summed robust loss on log residuals.
    #[arg(long, default_value_t = 1e-3, value_name = "DELTA", value_parser = crate::args::positive, allow_negative_numbers = true)]
    pub huber_delta: f64,

    /// Worker threads (default: all cores).
    #[arg(long, value_name = "K")]
    pub threads: Option<usize>,

    /// Print one JSON object (schema scalelab.compare/1, see docs/compare.md).
    #[arg(long)]
    pub json: bool,

    /// Also write the JSON object to this file (for `scalelab report`).
    #[arg(short = 'o', long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

impl Args {
    /// The library request these flags describe.
    pub fn request(&self) -> CompareRequest {
        CompareRequest {
            table_a: self.table_a.clone(),
            table_b: self.table_b.clone(),
            groups: match (self.group_by.is_empty(), &self.group_a, &self.group_b) {
                (false, Some(a), Some(b)) => Some(Groups {
                    columns: self.group_by.clone(),
                    a: a.clone(),
                    b: b.clone(),
                }),
                _ => None,
            },
            columns: ColumnMap {
                params: self.params_col.clone(),
                tokens: self.tokens_col.clone(),
                flops: self.flops_col.clone(),
                loss: self.loss_col.clone(),
                unique: None,
            },
            filters: self.filters.clone(),
            convention_col: self.convention_col.clone(),
            no_convention_check: self.no_convention_check,
            shared_e: self.shared_e,
            bootstrap: self.bootstrap,
            seed: self.seed,
            at: self.at.clone(),
            robust: Robust::Huber {
                delta: self.huber_delta,
            },
        }
    }
}

pub fn run(args: Args) -> Result<()> {
    scalelab::threads::init(args.threads)?;
    let report = scalelab::compare::compare(&args.request())?;
    super::emit_report(
        &report,
        || render(&report),
        &report.warnings,
        args.out.as_deref(),
        args.json,
    )
}

fn sig(v: f64) -> String {
    scalelab::format_number(v)
}

fn interval(ci: Option<[f64; 2]>) -> String {
    ci.map_or_else(String::new, |c| format!("[{}, {}]", sig(c[0]), sig(c[1])))
}

/// The terminal text of a comparison.
pub fn render(r: &CompareReport) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    for (name, l) in [("A", &r.a), ("B", &r.b)] {
        let range = l.frontier.range();
        let _ = writeln!(
            s,
            "recipe {name}  {}  ({} rows, {} frontier points, C {} to {}{})",
            l.label,
            l.rows,
            l.frontier.len(),
            sig(range[0]),
            sig(range[1]),
            l.convention
                .as_ref()
                .map(|c| format!(", convention {c}"))
                .unwrap_or_default()
        );
        let _ = writeln!(
            s,
            "          L = {} + {}·C^-{}   ({})",
            sig(l.fit.e),
            sig(l.fit.a),
            sig(l.fit.alpha),
            if l.fit.converged {
                "converged"
            } else {
                "NOT converged"
            }
        );
    }
    if r.shared_e {
        let _ = writeln!(s, "E is shared by both fits (--shared-e)");
    }
    for n in &r.notes {
        let _ = writeln!(s, "note      {n}");
    }
    let _ = writeln!(
        s,
        "\noverlap   {} to {} FLOPs",
        sig(r.overlap[0]),
        sig(r.overlap[1])
    );
    let _ = writeln!(
        s,
        "\n{:>12} {:>10} {:>12} {:>10}   {:<24}",
        "C (A)", "L_A", "C_B", "m", "95% interval"
    );
    for p in &r.points {
        let _ = writeln!(
            s,
            "{:>12} {:>10} {:>12} {:>10}   {:<24}{}",
            sig(p.compute),
            sig(p.loss_a),
            p.compute_b.map_or("-".into(), sig),
            p.multiplier.map_or("undefined".into(), sig),
            interval(p.ci95),
            if p.requested { "  (--at)" } else { "" }
        );
    }
    let _ = writeln!(
        s,
        "\ngeo-mean multiplier  {} {}{}",
        r.geo_mean.map_or("undefined".into(), sig),
        interval(r.geo_mean_ci95),
        if r.geo_mean_undefined > 0 {
            format!("  ({} grid points undefined)", r.geo_mean_undefined)
        } else {
            String::new()
        }
    );
    let _ = writeln!(
        s,
        "crossover            {}",
        match r.crossover {
            Some(c) => format!("{} FLOPs {}", sig(c), interval(r.crossover_ci95)),
            None => "none near the overlap".into(),
        }
    );
    if let Some(b) = &r.bootstrap {
        let _ = writeln!(
            s,
            "bootstrap            {} resamples (seed {}), {} used, {} not converged, {} with a crossover",
            b.resamples, b.seed, b.used, b.not_converged, b.with_crossover
        );
    }
    s
}
