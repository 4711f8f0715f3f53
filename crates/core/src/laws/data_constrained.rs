//! The data-constrained law of Muennighoff et al. (2023), "Scaling
//! Data-Constrained Language Models": Chinchilla's form evaluated at an
//! effective data D' and effective parameters N' that discount repeated
//! tokens and excess parameters.
//!
//! With U the unique tokens a run trained on:
//!
//! * `U_D = min(U, D)`, `R_D = D/U_D − 1` repetitions,
//!   `D' = U_D + U_D·R*_D·(1 − exp(−R_D/R*_D))`;
//! * `U_N = min(N, N_opt(U_D))`, where `N_opt(U_D)` is the compute-optimal
//!   model size for `U_D` tokens under the Chinchilla part of the law
//!   (`N_opt = G·(G·U_D)^(β/α)` with `G = (αA/(βB))^(1/(α+β))`),
//!   `R_N = N/U_N − 1`, `N' = U_N + U_N·R*_N·(1 − exp(−R_N/R*_N))`;
//! * `L = E + A/N'^α + B/D'^β`.
//!
//! A run with fresh data (`U ≥ D`, or U unknown) has `D' = D`; a model no
//! larger than the optimum for its unique data has `N' = N`; the law is then
//! Chinchilla's. Repeated tokens are worth less and saturate: however often
//! the data is repeated, D' stays below `U_D·(1 + R*_D)`.
//!
//! Raw parameters `[e, a, b, α, β, ln R*_D, ln R*_N]`; natural
//! `[E, A, B, alpha, beta, R_D_star, R_N_star]`. In closed form
//! `ln N_opt(U_D) = (β ln U_D + ln α − ln β + a − b)/α`, which makes the
//! gradient analytic through the `min` as well (the law is continuous there;
//! its derivative jumps).
//!
//! [`DataConstrained::on_base`] fixes the Chinchilla part at a given fit and
//! leaves only R*_D and R*_N free ("on top of a base fit").

use super::{grid, ln_coef, lse3, Centring, Chinchilla, Law, LogCovariates, Variable};
use crate::data::Observations;
use crate::robust::Robust;

/// Muennighoff et al. (2023), Appendix A: the fitted decay constant of
/// repeated data, R*_D.
pub const PUBLISHED_R_STAR_D: f64 = 15.387756;
/// Muennighoff et al. (2023), Appendix A: the fitted decay constant of
/// excess parameters, R*_N.
pub const PUBLISHED_R_STAR_N: f64 = 5.309743;

/// `L = E + A/N'^α + B/D'^β` with effective parameters N' and data D'.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct DataConstrained {
    /// Raw Chinchilla parameters `[e, a, b, α, β]` held fixed, or `None`
    /// when they are fitted too.
    base: Option<[f64; 5]>,
}

/// `ln f` and its derivatives for `f = 1 + s·(1 − exp(−R/s))`, with
/// `R = exp(ln_ratio) − 1` and `s = exp(ln_s)`: returns
/// `(ln f, ∂ ln f/∂ ln s, ∂ ln f/∂ ln_ratio)`.
#[inline]
fn decay(ln_ratio: f64, ln_s: f64) -> (f64, f64, f64) {
    let r = ln_ratio.exp_m1().max(0.0);
    let s = ln_s.exp();
    let z = r / s;
    let q = (-z).exp();
    let one_minus_q = -(-z).exp_m1();
    let sq = s * one_minus_q;
    let f = 1.0 + sq;
    let d_ln_s = if r == 0.0 { 0.0 } else { (sq - r * q) / f };
    let d_ln_ratio = q * (1.0 + r) / f;
    (sq.ln_1p(), d_ln_s, d_ln_ratio)
}

