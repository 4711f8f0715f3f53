//! Intervals for a predicted loss: a **confidence interval** for the law
//! (where the mean curve is, given the runs: the spread of the bootstrap
//! laws' predictions) and a **prediction interval** for a run (where one
//! more run's measured loss will fall: the law's uncertainty plus the runs'
//! own scatter about the law).
//!
//! The scatter σ is a robust standard deviation of the fit's log residuals
//! `r = ln L − ln L̂`: 1.4826 · MAD (median absolute deviation from the
//! median), which equals σ for normal residuals and ignores a few outlying
//! runs, scaled by √(n / (n − k)) for the k parameters the fit spent on the
//! same runs.
//!
//! The prediction interval combines the two on the log scale, side by side
//! in quadrature: with `ĺ = ln L̂`, `[c₋, c₊]` the confidence interval's logs
//! and z = 1.96,
//!
//! ```text
//! ln PI₋ = ĺ − √((ĺ − c₋)² + (zσ)²),   ln PI₊ = ĺ + √((c₊ − ĺ)² + (zσ)²)
//! ```
//!
//! which keeps the confidence interval's asymmetry and always contains it.
//! Without bootstrap draws there is no confidence interval and the
//! prediction interval is `L̂ · exp(±zσ)` (the law's own uncertainty left
//! out, so it is too narrow far from the runs).

use crate::bootstrap::interval_over;
use crate::data::Covariates;
use crate::laws::Law;

/// The two-sided 95% normal quantile.
pub const Z95: f64 = 1.959_963_984_540_054;

/// 1/Φ⁻¹(3/4): scales a median absolute deviation to a standard deviation.
pub const MAD_TO_SD: f64 = 1.482_602_218_505_602;

/// The runs' scatter about the law: 1.4826 · MAD of the log residuals,
/// times √(n / (n − k)) for `n_params` = k fitted parameters. NaN for fewer
/// than `k + 1` residuals.
pub fn scatter(residuals: &[f64], n_params: usize) -> f64 {
    let r: Vec<f64> = residuals
        .iter()
        .copied()
        .filter(|x| x.is_finite())
        .collect();
    let n = r.len();
    if n <= n_params || n == 0 {
        return f64::NAN;
    }
    let med = median(&r);
    let dev: Vec<f64> = r.iter().map(|x| (x - med).abs()).collect();
    MAD_TO_SD * median(&dev) * (n as f64 / (n - n_params) as f64).sqrt()
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        0.5 * (s[n / 2 - 1] + s[n / 2])
    }
}

/// The 95% prediction interval of a run whose predicted loss is `loss`,
/// from the law's confidence interval `ci` (if any) and the scatter σ (see
/// the module documentation). NaN bounds when σ is not a number.
pub fn prediction_interval(loss: f64, ci: Option<[f64; 2]>, sigma: f64) -> [f64; 2] {
    let l = loss.ln();
    let noise = (Z95 * sigma).powi(2);
    let (lo, hi) = match ci {
        Some([a, b]) if a > 0.0 && b > 0.0 => ((l - a.ln()).powi(2), (b.ln() - l).powi(2)),
        _ => (0.0, 0.0),
    };
    [
        (l - (lo + noise).sqrt()).exp(),
        (l + (hi + noise).sqrt()).exp(),
    ]
}

/// A predicted loss with its two intervals.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PredictedLoss {
    /// The fitted law's prediction.
    pub loss: f64,
    /// 95% confidence interval of the law's prediction (bootstrap
    /// percentiles); `None` without bootstrap draws.
    pub ci95: Option<[f64; 2]>,
    /// 95% prediction interval of one run's measured loss.
    pub pi95: [f64; 2],
}

