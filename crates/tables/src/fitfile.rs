//! `scalelab.fit/1`: the fit that `scalelab fit` prints and writes (and a
//! study embeds under its `fit` key), read back by `plan`, `design`,
//! `isoflop`, `emerge`, `study` and `report`. [`FitReport`] is the schema
//! as a type: serialising it gives the JSON (key order, numbers, `null`
//! for non-finite numbers), and deserialising reads it back. The schema is
//! documented in docs/fit.md.
//!
//! Reading is lenient about what a hand-written fit needs: only `schema`,
//! `law` and `params` (and `bootstrap.draws` for intervals) are required;
//! every other key takes its default. [`read_fit`] and [`parse_fit`] check
//! a fit with errors that name the file and the key.

use scalelab_core::data::Covariates;
use scalelab_core::laws::{law_by_name, Law};
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::Path;

/// The `schema` value of a fit file.
pub const FIT_SCHEMA: &str = "scalelab.fit/1";

/// Values by name, in a fixed order (a JSON object whose key order is kept
/// whatever the JSON map's features).
#[derive(Clone, Debug, PartialEq)]
pub struct Named<T>(pub Vec<(String, T)>);

impl<T> Default for Named<T> {
    fn default() -> Self {
        Named(Vec::new())
    }
}

impl<T> Named<T> {
    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&T> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// The names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(n, _)| n.as_str())
    }

    /// Sets `name` (in place if present, else at the end), as a JSON map
    /// insert does.
    pub fn insert(&mut self, name: impl Into<String>, value: T) {
        let name = name.into();
        match self.0.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.0.push((name, value)),
        }
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<T: Clone> Named<T> {
    /// Pairs names and values.
    pub fn from_pairs<S: AsRef<str>>(names: &[S], values: &[T]) -> Self {
        let mut m = Named::default();
        for (n, v) in names.iter().zip(values) {
            m.insert(n.as_ref(), v.clone());
        }
        m
    }
}

impl<T: Serialize> Serialize for Named<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

/// A value read leniently from JSON: numbers as they are; `null` (how a
/// non-finite number is written) and anything else as NaN.
pub trait FromJson: Sized {
    fn from_json(v: &Value) -> Self;
}

impl FromJson for f64 {
    fn from_json(v: &Value) -> Self {
        v.as_f64().unwrap_or(f64::NAN)
    }
}

impl FromJson for [f64; 2] {
    fn from_json(v: &Value) -> Self {
        let a = v.as_array();
        let at = |i: usize| a.and_then(|a| a.get(i)).map_or(f64::NAN, f64::from_json);
        [at(0), at(1)]
    }
}

impl<'de, T: FromJson> Deserialize<'de> for Named<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: FromJson> Visitor<'de> for V<T> {
            type Value = Named<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object of numbers by name")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Named<T>, A::Error> {
                let mut out = Named::default();
                while let Some((k, v)) = map.next_entry::<String, Value>()? {
                    out.insert(k, T::from_json(&v));
                }
                Ok(out)
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

fn nan() -> f64 {
    f64::NAN
}

/// A number that may be written as `null` (non-finite).
fn num<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// Rows of numbers, `null` (or anything not a number) as NaN.
fn rows<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<f64>>, D::Error> {
    let v: Vec<Value> = Vec::deserialize(d)?;
    Ok(v.iter()
        .map(|row| {
            row.as_array()
                .map(|r| r.iter().map(f64::from_json).collect())
                .unwrap_or_default()
        })
        .collect())
}

/// The loss function of the fit (`loss_function`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LossFunction {
    /// `huber` or `least_squares`.
    #[serde(default)]
    pub kind: String,
    /// Huber's δ.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta: Option<f64>,
    /// Always `sum` (the loss is summed over runs).
    #[serde(default)]
    pub reduction: String,
}

