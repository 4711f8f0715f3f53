//! The training loop: configuration, [`Trainer`], metrics and summaries.
//!
//! A run directory holds `config.toml` (the resolved configuration),
//! `metrics.jsonl` (one JSON object per logged step), `checkpoint.safetensors`
//! and, once finished, `summary.json`.

use crate::checkpoint::{self, CheckpointState};
use crate::data::TokenSource;
use crate::error::{EngineError, Result};
use crate::model::{Gpt, Parametrization, N_TENSORS};
use crate::optim::{
    adamw_step, clip_factor, grad_norm, wsd_decay_steps, AdamWConfig, DecayShape, LrSchedule,
    ScheduleKind,
};
use scalelab_core::accounting::GptShape;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, Write};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Everything that defines a training run. Loadable from TOML; every field
/// but the model shape has a default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    pub n_layer: usize,
    pub d_model: usize,
    pub n_head: usize,
    /// MLP width (default `4 · d_model`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub d_ff: Option<usize>,
    #[serde(default = "d_context")]
    pub context: usize,
    /// Vocabulary size (default: the data's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vocab: Option<usize>,
    #[serde(default = "d_batch")]
    pub batch: usize,
    /// Optimiser steps; give this or `tokens` (`steps = ceil(tokens / (batch · context))`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<u64>,
    /// Token budget (see `steps`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<u64>,
    /// A unique-token budget U (data-constrained training, Muennighoff et
    /// al. 2023): the training stream repeats after `U / (batch · context)`
    /// steps (one epoch, rounded down to whole steps), so a run of D tokens
    /// sees the same U tokens `D/U` times, in the same order each epoch.
    /// Default: unlimited, every step fresh.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unique_tokens: Option<u64>,
    /// Peak learning rate.
    #[serde(default = "d_lr")]
    pub lr: f64,
    /// Final learning rate as a fraction of the peak.
    #[serde(default = "d_min_lr_ratio")]
    pub min_lr_ratio: f64,
    /// Linear warm-up steps (default: 5% of the steps, at least 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warmup_steps: Option<u64>,
    /// The schedule after the warm-up: `cosine` (decay over every step, the
    /// default), `wsd` (warmup–stable–decay: the peak, then a decay over the
    /// last `decay_fraction` of the steps) or `constant` (the peak to the
    /// end: a WSD run's stable phase).
    #[serde(default)]
    pub lr_schedule: ScheduleKind,
    /// WSD: the fraction of the steps that decay, in (0, 1].
    #[serde(default = "d_decay_fraction")]
    pub decay_fraction: f64,
    /// WSD: the decay's shape, `linear`, `cosine` or `1-sqrt`
    /// (`lr = min + (peak − min)·(1 − √p)`, p the decay's progress).
    #[serde(default)]
    pub decay_shape: DecayShape,
    /// Steps after which to keep a checkpoint of its own
    /// (`checkpoint-step{N}.safetensors`, never overwritten, with the log up
    /// to it in `metrics-step{N}.jsonl`): the branch points of WSD cooldown
    /// branches.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keep_checkpoints: Vec<u64>,
    #[serde(default = "d_weight_decay")]
    pub weight_decay: f64,
    #[serde(default = "d_beta1")]
    pub beta1: f64,
    #[serde(default = "d_beta2")]
    pub beta2: f64,
    #[serde(default = "d_eps")]
    pub eps: f64,
    /// Global gradient-norm clip (0 disables).
    #[serde(default = "d_grad_clip")]
    pub grad_clip: f64,
    #[serde(default)]
    pub seed: u64,
    /// Threads for this run (a local pool; results are deterministic for a
    /// given count).
    #[serde(default = "d_threads")]
    pub threads: usize,
    /// Evaluate validation loss every this many steps (0: only at the end).
    #[serde(default)]
    pub eval_every: u64,
    /// Validation batches per evaluation.
    #[serde(default = "d_eval_batches")]
    pub eval_batches: u64,
    /// Checkpoint every this many steps (0: only at the end).
    #[serde(default)]
    pub checkpoint_every: u64,
    /// Data: `random` or a path to a text file read as bytes.
    #[serde(default = "d_data")]
    pub data: String,
    /// Fraction of a text file held out for validation.
    #[serde(default = "d_val_fraction")]
    pub val_fraction: f64,
    /// The run is declared diverged when the training loss exceeds
    /// `divergence_factor · ln(vocab)` (a fresh model sits near `ln(vocab)`),
    /// or when the loss or gradient norm is not finite.
    #[serde(default = "d_divergence_factor")]
    pub divergence_factor: f64,
    /// `standard` (GPT-2 initialisation, one learning rate; the default) or
    /// `mup` (maximal-update parametrisation relative to `mup_base_width`,
    /// see [`Parametrization`]).
    #[serde(default, skip_serializing_if = "ParamKind::is_standard")]
    pub parametrization: ParamKind,
    /// μP: the base width at which μP equals standard parametrisation
    /// (required with `parametrization = "mup"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mup_base_width: Option<usize>,
    /// μP: the head dimension at which the attention scale is the standard
    /// `1/√d_head` (default: the model's own head dimension, so attention is
    /// unchanged when widths scale the number of heads at a fixed head
    /// dimension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mup_base_head_dim: Option<usize>,
}

