//! Property tests of every reader of user files: no input makes them panic.
//!
//! Each property feeds one reader inputs a user (or a crash, or a full
//! disk) could leave behind — random bytes, valid files with bytes flipped
//! or cut short, valid structures with values replaced by extreme ones — and
//! asserts that the reader returns `Ok` or a typed error (which names the
//! file where the reader has one), never a panic. Readers covered: the run
//! table (CSV, TSV, JSONL, Parquet, through `--where` filters and the
//! observations of a law), the `--where` grammar, sweep TOML files, fit files
//! (read, checked, predicted from and planned from), metrics JSONL of the
//! engine and of external trainers, and safetensors checkpoints.
//!
//! CI runs the default number of cases per property (`PROPTEST_CASES`,
//! 256 unless set); docs/BENCHMARKS.md records a longer run.

use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};
use scalelab::fit::{fit_table, FitRequest};
use scalelab::plan::{plan, PlanRequest};
use scalelab::runs::table_from_columns;
use scalelab::Silent;
use scalelab_core::accounting::GptShape;
use scalelab_engine::checkpoint::{self, CheckpointState};
use scalelab_engine::model::ParamLayout;
use scalelab_tables::{Cell, ColumnMap, Filter, Format, Table};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

fn config() -> Config {
    Config {
        // a failing input is printed in the test's output; nothing is
        // written beside the sources
        failure_persistence: Some(Box::new(FileFailurePersistence::Off)),
        ..Config::default()
    }
}

/// A scratch directory shared by all cases of this binary.
fn scratch() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("tempdir"))
        .path()
}

/// A fresh file name in the scratch directory.
fn fresh(ext: &str) -> PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    scratch().join(format!("f{}.{ext}", N.fetch_add(1, Ordering::Relaxed)))
}

/// Byte-level damage to a valid file.
#[derive(Clone, Debug)]
enum Damage {
    Flip { at: usize, bits: u8 },
    Set { at: usize, byte: u8 },
    Cut { at: usize },
    Insert { at: usize, bytes: Vec<u8> },
    Delete { at: usize, len: usize },
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        (any::<usize>(), 1u8..).prop_map(|(at, bits)| Damage::Flip { at, bits }),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Damage::Set { at, byte }),
        any::<usize>().prop_map(|at| Damage::Cut { at }),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(at, bytes)| Damage::Insert { at, bytes }),
        (any::<usize>(), 1usize..64).prop_map(|(at, len)| Damage::Delete { at, len }),
    ]
}

fn apply(bytes: &[u8], damages: &[Damage]) -> Vec<u8> {
    let mut b = bytes.to_vec();
    for d in damages {
        let n = b.len().max(1);
        match d {
            Damage::Flip { at, bits } => {
                if !b.is_empty() {
                    b[at % n] ^= bits;
                }
            }
            Damage::Set { at, byte } => {
                if !b.is_empty() {
                    b[at % n] = *byte;
                }
            }
            Damage::Cut { at } => b.truncate(at % n),
            Damage::Insert { at, bytes } => {
                let i = at % (b.len() + 1);
                b.splice(i..i, bytes.iter().copied());
            }
            Damage::Delete { at, len } => {
                let i = at % n;
                let j = (i + len).min(b.len());
                if i < j {
                    b.drain(i..j);
                }
            }
        }
    }
    b
}

/// An error message must name the file it is about.
fn names_file(msg: &str, path: &Path) -> bool {
    let name = path.file_name().unwrap().to_string_lossy();
    msg.contains(name.as_ref())
}

// ---------------------------------------------------------------- tables

/// Cells as a user might write them: numbers in every spelling, text,
/// quotes, separators and line breaks inside quotes, empties.
fn csv_cell() -> impl Strategy<Value = String> {
    prop_oneof![
        (1e-3f64..1e22).prop_map(|v| format!("{v}")),
        (1e-3f64..1e22).prop_map(|v| format!("{v:e}")),
        prop::sample::select(vec![
            "",
            " ",
            "0",
            "-0",
            "-1",
            "1e400",
            "-1e400",
            "nan",
            "NaN",
            "inf",
            "-inf",
            "Infinity",
            "1e-400",
            "0x10",
            "1_000",
            "\"\"",
            "\"a,b\"",
            "\"line\nbreak\"",
            "\"cr\r\nlf\"",
            "\"unterminated",
            "x\"y",
            "é",
            "\u{feff}",
            "\t",
            "1,5",
            "true",
            "null",
        ])
        .prop_map(String::from),
        "[a-z0-9 .,\"\r\n-]{0,8}",
    ]
}

