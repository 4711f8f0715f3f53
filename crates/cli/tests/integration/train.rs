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

/// `--parametrization mup --mup-base-width W` trains under μP and records
/// it in the run's config; a μP flag without its partner names the flag.
#[test]
fn mup_flags_train_under_mup_and_bad_ones_name_the_flag() {
    let dir = tmpdir("train-mup");
    let _ = std::fs::remove_dir_all(&dir);
    let (ok, err) = train(&[
        "--parametrization",
        "mup",
        "--mup-base-width",
        "8",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let cfg: toml::Table = toml::from_str(&read(&dir.join("config.toml"))).unwrap();
    assert_eq!(cfg["parametrization"].as_str(), Some("mup"), "{cfg}");
    assert_eq!(cfg["mup_base_width"].as_integer(), Some(8), "{cfg}");
    let _ = std::fs::remove_dir_all(&dir);
    for (flags, needle) in [
        (
            &["--parametrization", "mup"][..],
            "--parametrization mup needs --mup-base-width",
        ),
        (
            &["--mup-base-width", "8"][..],
            "needs --parametrization mup",
        ),
        (&["--parametrization", "vanilla"][..], "possible values"),
    ] {
        let (ok, err) = train(flags);
        assert!(!ok, "{flags:?}");
        assert!(err.contains(needle), "{flags:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}
