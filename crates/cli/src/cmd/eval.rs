//! `scalelab eval`: evaluate trained runs on the built-in task generators.

use anyhow::Result;
use scalelab::eval::{EvalReport, EvalRequest};
use std::path::PathBuf;

use crate::progress::Bars;

const HELP: &str = r#"Evaluates the checkpoint of a run directory, or of every finished run of a
sweep directory, on generated task items (the same generators as
`scalelab corpus tasks`): multi-digit arithmetic (add:K, mul:K, with :steps
for worked steps), retrieval in long contexts (needle:RECORDS), multi-hop
lookup (multihop:HOPS), few-shot pattern induction (induction:SHOTS) and
multiple choice (choice:K: K-digit sums, four options A-D).

Per item (items.jsonl): prompt, target, answer, output, exact match,
log-probability of the target under teacher forcing, per-token negative
log-probability, token edit distance, per-digit accuracy for arithmetic, for
multiple choice the options' probabilities (renormalised over the labels A-D;
the most probable one is the answer) and the Brier score, and the task
metadata (task, difficulty, reasoning type, context length).
Per run, task and difficulty (evals.csv, long format with the run's params,
tokens and FLOPs joined from the sweep): exact_match, ce, logprob,
edit_distance, digit_acc, brier, each with a standard error — the table
`scalelab emerge` reads.

Models must be byte-level (vocabulary 256), e.g. trained on data from
`scalelab corpus synth --mix "lang=0.5,add:1-4=0.5"`.

With --json, stdout is one object (schema scalelab.eval/1): items_file,
table_file, runs, tasks, items (scored), exact (answered exactly), rows
(run, task, difficulty, reasoning, metric, value, stderr, n), warnings,
seconds.

Examples:

  scalelab eval runs/arith --tasks add:2,add:4 -n 200
  scalelab emerge runs/arith/evals/evals.csv --discrete exact_match --continuous ce \
      --answer-length 4

  scalelab eval runs/arith/r0 --tasks choice:2 -n 50 -o evals-r0 --json"#;

#[derive(clap::Args, Debug)]
#[command(after_long_help = HELP)]
pub struct Args {
    /// A run directory or a sweep directory.
    pub dir: PathBuf,
    /// Task generators, comma-separated (add:3, mul:2, needle:16-64, multihop:2, induction:4, choice:2).
    #[arg(long, value_delimiter = ',', required = true)]
    pub tasks: Vec<String>,
    /// Items per task.
    #[arg(short = 'n', long, default_value_t = 100, value_name = "N")]
    pub items: usize,
    /// Seed of the generated items (and of sampling).
    #[arg(long, default_value_t = 0, value_name = "SEED")]
    pub seed: u64,
    /// Sampling temperature (0: greedy decoding).
    #[arg(long, default_value_t = 0.0)]
    pub temperature: f64,
    /// Samples per item; above 1, the majority answer counts (self-consistency).
    #[arg(long, default_value_t = 1)]
    pub samples: usize,
    /// Solved examples of the same task before each prompt (few-shot).
    #[arg(long, default_value_t = 0)]
    pub shots: usize,
    /// Engine threads per model.
    #[arg(long, default_value_t = 1, value_name = "K", value_parser = crate::args::at_least_one)]
    pub threads: usize,
    /// Output directory for items.jsonl and evals.csv (default: DIR/evals).
    #[arg(short = 'o', long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Print one JSON object (schema scalelab.eval/1, keys below) instead of the table.
    #[arg(long)]
    pub json: bool,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

impl Args {
    /// The library request of these arguments.
    fn request(&self) -> EvalRequest {
        EvalRequest {
            dir: self.dir.clone(),
            tasks: self.tasks.clone(),
            items: self.items,
            seed: self.seed,
            temperature: self.temperature,
            samples: self.samples,
            shots: self.shots,
            threads: self.threads,
            out: self.out.clone(),
        }
    }
}

pub fn run(a: Args) -> Result<()> {
    let report = scalelab::eval::run(&a.request(), &Bars::new(a.quiet))?;
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report.summary())?);
        return Ok(());
    }
    print_table(&report);
    eprintln!(
        "{} items in {:.1} s; wrote {} and {}",
        report.items.len(),
        report.seconds,
        report.items_file.display(),
        report.table_file.display()
    );
    Ok(())
}

/// Exact match (with its standard error), cross-entropy and edit distance
/// per run, task and difficulty.
fn print_table(report: &EvalReport) {
    println!(
        "{:<28} {:<10} {:>4} {:>12} {:>9} {:>9}",
        "run", "task", "diff", "exact_match", "ce", "edit"
    );
    let get = |run: &str, task: &str, d: u32, m: &str| {
        report
            .row(run, task, d, m)
            .map_or("-".to_string(), |r| format!("{:.3}", r.value))
    };
    for r in report.rows.iter().filter(|r| r.metric == "exact_match") {
        println!(
            "{:<28} {:<10} {:>4} {:>12} {:>9} {:>9}",
            r.run,
            r.task,
            r.difficulty,
            format!("{:.3}±{:.3}", r.value, r.stderr),
            get(&r.run, &r.task, r.difficulty, "ce"),
            get(&r.run, &r.task, r.difficulty, "edit_distance"),
        );
    }
}
