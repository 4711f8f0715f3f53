//! `scalelab fit`: fit a scaling law to a table of runs, with bootstrap
//! intervals, a held-out extrapolation check and identifiability warnings.
//!
//! The work is `scalelab::fit`; this module turns the flags into a
//! [`FitRequest`] and renders the [`FitReport`] (the `scalelab.fit/1`
//! schema documented in `docs/fit.md`) as text or JSON.

use anyhow::Result;
use scalelab::fit::{ColumnMap, LAW_NAMES};
use scalelab::fit::{ConditioningSummary, RolloutSummary};
use scalelab::fit::{FitReport, FitRequest, Holdout, Method, Robust};
use std::path::PathBuf;

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

Intervals: a 95% confidence interval (CI) is where the law's mean curve is,
from the bootstrap; a 95% prediction interval (PI) is where one more run's
loss falls: the CI and the runs' scatter σ (1.4826·MAD of the log residuals)
combined in quadrature on the log scale.

Conditioning: the condition number of the Gauss-Newton Hessian in centred,
scaled variables and (with --bootstrap) the parameters' bootstrap
correlations; a warning names parameters the runs cannot tell apart.

Rollout (--rollout): runs are grouped into compute budgets (a flops_budget
column, else C within 0.05 decades); for every budget cut the law is refitted
on the runs at or below it and predicts the runs above. Errors are reported
per cut and by extrapolation distance (decades of compute beyond the cut),
with how many held-out runs fell inside their 95% PI.

