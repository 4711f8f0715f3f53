//! Deduplication finds planted exact and near duplicates (precision and
//! recall stated and checked); contamination finds planted overlaps.

use rand::{Rng, SeedableRng};
use scalelab_corpus::contamination::{check, EvalItem};
use scalelab_corpus::dedup::{exact_duplicates, near_duplicates, MinHashConfig};
use scalelab_corpus::synth::{generate_items, TaskGenerator};
use std::collections::HashSet;

/// Random documents over a 5000-word vocabulary, plus planted duplicates:
/// returns (docs, exact-dup indices, near-dup indices).
pub fn planted(n_base: usize, seed: u64) -> (Vec<String>, HashSet<usize>, HashSet<usize>) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let vocab: Vec<String> = (0..5000).map(|i| format!("w{i}")).collect();
    let mut docs: Vec<String> = (0..n_base)
        .map(|_| {
            let len = rng.gen_range(100..300);
            (0..len)
                .map(|_| vocab[rng.gen_range(0..vocab.len())].as_str())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    let (mut exact, mut near) = (HashSet::new(), HashSet::new());
    for k in 0..n_base / 10 {
        // exact duplicate up to case and whitespace
        let src = rng.gen_range(0..n_base);
        docs.push(docs[src].to_uppercase().replace(' ', "  \n"));
        exact.insert(docs.len() - 1);
        // near duplicate: replace ~1% of the words (Jaccard of 5-shingles ≈ 0.9)
        let src = rng.gen_range(0..n_base);
        let mut words: Vec<String> = docs[src].split(' ').map(String::from).collect();
        let edits = (words.len() / 100).max(1);
        for _ in 0..edits {
            let i = rng.gen_range(0..words.len());
            words[i] = format!("edit{k}x{i}");
        }
        docs.push(words.join(" "));
        near.insert(docs.len() - 1);
    }
    (docs, exact, near)
}

#[test]
fn dedup_finds_planted_duplicates() {
    let (docs, exact, near) = planted(2000, 5);
    let ex = exact_duplicates(&docs);
    let found_exact: HashSet<usize> = (0..docs.len()).filter(|&i| ex[i].is_some()).collect();
    assert_eq!(
        found_exact, exact,
        "exact dedup must be perfect on planted data"
    );

    let res = near_duplicates(&docs, MinHashConfig::default());
    let found: HashSet<usize> = (0..docs.len())
        .filter(|&i| res.duplicate_of[i].is_some())
        .collect();
    let planted: HashSet<usize> = exact.union(&near).copied().collect();
    let tp = found.intersection(&planted).count() as f64;
    let precision = tp / found.len().max(1) as f64;
    let recall = tp / planted.len() as f64;
    eprintln!(
        "near dedup: {} planted, {} found, precision {precision:.3}, recall {recall:.3}, \
         candidates {}, bands {:?}",
        planted.len(),
        found.len(),
        res.candidates,
        res.bands
    );
    assert!(precision >= 0.99, "precision {precision}");
    assert!(recall >= 0.95, "recall {recall}");
    // the kept document of each planted near duplicate is its source or an
    // earlier copy, never a later one
    for (i, d) in res.duplicate_of.iter().enumerate() {
        if let Some(j) = d {
            assert!(*j < i);
        }
    }
}

#[test]
fn contamination_finds_planted_items() {
    let gen = TaskGenerator::parse("needle:4-8").unwrap();
    let mut items: Vec<EvalItem> = generate_items(&gen, 1, 40)
        .into_iter()
        .map(|it| EvalItem {
            id: it.id.clone(),
            task: it.meta.task.clone(),
            text: format!("{}{}", it.prompt, it.target),
        })
        .collect();
    let add = TaskGenerator::parse("add:6").unwrap();
    items.extend(generate_items(&add, 2, 40).into_iter().map(|it| EvalItem {
        id: it.id.clone(),
        task: it.meta.task.clone(),
        text: format!("{}{}", it.prompt, it.target),
    }));
    // training data: filler plus 10 needle items and 5 addition items pasted
    // into documents (different case and spacing)
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let mut train: Vec<String> = (0..500)
        .map(|_| {
            (0..200)
                .map(|_| format!("f{} ", rng.gen_range(0..1000)))
                .collect()
        })
        .collect();
    let planted: HashSet<String> = items
        .iter()
        .filter(|it| it.task == "needle")
        .take(10)
        .chain(items.iter().filter(|it| it.task == "add").take(5))
        .map(|it| it.id.clone())
        .collect();
    for (k, it) in items
        .iter()
        .filter(|it| planted.contains(&it.id))
        .enumerate()
    {
        train[k * 7] = format!("{} {} {}", train[k * 7], it.text.to_uppercase(), "tail");
    }
    let rep = check(&items, train.iter(), 13);
    let flagged: HashSet<String> = rep
        .items
        .iter()
        .filter(|i| i.matched > 0)
        .map(|i| i.id.clone())
        .collect();
    assert_eq!(flagged, planted);
    assert_eq!(rep.tasks["needle"].contaminated, 10);
    assert_eq!(rep.tasks["add"].contaminated, 5);
    assert_eq!(rep.train_docs, 500);
    for it in rep.items.iter().filter(|i| planted.contains(&i.id)) {
        assert!(
            (it.overlap - 1.0).abs() < 1e-12 && it.train_docs == 1,
            "{it:?}"
        );
    }
}
