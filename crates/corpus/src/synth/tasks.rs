//! Task generators for ability studies: each item has a prompt, the target
//! completion, the bare answer and metadata (task, difficulty, reasoning type,
//! context length), and renders to plain ASCII text for training mixtures.
//!
//! | task | difficulty | reasoning |
//! | --- | --- | --- |
//! | `add`, `mul` | number of digits `k` | `arithmetic` |
//! | `needle` | haystack size in records | `retrieval` |
//! | `multihop` | number of hops | `compositional` |
//! | `induction` | number of shots (fewer is harder) | `induction` |
//! | `choice` | digits of the operands (multiple choice, 4 options) | `multiple-choice` |

use anyhow::{bail, Context, Result};
use rand::{seq::SliceRandom, Rng};
use serde::{Deserialize, Serialize};

/// What an item is and how hard.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskMeta {
    /// Task name: `add`, `mul`, `needle`, `multihop` or `induction`.
    pub task: String,
    /// Difficulty on the task's own scale (digits, records, hops, shots).
    pub difficulty: u32,
    /// Reasoning type: `arithmetic`, `retrieval`, `compositional`, `induction`.
    pub reasoning: String,
    /// Prompt length in bytes (all rendering is ASCII, so also characters).
    pub context_len: usize,
    /// Free-form details (e.g. `steps=true`, `depth=0.42`, `rule=reverse`).
    pub detail: String,
}

/// One evaluation or training item.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskItem {
    /// Stable identifier: `<task>-<seed>-<index>` when generated in bulk.
    pub id: String,
    /// What the model is shown.
    pub prompt: String,
    /// The full expected completion (worked steps, if any, then the answer).
    pub target: String,
    /// The final answer alone (what a scorer compares).
    pub answer: String,
    /// Metadata.
    pub meta: TaskMeta,
    /// Multiple choice: the option labels (one token each, e.g. `A`..`D`);
    /// the target is the right one's label. Empty for free-form items.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<String>,
}

impl TaskItem {
    /// Training text: prompt, target and a newline.
    pub fn render(&self) -> String {
        format!("{}{}\n", self.prompt, self.target)
    }
}

/// Which task, with its difficulty range (inclusive).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "task", rename_all = "lowercase")]
pub enum TaskGenerator {
    /// `a+b=` with `digits` digits per operand; optional worked steps
    /// (digit-wise sums with carries, least significant first).
    Add { digits: (u32, u32), steps: bool },
    /// `a*b=` with `digits` digits per operand; optional worked steps
    /// (one partial product per digit of b, then the sum).
    Mul { digits: (u32, u32), steps: bool },
    /// Key–value retrieval: `records` lines `k=KEY v=VALUE`, one of them
    /// queried at the end.
    Needle { records: (u32, u32) },
    /// Chained variable lookups with distractors: `hops` assignments must be
    /// followed to reach the value.
    Multihop { hops: (u32, u32) },
    /// Few-shot pattern induction: `shots` input→output examples of a hidden
    /// string rule, then a query.
    Induction { shots: (u32, u32) },
    /// Multiple choice: `a+b` with `digits` digits per operand and four
    /// options labelled `A`..`D`, one right and three near misses (off by
    /// one, off by ten, a carry dropped); the target is the right label.
    Choice { digits: (u32, u32) },
}

/// Labels of the options of a multiple-choice item.
pub const CHOICE_LABELS: [&str; 4] = ["A", "B", "C", "D"];

fn range(rng: &mut impl Rng, r: (u32, u32)) -> u32 {
    let (lo, hi) = if r.0 <= r.1 { r } else { (r.1, r.0) };
    rng.gen_range(lo..=hi)
}

fn number(rng: &mut impl Rng, digits: u32) -> u128 {
    let lo = if digits <= 1 {
        0
    } else {
        10u128.pow(digits - 1)
    };
    let hi = 10u128.pow(digits);
    rng.gen_range(lo..hi)
}

fn word(rng: &mut impl Rng, len: usize) -> String {
    (0..len)
        .map(|_| (b'a' + rng.gen_range(0..26u8)) as char)
        .collect()
}

fn meta(task: &str, difficulty: u32, reasoning: &str, prompt: &str, detail: String) -> TaskMeta {
    TaskMeta {
        task: task.into(),
        difficulty,
        reasoning: reasoning.into(),
        context_len: prompt.len(),
        detail,
    }
}

