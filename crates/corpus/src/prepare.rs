//! The pipeline behind `scalelab corpus prepare` and `synth`: read sources,
//! filter, deduplicate, split at document level, tokenize (training a BPE
//! tokenizer if asked), apply mixture weights and write shards plus a
//! manifest that records all of it.

use crate::dedup::{self, MinHashConfig};
use crate::filter::QualityFilter;
use crate::hash::{combine, hash64};
use crate::manifest::{
    Manifest, ShardInfo, Split, TokenizerInfo, FORMAT, MANIFEST, TOKENIZER_FILE,
};
use crate::shard::SplitWriter;
use crate::source::{read_documents, BadInput, SourceOptions, TextSplit};
use crate::synth::UnifilarSource;
use crate::tokenizer::Tokenizer;
use anyhow::{bail, Context, Result};
use rayon::prelude::*;
use scalelab_common::{Progress, Silent, Task};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// One source of a recipe.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceEntry {
    /// File or directory (relative paths are relative to the recipe file).
    pub path: PathBuf,
    /// Mixture weight: each document is used `floor(w)` times plus once more
    /// with probability `w - floor(w)` (decided by its content hash, so it is
    /// deterministic). 1 keeps the source as it is.
    #[serde(default = "one")]
    pub weight: f64,
    /// JSONL field / Parquet column with the text.
    #[serde(default = "text_field")]
    pub text_field: String,
    /// How plain-text files become documents: `file`, `line`, `paragraph`.
    #[serde(default)]
    pub text_split: TextSplit,
}

fn one() -> f64 {
    1.0
}
fn text_field() -> String {
    "text".into()
}

/// Deduplication settings of a recipe (`[dedup]`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DedupConfig {
    /// Remove exact duplicates (normalised text).
    pub exact: bool,
    /// Remove near duplicates (MinHash LSH).
    pub near: bool,
    /// Jaccard threshold for near duplicates.
    pub threshold: f64,
    /// MinHash signature length.
    pub num_perm: usize,
    /// Words per shingle.
    pub shingle: usize,
}

impl Default for DedupConfig {
    fn default() -> Self {
        DedupConfig {
            exact: true,
            near: false,
            threshold: 0.8,
            num_perm: 128,
            shingle: 5,
        }
    }
}

/// A mixture recipe: sources, weights, filters, dedup, tokenizer, split.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    /// Sources (`[[sources]]`).
    pub sources: Vec<SourceEntry>,
    /// Quality filters (`[filters]`).
    #[serde(default)]
    pub filters: QualityFilter,
    /// Deduplication (`[dedup]`).
    #[serde(default)]
    pub dedup: DedupConfig,
    /// `byte`, `bpe` (train one) or the path of a `tokenizer.json`.
    #[serde(default = "byte")]
    pub tokenizer: String,
    /// Vocabulary size when training BPE.
    #[serde(default = "vocab_size")]
    pub vocab_size: usize,
    /// Fraction of documents held out for validation.
    #[serde(default = "val_fraction")]
    pub val_fraction: f64,
    /// Seed of the split (and of weight rounding).
    #[serde(default)]
    pub seed: u64,
    /// Maximum tokens per shard.
    #[serde(default = "shard_tokens")]
    pub shard_tokens: u64,
    /// Bad UTF-8 / JSON: `fail` or `skip`.
    #[serde(default)]
    pub on_bad: BadInput,
}

fn byte() -> String {
    "byte".into()
}
fn vocab_size() -> usize {
    4096
}
fn val_fraction() -> f64 {
    0.01
}
fn shard_tokens() -> u64 {
    1 << 27
}

impl Recipe {
    /// A recipe with one source and the defaults.
    pub fn single(path: PathBuf) -> Recipe {
        Recipe {
            sources: vec![SourceEntry {
                path,
                weight: 1.0,
                text_field: text_field(),
                text_split: TextSplit::File,
            }],
            filters: QualityFilter::default(),
            dedup: DedupConfig::default(),
            tokenizer: byte(),
            vocab_size: vocab_size(),
            val_fraction: val_fraction(),
            seed: 0,
            shard_tokens: shard_tokens(),
            on_bad: BadInput::Fail,
        }
    }

