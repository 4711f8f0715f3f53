//! Abilities across scale: is a jump in a metric a threshold of the model, or
//! an artefact of the metric?
//!
//! For one task and metric, performance `y` against scale `x` (N, D or C) is
//! fitted by four candidate curves in `u = log10 x`:
//!
//! * **flat**: `y = c` (no improvement);
//! * **linear**: `y = a + b·u` (smooth improvement);
//! * **sigmoid** between the chance level `y0` and a ceiling `y1`:
//!   `y = y0 + (top − y0) / (1 + exp(−k (u − u_mid)))`, `top ≤ y1`, whose
//!   midpoint `10^u_mid` is the threshold and whose width (10%→90%) is
//!   `ln 81 / k` decades;
//! * **broken** power law (Caballero et al. 2022, one smooth break): the
//!   shortfall from the ceiling `y1 − y` falls as `x^−α₁` below the break
//!   `x_b` and as `x^−α₂` above it ([`broken_power_law`]); the break is the
//!   threshold, and the width is that of the fitted curve's 10%→90% rise
//!   over the observed scales. Needs six points.
//!
//! Fits are weighted least squares (weights `1/se²` when standard errors are
//! given), compared by the small-sample AIC. The threshold gets a parametric
//! bootstrap interval (resampling `y` within its standard errors). A verdict
//! combines a discrete metric (exact match) with a continuous one (per-token
//! log-probability, cross-entropy, edit distance) measured on the same
//! outputs, following Schaeffer et al. (2023): a jump that the continuous
//! metric does not show is likely an artefact of the discrete metric.

use crate::optim::{lbfgs, LbfgsOptions};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// One point: scale, value and its standard error (None: unknown).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub x: f64,
    pub y: f64,
    pub se: Option<f64>,
}

/// A fitted candidate curve.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// `flat`, `linear` or `sigmoid`.
    pub name: String,
    pub params: Vec<f64>,
    /// Weighted residual sum of squares.
    pub wrss: f64,
    pub n_params: usize,
    /// Small-sample Akaike information criterion (lower is better).
    pub aicc: f64,
}

/// The fitted curves of one metric and what they say.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricFit {
    pub candidates: Vec<Candidate>,
    /// Name of the chosen candidate (lowest AICc).
    pub best: String,
    /// Threshold (scale at the sigmoid's midpoint) and its 95% interval.
    pub threshold: Option<f64>,
    pub threshold_ci95: Option<[f64; 2]>,
    /// Decades from 10% to 90% of the sigmoid's rise (for a broken power
    /// law: of the fitted curve's rise over the observed scales).
    pub width_decades: Option<f64>,
    /// Those 10% and 90% points, as log10 of the scale.
    pub rise_window: Option<[f64; 2]>,
    /// Total change of the fitted curve over the observed range, and its
    /// size relative to the measurement noise.
    pub change: f64,
    pub change_z: f64,
}

/// Options of the analysis.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EmergeOptions {
    /// Chance level (the sigmoid's floor).
    pub chance: f64,
    /// Largest possible value (the sigmoid's ceiling).
    pub ceiling: f64,
    /// A sigmoid narrower than this many decades counts as sharp.
    pub sharp_decades: f64,
    /// Bootstrap resamples for the threshold.
    pub bootstrap: usize,
    pub seed: u64,
}

impl Default for EmergeOptions {
    fn default() -> Self {
        EmergeOptions {
            chance: 0.0,
            ceiling: 1.0,
            sharp_decades: 1.5,
            bootstrap: 400,
            seed: 0,
        }
    }
}

fn weights(pts: &[Point]) -> Vec<f64> {
    let ses: Vec<f64> = pts
        .iter()
        .filter_map(|p| p.se)
        .filter(|s| *s > 0.0)
        .collect();
    let fallback = if ses.is_empty() {
        1.0
    } else {
        ses.iter().sum::<f64>() / ses.len() as f64
    };
    pts.iter()
        .map(|p| {
            let s = p.se.filter(|s| *s > 0.0).unwrap_or(fallback);
            1.0 / (s * s)
        })
        .collect()
}

fn aicc(wrss: f64, n: usize, k: usize) -> f64 {
    let n_f = n as f64;
    // with known variances the log-likelihood is −wrss/2 (+ const)
    let base = wrss + 2.0 * k as f64;
    if n > k + 1 {
        base + 2.0 * (k * (k + 1)) as f64 / (n_f - k as f64 - 1.0)
    } else {
        f64::INFINITY
    }
}

