//! Corpora: prepared token shards from text/JSONL/Parquet sources, the
//! synthetic language (with its exact entropy rate) and task data, and data
//! governance (dedup, contamination, statistics).
//!
//! Each workflow takes a request and returns a serde report; the ones that
//! take a while ([`prepare`], [`synth`]) report on a [`Progress`].

use crate::{Error, Progress, Result, Task};
use anyhow::Context;
use scalelab_corpus::contamination::{self, ContaminationReport, ItemOverlap};
use scalelab_corpus::dedup::{self, MinHashConfig};
use scalelab_corpus::manifest::{Manifest, TokenizerInfo};
use scalelab_corpus::prepare::{
    ensure_out_dir, manifest_for, prepare_with, write_language, write_shards, LanguageWrite,
    Planned, PrepareReport, Recipe, SourceEntry,
};
use scalelab_corpus::source::read_documents;
use scalelab_corpus::stats::{Stats, StatsBuilder};
use scalelab_corpus::synth::{
    generate_items, LanguageSpec, MixtureSpec, MixtureStream, TaskGenerator, UnifilarSource,
};
use scalelab_corpus::{ShardSet, Split, Tokenizer};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use scalelab_corpus::source::{BadInput, SourceOptions, TextSplit};
pub use scalelab_corpus::stats::Stats as CorpusStats;

/// Bounds of the corpus commands' sizes: far above any useful value, low
/// enough that a typo cannot exhaust memory or disk before failing.
pub const MAX_VOCAB_SIZE: usize = 1 << 20;
/// Tokens per synthetic document.
pub const MAX_DOC_LEN: usize = 1 << 20;
/// Tokens (or bytes) `corpus synth` writes.
pub const MAX_SYNTH_TOKENS: u64 = 1_000_000_000_000;
/// MinHash signature length.
pub const MAX_NUM_PERM: usize = 4096;
/// Words per shingle.
pub const MAX_SHINGLE: usize = 1024;
/// Items per task (`corpus tasks -n`, `eval -n`).
pub const MAX_ITEMS: usize = 10_000_000;

/// Refuses `v` above `max`, naming the flag and the bound.
fn check_at_least_one(flag: &str, v: usize) -> Result<()> {
    if v == 0 {
        return Err(Error::flag(
            flag,
            format!("{flag} must be at least 1, got 0"),
        ));
    }
    Ok(())
}

/// A Jaccard threshold is a similarity in (0, 1].
fn check_threshold(flag: &str, v: f64) -> Result<()> {
    if !(v > 0.0 && v <= 1.0) {
        return Err(Error::flag(
            flag,
            format!("{flag} is a Jaccard similarity in (0, 1], got {v}"),
        ));
    }
    Ok(())
}

pub(crate) fn check_at_most<T: PartialOrd + std::fmt::Display>(
    flag: &str,
    v: T,
    max: T,
) -> Result<()> {
    if v > max {
        return Err(Error::flag(
            flag,
            format!("{flag} must be at most {max}, got {v}"),
        ));
    }
    Ok(())
}

fn check_fraction(name: &str, v: f64) -> Result<()> {
    if !(0.0..1.0).contains(&v) {
        return Err(Error::flag(
            name,
            format!("{name} must be in [0, 1), got {v}"),
        ));
    }
    Ok(())
}

/// Whether `p` is a prepared corpus directory (it has a manifest).
pub fn is_prepared(p: &Path) -> bool {
    p.join(scalelab_corpus::manifest::MANIFEST).is_file()
}

// ---- prepare ---------------------------------------------------------------

/// Sources (or a recipe) to prepare as token shards. Fields given override
/// the recipe's tokenizer and split settings; without a recipe, the
/// filters and dedup fields make the recipe.
#[derive(Clone, Debug)]
pub struct PrepareRequest {
    /// Source files or directories (ignored with `recipe`).
    pub sources: Vec<PathBuf>,
    /// Output directory for shards and manifest.json.
    pub out: PathBuf,
    /// A TOML recipe (sources, weights, filters, dedup).
    pub recipe: Option<PathBuf>,
    /// `byte`, `bpe` or the path of a tokenizer.json.
    pub tokenizer: Option<String>,
    pub vocab_size: Option<usize>,
    pub val_fraction: Option<f64>,
    pub seed: Option<u64>,
    pub shard_tokens: Option<u64>,
    /// How sources are read.
    pub source: SourceOptions,
    pub min_chars: Option<usize>,
    pub max_chars: Option<usize>,
    pub max_symbol_ratio: Option<f64>,
    pub max_repeated_lines: Option<f64>,
    /// Keep exact duplicates (removed by default).
    pub keep_duplicates: bool,
    /// Also remove near duplicates (MinHash LSH).
    pub near_dedup: bool,
    /// Jaccard threshold for near duplicates.
    pub threshold: f64,
    /// Overwrite an existing prepared corpus in `out`.
    pub force: bool,
}

