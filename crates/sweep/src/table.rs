//! The sweep's tables, rebuilt from the run directories (so they are never
//! the only copy of anything):
//!
//! * `runs.csv` and `runs.parquet`: one row per run — the table `scalelab
//!   fit`, `isoflop` and `emerge` read without flags. Columns: `run`,
//!   `status`, `reason`, `n_layer`, `d_model`, `n_head`, `context`, `vocab`,
//!   `params` (non-embedding N, Kaplan's convention), `params_total` (with
//!   embeddings, Hoffmann's), `tokens` (D), `flops` (6·N·D), `flops_exact`
//!   (the engine's exact count), `flops_budget` (the design's budget, when
//!   designed), `loss` (final validation loss), `train_loss`, `steps`,
//!   `seed`, `lr`, `evals` (number of intermediate evaluations), `trainer`
//!   (`engine` for the built-in engine, `external` for a `[trainer]`
//!   command) and `accounting` (`scalelab` when `params` and the FLOPs come
//!   from scalelab's accounting for the run's shape, `trainer` when the
//!   external trainer reported them), `schedule` (`cosine`, `wsd`, or
//!   `stable` for the stable-phase parent of WSD cooldown branches, whose
//!   loss is not an end-of-training loss: `fit` and `isoflop` leave such
//!   rows out), `parent` (a cooldown branch's parent run),
//!   `branch_tokens` (a branch's branch point, in tokens), `decay_tokens`
//!   (a WSD run's decay, in tokens) and `flops_spent` (6·N·tokens this run
//!   trained itself: a branch's `flops` is that of a full run to its D, what
//!   a law needs, while it trains only its decay), `unique_tokens` (the
//!   distinct tokens among D: all of them unless the run's `unique_tokens`
//!   budget limits them), `epochs` (D over them) and `batch` (sequences
//!   per step, for `scalelab hparams`), `parametrization` (`standard` or
//!   `mup`) and `mup_base_width` (μP's base width; empty otherwise).
//!   A run whose status is `done` but whose results no longer read (see
//!   [`crate::run::check_done`]) is listed `failed` with the reason.
//! * `curves.csv`: every intermediate evaluation — `run`, `params`,
//!   `params_total`, `step`, `tokens`, `flops`, `flops_exact`, `train_loss`,
//!   `loss` (validation) — for IsoFLOP Approach 1 (`--run-col run`).

use crate::run::{check_done, check_engine_done, read_metrics, read_status, run_dir, State};
use crate::spec::SweepPlan;
use anyhow::Result;
use scalelab_tables::{write_csv, write_parquet, Cell};
use std::path::Path;

fn num(v: f64) -> Cell {
    Cell::Num(v)
}

fn opt(v: Option<f64>) -> Cell {
    v.map_or(Cell::Null, Cell::Num)
}

/// Column names of `runs.csv`.
pub const RUN_COLUMNS: &[&str] = &[
    "run",
    "status",
    "reason",
    "n_layer",
    "d_model",
    "n_head",
    "context",
    "vocab",
    "params",
    "params_total",
    "tokens",
    "flops",
    "flops_exact",
    "flops_budget",
    "loss",
    "train_loss",
    "steps",
    "seed",
    "lr",
    "evals",
    "trainer",
    "accounting",
    "schedule",
    "parent",
    "branch_tokens",
    "decay_tokens",
    "flops_spent",
    "unique_tokens",
    "epochs",
    "batch",
    "parametrization",
    "mup_base_width",
];

/// Column names of `curves.csv`.
pub const CURVE_COLUMNS: &[&str] = &[
    "run",
    "params",
    "params_total",
    "step",
    "tokens",
    "flops",
    "flops_exact",
    "train_loss",
    "loss",
];