/// The sigmoid in `u = log10 x`: params `[u_mid, ln k, logit of top]`.
pub fn sigmoid(opts: &EmergeOptions, p: &[f64], u: f64) -> f64 {
    let (um, k) = (p[0], p[1].exp());
    let top = opts.chance + (opts.ceiling - opts.chance) / (1.0 + (-p[2]).exp());
    opts.chance + (top - opts.chance) / (1.0 + (-k * (u - um)).exp())
}

fn fit_sigmoid(opts: &EmergeOptions, u: &[f64], y: &[f64], w: &[f64]) -> Option<(Vec<f64>, f64)> {
    let f = |p: &[f64], g: &mut [f64]| -> f64 {
        let (um, lk, lt) = (p[0], p[1], p[2]);
        let k = lk.exp();
        let span = opts.ceiling - opts.chance;
        let st = 1.0 / (1.0 + (-lt).exp());
        let top = opts.chance + span * st;
        let mut v = 0.0;
        g.iter_mut().for_each(|x| *x = 0.0);
        for i in 0..u.len() {
            let s = 1.0 / (1.0 + (-k * (u[i] - um)).exp());
            let pred = opts.chance + (top - opts.chance) * s;
            let r = pred - y[i];
            v += w[i] * r * r;
            let ds = s * (1.0 - s);
            let amp = top - opts.chance;
            // ∂pred/∂um, ∂pred/∂lk, ∂pred/∂lt
            let d_um = amp * ds * (-k);
            let d_lk = amp * ds * k * (u[i] - um);
            let d_lt = span * st * (1.0 - st) * s;
            g[0] += 2.0 * w[i] * r * d_um;
            g[1] += 2.0 * w[i] * r * d_lk;
            g[2] += 2.0 * w[i] * r * d_lt;
        }
        v
    };
    let (lo, hi) = u
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| {
            (a.min(x), b.max(x))
        });
    let mut best: Option<(Vec<f64>, f64)> = None;
    let opts_l = LbfgsOptions {
        max_iter: 500,
        ..Default::default()
    };
    for i in 0..=8 {
        let um = lo + (hi - lo) * i as f64 / 8.0;
        for lk in [0.0, 1.0, 2.0, 3.0] {
            for lt in [-1.0, 1.0, 4.0] {
                let m = lbfgs(&f, &[um, lk, lt], &opts_l);
                if m.f.is_finite() && best.as_ref().is_none_or(|b| m.f < b.1) {
                    best = Some((m.x, m.f));
                }
            }
        }
    }
    best
}

/// Smoothness of the broken power law's break, in decades (fixed).
pub const BREAK_SMOOTHNESS: f64 = 0.25;

/// log10(1 + 10^v), without overflow.
fn softplus10(v: f64) -> f64 {
    if v > 15.0 {
        v + (10f64.powf(-v)).ln_1p() / std::f64::consts::LN_10
    } else {
        (10f64.powf(v)).ln_1p() / std::f64::consts::LN_10
    }
}

/// A smoothly broken power law (Caballero et al. 2022, one break) in the
/// shortfall from the ceiling: `ceiling − y = A·x^−α₁` below the break
/// `x_b` and `∝ x^−α₂` above it, the turn taking about
/// [`BREAK_SMOOTHNESS`] decades. Params `[ln A, α₁, α₂, log10 x_b]`;
/// `u = log10 x`.
pub fn broken_power_law(opts: &EmergeOptions, p: &[f64], u: f64) -> f64 {
    let ln10 = std::f64::consts::LN_10;
    let f = BREAK_SMOOTHNESS;
    let ls = p[0] - ln10 * (p[1] * u + (p[2] - p[1]) * f * softplus10((u - p[3]) / f));
    opts.ceiling - ls.exp()
}

