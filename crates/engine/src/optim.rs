//! AdamW with decoupled weight decay, global-norm gradient clipping and the
//! learning-rate schedule, over the flat buffers of `model.rs`.

use crate::model::ParamLayout;
use crate::par::{for_chunks, simd, SyncPtr};
use crate::real::Real;
use serde::{Deserialize, Serialize};

/// AdamW hyper-parameters (PyTorch's semantics: decay `p ← p·(1 − lr·wd)`,
/// then the Adam update with bias correction).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AdamWConfig {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        AdamWConfig {
            beta1: 0.9,
            beta2: 0.95,
            eps: 1e-8,
            weight_decay: 0.1,
        }
    }
}

/// The global L2 norm of `grads`, accumulated in f64 per chunk and combined
/// in chunk order (deterministic for a given thread count).
pub fn grad_norm<T: Real>(grads: &[T], threads: usize) -> f64 {
    let chunks = threads.max(1);
    let mut partial = [0f64; 64];
    let chunks = chunks.min(partial.len());
    let pp = SyncPtr::new(partial.as_mut_ptr());
    for_chunks(grads.len(), chunks, |ch, range| {
        let s = simd(
            #[inline(always)]
            || {
                // f32 lanes summed in blocks of 1024, blocks summed in f64
                let mut total = 0f64;
                for block in grads[range].chunks(1024) {
                    // 16 partial sums so the loop vectorises
                    let mut acc = [T::ZERO; 16];
                    let mut chunks = block.chunks_exact(16);
                    for ch in &mut chunks {
                        for l in 0..16 {
                            acc[l] += ch[l] * ch[l];
                        }
                    }
                    for &g in chunks.remainder() {
                        total += (g * g).to_f64();
                    }
                    for a in acc {
                        total += a.to_f64();
                    }
                }
                total
            },
        );
        unsafe { *pp.get().add(ch) = s };
    });
    partial[..chunks].iter().sum::<f64>().sqrt()
}

/// PyTorch's `clip_grad_norm_` factor: `min(1, max_norm / (norm + 1e-6))`.
pub fn clip_factor(norm: f64, max_norm: f64) -> f64 {
    if max_norm > 0.0 {
        (max_norm / (norm + 1e-6)).min(1.0)
    } else {
        1.0
    }
}

/// One AdamW step (the `step`-th, counting from 1) on the flat buffers,
/// with gradients multiplied by `grad_scale` (the clipping factor) on the fly.
/// Weight decay applies to the tensors the layout marks `decay`.
///
/// `lr_mults` holds one learning-rate multiplier per layout tensor (μP's
/// per-layer rates, see [`crate::model::Parametrization::lr_mults`]), or is
/// empty for 1 everywhere. Tensor `i` steps with `lr · lr_mults[i]`, and its
/// weight decay is coupled to that rate (`p ← p·(1 − lr·lr_mults[i]·wd)`),
/// as PyTorch's AdamW does per parameter group.
#[allow(clippy::too_many_arguments)]
pub fn adamw_step<T: Real>(
    params: &mut [T],
    grads: &[T],
    m: &mut [T],
    v: &mut [T],
    layout: &ParamLayout,
    cfg: &AdamWConfig,
    lr: f64,
    lr_mults: &[f64],
    step: u64,
    grad_scale: f64,
    threads: usize,
) {
    assert!(
        lr_mults.is_empty() || lr_mults.len() == layout.tensors.len(),
        "one learning-rate multiplier per tensor"
    );
    let bc1 = 1.0 - cfg.beta1.powi(step as i32);
    let bc2 = 1.0 - cfg.beta2.powi(step as i32);
    let inv_bc2_sqrt = T::from_f64(1.0 / bc2.sqrt());
    let b1 = T::from_f64(cfg.beta1);
    let b2 = T::from_f64(cfg.beta2);
    let one_m_b1 = T::from_f64(1.0 - cfg.beta1);
    let one_m_b2 = T::from_f64(1.0 - cfg.beta2);
    let eps = T::from_f64(cfg.eps);
    let gs = T::from_f64(grad_scale);
    let pp = SyncPtr::new(params.as_mut_ptr());
    let pm = SyncPtr::new(m.as_mut_ptr());
    let pv = SyncPtr::new(v.as_mut_ptr());
    for (ti, spec) in layout.tensors.iter().enumerate() {
        let lr = lr * lr_mults.get(ti).copied().unwrap_or(1.0);
        let step_size = T::from_f64(lr / bc1);
        let decay = T::from_f64(if spec.decay {
            1.0 - lr * cfg.weight_decay
        } else {
            1.0
        });
        let off = spec.offset;
        for_chunks(spec.len(), threads, |_, r| {
            simd(
                #[inline(always)]
                || {
                    let start = off + r.start;
                    let len = r.len();
                    let p = unsafe { std::slice::from_raw_parts_mut(pp.get().add(start), len) };
                    let m = unsafe { std::slice::from_raw_parts_mut(pm.get().add(start), len) };
                    let v = unsafe { std::slice::from_raw_parts_mut(pv.get().add(start), len) };
                    let g = &grads[start..start + len];
                    for i in 0..len {
                        let gi = g[i] * gs;
                        let mi = b1 * m[i] + one_m_b1 * gi;
                        let vi = b2 * v[i] + one_m_b2 * gi * gi;
                        m[i] = mi;
                        v[i] = vi;
                        let denom = vi.sqrt() * inv_bc2_sqrt + eps;
                        p[i] = p[i] * decay - step_size * mi / denom;
                    }
                },
            )
        });
    }
}

