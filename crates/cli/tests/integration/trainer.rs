//! External trainers in sweeps (`[trainer]`), end to end with a toy trainer
//! that speaks the metrics protocol (tests/data/toy_trainer.py, plain
//! Python): results become the runs table `fit` reads; a trainer that
//! fails, hangs past its timeout, writes garbage, reports NaN or stops
//! without finishing is recorded as failed with its reason; SIGKILL of the
//! whole sweep mid-run and a re-run give the table of an uninterrupted
//! sweep; placeholders are checked before anything runs.

use crate::util::*;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn toy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/toy_trainer.py")
}

/// A sweep file of the toy trainer with the given runs (TOML `[[runs]]`).
fn sweep_file(dir: &Path, extra_trainer: &str, runs: &str) -> String {
    let text = format!(
        r#"name = "toy"
[train]
data = "synth"
context = 16
batch = 4
checkpoint_every = 5
eval_every = 10
[trainer]
command = "python3 {toy} --name {{name}} --dir {{run_dir}}"
resume = true
checkpoint = "toy.ckpt"
{extra_trainer}
{runs}"#,
        toy = toy().display()
    );
    let p = dir.join("sweep.toml");
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

const GOOD_RUNS: &str = r#"
[[runs]]
name = "a"
n_layer = 1
d_model = 16
n_head = 1
tokens = 3200
[[runs]]
name = "b"
n_layer = 2
d_model = 32
n_head = 2
tokens = 3200
[[runs]]
name = "c"
n_layer = 2
d_model = 48
n_head = 2
tokens = 6400
[[runs]]
name = "counts-d"
n_layer = 1
d_model = 32
n_head = 2
tokens = 1600
"#;

/// Rows of a CSV as maps from column to value.
fn rows(p: &Path) -> Vec<std::collections::BTreeMap<String, String>> {
    let text = read(p);
    let mut lines = text.lines();
    let head: Vec<String> = lines.next().unwrap().split(',').map(String::from).collect();
    lines
        .map(|l| {
            // the reason column may hold quoted commas
            let mut cells = Vec::new();
            let mut cur = String::new();
            let mut q = false;
            for ch in l.chars() {
                match ch {
                    '"' => q = !q,
                    ',' if !q => cells.push(std::mem::take(&mut cur)),
                    c => cur.push(c),
                }
            }
            cells.push(cur);
            head.iter().cloned().zip(cells).collect()
        })
        .collect()
}

fn toy_loss(n: f64, d: f64) -> f64 {
    1.8 + 300.0 / n.powf(0.4) + 400.0 / d.powf(0.35)
}

#[test]
fn protocol_results_make_the_runs_table_that_fit_reads() {
    let dir = tmpdir("good");
    let sweep = sweep_file(&dir, "", GOOD_RUNS);
    let out = dir.join("out");
    let o = scalelab_env(
        &[
            "sweep",
            &sweep,
            "--out",
            out.to_str().unwrap(),
            "--quiet",
            "--json",
            "--jobs",
            "2",
        ],
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let table = rows(&out.join("runs.csv"));
    assert_eq!(table.len(), 4);
    for r in &table {
        assert_eq!(r["status"], "done", "{r:?}");
        assert_eq!(r["trainer"], "external");
        let n: f64 = r["params"].parse().unwrap();
        let d: f64 = r["tokens"].parse().unwrap();
        let loss: f64 = r["loss"].parse().unwrap();
        // the toy's law uses scalelab's count for the shape (run.json)
        let cfg: serde_json::Value =
            serde_json::from_str(&read(&out.join("runs").join(&r["run"]).join("run.json")))
                .unwrap();
        let declared = cfg["params"].as_f64().unwrap();
        assert!((loss - toy_loss(declared, d)).abs() < 1e-9, "{r:?}");
        if r["run"] == "counts-d" {
            assert_eq!(r["accounting"], "trainer");
            assert_eq!(n, 12345.0);
            let f: f64 = r["flops_exact"].parse().unwrap();
            assert_eq!(f, 6.0 * 12345.0 * d);
        } else {
            assert_eq!(r["accounting"], "scalelab");
            assert!(n > 1000.0);
        }
    }
    // every evaluation is a curve row
    let curves = rows(&out.join("curves.csv"));
    assert!(
        curves.iter().filter(|c| c["run"] == "c").count() >= 5,
        "{curves:?}"
    );
    // logs, provenance and the run's configuration are kept
    let rd = out.join("runs/b");
    assert!(read(&rd.join("stdout.log")).contains("training b: 50 steps"));
    let prov: serde_json::Value = serde_json::from_str(&read(&rd.join("provenance.json"))).unwrap();
    let a = &prov["attempts"][0];
    assert_eq!(a["exit_code"], 0);
    assert_eq!(a["outcome"], "done");
    assert!(a["command"].as_str().unwrap().contains("--name b"), "{a}");
    assert!(a["env"]["SCALELAB_CONFIG"]
        .as_str()
        .unwrap()
        .ends_with("runs/b/run.json"));
    let cfg: serde_json::Value = serde_json::from_str(&read(&rd.join("run.json"))).unwrap();
    assert_eq!(cfg["n_layer"], 2);
    assert_eq!(cfg["steps"], 50);
    assert!(Path::new(cfg["train_data"].as_str().unwrap()).is_file());
    assert_eq!(cfg["parametrization"], "standard");
    assert!(cfg["mup_base_width"].is_null() && cfg["mup_base_head_dim"].is_null());
    // the table fits as any sweep's
    let f = scalelab_env(
        &[
            "fit",
            out.join("runs.csv").to_str().unwrap(),
            "--law",
            "power-n",
            "--json",
        ],
        &[],
    );
    assert!(f.status.success(), "{}", stderr(&f));
    // running again trains nothing
    let again = scalelab_env(
        &[
            "sweep",
            &sweep,
            "--out",
            out.to_str().unwrap(),
            "--quiet",
            "--json",
        ],
        &[],
    );
    assert!(again.status.success(), "{}", stderr(&again));
    let rep: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(rep["skipped"].as_array().unwrap().len(), 4, "{rep}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn misbehaving_trainers_fail_with_their_reason_and_the_rest_finish() {
    let dir = tmpdir("bad");
    let runs: String = ["a", "fail-x", "hang-x", "garbage-x", "nan-x", "unfinished-x", "nosummary-x"]
        .iter()
        .enumerate()
        .map(|(i, n)| {
            // distinct seeds: identical runs would be trained once
            format!("[[runs]]\nname = \"{n}\"\nseed = {i}\nn_layer = 1\nd_model = 16\nn_head = 1\ntokens = 3200\n")
        })
        .collect();
    let sweep = sweep_file(&dir, "timeout = 4", &runs);
    let out = dir.join("out");
    let t0 = Instant::now();
    let o = scalelab_env(
        &[
            "sweep",
            &sweep,
            "--out",
            out.to_str().unwrap(),
            "--quiet",
            "--json",
            "--jobs",
            "2",
        ],
        &[],
    );
    assert!(
        t0.elapsed() < Duration::from_secs(60),
        "the hang was not cut short"
    );
    // finished with failed runs: exit status 3 after the report
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let rep: serde_json::Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", stderr(&o)));
    let failed: std::collections::BTreeMap<String, String> = rep["failed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["run"].as_str().unwrap().to_string(),
                f["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expect = [
        ("fail-x", "exit status 1"),
        ("fail-x", "out of memory (toy)"),
        ("hang-x", "timed out"),
        ("garbage-x", "metrics.jsonl line 26: not JSON"),
        ("nan-x", "diverged: train_loss is not finite at step 26"),
        ("unfinished-x", "without finishing"),
    ];
    for (run, needle) in expect {
        let why = failed
            .get(run)
            .unwrap_or_else(|| panic!("{run} not failed: {rep}"));
        assert!(why.contains(needle), "{run}: {why}");
    }
    assert_eq!(failed.len(), 5, "{rep}");
    let mut done: Vec<&str> = rep["done"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    done.sort();
    assert_eq!(done, ["a", "nosummary-x"], "{rep}");
    // the table holds every run, the failed ones with their reasons
    let table = rows(&out.join("runs.csv"));
    assert_eq!(table.len(), 7);
    for r in &table {
        if failed.contains_key(&r["run"]) {
            assert_eq!(r["status"], "failed");
            assert!(!r["reason"].is_empty());
            assert!(r["loss"].is_empty(), "{r:?}");
        }
    }
    // the hung trainer is gone (its process group was killed)
    let pid_file = out.join("runs/hang-x/trainer.pid");
    assert!(!pid_file.exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sigkill_of_the_whole_sweep_then_a_rerun_gives_the_uninterrupted_table() {
    let dir = tmpdir("kill");
    let sweep = sweep_file(&dir, "", GOOD_RUNS);
    let whole = dir.join("whole");
    let o = scalelab_env(
        &[
            "sweep",
            &sweep,
            "--out",
            whole.to_str().unwrap(),
            "--quiet",
            "--jobs",
            "2",
        ],
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));

    let cut = dir.join("cut");
    let mut child = {
        Command::new(bin())
            .args([
                "sweep",
                &sweep,
                "--out",
                cut.to_str().unwrap(),
                "--quiet",
                "--jobs",
                "2",
            ])
            .env("TOY_SLEEP", "0.05")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let t0 = Instant::now();
    // wait until some run has a checkpoint, then kill everything
    loop {
        let ck = ["a", "b", "c", "counts-d"]
            .iter()
            .any(|n| cut.join("runs").join(n).join("toy.ckpt").exists());
        if ck {
            std::thread::sleep(Duration::from_millis(300));
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(60), "no checkpoint");
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = Command::new("kill")
        .args(["-KILL", &child.id().to_string()])
        .status();
    let st = child.wait().unwrap();
    // the trainers the sweep left (their command lines name their run dirs)
    kill_trainers_left_in(&cut);
    assert!(!st.success(), "the sweep finished before it was killed");
    let unfinished = ["a", "b", "c", "counts-d"]
        .iter()
        .filter(|n| !cut.join("runs").join(n).join("result.json").exists())
        .count();
    assert!(unfinished > 0, "every run had finished");
    let o = scalelab_env(
        &[
            "sweep",
            &sweep,
            "--out",
            cut.to_str().unwrap(),
            "--quiet",
            "--jobs",
            "2",
        ],
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(read(&cut.join("runs.csv")), read(&whole.join("runs.csv")));
    assert_eq!(
        read(&cut.join("curves.csv")),
        read(&whole.join("curves.csv"))
    );
    // a resumed run says so in its provenance
    let resumed = ["a", "b", "c", "counts-d"].iter().any(|n| {
        read(&cut.join("runs").join(n).join("provenance.json")).contains("\"resumed_from\": \"/")
    });
    assert!(resumed, "no run was resumed from its checkpoint");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn placeholders_and_trainer_settings_are_checked_before_anything_runs() {
    let dir = tmpdir("check");
    let cases = [
        (
            "command = \"python3 t.py --layers {nlayer}\"",
            "unknown placeholder `{nlayer}`",
        ),
        ("command = \"python3 t.py {n_layer\"", "is not closed"),
        ("command = \"\"", "command is empty"),
        ("command = \"x\"\ntimeout = \"5 weeks\"", "timeout"),
        ("command = \"x\"\nflavour = 1", "unknown field `flavour`"),
        ("command = \"x\"\nworkdir = \"no/such/dir\"", "workdir"),
    ];
    for (trainer, needle) in cases {
        let text = format!(
            "[train]\ndata = \"synth\"\ncontext = 16\nbatch = 4\n[trainer]\n{trainer}\n[[runs]]\nn_layer = 1\nd_model = 16\nn_head = 1\ntokens = 3200\n"
        );
        let p = dir.join("s.toml");
        std::fs::write(&p, text).unwrap();
        let out = dir.join("out");
        let o = scalelab_env(
            &["sweep", p.to_str().unwrap(), "--out", out.to_str().unwrap()],
            &[],
        );
        assert!(!o.status.success(), "{trainer}");
        let e = stderr(&o);
        assert!(e.contains(needle), "{trainer}: {e}");
        assert!(e.contains("s.toml"), "{trainer}: {e}");
        assert!(!e.contains("panicked"), "{e}");
        assert!(!out.join("runs").exists(), "{trainer}: something ran");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A μP sweep tells the trainer so: `run.json` carries the parametrisation
/// and the resolved base shape (the base head dimension defaults to the
/// model's own), and the table records it.
#[test]
fn a_mup_sweep_hands_the_base_shape_to_the_trainer() {
    let dir = tmpdir("mup");
    let text = format!(
        "[train]\ndata = \"synth\"\ncontext = 16\nbatch = 4\nparametrization = \"mup\"\nmup_base_width = 16\n[trainer]\ncommand = \"python3 {toy} --name {{name}} --dir {{run_dir}}\"\n[[runs]]\nname = \"w\"\nn_layer = 1\nd_model = 64\nn_head = 4\ntokens = 1600\n",
        toy = toy().display()
    );
    let p = dir.join("mup.toml");
    std::fs::write(&p, text).unwrap();
    let out = dir.join("out");
    let o = scalelab_env(
        &[
            "sweep",
            p.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ],
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let cfg: serde_json::Value = serde_json::from_str(&read(&out.join("runs/w/run.json"))).unwrap();
    assert_eq!(cfg["parametrization"], "mup");
    assert_eq!(cfg["mup_base_width"], 16);
    assert_eq!(cfg["mup_base_head_dim"], 16, "64 / 4 heads");
    let table = rows(&out.join("runs.csv"));
    assert_eq!(table[0]["parametrization"], "mup");
    assert_eq!(table[0]["mup_base_width"], "16");
    let _ = std::fs::remove_dir_all(&dir);
}
