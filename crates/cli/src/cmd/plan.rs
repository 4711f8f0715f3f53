//! `scalelab plan`: compute-optimal N and D for a budget from a fitted law,
//! the inverse questions, hardware translation and the GPT FLOP calculator.
//! The work is `scalelab::plan`; this module turns the flags into a
//! [`PlanRequest`] and renders the [`PlanReport`] as text or JSON.

use anyhow::Result;
use scalelab::fit::law_by_name;
use scalelab::plan::{
    convention_formula, Convention, Conventions, GptReport, Hardware, PlanReport, PlanRequest,
};
use std::path::PathBuf;

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

  scalelab fit runs.csv --law data-constrained --out dc.json
  scalelab plan --fit dc.json --flops 1e21 --unique-tokens 5e9 --json

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
    #[arg(long, value_name = "FLOPS", value_delimiter = ',', allow_negative_numbers = true,
          value_parser = crate::args::positive)]
    pub flops: Vec<f64>,

    /// Inverse question: the smallest budget whose compute-optimal loss is
    /// this target (nats per token), with its N and D. Repeatable.
    /// Example: `--target-loss 2.1`.
    #[arg(long, value_name = "LOSS", value_delimiter = ',', allow_negative_numbers = true,
          value_parser = crate::args::positive)]
    pub target_loss: Vec<f64>,

    /// Inverse question: the predicted loss of a given model, as
    /// `PARAMS:TOKENS`. Repeatable. Example: `--loss-at 7e10:1.4e12`.
    #[arg(long, value_name = "N:D", value_parser = crate::args::n_and_d)]
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
    #[arg(long, value_name = "TOKENS", allow_negative_numbers = true, value_parser = crate::args::positive)]
    pub inference_tokens: Option<f64>,

    /// Data-constrained planning (Muennighoff et al. 2023): only this many
    /// unique tokens exist; repeated epochs count as less data
    /// (D' = U + U·R*·(1 − e^(−R/R*))). A data-constrained fit (`fit --law
    /// data-constrained`) is planned with its fitted R*_D and R*_N; any other
    /// law with the published R*_D = 15.387756 (the output says which).
    /// Example: `--unique-tokens 1e11`.
    #[arg(long, value_name = "TOKENS", allow_negative_numbers = true, value_parser = crate::args::positive)]
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

impl Args {
    /// The library request these flags describe.
    pub fn request(&self) -> PlanRequest {
        PlanRequest {
            fit: self.fit.clone(),
            flops: self.flops.clone(),
            target_loss: self.target_loss.clone(),
            loss_at: self.loss_at.clone(),
            convention: Convention::from_name(&self.convention).expect("clap checked the name"),
            compare_conventions: self.compare_conventions,
            context: self.context,
            vocab: self.vocab,
            accelerator: self.accelerator.clone(),
            count: self.count,
            mfu: self.mfu,
            micro_batch: self.micro_batch,
            inference_tokens: self.inference_tokens,
            unique_tokens: self.unique_tokens,
            gpt: self.gpt.clone(),
        }
    }
}

pub fn run(args: Args) -> Result<()> {
    let report = scalelab::plan::plan(&args.request())?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render(&report));
        for w in &report.warnings {
            println!("warning: {w}");
        }
    }
    Ok(())
}

