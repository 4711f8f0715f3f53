//! Comparing two recipes: the effective-compute multiplier between two
//! ladders of runs.
//!
//! Each ladder is a set of runs `(C, L)`. Its **compute frontier** keeps,
//! per compute budget (runs whose compute agrees within
//! [`BUDGET_LOG10_TOL`] decades), the lowest loss: IsoFLOP data have several
//! model sizes per budget and only the best of them says what the recipe
//! can do at that compute. To each frontier the saturating power law
//! `L(C) = E + A·C^(−α)` is fitted with the workspace's fitter (summed
//! Huber loss on log residuals, variable projection then L-BFGS), or, with
//! a shared irreducible loss, both ladders at once (E shared; A and α per
//! ladder).
//!
//! The **multiplier** at a compute C of recipe A is the compute recipe B
//! needs to reach A's loss there, divided by C:
//!
//! ```text
//! C_B(C) = ((L_A(C) − E_B) / A_B)^(−1/α_B),    m(C) = C_B(C) / C
//! ```
//!
//! m > 1 means recipe A is the more compute-efficient one (B needs m times
//! the compute for the same loss). It is undefined when `L_A(C) <= E_B`:
//! recipe B never reaches that loss. The report gives m at A's frontier
//! points inside the overlap of the two ladders' compute ranges, at computes
//! asked for, and its geometric mean over a log-spaced grid of the overlap;
//! and the **crossover**, the compute where the two fitted curves cross
//! inside the overlap (or within [`CROSSOVER_MARGIN_DECADES`] of it).
//!
//! The **bootstrap** resamples each ladder's frontier points with
//! replacement (a ChaCha8 stream keyed by the seed and the resample, so the
//! result does not depend on threads), refits, and takes 95% percentile
//! intervals of every multiplier, the geometric mean and the crossover.

use crate::bootstrap::resample_weights;
use crate::data::Observations;
use crate::fit::{fit_weighted, nnls_small, FitOptions};
use crate::laws::{Law, LogCovariates, PowerLaw, Variable};
use crate::optim::{lbfgs, LbfgsOptions, Minimum};
use crate::plan::percentile_ci95;
use crate::robust::Robust;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Runs whose compute agrees within this many decades (log10) are one
/// budget of a ladder's frontier (as in `isoflop`).
pub const BUDGET_LOG10_TOL: f64 = 0.05;

/// How far (decades) beyond the overlap a crossover is still reported.
pub const CROSSOVER_MARGIN_DECADES: f64 = 0.5;

/// Points of the log-spaced grid over the overlap on which the geometric
/// mean multiplier is taken.
pub const GEO_MEAN_GRID: usize = 41;

/// The fewest frontier points a ladder needs (three parameters per law).
pub const MIN_FRONTIER_POINTS: usize = 3;

/// A ladder's compute frontier: per budget, the lowest loss, by increasing
/// compute.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Frontier {
    pub compute: Vec<f64>,
    pub loss: Vec<f64>,
    /// Runs the frontier was taken from.
    pub runs: usize,
}

impl Frontier {
    /// The frontier of runs `(compute[i], loss[i])`: runs are grouped into
    /// budgets (consecutive computes within [`BUDGET_LOG10_TOL`] decades of
    /// the group's first) and each budget keeps its lowest-loss run.
    /// Non-finite or non-positive values are skipped.
    pub fn of(compute: &[f64], loss: &[f64]) -> Frontier {
        let mut pts: Vec<(f64, f64)> = compute
            .iter()
            .zip(loss)
            .filter(|(c, l)| c.is_finite() && **c > 0.0 && l.is_finite() && **l > 0.0)
            .map(|(c, l)| (*c, *l))
            .collect();
        pts.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
        let mut out: Vec<(f64, f64)> = Vec::new();
        let mut group_start = f64::NAN;
        for (c, l) in pts {
            if out.is_empty() || (c.log10() - group_start.log10()) > BUDGET_LOG10_TOL {
                group_start = c;
                out.push((c, l));
            } else {
                let last = out.last_mut().expect("non-empty");
                if l < last.1 {
                    *last = (c, l);
                }
            }
        }
        Frontier {
            compute: out.iter().map(|p| p.0).collect(),
            loss: out.iter().map(|p| p.1).collect(),
            runs: compute.len(),
        }
    }

