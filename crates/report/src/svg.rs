//! A small, dependency-free SVG plotter for scaling-law figures: linear or
//! logarithmic axes with decade ticks, lines, markers (filled, or hollow for
//! excluded runs), shaded bands, a legend, a title and alt text. Text stays
//! text (selectable, searchable, printable).

use std::fmt::Write;

/// A colour-blind-safe palette (Okabe–Ito).
pub const PALETTE: &[&str] = &[
    "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000",
];

/// Colour `i` of the palette.
pub fn color(i: usize) -> &'static str {
    PALETTE[i % PALETTE.len()]
}

/// One thing drawn in a plot.
#[derive(Clone, Debug)]
pub enum Item {
    /// A polyline.
    Line {
        points: Vec<(f64, f64)>,
        color: String,
        label: Option<String>,
        dashed: bool,
        width: f64,
    },
    /// Markers.
    Points {
        points: Vec<(f64, f64)>,
        color: String,
        label: Option<String>,
        hollow: bool,
        radius: f64,
    },
    /// A shaded band between `lower` and `upper` over the same x values.
    Band {
        x: Vec<f64>,
        lower: Vec<f64>,
        upper: Vec<f64>,
        color: String,
        label: Option<String>,
    },
    /// A vertical line at x.
    VLine {
        x: f64,
        color: String,
        label: Option<String>,
    },
    /// A text label at a data point.
    Text { x: f64, y: f64, text: String },
}

/// A figure.
#[derive(Clone, Debug)]
pub struct Plot {
    pub title: String,
    /// Describes the figure for screen readers (and the report's text).
    pub alt: String,
    pub x_label: String,
    pub y_label: String,
    pub x_log: bool,
    pub y_log: bool,
    pub items: Vec<Item>,
    pub width: f64,
    pub height: f64,
}

