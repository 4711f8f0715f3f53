//! `scalelab hparams`: learning-rate (and batch) optima per compute budget
//! and their power laws η_opt(C), B_opt(C).

use anyhow::Result;
use scalelab::format_compact as fc;
use scalelab::hparams::{HparamsReport, HparamsRequest};
use std::path::PathBuf;

/// Shown after the options in `--help`.
const HELP: &str = r#"Hyperparameter scaling: the learning rate (and batch size) that minimise
the loss at each compute budget, and power laws of them in the budget.

Per budget: the best run, the near-optimal runs (loss ≤ (1 + tol)·best,
tol 1% by default), and a quadratic of loss against ln lr through the
--fit-points lrs nearest the best run; its vertex is the budget's η_opt
(flagged `edge` when it falls outside those lrs). With several batch sizes
(a `batch` column) the same gives B_opt. Then η_opt(C) = a·C^b (and
B_opt(C)) by least squares in log-log, with percentile bootstrap intervals
(each resample redraws every budget's runs, seeded: deterministic).

Budgets come from the `flops_budget` column when every row has one (a
sweep with [grid] flops = [..]), else from `flops` (runs within 5% share a
budget); --budget-col overrides.

The report (-o hparams.json, schema scalelab.hparams/1) carries `lr_rule`
= { base, ref_flops, exponent }: put it in the next sweep's [schedule]
(lr = base·(C/ref_flops)^exponent), and give the file to `scalelab report`
for the figures.

--holdout-largest fits on every budget but the largest, predicts η_opt
there, and says whether the prediction lies in that budget's near-optimal
band: the smooth fit's loss at the predicted lr is within tol of the best.

Examples:

  scalelab hparams runs/hparams

  scalelab hparams runs/hparams/runs.csv --holdout-largest

  scalelab hparams runs.csv --tol 0.02 --bootstrap 2000 --seed 1 -o hparams.json

  scalelab hparams runs.csv --budget-col flops --where 'schedule == "wsd"' --json"#;

/// Arguments of `scalelab hparams` (the long help is [`HELP`]).
#[derive(clap::Args, Debug)]
#[command(after_help = HELP)]
pub struct Args {
    /// Table of runs (CSV, JSONL or Parquet, or a sweep directory for its
    /// `runs.*`) with a budget, a learning rate and a loss per run.
    /// Example: `runs.csv`.
    #[arg(value_name = "RUNS")]
    pub runs: PathBuf,

    /// Keep only rows matching an expression; repeatable.
    /// Example: `--where 'lr < 0.03'`.
    #[arg(long = "where", value_name = "EXPR")]
    pub filters: Vec<String>,

    /// Near-optimal runs: loss ≤ (1 + tol)·best loss of their budget.
    /// Example: `--tol 0.02`.
    #[arg(
        long,
        default_value_t = 0.01,
        value_name = "FRACTION",
        allow_negative_numbers = true
    )]
    pub tol: f64,

    /// Learning rates (nearest the best run) the quadratic in ln lr goes
    /// through, at least 3. Example: `--fit-points 3`.
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub fit_points: usize,

    /// Bootstrap resamples for the laws' 95% intervals (0: none). The
    /// default, 1000, is cheap: a resample refits parabolas and lines only.
    /// Example: `--bootstrap 2000`.
    #[arg(long, default_value_t = 1000, value_name = "N")]
    pub bootstrap: usize,

    /// Seed of the bootstrap. Example: `--seed 7`.
    #[arg(long, default_value_t = 0, value_name = "SEED")]
    pub seed: u64,

    /// Fit on every budget but the largest and check the prediction there.
    #[arg(long)]
    pub holdout_largest: bool,

    /// Column of budgets (default `flops_budget` when filled, else `flops`).
    /// Example: `--budget-col compute`.
    #[arg(long, value_name = "COLUMN")]
    pub budget_col: Option<String>,

    /// Column of learning rates (default `lr`). Example: `--lr-col peak_lr`.
    #[arg(long, value_name = "COLUMN")]
    pub lr_col: Option<String>,

    /// Column of batch sizes (default `batch` when present).
    /// Example: `--batch-col batch_size`.
    #[arg(long, value_name = "COLUMN")]
    pub batch_col: Option<String>,

    /// Column of losses (default `loss`). Example: `--loss-col val_loss`.
    #[arg(long, value_name = "COLUMN")]
    pub loss_col: Option<String>,

    /// Write the report (scalelab.hparams/1, with `lr_rule`) to this file.
    /// Example: `-o hparams.json`.
    #[arg(short, long, value_name = "FILE")]
    pub out: Option<PathBuf>,

    /// Print one JSON object (scalelab.hparams/1, keys in docs/hparams.md)
    /// instead of tables.
    #[arg(long)]
    pub json: bool,
}

