//! Errors that say where: file, line (or row) and column.

use std::fmt;
use std::path::{Path, PathBuf};

/// Where in a table a problem is.
#[derive(Clone, Debug, PartialEq)]
pub struct Location {
    pub path: PathBuf,
    /// 1-based line (CSV, JSONL) or row (Parquet) number.
    pub line: Option<usize>,
    /// Whether `line` counts rows (Parquet) rather than text lines.
    pub line_is_row: bool,
    /// 1-based column number and column name.
    pub column: Option<(usize, String)>,
}

/// A table that cannot be read or used, and where.
#[derive(Clone, Debug, PartialEq)]
pub struct TableError {
    pub location: Location,
    pub message: String,
}

impl TableError {
    /// An error about the file as a whole.
    pub fn file(path: &Path, message: impl Into<String>) -> Self {
        TableError {
            location: Location {
                path: path.to_path_buf(),
                line: None,
                line_is_row: false,
                column: None,
            },
            message: message.into(),
        }
    }

    /// An error at a line of a file.
    pub fn line(path: &Path, line: usize, message: impl Into<String>) -> Self {
        TableError {
            location: Location {
                path: path.to_path_buf(),
                line: Some(line),
                line_is_row: false,
                column: None,
            },
            message: message.into(),
        }
    }

    /// An error at a cell.
    pub fn at(location: Location, message: impl Into<String>) -> Self {
        TableError {
            location,
            message: message.into(),
        }
    }
}

impl fmt::Display for TableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let l = &self.location;
        write!(f, "{}", l.path.display())?;
        match (l.line, &l.column) {
            (Some(line), Some((col, name))) if l.line_is_row => {
                write!(f, ": row {line}, column {col} ('{name}')")?
            }
            (Some(line), Some((col, name))) => write!(f, ":{line}:{col}: column '{name}'")?,
            (Some(line), None) if l.line_is_row => write!(f, ": row {line}")?,
            (Some(line), None) => write!(f, ":{line}")?,
            (None, Some((col, name))) => write!(f, ": column {col} ('{name}')")?,
            (None, None) => {}
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for TableError {}
