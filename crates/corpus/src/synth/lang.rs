//! A stochastic language whose exact log-likelihood, and so whose entropy
//! rate, is known: a *unifilar* hidden-Markov source.
//!
//! Every hidden state has a small emission distribution over tokens, and the
//! next state is a deterministic function of (state, emitted token). Given the
//! start state, the state at every position is therefore a function of the
//! tokens already seen, so
//!
//! * the log-likelihood of any sequence is a sum of per-token log-probabilities
//!   read off a table (no forward algorithm is needed), and
//! * the entropy rate is exactly `Σ_s π_s H(emit | s)`, with `π` the stationary
//!   distribution of the state chain (computed by power iteration).
//!
//! The default construction ([`LanguageSpec`]) nests two levels of structure:
//! a *topic* that persists over long spans (it changes only when a topic-marker
//! token is emitted, with a small probability at every position) and, inside
//! each topic, a random automaton over `states` local states, each emitting one
//! of `branch` tokens drawn from that topic's share of the vocabulary. A model
//! must both remember the last marker (long-range) and track the local state
//! (short-range) to reach the entropy rate; small models learn part of the
//! tables and approach it from above as they grow.
//!
//! Documents start in a *begin* state that emits a uniformly chosen topic
//! marker. The expected per-token loss of the true model over documents of
//! length `L` ([`UnifilarSource::window_entropy`]) is exact too, and is what a
//! perfect model trained on length-`L` windows reaches.

use anyhow::{bail, Context, Result};
use rand::{seq::SliceRandom, Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Parameters of the nested-topic unifilar language.
///
/// Written and parsed as a compact `key=value` list, for example
/// `vocab=64,topics=4,states=16,branch=4,switch=0.02,seed=0`. Missing keys take
/// the defaults shown by [`LanguageSpec::default`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LanguageSpec {
    /// Total vocabulary size, topic markers included (markers are the last
    /// `topics` ids).
    pub vocab: u32,
    /// Number of topics (long-range structure).
    pub topics: u32,
    /// Local states per topic (short-range structure).
    pub states: u32,
    /// Tokens each local state can emit.
    pub branch: u32,
    /// Share of the content vocabulary each topic draws its tokens from (0–1].
    pub topic_share: f64,
    /// Probability, at every position, of emitting a topic marker (and moving
    /// to the start state of the named topic).
    pub switch: f64,
    /// Peakedness of the emission distributions: weights are `E^sharpness`
    /// with `E` exponential, so 1 gives a flat Dirichlet and larger values
    /// give lower-entropy, more learnable states.
    pub sharpness: f64,
    /// Seed of the construction (the tables, not the samples).
    pub seed: u64,
}

impl Default for LanguageSpec {
    fn default() -> Self {
        LanguageSpec {
            vocab: 64,
            topics: 8,
            states: 32,
            branch: 4,
            topic_share: 0.5,
            switch: 0.02,
            sharpness: 1.5,
            seed: 0,
        }
    }
}

impl fmt::Display for LanguageSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "vocab={},topics={},states={},branch={},topic_share={},switch={},sharpness={},seed={}",
            self.vocab,
            self.topics,
            self.states,
            self.branch,
            self.topic_share,
            self.switch,
            self.sharpness,
            self.seed
        )
    }
}

impl LanguageSpec {
    /// Parses `key=value` pairs separated by commas; an empty string or
    /// `default` gives the defaults. Unknown keys and bad values are errors
    /// that name the key.
    pub fn parse(s: &str) -> Result<Self> {
        let mut spec = LanguageSpec::default();
        let s = s.trim();
        if s.is_empty() || s == "default" {
            return Ok(spec);
        }
        for part in s.split(',') {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            let (k, v) = part
                .split_once('=')
                .with_context(|| format!("language spec: `{part}` is not of the form key=value"))?;
            let (k, v) = (k.trim(), v.trim());
            let bad = || format!("language spec: bad value `{v}` for `{k}`");
            match k {
                "vocab" => spec.vocab = v.parse().with_context(bad)?,
                "topics" => spec.topics = v.parse().with_context(bad)?,
                "states" => spec.states = v.parse().with_context(bad)?,
                "branch" => spec.branch = v.parse().with_context(bad)?,
                "topic_share" => spec.topic_share = v.parse().with_context(bad)?,
                "switch" => spec.switch = v.parse().with_context(bad)?,
                "sharpness" => spec.sharpness = v.parse().with_context(bad)?,
                "seed" => spec.seed = v.parse().with_context(bad)?,
                _ => bail!(
                    "language spec: unknown key `{k}` (known: vocab, topics, states, branch, \
                     topic_share, switch, sharpness, seed)"
                ),
            }
        }
        spec.validate()?;
        Ok(spec)
    }

