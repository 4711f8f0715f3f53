//! Compute-optimal planning: how to split a training budget C between
//! parameters N and tokens D, and what loss to expect.
//!
//! Compute is tied to N and D by a FLOP convention `C = f(N)·D`, where `f(N)`
//! is the training FLOPs per token of a model with N parameters. The usual
//! convention is `f(N) = 6N` (Kaplan et al. 2020; Hoffmann et al. 2022); under
//! it the Chinchilla law `L = E + A/N^α + B/D^β` has the closed form
//!
//! ```text
//! N_opt = G·(C/6)^a,  D_opt = G⁻¹·(C/6)^b,
//! G = (αA/(βB))^(1/(α+β)),  a = β/(α+β),  b = α/(α+β).
//! ```
//!
//! Every other law (and every other convention) is handled numerically: the
//! loss along the iso-FLOP curve `D = C/f(N)` is scanned on a grid in `ln N`,
//! and the minimum is refined by finding the root of its derivative (a
//! five-point stencil) with a safeguarded secant method.
//!
//! Everything here is pure arithmetic; the inverse questions (the budget that
//! reaches a target loss, the loss of a given N and D) are here too.

use crate::data::Covariates;
use crate::laws::{Law, Variable};

/// Why a plan cannot be made.
#[derive(Clone, Debug, PartialEq)]
pub enum PlanError {
    /// The budget is not a positive finite number.
    BadBudget(f64),
    /// The law does not depend on both N and D, so there is no trade-off to
    /// optimise.
    NoTradeOff { law: String },
    /// The loss along the iso-FLOP curve has no interior minimum in the
    /// searched range of N (the law's parameters favour an extreme).
    NoInteriorOptimum { flops: f64, at_edge: &'static str },
    /// The target loss cannot be reached at any budget.
    Unreachable { target: f64, floor: f64 },
    /// The parameter vector does not match the law.
    BadParams(String),
}

impl std::fmt::Display for PlanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PlanError::BadBudget(c) => {
                write!(f, "budget {c} FLOPs is not a positive finite number")
            }
            PlanError::NoTradeOff { law } => write!(
                f,
                "law `{law}` does not depend on both parameters N and tokens D, so it \
                 has no compute-optimal allocation; fit `chinchilla`, `kaplan` or another \
                 law of N and D"
            ),
            PlanError::NoInteriorOptimum { flops, at_edge } => write!(
                f,
                "at {flops:e} FLOPs the predicted loss keeps falling towards the {at_edge} \
                 edge of the searched model sizes: the fitted law has no compute-optimal \
                 allocation there"
            ),
            PlanError::Unreachable { target, floor } => write!(
                f,
                "target loss {target} is not reachable: the law predicts at best {floor} \
                 (its irreducible loss or the loss at the largest budget searched)"
            ),
            PlanError::BadParams(msg) => write!(f, "{msg}"),
        }
    }
}

impl std::error::Error for PlanError {}

/// A split of a budget into parameters and tokens.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Allocation {
    /// Training compute in FLOPs.
    pub flops: f64,
    /// Parameters.
    pub n: f64,
    /// Training tokens.
    pub d: f64,
    /// Predicted loss at (n, d).
    pub loss: f64,
}

impl Allocation {
    /// Tokens per parameter `D/N`.
    pub fn tokens_per_param(&self) -> f64 {
        self.d / self.n
    }
}

/// The parameters of the Chinchilla law `L = E + A/N^α + B/D^β`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ChinchillaParams {
    pub e: f64,
    pub a: f64,
    pub b: f64,
    pub alpha: f64,
    pub beta: f64,
}