/// The prediction and both intervals at each point: `params` are the
/// fitted natural parameters, `draws` the bootstrap's (may be empty),
/// `sigma` the scatter ([`scatter`]).
pub fn predict_with_intervals(
    law: &dyn Law,
    params: &[f64],
    draws: &[Vec<f64>],
    sigma: f64,
    points: &[Covariates],
) -> Vec<PredictedLoss> {
    points
        .iter()
        .map(|x| {
            let loss = law.predict(params, x);
            let ci95 = if draws.is_empty() {
                None
            } else {
                interval_over(draws, |d| Some(law.predict(d, x)))
            };
            PredictedLoss {
                loss,
                ci95,
                pi95: prediction_interval(loss, ci95, sigma),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bootstrap::{bootstrap, BootstrapOptions};
    use crate::data::Observations;
    use crate::fit::{fit_law, log_residuals, FitOptions};
    use crate::laws::{PowerLaw, Variable};
    use crate::robust::Robust;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn normal(rng: &mut ChaCha8Rng) -> f64 {
        // Box–Muller
        let u: f64 = rng.gen_range(1e-12..1.0);
        let v: f64 = rng.gen_range(0.0..1.0);
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }

    #[test]
    fn scatter_is_sigma_for_normal_residuals_and_ignores_outliers() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut r: Vec<f64> = (0..4000).map(|_| 0.02 * normal(&mut rng)).collect();
        let s = scatter(&r, 0);
        assert!((s / 0.02 - 1.0).abs() < 0.05, "{s}");
        for x in r.iter_mut().take(40) {
            *x = 5.0;
        }
        let s2 = scatter(&r, 0);
        assert!((s2 / 0.02 - 1.0).abs() < 0.07, "{s2}");
        assert!(scatter(&[0.1, 0.2], 2).is_nan());
    }

    #[test]
    fn the_prediction_interval_contains_the_confidence_interval() {
        for ci in [Some([2.9, 3.2]), Some([3.05, 3.2]), Some([2.7, 2.95]), None] {
            let pi = prediction_interval(3.0, ci, 0.01);
            assert!(pi[0] < 3.0 && pi[1] > 3.0, "{pi:?}");
            if let Some(c) = ci {
                assert!(pi[0] <= c[0] && pi[1] >= c[1], "{pi:?} vs {c:?}");
            }
        }
        let pi = prediction_interval(3.0, None, 0.01);
        assert!((pi[1] / 3.0 - (Z95 * 0.01).exp()).abs() < 1e-12);
    }

    /// Simulated studies from a known law with log-normal scatter: the
    /// fraction of new runs (inside the fitted range) whose loss falls in
    /// their 95% prediction interval is about 95%; the confidence interval
    /// alone covers far fewer.
    #[test]
    fn prediction_intervals_cover_about_95_percent_of_new_runs() {
        let law = PowerLaw::new(Variable::C);
        let truth = [1.7, 60.0, 0.09];
        let sigma = 0.02;
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let (mut inside_pi, mut inside_ci, mut total) = (0usize, 0usize, 0usize);
        for study in 0..30u64 {
            let c: Vec<f64> = (0..24).map(|i| 1e17 * 10f64.powf(i as f64 / 6.0)).collect();
            let loss: Vec<f64> = c
                .iter()
                .map(|&c| {
                    law.predict(
                        &truth,
                        &Covariates {
                            n: 1.0,
                            d: 1.0,
                            c,
                            u: f64::NAN,
                        },
                    ) * (sigma * normal(&mut rng)).exp()
                })
                .collect();
            let obs = Observations::new(vec![1.0; 24], vec![1.0; 24], c.clone(), loss).unwrap();
            let opts = FitOptions {
                robust: Robust::LeastSquares,
                ..Default::default()
            };
            let fit = fit_law(&law, &obs, &opts).unwrap();
            let boot = bootstrap(
                &law,
                &obs,
                &fit,
                &BootstrapOptions {
                    resamples: 60,
                    seed: study,
                    robust: Robust::LeastSquares,
                    lbfgs: opts.lbfgs,
                    extra_starts: vec![],
                },
                &|| {},
            );
            let s = scatter(&log_residuals(&law, &fit.params, &obs), 3);
            let new: Vec<Covariates> = (0..20)
                .map(|_| Covariates {
                    n: 1.0,
                    d: 1.0,
                    c: 1e17 * 10f64.powf(rng.gen_range(0.0..3.8)),
                    u: f64::NAN,
                })
                .collect();
            let pred = predict_with_intervals(&law, &fit.params, &boot.draws, s, &new);
            for (x, p) in new.iter().zip(&pred) {
                let actual = law.predict(&truth, x) * (sigma * normal(&mut rng)).exp();
                total += 1;
                inside_pi += (p.pi95[0] <= actual && actual <= p.pi95[1]) as usize;
                let ci = p.ci95.unwrap();
                inside_ci += (ci[0] <= actual && actual <= ci[1]) as usize;
            }
        }
        let cover = inside_pi as f64 / total as f64;
        let cover_ci = inside_ci as f64 / total as f64;
        assert!((0.91..=0.985).contains(&cover), "PI coverage {cover}");
        assert!(cover_ci < 0.7, "CI coverage {cover_ci}");
    }
}
