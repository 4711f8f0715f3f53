//! Reading shard directories and drawing training batches.
//!
//! A [`ShardSet`] opens a directory made by `scalelab corpus prepare` (or
//! `synth`), memory-maps its shards and checks them against the manifest. A
//! [`Loader`] cuts a split into windows of `context + 1` tokens and serves
//! them in a seeded order. What batch `i` holds is a pure function of the data,
//! the configuration and `i`, so background prefetch (a thread and a bounded
//! channel) changes only when batches are computed, never what they are.

use crate::manifest::{Manifest, ShardInfo, Split, TOKENIZER_FILE};
use crate::shard::Shard;
use crate::tokenizer::Tokenizer;
use anyhow::{bail, Context, Result};
use rand::{seq::SliceRandom, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;

/// An opened shard directory.
pub struct ShardSet {
    dir: PathBuf,
    manifest: Manifest,
    shards: Vec<(ShardInfo, Arc<Shard>)>,
}

impl ShardSet {
    /// Opens `dir`, mapping every shard and checking each header against the
    /// manifest (vocabulary, tokenizer fingerprint, token and document
    /// counts).
    pub fn open(dir: &Path) -> Result<ShardSet> {
        let manifest = Manifest::load(dir)?;
        let fp = u64::from_str_radix(&manifest.tokenizer.fingerprint, 16).with_context(|| {
            format!(
                "{}: bad tokenizer fingerprint",
                dir.join("manifest.json").display()
            )
        })?;
        let mut shards = Vec::new();
        for info in &manifest.shards {
            let path = dir.join(&info.file);
            let shard = Shard::open(&path)?;
            let h = shard.header();
            let name = path.display();
            if h.vocab != manifest.tokenizer.vocab_size {
                bail!(
                    "{name}: header vocabulary {} does not match the manifest's tokenizer ({})",
                    h.vocab,
                    manifest.tokenizer.vocab_size
                );
            }
            if h.tokenizer != fp {
                bail!("{name}: written by a different tokenizer than the manifest names");
            }
            if h.tokens != info.tokens || h.docs != info.docs {
                bail!(
                    "{name}: holds {} tokens / {} documents, the manifest says {} / {}",
                    h.tokens,
                    h.docs,
                    info.tokens,
                    info.docs
                );
            }
            shards.push((info.clone(), Arc::new(shard)));
        }
        Ok(ShardSet {
            dir: dir.to_path_buf(),
            manifest,
            shards,
        })
    }

    /// The manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Vocabulary size of the tokens.
    pub fn vocab_size(&self) -> u32 {
        self.manifest.tokenizer.vocab_size
    }

    /// The shards, with their manifest entries.
    pub fn shards(&self) -> &[(ShardInfo, Arc<Shard>)] {
        &self.shards
    }

    /// The tokenizer that wrote the shards (loaded from the directory when it
    /// is a `tokenizer.json`), checked against the header fingerprint.
    pub fn tokenizer(&self) -> Result<Tokenizer> {
        let info = &self.manifest.tokenizer;
        let tok = match info.kind.as_str() {
            "byte" => Tokenizer::Byte,
            "synthetic" => Tokenizer::Synthetic {
                vocab: info.vocab_size,
            },
            _ => Tokenizer::load(
                &self
                    .dir
                    .join(info.file.as_deref().unwrap_or(TOKENIZER_FILE)),
            )?,
        };
        self.check_tokenizer(&tok)?;
        Ok(tok)
    }

    /// Errors unless `tok` is the tokenizer the shards were written with.
    pub fn check_tokenizer(&self, tok: &Tokenizer) -> Result<()> {
        let info = &self.manifest.tokenizer;
        if tok.vocab_size() != info.vocab_size {
            bail!(
                "tokenizer has vocabulary {} but the shards in {} were written with vocabulary {}",
                tok.vocab_size(),
                self.dir.display(),
                info.vocab_size
            );
        }
        if format!("{:016x}", tok.fingerprint()) != info.fingerprint {
            bail!(
                "tokenizer ({}) is not the one the shards in {} were written with \
                 (fingerprint {:016x}, shards have {})",
                tok.kind(),
                self.dir.display(),
                tok.fingerprint(),
                info.fingerprint
            );
        }
        Ok(())
    }

    /// All tokens of one split, as one virtual sequence.
    pub fn split(&self, split: Split) -> SplitView {
        let shards: Vec<Arc<Shard>> = self
            .shards
            .iter()
            .filter(|(i, s)| i.split == split && !s.is_empty())
            .map(|(_, s)| s.clone())
            .collect();
        let mut starts = Vec::with_capacity(shards.len());
        let mut total = 0;
        for s in &shards {
            starts.push(total);
            total += s.len();
        }
        SplitView {
            shards,
            starts,
            total,
        }
    }

    /// Documents of one split, as token vectors, in shard order.
    pub fn documents(&self, split: Split) -> impl Iterator<Item = Vec<u32>> + '_ {
        self.shards
            .iter()
            .filter(move |(i, _)| i.split == split)
            .flat_map(|(_, s)| (0..s.num_docs()).map(move |d| s.doc_tokens(d)))
    }
}

