//! Experiment-tracker CSV exports into runs of scalars, in three layouts:
//!
//! * `wandb`: the W&B panel export — a step column (`Step`, `_step`,
//!   `trainer/global_step`, or else the first column) and one column per
//!   run and metric, `"<run> - <metric>"` (split at the last ` - `); the
//!   `__MIN` and `__MAX` columns are ignored. Several files (panels) merge.
//! * `long`: one table with a run column (`run`, `name`, `run_name`,
//!   `run_id`, or `run = "..."` in the mapping), a step column and metric
//!   columns.
//! * `per-run`: one file per run, named by the file's stem (by its
//!   directory when stems repeat, as for W&B's `history.csv`), with a step
//!   column and metric columns.
//!
//! Columns whose name starts with `_` (W&B's `_runtime`, `_timestamp`)
//! other than the step are ignored, and so are columns holding no number at
//! all (text); in any other column a cell that is not a number is an error
//! naming `file:line:column`.

use super::{CsvLayout, ImportRequest, Mapping, RunLog};
use crate::{Error, Progress, Result, Task};
use scalelab_tables::{Cell, Table, TableError};
use std::collections::BTreeMap;
use std::path::Path;

const STEP_CANDIDATES: &[&str] = &[
    "_step",
    "Step",
    "step",
    "trainer/global_step",
    "global_step",
    "train/global_step",
];
const RUN_CANDIDATES: &[&str] = &["run", "name", "run_name", "run_id", "Name"];
const WANDB_SEP: &str = " - ";

fn find_column(t: &Table, given: Option<&str>, candidates: &[&str]) -> Option<usize> {
    match given {
        Some(g) => t.column_index(g),
        None => candidates.iter().find_map(|c| t.column_index(c)),
    }
}

/// The layout a table's header suggests.
fn detect(t: &Table, map: &Mapping) -> CsvLayout {
    if find_column(t, map.run.as_deref(), RUN_CANDIDATES).is_some() {
        CsvLayout::Long
    } else if t.columns.iter().any(|c| c.contains(WANDB_SEP)) {
        CsvLayout::Wandb
    } else {
        CsvLayout::PerRun
    }
}

/// Whether a column holds no number at all (text, such as tags or notes).
fn is_text(t: &Table, col: usize) -> bool {
    t.rows.iter().all(|r| match &r[col] {
        Cell::Null => true,
        Cell::Num(_) => false,
        Cell::Str(s) => s.trim().parse::<f64>().is_err(),
    })
}

/// A step: a whole number.
fn step_at(t: &Table, row: usize, col: usize) -> Result<i64, TableError> {
    let v = t.number_at(row, col)?;
    if v.fract() != 0.0 || !v.is_finite() || v.abs() > 9.0e15 {
        return Err(TableError::at(
            t.location(row, col),
            format!("step {} is not a whole number", t.rows[row][col].display()),
        ));
    }
    Ok(v as i64)
}

fn step_column(t: &Table, map: &Mapping, layout: CsvLayout) -> Result<usize> {
    if let Some(c) = find_column(t, map.step.as_deref(), STEP_CANDIDATES) {
        return Ok(c);
    }
    if let Some(s) = &map.step {
        return Err(TableError::file(
            &t.path,
            format!(
                "no step column '{s}' (the mapping's `step`; columns: {})",
                t.columns.join(", ")
            ),
        )
        .into());
    }
    if layout == CsvLayout::Wandb {
        // the panel's x axis is the first column
        return Ok(0);
    }
    Err(TableError::file(
        &t.path,
        format!(
            "no step column (tried {}): name it with `step = \"...\"` in the mapping",
            STEP_CANDIDATES.join(", ")
        ),
    )
    .into())
}

/// The runs of a run's (or runs') metric columns.
fn metric_columns(t: &Table, skip: &[usize]) -> (Vec<usize>, Vec<String>) {
    let mut keep = Vec::new();
    let mut text = Vec::new();
    for (c, name) in t.columns.iter().enumerate() {
        if skip.contains(&c) || name.starts_with('_') {
            continue;
        }
        if is_text(t, c) {
            text.push(name.clone());
        } else {
            keep.push(c);
        }
    }
    (keep, text)
}

fn get_run<'a>(runs: &'a mut Vec<RunLog>, name: &str, source: &Path) -> &'a mut RunLog {
    let src = source.display().to_string();
    let i = match runs.iter().position(|r| r.name == name) {
        Some(i) => i,
        None => {
            runs.push(RunLog::new(name, src.clone()));
            runs.len() - 1
        }
    };
    let r = &mut runs[i];
    if !r.files.contains(&src) {
        if !r.files.is_empty() {
            r.source = format!("{}, {src}", r.source);
        }
        r.files.push(src);
    }
    r
}