impl Args {
    fn request(&self) -> HparamsRequest {
        let mut r = HparamsRequest::new(&self.runs);
        r.filters = self.filters.clone();
        r.tol = self.tol;
        r.window = self.fit_points;
        r.bootstrap = self.bootstrap;
        r.seed = self.seed;
        r.holdout_largest = self.holdout_largest;
        r.budget_col = self.budget_col.clone();
        r.batch_col = self.batch_col.clone();
        if let Some(c) = &self.lr_col {
            r.lr_col = c.clone();
        }
        if let Some(c) = &self.loss_col {
            r.loss_col = c.clone();
        }
        r.out = self.out.clone();
        r
    }
}

pub fn run(args: Args) -> Result<()> {
    let report = scalelab::hparams::run(&args.request())?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", text(&report));
        if let Some(o) = &args.out {
            println!("wrote {}", o.display());
        }
    }
    Ok(())
}

fn ci(c: Option<[f64; 2]>) -> String {
    c.map_or(String::new(), |c| format!(" [{}, {}]", fc(c[0]), fc(c[1])))
}

/// The report as text.
fn text(r: &HparamsReport) -> String {
    let mut t = String::new();
    for n in &r.notes {
        t += &format!("note: {n}\n");
    }
    t += &format!(
        "{:>10}  {:>5}  {:>10}  {:>8}  {:>21}  {:>10}  {}\n",
        "FLOPs", "runs", "best lr", "loss", "near-optimal lr", "lr_opt", "kind"
    );
    for b in &r.budgets {
        t += &format!(
            "{:>10}  {:>5}  {:>10}  {:>8.4}  {:>21}  {:>10}  {}\n",
            fc(b.flops),
            b.points.len(),
            fc(b.best.lr),
            b.best.loss,
            format!("{} – {}", fc(b.lr_band[0]), fc(b.lr_band[1])),
            fc(b.lr_opt),
            b.lr_opt_kind
        );
        if let (Some(bo), Some(k)) = (b.batch_opt, &b.batch_opt_kind) {
            t += &format!("{:>10}  batch_opt {} ({k})\n", "", fc(bo));
        }
    }
    let l = &r.lr_law;
    t += &format!(
        "\nη_opt(C) = {}·C^{}  exponent{}; at C = {}: {}{}\n",
        fc(l.coef),
        fc(l.exponent),
        ci(l.exponent_ci95),
        fc(l.ref_flops),
        fc(l.at_ref),
        ci(l.at_ref_ci95)
    );
    if let Some(b) = &r.batch_law {
        t += &format!(
            "B_opt(C) = {}·C^{}  exponent{}\n",
            fc(b.coef),
            fc(b.exponent),
            ci(b.exponent_ci95)
        );
    }
    t += &format!(
        "bootstrap: {} resamples used, {} skipped (seed {})\n",
        r.bootstrap_used, r.bootstrap_skipped, r.seed
    );
    t += &format!(
        "sweep rule: [schedule] lr_rule = {{ base = {}, ref_flops = {}, exponent = {} }}\n",
        r.lr_rule.base, r.lr_rule.ref_flops, r.lr_rule.exponent
    );
    if let Some(h) = &r.holdout {
        t += &format!(
            "\nheld out: C = {} (fitted on {} budgets: exponent {}{})\n",
            fc(h.flops),
            h.fitted_on.len(),
            fc(h.law.exponent),
            ci(h.law.exponent_ci95)
        );
        t += &format!(
            "  predicted lr {}{}; measured lr_opt {}, best run lr {} (loss {:.4}), near-optimal lrs {} – {}\n",
            fc(h.predicted_lr),
            ci(h.predicted_lr_ci95),
            fc(h.measured_lr_opt),
            fc(h.best.lr),
            h.best.loss,
            fc(h.lr_band[0]),
            fc(h.lr_band[1])
        );
        match (h.fitted_loss_at_prediction, h.loss_ratio) {
            (Some(l), Some(q)) => {
                let pct = (q - 1.0) * 100.0;
                let side = if pct >= 0.0 { "above" } else { "below" };
                t += &format!(
                    "  smooth fit at the prediction: loss {l:.4}, {:.2}% {side} the best run's: {} the near-optimal band (tol {}%)\n",
                    pct.abs(),
                    if h.within_tol { "INSIDE" } else { "OUTSIDE" },
                    r.tol * 100.0
                )
            }
            _ => t += "  the prediction lies outside the held-out budget's lr grid: OUTSIDE\n",
        }
    }
    for w in &r.warnings {
        t += &format!("warning: {w}\n");
    }
    t
}
