//! `scalelab isoflop`: compute-optimal exponents from runs (Hoffmann et al.
//! 2022 Approaches 1 and 2, and Approach 3 from a fit), side by side.

use anyhow::{bail, Result};
use scalelab::isoflop::{ColumnMap, GroupResult, IsoflopReport, IsoflopRequest};

use crate::progress::Bars;
use std::path::PathBuf;

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

Budgets: runs are grouped by the design's `flops_budget` column when every
row has one (a sweep designed with [design] or `scalelab design`) and no
--flops-col is given; otherwise runs whose FLOPs agree within 0.05 decades
are one budget. With --run-col and several rows per run (curves.csv),
Approach 2 uses each run's final row. The notes say which grouping was used.

Examples:

  scalelab isoflop runs/pilot

  scalelab isoflop runs/pilot/curves.csv --run-col run

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

    /// Analyse each combination of these columns' values separately, in one
    /// call; comma-separated or repeated. Example: `--group-by config_id`.
    #[arg(long, value_delimiter = ',', value_name = "COLUMNS")]
    pub group_by: Vec<String>,

    /// Column of parameter counts N (default `params`). Example: `--params-col n`.
    #[arg(long, value_name = "COLUMN")]
    pub params_col: Option<String>,

    /// Column of training tokens D (default `tokens`). Example: `--tokens-col t`.
    #[arg(long, value_name = "COLUMN")]
    pub tokens_col: Option<String>,

    /// Column of FLOPs C (default `flops`; derived as 6ND when absent).
    /// Rows whose C agree within 0.05 decades form one budget; without this
    /// flag a `flops_budget` column, when every row has one, gives the
    /// budgets. Example: `--flops-col compute`.
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
    /// The default, 1000, is higher than `fit`'s and `emerge`'s: a replicate
    /// refits only parabolas and lines, so it is cheap.
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

    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

impl Args {
    /// The library request of these arguments.
    fn request(&self) -> IsoflopRequest {
        IsoflopRequest {
            runs: self.runs.clone(),
            filters: self.filters.clone(),
            group_by: self.group_by.clone(),
            columns: ColumnMap {
                params: self.params_col.clone(),
                tokens: self.tokens_col.clone(),
                flops: self.flops_col.clone(),
                loss: self.loss_col.clone(),
                unique: None,
            },
            run_col: self.run_col.clone(),
            window: self.window,
            bootstrap: self.bootstrap,
            seed: self.seed,
            fit: self.fit.clone(),
        }
    }
}

pub fn run(args: Args) -> Result<()> {
    let req = args.request();
    let input = scalelab::isoflop::load(&req)?;
    for w in &input.warnings {
        eprintln!("warning: {w}");
    }
    let report = scalelab::isoflop::analyse(&req, &input, &Bars::new(args.quiet))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", text(&report).trim_start_matches('\n'));
    }
    if report.all_failed() {
        bail!("no group could be analysed");
    }
    Ok(())
}

fn show(v: f64, c: Option<[f64; 2]>) -> String {
    match c {
        Some(c) => format!("{v:.3} [{:.3}, {:.3}]", c[0], c[1]),
        None => format!("{v:.3}"),
    }
}

/// The report as text: per group, its notes, Approach 2's optima, the
/// approaches side by side and the warnings.
fn text(report: &IsoflopReport) -> String {
    let mut text = String::new();
    for r in report.results() {
        if let Some(n) = r.group() {
            text.push_str(&format!(
                "\n== {} = {n} ({} runs)\n",
                report.group_by.as_deref().unwrap_or_default(),
                r.n_runs()
            ));
        }
        for note in r.notes() {
            text.push_str(&format!("note: {note}\n"));
        }
        let a = match &r {
            GroupResult::Analysed(a) => a,
            GroupResult::Failed(f) => {
                text.push_str(&format!("error: {}\n", report.failure_message(f)));
                continue;
            }
        };
        text.push_str(&format!(
            "{:>10}  {:>11}  {:>11}  {:>8}  {:>10}\n",
            "FLOPs", "N*", "D*", "loss*", "runs used"
        ));
        for o in &a.optima {
            text.push_str(&format!(
                "{:>10.3e}  {:>11.4e}  {:>11.4e}  {:>8.4}  {:>5}/{:<4}\n",
                o.flops, o.n_opt, o.d_opt, o.loss_opt, o.n_used, o.n_runs
            ));
        }
        for s in &a.skipped {
            text.push_str(&format!("{:>10.3e}  skipped: {}\n", s.flops, s.reason));
        }
        text.push_str(&format!(
            "\n{:<12}  {:<26}  {:<26}\n",
            "", "a  (N* ∝ C^a) [95% CI]", "b  (D* ∝ C^b) [95% CI]"
        ));
        for (name, e) in a.approaches.named() {
            text.push_str(&format!(
                "{name:<12}  {:<26}  {:<26}\n",
                show(e.a, e.a_ci95),
                show(e.b, e.b_ci95)
            ));
        }
        for w in &a.warnings {
            text.push_str(&format!("warning: {w}\n"));
        }
    }
    text
}
