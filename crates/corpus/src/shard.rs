//! Binary token shards.
//!
//! Layout (all integers little-endian):
//!
//! | offset | size | field |
//! | --- | --- | --- |
//! | 0 | 8 | magic `SLTOKENS` |
//! | 8 | 4 | format version (1) |
//! | 12 | 4 | bytes per token: 2 (u16) or 4 (u32) |
//! | 16 | 4 | vocabulary size |
//! | 20 | 4 | header length (64) |
//! | 24 | 8 | token count `n` |
//! | 32 | 8 | document count `d` |
//! | 40 | 8 | tokenizer fingerprint |
//! | 48 | 16 | reserved (zero) |
//! | 64 | `n × width` | tokens |
//! | … | `d × 8` | end offset (exclusive, in tokens) of each document |
//!
//! Shards are written to a temporary file, fsynced and renamed into place, and
//! read through a memory map after every field is checked against the file
//! size.

use crate::io::AtomicFile;
use anyhow::{bail, Context, Result};
use memmap2::Mmap;
use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Magic bytes at the start of every shard.
pub const MAGIC: &[u8; 8] = b"SLTOKENS";
/// Current format version.
pub const VERSION: u32 = 1;
/// Header length in bytes.
pub const HEADER_LEN: usize = 64;

/// The fields of a shard header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Bytes per token (2 or 4).
    pub width: u32,
    /// Vocabulary size of the tokenizer that wrote it.
    pub vocab: u32,
    /// Tokens in the shard.
    pub tokens: u64,
    /// Documents in the shard.
    pub docs: u64,
    /// Fingerprint of the tokenizer that wrote it.
    pub tokenizer: u64,
}

impl Header {
    fn to_bytes(self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..8].copy_from_slice(MAGIC);
        b[8..12].copy_from_slice(&VERSION.to_le_bytes());
        b[12..16].copy_from_slice(&self.width.to_le_bytes());
        b[16..20].copy_from_slice(&self.vocab.to_le_bytes());
        b[20..24].copy_from_slice(&(HEADER_LEN as u32).to_le_bytes());
        b[24..32].copy_from_slice(&self.tokens.to_le_bytes());
        b[32..40].copy_from_slice(&self.docs.to_le_bytes());
        b[40..48].copy_from_slice(&self.tokenizer.to_le_bytes());
        b
    }

    /// Parses and checks a header against the file length.
    pub fn parse(b: &[u8], file_len: u64, name: &str) -> Result<Header> {
        if b.len() < HEADER_LEN {
            bail!("{name}: too short for a shard header ({} bytes)", b.len());
        }
        if &b[0..8] != MAGIC {
            bail!("{name}: not a scalelab token shard (bad magic at byte 0)");
        }
        let u32_at = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap());
        let u64_at = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap());
        let version = u32_at(8);
        if version != VERSION {
            bail!("{name}: shard format version {version} (byte 8), this build reads {VERSION}");
        }
        let h = Header {
            width: u32_at(12),
            vocab: u32_at(16),
            tokens: u64_at(24),
            docs: u64_at(32),
            tokenizer: u64_at(40),
        };
        if h.width != 2 && h.width != 4 {
            bail!(
                "{name}: bad token width {} at byte 12 (want 2 or 4)",
                h.width
            );
        }
        if u32_at(20) as usize != HEADER_LEN {
            bail!("{name}: bad header length {} at byte 20", u32_at(20));
        }
        if h.width == 2 && h.vocab > 1 << 16 {
            bail!("{name}: vocabulary {} does not fit 16-bit tokens", h.vocab);
        }
        let want = (HEADER_LEN as u64)
            .checked_add(h.tokens.saturating_mul(h.width as u64))
            .and_then(|x| x.checked_add(h.docs.checked_mul(8)?));
        if want != Some(file_len) {
            bail!(
                "{name}: header says {} tokens and {} documents but the file has {file_len} \
                 bytes (truncated or corrupt)",
                h.tokens,
                h.docs
            );
        }
        Ok(h)
    }
}

