//! Checkpoints: one safetensors file per run directory holding the
//! parameters (one tensor per layout entry, named as in `model.rs`), AdamW's
//! moments (`adam_m.<name>`, `adam_v.<name>`) and metadata (format, step,
//! the run's configuration as JSON). Written atomically: a temporary file in
//! the same directory is written, fsynced and renamed over the old
//! checkpoint, and the directory is fsynced, so a kill at any moment leaves
//! either the old or the new checkpoint, never a torn one.

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
    for (prefix, buf) in ["", "adam_m.", "adam_v."].iter().zip(&bufs) {
        for t in &layout.tensors {
            let bytes = &buf[t.offset * 4..(t.offset + t.len()) * 4];
            let view = TensorView::new(Dtype::F32, t.shape.clone(), bytes)
                .map_err(|e| EngineError::Checkpoint(format!("{e:?}")))?;
            views.push((format!("{prefix}{}", t.name), view));
        }
    }
    let mut meta = HashMap::new();
    meta.insert("format".to_string(), FORMAT.to_string());
    meta.insert("step".to_string(), state.step.to_string());
    meta.insert("config".to_string(), state.config_json.clone());
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

/// Loads a checkpoint, checking every tensor against `layout`.
pub fn load(path: &Path, layout: &ParamLayout) -> Result<CheckpointState> {
    let bytes = std::fs::read(path).map_err(|e| EngineError::io(path, e))?;
    let (step, config_json) = meta_of(path, &bytes)?;
    let st = SafeTensors::deserialize(&bytes)
        .map_err(|e| EngineError::Checkpoint(format!("{}: {e:?}", path.display())))?;
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
            for (d, b) in buf[t.range()].iter_mut().zip(view.data().chunks_exact(4)) {
                *d = f32::from_le_bytes(b.try_into().unwrap());
            }
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