/// Residuals `ln L − ln L̂` of the fit (`residuals`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Residuals {
    #[serde(default)]
    pub scale: String,
    #[serde(default = "nan", deserialize_with = "num")]
    pub rmse: f64,
    #[serde(default = "nan", deserialize_with = "num")]
    pub mean: f64,
    #[serde(default = "nan", deserialize_with = "num")]
    pub median_abs: f64,
    #[serde(default = "nan", deserialize_with = "num")]
    pub max_abs: f64,
    /// The table line of the largest absolute residual.
    #[serde(default)]
    pub max_abs_line: Option<usize>,
    /// The runs' scatter σ about the law on this scale: 1.4826 · MAD of
    /// the residuals × √(n / (n − k)) for k parameters (what the 95%
    /// prediction intervals add to the law's uncertainty). NaN (`null`) in
    /// files written before it was recorded.
    #[serde(default = "nan", deserialize_with = "num")]
    pub scatter: f64,
}

impl Default for Residuals {
    fn default() -> Self {
        Residuals {
            scale: String::new(),
            rmse: f64::NAN,
            mean: f64::NAN,
            median_abs: f64::NAN,
            max_abs: f64::NAN,
            max_abs_line: None,
            scatter: f64::NAN,
        }
    }
}

/// Bootstrap spread of the parameters (`bootstrap`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BootstrapSummary {
    /// Resamples.
    #[serde(default)]
    pub n: usize,
    #[serde(default)]
    pub seed: u64,
    #[serde(default)]
    pub not_converged: usize,
    /// Resamples that landed on a degenerate solution (E collapsed, a
    /// coefficient 1000× off the fit's, an exponent out of range): left out
    /// of `se`, kept in `ci95` and `median`.
    #[serde(default)]
    pub degenerate: usize,
    /// Standard errors of the natural and derived parameters (standard
    /// deviation over the non-degenerate resamples).
    #[serde(default)]
    pub se: Named<f64>,
    /// 95% percentile intervals.
    #[serde(default)]
    pub ci95: Named<[f64; 2]>,
    #[serde(default)]
    pub median: Named<f64>,
    /// The natural parameters of each resample, in the law's order.
    #[serde(default, deserialize_with = "rows")]
    pub draws: Vec<Vec<f64>>,
}

/// The parameters and search summary of one fit (the holdout's refit).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FitCore {
    #[serde(default)]
    pub params: Named<f64>,
    #[serde(default)]
    pub derived: Named<f64>,
    #[serde(default = "nan", deserialize_with = "num")]
    pub objective: f64,
    #[serde(default)]
    pub n_points: usize,
    #[serde(default)]
    pub starts: usize,
    #[serde(default)]
    pub starts_at_best: usize,
    #[serde(default)]
    pub converged: bool,
}

/// One held-out run and its prediction.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HeldOutPoint {
    #[serde(default)]
    pub line: Option<usize>,
    #[serde(default = "nan", deserialize_with = "num")]
    pub params: f64,
    #[serde(default = "nan", deserialize_with = "num")]
    pub tokens: f64,
    #[serde(default = "nan", deserialize_with = "num")]
    pub flops: f64,
    #[serde(default = "nan", deserialize_with = "num")]
    pub loss: f64,
    #[serde(default = "nan", deserialize_with = "num")]
    pub predicted: f64,
    #[serde(default = "nan", deserialize_with = "num")]
    pub rel_error: f64,
}

/// The held-out extrapolation check (`holdout`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HoldoutSummary {
    /// The rule, e.g. "the 3 runs with the largest compute".
    #[serde(default)]
    pub rule: String,
    #[serde(default)]
    pub n_train: usize,
    #[serde(default)]
    pub n_test: usize,
    #[serde(default = "nan", deserialize_with = "num")]
    pub mean_abs_rel_error: f64,
    #[serde(default = "nan", deserialize_with = "num")]
    pub max_abs_rel_error: f64,
    #[serde(default = "nan", deserialize_with = "num")]
    pub mean_rel_error: f64,
    /// The fit without the held-out runs.
    pub fit: FitCore,
    #[serde(default)]
    pub points: Vec<HeldOutPoint>,
}

/// A `[low, high]` pair that may hold `null` (read as NaN).
fn pair<'de, D: Deserializer<'de>>(d: D) -> Result<[f64; 2], D::Error> {
    Ok(<[f64; 2]>::from_json(&Value::deserialize(d)?))
}

