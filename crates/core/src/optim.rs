//! L-BFGS with a strong-Wolfe line search, kept apart from the problems it
//! solves (in the manner of argmin): a [`Problem`] gives a value and a
//! gradient, [`lbfgs`] minimises it and says why it stopped.
//!
//! Tolerances are deliberately strict. Scaling-law objectives are tiny (a
//! summed Huber loss with δ = 1e-3 is about 1e-3 at the optimum) and flat far
//! from it; default tolerances of general-purpose optimisers stop there with a
//! "success" (Besiroglu et al. 2024). Here the gradient test is
//! `‖g‖∞ ≤ gtol` with gtol = 1e-11 by default, and the function test needs
//! the relative decrease to stay below 1e-15 — machine precision — for five
//! consecutive iterations.

use serde::{Deserialize, Serialize};

/// Something to minimise.
pub trait Problem {
    /// Value at `x`; writes the gradient into `grad`.
    fn eval(&self, x: &[f64], grad: &mut [f64]) -> f64;
}

impl<F: Fn(&[f64], &mut [f64]) -> f64> Problem for F {
    fn eval(&self, x: &[f64], grad: &mut [f64]) -> f64 {
        self(x, grad)
    }
}

/// Settings of [`lbfgs`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LbfgsOptions {
    /// Number of correction pairs kept.
    pub memory: usize,
    /// Iteration limit; reaching it means "not converged".
    pub max_iter: usize,
    /// Stop when `‖∇f‖∞ ≤ gtol`.
    pub gtol: f64,
    /// Stop when the relative decrease stays below `ftol` for five iterations.
    pub ftol: f64,
}

impl Default for LbfgsOptions {
    fn default() -> Self {
        LbfgsOptions {
            memory: 10,
            max_iter: 2000,
            gtol: 1e-11,
            ftol: 1e-15,
        }
    }
}

/// Why the optimiser stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Termination {
    /// The gradient fell below `gtol`.
    Gradient,
    /// The objective stopped decreasing at machine precision.
    FunctionChange,
    /// No step along steepest descent decreases the objective any more, and
    /// the gradient is small: a minimum to working precision.
    Stalled,
    /// No step along steepest descent decreases the objective, and the
    /// gradient is not small.
    LineSearchFailed,
    /// The iteration limit was reached.
    MaxIterations,
    /// The objective or gradient is not finite at the start.
    NonFinite,
}

impl Termination {
    /// Whether the stop is a converged minimum.
    pub fn converged(self) -> bool {
        matches!(
            self,
            Termination::Gradient | Termination::FunctionChange | Termination::Stalled
        )
    }
}

/// Result of a minimisation.
#[derive(Clone, Debug, PartialEq)]
pub struct Minimum {
    pub x: Vec<f64>,
    pub f: f64,
    pub grad_inf_norm: f64,
    pub iterations: usize,
    pub evaluations: usize,
    pub termination: Termination,
}

impl Minimum {
    pub fn converged(&self) -> bool {
        self.termination.converged()
    }
}

#[inline(always)]
fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[inline(always)]
fn inf_norm(a: &[f64]) -> f64 {
    a.iter().fold(0.0, |m, v| m.max(v.abs()))
}

struct Evaluator<'a, P: Problem + ?Sized> {
    problem: &'a P,
    count: usize,
}

impl<P: Problem + ?Sized> Evaluator<'_, P> {
    fn eval(&mut self, x: &[f64], g: &mut [f64]) -> f64 {
        self.count += 1;
        let f = self.problem.eval(x, g);
        if f.is_finite() && g.iter().all(|v| v.is_finite()) {
            f
        } else {
            f64::INFINITY
        }
    }
}

struct Point {
    alpha: f64,
    f: f64,
    dphi: f64,
}

