//! `scalelab plan` end to end: the Epoch Chinchilla fit, the closed form
//! against an independent brute-force search, intervals from bootstrap draws,
//! the inverse questions, the GPT FLOP calculator and bad input.

use crate::util::*;

// Besiroglu et al. (2024, Epoch AI) refit of Hoffmann et al.'s Approach 3.
const E: f64 = 1.8172185988887535;
const A: f64 = 477.8272758487169;
const B: f64 = 2143.4045962972104;
const ALPHA: f64 = 0.34731073691009107;
const BETA: f64 = 0.3671721277902221;

fn epoch_fit(draws: Option<&[[f64; 5]]>) -> String {
    let boot = match draws {
        Some(d) => format!(
            r#", "bootstrap": {{"n": {}, "seed": 0, "draws": {}}}"#,
            d.len(),
            serde_json::to_string(d).unwrap()
        ),
        None => String::new(),
    };
    format!(
        r#"{{"schema": "scalelab.fit/1", "law": "chinchilla", "formula": "L = E + A/N^alpha + B/D^beta",
            "param_names": ["E","A","B","alpha","beta"],
            "params": {{"E": {E:?}, "A": {A:?}, "B": {B:?}, "alpha": {ALPHA:?}, "beta": {BETA:?}}}{boot}}}"#
    )
}

fn loss(n: f64, d: f64) -> f64 {
    E + A / n.powf(ALPHA) + B / d.powf(BETA)
}

/// Independent brute force: scan ln N on a grid, then refine the bracket.
fn brute_force_n(c: f64) -> f64 {
    let f = |ln_n: f64| {
        let n = ln_n.exp();
        loss(n, c / (6.0 * n))
    };
    let (mut lo, mut hi) = (1.0_f64.ln(), (c / 6.0).ln());
    for _ in 0..60 {
        let k = 200;
        let xs: Vec<f64> = (0..=k)
            .map(|i| lo + (hi - lo) * i as f64 / k as f64)
            .collect();
        let best = (0..=k)
            .min_by(|&i, &j| f(xs[i]).total_cmp(&f(xs[j])))
            .unwrap();
        lo = xs[best.saturating_sub(1)];
        hi = xs[(best + 1).min(k)];
    }
    (0.5 * (lo + hi)).exp()
}

#[test]
fn epoch_fit_closed_form_matches_references_and_brute_force() {
    let fit = tmp_file("epoch.json", &epoch_fit(None));
    let out = scalelab(&[
        "plan",
        "--fit",
        fit.to_str().unwrap(),
        "--flops",
        "1e21,1e22,1e23,1e24,1e25",
        "--json",
    ]);
    let v = json_of(&out);
    assert_eq!(v["method"], "closed-form");
    assert_eq!(v["convention"], "6n");
    let plans = v["plans"].as_array().unwrap();
    assert_eq!(plans.len(), 5);
    // Reference N_opt and D_opt at 1e21 to 1e-9 relative.
    let n = plans[0]["n_opt"].as_f64().unwrap();
    let d = plans[0]["d_opt"].as_f64().unwrap();
    assert!((n / 2791728377.5169063 - 1.0).abs() < 1e-9, "N_opt {n}");
    assert!((d / 59700172842.35502 - 1.0).abs() < 1e-9, "D_opt {d}");
    // scipy reference tokens per parameter (4 decimals).
    let reference = [21.3847, 20.0588, 18.8151, 17.6485, 16.5542];
    for (p, r) in plans.iter().zip(reference) {
        let c = p["flops"].as_f64().unwrap();
        let tpp = p["tokens_per_param"].as_f64().unwrap();
        assert!(
            (tpp - r).abs() < 1e-3,
            "tokens/param at {c:e}: {tpp} vs {r}"
        );
        let n = p["n_opt"].as_f64().unwrap();
        let d = p["d_opt"].as_f64().unwrap();
        assert!((6.0 * n * d / c - 1.0).abs() < 1e-12);
        assert!((p["loss_pred"].as_f64().unwrap() - loss(n, d)).abs() < 1e-12);
        // The closed form against an independent brute-force minimisation.
        let bf = brute_force_n(c);
        assert!(
            (bf / n - 1.0).abs() < 1e-6,
            "brute force {bf} vs {n} at {c:e}"
        );
        // …and against the tool's own numerical path.
        assert!(p["numerical_rel_diff"].as_f64().unwrap() < 1e-8, "{p}");
        assert!(p.get("ci95").is_none(), "no draws, no intervals");
    }
}

