//! Design by simulation: how wide will a pilot design's plan be?
//!
//! Given a prior Chinchilla law `L = E + A/N^α + B/D^β`, a noise level σ and
//! a set of pilot points `(N_i, D_i)`, [`simulate`] draws `R` replicate
//! pilots with multiplicative log-normal noise, `L_i = L(N_i, D_i)·exp(σ·z_i)`,
//! fits each with the real fitter ([`crate::fit::fit_law`], by default
//! variable projection with Huber δ = 1e-3 on log residuals, as `scalelab
//! fit`), plans the compute-optimal allocation at a target budget from each
//! fit (closed form under `C = 6ND`, [`crate::plan::ChinchillaParams`]) and
//! summarises the spread of N*, D*, tokens per parameter, the predicted loss
//! and E over the replicates.
//!
//! Replicate `i` draws its noise from a ChaCha8 stream keyed by
//! `(seed, i)`, so the result is the same whatever the number of threads.
//!
//! [`Candidate`]s describe pilot designs compactly (an IsoFLOP grid as
//! [`crate::design::design`] makes it, or a WSD ladder: a few model sizes,
//! each trained once with cooldown branches at several multiples of a base
//! token count); [`realise`] turns one into pilot points that spend a given
//! total compute.

use crate::accounting::shape_for_params;
use crate::bootstrap::percentile_sorted;
use crate::data::Observations;
use crate::design::{design, optimum_at_ratio, DesignOptions, MAX_DESIGN_COUNT, MAX_DESIGN_FLOPS};
use crate::fit::{fit_law, FitOptions};
use crate::laws::Chinchilla;
use crate::plan::ChinchillaParams;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// The smallest and largest exponent of the variable-projection grid: a
/// fitted α or β this close to either end is at a bound of the search.
pub const EXPONENT_BOUNDS: [f64; 2] = [0.02, 1.5];

/// A fitted E below this fraction of the prior's E has collapsed to zero.
pub const E_COLLAPSE: f64 = 1e-6;

/// The most replicates a simulation accepts.
pub const MAX_REPLICATES: usize = 100_000;

/// One pilot observation: parameters N and training tokens D.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct PilotPoint {
    pub n: f64,
    pub d: f64,
}

/// Settings of a simulation.
#[derive(Clone, Debug, PartialEq)]
pub struct SimulateOptions {
    /// σ of the multiplicative log-normal noise on the loss.
    pub noise: f64,
    /// The budget (FLOPs, 6ND) at which the plan is made.
    pub target_flops: f64,
    pub replicates: usize,
    pub seed: u64,
    /// The fitter's settings (default: as `scalelab fit`).
    pub fit: FitOptions,
}

/// The 2.5%, 50% and 97.5% percentiles of a quantity over the replicates.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    pub low: f64,
    pub median: f64,
    pub high: f64,
}

impl Percentiles {
    fn of(mut v: Vec<f64>) -> Percentiles {
        v.sort_by(f64::total_cmp);
        Percentiles {
            low: percentile_sorted(&v, 2.5),
            median: percentile_sorted(&v, 50.0),
            high: percentile_sorted(&v, 97.5),
        }
    }

    /// `high / low`: the width of a positive quantity as a factor.
    pub fn ratio(&self) -> f64 {
        self.high / self.low
    }

    /// `(high − low) / median`.
    pub fn relative(&self) -> f64 {
        (self.high - self.low) / self.median
    }
}

/// The compute-optimal plan at the target budget.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlanPoint {
    pub n: f64,
    pub d: f64,
    pub tokens_per_param: f64,
    pub loss: f64,
}

