//! External trainers: a run executed by the user's own command instead of
//! the built-in engine, speaking the metrics protocol of docs/trainers.md.
//!
//! ```toml
//! [trainer]
//! command = "python trainers/torch_gpt.py --config {config}"
//! resume = true                 # the trainer can continue from {resume}
//! checkpoint = "checkpoint.pt"  # its checkpoint, relative to the run directory
//! timeout = "2h"                # per attempt: seconds, "90s", "15m", "2h", "1d" or "HH:MM:SS"
//! launcher = "torchrun --nproc-per-node=4"   # put before the command
//! env = { OMP_NUM_THREADS = "1" }
//! workdir = "."                 # where the command runs (relative to the sweep file)
//! export_data = true            # write the run's exact token stream as shards
//! ```
//!
//! Every field of the resolved run is a placeholder (`{n_layer}`,
//! `{tokens}`, `{lr}`, `{run_dir}`, ...: see [`PLACEHOLDERS`]); the same
//! values are in the run's `run.json` (`{config}`, `$SCALELAB_CONFIG`) and
//! the main paths in `SCALELAB_*` environment variables.
//!
//! The trainer appends JSON lines to `metrics.jsonl` (`step`, `tokens`,
//! `train_loss`, `val_loss`, optional `flops` and any other keys) and marks
//! success by exiting 0 after writing `summary.json` or a last line with
//! `"done": true`. A non-zero exit, a line that is not a JSON object with a
//! `step`, a non-finite loss, or running past `timeout` fail the run with
//! the reason in its status; nothing of the sweep directory is lost. Its
//! stdout and stderr go to `stdout.log` and `stderr.log` in the run
//! directory, and `provenance.json` records every attempt (command,
//! environment given, exit status, resume point).

use crate::spec::{RunPlan, SweepPlan};
use anyhow::{anyhow, bail, Context, Result};
use scalelab_engine::{Parametrization, RunSummary, StepReport};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use toml::Spanned;

/// `[trainer]` as written in a sweep file.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TrainerSection {
    pub command: Spanned<String>,
    #[serde(default)]
    pub resume: bool,
    pub checkpoint: Option<String>,
    pub timeout: Option<Spanned<toml::Value>>,
    pub launcher: Option<Spanned<String>>,
    #[serde(default)]
    pub env: BTreeMap<String, Spanned<String>>,
    pub workdir: Option<String>,
    pub export_data: Option<bool>,
}

/// An external trainer, resolved (stored in plan.json with each run).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TrainerSpec {
    /// The command template (run by `sh -c` after substitution).
    pub command: String,
    /// The trainer can resume from its checkpoint.
    pub resume: bool,
    /// Its checkpoint file, relative to the run directory.
    pub checkpoint: String,
    /// Seconds an attempt may run.
    pub timeout: Option<f64>,
    /// Put before the command (`srun`, `torchrun --nproc-per-node=4`).
    pub launcher: Option<String>,
    /// Extra environment variables (templates too).
    pub env: BTreeMap<String, String>,
    /// Absolute directory the command runs in.
    pub workdir: PathBuf,
    /// Export the run's token stream as shards (`{train_data}`, `{val_data}`).
    pub export_data: bool,
}

/// The placeholders a command template may use.
pub const PLACEHOLDERS: &[&str] = &[
    "name",
    "index",
    "sweep_dir",
    "run_dir",
    "metrics",
    "summary",
    "config",
    "checkpoint",
    "resume",
    "train_data",
    "val_data",
    "data",
    "n_layer",
    "d_model",
    "n_head",
    "d_ff",
    "context",
    "batch",
    "vocab",
    "steps",
    "tokens",
    "lr",
    "min_lr_ratio",
    "warmup_steps",
    "lr_schedule",
    "decay_fraction",
    "decay_shape",
    "weight_decay",
    "beta1",
    "beta2",
    "eps",
    "grad_clip",
    "seed",
    "threads",
    "eval_every",
    "eval_batches",
    "checkpoint_every",
    "divergence_factor",
    "parametrization",
    "mup_base_width",
    "mup_base_head_dim",
    "params",
    "params_total",
    "flops_budget",
];

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// Checks `[trainer]` and resolves it against the sweep file's directory.
pub fn resolve_trainer(
    path: &Path,
    text: &str,
    section: &Spanned<TrainerSection>,
) -> Result<TrainerSpec> {
    let t = section.get_ref();
    let at =
        |span: std::ops::Range<usize>| format!("{}:{}", path.display(), line_of(text, span.start));
    let command = t.command.get_ref().trim().to_string();
    if command.is_empty() {
        bail!("{}: [trainer] command is empty", at(t.command.span()));
    }
    parse_template(&command)
        .map_err(|e| anyhow!("{}: [trainer] command: {e}", at(t.command.span())))?;
    let mut env = BTreeMap::new();
    for (k, v) in &t.env {
        if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            bail!(
                "{}: [trainer] env: `{k}` is not a variable name",
                at(v.span())
            );
        }
        parse_template(v.get_ref())
            .map_err(|e| anyhow!("{}: [trainer] env.{k}: {e}", at(v.span())))?;
        env.insert(k.clone(), v.get_ref().clone());
    }
    let launcher = match &t.launcher {
        Some(l) => {
            parse_template(l.get_ref())
                .map_err(|e| anyhow!("{}: [trainer] launcher: {e}", at(l.span())))?;
            Some(l.get_ref().trim().to_string()).filter(|s| !s.is_empty())
        }
        None => None,
    };
    let timeout = match &t.timeout {
        Some(v) => Some(
            parse_duration(v.get_ref())
                .map_err(|e| anyhow!("{}: [trainer] timeout: {e}", at(v.span())))?,
        ),
        None => None,
    };
    let checkpoint = t
        .checkpoint
        .clone()
        .unwrap_or_else(|| "checkpoint.pt".into());
    if checkpoint.is_empty() || Path::new(&checkpoint).is_absolute() || checkpoint.contains("..") {
        bail!(
            "{}: [trainer] checkpoint = {checkpoint:?}: give a file name inside the run directory",
            at(section.span())
        );
    }
    let base = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let workdir = match &t.workdir {
        Some(w) => base.join(w),
        None => std::env::current_dir().context("cannot read the current directory")?,
    };
    let workdir = workdir.canonicalize().map_err(|e| {
        anyhow!(
            "{}: [trainer] workdir {}: {e}",
            at(section.span()),
            workdir.display()
        )
    })?;
    Ok(TrainerSpec {
        command,
        resume: t.resume,
        checkpoint,
        timeout,
        launcher,
        env,
        workdir,
        export_data: t.export_data.unwrap_or(true),
    })
}

