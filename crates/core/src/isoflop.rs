//! Compute-optimal exponents from runs, the way Hoffmann et al. (2022) did it.
//!
//! * **Approach 1** (loss curves): at each compute budget, the lowest loss any
//!   run reaches (the lower envelope of loss against FLOPs, interpolated
//!   log-log along each run's curve) and the N and D of the run that reaches
//!   it; then `N* ∝ C^a` and `D* ∝ C^b` by least squares in log space.
//! * **Approach 2** (IsoFLOP profiles): per budget, a parabola of loss against
//!   `ln N` fitted to the points around the lowest one; its vertex is `N*`,
//!   and `D*` follows from the budget's own (N, D) relation (a straight line of
//!   `ln D` against `ln N`, exact for `C = 6ND`). Then the same power laws.
//! * **Approach 3** (a fitted parametric law) lives in [`crate::plan`]; this
//!   module only compares the three.
//!
//! Intervals come from a seeded bootstrap: for Approach 2 the runs are
//! resampled within each budget and the whole analysis is repeated; for
//! Approach 1 the envelope points are resampled (pairs bootstrap of the
//! regression).

use crate::data::Observations;
use crate::plan::percentile_ci95;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Options of the IsoFLOP analysis.
#[derive(Clone, Debug, PartialEq)]
pub struct IsoflopOptions {
    /// Approach 2 fits its parabola to the runs whose N is within this factor
    /// of the lowest-loss run's N (`f64::INFINITY`: every run of the budget).
    /// At least three runs nearest the minimum are always used.
    pub window: f64,
    /// Bootstrap replicates for the intervals (0: no intervals).
    pub bootstrap: usize,
    /// Seed of the bootstrap.
    pub seed: u64,
    /// Budgets whose FLOPs agree to this relative tolerance are one budget.
    pub budget_rel_tol: f64,
}

impl Default for IsoflopOptions {
    fn default() -> Self {
        IsoflopOptions {
            window: 4.0,
            bootstrap: 1000,
            seed: 0,
            budget_rel_tol: 1e-6,
        }
    }
}

/// How many reasons an error message lists before it counts the rest.
pub const MAX_REASONS: usize = 5;

/// Why the analysis cannot run.
#[derive(Clone, Debug, PartialEq)]
pub enum IsoflopError {
    /// Every run has the same FLOP budget.
    SingleBudget { flops: f64, runs: usize },
    /// There are no runs at all.
    NoRuns,
    /// Too few budgets gave an optimum.
    TooFewOptima {
        approach: &'static str,
        usable: usize,
        reasons: Vec<String>,
    },
    /// The option values are invalid.
    BadOption(String),
}

impl std::fmt::Display for IsoflopError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IsoflopError::SingleBudget { flops, runs } => write!(
                f,
                "all {runs} runs have the same FLOP budget ({flops:e}); an IsoFLOP analysis \
                 needs runs at two or more budgets (ideally 4+ spanning 1.5 decades), each \
                 with several model sizes"
            ),
            IsoflopError::NoRuns => write!(f, "no runs to analyse"),
            IsoflopError::TooFewOptima {
                approach,
                usable,
                reasons,
            } => {
                write!(
                    f,
                    "{approach}: only {usable} budget(s) gave a usable optimum (2 needed)"
                )?;
                // A table whose every run is its own budget has thousands of
                // reasons: show the first few, count the rest.
                for r in reasons.iter().take(MAX_REASONS) {
                    write!(f, "; {r}")?;
                }
                if reasons.len() > MAX_REASONS {
                    write!(f, "; … and {} more", reasons.len() - MAX_REASONS)?;
                }
                Ok(())
            }
            IsoflopError::BadOption(m) => write!(f, "{m}"),
        }
    }
}

impl std::error::Error for IsoflopError {}

/// A fitted power law `y = k · C^e` with its exponent's interval.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PowerFit {
    pub exponent: f64,
    /// `ln k`.
    pub ln_coef: f64,
    pub ci95: Option<[f64; 2]>,
}

/// The exponents `a` (`N* ∝ C^a`) and `b` (`D* ∝ C^b`) of one approach.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Exponents {
    pub a: f64,
    pub b: f64,
    pub a_ci95: Option<[f64; 2]>,
    pub b_ci95: Option<[f64; 2]>,
    /// `ln` of the coefficients: `N* = exp(ln_n0)·C^a`, `D* = exp(ln_d0)·C^b`.
    pub ln_n0: f64,
    pub ln_d0: f64,
    /// Bootstrap replicates that gave an estimate.
    pub bootstrap_ok: usize,
}

