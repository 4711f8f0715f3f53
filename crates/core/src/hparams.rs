//! Hyperparameter scaling laws: the learning rate (and batch size) that
//! minimise the loss at each compute budget, and power laws of them in the
//! budget, η_opt(C) = a·C^b and B_opt(C) = a·C^b (DeepSeek LLM fitted
//! η_opt = 0.3118·C^−0.125 and B_opt = 0.2920·C^0.3271).
//!
//! Per budget:
//! * the **best run** (lowest loss) and the **near-optimal set**: the runs
//!   whose loss is at most (1 + tol)·best (DeepSeek's "within a stated
//!   fraction of the best loss"; tol defaults to 1%);
//! * a **smooth fit**: the loss profile over learning rates (at each
//!   distinct lr the best loss over batch sizes) is fitted by a quadratic in
//!   ln lr through the `window` grid points nearest the best one; its
//!   vertex is the budget's η_opt. A vertex outside the fitted points'
//!   range is clamped to the range and flagged `edge`; a profile that is
//!   not convex there falls back to the best run's lr, flagged
//!   `not_convex`. With three or more batch sizes the same is done for
//!   the batch (a quadratic in ln B over the best loss at each batch);
//!   otherwise B_opt is the best run's batch.
//!
//! Then the laws, by least squares of ln η_opt on ln C (and ln B_opt on
//! ln C), with percentile bootstrap intervals: each resample draws every
//! budget's runs with replacement (seeded ChaCha8 streams, so the result is
//! deterministic), redoes the per-budget optima and refits the laws. A
//! resample where a budget keeps fewer than three distinct lrs is skipped
//! and counted.

use crate::bootstrap::resample_weights;
use crate::isoflop::{fit_line, group_values, polyfit};

/// One training run: its compute budget, learning rate, batch size (when
/// known) and final loss.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HpRun {
    pub budget: f64,
    pub lr: f64,
    pub batch: Option<f64>,
    pub loss: f64,
}

/// Settings of [`fit`].
#[derive(Clone, Debug, PartialEq)]
pub struct HparamsOptions {
    /// Near-optimal: loss ≤ (1 + tol)·best.
    pub tol: f64,
    /// Grid points (nearest the best one) the quadratic goes through.
    pub window: usize,
    /// Bootstrap resamples (0: no intervals).
    pub bootstrap: usize,
    pub seed: u64,
    /// Runs whose budgets agree within this relative tolerance share a budget.
    pub group_tol: f64,
}

impl Default for HparamsOptions {
    fn default() -> Self {
        HparamsOptions {
            tol: 0.01,
            window: 5,
            bootstrap: 1000,
            seed: 0,
            group_tol: 0.05,
        }
    }
}

/// Why a fit is refused.
#[derive(Clone, Debug, PartialEq)]
pub enum HparamsError {
    /// Fewer than two budgets: no law.
    TooFewBudgets { found: usize },
    /// A budget with fewer than three distinct learning rates: no curve.
    TooFewLrs { budget: f64, found: usize },
    /// A budget, lr, batch or loss that is not a positive finite number
    /// (`index` is the run's position in the input).
    NotPositive {
        what: &'static str,
        index: usize,
        value: f64,
    },
    /// An option out of range.
    Option { name: &'static str, message: String },
}

impl std::fmt::Display for HparamsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HparamsError::TooFewBudgets { found } => write!(
                f,
                "{found} compute budget(s); a law of the optimum across scale needs at least 2"
            ),
            HparamsError::TooFewLrs { budget, found } => write!(
                f,
                "budget {budget:e} FLOPs has {found} distinct learning rate(s); a curve of loss against lr needs at least 3"
            ),
            HparamsError::NotPositive { what, index, value } => write!(
                f,
                "run {}: {what} must be a positive finite number, got {value}",
                index + 1
            ),
            HparamsError::Option { name, message } => write!(f, "{name}: {message}"),
        }
    }
}

impl std::error::Error for HparamsError {}

/// How a budget's optimum was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptimumKind {
    /// The vertex of the quadratic, inside the fitted points' range.
    Vertex,
    /// The vertex fell outside the fitted range: clamped to its edge (the
    /// grid probably does not bracket the optimum).
    Edge,
    /// The quadratic is not convex there: the best run's value.
    NotConvex,
    /// No curve (fewer than three values): the best run's value.
    BestRun,
}

