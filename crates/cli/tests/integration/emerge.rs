//! `scalelab emerge` on the Pythia and OPT evaluations across scale, and on a
//! synthetic metric artefact (exact match = p^L of a smoothly improving
//! per-token probability, Schaeffer et al. 2023).

use crate::util::*;

use serde_json::Value;

fn shared(name: &str) -> Option<String> {
    Some(repo_file(&format!("data/pythia_evals/{name}")))
}

fn task<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["task"] == name)
        .unwrap_or_else(|| panic!("no task {name}"))
}

#[test]
fn pythia_final_checkpoints_every_task_gets_a_verdict() {
    let Some(csv) = shared("pythia_v1_zero_shot_tidy.csv") else {
        return;
    };
    let v = json(&[
        "emerge",
        &csv,
        "--scale-col",
        "params_nonembedding",
        "--where",
        "step == 143000 and deduped == 0",
        "--bootstrap",
        "200",
        "--json",
    ]);
    let tasks = v["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 8);
    for t in tasks {
        assert!(t["verdict"].is_string(), "{t}");
        assert_eq!(
            t["points"].as_array().unwrap().len(),
            8,
            "8 sizes for {}",
            t["task"]
        );
    }
    // LAMBADA: accuracy rises from ~0.3 to ~0.7 over 70M to 12B, with a
    // sigmoid midpoint inside the range, but slowly (several decades): not
    // an emergent jump; its perplexity follows a power law with offset
    let l = task(&v, "lambada_openai");
    let thr = l["discrete"]["threshold"].as_f64().unwrap();
    assert!(thr > 1e7 && thr < 1e10, "{thr}");
    let ci = l["discrete"]["threshold_ci95"].as_array().unwrap();
    assert!(ci[0].as_f64().unwrap() < thr && thr < ci[1].as_f64().unwrap());
    assert!(l["discrete"]["width_decades"].as_f64().unwrap() > 1.0);
    assert_eq!(l["verdict"], "smooth");
    assert!(l["continuous_power_law"]["rmse_log"].as_f64().unwrap() < 0.1);
    // LogiQA stays at chance
    assert_eq!(task(&v, "logiqa")["verdict"], "no_improvement");
    // and the same across checkpoints of one model (scale = tokens)
    let v = json(&[
        "emerge",
        &csv,
        "--scale-col",
        "tokens",
        "--where",
        "model == \"pythia-1.4b\" and step >= 1000",
        "--bootstrap",
        "50",
        "--json",
    ]);
    assert!(
        task(&v, "lambada_openai")["points"]
            .as_array()
            .unwrap()
            .len()
            >= 10
    );
}

#[test]
fn opt_and_bloom_are_analysed() {
    let Some(csv) = shared("opt_bloom_zero_shot_tidy.csv") else {
        return;
    };
    for fam in ["opt", "bloom"] {
        let v = json(&[
            "emerge",
            &csv,
            "--scale-col",
            "params_nominal",
            "--where",
            &format!("family == \"{fam}\""),
            "--bootstrap",
            "50",
            "--json",
        ]);
        assert_eq!(v["tasks"].as_array().unwrap().len(), 8, "{fam}");
    }
}

#[test]
fn exact_match_of_long_answers_is_a_metric_artefact() {
    // per-token cross-entropy falls as a smooth power law; exact match of a
    // 12-token answer is p^12 = exp(-12 CE): near zero, then a rise within
    // about 1.3 decades
    let dir = tmpdir("emerge");
    let mut csv = String::from("params,task,metric,value,stderr\n");
    for i in 0..14 {
        let n = 10f64.powf(5.5 + 0.25 * i as f64);
        let ce = 0.01 + 3e6 / n; // nats per token: a smooth power law
        let p = (-ce).exp();
        let em = p.powi(12);
        csv.push_str(&format!("{n},add5,acc,{em},0.01\n"));
        csv.push_str(&format!("{n},add5,ce,{ce},0.002\n"));
    }
    let f = dir.join("evals.csv");
    std::fs::write(&f, csv).unwrap();
    let v = json(&[
        "emerge",
        &f.display().to_string(),
        "--continuous",
        "ce",
        "--answer-length",
        "12",
        "--bootstrap",
        "100",
        "--json",
    ]);
    let t = task(&v, "add5");
    let best = t["discrete"]["best"].as_str().unwrap();
    assert!(best == "sigmoid" || best == "broken", "{t}");
    assert!(t["discrete_sharp"].as_bool().unwrap(), "{t}");
    assert_eq!(t["verdict"], "metric_artefact", "{}", t["verdict_text"]);
    assert!(
        t["p_l_gap"].as_f64().unwrap() < 1e-9,
        "exact match is p^L here"
    );
    // the text output names the verdict
    let o = scalelab(&[
        "emerge",
        &f.display().to_string(),
        "--continuous",
        "ce",
        "--bootstrap",
        "20",
    ]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("metric artefact likely"));
}

#[test]
fn bad_input_is_named() {
    let dir = tmpdir("emerge-bad");
    let f = dir.join("e.csv");
    std::fs::write(&f, "size,task,metric,value\n1e6,a,acc,0.1\n").unwrap();
    let o = scalelab(&["emerge", &f.display().to_string()]);
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("no column named 'params'") && e.contains("'size'"),
        "{e}"
    );
    let o = scalelab(&[
        "emerge",
        &f.display().to_string(),
        "--scale-col",
        "size",
        "--chance",
        "a:0.3",
    ]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("--chance a:0.3"));
    let o = scalelab(&[
        "emerge",
        &f.display().to_string(),
        "--scale-col",
        "size",
        "--discrete",
        "em",
        "--continuous",
        "lp",
    ]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("no rows with metric `em` or `lp`"));
}