/// Seconds from a TOML number or a string such as `90s`, `15m`, `2h`,
/// `1d` or `HH:MM:SS`.
pub fn parse_duration(v: &toml::Value) -> Result<f64> {
    let secs = match v {
        toml::Value::Integer(i) => *i as f64,
        toml::Value::Float(f) => *f,
        toml::Value::String(s) => {
            let s = s.trim();
            if s.contains(':') {
                let parts: Vec<&str> = s.split(':').collect();
                if parts.len() > 3 {
                    bail!("`{s}` is not HH:MM:SS");
                }
                let mut total = 0.0;
                for p in parts {
                    let x: f64 = p.parse().map_err(|_| anyhow!("`{s}` is not HH:MM:SS"))?;
                    total = total * 60.0 + x;
                }
                total
            } else {
                let (num, unit) = match s.find(|c: char| c.is_ascii_alphabetic()) {
                    Some(i) => (&s[..i], &s[i..]),
                    None => (s, "s"),
                };
                let x: f64 = num
                    .trim()
                    .parse()
                    .map_err(|_| anyhow!("`{s}` is not a duration (90, \"90s\", \"15m\", \"2h\", \"1d\", \"HH:MM:SS\")"))?;
                x * match unit {
                    "s" => 1.0,
                    "m" | "min" => 60.0,
                    "h" => 3600.0,
                    "d" => 86400.0,
                    _ => bail!("`{s}`: unknown unit `{unit}` (s, m, h, d)"),
                }
            }
        }
        other => bail!("expected seconds or a duration string, got {other}"),
    };
    if !(secs.is_finite() && secs > 0.0) {
        bail!("must be positive, got {secs}");
    }
    Ok(secs)
}

/// A template: literal text and placeholders.
#[derive(Debug, PartialEq)]
enum Piece<'a> {
    Text(&'a str),
    Field(&'a str),
}

/// Splits a template; `{{` and `}}` are literal braces.
fn parse_template(t: &str) -> Result<Vec<Piece<'_>>> {
    let mut out = Vec::new();
    let b = t.as_bytes();
    let (mut i, mut start) = (0, 0);
    while i < b.len() {
        match b[i] {
            b'{' if b.get(i + 1) == Some(&b'{') => {
                out.push(Piece::Text(&t[start..=i]));
                i += 2;
                start = i;
            }
            b'}' if b.get(i + 1) == Some(&b'}') => {
                out.push(Piece::Text(&t[start..=i]));
                i += 2;
                start = i;
            }
            b'{' => {
                let end = t[i..].find('}').map(|k| i + k).ok_or_else(|| {
                    anyhow!("`{{` at byte {i} is not closed (write `{{{{` for a literal brace)")
                })?;
                let name = &t[i + 1..end];
                if !PLACEHOLDERS.contains(&name) {
                    bail!(
                        "unknown placeholder `{{{name}}}` (placeholders: {})",
                        PLACEHOLDERS.join(", ")
                    );
                }
                out.push(Piece::Text(&t[start..i]));
                out.push(Piece::Field(name));
                i = end + 1;
                start = i;
            }
            b'}' => bail!("`}}` at byte {i} closes nothing (write `}}}}` for a literal brace)"),
            _ => i += 1,
        }
    }
    out.push(Piece::Text(&t[start..]));
    Ok(out)
}

/// A value as one shell word.
fn shell_word(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,+@%".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Fills a template; values are shell-quoted when `quote`.
fn fill(template: &str, values: &BTreeMap<&str, String>, quote: bool) -> String {
    let pieces = parse_template(template).expect("checked when the sweep was loaded");
    let mut out = String::new();
    for p in pieces {
        match p {
            Piece::Text(t) => out.push_str(t),
            Piece::Field(f) => {
                let v = values.get(f).map(String::as_str).unwrap_or("");
                if quote {
                    out.push_str(&shell_word(v));
                } else {
                    out.push_str(v);
                }
            }
        }
    }
    out
}

/// Paths of a run's files.
pub struct RunFiles {
    pub dir: PathBuf,
    pub metrics: PathBuf,
    pub summary: PathBuf,
    pub config: PathBuf,
    pub checkpoint: PathBuf,
    pub provenance: PathBuf,
    pub result: PathBuf,
}

impl RunFiles {
    pub fn new(dir: &Path, spec: &TrainerSpec) -> Self {
        RunFiles {
            dir: dir.to_path_buf(),
            metrics: dir.join("metrics.jsonl"),
            summary: dir.join("summary.json"),
            config: dir.join("run.json"),
            checkpoint: dir.join(&spec.checkpoint),
            provenance: dir.join("provenance.json"),
            result: dir.join("result.json"),
        }
    }
}

fn abs(p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    }
}

/// Fills batch `i` (tokens, targets) of a stream.
type BatchFn<'a> = dyn FnMut(u64, &mut [u32], &mut [u32]) -> Result<()> + 'a;

