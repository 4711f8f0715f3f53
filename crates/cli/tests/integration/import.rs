//! `scalelab import` end to end on the committed real-format fixtures
//! (`crates/lab/tests/data/import`, written by its `make_fixtures.py` with
//! the `tensorboard` package): the tables it writes are read by `scalelab
//! fit` and `scalelab emerge` unchanged, and bad inputs fail with exit code
//! 2 and a message naming where.

use crate::util::*;

use std::path::Path;
use std::process::{Command, Output, Stdio};

fn fx(rel: &str) -> String {
    repo_file(&format!("crates/lab/tests/data/import/{rel}"))
}

/// Fails unless the command failed with exit code 2 and all the needles.
fn fails_with(out: &Output, needles: &[&str]) {
    assert_eq!(out.status.code(), Some(2), "expected exit code 2");
    crate::util::fails_with(out, needles);
}

/// The CSV file as (header, rows of cells).
fn csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap().split(',').map(String::from).collect();
    // no fixture value holds a comma except the quoted source column, last
    let rows = lines
        .map(|l| l.split(',').map(String::from).collect())
        .collect();
    (header, rows)
}

fn cell<'a>(t: &'a (Vec<String>, Vec<Vec<String>>), run: &str, col: &str) -> &'a str {
    let c = t.0.iter().position(|h| h == col).unwrap();
    let r = t.1.iter().find(|r| r[0] == run).unwrap();
    &r[c]
}

