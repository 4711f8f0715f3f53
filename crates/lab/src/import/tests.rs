//! Imports of the committed real-format fixtures (`tests/data/import`,
//! written by its `make_fixtures.py` with the `tensorboard` package), with
//! exact values, and every malformed input's message.

use super::*;
use crate::Silent;
use scalelab_tables::Table;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/import")
}

fn fx(rel: &str) -> PathBuf {
    fixtures().join(rel)
}

/// A table's rows as maps from column to text, for exact comparisons.
fn rows(path: &Path) -> Vec<BTreeMap<String, String>> {
    let t = Table::read(path).unwrap();
    t.rows
        .iter()
        .map(|r| {
            t.columns
                .iter()
                .cloned()
                .zip(r.iter().map(|c| c.display()))
                .collect()
        })
        .collect()
}

fn row<'a>(rows: &'a [BTreeMap<String, String>], run: &str) -> &'a BTreeMap<String, String> {
    rows.iter()
        .find(|r| r["run"] == run)
        .unwrap_or_else(|| panic!("no run {run}"))
}

fn num(r: &BTreeMap<String, String>, col: &str) -> f64 {
    r[col]
        .parse()
        .unwrap_or_else(|_| panic!("{col} = {:?}", r[col]))
}

fn tb_request(logdir: PathBuf, out: &Path) -> ImportRequest {
    let mut req = ImportRequest::new(ImportKind::Tensorboard, vec![logdir], out);
    req.map = Some(fx("map_tb.toml"));
    req
}

/// Copies the TensorBoard fixtures to a scratch directory.
fn tb_copy(dir: &Path) -> PathBuf {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let p = e.unwrap().path();
            let t = to.join(p.file_name().unwrap());
            if p.is_dir() {
                copy(&p, &t);
            } else {
                std::fs::copy(&p, &t).unwrap();
            }
        }
    }
    let to = dir.join("tb");
    copy(&fx("tb"), &to);
    to
}

/// Byte offsets of the records of a TFRecord file.
fn record_offsets(bytes: &[u8]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut o = 0;
    while o < bytes.len() {
        out.push(o);
        o += 16 + u64::from_le_bytes(bytes[o..o + 8].try_into().unwrap()) as usize;
    }
    out
}

// the generator's values (make_fixtures.py)
fn small_val(s: f64) -> f64 {
    5.5 - s / 128.0
}
fn medium_val(s: f64) -> f64 {
    5.0 - s / 128.0
}
fn large_val(s: f64) -> f64 {
    4.5 - s / 128.0
}

