//! The worker-thread count of a request.

use crate::{Error, Result};

/// Sets up the global rayon pool with `threads` workers (all cores when
/// `None`). The pool can be set once per process: a later call with a
/// different count keeps the first (results do not depend on the count).
pub fn init(threads: Option<usize>) -> Result<()> {
    if let Some(k) = threads {
        check(k)?;
        // Already built (a second call in one process, e.g. from Python):
        // keep the pool there is.
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(k)
            .build_global();
    }
    Ok(())
}

/// The most worker threads a request may ask for: 4 × the machine's cores,
/// at least 16 and at most 1024. More threads than that only cost memory
/// (each has its own stack and buffers) and time.
pub fn max_threads() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (4 * cores).clamp(16, 1024)
}

/// Refuses a thread count of 0 or above [`max_threads`], naming `--threads`.
pub fn check(k: usize) -> Result<()> {
    if k == 0 {
        return Err(Error::flag("--threads", "--threads must be at least 1"));
    }
    let max = max_threads();
    if k > max {
        return Err(Error::flag(
            "--threads",
            format!(
                "--threads must be at most {max} (4 × this machine's cores, between 16 and 1024), got {k}"
            ),
        ));
    }
    Ok(())
}