impl ChinchillaParams {
    /// From natural parameters in the law's order `[E, A, B, alpha, beta]`.
    pub fn from_natural(p: &[f64]) -> Result<Self, PlanError> {
        if p.len() != 5 {
            return Err(PlanError::BadParams(format!(
                "the Chinchilla law has 5 parameters (E, A, B, alpha, beta), got {}",
                p.len()
            )));
        }
        let c = ChinchillaParams {
            e: p[0],
            a: p[1],
            b: p[2],
            alpha: p[3],
            beta: p[4],
        };
        let positive = c.a > 0.0 && c.b > 0.0 && c.alpha > 0.0 && c.beta > 0.0;
        if !positive || !p.iter().all(|v| v.is_finite()) {
            return Err(PlanError::BadParams(format!(
                "the closed form needs A, B, alpha, beta > 0 and finite, got A = {}, B = {}, \
                 alpha = {}, beta = {}",
                c.a, c.b, c.alpha, c.beta
            )));
        }
        Ok(c)
    }

    /// Predicted loss.
    pub fn loss(&self, n: f64, d: f64) -> f64 {
        self.e + self.a * n.powf(-self.alpha) + self.b * d.powf(-self.beta)
    }

    /// The compute-optimal exponents `(a, b)`: `N_opt ∝ C^a`, `D_opt ∝ C^b`.
    pub fn exponents(&self) -> (f64, f64) {
        let s = self.alpha + self.beta;
        (self.beta / s, self.alpha / s)
    }

    /// `G = (αA/(βB))^(1/(α+β))`.
    pub fn g(&self) -> f64 {
        (self.alpha * self.a / (self.beta * self.b)).powf(1.0 / (self.alpha + self.beta))
    }

    /// The closed-form optimum at budget `flops` under `C = k·N·D` (k = 6 for
    /// the usual convention).
    pub fn optimum(&self, flops: f64, k: f64) -> Result<Allocation, PlanError> {
        check_budget(flops)?;
        let x = flops / k;
        let g = self.g();
        let (ea, eb) = self.exponents();
        let n = g * x.powf(ea);
        let d = x.powf(eb) / g;
        Ok(Allocation {
            flops,
            n,
            d,
            loss: self.loss(n, d),
        })
    }

    /// The loss on the compute-optimal frontier, `L*(C) = E + K·(C/k)^(−γ)`
    /// with `γ = αβ/(α+β)`; returns `(K, γ)`.
    pub fn frontier(&self) -> (f64, f64) {
        let g = self.g();
        let gamma = self.alpha * self.beta / (self.alpha + self.beta);
        let kk = self.a * g.powf(-self.alpha) + self.b * g.powf(self.beta);
        (kk, gamma)
    }

    /// The smallest budget whose compute-optimal loss is `target`.
    pub fn budget_for_loss(&self, target: f64, k: f64) -> Result<f64, PlanError> {
        if target.is_nan() || target <= self.e || !target.is_finite() {
            return Err(PlanError::Unreachable {
                target,
                floor: self.e,
            });
        }
        let (kk, gamma) = self.frontier();
        Ok(k * ((target - self.e) / kk).powf(-1.0 / gamma))
    }
}

/// A fitted law with its natural parameters, seen as a loss surface `L(N, D)`
/// under a FLOP convention.
pub struct LossSurface<'a> {
    law: &'a dyn Law,
    params: &'a [f64],
    flops_per_token: &'a (dyn Fn(f64) -> f64 + Sync),
}

/// The usual convention: 6N training FLOPs per token.
pub fn six_n(n: f64) -> f64 {
    6.0 * n
}

impl<'a> LossSurface<'a> {
    /// Checks that the law depends on both N and D and that `params` fit it.
    pub fn new(
        law: &'a dyn Law,
        params: &'a [f64],
        flops_per_token: &'a (dyn Fn(f64) -> f64 + Sync),
    ) -> Result<Self, PlanError> {
        let vars = law.variables();
        if !(vars.contains(&Variable::N) && vars.contains(&Variable::D)) {
            return Err(PlanError::NoTradeOff { law: law.name() });
        }
        if params.len() != law.n_params() {
            return Err(PlanError::BadParams(format!(
                "law `{}` has {} parameters ({}), got {}",
                law.name(),
                law.n_params(),
                law.param_names().join(", "),
                params.len()
            )));
        }
        Ok(LossSurface {
            law,
            params,
            flops_per_token,
        })
    }

