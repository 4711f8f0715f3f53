//! Design by simulation: which pilot design will pin the plan down best?
//!
//! [`run`] takes a [`SimulateRequest`]: a prior Chinchilla law (a fit file,
//! Hoffmann et al.'s or Epoch AI's published values, or explicit values), a
//! noise level, a total pilot budget, a target budget and candidate designs
//! (IsoFLOP grids and WSD ladders, [`Candidate`]). Each candidate is scaled
//! to the budget, and `replicates` noisy pilots are simulated from the prior,
//! fitted with the real fitter (as `scalelab fit` by default) and planned at
//! the target ([`scalelab_core::simulate`]). The [`SimulateReport`]
//! (`scalelab.design-simulation/1`) ranks the candidates by the 95% width of
//! tokens per parameter at the target, then of N*; with `out` the best one is
//! written as a sweep file (TOML) for `scalelab sweep`.

use crate::{Error, Progress, Result, Task, Warning, WarningKind};
use scalelab_core::design::MAX_DESIGN_FLOPS;
use scalelab_core::fit::FitOptions;
use scalelab_core::plan::ChinchillaParams;
use scalelab_core::simulate::{
    realise, simulate, PlanPoint, Realised, SimulateOptions, MAX_REPLICATES,
};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;

pub use scalelab_core::simulate::{Candidate, LadderRung, Percentiles, Simulation};

/// The `schema` of a simulation report.
pub const SCHEMA: &str = "scalelab.design-simulation/1";

/// How the candidates are ranked.
pub const RANKING: &str =
    "by the 95% width (high/low) of tokens per parameter at the target, then of N*";

/// Noise σ when the prior is not a fit file and none is given: about the
/// scatter of the default study's validation losses (1%).
pub const DEFAULT_NOISE: f64 = 0.01;

/// Hoffmann et al. (2022), Approach 3.
pub const HOFFMANN: [f64; 5] = [1.69, 406.4, 410.7, 0.34, 0.28];
/// Besiroglu et al. (2024), Epoch AI's replication of Approach 3.
pub const EPOCH: [f64; 5] = [1.82, 482.01, 2085.43, 0.3478, 0.3658];

/// Where the prior law comes from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Prior {
    /// A `scalelab.fit/1` file of the Chinchilla law; its residuals give
    /// the noise unless one is given.
    Fit { path: PathBuf },
    /// Hoffmann et al. (2022): E = 1.69, A = 406.4, B = 410.7, α = 0.34, β = 0.28.
    Hoffmann,
    /// Besiroglu et al. (2024): E = 1.82, A = 482.01, B = 2085.43,
    /// α = 0.3478, β = 0.3658.
    Epoch,
    /// Explicit values.
    Values {
        e: f64,
        a: f64,
        b: f64,
        alpha: f64,
        beta: f64,
    },
}

