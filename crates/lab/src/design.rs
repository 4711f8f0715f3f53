//! Pilot-run design: an IsoFLOP grid for a total budget, as a sweep file.
//!
//! [`run`] takes a [`DesignRequest`] and returns a [`DesignReport`] (the
//! `scalelab.design/1` JSON); with `out` it also writes the design as a
//! [`SweepFile`] (`scalelab.sweep/1`, each run's `config` a `scalelab
//! train` configuration).
//!
//! [`simulate`] chooses between candidate designs by simulating noisy
//! pilots from a prior law and fitting them (`scalelab design --simulate`).

pub mod simulate;

use crate::isoflop::read_plannable_fit;
use crate::{Error, Result, Warning, WarningKind};
use scalelab_core::design::{
    design, optimum_at_ratio, DesignOptions, MAX_DESIGN_COUNT, MAX_DESIGN_FLOPS,
};
use scalelab_core::plan::{self, six_n};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The types the report is made of.
pub use scalelab_core::accounting::GptShape;
pub use scalelab_core::design::PilotRun;

/// The `schema` of a design report.
pub const SCHEMA: &str = "scalelab.design/1";
/// The `schema` of the sweep file a design writes.
pub const SWEEP_SCHEMA: &str = "scalelab.sweep/1";

/// What to design.
#[derive(Clone, Debug, PartialEq)]
pub struct DesignRequest {
    /// Total FLOPs of all pilot runs together (6N convention).
    pub pilot_flops: f64,
    /// Number of FLOP budgets.
    pub budgets: usize,
    /// Decades between the smallest and largest budget.
    pub decades: f64,
    /// Model sizes per budget.
    pub sizes: usize,
    /// Sizes span N*/spread to N*·spread around the expected optimum.
    pub spread: f64,
    /// Prior of the expected optimum (ignored with `fit`).
    pub tokens_per_param: f64,
    /// A `scalelab.fit/1` file whose optimum is the expected one.
    pub fit: Option<PathBuf>,
    /// Context length and vocabulary of the pilot models.
    pub context: usize,
    pub vocab: usize,
    /// Where to write the sweep file.
    pub out: Option<PathBuf>,
}

impl DesignRequest {
    /// A request with the CLI's defaults for a total of `pilot_flops`.
    pub fn new(pilot_flops: f64) -> Self {
        DesignRequest {
            pilot_flops,
            budgets: 5,
            decades: 2.0,
            sizes: 7,
            spread: 4.0,
            tokens_per_param: 20.0,
            fit: None,
            context: 128,
            vocab: 256,
            out: None,
        }
    }
}

/// The `scalelab.design/1` report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DesignReport {
    pub schema: String,
    pub pilot_flops: f64,
    /// FLOPs of all runs (6N convention with the shapes' exact N).
    pub total_flops: f64,
    /// Where the expected optimum came from, in words.
    pub prior: String,
    pub budgets: Vec<f64>,
    pub runs: Vec<PilotRun>,
    /// Reasons the design may not identify the law.
    pub warnings: Vec<Warning>,
    /// The sweep file written, if any.
    pub sweep_file: Option<String>,
}

/// The training configuration of one pilot run in a sweep file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepRunConfig {
    pub n_layer: usize,
    pub d_model: usize,
    pub n_head: usize,
    pub d_ff: usize,
    pub context: usize,
    pub vocab: usize,
    pub tokens: u64,
}

/// One run of a designed sweep file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepRun {
    pub name: String,
    pub flops_budget: f64,
    pub params_non_embedding: f64,
    pub params_total: f64,
    pub flops_exact: f64,
    pub config: SweepRunConfig,
}

/// The sweep file (`scalelab.sweep/1`) a design writes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepFile {
    pub schema: String,
    pub generated_by: String,
    pub pilot_flops: f64,
    pub budgets: Vec<f64>,
    pub runs: Vec<SweepRun>,
}

impl DesignReport {
    /// The design as a sweep file.
    pub fn sweep(&self) -> SweepFile {
        SweepFile {
            schema: SWEEP_SCHEMA.into(),
            generated_by: "scalelab design".into(),
            pilot_flops: self.pilot_flops,
            budgets: self.budgets.clone(),
            runs: self
                .runs
                .iter()
                .map(|r| SweepRun {
                    name: r.name.clone(),
                    flops_budget: r.flops,
                    params_non_embedding: r.params,
                    params_total: r.params_total,
                    flops_exact: r.flops_exact,
                    config: SweepRunConfig {
                        n_layer: r.shape.n_layer,
                        d_model: r.shape.d_model,
                        n_head: r.shape.n_head,
                        d_ff: r.shape.d_ff,
                        context: r.shape.context,
                        vocab: r.shape.vocab,
                        tokens: r.tokens.round() as u64,
                    },
                })
                .collect(),
        }
    }
}

impl DesignReport {
    /// The design as a TOML sweep file (`--out FILE.toml`): `[train]` with
    /// the context it was designed for and one `[[runs]]` table a run, with
    /// its shape, tokens and IsoFLOP budget. Add data, batch and learning
    /// rate to `[train]` as needed.
    pub fn sweep_toml(&self) -> String {
        let mut s = format!(
            "# An IsoFLOP pilot design by `scalelab design` ({} runs, {} budgets, {:e} FLOPs\n\
             # in all; prior: {}). Add data, batch and learning rate to [train] as needed.\n\
             name = \"design\"\n\n[train]\n",
            self.runs.len(),
            self.budgets.len(),
            self.total_flops,
            self.prior
        );
        if let Some(r) = self.runs.first() {
            s.push_str(&format!("context = {}\n", r.shape.context));
        }
        for r in &self.runs {
            s.push_str(&format!(
                "\n[[runs]]\nname = {:?}\nn_layer = {}\nd_model = {}\nn_head = {}\n",
                r.name, r.shape.n_layer, r.shape.d_model, r.shape.n_head
            ));
            if r.shape.d_ff != 4 * r.shape.d_model {
                s.push_str(&format!("d_ff = {}\n", r.shape.d_ff));
            }
            s.push_str(&format!(
                "tokens = {}\nflops_budget = {:?}\n",
                r.tokens.round() as u64,
                r.flops
            ));
        }
        s
    }
}

