//! The training loop: kill-and-resume reproduces the loss curve exactly,
//! learning on real English text, refusal of impossible configurations,
//! divergence detection.

use scalelab_engine::data::{RandomTokens, TextBytes, TokenSource};
use scalelab_engine::train::StepReport;
use scalelab_engine::{EngineError, TrainConfig, Trainer};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "scalelab-engine-test-{}-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// A small English-like text made deterministically (for tests that need
/// learnable data but not a real corpus).
fn synthetic_text() -> Vec<u8> {
    let words = [
        "the ", "cat ", "sat ", "on ", "a ", "mat ", "and ", "dog ", "ran ", "far ", "away. ",
    ];
    let mut x = 12345u64;
    let mut out = Vec::new();
    while out.len() < 40_000 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        out.extend_from_slice(words[(x >> 33) as usize % words.len()].as_bytes());
    }
    out
}

fn small_config() -> TrainConfig {
    TrainConfig {
        n_layer: 2,
        d_model: 32,
        n_head: 4,
        context: 32,
        batch: 4,
        steps: Some(24),
        lr: 3e-3,
        eval_every: 5,
        eval_batches: 2,
        checkpoint_every: 7,
        threads: 2,
        seed: 11,
        data: "synthetic".into(),
        ..TrainConfig::default()
    }
}

fn text_source() -> Box<dyn TokenSource> {
    Box::new(TextBytes::from_bytes("synthetic".into(), synthetic_text(), 0.1, 11).unwrap())
}

