//! Sweep files (TOML) and their resolution into runs.
//!
//! ```toml
//! name = "pilot"
//!
//! [train]                 # shared settings: fields of `scalelab train`'s config
//! data = "synth"          # except the shape (n_layer, d_model, n_head, d_ff)
//! context = 64            # and the budget (steps, tokens), which come per run
//! batch = 16
//! lr = 3e-3
//!
//! [schedule]
//! tokens_per_param = 20   # D for runs that give neither tokens nor flops
//! evals = 8               # validation evaluations per run (unless train.eval_every)
//! checkpoints = 10        # checkpoints per run (unless train.checkpoint_every)
//! lr_rule = { base = 3e-3, ref_params = 1e5, exponent = -0.25 }  # lr = base·(N/ref)^exponent
//! # or by compute: lr = base·(C/ref_flops)^exponent (what `scalelab hparams` writes)
//! # lr_rule = { base = 6e-3, ref_flops = 1e11, exponent = -0.1 }
//!
//! [[runs]]                # explicit runs …
//! params = 3e5            # target non-embedding N (shape rule) or n_layer/d_model/n_head
//! tokens = 2e6            # or tokens_per_param, or flops (D = C/(6N))
//! unique_tokens = 5e5     # optional: repeat 5e5 unique tokens for D/U epochs
//!
//! [grid]                  # … a grid (params × tokens or × tokens_per_param) …
//! params = [1e4, 3e4, 1e5]
//! tokens_per_param = [5, 20, 80]
//! unique_tokens = [2e5, 1e6]   # optional: × unique-token budgets (data repeated)
//! # flops = [1e11, 1e12]     # or budgets: × params (D = C/(6N)), or one size per
//! #                          # budget and tokens_per_param (N = √(C/(6r)))
//! # lr_factors = [0.5, 1, 2] # optional: × multiples of the lr rule (or lr = [..])
//! # batch = [8, 16]          # optional: × batch sizes at the same tokens
//!
//! [design]                # … an IsoFLOP design (as `scalelab design`) …
//! total_flops = 1e15
//! budgets = 4
//!
//! design_file = "sweep.json"   # … or the file `scalelab design --out` wrote
//! ```
//!
//! Every problem is reported before any run starts, naming the key and the
//! line: unknown keys, values of the wrong type, shapes the engine refuses,
//! data that cannot be opened.

use anyhow::{anyhow, bail, Context, Result};
use scalelab_core::accounting::{shape_for_params, GptShape, MAX_SHAPE_PARAMS, MAX_TOKENS};
use scalelab_core::design::{design, optimum_at_ratio, DesignOptions};
use scalelab_engine::optim::wsd_decay_steps;
use scalelab_engine::{DecayShape, ScheduleKind, TrainConfig};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use toml::Spanned;

/// A sweep file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepFile {
    pub name: Option<String>,
    #[serde(default)]
    pub train: BTreeMap<Spanned<String>, toml::Value>,
    #[serde(default)]
    pub schedule: Schedule,
    #[serde(default)]
    pub runs: Vec<Spanned<RunEntry>>,
    pub grid: Option<Spanned<Grid>>,
    pub design: Option<Spanned<DesignSection>>,
    pub design_file: Option<Spanned<String>>,
    #[serde(default)]
    pub slurm: SlurmSettings,
    /// An external trainer (a command per run) instead of the built-in engine.
    pub trainer: Option<Spanned<crate::external::TrainerSection>>,
    /// Settings of `scalelab study` (ignored by `scalelab sweep`).
    #[serde(default)]
    pub study: Option<toml::Table>,
}

/// Rules that turn a size into a training budget and schedule.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    #[serde(default = "d_tpp")]
    pub tokens_per_param: f64,
    #[serde(default = "d_evals")]
    pub evals: u64,
    #[serde(default = "d_checkpoints")]
    pub checkpoints: u64,
    pub lr_rule: Option<LrRule>,
    /// The learning-rate schedule of every run: `cosine` or `wsd` (default:
    /// `[train] lr_schedule`, itself `cosine` by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<ScheduleKind>,
    /// WSD: the fraction of each run's steps that decay (default 0.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decay_fraction: Option<f64>,
    /// WSD: `linear`, `cosine` or `1-sqrt` (the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decay_shape: Option<DecayShape>,
    /// WSD cooldown branches, as multiples of each run's D: every run
    /// becomes one stable-phase parent and one branch per multiple.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branches: Option<Vec<f64>>,
}

fn d_tpp() -> f64 {
    20.0
}
fn d_evals() -> u64 {
    8
}
fn d_checkpoints() -> u64 {
    10
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule {
            tokens_per_param: d_tpp(),
            evals: d_evals(),
            checkpoints: d_checkpoints(),
            lr_rule: None,
            kind: None,
            decay_fraction: None,
            decay_shape: None,
            branches: None,
        }
    }
}

/// Learning rate by size, `lr = base · (N / ref_params)^exponent`, or by
/// compute, `lr = base · (C / ref_flops)^exponent` (C the run's FLOP budget,
/// else 6·N·D): the form `scalelab hparams` writes as its `lr_rule`.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LrRule {
    pub base: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ref_params: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ref_flops: Option<f64>,
    #[serde(default)]
    pub exponent: f64,
}

impl LrRule {
    /// The rule's learning rate for a run of `params` non-embedding
    /// parameters and `flops` FLOPs.
    pub fn lr(&self, params: f64, flops: f64) -> f64 {
        match (self.ref_params, self.ref_flops) {
            (Some(r), _) => self.base * (params / r).powf(self.exponent),
            (None, Some(r)) => self.base * (flops / r).powf(self.exponent),
            (None, None) => self.base,
        }
    }

    fn check(&self) -> std::result::Result<(), String> {
        let ok = |v: f64| v.is_finite() && v > 0.0;
        match (self.ref_params, self.ref_flops) {
            (Some(_), Some(_)) => {
                return Err(
                    "give ref_params (lr by size) or ref_flops (lr by compute), not both".into(),
                )
            }
            (None, None) => {
                return Err("give ref_params (lr by size) or ref_flops (lr by compute)".into())
            }
            (Some(r), None) | (None, Some(r)) if !ok(r) => {
                return Err(format!("the reference must be a positive number, got {r}"))
            }
            _ => {}
        }
        if !ok(self.base) || !self.exponent.is_finite() {
            return Err(format!(
                "base must be a positive number and exponent finite, got base = {}, exponent = {}",
                self.base, self.exponent
            ));
        }
        Ok(())
    }
}

