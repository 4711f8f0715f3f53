//! From the library's typed errors to Python exceptions.
//!
//! The exception classes live in `scalelab/_errors.py` (so they can inherit
//! from both `scalelab.Error` and a builtin such as `ValueError`); this
//! module picks the class for an [`scalelab::Error`] and attaches what the
//! error knows (flag, path, line, column) as attributes. The message is the
//! one the CLI prints after `error:`.

use pyo3::prelude::*;
use pyo3::IntoPyObjectExt;
use scalelab::Error;
use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Builds an instance of `scalelab._errors.<class>` with `message` and
/// attributes `attrs`, as a `PyErr`.
fn raise(py: Python<'_>, class: &str, message: &str, attrs: &[(&str, Py<PyAny>)]) -> PyErr {
    let make = || -> PyResult<PyErr> {
        let module = py.import("scalelab._errors")?;
        let cls = module.getattr(class)?;
        let inst = cls.call1((message,))?;
        for (k, v) in attrs {
            inst.setattr(*k, v.bind(py))?;
        }
        Ok(PyErr::from_value(inst))
    };
    // Should the package itself be broken, still raise something with the
    // message rather than lose it.
    make().unwrap_or_else(|e| e)
}

fn none(py: Python<'_>) -> Py<PyAny> {
    py.None()
}

fn obj<'py, T>(py: Python<'py>, v: T) -> Py<PyAny>
where
    T: IntoPyObject<'py>,
{
    v.into_py_any(py).unwrap_or_else(|_| py.None())
}

/// The Python exception for a library error.
pub fn to_py(py: Python<'_>, err: Error) -> PyErr {
    // The CLI prints `{:#}` of an anyhow::Error made from `err`: the
    // message and then each source's, joined by ": ".
    let mut message = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(s) = source {
        message = format!("{message}: {s}");
        source = s.source();
    }
    match &err {
        Error::Flag { flag, .. } => raise(
            py,
            "InputError",
            &message,
            &[("flag", obj(py, flag.as_str()))],
        ),
        Error::Table(t) => {
            let l = &t.location;
            let (col, name) = match &l.column {
                Some((c, n)) => (obj(py, *c), obj(py, n.as_str())),
                None => (none(py), none(py)),
            };
            raise(
                py,
                "TableError",
                &message,
                &[
                    ("path", obj(py, l.path.display().to_string())),
                    ("line", l.line.map_or_else(|| none(py), |v| obj(py, v))),
                    ("column", col),
                    ("column_name", name),
                ],
            )
        }
        Error::Input { path, line, .. } => raise(
            py,
            "InputError",
            &message,
            &[
                ("path", obj(py, path.display().to_string())),
                ("line", line.map_or_else(|| none(py), |v| obj(py, v))),
            ],
        ),
        Error::Io { path, error, .. } => raise(
            py,
            "IoError",
            &message,
            &[
                ("path", obj(py, path.display().to_string())),
                (
                    "errno",
                    error
                        .raw_os_error()
                        .map_or_else(|| none(py), |v| obj(py, v)),
                ),
            ],
        ),
        Error::Engine(_) => raise(py, "EngineError", &message, &[]),
        Error::Failed(_) => raise(py, "ComputationError", &message, &[]),
        _ if err.is_bad_input() => raise(py, "InputError", &message, &[]),
        _ => raise(py, "Error", &message, &[]),
    }
}

/// A bad argument found by this crate (before the library is called).
pub fn input_error(py: Python<'_>, message: impl AsRef<str>) -> PyErr {
    raise(py, "InputError", message.as_ref(), &[])
}

fn panic_message(p: &(dyn Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_string()
    }
}

/// Runs `f` without the GIL (other Python threads, and progress callbacks,
/// run meanwhile), turning its error into the matching exception and a
/// panic into `scalelab.InternalError`: no panic crosses into Python.
pub fn run<T, F>(py: Python<'_>, f: F) -> PyResult<T>
where
    T: Send,
    F: FnOnce() -> scalelab::Result<T> + Send,
{
    let r = py.detach(|| catch_unwind(AssertUnwindSafe(f)));
    match r {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(to_py(py, e)),
        Err(p) => Err(internal_error(py, p.as_ref())),
    }
}

/// A caught panic as `scalelab.InternalError`.
fn internal_error(py: Python<'_>, payload: &(dyn Any + Send)) -> PyErr {
    raise(
        py,
        "InternalError",
        &format!(
            "internal error (a bug in scalelab; please report it): {}",
            panic_message(payload)
        ),
        &[],
    )
}

/// Like [`run`] for work that needs the GIL (conversions of Python values).
pub fn guard<T>(py: Python<'_>, f: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(p) => Err(internal_error(py, p.as_ref())),
    }
}
