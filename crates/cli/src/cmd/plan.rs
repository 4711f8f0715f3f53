//! `scalelab plan`: compute-optimal N and D for a budget from a fitted law,
//! the inverse questions, hardware translation and the GPT FLOP calculator.

use anyhow::{bail, Context, Result};
use scalelab_core::accounting::{shape_for_params, GptShape};
use scalelab_core::hardware::{self, accelerator};
use scalelab_core::plan::{
    self, data_constrained_optimum, percentile_ci95, six_n, Allocation, Convention, LossSurface,
    MUENNIGHOFF_R_STAR_D,
};
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};

/// Shown after the options in `--help`: the method and examples (the
/// subcommand's one-line summary comes from its variant in `main.rs`).
const HELP: &str = r#"Plan a compute-optimal training run from a fitted scaling law.

Given `fit.json` (written by `scalelab fit --out fit.json`) and one or more
FLOP budgets, prints the compute-optimal parameters N, tokens D, tokens per
parameter and the predicted loss. For the Chinchilla law under the 6N
convention it uses the closed form N_opt = G·(C/6)^a, D_opt = G⁻¹·(C/6)^b
with G = (αA/(βB))^(1/(α+β)); every other law or convention is minimised
numerically along the iso-FLOP curve. When the fit has bootstrap draws,
every number gets a 95% percentile interval.

Examples:

  scalelab plan --fit fit.json --flops 1e21,1e22,1e23

  scalelab plan --fit fit.json --flops 1e23 --compare-conventions --accelerator H100 --count 256 --mfu 0.4

  scalelab plan --fit fit.json --target-loss 2.1 --inference-tokens 1e12

  scalelab plan --fit fit.json --loss-at 7e10:1.4e12

  scalelab plan --gpt layers=12,width=768,heads=12,context=1024,vocab=50257"#;

/// Arguments of `scalelab plan` (the long help is [`HELP`]).
#[derive(clap::Args, Debug)]
#[command(after_help = HELP)]
pub struct Args {
    /// The fit to plan from: a `scalelab.fit/1` JSON file written by
    /// `scalelab fit --out fit.json`. The law must depend on both N and D
    /// (chinchilla, kaplan). Example: `--fit runs/fit.json`.
    #[arg(long, value_name = "FILE")]
    pub fit: Option<PathBuf>,

