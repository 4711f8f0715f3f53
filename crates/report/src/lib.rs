//! scalelab-report: figures (SVG) and the self-contained HTML report.
//!
//! [`svg`] draws plots; [`figures`] builds the scaling-law figures from runs
//! and a fitted law; [`html`] assembles the page; [`study_report`] reads a
//! study or sweep directory (runs.csv, curves.csv, fit.json, study.json) and
//! puts it all together with provenance (input files and their SHA-256).

pub mod figures;
pub mod html;
pub mod png;
pub mod svg;

use anyhow::{Context, Result};
use figures::{CurvePoint, FittedLaw, RunPoint};
use html::{num, Block, Report, Table as HTable};
use scalelab_tables::fitfile::{parse_fit, FitFile};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// SHA-256 of a file, in hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let d = Sha256::digest(&bytes);
    Ok(d.iter().map(|b| format!("{b:02x}")).collect())
}

/// Column names and row filters of a runs table (a fit remembers them).
#[derive(Clone, Debug)]
pub struct RunColumns {
    pub params: String,
    pub tokens: String,
    pub flops: String,
    pub loss: String,
    /// `--where` expressions: rows that fail them are drawn as excluded.
    pub filters: Vec<String>,
}

impl Default for RunColumns {
    fn default() -> Self {
        RunColumns {
            params: "params".into(),
            tokens: "tokens".into(),
            flops: "flops".into(),
            loss: "loss".into(),
            filters: Vec::new(),
        }
    }
}