/// What the replicates' fits and plans spread over.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Simulation {
    pub replicates: usize,
    /// Pilot points per replicate.
    pub points: usize,
    /// The prior law's own plan at the target budget.
    pub truth: PlanPoint,
    /// Percentiles over the replicates that gave a plan.
    pub n_star: Percentiles,
    pub d_star: Percentiles,
    pub tokens_per_param: Percentiles,
    pub loss: Percentiles,
    /// Fitted E over the replicates whose fit succeeded.
    pub e: Percentiles,
    /// 95% widths: `high/low` for N*, D* and tokens per parameter,
    /// `(high − low)/median` for the loss.
    pub width_n_star: f64,
    pub width_d_star: f64,
    pub width_tokens_per_param: f64,
    pub width_loss: f64,
    /// `(median fitted E − prior E) / prior E`.
    pub e_bias: f64,
    /// Replicates whose optimiser did not converge at the best start.
    pub not_converged: usize,
    /// Replicates whose E collapsed (below [`E_COLLAPSE`]·prior E) or whose
    /// α or β is at a bound of the search ([`EXPONENT_BOUNDS`]).
    pub degenerate: usize,
    /// Replicates with no fit or no compute-optimal plan (left out of the
    /// percentiles).
    pub no_plan: usize,
    /// Replicates that did not converge, were degenerate or had no plan,
    /// as a fraction of all.
    pub failed_fraction: f64,
}

/// One replicate's outcome.
struct Outcome {
    e: Option<f64>,
    plan: Option<PlanPoint>,
    converged: bool,
    degenerate: bool,
}

/// A standard normal draw (Box–Muller; one of the pair is used).
fn normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1: f64 = 1.0 - rng.gen::<f64>(); // (0, 1]
    let u2: f64 = rng.gen::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// The noisy losses of replicate `index`.
pub fn noisy_losses(
    prior: &ChinchillaParams,
    points: &[PilotPoint],
    noise: f64,
    seed: u64,
    index: u64,
) -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(index);
    points
        .iter()
        .map(|p| prior.loss(p.n, p.d) * (noise * normal(&mut rng)).exp())
        .collect()
}

fn replicate(
    prior: &ChinchillaParams,
    points: &[PilotPoint],
    opts: &SimulateOptions,
    index: u64,
) -> Outcome {
    let failed = Outcome {
        e: None,
        plan: None,
        converged: false,
        degenerate: false,
    };
    let loss = noisy_losses(prior, points, opts.noise, opts.seed, index);
    let n = points.iter().map(|p| p.n).collect();
    let d = points.iter().map(|p| p.d).collect();
    let Ok(obs) = Observations::from_nd(n, d, loss) else {
        return failed;
    };
    let Ok(fit) = fit_law(&Chinchilla, &obs, &opts.fit) else {
        return failed;
    };
    let p = &fit.params;
    let (e, alpha, beta) = (p[0], p[3], p[4]);
    let tol = 1e-6;
    let at_bound = |x: f64| x <= EXPONENT_BOUNDS[0] + tol || x >= EXPONENT_BOUNDS[1] - tol;
    let degenerate = e < E_COLLAPSE * prior.e || at_bound(alpha) || at_bound(beta);
    let plan = ChinchillaParams::from_natural(p)
        .and_then(|c| c.optimum(opts.target_flops, 6.0))
        .ok()
        .filter(|a| a.n.is_finite() && a.d.is_finite() && a.loss.is_finite() && a.n > 0.0)
        .map(|a| PlanPoint {
            n: a.n,
            d: a.d,
            tokens_per_param: a.tokens_per_param(),
            loss: a.loss,
        });
    Outcome {
        e: e.is_finite().then_some(e),
        plan,
        converged: fit.converged,
        degenerate,
    }
}

