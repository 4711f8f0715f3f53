//! Rollout backtest: how the error of a fitted law grows with the distance
//! it extrapolates.
//!
//! Runs are grouped into compute budgets (ascending). For every cut k — a
//! budget with enough runs at or below it to fit the law, and runs above
//! it — the law is refitted on the runs at or below budget k with the same
//! options, and every run above is predicted. Each held-out run records its
//! relative error (predicted / actual − 1) and its extrapolation distance,
//! log10 of its compute over the largest compute at or below the cut.
//! Errors are summarised per cut and per distance bin
//! ([`DISTANCE_BIN`] decades wide), and each held-out run says whether its
//! measured loss fell inside its 95% prediction interval (see
//! [`crate::intervals`]; the cut's own bootstrap gives the law's part when
//! `bootstrap > 0`).

use crate::bootstrap::{bootstrap, BootstrapOptions};
use crate::data::Observations;
use crate::fit::{fit_law, log_residuals, FitOptions};
use crate::intervals::{predict_with_intervals, scatter};
use crate::isoflop::group_values;
use crate::laws::{Law, Variable};

/// Width of a distance bin, in decades of compute.
pub const DISTANCE_BIN: f64 = 0.25;

/// Settings of a rollout.
#[derive(Clone, Debug, PartialEq)]
pub struct RolloutOptions {
    /// The fit's options, used for every cut.
    pub fit: FitOptions,
    /// Budgets whose keys agree to this relative tolerance are one budget.
    pub rel_tol: f64,
    /// Bootstrap resamples per cut for the law's part of the prediction
    /// interval (0: the interval is the runs' scatter alone).
    pub bootstrap: usize,
    pub seed: u64,
}

/// One held-out run of one cut.
#[derive(Clone, Debug, PartialEq)]
pub struct RolloutPoint {
    /// Index of the cut in [`Rollout::cuts`].
    pub cut: usize,
    /// Index into the observations.
    pub index: usize,
    pub loss: f64,
    pub predicted: f64,
    /// predicted / actual − 1.
    pub rel_error: f64,
    /// log10(C / largest C at or below the cut).
    pub distance_decades: f64,
    /// 95% confidence interval of the cut's law (bootstrap), if any.
    pub ci95: Option<[f64; 2]>,
    /// 95% prediction interval of the run.
    pub pi95: [f64; 2],
    /// Whether the measured loss lies in `pi95`.
    pub inside_pi95: bool,
}

/// One cut: the law fitted on budgets 0..=`budget`.
#[derive(Clone, Debug, PartialEq)]
pub struct RolloutCut {
    /// Index of the last budget fitted.
    pub budget: usize,
    /// That budget's value (its median run's key).
    pub budget_flops: f64,
    /// Largest compute C at or below the cut.
    pub max_train_flops: f64,
    pub n_train: usize,
    pub n_held_out: usize,
    /// The fit's natural parameters (empty when it failed).
    pub params: Vec<f64>,
    /// The scatter σ of the cut's fit (log residuals).
    pub scatter: f64,
    pub mean_abs_rel_error: f64,
    pub max_abs_rel_error: f64,
    pub mean_rel_error: f64,
    /// Held-out runs inside their 95% prediction interval.
    pub inside_pi95: usize,
    /// Why the fit failed (then no points).
    pub failed: Option<String>,
}

/// Errors of the held-out runs whose distance falls in `[lo, hi)`.
#[derive(Clone, Debug, PartialEq)]
pub struct DistanceBin {
    pub lo: f64,
    pub hi: f64,
    pub n: usize,
    pub mean_abs_rel_error: f64,
    pub max_abs_rel_error: f64,
    pub mean_rel_error: f64,
    pub inside_pi95: usize,
}

/// The result of a rollout backtest.
#[derive(Clone, Debug, PartialEq)]
pub struct Rollout {
    /// The budgets (ascending) and how many runs each holds.
    pub budgets: Vec<(f64, usize)>,
    pub cuts: Vec<RolloutCut>,
    pub points: Vec<RolloutPoint>,
    pub bins: Vec<DistanceBin>,
}

