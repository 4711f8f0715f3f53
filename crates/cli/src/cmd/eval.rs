//! `scalelab eval`: evaluate trained runs on the built-in task generators.

use anyhow::{bail, Context, Result};
use scalelab_corpus::synth::TaskGenerator;
use scalelab_sweep::eval::{eval_dir, EvalOptions};
use scalelab_tables::Cell;
use std::path::PathBuf;

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
`scalelab emerge` reads:

  scalelab eval runs/arith --tasks add:2,add:4 -n 200
  scalelab emerge runs/arith/evals/evals.csv --discrete exact_match --continuous ce \
      --answer-length 4

Models must be byte-level (vocabulary 256), e.g. trained on data from
`scalelab corpus synth --mix "lang=0.5,add:1-4=0.5"`."#;

#[derive(clap::Args, Debug)]
#[command(after_long_help = HELP)]
pub struct Args {
    /// A run directory or a sweep directory.
    pub dir: PathBuf,
    /// Task generators, comma-separated (add:3, mul:2, needle:16-64, multihop:2, induction:4, choice:2).
    #[arg(long, value_delimiter = ',', required = true)]
    pub tasks: Vec<String>,
    /// Items per task.
    #[arg(short = 'n', long, default_value_t = 100)]
    pub items: usize,
    #[arg(long, default_value_t = 0)]
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
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Output directory (default: DIR/evals).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub fn run(a: Args) -> Result<()> {
    let mut tasks = Vec::new();
    for t in &a.tasks {
        tasks.push((
            t.clone(),
            TaskGenerator::parse(t).with_context(|| format!("--tasks {t}"))?,
        ));
    }
    if a.items == 0 {
        bail!("-n must be at least 1");
    }
    if a.temperature < 0.0 || !a.temperature.is_finite() {
        bail!("--temperature must be 0 or more");
    }
    if a.samples > 1 && a.temperature == 0.0 {
        eprintln!(
            "warning: --samples {} with greedy decoding gives identical samples; set --temperature",
            a.samples
        );
    }
    let opts = EvalOptions {
        tasks,
        items: a.items,
        seed: a.seed,
        temperature: a.temperature,
        samples: a.samples.max(1),
        shots: a.shots,
    };
    let t0 = std::time::Instant::now();
    let (items, rows, plan) = eval_dir(&a.dir, &opts, a.threads.max(1))?;
    let out = a.out.clone().unwrap_or_else(|| a.dir.join("evals"));
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let mut jsonl = String::new();
    for it in &items {
        jsonl.push_str(&serde_json::to_string(it)?);
        jsonl.push('\n');
    }
    scalelab_tables::write_atomic(&out.join("items.jsonl"), jsonl.as_bytes())?;
    // the long table, joined with the runs' scale
    let cols: Vec<String> = [
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
    ]
    .map(String::from)
    .to_vec();
    let scale = |run: &str| -> [Cell; 4] {
        match plan
            .as_ref()
            .and_then(|p| p.runs.iter().find(|r| r.name == run))
        {
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
    let table: Vec<Vec<Cell>> = rows
        .iter()
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
        .collect();
    scalelab_tables::write_csv(&out.join("evals.csv"), &cols, &table)?;
    println!(
        "{:<28} {:<10} {:>4} {:>12} {:>9} {:>9}",
        "run", "task", "diff", "exact_match", "ce", "edit"
    );
    let get = |run: &str, task: &str, d: u32, m: &str| {
        rows.iter()
            .find(|r| r.run == run && r.task == task && r.difficulty == d && r.metric == m)
            .map_or("-".to_string(), |r| format!("{:.3}", r.value))
    };
    for r in rows.iter().filter(|r| r.metric == "exact_match") {
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
    eprintln!(
        "{} items in {:.1} s; wrote {} and {}",
        items.len(),
        t0.elapsed().as_secs_f64(),
        out.join("items.jsonl").display(),
        out.join("evals.csv").display()
    );
    Ok(())
}