/// The shape of a learning-rate schedule after its linear warm-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScheduleKind {
    /// Cosine decay from the peak to `min_ratio · peak` over every step
    /// after the warm-up (the default).
    #[default]
    Cosine,
    /// Warmup–stable–decay: the peak until the last `decay_fraction` of the
    /// steps, then a decay of `decay_shape` to `min_ratio · peak`.
    Wsd,
    /// The peak after the warm-up, never decayed: the stable phase of a WSD
    /// run (what a sweep's cooldown parents train with).
    Constant,
}

impl ScheduleKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ScheduleKind::Cosine => "cosine",
            ScheduleKind::Wsd => "wsd",
            ScheduleKind::Constant => "constant",
        }
    }
}

/// The shape of a WSD run's decay, as a function of the decay progress
/// `p` ∈ [0, 1]: `lr = min + (peak − min) · g(p)` with `g` = `1 − p`
/// (`linear`), `(1 + cos(π p)) / 2` (`cosine`) or `1 − √p` (`1-sqrt`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum DecayShape {
    #[serde(rename = "linear")]
    Linear,
    #[serde(rename = "cosine")]
    Cosine,
    #[default]
    #[serde(rename = "1-sqrt")]
    OneMinusSqrt,
}

impl DecayShape {
    pub fn as_str(self) -> &'static str {
        match self {
            DecayShape::Linear => "linear",
            DecayShape::Cosine => "cosine",
            DecayShape::OneMinusSqrt => "1-sqrt",
        }
    }

    /// `g(p)`: 1 at the start of the decay, 0 at its end.
    pub fn factor(self, p: f64) -> f64 {
        let p = p.clamp(0.0, 1.0);
        match self {
            DecayShape::Linear => 1.0 - p,
            DecayShape::Cosine => 0.5 * (1.0 + (std::f64::consts::PI * p).cos()),
            DecayShape::OneMinusSqrt => 1.0 - p.sqrt(),
        }
    }
}

/// Steps of a WSD run's decay: `round(fraction · total)`, at least 1 and at
/// most `total`.
pub fn wsd_decay_steps(total: u64, fraction: f64) -> u64 {
    ((fraction * total as f64).round() as u64).clamp(1, total.max(1))
}

/// Linear warm-up, then a cosine decay, a WSD stable phase and decay, or a
/// constant rate.
///
/// `step` counts from 0. During warm-up (`step < warmup`) the rate is
/// `peak · (step + 1) / warmup`. Then:
///
/// * cosine: `min + (peak − min) · (1 + cos(π · p)) / 2` with
///   `p = (step − warmup) / (total − warmup − 1)`, reaching `min` at the last
///   step;
/// * WSD: `peak` until step `total − K` (`K` = [`wsd_decay_steps`]), then
///   `min + (peak − min) · g(p)` with `p = (step − (total − K)) / (K − 1)`
///   and `g` the [`DecayShape`]: the first decay step is at the peak, the
///   last at `min`;
/// * constant: `peak`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LrSchedule {
    pub peak: f64,
    pub min_ratio: f64,
    pub warmup: u64,
    pub total: u64,
    #[serde(default)]
    pub kind: ScheduleKind,
    /// WSD only: the fraction of the steps that decay.
    #[serde(default = "d_decay_fraction")]
    pub decay_fraction: f64,
    /// WSD only.
    #[serde(default)]
    pub decay_shape: DecayShape,
}

fn d_decay_fraction() -> f64 {
    0.2
}

impl LrSchedule {
    /// The cosine schedule.
    pub fn cosine(peak: f64, min_ratio: f64, warmup: u64, total: u64) -> Self {
        LrSchedule {
            peak,
            min_ratio,
            warmup,
            total,
            kind: ScheduleKind::Cosine,
            decay_fraction: d_decay_fraction(),
            decay_shape: DecayShape::default(),
        }
    }

    /// The step at which a WSD run's decay starts (`total` for the other
    /// kinds).
    pub fn decay_start(&self) -> u64 {
        match self.kind {
            ScheduleKind::Wsd => self.total - wsd_decay_steps(self.total, self.decay_fraction),
            _ => self.total,
        }
    }

