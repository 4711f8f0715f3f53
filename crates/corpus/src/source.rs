//! Reading documents from plain text, JSONL and Parquet, file by file or from
//! directories, with errors that name the file and the line or byte offset.

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// How a plain-text file is cut into documents.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum TextSplit {
    /// The whole file is one document.
    #[default]
    File,
    /// Every non-empty line is a document.
    Line,
    /// Paragraphs separated by blank lines are documents.
    Paragraph,
}

/// What to do with a document that is not valid UTF-8 (or a JSONL line that
/// is not valid JSON).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum BadInput {
    /// Stop with an error naming the file and the offset.
    #[default]
    Fail,
    /// Skip the document, count it, and report the first few locations.
    Skip,
}

/// Options for reading sources.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SourceOptions {
    /// JSONL field or Parquet column holding the text.
    pub text_field: String,
    /// How plain-text files become documents.
    pub text_split: TextSplit,
    /// Policy for bad UTF-8 / bad JSON.
    pub on_bad: BadInput,
}

impl Default for SourceOptions {
    fn default() -> Self {
        SourceOptions {
            text_field: "text".into(),
            text_split: TextSplit::File,
            on_bad: BadInput::Fail,
        }
    }
}

/// File formats recognised by extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `.txt`, `.text`, `.md` (and anything else given explicitly as a file).
    Text,
    /// `.jsonl`, `.ndjson`.
    Jsonl,
    /// `.parquet`.
    Parquet,
}

impl Format {
    /// Format from a path's extension; `None` if not a known corpus file.
    pub fn of(path: &Path) -> Option<Format> {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(|e| e.to_ascii_lowercase())
            .as_deref()
        {
            Some("txt" | "text" | "md") => Some(Format::Text),
            Some("jsonl" | "ndjson") => Some(Format::Jsonl),
            Some("parquet") => Some(Format::Parquet),
            _ => None,
        }
    }
}

/// One document and where it came from (`file:line` or `file#row`).
#[derive(Clone, Debug, PartialEq)]
pub struct Document {
    /// The text.
    pub text: String,
    /// Origin, for messages.
    pub origin: String,
}

/// What reading found.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct ReadReport {
    /// Files read.
    pub files: usize,
    /// Documents produced.
    pub documents: usize,
    /// Bytes of text produced.
    pub bytes: u64,
    /// Documents skipped for bad UTF-8 or bad JSON.
    pub skipped_bad: usize,
    /// Empty documents dropped.
    pub skipped_empty: usize,
    /// Locations of the first skipped documents.
    pub bad_examples: Vec<String>,
}

impl ReadReport {
    fn bad(&mut self, on_bad: BadInput, msg: String) -> Result<()> {
        match on_bad {
            BadInput::Fail => bail!("{msg} (use --on-bad skip to skip such documents)"),
            BadInput::Skip => {
                self.skipped_bad += 1;
                if self.bad_examples.len() < 10 {
                    self.bad_examples.push(msg);
                }
                Ok(())
            }
        }
    }
}