impl TaskGenerator {
    /// Parses `add:1-5`, `add:3:steps`, `mul:2-3`, `needle:16-256`,
    /// `multihop:1-4`, `induction:2-8` (a single number is a one-point range).
    pub fn parse(s: &str) -> Result<Self> {
        let mut parts = s.trim().split(':');
        let name = parts.next().unwrap_or_default();
        let r = match parts.next() {
            Some(r) => parse_range(r).with_context(|| format!("task `{s}`"))?,
            None => match name {
                "add" | "mul" => (1, 4),
                "choice" => (1, 3),
                "needle" => (8, 64),
                "multihop" => (1, 4),
                _ => (2, 6),
            },
        };
        let steps = match parts.next() {
            None => false,
            Some("steps") => true,
            Some(o) => bail!("task `{s}`: unknown option `{o}` (only `steps`)"),
        };
        if r.0 == 0 {
            bail!("task `{s}`: difficulty must be at least 1");
        }
        if r.0 > r.1 {
            bail!(
                "task `{s}`: the range {}-{} is empty (write LO-HI with LO <= HI)",
                r.0,
                r.1
            );
        }
        // Answers are computed exactly in 128-bit integers: a sum of two
        // 38-digit numbers and a product of two 19-digit numbers still fit
        // (u128 holds 38 full digits); larger sizes would overflow. The other
        // tasks are bounded so one item stays a reasonable prompt.
        let max = match name {
            "add" | "choice" => 38,
            "mul" => 19,
            "needle" => 65_536,
            "multihop" | "induction" => 1_024,
            _ => u32::MAX,
        };
        if r.1 > max {
            let what = match name {
                "add" | "choice" | "mul" => {
                    "digits per operand (answers are exact 128-bit integers)"
                }
                "needle" => "records",
                "multihop" => "hops",
                _ => "shots",
            };
            bail!("task `{s}`: at most {max} {what}, got {}", r.1);
        }
        Ok(match name {
            "add" => TaskGenerator::Add { digits: r, steps },
            "mul" => TaskGenerator::Mul { digits: r, steps },
            "needle" => TaskGenerator::Needle { records: r },
            "multihop" => TaskGenerator::Multihop { hops: r },
            "induction" => TaskGenerator::Induction { shots: r },
            "choice" => TaskGenerator::Choice { digits: r },
            _ => bail!(
                "unknown task `{name}` (known: add, mul, needle, multihop, induction, choice; \
                 e.g. add:1-5:steps)"
            ),
        })
    }