impl Exponents {
    /// `N*` predicted at `flops`.
    pub fn n_at(&self, flops: f64) -> f64 {
        (self.ln_n0 + self.a * flops.ln()).exp()
    }
    /// `D*` predicted at `flops`.
    pub fn d_at(&self, flops: f64) -> f64 {
        (self.ln_d0 + self.b * flops.ln()).exp()
    }
}

/// The optimum of one budget (Approach 2).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BudgetOptimum {
    pub flops: f64,
    pub n_opt: f64,
    pub d_opt: f64,
    /// The parabola's value at its vertex.
    pub loss_opt: f64,
    /// Runs at this budget, and runs the parabola was fitted to.
    pub n_runs: usize,
    pub n_used: usize,
    /// Curvature of loss in `ln N` (`d²L/d(ln N)²`).
    pub curvature: f64,
}

/// A budget that gave no optimum, and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SkippedBudget {
    pub flops: f64,
    pub reason: String,
}

/// Approach 2 results.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Approach2 {
    pub optima: Vec<BudgetOptimum>,
    pub skipped: Vec<SkippedBudget>,
    pub exponents: Exponents,
}

/// One point of the lower envelope (Approach 1).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EnvelopePoint {
    pub flops: f64,
    pub n: f64,
    pub d: f64,
    pub loss: f64,
    /// Index of the run (in the order of first appearance) that reaches it.
    pub run: usize,
    /// Runs whose curve covers this budget.
    pub candidates: usize,
}

/// Approach 1 results.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Approach1 {
    pub envelope: Vec<EnvelopePoint>,
    pub exponents: Exponents,
}

/// Groups run indices by FLOP budget (relative tolerance), budgets ascending.
pub fn group_budgets(obs: &Observations, rel_tol: f64) -> Vec<(f64, Vec<usize>)> {
    group_values(&obs.c, rel_tol)
}

/// [`group_budgets`] on any column of FLOPs (say a design's budgets):
/// indices grouped by value within a relative tolerance, groups ascending,
/// each reported as its median member's value.
pub fn group_values(c: &[f64], rel_tol: f64) -> Vec<(f64, Vec<usize>)> {
    let mut idx: Vec<usize> = (0..c.len()).collect();
    idx.sort_by(|&i, &j| c[i].total_cmp(&c[j]));
    let mut out: Vec<(f64, Vec<usize>)> = Vec::new();
    for i in idx {
        match out.last_mut() {
            Some((c0, members)) if (c[i] / *c0 - 1.0).abs() <= rel_tol => members.push(i),
            _ => out.push((c[i], vec![i])),
        }
    }
    // Report each budget as its median member's FLOPs (exact when all agree).
    for (v, members) in &mut out {
        *v = c[members[members.len() / 2]];
    }
    out
}

/// Weighted-free least squares of `y` on a polynomial in `x` of degree
/// `deg` (1 or 2); returns the coefficients lowest degree first.
pub(crate) fn polyfit(x: &[f64], y: &[f64], deg: usize) -> Option<Vec<f64>> {
    let k = deg + 1;
    let mut ata = vec![0.0; k * k];
    let mut aty = vec![0.0; k];
    for (&xi, &yi) in x.iter().zip(y) {
        let mut pw = vec![1.0; k];
        for j in 1..k {
            pw[j] = pw[j - 1] * xi;
        }
        for r in 0..k {
            aty[r] += pw[r] * yi;
            for c in 0..k {
                ata[r * k + c] += pw[r] * pw[c];
            }
        }
    }
    solve(&mut ata, &mut aty, k)
}

/// Gaussian elimination with partial pivoting on a small dense system.
fn solve(a: &mut [f64], b: &mut [f64], k: usize) -> Option<Vec<f64>> {
    let scale = a.iter().fold(0.0_f64, |m, v| m.max(v.abs())).max(1e-300);
    for col in 0..k {
        let piv =
            (col..k).max_by(|&i, &j| a[i * k + col].abs().total_cmp(&a[j * k + col].abs()))?;
        if a[piv * k + col].abs() <= 1e-12 * scale {
            return None;
        }
        if piv != col {
            for c in 0..k {
                a.swap(piv * k + c, col * k + c);
            }
            b.swap(piv, col);
        }
        for r in col + 1..k {
            let f = a[r * k + col] / a[col * k + col];
            for c in col..k {
                a[r * k + c] -= f * a[col * k + c];
            }
            b[r] -= f * b[col];
        }
    }
    let mut x = vec![0.0; k];
    for r in (0..k).rev() {
        let s: f64 = (r + 1..k).map(|c| a[r * k + c] * x[c]).sum();
        x[r] = (b[r] - s) / a[r * k + r];
    }
    Some(x)
}