    /// Training budgets in FLOPs; repeat the flag or separate with commas.
    /// Example: `--flops 1e21,1e22,1e23`.
    #[arg(long, value_name = "C", value_delimiter = ',', allow_negative_numbers = true,
          value_parser = positive_number)]
    pub flops: Vec<f64>,

    /// Inverse question: the smallest budget whose compute-optimal loss is
    /// this target (nats per token), with its N and D. Repeatable.
    /// Example: `--target-loss 2.1`.
    #[arg(long, value_name = "LOSS", value_delimiter = ',', allow_negative_numbers = true,
          value_parser = positive_number)]
    pub target_loss: Vec<f64>,

    /// Inverse question: the predicted loss of a given model, as
    /// `PARAMS:TOKENS`. Repeatable. Example: `--loss-at 7e10:1.4e12`.
    #[arg(long, value_name = "N:D", value_parser = n_and_d)]
    pub loss_at: Vec<(f64, f64)>,

    /// FLOP-counting convention that ties a budget to N and D:
    /// `6n` (C = 6ND, the default; closed form for Chinchilla),
    /// `kaplan` (6N + attention, Kaplan et al. 2020 Table 1),
    /// `hoffmann` (Hoffmann et al. 2022 Appendix F: embeddings, attention,
    /// logits) or `exact` (the engine's matrix products). The non-6n
    /// conventions need a shape: the accounting shape rule's aspect ratio with
    /// `--context` and `--vocab`. Example: `--convention hoffmann`.
    #[arg(long, default_value = "6n", value_name = "NAME", value_parser = ["6n", "kaplan", "hoffmann", "exact"])]
    pub convention: String,

    /// Also show how N_opt and D_opt move under every other convention.
    #[arg(long)]
    pub compare_conventions: bool,

    /// Context length for the conventions, memory estimate and `--gpt`.
    /// Example: `--context 4096`.
    #[arg(long, default_value_t = 2048, value_name = "TOKENS")]
    pub context: usize,

    /// Vocabulary size for the conventions, memory estimate and `--gpt`.
    /// Example: `--vocab 50257`.
    #[arg(long, default_value_t = 32000, value_name = "SIZE")]
    pub vocab: usize,

    /// Hardware translation: an accelerator name (A100, A100-40GB, H100,
    /// H100-PCIe, H200, MI300X, TPUv4, TPUv5p, V100) or its peak dense FLOP/s
    /// as a number. Adds wall-clock time, accelerator-hours, memory and the
    /// fewest accelerators that hold the run. Example: `--accelerator H100`.
    #[arg(long, value_name = "NAME|FLOPS")]
    pub accelerator: Option<String>,

    /// Number of accelerators for the time estimate. Example: `--count 512`.
    #[arg(long, default_value_t = 8, value_name = "K")]
    pub count: u64,

    /// Assumed model-FLOPs utilisation, in (0, 1]. Example: `--mfu 0.35`.
    #[arg(
        long,
        default_value_t = 0.4,
        value_name = "FRACTION",
        allow_negative_numbers = true
    )]
    pub mfu: f64,

    /// Sequences per accelerator per micro-step, for the activation memory
    /// estimate. Example: `--micro-batch 4`.
    #[arg(long, default_value_t = 1, value_name = "SEQS")]
    pub micro_batch: u64,

    /// Inference-aware planning (Sardana et al. 2024), with `--target-loss`:
    /// the number of tokens the model will serve; the plan then minimises
    /// training plus inference compute (2N FLOPs per served token).
    /// Example: `--inference-tokens 2e12`.
    #[arg(long, value_name = "TOKENS", allow_negative_numbers = true, value_parser = positive_number)]
    pub inference_tokens: Option<f64>,

    /// Data-constrained planning (Muennighoff et al. 2023): only this many
    /// unique tokens exist; repeated epochs count as less data
    /// (D' = U + U·R*·(1 − e^(−R/R*)), R* = 15.4). Example: `--unique-tokens 1e11`.
    #[arg(long, value_name = "TOKENS", allow_negative_numbers = true, value_parser = positive_number)]
    pub unique_tokens: Option<f64>,

    /// FLOP and parameter calculator for one GPT configuration, as
    /// comma-separated `key=value`: layers, width, heads, ff (default
    /// 4·width), context and vocab (default `--context`/`--vocab`), untied
    /// (1 for an untied output head), tokens (optional, for total FLOPs).
    /// Needs no `--fit`. Example: `--gpt layers=12,width=768,heads=12,tokens=3e11`.
    #[arg(long, value_name = "SPEC")]
    pub gpt: Option<String>,

    /// Print one JSON object instead of tables (keys documented in docs/plan.md).
    #[arg(long)]
    pub json: bool,
}

fn positive_number(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        Ok(v) => Err(format!("must be a positive finite number, got {v}")),
        Err(_) => Err(format!("`{s}` is not a number (write e.g. 1e21)")),
    }
}

fn n_and_d(s: &str) -> Result<(f64, f64), String> {
    let (n, d) = s
        .split_once(':')
        .ok_or_else(|| format!("`{s}` is not PARAMS:TOKENS (write e.g. 7e10:1.4e12)"))?;
    Ok((
        positive_number(n).map_err(|e| format!("parameters {e}"))?,
        positive_number(d).map_err(|e| format!("tokens {e}"))?,
    ))
}

pub use scalelab_tables::fitfile::{read_fit, FitFile};

/// Checks the fit can plan at all (a law of N and D), naming the file.
fn check_plannable(fit: &FitFile, path: &Path) -> Result<()> {
    LossSurface::new(fit.law.as_ref(), &fit.params, &six_n)
        .map(|_| ())
        .map_err(|e| anyhow::anyhow!("fit file {}: {e}", path.display()))
}