#[test]
fn tensorboard_fixtures_import_with_exact_values() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let r = run(&tb_request(fx("tb"), &out), &Silent).unwrap();
    assert_eq!(r.schema, SCHEMA);
    let names: Vec<&str> = r.runs.iter().map(|x| x.run.as_str()).collect();
    assert_eq!(names, ["large", "nested/medium", "small"]);
    assert_eq!(r.files.len(), 4);
    assert_eq!(r.loss.as_deref(), Some("val/loss"));
    assert_eq!(r.train_loss.as_deref(), Some("train/loss"));
    // found: nested/medium logs it
    assert_eq!(r.tokens.as_deref(), Some("train/tokens"));
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    assert!(r.notes.iter().any(|n| n.contains("config, weights")));

    let runs = rows(&out.join("runs.csv"));
    let small = row(&runs, "small");
    // the restarted run: the second file's value at step 100 replaced the
    // first's stale one (small_val(100) + 0.25)
    assert_eq!(num(small, "loss"), small_val(200.0));
    assert_eq!(num(small, "train_loss"), 6.0 - 200.0 / 64.0);
    assert_eq!(num(small, "params"), 1e6);
    assert_eq!(num(small, "params_total"), 1.5e6);
    assert_eq!(num(small, "tokens"), 4096.0 * 200.0);
    assert_eq!(num(small, "flops"), 6.0 * 1e6 * 4096.0 * 200.0);
    assert_eq!(num(small, "steps"), 200.0);
    // TF2 tensors: float_val, tensor_content, int64 tokens
    let medium = row(&runs, "nested/medium");
    assert_eq!(num(medium, "loss"), medium_val(200.0));
    assert_eq!(num(medium, "train_loss"), 5.5 - 200.0 / 64.0);
    assert_eq!(
        num(medium, "tokens"),
        800_000.0,
        "the tag wins over tokens_per_step"
    );
    let large = row(&runs, "large");
    assert_eq!(num(large, "loss"), large_val(300.0));
    assert_eq!(
        num(large, "tokens"),
        8192.0 * 300.0,
        "per-run tokens_per_step"
    );
    assert_eq!(large["params_total"], "");

    let curves = rows(&out.join("curves.csv"));
    let small_curve: Vec<(f64, f64)> = curves
        .iter()
        .filter(|r| r["run"] == "small")
        .map(|r| (num(r, "step"), num(r, "loss")))
        .collect();
    // step 0 (no tokens yet) is left out
    assert_eq!(
        small_curve,
        [50.0, 100.0, 150.0, 200.0].map(|s| (s, small_val(s)))
    );
    assert_eq!(curves.len(), 4 + 4 + 6);
    // the training loss at or before each validation step
    let m50 = curves
        .iter()
        .find(|r| r["run"] == "nested/medium" && r["step"] == "50")
        .unwrap();
    assert_eq!(num(m50, "train_loss"), 5.5 - 50.0 / 64.0);
    assert_eq!(num(m50, "tokens"), 200_000.0);

    let scalars = rows(&out.join("scalars.csv"));
    let lr: Vec<f64> = scalars
        .iter()
        .filter(|r| r["run"] == "nested/medium" && r["tag"] == "lr")
        .map(|r| num(r, "value"))
        .collect();
    assert_eq!(lr, vec![0.002; 9], "DT_DOUBLE double_val");
    assert!(!scalars.iter().any(|r| r["tag"] == "weights"));
    // the report round-trips
    let back: ImportReport = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
    assert_eq!(back.runs, r.runs);
}

#[test]
fn a_directory_without_scalars_is_left_out_with_a_warning() {
    // TensorFlow's profiler leaves an event file holding only the file
    // version in the log directory itself
    let dir = tempfile::tempdir().unwrap();
    let tb = tb_copy(dir.path());
    let f = std::fs::read(tb.join("small/events.out.tfevents.1700000000.fixture.1.0")).unwrap();
    let first = record_offsets(&f)[1];
    std::fs::write(
        tb.join("events.out.tfevents.1700000000.fixture.profile-empty"),
        &f[..first],
    )
    .unwrap();
    let r = run(&tb_request(tb, &dir.path().join("out")), &Silent).unwrap();
    assert_eq!(r.runs.len(), 3);
    assert_eq!(r.files.len(), 5);
    assert_eq!(r.warnings.len(), 1, "{:?}", r.warnings);
    assert!(
        r.warnings[0]
            .message
            .starts_with("1 runs have no scalars and are left out: tb ("),
        "{}",
        r.warnings[0]
    );
}

#[test]
fn a_flipped_byte_names_the_file_record_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let tb = tb_copy(dir.path());
    let f = tb.join("small/events.out.tfevents.1700000100.fixture.1.0");
    let good = std::fs::read(&f).unwrap();
    let offs = record_offsets(&good);
    assert_eq!(offs[2], 164);
    let mut bytes = good.clone();
    bytes[offs[2] + 12 + 3] ^= 0x01;
    std::fs::write(&f, &bytes).unwrap();
    let e = run(&tb_request(tb.clone(), &dir.path().join("out")), &Silent).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, Error::Input { .. }), "{e:?}");
    assert!(
        msg.contains("events.out.tfevents.1700000100.fixture.1.0: record 2 at byte 164:")
            && msg.contains("does not match its data"),
        "{msg}"
    );
    // a flipped bit in a length field
    let mut bytes = good.clone();
    bytes[offs[3]] ^= 0x40;
    std::fs::write(&f, &bytes).unwrap();
    let e = run(&tb_request(tb, &dir.path().join("o2")), &Silent).unwrap_err();
    assert!(
        e.to_string()
            .contains("record 3 at byte 223: the checksum of the length field"),
        "{e}"
    );
}

