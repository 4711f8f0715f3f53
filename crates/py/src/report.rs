//! `report`: the self-contained HTML report.

use crate::errors;
use pyo3::prelude::*;
use scalelab::report::ReportRequest;
use scalelab::Error;
use std::path::PathBuf;

/// `report(inputs, out, command)`: `{"out", "figures", "bytes"}` as JSON.
#[pyfunction]
#[pyo3(signature = (inputs, out, command = "scalelab.report (Python)".to_string()))]
pub fn report(
    py: Python<'_>,
    inputs: Vec<PathBuf>,
    out: PathBuf,
    command: String,
) -> PyResult<String> {
    errors::guard(py, || {
        let req = ReportRequest {
            inputs,
            out,
            command,
        };
        errors::run(py, || {
            let w = scalelab::report::report(&req)?;
            serde_json::to_string_pretty(&w).map_err(|e| Error::failed(e.to_string()))
        })
    })
}