/// Ordinary least squares line `y = c0 + c1·x`; `None` when x is constant.
pub fn fit_line(x: &[f64], y: &[f64]) -> Option<(f64, f64)> {
    if x.len() < 2 {
        return None;
    }
    let n = x.len() as f64;
    let mx = x.iter().sum::<f64>() / n;
    let my = y.iter().sum::<f64>() / n;
    let sxx: f64 = x.iter().map(|v| (v - mx) * (v - mx)).sum();
    if sxx <= 1e-12 * (1.0 + mx * mx) {
        return None;
    }
    let sxy: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let slope = sxy / sxx;
    Some((my - slope * mx, slope))
}

/// The Approach 2 optimum of one budget from the runs `members`.
fn budget_optimum(
    obs: &Observations,
    flops: f64,
    members: &[usize],
    window: f64,
) -> Result<BudgetOptimum, String> {
    let mut distinct: Vec<f64> = members.iter().map(|&i| obs.ln_n[i]).collect();
    distinct.sort_by(|a, b| a.total_cmp(b));
    distinct.dedup_by(|a, b| (*a - *b).abs() < 1e-12);
    if distinct.len() < 3 {
        return Err(format!(
            "{} distinct model size(s); a parabola needs 3",
            distinct.len()
        ));
    }
    let best = *members
        .iter()
        .min_by(|&&i, &&j| obs.loss[i].total_cmp(&obs.loss[j]))
        .expect("members is not empty");
    let x_best = obs.ln_n[best];
    if (x_best - distinct[0]).abs() < 1e-12 || (x_best - distinct[distinct.len() - 1]).abs() < 1e-12
    {
        let edge = if (x_best - distinct[0]).abs() < 1e-12 {
            "smallest"
        } else {
            "largest"
        };
        return Err(format!(
            "the lowest loss is at the {edge} model size, so the optimum is not bracketed"
        ));
    }
    // Runs within the window; at least the three distinct sizes nearest the best.
    let half = if window.is_finite() {
        window.ln()
    } else {
        f64::INFINITY
    };
    let mut by_dist: Vec<f64> = distinct.iter().map(|x| (x - x_best).abs()).collect();
    by_dist.sort_by(|a, b| a.total_cmp(b));
    let reach = half.max(by_dist[2]) + 1e-12;
    let used: Vec<usize> = members
        .iter()
        .copied()
        .filter(|&i| (obs.ln_n[i] - x_best).abs() <= reach)
        .collect();
    let x: Vec<f64> = used.iter().map(|&i| obs.ln_n[i] - x_best).collect();
    let y: Vec<f64> = used.iter().map(|&i| obs.loss[i]).collect();
    let p = polyfit(&x, &y, 2).ok_or("the sizes are degenerate")?;
    if p[2].is_nan() || p[2] <= 0.0 {
        return Err("the fitted parabola is not convex".into());
    }
    let xv = -p[1] / (2.0 * p[2]);
    let (lo, hi) = x
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &v| {
            (l.min(v), h.max(v))
        });
    if !(xv >= lo && xv <= hi) {
        return Err("the parabola's vertex lies outside the sizes fitted".into());
    }
    let loss_opt = p[0] + p[1] * xv + p[2] * xv * xv;
    let ln_n_opt = xv + x_best;
    // ln D against ln N within the budget (exact for C = 6ND).
    let ld: Vec<f64> = used.iter().map(|&i| obs.ln_d[i]).collect();
    let xn: Vec<f64> = used.iter().map(|&i| obs.ln_n[i]).collect();
    let (c0, c1) = fit_line(&xn, &ld).ok_or("the sizes are degenerate")?;
    Ok(BudgetOptimum {
        flops,
        n_opt: ln_n_opt.exp(),
        d_opt: (c0 + c1 * ln_n_opt).exp(),
        loss_opt,
        n_runs: members.len(),
        n_used: used.len(),
        curvature: 2.0 * p[2],
    })
}

