//! One GPT pilot run with the built-in engine.
//!
//! The configuration comes from a TOML file (the fields of
//! [`TrainConfig`]) with any request field given overriding it, or from the
//! request alone. `out` is the run directory (config, metrics.jsonl,
//! checkpoint, summary.json); `resume` continues the run in it.
//!
//! Progress: a task of the run's steps (the loss as its message), and notes:
//! the model's shape when training starts, and a line every 5% of the steps
//! and at each evaluation.

use crate::{Error, Progress, Result, Task};
use anyhow::Context;
use scalelab_core::accounting::{shape_for_params, MAX_SHAPE_PARAMS, MAX_STEPS, MAX_TOKENS};
use scalelab_engine::{checkpoint, RunSummary, TokenSource, TrainConfig, Trainer};
use std::ops::ControlFlow;
use std::path::PathBuf;

/// A training run: each field set overrides the configuration file's.
#[derive(Clone, Debug, Default)]
pub struct TrainRequest {
    /// TOML configuration file.
    pub config: Option<PathBuf>,
    pub n_layer: Option<usize>,
    pub d_model: Option<usize>,
    pub n_head: Option<usize>,
    pub d_ff: Option<usize>,
    /// Pick (n_layer, d_model, n_head) for this many non-embedding
    /// parameters with the shape rule.
    pub params: Option<f64>,
    pub context: Option<usize>,
    pub batch: Option<usize>,
    pub vocab: Option<usize>,
    pub steps: Option<u64>,
    /// Token budget (steps = tokens / (batch · context), rounded up).
    pub tokens: Option<f64>,
    /// A unique-token budget: the data repeats for epochs (see
    /// `TrainConfig::unique_tokens`).
    pub unique_tokens: Option<f64>,
    pub lr: Option<f64>,
    pub warmup_steps: Option<u64>,
    /// The schedule after the warm-up (`cosine`, `wsd`, `constant`).
    pub lr_schedule: Option<scalelab_engine::ScheduleKind>,
    /// WSD: the fraction of the steps that decay, in (0, 1].
    pub decay_fraction: Option<f64>,
    /// WSD: the decay's shape.
    pub decay_shape: Option<scalelab_engine::DecayShape>,
    /// `standard` or `mup` (the maximal-update parametrisation; see
    /// `scalelab_engine::Parametrization`).
    pub parametrization: Option<scalelab_engine::ParamKind>,
    /// μP's base width (required with `mup`).
    pub mup_base_width: Option<usize>,
    /// μP's base head dimension (default: the model's head dimension).
    pub mup_base_head_dim: Option<usize>,
    pub threads: Option<usize>,
    pub seed: Option<u64>,
    pub eval_every: Option<u64>,
    pub eval_batches: Option<u64>,
    pub checkpoint_every: Option<u64>,
    /// Training data (a text file, `random`, `synth[:SPEC]`, or a prepared
    /// corpus directory).
    pub data: Option<String>,
    /// Run directory.
    pub out: Option<PathBuf>,
    /// Continue the run in `out` from its checkpoint (the other fields are
    /// ignored: the checkpoint holds the configuration).
    pub resume: bool,
}