impl PrepareRequest {
    /// Sources into `out` with the defaults of `scalelab corpus prepare`.
    pub fn new(sources: Vec<PathBuf>, out: impl Into<PathBuf>) -> Self {
        PrepareRequest {
            sources,
            out: out.into(),
            recipe: None,
            tokenizer: None,
            vocab_size: None,
            val_fraction: None,
            seed: None,
            shard_tokens: None,
            source: SourceOptions::default(),
            min_chars: None,
            max_chars: None,
            max_symbol_ratio: None,
            max_repeated_lines: None,
            keep_duplicates: false,
            near_dedup: false,
            threshold: 0.8,
            force: false,
        }
    }

    /// The recipe the request makes.
    pub fn recipe(&self) -> Result<Recipe> {
        let mut r = match &self.recipe {
            Some(p) => Recipe::load(p)?,
            None => {
                if self.sources.is_empty() {
                    return Err(Error::flag(
                        "SOURCES",
                        "give source files/directories or --recipe FILE",
                    ));
                }
                let mut r = Recipe::single(self.sources[0].clone());
                let first = r.sources[0].clone();
                r.sources = self
                    .sources
                    .iter()
                    .map(|p| SourceEntry {
                        path: p.clone(),
                        text_field: self.source.text_field.clone(),
                        text_split: self.source.text_split,
                        ..first.clone()
                    })
                    .collect();
                r.on_bad = self.source.on_bad;
                r.filters.min_chars = self.min_chars;
                r.filters.max_chars = self.max_chars;
                r.filters.max_symbol_ratio = self.max_symbol_ratio;
                r.filters.max_repeated_lines = self.max_repeated_lines;
                r.dedup.exact = !self.keep_duplicates;
                r.dedup.near = self.near_dedup;
                check_threshold("--threshold", self.threshold)?;
                r.dedup.threshold = self.threshold;
                r
            }
        };
        if let Some(t) = &self.tokenizer {
            r.tokenizer = t.clone();
        }
        if let Some(v) = self.vocab_size {
            check_at_most("--vocab-size", v, MAX_VOCAB_SIZE)?;
            r.vocab_size = v;
        }
        if let Some(v) = self.val_fraction {
            check_fraction("--val-fraction", v)?;
            r.val_fraction = v;
        }
        if let Some(s) = self.seed {
            r.seed = s;
        }
        if let Some(s) = self.shard_tokens {
            r.shard_tokens = s;
        }
        Ok(r)
    }
}

/// A prepared corpus: the pipeline's report (its JSON), and whether near
/// duplicates were looked for.
#[derive(Clone, Debug)]
pub struct Prepared {
    pub report: PrepareReport,
    pub near_dedup: bool,
}

/// Reads, filters, deduplicates, splits and tokenizes the sources into
/// shards in `req.out`, with a manifest recording all of it.
pub fn prepare(req: &PrepareRequest, progress: &dyn Progress) -> Result<Prepared> {
    let r = req.recipe()?;
    let report = prepare_with(&r, &req.out, req.force, progress)?;
    Ok(Prepared {
        report,
        near_dedup: r.dedup.near,
    })
}

// ---- synth -----------------------------------------------------------------

/// The synthetic language (or a mixture of it with task data) to write.
#[derive(Clone, Debug)]
pub struct SynthRequest {
    /// Output directory (not needed for `info`).
    pub out: Option<PathBuf>,
    /// Language spec (key=value list) or `default`.
    pub language: String,
    /// Tokens (language) or bytes (mixture) to write, about.
    pub tokens: u64,
    /// Tokens per language document.
    pub doc_len: usize,
    /// Mixture of `lang` and tasks with weights.
    pub mix: Option<String>,
    pub val_fraction: f64,
    pub seed: u64,
    /// Only compute the language's entropy rate and floors; write nothing.
    pub info: bool,
    /// Overwrite an existing corpus in `out`.
    pub force: bool,
}

impl Default for SynthRequest {
    fn default() -> Self {
        SynthRequest {
            out: None,
            language: "default".into(),
            tokens: 1_000_000,
            doc_len: 257,
            mix: None,
            val_fraction: 0.05,
            seed: 0,
            info: false,
            force: false,
        }
    }
}

