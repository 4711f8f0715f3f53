//! Bootstrap uncertainty: resample runs with replacement, refit, and
//! summarise the spread of every parameter and derived quantity.
//!
//! Resample `i` draws its run indices from a ChaCha8 stream keyed by
//! `(seed, i)`, so the draws — and therefore the result — are the same
//! whatever the number of threads and whatever order the resamples run in.
//! A resample is represented as integer weights (multiplicities) on the
//! distinct runs it contains, which is exact and skips the ~37% of runs a
//! resample leaves out.

use crate::data::Observations;
use crate::fit::{minimise_from, minimise_from_with_memory, FitResult};
use crate::laws::Law;
use crate::optim::LbfgsOptions;
use crate::robust::Robust;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

/// Settings of a bootstrap.
#[derive(Clone, Debug, PartialEq)]
pub struct BootstrapOptions {
    pub resamples: usize,
    pub seed: u64,
    pub robust: Robust,
    pub lbfgs: LbfgsOptions,
    /// Extra raw starting points tried in every resample besides the
    /// full-data optimum (the best of all starts is kept).
    pub extra_starts: Vec<Vec<f64>>,
}

/// Spread of one quantity over the resamples.
#[derive(Clone, Debug, PartialEq)]
pub struct Spread {
    pub name: String,
    /// Standard deviation over resamples (n − 1 denominator).
    pub se: f64,
    /// 2.5% and 97.5% percentiles (linear interpolation between order
    /// statistics, as numpy's default).
    pub ci95: [f64; 2],
    pub median: f64,
}

/// Result of a bootstrap.
#[derive(Clone, Debug, PartialEq)]
pub struct BootstrapResult {
    pub resamples: usize,
    pub seed: u64,
    /// Natural parameters of every resample's fit, in the law's order.
    pub draws: Vec<Vec<f64>>,
    /// Spread of each natural parameter, then of each derived quantity.
    pub params: Vec<Spread>,
    pub derived: Vec<Spread>,
    /// Resamples whose optimiser did not converge (still included).
    pub not_converged: usize,
    /// Resamples that landed on a degenerate solution (see
    /// [`is_degenerate`]): left out of the standard errors, kept in the
    /// percentile intervals.
    pub degenerate: usize,
}

/// How far (a factor) a coefficient of a resample may move from the
/// full-data fit before the resample counts as degenerate.
pub const DEGENERATE_FACTOR: f64 = 1e3;

/// Whether a resample's natural parameters are a degenerate solution rather
/// than a perturbation of the full-data fit `full`: a parameter that is not
/// finite, an irreducible loss `E` collapsed below 1/[`DEGENERATE_FACTOR`]
/// of the fit's, a coefficient (`A`, `B`, `N_c`, `D_c`) more than
/// [`DEGENERATE_FACTOR`] times larger or smaller than the fit's, or an
/// exponent (`alpha`, `beta`, `alpha_N`, `alpha_D`) at or below 0 or above
/// 10. Such draws are what a weakly identified law produces when a
/// resample lets one term absorb another (E → 0 with A or B exploding); one
/// of them can dominate a standard deviation.
pub fn is_degenerate(names: &[&str], draw: &[f64], full: &[f64]) -> bool {
    names.iter().zip(draw).zip(full).any(|((name, &v), &f)| {
        if !v.is_finite() {
            return true;
        }
        match *name {
            "E" => f > 0.0 && v < f / DEGENERATE_FACTOR,
            "A" | "B" | "N_c" | "D_c" => {
                f > 0.0 && !(v > f / DEGENERATE_FACTOR && v < f * DEGENERATE_FACTOR)
            }
            "alpha" | "beta" | "alpha_N" | "alpha_D" => !(v > 0.0 && v <= 10.0),
            _ => false,
        }
    })
}

/// The weights (multiplicities) of resample `index`.
pub fn resample_weights(n: usize, seed: u64, index: u64) -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(index);
    let mut w = vec![0.0; n];
    for _ in 0..n {
        w[rng.gen_range(0..n)] += 1.0;
    }
    w
}

