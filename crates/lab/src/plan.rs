//! Planning from a fitted law: the compute-optimal N and D for budgets, the
//! inverse questions (the budget for a target loss, the loss of a given
//! model), inference-aware and data-constrained plans, hardware
//! translation, and the GPT FLOP calculator. Every number gets a 95%
//! percentile interval when the fit has bootstrap draws. The result is a
//! [`PlanReport`], the `scalelab.plan/1` schema as a type.

use crate::{Error, Result, Warning, WarningKind};
use scalelab_core::accounting::{shape_for_params, GptShape, MAX_SHAPE_PARAMS};
use scalelab_core::bootstrap::intervals_over;
use scalelab_core::hardware::{self, Accelerator};
use scalelab_core::laws::Law;
use scalelab_core::plan::{
    self, data_constrained_optimum, six_n, Allocation, LossSurface, MUENNIGHOFF_R_STAR_D,
};
use scalelab_tables::fitfile::FitReport;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

pub use scalelab_core::plan::Convention;

/// The `schema` value of a plan.
pub const PLAN_SCHEMA: &str = "scalelab.plan/1";

/// What to plan.
#[derive(Clone, Debug)]
pub struct PlanRequest {
    /// The `scalelab.fit/1` file to plan from (for [`plan`]; [`plan_fit`]
    /// takes the fit itself and only records this path).
    pub fit: Option<PathBuf>,
    /// Training budgets in FLOPs.
    pub flops: Vec<f64>,
    /// Inverse question: the smallest budget reaching each loss.
    pub target_loss: Vec<f64>,
    /// Inverse question: the loss of each model (N, D).
    pub loss_at: Vec<(f64, f64)>,
    /// The FLOP convention tying a budget to N and D.
    pub convention: Convention,
    /// Also plan under every other convention.
    pub compare_conventions: bool,
    /// Context length (conventions, memory, `gpt`).
    pub context: usize,
    /// Vocabulary size (conventions, memory, `gpt`).
    pub vocab: usize,
    /// Hardware translation: an accelerator name or peak FLOP/s.
    pub accelerator: Option<String>,
    /// Accelerators for the time estimate.
    pub count: u64,
    /// Model-FLOPs utilisation, in (0, 1].
    pub mfu: f64,
    /// Sequences per accelerator per micro-step (activation memory).
    pub micro_batch: u64,
    /// Inference-aware planning: tokens the model will serve.
    pub inference_tokens: Option<f64>,
    /// Data-constrained planning: the unique tokens there are. A
    /// data-constrained fit is planned with its own R*_D and R*_N; any other
    /// law with Muennighoff et al.'s published R*_D on the effective data.
    pub unique_tokens: Option<f64>,
    /// The GPT FLOP calculator's spec (`layers=12,width=768,heads=12`).
    pub gpt: Option<String>,
}

impl Default for PlanRequest {
    fn default() -> Self {
        PlanRequest {
            fit: None,
            flops: Vec::new(),
            target_loss: Vec::new(),
            loss_at: Vec::new(),
            convention: Convention::SixN,
            compare_conventions: false,
            context: 2048,
            vocab: 32000,
            accelerator: None,
            count: 8,
            mfu: 0.4,
            micro_batch: 1,
            inference_tokens: None,
            unique_tokens: None,
            gpt: None,
        }
    }
}

/// A `[low, high]` 95% interval.
pub type Interval = [f64; 2];

/// Intervals of a budget plan.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AllocationCi {
    pub n_opt: Interval,
    pub d_opt: Interval,
    pub tokens_per_param: Interval,
    pub loss_pred: Interval,
}

/// The plan under another convention.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConventionPlan {
    pub n_opt: f64,
    pub d_opt: f64,
    pub tokens_per_param: f64,
    pub loss_pred: f64,
    /// N_opt relative to the requested convention's.
    pub n_ratio: f64,
    pub d_ratio: f64,
}

