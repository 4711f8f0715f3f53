//! `scalelab isoflop` end to end: every Porian et al. (2024) configuration,
//! exponent recovery on synthetic IsoFLOP runs, Approach 3 from a fit with the
//! disagreement warning, and bad input.

use crate::util::*;

use serde_json::Value;
use std::path::PathBuf;

/// Porian et al.'s points, which the repository carries in `data/`.
fn porian() -> Option<PathBuf> {
    Some(PathBuf::from(repo_file(
        "data/porian2024_isoflop/isoflop_points.csv",
    )))
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap()
}

fn ci(v: &Value) -> [f64; 2] {
    let a = v.as_array().expect("an interval");
    [f(&a[0]), f(&a[1])]
}

#[test]
fn porian_every_configuration_and_the_papers_conclusion() {
    let Some(csv) = porian() else { return };
    let out = scalelab(&[
        "isoflop",
        csv.to_str().unwrap(),
        "--params-col",
        "n",
        "--tokens-col",
        "t",
        "--group-by",
        "config_id",
        "--bootstrap",
        "200",
        "--json",
    ]);
    let v = json_of(&out);
    let groups = v["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 15);
    let mut a = std::collections::BTreeMap::new();
    for g in groups {
        let id = g["group"].as_str().unwrap().to_string();
        assert!(g.get("error").is_none(), "{id}: {}", g["error"]);
        let (ga, gb) = (f(&g["a"]), f(&g["b"]));
        let (ac, bc) = (ci(&g["a_ci95"]), ci(&g["b_ci95"]));
        assert!(
            ac[0] <= ga && ga <= ac[1] && bc[0] <= gb && gb <= bc[1],
            "{id}"
        );
        assert!(ac[1] - ac[0] < 0.2, "{id}: a interval {ac:?}");
        assert!((ga + gb - 1.0).abs() < 1e-6, "{id}: C = 6ND so a + b = 1");
        assert!(g["optima"].as_array().unwrap().len() >= 9, "{id}");
        // Approach 1 runs too and lands in a sensible range.
        let a1 = f(&g["approaches"]["approach1"]["a"]);
        assert!((0.3..1.0).contains(&a1), "{id}: A1 a = {a1}");
        a.insert(id, (ga, ac));
    }
    for ds in ["rw", "owt2"] {
        let get = |rest: &str| a[&format!("{ds}|{rest}")];
        let kaplan = get("base|long|kaplan|kaplan|train"); // Reproducing Kaplan et al.
        let last_layer = get("base|long|kaplan|standard|val"); // Counting last layer FLOPs
        let warmup = get("base|short|kaplan|standard|val"); // Correcting warmup
        let cosine = get("base|short|chinchilla|standard|val"); // Cosine decay
        let tuned = get("tuned|short|const|standard|val"); // Optimizer tuning (no decay)
        assert!(
            kaplan.0 > 0.75,
            "{ds}: Kaplan-like a expected, got {}",
            kaplan.0
        );
        assert!(kaplan.0 > last_layer.0 + 0.05, "{ds}");
        assert!(last_layer.0 > warmup.0 + 0.03, "{ds}");
        assert!(warmup.0 > cosine.0, "{ds}");
        assert!(kaplan.1[0] > cosine.1[1], "{ds}: intervals should separate");
        assert!(kaplan.1[0] > tuned.1[1], "{ds}: intervals should separate");
        assert!(
            (tuned.0 - 0.5).abs() < 0.06,
            "{ds}: Chinchilla-like a, got {}",
            tuned.0
        );
    }
}

#[test]
fn porian_single_configuration_via_where() {
    let Some(csv) = porian() else { return };
    let v = json_of(&scalelab(&[
        "isoflop",
        csv.to_str().unwrap(),
        "--params-col",
        "n",
        "--tokens-col",
        "t",
        "--where",
        r#"config_id == "rw|base|long|kaplan|kaplan|train""#,
        "--bootstrap",
        "100",
        "--json",
    ]));
    assert_eq!(v["n_runs"], 107);
    for k in ["a", "b", "a_ci95", "b_ci95", "optima", "approaches"] {
        assert!(v.get(k).is_some(), "key {k} missing");
    }
    let o = &v["optima"][0];
    for k in ["flops", "n_opt", "d_opt", "loss_opt"] {
        assert!(o[k].as_f64().is_some(), "optima[0].{k}");
    }
}

/// Runs on an IsoFLOP grid from a Chinchilla law with exponent a_true.
fn synthetic_csv(a_true: f64) -> String {
    let alpha: f64 = 0.34;
    let beta = alpha * a_true / (1.0 - a_true);
    let (e, a, b) = (1.8, 400.0, 2000.0);
    let g = (alpha * a / (beta * b)).powf(1.0 / (alpha + beta));
    let mut s = String::from("params,tokens,flops,loss\n");
    for k in 0..6 {
        let c = 1e17 * 4f64.powi(k);
        let nopt = g * (c / 6.0).powf(a_true);
        for j in -4..=4 {
            let n = nopt * 2f64.powf(j as f64 * 0.5);
            let d = c / (6.0 * n);
            // Small deterministic noise so the bootstrap has something to do.
            let noise = 1.0 + 0.002 * ((k * 9 + j + 40) as f64 * 1.7).sin();
            let l = (e + a * n.powf(-alpha) + b * d.powf(-beta)) * noise;
            s.push_str(&format!("{n},{d},{c},{l}\n"));
        }
    }
    s
}

#[test]
fn synthetic_exponent_is_recovered_and_a_disagreeing_fit_is_flagged() {
    let csv = tmp_file("synthetic.csv", &synthetic_csv(0.6));
    let v = json_of(&scalelab(&[
        "isoflop",
        csv.to_str().unwrap(),
        "--bootstrap",
        "300",
        "--json",
    ]));
    let a = f(&v["a"]);
    assert!((a - 0.6).abs() < 0.03, "a = {a}");
    let c = ci(&v["a_ci95"]);
    assert!(c[0] < 0.6 + 0.03 && c[1] > 0.6 - 0.03, "{c:?}");
    assert!(
        v["warnings"].as_array().unwrap().is_empty(),
        "{}",
        v["warnings"]
    );

    // A fit whose exponents (a = 0.5) differ from the runs' (0.6), with tight draws.
    let draws: Vec<[f64; 5]> = (0..40)
        .map(|i| {
            let u = i as f64 / 39.0 - 0.5;
            [1.8, 400.0, 2000.0, 0.34 + 0.002 * u, 0.34 - 0.002 * u]
        })
        .collect();
    let fit = tmp_file(
        "fit.json",
        &format!(
            r#"{{"schema": "scalelab.fit/1", "law": "chinchilla",
                "params": {{"E": 1.8, "A": 400.0, "B": 2000.0, "alpha": 0.34, "beta": 0.34}},
                "bootstrap": {{"n": 40, "seed": 0, "draws": {}}}}}"#,
            serde_json::to_string(&draws).unwrap()
        ),
    );
    let v = json_of(&scalelab(&[
        "isoflop",
        csv.to_str().unwrap(),
        "--fit",
        fit.to_str().unwrap(),
        "--bootstrap",
        "300",
        "--json",
    ]));
    let a3 = &v["approaches"]["approach3"];
    assert!((f(&a3["a"]) - 0.5).abs() < 1e-9, "{a3}");
    let w = v["warnings"].to_string();
    assert!(w.contains("Approach 2 and Approach 3 disagree on a"), "{w}");
    // The text output shows the approaches side by side.
    let out = scalelab(&[
        "isoflop",
        csv.to_str().unwrap(),
        "--fit",
        fit.to_str().unwrap(),
        "--bootstrap",
        "100",
    ]);
    let s = String::from_utf8_lossy(&out.stdout);
    for line in ["Approach 1", "Approach 2", "Approach 3", "warning:"] {
        assert!(s.contains(line), "{line} missing from\n{s}");
    }
}

