//! WSD cooldown branches end to end: the plan (stable parents, branches,
//! the cost against separate runs), refusals naming the file and line,
//! SIGKILL mid-sweep and resume giving the uninterrupted tables, fits that
//! leave the stable phase out, and a branch's loss against a cosine run.

use crate::util::*;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// runs.csv as (header, rows of cells).
fn table(dir: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let t = read(&dir.join("runs.csv"));
    let mut lines = t.lines();
    let head: Vec<String> = lines.next().unwrap().split(',').map(String::from).collect();
    let rows = lines
        .map(|l| l.split(',').map(String::from).collect())
        .collect();
    (head, rows)
}

fn cell<'a>(head: &[String], row: &'a [String], col: &str) -> &'a str {
    let i = head
        .iter()
        .position(|h| h == col)
        .unwrap_or_else(|| panic!("no column {col}"));
    &row[i]
}

/// Two sizes, three branches each, checkpointing often.
const LADDER: &str = r#"
name = "wsd-kill"
[train]
data = "synth"
context = 32
batch = 8
lr = 3e-3
checkpoint_every = 10
eval_every = 40
[schedule]
kind = "wsd"
decay_fraction = 0.2
decay_shape = "1-sqrt"
branches = [0.5, 1, 2]
[[runs]]
name = "big"
params = 2e4
tokens = 6e4
[[runs]]
name = "small"
params = 5e3
tokens = 5e4
"#;

