//! `hparams` (learning-rate and batch optima per budget, and their laws)
//! and `write_hparams` (the file `scalelab hparams --out` writes).

use crate::errors;
use crate::table::{self, Source};
use pyo3::prelude::*;
use scalelab::hparams::{HparamsReport, HparamsRequest};
use scalelab::Error;
use std::path::PathBuf;

fn to_json<T: serde::Serialize>(v: &T) -> scalelab::Result<String> {
    serde_json::to_string_pretty(v).map_err(|e| Error::failed(format!("cannot serialise: {e}")))
}

/// `hparams(runs, ...)`: the `scalelab.hparams/1` JSON text.
#[pyfunction]
#[pyo3(signature = (
    runs, r#where = Vec::new(), loss_col = "loss".to_string(), lr_col = "lr".to_string(),
    batch_col = None, budget_col = None, tol = 0.01, fit_points = 5, bootstrap = 1000, seed = 0,
    holdout_largest = false,
))]
#[allow(clippy::too_many_arguments)]
pub fn hparams(
    py: Python<'_>,
    runs: &Bound<'_, PyAny>,
    r#where: Vec<String>,
    loss_col: String,
    lr_col: String,
    batch_col: Option<String>,
    budget_col: Option<String>,
    tol: f64,
    fit_points: usize,
    bootstrap: usize,
    seed: u64,
    holdout_largest: bool,
) -> PyResult<String> {
    errors::guard(py, || {
        let source = table::source(py, runs)?;
        let mut req = HparamsRequest::new(PathBuf::new());
        req.filters = r#where;
        req.loss_col = loss_col;
        req.lr_col = lr_col;
        req.batch_col = batch_col;
        req.budget_col = budget_col;
        req.tol = tol;
        req.window = fit_points;
        req.bootstrap = bootstrap;
        req.seed = seed;
        req.holdout_largest = holdout_largest;
        errors::run(py, || {
            let report = match source {
                Source::Path(p) => {
                    req.table = p;
                    scalelab::hparams::run(&req)?
                }
                Source::Table(t) => {
                    req.table = t.path.clone();
                    let input = scalelab::hparams::load_from_table(&req, t)?;
                    scalelab::hparams::analyse(&req, &input)?
                }
            };
            to_json(&report)
        })
    })
}

/// `write_hparams(report_json, path)`: the file `scalelab hparams --out`
/// writes (for `scalelab report` and a sweep's `lr_rule`).
#[pyfunction]
pub fn write_hparams(py: Python<'_>, report: &str, path: PathBuf) -> PyResult<()> {
    errors::guard(py, || {
        let r: HparamsReport = serde_json::from_str(report).map_err(|e| {
            errors::input_error(py, format!("not a scalelab.hparams/1 report: {e}"))
        })?;
        errors::run(py, || scalelab::hparams::write(&r, "path", &path))
    })
}
