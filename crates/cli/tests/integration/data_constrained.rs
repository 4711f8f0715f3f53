//! Data-constrained scaling end to end: `fit --law data-constrained` on runs
//! that repeat their unique tokens (all parameters, and on top of a base
//! fit), and `plan --unique-tokens` with the fitted R*_D and R*_N against an
//! independent brute-force search; bad input names the flag.

use crate::util::*;

use serde_json::Value;
use std::path::PathBuf;

/// The truth: a small-scale Chinchilla base with Muennighoff et al.'s
/// decay constants (E, A, B, alpha, beta, R*_D, R*_N).
const TRUTH: [f64; 7] = [1.8, 480.0, 2100.0, 0.34, 0.37, 15.387756, 5.309743];

/// The law written out independently of the library.
fn law(p: &[f64], n: f64, d: f64, u: f64) -> f64 {
    let (e, a, b, al, be, rd, rn) = (p[0], p[1], p[2], p[3], p[4], p[5], p[6]);
    let ud = u.min(d);
    let r_d = d / ud - 1.0;
    let d_eff = ud + ud * rd * (1.0 - (-r_d / rd).exp());
    let g = (al * a / (be * b)).powf(1.0 / (al + be));
    let n_opt = g * (g * ud).powf(be / al);
    let un = n.min(n_opt);
    let r_n = n / un - 1.0;
    let n_eff = un + un * rn * (1.0 - (-r_n / rn).exp());
    e + a / n_eff.powf(al) + b / d_eff.powf(be)
}

/// Five sizes × four unique budgets × 1…128 epochs, with a deterministic
/// ±0.3% wiggle standing in for noise; the column of unique tokens is
/// named `col`.
fn runs_csv(name: &str, col: &str) -> PathBuf {
    let mut s = format!("params,tokens,{col},loss\n");
    let mut k = 0;
    for i in 0..5 {
        let n = 2e7 * 3f64.powi(i);
        for j in 0..4 {
            let u = 1e8 * 4f64.powi(j);
            for e in 0..8 {
                let d = u * 2f64.powi(e);
                k += 1;
                let wiggle = 1.0 + 0.003 * ((k as f64) * 2.3).sin();
                s.push_str(&format!("{n},{d},{u},{}\n", law(&TRUTH, n, d, u) * wiggle));
            }
        }
    }
    let p = tmpdir("dc").join(name);
    std::fs::write(&p, s).unwrap();
    p
}

fn param(v: &Value, name: &str) -> f64 {
    v["params"][name]
        .as_f64()
        .unwrap_or_else(|| panic!("no {name} in {v}"))
}

#[test]
fn fit_recovers_the_decays_and_plan_uses_them() {
    let csv = runs_csv("runs.csv", "unique_tokens");
    let out = tmpdir("dc").join("dc.json");
    let fit = json_of(&scalelab(&[
        "fit",
        csv.to_str().unwrap(),
        "--law",
        "data-constrained",
        "--bootstrap",
        "60",
        "--json",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]));
    assert_eq!(fit["law"], "data-constrained");
    assert_eq!(fit["input"]["columns"]["unique_tokens"], "unique_tokens");
    let rd = param(&fit, "R_D_star");
    let ci = &fit["bootstrap"]["ci95"]["R_D_star"];
    let (lo, hi) = (ci[0].as_f64().unwrap(), ci[1].as_f64().unwrap());
    assert!(
        lo <= TRUTH[5] && TRUTH[5] <= hi,
        "R*_D {rd} in [{lo}, {hi}]"
    );
    assert!((rd / TRUTH[5] - 1.0).abs() < 0.25, "R*_D {rd}");
    assert!(fit["bootstrap"]["ci95"]["R_N_star"].is_array());
    assert!((param(&fit, "alpha") / TRUTH[3] - 1.0).abs() < 0.1);

    // plan with the fitted law: its own decays, and the optimum an
    // independent brute force finds on the fitted law
    let p: Vec<f64> = ["E", "A", "B", "alpha", "beta", "R_D_star", "R_N_star"]
        .iter()
        .map(|n| param(&fit, n))
        .collect();
    let (c, u) = (3e18, 2e9);
    let plan = json_of(&scalelab(&[
        "plan",
        "--fit",
        out.to_str().unwrap(),
        "--flops",
        "3e18",
        "--unique-tokens",
        "2e9",
        "--json",
    ]));
    let dc = &plan["plans"][0]["data_constrained"];
    assert_eq!(dc["r_star_source"], "fit", "{dc}");
    assert_eq!(dc["r_star"].as_f64().unwrap(), rd);
    assert_eq!(dc["r_star_n"].as_f64().unwrap(), param(&fit, "R_N_star"));
    assert!(dc["ci95"]["n_opt"].is_array(), "{dc}");
    let brute = (0..=20000)
        .map(|i| {
            let n = (10f64.ln() * (6.0 + 4.0 * i as f64 / 20000.0)).exp();
            (law(&p, n, c / (6.0 * n), u), n)
        })
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .unwrap();
    let n_opt = dc["n_opt"].as_f64().unwrap();
    assert!(
        (n_opt / brute.1 - 1.0).abs() < 2e-3,
        "{n_opt} vs {}",
        brute.1
    );
    assert!((dc["loss_pred"].as_f64().unwrap() - brute.0).abs() < 1e-9);
    assert!((dc["epochs"].as_f64().unwrap() - c / (6.0 * n_opt) / u).abs() < 1e-6);
    // the text says where the decays come from
    let text = scalelab(&[
        "plan",
        "--fit",
        out.to_str().unwrap(),
        "--flops",
        "3e18",
        "--unique-tokens",
        "2e9",
    ]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("(fitted)"));
}