impl OptimumKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OptimumKind::Vertex => "vertex",
            OptimumKind::Edge => "edge",
            OptimumKind::NotConvex => "not_convex",
            OptimumKind::BestRun => "best_run",
        }
    }
}

/// A quadratic `loss = c0 + c1·x + c2·x²` in `x = ln(value)`, fitted through
/// the points whose values lie in `range`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Curve {
    pub coef: [f64; 3],
    pub range: [f64; 2],
}

impl Curve {
    /// The curve's loss at a value (lr or batch).
    pub fn loss_at(&self, v: f64) -> f64 {
        let x = v.ln();
        self.coef[0] + self.coef[1] * x + self.coef[2] * x * x
    }
}

/// The optimum of one hyperparameter at one budget.
#[derive(Clone, Debug, PartialEq)]
pub struct Optimum {
    pub value: f64,
    pub kind: OptimumKind,
    pub curve: Option<Curve>,
    /// The profile: distinct values ascending, and the best loss at each.
    pub values: Vec<f64>,
    pub losses: Vec<f64>,
}

/// One budget's analysis.
#[derive(Clone, Debug, PartialEq)]
pub struct BudgetResult {
    pub budget: f64,
    /// Indices of its runs in the input.
    pub runs: Vec<usize>,
    /// The best run (an index in the input).
    pub best: usize,
    pub best_loss: f64,
    /// (1 + tol)·best_loss.
    pub threshold: f64,
    /// The near-optimal runs (indices in the input), loss ascending.
    pub near_optimal: Vec<usize>,
    /// The lowest and highest learning rate among the near-optimal runs.
    pub lr_band: [f64; 2],
    /// The lowest and highest batch among them (when batches are known).
    pub batch_band: Option<[f64; 2]>,
    pub lr: Optimum,
    /// `None` when the runs give no batch.
    pub batch: Option<Optimum>,
}

impl BudgetResult {
    /// The smooth fit's loss at a learning rate, when the budget has a
    /// curve and the lr lies within the grid it was measured on.
    pub fn fitted_loss_at(&self, lr: f64) -> Option<f64> {
        let c = self.lr.curve?;
        let (lo, hi) = (self.lr.values[0], *self.lr.values.last()?);
        (lr >= lo && lr <= hi).then(|| c.loss_at(lr))
    }
}

/// A power law `y = coef·C^exponent`, fitted in log-log, with the value at
/// a reference budget (the geometric mean of the budgets), whose interval
/// is much narrower than the coefficient's.
#[derive(Clone, Debug, PartialEq)]
pub struct PowerLaw {
    pub coef: f64,
    pub exponent: f64,
    pub ref_flops: f64,
    pub at_ref: f64,
    /// Root mean square residual in ln y.
    pub rms_log: f64,
    pub coef_ci95: Option<[f64; 2]>,
    pub exponent_ci95: Option<[f64; 2]>,
    pub at_ref_ci95: Option<[f64; 2]>,
    /// Bootstrap draws (ln coef, exponent).
    pub draws: Vec<[f64; 2]>,
}

impl PowerLaw {
    pub fn at(&self, flops: f64) -> f64 {
        self.coef * flops.powf(self.exponent)
    }

    /// 95% percentile interval of the law's value at a budget, over the
    /// bootstrap draws.
    pub fn interval_at(&self, flops: f64) -> Option<[f64; 2]> {
        let v: Vec<f64> = self
            .draws
            .iter()
            .map(|d| (d[0] + d[1] * flops.ln()).exp())
            .collect();
        crate::plan::percentile_ci95(&v)
    }

    fn from_points(c: &[f64], y: &[f64]) -> Option<PowerLaw> {
        let x: Vec<f64> = c.iter().map(|v| v.ln()).collect();
        let ly: Vec<f64> = y.iter().map(|v| v.ln()).collect();
        let (c0, c1) = fit_line(&x, &ly)?;
        let mx = x.iter().sum::<f64>() / x.len() as f64;
        let rms = (x
            .iter()
            .zip(&ly)
            .map(|(a, b)| (b - c0 - c1 * a).powi(2))
            .sum::<f64>()
            / x.len() as f64)
            .sqrt();
        Some(PowerLaw {
            coef: c0.exp(),
            exponent: c1,
            ref_flops: mx.exp(),
            at_ref: (c0 + c1 * mx).exp(),
            rms_log: rms,
            coef_ci95: None,
            exponent_ci95: None,
            at_ref_ci95: None,
            draws: Vec::new(),
        })
    }

