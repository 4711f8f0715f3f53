//! Evaluating trained runs on the built-in task generators: every item's
//! prompt, target, output and scores, and a long table of metrics per run
//! and task that joins the sweep's runs table (and that `scalelab emerge`
//! reads).
//!
//! Models are byte-level (vocabulary ≥ 256): prompts and targets are their
//! ASCII bytes. Decoding is greedy (temperature 0) or sampled; with
//! `samples > 1`, self-consistency takes the majority answer of k samples.
//! Few-shot prompts prepend solved items of the same task.
//!
//! Multiple-choice items (the `choice` task) are not decoded: the model's
//! next-token probabilities of the option labels after the prompt,
//! renormalised over the labels, give the chosen option (the argmax: exact
//! match is then the multiple-choice grade) and the Brier score
//! Σₖ (pₖ − yₖ)², which ranges from 0 (all mass on the right option) to 2.

use crate::run::{read_status, run_dir, State};
use crate::spec::SweepPlan;
use anyhow::{bail, Context, Result};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use scalelab_common::{Progress, Task};
use scalelab_corpus::synth::{generate_items, TaskGenerator, TaskItem};
use scalelab_engine::infer::Model;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// Settings of an evaluation.
#[derive(Clone, Debug)]
pub struct EvalOptions {
    pub tasks: Vec<(String, TaskGenerator)>,
    /// Items per task.
    pub items: usize,
    pub seed: u64,
    /// 0: greedy.
    pub temperature: f64,
    /// Samples per item (majority vote when > 1).
    pub samples: usize,
    /// Solved examples prepended to each prompt.
    pub shots: usize,
}

/// One scored item.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ItemResult {
    pub run: String,
    pub id: String,
    pub task: String,
    pub spec: String,
    pub difficulty: u32,
    pub reasoning: String,
    pub context_len: usize,
    pub prompt: String,
    pub target: String,
    pub answer: String,
    pub output: String,
    /// The output equals the target.
    pub exact_match: bool,
    /// `ln p(target)` under teacher forcing, summed over its tokens.
    pub logprob: f64,
    /// Mean negative log-probability per target token (nats).
    pub nll_per_token: f64,
    /// Levenshtein distance between output and target, in tokens (bytes).
    pub edit_distance: usize,
    /// Arithmetic only: fraction of answer digits right (aligned right).
    pub digit_acc: Option<f64>,
    /// Multiple choice only: the options' probabilities renormalised over
    /// the option labels, in label order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub choice_probs: Option<Vec<f64>>,
    /// Multiple choice only: Σₖ (pₖ − yₖ)² over the options.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub brier: Option<f64>,
    pub target_tokens: usize,
}

