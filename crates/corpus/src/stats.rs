//! Corpus statistics: documents, tokens, duplicates, unigram entropy.

use crate::hash::hash64;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// Running statistics over tokenized documents.
#[derive(Clone, Debug, Default)]
pub struct StatsBuilder {
    docs: u64,
    tokens: u64,
    min_len: Option<u64>,
    max_len: u64,
    counts: Vec<u64>,
    seen: HashSet<(u64, u64)>,
    duplicates: u64,
}

/// Finished statistics.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Documents.
    pub documents: u64,
    /// Tokens.
    pub tokens: u64,
    /// Mean tokens per document.
    pub mean_doc_tokens: f64,
    /// Shortest document (tokens).
    pub min_doc_tokens: u64,
    /// Longest document (tokens).
    pub max_doc_tokens: u64,
    /// Documents whose token sequence equals an earlier one.
    pub exact_duplicates: u64,
    /// Distinct token ids used.
    pub distinct_tokens: u64,
    /// Entropy of the unigram distribution, nats per token.
    pub unigram_entropy_nats: f64,
    /// The same in bits.
    pub unigram_entropy_bits: f64,
}

impl StatsBuilder {
    /// Adds one document.
    pub fn add(&mut self, tokens: &[u32]) {
        self.docs += 1;
        let n = tokens.len() as u64;
        self.tokens += n;
        self.min_len = Some(self.min_len.map_or(n, |m| m.min(n)));
        self.max_len = self.max_len.max(n);
        for &t in tokens {
            let t = t as usize;
            if t >= self.counts.len() {
                self.counts.resize(t + 1, 0);
            }
            self.counts[t] += 1;
        }
        let bytes: Vec<u8> = tokens.iter().flat_map(|t| t.to_le_bytes()).collect();
        if !self.seen.insert((hash64(&bytes, 5), hash64(&bytes, 6))) {
            self.duplicates += 1;
        }
    }

    /// The statistics.
    pub fn finish(&self) -> Stats {
        let total = self.tokens as f64;
        let h: f64 = self
            .counts
            .iter()
            .filter(|&&c| c > 0)
            .map(|&c| {
                let p = c as f64 / total;
                -p * p.ln()
            })
            .sum();
        Stats {
            documents: self.docs,
            tokens: self.tokens,
            mean_doc_tokens: if self.docs > 0 {
                total / self.docs as f64
            } else {
                0.0
            },
            min_doc_tokens: self.min_len.unwrap_or(0),
            max_doc_tokens: self.max_len,
            exact_duplicates: self.duplicates,
            distinct_tokens: self.counts.iter().filter(|&&c| c > 0).count() as u64,
            unigram_entropy_nats: h,
            unigram_entropy_bits: h / std::f64::consts::LN_2,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn uniform_entropy() {
        let mut b = StatsBuilder::default();
        b.add(&[0, 1, 2, 3]);
        b.add(&[0, 1, 2, 3]);
        b.add(&[3]);
        let s = b.finish();
        assert_eq!(s.documents, 3);
        assert_eq!(s.exact_duplicates, 1);
        assert_eq!(s.distinct_tokens, 4);
        let p = [2.0 / 9.0, 2.0 / 9.0, 2.0 / 9.0, 3.0 / 9.0];
        let h: f64 = p.iter().map(|x| -x * f64::ln(*x)).sum();
        assert!((s.unigram_entropy_nats - h).abs() < 1e-12);
    }
}