/// Plans under every convention (one that fails is absent, with a
/// warning).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Conventions {
    #[serde(rename = "6n", default, skip_serializing_if = "Option::is_none")]
    pub six_n: Option<ConventionPlan>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kaplan: Option<ConventionPlan>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hoffmann: Option<ConventionPlan>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exact: Option<ConventionPlan>,
}

impl Conventions {
    /// The plans there are, by convention, in [`Convention::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (Convention, &ConventionPlan)> {
        [
            (Convention::SixN, &self.six_n),
            (Convention::Kaplan, &self.kaplan),
            (Convention::Hoffmann, &self.hoffmann),
            (Convention::Exact, &self.exact),
        ]
        .into_iter()
        .filter_map(|(c, p)| p.as_ref().map(|p| (c, p)))
    }

    fn set(&mut self, c: Convention, p: ConventionPlan) {
        let slot = match c {
            Convention::SixN => &mut self.six_n,
            Convention::Kaplan => &mut self.kaplan,
            Convention::Hoffmann => &mut self.hoffmann,
            Convention::Exact => &mut self.exact,
        };
        *slot = Some(p);
    }
}

/// The data-constrained optimum (Muennighoff et al. 2023).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DataConstrained {
    pub unique_tokens: f64,
    pub n_opt: f64,
    pub d_opt: f64,
    pub epochs: f64,
    pub tokens_per_param: f64,
    pub loss_pred: f64,
    /// The decay constant of repeated data R*_D used.
    pub r_star: f64,
    /// The decay constant of excess parameters R*_N, when the fit provides
    /// one (a data-constrained fit); otherwise excess parameters are not
    /// discounted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r_star_n: Option<f64>,
    /// Where R*_D (and R*_N) come from: `fit` (the fitted data-constrained
    /// law) or `published` (Muennighoff et al.'s R*_D = 15.387756 applied
    /// to the fit's law).
    #[serde(default = "published")]
    pub r_star_source: String,
    /// 95% intervals over the fit's bootstrap draws.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci95: Option<AllocationCi>,
}

fn published() -> String {
    "published".into()
}

/// The GPT shape of a planned model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HardwareShape {
    pub n_layer: usize,
    pub d_model: usize,
    pub n_head: usize,
}

/// Training memory in bytes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HardwareMemory {
    pub weights: f64,
    pub gradients: f64,
    pub optimizer: f64,
    pub states: f64,
    pub activations_per_micro_batch: f64,
    pub activations_per_micro_batch_recompute: f64,
}

/// Wall-clock time, accelerator-hours and memory of a planned run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Hardware {
    pub accelerator: String,
    pub peak_flops: f64,
    pub memory_bytes: f64,
    pub count: u64,
    pub mfu: f64,
    pub seconds: f64,
    pub days: f64,
    pub accelerator_hours: f64,
    pub shape: HardwareShape,
    pub params_total: f64,
    pub memory: HardwareMemory,
    /// The fewest accelerators that hold the run (None: unknown memory, or
    /// no count holds it).
    pub min_accelerators: Option<u64>,
    pub min_accelerators_needs_recompute: bool,
}

/// The compute-optimal plan for one budget.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BudgetPlan {
    pub flops: f64,
    pub n_opt: f64,
    pub d_opt: f64,
    pub tokens_per_param: f64,
    pub loss_pred: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci95: Option<AllocationCi>,
    /// 95% confidence interval of the predicted loss (the law: bootstrap
    /// percentiles; the same as `ci95.loss_pred`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss_ci95: Option<Interval>,
    /// 95% prediction interval of one run's loss: the law's interval and
    /// the fit's scatter σ combined (see `scalelab::fit::predict_with_intervals`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss_pi95: Option<Interval>,
    /// The closed form against the numerical minimisation: |N_num/N − 1|.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub numerical_rel_diff: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conventions: Option<Conventions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_constrained: Option<DataConstrained>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hardware: Option<Hardware>,
}

