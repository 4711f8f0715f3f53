//! The `--json` outputs of the commands that write files (eval, report,
//! plot, corpus tasks): one object on stdout, with the documented keys,
//! naming files that exist; and the spellings kept for compatibility
//! (`corpus tasks --n`, `corpus contamination -n`) and `isoflop --group-by`
//! with several columns.

use crate::util::*;

use serde_json::Value;
use std::path::{Path, PathBuf};

fn s(p: &Path) -> String {
    p.display().to_string()
}

#[test]
fn eval_json_names_the_files_and_counts_the_items() {
    let d = tmpdir("eval");
    let run = d.join("r0");
    run_ok(&[
        "train",
        "--data",
        "random",
        "--vocab",
        "256",
        "--context",
        "32",
        "--batch",
        "2",
        "--params",
        "1e3",
        "--steps",
        "2",
        "-o",
        &s(&run),
        "--quiet",
    ]);
    let out = d.join("evals");
    let v = json(&[
        "eval",
        &s(&run),
        "--tasks",
        "add:1,choice:1",
        "-n",
        "3",
        "-o",
        &s(&out),
        "--json",
        "--quiet",
    ]);
    assert_eq!(v["schema"], "scalelab.eval/1");
    assert_eq!(v["runs"], serde_json::json!(["r0"]));
    assert_eq!(v["tasks"], serde_json::json!(["add:1", "choice:1"]));
    assert_eq!(v["items"], 6, "3 items of each of 2 tasks");
    assert!(v["exact"].as_u64().unwrap() <= 6);
    assert!(v["seconds"].as_f64().unwrap() >= 0.0);
    assert!(v["warnings"].as_array().unwrap().is_empty());
    // the files it names are the ones written under -o
    let items = PathBuf::from(v["items_file"].as_str().unwrap());
    assert_eq!(items, out.join("items.jsonl"));
    assert_eq!(std::fs::read_to_string(&items).unwrap().lines().count(), 6);
    let table = PathBuf::from(v["table_file"].as_str().unwrap());
    assert_eq!(table, out.join("evals.csv"));
    assert!(std::fs::read_to_string(&table).unwrap().starts_with("run,"));
    // the rows are evals.csv's: every metric per run, task and difficulty
    let rows = v["rows"].as_array().unwrap();
    let em: Vec<&Value> = rows
        .iter()
        .filter(|r| r["metric"] == "exact_match")
        .collect();
    assert_eq!(em.len(), 2, "{rows:?}");
    for r in em {
        assert_eq!(r["run"], "r0");
        assert_eq!(r["n"], 3);
        let x = r["value"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&x));
    }
    // without --json: the table on stdout, not JSON
    let o = run_ok(&[
        "eval",
        &s(&run),
        "--tasks",
        "add:1",
        "-n",
        "2",
        "--out",
        &s(&out),
    ]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.starts_with("run "), "{text}");
    assert!(serde_json::from_str::<Value>(&text).is_err());
    let _ = std::fs::remove_dir_all(&d);
}

/// Runs of a Chinchilla law (E = 1.7, A = 400, α = 0.34, B = 410, β = 0.28)
/// over three budgets, as runs.csv.
fn runs_csv(d: &Path) -> PathBuf {
    let mut csv = String::from("params,tokens,flops,loss\n");
    for c in [1e15, 1e16, 1e17] {
        for k in -3..=3 {
            let n = (c / 120.0f64).sqrt() * 2f64.powf(k as f64 * 0.5);
            let t = c / (6.0 * n);
            let loss = 1.7 + 400.0 / n.powf(0.34) + 410.0 / t.powf(0.28);
            csv.push_str(&format!("{n},{t},{c},{loss}\n"));
        }
    }
    let p = d.join("runs.csv");
    std::fs::write(&p, csv).unwrap();
    p
}

