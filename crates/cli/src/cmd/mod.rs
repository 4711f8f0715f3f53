//! One module per subcommand.
pub mod compare;
pub mod corpus;
pub mod design;
pub mod emerge;
pub mod eval;
pub mod fit;
pub mod hparams;
pub mod import;
pub mod isoflop;
pub mod plan;
pub mod report;
pub mod study;
pub mod sweep;
pub mod train;

/// How `fit` and `compare` hand their report over: the JSON to `out` (if
/// given) and to stdout with `--json`, else the text rendering; warnings on
/// stderr, and the file written named there when stdout holds text.
pub fn emit_report<W: std::fmt::Display>(
    report: &impl serde::Serialize,
    text: impl FnOnce() -> String,
    warnings: &[W],
    out: Option<&std::path::Path>,
    json: bool,
) -> anyhow::Result<()> {
    let s = serde_json::to_string_pretty(report)?;
    if let Some(path) = out {
        scalelab::error::write_file("--out", path, (s.clone() + "\n").as_bytes())?;
    }
    if json {
        println!("{s}");
    } else {
        print!("{}", text());
    }
    for w in warnings {
        eprintln!("warning: {w}");
    }
    if let (Some(path), false) = (out, json) {
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}