/// The concatenated tokens of a split.
#[derive(Clone)]
pub struct SplitView {
    shards: Vec<Arc<Shard>>,
    starts: Vec<u64>,
    total: u64,
}

impl SplitView {
    /// Total tokens.
    pub fn len(&self) -> u64 {
        self.total
    }

    /// True if the split has no tokens.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// Copies tokens `start..start + out.len()` (which may span shards).
    pub fn copy(&self, start: u64, out: &mut [u32]) {
        assert!(start + out.len() as u64 <= self.total, "read past the end");
        let mut i = self.starts.partition_point(|&s| s <= start) - 1;
        let mut pos = start;
        let mut done = 0;
        while done < out.len() {
            let s = &self.shards[i];
            let local = pos - self.starts[i];
            let n = ((s.len() - local) as usize).min(out.len() - done);
            s.copy_tokens(local, &mut out[done..done + n]);
            done += n;
            pos += n as u64;
            i += 1;
        }
    }
}

/// How a [`Loader`] draws batches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoaderConfig {
    /// Rows per batch.
    pub batch: usize,
    /// Tokens of context; each row holds `context + 1` tokens (inputs are
    /// `row[..context]`, targets `row[1..]`).
    pub context: usize,
    /// Seed of the order.
    pub seed: u64,
    /// Shuffle windows (training) or read them in order (validation).
    pub shuffle: bool,
    /// Batches computed ahead on a background thread (0: none).
    pub prefetch: usize,
}

impl LoaderConfig {
    /// Tokens in one batch: `batch * (context + 1)`.
    pub fn batch_len(&self) -> usize {
        self.batch * (self.context + 1)
    }
}

/// The pure batch function: which window each row of batch `i` holds.
///
/// Random access by batch index (cheap when indices increase, as epochs'
/// permutations are cached), for trainers whose data sources are indexed by
/// step: batch `i` is the same whether it is asked for first or after others.
pub struct BatchPlan {
    view: SplitView,
    cfg: LoaderConfig,
    epoch: u64,
    offset: u64,
    order: Vec<u64>,
    /// (epoch, first row of that epoch) of the last batch, for sequential use.
    cached_base: (u64, u64),
}

impl BatchPlan {
    /// A plan over `view`; errors when the split is shorter than one window.
    pub fn new(view: SplitView, cfg: LoaderConfig) -> Result<BatchPlan> {
        if cfg.batch == 0 || cfg.context == 0 {
            bail!("batch size and context must be at least 1");
        }
        if view.len() < cfg.context as u64 + 1 {
            bail!(
                "the split has {} tokens, fewer than one window of context {} + 1",
                view.len(),
                cfg.context
            );
        }
        let mut p = BatchPlan {
            view,
            cfg,
            epoch: u64::MAX,
            offset: 0,
            order: Vec::new(),
            cached_base: (0, 0),
        };
        p.set_epoch(0);
        Ok(p)
    }

    fn windows_in(&self, offset: u64) -> u64 {
        (self.view.len() - 1 - offset) / self.cfg.context as u64
    }

    fn set_epoch(&mut self, epoch: u64) {
        if self.epoch == epoch {
            return;
        }
        self.epoch = epoch;
        let c = self.cfg.context as u64;
        if self.cfg.shuffle {
            let mut rng = ChaCha8Rng::seed_from_u64(
                crate::hash::combine(self.cfg.seed, epoch) ^ 0x10ad_e500_0000_0000,
            );
            // a fresh phase each epoch, so windows differ between epochs
            let max_off = (self.view.len() - 1 - c).min(c - 1);
            self.offset = if max_off > 0 {
                rand::Rng::gen_range(&mut rng, 0..=max_off)
            } else {
                0
            };
            let n = self.windows_in(self.offset);
            self.order = (0..n).collect();
            self.order.shuffle(&mut rng);
        } else {
            self.offset = 0;
            self.order = (0..self.windows_in(0)).collect();
        }
    }