/// Where the exported token stream of a run lives (train, val).
pub fn data_paths(sweep_dir: &Path, r: &RunPlan) -> (PathBuf, PathBuf) {
    let d = abs(sweep_dir).join("data").join(data_key(r));
    (d.join("train.bin"), d.join("val.bin"))
}

/// Runs with the same key read the same token stream.
fn data_key(r: &RunPlan) -> String {
    let c = &r.config;
    let key = format!(
        "{}|{}|{}|{}|{}|{}|{}",
        c.data, c.seed, c.batch, c.context, c.val_fraction, c.eval_batches, r.vocab
    );
    // FNV-1a, 64 bits
    let mut h: u64 = 0xcbf29ce484222325;
    for b in key.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{h:016x}")
}

/// Writes the token stream run `r` trains and evaluates on, as the built-in
/// engine would read it, unless it is there: `train.bin` holds one document
/// per row of `context + 1` tokens (row `s·batch + b` is row `b` of step
/// `s`, for as many steps as the longest run sharing the stream needs) and
/// `val.bin` the `eval_batches · batch` validation rows, both in the token
/// shard format of the corpus crate.
pub fn ensure_data(sweep_dir: &Path, plan: &SweepPlan, r: &RunPlan) -> Result<(PathBuf, PathBuf)> {
    let (train, val) = data_paths(sweep_dir, r);
    let key = data_key(r);
    let steps = plan
        .runs
        .iter()
        .filter(|o| data_key(o) == key)
        .map(|o| o.config.total_steps())
        .max()
        .unwrap_or(0)
        .max(r.config.total_steps());
    let c = &r.config;
    let rows_needed = steps * c.batch as u64;
    let val_rows = c.eval_batches * c.batch as u64;
    let has = |p: &Path, rows: u64| {
        scalelab_corpus::shard::Shard::open(p)
            .map(|s| s.header().docs >= rows)
            .unwrap_or(false)
    };
    if has(&train, rows_needed) && has(&val, val_rows) {
        return Ok((train, val));
    }
    let dir = train.parent().expect("data dir");
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut src = crate::data::open_source(c)?;
    let vocab = r.vocab as u32;
    let (b, t) = (c.batch, c.context);
    let mut tok = vec![0u32; b * t];
    let mut tgt = vec![0u32; b * t];
    let mut row = vec![0u32; t + 1];
    let mut write = |path: &Path, n: u64, get: &mut BatchFn| -> Result<()> {
        let mut w = scalelab_corpus::shard::ShardWriter::create(path, vocab, 0)?;
        for s in 0..n {
            get(s, &mut tok, &mut tgt)?;
            for i in 0..b {
                let (x, y) = (&tok[i * t..(i + 1) * t], &tgt[i * t..(i + 1) * t]);
                if x[1..] != y[..t - 1] {
                    bail!(
                        "data {:?}: its targets are not the next tokens of its inputs, so it cannot be exported for an external trainer (set [trainer] export_data = false)",
                        c.data
                    );
                }
                row[..t].copy_from_slice(x);
                row[t] = y[t - 1];
                w.push_doc(&row)
                    .with_context(|| format!("cannot write {}", path.display()))?;
            }
        }
        w.finish()?;
        Ok(())
    };
    write(&train, steps, &mut |s, x, y| {
        src.train_batch(s, b, t, x, y)
            .map_err(|e| anyhow!("data {:?}: {e}", c.data))
    })?;
    write(&val, c.eval_batches, &mut |i, x, y| {
        src.val_batch(i, b, t, x, y)
            .map_err(|e| anyhow!("data {:?}: {e}", c.data))
    })?;
    Ok((train, val))
}

/// The values of the placeholders for run `index`.
fn values(
    sweep_dir: &Path,
    index: usize,
    r: &RunPlan,
    files: &RunFiles,
    resume: Option<&Path>,
) -> BTreeMap<&'static str, String> {
    let c = &r.config;
    let spec = r.trainer.as_ref().expect("an external run");
    let (train, val) = if spec.export_data {
        let (a, b) = data_paths(sweep_dir, r);
        (a.display().to_string(), b.display().to_string())
    } else {
        (String::new(), String::new())
    };
    let p = |x: &Path| abs(x).display().to_string();
    let mut v = BTreeMap::new();
    v.insert("name", r.name.clone());
    v.insert("index", index.to_string());
    v.insert("sweep_dir", p(sweep_dir));
    v.insert("run_dir", p(&files.dir));
    v.insert("metrics", p(&files.metrics));
    v.insert("summary", p(&files.summary));
    v.insert("config", p(&files.config));
    v.insert("checkpoint", p(&files.checkpoint));
    v.insert("resume", resume.map(p).unwrap_or_default());
    v.insert("train_data", train);
    v.insert("val_data", val);
    v.insert("data", c.data.clone());
    v.insert("n_layer", c.n_layer.to_string());
    v.insert("d_model", c.d_model.to_string());
    v.insert("n_head", c.n_head.to_string());
    v.insert("d_ff", c.d_ff.unwrap_or(4 * c.d_model).to_string());
    v.insert("context", c.context.to_string());
    v.insert("batch", c.batch.to_string());
    v.insert("vocab", r.vocab.to_string());
    v.insert("steps", c.total_steps().to_string());
    v.insert("tokens", r.tokens().to_string());
    v.insert("lr", c.lr.to_string());
    v.insert("min_lr_ratio", c.min_lr_ratio.to_string());
    v.insert("warmup_steps", c.warmup().to_string());
    v.insert("lr_schedule", c.lr_schedule.as_str().to_string());
    v.insert("decay_fraction", c.decay_fraction.to_string());
    v.insert("decay_shape", c.decay_shape.as_str().to_string());
    v.insert("weight_decay", c.weight_decay.to_string());
    v.insert("beta1", c.beta1.to_string());
    v.insert("beta2", c.beta2.to_string());
    v.insert("eps", c.eps.to_string());
    v.insert("grad_clip", c.grad_clip.to_string());
    v.insert("seed", c.seed.to_string());
    v.insert("threads", c.threads.to_string());
    v.insert("eval_every", c.eval_every.to_string());
    v.insert("eval_batches", c.eval_batches.to_string());
    v.insert("checkpoint_every", c.checkpoint_every.to_string());
    v.insert("divergence_factor", c.divergence_factor.to_string());
    // μP's base shape, resolved as the engine resolves it (the base head
    // dimension defaults to the model's own); empty under standard.
    v.insert("parametrization", c.parametrization.as_str().to_string());
    let (base_width, base_head_dim) = match c.parametrization() {
        Parametrization::Mup {
            base_width,
            base_head_dim,
        } => (base_width.to_string(), base_head_dim.to_string()),
        Parametrization::Standard => (String::new(), String::new()),
    };
    v.insert("mup_base_width", base_width);
    v.insert("mup_base_head_dim", base_head_dim);
    v.insert("params", r.params.to_string());
    v.insert("params_total", r.params_total.to_string());
    v.insert(
        "flops_budget",
        r.flops_budget.map(|f| f.to_string()).unwrap_or_default(),
    );
    v
}

