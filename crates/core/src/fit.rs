//! Fitting a law to observations: many-start L-BFGS on the summed robust loss
//! of log residuals, or variable projection.
//!
//! Two methods:
//!
//! * [`Method::VarPro`] (the default). Once the exponents are fixed, the
//!   coefficients (E, A, B) of a saturating power law enter linearly, so the
//!   search runs over the exponents only: on a fine exponent grid the
//!   coefficients come from non-negative least squares on relative residuals
//!   (a convex problem with one answer), each grid point is scored by the true
//!   objective, and the best distinct grid points are polished by L-BFGS on
//!   the full objective. Two exponents are far easier to search than five
//!   coupled parameters whose scales differ by orders of magnitude, so the
//!   answer does not depend on a lucky start grid.
//! * [`Method::Grid`]: L-BFGS from every point of the law's start grid — for
//!   Chinchilla, Hoffmann et al.'s 4,500 starts — in parallel, keeping the
//!   best. This is the published procedure, kept for reproduction and for
//!   laws without linear structure (Kaplan's form), where it is the only
//!   method.
//!
//! Both report the best objective, how many starts reached it (within 1e-9
//! relative) and whether the optimiser converged there.

use crate::data::Observations;
use crate::laws::Law;
use crate::optim::{LbfgsOptions, Minimum, Termination};
use crate::robust::Robust;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// How to search.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    #[default]
    VarPro,
    Grid,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::VarPro => "varpro",
            Method::Grid => "grid",
        }
    }
}

/// Settings of a fit.
#[derive(Clone, Debug, PartialEq)]
pub struct FitOptions {
    pub robust: Robust,
    pub method: Method,
    /// Replaces the law's start grid (raw parameters), for [`Method::Grid`].
    pub starts: Option<Vec<Vec<f64>>>,
    /// How many of the best distinct variable-projection grid points are
    /// polished by L-BFGS.
    pub varpro_polish: usize,
    pub lbfgs: LbfgsOptions,
}

impl Default for FitOptions {
    fn default() -> Self {
        FitOptions {
            robust: Robust::default(),
            method: Method::default(),
            starts: None,
            varpro_polish: 16,
            lbfgs: LbfgsOptions::default(),
        }
    }
}

/// Relative tolerance within which a start counts as having reached the best
/// objective.
pub const SAME_OPTIMUM_RTOL: f64 = 1e-9;

/// A fitted law.
#[derive(Clone, Debug, PartialEq)]
pub struct FitResult {
    pub law: String,
    pub formula: String,
    pub param_names: Vec<&'static str>,
    /// Natural parameters.
    pub params: Vec<f64>,
    /// Raw (optimiser) parameters.
    pub raw: Vec<f64>,
    pub derived: Vec<(&'static str, f64)>,
    pub objective: f64,
    pub robust: Robust,
    pub method: Method,
    pub n_points: usize,
    /// Number of L-BFGS starts.
    pub starts: usize,
    /// Starts whose objective is within [`SAME_OPTIMUM_RTOL`] of the best.
    pub starts_at_best: usize,
    /// Whether the optimiser converged at the best start.
    pub converged: bool,
    pub termination: Termination,
    pub iterations: usize,
    /// Objective evaluations over all starts.
    pub evaluations: usize,
    /// Starts that ended without converging.
    pub starts_not_converged: usize,
}

impl FitResult {
    /// The natural parameter with this name.
    pub fn param(&self, name: &str) -> Option<f64> {
        self.param_names
            .iter()
            .position(|n| *n == name)
            .map(|i| self.params[i])
    }
}

/// Why a fit could not be made.
#[derive(Clone, Debug, PartialEq)]
pub enum FitError {
    /// Fewer runs than parameters.
    TooFewPoints { points: usize, params: usize },
    /// No start gave a finite objective.
    NoFiniteStart,
}

impl std::fmt::Display for FitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FitError::TooFewPoints { points, params } => write!(
                f,
                "{points} runs cannot determine {params} parameters (need at least {params})"
            ),
            FitError::NoFiniteStart => write!(f, "the objective is not finite at any start"),
        }
    }
}

impl std::error::Error for FitError {}

/// Minimises the objective from one start, with optional per-run weights.
pub fn minimise_from(
    law: &dyn Law,
    obs: &Observations,
    weights: Option<&[f64]>,
    robust: Robust,
    start: &[f64],
    opts: &LbfgsOptions,
) -> Minimum {
    minimise_from_with_memory(law, obs, weights, robust, start, opts, &[])
}