/// Intervals of a target-loss plan.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TargetCi {
    pub flops: Interval,
    pub n_opt: Interval,
    pub d_opt: Interval,
}

/// The inference-aware plan (Sardana et al. 2024).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InferenceAware {
    pub inference_tokens: f64,
    pub n: f64,
    pub d_train: f64,
    pub training_flops: f64,
    pub inference_flops: f64,
    pub total_flops: f64,
    /// Training plus inference compute with the compute-optimal model.
    pub total_flops_at_compute_optimal: f64,
}

/// The smallest budget that reaches a target loss.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TargetPlan {
    pub target_loss: f64,
    pub flops: f64,
    pub n_opt: f64,
    pub d_opt: f64,
    pub tokens_per_param: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci95: Option<TargetCi>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inference_aware: Option<InferenceAware>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hardware: Option<Hardware>,
}

/// The interval of a predicted loss.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LossCi {
    pub loss_pred: Interval,
}

/// The predicted loss of a given model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LossPoint {
    pub n: f64,
    pub d: f64,
    pub flops: f64,
    pub loss_pred: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci95: Option<LossCi>,
    /// 95% confidence interval of the predicted loss (the law).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss_ci95: Option<Interval>,
    /// 95% prediction interval of this model's measured loss (a run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss_pi95: Option<Interval>,
    /// The compute-optimal loss at the same budget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss_at_optimum: Option<f64>,
}

/// FLOPs per token under each convention.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FlopsByConvention {
    pub six_n: f64,
    pub kaplan: f64,
    pub hoffmann: f64,
    pub exact: f64,
}

/// Ratios of the conventions to 6N.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RatiosToSixN {
    pub kaplan: f64,
    pub hoffmann: f64,
    pub exact: f64,
}

/// The FLOP and parameter calculator's result for one GPT configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GptReport {
    pub shape: GptShape,
    pub params_non_embedding: u64,
    pub params_embedding: u64,
    pub params_total: u64,
    pub flops_per_token: FlopsByConvention,
    pub flops_per_token_ratio_to_six_n: RatiosToSixN,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training_flops: Option<FlopsByConvention>,
}

/// A `scalelab.plan/1` object.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlanReport {
    /// Always [`PLAN_SCHEMA`].
    pub schema: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpt: Option<GptReport>,
    /// The fit file planned from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub law: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub convention: Option<String>,
    /// `closed-form` (Chinchilla under 6N) or `numerical`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bootstrap_draws: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plans: Option<Vec<BudgetPlan>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub targets: Option<Vec<TargetPlan>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub points: Option<Vec<LossPoint>>,
    #[serde(default)]
    pub warnings: Vec<Warning>,
}

/// The law, its parameters and bootstrap draws, as planning needs them.
struct Planner<'a> {
    law: &'a dyn Law,
    draws: &'a [Vec<f64>],
    fpt: Box<dyn Fn(f64) -> f64 + Sync + 'a>,
    closed_k: Option<f64>,
}

impl<'a> Planner<'a> {
    fn new(
        law: &'a dyn Law,
        draws: &'a [Vec<f64>],
        conv: Convention,
        context: usize,
        vocab: usize,
    ) -> Planner<'a> {
        let (t, v) = (context as f64, vocab as f64);
        Planner {
            law,
            draws,
            fpt: Box::new(move |n| conv.flops_per_token(n, t, v)),
            closed_k: (conv == Convention::SixN).then_some(6.0),
        }
    }
    fn optimum(&self, params: &[f64], c: f64) -> Result<Allocation, plan::PlanError> {
        plan::optimum(self.law, params, c, &*self.fpt, self.closed_k)
    }
    fn budget(&self, params: &[f64], target: f64) -> Result<f64, plan::PlanError> {
        plan::budget_for_loss(self.law, params, target, &*self.fpt, self.closed_k)
    }
    fn surface<'b>(&'b self, params: &'b [f64]) -> Result<LossSurface<'b>, plan::PlanError> {
        LossSurface::new(self.law, params, &*self.fpt)
    }
    /// 95% intervals of `f` over the bootstrap draws.
    fn ci<const K: usize>(&self, f: impl Fn(&[f64]) -> Option<[f64; K]>) -> Option<[Interval; K]> {
        if self.draws.is_empty() {
            return None;
        }
        intervals_over(self.draws, |d| f(d))
    }
}