Tables: CSV/TSV, JSONL or Parquet (by extension), or a sweep directory (its
runs.csv). Columns default to params (N), tokens (D), flops (C) and loss;
name others with --params-col etc. (spaces are fine: --params-col 'Model
Size'). With two of N, D, C the third follows from C = 6ND (with a note).

Examples:

  scalelab fit runs.csv --law chinchilla --bootstrap 1000 --out fit.json

  scalelab fit chinchilla.csv --params-col 'Model Size' --flops-col 'Training FLOP' \
      --where 'loss < 3.4469' --method grid --json

  scalelab fit runs.parquet --law power-c --holdout-largest 3

  scalelab fit sweep/ --law chinchilla --rollout --bootstrap 200

  scalelab fit runs.jsonl --law kaplan --loss-col val_loss --where 'status == "done"'

Data-constrained scaling (--law data-constrained, Muennighoff et al. 2023):
runs that repeat U unique tokens for D/U epochs. The law is Chinchilla's at
an effective data D' and effective parameters N':

  R_D = D/U_D − 1 (repetitions), U_D = min(U, D)
  D'  = U_D + U_D·R*_D·(1 − exp(−R_D/R*_D))
  U_N = min(N, N_opt(U_D)) (the compute-optimal size for U_D tokens)
  R_N = N/U_N − 1,  N' = U_N + U_N·R*_N·(1 − exp(−R_N/R*_N))
  L   = E + A/N'^α + B/D'^β

It needs each run's unique tokens (a unique_tokens column, or
--unique-col NAME). Fitted are E, A, B, α, β, R_D_star and R_N_star
together, or with --base FIT only R_D_star and R_N_star on top of the
Chinchilla parameters of an earlier fit. `scalelab plan --unique-tokens`
then uses the fitted R*_D and R*_N.

  scalelab fit sweep/ --law data-constrained --bootstrap 200 --out dc.json

  scalelab fit runs.csv --law data-constrained --unique-col 'Unique Tokens' \
      --base chinchilla-fit.json --bootstrap 200 --json"#;

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
    /// law), data-constrained (Chinchilla at effective parameters and data
    /// that discount excess parameters and repeated tokens; needs a
    /// unique-tokens column).
    #[arg(long, default_value = "chinchilla", value_parser = LAW_NAMES.to_vec())]
    pub law: String,

    /// With --law data-constrained: hold E, A, B, alpha and beta fixed at
    /// this fit file (chinchilla or data-constrained) and fit only R_D_star
    /// and R_N_star. Example: `--base chinchilla-fit.json`.
    #[arg(long, value_name = "FIT")]
    pub base: Option<PathBuf>,

    /// Search method: varpro (variable projection, the default) or grid
    /// (L-BFGS from the law's full start grid). Laws without linear
    /// coefficients (kaplan) always use grid.
    #[arg(long, default_value = "varpro", value_parser = ["varpro", "grid"])]
    pub method: String,

    /// Huber δ of the summed robust loss on log residuals.
    #[arg(long, default_value_t = 1e-3, value_name = "DELTA", value_parser = crate::args::positive, allow_negative_numbers = true)]
    pub huber_delta: f64,

    /// Plain least squares on log residuals instead of Huber.
    #[arg(long)]
    pub least_squares: bool,

    /// Column holding the parameter count N.
    #[arg(long, value_name = "COLUMN")]
    pub params_col: Option<String>,
    /// Column holding the training tokens D.
    #[arg(long, value_name = "COLUMN")]
    pub tokens_col: Option<String>,
    /// Column holding the training compute C in FLOPs.
    #[arg(long, value_name = "COLUMN")]
    pub flops_col: Option<String>,
    /// Column holding the loss (nats per token).
    #[arg(long, value_name = "COLUMN")]
    pub loss_col: Option<String>,
    /// Column holding each run's unique tokens U (read by --law
    /// data-constrained; default unique_tokens, as a sweep's runs.csv).
    #[arg(long, value_name = "NAME")]
    pub unique_col: Option<String>,

    /// Keep only rows that match, e.g. `--where 'loss < 3.4469'` or
    /// `--where '`Model Size` >= 1e8 and tokens < 1e11'`; repeat to combine.
    /// Operators: < <= > >= == !=; strings in quotes.
    #[arg(long = "where", value_name = "EXPR")]
    pub filters: Vec<String>,

    /// Bootstrap resamples (runs drawn with replacement, each refitted);
    /// gives standard errors and 95% percentile intervals. The default is 0
    /// (none), unlike `isoflop` (1000) and `emerge` (400): each resample
    /// refits the whole law, which takes seconds to minutes; 200 to 1000
    /// give usable intervals.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub bootstrap: usize,

    /// Seed of the bootstrap; results are identical for any thread count.
    #[arg(long, default_value_t = 0, value_name = "SEED")]
    pub seed: u64,

    /// Hold out the runs with compute above FLOPS, fit the rest, and report the
    /// error of the held-out predictions.
    #[arg(long, value_name = "FLOPS", value_parser = crate::args::positive, allow_negative_numbers = true, conflicts_with = "holdout_largest")]
    pub holdout_above_flops: Option<f64>,

    /// Hold out the K runs with the largest compute (see --holdout-above-flops).
    #[arg(long, value_name = "K")]
    pub holdout_largest: Option<usize>,

    /// Rollout backtest: for every compute budget, fit on the runs at or
    /// below it and predict those above; report the error per cut and by
    /// extrapolation distance (decades), and prediction-interval coverage
    /// (each cut runs min(--bootstrap, 100) resamples for its intervals).
    #[arg(long)]
    pub rollout: bool,

    /// Worker threads (default: all cores).
    #[arg(long, value_name = "K")]
    pub threads: Option<usize>,

    /// Print one JSON object (schema scalelab.fit/1, see docs/fit.md).
    #[arg(long)]
    pub json: bool,

    /// Also write the JSON object to this file (for `scalelab plan --fit`).
    #[arg(short = 'o', long, value_name = "FILE")]
    pub out: Option<PathBuf>,

    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

impl Args {
    /// The library request these flags describe.
    pub fn request(&self) -> FitRequest {
        FitRequest {
            table: self.table.clone(),
            law: self.law.clone(),
            method: if self.method == "grid" {
                Method::Grid
            } else {
                Method::VarPro
            },
            robust: if self.least_squares {
                Robust::LeastSquares
            } else {
                Robust::Huber {
                    delta: self.huber_delta,
                }
            },
            columns: ColumnMap {
                params: self.params_col.clone(),
                tokens: self.tokens_col.clone(),
                flops: self.flops_col.clone(),
                loss: self.loss_col.clone(),
                unique: self.unique_col.clone(),
            },
            filters: self.filters.clone(),
            bootstrap: self.bootstrap,
            seed: self.seed,
            holdout: match (self.holdout_above_flops, self.holdout_largest) {
                (Some(c), _) => Some(Holdout::AboveFlops(c)),
                (None, Some(k)) => Some(Holdout::Largest(k)),
                _ => None,
            },
            rollout: self.rollout,
            base: self.base.clone(),
        }
    }
}

