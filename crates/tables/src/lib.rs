//! Run tables.