/// The run's `run.json`: every placeholder with its typed value.
fn run_json(values: &BTreeMap<&'static str, String>) -> Value {
    let mut m = Map::new();
    m.insert("schema".into(), Value::from("scalelab.run/1"));
    for (k, v) in values {
        let typed = match *k {
            "name" | "sweep_dir" | "run_dir" | "metrics" | "summary" | "config" | "checkpoint"
            | "data" => Value::from(v.clone()),
            "resume" | "train_data" | "val_data" | "flops_budget" | "mup_base_width"
            | "mup_base_head_dim"
                if v.is_empty() =>
            {
                Value::Null
            }
            "parametrization" => Value::from(v.clone()),
            "resume" | "train_data" | "val_data" => Value::from(v.clone()),
            _ => v
                .parse::<u64>()
                .map(Value::from)
                .or_else(|_| v.parse::<f64>().map(Value::from))
                .unwrap_or_else(|_| Value::from(v.clone())),
        };
        m.insert((*k).to_string(), typed);
    }
    Value::Object(m)
}

/// One line of a trainer's metrics file, read leniently.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricLine {
    pub step: u64,
    pub tokens: Option<f64>,
    pub train_loss: Option<f64>,
    pub val_loss: Option<f64>,
    pub flops: Option<f64>,
    pub done: bool,
    pub fields: Map<String, Value>,
}

/// Why a metrics line is refused.
#[derive(Debug, PartialEq)]
pub enum LineError {
    /// Not a JSON object with an integer `step`.
    Garbage(String),
    /// A loss that is NaN or infinite.
    NonFinite { step: u64, key: String },
}

/// Parses one line of the protocol. JSON has no NaN, but Python's `json`
/// writes `NaN` and `Infinity`: those read as a non-finite loss.
pub fn parse_line(line: &str) -> std::result::Result<MetricLine, LineError> {
    let v: Value = match serde_json::from_str(line) {
        Ok(v) => v,
        Err(e) => {
            let fixed = line
                .replace("-Infinity", "\"__nonfinite__\"")
                .replace("Infinity", "\"__nonfinite__\"")
                .replace("NaN", "\"__nonfinite__\"");
            match serde_json::from_str::<Value>(&fixed) {
                Ok(v) if fixed != line => v,
                _ => return Err(LineError::Garbage(format!("not JSON ({e})"))),
            }
        }
    };
    let Value::Object(m) = v else {
        return Err(LineError::Garbage("not a JSON object".into()));
    };
    let step = m
        .get("step")
        .and_then(Value::as_u64)
        .ok_or_else(|| LineError::Garbage("no whole-number `step`".into()))?;
    let num = |k: &str| -> std::result::Result<Option<f64>, LineError> {
        match m.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s == "__nonfinite__" => Err(LineError::NonFinite {
                step,
                key: k.into(),
            }),
            Some(x) => x
                .as_f64()
                .map(Some)
                .ok_or_else(|| LineError::Garbage(format!("`{k}` is not a number"))),
        }
    };
    let train_loss = num("train_loss")?;
    let val_loss = num("val_loss")?;
    let tokens = num("tokens").unwrap_or(None);
    let flops = num("flops").unwrap_or(None);
    Ok(MetricLine {
        step,
        tokens,
        train_loss,
        val_loss,
        flops,
        done: m.get("done").and_then(Value::as_bool).unwrap_or(false),
        fields: m,
    })
}

/// Adds a line to a run's history: a step at or below the last one (a
/// trainer resumed from an earlier checkpoint) replaces what followed it.
fn push_line(lines: &mut Vec<MetricLine>, l: MetricLine) {
    if let Some(i) = lines.iter().position(|o| o.step >= l.step && !o.done) {
        lines.truncate(i);
    }
    lines.push(l);
}

/// Reads a metrics file. `strict`: every line must parse (a finished run);
/// otherwise a torn last line is ignored. Errors carry the line number.
pub fn read_lines(path: &Path, strict: bool) -> Result<Vec<MetricLine>> {
    let text = match std::fs::read(path) {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(anyhow!("cannot read {}: {e}", path.display())),
    };
    let complete = text.ends_with('\n');
    let all: Vec<&str> = text.lines().collect();
    let mut lines = Vec::new();
    for (i, l) in all.iter().enumerate() {
        if l.trim().is_empty() {
            continue;
        }
        let last_torn = i + 1 == all.len() && !complete;
        match parse_line(l) {
            Ok(m) => push_line(&mut lines, m),
            Err(_) if last_torn && !strict => {}
            Err(LineError::Garbage(why)) => {
                bail!("{} line {}: {why}", path.display(), i + 1)
            }
            Err(LineError::NonFinite { step, key }) => {
                bail!(
                    "{} line {}: diverged: {key} is not finite at step {step}",
                    path.display(),
                    i + 1
                )
            }
        }
    }
    Ok(lines)
}

