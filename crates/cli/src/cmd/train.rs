//! `scalelab train`: one GPT pilot run with the built-in engine.
//!
//! The configuration comes from `--config FILE` (TOML, the fields of
//! `scalelab_engine::TrainConfig`) with any flags given overriding it, or
//! from flags alone. `--out DIR` is the run directory (config, metrics.jsonl,
//! checkpoint, summary.json); `--resume` continues the run in it.

use anyhow::{bail, Context};
use scalelab_core::accounting::shape_for_params;
use scalelab_engine::{checkpoint, TokenSource, TrainConfig, Trainer};
use std::ops::ControlFlow;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// TOML configuration file (flags override its fields).
    #[arg(long)]
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
    #[arg(long)]
    context: Option<usize>,
    /// Sequences per batch.
    #[arg(long)]
    batch: Option<usize>,
    /// Vocabulary size (default: the data's; 256 for text and `random`).
    #[arg(long)]
    vocab: Option<usize>,
    /// Optimiser steps.
    #[arg(long, conflicts_with = "tokens")]
    steps: Option<u64>,
    /// Token budget (steps = tokens / (batch · context), rounded up).
    #[arg(long)]
    tokens: Option<f64>,
    /// Peak learning rate.
    #[arg(long)]
    lr: Option<f64>,
    /// Linear warm-up steps (default 5% of the steps).
    #[arg(long)]
    warmup_steps: Option<u64>,
    /// Threads for this run.
    #[arg(long)]
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
    /// Run directory.
    #[arg(long)]
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

fn build_config(a: &Args) -> anyhow::Result<TrainConfig> {
    let mut cfg = match &a.config {
        Some(p) => {
            TrainConfig::from_toml_file(p).with_context(|| format!("--config {}", p.display()))?
        }
        None => TrainConfig {
            steps: None,
            ..TrainConfig::default()
        },
    };
    macro_rules! set {
        ($field:ident) => {
            if let Some(v) = a.$field.clone() {
                cfg.$field = v;
            }
        };
        (opt $field:ident) => {
            if let Some(v) = a.$field.clone() {
                cfg.$field = Some(v);
            }
        };
    }
    set!(n_layer);
    set!(d_model);
    set!(n_head);
    set!(opt d_ff);
    set!(context);
    set!(batch);
    set!(opt vocab);
    set!(lr);
    set!(opt warmup_steps);
    set!(threads);
    set!(seed);
    set!(eval_every);
    set!(eval_batches);
    set!(checkpoint_every);
    set!(data);
    if let Some(s) = a.steps {
        cfg.steps = Some(s);
        cfg.tokens = None;
    }
    if let Some(t) = a.tokens {
        if !(t >= 1.0 && t.is_finite()) {
            bail!("--tokens must be a positive number, got {t}");
        }
        cfg.tokens = Some(t.round() as u64);
        cfg.steps = None;
    }
    if let Some(n) = a.params {
        let s = shape_for_params(n, cfg.context, cfg.vocab.unwrap_or(256))
            .with_context(|| format!("--params must be at least 1, got {n}"))?;
        cfg.n_layer = s.n_layer;
        cfg.d_model = s.d_model;
        cfg.n_head = s.n_head;
    }
    if cfg.steps.is_none() && cfg.tokens.is_none() {
        bail!("give --steps or --tokens (or steps/tokens in --config)");
    }
    Ok(cfg)
}

/// The run's data: a corpus source (via the corpus command's adapter) when
/// the spec names one, else the engine's own (`random`, a text file).
fn open_data(cfg: &TrainConfig) -> anyhow::Result<Box<dyn TokenSource>> {
    scalelab_sweep::data::open_source(cfg)
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let mut trainer = if a.resume {
        let dir = a.out.as_ref().expect("clap requires --out");
        let ck = checkpoint::path_in(dir);
        if !ck.exists() {
            bail!("--resume: {} has no checkpoint", dir.display());
        }
        let (_, json) = checkpoint::read_meta(&ck)?;
        let cfg: TrainConfig = serde_json::from_str(&json).context("checkpoint configuration")?;
        let src = open_data(&cfg)?;
        Trainer::resume(dir, src)?
    } else {
        let cfg = build_config(&a)?;
        let src = open_data(&cfg)?;
        Trainer::new(cfg, src, a.out.as_deref())?
    };
    let shape = trainer.shape();
    let p = shape.params();
    if !a.quiet {
        eprintln!(
            "model: {} layers, d_model {}, {} heads, d_ff {}, context {}, vocab {}; {} non-embedding / {} total parameters; {} steps from step {}, {} threads",
            shape.n_layer,
            shape.d_model,
            shape.n_head,
            shape.d_ff,
            shape.context,
            shape.vocab,
            p.non_embedding,
            p.total,
            trainer.total_steps(),
            trainer.current_step(),
            trainer.config().threads,
        );
    }
    let total = trainer.total_steps();
    let every = (total / 20).max(1);
    let quiet = a.quiet;
    let summary = trainer.run(|r| {
        if !quiet && (r.step % every == 0 || r.val_loss.is_some() || r.step == total) {
            let val = r
                .val_loss
                .map(|v| format!(" val {v:.4}"))
                .unwrap_or_default();
            eprintln!(
                "step {:>6}/{total} loss {:.4}{val} lr {:.2e} {:.0} tok/s",
                r.step, r.train_loss, r.lr, r.tokens_per_second
            );
        }
        ControlFlow::Continue(())
    })?;
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
    Ok(())
}