    /// Reads a TOML recipe; relative source paths are resolved against the
    /// recipe's directory.
    pub fn load(path: &Path) -> Result<Recipe> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read recipe {}", path.display()))?;
        let mut r: Recipe =
            toml::from_str(&text).with_context(|| format!("{}: bad recipe", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        for s in &mut r.sources {
            if s.path.is_relative() {
                s.path = base.join(&s.path);
            }
        }
        if !matches!(r.tokenizer.as_str(), "byte" | "bpe") && Path::new(&r.tokenizer).is_relative()
        {
            r.tokenizer = base.join(&r.tokenizer).display().to_string();
        }
        r.validate()
            .with_context(|| format!("{}: bad recipe", path.display()))?;
        Ok(r)
    }

    /// Checks values.
    pub fn validate(&self) -> Result<()> {
        if self.sources.is_empty() {
            bail!("no sources");
        }
        for s in &self.sources {
            if !(s.weight >= 0.0 && s.weight.is_finite()) {
                bail!("source {}: weight must be >= 0", s.path.display());
            }
        }
        if !(0.0..1.0).contains(&self.val_fraction) {
            bail!("val_fraction must be in [0, 1)");
        }
        if !(self.dedup.threshold > 0.0 && self.dedup.threshold <= 1.0) {
            bail!("dedup.threshold must be in (0, 1]");
        }
        if self.dedup.num_perm == 0 || self.dedup.shingle == 0 {
            bail!("dedup.num_perm and dedup.shingle must be at least 1");
        }
        Ok(())
    }
}

/// What `prepare` did.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct PrepareReport {
    /// Documents read per source path.
    pub read: BTreeMap<String, crate::source::ReadReport>,
    /// Documents read in all.
    pub documents_read: usize,
    /// Documents dropped per filter.
    pub filtered: BTreeMap<String, usize>,
    /// Exact duplicates removed.
    pub exact_duplicates: usize,
    /// Near duplicates removed.
    pub near_duplicates: usize,
    /// Documents written (after weights) per split.
    pub train_docs: u64,
    /// Validation documents written.
    pub val_docs: u64,
    /// Tokens per split.
    pub train_tokens: u64,
    /// Validation tokens.
    pub val_tokens: u64,
    /// Bytes of text tokenized.
    pub bytes_tokenized: u64,
    /// Seconds spent tokenizing and writing shards.
    pub tokenize_seconds: f64,
    /// Total seconds.
    pub seconds: f64,
}

/// Which split a document goes to: a hash of its normalised text and the
/// seed, so the split is stable under re-runs and reordering, and exact
/// duplicates always land together.
pub fn split_of(text: &str, seed: u64, val_fraction: f64) -> Split {
    if split_draw(text, seed) < val_fraction {
        Split::Val
    } else {
        Split::Train
    }
}

/// The uniform draw in [0, 1) that decides a document's split.
fn split_draw(text: &str, seed: u64) -> f64 {
    let key = dedup::exact_key(text).0;
    (combine(key, seed) >> 11) as f64 / (1u64 << 53) as f64
}

fn copies(text_hash: u64, seed: u64, weight: f64) -> usize {
    let base = weight.floor();
    let frac = weight - base;
    let u = (combine(text_hash, seed ^ 0x003e_1647) >> 11) as f64 / (1u64 << 53) as f64;
    base as usize + usize::from(u < frac)
}

/// Refuses to overwrite a directory that already holds a manifest unless
/// `force`; creates it otherwise.
pub fn ensure_out_dir(out: &Path, force: bool) -> Result<()> {
    if out.join(MANIFEST).exists() && !force {
        bail!(
            "{} already holds a prepared corpus (manifest.json); pass --force to overwrite it",
            out.display()
        );
    }
    if out.exists() && !out.is_dir() {
        bail!("{} exists and is not a directory", out.display());
    }
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    if force {
        // stale shards of an earlier run would otherwise linger unreferenced
        for e in std::fs::read_dir(out)?.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if (name.starts_with("train_") || name.starts_with("val_")) && name.ends_with(".bin") {
                std::fs::remove_file(e.path())
                    .with_context(|| format!("cannot remove {}", e.path().display()))?;
            }
        }
    }
    Ok(())
}