fn column_name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "params", "tokens", "flops", "loss", "run", "status", "", " loss", "params",
        ])
        .prop_map(String::from),
        "[a-zA-Z_ \"]{0,6}",
    ]
}

fn csv_text() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(column_name(), 1..6),
        prop::collection::vec(prop::collection::vec(csv_cell(), 0..7), 0..8),
        prop::sample::select(vec!["\n", "\r\n", "\r"]),
        any::<bool>(),
    )
        .prop_map(|(header, rows, eol, trailing)| {
            let mut s = header.join(",");
            for r in rows {
                s.push_str(eol);
                s.push_str(&r.join(","));
            }
            if trailing {
                s.push_str(eol);
            }
            s
        })
}

fn jsonl_value() -> impl Strategy<Value = String> {
    prop_oneof![
        (1e-3f64..1e22).prop_map(|v| format!("{v}")),
        prop::sample::select(vec![
            "null",
            "true",
            "\"x\"",
            "1e400",
            "-1",
            "0",
            "[]",
            "{}",
            "\"1e3\"",
            "NaN",
            "[1,2]",
            "{\"a\":1}",
            "18446744073709551616",
            "-0.0",
        ])
        .prop_map(String::from),
    ]
}

fn jsonl_text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            prop::collection::vec((column_name(), jsonl_value()), 0..6).prop_map(|kv| {
                let body: Vec<String> = kv
                    .iter()
                    .map(|(k, v)| format!("{}:{v}", serde_json::to_string(k).unwrap()))
                    .collect();
                format!("{{{}}}", body.join(","))
            }),
            "[ -~]{0,30}",
        ],
        0..8,
    )
    .prop_map(|lines| lines.join("\n"))
}

/// Reads a table file as `fit`, `isoflop` and friends do: the reader, a
/// filter and the observations of the Chinchilla law.
fn read_like_fit(path: &Path, filter: Option<&str>) {
    match Table::read(path) {
        Ok(t) => {
            let law = scalelab_core::laws::law_by_name("chinchilla").unwrap();
            let filters: Vec<String> = filter.map(String::from).into_iter().collect();
            let kept = scalelab::runs::filter_table(t, &filters);
            if let Ok(kept) = kept {
                let _ = scalelab::runs::observations(kept, &ColumnMap::default(), law.as_ref());
            }
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(names_file(&msg, path), "error without the file: {msg}");
        }
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn table_reader_never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..300),
                                          ext in prop::sample::select(vec!["csv", "tsv", "jsonl", "parquet"])) {
        let p = fresh(ext);
        std::fs::write(&p, &bytes).unwrap();
        read_like_fit(&p, None);
    }

    #[test]
    fn table_reader_never_panics_on_csv(text in csv_text(), tsv in any::<bool>()) {
        let (p, text) = if tsv { (fresh("tsv"), text.replace(',', "\t")) } else { (fresh("csv"), text) };
        std::fs::write(&p, text).unwrap();
        read_like_fit(&p, Some("loss < 3 and params >= 1"));
    }

    #[test]
    fn table_reader_never_panics_on_jsonl(text in jsonl_text()) {
        let p = fresh("jsonl");
        std::fs::write(&p, text).unwrap();
        read_like_fit(&p, Some("tokens > 0"));
    }

    #[test]
    fn table_reader_never_panics_on_damaged_parquet(damages in prop::collection::vec(damage(), 1..4)) {
        let p = fresh("parquet");
        std::fs::write(&p, apply(valid_parquet(), &damages)).unwrap();
        read_like_fit(&p, None);
    }
}