impl Prior {
    /// Parses `--prior`: `hoffmann`, `epoch`, `E=…,A=…,B=…,alpha=…,beta=…`,
    /// or else the path of a fit file.
    pub fn parse(s: &str) -> Result<Prior> {
        let t = s.trim();
        match t.to_ascii_lowercase().as_str() {
            "hoffmann" => return Ok(Prior::Hoffmann),
            "epoch" => return Ok(Prior::Epoch),
            "" => return Err(Error::flag("--prior", "--prior is empty")),
            _ => {}
        }
        if !t.contains('=') {
            return Ok(Prior::Fit { path: t.into() });
        }
        let mut v: [Option<f64>; 5] = [None; 5];
        for tok in t.split(',') {
            let bad = |why: &str| {
                Error::flag(
                    "--prior",
                    format!(
                        "--prior: {why} in `{tok}` (give E=…,A=…,B=…,alpha=…,beta=…, \
                         `hoffmann`, `epoch` or a fit file)"
                    ),
                )
            };
            let (k, x) = tok.split_once('=').ok_or_else(|| bad("no `=`"))?;
            let i = match k.trim() {
                "E" | "e" => 0,
                "A" | "a" => 1,
                "B" | "b" => 2,
                "alpha" | "α" => 3,
                "beta" | "β" => 4,
                _ => return Err(bad(&format!("unknown key `{}`", k.trim()))),
            };
            if v[i].is_some() {
                return Err(bad(&format!("`{}` given twice", k.trim())));
            }
            let x: f64 = x
                .trim()
                .parse()
                .map_err(|_| bad(&format!("`{}` is not a number", x.trim())))?;
            v[i] = Some(x);
        }
        let names = ["E", "A", "B", "alpha", "beta"];
        let missing: Vec<&str> = (0..5)
            .filter(|&i| v[i].is_none())
            .map(|i| names[i])
            .collect();
        if !missing.is_empty() {
            return Err(Error::flag(
                "--prior",
                format!("--prior `{t}` lacks {}", missing.join(", ")),
            ));
        }
        let [e, a, b, alpha, beta] = v.map(|x| x.unwrap_or(f64::NAN));
        Ok(Prior::Values {
            e,
            a,
            b,
            alpha,
            beta,
        })
    }
}

/// The budget the plan is made for.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// FLOPs (6ND).
    Flops(f64),
    /// A multiple of the pilots' total compute.
    Factor(f64),
}

/// What to simulate.
#[derive(Clone, Debug, PartialEq)]
pub struct SimulateRequest {
    /// Total FLOPs of every candidate's pilot runs (6N convention).
    pub pilot_flops: f64,
    pub prior: Prior,
    /// σ of the log-normal loss noise; `None`: from the fit file's
    /// residuals, else [`DEFAULT_NOISE`].
    pub noise: Option<f64>,
    pub target: Target,
    /// Candidate designs; empty: [`default_candidates`].
    pub candidates: Vec<Candidate>,
    pub replicates: usize,
    pub seed: u64,
    /// Context length and vocabulary of the pilot models' shapes.
    pub context: usize,
    pub vocab: usize,
    /// Where to write the best design as a sweep file (TOML).
    pub out: Option<PathBuf>,
}

impl SimulateRequest {
    /// A request with the CLI's defaults.
    pub fn new(pilot_flops: f64, prior: Prior) -> Self {
        SimulateRequest {
            pilot_flops,
            prior,
            noise: None,
            target: Target::Factor(100.0),
            candidates: Vec::new(),
            replicates: 200,
            seed: 0,
            context: 128,
            vocab: 256,
            out: None,
        }
    }
}

/// The prior as used.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PriorReport {
    /// Where it came from, in words.
    pub source: String,
    #[serde(rename = "E")]
    pub e: f64,
    #[serde(rename = "A")]
    pub a: f64,
    #[serde(rename = "B")]
    pub b: f64,
    pub alpha: f64,
    pub beta: f64,
}

/// One candidate's simulated outcome.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CandidateReport {
    /// 1 for the best.
    pub rank: usize,
    /// The candidate in the `--candidates` grammar.
    pub spec: String,
    pub candidate: Candidate,
    /// Training runs (a ladder's sizes count once each).
    pub runs: usize,
    /// Losses a fit sees (a ladder: sizes × branches).
    pub points: usize,
    /// FLOPs the design spends (6N convention).
    pub flops: f64,
    /// Tokens per parameter the design is centred on.
    pub tokens_per_param_centre: f64,
    /// 95% widths at the target: high/low for N*, D*, tokens/param;
    /// (high − low)/median for the loss.
    pub width_n_star: f64,
    pub width_d_star: f64,
    pub width_tokens_per_param: f64,
    pub width_loss: f64,
    /// (median fitted E − prior E)/prior E.
    pub e_bias: f64,
    /// Replicates not converged, degenerate or without a plan.
    pub failed_fraction: f64,
    pub simulation: Simulation,
    /// A ladder's rungs (absent for an IsoFLOP grid).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rungs: Vec<LadderRung>,
    pub warnings: Vec<Warning>,
}