    pub fn len(&self) -> usize {
        self.compute.len()
    }

    pub fn is_empty(&self) -> bool {
        self.compute.is_empty()
    }

    /// Smallest and largest compute.
    pub fn range(&self) -> [f64; 2] {
        [
            self.compute.first().copied().unwrap_or(f64::NAN),
            self.compute.last().copied().unwrap_or(f64::NAN),
        ]
    }

    fn observations(&self) -> Observations {
        let nan = vec![f64::NAN; self.len()];
        Observations::new(nan.clone(), nan, self.compute.clone(), self.loss.clone())
            .expect("frontier points are positive and finite")
    }
}

/// `L(C) = E + A·C^(−α)` fitted to one ladder.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct CurveFit {
    #[serde(rename = "E")]
    pub e: f64,
    #[serde(rename = "A")]
    pub a: f64,
    pub alpha: f64,
    /// The summed robust loss at the optimum (for a shared-E fit: of both
    /// ladders together).
    pub objective: f64,
    /// Whether the optimiser converged at the best start.
    pub converged: bool,
}

impl CurveFit {
    /// The fitted loss at compute `c`.
    pub fn loss(&self, c: f64) -> f64 {
        self.e + self.a * c.powf(-self.alpha)
    }

    /// The compute at which the curve reaches `loss`; `None` when the loss
    /// is at or below E (never reached) or the curve is flat.
    pub fn compute_for(&self, loss: f64) -> Option<f64> {
        let gap = loss - self.e;
        if !(gap > 0.0 && self.a > 0.0 && self.alpha > 0.0) {
            return None;
        }
        let c = (gap / self.a).powf(-1.0 / self.alpha);
        (c.is_finite() && c > 0.0).then_some(c)
    }
}

/// Settings of a comparison.
#[derive(Clone, Debug, PartialEq)]
pub struct CompareOptions {
    /// Fit both ladders with one irreducible loss E.
    pub shared_e: bool,
    /// Bootstrap resamples (0: none).
    pub bootstrap: usize,
    pub seed: u64,
    /// Computes (of recipe A) at which to report the multiplier besides the
    /// frontier points inside the overlap.
    pub at: Vec<f64>,
    pub robust: Robust,
}

impl Default for CompareOptions {
    fn default() -> Self {
        CompareOptions {
            shared_e: false,
            bootstrap: 200,
            seed: 0,
            at: Vec::new(),
            robust: Robust::default(),
        }
    }
}

/// Why two ladders cannot be compared.
#[derive(Clone, Debug, PartialEq)]
pub enum CompareError {
    /// A ladder's frontier has fewer than [`MIN_FRONTIER_POINTS`] points.
    TooFewPoints { ladder: char, points: usize },
    /// The ladders' compute ranges do not overlap.
    NoOverlap { a: [f64; 2], b: [f64; 2] },
    /// A fit could not be made.
    Fit { ladder: char, message: String },
}

impl std::fmt::Display for CompareError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CompareError::TooFewPoints { ladder, points } => write!(
                f,
                "ladder {ladder} has {points} compute budgets on its frontier; the fit L = E + A*C^-alpha needs at least {MIN_FRONTIER_POINTS}"
            ),
            CompareError::NoOverlap { a, b } => write!(
                f,
                "the ladders do not overlap in compute: ladder A spans {:.3e} to {:.3e} FLOPs, ladder B {:.3e} to {:.3e} FLOPs; a multiplier needs a common compute range",
                a[0], a[1], b[0], b[1]
            ),
            CompareError::Fit { ladder, message } => {
                write!(f, "the fit of ladder {ladder} failed: {message}")
            }
        }
    }
}

