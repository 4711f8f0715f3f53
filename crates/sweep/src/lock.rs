//! One sweep at a time per directory: an exclusive lock on `DIR/.lock`,
//! released when the process ends (also on `kill -9`: the kernel drops it).

use anyhow::{bail, Context, Result};
use std::io::{Read, Seek, Write};
use std::path::Path;

/// Holds the lock while alive.
#[derive(Debug)]
pub struct SweepLock {
    _file: std::fs::File,
}

/// Takes the directory's lock, or explains who holds it.
pub fn lock(dir: &Path) -> Result<SweepLock> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let p = dir.join(".lock");
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&p)
        .with_context(|| format!("cannot open lock file {}", p.display()))?;
    match f.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut who = String::new();
            let _ = f.read_to_string(&mut who);
            bail!(
                "{} is in use by another sweep ({}); wait for it to finish or choose another --out",
                dir.display(),
                if who.trim().is_empty() {
                    "unknown process".into()
                } else {
                    who.trim().to_string()
                }
            );
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("cannot lock {}", p.display()))
        }
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    f.set_len(0)?;
    f.rewind()?;
    write!(f, "pid {} on {}", std::process::id(), host.trim())?;
    f.flush()?;
    Ok(SweepLock { _file: f })
}