#[test]
fn a_dry_run_lists_parents_and_branches_with_their_cost() {
    let root = tmpdir("dry");
    let sweep = write(&root, "sweep.toml", LADDER);
    let out = root.join("out").display().to_string();
    let o = scalelab(&["sweep", &sweep, "--out", &out, "--dry-run"]);
    ok(&o);
    let text = String::from_utf8_lossy(&o.stdout);
    for name in [
        "big-stable",
        "big-x0.5",
        "big-x1",
        "big-x2",
        "small-stable",
        "small-x2",
    ] {
        assert!(text.contains(name), "{name} missing:\n{text}");
    }
    assert!(text.contains("stable"), "{text}");
    // 0.8·2 + 0.2·(0.5 + 1 + 2) = 2.3 of 3.5 separate: ≈ 0.657×
    let line = text.lines().find(|l| l.starts_with("compute:")).unwrap();
    let ratio: f64 = line
        .rsplit('(')
        .next()
        .unwrap()
        .trim_end_matches("×)")
        .parse()
        .unwrap();
    assert!((ratio - 2.3 / 3.5).abs() < 0.02, "{line}");
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn branches_without_wsd_or_with_an_external_trainer_are_refused_with_the_line() {
    let root = tmpdir("refuse");
    let cosine = LADDER.replace("kind = \"wsd\"", "kind = \"cosine\"");
    let sweep = write(&root, "sweep.toml", &cosine);
    let out = root.join("out").display().to_string();
    let o = scalelab(&["sweep", &sweep, "--out", &out, "--dry-run"]);
    assert!(!o.status.success());
    let e = stderr(&o);
    // `branches = …` is line 14 of the file
    assert!(e.contains("sweep.toml:14"), "{e}");
    assert!(e.contains("kind = \"wsd\""), "{e}");
    let bad = LADDER.replace("decay_fraction = 0.2", "decay_fraction = 1.5");
    let sweep = write(&root, "bad.toml", &bad);
    let o = scalelab(&["sweep", &sweep, "--out", &out, "--dry-run"]);
    let e = stderr(&o);
    assert!(
        !o.status.success() && e.contains("bad.toml:12") && e.contains("(0, 1]"),
        "{e}"
    );
    let ext = format!("{LADDER}[trainer]\ncommand = \"true\"\n");
    let sweep = write(&root, "ext.toml", &ext);
    let o = scalelab(&["sweep", &sweep, "--out", &out, "--dry-run"]);
    let e = stderr(&o);
    assert!(
        !o.status.success() && e.contains("ext.toml:14") && e.contains("[trainer]"),
        "{e}"
    );
    assert!(!e.contains("panicked"), "{e}");
    let _ = std::fs::remove_dir_all(&root);
}

fn any_kept_checkpoint(dir: &Path) -> bool {
    std::fs::read_dir(dir.join("runs"))
        .map(|rd| {
            rd.flatten().any(|e| {
                std::fs::read_dir(e.path())
                    .map(|f| {
                        f.flatten().any(|f| {
                            f.file_name()
                                .to_string_lossy()
                                .starts_with("checkpoint-step")
                        })
                    })
                    .unwrap_or(false)
            })
        })
        .unwrap_or(false)
}

fn sweep_args<'a>(sweep: &'a str, out: &'a str) -> Vec<&'a str> {
    vec!["sweep", sweep, "--out", out, "--jobs", "2", "--quiet"]
}

#[test]
fn sigkill_mid_ladder_then_resume_gives_the_uninterrupted_tables() {
    let root = tmpdir("kill");
    let sweep = write(&root, "sweep.toml", LADDER);
    let a = root.join("a").display().to_string();
    let b = root.join("b").display().to_string();
    ok(&scalelab(&sweep_args(&sweep, &a)));

    // kill -9 at a few moments (the first once a branch point is kept, so
    // branches and parents are both in flight); each next invocation resumes
    let mut kills = 0;
    for k in 0..3u32 {
        let mut child = Command::new(bin())
            .args(sweep_args(&sweep, &b))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let t0 = Instant::now();
        loop {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            if any_kept_checkpoint(Path::new(&b))
                && t0.elapsed() > Duration::from_millis(200 * (k as u64 + 1))
            {
                child.kill().unwrap(); // SIGKILL
                kills += 1;
                break;
            }
            assert!(t0.elapsed() < Duration::from_secs(120), "sweep hung");
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.wait();
    }
    assert!(kills >= 1, "the sweep finished before any kill");
    let mut args = sweep_args(&sweep, &b);
    args.push("--json");
    let out = scalelab(&args);
    ok(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["failed"].as_array().unwrap().is_empty(), "{v}");
    assert!(v["stopped"].as_array().unwrap().is_empty(), "{v}");
    let (pa, pb) = (Path::new(&a), Path::new(&b));
    assert_eq!(
        read(&pa.join("runs.csv")),
        read(&pb.join("runs.csv")),
        "resumed ladder's table differs (after {kills} kills)"
    );
    assert_eq!(read(&pa.join("curves.csv")), read(&pb.join("curves.csv")));

    let (head, rows) = table(pa);
    assert_eq!(rows.len(), 8, "2 parents + 6 branches");
    assert!(rows.iter().all(|r| cell(&head, r, "status") == "done"));
    let stable: Vec<_> = rows
        .iter()
        .filter(|r| cell(&head, r, "schedule") == "stable")
        .collect();
    assert_eq!(stable.len(), 2);
    for r in &rows {
        let name = cell(&head, r, "run");
        if cell(&head, r, "schedule") == "stable" {
            continue;
        }
        assert_eq!(cell(&head, r, "schedule"), "wsd");
        let parent = cell(&head, r, "parent");
        assert!(
            name.starts_with(parent.trim_end_matches("-stable")),
            "{name} {parent}"
        );
        let num = |c: &str| cell(&head, r, c).parse::<f64>().unwrap();
        // a branch's flops are a full run's to its D, its spent ones its decay's
        assert!((num("flops") - 6.0 * num("params") * num("tokens")).abs() < 1e-6 * num("flops"));
        assert!((num("flops_budget") - num("flops")).abs() < 1e-6 * num("flops"));
        assert!(num("flops_spent") < 0.3 * num("flops"), "{name}");
        assert!(
            num("branch_tokens") + num("decay_tokens") == num("tokens"),
            "{name}"
        );
        assert!(num("loss").is_finite());
        // the parent kept the branch point
        let steps = (num("branch_tokens") / 256.0) as u64;
        assert!(pa
            .join("runs")
            .join(parent)
            .join(format!("checkpoint-step{steps}.safetensors"))
            .exists());
    }
    // longer branches of a size end lower
    let loss = |n: &str| {
        let r = rows.iter().find(|r| cell(&head, r, "run") == n).unwrap();
        cell(&head, r, "loss").parse::<f64>().unwrap()
    };
    assert!(
        loss("big-x2") < loss("big-x0.5"),
        "{} {}",
        loss("big-x2"),
        loss("big-x0.5")
    );

    // fits read the branches only, with no warning about the parents
    let o = scalelab(&["fit", &a, "--json"]);
    ok(&o);
    let f: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(f["n_points"], 6, "{f}");
    assert!(
        !f["warnings"].to_string().contains("stable"),
        "{}",
        f["warnings"]
    );
    assert!(
        f["notes"].to_string().contains("stable-phase"),
        "{}",
        f["notes"]
    );
    let _ = std::fs::remove_dir_all(&root);
}

/// A branch's final loss at D against a separate cosine run to D (same
/// size, seed, data and peak rate), on the synthetic language: the measured
/// relative difference (docs/BENCHMARKS.md) stays within its tolerance.
#[test]
fn a_branch_at_d_is_within_tolerance_of_a_cosine_run_to_d() {
    let root = tmpdir("cosine");
    let common = r#"
[train]
data = "synth"
context = 32
batch = 8
lr = 3e-3
[[runs]]
name = "m"
params = 2e4
tokens = 1.2e5
"#;
    let wsd = format!(
        "name = \"wsd\"\n{common}[schedule]\nkind = \"wsd\"\ndecay_fraction = 0.2\nbranches = [0.5, 1]\n"
    );
    let cos = format!("name = \"cos\"\n{common}");
    let (sw, sc) = (
        write(&root, "wsd.toml", &wsd),
        write(&root, "cos.toml", &cos),
    );
    let (ow, oc) = (root.join("w"), root.join("c"));
    ok(&scalelab(&sweep_args(&sw, &ow.display().to_string())));
    ok(&scalelab(&sweep_args(&sc, &oc.display().to_string())));
    let loss_of = |dir: &Path, run: &str| {
        let (head, rows) = table(dir);
        let r = rows.iter().find(|r| cell(&head, r, "run") == run).unwrap();
        cell(&head, r, "loss").parse::<f64>().unwrap()
    };
    let (lw, lc) = (loss_of(&ow, "m-x1"), loss_of(&oc, "m"));
    let rel = (lw - lc) / lc;
    assert!(
        rel.abs() < TOLERANCE,
        "branch {lw} vs cosine {lc}: {rel:+.4}"
    );
    let _ = std::fs::remove_dir_all(&root);
}

/// |relative difference| allowed: measured −0.045 for this configuration
/// (the branch lower: WSD holds the peak rate longer, which pays on short
/// runs), see docs/BENCHMARKS.md (WSD cooldown branches), with margin.
const TOLERANCE: f64 = 0.08;

/// Under Slurm a stable parent's array task runs its branches after it
/// (`scalelab sweep-task DIR --index I`): the results equal a local sweep's.
#[test]
fn a_parents_task_runs_its_branches_after_it() {
    let root = tmpdir("task");
    let sweep = write(&root, "sweep.toml", LADDER);
    let (t, u) = (root.join("t"), root.join("u"));
    let (ts, us) = (t.display().to_string(), u.display().to_string());
    ok(&scalelab(&sweep_args(&sweep, &us)));
    // prepare the directory: every run stops after 3 steps (branches wait)
    let mut args = sweep_args(&sweep, &ts);
    args.extend(["--step-limit", "3"]);
    ok(&scalelab(&args));
    let (head, rows) = table(&t);
    assert!(rows.iter().all(|r| cell(&head, r, "status") != "done"));
    // index 0 is big-stable: its task finishes it, then big-x0.5, -x1, -x2
    ok(&scalelab(&["sweep-task", &ts, "--index", "0"]));
    for run in ["big-stable", "big-x0.5", "big-x1", "big-x2"] {
        let st = read(&t.join("runs").join(run).join("status.json"));
        assert!(st.contains("\"state\":\"done\""), "{run}: {st}");
    }
    let st = read(&t.join("runs").join("big-x1").join("status.json"));
    assert!(
        st.contains("\"role\":\"branch\"") && st.contains("\"parent\":\"big-stable\""),
        "{st}"
    );
    let st = read(&t.join("runs").join("big-stable").join("status.json"));
    assert!(st.contains("\"role\":\"stable\""), "{st}");
    let st = read(&t.join("runs").join("small-x1").join("status.json"));
    assert!(!st.contains("\"state\":\"done\""), "small-x1: {st}");
    // a branch's own task (done now) is a no-op
    ok(&scalelab(&["sweep-task", &ts, "--index", "2"]));
    ok(&scalelab(&sweep_args(&sweep, &ts))); // rebuilds the tables (and trains small-*)
    let (head, rows) = table(&t);
    let (uhead, urows) = table(&u);
    for r in rows
        .iter()
        .filter(|r| cell(&head, r, "run").starts_with("big"))
    {
        let name = cell(&head, r, "run");
        let ur = urows
            .iter()
            .find(|x| cell(&uhead, x, "run") == name)
            .unwrap();
        assert_eq!(cell(&head, r, "status"), "done", "{name}");
        assert_eq!(cell(&head, r, "loss"), cell(&uhead, ur, "loss"), "{name}");
    }
    let _ = std::fs::remove_dir_all(&root);
}

/// `scalelab train --lr-schedule wsd`: the logged rate holds the peak, then
/// decays to the floor over the last --decay-fraction of the steps; bad
/// values name their flag.
#[test]
fn train_flags_set_the_wsd_schedule() {
    let root = tmpdir("train");
    let out = root.join("run").display().to_string();
    let base = [
        "train",
        "--data",
        "random",
        "--n-layer",
        "1",
        "--d-model",
        "16",
        "--n-head",
        "2",
        "--context",
        "8",
        "--batch",
        "2",
        "--steps",
        "40",
        "--lr",
        "1e-3",
        "--warmup-steps",
        "2",
        "--quiet",
    ];
    let mut args = base.to_vec();
    args.extend([
        "--lr-schedule",
        "wsd",
        "--decay-fraction",
        "0.25",
        "--decay-shape",
        "linear",
        "--out",
        &out,
    ]);
    ok(&scalelab(&args));
    let lrs: Vec<f64> = read(&Path::new(&out).join("metrics.jsonl"))
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["lr"]
                .as_f64()
                .unwrap()
        })
        .collect();
    assert_eq!(lrs.len(), 40);
    // 10 decay steps from step 30 (index 30): linear from the peak to 1e-4
    assert!(lrs[2..31].iter().all(|&l| l == 1e-3), "{lrs:?}");
    assert!(
        (lrs[35] - (1e-4 + 9e-4 * (1.0 - 5.0 / 9.0))).abs() < 1e-15,
        "{lrs:?}"
    );
    assert!((lrs[39] - 1e-4).abs() < 1e-15, "{lrs:?}");
    let cfg = read(&Path::new(&out).join("config.toml"));
    assert!(
        cfg.contains("lr_schedule = \"wsd\"") && cfg.contains("decay_shape = \"linear\""),
        "{cfg}"
    );
    let mut bad = base.to_vec();
    bad.extend(["--lr-schedule", "wsd", "--decay-fraction", "0"]);
    let o = scalelab(&bad);
    assert!(
        !o.status.success() && stderr(&o).contains("--decay-fraction"),
        "{}",
        stderr(&o)
    );
    let _ = std::fs::remove_dir_all(&root);
}
