//! The mapping file (TOML) of an import: which tag or column holds the
//! validation loss, the training loss and the tokens seen, the tokens per
//! step, and the size of each run or model, none of which a log records.
//!
//! ```toml
//! loss = "val/loss"            # tag or column of the validation loss
//! train_loss = "train/loss"
//! tokens = "train/tokens"      # tag or column of tokens seen (optional)
//! tokens_per_step = 524288     # default for all runs
//! run = "name"                 # long CSV layout: the run and step columns
//! step = "_step"
//! [runs."pythia-70m"]          # per run (TensorBoard, CSV)
//! params = 18915328            # non-embedding N
//! params_total = 70426624
//! tokens_per_step = 2097152
//! [models."EleutherAI/pythia-160m"]  # per model (lm-eval)
//! params = 85056000
//! tokens = 299892736000
//! ```
//!
//! Unknown keys are errors naming `file:line:column`.

use crate::{Error, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use toml::Spanned;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct MapFile {
    loss: Option<String>,
    train_loss: Option<String>,
    tokens: Option<String>,
    tokens_per_step: Option<Spanned<f64>>,
    run: Option<String>,
    step: Option<String>,
    #[serde(default)]
    runs: BTreeMap<Spanned<String>, Spanned<ScaleFile>>,
    #[serde(default)]
    models: BTreeMap<Spanned<String>, Spanned<ScaleFile>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScaleFile {
    params: Option<f64>,
    params_total: Option<f64>,
    tokens: Option<f64>,
    tokens_per_step: Option<f64>,
}

/// The size of one run or model.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scale {
    /// Non-embedding parameters N (Kaplan's convention).
    pub params: Option<f64>,
    /// All parameters, embeddings included (Hoffmann's).
    pub params_total: Option<f64>,
    /// Training tokens D of the whole run (lm-eval models).
    pub tokens: Option<f64>,
    pub tokens_per_step: Option<f64>,
    /// The line of its table in the mapping file.
    pub line: usize,
}

/// A mapping file, read and checked (or the empty mapping).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Mapping {
    pub path: Option<PathBuf>,
    pub loss: Option<String>,
    pub train_loss: Option<String>,
    pub tokens: Option<String>,
    pub tokens_per_step: Option<f64>,
    pub run: Option<String>,
    pub step: Option<String>,
    pub runs: BTreeMap<String, Scale>,
    pub models: BTreeMap<String, Scale>,
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, at: usize) -> (usize, usize) {
    let before = &text[..at.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

impl Mapping {
    /// Reads a mapping file; every error names `file:line:column`.
    pub fn read(path: &Path) -> Result<Mapping> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::io("cannot read the mapping file", path, e))?;
        Mapping::parse(path, &text)
    }

    /// Parses the text of a mapping file read from `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Mapping> {
        let file: MapFile = toml::from_str(text).map_err(|e| {
            let (line, col) = e.span().map_or((1, 1), |s| line_col(text, s.start));
            Error::input(
                path,
                Some(line),
                format!(
                    "{}:{line}:{col}: {}",
                    path.display(),
                    e.message().trim_end()
                ),
            )
        })?;
        let positive = |v: Option<f64>, what: &str, at: usize| -> Result<Option<f64>> {
            match v {
                Some(x) if !(x.is_finite() && x > 0.0) => {
                    let (line, col) = line_col(text, at);
                    Err(Error::input(
                        path,
                        Some(line),
                        format!(
                            "{}:{line}:{col}: {what} must be a positive number, got {x}",
                            path.display()
                        ),
                    ))
                }
                v => Ok(v),
            }
        };
        let tokens_per_step = match &file.tokens_per_step {
            Some(s) => positive(Some(*s.get_ref()), "tokens_per_step", s.span().start)?,
            None => None,
        };
        let scales = |m: &BTreeMap<Spanned<String>, Spanned<ScaleFile>>| -> Result<_> {
            let mut out = BTreeMap::new();
            for (k, v) in m {
                let at = k.span().start;
                let s = v.get_ref();
                let name = k.get_ref();
                out.insert(
                    name.clone(),
                    Scale {
                        params: positive(s.params, &format!("{name}: params"), at)?,
                        params_total: positive(
                            s.params_total,
                            &format!("{name}: params_total"),
                            at,
                        )?,
                        tokens: positive(s.tokens, &format!("{name}: tokens"), at)?,
                        tokens_per_step: positive(
                            s.tokens_per_step,
                            &format!("{name}: tokens_per_step"),
                            at,
                        )?,
                        line: line_col(text, at).0,
                    },
                );
            }
            Ok(out)
        };
        Ok(Mapping {
            path: Some(path.to_path_buf()),
            loss: file.loss,
            train_loss: file.train_loss,
            tokens: file.tokens,
            tokens_per_step,
            run: file.run,
            step: file.step,
            runs: scales(&file.runs)?,
            models: scales(&file.models)?,
        })
    }

    /// `file:line` of an entry, for messages.
    pub fn at(&self, line: usize) -> String {
        match &self.path {
            Some(p) => format!("{}:{line}", p.display()),
            None => format!("line {line}"),
        }
    }

    /// The mapping file's name for messages.
    pub fn name(&self) -> String {
        self.path
            .as_ref()
            .map_or("(no --map)".into(), |p| p.display().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mapping_is_read_with_defaults_and_per_run_sizes() {
        let text = "loss = \"val/loss\"\ntokens_per_step = 524288\n\n[runs.\"pythia-70m\"]\nparams = 18915328\nparams_total = 70426624.0\ntokens_per_step = 2097152\n";
        let m = Mapping::parse(Path::new("map.toml"), text).unwrap();
        assert_eq!(m.loss.as_deref(), Some("val/loss"));
        assert_eq!(m.tokens_per_step, Some(524288.0));
        let r = &m.runs["pythia-70m"];
        assert_eq!(r.params, Some(18915328.0));
        assert_eq!(r.params_total, Some(70426624.0));
        assert_eq!(r.tokens_per_step, Some(2097152.0));
        assert_eq!(r.line, 4);
    }

    #[test]
    fn unknown_keys_and_bad_values_name_file_and_line() {
        let e = Mapping::parse(Path::new("map.toml"), "loss = \"x\"\nlos = \"y\"\n").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("map.toml:2:1: unknown field `los`"),
            "{e}"
        );
        let e = Mapping::parse(
            Path::new("map.toml"),
            "[runs.a]\nparams = 1\n\n[runs.b]\nparams = 2\nparam_total = 3\n",
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("map.toml:6:1: unknown field `param_total`"),
            "{e}"
        );
        let e = Mapping::parse(Path::new("m.toml"), "[runs.a]\nparams = -1\n").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("m.toml:1:7: a: params must be a positive number, got -1"),
            "{e}"
        );
    }
}
