//! `scalelab import`: existing training logs (TensorBoard event files,
//! experiment-tracker CSV exports) and lm-evaluation-harness results into
//! scalelab tables. The work is `scalelab::import`; this module turns the
//! flags into an [`ImportRequest`] and renders the [`ImportReport`].

use anyhow::Result;
use clap::{Subcommand, ValueEnum};
use scalelab::import::{CsvLayout, ImportKind, ImportReport, ImportRequest};
use std::path::PathBuf;

/// The mapping format of training-log imports (a macro, so that `concat!`
/// can put it under each long help).
macro_rules! mapping_help {
    () => {
        r#"The mapping file (TOML) gives what a log does not record:

  loss = "val/loss"            # tag or metric of the validation loss
  train_loss = "train/loss"
  tokens = "train/tokens"      # tag or metric of tokens seen (optional)
  tokens_per_step = 524288     # otherwise tokens = tokens_per_step × step
  [runs."pythia-70m"]          # per run, named as found
  params = 18915328            # non-embedding N
  params_total = 70426624
  tokens_per_step = 2097152

Unknown keys are errors naming file:line:column. Runs without params are an
error listing them (--allow-missing-params keeps them with empty sizes)."#
    };
}

const MAPPING_HELP: &str = mapping_help!();

const TB_HELP: &str = concat!(
    r#"Each directory holding event files (events.out.tfevents.*, found
recursively) is one run, named by its path relative to LOGDIR; a run's files
are read in name order, so a restarted run's later values replace earlier ones
at the same step. Scalars logged by torch.utils.tensorboard / tensorboardX
(simple_value) and by TF2's tf.summary.scalar (one-element tensors) are read;
histograms, images and text are skipped. Every record's CRC32C is checked: a
corrupt record is an error naming the file, the record and its byte offset; a
last record cut short (a writer still running) is skipped with a warning.

Writes DIR/runs.csv (run, params, params_total, tokens, flops = 6ND, loss =
the last validation loss, train_loss, steps, source), DIR/curves.csv (one row
per validation point: run, params, params_total, step, tokens, flops,
train_loss = the last training loss at or before the step, loss) and
DIR/scalars.csv (run, tag, step, value: every scalar).

Without --loss-tag (or `loss` in the mapping) the first of val/loss,
val_loss, eval/loss, eval_loss, validation/loss, ... that a run has is used,
and said so.

Examples:

  scalelab import tensorboard runs/ --map map.toml --out imported
  scalelab import tensorboard logs/ --loss-tag eval/loss --tokens-tag train/tokens \
      --map sizes.toml --out imported --json
  scalelab fit imported/runs.csv --law chinchilla
  scalelab isoflop imported/curves.csv --run-col run"#,
    "\n\n",
    mapping_help!()
);

const CSV_HELP: &str = concat!(
    r#"Layouts (detected from the header unless --layout is given; the report says
which):

  wandb    the W&B panel "Export CSV": a step column (Step, _step,
           trainer/global_step; else the first column) and "<run> - <metric>"
           columns (split at the last " - "); __MIN and __MAX columns are
           ignored. Several files (panels) are merged.
  long     one table with run, step and metric columns; name the run and step
           columns with `run = "name"` and `step = "_step"` in the mapping
           (defaults: run, name, run_name, run_id; _step, Step, step, ...).
  per-run  one file per run (the W&B run history export: _step, _runtime,
           _timestamp, metrics), named by the file stem (by its directory when
           stems repeat, as for history.csv).

Columns starting with `_` other than the step, and columns holding no
numbers, are ignored; any other cell that is not a number is an error naming
file:line:column. Writes the same runs.csv, curves.csv and scalars.csv as
`import tensorboard`.

