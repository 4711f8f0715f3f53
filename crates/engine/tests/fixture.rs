//! The engine against a PyTorch reference: weights, inputs, logits, loss,
//! every gradient and the parameters after one clipped AdamW step, written by
//! `python3 bench/pytorch_reference.py fixture` in float64 (and, under μP,
//! by `... fixture --mup`).
//!
//! Tolerances: the f64 engine must agree to 1e-9 relative to the largest
//! magnitude of each tensor (it uses exact exp/tanh, so only summation order
//! differs); the f32 engine to 2e-4 for activations and gradients and 5e-5
//! absolute (0.5% of the learning rate 1e-2) for parameters after the step:
//! Adam's first step is about lr·sign(g), so f32 rounding of tiny gradients
//! moves it most (f32 rounding of a two-layer model plus the polynomial
//! exp/tanh).

use safetensors::SafeTensors;
use scalelab_core::accounting::GptShape;
use scalelab_engine::model::{Gpt, Parametrization, TENSOR_NAMES};
use scalelab_engine::optim::{adamw_step, clip_factor, grad_norm, AdamWConfig};
use scalelab_engine::real::Real;

struct Fixture {
    bytes: Vec<u8>,
}

impl Fixture {
    fn load() -> Self {
        Self::load_file("gpt_fixture.safetensors")
    }
    fn load_file(file: &str) -> Self {
        let path = format!("{}/tests/data/{file}", env!("CARGO_MANIFEST_DIR"));
        Fixture {
            bytes: std::fs::read(path).expect(
                "fixture file (regenerate with bench/pytorch_reference.py fixture [--mup])",
            ),
        }
    }
    /// The fixture's parametrisation: μP when it records a base width.
    fn parametrization(&self) -> Parametrization {
        let (_, m) = SafeTensors::read_metadata(&self.bytes).unwrap();
        let m = m.metadata().as_ref().unwrap();
        match (m.get("mup_base_width"), m.get("mup_base_head_dim")) {
            (Some(w), Some(h)) => Parametrization::Mup {
                base_width: w.parse().unwrap(),
                base_head_dim: h.parse().unwrap(),
            },
            _ => Parametrization::Standard,
        }
    }
    fn st(&self) -> SafeTensors<'_> {
        SafeTensors::deserialize(&self.bytes).unwrap()
    }
    fn f64s(&self, name: &str) -> Vec<f64> {
        let st = self.st();
        let t = st.tensor(name).unwrap_or_else(|_| panic!("tensor {name}"));
        assert_eq!(t.dtype(), safetensors::Dtype::F64, "{name}");
        t.data()
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().unwrap()))
            .collect()
    }
    fn i32s(&self, name: &str) -> Vec<u32> {
        let st = self.st();
        let t = st.tensor(name).unwrap();
        t.data()
            .chunks_exact(4)
            .map(|b| i32::from_le_bytes(b.try_into().unwrap()) as u32)
            .collect()
    }
    fn meta(&self, key: &str) -> f64 {
        let (_, m) = SafeTensors::read_metadata(&self.bytes).unwrap();
        m.metadata().as_ref().unwrap()[key].parse().unwrap()
    }
}

/// max |a − b| / max(max |b|, tiny)
fn rel_err(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(0f64, |m, x| m.max(x.abs())).max(1e-30);
    a.iter().zip(b).fold(0f64, |m, (x, y)| m.max((x - y).abs())) / scale
}

