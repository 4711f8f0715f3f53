//! One module per subcommand.
pub mod compare;
pub mod corpus;
pub mod design;
pub mod emerge;
pub mod eval;
pub mod fit;
pub mod hparams;
pub mod import;
pub mod isoflop;
pub mod plan;
pub mod report;
pub mod study;
pub mod sweep;
pub mod train;