/// The `scalelab.design-simulation/1` report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SimulateReport {
    pub schema: String,
    pub pilot_flops: f64,
    pub prior: PriorReport,
    pub noise: f64,
    /// Where the noise came from, in words.
    pub noise_source: String,
    /// The root mean square log residual of the prior's fit file, if any: a
    /// pessimistic σ (it counts the runs that sit off the law, which the
    /// robust default discounts).
    pub prior_residual_rmse: Option<f64>,
    pub target_flops: f64,
    pub replicates: usize,
    pub seed: u64,
    /// The prior law's own plan at the target.
    pub truth: PlanPoint,
    pub ranking: String,
    /// Best first.
    pub candidates: Vec<CandidateReport>,
    /// The best candidate's spec.
    pub best: String,
    /// The sweep file written, if any.
    pub sweep_file: Option<String>,
    /// Wall time of the simulation and per fitted replicate.
    pub seconds: f64,
    pub seconds_per_replicate: f64,
}

/// The candidates simulated when none are given: IsoFLOP grids and WSD
/// ladders over one to two decades of compute.
pub fn default_candidates() -> Vec<Candidate> {
    let iso = |budgets, sizes, decades, spread| Candidate::Isoflop {
        budgets,
        sizes,
        decades,
        spread,
        tokens_per_param: None,
    };
    let ladder = |sizes, branches: &[f64], decades| Candidate::Ladder {
        sizes,
        branches: branches.to_vec(),
        decades,
        decay_fraction: 0.2,
        tokens_per_param: None,
    };
    vec![
        iso(4, 5, 1.0, 3.0),
        iso(5, 5, 1.5, 3.0),
        iso(5, 7, 2.0, 4.0),
        iso(3, 7, 2.0, 4.0),
        ladder(5, &[0.25, 0.5, 1.0, 2.0], 1.0),
        ladder(6, &[0.25, 0.5, 1.0, 2.0, 4.0], 1.5),
        ladder(8, &[0.5, 1.0, 2.0], 2.0),
    ]
}

/// Keys of each kind, for messages.
const ISOFLOP_KEYS: &str = "budgets, sizes, decades, spread, tpp";
const LADDER_KEYS: &str = "sizes, branches, decades, decay, tpp";

