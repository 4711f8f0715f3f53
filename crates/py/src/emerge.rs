//! `emerge`: abilities across scale, with two-stage prediction.

use crate::errors;
use crate::progress::PyProgress;
use pyo3::prelude::*;
use scalelab::emerge::EmergeRequest;
use scalelab::Error;
use std::path::PathBuf;

/// `emerge(table, ...)`: the `scalelab.emerge/1` JSON text.
#[pyfunction]
#[pyo3(signature = (
    table, scale_col = "params".to_string(), task_col = "task".to_string(),
    metric_col = "metric".to_string(), value_col = "value".to_string(),
    stderr_col = "stderr".to_string(), group_by = Vec::new(), r#where = Vec::new(),
    discrete = "acc".to_string(), continuous = "ppl".to_string(), answer_length = 1.0,
    chance = Vec::new(), sharp_decades = 1.5, smooth_rmse = 0.05, max_jump_share = 0.5,
    items = None, bootstrap = 400, seed = 0, runs = None, fit = None, predict_flops = None,
    progress = None,
))]
#[allow(clippy::too_many_arguments)]
pub fn emerge(
    py: Python<'_>,
    table: PathBuf,
    scale_col: String,
    task_col: String,
    metric_col: String,
    value_col: String,
    stderr_col: String,
    group_by: Vec<String>,
    r#where: Vec<String>,
    discrete: String,
    continuous: String,
    answer_length: f64,
    chance: Vec<(String, f64)>,
    sharp_decades: f64,
    smooth_rmse: f64,
    max_jump_share: f64,
    items: Option<PathBuf>,
    bootstrap: usize,
    seed: u64,
    runs: Option<PathBuf>,
    fit: Option<PathBuf>,
    predict_flops: Option<f64>,
    progress: Option<Py<PyAny>>,
) -> PyResult<String> {
    errors::guard(py, || {
        let req = EmergeRequest {
            table,
            scale_col,
            task_col,
            metric_col,
            value_col,
            stderr_col,
            group_by,
            filters: r#where,
            discrete,
            continuous,
            answer_length,
            chance,
            sharp_decades,
            smooth_rmse,
            max_jump_share,
            items,
            bootstrap,
            seed,
            runs,
            fit,
            predict_flops,
            out: None,
        };
        let bar = PyProgress::new(progress);
        let result = errors::run(py, || {
            let report = scalelab::emerge::run(&req, &bar)?;
            serde_json::to_string_pretty(&report)
                .map_err(|e| Error::failed(format!("cannot serialise: {e}")))
        });
        bar.finish(result)
    })
}