fn positive(flag: &str, v: f64) -> Result<()> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(Error::flag(
            flag,
            format!("{flag} must be a positive finite number, got {v}"),
        ))
    }
}

/// Designs the pilot runs (and writes the sweep file with `out`).
pub fn run(req: &DesignRequest) -> Result<DesignReport> {
    positive("--pilot-flops", req.pilot_flops)?;
    if req.pilot_flops > MAX_DESIGN_FLOPS {
        return Err(Error::flag(
            "--pilot-flops",
            format!(
                "--pilot-flops must be at most {MAX_DESIGN_FLOPS:e}, got {:e}",
                req.pilot_flops
            ),
        ));
    }
    for (flag, k) in [("--budgets", req.budgets), ("--sizes", req.sizes)] {
        if k > MAX_DESIGN_COUNT {
            return Err(Error::flag(
                flag,
                format!("{flag} must be at most {MAX_DESIGN_COUNT}, got {k}"),
            ));
        }
    }
    positive("--tokens-per-param", req.tokens_per_param)?;
    let opts = DesignOptions {
        total_flops: req.pilot_flops,
        budgets: req.budgets,
        decades: req.decades,
        sizes: req.sizes,
        spread: req.spread,
        context: req.context,
        vocab: req.vocab,
    };
    if req.budgets == 0 {
        return Err(Error::flag("--budgets", "--budgets must be at least 1"));
    }
    if req.sizes == 0 {
        return Err(Error::flag("--sizes", "--sizes must be at least 1"));
    }
    if req.decades.is_nan() || req.decades < 0.0 {
        return Err(Error::flag(
            "--decades",
            format!(
                "--decades must be a non-negative number, got {}",
                req.decades
            ),
        ));
    }
    if req.spread.is_nan() || req.spread < 1.0 {
        return Err(Error::flag(
            "--spread",
            format!(
                "--spread must be a factor of at least 1, got {}",
                req.spread
            ),
        ));
    }
    let fit = match &req.fit {
        Some(p) => Some(read_plannable_fit(p)?),
        None => None,
    };
    let prior = |c: f64| -> f64 {
        match &fit {
            Some(f) => plan::optimum(f.law.as_ref(), &f.params, c, &six_n, Some(6.0))
                .map(|a| a.n)
                .unwrap_or(f64::NAN),
            None => optimum_at_ratio(c, req.tokens_per_param),
        }
    };
    let d = design(&opts, &prior).map_err(Error::Failed)?;
    let prior_text = match &req.fit {
        Some(p) => format!("the optimum of fit {}", p.display()),
        None => format!("{} tokens per parameter", req.tokens_per_param),
    };
    let report = DesignReport {
        schema: SCHEMA.into(),
        pilot_flops: req.pilot_flops,
        total_flops: d.total_flops,
        prior: prior_text,
        budgets: d.budgets,
        runs: d.runs,
        warnings: d
            .warnings
            .into_iter()
            .map(|w| Warning::new(WarningKind::Design, w))
            .collect(),
        sweep_file: req.out.as_ref().map(|p| p.display().to_string()),
    };
    if let Some(out) = &req.out {
        let toml_out = out
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("toml"));
        let text = if toml_out {
            report.sweep_toml()
        } else {
            serde_json::to_string_pretty(&report.sweep())
                .map_err(|e| Error::failed(format!("cannot serialise the sweep file: {e}")))?
                + "\n"
        };
        crate::write_atomic(out, text.as_bytes())
            .map_err(|e| Error::io("cannot write sweep file", out, e))?;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_design_writes_its_sweep_file_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let mut req = DesignRequest::new(1e17);
        req.out = Some(dir.path().join("sweep.json"));
        let r = run(&req).unwrap();
        assert_eq!(r.runs.len(), 35);
        let sweep: SweepFile =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join("sweep.json")).unwrap())
                .unwrap();
        assert_eq!(sweep, r.sweep());
        let back: DesignReport = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(back.runs, r.runs);
    }

    #[test]
    fn bad_requests_name_their_flag() {
        let mut req = DesignRequest::new(1e17);
        req.budgets = 0;
        assert!(matches!(run(&req), Err(Error::Flag { flag, .. }) if flag == "--budgets"));
        let req = DesignRequest::new(-1.0);
        assert!(matches!(run(&req), Err(Error::Flag { flag, .. }) if flag == "--pilot-flops"));
    }

    #[test]
    fn a_write_error_names_the_file_and_its_cause_once() {
        let mut req = DesignRequest::new(1e17);
        req.out = Some("/nonexistent/dir/sweep.json".into());
        let e = anyhow::Error::from(run(&req).unwrap_err());
        let msg = format!("{e:#}");
        assert!(
            msg.starts_with("cannot write sweep file /nonexistent/dir/sweep.json: "),
            "{msg}"
        );
        assert_eq!(msg.matches("os error").count(), 1, "{msg}");
    }
}
