//! Robust losses on log residuals.
//!
//! The objective of every fit is `Σ_i w_i ρ(r_i)` with `r_i = ln L_i − ln L̂_i`:
//! a **sum**, not a mean, so the objective's scale (and so the optimiser's
//! tolerances) does not change with the number of runs. Averaging is what made
//! Hoffmann et al.'s optimiser stop early (Besiroglu et al. 2024).

use serde::{Deserialize, Serialize};

/// The per-residual loss ρ.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Robust {
    /// Huber: ½r² for |r| ≤ δ, δ(|r| − ½δ) beyond. δ = 1e-3 is the
    /// literature's choice for log-loss residuals.
    Huber { delta: f64 },
    /// Plain least squares, ½r².
    LeastSquares,
}

impl Default for Robust {
    fn default() -> Self {
        Robust::Huber { delta: 1e-3 }
    }
}

impl Robust {
    /// ρ(r) and ρ'(r).
    #[inline(always)]
    pub fn value_deriv(&self, r: f64) -> (f64, f64) {
        match *self {
            Robust::Huber { delta } => huber(delta, r),
            Robust::LeastSquares => (0.5 * r * r, r),
        }
    }

    /// A short name for reports: `huber(1e-3)` or `least_squares`.
    pub fn label(&self) -> String {
        match self {
            Robust::Huber { delta } => format!("huber(delta={delta:e})"),
            Robust::LeastSquares => "least_squares".to_string(),
        }
    }
}

/// Huber loss and its derivative; written branch-free so loops over it
/// vectorise.
#[inline(always)]
pub fn huber(delta: f64, r: f64) -> (f64, f64) {
    let a = r.abs();
    let inside = a <= delta;
    let v = if inside {
        0.5 * r * r
    } else {
        delta * (a - 0.5 * delta)
    };
    let g = if inside { r } else { delta * r.signum() };
    (v, g)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huber_is_continuous_with_continuous_slope_at_delta() {
        let d = 1e-3;
        let (v1, g1) = huber(d, d * (1.0 - 1e-12));
        let (v2, g2) = huber(d, d * (1.0 + 1e-12));
        assert!((v1 - v2).abs() < 1e-15);
        assert!((g1 - g2).abs() < 1e-12);
        assert_eq!(huber(d, -0.5).0, d * (0.5 - 0.5 * d));
        assert_eq!(huber(d, -0.5).1, -d);
    }

    #[test]
    fn least_squares_matches_half_square() {
        let (v, g) = Robust::LeastSquares.value_deriv(0.3);
        assert!((v - 0.045).abs() < 1e-15 && (g - 0.3).abs() < 1e-15);
    }
}
