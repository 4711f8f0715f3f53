//! (being moved here from the CLI crate)
