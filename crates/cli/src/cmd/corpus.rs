//! `scalelab corpus`: corpora, tokenizers and data governance.
use crate::progress::Bars;
use anyhow::Result;
use clap::{Subcommand, ValueEnum};
use scalelab::corpus::{self, StatsReport, Synthesized};
use scalelab::corpus::{BadInput, SourceOptions, TextSplit};
use std::io::Write;
use std::path::PathBuf;

/// Prepare corpora (real or synthetic) as token shards, and check them.
///
/// A prepared corpus is a directory of binary token shards
/// (`train_00000.bin`, `val_00000.bin`, …) plus `manifest.json`, which
/// records the tokenizer, the split, the recipe and what filtering and
/// deduplication removed. `scalelab train --data DIR` reads it.
#[derive(clap::Args, Debug)]
#[command(
    after_long_help = "A prepared corpus is a directory of binary token shards (train_00000.bin,
val_00000.bin, ...) plus manifest.json, which records the tokenizer, the
split, the recipe and what filtering and deduplication removed.
`scalelab train --data DIR` reads it.

Examples:

  scalelab corpus synth -o data/synth --tokens 5000000
  scalelab corpus prepare corpus.jsonl -o data/web --tokenizer bpe --vocab-size 4096
  scalelab corpus stats data/web
  scalelab corpus contamination evals.jsonl data/web"
)]
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
///
/// Examples:
///
///   scalelab corpus prepare corpus.jsonl -o data/web --tokenizer bpe --vocab-size 4096
///   scalelab corpus prepare --recipe recipe.toml -o data/mix --json
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
struct PrepareArgs {
    /// Source files or directories (ignored with --recipe).
    sources: Vec<PathBuf>,
    /// Output directory for shards and manifest.json.
    #[arg(long, short, value_name = "DIR")]
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
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
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
///
/// Examples:
///
///   scalelab corpus synth -o data/synth --tokens 5000000
///   scalelab corpus synth -o data/arith --mix "lang=0.5,add:1-4=0.5" --tokens 2000000
///   scalelab corpus synth --info --json
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
struct SynthArgs {
    /// Output directory for shards and manifest.json.
    #[arg(long, short, value_name = "DIR")]
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
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

/// Generate evaluation items of ability tasks as JSONL (prompt, target,
/// answer, task, difficulty, reasoning type).
///
/// Tasks (difficulty range in brackets): add:LO-HI[:steps] and
/// mul:LO-HI[:steps] (digits), needle:LO-HI (key-value records in the
/// haystack), multihop:LO-HI (hops), induction:LO-HI (shots).
///
/// With --json (and -o), stdout is one object (schema scalelab.tasks/1):
/// out, items, tasks (spec and items of each), seed.
///
/// Examples:
///
///   scalelab corpus tasks add:1-6 needle:16-256 -n 200 -o evals.jsonl
///   scalelab corpus tasks multihop:1-4 -n 5 | head -1
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
struct TasksArgs {
    /// Task specs, e.g. add:1-5 needle:16-256.
    #[arg(required = true)]
    tasks: Vec<String>,
    /// Items per task (`--n` is the old spelling).
    #[arg(
        long = "items",
        short = 'n',
        alias = "n",
        value_name = "N",
        default_value_t = 100
    )]
    n: usize,
    /// Seed of the generated items.
    #[arg(long, default_value_t = 0, value_name = "SEED")]
    seed: u64,
    /// Output JSONL file (stdout when absent).
    #[arg(long, short, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Print one JSON object (schema scalelab.tasks/1) describing the file written.
    #[arg(long, requires = "out")]
    json: bool,
}

/// Documents, tokens, duplicates and unigram entropy of a prepared
/// directory (per split) or of raw sources (tokenized on the fly).
#[derive(clap::Args, Debug)]
#[command(after_long_help = "Examples:

  scalelab corpus stats data/web
  scalelab corpus stats corpus.jsonl --tokenizer data/web/tokenizer.json --json")]
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
    /// No progress display (it is drawn on stderr when stderr is a terminal).
    #[arg(long)]
    quiet: bool,
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
#[command(after_long_help = "Examples:

  scalelab corpus contamination evals.jsonl data/web
  scalelab corpus contamination evals.jsonl corpus.jsonl --ngram 8 --json")]
