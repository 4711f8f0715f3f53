//! One module per subcommand.
pub mod corpus;
pub mod fit;
pub mod plan;