fn failed(e: impl std::fmt::Display) -> Error {
    Error::failed(e.to_string())
}

/// Plans from the request's fit file (and/or runs the GPT calculator).
pub fn plan(req: &PlanRequest) -> Result<PlanReport> {
    check(req, req.fit.is_some())?;
    let gpt = gpt(req)?;
    match &req.fit {
        Some(path) => {
            questions(req)?;
            let f = scalelab_tables::fitfile::read_fit(path)
                .map_err(|e| Error::input(path, None, e.to_string()))?;
            finish(req, gpt, Some((&f.report, path.display().to_string())))
        }
        None => finish::<String>(req, gpt, None),
    }
}

/// Plans from a fit in memory; `source` names it in messages and in the
/// report's `fit` key (a path, or e.g. "<memory>"). The request's `fit`
/// path is not read.
pub fn plan_fit<W: std::fmt::Display>(
    req: &PlanRequest,
    fit: &FitReport<W>,
    source: &str,
) -> Result<PlanReport> {
    check(req, true)?;
    let gpt = gpt(req)?;
    questions(req)?;
    finish(req, gpt, Some((fit, source.to_string())))
}

fn gpt(req: &PlanRequest) -> Result<Option<GptReport>> {
    req.gpt
        .as_deref()
        .map(|spec| gpt_calculator(spec, req.context, req.vocab))
        .transpose()
}

/// A fit needs a question; inference-aware planning needs a target.
fn questions(req: &PlanRequest) -> Result<()> {
    if req.flops.is_empty() && req.target_loss.is_empty() && req.loss_at.is_empty() {
        return Err(Error::flag(
            "--fit",
            "--fit needs a question: --flops C, --target-loss L or --loss-at N:D",
        ));
    }
    if req.inference_tokens.is_some() && req.target_loss.is_empty() {
        return Err(Error::flag(
            "--inference-tokens",
            "--inference-tokens needs --target-loss (the loss the served model must reach)",
        ));
    }
    Ok(())
}

fn check(req: &PlanRequest, has_fit: bool) -> Result<()> {
    if !has_fit && req.gpt.is_none() {
        return Err(Error::flag(
            "--fit",
            "nothing to do: give --fit FILE with --flops, --target-loss or --loss-at, or --gpt SPEC \
             for the FLOP calculator (see `scalelab plan --help`)",
        ));
    }
    if !(req.mfu > 0.0 && req.mfu <= 1.0) {
        return Err(Error::flag(
            "--mfu",
            format!("--mfu must be in (0, 1], got {}", req.mfu),
        ));
    }
    if req.count == 0 {
        return Err(Error::flag("--count", "--count must be at least 1"));
    }
    if req.context == 0 || req.vocab == 0 {
        return Err(Error::flag(
            "--context",
            "--context and --vocab must be at least 1",
        ));
    }
    Ok(())
}

