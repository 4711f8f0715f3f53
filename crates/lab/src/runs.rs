//! Run tables in: a CSV/TSV, JSONL or Parquet file, a sweep directory (its
//! `runs.*`), or a table already in memory. The same steps apply to each:
//! the `--where` filters, the drop of a sweep's unfinished runs (when the
//! table has a `status` column the filters do not mention), then the
//! observations a law needs, with notes and warnings as values.

use crate::{Error, Result, Warning, WarningKind};
use scalelab_core::data::Observations;
use scalelab_core::laws::Law;
use scalelab_tables::{ColumnMap, Filter, Table};
use std::path::{Path, PathBuf};

/// The table file for a path: the file itself, or a sweep directory's
/// `runs.csv` (or `runs.parquet`, `runs.jsonl`).
pub fn resolve_table(path: &Path) -> Result<PathBuf> {
    if path.is_dir() {
        for name in ["runs.csv", "runs.parquet", "runs.jsonl"] {
            let p = path.join(name);
            if p.is_file() {
                return Ok(p);
            }
        }
        return Err(Error::input(
            path,
            None,
            format!(
                "{} is a directory without runs.csv, runs.parquet or runs.jsonl",
                path.display()
            ),
        ));
    }
    if !path.exists() {
        return Err(Error::input(
            path,
            None,
            format!("{}: no such file", path.display()),
        ));
    }
    Ok(path.to_path_buf())
}

/// A run table after the filters and the drop of unfinished sweep runs.
#[derive(Clone, Debug)]
pub struct KeptTable {
    /// The table file (for an in-memory table, the path it was given).
    pub path: PathBuf,
    /// Rows before filtering.
    pub rows_read: usize,
    /// The rows kept.
    pub table: Table,
    pub notes: Vec<String>,
    /// Runs left out (a sweep's failed or unfinished runs).
    pub warnings: Vec<Warning>,
}

/// Observations read for a fit, with what the user should know about them.
#[derive(Clone, Debug)]
pub struct Input {
    pub path: PathBuf,
    /// Rows before filtering.
    pub rows_read: usize,
    pub obs: Observations,
    /// Source line (or Parquet row) of each observation.
    pub lines: Vec<usize>,
    pub notes: Vec<String>,
    /// Runs left out (a sweep's failed or unfinished runs).
    pub warnings: Vec<Warning>,
    /// The design's FLOP budget of each observation, when the table has a
    /// [`BUDGET_COLUMN`] column of positive numbers (a designed sweep's
    /// runs.csv).
    pub budgets: Option<Vec<f64>>,
}

/// The column of design budgets a designed sweep writes.
pub const BUDGET_COLUMN: &str = "flops_budget";

/// Reads a run table (CSV, JSONL or Parquet; a directory means its
/// `runs.*`) and applies [`filter_table`]. Every error names the file, line
/// and column, or the flag.
pub fn load_table(path: &Path, filters: &[String]) -> Result<KeptTable> {
    let path = resolve_table(path)?;
    let table = Table::read(&path)?;
    filter_table(table, filters)
}

/// Applies the `--where` filters to a table and, when it has a `status`
/// column the filters do not mention, leaves out the runs that are not
/// `done` (with a warning naming them).
pub fn filter_table(table: Table, filters: &[String]) -> Result<KeptTable> {
    let path = table.path.clone();
    let mut parsed = Vec::new();
    for f in filters {
        let filter =
            Filter::parse(f).map_err(|e| Error::flag("--where", format!("--where '{f}': {e}")))?;
        parsed.push(filter);
    }
    let mut kept = table.filter(&parsed)?;
    let mut notes = Vec::new();
    let mut warnings = Vec::new();
    // A sweep table's stable-phase parents of WSD cooldown branches: their
    // loss is mid-training (at the peak rate), not an end-of-training loss;
    // their branches are the runs. Left out unless a filter names them.
    let schedule_filtered = filters.iter().any(|f| f.contains("schedule"));
    if let (Some(col), false) = (kept.column_index("schedule"), schedule_filtered) {
        let keep: Vec<bool> = kept
            .rows
            .iter()
            .map(|r| r[col].display() != "stable")
            .collect();
        let n = keep.iter().filter(|k| !**k).count();
        if n > 0 {
            notes.push(format!(
                "{n} stable-phase runs (schedule = stable) left out: their cooldown branches are the runs"
            ));
            kept = kept.retain_rows(&keep);
        }
    }
    // A sweep table: runs that did not finish have no loss; leave them out.
    let status_filtered = filters.iter().any(|f| f.contains("status"));
    if let (Some(col), false) = (kept.column_index("status"), status_filtered) {
        let keep: Vec<bool> = kept
            .rows
            .iter()
            .map(|r| r[col].display() == "done")
            .collect();
        let left_out: Vec<String> = kept
            .rows
            .iter()
            .zip(&keep)
            .filter(|(_, k)| !**k)
            .map(|(r, _)| {
                let name = kept
                    .column_index("run")
                    .map(|c| r[c].display())
                    .unwrap_or_default();
                let reason = kept
                    .column_index("reason")
                    .map(|c| r[c].display())
                    .filter(|s| !s.is_empty())
                    .map(|s| format!(": {s}"))
                    .unwrap_or_default();
                format!("{name} ({}{reason})", r[col].display())
            })
            .collect();
        if !left_out.is_empty() {
            warnings.push(Warning::new(
                WarningKind::RunsLeftOut,
                format!(
                    "{} runs left out because their status is not done: {}",
                    left_out.len(),
                    left_out.join("; ")
                ),
            ));
            kept = kept.retain_rows(&keep);
        }
    }
    if !parsed.is_empty() {
        notes.push(format!(
            "{} of {} rows kept by --where {}",
            kept.len(),
            table.len(),
            filters
                .iter()
                .map(|f| format!("'{f}'"))
                .collect::<Vec<_>>()
                .join(" and ")
        ));
    }
    if kept.is_empty() {
        return Err(Error::flag(
            "--where",
            format!(
                "{}: no rows left after --where {}",
                path.display(),
                filters.join(" and ")
            ),
        ));
    }
    Ok(KeptTable {
        path,
        rows_read: table.len(),
        table: kept,
        notes,
        warnings,
    })
}

