//! The scaling-law figures, built from in-memory data (runs, a fitted law
//! with its bootstrap draws, curves). Every fitted curve comes with its 95%
//! band when draws exist; runs left out of the fit are drawn hollow.

use crate::svg::{color, Item, Plot};
use scalelab_core::data::Covariates;
use scalelab_core::laws::Law;
use scalelab_core::plan::{self, percentile_ci95, six_n};

/// One pilot run as the figures see it.
#[derive(Clone, Debug, PartialEq)]
pub struct RunPoint {
    pub name: String,
    pub n: f64,
    pub d: f64,
    pub c: f64,
    pub loss: f64,
    /// Used by the fit (false: failed, unfinished or filtered out).
    pub included: bool,
    /// The design's FLOP budget, when designed.
    pub budget: Option<f64>,
}

/// One evaluation on a run's training curve.
#[derive(Clone, Debug, PartialEq)]
pub struct CurvePoint {
    pub run: String,
    pub tokens: f64,
    pub flops: f64,
    pub loss: f64,
}

/// A curve's point estimate and, with enough draws, its 95% band.
type CurveBand = (Vec<f64>, Option<(Vec<f64>, Vec<f64>)>);

/// A fitted law: its parameters and bootstrap draws.
pub struct FittedLaw<'a> {
    pub law: &'a dyn Law,
    pub params: Vec<f64>,
    pub draws: Vec<Vec<f64>>,
}

impl FittedLaw<'_> {
    fn loss(&self, p: &[f64], n: f64, d: f64) -> f64 {
        self.law.predict(p, &Covariates::from_nd(n, d))
    }
    /// Point estimate and 95% band of `f` over the draws, along `xs`.
    fn curve(&self, xs: &[f64], f: &dyn Fn(&[f64], f64) -> f64) -> CurveBand {
        let mid: Vec<f64> = xs.iter().map(|&x| f(&self.params, x)).collect();
        if self.draws.len() < 20 {
            return (mid, None);
        }
        let mut lo = Vec::with_capacity(xs.len());
        let mut hi = Vec::with_capacity(xs.len());
        for &x in xs {
            let v: Vec<f64> = self.draws.iter().map(|d| f(d, x)).collect();
            match percentile_ci95(&v) {
                Some([a, b]) => {
                    lo.push(a);
                    hi.push(b);
                }
                None => {
                    lo.push(f64::NAN);
                    hi.push(f64::NAN);
                }
            }
        }
        (mid, Some((lo, hi)))
    }
}

fn geom(lo: f64, hi: f64, k: usize) -> Vec<f64> {
    (0..k)
        .map(|i| (lo.ln() + (hi.ln() - lo.ln()) * i as f64 / (k - 1) as f64).exp())
        .collect()
}

fn range(v: impl Iterator<Item = f64>) -> (f64, f64) {
    v.filter(|x| x.is_finite() && *x > 0.0)
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
            (a.min(x), b.max(x))
        })
}

/// Distinct budgets (design budgets, else runs grouped by C within 5%).
fn budgets(runs: &[RunPoint]) -> Vec<f64> {
    let mut b: Vec<f64> = runs.iter().map(|r| r.budget.unwrap_or(r.c)).collect();
    b.sort_by(f64::total_cmp);
    let mut out: Vec<f64> = Vec::new();
    for x in &b {
        if out.last().is_none_or(|l| x / l > 1.05) {
            out.push(*x);
        }
    }
    if out.len() > 8 {
        // not a designed grid: half-decade bins, each at its geometric mean
        let mut bins: Vec<(i64, f64, usize)> = Vec::new();
        for x in b {
            let k = (2.0 * x.log10()).floor() as i64;
            match bins.last_mut() {
                Some(last) if last.0 == k => {
                    last.1 += x.ln();
                    last.2 += 1;
                }
                _ => bins.push((k, x.ln(), 1)),
            }
        }
        out = bins.iter().map(|(_, s, n)| (s / *n as f64).exp()).collect();
    }
    out
}