/// One explicit run.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RunEntry {
    pub name: Option<String>,
    pub params: Option<f64>,
    pub n_layer: Option<usize>,
    pub d_model: Option<usize>,
    pub n_head: Option<usize>,
    pub d_ff: Option<usize>,
    pub tokens: Option<f64>,
    pub tokens_per_param: Option<f64>,
    pub flops: Option<f64>,
    pub seed: Option<u64>,
    pub lr: Option<f64>,
    /// The IsoFLOP budget the run belongs to (`isoflop` groups by it); the
    /// TOML that `scalelab design --out FILE.toml` writes sets it.
    pub flops_budget: Option<f64>,
    /// A unique-token budget: the run repeats these tokens for epochs.
    pub unique_tokens: Option<f64>,
}

/// A grid of sizes × budgets (× unique-token budgets) (× learning rates ×
/// batch sizes).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Grid {
    #[serde(default)]
    pub params: Vec<f64>,
    /// FLOP budgets C: with `params`, every size at every budget (D =
    /// C/(6N)); without, one size per budget and tokens-per-param ratio r
    /// (N = √(C/(6r))). The runs record C as their `flops_budget`.
    pub flops: Option<Vec<f64>>,
    /// Learning rates: every run once per value (named `-lr…`).
    pub lr: Option<Vec<f64>>,
    /// Multiples of the run's learning rate (`[schedule] lr_rule`, else
    /// `[train] lr`): every run once per factor (named `-lr…`).
    pub lr_factors: Option<Vec<f64>>,
    /// Batch sizes (sequences per step): every run once per value, at the
    /// same tokens (named `-b…`).
    pub batch: Option<Vec<u64>>,
    pub tokens: Option<Vec<f64>>,
    pub tokens_per_param: Option<Vec<f64>>,
    /// Unique-token budgets: every size and budget once per value (a run
    /// whose budget is below it trains on fresh data).
    pub unique_tokens: Option<Vec<f64>>,
}

/// An IsoFLOP design, as `scalelab design`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DesignSection {
    pub total_flops: f64,
    #[serde(default = "d_budgets")]
    pub budgets: usize,
    #[serde(default = "d_decades")]
    pub decades: f64,
    #[serde(default = "d_sizes")]
    pub sizes: usize,
    #[serde(default = "d_spread")]
    pub spread: f64,
    #[serde(default = "d_tpp")]
    pub tokens_per_param: f64,
}
fn d_budgets() -> usize {
    5
}
fn d_decades() -> f64 {
    2.0
}
fn d_sizes() -> usize {
    7
}
fn d_spread() -> f64 {
    4.0
}

/// Options of the Slurm executor (flags override them).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SlurmSettings {
    pub partition: Option<String>,
    pub account: Option<String>,
    /// Time limit per task, Slurm syntax (`01:00:00`).
    pub time: Option<String>,
    pub cpus_per_task: Option<u32>,
    pub gpus: Option<String>,
    /// GPUs per task of a multi-task job (`--gpus-per-task`).
    pub gpus_per_task: Option<String>,
    /// Nodes per array task (`--nodes`).
    pub nodes: Option<u32>,
    /// Tasks per node (`--ntasks-per-node`).
    pub ntasks_per_node: Option<u32>,
    /// Under Slurm, the launcher put before an external trainer's command
    /// (overrides `[trainer] launcher`), e.g. `srun` or
    /// `torchrun --nproc-per-node=4`.
    pub launcher: Option<String>,
    pub mem: Option<String>,
    /// Array tasks running at once (`%K`).
    pub max_concurrent: Option<usize>,
    /// Extra `#SBATCH` options, e.g. `["--qos=low"]`.
    #[serde(default)]
    pub extra: Vec<String>,
}

/// A run, fully resolved.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RunPlan {
    pub name: String,
    pub config: TrainConfig,
    /// Exact non-embedding parameters of the shape.
    pub params: u64,
    pub params_total: u64,
    /// Vocabulary of the model (the data's unless set).
    pub vocab: usize,
    /// The FLOP budget the run was designed for (6N convention), if any.
    pub flops_budget: Option<f64>,
    /// The external trainer that runs it (`None`: the built-in engine).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trainer: Option<crate::external::TrainerSpec>,
    /// Its part in a WSD cooldown ladder (`[schedule] branches`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cooldown: Option<Cooldown>,
}

/// A run's part in a WSD cooldown ladder.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "role", rename_all = "lowercase")]
pub enum Cooldown {
    /// The stable phase (warm-up, then the peak rate) to the latest branch
    /// point, keeping a checkpoint at every branch point. Its loss is not
    /// an end-of-training loss: `fit` and `isoflop` leave it out.
    Stable {
        /// Its branch runs.
        branches: Vec<String>,
    },
    /// The decay of a WSD run of D_k tokens, from the parent's checkpoint
    /// at step `start_step` (the branch point, (1 − f)·D_k tokens) to the end.
    Branch {
        parent: String,
        start_step: u64,
        /// D_k as a multiple of the run's D.
        multiple: f64,
    },
}

impl Cooldown {
    /// `stable` or `branch`.
    pub fn role(&self) -> &'static str {
        match self {
            Cooldown::Stable { .. } => "stable",
            Cooldown::Branch { .. } => "branch",
        }
    }
}

impl RunPlan {
    /// Training tokens the run will see (steps × batch × context).
    pub fn tokens(&self) -> u64 {
        self.config.total_steps() * (self.config.batch * self.config.context) as u64
    }

    /// Tokens this run trains itself: a branch starts at its branch point
    /// (the steps before are its parent's).
    pub fn tokens_spent(&self) -> u64 {
        let from = match &self.cooldown {
            Some(Cooldown::Branch { start_step, .. }) => *start_step,
            _ => 0,
        };
        (self.config.total_steps() - from.min(self.config.total_steps()))
            * (self.config.batch * self.config.context) as u64
    }

    /// Whether the run is a stable-phase parent (no end-of-training loss).
    pub fn is_stable_parent(&self) -> bool {
        matches!(self.cooldown, Some(Cooldown::Stable { .. }))
    }

    /// The schedule column of the tables: `cosine`, `wsd`, or `stable`
    /// (a cooldown parent).
    pub fn schedule_name(&self) -> &'static str {
        if self.is_stable_parent() {
            "stable"
        } else {
            self.config.lr_schedule.as_str()
        }
    }
}

/// A resolved sweep: its runs and the Slurm settings.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SweepPlan {
    pub schema: String,
    pub name: String,
    pub runs: Vec<RunPlan>,
    pub slurm: SlurmSettings,
    /// What the resolution changed (duplicate runs dropped, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// Checks a run's configuration against its data and returns the data's
/// vocabulary; the flag says the run is for an external trainer (so this
/// machine's memory is not the limit).
pub type Check = dyn Fn(&TrainConfig, bool) -> Result<usize>;

