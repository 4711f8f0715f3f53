//! Atomic file writes, with the workspace's one atomic writer
//! ([`scalelab_common::write_atomic`]) and the corpus crate's errors.

use anyhow::{Context, Result};
use std::path::Path;

pub use scalelab_common::{temp_path, AtomicFile};

/// Writes `bytes` to `path` so that readers see the old file or the new one,
/// never a partial one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    scalelab_common::write_atomic(path, bytes)
        .with_context(|| format!("cannot write {}", path.display()))
}