/// What scalelab keeps of a finished external run (`result.json`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ExternalResult {
    pub steps: u64,
    pub tokens: f64,
    pub params: f64,
    pub params_total: f64,
    pub flops: f64,
    pub flops_per_token: Option<f64>,
    pub val_loss: f64,
    pub train_loss: Option<f64>,
    /// `trainer` when the trainer reported the parameter and FLOP counts,
    /// `scalelab` when they come from scalelab's accounting for the shape.
    pub accounting: String,
    pub tokens_per_second: Option<f64>,
    pub seconds: f64,
}

/// Reads a finished external run's `result.json`.
pub fn read_result(dir: &Path) -> Option<ExternalResult> {
    let t = std::fs::read_to_string(dir.join("result.json")).ok()?;
    serde_json::from_str(&t).ok()
}

/// The per-token training FLOPs scalelab counts for the run's shape.
fn flops_per_token(r: &RunPlan) -> f64 {
    r.config.shape(r.vocab).flops_per_token().exact
}

/// Turns the trainer's output into the run's result.
fn result_of(
    r: &RunPlan,
    files: &RunFiles,
    lines: &[MetricLine],
    seconds: f64,
) -> Result<ExternalResult> {
    let summary: Option<Map<String, Value>> = match std::fs::read_to_string(&files.summary) {
        Ok(t) => match serde_json::from_str::<Value>(&t) {
            Ok(Value::Object(m)) => Some(m),
            _ => bail!("{}: not a JSON object", files.summary.display()),
        },
        Err(_) => None,
    };
    let done_line = lines.iter().rev().find(|l| l.done);
    if summary.is_none() && done_line.is_none() {
        bail!(
            "the trainer exited 0 without finishing: no {} and no last metrics line with \"done\": true",
            files.summary.display()
        );
    }
    let from = |keys: &[&str]| -> Option<f64> {
        for k in keys {
            if let Some(x) = summary
                .as_ref()
                .and_then(|m| m.get(*k))
                .and_then(Value::as_f64)
            {
                return Some(x);
            }
            if let Some(x) = done_line
                .and_then(|l| l.fields.get(*k))
                .and_then(Value::as_f64)
            {
                return Some(x);
            }
        }
        None
    };
    let last = lines.iter().rev().find(|l| !l.done).or(lines.last());
    let val_loss = from(&["val_loss", "final_val_loss"])
        .or_else(|| lines.iter().rev().find_map(|l| l.val_loss))
        .ok_or_else(|| anyhow!("the trainer reported no validation loss (`val_loss`)"))?;
    let train_loss = from(&["train_loss", "final_train_loss"])
        .or_else(|| lines.iter().rev().find_map(|l| l.train_loss));
    for (k, x) in [("val_loss", Some(val_loss)), ("train_loss", train_loss)] {
        if x.is_some_and(|x| !x.is_finite()) {
            bail!("diverged: the final {k} is not finite");
        }
    }
    let steps = from(&["steps"])
        .map(|s| s as u64)
        .or(last.map(|l| l.step))
        .unwrap_or(0);
    let tokens = from(&["tokens"])
        .or(last.and_then(|l| l.tokens))
        .unwrap_or_else(|| (steps * (r.config.batch * r.config.context) as u64) as f64);
    let reported_params = from(&["params", "params_non_embedding"]);
    let reported_flops = from(&["flops"]).or(last.and_then(|l| l.flops));
    let fpt = flops_per_token(r);
    let accounting = if reported_params.is_some() && reported_flops.is_some() {
        "trainer"
    } else {
        "scalelab"
    };
    Ok(ExternalResult {
        steps,
        tokens,
        params: reported_params.unwrap_or(r.params as f64),
        params_total: from(&["params_total"]).unwrap_or(r.params_total as f64),
        flops: reported_flops.unwrap_or(fpt * tokens),
        flops_per_token: from(&["flops_per_token"]).or(Some(fpt)),
        val_loss,
        train_loss,
        accounting: accounting.into(),
        tokens_per_second: from(&["tokens_per_second"]),
        seconds,
    })
}

