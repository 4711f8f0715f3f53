//! `scalelab train`: a run without `--out` says that nothing is kept and how
//! to keep it; with `--out` it does not.

use crate::util::*;

fn train(extra: &[&str]) -> (bool, String) {
    let mut args = vec![
        "train",
        "--data",
        "random",
        "--vocab",
        "64",
        "--n-layer",
        "1",
        "--d-model",
        "16",
        "--n-head",
        "2",
        "--context",
        "8",
        "--batch",
        "2",
        "--steps",
        "2",
        "--threads",
        "1",
        "--quiet",
    ];
    args.extend_from_slice(extra);
    let o = scalelab(&args);
    (o.status.success(), stderr(&o))
}

#[test]
fn without_out_it_says_nothing_is_saved() {
    let (ok, err) = train(&[]);
    assert!(ok, "{err}");
    assert!(err.contains("nothing is saved"), "{err}");
    assert!(err.contains("--out DIR"), "{err}");

    let dir = tmpdir("train-out");
    let _ = std::fs::remove_dir_all(&dir);
    let (ok, err) = train(&["--out", dir.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(!err.contains("nothing"), "{err}");
    assert!(dir.join("summary.json").exists());
    let _ = std::fs::remove_dir_all(&dir);
}