    /// The task's name.
    pub fn name(&self) -> &'static str {
        match self {
            TaskGenerator::Add { .. } => "add",
            TaskGenerator::Mul { .. } => "mul",
            TaskGenerator::Needle { .. } => "needle",
            TaskGenerator::Multihop { .. } => "multihop",
            TaskGenerator::Induction { .. } => "induction",
            TaskGenerator::Choice { .. } => "choice",
        }
    }

    /// Draws one item. `id` is left empty; [`generate_items`] fills it.
    pub fn sample<R: Rng>(&self, rng: &mut R) -> TaskItem {
        match *self {
            TaskGenerator::Add { digits, steps } => {
                let k = range(rng, digits);
                let (a, b) = (number(rng, k), number(rng, k));
                let sum = a + b;
                let prompt = format!("{a}+{b}=");
                let answer = sum.to_string();
                let target = if steps {
                    format!("{} {answer}", add_steps(a, b))
                } else {
                    answer.clone()
                };
                let m = meta("add", k, "arithmetic", &prompt, format!("steps={steps}"));
                item(prompt, target, answer, m)
            }
            TaskGenerator::Mul { digits, steps } => {
                let k = range(rng, digits);
                let (a, b) = (number(rng, k), number(rng, k));
                let prompt = format!("{a}*{b}=");
                let answer = (a * b).to_string();
                let target = if steps {
                    format!("{} {answer}", mul_steps(a, b))
                } else {
                    answer.clone()
                };
                let m = meta("mul", k, "arithmetic", &prompt, format!("steps={steps}"));
                item(prompt, target, answer, m)
            }
            TaskGenerator::Needle { records } => {
                let n = range(rng, records) as usize;
                let mut keys = std::collections::HashSet::new();
                let mut lines = Vec::with_capacity(n);
                while lines.len() < n {
                    let k = word(rng, 5);
                    if keys.insert(k.clone()) {
                        let v: u32 = rng.gen_range(1000..10000);
                        lines.push((k, v));
                    }
                }
                let pos = rng.gen_range(0..n);
                let (qk, qv) = lines[pos].clone();
                let mut prompt = String::with_capacity(n * 14 + 16);
                for (k, v) in &lines {
                    prompt.push_str(&format!("k={k} v={v}\n"));
                }
                prompt.push_str(&format!("?k={qk} v="));
                let answer = qv.to_string();
                let depth = if n > 1 {
                    pos as f64 / (n - 1) as f64
                } else {
                    0.0
                };
                let m = meta(
                    "needle",
                    n as u32,
                    "retrieval",
                    &prompt,
                    format!("depth={depth:.3}"),
                );
                item(prompt, answer.clone(), answer, m)
            }
            TaskGenerator::Multihop { hops } => {
                let h = range(rng, hops) as usize;
                // chain x0 -> x1 -> ... -> x_{h-1} -> value, plus as many
                // distractor chains; variable names are distinct letters pairs
                let mut names = std::collections::HashSet::new();
                let mut fresh = |rng: &mut R| loop {
                    let w = word(rng, 2);
                    if names.insert(w.clone()) {
                        break w;
                    }
                };
                let mut assigns = Vec::new();
                let mut chain = Vec::new();
                for _ in 0..h {
                    chain.push(fresh(rng));
                }
                let value: u32 = rng.gen_range(10..100);
                for i in 0..h {
                    let rhs = if i + 1 < h {
                        chain[i + 1].clone()
                    } else {
                        value.to_string()
                    };
                    assigns.push(format!("{}={}", chain[i], rhs));
                }
                let mut dchain = Vec::new();
                for _ in 0..h {
                    dchain.push(fresh(rng));
                }
                for i in 0..h {
                    let rhs = if i + 1 < h {
                        dchain[i + 1].clone()
                    } else {
                        let mut d = rng.gen_range(10..100u32);
                        if d == value {
                            d = 10 + (d + 1) % 90;
                        }
                        d.to_string()
                    };
                    assigns.push(format!("{}={}", dchain[i], rhs));
                }
                assigns.shuffle(rng);
                let prompt = format!("{}. {}?", assigns.join(","), chain[0]);
                let answer = value.to_string();
                let m = meta(
                    "multihop",
                    h as u32,
                    "compositional",
                    &prompt,
                    String::new(),
                );
                item(prompt, answer.clone(), answer, m)
            }
            TaskGenerator::Induction { shots } => {
                let s = range(rng, shots) as usize;
                let rule = *[
                    Rule::Reverse,
                    Rule::Shift,
                    Rule::Double,
                    Rule::Sort,
                    Rule::Swap,
                ]
                .choose(rng)
                .unwrap();
                let shift = rng.gen_range(1..26u8);
                let mut prompt = String::new();
                for _ in 0..s {
                    let len = rng.gen_range(3..=6);
                    let x = word(rng, len);
                    prompt.push_str(&format!("{x}>{};", rule.apply(&x, shift)));
                }
                let len = rng.gen_range(3..=6);
                let x = word(rng, len);
                prompt.push_str(&format!("{x}>"));
                let answer = rule.apply(&x, shift);
                let m = meta(
                    "induction",
                    s as u32,
                    "induction",
                    &prompt,
                    format!("rule={}", rule.name()),
                );
                item(prompt, answer.clone(), answer, m)
            }
            TaskGenerator::Choice { digits } => {
                let k = range(rng, digits);
                let (a, b) = (number(rng, k), number(rng, k));
                let sum = a + b;
                // Near misses, distinct from the sum and from each other.
                let dropped_carry = digits_lsb(a)
                    .iter()
                    .zip(digits_lsb(b).iter())
                    .rev()
                    .fold(0u128, |acc, (x, y)| acc * 10 + u128::from((x + y) % 10));
                let mut options = vec![sum];
                for cand in [
                    dropped_carry,
                    sum + 1,
                    sum.wrapping_sub(1),
                    sum + 10,
                    sum.wrapping_sub(10),
                    sum + 2,
                    sum + 11,
                    sum + 20,
                ] {
                    if options.len() < CHOICE_LABELS.len()
                        && cand <= sum + 20
                        && !options.contains(&cand)
                    {
                        options.push(cand);
                    }
                }
                options.shuffle(rng);
                let right = options.iter().position(|&o| o == sum).unwrap_or(0);
                let listed: Vec<String> = options
                    .iter()
                    .zip(CHOICE_LABELS)
                    .map(|(o, l)| format!("{l}:{o}"))
                    .collect();
                let prompt = format!("{a}+{b}? {} ->", listed.join(" "));
                let target = CHOICE_LABELS[right].to_string();
                let m = meta(
                    "choice",
                    k,
                    "multiple-choice",
                    &prompt,
                    format!("options={}", options.len()),
                );
                let mut it = item(prompt, target.clone(), target, m);
                it.choices = CHOICE_LABELS.iter().map(|s| s.to_string()).collect();
                it
            }
        }
    }
}

