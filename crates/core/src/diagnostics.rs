//! Diagnostics around a fit: can the design identify the law, how well does
//! the fitted law describe the runs, and how well does it extrapolate to runs
//! it has not seen.
//!
//! Everything here is pure arithmetic on [`Observations`] and a fitted law;
//! the CLI and the report turn the results into text and JSON.

use crate::data::Observations;
use crate::fit::{log_residuals, FitResult};
use crate::laws::{Law, Variable};

/// Ratio of largest to smallest value below which a covariate is said to
/// span "less than a decade".
pub const MIN_SPAN: f64 = 10.0;

/// Spread of tokens-per-parameter (max/min) below which N and D are treated
/// as one direction of the design.
pub const MIN_RATIO_SPREAD: f64 = 2.0;

/// How many points per free parameter a design should have at least.
pub const POINTS_PER_PARAM: usize = 3;

/// A reason a design may not identify a law, with a stable code for scripts.
#[derive(Clone, Debug, PartialEq)]
pub struct DesignWarning {
    /// `too_few_points`, `narrow_range_n` (…`_d`, `_c`), `one_ratio`.
    pub code: String,
    pub message: String,
}

fn values(obs: &Observations, v: Variable) -> &[f64] {
    match v {
        Variable::N => &obs.n,
        Variable::D => &obs.d,
        Variable::C => &obs.c,
    }
}

/// Ratio max/min of positive values (1 for an empty slice).
pub fn span(x: &[f64]) -> f64 {
    let lo = x.iter().cloned().fold(f64::INFINITY, f64::min);
    let hi = x.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    if x.is_empty() || lo <= 0.0 {
        1.0
    } else {
        hi / lo
    }
}

/// Reasons the runs in `obs` may not identify `law`: fewer than
/// [`POINTS_PER_PARAM`]× the parameters, less than a decade in a covariate
/// the law uses, or (for laws of N and D) every run at about one
/// tokens-per-parameter ratio, which makes N and D collinear on the log
/// scale so the two terms cannot be told apart.
pub fn design_warnings(law: &dyn Law, obs: &Observations) -> Vec<DesignWarning> {
    let mut out = Vec::new();
    let k = law.n_params();
    if obs.len() < POINTS_PER_PARAM * k {
        out.push(DesignWarning {
            code: "too_few_points".into(),
            message: format!(
                "{} runs for {k} parameters: fewer than {POINTS_PER_PARAM}x the parameters, \
                 so the fit is barely constrained; add runs",
                obs.len()
            ),
        });
    }
    let vars = law.variables();
    for &v in &vars {
        let s = span(values(obs, v));
        if s < MIN_SPAN {
            out.push(DesignWarning {
                code: format!("narrow_range_{}", v.letter()),
                message: format!(
                    "{} spans only a factor of {s:.3} (less than a decade): the exponent of {} \
                     is poorly identified and extrapolation is unreliable",
                    v.symbol(),
                    v.symbol()
                ),
            });
        }
    }
    if vars.contains(&Variable::N) && vars.contains(&Variable::D) {
        let ratios: Vec<f64> = obs.d.iter().zip(&obs.n).map(|(d, n)| d / n).collect();
        let s = span(&ratios);
        if s < MIN_RATIO_SPREAD {
            out.push(DesignWarning {
                code: "one_ratio".into(),
                message: format!(
                    "every run has about the same tokens per parameter (D/N spans a factor of \
                     {s:.3}): N and D move together, so the N and D terms cannot be separated; \
                     vary D/N at fixed compute (an IsoFLOP design)"
                ),
            });
        }
    }
    out
}

/// Summary of log residuals `r = ln L − ln L̂` of a fitted law.
#[derive(Clone, Debug, PartialEq)]
pub struct ResidualSummary {
    pub n: usize,
    /// Root mean square of the log residuals.
    pub rmse: f64,
    /// Mean of the log residuals (bias).
    pub mean: f64,
    pub median_abs: f64,
    pub max_abs: f64,
    /// Index (into the observations) of the largest absolute residual.
    pub worst: usize,
    /// All residuals, in the observations' order.
    pub residuals: Vec<f64>,
}

