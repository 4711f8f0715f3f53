//! Synthetic sources: a language with a known entropy rate, task generators,
//! and weighted mixtures of them. All are seeded and streamable.

pub mod lang;
pub mod tasks;

use anyhow::{bail, Context, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

pub use lang::{Emission, LanguageSpec, LanguageStream, UnifilarSource};
pub use tasks::{generate_items, TaskGenerator, TaskItem, TaskMeta, CHOICE_LABELS};

/// One component of a mixture.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Component {
    /// Documents of the synthetic language, rendered one character per token.
    Language,
    /// Items of a task, one item per document.
    Task(TaskGenerator),
}

/// A weighted mixture of synthetic components, written
/// `lang=0.7,add:1-4=0.1,needle:8-64=0.1,induction=0.1`. Weights are relative
/// (they need not sum to 1).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MixtureSpec {
    /// Components and their relative weights.
    pub components: Vec<(String, Component, f64)>,
}

impl MixtureSpec {
    /// Parses a mixture string; see the type's documentation.
    pub fn parse(s: &str) -> Result<Self> {
        let mut components = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, w) = match part.rsplit_once('=') {
                Some((n, w)) => (
                    n.trim(),
                    w.trim()
                        .parse::<f64>()
                        .with_context(|| format!("mixture: bad weight in `{part}`"))?,
                ),
                None => (part, 1.0),
            };
            if !(w >= 0.0 && w.is_finite()) {
                bail!("mixture: weight of `{name}` must be a non-negative number");
            }
            let comp = if name == "lang" || name == "language" {
                Component::Language
            } else {
                Component::Task(TaskGenerator::parse(name).with_context(|| "mixture".to_string())?)
            };
            components.push((name.to_string(), comp, w));
        }
        if components.is_empty() || components.iter().all(|c| c.2 == 0.0) {
            bail!("mixture: no component with a positive weight");
        }
        Ok(MixtureSpec { components })
    }
}

/// A synthetic document and the component it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct SynthDoc {
    /// Component name as written in the mixture.
    pub source: String,
    /// Text of the document.
    pub text: String,
}

/// Endless seeded stream of documents from a mixture.
pub struct MixtureStream {
    spec: MixtureSpec,
    cum: Vec<f64>,
    lang: Arc<UnifilarSource>,
    doc_tokens: usize,
    rng: ChaCha8Rng,
    buf: Vec<u32>,
}

impl MixtureStream {
    /// `doc_tokens` is the length of language documents (in tokens, which are
    /// characters in the rendering).
    pub fn new(spec: MixtureSpec, lang: Arc<UnifilarSource>, doc_tokens: usize, seed: u64) -> Self {
        let total: f64 = spec.components.iter().map(|c| c.2).sum();
        let mut acc = 0.0;
        let cum = spec
            .components
            .iter()
            .map(|c| {
                acc += c.2 / total;
                acc
            })
            .collect();
        MixtureStream {
            spec,
            cum,
            lang,
            doc_tokens: doc_tokens.max(1),
            rng: ChaCha8Rng::seed_from_u64(seed),
            buf: Vec::new(),
        }
    }

    /// Next document.
    pub fn next_doc(&mut self) -> SynthDoc {
        let u: f64 = self.rng.gen();
        let i = self
            .cum
            .iter()
            .position(|&c| u < c)
            .unwrap_or(self.cum.len() - 1);
        let (name, comp, _) = &self.spec.components[i];
        let text = match comp {
            Component::Language => {
                self.buf.resize(self.doc_tokens, 0);
                self.lang.sample_document(&mut self.rng, &mut self.buf);
                UnifilarSource::render(&self.buf)
            }
            Component::Task(g) => g.sample(&mut self.rng).render(),
        };
        SynthDoc {
            source: name.clone(),
            text,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixture_follows_weights() {
        let spec = MixtureSpec::parse("lang=3,add:2=1").unwrap();
        let lang = Arc::new(LanguageSpec::default().build().unwrap());
        let mut s = MixtureStream::new(spec, lang, 32, 1);
        let n = 4000;
        let lang_docs = (0..n).filter(|_| s.next_doc().source == "lang").count();
        let frac = lang_docs as f64 / n as f64;
        assert!((frac - 0.75).abs() < 0.03, "{frac}");
        assert!(MixtureSpec::parse("lang=-1").is_err());
        assert!(MixtureSpec::parse("foo=1").is_err());
    }
}