impl Rollout {
    /// Held-out runs inside their prediction interval, and all held-out runs.
    pub fn coverage(&self) -> (usize, usize) {
        (
            self.points.iter().filter(|p| p.inside_pi95).count(),
            self.points.len(),
        )
    }
}

/// Why no rollout could be made.
#[derive(Clone, Debug, PartialEq)]
pub enum RolloutError {
    /// A budget key or a compute value is not a positive number.
    BadKey { index: usize, value: f64 },
    /// No cut leaves enough runs to fit and runs to predict.
    NoCut {
        budgets: usize,
        runs: usize,
        needed: usize,
    },
}

impl std::fmt::Display for RolloutError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RolloutError::BadKey { index, value } => write!(
                f,
                "run {index}: compute {value} is not a positive number; a rollout needs the \
                 compute of every run"
            ),
            RolloutError::NoCut {
                budgets,
                runs,
                needed,
            } => write!(
                f,
                "no cut of the {budgets} compute budgets ({runs} runs) leaves {needed} runs to fit \
                 (and the budgets the law needs) with runs above to predict"
            ),
        }
    }
}

impl std::error::Error for RolloutError {}

/// Whether a cut needs at least two budgets to fit: laws of C, or of both
/// N and D (one budget cannot separate a compute trend from the allocation).
pub fn needs_two_budgets(law: &dyn Law) -> bool {
    let v = law.variables();
    v.contains(&Variable::C) || (v.contains(&Variable::N) && v.contains(&Variable::D))
}

fn summary(errors: &[f64]) -> (f64, f64, f64) {
    let m = errors.len().max(1) as f64;
    (
        errors.iter().map(|e| e.abs()).sum::<f64>() / m,
        errors.iter().map(|e| e.abs()).fold(0.0, f64::max),
        errors.iter().sum::<f64>() / m,
    )
}

/// Runs the rollout. `keys` are the values runs are grouped by (a design's
/// budgets, or the compute C), one per observation; distances use `obs.c`.
/// `progress` is called once per cut.
pub fn rollout(
    law: &dyn Law,
    obs: &Observations,
    keys: &[f64],
    opts: &RolloutOptions,
    progress: &(dyn Fn() + Sync),
) -> Result<Rollout, RolloutError> {
    let bad = keys
        .iter()
        .zip(&obs.c)
        .enumerate()
        .find_map(|(i, (&k, &c))| {
            [k, c]
                .into_iter()
                .find(|v| !(v.is_finite() && *v > 0.0))
                .map(|value| (i, value))
        });
    if let Some((index, value)) = bad {
        return Err(RolloutError::BadKey { index, value });
    }
    let groups = group_values(keys, opts.rel_tol);
    let needed = law.n_params() + 1;
    let min_budgets = if needs_two_budgets(law) { 2 } else { 1 };
    let mut cut_budgets = Vec::new();
    let mut n_below = 0;
    for (b, (_, members)) in groups.iter().enumerate() {
        n_below += members.len();
        if b + 1 >= min_budgets && n_below >= needed && b + 1 < groups.len() {
            cut_budgets.push(b);
        }
    }
    if cut_budgets.is_empty() {
        return Err(RolloutError::NoCut {
            budgets: groups.len(),
            runs: obs.len(),
            needed,
        });
    }
    let mut cuts = Vec::new();
    let mut points = Vec::new();
    for &b in &cut_budgets {
        let train: Vec<usize> = groups[..=b].iter().flat_map(|g| g.1.clone()).collect();
        let test: Vec<usize> = groups[b + 1..].iter().flat_map(|g| g.1.clone()).collect();
        let max_c = train.iter().map(|&i| obs.c[i]).fold(0.0, f64::max);
        let sub = obs.select(&train);
        let mut cut = RolloutCut {
            budget: b,
            budget_flops: groups[b].0,
            max_train_flops: max_c,
            n_train: train.len(),
            n_held_out: test.len(),
            params: Vec::new(),
            scatter: f64::NAN,
            mean_abs_rel_error: f64::NAN,
            max_abs_rel_error: f64::NAN,
            mean_rel_error: f64::NAN,
            inside_pi95: 0,
            failed: None,
        };
        match fit_law(law, &sub, &opts.fit) {
            Err(e) => cut.failed = Some(e.to_string()),
            Ok(fit) => {
                let sigma = scatter(&log_residuals(law, &fit.params, &sub), law.n_params());
                let draws = if opts.bootstrap > 0 {
                    let bopts = BootstrapOptions {
                        resamples: opts.bootstrap,
                        seed: opts.seed,
                        robust: opts.fit.robust,
                        lbfgs: opts.fit.lbfgs,
                        extra_starts: vec![],
                    };
                    bootstrap(law, &sub, &fit, &bopts, &|| {}).draws
                } else {
                    Vec::new()
                };
                let xs: Vec<_> = test.iter().map(|&i| obs.covariates(i)).collect();
                let pred = predict_with_intervals(law, &fit.params, &draws, sigma, &xs);
                let ci = cuts.len();
                let mut errors = Vec::with_capacity(test.len());
                for (&i, p) in test.iter().zip(&pred) {
                    let loss = obs.loss[i];
                    let rel_error = p.loss / loss - 1.0;
                    let inside = p.pi95[0] <= loss && loss <= p.pi95[1];
                    errors.push(rel_error);
                    cut.inside_pi95 += inside as usize;
                    points.push(RolloutPoint {
                        cut: ci,
                        index: i,
                        loss,
                        predicted: p.loss,
                        rel_error,
                        distance_decades: (obs.c[i] / max_c).log10(),
                        ci95: p.ci95,
                        pi95: p.pi95,
                        inside_pi95: inside,
                    });
                }
                let (mean_abs, max_abs, mean) = summary(&errors);
                cut.mean_abs_rel_error = mean_abs;
                cut.max_abs_rel_error = max_abs;
                cut.mean_rel_error = mean;
                cut.scatter = sigma;
                cut.params = fit.params;
            }
        }
        cuts.push(cut);
        progress();
    }
    let bins = distance_bins(&points);
    Ok(Rollout {
        budgets: groups.iter().map(|(v, m)| (*v, m.len())).collect(),
        cuts,
        points,
        bins,
    })
}