#[test]
fn bad_input_gives_clear_errors() {
    let fail = |args: &[&str]| {
        let out = scalelab(args);
        assert_eq!(out.status.code(), Some(2), "{args:?} should fail");
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    let one = tmp_file(
        "one_budget.csv",
        "params,tokens,flops,loss\n1e6,1e9,6e15,3.2\n2e6,5e8,6e15,3.1\n4e6,2.5e8,6e15,3.3\n",
    );
    let e = fail(&["isoflop", one.to_str().unwrap()]);
    assert!(
        e.contains("same FLOP budget") && e.contains("two or more budgets"),
        "{e}"
    );
    let e = fail(&["isoflop", one.to_str().unwrap(), "--params-col", "n"]);
    assert!(
        e.contains("'n'") || e.contains("`n`") || e.contains(" n "),
        "{e}"
    );
    let e = fail(&["isoflop", one.to_str().unwrap(), "--where", "size > 3"]);
    assert!(e.contains("size"), "{e}");
    let bad = tmp_file(
        "bad.csv",
        "params,tokens,flops,loss\n1e6,1e9,6e15,3.2\n2e6,5e8,6e15,oops\n",
    );
    let e = fail(&["isoflop", bad.to_str().unwrap()]);
    assert!(
        e.contains("bad.csv") && e.contains(":3") && e.contains("loss"),
        "{e}"
    );
    let e = fail(&["isoflop", one.to_str().unwrap(), "--window", "0.5"]);
    assert!(e.contains("--window"), "{e}");
    let power = tmp_file(
        "power.json",
        r#"{"schema": "scalelab.fit/1", "law": "power-c", "params": {"E": 1.7, "A": 400.0, "alpha": 0.05}}"#,
    );
    let syn = tmp_file("syn2.csv", &synthetic_csv(0.5));
    let e = fail(&[
        "isoflop",
        syn.to_str().unwrap(),
        "--fit",
        power.to_str().unwrap(),
    ]);
    assert!(
        e.contains("power-c") && e.contains("does not depend on both"),
        "{e}"
    );
}

#[test]
fn jsonl_and_a_sweep_directory_read_like_csv() {
    // the same runs as CSV and as JSONL (what `--help` promises), with a
    // text column to group by
    let csv_text = synthetic_csv(0.55);
    let mut lines = csv_text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let mut jsonl = String::new();
    let mut csv_grouped = format!("{},family\n", header.join(","));
    for (i, line) in lines.enumerate() {
        let fields: Vec<f64> = line.split(',').map(|x| x.parse().unwrap()).collect();
        let mut obj = serde_json::Map::new();
        for (h, v) in header.iter().zip(&fields) {
            obj.insert(h.to_string(), serde_json::json!(v));
        }
        let family = if i % 2 == 0 { "even" } else { "odd" };
        obj.insert("family".into(), serde_json::json!(family));
        jsonl.push_str(&format!("{}\n", Value::Object(obj)));
        csv_grouped.push_str(&format!("{line},{family}\n"));
    }
    let csv = tmp_file("same.csv", &csv_grouped);
    let dir = tmpdir("isoflop-sweepdir");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("runs.jsonl"), &jsonl).unwrap();
    let run = |table: &str| {
        json_of(&scalelab(&[
            "isoflop",
            table,
            "--group-by",
            "family",
            "--json",
        ]))
    };
    let (a, b) = (run(csv.to_str().unwrap()), run(dir.to_str().unwrap()));
    let groups = a["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 2, "{a}");
    for (ga, gb) in groups.iter().zip(b["groups"].as_array().unwrap()) {
        assert_eq!(ga["group"], gb["group"]);
        let (x, y) = (f(&ga["a"]), f(&gb["a"]));
        assert!((x - y).abs() < 1e-12, "csv {x} vs jsonl {y}");
        assert!((x - 0.55).abs() < 0.05, "{x}");
    }
    // a missing --group-by column names the flag
    let out = scalelab(&["isoflop", csv.to_str().unwrap(), "--group-by", "nope"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("--group-by nope"),
        "{err}"
    );
}

/// A small IsoFLOP design of the synthetic language (3 budgets × 4 sizes),
/// as `scalelab study` trains it: seconds on a CPU.
const DESIGNED_SWEEP: &str = r#"
name = "tiny-isoflop"
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
"#;

#[test]
fn a_designed_sweep_needs_no_flags() {
    let t0 = std::time::Instant::now();
    let root = tmpdir("isoflop-sweep");
    let file = root.join("sweep.toml");
    std::fs::write(&file, DESIGNED_SWEEP).unwrap();
    let dir = root.join("pilot");
    let d = dir.to_str().unwrap().to_string();
    let out = scalelab(&["sweep", file.to_str().unwrap(), "--out", &d, "--quiet"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // the design's budgets, as runs.csv records them
    let runs_csv = std::fs::read_to_string(dir.join("runs.csv")).unwrap();
    let mut lines = runs_csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = header.iter().position(|h| *h == "flops_budget").unwrap();
    let mut budgets: Vec<String> = lines
        .map(|l| l.split(',').nth(col).unwrap().to_string())
        .collect();
    budgets.sort();
    budgets.dedup();
    assert_eq!(budgets.len(), 3, "{runs_csv}");

    let n_budgets =
        |v: &Value| v["optima"].as_array().unwrap().len() + v["skipped"].as_array().unwrap().len();
    let runs = dir.join("runs.csv");
    let curves = dir.join("curves.csv");
    for table in [d.as_str(), runs.to_str().unwrap()] {
        let v = json_of(&scalelab(&[
            "isoflop",
            table,
            "--json",
            "--bootstrap",
            "20",
        ]));
        assert_eq!(n_budgets(&v), 3, "{table}: {v}");
        let notes = v["notes"].to_string();
        assert!(notes.contains("flops_budget"), "{notes}");
        // and the text says so too, with no flags at all
        let out = scalelab(&["isoflop", table]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains("flops_budget"),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // curves: Approach 2 on each run's final row, budgets by tolerance
    let v = json_of(&scalelab(&[
        "isoflop",
        curves.to_str().unwrap(),
        "--run-col",
        "run",
        "--json",
        "--bootstrap",
        "20",
    ]));
    assert_eq!(n_budgets(&v), 3, "{v}");
    let notes = v["notes"].to_string();
    assert!(notes.contains("final row"), "{notes}");
    assert!(t0.elapsed().as_secs() < 60, "took {:?}", t0.elapsed());
}

#[test]
fn every_run_its_own_budget_gives_a_short_error() {
    // 200 runs, each at its own budget (1.3× apart): nothing to group
    let mut s = String::from("params,tokens,flops,loss\n");
    for k in 0..200 {
        let c = 1e12 * 1.3f64.powi(k);
        let n = 1e5 * 1.1f64.powi(k);
        s.push_str(&format!(
            "{n},{},{c},{}\n",
            c / (6.0 * n),
            3.0 - k as f64 * 0.001
        ));
    }
    let p = tmp_file("own_budgets.csv", &s);
    let out = scalelab(&["isoflop", p.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.len() < 1024, "{} bytes: {e}", e.len());
    assert!(e.contains("and 195 more"), "{e}");
    assert!(e.contains("--flops-col"), "{e}");
}
