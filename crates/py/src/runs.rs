//! `read_runs`: a run table as columns for a DataFrame.

use crate::errors;
use crate::table::{self, Source};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use scalelab::Error;
use scalelab_tables::{Filter, Table};

/// Reads a table (a path, or a table dict) and keeps the rows matching
/// every `where` expression.
pub fn load(source: Source, filters: &[String]) -> scalelab::Result<Table> {
    let table = match source {
        Source::Path(p) => Table::read(scalelab::runs::resolve_table(&p)?)?,
        Source::Table(t) => t,
    };
    let mut parsed = Vec::new();
    for f in filters {
        parsed.push(
            Filter::parse(f).map_err(|e| Error::flag("--where", format!("--where '{f}': {e}")))?,
        );
    }
    Ok(table.filter(&parsed)?)
}

/// `read_runs(runs, where)`: `{column: [values]}` for `pandas.DataFrame`.
#[pyfunction]
#[pyo3(signature = (runs, r#where = Vec::new()))]
pub fn read_runs<'py>(
    py: Python<'py>,
    runs: &Bound<'py, PyAny>,
    r#where: Vec<String>,
) -> PyResult<Bound<'py, PyDict>> {
    errors::guard(py, || {
        let source = table::source(py, runs)?;
        let t = errors::run(py, move || load(source, &r#where))?;
        table::to_columns(py, &t)
    })
}