    /// Windows in epoch `epoch`.
    pub fn windows_per_epoch(&mut self, epoch: u64) -> u64 {
        self.set_epoch(epoch);
        self.order.len() as u64
    }

    /// Start offsets (in the split) of the rows of batch `index`.
    pub fn starts(&mut self, index: u64) -> Vec<u64> {
        let mut out = Vec::with_capacity(self.cfg.batch);
        let first = index * self.cfg.batch as u64;
        let (mut epoch, mut base) = if first >= self.cached_base.1 {
            self.cached_base
        } else {
            (0, 0)
        };
        for row in first..first + self.cfg.batch as u64 {
            loop {
                let n = self.windows_per_epoch(epoch);
                if row < base + n {
                    break;
                }
                base += n;
                epoch += 1;
            }
            self.cached_base = (epoch, base);
            let k = self.order[(row - base) as usize];
            out.push(self.offset + k * self.cfg.context as u64);
        }
        out
    }

    /// Fills batch number `index` (in the global sequence of rows).
    pub fn fill(&mut self, index: u64, out: &mut [u32]) {
        let w = self.cfg.context + 1;
        let starts = self.starts(index);
        for (chunk, start) in out.chunks_exact_mut(w).zip(starts) {
            self.view.copy(start, chunk);
        }
    }
}

/// Where the rows of batch `index` start in the split (the same plan the
/// [`Loader`] follows): for checks and for logging what a run saw.
pub fn batch_starts(view: &SplitView, cfg: LoaderConfig, index: u64) -> Result<Vec<u64>> {
    Ok(BatchPlan::new(view.clone(), cfg)?.starts(index))
}

/// Windows (rows) in epoch `epoch` of a loader.
pub fn windows_per_epoch(view: &SplitView, cfg: LoaderConfig, epoch: u64) -> Result<u64> {
    Ok(BatchPlan::new(view.clone(), cfg)?.windows_per_epoch(epoch))
}

/// Streams batches from a split; see the module documentation.
pub struct Loader {
    cfg: LoaderConfig,
    next: u64,
    inner: LoaderInner,
}

enum LoaderInner {
    Direct(Box<BatchPlan>),
    Prefetch {
        rx: Receiver<Vec<u32>>,
        _thread: std::thread::JoinHandle<()>,
    },
}

impl Loader {
    /// A loader over `view`.
    pub fn new(view: SplitView, cfg: LoaderConfig) -> Result<Loader> {
        Self::starting_at(view, cfg, 0)
    }

    /// A loader whose first batch is batch number `start` (for resuming).
    pub fn starting_at(view: SplitView, cfg: LoaderConfig, start: u64) -> Result<Loader> {
        let mut plan = Box::new(BatchPlan::new(view, cfg)?);
        let inner = if cfg.prefetch == 0 {
            LoaderInner::Direct(plan)
        } else {
            let (tx, rx) = sync_channel(cfg.prefetch);
            let thread = std::thread::Builder::new()
                .name("scalelab-prefetch".into())
                .spawn(move || {
                    let mut i = start;
                    loop {
                        let mut buf = vec![0u32; cfg.batch_len()];
                        plan.fill(i, &mut buf);
                        if tx.send(buf).is_err() {
                            break; // the loader was dropped
                        }
                        i += 1;
                    }
                })
                .context("cannot start the prefetch thread")?;
            LoaderInner::Prefetch {
                rx,
                _thread: thread,
            }
        };
        Ok(Loader {
            cfg,
            next: start,
            inner,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &LoaderConfig {
        &self.cfg
    }

    /// Index of the next batch.
    pub fn position(&self) -> u64 {
        self.next
    }

    /// Fills `out` (length `batch * (context + 1)`) with the next batch.
    pub fn next_batch(&mut self, out: &mut [u32]) -> Result<()> {
        if out.len() != self.cfg.batch_len() {
            bail!(
                "batch buffer has {} tokens, want batch × (context + 1) = {}",
                out.len(),
                self.cfg.batch_len()
            );
        }
        match &mut self.inner {
            LoaderInner::Direct(plan) => plan.fill(self.next, out),
            LoaderInner::Prefetch { rx, .. } => {
                let buf = rx.recv().context("the prefetch thread stopped")?;
                out.copy_from_slice(&buf);
            }
        }
        self.next += 1;
        Ok(())
    }
}
