//! `scalelab train`: one GPT pilot run with the built-in engine.
//!
//! The configuration comes from `--config FILE` (TOML, the fields of
//! the engine's `TrainConfig`) with any flags given overriding it, or
//! from flags alone. `--out DIR` is the run directory (config, metrics.jsonl,
//! checkpoint, summary.json); `--resume` continues the run in it. The
//! library's `scalelab::train` does the work; this module parses the flags
//! and renders the summary.

use crate::progress::Bars;
use scalelab::train::TrainRequest;
use std::path::PathBuf;

const HELP: &str = r#"Examples:

  scalelab train --data synth --params 1e5 --context 64 --tokens 2e6
  scalelab train --params 3e5 --tokens 2e6 --data random -o runs/b
  scalelab train --config run.toml -o runs/c --json
  scalelab train --params 1e5 --tokens 2e6 --parametrization mup --mup-base-width 32
  scalelab train -o runs/c --resume"#;

#[derive(clap::Args, Debug)]
#[command(after_long_help = HELP)]
pub struct Args {
    /// TOML configuration file (flags override its fields).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Number of transformer blocks.
    #[arg(long)]
    n_layer: Option<usize>,
    /// Model width.
    #[arg(long)]
    d_model: Option<usize>,
    /// Attention heads (must divide --d-model).
    #[arg(long)]
    n_head: Option<usize>,
    /// MLP width (default 4 × d_model).
    #[arg(long)]
    d_ff: Option<usize>,
    /// Pick (n_layer, d_model, n_head) for this many non-embedding parameters
    /// with the shape rule (d_model ≈ 64 · n_layer), e.g. 3e5.
    #[arg(long, conflicts_with_all = ["n_layer", "d_model", "n_head"])]
    params: Option<f64>,
    /// Context length.
    #[arg(long, value_name = "TOKENS")]
    context: Option<usize>,
    /// Sequences per batch.
    #[arg(long)]
    batch: Option<usize>,
    /// Vocabulary size (default: the data's; 256 for text and `random`).
    #[arg(long, value_name = "SIZE")]
    vocab: Option<usize>,
    /// Optimiser steps.
    #[arg(long, conflicts_with = "tokens")]
    steps: Option<u64>,
    /// Token budget (steps = tokens / (batch · context), rounded up).
    #[arg(long)]
    tokens: Option<f64>,
    /// Train on only this many unique tokens: the data starts over every
    /// U / (batch · context) steps, so the run repeats them for D/U epochs
    /// (data-constrained training). Example: `--tokens 2e6 --unique-tokens 1e5`.
    #[arg(long, value_name = "TOKENS")]
    unique_tokens: Option<f64>,
    /// Peak learning rate.
    #[arg(long)]
    lr: Option<f64>,
    /// Linear warm-up steps (default 5% of the steps).
    #[arg(long)]
    warmup_steps: Option<u64>,
    /// Learning-rate schedule after the warm-up: cosine (decay over the
    /// whole run, the default), wsd (warmup–stable–decay: the peak, then a
    /// decay over the last --decay-fraction of the steps) or constant (the
    /// peak to the end), e.g. --lr-schedule wsd --decay-fraction 0.2.
    #[arg(long, value_parser = ["cosine", "wsd", "constant"])]
    lr_schedule: Option<String>,
    /// WSD: the fraction of the steps that decay, in (0, 1] (default 0.2).
    #[arg(long)]
    decay_fraction: Option<f64>,
    /// WSD: the decay's shape, linear, cosine or 1-sqrt
    /// (lr = min + (peak − min)·(1 − √p), the default).
    #[arg(long, value_parser = ["linear", "cosine", "1-sqrt"])]
    decay_shape: Option<String>,
    /// standard (GPT-2 initialisation, one learning rate; the default) or
    /// mup (maximal-update parametrisation relative to --mup-base-width:
    /// hidden matrices' init std ÷ √m and lr ÷ m, logits × 1/m, with
    /// m = d_model / base width; see docs/mup.md), e.g.
    /// --parametrization mup --mup-base-width 32.
    #[arg(long, value_parser = ["standard", "mup"])]
    parametrization: Option<String>,
    /// μP: the width at which μP equals standard parametrisation.
    #[arg(long, value_name = "WIDTH")]
    mup_base_width: Option<usize>,
    /// μP: the base head dimension for the attention scale (default: the
    /// model's head dimension).
    #[arg(long, value_name = "DIM")]
    mup_base_head_dim: Option<usize>,
    /// Threads for this run.
    #[arg(long, value_name = "K")]
    threads: Option<usize>,
    /// Seed for initialisation and data order.
    #[arg(long)]
    seed: Option<u64>,
    /// Evaluate validation loss every K steps (always at the end).
    #[arg(long)]
    eval_every: Option<u64>,
    /// Validation batches per evaluation.
    #[arg(long)]
    eval_batches: Option<u64>,
    /// Checkpoint every K steps (always at the end).
    #[arg(long)]
    checkpoint_every: Option<u64>,
    /// Training data: a text file (read as bytes, vocabulary 256), `random`
    /// (seeded random tokens), `synth` or `synth:SPEC` (the synthetic
    /// language with a known entropy rate; see `scalelab corpus synth --help`),
    /// or a directory prepared by `scalelab corpus prepare` / `synth`.
    #[arg(long)]
    data: Option<String>,
    /// Run directory (config, metrics.jsonl, checkpoint, summary.json).
    #[arg(short = 'o', long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Continue the run in --out from its checkpoint.
    #[arg(long, requires = "out")]
    resume: bool,
    /// Print the run summary as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// No progress lines on stderr.
    #[arg(long)]
    quiet: bool,
}