struct Planner<'a> {
    fit: &'a FitFile,
    fpt: Box<dyn Fn(f64) -> f64 + Sync + 'a>,
    closed_k: Option<f64>,
}

impl Planner<'_> {
    fn new(fit: &FitFile, conv: Convention, context: usize, vocab: usize) -> Planner<'_> {
        let (t, v) = (context as f64, vocab as f64);
        Planner {
            fit,
            fpt: Box::new(move |n| conv.flops_per_token(n, t, v)),
            closed_k: (conv == Convention::SixN).then_some(6.0),
        }
    }
    fn optimum(&self, params: &[f64], c: f64) -> Result<Allocation, plan::PlanError> {
        plan::optimum(self.fit.law.as_ref(), params, c, &*self.fpt, self.closed_k)
    }
    fn budget(&self, params: &[f64], target: f64) -> Result<f64, plan::PlanError> {
        plan::budget_for_loss(
            self.fit.law.as_ref(),
            params,
            target,
            &*self.fpt,
            self.closed_k,
        )
    }
    fn surface<'b>(&'b self, params: &'b [f64]) -> Result<LossSurface<'b>, plan::PlanError> {
        LossSurface::new(self.fit.law.as_ref(), params, &*self.fpt)
    }
    /// 95% intervals of `f` over the bootstrap draws.
    fn ci<const K: usize>(&self, f: impl Fn(&[f64]) -> Option<[f64; K]>) -> Option<Vec<[f64; 2]>> {
        if self.fit.draws.is_empty() {
            return None;
        }
        let vals: Vec<[f64; K]> = self.fit.draws.iter().filter_map(|d| f(d)).collect();
        (0..K)
            .map(|k| percentile_ci95(&vals.iter().map(|v| v[k]).collect::<Vec<_>>()))
            .collect()
    }
}

fn ci_obj(names: &[&str], ci: &Option<Vec<[f64; 2]>>) -> Option<Value> {
    ci.as_ref().map(|c| {
        let mut m = Map::new();
        for (n, v) in names.iter().zip(c) {
            m.insert((*n).into(), json!(v));
        }
        Value::Object(m)
    })
}

