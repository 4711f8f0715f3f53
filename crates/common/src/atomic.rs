//! Atomic file writes: a reader, or a crash, sees the old file or the new
//! one, never half of one.

use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// The temporary path used while writing `path`: a hidden file beside it,
/// unique to this process and call (so two writers of one file, in one
/// process or two, never share a temporary file).
pub fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let k = COUNTER.fetch_add(1, Ordering::Relaxed);
    path.with_file_name(format!(".{name}.tmp{}-{k}", std::process::id()))
}

/// Writes `bytes` to `path` atomically: a temporary file in the same
/// directory is written and fsynced, renamed over `path`, and the directory
/// is fsynced so the rename itself survives a crash.
///
/// An existing `path` that is not a regular file (a directory, symlink,
/// FIFO, socket or device) is refused with `InvalidInput` and left as it
/// is: renaming over it would silently replace it. On any error the
/// temporary file is removed and an existing `path` is untouched.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut f = AtomicFile::create(path)?;
    f.write_all(bytes)?;
    f.commit()
}

/// A file written in pieces (a token shard, a large table) that appears at
/// its path only when [`AtomicFile::commit`] succeeds: the same temporary
/// file, fsyncs, rename and target checks as [`write_atomic`], which is
/// built on it. Dropped without a commit, it removes its temporary file and
/// leaves `path` as it was.
///
/// It is `Write` and `Seek` (a writer may go back to fill in a header).
pub struct AtomicFile {
    path: PathBuf,
    tmp: PathBuf,
    file: Option<File>,
}

impl AtomicFile {
    /// Starts writing `path` (refused, as by [`write_atomic`], when `path`
    /// exists and is not a regular file).
    pub fn create(path: &Path) -> io::Result<Self> {
        check_target(path)?;
        let tmp = temp_path(path);
        let file = File::create(&tmp)?;
        Ok(AtomicFile {
            path: path.to_path_buf(),
            tmp,
            file: Some(file),
        })
    }

    /// The final path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The temporary path being written.
    pub fn temp_path(&self) -> &Path {
        &self.tmp
    }

    fn file(&mut self) -> &mut File {
        self.file
            .as_mut()
            .expect("an AtomicFile is open until committed")
    }

    /// Fsyncs the file, renames it over the final path and fsyncs the
    /// directory. On an error the temporary file is removed.
    pub fn commit(mut self) -> io::Result<()> {
        let res = (|| -> io::Result<()> {
            let f = self.file.take().expect("an AtomicFile is committed once");
            f.sync_all()?;
            drop(f);
            check_target(&self.path)?;
            std::fs::rename(&self.tmp, &self.path)?;
            sync_dir(&self.path);
            Ok(())
        })();
        if res.is_ok() {
            // renamed: nothing left for Drop to remove
            self.tmp = PathBuf::new();
        }
        res
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file().write(buf)
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.file().write_all(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file().flush()
    }
}

impl Seek for AtomicFile {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.file().seek(pos)
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        self.file.take();
        if !self.tmp.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Refuses targets that an atomic rename would replace by a regular file.
fn check_target(path: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) => {
            let ft = meta.file_type();
            if ft.is_file() {
                Ok(())
            } else {
                let kind = if ft.is_dir() {
                    "a directory"
                } else if ft.is_symlink() {
                    "a symbolic link"
                } else {
                    "not a regular file (a device, FIFO or socket)"
                };
                Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{} is {kind}; refusing to replace it", path.display()),
                ))
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Fsyncs the directory holding `path` (best effort: some file systems do
/// not support it).
fn sync_dir(path: &Path) {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_replaces_without_leaving_temporaries() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    #[test]
    fn refuses_directories_and_symlinks_and_leaves_them() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        let err = write_atomic(&sub, b"x").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(sub.is_dir());

        let target = dir.path().join("target");
        std::fs::write(&target, b"keep").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let err = write_atomic(&link, b"x").unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read(&target).unwrap(), b"keep");
    }

    #[test]
    fn refuses_a_device_node() {
        let err = write_atomic(Path::new("/dev/null"), b"x").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn a_missing_directory_is_an_error_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("no/such/dir/f");
        assert!(write_atomic(&p, b"x").is_err());
        assert!(!dir.path().join("no").exists());
    }

    #[test]
    fn a_file_written_in_pieces_appears_only_when_committed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("shard.bin");
        let mut f = AtomicFile::create(&p).unwrap();
        f.write_all(b"xxxxbody").unwrap();
        f.seek(SeekFrom::Start(0)).unwrap();
        f.write_all(b"head").unwrap();
        assert!(!p.exists());
        f.commit().unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"headbody");
        // dropped without a commit: no file, no temporary left
        let q = dir.path().join("other.bin");
        let mut g = AtomicFile::create(&q).unwrap();
        g.write_all(b"half").unwrap();
        drop(g);
        assert!(!q.exists());
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    #[test]
    fn temporary_names_are_unique_per_call() {
        let p = Path::new("/tmp/x.csv");
        assert_ne!(temp_path(p), temp_path(p));
    }
}
