//! `scalelab design` end to end: the grid spans the requested decades,
//! brackets the expected optimum at every budget, spends the pilot budget,
//! writes a sweep file whose configs match the accounting, and flags designs
//! that cannot identify a law.

use crate::util::*;

use scalelab_core::accounting::GptShape;
use serde_json::Value;

#[test]
fn design_is_an_isoflop_grid_and_writes_a_sweep_file() {
    let dir = tmpdir("design-test");
    let sweep = dir.join("sweep.json");
    let out = scalelab(&[
        "design",
        "--pilot-flops",
        "1e17",
        "--budgets",
        "5",
        "--decades",
        "2",
        "--sizes",
        "7",
        "--out",
        sweep.to_str().unwrap(),
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let budgets: Vec<f64> = v["budgets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b.as_f64().unwrap())
        .collect();
    assert_eq!(budgets.len(), 5);
    assert!((budgets[4] / budgets[0]).log10() >= 1.5);
    let runs = v["runs"].as_array().unwrap();
    let total: f64 = runs.iter().map(|r| r["flops"].as_f64().unwrap()).sum();
    assert!(total <= 1e17 * (1.0 + 1e-9) && total > 0.8e17, "{total}");
    for (bi, c) in budgets.iter().enumerate() {
        let at: Vec<&Value> = runs.iter().filter(|r| r["budget"] == bi).collect();
        assert!(at.len() >= 5, "budget {bi}: {} sizes", at.len());
        let opt = (c / (6.0 * 20.0)).sqrt();
        let below = at
            .iter()
            .filter(|r| r["params"].as_f64().unwrap() < opt / 1.5)
            .count();
        let above = at
            .iter()
            .filter(|r| r["params"].as_f64().unwrap() > opt * 1.5)
            .count();
        assert!(
            below >= 2 && above >= 2,
            "budget {bi} does not bracket N* = {opt}"
        );
    }
    let w: Vec<&str> = v["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    assert!(
        !w.iter()
            .any(|w| w.contains("decades") || w.contains("budget(s)")),
        "{w:?}"
    );

    // The sweep file: one train config per run, consistent with the accounting.
    let s: Value = serde_json::from_str(&std::fs::read_to_string(&sweep).unwrap()).unwrap();
    assert_eq!(s["schema"], "scalelab.sweep/1");
    let sr = s["runs"].as_array().unwrap();
    assert_eq!(sr.len(), runs.len());
    for r in sr {
        let c = &r["config"];
        let g = |k: &str| c[k].as_u64().unwrap() as usize;
        let shape = GptShape::new(
            g("n_layer"),
            g("d_model"),
            g("n_head"),
            g("context"),
            g("vocab"),
        );
        assert!(shape.validate().is_ok());
        let n = shape.params().non_embedding as f64;
        assert_eq!(n, r["params_non_embedding"].as_f64().unwrap());
        let tokens = c["tokens"].as_f64().unwrap();
        let budget = r["flops_budget"].as_f64().unwrap();
        assert!((6.0 * n * tokens / budget - 1.0).abs() < 1e-6);
    }
}

#[test]
fn unidentifiable_designs_are_flagged_and_bad_input_rejected() {
    let out = scalelab(&[
        "design",
        "--pilot-flops",
        "1e16",
        "--budgets",
        "2",
        "--decades",
        "0.5",
        "--sizes",
        "2",
    ]);
    assert!(out.status.success());
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.contains("warning: only 2 budget(s)"), "{s}");
    assert!(s.contains("span 0.50 decades (< 1.5)"), "{s}");
    assert!(s.contains("needs at least 3"), "{s}");

    let out = scalelab(&["design", "--pilot-flops", "-1e17"]);
    assert_eq!(out.status.code(), Some(2));
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("--pilot-flops") && e.contains("positive"), "{e}");
    let out = scalelab(&["design", "--pilot-flops", "1e17", "--spread", "0.5"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--spread"));
    let out = scalelab(&["design", "--pilot-flops", "1e17", "--budgets", "0"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--budgets must be at least 1"));
}

/// `--out FILE.toml` writes a TOML sweep file, `--out FILE.json` the JSON,
/// and `scalelab sweep` runs either as given, with the same runs, each in
/// its IsoFLOP budget (so `isoflop` can group the sweep's runs).
#[test]
fn the_design_file_runs_as_a_sweep_whether_toml_or_json() {
    let dir = tmpdir("design-formats");
    let mut plans = Vec::new();
    for name in ["pilot.toml", "pilot.json"] {
        let file = dir.join(name);
        let out = scalelab(&[
            "design",
            "--pilot-flops",
            "1e12",
            "--context",
            "64",
            "--out",
            file.to_str().unwrap(),
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = std::fs::read_to_string(&file).unwrap();
        if name.ends_with(".toml") {
            let t: toml::Table = toml::from_str(&text).expect("the .toml design is TOML");
            assert_eq!(t["train"]["context"].as_integer(), Some(64));
            let runs = t["runs"].as_array().unwrap();
            assert!(runs.len() >= 5, "{text}");
            assert!(runs.iter().all(|r| r.get("flops_budget").is_some()));
        } else {
            let v: Value = serde_json::from_str(&text).expect("the .json design is JSON");
            assert_eq!(v["schema"], "scalelab.sweep/1");
        }
        let dry = scalelab(&[
            "sweep",
            file.to_str().unwrap(),
            "--out",
            dir.join(format!("out-{name}")).to_str().unwrap(),
            "--dry-run",
        ]);
        assert!(
            dry.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&dry.stderr)
        );
        plans.push(String::from_utf8_lossy(&dry.stdout).into_owned());
    }
    assert_eq!(plans[0], plans[1], "both files describe the same runs");
    assert!(
        plans[0].contains("e8") || plans[0].contains("e9"),
        "{}",
        plans[0]
    );

    // a JSON file that is not a design is refused clearly, naming the file
    let bad = dir.join("other.json");
    std::fs::write(&bad, "{\"schema\": \"scalelab.fit/1\"}").unwrap();
    let o = scalelab(&[
        "sweep",
        bad.to_str().unwrap(),
        "--out",
        dir.join("x").to_str().unwrap(),
        "--dry-run",
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("other.json") && err.contains("scalelab.sweep/1"),
        "{err}"
    );
    // and a run may not give both flops and flops_budget
    let both = dir.join("both.toml");
    std::fs::write(
        &both,
        "[[runs]]\nparams = 1e4\nflops = 1e10\nflops_budget = 1e10\n",
    )
    .unwrap();
    let o = scalelab(&[
        "sweep",
        both.to_str().unwrap(),
        "--out",
        dir.join("y").to_str().unwrap(),
        "--dry-run",
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("flops_budget"));
    let _ = std::fs::remove_dir_all(&dir);
}