/// An optional `[low, high]` pair whose bounds may be `null`.
fn opt_pair<'de, D: Deserializer<'de>>(d: D) -> Result<Option<[f64; 2]>, D::Error> {
    Ok(Option::<Value>::deserialize(d)?
        .filter(|v| !v.is_null())
        .map(|v| <[f64; 2]>::from_json(&v)))
}

fn nan_pair() -> [f64; 2] {
    [f64::NAN; 2]
}

/// One compute budget of a rollout (`rollout.budgets`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RolloutBudget {
    /// The budget's FLOPs (its median run's).
    #[serde(default = "nan", deserialize_with = "num")]
    pub flops: f64,
    #[serde(default)]
    pub runs: usize,
}

/// One cut of a rollout: the law fitted on the budgets up to `budget`
/// (`rollout.cuts`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RolloutCutSummary {
    /// Index of the last budget fitted (into `rollout.budgets`).
    #[serde(default)]
    pub budget: usize,
    #[serde(default = "nan", deserialize_with = "num")]
    pub budget_flops: f64,
    /// The largest compute among the runs fitted.
    #[serde(default = "nan", deserialize_with = "num")]
    pub max_train_flops: f64,
    #[serde(default)]
    pub n_train: usize,
    #[serde(default)]
    pub n_held_out: usize,
    #[serde(default = "nan", deserialize_with = "num")]
    pub mean_abs_rel_error: f64,
    #[serde(default = "nan", deserialize_with = "num")]
    pub max_abs_rel_error: f64,
    /// Positive: the law over-predicts the loss of larger runs.
    #[serde(default = "nan", deserialize_with = "num")]
    pub mean_rel_error: f64,
    /// Held-out runs whose loss fell inside their 95% prediction interval.
    #[serde(default)]
    pub inside_pi95: usize,
    /// The cut's scatter σ (log residuals).
    #[serde(default = "nan", deserialize_with = "num")]
    pub scatter: f64,
    /// The cut's fitted parameters.
    #[serde(default)]
    pub params: Named<f64>,
    /// Why the cut's fit failed (then it predicted nothing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<String>,
}

/// Held-out runs at one extrapolation distance (`rollout.by_distance`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RolloutBin {
    /// The bin `[lo, hi)` in decades of compute beyond the cut.
    #[serde(default = "nan", deserialize_with = "num")]
    pub lo_decades: f64,
    #[serde(default = "nan", deserialize_with = "num")]
    pub hi_decades: f64,
    #[serde(default)]
    pub n: usize,
    #[serde(default = "nan", deserialize_with = "num")]
    pub mean_abs_rel_error: f64,
    #[serde(default = "nan", deserialize_with = "num")]
    pub max_abs_rel_error: f64,
    #[serde(default = "nan", deserialize_with = "num")]
    pub mean_rel_error: f64,
    #[serde(default)]
    pub inside_pi95: usize,
}

/// One held-out run of one cut (`rollout.points`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RolloutPointSummary {
    /// Index into `rollout.cuts`.
    #[serde(default)]
    pub cut: usize,
    #[serde(default)]
    pub line: Option<usize>,
    #[serde(default = "nan", deserialize_with = "num")]
    pub params: f64,
    #[serde(default = "nan", deserialize_with = "num")]
    pub tokens: f64,
    #[serde(default = "nan", deserialize_with = "num")]
    pub flops: f64,
    #[serde(default = "nan", deserialize_with = "num")]
    pub loss: f64,
    #[serde(default = "nan", deserialize_with = "num")]
    pub predicted: f64,
    /// predicted / loss − 1.
    #[serde(default = "nan", deserialize_with = "num")]
    pub rel_error: f64,
    /// log10 of the run's compute over the largest compute fitted.
    #[serde(default = "nan", deserialize_with = "num")]
    pub distance_decades: f64,
    /// 95% confidence interval of the cut's law (its bootstrap).
    #[serde(
        default,
        deserialize_with = "opt_pair",
        skip_serializing_if = "Option::is_none"
    )]
    pub ci95: Option<[f64; 2]>,
    /// 95% prediction interval of the run.
    #[serde(default = "nan_pair", deserialize_with = "pair")]
    pub pi95: [f64; 2],
    #[serde(default)]
    pub inside_pi95: bool,
}

