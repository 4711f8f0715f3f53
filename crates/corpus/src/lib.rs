//! # scalelab-corpus
//!
//! Everything between raw data and the training loop:
//!
//! * [`synth`]: a synthetic language with an exactly known entropy rate, task
//!   generators for ability studies, and mixtures of them (seeded, streamable);
//! * [`source`]: documents from text, JSONL and Parquet files;
//! * [`tokenizer`]: byte-level and `tokenizer.json` (BPE) tokenizers;
//! * [`shard`], [`manifest`], [`loader`]: binary token shards, their manifest,
//!   and a deterministic, prefetching batch loader;
//! * [`batches`]: step-indexed train/validation batches from the synthetic
//!   language (`synth[:spec]`) or a shard directory, for trainers;
//! * [`dedup`], [`filter`], [`recipe`], [`prepare`]: governance (exact and
//!   near-duplicate removal, quality filters, mixture recipes) and the
//!   pipeline that applies them;
//! * [`contamination`], [`stats`]: n-gram overlap of evaluations with training
//!   data, and corpus statistics.

pub mod batches;
pub mod contamination;
pub mod dedup;
pub mod filter;
pub mod hash;
pub mod io;
pub mod loader;
pub mod manifest;
pub mod prepare;
pub mod recipe {
    //! Mixture recipes (TOML): see [`crate::prepare::Recipe`].
    pub use crate::prepare::{DedupConfig, Recipe, SourceEntry};
}
pub mod shard;
pub mod source;
pub mod stats;
pub mod synth;
pub mod tokenizer;

pub use batches::CorpusTokens;
pub use loader::{BatchPlan, Loader, LoaderConfig, ShardSet, SplitView};
pub use manifest::{Manifest, Split};
pub use tokenizer::Tokenizer;
