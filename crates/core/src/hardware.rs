//! Hardware translation: FLOPs to wall-clock time and accelerator-hours, and
//! the memory a training run needs.
//!
//! * Time: `C / (count · peak · MFU)` with `peak` the accelerator's dense
//!   BF16/FP16 tensor throughput and MFU the model-FLOPs utilisation.
//! * Memory of model states with mixed-precision AdamW: 2 bytes of BF16
//!   weights, 2 of BF16 gradients and 12 of FP32 optimiser state (master
//!   weights, first and second moments) per parameter, 16 in all
//!   (Rajbhandari et al. 2020, ZeRO).
//! * Activations: Korthikanti et al. (2022), per layer and without
//!   recomputation, `s·b·h·(34 + 5·a·s/h)` bytes for sequence length `s`,
//!   micro-batch `b`, width `h` and `a` heads.
//! * The minimum number of accelerators assumes the model states are sharded
//!   evenly (ZeRO stage 3 / FSDP) and each accelerator holds the activations
//!   of its own micro-batch.

use crate::accounting::GptShape;
use serde::Serialize;

/// A known accelerator.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Accelerator {
    pub name: &'static str,
    /// Peak dense BF16/FP16 tensor throughput, FLOP/s.
    pub peak_flops: f64,
    /// Memory in bytes.
    pub memory_bytes: f64,
}

const GB: f64 = 1e9;

/// Known accelerators: vendor datasheet dense (not sparse) BF16/FP16 tensor
/// peaks and memory sizes.
pub const ACCELERATORS: &[Accelerator] = &[
    Accelerator {
        name: "V100",
        peak_flops: 125e12,
        memory_bytes: 32.0 * GB,
    },
    Accelerator {
        name: "A100-40GB",
        peak_flops: 312e12,
        memory_bytes: 40.0 * GB,
    },
    Accelerator {
        name: "A100",
        peak_flops: 312e12,
        memory_bytes: 80.0 * GB,
    },
    Accelerator {
        name: "H100",
        peak_flops: 989e12,
        memory_bytes: 80.0 * GB,
    },
    Accelerator {
        name: "H100-PCIe",
        peak_flops: 756e12,
        memory_bytes: 80.0 * GB,
    },
    Accelerator {
        name: "H200",
        peak_flops: 989e12,
        memory_bytes: 141.0 * GB,
    },
    Accelerator {
        name: "MI300X",
        peak_flops: 1307e12,
        memory_bytes: 192.0 * GB,
    },
    Accelerator {
        name: "TPUv4",
        peak_flops: 275e12,
        memory_bytes: 32.0 * GB,
    },
    Accelerator {
        name: "TPUv5p",
        peak_flops: 459e12,
        memory_bytes: 95.0 * GB,
    },
];