/// The law at raw parameters `r` (length 7); writes `∂ ln L̂/∂ r` into `g`.
fn log_predict_full(r: &[f64], x: &LogCovariates, grad: Option<&mut [f64]>) -> f64 {
    let (e, a, b, al, be, ln_sd, ln_sn) = (r[0], r[1], r[2], r[3], r[4], r[5], r[6]);
    if !(al > 0.0 && be > 0.0) {
        return f64::NAN;
    }
    let ln_ud = if x.ln_u.is_nan() {
        x.ln_d
    } else {
        x.ln_u.min(x.ln_d)
    };
    let (ln_fd, dfd_ds, _) = decay(x.ln_d - ln_ud, ln_sd);
    let ln_dp = ln_ud + ln_fd;
    let ln_nopt = (be * ln_ud + al.ln() - be.ln() + a - b) / al;
    let binds = ln_nopt < x.ln_n;
    let ln_un = if binds { ln_nopt } else { x.ln_n };
    let (ln_fn, dfn_ds, dfn_dratio) = decay(x.ln_n - ln_un, ln_sn);
    let ln_np = ln_un + ln_fn;
    // ∂ ln N' / ∂ ln U_N (zero when U_N = N does not move with the law)
    let c = if binds { 1.0 - dfn_dratio } else { 0.0 };
    let (v, w) = lse3(a - al * ln_np, b - be * ln_dp, e);
    if let Some(g) = grad {
        g[0] = w[2];
        g[1] = w[0] * (1.0 - c);
        g[2] = w[0] * c + w[1];
        g[3] = w[0] * (-ln_np - c * (1.0 / al - ln_nopt));
        g[4] = -w[0] * c * (ln_ud - 1.0 / be) - w[1] * ln_dp;
        g[5] = -w[1] * be * dfd_ds;
        g[6] = -w[0] * al * dfn_ds;
    }
    v
}

impl DataConstrained {
    /// The full law: the Chinchilla parameters, R*_D and R*_N all free.
    pub fn full() -> Self {
        DataConstrained { base: None }
    }

    /// The law on top of a base fit: the natural Chinchilla parameters
    /// `[E, A, B, alpha, beta]` held fixed, R*_D and R*_N free.
    pub fn on_base(base: &[f64]) -> Self {
        DataConstrained {
            base: Some([
                ln_coef(base[0]),
                ln_coef(base[1]),
                ln_coef(base[2]),
                base[3],
                base[4],
            ]),
        }
    }

    /// The fixed base (natural `[E, A, B, alpha, beta]`), if any.
    pub fn base(&self) -> Option<[f64; 5]> {
        self.base
            .map(|r| [r[0].exp(), r[1].exp(), r[2].exp(), r[3], r[4]])
    }

    /// The law's loss at natural parameters `[E, A, B, alpha, beta,
    /// R_D_star, R_N_star]` for N parameters, D tokens and U unique tokens.
    pub fn loss(natural: &[f64], n: f64, d: f64, u: f64) -> f64 {
        let raw = DataConstrained::full().to_raw(natural);
        let x = LogCovariates {
            ln_n: n.ln(),
            ln_d: d.ln(),
            ln_c: (6.0 * n * d).ln(),
            ln_u: u.ln(),
        };
        log_predict_full(&raw, &x, None).exp()
    }

    /// The compute-optimal model size for `u` unique tokens under the
    /// Chinchilla parameters `[E, A, B, alpha, beta]`: N beyond it counts as
    /// excess parameters.
    pub fn optimal_params_for(base: &[f64], u: f64) -> f64 {
        let (a, b, al, be) = (base[1].ln(), base[2].ln(), base[3], base[4]);
        ((be * u.ln() + al.ln() - be.ln() + a - b) / al).exp()
    }

    fn full_raw(&self, r: &[f64]) -> [f64; 7] {
        match self.base {
            Some(b) => [b[0], b[1], b[2], b[3], b[4], r[0], r[1]],
            None => [r[0], r[1], r[2], r[3], r[4], r[5], r[6]],
        }
    }
}