fn fit_broken(opts: &EmergeOptions, u: &[f64], y: &[f64], w: &[f64]) -> Option<(Vec<f64>, f64)> {
    let ln10 = std::f64::consts::LN_10;
    let fs = BREAK_SMOOTHNESS;
    let f = |p: &[f64], g: &mut [f64]| -> f64 {
        let mut v = 0.0;
        g.iter_mut().for_each(|x| *x = 0.0);
        for i in 0..u.len() {
            let z = (u[i] - p[3]) / fs;
            let sp = softplus10(z);
            let sig = 1.0 / (1.0 + 10f64.powf(-z)); // d softplus10 / dz
            let ls = p[0] - ln10 * (p[1] * u[i] + (p[2] - p[1]) * fs * sp);
            let sh = ls.exp();
            let r = opts.ceiling - sh - y[i];
            v += w[i] * r * r;
            // ∂pred/∂θ = −sh · ∂ls/∂θ
            let dls = [
                1.0,
                -ln10 * (u[i] - fs * sp),
                -ln10 * fs * sp,
                ln10 * (p[2] - p[1]) * sig,
            ];
            for k in 0..4 {
                g[k] += 2.0 * w[i] * r * (-sh * dls[k]);
            }
        }
        v
    };
    let (lo, hi) = u
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| {
            (a.min(x), b.max(x))
        });
    let first = u
        .iter()
        .zip(y)
        .min_by(|a, b| a.0.total_cmp(b.0))
        .map(|(_, &y)| y)?;
    let la0 = (opts.ceiling - first).max(1e-3).ln();
    let opts_l = LbfgsOptions {
        max_iter: 500,
        ..Default::default()
    };
    let mut best: Option<(Vec<f64>, f64)> = None;
    for i in 0..=6 {
        let ub = lo + (hi - lo) * i as f64 / 6.0;
        for a1 in [0.0, 0.2] {
            for a2 in [0.5, 1.5, 4.0] {
                let la = la0 + ln10 * a1 * lo;
                let m = lbfgs(&f, &[la, a1, a2, ub], &opts_l);
                if m.f.is_finite() && best.as_ref().is_none_or(|b| m.f < b.1) {
                    best = Some((m.x, m.f));
                }
            }
        }
    }
    best
}

/// The value at `u = log10 x` of a candidate curve (`flat`, `linear`,
/// `sigmoid` or `broken`) with its parameters.
pub fn candidate_curve(opts: &EmergeOptions, name: &str, p: &[f64], u: f64) -> f64 {
    match name {
        "sigmoid" => sigmoid(opts, p, u),
        "broken" => broken_power_law(opts, p, u),
        "linear" => p[0] + p[1] * u,
        _ => p.first().copied().unwrap_or(f64::NAN),
    }
}

/// Where a curve rises from 10% to 90% of its change between `lo` and `hi`
/// (log10 scale), found on a fine grid; `None` if it does not rise.
fn rise_window(curve: impl Fn(f64) -> f64, lo: f64, hi: f64) -> Option<[f64; 2]> {
    let (y0, y1) = (curve(lo), curve(hi));
    if y1.partial_cmp(&y0) != Some(std::cmp::Ordering::Greater) {
        return None;
    }
    let n = 2000;
    let at = |t: f64| {
        (0..=n)
            .map(|i| lo + (hi - lo) * i as f64 / n as f64)
            .find(|&u| curve(u) >= y0 + t * (y1 - y0))
    };
    Some([at(0.1)?, at(0.9)?])
}

fn fit_linear(u: &[f64], y: &[f64], w: &[f64]) -> (Vec<f64>, f64) {
    let sw: f64 = w.iter().sum();
    let mu = u.iter().zip(w).map(|(a, b)| a * b).sum::<f64>() / sw;
    let my = y.iter().zip(w).map(|(a, b)| a * b).sum::<f64>() / sw;
    let sxx: f64 = (0..u.len()).map(|i| w[i] * (u[i] - mu).powi(2)).sum();
    let sxy: f64 = (0..u.len()).map(|i| w[i] * (u[i] - mu) * (y[i] - my)).sum();
    let b = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    let a = my - b * mu;
    let wrss = (0..u.len())
        .map(|i| w[i] * (y[i] - a - b * u[i]).powi(2))
        .sum();
    (vec![a, b], wrss)
}