/// The `parametrization` key of a training configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamKind {
    #[default]
    Standard,
    Mup,
}

impl ParamKind {
    pub fn is_standard(&self) -> bool {
        *self == ParamKind::Standard
    }
    pub fn as_str(self) -> &'static str {
        match self {
            ParamKind::Standard => "standard",
            ParamKind::Mup => "mup",
        }
    }
}

fn d_context() -> usize {
    128
}
fn d_batch() -> usize {
    16
}
fn d_lr() -> f64 {
    1e-3
}
fn d_min_lr_ratio() -> f64 {
    0.1
}
fn d_decay_fraction() -> f64 {
    0.2
}
fn d_weight_decay() -> f64 {
    0.1
}
fn d_beta1() -> f64 {
    0.9
}
fn d_beta2() -> f64 {
    0.95
}
fn d_eps() -> f64 {
    1e-8
}
fn d_grad_clip() -> f64 {
    1.0
}
fn d_threads() -> usize {
    1
}
fn d_eval_batches() -> u64 {
    8
}
fn d_data() -> String {
    "random".into()
}
fn d_val_fraction() -> f64 {
    0.1
}
fn d_divergence_factor() -> f64 {
    3.0
}

impl Default for TrainConfig {
    /// A 2-layer, 64-wide, 4-head model on random tokens for 100 steps.
    fn default() -> Self {
        TrainConfig {
            n_layer: 2,
            d_model: 64,
            n_head: 4,
            d_ff: None,
            context: d_context(),
            vocab: None,
            batch: d_batch(),
            steps: Some(100),
            tokens: None,
            unique_tokens: None,
            lr: d_lr(),
            min_lr_ratio: d_min_lr_ratio(),
            warmup_steps: None,
            lr_schedule: ScheduleKind::Cosine,
            decay_fraction: d_decay_fraction(),
            decay_shape: DecayShape::OneMinusSqrt,
            keep_checkpoints: Vec::new(),
            weight_decay: d_weight_decay(),
            beta1: d_beta1(),
            beta2: d_beta2(),
            eps: d_eps(),
            grad_clip: d_grad_clip(),
            seed: 0,
            threads: d_threads(),
            eval_every: 0,
            eval_batches: d_eval_batches(),
            checkpoint_every: 0,
            data: d_data(),
            val_fraction: d_val_fraction(),
            divergence_factor: d_divergence_factor(),
            parametrization: ParamKind::Standard,
            mup_base_width: None,
            mup_base_head_dim: None,
        }
    }
}

impl TrainConfig {
    /// Parses TOML text; errors name the offending key and line.
    pub fn from_toml_str(text: &str) -> Result<Self> {
        toml::from_str(text).map_err(|e| EngineError::Config(e.to_string()))
    }