/// The rollout backtest (`rollout`): for every budget cut, the law fitted
/// on the runs at or below it predicts the runs above.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RolloutSummary {
    /// How runs were grouped into budgets: the `flops_budget` column, or
    /// the compute within a tolerance.
    #[serde(default)]
    pub grouped_by: String,
    #[serde(default)]
    pub budgets: Vec<RolloutBudget>,
    /// Bootstrap resamples per cut behind the prediction intervals (0: the
    /// runs' scatter alone).
    #[serde(default)]
    pub bootstrap: usize,
    /// Held-out runs (over all cuts) inside their 95% prediction interval,
    /// and all held-out runs.
    #[serde(default)]
    pub inside_pi95: usize,
    #[serde(default)]
    pub n_points: usize,
    #[serde(default)]
    pub cuts: Vec<RolloutCutSummary>,
    #[serde(default)]
    pub by_distance: Vec<RolloutBin>,
    #[serde(default)]
    pub points: Vec<RolloutPointSummary>,
}

/// The bootstrap correlation matrix of the parameters.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Correlations {
    #[serde(default)]
    pub names: Vec<String>,
    /// Row-major, `null` for a parameter that never varied.
    #[serde(default, deserialize_with = "rows")]
    pub matrix: Vec<Vec<f64>>,
}

/// How well the runs pin the parameters down (`conditioning`), in the
/// optimiser's centred variables (logs of coefficients taken at the runs'
/// mean ln N / ln D; exponents as they are).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConditioningSummary {
    /// λ_max / λ_min of the Gauss–Newton Hessian JᵀJ of the log residuals
    /// with unit-length columns, over the parameters that have an effect
    /// (a vanished term's are left out; `null`: infinite).
    #[serde(default = "nan", deserialize_with = "num")]
    pub condition_number: f64,
    /// The direction the runs pin down least (unit eigenvector of the
    /// smallest eigenvalue), by parameter.
    #[serde(default)]
    pub weakest: Named<f64>,
    /// The bootstrap correlations, when a bootstrap ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlations: Option<Correlations>,
}

/// The column names the fit read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FitColumns {
    #[serde(default = "col_params")]
    pub params: String,
    #[serde(default = "col_tokens")]
    pub tokens: String,
    #[serde(default = "col_flops")]
    pub flops: String,
    #[serde(default = "col_loss")]
    pub loss: String,
    /// The unique-tokens column (a law that models repeated data).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unique_tokens: Option<String>,
}

fn col_params() -> String {
    "params".into()
}
fn col_tokens() -> String {
    "tokens".into()
}
fn col_flops() -> String {
    "flops".into()
}
fn col_loss() -> String {
    "loss".into()
}

impl Default for FitColumns {
    fn default() -> Self {
        FitColumns {
            params: col_params(),
            tokens: col_tokens(),
            flops: col_flops(),
            loss: col_loss(),
            unique_tokens: None,
        }
    }
}

/// What the fit was made from (`input`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FitInput {
    /// The table file read.
    #[serde(default)]
    pub path: String,
    #[serde(default)]
    pub rows_read: usize,
    #[serde(default)]
    pub rows_used: usize,
    /// The `--where` filters.
    #[serde(default, rename = "where")]
    pub filters: Vec<String>,
    #[serde(default)]
    pub columns: FitColumns,
    /// The range of the runs fitted (absent in files written before it was
    /// recorded): what `plan` measures its extrapolation against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<DataRange>,
    /// The base fit whose Chinchilla parameters were held fixed (`fit --law
    /// data-constrained --base FIT`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_fit: Option<String>,
}

/// Smallest and largest N, D and C of the runs fitted (`input.range`); a
/// covariate the table did not have is absent.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DataRange {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<[f64; 2]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<[f64; 2]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flops: Option<[f64; 2]>,
}

impl DataRange {
    /// The range of each column of `values` (NaN: unknown) that has values.
    pub fn of(params: &[f64], tokens: &[f64], flops: &[f64]) -> DataRange {
        let span = |v: &[f64]| -> Option<[f64; 2]> {
            let known = v.iter().copied().filter(|x| x.is_finite());
            let (lo, hi) = known.fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), x| {
                (l.min(x), h.max(x))
            });
            (lo <= hi).then_some([lo, hi])
        };
        DataRange {
            params: span(params),
            tokens: span(tokens),
            flops: span(flops),
        }
    }
}

