//! Observations: the runs a law is fitted to, held column-wise (structure of
//! arrays) with their logarithms precomputed, because every objective
//! evaluation works on ln N, ln D, ln C and ln L.
//!
//! A run may also record its unique-token budget U (the distinct tokens it
//! trained on, repeated for D/U epochs). It is unknown (NaN) unless a table
//! provides it, and only the data-constrained law reads it; an unknown U
//! means the run saw fresh data throughout (U = D).

use serde::{Deserialize, Serialize};

/// The covariates of one run: parameters N, training tokens D and compute C,
/// and the unique tokens U among the D (NaN when unknown: fresh data).
///
/// A law that does not use a covariate ignores it; `c` is usually `6·n·d`
/// (or the exact count) and is filled in by whoever built the table.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Covariates {
    pub n: f64,
    pub d: f64,
    pub c: f64,
    #[serde(default = "unknown", skip_serializing_if = "is_unknown")]
    pub u: f64,
}

fn unknown() -> f64 {
    f64::NAN
}

fn is_unknown(u: &f64) -> bool {
    u.is_nan()
}

impl Covariates {
    /// Covariates with compute from the 6ND convention.
    pub fn from_nd(n: f64, d: f64) -> Self {
        Covariates {
            n,
            d,
            c: 6.0 * n * d,
            u: f64::NAN,
        }
    }

    /// These covariates with `u` unique tokens.
    pub fn with_unique(self, u: f64) -> Self {
        Covariates { u, ..self }
    }
}

/// A set of runs with positive, finite N, D, C and loss.
#[derive(Clone, Debug, Default)]
pub struct Observations {
    pub n: Vec<f64>,
    pub d: Vec<f64>,
    pub c: Vec<f64>,
    pub loss: Vec<f64>,
    /// Unique tokens of each run (NaN throughout when unknown).
    pub u: Vec<f64>,
    pub ln_n: Vec<f64>,
    pub ln_d: Vec<f64>,
    pub ln_c: Vec<f64>,
    pub ln_loss: Vec<f64>,
    pub ln_u: Vec<f64>,
}

/// Equal when every column is; an unknown unique-tokens column (NaN
/// throughout) equals another unknown one.
impl PartialEq for Observations {
    fn eq(&self, o: &Self) -> bool {
        let same = |a: &[f64], b: &[f64]| {
            a.len() == b.len()
                && a.iter()
                    .zip(b)
                    .all(|(x, y)| x == y || (x.is_nan() && y.is_nan()))
        };
        self.n == o.n
            && self.d == o.d
            && self.c == o.c
            && self.loss == o.loss
            && self.ln_n == o.ln_n
            && self.ln_d == o.ln_d
            && self.ln_c == o.ln_c
            && self.ln_loss == o.ln_loss
            && same(&self.u, &o.u)
            && same(&self.ln_u, &o.ln_u)
    }
}

/// Why a set of values cannot be used as observations.
#[derive(Clone, Debug, PartialEq)]
pub struct InvalidObservation {
    /// Index of the offending run (0-based, in the order given).
    pub index: usize,
    /// Which covariate: "params", "tokens", "flops", "loss" or
    /// "unique_tokens".
    pub field: &'static str,
    pub value: f64,
}

impl std::fmt::Display for InvalidObservation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "run {}: {} = {} is not a positive finite number",
            self.index, self.field, self.value
        )
    }
}

impl std::error::Error for InvalidObservation {}