#[test]
fn numerical_convention_plans_agree_with_closed_form_under_6n() {
    // The Hoffmann convention costs more per token, so fewer tokens fit a
    // budget: D_opt must drop and the table must say which convention.
    let fit = tmp_file("epoch_conv.json", &epoch_fit(None));
    let f = fit.to_str().unwrap();
    let v = json_of(&scalelab(&[
        "plan",
        "--fit",
        f,
        "--flops",
        "1e22",
        "--compare-conventions",
        "--json",
    ]));
    let conv = &v["plans"][0]["conventions"];
    let six = conv["6n"]["n_opt"].as_f64().unwrap();
    assert!((six / v["plans"][0]["n_opt"].as_f64().unwrap() - 1.0).abs() < 1e-8);
    for name in ["kaplan", "hoffmann", "exact"] {
        let dr = conv[name]["d_ratio"].as_f64().unwrap();
        assert!(dr < 1.0 && dr > 0.5, "{name}: D ratio {dr}");
    }
    let text = scalelab(&[
        "plan",
        "--fit",
        f,
        "--flops",
        "1e22",
        "--convention",
        "hoffmann",
    ]);
    let s = String::from_utf8_lossy(&text.stdout);
    assert!(
        s.contains("convention hoffmann") && s.contains("numerical"),
        "{s}"
    );
}

#[test]
fn bootstrap_draws_give_intervals() {
    // Draws spread around the Epoch fit.
    let draws: Vec<[f64; 5]> = (0..50)
        .map(|i| {
            let u = (i as f64 / 49.0) - 0.5;
            [
                E + 0.02 * u,
                A * (1.0 + 0.1 * u),
                B * (1.0 - 0.1 * u),
                ALPHA + 0.01 * u,
                BETA - 0.01 * u,
            ]
        })
        .collect();
    let fit = tmp_file("epoch_boot.json", &epoch_fit(Some(&draws)));
    let v = json_of(&scalelab(&[
        "plan",
        "--fit",
        fit.to_str().unwrap(),
        "--flops",
        "1e23",
        "--loss-at",
        "7e10:1.4e12",
        "--json",
    ]));
    let p = &v["plans"][0];
    for k in ["n_opt", "d_opt", "tokens_per_param", "loss_pred"] {
        let ci = p["ci95"][k]
            .as_array()
            .unwrap_or_else(|| panic!("ci95.{k} missing: {p}"));
        let (lo, hi) = (ci[0].as_f64().unwrap(), ci[1].as_f64().unwrap());
        assert!(lo < hi, "{k}: {lo} {hi}");
        assert!(lo <= p[k].as_f64().unwrap() * 1.05 && hi >= p[k].as_f64().unwrap() * 0.95);
    }
    let pt = &v["points"][0];
    assert!((pt["loss_pred"].as_f64().unwrap() - loss(7e10, 1.4e12)).abs() < 1e-12);
    assert!(pt["ci95"]["loss_pred"].as_array().is_some());
}