/// Seconds spent (`timing`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FitTiming {
    #[serde(default)]
    pub fit_s: f64,
    #[serde(default)]
    pub bootstrap_s: f64,
    /// Seconds of the rollout backtest (0 without one).
    #[serde(default)]
    pub rollout_s: f64,
}

/// A `scalelab.fit/1` object: the fitted law with its search summary,
/// residuals, bootstrap spread, holdout check, warnings and provenance.
///
/// `W` is the warnings' type: the library uses its typed warnings (which
/// serialise as their messages); read back without the library, warnings
/// are their messages.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FitReport<W = String> {
    /// Always [`FIT_SCHEMA`].
    #[serde(default)]
    pub schema: String,
    /// The law's name (`chinchilla`, `power-c`, …).
    #[serde(default)]
    pub law: String,
    #[serde(default)]
    pub formula: String,
    /// `varpro` or `grid`.
    #[serde(default)]
    pub method: String,
    #[serde(default)]
    pub loss_function: LossFunction,
    /// Natural parameters by name, in the law's order.
    #[serde(default)]
    pub params: Named<f64>,
    /// Derived quantities (Chinchilla: the compute-optimal exponents a, b).
    #[serde(default)]
    pub derived: Named<f64>,
    /// The summed robust loss at the optimum.
    #[serde(default = "nan", deserialize_with = "num")]
    pub objective: f64,
    #[serde(default)]
    pub n_points: usize,
    #[serde(default)]
    pub starts: usize,
    #[serde(default)]
    pub starts_at_best: usize,
    #[serde(default)]
    pub converged: bool,
    #[serde(default)]
    pub termination: String,
    #[serde(default)]
    pub iterations: usize,
    #[serde(default)]
    pub evaluations: usize,
    #[serde(default)]
    pub starts_not_converged: usize,
    #[serde(default)]
    pub residuals: Residuals,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bootstrap: Option<BootstrapSummary>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holdout: Option<HoldoutSummary>,
    /// The rollout backtest (`fit --rollout`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<RolloutSummary>,
    /// How well the runs pin the parameters down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditioning: Option<ConditioningSummary>,
    #[serde(default = "Vec::new")]
    pub warnings: Vec<W>,
    #[serde(default)]
    pub notes: Vec<String>,
    #[serde(default)]
    pub input: FitInput,
    #[serde(default)]
    pub timing: FitTiming,
    #[serde(default)]
    pub version: String,
}

impl<W> FitReport<W> {
    /// The law, or why there is none (the message names the key).
    pub fn scaling_law(&self) -> Result<Box<dyn Law>, String> {
        if self.law.is_empty() {
            return Err("no `law` key".into());
        }
        law_by_name(&self.law).ok_or_else(|| format!("unknown law `{}`", self.law))
    }

    /// A natural or derived parameter by name (`E`, `alpha`, `a`, …).
    pub fn param(&self, name: &str) -> Option<f64> {
        self.params
            .get(name)
            .or_else(|| self.derived.get(name))
            .copied()
    }

    /// The natural parameters in the law's order (an error names the one
    /// missing or not a number).
    pub fn natural_params(&self, law: &dyn Law) -> Result<Vec<f64>, String> {
        let names = law.param_names();
        names
            .iter()
            .map(|p| match self.params.get(p) {
                Some(x) if !x.is_nan() => Ok(*x),
                _ => Err(format!(
                    "`params.{p}` missing or not a number (law `{}` has parameters {})",
                    law.name(),
                    names.join(", ")
                )),
            })
            .collect()
    }

    /// The bootstrap draws of the natural parameters (empty without a
    /// bootstrap).
    pub fn draws(&self) -> &[Vec<f64>] {
        self.bootstrap.as_ref().map_or(&[], |b| &b.draws)
    }

    /// The runs' scatter σ about the law (log residuals): `residuals.scatter`,
    /// or for a file written before it was recorded, `residuals.rmse`.
    pub fn scatter(&self) -> f64 {
        if self.residuals.scatter.is_finite() {
            self.residuals.scatter
        } else {
            self.residuals.rmse
        }
    }

