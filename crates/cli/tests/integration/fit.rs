//! `scalelab fit` end to end: the Epoch AI Chinchilla replication (grid fit
//! and bootstrap standard errors), the fit file that `scalelab plan` reads,
//! the three table formats, holdout, warnings, and every bad-input message.

use crate::util::*;

use serde_json::Value;

fn epoch_csv() -> Option<String> {
    Some(repo_file(
        "data/chinchilla_epoch_svg/svg_extracted_data.csv",
    ))
}

const EPOCH_COLS: [&str; 6] = [
    "--params-col",
    "Model Size",
    "--flops-col",
    "Training FLOP",
    "--where",
    "loss < 3.4469",
];

fn p(v: &Value, key: &str) -> f64 {
    v["params"][key].as_f64().unwrap()
}

fn check_epoch(v: &Value) {
    let rel = |k: &str, want: f64| (p(v, k) - want).abs() / want;
    assert!(rel("E", 1.8172) < 0.005, "{}", v["params"]);
    assert!(rel("alpha", 0.3473) < 0.005, "{}", v["params"]);
    assert!(rel("beta", 0.3672) < 0.005, "{}", v["params"]);
    assert!(rel("A", 477.8) < 0.03, "{}", v["params"]);
    assert!(rel("B", 2143.0) < 0.03, "{}", v["params"]);
    assert!(v["objective"].as_f64().unwrap() <= 0.00101828);
    assert_eq!(v["n_points"], 240);
    assert_eq!(v["converged"], true);
}

#[test]
fn epoch_grid_fit_and_bootstrap_through_the_cli() {
    let Some(csv) = epoch_csv() else { return };
    let dir = tmpdir("fit");
    let fit_json = dir.join("fit.json").display().to_string();
    let mut args = vec!["fit", &csv, "--law", "chinchilla", "--method", "grid"];
    args.extend(EPOCH_COLS);
    args.extend([
        "--bootstrap",
        "4000",
        "--seed",
        "1",
        "--json",
        "--quiet",
        "--out",
        &fit_json,
    ]);
    let out = scalelab(&args);
    let v = json_of(&out);
    check_epoch(&v);
    assert_eq!(v["schema"], "scalelab.fit/1");
    assert_eq!(v["starts"], 4500);
    assert!(
        v["starts_at_best"].as_u64().unwrap() >= 100,
        "{}",
        v["starts_at_best"]
    );
    assert_eq!(v["loss_function"]["kind"], "huber");
    assert_eq!(v["loss_function"]["delta"], 1e-3);
    assert_eq!(v["input"]["rows_read"], 245);
    let notes = v["notes"].to_string();
    assert!(notes.contains("D = C / (6N)"), "{notes}");
    assert!(notes.contains("240 of 245 rows"), "{notes}");

    // Epoch's published bootstrap standard errors (4000 resamples)
    let b = &v["bootstrap"];
    assert_eq!(b["n"], 4000);
    assert_eq!(b["draws"].as_array().unwrap().len(), 4000);
    for (k, want) in [
        ("A", 124.5),
        ("B", 1293.0),
        ("E", 0.0257),
        ("alpha", 0.0154),
        ("beta", 0.0206),
    ] {
        let se = b["se"][k].as_f64().unwrap();
        assert!(
            (se - want).abs() / want < 0.20,
            "se({k}) = {se}, Epoch {want}"
        );
        let ci = b["ci95"][k].as_array().unwrap();
        let (lo, hi) = (ci[0].as_f64().unwrap(), ci[1].as_f64().unwrap());
        assert!(lo < p(&v, k) && p(&v, k) < hi, "{k}: {lo} {hi}");
    }
    assert!(b["se"]["a"].as_f64().unwrap() > 0.0, "derived a has an se");

    // the written file equals what was printed, and plan reads it
    let written: Value =
        serde_json::from_str(&std::fs::read_to_string(&fit_json).unwrap()).unwrap();
    assert_eq!(written, v);
    let plan = json_of(&scalelab(&[
        "plan", "--fit", &fit_json, "--flops", "1e21", "--json",
    ]));
    let text = plan.to_string();
    assert!(text.contains("n_opt") && text.contains("ci95"), "{text}");
}

#[test]
fn epoch_default_varpro_fit_and_text_output() {
    let Some(csv) = epoch_csv() else { return };
    let mut args = vec!["fit", &csv];
    args.extend(EPOCH_COLS);
    let out = scalelab(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("chinchilla"), "{text}");
    assert!(text.contains("varpro"), "{text}");
    assert!(text.contains("alpha"), "{text}");
    assert!(text.contains("converged"), "{text}");
    let mut args = vec!["fit", &csv, "--json"];
    args.extend(EPOCH_COLS);
    check_epoch(&json_of(&scalelab(&args)));
}