impl Plot {
    pub fn new(title: &str, x_label: &str, y_label: &str, x_log: bool, y_log: bool) -> Plot {
        Plot {
            title: title.into(),
            alt: String::new(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            x_log,
            y_log,
            items: Vec::new(),
            width: 640.0,
            height: 420.0,
        }
    }

    pub fn line(
        &mut self,
        points: Vec<(f64, f64)>,
        color: &str,
        label: Option<&str>,
        dashed: bool,
    ) {
        self.items.push(Item::Line {
            points,
            color: color.into(),
            label: label.map(String::from),
            dashed,
            width: 2.0,
        });
    }

    pub fn points(
        &mut self,
        points: Vec<(f64, f64)>,
        color: &str,
        label: Option<&str>,
        hollow: bool,
    ) {
        self.items.push(Item::Points {
            points,
            color: color.into(),
            label: label.map(String::from),
            hollow,
            radius: 3.5,
        });
    }

    pub fn band(
        &mut self,
        x: Vec<f64>,
        lower: Vec<f64>,
        upper: Vec<f64>,
        color: &str,
        label: Option<&str>,
    ) {
        self.items.push(Item::Band {
            x,
            lower,
            upper,
            color: color.into(),
            label: label.map(String::from),
        });
    }

    /// Number of drawn data marks (points and line vertices): a figure with
    /// none is empty.
    pub fn marks(&self) -> usize {
        self.items
            .iter()
            .map(|i| match i {
                Item::Line { points, .. } | Item::Points { points, .. } => points.len(),
                Item::Band { x, .. } => x.len(),
                Item::VLine { .. } | Item::Text { .. } => 1,
            })
            .sum()
    }

    fn ok(&self, x: f64, y: f64) -> bool {
        x.is_finite() && y.is_finite() && (!self.x_log || x > 0.0) && (!self.y_log || y > 0.0)
    }

    fn ranges(&self) -> ((f64, f64), (f64, f64)) {
        let mut xs = Vec::new();
        let mut ys = Vec::new();
        for it in &self.items {
            match it {
                Item::Line { points, .. } | Item::Points { points, .. } => {
                    for &(x, y) in points {
                        if self.ok(x, y) {
                            xs.push(x);
                            ys.push(y);
                        }
                    }
                }
                Item::Band {
                    x, lower, upper, ..
                } => {
                    for i in 0..x.len() {
                        for y in [lower[i], upper[i]] {
                            if self.ok(x[i], y) {
                                xs.push(x[i]);
                                ys.push(y);
                            }
                        }
                    }
                }
                Item::VLine { x, .. } => {
                    if x.is_finite() && (!self.x_log || *x > 0.0) {
                        xs.push(*x)
                    }
                }
                Item::Text { .. } => {}
            }
        }
        let span = |v: &[f64], log: bool| -> (f64, f64) {
            let lo = v.iter().cloned().fold(f64::INFINITY, f64::min);
            let hi = v.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            if !lo.is_finite() {
                return if log { (1.0, 10.0) } else { (0.0, 1.0) };
            }
            if log {
                let (a, b) = (lo.log10(), hi.log10());
                let pad = ((b - a) * 0.05).max(0.02);
                (10f64.powf(a - pad), 10f64.powf(b + pad))
            } else {
                let pad = ((hi - lo) * 0.06).max(hi.abs().max(1e-12) * 0.02);
                (lo - pad, hi + pad)
            }
        };
        (span(&xs, self.x_log), span(&ys, self.y_log))
    }

    /// The figure as an SVG document (also valid inline in HTML).
    pub fn to_svg(&self) -> String {
        let (w, h) = (self.width, self.height);
        let (ml, mr, mt, mb) = (72.0, 18.0, 34.0, 54.0);
        let legend: Vec<(String, String, &str)> = self
            .items
            .iter()
            .filter_map(|i| match i {
                Item::Line {
                    label: Some(l),
                    color,
                    dashed,
                    ..
                } => Some((
                    l.clone(),
                    color.clone(),
                    if *dashed { "dash" } else { "line" },
                )),
                Item::Points {
                    label: Some(l),
                    color,
                    hollow,
                    ..
                } => Some((
                    l.clone(),
                    color.clone(),
                    if *hollow { "hollow" } else { "dot" },
                )),
                Item::Band {
                    label: Some(l),
                    color,
                    ..
                } => Some((l.clone(), color.clone(), "band")),
                Item::VLine {
                    label: Some(l),
                    color,
                    ..
                } => Some((l.clone(), color.clone(), "dash")),
                _ => None,
            })
            .collect();
        let ((x0, x1), (y0, y1)) = self.ranges();
        let (pw, ph) = (w - ml - mr, h - mt - mb);
        let tx = |x: f64| {
            let f = if self.x_log {
                (x.log10() - x0.log10()) / (x1.log10() - x0.log10())
            } else {
                (x - x0) / (x1 - x0)
            };
            ml + f * pw
        };
        let ty = |y: f64| {
            let f = if self.y_log {
                (y.log10() - y0.log10()) / (y1.log10() - y0.log10())
            } else {
                (y - y0) / (y1 - y0)
            };
            mt + (1.0 - f) * ph
        };
        let mut s = String::new();
        let _ = write!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-labelledby="t d" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12">"#
        );
        let _ = write!(
            s,
            "<title id=\"t\">{}</title><desc id=\"d\">{}</desc>",
            esc(&self.title),
            esc(&self.alt)
        );
        let _ = write!(
            s,
            r##"<rect x="0" y="0" width="{w}" height="{h}" fill="#ffffff"/>"##
        );
        let _ = write!(
            s,
            r##"<text x="{}" y="20" text-anchor="middle" font-size="14" font-weight="bold">{}</text>"##,
            w / 2.0,
            esc(&self.title)
        );
        // grid and ticks
        let xt = ticks(x0, x1, self.x_log);
        let yt = ticks(y0, y1, self.y_log);
        for (v, major) in &xt {
            let x = tx(*v);
            let _ = write!(
                s,
                r##"<line x1="{x:.1}" y1="{mt}" x2="{x:.1}" y2="{:.1}" stroke="{}" stroke-width="1"/>"##,
                mt + ph,
                if *major { "#e0e0e0" } else { "#f2f2f2" }
            );
            if *major {
                let _ = write!(
                    s,
                    r##"<text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
                    mt + ph + 16.0,
                    tick_label(*v, self.x_log)
                );
            }
        }
        for (v, major) in &yt {
            let y = ty(*v);
            let _ = write!(
                s,
                r##"<line x1="{ml}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{}" stroke-width="1"/>"##,
                ml + pw,
                if *major { "#e0e0e0" } else { "#f2f2f2" }
            );
            if *major {
                let _ = write!(
                    s,
                    r##"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
                    ml - 6.0,
                    y + 4.0,
                    tick_label(*v, self.y_log)
                );
            }
        }
        let _ = write!(
            s,
            r##"<rect x="{ml}" y="{mt}" width="{pw:.1}" height="{ph:.1}" fill="none" stroke="#444"/>"##
        );
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            ml + pw / 2.0,
            h - 12.0,
            esc(&self.x_label)
        );
        let _ = write!(
            s,
            r##"<text transform="translate(16 {:.1}) rotate(-90)" text-anchor="middle">{}</text>"##,
            mt + ph / 2.0,
            esc(&self.y_label)
        );
        let _ = write!(
            s,
            r##"<clipPath id="c{}"><rect x="{ml}" y="{mt}" width="{pw:.1}" height="{ph:.1}"/></clipPath><g clip-path="url(#c{})">"##,
            self.id(),
            self.id()
        );
        for it in &self.items {
            match it {
                Item::Band {
                    x,
                    lower,
                    upper,
                    color,
                    ..
                } => {
                    let mut d = String::new();
                    let pts: Vec<usize> = (0..x.len())
                        .filter(|&i| self.ok(x[i], lower[i]) && self.ok(x[i], upper[i]))
                        .collect();
                    for (k, &i) in pts.iter().enumerate() {
                        let _ = write!(
                            d,
                            "{}{:.1},{:.1}",
                            if k == 0 { "M" } else { "L" },
                            tx(x[i]),
                            ty(upper[i])
                        );
                    }
                    for &i in pts.iter().rev() {
                        let _ = write!(d, "L{:.1},{:.1}", tx(x[i]), ty(lower[i]));
                    }
                    if !pts.is_empty() {
                        let _ = write!(
                            s,
                            r#"<path d="{d}Z" fill="{color}" fill-opacity="0.18" stroke="none"/>"#
                        );
                    }
                }
                Item::Line {
                    points,
                    color,
                    dashed,
                    width,
                    ..
                } => {
                    let mut d = String::new();
                    let mut pen = false;
                    for &(x, y) in points {
                        if self.ok(x, y) {
                            let _ = write!(
                                d,
                                "{}{:.1},{:.1}",
                                if pen { "L" } else { "M" },
                                tx(x),
                                ty(y)
                            );
                            pen = true;
                        } else {
                            pen = false;
                        }
                    }
                    if !d.is_empty() {
                        let _ = write!(
                            s,
                            r#"<path d="{d}" fill="none" stroke="{color}" stroke-width="{width}"{}/>"#,
                            if *dashed {
                                r#" stroke-dasharray="6 4""#
                            } else {
                                ""
                            }
                        );
                    }
                }
                Item::Points {
                    points,
                    color,
                    hollow,
                    radius,
                    ..
                } => {
                    for &(x, y) in points {
                        if self.ok(x, y) {
                            let _ = write!(
                                s,
                                r##"<circle cx="{:.1}" cy="{:.1}" r="{radius}" fill="{}" stroke="{color}" stroke-width="1.5"/>"##,
                                tx(x),
                                ty(y),
                                if *hollow { "#ffffff" } else { color }
                            );
                        }
                    }
                }
                Item::VLine { x, color, .. } => {
                    if x.is_finite() && (!self.x_log || *x > 0.0) {
                        let _ = write!(
                            s,
                            r#"<line x1="{:.1}" y1="{mt}" x2="{:.1}" y2="{:.1}" stroke="{color}" stroke-width="1.5" stroke-dasharray="4 3"/>"#,
                            tx(*x),
                            tx(*x),
                            mt + ph
                        );
                    }
                }
                Item::Text { x, y, text } => {
                    if self.ok(*x, *y) {
                        let _ = write!(
                            s,
                            r#"<text x="{:.1}" y="{:.1}" font-size="10">{}</text>"#,
                            tx(*x) + 4.0,
                            ty(*y) - 4.0,
                            esc(text)
                        );
                    }
                }
            }
        }
        s.push_str("</g>");
        // legend, top right inside the plot
        if !legend.is_empty() {
            let lw = legend
                .iter()
                .map(|l| l.0.chars().count())
                .max()
                .unwrap_or(0) as f64
                * 6.6
                + 34.0;
            let lh = legend.len() as f64 * 16.0 + 8.0;
            // the corner whose box covers the fewest drawn points and vertices
            let marks: Vec<(f64, f64)> = self
                .items
                .iter()
                .flat_map(|i| match i {
                    Item::Line { points, .. } | Item::Points { points, .. } => points.clone(),
                    _ => Vec::new(),
                })
                .filter(|&(x, y)| self.ok(x, y))
                .map(|(x, y)| (tx(x), ty(y)))
                .collect();
            let corners = [
                (ml + pw - lw - 6.0, mt + 6.0),
                (ml + 6.0, mt + 6.0),
                (ml + pw - lw - 6.0, mt + ph - lh - 6.0),
                (ml + 6.0, mt + ph - lh - 6.0),
            ];
            let covered = |&(cx, cy): &(f64, f64)| {
                marks
                    .iter()
                    .filter(|&&(x, y)| {
                        x >= cx - 4.0 && x <= cx + lw + 4.0 && y >= cy - 4.0 && y <= cy + lh + 4.0
                    })
                    .count()
            };
            let (lx, ly) = corners
                .iter()
                .min_by_key(|c| covered(c))
                .copied()
                .unwrap_or(corners[0]);
            let _ = write!(
                s,
                r##"<rect x="{lx:.1}" y="{ly:.1}" width="{lw:.1}" height="{lh:.1}" fill="#ffffff" fill-opacity="0.85" stroke="#bbb"/>"##
            );
            for (k, (label, color, kind)) in legend.iter().enumerate() {
                let y = ly + 14.0 + k as f64 * 16.0;
                let x = lx + 6.0;
                match *kind {
                    "line" | "dash" => {
                        let _ = write!(
                            s,
                            r#"<line x1="{x:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{color}" stroke-width="2"{}/>"#,
                            y - 4.0,
                            x + 20.0,
                            y - 4.0,
                            if *kind == "dash" {
                                r#" stroke-dasharray="6 4""#
                            } else {
                                ""
                            }
                        );
                    }
                    "band" => {
                        let _ = write!(
                            s,
                            r#"<rect x="{x:.1}" y="{:.1}" width="20" height="8" fill="{color}" fill-opacity="0.25"/>"#,
                            y - 8.0
                        );
                    }
                    _ => {
                        let _ = write!(
                            s,
                            r##"<circle cx="{:.1}" cy="{:.1}" r="3.5" fill="{}" stroke="{color}" stroke-width="1.5"/>"##,
                            x + 10.0,
                            y - 4.0,
                            if *kind == "hollow" { "#ffffff" } else { color }
                        );
                    }
                }
                let _ = write!(
                    s,
                    r#"<text x="{:.1}" y="{y:.1}">{}</text>"#,
                    x + 26.0,
                    esc(label)
                );
            }
        }
        s.push_str("</svg>");
        s
    }

    fn id(&self) -> u64 {
        // a stable id per figure so several inline SVGs do not share clip paths
        let mut h: u64 = 1469598103934665603;
        for b in self.title.bytes().chain(self.y_label.bytes()) {
            h = (h ^ b as u64).wrapping_mul(1099511628211);
        }
        h % 1_000_000_007
    }
}

