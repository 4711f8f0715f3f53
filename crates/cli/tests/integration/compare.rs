//! `scalelab compare` end to end: the planted 2x multiplier on synthetic
//! ladders written here, the JSON keys, Porian et al.'s configurations from
//! one table with --group-by, and the errors (different conventions, no
//! overlap, missing groups).

use crate::util::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn porian() -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../data/porian2024_isoflop/isoflop_points.csv");
    assert!(p.exists(), "{} is missing", p.display());
    p.display().to_string()
}

/// An IsoFLOP-like ladder: per budget, three sizes whose best loss follows
/// `L = 1.8 + 2000·(C/shift)^-0.2` with 0.2% deterministic noise.
fn ladder(dir: &Path, name: &str, shift: f64, lo: f64, hi: f64, seed: u64) -> String {
    let mut k = seed;
    let mut s = String::from("flops,loss,param_count\n");
    let n = 10;
    for i in 0..n {
        let c = (lo.ln() + (hi.ln() - lo.ln()) * i as f64 / (n - 1) as f64).exp();
        k = k
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let noise = ((k >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) * 0.002;
        let best = (1.8 + 2000.0 * (c / shift).powf(-0.2)) * (1.0 + noise);
        for worse in [1.04, 1.0, 1.02] {
            s.push_str(&format!("{c:e},{},standard\n", best * worse));
        }
    }
    let p = dir.join(name);
    std::fs::write(&p, s).unwrap();
    p.display().to_string()
}

#[test]
fn a_planted_2x_multiplier_is_recovered_with_documented_keys() {
    let dir = tmpdir("planted");
    let a = ladder(&dir, "a.csv", 1.0, 1e17, 1e20, 1);
    let b = ladder(&dir, "b.csv", 2.0, 1e17, 1e20, 2);
    let out_file = dir.join("compare.json");
    let out = scalelab(&[
        "compare",
        &a,
        &b,
        "--bootstrap",
        "100",
        "--at",
        "1e19",
        "--json",
        "-o",
        out_file.to_str().unwrap(),
    ]);
    let j = json_of(&out);
    assert_eq!(j["schema"], "scalelab.compare/1");
    for key in [
        "a",
        "b",
        "shared_e",
        "convention_check",
        "overlap",
        "points",
        "geo_mean",
        "geo_mean_ci95",
        "geo_mean_undefined",
        "crossover",
        "crossover_ci95",
        "bootstrap",
        "notes",
        "warnings",
    ] {
        assert!(j.get(key).is_some(), "no key {key}: {j}");
    }
    for key in ["label", "path", "convention", "rows", "frontier", "fit"] {
        assert!(j["a"].get(key).is_some(), "no a.{key}");
    }
    for key in ["E", "A", "alpha", "objective", "converged"] {
        assert!(j["a"]["fit"].get(key).is_some(), "no a.fit.{key}");
    }
    assert_eq!(j["a"]["rows"], 30);
    assert_eq!(j["a"]["frontier"]["compute"].as_array().unwrap().len(), 10);
    assert_eq!(j["a"]["fit"]["converged"], true);
    let gm = j["geo_mean"].as_f64().unwrap();
    assert!((gm / 2.0 - 1.0).abs() < 0.10, "geo-mean {gm}");
    let ci = &j["geo_mean_ci95"];
    let (lo, hi) = (ci[0].as_f64().unwrap(), ci[1].as_f64().unwrap());
    assert!(lo < gm && gm < hi, "{lo} {gm} {hi}");
    let points = j["points"].as_array().unwrap();
    assert_eq!(points.len(), 11);
    for p in points {
        for key in [
            "compute",
            "loss_a",
            "compute_b",
            "multiplier",
            "reason",
            "requested",
            "ci95",
        ] {
            assert!(p.get(key).is_some(), "no points[].{key}");
        }
        let m = p["multiplier"].as_f64().unwrap();
        assert!((m / 2.0 - 1.0).abs() < 0.15, "{p}");
    }
    assert_eq!(points.last().unwrap()["requested"], true);
    assert_eq!(j["bootstrap"]["resamples"], 100);
    // the file holds the same object
    let file: Value = serde_json::from_slice(&std::fs::read(&out_file).unwrap()).unwrap();
    assert_eq!(file, j);
    // the report's section and the two figures
    let html = dir.join("report.html");
    let w = json_of(&scalelab(&[
        "report",
        out_file.to_str().unwrap(),
        "-o",
        html.to_str().unwrap(),
        "--json",
    ]));
    assert!(w["figures"].as_u64().unwrap() >= 2, "{w}");
    let h = std::fs::read_to_string(&html).unwrap();
    assert!(
        h.contains("Comparing recipes") && h.contains("multiplier"),
        "no section"
    );
    for kind in ["compare-loss", "compare-multiplier"] {
        let svg = dir.join(format!("{kind}.svg"));
        let w = json_of(&scalelab(&[
            "plot",
            kind,
            out_file.to_str().unwrap(),
            "-o",
            svg.to_str().unwrap(),
            "--json",
        ]));
        assert_eq!(w["kind"], kind);
        assert!(std::fs::read_to_string(&svg).unwrap().contains("<svg"));
    }
    // the text output says the same
    let text = scalelab(&["compare", &a, &b, "--bootstrap", "20"]);
    assert!(text.status.success());
    let t = String::from_utf8_lossy(&text.stdout);
    assert!(
        t.contains("geo-mean multiplier") && t.contains("crossover"),
        "{t}"
    );
    // a shared E
    let j = json_of(&scalelab(&[
        "compare",
        &a,
        &b,
        "--bootstrap",
        "0",
        "--shared-e",
        "--json",
    ]));
    assert_eq!(j["shared_e"], true);
    assert_eq!(j["a"]["fit"]["E"], j["b"]["fit"]["E"]);
    let gm = j["geo_mean"].as_f64().unwrap();
    assert!((gm / 2.0 - 1.0).abs() < 0.10, "shared-E geo-mean {gm}");
    assert!(j["bootstrap"].is_null());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn porian_configurations_compare_from_one_table() {
    let data = porian();
    let a = "rw|base|short|chinchilla|standard|val";
    let b = "rw|base|short|kaplan|standard|val";
    let j = json_of(&scalelab(&[
        "compare",
        &data,
        "--group-by",
        "config_id",
        "--group-a",
        a,
        "--group-b",
        b,
        "--bootstrap",
        "50",
        "--json",
    ]));
    assert_eq!(j["a"]["label"], a);
    assert_eq!(j["b"]["label"], b);
    assert_eq!(j["a"]["convention"], "standard");
    assert_eq!(j["a"]["group"][0], "config_id");
    assert_eq!(j["a"]["frontier"]["compute"].as_array().unwrap().len(), 12);
    // the tuned Chinchilla-style recipe beats the Kaplan-style one: B needs
    // more compute for A's loss over the range
    let gm = j["geo_mean"].as_f64().unwrap();
    assert!(gm > 1.0 && gm < 5.0, "geo-mean {gm}");
    assert_eq!(j["a"]["fit"]["converged"], true);
    assert_eq!(j["b"]["fit"]["converged"], true);
}

#[test]
fn different_conventions_no_overlap_and_missing_groups_are_clear_errors() {
    let data = porian();
    // kaplan vs standard parameter counting
    let out = scalelab(&[
        "compare",
        &data,
        "--group-by",
        "config_id",
        "--group-a",
        "rw|base|long|kaplan|kaplan|train",
        "--group-b",
        "rw|base|long|kaplan|standard|val",
        "--bootstrap",
        "0",
    ]);
    fails_with(
        &out,
        &[
            "different FLOP/parameter conventions",
            "`kaplan`",
            "`standard`",
            "--no-convention-check",
        ],
    );
    // overridable
    let out = scalelab(&[
        "compare",
        &data,
        "--group-by",
        "config_id",
        "--group-a",
        "rw|base|long|kaplan|kaplan|train",
        "--group-b",
        "rw|base|long|kaplan|standard|val",
        "--bootstrap",
        "0",
        "--no-convention-check",
        "--json",
    ]);
    let j = json_of(&out);
    assert_eq!(j["convention_check"], false);
    assert_eq!(j["warnings"].as_array().unwrap().len(), 1);
    // a group that is not there
    let out = scalelab(&[
        "compare",
        &data,
        "--group-by",
        "config_id",
        "--group-a",
        "rw|base|short|chinchilla|standard|val",
        "--group-b",
        "nope",
    ]);
    fails_with(
        &out,
        &["--group-b", "`nope`", "rw|tuned|short|const|standard|val"],
    );
    // no overlap in compute
    let dir = tmpdir("overlap");
    let a = ladder(&dir, "a.csv", 1.0, 1e17, 1e18, 1);
    let b = ladder(&dir, "b.csv", 1.0, 1e19, 1e20, 2);
    fails_with(
        &scalelab(&["compare", &a, &b]),
        &[
            "do not overlap",
            "1.000e17",
            "1.000e18",
            "1.000e19",
            "1.000e20",
        ],
    );
    // too few budgets
    let short = dir.join("short.csv");
    std::fs::write(&short, "flops,loss\n1e18,3.0\n1e19,2.8\n").unwrap();
    fails_with(
        &scalelab(&["compare", &a, short.to_str().unwrap()]),
        &["short.csv", "at least 3"],
    );
    // neither a second table nor groups
    fails_with(&scalelab(&["compare", &a]), &["--group-by"]);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn help_has_examples() {
    let out = scalelab(&["compare", "--help"]);
    assert!(out.status.success());
    let h = String::from_utf8_lossy(&out.stdout);
    assert!(h.contains("Examples:"), "{h}");
    assert!(h.contains("scalelab compare") && h.contains("--group-by config_id"));
    for flag in [
        "--json",
        "--shared-e",
        "--bootstrap",
        "--at",
        "--no-convention-check",
    ] {
        assert!(h.contains(flag), "help lacks {flag}");
    }
}