/// Simulates `opts.replicates` noisy pilots at `points` from `prior`, fits
/// and plans each; `on_replicate` is called once per finished replicate
/// (from any thread).
pub fn simulate(
    prior: &ChinchillaParams,
    points: &[PilotPoint],
    opts: &SimulateOptions,
    on_replicate: &(dyn Fn() + Sync),
) -> Result<Simulation, String> {
    if !(opts.noise >= 0.0 && opts.noise.is_finite()) {
        return Err(format!(
            "the noise must be a non-negative number, got {}",
            opts.noise
        ));
    }
    if !(1..=MAX_REPLICATES).contains(&opts.replicates) {
        return Err(format!(
            "the replicates must be between 1 and {MAX_REPLICATES}, got {}",
            opts.replicates
        ));
    }
    if points.len() < 5 {
        return Err(format!(
            "{} pilot points cannot determine the 5 parameters of the Chinchilla law",
            points.len()
        ));
    }
    if let Some(p) = points
        .iter()
        .find(|p| !(p.n > 0.0 && p.n.is_finite() && p.d > 0.0 && p.d.is_finite()))
    {
        return Err(format!(
            "a pilot point has N = {} and D = {}: both must be positive and finite",
            p.n, p.d
        ));
    }
    let truth = prior
        .optimum(opts.target_flops, 6.0)
        .map_err(|e| e.to_string())?;
    let truth = PlanPoint {
        n: truth.n,
        d: truth.d,
        tokens_per_param: truth.tokens_per_param(),
        loss: truth.loss,
    };
    let outcomes: Vec<Outcome> = (0..opts.replicates as u64)
        .into_par_iter()
        .map(|i| {
            let o = replicate(prior, points, opts, i);
            on_replicate();
            o
        })
        .collect();
    let plans: Vec<&PlanPoint> = outcomes.iter().filter_map(|o| o.plan.as_ref()).collect();
    let col = |f: fn(&PlanPoint) -> f64| Percentiles::of(plans.iter().map(|p| f(p)).collect());
    let n_star = col(|p| p.n);
    let d_star = col(|p| p.d);
    let tpp = col(|p| p.tokens_per_param);
    let loss = col(|p| p.loss);
    let e = Percentiles::of(outcomes.iter().filter_map(|o| o.e).collect());
    let failed = outcomes
        .iter()
        .filter(|o| !o.converged || o.degenerate || o.plan.is_none())
        .count();
    Ok(Simulation {
        replicates: opts.replicates,
        points: points.len(),
        truth,
        width_n_star: n_star.ratio(),
        width_d_star: d_star.ratio(),
        width_tokens_per_param: tpp.ratio(),
        width_loss: loss.relative(),
        e_bias: (e.median - prior.e) / prior.e,
        n_star,
        d_star,
        tokens_per_param: tpp,
        loss,
        e,
        not_converged: outcomes
            .iter()
            .filter(|o| o.e.is_some() && !o.converged)
            .count(),
        degenerate: outcomes.iter().filter(|o| o.degenerate).count(),
        no_plan: outcomes.iter().filter(|o| o.plan.is_none()).count(),
        failed_fraction: failed as f64 / opts.replicates as f64,
    })
}

/// A candidate pilot design, before it is scaled to a total compute.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Candidate {
    /// An IsoFLOP grid as [`crate::design::design`] makes it, centred on a
    /// constant tokens-per-parameter ratio.
    Isoflop {
        budgets: usize,
        sizes: usize,
        /// Decades between the smallest and largest budget.
        decades: f64,
        /// Sizes within `[N*/spread, N*·spread]`.
        spread: f64,
        /// The centre's tokens per parameter; `None`: the prior's optimum
        /// at the grid's geometric-mean budget.
        tokens_per_param: Option<f64>,
    },
    /// A WSD ladder: `sizes` model sizes, each trained once through the
    /// stable phase with a cooldown branch at every multiple `b` of its base
    /// token count `D = tokens_per_param·N` (points `(N, b·D)`).
    Ladder {
        sizes: usize,
        branches: Vec<f64>,
        /// Decades of compute between the smallest and largest size's base
        /// run (`6·N·D`); the sizes span half as many decades.
        decades: f64,
        /// Fraction of each branch spent in the cooldown.
        decay_fraction: f64,
        /// `None`: the prior's optimum at the base runs' geometric-mean
        /// compute, so that branch 1 sits near the optimum.
        tokens_per_param: Option<f64>,
    },
}

