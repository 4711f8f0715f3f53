//! Step-indexed training and validation batches, the shape trainers ask for:
//! `train_batch(step, batch, seq, tokens, targets)` fills inputs and next-token
//! targets for optimiser step `step`, and `val_batch(index, …)` the `index`-th
//! validation batch. Each batch is a pure function of the data, the seed and
//! the index, so a resumed run sees exactly the batches an uninterrupted one
//! would have. A trainer's own data trait is a thin wrapper around
//! [`CorpusTokens`].

use crate::hash::combine;
use crate::loader::{BatchPlan, LoaderConfig, ShardSet, SplitView};
use crate::manifest::{Split, MANIFEST};
use crate::synth::{LanguageSpec, LanguageStream, UnifilarSource};
use anyhow::{bail, Context, Result};
use std::path::Path;
use std::sync::Arc;

/// Training data from this crate.
// one value per training run: the size difference between variants is moot
#[allow(clippy::large_enum_variant)]
pub enum CorpusTokens {
    /// The synthetic language, streamed without files: every row is a fresh
    /// document of `seq + 1` tokens from the start state, so a perfect model's
    /// loss on the targets is exactly `window_entropy_from(1, seq + 1)`.
    Synth {
        /// The language's spec string.
        spec: String,
        /// The source.
        source: Arc<UnifilarSource>,
        /// Seed of the samples.
        seed: u64,
        /// Scratch.
        buf: Vec<u32>,
    },
    /// Prepared shards: training windows in a seeded order, validation
    /// windows in order.
    Shards {
        /// The directory, for messages.
        name: String,
        /// Vocabulary size.
        vocab: u32,
        /// Training split.
        train: SplitView,
        /// Validation split.
        val: SplitView,
        /// Seed of the order.
        seed: u64,
        /// Plans for the last (batch, seq) asked for.
        plans: Option<((usize, usize), BatchPlan, BatchPlan)>,
        /// Scratch.
        buf: Vec<u32>,
    },
}

impl CorpusTokens {
    /// `synth` or `synth:<language spec>` (see [`LanguageSpec::parse`]), or a
    /// directory holding `manifest.json`; `None` for anything else (so a
    /// trainer can fall back to its own sources).
    pub fn open(spec: &str, seed: u64) -> Result<Option<CorpusTokens>> {
        if spec == "synth" || spec.starts_with("synth:") {
            let lang = spec.strip_prefix("synth").unwrap_or_default();
            let lang = lang.strip_prefix(':').unwrap_or(lang);
            let lspec = LanguageSpec::parse(lang).context("--data synth:<spec>")?;
            return Ok(Some(CorpusTokens::Synth {
                spec: lspec.to_string(),
                source: Arc::new(lspec.build()?),
                seed,
                buf: Vec::new(),
            }));
        }
        let p = Path::new(spec);
        if p.is_dir() && p.join(MANIFEST).is_file() {
            let set = ShardSet::open(p)?;
            let (train, val) = (set.split(Split::Train), set.split(Split::Val));
            if train.is_empty() || val.is_empty() {
                bail!(
                    "{}: needs both a training and a validation split (prepare with \
                     --val-fraction > 0)",
                    p.display()
                );
            }
            return Ok(Some(CorpusTokens::Shards {
                name: p.display().to_string(),
                vocab: set.vocab_size(),
                train,
                val,
                seed,
                plans: None,
                buf: Vec::new(),
            }));
        }
        Ok(None)
    }

    /// Vocabulary size.
    pub fn vocab_size(&self) -> usize {
        match self {
            CorpusTokens::Synth { source, .. } => source.vocab() as usize,
            CorpusTokens::Shards { vocab, .. } => *vocab as usize,
        }
    }

    /// One line for logs.
    pub fn describe(&self) -> String {
        match self {
            CorpusTokens::Synth { spec, source, .. } => format!(
                "synthetic language {spec} (entropy rate {:.5} nats/token)",
                source.entropy_rate()
            ),
            CorpusTokens::Shards {
                name, train, val, ..
            } => format!(
                "shards in {name} ({} train / {} validation tokens)",
                train.len(),
                val.len()
            ),
        }
    }

    /// Longest context that can be served (`None`: unbounded).
    pub fn max_context(&self) -> Option<usize> {
        match self {
            CorpusTokens::Synth { .. } => None,
            CorpusTokens::Shards { train, val, .. } => {
                Some(train.len().min(val.len()).saturating_sub(1) as usize)
            }
        }
    }