fn finish<W: std::fmt::Display>(
    req: &PlanRequest,
    gpt: Option<GptReport>,
    fit: Option<(&FitReport<W>, String)>,
) -> Result<PlanReport> {
    let mut out = PlanReport {
        schema: PLAN_SCHEMA.into(),
        gpt,
        fit: None,
        law: None,
        convention: None,
        method: None,
        bootstrap_draws: None,
        plans: None,
        targets: None,
        points: None,
        warnings: Vec::new(),
    };
    let Some((fit, source)) = fit else {
        return Ok(out);
    };
    let (law, params, draws) = fit
        .check()
        .map_err(|e| Error::input(&source, None, format!("fit file {source}: {e}")))?;
    let law = law.as_ref();
    // The fit can plan at all (a law of N and D).
    LossSurface::new(law, &params, &six_n)
        .map_err(|e| Error::input(&source, None, format!("fit file {source}: {e}")))?;
    let conv = req.convention;
    let planner = Planner::new(law, &draws, conv, req.context, req.vocab);
    // A run's 95% prediction interval: the law's interval and the runs'
    // scatter (none when the fit file records neither scatter nor rmse).
    let sigma = fit.scatter();
    let pi = |loss: f64, ci: Option<Interval>| {
        (sigma.is_finite() && loss.is_finite())
            .then(|| scalelab_core::intervals::prediction_interval(loss, ci, sigma))
    };
    let method = if law.name() == "chinchilla" && conv == Convention::SixN {
        "closed-form"
    } else {
        "numerical"
    };
    out.fit = Some(source);
    out.law = Some(law.name());
    out.convention = Some(conv.name().into());
    out.method = Some(method.into());
    out.bootstrap_draws = Some(draws.len());
    if draws.is_empty() {
        out.warnings.push(Warning::new(
            WarningKind::Other,
            "the fit has no bootstrap draws, so no intervals are given; run `scalelab fit --bootstrap N`",
        ));
    }
    let acc = match &req.accelerator {
        Some(s) => Some(
            hardware::accelerator(s)
                .map_err(|e| Error::flag("--accelerator", format!("--accelerator: {e}")))?,
        ),
        None => None,
    };

    // Plans per budget.
    let mut plans = Vec::new();
    for &c in &req.flops {
        let a = planner
            .optimum(&params, c)
            .map_err(|e| Error::flag("--flops", format!("--flops {c:e}: {e}")))?;
        let ci = planner.ci(|p| {
            planner
                .optimum(p, c)
                .ok()
                .map(|a| [a.n, a.d, a.tokens_per_param(), a.loss])
        });
        let mut row = BudgetPlan {
            flops: c,
            n_opt: a.n,
            d_opt: a.d,
            tokens_per_param: a.tokens_per_param(),
            loss_pred: a.loss,
            ci95: ci.map(|c| AllocationCi {
                n_opt: c[0],
                d_opt: c[1],
                tokens_per_param: c[2],
                loss_pred: c[3],
            }),
            loss_ci95: ci.map(|c| c[3]),
            loss_pi95: pi(a.loss, ci.map(|c| c[3])),
            numerical_rel_diff: None,
            conventions: None,
            data_constrained: None,
            hardware: None,
        };
        // The closed form checked against the numerical minimisation.
        if method == "closed-form" {
            if let Ok(s) = planner.surface(&params) {
                if let Ok(num) = s.optimum(c) {
                    row.numerical_rel_diff = Some((num.n / a.n - 1.0).abs());
                }
            }
        }
        if req.compare_conventions {
            let mut m = Conventions::default();
            for other in Convention::ALL {
                let p2 = Planner::new(law, &draws, other, req.context, req.vocab);
                match p2.optimum(&params, c) {
                    Ok(b) => m.set(
                        other,
                        ConventionPlan {
                            n_opt: b.n,
                            d_opt: b.d,
                            tokens_per_param: b.tokens_per_param(),
                            loss_pred: b.loss,
                            n_ratio: b.n / a.n,
                            d_ratio: b.d / a.d,
                        },
                    ),
                    Err(e) => out.warnings.push(Warning::new(
                        WarningKind::Other,
                        format!("convention {}: {e}", other.name()),
                    )),
                }
            }
            row.conventions = Some(m);
        }
        if let Some(u) = req.unique_tokens {
            let s = planner.surface(&params).map_err(failed)?;
            let b = data_constrained_optimum(&s, c, u, MUENNIGHOFF_R_STAR_D).map_err(|e| {
                Error::flag("--unique-tokens", format!("--unique-tokens at {c:e}: {e}"))
            })?;
            let ci = planner.ci(|p| {
                let s = planner.surface(p).ok()?;
                let b = data_constrained_optimum(&s, c, u, MUENNIGHOFF_R_STAR_D).ok()?;
                Some([b.n, b.d, b.tokens_per_param(), b.loss])
            });
            // A fitted data-constrained law has its own decay constants.
            let fitted = |name: &str| {
                law.param_names()
                    .iter()
                    .position(|n| *n == name)
                    .map(|k| params[k])
            };
            let (r_star, r_star_n, source) = match fitted("R_D_star") {
                Some(rd) if s.models_repetition() => (rd, fitted("R_N_star"), "fit"),
                _ => (MUENNIGHOFF_R_STAR_D, None, "published"),
            };
            row.data_constrained = Some(DataConstrained {
                unique_tokens: u,
                n_opt: b.n,
                d_opt: b.d,
                epochs: b.d / u,
                tokens_per_param: b.tokens_per_param(),
                loss_pred: b.loss,
                r_star,
                r_star_n,
                r_star_source: source.into(),
                ci95: ci.map(|c| AllocationCi {
                    n_opt: c[0],
                    d_opt: c[1],
                    tokens_per_param: c[2],
                    loss_pred: c[3],
                }),
            });
        }
        if let Some(acc) = &acc {
            row.hardware = Some(hardware_block(acc, req, c, a.n)?);
        }
        plans.push(row);
    }
    if !req.flops.is_empty() {
        out.plans = Some(plans);
    }

    // Inverse: the budget for a target loss.
    let mut targets = Vec::new();
    for &target in &req.target_loss {
        let c = planner
            .budget(&params, target)
            .map_err(|e| Error::flag("--target-loss", format!("--target-loss {target}: {e}")))?;
        let a = planner.optimum(&params, c).map_err(failed)?;
        let ci = planner.ci(|p| {
            let c = planner.budget(p, target).ok()?;
            let a = planner.optimum(p, c).ok()?;
            Some([c, a.n, a.d])
        });
        let mut row = TargetPlan {
            target_loss: target,
            flops: c,
            n_opt: a.n,
            d_opt: a.d,
            tokens_per_param: a.tokens_per_param(),
            ci95: ci.map(|c| TargetCi {
                flops: c[0],
                n_opt: c[1],
                d_opt: c[2],
            }),
            inference_aware: None,
            hardware: None,
        };
        if let Some(inf) = req.inference_tokens {
            let s = planner.surface(&params).map_err(failed)?;
            let p = s.inference_optimum(target, inf).map_err(|e| {
                Error::flag("--inference-tokens", format!("--inference-tokens: {e}"))
            })?;
            row.inference_aware = Some(InferenceAware {
                inference_tokens: inf,
                n: p.n,
                d_train: p.d_train,
                training_flops: p.training_flops,
                inference_flops: p.inference_flops,
                total_flops: p.total_flops,
                total_flops_at_compute_optimal: c + 2.0 * a.n * inf,
            });
        }
        if let Some(acc) = &acc {
            row.hardware = Some(hardware_block(acc, req, c, a.n)?);
        }
        targets.push(row);
    }
    if !targets.is_empty() {
        out.targets = Some(targets);
    }

    // Inverse: the loss of a given model.
    let mut points = Vec::new();
    for &(n, d) in &req.loss_at {
        let s = planner.surface(&params).map_err(failed)?;
        let l = s.loss(n, d);
        let ci = planner.ci(|p| planner.surface(p).ok().map(|s| [s.loss(n, d)]));
        let flops = (planner.fpt)(n) * d;
        points.push(LossPoint {
            n,
            d,
            flops,
            loss_pred: l,
            ci95: ci.map(|c| LossCi { loss_pred: c[0] }),
            loss_ci95: ci.map(|c| c[0]),
            loss_pi95: pi(l, ci.map(|c| c[0])),
            // How far from compute-optimal this model is.
            loss_at_optimum: planner.optimum(&params, flops).ok().map(|a| a.loss),
        });
    }
    if !points.is_empty() {
        out.points = Some(points);
    }
    out.warnings.extend(extrapolation(fit, &out));
    // What the fit itself warned about holds for every plan made from it.
    out.warnings.extend(
        fit.warnings
            .iter()
            .map(|w| Warning::new(WarningKind::Fit, format!("the fit warns: {w}"))),
    );
    Ok(out)
}

