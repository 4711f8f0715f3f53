//! Compare two recipes: the effective-compute multiplier between two ladders
//! of runs (how much compute recipe B needs to reach recipe A's loss), with
//! bootstrap intervals, the crossover compute and an optional shared
//! irreducible loss. The numerics are [`scalelab_core::compare`]; this
//! module reads the ladders (two run tables, or two groups of one table),
//! checks that they count compute the same way, and returns a
//! [`CompareReport`], the `scalelab.compare/1` schema as a type.
//!
//! [`compare`] is [`load`] (or [`load_from_tables`], for tables already in
//! memory) then [`analyse`].

use crate::runs::{self, KeptTable};
use crate::{Error, Result, Warning, WarningKind};
use scalelab_core::compare::{
    compare as compare_frontiers, CompareBootstrap, CompareError, CompareOptions, CurveFit,
    Frontier, MultiplierPoint,
};
use scalelab_core::laws::{PowerLaw, Variable};
use scalelab_core::robust::Robust;
use scalelab_tables::{ColumnMap, Table};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The schema tag of [`CompareReport`].
pub const COMPARE_SCHEMA: &str = "scalelab.compare/1";

/// The column whose value names a ladder's FLOP/parameter-counting
/// convention by default (Porian et al.'s `param_count`: kaplan, standard,
/// attention).
pub const DEFAULT_CONVENTION_COLUMN: &str = "param_count";

/// How to pick two ladders out of one table.
#[derive(Clone, Debug, PartialEq)]
pub struct Groups {
    /// The columns whose values name the recipe (`config_id`); with several,
    /// a group's value joins theirs with `,`.
    pub columns: Vec<String>,
    /// Its value for recipe A.
    pub a: String,
    /// Its value for recipe B.
    pub b: String,
}

/// What to compare, and how.
#[derive(Clone, Debug)]
pub struct CompareRequest {
    /// Recipe A's run table (CSV/TSV, JSONL, Parquet or a sweep directory),
    /// or with `groups` the one table holding both.
    pub table_a: PathBuf,
    /// Recipe B's run table; `None` with `groups`.
    pub table_b: Option<PathBuf>,
    /// Two ladders from one table (`--group-by`, `--group-a`, `--group-b`).
    pub groups: Option<Groups>,
    /// Which columns hold compute and loss (as in `fit`).
    pub columns: ColumnMap,
    /// `--where` filters applied to both ladders.
    pub filters: Vec<String>,
    /// The convention column (default [`DEFAULT_CONVENTION_COLUMN`]).
    pub convention_col: String,
    /// Compare ladders even when their conventions differ.
    pub no_convention_check: bool,
    /// Fit both ladders with one irreducible loss E.
    pub shared_e: bool,
    /// Bootstrap resamples of the frontier points (0: none).
    pub bootstrap: usize,
    pub seed: u64,
    /// Computes (of recipe A) at which to report the multiplier.
    pub at: Vec<f64>,
    pub robust: Robust,
}

impl Default for CompareRequest {
    fn default() -> Self {
        CompareRequest {
            table_a: PathBuf::new(),
            table_b: None,
            groups: None,
            columns: ColumnMap::default(),
            filters: Vec::new(),
            convention_col: DEFAULT_CONVENTION_COLUMN.into(),
            no_convention_check: false,
            shared_e: false,
            bootstrap: 200,
            seed: 0,
            at: Vec::new(),
            robust: Robust::default(),
        }
    }
}

/// One ladder: where it came from, its frontier and its fit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ladder {
    /// A short name: the group value, or the file name.
    pub label: String,
    /// The table file.
    pub path: String,
    /// The group column and value, when picked from a shared table.
    pub group: Option<[String; 2]>,
    /// The value of the convention column (None: the table has none).
    pub convention: Option<String>,
    /// Rows of the ladder (after filters).
    pub rows: usize,
    /// The compute frontier the law was fitted to.
    pub frontier: Frontier,
    /// `L = E + A·C^-alpha` (keys `E`, `A`, `alpha`, `objective`,
    /// `converged`).
    pub fit: CurveFit,
}

