//! The library's error type: every error says where (the file, line and
//! column, or the request field as the CLI spells its flag) and carries the
//! same message the CLI prints after `error:`.

use std::path::PathBuf;

/// A `Result` with the library's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a workflow could not be carried out.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request field has a bad value. `flag` names the field as the CLI
    /// spells it (`--holdout-largest`), and the message names it too.
    #[error("{message}")]
    Flag { flag: String, message: String },
    /// A table cannot be read or used: the file, line (or row) and column.
    #[error(transparent)]
    Table(#[from] scalelab_tables::TableError),
    /// A file other than a table (a fit file, a sweep file, a metrics log)
    /// has bad content. The message names the file and, where known, the
    /// line, column or key.
    #[error("{message}")]
    Input {
        path: PathBuf,
        line: Option<usize>,
        message: String,
    },
    /// A file or directory could not be read, written or created. The
    /// message holds the I/O error (it is not also a `source`, so `{:#}`
    /// shows it once).
    #[error("{context} {}: {error}", path.display())]
    Io {
        /// What was being done, e.g. "cannot write --out".
        context: String,
        path: PathBuf,
        error: std::io::Error,
    },
    /// The training engine stopped (bad configuration, data, checkpoint,
    /// divergence).
    #[error(transparent)]
    Engine(#[from] scalelab_engine::EngineError),
    /// The data do not support what was asked (a fit that cannot be made,
    /// a plan outside the law's domain); the message says why.
    #[error("{0}")]
    Failed(String),
    /// An error from a crate below that reports with `anyhow` (corpus,
    /// sweep, report); shown with its whole chain of context. (Not a
    /// `source`: the message already holds the chain, and `{:#}` of an
    /// `anyhow::Error` made from this one would print it twice.)
    #[error("{0:#}")]
    Other(anyhow::Error),
}

impl From<anyhow::Error> for Error {
    fn from(e: anyhow::Error) -> Self {
        Error::Other(e)
    }
}

impl Error {
    /// A bad request field.
    pub fn flag(flag: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Flag {
            flag: flag.into(),
            message: message.into(),
        }
    }

    /// An I/O failure on `path` while doing `context`.
    pub fn io(context: impl Into<String>, path: impl Into<PathBuf>, error: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            path: path.into(),
            error,
        }
    }

    /// Bad content in a (non-table) file.
    pub fn input(
        path: impl Into<PathBuf>,
        line: Option<usize>,
        message: impl Into<String>,
    ) -> Self {
        Error::Input {
            path: path.into(),
            line,
            message: message.into(),
        }
    }

    /// A computation the data do not support.
    pub fn failed(message: impl Into<String>) -> Self {
        Error::Failed(message.into())
    }

    /// Whether the error is the caller's input (a request field, a table or
    /// a file's content) rather than the environment or the computation.
    /// The Python package raises these as `ValueError`s.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            Error::Flag { .. } | Error::Table(_) | Error::Input { .. }
        )
    }
}

/// Writes `bytes` to `path` with the workspace's one atomic writer, naming
/// `what` (e.g. "--out") in the error.
pub fn write_file(what: &str, path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    scalelab_common::write_atomic(path, bytes)
        .map_err(|e| Error::io(format!("cannot write {what}"), path, e))
}

/// Reads a JSON report that a command wrote with `--out`; a file that does
/// not parse as one is an error naming its path, line and column and
/// `what` it should be (e.g. "scalelab.compare/1").
pub fn read_json_report<T: serde::de::DeserializeOwned>(
    what: &str,
    path: &std::path::Path,
) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io("cannot read", path, e))?;
    serde_json::from_str(&text).map_err(|e| {
        Error::input(
            path,
            Some(e.line()),
            format!(
                "{}:{}:{}: not a {what} file: {e}",
                path.display(),
                e.line(),
                e.column()
            ),
        )
    })
}
