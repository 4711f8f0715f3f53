//! Tokenizers: byte-level (vocabulary 256, the default), byte-level BPE trained
//! with the `tokenizers` crate and kept as a standard `tokenizer.json` (so a
//! tokenizer from elsewhere loads too), and the synthetic language's own
//! vocabulary.

use crate::hash::hash64;
use anyhow::{anyhow, bail, Context, Result};
use std::path::Path;

/// A tokenizer.
#[derive(Clone)]
pub enum Tokenizer {
    /// One token per byte (ids 0–255).
    Byte,
    /// A `tokenizer.json` tokenizer (BPE trained here or loaded).
    Hf {
        /// The tokenizer.
        inner: Box<tokenizers::Tokenizer>,
        /// Its canonical JSON (what is saved and fingerprinted).
        json: String,
        /// True when the tokenizer is plain byte-level BPE with the GPT-2
        /// pre-tokenisation and nothing else (no normaliser, no added
        /// tokens): ASCII text can then be split here and each piece's ids
        /// cached, with exactly the same result.
        gpt2_pieces: bool,
    },
    /// The synthetic language's tokens (ids below `vocab`), rendered one
    /// character per token.
    Synthetic {
        /// Vocabulary size.
        vocab: u32,
    },
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tokenizer({}, vocab {})", self.kind(), self.vocab_size())
    }
}

fn tk_err(e: tokenizers::Error) -> anyhow::Error {
    anyhow!("{e}")
}