/// Parses `--candidates`: candidates separated by `;`, each `KIND:KEY=VALUE,…`
/// with KIND `isoflop` (keys budgets, sizes, decades, spread, tpp; defaults
/// 5, 7, 2, 4 and the prior's optimum) or `ladder` (keys sizes, branches
/// as `/`-separated multiples, decades, decay, tpp; defaults 5,
/// 0.25/0.5/1/2, 1.5, 0.2 and the prior's optimum).
pub fn parse_candidates(s: &str) -> Result<Vec<Candidate>> {
    let mut out = Vec::new();
    for spec in s.split(';').map(str::trim).filter(|t| !t.is_empty()) {
        let bad =
            |why: String| Error::flag("--candidates", format!("--candidates `{spec}`: {why}"));
        let (kind, rest) = spec.split_once(':').unwrap_or((spec, ""));
        let kind = kind.trim();
        let pairs: Vec<(&str, &str)> = rest
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(|t| {
                t.split_once('=')
                    .map(|(k, v)| (k.trim(), v.trim()))
                    .ok_or_else(|| bad(format!("`{t}` is not KEY=VALUE")))
            })
            .collect::<Result<_>>()?;
        let num = |k: &str, v: &str| -> Result<f64> {
            v.parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .ok_or_else(|| bad(format!("{k}=`{v}` is not a number")))
        };
        let count = |k: &str, v: &str| -> Result<usize> {
            v.parse::<usize>()
                .ok()
                .filter(|x| *x >= 1)
                .ok_or_else(|| bad(format!("{k}=`{v}` is not a whole number ≥ 1")))
        };
        let mut seen: Vec<&str> = Vec::new();
        for (k, _) in &pairs {
            if seen.contains(k) {
                return Err(bad(format!("`{k}` given twice")));
            }
            seen.push(k);
        }
        match kind {
            "isoflop" => {
                let (mut budgets, mut sizes, mut decades, mut spread, mut tpp) =
                    (5, 7, 2.0, 4.0, None);
                for (k, v) in pairs {
                    match k {
                        "budgets" => budgets = count(k, v)?,
                        "sizes" => sizes = count(k, v)?,
                        "decades" => decades = num(k, v)?,
                        "spread" => spread = num(k, v)?,
                        "tpp" => tpp = Some(num(k, v)?),
                        _ => {
                            return Err(bad(format!(
                                "unknown key `{k}` for isoflop (keys: {ISOFLOP_KEYS})"
                            )))
                        }
                    }
                }
                out.push(Candidate::Isoflop {
                    budgets,
                    sizes,
                    decades,
                    spread,
                    tokens_per_param: tpp,
                });
            }
            "ladder" => {
                let (mut sizes, mut decades, mut decay, mut tpp) = (5, 1.5, 0.2, None);
                let mut branches = vec![0.25, 0.5, 1.0, 2.0];
                for (k, v) in pairs {
                    match k {
                        "sizes" => sizes = count(k, v)?,
                        "decades" => decades = num(k, v)?,
                        "decay" => decay = num(k, v)?,
                        "tpp" => tpp = Some(num(k, v)?),
                        "branches" => {
                            branches = v
                                .split('/')
                                .map(|b| num(k, b.trim()))
                                .collect::<Result<_>>()?
                        }
                        _ => {
                            return Err(bad(format!(
                                "unknown key `{k}` for ladder (keys: {LADDER_KEYS})"
                            )))
                        }
                    }
                }
                out.push(Candidate::Ladder {
                    sizes,
                    branches,
                    decades,
                    decay_fraction: decay,
                    tokens_per_param: tpp,
                });
            }
            _ => {
                return Err(bad(format!(
                    "unknown kind `{kind}` (isoflop:KEY=VALUE,… or ladder:KEY=VALUE,…)"
                )))
            }
        }
    }
    if out.is_empty() {
        return Err(Error::flag("--candidates", "--candidates names no design"));
    }
    Ok(out)
}

/// The prior law, its description and the noise its fit file suggests.
/// A prior law, its description, and its fit file's robust σ and rmse.
type ResolvedPrior = (ChinchillaParams, String, Option<f64>, Option<f64>);

fn resolve_prior(prior: &Prior) -> Result<ResolvedPrior> {
    let from = |p: [f64; 5], what: String| -> Result<ResolvedPrior> {
        let c = ChinchillaParams::from_natural(&p)
            .map_err(|e| Error::flag("--prior", format!("--prior {what}: {e}")))?;
        if c.e <= 0.0 {
            return Err(Error::flag(
                "--prior",
                format!("--prior {what}: E must be positive, got {}", c.e),
            ));
        }
        Ok((c, what, None, None))
    };
    match prior {
        Prior::Hoffmann => from(HOFFMANN, "Hoffmann et al. (2022)".into()),
        Prior::Epoch => from(EPOCH, "Besiroglu et al. (2024)".into()),
        Prior::Values {
            e,
            a,
            b,
            alpha,
            beta,
        } => from([*e, *a, *b, *alpha, *beta], "given values".into()),
        Prior::Fit { path } => read_prior_fit(path),
    }
}