    /// Reads a TOML file.
    pub fn from_toml_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| EngineError::io(path, e))?;
        toml::from_str(&text).map_err(|e| EngineError::Config(format!("{}: {e}", path.display())))
    }

    /// The configuration as TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("config serialises")
    }

    /// The model shape, with `vocab` resolved against the data's vocabulary.
    pub fn shape(&self, data_vocab: usize) -> GptShape {
        GptShape {
            n_layer: self.n_layer,
            d_model: self.d_model,
            n_head: self.n_head,
            d_ff: self.d_ff.unwrap_or(4 * self.d_model),
            context: self.context,
            vocab: self.vocab.unwrap_or(data_vocab),
            tied_head: true,
        }
    }

    /// The resolved parametrisation (μP's base head dimension defaults to
    /// the model's head dimension). Call after [`Self::validate_settings`];
    /// an unset `mup_base_width` reads as the model's width.
    pub fn parametrization(&self) -> Parametrization {
        match self.parametrization {
            ParamKind::Standard => Parametrization::Standard,
            ParamKind::Mup => Parametrization::Mup {
                base_width: self.mup_base_width.unwrap_or(self.d_model),
                base_head_dim: self
                    .mup_base_head_dim
                    .unwrap_or(self.d_model / self.n_head.max(1)),
            },
        }
    }

    /// Total optimiser steps.
    pub fn total_steps(&self) -> u64 {
        match (self.steps, self.tokens) {
            (Some(s), _) => s,
            (None, Some(t)) => t.div_ceil((self.batch * self.context) as u64),
            (None, None) => 0,
        }
    }

    /// The learning-rate schedule of the run.
    pub fn schedule(&self) -> LrSchedule {
        LrSchedule {
            peak: self.lr,
            min_ratio: self.min_lr_ratio,
            warmup: self.warmup(),
            total: self.total_steps(),
            kind: self.lr_schedule,
            decay_fraction: self.decay_fraction,
            decay_shape: self.decay_shape,
        }
    }

    /// Warm-up steps (5% of the run by default, at least 1).
    pub fn warmup(&self) -> u64 {
        self.warmup_steps
            .unwrap_or_else(|| (self.total_steps() as f64 * 0.05).ceil().max(1.0) as u64)
    }

    /// Steps per epoch of a unique-token budget (`None`: unlimited data).
    pub fn steps_per_epoch(&self) -> Option<u64> {
        let step = (self.batch * self.context).max(1) as u64;
        self.unique_tokens.map(|u| (u / step).max(1))
    }

    /// The step of the data stream that training step `step` reads: with a
    /// unique-token budget the stream starts over every epoch.
    pub fn data_step(&self, step: u64) -> u64 {
        match self.steps_per_epoch() {
            Some(k) => step % k,
            None => step,
        }
    }

    /// The distinct tokens the run trains on: its whole budget with
    /// unlimited data, else the epoch's whole steps (at most the budget).
    pub fn unique_tokens_seen(&self) -> u64 {
        let step = (self.batch * self.context) as u64;
        let total = self.total_steps() * step;
        match self.steps_per_epoch() {
            Some(k) => (k * step).min(total),
            None => total,
        }
    }

    /// Epochs over the unique tokens (1 with unlimited data).
    pub fn epochs(&self) -> f64 {
        let step = (self.batch * self.context) as u64;
        (self.total_steps() * step) as f64 / self.unique_tokens_seen().max(1) as f64
    }

    /// Checks everything that can be checked against the data, with a
    /// message naming the field.
    pub fn validate(&self, data: &dyn TokenSource) -> Result<GptShape> {
        let shape = self.validate_settings(data)?;
        // Refuse sizes this machine cannot hold, rather than abort on allocation.
        let params = shape.params().total as u128 * 4 * 4; // params, grads, m, v
        let acts = crate::model::Gpt::<f32>::activation_bytes_for(
            &shape,
            self.batch,
            self.context,
            self.threads,
        );
        let need = params + acts;
        if let Some(avail) = available_memory_bytes() {
            if need > avail as u128 {
                return Err(EngineError::Config(format!(
                    "the model needs about {:.1} GiB (parameters, gradients, AdamW moments and activations for batch {} × context {}), more than the {:.1} GiB available; reduce the model, batch or context",
                    need as f64 / (1u64 << 30) as f64,
                    self.batch,
                    self.context,
                    avail as f64 / (1u64 << 30) as f64
                )));
            }
        }
        Ok(shape)
    }

    /// Every check of [`Self::validate`] except the one against this
    /// machine's memory: for a configuration another trainer (on another
    /// machine) will run.
    pub fn validate_settings(&self, data: &dyn TokenSource) -> Result<GptShape> {
        let err = |m: String| Err(EngineError::Config(m));
        let shape = self.shape(data.vocab_size());
        if let Err(m) = shape.validate() {
            return err(m);
        }
        if let Some(v) = self.vocab {
            if v < data.vocab_size() {
                return err(format!(
                    "vocab = {v} is smaller than the data's vocabulary ({}, from {})",
                    data.vocab_size(),
                    data.describe()
                ));
            }
        }
        if let Some(max) = data.max_context() {
            if self.context > max {
                return err(format!(
                    "context = {} is larger than the data allows ({max} tokens, from {})",
                    self.context,
                    data.describe()
                ));
            }
        }
        if self.batch == 0 {
            return err("batch must be at least 1".into());
        }
        if self.steps.is_some() && self.tokens.is_some() {
            return err("give steps or tokens, not both".into());
        }
        if self.steps.is_none() && self.tokens.is_none() {
            return err("give steps or tokens".into());
        }
        if self.total_steps() == 0 {
            return err("steps (or tokens) must be at least 1 step's worth".into());
        }
        if let Some(u) = self.unique_tokens {
            let step = (self.batch * self.context) as u64;
            if u < step {
                return err(format!(
                    "unique_tokens = {u} is less than one step's batch · context = {step} tokens"
                ));
            }
        }
        if self.warmup() >= self.total_steps() && self.total_steps() > 1 {
            return err(format!(
                "warmup_steps = {} must be below the number of steps ({})",
                self.warmup(),
                self.total_steps()
            ));
        }
        if !(self.decay_fraction > 0.0 && self.decay_fraction <= 1.0) {
            return err(format!(
                "decay_fraction must be in (0, 1], got {}",
                self.decay_fraction
            ));
        }
        if self.lr_schedule == ScheduleKind::Wsd && self.total_steps() > 1 {
            let start =
                self.total_steps() - wsd_decay_steps(self.total_steps(), self.decay_fraction);
            if self.warmup() > start {
                return err(format!(
                    "warmup_steps = {} must end before the WSD decay starts (step {start} of {}, decay_fraction = {})",
                    self.warmup(),
                    self.total_steps(),
                    self.decay_fraction
                ));
            }
        }
        if let Some(&k) = self
            .keep_checkpoints
            .iter()
            .find(|&&k| k == 0 || k > self.total_steps())
        {
            return err(format!(
                "keep_checkpoints: step {k} is not a step of the run (1 to {})",
                self.total_steps()
            ));
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return err(format!("lr must be positive, got {}", self.lr));
        }
        if !(0.0..=1.0).contains(&self.min_lr_ratio) {
            return err(format!(
                "min_lr_ratio must be in [0, 1], got {}",
                self.min_lr_ratio
            ));
        }
        if !(0.0..1.0).contains(&self.beta1) || !(0.0..1.0).contains(&self.beta2) {
            return err("beta1 and beta2 must be in [0, 1)".into());
        }
        let non_negative = |x: f64| x >= 0.0; // false for NaN
        if !non_negative(self.weight_decay)
            || !non_negative(self.grad_clip)
            || !non_negative(self.eps)
            || self.eps == 0.0
        {
            return err("weight_decay and grad_clip must be ≥ 0 and eps > 0".into());
        }
        if self.threads == 0 || self.threads > 1024 {
            return err(format!(
                "threads must be between 1 and 1024, got {}",
                self.threads
            ));
        }
        if self.eval_batches == 0 {
            return err("eval_batches must be at least 1".into());
        }
        if self.divergence_factor.is_nan() || self.divergence_factor <= 1.0 {
            return err("divergence_factor must be above 1".into());
        }
        match self.parametrization {
            ParamKind::Standard => {
                if self.mup_base_width.is_some() || self.mup_base_head_dim.is_some() {
                    return err(
                        "mup_base_width and mup_base_head_dim need parametrization = \"mup\""
                            .into(),
                    );
                }
            }
            ParamKind::Mup => {
                match self.mup_base_width {
                    None => {
                        return err(
                            "parametrization = \"mup\" needs mup_base_width (the width at which μP equals standard parametrisation)"
                                .into(),
                        )
                    }
                    Some(0) => return err("mup_base_width must be at least 1".into()),
                    _ => {}
                }
                if self.mup_base_head_dim == Some(0) {
                    return err("mup_base_head_dim must be at least 1".into());
                }
            }
        }
        Ok(shape)
    }
}

