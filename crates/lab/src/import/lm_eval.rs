//! lm-evaluation-harness results (`results_*.json`, lm-eval 0.4; and the
//! 0.3 format) into the long evaluation table `scalelab emerge` reads: one
//! row per (model, task, metric, filter).
//!
//! Columns: `run` (the model, as named in the mapping), `revision` and
//! `step` (from `revision=stepN` in `model_args`), `params`,
//! `params_total`, `tokens`, `flops` (6·N·D), `task`, `metric` (without
//! the filter: `acc`, `acc_norm`, `exact_match`, ...; lm-eval 0.4's
//! `perplexity` is written `ppl`, its 0.3 name and the one `scalelab
//! emerge --continuous ppl` treats as a perplexity), `filter` (`none`,
//! `strict-match`, ...; `none` for 0.3 files), `value`, `stderr` (empty
//! for "N/A"), `n` (effective samples), `num_fewshot`, `source` (the
//! results file).

use super::{ImportRequest, ImportedRun, Mapping, SCHEMA};
use crate::{Error, Progress, Result, Task, Warning, WarningKind};
use scalelab_tables::Cell;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Column names of the evaluation table.
pub const EVAL_COLUMNS: &[&str] = &[
    "run",
    "revision",
    "step",
    "params",
    "params_total",
    "tokens",
    "flops",
    "task",
    "metric",
    "filter",
    "value",
    "stderr",
    "n",
    "num_fewshot",
    "source",
];

/// Whether a file name is a results file's.
fn is_results_file(p: &Path) -> bool {
    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name.starts_with("results") && name.ends_with(".json")
}

fn find_results(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let rd = std::fs::read_dir(dir).map_err(|e| Error::io("cannot read the directory", dir, e))?;
    let mut entries: Vec<PathBuf> = rd
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()
        .map_err(|e| Error::io("cannot read the directory", dir, e))?;
    entries.sort();
    for p in entries {
        if p.is_dir() {
            find_results(&p, out)?;
        } else if is_results_file(&p) {
            out.push(p);
        }
    }
    Ok(())
}

/// The results files of the inputs: files as given, directories searched
/// recursively for `results*.json`.
pub fn discover(inputs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for input in inputs {
        if input.is_dir() {
            let before = files.len();
            find_results(input, &mut files)?;
            if files.len() == before {
                return Err(Error::input(
                    input,
                    None,
                    format!("{}: no results*.json files found", input.display()),
                ));
            }
        } else if input.is_file() {
            files.push(input.clone());
        } else {
            return Err(Error::input(
                input,
                None,
                format!("{}: no such file or directory", input.display()),
            ));
        }
    }
    Ok(files)
}

/// `model_args`, a string `k=v,k=v` (or, in some versions, an object).
fn model_args(config: &Value) -> BTreeMap<String, String> {
    match config.get("model_args") {
        Some(Value::String(s)) => s
            .split(',')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect(),
        Some(Value::Object(o)) => o
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (k.clone(), v)
            })
            .collect(),
        _ => BTreeMap::new(),
    }
}

fn number(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => n.as_f64().filter(|x| x.is_finite()),
        _ => None,
    }
}

/// `stepN` revisions name training steps (Pythia, OLMo checkpoints).
fn step_of(revision: &str) -> Option<i64> {
    let digits = revision.strip_prefix("step")?;
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    digits[..end].parse().ok()
}

/// One row before it is written.
struct Row {
    run: String,
    revision: Option<String>,
    step: Option<i64>,
    params: Option<f64>,
    params_total: Option<f64>,
    tokens: Option<f64>,
    task: String,
    metric: String,
    filter: String,
    value: f64,
    stderr: Option<f64>,
    n: Option<f64>,
    fewshot: Option<f64>,
    source: String,
}