impl Candidate {
    /// The candidate in the command-line grammar
    /// (`isoflop:budgets=4,sizes=5,decades=1,spread=3`).
    pub fn spec(&self) -> String {
        let tpp = |t: &Option<f64>| t.map(|t| format!(",tpp={t}")).unwrap_or_default();
        match self {
            Candidate::Isoflop {
                budgets,
                sizes,
                decades,
                spread,
                tokens_per_param,
            } => format!(
                "isoflop:budgets={budgets},sizes={sizes},decades={decades},spread={spread}{}",
                tpp(tokens_per_param)
            ),
            Candidate::Ladder {
                sizes,
                branches,
                decades,
                decay_fraction,
                tokens_per_param,
            } => format!(
                "ladder:sizes={sizes},branches={},decades={decades},decay={decay_fraction}{}",
                branches
                    .iter()
                    .map(|b| b.to_string())
                    .collect::<Vec<_>>()
                    .join("/"),
                tpp(tokens_per_param)
            ),
        }
    }
}

/// The cost of one rung of a WSD ladder in FLOPs (6N convention): the
/// stable phase runs to `(1 − f)·max_k D_k` tokens and each branch decays
/// over its last `f·D_k`, so `6·N·((1 − f)·max_k D_k + f·Σ_k D_k)` with
/// `D_k = b_k·base_tokens`.
pub fn ladder_cost(n: f64, base_tokens: f64, branches: &[f64], decay_fraction: f64) -> f64 {
    let max = branches.iter().copied().fold(0.0, f64::max);
    let sum: f64 = branches.iter().sum();
    6.0 * n * base_tokens * ((1.0 - decay_fraction) * max + decay_fraction * sum)
}

/// One rung of a realised ladder.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LadderRung {
    /// The shape's exact non-embedding parameters.
    pub params: f64,
    /// The base token count D; branches end at `b·D`.
    pub tokens: f64,
    /// FLOPs of the rung (stable phase and all branches).
    pub flops: f64,
}

/// A candidate scaled to a total compute.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Realised {
    /// The points a fit sees.
    pub points: Vec<PilotPoint>,
    /// Training runs (a ladder's rungs count once each).
    pub runs: usize,
    /// FLOPs the design spends (6N convention).
    pub flops: f64,
    /// Tokens per parameter the design is centred on.
    pub tokens_per_param: f64,
    /// A ladder's rungs (empty for an IsoFLOP grid).
    pub rungs: Vec<LadderRung>,
    /// The design module's warnings (IsoFLOP) or the ladder's.
    pub warnings: Vec<String>,
}

fn check_count(what: &str, k: usize) -> Result<(), String> {
    if !(1..=MAX_DESIGN_COUNT).contains(&k) {
        return Err(format!(
            "{what} must be between 1 and {MAX_DESIGN_COUNT}, got {k}"
        ));
    }
    Ok(())
}

fn prior_ratio(prior: &ChinchillaParams, flops: f64) -> Result<f64, String> {
    let a = prior.optimum(flops, 6.0).map_err(|e| e.to_string())?;
    let r = a.tokens_per_param();
    if r.is_finite() && r > 0.0 {
        Ok(r)
    } else {
        Err(format!(
            "the prior's optimum at {flops:e} FLOPs has no finite tokens per parameter"
        ))
    }
}