/// The observations `law` needs from a kept table (a missing covariate
/// follows from C = 6ND, with a note).
pub fn observations(kept: KeptTable, map: &ColumnMap, law: &dyn Law) -> Result<Input> {
    let KeptTable {
        path,
        rows_read,
        table,
        mut notes,
        warnings,
    } = kept;
    let mut loaded = table.observations(map, &law.variables())?;
    if law.needs_unique_tokens() {
        let u = table.unique_tokens(map)?;
        let col = table.column_index(map.unique_name()).unwrap_or(0);
        loaded.obs = loaded.obs.with_unique(u).map_err(|e| {
            Error::Table(scalelab_tables::TableError::at(
                table.location(e.index, col),
                e.to_string(),
            ))
        })?;
    }
    notes.extend(loaded.notes);
    let budgets = table
        .column_index(BUDGET_COLUMN)
        .and_then(|_| table.positive_column(BUDGET_COLUMN).ok());
    Ok(Input {
        path,
        rows_read,
        obs: loaded.obs,
        lines: loaded.lines,
        notes,
        warnings,
        budgets,
    })
}

/// Reads a table, applies the filters and returns the observations the law
/// needs. Every error names the file, line and column, or the flag.
pub fn load(path: &Path, map: &ColumnMap, filters: &[String], law: &dyn Law) -> Result<Input> {
    observations(load_table(path, filters)?, map, law)
}

/// [`load`] for a table in memory (columns given as data, no file): the
/// same filters, status drop and checks.
pub fn load_from_table(
    table: Table,
    map: &ColumnMap,
    filters: &[String],
    law: &dyn Law,
) -> Result<Input> {
    observations(filter_table(table, filters)?, map, law)
}

/// A table in memory from named numeric columns (all the same length);
/// `name` stands for the file in messages. Rows are numbered from 1.
pub fn table_from_columns(name: &str, columns: Vec<(String, Vec<f64>)>) -> Result<Table> {
    let n = columns.first().map_or(0, |c| c.1.len());
    if let Some((c, v)) = columns.iter().find(|(_, v)| v.len() != n) {
        return Err(Error::flag(
            c.clone(),
            format!(
                "column '{c}' has {} values, column '{}' has {n}",
                v.len(),
                columns[0].0
            ),
        ));
    }
    if n == 0 {
        return Err(Error::Table(scalelab_tables::TableError::file(
            Path::new(name),
            "the table has no rows",
        )));
    }
    let rows = (0..n)
        .map(|i| {
            columns
                .iter()
                .map(|(_, v)| scalelab_tables::Cell::Num(v[i]))
                .collect()
        })
        .collect();
    Ok(Table {
        path: PathBuf::from(name),
        format: scalelab_tables::Format::Csv,
        columns: columns.into_iter().map(|(c, _)| c).collect(),
        rows,
        // Line 1 is a CSV header; the first row is line 2, as in a file.
        lines: (2..n + 2).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use scalelab_core::laws::law_by_name;

    #[test]
    fn an_in_memory_table_goes_through_the_same_steps() {
        let n = vec![1e7, 1e8, 1e9];
        let d = vec![1e9, 2e9, 4e9];
        let loss = vec![3.0, 2.8, 2.6];
        let t = table_from_columns(
            "<memory>",
            vec![
                ("params".into(), n),
                ("tokens".into(), d),
                ("loss".into(), loss),
            ],
        )
        .unwrap();
        let law = law_by_name("chinchilla").unwrap();
        let input = load_from_table(
            t,
            &ColumnMap::default(),
            &["loss < 2.9".to_string()],
            law.as_ref(),
        )
        .unwrap();
        assert_eq!(input.rows_read, 3);
        assert_eq!(input.obs.len(), 2);
        assert_eq!(input.lines, vec![3, 4]);
        assert!(input.notes.iter().any(|n| n.contains("2 of 3 rows kept")));
        assert!(
            input.notes.iter().any(|n| n.contains("6ND")),
            "{:?}",
            input.notes
        );
    }

    #[test]
    fn bad_filters_and_empty_results_name_the_flag() {
        let t = table_from_columns("<memory>", vec![("loss".into(), vec![1.0])]).unwrap();
        let e = filter_table(t.clone(), &["loss <".into()]).unwrap_err();
        assert!(matches!(e, Error::Flag { .. }) && e.to_string().contains("--where 'loss <'"));
        let e = filter_table(t, &["loss > 5".into()]).unwrap_err();
        assert!(e.to_string().contains("no rows left"), "{e}");
    }
}