pub fn run(args: Args) -> Result<()> {
    scalelab::threads::init(args.threads)?;
    let bars = crate::progress::Bars::new(args.quiet);
    let report = scalelab::fit::fit(&args.request(), &bars)?;
    super::emit_report(
        &report,
        || render(&report),
        &report.warnings,
        args.out.as_deref(),
        args.json,
    )
}

/// A number with about five significant digits, in plain or scientific
/// notation as suits its size (the report's formatting).
pub fn sig(v: f64) -> String {
    scalelab::format_number(v)
}

/// The terminal text of a fit.
pub fn render(r: &FitReport) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(s, "law      {}   {}", r.law, r.formula);
    let _ = writeln!(
        s,
        "data     {} ({} of {} rows)",
        r.input.path, r.input.rows_used, r.input.rows_read
    );
    for n in &r.notes {
        let _ = writeln!(s, "note     {n}");
    }
    let robust = match r.loss_function.delta {
        Some(delta) if r.loss_function.kind == "huber" => Robust::Huber { delta },
        _ => Robust::LeastSquares,
    };
    let _ = writeln!(
        s,
        "method   {} on {}, {} starts, {} reached the best objective, {} ({:.2} s)",
        r.method,
        robust.label(),
        r.starts,
        r.starts_at_best,
        if r.converged {
            "converged"
        } else {
            "NOT converged"
        },
        r.timing.fit_s
    );
    let _ = writeln!(s, "objective {:.10e} (summed over runs)", r.objective);
    let _ = writeln!(s);
    let boot = r.bootstrap.as_ref();
    if boot.is_some() {
        let _ = writeln!(
            s,
            "{:<10} {:>14} {:>12}   {:<30}",
            "parameter", "estimate", "std. error", "95% interval"
        );
    } else {
        let _ = writeln!(s, "{:<10} {:>14}", "parameter", "estimate");
    }
    let rows = r.params.0.iter().chain(&r.derived.0);
    for (k, (name, v)) in rows.enumerate() {
        if k == r.params.len() {
            let _ = writeln!(s, "derived");
        }
        match boot.and_then(|b| Some((b.se.get(name)?, b.ci95.get(name)?))) {
            Some((se, ci)) => {
                let _ = writeln!(
                    s,
                    "{:<10} {:>14} {:>12}   [{}, {}]",
                    name,
                    sig(*v),
                    sig(*se),
                    sig(ci[0]),
                    sig(ci[1])
                );
            }
            None => {
                let _ = writeln!(s, "{:<10} {:>14}", name, sig(*v));
            }
        }
    }
    if let Some(b) = boot {
        let _ = writeln!(
            s,
            "bootstrap {} resamples (seed {}), {} not converged{} ({:.2} s)",
            b.n,
            b.seed,
            b.not_converged,
            if b.degenerate > 0 {
                format!(
                    ", {} degenerate (left out of ± standard errors)",
                    b.degenerate
                )
            } else {
                String::new()
            },
            r.timing.bootstrap_s
        );
    }
    let _ = writeln!(s);
    let res = &r.residuals;
    let _ = writeln!(
        s,
        "residuals ln L − ln L̂: rmse {}, mean {}, median |r| {}, max |r| {} (line {})",
        sig(res.rmse),
        sig(res.mean),
        sig(res.median_abs),
        sig(res.max_abs),
        res.max_abs_line.unwrap_or(0)
    );
    if r.residuals.scatter.is_finite() {
        let _ = writeln!(
            s,
            "scatter  σ = {} (1.4826·MAD of ln L − ln L̂): a run's 95% prediction interval adds ±{:.2}% to the law's",
            sig(r.residuals.scatter),
            100.0 * (1.959964 * r.residuals.scatter).exp_m1()
        );
    }
    if let Some(c) = &r.conditioning {
        s.push_str(&conditioning_text(c));
    }
    if let Some(h) = &r.holdout {
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "holdout  {}: fitted on {} runs, predicted {}",
            h.rule,
            h.n_train,
            h.points.len()
        );
        let _ = writeln!(
            s,
            "         mean |error| {:.3}%, max |error| {:.3}%, mean error {:+.3}%",
            100.0 * h.mean_abs_rel_error,
            100.0 * h.max_abs_rel_error,
            100.0 * h.mean_rel_error
        );
        let _ = writeln!(
            s,
            "         {:>6} {:>12} {:>12} {:>12} {:>10} {:>10} {:>9}",
            "line", "N", "D", "C", "loss", "predicted", "error"
        );
        for p in &h.points {
            let _ = writeln!(
                s,
                "         {:>6} {:>12} {:>12} {:>12} {:>10} {:>10} {:>+8.3}%",
                p.line.unwrap_or(0),
                sig(p.params),
                sig(p.tokens),
                sig(p.flops),
                sig(p.loss),
                sig(p.predicted),
                100.0 * p.rel_error
            );
        }
    }
    if let Some(ro) = &r.rollout {
        s.push_str(&rollout_text(ro));
    }
    s
}

