//! Training data for a run: the corpus crate's sources (`synth`,
//! `synth:<spec>`, a prepared shard directory) or the engine's own (`random`,
//! a text file read as bytes), behind the engine's [`TokenSource`].

use scalelab_engine::{data, EngineError, TokenSource, TrainConfig};

/// Opens the data source a configuration names.
pub fn open_source(cfg: &TrainConfig) -> anyhow::Result<Box<dyn TokenSource>> {
    if let Some(c) = scalelab_corpus::CorpusTokens::open(&cfg.data, cfg.seed)? {
        return Ok(Box::new(CorpusSource(c)));
    }
    Ok(data::open(
        &cfg.data,
        cfg.vocab,
        cfg.val_fraction,
        cfg.seed,
    )?)
}

/// [`scalelab_corpus::CorpusTokens`] as the engine's data source.
struct CorpusSource(scalelab_corpus::CorpusTokens);

fn engine_err(e: anyhow::Error) -> EngineError {
    EngineError::Data(format!("{e:#}"))
}

impl TokenSource for CorpusSource {
    fn vocab_size(&self) -> usize {
        self.0.vocab_size()
    }
    fn describe(&self) -> String {
        self.0.describe()
    }
    fn max_context(&self) -> Option<usize> {
        self.0.max_context()
    }
    fn train_batch(
        &mut self,
        step: u64,
        batch: usize,
        seq: usize,
        tokens: &mut [u32],
        targets: &mut [u32],
    ) -> scalelab_engine::error::Result<()> {
        self.0
            .train_batch(step, batch, seq, tokens, targets)
            .map_err(engine_err)
    }
    fn val_batch(
        &mut self,
        index: u64,
        batch: usize,
        seq: usize,
        tokens: &mut [u32],
        targets: &mut [u32],
    ) -> scalelab_engine::error::Result<()> {
        self.0
            .val_batch(index, batch, seq, tokens, targets)
            .map_err(engine_err)
    }
}

/// For data with a known generating process (the synthetic language): its
/// entropy rate and the exact loss floor of a perfect model trained on
/// windows of `context` targets (positions 1..=context of fresh documents),
/// in nats per token. `None` for real data.
pub fn known_floor(spec: &str, seed: u64, context: usize) -> Option<(f64, f64)> {
    match scalelab_corpus::CorpusTokens::open(spec, seed).ok()?? {
        scalelab_corpus::CorpusTokens::Synth { source, .. } => Some((
            source.entropy_rate(),
            source.window_entropy_from(1, context + 1),
        )),
        _ => None,
    }
}