fn read_prior_fit(path: &Path) -> Result<ResolvedPrior> {
    let f = scalelab_tables::fitfile::read_fit(path)
        .map_err(|e| Error::input(path, None, format!("--prior: {e}")))?;
    if f.report.law != "chinchilla" {
        return Err(Error::input(
            path,
            None,
            format!(
                "--prior: fit file {} is of law `{}`; simulation needs a `chinchilla` fit",
                path.display(),
                f.report.law
            ),
        ));
    }
    let c = ChinchillaParams::from_natural(&f.params).map_err(|e| {
        Error::input(
            path,
            None,
            format!("--prior: fit file {}: {e}", path.display()),
        )
    })?;
    if c.e <= 0.0 {
        return Err(Error::input(
            path,
            None,
            format!(
                "--prior: fit file {}: E must be positive, got {}",
                path.display(),
                c.e
            ),
        ));
    }
    let mad = f.report.residuals.median_abs;
    let noise = (mad.is_finite() && mad > 0.0).then_some(1.4826 * mad);
    let rmse = f.report.residuals.rmse;
    let rmse = (rmse.is_finite() && rmse > 0.0).then_some(rmse);
    Ok((c, format!("fit file {}", path.display()), noise, rmse))
}

fn positive(flag: &str, v: f64) -> Result<()> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(Error::flag(
            flag,
            format!("{flag} must be a positive finite number, got {v}"),
        ))
    }
}