pub fn run(args: Args) -> Result<()> {
    if args.fit.is_none() && args.gpt.is_none() {
        bail!(
            "nothing to do: give --fit FILE with --flops, --target-loss or --loss-at, or --gpt SPEC \
             for the FLOP calculator (see `scalelab plan --help`)"
        );
    }
    if !(args.mfu > 0.0 && args.mfu <= 1.0) {
        bail!("--mfu must be in (0, 1], got {}", args.mfu);
    }
    if args.count == 0 {
        bail!("--count must be at least 1");
    }
    if args.context == 0 || args.vocab == 0 {
        bail!("--context and --vocab must be at least 1");
    }
    let mut out = Map::new();
    out.insert("schema".into(), json!("scalelab.plan/1"));
    let mut text = String::new();
    let mut warnings: Vec<String> = Vec::new();

    if let Some(spec) = &args.gpt {
        let (v, t) = gpt_calculator(spec, args.context, args.vocab)?;
        out.insert("gpt".into(), v);
        text.push_str(&t);
    }

    if let Some(path) = &args.fit {
        if args.flops.is_empty() && args.target_loss.is_empty() && args.loss_at.is_empty() {
            bail!("--fit needs a question: --flops C, --target-loss L or --loss-at N:D");
        }
        if args.inference_tokens.is_some() && args.target_loss.is_empty() {
            bail!("--inference-tokens needs --target-loss (the loss the served model must reach)");
        }
        let fit = read_fit(path)?;
        check_plannable(&fit, path)?;
        let conv = Convention::from_name(&args.convention).expect("clap checked the name");
        let planner = Planner::new(&fit, conv, args.context, args.vocab);
        let method = if fit.law.name() == "chinchilla" && conv == Convention::SixN {
            "closed-form"
        } else {
            "numerical"
        };
        out.insert("fit".into(), json!(path.display().to_string()));
        out.insert("law".into(), json!(fit.law.name()));
        out.insert("convention".into(), json!(conv.name()));
        out.insert("method".into(), json!(method));
        out.insert("bootstrap_draws".into(), json!(fit.draws.len()));
        text.push_str(&format!(
            "law {} ({}), convention {} (C = {}), {} optimum{}\n",
            fit.law.name(),
            fit.law.formula(),
            conv.name(),
            convention_formula(conv),
            method,
            if fit.draws.is_empty() {
                ", no bootstrap draws in the fit: no intervals".to_string()
            } else {
                format!(", 95% intervals from {} bootstrap draws", fit.draws.len())
            }
        ));
        if fit.draws.is_empty() {
            warnings.push("the fit has no bootstrap draws, so no intervals are given; run `scalelab fit --bootstrap N`".into());
        }

        let acc = match &args.accelerator {
            Some(s) => Some(accelerator(s).map_err(|e| anyhow::anyhow!("--accelerator: {e}"))?),
            None => None,
        };

        // Plans per budget.
        let mut plans = Vec::new();
        if !args.flops.is_empty() {
            text.push_str(&format!(
                "\n{:>10}  {:>22}  {:>22}  {:>16}  {:>20}\n",
                "FLOPs", "N_opt", "D_opt", "tokens/param", "loss"
            ));
        }
        for &c in &args.flops {
            let a = planner
                .optimum(&fit.params, c)
                .map_err(|e| anyhow::anyhow!("--flops {c:e}: {e}"))?;
            let ci = planner.ci(|p| {
                planner
                    .optimum(p, c)
                    .ok()
                    .map(|a| [a.n, a.d, a.tokens_per_param(), a.loss])
            });
            let mut row = Map::new();
            row.insert("flops".into(), json!(c));
            row.insert("n_opt".into(), json!(a.n));
            row.insert("d_opt".into(), json!(a.d));
            row.insert("tokens_per_param".into(), json!(a.tokens_per_param()));
            row.insert("loss_pred".into(), json!(a.loss));
            if let Some(o) = ci_obj(&["n_opt", "d_opt", "tokens_per_param", "loss_pred"], &ci) {
                row.insert("ci95".into(), o);
            }
            let cis = ci.clone().unwrap_or_default();
            let cell = |v: f64, k: usize, prec: usize| match cis.get(k) {
                Some(c) => format!("{v:.prec$e} [{:.1e},{:.1e}]", c[0], c[1]),
                None => format!("{v:.prec$e}"),
            };
            let cellf = |v: f64, k: usize, prec: usize| match cis.get(k) {
                Some(c) => format!("{v:.prec$} [{:.prec$},{:.prec$}]", c[0], c[1]),
                None => format!("{v:.prec$}"),
            };
            text.push_str(&format!(
                "{:>10.2e}  {:>22}  {:>22}  {:>16}  {:>20}\n",
                c,
                cell(a.n, 0, 3),
                cell(a.d, 1, 3),
                cellf(a.tokens_per_param(), 2, 1),
                cellf(a.loss, 3, 3)
            ));
            // The closed form checked against the numerical minimisation.
            if method == "closed-form" {
                if let Ok(s) = planner.surface(&fit.params) {
                    if let Ok(num) = s.optimum(c) {
                        row.insert(
                            "numerical_rel_diff".into(),
                            json!((num.n / a.n - 1.0).abs()),
                        );
                    }
                }
            }
            if args.compare_conventions {
                let mut m = Map::new();
                for other in Convention::ALL {
                    let p2 = Planner::new(&fit, other, args.context, args.vocab);
                    match p2.optimum(&fit.params, c) {
                        Ok(b) => {
                            m.insert(
                                other.name().into(),
                                json!({"n_opt": b.n, "d_opt": b.d, "tokens_per_param": b.tokens_per_param(),
                                       "loss_pred": b.loss, "n_ratio": b.n / a.n, "d_ratio": b.d / a.d}),
                            );
                        }
                        Err(e) => warnings.push(format!("convention {}: {e}", other.name())),
                    }
                }
                text.push_str(&convention_table(&m));
                row.insert("conventions".into(), Value::Object(m));
            }
            if let Some(u) = args.unique_tokens {
                let s = planner.surface(&fit.params)?;
                let b = data_constrained_optimum(&s, c, u, MUENNIGHOFF_R_STAR_D)
                    .map_err(|e| anyhow::anyhow!("--unique-tokens at {c:e}: {e}"))?;
                let epochs = b.d / u;
                row.insert(
                    "data_constrained".into(),
                    json!({"unique_tokens": u, "n_opt": b.n, "d_opt": b.d, "epochs": epochs,
                           "tokens_per_param": b.tokens_per_param(), "loss_pred": b.loss, "r_star": MUENNIGHOFF_R_STAR_D}),
                );
                text.push_str(&format!(
                    "            data-constrained ({u:.2e} unique tokens): N {:.3e}, D {:.3e} ({epochs:.2} epochs), loss {:.4}\n",
                    b.n, b.d, b.loss
                ));
            }
            if let Some(acc) = &acc {
                let (v, t) = hardware_block(acc, &args, c, a.n)?;
                row.insert("hardware".into(), v);
                text.push_str(&t);
            }
            plans.push(Value::Object(row));
        }
        if !args.flops.is_empty() {
            out.insert("plans".into(), Value::Array(plans));
        }

        // Inverse: the budget for a target loss.
        let mut targets = Vec::new();
        for &target in &args.target_loss {
            let c = planner
                .budget(&fit.params, target)
                .map_err(|e| anyhow::anyhow!("--target-loss {target}: {e}"))?;
            let a = planner.optimum(&fit.params, c)?;
            let ci = planner.ci(|p| {
                let c = planner.budget(p, target).ok()?;
                let a = planner.optimum(p, c).ok()?;
                Some([c, a.n, a.d])
            });
            let mut row = Map::new();
            row.insert("target_loss".into(), json!(target));
            row.insert("flops".into(), json!(c));
            row.insert("n_opt".into(), json!(a.n));
            row.insert("d_opt".into(), json!(a.d));
            row.insert("tokens_per_param".into(), json!(a.tokens_per_param()));
            if let Some(o) = ci_obj(&["flops", "n_opt", "d_opt"], &ci) {
                row.insert("ci95".into(), o);
            }
            text.push_str(&format!(
                "\ntarget loss {target}: {c:.3e} FLOPs{} with N {:.3e}, D {:.3e} ({:.1} tokens/param)\n",
                ci.as_ref()
                    .map(|c| format!(" [{:.2e}, {:.2e}]", c[0][0], c[0][1]))
                    .unwrap_or_default(),
                a.n,
                a.d,
                a.tokens_per_param()
            ));
            if let Some(inf) = args.inference_tokens {
                let s = planner.surface(&fit.params)?;
                let p = s
                    .inference_optimum(target, inf)
                    .map_err(|e| anyhow::anyhow!("--inference-tokens: {e}"))?;
                row.insert(
                    "inference_aware".into(),
                    json!({"inference_tokens": inf, "n": p.n, "d_train": p.d_train,
                           "training_flops": p.training_flops, "inference_flops": p.inference_flops,
                           "total_flops": p.total_flops,
                           "total_flops_at_compute_optimal": c + 2.0 * a.n * inf}),
                );
                text.push_str(&format!(
                    "  serving {inf:.2e} tokens: N {:.3e}, D {:.3e} ({:.1} tokens/param), total {:.3e} FLOPs \
                     (training {:.3e} + inference {:.3e}) vs {:.3e} with the compute-optimal model\n",
                    p.n,
                    p.d_train,
                    p.d_train / p.n,
                    p.total_flops,
                    p.training_flops,
                    p.inference_flops,
                    c + 2.0 * a.n * inf
                ));
            }
            if let Some(acc) = &acc {
                let (v, t) = hardware_block(acc, &args, c, a.n)?;
                row.insert("hardware".into(), v);
                text.push_str(&t);
            }
            targets.push(Value::Object(row));
        }
        if !targets.is_empty() {
            out.insert("targets".into(), Value::Array(targets));
        }

        // Inverse: the loss of a given model.
        let mut points = Vec::new();
        for &(n, d) in &args.loss_at {
            let s = planner.surface(&fit.params)?;
            let l = s.loss(n, d);
            let ci = planner.ci(|p| planner.surface(p).ok().map(|s| [s.loss(n, d)]));
            let flops = (planner.fpt)(n) * d;
            let mut row = Map::new();
            row.insert("n".into(), json!(n));
            row.insert("d".into(), json!(d));
            row.insert("flops".into(), json!(flops));
            row.insert("loss_pred".into(), json!(l));
            if let Some(o) = ci_obj(&["loss_pred"], &ci) {
                row.insert("ci95".into(), o);
            }
            // How far from compute-optimal this model is.
            if let Ok(a) = planner.optimum(&fit.params, flops) {
                row.insert("loss_at_optimum".into(), json!(a.loss));
            }
            text.push_str(&format!(
                "\nN {n:.3e}, D {d:.3e} ({flops:.3e} FLOPs): predicted loss {l:.4}{}\n",
                ci.as_ref()
                    .map(|c| format!(" [{:.4}, {:.4}]", c[0][0], c[0][1]))
                    .unwrap_or_default()
            ));
            points.push(Value::Object(row));
        }
        if !points.is_empty() {
            out.insert("points".into(), Value::Array(points));
        }
    }
    out.insert("warnings".into(), json!(warnings));
    if args.json {
        println!("{}", serde_json::to_string_pretty(&Value::Object(out))?);
    } else {
        print!("{text}");
        for w in &warnings {
            println!("warning: {w}");
        }
    }
    Ok(())
}