/// [`minimise_from`] with the L-BFGS memory seeded by correction pairs in raw
/// parameters (see [`crate::optim::lbfgs_with_memory`]).
///
/// L-BFGS runs in the law's centred variables ([`Law::centring`]); the start,
/// the seed pairs and the result are mapped to and from them, so callers see
/// raw parameters only. (The reported gradient norm is the optimiser's.)
pub fn minimise_from_with_memory(
    law: &dyn Law,
    obs: &Observations,
    weights: Option<&[f64]>,
    robust: Robust,
    start: &[f64],
    opts: &LbfgsOptions,
    seed: &[crate::optim::CorrectionPair],
) -> Minimum {
    let centring = law.centring(obs);
    if centring.is_empty() {
        let problem = |x: &[f64], g: &mut [f64]| law.objective(x, obs, weights, robust, g);
        return crate::optim::lbfgs_with_memory(&problem, start, opts, seed);
    }
    let k = start.len();
    let problem = |x: &[f64], g: &mut [f64]| {
        let mut buf = [0.0; 16];
        let mut heap = Vec::new();
        let raw: &mut [f64] = if k <= buf.len() {
            &mut buf[..k]
        } else {
            heap.resize(k, 0.0);
            &mut heap
        };
        raw.copy_from_slice(x);
        centred_to_raw(&centring, raw);
        let f = law.objective(raw, obs, weights, robust, g);
        grad_to_centred(&centring, g);
        f
    };
    let mut x0 = start.to_vec();
    raw_to_centred(&centring, &mut x0);
    let seed: Vec<crate::optim::CorrectionPair> = seed
        .iter()
        .map(|(s, y)| {
            let (mut s, mut y) = (s.clone(), y.clone());
            raw_to_centred(&centring, &mut s);
            grad_to_centred(&centring, &mut y);
            (s, y)
        })
        .collect();
    let mut m = crate::optim::lbfgs_with_memory(&problem, &x0, opts, &seed);
    centred_to_raw(&centring, &mut m.x);
    m
}

/// raw[coef] = x[coef] + shift·x[exponent].
pub(crate) fn centred_to_raw(centring: &[crate::laws::Centring], x: &mut [f64]) {
    for c in centring {
        x[c.coef] += c.shift * x[c.exponent];
    }
}

/// x[coef] = raw[coef] − shift·raw[exponent] (also maps steps).
pub(crate) fn raw_to_centred(centring: &[crate::laws::Centring], raw: &mut [f64]) {
    for c in centring {
        raw[c.coef] -= c.shift * raw[c.exponent];
    }
}

/// The chain rule for a gradient (or gradient change) in raw parameters:
/// ∂/∂x[exponent] gains shift·∂/∂raw[coef].
pub(crate) fn grad_to_centred(centring: &[crate::laws::Centring], g: &mut [f64]) {
    for c in centring {
        g[c.exponent] += c.shift * g[c.coef];
    }
}

/// The objective at raw parameters (no gradient needed by the caller).
pub fn objective_at(
    law: &dyn Law,
    obs: &Observations,
    weights: Option<&[f64]>,
    robust: Robust,
    raw: &[f64],
) -> f64 {
    let mut g = vec![0.0; raw.len()];
    law.objective(raw, obs, weights, robust, &mut g)
}

/// Fits `law` to `obs`.
pub fn fit_law(
    law: &dyn Law,
    obs: &Observations,
    opts: &FitOptions,
) -> Result<FitResult, FitError> {
    fit_weighted(law, obs, None, opts)
}

/// Fits with per-run weights (multiplicities); `None` means all ones.
pub fn fit_weighted(
    law: &dyn Law,
    obs: &Observations,
    weights: Option<&[f64]>,
    opts: &FitOptions,
) -> Result<FitResult, FitError> {
    let k = law.n_params();
    if obs.len() < k {
        return Err(FitError::TooFewPoints {
            points: obs.len(),
            params: k,
        });
    }
    let method = if law.varpro_grid(obs).is_none() {
        Method::Grid
    } else {
        opts.method
    };
    let starts = match (method, &opts.starts) {
        (Method::Grid, Some(s)) => s.clone(),
        (Method::Grid, None) => law.start_grid(obs),
        (Method::VarPro, _) => varpro_starts(law, obs, weights, opts.robust, opts.varpro_polish),
    };
    let results: Vec<Minimum> = starts
        .par_iter()
        .map(|s| minimise_from(law, obs, weights, opts.robust, s, &opts.lbfgs))
        .collect();
    summarise(law, obs.len(), method, opts.robust, results)
}