    /// Predicted loss of a run with `n` parameters and `d` tokens.
    pub fn loss(&self, n: f64, d: f64) -> f64 {
        let c = (self.flops_per_token)(n) * d;
        self.law.predict(
            self.params,
            &Covariates {
                n,
                d,
                c,
                u: f64::NAN,
            },
        )
    }

    /// Predicted loss of a run with `n` parameters and `d` tokens of which
    /// `u` are unique. A law that models repetition itself (the
    /// data-constrained law) reads `u`; any other law is evaluated at the
    /// effective data `D'` of [`effective_tokens`] with decay `r_star`.
    pub fn loss_repeating(&self, n: f64, d: f64, u: f64, r_star: f64) -> f64 {
        if self.law.needs_unique_tokens() {
            let c = (self.flops_per_token)(n) * d;
            self.law.predict(self.params, &Covariates { n, d, c, u })
        } else {
            self.loss(n, effective_tokens(d, u, r_star))
        }
    }

    /// Whether the law models repeated data itself (it has its own R*_D).
    pub fn models_repetition(&self) -> bool {
        self.law.needs_unique_tokens()
    }

    /// Tokens affordable with `flops` at `n` parameters.
    pub fn tokens(&self, n: f64, flops: f64) -> f64 {
        flops / (self.flops_per_token)(n)
    }

    /// Loss along the iso-FLOP curve as a function of `ln N`.
    fn along(&self, flops: f64, ln_n: f64) -> f64 {
        let n = ln_n.exp();
        self.loss(n, self.tokens(n, flops))
    }

    /// The compute-optimal allocation at `flops`, found numerically.
    ///
    /// N is searched over `[1, C/6]` (at least one token per run under 6N):
    /// a 600-point grid in `ln N`, then the root of the derivative
    /// (five-point stencil) is polished to ~1e-12 in `ln N`.
    pub fn optimum(&self, flops: f64) -> Result<Allocation, PlanError> {
        check_budget(flops)?;
        let lo = 0.0_f64;
        let hi = (flops / 6.0).ln().max(lo + 1.0);
        let m = 600;
        let xs: Vec<f64> = (0..=m)
            .map(|i| lo + (hi - lo) * i as f64 / m as f64)
            .collect();
        let fs: Vec<f64> = xs.iter().map(|&x| self.along(flops, x)).collect();
        let mut best = 0;
        for (i, f) in fs.iter().enumerate() {
            if f.is_finite() && (!fs[best].is_finite() || *f < fs[best]) {
                best = i;
            }
        }
        if best == 0 {
            return Err(PlanError::NoInteriorOptimum {
                flops,
                at_edge: "small-model",
            });
        }
        if best == m {
            return Err(PlanError::NoInteriorOptimum {
                flops,
                at_edge: "large-model",
            });
        }
        let x = minimise_bracketed(|x| self.along(flops, x), xs[best - 1], xs[best + 1]);
        let n = x.exp();
        let d = self.tokens(n, flops);
        Ok(Allocation {
            flops,
            n,
            d,
            loss: self.loss(n, d),
        })
    }

    /// The smallest budget whose compute-optimal loss is `target`, by
    /// bisection in `ln C` over `[1e6, 1e40]` FLOPs.
    pub fn budget_for_loss(&self, target: f64) -> Result<f64, PlanError> {
        if !target.is_finite() {
            return Err(PlanError::Unreachable {
                target,
                floor: f64::NAN,
            });
        }
        let (mut lo, mut hi) = (1e6_f64.ln(), 1e40_f64.ln());
        let at = |lc: f64| self.optimum(lc.exp()).map(|a| a.loss);
        let top = at(hi)?;
        if top >= target {
            return Err(PlanError::Unreachable { target, floor: top });
        }
        if at(lo)? <= target {
            return Ok(lo.exp());
        }
        for _ in 0..200 {
            let mid = 0.5 * (lo + hi);
            if at(mid)? > target {
                lo = mid;
            } else {
                hi = mid;
            }
            if hi - lo < 1e-13 {
                break;
            }
        }
        Ok((0.5 * (lo + hi)).exp())
    }
}