#[test]
fn a_truncated_middle_record_is_an_error_and_a_truncated_tail_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let tb = tb_copy(dir.path());
    let f = tb.join("small/events.out.tfevents.1700000100.fixture.1.0");
    let good = std::fs::read(&f).unwrap();
    let offs = record_offsets(&good);
    // 10 bytes cut out of record 1's data
    let mut cut = good[..offs[1] + 20].to_vec();
    cut.extend(&good[offs[1] + 30..]);
    std::fs::write(&f, &cut).unwrap();
    let e = run(&tb_request(tb.clone(), &dir.path().join("o1")), &Silent).unwrap_err();
    assert!(e.to_string().contains("record 1 at byte 88:"), "{e}");

    // the last record cut short, as a live writer leaves it
    std::fs::write(&f, &good[..good.len() - 5]).unwrap();
    let out = dir.path().join("o2");
    let r = run(&tb_request(tb, &out), &Silent).unwrap();
    let last = *offs.last().unwrap();
    assert_eq!(r.warnings.len(), 1, "{:?}", r.warnings);
    assert!(
        r.warnings[0].message.contains(&format!(
            "record {} at byte {last} is cut short",
            offs.len() - 1
        )),
        "{}",
        r.warnings[0]
    );
    // the lost record held step 200's scalars: the run now ends at step 175
    // (training loss) and its last validation loss is step 150's
    let runs = rows(&out.join("runs.csv"));
    let small = row(&runs, "small");
    assert_eq!(num(small, "loss"), small_val(150.0));
    assert_eq!(num(small, "steps"), 175.0);
}

#[test]
fn runs_without_params_are_listed_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let map = dir.path().join("map.toml");
    std::fs::write(
        &map,
        "tokens_per_step = 4096\n[runs.small]\nparams = 1e6\n[runs.gone]\nparams = 2e6\n",
    )
    .unwrap();
    let mut req = tb_request(fx("tb"), &dir.path().join("out"));
    req.map = Some(map.clone());
    let e = run(&req, &Silent).unwrap_err();
    assert!(
        matches!(e, Error::Flag { ref flag, .. } if flag == "--map"),
        "{e:?}"
    );
    assert!(
        e.to_string()
            .contains("no params for 2 runs: 'large', 'nested/medium'"),
        "{e}"
    );
    req.allow_missing_params = true;
    let r = run(&req, &Silent).unwrap();
    let w: Vec<&str> = r.warnings.iter().map(|w| w.message.as_str()).collect();
    assert!(
        w.iter().any(|m| m.contains("2 runs have no params")),
        "{w:?}"
    );
    // the mapping's run that matches nothing, with its line
    assert!(
        w.iter()
            .any(|m| m.contains("map.toml:4: [runs.\"gone\"] matches no imported run")),
        "{w:?}"
    );
    let runs = rows(&dir.path().join("out/runs.csv"));
    assert_eq!(row(&runs, "large")["params"], "");
    assert_eq!(row(&runs, "large")["flops"], "");
}

#[test]
fn a_named_tag_that_no_run_has_is_a_flag_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut req = tb_request(fx("tb"), &dir.path().join("out"));
    req.loss = Some("eval/loss".into());
    let e = run(&req, &Silent).unwrap_err();
    assert!(
        matches!(e, Error::Flag { ref flag, .. } if flag == "--loss-tag"),
        "{e:?}"
    );
    assert!(e.to_string().contains("'val/loss'"), "lists the tags: {e}");
}

