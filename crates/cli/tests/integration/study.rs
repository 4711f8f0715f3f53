//! `scalelab study` end to end on a small IsoFLOP design of the synthetic
//! language: the sweep, the fits, the IsoFLOP analysis, the plan, the
//! backtest and the comparison with the known entropy rate all land in the
//! output directory, and a re-run resumes instead of retraining.

use crate::util::*;

use std::process::Command;

const STUDY: &str = r#"
name = "tiny-study"
[train]
data = "synth"
context = 32
batch = 8
lr = 3e-3
[schedule]
evals = 4
checkpoints = 2
[design]
total_flops = 4e11
budgets = 3
decades = 1.0
sizes = 4
spread = 4.0
tokens_per_param = 60
[study]
target_factor = 100
bootstrap = 50
"#;

#[test]
fn tiny_study_runs_the_whole_loop() {
    let root = tmpdir("study");
    let f = root.join("study.toml");
    std::fs::write(&f, STUDY).unwrap();
    let out = root.join("out");
    let run = || {
        Command::new(bin())
            .args([
                "study",
                &f.display().to_string(),
                "--out",
                &out.display().to_string(),
                "--json",
                "--quiet",
            ])
            .output()
            .unwrap()
    };
    let o = run();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["schema"], "scalelab.study/1");
    // 3 budgets x 4 sizes, less sizes that round to the same shape
    let runs = v["runs"].as_u64().unwrap();
    assert!((8..=12).contains(&runs), "{runs} runs");
    assert_eq!(v["runs_done"].as_u64().unwrap(), runs);
    // the fitted law with intervals
    let fit = &v["fit"];
    assert_eq!(fit["law"], "chinchilla");
    assert_eq!(fit["bootstrap"]["n"], 50);
    assert!(fit["bootstrap"]["ci95"]["alpha"].is_array());
    // plan at 100x the pilots' compute
    let pilot = v["pilot_flops"].as_f64().unwrap();
    let target = v["plan"]["flops"].as_f64().unwrap();
    assert!((target / pilot - 100.0).abs() < 1e-9);
    assert!(v["plan"]["n_opt"].as_f64().unwrap() > 0.0);
    // a backtest on the largest budget's runs
    let table = std::fs::read_to_string(out.join("runs.csv")).unwrap();
    let header: Vec<&str> = table.lines().next().unwrap().split(',').collect();
    let bi = header.iter().position(|h| *h == "flops_budget").unwrap();
    let budgets: Vec<f64> = table
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(bi).unwrap().parse().unwrap())
        .collect();
    let top = budgets.iter().cloned().fold(0.0, f64::max);
    let n_top = budgets.iter().filter(|b| **b == top).count();
    assert_eq!(v["backtest"]["n_test"], n_top, "{}", v["backtest"]);
    assert!(v["backtest"]["mean_abs_rel_error"]
        .as_f64()
        .unwrap()
        .is_finite());
    // the rollout beside it: the budgets up to each cut predict those above
    // (when the budgets below the top hold the 6 runs a 5-parameter law
    // needs; else a warning says why there is none)
    let summary = std::fs::read_to_string(out.join("summary.txt")).unwrap();
    let ro = &v["fit"]["rollout"];
    if budgets.len() - n_top >= 6 {
        assert!(
            ro["grouped_by"].as_str().unwrap().contains("flops_budget"),
            "{ro}"
        );
        let cuts = ro["cuts"].as_array().unwrap();
        assert_eq!(
            cuts.last().unwrap()["n_held_out"].as_u64().unwrap() as usize,
            n_top,
            "{ro}"
        );
        assert!(summary.contains("rollout backtest"), "{summary}");
    } else {
        assert!(ro.is_null(), "{ro}");
        let w = v["warnings"].to_string();
        assert!(w.contains("no rollout backtest"), "{w}");
    }
    // the truth of the synthetic language beside the fitted E
    let floor = v["truth"]["floor"].as_f64().unwrap();
    let rate = v["truth"]["entropy_rate"].as_f64().unwrap();
    assert!(floor > rate && floor < rate * 1.05, "{}", v["truth"]);
    // IsoFLOP exponents from the three budgets
    assert!(
        v["isoflop"]["exponents"]["a"].as_f64().is_some(),
        "{}",
        v["isoflop"]
    );
    for file in [
        "study.toml",
        "runs.csv",
        "curves.csv",
        "fit.json",
        "fit-power-n.json",
        "isoflop.json",
        "study.json",
        "summary.txt",
    ] {
        assert!(out.join(file).exists(), "{file} missing");
    }
    // every pilot run's loss lies above the exact floor of the language
    let li = header.iter().position(|h| *h == "loss").unwrap();
    for line in table.lines().skip(1) {
        let loss: f64 = line.split(',').nth(li).unwrap().parse().unwrap();
        assert!(loss > floor, "{line}");
    }
    // re-running resumes: nothing is trained again, same fit
    let o2 = run();
    assert!(o2.status.success());
    let v2: serde_json::Value = serde_json::from_slice(&o2.stdout).unwrap();
    assert_eq!(v2["fit"]["params"], v["fit"]["params"]);
    assert!(v2["sweep_seconds"].as_f64().unwrap() < 5.0);
}

