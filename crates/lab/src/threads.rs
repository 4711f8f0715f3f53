//! The worker-thread count of a request.

use crate::{Error, Result};

/// Sets up the global rayon pool with `threads` workers (all cores when
/// `None`). The pool can be set once per process: a later call with a
/// different count keeps the first (results do not depend on the count).
pub fn init(threads: Option<usize>) -> Result<()> {
    if let Some(k) = threads {
        if k == 0 {
            return Err(Error::flag("--threads", "--threads must be at least 1"));
        }
        // Already built (a second call in one process, e.g. from Python):
        // keep the pool there is.
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(k)
            .build_global();
    }
    Ok(())
}