/// The conditioning lines of a fit.
fn conditioning_text(c: &ConditioningSummary) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "conditioning  condition number {} (Gauss-Newton Hessian, centred and scaled variables)",
        if c.condition_number.is_finite() {
            format!("{:.3e}", c.condition_number)
        } else {
            "infinite".into()
        }
    );
    if let Some(m) = &c.correlations {
        let _ = writeln!(s, "bootstrap correlations (centred variables):");
        let _ = write!(s, "{:>10}", "");
        for n in &m.names {
            let _ = write!(s, " {n:>7}");
        }
        let _ = writeln!(s);
        for (name, row) in m.names.iter().zip(&m.matrix) {
            let _ = write!(s, "{name:>10}");
            for v in row {
                if v.is_finite() {
                    let _ = write!(s, " {v:>7.3}");
                } else {
                    let _ = write!(s, " {:>7}", "-");
                }
            }
            let _ = writeln!(s);
        }
    }
    s
}

/// The rollout table of a fit.
fn rollout_text(r: &RolloutSummary) -> String {
    use std::fmt::Write;
    let pct = |v: f64| format!("{:.2}%", 100.0 * v);
    let mut s = String::new();
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "rollout  {} budgets (grouped by {}); {} cuts; {} of {} held-out runs inside their 95% prediction interval (a run; {})",
        r.budgets.len(),
        r.grouped_by,
        r.cuts.len(),
        r.inside_pi95,
        r.n_points,
        if r.bootstrap > 0 {
            format!("law from {} bootstrap resamples per cut + scatter", r.bootstrap)
        } else {
            "scatter only: no --bootstrap".into()
        }
    );
    let _ = writeln!(
        s,
        "         {:>10} {:>7} {:>6} {:>11} {:>10} {:>10} {:>9}",
        "cut FLOPs", "fitted", "held", "mean |err|", "max |err|", "mean err", "in PI95"
    );
    for c in &r.cuts {
        match &c.failed {
            Some(why) => {
                let _ = writeln!(
                    s,
                    "         {:>10.3e} {:>7} {:>6}   fit failed: {why}",
                    c.max_train_flops, c.n_train, c.n_held_out
                );
            }
            None => {
                let _ = writeln!(
                    s,
                    "         {:>10.3e} {:>7} {:>6} {:>11} {:>10} {:>10} {:>9}",
                    c.max_train_flops,
                    c.n_train,
                    c.n_held_out,
                    pct(c.mean_abs_rel_error),
                    pct(c.max_abs_rel_error),
                    format!("{:+.2}%", 100.0 * c.mean_rel_error),
                    format!("{}/{}", c.inside_pi95, c.n_held_out)
                );
            }
        }
    }
    let _ = writeln!(
        s,
        "         by extrapolation distance (decades of compute beyond the cut):"
    );
    let _ = writeln!(
        s,
        "         {:>13} {:>6} {:>11} {:>10} {:>10} {:>9}",
        "decades", "runs", "mean |err|", "max |err|", "mean err", "in PI95"
    );
    for b in &r.by_distance {
        let _ = writeln!(
            s,
            "         {:>13} {:>6} {:>11} {:>10} {:>10} {:>9}",
            format!("[{:.2}, {:.2})", b.lo_decades, b.hi_decades),
            b.n,
            pct(b.mean_abs_rel_error),
            pct(b.max_abs_rel_error),
            format!("{:+.2}%", 100.0 * b.mean_rel_error),
            format!("{}/{}", b.inside_pi95, b.n)
        );
    }
    s
}
