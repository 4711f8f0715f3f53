//! Readers for the three table formats.

use crate::{Cell, Format, Table, TableError};
use std::collections::HashMap;
use std::path::Path;

fn open_error(path: &Path, e: std::io::Error) -> TableError {
    TableError::file(path, format!("cannot read the file: {e}"))
}

/// CSV (or TSV) with a header row. Cells stay text and are parsed as numbers
/// when a column is used, so the error can show the text.
pub fn csv(path: &Path) -> Result<Table, TableError> {
    let bytes = std::fs::read(path).map_err(|e| open_error(path, e))?;
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(TableError::file(path, "the file is empty"));
    }
    let delim = if path.extension().and_then(|e| e.to_str()) == Some("tsv") {
        b'\t'
    } else {
        b','
    };
    let index = LineIndex::new(&bytes);
    let mut rdr = csv::ReaderBuilder::new()
        .delimiter(delim)
        .flexible(false)
        .from_reader(&bytes[..]);
    let columns: Vec<String> = rdr
        .headers()
        .map_err(|e| csv_error(path, &index, e))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    check_header(path, &columns)?;
    let mut rows = Vec::new();
    let mut lines = Vec::new();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| csv_error(path, &index, e))?;
        let line = rec.position().map_or(0, |p| index.line(p));
        rows.push(
            rec.iter()
                .map(|s| {
                    if s.trim().is_empty() {
                        Cell::Null
                    } else {
                        Cell::Str(s.to_string())
                    }
                })
                .collect(),
        );
        lines.push(line);
    }
    Ok(Table {
        path: path.to_path_buf(),
        format: Format::Csv,
        columns,
        rows,
        lines,
    })
}

fn check_header(path: &Path, columns: &[String]) -> Result<(), TableError> {
    let mut seen = HashMap::new();
    for (i, c) in columns.iter().enumerate() {
        if c.is_empty() {
            return Err(TableError::line(
                path,
                1,
                format!("header column {} has no name", i + 1),
            ));
        }
        if let Some(j) = seen.insert(c.clone(), i) {
            return Err(TableError::line(
                path,
                1,
                format!(
                    "column name '{c}' appears twice (columns {} and {})",
                    j + 1,
                    i + 1
                ),
            ));
        }
    }
    Ok(())
}

/// Line numbers from byte offsets. The csv crate's own `Position::line`
/// lags one line behind for every CRLF line ending before the record
/// (BurntSushi/rust-csv#395): after a record it consumes only the `\r` of
/// the terminator, so the next record's position points at the `\n` (or
/// at a blank line before the record).
struct LineIndex<'a> {
    bytes: &'a [u8],
    /// Byte offsets of the `\n`s.
    newlines: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        LineIndex {
            bytes,
            newlines: bytes
                .iter()
                .enumerate()
                .filter(|(_, b)| **b == b'\n')
                .map(|(i, _)| i)
                .collect(),
        }
    }

    /// The 1-based line on which the record at `pos` starts: a record
    /// never starts with a line terminator, so those are skipped first.
    fn line(&self, pos: &csv::Position) -> usize {
        let mut at = (pos.byte() as usize).min(self.bytes.len());
        while matches!(self.bytes.get(at), Some(b'\r' | b'\n')) {
            at += 1;
        }
        1 + self.newlines.partition_point(|&p| p < at)
    }
}

fn csv_error(path: &Path, lines: &LineIndex, e: csv::Error) -> TableError {
    let line = e.position().map(|p| lines.line(p));
    let msg = match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => {
            format!("this row has {len} fields but the header has {expected_len}")
        }
        csv::ErrorKind::Utf8 { err, .. } => format!("invalid UTF-8 in field {}", err.field() + 1),
        _ => e.to_string(),
    };
    match line {
        Some(l) => TableError::line(path, l, msg),
        None => TableError::file(path, msg),
    }
}

/// JSON Lines: one object per line; columns in order of first appearance.
pub fn jsonl(path: &Path) -> Result<Table, TableError> {
    let text = std::fs::read_to_string(path).map_err(|e| open_error(path, e))?;
    if text.trim().is_empty() {
        return Err(TableError::file(path, "the file is empty"));
    }
    let mut columns: Vec<String> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut records: Vec<(usize, Vec<(usize, Cell)>)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let lineno = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(line).map_err(|e| {
            let mut err = TableError::line(path, lineno, format!("invalid JSON: {e}"));
            err.location.column = Some((e.column(), "(JSON)".into()));
            err
        })?;
        let serde_json::Value::Object(map) = v else {
            return Err(TableError::line(
                path,
                lineno,
                "each line must be a JSON object",
            ));
        };
        let mut cells = Vec::with_capacity(map.len());
        for (k, v) in map {
            let col = *index.entry(k.clone()).or_insert_with(|| {
                columns.push(k.clone());
                columns.len() - 1
            });
            let cell = match v {
                serde_json::Value::Number(n) => Cell::Num(n.as_f64().unwrap_or(f64::NAN)),
                serde_json::Value::String(s) => Cell::Str(s),
                serde_json::Value::Null => Cell::Null,
                serde_json::Value::Bool(b) => Cell::Str(b.to_string()),
                other => Cell::Str(other.to_string()),
            };
            cells.push((col, cell));
        }
        records.push((lineno, cells));
    }
    let mut rows = Vec::with_capacity(records.len());
    let mut lines = Vec::with_capacity(records.len());
    for (lineno, cells) in records {
        let mut row = vec![Cell::Null; columns.len()];
        for (c, v) in cells {
            row[c] = v;
        }
        rows.push(row);
        lines.push(lineno);
    }
    Ok(Table {
        path: path.to_path_buf(),
        format: Format::Jsonl,
        columns,
        rows,
        lines,
    })
}