/// Runs of a known Chinchilla law on an IsoFLOP design, as CSV text.
fn synthetic_csv(noise_seed: u64) -> (String, Vec<(f64, f64, f64)>) {
    let (e, a, b, al, be) = (1.69, 406.4, 410.7, 0.34, 0.28);
    let mut rows = Vec::new();
    let mut s = noise_seed;
    for k in 0..5 {
        let c = 1e18 * 10f64.powf(0.75 * k as f64);
        let n_opt = (c / 120.0).sqrt();
        for j in 0..7 {
            let n = n_opt * 10f64.powf(-0.75 + 0.25 * j as f64);
            let d = c / (6.0 * n);
            // small deterministic pseudo-noise (LCG), ±0.2%
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let u = ((s >> 11) as f64 / (1u64 << 53) as f64) - 0.5;
            let loss = (e + a / n.powf(al) + b / d.powf(be)) * (1.0 + 0.004 * u);
            rows.push((n, d, loss));
        }
    }
    let mut text = String::from("model size,tokens,flops,loss,status\n");
    for (n, d, l) in &rows {
        text.push_str(&format!("{n},{d},{},{l},done\n", 6.0 * n * d));
    }
    (text, rows)
}

#[test]
fn csv_jsonl_agree_and_columns_with_spaces_work() {
    let dir = tmpdir("fit");
    let (text, rows) = synthetic_csv(3);
    let csv = write(&dir, "runs.csv", &text);
    let mut jsonl = String::new();
    for (n, d, l) in &rows {
        jsonl.push_str(&format!(
            "{{\"model size\": {n}, \"tokens\": {d}, \"loss\": {l}, \"status\": \"done\"}}\n"
        ));
    }
    let jl = write(&dir, "runs.jsonl", &jsonl);
    let a = json_of(&scalelab(&[
        "fit",
        &csv,
        "--params-col",
        "model size",
        "--json",
    ]));
    let b = json_of(&scalelab(&[
        "fit",
        &jl,
        "--params-col",
        "model size",
        "--json",
    ]));
    for k in ["E", "A", "B", "alpha", "beta"] {
        assert!(
            (p(&a, k) - p(&b, k)).abs() <= 1e-6 * p(&a, k).abs(),
            "{k}: {} vs {}",
            a["params"],
            b["params"]
        );
    }
    assert!((p(&a, "alpha") - 0.34).abs() < 0.02, "{}", a["params"]);
    assert!((p(&a, "beta") - 0.28).abs() < 0.02, "{}", a["params"]);
    // JSONL lacks flops: derived, and said
    assert!(b["notes"].to_string().contains("C = 6ND"), "{}", b["notes"]);
    // a sweep directory resolves to its runs.csv
    let d = json_of(&scalelab(&[
        "fit",
        &dir.display().to_string(),
        "--params-col",
        "model size",
        "--json",
    ]));
    assert_eq!(d["params"], a["params"]);
}

#[test]
fn bootstrap_is_identical_for_any_thread_count() {
    let dir = tmpdir("fit");
    let (text, _) = synthetic_csv(5);
    let csv = write(&dir, "runs.csv", &text);
    let run = |threads: &str| {
        let v = json_of(&scalelab(&[
            "fit",
            &csv,
            "--params-col",
            "model size",
            "--bootstrap",
            "64",
            "--seed",
            "9",
            "--threads",
            threads,
            "--json",
        ]));
        v["bootstrap"].clone()
    };
    let one = run("1");
    let two = run("2");
    assert_eq!(one["draws"], two["draws"]);
    assert_eq!(one["se"], two["se"]);
    assert_eq!(one["n"], 64);
}