/// Reads the CSV files of the request: the runs, the layout, whether it
/// was detected, and notes.
pub fn read(
    req: &ImportRequest,
    map: &Mapping,
    progress: &dyn Progress,
) -> Result<(Vec<RunLog>, CsvLayout, bool, Vec<String>)> {
    let task = Task::begin(
        progress,
        "import csv",
        Some(req.inputs.len() as u64),
        "files",
    );
    let mut tables = Vec::new();
    for p in &req.inputs {
        if p.is_dir() {
            return Err(Error::input(
                p,
                None,
                format!("{} is a directory: give the CSV files", p.display()),
            ));
        }
        tables.push(Table::read(p)?);
    }
    let mut notes = Vec::new();
    let (layout, detected) = match req.layout {
        Some(l) => (l, false),
        None => {
            let layouts: Vec<CsvLayout> = tables.iter().map(|t| detect(t, map)).collect();
            let first = layouts[0];
            if let Some(i) = layouts.iter().position(|l| *l != first) {
                return Err(Error::flag(
                    "--layout",
                    format!(
                        "the files look like different layouts: {} is {}, {} is {}; give --layout",
                        tables[0].path.display(),
                        first.as_str(),
                        tables[i].path.display(),
                        layouts[i].as_str()
                    ),
                ));
            }
            (first, true)
        }
    };
    if detected {
        notes.push(format!(
            "layout: {} (detected; choose another with --layout)",
            layout.as_str()
        ));
    }
    let names = if layout == CsvLayout::PerRun {
        per_run_names(&tables)?
    } else {
        Vec::new()
    };
    let mut runs: Vec<RunLog> = Vec::new();
    for (ti, t) in tables.iter().enumerate() {
        let sc = step_column(t, map, layout)?;
        match layout {
            CsvLayout::Wandb => {
                let mut cols = Vec::new();
                for (c, name) in t.columns.iter().enumerate() {
                    if c == sc || name.ends_with("__MIN") || name.ends_with("__MAX") {
                        continue;
                    }
                    match name.rsplit_once(WANDB_SEP) {
                        Some((run, metric)) => cols.push((c, run.trim(), metric.trim())),
                        None => notes.push(format!(
                            "{}: column '{name}' is not '<run> - <metric>': ignored",
                            t.path.display()
                        )),
                    }
                }
                if cols.is_empty() {
                    return Err(Error::Table(TableError::file(
                        &t.path,
                        "no '<run> - <metric>' columns: not a W&B panel export (give --layout)",
                    )));
                }
                for (c, run, metric) in cols {
                    if is_text(t, c) {
                        notes.push(format!(
                            "{}: column '{}' holds no numbers: ignored",
                            t.path.display(),
                            t.columns[c]
                        ));
                        continue;
                    }
                    let log = get_run(&mut runs, run, &t.path);
                    for r in 0..t.len() {
                        if t.rows[r][c] == Cell::Null {
                            continue;
                        }
                        let v = t.number_at(r, c)?;
                        log.insert(metric, step_at(t, r, sc)?, v);
                    }
                }
            }
            CsvLayout::Long => {
                let rc = find_column(t, map.run.as_deref(), RUN_CANDIDATES).ok_or_else(|| {
                    TableError::file(
                        &t.path,
                        format!(
                            "no run column (tried {}): name it with `run = \"...\"` in the mapping",
                            map.run
                                .as_deref()
                                .map_or(RUN_CANDIDATES.join(", "), String::from)
                        ),
                    )
                })?;
                let (cols, text) = metric_columns(t, &[sc, rc]);
                note_text(&mut notes, t, &text);
                for r in 0..t.len() {
                    let run = t.rows[r][rc].display();
                    if run.is_empty() {
                        return Err(TableError::at(t.location(r, rc), "no run name").into());
                    }
                    let step = step_at(t, r, sc)?;
                    let log = get_run(&mut runs, &run, &t.path);
                    for &c in &cols {
                        if t.rows[r][c] != Cell::Null {
                            log.insert(&t.columns[c], step, t.number_at(r, c)?);
                        }
                    }
                }
            }
            CsvLayout::PerRun => {
                let (cols, text) = metric_columns(t, &[sc]);
                note_text(&mut notes, t, &text);
                let log = get_run(&mut runs, &names[ti], &t.path);
                for r in 0..t.len() {
                    let step = step_at(t, r, sc)?;
                    for &c in &cols {
                        if t.rows[r][c] != Cell::Null {
                            log.insert(&t.columns[c], step, t.number_at(r, c)?);
                        }
                    }
                }
            }
        }
        task.inc(1);
    }
    Ok((runs, layout, detected, notes))
}

fn note_text(notes: &mut Vec<String>, t: &Table, text: &[String]) {
    if !text.is_empty() {
        notes.push(format!(
            "{}: columns without numbers ignored: {}",
            t.path.display(),
            text.join(", ")
        ));
    }
}

/// Run names of per-run files: the file stems, or, when stems repeat (W&B
/// `history.csv`), the names of the directories holding them.
fn per_run_names(tables: &[Table]) -> Result<Vec<String>> {
    let stem = |p: &Path| {
        p.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let stems: Vec<String> = tables.iter().map(|t| stem(&t.path)).collect();
    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
    for s in &stems {
        *count.entry(s).or_default() += 1;
    }
    let mut names = Vec::new();
    for (t, s) in tables.iter().zip(&stems) {
        if count[s.as_str()] == 1 {
            names.push(s.clone());
        } else {
            let dir = std::fs::canonicalize(&t.path)
                .ok()
                .and_then(|p| {
                    p.parent()
                        .and_then(|d| d.file_name())
                        .map(|n| n.to_string_lossy().into_owned())
                })
                .unwrap_or_default();
            names.push(dir);
        }
    }
    for (i, n) in names.iter().enumerate() {
        if let Some(j) = names[..i].iter().position(|m| m == n) {
            return Err(Error::input(
                &tables[i].path,
                None,
                format!(
                    "{} and {} would both be run '{n}' (per-run files are named by their stem, or their directory when stems repeat): rename one",
                    tables[j].path.display(),
                    tables[i].path.display()
                ),
            ));
        }
    }
    Ok(names)
}