/// Keys of `[train]` that the runs set themselves.
const PER_RUN_KEYS: &[&str] = &["n_layer", "d_model", "n_head", "d_ff", "steps", "tokens"];

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// Where a spanned item is, for messages: `file:line`.
fn at(path: &Path, text: &str, span: std::ops::Range<usize>) -> String {
    format!("{}:{}", path.display(), line_of(text, span.start))
}

/// Reads and resolves a sweep file. `data_vocab` opens the data once and
/// reports its vocabulary (and checks each run's shape against it).
pub fn load(path: &Path, check: &Check) -> Result<(SweepPlan, SweepFile)> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read sweep file {}", path.display()))?;
    let text = if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
    {
        json_sweep_as_toml(path, &text)?
    } else {
        text
    };
    let file: SweepFile = toml::from_str(&text)
        .map_err(|e| anyhow!("{}: {}", path.display(), e.to_string().trim_end()))?;
    let plan = resolve(path, &text, &file, check)?;
    Ok((plan, file))
}

/// A `scalelab design --out FILE.json` file given as the sweep file itself:
/// the sweep that names it as its `design_file`, at the context its runs
/// were designed for.
fn json_sweep_as_toml(path: &Path, text: &str) -> Result<String> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        anyhow!(
            "{}:{}:{}: not JSON: {e} (a sweep file is TOML, or the JSON that `scalelab design --out` writes)",
            path.display(),
            e.line(),
            e.column()
        )
    })?;
    if v.get("schema").and_then(|s| s.as_str()) != Some("scalelab.sweep/1") {
        bail!(
            "{}: not a `scalelab design --out` file (schema scalelab.sweep/1); sweep files are TOML",
            path.display()
        );
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = path
        .file_stem()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "design".into());
    let mut t = toml::Table::new();
    t.insert("name".into(), stem.into());
    t.insert("design_file".into(), name.into());
    if let Some(c) = v["runs"][0]["config"]["context"].as_i64() {
        let mut train = toml::Table::new();
        train.insert("context".into(), c.into());
        t.insert("train".into(), train.into());
    }
    Ok(toml::to_string(&t).expect("a TOML table serialises"))
}

/// The shared training settings of `[train]`, checked key by key.
fn base_config(path: &Path, text: &str, file: &SweepFile) -> Result<toml::Table> {
    let allowed: Vec<String> = {
        let t: toml::Table = toml::from_str(&TrainConfig::default().to_toml()).expect("toml");
        let mut k: Vec<String> = t.keys().cloned().collect();
        k.extend(
            [
                "vocab",
                "warmup_steps",
                "parametrization",
                "mup_base_width",
                "mup_base_head_dim",
            ]
            .map(String::from),
        );
        k.retain(|k| !PER_RUN_KEYS.contains(&k.as_str()));
        k.sort();
        k.dedup();
        k
    };
    let mut table = toml::Table::new();
    for (k, v) in &file.train {
        let key = k.get_ref();
        if PER_RUN_KEYS.contains(&key.as_str()) {
            bail!(
                "{}: [train] {key}: the shape and budget are set per run ([[runs]], [grid] or [design]), not in [train]",
                at(path, text, k.span())
            );
        }
        if !allowed.contains(key) {
            bail!(
                "{}: [train] has no key `{key}` (keys: {})",
                at(path, text, k.span()),
                allowed.join(", ")
            );
        }
        table.insert(key.clone(), v.clone());
    }
    // Check the types now, with a placeholder shape and budget.
    let mut probe = table.clone();
    probe.insert("n_layer".into(), 1.into());
    probe.insert("d_model".into(), 16.into());
    probe.insert("n_head".into(), 1.into());
    probe.insert("steps".into(), 1.into());
    if let Err(e) = probe.try_into::<TrainConfig>() {
        let msg = e.to_string();
        let line = file
            .train
            .keys()
            .find(|k| msg.contains(&format!("`{}`", k.get_ref())))
            .map(|k| at(path, text, k.span()))
            .unwrap_or_else(|| path.display().to_string());
        bail!("{line}: [train]: {}", msg.trim_end());
    }
    Ok(table)
}

fn positive(v: f64) -> bool {
    v.is_finite() && v > 0.0
}

