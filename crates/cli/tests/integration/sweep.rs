//! `scalelab sweep` end to end: SIGKILL mid-sweep and resume gives the table
//! of an uninterrupted sweep; divergence is recorded and left out of fits;
//! one sweep per directory; bad sweep files are refused before any run; a
//! corrupt checkpoint or corrupt results of a finished run fail the run (exit
//! status 3) and `--retry-failed` restarts it from scratch.

use crate::util::*;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Four small runs on the synthetic language, checkpointing often.
const SWEEP: &str = r#"
name = "kill-test"
[train]
data = "synth"
context = 32
batch = 8
lr = 3e-3
checkpoint_every = 10
eval_every = 40
[[runs]]
params = 2e4
tokens = 1.6e5
[[runs]]
params = 5e3
tokens = 1.2e5
[[runs]]
params = 2e4
tokens_per_param = 4
[[runs]]
n_layer = 2
d_model = 32
n_head = 2
tokens = 1e5
"#;

fn any_checkpoint(dir: &Path) -> bool {
    std::fs::read_dir(dir.join("runs"))
        .map(|rd| {
            rd.flatten()
                .any(|e| e.path().join("checkpoint.safetensors").exists())
        })
        .unwrap_or(false)
}

#[test]
fn sigkill_mid_sweep_then_resume_gives_the_uninterrupted_table() {
    let root = tmpdir("kill");
    let sweep = write(&root, "sweep.toml", SWEEP);
    let a = root.join("a");
    let b = root.join("b");
    ok(&scalelab(&[
        "sweep",
        &sweep,
        "--out",
        &a.display().to_string(),
        "--jobs",
        "2",
        "--quiet",
    ]));

    // kill -9 at a few moments; each time the next invocation resumes
    let mut kills = 0;
    for _ in 0..3 {
        let mut child = Command::new(bin())
            .args([
                "sweep",
                &sweep,
                "--out",
                &b.display().to_string(),
                "--jobs",
                "2",
                "--quiet",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let t0 = Instant::now();
        // wait until some checkpoint exists (or the child finished)
        loop {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            if any_checkpoint(&b) && t0.elapsed() > Duration::from_millis(150 * (kills + 1)) {
                child.kill().unwrap(); // SIGKILL
                kills += 1;
                break;
            }
            assert!(t0.elapsed() < Duration::from_secs(120), "sweep hung");
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.wait();
        // never a half-written file: every status and the table parse
        if b.join("runs.csv").exists() {
            let t = read(&b.join("runs.csv"));
            assert!(t.starts_with("run,status"), "{t}");
        }
    }
    let out = scalelab(&[
        "sweep",
        &sweep,
        "--out",
        &b.display().to_string(),
        "--jobs",
        "2",
        "--json",
        "--quiet",
    ]);
    ok(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["failed"].as_array().unwrap().is_empty(), "{v}");
    let ta = read(&a.join("runs.csv"));
    let tb = read(&b.join("runs.csv"));
    assert_eq!(ta.lines().count(), 5, "{ta}");
    assert!(ta.lines().skip(1).all(|l| l.contains(",done,")), "{ta}");
    assert_eq!(
        ta, tb,
        "resumed sweep's table differs (after {kills} kills)"
    );
    assert_eq!(read(&a.join("curves.csv")), read(&b.join("curves.csv")));
    // and every run's metrics log is the uninterrupted one
    for e in std::fs::read_dir(a.join("runs")).unwrap().flatten() {
        let name = e.file_name();
        assert_eq!(
            read(&e.path().join("metrics.jsonl"))
                .lines()
                .map(|l| l
                    .split(",\"tokens_per_second\"")
                    .next()
                    .unwrap()
                    .to_string())
                .collect::<Vec<_>>(),
            read(&b.join("runs").join(&name).join("metrics.jsonl"))
                .lines()
                .map(|l| l
                    .split(",\"tokens_per_second\"")
                    .next()
                    .unwrap()
                    .to_string())
                .collect::<Vec<_>>(),
            "{name:?}"
        );
    }
    // a finished sweep re-run trains nothing
    let again = scalelab(&[
        "sweep",
        &sweep,
        "--out",
        &b.display().to_string(),
        "--json",
        "--quiet",
    ]);
    ok(&again);
    let v: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(v["skipped"].as_array().unwrap().len(), 4, "{v}");
    assert!(v["done"].as_array().unwrap().is_empty());
    // the table is what fit reads without flags (Parquet too)
    let fit = scalelab(&[
        "fit",
        &b.display().to_string(),
        "--law",
        "power-n",
        "--json",
    ]);
    ok(&fit);
    assert!(b.join("runs.parquet").exists());
    let fitp = scalelab(&[
        "fit",
        &b.join("runs.parquet").display().to_string(),
        "--law",
        "power-n",
        "--json",
    ]);
    ok(&fitp);
    let (x, y): (serde_json::Value, serde_json::Value) = (
        serde_json::from_slice(&fit.stdout).unwrap(),
        serde_json::from_slice(&fitp.stdout).unwrap(),
    );
    assert_eq!(x["params"], y["params"]);
}

#[test]
fn step_limited_invocations_resume_to_the_same_result() {
    let root = tmpdir("steps");
    let sweep = write(&root, "sweep.toml", SWEEP);
    let a = root.join("a").display().to_string();
    let b = root.join("b").display().to_string();
    ok(&scalelab(&[
        "sweep", &sweep, "--out", &a, "--quiet", "--jobs", "1",
    ]));
    // each invocation stops every run after 97 steps; the next resumes from
    // the last checkpoint (every 10 steps), so the runs finish in ~7 rounds
    for _ in 0..30 {
        ok(&scalelab(&[
            "sweep",
            &sweep,
            "--out",
            &b,
            "--quiet",
            "--step-limit",
            "97",
        ]));
        if read(&root.join("b/runs.csv"))
            .lines()
            .skip(1)
            .all(|l| l.contains(",done,"))
        {
            break;
        }
    }
    assert_eq!(
        read(&root.join("a/runs.csv")),
        read(&root.join("b/runs.csv"))
    );
}

#[test]
fn divergence_is_recorded_and_fits_leave_it_out() {
    let root = tmpdir("diverge");
    let sweep = write(
        &root,
        "sweep.toml",
        r#"
[train]
data = "synth"
context = 16
batch = 4
lr = 3e-3
[[runs]]
name = "fine-a"
params = 3e3
tokens = 2e4
[[runs]]
name = "fine-b"
params = 1e4
tokens = 2e4
[[runs]]
name = "fine-c"
params = 3e4
tokens = 2e4
[[runs]]
name = "fine-d"
params = 6e4
tokens = 2e4
[[runs]]
name = "blows-up"
params = 3e4
tokens = 4e4
lr = 300.0
"#,
    );
    let out = root.join("out").display().to_string();
    let o = scalelab(&["sweep", &sweep, "--out", &out, "--json", "--quiet"]);
    // finished with a failed run: exit status 3, the report still printed
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("finished with 1 failed runs"),
        "{}",
        stderr(&o)
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let failed = v["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 1, "{v}");
    assert_eq!(failed[0]["run"], "blows-up");
    assert!(
        failed[0]["reason"].as_str().unwrap().contains("diverged"),
        "{v}"
    );
    let status = read(&root.join("out/runs/blows-up/status.json"));
    assert!(
        status.contains("\"failed\"") && status.contains("diverged"),
        "{status}"
    );
    let fit = scalelab(&["fit", &out, "--law", "power-n", "--json"]);
    ok(&fit);
    let f: serde_json::Value = serde_json::from_slice(&fit.stdout).unwrap();
    assert_eq!(f["n_points"], 4);
    assert!(
        f["warnings"]
            .to_string()
            .contains("blows-up (failed: diverged"),
        "{}",
        f["warnings"]
    );
    // isoflop reads the same table and leaves the failed run out too
    let iso = scalelab(&["isoflop", &format!("{out}/runs.csv"), "--bootstrap", "0"]);
    assert!(stderr(&iso).contains("1 runs left out"), "{}", stderr(&iso));
    assert!(!stderr(&iso).contains("missing value"), "{}", stderr(&iso));
}

#[test]
fn one_sweep_per_directory() {
    let root = tmpdir("lock");
    let sweep = write(&root, "sweep.toml", SWEEP);
    let out = root.join("out");
    let mut first = Command::new(bin())
        .args([
            "sweep",
            &sweep,
            "--out",
            &out.display().to_string(),
            "--quiet",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    // the lock, and the plan the second sweep is compared with (a kill
    // between the two would leave a directory without a plan)
    while !read_lock(&out).contains("pid") || !out.join("plan.json").exists() {
        assert!(t0.elapsed() < Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(10));
    }
    let second = scalelab(&[
        "sweep",
        &sweep,
        "--out",
        &out.display().to_string(),
        "--quiet",
    ]);
    let _ = first.kill();
    let _ = first.wait();
    fails_with(&second, &["in use by another sweep", "pid"]);
    // a different sweep into the same directory is refused too
    let other = write(&root, "other.toml", &SWEEP.replace("1.6e5", "1.7e5"));
    fails_with(
        &scalelab(&[
            "sweep",
            &other,
            "--out",
            &out.display().to_string(),
            "--quiet",
        ]),
        &["holds a different sweep"],
    );
}

fn read_lock(dir: &Path) -> String {
    std::fs::read_to_string(dir.join(".lock")).unwrap_or_default()
}

#[test]
fn bad_sweep_files_are_refused_before_any_run() {
    let root = tmpdir("bad");
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "unknown_train_key.toml",
            "[train]\ndata = \"synth\"\nlearning_rate = 1e-3\n[[runs]]\nparams = 1e4\n",
            &["unknown_train_key.toml:3", "no key `learning_rate`"],
        ),
        (
            "unknown_section_key.toml",
            "[train]\ndata = \"synth\"\n[[runs]]\nparams = 1e4\nsize = 3\n",
            &["unknown_section_key.toml", "line 5", "unknown field `size`"],
        ),
        (
            "bad_type.toml",
            "[train]\ndata = \"synth\"\nlr = \"fast\"\n[[runs]]\nparams = 1e4\n",
            &["bad_type.toml:3", "lr"],
        ),
        (
            "shape.toml",
            "[train]\ndata = \"synth\"\n[[runs]]\nn_layer = 2\nd_model = 30\nn_head = 4\ntokens = 1e4\n",
            &["shape.toml:3", "run 1", "n_head"],
        ),
        (
            "missing_data.toml",
            "[train]\ndata = \"/nonexistent/corpus.txt\"\n[[runs]]\nparams = 1e4\n",
            &["missing_data.toml", "/nonexistent/corpus.txt"],
        ),
        (
            "per_run_in_train.toml",
            "[train]\ndata = \"synth\"\nd_model = 64\n[[runs]]\nparams = 1e4\n",
            &["per_run_in_train.toml:3", "set per run"],
        ),
        (
            "no_runs.toml",
            "[train]\ndata = \"synth\"\n",
            &["no_runs.toml", "no runs"],
        ),
        (
            "context.toml",
            "[train]\ndata = \"synth\"\ncontext = 100000\n[[runs]]\nparams = 1e4\n",
            &["context.toml", "context"],
        ),
    ];
    for (name, text, needles) in cases {
        let f = write(&root, name, text);
        let out = root.join(format!("out-{name}"));
        fails_with(
            &scalelab(&["sweep", &f, "--out", &out.display().to_string(), "--quiet"]),
            needles,
        );
        assert!(!out.exists(), "{name}: the sweep directory was created");
    }
}

#[test]
fn identical_runs_are_trained_once_with_a_warning() {
    let root = tmpdir("dedupe");
    let f = write(
        &root,
        "s.toml",
        "[train]\ndata = \"synth\"\ncontext = 16\n[grid]\nparams = [2e3, 3e3, 2e4]\ntokens = [1e4]\n",
    );
    let o = scalelab(&["sweep", &f, "--out", "unused", "--dry-run"]);
    ok(&o);
    let err = stderr(&o);
    assert!(err.contains("is identical to run"), "{err}");
    // header plus two distinct runs (then the compute line)
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(
        out.lines().filter(|l| !l.starts_with("compute:")).count(),
        3,
        "{out}"
    );
    assert!(out.lines().last().unwrap().starts_with("compute:"), "{out}");
}

/// Three tiny runs, checkpointing every 5 steps.
const SMALL: &str = r#"
[train]
data = "synth"
context = 16
batch = 4
lr = 3e-3
checkpoint_every = 5
[[runs]]
name = "a"
params = 3e3
tokens = 4e3
[[runs]]
name = "b"
params = 1e4
tokens = 4e3
[[runs]]
name = "c"
params = 3e4
tokens = 4e3
"#;

/// Failed runs of a `--json` report: name → reason.
fn failed_runs(o: &Output) -> std::collections::BTreeMap<String, String> {
    let v: serde_json::Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", stderr(o)));
    v["failed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["run"].as_str().unwrap().to_string(),
                f["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Flips one byte in the tensor data of a safetensors file.
fn flip_tensor_byte(p: &Path) {
    let mut b = std::fs::read(p).unwrap();
    let start = 8 + u64::from_le_bytes(b[..8].try_into().unwrap()) as usize;
    let i = start + (b.len() - start) / 3;
    b[i] ^= 0x01;
    std::fs::write(p, b).unwrap();
}

#[test]
fn corrupt_checkpoint_fails_the_run_and_retry_restarts_it() {
    let root = tmpdir("corrupt-ck");
    let sweep = write(&root, "sweep.toml", SMALL);
    let whole = root.join("whole").display().to_string();
    ok(&scalelab(&[
        "sweep", &sweep, "--out", &whole, "--quiet", "--jobs", "1",
    ]));
    let out = root.join("out").display().to_string();
    let args = [
        "sweep", &sweep, "--out", &out, "--quiet", "--json", "--jobs", "1",
    ];
    // stopped mid-run, each with a checkpoint
    let mut first = args.to_vec();
    first.extend(["--step-limit", "7"]);
    ok(&scalelab(&first));
    let ck = root.join("out/runs/b/checkpoint.safetensors");
    assert!(ck.exists());
    flip_tensor_byte(&ck);
    let o = scalelab(&args);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let failed = failed_runs(&o);
    assert_eq!(failed.len(), 1, "{failed:?}");
    let why = &failed["b"];
    assert!(
        why.contains("checksum mismatch: the checkpoint is corrupt")
            && why.contains("checkpoint.safetensors"),
        "{why}"
    );
    let table = read(&root.join("out/runs.csv"));
    assert!(table.contains("b,failed,"), "{table}");
    // a retry starts b from scratch and ends with the uninterrupted table
    let mut retry = args.to_vec();
    retry.push("--retry-failed");
    let o = scalelab(&retry);
    ok(&o);
    assert!(failed_runs(&o).is_empty());
    assert_eq!(
        read(&root.join("out/runs.csv")),
        read(&root.join("whole/runs.csv"))
    );
    assert_eq!(
        read(&root.join("out/curves.csv")),
        read(&root.join("whole/curves.csv"))
    );
}

#[test]
fn corrupt_results_of_finished_runs_fail_them_and_retry_reruns_them() {
    let root = tmpdir("corrupt-done");
    let sweep = write(&root, "sweep.toml", SMALL);
    let out = root.join("out").display().to_string();
    let args = [
        "sweep", &sweep, "--out", &out, "--quiet", "--json", "--jobs", "1",
    ];
    ok(&scalelab(&args));
    let runs = root.join("out/runs.csv");
    let curves = root.join("out/curves.csv");
    let (good_runs, good_curves) = (read(&runs), read(&curves));
    let rd = |n: &str| root.join("out/runs").join(n);
    // a: summary.json garbled; b: metrics.jsonl cut mid-line; c: a line garbled
    std::fs::write(rd("a").join("summary.json"), "{\"steps\": 3, garbage").unwrap();
    let m = read(&rd("b").join("metrics.jsonl"));
    std::fs::write(rd("b").join("metrics.jsonl"), &m[..m.len() / 2]).unwrap();
    let m = read(&rd("c").join("metrics.jsonl"));
    let mut lines: Vec<&str> = m.lines().collect();
    lines[2] = "{\"step\": 3, \"tok";
    std::fs::write(rd("c").join("metrics.jsonl"), lines.join("\n") + "\n").unwrap();
    let o = scalelab(&args);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let failed = failed_runs(&o);
    assert_eq!(failed.len(), 3, "{failed:?}");
    assert!(
        failed["a"].starts_with("summary.json unreadable: "),
        "{failed:?}"
    );
    assert!(failed["b"].starts_with("metrics.jsonl "), "{failed:?}");
    assert!(
        failed["c"].starts_with("metrics.jsonl unreadable: ") && failed["c"].contains(":3: "),
        "{failed:?}"
    );
    for n in ["a", "b", "c"] {
        let st = read(&rd(n).join("status.json"));
        assert!(st.contains("\"failed\""), "{st}");
    }
    let table = read(&runs);
    for n in ["a", "b", "c"] {
        assert!(table.contains(&format!("\n{n},failed,")), "{table}");
    }
    // fits leave them out instead of reading blank losses
    let fit = scalelab(&["fit", &out, "--law", "power-n", "--json"]);
    assert!(!fit.status.success());
    // a retry reruns them from scratch and gives the original tables
    let mut retry = args.to_vec();
    retry.push("--retry-failed");
    let o = scalelab(&retry);
    ok(&o);
    assert!(failed_runs(&o).is_empty());
    assert_eq!(read(&runs), good_runs);
    assert_eq!(read(&curves), good_curves);
}
