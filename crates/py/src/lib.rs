//! `scalelab._scalelab`: the compiled half of the Python package.
//!
//! Every function here is a thin face over the `scalelab` library: it turns
//! Python values into a typed request, runs the workflow without the GIL
//! (see [`errors::run`]) and hands back the typed report, mostly as the
//! JSON text of its `scalelab.*/1` schema (which the pure-Python half in
//! `python/scalelab` wraps in classes). Errors become `scalelab.Error`
//! exceptions with the CLI's messages; panics become
//! `scalelab.InternalError`, never a crash or a `PanicException`.

use pyo3::prelude::*;

mod compare;
mod emerge;
mod errors;
mod fit;
mod hparams;
mod isoflop;
mod plan;
mod progress;
mod report;
mod runs;
mod study;
mod sweep;
mod table;

#[pymodule]
fn _scalelab(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(runs::read_runs, m)?)?;
    m.add_function(wrap_pyfunction!(fit::fit, m)?)?;
    m.add_function(wrap_pyfunction!(fit::predict, m)?)?;
    m.add_function(wrap_pyfunction!(fit::read_fit, m)?)?;
    m.add_function(wrap_pyfunction!(fit::write_fit, m)?)?;
    m.add_function(wrap_pyfunction!(plan::plan, m)?)?;
    m.add_function(wrap_pyfunction!(isoflop::isoflop, m)?)?;
    m.add_function(wrap_pyfunction!(isoflop::design, m)?)?;
    m.add_function(wrap_pyfunction!(emerge::emerge, m)?)?;
    m.add_function(wrap_pyfunction!(hparams::hparams, m)?)?;
    m.add_function(wrap_pyfunction!(hparams::write_hparams, m)?)?;
    m.add_function(wrap_pyfunction!(compare::compare, m)?)?;
    m.add_function(wrap_pyfunction!(compare::write_compare, m)?)?;
    m.add_function(wrap_pyfunction!(sweep::sweep, m)?)?;
    m.add_function(wrap_pyfunction!(study::study, m)?)?;
    m.add("DEFAULT_STUDY", study::DEFAULT)?;
    m.add_function(wrap_pyfunction!(report::report, m)?)?;
    Ok(())
}