    fn add_draws(&mut self, draws: Vec<[f64; 2]>) {
        let lnref = self.ref_flops.ln();
        let col = |f: &dyn Fn(&[f64; 2]) -> f64| -> Option<[f64; 2]> {
            crate::plan::percentile_ci95(&draws.iter().map(f).collect::<Vec<_>>())
        };
        self.coef_ci95 = col(&|d| d[0].exp());
        self.exponent_ci95 = col(&|d| d[1]);
        self.at_ref_ci95 = col(&|d| (d[0] + d[1] * lnref).exp());
        self.draws = draws;
    }
}

/// The whole analysis.
#[derive(Clone, Debug, PartialEq)]
pub struct HparamsFit {
    /// Budgets ascending.
    pub budgets: Vec<BudgetResult>,
    pub lr_law: PowerLaw,
    /// When the runs vary the batch (two or more batches in some budget).
    pub batch_law: Option<PowerLaw>,
    pub bootstrap_used: usize,
    /// Resamples skipped (a budget left with fewer than three lrs).
    pub bootstrap_skipped: usize,
}

/// The optimum of a profile (values ascending, best loss at each).
fn optimum(values: Vec<f64>, losses: Vec<f64>, window: usize) -> Optimum {
    let best = (0..values.len())
        .min_by(|&i, &j| losses[i].total_cmp(&losses[j]))
        .expect("a non-empty profile");
    if values.len() < 3 {
        return Optimum {
            value: values[best],
            kind: OptimumKind::BestRun,
            curve: None,
            values,
            losses,
        };
    }
    let w = window.clamp(3, values.len());
    let start = best.saturating_sub(w / 2).min(values.len() - w);
    let idx = start..start + w;
    let x: Vec<f64> = values[idx.clone()].iter().map(|v| v.ln()).collect();
    let y = &losses[idx.clone()];
    let range = [values[start], values[start + w - 1]];
    let (value, kind, curve) = match polyfit(&x, y, 2) {
        Some(c) if c[2] > 0.0 => {
            let curve = Curve {
                coef: [c[0], c[1], c[2]],
                range,
            };
            let v = (-c[1] / (2.0 * c[2])).exp();
            if v < range[0] {
                (range[0], OptimumKind::Edge, Some(curve))
            } else if v > range[1] {
                (range[1], OptimumKind::Edge, Some(curve))
            } else {
                (v, OptimumKind::Vertex, Some(curve))
            }
        }
        Some(c) => (
            values[best],
            OptimumKind::NotConvex,
            Some(Curve {
                coef: [c[0], c[1], c[2]],
                range,
            }),
        ),
        None => (values[best], OptimumKind::NotConvex, None),
    };
    Optimum {
        value,
        kind,
        curve,
        values,
        losses,
    }
}

/// The profile of a key over weighted runs: distinct values ascending and
/// the best loss at each (runs with zero weight are left out).
fn profile(
    runs: &[HpRun],
    members: &[usize],
    w: &[f64],
    key: impl Fn(&HpRun) -> f64,
) -> (Vec<f64>, Vec<f64>) {
    let mut pairs: Vec<(f64, f64)> = members
        .iter()
        .zip(w)
        .filter(|(_, &w)| w > 0.0)
        .map(|(&i, _)| (key(&runs[i]), runs[i].loss))
        .collect();
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut values: Vec<f64> = Vec::new();
    let mut losses: Vec<f64> = Vec::new();
    for (v, l) in pairs {
        match values.last() {
            Some(&last) if (v / last - 1.0).abs() < 1e-9 => {
                let k = losses.len() - 1;
                losses[k] = losses[k].min(l);
            }
            _ => {
                values.push(v);
                losses.push(l);
            }
        }
    }
    (values, losses)
}

fn distinct_count(v: impl Iterator<Item = f64>) -> usize {
    let mut v: Vec<f64> = v.collect();
    v.sort_by(f64::total_cmp);
    v.dedup_by(|a, b| (*a / *b - 1.0).abs() < 1e-9);
    v.len()
}

/// The optima of one budget's (weighted) runs: (lr, batch).
fn optima(
    runs: &[HpRun],
    members: &[usize],
    w: &[f64],
    window: usize,
) -> (Optimum, Option<Optimum>) {
    let (v, l) = profile(runs, members, w, |r| r.lr);
    let lr = optimum(v, l, window);
    let batch = if members.iter().all(|&i| runs[i].batch.is_some()) {
        let (v, l) = profile(runs, members, w, |r| r.batch.unwrap_or(f64::NAN));
        Some(optimum(v, l, window))
    } else {
        None
    };
    (lr, batch)
}