    /// Checks the parameters describe a valid language.
    pub fn validate(&self) -> Result<()> {
        if self.topics == 0 || self.states == 0 || self.branch == 0 {
            bail!("language spec: topics, states and branch must be at least 1");
        }
        if self.vocab <= self.topics {
            bail!(
                "language spec: vocab ({}) must exceed topics ({}), the markers take the last ids",
                self.vocab,
                self.topics
            );
        }
        let content = self.vocab - self.topics;
        let per_topic = self.topic_tokens();
        if !(self.topic_share > 0.0 && self.topic_share <= 1.0) {
            bail!("language spec: topic_share must be in (0, 1]");
        }
        if per_topic < self.branch {
            bail!(
                "language spec: each topic has {per_topic} of {content} content tokens, fewer \
                 than branch={}; raise vocab or topic_share, or lower branch",
                self.branch
            );
        }
        if !(self.switch > 0.0 && self.switch < 1.0) {
            bail!("language spec: switch must be in (0, 1)");
        }
        if !(self.sharpness > 0.0 && self.sharpness.is_finite()) {
            bail!("language spec: sharpness must be positive");
        }
        if self.topics as u64 * self.states as u64 > 1 << 20 {
            bail!("language spec: topics × states must be at most 2^20");
        }
        Ok(())
    }

    fn topic_tokens(&self) -> u32 {
        let content = self.vocab - self.topics;
        ((content as f64 * self.topic_share).round() as u32).clamp(1, content)
    }

    /// Builds the source described by the spec.
    pub fn build(&self) -> Result<UnifilarSource> {
        self.validate()?;
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed ^ 0x5ca1_ab1e_1a96_0001);
        let t = self.topics as usize;
        let k = self.states as usize;
        let content = (self.vocab - self.topics) as usize;
        let marker = |topic: usize| (content + topic) as u32;
        // state ids: 0 = begin, 1 + topic * k + local
        let sid = |topic: usize, local: usize| (1 + topic * k + local) as u32;
        let n_states = 1 + t * k;
        let mut rows: Vec<Vec<Emission>> = Vec::with_capacity(n_states);
        // begin: a uniformly chosen topic marker
        rows.push(
            (0..t)
                .map(|topic| Emission {
                    token: marker(topic),
                    prob: 1.0 / t as f64,
                    next: sid(topic, 0),
                })
                .collect(),
        );
        let all: Vec<u32> = (0..content as u32).collect();
        let per_topic = self.topic_tokens() as usize;
        for _topic in 0..t {
            let mut pool = all.clone();
            pool.shuffle(&mut rng);
            pool.truncate(per_topic);
            for _local in 0..k {
                let toks: Vec<u32> = pool
                    .choose_multiple(&mut rng, self.branch as usize)
                    .copied()
                    .collect();
                let weights: Vec<f64> = (0..toks.len())
                    .map(|_| {
                        let u: f64 = rng.gen_range(f64::EPSILON..1.0);
                        (-u.ln()).powf(self.sharpness)
                    })
                    .collect();
                let wsum: f64 = weights.iter().sum();
                let mut row = Vec::with_capacity(toks.len() + t);
                for (tok, w) in toks.iter().zip(&weights) {
                    let next_local = rng.gen_range(0..k);
                    row.push(Emission {
                        token: *tok,
                        prob: (1.0 - self.switch) * w / wsum,
                        next: 0, // filled below, needs the topic index
                    });
                    row.last_mut().unwrap().next = next_local as u32;
                }
                rows.push(row);
            }
        }
        // fix up next-state ids (stored local indices above) and add markers
        for topic in 0..t {
            for local in 0..k {
                let s = sid(topic, local) as usize;
                for e in rows[s].iter_mut() {
                    e.next = sid(topic, e.next as usize);
                }
                for new_topic in 0..t {
                    rows[s].push(Emission {
                        token: marker(new_topic),
                        prob: self.switch / t as f64,
                        next: sid(new_topic, 0),
                    });
                }
            }
        }
        UnifilarSource::new(self.vocab, rows, 0)
    }
}

