//! The shipped PyTorch trainer (trainers/torch_gpt.py) driven by
//! `scalelab sweep`: three sizes on the CPU, killed with SIGKILL and
//! resumed, give the table of an uninterrupted sweep, which `fit` and
//! `report` read; and on the same configuration and data it ends where the
//! built-in engine ends, within the seed-to-seed spread.
//!
//! Needs a Python with torch: `$SCALELAB_PYTHON` (the test command sets it
//! to its virtual environment), else `python3`. Without torch the tests
//! skip with a message, except under CI=true, where they fail.

use crate::util::*;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn trainer_section(py: &str) -> String {
    format!(
        "[trainer]\ncommand = \"{py} {script} --config {{config}} --device cpu\"\nresume = true\ncheckpoint = \"checkpoint.pt\"\ntimeout = \"10m\"\n",
        script = repo().join("trainers/torch_gpt.py").display()
    )
}

const SHARED: &str = r#"
[train]
data = "synth"
context = 32
batch = 8
lr = 3e-3
threads = 1
"#;

/// The runs table without its timing columns (there are none today; this
/// keeps the comparison honest if some are added).
fn table_without_timing(p: &Path) -> Vec<Vec<String>> {
    let text = read(p);
    let mut lines = text.lines();
    let head: Vec<&str> = lines.next().unwrap().split(',').collect();
    let keep: Vec<usize> = (0..head.len())
        .filter(|&i| !head[i].contains("second") && !head[i].contains("time"))
        .collect();
    std::iter::once(keep.iter().map(|&i| head[i].to_string()).collect())
        .chain(lines.map(|l| {
            let c: Vec<&str> = l.split(',').collect();
            keep.iter().map(|&i| c[i].to_string()).collect()
        }))
        .collect()
}

