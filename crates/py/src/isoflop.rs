//! `isoflop` (Approaches 1–3) and `design` (an IsoFLOP pilot grid).

use crate::errors::{self, input_error};
use crate::progress::PyProgress;
use crate::table::{self, Source};
use pyo3::prelude::*;
use scalelab::design::DesignRequest;
use scalelab::isoflop::IsoflopRequest;
use scalelab::Error;
use scalelab_tables::ColumnMap;
use std::path::PathBuf;

fn to_json<T: serde::Serialize>(v: &T) -> scalelab::Result<String> {
    serde_json::to_string_pretty(v).map_err(|e| Error::failed(format!("cannot serialise: {e}")))
}

/// `isoflop(runs, ...)`: the `scalelab.isoflop/1` JSON text.
#[pyfunction]
#[pyo3(signature = (
    runs, r#where = Vec::new(), group_by = None, params_col = None, tokens_col = None,
    flops_col = None, loss_col = None, run_col = None, window = 4.0, bootstrap = 1000, seed = 0,
    fit = None, progress = None,
))]
#[allow(clippy::too_many_arguments)]
pub fn isoflop(
    py: Python<'_>,
    runs: &Bound<'_, PyAny>,
    r#where: Vec<String>,
    group_by: Option<String>,
    params_col: Option<String>,
    tokens_col: Option<String>,
    flops_col: Option<String>,
    loss_col: Option<String>,
    run_col: Option<String>,
    window: f64,
    bootstrap: usize,
    seed: u64,
    fit: Option<PathBuf>,
    progress: Option<Py<PyAny>>,
) -> PyResult<String> {
    errors::guard(py, || {
        let source = table::source(py, runs)?;
        let mut req = IsoflopRequest::new(PathBuf::new());
        req.filters = r#where;
        // one column, or several joined by commas (as on the command line)
        req.group_by = group_by
            .map(|g| g.split(',').map(|c| c.trim().to_string()).collect())
            .unwrap_or_default();
        req.columns = ColumnMap {
            params: params_col,
            tokens: tokens_col,
            flops: flops_col,
            loss: loss_col,
            unique: None,
        };
        req.run_col = run_col;
        req.window = window;
        req.bootstrap = bootstrap;
        req.seed = seed;
        req.fit = fit;
        let bar = PyProgress::new(progress);
        let result = errors::run(py, || {
            let report = match source {
                Source::Path(p) => {
                    req.runs = p;
                    scalelab::isoflop::run(&req, &bar)?
                }
                Source::Table(t) => {
                    req.runs = t.path.clone();
                    let input = scalelab::isoflop::load_from_table(&req, t)?;
                    scalelab::isoflop::analyse(&req, &input, &bar)?
                }
            };
            to_json(&report)
        });
        bar.finish(result)
    })
}

/// `design(pilot_flops, ...)`: the `scalelab.design/1` JSON text (and the
/// sweep file, with `out`).
#[pyfunction]
#[pyo3(signature = (
    pilot_flops, budgets = 5, decades = 2.0, sizes = 7, spread = 4.0, tokens_per_param = 20.0,
    fit = None, context = 128, vocab = 256, out = None,
))]
#[allow(clippy::too_many_arguments)]
pub fn design(
    py: Python<'_>,
    pilot_flops: f64,
    budgets: usize,
    decades: f64,
    sizes: usize,
    spread: f64,
    tokens_per_param: f64,
    fit: Option<PathBuf>,
    context: usize,
    vocab: usize,
    out: Option<PathBuf>,
) -> PyResult<String> {
    errors::guard(py, || {
        if !(pilot_flops.is_finite() && pilot_flops > 0.0) {
            return Err(input_error(
                py,
                format!("pilot_flops must be a positive number, got {pilot_flops}"),
            ));
        }
        let req = DesignRequest {
            pilot_flops,
            budgets,
            decades,
            sizes,
            spread,
            tokens_per_param,
            fit,
            context,
            vocab,
            out,
        };
        errors::run(py, || to_json(&scalelab::design::run(&req)?))
    })
}