impl std::error::Error for CompareError {}

/// The multiplier at one compute of recipe A.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MultiplierPoint {
    /// Compute of recipe A (FLOPs).
    pub compute: f64,
    /// Recipe A's fitted loss there.
    pub loss_a: f64,
    /// The compute recipe B needs for that loss (None: never reached).
    pub compute_b: Option<f64>,
    /// `compute_b / compute`.
    pub multiplier: Option<f64>,
    /// Why the multiplier is undefined.
    pub reason: Option<String>,
    /// Whether the compute was asked for (`--at`) rather than a frontier
    /// point of A.
    pub requested: bool,
    /// 95% bootstrap percentile interval of the multiplier.
    pub ci95: Option<[f64; 2]>,
}

/// Bootstrap bookkeeping.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CompareBootstrap {
    pub resamples: usize,
    pub seed: u64,
    /// Resamples used (the others had fewer than three distinct points in
    /// a ladder).
    pub used: usize,
    /// Used resamples in which a fit did not converge (still included).
    pub not_converged: usize,
    /// Used resamples whose curves cross near the overlap.
    pub with_crossover: usize,
}

/// The comparison of two ladders.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub frontier_a: Frontier,
    pub frontier_b: Frontier,
    pub fit_a: CurveFit,
    pub fit_b: CurveFit,
    pub shared_e: bool,
    /// The common compute range `[lo, hi]`.
    pub overlap: [f64; 2],
    pub points: Vec<MultiplierPoint>,
    /// Geometric mean of m over [`GEO_MEAN_GRID`] log-spaced computes of
    /// the overlap (where m is defined).
    pub geo_mean: Option<f64>,
    pub geo_mean_ci95: Option<[f64; 2]>,
    /// Grid points where m is undefined (left out of the mean).
    pub geo_mean_undefined: usize,
    /// Where the fitted curves cross (the one nearest the overlap's
    /// centre when there are several).
    pub crossover: Option<f64>,
    pub crossover_ci95: Option<[f64; 2]>,
    pub bootstrap: Option<CompareBootstrap>,
}

