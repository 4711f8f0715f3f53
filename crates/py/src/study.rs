//! `study`: the whole loop (design → sweep → fits → IsoFLOP → plan →
//! backtest → summary) in one call, as `scalelab study` runs it.

use crate::errors::{self, input_error};
use crate::progress::PyProgress;
use pyo3::prelude::*;
use scalelab::study::{StudyRequest, DEFAULT_STUDY};
use scalelab::Error;
use std::path::PathBuf;

/// The embedded default study file's text (`scalelab study --print-default`).
pub const DEFAULT: &str = DEFAULT_STUDY;

/// `study(out, study_path, study_text, jobs, progress)`: the study's
/// `scalelab.study/1` JSON (what `scalelab study --json` prints), its
/// summary text and the HTML report's path.
///
/// `study_text` is written to `out/study.toml` and studied from there (the
/// library copies a study file to that path anyway); with neither a path
/// nor text, the embedded default study runs.
#[pyfunction]
#[pyo3(signature = (out, study_path = None, study_text = None, jobs = None, progress = None))]
pub fn study(
    py: Python<'_>,
    out: PathBuf,
    study_path: Option<PathBuf>,
    study_text: Option<String>,
    jobs: Option<usize>,
    progress: Option<Py<PyAny>>,
) -> PyResult<(String, String, String)> {
    errors::guard(py, || {
        if jobs == Some(0) {
            return Err(input_error(py, "--jobs must be at least 1"));
        }
        let bar = PyProgress::new(progress);
        let result = errors::run(py, || {
            let study = match (study_path, study_text) {
                (Some(p), _) => Some(p),
                (None, Some(t)) => {
                    std::fs::create_dir_all(&out)
                        .map_err(|e| Error::io("cannot create --out", &out, e))?;
                    let p = out.join("study.toml");
                    scalelab::error::write_file("the study file", &p, t.as_bytes())?;
                    Some(p)
                }
                (None, None) => None,
            };
            let req = StudyRequest {
                study,
                out: out.clone(),
                jobs,
                command: "scalelab.study (Python)".into(),
            };
            let done = scalelab::study::study(&req, &bar)?;
            if done.report.runs_done == 0 {
                return Err(Error::failed("no run finished"));
            }
            let json = serde_json::to_string_pretty(&done.report)
                .map_err(|e| Error::failed(e.to_string()))?;
            Ok((json, done.summary, done.report_html.display().to_string()))
        });
        bar.finish(result)
    })
}