fn run<T: Real>(fx: &Fixture, tol_act: f64, tol_step: f64) {
    let shape = GptShape::new(
        fx.meta("n_layer") as usize,
        fx.meta("d_model") as usize,
        fx.meta("n_head") as usize,
        fx.meta("context") as usize,
        fx.meta("vocab") as usize,
    );
    let (b, t) = (fx.meta("batch") as usize, fx.meta("seq") as usize);
    for threads in [1, 3] {
        let par = fx.parametrization();
        let mut gpt = Gpt::<T>::with_parametrization(shape, par, 0, threads);
        let lr_mults = par.lr_mults(shape.d_model);
        for name in TENSOR_NAMES {
            let src = fx.f64s(&format!("param.{name}"));
            let spec = gpt.layout.get(name).unwrap().clone();
            assert_eq!(src.len(), spec.len(), "{name}");
            for (d, s) in gpt.params[spec.range()].iter_mut().zip(&src) {
                *d = T::from_f64(*s);
            }
        }
        gpt.ensure_activations(b, t);
        {
            let (tok, tgt) = gpt.io_buffers();
            tok.copy_from_slice(&fx.i32s("tokens"));
            tgt.copy_from_slice(&fx.i32s("targets"));
        }
        let loss_eval = gpt.forward(false);
        let logits: Vec<f64> = (0..b * t)
            .flat_map(|i| gpt.logits_row(i).iter().map(|x| x.to_f64()))
            .collect();
        let e = rel_err(&logits, &fx.f64s("logits"));
        assert!(e < tol_act, "logits rel err {e} ({} threads)", threads);
        let ref_loss = fx.f64s("loss")[0];
        assert!(
            (loss_eval - ref_loss).abs() / ref_loss < tol_act,
            "loss {loss_eval} vs {ref_loss}"
        );

        let loss = gpt.forward(true);
        assert_eq!(
            loss.to_bits(),
            loss_eval.to_bits(),
            "training and eval forward agree"
        );
        gpt.backward();
        for name in TENSOR_NAMES {
            let spec = gpt.layout.get(name).unwrap();
            let g: Vec<f64> = gpt.grads[spec.range()].iter().map(|x| x.to_f64()).collect();
            let e = rel_err(&g, &fx.f64s(&format!("grad.{name}")));
            assert!(e < tol_act, "grad {name}: rel err {e} ({threads} threads)");
        }
        let norm = grad_norm(&gpt.grads, threads);
        let ref_norm = fx.f64s("grad_norm")[0];
        assert!(
            (norm - ref_norm).abs() / ref_norm < tol_act,
            "grad norm {norm} vs {ref_norm}"
        );

        let cfg = AdamWConfig {
            beta1: fx.meta("beta1"),
            beta2: fx.meta("beta2"),
            eps: fx.meta("eps"),
            weight_decay: fx.meta("weight_decay"),
        };
        let clip = clip_factor(norm, fx.meta("grad_clip"));
        assert!(clip < 1.0, "the fixture exercises clipping");
        let n = gpt.layout.total;
        let (mut m, mut v) = (vec![T::ZERO; n], vec![T::ZERO; n]);
        let grads = gpt.grads.clone();
        adamw_step(
            &mut gpt.params,
            &grads,
            &mut m,
            &mut v,
            &gpt.layout,
            &cfg,
            fx.meta("lr"),
            &lr_mults,
            1,
            clip,
            threads,
        );
        for name in TENSOR_NAMES {
            let spec = gpt.layout.get(name).unwrap();
            let p: Vec<f64> = gpt.params[spec.range()]
                .iter()
                .map(|x| x.to_f64())
                .collect();
            let r = fx.f64s(&format!("adamw.{name}"));
            let e = p
                .iter()
                .zip(&r)
                .fold(0f64, |m, (x, y)| m.max((x - y).abs()));
            assert!(e < tol_step, "after AdamW {name}: abs err {e}");
        }
    }
}

#[test]
fn fixture_matches_pytorch_in_f64() {
    run::<f64>(&Fixture::load(), 1e-9, 1e-12);
}

#[test]
fn fixture_matches_pytorch_in_f32() {
    run::<f32>(&Fixture::load(), 2e-4, 5e-5);
}

/// μP at width 16 against base width 4 and base head dimension 2 (every μP
/// factor differs from 1), written by
/// `python3 bench/pytorch_reference.py fixture --mup`.
fn mup_fixture() -> Fixture {
    let fx = Fixture::load_file("gpt_mup_fixture.safetensors");
    assert_eq!(
        fx.parametrization(),
        Parametrization::Mup {
            base_width: 4,
            base_head_dim: 2
        }
    );
    fx
}

#[test]
fn mup_fixture_matches_pytorch_in_f64() {
    run::<f64>(&mup_fixture(), 1e-9, 1e-12);
}

#[test]
fn mup_fixture_matches_pytorch_in_f32() {
    run::<f32>(&mup_fixture(), 2e-4, 5e-5);
}