/// Simulates every candidate and ranks them (and writes the best as a sweep
/// file with `out`). Progress: one unit per fitted replicate.
pub fn run(req: &SimulateRequest, progress: &dyn Progress) -> Result<SimulateReport> {
    positive("--pilot-flops", req.pilot_flops)?;
    if req.pilot_flops > MAX_DESIGN_FLOPS {
        return Err(Error::flag(
            "--pilot-flops",
            format!(
                "--pilot-flops must be at most {MAX_DESIGN_FLOPS:e}, got {:e}",
                req.pilot_flops
            ),
        ));
    }
    let target_flops = match req.target {
        Target::Flops(c) => {
            positive("--target-flops", c)?;
            c
        }
        Target::Factor(k) => {
            positive("--target-factor", k)?;
            k * req.pilot_flops
        }
    };
    if !(target_flops.is_finite() && target_flops <= 1e40) {
        return Err(Error::flag(
            "--target-flops",
            format!("the target budget must be at most 1e40 FLOPs, got {target_flops:e}"),
        ));
    }
    if !(2..=MAX_REPLICATES).contains(&req.replicates) {
        return Err(Error::flag(
            "--replicates",
            format!(
                "--replicates must be between 2 and {MAX_REPLICATES}, got {}",
                req.replicates
            ),
        ));
    }
    if req.context == 0 || req.vocab == 0 {
        return Err(Error::flag(
            "--context",
            "--context and --vocab must be at least 1",
        ));
    }
    let (prior, source, fit_noise, prior_residual_rmse) = resolve_prior(&req.prior)?;
    let (noise, noise_source) = match (req.noise, fit_noise) {
        (Some(s), _) => {
            if !(s.is_finite() && s >= 0.0) {
                return Err(Error::flag(
                    "--noise",
                    format!("--noise must be a non-negative number, got {s}"),
                ));
            }
            (s, "given (--noise)".to_string())
        }
        (None, Some(s)) => (
            s,
            "1.4826 × the median absolute log residual of the prior's fit".to_string(),
        ),
        (None, None) => (DEFAULT_NOISE, "the default (1%)".to_string()),
    };
    let candidates = if req.candidates.is_empty() {
        default_candidates()
    } else {
        req.candidates.clone()
    };
    let realised: Vec<Realised> = candidates
        .iter()
        .map(|c| {
            realise(c, req.pilot_flops, &prior, req.context, req.vocab).map_err(|e| {
                Error::flag("--candidates", format!("--candidates `{}`: {e}", c.spec()))
            })
        })
        .collect::<Result<_>>()?;
    if let Some((c, r)) = candidates
        .iter()
        .zip(&realised)
        .find(|(_, r)| r.points.len() < 5)
    {
        return Err(Error::flag(
            "--candidates",
            format!(
                "--candidates `{}`: {} pilot points cannot determine the 5 parameters of the \
                 Chinchilla law",
                c.spec(),
                r.points.len()
            ),
        ));
    }
    let opts = SimulateOptions {
        noise,
        target_flops,
        replicates: req.replicates,
        seed: req.seed,
        fit: FitOptions::default(),
    };
    let task = Task::begin(
        progress,
        "simulate",
        Some((req.replicates * candidates.len()) as u64),
        "fits",
    );
    let start = Instant::now();
    let mut reports = Vec::new();
    for (c, r) in candidates.iter().zip(realised) {
        let s = simulate(&prior, &r.points, &opts, &|| task.inc(1))
            .map_err(|e| Error::failed(format!("candidate `{}`: {e}", c.spec())))?;
        reports.push(CandidateReport {
            rank: 0,
            spec: c.spec(),
            candidate: c.clone(),
            runs: r.runs,
            points: r.points.len(),
            flops: r.flops,
            tokens_per_param_centre: r.tokens_per_param,
            width_n_star: s.width_n_star,
            width_d_star: s.width_d_star,
            width_tokens_per_param: s.width_tokens_per_param,
            width_loss: s.width_loss,
            e_bias: s.e_bias,
            failed_fraction: s.failed_fraction,
            simulation: s,
            rungs: r.rungs,
            warnings: r
                .warnings
                .into_iter()
                .map(|w| Warning::new(WarningKind::Design, w))
                .collect(),
        });
    }
    drop(task);
    let seconds = start.elapsed().as_secs_f64();
    // NaN widths (no replicate gave a plan) rank last.
    let key = |x: f64| if x.is_nan() { f64::INFINITY } else { x };
    reports.sort_by(|a, b| {
        key(a.width_tokens_per_param)
            .total_cmp(&key(b.width_tokens_per_param))
            .then(key(a.width_n_star).total_cmp(&key(b.width_n_star)))
    });
    for (i, r) in reports.iter_mut().enumerate() {
        r.rank = i + 1;
    }
    let truth = reports[0].simulation.truth;
    let report = SimulateReport {
        schema: SCHEMA.into(),
        pilot_flops: req.pilot_flops,
        prior: PriorReport {
            source,
            e: prior.e,
            a: prior.a,
            b: prior.b,
            alpha: prior.alpha,
            beta: prior.beta,
        },
        noise,
        noise_source,
        prior_residual_rmse,
        target_flops,
        replicates: req.replicates,
        seed: req.seed,
        truth,
        ranking: RANKING.into(),
        best: reports[0].spec.clone(),
        candidates: reports,
        sweep_file: req.out.as_ref().map(|p| p.display().to_string()),
        seconds,
        seconds_per_replicate: seconds / (req.replicates * candidates.len()) as f64,
    };
    if let Some(out) = &req.out {
        let text = sweep_toml(&report, req.context);
        crate::write_atomic(out, text.as_bytes())
            .map_err(|e| Error::io("cannot write sweep file", out, e))?;
    }
    Ok(report)
}