fn summarise(
    law: &dyn Law,
    n_points: usize,
    method: Method,
    robust: Robust,
    results: Vec<Minimum>,
) -> Result<FitResult, FitError> {
    let best = results
        .iter()
        .enumerate()
        .filter(|(_, m)| m.f.is_finite())
        .min_by(|a, b| a.1.f.total_cmp(&b.1.f).then(a.0.cmp(&b.0)))
        .map(|(i, _)| i)
        .ok_or(FitError::NoFiniteStart)?;
    let b = &results[best];
    let tol = SAME_OPTIMUM_RTOL * b.f.abs().max(f64::MIN_POSITIVE);
    let at_best = results.iter().filter(|m| m.f - b.f <= tol).count();
    let params = law.to_natural(&b.x);
    Ok(FitResult {
        law: law.name(),
        formula: law.formula(),
        param_names: law.param_names(),
        derived: law.derived(&params),
        params,
        raw: b.x.clone(),
        objective: b.f,
        robust,
        method,
        n_points,
        starts: results.len(),
        starts_at_best: at_best,
        converged: b.converged(),
        termination: b.termination,
        iterations: b.iterations,
        evaluations: results.iter().map(|m| m.evaluations).sum(),
        starts_not_converged: results.iter().filter(|m| !m.converged()).count(),
    })
}

/// Lower bound for log-coefficients that NNLS sets to zero, so L-BFGS can
/// still move them (ln 1e-12).
const LN_COEF_FLOOR: f64 = -27.631_021_115_928_547;

/// Variable projection: scores the law's exponent grid with NNLS
/// coefficients and returns the `keep` best distinct points as raw starts.
pub fn varpro_starts(
    law: &dyn Law,
    obs: &Observations,
    weights: Option<&[f64]>,
    robust: Robust,
    keep: usize,
) -> Vec<Vec<f64>> {
    let grid = law.varpro_grid(obs).expect("law has linear structure");
    let mut scored: Vec<(f64, Vec<f64>)> = grid
        .par_iter()
        .filter_map(|nl| {
            let natural = varpro_solve(law, obs, weights, nl)?;
            let raw: Vec<f64> = law
                .to_raw(&natural)
                .into_iter()
                .map(|v| if v.is_finite() { v } else { LN_COEF_FLOOR })
                .collect();
            let f = objective_at(law, obs, weights, robust, &raw);
            f.is_finite().then_some((f, raw))
        })
        .collect();
    scored.sort_by(|a, b| a.0.total_cmp(&b.0));
    // keep distinct grid points: skip near-duplicates of already kept ones
    let mut out: Vec<Vec<f64>> = Vec::new();
    for (_, raw) in scored {
        let distinct = out.iter().all(|o| {
            o.iter()
                .zip(&raw)
                .any(|(a, b)| (a - b).abs() > 1e-3 * (1.0 + a.abs()))
        });
        if distinct {
            out.push(raw);
        }
        if out.len() >= keep.max(1) {
            break;
        }
    }
    out
}

/// NNLS coefficients for fixed non-linear parameters, minimising
/// Σ w_i ((L_i − Σ_k c_k φ_k(x_i)) / L_i)², c ≥ 0. Returns natural parameters.
pub fn varpro_solve(
    law: &dyn Law,
    obs: &Observations,
    weights: Option<&[f64]>,
    nonlinear: &[f64],
) -> Option<Vec<f64>> {
    let n = obs.len();
    let probe = law.varpro_assemble(nonlinear, &[0.0; 8]);
    let k = probe.len() - nonlinear.len();
    let mut rows = vec![0.0; n * k];
    let mut phi = vec![0.0; k];
    let mut rhs = vec![0.0; n];
    let mut wts = vec![0.0; n];
    for i in 0..n {
        law.varpro_basis(nonlinear, &obs.covariates(i), &mut phi);
        let l = obs.loss[i];
        for j in 0..k {
            rows[i * k + j] = phi[j] / l;
        }
        rhs[i] = 1.0;
        wts[i] = weights.map_or(1.0, |w| w[i]);
    }
    let coef = nnls_small(&rows, &rhs, &wts, n, k)?;
    Some(law.varpro_assemble(nonlinear, &coef))
}

