//! Scaling-law forms behind one trait.
//!
//! A [`Law`] predicts the loss of a run from its covariates (N, D, C). It is
//! written in two parametrisations:
//!
//! * **natural** parameters, the ones people quote (`E`, `A`, `alpha`, …), used
//!   in reports, JSON and [`Law::predict`];
//! * **raw** parameters, unconstrained and well scaled for the optimiser
//!   (logarithms of the positive coefficients, exponents as they are), used by
//!   [`Law::log_predict`] which returns `ln L̂` and its gradient.
//!
//! Everything is evaluated on the log scale with a stable log-sum-exp, e.g.
//! for Chinchilla `ln L̂ = LSE(a − α ln N, b − β ln D, e)`.
//!
//! To add a law: implement [`Law`] (and, if some parameters enter linearly,
//! the variable-projection hooks), then list it in [`law_by_name`].

mod broken;
mod chinchilla;
mod data_constrained;
mod kaplan;
mod power;

pub use broken::BrokenPowerLaw;
pub use chinchilla::Chinchilla;
pub use data_constrained::{DataConstrained, PUBLISHED_R_STAR_D, PUBLISHED_R_STAR_N};
pub use kaplan::Kaplan;
pub use power::PowerLaw;

use crate::data::{Covariates, Observations};
use crate::robust::Robust;
use serde::{Deserialize, Serialize};

/// One covariate of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Variable {
    /// Parameters N.
    N,
    /// Training tokens D.
    D,
    /// Training compute C.
    C,
}

impl Variable {
    /// The lower-case letter used in law names (`power-n`).
    pub fn letter(self) -> &'static str {
        match self {
            Variable::N => "n",
            Variable::D => "d",
            Variable::C => "c",
        }
    }
    /// The symbol used in formulas.
    pub fn symbol(self) -> &'static str {
        match self {
            Variable::N => "N",
            Variable::D => "D",
            Variable::C => "C",
        }
    }
    /// The column name used in run tables.
    pub fn column(self) -> &'static str {
        match self {
            Variable::N => "params",
            Variable::D => "tokens",
            Variable::C => "flops",
        }
    }
    pub fn of(self, x: &Covariates) -> f64 {
        match self {
            Variable::N => x.n,
            Variable::D => x.d,
            Variable::C => x.c,
        }
    }
    fn ln_of(self, x: &LogCovariates) -> f64 {
        match self {
            Variable::N => x.ln_n,
            Variable::D => x.ln_d,
            Variable::C => x.ln_c,
        }
    }
    fn ln_column(self, obs: &Observations) -> &[f64] {
        match self {
            Variable::N => &obs.ln_n,
            Variable::D => &obs.ln_d,
            Variable::C => &obs.ln_c,
        }
    }
}

/// Logarithms of one run's covariates.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LogCovariates {
    pub ln_n: f64,
    pub ln_d: f64,
    pub ln_c: f64,
    /// ln U (NaN when the unique tokens are unknown).
    pub ln_u: f64,
}

impl LogCovariates {
    pub fn of(x: &Covariates) -> Self {
        LogCovariates {
            ln_n: x.n.ln(),
            ln_d: x.d.ln(),
            ln_c: x.c.ln(),
            ln_u: x.u.ln(),
        }
    }
    pub fn at(obs: &Observations, i: usize) -> Self {
        LogCovariates {
            ln_n: obs.ln_n[i],
            ln_d: obs.ln_d[i],
            ln_c: obs.ln_c[i],
            ln_u: obs.ln_u[i],
        }
    }
}

/// A scaling-law form.
pub trait Law: Send + Sync {
    /// Stable identifier used on the command line and in JSON (`chinchilla`,
    /// `power-n`, `kaplan`, `broken-d`, …).
    fn name(&self) -> String;

    /// The formula in the natural parameters, for humans.
    fn formula(&self) -> String;

    /// Names of the natural parameters, in order.
    fn param_names(&self) -> Vec<&'static str>;

    /// Number of free parameters.
    fn n_params(&self) -> usize {
        self.param_names().len()
    }

    /// The covariates the law depends on.
    fn variables(&self) -> Vec<Variable>;

    /// Whether the law reads each run's unique tokens U (see
    /// [`Observations::with_unique`]); without them it treats every run as
    /// trained on fresh data.
    fn needs_unique_tokens(&self) -> bool {
        false
    }

    /// Natural parameters from raw ones.
    fn to_natural(&self, raw: &[f64]) -> Vec<f64>;

    /// Raw parameters from natural ones (logs of positive coefficients; a zero
    /// coefficient maps to −∞, which the log-sum-exp handles).
    fn to_raw(&self, natural: &[f64]) -> Vec<f64>;

    /// `ln L̂` at one run; when `grad` is given, also writes `∂ ln L̂ / ∂ raw`.
    fn log_predict(&self, raw: &[f64], x: &LogCovariates, grad: Option<&mut [f64]>) -> f64;