/// Writes one shard, document by document.
pub struct ShardWriter {
    out: BufWriter<AtomicFile>,
    path: PathBuf,
    header: Header,
    doc_ends: Vec<u64>,
}

impl ShardWriter {
    /// Starts a shard at `path` (written under a temporary name until
    /// [`Self::finish`]).
    pub fn create(path: &Path, vocab: u32, tokenizer: u64) -> Result<Self> {
        let f = AtomicFile::create(path)
            .with_context(|| format!("cannot create a temporary file for {}", path.display()))?;
        let mut out = BufWriter::with_capacity(1 << 20, f);
        let header = Header {
            width: if vocab <= 1 << 16 { 2 } else { 4 },
            vocab,
            tokens: 0,
            docs: 0,
            tokenizer,
        };
        out.write_all(&header.to_bytes())?;
        Ok(ShardWriter {
            out,
            path: path.to_path_buf(),
            header,
            doc_ends: Vec::new(),
        })
    }

    /// Tokens written so far.
    pub fn tokens(&self) -> u64 {
        self.header.tokens
    }

    /// Documents written so far.
    pub fn docs(&self) -> u64 {
        self.doc_ends.len() as u64
    }

    /// Appends one document.
    pub fn push_doc(&mut self, tokens: &[u32]) -> Result<()> {
        let vocab = self.header.vocab;
        if let Some(i) = tokens.iter().position(|&t| t >= vocab) {
            bail!(
                "token {} at position {i} is outside the vocabulary ({vocab})",
                tokens[i]
            );
        }
        let mut buf = Vec::with_capacity(tokens.len() * self.header.width as usize);
        if self.header.width == 2 {
            for &t in tokens {
                buf.extend_from_slice(&(t as u16).to_le_bytes());
            }
        } else {
            for &t in tokens {
                buf.extend_from_slice(&t.to_le_bytes());
            }
        }
        self.out.write_all(&buf).with_context(|| {
            format!("cannot write {}", self.out.get_ref().temp_path().display())
        })?;
        self.header.tokens += tokens.len() as u64;
        self.doc_ends.push(self.header.tokens);
        Ok(())
    }

    /// Writes the document index and the final header, fsyncs and renames the
    /// shard into place. Returns its header.
    pub fn finish(mut self) -> Result<Header> {
        let res = (|| -> std::io::Result<()> {
            for e in &self.doc_ends {
                self.out.write_all(&e.to_le_bytes())?;
            }
            self.header.docs = self.doc_ends.len() as u64;
            self.out.flush()?;
            let f = self.out.get_mut();
            f.seek(SeekFrom::Start(0))?;
            f.write_all(&self.header.to_bytes())?;
            let f = self.out.into_inner().map_err(|e| e.into_error())?;
            f.commit()
        })();
        res.with_context(|| format!("cannot write {}", self.path.display()))?;
        Ok(self.header)
    }
}

/// A memory-mapped shard.
#[derive(Debug)]
pub struct Shard {
    map: Mmap,
    header: Header,
    path: PathBuf,
}

impl Shard {
    /// Opens and checks a shard.
    pub fn open(path: &Path) -> Result<Shard> {
        let name = path.display().to_string();
        let f = File::open(path).with_context(|| format!("cannot open shard {name}"))?;
        let len = f
            .metadata()
            .with_context(|| format!("cannot stat {name}"))?
            .len();
        // SAFETY: shards are written once (temp file + rename) and never
        // modified in place; the map is read-only.
        let map = unsafe { Mmap::map(&f) }.with_context(|| format!("cannot map {name}"))?;
        let header = Header::parse(&map, len, &name)?;
        let s = Shard {
            map,
            header,
            path: path.to_path_buf(),
        };
        // the document index must be increasing and end at the token count
        let mut prev = 0;
        for i in 0..header.docs as usize {
            let e = s.doc_end(i);
            if e < prev || e > header.tokens {
                bail!("{name}: document index corrupt at document {i}");
            }
            prev = e;
        }
        if header.docs > 0 && prev != header.tokens {
            bail!("{name}: document index does not cover all tokens");
        }
        Ok(s)
    }