    pub fn lr(&self, step: u64) -> f64 {
        if step < self.warmup {
            return self.peak * (step + 1) as f64 / self.warmup as f64;
        }
        let min = self.peak * self.min_ratio;
        match self.kind {
            ScheduleKind::Cosine => {
                let span = self.total.saturating_sub(self.warmup + 1).max(1) as f64;
                let p = ((step - self.warmup) as f64 / span).min(1.0);
                min + (self.peak - min) * 0.5 * (1.0 + (std::f64::consts::PI * p).cos())
            }
            ScheduleKind::Constant => self.peak,
            ScheduleKind::Wsd => {
                let k = wsd_decay_steps(self.total, self.decay_fraction);
                let start = self.total - k;
                if step < start {
                    return self.peak;
                }
                let span = k.saturating_sub(1).max(1) as f64;
                let p = ((step - start) as f64 / span).min(1.0);
                min + (self.peak - min) * self.decay_shape.factor(p)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_warms_up_then_decays_to_ten_percent() {
        let s = LrSchedule::cosine(1e-3, 0.1, 10, 110);
        assert!((s.lr(0) - 1e-4).abs() < 1e-15);
        assert!((s.lr(9) - 1e-3).abs() < 1e-15);
        assert!((s.lr(10) - 1e-3).abs() < 1e-15);
        assert!((s.lr(109) - 1e-4).abs() < 1e-15);
        let mid = s.lr(10 + 99 / 2);
        assert!(mid < 1e-3 && mid > 1e-4);
        for i in 10..109 {
            assert!(s.lr(i + 1) <= s.lr(i));
        }
    }

    fn wsd(shape: DecayShape, warmup: u64, total: u64) -> LrSchedule {
        LrSchedule {
            kind: ScheduleKind::Wsd,
            decay_fraction: 0.2,
            decay_shape: shape,
            ..LrSchedule::cosine(1e-3, 0.1, warmup, total)
        }
    }

    #[test]
    fn every_wsd_shape_warms_up_holds_then_decays_to_the_floor() {
        for shape in [
            DecayShape::Linear,
            DecayShape::Cosine,
            DecayShape::OneMinusSqrt,
        ] {
            let s = wsd(shape, 10, 110);
            // 20% of 110 steps decay: steps 88..110
            assert_eq!(s.decay_start(), 88, "{shape:?}");
            assert!((s.lr(0) - 1e-4).abs() < 1e-15);
            assert!((s.lr(9) - 1e-3).abs() < 1e-15);
            for i in 10..88 {
                assert_eq!(s.lr(i), 1e-3, "{shape:?} step {i} is stable");
            }
            // continuity at the decay boundary: the first decay step is the peak
            assert!((s.lr(88) - 1e-3).abs() < 1e-15, "{shape:?}");
            // the end is the floor
            assert!((s.lr(109) - 1e-4).abs() < 1e-15, "{shape:?}: {}", s.lr(109));
            for i in 0..109 {
                assert!(s.lr(i + 1) <= s.lr(i) || i < 9, "{shape:?}: step {i}");
            }
            // no jump larger than one step's share of the decay (for 1-sqrt
            // the first step is the steepest: 1 - sqrt(1/21) of the range)
            let biggest = (88..109).map(|i| s.lr(i) - s.lr(i + 1)).fold(0.0, f64::max);
            assert!(biggest < 0.25 * 9e-4, "{shape:?}: jump {biggest}");
        }
    }

    #[test]
    fn wsd_shapes_follow_their_formulas_mid_decay() {
        // 22 decay steps from step 88: p = (step − 88) / 21
        let p: f64 = 5.0 / 21.0;
        for (shape, g) in [
            (DecayShape::Linear, 1.0 - p),
            (
                DecayShape::Cosine,
                0.5 * (1.0 + (std::f64::consts::PI * p).cos()),
            ),
            (DecayShape::OneMinusSqrt, 1.0 - p.sqrt()),
        ] {
            let s = wsd(shape, 10, 110);
            let want = 1e-4 + 9e-4 * g;
            assert!((s.lr(93) - want).abs() < 1e-15, "{shape:?}");
        }
    }

    #[test]
    fn a_shorter_wsd_run_matches_a_longer_one_until_its_decay() {
        let long = wsd(DecayShape::OneMinusSqrt, 10, 400);
        let short = wsd(DecayShape::OneMinusSqrt, 10, 100);
        let stable = LrSchedule {
            kind: ScheduleKind::Constant,
            ..long
        };
        for i in 0..short.decay_start() {
            assert_eq!(short.lr(i), long.lr(i));
            assert_eq!(short.lr(i), stable.lr(i));
        }
        assert!(short.lr(short.decay_start() + 1) < long.lr(short.decay_start() + 1));
    }

    #[test]
    fn clip_factor_matches_pytorch_rule() {
        assert_eq!(clip_factor(0.5, 1.0), 1.0);
        assert!((clip_factor(4.0, 1.0) - 1.0 / (4.0 + 1e-6)).abs() < 1e-15);
        assert_eq!(clip_factor(4.0, 0.0), 1.0);
    }
}