/// Documents headed for the shards: text, split and number of copies.
pub struct Planned {
    /// Text.
    pub text: String,
    /// Split.
    pub split: Split,
    /// Times written (mixture weight).
    pub copies: usize,
}

/// Tokenizes planned documents in parallel and writes both splits' shards.
/// Returns the shard list and (tokens, docs) per split, plus bytes tokenized.
pub fn write_shards(
    docs: &[Planned],
    tok: &Tokenizer,
    out: &Path,
    shard_tokens: u64,
    progress: &dyn Progress,
) -> Result<(Vec<ShardInfo>, u64)> {
    let fp = tok.fingerprint();
    let vocab = tok.vocab_size();
    let mut train = SplitWriter::new(out, Split::Train, vocab, fp, shard_tokens);
    let mut val = SplitWriter::new(out, Split::Val, vocab, fp, shard_tokens);
    let total_bytes: u64 = docs.iter().map(|d| d.text.len() as u64).sum();
    let pb = Task::begin(progress, "tokenizing", Some(total_bytes), "bytes");
    let mut bytes = 0;
    for chunk in docs.chunks(2048) {
        let encoded: Vec<Result<Vec<u32>>> = chunk
            .par_iter()
            .map_init(crate::tokenizer::EncodeCache::default, |cache, d| {
                tok.encode_cached(&d.text, cache)
            })
            .collect();
        for (d, e) in chunk.iter().zip(encoded) {
            let ids = e?;
            let w = match d.split {
                Split::Train => &mut train,
                Split::Val => &mut val,
            };
            for _ in 0..d.copies {
                w.push_doc(&ids)?;
            }
            bytes += d.text.len() as u64;
        }
        pb.set(bytes, "");
    }
    drop(pb);
    let mut shards = train.finish()?;
    shards.extend(val.finish()?);
    Ok((shards, bytes))
}

/// Builds the manifest for written shards.
pub fn manifest_for(
    tok: &Tokenizer,
    shards: Vec<ShardInfo>,
    val_fraction: f64,
    split_seed: u64,
    provenance: serde_json::Value,
    synthetic: Option<serde_json::Value>,
) -> Manifest {
    let sum = |s: Split, f: fn(&ShardInfo) -> u64| {
        shards.iter().filter(|i| i.split == s).map(f).sum::<u64>()
    };
    Manifest {
        format: FORMAT.into(),
        version: 1,
        tokenizer: TokenizerInfo {
            kind: tok.kind().into(),
            vocab_size: tok.vocab_size(),
            fingerprint: format!("{:016x}", tok.fingerprint()),
            file: tok.json().map(|_| TOKENIZER_FILE.to_string()),
        },
        val_fraction,
        split_seed,
        train_tokens: sum(Split::Train, |i| i.tokens),
        val_tokens: sum(Split::Val, |i| i.tokens),
        train_docs: sum(Split::Train, |i| i.docs),
        val_docs: sum(Split::Val, |i| i.docs),
        shards,
        provenance,
        synthetic,
    }
}

/// Runs a recipe into `out`, reporting no progress. (The last argument is
/// kept for the callers of the time when this crate drew its own bars; a
/// library crate never draws: use [`prepare_with`] to follow the work.)
pub fn prepare(recipe: &Recipe, out: &Path, force: bool, _progress: bool) -> Result<PrepareReport> {
    prepare_with(recipe, out, force, &Silent)
}