struct ContamArgs {
    /// Evaluation items (JSONL).
    eval: PathBuf,
    /// Training data: prepared directory or sources.
    train: PathBuf,
    /// n-gram length in words (`-n`/`--n` are the old spellings; `-n`
    /// elsewhere counts items).
    #[arg(
        long = "ngram",
        alias = "n",
        short_alias = 'n',
        value_name = "WORDS",
        default_value_t = 13
    )]
    n: usize,
    /// Print the most contaminated items (human output).
    #[arg(long, default_value_t = 10)]
    top: usize,
    #[command(flatten)]
    source: SourceArgs,
    /// Print the full per-item report as JSON.
    #[arg(long)]
    json: bool,
    /// No progress display (it is drawn on stderr when stderr is a terminal).
    #[arg(long)]
    quiet: bool,
}

/// Find exact and near (MinHash LSH) duplicates in sources; optionally
/// write the deduplicated documents.
#[derive(clap::Args, Debug)]
#[command(after_long_help = "Examples:

  scalelab corpus dedup corpus.jsonl
  scalelab corpus dedup docs/ --threshold 0.9 -o kept.jsonl --json")]
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
    /// Write the kept documents to this JSONL file ({"text": ...}).
    #[arg(long, short, value_name = "FILE")]
    out: Option<PathBuf>,
    #[command(flatten)]
    source: SourceArgs,
    /// Print as JSON.
    #[arg(long)]
    json: bool,
    /// No progress display (it is drawn on stderr when stderr is a terminal).
    #[arg(long)]
    quiet: bool,
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