fn convention_formula(c: Convention) -> &'static str {
    match c {
        Convention::SixN => "6·N·D",
        Convention::Kaplan => "(6N + 6·n_layer·context·d_model)·D",
        Convention::Hoffmann => "Hoffmann et al. App. F per-token FLOPs × D",
        Convention::Exact => "engine matrix-product FLOPs per token × D",
    }
}

fn convention_table(m: &Map<String, Value>) -> String {
    let mut s = String::new();
    for (name, v) in m {
        let g = |k: &str| v.get(k).and_then(Value::as_f64).unwrap_or(f64::NAN);
        s.push_str(&format!(
            "            under {name:<8}: N {:.3e} (×{:.3}), D {:.3e} (×{:.3}), {:.1} tokens/param\n",
            g("n_opt"),
            g("n_ratio"),
            g("d_opt"),
            g("d_ratio"),
            g("tokens_per_param")
        ));
    }
    s
}

fn hardware_block(
    acc: &hardware::Accelerator,
    args: &Args,
    flops: f64,
    n: f64,
) -> Result<(Value, String)> {
    let t = hardware::training_time(flops, acc, args.count as f64, args.mfu)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let shape = shape_for_params(n, args.context, args.vocab)
        .with_context(|| format!("no GPT shape for {n} parameters"))?;
    let total_params = shape.params().total as f64 - shape.params().non_embedding as f64 + n;
    let mem = hardware::training_memory(total_params, &shape, args.micro_batch as f64);
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
    let v = json!({
        "accelerator": acc.name, "peak_flops": acc.peak_flops, "memory_bytes": acc.memory_bytes,
        "count": args.count, "mfu": args.mfu,
        "seconds": t.seconds, "days": t.days, "accelerator_hours": t.accelerator_hours,
        "shape": {"n_layer": shape.n_layer, "d_model": shape.d_model, "n_head": shape.n_head},
        "params_total": total_params,
        "memory": {"weights": mem.weights, "gradients": mem.gradients, "optimizer": mem.optimizer,
                   "states": mem.states, "activations_per_micro_batch": mem.activations,
                   "activations_per_micro_batch_recompute": mem.activations_recompute},
        "min_accelerators": min, "min_accelerators_needs_recompute": recompute,
    });
    let s = format!(
        "            on {} × {} at MFU {:.2}: {:.2} days, {:.3e} accelerator-hours; states {:.1} GB \
         (weights, grads, AdamW) + activations {:.1} GB/micro-batch; fits on ≥ {}\n",
        args.count,
        acc.name,
        args.mfu,
        t.days,
        t.accelerator_hours,
        mem.states / 1e9,
        mem.activations / 1e9,
        match min {
            Some(k) if recompute => format!(
                "{k} accelerator(s) with states sharded and full activation recomputation"
            ),
            Some(k) => format!("{k} accelerator(s) with states sharded"),
            None if acc.memory_bytes == 0.0 => "? (memory of a custom accelerator unknown)".into(),
            None => "none: one micro-batch of activations exceeds its memory even with recomputation".into(),
        }
    );
    Ok((v, s))
}

