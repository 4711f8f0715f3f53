//! text → shards → tokens → text round trips for both tokenizers and all
//! source formats; the split is disjoint and stable; the loader is
//! deterministic whatever the prefetch; bad inputs give located errors.

use scalelab_corpus::loader::{batch_starts, windows_per_epoch};
use scalelab_corpus::prepare::{prepare, Recipe, SourceEntry};
use scalelab_corpus::source::{read_documents, BadInput, SourceOptions, TextSplit};
use scalelab_corpus::{Loader, LoaderConfig, ShardSet, Split, Tokenizer};
use std::collections::{BTreeSet, HashMap};
use std::path::Path;

fn sample_docs(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            format!(
                "Document {i}: the {} fox — naïve café {} ☕\n  second line\twith tabs {}",
                ["quick", "slow", "lazy", "red"][i % 4],
                i * 31 % 97,
                "x".repeat(i % 7)
            )
        })
        .collect()
}

fn write_sources(dir: &Path, docs: &[String]) {
    // a third as .txt files, a third as JSONL, a third as Parquet
    let (a, rest) = docs.split_at(docs.len() / 3);
    let (b, c) = rest.split_at(rest.len() / 2);
    let txt = dir.join("txt");
    std::fs::create_dir_all(txt.join("sub")).unwrap();
    for (i, d) in a.iter().enumerate() {
        std::fs::write(txt.join("sub").join(format!("{i:04}.txt")), d).unwrap();
    }
    let jsonl: String = b
        .iter()
        .map(|d| serde_json::json!({"text": d, "other": 1}).to_string() + "\n")
        .collect();
    std::fs::write(dir.join("part.jsonl"), jsonl).unwrap();
    write_parquet(&dir.join("part.parquet"), c);
}

fn write_parquet(path: &Path, docs: &[String]) {
    use parquet::data_type::{ByteArray, ByteArrayType};
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    use std::sync::Arc;
    let schema = Arc::new(
        parquet::schema::parser::parse_message_type(
            "message schema { REQUIRED BYTE_ARRAY text (UTF8); REQUIRED INT32 id; }",
        )
        .unwrap(),
    );
    let f = std::fs::File::create(path).unwrap();
    let mut w = SerializedFileWriter::new(f, schema, Arc::new(WriterProperties::builder().build()))
        .unwrap();
    let mut rg = w.next_row_group().unwrap();
    let vals: Vec<ByteArray> = docs.iter().map(|d| ByteArray::from(d.as_str())).collect();
    let mut col = rg.next_column().unwrap().unwrap();
    col.typed::<ByteArrayType>()
        .write_batch(&vals, None, None)
        .unwrap();
    col.close().unwrap();
    let ids: Vec<i32> = (0..docs.len() as i32).collect();
    let mut col = rg.next_column().unwrap().unwrap();
    col.typed::<parquet::data_type::Int32Type>()
        .write_batch(&ids, None, None)
        .unwrap();
    col.close().unwrap();
    rg.close().unwrap();
    w.close().unwrap();
}

fn recipe(src: &Path, tokenizer: &str) -> Recipe {
    let mut r = Recipe::single(src.to_path_buf());
    r.tokenizer = tokenizer.into();
    r.vocab_size = 300;
    r.val_fraction = 0.2;
    r.shard_tokens = 2000; // several shards
    r.dedup.exact = false;
    r
}

fn decoded(set: &ShardSet, split: Split) -> Vec<String> {
    let tok = set.tokenizer().unwrap();
    set.documents(split)
        .map(|t| tok.decode(&t).unwrap())
        .collect()
}

