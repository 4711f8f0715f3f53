//! Evaluation of trained runs on the built-in task generators: the
//! checkpoint of a run directory, or of every finished run of a sweep
//! directory.
//!
//! [`run`] takes an [`EvalRequest`], writes `items.jsonl` (one scored item
//! per line) and `evals.csv` (per run, task and difficulty: each metric with
//! its standard error, joined with the runs' scale — the table `emerge`
//! reads) and returns an [`EvalReport`].

use crate::{Error, Progress, Result, Warning, WarningKind};
use scalelab_corpus::synth::TaskGenerator;
use scalelab_sweep::eval::{eval_dir, EvalOptions};
use scalelab_sweep::spec::SweepPlan;
use scalelab_tables::Cell;
use serde::Serialize;
use std::path::PathBuf;

/// The types the report is made of.
pub use scalelab_sweep::eval::{ItemResult, MetricRow};

/// What to evaluate, and how.
#[derive(Clone, Debug, PartialEq)]
pub struct EvalRequest {
    /// A run directory or a sweep directory.
    pub dir: PathBuf,
    /// Task generators (`add:3`, `mul:2`, `needle:16-64`, `multihop:2`,
    /// `induction:4`, `choice:2`).
    pub tasks: Vec<String>,
    /// Items per task.
    pub items: usize,
    pub seed: u64,
    /// Sampling temperature (0: greedy decoding).
    pub temperature: f64,
    /// Samples per item; above 1 the majority answer counts.
    pub samples: usize,
    /// Solved examples of the same task before each prompt.
    pub shots: usize,
    /// Engine threads per model.
    pub threads: usize,
    /// Output directory (default: `dir/evals`).
    pub out: Option<PathBuf>,
}

impl EvalRequest {
    /// A request with the CLI's defaults.
    pub fn new(dir: impl Into<PathBuf>, tasks: Vec<String>) -> Self {
        EvalRequest {
            dir: dir.into(),
            tasks,
            items: 100,
            seed: 0,
            temperature: 0.0,
            samples: 1,
            shots: 0,
            threads: 1,
            out: None,
        }
    }
}

/// What an evaluation found and wrote.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EvalReport {
    /// Every scored item (as in `items.jsonl`).
    pub items: Vec<ItemResult>,
    /// Metrics per run, task and difficulty (as in `evals.csv`, without
    /// the runs' scale).
    pub rows: Vec<MetricRow>,
    /// The files written.
    pub items_file: PathBuf,
    pub table_file: PathBuf,
    /// Settings that make little sense together.
    pub warnings: Vec<Warning>,
    /// Wall-clock seconds of the evaluation.
    pub seconds: f64,
}

/// The schema of [`EvalSummary`] (`scalelab eval --json`).
pub const SCHEMA: &str = "scalelab.eval/1";

/// What `scalelab eval --json` prints: the files written, the counts and
/// the metric rows (the items stay in `items.jsonl`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EvalSummary {
    /// Always [`SCHEMA`].
    pub schema: &'static str,
    /// `items.jsonl`: every scored item.
    pub items_file: PathBuf,
    /// `evals.csv`: the long table `scalelab emerge` reads.
    pub table_file: PathBuf,
    /// The runs evaluated, in order.
    pub runs: Vec<String>,
    /// The task specs evaluated, in order.
    pub tasks: Vec<String>,
    /// Items scored, over all runs and tasks.
    pub items: usize,
    /// Items scored that were answered exactly.
    pub exact: usize,
    /// Metrics per run, task and difficulty (as in `evals.csv`).
    pub rows: Vec<MetricRow>,
    /// Warnings, as text.
    pub warnings: Vec<String>,
    /// Wall-clock seconds of the evaluation.
    pub seconds: f64,
}

impl EvalReport {
    /// The summary `scalelab eval --json` prints.
    pub fn summary(&self) -> EvalSummary {
        let mut runs: Vec<String> = Vec::new();
        let mut tasks: Vec<String> = Vec::new();
        for it in &self.items {
            if !runs.contains(&it.run) {
                runs.push(it.run.clone());
            }
            if !tasks.contains(&it.spec) {
                tasks.push(it.spec.clone());
            }
        }
        EvalSummary {
            schema: SCHEMA,
            items_file: self.items_file.clone(),
            table_file: self.table_file.clone(),
            runs,
            tasks,
            items: self.items.len(),
            exact: self.items.iter().filter(|i| i.exact_match).count(),
            rows: self.rows.clone(),
            warnings: self.warnings.iter().map(|w| w.to_string()).collect(),
            seconds: self.seconds,
        }
    }

    /// The row of `metric` for (run, task, difficulty), if evaluated.
    pub fn row(&self, run: &str, task: &str, difficulty: u32, metric: &str) -> Option<&MetricRow> {
        self.rows.iter().find(|r| {
            r.run == run && r.task == task && r.difficulty == difficulty && r.metric == metric
        })
    }
}