fn budget_of(r: &RunPoint, bs: &[f64]) -> usize {
    let c = r.budget.unwrap_or(r.c);
    bs.iter()
        .enumerate()
        .min_by(|a, b| {
            (a.1.ln() - c.ln())
                .abs()
                .total_cmp(&(b.1.ln() - c.ln()).abs())
        })
        .map_or(0, |(i, _)| i)
}

/// IsoFLOP profiles: loss against N (or D) at each budget, with the fitted
/// law along each iso-FLOP curve and its band.
pub fn isoflop_profiles(runs: &[RunPoint], fit: Option<&FittedLaw>, against_d: bool) -> Plot {
    let var = if against_d {
        "D (training tokens)"
    } else {
        "N (parameters)"
    };
    let mut p = Plot::new(
        &format!(
            "Loss against {} at fixed compute",
            if against_d { "tokens" } else { "parameters" }
        ),
        var,
        "validation loss (nats/token)",
        true,
        true,
    );
    let bs = budgets(runs);
    let many = bs.len() > 8;
    let mut labelled = false;
    let mut optima: Vec<(f64, f64)> = Vec::new();
    for (k, b) in bs.iter().enumerate() {
        let col = color(k);
        let mine: Vec<&RunPoint> = runs.iter().filter(|r| budget_of(r, &bs) == k).collect();
        let pick = |r: &&RunPoint| if against_d { r.d } else { r.n };
        let label = format!("C = {b:.2e}");
        p.points(
            mine.iter()
                .filter(|r| r.included)
                .map(|r| (pick(r), r.loss))
                .collect(),
            col,
            (!many).then_some(label.as_str()),
            false,
        );
        let out: Vec<(f64, f64)> = mine
            .iter()
            .filter(|r| !r.included)
            .map(|r| (pick(r), r.loss))
            .collect();
        if !out.is_empty() {
            p.points(
                out,
                col,
                (!labelled).then_some("excluded from the fit"),
                true,
            );
            labelled = true;
        }
        if let (Some(f), false) = (fit, mine.is_empty()) {
            let (lo, hi) = range(mine.iter().map(pick));
            let xs = geom(lo / 1.5, hi * 1.5, 60);
            let g = |params: &[f64], x: f64| {
                let (n, d) = if against_d {
                    (b / (6.0 * x), x)
                } else {
                    (x, b / (6.0 * x))
                };
                f.loss(params, n, d)
            };
            let (mid, band) = f.curve(&xs, &g);
            if let Some((l, h)) = band {
                p.band(xs.clone(), l, h, col, None);
            }
            p.line(xs.into_iter().zip(mid).collect(), col, None, false);
            // the law's optimum on this iso-FLOP curve
            if let Ok(o) = plan::optimum(f.law, &f.params, *b, &six_n, Some(6.0)) {
                optima.push((if against_d { o.d } else { o.n }, o.loss));
            }
        }
    }
    if !optima.is_empty() {
        p.items.push(Item::Points {
            points: optima,
            color: "#000000".into(),
            label: Some("optimum of the fitted law".into()),
            hollow: true,
            radius: 5.5,
        });
    }
    p.alt = format!(
        "Validation loss of {} pilot runs against {} on log-log axes, one colour per FLOP budget ({} budgets), with the fitted law along each iso-FLOP curve and its 95% bootstrap band. Each budget's curve has a minimum, marked by a black ring: the compute-optimal size.",
        runs.len(),
        var,
        bs.len()
    );
    p
}