/// Strong-Wolfe line search (Nocedal & Wright, Algorithms 3.5 and 3.6).
/// Returns the accepted step and its value, with `x_new` and `g_new` holding
/// the accepted point and its gradient, or `None` when no decrease was found.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn line_search<P: Problem + ?Sized, const N: usize>(
    ev: &mut Evaluator<P>,
    x: &[f64],
    f0: f64,
    g0: &[f64],
    p: &[f64],
    alpha0: f64,
    x_new: &mut [f64],
    g_new: &mut [f64],
) -> Option<(f64, f64)> {
    const C1: f64 = 1e-4;
    const C2: f64 = 0.9;
    // with N given at compile time, slices of that length (loops unrolled)
    let n = if N > 0 { N } else { x.len() };
    let (x, g0, p) = (&x[..n], &g0[..n], &p[..n]);
    let (x_new, g_new) = (&mut x_new[..n], &mut g_new[..n]);
    let dphi0 = dot(g0, p);
    if dphi0 >= 0.0 {
        return None;
    }
    let mut try_step = |alpha: f64, x_new: &mut [f64], g_new: &mut [f64]| -> Point {
        for i in 0..n {
            x_new[i] = x[i] + alpha * p[i];
        }
        let f = ev.eval(x_new, g_new);
        let dphi = if f.is_finite() {
            dot(g_new, p)
        } else {
            f64::NAN
        };
        Point { alpha, f, dphi }
    };
    let mut prev = Point {
        alpha: 0.0,
        f: f0,
        dphi: dphi0,
    };
    let mut alpha = alpha0;
    let (mut lo, mut hi);
    let mut i = 0;
    loop {
        let cur = try_step(alpha, x_new, g_new);
        if !cur.f.is_finite() || cur.f > f0 + C1 * alpha * dphi0 || (i > 0 && cur.f >= prev.f) {
            lo = prev;
            hi = cur;
            break;
        }
        if cur.dphi.abs() <= -C2 * dphi0 {
            return Some((alpha, cur.f));
        }
        if cur.dphi >= 0.0 {
            lo = cur;
            hi = prev;
            break;
        }
        i += 1;
        if i >= 40 {
            // Still descending after many expansions: accept the last point.
            return Some((alpha, cur.f));
        }
        // Extrapolate: the secant root of the directional derivative,
        // between 2 and 10 times the current step (10 when the derivative is
        // not rising), so long nearly linear stretches take few evaluations.
        let next = if cur.dphi > prev.dphi {
            let root = alpha - cur.dphi * (alpha - prev.alpha) / (cur.dphi - prev.dphi);
            root.clamp(2.0 * alpha, 10.0 * alpha)
        } else {
            10.0 * alpha
        };
        prev = cur;
        alpha = next;
    }
    // zoom: lo satisfies sufficient decrease (or is the start), hi brackets.
    let mut flat = 0;
    // The objective is a sum of hundreds of positive terms: its rounding
    // error is tens of ulp of its value (differences of 10-40 ulp are seen
    // at minima), so changes below 64 ulp are not measurable.
    let flat_tol = 64.0 * f64::EPSILON * f0.abs();
    for _ in 0..60 {
        let (a, b) = (lo.alpha, hi.alpha);
        let mut trial = if hi.f.is_finite() && hi.dphi.is_finite() {
            // cubic interpolation between lo and hi
            let d1 = lo.dphi + hi.dphi - 3.0 * (lo.f - hi.f) / (a - b);
            let disc = d1 * d1 - lo.dphi * hi.dphi;
            if disc >= 0.0 {
                let d2 = disc.sqrt() * (b - a).signum();
                b - (b - a) * (hi.dphi + d2 - d1) / (hi.dphi - lo.dphi + 2.0 * d2)
            } else {
                0.5 * (a + b)
            }
        } else {
            0.5 * (a + b)
        };
        let (mn, mx) = (a.min(b), a.max(b));
        let margin = 0.1 * (mx - mn);
        // Safeguard: a trial outside the middle 80% of the interval is moved
        // to its edge, not to the midpoint, so a wildly long first step
        // (f up by orders of magnitude) shrinks tenfold per evaluation.
        trial = if trial.is_finite() {
            trial.clamp(mn + margin, mx - margin)
        } else {
            0.5 * (a + b)
        };
        if (mx - mn) * inf_norm(p) < 1e-16 * (1.0 + inf_norm(x)) {
            break;
        }
        let cur = try_step(trial, x_new, g_new);
        // At a minimum to working precision the objective no longer changes
        // measurably along p: stop searching (the caller then stalls).
        if cur.f.is_finite() && (cur.f - f0).abs() <= flat_tol {
            flat += 1;
            if flat >= 3 {
                break;
            }
        }
        if !cur.f.is_finite() || cur.f > f0 + C1 * trial * dphi0 || cur.f >= lo.f {
            hi = cur;
        } else {
            if cur.dphi.abs() <= -C2 * dphi0 {
                return Some((trial, cur.f));
            }
            if cur.dphi * (hi.alpha - lo.alpha) >= 0.0 {
                hi = lo;
            }
            lo = cur;
        }
    }
    // Interval exhausted: accept lo if it is a strict decrease.
    if lo.alpha > 0.0 && lo.f < f0 {
        let p_lo = try_step(lo.alpha, x_new, g_new);
        if p_lo.f < f0 {
            return Some((lo.alpha, p_lo.f));
        }
    }
    None
}

