//! Deduplication: exact (hash of the normalised text) and near-duplicate
//! (MinHash signatures over word shingles, banded LSH, candidates confirmed by
//! the estimated Jaccard similarity, clusters by union–find; the first
//! document of each cluster is kept).

use crate::hash::{combine, hash64, mix64};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Lower-cases, collapses every run of whitespace to one space and trims, so
/// documents differing only in case and spacing hash alike.
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for w in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        for c in w.chars() {
            out.extend(c.to_lowercase());
        }
    }
    out
}

/// 128-bit fingerprint of the normalised text.
pub fn exact_key(text: &str) -> (u64, u64) {
    let n = normalize(text);
    (hash64(n.as_bytes(), 1), hash64(n.as_bytes(), 2))
}

/// For each document, `Some(j)` if it is an exact duplicate (after
/// normalisation) of the earlier document `j`.
pub fn exact_duplicates<S: AsRef<str> + Sync>(docs: &[S]) -> Vec<Option<usize>> {
    let keys: Vec<(u64, u64)> = docs.par_iter().map(|d| exact_key(d.as_ref())).collect();
    let mut first: HashMap<(u64, u64), usize> = HashMap::with_capacity(docs.len());
    keys.iter()
        .enumerate()
        .map(|(i, k)| match first.get(k) {
            Some(&j) => Some(j),
            None => {
                first.insert(*k, i);
                None
            }
        })
        .collect()
}

/// Near-duplicate settings.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct MinHashConfig {
    /// Number of hash functions (signature length).
    pub num_perm: usize,
    /// Words per shingle.
    pub shingle: usize,
    /// Jaccard similarity at or above which two documents are duplicates.
    pub threshold: f64,
    /// Seed of the hash functions.
    pub seed: u64,
}

impl Default for MinHashConfig {
    fn default() -> Self {
        MinHashConfig {
            num_perm: 128,
            shingle: 5,
            threshold: 0.8,
            seed: 1,
        }
    }
}

/// MinHash over word shingles with `num_perm` multiply–shift hash functions.
pub struct MinHasher {
    cfg: MinHashConfig,
    a: Vec<u64>,
    b: Vec<u64>,
}

impl MinHasher {
    /// Draws the hash functions.
    pub fn new(cfg: MinHashConfig) -> Self {
        let mut state = mix64(cfg.seed ^ 0x6d69_6e68_6173_6800);
        let mut next = || {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            mix64(state)
        };
        let a = (0..cfg.num_perm).map(|_| next() | 1).collect();
        let b = (0..cfg.num_perm).map(|_| next()).collect();
        MinHasher { cfg, a, b }
    }

    /// The configuration.
    pub fn config(&self) -> &MinHashConfig {
        &self.cfg
    }

    /// Shingle hashes of a text: hashes of `shingle` consecutive lower-cased
    /// words (the whole text as one shingle when it has fewer words).
    pub fn shingles(&self, text: &str, out: &mut Vec<u64>) {
        out.clear();
        let mut words: Vec<u64> = Vec::with_capacity(text.len() / 5 + 1);
        let mut buf = String::new();
        for w in text.split_whitespace() {
            if w.is_ascii() {
                if w.bytes().any(|c| c.is_ascii_uppercase()) {
                    buf.clear();
                    buf.push_str(w);
                    buf.make_ascii_lowercase();
                    words.push(hash64(buf.as_bytes(), 7));
                } else {
                    words.push(hash64(w.as_bytes(), 7));
                }
            } else {
                words.push(hash64(w.to_lowercase().as_bytes(), 7));
            }
        }
        let k = self.cfg.shingle.max(1);
        if words.len() <= k {
            if !words.is_empty() {
                out.push(words.iter().fold(0, |h, &w| combine(h, w)));
            }
            return;
        }
        for win in words.windows(k) {
            out.push(win.iter().fold(0, |h, &w| combine(h, w)));
        }
    }

    /// The signature of a text: for each hash function, the minimum over
    /// shingles of `(a·x + b) >> 32` (32-bit values). An empty text gets all
    /// `u32::MAX`.
    pub fn signature(&self, text: &str) -> Vec<u32> {
        let mut sh = Vec::new();
        self.shingles(text, &mut sh);
        self.signature_of(&sh)
    }

    /// Signature of precomputed shingle hashes.
    pub fn signature_of(&self, shingles: &[u64]) -> Vec<u32> {
        let mut sig = vec![u32::MAX; self.cfg.num_perm];
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512dq")
                && std::arch::is_x86_feature_detected!("avx512vl")
            {
                // SAFETY: the CPU supports the features the function is
                // compiled for (checked just above).
                unsafe { minhash_avx512(&self.a, &self.b, shingles, &mut sig) };
                return sig;
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: as above, for AVX2.
                unsafe { minhash_avx2(&self.a, &self.b, shingles, &mut sig) };
                return sig;
            }
        }
        minhash_kernel(&self.a, &self.b, shingles, &mut sig);
        sig
    }
}