impl Tokenizer {
    /// `byte`, `bpe` (any tokenizer.json) or `synthetic`.
    pub fn kind(&self) -> &'static str {
        match self {
            Tokenizer::Byte => "byte",
            Tokenizer::Hf { .. } => "tokenizer.json",
            Tokenizer::Synthetic { .. } => "synthetic",
        }
    }

    /// Number of token ids.
    pub fn vocab_size(&self) -> u32 {
        match self {
            Tokenizer::Byte => 256,
            Tokenizer::Hf { inner, .. } => inner.get_vocab_size(true) as u32,
            Tokenizer::Synthetic { vocab } => *vocab,
        }
    }

    /// A 64-bit fingerprint (hex) recorded in shard headers and manifests, so
    /// shards are never read with a different tokenizer.
    pub fn fingerprint(&self) -> u64 {
        match self {
            Tokenizer::Byte => hash64(b"scalelab-byte-tokenizer", 0),
            Tokenizer::Hf { json, .. } => hash64(json.as_bytes(), 0),
            Tokenizer::Synthetic { vocab } => {
                hash64(format!("scalelab-synthetic-{vocab}").as_bytes(), 0)
            }
        }
    }

    /// Encodes text. Exact inverse of [`Self::decode`] for the byte tokenizer
    /// and for byte-level BPE.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        match self {
            Tokenizer::Byte => Ok(text.bytes().map(u32::from).collect()),
            Tokenizer::Hf { inner, .. } => Ok(inner
                .encode_fast(text, false)
                .map_err(tk_err)?
                .get_ids()
                .to_vec()),
            Tokenizer::Synthetic { vocab } => text
                .chars()
                .enumerate()
                .map(|(i, c)| {
                    (0..*vocab)
                        .find(|&t| crate::synth::UnifilarSource::token_char(t) == c)
                        .with_context(|| {
                            format!("character {c:?} at position {i} is not a synthetic token")
                        })
                })
                .collect(),
        }
    }

    /// Like [`Self::encode`], with a cache of the ids of pre-tokenised pieces
    /// (a large speed-up for byte-level BPE on ASCII text; identical output).
    pub fn encode_cached(&self, text: &str, cache: &mut EncodeCache) -> Result<Vec<u32>> {
        match self {
            Tokenizer::Hf {
                inner,
                gpt2_pieces: true,
                ..
            } if text.is_ascii() => {
                if cache.map.len() > 1 << 18 {
                    cache.map.clear();
                }
                cache.pieces.clear();
                gpt2_split_ascii(text.as_bytes(), &mut cache.pieces);
                let mut out = Vec::with_capacity(text.len() / 3 + 1);
                for &(a, b) in &cache.pieces {
                    let piece = &text[a..b];
                    if let Some(ids) = cache.map.get(piece) {
                        out.extend_from_slice(ids);
                    } else {
                        let enc = inner.encode_fast(piece, false).map_err(tk_err)?;
                        out.extend_from_slice(enc.get_ids());
                        cache.map.insert(piece.to_string(), enc.get_ids().to_vec());
                    }
                }
                Ok(out)
            }
            _ => self.encode(text),
        }
    }

    /// Decodes token ids back to text; errors name the first bad position.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        match self {
            Tokenizer::Byte => {
                let bytes = ids
                    .iter()
                    .enumerate()
                    .map(|(i, &t)| {
                        u8::try_from(t)
                            .map_err(|_| anyhow!("token {t} at position {i} is not a byte"))
                    })
                    .collect::<Result<Vec<u8>>>()?;
                String::from_utf8(bytes).map_err(|e| {
                    anyhow!(
                        "tokens do not decode to UTF-8 (byte {})",
                        e.utf8_error().valid_up_to()
                    )
                })
            }
            Tokenizer::Hf { inner, .. } => inner.decode(ids, false).map_err(tk_err),
            Tokenizer::Synthetic { vocab } => {
                if let Some(i) = ids.iter().position(|t| t >= vocab) {
                    bail!("token {} at position {i} is outside the vocabulary", ids[i]);
                }
                Ok(crate::synth::UnifilarSource::render(ids))
            }
        }
    }

    /// Loads a standard `tokenizer.json`.
    pub fn load(path: &Path) -> Result<Self> {
        let json = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read tokenizer {}", path.display()))?;
        Self::from_json(&json)
            .with_context(|| format!("{}: not a valid tokenizer.json", path.display()))
    }

    /// Parses a `tokenizer.json` document.
    pub fn from_json(json: &str) -> Result<Self> {
        let inner: tokenizers::Tokenizer = json.parse().map_err(tk_err)?;
        let v: serde_json::Value = serde_json::from_str(json)?;
        let pre = &v["pre_tokenizer"];
        let gpt2_pieces = v["normalizer"].is_null()
            && v["added_tokens"].as_array().is_none_or(|a| a.is_empty())
            && pre["type"] == "ByteLevel"
            && pre["use_regex"] == true
            && pre["add_prefix_space"] == false
            && v["model"]["type"] == "BPE";
        Ok(Tokenizer::Hf {
            inner: Box::new(inner),
            json: json.to_string(),
            gpt2_pieces,
        })
    }

    /// The `tokenizer.json` text (None for the built-in tokenizers).
    pub fn json(&self) -> Option<&str> {
        match self {
            Tokenizer::Hf { json, .. } => Some(json),
            _ => None,
        }
    }

    /// Saves a `tokenizer.json` tokenizer atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        match self.json() {
            Some(j) => scalelab_common::write_atomic(path, j.as_bytes())
                .with_context(|| format!("cannot write {}", path.display())),
            None => bail!("the {} tokenizer has no tokenizer.json", self.kind()),
        }
    }

    /// Trains a byte-level BPE tokenizer (GPT-2 style pre-tokenisation, no
    /// normaliser, so decoding is exact) of `vocab_size` ids on `texts`.
    pub fn train_bpe<I, S>(texts: I, vocab_size: usize, min_frequency: u64) -> Result<Self>
    where
        I: Iterator<Item = S> + Send,
        S: AsRef<str> + Send,
    {
        use tokenizers::decoders::DecoderWrapper;
        use tokenizers::models::bpe::{BpeTrainerBuilder, BPE};
        use tokenizers::models::TrainerWrapper;
        use tokenizers::normalizers::NormalizerWrapper;
        use tokenizers::pre_tokenizers::byte_level::ByteLevel;
        use tokenizers::pre_tokenizers::PreTokenizerWrapper;
        use tokenizers::processors::PostProcessorWrapper;
        use tokenizers::{ModelWrapper, TokenizerBuilder, TokenizerImpl};
        if vocab_size < 257 {
            bail!("--vocab-size for BPE must be at least 257 (256 bytes + merges)");
        }
        let byte_level = ByteLevel::default()
            .add_prefix_space(false)
            .trim_offsets(false);
        let mut trainer: TrainerWrapper = BpeTrainerBuilder::new()
            .vocab_size(vocab_size)
            .min_frequency(min_frequency)
            .show_progress(false)
            .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
            .build()
            .into();
        let mut tk: TokenizerImpl<
            ModelWrapper,
            NormalizerWrapper,
            PreTokenizerWrapper,
            PostProcessorWrapper,
            DecoderWrapper,
        > = TokenizerBuilder::new()
            .with_model(BPE::default().into())
            .with_normalizer(None)
            .with_pre_tokenizer(Some(byte_level.into()))
            .with_post_processor(None)
            .with_decoder(Some(byte_level.into()))
            .build()
            .map_err(tk_err)?;
        tk.train(&mut trainer, texts).map_err(tk_err)?;
        let inner: tokenizers::Tokenizer = tk.into();
        let json = inner.to_string(false).map_err(tk_err)?;
        // re-parse so the tokenizer and its saved JSON are the same thing
        Self::from_json(&json)
    }
}