/// Fits the candidates to one metric.
pub fn fit_metric(pts: &[Point], opts: &EmergeOptions) -> Option<MetricFit> {
    let pts: Vec<Point> = pts
        .iter()
        .copied()
        .filter(|p| p.x > 0.0 && p.x.is_finite() && p.y.is_finite())
        .collect();
    if pts.len() < 3 {
        return None;
    }
    let u: Vec<f64> = pts.iter().map(|p| p.x.log10()).collect();
    let y: Vec<f64> = pts.iter().map(|p| p.y).collect();
    let w = weights(&pts);
    let n = pts.len();
    let sw: f64 = w.iter().sum();
    let my = y.iter().zip(&w).map(|(a, b)| a * b).sum::<f64>() / sw;
    let flat_wrss: f64 = (0..n).map(|i| w[i] * (y[i] - my).powi(2)).sum();
    let (lin, lin_wrss) = fit_linear(&u, &y, &w);
    let mut cands = vec![
        Candidate {
            name: "flat".into(),
            params: vec![my],
            wrss: flat_wrss,
            n_params: 1,
            aicc: aicc(flat_wrss, n, 1),
        },
        Candidate {
            name: "linear".into(),
            params: lin.clone(),
            wrss: lin_wrss,
            n_params: 2,
            aicc: aicc(lin_wrss, n, 2),
        },
    ];
    let sig = fit_sigmoid(opts, &u, &y, &w);
    if let Some((p, v)) = &sig {
        cands.push(Candidate {
            name: "sigmoid".into(),
            params: p.clone(),
            wrss: *v,
            n_params: 3,
            aicc: aicc(*v, n, 3),
        });
    }
    let brk = if n >= 6 {
        fit_broken(opts, &u, &y, &w)
    } else {
        None
    };
    if let Some((p, v)) = &brk {
        cands.push(Candidate {
            name: "broken".into(),
            params: p.clone(),
            wrss: *v,
            n_params: 4,
            aicc: aicc(*v, n, 4),
        });
    }
    let best = cands
        .iter()
        .min_by(|a, b| a.aicc.total_cmp(&b.aicc))
        .map(|c| c.name.clone())
        .unwrap_or_default();
    let (ulo, uhi) = (
        u.iter().cloned().fold(f64::INFINITY, f64::min),
        u.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
    );
    let curve = |uu: f64| match best.as_str() {
        "sigmoid" => sigmoid(opts, &sig.as_ref().unwrap().0, uu),
        "broken" => broken_power_law(opts, &brk.as_ref().unwrap().0, uu),
        "linear" => lin[0] + lin[1] * uu,
        _ => my,
    };
    let change = curve(uhi) - curve(ulo);
    let noise = (1.0 / w.iter().cloned().fold(0.0, f64::max)).sqrt();
    let (mut threshold, mut ci, mut width, mut window) = (None, None, None, None);
    if let (Some((p, _)), "sigmoid") = (&sig, best.as_str()) {
        let mid = p[0];
        // a midpoint far outside the data is no threshold
        if mid >= ulo - 0.5 && mid <= uhi + 0.5 {
            threshold = Some(10f64.powf(mid));
            width = Some(81f64.ln() / p[1].exp());
            ci = parametric_ci(opts, &y, &w, |yb| {
                fit_sigmoid(opts, &u, yb, &w).map(|(pb, _)| pb[0])
            });
            let h = 9f64.ln() / p[1].exp();
            window = Some([mid - h, mid + h]);
        }
    }
    if let (Some((p, _)), "broken") = (&brk, best.as_str()) {
        let ub = p[3];
        if ub >= ulo - 0.5 && ub <= uhi + 0.5 {
            threshold = Some(10f64.powf(ub));
            window = rise_window(|uu| broken_power_law(opts, p, uu), ulo, uhi);
            width = window.map(|[a, b]| b - a);
            ci = parametric_ci(opts, &y, &w, |yb| {
                fit_broken(opts, &u, yb, &w).map(|(pb, _)| pb[3])
            });
        }
    }
    Some(MetricFit {
        candidates: cands,
        best,
        threshold,
        threshold_ci95: ci,
        width_decades: width,
        rise_window: window,
        change,
        change_z: change.abs() / noise,
    })
}

impl MetricFit {
    /// The chosen curve at `u = log10 x`.
    pub fn predict(&self, opts: &EmergeOptions, u: f64) -> f64 {
        let Some(c) = self.candidates.iter().find(|c| c.name == self.best) else {
            return f64::NAN;
        };
        candidate_curve(opts, &c.name, &c.params, u)
    }
}

