//! Run tables between Python and Rust.
//!
//! Python hands over a table as columns (see `scalelab/_frame.py`, which
//! turns a DataFrame, a dict of arrays or a list of records into them): a
//! label for messages, column names, one list of cells per column, and the
//! row labels (the DataFrame's index). Cells are floats, ints, strings,
//! bools or None, exactly as pandas holds them: no value is parsed or
//! rounded on the way, so a fit of a DataFrame sees the very numbers a fit
//! of the file it came from sees when pandas parsed them exactly.

use crate::errors::input_error;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString};
use scalelab_tables::{Cell, Format, Table};
use std::path::PathBuf;

/// Where runs come from: a file or directory, or a table in memory.
pub enum Source {
    Path(PathBuf),
    Table(Table),
}

fn cell(v: &Bound<'_, PyAny>) -> PyResult<Cell> {
    if v.is_none() {
        return Ok(Cell::Null);
    }
    if v.is_instance_of::<PyBool>() {
        return Ok(Cell::Str(v.is_truthy()?.to_string()));
    }
    if v.is_instance_of::<PyFloat>() || v.is_instance_of::<PyInt>() {
        return Ok(Cell::Num(v.extract::<f64>()?));
    }
    if let Ok(s) = v.cast::<PyString>() {
        return Ok(Cell::Str(s.extract::<String>()?));
    }
    // numpy scalars and anything float-like
    if let Ok(x) = v.extract::<f64>() {
        return Ok(Cell::Num(x));
    }
    Ok(Cell::Str(v.str()?.extract::<String>()?))
}

/// A table from `{"label": str, "columns": [str], "data": [[cell]],
/// "rows": [int]}` (columns of equal length; rows are the row labels used in
/// messages).
pub fn from_dict(py: Python<'_>, d: &Bound<'_, PyDict>) -> PyResult<Table> {
    let get = |k: &str| -> PyResult<Bound<'_, PyAny>> {
        d.get_item(k)?
            .ok_or_else(|| input_error(py, format!("table without '{k}'")))
    };
    let label: String = get("label")?.extract()?;
    let columns: Vec<String> = get("columns")?.extract()?;
    let data = get("data")?;
    let data = data.cast::<PyList>()?;
    let rows_labels: Vec<usize> = get("rows")?.extract()?;
    if data.len() != columns.len() {
        return Err(input_error(
            py,
            format!(
                "{label}: {} columns named but {} given",
                columns.len(),
                data.len()
            ),
        ));
    }
    let n = rows_labels.len();
    let mut rows: Vec<Vec<Cell>> = (0..n).map(|_| Vec::with_capacity(columns.len())).collect();
    for (name, col) in columns.iter().zip(data.iter()) {
        let col = col.cast::<PyList>()?;
        if col.len() != n {
            return Err(input_error(
                py,
                format!(
                    "{label}: column '{name}' has {} values but the table has {n} rows",
                    col.len()
                ),
            ));
        }
        for (i, v) in col.iter().enumerate() {
            rows[i].push(cell(&v)?);
        }
    }
    let mut seen = std::collections::HashSet::new();
    for c in &columns {
        if !seen.insert(c) {
            return Err(input_error(
                py,
                format!("{label}: column name '{c}' appears twice"),
            ));
        }
    }
    if n == 0 {
        return Err(input_error(py, format!("{label}: the table has no rows")));
    }
    Ok(Table {
        path: PathBuf::from(label),
        // Messages count rows (as for Parquet), not text lines.
        format: Format::Parquet,
        columns,
        rows,
        lines: rows_labels,
    })
}

/// A path (`str` or `os.PathLike`) or a table dict.
pub fn source(py: Python<'_>, runs: &Bound<'_, PyAny>) -> PyResult<Source> {
    if let Ok(d) = runs.cast::<PyDict>() {
        return Ok(Source::Table(from_dict(py, d)?));
    }
    match runs.extract::<PathBuf>() {
        Ok(p) => Ok(Source::Path(p)),
        Err(_) => Err(input_error(
            py,
            "runs must be a pandas DataFrame, a dict of columns, or a path",
        )),
    }
}

/// A table as `(columns, data)`: each column is all floats (None where a
/// cell is empty) when every value is a number, else strings and None.
pub fn to_columns<'py>(py: Python<'py>, t: &Table) -> PyResult<Bound<'py, PyDict>> {
    let out = PyDict::new(py);
    for (j, name) in t.columns.iter().enumerate() {
        let numeric: Option<Vec<Option<f64>>> = t
            .rows
            .iter()
            .map(|r| match &r[j] {
                Cell::Num(v) => Some(Some(*v)),
                Cell::Null => Some(None),
                Cell::Str(s) => s.trim().parse::<f64>().ok().map(Some),
            })
            .collect();
        let any_value = t.rows.iter().any(|r| r[j] != Cell::Null);
        match numeric {
            Some(v) if any_value => out.set_item(name, v)?,
            _ => {
                let v: Vec<Option<String>> = t
                    .rows
                    .iter()
                    .map(|r| match &r[j] {
                        Cell::Null => None,
                        c => Some(c.display()),
                    })
                    .collect();
                out.set_item(name, v)?
            }
        }
    }
    Ok(out)
}