#[test]
fn two_stage_prediction_through_the_scaling_law() {
    let dir = tmpdir("emerge-2s");
    // a metric that is a sigmoid of the loss, on runs with losses 3.6..2.3
    let acc = |l: f64| 1.0 / (1.0 + (5.0 * (l - 2.4)).exp());
    let mut runs = String::from("run,params,tokens,loss,status\n");
    let mut evals = String::from("run,params,task,metric,value,stderr\n");
    for i in 0..8 {
        let l = 3.6 - 0.17 * i as f64;
        let n = 1e7 * 2f64.powi(i);
        runs.push_str(&format!("r{i},{n},{},{l},done\n", 20.0 * n));
        evals.push_str(&format!("r{i},{n},qa,acc,{},0.01\n", acc(l)));
        evals.push_str(&format!("r{i},{n},qa,ce,{},0.01\n", l / 2.0));
    }
    let (rp, ep, fp) = (
        dir.join("runs.csv"),
        dir.join("evals.csv"),
        dir.join("fit.json"),
    );
    std::fs::write(&rp, runs).unwrap();
    std::fs::write(&ep, evals).unwrap();
    // Hoffmann et al.'s law, with three bootstrap draws around it
    let p = [1.69, 406.4, 410.7, 0.34, 0.28];
    let draws: Vec<Vec<f64>> = [0.98, 1.0, 1.02]
        .iter()
        .map(|s| vec![p[0] * s, p[1], p[2], p[3], p[4]])
        .collect();
    let fit = serde_json::json!({
        "schema": "scalelab.fit/1", "law": "chinchilla",
        "params": {"E": p[0], "A": p[1], "B": p[2], "alpha": p[3], "beta": p[4]},
        "bootstrap": {"n": 3, "draws": draws},
    });
    std::fs::write(&fp, fit.to_string()).unwrap();
    let v = json(&[
        "emerge",
        &ep.display().to_string(),
        "--continuous",
        "ce",
        "--runs",
        &rp.display().to_string(),
        "--fit",
        &fp.display().to_string(),
        "--predict-flops",
        "1e22",
        "--bootstrap",
        "60",
        "--json",
    ]);
    let t = &task(&v, "qa")["two_stage"];
    let loss = t["loss"].as_f64().unwrap();
    // the law's compute-optimal loss at 1e22 FLOPs
    assert!(loss > 1.9 && loss < 2.3, "{t}");
    let m = t["metric"].as_f64().unwrap();
    assert!((m - acc(loss)).abs() < 0.05, "{m} vs {}", acc(loss));
    let ci = t["metric_ci95"].as_array().unwrap();
    assert!(
        ci[0].as_f64().unwrap() <= m && m <= ci[1].as_f64().unwrap(),
        "{t}"
    );
    assert_eq!(t["runs"], 8);
    // --runs without --fit is refused by name
    let o = scalelab(&[
        "emerge",
        &ep.display().to_string(),
        "--runs",
        &rp.display().to_string(),
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--fit"));
}

#[test]
fn group_by_gives_each_difficulty_its_own_threshold() {
    // exact match rises at 10^(6 + k/2) parameters for k digits
    let dir = tmpdir("emerge-group");
    let mut csv = String::from("params,task,difficulty,metric,value,stderr\n");
    for k in 1..=3 {
        for i in 0..16 {
            let u = 5.0 + 0.25 * i as f64;
            let em = 1.0 / (1.0 + (-6.0 * (u - (6.0 + 0.5 * k as f64))).exp());
            csv.push_str(&format!("{},add,{k},acc,{em},0.01\n", 10f64.powf(u)));
        }
    }
    let f = dir.join("evals.csv");
    std::fs::write(&f, csv).unwrap();
    let f = f.display().to_string();
    let v = json(&[
        "emerge",
        &f,
        "--group-by",
        "difficulty",
        "--bootstrap",
        "50",
        "--json",
    ]);
    for k in 1..=3 {
        let t = task(&v, &format!("add [difficulty={k}]"));
        assert_eq!(t["task_name"], "add");
        assert_eq!(t["group"]["difficulty"], k.to_string());
        let thr = t["discrete"]["threshold"].as_f64().unwrap().log10();
        assert!(
            (thr - (6.0 + 0.5 * k as f64)).abs() < 0.05,
            "k={k}: 10^{thr}"
        );
    }
    // a column that is not there is named with its flag
    let o = scalelab(&["emerge", &f, "--group-by", "depth"]);
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("--group-by depth") && e.contains("difficulty"),
        "{e}"
    );
}

#[test]
fn unknown_metrics_and_impossible_values_are_refused() {
    let dir = tmpdir("emerge-refuse");
    let table = |name: &str, rows: &[&str]| {
        let f = dir.join(name);
        let mut t = String::from("params,task,metric,value,stderr\n");
        for r in rows {
            t.push_str(r);
            t.push('\n');
        }
        std::fs::write(&f, t).unwrap();
        f.display().to_string()
    };
    let good: Vec<String> = (0..6)
        .flat_map(|i| {
            let n = 10f64.powi(6 + i);
            [
                format!("{n},qa,acc,{},0.01", 0.1 * f64::from(i)),
                format!("{n},qa,ce,{},0.01", 3.0 - 0.3 * f64::from(i)),
            ]
        })
        .collect();
    let good: Vec<&str> = good.iter().map(String::as_str).collect();
    let f = table("good.csv", &good);
    let fails = |args: &[&str], needles: &[&str]| {
        let o = scalelab(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let e = String::from_utf8_lossy(&o.stderr);
        for n in needles {
            assert!(e.contains(n), "{args:?}: stderr lacks {n:?}:\n{e}");
        }
        assert!(!e.contains("panicked"), "{e}");
    };
    // misspelt metrics: an error listing the metrics there are
    fails(
        &["emerge", &f, "--discrete", "accc", "--continuous", "ce"],
        &["--discrete accc", "`acc`, `ce`"],
    );
    fails(
        &["emerge", &f, "--continuous", "cee"],
        &["--continuous cee", "`acc`, `ce`", "--continuous none"],
    );
    // the default continuous metric (ppl) is not in this table either
    fails(&["emerge", &f], &["--continuous ppl", "`acc`, `ce`"]);
    // a scale column that does not exist
    fails(
        &["emerge", &f, "--continuous", "ce", "--scale-col", "size"],
        &["--scale-col size", "'params'"],
    );
    // ... while the right names, or `none`, analyse
    for cont in ["ce", "none"] {
        let o = scalelab(&[
            "emerge",
            &f,
            "--continuous",
            cont,
            "--bootstrap",
            "10",
            "--json",
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    // impossible values, with the file and line
    let mut bad = good.clone();
    bad[4] = "0,qa,acc,0.2,0.01";
    let f = table("scale.csv", &bad);
    fails(
        &["emerge", &f, "--continuous", "ce"],
        &[&format!("{f}:6:1"), "must be positive"],
    );
    let mut bad = good.clone();
    bad[2] = "1e7,qa,acc,37.5,0.01";
    let f = table("percent.csv", &bad);
    fails(
        &["emerge", &f, "--continuous", "ce"],
        &[&format!("{f}:4:4"), "[0, 1]", "37.5"],
    );
    let mut bad = good.clone();
    bad[3] = "1e7,qa,ce,2.7,-0.01";
    let f = table("stderr.csv", &bad);
    fails(
        &["emerge", &f, "--continuous", "ce"],
        &[&format!("{f}:5:5"), "must not be negative"],
    );
    let _ = std::fs::remove_dir_all(&dir);
}
