//! `plan`: compute-optimal N and D from a fit.

use crate::errors::{self, input_error};
use pyo3::prelude::*;
use scalelab::plan::{Convention, PlanRequest};
use scalelab::Error;
use scalelab_tables::fitfile::FitReport;

/// `plan(fit_json, ...)`: the `scalelab.plan/1` JSON text.
#[pyfunction]
#[pyo3(signature = (
    fit, source = "<Fit>".to_string(), flops = Vec::new(), target_loss = Vec::new(),
    loss_at = Vec::new(), convention = "6n".to_string(), compare_conventions = false,
    context = 2048, vocab = 32000, accelerator = None, count = 8, mfu = 0.4, micro_batch = 1,
    inference_tokens = None, unique_tokens = None,
))]
#[allow(clippy::too_many_arguments)]
pub fn plan(
    py: Python<'_>,
    fit: &str,
    source: String,
    flops: Vec<f64>,
    target_loss: Vec<f64>,
    loss_at: Vec<(f64, f64)>,
    convention: String,
    compare_conventions: bool,
    context: usize,
    vocab: usize,
    accelerator: Option<String>,
    count: u64,
    mfu: f64,
    micro_batch: u64,
    inference_tokens: Option<f64>,
    unique_tokens: Option<f64>,
) -> PyResult<String> {
    errors::guard(py, || {
        let convention = Convention::from_name(&convention).ok_or_else(|| {
            input_error(
                py,
                format!("convention: unknown convention `{convention}` (known: 6n, kaplan, hoffmann, exact)"),
            )
        })?;
        let report: FitReport = serde_json::from_str(fit)
            .map_err(|e| input_error(py, format!("not a scalelab.fit/1 object: {e}")))?;
        let req = PlanRequest {
            fit: Some(source.clone().into()),
            flops,
            target_loss,
            loss_at,
            convention,
            compare_conventions,
            context,
            vocab,
            accelerator,
            count,
            mfu,
            micro_batch,
            inference_tokens,
            unique_tokens,
            gpt: None,
        };
        errors::run(py, move || {
            let p = scalelab::plan::plan_fit(&req, &report, &source)?;
            serde_json::to_string_pretty(&p)
                .map_err(|e| Error::failed(format!("cannot serialise: {e}")))
        })
    })
}