/// The comparison, as `scalelab compare --json` prints it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CompareReport {
    /// Always [`COMPARE_SCHEMA`].
    pub schema: String,
    pub a: Ladder,
    pub b: Ladder,
    /// Whether E was shared between the fits.
    pub shared_e: bool,
    /// Whether the conventions were checked.
    pub convention_check: bool,
    /// The common compute range `[lo, hi]` (FLOPs).
    pub overlap: [f64; 2],
    /// The multiplier at A's frontier points inside the overlap, then at
    /// the computes asked for.
    pub points: Vec<MultiplierPoint>,
    /// Geometric mean of the multiplier over the overlap.
    pub geo_mean: Option<f64>,
    pub geo_mean_ci95: Option<[f64; 2]>,
    /// Points of the overlap's grid where the multiplier is undefined.
    pub geo_mean_undefined: usize,
    /// The compute where the fitted curves cross, if they do near the
    /// overlap.
    pub crossover: Option<f64>,
    pub crossover_ci95: Option<[f64; 2]>,
    pub bootstrap: Option<CompareBootstrap>,
    pub notes: Vec<String>,
    pub warnings: Vec<Warning>,
}

/// One ladder as read: its compute and loss (after the filters), and
/// what the user should know about its rows.
#[derive(Clone, Debug)]
pub struct LadderInput {
    /// The table file (for a table in memory, the name it was given).
    pub ladder_path: PathBuf,
    /// A short name: the group value, or the file name.
    pub label: String,
    /// The group column and value, when picked from a shared table.
    pub group: Option<[String; 2]>,
    /// The value of the convention column (None: the table has none).
    pub convention: Option<String>,
    /// Rows of the ladder.
    pub rows: usize,
    pub compute: Vec<f64>,
    pub loss: Vec<f64>,
    pub notes: Vec<String>,
    /// Runs left out (a sweep's failed or unfinished runs).
    pub warnings: Vec<Warning>,
}

/// Both ladders, read and checked.
#[derive(Clone, Debug)]
pub struct CompareInput {
    pub a: LadderInput,
    pub b: LadderInput,
}

/// Reads both ladders and compares them.
pub fn compare(req: &CompareRequest) -> Result<CompareReport> {
    let input = load(req)?;
    analyse(req, &input)
}

/// Reads both ladders: two tables (`table_a`, `table_b`), or two groups of
/// `table_a` (`groups`).
pub fn load(req: &CompareRequest) -> Result<CompareInput> {
    prepare(req, None, None)
}

/// [`load`] with tables already in memory (e.g. DataFrames): `a` stands for
/// `req.table_a` and `b` for `req.table_b`, which are then not read; a side
/// given as `None` is read from its path. The same filters, drop of
/// unfinished runs and checks apply.
pub fn load_from_tables(
    req: &CompareRequest,
    a: Option<Table>,
    b: Option<Table>,
) -> Result<CompareInput> {
    prepare(req, a, b)
}

fn prepare(req: &CompareRequest, a: Option<Table>, b: Option<Table>) -> Result<CompareInput> {
    let read = |path: &Path, table: Option<Table>| match table {
        Some(t) => runs::filter_table(t, &req.filters),
        None => runs::load_table(path, &req.filters),
    };
    let b_name = match (&b, &req.table_b) {
        (Some(t), _) => Some(t.path.clone()),
        (None, p) => p.clone(),
    };
    let (a, b) = match (&req.groups, b_name) {
        (Some(_), Some(b)) => {
            return Err(Error::flag(
                "--group-by",
                format!(
                    "--group-by picks both ladders from one table; a second table ({}) was given too",
                    b.display()
                ),
            ))
        }
        (None, None) => {
            return Err(Error::flag(
                "--group-by",
                "compare needs two tables (A.csv B.csv), or one table with --group-by COLUMN --group-a VALUE --group-b VALUE",
            ))
        }
        (Some(g), None) => {
            let kept = read(&req.table_a, a)?;
            (
                load_group(req, &kept, &g.columns, &g.a, "--group-a")?,
                load_group(req, &kept, &g.columns, &g.b, "--group-b")?,
            )
        }
        (None, Some(tb)) => (
            load_whole(req, read(&req.table_a, a)?)?,
            load_whole(req, read(&tb, b)?)?,
        ),
    };
    Ok(CompareInput { a, b })
}