/// The synthetic language's exact quantities.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LanguageInfo {
    pub spec: String,
    pub vocab: u32,
    pub states: usize,
    pub entropy_rate_nats: f64,
    pub entropy_rate_bits: f64,
    pub doc_len: usize,
    /// The exact expected loss over positions 1.. of a document.
    pub target_loss_nats: f64,
}

/// A written synthetic-language corpus.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LanguageWritten {
    pub out: PathBuf,
    pub train_tokens: u64,
    pub val_tokens: u64,
    pub synthetic: Option<Value>,
}

/// Documents and bytes of one component of a mixture.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ComponentCount {
    pub docs: u64,
    pub bytes: u64,
}

/// What [`synth`] did.
#[derive(Clone, Debug)]
pub enum Synthesized {
    /// `info`: nothing written.
    Info(LanguageInfo),
    /// The language alone (`floor_nats`: the floor on these documents).
    Language {
        info: LanguageInfo,
        written: LanguageWritten,
        floor_nats: f64,
    },
    /// A mixture, byte tokens.
    Mixture {
        out: PathBuf,
        mix: String,
        manifest: Box<Manifest>,
        components: BTreeMap<String, ComponentCount>,
    },
}

fn language_info(spec: &LanguageSpec, src: &UnifilarSource, doc_len: usize) -> LanguageInfo {
    LanguageInfo {
        spec: spec.to_string(),
        vocab: src.vocab(),
        states: src.num_states(),
        entropy_rate_nats: src.entropy_rate(),
        entropy_rate_bits: src.entropy_rate() / std::f64::consts::LN_2,
        doc_len,
        target_loss_nats: src.window_entropy_from(1, doc_len.max(2)),
    }
}

/// Writes the synthetic language (or a mixture) as token shards, or only
/// describes the language (`info`).
pub fn synth(req: &SynthRequest, progress: &dyn Progress) -> Result<Synthesized> {
    check_at_most("--doc-len", req.doc_len, MAX_DOC_LEN)?;
    check_at_most("--tokens", req.tokens, MAX_SYNTH_TOKENS)?;
    let spec = LanguageSpec::parse(&req.language).context("--language")?;
    let src = Arc::new(spec.build()?);
    check_fraction("--val-fraction", req.val_fraction)?;
    let info = language_info(&spec, &src, req.doc_len);
    if req.info {
        return Ok(Synthesized::Info(info));
    }
    let out = req.out.as_deref().ok_or_else(|| {
        Error::flag(
            "--out",
            "--out DIR is required (or --info to only print the entropy rate)",
        )
    })?;
    ensure_out_dir(out, req.force)?;
    match &req.mix {
        None => {
            let m = write_language(
                &src,
                &spec.to_string(),
                out,
                &LanguageWrite {
                    tokens: req.tokens,
                    doc_len: req.doc_len,
                    val_fraction: req.val_fraction,
                    seed: req.seed,
                },
                progress,
            )?;
            Ok(Synthesized::Language {
                floor_nats: src.window_entropy_from(1, req.doc_len),
                info,
                written: LanguageWritten {
                    out: out.to_path_buf(),
                    train_tokens: m.train_tokens,
                    val_tokens: m.val_tokens,
                    synthetic: m.synthetic,
                },
            })
        }
        Some(mix) => {
            let mspec = MixtureSpec::parse(mix).context("--mix")?;
            let mut stream = MixtureStream::new(mspec.clone(), src.clone(), req.doc_len, req.seed);
            let mut planned = Vec::new();
            let mut bytes = 0u64;
            let mut per_source: BTreeMap<String, ComponentCount> = BTreeMap::new();
            while bytes < req.tokens {
                let d = stream.next_doc();
                bytes += d.text.len() as u64;
                let e = per_source.entry(d.source.clone()).or_default();
                e.docs += 1;
                e.bytes += d.text.len() as u64;
                let u =
                    scalelab_corpus::hash::combine(planned.len() as u64, req.seed ^ 0x5b1f) >> 11;
                let split = if (u as f64 / (1u64 << 53) as f64) < req.val_fraction {
                    Split::Val
                } else {
                    Split::Train
                };
                planned.push(Planned {
                    text: d.text,
                    split,
                    copies: 1,
                });
            }
            let tok = Tokenizer::Byte;
            let (shards, _) = write_shards(&planned, &tok, out, 1 << 27, progress)?;
            let synthetic = serde_json::json!({
                "kind": "mixture",
                "mix": mix,
                "language": info,
                "components": per_source,
                "note": "language documents are rendered one character per token, so their \
                         entropy per byte equals the language's entropy per token",
            });
            let m = manifest_for(
                &tok,
                shards,
                req.val_fraction,
                req.seed,
                serde_json::json!({"made_by": "scalelab corpus synth --mix"}),
                Some(synthetic),
            );
            m.save(out)?;
            Ok(Synthesized::Mixture {
                out: out.to_path_buf(),
                mix: mix.clone(),
                manifest: Box::new(m),
                components: per_source,
            })
        }
    }
}

