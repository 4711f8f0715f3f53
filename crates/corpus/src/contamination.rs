//! Contamination: n-gram overlap between evaluation items and training data.
//!
//! Text is cut into words: runs of letters/digits, and every other
//! non-space character on its own (so `12+34=46` is five words), lower-cased.
//! An item is represented by its `n`-grams (13 by default; an item shorter
//! than `n` words is one n-gram of all its words), and every training
//! document's `n`-grams are looked up in that set. An item is contaminated
//! when any of its n-grams occurs in training data; the overlap fraction says
//! how much.

use crate::hash::{combine, hash64};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// An evaluation item to check.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalItem {
    /// Identifier.
    pub id: String,
    /// Task name (for per-task totals).
    pub task: String,
    /// Text checked (prompt and target joined).
    pub text: String,
}

/// Per-item result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ItemOverlap {
    /// Identifier.
    pub id: String,
    /// Task.
    pub task: String,
    /// Distinct n-grams of the item.
    pub ngrams: usize,
    /// How many of them occur in training data.
    pub matched: usize,
    /// `matched / ngrams`.
    pub overlap: f64,
    /// Training documents containing at least one of its n-grams.
    pub train_docs: usize,
}

/// Per-task totals.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskOverlap {
    /// Items.
    pub items: usize,
    /// Items with any overlap.
    pub contaminated: usize,
    /// `contaminated / items`.
    pub fraction: f64,
    /// Mean overlap fraction.
    pub mean_overlap: f64,
}

/// Whole report.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ContaminationReport {
    /// n.
    pub n: usize,
    /// Training documents scanned.
    pub train_docs: usize,
    /// Per task.
    pub tasks: BTreeMap<String, TaskOverlap>,
    /// Per item, in input order.
    pub items: Vec<ItemOverlap>,
}

/// Words of a text (see the module documentation), as hashes.
pub fn words(text: &str) -> Vec<u64> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let flush = |cur: &mut String, out: &mut Vec<u64>| {
        if !cur.is_empty() {
            out.push(hash64(cur.as_bytes(), 11));
            cur.clear();
        }
    };
    for c in text.chars() {
        if c.is_alphanumeric() {
            cur.extend(c.to_lowercase());
        } else {
            flush(&mut cur, &mut out);
            if !c.is_whitespace() {
                let mut b = [0u8; 4];
                out.push(hash64(c.encode_utf8(&mut b).as_bytes(), 11));
            }
        }
    }
    flush(&mut cur, &mut out);
    out
}

fn ngram_hashes(w: &[u64], n: usize) -> Vec<u64> {
    if w.is_empty() {
        return Vec::new();
    }
    if w.len() < n {
        return vec![w.iter().fold(n as u64, |h, &x| combine(h, x))];
    }
    w.windows(n)
        .map(|g| g.iter().fold(n as u64, |h, &x| combine(h, x)))
        .collect()
}

