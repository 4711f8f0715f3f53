//! Every size a command takes is checked against a sane bound before any
//! work starts: an absurd value is refused at once, with a non-zero exit, a
//! message naming the flag (or the file and line of a sweep key) and the
//! bound, and never a panic, a hang or unbounded memory.

use crate::util::*;

use std::time::{Duration, Instant};

/// Runs `args`, which must fail quickly with every needle in stderr.
fn refused(args: &[&str], needles: &[&str]) {
    let t0 = Instant::now();
    let o = scalelab(args);
    let took = t0.elapsed();
    let e = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!o.status.success(), "{args:?} succeeded:\n{e}");
    for n in needles {
        assert!(e.contains(n), "{args:?}: stderr lacks {n:?}:\n{e}");
    }
    assert!(!e.contains("panicked"), "{args:?}:\n{e}");
    assert!(took < Duration::from_secs(5), "{args:?} took {took:?}");
}

const TRAIN: &[&str] = &[
    "train",
    "--data",
    "random",
    "--vocab",
    "64",
    "--context",
    "8",
    "--batch",
    "2",
    "--quiet",
];

fn train(extra: &[&str]) -> Vec<String> {
    TRAIN.iter().chain(extra).map(|s| s.to_string()).collect()
}

fn refused_train(extra: &[&str], needles: &[&str]) {
    let args = train(extra);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    refused(&args, needles);
}

/// A sweep file of one run given `run`'s keys, checked with `--dry-run`.
fn refused_sweep(tag: &str, run: &str, needles: &[&str]) {
    refused_sweep_file(tag, &format!("[[runs]]\n{run}"), needles);
}

