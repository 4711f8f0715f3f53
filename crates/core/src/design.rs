//! Pilot-run design: an IsoFLOP grid that can identify a scaling law.
//!
//! Given a total pilot budget, the design places `budgets` FLOP budgets
//! evenly in log space over `decades` decades, and at each budget `sizes`
//! model sizes spread evenly in `ln N` over `[N*/spread, N*·spread]` around
//! the expected optimum `N*` (from a prior tokens-per-parameter ratio or a
//! previous fit). The budgets are scaled so that the runs together spend the
//! total. Each size is turned into a GPT shape with the accounting module's
//! shape rule, and the run's tokens are `D = C / (6·N)` with N the shape's
//! exact non-embedding count, so that under the 6N convention every run
//! spends its budget exactly.

use crate::accounting::{shape_for_params, GptShape, MAX_SHAPE_PARAMS};
use serde::{Deserialize, Serialize};

/// Options of a design.
#[derive(Clone, Debug, PartialEq)]
pub struct DesignOptions {
    /// Total FLOPs of all pilot runs together (6N convention).
    pub total_flops: f64,
    /// Number of FLOP budgets.
    pub budgets: usize,
    /// Decades between the smallest and the largest budget.
    pub decades: f64,
    /// Model sizes per budget.
    pub sizes: usize,
    /// Sizes span `[N*/spread, N*·spread]`.
    pub spread: f64,
    /// Context length and vocabulary of the shapes.
    pub context: usize,
    pub vocab: usize,
}

impl Default for DesignOptions {
    fn default() -> Self {
        DesignOptions {
            total_flops: 1e18,
            budgets: 5,
            decades: 2.0,
            sizes: 7,
            spread: 4.0,
            context: 256,
            vocab: 256,
        }
    }
}

/// One pilot run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PilotRun {
    /// A stable name, e.g. `c3.2e16-n1.9e6`.
    pub name: String,
    /// Index of the budget (0 = smallest).
    pub budget: usize,
    pub flops: f64,
    /// The size asked for, and the expected optimum at this budget.
    pub n_target: f64,
    pub n_expected_opt: f64,
    /// The shape and its exact non-embedding parameter count.
    pub shape: GptShape,
    pub params: f64,
    pub params_total: f64,
    /// Training tokens `C / (6·params)`.
    pub tokens: f64,
    /// Training FLOPs under the engine's exact count (`exact per token × tokens`).
    pub flops_exact: f64,
}

/// A design and its warnings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Design {
    pub budgets: Vec<f64>,
    pub runs: Vec<PilotRun>,
    pub total_flops: f64,
    /// Reasons the design may not identify the law.
    pub warnings: Vec<String>,
}

/// The largest pilot budget a design accepts (10³⁰ FLOPs, some five orders
/// of magnitude above the largest training runs): beyond it the runs are
/// absurd and their sizes leave the shape rule.
pub const MAX_DESIGN_FLOPS: f64 = 1e30;

/// The most budgets, and sizes per budget, a design accepts.
pub const MAX_DESIGN_COUNT: usize = 1000;

