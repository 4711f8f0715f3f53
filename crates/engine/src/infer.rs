//! Inference from a trained run: log-probabilities of a target under teacher
//! forcing, and greedy or sampled generation.
//!
//! The model runs on a window of its full context (batch 1): tokens are
//! placed at the start and the rest padded, which a causal model never sees,
//! so one activation allocation serves every call. Prompts longer than the
//! context keep their last tokens.

use crate::checkpoint;
use crate::error::{EngineError, Result};
use crate::model::Gpt;
use crate::train::TrainConfig;
use rand::Rng;
use std::path::Path;

/// A trained model loaded for inference.
pub struct Model {
    gpt: Gpt<f32>,
    pub config: TrainConfig,
    /// Optimiser steps the checkpoint had completed.
    pub step: u64,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("shape", &self.gpt.shape)
            .field("step", &self.step)
            .finish()
    }
}

impl Model {
    /// Loads the checkpoint of a run directory.
    pub fn load(run_dir: &Path, threads: usize) -> Result<Model> {
        let path = checkpoint::path_in(run_dir);
        if !path.exists() {
            return Err(EngineError::Checkpoint(format!(
                "{}: no checkpoint (is this a run directory of a finished run?)",
                run_dir.display()
            )));
        }
        let (step, cfg_json) = checkpoint::read_meta(&path)?;
        let config: TrainConfig = serde_json::from_str(&cfg_json).map_err(|e| {
            EngineError::Checkpoint(format!("{}: bad config ({e})", path.display()))
        })?;
        let vocab = checkpoint::vocab_of(&path)?;
        let shape = config.shape(vocab);
        let layout = crate::model::ParamLayout::new(&shape);
        let state = checkpoint::load(&path, &layout)?;
        let mut gpt = Gpt::<f32>::new(shape, 0, threads.max(1));
        gpt.params = state.params;
        gpt.ensure_activations(1, shape.context);
        Ok(Model { gpt, config, step })
    }

    pub fn vocab(&self) -> usize {
        self.gpt.shape.vocab
    }

    pub fn context(&self) -> usize {
        self.gpt.shape.context
    }

    /// Runs the window `seq` (at most the context) with targets `tgt`
    /// (same length); returns the per-position losses.
    fn run(&mut self, seq: &[u32], tgt: &[u32]) -> Result<()> {
        let v = self.vocab() as u32;
        if let Some(&bad) = seq.iter().chain(tgt).find(|&&t| t >= v) {
            return Err(EngineError::Data(format!(
                "token {bad} is outside the model's vocabulary ({v})"
            )));
        }
        let t = self.context();
        let (tok, tg) = self.gpt.io_buffers();
        tok.fill(0);
        tg.fill(0);
        tok[..seq.len()].copy_from_slice(seq);
        tg[..tgt.len()].copy_from_slice(tgt);
        debug_assert!(seq.len() <= t);
        self.gpt.forward(false);
        Ok(())
    }

    /// `ln p(target_j | prompt, target_<j)` for every target token.
    pub fn target_logprobs(&mut self, prompt: &[u32], target: &[u32]) -> Result<Vec<f64>> {
        if target.is_empty() {
            return Ok(Vec::new());
        }
        let t = self.context();
        let mut all: Vec<u32> = prompt.iter().chain(target).copied().collect();
        // the window must include the token before the first target
        let need = target.len() + 1;
        if need > t + 1 {
            return Err(EngineError::Config(format!(
                "a target of {} tokens does not fit the context of {t}",
                target.len()
            )));
        }
        if all.len() > t + 1 {
            all.drain(..all.len() - (t + 1));
        }
        let seq = &all[..all.len() - 1];
        let tgt = &all[1..];
        self.run(seq, tgt)?;
        let first = seq.len() - target.len();
        Ok((first..seq.len())
            .map(|i| -self.gpt.token_loss(i))
            .collect())
    }

    /// Log-softmax of the next token after `ctx`.
    pub fn next_logprobs(&mut self, ctx: &[u32]) -> Result<Vec<f64>> {
        if ctx.is_empty() {
            return Err(EngineError::Config("an empty prompt".into()));
        }
        let t = self.context();
        let ctx = if ctx.len() > t {
            &ctx[ctx.len() - t..]
        } else {
            ctx
        };
        let zeros = vec![0u32; ctx.len()];
        self.run(ctx, &zeros)?;
        let row = self.gpt.logits_row(ctx.len() - 1);
        let m = row.iter().fold(f32::NEG_INFINITY, |m, x| m.max(*x)) as f64;
        let lse = m + row.iter().map(|x| (*x as f64 - m).exp()).sum::<f64>().ln();
        Ok(row.iter().map(|x| *x as f64 - lse).collect())
    }

    /// Generates up to `max_new` tokens after `prompt`, stopping after
    /// `stop`. Temperature 0 is greedy decoding.
    pub fn generate(
        &mut self,
        prompt: &[u32],
        max_new: usize,
        stop: Option<u32>,
        temperature: f64,
        rng: &mut impl Rng,
    ) -> Result<Vec<u32>> {
        let mut ctx = prompt.to_vec();
        let mut out = Vec::new();
        for _ in 0..max_new {
            let lp = self.next_logprobs(&ctx)?;
            let next = if temperature <= 0.0 {
                lp.iter()
                    .enumerate()
                    .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(&a.0)))
                    .map(|(i, _)| i as u32)
                    .unwrap_or(0)
            } else {
                let w: Vec<f64> = lp.iter().map(|l| (l / temperature).exp()).collect();
                let total: f64 = w.iter().sum();
                let mut u = rng.gen::<f64>() * total;
                let mut pick = w.len() - 1;
                for (i, x) in w.iter().enumerate() {
                    if u < *x {
                        pick = i;
                        break;
                    }
                    u -= x;
                }
                pick as u32
            };
            out.push(next);
            ctx.push(next);
            if Some(next) == stop {
                break;
            }
        }
        Ok(out)
    }
}