/// Parquet, through the row API (no Arrow needed).
///
/// The `parquet` crate panics on some damaged files (a length field pointing
/// past the end, for one) instead of returning an error; such a panic is
/// caught here, kept off the terminal, and reported as an unreadable file.
pub fn parquet(path: &Path) -> Result<Table, TableError> {
    match catch_quietly(|| parquet_rows(path)) {
        Ok(r) => r,
        Err(panic) => {
            let why = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("the reader failed");
            Err(TableError::file(
                path,
                format!("not a readable Parquet file (damaged or truncated?): {why}"),
            ))
        }
    }
}

thread_local! {
    /// Set while [`catch_quietly`] runs its closure on this thread.
    static QUIET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f`, catching a panic without printing it. The panic hook is
/// wrapped once, so that it stays silent only on a thread inside this
/// function; every other panic is reported as before.
fn catch_quietly<T>(f: impl FnOnce() -> T) -> std::thread::Result<T> {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(|q| q.get()) {
                previous(info)
            }
        }));
    });
    let was = QUIET.with(|q| q.replace(true));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    QUIET.with(|q| q.set(was));
    r
}

/// Reads every page once before the rows are decoded: the decoder sizes its
/// dictionary buffer by the page's claimed value count, so a damaged count
/// would ask for gigabytes (an abort, which no error handling can catch).
/// A plain-encoded dictionary value takes at least one byte, so a page may
/// not claim more values than it has bytes.
fn check_pages<R: parquet::file::reader::ChunkReader + 'static>(
    reader: &parquet::file::serialized_reader::SerializedFileReader<R>,
) -> Result<(), String> {
    use parquet::column::page::Page;
    use parquet::file::reader::FileReader;
    for i in 0..reader.num_row_groups() {
        let group = reader.get_row_group(i).map_err(|e| e.to_string())?;
        for j in 0..group.num_columns() {
            let mut pages = group.get_column_page_reader(j).map_err(|e| e.to_string())?;
            while let Some(page) = pages.get_next_page().map_err(|e| e.to_string())? {
                if let Page::DictionaryPage {
                    buf, num_values, ..
                } = &page
                {
                    if *num_values as usize > buf.len() {
                        return Err(format!(
                            "a dictionary page claims {num_values} values in {} bytes",
                            buf.len()
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}

fn parquet_rows(path: &Path) -> Result<Table, TableError> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::record::Field;
    let file = std::fs::File::open(path).map_err(|e| open_error(path, e))?;
    if file.metadata().map(|m| m.len()).unwrap_or(0) == 0 {
        return Err(TableError::file(path, "the file is empty"));
    }
    let reader = SerializedFileReader::new(file)
        .map_err(|e| TableError::file(path, format!("not a readable Parquet file: {e}")))?;
    check_pages(&reader).map_err(|e| {
        TableError::file(
            path,
            format!("not a readable Parquet file (damaged or truncated?): {e}"),
        )
    })?;
    let schema = reader.metadata().file_metadata().schema_descr();
    let columns: Vec<String> = schema
        .root_schema()
        .get_fields()
        .iter()
        .map(|f| f.name().to_string())
        .collect();
    check_header(path, &columns)?;
    let mut rows = Vec::new();
    let mut lines = Vec::new();
    let iter = reader
        .get_row_iter(None)
        .map_err(|e| TableError::file(path, format!("cannot read rows: {e}")))?;
    for (i, row) in iter.enumerate() {
        let row =
            row.map_err(|e| TableError::line(path, i + 1, format!("cannot read row: {e}")))?;
        let mut cells = vec![Cell::Null; columns.len()];
        for (cell, (_, field)) in cells.iter_mut().zip(row.get_column_iter()) {
            *cell = match field {
                Field::Null => Cell::Null,
                Field::Bool(b) => Cell::Str(b.to_string()),
                Field::Byte(v) => Cell::Num(*v as f64),
                Field::Short(v) => Cell::Num(*v as f64),
                Field::Int(v) => Cell::Num(*v as f64),
                Field::Long(v) => Cell::Num(*v as f64),
                Field::UByte(v) => Cell::Num(*v as f64),
                Field::UShort(v) => Cell::Num(*v as f64),
                Field::UInt(v) => Cell::Num(*v as f64),
                Field::ULong(v) => Cell::Num(*v as f64),
                Field::Float(v) => Cell::Num(*v as f64),
                Field::Double(v) => Cell::Num(*v),
                Field::Str(s) => Cell::Str(s.clone()),
                other => Cell::Str(other.to_string()),
            };
        }
        rows.push(cells);
        lines.push(i + 1);
    }
    Ok(Table {
        path: path.to_path_buf(),
        format: Format::Parquet,
        columns,
        rows,
        lines,
    })
}
