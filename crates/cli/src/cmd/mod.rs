//! One module per subcommand.
pub mod fit;