/// The metrics log a run keeps with its checkpoint after `step`
/// (`keep_checkpoints`): its lines up to that step.
pub fn kept_metrics_path_in(run_dir: &Path, step: u64) -> PathBuf {
    run_dir.join(format!("metrics-step{step}.jsonl"))
}

/// `MemAvailable` from /proc/meminfo (Linux), in bytes.
fn available_memory_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = s.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// One logged step (a line of `metrics.jsonl`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepReport {
    /// Steps completed (1 after the first step).
    pub step: u64,
    /// Training tokens seen so far.
    pub tokens: u64,
    /// Training FLOPs so far (engine-exact convention, see `accounting`).
    pub flops: f64,
    pub train_loss: f64,
    /// Mean validation loss when evaluated at this step.
    pub val_loss: Option<f64>,
    /// Learning rate used for this step.
    pub lr: f64,
    /// Gradient norm before clipping.
    pub grad_norm: f64,
    pub tokens_per_second: f64,
}

/// The end-of-run summary (`summary.json`, and `scalelab train --json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    pub completed: bool,
    pub steps: u64,
    pub params_non_embedding: u64,
    pub params_total: u64,
    pub tokens: u64,
    pub flops: f64,
    pub flops_per_token: f64,
    pub final_train_loss: f64,
    pub final_val_loss: Option<f64>,
    /// Median over the steps this process ran after the first 10% (timing warm-up).
    pub tokens_per_second: f64,
    pub gflops_per_second: f64,
    pub peak_rss_mb: f64,
    pub threads: usize,
    pub simd: String,
    pub data: String,
}