/// The terminal text of a plan (without its warnings).
pub fn render(r: &PlanReport) -> String {
    let mut text = String::new();
    if let Some(g) = &r.gpt {
        text.push_str(&gpt_text(g));
    }
    let (Some(law), Some(conv), Some(method)) = (&r.law, &r.convention, &r.method) else {
        return text;
    };
    let conv = Convention::from_name(conv).unwrap_or(Convention::SixN);
    let formula = law_by_name(law).map(|l| l.formula()).unwrap_or_default();
    let draws = r.bootstrap_draws.unwrap_or(0);
    text.push_str(&format!(
        "law {} ({}), convention {} (C = {}), {} optimum{}\n",
        law,
        formula,
        conv.name(),
        convention_formula(conv),
        method,
        if draws == 0 {
            ", no bootstrap draws in the fit: no intervals".to_string()
        } else {
            format!(", 95% intervals from {draws} bootstrap draws")
        }
    ));
    if let Some(plans) = &r.plans {
        text.push_str(&format!(
            "\n{:>10}  {:>22}  {:>22}  {:>16}  {:>20}\n",
            "FLOPs", "N_opt", "D_opt", "tokens/param", "loss"
        ));
        for p in plans {
            let cis: Vec<[f64; 2]> = p
                .ci95
                .as_ref()
                .map(|c| vec![c.n_opt, c.d_opt, c.tokens_per_param, c.loss_pred])
                .unwrap_or_default();
            let cell = |v: f64, k: usize, prec: usize| match cis.get(k) {
                Some(c) => format!("{v:.prec$e} [{:.1e},{:.1e}]", c[0], c[1]),
                None => format!("{v:.prec$e}"),
            };
            let cellf = |v: f64, k: usize, prec: usize| match cis.get(k) {
                Some(c) => format!("{v:.prec$} [{:.prec$},{:.prec$}]", c[0], c[1]),
                None => format!("{v:.prec$}"),
            };
            // significant digits: a small ratio (0.03) must not print as 0.0
            let cells = |v: f64, k: usize| match cis.get(k) {
                Some(c) => format!("{} [{},{}]", sig(v), sig(c[0]), sig(c[1])),
                None => sig(v),
            };
            text.push_str(&format!(
                "{:>10.2e}  {:>22}  {:>22}  {:>16}  {:>20}\n",
                p.flops,
                cell(p.n_opt, 0, 3),
                cell(p.d_opt, 1, 3),
                cells(p.tokens_per_param, 2),
                cellf(p.loss_pred, 3, 3)
            ));
            text.push_str(&loss_intervals(p.loss_pred, p.loss_ci95, p.loss_pi95));
            if let Some(m) = &p.conventions {
                text.push_str(&convention_table(m));
            }
            if let Some(b) = &p.data_constrained {
                text.push_str(&format!(
                    "            data-constrained ({:.2e} unique tokens): N {:.3e}, D {:.3e} ({} epochs), loss {:.4}\n",
                    b.unique_tokens, b.n_opt, b.d_opt, sig(b.epochs), b.loss_pred
                ));
                let decays = match b.r_star_n {
                    Some(rn) => format!("R*_D = {}, R*_N = {}", sig(b.r_star), sig(rn)),
                    None => format!("R*_D = {}", sig(b.r_star)),
                };
                let source = if b.r_star_source == "fit" {
                    "fitted"
                } else {
                    "published, Muennighoff et al. 2023"
                };
                text.push_str(&format!("              {decays} ({source})\n"));
            }
            if let Some(h) = &p.hardware {
                text.push_str(&hardware_text(h));
            }
        }
    }
    for t in r.targets.iter().flatten() {
        text.push_str(&format!(
            "\ntarget loss {}: {:.3e} FLOPs{} with N {:.3e}, D {:.3e} ({} tokens/param)\n",
            t.target_loss,
            t.flops,
            t.ci95
                .as_ref()
                .map(|c| format!(" [{:.2e}, {:.2e}]", c.flops[0], c.flops[1]))
                .unwrap_or_default(),
            t.n_opt,
            t.d_opt,
            sig(t.tokens_per_param)
        ));
        if let Some(p) = &t.inference_aware {
            text.push_str(&format!(
                "  serving {:.2e} tokens: N {:.3e}, D {:.3e} ({} tokens/param), total {:.3e} FLOPs \
                 (training {:.3e} + inference {:.3e}) vs {:.3e} with the compute-optimal model\n",
                p.inference_tokens,
                p.n,
                p.d_train,
                sig(p.d_train / p.n),
                p.total_flops,
                p.training_flops,
                p.inference_flops,
                p.total_flops_at_compute_optimal
            ));
        }
        if let Some(h) = &t.hardware {
            text.push_str(&hardware_text(h));
        }
    }
    for p in r.points.iter().flatten() {
        text.push_str(&format!(
            "\nN {:.3e}, D {:.3e} ({:.3e} FLOPs): predicted loss {:.4}{}\n",
            p.n,
            p.d,
            p.flops,
            p.loss_pred,
            p.ci95
                .as_ref()
                .map(|c| format!(" [{:.4}, {:.4}]", c.loss_pred[0], c.loss_pred[1]))
                .unwrap_or_default()
        ));
        text.push_str(&loss_intervals(p.loss_pred, p.loss_ci95, p.loss_pi95));
    }
    text
}