/// Fits and compares two ladders of runs `(compute, loss)`.
pub fn compare(
    a: &Frontier,
    b: &Frontier,
    opts: &CompareOptions,
) -> Result<Comparison, CompareError> {
    for (ladder, f) in [('A', a), ('B', b)] {
        if f.len() < MIN_FRONTIER_POINTS {
            return Err(CompareError::TooFewPoints {
                ladder,
                points: f.len(),
            });
        }
    }
    let (ra, rb) = (a.range(), b.range());
    let overlap = [ra[0].max(rb[0]), ra[1].min(rb[1])];
    if overlap[0] > overlap[1] {
        return Err(CompareError::NoOverlap { a: ra, b: rb });
    }
    let (oa, ob) = (a.observations(), b.observations());
    let (fit_a, fit_b) = fit_pair(&oa, None, &ob, None, opts)?;
    let grid = log_grid(overlap);
    let mut computes: Vec<(f64, bool)> = a
        .compute
        .iter()
        .filter(|c| **c >= overlap[0] && **c <= overlap[1])
        .map(|c| (*c, false))
        .collect();
    computes.extend(opts.at.iter().map(|c| (*c, true)));
    let mut points: Vec<MultiplierPoint> = computes
        .iter()
        .map(|&(c, requested)| {
            let loss_a = fit_a.loss(c);
            let compute_b = fit_b.compute_for(loss_a);
            let reason = compute_b.is_none().then(|| {
                format!(
                    "recipe A's loss {loss_a:.5} at {c:.3e} FLOPs is at or below recipe B's irreducible loss E_B = {:.5}: B never reaches it",
                    fit_b.e
                )
            });
            MultiplierPoint {
                compute: c,
                loss_a,
                compute_b,
                multiplier: compute_b.map(|cb| cb / c),
                reason,
                requested,
                ci95: None,
            }
        })
        .collect();
    let (gm, geo_mean_undefined) = geo_mean(&fit_a, &fit_b, &grid);
    let cross = crossover(&fit_a, &fit_b, overlap);
    let mut out = Comparison {
        frontier_a: a.clone(),
        frontier_b: b.clone(),
        fit_a,
        fit_b,
        shared_e: opts.shared_e,
        overlap,
        points: Vec::new(),
        geo_mean: gm,
        geo_mean_ci95: None,
        geo_mean_undefined,
        crossover: cross,
        crossover_ci95: None,
        bootstrap: None,
    };
    if opts.bootstrap > 0 {
        let draws: Vec<Option<(CurveFit, CurveFit)>> = (0..opts.bootstrap)
            .into_par_iter()
            .map(|i| {
                let wa = resample_weights(a.len(), opts.seed, 2 * i as u64);
                let wb = resample_weights(b.len(), opts.seed, 2 * i as u64 + 1);
                let distinct = |w: &[f64]| w.iter().filter(|v| **v > 0.0).count();
                if distinct(&wa) < MIN_FRONTIER_POINTS || distinct(&wb) < MIN_FRONTIER_POINTS {
                    return None;
                }
                fit_pair(&oa, Some(&wa), &ob, Some(&wb), opts).ok()
            })
            .collect();
        let used: Vec<(CurveFit, CurveFit)> = draws.into_iter().flatten().collect();
        for p in &mut points {
            let m: Vec<f64> = used
                .iter()
                .filter_map(|(fa, fb)| Some(fb.compute_for(fa.loss(p.compute))? / p.compute))
                .collect();
            p.ci95 = percentile_ci95(&m);
        }
        let gm: Vec<f64> = used
            .iter()
            .filter_map(|(fa, fb)| geo_mean(fa, fb, &grid).0)
            .collect();
        out.geo_mean_ci95 = percentile_ci95(&gm);
        let cross: Vec<f64> = used
            .iter()
            .filter_map(|(fa, fb)| crossover(fa, fb, overlap))
            .collect();
        out.crossover_ci95 = percentile_ci95(&cross);
        out.bootstrap = Some(CompareBootstrap {
            resamples: opts.bootstrap,
            seed: opts.seed,
            used: used.len(),
            not_converged: used
                .iter()
                .filter(|(fa, fb)| !(fa.converged && fb.converged))
                .count(),
            with_crossover: cross.len(),
        });
    }
    out.points = points;
    Ok(out)
}

/// `GEO_MEAN_GRID` log-spaced computes over `[lo, hi]`.
fn log_grid(range: [f64; 2]) -> Vec<f64> {
    let (l0, l1) = (range[0].ln(), range[1].ln());
    (0..GEO_MEAN_GRID)
        .map(|k| (l0 + (l1 - l0) * k as f64 / (GEO_MEAN_GRID - 1) as f64).exp())
        .collect()
}

/// Geometric mean of the multiplier over `grid` where it is defined, and
/// how many grid points it is not.
fn geo_mean(fa: &CurveFit, fb: &CurveFit, grid: &[f64]) -> (Option<f64>, usize) {
    let logs: Vec<f64> = grid
        .iter()
        .filter_map(|&c| Some((fb.compute_for(fa.loss(c))? / c).ln()))
        .collect();
    let undefined = grid.len() - logs.len();
    if logs.is_empty() {
        return (None, undefined);
    }
    let mean = logs.iter().sum::<f64>() / logs.len() as f64;
    (Some(mean.exp()), undefined)
}

