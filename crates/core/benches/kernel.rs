//! Time of one evaluation of the fitting objective (value and gradient) on
//! the Epoch AI Chinchilla points: the Chinchilla law's fused kernel and a
//! generic one-variable power law. `cargo bench -p scalelab-core --bench kernel`.

use scalelab_core::data::Observations;
use scalelab_core::laws::{Chinchilla, Law, PowerLaw, Variable};
use scalelab_core::robust::Robust;
use std::time::Instant;

/// The 240 points of the replication (loss below the 5th-largest), D = C/(6N).
fn epoch_points() -> Observations {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../data/chinchilla_epoch_svg/svg_extracted_data.csv");
    let text = std::fs::read_to_string(&p).expect("the repository carries the Epoch points");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (cn, cc, cl) = (col("Model Size"), col("Training FLOP"), col("loss"));
    let rows: Vec<(f64, f64, f64)> = lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (
                f[cn].parse().unwrap(),
                f[cc].parse().unwrap(),
                f[cl].parse().unwrap(),
            )
        })
        .collect();
    let mut losses: Vec<f64> = rows.iter().map(|r| r.2).collect();
    losses.sort_by(|a, b| b.total_cmp(a));
    let kept: Vec<_> = rows.into_iter().filter(|r| r.2 < losses[4]).collect();
    let n: Vec<f64> = kept.iter().map(|r| r.0).collect();
    let c: Vec<f64> = kept.iter().map(|r| r.1).collect();
    let d: Vec<f64> = kept.iter().map(|r| r.1 / (6.0 * r.0)).collect();
    let l: Vec<f64> = kept.iter().map(|r| r.2).collect();
    Observations::new(n, d, c, l).expect("valid points")
}

fn main() {
    let obs = epoch_points();
    let raw = [0.6, 6.2, 7.7, 0.35, 0.37];
    let mut g = [0.0; 5];
    let robust = Robust::default();
    let reps = 100_000;
    let t = Instant::now();
    let mut s = 0.0;
    for _ in 0..reps {
        s += Chinchilla.objective(&raw, &obs, None, robust, &mut g);
    }
    println!(
        "chinchilla objective+gradient, {} points: {:?} per evaluation (simd {}; checksum {s:.6})",
        obs.len(),
        t.elapsed() / reps,
        scalelab_core::kernels::simd_level()
    );
    let generic = PowerLaw::new(Variable::N);
    let reps = 10_000;
    let t = Instant::now();
    for _ in 0..reps {
        s += generic.objective(&raw[..3], &obs, None, robust, &mut g[..3]);
    }
    println!(
        "power-n objective+gradient: {:?} per evaluation (checksum {s:.6})",
        t.elapsed() / reps
    );
}
