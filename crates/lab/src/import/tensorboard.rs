//! TensorBoard event files (`events.out.tfevents.*`) into runs of scalars.
//! Each directory holding event files is one run, named by its path
//! relative to the log directory given; its files are read in name order
//! (the name starts with the creation time), so a restarted run's later
//! values replace earlier ones at the same step.

use super::tfrecord::{self, RecordError};
use super::RunLog;
use crate::{Error, Result, Task, Warning, WarningKind};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Whether a file name is an event file's.
pub fn is_event_file(name: &str) -> bool {
    name.contains("tfevents")
}

/// Event files under `dir`, recursively, by the directory holding them.
fn find_event_files(dir: &Path, out: &mut BTreeMap<PathBuf, Vec<PathBuf>>) -> Result<()> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| Error::io("cannot read the log directory", dir, e))?;
    let mut entries: Vec<_> = entries
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()
        .map_err(|e| Error::io("cannot read the log directory", dir, e))?;
    entries.sort();
    for p in entries {
        if p.is_dir() {
            find_event_files(&p, out)?;
        } else if p
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(is_event_file)
        {
            out.entry(dir.to_path_buf()).or_default().push(p);
        }
    }
    Ok(())
}

/// The runs under the log directories (or event files) given, with their
/// files; run names must be unique.
pub fn discover(inputs: &[PathBuf]) -> Result<Vec<(String, PathBuf, Vec<PathBuf>)>> {
    let mut runs: Vec<(String, PathBuf, Vec<PathBuf>)> = Vec::new();
    for input in inputs {
        let mut found = BTreeMap::new();
        if input.is_file() {
            let dir = input.parent().unwrap_or(Path::new(".")).to_path_buf();
            found.insert(dir, vec![input.clone()]);
        } else if input.is_dir() {
            find_event_files(input, &mut found)?;
        } else {
            return Err(Error::input(
                input,
                None,
                format!("{}: no such file or directory", input.display()),
            ));
        }
        if found.is_empty() {
            return Err(Error::input(
                input,
                None,
                format!(
                    "{}: no TensorBoard event files (events.out.tfevents.*) found",
                    input.display()
                ),
            ));
        }
        for (dir, files) in found {
            let rel = if input.is_dir() {
                dir.strip_prefix(input).ok().map(|r| r.to_path_buf())
            } else {
                None
            };
            let name = match rel.filter(|r| !r.as_os_str().is_empty()) {
                Some(r) => r
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/"),
                // the log directory itself holds the files: its own name
                None => std::fs::canonicalize(&dir)
                    .ok()
                    .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
                    .unwrap_or_else(|| dir.display().to_string()),
            };
            if let Some((_, other, _)) = runs.iter().find(|(n, _, _)| *n == name) {
                return Err(Error::input(
                    &dir,
                    None,
                    format!(
                        "two runs are named '{name}': {} and {} (import the log directories one at a time, or give their parent)",
                        other.display(),
                        dir.display()
                    ),
                ));
            }
            runs.push((name, dir, files));
        }
    }
    Ok(runs)
}

/// Reads one run's event files into a [`RunLog`].
pub fn read_run(
    name: &str,
    dir: &Path,
    files: &[PathBuf],
    task: &Task<'_>,
    warnings: &mut Vec<Warning>,
) -> Result<RunLog> {
    let mut log = RunLog::new(name, dir.display().to_string());
    let mut skipped: BTreeMap<String, usize> = BTreeMap::new();
    for file in files {
        let f = std::fs::File::open(file)
            .map_err(|e| Error::io("cannot read the event file", file, e))?;
        let len = f
            .metadata()
            .map_err(|e| Error::io("cannot read the event file", file, e))?
            .len();
        let mut plugins = tfrecord::Plugins::new();
        let mut events = 0usize;
        let outcome =
            tfrecord::for_each_record(std::io::BufReader::new(f), len, |index, offset, data| {
                let ev = tfrecord::decode_event(data, &mut plugins).map_err(|m| {
                    Error::input(
                        file,
                        None,
                        format!(
                            "{}: record {index} at byte {offset}: not an Event: {m}",
                            file.display()
                        ),
                    )
                })?;
                events += 1;
                for s in ev.scalars {
                    log.insert(&s.tag, ev.step, s.value);
                }
                for t in ev.skipped {
                    *skipped.entry(t).or_default() += 1;
                }
                Ok::<(), Error>(())
            })?;
        match outcome {
            Ok(None) => {}
            Ok(Some(tail)) => warnings.push(Warning::new(
                WarningKind::Other,
                format!(
                    "{}: record {} at byte {} is cut short ({} of {} bytes; a writer still running?): skipped",
                    file.display(),
                    tail.index,
                    tail.offset,
                    tail.have,
                    tail.need
                ),
            )),
            Err(RecordError::Corrupt {
                index,
                offset,
                message,
            }) => {
                return Err(Error::input(
                    file,
                    None,
                    format!("{}: record {index} at byte {offset}: {message}", file.display()),
                ))
            }
            Err(RecordError::Io(e)) => {
                return Err(Error::io("cannot read the event file", file, e))
            }
        }
        if events == 0 {
            warnings.push(Warning::new(
                WarningKind::Other,
                format!("{}: no events", file.display()),
            ));
        }
        log.files.push(file.display().to_string());
        task.inc(1);
    }
    log.skipped_tags = skipped.into_keys().collect();
    Ok(log)
}
