//! `scalelab corpus`: corpora, tokenizers and data governance.
use anyhow::{bail, Context, Result};
use clap::{Subcommand, ValueEnum};
use scalelab_corpus::contamination;
use scalelab_corpus::dedup::{self, MinHashConfig};
use scalelab_corpus::prepare::{
    ensure_out_dir, manifest_for, prepare, write_language, write_shards, LanguageWrite, Planned,
    Recipe,
};
use scalelab_corpus::source::{read_documents, BadInput, SourceOptions, TextSplit};
use scalelab_corpus::stats::StatsBuilder;
use scalelab_corpus::synth::{
    generate_items, LanguageSpec, MixtureSpec, MixtureStream, TaskGenerator,
};
use scalelab_corpus::{ShardSet, Split, Tokenizer};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Prepare corpora (real or synthetic) as token shards, and check them.
///
/// A prepared corpus is a directory of binary token shards
/// (`train_00000.bin`, `val_00000.bin`, …) plus `manifest.json`, which
/// records the tokenizer, the split, the recipe and what filtering and
/// deduplication removed. `scalelab train --data DIR` reads it.
///
/// Typical use:
///
///   scalelab corpus synth --out data/synth --tokens 5000000
///   scalelab corpus prepare corpus.jsonl --out data/web --tokenizer bpe --vocab-size 4096
///   scalelab corpus stats data/web
///   scalelab corpus contamination evals.jsonl data/web
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    Prepare(Box<PrepareArgs>),
    Synth(Box<SynthArgs>),
    Tasks(Box<TasksArgs>),
    Stats(Box<StatsArgs>),
    Contamination(Box<ContamArgs>),
    Dedup(Box<DedupArgs>),
    #[command(hide = true)]
    Bench(Box<BenchArgs>),
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum SplitArg {
    File,
    Line,
    Paragraph,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum OnBad {
    /// Stop with an error naming the file and byte offset.
    Fail,
    /// Skip the document and report how many were skipped.
    Skip,
}

#[derive(clap::Args, Debug, Clone)]
struct SourceArgs {
    /// JSONL field or Parquet column holding the text.
    #[arg(long, default_value = "text")]
    text_field: String,
    /// How plain-text files become documents.
    #[arg(long, value_enum, default_value = "file")]
    text_split: SplitArg,
    /// Invalid UTF-8 or JSON: fail (default) or skip the document.
    #[arg(long, value_enum, default_value = "fail")]
    on_bad: OnBad,
}

impl SourceArgs {
    fn options(&self) -> SourceOptions {
        SourceOptions {
            text_field: self.text_field.clone(),
            text_split: match self.text_split {
                SplitArg::File => TextSplit::File,
                SplitArg::Line => TextSplit::Line,
                SplitArg::Paragraph => TextSplit::Paragraph,
            },
            on_bad: match self.on_bad {
                OnBad::Fail => BadInput::Fail,
                OnBad::Skip => BadInput::Skip,
            },
        }
    }
}

/// Tokenize text, JSONL or Parquet sources into token shards, applying
/// filters, dedup, the split and mixture weights, and recording them.
///
/// Sources are files or directories (searched recursively for .txt, .md,
/// .jsonl and .parquet). Alternatively a TOML recipe names several sources
/// with mixture weights, filters and dedup settings:
///
///   tokenizer = "bpe"        # byte | bpe | path/to/tokenizer.json
///   vocab_size = 4096
///   val_fraction = 0.01
///   [[sources]]
///   path = "web.jsonl"
///   weight = 1.0             # 2.5 = every document 2 or 3 times
///   [[sources]]
///   path = "books/"
///   weight = 0.5             # half of the documents
///   [filters]
///   min_chars = 200
///   max_symbol_ratio = 0.3
///   [dedup]
///   exact = true
///   near = true
///   threshold = 0.8
///
/// The validation split is chosen per document from a hash of its text, so it
/// is disjoint from training and the same on every re-run.
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
struct PrepareArgs {
    /// Source files or directories (ignored with --recipe).
    sources: Vec<PathBuf>,
    /// Output directory for shards and manifest.json.
    #[arg(long, short)]
    out: PathBuf,
    /// A TOML recipe (sources, weights, filters, dedup); flags below override
    /// the recipe's tokenizer and split settings when given.
    #[arg(long)]
    recipe: Option<PathBuf>,
    /// `byte` (vocabulary 256), `bpe` (train byte-level BPE on the training
    /// split) or the path of a tokenizer.json.
    #[arg(long)]
    tokenizer: Option<String>,
    /// Vocabulary size when training BPE.
    #[arg(long)]
    vocab_size: Option<usize>,
    /// Fraction of documents held out for validation.
    #[arg(long)]
    val_fraction: Option<f64>,
    /// Seed of the split and of fractional weights.
    #[arg(long)]
    seed: Option<u64>,
    /// Maximum tokens per shard file.
    #[arg(long)]
    shard_tokens: Option<u64>,
    #[command(flatten)]
    source: SourceArgs,
    /// Drop documents shorter than this many characters.
    #[arg(long)]
    min_chars: Option<usize>,
    /// Drop documents longer than this many characters.
    #[arg(long)]
    max_chars: Option<usize>,
    /// Drop documents whose share of symbol characters exceeds this.
    #[arg(long)]
    max_symbol_ratio: Option<f64>,
    /// Drop documents whose share of repeated lines exceeds this.
    #[arg(long)]
    max_repeated_lines: Option<f64>,
    /// Keep exact duplicates (they are removed by default).
    #[arg(long)]
    keep_duplicates: bool,
    /// Also remove near duplicates (MinHash LSH).
    #[arg(long)]
    near_dedup: bool,
    /// Jaccard threshold for near duplicates.
    #[arg(long, default_value_t = 0.8)]
    threshold: f64,
    /// Overwrite an existing prepared corpus in --out.
    #[arg(long)]
    force: bool,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

/// Write the synthetic language (exact entropy rate reported) or a mixture
/// with task data as token shards.
///
/// Without --mix: the synthetic language, one token per symbol (vocabulary
/// from the spec, 64 by default), in documents of --doc-len tokens that each
/// start from the language's start state. The exact entropy rate (the loss of
/// a perfect model) and the exact floor for models trained on these documents
/// are printed and stored in manifest.json.
///
/// Language spec keys (defaults): vocab=64, topics=8, states=32, branch=4,
/// topic_share=0.5, switch=0.02, sharpness=1.5, seed=0.
///
/// With --mix: text documents from a weighted mixture, tokenized byte-level,
/// e.g. --mix "lang=0.7,add:1-4:steps=0.1,needle:8-64=0.1,multihop:1-3=0.05,induction:2-6=0.05".
/// Language documents are rendered one character per token.
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
struct SynthArgs {
    /// Output directory.
    #[arg(long, short)]
    out: Option<PathBuf>,
    /// Language spec (key=value list, see above) or `default`.
    #[arg(long, default_value = "default")]
    language: String,
    /// Tokens to write (language) or bytes to write (mixture), about.
    #[arg(long, default_value_t = 1_000_000)]
    tokens: u64,
    /// Tokens per language document.
    #[arg(long, default_value_t = 257)]
    doc_len: usize,
    /// Mixture of `lang` and tasks with weights (see above).
    #[arg(long)]
    mix: Option<String>,
    /// Fraction of documents held out for validation.
    #[arg(long, default_value_t = 0.05)]
    val_fraction: f64,
    /// Seed of the samples (the language's tables use the spec's seed).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Only print the language's entropy rate and floors; write nothing.
    #[arg(long)]
    info: bool,
    /// Overwrite an existing corpus in --out.
    #[arg(long)]
    force: bool,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

/// Generate evaluation items of ability tasks as JSONL (prompt, target,
/// answer, task, difficulty, reasoning type).
///
/// Tasks (difficulty range in brackets): add:LO-HI[:steps] and
/// mul:LO-HI[:steps] (digits), needle:LO-HI (key-value records in the
/// haystack), multihop:LO-HI (hops), induction:LO-HI (shots).
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
struct TasksArgs {
    /// Task specs, e.g. add:1-5 needle:16-256.
    #[arg(required = true)]
    tasks: Vec<String>,
    /// Items per task.
    #[arg(long, short, default_value_t = 100)]
    n: usize,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output JSONL file (stdout when absent).
    #[arg(long, short)]
    out: Option<PathBuf>,
}

/// Documents, tokens, duplicates and unigram entropy of a prepared
/// directory (per split) or of raw sources (tokenized on the fly).
#[derive(clap::Args, Debug)]
struct StatsArgs {
    /// A prepared directory, or source files/directories.
    paths: Vec<PathBuf>,
    /// Tokenizer for raw sources: byte or a tokenizer.json.
    #[arg(long, default_value = "byte")]
    tokenizer: String,
    #[command(flatten)]
    source: SourceArgs,
    /// Print as JSON.
    #[arg(long)]
    json: bool,
}

/// N-gram overlap between evaluation items and training data, per task and
/// item.
///
/// EVAL is a JSONL file of items with `prompt` and `target` (or `text`), and
/// optionally `id` and `task` (as written by `scalelab corpus tasks`). TRAIN
/// is a prepared directory (its training split is decoded with its own
/// tokenizer) or source files. An item counts as contaminated when any of its
/// word n-grams occurs in training data (items shorter than n words must occur
/// whole).
#[derive(clap::Args, Debug)]
struct ContamArgs {
    /// Evaluation items (JSONL).
    eval: PathBuf,
    /// Training data: prepared directory or sources.
    train: PathBuf,
    /// n-gram length in words.
    #[arg(long, short, default_value_t = 13)]
    n: usize,
    /// Print the most contaminated items (human output).
    #[arg(long, default_value_t = 10)]
    top: usize,
    #[command(flatten)]
    source: SourceArgs,
    /// Print the full per-item report as JSON.
    #[arg(long)]
    json: bool,
}

/// Find exact and near (MinHash LSH) duplicates in sources; optionally
/// write the deduplicated documents.
#[derive(clap::Args, Debug)]
struct DedupArgs {
    /// Source files or directories.
    #[arg(required = true)]
    sources: Vec<PathBuf>,
    /// Jaccard threshold for near duplicates.
    #[arg(long, default_value_t = 0.8)]
    threshold: f64,
    /// MinHash signature length.
    #[arg(long, default_value_t = 128)]
    num_perm: usize,
    /// Words per shingle.
    #[arg(long, default_value_t = 5)]
    shingle: usize,
    /// Only exact duplicates.
    #[arg(long)]
    exact_only: bool,
    /// Write the kept documents as JSONL ({"text": ...}).
    #[arg(long, short)]
    out: Option<PathBuf>,
    #[command(flatten)]
    source: SourceArgs,
    /// Print as JSON.
    #[arg(long)]
    json: bool,
}

/// Throughput benchmark (tokenizing/sharding and MinHash) on generated
/// documents; see bench/corpus_bench.sh.
#[derive(clap::Args, Debug)]
struct BenchArgs {
    /// Documents to generate (with 10% exact and 10% near duplicates).
    #[arg(long, default_value_t = 20000)]
    docs: usize,
    /// Work directory (documents JSONL and shards are written here).
    #[arg(long)]
    dir: PathBuf,
    /// Only generate the documents.
    #[arg(long)]
    generate_only: bool,
}

/// Runs `scalelab corpus`.
pub fn run(args: Args) -> Result<()> {
    match args.cmd {
        Cmd::Prepare(a) => run_prepare(*a),
        Cmd::Synth(a) => run_synth(*a),
        Cmd::Tasks(a) => run_tasks(*a),
        Cmd::Stats(a) => run_stats(*a),
        Cmd::Contamination(a) => run_contamination(*a),
        Cmd::Dedup(a) => run_dedup(*a),
        Cmd::Bench(a) => run_bench(*a),
    }
}

fn print_json(v: &impl serde::Serialize) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

fn check_fraction(name: &str, v: f64) -> Result<()> {
    if !(0.0..1.0).contains(&v) {
        bail!("{name} must be in [0, 1), got {v}");
    }
    Ok(())
}

fn run_prepare(a: PrepareArgs) -> Result<()> {
    let mut r = match &a.recipe {
        Some(p) => Recipe::load(p)?,
        None => {
            if a.sources.is_empty() {
                bail!("give source files/directories or --recipe FILE");
            }
            let mut r = Recipe::single(a.sources[0].clone());
            let first = r.sources[0].clone();
            r.sources = a
                .sources
                .iter()
                .map(|p| scalelab_corpus::prepare::SourceEntry {
                    path: p.clone(),
                    text_field: a.source.text_field.clone(),
                    text_split: a.source.options().text_split,
                    ..first.clone()
                })
                .collect();
            r.on_bad = a.source.options().on_bad;
            r.filters.min_chars = a.min_chars;
            r.filters.max_chars = a.max_chars;
            r.filters.max_symbol_ratio = a.max_symbol_ratio;
            r.filters.max_repeated_lines = a.max_repeated_lines;
            r.dedup.exact = !a.keep_duplicates;
            r.dedup.near = a.near_dedup;
            r.dedup.threshold = a.threshold;
            r
        }
    };
    if let Some(t) = &a.tokenizer {
        r.tokenizer = t.clone();
    }
    if let Some(v) = a.vocab_size {
        r.vocab_size = v;
    }
    if let Some(v) = a.val_fraction {
        check_fraction("--val-fraction", v)?;
        r.val_fraction = v;
    }
    if let Some(s) = a.seed {
        r.seed = s;
    }
    if let Some(s) = a.shard_tokens {
        r.shard_tokens = s;
    }
    let rep = prepare(&r, &a.out, a.force, !a.json)?;
    if a.json {
        return print_json(&rep);
    }
    let mb = rep.bytes_tokenized as f64 / 1e6;
    println!("prepared {}", a.out.display());
    println!("  documents read      {}", rep.documents_read);
    for (k, v) in &rep.filtered {
        println!("  filtered ({k:<12}) {v}");
    }
    println!("  exact duplicates    {}", rep.exact_duplicates);
    if r.dedup.near {
        println!("  near duplicates     {}", rep.near_duplicates);
    }
    println!(
        "  train               {} docs, {} tokens",
        rep.train_docs, rep.train_tokens
    );
    println!(
        "  val                 {} docs, {} tokens",
        rep.val_docs, rep.val_tokens
    );
    println!(
        "  tokenized           {mb:.1} MB in {:.2} s ({:.1} MB/s)",
        rep.tokenize_seconds,
        mb / rep.tokenize_seconds.max(1e-9)
    );
    Ok(())
}

fn run_synth(a: SynthArgs) -> Result<()> {
    let spec = LanguageSpec::parse(&a.language).context("--language")?;
    let src = Arc::new(spec.build()?);
    check_fraction("--val-fraction", a.val_fraction)?;
    let info = serde_json::json!({
        "spec": spec.to_string(),
        "vocab": src.vocab(),
        "states": src.num_states(),
        "entropy_rate_nats": src.entropy_rate(),
        "entropy_rate_bits": src.entropy_rate() / std::f64::consts::LN_2,
        "doc_len": a.doc_len,
        "target_loss_nats": src.window_entropy_from(1, a.doc_len.max(2)),
    });
    if a.info {
        if a.json {
            return print_json(&info);
        }
        println!("synthetic language {spec}");
        println!("  vocabulary          {}", src.vocab());
        println!("  hidden states       {}", src.num_states());
        println!(
            "  entropy rate        {:.5} nats/token ({:.5} bits)",
            src.entropy_rate(),
            src.entropy_rate() / std::f64::consts::LN_2
        );
        println!(
            "  floor, {}-token docs {:.5} nats/token (positions 1..)",
            a.doc_len,
            src.window_entropy_from(1, a.doc_len.max(2))
        );
        return Ok(());
    }
    let out = a
        .out
        .as_deref()
        .context("--out DIR is required (or --info to only print the entropy rate)")?;
    ensure_out_dir(out, a.force)?;
    match &a.mix {
        None => {
            let m = write_language(
                &src,
                &spec.to_string(),
                out,
                &LanguageWrite {
                    tokens: a.tokens,
                    doc_len: a.doc_len,
                    val_fraction: a.val_fraction,
                    seed: a.seed,
                    progress: !a.json,
                },
            )?;
            if a.json {
                return print_json(&serde_json::json!({
                    "out": out, "train_tokens": m.train_tokens, "val_tokens": m.val_tokens,
                    "synthetic": m.synthetic,
                }));
            }
            println!("wrote {} (synthetic language {spec})", out.display());
            println!(
                "  train {} tokens, val {} tokens, vocabulary {}",
                m.train_tokens,
                m.val_tokens,
                src.vocab()
            );
            println!(
                "  entropy rate        {:.5} nats/token  (perfect model, unbounded context)",
                src.entropy_rate()
            );
            println!(
                "  floor on these docs {:.5} nats/token  (positions 1..{} of {}-token documents)",
                src.window_entropy_from(1, a.doc_len),
                a.doc_len - 1,
                a.doc_len
            );
        }
        Some(mix) => {
            let mspec = MixtureSpec::parse(mix).context("--mix")?;
            let mut stream = MixtureStream::new(mspec.clone(), src.clone(), a.doc_len, a.seed);
            let mut planned = Vec::new();
            let mut bytes = 0u64;
            let mut per_source: std::collections::BTreeMap<String, (u64, u64)> = Default::default();
            while bytes < a.tokens {
                let d = stream.next_doc();
                bytes += d.text.len() as u64;
                let e = per_source.entry(d.source.clone()).or_default();
                e.0 += 1;
                e.1 += d.text.len() as u64;
                let u = scalelab_corpus::hash::combine(planned.len() as u64, a.seed ^ 0x5b1f) >> 11;
                let split = if (u as f64 / (1u64 << 53) as f64) < a.val_fraction {
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
            let (shards, _) = write_shards(&planned, &tok, out, 1 << 27, !a.json)?;
            let per: serde_json::Value = per_source
                .iter()
                .map(|(k, (d, b))| (k.clone(), serde_json::json!({"docs": d, "bytes": b})))
                .collect::<serde_json::Map<_, _>>()
                .into();
            let synthetic = serde_json::json!({
                "kind": "mixture",
                "mix": mix,
                "language": info,
                "components": per,
                "note": "language documents are rendered one character per token, so their \
                         entropy per byte equals the language's entropy per token",
            });
            let m = manifest_for(
                &tok,
                shards,
                a.val_fraction,
                a.seed,
                serde_json::json!({"made_by": "scalelab corpus synth --mix"}),
                Some(synthetic),
            );
            m.save(out)?;
            if a.json {
                return print_json(&m);
            }
            println!("wrote {} (mixture {mix}, byte tokens)", out.display());
            for (k, (d, b)) in &per_source {
                println!("  {k:<20} {d:>8} docs {b:>10} bytes");
            }
            println!(
                "  train {} tokens, val {} tokens",
                m.train_tokens, m.val_tokens
            );
        }
    }
    Ok(())
}

fn run_tasks(a: TasksArgs) -> Result<()> {
    let gens = a
        .tasks
        .iter()
        .map(|t| TaskGenerator::parse(t))
        .collect::<Result<Vec<_>>>()?;
    let mut text = String::new();
    for (i, g) in gens.iter().enumerate() {
        for it in generate_items(g, a.seed.wrapping_add(i as u64), a.n) {
            let mut v = serde_json::to_value(&it)?;
            v["task"] = serde_json::Value::String(it.meta.task.clone());
            text.push_str(&serde_json::to_string(&v)?);
            text.push('\n');
        }
    }
    match &a.out {
        Some(p) => scalelab_corpus::io::write_atomic(p, text.as_bytes())?,
        None => std::io::stdout().write_all(text.as_bytes())?,
    }
    Ok(())
}

fn is_prepared(p: &Path) -> bool {
    p.join(scalelab_corpus::manifest::MANIFEST).is_file()
}

fn load_tokenizer(name: &str) -> Result<Tokenizer> {
    match name {
        "byte" => Ok(Tokenizer::Byte),
        p => Tokenizer::load(Path::new(p)).context("--tokenizer"),
    }
}

fn run_stats(a: StatsArgs) -> Result<()> {
    if a.paths.is_empty() {
        bail!("give a prepared directory or source files");
    }
    if a.paths.len() == 1 && is_prepared(&a.paths[0]) {
        let set = ShardSet::open(&a.paths[0])?;
        let mut out = serde_json::Map::new();
        for split in [Split::Train, Split::Val] {
            let mut b = StatsBuilder::default();
            for d in set.documents(split) {
                b.add(&d);
            }
            out.insert(split.name().into(), serde_json::to_value(b.finish())?);
        }
        let m = set.manifest();
        out.insert("tokenizer".into(), serde_json::to_value(&m.tokenizer)?);
        if let Some(s) = &m.synthetic {
            out.insert("synthetic".into(), s.clone());
        }
        if a.json {
            return print_json(&out);
        }
        println!(
            "{} (tokenizer {}, vocabulary {})",
            a.paths[0].display(),
            m.tokenizer.kind,
            m.tokenizer.vocab_size
        );
        for split in ["train", "val"] {
            let s: scalelab_corpus::stats::Stats = serde_json::from_value(out[split].clone())?;
            print_stats(split, &s);
        }
        if let Some(r) = m
            .synthetic
            .as_ref()
            .and_then(|s| s.get("entropy_rate_nats"))
        {
            println!("  true entropy rate   {r} nats/token");
        }
        return Ok(());
    }
    let tok = load_tokenizer(&a.tokenizer)?;
    let opts = a.source.options();
    let mut b = StatsBuilder::default();
    let mut bytes = 0u64;
    let mut skipped = 0;
    for p in &a.paths {
        let r = read_documents(p, &opts, |d| {
            bytes += d.text.len() as u64;
            b.add(&tok.encode(&d.text)?);
            Ok(())
        })?;
        skipped += r.skipped_bad;
    }
    let s = b.finish();
    if s.documents == 0 {
        bail!("the corpus is empty ({skipped} documents skipped for bad UTF-8/JSON)");
    }
    if a.json {
        return print_json(&serde_json::json!({"bytes": bytes, "stats": s}));
    }
    println!("{} bytes of text, tokenizer {}", bytes, tok.kind());
    print_stats("all", &s);
    Ok(())
}

fn print_stats(name: &str, s: &scalelab_corpus::stats::Stats) {
    println!("  {name}:");
    println!("    documents         {}", s.documents);
    println!(
        "    tokens            {} (mean {:.1}/doc, min {}, max {})",
        s.tokens, s.mean_doc_tokens, s.min_doc_tokens, s.max_doc_tokens
    );
    println!("    exact duplicates  {}", s.exact_duplicates);
    println!(
        "    unigram entropy   {:.4} nats ({:.4} bits), {} distinct tokens",
        s.unigram_entropy_nats, s.unigram_entropy_bits, s.distinct_tokens
    );
}

fn run_contamination(a: ContamArgs) -> Result<()> {
    let items = contamination::load_items(&a.eval)?;
    let rep = if is_prepared(&a.train) {
        let set = ShardSet::open(&a.train)?;
        let tok = set.tokenizer()?;
        let mut texts = Vec::new();
        for d in set.documents(Split::Train) {
            texts.push(tok.decode(&d)?);
        }
        contamination::check(&items, texts.into_iter(), a.n)
    } else {
        let mut texts = Vec::new();
        read_documents(&a.train, &a.source.options(), |d| {
            texts.push(d.text);
            Ok(())
        })?;
        contamination::check(&items, texts.into_iter(), a.n)
    };
    if a.json {
        return print_json(&rep);
    }
    println!(
        "{} items vs {} training documents, {}-grams",
        items.len(),
        rep.train_docs,
        rep.n
    );
    println!(
        "  {:<16} {:>6} {:>13} {:>9} {:>12}",
        "task", "items", "contaminated", "fraction", "mean overlap"
    );
    for (t, o) in &rep.tasks {
        println!(
            "  {t:<16} {:>6} {:>13} {:>9.3} {:>12.3}",
            o.items, o.contaminated, o.fraction, o.mean_overlap
        );
    }
    let mut worst: Vec<_> = rep.items.iter().filter(|i| i.matched > 0).collect();
    worst.sort_by(|x, y| y.overlap.total_cmp(&x.overlap));
    if !worst.is_empty() {
        println!("  most contaminated items:");
        for i in worst.iter().take(a.top) {
            println!(
                "    {:<24} {:<10} overlap {:.3} ({}/{} n-grams, {} docs)",
                i.id, i.task, i.overlap, i.matched, i.ngrams, i.train_docs
            );
        }
    }
    Ok(())
}

fn run_dedup(a: DedupArgs) -> Result<()> {
    let opts = a.source.options();
    let mut texts = Vec::new();
    let mut origins = Vec::new();
    let mut skipped = 0;
    for p in &a.sources {
        let r = read_documents(p, &opts, |d| {
            texts.push(d.text);
            origins.push(d.origin);
            Ok(())
        })?;
        skipped += r.skipped_bad;
    }
    if texts.is_empty() {
        bail!("the corpus is empty ({skipped} documents skipped for bad UTF-8/JSON)");
    }
    let exact = dedup::exact_duplicates(&texts);
    let mut keep: Vec<bool> = exact.iter().map(|d| d.is_none()).collect();
    let mut dup_of: Vec<Option<(usize, &str)>> =
        exact.iter().map(|d| d.map(|j| (j, "exact"))).collect();
    let mut near_removed = 0;
    if !a.exact_only {
        let idx: Vec<usize> = (0..texts.len()).filter(|&i| keep[i]).collect();
        let subset: Vec<&str> = idx.iter().map(|&i| texts[i].as_str()).collect();
        let res = dedup::near_duplicates(
            &subset,
            MinHashConfig {
                num_perm: a.num_perm,
                shingle: a.shingle,
                threshold: a.threshold,
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
    if let Some(out) = &a.out {
        let mut s = String::new();
        for (i, t) in texts.iter().enumerate() {
            if keep[i] {
                s.push_str(&serde_json::json!({ "text": t }).to_string());
                s.push('\n');
            }
        }
        scalelab_corpus::io::write_atomic(out, s.as_bytes())?;
    }
    let pairs: Vec<serde_json::Value> = dup_of
        .iter()
        .enumerate()
        .filter_map(|(i, d)| {
            d.map(|(j, kind)| {
                serde_json::json!({"document": origins[i], "duplicate_of": origins[j], "kind": kind})
            })
        })
        .collect();
    if a.json {
        return print_json(&serde_json::json!({
            "documents": texts.len(),
            "exact_duplicates": exact_removed,
            "near_duplicates": near_removed,
            "kept": keep.iter().filter(|k| **k).count(),
            "duplicates": pairs,
        }));
    }
    println!("{} documents", texts.len());
    println!("  exact duplicates    {exact_removed}");
    if !a.exact_only {
        println!(
            "  near duplicates     {near_removed} (Jaccard >= {})",
            a.threshold
        );
    }
    println!(
        "  kept                {}",
        keep.iter().filter(|k| **k).count()
    );
    for p in pairs.iter().take(10) {
        println!(
            "    {} ~ {} ({})",
            p["document"].as_str().unwrap_or(""),
            p["duplicate_of"].as_str().unwrap_or(""),
            p["kind"].as_str().unwrap_or("")
        );
    }
    if let Some(out) = &a.out {
        println!("  wrote kept documents to {}", out.display());
    }
    Ok(())
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

fn run_bench(a: BenchArgs) -> Result<()> {
    use std::time::Instant;
    std::fs::create_dir_all(&a.dir)?;
    let docs = bench_docs(a.docs);
    let jsonl = a.dir.join("bench_docs.jsonl");
    let mut s = String::new();
    for d in &docs {
        s.push_str(&serde_json::json!({ "text": d }).to_string());
        s.push('\n');
    }
    scalelab_corpus::io::write_atomic(&jsonl, s.as_bytes())?;
    if a.generate_only {
        return Ok(());
    }
    let bytes: u64 = docs.iter().map(|d| d.len() as u64).sum();
    let mb = bytes as f64 / 1e6;
    let mut results = serde_json::Map::new();
    results.insert("documents".into(), docs.len().into());
    results.insert("megabytes".into(), mb.into());
    results.insert("threads".into(), rayon::current_num_threads().into());
    // tokenizing + sharding (byte and BPE), end to end from the JSONL file
    for tk in ["byte", "bpe"] {
        let mut r = Recipe::single(jsonl.clone());
        r.tokenizer = tk.into();
        r.vocab_size = 4096;
        r.dedup.exact = false;
        let out = a.dir.join(format!("shards-{tk}"));
        let rep = prepare(&r, &out, true, false)?;
        results.insert(
            format!("{tk}_tokenize_shard_mb_per_s"),
            (rep.bytes_tokenized as f64 / 1e6 / rep.tokenize_seconds).into(),
        );
        results.insert(format!("{tk}_prepare_total_s"), rep.seconds.into());
    }
    // MinHash signatures + LSH, single thread and all threads
    let cfg = MinHashConfig::default();
    let hasher = dedup::MinHasher::new(cfg);
    let pool1 = rayon::ThreadPoolBuilder::new().num_threads(1).build()?;
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
    results.insert("minhash_lsh_1thread_s".into(), s1.into());
    results.insert(
        "minhash_lsh_1thread_docs_per_s".into(),
        (docs.len() as f64 / s1).into(),
    );
    results.insert("minhash_lsh_1thread_mb_per_s".into(), (mb / s1).into());
    results.insert("minhash_lsh_all_threads_s".into(), sn.into());
    results.insert("minhash_lsh_all_threads_mb_per_s".into(), (mb / sn).into());
    results.insert("near_duplicates_removed".into(), res.removed().into());
    results.insert("candidates".into(), cands.into());
    debug_assert_eq!(removed1, res.removed());
    print_json(&results)
}