// ---- tasks -----------------------------------------------------------------

/// Evaluation items of ability tasks.
#[derive(Clone, Debug)]
pub struct TasksRequest {
    /// Task specs, e.g. `add:1-5`, `needle:16-256`.
    pub tasks: Vec<String>,
    /// Items per task.
    pub n: usize,
    pub seed: u64,
    /// Output JSONL file (`None`: only returned).
    pub out: Option<PathBuf>,
}

impl Default for TasksRequest {
    /// No tasks yet, 100 items each, seed 0, not written.
    fn default() -> Self {
        TasksRequest {
            tasks: Vec::new(),
            n: 100,
            seed: 0,
            out: None,
        }
    }
}

/// The schema of [`TasksWritten`] (`scalelab corpus tasks --json`).
pub const TASKS_SCHEMA: &str = "scalelab.tasks/1";

/// What [`tasks_written`] generated (`scalelab corpus tasks --json`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TasksWritten {
    /// Always [`TASKS_SCHEMA`].
    pub schema: &'static str,
    /// The JSONL file written, if any.
    pub out: Option<PathBuf>,
    /// Items generated, over all tasks.
    pub items: usize,
    /// Items per task spec, in the order given.
    pub tasks: Vec<TaskCount>,
    pub seed: u64,
}

/// The items of one task spec.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TaskCount {
    pub spec: String,
    pub items: usize,
}

/// The items as JSONL (one object a line, with its `task`); written to
/// `req.out` when given.
pub fn tasks(req: &TasksRequest) -> Result<String> {
    tasks_written(req).map(|(text, _)| text)
}

/// [`tasks`], with what was generated and written.
pub fn tasks_written(req: &TasksRequest) -> Result<(String, TasksWritten)> {
    check_at_most("-n", req.n, MAX_ITEMS)?;
    let gens = req
        .tasks
        .iter()
        .map(|t| TaskGenerator::parse(t))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut text = String::new();
    let mut counts = Vec::new();
    for (i, g) in gens.iter().enumerate() {
        let items = generate_items(g, req.seed.wrapping_add(i as u64), req.n);
        counts.push(TaskCount {
            spec: req.tasks[i].clone(),
            items: items.len(),
        });
        for it in items {
            let mut v = serde_json::to_value(&it).map_err(anyhow::Error::from)?;
            v["task"] = Value::String(it.meta.task.clone());
            text.push_str(&v.to_string());
            text.push('\n');
        }
    }
    if let Some(p) = &req.out {
        scalelab_common::write_atomic(p, text.as_bytes())
            .map_err(|e| Error::io("cannot write", p, e))?;
    }
    let written = TasksWritten {
        schema: TASKS_SCHEMA,
        out: req.out.clone(),
        items: counts.iter().map(|c| c.items).sum(),
        tasks: counts,
        seed: req.seed,
    };
    Ok((text, written))
}

// ---- stats -----------------------------------------------------------------

/// Statistics of a prepared directory or of raw sources.
#[derive(Clone, Debug)]
pub struct StatsRequest {
    /// A prepared directory, or source files/directories.
    pub paths: Vec<PathBuf>,
    /// Tokenizer for raw sources: `byte` or a tokenizer.json.
    pub tokenizer: String,
    pub source: SourceOptions,
}

impl Default for StatsRequest {
    /// No paths yet, byte tokens, the default source options.
    fn default() -> Self {
        StatsRequest {
            paths: Vec::new(),
            tokenizer: "byte".into(),
            source: SourceOptions::default(),
        }
    }
}

/// Statistics of a prepared directory, per split.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PreparedStats {
    /// The directory.
    #[serde(skip)]
    pub path: PathBuf,
    pub train: Stats,
    pub val: Stats,
    pub tokenizer: TokenizerInfo,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synthetic: Option<Value>,
}

impl PreparedStats {
    /// The true entropy rate of a synthetic corpus.
    pub fn entropy_rate_nats(&self) -> Option<&Value> {
        self.synthetic
            .as_ref()
            .and_then(|s| s.get("entropy_rate_nats"))
    }
}

