//! Checkpoints: one safetensors file per run directory holding the
//! parameters (one tensor per layout entry, named as in `model.rs`), AdamW's
//! moments (`adam_m.<name>`, `adam_v.<name>`) and metadata (format, step,
//! the run's configuration as JSON, and `checksum`). Written atomically: a temporary file in
//! the same directory is written, fsynced and renamed over the old
//! checkpoint, and the directory is fsynced, so a kill at any moment leaves
//! either the old or the new checkpoint, never a torn one.
//!
//! The `checksum` metadata entry is a 64-bit FNV-1a hash (16 hex digits) of
//! the step, the configuration JSON and every tensor's bytes in the order
//! they are written (parameters, then `adam_m.*`, then `adam_v.*`, each in
//! layout order). [`load`] recomputes it and refuses a checkpoint whose
//! contents changed ("checksum mismatch: the checkpoint is corrupt"), so a
//! flipped bit on disk never resumes silently. Checkpoints written before the
//! checksum existed have no `checksum` entry and load unverified.

use crate::error::{EngineError, Result};
use crate::model::ParamLayout;
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// File name of the checkpoint inside a run directory.
pub const CHECKPOINT_FILE: &str = "checkpoint.safetensors";
const FORMAT: &str = "scalelab-engine-checkpoint-v1";

/// What a checkpoint restores.
#[derive(Debug, Clone)]
pub struct CheckpointState {
    /// Completed optimiser steps.
    pub step: u64,
    /// The run's `TrainConfig` as JSON.
    pub config_json: String,
    pub params: Vec<f32>,
    pub adam_m: Vec<f32>,
    pub adam_v: Vec<f32>,
}

/// The checkpoint path inside `run_dir`.
pub fn path_in(run_dir: &Path) -> PathBuf {
    run_dir.join(CHECKPOINT_FILE)
}

/// The checkpoint a run keeps after `step` (`keep_checkpoints`): a file of
/// its own that later checkpoints never overwrite.
pub fn kept_path_in(run_dir: &Path, step: u64) -> PathBuf {
    run_dir.join(format!("checkpoint-step{step}.safetensors"))
}

/// 64-bit FNV-1a, written out so checkpoints need no hashing dependency.
#[derive(Clone, Copy)]
struct Fnv1a(u64);

impl Fnv1a {
    fn new() -> Self {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }
    fn update(&mut self, bytes: &[u8]) {
        let mut h = self.0;
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        self.0 = h;
    }
    fn hex(self) -> String {
        format!("{:016x}", self.0)
    }
}

/// The hash of the step and configuration, to which the tensors' bytes are
/// then added in file order.
fn checksum_start(step: u64, config_json: &str) -> Fnv1a {
    let mut h = Fnv1a::new();
    h.update(&step.to_le_bytes());
    h.update(config_json.as_bytes());
    h
}