#[test]
fn holdout_reports_extrapolation_error() {
    let dir = tmpdir("fit");
    let (text, _) = synthetic_csv(7);
    let csv = write(&dir, "runs.csv", &text);
    let v = json_of(&scalelab(&[
        "fit",
        &csv,
        "--params-col",
        "model size",
        "--holdout-largest",
        "7",
        "--json",
    ]));
    let h = &v["holdout"];
    assert_eq!(h["n_test"], 7);
    assert_eq!(h["n_train"], 28);
    let err = h["mean_abs_rel_error"].as_f64().unwrap();
    assert!(err < 0.01, "held-out error {err}");
    assert_eq!(h["points"].as_array().unwrap().len(), 7);
    // the held-out runs are the top budget (1e21): lines 30..=36
    for pt in h["points"].as_array().unwrap() {
        assert!(pt["flops"].as_f64().unwrap() > 5e20, "{pt}");
    }
    let v = json_of(&scalelab(&[
        "fit",
        &csv,
        "--params-col",
        "model size",
        "--holdout-above-flops",
        "2e20",
        "--json",
    ]));
    assert_eq!(v["holdout"]["n_test"], 7);
    let out = scalelab(&[
        "fit",
        &csv,
        "--params-col",
        "model size",
        "--holdout-above-flops",
        "1e30",
    ]);
    fails_with(&out, &["selects no runs"]);
}

#[test]
fn unidentifiable_designs_warn() {
    let dir = tmpdir("fit");
    let mut text = String::from("params,tokens,loss\n");
    for i in 0..12 {
        let n = 1e7 * 10f64.powf(i as f64 / 8.0);
        let d = 20.0 * n;
        let l = 1.69 + 406.4 / n.powf(0.34) + 410.7 / d.powf(0.28);
        text.push_str(&format!("{n},{d},{l}\n"));
    }
    let csv = write(&dir, "ratio.csv", &text);
    let out = scalelab(&["fit", &csv]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("warning: every run has about the same tokens per parameter"),
        "{err}"
    );
    let v = json_of(&scalelab(&["fit", &csv, "--json"]));
    let w = v["warnings"].to_string();
    assert!(w.contains("tokens per parameter"), "{w}");
    assert!(w.contains("fewer than 3x the parameters"), "{w}");
}

#[test]
fn other_laws_fit_from_the_cli() {
    let dir = tmpdir("fit");
    let (text, _) = synthetic_csv(11);
    let csv = write(&dir, "runs.csv", &text);
    for law in ["power-n", "power-d", "power-c", "kaplan", "broken-c"] {
        let v = json_of(&scalelab(&[
            "fit",
            &csv,
            "--params-col",
            "model size",
            "--law",
            law,
            "--json",
        ]));
        assert_eq!(v["law"], law);
        assert!(v["objective"].as_f64().unwrap().is_finite());
        assert!(v["params"].as_object().unwrap().len() >= 3);
    }
    // least squares is offered
    let v = json_of(&scalelab(&[
        "fit",
        &csv,
        "--params-col",
        "model size",
        "--least-squares",
        "--json",
    ]));
    assert_eq!(v["loss_function"]["kind"], "least_squares");
}

#[test]
fn bad_tables_name_file_line_and_column() {
    let dir = tmpdir("fit");
    // missing column: lists what there is and the flag to use
    let f = write(&dir, "nocol.csv", "params,tokens,val\n1e6,1e8,3.0\n");
    fails_with(
        &scalelab(&["fit", &f]),
        &["nocol.csv", "no column named 'loss'", "'val'"],
    );
    let f2 = write(&dir, "n.csv", "params,tokens,loss\n1e6,1e8,3.0\n");
    fails_with(
        &scalelab(&["fit", &f2, "--loss-col", "val loss"]),
        &["--loss-col", "'val loss'"],
    );
    // non-numeric value
    let f = write(
        &dir,
        "text.csv",
        "params,tokens,loss\n1e6,1e8,3.0\n2e6,1e8,abc\n",
    );
    fails_with(
        &scalelab(&["fit", &f]),
        &["text.csv:3:3", "'loss'", "'abc' is not a number"],
    );
    // non-positive value
    let f = write(
        &dir,
        "neg.csv",
        "params,tokens,loss\n1e6,1e8,3.0\n-2e6,1e8,2.9\n",
    );
    fails_with(
        &scalelab(&["fit", &f]),
        &["neg.csv:3:1", "'params'", "positive"],
    );
    // NaN
    let f = write(
        &dir,
        "nan.csv",
        "params,tokens,loss\n1e6,1e8,3.0\n2e6,NaN,2.9\n",
    );
    fails_with(&scalelab(&["fit", &f]), &["nan.csv:3:2", "'tokens'", "NaN"]);
    // empty file, header only
    let f = write(&dir, "empty.csv", "");
    fails_with(&scalelab(&["fit", &f]), &["empty.csv", "empty"]);
    let f = write(&dir, "header.csv", "params,tokens,loss\n");
    fails_with(&scalelab(&["fit", &f]), &["header.csv", "no rows"]);
    // ragged CSV row
    let f = write(&dir, "ragged.csv", "params,tokens,loss\n1e6,1e8\n");
    fails_with(&scalelab(&["fit", &f]), &["ragged.csv:2", "fields"]);
    // bad JSONL line
    let f = write(
        &dir,
        "bad.jsonl",
        "{\"params\": 1e6, \"tokens\": 1e8, \"loss\": 3}\n{\"params\": 2e6,\n",
    );
    fails_with(&scalelab(&["fit", &f]), &["bad.jsonl:2", "invalid JSON"]);
    // JSONL missing a value in one row
    let f = write(
        &dir,
        "gap.jsonl",
        "{\"params\": 1e6, \"tokens\": 1e8, \"loss\": 3}\n{\"params\": 2e6, \"tokens\": 1e8}\n",
    );
    fails_with(
        &scalelab(&["fit", &f]),
        &["gap.jsonl:2", "'loss'", "missing"],
    );
    // not a table, or no file
    let f = write(&dir, "runs.xlsx", "x");
    fails_with(
        &scalelab(&["fit", &f]),
        &["runs.xlsx", "unknown table format"],
    );
    fails_with(
        &scalelab(&["fit", "/nonexistent/runs.csv"]),
        &["/nonexistent/runs.csv"],
    );
    // a Parquet file that is not one
    let f = write(&dir, "fake.parquet", "not parquet at all");
    fails_with(&scalelab(&["fit", &f]), &["fake.parquet", "Parquet"]);
    // a directory without a table
    let empty = dir.join("emptydir");
    std::fs::create_dir_all(&empty).unwrap();
    fails_with(
        &scalelab(&["fit", &empty.display().to_string()]),
        &["emptydir", "runs.csv"],
    );
}