/// The engine's summary type for an external run's result (what the
/// executors report).
pub fn as_summary(r: &RunPlan, x: &ExternalResult) -> RunSummary {
    RunSummary {
        completed: true,
        steps: x.steps,
        params_non_embedding: x.params as u64,
        params_total: x.params_total as u64,
        tokens: x.tokens as u64,
        flops: x.flops,
        flops_per_token: x.flops_per_token.unwrap_or(0.0),
        final_train_loss: x.train_loss.unwrap_or(f64::NAN),
        final_val_loss: Some(x.val_loss),
        tokens_per_second: x.tokens_per_second.unwrap_or(0.0),
        gflops_per_second: x.tokens_per_second.unwrap_or(0.0) * x.flops_per_token.unwrap_or(0.0)
            / 1e9,
        peak_rss_mb: 0.0,
        threads: r.config.threads,
        simd: "external".into(),
        data: r.config.data.clone(),
    }
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Appends an attempt to `provenance.json`.
fn record_attempt(files: &RunFiles, attempt: Value) -> Result<()> {
    let mut doc = std::fs::read_to_string(&files.provenance)
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .filter(Value::is_object)
        .unwrap_or_else(|| serde_json::json!({"schema": "scalelab.provenance/1", "attempts": []}));
    if !doc["attempts"].is_array() {
        doc["attempts"] = Value::Array(Vec::new());
    }
    doc["attempts"].as_array_mut().expect("array").push(attempt);
    let text = serde_json::to_string_pretty(&doc).expect("serialise") + "\n";
    crate::write_file(&files.provenance, text.as_bytes())
}

/// How an attempt ended.
enum Ended {
    /// Exited by itself.
    Exited(std::process::ExitStatus),
    /// Killed by scalelab, for this reason (`None`: stopped on request).
    Killed(Option<String>),
}

/// Sends `sig` to the child's process group.
fn signal_group(child: &Child, sig: i32) {
    // SAFETY: kill(2) with a negative pid signals the group the child leads
    // (it was started with process_group(0)); no memory is shared.
    unsafe {
        libc::kill(-(child.id() as i32), sig);
    }
}

/// Stops the child's process group: SIGTERM, then SIGKILL after `grace`.
fn stop(child: &mut Child, grace: Duration) {
    signal_group(child, libc::SIGTERM);
    let t0 = Instant::now();
    while t0.elapsed() < grace {
        if let Ok(Some(_)) = child.try_wait() {
            signal_group(child, libc::SIGKILL);
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    signal_group(child, libc::SIGKILL);
    let _ = child.wait();
}

/// A metrics file read as it grows.
struct Tail {
    path: PathBuf,
    offset: u64,
    partial: String,
    line_no: usize,
}

impl Tail {
    /// New complete lines since the last call.
    fn poll(&mut self) -> Vec<(usize, String)> {
        let Ok(mut f) = std::fs::File::open(&self.path) else {
            return Vec::new();
        };
        if f.seek(SeekFrom::Start(self.offset)).is_err() {
            return Vec::new();
        }
        let mut buf = Vec::new();
        if f.read_to_end(&mut buf).is_err() {
            return Vec::new();
        }
        self.offset += buf.len() as u64;
        self.partial.push_str(&String::from_utf8_lossy(&buf));
        let mut out = Vec::new();
        while let Some(i) = self.partial.find('\n') {
            let line: String = self.partial.drain(..=i).collect();
            self.line_no += 1;
            out.push((self.line_no, line.trim_end().to_string()));
        }
        out
    }
}

/// Runs one external run to its end (or failure, or a stop on request).
/// Returns how the attempt ended ([`Attempt`]), and `Err` for an I/O
/// problem of the sweep directory itself.
pub fn run(
    sweep_dir: &Path,
    plan: &SweepPlan,
    index: usize,
    on_step: &mut dyn FnMut(&StepReport) -> ControlFlow<()>,
    under_slurm: bool,
) -> Result<Attempt> {
    let r = &plan.runs[index];
    let spec = r.trainer.as_ref().expect("an external run");
    let dir = crate::run::run_dir(sweep_dir, &r.name);
    let files = RunFiles::new(&dir, spec);
    if spec.export_data {
        ensure_data(sweep_dir, plan, r)?;
    }
    // A trainer left running by an earlier scalelab (killed with -9) still
    // holds the run's lock through its stdin: never start a second one.
    let lock_path = dir.join(".trainer.lock");
    let lock = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .with_context(|| format!("cannot open {}", lock_path.display()))?;
    match lock.try_lock() {
        Ok(()) => {}
        // A Slurm task waits for the trainer a killed task left behind on
        // this node (the job's time limit bounds the wait); a local sweep
        // leaves the run alone and says so.
        Err(std::fs::TryLockError::WouldBlock) if under_slurm => lock
            .lock()
            .with_context(|| format!("cannot lock {}", lock_path.display()))?,
        Err(std::fs::TryLockError::WouldBlock) => {
            return Ok(Attempt::Busy);
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("cannot lock {}", lock_path.display()))
        }
    }
    // A trainer that finished while no scalelab watched it (its parent was
    // killed) is done: read its result without running it again.
    if let Ok(lines) = read_lines(&files.metrics, true) {
        if files.summary.exists() || lines.iter().any(|l| l.done) {
            if let Ok(x) = result_of(r, &files, &lines, 0.0) {
                if x.steps >= r.config.total_steps() {
                    write_result(&files, &x)?;
                    return Ok(Attempt::Done(Box::new(as_summary(r, &x))));
                }
            }
        }
    }
    let resume = (spec.resume && files.checkpoint.exists()).then(|| files.checkpoint.clone());
    if resume.is_none() {
        for p in [&files.metrics, &files.summary, &files.result] {
            let _ = std::fs::remove_file(p);
        }
    } else {
        let _ = std::fs::remove_file(&files.summary);
    }
    let vals = values(sweep_dir, index, r, &files, resume.as_deref());
    let config = serde_json::to_string_pretty(&run_json(&vals)).expect("serialise") + "\n";
    crate::write_file(&files.config, config.as_bytes())?;
    let launcher = if under_slurm {
        plan.slurm.launcher.clone().or(spec.launcher.clone())
    } else {
        spec.launcher.clone()
    };
    let mut command = fill(&spec.command, &vals, true);
    if let Some(l) = &launcher {
        command = format!("{} {command}", fill(l, &vals, false));
    }
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    let mut set = |k: &str, v: &str| {
        env.insert(k.to_string(), v.to_string());
    };
    set("SCALELAB_RUN_NAME", &vals["name"]);
    set("SCALELAB_RUN_DIR", &vals["run_dir"]);
    set("SCALELAB_METRICS", &vals["metrics"]);
    set("SCALELAB_SUMMARY", &vals["summary"]);
    set("SCALELAB_CONFIG", &vals["config"]);
    set("SCALELAB_CHECKPOINT", &vals["checkpoint"]);
    set("SCALELAB_RESUME", &vals["resume"]);
    set("SCALELAB_TRAIN_DATA", &vals["train_data"]);
    set("SCALELAB_VAL_DATA", &vals["val_data"]);
    for (k, v) in &spec.env {
        env.insert(k.clone(), fill(v, &vals, false));
    }
    let log = |name: &str| -> Result<std::fs::File> {
        let p = dir.join(name);
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&p)
            .with_context(|| format!("cannot open {}", p.display()))?;
        let _ = writeln!(
            f,
            "== scalelab: attempt at {:.0} (unix s){}",
            now(),
            resume
                .as_ref()
                .map(|p| format!(", resuming from {}", p.display()))
                .unwrap_or_default()
        );
        Ok(f)
    };
    let (stdout, stderr) = (log("stdout.log")?, log("stderr.log")?);
    let status0 = crate::run::read_status(&dir, r.config.total_steps());
    crate::run::write_status(
        &dir,
        &crate::run::Status {
            state: crate::run::State::Running,
            reason: None,
            ..status0
        },
    )?;
    let started = now();
    let t0 = Instant::now();
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(&command)
        .current_dir(&spec.workdir)
        .envs(&env)
        .stdin(Stdio::from(
            lock.try_clone().context("cannot share the run lock")?,
        ))
        .stdout(Stdio::from(stdout))
        .stderr(Stdio::from(stderr));
    {
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
    }
    let mut attempt = serde_json::json!({
        "started": started,
        "command": command,
        "template": spec.command,
        "launcher": launcher,
        "workdir": spec.workdir,
        "env": env,
        "resumed_from": resume,
        "host": std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default().trim(),
        "slurm_job": std::env::var("SLURM_JOB_ID").ok(),
        "slurm_array_task": std::env::var("SLURM_ARRAY_TASK_ID").ok(),
    });
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            let reason = format!("cannot start `sh -c {command}`: {e}");
            attempt["outcome"] = "failed".into();
            attempt["reason"] = reason.clone().into();
            record_attempt(&files, attempt)?;
            return Ok(Attempt::Failed(reason));
        }
    };
    attempt["pid"] = child.id().into();
    crate::write_file(
        &dir.join("trainer.pid"),
        format!("{}\n", child.id()).as_bytes(),
    )?;
    let mut tail = Tail {
        path: files.metrics.clone(),
        offset: 0,
        partial: String::new(),
        line_no: 0,
    };
    // lines of an earlier attempt were read when resuming: start after them
    if let Ok(m) = std::fs::metadata(&files.metrics) {
        if resume.is_some() {
            tail.offset = m.len();
            tail.line_no = std::fs::read_to_string(&files.metrics)
                .map(|t| t.lines().count())
                .unwrap_or(0);
        }
    }
    let total = r.config.total_steps();
    let every = r.config.checkpoint_every.max(1);
    let tps = (r.config.batch * r.config.context) as u64;
    let mut last_val = None;
    let ended = loop {
        let mut kill: Option<Option<String>> = None;
        for (no, line) in tail.poll() {
            if line.trim().is_empty() {
                continue;
            }
            match parse_line(&line) {
                Ok(m) => {
                    if m.done {
                        continue;
                    }
                    if m.val_loss.is_some() {
                        last_val = m.val_loss;
                    }
                    let rep = StepReport {
                        step: m.step,
                        tokens: m.tokens.map_or(m.step * tps, |t| t as u64),
                        flops: m.flops.unwrap_or(f64::NAN),
                        train_loss: m.train_loss.or(m.val_loss).unwrap_or(f64::NAN),
                        val_loss: m.val_loss,
                        lr: m
                            .fields
                            .get("lr")
                            .and_then(Value::as_f64)
                            .unwrap_or(f64::NAN),
                        grad_norm: m
                            .fields
                            .get("grad_norm")
                            .and_then(Value::as_f64)
                            .unwrap_or(f64::NAN),
                        tokens_per_second: m
                            .fields
                            .get("tokens_per_second")
                            .and_then(Value::as_f64)
                            .unwrap_or(f64::NAN),
                    };
                    if m.step % every == 0 || m.step == total {
                        crate::run::write_status(
                            &dir,
                            &crate::run::Status {
                                state: crate::run::State::Running,
                                reason: None,
                                step: m.step.min(total),
                                total_steps: total,
                                train_loss: m.train_loss,
                                val_loss: last_val,
                                updated: 0,
                                role: None,
                                parent: None,
                            },
                        )?;
                    }
                    if on_step(&rep).is_break() {
                        kill = Some(None);
                        break;
                    }
                }
                Err(LineError::Garbage(why)) => {
                    kill = Some(Some(format!(
                        "{} line {no}: {why}",
                        files.metrics.display()
                    )));
                    break;
                }
                Err(LineError::NonFinite { step, key }) => {
                    kill = Some(Some(format!(
                        "diverged: {key} is not finite at step {step}"
                    )));
                    break;
                }
            }
        }
        if kill.is_none() {
            if let Some(limit) = spec.timeout {
                if t0.elapsed().as_secs_f64() > limit {
                    kill = Some(Some(format!(
                        "timed out: still running after {limit:.0} s ([trainer] timeout)"
                    )));
                }
            }
        }
        if let Some(why) = kill {
            stop(&mut child, Duration::from_secs(10));
            break Ended::Killed(why);
        }
        match child.try_wait() {
            Ok(Some(st)) => {
                // the whole group: a launcher's workers must not outlive it
                signal_group(&child, libc::SIGKILL);
                break Ended::Exited(st);
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => {
                stop(&mut child, Duration::from_secs(10));
                break Ended::Killed(Some(format!("cannot wait for the trainer: {e}")));
            }
        }
    };
    let seconds = t0.elapsed().as_secs_f64();
    attempt["ended"] = now().into();
    attempt["seconds"] = seconds.into();
    let _ = std::fs::remove_file(dir.join("trainer.pid"));
    let outcome = match ended {
        Ended::Killed(None) => {
            attempt["outcome"] = "stopped".into();
            Attempt::Stopped
        }
        Ended::Killed(Some(why)) => Attempt::Failed(why),
        Ended::Exited(st) => {
            use std::os::unix::process::ExitStatusExt;
            attempt["exit_code"] = st.code().into();
            attempt["signal"] = st.signal().into();
            if !st.success() {
                let how = match (st.code(), st.signal()) {
                    (Some(c), _) => format!("exit status {c}"),
                    (None, Some(s)) => format!("killed by signal {s}"),
                    _ => "failed".into(),
                };
                let last_err = last_line(&dir.join("stderr.log"));
                Attempt::Failed(match last_err {
                    Some(l) => format!("the trainer failed ({how}): {l}"),
                    None => format!("the trainer failed ({how})"),
                })
            } else {
                match read_lines(&files.metrics, true)
                    .and_then(|lines| result_of(r, &files, &lines, seconds))
                {
                    Ok(x) => {
                        write_result(&files, &x)?;
                        Attempt::Done(Box::new(as_summary(r, &x)))
                    }
                    Err(e) => Attempt::Failed(format!("{e:#}")),
                }
            }
        }
    };
    match &outcome {
        Attempt::Failed(why) => {
            attempt["outcome"] = "failed".into();
            attempt["reason"] = why.clone().into();
        }
        Attempt::Done(_) => attempt["outcome"] = "done".into(),
        _ => {}
    }
    record_attempt(&files, attempt)?;
    drop(lock);
    Ok(outcome)
}

