//! Every command block of README.md and docs/*.md runs, so that examples
//! cannot rot.
//!
//! Each document's ```bash blocks run in order, as `bash -euo pipefail`
//! scripts, in one scratch directory per document that holds links to the
//! repository's top-level folders (`data/`, `docs/`, `crates/`, `trainers/`,
//! `bench/`, ...), so a block reads the repository's files by the paths a user
//! types from a clone and writes its outputs beside them, where the next
//! block of the same document finds them. `scalelab` on PATH is the binary
//! this `cargo test` built.
//!
//! What the test changes, always:
//! - `cargo build ...` and `cargo install ...` lines are left out (the binary
//!   is already built), `cargo run --release --` and `target/release/scalelab`
//!   become `scalelab`, and the benchmark scripts measure this binary
//!   (`SCALELAB_BIN`);
//! - `python3`/`python` and `venv/` are the suite's Python environment
//!   (`SCALELAB_PYTHON`, which has torch, scipy and datasketch); without it,
//!   blocks that need Python are skipped (an error under `CI=true`).
//!
//! What a document asks for, in HTML comments on the lines just above a block
//! (invisible when rendered):
//! - `<!-- examples: replace: OLD => NEW -->` — a literal substitution, used
//!   to run long examples at reduced sizes (the comment marks them as such);
//! - `<!-- examples: before: COMMAND -->` — a command run first, in the same
//!   script (for example to make the stand-in for a user's own file);
//! - `<!-- examples: python -->` — the block needs the Python package and
//!   runs in the Python suite (python/tests/test_doc_examples.py);
//! - `<!-- examples: skip: REASON -->` — the block cannot run here (the
//!   reason is printed); only a handful do, and the test counts them.
//!
//! ```python blocks run in the Python suite, with the same comments.

use crate::util::*;

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

#[derive(Debug, Clone)]
struct Block {
    /// 1-based line of the opening fence.
    line: usize,
    lang: String,
    text: String,
    directives: Vec<String>,
}

/// The fenced blocks of a Markdown text with the `examples:` comments just
/// above each.
fn blocks(md: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut pending: Vec<String> = Vec::new();
    let mut current: Option<Block> = None;
    for (i, line) in md.lines().enumerate() {
        let t = line.trim_start();
        if let Some(b) = &mut current {
            if t.starts_with("```") {
                out.push(current.take().unwrap());
            } else {
                b.text.push_str(line);
                b.text.push('\n');
            }
            continue;
        }
        if let Some(rest) = t.strip_prefix("```") {
            current = Some(Block {
                line: i + 1,
                lang: rest.trim().to_string(),
                text: String::new(),
                directives: std::mem::take(&mut pending),
            });
        } else if let Some(d) = t
            .strip_prefix("<!-- examples:")
            .and_then(|r| r.trim_end().strip_suffix("-->"))
        {
            pending.push(d.trim().to_string());
        } else if !t.is_empty() {
            pending.clear();
        }
    }
    assert!(current.is_none(), "an unclosed ``` block");
    out
}

/// What to run for a block, or why not.
enum Plan {
    Run(String),
    /// Write the (replaced) text to this file of the scratch directory.
    File(String, String),
    Skip(String),
}

fn plan(block: &Block) -> Plan {
    let mut script = String::new();
    let mut replaces = Vec::new();
    let mut file = None;
    for d in &block.directives {
        if let Some(reason) = d.strip_prefix("skip:") {
            return Plan::Skip(reason.trim().to_string());
        } else if d == "python" {
            return Plan::Skip("runs in the Python suite".into());
        } else if let Some(name) = d.strip_prefix("file:") {
            file = Some(name.trim().to_string());
        } else if let Some(cmd) = d.strip_prefix("before:") {
            script.push_str(cmd.trim());
            script.push('\n');
        } else if let Some(r) = d.strip_prefix("replace:") {
            let (old, new) = r
                .split_once(" => ")
                .unwrap_or_else(|| panic!("line {}: `replace: OLD => NEW`", block.line));
            replaces.push((old.trim().to_string(), new.trim().to_string()));
        } else {
            panic!("line {}: unknown examples directive `{d}`", block.line);
        }
    }
    let mut text = block.text.clone();
    for (old, new) in &replaces {
        assert!(
            text.contains(old.as_str()),
            "line {}: `replace: {old} => ...` does not match the block",
            block.line
        );
        text = text.replace(old.as_str(), new);
    }
    if let Some(name) = file {
        return Plan::File(name, text);
    }
    for line in text.lines() {
        let t = line.trim_start();
        if t.starts_with("cargo build") || t.starts_with("cargo install") {
            script.push_str(": already built\n");
            continue;
        }
        let line = line
            .replace("cargo run --release -- ", "scalelab ")
            .replace("target/release/scalelab", "scalelab");
        script.push_str(&line);
        script.push('\n');
    }
    Plan::Run(script)
}