/// Held-out runs binned by distance ([`DISTANCE_BIN`] decades), bins with
/// runs only, ascending.
pub fn distance_bins(points: &[RolloutPoint]) -> Vec<DistanceBin> {
    let mut by: std::collections::BTreeMap<i64, Vec<&RolloutPoint>> = Default::default();
    for p in points {
        if p.distance_decades.is_finite() && p.rel_error.is_finite() {
            let k = (p.distance_decades / DISTANCE_BIN).floor() as i64;
            by.entry(k).or_default().push(p);
        }
    }
    by.into_iter()
        .map(|(k, ps)| {
            let errors: Vec<f64> = ps.iter().map(|p| p.rel_error).collect();
            let (mean_abs, max_abs, mean) = summary(&errors);
            DistanceBin {
                lo: k as f64 * DISTANCE_BIN,
                hi: (k + 1) as f64 * DISTANCE_BIN,
                n: ps.len(),
                mean_abs_rel_error: mean_abs,
                max_abs_rel_error: max_abs,
                mean_rel_error: mean,
                inside_pi95: ps.iter().filter(|p| p.inside_pi95).count(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Covariates;
    use crate::laws::Chinchilla;
    use crate::robust::Robust;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// An IsoFLOP design: 5 budgets a half-decade apart, 5 sizes each,
    /// losses from a known Chinchilla law with 0.5% log-normal-ish noise.
    fn design(noise: f64, seed: u64) -> (Observations, Vec<f64>) {
        let truth = [1.8, 400.0, 2000.0, 0.34, 0.36];
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let (mut n, mut d, mut l, mut key) = (vec![], vec![], vec![], vec![]);
        for b in 0..5 {
            let c = 1e18 * 10f64.powf(0.5 * b as f64);
            for s in 0..5 {
                let tpp = 20.0 * 4f64.powf(s as f64 - 2.0);
                let nn = (c / (6.0 * tpp)).sqrt();
                let dd = c / (6.0 * nn);
                let e: f64 = rng.gen_range(-1.0..1.0);
                n.push(nn);
                d.push(dd);
                // the exact compute wobbles around the budget
                key.push(c);
                l.push(
                    Chinchilla.predict(&truth, &Covariates::from_nd(nn, dd)) * (noise * e).exp(),
                );
            }
        }
        (Observations::from_nd(n, d, l).unwrap(), key)
    }

    fn opts(bootstrap: usize) -> RolloutOptions {
        RolloutOptions {
            fit: FitOptions {
                robust: Robust::LeastSquares,
                ..Default::default()
            },
            rel_tol: 10f64.powf(0.05) - 1.0,
            bootstrap,
            seed: 1,
        }
    }

    #[test]
    fn cuts_and_bins_are_counted_and_errors_are_small() {
        let (obs, key) = design(0.003, 5);
        let r = rollout(&Chinchilla, &obs, &key, &opts(0), &|| {}).unwrap();
        assert_eq!(r.budgets.len(), 5);
        assert!(r.budgets.iter().all(|b| b.1 == 5));
        // 6 runs needed and two budgets: cuts after budgets 1, 2, 3 (index).
        let cut_at: Vec<usize> = r.cuts.iter().map(|c| c.budget).collect();
        assert_eq!(cut_at, vec![1, 2, 3]);
        let held: Vec<usize> = r.cuts.iter().map(|c| c.n_held_out).collect();
        assert_eq!(held, vec![15, 10, 5]);
        assert_eq!(r.cuts[0].n_train, 10);
        assert_eq!(r.points.len(), 30);
        assert_eq!(r.bins.iter().map(|b| b.n).sum::<usize>(), 30);
        // Every held-out run lies beyond the cut, and bins are 0.25 wide.
        for p in &r.points {
            assert!(p.distance_decades > 0.0, "{p:?}");
        }
        for b in &r.bins {
            assert!((b.hi - b.lo - DISTANCE_BIN).abs() < 1e-12);
        }
        for c in &r.cuts {
            assert!(c.failed.is_none());
            assert!(c.mean_abs_rel_error < 0.02, "{c:?}");
            assert!(c.max_abs_rel_error >= c.mean_abs_rel_error);
        }
    }

    #[test]
    fn noiseless_runs_are_predicted_almost_exactly() {
        let (obs, key) = design(0.0, 0);
        let r = rollout(&Chinchilla, &obs, &key, &opts(0), &|| {}).unwrap();
        for p in &r.points {
            assert!(p.rel_error.abs() < 1e-4, "{p:?}");
        }
    }

    #[test]
    fn too_few_runs_or_one_budget_give_no_cut() {
        let (obs, key) = design(0.0, 0);
        let sub: Vec<usize> = (0..10).collect();
        let e = rollout(&Chinchilla, &obs.select(&sub), &key[..10], &opts(0), &|| {});
        // 2 budgets of 5: the first cut has 5 runs, fewer than 6.
        assert!(
            matches!(e, Err(RolloutError::NoCut { budgets: 2, .. })),
            "{e:?}"
        );
        let mut bad = key.clone();
        bad[3] = f64::NAN;
        let e = rollout(&Chinchilla, &obs, &bad, &opts(0), &|| {});
        assert!(
            matches!(e, Err(RolloutError::BadKey { index: 3, .. })),
            "{e:?}"
        );
    }

    #[test]
    fn the_cuts_bootstrap_widens_the_prediction_intervals() {
        let (obs, key) = design(0.01, 9);
        let plain = rollout(&Chinchilla, &obs, &key, &opts(0), &|| {}).unwrap();
        let boot = rollout(&Chinchilla, &obs, &key, &opts(30), &|| {}).unwrap();
        for (a, b) in plain.points.iter().zip(&boot.points) {
            assert!(a.ci95.is_none() && b.ci95.is_some());
            assert!(b.pi95[1] / b.pi95[0] >= a.pi95[1] / a.pi95[0] - 1e-12);
        }
        let (inside, total) = boot.coverage();
        assert_eq!(total, boot.points.len());
        assert!(inside <= total);
    }
}