/// A valid Parquet run table, written once by scalelab's own writer.
fn valid_parquet() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| {
        let p = fresh("parquet");
        let columns: Vec<String> = ["run", "params", "tokens", "loss"]
            .map(String::from)
            .to_vec();
        let rows: Vec<Vec<Cell>> = (0..6)
            .map(|i| {
                vec![
                    Cell::Str(format!("r{i}")),
                    Cell::Num(1e6 * (i + 1) as f64),
                    Cell::Num(2e7 * (i + 1) as f64),
                    Cell::Num(3.0 - 0.1 * i as f64),
                ]
            })
            .collect();
        scalelab_tables::write_parquet(&p, &columns, &rows).unwrap();
        std::fs::read(&p).unwrap()
    })
}

// ---------------------------------------------------------------- --where

fn where_token() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "loss", "params", "run", "status", "<", "<=", ">", ">=", "==", "=", "!=", "and", "AND",
            "&&", "or", "'", "\"", "done", "1e3", "-1", "1e400", "nan", "(", ")", " ", "'a b'",
            "\\", "é",
        ])
        .prop_map(String::from),
        "[ -~]{0,4}",
    ]
}

fn small_table() -> Table {
    Table {
        path: PathBuf::from("runs.csv"),
        format: Format::Csv,
        columns: ["run", "status", "params", "loss"]
            .map(String::from)
            .to_vec(),
        rows: vec![
            vec![
                Cell::Str("a".into()),
                Cell::Str("done".into()),
                Cell::Num(1e6),
                Cell::Num(2.5),
            ],
            vec![
                Cell::Str("b".into()),
                Cell::Null,
                Cell::Num(3e6),
                Cell::Str("x".into()),
            ],
        ],
        lines: vec![2, 3],
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn where_grammar_never_panics(tokens in prop::collection::vec(where_token(), 0..8)) {
        let text = tokens.join(" ");
        if let Ok(f) = Filter::parse(&text) {
            let t = small_table();
            for row in 0..t.len() {
                let _ = f.matches(&t, row);
            }
        }
        let _ = Filter::parse(&tokens.concat());
    }

    /// Well-formed numeric comparisons parse, and agree with the comparison
    /// done directly.
    #[test]
    fn where_comparisons_agree_with_arithmetic(op in prop::sample::select(vec!["<", "<=", ">", ">=", "==", "!="]),
                                               v in -1e7f64..1e7) {
        let f = Filter::parse(&format!("params {op} {v}")).unwrap();
        let t = small_table();
        for (row, x) in [(0usize, 1e6f64), (1, 3e6)] {
            let want = match op {
                "<" => x < v, "<=" => x <= v, ">" => x > v, ">=" => x >= v,
                "==" => x == v, _ => x != v,
            };
            prop_assert_eq!(f.matches(&t, row).unwrap(), want, "params {} {} on {}", op, v, x);
        }
    }
}

// ---------------------------------------------------------------- sweep TOML

const SWEEP: &str = r#"name = "fuzz"

[train]
data = "random"
context = 16
batch = 2
lr = 3e-3
threads = 1

[schedule]
tokens_per_param = 20
evals = 2
checkpoints = 2
lr_rule = { base = 3e-3, ref_params = 1e5, exponent = -0.25 }

[[runs]]
params = 3e4
tokens = 2e5
seed = 1

[grid]
params = [1e4, 3e4]
tokens_per_param = [5, 20]

[design]
total_flops = 1e13
budgets = 2
decades = 1.0
sizes = 3
spread = 3.0
tokens_per_param = 20

[slurm]
partition = "debug"
time = "01:00:00"
max_concurrent = 2
"#;

fn toml_value() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "0",
            "-1",
            "1",
            "1e300",
            "-1e300",
            "nan",
            "inf",
            "-inf",
            "1e-300",
            "0.5",
            "9223372036854775807",
            "-9223372036854775808",
            "true",
            "\"\"",
            "\"synth\"",
            "\"../x\"",
            "\"a/b\"",
            "[]",
            "[0]",
            "[1e300, -1]",
            "{}",
            "{ base = 0 }",
            "{ base = 1e300, ref_params = 0, exponent = 1e300 }",
            "\"01:00\"",
            "\"x\"",
            "1979-05-27",
            "[[]]",
            "2e15",
            "1e30",
            "1000",
        ])
        .prop_map(String::from),
        (-1e12f64..1e12).prop_map(|v| format!("{v:e}")),
    ]
}