/// The FLOP/parameter calculator for `--gpt`.
fn gpt_calculator(spec: &str, context: usize, vocab: usize) -> Result<(Value, String)> {
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
            .with_context(|| format!("--gpt: `{part}` is not key=value"))?;
        let k = k.trim();
        let v = v.trim();
        let int = || -> Result<usize> {
            v.parse::<usize>()
                .ok()
                .filter(|&x| x > 0)
                .with_context(|| format!("--gpt: {k} = `{v}` is not a positive integer"))
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
                tokens = Some(positive_number(v).map_err(|e| anyhow::anyhow!("--gpt: tokens {e}"))?)
            }
            _ => bail!(
                "--gpt: unknown key `{k}` (known: layers, width, heads, ff, context, vocab, untied, tokens)"
            ),
        }
    }
    let layers = layers.context("--gpt: `layers=` is required")?;
    let width = width.context("--gpt: `width=` is required")?;
    let heads = heads.context("--gpt: `heads=` is required")?;
    let mut shape = GptShape::new(layers, width, heads, ctx, voc);
    if let Some(f) = ff {
        shape.d_ff = f;
    }
    shape.tied_head = !untied;
    shape
        .validate()
        .map_err(|e| anyhow::anyhow!("--gpt: {e}"))?;
    let p = shape.params();
    let f = shape.flops_per_token();
    let mut v = json!({
        "shape": shape,
        "params_non_embedding": p.non_embedding, "params_embedding": p.token_embedding + p.position_embedding,
        "params_total": p.total,
        "flops_per_token": {"six_n": f.six_n, "kaplan": f.kaplan, "hoffmann": f.hoffmann, "exact": f.exact},
        "flops_per_token_ratio_to_six_n": {"kaplan": f.kaplan / f.six_n, "hoffmann": f.hoffmann / f.six_n, "exact": f.exact / f.six_n},
    });
    let mut s = format!(
        "GPT layers {layers}, width {width}, heads {heads}, ff {}, context {ctx}, vocab {voc}{}\n\
         parameters: {} non-embedding, {} embedding, {} total\n\
         training FLOPs per token: 6N {:.4e}; Kaplan (Table 1) {:.4e} (×{:.3}); Hoffmann (App. F) {:.4e} (×{:.3}); exact {:.4e} (×{:.3})\n",
        shape.d_ff,
        if untied { ", untied head" } else { "" },
        p.non_embedding,
        p.token_embedding + p.position_embedding,
        p.total,
        f.six_n,
        f.kaplan,
        f.kaplan / f.six_n,
        f.hoffmann,
        f.hoffmann / f.six_n,
        f.exact,
        f.exact / f.six_n
    );
    if let Some(t) = tokens {
        v["tokens"] = json!(t);
        v["training_flops"] = json!({"six_n": f.six_n * t, "kaplan": f.kaplan * t, "hoffmann": f.hoffmann * t, "exact": f.exact * t});
        s.push_str(&format!(
            "training FLOPs for {t:.3e} tokens: 6N {:.4e}; Kaplan {:.4e}; Hoffmann {:.4e}; exact {:.4e}\n",
            f.six_n * t,
            f.kaplan * t,
            f.hoffmann * t,
            f.exact * t
        ));
    }
    Ok((v, s))
}
