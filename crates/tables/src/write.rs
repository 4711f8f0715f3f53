//! Writing tables: CSV and Parquet, atomically (temporary file, fsync,
//! rename), so a reader — or a crash — never sees half a table.

use crate::{Cell, TableError};
use std::path::Path;
use std::sync::Arc;

fn io_err(path: &Path, e: impl std::fmt::Display) -> TableError {
    TableError::file(path, format!("cannot write: {e}"))
}

/// Writes bytes with the workspace's one atomic writer, as a [`TableError`].
fn write_bytes(path: &Path, bytes: &[u8]) -> Result<(), TableError> {
    scalelab_common::write_atomic(path, bytes).map_err(|e| io_err(path, e))
}

/// CSV text of a table (numbers in shortest round-trip form; empty cells for
/// missing values).
pub fn csv_string(columns: &[String], rows: &[Vec<Cell>]) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(columns).expect("in-memory CSV");
    for r in rows {
        w.write_record(r.iter().map(|c| match c {
            Cell::Num(v) if v.is_finite() => format!("{v}"),
            Cell::Num(_) | Cell::Null => String::new(),
            Cell::Str(s) => s.clone(),
        }))
        .expect("in-memory CSV");
    }
    String::from_utf8(w.into_inner().expect("in-memory CSV")).expect("UTF-8")
}

/// Writes a CSV table atomically.
pub fn write_csv(path: &Path, columns: &[String], rows: &[Vec<Cell>]) -> Result<(), TableError> {
    write_bytes(path, csv_string(columns, rows).as_bytes())
}

/// Writes a Parquet table atomically. A column whose cells are all numbers
/// (or missing) is an optional DOUBLE; any other column is optional UTF-8.
pub fn write_parquet(
    path: &Path,
    columns: &[String],
    rows: &[Vec<Cell>],
) -> Result<(), TableError> {
    use parquet::basic::{LogicalType, Repetition, Type as PhysicalType};
    use parquet::data_type::{ByteArray, ByteArrayType, DoubleType};
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    use parquet::schema::types::Type;

    let numeric: Vec<bool> = (0..columns.len())
        .map(|j| {
            rows.iter()
                .all(|r| matches!(r.get(j), Some(Cell::Num(_)) | Some(Cell::Null) | None))
        })
        .collect();
    let fields = columns
        .iter()
        .zip(&numeric)
        .map(|(name, &num)| {
            let b = if num {
                Type::primitive_type_builder(name, PhysicalType::DOUBLE)
            } else {
                Type::primitive_type_builder(name, PhysicalType::BYTE_ARRAY)
                    .with_logical_type(Some(LogicalType::String))
            };
            b.with_repetition(Repetition::OPTIONAL)
                .build()
                .map(Arc::new)
                .map_err(|e| io_err(path, e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let schema = Arc::new(
        Type::group_type_builder("schema")
            .with_fields(fields)
            .build()
            .map_err(|e| io_err(path, e))?,
    );
    let mut buf = Vec::new();
    {
        let props = Arc::new(WriterProperties::builder().build());
        let mut w =
            SerializedFileWriter::new(&mut buf, schema, props).map_err(|e| io_err(path, e))?;
        let mut rg = w.next_row_group().map_err(|e| io_err(path, e))?;
        let mut j = 0;
        while let Some(mut col) = rg.next_column().map_err(|e| io_err(path, e))? {
            let mut def = Vec::with_capacity(rows.len());
            if numeric[j] {
                let mut vals = Vec::new();
                for r in rows {
                    match r.get(j) {
                        Some(Cell::Num(v)) if v.is_finite() => {
                            vals.push(*v);
                            def.push(1);
                        }
                        _ => def.push(0),
                    }
                }
                col.typed::<DoubleType>()
                    .write_batch(&vals, Some(&def), None)
                    .map_err(|e| io_err(path, e))?;
            } else {
                let mut vals = Vec::new();
                for r in rows {
                    match r.get(j) {
                        Some(Cell::Null) | None => def.push(0),
                        Some(c) => {
                            vals.push(ByteArray::from(c.display().as_str()));
                            def.push(1);
                        }
                    }
                }
                col.typed::<ByteArrayType>()
                    .write_batch(&vals, Some(&def), None)
                    .map_err(|e| io_err(path, e))?;
            }
            col.close().map_err(|e| io_err(path, e))?;
            j += 1;
        }
        rg.close().map_err(|e| io_err(path, e))?;
        w.close().map_err(|e| io_err(path, e))?;
    }
    write_bytes(path, &buf)
}