/// The line naming a predicted loss's two intervals (none without a
/// prediction interval).
fn loss_intervals(loss: f64, ci: Option<[f64; 2]>, pi: Option<[f64; 2]>) -> String {
    let Some(pi) = pi else {
        return String::new();
    };
    format!(
        "            loss {loss:.4}: 95% confidence interval (law) {}; 95% prediction interval (a run) [{:.4}, {:.4}]\n",
        match ci {
            Some(c) => format!("[{:.4}, {:.4}]", c[0], c[1]),
            None => "none (no bootstrap draws)".into(),
        },
        pi[0],
        pi[1]
    )
}

/// A ratio with significant digits (never `0.0` for a small positive one).
fn sig(v: f64) -> String {
    scalelab::format_compact(v)
}

fn convention_table(m: &Conventions) -> String {
    let mut s = String::new();
    for (conv, v) in m.iter() {
        s.push_str(&format!(
            "            under {:<8}: N {:.3e} (×{:.3}), D {:.3e} (×{:.3}), {} tokens/param\n",
            conv.name(),
            v.n_opt,
            v.n_ratio,
            v.d_opt,
            v.d_ratio,
            sig(v.tokens_per_param)
        ));
    }
    s
}

fn hardware_text(h: &Hardware) -> String {
    let recompute = h.min_accelerators_needs_recompute;
    format!(
        "            on {} × {} at MFU {}: {} days, {:.3e} accelerator-hours; states {} GB \
         (weights, grads, AdamW) + activations {} GB/micro-batch; fits on ≥ {}\n",
        h.count,
        h.accelerator,
        sig(h.mfu),
        sig(h.days),
        h.accelerator_hours,
        sig(h.memory.states / 1e9),
        sig(h.memory.activations_per_micro_batch / 1e9),
        match h.min_accelerators {
            Some(k) if recompute =>
                format!("{k} accelerator(s) with states sharded and full activation recomputation"),
            Some(k) => format!("{k} accelerator(s) with states sharded"),
            None if h.memory_bytes == 0.0 => "? (memory of a custom accelerator unknown)".into(),
            None =>
                "none: one micro-batch of activations exceeds its memory even with recomputation"
                    .into(),
        }
    )
}

fn gpt_text(g: &GptReport) -> String {
    let shape = &g.shape;
    let f = &g.flops_per_token;
    let mut s = format!(
        "GPT layers {}, width {}, heads {}, ff {}, context {}, vocab {}{}\n\
         parameters: {} non-embedding, {} embedding, {} total\n\
         training FLOPs per token: 6N {:.4e}; Kaplan (Table 1) {:.4e} (×{:.3}); Hoffmann (App. F) {:.4e} (×{:.3}); exact {:.4e} (×{:.3})\n",
        shape.n_layer,
        shape.d_model,
        shape.n_head,
        shape.d_ff,
        shape.context,
        shape.vocab,
        if shape.tied_head { "" } else { ", untied head" },
        g.params_non_embedding,
        g.params_embedding,
        g.params_total,
        f.six_n,
        f.kaplan,
        f.kaplan / f.six_n,
        f.hoffmann,
        f.hoffmann / f.six_n,
        f.exact,
        f.exact / f.six_n
    );
    if let (Some(t), Some(tf)) = (g.tokens, &g.training_flops) {
        s.push_str(&format!(
            "training FLOPs for {t:.3e} tokens: 6N {:.4e}; Kaplan {:.4e}; Hoffmann {:.4e}; exact {:.4e}\n",
            tf.six_n, tf.kaplan, tf.hoffmann, tf.exact
        ));
    }
    s
}