#[test]
fn round_trip_both_tokenizers_and_stable_split() {
    let tmp = tempfile::tempdir().unwrap();
    let docs = sample_docs(150);
    write_sources(tmp.path(), &docs);
    let want: BTreeSet<String> = docs.iter().cloned().collect();
    for tk in ["byte", "bpe"] {
        let out = tmp.path().join(format!("out-{tk}"));
        let rep = prepare(&recipe(tmp.path(), tk), &out, false, false).unwrap();
        assert_eq!(rep.documents_read, docs.len());
        let set = ShardSet::open(&out).unwrap();
        assert!(set.shards().len() > 2, "expected several shards");
        let train = decoded(&set, Split::Train);
        let val = decoded(&set, Split::Val);
        // exact round trip: every document comes back, byte for byte
        let got: BTreeSet<String> = train.iter().chain(&val).cloned().collect();
        assert_eq!(got, want, "{tk}: documents differ after the round trip");
        assert_eq!(train.len() + val.len(), docs.len());
        // disjoint split with roughly the asked-for fraction
        let tr: BTreeSet<_> = train.iter().collect();
        assert!(val.iter().all(|v| !tr.contains(v)));
        assert!(
            !val.is_empty() && val.len() < docs.len() / 2,
            "{}",
            val.len()
        );
        // stable under a re-run
        let out2 = tmp.path().join(format!("again-{tk}"));
        prepare(&recipe(tmp.path(), tk), &out2, false, false).unwrap();
        let set2 = ShardSet::open(&out2).unwrap();
        assert_eq!(decoded(&set2, Split::Val), val);
        assert_eq!(
            set.manifest().tokenizer.fingerprint,
            set2.manifest().tokenizer.fingerprint
        );
        if tk == "bpe" {
            assert!(set.manifest().train_tokens < rep.bytes_tokenized);
            assert!(out.join("tokenizer.json").exists());
        }
        // a second prepare into the same directory needs --force
        let err = prepare(&recipe(tmp.path(), tk), &out, false, false).unwrap_err();
        assert!(err.to_string().contains("--force"), "{err}");
    }
    // the wrong tokenizer is refused by name
    let set = ShardSet::open(&tmp.path().join("out-bpe")).unwrap();
    let err = set
        .check_tokenizer(&Tokenizer::Byte)
        .unwrap_err()
        .to_string();
    assert!(err.contains("vocabulary"), "{err}");
}

#[test]
fn loader_is_deterministic_whatever_the_prefetch() {
    let tmp = tempfile::tempdir().unwrap();
    let docs = sample_docs(300);
    write_sources(tmp.path(), &docs);
    let out = tmp.path().join("out");
    prepare(&recipe(tmp.path(), "byte"), &out, false, false).unwrap();
    let set = ShardSet::open(&out).unwrap();
    let view = set.split(Split::Train);
    let cfg = |prefetch, seed| LoaderConfig {
        batch: 4,
        context: 32,
        seed,
        shuffle: true,
        prefetch,
    };
    let windows = (view.len() - 1) / 32;
    // enough batches to cross several epochs
    let n = (3 * windows / 4 + 5) as usize;
    let draw = |prefetch, seed, slow: bool| {
        let mut l = Loader::new(view.clone(), cfg(prefetch, seed)).unwrap();
        let mut buf = vec![0u32; 4 * 33];
        (0..n)
            .map(|i| {
                if slow && i % 7 == 0 {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                l.next_batch(&mut buf).unwrap();
                buf.clone()
            })
            .collect::<Vec<_>>()
    };
    let a = draw(0, 1, false);
    assert_eq!(a, draw(8, 1, false));
    assert_eq!(a, draw(1, 1, true));
    assert_ne!(a, draw(0, 2, false));
    // every row is a real window of the split
    let mut all = vec![0u32; view.len() as usize];
    view.copy(0, &mut all);
    for row in a.iter().flat_map(|b| b.chunks(33)) {
        assert!(all.windows(33).any(|w| w == row));
    }
    // within the first epoch no window repeats, and the plan matches the data
    let per_epoch = windows_per_epoch(&view, cfg(0, 1), 0).unwrap();
    assert!(per_epoch + 1 >= windows && per_epoch <= windows);
    let mut starts = BTreeSet::new();
    for (i, batch) in a.iter().enumerate().take(per_epoch as usize / 4) {
        let s = batch_starts(&view, cfg(0, 1), i as u64).unwrap();
        for (row, st) in batch.chunks(33).zip(&s) {
            assert_eq!(row, &all[*st as usize..*st as usize + 33]);
            assert!(starts.insert(*st), "window {st} repeated within an epoch");
        }
    }
    // resuming from batch k gives the same batches
    let mut l = Loader::starting_at(view.clone(), cfg(2, 1), 5).unwrap();
    let mut buf = vec![0u32; 4 * 33];
    l.next_batch(&mut buf).unwrap();
    assert_eq!(buf, a[5]);
    // wrong buffer size is an error, not a panic
    assert!(l.next_batch(&mut [0u32; 3]).is_err());
    // random access (step-indexed trainers) gives the same batches in any order
    let mut plan = scalelab_corpus::BatchPlan::new(view.clone(), cfg(0, 1)).unwrap();
    for i in (0..n as u64).rev().step_by(3) {
        plan.fill(i, &mut buf);
        assert_eq!(buf, a[i as usize]);
    }
}

#[test]
fn bad_inputs_give_located_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("bad.txt");
    std::fs::write(&p, b"good line\nbad \xff byte\nfine\n").unwrap();
    let mut opts = SourceOptions {
        text_split: TextSplit::Line,
        ..Default::default()
    };
    let err = read_documents(&p, &opts, |_| Ok(()))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("bad.txt") && err.contains("offset 14") && err.contains("line 2"),
        "{err}"
    );
    opts.on_bad = BadInput::Skip;
    let mut got = Vec::new();
    let rep = read_documents(&p, &opts, |d| {
        got.push(d.text);
        Ok(())
    })
    .unwrap();
    assert_eq!(got, vec!["good line", "fine"]);
    assert_eq!(rep.skipped_bad, 1);

    let j = tmp.path().join("x.jsonl");
    std::fs::write(&j, "{\"text\": \"a\"}\n{\"body\": \"b\"}\n").unwrap();
    let err = read_documents(&j, &SourceOptions::default(), |_| Ok(()))
        .unwrap_err()
        .to_string();
    assert!(err.contains("x.jsonl:2") && err.contains("`text`"), "{err}");
    std::fs::write(&j, "{\"text\": \"a\"}\nnot json\n").unwrap();
    let err = read_documents(&j, &SourceOptions::default(), |_| Ok(()))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("x.jsonl:2") && err.contains("invalid JSON"),
        "{err}"
    );

    // empty corpus
    let e = tmp.path().join("empty");
    std::fs::create_dir(&e).unwrap();
    std::fs::write(e.join("a.txt"), "   \n").unwrap();
    let err = prepare(
        &Recipe::single(e.clone()),
        &tmp.path().join("o"),
        false,
        false,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("empty"), "{err}");

    // a truncated shard is refused with its name
    let docs = sample_docs(30);
    let src = tmp.path().join("src");
    std::fs::create_dir(&src).unwrap();
    write_sources(&src, &docs);
    let out = tmp.path().join("out");
    prepare(&recipe(&src, "byte"), &out, false, false).unwrap();
    let shard = out.join("train_00000.bin");
    let bytes = std::fs::read(&shard).unwrap();
    std::fs::write(&shard, &bytes[..bytes.len() - 3]).unwrap();
    let err = ShardSet::open(&out).err().unwrap().to_string();
    assert!(
        err.contains("train_00000.bin") && err.contains("truncated"),
        "{err}"
    );
}

