//! scalelab-core: the pure numerical core of scalelab.
//!
//! Everything here is deterministic arithmetic on in-memory data: scaling-law
//! forms, robust estimation, uncertainty, planning and accounting. There is no
//! file or terminal I/O and no training code in this crate, so every other
//! crate (tables, engine, sweep, report, the CLI) can build on it.

pub mod accounting;
pub mod bootstrap;
pub mod compare;
pub mod conditioning;
pub mod data;
pub mod design;
pub mod diagnostics;
pub mod emergence;
pub mod fit;
pub mod hardware;
pub mod hparams;
pub mod intervals;
pub mod isoflop;
pub mod kernels;
pub mod laws;
pub mod optim;
pub mod plan;
pub mod robust;
pub mod rollout;
pub mod simulate;