fn read_metrics(dir: &Path) -> Vec<StepReport> {
    std::fs::read_to_string(dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

const CHILD_ENV: &str = "SCALELAB_ENGINE_KILL_CHILD_DIR";
const KILL_AT: u64 = 17; // after the checkpoint at 14, before the one at 21

/// Runs in a child process (this test binary re-executed): trains and
/// aborts the process abruptly at step KILL_AT, like a kill -9.
#[test]
fn kill_child_helper() {
    let Some(dir) = std::env::var_os(CHILD_ENV) else {
        return; // only meaningful as the child of the test below
    };
    let mut t = Trainer::new(small_config(), text_source(), Some(Path::new(&dir))).unwrap();
    t.run(|r| {
        if r.step == KILL_AT {
            std::process::abort();
        }
        ControlFlow::Continue(())
    })
    .unwrap();
}

#[test]
fn killed_and_resumed_run_reproduces_the_loss_curve_exactly() {
    // Uninterrupted reference run.
    let ref_dir = tmpdir("reference");
    let mut t = Trainer::new(small_config(), text_source(), Some(&ref_dir)).unwrap();
    let summary = t.run(|_| ControlFlow::Continue(())).unwrap();
    assert!(summary.completed);
    let reference = read_metrics(&ref_dir);
    assert_eq!(reference.len(), 24);

    // A run killed (abort, no cleanup) at step 17 in a child process.
    let dir = tmpdir("killed");
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "kill_child_helper",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(!status.success(), "the child must die at step {KILL_AT}");
    let partial = read_metrics(&dir);
    assert_eq!(
        partial.len() as u64,
        KILL_AT,
        "the killed run logged up to the kill"
    );
    let (ck_step, _) =
        scalelab_engine::checkpoint::read_meta(&dir.join("checkpoint.safetensors")).unwrap();
    assert_eq!(ck_step, 14);

    // Resume and finish.
    let mut t = Trainer::resume(&dir, text_source()).unwrap();
    assert_eq!(t.current_step(), 14);
    t.run(|_| ControlFlow::Continue(())).unwrap();
    let resumed = read_metrics(&dir);
    assert_eq!(resumed.len(), reference.len());
    for (a, b) in reference.iter().zip(&resumed) {
        assert_eq!(a.step, b.step);
        assert_eq!(
            a.train_loss.to_bits(),
            b.train_loss.to_bits(),
            "step {}",
            a.step
        );
        assert_eq!(
            a.val_loss.map(f64::to_bits),
            b.val_loss.map(f64::to_bits),
            "step {}",
            a.step
        );
        assert_eq!(a.lr.to_bits(), b.lr.to_bits());
    }
    // And the loss actually moved (the test would be vacuous otherwise).
    assert!(reference.last().unwrap().train_loss < reference[0].train_loss - 0.5);
    let _ = std::fs::remove_dir_all(&ref_dir);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn same_seed_same_threads_is_deterministic_and_seed_matters() {
    let run = |seed: u64| {
        let cfg = TrainConfig {
            seed,
            steps: Some(6),
            ..small_config()
        };
        let mut t = Trainer::new(cfg, text_source(), None).unwrap();
        let mut losses = Vec::new();
        t.run(|r| {
            losses.push(r.train_loss.to_bits());
            ControlFlow::Continue(())
        })
        .unwrap();
        losses
    };
    assert_eq!(run(3), run(3));
    assert_ne!(run(3), run(4));
}

#[test]
fn impossible_configurations_are_refused_with_the_field_named() {
    let text = || -> Box<dyn TokenSource> {
        Box::new(TextBytes::from_bytes("tiny".into(), vec![b'a'; 200], 0.1, 0).unwrap())
    };
    let err = |cfg: TrainConfig, data: Box<dyn TokenSource>| {
        Trainer::new(cfg, data, None).unwrap_err().to_string()
    };
    let base = TrainConfig {
        context: 8,
        steps: Some(2),
        ..TrainConfig::default()
    };
    let e = err(
        TrainConfig {
            d_model: 30,
            ..base.clone()
        },
        text(),
    );
    assert!(e.contains("n_head = 4 does not divide d_model = 30"), "{e}");
    let e = err(
        TrainConfig {
            context: 64,
            ..base.clone()
        },
        text(),
    );
    assert!(
        e.contains("context = 64 is larger than the data allows"),
        "{e}"
    );
    let e = err(
        TrainConfig {
            vocab: Some(100),
            ..base.clone()
        },
        text(),
    );
    assert!(e.contains("vocab = 100"), "{e}");
    let e = err(
        TrainConfig {
            steps: None,
            ..base.clone()
        },
        text(),
    );
    assert!(e.contains("steps or tokens"), "{e}");
    let e = err(
        TrainConfig {
            lr: -1.0,
            ..base.clone()
        },
        text(),
    );
    assert!(e.contains("lr"), "{e}");
    let e = err(
        TrainConfig {
            threads: 0,
            ..base.clone()
        },
        text(),
    );
    assert!(e.contains("threads"), "{e}");
    let e = TrainConfig::from_toml_str("n_layer = 2\nd_model = 64\nn_head = 4\nbogus = 1\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("bogus"), "{e}");
    // A directory with a checkpoint is not silently overwritten.
    let dir = tmpdir("refuse");
    let mut t = Trainer::new(
        base.clone(),
        Box::new(RandomTokens::new(256, 0)),
        Some(&dir),
    )
    .unwrap();
    t.run(|_| ControlFlow::Continue(())).unwrap();
    let e = Trainer::new(base, Box::new(RandomTokens::new(256, 0)), Some(&dir))
        .unwrap_err()
        .to_string();
    assert!(e.contains("already holds a checkpoint"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_exploding_run_stops_with_a_typed_divergence_error() {
    let cfg = TrainConfig {
        lr: 1e4,
        grad_clip: 0.0,
        warmup_steps: Some(1),
        steps: Some(30),
        weight_decay: 0.0,
        ..small_config()
    };
    let mut t = Trainer::new(cfg, text_source(), None).unwrap();
    match t.run(|_| ControlFlow::Continue(())) {
        Err(EngineError::Diverged { step, .. }) => assert!(step <= 30),
        other => panic!("expected divergence, got {other:?}"),
    }
}

#[test]
fn toml_config_round_trips() {
    let cfg = small_config();
    let back = TrainConfig::from_toml_str(&cfg.to_toml()).unwrap();
    assert_eq!(cfg, back);
    let t = TrainConfig::from_toml_str(
        "n_layer = 1\nd_model = 16\nn_head = 2\ntokens = 1000\ncontext = 10\nbatch = 10\n",
    )
    .unwrap();
    assert_eq!(t.total_steps(), 10);
}

/// A WSD cooldown branch (a constant-rate stable-phase run, branched at
/// step b into a WSD run's decay) reproduces a single WSD run to the same
/// length bit for bit: same data stream, same schedule, same AdamW state.
#[test]
fn a_wsd_branch_from_a_stable_checkpoint_equals_the_full_wsd_run() {
    use scalelab_engine::{DecayShape, ScheduleKind};
    let wsd = |steps: u64| TrainConfig {
        steps: Some(steps),
        warmup_steps: Some(3),
        lr_schedule: ScheduleKind::Wsd,
        decay_fraction: 0.25,
        decay_shape: DecayShape::OneMinusSqrt,
        checkpoint_every: 5,
        ..small_config()
    };
    // the full run: 24 steps, the last 6 decaying (from step 18)
    let full_dir = tmpdir("wsd-full");
    let mut t = Trainer::new(wsd(24), text_source(), Some(&full_dir)).unwrap();
    let full = t.run(|_| ControlFlow::Continue(())).unwrap();
    let full_metrics = read_metrics(&full_dir);
    // the stable phase runs further than 18 steps, keeping step 18
    let parent_dir = tmpdir("wsd-parent");
    let parent = TrainConfig {
        steps: Some(30),
        lr_schedule: ScheduleKind::Constant,
        keep_checkpoints: vec![18],
        ..wsd(30)
    };
    let mut t = Trainer::new(parent, text_source(), Some(&parent_dir)).unwrap();
    t.run(|_| ControlFlow::Continue(())).unwrap();
    let kept = scalelab_engine::checkpoint::kept_path_in(&parent_dir, 18);
    assert_eq!(
        scalelab_engine::checkpoint::read_meta(&kept).unwrap().0,
        18,
        "the branch point is kept although later checkpoints were written"
    );
    let kept_log = scalelab_engine::train::kept_metrics_path_in(&parent_dir, 18);
    assert_eq!(
        std::fs::read_to_string(&kept_log).unwrap().lines().count(),
        18
    );
    // a resume of the parent cuts its live log back to an earlier
    // checkpoint: the branch must not depend on it
    let live = parent_dir.join("metrics.jsonl");
    let cut: String = std::fs::read_to_string(&live)
        .unwrap()
        .lines()
        .take(10)
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&live, cut).unwrap();
    // the branch: 18 → 24 with the decay
    let branch_dir = tmpdir("wsd-branch");
    let mut t = Trainer::branch(wsd(24), text_source(), &branch_dir, &kept).unwrap();
    assert_eq!(t.current_step(), 18);
    let branch = t.run(|_| ControlFlow::Continue(())).unwrap();
    assert_eq!(
        full.final_val_loss.map(f64::to_bits),
        branch.final_val_loss.map(f64::to_bits),
        "full {:?} vs branch {:?}",
        full.final_val_loss,
        branch.final_val_loss
    );
    let branch_metrics = read_metrics(&branch_dir);
    assert_eq!(branch_metrics.len(), full_metrics.len());
    for (a, b) in full_metrics.iter().zip(&branch_metrics) {
        assert_eq!(
            a.train_loss.to_bits(),
            b.train_loss.to_bits(),
            "step {}",
            a.step
        );
        assert_eq!(a.lr.to_bits(), b.lr.to_bits(), "step {}", a.step);
    }
    // the decay really happened (the test would be vacuous otherwise)
    assert!(branch_metrics.last().unwrap().lr < 0.2 * small_config().lr);
    // a branch with a different model is refused
    let other = TrainConfig {
        d_model: 16,
        ..wsd(24)
    };
    let err = Trainer::branch(other, text_source(), &tmpdir("wsd-bad"), &kept).unwrap_err();
    assert!(err.to_string().contains("cannot branch"), "{err}");
    for d in [full_dir, parent_dir, branch_dir] {
        let _ = std::fs::remove_dir_all(d);
    }
}

/// The last validation loss of a run of `cfg` on the synthetic text.
fn final_val_loss(cfg: TrainConfig) -> f64 {
    let mut t = Trainer::new(cfg, text_source(), None).unwrap();
    t.run(|_| ControlFlow::Continue(())).unwrap();
    t.evaluate().unwrap()
}

#[test]
fn a_unique_token_budget_repeats_the_data_and_is_worse_than_fresh_data() {
    let base = TrainConfig {
        steps: Some(400),
        eval_every: 0,
        checkpoint_every: 0,
        ..small_config()
    };
    // 400 steps of 4 × 32 tokens on 2 steps' worth of unique tokens: 200
    // epochs
    let scarce = TrainConfig {
        unique_tokens: Some(2 * 4 * 32 + 17),
        ..base.clone()
    };
    assert_eq!(scarce.steps_per_epoch(), Some(2));
    assert_eq!(scarce.data_step(0), 0);
    assert_eq!(scarce.data_step(5), 1);
    assert_eq!(scarce.unique_tokens_seen(), 256);
    assert!((scarce.epochs() - 200.0).abs() < 1e-12);
    assert_eq!(base.data_step(399), 399);
    assert_eq!(base.epochs(), 1.0);
    // repeated data: the same batches every epoch, so a worse model of the
    // text than fresh data of the same size and compute
    let fresh = final_val_loss(base.clone());
    let repeated = final_val_loss(scarce);
    eprintln!("validation loss: fresh {fresh}, repeated {repeated}");
    assert!(
        repeated > fresh + 0.05,
        "repeated {repeated} vs fresh {fresh}"
    );
    // fewer than one step's worth of unique tokens is refused
    let tiny = TrainConfig {
        unique_tokens: Some(100),
        ..base
    };
    let e = Trainer::new(tiny, text_source(), None).err().unwrap();
    assert!(e.to_string().contains("unique_tokens = 100"), "{e}");
}