/// How many decades of compute `flops` lies beyond `largest`, as text that
/// never rounds a real extrapolation to 0.
fn decades_text(flops: f64, largest: f64) -> String {
    let d = (flops / largest).log10();
    if d >= 0.1 {
        format!("{d:.1} decades")
    } else {
        format!("{} decades", crate::format_compact(d))
    }
}

/// A warning for each budget of the plan beyond the largest fitted run's
/// compute (the fit file's `input.range`; files without it get none).
fn extrapolation<W>(fit: &FitReport<W>, out: &PlanReport) -> Vec<Warning> {
    let Some([_, largest]) = fit.input.range.as_ref().and_then(|r| r.flops) else {
        return Vec::new();
    };
    let mut asked: Vec<(String, f64)> = Vec::new();
    for p in out.plans.iter().flatten() {
        asked.push((
            format!("--flops {}", crate::format_compact(p.flops)),
            p.flops,
        ));
    }
    for t in out.targets.iter().flatten() {
        asked.push((
            format!(
                "--target-loss {} (a budget of {} FLOPs)",
                t.target_loss,
                crate::format_compact(t.flops)
            ),
            t.flops,
        ));
    }
    for p in out.points.iter().flatten() {
        asked.push((
            format!(
                "--loss-at {}:{} ({} FLOPs)",
                crate::format_compact(p.n),
                crate::format_compact(p.d),
                crate::format_compact(p.flops)
            ),
            p.flops,
        ));
    }
    asked
        .into_iter()
        .filter(|(_, c)| *c > largest)
        .map(|(what, c)| {
            Warning::new(
                WarningKind::Extrapolation,
                format!(
                    "{what} lies {} of compute beyond the largest fitted run ({} FLOPs): \
                     an extrapolation the fitted runs do not test",
                    decades_text(c, largest),
                    crate::format_compact(largest)
                ),
            )
        })
        .collect()
}