#[test]
fn tensorboard_logs_become_a_table_that_fit_reads() {
    let dir = tmpdir("tb");
    let out = dir.join("imported");
    let o = out.display().to_string();
    let v = json_of(&scalelab(&[
        "import",
        "tensorboard",
        &fx("tb"),
        "--map",
        &fx("map_tb.toml"),
        "--out",
        &o,
        "--json",
    ]));
    assert_eq!(v["schema"], "scalelab.import/1");
    assert_eq!(v["kind"], "tensorboard");
    let runs: Vec<&str> = v["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["run"].as_str().unwrap())
        .collect();
    assert_eq!(runs, ["large", "nested/medium", "small"]);
    assert_eq!(v["runs"][2]["loss"], 5.5 - 200.0 / 128.0);
    assert_eq!(v["runs"][2]["steps"], 200);
    assert_eq!(v["tables"].as_array().unwrap().len(), 3);

    // the same column names as a sweep's runs.csv and curves.csv
    let t = csv(&out.join("runs.csv"));
    assert_eq!(
        t.0,
        [
            "run",
            "params",
            "params_total",
            "tokens",
            "flops",
            "loss",
            "train_loss",
            "steps",
            "source"
        ]
    );
    assert_eq!(cell(&t, "nested/medium", "loss"), "3.4375");
    assert_eq!(cell(&t, "nested/medium", "tokens"), "800000");
    assert_eq!(cell(&t, "large", "flops"), "235929600000000");
    let c = csv(&out.join("curves.csv"));
    assert_eq!(
        c.0,
        [
            "run",
            "params",
            "params_total",
            "step",
            "tokens",
            "flops",
            "train_loss",
            "loss"
        ]
    );
    assert_eq!(c.1.len(), 14);

    // three runs determine a three-parameter power law in N
    let fit = json_of(&scalelab(&[
        "fit",
        &out.join("runs.csv").display().to_string(),
        "--law",
        "power-n",
        "--json",
    ]));
    assert_eq!(fit["input"]["rows_used"], 3);

    // text output: a summary and the tables written
    let text = scalelab(&[
        "import",
        "tensorboard",
        &fx("tb"),
        "--map",
        &fx("map_tb.toml"),
        "-o",
        &o,
    ]);
    assert!(text.status.success());
    let s = String::from_utf8_lossy(&text.stdout);
    assert!(
        s.starts_with("imported 3 runs from 4 files (tensorboard)"),
        "{s}"
    );
    assert!(
        s.contains("wrote ") && s.contains("curves.csv (14 rows)"),
        "{s}"
    );
}

#[test]
fn wandb_exports_become_a_table_whose_law_fit_recovers() {
    let dir = tmpdir("wandb");
    let out = dir.join("imported");
    let v = json_of(&scalelab(&[
        "import",
        "csv",
        &fx("wandb_val_loss.csv"),
        &fx("wandb_train_loss.csv"),
        "--map",
        &fx("map_wandb.toml"),
        "--out",
        &out.display().to_string(),
        "--json",
    ]));
    assert_eq!(v["layout"], "wandb");
    assert_eq!(v["layout_detected"], true);
    assert_eq!(v["runs"].as_array().unwrap().len(), 5);
    // the final losses follow 1.75 + 96/N^0.25 (to 1/1024)
    let fit = json_of(&scalelab(&[
        "fit",
        &out.join("runs.csv").display().to_string(),
        "--law",
        "power-n",
        "--json",
    ]));
    let p = &fit["params"];
    assert!((p["E"].as_f64().unwrap() - 1.75).abs() < 0.01, "{p}");
    assert!((p["alpha"].as_f64().unwrap() - 0.25).abs() < 0.005, "{p}");
    assert!((p["A"].as_f64().unwrap() / 96.0 - 1.0).abs() < 0.02, "{p}");

    // --layout long on a panel export is refused with the reason
    let o = scalelab(&[
        "import",
        "csv",
        &fx("wandb_val_loss.csv"),
        "--layout",
        "long",
        "--out",
        &dir.join("x").display().to_string(),
    ]);
    fails_with(&o, &["wandb_val_loss.csv", "no run column"]);
}

#[test]
fn lm_eval_results_become_a_table_that_emerge_reads() {
    let dir = tmpdir("lm");
    let out = dir.join("evals.csv").display().to_string();
    let v = json_of(&scalelab(&[
        "import",
        "lm-eval",
        &fx("lm_eval"),
        "--map",
        &fx("models.toml"),
        "--out",
        &out,
        "--json",
    ]));
    assert_eq!(v["kind"], "lm-eval");
    assert_eq!(v["files"].as_array().unwrap().len(), 6);
    assert_eq!(v["tables"][0]["rows"], 56);
    let em = json_of(&scalelab(&[
        "emerge",
        &out,
        "--where",
        "filter == 'none'",
        "--bootstrap",
        "30",
        "--json",
    ]));
    let tasks: Vec<&str> = em["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["task"].as_str().unwrap())
        .collect();
    assert_eq!(tasks, ["arc_easy", "lambada_openai", "piqa"]);
    let lambada = &em["tasks"][1];
    assert_eq!(lambada["points"].as_array().unwrap().len(), 6);
    // ppl (lm-eval 0.4's perplexity and 0.3's ppl) is the continuous metric
    assert_eq!(lambada["continuous_points"].as_array().unwrap().len(), 6);
    // and with a group per filter, gsm8k's exact match
    let em = json_of(&scalelab(&[
        "emerge",
        &out,
        "--where",
        "task == 'gsm8k'",
        "--discrete",
        "exact_match",
        "--group-by",
        "filter",
        "--bootstrap",
        "30",
        "--json",
    ]));
    assert_eq!(em["tasks"].as_array().unwrap().len(), 2);
}

#[test]
fn bad_inputs_fail_with_where() {
    let dir = tmpdir("bad");
    let out = dir.join("o").display().to_string();

    // a flipped byte in an event file: the record and its offset
    let tb = dir.join("tb/small");
    std::fs::create_dir_all(&tb).unwrap();
    let name = "events.out.tfevents.1700000000.fixture.1.0";
    let mut bytes = std::fs::read(fx(&format!("tb/small/{name}"))).unwrap();
    bytes[100] ^= 0x08; // inside record 1 (bytes 88..)
    std::fs::write(tb.join(name), &bytes).unwrap();
    let o = scalelab(&[
        "import",
        "tensorboard",
        &dir.join("tb").display().to_string(),
        "--out",
        &out,
    ]);
    fails_with(&o, &[name, "record 1 at byte 88", "does not match"]);

    // an unknown key in the mapping: file:line:column
    let map = dir.join("map.toml");
    std::fs::write(&map, "loss = \"val/loss\"\ntoken_per_step = 4096\n").unwrap();
    let o = scalelab(&[
        "import",
        "tensorboard",
        &fx("tb"),
        "--map",
        &map.display().to_string(),
        "--out",
        &out,
    ]);
    fails_with(&o, &["map.toml:2:1: unknown field `token_per_step`"]);

    // runs without params: listed
    let o = scalelab(&["import", "tensorboard", &fx("tb"), "--out", &out]);
    fails_with(
        &o,
        &[
            "no params for 3 runs: 'large', 'nested/medium', 'small'",
            "--allow-missing-params",
        ],
    );

    // a garbage CSV cell: file:line:column
    let bad = dir.join("long.csv");
    let text = std::fs::read_to_string(fx("long.csv")).unwrap();
    std::fs::write(
        &bad,
        text.replacen(
            "lr-3e-3,100,1050.0,sweep-7",
            "lr-3e-3,1O0,1050.0,sweep-7",
            1,
        ),
    )
    .unwrap();
    let o = scalelab(&[
        "import",
        "csv",
        &bad.display().to_string(),
        "--map",
        &fx("map_long.toml"),
        "--out",
        &out,
    ]);
    fails_with(&o, &["long.csv:9:2: column '_step': '1O0' is not a number"]);

    // a model the mapping lacks: the results file and the model
    let models = dir.join("models.toml");
    std::fs::write(
        &models,
        "[models.\"EleutherAI/pythia-70m\"]\nparams = 18915328\n",
    )
    .unwrap();
    let o = scalelab(&[
        "import",
        "lm-eval",
        &fx("lm_eval/EleutherAI__pythia-1b"),
        "--map",
        &models.display().to_string(),
        "--out",
        &dir.join("e.csv").display().to_string(),
    ]);
    fails_with(
        &o,
        &[
            "results_2024-05-01T12-00-00.000000.json: model 'EleutherAI/pythia-1b' is not in the mapping",
        ],
    );
}

/// The Python that has the tensorboard package (`$SCALELAB_PYTHON`, which
/// the test command sets, else `python3`), or `None` (skip) outside CI.
fn tensorboard_python() -> Option<String> {
    let py = std::env::var("SCALELAB_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&py)
        .args(["-c", "import tensorboard"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        return Some(py);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("CI=true but {py} cannot import tensorboard (the test command installs it)");
    }
    eprintln!("skipping: {py} cannot import tensorboard (set SCALELAB_PYTHON)");
    None
}

#[test]
fn the_fixtures_regenerate_with_the_installed_tensorboard() {
    let Some(py) = tensorboard_python() else {
        return;
    };
    let dir = tmpdir("regen");
    let fresh = dir.join("fixtures");
    let o = Command::new(&py)
        .arg(fx("make_fixtures.py"))
        .arg(&fresh)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // what the script writes without tensorboard is what the repository
    // carries, byte for byte
    for f in [
        "wandb_val_loss.csv",
        "wandb_train_loss.csv",
        "long.csv",
        "per_run/alpha/history.csv",
        "per_run/beta/history.csv",
        "lm_eval/EleutherAI__pythia-160m/results_2024-05-01T12-00-00.000000.json",
        "lm_eval/v0.3/pythia-410m/results.json",
    ] {
        assert_eq!(
            std::fs::read(fresh.join(f)).unwrap(),
            std::fs::read(fx(f)).unwrap(),
            "{f} differs from what make_fixtures.py writes"
        );
    }
    // event files fresh from this tensorboard import to the same tables as
    // the committed ones (the bytes may differ between its versions)
    let import = |tb: String, out: &Path| {
        json_of(&scalelab(&[
            "import",
            "tensorboard",
            &tb,
            "--map",
            &fx("map_tb.toml"),
            "--out",
            &out.display().to_string(),
            "--json",
        ]))
    };
    let a = import(fx("tb"), &dir.join("committed"));
    let b = import(fresh.join("tb").display().to_string(), &dir.join("fresh"));
    assert_eq!(a["runs"].as_array().unwrap().len(), 3);
    for (x, y) in a["runs"]
        .as_array()
        .unwrap()
        .iter()
        .zip(b["runs"].as_array().unwrap())
    {
        for k in ["run", "params", "tokens", "loss", "steps", "rows"] {
            assert_eq!(x[k], y[k], "{k}");
        }
    }
    for t in ["curves.csv", "scalars.csv"] {
        assert_eq!(
            std::fs::read_to_string(dir.join("committed").join(t)).unwrap(),
            std::fs::read_to_string(dir.join("fresh").join(t)).unwrap(),
            "{t}"
        );
    }
}
