//! The sweep files docs/sweep.md prints load as printed: every ```toml block
//! goes through `scalelab sweep FILE --out DIR --dry-run`. A block that is
//! deliberately partial starts with the line `# fragment` and is skipped.

use crate::util::*;

use std::path::PathBuf;
use std::process::Command;

/// The ```toml blocks of a Markdown text, with their first line's number.
fn toml_blocks(md: &str) -> Vec<(usize, String)> {
    let mut blocks = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (i, line) in md.lines().enumerate() {
        match &mut current {
            None if line.trim_start().starts_with("```toml") => {
                current = Some((i + 2, String::new()))
            }
            None => {}
            Some(_) if line.trim_start().starts_with("```") => blocks.push(current.take().unwrap()),
            Some((_, text)) => {
                text.push_str(line);
                text.push('\n');
            }
        }
    }
    assert!(current.is_none(), "an unclosed ```toml block");
    blocks
}

#[test]
fn the_sweep_files_in_docs_sweep_md_load() {
    let doc = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/sweep.md");
    let md = std::fs::read_to_string(&doc).unwrap();
    let blocks = toml_blocks(&md);
    let root = tmpdir("sweep-doc");
    let mut checked = 0;
    for (k, (line, text)) in blocks.iter().enumerate() {
        if text.lines().next().map(str::trim) == Some("# fragment") {
            continue;
        }
        let file = root.join(format!("block{k}.toml"));
        std::fs::write(&file, text).unwrap();
        let out = root.join(format!("out{k}"));
        let o = Command::new(bin())
            .args([
                "sweep",
                file.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
                "--dry-run",
            ])
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "docs/sweep.md line {line}: the ```toml block does not load:\n{}",
            String::from_utf8_lossy(&o.stderr)
        );
        checked += 1;
    }
    assert!(checked >= 1, "docs/sweep.md has no complete ```toml block");
    let _ = std::fs::remove_dir_all(&root);
}
