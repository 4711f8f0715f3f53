//! `fit`, and what a fit can do: predict, load, save.

use crate::errors::{self, input_error};
use crate::progress::PyProgress;
use crate::table::{self, Source};
use pyo3::prelude::*;
use scalelab::fit::{FitRequest, Holdout, Method, Robust};
use scalelab::Error;
use scalelab_tables::fitfile::FitReport;
use scalelab_tables::ColumnMap;
use std::path::PathBuf;

/// The fit's JSON text, as `scalelab fit --json` prints it.
fn to_json<T: serde::Serialize>(v: &T) -> scalelab::Result<String> {
    serde_json::to_string_pretty(v).map_err(|e| Error::failed(format!("cannot serialise: {e}")))
}

/// `fit(runs, ...)`: the `scalelab.fit/1` JSON text.
#[pyfunction]
#[pyo3(signature = (
    runs, law = "chinchilla".to_string(), method = "varpro".to_string(), bootstrap = 0, seed = 0,
    r#where = Vec::new(), holdout_largest = None, holdout_above_flops = None,
    params_col = None, tokens_col = None, flops_col = None, loss_col = None,
    huber_delta = 1e-3, least_squares = false, threads = None, progress = None, rollout = false,
))]
#[allow(clippy::too_many_arguments)]
pub fn fit(
    py: Python<'_>,
    runs: &Bound<'_, PyAny>,
    law: String,
    method: String,
    bootstrap: usize,
    seed: u64,
    r#where: Vec<String>,
    holdout_largest: Option<usize>,
    holdout_above_flops: Option<f64>,
    params_col: Option<String>,
    tokens_col: Option<String>,
    flops_col: Option<String>,
    loss_col: Option<String>,
    huber_delta: f64,
    least_squares: bool,
    threads: Option<usize>,
    progress: Option<Py<PyAny>>,
    rollout: bool,
) -> PyResult<String> {
    errors::guard(py, || {
        let method = match method.as_str() {
            "varpro" => Method::VarPro,
            "grid" => Method::Grid,
            other => {
                return Err(input_error(
                    py,
                    format!("method: unknown method `{other}` (known: varpro, grid)"),
                ))
            }
        };
        if !(huber_delta.is_finite() && huber_delta > 0.0) {
            return Err(input_error(
                py,
                format!("huber_delta must be a positive number, got {huber_delta}"),
            ));
        }
        if let Some(c) = holdout_above_flops {
            if !(c.is_finite() && c > 0.0) {
                return Err(input_error(
                    py,
                    format!("holdout above flops must be a positive number, got {c}"),
                ));
            }
        }
        let source = table::source(py, runs)?;
        let mut req = FitRequest {
            law,
            method,
            robust: if least_squares {
                Robust::LeastSquares
            } else {
                Robust::Huber { delta: huber_delta }
            },
            columns: ColumnMap {
                params: params_col,
                tokens: tokens_col,
                flops: flops_col,
                loss: loss_col,
                unique: None,
            },
            filters: r#where,
            bootstrap,
            seed,
            holdout: match (holdout_above_flops, holdout_largest) {
                (Some(c), _) => Some(Holdout::AboveFlops(c)),
                (None, Some(k)) => Some(Holdout::Largest(k)),
                _ => None,
            },
            rollout,
            ..Default::default()
        };
        let bar = PyProgress::new(progress);
        let result = errors::run(py, || {
            scalelab::threads::init(threads)?;
            let report = match source {
                Source::Path(p) => {
                    req.table = p;
                    scalelab::fit::fit(&req, &bar)?
                }
                Source::Table(t) => {
                    req.table = t.path.clone();
                    scalelab::fit::fit_table(&req, t, &bar)?
                }
            };
            to_json(&report)
        });
        bar.finish(result)
    })
}

fn parse(py: Python<'_>, json: &str) -> PyResult<FitReport> {
    let report: FitReport = serde_json::from_str(json)
        .map_err(|e| input_error(py, format!("not a scalelab.fit/1 object: {e}")))?;
    report
        .check()
        .map_err(|e| input_error(py, format!("not a usable fit: {e}")))?;
    Ok(report)
}

/// `predict(fit_json, n, d)`: the predicted loss at each (N, D).
#[pyfunction]
pub fn predict(py: Python<'_>, fit: &str, n: Vec<f64>, d: Vec<f64>) -> PyResult<Vec<f64>> {
    errors::guard(py, || {
        let report = parse(py, fit)?;
        report.predict(&n, &d).map_err(|e| input_error(py, e))
    })
}

/// `read_fit(path)`: a fit file, checked, as JSON text.
#[pyfunction]
pub fn read_fit(py: Python<'_>, path: PathBuf) -> PyResult<String> {
    errors::guard(py, || {
        errors::run(py, || to_json(&scalelab::fit::read_fit(&path)?))
    })
}

/// `write_fit(fit_json, path)`: the file `scalelab fit --out` writes.
#[pyfunction]
pub fn write_fit(py: Python<'_>, fit: &str, path: PathBuf) -> PyResult<()> {
    errors::guard(py, || {
        let text = to_json(&parse(py, fit)?).map_err(|e| errors::to_py(py, e))? + "\n";
        errors::run(py, || {
            scalelab::error::write_file("path", &path, text.as_bytes())
        })
    })
}