impl Args {
    /// The library request for these flags.
    fn request(&self) -> TrainRequest {
        TrainRequest {
            config: self.config.clone(),
            n_layer: self.n_layer,
            d_model: self.d_model,
            n_head: self.n_head,
            d_ff: self.d_ff,
            params: self.params,
            context: self.context,
            batch: self.batch,
            vocab: self.vocab,
            steps: self.steps,
            tokens: self.tokens,
            unique_tokens: self.unique_tokens,
            lr: self.lr,
            warmup_steps: self.warmup_steps,
            lr_schedule: self.lr_schedule.as_deref().map(|s| {
                serde_json::from_value(serde_json::Value::from(s)).expect("a clap-checked name")
            }),
            decay_fraction: self.decay_fraction,
            decay_shape: self.decay_shape.as_deref().map(|s| {
                serde_json::from_value(serde_json::Value::from(s)).expect("a clap-checked name")
            }),
            parametrization: self.parametrization.as_deref().map(|s| {
                serde_json::from_value(serde_json::Value::from(s)).expect("a clap-checked name")
            }),
            mup_base_width: self.mup_base_width,
            mup_base_head_dim: self.mup_base_head_dim,
            threads: self.threads,
            seed: self.seed,
            eval_every: self.eval_every,
            eval_batches: self.eval_batches,
            checkpoint_every: self.checkpoint_every,
            data: self.data.clone(),
            out: self.out.clone(),
            resume: self.resume,
        }
    }
}

/// What `train` says when it keeps nothing: without `--out` the run lives
/// in memory only.
pub const NOTHING_SAVED: &str = "note: no --out given, so nothing is saved (no config, metrics, \
     checkpoint or summary); to keep the run, give it a directory: --out DIR";

pub fn run(a: Args) -> anyhow::Result<()> {
    if a.out.is_none() {
        eprintln!("{NOTHING_SAVED}");
    }
    let summary = scalelab::train::train(&a.request(), &Bars::new(a.quiet))?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else if !a.quiet {
        eprintln!(
            "done: train loss {:.4}, val loss {}, {:.0} tokens/s, {:.1} GFLOP/s, peak RSS {:.0} MiB",
            summary.final_train_loss,
            summary.final_val_loss.map(|v| format!("{v:.4}")).unwrap_or("-".into()),
            summary.tokens_per_second,
            summary.gflops_per_second,
            summary.peak_rss_mb
        );
    }
    if a.out.is_none() {
        eprintln!("nothing was saved: run again with --out DIR to keep the run");
    }
    Ok(())
}
