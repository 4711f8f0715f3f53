//! The engine's error type.

use std::fmt;
use std::path::PathBuf;

/// Everything that can stop a run, typed so a sweep can record a status.
#[derive(Debug)]
pub enum EngineError {
    /// The configuration cannot be honoured (the message names the field).
    Config(String),
    /// The data source failed or cannot serve the configuration.
    Data(String),
    /// A file could not be read or written.
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A checkpoint is missing, corrupt or does not match the run.
    Checkpoint(String),
    /// The loss or gradient became non-finite, or the loss exploded.
    Diverged {
        step: u64,
        loss: f64,
        grad_norm: f64,
    },
}

impl EngineError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        EngineError::Io {
            path: path.into(),
            source,
        }
    }
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EngineError::Config(m) => write!(f, "invalid training configuration: {m}"),
            EngineError::Data(m) => write!(f, "data: {m}"),
            EngineError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            EngineError::Checkpoint(m) => write!(f, "checkpoint: {m}"),
            EngineError::Diverged {
                step,
                loss,
                grad_norm,
            } => write!(
                f,
                "training diverged at step {step}: loss {loss}, gradient norm {grad_norm}"
            ),
        }
    }
}

impl std::error::Error for EngineError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            EngineError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

pub type Result<T, E = EngineError> = std::result::Result<T, E>;
