//! Conditioning of a fit: can the runs tell the law's parameters apart?
//!
//! Two measures, both in the optimiser's centred variables (logs of the
//! coefficients E, A, B, …; exponents as they are; each coefficient of a
//! term `A/x^α` taken at the runs' mean ln x, see
//! [`crate::laws::Centring`]), where the trivial correlation between a
//! coefficient and its exponent is gone:
//!
//! * the **condition number** of the Gauss–Newton Hessian JᵀJ of the
//!   least-squares objective on log residuals, with J's columns scaled to
//!   unit length (so units and scales do not count): λ_max / λ_min. A large
//!   value means some combination of parameters barely changes any
//!   prediction — the data do not pin it down;
//! * the **bootstrap correlation** of the parameters, when a bootstrap ran.

use crate::data::Observations;
use crate::fit::{grad_to_centred, raw_to_centred};
use crate::laws::{Law, LogCovariates};

/// Condition number of the scaled JᵀJ above which a warning is given.
pub const CONDITION_WARN: f64 = 1e8;

/// |correlation| of two parameters' bootstrap draws above which they are
/// said not to be separately identifiable. A coefficient and its exponent
/// stay strongly correlated even in centred variables: on Epoch's
/// replication of Chinchilla's runs (240 runs over three decades, a
/// well-identified fit by any standard) A–α and B–β correlate at −0.984, so
/// a lower bar would warn on every Chinchilla fit and teach users to
/// ignore the warning.
pub const CORRELATION_WARN: f64 = 0.99;

/// The conditioning of a fit.
#[derive(Clone, Debug, PartialEq)]
pub struct Conditioning {
    /// λ_max / λ_min of the column-scaled Gauss–Newton Hessian over the
    /// parameters that have an effect (a vanished term's are left out);
    /// infinite when some combination has none.
    pub condition_number: f64,
    /// The eigenvector of the smallest eigenvalue (per parameter, unit
    /// length): the combination the data pin down least.
    pub weakest: Vec<f64>,
    /// Bootstrap correlation matrix of the centred parameters (row-major
    /// k×k), when draws were given.
    pub correlations: Option<Vec<Vec<f64>>>,
}

/// The Jacobian ∂ ln L̂_i / ∂x_j in the law's centred variables, rows per
/// run. Non-finite entries (a vanished coefficient) are zero.
pub fn centred_jacobian(law: &dyn Law, obs: &Observations, raw: &[f64]) -> Vec<Vec<f64>> {
    let centring = law.centring(obs);
    let k = raw.len();
    (0..obs.len())
        .map(|i| {
            let mut g = vec![0.0; k];
            law.log_predict(raw, &LogCovariates::at(obs, i), Some(&mut g));
            grad_to_centred(&centring, &mut g);
            g.iter_mut().for_each(|v| {
                if !v.is_finite() {
                    *v = 0.0
                }
            });
            g
        })
        .collect()
}

/// Eigenvalues (ascending) and eigenvectors (columns, as `vecs[row][col]`)
/// of a small symmetric matrix, by cyclic Jacobi rotations.
pub fn symmetric_eigen(a: &[Vec<f64>]) -> (Vec<f64>, Vec<Vec<f64>>) {
    let k = a.len();
    let mut m: Vec<Vec<f64>> = a.to_vec();
    let mut v: Vec<Vec<f64>> = (0..k)
        .map(|i| (0..k).map(|j| if i == j { 1.0 } else { 0.0 }).collect())
        .collect();
    for _sweep in 0..100 {
        let off: f64 = (0..k)
            .flat_map(|i| (0..k).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| m[i][j] * m[i][j])
            .sum();
        let scale: f64 = (0..k).map(|i| m[i][i] * m[i][i]).sum::<f64>();
        if off <= 1e-30 * scale.max(1e-300) {
            break;
        }
        for p in 0..k {
            for q in p + 1..k {
                if m[p][q] == 0.0 {
                    continue;
                }
                let theta = (m[q][q] - m[p][p]) / (2.0 * m[p][q]);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                // columns p, q of M and V, then rows p, q of M
                for row in m.iter_mut().chain(v.iter_mut()) {
                    let (xp, xq) = (row[p], row[q]);
                    row[p] = c * xp - s * xq;
                    row[q] = s * xp + c * xq;
                }
                let (rp, rq) = (m[p].clone(), m[q].clone());
                for (r, (xp, xq)) in rp.iter().zip(&rq).enumerate() {
                    m[p][r] = c * xp - s * xq;
                    m[q][r] = s * xp + c * xq;
                }
            }
        }
    }
    let mut order: Vec<usize> = (0..k).collect();
    order.sort_by(|&i, &j| m[i][i].total_cmp(&m[j][j]));
    let vals = order.iter().map(|&i| m[i][i]).collect();
    let vecs = (0..k)
        .map(|r| order.iter().map(|&c| v[r][c]).collect())
        .collect();
    (vals, vecs)
}