/// Compares the ladders of `input`: checks their conventions, fits both
/// frontiers and computes the multiplier, its intervals and the crossover.
pub fn analyse(req: &CompareRequest, input: &CompareInput) -> Result<CompareReport> {
    let (a, b) = (input.a.clone(), input.b.clone());
    let mut notes = Vec::new();
    let mut warnings = Vec::new();
    match (&a.convention, &b.convention) {
        (Some(ca), Some(cb)) if ca != cb => {
            if req.no_convention_check {
                warnings.push(Warning::new(
                    WarningKind::Other,
                    format!(
                        "the ladders count compute differently ({} = `{ca}` for A, `{cb}` for B); compared anyway (--no-convention-check), so the multiplier mixes recipe and accounting",
                        req.convention_col
                    ),
                ));
            } else {
                return Err(Error::flag(
                    "--no-convention-check",
                    format!(
                        "the ladders are on different FLOP/parameter conventions: {} is `{ca}` for ladder A ({}) and `{cb}` for ladder B ({}); a multiplier between them mixes the recipe with the accounting. Compare ladders of one convention, or pass --no-convention-check",
                        req.convention_col, a.label, b.label
                    ),
                ));
            }
        }
        (Some(_), None) | (None, Some(_)) => notes.push(format!(
            "only one ladder has a `{}` column; conventions not checked",
            req.convention_col
        )),
        _ => {}
    }
    for l in [&a, &b] {
        notes.extend(l.notes.iter().map(|n| format!("{}: {n}", l.label)));
        warnings.extend(l.warnings.iter().cloned());
    }
    let fa = Frontier::of(&a.compute, &a.loss);
    let fb = Frontier::of(&b.compute, &b.loss);
    let opts = CompareOptions {
        shared_e: req.shared_e,
        bootstrap: req.bootstrap,
        seed: req.seed,
        at: req.at.clone(),
        robust: req.robust,
    };
    let c = compare_frontiers(&fa, &fb, &opts).map_err(|e| match e {
        CompareError::TooFewPoints { ladder, .. } => {
            let l = if ladder == 'A' { &a } else { &b };
            Error::input(
                &l.ladder_path,
                None,
                format!("{} ({}): {e}", l.label, l.ladder_path.display()),
            )
        }
        CompareError::NoOverlap { .. } => {
            Error::failed(format!("{e} (A = {}, B = {})", a.label, b.label))
        }
        CompareError::Fit { .. } => Error::failed(e.to_string()),
    })?;
    for (l, fit) in [(&a, &c.fit_a), (&b, &c.fit_b)] {
        if !fit.converged {
            warnings.push(Warning::new(
                WarningKind::Fit,
                format!("the fit of {} did not converge", l.label),
            ));
        }
    }
    if c.points.iter().any(|p| p.multiplier.is_none()) {
        notes.push(
            "some multipliers are undefined: recipe A's loss there is at or below recipe B's fitted E"
                .into(),
        );
    }
    let ladder = |l: LadderInput, frontier: Frontier, fit: CurveFit| Ladder {
        label: l.label,
        path: l.ladder_path.display().to_string(),
        group: l.group,
        convention: l.convention,
        rows: l.rows,
        frontier,
        fit,
    };
    Ok(CompareReport {
        schema: COMPARE_SCHEMA.into(),
        a: ladder(a, c.frontier_a, c.fit_a),
        b: ladder(b, c.frontier_b, c.fit_b),
        shared_e: c.shared_e,
        convention_check: !req.no_convention_check,
        overlap: c.overlap,
        points: c.points,
        geo_mean: c.geo_mean,
        geo_mean_ci95: c.geo_mean_ci95,
        geo_mean_undefined: c.geo_mean_undefined,
        crossover: c.crossover,
        crossover_ci95: c.crossover_ci95,
        bootstrap: c.bootstrap,
        notes,
        warnings,
    })
}