/// The rows of both tables.
pub fn rows(dir: &Path, plan: &SweepPlan) -> (Vec<Vec<Cell>>, Vec<Vec<Cell>>) {
    let mut runs = Vec::new();
    let mut curves = Vec::new();
    for r in &plan.runs {
        if r.trainer.is_some() {
            external_rows(dir, r, &mut runs, &mut curves);
            continue;
        }
        let rd = run_dir(dir, &r.name);
        let mut st = read_status(&rd, r.config.total_steps());
        let n = r.params as f64;
        let metrics = read_metrics(&rd);
        // a finished run is re-validated: corrupt results make its row failed
        let summary = if st.state == State::Done {
            match check_engine_done(&rd) {
                Ok(s) => Some(s),
                Err(why) => {
                    st.state = State::Failed;
                    st.reason = Some(why);
                    None
                }
            }
        } else {
            None
        };
        let fpt = summary.as_ref().map(|s| s.flops_per_token);
        let tokens = r.tokens() as f64;
        let mut evals = 0;
        for m in &metrics {
            if let Some(v) = m.val_loss {
                evals += 1;
                curves.push(vec![
                    Cell::Str(r.name.clone()),
                    num(n),
                    num(r.params_total as f64),
                    num(m.step as f64),
                    num(m.tokens as f64),
                    num(6.0 * n * m.tokens as f64),
                    num(m.flops),
                    num(m.train_loss),
                    num(v),
                ]);
            }
        }
        runs.push(vec![
            Cell::Str(r.name.clone()),
            Cell::Str(st.state.as_str().into()),
            st.reason.clone().map_or(Cell::Null, Cell::Str),
            num(r.config.n_layer as f64),
            num(r.config.d_model as f64),
            num(r.config.n_head as f64),
            num(r.config.context as f64),
            num(r.vocab as f64),
            num(n),
            num(r.params_total as f64),
            num(tokens),
            num(6.0 * n * tokens),
            opt(fpt.map(|f| f * tokens)),
            opt(r.flops_budget),
            opt(summary.as_ref().and_then(|s| s.final_val_loss)),
            opt(summary.as_ref().map(|s| s.final_train_loss)),
            num(r.config.total_steps() as f64),
            num(r.config.seed as f64),
            num(r.config.lr),
            num(evals as f64),
            Cell::Str("engine".into()),
            Cell::Str("scalelab".into()),
        ]);
        runs.last_mut()
            .expect("row")
            .extend(schedule_cells(r, 6.0 * n * r.tokens_spent() as f64));
        runs.last_mut().expect("row").extend(data_cells(r, tokens));
    }
    (runs, curves)
}

/// The cells of the data columns: `unique_tokens` (the distinct tokens the
/// run trained on: all of its `tokens` unless `unique_tokens` limits them)
/// and `epochs` over them, what `fit --law data-constrained` reads; then
/// the run's `batch` (sequences per step), what `hparams` reads; then its
/// parametrisation and μP base width.
fn data_cells(r: &crate::spec::RunPlan, tokens: f64) -> Vec<Cell> {
    let unique = (r.config.unique_tokens_seen() as f64).min(tokens);
    vec![
        num(unique),
        num(tokens / unique),
        num(r.config.batch as f64),
        Cell::Str(r.config.parametrization.as_str().into()),
        opt(r.config.mup_base_width.map(|w| w as f64)),
    ]
}

/// The cells of the schedule columns (`schedule` … `flops_spent`).
fn schedule_cells(r: &crate::spec::RunPlan, flops_spent: f64) -> Vec<Cell> {
    let tps = (r.config.batch * r.config.context) as f64;
    let total = r.config.total_steps();
    let (parent, branch) = match &r.cooldown {
        Some(crate::spec::Cooldown::Branch {
            parent, start_step, ..
        }) => (
            Cell::Str(parent.clone()),
            Cell::Num(*start_step as f64 * tps),
        ),
        _ => (Cell::Null, Cell::Null),
    };
    let decay = if r.config.lr_schedule == scalelab_engine::ScheduleKind::Wsd {
        let k = scalelab_engine::optim::wsd_decay_steps(total, r.config.decay_fraction);
        Cell::Num(k as f64 * tps)
    } else {
        Cell::Null
    };
    vec![
        Cell::Str(r.schedule_name().into()),
        parent,
        branch,
        decay,
        num(flops_spent),
    ]
}