/// One possible emission of a state.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Emission {
    /// Token emitted.
    pub token: u32,
    /// Its probability in this state.
    pub prob: f64,
    /// The state the source moves to after emitting it.
    pub next: u32,
}

/// A unifilar hidden-Markov source: emissions per state, next state a function
/// of (state, token).
#[derive(Clone, Debug)]
pub struct UnifilarSource {
    vocab: u32,
    start: u32,
    rows: Vec<Vec<Emission>>,
    cum: Vec<Vec<f64>>,
    /// Dense (state, token) → (log p, next); log p = -inf when impossible.
    dense: Vec<(f64, u32)>,
    state_entropy: Vec<f64>,
    stationary: Vec<f64>,
    entropy_rate: f64,
}

impl UnifilarSource {
    /// Builds a source from its emission table. Each row must be a probability
    /// distribution over distinct tokens below `vocab` with valid next states.
    pub fn new(vocab: u32, rows: Vec<Vec<Emission>>, start: u32) -> Result<Self> {
        let n = rows.len();
        if n == 0 || start as usize >= n {
            bail!("unifilar source: no states, or start state out of range");
        }
        let v = vocab as usize;
        let mut dense = vec![(f64::NEG_INFINITY, u32::MAX); n * v];
        let mut cum = Vec::with_capacity(n);
        let mut state_entropy = Vec::with_capacity(n);
        for (s, row) in rows.iter().enumerate() {
            let total: f64 = row.iter().map(|e| e.prob).sum();
            if row.is_empty() || (total - 1.0).abs() > 1e-9 {
                bail!("unifilar source: state {s} emissions sum to {total}, not 1");
            }
            let mut c = 0.0;
            let mut cs = Vec::with_capacity(row.len());
            let mut h = 0.0;
            for e in row {
                if e.token >= vocab || e.next as usize >= n || e.prob.is_nan() || e.prob <= 0.0 {
                    bail!("unifilar source: state {s} has an invalid emission {e:?}");
                }
                let slot = &mut dense[s * v + e.token as usize];
                if slot.1 != u32::MAX {
                    bail!("unifilar source: state {s} emits token {} twice", e.token);
                }
                *slot = (e.prob.ln(), e.next);
                c += e.prob;
                cs.push(c);
                h -= e.prob * e.prob.ln();
            }
            *cs.last_mut().unwrap() = 1.0;
            cum.push(cs);
            state_entropy.push(h);
        }
        let mut src = UnifilarSource {
            vocab,
            start,
            rows,
            cum,
            dense,
            state_entropy,
            stationary: Vec::new(),
            entropy_rate: 0.0,
        };
        src.stationary = src.compute_stationary();
        src.entropy_rate = src
            .stationary
            .iter()
            .zip(&src.state_entropy)
            .map(|(p, h)| p * h)
            .sum();
        Ok(src)
    }

    /// Vocabulary size (token ids are below it).
    pub fn vocab(&self) -> u32 {
        self.vocab
    }

    /// Number of hidden states.
    pub fn num_states(&self) -> usize {
        self.rows.len()
    }

    /// The start state of every document.
    pub fn start_state(&self) -> u32 {
        self.start
    }

    /// The exact entropy rate in nats per token: the loss a perfect model with
    /// unbounded context reaches on a long stream.
    pub fn entropy_rate(&self) -> f64 {
        self.entropy_rate
    }

    /// Entropy (nats) of the emission distribution of each state.
    pub fn state_entropies(&self) -> &[f64] {
        &self.state_entropy
    }

    /// Stationary distribution of the state chain started from the start state.
    pub fn stationary(&self) -> &[f64] {
        &self.stationary
    }

    /// Emission table of one state.
    pub fn emissions(&self, state: u32) -> &[Emission] {
        &self.rows[state as usize]
    }