/// A sweep file with `body` after its `[train]`, checked with `--dry-run`.
fn refused_sweep_file(tag: &str, body: &str, needles: &[&str]) {
    let d = tmpdir(tag);
    let file = d.join("sweep.toml");
    std::fs::write(
        &file,
        format!(
            "name = \"bounds\"
[train]
data = \"synth\"
context = 32
batch = 8
{body}
"
        ),
    )
    .unwrap();
    let out = d.join("out");
    refused(
        &[
            "sweep",
            &file.display().to_string(),
            "--out",
            &out.display().to_string(),
            "--dry-run",
        ],
        needles,
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn train_refuses_params_beyond_the_shape_rule() {
    refused_train(&["--params", "2e19", "--steps", "1"], &["--params", "1e13"]);
    refused_train(
        &["--params", "1e300", "--steps", "1"],
        &["--params", "1e13"],
    );
}

#[test]
fn sweep_refuses_params_beyond_the_shape_rule_in_a_dry_run() {
    refused_sweep(
        "params",
        "params = 1e20\ntokens = 1e6",
        &["sweep.toml:", "params", "1e13"],
    );
}

#[test]
fn train_refuses_absurd_tokens_and_steps() {
    refused_train(
        &["--params", "1e4", "--tokens", "1e30"],
        &["--tokens", "1e15"],
    );
    refused_train(
        &["--params", "1e4", "--steps", "18446744073709551615"],
        &["--steps", "1000000000000"],
    );
}

#[test]
fn sweep_refuses_absurd_tokens_in_a_dry_run() {
    refused_sweep(
        "tokens",
        "params = 1e4\ntokens = 1e30",
        &["sweep.toml:", "tokens", "1e15"],
    );
}

#[test]
fn threads_are_bounded_on_every_command() {
    refused_train(
        &["--params", "1e4", "--steps", "1", "--threads", "100000"],
        &["--threads", "at most"],
    );
    refused(
        &["fit", "nonexistent.csv", "--threads", "100000"],
        &["--threads", "at most"],
    );
    let d = tmpdir("eval");
    refused(
        &[
            "eval",
            &d.display().to_string(),
            "--tasks",
            "copy",
            "--threads",
            "100000",
        ],
        &["--threads", "at most"],
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn design_refuses_absurd_budgets() {
    refused(
        &["design", "--pilot-flops", "1e50"],
        &["--pilot-flops", "1e30"],
    );
    refused(
        &["design", "--pilot-flops", "1e17", "--budgets", "1000000000"],
        &["--budgets", "1000"],
    );
    refused(
        &["design", "--pilot-flops", "1e17", "--sizes", "1000000000"],
        &["--sizes", "1000"],
    );
    refused_sweep_file(
        "design",
        "[design]\ntotal_flops = 1e50",
        &["sweep.toml:", "[design]", "1e30"],
    );
}

/// A Chinchilla fit whose A and B are 1e300, so the fitted law predicts
/// infinite losses: the figures' axes once got infinite ranges, and the tick
/// loops overflowed (a panic) or added ticks without end (unbounded memory).
const HUGE_FIT: &str = r#"{"schema": "scalelab.fit/1", "law": "chinchilla", "formula": "L = E + A / N^alpha + B / D^beta", "method": "varpro", "loss_function": {"kind": "huber", "delta": 0.001, "reduction": "sum"}, "params": {"E": 1.8913384986023443, "A": 1e+300, "B": 1e+300, "alpha": 0.34931289350617933, "beta": 0.4530492950355057}, "derived": {"a": 0.5646443732087314, "b": 0.43535562679126866}, "objective": 0.001826010523069332, "n_points": 6, "starts": 16, "starts_at_best": 16, "converged": true, "termination": "Stalled", "iterations": 45, "evaluations": 925, "starts_not_converged": 0, "residuals": {"scale": "ln L - ln L_hat", "rmse": 0.023827589971874983, "mean": 0.002377982445507283, "median_abs": 0.0038214149800426256, "max_abs": 0.2634735149179128, "max_abs_line": 3}, "warnings": [], "notes": [], "input": {"path": "runs.csv", "rows_read": 6, "rows_used": 6, "where": [], "columns": {"params": "params", "tokens": "tokens", "flops": "flops", "loss": "loss"}, "range": {"params": [57334197.40687078, 16183346310.730501], "tokens": [245105957.9245427, 317754489343.9688], "flops": [1.3972367362937152e+18, 1.2956022673438285e+22]}}, "timing": {"fit_s": 0.1, "bootstrap_s": 0.0}, "version": "scalelab 0.1.0"}"#;

const RUNS: &str = "params,tokens,flops,loss
1e6,2e7,1.2e14,4.1
1e6,8e7,4.8e14,3.9
4e6,2e7,4.8e14,3.8
4e6,8e7,1.92e15,3.5
1.6e7,2e7,1.92e15,3.6
1.6e7,8e7,7.68e15,3.2
";

#[test]
fn report_and_plot_of_a_fit_predicting_infinities_stay_bounded() {
    let d = tmpdir("huge-fit");
    std::fs::write(d.join("runs.csv"), RUNS).unwrap();
    let fit = d.join("fit.json");
    // the fit names its table; the report reads it from there
    let table = serde_json::to_string(&d.join("runs.csv").display().to_string()).unwrap();
    std::fs::write(&fit, HUGE_FIT.replace("\"runs.csv\"", &table)).unwrap();
    let fit = fit.display().to_string();
    let page = d.join("report.html").display().to_string();
    let runs = d.join("runs.csv").display().to_string();
    let svg = d.join("iso.svg").display().to_string();
    for args in [
        vec!["report", fit.as_str(), "-o", page.as_str()],
        vec!["plot", "isoflop-n", &fit, &runs, "-o", &svg],
        vec!["plot", "frontier-d", &fit, &runs, "-o", &svg],
    ] {
        let t0 = Instant::now();
        let o = scalelab(&args);
        let e = String::from_utf8_lossy(&o.stderr).into_owned();
        assert!(o.status.success(), "{args:?}:\n{e}");
        assert!(!e.contains("panicked"), "{args:?}:\n{e}");
        assert!(t0.elapsed() < Duration::from_secs(5), "{args:?}");
        let size = std::fs::metadata(args[args.len() - 1]).unwrap().len();
        assert!(size < 5 << 20, "{args:?} wrote {size} bytes");
    }
    assert!(std::fs::read_to_string(&page).unwrap().contains("<svg"));
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn corpus_and_eval_sizes_are_bounded() {
    let d = tmpdir("corpus");
    let dir = d.display().to_string();
    let src = d.join("a.txt");
    std::fs::write(&src, "one document\n").unwrap();
    let src = src.display().to_string();
    let out = d.join("out").display().to_string();
    refused(
        &[
            "corpus",
            "prepare",
            &src,
            "--out",
            &out,
            "--vocab-size",
            "1000000000000",
        ],
        &["--vocab-size", "1048576"],
    );
    refused(
        &[
            "corpus",
            "synth",
            "--out",
            &out,
            "--doc-len",
            "1000000000000",
        ],
        &["--doc-len", "1048576"],
    );
    refused(
        &[
            "corpus",
            "synth",
            "--out",
            &out,
            "--tokens",
            "1000000000000000",
        ],
        &["--tokens", "1000000000000"],
    );
    refused(
        &["corpus", "dedup", &src, "--num-perm", "1000000000000"],
        &["--num-perm", "4096"],
    );
    refused(
        &["corpus", "tasks", "copy", "-n", "1000000000000"],
        &["-n ", "10000000"],
    );
    refused(
        &["eval", &dir, "--tasks", "copy", "-n", "1000000000000"],
        &["-n ", "10000000"],
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn dedup_refuses_thresholds_outside_the_unit_interval_and_empty_signatures() {
    let d = tmpdir("dedup");
    let src = d.join("c.jsonl");
    std::fs::write(
        &src,
        "{\"text\":\"a b c d e f g h\"}\n{\"text\":\"a b c d e f g x\"}\n",
    )
    .unwrap();
    let src = src.display().to_string();
    for t in ["0", "1.5", "-0.2", "NaN"] {
        let flag = format!("--threshold={t}");
        refused(
            &["corpus", "dedup", &src, &flag],
            &["--threshold", "(0, 1]"],
        );
    }
    refused(
        &["corpus", "dedup", &src, "--num-perm", "0"],
        &["--num-perm", "at least 1"],
    );
    refused(
        &["corpus", "dedup", &src, "--shingle", "0"],
        &["--shingle", "at least 1"],
    );
    let out = d.join("out").display().to_string();
    refused(
        &[
            "corpus",
            "prepare",
            &src,
            "--out",
            &out,
            "--near-dedup",
            "--threshold",
            "2",
        ],
        &["--threshold", "(0, 1]"],
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn plan_gpt_refuses_shapes_whose_counts_would_overflow() {
    refused(
        &[
            "plan",
            "--gpt",
            "layers=99999999999,width=99999999999,heads=1",
        ],
        &["--gpt", "parameters; at most 1e15"],
    );
    refused(
        &[
            "plan",
            "--gpt",
            "layers=18446744073709551615,width=4096,heads=32",
        ],
        &["--gpt", "at most 1e15"],
    );
    refused(
        &[
            "plan",
            "--gpt",
            "layers=2,width=64,heads=1,vocab=18446744073709551615",
        ],
        &["--gpt", "at most 1e15"],
    );
}

#[test]
fn train_config_steps_and_tokens_get_the_flags_bounds() {
    let d = tmpdir("trainconfig");
    let base = "n_layer = 1\nd_model = 16\nn_head = 1\ndata = \"random\"\nvocab = 64\ncontext = 8\nbatch = 2\n";
    let f = d.join("steps.toml");
    std::fs::write(&f, format!("{base}steps = 1000000000000000\n")).unwrap();
    refused(
        &["train", "--config", &f.display().to_string()],
        &[
            "--config",
            "steps.toml",
            "steps must be at most 1000000000000",
        ],
    );
    let f = d.join("tokens.toml");
    std::fs::write(&f, format!("{base}tokens = 100000000000000000000\n")).unwrap();
    refused(
        &["train", "--config", &f.display().to_string()],
        &["tokens.toml", "line 8"],
    );
    let f = d.join("tokens2.toml");
    std::fs::write(&f, format!("{base}tokens = 10000000000000000\n")).unwrap();
    refused(
        &["train", "--config", &f.display().to_string()],
        &[
            "tokens.toml".replace("tokens", "tokens2").as_str(),
            "tokens must be at most 1e15",
        ],
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn eval_refuses_prompts_longer_than_the_models_context() {
    let d = tmpdir("evalctx");
    let run = d.join("run").display().to_string();
    let o = scalelab(&[
        "train",
        "--data",
        "random",
        "--vocab",
        "256",
        "--context",
        "8",
        "--batch",
        "2",
        "--params",
        "1e3",
        "--steps",
        "2",
        "--out",
        &run,
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    refused(
        &["eval", &run, "--tasks", "add:3", "-n", "2", "--shots", "2"],
        &["do not fit the model's context of 8 tokens", "--shots"],
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn plan_refuses_fits_with_impossible_parameters() {
    let d = tmpdir("badfit");
    let sane = HUGE_FIT
        .replace("\"A\": 1e+300", "\"A\": 400.0")
        .replace("\"B\": 1e+300", "\"B\": 400.0");
    let cases = [
        (
            "neg.json",
            sane.replace("\"E\": 1.8913384986023443", "\"E\": -0.5"),
            "params.E = -0.5: an irreducible loss cannot be negative",
        ),
        (
            "exp.json",
            sane.replace("\"alpha\": 0.34931289350617933", "\"alpha\": 1e308"),
            "an exponent must lie in (0, 10]",
        ),
        (
            "coef.json",
            sane.replace("\"B\": 400.0", "\"B\": 0.0"),
            "params.B = 0: a coefficient must be positive",
        ),
    ];
    for (name, text, needle) in cases {
        let f = d.join(name);
        std::fs::write(&f, text).unwrap();
        let f = f.display().to_string();
        refused(&["plan", "--fit", &f, "--flops", "1e21"], &[name, needle]);
    }
    // the same fit with sane values plans
    let f = d.join("sane.json");
    std::fs::write(&f, &sane).unwrap();
    let o = scalelab(&["plan", "--fit", &f.display().to_string(), "--flops", "1e21"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn study_checks_its_study_section_before_any_run() {
    let d = tmpdir("study");
    let body = "name = \"s\"\n[train]\ndata = \"random\"\nvocab = 64\ncontext = 8\nbatch = 2\n\n[[runs]]\nparams = 1e3\ntokens = 1e4\n\n[study]\n";
    for (key, needle) in [
        (
            "target_factor = -5",
            "target_factor must be a positive number",
        ),
        (
            "target_factor = nan",
            "target_factor must be a positive number",
        ),
        (
            "target_flops = 0.0",
            "target_flops must be a positive number",
        ),
        ("bootstrap = 100000000", "bootstrap must be at most 100000"),
    ] {
        let file = d.join("study.toml");
        std::fs::write(&file, format!("{body}{key}\n")).unwrap();
        let out = d.join("out");
        let _ = std::fs::remove_dir_all(&out);
        refused(
            &[
                "study",
                &file.display().to_string(),
                "--out",
                &out.display().to_string(),
            ],
            &["study.toml", "[study]", needle],
        );
        assert!(!out.join("runs").exists(), "{key}: a run started");
    }
    let _ = std::fs::remove_dir_all(&d);
}