/// The FLOP convention's formula, for humans.
pub fn convention_formula(c: Convention) -> &'static str {
    match c {
        Convention::SixN => "6·N·D",
        Convention::Kaplan => "(6N + 6·n_layer·context·d_model)·D",
        Convention::Hoffmann => "Hoffmann et al. App. F per-token FLOPs × D",
        Convention::Exact => "engine matrix-product FLOPs per token × D",
    }
}

fn hardware_block(acc: &Accelerator, req: &PlanRequest, flops: f64, n: f64) -> Result<Hardware> {
    let t = hardware::training_time(flops, acc, req.count as f64, req.mfu).map_err(failed)?;
    let shape = shape_for_params(n, req.context, req.vocab).ok_or_else(|| {
        Error::failed(format!(
            "no GPT shape for {n} parameters (the shape rule covers 1 to {MAX_SHAPE_PARAMS:e})"
        ))
    })?;
    let total_params = shape.params().total as f64 - shape.params().non_embedding as f64 + n;
    let mem = hardware::training_memory(total_params, &shape, req.micro_batch as f64);
    let (min, recompute) = if acc.memory_bytes > 0.0 {
        match hardware::min_accelerators(&mem, acc.memory_bytes, false) {
            Some(k) => (Some(k), false),
            None => (
                hardware::min_accelerators(&mem, acc.memory_bytes, true),
                true,
            ),
        }
    } else {
        (None, false)
    };
    Ok(Hardware {
        accelerator: acc.name.to_string(),
        peak_flops: acc.peak_flops,
        memory_bytes: acc.memory_bytes,
        count: req.count,
        mfu: req.mfu,
        seconds: t.seconds,
        days: t.days,
        accelerator_hours: t.accelerator_hours,
        shape: HardwareShape {
            n_layer: shape.n_layer,
            d_model: shape.d_model,
            n_head: shape.n_head,
        },
        params_total: total_params,
        memory: HardwareMemory {
            weights: mem.weights,
            gradients: mem.gradients,
            optimizer: mem.optimizer,
            states: mem.states,
            activations_per_micro_batch: mem.activations,
            activations_per_micro_batch_recompute: mem.activations_recompute,
        },
        min_accelerators: min,
        min_accelerators_needs_recompute: recompute,
    })
}

