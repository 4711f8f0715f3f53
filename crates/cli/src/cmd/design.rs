//! `scalelab design`: propose pilot runs (an IsoFLOP grid) for a total
//! budget, and write them as a sweep file; with `--simulate`, choose
//! between candidate designs by simulating and fitting noisy pilots.

use anyhow::Result;
use scalelab::design::simulate::{
    parse_candidates, Prior, SimulateReport, SimulateRequest, Target,
};
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

  scalelab design --pilot-flops 1e12 --out pilot.toml && scalelab sweep pilot.toml --out runs/pilot

  scalelab design --pilot-flops 1e18 --fit fit.json --json

Design by simulation (`--simulate`): for each candidate design, scaled to
spend `--pilot-flops`, draw `--replicates` noisy pilots from a prior law
(`--prior`: a Chinchilla fit file, `hoffmann`, `epoch` or
E=…,A=…,B=…,alpha=…,beta=…) with log-normal noise σ (`--noise`; default
from the fit file's residuals, 1.4826 × their median absolute value, else
0.01), fit each with the real fitter (variable projection, Huber 1e-3, as
`scalelab fit`), plan at the target budget (`--target-flops`, or
`--target-factor` × the pilot budget, default 100) and report the 95%
width of N*, D*, tokens/param (high/low) and loss ((high−low)/median), the
bias of E and the fraction of failed fits. Candidates are ranked by the
width of tokens/param, then of N*. `--out` writes the best as a sweep TOML
file. Candidates (`--candidates`, `;`-separated; default: four IsoFLOP
grids and three ladders over 1–2 decades):

  isoflop:budgets=K,sizes=K,decades=X,spread=F,tpp=R   (defaults 5, 7, 2, 4; tpp:
                                   the prior's optimum at the mid budget)
  ladder:sizes=K,branches=B1/B2/…,decades=X,decay=F,tpp=R
                                   (defaults 5, 0.25/0.5/1/2, 1.5, 0.2) — a WSD
                                   ladder: K sizes, each one run with cooldown
                                   branches at tokens B·tpp·N; decades of compute
                                   spanned by the sizes' base runs

  scalelab design --simulate --pilot-flops 2.5e13 --context 64 --prior fit.json

  scalelab design --simulate --pilot-flops 1e18 --prior hoffmann --noise 0.02 \
      --candidates "isoflop:budgets=4,sizes=5,decades=1;ladder:sizes=5" \
      --replicates 100 --out best.toml"#;

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

    /// Write the design as a sweep file that `scalelab sweep FILE` runs:
    /// FILE.toml is a TOML sweep file (`[train]` and one `[[runs]]` a run,
    /// to edit); any other name gets the `scalelab.sweep/1` JSON (each run's
    /// `config` a `scalelab train` configuration). With --simulate: the best
    /// design, as TOML. Example: `--out pilot.toml`.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub out: Option<PathBuf>,

    /// Print one JSON object instead of a table (keys documented in docs/plan.md).
    #[arg(long)]
    pub json: bool,

    /// Choose between candidate designs by simulating noisy pilots from
    /// `--prior` and fitting them (see below). Example: `--simulate --prior hoffmann`.
    #[arg(long, requires = "prior", conflicts_with_all = ["budgets", "decades", "sizes", "spread", "tokens_per_param", "fit"])]
    pub simulate: bool,

    /// The prior law of `--simulate`: a Chinchilla fit file, `hoffmann`,
    /// `epoch`, or `E=…,A=…,B=…,alpha=…,beta=…`. Example: `--prior fit.json`.
    #[arg(long, value_name = "PRIOR", requires = "simulate")]
    pub prior: Option<String>,

    /// σ of the log-normal noise on simulated losses (default: from the
    /// prior fit's residuals, else 0.01). Example: `--noise 0.01`.
    #[arg(
        long,
        value_name = "SIGMA",
        requires = "simulate",
        allow_negative_numbers = true
    )]
    pub noise: Option<f64>,

    /// The budget to plan for, in FLOPs (6ND). Example: `--target-flops 1e21`.
    #[arg(long, value_name = "FLOPS", requires = "simulate", conflicts_with = "target_factor", allow_negative_numbers = true, value_parser = positive)]
    pub target_flops: Option<f64>,

    /// The budget to plan for, as a multiple of `--pilot-flops` (default 100).
    /// Example: `--target-factor 1000`.
    #[arg(long, value_name = "K", requires = "simulate", allow_negative_numbers = true, value_parser = positive)]
    pub target_factor: Option<f64>,

    /// Candidate designs, `;`-separated (grammar below; repeatable).
    /// Example: `--candidates "isoflop:budgets=4,sizes=5,decades=1;ladder:sizes=5"`.
    #[arg(long, value_name = "SPEC", requires = "simulate")]
    pub candidates: Vec<String>,

    /// Simulated pilots per candidate. Example: `--replicates 500`.
    #[arg(long, default_value_t = 200, value_name = "R", requires = "simulate")]
    pub replicates: usize,

    /// Seed of the simulated noise (the result is the same for any thread
    /// count). Example: `--seed 1`.
    #[arg(long, default_value_t = 0, value_name = "SEED", requires = "simulate")]
    pub seed: u64,

    /// Worker threads of `--simulate` (default: all cores). Example: `--threads 2`.
    #[arg(long, value_name = "K", requires = "simulate")]
    pub threads: Option<usize>,

    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
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

