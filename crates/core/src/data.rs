//! Observations: the runs a law is fitted to, held column-wise (structure of
//! arrays) with their logarithms precomputed, because every objective
//! evaluation works on ln N, ln D, ln C and ln L.

use serde::{Deserialize, Serialize};

/// The covariates of one run: parameters N, training tokens D and compute C.
///
/// A law that does not use a covariate ignores it; `c` is usually `6·n·d`
/// (or the exact count) and is filled in by whoever built the table.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Covariates {
    pub n: f64,
    pub d: f64,
    pub c: f64,
}

impl Covariates {
    /// Covariates with compute from the 6ND convention.
    pub fn from_nd(n: f64, d: f64) -> Self {
        Covariates {
            n,
            d,
            c: 6.0 * n * d,
        }
    }
}

/// A set of runs with positive, finite N, D, C and loss.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Observations {
    pub n: Vec<f64>,
    pub d: Vec<f64>,
    pub c: Vec<f64>,
    pub loss: Vec<f64>,
    pub ln_n: Vec<f64>,
    pub ln_d: Vec<f64>,
    pub ln_c: Vec<f64>,
    pub ln_loss: Vec<f64>,
}

/// Why a set of values cannot be used as observations.
#[derive(Clone, Debug, PartialEq)]
pub struct InvalidObservation {
    /// Index of the offending run (0-based, in the order given).
    pub index: usize,
    /// Which covariate: "params", "tokens", "flops" or "loss".
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
        Ok(Observations {
            ln_n: ln(&n),
            ln_d: ln(&d),
            ln_c: ln(&c),
            ln_loss: ln(&loss),
            n,
            d,
            c,
            loss,
        })
    }

    /// Whether the covariate is known (not NaN) for these runs.
    pub fn has(&self, field: &str) -> bool {
        let col = match field {
            "params" => &self.n,
            "tokens" => &self.d,
            "flops" => &self.c,
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
            ln_n: pick(&self.ln_n),
            ln_d: pick(&self.ln_d),
            ln_c: pick(&self.ln_c),
            ln_loss: pick(&self.ln_loss),
        }
    }
}