/// Imports the results files and writes the evaluation table.
pub fn import(
    req: &ImportRequest,
    map: &Mapping,
    progress: &dyn Progress,
) -> Result<super::ImportReport> {
    let ext = req
        .out
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    if !matches!(ext.as_deref(), Some("csv" | "parquet")) {
        return Err(Error::flag(
            "--out",
            format!(
                "--out {}: the evaluation table is a file ending in .csv or .parquet",
                req.out.display()
            ),
        ));
    }
    if req.map.is_none() && !req.allow_missing_params {
        return Err(Error::flag(
            "--map",
            "import lm-eval needs --map FILE: a mapping with `[models.\"NAME\"] params = N` for each model \
             (or --allow-missing-params for a table without sizes)",
        ));
    }
    let files = discover(&req.inputs)?;
    let task = Task::begin(
        progress,
        "import lm-eval",
        Some(files.len() as u64),
        "files",
    );
    let mut report = super::empty_report(req, map);
    let mut rows: Vec<Row> = Vec::new();
    let mut index: BTreeMap<(String, String, String, String, String, String), usize> =
        BTreeMap::new();
    let mut renamed = false;
    let mut used_models = std::collections::BTreeSet::new();
    let mut missing: Vec<String> = Vec::new();
    // checkpoints (stepN revisions) of models without tokens_per_step
    let mut revisions: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let text = std::fs::read_to_string(file)
            .map_err(|e| Error::io("cannot read the results file", file, e))?;
        let doc: Value = serde_json::from_str(&text).map_err(|e| {
            Error::input(
                file,
                Some(e.line()),
                format!(
                    "{}:{}:{}: not JSON: {e}",
                    file.display(),
                    e.line(),
                    e.column()
                ),
            )
        })?;
        let Some(results) = doc.get("results").and_then(Value::as_object) else {
            return Err(Error::input(
                file,
                None,
                format!(
                    "{}: not an lm-evaluation-harness results file (no \"results\" object)",
                    file.display()
                ),
            ));
        };
        let config = doc.get("config").cloned().unwrap_or(Value::Null);
        let args = model_args(&config);
        let model_name = doc
            .get("model_name")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(String::from);
        let pretrained = args.get("pretrained").cloned();
        let candidates: Vec<String> = model_name
            .iter()
            .chain(pretrained.iter())
            .cloned()
            .collect();
        let Some(first) = candidates.first().cloned() else {
            return Err(Error::input(
                file,
                None,
                format!(
                    "{}: no model name (neither \"model_name\" nor pretrained= in config.model_args)",
                    file.display()
                ),
            ));
        };
        let (run, scale) = match candidates
            .iter()
            .find_map(|c| map.models.get(c).map(|s| (c.clone(), s.clone())))
        {
            Some(found) => found,
            None => {
                let model = if candidates.len() == 2 && candidates[0] != candidates[1] {
                    format!("'{}' (pretrained={})", candidates[0], candidates[1])
                } else {
                    format!("'{first}'")
                };
                if !req.allow_missing_params {
                    return Err(Error::input(
                        map.path.clone().unwrap_or_default(),
                        None,
                        format!(
                            "{}: model {model} is not in the mapping {}: add [models.\"{first}\"] with params = N (and tokens = D)",
                            file.display(),
                            map.name()
                        ),
                    ));
                }
                missing.push(first.clone());
                (first.clone(), Default::default())
            }
        };
        used_models.insert(run.clone());
        let revision = args.get("revision").cloned().filter(|r| !r.is_empty());
        let step = revision.as_deref().and_then(step_of);
        let tokens = match (scale.tokens_per_step, step) {
            (Some(tps), Some(s)) => Some(tps * s as f64),
            _ => scale.tokens,
        };
        if scale.tokens_per_step.is_none() && step.is_some() {
            if let Some(rev) = &revision {
                revisions
                    .entry(run.clone())
                    .or_default()
                    .insert(rev.clone());
            }
        }
        let n_samples = doc.get("n-samples").or_else(|| doc.get("n_samples"));
        let n_shot = doc.get("n-shot");
        let source = file.display().to_string();
        let mut file_rows = 0;
        for (task_name, metrics) in results {
            let Some(metrics) = metrics.as_object() else {
                continue;
            };
            let n = n_samples
                .and_then(|s| s.get(task_name))
                .and_then(|s| number(s.get("effective")).or_else(|| number(Some(s))));
            let fewshot = number(n_shot.and_then(|s| s.get(task_name)))
                .or_else(|| {
                    number(
                        doc.get("configs")
                            .and_then(|c| c.get(task_name))
                            .and_then(|c| c.get("num_fewshot")),
                    )
                })
                .or_else(|| number(config.get("num_fewshot")));
            for (key, v) in metrics {
                let (metric, filter) = match key.split_once(',') {
                    Some((m, f)) => (m, f),
                    None => (key.as_str(), "none"),
                };
                if metric == "alias" || metric.ends_with("_stderr") {
                    continue;
                }
                let Some(value) = number(Some(v)) else {
                    continue;
                };
                let stderr_key = if key.contains(',') {
                    format!("{metric}_stderr,{filter}")
                } else {
                    format!("{metric}_stderr")
                };
                let stderr = number(metrics.get(&stderr_key));
                let metric = if metric == "perplexity" {
                    renamed = true;
                    "ppl"
                } else {
                    metric
                };
                let row = Row {
                    run: run.clone(),
                    revision: revision.clone(),
                    step,
                    params: scale.params,
                    params_total: scale.params_total,
                    tokens,
                    task: task_name.clone(),
                    metric: metric.to_string(),
                    filter: filter.to_string(),
                    value,
                    stderr,
                    n,
                    fewshot,
                    source: source.clone(),
                };
                let key = (
                    run.clone(),
                    revision.clone().unwrap_or_default(),
                    task_name.clone(),
                    row.metric.clone(),
                    row.filter.clone(),
                    fewshot.map(|f| f.to_string()).unwrap_or_default(),
                );
                match index.get(&key) {
                    Some(&i) => {
                        report.warnings.push(Warning::new(
                            WarningKind::Other,
                            format!(
                                "{task_name} {} of {run}{} is in {} and {}: the later file's value is kept",
                                row.metric,
                                revision.as_deref().map(|r| format!(" ({r})")).unwrap_or_default(),
                                rows[i].source,
                                source
                            ),
                        ));
                        rows[i] = row;
                    }
                    None => {
                        index.insert(key, rows.len());
                        rows.push(row);
                    }
                }
                file_rows += 1;
            }
        }
        if file_rows == 0 {
            report.warnings.push(Warning::new(
                WarningKind::Other,
                format!("{}: no numeric results", file.display()),
            ));
        }
        match report
            .runs
            .iter_mut()
            .find(|r| r.run == run && r.revision == revision)
        {
            Some(r) => r.rows += file_rows,
            None => report.runs.push(ImportedRun {
                run: run.clone(),
                revision: revision.clone(),
                source: String::new(),
                params: scale.params,
                params_total: scale.params_total,
                tokens,
                loss: None,
                steps: step,
                rows: file_rows,
            }),
        }
        report.files.push(source);
        task.inc(1);
    }
    drop(task);
    // the files of each model and revision
    for r in &mut report.runs {
        let files: std::collections::BTreeSet<&str> = rows
            .iter()
            .filter(|x| x.run == r.run && x.revision == r.revision)
            .map(|x| x.source.as_str())
            .collect();
        r.source = files.into_iter().collect::<Vec<_>>().join(", ");
    }
    for (model, revs) in &revisions {
        if revs.len() > 1 {
            report.warnings.push(Warning::new(
                WarningKind::Other,
                format!(
                    "{model} has {} checkpoints ({}) but the mapping gives it no tokens_per_step: all get the same tokens",
                    revs.len(),
                    revs.iter().cloned().collect::<Vec<_>>().join(", ")
                ),
            ));
        }
    }
    if !missing.is_empty() {
        missing.sort();
        missing.dedup();
        report.warnings.push(Warning::new(
            WarningKind::Other,
            format!(
                "{} models are not in the mapping (kept with empty sizes): {}",
                missing.len(),
                missing.join(", ")
            ),
        ));
    }
    for (name, s) in &map.models {
        if !used_models.contains(name) {
            report.warnings.push(Warning::new(
                WarningKind::Other,
                format!(
                    "{}: [models.\"{name}\"] matches no results file's model",
                    map.at(s.line)
                ),
            ));
        }
    }
    if renamed {
        report.notes.push(
            "lm-eval's `perplexity` is written as metric `ppl` (the name scalelab emerge reads as a perplexity)"
                .into(),
        );
    }
    let opt = |v: Option<f64>| v.map_or(Cell::Null, Cell::Num);
    let cells: Vec<Vec<Cell>> = rows
        .iter()
        .map(|r| {
            let flops = match (r.params, r.tokens) {
                (Some(n), Some(d)) => Some(6.0 * n * d),
                _ => None,
            };
            vec![
                Cell::Str(r.run.clone()),
                r.revision.clone().map_or(Cell::Null, Cell::Str),
                opt(r.step.map(|s| s as f64)),
                opt(r.params),
                opt(r.params_total),
                opt(r.tokens),
                opt(flops),
                Cell::Str(r.task.clone()),
                Cell::Str(r.metric.clone()),
                Cell::Str(r.filter.clone()),
                Cell::Num(r.value),
                opt(r.stderr),
                opt(r.n),
                opt(r.fewshot),
                Cell::Str(r.source.clone()),
            ]
        })
        .collect();
    if let Some(parent) = req.out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|e| Error::io("cannot create the directory of --out", parent, e))?;
    }
    super::write_table(&mut report, &req.out, super::columns(EVAL_COLUMNS), &cells)?;
    debug_assert_eq!(report.schema, SCHEMA);
    Ok(report)
}