/// Proposes pilot runs. `expected_opt(C)` gives the expected compute-optimal
/// N at budget C (e.g. `sqrt(C / (6·20))` for 20 tokens per parameter).
pub fn design(opts: &DesignOptions, expected_opt: &dyn Fn(f64) -> f64) -> Result<Design, String> {
    if !(opts.total_flops > 0.0 && opts.total_flops.is_finite()) {
        return Err(format!(
            "the pilot budget must be a positive number of FLOPs, got {}",
            opts.total_flops
        ));
    }
    if opts.total_flops > MAX_DESIGN_FLOPS {
        return Err(format!(
            "the pilot budget must be at most {MAX_DESIGN_FLOPS:e} FLOPs, got {:e}",
            opts.total_flops
        ));
    }
    if opts.budgets < 1 {
        return Err("at least one budget is needed".into());
    }
    if opts.budgets > MAX_DESIGN_COUNT {
        return Err(format!(
            "at most {MAX_DESIGN_COUNT} budgets, got {}",
            opts.budgets
        ));
    }
    if opts.sizes < 1 {
        return Err("at least one size per budget is needed".into());
    }
    if opts.sizes > MAX_DESIGN_COUNT {
        return Err(format!(
            "at most {MAX_DESIGN_COUNT} sizes per budget, got {}",
            opts.sizes
        ));
    }
    if !(opts.decades >= 0.0 && opts.decades.is_finite()) {
        return Err(format!(
            "the span must be a non-negative number of decades, got {}",
            opts.decades
        ));
    }
    if !(opts.spread >= 1.0 && opts.spread.is_finite()) {
        return Err(format!(
            "the spread must be a factor ≥ 1, got {}",
            opts.spread
        ));
    }
    if opts.context == 0 || opts.vocab == 0 {
        return Err("context and vocabulary must be at least 1".into());
    }
    let k = opts.budgets;
    let step = if k > 1 {
        opts.decades / (k - 1) as f64
    } else {
        0.0
    };
    // Relative budgets 10^(−step·(k−1−i)); scale so that sizes·Σ = total.
    let rel: Vec<f64> = (0..k)
        .map(|i| 10f64.powf(-step * (k - 1 - i) as f64))
        .collect();
    let c_max = opts.total_flops / (opts.sizes as f64 * rel.iter().sum::<f64>());
    let budgets: Vec<f64> = rel.iter().map(|r| r * c_max).collect();

    let mut runs = Vec::new();
    let mut warnings = Vec::new();
    let mut worst_miss: f64 = 0.0;
    let mut short_runs = 0;
    let mut duplicates = 0;
    for (bi, &c) in budgets.iter().enumerate() {
        let n_star = expected_opt(c);
        if !(n_star > 0.0 && n_star.is_finite()) {
            return Err(format!(
                "the expected optimum at {c:e} FLOPs is not a positive number ({n_star})"
            ));
        }
        let mut seen: Vec<GptShape> = Vec::new();
        for j in 0..opts.sizes {
            let u = if opts.sizes > 1 {
                -1.0 + 2.0 * j as f64 / (opts.sizes - 1) as f64
            } else {
                0.0
            };
            let n_target = n_star * opts.spread.powf(u);
            let Some(shape) = shape_for_params(n_target, opts.context, opts.vocab) else {
                if n_target > 1.0 {
                    return Err(format!(
                        "budget {c:e} FLOPs is too large: the model sizes around its expected \
                         optimum ({n_star:.3e} parameters) exceed the shape rule's bound of \
                         {MAX_SHAPE_PARAMS:e} parameters"
                    ));
                }
                return Err(format!(
                    "budget {c:e} FLOPs is too small: the model sizes around its expected \
                     optimum ({n_star:.3e} parameters) fall below one parameter"
                ));
            };
            if seen.contains(&shape) {
                duplicates += 1;
                continue;
            }
            seen.push(shape);
            let pc = shape.params();
            let params = pc.non_embedding as f64;
            worst_miss = worst_miss.max((params / n_target).ln().abs());
            let tokens = c / (6.0 * params);
            if tokens < 100.0 * opts.context as f64 {
                short_runs += 1;
            }
            runs.push(PilotRun {
                name: format!("c{c:.2e}-n{params:.2e}").replace("e+", "e"),
                budget: bi,
                flops: c,
                n_target,
                n_expected_opt: n_star,
                shape,
                params,
                params_total: pc.total as f64,
                tokens,
                flops_exact: shape.flops_per_token().exact * tokens,
            });
        }
    }
    let span = if k > 1 {
        (budgets[k - 1] / budgets[0]).log10()
    } else {
        0.0
    };
    if k < 3 {
        warnings.push(format!(
            "only {k} budget(s): the exponent a rests on {k} point(s) with no check of the \
             power law; use at least 3 (ideally 5)"
        ));
    }
    if span < 1.5 {
        warnings.push(format!(
            "the budgets span {span:.2} decades (< 1.5): the exponents will be poorly \
             identified; widen --decades"
        ));
    }
    if opts.sizes < 3 {
        warnings.push(format!(
            "{} size(s) per budget: an IsoFLOP parabola needs at least 3 (ideally 5+)",
            opts.sizes
        ));
    }
    if opts.spread < 2.0 {
        warnings.push(format!(
            "sizes span only ×{:.2} either side of the expected optimum: the curvature of \
             each IsoFLOP profile, and so its minimum, will be poorly determined; use a \
             spread of 3 or more",
            opts.spread
        ));
    }
    if duplicates > 0 {
        warnings.push(format!(
            "{duplicates} run(s) dropped because the shape rule maps neighbouring sizes to \
             the same shape (the smallest budgets are too small for this many sizes)"
        ));
    }
    if worst_miss > 0.15 {
        warnings.push(format!(
            "the shape rule misses some target sizes by up to {:.0}%; the smallest models \
             are too small for fine size steps",
            (worst_miss.exp() - 1.0) * 100.0
        ));
    }
    if short_runs > 0 {
        warnings.push(format!(
            "{short_runs} run(s) train on fewer than 100 sequences of context {}: they end \
             before the learning-rate schedule means anything",
            opts.context
        ));
    }
    let worst_exact = runs
        .iter()
        .map(|r| r.flops_exact / r.flops)
        .fold(1.0_f64, f64::max);
    if worst_exact > 1.1 {
        warnings.push(format!(
            "at the smallest sizes the engine's exact FLOPs exceed 6N·D by up to {:.0}% \
             (attention and the output head): analyse with the exact `flops` column the \
             engine logs, since counting conventions move the fitted exponents \
             (Porian et al. 2024)",
            (worst_exact - 1.0) * 100.0
        ));
    }
    let distinct_budgets = {
        let mut b: Vec<usize> = runs.iter().map(|r| r.budget).collect();
        b.dedup();
        b.len()
    };
    if runs.len() < 15 {
        warnings.push(format!(
            "{} runs in all: a 5-parameter law (Chinchilla) fitted to them will be poorly \
             determined; 15 or more are advisable",
            runs.len()
        ));
    }
    if distinct_budgets < k {
        warnings.push("some budgets have no runs".into());
    }
    let total = runs.iter().map(|r| r.flops).sum();
    Ok(Design {
        budgets,
        runs,
        total_flops: total,
        warnings,
    })
}