fn to_bytes(x: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(x.len() * 4);
    for v in x {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// Writes `state` to `path` atomically.
pub fn save(path: &Path, layout: &ParamLayout, state: &CheckpointState) -> Result<()> {
    let bufs = [
        to_bytes(&state.params),
        to_bytes(&state.adam_m),
        to_bytes(&state.adam_v),
    ];
    let mut views = Vec::with_capacity(3 * layout.tensors.len());
    let mut hash = checksum_start(state.step, &state.config_json);
    for (prefix, buf) in ["", "adam_m.", "adam_v."].iter().zip(&bufs) {
        for t in &layout.tensors {
            let bytes = &buf[t.offset * 4..(t.offset + t.len()) * 4];
            hash.update(bytes);
            let view = TensorView::new(Dtype::F32, t.shape.clone(), bytes)
                .map_err(|e| EngineError::Checkpoint(format!("{e:?}")))?;
            views.push((format!("{prefix}{}", t.name), view));
        }
    }
    let mut meta = HashMap::new();
    meta.insert("format".to_string(), FORMAT.to_string());
    meta.insert("step".to_string(), state.step.to_string());
    meta.insert("config".to_string(), state.config_json.clone());
    meta.insert("checksum".to_string(), hash.hex());
    let data = safetensors::serialize(views, &Some(meta))
        .map_err(|e| EngineError::Checkpoint(format!("{e:?}")))?;
    write_file(path, &data)
}

/// Writes `data` with the workspace's one atomic writer
/// ([`scalelab_common::write_atomic`]), as an [`EngineError`].
pub(crate) fn write_file(path: &Path, data: &[u8]) -> Result<()> {
    scalelab_common::write_atomic(path, data).map_err(|e| EngineError::io(path, e))
}

/// Reads only the metadata of a checkpoint: (step, config JSON).
pub fn read_meta(path: &Path) -> Result<(u64, String)> {
    let bytes = std::fs::read(path).map_err(|e| EngineError::io(path, e))?;
    meta_of(path, &bytes)
}

fn meta_of(path: &Path, bytes: &[u8]) -> Result<(u64, String)> {
    let bad = |m: &str| EngineError::Checkpoint(format!("{}: {m}", path.display()));
    let (_, md) = SafeTensors::read_metadata(bytes)
        .map_err(|e| bad(&format!("not a safetensors file ({e:?})")))?;
    let m = md.metadata().as_ref().ok_or_else(|| bad("no metadata"))?;
    if m.get("format").map(String::as_str) != Some(FORMAT) {
        return Err(bad("not a scalelab engine checkpoint"));
    }
    let step = m
        .get("step")
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("no step"))?;
    let config = m.get("config").cloned().ok_or_else(|| bad("no config"))?;
    Ok((step, config))
}

/// Loads a checkpoint, checking every tensor against `layout` and the
/// contents against the stored checksum (when there is one).
pub fn load(path: &Path, layout: &ParamLayout) -> Result<CheckpointState> {
    let bytes = std::fs::read(path).map_err(|e| EngineError::io(path, e))?;
    let (step, config_json) = meta_of(path, &bytes)?;
    let (_, md) = SafeTensors::read_metadata(&bytes)
        .map_err(|e| EngineError::Checkpoint(format!("{}: {e:?}", path.display())))?;
    let stored = md
        .metadata()
        .as_ref()
        .and_then(|m| m.get("checksum").cloned());
    let st = SafeTensors::deserialize(&bytes)
        .map_err(|e| EngineError::Checkpoint(format!("{}: {e:?}", path.display())))?;
    let mut hash = checksum_start(step, &config_json);
    let mut bufs = [
        vec![0f32; layout.total],
        vec![0f32; layout.total],
        vec![0f32; layout.total],
    ];
    for (prefix, buf) in ["", "adam_m.", "adam_v."].iter().zip(bufs.iter_mut()) {
        for t in &layout.tensors {
            let name = format!("{prefix}{}", t.name);
            let view = st.tensor(&name).map_err(|_| {
                EngineError::Checkpoint(format!("{}: missing tensor {name}", path.display()))
            })?;
            if view.dtype() != Dtype::F32 || view.shape() != t.shape.as_slice() {
                return Err(EngineError::Checkpoint(format!(
                    "{}: tensor {name} is {:?} {:?}, expected F32 {:?}",
                    path.display(),
                    view.dtype(),
                    view.shape(),
                    t.shape
                )));
            }
            hash.update(view.data());
            for (d, b) in buf[t.range()].iter_mut().zip(view.data().chunks_exact(4)) {
                *d = f32::from_le_bytes(b.try_into().unwrap());
            }
        }
    }
    if let Some(stored) = stored {
        let actual = hash.hex();
        if !stored.eq_ignore_ascii_case(&actual) {
            return Err(EngineError::Checkpoint(format!(
                "{}: checksum mismatch: the checkpoint is corrupt \
                 (stored {stored}, contents hash to {actual}); \
                 delete it to restart the run from scratch",
                path.display()
            )));
        }
    }
    let [params, adam_m, adam_v] = bufs;
    Ok(CheckpointState {
        step,
        config_json,
        params,
        adam_m,
        adam_v,
    })
}

/// The vocabulary of a checkpoint's model (rows of its token embedding).
pub fn vocab_of(path: &Path) -> Result<usize> {
    let bytes = std::fs::read(path).map_err(|e| EngineError::io(path, e))?;
    let st = SafeTensors::deserialize(&bytes)
        .map_err(|e| EngineError::Checkpoint(format!("{}: {e:?}", path.display())))?;
    let name = crate::model::TENSOR_NAMES[0];
    let view = st.tensor(name).map_err(|_| {
        EngineError::Checkpoint(format!("{}: missing tensor {name}", path.display()))
    })?;
    Ok(view.shape()[0])
}

#[cfg(test)]
mod tests {
    use super::*;
    use scalelab_core::accounting::GptShape;

    fn layout() -> ParamLayout {
        ParamLayout::new(&GptShape {
            n_layer: 1,
            d_model: 4,
            n_head: 1,
            d_ff: 8,
            context: 4,
            vocab: 5,
            tied_head: true,
        })
    }

    fn state(layout: &ParamLayout) -> CheckpointState {
        let f = |k: f32| (0..layout.total).map(|i| k + i as f32 * 0.01).collect();
        CheckpointState {
            step: 7,
            config_json: "{\"seed\":1}".into(),
            params: f(1.0),
            adam_m: f(2.0),
            adam_v: f(3.0),
        }
    }

    fn saved(dir: &Path) -> (PathBuf, ParamLayout, CheckpointState) {
        let l = layout();
        let s = state(&l);
        let p = path_in(dir);
        save(&p, &l, &s).unwrap();
        (p, l, s)
    }

    /// Offset of the first tensor byte (after the 8-byte length and header).
    fn data_start(bytes: &[u8]) -> usize {
        8 + u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize
    }

    fn flip(p: &Path, at: impl Fn(&[u8]) -> usize) {
        let mut b = std::fs::read(p).unwrap();
        let i = at(&b);
        b[i] ^= 0x10;
        std::fs::write(p, b).unwrap();
    }

    #[test]
    fn checkpoint_round_trip_is_verified() {
        let d = tempfile::tempdir().unwrap();
        let (p, l, s) = saved(d.path());
        let back = load(&p, &l).unwrap();
        assert_eq!(back.step, s.step);
        assert_eq!(back.params, s.params);
        assert_eq!(back.adam_m, s.adam_m);
        assert_eq!(back.adam_v, s.adam_v);
    }

    #[test]
    fn checkpoint_flipped_byte_is_refused() {
        let l = layout();
        // the first parameter byte, one in the middle (adam_m) and the last
        // byte of the file (adam_v)
        let places: [fn(&[u8]) -> usize; 3] = [
            data_start,
            |b: &[u8]| (data_start(b) + b.len()) / 2,
            |b: &[u8]| b.len() - 1,
        ];
        for at in places {
            let d = tempfile::tempdir().unwrap();
            let (p, _, _) = saved(d.path());
            flip(&p, at);
            let e = load(&p, &l).unwrap_err().to_string();
            assert!(
                e.contains("checksum mismatch: the checkpoint is corrupt"),
                "{e}"
            );
            assert!(e.contains(&p.display().to_string()), "{e}");
        }
    }

    #[test]
    fn checkpoint_without_checksum_still_loads() {
        let d = tempfile::tempdir().unwrap();
        let (p, l, s) = saved(d.path());
        // rewrite it as an older engine did: the same tensors, no checksum
        let bytes = std::fs::read(&p).unwrap();
        let st = SafeTensors::deserialize(&bytes).unwrap();
        let (_, md) = SafeTensors::read_metadata(&bytes).unwrap();
        let mut meta = md.metadata().clone().unwrap();
        assert!(meta.remove("checksum").is_some());
        let old = safetensors::serialize(st.tensors(), &Some(meta)).unwrap();
        std::fs::write(&p, old).unwrap();
        assert_eq!(load(&p, &l).unwrap().params, s.params);
    }
}