/// The best candidate of `report` as a sweep file (TOML): an IsoFLOP grid as
/// a `[design]` section, a ladder as `[[runs]]` with a WSD `[schedule]`.
pub fn sweep_toml(report: &SimulateReport, context: usize) -> String {
    let best = &report.candidates[0];
    let mut s = format!(
        "# The best of {} candidate pilot designs simulated by `scalelab design --simulate`\n\
         # ({}): {} replicates from the prior {}, noise σ = {:.4}.\n\
         # Predicted 95% widths at {:e} FLOPs: N* ×{:.3}, D* ×{:.3}, tokens/param ×{:.3},\n\
         # loss ±{:.2}%. Add data, batch and learning rate to [train] before running it.\n",
        report.candidates.len(),
        best.spec,
        report.replicates,
        report.prior.source,
        report.noise,
        report.target_flops,
        best.width_n_star,
        best.width_d_star,
        best.width_tokens_per_param,
        50.0 * best.width_loss,
    );
    match &best.candidate {
        Candidate::Isoflop {
            budgets,
            sizes,
            decades,
            spread,
            ..
        } => {
            s.push_str(&format!(
                "name = \"simulated-isoflop\"\n\n[train]\ncontext = {context}\n\n[design]\n\
                 total_flops = {:?}\nbudgets = {budgets}\ndecades = {:?}\nsizes = {sizes}\n\
                 spread = {:?}\ntokens_per_param = {:?}\n",
                report.pilot_flops, decades, spread, best.tokens_per_param_centre
            ));
        }
        Candidate::Ladder {
            branches,
            decay_fraction,
            ..
        } => {
            let list: Vec<String> = branches.iter().map(|b| format!("{b:?}")).collect();
            s.push_str(&format!(
                "name = \"simulated-ladder\"\n\n[train]\ncontext = {context}\n\n[schedule]\n\
                 kind = \"wsd\"\ndecay_fraction = {decay_fraction:?}\n\
                 decay_shape = \"1-sqrt\"\nbranches = [{}]\n",
                list.join(", ")
            ));
            for g in &best.rungs {
                s.push_str(&format!(
                    "\n[[runs]]\nparams = {:?}\ntokens = {:?}\n",
                    g.params,
                    g.tokens.round()
                ));
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priors_parse_and_bad_ones_name_the_flag_and_token() {
        assert_eq!(Prior::parse("Hoffmann").unwrap(), Prior::Hoffmann);
        assert_eq!(Prior::parse("epoch").unwrap(), Prior::Epoch);
        assert_eq!(
            Prior::parse("fit.json").unwrap(),
            Prior::Fit {
                path: "fit.json".into()
            }
        );
        assert_eq!(
            Prior::parse("E=1,A=2,B=3,alpha=0.3,beta=0.4").unwrap(),
            Prior::Values {
                e: 1.0,
                a: 2.0,
                b: 3.0,
                alpha: 0.3,
                beta: 0.4
            }
        );
        let msg = |s: &str| match Prior::parse(s) {
            Err(Error::Flag { flag, message }) => {
                assert_eq!(flag, "--prior");
                message
            }
            other => panic!("{other:?}"),
        };
        assert!(msg("E=1,A=2,B=3,alpha=0.3,gamma=1").contains("unknown key `gamma`"));
        assert!(msg("E=1,A=2,B=3,alpha=x,beta=1").contains("`x` is not a number"));
        assert!(msg("E=1,A=2").contains("lacks B, alpha, beta"));
        // values that cannot be a law are refused when run
        let req = SimulateRequest::new(
            1e17,
            Prior::parse("E=1,A=-2,B=3,alpha=0.3,beta=0.4").unwrap(),
        );
        assert!(
            matches!(run(&req, &crate::Silent), Err(Error::Flag { flag, .. }) if flag == "--prior")
        );
        let req = SimulateRequest::new(1e17, Prior::parse("/nonexistent/fit.json").unwrap());
        let e = run(&req, &crate::Silent).unwrap_err().to_string();
        assert!(e.contains("/nonexistent/fit.json"), "{e}");
    }

    #[test]
    fn candidates_parse_with_defaults_and_errors_name_the_token() {
        let c = parse_candidates(
            "isoflop:budgets=4,sizes=5,decades=1; ladder:sizes=6,branches=0.5/1/2,decay=0.1",
        )
        .unwrap();
        assert_eq!(
            c[0],
            Candidate::Isoflop {
                budgets: 4,
                sizes: 5,
                decades: 1.0,
                spread: 4.0,
                tokens_per_param: None
            }
        );
        assert_eq!(
            c[1],
            Candidate::Ladder {
                sizes: 6,
                branches: vec![0.5, 1.0, 2.0],
                decades: 1.5,
                decay_fraction: 0.1,
                tokens_per_param: None
            }
        );
        // the spec reads back as the same candidate
        for k in default_candidates() {
            assert_eq!(parse_candidates(&k.spec()).unwrap(), vec![k.clone()]);
        }
        let msg = |s: &str| match parse_candidates(s) {
            Err(Error::Flag { flag, message }) => {
                assert_eq!(flag, "--candidates");
                message
            }
            other => panic!("{other:?}"),
        };
        assert!(msg("grid:sizes=3").contains("unknown kind `grid`"));
        assert!(msg("isoflop:sizes=3,branches=1/2").contains("unknown key `branches`"));
        assert!(msg("ladder:branches=1/x").contains("branches=`x` is not a number"));
        assert!(msg("isoflop:budgets=0").contains("budgets=`0`"));
        assert!(msg("isoflop:sizes").contains("`sizes` is not KEY=VALUE"));
        assert!(msg(" ; ").contains("names no design"));
    }

    #[test]
    fn a_small_simulation_ranks_its_candidates_and_writes_the_best() {
        let dir = tempfile::tempdir().unwrap();
        let mut req = SimulateRequest::new(1e17, Prior::Hoffmann);
        req.candidates = parse_candidates(
            "isoflop:budgets=4,sizes=5,decades=0.2;isoflop:budgets=4,sizes=5,decades=2",
        )
        .unwrap();
        req.replicates = 16;
        req.out = Some(dir.path().join("best.toml"));
        let r = run(&req, &crate::Silent).unwrap();
        assert_eq!(r.candidates.len(), 2);
        assert_eq!(r.candidates[0].rank, 1);
        assert!(r.candidates[0].width_tokens_per_param <= r.candidates[1].width_tokens_per_param);
        assert_eq!(r.best, r.candidates[0].spec);
        assert!((r.target_flops / 1e19 - 1.0).abs() < 1e-12);
        assert_eq!(r.noise, DEFAULT_NOISE);
        let text = std::fs::read_to_string(dir.path().join("best.toml")).unwrap();
        let t: toml::Table = toml::from_str(&text).unwrap();
        let d = t["design"].as_table().unwrap();
        assert_eq!(d["budgets"].as_integer(), Some(4));
        assert_eq!(d["total_flops"].as_float(), Some(1e17));
        let back: SimulateReport =
            serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        // (warnings read back as messages, of kind `other`)
        for (b, c) in back.candidates.iter().zip(&r.candidates) {
            assert_eq!((&b.spec, &b.simulation), (&c.spec, &c.simulation));
        }
    }

    #[test]
    fn a_ladder_is_written_as_runs_with_a_wsd_schedule() {
        let mut req = SimulateRequest::new(1e17, Prior::Epoch);
        req.candidates =
            parse_candidates("ladder:sizes=4,branches=0.25/0.5/1/2,decades=1").unwrap();
        req.replicates = 4;
        req.noise = Some(0.005);
        let r = run(&req, &crate::Silent).unwrap();
        assert_eq!(r.noise_source, "given (--noise)");
        let text = sweep_toml(&r, 64);
        let t: toml::Table = toml::from_str(&text).unwrap();
        let s = t["schedule"].as_table().unwrap();
        assert_eq!(s["kind"].as_str(), Some("wsd"));
        assert_eq!(s["decay_fraction"].as_float(), Some(0.2));
        assert_eq!(s["decay_shape"].as_str(), Some("1-sqrt"));
        let b: Vec<f64> = s["branches"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_float().unwrap())
            .collect();
        assert_eq!(b, vec![0.25, 0.5, 1.0, 2.0]);
        let runs = t["runs"].as_array().unwrap();
        assert_eq!(runs.len(), r.candidates[0].runs);
        assert_eq!(runs.len(), 4);
        for (run, g) in runs.iter().zip(&r.candidates[0].rungs) {
            assert_eq!(run["params"].as_float(), Some(g.params));
            assert_eq!(run["tokens"].as_float(), Some(g.tokens.round()));
        }
        assert_eq!(t["train"]["context"].as_integer(), Some(64));
    }
}