/// The columns of `evals.csv`.
const COLUMNS: [&str; 12] = [
    "run",
    "params",
    "params_total",
    "tokens",
    "flops",
    "task",
    "difficulty",
    "reasoning",
    "metric",
    "value",
    "stderr",
    "n",
];

/// Evaluates the runs and writes `items.jsonl` and `evals.csv`.
pub fn run(req: &EvalRequest, progress: &dyn Progress) -> Result<EvalReport> {
    crate::threads::check(req.threads.max(1))?;
    crate::corpus::check_at_most("-n", req.items, crate::corpus::MAX_ITEMS)?;
    let mut tasks = Vec::new();
    for t in &req.tasks {
        let g = TaskGenerator::parse(t)
            .map_err(|e| Error::flag("--tasks", format!("--tasks {t}: {e:#}")))?;
        tasks.push((t.clone(), g));
    }
    if req.items == 0 {
        return Err(Error::flag("-n", "-n must be at least 1"));
    }
    if req.temperature < 0.0 || !req.temperature.is_finite() {
        return Err(Error::flag(
            "--temperature",
            "--temperature must be 0 or more",
        ));
    }
    let mut warnings = Vec::new();
    if req.samples > 1 && req.temperature == 0.0 {
        warnings.push(Warning::new(
            WarningKind::Other,
            format!(
                "--samples {} with greedy decoding gives identical samples; set --temperature",
                req.samples
            ),
        ));
    }
    let opts = EvalOptions {
        tasks,
        items: req.items,
        seed: req.seed,
        temperature: req.temperature,
        samples: req.samples.max(1),
        shots: req.shots,
    };
    let t0 = std::time::Instant::now();
    let (items, rows, plan) = eval_dir(&req.dir, &opts, req.threads.max(1), progress)?;
    let out = req.out.clone().unwrap_or_else(|| req.dir.join("evals"));
    std::fs::create_dir_all(&out).map_err(|e| Error::io("cannot create", &out, e))?;
    let mut jsonl = String::new();
    for it in &items {
        let line = serde_json::to_string(it)
            .map_err(|e| Error::failed(format!("cannot serialise an item: {e}")))?;
        jsonl.push_str(&line);
        jsonl.push('\n');
    }
    let items_file = out.join("items.jsonl");
    crate::write_atomic(&items_file, jsonl.as_bytes())
        .map_err(|e| Error::io("cannot write", &items_file, e))?;
    let table_file = out.join("evals.csv");
    let cols: Vec<String> = COLUMNS.map(String::from).to_vec();
    let csv = scalelab_tables::csv_string(&cols, &long_table(&rows, plan.as_ref()));
    crate::write_atomic(&table_file, csv.as_bytes())
        .map_err(|e| Error::io("cannot write", &table_file, e))?;
    Ok(EvalReport {
        items,
        rows,
        items_file,
        table_file,
        warnings,
        seconds: t0.elapsed().as_secs_f64(),
    })
}

/// The long table of `evals.csv`: each metric row joined with its run's
/// scale from the sweep plan (empty cells outside a sweep).
fn long_table(rows: &[MetricRow], plan: Option<&SweepPlan>) -> Vec<Vec<Cell>> {
    let scale = |run: &str| -> [Cell; 4] {
        match plan.and_then(|p| p.runs.iter().find(|r| r.name == run)) {
            Some(r) => {
                let n = r.params as f64;
                let d = r.tokens() as f64;
                [
                    Cell::Num(n),
                    Cell::Num(r.params_total as f64),
                    Cell::Num(d),
                    Cell::Num(6.0 * n * d),
                ]
            }
            None => [Cell::Null, Cell::Null, Cell::Null, Cell::Null],
        }
    };
    rows.iter()
        .map(|r| {
            let mut v = vec![Cell::Str(r.run.clone())];
            v.extend(scale(&r.run));
            v.extend([
                Cell::Str(r.task.clone()),
                Cell::Num(r.difficulty as f64),
                Cell::Str(r.reasoning.clone()),
                Cell::Str(r.metric.clone()),
                Cell::Num(r.value),
                Cell::Num(r.stderr),
                Cell::Num(r.n as f64),
            ]);
            v
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_requests_name_their_flag() {
        let req = EvalRequest::new("nowhere", vec!["nope:1".into()]);
        let e = run(&req, &crate::Silent).unwrap_err();
        assert!(
            matches!(e, Error::Flag { ref flag, .. } if flag == "--tasks"),
            "{e}"
        );
        let mut req = EvalRequest::new("nowhere", vec!["add:1".into()]);
        req.items = 0;
        assert!(matches!(run(&req, &crate::Silent), Err(Error::Flag { flag, .. }) if flag == "-n"));
        req.items = 1;
        req.temperature = -1.0;
        assert!(
            matches!(run(&req, &crate::Silent), Err(Error::Flag { flag, .. }) if flag == "--temperature")
        );
    }
}