    /// Predicted loss from natural parameters.
    fn predict(&self, natural: &[f64], x: &Covariates) -> f64 {
        let raw = self.to_raw(natural);
        self.log_predict(&raw, &LogCovariates::of(x), None).exp()
    }

    /// The default grid of starting points, in raw parameters.
    fn start_grid(&self, obs: &Observations) -> Vec<Vec<f64>>;

    /// Quantities derived from the natural parameters (for Chinchilla the
    /// compute-optimal exponents `a = β/(α+β)` and `b = α/(α+β)`).
    fn derived(&self, _natural: &[f64]) -> Vec<(&'static str, f64)> {
        Vec::new()
    }

    /// The objective `Σ w_i ρ(ln L_i − ln L̂_i)` and its gradient with respect
    /// to the raw parameters. `weights` are per-run multiplicities (a
    /// bootstrap resample); `None` means all ones.
    ///
    /// The default evaluates [`Law::log_predict`] run by run; laws on a hot
    /// path override it with a vectorised kernel.
    fn objective(
        &self,
        raw: &[f64],
        obs: &Observations,
        weights: Option<&[f64]>,
        robust: Robust,
        grad: &mut [f64],
    ) -> f64 {
        grad.iter_mut().for_each(|g| *g = 0.0);
        let mut g_i = vec![0.0; raw.len()];
        let mut total = 0.0;
        for i in 0..obs.len() {
            let w = weights.map_or(1.0, |w| w[i]);
            if w == 0.0 {
                continue;
            }
            let lp = self.log_predict(raw, &LogCovariates::at(obs, i), Some(&mut g_i));
            let (v, dv) = robust.value_deriv(obs.ln_loss[i] - lp);
            total += w * v;
            for (g, gi) in grad.iter_mut().zip(&g_i) {
                *g -= w * dv * gi;
            }
        }
        total
    }

    // ---- variable projection hooks -------------------------------------
    //
    /// Shifts that decorrelate the optimiser's variables (see [`Centring`]);
    /// none by default.
    fn centring(&self, _obs: &Observations) -> Vec<Centring> {
        Vec::new()
    }

    // A law whose coefficients enter linearly once the exponents are fixed
    // (L = Σ_k c_k φ_k(x; θ) with c_k ≥ 0) can be fitted by searching over the
    // exponents θ only, solving the coefficients by non-negative least squares.

    /// Grid over the non-linear parameters for variable projection, or `None`
    /// if the law has no linear structure.
    fn varpro_grid(&self, _obs: &Observations) -> Option<Vec<Vec<f64>>> {
        None
    }

    /// Basis functions φ_k(x; θ) for the non-linear parameters θ.
    fn varpro_basis(&self, _nonlinear: &[f64], _x: &Covariates, _out: &mut [f64]) {
        unreachable!("law has no linear structure")
    }

    /// Natural parameters from non-linear parameters and linear coefficients.
    fn varpro_assemble(&self, _nonlinear: &[f64], _coef: &[f64]) -> Vec<f64> {
        unreachable!("law has no linear structure")
    }
}

/// A linear change of variables for the optimiser: it works with
/// `raw[coef] − shift·raw[exponent]` in place of `raw[coef]`.
///
/// In a term `a − α·ln x` the log-coefficient and the exponent are strongly
/// correlated (ln x ≈ 20 for model sizes, so a small change of α moves every
/// prediction unless `a` moves twenty times as much). Written as
/// `(a − α·m) − α·(ln x − m)` with m the mean of ln x, the two are nearly
/// independent and the objective's curvature far better conditioned. The
/// objective, the starts and the optimum are unchanged; only the path of the
/// optimiser is (on the Epoch grid about a fifth fewer evaluations, and no
/// unconverged starts over bootstrap resamples).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Centring {
    pub coef: usize,
    pub exponent: usize,
    pub shift: f64,
}

/// Every law name the command line accepts.
pub const LAW_NAMES: &[&str] = &[
    "chinchilla",
    "kaplan",
    "power-n",
    "power-d",
    "power-c",
    "broken-n",
    "broken-d",
    "broken-c",
    "data-constrained",
];

/// Looks a law up by its command-line name.
pub fn law_by_name(name: &str) -> Option<Box<dyn Law>> {
    let var = |s: &str| match s {
        "n" => Some(Variable::N),
        "d" => Some(Variable::D),
        "c" => Some(Variable::C),
        _ => None,
    };
    match name {
        "chinchilla" => Some(Box::new(Chinchilla)),
        "kaplan" => Some(Box::new(Kaplan)),
        "data-constrained" => Some(Box::new(DataConstrained::full())),
        _ => {
            if let Some(v) = name.strip_prefix("power-").and_then(var) {
                Some(Box::new(PowerLaw::new(v)))
            } else if let Some(v) = name.strip_prefix("broken-").and_then(var) {
                Some(Box::new(BrokenPowerLaw::new(v)))
            } else {
                None
            }
        }
    }
}