/// A FLOP-counting convention: how many training FLOPs a token costs for a
/// model of N (non-embedding) parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Convention {
    /// `6N` (Kaplan et al. 2020; Hoffmann et al. 2022, the usual estimate).
    SixN,
    /// Kaplan et al. (2020), Table 1: `6N + 6·n_layer·context·d_model`
    /// (attention logits and weighted sum).
    Kaplan,
    /// Hoffmann et al. (2022), Appendix F: embeddings, attention (logits,
    /// softmax, weighted sum), dense blocks and output logits.
    Hoffmann,
    /// The engine's matrix products: weights, output head and attention.
    Exact,
}

impl Convention {
    pub const ALL: [Convention; 4] = [
        Convention::SixN,
        Convention::Kaplan,
        Convention::Hoffmann,
        Convention::Exact,
    ];

    /// Name used on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Convention::SixN => "6n",
            Convention::Kaplan => "kaplan",
            Convention::Hoffmann => "hoffmann",
            Convention::Exact => "exact",
        }
    }

    pub fn from_name(s: &str) -> Option<Self> {
        Convention::ALL.into_iter().find(|c| c.name() == s)
    }

    /// Training FLOPs per token at `n` non-embedding parameters, for a GPT
    /// of the accounting module's aspect ratio (`d_model = 64·n_layer`,
    /// `d_ff = 4·d_model`, 64-wide heads) treated as continuous in N, so the
    /// optimum can be found by smooth minimisation. With `N ≈ 12·l·c²`
    /// (l layers, width c), context t and vocabulary v, the per-token
    /// counts (training = 3 × forward) are: Kaplan `6N + 6ltc`; Hoffmann
    /// `6N + 12vc + 12ltc + 9l(c/64)t`; exact `6N + 6vc + 12ltc`.
    pub fn flops_per_token(self, n: f64, context: f64, vocab: f64) -> f64 {
        let ar = crate::accounting::ASPECT_RATIO;
        let l = (n / (12.0 * ar * ar)).cbrt();
        let c = ar * l;
        let heads = c / 64.0;
        let t = context;
        let v = vocab;
        match self {
            Convention::SixN => 6.0 * n,
            Convention::Kaplan => 6.0 * n + 6.0 * l * t * c,
            Convention::Hoffmann => 6.0 * n + 12.0 * v * c + 12.0 * l * t * c + 9.0 * l * heads * t,
            Convention::Exact => 6.0 * n + 6.0 * v * c + 12.0 * l * t * c,
        }
    }
}

fn check_budget(flops: f64) -> Result<(), PlanError> {
    if flops.is_finite() && flops > 0.0 {
        Ok(())
    } else {
        Err(PlanError::BadBudget(flops))
    }
}

/// Minimises a smooth unimodal `f` on `[a, b]` (which brackets the minimum)
/// by finding the root of its derivative, estimated with a five-point stencil.
/// Falls back to golden-section search if the derivative does not change sign.
pub fn minimise_bracketed(f: impl Fn(f64) -> f64, a: f64, b: f64) -> f64 {
    let h = 1e-3 * (b - a).abs().max(1e-3);
    let df = |x: f64| (f(x - 2.0 * h) - 8.0 * f(x - h) + 8.0 * f(x + h) - f(x + 2.0 * h)) / 12.0;
    let (mut lo, mut hi) = (a, b);
    let (mut glo, mut ghi) = (df(lo), df(hi));
    if !(glo < 0.0 && ghi > 0.0) {
        return golden(&f, a, b);
    }
    // Illinois (safeguarded regula falsi) on the derivative.
    let mut side = 0i8;
    for _ in 0..200 {
        let x = (lo * ghi - hi * glo) / (ghi - glo);
        let x = if x.is_finite() && x > lo && x < hi {
            x
        } else {
            0.5 * (lo + hi)
        };
        let g = df(x);
        if g == 0.0 {
            return x;
        }
        if g < 0.0 {
            lo = x;
            glo = g;
            if side == -1 {
                ghi *= 0.5;
            }
            side = -1;
        } else {
            hi = x;
            ghi = g;
            if side == 1 {
                glo *= 0.5;
            }
            side = 1;
        }
        if hi - lo < 1e-13 * (1.0 + lo.abs()) {
            break;
        }
    }
    0.5 * (lo + hi)
}