#[test]
fn bad_flags_are_named() {
    let dir = tmpdir("fit");
    let (text, _) = synthetic_csv(1);
    let csv = write(&dir, "runs.csv", &text);
    // filter syntax, with the position
    fails_with(
        &scalelab(&["fit", &csv, "--where", "loss <"]),
        &["--where 'loss <'", "expected a value"],
    );
    // filter on a column that does not exist
    fails_with(
        &scalelab(&[
            "fit",
            &csv,
            "--params-col",
            "model size",
            "--where",
            "lss < 3",
        ]),
        &["lss"],
    );
    // a filter that keeps nothing
    fails_with(
        &scalelab(&[
            "fit",
            &csv,
            "--params-col",
            "model size",
            "--where",
            "loss < 0.1",
        ]),
        &["no rows left"],
    );
    // unknown law, bad delta
    fails_with(
        &scalelab(&["fit", &csv, "--law", "linear"]),
        &["--law", "linear"],
    );
    fails_with(
        &scalelab(&["fit", &csv, "--huber-delta", "-1"]),
        &["--huber-delta", "positive"],
    );
    // too few runs for the law
    let f = write(
        &dir,
        "two.csv",
        "params,tokens,loss\n1e6,1e8,3\n2e6,1e8,2.9\n",
    );
    fails_with(
        &scalelab(&["fit", &f]),
        &["two.csv", "2 runs cannot determine 5 parameters"],
    );
    // a law needing a covariate the table lacks
    let f = write(
        &dir,
        "onlyc.csv",
        "flops,loss\n1e18,3\n1e19,2.9\n1e20,2.8\n1e21,2.7\n",
    );
    fails_with(&scalelab(&["fit", &f]), &["onlyc.csv", "--params-col"]);
    let v = json_of(&scalelab(&["fit", &f, "--law", "power-c", "--json"]));
    assert_eq!(v["n_points"], 4);
    // --out into a missing directory: the error names the flag
    fails_with(
        &scalelab(&[
            "fit",
            &csv,
            "--params-col",
            "model size",
            "--out",
            "/nonexistent/dir/fit.json",
        ]),
        &["--out", "/nonexistent/dir/fit.json"],
    );
}