fn toml_key() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "name",
        "params",
        "tokens",
        "tokens_per_param",
        "flops",
        "seed",
        "lr",
        "n_layer",
        "d_model",
        "n_head",
        "d_ff",
        "context",
        "batch",
        "vocab",
        "steps",
        "total_flops",
        "budgets",
        "decades",
        "sizes",
        "spread",
        "evals",
        "checkpoints",
        "lr_rule",
        "data",
        "threads",
        "warmup_steps",
        "min_lr_ratio",
        "grad_clip",
        "eval_batches",
        "max_concurrent",
        "time",
        "partition",
        "design_file",
        "unknown_key",
    ])
    .prop_map(String::from)
}

fn load_sweep(text: &str) {
    let p = fresh("toml");
    std::fs::write(&p, text).unwrap();
    if let Err(e) = scalelab::sweep::Sweep::load(&p) {
        let msg = e.to_string();
        assert!(names_file(&msg, &p), "error without the file: {msg}");
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn sweep_toml_never_panics_on_values(
        edits in prop::collection::vec((
            prop::sample::select(vec!["", "[train]", "[schedule]", "[[runs]]", "[grid]", "[design]", "[slurm]"]),
            toml_key(),
            toml_value(),
        ), 1..4)
    ) {
        let mut text = SWEEP.to_string();
        for (section, key, value) in &edits {
            // edit the running text, not the base, so edits accumulate
            let base = std::mem::take(&mut text);
            text = edit_in(&base, section, key, value);
        }
        load_sweep(&text);
    }

    #[test]
    fn sweep_toml_never_panics_on_damaged_text(damages in prop::collection::vec(damage(), 1..4)) {
        let bytes = apply(SWEEP.as_bytes(), &damages);
        load_sweep(&String::from_utf8_lossy(&bytes));
    }
}

/// Replaces or adds `key = value` inside one section (`""`: the top) of a
/// sweep file's text.
fn edit_in(text: &str, section: &str, key: &str, value: &str) -> String {
    let mut out = String::new();
    let mut inside = section.is_empty();
    let mut done = false;
    for line in text.lines() {
        if line.starts_with('[') {
            if inside && !done {
                out.push_str(&format!("{key} = {value}\n"));
                done = true;
            }
            inside = line == section;
        }
        if inside && !done && line.starts_with(&format!("{key} =")) {
            out.push_str(&format!("{key} = {value}\n"));
            done = true;
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    if !done {
        out.push_str(&format!("{key} = {value}\n"));
    }
    out
}

// ---------------------------------------------------------------- fit files

/// A valid fit file's JSON (a bootstrapped Chinchilla fit of points drawn
/// from a known law), made once.
fn valid_fit() -> &'static Value {
    static FIT: OnceLock<Value> = OnceLock::new();
    FIT.get_or_init(|| {
        let (mut n, mut d, mut l) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..5 {
            for j in 0..4 {
                let nn = 1e6 * 3f64.powi(i);
                let dd = 2e7 * 3f64.powi(j);
                let noise = 1.0 + 0.002 * (((i * 7 + j * 3) % 5) as f64 - 2.0);
                n.push(nn);
                d.push(dd);
                l.push((1.7 + 400.0 / nn.powf(0.34) + 410.0 / dd.powf(0.28)) * noise);
            }
        }
        let t = table_from_columns(
            "runs",
            vec![
                ("params".into(), n),
                ("tokens".into(), d),
                ("loss".into(), l),
            ],
        )
        .unwrap();
        let req = FitRequest {
            bootstrap: 20,
            ..FitRequest::default()
        };
        let fit = fit_table(&req, t, &Silent).unwrap();
        serde_json::to_value(&fit).unwrap()
    })
}

fn json_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        Just(Value::Bool(true)),
        Just(Value::String("chinchilla".into())),
        Just(Value::String(String::new())),
        Just(Value::Array(vec![])),
        Just(serde_json::json!({})),
        Just(serde_json::json!([1.0, -1.0])),
        prop::sample::select(vec![
            0.0,
            -0.0,
            -1.0,
            1.0,
            1e-300,
            1e308,
            -1e308,
            0.5,
            2.0,
            1e20,
            f64::MIN_POSITIVE,
        ])
        .prop_map(|v| serde_json::json!(v)),
        any::<i64>().prop_map(|v| serde_json::json!(v)),
        any::<u64>().prop_map(|v| serde_json::json!(v)),
        (-1e3f64..1e3).prop_map(|v| serde_json::json!(v)),
    ]
}