/// Residual summary of natural parameters `params` on `obs`.
pub fn residual_summary(law: &dyn Law, fit: &FitResult, obs: &Observations) -> ResidualSummary {
    let r = log_residuals(law, &fit.params, obs);
    let n = r.len();
    let mean = r.iter().sum::<f64>() / n.max(1) as f64;
    let rmse = (r.iter().map(|x| x * x).sum::<f64>() / n.max(1) as f64).sqrt();
    let mut abs: Vec<f64> = r.iter().map(|x| x.abs()).collect();
    let worst = abs
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map_or(0, |(i, _)| i);
    let max_abs = abs.get(worst).copied().unwrap_or(0.0);
    abs.sort_by(f64::total_cmp);
    let median_abs = if n == 0 {
        0.0
    } else if n % 2 == 1 {
        abs[n / 2]
    } else {
        0.5 * (abs[n / 2 - 1] + abs[n / 2])
    };
    ResidualSummary {
        n,
        rmse,
        mean,
        median_abs,
        max_abs,
        worst,
        residuals: r,
    }
}

/// Which runs to hold out of the fit to test extrapolation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Holdout {
    /// Runs whose compute C is strictly above this.
    AboveFlops(f64),
    /// The K runs with the largest compute (ties broken by N, then order).
    Largest(usize),
}

impl Holdout {
    /// Indices of (train, test) runs.
    pub fn split(&self, obs: &Observations) -> (Vec<usize>, Vec<usize>) {
        let n = obs.len();
        let mut test = vec![false; n];
        match *self {
            Holdout::AboveFlops(c) => {
                for (i, t) in test.iter_mut().enumerate() {
                    *t = obs.c[i] > c;
                }
            }
            Holdout::Largest(k) => {
                let mut order: Vec<usize> = (0..n).collect();
                let key = |i: usize| (obs.c[i], if obs.n[i].is_nan() { 0.0 } else { obs.n[i] });
                order.sort_by(|&a, &b| {
                    let (ca, na) = key(a);
                    let (cb, nb) = key(b);
                    cb.total_cmp(&ca).then(nb.total_cmp(&na)).then(a.cmp(&b))
                });
                for &i in order.iter().take(k) {
                    test[i] = true;
                }
            }
        }
        let train = (0..n).filter(|&i| !test[i]).collect();
        let held = (0..n).filter(|&i| test[i]).collect();
        (train, held)
    }

    /// A description for reports.
    pub fn describe(&self) -> String {
        match self {
            Holdout::AboveFlops(c) => format!("runs with compute above {c:.4e} FLOPs"),
            Holdout::Largest(k) => format!("the {k} runs with the largest compute"),
        }
    }
}

/// One held-out run's prediction.
#[derive(Clone, Debug, PartialEq)]
pub struct HeldOutPoint {
    /// Index into the full observations.
    pub index: usize,
    pub loss: f64,
    pub predicted: f64,
    /// (predicted − actual) / actual.
    pub rel_error: f64,
}

/// Predictions of a law fitted without the held-out runs.
#[derive(Clone, Debug, PartialEq)]
pub struct HoldoutReport {
    pub points: Vec<HeldOutPoint>,
    pub mean_abs_rel_error: f64,
    pub max_abs_rel_error: f64,
    /// Mean signed relative error: positive means the law over-predicts the
    /// loss of larger runs (it is pessimistic).
    pub mean_rel_error: f64,
}