/// Loss against compute with the compute-optimal frontier of the law.
pub fn loss_vs_compute(runs: &[RunPoint], fit: Option<&FittedLaw>) -> Plot {
    let mut p = Plot::new(
        "Loss against compute",
        "C (training FLOPs, 6ND)",
        "validation loss (nats/token)",
        true,
        true,
    );
    p.points(
        runs.iter()
            .filter(|r| r.included)
            .map(|r| (r.c, r.loss))
            .collect(),
        color(0),
        Some("pilot runs"),
        false,
    );
    let out: Vec<(f64, f64)> = runs
        .iter()
        .filter(|r| !r.included)
        .map(|r| (r.c, r.loss))
        .collect();
    if !out.is_empty() {
        p.points(out, color(0), Some("excluded from the fit"), true);
    }
    if let Some(f) = fit {
        let (lo, hi) = range(runs.iter().map(|r| r.c));
        let xs = geom(lo / 2.0, hi * 100.0, 60);
        let g = |params: &[f64], c: f64| {
            plan::optimum(f.law, params, c, &six_n, Some(6.0)).map_or(f64::NAN, |a| a.loss)
        };
        let (mid, band) = f.curve(&xs, &g);
        if let Some((l, h)) = band {
            p.band(xs.clone(), l, h, color(1), Some("95% band"));
        }
        p.line(
            xs.into_iter().zip(mid).collect(),
            color(1),
            Some("compute-optimal loss (fit)"),
            false,
        );
    }
    p.alt = "Validation loss of every pilot run against its training compute, with the loss the fitted law predicts for a compute-optimal model at each budget, extrapolated 100x beyond the largest pilot, and its 95% bootstrap band.".into();
    p
}

/// The compute-optimal frontier N*(C) and D*(C) of the fit, with the
/// published Chinchilla (Hoffmann et al. 2022) and Kaplan et al. (2020)
/// allocations for comparison.
pub fn frontier(runs: &[RunPoint], fit: Option<&FittedLaw>, tokens: bool) -> Plot {
    let what = if tokens { "D*" } else { "N*" };
    let mut p = Plot::new(
        &format!(
            "Compute-optimal {} against compute",
            if tokens { "tokens" } else { "parameters" }
        ),
        "C (training FLOPs)",
        &format!("{what} ({})", if tokens { "tokens" } else { "parameters" }),
        true,
        true,
    );
    let (lo, hi) = range(runs.iter().map(|r| r.c));
    let (lo, hi) = if lo.is_finite() {
        (lo / 3.0, hi * 1000.0)
    } else {
        (1e15, 1e24)
    };
    let xs = geom(lo, hi, 50);
    let pick = |a: &plan::Allocation| if tokens { a.d } else { a.n };
    if let Some(f) = fit {
        let g = |params: &[f64], c: f64| {
            plan::optimum(f.law, params, c, &six_n, Some(6.0)).map_or(f64::NAN, |a| pick(&a))
        };
        let (mid, band) = f.curve(&xs, &g);
        if let Some((l, h)) = band {
            p.band(xs.clone(), l, h, color(0), Some("95% band"));
        }
        p.line(
            xs.iter().cloned().zip(mid).collect(),
            color(0),
            Some("this fit"),
            false,
        );
    }
    // Hoffmann et al. (2022), Approach 3 as published
    let hoff = [1.69, 406.4, 410.7, 0.34, 0.28];
    let chin = scalelab_core::laws::Chinchilla;
    let h: Vec<(f64, f64)> = xs
        .iter()
        .filter_map(|&c| {
            plan::optimum(&chin, &hoff, c, &six_n, Some(6.0))
                .ok()
                .map(|a| (c, pick(&a)))
        })
        .collect();
    p.line(h, color(1), Some("Chinchilla (Hoffmann et al. 2022)"), true);
    // Kaplan et al. (2020): N_opt = 1.3e9 (C / PF-day)^0.73, D = C / (6N)
    let pf_day = 8.64e19;
    let k: Vec<(f64, f64)> = xs
        .iter()
        .map(|&c| {
            let n = 1.3e9 * (c / pf_day).powf(0.73);
            (c, if tokens { c / (6.0 * n) } else { n })
        })
        .collect();
    p.line(k, color(2), Some("Kaplan et al. 2020"), true);
    // the pilots: the best run of each budget
    let bs = budgets(runs);
    let best: Vec<(f64, f64)> = (0..bs.len())
        .filter_map(|k| {
            runs.iter()
                .filter(|r| r.included && budget_of(r, &bs) == k)
                .min_by(|a, b| a.loss.total_cmp(&b.loss))
                .map(|r| (r.c, if tokens { r.d } else { r.n }))
        })
        .collect();
    p.points(best, color(3), Some("best pilot run per budget"), false);
    p.alt = format!(
        "Compute-optimal {} against training compute on log-log axes: this fit with its 95% band, the published Chinchilla and Kaplan allocations (dashed), and the lowest-loss pilot run of each budget.",
        if tokens { "training tokens" } else { "parameter count" }
    );
    p
}

