//! Kaplan et al. (2020), eq. 1.5: `L = [(N_c/N)^(α_N/α_D) + D_c/D]^α_D`.
//!
//! Raw parameters `[ln N_c, ln D_c, α_N, α_D]`;
//! `ln L̂ = α_D · LSE((α_N/α_D)(ln N_c − ln N), ln D_c − ln D)`.
//! The form has no irreducible term, and its coefficients do not enter
//! linearly, so it is fitted from a start grid only.

use super::{grid, ln_coef, lse2, steps, Law, LogCovariates, Variable};
use crate::data::Observations;

/// `L = [(N_c/N)^(α_N/α_D) + D_c/D]^α_D`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Kaplan;

impl Law for Kaplan {
    fn name(&self) -> String {
        "kaplan".into()
    }
    fn formula(&self) -> String {
        "L = [(N_c / N)^(alpha_N / alpha_D) + D_c / D]^alpha_D".into()
    }
    fn param_names(&self) -> Vec<&'static str> {
        vec!["N_c", "D_c", "alpha_N", "alpha_D"]
    }
    fn variables(&self) -> Vec<Variable> {
        vec![Variable::N, Variable::D]
    }
    fn to_natural(&self, r: &[f64]) -> Vec<f64> {
        vec![r[0].exp(), r[1].exp(), r[2], r[3]]
    }
    fn to_raw(&self, p: &[f64]) -> Vec<f64> {
        vec![ln_coef(p[0]), ln_coef(p[1]), p[2], p[3]]
    }
    fn log_predict(&self, r: &[f64], x: &LogCovariates, grad: Option<&mut [f64]>) -> f64 {
        let (an, ad) = (r[2], r[3]);
        let gap_n = r[0] - x.ln_n;
        let u1 = an / ad * gap_n;
        let u2 = r[1] - x.ln_d;
        let (s, w1, w2) = lse2(u1, u2);
        if let Some(g) = grad {
            g[0] = an * w1;
            g[1] = ad * w2;
            g[2] = w1 * gap_n;
            g[3] = s - w1 * u1;
        }
        ad * s
    }
    fn start_grid(&self, _obs: &Observations) -> Vec<Vec<f64>> {
        // Kaplan et al. found N_c ≈ 8.8e13, D_c ≈ 5.4e13, α_N ≈ 0.076,
        // α_D ≈ 0.095; the grid spans far around those.
        let exps = vec![0.03, 0.06, 0.1, 0.2, 0.4, 0.8];
        grid(&[
            steps(10.0, 40.0, 5.0),
            steps(10.0, 40.0, 5.0),
            exps.clone(),
            exps,
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Covariates;
    use crate::laws::test_util::*;

    #[test]
    fn gradient_roundtrip_and_value() {
        let x = Covariates::from_nd(4e8, 8e9);
        check_gradient(&Kaplan, &[32.1, 31.6, 0.076, 0.095], &x);
        check_gradient(&Kaplan, &[15.0, 20.0, 0.3, 0.2], &x);
        let p = [8.8e13, 5.4e13, 0.076, 0.095];
        check_roundtrip(&Kaplan, &p);
        let expect = ((p[0] / 4e8f64).powf(p[2] / p[3]) + p[1] / 8e9).powf(p[3]);
        assert!((Kaplan.predict(&p, &x) - expect).abs() < 1e-12 * expect);
    }
}