/// The correction pairs of L-BFGS, oldest first, in one flat ring buffer (no
/// allocation per iteration: the grid fit runs ~400,000 iterations).
struct Memory<const N: usize> {
    n: usize,
    cap: usize,
    start: usize,
    len: usize,
    s: Vec<f64>,
    y: Vec<f64>,
    rho: Vec<f64>,
}

impl<const N: usize> Memory<N> {
    /// The dimension: `N` when given at compile time (0 means not).
    #[inline(always)]
    fn dim(&self) -> usize {
        if N > 0 {
            N
        } else {
            self.n
        }
    }
    fn new(n: usize, cap: usize) -> Self {
        Memory {
            n,
            cap,
            start: 0,
            len: 0,
            s: vec![0.0; n * cap],
            y: vec![0.0; n * cap],
            rho: vec![0.0; cap],
        }
    }
    fn clear(&mut self) {
        self.start = 0;
        self.len = 0;
    }
    /// Physical slot of the `j`-th pair, oldest first.
    fn slot(&self, j: usize) -> usize {
        let k = self.start + j;
        if k >= self.cap {
            k - self.cap
        } else {
            k
        }
    }
    fn s(&self, j: usize) -> &[f64] {
        let n = self.dim();
        let k = self.slot(j) * n;
        &self.s[k..k + n]
    }
    fn y(&self, j: usize) -> &[f64] {
        let n = self.dim();
        let k = self.slot(j) * n;
        &self.y[k..k + n]
    }
    fn rho(&self, j: usize) -> f64 {
        self.rho[self.slot(j)]
    }
    /// Appends the pair with components `s(i)`, `y(i)` and ρ = 1/s'y,
    /// dropping the oldest when full.
    fn push(&mut self, s: impl Fn(usize) -> f64, y: impl Fn(usize) -> f64, rho: f64) {
        let slot = if self.len == self.cap {
            let slot = self.start;
            self.start = self.slot(1);
            slot
        } else {
            self.len += 1;
            self.slot(self.len - 1)
        };
        let n = self.dim();
        let k = slot * n;
        for i in 0..n {
            self.s[k + i] = s(i);
            self.y[k + i] = y(i);
        }
        self.rho[slot] = rho;
    }
}

/// Minimises `problem` from `x0` with L-BFGS.
pub fn lbfgs<P: Problem + ?Sized>(problem: &P, x0: &[f64], opts: &LbfgsOptions) -> Minimum {
    lbfgs_with_memory(problem, x0, opts, &[])
}

/// A correction pair `(s, y)`: a step and the change of the gradient along
/// it, the curvature information L-BFGS keeps.
pub type CorrectionPair = (Vec<f64>, Vec<f64>);

/// [`lbfgs`] with its memory seeded by correction pairs (oldest first; pairs
/// without positive curvature s'y are skipped), e.g. the curvature of a
/// closely related problem: the first step is then a quasi-Newton step
/// instead of a steepest-descent one. The pairs are replaced by the run's
/// own as it goes; the stopping rules are unchanged.
pub fn lbfgs_with_memory<P: Problem + ?Sized>(
    problem: &P,
    x0: &[f64],
    opts: &LbfgsOptions,
    seed: &[CorrectionPair],
) -> Minimum {
    // One copy per small dimension, so the compiler sees n as a constant and
    // unrolls the O(n) vector loops of the two-loop recursion, which run
    // hundreds of thousands of times in a grid fit (same arithmetic, same
    // order: results are identical to the generic copy).
    match x0.len() {
        2 => lbfgs_n::<P, 2>(problem, x0, opts, seed),
        3 => lbfgs_n::<P, 3>(problem, x0, opts, seed),
        4 => lbfgs_n::<P, 4>(problem, x0, opts, seed),
        5 => lbfgs_n::<P, 5>(problem, x0, opts, seed),
        6 => lbfgs_n::<P, 6>(problem, x0, opts, seed),
        _ => lbfgs_n::<P, 0>(problem, x0, opts, seed),
    }
}