fn positive_number(s: &str) -> std::result::Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        Ok(v) => Err(format!("must be a positive finite number, got {v}")),
        Err(_) => Err(format!("`{s}` is not a number (write e.g. 1e21)")),
    }
}

/// The FLOP/parameter calculator for one GPT configuration, given as
/// comma-separated `key=value` (layers, width, heads, ff, context, vocab,
/// untied, tokens); `context` and `vocab` are the defaults.
pub fn gpt_calculator(spec: &str, context: usize, vocab: usize) -> Result<GptReport> {
    let bad = |m: String| Error::flag("--gpt", m);
    let mut layers = None;
    let mut width = None;
    let mut heads = None;
    let mut ff = None;
    let mut ctx = context;
    let mut voc = vocab;
    let mut untied = false;
    let mut tokens: Option<f64> = None;
    for part in spec.split(',').filter(|p| !p.trim().is_empty()) {
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| bad(format!("--gpt: `{part}` is not key=value")))?;
        let k = k.trim();
        let v = v.trim();
        let int = || -> Result<usize> {
            v.parse::<usize>()
                .ok()
                .filter(|&x| x > 0)
                .ok_or_else(|| bad(format!("--gpt: {k} = `{v}` is not a positive integer")))
        };
        match k {
            "layers" | "n_layer" => layers = Some(int()?),
            "width" | "d_model" => width = Some(int()?),
            "heads" | "n_head" => heads = Some(int()?),
            "ff" | "d_ff" => ff = Some(int()?),
            "context" => ctx = int()?,
            "vocab" => voc = int()?,
            "untied" => untied = v == "1" || v == "true",
            "tokens" => {
                tokens = Some(positive_number(v).map_err(|e| bad(format!("--gpt: tokens {e}")))?)
            }
            _ => return Err(bad(format!(
                "--gpt: unknown key `{k}` (known: layers, width, heads, ff, context, vocab, untied, tokens)"
            ))),
        }
    }
    let layers = layers.ok_or_else(|| bad("--gpt: `layers=` is required".into()))?;
    let width = width.ok_or_else(|| bad("--gpt: `width=` is required".into()))?;
    let heads = heads.ok_or_else(|| bad("--gpt: `heads=` is required".into()))?;
    let mut shape = GptShape::new(layers, width, heads, ctx, voc);
    if let Some(f) = ff {
        shape.d_ff = f;
    }
    shape.tied_head = !untied;
    shape.validate().map_err(|e| bad(format!("--gpt: {e}")))?;
    let p = shape.params();
    let f = shape.flops_per_token();
    Ok(GptReport {
        shape,
        params_non_embedding: p.non_embedding,
        params_embedding: p.token_embedding + p.position_embedding,
        params_total: p.total,
        flops_per_token: FlopsByConvention {
            six_n: f.six_n,
            kaplan: f.kaplan,
            hoffmann: f.hoffmann,
            exact: f.exact,
        },
        flops_per_token_ratio_to_six_n: RatiosToSixN {
            kaplan: f.kaplan / f.six_n,
            hoffmann: f.hoffmann / f.six_n,
            exact: f.exact / f.six_n,
        },
        tokens,
        training_flops: tokens.map(|t| FlopsByConvention {
            six_n: f.six_n * t,
            kaplan: f.kaplan * t,
            hoffmann: f.hoffmann * t,
            exact: f.exact * t,
        }),
    })
}