/// Two-stage prediction: the metric as a function of the loss, fitted on
/// `(loss, metric)` pairs of a sweep (the curves are fitted against
/// `u = −loss / ln 10`, so a sigmoid in `u` is a sigmoid in the loss), then
/// evaluated at predicted losses. Returns the point prediction at
/// `loss_at` and a 95% interval that combines the spread of `loss_draws`
/// (e.g. from the scaling law's bootstrap) with refits of the metric curve
/// on resampled metric values.
pub fn two_stage(
    pairs: &[(f64, Point)],
    opts: &EmergeOptions,
    loss_at: f64,
    loss_draws: &[f64],
) -> Option<(f64, Option<[f64; 2]>, MetricFit)> {
    let to_pt = |loss: f64, p: &Point| Point {
        x: (-loss).exp(),
        y: p.y,
        se: p.se,
    };
    let pts: Vec<Point> = pairs.iter().map(|(l, p)| to_pt(*l, p)).collect();
    let f = fit_metric(
        &pts,
        &EmergeOptions {
            bootstrap: 0,
            ..*opts
        },
    )?;
    let u = |l: f64| -l / std::f64::consts::LN_10;
    let point = f.predict(opts, u(loss_at));
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed ^ 0x2_57a6e);
    let w = weights(&pts);
    let mut preds = Vec::new();
    for i in 0..opts.bootstrap {
        let yb: Vec<Point> = pts
            .iter()
            .zip(&w)
            .map(|(p, wi)| Point {
                y: p.y + normal(&mut rng) / wi.sqrt(),
                ..*p
            })
            .collect();
        let Some(fb) = fit_metric(
            &yb,
            &EmergeOptions {
                bootstrap: 0,
                ..*opts
            },
        ) else {
            continue;
        };
        let l = if loss_draws.is_empty() {
            loss_at
        } else {
            loss_draws[i % loss_draws.len()]
        };
        preds.push(fb.predict(opts, u(l)));
    }
    Some((point, crate::plan::percentile_ci95(&preds), f))
}

/// The threshold's 95% interval from resampled data rather than from the
/// standard errors: `samples[b][i]` is resample `b`'s value at `pts[i]`
/// (for instance each run's items drawn with replacement). Each resample is
/// refitted with the curve family `fit` chose (same weights); `None` unless
/// that is a sigmoid or broken power law with a threshold.
pub fn threshold_ci_from_resamples(
    fit: &MetricFit,
    opts: &EmergeOptions,
    pts: &[Point],
    samples: &[Vec<f64>],
) -> Option<[f64; 2]> {
    fit.threshold?;
    let u: Vec<f64> = pts.iter().map(|p| p.x.log10()).collect();
    let w = weights(pts);
    let mut t = Vec::with_capacity(samples.len());
    for y in samples {
        if y.len() != pts.len() {
            return None;
        }
        let v = match fit.best.as_str() {
            "sigmoid" => fit_sigmoid(opts, &u, y, &w).map(|(p, _)| p[0]),
            "broken" => fit_broken(opts, &u, y, &w).map(|(p, _)| p[3]),
            _ => return None,
        };
        t.extend(v);
    }
    crate::plan::percentile_ci95(&t).map(|[a, b]| [10f64.powf(a), 10f64.powf(b)])
}

/// Parametric bootstrap of a location on the log10 scale: `opts.bootstrap`
/// refits of `y` plus Gaussian noise of standard deviation 1/√w (seeded by
/// `opts.seed`); the 95% percentile interval of the refitted locations,
/// returned on the original scale.
fn parametric_ci(
    opts: &EmergeOptions,
    y: &[f64],
    w: &[f64],
    refit: impl Fn(&[f64]) -> Option<f64>,
) -> Option<[f64; 2]> {
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let mut locations = Vec::new();
    for _ in 0..opts.bootstrap {
        let yb: Vec<f64> = y
            .iter()
            .zip(w)
            .map(|(yi, wi)| yi + normal(&mut rng) / wi.sqrt())
            .collect();
        if let Some(loc) = refit(&yb) {
            locations.push(loc);
        }
    }
    crate::plan::percentile_ci95(&locations).map(|[a, b]| [10f64.powf(a), 10f64.powf(b)])
}

fn normal(rng: &mut ChaCha8Rng) -> f64 {
    use rand::Rng;
    let u1: f64 = rng.gen_range(f64::EPSILON..1.0);
    let u2: f64 = rng.gen();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// What a task's metrics say.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Neither metric moves beyond its noise.
    NoImprovement,
    /// The discrete metric improves smoothly (no sharp sigmoid).
    Smooth,
    /// Sharp in the discrete metric, smooth in the continuous one.
    MetricArtefact,
    /// Sharp in both: a candidate emergent ability.
    CandidateEmergence,
    /// Sharp in the discrete metric, no continuous metric to check it.
    SharpUnchecked,
}