/// The expected optimum for a constant tokens-per-parameter ratio r under
/// `C = 6ND`: `N* = sqrt(C / (6r))`.
pub fn optimum_at_ratio(flops: f64, tokens_per_param: f64) -> f64 {
    (flops / (6.0 * tokens_per_param)).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_design_spends_the_budget_and_brackets_the_optimum() {
        let opts = DesignOptions::default();
        let d = design(&opts, &|c| optimum_at_ratio(c, 20.0)).unwrap();
        assert_eq!(d.budgets.len(), 5);
        assert!(((d.budgets[4] / d.budgets[0]).log10() - 2.0).abs() < 1e-12);
        let total: f64 = d.runs.iter().map(|r| r.flops).sum();
        // Runs dropped as duplicates would make the total smaller.
        assert!(total <= opts.total_flops * (1.0 + 1e-12));
        for b in 0..5 {
            let runs: Vec<&PilotRun> = d.runs.iter().filter(|r| r.budget == b).collect();
            assert!(runs.len() >= 3);
            let opt = runs[0].n_expected_opt;
            assert!(runs.iter().any(|r| r.params < opt) && runs.iter().any(|r| r.params > opt));
            for r in &runs {
                assert!((6.0 * r.params * r.tokens / r.flops - 1.0).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn narrow_design_is_flagged() {
        let opts = DesignOptions {
            budgets: 2,
            decades: 0.5,
            sizes: 2,
            ..Default::default()
        };
        let d = design(&opts, &|c| optimum_at_ratio(c, 20.0)).unwrap();
        let w = d.warnings.join("\n");
        assert!(w.contains("only 2 budget"), "{w}");
        assert!(w.contains("span 0.50 decades"), "{w}");
        assert!(w.contains("needs at least 3"), "{w}");
    }
}