/// Where `L_A(C) = L_B(C)` within the overlap widened by
/// [`CROSSOVER_MARGIN_DECADES`]; of several crossings the one nearest the
/// overlap's centre (in log compute).
pub fn crossover(fa: &CurveFit, fb: &CurveFit, overlap: [f64; 2]) -> Option<f64> {
    let margin = CROSSOVER_MARGIN_DECADES * std::f64::consts::LN_10;
    let (l0, l1) = (overlap[0].ln() - margin, overlap[1].ln() + margin);
    let diff = |lc: f64| {
        let c = lc.exp();
        fa.loss(c) - fb.loss(c)
    };
    let steps = 400;
    let mut found: Vec<f64> = Vec::new();
    let mut prev = (l0, diff(l0));
    for k in 1..=steps {
        let x = l0 + (l1 - l0) * k as f64 / steps as f64;
        let d = diff(x);
        if prev.1 == 0.0 {
            found.push(prev.0);
        } else if prev.1.signum() != d.signum() && d != 0.0 {
            // bisection on [prev.0, x]
            let (mut lo, mut hi, mut dlo) = (prev.0, x, prev.1);
            for _ in 0..100 {
                let mid = 0.5 * (lo + hi);
                let dm = diff(mid);
                if dm.signum() == dlo.signum() {
                    lo = mid;
                    dlo = dm;
                } else {
                    hi = mid;
                }
            }
            found.push(0.5 * (lo + hi));
        }
        prev = (x, d);
    }
    let centre = 0.5 * (overlap[0].ln() + overlap[1].ln());
    found
        .into_iter()
        .min_by(|x, y| (x - centre).abs().total_cmp(&(y - centre).abs()))
        .map(f64::exp)
}

fn fit_pair(
    oa: &Observations,
    wa: Option<&[f64]>,
    ob: &Observations,
    wb: Option<&[f64]>,
    opts: &CompareOptions,
) -> Result<(CurveFit, CurveFit), CompareError> {
    if opts.shared_e {
        return fit_shared_e(oa, wa, ob, wb, opts.robust);
    }
    let law = PowerLaw::new(Variable::C);
    let fit_opts = FitOptions {
        robust: opts.robust,
        ..FitOptions::default()
    };
    let one = |ladder: char, obs: &Observations, w: Option<&[f64]>| {
        let f = fit_weighted(&law, obs, w, &fit_opts).map_err(|e| CompareError::Fit {
            ladder,
            message: e.to_string(),
        })?;
        Ok(CurveFit {
            e: f.params[0],
            a: f.params[1],
            alpha: f.params[2],
            objective: f.objective,
            converged: f.converged,
        })
    };
    Ok((one('A', oa, wa)?, one('B', ob, wb)?))
}

/// Lower bound for log-coefficients NNLS sets to zero (ln 1e-12), so L-BFGS
/// can still move them.
const LN_COEF_FLOOR: f64 = -27.631_021_115_928_547;

