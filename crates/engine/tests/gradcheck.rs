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
    // batch 2: 2 threads split the batch into replicas, 4 threads split
    // every operation instead; both must agree with 1 thread.
    let run = |threads: usize| {
        let mut g = model(threads);
        let loss = g.forward(true);
        g.backward();
        (loss, g.grads)
    };
    let (la, ga) = run(1);
    let (lb, gb) = run(1);
    assert_eq!(la.to_bits(), lb.to_bits());
    assert!(ga.iter().zip(&gb).all(|(x, y)| x.to_bits() == y.to_bits()));
    for threads in [2, 4] {
        let (lc, gc) = run(threads);
        let (ld, gd) = run(threads);
        assert_eq!(
            lc.to_bits(),
            ld.to_bits(),
            "{threads} threads: loss repeats"
        );
        assert!(gc.iter().zip(&gd).all(|(x, y)| x.to_bits() == y.to_bits()));
        assert!(
            (la - lc).abs() < 1e-12,
            "{threads} threads: loss {lc} vs {la}"
        );
        let e = ga
            .iter()
            .zip(&gc)
            .fold(0f64, |m, (x, y)| m.max((x - y).abs()));
        assert!(e < 1e-12, "1 vs {threads} threads differ by {e}");
        let gmax = ga.iter().fold(0f64, |m, x| m.max(x.abs()));
        assert!(gmax > 1e-3);
    }
}

#[test]
fn replicas_split_the_batch_when_it_has_a_sequence_per_thread() {
    assert_eq!(model(1).activations().len(), 1);
    assert_eq!(model(2).activations().len(), 2);
    assert_eq!(model(4).activations().len(), 1, "batch 2 < 4 threads");
}

#[test]
fn activation_size_estimate_matches_the_allocation() {
    for threads in [1, 2, 3] {
        let gpt = model(threads);
        let est = Gpt::<f64>::activation_bytes_for(&gpt.shape, 2, 70, threads);
        assert_eq!(est, gpt.activation_bytes() as u128, "{threads} threads");
    }
}