/// The condition number of the column-scaled JᵀJ at raw parameters `raw`,
/// and the eigenvector of its smallest eigenvalue.
pub fn condition_number(law: &dyn Law, obs: &Observations, raw: &[f64]) -> (f64, Vec<f64>) {
    let j = centred_jacobian(law, obs, raw);
    let k = raw.len();
    let mut h = vec![vec![0.0; k]; k];
    for row in &j {
        for a in 0..k {
            for b in 0..k {
                h[a][b] += row[a] * row[b];
            }
        }
    }
    let norms: Vec<f64> = (0..k).map(|a| h[a][a].sqrt()).collect();
    // A parameter without effect (a vanished term's coefficient, or the
    // exponent of that term) is left out: the fit warns about the vanished
    // term already, and the rest can still be judged.
    let keep: Vec<usize> = (0..k)
        .filter(|&a| norms[a] > 0.0 && norms[a].is_finite())
        .collect();
    let m = keep.len();
    if m == 0 {
        return (f64::NAN, vec![0.0; k]);
    }
    let scaled: Vec<Vec<f64>> = keep
        .iter()
        .map(|&a| {
            keep.iter()
                .map(|&b| h[a][b] / (norms[a] * norms[b]))
                .collect()
        })
        .collect();
    let (vals, vecs) = symmetric_eigen(&scaled);
    let mut weakest = vec![0.0; k];
    for (r, &a) in keep.iter().enumerate() {
        weakest[a] = vecs[r][0];
    }
    let (lo, hi) = (vals[0], vals[m - 1]);
    let cond = if lo > 0.0 { hi / lo } else { f64::INFINITY };
    (cond, weakest)
}

/// Pearson correlation matrix of bootstrap draws (natural parameters),
/// taken in the centred variables of `obs`. `None` with fewer than 3
/// draws; a parameter that never varies correlates NaN.
pub fn bootstrap_correlations(
    law: &dyn Law,
    obs: &Observations,
    draws: &[Vec<f64>],
) -> Option<Vec<Vec<f64>>> {
    let centring = law.centring(obs);
    let rows: Vec<Vec<f64>> = draws
        .iter()
        .map(|d| {
            let mut x = law.to_raw(d);
            raw_to_centred(&centring, &mut x);
            x
        })
        .filter(|x| x.iter().all(|v| v.is_finite()))
        .collect();
    if rows.len() < 3 {
        return None;
    }
    let k = rows[0].len();
    let n = rows.len() as f64;
    let mean: Vec<f64> = (0..k)
        .map(|j| rows.iter().map(|r| r[j]).sum::<f64>() / n)
        .collect();
    let mut cov = vec![vec![0.0; k]; k];
    for r in &rows {
        for a in 0..k {
            for b in 0..k {
                cov[a][b] += (r[a] - mean[a]) * (r[b] - mean[b]);
            }
        }
    }
    Some(
        (0..k)
            .map(|a| {
                (0..k)
                    .map(|b| {
                        let d = (cov[a][a] * cov[b][b]).sqrt();
                        if d > 0.0 {
                            (cov[a][b] / d).clamp(-1.0, 1.0)
                        } else {
                            f64::NAN
                        }
                    })
                    .collect()
            })
            .collect(),
    )
}

/// The conditioning of a fit at raw parameters `raw`, with the bootstrap
/// correlations when `draws` are given.
pub fn conditioning(
    law: &dyn Law,
    obs: &Observations,
    raw: &[f64],
    draws: &[Vec<f64>],
) -> Conditioning {
    let (condition_number, weakest) = condition_number(law, obs, raw);
    Conditioning {
        condition_number,
        weakest,
        correlations: bootstrap_correlations(law, obs, draws),
    }
}