impl Verdict {
    pub fn describe(self) -> &'static str {
        match self {
            Verdict::NoImprovement => "no improvement",
            Verdict::Smooth => "smooth improvement",
            Verdict::MetricArtefact => {
                "sharp in the discrete metric but smooth in the continuous one (metric artefact likely)"
            }
            Verdict::CandidateEmergence => "sharp in both metrics (candidate emergence)",
            Verdict::SharpUnchecked => "sharp in the discrete metric; no continuous metric to check it",
        }
    }
}

/// Whether a fit shows a sharp rise: the sigmoid wins and is narrower than
/// `sharp_decades`.
pub fn is_sharp(f: &MetricFit, opts: &EmergeOptions) -> bool {
    (f.best == "sigmoid" || f.best == "broken")
        && f.width_decades.is_some_and(|w| w < opts.sharp_decades)
}

/// The share of the per-token probability's total change (over the observed
/// scales) that happens where the discrete metric jumps: between the last
/// observed scale before the discrete curve's 10% point and the first one
/// after its 90% point ([`MetricFit::rise_window`]). Near 1 when both metrics jump together; small when p
/// climbed mostly before (or after) the jump, as it does when exact match of
/// an L-token answer is p^L of a gradually improving p. `None` unless the
/// discrete metric has a rise window (its best fit is a sigmoid or broken
/// power law with the threshold within the data) and there are two points
/// of p.
pub fn share_of_rise_at_jump(discrete: &MetricFit, per_token: &[Point]) -> Option<f64> {
    if per_token.len() < 2 {
        return None;
    }
    let [lo, hi] = discrete.rise_window?;
    let mut pts: Vec<(f64, f64)> = per_token.iter().map(|p| (p.x.log10(), p.y)).collect();
    pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    let n = pts.len();
    let i_lo = pts.iter().rposition(|p| p.0 <= lo).unwrap_or(0);
    let i_hi = pts
        .iter()
        .position(|p| p.0 >= hi)
        .unwrap_or(n - 1)
        .max((i_lo + 1).min(n - 1));
    let (min, max) = pts
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
            (a.min(p.1), b.max(p.1))
        });
    let range = max - min;
    (range > 0.0 && i_hi > i_lo).then(|| ((pts[i_hi].1 - pts[i_lo].1) / range).clamp(0.0, 1.0))
}

/// Whether the continuous metric of the same outputs improves smoothly
/// across scale, from two pieces of evidence, either of which suffices:
///
/// * `power_law_rmse`: the RMSE (natural-log scale) of a power law with
///   offset fitted to its cross-entropy; smooth when within `rmse_tol`;
/// * `share_at_jump` ([`share_of_rise_at_jump`]): the share of the per-token
///   probability's change that happens where the discrete metric jumps;
///   smooth when at most `max_share`, i.e. p improved mostly elsewhere.
///   This catches exact match behaving as p^L even where the cross-entropy,
///   falling towards zero as a task gets solved, follows no power law.
///
/// `None` when there is no evidence at all.
pub fn continuous_is_smooth(
    power_law_rmse: Option<f64>,
    rmse_tol: f64,
    share_at_jump: Option<f64>,
    max_share: f64,
) -> Option<bool> {
    let by_law = power_law_rmse.map(|r| r <= rmse_tol);
    let by_share = share_at_jump.map(|s| s <= max_share);
    match (by_law, by_share) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(false) || b.unwrap_or(false)),
    }
}