/// Log residuals of the fit against compute.
pub fn residuals(runs: &[RunPoint], fit: &FittedLaw) -> Plot {
    let mut p = Plot::new(
        "Residuals of the fit",
        "C (training FLOPs, 6ND)",
        "ln L − ln L̂",
        true,
        false,
    );
    let r: Vec<(f64, f64)> = runs
        .iter()
        .filter(|r| r.included)
        .map(|r| (r.c, r.loss.ln() - fit.loss(&fit.params, r.n, r.d).ln()))
        .collect();
    let (lo, hi) = range(runs.iter().map(|r| r.c));
    p.line(vec![(lo, 0.0), (hi, 0.0)], "#777777", None, true);
    p.points(r, color(0), Some("runs"), false);
    p.alt = "Log residuals (observed minus fitted log loss) of every run in the fit against its compute; a good fit scatters evenly around zero.".into();
    p
}

/// Validation loss against tokens for every run.
pub fn training_curves(curves: &[CurvePoint]) -> Plot {
    let mut p = Plot::new(
        "Training curves",
        "D (tokens seen)",
        "validation loss (nats/token)",
        true,
        true,
    );
    let mut names: Vec<&str> = curves.iter().map(|c| c.run.as_str()).collect();
    names.dedup();
    let few = names.len() <= 8;
    for (k, name) in names.iter().enumerate() {
        let pts: Vec<(f64, f64)> = curves
            .iter()
            .filter(|c| c.run == *name)
            .map(|c| (c.tokens, c.loss))
            .collect();
        p.items.push(Item::Line {
            points: pts,
            color: color(k).into(),
            label: few.then(|| name.to_string()),
            dashed: false,
            width: 1.2,
        });
    }
    p.alt = format!(
        "Validation loss against tokens seen for each of {} runs (log-log); every curve ends at its run's final loss.",
        names.len()
    );
    p
}

/// The (N, D) plane: where the data term or the model term of the law
/// dominates, the compute-optimal line, and the pilot runs.
pub fn regimes(runs: &[RunPoint], fit: &FittedLaw) -> Option<Plot> {
    let names = fit.law.param_names();
    if names != ["E", "A", "B", "alpha", "beta"] {
        return None;
    }
    let (a, b, al, be) = (fit.params[1], fit.params[2], fit.params[3], fit.params[4]);
    let mut p = Plot::new(
        "Regimes of the fitted law",
        "N (parameters)",
        "D (tokens)",
        true,
        true,
    );
    let (nlo, nhi) = range(runs.iter().map(|r| r.n));
    let ns = geom(nlo / 10.0, nhi * 100.0, 60);
    // boundary A/N^α = B/D^β  ⇒  D = (B/A · N^α)^(1/β)
    let bound: Vec<f64> = ns
        .iter()
        .map(|n| (b / a * n.powf(al)).powf(1.0 / be))
        .collect();
    let (dlo, dhi) = range(runs.iter().map(|r| r.d));
    let top: Vec<f64> = bound.iter().map(|d| d.max(dhi * 30.0)).collect();
    let bottom: Vec<f64> = bound.iter().map(|d| d.min(dlo / 30.0)).collect();
    p.band(
        ns.clone(),
        bound.clone(),
        top,
        color(2),
        Some("model-limited (A/N^α dominates)"),
    );
    p.band(
        ns.clone(),
        bottom,
        bound.clone(),
        color(1),
        Some("data-limited (B/D^β dominates)"),
    );
    p.line(
        ns.iter().cloned().zip(bound).collect(),
        "#555555",
        Some("A/N^α = B/D^β"),
        true,
    );
    // compute-optimal line: N*(C), D*(C) over a range of budgets
    let (clo, chi) = range(runs.iter().map(|r| r.c));
    let opt: Vec<(f64, f64)> = geom(clo / 10.0, chi * 1000.0, 40)
        .into_iter()
        .filter_map(|c| plan::optimum(fit.law, &fit.params, c, &six_n, Some(6.0)).ok())
        .map(|al| (al.n, al.d))
        .collect();
    p.line(opt, color(0), Some("compute-optimal (N*, D*)"), false);
    p.points(
        runs.iter().map(|r| (r.n, r.d)).collect(),
        color(3),
        Some("pilot runs"),
        false,
    );
    p.alt = "The plane of model size N and training tokens D (log-log): above the dashed line the model term of the fitted law dominates the reducible loss (more parameters help most), below it the data term does; the solid line is the compute-optimal allocation, and dots are the pilot runs.".into();
    Some(p)
}

