//! A smoothly broken power law with one break (in the spirit of Caballero et
//! al. 2022): `L = E + A·x^(−α₁)·(1 + (x/x_b)^(1/s))^(−(α₂−α₁)·s)`.
//!
//! Below the break x_b the slope is α₁, above it α₂; `s > 0` sets how sharp
//! the transition is. Raw parameters `[e, a, α₁, α₂, ln x_b, ln s]`; with
//! `z = (ln x − ln x_b)/s`, `ln T = a − α₁ ln x − (α₂ − α₁)·s·softplus(z)` and
//! `ln L̂ = LSE(ln T, e)`.

use super::{grid, ln_coef, lse2, steps, Law, LogCovariates, Variable};
use crate::data::{Covariates, Observations};

/// Smoothly broken power law in one variable.
#[derive(Clone, Copy, Debug)]
pub struct BrokenPowerLaw {
    pub var: Variable,
}

impl BrokenPowerLaw {
    pub fn new(var: Variable) -> Self {
        BrokenPowerLaw { var }
    }
}

fn softplus(z: f64) -> f64 {
    if z > 30.0 {
        z + (-z).exp()
    } else {
        z.exp().ln_1p()
    }
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let i = pos.floor() as usize;
    let j = (i + 1).min(sorted.len() - 1);
    sorted[i] + (sorted[j] - sorted[i]) * (pos - i as f64)
}

impl BrokenPowerLaw {
    /// Candidate break points: quartiles of ln x over the runs.
    fn break_candidates(&self, obs: &Observations) -> Vec<f64> {
        let mut lx = self.var.ln_column(obs).to_vec();
        if lx.is_empty() {
            return vec![0.0];
        }
        lx.sort_by(f64::total_cmp);
        vec![quantile(&lx, 0.25), quantile(&lx, 0.5), quantile(&lx, 0.75)]
    }
}

impl Law for BrokenPowerLaw {
    fn name(&self) -> String {
        format!("broken-{}", self.var.letter())
    }
    fn formula(&self) -> String {
        let x = self.var.symbol();
        format!(
            "L = E + A * {x}^-alpha1 * (1 + ({x}/x_break)^(1/smooth))^(-(alpha2-alpha1)*smooth)"
        )
    }
    fn param_names(&self) -> Vec<&'static str> {
        vec!["E", "A", "alpha1", "alpha2", "x_break", "smooth"]
    }
    fn variables(&self) -> Vec<Variable> {
        vec![self.var]
    }
    fn to_natural(&self, r: &[f64]) -> Vec<f64> {
        vec![r[0].exp(), r[1].exp(), r[2], r[3], r[4].exp(), r[5].exp()]
    }
    fn to_raw(&self, p: &[f64]) -> Vec<f64> {
        vec![
            ln_coef(p[0]),
            ln_coef(p[1]),
            p[2],
            p[3],
            ln_coef(p[4]),
            ln_coef(p[5]),
        ]
    }
    fn log_predict(&self, r: &[f64], x: &LogCovariates, grad: Option<&mut [f64]>) -> f64 {
        let lx = self.var.ln_of(x);
        let s = r[5].exp();
        let z = (lx - r[4]) / s;
        let sp = softplus(z);
        let dslope = r[3] - r[2];
        let ln_t = r[1] - r[2] * lx - dslope * s * sp;
        let (v, w_t, w_e) = lse2(ln_t, r[0]);
        if let Some(g) = grad {
            let sg = sigmoid(z);
            g[0] = w_e;
            g[1] = w_t;
            g[2] = w_t * (-lx + s * sp);
            g[3] = w_t * (-s * sp);
            g[4] = w_t * dslope * sg;
            g[5] = w_t * (-dslope * s * (sp - sg * z));
        }
        v
    }
    fn start_grid(&self, obs: &Observations) -> Vec<Vec<f64>> {
        grid(&[
            steps(-1.0, 1.0, 1.0),
            steps(0.0, 25.0, 5.0),
            steps(0.0, 1.0, 0.5),
            steps(0.0, 1.0, 0.5),
            self.break_candidates(obs),
            vec![0.0],
        ])
    }
    fn varpro_grid(&self, obs: &Observations) -> Option<Vec<Vec<f64>>> {
        let alphas = steps(0.0, 1.5, 0.05);
        let breaks: Vec<f64> = self.break_candidates(obs).iter().map(|b| b.exp()).collect();
        Some(grid(&[alphas.clone(), alphas, breaks, vec![0.5, 1.0]]))
    }
    fn varpro_basis(&self, nl: &[f64], x: &Covariates, out: &mut [f64]) {
        let v = self.var.of(x);
        let (a1, a2, xb, s) = (nl[0], nl[1], nl[2], nl[3]);
        out[0] = 1.0;
        out[1] = (-a1 * v.ln() - (a2 - a1) * s * softplus((v / xb).ln() / s)).exp();
    }
    fn varpro_assemble(&self, nl: &[f64], c: &[f64]) -> Vec<f64> {
        vec![c[0], c[1], nl[0], nl[1], nl[2], nl[3]]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::laws::test_util::*;

    #[test]
    fn gradient_roundtrip_and_asymptotic_slopes() {
        let law = BrokenPowerLaw::new(Variable::N);
        let x = Covariates::from_nd(4e8, 8e9);
        check_gradient(&law, &[0.5, 8.0, 0.2, 0.6, 18.0, 0.0], &x);
        check_gradient(&law, &[0.5, 8.0, 0.6, 0.1, 21.0, -0.7], &x);
        let p = [0.0, 100.0, 0.2, 0.8, 1e8, 0.5];
        check_roundtrip(&law, &p);
        // far below / above the break the local slope of (L − E) is α₁ / α₂
        let slope = |n1: f64, n2: f64| {
            let l1 = law.predict(&p, &Covariates::from_nd(n1, 1.0));
            let l2 = law.predict(&p, &Covariates::from_nd(n2, 1.0));
            -(l2.ln() - l1.ln()) / (n2.ln() - n1.ln())
        };
        assert!((slope(1e3, 2e3) - 0.2).abs() < 1e-3);
        assert!((slope(1e13, 2e13) - 0.8).abs() < 1e-3);
    }
}