/// Resolves the file's runs into training configurations.
pub fn resolve(path: &Path, text: &str, file: &SweepFile, check: &Check) -> Result<SweepPlan> {
    let mut base = base_config(path, text, file)?;
    let trainer = match &file.trainer {
        Some(t) => Some(crate::external::resolve_trainer(path, text, t)?),
        None => None,
    };
    let external = trainer.is_some();
    let check = |cfg: &TrainConfig| check(cfg, external);
    // A data path is taken relative to the sweep file (else to the current
    // directory) and stored absolute, so runs find it from anywhere (a
    // Slurm task runs in the sweep directory).
    if let Some(toml::Value::String(d)) = base.get("data").cloned() {
        let p = Path::new(&d);
        if !(d == "random" || d.starts_with("synth")) && p.is_relative() {
            let beside = path.parent().unwrap_or(Path::new(".")).join(p);
            let found = if beside.exists() {
                Some(beside)
            } else {
                p.exists().then(|| p.to_path_buf())
            };
            if let Some(f) = found.and_then(|f| f.canonicalize().ok()) {
                base.insert("data".into(), toml::Value::String(f.display().to_string()));
            }
        }
    }
    let sched = &file.schedule;
    if let Some(kind) = sched.kind {
        if kind == ScheduleKind::Constant {
            bail!(
                "{}: [schedule] kind must be \"cosine\" or \"wsd\", got \"constant\"",
                key_at(path, text, "kind")
            );
        }
        base.insert("lr_schedule".into(), kind.as_str().into());
    }
    if let Some(f) = sched.decay_fraction {
        if !(f > 0.0 && f <= 1.0) {
            bail!(
                "{}: [schedule] decay_fraction must be in (0, 1], got {f}",
                key_at(path, text, "decay_fraction")
            );
        }
        base.insert("decay_fraction".into(), f.into());
    }
    if let Some(d) = sched.decay_shape {
        base.insert("decay_shape".into(), d.as_str().into());
    }
    if let Some(b) = &sched.branches {
        let where_ = key_at(path, text, "branches");
        if b.is_empty() {
            bail!("{where_}: [schedule] branches is empty: give multiples of D, e.g. [0.5, 1, 2]");
        }
        if let Some(m) = b.iter().find(|m| !(m.is_finite() && **m > 0.0)) {
            bail!("{where_}: [schedule] branches must be positive multiples of D, got {m}");
        }
        let kind = base
            .get("lr_schedule")
            .and_then(|v| v.as_str())
            .unwrap_or("cosine");
        if kind != "wsd" {
            bail!("{where_}: [schedule] branches needs kind = \"wsd\" (the schedule is {kind:?})");
        }
        if let Some(t) = &file.trainer {
            bail!(
                "{where_}: [schedule] branches are not supported with an external [trainer] ({}); train cooldown branches with the built-in engine",
                at(path, text, t.span())
            );
        }
    }
    if let Some(rule) = &sched.lr_rule {
        rule.check()
            .map_err(|e| anyhow!("{}: [schedule] lr_rule: {e}", key_at(path, text, "lr_rule")))?;
    }
    if !positive(sched.tokens_per_param) {
        bail!(
            "{}: [schedule] tokens_per_param must be positive, got {}",
            path.display(),
            sched.tokens_per_param
        );
    }
    // One probe config to learn the data's vocabulary and context.
    let mut probe = base.clone();
    probe.insert("n_layer".into(), 1.into());
    probe.insert("d_model".into(), 16.into());
    probe.insert("n_head".into(), 1.into());
    probe.insert("steps".into(), 1.into());
    let probe: TrainConfig = probe.try_into().expect("checked");
    let vocab = check(&probe).with_context(|| {
        format!(
            "{}: [train] data = {:?} cannot be used",
            path.display(),
            probe.data
        )
    })?;
    let vocab = probe.vocab.unwrap_or(vocab);
    let context = probe.context;

    // (name, shape, tokens, budget, seed, lr, where)
    struct Want {
        name: Option<String>,
        shape: GptShape,
        tokens: f64,
        budget: Option<f64>,
        seed: Option<u64>,
        lr: Option<f64>,
        unique: Option<f64>,
        /// A factor on the rule's lr (a `[grid] lr_factors` value).
        lr_factor: Option<f64>,
        batch: Option<u64>,
        /// Whether the automatic name carries the lr / the batch.
        name_lr: bool,
        name_batch: bool,
        at: String,
    }
    let mut wants: Vec<Want> = Vec::new();
    let shape_of = |n: f64, at: &str| -> Result<GptShape> {
        if !positive(n) || n < 1.0 {
            bail!("{at}: params must be a positive number, got {n}");
        }
        shape_for_params(n, context, vocab)
            .ok_or_else(|| anyhow!("{at}: params must be at most {MAX_SHAPE_PARAMS:e}, got {n:e}"))
    };
    for r in &file.runs {
        let where_ = at(path, text, r.span());
        let e = r.get_ref();
        let shape = match (e.params, e.n_layer, e.d_model, e.n_head) {
            (Some(n), None, None, None) => shape_of(n, &where_)?,
            (None, Some(l), Some(d), Some(h)) => {
                let mut s = GptShape::new(l, d, h, context, vocab);
                if let Some(ff) = e.d_ff {
                    s.d_ff = ff;
                }
                s
            }
            _ => bail!(
                "{where_}: a run gives either params (a target size) or all of n_layer, d_model and n_head"
            ),
        };
        let n = shape.params().non_embedding as f64;
        let (tokens, budget) = match (e.tokens, e.tokens_per_param, e.flops) {
            (Some(t), None, None) => (t, None),
            (None, Some(r), None) => (r * n, None),
            (None, None, Some(c)) => (c / (6.0 * n), Some(c)),
            (None, None, None) => (sched.tokens_per_param * n, None),
            _ => bail!("{where_}: give at most one of tokens, tokens_per_param and flops"),
        };
        if !positive(tokens) {
            bail!("{where_}: the run's tokens must be positive, got {tokens}");
        }
        let budget = match (budget, e.flops_budget) {
            (Some(_), Some(_)) => {
                bail!(
                    "{where_}: give flops (the budget that sets tokens) or flops_budget, not both"
                )
            }
            (None, Some(b)) if !positive(b) => {
                bail!("{where_}: flops_budget must be a positive number of FLOPs, got {b}")
            }
            (b, fb) => b.or(fb),
        };
        wants.push(Want {
            name: e.name.clone(),
            shape,
            tokens,
            budget,
            seed: e.seed,
            lr: e.lr,
            unique: e.unique_tokens,
            lr_factor: None,
            batch: None,
            name_lr: false,
            name_batch: false,
            at: where_,
        });
    }
    if let Some(g) = &file.grid {
        let where_ = at(path, text, g.span());
        let g = g.get_ref();
        let uniques: Vec<Option<f64>> = match &g.unique_tokens {
            Some(u) => u.iter().map(|u| Some(*u)).collect(),
            None => vec![None],
        };
        // (lr, factor) per run of the lr axis
        let lrs: Vec<(Option<f64>, Option<f64>)> = match (&g.lr, &g.lr_factors) {
            (Some(_), Some(_)) => bail!("{where_}: [grid] gives lr or lr_factors, not both"),
            (Some(v), None) | (None, Some(v)) if v.is_empty() => {
                bail!("{where_}: [grid] lr / lr_factors is empty")
            }
            (Some(v), None) => v.iter().map(|l| (Some(*l), None)).collect(),
            (None, Some(v)) => v.iter().map(|f| (None, Some(*f))).collect(),
            (None, None) => vec![(None, None)],
        };
        for (lr, f) in &lrs {
            if let Some(v) = lr.or(*f) {
                if !positive(v) {
                    bail!(
                        "{where_}: [grid] learning rates and lr_factors must be positive, got {v}"
                    );
                }
            }
        }
        let batches: Vec<Option<u64>> = match &g.batch {
            Some(b) if b.is_empty() => bail!("{where_}: [grid] batch is empty"),
            Some(b) => {
                if b.contains(&0) {
                    bail!("{where_}: [grid] batch sizes must be positive");
                }
                b.iter().map(|b| Some(*b)).collect()
            }
            None => vec![None],
        };
        // (shape, tokens, budget) of each size-and-budget cell
        let mut cells: Vec<(GptShape, f64, Option<f64>)> = Vec::new();
        match &g.flops {
            Some(cs) => {
                if g.tokens.is_some() {
                    bail!("{where_}: [grid] with flops gives params or tokens_per_param, not tokens (D = C/(6N))");
                }
                if !g.params.is_empty() && g.tokens_per_param.is_some() {
                    bail!("{where_}: [grid] with flops gives params (each size at each budget) or tokens_per_param (one size per budget), not both");
                }
                for &c in cs {
                    if !positive(c) {
                        bail!("{where_}: [grid] flops must be positive, got {c}");
                    }
                    let sizes: Vec<f64> = if g.params.is_empty() {
                        let ratios = g
                            .tokens_per_param
                            .clone()
                            .unwrap_or(vec![sched.tokens_per_param]);
                        let mut v = Vec::new();
                        for r in ratios {
                            if !positive(r) {
                                bail!(
                                    "{where_}: [grid] tokens_per_param must be positive, got {r}"
                                );
                            }
                            v.push((c / (6.0 * r)).sqrt());
                        }
                        v
                    } else {
                        g.params.clone()
                    };
                    for n in sizes {
                        let shape = shape_of(n, &where_)?;
                        let ne = shape.params().non_embedding as f64;
                        cells.push((shape, c / (6.0 * ne), Some(c)));
                    }
                }
            }
            None => {
                if g.params.is_empty() {
                    bail!("{where_}: [grid] needs params (sizes), or flops (budgets)");
                }
                let budgets: Vec<(bool, f64)> = match (&g.tokens, &g.tokens_per_param) {
                    (Some(t), None) => t.iter().map(|t| (false, *t)).collect(),
                    (None, Some(r)) => r.iter().map(|r| (true, *r)).collect(),
                    (None, None) => vec![(true, sched.tokens_per_param)],
                    _ => bail!("{where_}: [grid] gives tokens or tokens_per_param, not both"),
                };
                for &n in &g.params {
                    let shape = shape_of(n, &where_)?;
                    let ne = shape.params().non_embedding as f64;
                    for &(ratio, v) in &budgets {
                        cells.push((shape, if ratio { v * ne } else { v }, None));
                    }
                }
            }
        }
        for (shape, tokens, budget) in cells {
            if !positive(tokens) {
                bail!("{where_}: [grid] tokens must be positive, got {tokens}");
            }
            for &unique in &uniques {
                for &(lr, lr_factor) in &lrs {
                    for &batch in &batches {
                        wants.push(Want {
                            name: None,
                            shape,
                            tokens,
                            budget,
                            seed: None,
                            lr,
                            unique,
                            lr_factor,
                            batch,
                            name_lr: lrs.len() > 1,
                            name_batch: batches.len() > 1,
                            at: where_.clone(),
                        });
                    }
                }
            }
        }
    }
    let mut design_runs = Vec::new();
    if let Some(d) = &file.design {
        let where_ = at(path, text, d.span());
        let s = d.get_ref();
        let opts = DesignOptions {
            total_flops: s.total_flops,
            budgets: s.budgets,
            decades: s.decades,
            sizes: s.sizes,
            spread: s.spread,
            context,
            vocab,
        };
        let tpp = s.tokens_per_param;
        let dz = design(&opts, &|c| optimum_at_ratio(c, tpp))
            .map_err(|e| anyhow!("{where_}: [design]: {e}"))?;
        for r in dz.runs {
            design_runs.push((r.name, r.shape, r.tokens, r.flops, where_.clone()));
        }
    }
    if let Some(f) = &file.design_file {
        let where_ = at(path, text, f.span());
        let p = path.parent().unwrap_or(Path::new(".")).join(f.get_ref());
        let txt = std::fs::read_to_string(&p)
            .with_context(|| format!("{where_}: design_file {}", p.display()))?;
        let v: serde_json::Value = serde_json::from_str(&txt)
            .with_context(|| format!("{where_}: design_file {} is not JSON", p.display()))?;
        if v.get("schema").and_then(|s| s.as_str()) != Some("scalelab.sweep/1") {
            bail!(
                "{where_}: design_file {} is not a `scalelab design --out` file (schema scalelab.sweep/1)",
                p.display()
            );
        }
        for (i, r) in v["runs"].as_array().into_iter().flatten().enumerate() {
            let c = &r["config"];
            let get = |k: &str| {
                c[k].as_u64()
                    .ok_or_else(|| anyhow!("{where_}: design_file run {i}: no `config.{k}`"))
            };
            let mut shape = GptShape::new(
                get("n_layer")? as usize,
                get("d_model")? as usize,
                get("n_head")? as usize,
                context,
                vocab,
            );
            if let Some(ff) = c["d_ff"].as_u64() {
                shape.d_ff = ff as usize;
            }
            let name = r["name"]
                .as_str()
                .map(String::from)
                .unwrap_or(format!("d{i}"));
            design_runs.push((
                name,
                shape,
                get("tokens")? as f64,
                r["flops_budget"].as_f64().unwrap_or(f64::NAN),
                where_.clone(),
            ));
        }
    }
    for (name, shape, tokens, budget, where_) in design_runs {
        wants.push(Want {
            name: Some(name),
            shape,
            tokens,
            budget: budget.is_finite().then_some(budget),
            seed: None,
            lr: None,
            unique: None,
            lr_factor: None,
            batch: None,
            name_lr: false,
            name_batch: false,
            at: where_,
        });
    }
    if wants.is_empty() {
        bail!(
            "{}: the sweep has no runs: add [[runs]], [grid], [design] or design_file",
            path.display()
        );
    }

    // settings [train] gives explicitly win over the schedule's rules
    let lr_explicit = base.contains_key("lr");
    let eval_explicit = base.contains_key("eval_every");
    let checkpoint_explicit = base.contains_key("checkpoint_every");
    let mut runs: Vec<RunPlan> = Vec::new();
    for (i, w) in wants.into_iter().enumerate() {
        let n = w.shape.params();
        let mut t = base.clone();
        t.insert("n_layer".into(), (w.shape.n_layer as i64).into());
        t.insert("d_model".into(), (w.shape.d_model as i64).into());
        t.insert("n_head".into(), (w.shape.n_head as i64).into());
        if w.shape.d_ff != 4 * w.shape.d_model {
            t.insert("d_ff".into(), (w.shape.d_ff as i64).into());
        }
        if w.tokens > MAX_TOKENS {
            bail!(
                "{}: tokens must be at most {MAX_TOKENS:e} per run, got {:e}",
                w.at,
                w.tokens
            );
        }
        t.insert("tokens".into(), (w.tokens.round().max(1.0) as i64).into());
        if let Some(b) = w.batch {
            t.insert("batch".into(), (b.min(i64::MAX as u64) as i64).into());
        }
        let mut cfg: TrainConfig = t
            .try_into()
            .map_err(|e| anyhow!("{}: {}", w.at, e.to_string().trim_end()))?;
        if let Some(s) = w.seed {
            cfg.seed = s;
        }
        if let Some(u) = w.unique {
            if !(positive(u) && u <= MAX_TOKENS) {
                bail!(
                    "{}: unique_tokens must be a positive number of at most {MAX_TOKENS:e}, got {u}",
                    w.at
                );
            }
            // a budget at or above the run's tokens is fresh data
            cfg.unique_tokens = (u < w.tokens).then_some(u.round() as u64);
        }
        if let Some(lr) = w.lr {
            cfg.lr = lr;
        } else if let (Some(rule), false) = (sched.lr_rule, lr_explicit) {
            let ne = n.non_embedding as f64;
            let flops = w.budget.unwrap_or(6.0 * ne * w.tokens);
            cfg.lr = rule.lr(ne, flops);
        }
        if let Some(f) = w.lr_factor {
            cfg.lr *= f;
        }
        if !positive(cfg.lr) {
            bail!(
                "{}: run {}: the learning rate must be a positive number, got {} (check [schedule] lr_rule and [grid] lr_factors)",
                w.at,
                i + 1,
                cfg.lr
            );
        }
        let steps = cfg.total_steps().max(1);
        if !eval_explicit {
            cfg.eval_every = (steps / sched.evals.max(1)).max(1);
        }
        if !checkpoint_explicit {
            cfg.checkpoint_every = (steps / sched.checkpoints.max(1)).max(1);
        }
        check(&cfg).map_err(|e| anyhow!("{}: run {}: {e:#}", w.at, i + 1))?;
        let name = match w.name {
            Some(n) => run_name(&n).map_err(|e| anyhow!("{}: run {}: {e}", w.at, i + 1))?,
            None => {
                let base = format!(
                    "n{}-d{}",
                    short(n.non_embedding as f64),
                    short(cfg.total_steps() as f64 * (cfg.batch * cfg.context) as f64)
                );
                let mut name = match cfg.unique_tokens {
                    Some(u) => format!("{base}-u{}", short(u as f64)),
                    None => base,
                };
                if w.name_lr {
                    name += &format!("-lr{}", short(cfg.lr));
                }
                if w.name_batch {
                    name += &format!("-b{}", cfg.batch);
                }
                name
            }
        };
        if let (Some(_), Some(u)) = (&trainer, cfg.unique_tokens) {
            bail!(
                "{}: run {}: unique_tokens = {u} is not supported with an external [trainer] (it would be recorded but not applied); repeat data with the built-in engine",
                w.at,
                i + 1
            );
        }
        runs.push(RunPlan {
            name,
            config: cfg,
            params: n.non_embedding,
            params_total: n.total,
            vocab,
            flops_budget: w.budget,
            trainer: trainer.clone(),
            cooldown: None,
        });
    }
    // identical runs (sizes that round to the same shape) train once
    let mut warnings = Vec::new();
    let mut kept: Vec<RunPlan> = Vec::new();
    for r in runs {
        if let Some(k) = kept.iter().find(|k| k.config == r.config) {
            warnings.push(format!(
                "run {} is identical to run {} (same shape, tokens and settings) and is trained once",
                r.name, k.name
            ));
        } else {
            kept.push(r);
        }
    }
    let mut runs = kept;
    // Unique names, in order: a repeated name gets the first suffix `-k`
    // (k = 2, 3, ...) that no other run has, so `a`, `a`, `a-2` become `a`,
    // `a-3`, `a-2` and never share a directory.
    let mut taken: BTreeSet<String> = runs.iter().map(|r| r.name.clone()).collect();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    for r in &mut runs {
        if !seen.insert(r.name.clone()) {
            let base = r.name.clone();
            let mut k = 2;
            while taken.contains(&format!("{base}-{k}")) {
                k += 1;
            }
            r.name = format!("{base}-{k}");
            taken.insert(r.name.clone());
            seen.insert(r.name.clone());
        }
    }
    if let Some(mults) = &sched.branches {
        let where_ = key_at(path, text, "branches");
        let mut out = Vec::new();
        for r in runs {
            out.extend(branch_runs(
                &r,
                mults,
                sched,
                eval_explicit,
                checkpoint_explicit,
                &where_,
                &check,
            )?);
        }
        runs = out;
        let mut names = BTreeSet::new();
        for r in &runs {
            if !names.insert(r.name.clone()) {
                bail!(
                    "{where_}: two runs are named {} once the cooldown branches are named; rename a run",
                    r.name
                );
            }
        }
    }
    Ok(SweepPlan {
        schema: "scalelab.sweepplan/1".into(),
        name: file.name.clone().unwrap_or_else(|| {
            path.file_stem()
                .unwrap_or_default()
                .to_string_lossy()
                .into()
        }),
        runs,
        slurm: file.slurm.clone(),
        warnings,
    })
}