#[test]
fn rollout_backtest_on_the_epoch_data() {
    let Some(csv) = epoch_csv() else { return };
    let mut args = vec!["fit", &csv, "--law", "chinchilla", "--rollout"];
    args.extend(EPOCH_COLS);
    args.extend(["--bootstrap", "10", "--json", "--quiet"]);
    let v = json_of(&scalelab(&args));
    let r = &v["rollout"];
    assert!(
        r["grouped_by"].as_str().unwrap().contains("compute"),
        "{}",
        r["grouped_by"]
    );
    assert_eq!(r["bootstrap"], 10);
    let budgets = r["budgets"].as_array().unwrap();
    let runs: u64 = budgets.iter().map(|b| b["runs"].as_u64().unwrap()).sum();
    assert_eq!(runs, 240);
    let cuts = r["cuts"].as_array().unwrap();
    assert!(cuts.len() >= 10, "{} cuts", cuts.len());
    let mut held = 0;
    for c in cuts {
        let (train, test) = (
            c["n_train"].as_u64().unwrap(),
            c["n_held_out"].as_u64().unwrap(),
        );
        assert_eq!(train + test, 240, "{c}");
        assert!(train >= 6 && test >= 1, "{c}");
        assert!(c["inside_pi95"].as_u64().unwrap() <= test);
        held += test;
    }
    let points = r["points"].as_array().unwrap();
    assert_eq!(points.len() as u64, held);
    assert_eq!(r["n_points"].as_u64().unwrap(), held);
    for p in points {
        let pi = p["pi95"].as_array().unwrap();
        let (lo, hi) = (pi[0].as_f64().unwrap(), pi[1].as_f64().unwrap());
        let pred = p["predicted"].as_f64().unwrap();
        assert!(lo < pred && pred < hi, "{p}");
        let ci = p["ci95"].as_array().unwrap();
        assert!(
            lo <= ci[0].as_f64().unwrap() && ci[1].as_f64().unwrap() <= hi,
            "{p}"
        );
        let loss = p["loss"].as_f64().unwrap();
        assert_eq!(p["inside_pi95"], lo <= loss && loss <= hi, "{p}");
        assert!(p["distance_decades"].as_f64().unwrap() > -0.05, "{p}");
    }
    let bins = r["by_distance"].as_array().unwrap();
    let in_bins: u64 = bins.iter().map(|b| b["n"].as_u64().unwrap()).sum();
    assert_eq!(in_bins, held);
    // The last cut extrapolates least: its fit has nearly all the runs.
    let last = cuts.last().unwrap();
    assert!(
        last["mean_abs_rel_error"].as_f64().unwrap() < 0.05,
        "{last}"
    );
    // Conditioning and scatter are always reported.
    let c = &v["conditioning"];
    assert!(c["condition_number"].as_f64().unwrap() > 1.0, "{c}");
    let m = c["correlations"]["matrix"].as_array().unwrap();
    assert_eq!(m.len(), 5);
    assert!((m[0][0].as_f64().unwrap() - 1.0).abs() < 1e-9);
    let scatter = v["residuals"]["scatter"].as_f64().unwrap();
    assert!(scatter > 0.0 && scatter < v["residuals"]["rmse"].as_f64().unwrap() * 2.0);

    // The text names both tables and the interval.
    let mut args = vec!["fit", &csv, "--rollout"];
    args.extend(EPOCH_COLS);
    let out = scalelab(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("rollout "), "{text}");
    assert!(text.contains("by extrapolation distance"), "{text}");
    assert!(text.contains("95% prediction interval"), "{text}");
    assert!(text.contains("conditioning  condition number"), "{text}");
}

#[test]
fn rollout_groups_by_the_design_budget_column() {
    let dir = tmpdir("fit");
    let (text, _) = synthetic_csv(3);
    // the design's budgets: 5 budgets of 7 runs
    let mut with_budget = String::new();
    for (i, line) in text.lines().enumerate() {
        if i == 0 {
            with_budget.push_str(&format!("{line},flops_budget\n"));
        } else {
            let c = 1e18 * 10f64.powf(0.75 * ((i - 1) / 7) as f64);
            with_budget.push_str(&format!("{line},{c}\n"));
        }
    }
    let csv = write(&dir, "designed.csv", &with_budget);
    let v = json_of(&scalelab(&[
        "fit",
        &csv,
        "--params-col",
        "model size",
        "--rollout",
        "--json",
    ]));
    let r = &v["rollout"];
    assert!(r["grouped_by"].as_str().unwrap().contains("flops_budget"));
    assert_eq!(r["budgets"].as_array().unwrap().len(), 5);
    let held: Vec<u64> = r["cuts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["n_held_out"].as_u64().unwrap())
        .collect();
    assert_eq!(held, vec![21, 14, 7]);
    assert_eq!(r["bootstrap"], 0);
    for c in r["cuts"].as_array().unwrap() {
        assert!(c["mean_abs_rel_error"].as_f64().unwrap() < 0.02, "{c}");
    }
    // Without --rollout there is no rollout key.
    let v = json_of(&scalelab(&[
        "fit",
        &csv,
        "--params-col",
        "model size",
        "--json",
    ]));
    assert!(v.get("rollout").is_none());
}