fn levenshtein(a: &[u8], b: &[u8]) -> usize {
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let sub = prev[j - 1] + usize::from(a[i - 1] != b[j - 1]);
            cur[j] = sub.min(prev[j] + 1).min(cur[j - 1] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// Digits of the final answer that match, right-aligned.
fn digit_accuracy(output: &str, answer: &str) -> f64 {
    let out_ans: String = output
        .rsplit(|c: char| !c.is_ascii_digit())
        .find(|s| !s.is_empty())
        .unwrap_or("")
        .to_string();
    let (a, b) = (out_ans.as_bytes(), answer.as_bytes());
    let n = a.len().max(b.len()).max(1);
    let hits = (0..n)
        .filter(|&k| {
            let x = a.len().checked_sub(k + 1).map(|i| a[i]);
            let y = b.len().checked_sub(k + 1).map(|i| b[i]);
            x.is_some() && x == y
        })
        .count();
    hits as f64 / n as f64
}

/// Probabilities of the option labels (one byte token each) from the
/// next-token log-probabilities, renormalised over the labels.
fn choice_probs(next_logprobs: &[f64], labels: &[String]) -> Result<Vec<f64>> {
    let lps = labels
        .iter()
        .map(|l| match l.as_bytes() {
            [b] => Ok(next_logprobs[usize::from(*b)]),
            _ => bail!("option label `{l}` is not a single byte token"),
        })
        .collect::<Result<Vec<f64>>>()?;
    let m = lps.iter().fold(f64::NEG_INFINITY, |m, &x| m.max(x));
    let z: f64 = lps.iter().map(|x| (x - m).exp()).sum();
    Ok(lps.iter().map(|x| (x - m).exp() / z).collect())
}

/// Brier score of option probabilities against the right option (None:
/// no option is right, every pₖ counts as an error).
fn brier(probs: &[f64], right: Option<usize>) -> f64 {
    probs
        .iter()
        .enumerate()
        .map(|(k, p)| (p - f64::from(u8::from(Some(k) == right))).powi(2))
        .sum()
}

fn bytes(s: &str) -> Vec<u32> {
    s.bytes().map(u32::from).collect()
}

/// Decodes up to `max_new` tokens after `prompt` (up to a newline): greedy,
/// or the majority answer of `opts.samples` samples (ties go to the first
/// sample's answer).
fn decode(
    model: &mut Model,
    prompt: &[u32],
    max_new: usize,
    opts: &EvalOptions,
    rng: &mut ChaCha8Rng,
) -> Result<String> {
    let mut votes: BTreeMap<String, usize> = BTreeMap::new();
    let mut first = None;
    for _ in 0..opts.samples.max(1) {
        let g = model.generate(prompt, max_new, Some(b'\n' as u32), opts.temperature, rng)?;
        let s: String = g
            .iter()
            .take_while(|&&c| c != b'\n' as u32)
            .map(|&c| char::from(c.min(255) as u8))
            .collect();
        first.get_or_insert_with(|| s.clone());
        *votes.entry(s).or_default() += 1;
    }
    let first = first.unwrap_or_default();
    let best = votes.values().copied().max().unwrap_or(0);
    Ok(if votes.get(&first).copied() == Some(best) {
        first
    } else {
        votes
            .iter()
            .find(|(_, &v)| v == best)
            .map(|(s, _)| s.clone())
            .unwrap_or_default()
    })
}

/// Evaluates one model on the tasks; `task`, when given, advances by one
/// per item scored.
pub fn eval_model(
    model: &mut Model,
    run: &str,
    opts: &EvalOptions,
    task: Option<&Task<'_>>,
) -> Result<Vec<ItemResult>> {
    if model.vocab() < 256 {
        bail!(
            "run {run}: the model's vocabulary is {} tokens; task evaluation needs a byte-level model (vocabulary 256, e.g. trained on `scalelab corpus synth --mix ...` data)",
            model.vocab()
        );
    }
    let mut out = Vec::new();
    for (k, (spec, gen)) in opts.tasks.iter().enumerate() {
        let items = generate_items(gen, opts.seed.wrapping_add(k as u64), opts.items);
        let shots: Vec<TaskItem> = if opts.shots > 0 {
            generate_items(
                gen,
                opts.seed.wrapping_add(1_000_003 + k as u64),
                opts.shots,
            )
        } else {
            Vec::new()
        };
        let prefix: String = shots.iter().map(|s| s.render()).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(opts.seed ^ 0x5eed ^ k as u64);
        for it in items {
            let prompt = format!("{prefix}{}", it.prompt);
            let p = bytes(&prompt);
            let t = bytes(&it.target);
            // the model would see only the prompt's last tokens: refuse
            // rather than score a truncated question
            if p.len() + t.len() > model.context() {
                bail!(
                    "run {run}: task {spec}, item {}: the prompt ({} tokens{}) and its answer ({} tokens) do not fit the model's context of {} tokens; use fewer --shots, an easier task or a model trained with a longer context",
                    it.id,
                    p.len(),
                    if opts.shots > 0 {
                        format!(", with {} shots", opts.shots)
                    } else {
                        String::new()
                    },
                    t.len(),
                    model.context()
                );
            }
            let (output, logprob, choice_probs, brier_score) = if it.choices.is_empty() {
                let logprob: f64 = model.target_logprobs(&p, &t)?.iter().sum();
                let output = decode(model, &p, it.target.len() + 4, opts, &mut rng)?;
                (output, logprob, None, None)
            } else {
                // one forward pass gives the label's log-probability (labels
                // are single tokens) and the options' probabilities
                let next = model.next_logprobs(&p)?;
                let logprob = match t.as_slice() {
                    [l] => next[*l as usize],
                    _ => model.target_logprobs(&p, &t)?.iter().sum(),
                };
                let probs = choice_probs(&next, &it.choices)?;
                let right = it.choices.iter().position(|c| *c == it.target);
                let chosen = probs
                    .iter()
                    .enumerate()
                    .fold(0, |b, (i, &x)| if x > probs[b] { i } else { b });
                let b = brier(&probs, right);
                (it.choices[chosen].clone(), logprob, Some(probs), Some(b))
            };
            let arithmetic = it.meta.reasoning == "arithmetic";
            out.push(ItemResult {
                run: run.to_string(),
                id: it.id.clone(),
                task: it.meta.task.clone(),
                spec: spec.clone(),
                difficulty: it.meta.difficulty,
                reasoning: it.meta.reasoning.clone(),
                context_len: prompt.len(),
                prompt,
                target: it.target.clone(),
                answer: it.answer.clone(),
                exact_match: output == it.target,
                logprob,
                nll_per_token: -logprob / t.len().max(1) as f64,
                edit_distance: levenshtein(output.as_bytes(), it.target.as_bytes()),
                digit_acc: arithmetic.then(|| digit_accuracy(&output, &it.answer)),
                choice_probs,
                brier: brier_score,
                target_tokens: t.len(),
                output,
            });
            if let Some(task) = task {
                task.inc(1);
            }
        }
    }
    Ok(out)
}

/// Metrics of one (run, task, difficulty): mean and standard error.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct MetricRow {
    pub run: String,
    pub task: String,
    pub difficulty: u32,
    pub reasoning: String,
    pub metric: String,
    pub value: f64,
    pub stderr: f64,
    pub n: usize,
}

fn mean_se(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    (m, (var / n).sqrt())
}

/// Aggregates items into metric rows: `exact_match`, `ce` (mean negative
/// log-probability per target token), `logprob` (per item), `edit_distance`
/// and, for arithmetic, `digit_acc`; for multiple choice, `brier`.
pub fn aggregate(items: &[ItemResult]) -> Vec<MetricRow> {
    let mut groups: BTreeMap<(String, String, u32), Vec<&ItemResult>> = BTreeMap::new();
    for it in items {
        groups
            .entry((it.run.clone(), it.task.clone(), it.difficulty))
            .or_default()
            .push(it);
    }
    let mut rows = Vec::new();
    for ((run, task, difficulty), g) in groups {
        let reasoning = g[0].reasoning.clone();
        let mut push = |metric: &str, v: Vec<f64>| {
            if v.is_empty() {
                return;
            }
            let (value, stderr) = mean_se(&v);
            rows.push(MetricRow {
                run: run.clone(),
                task: task.clone(),
                difficulty,
                reasoning: reasoning.clone(),
                metric: metric.into(),
                value,
                stderr,
                n: v.len(),
            });
        };
        push(
            "exact_match",
            g.iter()
                .map(|i| f64::from(u8::from(i.exact_match)))
                .collect(),
        );
        push("ce", g.iter().map(|i| i.nll_per_token).collect());
        push("logprob", g.iter().map(|i| i.logprob).collect());
        push(
            "edit_distance",
            g.iter().map(|i| i.edit_distance as f64).collect(),
        );
        push("digit_acc", g.iter().filter_map(|i| i.digit_acc).collect());
        push("brier", g.iter().filter_map(|i| i.brier).collect());
    }
    rows
}

/// Evaluates every finished run of a sweep directory (or one run
/// directory); returns items and metric rows. Progress is one task of
/// `runs × tasks × items` items, its message the run being evaluated.
pub fn eval_dir(
    dir: &Path,
    opts: &EvalOptions,
    threads: usize,
    progress: &dyn Progress,
) -> Result<(Vec<ItemResult>, Vec<MetricRow>, Option<SweepPlan>)> {
    let per_run = (opts.tasks.len() * opts.items) as u64;
    let mut items = Vec::new();
    if crate::spec::plan_path(dir).exists() {
        let plan = crate::spec::read_plan(dir)?;
        let done: Vec<_> = plan
            .runs
            .iter()
            .filter(|r| {
                read_status(&run_dir(dir, &r.name), r.config.total_steps()).state == State::Done
            })
            .collect();
        if done.is_empty() {
            bail!("{}: no finished run to evaluate", dir.display());
        }
        let task = Task::begin(
            progress,
            "evaluating",
            Some(per_run * done.len() as u64),
            "items",
        );
        for (k, r) in done.iter().enumerate() {
            task.message(&format!("run {} ({} of {})", r.name, k + 1, done.len()));
            let rd = run_dir(dir, &r.name);
            let mut m = Model::load(&rd, threads).with_context(|| format!("run {}", r.name))?;
            items.extend(eval_model(&mut m, &r.name, opts, Some(&task))?);
        }
        let rows = aggregate(&items);
        Ok((items, rows, Some(plan)))
    } else {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "run".into());
        let task = Task::begin(progress, "evaluating", Some(per_run), "items");
        task.message(&format!("run {name}"));
        let mut m = Model::load(dir, threads)?;
        items.extend(eval_model(&mut m, &name, opts, Some(&task))?);
        let rows = aggregate(&items);
        Ok((items, rows, None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_and_digits() {
        assert_eq!(levenshtein(b"kitten", b"sitting"), 3);
        assert_eq!(levenshtein(b"", b"abc"), 3);
        assert_eq!(levenshtein(b"123", b"123"), 0);
        assert!((digit_accuracy("1234", "1235") - 0.75).abs() < 1e-12);
        assert!((digit_accuracy("x=99", "199") - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(digit_accuracy("", "12"), 0.0);
    }

    #[test]
    fn option_probabilities_and_brier_score() {
        let mut next = vec![f64::NEG_INFINITY; 256];
        let labels: Vec<String> = ["A", "B", "C", "D"].map(String::from).to_vec();
        // p(A) : p(B) : p(C) : p(D) = 4 : 2 : 1 : 1 among the labels; other
        // tokens take the rest of the mass, which the renormalisation drops.
        for (l, w) in [(b'A', 4.0f64), (b'B', 2.0), (b'C', 1.0), (b'D', 1.0)] {
            next[usize::from(l)] = (w / 16.0).ln();
        }
        next[usize::from(b'x')] = 0.5f64.ln();
        let p = choice_probs(&next, &labels).unwrap();
        let want = [0.5, 0.25, 0.125, 0.125];
        for (a, b) in p.iter().zip(want) {
            assert!((a - b).abs() < 1e-12, "{p:?}");
        }
        // right option A: (0.5-1)² + 0.25² + 0.125² + 0.125²
        let b = brier(&p, Some(0));
        assert!((b - (0.25 + 0.0625 + 0.015625 * 2.0)).abs() < 1e-12);
        // certain and right: 0; certain and wrong: 2
        assert_eq!(brier(&[1.0, 0.0, 0.0, 0.0], Some(0)), 0.0);
        assert_eq!(brier(&[1.0, 0.0, 0.0, 0.0], Some(1)), 2.0);
        assert!(choice_probs(&next, &["AB".to_string()]).is_err());
    }

    #[test]
    fn aggregate_means_and_errors() {
        let mk = |em: bool, nll: f64| ItemResult {
            run: "r".into(),
            id: "i".into(),
            task: "add".into(),
            spec: "add:2".into(),
            difficulty: 2,
            reasoning: "arithmetic".into(),
            context_len: 3,
            prompt: "1+1=".into(),
            target: "2".into(),
            answer: "2".into(),
            output: if em { "2".into() } else { "3".into() },
            exact_match: em,
            logprob: -nll,
            nll_per_token: nll,
            edit_distance: usize::from(!em),
            digit_acc: Some(if em { 1.0 } else { 0.0 }),
            choice_probs: None,
            brier: None,
            target_tokens: 1,
        };
        let rows = aggregate(&[mk(true, 0.1), mk(false, 0.3), mk(true, 0.2), mk(true, 0.2)]);
        let em = rows.iter().find(|r| r.metric == "exact_match").unwrap();
        assert!((em.value - 0.75).abs() < 1e-12);
        assert!((em.stderr - 0.25).abs() < 1e-12);
        let ce = rows.iter().find(|r| r.metric == "ce").unwrap();
        assert!((ce.value - 0.2).abs() < 1e-12);
        assert_eq!(rows.len(), 5);
    }
}
