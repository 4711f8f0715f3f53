//! Finite-difference gradient checks in f64 for every parameter tensor, which
//! covers every layer's backward (embedding, LayerNorm, linear, attention,
//! GELU, tied head, cross-entropy): a wrong input gradient anywhere shows up
//! in the tensors upstream of it.

use rand::{Rng, SeedableRng};
use scalelab_core::accounting::GptShape;
use scalelab_engine::model::{Gpt, TENSOR_NAMES};

fn model(threads: usize) -> Gpt<f64> {
    // context 70 > 64 exercises the blocked causal attention across blocks
    let shape = GptShape {
        d_ff: 20,
        ..GptShape::new(2, 12, 3, 70, 11)
    };
    let mut gpt = Gpt::<f64>::new(shape, 7, threads);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(99);
    // Larger, nonzero weights everywhere so no path is trivially small.
    for p in gpt.params.iter_mut() {
        *p += rng.gen_range(-0.3..0.3);
    }
    gpt.ensure_activations(2, 70);
    let (tok, tgt) = gpt.io_buffers();
    for x in tok.iter_mut().chain(tgt.iter_mut()) {
        *x = rng.gen_range(0..11);
    }
    gpt
}

#[test]
fn finite_differences_match_backward_for_every_tensor() {
    let mut gpt = model(2);
    gpt.forward(true);
    gpt.backward();
    let grads = gpt.grads.clone();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    let h = 1e-5;
    for name in TENSOR_NAMES {
        let spec = gpt.layout.get(name).unwrap().clone();
        let mut worst = 0f64;
        for _ in 0..12 {
            let i = spec.offset + rng.gen_range(0..spec.len());
            let orig = gpt.params[i];
            gpt.params[i] = orig + h;
            let lp = gpt.forward(false);
            gpt.params[i] = orig - h;
            let lm = gpt.forward(false);
            gpt.params[i] = orig;
            let fd = (lp - lm) / (2.0 * h);
            let err = (fd - grads[i]).abs() / (fd.abs().max(grads[i].abs()).max(1e-4)); // floor: k-bias grads are exactly 0
            worst = worst.max(err);
        }
        assert!(worst < 1e-5, "{name}: worst relative error {worst}");
        // The gradient is not trivially zero.
        let gmax = grads[spec.range()].iter().fold(0f64, |m, g| m.max(g.abs()));
        assert!(gmax > 1e-6, "{name}: gradient vanishes ({gmax})");
    }
}

#[test]
fn results_are_identical_for_a_thread_count_and_close_across_counts() {
    let mut a = model(1);
    let mut b = model(1);
    let mut c = model(4);
    let la = a.forward(true);
    a.backward();
    let lb = b.forward(true);
    b.backward();
    let lc = c.forward(true);
    c.backward();
    assert_eq!(la.to_bits(), lb.to_bits());
    assert!(a
        .grads
        .iter()
        .zip(&b.grads)
        .all(|(x, y)| x.to_bits() == y.to_bits()));
    assert!((la - lc).abs() < 1e-12);
    let e = a
        .grads
        .iter()
        .zip(&c.grads)
        .fold(0f64, |m, (x, y)| m.max((x - y).abs()));
    assert!(e < 1e-12, "1 vs 4 threads differ by {e}");
}

#[test]
fn activation_size_estimate_matches_the_allocation() {
    use scalelab_engine::model::Activations;
    for threads in [1, 3] {
        let gpt = model(threads);
        let a = gpt.activations().unwrap();
        let est = Activations::<f64>::bytes_for(&gpt.shape, a.batch, a.seq, threads);
        assert_eq!(est, a.bytes() as u128);
    }
}