Examples:

  scalelab import csv wandb_val_loss.csv wandb_train_loss.csv --map map.toml --out imported
  scalelab import csv history.csv --layout long --map map.toml --out imported
  scalelab import csv runs/*/history.csv --map map.toml --out imported --json"#,
    "\n\n",
    mapping_help!()
);

const LM_EVAL_HELP: &str = r#"Reads lm-evaluation-harness results (0.4: results_<date>.json with
"results", "n-samples", "n-shot", "config" and "model_name"; 0.3: "results"
and "config"); directories are searched recursively for results*.json. Each
file's model is matched to `[models."NAME"]` of the mapping by its
model_name, or else the pretrained= value of config.model_args:

  [models."EleutherAI/pythia-160m"]
  params = 85056000              # non-embedding N
  params_total = 162322944
  tokens = 299892736000          # D of the final model
  tokens_per_step = 2097152      # revision=stepN: tokens = N × this

Writes the long table scalelab emerge reads: run, revision, step, params,
params_total, tokens, flops, task, metric (acc, acc_norm, exact_match, ...;
lm-eval's `perplexity` is written `ppl`), filter (none, strict-match, ...),
value, stderr (empty for "N/A"), n (effective samples), num_fewshot, source.

Examples:

  scalelab import lm-eval results/ --map models.toml --out evals.csv
  scalelab emerge evals.csv --where "filter == 'none'" --continuous ppl"#;

/// Turn existing training logs and evaluation results into scalelab tables.
#[derive(clap::Args, Debug)]
#[command(after_long_help = "Examples:

  scalelab import tensorboard logs/ --map sizes.toml -o runs/tb
  scalelab import csv wandb_export.csv --map sizes.toml -o runs/wandb
  scalelab import lm-eval results/ --map models.toml -o evals.csv")]
pub struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// TensorBoard event files → runs.csv, curves.csv, scalars.csv.
    #[command(after_long_help = TB_HELP)]
    Tensorboard(TbArgs),
    /// Experiment-tracker CSV exports (W&B and others) → runs.csv, curves.csv, scalars.csv.
    #[command(after_long_help = CSV_HELP)]
    Csv(CsvArgs),
    /// lm-evaluation-harness results → the long evaluation table of `scalelab emerge`.
    #[command(name = "lm-eval", after_long_help = LM_EVAL_HELP)]
    LmEval(LmEvalArgs),
}

#[derive(clap::Args, Debug)]
struct Common {
    /// The mapping file (TOML): tags or metrics, tokens per step, and each
    /// run's params (see the mapping format below).
    #[arg(long, value_name = "FILE")]
    map: Option<PathBuf>,
    /// Keep runs (models) the mapping gives no params for, with empty
    /// sizes, instead of stopping with an error that lists them.
    #[arg(long)]
    allow_missing_params: bool,
    /// Print one JSON object (schema scalelab.import/1).
    #[arg(long)]
    json: bool,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

#[derive(clap::Args, Debug)]
#[command(after_help = MAPPING_HELP)]
struct TbArgs {
    /// Log directories (searched recursively) or event files.
    #[arg(required = true, value_name = "LOGDIR")]
    logdirs: Vec<PathBuf>,
    /// Directory for runs.csv, curves.csv and scalars.csv (created if missing).
    #[arg(long, short, value_name = "DIR")]
    out: PathBuf,
    /// Tag of the validation loss (default: the mapping's `loss`, or found).
    #[arg(long, value_name = "TAG")]
    loss_tag: Option<String>,
    /// Tag of the training loss (default: the mapping's `train_loss`, or found).
    #[arg(long, value_name = "TAG")]
    train_loss_tag: Option<String>,
    /// Tag of the tokens seen (default: the mapping's `tokens`, or
    /// tokens_per_step × step).
    #[arg(long, value_name = "TAG")]
    tokens_tag: Option<String>,
    #[command(flatten)]
    common: Common,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum LayoutArg {
    Wandb,
    Long,
    PerRun,
}

#[derive(clap::Args, Debug)]
#[command(after_help = MAPPING_HELP)]
struct CsvArgs {
    /// The CSV files.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Directory for runs.csv, curves.csv and scalars.csv (created if missing).
    #[arg(long, short, value_name = "DIR")]
    out: PathBuf,
    /// The files' layout (default: detected from the header).
    #[arg(long, value_enum)]
    layout: Option<LayoutArg>,
    /// Metric of the validation loss (default: the mapping's `loss`, or found).
    #[arg(long, value_name = "METRIC")]
    loss_col: Option<String>,
    /// Metric of the training loss (default: the mapping's `train_loss`, or found).
    #[arg(long, value_name = "METRIC")]
    train_loss_col: Option<String>,
    /// Metric of the tokens seen (default: the mapping's `tokens`, or
    /// tokens_per_step × step).
    #[arg(long, value_name = "METRIC")]
    tokens_col: Option<String>,
    #[command(flatten)]
    common: Common,
}

#[derive(clap::Args, Debug)]
#[command(
    after_help = "The mapping gives each model's size: [models.\"EleutherAI/pythia-160m\"] \
params = N, params_total, tokens = D (or tokens_per_step, for revision=stepN); see --help."
)]
struct LmEvalArgs {
    /// Results files, or directories searched recursively for results*.json.
    #[arg(required = true, value_name = "RESULTS")]
    results: Vec<PathBuf>,
    /// The evaluation table file to write (.csv or .parquet).
    #[arg(long, short, value_name = "FILE")]
    out: PathBuf,
    #[command(flatten)]
    common: Common,
}

impl Args {
    /// The library request of these flags, and the common flags.
    fn request(self) -> (ImportRequest, Common) {
        match self.cmd {
            Cmd::Tensorboard(a) => {
                let mut r = ImportRequest::new(ImportKind::Tensorboard, a.logdirs, a.out);
                r.loss = a.loss_tag;
                r.train_loss = a.train_loss_tag;
                r.tokens = a.tokens_tag;
                (r, a.common)
            }
            Cmd::Csv(a) => {
                let mut r = ImportRequest::new(ImportKind::Csv, a.files, a.out);
                r.loss = a.loss_col;
                r.train_loss = a.train_loss_col;
                r.tokens = a.tokens_col;
                r.layout = a.layout.map(|l| match l {
                    LayoutArg::Wandb => CsvLayout::Wandb,
                    LayoutArg::Long => CsvLayout::Long,
                    LayoutArg::PerRun => CsvLayout::PerRun,
                });
                (r, a.common)
            }
            Cmd::LmEval(a) => (
                ImportRequest::new(ImportKind::LmEval, a.results, a.out),
                a.common,
            ),
        }
    }
}

pub fn run(args: Args) -> Result<()> {
    let (mut req, common) = args.request();
    req.map = common.map;
    req.allow_missing_params = common.allow_missing_params;
    let bars = crate::progress::Bars::new(common.quiet || common.json);
    let report = scalelab::import::run(&req, &bars)?;
    if common.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render(&report));
    }
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    Ok(())
}

fn num(v: Option<f64>) -> String {
    v.map_or("–".into(), scalelab::format_number)
}

/// The terminal text of an import: what was read, the runs, the tables.
pub fn render(r: &ImportReport) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let what = if r.kind == ImportKind::LmEval {
        "models"
    } else {
        "runs"
    };
    let _ = write!(
        s,
        "imported {} {what} from {} files ({}",
        r.runs.len(),
        r.files.len(),
        r.kind.as_str()
    );
    if let Some(l) = r.layout {
        let _ = write!(
            s,
            ", layout {}{}",
            l.as_str(),
            if r.layout_detected { " (detected)" } else { "" }
        );
    }
    let _ = writeln!(s, ")");
    if let Some(loss) = &r.loss {
        let _ = writeln!(
            s,
            "loss {loss}; train loss {}; tokens {}",
            r.train_loss.as_deref().unwrap_or("–"),
            r.tokens.as_deref().unwrap_or("tokens_per_step × step")
        );
    }
    for n in &r.notes {
        let _ = writeln!(s, "note: {n}");
    }
    let w = r
        .runs
        .iter()
        .map(|x| x.run.chars().count() + x.revision.as_ref().map_or(0, |v| v.len() + 1))
        .max()
        .unwrap_or(3)
        .max(3);
    let _ = writeln!(s);
    if r.kind == ImportKind::LmEval {
        let _ = writeln!(
            s,
            "{:<w$}  {:>10}  {:>10}  {:>6}",
            "model", "params", "tokens", "rows"
        );
        for x in &r.runs {
            let name = match &x.revision {
                Some(v) => format!("{}@{v}", x.run),
                None => x.run.clone(),
            };
            let _ = writeln!(
                s,
                "{name:<w$}  {:>10}  {:>10}  {:>6}",
                num(x.params),
                num(x.tokens),
                x.rows
            );
        }
    } else {
        let _ = writeln!(
            s,
            "{:<w$}  {:>10}  {:>10}  {:>8}  {:>8}  {:>6}",
            "run", "params", "tokens", "steps", "loss", "points"
        );
        for x in &r.runs {
            let _ = writeln!(
                s,
                "{:<w$}  {:>10}  {:>10}  {:>8}  {:>8}  {:>6}",
                x.run,
                num(x.params),
                num(x.tokens),
                x.steps.map_or("–".into(), |v| v.to_string()),
                num(x.loss),
                x.rows
            );
        }
    }
    let _ = writeln!(s);
    for t in &r.tables {
        let _ = writeln!(s, "wrote {} ({} rows)", t.path, t.rows);
    }
    s
}