fn exponents_from(points: &[(f64, f64, f64)]) -> Option<(f64, f64, f64, f64)> {
    let lc: Vec<f64> = points.iter().map(|p| p.0.ln()).collect();
    let ln: Vec<f64> = points.iter().map(|p| p.1.ln()).collect();
    let ld: Vec<f64> = points.iter().map(|p| p.2.ln()).collect();
    let (n0, a) = fit_line(&lc, &ln)?;
    let (d0, b) = fit_line(&lc, &ld)?;
    Some((a, b, n0, d0))
}

fn check(
    obs: &Observations,
    opts: &IsoflopOptions,
) -> Result<Vec<(f64, Vec<usize>)>, IsoflopError> {
    if obs.is_empty() {
        return Err(IsoflopError::NoRuns);
    }
    if opts.window.is_nan() || opts.window <= 1.0 {
        return Err(IsoflopError::BadOption(format!(
            "the window must be a factor greater than 1, got {}",
            opts.window
        )));
    }
    let budgets = group_budgets(obs, opts.budget_rel_tol);
    if budgets.len() < 2 {
        return Err(IsoflopError::SingleBudget {
            flops: budgets[0].0,
            runs: obs.len(),
        });
    }
    Ok(budgets)
}

/// Approach 2: IsoFLOP profiles.
pub fn approach2(obs: &Observations, opts: &IsoflopOptions) -> Result<Approach2, IsoflopError> {
    let budgets = check(obs, opts)?;
    let mut optima = Vec::new();
    let mut skipped = Vec::new();
    for (c, members) in &budgets {
        match budget_optimum(obs, *c, members, opts.window) {
            Ok(o) => optima.push(o),
            Err(reason) => skipped.push(SkippedBudget { flops: *c, reason }),
        }
    }
    let pts: Vec<(f64, f64, f64)> = optima.iter().map(|o| (o.flops, o.n_opt, o.d_opt)).collect();
    let too_few = |usable: usize, skipped: &[SkippedBudget]| IsoflopError::TooFewOptima {
        approach: "Approach 2",
        usable,
        reasons: skipped
            .iter()
            .map(|s| format!("budget {:.3e}: {}", s.flops, s.reason))
            .collect(),
    };
    if pts.len() < 2 {
        return Err(too_few(pts.len(), &skipped));
    }
    let (a, b, n0, d0) = exponents_from(&pts).ok_or_else(|| too_few(pts.len(), &skipped))?;

    // Bootstrap: resample runs within each budget.
    let mut a_draws = Vec::with_capacity(opts.bootstrap);
    let mut b_draws = Vec::with_capacity(opts.bootstrap);
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    for _ in 0..opts.bootstrap {
        let mut pts = Vec::with_capacity(budgets.len());
        for (c, members) in &budgets {
            let resampled: Vec<usize> = (0..members.len())
                .map(|_| members[rng.gen_range(0..members.len())])
                .collect();
            if let Ok(o) = budget_optimum(obs, *c, &resampled, opts.window) {
                pts.push((o.flops, o.n_opt, o.d_opt));
            }
        }
        if pts.len() >= 2 {
            if let Some((a, b, _, _)) = exponents_from(&pts) {
                a_draws.push(a);
                b_draws.push(b);
            }
        }
    }
    Ok(Approach2 {
        optima,
        skipped,
        exponents: Exponents {
            a,
            b,
            a_ci95: percentile_ci95(&a_draws),
            b_ci95: percentile_ci95(&b_draws),
            ln_n0: n0,
            ln_d0: d0,
            bootstrap_ok: a_draws.len(),
        },
    })
}