/// Both ladders with one E: raw parameters `[e, a_A, α_A, a_B, α_B]`.
/// Starts come from variable projection on a grid of the two exponents
/// (E, A_A, A_B by non-negative least squares on relative residuals); the
/// best distinct grid points are polished by L-BFGS on the summed robust
/// loss of log residuals.
fn fit_shared_e(
    oa: &Observations,
    wa: Option<&[f64]>,
    ob: &Observations,
    wb: Option<&[f64]>,
    robust: Robust,
) -> Result<(CurveFit, CurveFit), CompareError> {
    let law = PowerLaw::new(Variable::C);
    let objective = |x: &[f64], g: &mut [f64]| -> f64 {
        g.iter_mut().for_each(|v| *v = 0.0);
        let mut total = 0.0;
        let mut gi = [0.0; 3];
        for (ladder, obs, w) in [(0usize, oa, wa), (1usize, ob, wb)] {
            let raw = [x[0], x[1 + 2 * ladder], x[2 + 2 * ladder]];
            for i in 0..obs.len() {
                let wi = w.map_or(1.0, |w| w[i]);
                if wi == 0.0 {
                    continue;
                }
                let lp = law.log_predict(&raw, &LogCovariates::at(obs, i), Some(&mut gi));
                let (v, dv) = robust.value_deriv(obs.ln_loss[i] - lp);
                total += wi * v;
                g[0] -= wi * dv * gi[0];
                g[1 + 2 * ladder] -= wi * dv * gi[1];
                g[2 + 2 * ladder] -= wi * dv * gi[2];
            }
        }
        total
    };
    // variable projection over (α_A, α_B)
    let (na, nb) = (oa.len(), ob.len());
    let n = na + nb;
    let mut wts = Vec::with_capacity(n);
    wts.extend((0..na).map(|i| wa.map_or(1.0, |w| w[i])));
    wts.extend((0..nb).map(|i| wb.map_or(1.0, |w| w[i])));
    let rhs = vec![1.0; n];
    let alphas: Vec<f64> = (1..=100).map(|k| 0.02 * k as f64).collect();
    let pairs: Vec<(f64, f64)> = alphas
        .iter()
        .flat_map(|&x| alphas.iter().map(move |&y| (x, y)))
        .collect();
    let mut scored: Vec<(f64, Vec<f64>)> = pairs
        .par_iter()
        .filter_map(|&(al_a, al_b)| {
            let mut rows = vec![0.0; n * 3];
            for i in 0..na {
                let l = oa.loss[i];
                rows[i * 3] = 1.0 / l;
                rows[i * 3 + 1] = oa.c[i].powf(-al_a) / l;
            }
            for i in 0..nb {
                let l = ob.loss[i];
                rows[(na + i) * 3] = 1.0 / l;
                rows[(na + i) * 3 + 2] = ob.c[i].powf(-al_b) / l;
            }
            let coef = nnls_small(&rows, &rhs, &wts, n, 3)?;
            let ln = |v: f64| if v > 0.0 { v.ln() } else { LN_COEF_FLOOR };
            let raw = vec![ln(coef[0]), ln(coef[1]), al_a, ln(coef[2]), al_b];
            let mut g = [0.0; 5];
            let f = objective(&raw, &mut g);
            f.is_finite().then_some((f, raw))
        })
        .collect();
    scored.sort_by(|x, y| x.0.total_cmp(&y.0));
    let mut starts: Vec<Vec<f64>> = Vec::new();
    for (_, raw) in scored {
        if starts.iter().all(|s| {
            s.iter()
                .zip(&raw)
                .any(|(p, q)| (p - q).abs() > 1e-3 * (1.0 + p.abs()))
        }) {
            starts.push(raw);
        }
        if starts.len() >= 8 {
            break;
        }
    }
    let opts = LbfgsOptions::default();
    let best: Option<Minimum> = starts
        .par_iter()
        .map(|s| lbfgs(&objective, s, &opts))
        .filter(|m| m.f.is_finite())
        .min_by(|x, y| x.f.total_cmp(&y.f));
    let Some(m) = best else {
        return Err(CompareError::Fit {
            ladder: 'A',
            message: "the shared-E objective is not finite at any start".into(),
        });
    };
    let e = m.x[0].exp();
    let curve = |k: usize| CurveFit {
        e,
        a: m.x[1 + 2 * k].exp(),
        alpha: m.x[2 + 2 * k],
        objective: m.f,
        converged: m.converged(),
    };
    Ok((curve(0), curve(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic noise in [−amp, amp].
    fn noise(k: &mut u64, amp: f64) -> f64 {
        *k = k
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((*k >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) * amp
    }

    /// An IsoFLOP-like ladder: per budget, the law's loss (with noise) and
    /// two worse model sizes.
    fn ladder(law: impl Fn(f64) -> f64, budgets: &[f64], seed: u64) -> Frontier {
        let mut k = seed;
        let (mut c, mut l) = (Vec::new(), Vec::new());
        for &b in budgets {
            let best = law(b) * (1.0 + noise(&mut k, 0.002));
            for (j, worse) in [1.0, 1.03, 1.06].iter().enumerate() {
                c.push(b * (1.0 + 0.01 * j as f64));
                l.push(best * worse);
            }
        }
        Frontier::of(&c, &l)
    }

    fn budgets(lo: f64, hi: f64, k: usize) -> Vec<f64> {
        (0..k)
            .map(|i| (lo.ln() + (hi.ln() - lo.ln()) * i as f64 / (k - 1) as f64).exp())
            .collect()
    }

    fn law_a(c: f64) -> f64 {
        1.8 + 2000.0 * c.powf(-0.2)
    }

    #[test]
    fn the_frontier_keeps_the_best_run_per_budget() {
        let f = Frontier::of(
            &[1e18, 1.01e18, 1e19, 1.05e19, 1e20, 3e17],
            &[3.0, 2.9, 2.6, 2.7, 2.4, 3.2],
        );
        assert_eq!(f.compute, vec![3e17, 1.01e18, 1e19, 1e20]);
        assert_eq!(f.loss, vec![3.2, 2.9, 2.6, 2.4]);
        assert_eq!(f.runs, 6);
    }

    #[test]
    fn a_planted_2x_multiplier_is_recovered_within_10_percent() {
        let bs = budgets(1e17, 1e20, 12);
        let a = ladder(law_a, &bs, 1);
        // recipe B needs twice the compute for the same loss
        let b = ladder(|c| law_a(c / 2.0), &bs, 2);
        assert_eq!(a.len(), 12);
        let opts = CompareOptions {
            bootstrap: 100,
            seed: 7,
            at: vec![3e18],
            ..Default::default()
        };
        let r = compare(&a, &b, &opts).unwrap();
        assert!(r.fit_a.converged && r.fit_b.converged);
        let gm = r.geo_mean.unwrap();
        assert!((gm / 2.0 - 1.0).abs() < 0.10, "geo-mean {gm}");
        let ci = r.geo_mean_ci95.unwrap();
        assert!(
            ci[0] < gm && gm < ci[1] && ci[0] > 1.5 && ci[1] < 2.6,
            "{ci:?}"
        );
        for p in &r.points {
            let m = p.multiplier.unwrap();
            assert!((m / 2.0 - 1.0).abs() < 0.15, "{p:?}");
            assert!(p.ci95.is_some());
        }
        assert!(r.points.iter().any(|p| p.requested && p.compute == 3e18));
        assert_eq!(r.points.len(), 13);
        let boot = r.bootstrap.unwrap();
        assert_eq!(boot.resamples, 100);
        assert!(boot.used >= 95, "{boot:?}");
        // deterministic
        let again = compare(&a, &b, &opts).unwrap();
        assert_eq!(again.geo_mean_ci95, r.geo_mean_ci95);
        // the same recipe against itself: m = 1, curves do not cross
        let same = compare(
            &a,
            &a,
            &CompareOptions {
                bootstrap: 0,
                ..Default::default()
            },
        )
        .unwrap();
        assert!((same.geo_mean.unwrap() - 1.0).abs() < 1e-6);
    }

    #[test]
    fn a_shared_e_fit_recovers_the_multiplier_and_one_e() {
        let bs = budgets(1e17, 1e20, 12);
        let a = ladder(law_a, &bs, 3);
        let b = ladder(|c| law_a(c / 2.0), &bs, 4);
        let opts = CompareOptions {
            shared_e: true,
            bootstrap: 30,
            seed: 1,
            ..Default::default()
        };
        let r = compare(&a, &b, &opts).unwrap();
        assert!(r.shared_e);
        assert_eq!(r.fit_a.e, r.fit_b.e);
        assert!(r.fit_a.converged, "{:?}", r.fit_a);
        let gm = r.geo_mean.unwrap();
        assert!((gm / 2.0 - 1.0).abs() < 0.10, "geo-mean {gm}");
        // the joint objective is no worse than the sum of separate fits
        // constrained to one E, i.e. at least the sum of the free fits
        let free = compare(
            &a,
            &b,
            &CompareOptions {
                bootstrap: 0,
                ..Default::default()
            },
        )
        .unwrap();
        assert!(r.fit_a.objective >= free.fit_a.objective + free.fit_b.objective - 1e-12);
        // and B's exponent matches A's (the same law shifted in compute)
        assert!((r.fit_a.alpha - r.fit_b.alpha).abs() < 0.05, "{r:?}");
    }

    #[test]
    fn crossing_curves_give_a_crossover_near_the_truth() {
        let la = |c: f64| 2.0 + 5000.0 * c.powf(-0.25);
        let lb = |c: f64| 1.6 + 144.0 * c.powf(-0.13);
        // the true crossing by bisection on ln C
        let (mut lo, mut hi) = (1e16f64.ln(), 1e22f64.ln());
        assert!((la(lo.exp()) - lb(lo.exp())).signum() != (la(hi.exp()) - lb(hi.exp())).signum());
        for _ in 0..200 {
            let mid = 0.5 * (lo + hi);
            if (la(mid.exp()) - lb(mid.exp())).signum() == (la(lo.exp()) - lb(lo.exp())).signum() {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        let truth = lo.exp();
        let bs = budgets(1e17, 1e21, 12);
        assert!(truth > 1e17 && truth < 1e21, "{truth:e}");
        let r = compare(
            &ladder(la, &bs, 5),
            &ladder(lb, &bs, 6),
            &CompareOptions {
                bootstrap: 50,
                ..Default::default()
            },
        )
        .unwrap();
        let c = r.crossover.expect("curves cross");
        assert!(
            (c.log10() - truth.log10()).abs() < 0.3,
            "{c:e} vs {truth:e}"
        );
        let ci = r.crossover_ci95.unwrap();
        assert!(ci[0] <= c && c <= ci[1], "{ci:?} {c:e}");
        // below the crossing A is better (m > 1), above it worse (m < 1)
        let first = r.points.first().unwrap().multiplier.unwrap();
        let last = r.points.last().unwrap().multiplier.unwrap();
        assert!(first > 1.0 && last < 1.0, "{first} {last}");
    }

    #[test]
    fn an_unreachable_loss_has_no_multiplier_and_says_why() {
        let fa = CurveFit {
            e: 1.5,
            a: 100.0,
            alpha: 0.2,
            objective: 0.0,
            converged: true,
        };
        let fb = CurveFit { e: 2.0, ..fa };
        assert_eq!(fb.compute_for(1.9), None);
        assert!(fb.compute_for(2.5).is_some());
        let bs = budgets(1e17, 1e20, 6);
        let r = compare(
            &ladder(|c| 1.5 + 100.0 * c.powf(-0.1), &bs, 8),
            &ladder(|c| 2.6 + 1e4 * c.powf(-0.3), &bs, 9),
            &CompareOptions {
                bootstrap: 0,
                ..Default::default()
            },
        )
        .unwrap();
        let undefined: Vec<_> = r.points.iter().filter(|p| p.multiplier.is_none()).collect();
        assert!(!undefined.is_empty());
        assert!(undefined[0]
            .reason
            .as_ref()
            .unwrap()
            .contains("never reaches"));
    }

    #[test]
    fn bad_ladders_give_clear_errors() {
        let a = ladder(law_a, &budgets(1e17, 1e18, 5), 1);
        let b = ladder(law_a, &budgets(1e19, 1e20, 5), 2);
        let e = compare(&a, &b, &CompareOptions::default()).unwrap_err();
        assert!(matches!(e, CompareError::NoOverlap { .. }));
        let msg = e.to_string();
        assert!(
            msg.contains("1.000e17") && msg.contains("1.000e20") && msg.contains("do not overlap"),
            "{msg}"
        );
        let short = ladder(law_a, &budgets(1e17, 1e18, 2), 3);
        let e = compare(&a, &short, &CompareOptions::default()).unwrap_err();
        assert_eq!(
            e,
            CompareError::TooFewPoints {
                ladder: 'B',
                points: 2
            }
        );
        assert!(e.to_string().contains("at least 3"));
    }
}
