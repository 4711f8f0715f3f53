//! Training logs in: TensorBoard event files, experiment-tracker CSV
//! exports (Weights & Biases panel exports, long tables, one file per run)
//! and lm-evaluation-harness results become scalelab tables.
//!
//! [`run`] takes an [`ImportRequest`] and returns an [`ImportReport`]
//! (`scalelab.import/1`). Training logs become the tables of a sweep
//! directory — `runs.csv` (one row per run, what `scalelab fit` reads),
//! `curves.csv` (every validation point, what `scalelab isoflop --run-col
//! run` reads) with the sweep's column names, and `scalars.csv` (every
//! scalar imported, long). Evaluation results become the long table that
//! `scalelab emerge` reads. What a log does not record — parameter counts,
//! tokens per step — comes from a [mapping file](mapping).

pub mod lm_eval;
pub mod mapping;
pub mod tensorboard;
pub mod tfrecord;
pub mod tracker;

#[cfg(test)]
mod tests;

use crate::{Error, Progress, Result, Task, Warning, WarningKind};
pub use mapping::{Mapping, Scale};
use scalelab_tables::Cell;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The `schema` of an import report.
pub const SCHEMA: &str = "scalelab.import/1";

/// What is imported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ImportKind {
    /// TensorBoard event files, found recursively under log directories.
    Tensorboard,
    /// Experiment-tracker CSV exports.
    Csv,
    /// lm-evaluation-harness results (`results_*.json`).
    LmEval,
}

impl ImportKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ImportKind::Tensorboard => "tensorboard",
            ImportKind::Csv => "csv",
            ImportKind::LmEval => "lm-eval",
        }
    }
}

/// How a CSV export is laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CsvLayout {
    /// The W&B panel export: a step column and one `"<run> - <metric>"`
    /// column per run (with `__MIN` and `__MAX` columns, ignored).
    Wandb,
    /// One table with a run column, a step column and metric columns.
    Long,
    /// One file per run (named by its stem): a step column and metric
    /// columns, as W&B's run history export (`_step`, `_runtime`, ...).
    PerRun,
}

impl CsvLayout {
    pub fn as_str(self) -> &'static str {
        match self {
            CsvLayout::Wandb => "wandb",
            CsvLayout::Long => "long",
            CsvLayout::PerRun => "per-run",
        }
    }
}

/// What to import, and how.
#[derive(Clone, Debug, PartialEq)]
pub struct ImportRequest {
    pub kind: ImportKind,
    /// Log directories or event files (TensorBoard); CSV files; results
    /// files or directories searched for `results*.json` (lm-eval).
    pub inputs: Vec<PathBuf>,
    /// The directory of `runs.csv`, `curves.csv` and `scalars.csv`
    /// (created if missing); for lm-eval, the table file (`.csv` or
    /// `.parquet`).
    pub out: PathBuf,
    /// The mapping file (TOML): tags, tokens per step, sizes.
    pub map: Option<PathBuf>,
    /// The tag (TensorBoard) or metric (CSV) of the validation loss, the
    /// training loss and the tokens seen; they override the mapping's.
    pub loss: Option<String>,
    pub train_loss: Option<String>,
    pub tokens: Option<String>,
    /// The CSV layout (`None`: detected from the header).
    pub layout: Option<CsvLayout>,
    /// Keep runs (models) the mapping gives no `params` for, with empty
    /// sizes, instead of stopping with an error that lists them.
    pub allow_missing_params: bool,
}

impl ImportRequest {
    /// A request with the CLI's defaults.
    pub fn new(kind: ImportKind, inputs: Vec<PathBuf>, out: impl Into<PathBuf>) -> Self {
        ImportRequest {
            kind,
            inputs,
            out: out.into(),
            map: None,
            loss: None,
            train_loss: None,
            tokens: None,
            layout: None,
            allow_missing_params: false,
        }
    }

    /// The flag of the loss, train-loss or tokens name, as the CLI spells it.
    fn flag(&self, what: &str) -> String {
        let suffix = if self.kind == ImportKind::Tensorboard {
            "tag"
        } else {
            "col"
        };
        format!("--{what}-{suffix}")
    }
}

/// One imported run (or, for lm-eval, model).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImportedRun {
    pub run: String,
    /// The model's revision (lm-eval `revision=` of `model_args`).
    pub revision: Option<String>,
    /// The run's directory (TensorBoard) or files.
    pub source: String,
    pub params: Option<f64>,
    pub params_total: Option<f64>,
    /// Tokens at the last validation point (lm-eval: of the model).
    pub tokens: Option<f64>,
    /// The last validation loss (not for lm-eval).
    pub loss: Option<f64>,
    /// The last step logged (not for lm-eval).
    pub steps: Option<i64>,
    /// Rows of the curves (lm-eval: of the evaluation table).
    pub rows: usize,
}