fn golden(f: &impl Fn(f64) -> f64, a: f64, b: f64) -> f64 {
    let r = (5f64.sqrt() - 1.0) / 2.0;
    let (mut a, mut b) = (a, b);
    let mut c = b - r * (b - a);
    let mut d = a + r * (b - a);
    let (mut fc, mut fd) = (f(c), f(d));
    for _ in 0..200 {
        if fc < fd {
            b = d;
            d = c;
            fd = fc;
            c = b - r * (b - a);
            fc = f(c);
        } else {
            a = c;
            c = d;
            fc = fd;
            d = a + r * (b - a);
            fd = f(d);
        }
        if (b - a).abs() < 1e-12 * (1.0 + a.abs()) {
            break;
        }
    }
    0.5 * (a + b)
}

/// A 95% percentile interval (2.5th and 97.5th percentiles, linear
/// interpolation between order statistics) of the finite values; `None` when
/// fewer than two are finite.
pub fn percentile_ci95(values: &[f64]) -> Option<[f64; 2]> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.len() < 2 {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    Some([quantile_sorted(&v, 0.025), quantile_sorted(&v, 0.975)])
}

/// The `q` quantile of sorted values (linear interpolation, type 7).
pub fn quantile_sorted(v: &[f64], q: f64) -> f64 {
    let pos = q * (v.len() - 1) as f64;
    let i = pos.floor() as usize;
    let frac = pos - i as f64;
    if i + 1 < v.len() {
        v[i] + frac * (v[i + 1] - v[i])
    } else {
        v[i]
    }
}

/// A plan for one budget from one parameter vector: the closed form for
/// Chinchilla under `C = k·N·D` with constant k, numerics otherwise.
pub fn optimum(
    law: &dyn Law,
    params: &[f64],
    flops: f64,
    flops_per_token: &(dyn Fn(f64) -> f64 + Sync),
    closed_form_k: Option<f64>,
) -> Result<Allocation, PlanError> {
    if law.name() == "chinchilla" {
        if let Some(k) = closed_form_k {
            return ChinchillaParams::from_natural(params)?.optimum(flops, k);
        }
    }
    LossSurface::new(law, params, flops_per_token)?.optimum(flops)
}

/// The budget whose compute-optimal loss is `target` (closed form for
/// Chinchilla under a constant k, bisection otherwise).
pub fn budget_for_loss(
    law: &dyn Law,
    params: &[f64],
    target: f64,
    flops_per_token: &(dyn Fn(f64) -> f64 + Sync),
    closed_form_k: Option<f64>,
) -> Result<f64, PlanError> {
    if law.name() == "chinchilla" {
        if let Some(k) = closed_form_k {
            return ChinchillaParams::from_natural(params)?.budget_for_loss(target, k);
        }
    }
    LossSurface::new(law, params, flops_per_token)?.budget_for_loss(target)
}

/// Inference-aware planning (Sardana et al. 2024): the model size that reaches
/// `target` loss with the least total compute `f(N)·D_train + 2·N·D_inference`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct InferencePlan {
    pub n: f64,
    pub d_train: f64,
    pub training_flops: f64,
    pub inference_flops: f64,
    pub total_flops: f64,
}

