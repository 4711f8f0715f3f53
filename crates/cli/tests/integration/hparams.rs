//! `scalelab hparams` end to end: a planted η_opt(C) law recovered from a
//! synthetic runs.csv, the held-out check at the largest budget (inside for
//! a law that holds, outside for one that bends), the `lr_rule` a sweep
//! picks up (dry run), `report` with the file, bad input and `--help`.

use crate::util::{json_of, scalelab};
use serde_json::Value;
use std::path::PathBuf;

fn dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("scalelab-hparams-test-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn write(name: &str, text: &str) -> PathBuf {
    let p = dir().join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// A runs.csv whose loss is quadratic in ln lr around η(C) (with a small
/// deterministic wiggle) on a factor-2 grid of six lrs per budget.
fn runs_csv(name: &str, eta: impl Fn(f64) -> f64) -> PathBuf {
    let mut t = String::from("run,status,flops,flops_budget,lr,batch,loss\n");
    let mut k = 0;
    for c in [3e10f64, 1e11, 3e11, 1e12] {
        for i in 0..6 {
            let lr = 7.5e-4 * 2f64.powi(i);
            let d = (lr / eta(c)).ln();
            let wiggle = 0.002 * ((k * 7 % 5) as f64 - 2.0) / 2.0;
            let loss = 3.0 * (c / 3e10).powf(-0.05) * (1.0 + 0.03 * d * d) + wiggle;
            t += &format!("r{k},done,{},{c},{lr},8,{loss}\n", c * 1.01);
            k += 1;
        }
    }
    write(name, &t)
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

#[test]
fn a_planted_law_is_recovered_and_the_held_out_budget_lands_in_its_band() {
    let law = |c: f64| 8e-3 * (c / 3e10).powf(-0.15);
    let p = runs_csv("planted.csv", law);
    let out = dir().join("hp.json");
    let v = json_of(&scalelab(&[
        "hparams",
        p.to_str().unwrap(),
        "--holdout-largest",
        "--bootstrap",
        "200",
        "--json",
        "-o",
        out.to_str().unwrap(),
    ]));
    assert_eq!(v["schema"], "scalelab.hparams/1");
    for k in [
        "table",
        "rows",
        "budget_column",
        "tol",
        "bootstrap_used",
        "budgets",
        "lr_law",
        "lr_rule",
        "holdout",
        "warnings",
    ] {
        assert!(v.get(k).is_some(), "no key {k}");
    }
    assert_eq!(v["budget_column"], "flops_budget");
    assert_eq!(v["rows"], 24);
    let budgets = v["budgets"].as_array().unwrap();
    assert_eq!(budgets.len(), 4);
    for b in budgets {
        let c = f(&b["flops"]);
        assert!((f(&b["lr_opt"]) / law(c) - 1.0).abs() < 0.1, "{b}");
        assert_eq!(b["points"].as_array().unwrap().len(), 6);
        let th = f(&b["threshold"]);
        assert!((th / f(&b["best"]["loss"]) - 1.01).abs() < 1e-12);
        for q in b["near_optimal"].as_array().unwrap() {
            assert!(f(&q["loss"]) <= th);
        }
    }
    let e = f(&v["lr_law"]["exponent"]);
    assert!((e + 0.15).abs() < 0.03, "{e}");
    let ci = &v["lr_law"]["exponent_ci95"];
    assert!(f(&ci[0]) < e && e < f(&ci[1]), "{ci}");
    let h = &v["holdout"];
    assert_eq!(h["fitted_on"].as_array().unwrap().len(), 3);
    assert!(
        (f(&h["predicted_lr"]) / law(1e12) - 1.0).abs() < 0.15,
        "{h}"
    );
    assert_eq!(h["within_tol"], true, "{h}");
    assert!(f(&h["loss_ratio"]) < 1.01);
    // the file is the same report
    let file: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(file, v);
    // text output states the check
    let t = scalelab(&["hparams", p.to_str().unwrap(), "--holdout-largest"]);
    assert!(t.status.success());
    let text = String::from_utf8_lossy(&t.stdout);
    assert!(
        text.contains("INSIDE") && text.contains("lr_rule"),
        "{text}"
    );
}

#[test]
fn a_law_that_bends_at_the_largest_budget_is_reported_outside() {
    // the optimum drops eightfold at the held-out budget
    let p = runs_csv("bent.csv", |c| if c > 5e11 { 1.5e-3 } else { 1.2e-2 });
    let v = json_of(&scalelab(&[
        "hparams",
        p.to_str().unwrap(),
        "--holdout-largest",
        "--bootstrap",
        "0",
        "--json",
    ]));
    let h = &v["holdout"];
    assert_eq!(h["within_tol"], false, "{h}");
    assert_eq!(h["in_measured_band"], false, "{h}");
}

#[test]
fn the_lr_rule_is_what_a_sweep_uses() {
    let p = runs_csv("rule.csv", |c| 8e-3 * (c / 3e10).powf(-0.15));
    let v = json_of(&scalelab(&["hparams", p.to_str().unwrap(), "--json"]));
    let r = &v["lr_rule"];
    let sweep = write(
        "next.toml",
        &format!(
            "[train]\ndata = \"synth\"\ncontext = 64\nbatch = 8\n[schedule]\nlr_rule = {{ base = {}, ref_flops = {}, exponent = {} }}\n[grid]\nflops = [1e12, 1e13]\ntokens_per_param = [40]\n",
            r["base"], r["ref_flops"], r["exponent"]
        ),
    );
    let out = dir().join("next");
    let o = scalelab(&[
        "sweep",
        sweep.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--dry-run",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    let col = |k: &str| header.iter().position(|h| *h == k).unwrap();
    let rows: Vec<Vec<&str>> = lines
        .filter(|l| l.starts_with('n'))
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows.len(), 2, "{text}");
    let (a, b) = (f(&v["lr_law"]["coef"]), f(&v["lr_law"]["exponent"]));
    let mut lrs = Vec::new();
    for (row, c) in rows.iter().zip([1e12f64, 1e13]) {
        let lr: f64 = row[col("lr")].parse().unwrap();
        let want = a * c.powf(b);
        assert!((lr / want - 1.0).abs() < 1e-3, "{lr} vs {want}: {text}");
        lrs.push(lr);
    }
    assert!(lrs[1] < lrs[0], "a negative exponent: {lrs:?}");
}

#[test]
fn report_shows_the_hyperparameter_section() {
    let p = runs_csv("rep.csv", |c| 8e-3 * (c / 3e10).powf(-0.15));
    let hp = dir().join("rep-hp.json");
    assert!(scalelab(&[
        "hparams",
        p.to_str().unwrap(),
        "--holdout-largest",
        "--bootstrap",
        "50",
        "-o",
        hp.to_str().unwrap()
    ])
    .status
    .success());
    let html = dir().join("rep.html");
    let v = json_of(&scalelab(&[
        "report",
        hp.to_str().unwrap(),
        "-o",
        html.to_str().unwrap(),
        "--json",
    ]));
    assert!(f(&v["figures"]) >= 2.0, "{v}");
    let text = std::fs::read_to_string(&html).unwrap();
    assert!(text.contains("Hyperparameters across scale"));
    assert!(text.contains("Loss against learning rate per budget"));
    assert!(text.contains("Optimal learning rate against compute"));
}

#[test]
fn bad_input_names_the_file_line_column_or_flag() {
    let bad = write(
        "bad.csv",
        "flops,lr,loss\n1e10,1e-3,3.0\n1e10,2e-3,oops\n1e10,4e-3,2.9\n",
    );
    let o = scalelab(&["hparams", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("bad.csv") && e.contains(":3") && e.contains("loss"),
        "{e}"
    );
    assert!(!e.contains("panicked"), "{e}");
    // one budget only
    let one = write(
        "one.csv",
        "flops,lr,loss\n1e10,1e-3,3.0\n1e10,2e-3,2.95\n1e10,4e-3,2.9\n",
    );
    let o = scalelab(&["hparams", one.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("one.csv") && e.contains("at least 2"), "{e}");
    // two lrs at a budget
    let two = write(
        "two.csv",
        "flops,lr,loss\n1e10,1e-3,3.0\n1e10,2e-3,2.95\n1e10,4e-3,2.9\n1e11,1e-3,2.8\n1e11,2e-3,2.7\n",
    );
    let e =
        String::from_utf8_lossy(&scalelab(&["hparams", two.to_str().unwrap()]).stderr).to_string();
    assert!(e.contains("1e11") && e.contains("at least 3"), "{e}");
    // a negative lr
    let neg = write("neg.csv", "flops,lr,loss\n1e10,1e-3,3.0\n1e10,-2e-3,2.95\n");
    let e =
        String::from_utf8_lossy(&scalelab(&["hparams", neg.to_str().unwrap()]).stderr).to_string();
    assert!(
        e.contains("neg.csv") && e.contains(":3") && e.contains("lr"),
        "{e}"
    );
    // flags
    let p = runs_csv("flags.csv", |_| 3e-3);
    let o = scalelab(&["hparams", p.to_str().unwrap(), "--tol", "-0.1"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--tol"));
    let o = scalelab(&["hparams", p.to_str().unwrap(), "--fit-points", "2"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("--fit-points"));
    let o = scalelab(&["hparams", p.to_str().unwrap(), "--lr-col", "eta"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("no column named 'eta'"));
    let o = scalelab(&["hparams", "/nonexistent/runs.csv"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn help_has_examples() {
    let o = scalelab(&["hparams", "--help"]);
    assert!(o.status.success());
    let h = String::from_utf8_lossy(&o.stdout);
    assert!(h.contains("Examples:"), "{h}");
    assert!(h.contains("scalelab hparams runs/hparams/runs.csv --holdout-largest"));
    for flag in [
        "--tol",
        "--bootstrap",
        "--seed",
        "--json",
        "--holdout-largest",
        "-o",
    ] {
        assert!(h.contains(flag), "{flag}");
    }
}