fn item(prompt: String, target: String, answer: String, meta: TaskMeta) -> TaskItem {
    TaskItem {
        id: String::new(),
        prompt,
        target,
        answer,
        meta,
        choices: Vec::new(),
    }
}

fn parse_range(r: &str) -> Result<(u32, u32)> {
    let bad = || format!("bad difficulty range `{r}` (want N or LO-HI)");
    Ok(match r.split_once('-') {
        Some((a, b)) => (
            a.trim().parse().with_context(bad)?,
            b.trim().parse().with_context(bad)?,
        ),
        None => {
            let v = r.trim().parse().with_context(bad)?;
            (v, v)
        }
    })
}

fn digits_lsb(mut x: u128) -> Vec<u32> {
    let mut d = Vec::new();
    loop {
        d.push((x % 10) as u32);
        x /= 10;
        if x == 0 {
            break d;
        }
    }
}

/// Worked steps of an addition, least significant digit first:
/// `[3+6=9c0,2+5=7c0,...]`.
fn add_steps(a: u128, b: u128) -> String {
    let (da, db) = (digits_lsb(a), digits_lsb(b));
    let n = da.len().max(db.len());
    let mut carry = 0;
    let mut parts = Vec::with_capacity(n);
    for i in 0..n {
        let x = *da.get(i).unwrap_or(&0);
        let y = *db.get(i).unwrap_or(&0);
        let s = x + y + carry;
        carry = s / 10;
        parts.push(format!("{x}+{y}={}c{carry}", s % 10));
    }
    format!("[{}]", parts.join(","))
}

/// Worked steps of a multiplication: one partial product per digit of `b`
/// (shifted), then the sum: `[123*5=615,123*40=4920]`.
fn mul_steps(a: u128, b: u128) -> String {
    let db = digits_lsb(b);
    let mut parts = Vec::with_capacity(db.len());
    let mut place = 1u128;
    for d in db {
        let m = d as u128 * place;
        parts.push(format!("{a}*{m}={}", a * m));
        place *= 10;
    }
    format!("[{}]", parts.join(","))
}

#[derive(Clone, Copy, Debug)]
enum Rule {
    Reverse,
    Shift,
    Double,
    Sort,
    Swap,
}

impl Rule {
    fn name(self) -> &'static str {
        match self {
            Rule::Reverse => "reverse",
            Rule::Shift => "shift",
            Rule::Double => "double",
            Rule::Sort => "sort",
            Rule::Swap => "swap",
        }
    }
    fn apply(self, x: &str, shift: u8) -> String {
        match self {
            Rule::Reverse => x.chars().rev().collect(),
            Rule::Shift => x
                .bytes()
                .map(|c| (b'a' + (c - b'a' + shift) % 26) as char)
                .collect(),
            Rule::Double => x.chars().flat_map(|c| [c, c]).collect(),
            Rule::Sort => {
                let mut v: Vec<char> = x.chars().collect();
                v.sort_unstable();
                v.into_iter().collect()
            }
            Rule::Swap => {
                let mut v: Vec<char> = x.chars().collect();
                let n = v.len();
                v.swap(0, n - 1);
                v.into_iter().collect()
            }
        }
    }
}