/// `file:line` of `key = …` in the `[schedule]` table (else of the table).
fn key_at(path: &Path, text: &str, key: &str) -> String {
    let mut in_schedule = false;
    let mut table_line = None;
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.starts_with('[') {
            in_schedule = t.trim_start_matches('[').trim_end_matches(']').trim() == "schedule";
            if in_schedule {
                table_line = Some(i + 1);
            }
            continue;
        }
        if in_schedule {
            if let Some(rest) = t.strip_prefix(key) {
                if rest.trim_start().starts_with('=') {
                    return format!("{}:{}", path.display(), i + 1);
                }
            }
        }
    }
    match table_line {
        Some(l) => format!("{}:{l}", path.display()),
        None => path.display().to_string(),
    }
}

/// A run's WSD cooldown ladder: one stable-phase parent (warm-up, then the
/// peak rate, to the latest branch point, keeping a checkpoint at every
/// branch point) and, per multiple m, a branch of D_k = m·D tokens that
/// starts from the parent's checkpoint at step S_k − K_k (S_k the steps of
/// D_k, K_k = round(f·S_k) the decay's) and decays to the end. Every run of
/// the ladder has the warm-up of the run to D (its own, or `[train]
/// warmup_steps`), so a branch reproduces a single WSD run of D_k tokens.
/// A branch's `flops_budget` is 6·N·D_k (the budget of the run it stands
/// for); the parent has none.
fn branch_runs(
    r: &RunPlan,
    mults: &[f64],
    sched: &Schedule,
    eval_explicit: bool,
    checkpoint_explicit: bool,
    where_: &str,
    check: &dyn Fn(&TrainConfig) -> Result<usize>,
) -> Result<Vec<RunPlan>> {
    let mut mults = mults.to_vec();
    mults.sort_by(f64::total_cmp);
    mults.dedup();
    let warmup = r.config.warmup();
    let d = r.tokens() as f64;
    let cadence = |cfg: &mut TrainConfig| {
        let steps = cfg.total_steps().max(1);
        if !eval_explicit {
            cfg.eval_every = (steps / sched.evals.max(1)).max(1);
        }
        if !checkpoint_explicit {
            cfg.checkpoint_every = (steps / sched.checkpoints.max(1)).max(1);
        }
    };
    let parent_name = format!("{}-stable", r.name);
    let mut branches: Vec<RunPlan> = Vec::new();
    for &m in &mults {
        let dk = (m * d).round().max(1.0);
        if dk > MAX_TOKENS {
            bail!(
                "{where_}: run {}: branch {m}×D has {dk:e} tokens, more than {MAX_TOKENS:e}",
                r.name
            );
        }
        let mut cfg = r.config.clone();
        cfg.steps = None;
        cfg.tokens = Some(dk as u64);
        cfg.warmup_steps = Some(warmup);
        cfg.keep_checkpoints = Vec::new();
        cadence(&mut cfg);
        let total = cfg.total_steps();
        let start = total - wsd_decay_steps(total, cfg.decay_fraction);
        if start < warmup.max(1) {
            bail!(
                "{where_}: run {}: branch {m}×D ({total} steps) would start its decay at step {start}, before the warm-up ends ({warmup} steps); drop the multiple, lower decay_fraction or set [train] warmup_steps",
                r.name
            );
        }
        if let Some(b) = branches.iter().find(|b| b.config.total_steps() == total) {
            bail!(
                "{where_}: run {}: branches {m}×D and {} have the same number of steps ({total}); drop one",
                r.name,
                b.name
            );
        }
        check(&cfg).map_err(|e| anyhow!("{where_}: run {} branch {m}×D: {e:#}", r.name))?;
        let n = r.params as f64;
        let tokens = (total * (cfg.batch * cfg.context) as u64) as f64;
        branches.push(RunPlan {
            name: format!("{}-x{m}", r.name),
            config: cfg,
            params: r.params,
            params_total: r.params_total,
            vocab: r.vocab,
            flops_budget: Some(6.0 * n * tokens),
            trainer: None,
            cooldown: Some(Cooldown::Branch {
                parent: parent_name.clone(),
                start_step: start,
                multiple: m,
            }),
        });
    }
    let points: Vec<u64> = branches
        .iter()
        .map(|b| match b.cooldown {
            Some(Cooldown::Branch { start_step, .. }) => start_step,
            _ => unreachable!("branches only"),
        })
        .collect();
    let mut cfg = r.config.clone();
    cfg.steps = Some(*points.iter().max().expect("at least one branch"));
    cfg.tokens = None;
    cfg.warmup_steps = Some(warmup);
    cfg.lr_schedule = ScheduleKind::Constant;
    cfg.keep_checkpoints = points;
    cadence(&mut cfg);
    check(&cfg).map_err(|e| anyhow!("{where_}: run {} stable phase: {e:#}", r.name))?;
    let parent = RunPlan {
        name: parent_name,
        config: cfg,
        params: r.params,
        params_total: r.params_total,
        vocab: r.vocab,
        flops_budget: None,
        trainer: None,
        cooldown: Some(Cooldown::Stable {
            branches: branches.iter().map(|b| b.name.clone()).collect(),
        }),
    };
    let mut out = vec![parent];
    out.extend(branches);
    Ok(out)
}

