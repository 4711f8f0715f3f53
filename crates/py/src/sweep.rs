//! `sweep`: pilot runs with the built-in engine, resumable.
//!
//! The lab crate's `Sweep`, as `scalelab sweep` runs it (local executor).

use crate::errors::{self, input_error};
use crate::progress::PyProgress;
use pyo3::prelude::*;
use scalelab::sweep::{Sweep, SweepReport, SweepRequest};
use scalelab::Error;
use std::path::{Path, PathBuf};

/// A sweep file's TOML from the JSON of a Python dict.
fn toml_of_json(py: Python<'_>, json: &str) -> PyResult<String> {
    let v: toml::Value = serde_json::from_str(json)
        .map_err(|e| input_error(py, format!("the sweep spec cannot be TOML: {e}")))?;
    toml::to_string(&v).map_err(|e| input_error(py, format!("the sweep spec cannot be TOML: {e}")))
}

/// `sweep(spec_path, spec_text, spec_json, out, jobs, retry_failed, step_limit)`:
/// the JSON summary `scalelab sweep --json` prints.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
#[pyo3(signature = (out, spec_path = None, spec_text = None, spec_json = None, jobs = None, retry_failed = false, step_limit = None, progress = None))]
pub fn sweep(
    py: Python<'_>,
    out: PathBuf,
    spec_path: Option<PathBuf>,
    spec_text: Option<String>,
    spec_json: Option<String>,
    jobs: Option<usize>,
    retry_failed: bool,
    step_limit: Option<u64>,
    progress: Option<Py<PyAny>>,
) -> PyResult<String> {
    errors::guard(py, || {
        let text = match (spec_text, spec_json) {
            (Some(t), _) => Some(t),
            (None, Some(j)) => Some(toml_of_json(py, &j)?),
            _ => None,
        };
        if jobs == Some(0) {
            return Err(input_error(py, "--jobs must be at least 1"));
        }
        let bar = PyProgress::new(progress);
        let result = errors::run(py, || {
            let spec = match (spec_path, text) {
                (Some(p), _) => p,
                (None, Some(t)) => {
                    std::fs::create_dir_all(&out)
                        .map_err(|e| Error::io("cannot create --out", &out, e))?;
                    let p = out.join("sweep.toml");
                    scalelab::error::write_file("the sweep file", &p, t.as_bytes())?;
                    p
                }
                (None, None) => return Err(Error::flag("spec", "no sweep spec given")),
            };
            run(&spec, &out, jobs, retry_failed, step_limit, &bar)
        });
        bar.finish(result)
    })
}

fn run(
    spec: &Path,
    out: &Path,
    jobs: Option<usize>,
    retry_failed: bool,
    step_limit: Option<u64>,
    progress: &PyProgress,
) -> scalelab::Result<String> {
    let sweep = Sweep::load(spec)?;
    let req = SweepRequest {
        jobs,
        retry_failed,
        step_limit,
        ..SweepRequest::local(out)
    };
    let rep = match sweep.run(&req, progress)? {
        SweepReport::Local(r) => r,
        _ => return Err(Error::failed("a local sweep reported as Slurm")),
    };
    let mut v = serde_json::to_value(&rep).map_err(|e| Error::failed(e.to_string()))?;
    let warnings: Vec<String> = sweep
        .warnings()
        .into_iter()
        .chain(rep.warnings())
        .map(|w| w.message)
        .collect();
    v["warnings"] = serde_json::json!(warnings);
    serde_json::to_string_pretty(&v).map_err(|e| Error::failed(e.to_string()))
}
