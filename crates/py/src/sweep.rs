//! `sweep`: pilot runs with the built-in engine, resumable.
//!
//! (Bound through the sweep crate; the same calls `scalelab sweep` makes.)

use crate::errors::{self, input_error};
use pyo3::prelude::*;
use scalelab::Error;
use scalelab_sweep::local::{run_local, LocalOptions};
use scalelab_sweep::{load_sweep, lock, prepare_dir, reset_failed};
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
#[pyo3(signature = (out, spec_path = None, spec_text = None, spec_json = None, jobs = None, retry_failed = false, step_limit = None))]
pub fn sweep(
    py: Python<'_>,
    out: PathBuf,
    spec_path: Option<PathBuf>,
    spec_text: Option<String>,
    spec_json: Option<String>,
    jobs: Option<usize>,
    retry_failed: bool,
    step_limit: Option<u64>,
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
        errors::run(py, move || {
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
            run(&spec, &out, jobs, retry_failed, step_limit)
        })
    })
}

fn run(
    spec: &Path,
    out: &Path,
    jobs: Option<usize>,
    retry_failed: bool,
    step_limit: Option<u64>,
) -> scalelab::Result<String> {
    let (plan, _file) = load_sweep(spec)?;
    let _lock = lock::lock(out)?;
    prepare_dir(out, &plan)?;
    if retry_failed {
        reset_failed(out, &plan)?;
    }
    let jobs = jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let rep = run_local(
        out,
        &plan,
        &LocalOptions {
            jobs,
            quiet: true,
            step_limit,
        },
    )?;
    let v = serde_json::json!({
        "executor": "local",
        "done": rep.done, "skipped": rep.skipped, "stopped": rep.stopped,
        "failed": rep.failed.iter().map(|(n, w)| serde_json::json!({"run": n, "reason": w})).collect::<Vec<_>>(),
        "seconds": rep.seconds,
        "runs_csv": out.join("runs.csv").display().to_string(),
        "warnings": plan.warnings,
    });
    serde_json::to_string_pretty(&v).map_err(|e| Error::failed(e.to_string()))
}