/// The configuration a request asks for (file, then fields over it).
pub fn build_config(req: &TrainRequest) -> Result<TrainConfig> {
    let mut cfg = match &req.config {
        Some(p) => TrainConfig::from_toml_file(p).map_err(|e| {
            Error::Other(anyhow::Error::new(e).context(format!("--config {}", p.display())))
        })?,
        None => TrainConfig {
            steps: None,
            ..TrainConfig::default()
        },
    };
    macro_rules! set {
        ($field:ident) => {
            if let Some(v) = req.$field.clone() {
                cfg.$field = v;
            }
        };
        (opt $field:ident) => {
            if let Some(v) = req.$field.clone() {
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
    set!(lr_schedule);
    set!(decay_shape);
    if let Some(f) = req.decay_fraction {
        if !(f > 0.0 && f <= 1.0) {
            return Err(Error::flag(
                "--decay-fraction",
                format!("--decay-fraction must be in (0, 1], got {f}"),
            ));
        }
        cfg.decay_fraction = f;
    }
    set!(parametrization);
    set!(opt mup_base_width);
    set!(opt mup_base_head_dim);
    for (flag, v) in [
        ("--mup-base-width", req.mup_base_width),
        ("--mup-base-head-dim", req.mup_base_head_dim),
    ] {
        if v == Some(0) {
            return Err(Error::flag(flag, format!("{flag} must be at least 1")));
        }
        if v.is_some() && cfg.parametrization.is_standard() {
            return Err(Error::flag(
                flag,
                format!(
                    "{flag} needs --parametrization mup (or parametrization = \"mup\" in --config)"
                ),
            ));
        }
    }
    if req.parametrization.is_some_and(|p| !p.is_standard()) && cfg.mup_base_width.is_none() {
        return Err(Error::flag(
            "--mup-base-width",
            "--parametrization mup needs --mup-base-width (the width at which μP equals standard parametrisation)",
        ));
    }
    if let Some(k) = req.threads {
        crate::threads::check(k)?;
    }
    set!(threads);
    set!(seed);
    set!(eval_every);
    set!(eval_batches);
    set!(checkpoint_every);
    set!(data);
    if let Some(s) = req.steps {
        if s > MAX_STEPS {
            return Err(Error::flag(
                "--steps",
                format!("--steps must be at most {MAX_STEPS}, got {s}"),
            ));
        }
        cfg.steps = Some(s);
        cfg.tokens = None;
    }
    if let Some(u) = req.unique_tokens {
        if !(u >= 1.0 && u.is_finite() && u <= MAX_TOKENS) {
            return Err(Error::flag(
                "--unique-tokens",
                format!(
                    "--unique-tokens must be a positive number of at most {MAX_TOKENS:e}, got {u}"
                ),
            ));
        }
        cfg.unique_tokens = Some(u.round() as u64);
    }
    if let Some(t) = req.tokens {
        if !(t >= 1.0 && t.is_finite()) {
            return Err(Error::flag(
                "--tokens",
                format!("--tokens must be a positive number, got {t}"),
            ));
        }
        if t > MAX_TOKENS {
            return Err(Error::flag(
                "--tokens",
                format!("--tokens must be at most {MAX_TOKENS:e}, got {t:e}"),
            ));
        }
        cfg.tokens = Some(t.round() as u64);
        cfg.steps = None;
    }
    if let Some(n) = req.params {
        let s = shape_for_params(n, cfg.context, cfg.vocab.unwrap_or(256)).ok_or_else(|| {
            Error::flag(
                "--params",
                format!("--params must be between 1 and {MAX_SHAPE_PARAMS:e}, got {n:e}"),
            )
        })?;
        cfg.n_layer = s.n_layer;
        cfg.d_model = s.d_model;
        cfg.n_head = s.n_head;
    }
    // values from --config get the bounds the flags get
    let from = |key: &str| match &req.config {
        Some(p) => format!("--config {}: {key}", p.display()),
        None => key.to_string(),
    };
    if let Some(s) = cfg.steps.filter(|&s| s > MAX_STEPS) {
        return Err(Error::flag(
            "--config",
            format!("{} must be at most {MAX_STEPS}, got {s}", from("steps")),
        ));
    }
    if let Some(t) = cfg.tokens.filter(|&t| t as f64 > MAX_TOKENS) {
        return Err(Error::flag(
            "--config",
            format!("{} must be at most {MAX_TOKENS:e}, got {t}", from("tokens")),
        ));
    }
    if cfg.steps.is_none() && cfg.tokens.is_none() {
        return Err(Error::flag(
            "--steps",
            "give --steps or --tokens (or steps/tokens in --config)",
        ));
    }
    Ok(cfg)
}

/// The run's data: a corpus source when the spec names one, else the
/// engine's own (`random`, a text file).
fn open_data(cfg: &TrainConfig) -> Result<Box<dyn TokenSource>> {
    Ok(scalelab_sweep::data::open_source(cfg)?)
}

/// Trains (or resumes) the run and returns its summary (the JSON of
/// `scalelab train --json`).
pub fn train(req: &TrainRequest, progress: &dyn Progress) -> Result<RunSummary> {
    let mut trainer = if req.resume {
        let dir = req
            .out
            .as_ref()
            .ok_or_else(|| Error::flag("--resume", "--resume needs --out DIR"))?;
        let ck = checkpoint::path_in(dir);
        if !ck.exists() {
            return Err(Error::flag(
                "--resume",
                format!("--resume: {} has no checkpoint", dir.display()),
            ));
        }
        let (_, json) = checkpoint::read_meta(&ck)?;
        let cfg: TrainConfig = serde_json::from_str(&json)
            .context("checkpoint configuration")
            .map_err(Error::Other)?;
        let src = open_data(&cfg)?;
        Trainer::resume(dir, src)?
    } else {
        let cfg = build_config(req)?;
        let src = open_data(&cfg)?;
        Trainer::new(cfg, src, req.out.as_deref())?
    };
    let shape = trainer.shape();
    let p = shape.params();
    let total = trainer.total_steps();
    let task = Task::begin(progress, "training", Some(total), "steps");
    task.note(&format!(
        "model: {} layers, d_model {}, {} heads, d_ff {}, context {}, vocab {}; {} non-embedding / {} total parameters; {} steps from step {}, {} threads",
        shape.n_layer,
        shape.d_model,
        shape.n_head,
        shape.d_ff,
        shape.context,
        shape.vocab,
        p.non_embedding,
        p.total,
        total,
        trainer.current_step(),
        trainer.config().threads,
    ));
    task.set(trainer.current_step(), "");
    let every = (total / 20).max(1);
    let summary = trainer.run(|r| {
        let val = r
            .val_loss
            .map(|v| format!(" val {v:.4}"))
            .unwrap_or_default();
        let line = format!(
            "step {:>6}/{total} loss {:.4}{val} lr {:.2e} {:.0} tok/s",
            r.step, r.train_loss, r.lr, r.tokens_per_second
        );
        task.set(r.step, &line);
        if r.step % every == 0 || r.val_loss.is_some() || r.step == total {
            task.note(&line);
        }
        ControlFlow::Continue(())
    })?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_override_and_bad_values_name_their_flag() {
        let req = TrainRequest {
            steps: Some(7),
            lr: Some(1e-3),
            ..TrainRequest::default()
        };
        let cfg = build_config(&req).unwrap();
        assert_eq!(cfg.steps, Some(7));
        assert_eq!(cfg.lr, 1e-3);
        let e = build_config(&TrainRequest::default()).unwrap_err();
        assert!(e.to_string().contains("give --steps or --tokens"), "{e}");
        let e = build_config(&TrainRequest {
            tokens: Some(0.0),
            ..TrainRequest::default()
        })
        .unwrap_err();
        assert!(matches!(e, Error::Flag { ref flag, .. } if flag == "--tokens"));
        let cfg = build_config(&TrainRequest {
            steps: Some(7),
            unique_tokens: Some(4096.0),
            ..TrainRequest::default()
        })
        .unwrap();
        assert_eq!(cfg.unique_tokens, Some(4096));
        let e = build_config(&TrainRequest {
            steps: Some(7),
            unique_tokens: Some(-1.0),
            ..TrainRequest::default()
        })
        .unwrap_err();
        assert!(matches!(e, Error::Flag { ref flag, .. } if flag == "--unique-tokens"));
    }

    #[test]
    fn mup_flags_set_the_parametrisation_and_bad_ones_name_their_flag() {
        let mup = Some(scalelab_engine::ParamKind::Mup);
        let cfg = build_config(&TrainRequest {
            steps: Some(7),
            parametrization: mup,
            mup_base_width: Some(32),
            ..TrainRequest::default()
        })
        .unwrap();
        assert_eq!(cfg.parametrization, scalelab_engine::ParamKind::Mup);
        assert_eq!(cfg.mup_base_width, Some(32));
        assert_eq!(cfg.mup_base_head_dim, None);
        let flag_of = |req: TrainRequest| match build_config(&req).unwrap_err() {
            Error::Flag { flag, message } => (flag, message),
            e => panic!("{e}"),
        };
        let (flag, message) = flag_of(TrainRequest {
            steps: Some(7),
            parametrization: mup,
            ..TrainRequest::default()
        });
        assert_eq!(flag, "--mup-base-width");
        assert!(message.contains("--parametrization mup needs"), "{message}");
        let (flag, message) = flag_of(TrainRequest {
            steps: Some(7),
            mup_base_head_dim: Some(8),
            ..TrainRequest::default()
        });
        assert_eq!(flag, "--mup-base-head-dim");
        assert!(message.contains("needs --parametrization mup"), "{message}");
        let (flag, _) = flag_of(TrainRequest {
            steps: Some(7),
            parametrization: mup,
            mup_base_width: Some(0),
            ..TrainRequest::default()
        });
        assert_eq!(flag, "--mup-base-width");
    }
}
