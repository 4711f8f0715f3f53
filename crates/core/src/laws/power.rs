//! The saturating power law in one variable: `L = E + A·x^(−α)`.
//!
//! Raw parameters `[e, a, α]` with `E = eᵉ`, `A = eᵃ`;
//! `ln L̂ = LSE(a − α ln x, e)`.

use super::{grid, ln_coef, lse2, steps, Law, LogCovariates, Variable};
use crate::data::{Covariates, Observations};

/// `L = E + A·x^(−α)` in x ∈ {N, D, C}.
#[derive(Clone, Copy, Debug)]
pub struct PowerLaw {
    pub var: Variable,
}

impl PowerLaw {
    pub fn new(var: Variable) -> Self {
        PowerLaw { var }
    }
}

impl Law for PowerLaw {
    fn name(&self) -> String {
        format!("power-{}", self.var.letter())
    }
    fn formula(&self) -> String {
        format!("L = E + A / {}^alpha", self.var.symbol())
    }
    fn param_names(&self) -> Vec<&'static str> {
        vec!["E", "A", "alpha"]
    }
    fn variables(&self) -> Vec<Variable> {
        vec![self.var]
    }
    fn to_natural(&self, raw: &[f64]) -> Vec<f64> {
        vec![raw[0].exp(), raw[1].exp(), raw[2]]
    }
    fn to_raw(&self, p: &[f64]) -> Vec<f64> {
        vec![ln_coef(p[0]), ln_coef(p[1]), p[2]]
    }
    fn log_predict(&self, raw: &[f64], x: &LogCovariates, grad: Option<&mut [f64]>) -> f64 {
        let lx = self.var.ln_of(x);
        let (v, w_term, w_e) = lse2(raw[1] - raw[2] * lx, raw[0]);
        if let Some(g) = grad {
            g[0] = w_e;
            g[1] = w_term;
            g[2] = -w_term * lx;
        }
        v
    }
    fn start_grid(&self, _obs: &Observations) -> Vec<Vec<f64>> {
        // e, a, α: the one-variable analogue of Hoffmann et al.'s grid.
        grid(&[
            steps(-1.0, 1.0, 0.5),
            steps(0.0, 25.0, 5.0),
            steps(0.0, 2.0, 0.25),
        ])
    }
    fn varpro_grid(&self, _obs: &Observations) -> Option<Vec<Vec<f64>>> {
        Some(grid(&[steps(0.01, 2.0, 0.01)]))
    }
    fn varpro_basis(&self, nl: &[f64], x: &Covariates, out: &mut [f64]) {
        out[0] = 1.0;
        out[1] = self.var.of(x).powf(-nl[0]);
    }
    fn varpro_assemble(&self, nl: &[f64], coef: &[f64]) -> Vec<f64> {
        vec![coef[0], coef[1], nl[0]]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::laws::test_util::*;

    #[test]
    fn gradient_and_roundtrip() {
        for var in [Variable::N, Variable::D, Variable::C] {
            let law = PowerLaw::new(var);
            let x = Covariates::from_nd(3e8, 6e9);
            check_gradient(&law, &[0.5, 6.0, 0.3], &x);
            check_gradient(&law, &[-0.5, 20.0, 1.3], &x);
            check_roundtrip(&law, &[1.7, 400.0, 0.34]);
            let l = law.predict(&[1.7, 400.0, 0.34], &x);
            let expect = 1.7 + 400.0 * var.of(&x).powf(-0.34);
            assert!((l - expect).abs() < 1e-12 * expect);
        }
    }
}