/// Abilities across scale for one task of a `scalelab.emerge/1` object:
/// the discrete metric with its fitted curve, threshold and interval, and
/// the continuous metric (cross-entropy) with its power law, side by side.
pub fn ability(
    task: &serde_json::Value,
    scale: &str,
    discrete: &str,
    continuous: &str,
) -> Vec<Plot> {
    let name = task["task"].as_str().unwrap_or("task");
    let pts = |k: &str| -> Vec<(f64, f64)> {
        task[k]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| Some((p["x"].as_f64()?, p["y"].as_f64()?)))
            .collect()
    };
    let d = pts("points");
    let c = pts("continuous_points");
    let mut out = Vec::new();
    let (lo, hi) = range(d.iter().chain(&c).map(|p| p.0));
    let xs = if lo.is_finite() {
        geom(lo, hi, 80)
    } else {
        Vec::new()
    };
    let mut pd = Plot::new(
        &format!("{name}: {discrete} against {scale}"),
        scale,
        discrete,
        true,
        false,
    );
    let f = &task["discrete"];
    let chance = task["chance"].as_f64().unwrap_or(0.0);
    if let (Some([clo, chi]), Some(t)) = (
        f["threshold_ci95"]
            .as_array()
            .and_then(|a| Some([a.first()?.as_f64()?, a.get(1)?.as_f64()?])),
        f["threshold"].as_f64(),
    ) {
        let (ylo, yhi) = d
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
                (a.min(p.1), b.max(p.1))
            });
        pd.band(
            vec![clo, chi],
            vec![ylo, ylo],
            vec![yhi, yhi],
            color(4),
            Some("threshold 95% interval"),
        );
        pd.items.push(Item::VLine {
            x: t,
            color: color(4).into(),
            label: Some(format!("threshold {t:.2e}")),
        });
    }
    let best = f["best"].as_str().unwrap_or("");
    let cand = f["candidates"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == best))
        .cloned();
    if let Some(cand) = cand {
        let p: Vec<f64> = cand["params"]
            .as_array()
            .map(|v| v.iter().filter_map(|x| x.as_f64()).collect())
            .unwrap_or_default();
        let opts = scalelab_core::emergence::EmergeOptions {
            chance,
            ..Default::default()
        };
        let curve: Vec<(f64, f64)> = xs
            .iter()
            .map(|&x| {
                let u = x.log10();
                let y = scalelab_core::emergence::candidate_curve(&opts, best, &p, u);
                (x, y)
            })
            .collect();
        pd.line(curve, color(1), Some(&format!("best fit: {best}")), false);
    }
    pd.points(d.clone(), color(0), Some("models"), false);
    if chance > 0.0 {
        pd.line(
            vec![(lo, chance), (hi, chance)],
            "#777777",
            Some("chance"),
            true,
        );
    }
    pd.alt = format!(
        "{name}: {discrete} of each model against {scale} (log axis), with the best of the flat, linear, sigmoid and broken power-law fits; verdict: {}.",
        task["verdict_text"].as_str().unwrap_or("")
    );
    out.push(pd);
    if !c.is_empty() {
        let mut pc = Plot::new(
            &format!("{name}: {continuous} (as cross-entropy) against {scale}"),
            scale,
            "cross-entropy per target (nats)",
            true,
            true,
        );
        pc.points(c, color(2), Some("models"), false);
        let pl = &task["continuous_power_law"];
        if let (Some(e), Some(a), Some(al)) =
            (pl["E"].as_f64(), pl["A"].as_f64(), pl["alpha"].as_f64())
        {
            pc.line(
                xs.iter().map(|&x| (x, e + a * x.powf(-al))).collect(),
                color(1),
                Some(&format!(
                    "E + A x^-α (rmse {:.3})",
                    pl["rmse_log"].as_f64().unwrap_or(f64::NAN)
                )),
                false,
            );
        }
        pc.alt = format!(
            "{name}: the continuous metric of the same outputs, as cross-entropy per target, against {scale} on log-log axes, with a power law with offset; a smooth fit here beside a sharp rise on the left points to a metric artefact."
        );
        out.push(pc);
    }
    out
}