/// Approach 1: the lower envelope of loss curves.
///
/// `run_of[i]` says which run (loss curve) observation `i` belongs to. The
/// envelope is evaluated at every distinct budget of the table (or, when
/// there are more than 200, at 100 log-spaced budgets), using each run whose
/// curve covers that budget, interpolated linearly in (ln C, ln L) and
/// (ln C, ln D); at least two runs must cover a budget for it to count.
pub fn approach1(
    obs: &Observations,
    run_of: &[usize],
    opts: &IsoflopOptions,
) -> Result<Approach1, IsoflopError> {
    let budgets = check(obs, opts)?;
    assert_eq!(run_of.len(), obs.len(), "one run id per observation");
    // Curves: per run, points sorted by ln C.
    let n_runs = run_of.iter().copied().max().map_or(0, |m| m + 1);
    let mut curves: Vec<Vec<usize>> = vec![Vec::new(); n_runs];
    for (i, &r) in run_of.iter().enumerate() {
        curves[r].push(i);
    }
    for cv in &mut curves {
        cv.sort_by(|&i, &j| obs.ln_c[i].total_cmp(&obs.ln_c[j]));
    }
    let grid: Vec<f64> = if budgets.len() <= 200 {
        budgets.iter().map(|b| b.0.ln()).collect()
    } else {
        let (lo, hi) = (budgets[0].0.ln(), budgets[budgets.len() - 1].0.ln());
        (0..100).map(|k| lo + (hi - lo) * k as f64 / 99.0).collect()
    };
    let tol = opts.budget_rel_tol.max(1e-12);
    let mut envelope = Vec::new();
    for &lc in &grid {
        let mut best: Option<(f64, f64, f64, usize)> = None;
        let mut candidates = 0;
        for (r, cv) in curves.iter().enumerate() {
            if cv.is_empty() {
                continue;
            }
            let first = obs.ln_c[cv[0]];
            let last = obs.ln_c[cv[cv.len() - 1]];
            if lc < first - tol || lc > last + tol {
                continue;
            }
            // Locate the segment and interpolate.
            let (ll, ld, ln_n) = interpolate(obs, cv, lc);
            candidates += 1;
            if best.is_none_or(|b| ll < b.0) {
                best = Some((ll, ld, ln_n, r));
            }
        }
        if let (Some((ll, ld, ln_n, r)), true) = (best, candidates >= 2) {
            envelope.push(EnvelopePoint {
                flops: lc.exp(),
                n: ln_n.exp(),
                d: ld.exp(),
                loss: ll.exp(),
                run: r,
                candidates,
            });
        }
    }
    let pts: Vec<(f64, f64, f64)> = envelope.iter().map(|p| (p.flops, p.n, p.d)).collect();
    let too_few = IsoflopError::TooFewOptima {
        approach: "Approach 1",
        usable: pts.len(),
        reasons: vec!["the envelope needs budgets covered by at least two runs".into()],
    };
    if pts.len() < 2 {
        return Err(too_few);
    }
    let Some((a, b, n0, d0)) = exponents_from(&pts) else {
        return Err(too_few);
    };
    let mut a_draws = Vec::new();
    let mut b_draws = Vec::new();
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed ^ 0xA1);
    for _ in 0..opts.bootstrap {
        let res: Vec<(f64, f64, f64)> = (0..pts.len())
            .map(|_| pts[rng.gen_range(0..pts.len())])
            .collect();
        if let Some((a, b, _, _)) = exponents_from(&res) {
            a_draws.push(a);
            b_draws.push(b);
        }
    }
    Ok(Approach1 {
        envelope,
        exponents: Exponents {
            a,
            b,
            a_ci95: percentile_ci95(&a_draws),
            b_ci95: percentile_ci95(&b_draws),
            ln_n0: n0,
            ln_d0: d0,
            bootstrap_ok: a_draws.len(),
        },
    })
}

/// `(ln L, ln D, ln N)` of a curve at `lc`, interpolated linearly in `ln C`.
fn interpolate(obs: &Observations, cv: &[usize], lc: f64) -> (f64, f64, f64) {
    let at = |i: usize| (obs.ln_loss[i], obs.ln_d[i], obs.ln_n[i]);
    if cv.len() == 1 || lc <= obs.ln_c[cv[0]] {
        return at(cv[0]);
    }
    for w in cv.windows(2) {
        let (x0, x1) = (obs.ln_c[w[0]], obs.ln_c[w[1]]);
        if lc <= x1 {
            if x1 - x0 <= 0.0 {
                return at(w[1]);
            }
            let t = (lc - x0) / (x1 - x0);
            let (a, b) = (at(w[0]), at(w[1]));
            return (
                a.0 + t * (b.0 - a.0),
                a.1 + t * (b.1 - a.1),
                a.2 + t * (b.2 - a.2),
            );
        }
    }
    at(cv[cv.len() - 1])
}

/// Run ids from a key per observation (equal keys: same run), numbered in
/// order of first appearance.
pub fn run_ids<K: PartialEq + Clone>(keys: &[K]) -> Vec<usize> {
    let mut seen: Vec<K> = Vec::new();
    keys.iter()
        .map(|k| match seen.iter().position(|s| s == k) {
            Some(p) => p,
            None => {
                seen.push(k.clone());
                seen.len() - 1
            }
        })
        .collect()
}