#[test]
fn budget_for_target_loss_inverts_the_plan() {
    let fit = tmp_file("epoch_inv.json", &epoch_fit(None));
    let f = fit.to_str().unwrap();
    let v = json_of(&scalelab(&[
        "plan", "--fit", f, "--flops", "3e22", "--json",
    ]));
    let l = v["plans"][0]["loss_pred"].as_f64().unwrap();
    let w = json_of(&scalelab(&[
        "plan",
        "--fit",
        f,
        "--target-loss",
        &format!("{l}"),
        "--inference-tokens",
        "1e13",
        "--json",
    ]));
    let t = &w["targets"][0];
    let c = t["flops"].as_f64().unwrap();
    assert!((c / 3e22 - 1.0).abs() < 1e-9, "{c}");
    // Serving many tokens favours a smaller model trained longer, at lower
    // total compute than the compute-optimal model.
    let inf = &t["inference_aware"];
    assert!(inf["n"].as_f64().unwrap() < t["n_opt"].as_f64().unwrap());
    assert!(
        inf["total_flops"].as_f64().unwrap()
            < inf["total_flops_at_compute_optimal"].as_f64().unwrap()
    );
    // Below the irreducible loss: a clear error.
    let out = scalelab(&["plan", "--fit", f, "--target-loss", "1.5"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--target-loss 1.5") && err.contains("not reachable"),
        "{err}"
    );
}

#[test]
fn gpt_calculator_matches_hand_counts() {
    // GPT-2 small: 12 layers, width 768, 12 heads, ff 3072, context 1024,
    // vocab 50257, tied head.
    //   per layer 4·768² + 2·768·3072 + 9·768 + 3072 = 7,087,872
    //   non-embedding 12·7,087,872 + 2·768 = 85,056,000
    //   embedding 50257·768 + 1024·768 = 39,383,808
    //   Kaplan: N_K = 2·768·12·(2·768 + 3072) = 84,934,656,
    //     3·(2·N_K + 2·12·1024·768) = 566,231,040
    //   Hoffmann: 3·(4·50257·768 + 12·(8·768² + 4·768·3072 + 4·1024·768
    //     + 3·12·1024)) = 3·362,449,920 = 1,087,349,760
    //   exact: 3·(2·(12·(4·768² + 2·768·3072) + 50257·768) + 4·12·1024·768)
    //     = 854,438,400
    let v = json_of(&scalelab(&[
        "plan",
        "--gpt",
        "layers=12,width=768,heads=12,context=1024,vocab=50257,tokens=1e9",
        "--json",
    ]));
    let g = &v["gpt"];
    assert_eq!(g["params_non_embedding"], 85_056_000u64);
    assert_eq!(g["params_embedding"], 39_383_808u64);
    assert_eq!(g["params_total"], 124_439_808u64);
    let f = &g["flops_per_token"];
    assert_eq!(f["six_n"].as_f64().unwrap(), 6.0 * 85_056_000.0);
    assert_eq!(f["kaplan"].as_f64().unwrap(), 566_231_040.0);
    assert_eq!(f["hoffmann"].as_f64().unwrap(), 1_087_349_760.0);
    assert_eq!(f["exact"].as_f64().unwrap(), 854_438_400.0);
    assert_eq!(
        g["training_flops"]["exact"].as_f64().unwrap(),
        854_438_400.0 * 1e9
    );

    // A tiny model with an untied head: 2 layers, width 8, 2 heads, ff 32,
    // context 4, vocab 10.
    //   per layer 4·64 + 2·8·32 + 9·8 + 32 = 872; non-embedding
    //   2·872 + 16 (final norm) + 80 (untied head) = 1,840
    //   Kaplan 3·(2·(2·8·2·(16 + 32)) + 2·2·4·8) = 3·3,200 = 9,600
    //   Hoffmann 3·(4·10·8 + 2·(8·64 + 4·8·32 + 4·4·8 + 3·2·4)) = 3·3,696 = 11,088
    //   exact 3·(2·(2·(4·64 + 2·8·32) + 10·8) + 4·2·4·8) = 3·3,488 = 10,464
    let v = json_of(&scalelab(&[
        "plan",
        "--gpt",
        "layers=2,width=8,heads=2,ff=32,context=4,vocab=10,untied=1",
        "--json",
    ]));
    let g = &v["gpt"];
    assert_eq!(g["params_non_embedding"], 1_840u64);
    let f = &g["flops_per_token"];
    assert_eq!(f["six_n"].as_f64().unwrap(), 11_040.0);
    assert_eq!(f["kaplan"].as_f64().unwrap(), 9_600.0);
    assert_eq!(f["hoffmann"].as_f64().unwrap(), 11_088.0);
    assert_eq!(f["exact"].as_f64().unwrap(), 10_464.0);
}

#[test]
fn hardware_translation_reports_time_and_memory() {
    let fit = tmp_file("epoch_hw.json", &epoch_fit(None));
    let v = json_of(&scalelab(&[
        "plan",
        "--fit",
        fit.to_str().unwrap(),
        "--flops",
        "1e23",
        "--accelerator",
        "H100",
        "--count",
        "512",
        "--mfu",
        "0.5",
        "--json",
    ]));
    let h = &v["plans"][0]["hardware"];
    let secs = h["seconds"].as_f64().unwrap();
    assert!((secs - 1e23 / (512.0 * 989e12 * 0.5)).abs() < 1e-6 * secs);
    assert!((h["accelerator_hours"].as_f64().unwrap() - secs * 512.0 / 3600.0).abs() < 1e-6 * secs);
    let states = h["memory"]["states"].as_f64().unwrap();
    assert!((states / (16.0 * h["params_total"].as_f64().unwrap()) - 1.0).abs() < 1e-12);
    assert!(h["min_accelerators"].as_u64().unwrap() >= (states / 80e9).ceil() as u64);
}

#[test]
fn help_teaches_with_examples() {
    for cmd in ["plan", "isoflop", "design"] {
        let out = scalelab(&[cmd, "--help"]);
        assert!(out.status.success());
        let s = String::from_utf8_lossy(&out.stdout);
        assert!(
            s.contains("Examples:") && s.contains(&format!("scalelab {cmd} ")),
            "{s}"
        );
        assert!(
            s.contains("Example: `--"),
            "{cmd}: flags without examples\n{s}"
        );
    }
}

#[test]
fn bad_input_gives_clear_errors() {
    let run = |args: &[&str]| {
        let out = scalelab(args);
        assert_eq!(out.status.code(), Some(2), "{args:?} should fail");
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    let fit = tmp_file("epoch_bad.json", &epoch_fit(None));
    let f = fit.to_str().unwrap();
    let e = run(&["plan", "--fit", f, "--flops", "-1e21"]);
    assert!(e.contains("--flops") && e.contains("positive"), "{e}");
    let e = run(&["plan", "--fit", f, "--flops", "lots"]);
    assert!(e.contains("--flops") && e.contains("not a number"), "{e}");
    // A fit of a law without a trade-off.
    let power = tmp_file(
        "power.json",
        r#"{"schema": "scalelab.fit/1", "law": "power-n", "params": {"E": 1.7, "A": 400.0, "alpha": 0.34}}"#,
    );
    let e = run(&["plan", "--fit", power.to_str().unwrap(), "--flops", "1e21"]);
    assert!(
        e.contains("power-n") && e.contains("does not depend on both"),
        "{e}"
    );
    // Another file altogether.
    let other = tmp_file(
        "other.json",
        r#"{"schema": "scalelab.sweep/1", "runs": []}"#,
    );
    let e = run(&["plan", "--fit", other.to_str().unwrap(), "--flops", "1e21"]);
    assert!(
        e.contains("scalelab.sweep/1") && e.contains("scalelab.fit/1"),
        "{e}"
    );
    // Missing parameter.
    let missing = tmp_file(
        "missing.json",
        r#"{"schema": "scalelab.fit/1", "law": "chinchilla", "params": {"E": 1.7, "A": 400.0}}"#,
    );
    let e = run(&[
        "plan",
        "--fit",
        missing.to_str().unwrap(),
        "--flops",
        "1e21",
    ]);
    assert!(e.contains("params.B"), "{e}");
    let e = run(&["plan", "--fit", "/nonexistent/fit.json", "--flops", "1e21"]);
    assert!(e.contains("cannot read fit file"), "{e}");
    let e = run(&["plan", "--gpt", "layers=2,width=10,heads=3"]);
    assert!(e.contains("n_head = 3 does not divide d_model = 10"), "{e}");
    let e = run(&[
        "plan",
        "--fit",
        f,
        "--flops",
        "1e21",
        "--accelerator",
        "Z80",
    ]);
    assert!(e.contains("--accelerator") && e.contains("H100"), "{e}");
    let e = run(&["plan"]);
    assert!(e.contains("nothing to do"), "{e}");
}

/// A fit file as `scalelab fit` writes it now: the data range of the runs
/// fitted and the fit's own warnings.
fn fit_with_range(a: f64, b: f64, alpha: f64, beta: f64, largest: f64) -> String {
    format!(
        r#"{{"schema": "scalelab.fit/1", "law": "chinchilla",
            "params": {{"E": 1.8, "A": {a:?}, "B": {b:?}, "alpha": {alpha:?}, "beta": {beta:?}}},
            "warnings": ["alpha and A are not separately identifiable (correlation 0.99)"],
            "input": {{"path": "runs.csv", "range": {{"flops": [1e15, {largest:?}]}}}}}}"#
    )
}