/// Scans training documents (any iterator of texts) for the items' n-grams.
pub fn check<I, S>(items: &[EvalItem], train: I, n: usize) -> ContaminationReport
where
    I: Iterator<Item = S>,
    S: AsRef<str> + Send + Sync,
{
    let n = n.max(1);
    // n-gram -> items containing it; short items are indexed by their length
    let mut index: HashMap<u64, Vec<u32>> = HashMap::new();
    let mut lengths: Vec<usize> = Vec::new(); // distinct short lengths
    let mut grams_per_item = Vec::with_capacity(items.len());
    for (i, it) in items.iter().enumerate() {
        let w = words(&it.text);
        let m = if w.len() < n { w.len() } else { n };
        if m > 0 && m < n && !lengths.contains(&m) {
            lengths.push(m);
        }
        let mut g = ngram_hashes(&w, m.max(1));
        g.sort_unstable();
        g.dedup();
        for &h in &g {
            index.entry(h).or_default().push(i as u32);
        }
        grams_per_item.push(g);
    }
    lengths.push(n);
    let mut matched: Vec<std::collections::HashSet<u64>> = vec![Default::default(); items.len()];
    let mut docs_hit = vec![0usize; items.len()];
    let mut train_docs = 0;
    // scan in parallel chunks
    let mut chunk: Vec<S> = Vec::with_capacity(1024);
    let mut run = |chunk: &mut Vec<S>| {
        let hits: Vec<Vec<(u32, u64)>> = chunk
            .par_iter()
            .map(|doc| {
                let w = words(doc.as_ref());
                let mut found = Vec::new();
                for &m in &lengths {
                    if w.len() < m {
                        continue;
                    }
                    for g in w.windows(m) {
                        let h = g.iter().fold(m as u64, |h, &x| combine(h, x));
                        if let Some(list) = index.get(&h) {
                            found.extend(list.iter().map(|&i| (i, h)));
                        }
                    }
                }
                found.sort_unstable();
                found.dedup();
                found
            })
            .collect();
        for found in hits {
            let mut last = u32::MAX;
            for (i, h) in found {
                matched[i as usize].insert(h);
                if i != last {
                    docs_hit[i as usize] += 1;
                    last = i;
                }
            }
        }
        chunk.clear();
    };
    for doc in train {
        train_docs += 1;
        chunk.push(doc);
        if chunk.len() == 1024 {
            run(&mut chunk);
        }
    }
    run(&mut chunk);
    let mut report = ContaminationReport {
        n,
        train_docs,
        ..Default::default()
    };
    for (i, it) in items.iter().enumerate() {
        let total = grams_per_item[i].len();
        let m = matched[i].len();
        let overlap = if total > 0 {
            m as f64 / total as f64
        } else {
            0.0
        };
        let t = report.tasks.entry(it.task.clone()).or_default();
        t.items += 1;
        t.contaminated += usize::from(m > 0);
        t.mean_overlap += overlap;
        report.items.push(ItemOverlap {
            id: it.id.clone(),
            task: it.task.clone(),
            ngrams: total,
            matched: m,
            overlap,
            train_docs: docs_hit[i],
        });
    }
    for t in report.tasks.values_mut() {
        t.fraction = t.contaminated as f64 / t.items.max(1) as f64;
        t.mean_overlap /= t.items.max(1) as f64;
    }
    report
}

/// Reads evaluation items from JSONL: each line an object with `prompt` and
/// optional `target` (or a `text` field), optional `id` and task (`task` or
/// `meta.task`). Errors name the line.
pub fn load_items(path: &std::path::Path) -> anyhow::Result<Vec<EvalItem>> {
    use anyhow::{bail, Context};
    let text = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let name = path.display();
    let mut items = Vec::new();
    for (ln, line) in text.split(|&b| b == b'\n').enumerate() {
        let line_no = ln + 1;
        let line = std::str::from_utf8(line).map_err(|e| {
            anyhow::anyhow!(
                "{name}:{line_no}: invalid UTF-8 at byte {} of the line",
                e.valid_up_to()
            )
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(line)
            .with_context(|| format!("{name}:{line_no}: invalid JSON"))?;
        let s = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
        let body = match (s("prompt"), s("target"), s("text")) {
            (Some(p), t, _) => format!("{p}{}", t.unwrap_or_default()),
            (None, _, Some(t)) => t,
            _ => bail!("{name}:{line_no}: item has neither `prompt` nor `text`"),
        };
        let task = s("task")
            .or_else(|| {
                v.get("meta")
                    .and_then(|m| m.get("task"))
                    .and_then(|t| t.as_str())
                    .map(str::to_string)
            })
            .unwrap_or_else(|| "default".into());
        let id = s("id").unwrap_or_else(|| format!("line{line_no}"));
        items.push(EvalItem {
            id,
            task,
            text: body,
        });
    }
    if items.is_empty() {
        bail!("{name}: no evaluation items");
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_symbols() {
        assert_eq!(words("12+34=46").len(), 5);
        assert_eq!(words("Hello, World"), words("hello ,world"));
    }
}