/// Reads a `scalelab.compare/1` file back.
pub fn read_compare(path: &Path) -> Result<CompareReport> {
    let r: CompareReport = crate::error::read_json_report(COMPARE_SCHEMA, path)?;
    if r.schema != COMPARE_SCHEMA {
        return Err(Error::input(
            path,
            None,
            format!(
                "{}: schema is `{}`, expected {COMPARE_SCHEMA}",
                path.display(),
                r.schema
            ),
        ));
    }
    Ok(r)
}

/// Writes the report as `scalelab compare --out` does: pretty JSON and a
/// newline, atomically; `what` names the file in an error (`--out`).
pub fn write_compare(report: &CompareReport, what: &str, out: &Path) -> Result<()> {
    let json = serde_json::to_string_pretty(report)
        .map_err(|e| Error::failed(format!("cannot serialise the report: {e}")))?;
    crate::error::write_file(what, out, format!("{json}\n").as_bytes())
}

fn load_whole(req: &CompareRequest, kept: KeptTable) -> Result<LadderInput> {
    let label = kept
        .path
        .file_name()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| kept.path.display().to_string());
    load_kept(req, kept, label, None)
}

fn load_group(
    req: &CompareRequest,
    kept: &KeptTable,
    columns: &[String],
    value: &str,
    flag: &str,
) -> Result<LadderInput> {
    let t = &kept.table;
    let mut cols = Vec::new();
    for column in columns {
        cols.push(t.column_index(column).ok_or_else(|| {
            Error::flag(
                "--group-by",
                format!(
                    "--group-by: {} has no column `{column}` (columns: {})",
                    kept.path.display(),
                    t.columns.join(", ")
                ),
            )
        })?);
    }
    let key = |r: &Vec<scalelab_tables::Cell>| {
        cols.iter()
            .map(|c| r[*c].display())
            .collect::<Vec<_>>()
            .join(",")
    };
    let column = columns.join(",");
    let keep: Vec<bool> = t.rows.iter().map(|r| key(r) == value).collect();
    if !keep.iter().any(|k| *k) {
        let mut values: Vec<String> = t.rows.iter().map(key).collect();
        values.sort();
        values.dedup();
        let shown: Vec<String> = values.iter().take(20).cloned().collect();
        return Err(Error::flag(
            flag,
            format!(
                "{flag}: no rows of {} have {column} = `{value}` (values: {}{})",
                kept.path.display(),
                shown.join(", "),
                if values.len() > 20 { ", …" } else { "" }
            ),
        ));
    }
    let sub = KeptTable {
        path: kept.path.clone(),
        rows_read: kept.rows_read,
        table: t.retain_rows(&keep),
        notes: Vec::new(),
        warnings: Vec::new(),
    };
    load_kept(
        req,
        sub,
        value.to_string(),
        Some([column, value.to_string()]),
    )
}