/// A training run in progress.
pub struct Trainer {
    cfg: TrainConfig,
    shape: GptShape,
    schedule: LrSchedule,
    adam: AdamWConfig,
    /// Per-tensor learning-rate multipliers (μP; all 1 otherwise).
    lr_mults: [f64; N_TENSORS],
    model: Gpt<f32>,
    m: Vec<f32>,
    v: Vec<f32>,
    data: Box<dyn TokenSource>,
    pool: rayon::ThreadPool,
    step: u64,
    total: u64,
    run_dir: Option<PathBuf>,
    metrics: Option<std::io::BufWriter<std::fs::File>>,
    step_seconds: Vec<f64>,
    last_train_loss: f64,
    last_val_loss: Option<f64>,
    flops_per_token: f64,
}

impl std::fmt::Debug for Trainer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trainer")
            .field("cfg", &self.cfg)
            .field("step", &self.step)
            .finish()
    }
}

const METRICS_FILE: &str = "metrics.jsonl";
const CONFIG_FILE: &str = "config.toml";
const SUMMARY_FILE: &str = "summary.json";

impl Trainer {
    /// Starts a fresh run. With `run_dir`, writes `config.toml` and
    /// `metrics.jsonl` there and checkpoints; refuses a directory that
    /// already holds a checkpoint (resume it instead).
    pub fn new(
        cfg: TrainConfig,
        data: Box<dyn TokenSource>,
        run_dir: Option<&Path>,
    ) -> Result<Self> {
        let shape = cfg.validate(data.as_ref())?;
        let mut t = Self::build(cfg, shape, data, run_dir)?;
        if let Some(dir) = &t.run_dir {
            if checkpoint::path_in(dir).exists() {
                return Err(EngineError::Config(format!(
                    "{} already holds a checkpoint: resume it or choose another run directory",
                    dir.display()
                )));
            }
            std::fs::create_dir_all(dir).map_err(|e| EngineError::io(dir, e))?;
            let p = dir.join(CONFIG_FILE);
            checkpoint::write_file(&p, t.cfg.to_toml().as_bytes())?;
            let p = dir.join(METRICS_FILE);
            let f = std::fs::File::create(&p).map_err(|e| EngineError::io(&p, e))?;
            t.metrics = Some(std::io::BufWriter::new(f));
        }
        Ok(t)
    }

    /// Continues the run in `run_dir` from its checkpoint, with the
    /// configuration stored in it. The metrics log is cut back to the
    /// checkpoint's step, so the resumed log continues the uninterrupted one
    /// exactly. `data` must be the same source (it is checked for shape only).
    pub fn resume(run_dir: &Path, data: Box<dyn TokenSource>) -> Result<Self> {
        let path = checkpoint::path_in(run_dir);
        if !path.exists() {
            return Err(EngineError::Checkpoint(format!(
                "{}: no checkpoint to resume",
                path.display()
            )));
        }
        let (_, cfg_json) = checkpoint::read_meta(&path)?;
        let cfg: TrainConfig = serde_json::from_str(&cfg_json).map_err(|e| {
            EngineError::Checkpoint(format!("{}: bad config ({e})", path.display()))
        })?;
        let shape = cfg.validate(data.as_ref())?;
        let mut t = Self::build(cfg, shape, data, Some(run_dir))?;
        let state = checkpoint::load(&path, &t.model.layout)?;
        t.model.params = state.params;
        t.m = state.adam_m;
        t.v = state.adam_v;
        t.step = state.step;
        // Keep only the metric lines up to the checkpoint.
        let mp = run_dir.join(METRICS_FILE);
        let kept = t.take_metrics_up_to(&mp, state.step)?;
        checkpoint::write_file(&mp, kept.as_bytes())?;
        let f = std::fs::OpenOptions::new()
            .append(true)
            .open(&mp)
            .map_err(|e| EngineError::io(&mp, e))?;
        t.metrics = Some(std::io::BufWriter::new(f));
        Ok(t)
    }