#[test]
fn fit_on_top_of_a_base_and_the_published_constant_without_one() {
    let csv = runs_csv("runs-u.csv", "U");
    let base = tmpdir("dc").join("base.json");
    std::fs::write(
        &base,
        format!(
            r#"{{"schema": "scalelab.fit/1", "law": "chinchilla",
                "params": {{"E": {}, "A": {}, "B": {}, "alpha": {}, "beta": {}}}}}"#,
            TRUTH[0], TRUTH[1], TRUTH[2], TRUTH[3], TRUTH[4]
        ),
    )
    .unwrap();
    let fit = json_of(&scalelab(&[
        "fit",
        csv.to_str().unwrap(),
        "--law",
        "data-constrained",
        "--unique-col",
        "U",
        "--base",
        base.to_str().unwrap(),
        "--json",
        "--quiet",
    ]));
    // the base's parameters are carried as they are; only the decays moved
    assert_eq!(param(&fit, "A"), TRUTH[1]);
    assert_eq!(param(&fit, "beta"), TRUTH[4]);
    assert!(
        (param(&fit, "R_D_star") / TRUTH[5] - 1.0).abs() < 0.1,
        "{fit}"
    );
    assert_eq!(fit["starts"].as_u64().unwrap(), 25);
    assert!(fit["input"]["base_fit"]
        .as_str()
        .unwrap()
        .ends_with("base.json"));

    // a Chinchilla fit plans with the published R*_D
    let plan = json_of(&scalelab(&[
        "plan",
        "--fit",
        base.to_str().unwrap(),
        "--flops",
        "3e18",
        "--unique-tokens",
        "2e9",
        "--json",
    ]));
    let dc = &plan["plans"][0]["data_constrained"];
    assert_eq!(dc["r_star_source"], "published");
    assert_eq!(dc["r_star"].as_f64().unwrap(), 15.387756);
    assert!(dc.get("r_star_n").is_none());
}

#[test]
fn bad_input_names_the_flag() {
    let csv = runs_csv("runs-x.csv", "unique");
    let out = scalelab(&["fit", csv.to_str().unwrap(), "--law", "data-constrained"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("--unique-col") && err.contains("unique_tokens"),
        "{err}"
    );

    let out = scalelab(&[
        "fit",
        csv.to_str().unwrap(),
        "--base",
        csv.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("--base") && err.contains("--law data-constrained"),
        "{err}"
    );

    // a non-positive unique count is refused with its line
    let bad = tmpdir("dc").join("bad.csv");
    std::fs::write(
        &bad,
        "params,tokens,unique_tokens,loss\n1e7,1e9,1e8,3.1\n2e7,1e9,0,3.0\n",
    )
    .unwrap();
    let out = scalelab(&["fit", bad.to_str().unwrap(), "--law", "data-constrained"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains(":3"), "{err}");
    assert!(!err.contains("panicked"), "{err}");

    let help = scalelab(&["fit", "--help"]);
    let h = String::from_utf8_lossy(&help.stdout);
    assert!(h.contains("--unique-col") && h.contains("--base") && h.contains("data-constrained"));
}

#[test]
fn a_sweep_records_unique_tokens_and_epochs_for_the_fit() {
    let d = tmpdir("dc");
    let spec = d.join("repeat.toml");
    std::fs::write(
        &spec,
        "[train]\ndata = \"random\"\ncontext = 16\nbatch = 2\nthreads = 1\n\
         [[runs]]\nname = \"fresh\"\nn_layer = 1\nd_model = 16\nn_head = 1\ntokens = 640\n\
         [[runs]]\nname = \"rep\"\nn_layer = 1\nd_model = 16\nn_head = 1\ntokens = 640\nunique_tokens = 64\n",
    )
    .unwrap();
    let out = d.join("repeat-sweep");
    let run = scalelab(&[
        "sweep",
        spec.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let text = std::fs::read_to_string(out.join("runs.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let rows: Vec<Vec<String>> = lines
        .map(|l| l.split(',').map(String::from).collect())
        .collect();
    let row = |run: &str| rows.iter().find(|r| r[col("run")] == run).unwrap();
    let num = |r: &Vec<String>, c: &str| r[col(c)].parse::<f64>().unwrap();
    assert_eq!(num(row("fresh"), "unique_tokens"), 640.0);
    assert_eq!(num(row("fresh"), "epochs"), 1.0);
    assert_eq!(num(row("rep"), "unique_tokens"), 64.0);
    assert_eq!(num(row("rep"), "epochs"), 10.0);

    // and `train --unique-tokens` refuses less than one step's worth
    let bad = scalelab(&[
        "train",
        "--data",
        "random",
        "--n-layer",
        "1",
        "--d-model",
        "16",
        "--n-head",
        "1",
        "--context",
        "16",
        "--batch",
        "2",
        "--steps",
        "3",
        "--unique-tokens",
        "8",
    ]);
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        !bad.status.success() && err.contains("unique_tokens = 8"),
        "{err}"
    );
}