/// Replaces the node reached by following `path` (indices taken modulo each
/// container's size; `stop` ends the walk early) with `with`, or deletes it
/// from its object.
fn mutate(v: &mut Value, path: &[usize], with: Value, delete: bool) {
    let Some((&first, rest)) = path.split_first() else {
        *v = with;
        return;
    };
    match v {
        Value::Object(m) if !m.is_empty() => {
            let k = m.keys().nth(first % m.len()).unwrap().clone();
            if rest.is_empty() && delete {
                m.remove(&k);
            } else {
                mutate(m.get_mut(&k).unwrap(), rest, with, delete);
            }
        }
        Value::Array(a) if !a.is_empty() => {
            let n = a.len();
            mutate(&mut a[first % n], rest, with, delete);
        }
        _ => *v = with,
    }
}

/// Reads, checks, predicts from and plans from a fit file.
fn use_fit(path: &Path) {
    match scalelab::fit::read_fit(path) {
        Ok(fit) => {
            let _ = fit.check();
            let _ = fit.predict(&[1e6, 1e9, 0.0, f64::NAN], &[1e7, 1e12, 1.0, 1e300]);
            let req = PlanRequest {
                fit: Some(path.to_path_buf()),
                flops: vec![1e21, 1e15],
                ..PlanRequest::default()
            };
            let _ = plan(&req);
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(names_file(&msg, path), "error without the file: {msg}");
        }
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn fit_file_never_panics_on_values(
        edits in prop::collection::vec((prop::collection::vec(any::<usize>(), 1..5), json_value(), any::<bool>()), 1..4)
    ) {
        let mut v = valid_fit().clone();
        for (path, with, delete) in edits {
            mutate(&mut v, &path, with, delete);
        }
        let p = fresh("json");
        std::fs::write(&p, serde_json::to_vec(&v).unwrap()).unwrap();
        use_fit(&p);
    }

    #[test]
    fn fit_file_never_panics_on_damaged_bytes(damages in prop::collection::vec(damage(), 1..4)) {
        let bytes = serde_json::to_vec_pretty(valid_fit()).unwrap();
        let p = fresh("json");
        std::fs::write(&p, apply(&bytes, &damages)).unwrap();
        use_fit(&p);
    }
}

// ---------------------------------------------------------------- metrics JSONL

fn metrics_line() -> impl Strategy<Value = String> {
    prop_oneof![
        (any::<u32>(), -1e3f64..1e3, -1e3f64..1e3).prop_map(|(s, a, b)| format!(
            "{{\"step\":{s},\"tokens\":{},\"train_loss\":{a},\"val_loss\":{b}}}",
            u64::from(s) * 512
        )),
        prop::sample::select(vec![
            "{\"step\":1,\"train_loss\":NaN}",
            "{\"step\":-1}",
            "{\"step\":1.5}",
            "{\"step\":18446744073709551616}",
            "{\"step\":2,\"done\":true}",
            "{\"step\":2,\"val_loss\":\"x\"}",
            "{\"step\":3,\"val_loss\":Infinity,\"train_loss\":-Infinity}",
            "{\"step\":0,\"tokens\":1e400}",
            "[]",
            "null",
            "{",
            "",
            "{\"done\":true}",
        ])
        .prop_map(String::from),
        "[ -~]{0,40}",
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn metrics_jsonl_never_panics(lines in prop::collection::vec(metrics_line(), 0..10),
                                  newline_end in any::<bool>(),
                                  summary in prop::option::of(prop_oneof![
                                      Just("{}".to_string()),
                                      Just("{\"steps\":3,\"final_val_loss\":2.0}".to_string()),
                                      "[ -~]{0,30}",
                                  ])) {
        let dir = scratch().join(format!("run{}", fresh("d").file_stem().unwrap().to_string_lossy()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut text = lines.join("\n");
        if newline_end {
            text.push('\n');
        }
        let metrics = dir.join("metrics.jsonl");
        std::fs::write(&metrics, &text).unwrap();
        if let Some(s) = &summary {
            std::fs::write(dir.join("summary.json"), s).unwrap();
        }
        for strict in [false, true] {
            if let Err(e) = scalelab_sweep::external::read_lines(&metrics, strict) {
                let msg = format!("{e:#}");
                prop_assert!(names_file(&msg, &metrics), "error without the file: {}", msg);
            }
        }
        let _ = scalelab_sweep::run::read_metrics(&dir);
        let _ = scalelab_sweep::run::check_engine_done(&dir);
        for l in &lines {
            let _ = scalelab_sweep::external::parse_line(l);
        }
    }
}

// ---------------------------------------------------------------- checkpoints

fn layout() -> ParamLayout {
    ParamLayout::new(&GptShape {
        n_layer: 1,
        d_model: 8,
        n_head: 2,
        d_ff: 16,
        context: 4,
        vocab: 7,
        tied_head: true,
    })
}

/// A valid checkpoint's bytes, with and without the checksum entry (older
/// checkpoints have none; without it, damage reaches the tensor reader).
fn valid_checkpoint(checksum: bool) -> &'static [u8] {
    static WITH: OnceLock<Vec<u8>> = OnceLock::new();
    static WITHOUT: OnceLock<Vec<u8>> = OnceLock::new();
    let make = || {
        let l = layout();
        let f = |k: f32| (0..l.total).map(|i| k + i as f32 * 0.01).collect();
        let s = CheckpointState {
            step: 7,
            config_json: "{\"seed\":1}".into(),
            params: f(1.0),
            adam_m: f(2.0),
            adam_v: f(3.0),
        };
        let p = fresh("safetensors");
        checkpoint::save(&p, &l, &s).unwrap();
        std::fs::read(&p).unwrap()
    };
    if checksum {
        WITH.get_or_init(make)
    } else {
        WITHOUT.get_or_init(|| {
            let bytes = make();
            let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
            let (_, md) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
            let mut meta = md.metadata().clone().unwrap();
            meta.remove("checksum");
            safetensors::serialize(st.tensors(), &Some(meta)).unwrap()
        })
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn checkpoint_never_panics_on_damage(damages in prop::collection::vec(damage(), 1..4),
                                         checksum in any::<bool>()) {
        let bytes = apply(valid_checkpoint(checksum), &damages);
        let p = fresh("safetensors");
        std::fs::write(&p, &bytes).unwrap();
        let l = layout();
        match checkpoint::load(&p, &l) {
            Ok(s) => {
                // only damage the checksum cannot see may load: no tensor
                // may change length
                prop_assert_eq!(s.params.len(), l.total);
                prop_assert_eq!(s.adam_m.len(), l.total);
                prop_assert_eq!(s.adam_v.len(), l.total);
            }
            Err(e) => {
                let msg = e.to_string();
                prop_assert!(names_file(&msg, &p), "error without the file: {}", msg);
            }
        }
        let _ = checkpoint::read_meta(&p);
        let _ = checkpoint::vocab_of(&p);
    }

    #[test]
    fn checkpoint_never_panics_on_header(header in "[ -~]{0,200}", len_delta in -8i64..8) {
        let mut bytes = Vec::new();
        let n = (header.len() as i64 + len_delta).max(0) as u64;
        bytes.extend_from_slice(&n.to_le_bytes());
        bytes.extend_from_slice(header.as_bytes());
        bytes.extend_from_slice(&[0u8; 64]);
        let p = fresh("safetensors");
        std::fs::write(&p, &bytes).unwrap();
        prop_assert!(checkpoint::load(&p, &layout()).is_err());
        let _ = checkpoint::read_meta(&p);
    }
}