/// Looks an accelerator up by name (case-insensitive), or parses a number as
/// its peak FLOP/s (memory then unknown: 0).
pub fn accelerator(spec: &str) -> Result<Accelerator, String> {
    if let Some(a) = ACCELERATORS
        .iter()
        .find(|a| a.name.eq_ignore_ascii_case(spec.trim()))
    {
        return Ok(*a);
    }
    match spec.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(Accelerator {
            name: "custom",
            peak_flops: v,
            memory_bytes: 0.0,
        }),
        _ => Err(format!(
            "unknown accelerator `{spec}`: give one of {} or a peak FLOP/s number such as 989e12",
            ACCELERATORS
                .iter()
                .map(|a| a.name)
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// Wall-clock time of a training run.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct TrainingTime {
    pub seconds: f64,
    pub days: f64,
    pub accelerator_hours: f64,
}

/// Time to spend `flops` on `count` accelerators at `mfu` utilisation.
pub fn training_time(
    flops: f64,
    acc: &Accelerator,
    count: f64,
    mfu: f64,
) -> Result<TrainingTime, String> {
    if !(mfu > 0.0 && mfu <= 1.0) {
        return Err(format!("MFU must be in (0, 1], got {mfu}"));
    }
    if !(count >= 1.0 && count.is_finite()) {
        return Err(format!(
            "the accelerator count must be at least 1, got {count}"
        ));
    }
    if !(flops > 0.0 && flops.is_finite()) {
        return Err(format!("FLOPs must be positive, got {flops}"));
    }
    let seconds = flops / (count * acc.peak_flops * mfu);
    Ok(TrainingTime {
        seconds,
        days: seconds / 86400.0,
        accelerator_hours: seconds * count / 3600.0,
    })
}

/// Memory of a training run, in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct TrainingMemory {
    pub weights: f64,
    pub gradients: f64,
    pub optimizer: f64,
    /// Activations of one micro-batch (per accelerator), no recomputation.
    pub activations: f64,
    /// Activations with full recomputation: only each layer's input is kept,
    /// `2·s·b·h` bytes per layer (Korthikanti et al. 2022).
    pub activations_recompute: f64,
    /// Weights + gradients + optimiser state (shardable).
    pub states: f64,
}

/// Bytes per parameter: BF16 weights and gradients, FP32 AdamW state.
pub const BYTES_WEIGHTS: f64 = 2.0;
pub const BYTES_GRADIENTS: f64 = 2.0;
pub const BYTES_ADAMW: f64 = 12.0;

/// Memory of training a model with `params` parameters (all of them,
/// embeddings included) and `shape`, with `micro_batch` sequences of the
/// shape's context per accelerator.
pub fn training_memory(params: f64, shape: &GptShape, micro_batch: f64) -> TrainingMemory {
    let s = shape.context as f64;
    let h = shape.d_model as f64;
    let a = shape.n_head as f64;
    let l = shape.n_layer as f64;
    let activations = l * s * micro_batch * h * (34.0 + 5.0 * a * s / h);
    let weights = BYTES_WEIGHTS * params;
    let gradients = BYTES_GRADIENTS * params;
    let optimizer = BYTES_ADAMW * params;
    TrainingMemory {
        weights,
        gradients,
        optimizer,
        activations,
        activations_recompute: 2.0 * l * s * micro_batch * h,
        states: weights + gradients + optimizer,
    }
}

/// The fewest accelerators of `memory_bytes` each that hold the sharded
/// states plus one micro-batch of activations each (`recompute`: with full
/// activation recomputation); `None` when one micro-batch's activations
/// alone do not fit.
pub fn min_accelerators(mem: &TrainingMemory, memory_bytes: f64, recompute: bool) -> Option<u64> {
    let act = if recompute {
        mem.activations_recompute
    } else {
        mem.activations
    };
    let free = memory_bytes - act;
    if free.is_nan() || free <= 0.0 {
        return None;
    }
    Some((mem.states / free).ceil().max(1.0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_and_hours() {
        let h100 = accelerator("h100").unwrap();
        let t = training_time(989e12 * 0.5 * 3600.0 * 8.0, &h100, 8.0, 0.5).unwrap();
        assert!((t.seconds - 3600.0).abs() < 1e-9);
        assert!((t.accelerator_hours - 8.0).abs() < 1e-9);
        assert!(accelerator("Z80").unwrap_err().contains("H100"));
        assert_eq!(accelerator("1e15").unwrap().peak_flops, 1e15);
        assert!(training_time(1e20, &h100, 1.0, 1.5).is_err());
    }

    #[test]
    fn memory_counts() {
        // 1e9 parameters: 16 GB of states.
        let shape = GptShape::new(2, 64, 2, 128, 100);
        let m = training_memory(1e9, &shape, 1.0);
        assert_eq!(m.states, 16e9);
        // 2 layers · 128 · 64 · (34 + 5·2·128/64) = 2·128·64·54
        assert_eq!(m.activations, 2.0 * 128.0 * 64.0 * 54.0);
        assert_eq!(min_accelerators(&m, 80e9, false), Some(1));
        assert_eq!(min_accelerators(&m, 4e9, false), Some(5));
        assert_eq!(m.activations_recompute, 2.0 * 2.0 * 128.0 * 64.0);
        assert_eq!(min_accelerators(&m, 884_000.0, false), None);
        assert!(min_accelerators(&m, 2e9, true).is_some());
    }
}
