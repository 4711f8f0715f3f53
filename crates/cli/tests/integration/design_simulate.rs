//! `scalelab design --simulate` end to end: the JSON report ranks its
//! candidates, `--out` writes the best as a sweep file that `scalelab sweep`
//! accepts, and bad candidates and priors are refused naming the flag.

use crate::util::*;

use serde_json::Value;

#[test]
fn simulate_ranks_candidates_and_writes_a_sweep_file_sweep_accepts() {
    let dir = tmpdir("simulate");
    let best = dir.join("best.toml");
    let args = [
        "design",
        "--simulate",
        "--pilot-flops",
        "1e16",
        "--prior",
        "epoch",
        "--noise",
        "0.01",
        "--target-factor",
        "1000",
        "--candidates",
        "isoflop:budgets=4,sizes=5,decades=0.2,spread=3;isoflop:budgets=4,sizes=5,decades=2,spread=3",
        "--replicates",
        "12",
        "--seed",
        "3",
        "--context",
        "64",
        "--out",
        best.to_str().unwrap(),
        "--json",
    ];
    let out = scalelab(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["schema"], "scalelab.design-simulation/1");
    assert_eq!(v["replicates"], 12);
    assert_eq!(v["seed"], 3);
    assert_eq!(v["prior"]["E"], 1.82);
    assert!((v["target_flops"].as_f64().unwrap() / 1e19 - 1.0).abs() < 1e-12);
    let cands = v["candidates"].as_array().unwrap();
    assert_eq!(cands.len(), 2);
    for (i, c) in cands.iter().enumerate() {
        assert_eq!(c["rank"], i + 1);
        for k in [
            "spec",
            "runs",
            "points",
            "flops",
            "width_n_star",
            "width_d_star",
            "width_tokens_per_param",
            "width_loss",
            "e_bias",
            "failed_fraction",
            "simulation",
        ] {
            assert!(!c[k].is_null(), "candidate {i} has no `{k}`: {c}");
        }
        let f = c["flops"].as_f64().unwrap();
        assert!(f <= 1e16 * (1.0 + 1e-9) && f > 0.8e16, "{f}");
        let s = &c["simulation"];
        assert!(s["tokens_per_param"]["low"].as_f64() <= s["tokens_per_param"]["high"].as_f64());
    }
    let w = |i: usize| cands[i]["width_tokens_per_param"].as_f64().unwrap();
    assert!(w(0) <= w(1));
    // two decades beat a fifth of one
    assert!(cands[0]["spec"].as_str().unwrap().contains("decades=2"));
    assert_eq!(v["best"], cands[0]["spec"]);

    // The same seed gives the same numbers (timings aside).
    let again: Value = serde_json::from_slice(&scalelab(&args).stdout).unwrap();
    assert_eq!(again["candidates"], v["candidates"]);

    // The best design as a sweep file that `scalelab sweep` accepts.
    let text = std::fs::read_to_string(&best).unwrap();
    assert!(text.contains("[design]"), "{text}");
    let sweep_dir = dir.join("sweep");
    let out = scalelab(&[
        "sweep",
        best.to_str().unwrap(),
        "--out",
        sweep_dir.to_str().unwrap(),
        "--dry-run",
    ]);
    assert!(
        out.status.success(),
        "{}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    // as many runs as the simulation fitted (a header, then one line each)
    let listed = String::from_utf8_lossy(&out.stdout);
    let runs = cands[0]["runs"].as_u64().unwrap() as usize;
    let rows = listed
        .lines()
        .filter(|l| !l.starts_with("compute:"))
        .count();
    assert_eq!(rows, runs + 1, "{listed}");

    // the table marks the best
    let mut plain: Vec<&str> = args.to_vec();
    plain.retain(|a| *a != "--json");
    let out = scalelab(&plain);
    let t = String::from_utf8_lossy(&out.stdout);
    assert!(t.contains("<- best") && t.contains("D/N ×"), "{t}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_candidates_and_priors_name_the_flag_and_token() {
    let run = |extra: &[&str]| {
        let mut a = vec!["design", "--simulate", "--pilot-flops", "1e16"];
        a.extend_from_slice(extra);
        let out = scalelab(&a);
        assert_eq!(out.status.code(), Some(2), "{extra:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let e = run(&[
        "--prior",
        "hoffmann",
        "--candidates",
        "isoflop:budgets=4,wibble=2",
    ]);
    assert!(
        e.contains("--candidates") && e.contains("unknown key `wibble`"),
        "{e}"
    );
    let e = run(&["--prior", "hoffmann", "--candidates", "pyramid:sizes=3"]);
    assert!(
        e.contains("--candidates") && e.contains("unknown kind `pyramid`"),
        "{e}"
    );
    let e = run(&[
        "--prior",
        "hoffmann",
        "--candidates",
        "ladder:branches=1/two",
    ]);
    assert!(e.contains("branches=`two`"), "{e}");
    let e = run(&["--prior", "E=1,A=2,B=3,alpha=0.3"]);
    assert!(e.contains("--prior") && e.contains("lacks beta"), "{e}");
    let e = run(&["--prior", "E=1,A=2,B=3,alpha=0.3,beta=-1"]);
    assert!(e.contains("--prior") && e.contains("beta"), "{e}");
    let e = run(&["--prior", "no-such-fit.json"]);
    assert!(e.contains("no-such-fit.json"), "{e}");
    // --simulate needs a prior; its flags need --simulate
    let e = run(&[]);
    assert!(e.contains("--prior"), "{e}");
    let out = scalelab(&["design", "--pilot-flops", "1e16", "--prior", "hoffmann"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--simulate"));
    // the grid flags belong to the plain design
    let e = run(&["--prior", "hoffmann", "--budgets", "3"]);
    assert!(e.contains("--budgets"), "{e}");
}

#[test]
fn a_fit_file_prior_gives_its_law_and_a_robust_noise() {
    let dir = tmpdir("simulate-fit");
    let fit = dir.join("fit.json");
    let csv = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../data/chinchilla_epoch_svg/svg_extracted_data.csv");
    let out = scalelab(&[
        "fit",
        csv.to_str().unwrap(),
        "--params-col",
        "Model Size",
        "--flops-col",
        "Training FLOP",
        "--where",
        "loss < 3.4469",
        "--quiet",
        "--out",
        fit.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let f: Value = serde_json::from_str(&std::fs::read_to_string(&fit).unwrap()).unwrap();
    let out = scalelab(&[
        "design",
        "--simulate",
        "--pilot-flops",
        "1e20",
        "--prior",
        fit.to_str().unwrap(),
        "--candidates",
        "isoflop:budgets=4,sizes=5,decades=1.5",
        "--replicates",
        "6",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    for k in ["E", "A", "B", "alpha", "beta"] {
        assert_eq!(v["prior"][k], f["params"][k], "{k}");
    }
    let mad = f["residuals"]["median_abs"].as_f64().unwrap();
    let noise = v["noise"].as_f64().unwrap();
    assert!(
        (noise / (1.4826 * mad) - 1.0).abs() < 1e-12,
        "{noise} vs {mad}"
    );
    assert_eq!(v["prior_residual_rmse"], f["residuals"]["rmse"]);
    assert!(v["noise_source"].as_str().unwrap().contains("residual"));
    // a fit of another law is refused, naming the file
    let power = dir.join("power.json");
    let out = scalelab(&[
        "fit",
        csv.to_str().unwrap(),
        "--law",
        "power-c",
        "--flops-col",
        "Training FLOP",
        "--quiet",
        "--out",
        power.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = scalelab(&[
        "design",
        "--simulate",
        "--pilot-flops",
        "1e20",
        "--prior",
        power.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("power.json") && e.contains("chinchilla"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_ladder_design_is_written_as_a_wsd_sweep_that_sweep_loads() {
    let dir = tmpdir("simladder");
    let best = dir.join("ladder.toml");
    let out = scalelab(&[
        "design",
        "--simulate",
        "--pilot-flops",
        "1e16",
        "--prior",
        "epoch",
        "--noise",
        "0.01",
        "--candidates",
        "ladder:sizes=4,branches=0.25/0.5/1/2,decades=1",
        "--replicates",
        "8",
        "--context",
        "64",
        "--out",
        best.to_str().unwrap(),
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&best).unwrap();
    assert!(
        text.contains("kind = \"wsd\"") && text.contains("branches"),
        "{text}"
    );
    let out = scalelab(&[
        "sweep",
        best.to_str().unwrap(),
        "--out",
        dir.join("sweep").to_str().unwrap(),
        "--dry-run",
    ]);
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    // one stable-phase parent per size, four branches each
    let stable = listed.lines().filter(|l| l.contains("-stable")).count();
    let branches = listed.lines().filter(|l| l.contains("-x")).count();
    assert!(stable >= 1 && branches == 4 * stable, "{listed}");
    let _ = std::fs::remove_dir_all(&dir);
}