impl LossSurface<'_> {
    /// Tokens needed at `n` parameters to reach `target`, or `None` when even
    /// infinite data at this size does not reach it. Bisection in `ln D`.
    pub fn tokens_for_loss(&self, n: f64, target: f64) -> Option<f64> {
        let (mut lo, mut hi) = (0.0_f64, 120.0_f64);
        if self.loss(n, hi.exp()) > target {
            return None;
        }
        if self.loss(n, lo.exp()) <= target {
            return Some(1.0);
        }
        for _ in 0..200 {
            let mid = 0.5 * (lo + hi);
            if self.loss(n, mid.exp()) > target {
                lo = mid;
            } else {
                hi = mid;
            }
            if hi - lo < 1e-13 {
                break;
            }
        }
        Some((0.5 * (lo + hi)).exp())
    }

    /// The Sardana et al. (2024) plan: minimise training plus inference
    /// compute (2N FLOPs per inference token) subject to reaching `target`.
    pub fn inference_optimum(
        &self,
        target: f64,
        inference_tokens: f64,
    ) -> Result<InferencePlan, PlanError> {
        if !(inference_tokens >= 0.0 && inference_tokens.is_finite()) {
            return Err(PlanError::BadParams(format!(
                "inference tokens must be a non-negative number, got {inference_tokens}"
            )));
        }
        let total = |ln_n: f64| -> f64 {
            let n = ln_n.exp();
            match self.tokens_for_loss(n, target) {
                Some(d) => (self.flops_per_token)(n) * d + 2.0 * n * inference_tokens,
                None => f64::INFINITY,
            }
        };
        // Scan ln N over [1, 1e16] on the log of the total.
        let m = 800;
        let (lo, hi) = (0.0_f64, 16.0 * 10f64.ln());
        let xs: Vec<f64> = (0..=m)
            .map(|i| lo + (hi - lo) * i as f64 / m as f64)
            .collect();
        let fs: Vec<f64> = xs.iter().map(|&x| total(x).ln()).collect();
        let mut best = None;
        for (i, f) in fs.iter().enumerate() {
            if f.is_finite() && best.is_none_or(|b: usize| *f < fs[b]) {
                best = Some(i);
            }
        }
        let Some(best) = best else {
            let floor = self.loss(1e16, 1e40);
            return Err(PlanError::Unreachable { target, floor });
        };
        let x = if best == 0 || best == m || !fs[best - 1].is_finite() || !fs[best + 1].is_finite()
        {
            xs[best]
        } else {
            golden(&|x| total(x).ln(), xs[best - 1], xs[best + 1])
        };
        let n = x.exp();
        let d_train = self.tokens_for_loss(n, target).unwrap_or(f64::NAN);
        let training_flops = (self.flops_per_token)(n) * d_train;
        let inference_flops = 2.0 * n * inference_tokens;
        Ok(InferencePlan {
            n,
            d_train,
            training_flops,
            inference_flops,
            total_flops: training_flops + inference_flops,
        })
    }
}

/// Data-constrained scaling (Muennighoff et al. 2023): with `unique` tokens
/// repeated for `D/unique` epochs, the effective data is
/// `D' = U + U·R*·(1 − exp(−R/R*))` with `R = D/U − 1` repetitions; repeated
/// tokens are worth less and saturate after a few times R*.
/// The paper's fitted `R*_D ≈ 15.4`.
pub fn effective_tokens(d: f64, unique: f64, r_star: f64) -> f64 {
    if d <= unique {
        return d;
    }
    let r = d / unique - 1.0;
    unique + unique * r_star * (1.0 - (-r / r_star).exp())
}

/// Muennighoff et al. (2023)'s fitted decay constant for repeated data
/// (Appendix A: 15.387756).
pub const MUENNIGHOFF_R_STAR_D: f64 = crate::laws::PUBLISHED_R_STAR_D;