/// Non-negative weighted least squares for a handful of columns, by solving
/// the unconstrained problem on every subset of columns and keeping the best
/// feasible one (exact for k ≤ 4, which is all the laws need).
pub fn nnls_small(x: &[f64], y: &[f64], w: &[f64], n: usize, k: usize) -> Option<Vec<f64>> {
    assert!(k <= 6, "nnls_small is for a handful of columns");
    // column scales for conditioning
    let mut scale = vec![0.0; k];
    for j in 0..k {
        let s: f64 = (0..n).map(|i| w[i] * x[i * k + j] * x[i * k + j]).sum();
        scale[j] = if s > 0.0 { s.sqrt() } else { 1.0 };
    }
    let mut best: Option<(f64, Vec<f64>)> = None;
    for mask in 1u32..(1 << k) {
        let cols: Vec<usize> = (0..k).filter(|j| mask & (1 << j) != 0).collect();
        let m = cols.len();
        let mut a = vec![0.0; m * m];
        let mut b = vec![0.0; m];
        for i in 0..n {
            if w[i] == 0.0 {
                continue;
            }
            for (p, &cp) in cols.iter().enumerate() {
                let xp = x[i * k + cp] / scale[cp];
                b[p] += w[i] * xp * y[i];
                for (q, &cq) in cols.iter().enumerate() {
                    a[p * m + q] += w[i] * xp * x[i * k + cq] / scale[cq];
                }
            }
        }
        let Some(sol) = solve_spd(&mut a, &mut b, m) else {
            continue;
        };
        if sol.iter().any(|v| *v < 0.0 || !v.is_finite()) {
            continue;
        }
        let mut coef = vec![0.0; k];
        for (p, &cp) in cols.iter().enumerate() {
            coef[cp] = sol[p] / scale[cp];
        }
        let sse: f64 = (0..n)
            .map(|i| {
                let fit: f64 = (0..k).map(|j| x[i * k + j] * coef[j]).sum();
                w[i] * (y[i] - fit).powi(2)
            })
            .sum();
        if best.as_ref().is_none_or(|(s, _)| sse < *s) {
            best = Some((sse, coef));
        }
    }
    best.map(|(_, c)| c)
}

/// Solves a small symmetric positive-definite system by Cholesky.
fn solve_spd(a: &mut [f64], b: &mut [f64], m: usize) -> Option<Vec<f64>> {
    for j in 0..m {
        let mut d = a[j * m + j];
        for p in 0..j {
            d -= a[j * m + p] * a[j * m + p];
        }
        if d <= 1e-14 * a[j * m + j].abs().max(1e-300) || d <= 0.0 {
            return None;
        }
        let d = d.sqrt();
        a[j * m + j] = d;
        for i in j + 1..m {
            let mut s = a[i * m + j];
            for p in 0..j {
                s -= a[i * m + p] * a[j * m + p];
            }
            a[i * m + j] = s / d;
        }
    }
    let mut z = vec![0.0; m];
    for i in 0..m {
        let mut s = b[i];
        for p in 0..i {
            s -= a[i * m + p] * z[p];
        }
        z[i] = s / a[i * m + i];
    }
    for i in (0..m).rev() {
        let mut s = z[i];
        for p in i + 1..m {
            s -= a[p * m + i] * z[p];
        }
        z[i] = s / a[i * m + i];
    }
    Some(z)
}