impl RunColumns {
    /// The columns and filters a `scalelab.fit/1` object was fitted with.
    pub fn of_fit(v: &Value) -> RunColumns {
        let c = &v["input"]["columns"];
        let get = |k: &str| c[k].as_str().unwrap_or(k).to_string();
        RunColumns {
            params: get("params"),
            tokens: get("tokens"),
            flops: get("flops"),
            loss: get("loss"),
            filters: v["input"]["where"]
                .as_array()
                .map(|w| {
                    w.iter()
                        .filter_map(|x| x.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }
}

/// Runs of a table (`runs.csv` of a sweep, or any run table); rows whose
/// status is not `done`, or that fail the filters, are marked excluded.
/// N, D and C follow from each other through C = 6ND when one is missing.
pub fn read_runs(path: &Path) -> Result<Vec<RunPoint>> {
    read_runs_with(path, &RunColumns::default())
}

pub fn read_runs_with(path: &Path, cols: &RunColumns) -> Result<Vec<RunPoint>> {
    let t = scalelab_tables::Table::read(path)?;
    let filters = cols
        .filters
        .iter()
        .map(|f| {
            scalelab_tables::Filter::parse(f).map_err(|e| anyhow::anyhow!("--where '{f}': {e}"))
        })
        .collect::<Result<Vec<_>>>()?;
    let col = |name: &str| t.column_index(name);
    let num_at = |r: usize, c: Option<usize>| -> f64 {
        c.and_then(|c| t.number_at(r, c).ok()).unwrap_or(f64::NAN)
    };
    let (cn, cd, cc, cl, cs, cb, crun) = (
        col(&cols.params),
        col(&cols.tokens),
        col(&cols.flops),
        col(&cols.loss),
        col("status"),
        col("flops_budget"),
        col("run"),
    );
    let csched = col("schedule");
    let mut out = Vec::new();
    for r in 0..t.len() {
        let mut n = num_at(r, cn);
        let mut d = num_at(r, cd);
        let mut c = num_at(r, cc);
        if !c.is_finite() {
            c = 6.0 * n * d;
        }
        if !d.is_finite() {
            d = c / (6.0 * n);
        }
        if !n.is_finite() {
            n = c / (6.0 * d);
        }
        // a WSD stable-phase parent's loss is not an end-of-training loss
        let mut included = cs.is_none_or(|c| t.rows[r][c].display() == "done")
            && csched.is_none_or(|c| t.rows[r][c].display() != "stable");
        for f in &filters {
            if !f.matches(&t, r).unwrap_or(false) {
                included = false;
            }
        }
        out.push(RunPoint {
            name: crun.map_or(format!("line {}", t.lines[r]), |c| t.rows[r][c].display()),
            n,
            d,
            c,
            loss: num_at(r, cl),
            included,
            budget: cb.map(|_| num_at(r, cb)).filter(|b| b.is_finite()),
        });
    }
    Ok(out)
}

/// Curves of `curves.csv`.
pub fn read_curves(path: &Path) -> Result<Vec<CurvePoint>> {
    let t = scalelab_tables::Table::read(path)?;
    let (cr, ct, cf, cl) = (
        t.require_column("run")?,
        t.require_column("tokens")?,
        t.require_column("flops")?,
        t.require_column("loss")?,
    );
    Ok((0..t.len())
        .map(|r| CurvePoint {
            run: t.rows[r][cr].display(),
            tokens: t.number_at(r, ct).unwrap_or(f64::NAN),
            flops: t.number_at(r, cf).unwrap_or(f64::NAN),
            loss: t.number_at(r, cl).unwrap_or(f64::NAN),
        })
        .collect())
}

/// A JSON file, with the path in any error.
pub fn read_json(path: &Path) -> Result<Value> {
    let t =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&t).with_context(|| format!("{} is not valid JSON", path.display()))
}

/// Inputs of a report: a study/sweep directory or files.
#[derive(Clone, Debug, Default)]
pub struct Inputs {
    pub runs: Option<PathBuf>,
    pub curves: Option<PathBuf>,
    pub fit: Option<PathBuf>,
    pub study: Option<PathBuf>,
    /// A `scalelab emerge --out` file.
    pub emerge: Option<PathBuf>,
    /// A `scalelab compare --out` file.
    pub compare: Option<PathBuf>,
    /// A `scalelab hparams --out` file (scalelab.hparams/1).
    pub hparams: Option<PathBuf>,
}

impl Inputs {
    /// What a directory holds.
    pub fn from_dir(dir: &Path) -> Inputs {
        let f = |n: &str| Some(dir.join(n)).filter(|p| p.is_file());
        Inputs {
            runs: f("runs.csv"),
            curves: f("curves.csv"),
            fit: f("fit.json"),
            study: f("study.json"),
            emerge: f("emerge.json"),
            compare: f("compare.json"),
            hparams: f("hparams.json"),
        }
    }

    /// Sorts files by kind: `*.json` with schema scalelab.fit/1 or
    /// scalelab.study/1, `curves.csv`, other tables as runs.
    pub fn from_files(files: &[PathBuf]) -> Result<Inputs> {
        let mut i = Inputs::default();
        for f in files {
            if f.is_dir() {
                let d = Inputs::from_dir(f);
                i.runs = i.runs.or(d.runs);
                i.curves = i.curves.or(d.curves);
                i.fit = i.fit.or(d.fit);
                i.study = i.study.or(d.study);
                i.emerge = i.emerge.or(d.emerge);
                i.compare = i.compare.or(d.compare);
                i.hparams = i.hparams.or(d.hparams);
                continue;
            }
            if !f.is_file() {
                anyhow::bail!("{}: no such file or directory", f.display());
            }
            let name = f.file_name().unwrap_or_default().to_string_lossy();
            if name.ends_with(".json") {
                let v = read_json(f)?;
                match v.get("schema").and_then(Value::as_str) {
                    Some(scalelab_tables::fitfile::FIT_SCHEMA) => i.fit = Some(f.clone()),
                    Some("scalelab.study/1") => i.study = Some(f.clone()),
                    Some("scalelab.emerge/1") => i.emerge = Some(f.clone()),
                    Some("scalelab.compare/1") => i.compare = Some(f.clone()),
                    Some("scalelab.hparams/1") => i.hparams = Some(f.clone()),
                    other => anyhow::bail!(
                        "{}: not a fit or study file (schema {:?}); give fit.json, study.json, runs.csv, curves.csv or a directory",
                        f.display(),
                        other
                    ),
                }
            } else if name.starts_with("curves") {
                i.curves = Some(f.clone());
            } else {
                i.runs = Some(f.clone());
            }
        }
        // a fit remembers its table
        if i.runs.is_none() {
            if let Some(fit) = &i.fit {
                let v = read_json(fit)?;
                if let Some(p) = v.pointer("/input/path").and_then(Value::as_str) {
                    let p = PathBuf::from(p);
                    if p.is_file() {
                        i.runs = Some(p);
                    }
                }
            }
        }
        if i.runs.is_none()
            && i.fit.is_none()
            && i.study.is_none()
            && i.emerge.is_none()
            && i.compare.is_none()
            && i.hparams.is_none()
        {
            anyhow::bail!(
                "nothing to report: give a study or sweep directory, runs.csv, or fit.json"
            );
        }
        Ok(i)
    }
}

/// What the figures are drawn from: the study (if any), the fit (a fit file,
/// else the study's), and the runs, read with the fit's columns and filters.
pub struct Data {
    pub study: Option<Value>,
    /// The fit, checked; its whole object is `fit.value`.
    pub fit: Option<FitFile>,
    pub runs: Vec<RunPoint>,
}

impl Data {
    pub fn load(inputs: &Inputs) -> Result<Data> {
        let study = inputs.study.as_deref().map(read_json).transpose()?;
        let (fit_value, fit_source) = match (&inputs.fit, &study) {
            (Some(p), _) => (Some(read_json(p)?), p.display().to_string()),
            (None, Some(s)) if s.get("fit").is_some() => (
                Some(s["fit"].clone()),
                format!(
                    "{} (its `fit` key)",
                    inputs
                        .study
                        .as_deref()
                        .unwrap_or(Path::new("study"))
                        .display()
                ),
            ),
            _ => (None, String::new()),
        };
        let fit = fit_value
            .as_ref()
            .map(|v| parse_fit(v, &fit_source))
            .transpose()?;
        let cols = fit
            .as_ref()
            .map(|f| RunColumns::of_fit(&f.value))
            .unwrap_or_default();
        let runs = inputs
            .runs
            .as_deref()
            .map(|p| read_runs_with(p, &cols))
            .transpose()?
            .unwrap_or_default();
        Ok(Data { study, fit, runs })
    }

    /// The fitted law, for the figures.
    pub fn fitted(&self) -> Option<FittedLaw<'_>> {
        self.fit.as_ref().map(|f| FittedLaw {
            law: f.law.as_ref(),
            params: f.params.clone(),
            draws: f.draws.clone(),
        })
    }
}

/// Builds the report of a study, a sweep or a fit.
/// A `[low, high]` JSON pair as `[low, high]` text, or `–` when absent.
/// A study's verification (study.json's `verification`): the verdict, and
/// each size's predicted and measured loss.
fn verification_section(r: &mut Report, v: &Value) {
    let f = |x: &Value| x.as_f64().unwrap_or(f64::NAN);
    r.push(Block::Heading("Verification".into()));
    let vd = &v["verdict"];
    let runs = v["runs"].as_array().cloned().unwrap_or_default();
    let star = runs.iter().find(|x| f(&x["size_factor"]) == 1.0);
    let text = match (star, vd.is_object()) {
        (Some(st), true) => format!(
            "The recommended model (N* = {}, D* = {}) trained at C = {} FLOPs ({}x the largest pilot budget): predicted loss {} (95% prediction interval {}), measured {} (error {:+.2}%): {} the prediction interval. N* best of the sizes within noise (σ = {:.2}%): {}. Verdict: {}.",
            num(f(&v["n_opt"])),
            num(f(&v["d_opt"])),
            num(f(&v["flops"])),
            f(&v["verify_factor"]),
            num(f(&st["predicted"])),
            interval(&st["pi95"]),
            num(f(&st["measured"])),
            100.0 * f(&vd["rel_error"]),
            if vd["inside_pi95"].as_bool() == Some(true) { "inside" } else { "outside" },
            100.0 * f(&v["sigma"]),
            match vd["n_opt_best"].as_bool() {
                Some(true) => "yes",
                Some(false) => "no",
                None => "unknown",
            },
            if vd["passed"].as_bool() == Some(true) { "passed" } else { "failed" },
        ),
        _ => format!(
            "The recommended model at C = {} FLOPs did not finish: no verdict.",
            num(f(&v["flops"]))
        ),
    };
    r.push(Block::Paragraph(text));
    let rows = runs
        .iter()
        .map(|x| {
            vec![
                format!("{}×N*", num(f(&x["size_factor"]))),
                num(f(&x["params"])),
                num(f(&x["tokens"])),
                num(f(&x["flops"])),
                num(f(&x["predicted"])),
                interval(&x["ci95"]),
                interval(&x["pi95"]),
                num(f(&x["measured"])),
                format!("{:+.2}%", 100.0 * f(&x["rel_error"])),
                if x["inside_pi95"].as_bool() == Some(true) {
                    "yes"
                } else {
                    "no"
                }
                .into(),
            ]
        })
        .collect();
    r.push(Block::Table(HTable {
        caption: "Verification runs: the law's prediction against the measured validation loss"
            .into(),
        header: [
            "size",
            "N",
            "D",
            "C",
            "predicted",
            "95% CI",
            "95% PI",
            "measured",
            "error",
            "inside PI",
        ]
        .map(String::from)
        .to_vec(),
        rows,
    }));
}

fn interval(v: &Value) -> String {
    v.as_array()
        .filter(|c| c.len() == 2)
        .map(|c| {
            format!(
                "[{}, {}]",
                num(c[0].as_f64().unwrap_or(f64::NAN)),
                num(c[1].as_f64().unwrap_or(f64::NAN))
            )
        })
        .unwrap_or_else(|| "–".into())
}

/// The fit's conditioning: its condition number and, with a bootstrap,
/// the parameters' correlation matrix.
fn conditioning_blocks(r: &mut Report, c: &scalelab_tables::fitfile::ConditioningSummary) {
    let cond = if c.condition_number.is_finite() {
        format!("{:.3e}", c.condition_number)
    } else {
        "infinite".into()
    };
    let Some(m) = &c.correlations else {
        r.push(Block::Paragraph(format!(
            "Conditioning: the Gauss-Newton Hessian of the log residuals, in centred and scaled variables, has condition number {cond} (no bootstrap, so no parameter correlations)."
        )));
        return;
    };
    let rows = m
        .names
        .iter()
        .zip(&m.matrix)
        .map(|(name, row)| {
            std::iter::once(name.clone())
                .chain(row.iter().map(|v| {
                    if v.is_finite() {
                        format!("{v:+.3}")
                    } else {
                        "–".into()
                    }
                }))
                .collect()
        })
        .collect();
    r.push(Block::Table(HTable {
        caption: format!(
            "Bootstrap correlations of the parameters (centred variables: coefficients' logs at the runs' mean size and tokens, exponents as they are); |r| above 0.95 means two parameters are not separately identifiable. Condition number of the scaled Gauss-Newton Hessian: {cond}."
        ),
        header: std::iter::once(String::new())
            .chain(m.names.iter().cloned())
            .collect(),
        rows,
    }));
}

/// The rollout backtest: a figure of |error| against distance and a table
/// per distance bin.
fn rollout_blocks(r: &mut Report, ro: &scalelab_tables::fitfile::RolloutSummary) {
    let pct = |v: f64| format!("{:.2}%", 100.0 * v);
    r.push(Block::Figure(figures::rollout_errors(ro)));
    let rows = ro
        .by_distance
        .iter()
        .map(|b| {
            vec![
                format!("[{:.2}, {:.2})", b.lo_decades, b.hi_decades),
                b.n.to_string(),
                pct(b.mean_abs_rel_error),
                pct(b.max_abs_rel_error),
                format!("{:+.2}%", 100.0 * b.mean_rel_error),
                format!("{}/{}", b.inside_pi95, b.n),
            ]
        })
        .collect();
    r.push(Block::Table(HTable {
        caption: format!(
            "Rollout backtest over {} budget cuts (budgets grouped by {}): error of the held-out runs by extrapolation distance, and how many fell inside their 95% prediction interval (a run: the law's bootstrap interval{} plus the runs' scatter)",
            ro.cuts.len(),
            ro.grouped_by,
            if ro.bootstrap > 0 {
                format!(", {} resamples per cut,", ro.bootstrap)
            } else {
                " — none here, no bootstrap —".into()
            }
        ),
        header: [
            "decades beyond the cut",
            "runs",
            "mean |error|",
            "max |error|",
            "mean error",
            "in 95% PI",
        ]
        .map(String::from)
        .to_vec(),
        rows,
    }));
}

/// The "Comparing recipes" section of a `scalelab.compare/1` object: both
/// fits, the multiplier at each compute with its interval, the geometric
/// mean and the crossover, and the two figures.
fn compare_section(r: &mut Report, c: &Value) {
    r.push(Block::Heading("Comparing recipes".into()));
    let f = |v: &Value| v.as_f64().map_or("–".into(), num);
    let fits = ["a", "b"]
        .iter()
        .map(|k| {
            let l = &c[*k];
            vec![
                k.to_uppercase(),
                l["label"].as_str().unwrap_or("").to_string(),
                l["convention"].as_str().unwrap_or("–").to_string(),
                l["frontier"]["compute"]
                    .as_array()
                    .map_or(0, |a| a.len())
                    .to_string(),
                f(&l["fit"]["E"]),
                f(&l["fit"]["A"]),
                f(&l["fit"]["alpha"]),
                if l["fit"]["converged"] == true {
                    "yes".into()
                } else {
                    "NO".into()
                },
            ]
        })
        .collect();
    r.push(Block::Table(HTable {
        caption: format!(
            "Each recipe's compute frontier fitted with L = E + A·C^-alpha{}",
            if c["shared_e"] == true {
                " (E shared)"
            } else {
                ""
            }
        ),
        header: [
            "recipe",
            "ladder",
            "convention",
            "frontier points",
            "E",
            "A",
            "alpha",
            "converged",
        ]
        .map(String::from)
        .to_vec(),
        rows: fits,
    }));
    let rows = c["points"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            vec![
                f(&p["compute"]),
                f(&p["loss_a"]),
                f(&p["compute_b"]),
                f(&p["multiplier"]),
                interval(&p["ci95"]),
            ]
        })
        .collect();
    r.push(Block::Table(HTable {
        caption: "The effective-compute multiplier m = C_B / C_A: the compute recipe B needs to reach recipe A's loss".into(),
        header: ["C (A)", "L_A", "C_B", "m", "95% interval"]
            .map(String::from)
            .to_vec(),
        rows,
    }));
    r.push(Block::Paragraph(format!(
        "Geometric-mean multiplier over the common compute range {} to {} FLOPs: {} {}. Crossover of the fitted curves: {}.{}",
        f(&c["overlap"][0]),
        f(&c["overlap"][1]),
        f(&c["geo_mean"]),
        interval(&c["geo_mean_ci95"]),
        c["crossover"]
            .as_f64()
            .map_or("none near the range".into(), |x| format!(
                "{} FLOPs {}",
                num(x),
                interval(&c["crossover_ci95"])
            )),
        c["bootstrap"]["resamples"]
            .as_u64()
            .map(|n| format!(
                " Intervals: {n} bootstrap resamples of the frontier points (seed {})",
                c["bootstrap"]["seed"]
            ) + ".")
            .unwrap_or_default()
    )));
    r.push(Block::Figure(figures::compare_losses(c)));
    r.push(Block::Figure(figures::compare_multiplier(c)));
}

pub fn build_report(inputs: &Inputs, command: &str) -> Result<Report> {
    let data = Data::load(inputs)?;
    let (study, fit, runs) = (&data.study, &data.fit, &data.runs);
    let fit_v = fit.as_ref().map(|f| &f.value);
    let curves = inputs
        .curves
        .as_deref()
        .map(read_curves)
        .transpose()?
        .unwrap_or_default();
    let title = match study {
        Some(s) => format!("scalelab study: {}", s["name"].as_str().unwrap_or("study")),
        None => "scalelab report".to_string(),
    };
    let mut r = Report::new(
        &title,
        &format!(
            "{} runs{}; generated by {}",
            runs.len(),
            fit.as_ref()
                .map(|f| format!(
                    ", fitted law: {}",
                    f.value["formula"].as_str().unwrap_or("")
                ))
                .unwrap_or_default(),
            concat!("scalelab ", env!("CARGO_PKG_VERSION"))
        ),
    );
    let fl = data.fitted();

    // ---- the headline: the verification run ------------------------------
    if let Some(v) = study.as_ref().map(|s| &s["verification"]) {
        if v.is_object() {
            verification_section(&mut r, v);
        }
    }

    // ---- summary: plan, backtest, truth -----------------------------------
    if let Some(s) = study {
        r.push(Block::Heading("Summary".into()));
        let p = &s["plan"];
        if p.is_object() {
            let ci = |k: &str| interval(&p["ci95"][k]);
            let row = |name: &str, k: &str| {
                vec![
                    name.to_string(),
                    num(p[k].as_f64().unwrap_or(f64::NAN)),
                    ci(k),
                ]
            };
            r.push(Block::Table(HTable {
                caption: format!(
                    "Compute-optimal plan for {} FLOPs ({})",
                    num(p["flops"].as_f64().unwrap_or(f64::NAN)),
                    p["convention"].as_str().unwrap_or("")
                ),
                header: vec!["quantity".into(), "estimate".into(), "95% interval".into()],
                rows: vec![
                    row("parameters N*", "n_opt"),
                    row("tokens D*", "d_opt"),
                    row("tokens per parameter", "tokens_per_param"),
                    row("predicted loss", "loss_pred"),
                ],
            }));
        }
        let b = &s["backtest"];
        if b.is_object() {
            let mut rows: Vec<Vec<String>> = b["points"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|pt| {
                    vec![
                        num(pt["params"].as_f64().unwrap_or(f64::NAN)),
                        num(pt["tokens"].as_f64().unwrap_or(f64::NAN)),
                        num(pt["flops"].as_f64().unwrap_or(f64::NAN)),
                        num(pt["loss"].as_f64().unwrap_or(f64::NAN)),
                        num(pt["predicted"].as_f64().unwrap_or(f64::NAN)),
                        format!(
                            "{:+.2}%",
                            100.0 * pt["rel_error"].as_f64().unwrap_or(f64::NAN)
                        ),
                    ]
                })
                .collect();
            rows.push(vec![
                "mean |error|".into(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                format!(
                    "{:.2}%",
                    100.0 * b["mean_abs_rel_error"].as_f64().unwrap_or(f64::NAN)
                ),
            ]);
            r.push(Block::Table(HTable {
                caption: format!(
                    "Backtest: the law fitted without {} predicts them",
                    b["rule"].as_str().unwrap_or("the largest runs")
                ),
                header: ["N", "D", "C", "loss", "predicted", "error"]
                    .map(String::from)
                    .to_vec(),
                rows,
            }));
        }
        let t = &s["truth"];
        if t.is_object() {
            r.push(Block::Paragraph(format!(
                "The data are a synthetic language with a known entropy rate of {} nats/token (exact loss floor at context {}: {}). The fitted irreducible loss is E = {} ({:+.1}% from the floor).",
                num(t["entropy_rate"].as_f64().unwrap_or(f64::NAN)),
                t["context"],
                num(t["floor"].as_f64().unwrap_or(f64::NAN)),
                num(t["fitted_E"].as_f64().unwrap_or(f64::NAN)),
                100.0 * t["rel_error_vs_floor"].as_f64().unwrap_or(f64::NAN)
            )));
        }
    }

    // ---- fitted parameters ------------------------------------------------
    if let Some(f) = &fit {
        r.push(Block::Heading("Fitted law".into()));
        let v = &f.value;
        r.push(Block::Paragraph(format!(
            "{} ({}), fitted by {} on the {} loss of log residuals; objective {}, {} starts, {} reached the best, {}.",
            v["formula"].as_str().unwrap_or(""),
            v["law"].as_str().unwrap_or(""),
            v["method"].as_str().unwrap_or(""),
            v["loss_function"]["kind"].as_str().unwrap_or(""),
            num(v["objective"].as_f64().unwrap_or(f64::NAN)),
            v["starts"],
            v["starts_at_best"],
            if v["converged"] == true { "converged" } else { "NOT converged" }
        )));
        let mut rows = Vec::new();
        let names: Vec<String> = f.law.param_names().iter().map(|s| s.to_string()).collect();
        let derived: Vec<String> = v["derived"]
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        for k in names.iter().chain(&derived) {
            let est = v["params"][k]
                .as_f64()
                .or(v["derived"][k].as_f64())
                .unwrap_or(f64::NAN);
            let se = v["bootstrap"]["se"][k].as_f64();
            let ci = interval(&v["bootstrap"]["ci95"][k]);
            rows.push(vec![k.clone(), num(est), se.map_or("–".into(), num), ci]);
        }
        r.push(Block::Table(HTable {
            caption: format!(
                "Parameters{}",
                v["bootstrap"]["n"]
                    .as_u64()
                    .map(|n| format!(
                        " ({n} bootstrap resamples, seed {})",
                        v["bootstrap"]["seed"]
                    ))
                    .unwrap_or_default()
            ),
            header: ["parameter", "estimate", "std. error", "95% interval"]
                .map(String::from)
                .to_vec(),
            rows,
        }));
        if let Some(c) = &f.report.conditioning {
            conditioning_blocks(&mut r, c);
        }
        if let Some(ro) = &f.report.rollout {
            rollout_blocks(&mut r, ro);
        }
    }

    // ---- figures ----------------------------------------------------------
    r.push(Block::Heading("Figures".into()));
    let two_var = fit.as_ref().is_some_and(|f| {
        f.law.param_names() == ["E", "A", "B", "alpha", "beta"] || f.law.name() == "kaplan"
    });
    if !runs.is_empty() {
        let law = if two_var { fl.as_ref() } else { None };
        r.push(Block::Figure(figures::isoflop_profiles(runs, law, false)));
        r.push(Block::Figure(figures::isoflop_profiles(runs, law, true)));
        r.push(Block::Figure(figures::loss_vs_compute(runs, law)));
        r.push(Block::Figure(figures::frontier(runs, law, false)));
        r.push(Block::Figure(figures::frontier(runs, law, true)));
        if let Some(f) = &fl {
            r.push(Block::Figure(figures::residuals(runs, f)));
            if let Some(p) = figures::regimes(runs, f) {
                r.push(Block::Figure(p));
            }
        }
    }
    if !curves.is_empty() {
        r.push(Block::Figure(figures::training_curves(&curves)));
    }

    // ---- abilities --------------------------------------------------------
    let emerge = inputs.emerge.as_deref().map(read_json).transpose()?;
    if let Some(e) = &emerge {
        r.push(Block::Heading("Abilities across scale".into()));
        let scale = e["scale"].as_str().unwrap_or("scale");
        let (dm, cm) = (
            e["discrete_metric"].as_str().unwrap_or("discrete"),
            e["continuous_metric"].as_str().unwrap_or("continuous"),
        );
        let tasks = e["tasks"].as_array().cloned().unwrap_or_default();
        let rows = tasks
            .iter()
            .map(|t| {
                let f = &t["discrete"];
                vec![
                    t["task"].as_str().unwrap_or("").to_string(),
                    f["best"].as_str().unwrap_or("–").to_string(),
                    f["threshold"].as_f64().map_or("–".into(), num),
                    interval(&f["threshold_ci95"]),
                    f["width_decades"].as_f64().map_or("–".into(), num),
                    t["continuous_share_at_jump"]
                        .as_f64()
                        .map_or("–".into(), num),
                    t["continuous_power_law"]["rmse_log"]
                        .as_f64()
                        .map_or("–".into(), num),
                    t["verdict_text"].as_str().unwrap_or("").to_string(),
                ]
            })
            .collect();
        r.push(Block::Table(HTable {
            caption: format!(
                "Verdicts: `{dm}` against {scale}, checked with `{cm}` ({})",
                e["table"].as_str().unwrap_or("")
            ),
            header: [
                "task",
                "best fit",
                "threshold",
                "95% interval",
                "width (decades)",
                "share of p's change at the jump",
                "power-law rmse",
                "verdict",
            ]
            .map(String::from)
            .to_vec(),
            rows,
        }));
        for t in &tasks {
            for p in figures::ability(t, scale, dm, cm) {
                r.push(Block::Figure(p));
            }
        }
    }

    // ---- two recipes ------------------------------------------------------
    let compare = inputs.compare.as_deref().map(read_json).transpose()?;
    if let Some(c) = &compare {
        compare_section(&mut r, c);
    }

    // ---- hyperparameters --------------------------------------------------
    let hparams = inputs.hparams.as_deref().map(read_json).transpose()?;
    if let Some(h) = &hparams {
        hparams_section(&mut r, h);
    }

    // ---- warnings ---------------------------------------------------------
    r.push(Block::Heading("Warnings".into()));
    let mut warnings: Vec<String> = Vec::new();
    for src in [
        study.as_ref().map(|s| &s["warnings"]),
        fit_v.map(|f| &f["warnings"]),
        compare.as_ref().map(|c| &c["warnings"]),
        hparams.as_ref().map(|h| &h["warnings"]),
    ]
    .into_iter()
    .flatten()
    {
        for w in src.as_array().into_iter().flatten() {
            if let Some(w) = w.as_str() {
                if !warnings.iter().any(|x| x == w) {
                    warnings.push(w.to_string());
                }
            }
        }
    }
    let excluded: Vec<&str> = runs
        .iter()
        .filter(|r| !r.included)
        .map(|r| r.name.as_str())
        .collect();
    if !excluded.is_empty() {
        warnings.push(format!(
            "{} runs excluded from the fit (drawn hollow): {}",
            excluded.len(),
            excluded.join(", ")
        ));
    }
    r.push(Block::Warnings(warnings));

    // ---- provenance -------------------------------------------------------
    r.push(Block::Heading("Provenance".into()));
    let mut rows = Vec::new();
    for p in [&inputs.study, &inputs.fit, &inputs.runs, &inputs.curves]
        .into_iter()
        .flatten()
    {
        rows.push(vec![p.display().to_string(), sha256_file(p)?]);
    }
    if let Some(p) = fit_v
        .and_then(|v| v.pointer("/input/path"))
        .and_then(Value::as_str)
    {
        let pb = PathBuf::from(p);
        if pb.is_file() && !rows.iter().any(|r| r[0] == p) {
            rows.push(vec![format!("{p} (the fit's table)"), sha256_file(&pb)?]);
        }
    }
    r.push(Block::Table(HTable {
        caption: "Input files".into(),
        header: vec!["file".into(), "SHA-256".into()],
        rows,
    }));
    let mut facts = vec![
        vec!["command".to_string(), command.to_string()],
        vec![
            "version".into(),
            concat!("scalelab ", env!("CARGO_PKG_VERSION")).into(),
        ],
    ];
    if let Some(f) = fit_v {
        if let Some(seed) = f.pointer("/bootstrap/seed") {
            facts.push(vec!["bootstrap seed".into(), seed.to_string()]);
        }
        if let Some(w) = f.pointer("/input/where").and_then(Value::as_array) {
            if !w.is_empty() {
                facts.push(vec![
                    "row filters".into(),
                    Value::Array(w.clone()).to_string(),
                ]);
            }
        }
    }
    r.push(Block::Table(HTable {
        caption: "Run".into(),
        header: vec!["".into(), "".into()],
        rows: facts,
    }));
    Ok(r)
}

/// "Hyperparameters across scale": a `scalelab hparams --out` file's
/// per-budget optima and near-optimal bands, its laws, the held-out check,
/// and the figures (loss against lr per budget; η_opt against C).
fn hparams_section(r: &mut Report, h: &Value) {
    r.push(Block::Heading("Hyperparameters across scale".into()));
    let f = |v: &Value| v.as_f64().map_or("–".into(), num);
    let budgets = h["budgets"].as_array().cloned().unwrap_or_default();
    let rows = budgets
        .iter()
        .map(|b| {
            vec![
                f(&b["flops"]),
                b["points"].as_array().map_or(0, |p| p.len()).to_string(),
                f(&b["best"]["lr"]),
                f(&b["best"]["loss"]),
                format!("{} – {}", f(&b["lr_band"][0]), f(&b["lr_band"][1])),
                f(&b["lr_opt"]),
                b["lr_opt_kind"].as_str().unwrap_or("").to_string(),
                f(&b["batch_opt"]),
            ]
        })
        .collect();
    r.push(Block::Table(HTable {
        caption: format!(
            "Optima per budget ({}): near-optimal = loss within {}% of the best",
            h["table"].as_str().unwrap_or(""),
            h["tol"].as_f64().map_or("–".into(), |t| num(t * 100.0))
        ),
        header: [
            "FLOPs",
            "runs",
            "best lr",
            "best loss",
            "near-optimal lrs",
            "η_opt (fit)",
            "kind",
            "B_opt",
        ]
        .map(String::from)
        .to_vec(),
        rows,
    }));
    let law = |name: &str, l: &Value| {
        format!(
            "{name}(C) = {}·C^{} (exponent 95% interval {}; {} at C = {}, interval {})",
            f(&l["coef"]),
            f(&l["exponent"]),
            interval(&l["exponent_ci95"]),
            f(&l["at_ref"]),
            f(&l["ref_flops"]),
            interval(&l["at_ref_ci95"])
        )
    };
    let mut text = law("η_opt", &h["lr_law"]);
    if h["batch_law"].is_object() {
        text += &format!("; {}", law("B_opt", &h["batch_law"]));
    }
    text += &format!(
        ". Next sweep: [schedule] lr_rule = {{ base = {}, ref_flops = {}, exponent = {} }}.",
        h["lr_rule"]["base"], h["lr_rule"]["ref_flops"], h["lr_rule"]["exponent"]
    );
    r.push(Block::Paragraph(text));
    let ho = &h["holdout"];
    if ho.is_object() {
        r.push(Block::Paragraph(format!(
            "Held out: the law fitted without C = {} predicts lr {} (95% interval {}); that budget's best run has lr {} and its smooth fit gives a loss {} above the best there at the prediction: {} its near-optimal band.",
            f(&ho["flops"]),
            f(&ho["predicted_lr"]),
            interval(&ho["predicted_lr_ci95"]),
            f(&ho["best"]["lr"]),
            ho["loss_ratio"]
                .as_f64()
                .map_or("(outside the grid)".into(), |q| format!("{}%", num((q - 1.0) * 100.0))),
            if ho["within_tol"].as_bool() == Some(true) {
                "inside"
            } else {
                "outside"
            }
        )));
    }
    for p in figures::hparams(h) {
        r.push(Block::Figure(p));
    }
}
