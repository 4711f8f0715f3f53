//! Token sources: where training and validation batches come from.
//!
//! A batch is a pure function of the source, its seed and the step (or the
//! validation batch index), so a resumed run sees exactly the batches the
//! uninterrupted run would have seen, without saving any data-loader state.
//! Other crates plug in by implementing [`TokenSource`] (the CLI adapts the
//! corpus crate's shards and synthetic languages this way).

use crate::error::{EngineError, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::Path;

/// A stream of training and validation batches.
pub trait TokenSource: Send {
    /// Vocabulary size: every token is below it.
    fn vocab_size(&self) -> usize;
    /// A short description for logs and summaries.
    fn describe(&self) -> String;
    /// The longest context this source can serve (`None`: unbounded).
    fn max_context(&self) -> Option<usize>;
    /// Fills `tokens` and `targets` (each `batch·seq`, row-major) with the
    /// training batch for `step`; `targets` are the next tokens.
    fn train_batch(
        &mut self,
        step: u64,
        batch: usize,
        seq: usize,
        tokens: &mut [u32],
        targets: &mut [u32],
    ) -> Result<()>;
    /// Fills the `index`-th validation batch (the same for every evaluation).
    fn val_batch(
        &mut self,
        index: u64,
        batch: usize,
        seq: usize,
        tokens: &mut [u32],
        targets: &mut [u32],
    ) -> Result<()>;
}

/// Stream number for validation batches (training uses the step number).
const VAL_STREAM: u64 = 1 << 63;

fn rng_for(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    r.set_stream(stream);
    r
}

/// A text file read as bytes (vocabulary 256). The last `val_fraction` of
/// the file is held out for validation; batches are windows at random
/// offsets drawn from the seed and step.
pub struct TextBytes {
    name: String,
    train: Vec<u8>,
    val: Vec<u8>,
    seed: u64,
}

impl TextBytes {
    /// Reads `path`.
    pub fn from_file(path: &Path, val_fraction: f64, seed: u64) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| EngineError::io(path, e))?;
        Self::from_bytes(path.display().to_string(), bytes, val_fraction, seed)
    }

    /// Uses `bytes`, splitting off the last `val_fraction` for validation.
    pub fn from_bytes(name: String, bytes: Vec<u8>, val_fraction: f64, seed: u64) -> Result<Self> {
        if !(val_fraction > 0.0 && val_fraction < 1.0) {
            return Err(EngineError::Config(format!(
                "val_fraction must be in (0, 1), got {val_fraction}"
            )));
        }
        let split = ((bytes.len() as f64) * (1.0 - val_fraction)).round() as usize;
        let val = bytes[split..].to_vec();
        let mut train = bytes;
        train.truncate(split);
        if train.len() < 2 || val.len() < 2 {
            return Err(EngineError::Data(format!(
                "{name}: {} bytes is too little text to split into training and validation",
                train.len() + val.len()
            )));
        }
        Ok(TextBytes {
            name,
            train,
            val,
            seed,
        })
    }

    /// The unigram (byte-frequency) cross-entropy of the validation split
    /// under the training split's byte frequencies (add-one smoothed), in nats:
    /// the loss of the best model that ignores context.
    pub fn unigram_val_loss(&self) -> f64 {
        let mut counts = [1f64; 256];
        for &b in &self.train {
            counts[b as usize] += 1.0;
        }
        let total: f64 = counts.iter().sum();
        -self
            .val
            .iter()
            .map(|&b| (counts[b as usize] / total).ln())
            .sum::<f64>()
            / self.val.len() as f64
    }

    fn fill(
        data: &[u8],
        rng: &mut ChaCha8Rng,
        batch: usize,
        seq: usize,
        tokens: &mut [u32],
        targets: &mut [u32],
    ) {
        let max_start = data.len() - seq - 1;
        for b in 0..batch {
            let start = rng.gen_range(0..=max_start);
            let w = &data[start..start + seq + 1];
            for t in 0..seq {
                tokens[b * seq + t] = w[t] as u32;
                targets[b * seq + t] = w[t + 1] as u32;
            }
        }
    }
}