/// The rollout backtest: |error| of every held-out run against how far
/// beyond its cut it lies (decades of compute), one colour per cut, with
/// the mean |error| per distance bin as a line.
pub fn rollout_errors(r: &scalelab_tables::fitfile::RolloutSummary) -> Plot {
    let mut p = Plot::new(
        "Rollout backtest: error against extrapolation distance",
        "decades of compute beyond the largest fitted run",
        "|predicted / actual − 1| (%)",
        false,
        true,
    );
    let cuts = r.cuts.len();
    // Label a handful of cuts: every one when few, else the first and last.
    let labelled = |k: usize| cuts <= 8 || k == 0 || k + 1 == cuts;
    for (k, c) in r.cuts.iter().enumerate() {
        let pts: Vec<(f64, f64)> = r
            .points
            .iter()
            .filter(|pt| pt.cut == k)
            .filter(|pt| pt.distance_decades.is_finite() && pt.rel_error.is_finite())
            .filter(|pt| pt.rel_error != 0.0)
            .map(|pt| (pt.distance_decades, 100.0 * pt.rel_error.abs()))
            .collect();
        if pts.is_empty() {
            continue;
        }
        let label = format!("cut at {:.2e} FLOPs", c.max_train_flops);
        // Many held-out runs: smaller markers so the cloud stays readable.
        p.items.push(Item::Points {
            points: pts,
            color: color(k % 8).into(),
            label: labelled(k).then_some(label),
            hollow: false,
            radius: if r.points.len() > 500 { 2.0 } else { 3.5 },
        });
    }
    let mean: Vec<(f64, f64)> = r
        .by_distance
        .iter()
        .filter(|b| b.mean_abs_rel_error.is_finite() && b.mean_abs_rel_error > 0.0)
        .map(|b| {
            (
                0.5 * (b.lo_decades + b.hi_decades),
                100.0 * b.mean_abs_rel_error,
            )
        })
        .collect();
    if !mean.is_empty() {
        p.line(mean, "#222222", Some("mean |error| per 0.25 decades"), true);
    }
    p.alt = format!(
        "For each of {cuts} budget cuts, the law fitted on the runs at or below the cut predicts the runs above; each point is one held-out run's absolute relative error against its distance beyond the cut in decades of compute; the dashed line is the mean per 0.25-decade bin. {} of {} held-out runs fell inside their 95% prediction interval.",
        r.inside_pi95, r.n_points
    );
    p
}

/// `[x, y]` pairs of two JSON arrays of numbers.
fn json_pairs(x: &serde_json::Value, y: &serde_json::Value) -> Vec<(f64, f64)> {
    let f = |v: &serde_json::Value| -> Vec<f64> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(serde_json::Value::as_f64)
            .collect()
    };
    f(x).into_iter().zip(f(y)).collect()
}

