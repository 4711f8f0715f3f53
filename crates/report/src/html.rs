//! The self-contained HTML report: inline SVG figures, tables, warnings and
//! provenance, a little CSS (screen and print), no scripts and no external
//! requests.

use crate::svg::{esc, Plot};
use std::fmt::Write;

/// A table: caption, header and rows of text.
#[derive(Clone, Debug, Default)]
pub struct Table {
    pub caption: String,
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// One section of the report.
#[derive(Clone, Debug)]
pub enum Block {
    Heading(String),
    Paragraph(String),
    Table(Table),
    Figure(Plot),
    Warnings(Vec<String>),
    /// Preformatted text (the summary as the terminal shows it).
    Pre(String),
}

/// A report.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub title: String,
    pub subtitle: String,
    pub blocks: Vec<Block>,
}

const CSS: &str = r#"
:root { color-scheme: light; }
body { font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; max-width: 1100px; margin: 1.5rem auto; padding: 0 1rem; color: #222; line-height: 1.45; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; }
h2 { font-size: 1.25rem; border-bottom: 1px solid #ddd; padding-bottom: .2rem; margin-top: 2rem; }
.subtitle { color: #555; margin-top: 0; }
figure { margin: 1rem 0; display: inline-block; vertical-align: top; max-width: 100%; }
figure svg { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: .85rem; color: #444; max-width: 640px; }
table { border-collapse: collapse; margin: .8rem 0; font-size: .9rem; }
caption { text-align: left; font-weight: bold; padding-bottom: .3rem; }
th, td { border: 1px solid #ccc; padding: .25rem .55rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f4f4f4; }
.warnings { background: #fff6e5; border-left: 4px solid #E69F00; padding: .5rem 1rem; }
pre { background: #f7f7f7; padding: .7rem; overflow-x: auto; font-size: .8rem; }
@media print {
  body { max-width: none; margin: 0; }
  figure { page-break-inside: avoid; display: block; }
  h2 { page-break-after: avoid; }
}
"#;

impl Report {
    pub fn new(title: &str, subtitle: &str) -> Report {
        Report {
            title: title.into(),
            subtitle: subtitle.into(),
            blocks: Vec::new(),
        }
    }

    pub fn push(&mut self, b: Block) {
        self.blocks.push(b);
    }

    /// Figures in the report.
    pub fn figures(&self) -> Vec<&Plot> {
        self.blocks
            .iter()
            .filter_map(|b| match b {
                Block::Figure(p) => Some(p),
                _ => None,
            })
            .collect()
    }

    /// The whole page.
    pub fn to_html(&self) -> String {
        let mut s = String::new();
        let _ = write!(
            s,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<h1>{}</h1>\n<p class=\"subtitle\">{}</p>\n",
            esc(&self.title),
            esc(&self.title),
            esc(&self.subtitle)
        );
        let mut fig = 0;
        for b in &self.blocks {
            match b {
                Block::Heading(h) => {
                    let _ = writeln!(s, "<h2>{}</h2>", esc(h));
                }
                Block::Paragraph(p) => {
                    let _ = writeln!(s, "<p>{}</p>", esc(p));
                }
                Block::Pre(p) => {
                    let _ = writeln!(s, "<pre>{}</pre>", esc(p));
                }
                Block::Warnings(w) => {
                    if w.is_empty() {
                        let _ = writeln!(s, "<p>No warnings.</p>");
                    } else {
                        let _ = writeln!(s, "<div class=\"warnings\" role=\"note\"><ul>");
                        for x in w {
                            let _ = writeln!(s, "<li>{}</li>", esc(x));
                        }
                        let _ = writeln!(s, "</ul></div>");
                    }
                }
                Block::Table(t) => {
                    let _ = write!(
                        s,
                        "<table><caption>{}</caption><thead><tr>",
                        esc(&t.caption)
                    );
                    for h in &t.header {
                        let _ = write!(s, "<th scope=\"col\">{}</th>", esc(h));
                    }
                    let _ = write!(s, "</tr></thead><tbody>");
                    for r in &t.rows {
                        let _ = write!(s, "<tr>");
                        for c in r {
                            let _ = write!(s, "<td>{}</td>", esc(c));
                        }
                        let _ = write!(s, "</tr>");
                    }
                    let _ = writeln!(s, "</tbody></table>");
                }
                Block::Figure(p) => {
                    fig += 1;
                    let _ = writeln!(
                        s,
                        "<figure class=\"figure\" data-marks=\"{}\">{}<figcaption>Figure {fig}. {}</figcaption></figure>",
                        p.marks(),
                        p.to_svg(),
                        esc(&p.alt)
                    );
                }
            }
        }
        s.push_str("</body>\n</html>\n");
        s
    }
}

/// Formats a number with about five significant digits.
pub fn num(v: f64) -> String {
    if !v.is_finite() {
        return "–".into();
    }
    let a = v.abs();
    if a != 0.0 && !(1e-3..1e5).contains(&a) {
        format!("{v:.4e}")
    } else {
        let digits = if a == 0.0 {
            4
        } else {
            (4 - a.log10().floor() as i32).clamp(0, 8) as usize
        };
        format!("{v:.digits$}")
    }
}
