//! Helpers shared by every module of the CLI's integration tests: the
//! binary under test, the repository's files, fresh scratch directories,
//! running `scalelab` and reading what it printed or wrote.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The `scalelab` binary this `cargo test` built.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_scalelab")
}

/// The repository's root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// A file the repository carries (path relative to its root), which must
/// exist.
pub fn repo_file(rel: &str) -> String {
    let p = repo().join(rel);
    assert!(
        p.exists(),
        "{} is missing (the repository carries it)",
        p.display()
    );
    p.display().to_string()
}

/// A fresh, empty scratch directory. Every test of this binary runs in one
/// process (in parallel threads), so the name carries a per-call counter
/// besides the process id: no two calls share a directory. The tag comes
/// last, so that no directory's path is a prefix of another's (the tests
/// that kill the processes working in a directory find them by its path).
pub fn tmpdir(tag: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let d = std::env::temp_dir().join(format!("scalelab-{}-{n}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Writes `text` to file `name` of a fresh scratch directory.
pub fn tmp_file(name: &str, text: &str) -> PathBuf {
    let p = tmpdir("file").join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// Writes `text` to `dir/name`; returns the path as a string.
pub fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

pub fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Runs the CLI with `args`.
pub fn scalelab(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .output()
        .expect("run scalelab")
}

/// Runs the CLI with `args` and extra environment variables.
pub fn scalelab_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(bin())
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("run scalelab")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Fails unless the command succeeded.
pub fn ok(o: &Output) {
    assert!(o.status.success(), "scalelab failed:\n{}", stderr(o));
}

/// Runs the CLI with `args`, which must succeed.
pub fn run_ok(args: &[&str]) -> Output {
    let o = scalelab(args);
    assert!(
        o.status.success(),
        "scalelab {}: {}",
        args.join(" "),
        stderr(&o)
    );
    o
}

/// The one JSON object a successful command printed on stdout.
pub fn json_of(out: &Output) -> Value {
    ok(out);
    serde_json::from_slice(&out.stdout).expect("stdout is one JSON object")
}

/// Runs the CLI with `args`, which must succeed printing one JSON object.
pub fn json(args: &[&str]) -> Value {
    let o = run_ok(args);
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "scalelab {}: stdout is not one JSON object ({e}):\n{}",
            args.join(" "),
            stdout(&o)
        )
    })
}

/// Fails unless the command failed, without a panic, with every needle in
/// its stderr.
pub fn fails_with(o: &Output, needles: &[&str]) {
    let e = stderr(o);
    assert!(!o.status.success(), "expected failure, got success:\n{e}");
    for n in needles {
        assert!(e.contains(n), "stderr lacks {n:?}:\n{e}");
    }
    assert!(!e.contains("panicked"), "panic: {e}");
}

/// The Python that has torch, or `None` (skip) outside CI.
pub fn torch_python() -> Option<String> {
    let py = std::env::var("SCALELAB_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&py)
        .args(["-c", "import torch"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        return Some(py);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("CI=true but {py} cannot import torch (the test command installs it)");
    }
    eprintln!("skipping: {py} cannot import torch (set SCALELAB_PYTHON)");
    None
}

/// Kills every process left working in sweep directory `dir` until every
/// run's trainer lock is free (a process caught between fork and exec can
/// escape one pass over /proc; the lock says when all are gone).
pub fn kill_trainers_left_in(dir: &Path) {
    let t0 = Instant::now();
    loop {
        kill_all_mentioning(dir.to_str().unwrap());
        let free = std::fs::read_dir(dir.join("runs"))
            .map(|rd| {
                rd.flatten().all(|e| {
                    let p = e.path().join(".trainer.lock");
                    match std::fs::OpenOptions::new().read(true).write(true).open(&p) {
                        Ok(f) => f.try_lock().is_ok(),
                        Err(_) => true,
                    }
                })
            })
            .unwrap_or(true);
        if free {
            return;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "trainers survive in {}",
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// SIGKILL to every process whose command line mentions `needle`.
pub fn kill_all_mentioning(needle: &str) -> usize {
    let mut killed = 0;
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmd) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        if String::from_utf8_lossy(&cmd).contains(needle) && pid != std::process::id() {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            killed += 1;
        }
    }
    killed
}