/// Statistics of raw sources, tokenized on the fly.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SourceStats {
    pub bytes: u64,
    pub stats: Stats,
    /// The tokenizer's kind.
    #[serde(skip)]
    pub tokenizer: String,
}

/// What [`stats`] found.
#[derive(Clone, Debug, PartialEq)]
pub enum StatsReport {
    Prepared(Box<PreparedStats>),
    Sources(SourceStats),
}

fn load_tokenizer(name: &str) -> Result<Tokenizer> {
    match name {
        "byte" => Ok(Tokenizer::Byte),
        p => Ok(Tokenizer::load(Path::new(p)).context("--tokenizer")?),
    }
}

/// Documents, tokens, duplicates and unigram entropy. Progress counts the
/// documents read.
pub fn stats(req: &StatsRequest, progress: &dyn Progress) -> Result<StatsReport> {
    if req.paths.is_empty() {
        return Err(Error::flag(
            "PATHS",
            "give a prepared directory or source files",
        ));
    }
    if req.paths.len() == 1 && is_prepared(&req.paths[0]) {
        let set = ShardSet::open(&req.paths[0])?;
        let m = set.manifest();
        let task = Task::begin(progress, "reading", Some(m.train_docs + m.val_docs), "docs");
        let split_stats = |split| {
            let mut b = StatsBuilder::default();
            for d in set.documents(split) {
                b.add(&d);
                task.inc(1);
            }
            b.finish()
        };
        let train = split_stats(Split::Train);
        let val = split_stats(Split::Val);
        drop(task);
        return Ok(StatsReport::Prepared(Box::new(PreparedStats {
            path: req.paths[0].clone(),
            train,
            val,
            tokenizer: m.tokenizer.clone(),
            synthetic: m.synthetic.clone(),
        })));
    }
    let tok = load_tokenizer(&req.tokenizer)?;
    let mut b = StatsBuilder::default();
    let mut bytes = 0u64;
    let mut skipped = 0;
    let task = Task::begin(progress, "reading", None, "docs");
    for p in &req.paths {
        let r = read_documents(p, &req.source, |d| {
            bytes += d.text.len() as u64;
            b.add(&tok.encode(&d.text)?);
            task.inc(1);
            Ok(())
        })?;
        skipped += r.skipped_bad;
    }
    drop(task);
    let s = b.finish();
    if s.documents == 0 {
        return Err(Error::failed(format!(
            "the corpus is empty ({skipped} documents skipped for bad UTF-8/JSON)"
        )));
    }
    Ok(StatsReport::Sources(SourceStats {
        bytes,
        stats: s,
        tokenizer: tok.kind().to_string(),
    }))
}

// ---- contamination ---------------------------------------------------------

/// Evaluation items against training data.
#[derive(Clone, Debug)]
pub struct ContaminationRequest {
    /// Evaluation items (JSONL).
    pub eval: PathBuf,
    /// Training data: a prepared directory (its training split, decoded)
    /// or sources.
    pub train: PathBuf,
    /// n-gram length in words.
    pub n: usize,
    pub source: SourceOptions,
}

impl ContaminationRequest {
    /// `eval` against `train` with 13-word n-grams.
    pub fn new(eval: impl Into<PathBuf>, train: impl Into<PathBuf>) -> Self {
        ContaminationRequest {
            eval: eval.into(),
            train: train.into(),
            n: 13,
            source: SourceOptions::default(),
        }
    }
}

/// N-gram overlap between the items and the training data, per task and
/// item. Progress counts the training documents read, then the matching.
pub fn contamination(
    req: &ContaminationRequest,
    progress: &dyn Progress,
) -> Result<ContaminationReport> {
    let items = contamination::load_items(&req.eval)?;
    let mut texts = Vec::new();
    if is_prepared(&req.train) {
        let set = ShardSet::open(&req.train)?;
        let tok = set.tokenizer()?;
        let task = Task::begin(progress, "reading", Some(set.manifest().train_docs), "docs");
        for d in set.documents(Split::Train) {
            texts.push(tok.decode(&d)?);
            task.inc(1);
        }
    } else {
        let task = Task::begin(progress, "reading", None, "docs");
        read_documents(&req.train, &req.source, |d| {
            texts.push(d.text);
            task.inc(1);
            Ok(())
        })?;
    }
    let task = Task::begin(progress, "matching n-grams", None, "");
    let rep = contamination::check(&items, texts.into_iter(), req.n);
    drop(task);
    Ok(rep)
}