/// [`lbfgs_with_memory`] for `N = x0.len()` parameters, or any number when
/// `N` is 0.
#[inline(always)]
fn lbfgs_n<P: Problem + ?Sized, const N: usize>(
    problem: &P,
    x0: &[f64],
    opts: &LbfgsOptions,
    seed: &[CorrectionPair],
) -> Minimum {
    let n = if N > 0 { N } else { x0.len() };
    let x0 = &x0[..n];
    let mut ev = Evaluator { problem, count: 0 };
    let mut x = x0.to_vec();
    let mut g = vec![0.0; n];
    let mut f = ev.eval(&x, &mut g);
    let finish = |x: Vec<f64>, f: f64, g: &[f64], it: usize, ev: usize, t: Termination| Minimum {
        x,
        f,
        grad_inf_norm: inf_norm(g),
        iterations: it,
        evaluations: ev,
        termination: t,
    };
    if !f.is_finite() {
        return finish(x, f, &g, 0, ev.count, Termination::NonFinite);
    }
    let m = opts.memory.max(1);
    let mut mem = Memory::<N>::new(n, m);
    for (sv, yv) in seed {
        assert_eq!(
            (sv.len(), yv.len()),
            (n, n),
            "correction pair of the wrong size"
        );
        let sy = dot(sv, yv);
        if sy > 0.0 && sy.is_finite() {
            mem.push(|i| sv[i], |i| yv[i], 1.0 / sy);
        }
    }
    let mut p = vec![0.0; n];
    let mut alpha_buf = vec![0.0; m];
    let mut x_new = vec![0.0; n];
    let mut g_new = vec![0.0; n];
    let mut small_steps = 0;
    for it in 0..opts.max_iter {
        if inf_norm(&g) <= opts.gtol {
            return finish(x, f, &g, it, ev.count, Termination::Gradient);
        }
        // two-loop recursion: p = −H g
        p.copy_from_slice(&g);
        let k = mem.len;
        for j in (0..k).rev() {
            let a = mem.rho(j) * dot(mem.s(j), &p);
            alpha_buf[j] = a;
            for (pi, yi) in p.iter_mut().zip(mem.y(j)) {
                *pi -= a * yi;
            }
        }
        let gamma = if k > 0 {
            dot(mem.s(k - 1), mem.y(k - 1)) / dot(mem.y(k - 1), mem.y(k - 1))
        } else {
            1.0 / inf_norm(&g).max(1e-300)
        };
        p.iter_mut().for_each(|v| *v *= gamma);
        for (j, &a) in alpha_buf.iter().enumerate().take(k) {
            let b = mem.rho(j) * dot(mem.y(j), &p);
            for (pi, si) in p.iter_mut().zip(mem.s(j)) {
                *pi += (a - b) * si;
            }
        }
        p.iter_mut().for_each(|v| *v = -*v);
        let mut step = line_search::<P, N>(&mut ev, &x, f, &g, &p, 1.0, &mut x_new, &mut g_new);
        if step.is_none() && k > 0 {
            // Curvature memory led astray: restart along steepest descent.
            mem.clear();
            // Scaled by the latest curvature estimate s'y/y'y (not to unit
            // length): near a minimum a unit step along -g/|g| is orders of
            // magnitude too long and costs dozens of halvings.
            for i in 0..n {
                p[i] = -g[i] * gamma;
            }
            step = line_search::<P, N>(&mut ev, &x, f, &g, &p, 1.0, &mut x_new, &mut g_new);
        }
        let Some((_alpha, f_new)) = step else {
            let small = inf_norm(&g) <= 1e-7 * (1.0 + f.abs());
            let t = if small {
                Termination::Stalled
            } else {
                Termination::LineSearchFailed
            };
            return finish(x, f, &g, it, ev.count, t);
        };
        // update memory
        let (mut sy, mut ss, mut yy) = (0.0, 0.0, 0.0);
        for i in 0..n {
            let (si, yi) = (x_new[i] - x[i], g_new[i] - g[i]);
            sy += si * yi;
            ss += si * si;
            yy += yi * yi;
        }
        if sy > 1e-12 * yy.sqrt() * ss.sqrt() && sy > 0.0 {
            mem.push(|i| x_new[i] - x[i], |i| g_new[i] - g[i], 1.0 / sy);
        }
        let decrease = f - f_new;
        x.copy_from_slice(&x_new);
        g.copy_from_slice(&g_new);
        let scale = f.abs().max(f_new.abs()).max(1e-300);
        f = f_new;
        if decrease <= opts.ftol * scale {
            small_steps += 1;
            if small_steps >= 5 {
                return finish(x, f, &g, it + 1, ev.count, Termination::FunctionChange);
            }
        } else {
            small_steps = 0;
        }
    }
    let it = opts.max_iter;
    let t = if inf_norm(&g) <= opts.gtol {
        Termination::Gradient
    } else {
        Termination::MaxIterations
    };
    finish(x, f, &g, it, ev.count, t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rosenbrock_converges_tightly() {
        let rosen = |x: &[f64], g: &mut [f64]| {
            let (a, b) = (x[0], x[1]);
            g[0] = -2.0 * (1.0 - a) - 400.0 * a * (b - a * a);
            g[1] = 200.0 * (b - a * a);
            (1.0 - a).powi(2) + 100.0 * (b - a * a).powi(2)
        };
        let m = lbfgs(&rosen, &[-1.2, 1.0], &LbfgsOptions::default());
        assert!(m.converged(), "{m:?}");
        assert!(
            (m.x[0] - 1.0).abs() < 1e-8 && (m.x[1] - 1.0).abs() < 1e-8,
            "{m:?}"
        );
    }

    #[test]
    fn iteration_limit_is_reported_as_not_converged() {
        let rosen = |x: &[f64], g: &mut [f64]| {
            let (a, b) = (x[0], x[1]);
            g[0] = -2.0 * (1.0 - a) - 400.0 * a * (b - a * a);
            g[1] = 200.0 * (b - a * a);
            (1.0 - a).powi(2) + 100.0 * (b - a * a).powi(2)
        };
        let opts = LbfgsOptions {
            max_iter: 3,
            ..Default::default()
        };
        let m = lbfgs(&rosen, &[-1.2, 1.0], &opts);
        assert_eq!(m.termination, Termination::MaxIterations);
        assert!(!m.converged());
    }

    #[test]
    fn seeded_memory_gives_quasi_newton_first_steps() {
        // an ill-conditioned quadratic: with its exact curvature as seed
        // pairs the first step is a Newton step
        let h = [1.0, 1e4, 30.0];
        let quad = |x: &[f64], g: &mut [f64]| {
            let mut f = 0.0;
            for i in 0..3 {
                g[i] = h[i] * (x[i] - 1.0);
                f += 0.5 * h[i] * (x[i] - 1.0).powi(2);
            }
            f
        };
        let x0 = [3.0, -2.0, 0.5];
        let opts = LbfgsOptions::default();
        let cold = lbfgs(&quad, &x0, &opts);
        let mut seed: Vec<CorrectionPair> = (0..3)
            .map(|i| {
                let mut s = vec![0.0; 3];
                let mut y = vec![0.0; 3];
                s[i] = 1.0;
                y[i] = h[i];
                (s, y)
            })
            .collect();
        // a pair without positive curvature is skipped
        seed.insert(0, (vec![1.0, 0.0, 0.0], vec![-1.0, 0.0, 0.0]));
        let warm = lbfgs_with_memory(&quad, &x0, &opts, &seed);
        assert!(cold.converged() && warm.converged(), "{cold:?} {warm:?}");
        assert!(warm.x.iter().all(|v| (v - 1.0).abs() < 1e-10), "{warm:?}");
        assert!(warm.evaluations < cold.evaluations, "{warm:?} {cold:?}");
    }

    #[test]
    fn fixed_dimension_copies_match_the_generic_one_bit_for_bit() {
        // a coupled, ill-conditioned 5-parameter problem:
        // f = Σ r_i² + 0.01 x_i⁴, r_i = (1 + 10i)(x_i − 1) + 0.3 x_{i+1}²
        let r = |x: &[f64], i: usize| {
            (1.0 + 10.0 * i as f64) * (x[i] - 1.0) + 0.3 * x[(i + 1) % 5].powi(2)
        };
        let f = |x: &[f64], g: &mut [f64]| {
            let mut v = 0.0;
            for (i, gi) in g.iter_mut().enumerate().take(5) {
                v += r(x, i).powi(2) + 0.01 * x[i].powi(4);
                let prev = (i + 4) % 5;
                *gi = 2.0 * r(x, i) * (1.0 + 10.0 * i as f64)
                    + 2.0 * r(x, prev) * 0.6 * x[i]
                    + 0.04 * x[i].powi(3);
            }
            v
        };
        let x0 = [3.0, -2.0, 0.5, 4.0, -1.0];
        let opts = LbfgsOptions::default();
        let fixed = lbfgs_n::<_, 5>(&f, &x0, &opts, &[]);
        let generic = lbfgs_n::<_, 0>(&f, &x0, &opts, &[]);
        assert!(fixed.converged(), "{fixed:?}");
        assert!(fixed.iterations > 10, "{fixed:?}");
        assert_eq!(fixed.f.to_bits(), generic.f.to_bits());
        assert_eq!(fixed.evaluations, generic.evaluations);
        assert_eq!(
            fixed.x.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            generic.x.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
    }

    #[test]
    fn non_finite_start_is_reported() {
        let f = |_: &[f64], g: &mut [f64]| {
            g[0] = 0.0;
            f64::NAN
        };
        let m = lbfgs(&f, &[0.0], &LbfgsOptions::default());
        assert_eq!(m.termination, Termination::NonFinite);
    }
}