fn csv_request(files: &[&str], map: &str, out: &Path) -> ImportRequest {
    let mut req = ImportRequest::new(ImportKind::Csv, files.iter().map(|f| fx(f)).collect(), out);
    req.map = Some(fx(map));
    req
}

fn q(x: f64) -> f64 {
    (x * 1024.0).round() / 1024.0
}

fn wandb_val(n: f64, s: f64) -> f64 {
    q(1.75 + 96.0 / n.powf(0.25) + 2.0 * (1000.0 - s) / 1000.0)
}

#[test]
fn wandb_panel_exports_merge_and_ignore_min_max() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let req = csv_request(
        &["wandb_val_loss.csv", "wandb_train_loss.csv"],
        "map_wandb.toml",
        &out,
    );
    let r = run(&req, &Silent).unwrap();
    assert_eq!(r.layout, Some(CsvLayout::Wandb));
    assert!(r.layout_detected);
    assert_eq!(r.files.len(), 2);
    let names: Vec<&str> = r.runs.iter().map(|x| x.run.as_str()).collect();
    assert_eq!(names, ["gpt-xs", "gpt-s", "gpt-m", "gpt-l", "gpt-xl"]);
    let runs = rows(&out.join("runs.csv"));
    for (name, n) in [("gpt-xs", 1e6), ("gpt-m", 1e7), ("gpt-xl", 1e8)] {
        let x = row(&runs, name);
        assert_eq!(num(x, "loss"), wandb_val(n, 1000.0), "{name}");
        assert_eq!(num(x, "train_loss"), wandb_val(n, 1000.0) - 0.0625);
        assert_eq!(num(x, "tokens"), 65536.0 * 1000.0);
        assert_eq!(num(x, "params"), n);
    }
    // gpt-xs logged nothing at step 600; step 0 is left out of the curves
    let curves = rows(&out.join("curves.csv"));
    let xs: Vec<f64> = curves
        .iter()
        .filter(|r| r["run"] == "gpt-xs")
        .map(|r| num(r, "step"))
        .collect();
    assert_eq!(xs, [200.0, 400.0, 800.0, 1000.0]);
    assert_eq!(r.runs[0].rows, 4);
    let scalars = rows(&out.join("scalars.csv"));
    assert!(!scalars.iter().any(|r| r["tag"].contains("__M")));
}

#[test]
fn long_and_per_run_layouts_are_detected() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("long");
    let r = run(&csv_request(&["long.csv"], "map_long.toml", &out), &Silent).unwrap();
    assert_eq!(r.layout, Some(CsvLayout::Long));
    assert_eq!(r.tokens.as_deref(), Some("tokens"));
    assert!(
        r.notes.iter().any(|n| n.contains("ignored: group")),
        "{:?}",
        r.notes
    );
    let runs = rows(&out.join("runs.csv"));
    // long_val(i, s) = 4 - i/4 - s/512 at s = 500
    for (i, name) in ["lr-1e-3", "lr-3e-3", "lr-1e-2"].iter().enumerate() {
        let x = row(&runs, name);
        let v = 4.0 - i as f64 * 0.25 - 500.0 / 512.0;
        assert_eq!(num(x, "loss"), v);
        assert_eq!(num(x, "train_loss"), v + 0.125);
        assert_eq!(num(x, "tokens"), 500.0 * 2048.0);
    }

    let out = dir.path().join("per_run");
    let req = csv_request(
        &["per_run/alpha/history.csv", "per_run/beta/history.csv"],
        "map_per_run.toml",
        &out,
    );
    let r = run(&req, &Silent).unwrap();
    assert_eq!(r.layout, Some(CsvLayout::PerRun));
    // history.csv twice: runs named by their directories
    let names: Vec<&str> = r.runs.iter().map(|x| x.run.as_str()).collect();
    assert_eq!(names, ["alpha", "beta"]);
    let runs = rows(&out.join("runs.csv"));
    let beta = row(&runs, "beta");
    // train at 300: 3.5 - 0.5 - 300/256; val = train + 1/16
    assert_eq!(num(beta, "loss"), 3.0 - 300.0 / 256.0 + 0.0625);
    assert_eq!(num(beta, "tokens"), 300.0 * 1024.0);
    let curves = rows(&out.join("curves.csv"));
    let a200 = curves
        .iter()
        .find(|r| r["run"] == "alpha" && r["step"] == "200")
        .unwrap();
    // the training loss logged at 200 (not at 150)
    assert_eq!(num(a200, "train_loss"), 3.5 - 200.0 / 256.0);
    // forcing a layout that does not fit says so
    let mut req = csv_request(&["long.csv"], "map_long.toml", &dir.path().join("x"));
    req.layout = Some(CsvLayout::Wandb);
    let e = run(&req, &Silent).unwrap_err();
    assert!(e.to_string().contains("not a W&B panel export"), "{e}");
}