    fn step_distribution(&self, p: &[f64], out: &mut [f64]) {
        out.iter_mut().for_each(|x| *x = 0.0);
        for (s, &ps) in p.iter().enumerate() {
            if ps == 0.0 {
                continue;
            }
            for e in &self.rows[s] {
                out[e.next as usize] += ps * e.prob;
            }
        }
    }

    /// Power iteration from the start state, averaging successive iterates
    /// (a Cesàro mean, which converges even for a periodic chain).
    fn compute_stationary(&self) -> Vec<f64> {
        let n = self.rows.len();
        let mut p = vec![0.0; n];
        p[self.start as usize] = 1.0;
        let mut q = vec![0.0; n];
        // burn in, then iterate with damping by averaging consecutive iterates
        for _ in 0..100_000 {
            self.step_distribution(&p, &mut q);
            // lazy chain: same stationary distribution, always aperiodic
            let mut diff = 0.0;
            for i in 0..n {
                let nv = 0.5 * (p[i] + q[i]);
                diff += (nv - p[i]).abs();
                p[i] = nv;
            }
            if diff < 1e-15 {
                break;
            }
        }
        let total: f64 = p.iter().sum();
        p.iter_mut().for_each(|x| *x /= total);
        p
    }

    /// The exact expected loss per token (nats) of the true model on documents
    /// of `len` tokens that start in the start state: the floor a perfect model
    /// trained on such windows reaches. Tends to the entropy rate as `len`
    /// grows.
    pub fn window_entropy(&self, len: usize) -> f64 {
        if len == 0 {
            return 0.0;
        }
        let n = self.rows.len();
        let mut p = vec![0.0; n];
        p[self.start as usize] = 1.0;
        let mut q = vec![0.0; n];
        let mut total = 0.0;
        for i in 0..len {
            total += p
                .iter()
                .zip(&self.state_entropy)
                .map(|(a, h)| a * h)
                .sum::<f64>();
            if i + 1 < len {
                self.step_distribution(&p, &mut q);
                std::mem::swap(&mut p, &mut q);
            }
        }
        total / len as f64
    }

    /// Exact expected loss per token over positions `from..len` of documents
    /// of `len` tokens (positions before `from` not scored).
    pub fn window_entropy_from(&self, from: usize, len: usize) -> f64 {
        if from >= len {
            return 0.0;
        }
        (self.window_entropy(len) * len as f64 - self.window_entropy(from) * from as f64)
            / (len - from) as f64
    }

    /// Samples one token from `state`, returning (token, next state).
    #[inline]
    pub fn sample_step<R: Rng>(&self, state: u32, rng: &mut R) -> (u32, u32) {
        let s = state as usize;
        let u: f64 = rng.gen();
        let cum = &self.cum[s];
        let mut j = 0;
        while j + 1 < cum.len() && u >= cum[j] {
            j += 1;
        }
        let e = &self.rows[s][j];
        (e.token, e.next)
    }

    /// Fills `out` with a document: tokens from the start state.
    pub fn sample_document<R: Rng>(&self, rng: &mut R, out: &mut [u32]) {
        let mut s = self.start;
        for slot in out.iter_mut() {
            let (t, n) = self.sample_step(s, rng);
            *slot = t;
            s = n;
        }
    }

    /// Exact log-probability (nats) of each token of `tokens`, read as a
    /// document from the start state. A token the source cannot emit at its
    /// position gets `-inf` and the rest are scored from the same state's
    /// successor under no token, so the error is reported by position.
    pub fn log_likelihood(&self, tokens: &[u32]) -> Result<Vec<f64>> {
        let v = self.vocab as usize;
        let mut s = self.start as usize;
        let mut out = Vec::with_capacity(tokens.len());
        for (i, &t) in tokens.iter().enumerate() {
            if t >= self.vocab {
                bail!(
                    "token {t} at position {i} is outside the vocabulary ({})",
                    self.vocab
                );
            }
            let (lp, next) = self.dense[s * v + t as usize];
            if next == u32::MAX {
                bail!("token {t} at position {i} is impossible under the source (state {s})");
            }
            out.push(lp);
            s = next as usize;
        }
        Ok(out)
    }

