//! Row filters: `--where 'loss < 3.447'`, `--where 'config_id == "rw|base"'`.
//!
//! Grammar: one or more comparisons joined by `and` (or `&&`). A comparison is
//! `COLUMN OP VALUE` with OP one of `<  <=  >  >=  ==  !=`. A column name with
//! spaces or symbols is written in backticks or double quotes
//! (`` `Model Size` > 1e9 ``); VALUE is a number or a quoted string. Numbers
//! compare numerically, strings by equality.

use crate::{Cell, Table, TableError};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

#[derive(Clone, Debug, PartialEq)]
enum Value {
    Num(f64),
    Str(String),
}

#[derive(Clone, Debug, PartialEq)]
struct Cmp {
    column: String,
    op: Op,
    value: Value,
}

/// A parsed `--where` expression.
#[derive(Clone, Debug, PartialEq)]
pub struct Filter {
    pub text: String,
    cmps: Vec<Cmp>,
}

/// Why an expression does not parse; `pos` is a 1-based character position.
#[derive(Clone, Debug, PartialEq)]
pub struct ParseError {
    pub pos: usize,
    pub message: String,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "at character {}: {}", self.pos, self.message)
    }
}

impl std::error::Error for ParseError {}

struct Lexer<'a> {
    s: &'a [u8],
    i: usize,
}

impl Lexer<'_> {
    fn skip_ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }
    fn err(&self, msg: impl Into<String>) -> ParseError {
        ParseError {
            pos: self.i + 1,
            message: msg.into(),
        }
    }
    fn quoted(&mut self) -> Result<String, ParseError> {
        let q = self.s[self.i];
        let start = self.i;
        self.i += 1;
        let begin = self.i;
        while self.i < self.s.len() && self.s[self.i] != q {
            self.i += 1;
        }
        if self.i >= self.s.len() {
            self.i = start;
            return Err(self.err(format!("unclosed {}", q as char)));
        }
        let text = String::from_utf8_lossy(&self.s[begin..self.i]).into_owned();
        self.i += 1;
        Ok(text)
    }
    fn column(&mut self) -> Result<String, ParseError> {
        self.skip_ws();
        match self.s.get(self.i) {
            None => Err(self.err("expected a column name")),
            Some(b'`') | Some(b'"') => self.quoted(),
            Some(_) => {
                let begin = self.i;
                while self.i < self.s.len()
                    && (self.s[self.i].is_ascii_alphanumeric() || b"_.-".contains(&self.s[self.i]))
                {
                    self.i += 1;
                }
                if self.i == begin {
                    return Err(self.err("expected a column name"));
                }
                Ok(String::from_utf8_lossy(&self.s[begin..self.i]).into_owned())
            }
        }
    }
    fn op(&mut self) -> Result<Op, ParseError> {
        self.skip_ws();
        let rest = &self.s[self.i..];
        let (op, len) = if rest.starts_with(b"<=") {
            (Op::Le, 2)
        } else if rest.starts_with(b">=") {
            (Op::Ge, 2)
        } else if rest.starts_with(b"==") {
            (Op::Eq, 2)
        } else if rest.starts_with(b"!=") {
            (Op::Ne, 2)
        } else if rest.starts_with(b"<") {
            (Op::Lt, 1)
        } else if rest.starts_with(b">") {
            (Op::Gt, 1)
        } else if rest.starts_with(b"=") {
            (Op::Eq, 1)
        } else {
            return Err(self.err("expected one of < <= > >= == !="));
        };
        self.i += len;
        Ok(op)
    }
    fn value(&mut self) -> Result<Value, ParseError> {
        self.skip_ws();
        match self.s.get(self.i) {
            None => Err(self.err("expected a value")),
            Some(b'"') | Some(b'\'') => Ok(Value::Str(self.quoted()?)),
            Some(_) => {
                let begin = self.i;
                while self.i < self.s.len() && !self.s[self.i].is_ascii_whitespace() {
                    self.i += 1;
                }
                let text = String::from_utf8_lossy(&self.s[begin..self.i]).into_owned();
                match text.parse::<f64>() {
                    Ok(v) => Ok(Value::Num(v)),
                    Err(_) => {
                        self.i = begin;
                        Err(self.err(format!(
                            "'{text}' is not a number (quote text values: \"{text}\")"
                        )))
                    }
                }
            }
        }
    }
}

impl Filter {
    /// Parses an expression.
    pub fn parse(text: &str) -> Result<Filter, ParseError> {
        let mut lx = Lexer {
            s: text.as_bytes(),
            i: 0,
        };
        let mut cmps = Vec::new();
        loop {
            let column = lx.column()?;
            let op = lx.op()?;
            let value = lx.value()?;
            cmps.push(Cmp { column, op, value });
            lx.skip_ws();
            if lx.i >= lx.s.len() {
                break;
            }
            let rest = &lx.s[lx.i..];
            if rest.starts_with(b"and ") || rest.starts_with(b"AND ") {
                lx.i += 4;
            } else if rest.starts_with(b"&&") {
                lx.i += 2;
            } else {
                return Err(lx.err("expected 'and' between comparisons"));
            }
        }
        Ok(Filter {
            text: text.to_string(),
            cmps,
        })
    }

    /// The column names the expression uses.
    pub fn columns(&self) -> Vec<&str> {
        self.cmps.iter().map(|c| c.column.as_str()).collect()
    }

    /// Whether row `row` of `table` passes.
    pub fn matches(&self, table: &Table, row: usize) -> Result<bool, TableError> {
        for c in &self.cmps {
            let col = table.column_index(&c.column).ok_or_else(|| {
                TableError::file(
                    &table.path,
                    format!(
                        "--where '{}': no column named '{}' (columns: {})",
                        self.text,
                        c.column,
                        table.columns.join(", ")
                    ),
                )
            })?;
            let ok = match &c.value {
                Value::Num(v) => {
                    let x = table.number_at(row, col).map_err(|mut e| {
                        e.message = format!("--where '{}': {}", self.text, e.message);
                        e
                    })?;
                    match c.op {
                        Op::Lt => x < *v,
                        Op::Le => x <= *v,
                        Op::Gt => x > *v,
                        Op::Ge => x >= *v,
                        Op::Eq => x == *v,
                        Op::Ne => x != *v,
                    }
                }
                Value::Str(s) => {
                    let cell = &table.rows[row][col];
                    let text = match cell {
                        Cell::Null => String::new(),
                        other => other.display(),
                    };
                    match c.op {
                        Op::Eq => &text == s,
                        Op::Ne => &text != s,
                        _ => {
                            return Err(TableError::file(
                                &table.path,
                                format!(
                                    "--where '{}': text values can only be compared with == or !=",
                                    self.text
                                ),
                            ))
                        }
                    }
                }
            };
            if !ok {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_comparisons_and_quoted_names() {
        let f =
            Filter::parse("`Model Size` > 1e8 and loss <= 3.5 && config_id == \"a|b\"").unwrap();
        assert_eq!(f.columns(), vec!["Model Size", "loss", "config_id"]);
        assert!(Filter::parse("loss <").is_err());
        let e = Filter::parse("loss < abc").unwrap_err();
        assert!(e.message.contains("not a number"), "{e}");
        assert_eq!(e.pos, 8);
        let e = Filter::parse("loss ~ 3").unwrap_err();
        assert!(e.message.contains("expected one of"), "{e}");
    }
}
