//! What every scalelab crate shares, and nothing else:
//!
//! - [`write_atomic`]: the one atomic file writer of the workspace
//!   (temporary file in the same directory, fsync, rename, fsync of the
//!   directory), which refuses to replace anything but a regular file.
//! - [`Progress`]: how long work reports progress. Library crates never draw
//!   on the terminal; they call a `Progress` the caller passes (the CLI draws
//!   bars, Python may pass a callback, the default [`Silent`] does nothing).

pub mod atomic;
pub mod progress;

pub use atomic::{temp_path, write_atomic, AtomicFile};
pub use progress::{Event, Progress, Silent, Task};
