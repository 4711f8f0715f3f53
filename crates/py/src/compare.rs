//! `compare` (the effective-compute multiplier between two ladders) and
//! `write_compare` (the file `scalelab compare --out` writes).

use crate::errors::{self, input_error};
use crate::table::{self, Source};
use pyo3::prelude::*;
use scalelab::compare::{CompareReport, CompareRequest, Groups};
use scalelab::fit::{ColumnMap, Robust};
use scalelab::Error;
use std::path::PathBuf;

fn to_json<T: serde::Serialize>(v: &T) -> scalelab::Result<String> {
    serde_json::to_string_pretty(v).map_err(|e| Error::failed(format!("cannot serialise: {e}")))
}

/// `compare(a, b, ...)`: the `scalelab.compare/1` JSON text.
#[pyfunction]
#[pyo3(signature = (
    a, b = None, group_by = Vec::new(), group_a = None, group_b = None, r#where = Vec::new(),
    flops_col = None, params_col = None, tokens_col = None, loss_col = None,
    convention_col = scalelab::compare::DEFAULT_CONVENTION_COLUMN.to_string(),
    no_convention_check = false, shared_e = false, bootstrap = 200, seed = 0, at = Vec::new(),
    huber_delta = 1e-3, threads = None,
))]
#[allow(clippy::too_many_arguments)]
pub fn compare(
    py: Python<'_>,
    a: &Bound<'_, PyAny>,
    b: Option<&Bound<'_, PyAny>>,
    group_by: Vec<String>,
    group_a: Option<String>,
    group_b: Option<String>,
    r#where: Vec<String>,
    flops_col: Option<String>,
    params_col: Option<String>,
    tokens_col: Option<String>,
    loss_col: Option<String>,
    convention_col: String,
    no_convention_check: bool,
    shared_e: bool,
    bootstrap: usize,
    seed: u64,
    at: Vec<f64>,
    huber_delta: f64,
    threads: Option<usize>,
) -> PyResult<String> {
    errors::guard(py, || {
        // what the CLI's parser refuses before the library sees it
        if !(huber_delta.is_finite() && huber_delta > 0.0) {
            return Err(input_error(
                py,
                format!("huber_delta must be a positive number, got {huber_delta}"),
            ));
        }
        if let Some(v) = at.iter().find(|v| !(v.is_finite() && **v > 0.0)) {
            return Err(input_error(
                py,
                format!("at: every compute must be a positive finite number, got {v}"),
            ));
        }
        let groups = match (group_by.is_empty(), group_a, group_b) {
            (true, None, None) => None,
            (false, Some(ga), Some(gb)) => Some(Groups {
                columns: group_by,
                a: ga,
                b: gb,
            }),
            (false, _, _) => {
                return Err(input_error(
                    py,
                    "group_by needs both group_a and group_b (recipe A's and recipe B's values)",
                ))
            }
            (true, _, _) => {
                return Err(input_error(
                    py,
                    "group_a and group_b pick ladders by the values of group_by's columns; give group_by",
                ))
            }
        };
        let source_a = table::source(py, a)?;
        let source_b = match b {
            Some(b) if !b.is_none() => Some(table::source(py, b)?),
            _ => None,
        };
        let mut req = CompareRequest {
            groups,
            columns: ColumnMap {
                params: params_col,
                tokens: tokens_col,
                flops: flops_col,
                loss: loss_col,
                unique: None,
            },
            filters: r#where,
            convention_col,
            no_convention_check,
            shared_e,
            bootstrap,
            seed,
            at,
            robust: Robust::Huber { delta: huber_delta },
            ..CompareRequest::default()
        };
        let table_a = match source_a {
            Source::Path(p) => {
                req.table_a = p;
                None
            }
            Source::Table(t) => {
                req.table_a = t.path.clone();
                Some(t)
            }
        };
        let table_b = match source_b {
            None => None,
            Some(Source::Path(p)) => {
                req.table_b = Some(p);
                None
            }
            Some(Source::Table(t)) => Some(t),
        };
        errors::run(py, || {
            scalelab::threads::init(threads)?;
            let input = scalelab::compare::load_from_tables(&req, table_a, table_b)?;
            to_json(&scalelab::compare::analyse(&req, &input)?)
        })
    })
}

/// `write_compare(report_json, path)`: the file `scalelab compare --out`
/// writes (for `scalelab report` and `scalelab plot`).
#[pyfunction]
pub fn write_compare(py: Python<'_>, report: &str, path: PathBuf) -> PyResult<()> {
    errors::guard(py, || {
        let r: CompareReport = serde_json::from_str(report)
            .map_err(|e| input_error(py, format!("not a scalelab.compare/1 report: {e}")))?;
        errors::run(py, || scalelab::compare::write_compare(&r, "path", &path))
    })
}