/// Two recipes (a `scalelab.compare/1` object): each ladder's frontier
/// points with its fitted `L = E + A·C^-alpha`, and the crossover.
pub fn compare_losses(v: &serde_json::Value) -> Plot {
    let mut p = Plot::new(
        "Two recipes: loss against compute",
        "C (training FLOPs)",
        "loss (nats/token)",
        true,
        true,
    );
    let mut all = Vec::new();
    for (k, key) in ["a", "b"].iter().enumerate() {
        let l = &v[*key];
        let label = l["label"].as_str().unwrap_or(key);
        let pts = json_pairs(&l["frontier"]["compute"], &l["frontier"]["loss"]);
        all.extend(pts.iter().map(|q| q.0));
        p.points(
            pts,
            color(k),
            Some(&format!("{} {label} (frontier)", key.to_uppercase())),
            false,
        );
    }
    let (lo, hi) = range(all.into_iter());
    let xs = geom(lo / 2.0, hi * 2.0, 60);
    for (k, key) in ["a", "b"].iter().enumerate() {
        let f = &v[*key]["fit"];
        let (e, a, al) = (
            f["E"].as_f64().unwrap_or(f64::NAN),
            f["A"].as_f64().unwrap_or(f64::NAN),
            f["alpha"].as_f64().unwrap_or(f64::NAN),
        );
        p.line(
            xs.iter().map(|&c| (c, e + a * c.powf(-al))).collect(),
            color(k),
            Some(&format!("{} fit", key.to_uppercase())),
            false,
        );
    }
    if let Some(c) = v["crossover"].as_f64() {
        p.items.push(Item::VLine {
            x: c,
            color: "#555".into(),
            label: Some("crossover".into()),
        });
    }
    p.alt = "The compute frontier (lowest loss per budget) of both recipes against training compute, with each recipe's fitted saturating power law and, where the curves cross, the crossover compute.".into();
    p
}

/// The effective-compute multiplier m(C) of a `scalelab.compare/1` object
/// at A's frontier points, with its 95% bootstrap band.
pub fn compare_multiplier(v: &serde_json::Value) -> Plot {
    let mut p = Plot::new(
        "Effective-compute multiplier m(C)",
        "C of recipe A (training FLOPs)",
        "m = C_B / C_A",
        true,
        true,
    );
    let pts: Vec<&serde_json::Value> = v["points"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|q| q["multiplier"].is_number())
        .collect();
    let mut xs = Vec::new();
    let (mut lo, mut hi) = (Vec::new(), Vec::new());
    for q in &pts {
        if let (Some(c), Some(l), Some(h)) = (
            q["compute"].as_f64(),
            q["ci95"][0].as_f64(),
            q["ci95"][1].as_f64(),
        ) {
            xs.push(c);
            lo.push(l);
            hi.push(h);
        }
    }
    let mut order: Vec<usize> = (0..xs.len()).collect();
    order.sort_by(|i, j| xs[*i].total_cmp(&xs[*j]));
    if xs.len() >= 2 {
        p.band(
            order.iter().map(|i| xs[*i]).collect(),
            order.iter().map(|i| lo[*i]).collect(),
            order.iter().map(|i| hi[*i]).collect(),
            color(0),
            Some("95% bootstrap band"),
        );
    }
    let mut line: Vec<(f64, f64)> = pts
        .iter()
        .filter_map(|q| Some((q["compute"].as_f64()?, q["multiplier"].as_f64()?)))
        .collect();
    line.sort_by(|a, b| a.0.total_cmp(&b.0));
    p.line(line.clone(), color(0), Some("m(C)"), false);
    p.points(line.clone(), color(0), None, false);
    if let (Some(gm), Some(first), Some(last)) = (v["geo_mean"].as_f64(), line.first(), line.last())
    {
        p.line(
            vec![(first.0, gm), (last.0, gm)],
            color(1),
            Some("geometric mean"),
            true,
        );
    }
    if !line.is_empty() {
        p.line(
            vec![(line[0].0, 1.0), (line[line.len() - 1].0, 1.0)],
            "#999",
            Some("m = 1"),
            true,
        );
    }
    p.alt = "How many times recipe A's compute recipe B needs to reach recipe A's loss, at recipe A's frontier computes, with its 95% bootstrap band and its geometric mean over the common compute range.".into();
    p
}

