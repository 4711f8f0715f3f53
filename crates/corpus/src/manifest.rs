//! The manifest (`manifest.json`) of a shard directory: tokenizer, split,
//! shards, and how the data was made (recipe, filters, dedup, synthetic
//! language and its entropy rate).

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// File name of the manifest inside a shard directory.
pub const MANIFEST: &str = "manifest.json";
/// File name of a saved tokenizer inside a shard directory.
pub const TOKENIZER_FILE: &str = "tokenizer.json";
/// Value of [`Manifest::format`].
pub const FORMAT: &str = "scalelab-token-shards";

/// Train or validation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// Training data.
    Train,
    /// Validation data (disjoint documents).
    Val,
}

impl Split {
    /// `train` or `val`.
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Val => "val",
        }
    }
}

/// The tokenizer that wrote the shards.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TokenizerInfo {
    /// `byte`, `tokenizer.json` or `synthetic`.
    pub kind: String,
    /// Vocabulary size.
    pub vocab_size: u32,
    /// Fingerprint (hex), also in every shard header.
    pub fingerprint: String,
    /// The saved tokenizer file, relative to the directory, if any.
    pub file: Option<String>,
}

/// One shard.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShardInfo {
    /// File name relative to the directory.
    pub file: String,
    /// Which split.
    pub split: Split,
    /// Tokens.
    pub tokens: u64,
    /// Documents.
    pub docs: u64,
}

/// The manifest.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// Manifest version (1).
    pub version: u32,
    /// Tokenizer.
    pub tokenizer: TokenizerInfo,
    /// Fraction of documents in validation and the seed of the split.
    pub val_fraction: f64,
    /// Seed of the split.
    pub split_seed: u64,
    /// Shards in order.
    pub shards: Vec<ShardInfo>,
    /// Token totals per split.
    pub train_tokens: u64,
    /// Validation tokens.
    pub val_tokens: u64,
    /// Documents per split.
    pub train_docs: u64,
    /// Validation documents.
    pub val_docs: u64,
    /// How the data was made: command, recipe, filter and dedup counts.
    #[serde(default)]
    pub provenance: serde_json::Value,
    /// For synthetic data: spec, entropy rate (nats/token) and the exact
    /// window losses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synthetic: Option<serde_json::Value>,
}

impl Manifest {
    /// Reads and checks `dir/manifest.json`.
    pub fn load(dir: &Path) -> Result<Manifest> {
        let path = dir.join(MANIFEST);
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "cannot read {} (is {} a directory made by `scalelab corpus prepare` or `synth`?)",
                path.display(),
                dir.display()
            )
        })?;
        let m: Manifest = serde_json::from_str(&text)
            .with_context(|| format!("{}: not a valid manifest", path.display()))?;
        if m.format != FORMAT {
            bail!(
                "{}: format is `{}`, not `{FORMAT}`",
                path.display(),
                m.format
            );
        }
        Ok(m)
    }

    /// Writes `dir/manifest.json` atomically.
    pub fn save(&self, dir: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self)?;
        scalelab_common::write_atomic(&dir.join(MANIFEST), text.as_bytes())
            .with_context(|| format!("cannot write {}", dir.join(MANIFEST).display()))
    }
}
