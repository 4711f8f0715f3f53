//! A small CSV run table with `--where` filters, for `scalelab isoflop`.
//!
//! Errors name the file, the line and the column. Fields may be quoted
//! (`"a, b"`, with `""` for a quote inside). Filters are comparisons
//! `COLUMN OP VALUE` joined with `and`, where OP is one of
//! `== != < <= > >=` and VALUE a number or a quoted string.

use anyhow::{bail, Result};
use std::path::{Path, PathBuf};

pub struct CsvTable {
    pub path: PathBuf,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// 1-based line of each row.
    pub lines: Vec<usize>,
}

fn split_line(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    let mut at_start = true;
    while let Some(ch) = chars.next() {
        if quoted {
            if ch == '"' {
                if chars.peek() == Some(&'"') {
                    cur.push('"');
                    chars.next();
                } else {
                    quoted = false;
                }
            } else {
                cur.push(ch);
            }
        } else if ch == '"' && at_start {
            quoted = true;
            at_start = false;
        } else if ch == ',' {
            out.push(std::mem::take(&mut cur));
            at_start = true;
        } else {
            cur.push(ch);
            at_start = false;
        }
    }
    if quoted {
        return Err("unterminated quoted field".into());
    }
    out.push(cur);
    Ok(out)
}

impl CsvTable {
    pub fn read(path: &Path) -> Result<CsvTable> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or_default()
            .to_ascii_lowercase();
        if ext != "csv" && ext != "txt" {
            bail!(
                "{}: isoflop reads CSV run tables (a .csv file with a header row)",
                path.display()
            );
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
        let mut lines = text.lines().enumerate();
        let Some((_, header)) = lines.next() else {
            bail!("{}: the file is empty", path.display());
        };
        let columns: Vec<String> = split_line(header.trim_start_matches('\u{feff}'))
            .map_err(|e| anyhow::anyhow!("{}:1: {e}", path.display()))?
            .into_iter()
            .map(|c| c.trim().to_string())
            .collect();
        let mut rows = Vec::new();
        let mut at = Vec::new();
        for (i, line) in lines {
            if line.trim().is_empty() {
                continue;
            }
            let f = split_line(line.trim_end_matches('\r'))
                .map_err(|e| anyhow::anyhow!("{}:{}: {e}", path.display(), i + 1))?;
            if f.len() != columns.len() {
                bail!(
                    "{}:{}: {} fields, but the header has {} columns",
                    path.display(),
                    i + 1,
                    f.len(),
                    columns.len()
                );
            }
            rows.push(f);
            at.push(i + 1);
        }
        if rows.is_empty() {
            bail!("{}: the table has no rows", path.display());
        }
        Ok(CsvTable {
            path: path.to_path_buf(),
            columns,
            rows,
            lines: at,
        })
    }

    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    /// A column that must exist; `flag` names where the name came from.
    pub fn require(&self, name: &str, flag: &str) -> Result<usize> {
        self.column(name).ok_or_else(|| {
            anyhow::anyhow!(
                "{}: {flag}: no column named '{name}' (columns: {})",
                self.path.display(),
                self.columns
                    .iter()
                    .map(|c| format!("'{c}'"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
    }

    /// A column as positive finite numbers, errors at `file:line:column`.
    pub fn positive(&self, col: usize) -> Result<Vec<f64>> {
        let mut out = Vec::with_capacity(self.rows.len());
        for (r, row) in self.rows.iter().enumerate() {
            let s = row[col].trim();
            let where_ = format!(
                "{}:{}:{}: column '{}'",
                self.path.display(),
                self.lines[r],
                col + 1,
                self.columns[col]
            );
            match s.parse::<f64>() {
                Ok(v) if v.is_finite() && v > 0.0 => out.push(v),
                Ok(v) => bail!("{where_}: value {v} must be a positive finite number"),
                Err(_) if s.is_empty() => bail!("{where_}: missing value"),
                Err(_) => bail!("{where_}: '{s}' is not a number"),
            }
        }
        Ok(out)
    }

    pub fn text(&self, col: usize) -> Vec<String> {
        self.rows.iter().map(|r| r[col].clone()).collect()
    }

    pub fn retain(&self, keep: &[bool]) -> CsvTable {
        let mut t = CsvTable {
            path: self.path.clone(),
            columns: self.columns.clone(),
            rows: Vec::new(),
            lines: Vec::new(),
        };
        for (i, k) in keep.iter().enumerate() {
            if *k {
                t.rows.push(self.rows[i].clone());
                t.lines.push(self.lines[i]);
            }
        }
        t
    }

    /// Keeps the rows passing every filter.
    pub fn filter(&self, exprs: &[String]) -> Result<CsvTable> {
        let mut keep = vec![true; self.rows.len()];
        for e in exprs {
            let cmps = parse(e).map_err(|m| anyhow::anyhow!("--where '{e}': {m}"))?;
            for c in &cmps {
                let col = self.require(&c.column, &format!("--where '{e}'"))?;
                for (r, k) in keep.iter_mut().enumerate() {
                    if *k {
                        *k = c.matches(&self.rows[r][col]).map_err(|m| {
                            anyhow::anyhow!(
                                "{}:{}:{}: --where '{e}': {m}",
                                self.path.display(),
                                self.lines[r],
                                col + 1
                            )
                        })?;
                    }
                }
            }
        }
        Ok(self.retain(&keep))
    }
}

#[derive(Debug, PartialEq)]
enum Value {
    Num(f64),
    Str(String),
}

#[derive(Debug)]
struct Cmp {
    column: String,
    op: &'static str,
    value: Value,
}

impl Cmp {
    fn matches(&self, cell: &str) -> Result<bool, String> {
        let ord = match &self.value {
            Value::Str(s) => cell.cmp(s.as_str()),
            Value::Num(v) => {
                let x: f64 = cell
                    .trim()
                    .parse()
                    .map_err(|_| format!("'{cell}' in column '{}' is not a number", self.column))?;
                x.partial_cmp(v).ok_or("NaN compared")?
            }
        };
        use std::cmp::Ordering::*;
        Ok(match self.op {
            "==" => ord == Equal,
            "!=" => ord != Equal,
            "<" => ord == Less,
            "<=" => ord != Greater,
            ">" => ord == Greater,
            _ => ord != Less,
        })
    }
}

fn parse(text: &str) -> Result<Vec<Cmp>, String> {
    let mut out = Vec::new();
    let s = text.trim();
    let mut rest = s;
    loop {
        rest = rest.trim_start();
        let end = rest
            .find(|c: char| c.is_whitespace() || "=!<>".contains(c))
            .ok_or("expected COLUMN OP VALUE, e.g. loss < 3.4")?;
        let column = rest[..end].to_string();
        if column.is_empty() {
            return Err("expected a column name".into());
        }
        rest = rest[end..].trim_start();
        let op = ["==", "!=", "<=", ">=", "<", ">"]
            .into_iter()
            .find(|o| rest.starts_with(o))
            .ok_or("expected one of == != < <= > >= after the column name")?;
        rest = rest[op.len()..].trim_start();
        let value;
        if let Some(q) = rest.strip_prefix('"').or_else(|| rest.strip_prefix('\'')) {
            let quote = rest.as_bytes()[0] as char;
            let close = q.find(quote).ok_or("unterminated quoted value")?;
            value = Value::Str(q[..close].to_string());
            rest = &q[close + 1..];
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            let tok = &rest[..end];
            value = match tok.parse::<f64>() {
                Ok(v) => Value::Num(v),
                Err(_) if tok.is_empty() => return Err("expected a value".into()),
                Err(_) => Value::Str(tok.to_string()),
            };
            rest = &rest[end..];
        }
        out.push(Cmp { column, op, value });
        rest = rest.trim_start();
        if rest.is_empty() {
            return Ok(out);
        }
        rest = rest
            .strip_prefix("and ")
            .or_else(|| rest.strip_prefix("AND "))
            .or_else(|| rest.strip_prefix("&&"))
            .ok_or("expected 'and' between comparisons")?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_fields_and_filters() {
        assert_eq!(split_line(r#"a,"b, c",d"#).unwrap(), vec!["a", "b, c", "d"]);
        assert_eq!(split_line(r#""x""y",z"#).unwrap(), vec!["x\"y", "z"]);
        let c = parse(r#"config_id == "rw|base" and loss < 3.5"#).unwrap();
        assert_eq!(c.len(), 2);
        assert!(c[0].matches("rw|base").unwrap());
        assert!(!c[0].matches("rw|tuned").unwrap());
        assert!(c[1].matches("3.4").unwrap() && !c[1].matches("3.5").unwrap());
        assert!(c[1].matches("x").is_err());
        assert!(parse("loss ~ 3").is_err());
        assert!(parse("loss < 3 or n > 2").is_err());
    }
}