/// How an attempt of an external run ended.
pub enum Attempt {
    Done(Box<RunSummary>),
    Failed(String),
    Stopped,
    /// A trainer from an earlier invocation still runs it.
    Busy,
}

fn write_result(files: &RunFiles, x: &ExternalResult) -> Result<()> {
    let text = serde_json::to_string_pretty(x).expect("serialise") + "\n";
    crate::write_file(&files.result, text.as_bytes())
}

/// The last non-empty line of a log (for failure reasons), shortened.
fn last_line(p: &Path) -> Option<String> {
    let t = std::fs::read_to_string(p).ok()?;
    let l = t
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty() && !l.starts_with("== scalelab:"))?
        .trim();
    Some(if l.chars().count() > 300 {
        l.chars().take(300).collect::<String>() + "…"
    } else {
        l.to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_fill_and_refuse_unknown_placeholders() {
        let mut v = BTreeMap::new();
        v.insert("n_layer", "2".to_string());
        v.insert("run_dir", "/tmp/a b".to_string());
        let t = "python t.py --n-layer {n_layer} --out {run_dir} --json '{{\"a\": 1}}'";
        assert_eq!(
            fill(t, &v, true),
            "python t.py --n-layer 2 --out '/tmp/a b' --json '{\"a\": 1}'"
        );
        let e = parse_template("x {nlayer}").unwrap_err().to_string();
        assert!(e.contains("unknown placeholder `{nlayer}`"), "{e}");
        assert!(e.contains("n_layer"), "{e}");
        assert!(parse_template("x {n_layer").is_err());
        assert!(parse_template("x }").is_err());
    }

    #[test]
    fn durations_read_every_spelling() {
        let s = |x: &str| parse_duration(&toml::Value::String(x.into())).unwrap();
        assert_eq!(s("90"), 90.0);
        assert_eq!(s("90s"), 90.0);
        assert_eq!(s("15m"), 900.0);
        assert_eq!(s("2h"), 7200.0);
        assert_eq!(s("1d"), 86400.0);
        assert_eq!(s("01:02:03"), 3723.0);
        assert_eq!(parse_duration(&toml::Value::Integer(5)).unwrap(), 5.0);
        for bad in ["", "x", "5w", "-1", "1:2:3:4"] {
            assert!(
                parse_duration(&toml::Value::String(bad.into())).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn lines_parse_nan_as_divergence_and_garbage_as_garbage() {
        let ok =
            parse_line(r#"{"step": 3, "tokens": 96, "train_loss": 2.5, "extra": "x"}"#).unwrap();
        assert_eq!(
            (ok.step, ok.tokens, ok.train_loss),
            (3, Some(96.0), Some(2.5))
        );
        assert_eq!(
            parse_line(r#"{"step": 4, "train_loss": NaN}"#),
            Err(LineError::NonFinite {
                step: 4,
                key: "train_loss".into()
            })
        );
        assert!(matches!(
            parse_line(r#"{"step": 4, "val_loss": -Infinity}"#),
            Err(LineError::NonFinite { .. })
        ));
        for bad in [
            "hello",
            "[1,2]",
            r#"{"tokens": 1}"#,
            r#"{"step": -1}"#,
            r#"{"step": 1, "val_loss": "low"}"#,
        ] {
            assert!(
                matches!(parse_line(bad), Err(LineError::Garbage(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_resumed_trainer_replaces_the_steps_it_repeats() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("metrics.jsonl");
        let mut t = String::new();
        for s in 1..=5 {
            t += &format!("{{\"step\": {s}, \"train_loss\": {}}}\n", 10 - s);
        }
        // resumed from the checkpoint at step 3
        t += "{\"step\": 4, \"train_loss\": 5.5}\n{\"step\": 5, \"train_loss\": 4.5}\n{\"step\": 6";
        std::fs::write(&p, &t).unwrap();
        let lines = read_lines(&p, false).unwrap();
        let steps: Vec<u64> = lines.iter().map(|l| l.step).collect();
        assert_eq!(steps, [1, 2, 3, 4, 5]);
        assert_eq!(lines[3].train_loss, Some(5.5));
        // a finished run's file must parse to the end
        let e = read_lines(&p, true).unwrap_err().to_string();
        assert!(e.contains("line 8"), "{e}");
    }
}