#[test]
fn a_garbage_csv_cell_names_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(fx("long.csv")).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    // line 4 (1-based): the val/loss cell (column 6) becomes garbage
    let mut cells: Vec<String> = lines[3].split(',').map(String::from).collect();
    cells[5] = "0.9x".into();
    lines[3] = cells.join(",");
    let bad = dir.path().join("long.csv");
    std::fs::write(&bad, lines.join("\n") + "\n").unwrap();
    let mut req = csv_request(&[], "map_long.toml", &dir.path().join("out"));
    req.inputs = vec![bad.clone()];
    let e = run(&req, &Silent).unwrap_err();
    assert!(matches!(e, Error::Table(_)), "{e:?}");
    assert!(
        e.to_string()
            .ends_with("long.csv:4:6: column 'val/loss': '0.9x' is not a number"),
        "{e}"
    );
    // a row with a missing field: its line
    lines[3] = "lr-1e-3,200".into();
    std::fs::write(&bad, lines.join("\n") + "\n").unwrap();
    let e = run(&req, &Silent).unwrap_err();
    assert!(
        e.to_string()
            .contains("long.csv:4: this row has 2 fields but the header has 7"),
        "{e}"
    );
    // a fractional step
    lines[3] = "lr-1e-3,200.5,1,a,1,1,1".into();
    std::fs::write(&bad, lines.join("\n") + "\n").unwrap();
    let e = run(&req, &Silent).unwrap_err();
    assert!(
        e.to_string()
            .contains("long.csv:4:2: column '_step': step 200.5 is not a whole number"),
        "{e}"
    );
}

#[test]
fn an_unknown_mapping_key_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let map = dir.path().join("map.toml");
    std::fs::write(
        &map,
        "loss = \"val/loss\"\n\n[runs.small]\nparams = 1e6\nparmas_total = 2e6\n",
    )
    .unwrap();
    let mut req = tb_request(fx("tb"), &dir.path().join("out"));
    req.map = Some(map);
    let e = run(&req, &Silent).unwrap_err();
    assert!(matches!(e, Error::Input { line: Some(5), .. }), "{e:?}");
    assert!(
        e.to_string()
            .contains("map.toml:5:1: unknown field `parmas_total`"),
        "{e}"
    );
}

fn lm_request(out: &Path) -> ImportRequest {
    let mut req = ImportRequest::new(ImportKind::LmEval, vec![fx("lm_eval")], out);
    req.map = Some(fx("models.toml"));
    req
}