/// The figures of a `scalelab hparams` report: loss against lr per budget
/// (log x) with the runs, the smooth fits, the fitted optimum and the
/// near-optimal band (a box from the best loss to the threshold over the
/// near-optimal lrs); and η_opt against C with the power law (and the
/// held-out prediction).
pub fn hparams(h: &serde_json::Value) -> Vec<Plot> {
    let f = |v: &serde_json::Value| v.as_f64();
    let budgets = h["budgets"].as_array().cloned().unwrap_or_default();
    let mut p = Plot::new(
        "Loss against learning rate per budget",
        "peak learning rate",
        "validation loss (nats/token)",
        true,
        false,
    );
    for (k, b) in budgets.iter().enumerate() {
        let col = color(k);
        let c = f(&b["flops"]).unwrap_or(f64::NAN);
        let pts: Vec<(f64, f64)> = b["points"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|q| Some((f(&q["lr"])?, f(&q["loss"])?)))
            .collect();
        p.points(
            pts,
            col,
            Some(&format!("C = {}", crate::html::num(c))),
            false,
        );
        if let (Some(lo), Some(hi), Some(best), Some(th)) = (
            f(&b["lr_band"][0]),
            f(&b["lr_band"][1]),
            f(&b["best"]["loss"]),
            f(&b["threshold"]),
        ) {
            let (lo, hi) = if hi > lo {
                (lo, hi)
            } else {
                (lo / 1.05, hi * 1.05)
            };
            p.band(vec![lo, hi], vec![best, best], vec![th, th], col, None);
        }
        let cv = &b["lr_curve"];
        if let (Some(c0), Some(c1), Some(c2), Some(lo), Some(hi)) = (
            f(&cv["coef"][0]),
            f(&cv["coef"][1]),
            f(&cv["coef"][2]),
            f(&cv["range"][0]),
            f(&cv["range"][1]),
        ) {
            let line: Vec<(f64, f64)> = (0..=40)
                .map(|i| {
                    let x = lo.ln() + (hi / lo).ln() * i as f64 / 40.0;
                    (x.exp(), c0 + c1 * x + c2 * x * x)
                })
                .collect();
            p.line(line, col, None, false);
            if let Some(o) = f(&b["lr_opt"]) {
                let x = o.ln();
                p.points(vec![(o, c0 + c1 * x + c2 * x * x)], col, None, true);
            }
        }
    }
    p.alt = format!(
        "Final validation loss against peak learning rate (log x) for {} budgets: runs as dots, the quadratic fit in ln lr as a line, its optimum as a hollow mark, the near-optimal band (lrs whose loss is within tol of the best) as a shaded box.",
        budgets.len()
    );
    let mut q = Plot::new(
        "Optimal learning rate against compute",
        "C (FLOPs)",
        "η_opt",
        true,
        true,
    );
    let opt: Vec<(f64, f64)> = budgets
        .iter()
        .filter_map(|b| Some((f(&b["flops"])?, f(&b["lr_opt"])?)))
        .collect();
    let bands: Vec<(f64, f64, f64)> = budgets
        .iter()
        .filter_map(|b| Some((f(&b["flops"])?, f(&b["lr_band"][0])?, f(&b["lr_band"][1])?)))
        .collect();
    q.band(
        bands.iter().map(|b| b.0).collect(),
        bands.iter().map(|b| b.1).collect(),
        bands.iter().map(|b| b.2).collect(),
        color(0),
        Some("near-optimal lrs"),
    );
    q.points(opt.clone(), color(0), Some("η_opt per budget"), false);
    let law = &h["lr_law"];
    if let (Some(a), Some(e)) = (f(&law["coef"]), f(&law["exponent"])) {
        let mut cs: Vec<f64> = opt.iter().map(|o| o.0).collect();
        if let Some(c) = f(&h["holdout"]["flops"]) {
            cs.push(c);
        }
        let lo = cs.iter().cloned().fold(f64::INFINITY, f64::min);
        let hi = cs.iter().cloned().fold(0.0, f64::max);
        if lo < hi {
            let line = (0..=20)
                .map(|i| {
                    let c = lo * (hi / lo).powf(i as f64 / 20.0);
                    (c, a * c.powf(e))
                })
                .collect();
            q.line(line, color(1), Some("power law (all budgets)"), false);
        }
    }
    if let (Some(c), Some(v)) = (f(&h["holdout"]["flops"]), f(&h["holdout"]["predicted_lr"])) {
        q.points(vec![(c, v)], color(2), Some("held-out prediction"), true);
    }
    q.alt = "The fitted optimal learning rate at each budget (dots) with the near-optimal range of lrs (band) and the power law η_opt(C) = a·C^b (line), log-log.".into();
    vec![p, q]
}