    /// The predicted loss at each `(n[i], d[i])` (compute from C = 6ND).
    pub fn predict(&self, n: &[f64], d: &[f64]) -> Result<Vec<f64>, String> {
        if n.len() != d.len() {
            return Err(format!(
                "predict: {} parameter counts but {} token counts",
                n.len(),
                d.len()
            ));
        }
        let law = self.scaling_law()?;
        let params = self.natural_params(law.as_ref())?;
        Ok(n.iter()
            .zip(d)
            .map(|(&n, &d)| law.predict(&params, &Covariates::from_nd(n, d)))
            .collect())
    }

    /// The same fit with its warnings mapped (e.g. typed to text).
    pub fn map_warnings<V>(self, f: impl FnMut(W) -> V) -> FitReport<V> {
        FitReport {
            schema: self.schema,
            law: self.law,
            formula: self.formula,
            method: self.method,
            loss_function: self.loss_function,
            params: self.params,
            derived: self.derived,
            objective: self.objective,
            n_points: self.n_points,
            starts: self.starts,
            starts_at_best: self.starts_at_best,
            converged: self.converged,
            termination: self.termination,
            iterations: self.iterations,
            evaluations: self.evaluations,
            starts_not_converged: self.starts_not_converged,
            residuals: self.residuals,
            bootstrap: self.bootstrap,
            holdout: self.holdout,
            rollout: self.rollout,
            conditioning: self.conditioning,
            warnings: self.warnings.into_iter().map(f).collect(),
            notes: self.notes,
            input: self.input,
            timing: self.timing,
            version: self.version,
        }
    }

    /// Checks the fit can be used: the schema, a known law, every natural
    /// parameter a number, every bootstrap draw as long as the parameters.
    /// Returns the law, the parameters and the draws. The message names the
    /// key (the caller adds the file).
    #[allow(clippy::type_complexity)]
    pub fn check(&self) -> Result<(Box<dyn Law>, Vec<f64>, Vec<Vec<f64>>), String> {
        match self.schema.as_str() {
            FIT_SCHEMA => {}
            "" => {
                return Err(
                    "no `schema` key; is this a file written by `scalelab fit --out`?".into(),
                )
            }
            other => return Err(format!("schema `{other}` is not `{FIT_SCHEMA}`")),
        }
        let law = self.scaling_law()?;
        if self.params.is_empty() {
            return Err("no `params` object".into());
        }
        let params = self.natural_params(law.as_ref())?;
        for (name, &v) in law.param_names().iter().zip(&params) {
            check_param(name, v)?;
        }
        let mut draws = Vec::with_capacity(self.draws().len());
        for (i, row) in self.draws().iter().enumerate() {
            if row.len() != params.len() {
                return Err(format!(
                    "bootstrap draw {i} has {} numbers, law `{}` has {} parameters",
                    row.len(),
                    self.law,
                    params.len()
                ));
            }
            // A resample that ran off to an infinite coefficient (a
            // degenerate draw, counted in `bootstrap.degenerate`) is written
            // with `null` for that parameter: JSON has no infinity. Such a
            // draw predicts nothing, so it is left out of what the file gives.
            if row.iter().all(|x| x.is_finite()) {
                draws.push(row.clone());
            }
        }
        Ok((law, params, draws))
    }
}

/// The largest exponent a fit file may carry: laws of loss against scale
/// have exponents well below 1; anything near this is a damaged file.
pub const MAX_EXPONENT: f64 = 10.0;

/// A parameter's value must make sense for what it is: an irreducible loss
/// is not negative, a coefficient is positive, an exponent lies in
/// (0, [`MAX_EXPONENT`]].
fn check_param(name: &str, v: f64) -> Result<(), String> {
    if !v.is_finite() {
        return Err(format!("params.{name} = {v} is not a finite number"));
    }
    match name {
        "E" if v < 0.0 => Err(format!(
            "params.E = {v}: an irreducible loss cannot be negative"
        )),
        "A" | "B" | "N_c" | "D_c" if v <= 0.0 => Err(format!(
            "params.{name} = {v}: a coefficient must be positive"
        )),
        "alpha" | "beta" | "alpha_N" | "alpha_D" if !(v > 0.0 && v <= MAX_EXPONENT) => Err(
            format!("params.{name} = {v}: an exponent must lie in (0, {MAX_EXPONENT}]"),
        ),
        _ => Ok(()),
    }
}