fn run_prepare(a: PrepareArgs) -> Result<()> {
    let req = corpus::PrepareRequest {
        sources: a.sources,
        out: a.out,
        recipe: a.recipe,
        tokenizer: a.tokenizer,
        vocab_size: a.vocab_size,
        val_fraction: a.val_fraction,
        seed: a.seed,
        shard_tokens: a.shard_tokens,
        source: a.source.options(),
        min_chars: a.min_chars,
        max_chars: a.max_chars,
        max_symbol_ratio: a.max_symbol_ratio,
        max_repeated_lines: a.max_repeated_lines,
        keep_duplicates: a.keep_duplicates,
        near_dedup: a.near_dedup,
        threshold: a.threshold,
        force: a.force,
    };
    let p = corpus::prepare(&req, &Bars::new(a.json || a.quiet))?;
    let rep = &p.report;
    if a.json {
        return print_json(rep);
    }
    let mb = rep.bytes_tokenized as f64 / 1e6;
    println!("prepared {}", req.out.display());
    println!("  documents read      {}", rep.documents_read);
    for (k, v) in &rep.filtered {
        println!("  filtered ({k:<12}) {v}");
    }
    println!("  exact duplicates    {}", rep.exact_duplicates);
    if p.near_dedup {
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
    let req = corpus::SynthRequest {
        out: a.out,
        language: a.language,
        tokens: a.tokens,
        doc_len: a.doc_len,
        mix: a.mix,
        val_fraction: a.val_fraction,
        seed: a.seed,
        info: a.info,
        force: a.force,
    };
    match corpus::synth(&req, &Bars::new(a.json || a.quiet))? {
        Synthesized::Info(info) => {
            if a.json {
                return print_json(&info);
            }
            println!("synthetic language {}", info.spec);
            println!("  vocabulary          {}", info.vocab);
            println!("  hidden states       {}", info.states);
            println!(
                "  entropy rate        {:.5} nats/token ({:.5} bits)",
                info.entropy_rate_nats, info.entropy_rate_bits
            );
            println!(
                "  floor, {}-token docs {:.5} nats/token (positions 1..)",
                info.doc_len, info.target_loss_nats
            );
        }
        Synthesized::Language {
            info,
            written,
            floor_nats,
        } => {
            if a.json {
                return print_json(&written);
            }
            println!(
                "wrote {} (synthetic language {})",
                written.out.display(),
                info.spec
            );
            println!(
                "  train {} tokens, val {} tokens, vocabulary {}",
                written.train_tokens, written.val_tokens, info.vocab
            );
            println!(
                "  entropy rate        {:.5} nats/token  (perfect model, unbounded context)",
                info.entropy_rate_nats
            );
            println!(
                "  floor on these docs {:.5} nats/token  (positions 1..{} of {}-token documents)",
                floor_nats,
                info.doc_len - 1,
                info.doc_len
            );
        }
        Synthesized::Mixture {
            out,
            mix,
            manifest,
            components,
        } => {
            if a.json {
                return print_json(&manifest);
            }
            println!("wrote {} (mixture {mix}, byte tokens)", out.display());
            for (k, c) in &components {
                println!("  {k:<20} {:>8} docs {:>10} bytes", c.docs, c.bytes);
            }
            println!(
                "  train {} tokens, val {} tokens",
                manifest.train_tokens, manifest.val_tokens
            );
        }
    }
    Ok(())
}

fn run_tasks(a: TasksArgs) -> Result<()> {
    let (text, written) = corpus::tasks_written(&corpus::TasksRequest {
        tasks: a.tasks,
        n: a.n,
        seed: a.seed,
        out: a.out.clone(),
    })?;
    if a.json {
        return print_json(&written);
    }
    if a.out.is_none() {
        std::io::stdout().write_all(text.as_bytes())?;
    }
    Ok(())
}

fn run_stats(a: StatsArgs) -> Result<()> {
    let bars = Bars::new(a.json || a.quiet);
    let rep = corpus::stats(
        &corpus::StatsRequest {
            paths: a.paths,
            tokenizer: a.tokenizer,
            source: a.source.options(),
        },
        &bars,
    )?;
    match rep {
        StatsReport::Prepared(p) => {
            if a.json {
                return print_json(&p);
            }
            println!(
                "{} (tokenizer {}, vocabulary {})",
                p.path.display(),
                p.tokenizer.kind,
                p.tokenizer.vocab_size
            );
            print_stats("train", &p.train);
            print_stats("val", &p.val);
            if let Some(r) = p.entropy_rate_nats() {
                println!("  true entropy rate   {r} nats/token");
            }
        }
        StatsReport::Sources(s) => {
            if a.json {
                return print_json(&s);
            }
            println!("{} bytes of text, tokenizer {}", s.bytes, s.tokenizer);
            print_stats("all", &s.stats);
        }
    }
    Ok(())
}

fn print_stats(name: &str, s: &corpus::CorpusStats) {
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
    let bars = Bars::new(a.json || a.quiet);
    let rep = corpus::contamination(
        &corpus::ContaminationRequest {
            eval: a.eval,
            train: a.train,
            n: a.n,
            source: a.source.options(),
        },
        &bars,
    )?;
    if a.json {
        return print_json(&rep);
    }
    println!(
        "{} items vs {} training documents, {}-grams",
        rep.items.len(),
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
    let worst = corpus::most_contaminated(&rep, a.top);
    if rep.items.iter().any(|i| i.matched > 0) {
        println!("  most contaminated items:");
        for i in worst {
            println!(
                "    {:<24} {:<10} overlap {:.3} ({}/{} n-grams, {} docs)",
                i.id, i.task, i.overlap, i.matched, i.ngrams, i.train_docs
            );
        }
    }
    Ok(())
}

fn run_dedup(a: DedupArgs) -> Result<()> {
    let bars = Bars::new(a.json || a.quiet);
    let rep = corpus::dedup(
        &corpus::DedupRequest {
            sources: a.sources,
            threshold: a.threshold,
            num_perm: a.num_perm,
            shingle: a.shingle,
            exact_only: a.exact_only,
            out: a.out.clone(),
            source: a.source.options(),
        },
        &bars,
    )?;
    if a.json {
        return print_json(&rep);
    }
    println!("{} documents", rep.documents);
    println!("  exact duplicates    {}", rep.exact_duplicates);
    if !a.exact_only {
        println!(
            "  near duplicates     {} (Jaccard >= {})",
            rep.near_duplicates, a.threshold
        );
    }
    println!("  kept                {}", rep.kept);
    for p in rep.duplicates.iter().take(10) {
        println!("    {} ~ {} ({})", p.document, p.duplicate_of, p.kind);
    }
    if let Some(out) = &a.out {
        println!("  wrote kept documents to {}", out.display());
    }
    Ok(())
}

fn run_bench(a: BenchArgs) -> Result<()> {
    if let Some(r) = corpus::bench(a.docs, &a.dir, a.generate_only)? {
        print_json(&r)?;
    }
    Ok(())
}
