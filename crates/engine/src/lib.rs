//! scalelab-engine: a GPT training engine in the spirit of llm.c.
//!
//! * [`model`]: the fixed GPT architecture, its flat parameter layout and
//!   activation buffers, forward and backward;
//! * [`kernels`]: one forward/backward function pair per layer;
//! * [`optim`]: AdamW, gradient clipping, the learning-rate schedule;
//! * [`data`]: the [`data::TokenSource`] abstraction and the built-in sources;
//! * [`checkpoint`]: atomic safetensors checkpoints;
//! * [`train`]: [`train::TrainConfig`] and the [`train::Trainer`] loop used by
//!   `scalelab train` and by sweeps.
//!
//! Everything runs on CPU. The layer functions take plain buffers in the
//! documented layouts, so a GPU backend can provide the same functions over
//! device buffers of the same layout without changing the model or trainer.

pub mod checkpoint;
pub mod data;
pub mod error;
pub mod infer;
pub mod kernels;
pub mod model;
pub mod mup;
pub mod optim;
mod par;
pub mod real;
pub mod train;

pub use data::TokenSource;
pub use error::EngineError;
pub use model::Parametrization;
pub use optim::{DecayShape, ScheduleKind};
pub use par::simd_level_name;
pub use train::{ParamKind, RunSummary, StepReport, TrainConfig, Trainer};