/// A table written.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WrittenTable {
    pub path: String,
    pub rows: usize,
    pub columns: Vec<String>,
}

/// The `scalelab.import/1` report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImportReport {
    pub schema: String,
    pub kind: ImportKind,
    /// The CSV layout used, and whether it was detected.
    pub layout: Option<CsvLayout>,
    pub layout_detected: bool,
    /// Files read.
    pub files: Vec<String>,
    pub mapping: Option<String>,
    /// The tags or metrics used for the validation loss, training loss and
    /// tokens (none for lm-eval).
    pub loss: Option<String>,
    pub train_loss: Option<String>,
    pub tokens: Option<String>,
    pub runs: Vec<ImportedRun>,
    pub tables: Vec<WrittenTable>,
    pub notes: Vec<String>,
    pub warnings: Vec<Warning>,
}

/// Column names of `runs.csv`, as in a sweep's (those it can fill).
pub const RUN_COLUMNS: &[&str] = &[
    "run",
    "params",
    "params_total",
    "tokens",
    "flops",
    "loss",
    "train_loss",
    "steps",
    "source",
];

/// Column names of `curves.csv`, as in a sweep's.
pub const CURVE_COLUMNS: &[&str] = &[
    "run",
    "params",
    "params_total",
    "step",
    "tokens",
    "flops",
    "train_loss",
    "loss",
];

/// Column names of `scalars.csv`: every value imported.
pub const SCALAR_COLUMNS: &[&str] = &["run", "tag", "step", "value"];

/// Tags tried, in order, when none is named.
const LOSS_CANDIDATES: &[&str] = &[
    "val/loss",
    "val_loss",
    "eval/loss",
    "eval_loss",
    "validation/loss",
    "validation_loss",
    "valid/loss",
    "loss/val",
    "loss/validation",
    "val/lm_loss",
];
const TRAIN_LOSS_CANDIDATES: &[&str] = &[
    "train/loss",
    "train_loss",
    "loss/train",
    "train/lm_loss",
    "training_loss",
    "loss",
];
const TOKENS_CANDIDATES: &[&str] = &["tokens", "train/tokens", "tokens_seen", "num_tokens"];

/// The scalars of one run: by tag, by step.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunLog {
    pub name: String,
    pub source: String,
    pub files: Vec<String>,
    pub tags: BTreeMap<String, BTreeMap<i64, f64>>,
    /// Values that replaced an earlier one at the same tag and step.
    pub replaced: usize,
    /// Tags of non-scalar values that were skipped (histograms, text, ...).
    pub skipped_tags: Vec<String>,
}

impl RunLog {
    pub fn new(name: impl Into<String>, source: impl Into<String>) -> Self {
        RunLog {
            name: name.into(),
            source: source.into(),
            ..Default::default()
        }
    }

    /// Records a value; a later value at the same step replaces it.
    pub fn insert(&mut self, tag: &str, step: i64, value: f64) {
        let series = match self.tags.get_mut(tag) {
            Some(s) => s,
            None => self.tags.entry(tag.to_string()).or_default(),
        };
        if series.insert(step, value).is_some() {
            self.replaced += 1;
        }
    }
}

/// Imports the inputs and writes the tables.
pub fn run(req: &ImportRequest, progress: &dyn Progress) -> Result<ImportReport> {
    if req.inputs.is_empty() {
        return Err(Error::flag(
            "INPUTS",
            format!("import {}: give at least one input", req.kind.as_str()),
        ));
    }
    let map = match &req.map {
        Some(p) => Mapping::read(p)?,
        None => Mapping::default(),
    };
    match req.kind {
        ImportKind::LmEval => lm_eval::import(req, &map, progress),
        ImportKind::Tensorboard => {
            let runs = tensorboard::discover(&req.inputs)?;
            let task = Task::begin(
                progress,
                "import tensorboard",
                Some(runs.iter().map(|r| r.2.len() as u64).sum()),
                "files",
            );
            let mut warnings = Vec::new();
            let mut logs = Vec::new();
            for (name, dir, files) in &runs {
                logs.push(tensorboard::read_run(
                    name,
                    dir,
                    files,
                    &task,
                    &mut warnings,
                )?);
            }
            drop(task);
            let mut report = empty_report(req, &map);
            report.warnings = warnings;
            write_training_tables(req, &map, logs, report)
        }
        ImportKind::Csv => {
            let (logs, layout, detected, notes) = tracker::read(req, &map, progress)?;
            let mut report = empty_report(req, &map);
            report.layout = Some(layout);
            report.layout_detected = detected;
            report.notes = notes;
            write_training_tables(req, &map, logs, report)
        }
    }
}