    /// For the synthetic language: the exact loss floor of a perfect model on
    /// rows of `seq + 1` tokens (targets are positions 1..=seq).
    pub fn loss_floor(&self, seq: usize) -> Option<f64> {
        match self {
            CorpusTokens::Synth { source, .. } => Some(source.window_entropy_from(1, seq + 1)),
            CorpusTokens::Shards { .. } => None,
        }
    }

    /// Training batch for optimiser step `step`.
    pub fn train_batch(
        &mut self,
        step: u64,
        batch: usize,
        seq: usize,
        tokens: &mut [u32],
        targets: &mut [u32],
    ) -> Result<()> {
        self.batch(false, step, batch, seq, tokens, targets)
    }

    /// The `index`-th validation batch (the same at every evaluation).
    pub fn val_batch(
        &mut self,
        index: u64,
        batch: usize,
        seq: usize,
        tokens: &mut [u32],
        targets: &mut [u32],
    ) -> Result<()> {
        self.batch(true, index, batch, seq, tokens, targets)
    }

    fn batch(
        &mut self,
        val: bool,
        index: u64,
        batch: usize,
        seq: usize,
        tokens: &mut [u32],
        targets: &mut [u32],
    ) -> Result<()> {
        if batch == 0 || seq == 0 {
            bail!("batch and sequence length must be at least 1");
        }
        if tokens.len() != batch * seq || targets.len() != batch * seq {
            bail!(
                "token and target buffers must hold batch × seq = {}",
                batch * seq
            );
        }
        let mut buf = match self {
            CorpusTokens::Synth { buf, .. } | CorpusTokens::Shards { buf, .. } => {
                std::mem::take(buf)
            }
        };
        buf.resize(batch * (seq + 1), 0);
        match self {
            CorpusTokens::Synth { source, seed, .. } => {
                // validation documents come from a stream no training seed reaches
                let s = if val {
                    combine(*seed, 0x7661_6c00)
                } else {
                    *seed
                };
                LanguageStream::batch_at(source, s, index, batch, seq, &mut buf);
            }
            CorpusTokens::Shards {
                name,
                train,
                val: vsplit,
                seed,
                plans,
                ..
            } => {
                if plans.as_ref().map(|p| p.0) != Some((batch, seq)) {
                    let cfg = |shuffle| LoaderConfig {
                        batch,
                        context: seq,
                        seed: *seed,
                        shuffle,
                        prefetch: 0,
                    };
                    let t = BatchPlan::new(train.clone(), cfg(true))
                        .with_context(|| format!("{name}: training split"))?;
                    let v = BatchPlan::new(vsplit.clone(), cfg(false))
                        .with_context(|| format!("{name}: validation split"))?;
                    *plans = Some(((batch, seq), t, v));
                }
                let p = plans.as_mut().expect("just set");
                if val {
                    p.2.fill(index, &mut buf);
                } else {
                    p.1.fill(index, &mut buf);
                }
            }
        }
        for (r, row) in buf.chunks_exact(seq + 1).enumerate() {
            tokens[r * seq..(r + 1) * seq].copy_from_slice(&row[..seq]);
            targets[r * seq..(r + 1) * seq].copy_from_slice(&row[1..]);
        }
        match self {
            CorpusTokens::Synth { buf: b, .. } | CorpusTokens::Shards { buf: b, .. } => *b = buf,
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synth_batches_are_step_indexed_and_shifted() {
        let mut a = CorpusTokens::open("synth:topics=2,states=4", 3)
            .unwrap()
            .unwrap();
        assert_eq!(a.vocab_size(), 64);
        let (b, s) = (3, 8);
        let mut t1 = vec![0; b * s];
        let mut y1 = vec![0; b * s];
        let mut t2 = vec![0; b * s];
        let mut y2 = vec![0; b * s];
        a.train_batch(5, b, s, &mut t1, &mut y1).unwrap();
        a.train_batch(1, b, s, &mut t2, &mut y2).unwrap();
        a.train_batch(5, b, s, &mut t2, &mut y2).unwrap();
        assert_eq!((t1.clone(), y1.clone()), (t2.clone(), y2.clone()));
        // targets are inputs shifted by one
        for r in 0..b {
            assert_eq!(t1[r * s + 1..(r + 1) * s], y1[r * s..(r + 1) * s - 1]);
        }
        a.val_batch(5, b, s, &mut t2, &mut y2).unwrap();
        assert_ne!(t1, t2);
        assert!(a.loss_floor(s).unwrap() > 0.0);
        assert!(CorpusTokens::open("some-file.txt", 0).unwrap().is_none());
        assert!(CorpusTokens::open("synth:bogus=1", 0).is_err());
        assert!(a.train_batch(0, 2, 2, &mut [0; 3], &mut [0; 4]).is_err());
    }
}
