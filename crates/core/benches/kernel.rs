//! Time of one evaluation of the fitting objective (value and gradient) on
//! the Epoch AI Chinchilla points: the Chinchilla law's fused kernel and a
//! generic one-variable power law. `cargo bench -p scalelab-core --bench kernel`.

use scalelab_core::laws::{Chinchilla, Law, PowerLaw, Variable};
use scalelab_core::robust::Robust;
use std::time::Instant;

#[path = "../tests/epoch/mod.rs"]
mod epoch;

fn main() {
    let obs = epoch::points();
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