/// The `top` items with the largest overlap (contaminated ones only).
pub fn most_contaminated(rep: &ContaminationReport, top: usize) -> Vec<&ItemOverlap> {
    let mut worst: Vec<_> = rep.items.iter().filter(|i| i.matched > 0).collect();
    worst.sort_by(|x, y| y.overlap.total_cmp(&x.overlap));
    worst.truncate(top);
    worst
}

// ---- dedup -----------------------------------------------------------------

/// Exact and near duplicates in sources.
#[derive(Clone, Debug)]
pub struct DedupRequest {
    pub sources: Vec<PathBuf>,
    /// Jaccard threshold for near duplicates.
    pub threshold: f64,
    /// MinHash signature length.
    pub num_perm: usize,
    /// Words per shingle.
    pub shingle: usize,
    /// Only exact duplicates.
    pub exact_only: bool,
    /// Write the kept documents as JSONL (`{"text": ...}`).
    pub out: Option<PathBuf>,
    pub source: SourceOptions,
}

impl Default for DedupRequest {
    /// No sources yet; Jaccard 0.8, 128 permutations, 5-word shingles.
    fn default() -> Self {
        DedupRequest {
            sources: Vec::new(),
            threshold: 0.8,
            num_perm: 128,
            shingle: 5,
            exact_only: false,
            out: None,
            source: SourceOptions::default(),
        }
    }
}

/// A document found to duplicate an earlier one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Duplicate {
    pub document: String,
    pub duplicate_of: String,
    /// `exact` or `near`.
    pub kind: String,
}

/// What [`dedup`] found (the JSON of `scalelab corpus dedup --json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DedupReport {
    pub documents: usize,
    pub exact_duplicates: usize,
    pub near_duplicates: usize,
    pub kept: usize,
    pub duplicates: Vec<Duplicate>,
}

/// Finds exact and (unless `exact_only`) near duplicates; the first
/// occurrence is kept. Writes the kept documents to `req.out` when given.
/// Progress counts the documents read, then the deduplication.
pub fn dedup(req: &DedupRequest, progress: &dyn Progress) -> Result<DedupReport> {
    check_at_most("--num-perm", req.num_perm, MAX_NUM_PERM)?;
    check_at_most("--shingle", req.shingle, MAX_SHINGLE)?;
    check_at_least_one("--num-perm", req.num_perm)?;
    check_at_least_one("--shingle", req.shingle)?;
    check_threshold("--threshold", req.threshold)?;
    let mut texts = Vec::new();
    let mut origins = Vec::new();
    let mut skipped = 0;
    let task = Task::begin(progress, "reading", None, "docs");
    for p in &req.sources {
        let r = read_documents(p, &req.source, |d| {
            texts.push(d.text);
            origins.push(d.origin);
            task.inc(1);
            Ok(())
        })?;
        skipped += r.skipped_bad;
    }
    drop(task);
    let _dedup_task = Task::begin(progress, "deduplicating", None, "");
    if texts.is_empty() {
        return Err(Error::failed(format!(
            "the corpus is empty ({skipped} documents skipped for bad UTF-8/JSON)"
        )));
    }
    let exact = dedup::exact_duplicates(&texts);
    let mut keep: Vec<bool> = exact.iter().map(|d| d.is_none()).collect();
    let mut dup_of: Vec<Option<(usize, &str)>> =
        exact.iter().map(|d| d.map(|j| (j, "exact"))).collect();
    let mut near_removed = 0;
    if !req.exact_only {
        let idx: Vec<usize> = (0..texts.len()).filter(|&i| keep[i]).collect();
        let subset: Vec<&str> = idx.iter().map(|&i| texts[i].as_str()).collect();
        let res = dedup::near_duplicates(
            &subset,
            MinHashConfig {
                num_perm: req.num_perm,
                shingle: req.shingle,
                threshold: req.threshold,
                seed: 1,
            },
        );
        for (k, d) in res.duplicate_of.iter().enumerate() {
            if let Some(j) = d {
                keep[idx[k]] = false;
                dup_of[idx[k]] = Some((idx[*j], "near"));
                near_removed += 1;
            }
        }
    }
    let exact_removed = exact.iter().filter(|d| d.is_some()).count();
    if let Some(out) = &req.out {
        let mut s = String::new();
        for (i, t) in texts.iter().enumerate() {
            if keep[i] {
                s.push_str(&serde_json::json!({ "text": t }).to_string());
                s.push('\n');
            }
        }
        scalelab_common::write_atomic(out, s.as_bytes())
            .map_err(|e| Error::io("cannot write", out, e))?;
    }
    let duplicates = dup_of
        .iter()
        .enumerate()
        .filter_map(|(i, d)| {
            d.map(|(j, kind)| Duplicate {
                document: origins[i].clone(),
                duplicate_of: origins[j].clone(),
                kind: kind.to_string(),
            })
        })
        .collect();
    Ok(DedupReport {
        documents: texts.len(),
        exact_duplicates: exact_removed,
        near_duplicates: near_removed,
        kept: keep.iter().filter(|k| **k).count(),
        duplicates,
    })
}