/// Percentile with linear interpolation between order statistics (numpy's
/// default method) of sorted values.
pub fn percentile_sorted(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q / 100.0 * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// The one "compute a quantity at every bootstrap draw, then take its 95%
/// percentile interval" helper: `f` is evaluated at every draw (a draw where
/// it gives `None`, or a non-finite value, is left out) and the 2.5th and
/// 97.5th percentiles are taken (linear interpolation, numpy's default).
/// `None` when fewer than two draws give a finite value.
pub fn interval_over<T>(draws: &[T], f: impl Fn(&T) -> Option<f64>) -> Option<[f64; 2]> {
    let values: Vec<f64> = draws.iter().filter_map(f).collect();
    crate::plan::percentile_ci95(&values)
}

/// [`interval_over`] for `K` quantities computed together at each draw (a
/// draw where `f` gives `None` is left out of all `K`).
pub fn intervals_over<T, const K: usize>(
    draws: &[T],
    f: impl Fn(&T) -> Option<[f64; K]>,
) -> Option<[[f64; 2]; K]> {
    let values: Vec<[f64; K]> = draws.iter().filter_map(f).collect();
    let mut out = [[0.0; 2]; K];
    for (k, slot) in out.iter_mut().enumerate() {
        let column: Vec<f64> = values.iter().map(|v| v[k]).collect();
        *slot = crate::plan::percentile_ci95(&column)?;
    }
    Some(out)
}

/// Standard error, 95% interval and median of a sample.
pub fn spread(name: &str, values: &[f64]) -> Spread {
    spread_keeping(name, values, &vec![true; values.len()])
}

/// [`spread`] whose standard error is taken over the values marked `keep`
/// only (the non-degenerate draws); the interval and median use them all.
pub fn spread_keeping(name: &str, values: &[f64], keep: &[bool]) -> Spread {
    let kept: Vec<f64> = values
        .iter()
        .zip(keep)
        .filter(|(_, &k)| k)
        .map(|(v, _)| *v)
        .collect();
    let n = kept.len() as f64;
    let mean = kept.iter().sum::<f64>() / n;
    let var = kept.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    Spread {
        name: name.to_string(),
        se: var.sqrt(),
        ci95: [
            percentile_sorted(&sorted, 2.5),
            percentile_sorted(&sorted, 97.5),
        ],
        median: percentile_sorted(&sorted, 50.0),
    }
}

/// Curvature of the full-data objective at its optimum `x`: one correction
/// pair per parameter, s = 2h_k e_k and y = ∇f(x + h_k e_k) − ∇f(x − h_k e_k)
/// with h_k = `rel_step` · (1 + |x_k|) (central differences of the gradient;
/// the result hardly depends on the step between 1e-6 and 1e-1).
pub fn full_data_curvature(
    law: &dyn Law,
    obs: &Observations,
    robust: Robust,
    x: &[f64],
    rel_step: f64,
) -> Vec<crate::optim::CorrectionPair> {
    let k = x.len();
    let mut gp = vec![0.0; k];
    let mut gm = vec![0.0; k];
    (0..k)
        .map(|i| {
            let h = rel_step * (1.0 + x[i].abs());
            let mut xp = x.to_vec();
            let mut xm = x.to_vec();
            xp[i] += h;
            xm[i] -= h;
            law.objective(&xp, obs, None, robust, &mut gp);
            law.objective(&xm, obs, None, robust, &mut gm);
            let mut s = vec![0.0; k];
            s[i] = xp[i] - xm[i];
            let y = gp.iter().zip(&gm).map(|(a, b)| a - b).collect();
            (s, y)
        })
        .collect()
}

/// Runs the bootstrap around a full-data fit. `progress` is called once per
/// finished resample (from worker threads).
pub fn bootstrap(
    law: &dyn Law,
    obs: &Observations,
    fit: &FitResult,
    opts: &BootstrapOptions,
    progress: &(dyn Fn() + Sync),
) -> BootstrapResult {
    let n = obs.len();
    // Every refit starts at the full-data optimum with the full-data
    // curvature in its L-BFGS memory, so its first step is already a
    // quasi-Newton step (a quarter fewer evaluations than from an empty
    // memory; each refit still runs to its own convergence).
    let memory = full_data_curvature(law, obs, opts.robust, &fit.raw, 1e-3);
    let fits: Vec<(Vec<f64>, bool)> = (0..opts.resamples as u64)
        .into_par_iter()
        .map(|i| {
            let w = resample_weights(n, opts.seed, i);
            let idx: Vec<usize> = (0..n).filter(|&j| w[j] > 0.0).collect();
            let sub = obs.select(&idx);
            let sw: Vec<f64> = idx.iter().map(|&j| w[j]).collect();
            let mut best = minimise_from_with_memory(
                law,
                &sub,
                Some(&sw),
                opts.robust,
                &fit.raw,
                &opts.lbfgs,
                &memory,
            );
            for s in &opts.extra_starts {
                let m = minimise_from(law, &sub, Some(&sw), opts.robust, s, &opts.lbfgs);
                if m.f < best.f {
                    best = m;
                }
            }
            progress();
            (law.to_natural(&best.x), best.converged())
        })
        .collect();
    let names = law.param_names();
    let draws: Vec<Vec<f64>> = fits.iter().map(|f| f.0.clone()).collect();
    let keep: Vec<bool> = draws
        .iter()
        .map(|d| !is_degenerate(&names, d, &fit.params))
        .collect();
    let params = names
        .iter()
        .enumerate()
        .map(|(k, name)| {
            spread_keeping(name, &draws.iter().map(|d| d[k]).collect::<Vec<_>>(), &keep)
        })
        .collect();
    let derived_draws: Vec<Vec<(&'static str, f64)>> =
        draws.iter().map(|d| law.derived(d)).collect();
    let derived = law
        .derived(&fit.params)
        .iter()
        .enumerate()
        .map(|(k, (name, _))| {
            spread_keeping(
                name,
                &derived_draws.iter().map(|d| d[k].1).collect::<Vec<_>>(),
                &keep,
            )
        })
        .collect();
    BootstrapResult {
        resamples: opts.resamples,
        seed: opts.seed,
        draws,
        params,
        derived,
        not_converged: fits.iter().filter(|f| !f.1).count(),
        degenerate: keep.iter().filter(|k| !**k).count(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resamples_are_reproducible_and_sum_to_n() {
        let a = resample_weights(50, 7, 3);
        let b = resample_weights(50, 7, 3);
        let c = resample_weights(50, 7, 4);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.iter().sum::<f64>(), 50.0);
    }

    #[test]
    fn intervals_over_draws_leave_out_failed_draws() {
        let draws: Vec<f64> = (1..=10).map(f64::from).collect();
        let one = interval_over(&draws, |d| (*d != 5.0).then_some(*d)).unwrap();
        let mut kept: Vec<f64> = draws.iter().copied().filter(|d| *d != 5.0).collect();
        kept.sort_by(f64::total_cmp);
        assert_eq!(one, crate::plan::percentile_ci95(&kept).unwrap());
        let two = intervals_over(&draws, |d| Some([*d, 2.0 * d])).unwrap();
        assert!((two[0][0] - 1.225).abs() < 1e-12 && (two[1][1] - 2.0 * 9.775).abs() < 1e-12);
        assert!(interval_over(&draws, |_| None).is_none());
    }

    #[test]
    fn percentiles_match_numpy_linear() {
        let v: Vec<f64> = (1..=10).map(f64::from).collect();
        // numpy.percentile(range(1, 11), [2.5, 50, 97.5]) = 1.225, 5.5, 9.775
        assert!((percentile_sorted(&v, 2.5) - 1.225).abs() < 1e-12);
        assert!((percentile_sorted(&v, 50.0) - 5.5).abs() < 1e-12);
        assert!((percentile_sorted(&v, 97.5) - 9.775).abs() < 1e-12);
        let s = spread("x", &v);
        assert!((s.se - 3.0276503540974917).abs() < 1e-12);
    }

    #[test]
    fn degenerate_draws_are_counted_and_left_out_of_the_standard_error() {
        let names = ["E", "A", "B", "alpha", "beta"];
        let full = [1.7, 400.0, 410.0, 0.34, 0.28];
        assert!(!is_degenerate(&names, &full, &full));
        assert!(!is_degenerate(
            &names,
            &[1.5, 900.0, 300.0, 0.4, 0.3],
            &full
        ));
        for bad in [
            [1e-15, 400.0, 410.0, 0.34, 0.28],
            [1.7, 4e6, 410.0, 0.34, 0.28],
            [1.7, 400.0, 0.1, 0.34, 0.28],
            [1.7, 400.0, 410.0, -0.1, 0.28],
            [1.7, 400.0, 410.0, 0.34, f64::NAN],
        ] {
            assert!(is_degenerate(&names, &bad, &full), "{bad:?}");
        }
        // one wild value dominates the standard deviation, not the robust
        // standard error of the kept values
        let mut v: Vec<f64> = (0..99).map(|i| 400.0 + f64::from(i)).collect();
        v.push(4e7);
        let mut keep = vec![true; 100];
        keep[99] = false;
        let all = spread("A", &v);
        let kept = spread_keeping("A", &v, &keep);
        assert!(all.se > 1e6);
        assert!(kept.se < 30.0 && kept.se > 20.0, "{}", kept.se);
        // the interval still uses every draw
        assert_eq!(all.ci95, kept.ci95);
    }
}
