//! The Slurm executor against a real single-node Slurm cluster brought up
//! from Debian's packages by `scripts/slurm-cluster.sh`: a sweep of four
//! runs goes through an sbatch array, the results are collected, a task
//! killed mid-run is resumed on re-submission, and the daemons are stopped.
//!
//! Runs when `CI=true` or `SCALELAB_SLURM_TEST=1` (it installs packages and
//! starts daemons, so it needs root); otherwise it says that it skipped.

use crate::util::*;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn enabled() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
        || std::env::var("SCALELAB_SLURM_TEST").as_deref() == Ok("1")
}

struct Cluster {
    prefix: PathBuf,
    conf: String,
}

impl Cluster {
    fn start(prefix: &Path) -> Cluster {
        let out = Command::new("bash")
            .arg(repo().join("scripts/slurm-cluster.sh"))
            .arg("start")
            .arg(prefix)
            .output()
            .expect("run slurm-cluster.sh");
        // created first, so that a failed start is stopped on drop
        let mut c = Cluster {
            prefix: prefix.to_path_buf(),
            conf: String::new(),
        };
        assert!(
            out.status.success(),
            "starting Slurm failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let line = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let conf = line
            .strip_prefix("SLURM_CONF=")
            .unwrap_or_else(|| panic!("unexpected output {line:?}"))
            .to_string();
        c.conf = conf;
        c
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let out = Command::new("bash")
            .arg(repo().join("scripts/slurm-cluster.sh"))
            .arg("stop")
            .arg(&self.prefix)
            .output();
        if let Ok(o) = out {
            if !o.status.success() {
                eprintln!(
                    "stopping Slurm failed:\n{}",
                    String::from_utf8_lossy(&o.stderr)
                );
            }
        }
    }
}

/// The CLI with `args` on the cluster of `conf`.
fn scalelab(conf: &str, args: &[&str]) -> Output {
    scalelab_env(args, &[("SLURM_CONF", conf)])
}

const SWEEP: &str = r#"
name = "slurm-test"
[train]
data = "synth"
context = 32
batch = 8
checkpoint_every = 20
[grid]
params = [3e3, 1e4]
tokens = [4e4, 8e4]
[slurm]
partition = "debug"
time = "00:10:00"
max_concurrent = 2
"#;

/// One cluster at a time: the tests of this file each start their own on
/// the same host and ports.
static ONE_CLUSTER: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn sweep_through_a_slurm_array() {
    let _one = ONE_CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    if !enabled() {
        eprintln!(
            "skipped: Slurm integration test (set CI=true or SCALELAB_SLURM_TEST=1; needs root)"
        );
        return;
    }
    let root = tmpdir("slurm");
    let cluster = Cluster::start(&root.join("cluster"));
    let sweep = root.join("sweep.toml");
    std::fs::write(&sweep, SWEEP).unwrap();
    let out = root.join("out");
    let (s, o) = (sweep.display().to_string(), out.display().to_string());

    let t0 = Instant::now();
    let r = scalelab(
        &cluster.conf,
        &[
            "sweep",
            &s,
            "--out",
            &o,
            "--executor",
            "slurm",
            "--timeout",
            "300",
            "--quiet",
            "--json",
        ],
    );
    assert!(
        r.status.success(),
        "slurm sweep failed:\n{}",
        String::from_utf8_lossy(&r.stderr)
    );
    eprintln!("slurm sweep of 4 runs: {:.1} s", t0.elapsed().as_secs_f64());
    let v: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(v["done"], 4, "{v}");
    assert_eq!(v["failed"], 0, "{v}");
    let script = std::fs::read_to_string(out.join("slurm/job.sh")).unwrap();
    assert!(script.contains("#SBATCH --array=0,1,2,3%2"), "{script}");
    assert!(script.contains("#SBATCH --partition=debug"), "{script}");
    assert!(script.contains("#SBATCH --time=00:10:00"), "{script}");
    let table = std::fs::read_to_string(out.join("runs.csv")).unwrap();
    assert_eq!(
        table
            .lines()
            .skip(1)
            .filter(|l| l.contains(",done,"))
            .count(),
        4,
        "{table}"
    );

    // The same sweep run locally gives the same table: Slurm changes where
    // runs execute, not what they compute.
    let local = root.join("local").display().to_string();
    let l = scalelab(&cluster.conf, &["sweep", &s, "--out", &local, "--quiet"]);
    assert!(l.status.success(), "{}", String::from_utf8_lossy(&l.stderr));
    assert_eq!(
        std::fs::read_to_string(root.join("local/runs.csv")).unwrap(),
        table
    );

    // A task that Slurm kills is resumed from its checkpoint on
    // re-submission: fake a killed task by rewinding one run to a
    // mid-run state (its checkpoint stays), then submit again.
    let run = std::fs::read_dir(out.join("runs"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .max()
        .unwrap();
    let status = std::fs::read_to_string(run.join("status.json")).unwrap();
    std::fs::write(
        run.join("status.json"),
        status.replace("\"done\"", "\"running\""),
    )
    .unwrap();
    let r2 = scalelab(
        &cluster.conf,
        &[
            "sweep",
            &s,
            "--out",
            &o,
            "--executor",
            "slurm",
            "--timeout",
            "300",
            "--quiet",
            "--json",
        ],
    );
    assert!(
        r2.status.success(),
        "{}",
        String::from_utf8_lossy(&r2.stderr)
    );
    let script = std::fs::read_to_string(out.join("slurm/job.sh")).unwrap();
    assert_eq!(
        script
            .lines()
            .filter(|l| l.starts_with("#SBATCH --array="))
            .count(),
        1
    );
    assert!(
        !script.contains("--array=0,1,2,3"),
        "only the unfinished run is resubmitted: {script}"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("runs.csv")).unwrap(),
        table
    );
    // task logs were written by Slurm
    let logs = std::fs::read_dir(out.join("slurm/logs")).unwrap().count();
    assert!(logs >= 5, "{logs} log files");
    drop(cluster);
    // the daemons we started are gone
    std::thread::sleep(Duration::from_millis(200));
    let st = Command::new("bash")
        .arg(repo().join("scripts/slurm-cluster.sh"))
        .arg("status")
        .arg(root.join("cluster"))
        .output()
        .unwrap();
    assert!(!st.status.success(), "the cluster still answers after stop");
}

fn squeue_has(conf: &str, job: &str) -> bool {
    Command::new("squeue")
        .env("SLURM_CONF", conf)
        .args(["-h", "-j", job, "-o", "%i"])
        .output()
        .is_ok_and(|o| !String::from_utf8_lossy(&o.stdout).trim().is_empty())
}

/// The PyTorch trainer as an external trainer on the Slurm cluster (on
/// CPU here): three sizes through an sbatch array; one task is killed
/// with SIGKILL (`scancel --signal=KILL --full`) while its run is mid-way,
/// the sweep is submitted again and the run resumes from its checkpoint;
/// the table is that of the same sweep run locally without interruption.
#[test]
fn a_torch_sweep_on_slurm_survives_a_killed_task() {
    let _one = ONE_CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    if !enabled() {
        eprintln!(
            "skipped: Slurm integration test (set CI=true or SCALELAB_SLURM_TEST=1; needs root)"
        );
        return;
    }
    let Some(py) = torch_python() else {
        eprintln!("skipped: no Python with torch (set SCALELAB_PYTHON)");
        return;
    };
    let root = tmpdir("slurm-torch");
    let cluster = Cluster::start(&root.join("cluster"));
    let sweep = root.join("torch.toml");
    std::fs::write(
        &sweep,
        format!(
            r#"name = "slurm-torch"
[train]
data = "synth"
context = 32
batch = 8
lr = 3e-3
threads = 1
checkpoint_every = 20
eval_every = 50
[trainer]
command = "{py} {script} --config {{config}} --device cpu"
resume = true
checkpoint = "checkpoint.pt"
timeout = "10m"
[[runs]]
name = "small"
n_layer = 1
d_model = 16
n_head = 2
tokens = 25600
[[runs]]
name = "medium"
n_layer = 2
d_model = 32
n_head = 2
tokens = 51200
[[runs]]
name = "large"
n_layer = 2
d_model = 64
n_head = 4
tokens = 102400
[slurm]
partition = "debug"
time = "00:10:00"
"#,
            script = repo().join("trainers/torch_gpt.py").display()
        ),
    )
    .unwrap();
    let out = root.join("out");
    let (s, o) = (sweep.display().to_string(), out.display().to_string());
    let sub = scalelab(
        &cluster.conf,
        &[
            "sweep",
            &s,
            "--out",
            &o,
            "--executor",
            "slurm",
            "--no-wait",
            "--quiet",
        ],
    );
    assert!(
        sub.status.success(),
        "{}",
        String::from_utf8_lossy(&sub.stderr)
    );
    let job = String::from_utf8_lossy(&sub.stdout).trim().to_string();
    let script = std::fs::read_to_string(out.join("slurm/job.sh")).unwrap();
    assert!(script.contains("#SBATCH --export=ALL"), "{script}");
    // kill the largest run's task once it has a checkpoint
    let large = out.join("runs/large");
    let t0 = Instant::now();
    while !large.join("checkpoint.pt").exists() {
        assert!(t0.elapsed() < Duration::from_secs(240), "no checkpoint");
        std::thread::sleep(Duration::from_millis(20));
    }
    let killed_mid_run = !large.join("result.json").exists();
    let k = Command::new("scancel")
        .env("SLURM_CONF", &cluster.conf)
        .args(["--signal=KILL", "--full", &format!("{job}_2")])
        .output()
        .unwrap();
    assert!(k.status.success(), "{}", String::from_utf8_lossy(&k.stderr));
    while squeue_has(&cluster.conf, &job) {
        assert!(t0.elapsed() < Duration::from_secs(400), "job still queued");
        std::thread::sleep(Duration::from_millis(200));
    }
    // submitted again, the unfinished run resumes
    let r = scalelab(
        &cluster.conf,
        &[
            "sweep",
            &s,
            "--out",
            &o,
            "--executor",
            "slurm",
            "--timeout",
            "400",
            "--quiet",
            "--json",
        ],
    );
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let v: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(v["failed"], 0, "{v}");
    let prov = std::fs::read_to_string(large.join("provenance.json")).unwrap();
    if killed_mid_run {
        assert!(prov.contains("\"resumed_from\": \"/"), "{prov}");
        assert!(prov.contains("\"slurm_job\""), "{prov}");
    }
    // the same table as an uninterrupted local sweep
    let local = root.join("local").display().to_string();
    let l = scalelab(
        &cluster.conf,
        &["sweep", &s, "--out", &local, "--quiet", "--jobs", "2"],
    );
    assert!(l.status.success(), "{}", String::from_utf8_lossy(&l.stderr));
    assert_eq!(
        std::fs::read_to_string(root.join("local/runs.csv")).unwrap(),
        std::fs::read_to_string(out.join("runs.csv")).unwrap()
    );
    assert!(
        killed_mid_run,
        "the run finished before its task was killed: nothing was resumed"
    );
    drop(cluster);
    let _ = std::fs::remove_dir_all(&root);
}