/// Log residuals `ln L_i − ln L̂_i` at natural parameters.
pub fn log_residuals(law: &dyn Law, params: &[f64], obs: &Observations) -> Vec<f64> {
    (0..obs.len())
        .map(|i| obs.ln_loss[i] - law.predict(params, &obs.covariates(i)).ln())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nnls_clamps_negative_coefficients_to_zero() {
        // y = 2·x0 − 1·x1 exactly; with c ≥ 0 the best has c1 = 0.
        let n = 20;
        let mut x = Vec::new();
        let mut y = Vec::new();
        for i in 0..n {
            let (a, b) = (1.0 + i as f64, (i as f64).sqrt());
            x.extend([a, b]);
            y.push(2.0 * a - b);
        }
        let c = nnls_small(&x, &y, &vec![1.0; n], n, 2).unwrap();
        assert_eq!(c[1], 0.0);
        assert!(c[0] > 0.0);
        // and recovers an interior solution exactly
        let y2: Vec<f64> = (0..n)
            .map(|i| 2.0 * x[2 * i] + 0.5 * x[2 * i + 1])
            .collect();
        let c2 = nnls_small(&x, &y2, &vec![1.0; n], n, 2).unwrap();
        assert!(
            (c2[0] - 2.0).abs() < 1e-10 && (c2[1] - 0.5).abs() < 1e-10,
            "{c2:?}"
        );
    }

    #[test]
    fn centred_variables_map_back_and_keep_curvature_pairs_consistent() {
        let c = [
            crate::laws::Centring {
                coef: 1,
                exponent: 3,
                shift: 20.5,
            },
            crate::laws::Centring {
                coef: 2,
                exponent: 4,
                shift: 23.5,
            },
        ];
        let raw = [0.6, 6.2, 7.7, 0.35, 0.37];
        let mut x = raw;
        raw_to_centred(&c, &mut x);
        assert!((x[1] - (6.2 - 20.5 * 0.35)).abs() < 1e-12, "{x:?}");
        centred_to_raw(&c, &mut x);
        for (a, b) in x.iter().zip(&raw) {
            assert!((a - b).abs() < 1e-12, "{x:?}");
        }
        // s'y is invariant under the change of variables
        let (mut s, mut y) = ([0.1, -0.2, 0.3, 0.01, -0.02], [1.0, 2.0, -3.0, 40.0, 5.0]);
        let sy: f64 = s.iter().zip(&y).map(|(a, b)| a * b).sum();
        raw_to_centred(&c, &mut s);
        grad_to_centred(&c, &mut y);
        let sy2: f64 = s.iter().zip(&y).map(|(a, b)| a * b).sum();
        assert!(
            (sy - sy2).abs() < 1e-12 * sy.abs().max(1.0),
            "{sy} vs {sy2}"
        );
    }

    #[test]
    fn centred_minimisation_reaches_the_uncentred_optimum() {
        use crate::laws::{Chinchilla, Law};
        // noisy Chinchilla data on a grid of N and D
        let (mut n, mut d, mut l) = (vec![], vec![], vec![]);
        let mut k = 0u64;
        for i in 0..12 {
            for j in 0..8 {
                let (nn, dd) = (1e7 * 2f64.powi(i), 2e8 * 2.5f64.powi(j));
                k = k
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let noise = ((k >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 0.02;
                n.push(nn);
                d.push(dd);
                l.push((1.7 + 400.0 / nn.powf(0.34) + 1800.0 / dd.powf(0.28)) * (1.0 + noise));
            }
        }
        let obs = Observations::from_nd(n, d, l).unwrap();
        let robust = Robust::Huber { delta: 1e-3 };
        let opts = LbfgsOptions::default();
        let start = [0.0, 5.0, 5.0, 0.5, 0.5];
        let centred = minimise_from(&Chinchilla, &obs, None, robust, &start, &opts);
        assert!(centred.converged(), "{centred:?}");
        // the optimum of the same problem by variable projection, whose
        // polishing runs also go through minimise_from: compare with plain
        // L-BFGS (no change of variables) from that optimum
        let vp = fit_law(&Chinchilla, &obs, &FitOptions::default()).unwrap();
        let plain = |x: &[f64], g: &mut [f64]| Chinchilla.objective(x, &obs, None, robust, g);
        let uncentred = crate::optim::lbfgs(&plain, &vp.raw, &opts);
        assert!(uncentred.converged());
        assert!(
            (centred.f - uncentred.f).abs() <= 1e-9 * uncentred.f,
            "{} vs {}",
            centred.f,
            uncentred.f
        );
        // the result is in raw parameters: the objective there is the one reported
        let f_at = objective_at(&Chinchilla, &obs, None, robust, &centred.x);
        assert!(
            (f_at - centred.f).abs() <= 1e-12 * centred.f,
            "{f_at} vs {}",
            centred.f
        );
        for (a, b) in centred.x.iter().zip(&uncentred.x) {
            assert!(
                (a - b).abs() < 1e-4 * (1.0 + b.abs()),
                "{:?} vs {:?}",
                centred.x,
                uncentred.x
            );
        }
        assert!(!Chinchilla.centring(&obs).is_empty());
    }
}