/// Near-optimal sets, per-budget optima and the power laws; see the module
/// documentation.
pub fn fit(runs: &[HpRun], opts: &HparamsOptions) -> Result<HparamsFit, HparamsError> {
    if !(opts.tol.is_finite() && opts.tol >= 0.0) {
        return Err(HparamsError::Option {
            name: "tol",
            message: format!("must be a non-negative number, got {}", opts.tol),
        });
    }
    if opts.window < 3 {
        return Err(HparamsError::Option {
            name: "window",
            message: format!("a quadratic needs at least 3 points, got {}", opts.window),
        });
    }
    let positive = |v: f64| v.is_finite() && v > 0.0;
    for (i, r) in runs.iter().enumerate() {
        for (what, v) in [("budget", r.budget), ("lr", r.lr), ("loss", r.loss)]
            .into_iter()
            .chain(r.batch.map(|b| ("batch", b)))
        {
            if !positive(v) {
                return Err(HparamsError::NotPositive {
                    what,
                    index: i,
                    value: v,
                });
            }
        }
    }
    let c: Vec<f64> = runs.iter().map(|r| r.budget).collect();
    let groups = group_values(&c, opts.group_tol);
    if groups.len() < 2 {
        return Err(HparamsError::TooFewBudgets {
            found: groups.len(),
        });
    }
    for (b, members) in &groups {
        let n = distinct_count(members.iter().map(|&i| runs[i].lr));
        if n < 3 {
            return Err(HparamsError::TooFewLrs {
                budget: *b,
                found: n,
            });
        }
    }
    let mut budgets = Vec::new();
    for (budget, members) in &groups {
        let ones = vec![1.0; members.len()];
        let (lr, batch) = optima(runs, members, &ones, opts.window);
        let mut sorted = members.clone();
        sorted.sort_by(|&i, &j| runs[i].loss.total_cmp(&runs[j].loss));
        let best = sorted[0];
        let best_loss = runs[best].loss;
        let threshold = (1.0 + opts.tol) * best_loss;
        let near: Vec<usize> = sorted
            .into_iter()
            .filter(|&i| runs[i].loss <= threshold)
            .collect();
        let span = |f: &dyn Fn(&HpRun) -> f64| {
            near.iter().fold([f64::INFINITY, 0.0_f64], |[lo, hi], &i| {
                let v = f(&runs[i]);
                [lo.min(v), hi.max(v)]
            })
        };
        let lr_band = span(&|r| r.lr);
        let batch_band = batch
            .as_ref()
            .map(|_| span(&|r| r.batch.unwrap_or(f64::NAN)));
        // a batch law only where the batch varies
        let batch = batch.filter(|b| b.values.len() >= 2);
        budgets.push(BudgetResult {
            budget: *budget,
            runs: members.clone(),
            best,
            best_loss,
            threshold,
            near_optimal: near,
            lr_band,
            batch_band: batch.as_ref().and(batch_band),
            lr,
            batch,
        });
    }
    let cs: Vec<f64> = budgets.iter().map(|b| b.budget).collect();
    let lrs: Vec<f64> = budgets.iter().map(|b| b.lr.value).collect();
    let mut lr_law = PowerLaw::from_points(&cs, &lrs).expect("two distinct budgets");
    let batch_varies = budgets.iter().all(|b| b.batch.is_some());
    let mut batch_law = if batch_varies {
        let bs: Vec<f64> = budgets
            .iter()
            .map(|b| b.batch.as_ref().map_or(f64::NAN, |o| o.value))
            .collect();
        PowerLaw::from_points(&cs, &bs)
    } else {
        None
    };
    let mut lr_draws = Vec::new();
    let mut batch_draws = Vec::new();
    let mut skipped = 0;
    for k in 0..opts.bootstrap {
        let mut ok = true;
        let mut lr_opt = Vec::new();
        let mut b_opt = Vec::new();
        for (g, (_, members)) in groups.iter().enumerate() {
            let stream = (k as u64) * groups.len() as u64 + g as u64;
            let w = resample_weights(members.len(), opts.seed, stream);
            let n = distinct_count(
                members
                    .iter()
                    .zip(&w)
                    .filter(|(_, &w)| w > 0.0)
                    .map(|(&i, _)| runs[i].lr),
            );
            if n < 3 {
                ok = false;
                break;
            }
            let (lr, batch) = optima(runs, members, &w, opts.window);
            lr_opt.push(lr.value);
            b_opt.push(batch.map_or(f64::NAN, |b| b.value));
        }
        if !ok {
            skipped += 1;
            continue;
        }
        if let Some(l) = PowerLaw::from_points(&cs, &lr_opt) {
            lr_draws.push([l.coef.ln(), l.exponent]);
        }
        if batch_law.is_some() {
            if let Some(l) = PowerLaw::from_points(&cs, &b_opt) {
                if l.coef.is_finite() {
                    batch_draws.push([l.coef.ln(), l.exponent]);
                }
            }
        }
    }
    let used = lr_draws.len();
    lr_law.add_draws(lr_draws);
    if let Some(b) = &mut batch_law {
        b.add_draws(batch_draws);
    }
    Ok(HparamsFit {
        budgets,
        lr_law,
        batch_law,
        bootstrap_used: used,
        bootstrap_skipped: skipped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Runs with loss = L0(C) + k·(ln lr − ln η(C))² (+ noise), η(C) = a·C^b,
    /// on a factor-2 lr grid around the optimum.
    fn planted(a: f64, b: f64, noise: f64, seed: u64) -> Vec<HpRun> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut out = Vec::new();
        for c in [1e18, 1e19, 1e20, 1e21] {
            let eta = a * f64::powf(c, b);
            let l0 = 3.0 * f64::powf(c / 1e18, -0.05);
            // the grid is not centred on the optimum
            for k in -3..=3 {
                let lr = 1e-3 * 2f64.powi(k) * (eta / 1e-3).ln().round().exp();
                let d = (lr / eta).ln();
                let loss = l0 * (1.0 + 0.02 * d * d) + noise * rng.gen_range(-1.0..1.0);
                out.push(HpRun {
                    budget: c,
                    lr,
                    batch: None,
                    loss,
                });
            }
        }
        out
    }

    #[test]
    fn a_planted_lr_law_is_recovered_exactly_without_noise() {
        let runs = planted(0.3118, -0.125, 0.0, 1);
        let fit = fit(&runs, &HparamsOptions::default()).unwrap();
        assert_eq!(fit.budgets.len(), 4);
        for b in &fit.budgets {
            assert_eq!(b.lr.kind, OptimumKind::Vertex, "{}", b.budget);
            let want = 0.3118 * b.budget.powf(-0.125);
            assert!(
                (b.lr.value / want - 1.0).abs() < 1e-6,
                "{} vs {want}",
                b.lr.value
            );
        }
        assert!(
            (fit.lr_law.exponent + 0.125).abs() < 1e-6,
            "{:?}",
            fit.lr_law
        );
        assert!(
            (fit.lr_law.coef / 0.3118 - 1.0).abs() < 1e-4,
            "{:?}",
            fit.lr_law
        );
        assert!(fit.batch_law.is_none());
    }

    #[test]
    fn a_planted_law_with_noise_lies_in_its_bootstrap_interval() {
        let runs = planted(0.3118, -0.125, 0.004, 7);
        let opts = HparamsOptions {
            bootstrap: 300,
            seed: 3,
            ..HparamsOptions::default()
        };
        let f1 = fit(&runs, &opts).unwrap();
        let ci = f1.lr_law.exponent_ci95.unwrap();
        assert!(ci[0] < -0.125 && -0.125 < ci[1], "{ci:?}");
        assert!(ci[1] - ci[0] < 0.1, "{ci:?}");
        assert!((f1.lr_law.exponent + 0.125).abs() < 0.03, "{:?}", f1.lr_law);
        let at = f1.lr_law.interval_at(1e22).unwrap();
        let want = 0.3118 * 1e22f64.powf(-0.125);
        assert!(at[0] < want && want < at[1], "{at:?} vs {want}");
        assert!(f1.bootstrap_used + f1.bootstrap_skipped == 300);
        assert!(f1.bootstrap_used > 200);
        // deterministic: same seed, same intervals; another seed differs
        let f2 = fit(&runs, &opts).unwrap();
        assert_eq!(f1.lr_law.exponent_ci95, f2.lr_law.exponent_ci95);
        let f3 = fit(&runs, &HparamsOptions { seed: 4, ..opts }).unwrap();
        assert_ne!(f1.lr_law.exponent_ci95, f3.lr_law.exponent_ci95);
    }

    #[test]
    fn the_near_optimal_set_is_every_run_within_tol_of_the_best() {
        let mut runs = Vec::new();
        for c in [1e10, 1e11] {
            for (lr, loss) in [
                (1e-3, 3.5),
                (2e-3, 3.2),
                (4e-3, 3.0),
                (8e-3, 3.02),
                (1.6e-2, 3.4),
            ] {
                runs.push(HpRun {
                    budget: c,
                    lr,
                    batch: None,
                    loss,
                });
            }
        }
        let f = fit(&runs, &HparamsOptions::default()).unwrap();
        let b = &f.budgets[0];
        assert_eq!(b.best, 2);
        assert_eq!(b.near_optimal, vec![2, 3]);
        assert_eq!(b.lr_band, [4e-3, 8e-3]);
        assert!((b.threshold - 3.03).abs() < 1e-12);
        let wide = fit(
            &runs,
            &HparamsOptions {
                tol: 0.07,
                ..HparamsOptions::default()
            },
        )
        .unwrap();
        assert_eq!(wide.budgets[0].near_optimal, vec![2, 3, 1]);
        // the vertex lies between the two best lrs, nearer the better one
        let v = b.lr.value;
        assert!(v > 4e-3 && v < 8e-3 && v < (4e-3f64 * 8e-3).sqrt(), "{v}");
        assert!(b.fitted_loss_at(v).unwrap() <= b.threshold);
        assert!(b.fitted_loss_at(1e-1).is_none());
    }

    #[test]
    fn an_optimum_outside_the_grid_is_clamped_and_flagged() {
        let mut runs = Vec::new();
        for c in [1e10, 1e11] {
            for (i, lr) in [1e-3, 2e-3, 4e-3, 8e-3].into_iter().enumerate() {
                runs.push(HpRun {
                    budget: c,
                    lr,
                    batch: None,
                    loss: 4.0 - 0.1 * i as f64 + 0.01 * (i * i) as f64,
                });
            }
        }
        let f = fit(&runs, &HparamsOptions::default()).unwrap();
        assert_eq!(f.budgets[0].lr.kind, OptimumKind::Edge);
        assert_eq!(f.budgets[0].lr.value, 8e-3);
    }

    #[test]
    fn batch_sizes_give_a_batch_law() {
        let mut runs = Vec::new();
        for c in [1e6f64, 1e7, 1e8] {
            let b_opt = 0.292 * c.powf(0.3271);
            for lr in [1e-3, 2e-3, 4e-3, 8e-3] {
                for b in [16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0] {
                    let d = f64::ln(b / b_opt);
                    let e = f64::ln(lr / 3e-3);
                    runs.push(HpRun {
                        budget: c,
                        lr,
                        batch: Some(b),
                        loss: 3.0 + 0.01 * d * d + 0.02 * e * e,
                    });
                }
            }
        }
        let f = fit(
            &runs,
            &HparamsOptions {
                bootstrap: 50,
                ..Default::default()
            },
        )
        .unwrap();
        let law = f.batch_law.unwrap();
        assert!((law.exponent - 0.3271).abs() < 1e-6, "{law:?}");
        assert!((f.lr_law.exponent).abs() < 1e-6);
        assert!(f.budgets[0].batch_band.is_some());
    }

    #[test]
    fn bad_input_is_refused_with_a_typed_error() {
        let runs = planted(0.3, -0.1, 0.0, 1);
        let one: Vec<HpRun> = runs.iter().filter(|r| r.budget == 1e18).copied().collect();
        assert_eq!(
            fit(&one, &HparamsOptions::default()).unwrap_err(),
            HparamsError::TooFewBudgets { found: 1 }
        );
        let mut two = runs.clone();
        let mut seen = 0;
        two.retain(|r| {
            if r.budget != 1e19 {
                return true;
            }
            seen += 1;
            seen <= 2
        });
        let e = fit(&two, &HparamsOptions::default()).unwrap_err();
        assert!(
            matches!(e, HparamsError::TooFewLrs { found, .. } if found < 3),
            "{e}"
        );
        let mut neg = runs.clone();
        neg[5].lr = -1.0;
        let e = fit(&neg, &HparamsOptions::default()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "run 6: lr must be a positive finite number, got -1"
        );
        let mut nan = runs;
        nan[2].loss = f64::NAN;
        assert!(matches!(
            fit(&nan, &HparamsOptions::default()).unwrap_err(),
            HparamsError::NotPositive {
                what: "loss",
                index: 2,
                ..
            }
        ));
    }
}