    /// Starts a run in `run_dir` from another run's checkpoint `from` (a
    /// WSD cooldown branch from a stable-phase checkpoint): the weights,
    /// AdamW moments and step come from the checkpoint, the schedule and
    /// budget from `cfg`. Everything else that shapes training (model, data,
    /// batch, seed, peak rate, warm-up, optimiser settings, threads) must
    /// equal the checkpoint's run, and `cfg`'s rate must still be the peak
    /// up to the checkpoint's step, so the branch continues exactly what a
    /// single run of `cfg` would have done. The metrics of the checkpoint's
    /// run up to its step (from `metrics.jsonl` beside it) open the branch's
    /// log, so the log covers every step.
    pub fn branch(
        cfg: TrainConfig,
        data: Box<dyn TokenSource>,
        run_dir: &Path,
        from: &Path,
    ) -> Result<Self> {
        let shape = cfg.validate(data.as_ref())?;
        let (_, parent_json) = checkpoint::read_meta(from)?;
        let parent: TrainConfig = serde_json::from_str(&parent_json).map_err(|e| {
            EngineError::Checkpoint(format!("{}: bad config ({e})", from.display()))
        })?;
        let mut same = parent.clone();
        same.steps = cfg.steps;
        same.tokens = cfg.tokens;
        same.lr_schedule = cfg.lr_schedule;
        same.decay_fraction = cfg.decay_fraction;
        same.decay_shape = cfg.decay_shape;
        same.min_lr_ratio = cfg.min_lr_ratio;
        same.keep_checkpoints = cfg.keep_checkpoints.clone();
        same.eval_every = cfg.eval_every;
        same.checkpoint_every = cfg.checkpoint_every;
        same.warmup_steps = Some(parent.warmup());
        let mut want = cfg.clone();
        want.warmup_steps = Some(cfg.warmup());
        if same != want {
            return Err(EngineError::Config(format!(
                "cannot branch from {}: its run differs in more than the schedule and budget (model, data, batch, seed, peak lr, warm-up or optimiser settings)",
                from.display()
            )));
        }
        let mut t = Self::build(cfg, shape, data, Some(run_dir))?;
        if checkpoint::path_in(run_dir).exists() {
            return Err(EngineError::Config(format!(
                "{} already holds a checkpoint: resume it or choose another run directory",
                run_dir.display()
            )));
        }
        let state = checkpoint::load(from, &t.model.layout)?;
        let parent_schedule = parent.schedule();
        for s in 0..state.step.min(t.total) {
            if parent_schedule.lr(s) != t.schedule.lr(s) {
                return Err(EngineError::Config(format!(
                    "cannot branch from {} at step {}: the two schedules differ at step {s} (the branch point must come before the branch's decay)",
                    from.display(),
                    state.step
                )));
            }
        }
        if state.step >= t.total {
            return Err(EngineError::Config(format!(
                "cannot branch from {} at step {}: the branch has only {} steps",
                from.display(),
                state.step,
                t.total
            )));
        }
        t.model.params = state.params;
        t.m = state.adam_m;
        t.v = state.adam_v;
        t.step = state.step;
        std::fs::create_dir_all(run_dir).map_err(|e| EngineError::io(run_dir, e))?;
        let p = run_dir.join(CONFIG_FILE);
        checkpoint::write_file(&p, t.cfg.to_toml().as_bytes())?;
        let dir = from.parent().unwrap_or(Path::new("."));
        let kept_log = kept_metrics_path_in(dir, state.step);
        let parent_metrics = if kept_log.exists() {
            kept_log
        } else {
            dir.join(METRICS_FILE)
        };
        let kept = t.take_metrics_up_to(&parent_metrics, state.step)?;
        let mp = run_dir.join(METRICS_FILE);
        checkpoint::write_file(&mp, kept.as_bytes())?;
        let f = std::fs::OpenOptions::new()
            .append(true)
            .open(&mp)
            .map_err(|e| EngineError::io(&mp, e))?;
        t.metrics = Some(std::io::BufWriter::new(f));
        Ok(t)
    }

    /// The lines of the metrics log `path` up to `step` (the last losses
    /// are remembered as this run's).
    fn take_metrics_up_to(&mut self, path: &Path, step: u64) -> Result<String> {
        let mut kept = String::new();
        if let Ok(f) = std::fs::File::open(path) {
            for line in std::io::BufReader::new(f).lines() {
                let line = line.map_err(|e| EngineError::io(path, e))?;
                match serde_json::from_str::<StepReport>(&line) {
                    Ok(r) if r.step <= step => {
                        self.last_train_loss = r.train_loss;
                        if r.val_loss.is_some() {
                            self.last_val_loss = r.val_loss;
                        }
                        kept.push_str(&line);
                        kept.push('\n');
                    }
                    _ => {}
                }
            }
        }
        Ok(kept)
    }