// ---- bench -----------------------------------------------------------------

/// Throughputs of tokenizing/sharding and MinHash on generated documents.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    pub documents: usize,
    pub megabytes: f64,
    pub threads: usize,
    pub byte_tokenize_shard_mb_per_s: f64,
    pub byte_prepare_total_s: f64,
    pub bpe_tokenize_shard_mb_per_s: f64,
    pub bpe_prepare_total_s: f64,
    pub minhash_lsh_1thread_s: f64,
    pub minhash_lsh_1thread_docs_per_s: f64,
    pub minhash_lsh_1thread_mb_per_s: f64,
    pub minhash_lsh_all_threads_s: f64,
    pub minhash_lsh_all_threads_mb_per_s: f64,
    pub near_duplicates_removed: usize,
    pub candidates: usize,
}

/// Generated benchmark documents: random words, 10% exact and 10% near
/// duplicates.
fn bench_docs(n: usize) -> Vec<String> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2024);
    let words: Vec<String> = (0..20000)
        .map(|i| {
            let len = 2 + (i % 9);
            (0..len)
                .map(|k| (b'a' + ((i * 7 + k * 13) % 26) as u8) as char)
                .collect::<String>()
                + &i.to_string()
        })
        .collect();
    let base = n * 8 / 10;
    let mut docs: Vec<String> = (0..base)
        .map(|_| {
            let len = rng.gen_range(100..400);
            (0..len)
                .map(|_| words[rng.gen_range(0..words.len())].as_str())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    while docs.len() < n {
        let src = rng.gen_range(0..base);
        if docs.len().is_multiple_of(2) {
            docs.push(docs[src].clone());
        } else {
            let mut w: Vec<String> = docs[src].split(' ').map(String::from).collect();
            for _ in 0..(w.len() / 100).max(1) {
                let i = rng.gen_range(0..w.len());
                w[i] = format!("edited{i}");
            }
            docs.push(w.join(" "));
        }
    }
    docs
}

/// Writes `docs` generated documents to `dir/bench_docs.jsonl`, and (unless
/// `generate_only`) times preparing them (byte and BPE) and MinHash LSH on
/// one thread and on all.
pub fn bench(docs: usize, dir: &Path, generate_only: bool) -> Result<Option<BenchReport>> {
    use std::time::Instant;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let docs = bench_docs(docs);
    let jsonl = dir.join("bench_docs.jsonl");
    let mut s = String::new();
    for d in &docs {
        s.push_str(&serde_json::json!({ "text": d }).to_string());
        s.push('\n');
    }
    scalelab_common::write_atomic(&jsonl, s.as_bytes())
        .map_err(|e| Error::io("cannot write", &jsonl, e))?;
    if generate_only {
        return Ok(None);
    }
    let bytes: u64 = docs.iter().map(|d| d.len() as u64).sum();
    let mb = bytes as f64 / 1e6;
    // tokenizing + sharding (byte and BPE), end to end from the JSONL file
    let prep = |tk: &str| -> Result<(f64, f64)> {
        let mut r = Recipe::single(jsonl.clone());
        r.tokenizer = tk.into();
        r.vocab_size = 4096;
        r.dedup.exact = false;
        let out = dir.join(format!("shards-{tk}"));
        let rep = prepare_with(&r, &out, true, &crate::Silent)?;
        Ok((
            rep.bytes_tokenized as f64 / 1e6 / rep.tokenize_seconds,
            rep.seconds,
        ))
    };
    let (byte_mbs, byte_s) = prep("byte")?;
    let (bpe_mbs, bpe_s) = prep("bpe")?;
    // MinHash signatures + LSH, single thread and all threads
    let cfg = MinHashConfig::default();
    let hasher = dedup::MinHasher::new(cfg);
    let pool1 = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .map_err(anyhow::Error::from)?;
    let t = Instant::now();
    let (removed1, cands) = pool1.install(|| {
        let sigs = dedup::signatures(&hasher, &docs);
        let res = dedup::near_duplicates_of_signatures(&sigs, cfg.threshold);
        (res.removed(), res.candidates)
    });
    let s1 = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let sigs = dedup::signatures(&hasher, &docs);
    let res = dedup::near_duplicates_of_signatures(&sigs, cfg.threshold);
    let sn = t.elapsed().as_secs_f64();
    debug_assert_eq!(removed1, res.removed());
    Ok(Some(BenchReport {
        documents: docs.len(),
        megabytes: mb,
        threads: rayon::current_num_threads(),
        byte_tokenize_shard_mb_per_s: byte_mbs,
        byte_prepare_total_s: byte_s,
        bpe_tokenize_shard_mb_per_s: bpe_mbs,
        bpe_prepare_total_s: bpe_s,
        minhash_lsh_1thread_s: s1,
        minhash_lsh_1thread_docs_per_s: docs.len() as f64 / s1,
        minhash_lsh_1thread_mb_per_s: mb / s1,
        minhash_lsh_all_threads_s: sn,
        minhash_lsh_all_threads_mb_per_s: mb / sn,
        near_duplicates_removed: res.removed(),
        candidates: cands,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts the documents a workflow reports reading, per task label.
    #[derive(Default)]
    struct Counts(std::sync::Mutex<Vec<(String, u64)>>);
    impl Progress for Counts {
        fn event(&self, e: &crate::Event<'_>) {
            let mut v = self.0.lock().unwrap();
            match e {
                crate::Event::Begin { label, .. } => v.push((label.to_string(), 0)),
                crate::Event::Advance { done, .. } => {
                    if let Some(last) = v.last_mut() {
                        last.1 = *done;
                    }
                }
                _ => {}
            }
        }
    }

    /// stats, contamination and dedup report their reading as progress
    /// (one unit a document), then their own work.
    #[test]
    fn stats_contamination_and_dedup_report_progress() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("docs.jsonl");
        let mut text = String::new();
        for i in 0..5 {
            text.push_str(&format!(
                "{{\"text\": \"document {i}: the quick brown fox jumps over the lazy dog {i}\"}}\n"
            ));
        }
        std::fs::write(&src, text).unwrap();
        let c = Counts::default();
        stats(
            &StatsRequest {
                paths: vec![src.clone()],
                tokenizer: "byte".into(),
                source: SourceOptions::default(),
            },
            &c,
        )
        .unwrap();
        assert_eq!(
            c.0.lock().unwrap().as_slice(),
            &[("reading".to_string(), 5)]
        );
        let c = Counts::default();
        dedup(
            &DedupRequest {
                sources: vec![src.clone()],
                threshold: 0.8,
                num_perm: 32,
                shingle: 3,
                exact_only: false,
                out: None,
                source: SourceOptions::default(),
            },
            &c,
        )
        .unwrap();
        let v = c.0.lock().unwrap().clone();
        assert_eq!(v[0], ("reading".to_string(), 5), "{v:?}");
        assert_eq!(v[1].0, "deduplicating", "{v:?}");
        let items = dir.path().join("items.jsonl");
        std::fs::write(
            &items,
            tasks(&TasksRequest {
                tasks: vec!["add:1".into()],
                n: 2,
                seed: 0,
                out: None,
            })
            .unwrap(),
        )
        .unwrap();
        let c = Counts::default();
        contamination(&ContaminationRequest::new(&items, &src), &c).unwrap();
        let v = c.0.lock().unwrap().clone();
        assert_eq!(v[0], ("reading".to_string(), 5), "{v:?}");
        assert_eq!(v[1].0, "matching n-grams", "{v:?}");
    }

    #[test]
    fn tasks_are_jsonl_with_their_task_and_deterministic() {
        let req = TasksRequest {
            tasks: vec!["add:1-2".into()],
            n: 3,
            seed: 5,
            out: None,
        };
        let a = tasks(&req).unwrap();
        assert_eq!(a.lines().count(), 3);
        for l in a.lines() {
            let v: Value = serde_json::from_str(l).unwrap();
            assert!(v["task"].is_string(), "{l}");
        }
        assert_eq!(a, tasks(&req).unwrap());
    }

    #[test]
    fn a_bad_fraction_names_its_flag() {
        let e = synth(
            &SynthRequest {
                val_fraction: 1.5,
                info: true,
                ..SynthRequest::default()
            },
            &crate::Silent,
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("--val-fraction must be in [0, 1)"),
            "{e}"
        );
    }
}