/// Per-thread cache for [`Tokenizer::encode_cached`].
#[derive(Default)]
pub struct EncodeCache {
    map: std::collections::HashMap<String, Vec<u32>>,
    pieces: Vec<(usize, usize)>,
}

/// Splits ASCII text exactly as GPT-2's pre-tokenisation regex
/// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
/// does, as byte ranges.
pub fn gpt2_split_ascii(b: &[u8], out: &mut Vec<(usize, usize)>) {
    // 0 whitespace, 1 letter, 2 digit, 3 other
    fn class(c: u8) -> u8 {
        match c {
            b'a'..=b'z' | b'A'..=b'Z' => 1,
            b'0'..=b'9' => 2,
            b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r' => 0,
            _ => 3,
        }
    }
    let n = b.len();
    let mut i = 0;
    while i < n {
        let c = b[i];
        if c == b'\'' {
            let rest = &b[i + 1..];
            let k = if rest.starts_with(b"re") || rest.starts_with(b"ve") || rest.starts_with(b"ll")
            {
                3
            } else if matches!(rest.first(), Some(b's' | b't' | b'm' | b'd')) {
                2
            } else {
                0
            };
            if k > 0 {
                out.push((i, i + k));
                i += k;
                continue;
            }
        }
        let k = class(c);
        if k == 0 {
            if c == b' ' && i + 1 < n && class(b[i + 1]) != 0 {
                let kk = class(b[i + 1]);
                let mut j = i + 2;
                while j < n && class(b[j]) == kk {
                    j += 1;
                }
                out.push((i, j));
                i = j;
                continue;
            }
            let mut j = i + 1;
            while j < n && class(b[j]) == 0 {
                j += 1;
            }
            let end = if j == n || j - i == 1 { j } else { j - 1 };
            out.push((i, end));
            i = end;
        } else {
            let mut j = i + 1;
            while j < n && class(b[j]) == k {
                j += 1;
            }
            out.push((i, j));
            i = j;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_round_trip() {
        let t = Tokenizer::Byte;
        let s = "héllo, wörld — ∑ 🚀\n\ttabs";
        assert_eq!(t.decode(&t.encode(s).unwrap()).unwrap(), s);
        assert!(t.decode(&[300]).is_err());
    }

    #[test]
    fn bpe_round_trip_and_reload() {
        let texts: Vec<String> = (0..300)
            .map(|i| {
                format!(
                    "the quick brown fox {i} jumps over the lazy dog; naïve café ☕ {}",
                    i * 7
                )
            })
            .collect();
        let t = Tokenizer::train_bpe(texts.iter(), 400, 2).unwrap();
        assert!(t.vocab_size() > 256 && t.vocab_size() <= 400);
        let probe = "  leading spaces, the lazy fox — unseen 字符 and\r\nnewlines\n";
        let ids = t.encode(probe).unwrap();
        assert_eq!(t.decode(&ids).unwrap(), probe);
        let again = Tokenizer::from_json(t.json().unwrap()).unwrap();
        // the cached ASCII path gives exactly the tokenizer's own ids
        assert!(matches!(
            again,
            Tokenizer::Hf {
                gpt2_pieces: true,
                ..
            }
        ));
        let mut cache = EncodeCache::default();
        let alphabet = b"abZ9'srevmldt \t\n\r.,!?-_\x0b\x0c\x01";
        let mut x = 12345u64;
        for _ in 0..4000 {
            let len = (x % 40) as usize;
            let s: String = (0..len)
                .map(|_| {
                    x = x
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    alphabet[(x >> 33) as usize % alphabet.len()] as char
                })
                .collect();
            assert_eq!(
                t.encode_cached(&s, &mut cache).unwrap(),
                t.encode(&s).unwrap(),
                "{s:?}"
            );
        }
        for text in &texts {
            assert_eq!(
                t.encode_cached(text, &mut cache).unwrap(),
                t.encode(text).unwrap()
            );
        }
        assert_eq!(again.encode(probe).unwrap(), ids);
        assert_eq!(again.fingerprint(), t.fingerprint());
        assert!(ids.len() < probe.len());
    }
}