    fn build(
        cfg: TrainConfig,
        shape: GptShape,
        data: Box<dyn TokenSource>,
        run_dir: Option<&Path>,
    ) -> Result<Self> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(cfg.threads)
            .build()
            .map_err(|e| {
                EngineError::Config(format!("cannot start {} threads: {e}", cfg.threads))
            })?;
        let par = cfg.parametrization();
        let mut model = Gpt::<f32>::with_parametrization(shape, par, cfg.seed, cfg.threads);
        model.ensure_activations(cfg.batch, cfg.context);
        let n = model.layout.total;
        let total = cfg.total_steps();
        Ok(Trainer {
            schedule: cfg.schedule(),
            adam: AdamWConfig {
                beta1: cfg.beta1,
                beta2: cfg.beta2,
                eps: cfg.eps,
                weight_decay: cfg.weight_decay,
            },
            flops_per_token: shape.flops_per_token().exact,
            lr_mults: par.lr_mults(shape.d_model),
            shape,
            model,
            m: vec![0.0; n],
            v: vec![0.0; n],
            data,
            pool,
            step: 0,
            total,
            run_dir: run_dir.map(Path::to_path_buf),
            metrics: None,
            step_seconds: Vec::new(),
            last_train_loss: f64::NAN,
            last_val_loss: None,
            cfg,
        })
    }

    pub fn config(&self) -> &TrainConfig {
        &self.cfg
    }
    pub fn shape(&self) -> GptShape {
        self.shape
    }
    pub fn model(&self) -> &Gpt<f32> {
        &self.model
    }
    /// Steps completed.
    pub fn current_step(&self) -> u64 {
        self.step
    }
    pub fn total_steps(&self) -> u64 {
        self.total
    }
    pub fn is_finished(&self) -> bool {
        self.step >= self.total
    }
    fn tokens_per_step(&self) -> u64 {
        (self.cfg.batch * self.cfg.context) as u64
    }

    /// Mean validation loss over `eval_batches` fixed batches.
    pub fn evaluate(&mut self) -> Result<f64> {
        let (b, t) = (self.cfg.batch, self.cfg.context);
        let mut sum = 0.0;
        for i in 0..self.cfg.eval_batches {
            let (tok, tgt) = self.model.io_buffers();
            self.data.val_batch(i, b, t, tok, tgt)?;
            check_tokens(tok, tgt, self.shape.vocab)?;
            let model = &mut self.model;
            sum += self.pool.install(|| model.forward(false));
        }
        let l = sum / self.cfg.eval_batches as f64;
        self.last_val_loss = Some(l);
        Ok(l)
    }

    /// One optimiser step, plus evaluation, logging and checkpointing when due.
    pub fn step(&mut self) -> Result<StepReport> {
        if self.is_finished() {
            return Err(EngineError::Config(format!(
                "the run is already finished ({} steps)",
                self.total
            )));
        }
        let s = self.step;
        let lr = self.schedule.lr(s);
        let (b, t) = (self.cfg.batch, self.cfg.context);
        {
            let (tok, tgt) = self.model.io_buffers();
            self.data
                .train_batch(self.cfg.data_step(s), b, t, tok, tgt)?;
            check_tokens(tok, tgt, self.shape.vocab)?;
        }
        let threads = self.cfg.threads;
        let clip = self.cfg.grad_clip;
        let limit = self.cfg.divergence_factor * (self.shape.vocab as f64).ln().max(1.0);
        let (model, m, v, adam) = (&mut self.model, &mut self.m, &mut self.v, &self.adam);
        let lr_mults = &self.lr_mults[..];
        let t0 = Instant::now();
        let (loss, norm) = self.pool.install(|| {
            let loss = model.forward(true);
            model.backward();
            let norm = grad_norm(&model.grads, threads);
            if loss.is_finite() && norm.is_finite() && loss <= limit {
                let scale = clip_factor(norm, clip);
                adamw_step(
                    &mut model.params,
                    &model.grads,
                    m,
                    v,
                    &model.layout,
                    adam,
                    lr,
                    lr_mults,
                    s + 1,
                    scale,
                    threads,
                );
            }
            (loss, norm)
        });
        let secs = t0.elapsed().as_secs_f64();
        if !(loss.is_finite() && norm.is_finite() && loss <= limit) {
            return Err(EngineError::Diverged {
                step: s + 1,
                loss,
                grad_norm: norm,
            });
        }
        self.step_seconds.push(secs);
        self.step += 1;
        self.last_train_loss = loss;
        let due =
            |every: u64, step: u64, total: u64| step == total || step.checked_rem(every) == Some(0);
        let val_loss = if due(self.cfg.eval_every, self.step, self.total) {
            Some(self.evaluate()?)
        } else {
            None
        };
        let tokens = self.step * self.tokens_per_step();
        let report = StepReport {
            step: self.step,
            tokens,
            flops: tokens as f64 * self.flops_per_token,
            train_loss: loss,
            val_loss,
            lr,
            grad_norm: norm,
            tokens_per_second: self.tokens_per_step() as f64 / secs,
        };
        if let (Some(w), Some(dir)) = (self.metrics.as_mut(), self.run_dir.as_ref()) {
            let line = serde_json::to_string(&report).expect("serialise");
            let p = dir.join(METRICS_FILE);
            writeln!(w, "{line}")
                .and_then(|_| w.flush())
                .map_err(|e| EngineError::io(p, e))?;
        }
        if let Some(dir) = self.run_dir.as_ref() {
            if self.cfg.keep_checkpoints.contains(&self.step) {
                // The log up to here, kept beside the checkpoint: a branch
                // copies it from there, never from the live log (which a
                // resume of this run cuts back to an earlier checkpoint).
                let mp = dir.join(METRICS_FILE);
                let mut log = String::new();
                let text = std::fs::read_to_string(&mp).map_err(|e| EngineError::io(&mp, e))?;
                for line in text.lines() {
                    match serde_json::from_str::<StepReport>(line) {
                        Ok(r) if r.step <= self.step => {
                            log.push_str(line);
                            log.push('\n');
                        }
                        _ => {}
                    }
                }
                checkpoint::write_file(&kept_metrics_path_in(dir, self.step), log.as_bytes())?;
                // before the regular checkpoint: a resume from that one
                // never needs to come back through this step
                self.save_checkpoint_to(&checkpoint::kept_path_in(dir, self.step))?;
            }
        }
        if self.run_dir.is_some() && due(self.cfg.checkpoint_every, self.step, self.total) {
            self.save_checkpoint()?;
        }
        Ok(report)
    }

    /// Writes the checkpoint now (needs a run directory).
    pub fn save_checkpoint(&self) -> Result<()> {
        let dir = self
            .run_dir
            .as_ref()
            .ok_or_else(|| EngineError::Config("no run directory to checkpoint into".into()))?;
        self.save_checkpoint_to(&checkpoint::path_in(dir))
    }

    fn save_checkpoint_to(&self, path: &Path) -> Result<()> {
        let state = CheckpointState {
            step: self.step,
            config_json: serde_json::to_string(&self.cfg).expect("serialise"),
            params: self.model.params.clone(),
            adam_m: self.m.clone(),
            adam_v: self.v.clone(),
        };
        checkpoint::save(path, &self.model.layout, &state)
    }

    /// Runs to the end, calling `on_step` after every step; `on_step` may
    /// stop the run early (`ControlFlow::Break`), in which case the summary
    /// has `completed: false` (the last checkpoint stays resumable). Writes
    /// `summary.json` into the run directory when finished.
    pub fn run(
        &mut self,
        mut on_step: impl FnMut(&StepReport) -> ControlFlow<()>,
    ) -> Result<RunSummary> {
        while !self.is_finished() {
            let r = self.step()?;
            if on_step(&r).is_break() {
                return Ok(self.summary());
            }
        }
        let s = self.summary();
        if let Some(dir) = &self.run_dir {
            let json = serde_json::to_string_pretty(&s).expect("serialise");
            checkpoint::write_file(&dir.join(SUMMARY_FILE), json.as_bytes())?;
        }
        Ok(s)
    }

    /// The summary of the run so far.
    pub fn summary(&self) -> RunSummary {
        let p = self.shape.params();
        let mut times = self.step_seconds.clone();
        let skip = times.len() / 10;
        let mut times = times.split_off(skip.min(times.len().saturating_sub(1)));
        times.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let tps = if times.is_empty() {
            0.0
        } else {
            self.tokens_per_step() as f64 / times[times.len() / 2]
        };
        let tokens = self.step * self.tokens_per_step();
        RunSummary {
            completed: self.is_finished(),
            steps: self.step,
            params_non_embedding: p.non_embedding,
            params_total: p.total,
            tokens,
            flops: tokens as f64 * self.flops_per_token,
            flops_per_token: self.flops_per_token,
            final_train_loss: self.last_train_loss,
            final_val_loss: self.last_val_loss,
            tokens_per_second: tps,
            gflops_per_second: tps * self.flops_per_token / 1e9,
            peak_rss_mb: peak_rss_mb(),
            threads: self.cfg.threads,
            simd: crate::simd_level_name().to_string(),
            data: self.data.describe(),
        }
    }
}

fn check_tokens(tok: &[u32], tgt: &[u32], vocab: usize) -> Result<()> {
    if let Some(&bad) = tok.iter().chain(tgt).find(|&&x| x as usize >= vocab) {
        return Err(EngineError::Data(format!(
            "token {bad} is outside the vocabulary (size {vocab})"
        )));
    }
    Ok(())
}

/// Peak resident set size of this process in MiB (Linux `VmHWM`; 0 elsewhere).
pub fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|k| k.parse::<f64>().ok())
            })
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}