#[test]
fn a_plan_beyond_the_fit_says_how_many_decades() {
    let fit = tmp_file("ranged.json", &fit_with_range(A, B, ALPHA, BETA, 1e17));
    let fit = fit.to_str().unwrap();
    // 3e19 is log10(300) = 2.48 decades beyond 1e17
    let v = json_of(&scalelab(&[
        "plan", "--fit", fit, "--flops", "3e19", "--json",
    ]));
    let warnings: Vec<String> = v["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap().to_string())
        .collect();
    assert!(
        warnings.iter().any(|w| w.contains("2.5 decades")),
        "{warnings:?}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("not separately identifiable")),
        "{warnings:?}"
    );
    // the text says so too
    let out = scalelab(&["plan", "--fit", fit, "--flops", "3e19"]);
    assert!(out.status.success());
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("2.5 decades"), "{text}");
    assert!(text.contains("not separately identifiable"), "{text}");
    // within the range: no extrapolation warning
    let v = json_of(&scalelab(&[
        "plan", "--fit", fit, "--flops", "1e16", "--json",
    ]));
    assert!(!v["warnings"].to_string().contains("decades"), "{v}");
}

#[test]
fn a_small_tokens_per_param_keeps_its_digits() {
    // alpha = beta: D/N = (B/A)^(2/(alpha+beta)) = 0.03 at every budget
    let (alpha, beta) = (0.35f64, 0.35f64);
    let b = 1000.0;
    let a = b / 0.03f64.powf((alpha + beta) / 2.0);
    let fit = tmp_file("tpp.json", &fit_with_range(a, b, alpha, beta, 1e20));
    let fit = fit.to_str().unwrap();
    let v = json_of(&scalelab(&[
        "plan", "--fit", fit, "--flops", "1e18", "--json",
    ]));
    let tpp = v["plans"][0]["tokens_per_param"].as_f64().unwrap();
    assert!((tpp - 0.03).abs() < 1e-6, "{tpp}");
    let out = scalelab(&["plan", "--fit", fit, "--flops", "1e18"]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{text}");
    let row = text
        .lines()
        .find(|l| l.trim_start().starts_with("1.00e18"))
        .unwrap_or_else(|| panic!("no plan row in {text}"));
    assert!(row.contains(" 0.03"), "{row}");
    assert!(!row.contains(" 0.0 "), "{row}");
    // a small run on a big machine: minutes, not "0.00 days"
    let out = scalelab(&[
        "plan",
        "--fit",
        fit,
        "--flops",
        "1e18",
        "--accelerator",
        "H100",
    ]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{text}");
    let hw = text.lines().find(|l| l.contains("days")).unwrap();
    assert!(
        !hw.contains(" 0.00 days") && !hw.contains(" 0 days"),
        "{hw}"
    );
}

#[test]
fn prediction_intervals_contain_confidence_intervals() {
    let draws: Vec<[f64; 5]> = (0..50)
        .map(|i| {
            let u = (i as f64 / 49.0) - 0.5;
            [
                E + 0.02 * u,
                A * (1.0 + 0.1 * u),
                B * (1.0 - 0.1 * u),
                ALPHA + 0.01 * u,
                BETA - 0.01 * u,
            ]
        })
        .collect();
    let text = epoch_fit(Some(&draws));
    let with_scatter = format!(
        "{}, \"residuals\": {{\"rmse\": 0.03, \"scatter\": 0.012}}}}",
        text.trim_end().strip_suffix('}').unwrap()
    );
    let fit = tmp_file("epoch_scatter.json", &with_scatter);
    let args = [
        "plan",
        "--fit",
        fit.to_str().unwrap(),
        "--flops",
        "1e23",
        "--loss-at",
        "7e10:1.4e12",
    ];
    let mut json_args = args.to_vec();
    json_args.push("--json");
    let v = json_of(&scalelab(&json_args));
    for p in [&v["plans"][0], &v["points"][0]] {
        let ci = p["loss_ci95"].as_array().unwrap_or_else(|| panic!("{p}"));
        let pi = p["loss_pi95"].as_array().unwrap_or_else(|| panic!("{p}"));
        let (c0, c1) = (ci[0].as_f64().unwrap(), ci[1].as_f64().unwrap());
        let (p0, p1) = (pi[0].as_f64().unwrap(), pi[1].as_f64().unwrap());
        assert!(p0 < c0 && c1 < p1, "PI {pi:?} must contain CI {ci:?}");
        let l = p["loss_pred"].as_f64().unwrap();
        // the scatter alone is ±1.96·0.012 on the log scale
        assert!(p1 / l >= (1.96f64 * 0.012).exp() - 1e-9, "{p}");
        // the existing key is unchanged
        assert_eq!(p["ci95"]["loss_pred"], p["loss_ci95"]);
    }
    let out = scalelab(&args);
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.contains("95% confidence interval (law)"), "{s}");
    assert!(s.contains("95% prediction interval (a run)"), "{s}");

    // A fit file without scatter uses its rmse; without either, no PI.
    let rmse_only = with_scatter.replace(", \"scatter\": 0.012", "");
    let fit = tmp_file("epoch_rmse.json", &rmse_only);
    let v = json_of(&scalelab(&[
        "plan",
        "--fit",
        fit.to_str().unwrap(),
        "--loss-at",
        "7e10:1.4e12",
        "--json",
    ]));
    let pi = v["points"][0]["loss_pi95"].as_array().unwrap();
    let l = v["points"][0]["loss_pred"].as_f64().unwrap();
    assert!(pi[1].as_f64().unwrap() / l >= (1.96f64 * 0.03).exp() - 1e-9);
    let fit = tmp_file("epoch_plain.json", &text);
    let v = json_of(&scalelab(&[
        "plan",
        "--fit",
        fit.to_str().unwrap(),
        "--loss-at",
        "7e10:1.4e12",
        "--json",
    ]));
    assert!(
        v["points"][0].get("loss_pi95").is_none(),
        "{}",
        v["points"][0]
    );
}