impl TokenSource for TextBytes {
    fn vocab_size(&self) -> usize {
        256
    }
    fn describe(&self) -> String {
        format!(
            "bytes of {} ({} train / {} validation)",
            self.name,
            self.train.len(),
            self.val.len()
        )
    }
    fn max_context(&self) -> Option<usize> {
        Some(self.train.len().min(self.val.len()) - 1)
    }
    fn train_batch(
        &mut self,
        step: u64,
        batch: usize,
        seq: usize,
        tokens: &mut [u32],
        targets: &mut [u32],
    ) -> Result<()> {
        let mut rng = rng_for(self.seed, step);
        Self::fill(&self.train, &mut rng, batch, seq, tokens, targets);
        Ok(())
    }
    fn val_batch(
        &mut self,
        index: u64,
        batch: usize,
        seq: usize,
        tokens: &mut [u32],
        targets: &mut [u32],
    ) -> Result<()> {
        let mut rng = rng_for(self.seed, VAL_STREAM | index);
        Self::fill(&self.val, &mut rng, batch, seq, tokens, targets);
        Ok(())
    }
}

/// Seeded uniformly random tokens (for benchmarks: nothing to learn, the
/// best loss is ln V).
pub struct RandomTokens {
    vocab: usize,
    seed: u64,
}

impl RandomTokens {
    pub fn new(vocab: usize, seed: u64) -> Self {
        RandomTokens { vocab, seed }
    }
    fn fill(&self, stream: u64, batch: usize, seq: usize, tokens: &mut [u32], targets: &mut [u32]) {
        let mut rng = rng_for(self.seed, stream);
        let v = self.vocab as u32;
        for b in 0..batch {
            let mut prev = rng.gen_range(0..v);
            for t in 0..seq {
                let next = rng.gen_range(0..v);
                tokens[b * seq + t] = prev;
                targets[b * seq + t] = next;
                prev = next;
            }
        }
    }
}

impl TokenSource for RandomTokens {
    fn vocab_size(&self) -> usize {
        self.vocab
    }
    fn describe(&self) -> String {
        format!(
            "random tokens (vocabulary {}, seed {})",
            self.vocab, self.seed
        )
    }
    fn max_context(&self) -> Option<usize> {
        None
    }
    fn train_batch(
        &mut self,
        step: u64,
        batch: usize,
        seq: usize,
        tokens: &mut [u32],
        targets: &mut [u32],
    ) -> Result<()> {
        self.fill(step, batch, seq, tokens, targets);
        Ok(())
    }
    fn val_batch(
        &mut self,
        index: u64,
        batch: usize,
        seq: usize,
        tokens: &mut [u32],
        targets: &mut [u32],
    ) -> Result<()> {
        self.fill(VAL_STREAM | index, batch, seq, tokens, targets);
        Ok(())
    }
}

/// Opens the engine's built-in sources from a `--data` value: `random`
/// (vocabulary `vocab`, default 256) or a path to a text file read as bytes.
pub fn open(
    spec: &str,
    vocab: Option<usize>,
    val_fraction: f64,
    seed: u64,
) -> Result<Box<dyn TokenSource>> {
    if spec == "random" {
        let v = vocab.unwrap_or(256);
        if v == 0 {
            return Err(EngineError::Config("vocab must be at least 1".into()));
        }
        return Ok(Box::new(RandomTokens::new(v, seed)));
    }
    let path = Path::new(spec);
    if !path.is_file() {
        return Err(EngineError::Data(format!(
            "--data {spec}: no such file (give a text file, or `random`)"
        )));
    }
    Ok(Box::new(TextBytes::from_file(path, val_fraction, seed)?))
}