    /// Character used to render token `t` as text (vocabularies up to 94 map
    /// to printable ASCII; larger ones fall back to `\u{100}`+t).
    pub fn token_char(t: u32) -> char {
        const ALPHABET: &[u8] =
            b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,;:!?-+*/=()[]{}<>@#$%&^~_|'\"`\\";
        if (t as usize) < ALPHABET.len() {
            ALPHABET[t as usize] as char
        } else {
            char::from_u32(0x100 + t).unwrap_or('?')
        }
    }

    /// Renders tokens as text, one character per token (see [`Self::token_char`]).
    pub fn render(tokens: &[u32]) -> String {
        tokens.iter().map(|&t| Self::token_char(t)).collect()
    }
}

/// An endless, seeded stream of documents from a source, for training without
/// files. Each call fills whole documents (one per row), so batches depend only
/// on the seed and the number of batches drawn before.
#[derive(Clone, Debug)]
pub struct LanguageStream {
    source: std::sync::Arc<UnifilarSource>,
    rng: ChaCha8Rng,
}

impl LanguageStream {
    /// A stream with its own seed (use different seeds for train and
    /// validation).
    pub fn new(source: std::sync::Arc<UnifilarSource>, seed: u64) -> Self {
        LanguageStream {
            source,
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// The source.
    pub fn source(&self) -> &UnifilarSource {
        &self.source
    }

    /// Fills `out` (length `batch * (context + 1)`) with `batch` documents of
    /// `context + 1` tokens: inputs are `row[..context]`, targets
    /// `row[1..]`. A perfect model's loss on the targets is
    /// `window_entropy_from(1, context + 1)`.
    pub fn next_batch(&mut self, batch: usize, context: usize, out: &mut [u32]) {
        let w = context + 1;
        assert_eq!(out.len(), batch * w, "output buffer has the wrong length");
        for row in out.chunks_exact_mut(w) {
            self.source.sample_document(&mut self.rng, row);
        }
    }

    /// Random access for step-indexed trainers: batch `index` of the stream
    /// with `seed` (each index has its own ChaCha stream, so batch `i` never
    /// depends on which batches were drawn before). Same layout as
    /// [`Self::next_batch`].
    pub fn batch_at(
        source: &UnifilarSource,
        seed: u64,
        index: u64,
        batch: usize,
        context: usize,
        out: &mut [u32],
    ) {
        let w = context + 1;
        assert_eq!(out.len(), batch * w, "output buffer has the wrong length");
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(index);
        for row in out.chunks_exact_mut(w) {
            source.sample_document(&mut rng, row);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_round_trips_and_rejects_bad_keys() {
        let s = LanguageSpec::parse("topics=3,states=8,seed=7").unwrap();
        assert_eq!(s.topics, 3);
        assert_eq!(LanguageSpec::parse(&s.to_string()).unwrap(), s);
        assert!(LanguageSpec::parse("topic=3").is_err());
        assert!(LanguageSpec::parse("vocab=4,topics=4").is_err());
    }

    #[test]
    fn deterministic_tables() {
        let a = LanguageSpec::default().build().unwrap();
        let b = LanguageSpec::default().build().unwrap();
        assert_eq!(a.entropy_rate(), b.entropy_rate());
        let c = LanguageSpec {
            seed: 1,
            ..Default::default()
        }
        .build()
        .unwrap();
        assert_ne!(a.entropy_rate(), c.entropy_rate());
    }

    #[test]
    fn two_state_source_has_known_rate() {
        // state 0 emits 0 (p=.5, ->0) or 1 (p=.5, ->1); state 1 emits 2 (->0)
        let rows = vec![
            vec![
                Emission {
                    token: 0,
                    prob: 0.5,
                    next: 0,
                },
                Emission {
                    token: 1,
                    prob: 0.5,
                    next: 1,
                },
            ],
            vec![Emission {
                token: 2,
                prob: 1.0,
                next: 0,
            }],
        ];
        let src = UnifilarSource::new(3, rows, 0).unwrap();
        // pi = (2/3, 1/3); rate = 2/3 * ln 2
        assert!((src.entropy_rate() - 2.0 / 3.0 * 2f64.ln()).abs() < 1e-9);
        assert!((src.window_entropy(1) - 2f64.ln()).abs() < 1e-12);
    }
}
