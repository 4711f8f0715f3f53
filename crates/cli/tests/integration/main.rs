//! The command-line tool's integration tests, as one test binary (one link
//! of the workspace instead of one per file): each module holds the tests of
//! one command or workflow, and `util` the helpers they share. Run one
//! module with `cargo test -p scalelab-cli --test integration MODULE::`.

mod util;

mod ability;
mod bounds;
mod compare;
mod data_constrained;
mod design;
mod design_simulate;
mod emerge;
mod examples;
mod fit;
mod hparams;
mod import;
mod isoflop;
mod json;
mod plan;
mod report;
mod slurm;
mod study;
mod sweep;
mod sweep_doc;
mod torch;
mod train;
mod trainer;
mod wsd;
