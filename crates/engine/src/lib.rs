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

pub mod kernels;
pub mod model;
pub mod optim;
mod par;
pub mod real;

pub use par::simd_level_name;
