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
#[allow(clippy::too_many_arguments)]
pub fn adamw_step<T: Real>(
    params: &mut [T],
    grads: &[T],
    m: &mut [T],
    v: &mut [T],
    layout: &ParamLayout,
    cfg: &AdamWConfig,
    lr: f64,
    step: u64,
    grad_scale: f64,
    threads: usize,
) {
    let bc1 = 1.0 - cfg.beta1.powi(step as i32);
    let bc2 = 1.0 - cfg.beta2.powi(step as i32);
    let step_size = T::from_f64(lr / bc1);
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
    for spec in &layout.tensors {
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

/// Linear warm-up then cosine decay to `min_ratio · peak`.
///
/// `step` counts from 0. During warm-up (`step < warmup`) the rate is
/// `peak · (step + 1) / warmup`; afterwards it follows
/// `min + (peak − min) · (1 + cos(π · p)) / 2` with
/// `p = (step − warmup) / (total − warmup)`, reaching `min` at the last step
/// when the decay length equals the run's token budget in steps.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LrSchedule {
    pub peak: f64,
    pub min_ratio: f64,
    pub warmup: u64,
    pub total: u64,
}

impl LrSchedule {
    pub fn lr(&self, step: u64) -> f64 {
        if step < self.warmup {
            return self.peak * (step + 1) as f64 / self.warmup as f64;
        }
        let min = self.peak * self.min_ratio;
        let span = self.total.saturating_sub(self.warmup + 1).max(1) as f64;
        let p = ((step - self.warmup) as f64 / span).min(1.0);
        min + (self.peak - min) * 0.5 * (1.0 + (std::f64::consts::PI * p).cos())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_warms_up_then_decays_to_ten_percent() {
        let s = LrSchedule {
            peak: 1e-3,
            min_ratio: 0.1,
            warmup: 10,
            total: 110,
        };
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

    #[test]
    fn clip_factor_matches_pytorch_rule() {
        assert_eq!(clip_factor(0.5, 1.0), 1.0);
        assert!((clip_factor(4.0, 1.0) - 1.0 / (4.0 + 1e-6)).abs() < 1e-15);
        assert_eq!(clip_factor(4.0, 0.0), 1.0);
    }
}