#[test]
fn lm_eval_results_of_both_formats_become_the_emerge_table() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("evals.csv");
    let r = run(&lm_request(&out), &Silent).unwrap();
    assert_eq!(r.files.len(), 6);
    assert_eq!(r.runs.len(), 6);
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    let t = rows(&out);
    // 4 files of 0.4 with 11 values (gsm8k with two filters, wikitext with
    // "N/A" standard errors) and 2 of 0.3 with 6
    assert_eq!(t.len(), 4 * 11 + 2 * 6);
    let find = |model: &str, task: &str, metric: &str, filter: &str| {
        t.iter()
            .find(|r| {
                r["run"] == model
                    && r["task"] == task
                    && r["metric"] == metric
                    && r["filter"] == filter
            })
            .unwrap_or_else(|| panic!("{model} {task} {metric} {filter}"))
    };
    // 0.4: "perplexity,none" is written as ppl
    let p = find("EleutherAI/pythia-160m", "lambada_openai", "ppl", "none");
    assert_eq!(num(p, "value"), 38.064877017771195);
    assert_eq!(num(p, "stderr"), 1.4363799633211518);
    assert_eq!(num(p, "n"), 5153.0);
    assert_eq!(num(p, "params"), 85056000.0);
    assert_eq!(num(p, "params_total"), 162322944.0);
    // tokens_per_step × the revision's step
    assert_eq!(num(p, "tokens"), 2097152.0 * 143000.0);
    assert_eq!(p["revision"], "step143000");
    assert_eq!(num(p, "step"), 143000.0);
    assert_eq!(num(p, "num_fewshot"), 0.0);
    let g = find(
        "EleutherAI/pythia-1b",
        "gsm8k",
        "exact_match",
        "strict-match",
    );
    assert_eq!(num(g, "value"), 0.015163002274450341);
    assert_eq!(num(g, "num_fewshot"), 5.0);
    find(
        "EleutherAI/pythia-1b",
        "gsm8k",
        "exact_match",
        "flexible-extract",
    );
    let w = find(
        "EleutherAI/pythia-70m",
        "wikitext",
        "word_perplexity",
        "none",
    );
    assert_eq!(w["stderr"], "", "N/A");
    // 0.3, matched by pretrained= of model_args
    let a = find("EleutherAI/pythia-410m", "arc_easy", "acc_norm", "none");
    assert_eq!(num(a, "value"), 0.45791245791245794);
    assert_eq!(num(a, "stderr"), 0.010223371342195902);
    assert_eq!(a["n"], "");
    assert_eq!(num(a, "tokens"), 299892736000.0);
    assert_eq!(num(a, "flops"), 6.0 * 302311424.0 * 299892736000.0);
    find("EleutherAI/pythia-1.4b", "lambada_openai", "ppl", "none");
    // emerge reads it
    let mut em = crate::emerge::EmergeRequest::new(&out);
    em.filters = vec!["filter == 'none'".into()];
    em.bootstrap = 20;
    let rep = crate::emerge::run(&em, &Silent).unwrap();
    let lambada = rep
        .tasks
        .iter()
        .find(|t| t.task == "lambada_openai")
        .unwrap();
    assert_eq!(lambada.points.len(), 6);
    assert_eq!(lambada.continuous_points.len(), 6);
}

#[test]
fn a_model_missing_from_the_mapping_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let map = dir.path().join("models.toml");
    let text = std::fs::read_to_string(fx("models.toml")).unwrap();
    let cut = text.find("[models.\"EleutherAI/pythia-410m\"]").unwrap();
    let end = text[cut..].find("\n\n").unwrap() + cut;
    std::fs::write(&map, format!("{}{}", &text[..cut], &text[end + 2..])).unwrap();
    let mut req = lm_request(&dir.path().join("evals.csv"));
    req.map = Some(map);
    let e = run(&req, &Silent).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains(
            "pythia-410m/results.json: model 'EleutherAI/pythia-410m' is not in the mapping"
        ),
        "{msg}"
    );
    // the output path must be a table file
    let mut req = lm_request(&dir.path().join("evals"));
    req.map = Some(fx("models.toml"));
    assert!(
        matches!(run(&req, &Silent).unwrap_err(), Error::Flag { ref flag, .. } if flag == "--out")
    );
}