/// Runs a recipe into `out`, reporting the reading, BPE training and
/// tokenizing on `progress`.
pub fn prepare_with(
    recipe: &Recipe,
    out: &Path,
    force: bool,
    progress: &dyn Progress,
) -> Result<PrepareReport> {
    let t0 = Instant::now();
    recipe.validate()?;
    let mut report = PrepareReport::default();
    // 1. read
    let mut texts: Vec<String> = Vec::new();
    let mut weights: Vec<f64> = Vec::new();
    let pb = Task::begin(progress, "reading", None, "documents");
    for s in &recipe.sources {
        let opts = SourceOptions {
            text_field: s.text_field.clone(),
            text_split: s.text_split,
            on_bad: recipe.on_bad,
        };
        let r = read_documents(&s.path, &opts, |d| {
            texts.push(d.text);
            weights.push(s.weight);
            pb.inc(1);
            Ok(())
        })?;
        report.read.insert(s.path.display().to_string(), r);
    }
    drop(pb);
    report.documents_read = texts.len();
    if texts.is_empty() {
        let bad: usize = report.read.values().map(|r| r.skipped_bad).sum();
        let empty: usize = report.read.values().map(|r| r.skipped_empty).sum();
        bail!(
            "the corpus is empty: no non-empty documents in the sources \
             ({bad} skipped for bad UTF-8/JSON, {empty} empty)"
        );
    }
    // 2. filter
    let mut keep = vec![true; texts.len()];
    if !recipe.filters.is_empty() {
        let verdicts: Vec<Option<&'static str>> =
            texts.par_iter().map(|t| recipe.filters.check(t)).collect();
        for (i, v) in verdicts.into_iter().enumerate() {
            if let Some(reason) = v {
                keep[i] = false;
                *report.filtered.entry(reason.to_string()).or_default() += 1;
            }
        }
    }
    // 3. dedup (the first occurrence is kept)
    if recipe.dedup.exact {
        for (i, d) in dedup::exact_duplicates(&texts).into_iter().enumerate() {
            if d.is_some() && keep[i] {
                keep[i] = false;
                report.exact_duplicates += 1;
            }
        }
    }
    if recipe.dedup.near {
        let idx: Vec<usize> = (0..texts.len()).filter(|&i| keep[i]).collect();
        let subset: Vec<&str> = idx.iter().map(|&i| texts[i].as_str()).collect();
        let res = dedup::near_duplicates(
            &subset,
            MinHashConfig {
                num_perm: recipe.dedup.num_perm,
                shingle: recipe.dedup.shingle,
                threshold: recipe.dedup.threshold,
                seed: 1,
            },
        );
        for (k, d) in res.duplicate_of.iter().enumerate() {
            if d.is_some() {
                keep[idx[k]] = false;
                report.near_duplicates += 1;
            }
        }
    }
    // 4. split and weights
    let mut planned = Vec::new();
    for (i, text) in texts.into_iter().enumerate() {
        if !keep[i] {
            continue;
        }
        let split = split_of(&text, recipe.seed, recipe.val_fraction);
        let c = copies(hash64(text.as_bytes(), 3), recipe.seed, weights[i]);
        if c > 0 {
            planned.push(Planned {
                text,
                split,
                copies: c,
            });
        }
    }
    if planned.is_empty() {
        bail!("the corpus is empty after filtering, deduplication and weights");
    }
    // A small corpus can draw no validation document at all; with a
    // validation fraction asked for, the document with the lowest draw goes
    // to validation (deterministic, like the rest of the split), as long as
    // a training document remains.
    if recipe.val_fraction > 0.0
        && planned.len() >= 2
        && planned.iter().all(|p| p.split == Split::Train)
    {
        let k = (0..planned.len())
            .min_by(|&a, &b| {
                split_draw(&planned[a].text, recipe.seed)
                    .total_cmp(&split_draw(&planned[b].text, recipe.seed))
            })
            .expect("at least two documents");
        planned[k].split = Split::Val;
    }
    // 5. tokenizer
    ensure_out_dir(out, force)?;
    let tok = match recipe.tokenizer.as_str() {
        "byte" => Tokenizer::Byte,
        "bpe" => {
            let pb = Task::begin(progress, "training BPE", None, "");
            let t = Tokenizer::train_bpe(
                planned
                    .iter()
                    .filter(|p| p.split == Split::Train)
                    .map(|p| p.text.as_str()),
                recipe.vocab_size,
                2,
            )?;
            drop(pb);
            t
        }
        path => Tokenizer::load(Path::new(path))?,
    };
    if let Some(j) = tok.json() {
        {
            let p = out.join(TOKENIZER_FILE);
            scalelab_common::write_atomic(&p, j.as_bytes())
                .with_context(|| format!("cannot write {}", p.display()))?;
        }
    }
    // 6. shards and manifest
    let t1 = Instant::now();
    let (shards, bytes) = write_shards(&planned, &tok, out, recipe.shard_tokens, progress)?;
    report.tokenize_seconds = t1.elapsed().as_secs_f64();
    report.bytes_tokenized = bytes;
    let mut recipe_rec = recipe.clone();
    for s in &mut recipe_rec.sources {
        s.path = PathBuf::from(s.path.display().to_string());
    }
    report.seconds = t0.elapsed().as_secs_f64();
    let mut m = manifest_for(
        &tok,
        shards,
        recipe.val_fraction,
        recipe.seed,
        serde_json::Value::Null,
        None,
    );
    report.train_docs = m.train_docs;
    report.val_docs = m.val_docs;
    report.train_tokens = m.train_tokens;
    report.val_tokens = m.val_tokens;
    m.provenance = serde_json::json!({
        "made_by": "scalelab corpus prepare",
        "recipe": recipe_rec,
        "report": report,
    });
    m.save(out)?;
    Ok(report)
}