/// `3.2e5`-style short numbers for run names.
fn short(v: f64) -> String {
    let e = v.abs().log10().floor() as i32;
    let m = v / 10f64.powi(e);
    let m = format!("{m:.1}");
    let m = m.trim_end_matches(".0");
    format!("{m}e{e}")
}

/// A run name given in a sweep file, as a directory name: characters other
/// than ASCII letters, digits, `-`, `_` and `.` become `_`; an empty name, a
/// name with a path separator and a name starting with a dot (`.`, `..`,
/// hidden files) are refused.
fn run_name(s: &str) -> Result<String> {
    if s.is_empty() {
        bail!("a run name cannot be empty");
    }
    if s.contains(['/', '\\', '\0']) {
        bail!("run name `{s}` contains a path separator; a run name is one directory name");
    }
    if s.starts_with('.') {
        bail!("run name `{s}` starts with a dot (`.`, `..` and hidden names are not usable run directories)");
    }
    Ok(sanitize(s))
}

/// A run name safe as a directory name.
fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Where the resolved plan lives in a sweep directory.
pub fn plan_path(dir: &Path) -> PathBuf {
    dir.join("plan.json")
}

/// Reads the resolved plan of a sweep directory.
pub fn read_plan(dir: &Path) -> Result<SweepPlan> {
    let p = plan_path(dir);
    let text = std::fs::read_to_string(&p)
        .with_context(|| format!("{}: not a sweep directory (no plan.json)", dir.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{}: unreadable plan", p.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve_text(text: &str) -> Result<SweepPlan> {
        let path = Path::new("names.toml");
        let file: SweepFile = toml::from_str(text).expect("valid TOML");
        resolve(path, text, &file, &|_, _| Ok(256))
    }

    fn sweep_with_names(names: &[&str]) -> String {
        let mut t = String::from("[train]\ndata = \"synth\"\ncontext = 16\nbatch = 2\n");
        for (i, n) in names.iter().enumerate() {
            t += &format!(
                "[[runs]]\nname = {n:?}\nn_layer = 1\nd_model = 16\nn_head = 1\ntokens = {}\n",
                3200 * (i + 1)
            );
        }
        t
    }

    #[test]
    fn repeated_names_never_collide_with_given_ones() {
        let plan = resolve_text(&sweep_with_names(&["a", "a", "a-2", "b b", "b_b"])).unwrap();
        let names: Vec<&str> = plan.runs.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["a", "a-3", "a-2", "b_b", "b_b-2"]);
    }

    #[test]
    fn branches_become_a_stable_parent_and_decays_from_its_kept_checkpoints() {
        let text = "[train]\ndata = \"synth\"\ncontext = 16\nbatch = 2\n\
                    [schedule]\nkind = \"wsd\"\ndecay_fraction = 0.2\nbranches = [2, 0.5, 1]\n\
                    [[runs]]\nname = \"r\"\nn_layer = 1\nd_model = 16\nn_head = 1\ntokens = 32000\n";
        let plan = resolve_text(text).unwrap();
        let names: Vec<&str> = plan.runs.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["r-stable", "r-x0.5", "r-x1", "r-x2"]);
        // D = 1000 steps of 32 tokens, warm-up 5% of it for every run
        let (parent, branches) = (&plan.runs[0], &plan.runs[1..]);
        let mut points = Vec::new();
        for (b, steps) in branches.iter().zip([500u64, 1000, 2000]) {
            assert_eq!(b.config.total_steps(), steps);
            assert_eq!(b.config.warmup(), 50);
            assert_eq!(b.config.lr_schedule, ScheduleKind::Wsd);
            let Some(Cooldown::Branch {
                parent: p,
                start_step,
                ..
            }) = &b.cooldown
            else {
                panic!("{} is not a branch", b.name)
            };
            assert_eq!(p, "r-stable");
            assert_eq!(*start_step, steps - steps / 5);
            assert_eq!(
                b.flops_budget,
                Some(6.0 * b.params as f64 * b.tokens() as f64)
            );
            assert_eq!(b.tokens_spent(), b.tokens() / 5);
            points.push(*start_step);
        }
        assert_eq!(parent.config.lr_schedule, ScheduleKind::Constant);
        assert_eq!(parent.config.total_steps(), 1600);
        assert_eq!(parent.config.warmup(), 50);
        assert_eq!(parent.config.keep_checkpoints, points);
        assert!(parent.is_stable_parent() && parent.flops_budget.is_none());
        // a branch whose decay would start inside the warm-up is refused
        let short = text.replace("[2, 0.5, 1]", "[0.01, 1]");
        let e = format!("{:#}", resolve_text(&short).unwrap_err());
        assert!(e.contains("names.toml:8") && e.contains("warm-up"), "{e}");
    }

    #[test]
    fn unusable_names_are_refused_with_the_line() {
        for bad in ["", ".", "..", ".hidden", "a/b", "..\\\\x"] {
            let err = format!(
                "{:#}",
                resolve_text(&sweep_with_names(&["ok", bad])).unwrap_err()
            );
            assert!(err.contains("names.toml:"), "{bad:?}: {err}");
            assert!(err.contains("run 2"), "{bad:?}: {err}");
            assert!(err.contains("name"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn unique_token_budgets_repeat_the_data_per_run_and_across_a_grid() {
        let text = "[train]\ndata = \"synth\"\ncontext = 16\nbatch = 2\n\
                    [grid]\nparams = [2e4]\ntokens = [64000]\nunique_tokens = [8000, 1e6]\n\
                    [[runs]]\nname = \"r\"\nn_layer = 1\nd_model = 16\nn_head = 1\ntokens = 32000\nunique_tokens = 3200\n";
        let plan = resolve_text(text).unwrap();
        let r = plan.runs.iter().find(|r| r.name == "r").unwrap();
        assert_eq!(r.config.unique_tokens, Some(3200));
        assert_eq!(r.config.steps_per_epoch(), Some(100));
        assert!((r.config.epochs() - 10.0).abs() < 1e-12);
        // the grid: a budget below the tokens repeats (named for it), one
        // above them is fresh data
        let grid: Vec<_> = plan.runs.iter().filter(|r| r.name != "r").collect();
        assert_eq!(
            grid.len(),
            2,
            "{:?}",
            plan.runs.iter().map(|r| &r.name).collect::<Vec<_>>()
        );
        assert_eq!(grid[0].config.unique_tokens, Some(8000));
        assert!(grid[0].name.ends_with("-u8e3"), "{}", grid[0].name);
        assert_eq!(grid[1].config.unique_tokens, None);
        assert_eq!(grid[1].config.epochs(), 1.0);
        let bad = text.replace("unique_tokens = 3200", "unique_tokens = -1");
        let err = format!("{:#}", resolve_text(&bad).unwrap_err());
        assert!(
            err.contains("unique_tokens must be a positive number"),
            "{err}"
        );
        // an external trainer would not apply it: refused
        let ext = format!("{text}[trainer]\ncommand = \"python3 t.py --config {{config}}\"\n");
        let err = format!("{:#}", resolve_text(&ext).unwrap_err());
        assert!(
            err.contains("unique_tokens = 3200 is not supported"),
            "{err}"
        );
    }

    #[test]
    fn a_budget_grid_with_lr_and_batch_axes_names_every_run_and_follows_the_compute_rule() {
        let text = "[train]\ndata = \"synth\"\ncontext = 16\nbatch = 2\n\
                    [schedule]\nlr_rule = { base = 4e-3, ref_flops = 1e10, exponent = -0.5 }\n\
                    [grid]\nflops = [1e10, 4e10]\ntokens_per_param = 20\nlr_factors = [0.5, 1, 2]\nbatch = [2, 4]\n";
        // tokens_per_param is a list in a grid
        let text = text.replace("tokens_per_param = 20", "tokens_per_param = [20]");
        let plan = resolve_text(&text).unwrap();
        assert_eq!(plan.runs.len(), 12);
        let names: BTreeSet<&str> = plan.runs.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names.len(), 12, "{names:?}");
        for r in &plan.runs {
            let c = r.flops_budget.unwrap();
            assert!(c == 1e10 || c == 4e10);
            // N ≈ √(C/120), D = C/(6N)
            let n = r.params as f64;
            // (shapes are coarse at these sizes)
            let ratio = n / (c / 120.0).sqrt();
            assert!(ratio > 0.6 && ratio < 1.6, "{n} at {c}");
            assert!((6.0 * n * r.tokens() as f64 / c - 1.0).abs() < 0.05);
            let base = 4e-3 * (c / 1e10).powf(-0.5);
            let f = r.config.lr / base;
            assert!(
                [0.5, 1.0, 2.0].iter().any(|g| (f - g).abs() < 1e-9),
                "{} {f}",
                r.name
            );
            assert!(
                r.name.contains(&format!("-b{}", r.config.batch)),
                "{}",
                r.name
            );
            assert!(r.name.contains("-lr"), "{}", r.name);
        }
        assert!(plan.runs.iter().any(|r| r.config.batch == 4));
        // a budget grid × sizes: D = C/(6N) per size
        let iso = "[train]\ndata = \"synth\"\ncontext = 16\nbatch = 2\nlr = 1e-3\n\
                   [grid]\nflops = [1e10]\nparams = [5e3, 1e4]\nlr = [1e-3, 3e-3]\n";
        let plan = resolve_text(iso).unwrap();
        assert_eq!(plan.runs.len(), 4);
        let lrs: BTreeSet<String> = plan.runs.iter().map(|r| r.config.lr.to_string()).collect();
        assert_eq!(lrs.len(), 2);
        // refused: both lr and lr_factors, a rule with both references
        let both = iso.replace("lr = [1e-3, 3e-3]", "lr = [1e-3]\nlr_factors = [1]");
        let e = format!("{:#}", resolve_text(&both).unwrap_err());
        assert!(
            e.contains("lr or lr_factors") && e.contains("names.toml:"),
            "{e}"
        );
        let rule = text.replace("ref_flops = 1e10", "ref_flops = 1e10, ref_params = 1e4");
        let e = format!("{:#}", resolve_text(&rule).unwrap_err());
        assert!(e.contains("names.toml:6") && e.contains("not both"), "{e}");
        let neg = text.replace("[0.5, 1, 2]", "[0.5, -1]");
        assert!(format!("{:#}", resolve_text(&neg).unwrap_err()).contains("positive"));
    }
}