impl Law for DataConstrained {
    fn name(&self) -> String {
        "data-constrained".into()
    }
    fn formula(&self) -> String {
        let law = "L = E + A / N'^alpha + B / D'^beta, D' = U_D + U_D R_D_star (1 - exp(-R_D / R_D_star)), N' = U_N + U_N R_N_star (1 - exp(-R_N / R_N_star))";
        match self.base() {
            None => law.into(),
            Some(p) => format!(
                "{law}; base fixed at E = {}, A = {}, B = {}, alpha = {}, beta = {}",
                p[0], p[1], p[2], p[3], p[4]
            ),
        }
    }
    fn param_names(&self) -> Vec<&'static str> {
        match self.base {
            None => vec!["E", "A", "B", "alpha", "beta", "R_D_star", "R_N_star"],
            Some(_) => vec!["R_D_star", "R_N_star"],
        }
    }
    fn variables(&self) -> Vec<Variable> {
        vec![Variable::N, Variable::D]
    }
    fn needs_unique_tokens(&self) -> bool {
        true
    }
    fn to_natural(&self, r: &[f64]) -> Vec<f64> {
        match self.base {
            None => vec![
                r[0].exp(),
                r[1].exp(),
                r[2].exp(),
                r[3],
                r[4],
                r[5].exp(),
                r[6].exp(),
            ],
            Some(_) => vec![r[0].exp(), r[1].exp()],
        }
    }
    fn to_raw(&self, p: &[f64]) -> Vec<f64> {
        match self.base {
            None => vec![
                ln_coef(p[0]),
                ln_coef(p[1]),
                ln_coef(p[2]),
                p[3],
                p[4],
                ln_coef(p[5]),
                ln_coef(p[6]),
            ],
            Some(_) => vec![ln_coef(p[0]), ln_coef(p[1])],
        }
    }
    fn log_predict(&self, r: &[f64], x: &LogCovariates, grad: Option<&mut [f64]>) -> f64 {
        let full = self.full_raw(r);
        match (self.base, grad) {
            (None, g) => log_predict_full(&full, x, g),
            (Some(_), None) => log_predict_full(&full, x, None),
            (Some(_), Some(g)) => {
                let mut g7 = [0.0; 7];
                let v = log_predict_full(&full, x, Some(&mut g7));
                g[0] = g7[5];
                g[1] = g7[6];
                v
            }
        }
    }
    fn centring(&self, obs: &Observations) -> Vec<Centring> {
        if self.base.is_some() {
            return Vec::new();
        }
        Chinchilla.centring(obs)
    }
    fn start_grid(&self, obs: &Observations) -> Vec<Vec<f64>> {
        let decays = [0.5f64, 2.0, 8.0, 32.0, 128.0];
        let ln_decays: Vec<f64> = decays.iter().map(|s| s.ln()).collect();
        if self.base.is_some() {
            return grid(&[ln_decays.clone(), ln_decays]);
        }
        // For each R*_D, fit Chinchilla to (N, D') by variable projection
        // (N' = N, the limit R*_N → ∞) and start from its best points with
        // every R*_N.
        let mut out = Vec::new();
        for &s_d in &decays {
            let d_eff: Vec<f64> = (0..obs.len())
                .map(|i| {
                    let u = if obs.u[i].is_nan() {
                        obs.d[i]
                    } else {
                        obs.u[i].min(obs.d[i])
                    };
                    crate::plan::effective_tokens(obs.d[i], u, s_d)
                })
                .collect();
            let Ok(t) = Observations::new(obs.n.clone(), d_eff, obs.c.clone(), obs.loss.clone())
            else {
                continue;
            };
            for s in crate::fit::varpro_starts(&Chinchilla, &t, None, Robust::default(), 2) {
                // a start with α or β at 0 is outside this law's domain
                let (al, be) = (s[3].max(0.05), s[4].max(0.05));
                for &ln_sn in &ln_decays {
                    out.push(vec![s[0], s[1], s[2], al, be, s_d.ln(), ln_sn]);
                }
            }
        }
        out
    }
    fn derived(&self, p: &[f64]) -> Vec<(&'static str, f64)> {
        if self.base.is_some() {
            return Vec::new();
        }
        let (a, b) = Chinchilla::allocation_exponents(p[3], p[4]);
        vec![("a", a), ("b", b)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Covariates;
    use crate::laws::test_util::*;

    /// datablations' published C4 fit: log E, log A, log B, α = β, R*_D,
    /// R*_N.
    fn published_natural() -> Vec<f64> {
        vec![
            0.6254804f64.exp(),
            6.255414f64.exp(),
            7.3049974f64.exp(),
            0.3526596,
            0.3526596,
            PUBLISHED_R_STAR_D,
            PUBLISHED_R_STAR_N,
        ]
    }

    #[test]
    fn reproduces_the_published_values() {
        let p = published_natural();
        // The two models of the paper's Figure 1 (right), 25B unique tokens.
        let x1 = Covariates::from_nd(6.34e9, 242e9).with_unique(25e9);
        let x2 = Covariates::from_nd(8.67e9, 178e9).with_unique(25e9);
        let l1 = DataConstrained::full().predict(&p, &x1);
        let l2 = DataConstrained::full().predict(&p, &x2);
        assert!((l1 - 2.2256440889984477).abs() < 1e-9, "{l1}");
        assert!((l2 - 2.2269634075087867).abs() < 1e-9, "{l2}");
        assert_eq!(DataConstrained::loss(&p, 6.34e9, 242e9, 25e9), l1);
        // the same through a fixed base
        let on = DataConstrained::on_base(&p[..5]);
        let l1b = on.predict(&[PUBLISHED_R_STAR_D, PUBLISHED_R_STAR_N], &x1);
        assert!((l1b - 2.2256440889984477).abs() < 1e-9, "{l1b}");
        // both models have excess parameters: U_N = N_opt(25B) ≈ 1.27B
        let n_opt = DataConstrained::optimal_params_for(&p[..5], 25e9);
        assert!((n_opt / 1.274662941e9 - 1.0).abs() < 1e-8, "{n_opt}");
    }

    #[test]
    fn fresh_data_and_small_models_reduce_to_chinchilla() {
        let p = published_natural();
        let n = 1e8;
        for x in [
            Covariates::from_nd(n, 4e9),
            Covariates::from_nd(n, 4e9).with_unique(1e10),
        ] {
            let dc = DataConstrained::full().predict(&p, &x);
            let ch = Chinchilla.predict(&p[..5], &x);
            assert!((dc - ch).abs() < 1e-12 * ch, "{dc} vs {ch}");
        }
        // repeating is worse than fresh data, and saturates (for a model
        // without excess parameters: N_opt(1e9 unique tokens) ≈ 5e7)
        let n = 1e7;
        assert!(DataConstrained::optimal_params_for(&p[..5], 1e9) > n);
        let fresh = DataConstrained::loss(&p, n, 4e9, 4e9);
        let rep4 = DataConstrained::loss(&p, n, 4e9, 1e9);
        let rep_many = DataConstrained::loss(&p, n, 1e11, 1e9);
        let cap = Chinchilla.predict(
            &p[..5],
            &Covariates::from_nd(n, 1e9 * (1.0 + PUBLISHED_R_STAR_D)),
        );
        assert!(rep4 > fresh, "{rep4} vs {fresh}");
        assert!(
            rep_many > cap && rep_many - cap < 1e-3,
            "{rep_many} vs {cap}"
        );
    }

    #[test]
    fn gradient_and_roundtrip() {
        let law = DataConstrained::full();
        let mut raw = law.to_raw(&published_natural());
        raw[4] = 0.31;
        // excess parameters and repeated data; fresh data; neither
        for x in [
            Covariates::from_nd(6.34e9, 242e9).with_unique(25e9),
            Covariates::from_nd(1e8, 4e10),
            Covariates::from_nd(1e7, 2e9).with_unique(1e8),
            Covariates::from_nd(3e8, 3e8).with_unique(1e9),
        ] {
            check_gradient(&law, &raw, &x);
            let on = DataConstrained::on_base(&law.to_natural(&raw)[..5]);
            check_gradient(&on, &raw[5..], &x);
        }
        check_roundtrip(&law, &published_natural());
        check_roundtrip(
            &DataConstrained::on_base(&published_natural()[..5]),
            &[3.0, 40.0],
        );
        assert!(law
            .log_predict(
                &[0.0, 5.0, 5.0, 0.0, 0.3, 1.0, 1.0],
                &LogCovariates::of(&Covariates::from_nd(1e8, 1e9)),
                None
            )
            .is_nan());
    }
}