#[test]
fn recipe_weights_filters_and_dedup() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    let b = tmp.path().join("b");
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    let docs = sample_docs(40);
    for (i, d) in docs.iter().enumerate() {
        std::fs::write(a.join(format!("{i:03}.txt")), d).unwrap();
    }
    // b: 10 documents, one exact duplicate (modulo case/space) of a's first
    // doc, one too short
    for (i, d) in docs.iter().take(8).enumerate() {
        std::fs::write(b.join(format!("{i:03}.txt")), format!("other source {d}")).unwrap();
    }
    std::fs::write(b.join("dup.txt"), docs[0].to_uppercase().replace(' ', "  ")).unwrap();
    std::fs::write(b.join("short.txt"), "tiny").unwrap();
    let toml = r#"
        tokenizer = "byte"
        val_fraction = 0.0
        seed = 3
        [[sources]]
        path = "a"
        weight = 1.0
        [[sources]]
        path = "b"
        weight = 2.5
        [filters]
        min_chars = 10
        [dedup]
        exact = true
    "#;
    let rp = tmp.path().join("recipe.toml");
    std::fs::write(&rp, toml).unwrap();
    let r = Recipe::load(&rp).unwrap();
    assert_eq!(
        r.sources[1],
        SourceEntry {
            path: tmp.path().join("b"),
            weight: 2.5,
            text_field: "text".into(),
            text_split: TextSplit::File,
        }
    );
    let out = tmp.path().join("out");
    let rep = prepare(&r, &out, false, false).unwrap();
    assert_eq!(rep.filtered.get("min_chars"), Some(&1));
    assert_eq!(rep.exact_duplicates, 1);
    let set = ShardSet::open(&out).unwrap();
    let texts = decoded(&set, Split::Train);
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for t in &texts {
        *counts.entry(t.as_str()).or_default() += 1;
    }
    // a's docs once; b's 8 docs 2 or 3 times each (weight 2.5)
    for d in &docs {
        assert_eq!(counts[d.as_str()], 1);
    }
    let b_counts: Vec<usize> = docs
        .iter()
        .take(8)
        .map(|d| counts[format!("other source {d}").as_str()])
        .collect();
    assert!(b_counts.iter().all(|&c| c == 2 || c == 3), "{b_counts:?}");
    // the recipe is recorded in the manifest
    let m = &set.manifest().provenance;
    assert_eq!(m["recipe"]["sources"][1]["weight"], 2.5);
    // unknown keys in a recipe are refused with the file name
    std::fs::write(&rp, "[[sources]]\npath = \"a\"\nwieght = 2\n").unwrap();
    let err = format!("{:#}", Recipe::load(&rp).unwrap_err());
    assert!(
        err.contains("recipe.toml") && err.contains("wieght"),
        "{err}"
    );
}

