//! Run tables in and out: CSV, JSONL and Parquet.
//!
//! A [`Table`] is a list of named columns and rows of [`Cell`]s that
//! remembers where every row came from, so that any problem with a value is
//! reported as `file:line:column` (for Parquet, the row number). Tables are
//! turned into [`scalelab_core::data::Observations`] with
//! [`Table::observations`], which checks every value it uses.

mod error;
mod filter;
pub mod fitfile;
mod observations;
mod read;
mod write;

pub use error::{Location, TableError};
pub use filter::Filter;
pub use observations::{ColumnMap, Loaded, UNIQUE_TOKENS_COLUMN};
pub use write::{csv_string, write_csv, write_parquet};

use std::path::{Path, PathBuf};

/// One value of a table.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    Num(f64),
    Str(String),
    Null,
}

impl Cell {
    /// The cell as text, as a user would have written it.
    pub fn display(&self) -> String {
        match self {
            Cell::Num(v) => format!("{v}"),
            Cell::Str(s) => s.clone(),
            Cell::Null => String::new(),
        }
    }
}

/// The file format of a table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Csv,
    Jsonl,
    Parquet,
}

impl Format {
    /// Guesses the format from the file extension.
    pub fn from_path(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "csv" | "tsv" | "txt" => Some(Format::Csv),
            "jsonl" | "ndjson" | "json" => Some(Format::Jsonl),
            "parquet" | "pq" => Some(Format::Parquet),
            _ => None,
        }
    }
}

/// A table read from a file.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    pub path: PathBuf,
    pub format: Format,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
    /// Where each row came from: the 1-based line (CSV, JSONL) or row
    /// (Parquet) number.
    pub lines: Vec<usize>,
}

impl Table {
    /// Reads a table, choosing the reader from the file extension.
    pub fn read(path: impl AsRef<Path>) -> Result<Table, TableError> {
        let path = path.as_ref();
        let format = Format::from_path(path).ok_or_else(|| {
            TableError::file(
                path,
                "unknown table format: use a .csv, .tsv, .jsonl or .parquet file",
            )
        })?;
        let table = match format {
            Format::Csv => read::csv(path)?,
            Format::Jsonl => read::jsonl(path)?,
            Format::Parquet => read::parquet(path)?,
        };
        if table.rows.is_empty() {
            return Err(TableError::file(path, "the table has no rows"));
        }
        Ok(table)
    }

    /// Index of a column by exact name.
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Location of a cell, for messages.
    pub fn location(&self, row: usize, col: usize) -> Location {
        Location {
            path: self.path.clone(),
            line: Some(self.lines[row]),
            line_is_row: self.format == Format::Parquet,
            column: Some((col + 1, self.columns[col].clone())),
        }
    }

    /// A column as positive finite numbers; any other value is an error
    /// naming file, line and column.
    pub fn positive_column(&self, name: &str) -> Result<Vec<f64>, TableError> {
        let col = self.require_column(name)?;
        let mut out = Vec::with_capacity(self.len());
        for (i, row) in self.rows.iter().enumerate() {
            let v = self.number_at(i, col)?;
            if v.is_nan() || v <= 0.0 || !v.is_finite() {
                return Err(TableError::at(
                    self.location(i, col),
                    format!(
                        "value {} must be a positive finite number",
                        row[col].display()
                    ),
                ));
            }
            out.push(v);
        }
        Ok(out)
    }

    /// A column's cells as numbers, where possible.
    pub fn number_at(&self, row: usize, col: usize) -> Result<f64, TableError> {
        match &self.rows[row][col] {
            Cell::Num(v) if v.is_nan() => Err(TableError::at(
                self.location(row, col),
                "value is NaN".to_string(),
            )),
            Cell::Num(v) => Ok(*v),
            Cell::Str(s) => match s.trim().parse::<f64>() {
                Ok(v) if v.is_nan() => Err(TableError::at(
                    self.location(row, col),
                    "value is NaN".to_string(),
                )),
                Ok(v) => Ok(v),
                Err(_) => Err(TableError::at(
                    self.location(row, col),
                    format!("'{s}' is not a number"),
                )),
            },
            Cell::Null => Err(TableError::at(
                self.location(row, col),
                "missing value".to_string(),
            )),
        }
    }

    /// A column as text (numbers formatted).
    pub fn text_column(&self, name: &str) -> Result<Vec<String>, TableError> {
        let col = self.require_column(name)?;
        Ok(self.rows.iter().map(|r| r[col].display()).collect())
    }

    /// Index of a column, or an error listing the columns there are.
    pub fn require_column(&self, name: &str) -> Result<usize, TableError> {
        self.column_index(name).ok_or_else(|| {
            TableError::file(
                &self.path,
                format!(
                    "no column named '{name}' (columns: {})",
                    self.columns
                        .iter()
                        .map(|c| format!("'{c}'"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })
    }

    /// The rows for which `keep` is true.
    pub fn retain_rows(&self, keep: &[bool]) -> Table {
        let mut t = Table {
            path: self.path.clone(),
            format: self.format,
            columns: self.columns.clone(),
            rows: Vec::new(),
            lines: Vec::new(),
        };
        for (i, k) in keep.iter().enumerate() {
            if *k {
                t.rows.push(self.rows[i].clone());
                t.lines.push(self.lines[i]);
            }
        }
        t
    }

    /// Keeps the rows that pass every filter; errors name the flag text.
    pub fn filter(&self, filters: &[Filter]) -> Result<Table, TableError> {
        let mut keep = vec![true; self.len()];
        for f in filters {
            for (i, k) in keep.iter_mut().enumerate() {
                if *k {
                    *k = f.matches(self, i)?;
                }
            }
        }
        Ok(self.retain_rows(&keep))
    }
}