/// The compute-optimal allocation when only `unique` tokens exist. A fitted
/// data-constrained law is evaluated as it is, with its own R*_D and R*_N
/// (`r_star` is then unused); any other law at the effective data `D'`
/// (decay `r_star`) instead of D.
pub fn data_constrained_optimum(
    surface: &LossSurface<'_>,
    flops: f64,
    unique: f64,
    r_star: f64,
) -> Result<Allocation, PlanError> {
    check_budget(flops)?;
    if !(unique > 0.0 && unique.is_finite()) {
        return Err(PlanError::BadParams(format!(
            "unique tokens must be a positive number, got {unique}"
        )));
    }
    let along = |ln_n: f64| {
        let n = ln_n.exp();
        let d = surface.tokens(n, flops);
        surface.loss_repeating(n, d, unique, r_star)
    };
    let lo = 0.0_f64;
    let hi = (flops / 6.0).ln().max(1.0);
    let m = 600;
    let xs: Vec<f64> = (0..=m)
        .map(|i| lo + (hi - lo) * i as f64 / m as f64)
        .collect();
    let fs: Vec<f64> = xs.iter().map(|&x| along(x)).collect();
    let best = (0..=m)
        .filter(|&i| fs[i].is_finite())
        .min_by(|&i, &j| fs[i].total_cmp(&fs[j]))
        .ok_or(PlanError::NoInteriorOptimum {
            flops,
            at_edge: "small-model",
        })?;
    if best == 0 || best == m {
        return Err(PlanError::NoInteriorOptimum {
            flops,
            at_edge: if best == 0 {
                "small-model"
            } else {
                "large-model"
            },
        });
    }
    // The effective-data map has a kink at D = U; golden section is safe there.
    let x = golden(&along, xs[best - 1], xs[best + 1]);
    let n = x.exp();
    let d = surface.tokens(n, flops);
    Ok(Allocation {
        flops,
        n,
        d,
        loss: surface.loss_repeating(n, d, unique, r_star),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::laws::law_by_name;

    const EPOCH: [f64; 5] = [
        1.8172185988887535,
        477.8272758487169,
        2143.4045962972104,
        0.34731073691009107,
        0.3671721277902221,
    ];

    #[test]
    fn closed_form_matches_reference() {
        let p = ChinchillaParams::from_natural(&EPOCH).unwrap();
        let a = p.optimum(1e21, 6.0).unwrap();
        assert!((a.n / 2791728377.5169063 - 1.0).abs() < 1e-9, "{}", a.n);
        assert!((a.d / 59700172842.35502 - 1.0).abs() < 1e-9, "{}", a.d);
        assert!((6.0 * a.n * a.d / 1e21 - 1.0).abs() < 1e-12);
    }

    #[test]
    fn numeric_agrees_with_closed_form() {
        let law = law_by_name("chinchilla").unwrap();
        let p = ChinchillaParams::from_natural(&EPOCH).unwrap();
        let s = LossSurface::new(law.as_ref(), &EPOCH, &six_n).unwrap();
        for c in [1e18, 1e21, 1e25] {
            let exact = p.optimum(c, 6.0).unwrap();
            let num = s.optimum(c).unwrap();
            assert!(
                (num.n / exact.n - 1.0).abs() < 1e-7,
                "{c}: {} vs {}",
                num.n,
                exact.n
            );
        }
    }

    #[test]
    fn budget_inverse_round_trips() {
        let p = ChinchillaParams::from_natural(&EPOCH).unwrap();
        let a = p.optimum(3e22, 6.0).unwrap();
        let c = p.budget_for_loss(a.loss, 6.0).unwrap();
        assert!((c / 3e22 - 1.0).abs() < 1e-9, "{c}");
        let law = law_by_name("chinchilla").unwrap();
        let s = LossSurface::new(law.as_ref(), &EPOCH, &six_n).unwrap();
        let c2 = s.budget_for_loss(a.loss).unwrap();
        assert!((c2 / 3e22 - 1.0).abs() < 1e-6, "{c2}");
        assert!(p.budget_for_loss(1.5, 6.0).is_err());
    }

    #[test]
    fn effective_tokens_saturate() {
        assert_eq!(effective_tokens(50.0, 100.0, 15.4), 50.0);
        let u = 1e9;
        let big = effective_tokens(1e13, u, 15.4);
        assert!(big <= u * 16.4 * (1.0 + 1e-12) && big > u * 16.0, "{big}");
    }
}