/// Evaluates natural parameters `params` on the runs `test` of `obs`.
pub fn holdout_report(
    law: &dyn Law,
    params: &[f64],
    obs: &Observations,
    test: &[usize],
) -> HoldoutReport {
    let points: Vec<HeldOutPoint> = test
        .iter()
        .map(|&i| {
            let predicted = law.predict(params, &obs.covariates(i));
            let loss = obs.loss[i];
            HeldOutPoint {
                index: i,
                loss,
                predicted,
                rel_error: (predicted - loss) / loss,
            }
        })
        .collect();
    let m = points.len().max(1) as f64;
    HoldoutReport {
        mean_abs_rel_error: points.iter().map(|p| p.rel_error.abs()).sum::<f64>() / m,
        max_abs_rel_error: points.iter().map(|p| p.rel_error.abs()).fold(0.0, f64::max),
        mean_rel_error: points.iter().map(|p| p.rel_error).sum::<f64>() / m,
        points,
    }
}

/// Warnings about a fit's result itself: an optimiser that did not
/// converge, a grid search whose best objective was reached by a single
/// start, or a term of the law that vanished (coefficient at zero).
pub fn fit_warnings(fit: &FitResult) -> Vec<String> {
    let mut out = Vec::new();
    if !fit.converged {
        out.push(format!(
            "the optimiser did not converge at the best start ({:?} after {} iterations); \
             treat the parameters with care",
            fit.termination, fit.iterations
        ));
    }
    if fit.starts > 1 && fit.starts_at_best == 1 && fit.method == crate::fit::Method::Grid {
        out.push(format!(
            "only 1 of {} starts reached the best objective: the optimum may depend on the \
             start grid; try --method varpro",
            fit.starts
        ));
    }
    for (name, value) in fit.param_names.iter().zip(&fit.params) {
        let coefficient = name.starts_with(|c: char| c.is_ascii_uppercase());
        if coefficient && *value < 1e-10 {
            out.push(format!(
                "{name} = {value:e}: that term vanished from the fit; the data do not \
                 support it (or need a different law)"
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::laws::{Chinchilla, PowerLaw};

    fn obs(n: &[f64], d: &[f64]) -> Observations {
        let loss = vec![3.0; n.len()];
        Observations::from_nd(n.to_vec(), d.to_vec(), loss).unwrap()
    }

    #[test]
    fn one_ratio_and_narrow_range_are_flagged() {
        let n: Vec<f64> = (0..20).map(|i| 1e6 * 1.5f64.powi(i)).collect();
        let d: Vec<f64> = n.iter().map(|n| 20.0 * n).collect();
        let w = design_warnings(&Chinchilla, &obs(&n, &d));
        let codes: Vec<&str> = w.iter().map(|w| w.code.as_str()).collect();
        assert_eq!(codes, vec!["one_ratio"], "{w:?}");

        let n2: Vec<f64> = (0..20).map(|i| 1e6 * (1.0 + 0.1 * i as f64)).collect();
        let d2: Vec<f64> = (0..20).map(|i| 1e8 * 1.7f64.powi(i % 7)).collect();
        let w = design_warnings(&Chinchilla, &obs(&n2, &d2));
        assert!(w.iter().any(|w| w.code == "narrow_range_n"), "{w:?}");
        assert!(!w.iter().any(|w| w.code == "narrow_range_d"), "{w:?}");

        let w = design_warnings(&PowerLaw::new(Variable::N), &obs(&n[..5], &d[..5]));
        assert!(w.iter().any(|w| w.code == "too_few_points"), "{w:?}");
    }

    #[test]
    fn holdout_largest_takes_the_top_compute() {
        let o = obs(&[1e6, 4e6, 2e6, 8e6], &[1e8, 1e8, 1e9, 1e8]);
        let (train, test) = Holdout::Largest(2).split(&o);
        // C: 6e14, 2.4e15, 1.2e16, 4.8e15 -> largest two are 2 and 3
        assert_eq!(test, vec![2, 3]);
        assert_eq!(train, vec![0, 1]);
        let (train, test) = Holdout::AboveFlops(1e15).split(&o);
        assert_eq!(test, vec![1, 2, 3]);
        assert_eq!(train, vec![0]);
    }
}