/// XML escaping.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The most ticks an axis gets: a range whose step is lost in rounding (a
/// huge range, or values far from zero) would otherwise add ticks forever.
const MAX_TICKS: usize = 200;

/// Tick positions (value, major) for a range; none for a range that is not
/// finite (a law predicting infinities), at most [`MAX_TICKS`].
fn ticks(lo: f64, hi: f64, log: bool) -> Vec<(f64, bool)> {
    let mut out = Vec::new();
    if !(lo.is_finite() && hi.is_finite() && lo <= hi) || (log && lo <= 0.0) {
        return out;
    }
    if log && hi / lo < 20.0 {
        // a narrow log axis: evenly spaced round values read better
        return ticks(lo, hi, false);
    }
    if log {
        let (a, b) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
        let decades = b - a;
        let step = ((decades as f64) / 8.0).ceil().max(1.0) as i32;
        for e in a..=b {
            for m in 1..10 {
                let v = m as f64 * 10f64.powi(e);
                if v < lo || v > hi {
                    continue;
                }
                if m == 1 {
                    out.push((v, (e - a) % step == 0));
                } else if decades <= 4 {
                    out.push((v, decades <= 1 && (m == 2 || m == 5)));
                }
            }
        }
        if out.iter().filter(|t| t.1).count() < 2 {
            // less than a decade: label 2 and 5 as well
            for t in out.iter_mut() {
                let m = t.0 / 10f64.powf(t.0.log10().floor());
                if (m - 2.0).abs() < 1e-9 || (m - 5.0).abs() < 1e-9 || (m - 1.0).abs() < 1e-9 {
                    t.1 = true;
                }
            }
        }
    } else {
        let raw = (hi - lo) / 6.0;
        let mag = 10f64.powf(raw.log10().floor());
        let step = [1.0, 2.0, 2.5, 5.0, 10.0]
            .iter()
            .map(|m| m * mag)
            .find(|s| *s >= raw)
            .unwrap_or(10.0 * mag);
        if !(step.is_finite() && step > 0.0) {
            return out;
        }
        let first = (lo / step).ceil();
        for k in 0..MAX_TICKS {
            let v = (first + k as f64) * step;
            if v > hi + 1e-12 * step {
                break;
            }
            out.push((v, true));
        }
    }
    out
}