/// Stable log-sum-exp of two terms with their softmax weights.
#[inline(always)]
pub(crate) fn lse2(x: f64, y: f64) -> (f64, f64, f64) {
    let m = x.max(y);
    if m == f64::NEG_INFINITY {
        return (f64::NEG_INFINITY, 0.5, 0.5);
    }
    let ex = (x - m).exp();
    let ey = (y - m).exp();
    let s = ex + ey;
    (m + s.ln(), ex / s, ey / s)
}

/// Stable log-sum-exp of three terms with their softmax weights.
#[inline(always)]
pub(crate) fn lse3(x: f64, y: f64, z: f64) -> (f64, [f64; 3]) {
    let m = x.max(y).max(z);
    if m == f64::NEG_INFINITY {
        return (f64::NEG_INFINITY, [1.0 / 3.0; 3]);
    }
    let e = [(x - m).exp(), (y - m).exp(), (z - m).exp()];
    let s = e[0] + e[1] + e[2];
    (m + s.ln(), [e[0] / s, e[1] / s, e[2] / s])
}

/// `ln` of a coefficient, mapping 0 to −∞ (and negative values too: the
/// coefficient is then outside the law's domain and predicts nothing).
pub(crate) fn ln_coef(x: f64) -> f64 {
    if x > 0.0 {
        x.ln()
    } else {
        f64::NEG_INFINITY
    }
}

/// Evenly spaced values `lo, lo+step, …, hi`.
pub(crate) fn steps(lo: f64, hi: f64, step: f64) -> Vec<f64> {
    let k = ((hi - lo) / step).round() as usize;
    (0..=k).map(|i| lo + step * i as f64).collect()
}

/// Cartesian product of value lists.
pub(crate) fn grid(axes: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let mut out = vec![Vec::new()];
    for axis in axes {
        let mut next = Vec::with_capacity(out.len() * axis.len());
        for prefix in &out {
            for &v in axis {
                let mut p = prefix.clone();
                p.push(v);
                next.push(p);
            }
        }
        out = next;
    }
    out
}

#[cfg(test)]
pub(crate) mod test_util {
    use super::*;

    /// Checks `log_predict`'s gradient against central differences.
    pub fn check_gradient(law: &dyn Law, raw: &[f64], x: &Covariates) {
        let lx = LogCovariates::of(x);
        let mut g = vec![0.0; raw.len()];
        law.log_predict(raw, &lx, Some(&mut g));
        for k in 0..raw.len() {
            let h = 1e-6 * (1.0 + raw[k].abs());
            let mut p = raw.to_vec();
            p[k] += h;
            let up = law.log_predict(&p, &lx, None);
            p[k] -= 2.0 * h;
            let dn = law.log_predict(&p, &lx, None);
            let fd = (up - dn) / (2.0 * h);
            assert!(
                (fd - g[k]).abs() <= 1e-6 * (1.0 + fd.abs()),
                "{}: d/d raw[{k}] analytic {} vs finite difference {fd}",
                law.name(),
                g[k]
            );
        }
    }

    /// A law that uses the trait's generic (per-run) objective, to check
    /// specialised kernels against.
    pub struct GenericObjective<'a>(pub &'a dyn Law);

    impl Law for GenericObjective<'_> {
        fn name(&self) -> String {
            self.0.name()
        }
        fn formula(&self) -> String {
            self.0.formula()
        }
        fn param_names(&self) -> Vec<&'static str> {
            self.0.param_names()
        }
        fn variables(&self) -> Vec<Variable> {
            self.0.variables()
        }
        fn needs_unique_tokens(&self) -> bool {
            self.0.needs_unique_tokens()
        }
        fn to_natural(&self, raw: &[f64]) -> Vec<f64> {
            self.0.to_natural(raw)
        }
        fn to_raw(&self, natural: &[f64]) -> Vec<f64> {
            self.0.to_raw(natural)
        }
        fn log_predict(&self, raw: &[f64], x: &LogCovariates, grad: Option<&mut [f64]>) -> f64 {
            self.0.log_predict(raw, x, grad)
        }
        fn start_grid(&self, obs: &Observations) -> Vec<Vec<f64>> {
            self.0.start_grid(obs)
        }
    }

    /// Checks that natural → raw → natural is the identity.
    pub fn check_roundtrip(law: &dyn Law, natural: &[f64]) {
        let back = law.to_natural(&law.to_raw(natural));
        for (a, b) in natural.iter().zip(&back) {
            assert!((a - b).abs() <= 1e-12 * a.abs().max(1.0), "{a} vs {b}");
        }
    }
}