impl Args {
    /// The library request of `--simulate`.
    fn simulate_request(&self) -> scalelab::Result<SimulateRequest> {
        let prior = Prior::parse(self.prior.as_deref().unwrap_or_default())?;
        let mut req = SimulateRequest::new(self.pilot_flops, prior);
        req.noise = self.noise;
        if let Some(c) = self.target_flops {
            req.target = Target::Flops(c);
        } else if let Some(k) = self.target_factor {
            req.target = Target::Factor(k);
        }
        for c in &self.candidates {
            req.candidates.extend(parse_candidates(c)?);
        }
        req.replicates = self.replicates;
        req.seed = self.seed;
        req.context = self.context;
        req.vocab = self.vocab;
        req.out = self.out.clone();
        Ok(req)
    }
}

pub fn run(args: Args) -> Result<()> {
    if args.simulate {
        scalelab::threads::init(args.threads)?;
        let req = args.simulate_request()?;
        let bars = crate::progress::Bars::new(args.quiet || args.json);
        let report = scalelab::design::simulate::run(&req, &bars)?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            print!("{}", simulate_text(&report));
        }
        return Ok(());
    }
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

/// The simulation as one row per candidate, best first.
fn simulate_text(r: &SimulateReport) -> String {
    let t = &r.truth;
    let mut s = format!(
        "{} replicates per candidate from the prior {} (E={:.4}, A={:.4}, B={:.4}, alpha={:.4}, \
         beta={:.4}), noise σ={:.4} ({}); plan at {:.3e} FLOPs, where the prior's optimum is \
         N*={:.3e}, D*={:.3e}, {:.1} tokens/param, loss {:.4}\n\n",
        r.replicates,
        r.prior.source,
        r.prior.e,
        r.prior.a,
        r.prior.b,
        r.prior.alpha,
        r.prior.beta,
        r.noise,
        r.noise_source,
        r.target_flops,
        t.n,
        t.d,
        t.tokens_per_param,
        t.loss
    );
    s.push_str(&format!(
        "{:>4}  {:<62}  {:>5}  {:>9}  {:>9}  {:>9}  {:>9}  {:>8}  {:>7}  {:>6}\n",
        "rank", "design", "runs", "FLOPs", "N* ×", "D* ×", "D/N ×", "loss ±%", "E bias", "failed"
    ));
    for c in &r.candidates {
        s.push_str(&format!(
            "{:>4}  {:<62}  {:>5}  {:>9.3e}  {:>9.3}  {:>9.3}  {:>9.3}  {:>8.3}  {:>+6.1}%  {:>5.1}%{}\n",
            c.rank,
            c.spec,
            c.runs,
            c.flops,
            c.width_n_star,
            c.width_d_star,
            c.width_tokens_per_param,
            50.0 * c.width_loss,
            100.0 * c.e_bias,
            100.0 * c.failed_fraction,
            if c.rank == 1 { "  <- best" } else { "" }
        ));
    }
    s.push_str(&format!(
        "\nwidths: 95% intervals over the replicates, as high/low (N*, D*, tokens/param) and \
         ±half-width/median (loss); ranked {}. {:.1} s, {:.1} ms per fit.\n",
        r.ranking,
        r.seconds,
        1e3 * r.seconds_per_replicate
    ));
    if let Some(out) = &r.sweep_file {
        s.push_str(&format!("wrote sweep file {out} (the best design)\n"));
    }
    if let Some(rmse) = r.prior_residual_rmse {
        s.push_str(&format!(
            "note: the prior fit's log residuals have rmse {rmse:.4}; the widths grow fast with \
             σ, so rerun with --noise {rmse:.4} for the pessimistic case\n"
        ));
    }
    for c in &r.candidates {
        for w in &c.warnings {
            s.push_str(&format!("warning: {}: {w}\n", c.spec));
        }
    }
    s
}