/// How much synthetic language to write, and how.
#[derive(Clone, Copy, Debug)]
pub struct LanguageWrite {
    /// Tokens to write (rounded up to whole documents).
    pub tokens: u64,
    /// Tokens per document.
    pub doc_len: usize,
    /// Fraction of documents held out for validation.
    pub val_fraction: f64,
    /// Seed of the samples.
    pub seed: u64,
}

/// Writes `tokens` tokens of the synthetic language as documents of
/// `doc_len` tokens (each from the start state) into `out`, with the exact
/// entropy rate and window loss in the manifest. Document `i` goes to
/// validation when a hash of (seed, i) falls below `val_fraction`.
pub fn write_language(
    src: &UnifilarSource,
    spec: &str,
    out: &Path,
    opts: &LanguageWrite,
    progress: &dyn Progress,
) -> Result<Manifest> {
    use rand::SeedableRng;
    let LanguageWrite {
        tokens: tokens_total,
        doc_len,
        val_fraction,
        seed,
    } = *opts;
    if doc_len < 2 {
        bail!("--doc-len must be at least 2");
    }
    let tok = Tokenizer::Synthetic { vocab: src.vocab() };
    let fp = tok.fingerprint();
    let mut train = SplitWriter::new(out, Split::Train, src.vocab(), fp, 1 << 27);
    let mut val = SplitWriter::new(out, Split::Val, src.vocab(), fp, 1 << 27);
    let n_docs = tokens_total.div_ceil(doc_len as u64).max(1);
    let pb = Task::begin(
        progress,
        "generating",
        Some(n_docs * doc_len as u64),
        "tokens",
    );
    let mut buf = vec![0u32; doc_len];
    // one RNG per split so that changing val_fraction does not change which
    // tokens the training documents hold more than necessary
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    for i in 0..n_docs {
        src.sample_document(&mut rng, &mut buf);
        let u = (combine(i, seed ^ 0x5b1f) >> 11) as f64 / (1u64 << 53) as f64;
        if u < val_fraction {
            val.push_doc(&buf)?;
        } else {
            train.push_doc(&buf)?;
        }
        if i % 256 == 0 {
            pb.set(i * doc_len as u64, "");
        }
    }
    drop(pb);
    let mut shards = train.finish()?;
    shards.extend(val.finish()?);
    let synthetic = serde_json::json!({
        "kind": "unifilar-hmm",
        "spec": spec,
        "vocab": src.vocab(),
        "states": src.num_states(),
        "entropy_rate_nats": src.entropy_rate(),
        "entropy_rate_bits": src.entropy_rate() / std::f64::consts::LN_2,
        "doc_len": doc_len,
        "doc_loss_nats": src.window_entropy(doc_len),
        "target_loss_nats": src.window_entropy_from(1, doc_len),
        "note": "entropy_rate_nats is the loss of a perfect model with unbounded context; \
                 target_loss_nats is the exact expected loss over positions 1.. of a document \
                 of doc_len tokens (the floor of a next-token model trained on these documents)",
    });
    let m = manifest_for(
        &tok,
        shards,
        val_fraction,
        seed,
        serde_json::json!({"made_by": "scalelab corpus synth"}),
        Some(synthetic),
    );
    m.save(out)?;
    Ok(m)
}