fn empty_report(req: &ImportRequest, map: &Mapping) -> ImportReport {
    ImportReport {
        schema: SCHEMA.into(),
        kind: req.kind,
        layout: None,
        layout_detected: false,
        files: Vec::new(),
        mapping: map.path.as_ref().map(|p| p.display().to_string()),
        loss: None,
        train_loss: None,
        tokens: None,
        runs: Vec::new(),
        tables: Vec::new(),
        notes: Vec::new(),
        warnings: Vec::new(),
    }
}

/// The tag used for one role: the request's, the mapping's, or the first
/// candidate any run has.
fn choose(
    req: &ImportRequest,
    map: &Mapping,
    logs: &[RunLog],
    role: &str,
    given: (&Option<String>, &Option<String>),
    candidates: &[&str],
    notes: &mut Vec<String>,
) -> Result<Option<String>> {
    let has = |t: &str| logs.iter().any(|l| l.tags.contains_key(t));
    let all_tags = || {
        let mut t: Vec<&str> = logs
            .iter()
            .flat_map(|l| l.tags.keys().map(String::as_str))
            .collect();
        t.sort();
        t.dedup();
        t.iter()
            .map(|s| format!("'{s}'"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let what = if req.kind == ImportKind::Tensorboard {
        "tag"
    } else {
        "metric"
    };
    let flag = req.flag(role);
    match given {
        (Some(t), _) => {
            if !has(t) {
                return Err(Error::flag(
                    &flag,
                    format!(
                        "{flag} '{t}': no run has this {what} ({what}s: {})",
                        all_tags()
                    ),
                ));
            }
            Ok(Some(t.clone()))
        }
        (None, Some(t)) => {
            if !has(t) {
                let key = role.replace('-', "_");
                return Err(Error::input(
                    map.path.clone().unwrap_or_default(),
                    None,
                    format!(
                        "{}: {key} = '{t}': no run has this {what} ({what}s: {})",
                        map.name(),
                        all_tags()
                    ),
                ));
            }
            Ok(Some(t.clone()))
        }
        (None, None) => {
            let found = candidates.iter().find(|c| has(c)).map(|c| c.to_string());
            if let Some(t) = &found {
                notes.push(format!(
                    "{} {what}: '{t}' (found; name another with {flag})",
                    role.replace('-', " ")
                ));
            }
            Ok(found)
        }
    }
}

fn opt(v: Option<f64>) -> Cell {
    v.filter(|x| x.is_finite()).map_or(Cell::Null, Cell::Num)
}

/// The value at `step`, or the last one before it.
fn at_or_before(series: Option<&BTreeMap<i64, f64>>, step: i64) -> Option<f64> {
    series?.range(..=step).next_back().map(|(_, v)| *v)
}

fn columns(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// Creates the output directory.
fn out_dir(out: &Path) -> Result<()> {
    if out.exists() && !out.is_dir() {
        return Err(Error::flag(
            "--out",
            format!("--out {}: not a directory", out.display()),
        ));
    }
    std::fs::create_dir_all(out).map_err(|e| Error::io("cannot create --out", out, e))
}

/// Writes a table atomically and records it in the report.
fn write_table(
    report: &mut ImportReport,
    path: &Path,
    cols: Vec<String>,
    rows: &[Vec<Cell>],
) -> Result<()> {
    let parquet = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("parquet"));
    if parquet {
        scalelab_tables::write_parquet(path, &cols, rows)?;
    } else {
        scalelab_tables::write_csv(path, &cols, rows)?;
    }
    report.tables.push(WrittenTable {
        path: path.display().to_string(),
        rows: rows.len(),
        columns: cols,
    });
    Ok(())
}

/// Training logs to `runs.csv`, `curves.csv` and `scalars.csv`.
fn write_training_tables(
    req: &ImportRequest,
    map: &Mapping,
    logs: Vec<RunLog>,
    mut report: ImportReport,
) -> Result<ImportReport> {
    let mut notes = std::mem::take(&mut report.notes);
    // directories with event files but no scalars (TensorFlow's profiler
    // leaves an `events.out.tfevents.*.profile-empty` in the log directory)
    let (logs, empty): (Vec<RunLog>, Vec<RunLog>) =
        logs.into_iter().partition(|l| !l.tags.is_empty());
    if !empty.is_empty() {
        report.warnings.push(Warning::new(
            WarningKind::Other,
            format!(
                "{} runs have no scalars and are left out: {}",
                empty.len(),
                empty
                    .iter()
                    .map(|l| format!("{} ({})", l.name, l.source))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
        for l in &empty {
            report.files.extend(l.files.iter().cloned());
        }
    }
    if logs.is_empty() {
        return Err(Error::input(
            &req.inputs[0],
            None,
            format!(
                "{}: no scalars found in any run",
                req.inputs
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    let Some(loss) = choose(
        req,
        map,
        &logs,
        "loss",
        (&req.loss, &map.loss),
        LOSS_CANDIDATES,
        &mut notes,
    )?
    else {
        let mut tags: Vec<&str> = logs
            .iter()
            .flat_map(|l| l.tags.keys().map(String::as_str))
            .collect();
        tags.sort();
        tags.dedup();
        return Err(Error::flag(
            req.flag("loss"),
            format!(
                "which {} is the validation loss? Name it with {} or `loss = \"...\"` in the mapping (found: {})",
                if req.kind == ImportKind::Tensorboard { "tag" } else { "metric" },
                req.flag("loss"),
                tags.iter().map(|t| format!("'{t}'")).collect::<Vec<_>>().join(", ")
            ),
        ));
    };
    let mut train = choose(
        req,
        map,
        &logs,
        "train-loss",
        (&req.train_loss, &map.train_loss),
        TRAIN_LOSS_CANDIDATES,
        &mut notes,
    )?;
    if train.as_deref() == Some(loss.as_str()) {
        train = None;
    }
    let tokens = choose(
        req,
        map,
        &logs,
        "tokens",
        (&req.tokens, &map.tokens),
        TOKENS_CANDIDATES,
        &mut notes,
    )?;

    // every run needs values of the loss and (unless allowed) its size
    let no_loss: Vec<String> = logs
        .iter()
        .filter(|l| {
            !l.tags
                .get(&loss)
                .is_some_and(|s| s.values().any(|v| v.is_finite()))
        })
        .map(|l| {
            format!(
                "{} ({})",
                l.name,
                l.tags.keys().cloned().collect::<Vec<_>>().join(", ")
            )
        })
        .collect();
    if !no_loss.is_empty() {
        return Err(Error::input(
            &req.inputs[0],
            None,
            format!(
                "{} runs have no values of the validation loss '{loss}' (name another with {}): {}",
                no_loss.len(),
                req.flag("loss"),
                no_loss.join("; ")
            ),
        ));
    }
    let no_params: Vec<&str> = logs
        .iter()
        .filter(|l| map.runs.get(&l.name).and_then(|s| s.params).is_none())
        .map(|l| l.name.as_str())
        .collect();
    if !no_params.is_empty() {
        let list = no_params
            .iter()
            .map(|n| format!("'{n}'"))
            .collect::<Vec<_>>()
            .join(", ");
        if !req.allow_missing_params {
            return Err(Error::flag(
                "--map",
                format!(
                    "the mapping {} gives no params for {} runs: {list}. Add `[runs.\"NAME\"]` tables with `params = N` \
                     (non-embedding parameters), or keep them with empty sizes with --allow-missing-params",
                    map.name(),
                    no_params.len()
                ),
            ));
        }
        report.warnings.push(Warning::new(
            WarningKind::Other,
            format!(
                "{} runs have no params (kept with empty params and flops): {list}",
                no_params.len()
            ),
        ));
    }
    for (name, s) in &map.runs {
        if !logs.iter().any(|l| &l.name == name) {
            report.warnings.push(Warning::new(
                WarningKind::Other,
                format!(
                    "{}: [runs.\"{name}\"] matches no imported run (runs: {})",
                    map.at(s.line),
                    logs.iter()
                        .map(|l| l.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
    }

    let mut run_rows = Vec::new();
    let mut curve_rows = Vec::new();
    let mut scalar_rows = Vec::new();
    let mut no_tokens = Vec::new();
    let mut replaced = 0;
    let mut at_start = 0;
    for log in &logs {
        let scale = map.runs.get(&log.name).cloned().unwrap_or_default();
        let n = scale.params;
        let tps = scale.tokens_per_step.or(map.tokens_per_step);
        let tok_series = tokens.as_ref().and_then(|t| log.tags.get(t));
        let tokens_at = |step: i64| -> Option<f64> {
            tok_series
                .and_then(|s| s.get(&step).copied())
                .or_else(|| tps.map(|t| t * step as f64))
        };
        let train_series = train.as_ref().and_then(|t| log.tags.get(t));
        let flops = |d: Option<f64>| Some(6.0 * n? * d?);
        let loss_series = &log.tags[&loss];
        let mut rows = 0;
        let mut last = None;
        for (&step, &v) in loss_series.iter().filter(|(_, v)| v.is_finite()) {
            let d = tokens_at(step);
            last = Some((step, v));
            if step <= 0 || d == Some(0.0) {
                // before training: no point of a scaling curve (D = 0)
                at_start += 1;
                continue;
            }
            curve_rows.push(vec![
                Cell::Str(log.name.clone()),
                opt(n),
                opt(scale.params_total),
                Cell::Num(step as f64),
                opt(d),
                opt(flops(d)),
                opt(at_or_before(train_series, step)),
                Cell::Num(v),
            ]);
            rows += 1;
        }
        let (last_step, last_loss) = last.expect("checked: finite losses");
        if let Some((&s, v)) = loss_series.iter().next_back() {
            if !v.is_finite() {
                report.warnings.push(Warning::new(
                    WarningKind::Other,
                    format!(
                        "run {}: the loss at its last step {s} is {v}; its last finite loss (step {last_step}) is used",
                        log.name
                    ),
                ));
            }
        }
        let d = tokens_at(last_step);
        if d.is_none() {
            no_tokens.push(log.name.clone());
        }
        let steps = log
            .tags
            .values()
            .filter_map(|s| s.keys().next_back())
            .max()
            .copied();
        let tl = at_or_before(train_series, last_step);
        run_rows.push(vec![
            Cell::Str(log.name.clone()),
            opt(n),
            opt(scale.params_total),
            opt(d),
            opt(flops(d)),
            Cell::Num(last_loss),
            opt(tl),
            steps.map_or(Cell::Null, |s| Cell::Num(s as f64)),
            Cell::Str(log.source.clone()),
        ]);
        report.runs.push(ImportedRun {
            run: log.name.clone(),
            revision: None,
            source: log.source.clone(),
            params: n,
            params_total: scale.params_total,
            tokens: d,
            loss: Some(last_loss),
            steps,
            rows,
        });
        for (tag, series) in &log.tags {
            for (&step, &v) in series {
                scalar_rows.push(vec![
                    Cell::Str(log.name.clone()),
                    Cell::Str(tag.clone()),
                    Cell::Num(step as f64),
                    opt(Some(v)),
                ]);
            }
        }
        if !log.skipped_tags.is_empty() {
            notes.push(format!(
                "run {}: non-scalar tags skipped: {}",
                log.name,
                log.skipped_tags.join(", ")
            ));
        }
        replaced += log.replaced;
        for f in &log.files {
            if !report.files.contains(f) {
                report.files.push(f.clone());
            }
        }
    }
    if !no_tokens.is_empty() {
        report.warnings.push(Warning::new(
            WarningKind::Other,
            format!(
                "{} runs have no tokens (give `tokens_per_step` in the mapping, or {} for a {} of tokens seen): {}",
                no_tokens.len(),
                req.flag("tokens"),
                if req.kind == ImportKind::Tensorboard { "tag" } else { "metric" },
                no_tokens.join(", ")
            ),
        ));
    }
    if at_start > 0 {
        notes.push(format!(
            "{at_start} validation points at step 0 (before training, no tokens) are left out of curves.csv (they are in scalars.csv)"
        ));
    }
    if replaced > 0 {
        notes.push(format!(
            "{replaced} values logged again at a step already seen (a restarted run?) replaced the earlier ones"
        ));
    }
    if tokens.is_none() && map.tokens_per_step.is_some() {
        notes.push("tokens = tokens_per_step × step (from the mapping)".into());
    }
    report.loss = Some(loss);
    report.train_loss = train;
    report.tokens = tokens;
    report.notes = notes;

    out_dir(&req.out)?;
    write_table(
        &mut report,
        &req.out.join("runs.csv"),
        columns(RUN_COLUMNS),
        &run_rows,
    )?;
    write_table(
        &mut report,
        &req.out.join("curves.csv"),
        columns(CURVE_COLUMNS),
        &curve_rows,
    )?;
    write_table(
        &mut report,
        &req.out.join("scalars.csv"),
        columns(SCALAR_COLUMNS),
        &scalar_rows,
    )?;
    Ok(report)
}