/// Scales `candidate` to `total_flops` and turns its sizes into GPT shapes
/// (context and vocabulary as given), centred on the prior's optimum.
pub fn realise(
    candidate: &Candidate,
    total_flops: f64,
    prior: &ChinchillaParams,
    context: usize,
    vocab: usize,
) -> Result<Realised, String> {
    if !(total_flops > 0.0 && total_flops <= MAX_DESIGN_FLOPS) {
        return Err(format!(
            "the total compute must be positive and at most {MAX_DESIGN_FLOPS:e} FLOPs, got {total_flops:e}"
        ));
    }
    let check_tpp = |t: &Option<f64>| match t {
        Some(t) if !(*t > 0.0 && t.is_finite()) => Err(format!(
            "tokens per parameter must be a positive number, got {t}"
        )),
        _ => Ok(()),
    };
    match candidate {
        Candidate::Isoflop {
            budgets,
            sizes,
            decades,
            spread,
            tokens_per_param,
        } => {
            check_count("budgets", *budgets)?;
            check_count("sizes", *sizes)?;
            check_tpp(tokens_per_param)?;
            if !(decades.is_finite() && *decades >= 0.0) {
                return Err(format!(
                    "decades must be a non-negative number, got {decades}"
                ));
            }
            let opts = DesignOptions {
                total_flops,
                budgets: *budgets,
                decades: *decades,
                sizes: *sizes,
                spread: *spread,
                context,
                vocab,
            };
            // The budgets do not depend on the centre: the geometric mean
            // of the largest `c_max` and the smallest `c_max·10^−decades`.
            let k = *budgets;
            let step = if k > 1 { decades / (k - 1) as f64 } else { 0.0 };
            let rel_sum: f64 = (0..k).map(|i| 10f64.powf(-step * (k - 1 - i) as f64)).sum();
            let c_max = total_flops / (*sizes as f64 * rel_sum);
            let c_geo = c_max * 10f64.powf(-decades / 2.0);
            let tpp = match tokens_per_param {
                Some(t) => *t,
                None => prior_ratio(prior, c_geo)?,
            };
            let d = design(&opts, &|c| optimum_at_ratio(c, tpp))?;
            Ok(Realised {
                points: d
                    .runs
                    .iter()
                    .map(|r| PilotPoint {
                        n: r.params,
                        d: r.tokens,
                    })
                    .collect(),
                runs: d.runs.len(),
                flops: d.total_flops,
                tokens_per_param: tpp,
                rungs: Vec::new(),
                warnings: d.warnings,
            })
        }
        Candidate::Ladder {
            sizes,
            branches,
            decades,
            decay_fraction,
            tokens_per_param,
        } => {
            check_count("sizes", *sizes)?;
            check_tpp(tokens_per_param)?;
            if branches.is_empty() || branches.len() > 100 {
                return Err(format!(
                    "a ladder needs between 1 and 100 branches, got {}",
                    branches.len()
                ));
            }
            if let Some(b) = branches.iter().find(|b| !(**b > 0.0 && b.is_finite())) {
                return Err(format!(
                    "branches are positive multiples of the base tokens, got {b}"
                ));
            }
            if !(decades.is_finite() && *decades >= 0.0) {
                return Err(format!(
                    "decades must be a non-negative number, got {decades}"
                ));
            }
            if !(0.0..=1.0).contains(decay_fraction) {
                return Err(format!(
                    "the decay fraction must be between 0 and 1, got {decay_fraction}"
                ));
            }
            let k = *sizes;
            let step = if k > 1 {
                decades / 2.0 / (k - 1) as f64
            } else {
                0.0
            };
            let rel: Vec<f64> = (0..k)
                .map(|i| 10f64.powf(-step * (k - 1 - i) as f64))
                .collect();
            let rel_sq: f64 = rel.iter().map(|r| r * r).sum();
            // A rung of size N with base D = r·N costs 6·r·N²·κ.
            let kappa = ladder_cost(1.0, 1.0, branches, *decay_fraction) / 6.0;
            let n_max = |r: f64| (total_flops / (6.0 * r * kappa * rel_sq)).sqrt();
            let tpp = match tokens_per_param {
                Some(t) => *t,
                None => {
                    // r depends weakly on the budget: a few fixed-point steps.
                    let mut r = 20.0;
                    for _ in 0..6 {
                        let nm = n_max(r);
                        let c_geo = 6.0 * r * nm * nm * 10f64.powf(-decades / 2.0);
                        r = prior_ratio(prior, c_geo)?;
                    }
                    r
                }
            };
            let nm = n_max(tpp);
            let mut rungs: Vec<LadderRung> = Vec::new();
            let mut duplicates = 0;
            for r in &rel {
                let target = nm * r;
                let Some(shape) = shape_for_params(target, context, vocab) else {
                    return Err(format!(
                        "a ladder size of {target:.3e} parameters is outside the shape rule \
                         (1 to {:e} parameters)",
                        crate::accounting::MAX_SHAPE_PARAMS
                    ));
                };
                let params = shape.params().non_embedding as f64;
                if rungs.iter().any(|g| g.params == params) {
                    duplicates += 1;
                    continue;
                }
                // The rung spends 6·r·target²·κ whatever the shape's exact N.
                let tokens = tpp * target * target / params;
                rungs.push(LadderRung {
                    params,
                    tokens,
                    flops: ladder_cost(params, tokens, branches, *decay_fraction),
                });
            }
            let mut warnings = Vec::new();
            if duplicates > 0 {
                warnings.push(format!(
                    "{duplicates} ladder size(s) dropped because the shape rule maps \
                     neighbouring sizes to the same shape"
                ));
            }
            let points = rungs
                .iter()
                .flat_map(|g| {
                    branches.iter().map(move |b| PilotPoint {
                        n: g.params,
                        d: b * g.tokens,
                    })
                })
                .collect();
            Ok(Realised {
                points,
                runs: rungs.len(),
                flops: rungs.iter().map(|g| g.flops).sum(),
                tokens_per_param: tpp,
                rungs,
                warnings,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prior() -> ChinchillaParams {
        // Hoffmann et al. (2022)
        ChinchillaParams {
            e: 1.69,
            a: 406.4,
            b: 410.7,
            alpha: 0.34,
            beta: 0.28,
        }
    }

    fn isoflop(decades: f64) -> Candidate {
        Candidate::Isoflop {
            budgets: 4,
            sizes: 5,
            decades,
            spread: 3.0,
            tokens_per_param: None,
        }
    }

    fn opts(noise: f64, replicates: usize) -> SimulateOptions {
        SimulateOptions {
            noise,
            target_flops: 1e21,
            replicates,
            seed: 7,
            fit: FitOptions::default(),
        }
    }

    #[test]
    fn simulation_is_deterministic_for_a_seed_and_any_thread_count() {
        let p = prior();
        let pts = realise(&isoflop(1.0), 1e19, &p, 128, 256).unwrap().points;
        let o = opts(0.02, 12);
        let run = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| simulate(&p, &pts, &o, &|| {}).unwrap())
        };
        let one = run(1);
        let two = run(2);
        assert_eq!(one, two);
        assert_eq!(one.replicates, 12);
        // another seed draws other noise
        let other = simulate(&p, &pts, &SimulateOptions { seed: 8, ..o }, &|| {}).unwrap();
        assert_ne!(one.e, other.e);
        assert_eq!(
            noisy_losses(&p, &pts, 0.02, 7, 3),
            noisy_losses(&p, &pts, 0.02, 7, 3)
        );
        assert_ne!(
            noisy_losses(&p, &pts, 0.02, 7, 3),
            noisy_losses(&p, &pts, 0.02, 7, 4)
        );
    }

    #[test]
    fn tiny_noise_collapses_the_intervals_onto_the_prior_plan() {
        let p = prior();
        let pts = realise(&isoflop(2.0), 1e19, &p, 128, 256).unwrap().points;
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let s = simulate(&p, &pts, &opts(1e-7, 8), &|| {
            calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        })
        .unwrap();
        assert_eq!(calls.into_inner(), 8);
        let truth = p.optimum(1e21, 6.0).unwrap();
        assert!((s.truth.n / truth.n - 1.0).abs() < 1e-12);
        assert!(s.width_tokens_per_param < 1.01, "{s:?}");
        assert!(s.width_n_star < 1.01 && s.width_d_star < 1.01, "{s:?}");
        assert!(s.width_loss < 1e-3, "{s:?}");
        assert!((s.n_star.median / truth.n - 1.0).abs() < 0.01, "{s:?}");
        assert!((s.loss.median / truth.loss - 1.0).abs() < 1e-4, "{s:?}");
        assert!(s.e_bias.abs() < 1e-3, "{s:?}");
        assert_eq!(s.no_plan, 0);
    }

    #[test]
    fn more_decades_identify_tokens_per_param_better() {
        let p = prior();
        let o = opts(0.01, 40);
        let width = |decades: f64| {
            let pts = realise(&isoflop(decades), 1e19, &p, 128, 256)
                .unwrap()
                .points;
            simulate(&p, &pts, &o, &|| {})
                .unwrap()
                .width_tokens_per_param
        };
        let wide = width(2.0);
        let narrow = width(0.1);
        assert!(wide < narrow, "2 decades: ×{wide}, 0.1 decade: ×{narrow}");
        assert!(wide > 1.0);
    }

    #[test]
    fn a_ladder_spends_the_total_and_its_rungs_cost_what_the_formula_says() {
        // cost of one rung by hand: stable to 0.8·2D, branches decay 0.2·Σ
        let c = ladder_cost(1e6, 1e7, &[0.25, 0.5, 1.0, 2.0], 0.2);
        let by_hand = 6.0 * 1e6 * (0.8 * 2e7 + 0.2 * (0.25 + 0.5 + 1.0 + 2.0) * 1e7);
        assert!((c / by_hand - 1.0).abs() < 1e-14);
        // no decay: the stable run alone
        assert_eq!(ladder_cost(2.0, 3.0, &[1.0, 4.0], 0.0), 6.0 * 2.0 * 12.0);
        let p = prior();
        let cand = Candidate::Ladder {
            sizes: 5,
            branches: vec![0.25, 0.5, 1.0, 2.0],
            decades: 1.5,
            decay_fraction: 0.2,
            tokens_per_param: None,
        };
        let r = realise(&cand, 1e19, &p, 128, 256).unwrap();
        assert_eq!(r.runs, 5);
        assert_eq!(r.points.len(), 20);
        assert!((r.flops / 1e19 - 1.0).abs() < 1e-9, "{}", r.flops);
        let sum: f64 = r
            .rungs
            .iter()
            .map(|g| ladder_cost(g.params, g.tokens, &[0.25, 0.5, 1.0, 2.0], 0.2))
            .sum();
        assert!((sum / r.flops - 1.0).abs() < 1e-12);
        // the base runs span 1.5 decades of compute (up to shape rounding)
        let c0 = r.rungs[0].params * r.rungs[0].tokens;
        let c4 = r.rungs[4].params * r.rungs[4].tokens;
        assert!(
            ((c4 / c0).log10() - 1.5).abs() < 0.2,
            "{}",
            (c4 / c0).log10()
        );
        // centred near the prior's optimum
        let mid = &r.rungs[2];
        let opt = p.optimum(6.0 * mid.params * mid.tokens, 6.0).unwrap();
        assert!(
            (mid.params / opt.n).ln().abs() < 0.3,
            "{} vs {}",
            mid.params,
            opt.n
        );
        // an IsoFLOP grid spends the total too
        let g = realise(&isoflop(1.0), 1e19, &p, 128, 256).unwrap();
        assert!(g.flops <= 1e19 * (1.0 + 1e-12) && g.flops > 0.9e19);
        assert_eq!(g.runs, g.points.len());
    }

    #[test]
    fn bad_candidates_and_options_are_refused() {
        let p = prior();
        let bad = Candidate::Ladder {
            sizes: 3,
            branches: vec![],
            decades: 1.0,
            decay_fraction: 0.2,
            tokens_per_param: None,
        };
        assert!(realise(&bad, 1e19, &p, 128, 256)
            .unwrap_err()
            .contains("branches"));
        let bad = Candidate::Ladder {
            sizes: 3,
            branches: vec![1.0],
            decades: 1.0,
            decay_fraction: 1.5,
            tokens_per_param: None,
        };
        assert!(realise(&bad, 1e19, &p, 128, 256)
            .unwrap_err()
            .contains("decay"));
        assert!(realise(&isoflop(1.0), -1.0, &p, 128, 256).is_err());
        let pts = vec![PilotPoint { n: 1e6, d: 1e8 }; 3];
        assert!(simulate(&p, &pts, &opts(0.01, 4), &|| {})
            .unwrap_err()
            .contains("3 pilot points"));
        let pts = realise(&isoflop(1.0), 1e19, &p, 128, 256).unwrap().points;
        assert!(simulate(&p, &pts, &opts(-1.0, 4), &|| {}).is_err());
        assert!(simulate(&p, &pts, &opts(0.01, 0), &|| {}).is_err());
        assert_eq!(
            isoflop(1.0).spec(),
            "isoflop:budgets=4,sizes=5,decades=1,spread=3"
        );
    }
}