/// A fit read from a `scalelab.fit/1` object, checked.
pub struct FitFile {
    pub law: Box<dyn Law>,
    /// Natural parameters, in the law's order.
    pub params: Vec<f64>,
    /// Bootstrap draws of the natural parameters (empty without a bootstrap).
    pub draws: Vec<Vec<f64>>,
    /// The fit, typed.
    pub report: FitReport,
    /// The whole object as read.
    pub value: Value,
}

/// Why a fit file cannot be used; the message names the file.
#[derive(Clone, Debug, PartialEq)]
pub struct FitFileError(pub String);

impl std::fmt::Display for FitFileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FitFileError {}

/// Reads and checks a `scalelab.fit/1` file.
pub fn read_fit(path: &Path) -> Result<FitFile, FitFileError> {
    let where_ = path.display();
    let text = std::fs::read_to_string(path)
        .map_err(|e| FitFileError(format!("cannot read fit file {where_}: {e}")))?;
    let v: Value = serde_json::from_str(&text)
        .map_err(|e| FitFileError(format!("fit file {where_} is not valid JSON: {e}")))?;
    parse_fit(&v, &where_.to_string())
}

/// Checks a `scalelab.fit/1` object; `source` names it in errors (a path,
/// or e.g. "study.json (its `fit` key)").
pub fn parse_fit(v: &Value, source: &str) -> Result<FitFile, FitFileError> {
    let fail = |msg: String| FitFileError(format!("fit file {source}: {msg}"));
    if !v.is_object() {
        return Err(fail(
            "no `schema` key; is this a file written by `scalelab fit --out`?".into(),
        ));
    }
    let report = FitReport::<String>::deserialize(v).map_err(|e| fail(e.to_string()))?;
    let (law, params, draws) = report.check().map_err(fail)?;
    Ok(FitFile {
        law,
        params,
        draws,
        report,
        value: v.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn chinchilla() -> Value {
        json!({
            "schema": "scalelab.fit/1",
            "law": "chinchilla",
            "params": {"E": 1.8, "A": 480.0, "B": 2100.0, "alpha": 0.35, "beta": 0.37},
            "bootstrap": {"draws": [[1.7, 470.0, 2000.0, 0.34, 0.36]]}
        })
    }

    #[test]
    fn reads_parameters_in_the_law_order_and_the_draws() {
        let f = parse_fit(&chinchilla(), "fit.json").unwrap();
        assert_eq!(f.law.name(), "chinchilla");
        assert_eq!(f.params, vec![1.8, 480.0, 2100.0, 0.35, 0.37]);
        assert_eq!(f.draws.len(), 1);
        assert_eq!(f.value["law"], "chinchilla");
        assert_eq!(f.report.param("alpha"), Some(0.35));
        let l = f.report.predict(&[1e9], &[2e10]).unwrap();
        let want = 1.8 + 480.0 / 1e9f64.powf(0.35) + 2100.0 / 2e10f64.powf(0.37);
        assert!((l[0] / want - 1.0).abs() < 1e-12, "{l:?} vs {want}");
    }

    #[test]
    fn a_written_fit_reads_back_to_the_same_json() {
        let mut r: FitReport = serde_json::from_value(chinchilla()).unwrap();
        r.objective = f64::NAN;
        let text = serde_json::to_string_pretty(&r).unwrap();
        assert!(text.contains("\"objective\": null"), "{text}");
        let back: FitReport = serde_json::from_str(&text).unwrap();
        assert_eq!(serde_json::to_string_pretty(&back).unwrap(), text);
        // The key order is the schema's, whatever serde_json's map order.
        let keys: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("  \""))
            .map(|l| l.trim().split('"').nth(1).unwrap())
            .collect();
        assert_eq!(
            &keys[..6],
            [
                "schema",
                "law",
                "formula",
                "method",
                "loss_function",
                "params"
            ]
        );
    }

    #[test]
    fn a_rollout_and_conditioning_read_back_with_their_nulls() {
        let mut r: FitReport = serde_json::from_value(chinchilla()).unwrap();
        assert!(r.rollout.is_none() && r.conditioning.is_none());
        assert!(r.residuals.scatter.is_nan(), "absent in an old file");
        r.rollout = Some(RolloutSummary {
            grouped_by: "compute".into(),
            n_points: 1,
            points: vec![RolloutPointSummary {
                cut: 0,
                line: Some(3),
                params: 1e8,
                tokens: 2e9,
                flops: 1.2e18,
                loss: 3.0,
                predicted: 3.1,
                rel_error: 0.1 / 3.0,
                distance_decades: 0.4,
                ci95: None,
                pi95: [f64::NAN, 3.3],
                inside_pi95: false,
            }],
            ..Default::default()
        });
        r.conditioning = Some(ConditioningSummary {
            condition_number: f64::INFINITY,
            weakest: Named::default(),
            correlations: Some(Correlations {
                names: vec!["E".into(), "A".into()],
                matrix: vec![vec![1.0, f64::NAN], vec![f64::NAN, 1.0]],
            }),
        });
        let text = serde_json::to_string_pretty(&r).unwrap();
        let back: FitReport = serde_json::from_str(&text).unwrap();
        assert_eq!(serde_json::to_string_pretty(&back).unwrap(), text);
        let p = &back.rollout.as_ref().unwrap().points[0];
        assert!(p.pi95[0].is_nan() && p.pi95[1] == 3.3 && p.ci95.is_none());
        let c = back.conditioning.as_ref().unwrap();
        assert!(c.condition_number.is_nan(), "infinite is written as null");
        assert!(c.correlations.as_ref().unwrap().matrix[0][1].is_nan());
    }

    #[test]
    fn bad_objects_are_refused_with_the_file_and_key_named() {
        let cases: Vec<(Value, &str)> = vec![
            (json!({"law": "chinchilla"}), "no `schema` key"),
            (
                json!({"schema": "scalelab.study/1"}),
                "schema `scalelab.study/1`",
            ),
            (json!({"schema": "scalelab.fit/1"}), "no `law` key"),
            (
                json!({"schema": "scalelab.fit/1", "law": "nope"}),
                "unknown law `nope`",
            ),
            (
                json!({"schema": "scalelab.fit/1", "law": "chinchilla"}),
                "no `params` object",
            ),
            (
                json!({"schema": "scalelab.fit/1", "law": "chinchilla", "params": {"E": 1.0}}),
                "`params.A` missing",
            ),
        ];
        for (v, want) in cases {
            let e = parse_fit(&v, "x/fit.json").err().unwrap().to_string();
            assert!(e.starts_with("fit file x/fit.json: "), "{e}");
            assert!(e.contains(want), "{e} (wanted {want})");
        }
        let mut v = chinchilla();
        v["bootstrap"]["draws"] = json!([[1.0, 2.0]]);
        let e = parse_fit(&v, "f").err().unwrap().to_string();
        assert!(e.contains("bootstrap draw 0 has 2 numbers"), "{e}");
        // a degenerate draw written with null (an infinite coefficient) is
        // left out, the others kept
        let mut v = chinchilla();
        let good = v["bootstrap"]["draws"][0].clone();
        let mut bad = good.clone();
        bad[1] = serde_json::Value::Null;
        v["bootstrap"]["draws"] = json!([good, bad, good]);
        assert_eq!(parse_fit(&v, "f").unwrap().draws.len(), 2);
    }

    #[test]
    fn unreadable_and_invalid_files_name_the_path() {
        let dir = std::env::temp_dir().join(format!("scalelab-fitfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = dir.join("missing.json");
        let e = read_fit(&missing).err().unwrap().to_string();
        assert!(
            e.contains("cannot read fit file") && e.contains("missing.json"),
            "{e}"
        );
        let bad = dir.join("bad.json");
        std::fs::write(&bad, "{not json").unwrap();
        let e = read_fit(&bad).err().unwrap().to_string();
        assert!(
            e.contains("is not valid JSON") && e.contains("bad.json"),
            "{e}"
        );
        let good = dir.join("good.json");
        std::fs::write(&good, chinchilla().to_string()).unwrap();
        assert_eq!(read_fit(&good).unwrap().params.len(), 5);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