/// Run ids when runs are identified by their parameter count.
pub fn run_ids_by_size(obs: &Observations) -> Vec<usize> {
    let keys: Vec<u64> = obs.n.iter().map(|n| n.to_bits()).collect();
    run_ids(&keys)
}

/// Warnings when approaches disagree: for each pair whose exponent `a`
/// intervals do not overlap (or, without intervals, differ by more than 0.05).
pub fn disagreements(named: &[(&str, &Exponents)]) -> Vec<String> {
    let mut out = Vec::new();
    for i in 0..named.len() {
        for j in i + 1..named.len() {
            let (ni, ei) = named[i];
            let (nj, ej) = named[j];
            for (sym, vi, ci, vj, cj) in [
                ("a", ei.a, ei.a_ci95, ej.a, ej.a_ci95),
                ("b", ei.b, ei.b_ci95, ej.b, ej.b_ci95),
            ] {
                let differ = match (ci, cj) {
                    (Some(x), Some(y)) => x[1] < y[0] || y[1] < x[0],
                    _ => (vi - vj).abs() > 0.05,
                };
                if differ {
                    let show = |v: f64, c: Option<[f64; 2]>| match c {
                        Some(c) => format!("{v:.3} [{:.3}, {:.3}]", c[0], c[1]),
                        None => format!("{v:.3}"),
                    };
                    out.push(format!(
                        "{ni} and {nj} disagree on {sym}: {} vs {} ({})",
                        show(vi, ci),
                        show(vj, cj),
                        if ci.is_some() && cj.is_some() {
                            "95% intervals do not overlap"
                        } else {
                            "differ by more than 0.05"
                        }
                    ));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs on an IsoFLOP grid from a Chinchilla law (C = 6ND), exact.
    fn synthetic(a_true: f64) -> Observations {
        // Choose alpha, beta with beta/(alpha+beta) = a_true.
        let alpha = 0.34;
        let beta = alpha * a_true / (1.0 - a_true);
        let (e, a, b) = (1.8, 400.0, 2000.0);
        let (mut n, mut d, mut l) = (vec![], vec![], vec![]);
        for k in 0..6 {
            let c = 1e18 * 4f64.powi(k);
            let g = (alpha * a / (beta * b)).powf(1.0 / (alpha + beta));
            let nopt = g * (c / 6.0).powf(a_true);
            for j in -4..=4 {
                let ni = nopt * 2f64.powf(j as f64 * 0.5);
                let di = c / (6.0 * ni);
                n.push(ni);
                d.push(di);
                l.push(e + a * ni.powf(-alpha) + b * di.powf(-beta));
            }
        }
        Observations::from_nd(n, d, l).unwrap()
    }

    #[test]
    fn approach2_recovers_the_exponent() {
        for a_true in [0.5, 0.7] {
            let obs = synthetic(a_true);
            let r = approach2(&obs, &IsoflopOptions::default()).unwrap();
            assert_eq!(r.optima.len(), 6);
            assert!((r.exponents.a - a_true).abs() < 0.01, "{}", r.exponents.a);
            assert!((r.exponents.a + r.exponents.b - 1.0).abs() < 1e-9);
        }
    }

    #[test]
    fn single_budget_is_an_error() {
        let obs = Observations::from_nd(
            vec![1e6, 2e6, 4e6],
            vec![4e6, 2e6, 1e6],
            vec![3.0, 2.9, 3.1],
        )
        .unwrap();
        let err = approach2(&obs, &IsoflopOptions::default()).unwrap_err();
        assert!(err.to_string().contains("same FLOP budget"), "{err}");
    }

    #[test]
    fn too_few_optima_lists_five_reasons_and_counts_the_rest() {
        let e = IsoflopError::TooFewOptima {
            approach: "Approach 2",
            usable: 0,
            reasons: (0..40).map(|k| format!("budget {k}: one size")).collect(),
        };
        let m = e.to_string();
        assert!(m.contains("budget 4:") && !m.contains("budget 5:"), "{m}");
        assert!(m.ends_with("… and 35 more"), "{m}");
    }

    #[test]
    fn approach1_on_grid_tracks_the_minimum() {
        let obs = synthetic(0.5);
        let ids = run_ids_by_size(&obs);
        let r = approach1(&obs, &ids, &IsoflopOptions::default()).unwrap();
        assert_eq!(r.envelope.len(), 6);
        assert!((r.exponents.a - 0.5).abs() < 0.1, "{}", r.exponents.a);
    }
}