/// The signature loop: for every shingle `x` and hash function `i`,
/// `sig[i] = min(sig[i], (a[i]·x + b[i]) >> 32)`. Written so the compiler
/// vectorises it over `i`; compiled again below for wider vector units and
/// chosen at run time (the result is the same on every path).
#[inline(always)]
fn minhash_kernel(a: &[u64], b: &[u64], shingles: &[u64], sig: &mut [u32]) {
    let n = sig.len().min(a.len()).min(b.len());
    let (a, b, sig) = (&a[..n], &b[..n], &mut sig[..n]);
    for &x in shingles {
        for ((s, &a), &b) in sig.iter_mut().zip(a).zip(b) {
            let v = (a.wrapping_mul(x).wrapping_add(b) >> 32) as u32;
            *s = (*s).min(v);
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512vl")]
unsafe fn minhash_avx512(a: &[u64], b: &[u64], shingles: &[u64], sig: &mut [u32]) {
    minhash_kernel(a, b, shingles, sig)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn minhash_avx2(a: &[u64], b: &[u64], shingles: &[u64], sig: &mut [u32]) {
    minhash_kernel(a, b, shingles, sig)
}

/// Estimated Jaccard similarity: the fraction of equal signature entries.
pub fn jaccard_estimate(a: &[u32], b: &[u32]) -> f64 {
    let eq = a.iter().zip(b).filter(|(x, y)| x == y).count();
    eq as f64 / a.len().max(1) as f64
}

/// How much a false positive of LSH banding weighs against a false
/// negative when [`near_duplicates_of_signatures`] chooses its bands.
/// Candidates are confirmed by their estimated Jaccard similarity, so a
/// false positive costs one signature comparison, while a false negative is
/// a duplicate lost for good: weighting them 1 : 9 (instead of datasketch's
/// 1 : 1) picks 14 bands of 9 rows at threshold 0.8 with 128 permutations,
/// which makes a pair of Jaccard 0.87 a candidate with probability 0.99
/// (0.80 with datasketch's 9 bands of 13 rows).
pub const FALSE_POSITIVE_WEIGHT: f64 = 0.1;

/// LSH banding `(bands, rows)` for a threshold as datasketch chooses it:
/// minimises the equally weighted false positive and false negative areas
/// of the S-curve `1 - (1 - s^r)^b`.
pub fn lsh_params(threshold: f64, num_perm: usize) -> (usize, usize) {
    lsh_params_weighted(threshold, num_perm, 0.5)
}

/// As [`lsh_params`], with false positives weighted `fp_weight` and false
/// negatives `1 - fp_weight`.
pub fn lsh_params_weighted(threshold: f64, num_perm: usize, fp_weight: f64) -> (usize, usize) {
    let integrate = |f: &dyn Fn(f64) -> f64, lo: f64, hi: f64| {
        let n = 200;
        let h = (hi - lo) / n as f64;
        (0..n).map(|i| f(lo + (i as f64 + 0.5) * h)).sum::<f64>() * h
    };
    let mut best = (1, num_perm);
    let mut best_err = f64::INFINITY;
    for b in 1..=num_perm {
        let max_r = num_perm / b;
        for r in 1..=max_r {
            let p = |s: f64| 1.0 - (1.0 - s.powi(r as i32)).powi(b as i32);
            let fp = integrate(&p, 0.0, threshold);
            let fneg = integrate(&|s| 1.0 - p(s), threshold, 1.0);
            let err = fp_weight * fp + (1.0 - fp_weight) * fneg;
            if err < best_err {
                best_err = err;
                best = (b, r);
            }
        }
    }
    best
}

/// Result of near-duplicate detection.
#[derive(Clone, Debug, Default)]
pub struct NearDupResult {
    /// For each document, `Some(j)`: a near duplicate of the kept document `j`.
    pub duplicate_of: Vec<Option<usize>>,
    /// Candidate pairs produced by LSH.
    pub candidates: usize,
    /// Candidate pairs confirmed by the estimated Jaccard similarity.
    pub confirmed: usize,
    /// Bands and rows used.
    pub bands: (usize, usize),
}

impl NearDupResult {
    /// Number of documents marked as duplicates.
    pub fn removed(&self) -> usize {
        self.duplicate_of.iter().filter(|d| d.is_some()).count()
    }
}

fn find(parent: &mut [usize], mut x: usize) -> usize {
    while parent[x] != x {
        parent[x] = parent[parent[x]];
        x = parent[x];
    }
    x
}

/// Finds near duplicates among signatures (one per document, equal length).
pub fn near_duplicates_of_signatures(sigs: &[Vec<u32>], threshold: f64) -> NearDupResult {
    let n = sigs.len();
    let k = sigs.first().map_or(0, |s| s.len());
    if n == 0 || k == 0 {
        return NearDupResult {
            duplicate_of: vec![None; n],
            ..Default::default()
        };
    }
    let (bands, rows) = lsh_params_weighted(threshold, k, FALSE_POSITIVE_WEIGHT);
    let mut parent: Vec<usize> = (0..n).collect();
    let mut candidates = 0;
    let mut confirmed = 0;
    let mut keys: Vec<(u64, u32)> = Vec::with_capacity(n);
    for band in 0..bands {
        keys.clear();
        keys.par_extend(sigs.par_iter().enumerate().map(|(i, s)| {
            let part = &s[band * rows..(band + 1) * rows];
            let mut h = band as u64;
            for &v in part {
                h = combine(h, v as u64);
            }
            (h, i as u32)
        }));
        keys.par_sort_unstable();
        let mut g = 0;
        while g < keys.len() {
            let mut e = g + 1;
            while e < keys.len() && keys[e].0 == keys[g].0 {
                e += 1;
            }
            // compare each member with the first member and its predecessor
            for m in g + 1..e {
                let x = keys[m].1 as usize;
                let (first, prev) = (keys[g].1 as usize, keys[m - 1].1 as usize);
                let targets = [first, prev];
                let targets = if m - 1 == g {
                    &targets[..1]
                } else {
                    &targets[..]
                };
                for &y in targets {
                    let (rx, ry) = (find(&mut parent, x), find(&mut parent, y));
                    if rx == ry {
                        continue;
                    }
                    candidates += 1;
                    if jaccard_estimate(&sigs[x], &sigs[y]) >= threshold {
                        confirmed += 1;
                        // the root is always the smallest index: keep the first
                        let (lo, hi) = if rx < ry { (rx, ry) } else { (ry, rx) };
                        parent[hi] = lo;
                    }
                }
            }
            g = e;
        }
    }
    let duplicate_of = (0..n)
        .map(|i| {
            let r = find(&mut parent, i);
            (r != i).then_some(r)
        })
        .collect();
    NearDupResult {
        duplicate_of,
        candidates,
        confirmed,
        bands: (bands, rows),
    }
}

/// Signatures of many documents, in parallel.
pub fn signatures<S: AsRef<str> + Sync>(hasher: &MinHasher, docs: &[S]) -> Vec<Vec<u32>> {
    docs.par_iter()
        .map_init(Vec::new, |buf, d| {
            hasher.shingles(d.as_ref(), buf);
            hasher.signature_of(buf)
        })
        .collect()
}

/// Near-duplicate detection over texts.
pub fn near_duplicates<S: AsRef<str> + Sync>(docs: &[S], cfg: MinHashConfig) -> NearDupResult {
    let hasher = MinHasher::new(cfg);
    let sigs = signatures(&hasher, docs);
    near_duplicates_of_signatures(&sigs, cfg.threshold)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_and_exact() {
        assert_eq!(normalize("  Hello\t WORLD \n"), "hello world");
        let docs = ["a b c", "A  b\nc", "a b d", "a b c "];
        assert_eq!(exact_duplicates(&docs), vec![None, Some(0), None, Some(0)]);
    }

    #[test]
    fn minhash_estimates_jaccard() {
        let h = MinHasher::new(MinHashConfig {
            num_perm: 256,
            shingle: 1,
            ..Default::default()
        });
        // word sets {0..100} and {50..150}: Jaccard 50/150
        let a: String = (0..100).map(|i| format!("w{i} ")).collect();
        let b: String = (50..150).map(|i| format!("w{i} ")).collect();
        let j = jaccard_estimate(&h.signature(&a), &h.signature(&b));
        assert!((j - 1.0 / 3.0).abs() < 0.08, "{j}");
        assert_eq!(h.signature(&a), h.signature(&a.to_uppercase()));
    }

    #[test]
    fn vector_paths_match_the_portable_loop() {
        let h = MinHasher::new(MinHashConfig::default());
        let shingles: Vec<u64> = (0..1000u64).map(|i| mix64(i * 31 + 7)).collect();
        let mut want = vec![u32::MAX; 128];
        minhash_kernel(&h.a, &h.b, &shingles, &mut want);
        assert_eq!(h.signature_of(&shingles), want);
        assert!(want.iter().all(|&v| v < u32::MAX));
    }

    #[test]
    fn lsh_params_are_sane() {
        let (b, r) = lsh_params(0.8, 128);
        assert!(b * r <= 128);
        // the S-curve's midpoint sits near the threshold
        let mid = (1.0 / b as f64).powf(1.0 / r as f64);
        assert!((mid - 0.8).abs() < 0.12, "{b} {r} {mid}");
        assert_eq!((b, r), (9, 13), "datasketch's choice");
    }

    #[test]
    fn verified_banding_favours_recall() {
        let (b, r) = lsh_params_weighted(0.8, 128, FALSE_POSITIVE_WEIGHT);
        assert_eq!((b, r), (14, 9));
        let hit = |s: f64, b: usize, r: usize| 1.0 - (1.0 - s.powi(r as i32)).powi(b as i32);
        assert!(hit(0.87, b, r) > 0.99, "{}", hit(0.87, b, r));
        assert!(hit(0.87, 9, 13) < 0.81);
        // unrelated documents stay out of the candidate lists
        assert!(hit(0.3, b, r) < 1e-3);
    }
}