#[test]
fn default_study_file_is_printed_and_valid() {
    let o = Command::new(bin())
        .args(["study", "--print-default"])
        .output()
        .unwrap();
    assert!(o.status.success());
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.contains("[design]") && text.contains("[study]"));
    // and it resolves: the sweep's dry run lists its runs
    let dir = tmpdir("study-default");
    let f = dir.join("default.toml");
    std::fs::write(&f, &text).unwrap();
    let o = Command::new(bin())
        .args([
            "sweep",
            &f.display().to_string(),
            "--out",
            "unused",
            "--dry-run",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).lines().count() > 10);
}

/// The tiny study with the verification stage on, at a small budget.
fn verify_study() -> String {
    STUDY.replace(
        "bootstrap = 50",
        "bootstrap = 50\nverify = true\nverify_factor = 1.5\nverify_sizes = [0.5, 1, 2]",
    )
}

#[test]
fn tiny_study_verifies_the_recommended_model() {
    let root = tmpdir("study-verify");
    let f = root.join("study.toml");
    std::fs::write(&f, verify_study()).unwrap();
    let out = root.join("out");
    let run = || {
        Command::new(bin())
            .args([
                "study",
                &f.display().to_string(),
                "--out",
                &out.display().to_string(),
                "--json",
                "--quiet",
            ])
            .output()
            .unwrap()
    };
    let o = run();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let ver = &v["verification"];
    assert!(ver.is_object(), "{v}");
    // C_v = 1.5x the largest pilot budget
    let c_v = ver["flops"].as_f64().unwrap();
    let largest = ver["largest_pilot_flops"].as_f64().unwrap();
    assert!((c_v / largest - 1.5).abs() < 1e-9, "{ver}");
    let runs = ver["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 3, "{ver}");
    let mut last_n = 0.0;
    for (r, k) in runs.iter().zip([0.5, 1.0, 2.0]) {
        assert_eq!(r["size_factor"].as_f64().unwrap(), k);
        assert_eq!(r["status"], "done", "{r}");
        let n = r["params"].as_f64().unwrap();
        let d = r["tokens"].as_f64().unwrap();
        // sizes in order, each trained at C_v (tokens rounded to steps)
        assert!(n > last_n, "{ver}");
        last_n = n;
        assert!((6.0 * n * d / c_v - 1.0).abs() < 0.05, "{r}");
        let measured = r["measured"].as_f64().unwrap();
        assert!(measured.is_finite() && measured > 0.0, "{r}");
        let pred = r["predicted"].as_f64().unwrap();
        let ci: Vec<f64> = r["ci95"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        let pi: Vec<f64> = r["pi95"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        // PI ⊇ CI ∋ prediction
        assert!(
            pi[0] <= ci[0] && ci[0] <= pred && pred <= ci[1] && ci[1] <= pi[1],
            "{r}"
        );
        let err = r["rel_error"].as_f64().unwrap();
        assert!((err - (pred / measured - 1.0)).abs() < 1e-9, "{r}");
        assert_eq!(
            r["inside_pi95"].as_bool().unwrap(),
            pi[0] <= measured && measured <= pi[1]
        );
    }
    let vd = &ver["verdict"];
    assert!(vd["n_opt_best"].is_boolean(), "{vd}");
    assert!(vd["rel_error"].as_f64().unwrap().is_finite());
    // the headline opens the summary
    let summary = std::fs::read_to_string(out.join("summary.txt")).unwrap();
    assert!(summary.starts_with("Verification at C = "), "{summary}");
    assert!(summary.contains("N*/2: L = "), "{summary}");
    assert!(summary.contains("N* best within noise"), "{summary}");
    // its own sweep, and the report's headline section
    for file in ["verify/plan.json", "verify/runs.csv", "verify/sweep.toml"] {
        assert!(out.join(file).exists(), "{file} missing");
    }
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    let h = html.find("Verification").expect("a verification section");
    assert!(h < html.find("Summary").unwrap());
    // re-running trains nothing again: the runs' files stay as they were
    let metrics = |name: &str| {
        let dir = out.join("verify/runs").join(name);
        std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| {
                let p = e.unwrap().path();
                (
                    p.clone(),
                    std::fs::metadata(&p).unwrap().modified().unwrap(),
                )
            })
            .collect::<Vec<_>>()
    };
    let before: Vec<_> = ["verify-0.5x", "verify-1x", "verify-2x"]
        .iter()
        .map(|n| metrics(n))
        .collect();
    let o2 = run();
    assert!(
        o2.status.success(),
        "{}",
        String::from_utf8_lossy(&o2.stderr)
    );
    let v2: serde_json::Value = serde_json::from_slice(&o2.stdout).unwrap();
    assert!(v2["verification"]["sweep_seconds"].as_f64().unwrap() < 5.0);
    assert_eq!(v2["verification"]["runs"], v["verification"]["runs"]);
    let after: Vec<_> = ["verify-0.5x", "verify-1x", "verify-2x"]
        .iter()
        .map(|n| metrics(n))
        .collect();
    assert_eq!(before, after);
    // a different verification budget is not mixed with the trained one
    std::fs::write(
        &f,
        verify_study().replace("verify_factor = 1.5", "verify_factor = 1.6"),
    )
    .unwrap();
    let o3 = run();
    assert!(!o3.status.success());
    let err = String::from_utf8_lossy(&o3.stderr);
    assert!(
        err.contains("verification:") && err.contains("delete"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn bad_verify_settings_are_refused_before_any_run() {
    let root = tmpdir("study-badverify");
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    for (bad, want) in [
        (
            "verify_factor = 1.5",
            "verify_factor = 0",
            "verify_factor must be a positive",
        ),
        (
            "verify_sizes = [0.5, 1, 2]",
            "verify_sizes = [0.5, 2]",
            "must include 1",
        ),
        (
            "verify_sizes = [0.5, 1, 2]",
            "verify_sizes = [1, 0]",
            "verify_sizes[1] must be a positive",
        ),
    ]
    .map(|(from, to, want)| (verify_study().replace(from, to), want))
    {
        let f = root.join("study.toml");
        std::fs::write(&f, &bad).unwrap();
        let out = root.join("out");
        let o = Command::new(bin())
            .args([
                "study",
                &f.display().to_string(),
                "--out",
                &out.display().to_string(),
                "--quiet",
            ])
            .output()
            .unwrap();
        assert!(!o.status.success());
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(want), "{err}");
        assert!(
            err.contains("study.toml") && err.contains("[study]"),
            "{err}"
        );
        assert!(
            !out.join("runs").exists()
                || std::fs::read_dir(out.join("runs"))
                    .unwrap()
                    .next()
                    .is_none()
        );
    }
    let _ = std::fs::remove_dir_all(&root);
}

/// A study whose pilots are a WSD ladder: the fits see the cooldown
/// branches only, and the pilots' compute is what they spent (a branch's
/// `flops` is that of a full run to its D, but it shares its parent's
/// stable phase).
#[test]
fn a_wsd_ladder_study_counts_spent_compute_and_fits_branches_only() {
    let root = tmpdir("study-wsd");
    let f = root.join("study.toml");
    let text = STUDY.replace(
        "checkpoints = 2",
        "checkpoints = 2\nkind = \"wsd\"\ndecay_fraction = 0.2\nbranches = [0.5, 1]",
    );
    std::fs::write(&f, text).unwrap();
    let out = root.join("out");
    let o = Command::new(bin())
        .args([
            "study",
            &f.display().to_string(),
            "--out",
            &out.display().to_string(),
            "--json",
            "--quiet",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let runs = std::fs::read_to_string(out.join("runs.csv")).unwrap();
    let mut lines = runs.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (sched, spent, status) = (col("schedule"), col("flops_spent"), col("status"));
    let rows: Vec<Vec<String>> = lines
        .map(|l| l.split(',').map(String::from).collect())
        .collect();
    let stable = rows.iter().filter(|r| r[sched] == "stable").count();
    let branches = rows.iter().filter(|r| r[sched] == "wsd").count();
    assert!(stable >= 2 && branches == 2 * stable, "{runs}");
    let spent_total: f64 = rows
        .iter()
        .filter(|r| r[status] == "done")
        .map(|r| r[spent].parse::<f64>().unwrap())
        .sum();
    let pilot = v["pilot_flops"].as_f64().unwrap();
    assert!(
        (pilot / spent_total - 1.0).abs() < 1e-9,
        "pilot_flops {pilot} vs spent {spent_total}"
    );
    // the Chinchilla fit used the branches, not the stable parents
    assert_eq!(v["fit"]["n_points"].as_u64().unwrap() as usize, branches);
    let _ = std::fs::remove_dir_all(&root);
}