/// Lists the corpus files under `path` (the path itself if it is a file),
/// recursively, in sorted order, skipping hidden entries and files of unknown
/// extension inside directories.
pub fn list_files(path: &Path) -> Result<Vec<PathBuf>> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if meta.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut out = Vec::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let rd =
            std::fs::read_dir(&dir).with_context(|| format!("cannot list {}", dir.display()))?;
        for entry in rd {
            let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
            let p = entry.path();
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            let ft = entry
                .file_type()
                .with_context(|| format!("cannot stat {}", p.display()))?;
            if ft.is_dir() {
                stack.push(p);
            } else if Format::of(&p).is_some() {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

fn line_of(bytes: &[u8], offset: usize) -> usize {
    1 + bytes[..offset].iter().filter(|&&b| b == b'\n').count()
}

/// Reads every document under `path`, calling `f` for each, in a stable order.
pub fn read_documents(
    path: &Path,
    opts: &SourceOptions,
    mut f: impl FnMut(Document) -> Result<()>,
) -> Result<ReadReport> {
    let mut report = ReadReport::default();
    let files = list_files(path)?;
    if files.is_empty() {
        bail!(
            "{}: no corpus files found (.txt, .md, .jsonl, .parquet)",
            path.display()
        );
    }
    for file in files {
        report.files += 1;
        let format = Format::of(&file).unwrap_or(Format::Text);
        let mut emit = |text: String, origin: String, report: &mut ReadReport| -> Result<()> {
            if text.trim().is_empty() {
                report.skipped_empty += 1;
                return Ok(());
            }
            report.documents += 1;
            report.bytes += text.len() as u64;
            f(Document { text, origin })
        };
        match format {
            Format::Text => read_text(&file, opts, &mut report, &mut emit)?,
            Format::Jsonl => read_jsonl(&file, opts, &mut report, &mut emit)?,
            Format::Parquet => read_parquet(&file, opts, &mut report, &mut emit)?,
        }
    }
    Ok(report)
}

type Emit<'a> = dyn FnMut(String, String, &mut ReadReport) -> Result<()> + 'a;

fn read_text(
    file: &Path,
    opts: &SourceOptions,
    report: &mut ReadReport,
    emit: &mut Emit<'_>,
) -> Result<()> {
    let mut bytes = Vec::new();
    File::open(file)
        .and_then(|mut fh| fh.read_to_end(&mut bytes))
        .with_context(|| format!("cannot read {}", file.display()))?;
    let name = file.display().to_string();
    // cut into byte ranges first, then check UTF-8 per document, so one bad
    // document does not take the whole file with it under --on-bad skip
    let mut pieces: Vec<(usize, usize)> = Vec::new();
    match opts.text_split {
        TextSplit::File => pieces.push((0, bytes.len())),
        TextSplit::Line => {
            let mut start = 0;
            for (i, &b) in bytes.iter().enumerate() {
                if b == b'\n' {
                    pieces.push((start, i));
                    start = i + 1;
                }
            }
            pieces.push((start, bytes.len()));
        }
        TextSplit::Paragraph => {
            let mut start = 0;
            let mut i = 0;
            while i < bytes.len() {
                if bytes[i] == b'\n' {
                    // a blank line (possibly with spaces / \r) ends a paragraph
                    let mut j = i + 1;
                    while j < bytes.len() && matches!(bytes[j], b' ' | b'\t' | b'\r') {
                        j += 1;
                    }
                    if j < bytes.len() && bytes[j] == b'\n' {
                        pieces.push((start, i));
                        while j < bytes.len() && matches!(bytes[j], b'\n' | b' ' | b'\t' | b'\r') {
                            j += 1;
                        }
                        start = j;
                        i = j;
                        continue;
                    }
                }
                i += 1;
            }
            pieces.push((start, bytes.len()));
        }
    }
    for (a, b) in pieces {
        let line = line_of(&bytes, a);
        match std::str::from_utf8(&bytes[a..b]) {
            Ok(s) => {
                let text = match opts.text_split {
                    TextSplit::File => s.to_string(),
                    _ => s.trim_end_matches('\r').to_string(),
                };
                emit(text, format!("{name}:{line}"), report)?;
            }
            Err(e) => {
                let off = a + e.valid_up_to();
                report.bad(
                    opts.on_bad,
                    format!(
                        "{name}: invalid UTF-8 at byte offset {off} (line {})",
                        line_of(&bytes, off)
                    ),
                )?;
            }
        }
    }
    Ok(())
}

fn read_jsonl(
    file: &Path,
    opts: &SourceOptions,
    report: &mut ReadReport,
    emit: &mut Emit<'_>,
) -> Result<()> {
    let fh = File::open(file).with_context(|| format!("cannot read {}", file.display()))?;
    let mut reader = BufReader::with_capacity(1 << 20, fh);
    let name = file.display().to_string();
    let mut buf = Vec::new();
    let mut line_no = 0usize;
    let mut offset = 0u64;
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .with_context(|| format!("{name}: read error after byte offset {offset}"))?;
        if n == 0 {
            break;
        }
        line_no += 1;
        let line_start = offset;
        offset += n as u64;
        let line = match std::str::from_utf8(&buf) {
            Ok(s) => s,
            Err(e) => {
                report.bad(
                    opts.on_bad,
                    format!(
                        "{name}:{line_no}: invalid UTF-8 at byte offset {}",
                        line_start + e.valid_up_to() as u64
                    ),
                )?;
                continue;
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        let value: serde_json::Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(e) => {
                report.bad(opts.on_bad, format!("{name}:{line_no}: invalid JSON: {e}"))?;
                continue;
            }
        };
        match value.get(&opts.text_field) {
            Some(serde_json::Value::String(s)) => {
                emit(s.clone(), format!("{name}:{line_no}"), report)?;
            }
            Some(serde_json::Value::Null) => report.skipped_empty += 1,
            Some(_) => bail!(
                "{name}:{line_no}: field `{}` is not a string (set the field with --text-field)",
                opts.text_field
            ),
            None => bail!(
                "{name}:{line_no}: no field `{}` (set the field with --text-field)",
                opts.text_field
            ),
        }
    }
    Ok(())
}

fn read_parquet(
    file: &Path,
    opts: &SourceOptions,
    report: &mut ReadReport,
    emit: &mut Emit<'_>,
) -> Result<()> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::record::Field;
    use parquet::schema::types::Type;
    let name = file.display().to_string();
    let fh = File::open(file).with_context(|| format!("cannot read {name}"))?;
    let reader = SerializedFileReader::new(fh)
        .with_context(|| format!("{name}: not a readable Parquet file"))?;
    let root = reader
        .metadata()
        .file_metadata()
        .schema_descr()
        .root_schema_ptr();
    let field = root
        .get_fields()
        .iter()
        .find(|f| f.name() == opts.text_field)
        .cloned()
        .with_context(|| {
            let cols: Vec<_> = root
                .get_fields()
                .iter()
                .map(|f| f.name().to_string())
                .collect();
            format!(
                "{name}: no column `{}` (columns: {}; set it with --text-field)",
                opts.text_field,
                cols.join(", ")
            )
        })?;
    let projection = Type::group_type_builder(root.name())
        .with_fields(vec![field])
        .build()
        .with_context(|| format!("{name}: cannot project column `{}`", opts.text_field))?;
    let rows = reader
        .get_row_iter(Some(projection))
        .with_context(|| format!("{name}: cannot read rows"))?;
    for (i, row) in rows.enumerate() {
        let row = match row {
            Ok(r) => r,
            Err(e) => {
                // e.g. invalid UTF-8 in a UTF8-annotated column; the message
                // can hold the whole value, so keep it short
                let mut msg = e.to_string();
                if msg.len() > 160 {
                    let cut = (0..=160)
                        .rev()
                        .find(|&k| msg.is_char_boundary(k))
                        .unwrap_or(0);
                    msg.truncate(cut);
                    msg.push('…');
                }
                let kind = if msg.contains("Utf8") || msg.contains("String") {
                    "invalid UTF-8"
                } else {
                    "cannot decode"
                };
                report.bad(
                    opts.on_bad,
                    format!(
                        "{name}: row {i}: {kind} in column `{}` ({msg})",
                        opts.text_field
                    ),
                )?;
                continue;
            }
        };
        let origin = format!("{name}#row{i}");
        match row.get_column_iter().next().map(|(_, f)| f) {
            Some(Field::Str(s)) => emit(s.clone(), origin, report)?,
            Some(Field::Bytes(b)) => match std::str::from_utf8(b.data()) {
                Ok(s) => emit(s.to_string(), origin, report)?,
                Err(e) => report.bad(
                    opts.on_bad,
                    format!(
                        "{name}: row {i}: invalid UTF-8 at byte {} of column `{}`",
                        e.valid_up_to(),
                        opts.text_field
                    ),
                )?,
            },
            Some(Field::Null) | None => report.skipped_empty += 1,
            Some(other) => bail!(
                "{name}: row {i}: column `{}` holds {other:?}, not text",
                opts.text_field
            ),
        }
    }
    Ok(())
}