#[test]
fn report_and_plot_json_describe_the_file_written() {
    let d = tmpdir("report");
    let runs = runs_csv(&d);
    let fit = d.join("fit.json");
    run_ok(&["fit", &s(&runs), "-o", &s(&fit), "--quiet"]);

    let page = d.join("page.html");
    let v = json(&["report", &s(&fit), &s(&runs), "-o", &s(&page), "--json"]);
    assert_eq!(v["schema"], "scalelab.report/1");
    assert_eq!(v["out"], s(&page));
    assert_eq!(v["inputs"], serde_json::json!([s(&fit), s(&runs)]));
    let bytes = std::fs::metadata(&page).unwrap().len();
    assert_eq!(v["bytes"].as_u64(), Some(bytes));
    let figures = v["figures"].as_u64().unwrap();
    assert!(figures >= 3, "{v}");
    let svgs = std::fs::read_to_string(&page)
        .unwrap()
        .matches("<svg")
        .count() as u64;
    assert!(svgs >= figures, "{svgs} figures drawn, {figures} reported");

    for (kind, file, format) in [
        ("loss-c", "loss.svg", "svg"),
        ("frontier-n", "front.png", "png"),
    ] {
        let out = d.join(file);
        let v = json(&["plot", kind, &s(&fit), &s(&runs), "-o", &s(&out), "--json"]);
        assert_eq!(v["schema"], "scalelab.plot/1");
        assert_eq!(v["kind"], kind);
        assert_eq!(v["out"], s(&out));
        assert_eq!(v["format"], format);
        assert_eq!(
            v["bytes"].as_u64(),
            Some(std::fs::metadata(&out).unwrap().len())
        );
    }
    // without --json, stdout stays empty (the line goes to stderr)
    let o = run_ok(&["plot", "loss-c", &s(&runs), "-o", &s(&d.join("x.svg"))]);
    assert!(o.stdout.is_empty());
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn corpus_tasks_json_and_the_old_spellings() {
    let d = tmpdir("tasks");
    let out = d.join("evals.jsonl");
    let v = json(&[
        "corpus",
        "tasks",
        "add:1-2",
        "needle:4-8",
        "-n",
        "5",
        "-o",
        &s(&out),
        "--json",
    ]);
    assert_eq!(v["schema"], "scalelab.tasks/1");
    assert_eq!(v["out"], s(&out));
    assert_eq!(v["items"], 10);
    assert_eq!(
        v["tasks"],
        serde_json::json!([{"spec": "add:1-2", "items": 5}, {"spec": "needle:4-8", "items": 5}])
    );
    assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), 10);

    // --json describes a file: without -o it is refused, naming the flag
    let o = scalelab(&["corpus", "tasks", "add:1", "--json"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--out"));

    // `--n` (the old spelling of --items) still works, to stdout
    let o = run_ok(&["corpus", "tasks", "add:1", "--n", "2"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 2);
    let o = run_ok(&["corpus", "tasks", "add:1", "--items", "3"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 3);

    // contamination: --ngram, and the old -n and --n, mean the same
    let train = d.join("train.jsonl");
    std::fs::write(&train, "{\"text\": \"what is 1+1? the answer is 2\"}\n").unwrap();
    let mut seen = Vec::new();
    for flag in ["--ngram", "-n", "--n"] {
        let v = json(&[
            "corpus",
            "contamination",
            &s(&out),
            &s(&train),
            flag,
            "3",
            "--json",
        ]);
        assert_eq!(v["n"], 3, "{flag}: {v}");
        seen.push(v);
    }
    assert_eq!(seen[0], seen[1]);
    assert_eq!(seen[0], seen[2]);
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn isoflop_group_by_takes_several_columns() {
    let csv = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../data/porian2024_isoflop/isoflop_points.csv");
    let csv = s(&csv);
    let common = [
        "--params-col",
        "n",
        "--tokens-col",
        "t",
        "--bootstrap",
        "0",
        "--json",
    ];
    let by_id = {
        let mut a = vec!["isoflop", csv.as_str(), "--group-by", "config_id"];
        a.extend(common);
        json(&a)
    };
    // config_id is these six columns joined by `|`
    let parts = "dataset,hparams,warmup,decay,param_count,loss_split";
    for spelling in [
        vec!["--group-by", parts],
        vec![
            "--group-by",
            "dataset,hparams,warmup",
            "--group-by",
            "decay",
            "--group-by",
            "param_count,loss_split",
        ],
    ] {
        let mut a = vec!["isoflop", csv.as_str()];
        a.extend(spelling);
        a.extend(common);
        let v = json(&a);
        assert_eq!(v["group_by"], parts);
        let groups = v["groups"].as_array().unwrap();
        let ids = by_id["groups"].as_array().unwrap();
        assert_eq!(groups.len(), ids.len());
        assert_eq!(groups.len(), 15);
        for g in groups {
            let id = g["group"].as_str().unwrap().replace(',', "|");
            let same = ids
                .iter()
                .find(|x| x["group"] == id.as_str())
                .unwrap_or_else(|| panic!("{id}"));
            assert_eq!(g["a"], same["a"], "{id}");
            assert_eq!(g["b"], same["b"], "{id}");
        }
    }
    // a column that is not there is refused, naming the flag
    let o = scalelab(&[
        "isoflop",
        &csv,
        "--group-by",
        "dataset,nope",
        "--bootstrap",
        "0",
    ]);
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("--group-by nope"), "{e}");
    assert!(!e.contains("panicked"), "{e}");
}