/// The rows of a run an external trainer executes: its counts are the
/// trainer's when it reported them (`accounting`), else scalelab's for the
/// declared shape.
fn external_rows(
    dir: &Path,
    r: &crate::spec::RunPlan,
    runs: &mut Vec<Vec<Cell>>,
    curves: &mut Vec<Vec<Cell>>,
) {
    let rd = run_dir(dir, &r.name);
    let mut st = read_status(&rd, r.config.total_steps());
    let result = if st.state == State::Done {
        let x = crate::external::read_result(&rd);
        if x.is_none() {
            st.state = State::Failed;
            st.reason = check_done(&rd, r).err();
        }
        x
    } else {
        None
    };
    let fpt = r.config.shape(r.vocab).flops_per_token().exact;
    let n = result.as_ref().map_or(r.params as f64, |x| x.params);
    let n_total = result
        .as_ref()
        .map_or(r.params_total as f64, |x| x.params_total);
    let lines = crate::external::read_lines(&rd.join("metrics.jsonl"), false).unwrap_or_default();
    let tps = (r.config.batch * r.config.context) as f64;
    let mut evals = 0;
    for m in &lines {
        if let (Some(v), false) = (m.val_loss, m.done) {
            evals += 1;
            let tokens = m.tokens.unwrap_or(m.step as f64 * tps);
            curves.push(vec![
                Cell::Str(r.name.clone()),
                num(n),
                num(n_total),
                num(m.step as f64),
                num(tokens),
                num(6.0 * n * tokens),
                num(m.flops.unwrap_or(fpt * tokens)),
                opt(m.train_loss),
                num(v),
            ]);
        }
    }
    let tokens = result.as_ref().map_or(r.tokens() as f64, |x| x.tokens);
    runs.push(vec![
        Cell::Str(r.name.clone()),
        Cell::Str(st.state.as_str().into()),
        st.reason.clone().map_or(Cell::Null, Cell::Str),
        num(r.config.n_layer as f64),
        num(r.config.d_model as f64),
        num(r.config.n_head as f64),
        num(r.config.context as f64),
        num(r.vocab as f64),
        num(n),
        num(n_total),
        num(tokens),
        num(6.0 * n * tokens),
        opt(result.as_ref().map(|x| x.flops)),
        opt(r.flops_budget),
        opt(result.as_ref().map(|x| x.val_loss)),
        opt(result.as_ref().and_then(|x| x.train_loss)),
        num(result
            .as_ref()
            .map_or(r.config.total_steps() as f64, |x| x.steps as f64)),
        num(r.config.seed as f64),
        num(r.config.lr),
        num(evals as f64),
        Cell::Str("external".into()),
        Cell::Str(
            result
                .as_ref()
                .map_or("scalelab".to_string(), |x| x.accounting.clone()),
        ),
    ]);
    runs.last_mut()
        .expect("row")
        .extend(schedule_cells(r, 6.0 * n * tokens));
    runs.last_mut().expect("row").extend(data_cells(r, tokens));
}

/// Writes `runs.csv`, `runs.parquet` and `curves.csv` atomically.
pub fn write_tables(dir: &Path, plan: &SweepPlan) -> Result<()> {
    let (runs, curves) = rows(dir, plan);
    let cols: Vec<String> = RUN_COLUMNS.iter().map(|s| s.to_string()).collect();
    write_csv(&dir.join("runs.csv"), &cols, &runs)?;
    write_parquet(&dir.join("runs.parquet"), &cols, &runs)?;
    let ccols: Vec<String> = CURVE_COLUMNS.iter().map(|s| s.to_string()).collect();
    write_csv(&dir.join("curves.csv"), &ccols, &curves)?;
    Ok(())
}