fn load_kept(
    req: &CompareRequest,
    kept: KeptTable,
    label: String,
    group: Option<[String; 2]>,
) -> Result<LadderInput> {
    let convention = match kept.table.column_index(&req.convention_col) {
        None => None,
        Some(_) => {
            let mut v = kept.table.text_column(&req.convention_col)?;
            v.sort();
            v.dedup();
            if v.len() > 1 && !req.no_convention_check {
                return Err(Error::flag(
                    "--no-convention-check",
                    format!(
                        "ladder {label} ({}) mixes FLOP/parameter conventions: {} takes the values {}; pick one with --where, or pass --no-convention-check",
                        kept.path.display(),
                        req.convention_col,
                        v.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
            Some(v.join(","))
        }
    };
    let path = kept.path.clone();
    let law = PowerLaw::new(Variable::C);
    let input = runs::observations(kept, &req.columns, &law)?;
    Ok(LadderInput {
        ladder_path: path,
        label,
        group,
        convention,
        rows: input.obs.len(),
        compute: input.obs.c.clone(),
        loss: input.obs.loss.clone(),
        notes: input.notes,
        warnings: input.warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, rows: &[(f64, f64, &str)]) -> PathBuf {
        let mut s = String::from("flops,loss,param_count\n");
        for (c, l, p) in rows {
            s.push_str(&format!("{c:e},{l},{p}\n"));
        }
        let p = dir.join(name);
        std::fs::write(&p, s).unwrap();
        p
    }

    fn rows(shift: f64, conv: &'static str) -> Vec<(f64, f64, &'static str)> {
        (0..8)
            .map(|i| {
                let c = 1e17 * 2.5f64.powi(i);
                (c, 1.8 + 2000.0 * (c / shift).powf(-0.2), conv)
            })
            .collect()
    }

    #[test]
    fn two_tables_give_the_planted_multiplier_and_a_round_trip() {
        let dir = std::env::temp_dir().join(format!("scalelab-compare-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let a = write(&dir, "a.csv", &rows(1.0, "standard"));
        let b = write(&dir, "b.csv", &rows(2.0, "standard"));
        let req = CompareRequest {
            table_a: a.clone(),
            table_b: Some(b.clone()),
            bootstrap: 20,
            ..Default::default()
        };
        let r = compare(&req).unwrap();
        assert_eq!(r.schema, COMPARE_SCHEMA);
        assert!((r.geo_mean.unwrap() / 2.0 - 1.0).abs() < 0.05, "{r:?}");
        assert_eq!(r.a.convention.as_deref(), Some("standard"));
        let out = dir.join("compare.json");
        write_compare(&r, "--out", &out).unwrap();
        assert_eq!(read_compare(&out).unwrap(), r);
        // tables in memory (either side) give the same report
        let ta = Table::read(&a).unwrap();
        let tb = Table::read(&b).unwrap();
        let m = analyse(
            &req,
            &load_from_tables(&req, Some(ta.clone()), None).unwrap(),
        )
        .unwrap();
        assert_eq!(m, r);
        let two = CompareRequest {
            table_b: None,
            ..req.clone()
        };
        let m = analyse(&two, &load_from_tables(&two, Some(ta), Some(tb)).unwrap()).unwrap();
        assert_eq!(m, r);
        // one table and groups: no second table, in memory or not
        let grouped = CompareRequest {
            groups: Some(Groups {
                columns: vec!["param_count".into()],
                a: "standard".into(),
                b: "standard".into(),
            }),
            ..two
        };
        let tb = Table::read(&b).unwrap();
        let e = load_from_tables(&grouped, None, Some(tb))
            .unwrap_err()
            .to_string();
        assert!(e.contains("a second table") && e.contains("b.csv"), "{e}");
        // different conventions: an error naming both, unless overridden
        let k = write(&dir, "k.csv", &rows(2.0, "kaplan"));
        let req = CompareRequest {
            table_b: Some(k),
            bootstrap: 0,
            ..req
        };
        let e = compare(&req).unwrap_err().to_string();
        assert!(e.contains("`standard`") && e.contains("`kaplan`"), "{e}");
        let r = compare(&CompareRequest {
            no_convention_check: true,
            ..req
        })
        .unwrap();
        assert_eq!(r.warnings.len(), 1);
        std::fs::remove_dir_all(&dir).ok();
    }
}