/// A scratch directory with links to the repository's top-level entries.
fn scratch(name: &str) -> PathBuf {
    let dir = tmpdir(&format!("examples-{}", name.replace('/', "_")));
    std::fs::create_dir_all(dir.join(".bin")).unwrap();
    for entry in std::fs::read_dir(repo()).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        let s = name.to_string_lossy();
        if s.starts_with('.') || s == "target" {
            continue;
        }
        std::os::unix::fs::symlink(entry.path(), dir.join(&name)).unwrap();
    }
    std::os::unix::fs::symlink(bin(), dir.join(".bin/scalelab")).unwrap();
    // `python3` in a block, and `venv/` (the environment the benchmarks'
    // instructions make), are the test suite's Python environment when it
    // has one (scripts/test.sh installs torch, scipy, datasketch, ...).
    if let Some(py) = std::env::var_os("SCALELAB_PYTHON") {
        use std::os::unix::fs::PermissionsExt;
        let py = PathBuf::from(py);
        for name in ["python3", "python"] {
            // a wrapper, not a link: a virtual environment's python reached
            // through a link elsewhere does not find the environment
            let w = dir.join(".bin").join(name);
            std::fs::write(&w, format!("#!/bin/sh\nexec '{}' \"$@\"\n", py.display())).unwrap();
            std::fs::set_permissions(&w, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        if let Some(env) = py.parent().and_then(|b| b.parent()) {
            std::os::unix::fs::symlink(env, dir.join("venv")).unwrap();
        }
    }
    dir
}

/// Blocks that need Python packages (torch, scipy, datasketch).
fn needs_python(script: &str) -> bool {
    ["python", "venv/", "torch"]
        .iter()
        .any(|w| script.contains(w))
}

/// Runs every bash block of one document; returns the failures.
fn run_document(doc: &str) -> Vec<String> {
    let path = repo().join(doc);
    let md = std::fs::read_to_string(&path).unwrap();
    let dir = scratch(doc);
    let path_var = format!(
        "{}:{}",
        dir.join(".bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let have_python = std::env::var_os("SCALELAB_PYTHON").is_some();
    let ci = std::env::var("CI").as_deref() == Ok("true");
    let mut failures = Vec::new();
    let mut ran = 0;
    let mut skipped_python = false;
    for (k, block) in blocks(&md).iter().enumerate() {
        let shell = matches!(block.lang.as_str(), "bash" | "sh" | "shell" | "console");
        let is_file = block.directives.iter().any(|d| d.starts_with("file:"));
        if !shell && !is_file {
            continue;
        }
        skipped_python |= block.directives.iter().any(|d| d == "python");
        let script = match plan(block) {
            Plan::Skip(reason) => {
                eprintln!("{doc}:{}: skipped: {reason}", block.line);
                continue;
            }
            Plan::File(name, text) => {
                std::fs::write(dir.join(name), text).unwrap();
                continue;
            }
            Plan::Run(s) => s,
        };
        if needs_python(&script) && !have_python {
            assert!(
                !ci,
                "{doc}:{}: CI=true but SCALELAB_PYTHON is not set",
                block.line
            );
            eprintln!(
                "{doc}:{}: skipped: needs the suite's Python (set SCALELAB_PYTHON)",
                block.line
            );
            continue;
        }
        let file = dir.join(format!(".block{k}.sh"));
        std::fs::write(&file, format!("set -euo pipefail\n{script}")).unwrap();
        let t0 = Instant::now();
        let out = Command::new("timeout")
            .args(["600", "bash"])
            .arg(&file)
            .current_dir(&dir)
            .env("PATH", &path_var)
            .env("SCALELAB_BIN", bin())
            .output()
            .expect("bash and timeout (coreutils) are needed");
        let secs = t0.elapsed().as_secs_f64();
        ran += 1;
        eprintln!(
            "{doc}:{}: {} in {secs:.1} s",
            block.line,
            if out.status.success() { "ok" } else { "FAILED" }
        );
        if !out.status.success() {
            let tail = |b: &[u8]| {
                let s = String::from_utf8_lossy(b);
                let lines: Vec<&str> = s.lines().collect();
                lines[lines.len().saturating_sub(15)..].join("\n")
            };
            failures.push(format!(
                "{doc}:{} ({}):\n--- script\n{script}--- stdout (tail)\n{}\n--- stderr (tail)\n{}",
                block.line,
                out.status,
                tail(&out.stdout),
                tail(&out.stderr)
            ));
        }
    }
    assert!(ran > 0 || skipped_python, "{doc}: no command block ran");
    if failures.is_empty() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    failures
}

fn check(doc: &str) {
    let failures = run_document(doc);
    assert!(
        failures.is_empty(),
        "{} example block(s) failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// The documents with command blocks, each run by a test below.
const DOCUMENTS: &[&str] = &[
    "README.md",
    "docs/BENCHMARKS.md",
    "docs/compare.md",
    "docs/emerge.md",
    "docs/fit.md",
    "docs/hparams.md",
    "docs/import.md",
    "docs/mup.md",
    "docs/plan.md",
    "docs/python.md",
    "docs/trainers.md",
];

#[test]
fn every_document_with_command_blocks_is_checked() {
    let mut found = Vec::new();
    let mut docs: Vec<PathBuf> = vec![repo().join("README.md")];
    for e in std::fs::read_dir(repo().join("docs")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "md") {
            docs.push(p);
        }
    }
    let mut skipped = 0;
    for p in &docs {
        let md = std::fs::read_to_string(p).unwrap();
        let bs = blocks(&md);
        let rel = p.strip_prefix(repo()).unwrap().display().to_string();
        if bs.iter().any(|b| {
            matches!(
                b.lang.as_str(),
                "bash" | "sh" | "shell" | "console" | "python"
            )
        }) {
            found.push(rel.clone());
        }
        for b in &bs {
            if b.directives.iter().any(|d| d.starts_with("skip:")) {
                eprintln!("{rel}:{}: {}", b.line, b.directives.join("; "));
                skipped += 1;
            }
            // Every directive parses.
            let _ = plan(b);
        }
    }
    found.sort();
    let mut listed: Vec<String> = DOCUMENTS.iter().map(|s| s.to_string()).collect();
    listed.sort();
    assert_eq!(
        found, listed,
        "a document with command blocks has no test here"
    );
    assert!(
        skipped <= 6,
        "{skipped} blocks are skipped: the examples test should run nearly all"
    );
}

#[test]
fn the_block_reader_sees_fences_directives_and_languages() {
    let md = "text\n<!-- examples: replace: a => b -->\n```bash\necho a\n```\n\
              <!-- examples: skip: no -->\nprose\n```python\nx = 1\n```\n";
    let bs = blocks(md);
    assert_eq!(bs.len(), 2);
    assert_eq!(bs[0].line, 3);
    assert_eq!(bs[0].directives, vec!["replace: a => b".to_string()]);
    assert_eq!(bs[0].lang, "bash");
    assert!(
        bs[1].directives.is_empty(),
        "prose between clears a directive"
    );
    match plan(&bs[0]) {
        Plan::Run(s) => assert_eq!(s, "echo b\n"),
        _ => panic!("not skipped"),
    }
    let cargo = Block {
        line: 1,
        lang: "bash".into(),
        text: "cargo build --release -p scalelab-cli\ncargo run --release -- study\n\
               target/release/scalelab fit x\n"
            .into(),
        directives: vec![],
    };
    match plan(&cargo) {
        Plan::Run(s) => {
            assert!(!s.contains("cargo"), "{s}");
            assert!(s.contains("scalelab study\nscalelab fit x"), "{s}");
        }
        _ => panic!("not skipped"),
    }
}

#[test]
fn readme() {
    check("README.md");
}

#[test]
fn docs_benchmarks() {
    check("docs/BENCHMARKS.md");
}

#[test]
fn docs_compare() {
    check("docs/compare.md");
}

#[test]
fn docs_emerge() {
    check("docs/emerge.md");
}

#[test]
fn docs_fit() {
    check("docs/fit.md");
}

#[test]
fn docs_hparams() {
    check("docs/hparams.md");
}

#[test]
fn docs_import() {
    check("docs/import.md");
}

#[test]
fn docs_mup() {
    check("docs/mup.md");
}

#[test]
fn docs_plan() {
    check("docs/plan.md");
}

#[test]
fn docs_python() {
    check("docs/python.md");
}

#[test]
fn docs_trainers() {
    check("docs/trainers.md");
}