/// Draws `n` items of one task with a seed; ids are `<task>-<seed>-<i>`.
pub fn generate_items(gen: &TaskGenerator, seed: u64, n: usize) -> Vec<TaskItem> {
    use rand::SeedableRng;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0x7a5c_0000_0000_0000);
    (0..n)
        .map(|i| {
            let mut it = gen.sample(&mut rng);
            it.id = format!("{}-{seed}-{i}", gen.name());
            it
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn multiple_choice_items_have_one_right_option_among_four() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let g = TaskGenerator::parse("choice:1-4").unwrap();
        let mut right_labels = std::collections::BTreeSet::new();
        for _ in 0..500 {
            let it = g.sample(&mut rng);
            let (q, opts) = it.prompt.split_once("? ").unwrap();
            let (a, b) = q.split_once('+').unwrap();
            let sum: u128 = a.parse::<u128>().unwrap() + b.parse::<u128>().unwrap();
            let opts: Vec<(&str, u128)> = opts
                .trim_end_matches(" ->")
                .split(' ')
                .map(|o| {
                    let (l, v) = o.split_once(':').unwrap();
                    (l, v.parse().unwrap())
                })
                .collect();
            assert_eq!(opts.len(), 4, "{}", it.prompt);
            let values: std::collections::BTreeSet<u128> = opts.iter().map(|o| o.1).collect();
            assert_eq!(values.len(), 4, "distinct options: {}", it.prompt);
            let right: Vec<&str> = opts.iter().filter(|o| o.1 == sum).map(|o| o.0).collect();
            assert_eq!(right, vec![it.target.as_str()], "{}", it.prompt);
            assert_eq!(it.choices, CHOICE_LABELS);
            assert_eq!(it.meta.reasoning, "multiple-choice");
            right_labels.insert(it.target.clone());
        }
        assert_eq!(
            right_labels.len(),
            4,
            "the right answer moves between labels"
        );
    }

    #[test]
    fn arithmetic_answers_are_right() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        for g in ["add:1-9:steps", "mul:1-6:steps", "add:3", "mul:2"] {
            let g = TaskGenerator::parse(g).unwrap();
            for _ in 0..200 {
                let it = g.sample(&mut rng);
                let body = it.prompt.trim_end_matches('=');
                let (op, (a, b)) = if let Some(p) = body.split_once('+') {
                    ('+', p)
                } else {
                    ('*', body.split_once('*').unwrap())
                };
                let (a, b): (u128, u128) = (a.parse().unwrap(), b.parse().unwrap());
                let want = if op == '+' { a + b } else { a * b };
                assert_eq!(it.answer, want.to_string(), "{it:?}");
                assert!(it.target.ends_with(&it.answer));
                assert_eq!(a.to_string().len() as u32, it.meta.difficulty);
            }
        }
    }

    #[test]
    fn needle_multihop_induction_are_consistent() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2);
        let g = TaskGenerator::parse("needle:5-50").unwrap();
        for _ in 0..50 {
            let it = g.sample(&mut rng);
            let q = it.prompt.rsplit_once("?k=").unwrap().1;
            let key = q.trim_end_matches(" v=");
            let line = format!("k={key} v={}\n", it.answer);
            assert!(it.prompt.contains(&line));
            // the record itself and the query line
            assert_eq!(it.prompt.matches(&format!("k={key} ")).count(), 2);
        }
        let g = TaskGenerator::parse("multihop:1-5").unwrap();
        for _ in 0..50 {
            let it = g.sample(&mut rng);
            let (facts, q) = it.prompt.split_once(". ").unwrap();
            let map: std::collections::HashMap<&str, &str> = facts
                .split(',')
                .map(|a| a.split_once('=').unwrap())
                .collect();
            let mut cur = q.trim_end_matches('?');
            let mut hops = 0;
            while let Some(n) = map.get(cur) {
                cur = n;
                hops += 1;
            }
            assert_eq!(cur, it.answer);
            assert_eq!(hops, it.meta.difficulty);
        }
        let g = TaskGenerator::parse("induction:3").unwrap();
        let it = g.sample(&mut rng);
        assert_eq!(it.prompt.matches(';').count(), 3);
        assert!(TaskGenerator::parse("divide:3").is_err());
        assert!(TaskGenerator::parse("add:0-3").is_err());
    }

    #[test]
    fn sizes_beyond_exact_arithmetic_are_refused_and_the_largest_allowed_are_right() {
        for bad in [
            "add:39",
            "add:40",
            "mul:20",
            "choice:39",
            "needle:70000",
            "add:5-2",
        ] {
            let err = TaskGenerator::parse(bad).unwrap_err().to_string();
            assert!(err.contains(bad), "{bad}: {err}");
        }
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        for spec in ["add:38", "mul:19"] {
            let gen = TaskGenerator::parse(spec).unwrap();
            for _ in 0..50 {
                let it = gen.sample(&mut rng);
                let op = if spec.starts_with("add") { '+' } else { '*' };
                let (a, b) = it.prompt.trim_end_matches('=').split_once(op).unwrap();
                let a = digits_of(a);
                let b = digits_of(b);
                let want = if op == '+' {
                    a.checked_add(b)
                } else {
                    a.checked_mul(b)
                };
                assert_eq!(
                    it.answer.parse::<u128>().ok(),
                    want,
                    "{spec}: {}",
                    it.prompt
                );
            }
        }
    }

    fn digits_of(s: &str) -> u128 {
        s.chars()
            .filter(char::is_ascii_digit)
            .collect::<String>()
            .parse()
            .unwrap()
    }

    #[test]
    fn generation_is_seeded() {
        let g = TaskGenerator::parse("add:2-4").unwrap();
        assert_eq!(generate_items(&g, 5, 10), generate_items(&g, 5, 10));
        assert_ne!(generate_items(&g, 5, 10), generate_items(&g, 6, 10));
    }
}