#[test]
fn a_torch_sweep_killed_and_resumed_gives_the_uninterrupted_table() {
    let Some(py) = torch_python() else { return };
    let dir = tmpdir("kill");
    let sweep = dir.join("torch.toml");
    std::fs::write(
        &sweep,
        format!(
            "name = \"torch3\"\n{SHARED}checkpoint_every = 10\neval_every = 20\n{}\n\
             [[runs]]\nn_layer = 1\nd_model = 16\nn_head = 2\ntokens = 20480\n\
             [[runs]]\nn_layer = 2\nd_model = 32\nn_head = 2\ntokens = 20480\n\
             [[runs]]\nn_layer = 2\nd_model = 48\nn_head = 4\ntokens = 20480\n",
            trainer_section(&py)
        ),
    )
    .unwrap();
    let sweep = sweep.to_str().unwrap();
    let whole = dir.join("whole");
    let o = scalelab(&[
        "sweep",
        sweep,
        "--out",
        whole.to_str().unwrap(),
        "--quiet",
        "--jobs",
        "2",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));

    let cut = dir.join("cut");
    let mut child = Command::new(bin())
        .args([
            "sweep",
            sweep,
            "--out",
            cut.to_str().unwrap(),
            "--quiet",
            "--jobs",
            "2",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    // once a checkpoint exists (the runs are mid-way), kill the sweep and
    // every trainer it started, as a crashed node would
    loop {
        let any_ck = std::fs::read_dir(cut.join("runs"))
            .map(|rd| {
                rd.flatten()
                    .any(|e| e.path().join("checkpoint.pt").exists())
            })
            .unwrap_or(false);
        if any_ck {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(120), "no checkpoint");
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = Command::new("kill")
        .args(["-KILL", &child.id().to_string()])
        .status();
    let st = child.wait().unwrap();
    kill_trainers_left_in(&cut);
    assert!(!st.success(), "the sweep finished before it was killed");
    let o = scalelab(&[
        "sweep",
        sweep,
        "--out",
        cut.to_str().unwrap(),
        "--quiet",
        "--jobs",
        "2",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let (a, b) = (
        table_without_timing(&whole.join("runs.csv")),
        table_without_timing(&cut.join("runs.csv")),
    );
    assert_eq!(a, b, "resumed table differs from the uninterrupted one");
    assert!(a[1..].iter().all(|r| r[1] == "done"), "{a:?}");
    let resumed = std::fs::read_dir(cut.join("runs"))
        .unwrap()
        .flatten()
        .any(|e| read(&e.path().join("provenance.json")).contains("\"resumed_from\": \"/"));
    assert!(resumed, "no run resumed from its checkpoint");
    // fit and report read it as any sweep
    let f = scalelab(&[
        "fit",
        whole.join("runs.csv").to_str().unwrap(),
        "--law",
        "power-n",
    ]);
    assert!(f.status.success(), "{}", stderr(&f));
    let html = dir.join("report.html");
    let r = scalelab(&[
        "report",
        whole.to_str().unwrap(),
        "--out",
        html.to_str().unwrap(),
    ]);
    assert!(r.status.success(), "{}", stderr(&r));
    assert!(html.is_file() || html.is_dir());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Final validation losses of a sweep's runs, in plan order.
fn losses(dir: &Path) -> Vec<f64> {
    let text = read(&dir.join("runs.csv"));
    let mut lines = text.lines();
    let head: Vec<&str> = lines.next().unwrap().split(',').collect();
    let li = head.iter().position(|h| *h == "loss").unwrap();
    lines
        .map(|l| l.split(',').nth(li).unwrap().parse().unwrap())
        .collect()
}

fn mean_sd(x: &[f64]) -> (f64, f64) {
    let m = x.iter().sum::<f64>() / x.len() as f64;
    let v = x.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (x.len() - 1) as f64;
    (m, v.sqrt())
}

/// How the tolerance is chosen: both trainers see the same batches (the
/// exported stream) and start from the same distribution of weights, but
/// from different random draws, so they differ as two seeds of one trainer
/// do. Three seeds of each give means and standard deviations; the means
/// must agree within three standard errors of their difference (pooled
/// seed spread × √(2/3)), with a floor of 0.01 nats for a spread that
/// happens to come out tiny.
#[test]
fn the_torch_trainer_ends_where_the_engine_ends() {
    let Some(py) = torch_python() else { return };
    let dir = tmpdir("same");
    let runs: String = (1..=3)
        .map(|s| {
            format!(
                "[[runs]]\nname = \"s{s}\"\nseed = {s}\nn_layer = 2\nd_model = 32\nn_head = 2\ntokens = 102400\n"
            )
        })
        .collect();
    let base = format!("{SHARED}eval_every = 100\n");
    let engine = dir.join("engine.toml");
    std::fs::write(&engine, format!("{base}{runs}")).unwrap();
    let torch = dir.join("torch.toml");
    std::fs::write(&torch, format!("{base}{}{runs}", trainer_section(&py))).unwrap();
    for (file, out) in [(&engine, "e"), (&torch, "t")] {
        let o = scalelab(&[
            "sweep",
            file.to_str().unwrap(),
            "--out",
            dir.join(out).to_str().unwrap(),
            "--quiet",
            "--jobs",
            "2",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let (e, t) = (losses(&dir.join("e")), losses(&dir.join("t")));
    let ((me, se), (mt, st)) = (mean_sd(&e), mean_sd(&t));
    let pooled = ((se * se + st * st) / 2.0).sqrt();
    let tol = (3.0 * pooled * (2.0f64 / 3.0).sqrt()).max(0.01);
    eprintln!(
        "engine {e:?} mean {me:.4} sd {se:.4}; torch {t:?} mean {mt:.4} sd {st:.4}; |diff| {:.4} tol {tol:.4}",
        (me - mt).abs()
    );
    assert!(
        (me - mt).abs() <= tol,
        "engine mean {me:.4} (sd {se:.4}) vs torch mean {mt:.4} (sd {st:.4}): |diff| > {tol:.4}"
    );
    // both learnt: far below the ln(vocab) of a fresh model
    let vocab: f64 = {
        let text = read(&dir.join("e/runs.csv"));
        let head: Vec<&str> = text.lines().next().unwrap().split(',').collect();
        let vi = head.iter().position(|h| *h == "vocab").unwrap();
        text.lines()
            .nth(1)
            .unwrap()
            .split(',')
            .nth(vi)
            .unwrap()
            .parse()
            .unwrap()
    };
    assert!(
        me < 0.8 * vocab.ln() && mt < 0.8 * vocab.ln(),
        "{me} {mt} vocab {vocab}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