/// Warnings about parameters the data cannot tell apart: every pair whose
/// bootstrap |correlation| exceeds [`CORRELATION_WARN`], and a condition
/// number above [`CONDITION_WARN`] (naming the parameters of the weakest
/// direction).
pub fn identifiability_warnings(names: &[&str], c: &Conditioning) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(m) = &c.correlations {
        for a in 0..names.len() {
            for b in a + 1..names.len() {
                let r = m[a][b];
                if r.abs() > CORRELATION_WARN {
                    out.push(format!(
                        "{} and {} are not separately identifiable: bootstrap correlation {:.3} \
                         (in centred variables); the data pin down a combination of them, not \
                         each one",
                        names[a], names[b], r
                    ));
                }
            }
        }
    }
    if c.condition_number > CONDITION_WARN {
        let mut involved: Vec<(usize, f64)> = c
            .weakest
            .iter()
            .enumerate()
            .filter(|(_, v)| v.abs() >= 0.3)
            .map(|(i, v)| (i, v.abs()))
            .collect();
        involved.sort_by(|a, b| b.1.total_cmp(&a.1));
        let who: Vec<&str> = involved.iter().map(|(i, _)| names[*i]).collect();
        out.push(format!(
            "the fit is ill-conditioned (condition number {:.3e} of the scaled Gauss-Newton \
             Hessian, above {:.0e}): {} are not separately identifiable from these runs",
            c.condition_number,
            CONDITION_WARN,
            match who.len() {
                0 => "some parameters".to_string(),
                1 => who[0].to_string(),
                _ => format!(
                    "{} and {}",
                    who[..who.len() - 1].join(", "),
                    who[who.len() - 1]
                ),
            }
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fit::{fit_law, FitOptions};
    use crate::laws::Chinchilla;

    #[test]
    fn eigen_decomposes_a_known_matrix() {
        let a = vec![
            vec![2.0, 1.0, 0.0],
            vec![1.0, 2.0, 0.0],
            vec![0.0, 0.0, 5.0],
        ];
        let (vals, vecs) = symmetric_eigen(&a);
        for (v, w) in vals.iter().zip([1.0, 3.0, 5.0]) {
            assert!((v - w).abs() < 1e-12, "{vals:?}");
        }
        // A v = λ v for the smallest
        let v0: Vec<f64> = (0..3).map(|r| vecs[r][0]).collect();
        for r in 0..3 {
            let av: f64 = (0..3).map(|c| a[r][c] * v0[c]).sum();
            assert!((av - vals[0] * v0[r]).abs() < 1e-12);
        }
    }

    fn chinchilla_obs(n: &[f64], tpp: &[f64]) -> Observations {
        let truth = [1.8, 400.0, 2000.0, 0.34, 0.36];
        let (mut nn, mut dd, mut ll) = (vec![], vec![], vec![]);
        for &p in n {
            for &t in tpp {
                let d = p * t;
                nn.push(p);
                dd.push(d);
                ll.push(Chinchilla.predict(&truth, &crate::data::Covariates::from_nd(p, d)));
            }
        }
        Observations::from_nd(nn, dd, ll).unwrap()
    }

    #[test]
    fn a_confounded_design_is_ill_conditioned_and_a_spread_one_is_not() {
        let truth_raw = Chinchilla.to_raw(&[1.8, 400.0, 2000.0, 0.34, 0.36]);
        let spread = chinchilla_obs(&[1e7, 3e7, 1e8, 3e8, 1e9, 3e9], &[2.0, 8.0, 30.0, 120.0]);
        // One tokens-per-parameter ratio over a narrow range of sizes: N and D
        // move together, so the two terms cannot be told apart.
        let confounded = chinchilla_obs(&[1e8, 1.3e8, 1.7e8, 2.2e8, 2.9e8, 3.7e8], &[20.0]);
        let (good, _) = condition_number(&Chinchilla, &spread, &truth_raw);
        let (bad, weakest) = condition_number(&Chinchilla, &confounded, &truth_raw);
        assert!(good.is_finite() && good < CONDITION_WARN, "{good}");
        assert!(bad > 1e3 * good, "{bad} vs {good}");
        assert!((weakest.iter().map(|v| v * v).sum::<f64>() - 1.0).abs() < 1e-9);
        // A vanished term (B = 0) leaves its two parameters out.
        let no_b = Chinchilla.to_raw(&[1.8, 400.0, 0.0, 0.34, 0.36]);
        let (c_no_b, w_no_b) = condition_number(&Chinchilla, &spread, &no_b);
        assert!(c_no_b.is_finite() && c_no_b >= 1.0, "{c_no_b}");
        assert_eq!((w_no_b[2], w_no_b[4]), (0.0, 0.0), "{w_no_b:?}");
        let c = Conditioning {
            condition_number: bad.max(2.0 * CONDITION_WARN),
            weakest,
            correlations: None,
        };
        let w = identifiability_warnings(&Chinchilla.param_names(), &c);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("not separately identifiable"), "{w:?}");
    }

    #[test]
    fn correlated_draws_are_named() {
        let obs = chinchilla_obs(&[1e7, 1e8, 1e9], &[5.0, 20.0, 80.0]);
        let fit = fit_law(&Chinchilla, &obs, &FitOptions::default()).unwrap();
        // draws where E and B move together exactly (β fixed, so B's centred
        // variable is ln B plus a constant), A and α independently
        let draws: Vec<Vec<f64>> = (0..50)
            .map(|i| {
                let t = (i as f64 * 0.37).sin();
                let u = (i as f64 * 1.91).cos();
                vec![
                    1.8 * (0.01 * t).exp(),
                    400.0 * (0.05 * u).exp(),
                    2000.0 * (0.02 * t).exp(),
                    0.34 + 0.003 * (i as f64 * 2.3).sin(),
                    0.36,
                ]
            })
            .collect();
        let c = conditioning(&Chinchilla, &obs, &fit.raw, &draws);
        let m = c.correlations.as_ref().unwrap();
        assert!((m[0][0] - 1.0).abs() < 1e-12);
        let w = identifiability_warnings(&Chinchilla.param_names(), &c);
        assert!(
            w.iter()
                .any(|w| w.starts_with("E and B are not separately identifiable")),
            "{w:?} {m:?}"
        );
    }
}