#[test]
fn parquet_with_invalid_utf8_is_an_error_not_a_panic() {
    use parquet::data_type::{ByteArray, ByteArrayType};
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    use std::sync::Arc;
    let tmp = tempfile::tempdir().unwrap();
    for annotated in [true, false] {
        let path = tmp.path().join(format!("bad{annotated}.parquet"));
        let schema = if annotated {
            "message schema { REQUIRED BYTE_ARRAY text (UTF8); }"
        } else {
            "message schema { REQUIRED BYTE_ARRAY text; }"
        };
        let schema = Arc::new(parquet::schema::parser::parse_message_type(schema).unwrap());
        let f = std::fs::File::create(&path).unwrap();
        let mut w =
            SerializedFileWriter::new(f, schema, Arc::new(WriterProperties::builder().build()))
                .unwrap();
        let mut rg = w.next_row_group().unwrap();
        let vals = vec![
            ByteArray::from("fine"),
            ByteArray::from(vec![b'a', 0xff, b'b']),
        ];
        let mut col = rg.next_column().unwrap().unwrap();
        col.typed::<ByteArrayType>()
            .write_batch(&vals, None, None)
            .unwrap();
        col.close().unwrap();
        rg.close().unwrap();
        w.close().unwrap();
        let res = std::panic::catch_unwind(|| {
            read_documents(&path, &SourceOptions::default(), |_| Ok(())).map(|_| ())
        });
        let err = res
            .expect("reading must not panic")
            .unwrap_err()
            .to_string();
        assert!(err.contains(".parquet") && err.contains("row 1"), "{err}");
        let opts = SourceOptions {
            on_bad: BadInput::Skip,
            ..Default::default()
        };
        let mut n = 0;
        let rep = read_documents(&path, &opts, |_| {
            n += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!((n, rep.skipped_bad), (1, 1));
    }
}

/// A corpus of a few documents whose hash draws put none in validation
/// still gets one validation document when a fraction is asked for (the
/// lowest draw), and keeps the rest for training; with no fraction, none.
#[test]
fn a_small_corpus_still_gets_a_validation_document() {
    let tmp = tempfile::tempdir().unwrap();
    let docs = sample_docs(4);
    let src = tmp.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    for (i, d) in docs.iter().enumerate() {
        std::fs::write(src.join(format!("{i}.txt")), d).unwrap();
    }
    let mut r = recipe(&src, "byte");
    r.val_fraction = 1e-9; // no draw falls below it
    let rep = prepare(&r, &tmp.path().join("a"), false, false).unwrap();
    assert_eq!((rep.train_docs, rep.val_docs), (3, 1));
    // the same document every time
    let again = prepare(&r, &tmp.path().join("b"), false, false).unwrap();
    assert_eq!(again.val_docs, 1);
    let a = ShardSet::open(&tmp.path().join("a")).unwrap();
    let b = ShardSet::open(&tmp.path().join("b")).unwrap();
    assert_eq!(decoded(&a, Split::Val), decoded(&b, Split::Val));
    r.val_fraction = 0.0;
    let none = prepare(&r, &tmp.path().join("c"), false, false).unwrap();
    assert_eq!((none.train_docs, none.val_docs), (4, 0));
}
