//! Every size a command takes is checked against a sane bound before any
//! work starts: an absurd value is refused at once, with a non-zero exit, a
//! message naming the flag (or the file and line of a sweep key) and the
//! bound, and never a panic, a hang or unbounded memory.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn scalelab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_scalelab"))
        .args(args)
        .output()
        .expect("run scalelab")
}

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("scalelab-bounds-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs `args`, which must fail quickly with every needle in stderr.
fn refused(args: &[&str], needles: &[&str]) {
    let t0 = Instant::now();
    let o = scalelab(args);
    let took = t0.elapsed();
    let e = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!o.status.success(), "{args:?} succeeded:\n{e}");
    for n in needles {
        assert!(e.contains(n), "{args:?}: stderr lacks {n:?}:\n{e}");
    }
    assert!(!e.contains("panicked"), "{args:?}:\n{e}");
    assert!(took < Duration::from_secs(5), "{args:?} took {took:?}");
}

const TRAIN: &[&str] = &[
    "train",
    "--data",
    "random",
    "--vocab",
    "64",
    "--context",
    "8",
    "--batch",
    "2",
    "--quiet",
];

fn train(extra: &[&str]) -> Vec<String> {
    TRAIN.iter().chain(extra).map(|s| s.to_string()).collect()
}

fn refused_train(extra: &[&str], needles: &[&str]) {
    let args = train(extra);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    refused(&args, needles);
}

/// A sweep file of one run given `run`'s keys, checked with `--dry-run`.
fn refused_sweep(tag: &str, run: &str, needles: &[&str]) {
    refused_sweep_file(tag, &format!("[[runs]]\n{run}"), needles);
}

/// A sweep file with `body` after its `[train]`, checked with `--dry-run`.
fn refused_sweep_file(tag: &str, body: &str, needles: &[&str]) {
    let d = tmpdir(tag);
    let file = d.join("sweep.toml");
    std::fs::write(
        &file,
        format!(
            "name = \"bounds\"
[train]
data = \"synth\"
context = 32
batch = 8
{body}
"
        ),
    )
    .unwrap();
    let out = d.join("out");
    refused(
        &[
            "sweep",
            &file.display().to_string(),
            "--out",
            &out.display().to_string(),
            "--dry-run",
        ],
        needles,
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn train_refuses_params_beyond_the_shape_rule() {
    refused_train(&["--params", "2e19", "--steps", "1"], &["--params", "1e13"]);
    refused_train(
        &["--params", "1e300", "--steps", "1"],
        &["--params", "1e13"],
    );
}

#[test]
fn sweep_refuses_params_beyond_the_shape_rule_in_a_dry_run() {
    refused_sweep(
        "params",
        "params = 1e20\ntokens = 1e6",
        &["sweep.toml:", "params", "1e13"],
    );
}

#[test]
fn train_refuses_absurd_tokens_and_steps() {
    refused_train(
        &["--params", "1e4", "--tokens", "1e30"],
        &["--tokens", "1e15"],
    );
    refused_train(
        &["--params", "1e4", "--steps", "18446744073709551615"],
        &["--steps", "1000000000000"],
    );
}

#[test]
fn sweep_refuses_absurd_tokens_in_a_dry_run() {
    refused_sweep(
        "tokens",
        "params = 1e4\ntokens = 1e30",
        &["sweep.toml:", "tokens", "1e15"],
    );
}

#[test]
fn threads_are_bounded_on_every_command() {
    refused_train(
        &["--params", "1e4", "--steps", "1", "--threads", "100000"],
        &["--threads", "at most"],
    );
    refused(
        &["fit", "nonexistent.csv", "--threads", "100000"],
        &["--threads", "at most"],
    );
    let d = tmpdir("eval");
    refused(
        &[
            "eval",
            &d.display().to_string(),
            "--tasks",
            "copy",
            "--threads",
            "100000",
        ],
        &["--threads", "at most"],
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn design_refuses_absurd_budgets() {
    refused(
        &["design", "--pilot-flops", "1e50"],
        &["--pilot-flops", "1e30"],
    );
    refused(
        &["design", "--pilot-flops", "1e17", "--budgets", "1000000000"],
        &["--budgets", "1000"],
    );
    refused(
        &["design", "--pilot-flops", "1e17", "--sizes", "1000000000"],
        &["--sizes", "1000"],
    );
    refused_sweep_file(
        "design",
        "[design]\ntotal_flops = 1e50",
        &["sweep.toml:", "[design]", "1e30"],
    );
}
