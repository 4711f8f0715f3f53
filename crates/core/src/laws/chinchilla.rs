//! The Chinchilla law `L = E + A/N^α + B/D^β` (Hoffmann et al. 2022).
//!
//! Raw parameters `[e, a, b, α, β]` with `E = eᵉ`, `A = eᵃ`, `B = eᵇ`;
//! `ln L̂ = LSE(a − α ln N, b − β ln D, e)`. The objective has a vectorised
//! kernel (see [`crate::kernels`]) because the 4,500-start grid and the
//! bootstrap evaluate it millions of times.

use super::{grid, ln_coef, lse3, steps, Centring, Law, LogCovariates, Variable};
use crate::data::{Covariates, Observations};
use crate::robust::Robust;

/// `L = E + A/N^α + B/D^β`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Chinchilla;

impl Chinchilla {
    /// Compute-optimal exponents `(a, b) = (β/(α+β), α/(α+β))`: N_opt ∝ C^a,
    /// D_opt ∝ C^b.
    pub fn allocation_exponents(alpha: f64, beta: f64) -> (f64, f64) {
        (beta / (alpha + beta), alpha / (alpha + beta))
    }
}

impl Law for Chinchilla {
    fn name(&self) -> String {
        "chinchilla".into()
    }
    fn formula(&self) -> String {
        "L = E + A / N^alpha + B / D^beta".into()
    }
    fn param_names(&self) -> Vec<&'static str> {
        vec!["E", "A", "B", "alpha", "beta"]
    }
    fn variables(&self) -> Vec<Variable> {
        vec![Variable::N, Variable::D]
    }
    fn to_natural(&self, r: &[f64]) -> Vec<f64> {
        vec![r[0].exp(), r[1].exp(), r[2].exp(), r[3], r[4]]
    }
    fn to_raw(&self, p: &[f64]) -> Vec<f64> {
        vec![ln_coef(p[0]), ln_coef(p[1]), ln_coef(p[2]), p[3], p[4]]
    }
    fn log_predict(&self, r: &[f64], x: &LogCovariates, grad: Option<&mut [f64]>) -> f64 {
        let (v, w) = lse3(r[1] - r[3] * x.ln_n, r[2] - r[4] * x.ln_d, r[0]);
        if let Some(g) = grad {
            g[0] = w[2];
            g[1] = w[0];
            g[2] = w[1];
            g[3] = -w[0] * x.ln_n;
            g[4] = -w[1] * x.ln_d;
        }
        v
    }
    fn centring(&self, obs: &Observations) -> Vec<Centring> {
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
        vec![
            Centring {
                coef: 1,
                exponent: 3,
                shift: mean(&obs.ln_n),
            },
            Centring {
                coef: 2,
                exponent: 4,
                shift: mean(&obs.ln_d),
            },
        ]
    }
    fn start_grid(&self, _obs: &Observations) -> Vec<Vec<f64>> {
        // Hoffmann et al. (2022), Appendix D.2: α, β ∈ {0, 0.5, …, 2},
        // e ∈ {−1, −0.5, …, 1}, a, b ∈ {0, 5, …, 25}: 4,500 starts.
        let g = grid(&[
            steps(0.0, 25.0, 5.0),
            steps(0.0, 25.0, 5.0),
            steps(-1.0, 1.0, 0.5),
            steps(0.0, 2.0, 0.5),
            steps(0.0, 2.0, 0.5),
        ]);
        // Reorder (a, b, e, α, β) → raw (e, a, b, α, β).
        g.into_iter()
            .map(|p| vec![p[2], p[0], p[1], p[3], p[4]])
            .collect()
    }
    fn derived(&self, p: &[f64]) -> Vec<(&'static str, f64)> {
        let (a, b) = Self::allocation_exponents(p[3], p[4]);
        vec![("a", a), ("b", b)]
    }
    fn objective(
        &self,
        raw: &[f64],
        obs: &Observations,
        weights: Option<&[f64]>,
        robust: Robust,
        grad: &mut [f64],
    ) -> f64 {
        crate::kernels::chinchilla_objective(raw, obs, weights, robust, grad)
    }
    fn varpro_grid(&self, _obs: &Observations) -> Option<Vec<Vec<f64>>> {
        let axis = steps(0.02, 1.5, 0.02);
        Some(grid(&[axis.clone(), axis]))
    }
    fn varpro_basis(&self, nl: &[f64], x: &Covariates, out: &mut [f64]) {
        out[0] = 1.0;
        out[1] = x.n.powf(-nl[0]);
        out[2] = x.d.powf(-nl[1]);
    }
    fn varpro_assemble(&self, nl: &[f64], c: &[f64]) -> Vec<f64> {
        vec![c[0], c[1], c[2], nl[0], nl[1]]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::laws::test_util::*;

    #[test]
    fn gradient_roundtrip_and_grid() {
        let x = Covariates::from_nd(4e8, 8e9);
        check_gradient(&Chinchilla, &[0.6, 6.2, 7.7, 0.35, 0.37], &x);
        check_gradient(&Chinchilla, &[-1.0, 25.0, 0.0, 2.0, 0.0], &x);
        check_roundtrip(&Chinchilla, &[1.8, 478.0, 2143.0, 0.347, 0.367]);
        let p = [1.8, 478.0, 2143.0, 0.347, 0.367];
        let expect = 1.8 + 478.0 * 4e8f64.powf(-0.347) + 2143.0 * 8e9f64.powf(-0.367);
        assert!((Chinchilla.predict(&p, &x) - expect).abs() < 1e-12 * expect);
        let g = Chinchilla.start_grid(&Observations::default());
        assert_eq!(g.len(), 4500);
        assert!(g.contains(&vec![0.0, 15.0, 25.0, 1.0, 1.5]));
    }

    #[test]
    fn vectorised_objective_matches_generic() {
        let n: Vec<f64> = (0..37).map(|i| 1e7 * 1.3f64.powi(i)).collect();
        let d: Vec<f64> = (0..37).map(|i| 2e9 * 0.9f64.powi(i)).collect();
        let raw = [0.6, 6.2, 7.7, 0.35, 0.37];
        let loss: Vec<f64> = n
            .iter()
            .zip(&d)
            .enumerate()
            .map(|(i, (&n, &d))| {
                Chinchilla.predict(&Chinchilla.to_natural(&raw), &Covariates::from_nd(n, d))
                    * (1.0 + 0.01 * ((i as f64) * 1.7).sin())
            })
            .collect();
        let obs = Observations::from_nd(n, d, loss).unwrap();
        let w: Vec<f64> = (0..37).map(|i| (i % 3) as f64).collect();
        for robust in [Robust::Huber { delta: 1e-3 }, Robust::LeastSquares] {
            for weights in [None, Some(&w[..])] {
                let mut g1 = [0.0; 5];
                let mut g2 = [0.0; 5];
                let f1 = Chinchilla.objective(&raw, &obs, weights, robust, &mut g1);
                let generic = crate::laws::test_util::GenericObjective(&Chinchilla);
                let f2 = generic.objective(&raw, &obs, weights, robust, &mut g2);
                assert!((f1 - f2).abs() <= 1e-13 * f2.abs(), "{f1} vs {f2}");
                // relative to the gradient's scale: a component that is a
                // cancelling sum carries the rounding of its larger terms
                let scale = g2.iter().fold(0.0f64, |m, g| m.max(g.abs()));
                for k in 0..5 {
                    assert!((g1[k] - g2[k]).abs() <= 1e-12 * scale, "{g1:?} vs {g2:?}");
                }
            }
        }
    }
}