    /// The header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The file path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Number of tokens.
    pub fn len(&self) -> u64 {
        self.header.tokens
    }

    /// True if the shard holds no tokens.
    pub fn is_empty(&self) -> bool {
        self.header.tokens == 0
    }

    /// Number of documents.
    pub fn num_docs(&self) -> usize {
        self.header.docs as usize
    }

    fn doc_end(&self, i: usize) -> u64 {
        let o = HEADER_LEN + self.header.tokens as usize * self.header.width as usize + 8 * i;
        u64::from_le_bytes(self.map[o..o + 8].try_into().unwrap())
    }

    /// Token range of document `i`.
    pub fn doc_range(&self, i: usize) -> std::ops::Range<u64> {
        let start = if i == 0 { 0 } else { self.doc_end(i - 1) };
        start..self.doc_end(i)
    }

    /// Copies tokens `start..start + out.len()` into `out`.
    #[inline]
    pub fn copy_tokens(&self, start: u64, out: &mut [u32]) {
        let w = self.header.width as usize;
        let a = HEADER_LEN + start as usize * w;
        let bytes = &self.map[a..a + out.len() * w];
        if w == 2 {
            for (o, c) in out.iter_mut().zip(bytes.chunks_exact(2)) {
                *o = u16::from_le_bytes([c[0], c[1]]) as u32;
            }
        } else {
            for (o, c) in out.iter_mut().zip(bytes.chunks_exact(4)) {
                *o = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            }
        }
    }

    /// The tokens of document `i`.
    pub fn doc_tokens(&self, i: usize) -> Vec<u32> {
        let r = self.doc_range(i);
        let mut v = vec![0; (r.end - r.start) as usize];
        self.copy_tokens(r.start, &mut v);
        v
    }
}

/// Writes the shards of one split, starting a new shard every `max_tokens`
/// tokens (documents are never cut), named `<split>_<00000>.bin`.
pub struct SplitWriter {
    dir: PathBuf,
    split: crate::manifest::Split,
    vocab: u32,
    tokenizer: u64,
    max_tokens: u64,
    current: Option<ShardWriter>,
    done: Vec<crate::manifest::ShardInfo>,
}

impl SplitWriter {
    /// A writer for `split` in `dir`.
    pub fn new(
        dir: &Path,
        split: crate::manifest::Split,
        vocab: u32,
        tokenizer: u64,
        max_tokens: u64,
    ) -> Self {
        SplitWriter {
            dir: dir.to_path_buf(),
            split,
            vocab,
            tokenizer,
            max_tokens: max_tokens.max(1),
            current: None,
            done: Vec::new(),
        }
    }

    fn close_current(&mut self) -> Result<()> {
        if let Some(w) = self.current.take() {
            let file = w
                .path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            let h = w.finish()?;
            self.done.push(crate::manifest::ShardInfo {
                file,
                split: self.split,
                tokens: h.tokens,
                docs: h.docs,
            });
        }
        Ok(())
    }

    /// Appends a document.
    pub fn push_doc(&mut self, tokens: &[u32]) -> Result<()> {
        if let Some(w) = &self.current {
            if w.tokens() > 0 && w.tokens() + tokens.len() as u64 > self.max_tokens {
                self.close_current()?;
            }
        }
        if self.current.is_none() {
            let name = format!("{}_{:05}.bin", self.split.name(), self.done.len());
            self.current = Some(ShardWriter::create(
                &self.dir.join(name),
                self.vocab,
                self.tokenizer,
            )?);
        }
        self.current.as_mut().unwrap().push_doc(tokens)
    }

    /// Finishes the last shard and returns all shards written.
    pub fn finish(mut self) -> Result<Vec<crate::manifest::ShardInfo>> {
        self.close_current()?;
        Ok(self.done)
    }
}