fn tick_label(v: f64, log: bool) -> String {
    let m = v / 10f64.powf(v.abs().log10().floor());
    let round_mantissa = (m - m.round()).abs() < 1e-9;
    if log && round_mantissa {
        let e = v.log10().floor();
        let m = v / 10f64.powf(e);
        if (m - 1.0).abs() < 1e-9 {
            if (-2.0..=3.0).contains(&e) {
                format!("{}", 10f64.powf(e))
            } else {
                format!("1e{}", e as i32)
            }
        } else if (-2.0..=3.0).contains(&e) {
            format!("{}", (v * 1e6).round() / 1e6)
        } else {
            format!("{}e{}", m.round(), e as i32)
        }
    } else if v != 0.0 && (v.abs() >= 1e5 || v.abs() < 1e-3) {
        let e = v.abs().log10().floor();
        let m = format!("{:.3}", v / 10f64.powf(e));
        let m = m.trim_end_matches('0').trim_end_matches('.');
        format!("{m}e{}", e as i32)
    } else {
        let s = format!("{:.4}", v);
        let s = s.trim_end_matches('0').trim_end_matches('.');
        if s == "-0" {
            "0".into()
        } else {
            s.into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_ticks_cover_decades_and_labels_are_readable() {
        let t = ticks(3e5, 2e9, true);
        let majors: Vec<f64> = t.iter().filter(|t| t.1).map(|t| t.0).collect();
        assert_eq!(majors, vec![1e6, 1e7, 1e8, 1e9]);
        assert_eq!(tick_label(1e6, true), "1e6");
        assert_eq!(tick_label(100.0, true), "100");
        let t = ticks(1.05, 1.7, true);
        assert!(t.iter().filter(|t| t.1).count() >= 3, "{t:?}");
        assert_eq!(tick_label(1.2, true), "1.2");
        assert_eq!(tick_label(2.5e11, false), "2.5e11");
    }

    #[test]
    fn ticks_of_degenerate_ranges_are_few_or_none() {
        for log in [false, true] {
            assert!(ticks(1.0, f64::INFINITY, log).is_empty());
            assert!(ticks(f64::NEG_INFINITY, 1.0, log).is_empty());
            assert!(ticks(f64::NAN, 1.0, log).is_empty());
            assert!(ticks(2.0, 1.0, log).is_empty());
        }
        assert!(ticks(0.0, 10.0, true).is_empty());
        // a step lost in rounding: at most MAX_TICKS, not a loop without end
        assert!(ticks(1e300, 1e300 * (1.0 + 1e-15), false).len() <= MAX_TICKS);
        assert!(ticks(-1e308, 1e308, false).len() <= MAX_TICKS);
    }

    #[test]
    fn svg_has_marks_title_and_escapes_text() {
        let mut p = Plot::new("loss <N>", "N", "loss", true, true);
        p.points(
            vec![(1e6, 3.0), (1e7, 2.5), (-1.0, 2.0)],
            color(0),
            Some("runs"),
            false,
        );
        p.line(vec![(1e6, 3.0), (1e7, 2.4)], color(1), Some("fit"), false);
        let s = p.to_svg();
        assert_eq!(
            s.matches("<circle").count(),
            2 + 1,
            "two points and a legend marker"
        );
        assert!(s.contains("loss &lt;N&gt;"));
        assert!(s.contains("<path d=\"M"));
        assert_eq!(p.marks(), 5);
    }
}