/// Combines the discrete metric's fit with what the continuous metric of
/// the same outputs says: `continuous_smooth` is `Some(true)` when it follows
/// a smooth law across scale (a power law with offset fits it within the
/// tolerance), `Some(false)` when it does not, `None` when there is none.
pub fn verdict(
    discrete: &MetricFit,
    opts: &EmergeOptions,
    continuous_smooth: Option<bool>,
    continuous_moves: bool,
) -> Verdict {
    let moves = discrete.best != "flat" && discrete.change_z > 2.0;
    if !moves && !continuous_moves {
        return Verdict::NoImprovement;
    }
    if !is_sharp(discrete, opts) {
        return Verdict::Smooth;
    }
    match continuous_smooth {
        None => Verdict::SharpUnchecked,
        Some(false) => Verdict::CandidateEmergence,
        Some(true) => Verdict::MetricArtefact,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_stage_recovers_a_metric_of_the_loss() {
        // accuracy = sigmoid in the loss; predicted at a lower loss
        let opts = EmergeOptions {
            bootstrap: 100,
            ..Default::default()
        };
        let acc = |l: f64| 1.0 / (1.0 + (6.0 * (l - 2.5)).exp());
        let pairs: Vec<(f64, Point)> = (0..10)
            .map(|i| {
                let l = 3.5 - 0.12 * i as f64;
                (
                    l,
                    Point {
                        x: 0.0,
                        y: acc(l),
                        se: Some(0.01),
                    },
                )
            })
            .collect();
        let (p, ci, _) = two_stage(&pairs, &opts, 2.2, &[2.15, 2.2, 2.25]).unwrap();
        assert!((p - acc(2.2)).abs() < 0.03, "{p} vs {}", acc(2.2));
        let [lo, hi] = ci.unwrap();
        assert!(lo < acc(2.2) && acc(2.2) < hi, "[{lo}, {hi}]");
        assert!(
            lo > acc(2.35) - 0.05 && hi < acc(2.05) + 0.05,
            "[{lo}, {hi}]"
        );
    }

    fn curve(mid: f64, k: f64, noise: f64, seed: u64) -> Vec<Point> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let opts = EmergeOptions::default();
        (0..12)
            .map(|i| {
                let u = 7.0 + 0.3 * i as f64;
                let y = sigmoid(&opts, &[mid, k.ln(), 6.0], u) + noise * normal(&mut rng);
                Point {
                    x: 10f64.powf(u),
                    y,
                    se: Some(noise.max(1e-3)),
                }
            })
            .collect()
    }

    #[test]
    fn exact_match_as_p_to_the_l_is_an_artefact_and_a_joint_jump_is_not() {
        let opts = EmergeOptions {
            bootstrap: 50,
            ..Default::default()
        };
        // per-token probability p: a gradual sigmoid in log10(scale)
        // (slope k per decade); exact match of 12 tokens: p^12.
        let pts = |k: f64, len: i32| -> (Vec<Point>, Vec<Point>) {
            let mut p = Vec::new();
            let mut em = Vec::new();
            for i in 0..12 {
                let u = 5.0 + 0.25 * i as f64;
                let x = 10f64.powf(u);
                let q = 1.0 / (1.0 + (-k * (u - 6.0)).exp());
                let se = Some(0.01);
                p.push(Point { x, y: q, se });
                em.push(Point {
                    x,
                    y: q.powi(len),
                    se,
                });
            }
            (p, em)
        };
        // gradual p (10-90% over 2.2 decades): exact match is sharp, p is not
        let (p, em) = pts(2.0, 12);
        let d = fit_metric(&em, &opts).unwrap();
        let c = fit_metric(&p, &opts).unwrap();
        assert!(is_sharp(&d, &opts), "{d:?}");
        assert!(!is_sharp(&c, &opts), "{c:?}");
        let share = share_of_rise_at_jump(&d, &p).unwrap();
        assert!(share < 0.3, "p rose mostly before exact match did: {share}");
        let smooth = continuous_is_smooth(None, 0.05, Some(share), 0.5);
        assert_eq!(smooth, Some(true));
        assert_eq!(verdict(&d, &opts, smooth, true), Verdict::MetricArtefact);
        // p itself jumps (10-90% over 0.2 decades): sharp in both
        let (p, em) = pts(20.0, 2);
        let d = fit_metric(&em, &opts).unwrap();
        let share = share_of_rise_at_jump(&d, &p).unwrap();
        assert!(share > 0.8, "p jumps where exact match does: {share}");
        let smooth = continuous_is_smooth(Some(1.0), 0.05, Some(share), 0.5);
        assert_eq!(smooth, Some(false), "{d:?}");
        assert_eq!(
            verdict(&d, &opts, smooth, true),
            Verdict::CandidateEmergence
        );
        // a power law that fits is enough on its own; no evidence is None
        assert_eq!(
            continuous_is_smooth(Some(0.01), 0.05, Some(share), 0.5),
            Some(true)
        );
        assert_eq!(continuous_is_smooth(None, 0.05, None, 0.5), None);
        // a flat discrete metric has no jump to look at
        let flat = fit_metric(
            &p.iter().map(|q| Point { y: 0.5, ..*q }).collect::<Vec<_>>(),
            &opts,
        )
        .unwrap();
        assert_eq!(share_of_rise_at_jump(&flat, &p), None);
    }

    #[test]
    fn broken_power_law_recovered_with_its_break() {
        // accuracy = 1 − shortfall; the shortfall is flat (α₁ = 0.02) below
        // a break at 10^7 and falls as x^−0.8 above it
        let opts = EmergeOptions {
            bootstrap: 50,
            ..Default::default()
        };
        let truth = [(0.95f64).ln(), 0.02, 0.8, 7.0];
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let pts: Vec<Point> = (0..16)
            .map(|i| {
                let u = 5.5 + 0.25 * i as f64;
                Point {
                    x: 10f64.powf(u),
                    y: broken_power_law(&opts, &truth, u) + 0.003 * normal(&mut rng),
                    se: Some(0.003),
                }
            })
            .collect();
        let f = fit_metric(&pts, &opts).unwrap();
        assert_eq!(f.best, "broken", "{f:?}");
        let b = f.threshold.unwrap().log10();
        assert!((b - 7.0).abs() < 0.15, "break at 10^{b}");
        let [lo, hi] = f.threshold_ci95.unwrap();
        assert!(lo.log10() < 7.1 && hi.log10() > 6.9, "[{lo:e}, {hi:e}]");
        let c = f.candidates.iter().find(|c| c.name == "broken").unwrap();
        assert!((c.params[2] - 0.8).abs() < 0.15, "{:?}", c.params);
        // the fitted curve goes through the data
        for p in &pts {
            let e = f.predict(&opts, p.x.log10()) - p.y;
            assert!(e.abs() < 0.015, "{e}");
        }
        // and its rise window lies after the break
        let [w0, w1] = f.rise_window.unwrap();
        assert!(w0 > 6.8 && w1 > w0, "{w0} {w1}");
    }

    #[test]
    fn threshold_recovered_without_and_with_noise() {
        let opts = EmergeOptions {
            bootstrap: 200,
            ..Default::default()
        };
        for (noise, tol) in [(0.0, 0.01), (0.02, 0.15)] {
            let f = fit_metric(&curve(8.5, 8.0, noise, 1), &opts).unwrap();
            assert_eq!(f.best, "sigmoid", "{f:?}");
            let t = f.threshold.unwrap().log10();
            assert!((t - 8.5).abs() < tol, "threshold 10^{t} (noise {noise})");
            let [lo, hi] = f.threshold_ci95.unwrap();
            assert!(
                lo.log10() <= 8.5 + tol && hi.log10() >= 8.5 - tol,
                "{lo} {hi}"
            );
            assert!(is_sharp(&f, &opts));
        }
    }

    #[test]
    fn linear_and_flat_are_told_apart_from_a_threshold() {
        let opts = EmergeOptions::default();
        let lin: Vec<Point> = (0..10)
            .map(|i| Point {
                x: 10f64.powf(6.0 + 0.4 * i as f64),
                y: 0.1 + 0.05 * i as f64,
                se: Some(0.01),
            })
            .collect();
        let f = fit_metric(&lin, &opts).unwrap();
        assert!(!is_sharp(&f, &opts), "{f:?}");
        let flat: Vec<Point> = (0..10)
            .map(|i| Point {
                x: 10f64.powf(6.0 + 0.4 * i as f64),
                y: 0.25 + if i % 2 == 0 { 0.004 } else { -0.004 },
                se: Some(0.01),
            })
            .collect();
        let f = fit_metric(&flat, &opts).unwrap();
        assert_eq!(
            verdict(&f, &opts, None, false),
            Verdict::NoImprovement,
            "{f:?}"
        );
        // a sharp discrete rise: artefact when the continuous metric is
        // smooth, candidate emergence when it is not
        let sharp = fit_metric(&curve(8.5, 8.0, 0.0, 2), &opts).unwrap();
        assert_eq!(
            verdict(&sharp, &opts, Some(true), true),
            Verdict::MetricArtefact
        );
        assert_eq!(
            verdict(&sharp, &opts, Some(false), true),
            Verdict::CandidateEmergence
        );
        assert_eq!(verdict(&sharp, &opts, None, false), Verdict::SharpUnchecked);
    }
}