impl Observations {
    /// Builds observations, checking that every value is positive and finite.
    ///
    /// A covariate a table does not have (say N and D when only compute is
    /// known) may be NaN throughout; laws that need it must not be fitted to
    /// such observations (see [`Observations::has`]). The loss must always be
    /// present.
    pub fn new(
        n: Vec<f64>,
        d: Vec<f64>,
        c: Vec<f64>,
        loss: Vec<f64>,
    ) -> Result<Self, InvalidObservation> {
        assert!(
            n.len() == d.len() && d.len() == c.len() && c.len() == loss.len(),
            "columns of unequal length"
        );
        for (field, col) in [
            ("params", &n),
            ("tokens", &d),
            ("flops", &c),
            ("loss", &loss),
        ] {
            let missing_ok = field != "loss" && col.iter().all(|v| v.is_nan());
            if missing_ok {
                continue;
            }
            if let Some((index, &value)) = col
                .iter()
                .enumerate()
                .find(|(_, v)| !(v.is_finite() && **v > 0.0))
            {
                return Err(InvalidObservation {
                    index,
                    field,
                    value,
                });
            }
        }
        let ln = |v: &Vec<f64>| v.iter().map(|x| x.ln()).collect::<Vec<_>>();
        let u = vec![f64::NAN; loss.len()];
        Ok(Observations {
            ln_n: ln(&n),
            ln_d: ln(&d),
            ln_c: ln(&c),
            ln_loss: ln(&loss),
            ln_u: u.clone(),
            n,
            d,
            c,
            loss,
            u,
        })
    }

    /// These observations with each run's unique tokens, which must be
    /// positive and finite.
    pub fn with_unique(mut self, u: Vec<f64>) -> Result<Self, InvalidObservation> {
        assert_eq!(u.len(), self.len(), "columns of unequal length");
        if let Some((index, &value)) = u
            .iter()
            .enumerate()
            .find(|(_, v)| !(v.is_finite() && **v > 0.0))
        {
            return Err(InvalidObservation {
                index,
                field: "unique_tokens",
                value,
            });
        }
        self.ln_u = u.iter().map(|x| x.ln()).collect();
        self.u = u;
        Ok(self)
    }

    /// Whether the covariate is known (not NaN) for these runs.
    pub fn has(&self, field: &str) -> bool {
        let col = match field {
            "params" => &self.n,
            "tokens" => &self.d,
            "flops" => &self.c,
            "unique_tokens" => &self.u,
            _ => &self.loss,
        };
        !col.is_empty() && !col[0].is_nan()
    }

    /// Builds observations from (N, D, loss) with C = 6ND.
    pub fn from_nd(n: Vec<f64>, d: Vec<f64>, loss: Vec<f64>) -> Result<Self, InvalidObservation> {
        let c = n.iter().zip(&d).map(|(n, d)| 6.0 * n * d).collect();
        Self::new(n, d, c, loss)
    }

    pub fn len(&self) -> usize {
        self.loss.len()
    }

    pub fn is_empty(&self) -> bool {
        self.loss.is_empty()
    }

    pub fn covariates(&self, i: usize) -> Covariates {
        Covariates {
            n: self.n[i],
            d: self.d[i],
            c: self.c[i],
            u: self.u[i],
        }
    }

    /// The subset of runs at the given indices (repeats allowed).
    pub fn select(&self, idx: &[usize]) -> Observations {
        let pick = |v: &Vec<f64>| idx.iter().map(|&i| v[i]).collect::<Vec<_>>();
        Observations {
            n: pick(&self.n),
            d: pick(&self.d),
            c: pick(&self.c),
            loss: pick(&self.loss),
            u: pick(&self.u),
            ln_n: pick(&self.ln_n),
            ln_d: pick(&self.ln_d),
            ln_c: pick(&self.ln_c),
            ln_loss: pick(&self.ln_loss),
            ln_u: pick(&self.ln_u),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_unique_tokens_compare_equal_and_known_ones_are_checked() {
        let a = Observations::from_nd(vec![1e6], vec![1e9], vec![3.0]).unwrap();
        let b = Observations::from_nd(vec![1e6], vec![1e9], vec![3.0]).unwrap();
        assert_eq!(a, b);
        let c = b.clone().with_unique(vec![1e8]).unwrap();
        assert_ne!(a, c);
        assert_eq!(c.covariates(0).u, 1e8);
        let e = b.with_unique(vec![0.0]).unwrap_err();
        assert_eq!(e.field, "unique_tokens");
    }
}
