//! Exact parameter and FLOP accounting for decoder-only GPT models, and the
//! shape rule that turns a target parameter count into a model shape.
//!
//! The model accounted for is the one trained by `scalelab-engine`: token and
//! learned position embeddings, `n_layer` pre-LayerNorm blocks (LayerNorm →
//! causal multi-head self-attention with a fused QKV projection and an output
//! projection, all with biases; LayerNorm → MLP `d_model → d_ff → d_model` with
//! biases), a final LayerNorm and an output head that by default is tied to the
//! token embedding (no bias).
//!
//! # Which parameters are "embedding" parameters
//!
//! Exactly two tensors count as embeddings: the token embedding `wte`
//! (`vocab × d_model`) and the position embedding `wpe`
//! (`context × d_model`). Everything else (all LayerNorm gains and biases,
//! all projection weights and biases, and an untied output head if there is
//! one) is non-embedding. With a tied head the output projection reuses `wte`
//! and adds no parameters.
//!
//! # FLOPs
//!
//! Three conventions are computed side by side, all *per token* and for
//! *training* (forward + backward):
//!
//! * [`FlopCounts::six_n`]: the common `6·N` estimate with `N` the exact
//!   non-embedding parameter count.
//! * [`FlopCounts::kaplan`]: Kaplan et al. 2020, Table 1: forward
//!   `2·N_K + 2·n_layer·context·d_attn` with `N_K = 2·d_model·n_layer·(2·d_attn + d_ff)`
//!   (weights only, no biases or norms, no embeddings or de-embedding), and
//!   training = 3 × forward.
//! * [`FlopCounts::hoffmann`]: Hoffmann et al. 2022 (Chinchilla), Appendix F:
//!   embeddings, QKV, logits `QKᵀ`, softmax, attention-weighted sum, output
//!   projection, dense block and final logits, per sequence of `context`
//!   tokens, divided by `context`; training = 3 × forward (backward = 2 × forward).
//! * [`FlopCounts::exact`]: the matrix-product FLOPs the engine performs:
//!   2 FLOPs per multiply-accumulate of every weight matrix applied to a token
//!   (QKV, attention output, MLP in and out, and the output head of
//!   `vocab × d_model`), plus the two attention products `QKᵀ` and `A·V` over
//!   the full context (`2 · 2 · n_layer · context · d_model`, like Kaplan and
//!   Hoffmann, not discounted for the causal mask). Biases, norms, softmax and
//!   GELU are not counted. Training = 3 × forward. This is the number the
//!   engine logs as `flops`.

use serde::{Deserialize, Serialize};

/// The shape of a decoder-only GPT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GptShape {
    /// Number of transformer blocks.
    pub n_layer: usize,
    /// Residual stream width.
    pub d_model: usize,
    /// Number of attention heads (`d_model` must be a multiple of it).
    pub n_head: usize,
    /// Hidden width of the MLP (conventionally `4 · d_model`).
    pub d_ff: usize,
    /// Context length (number of learned positions).
    pub context: usize,
    /// Vocabulary size.
    pub vocab: usize,
    /// Whether the output head is tied to the token embedding (default `true`).
    #[serde(default = "default_true")]
    pub tied_head: bool,
}

fn default_true() -> bool {
    true
}

impl GptShape {
    /// A shape with the conventional `d_ff = 4 · d_model` and a tied head.
    pub fn new(
        n_layer: usize,
        d_model: usize,
        n_head: usize,
        context: usize,
        vocab: usize,
    ) -> Self {
        GptShape {
            n_layer,
            d_model,
            n_head,
            d_ff: 4 * d_model,
            context,
            vocab,
            tied_head: true,
        }
    }

    /// Head dimension `d_model / n_head` (integer division).
    pub fn head_dim(&self) -> usize {
        self.d_model.checked_div(self.n_head).unwrap_or(0)
    }

    /// Checks the shape is one the engine can build: every size positive and
    /// `n_head` dividing `d_model`. Returns a message naming the problem.
    pub fn validate(&self) -> Result<(), String> {
        let fields = [
            ("n_layer", self.n_layer),
            ("d_model", self.d_model),
            ("n_head", self.n_head),
            ("d_ff", self.d_ff),
            ("context", self.context),
            ("vocab", self.vocab),
        ];
        for (name, v) in fields {
            if v == 0 {
                return Err(format!("{name} must be at least 1"));
            }
        }
        if self.d_model.checked_rem(self.n_head) != Some(0) {
            return Err(format!(
                "n_head = {} does not divide d_model = {}",
                self.n_head, self.d_model
            ));
        }
        // Counted in f64 first, so a huge shape is refused instead of
        // overflowing the exact (integer) counts.
        let (c, f, l) = (self.d_model as f64, self.d_ff as f64, self.n_layer as f64);
        let (t, v) = (self.context as f64, self.vocab as f64);
        let heads = if self.tied_head { 1.0 } else { 2.0 };
        let total = l * (4.0 * c * c + 2.0 * c * f + 9.0 * c + f) + 2.0 * c + heads * v * c + t * c;
        if total > MAX_SHAPE_TOTAL_PARAMS {
            return Err(format!(
                "the shape has {total:.3e} parameters; at most {MAX_SHAPE_TOTAL_PARAMS:e} are supported"
            ));
        }
        Ok(())
    }

    /// Exact parameter counts.
    pub fn params(&self) -> ParamCounts {
        let c = self.d_model as u64;
        let f = self.d_ff as u64;
        let l = self.n_layer as u64;
        // ln1 (2C) + qkv (3C·C + 3C) + attn proj (C·C + C) + ln2 (2C)
        // + fc (F·C + F) + fc proj (C·F + C)
        let per_layer = 4 * c * c + 2 * c * f + 9 * c + f;
        let final_norm = 2 * c;
        let token_embedding = self.vocab as u64 * c;
        let position_embedding = self.context as u64 * c;
        let head = if self.tied_head {
            0
        } else {
            self.vocab as u64 * c
        };
        let non_embedding = l * per_layer + final_norm + head;
        ParamCounts {
            per_layer,
            token_embedding,
            position_embedding,
            untied_head: head,
            non_embedding,
            total: non_embedding + token_embedding + position_embedding,
        }
    }

    /// Training FLOPs per token under each convention (see the module docs).
    pub fn flops_per_token(&self) -> FlopCounts {
        let c = self.d_model as f64;
        let f = self.d_ff as f64;
        let l = self.n_layer as f64;
        let t = self.context as f64;
        let v = self.vocab as f64;
        let h = self.n_head as f64;
        let n = self.params().non_embedding as f64;

        // Kaplan et al. 2020, Table 1 (d_attn = d_model).
        let n_kaplan = 2.0 * c * l * (2.0 * c + f);
        let kaplan_forward = 2.0 * n_kaplan + 2.0 * l * t * c;

        // Hoffmann et al. 2022, Appendix F, per sequence of length t
        // (key_size × heads = d_model).
        let embeddings = 2.0 * t * v * c;
        let qkv = 2.0 * 3.0 * t * c * c;
        let logits_att = 2.0 * t * t * c;
        let softmax = 3.0 * h * t * t;
        let reduction = 2.0 * t * t * c;
        let project = 2.0 * t * c * c;
        let dense = 2.0 * t * (c * f + c * f);
        let final_logits = 2.0 * t * c * v;
        let hoffmann_forward_seq = embeddings
            + l * (qkv + logits_att + softmax + reduction + project + dense)
            + final_logits;
        let hoffmann_forward = hoffmann_forward_seq / t;

        // The engine's matrix products.
        let matmul_weights = l * (4.0 * c * c + 2.0 * c * f) + v * c;
        let exact_forward = 2.0 * matmul_weights + 4.0 * l * t * c;

        FlopCounts {
            six_n: 6.0 * n,
            kaplan: 3.0 * kaplan_forward,
            hoffmann: 3.0 * hoffmann_forward,
            exact: 3.0 * exact_forward,
        }
    }
}

/// Exact parameter counts of a [`GptShape`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParamCounts {
    /// Parameters of one transformer block (weights, biases and both norms).
    pub per_layer: u64,
    /// Token embedding `vocab × d_model` (also the output head when tied).
    pub token_embedding: u64,
    /// Position embedding `context × d_model`.
    pub position_embedding: u64,
    /// The output head when untied (`vocab × d_model`), else 0.
    pub untied_head: u64,
    /// All parameters except the token and position embeddings.
    pub non_embedding: u64,
    /// All parameters.
    pub total: u64,
}

/// Training (forward + backward) FLOPs per token under several conventions.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FlopCounts {
    /// `6 · N` with `N` the exact non-embedding parameter count.
    pub six_n: f64,
    /// Kaplan et al. 2020, Table 1, × 3.
    pub kaplan: f64,
    /// Hoffmann et al. 2022, Appendix F, × 3.
    pub hoffmann: f64,
    /// The engine's matrix-product FLOPs × 3 (logged by the engine).
    pub exact: f64,
}

/// The largest non-embedding parameter count the shape rule accepts (10¹³,
/// ten trillion): far beyond any run this laboratory trains or plans, and
/// small enough that every count stays exact in `u64` and `f64`.
pub const MAX_SHAPE_PARAMS: f64 = 1e13;

/// The largest shape [`GptShape::validate`] accepts, in parameters with
/// embeddings: far beyond any trained model, and far below where the exact
/// integer counts would overflow.
pub const MAX_SHAPE_TOTAL_PARAMS: f64 = 1e15;

/// The largest token budget of one run (10¹⁵): a thousand times the largest
/// published training runs, and exact in `u64` and `f64`, so a step count
/// derived from it never overflows or is silently clamped.
pub const MAX_TOKENS: f64 = 1e15;

/// The largest step count of one run (10¹²).
pub const MAX_STEPS: u64 = 1_000_000_000_000;

/// The aspect ratio of the shape rule: `d_model ≈ ASPECT_RATIO · n_layer`.
pub const ASPECT_RATIO: f64 = 64.0;

/// The shape rule: turns a target non-embedding parameter count into
/// `(n_layer, d_model, n_head)`.
///
/// The rule, for `d_ff = 4 · d_model` and a tied head:
///
/// 1. With `d_model = 64 · n_layer` (aspect ratio [`ASPECT_RATIO`]) the
///    non-embedding count is about `12 · n_layer · d_model²`, so
///    `n_layer = max(1, round(cbrt(target / (12 · 64²))))`.
/// 2. `d_model` is the multiple of 16 (at least 16) whose exact non-embedding
///    count (biases and norms included) is closest to the target in log ratio;
///    ties go to the smaller width.
/// 3. The head dimension is 64 when `d_model ≥ 512`, 32 when
///    `d_model ≥ 64`, else 16, lowered to 32 or 16 when it does not divide
///    `d_model`, so heads are 16–64 wide and divide `d_model` exactly.
///
/// `context` and `vocab` only fill in the returned shape (they do not affect
/// the non-embedding count). Returns `None` for a target below 1 or above
/// [`MAX_SHAPE_PARAMS`].
///
/// The width search is a binary search over multiples of 16 (the exact count
/// grows with the width), so it takes O(log target) steps.
pub fn shape_for_params(
    target_non_embedding: f64,
    context: usize,
    vocab: usize,
) -> Option<GptShape> {
    if !(1.0..=MAX_SHAPE_PARAMS).contains(&target_non_embedding) {
        return None;
    }
    let l = (target_non_embedding / (12.0 * ASPECT_RATIO * ASPECT_RATIO))
        .cbrt()
        .round()
        .max(1.0) as usize;
    let count = |k: usize| -> f64 {
        GptShape::new(l, 16 * k, 1, context, vocab)
            .params()
            .non_embedding as f64
    };
    // The smallest k ≥ 1 whose width 16·k counts more than the target: the
    // best width is it or the one below (log error is unimodal in k).
    let mut hi = 1usize;
    while count(hi) <= target_non_embedding {
        hi *= 2;
    }
    let mut lo = hi / 2; // count(lo) ≤ target, or lo = 0 when hi = 1
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if count(mid) > target_non_embedding {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    let err = |k: usize| (count(k) / target_non_embedding).ln().abs();
    // Ties go to the smaller width.
    let k = if lo >= 1 && err(lo) <= err(hi) {
        lo
    } else {
        hi
    };
    let best = Some((err(k), 16 * k));
    let d = best?.1;
    let mut hd = if d >= 512 {
        64
    } else if d >= 64 {
        32
    } else {
        16
    };
    while d % hd != 0 {
        hd /= 2;
    }
    Some(GptShape::new(l, d, d / hd, context, vocab))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_for_a_tiny_config_match_hand_computation() {
        // n_layer 2, d_model 8, 2 heads, d_ff 32, context 4, vocab 10.
        let s = GptShape::new(2, 8, 2, 4, 10);
        let p = s.params();
        // per layer: ln1 16 + qkv (192 + 24) + proj (64 + 8) + ln2 16
        //          + fc (256 + 32) + fcproj (256 + 8) = 872
        assert_eq!(p.per_layer, 872);
        assert_eq!(p.token_embedding, 80);
        assert_eq!(p.position_embedding, 32);
        // 2 · 872 + final norm 16
        assert_eq!(p.non_embedding, 1760);
        assert_eq!(p.total, 1760 + 80 + 32);
        let untied = GptShape {
            tied_head: false,
            ..s
        }
        .params();
        assert_eq!(untied.non_embedding, 1760 + 80);
        assert_eq!(untied.total, 1760 + 80 + 80 + 32);
    }

    #[test]
    fn counts_and_flops_for_a_gpt2_small_like_config() {
        // GPT-2 small: 12 layers, 768 wide, 12 heads, context 1024, vocab 50257:
        // 124,439,808 parameters in total (the well-known count).
        let s = GptShape::new(12, 768, 12, 1024, 50257);
        let p = s.params();
        assert_eq!(p.total, 124_439_808);
        assert_eq!(p.token_embedding, 38_597_376);
        assert_eq!(p.position_embedding, 786_432);
        assert_eq!(p.non_embedding, 85_056_000);
        let f = s.flops_per_token();
        assert_eq!(f.six_n, 6.0 * 85_056_000.0);
        // Kaplan: N_K = 2·768·12·(2·768 + 3072) = 84,934,656; + 2·12·1024·768.
        let kaplan = 3.0 * (2.0 * 84_934_656.0 + 2.0 * 12.0 * 1024.0 * 768.0);
        assert_eq!(f.kaplan, kaplan);
        // Engine: weights 12·(4·768² + 2·768·3072) + 50257·768, + 4·12·1024·768.
        let w = 12.0 * (4.0 * 768.0 * 768.0 + 2.0 * 768.0 * 3072.0) + 50257.0 * 768.0;
        assert_eq!(f.exact, 3.0 * (2.0 * w + 4.0 * 12.0 * 1024.0 * 768.0));
        // Hoffmann, per token: 2·V·C (embeddings) + 2·C·V (logits) + per layer
        // 6C² + 2TC + 3HT + 2TC + 2C² + 4C·F.
        let (c, t, v, h) = (768.0, 1024.0, 50257.0, 12.0);
        let per_layer =
            6.0 * c * c + 2.0 * t * c + 3.0 * h * t + 2.0 * t * c + 2.0 * c * c + 4.0 * c * 3072.0;
        let hoff = 3.0 * (4.0 * v * c + 12.0 * per_layer);
        assert!((f.hoffmann - hoff).abs() / hoff < 1e-12);
    }

    #[test]
    fn validate_rejects_heads_not_dividing_width() {
        let s = GptShape::new(2, 30, 4, 16, 256);
        assert!(s.validate().unwrap_err().contains("n_head = 4"));
        assert!(GptShape::new(2, 32, 4, 16, 256).validate().is_ok());
        assert!(GptShape::new(0, 32, 4, 16, 256).validate().is_err());
    }

    #[test]
    fn shape_rule_hits_targets_with_documented_aspect_ratio() {
        for &target in &[3e4, 3e5, 1e6, 3e6, 1e7, 1e8] {
            let s = shape_for_params(target, 128, 256).unwrap();
            s.validate().unwrap();
            let n = s.params().non_embedding as f64;
            // Within one width step of the target.
            assert!(
                (n / target).ln().abs() < 0.35,
                "target {target}: got {n} from {s:?}"
            );
            let hd = s.head_dim();
            assert!((16..=64).contains(&hd), "{s:?}");
            assert_eq!(s.d_model % s.n_head, 0);
            let aspect = s.d_model as f64 / s.n_layer as f64;
            assert!(aspect > 20.0 && aspect < 200.0, "{s:?}");
        }
        let s = shape_for_params(3e5, 128, 256).unwrap();
        assert_eq!((s.n_layer, s.d_model, s.n_head), (2, 112, 7));
        assert!(shape_for_params(0.0, 128, 256).is_none());
    }

    /// The rule's first, linear width search: the reference for the binary one.
    fn linear_width(target: f64, l: usize) -> usize {
        let mut best: Option<(f64, usize)> = None;
        let mut d = 16usize;
        loop {
            let n = GptShape::new(l, d, 1, 128, 256).params().non_embedding as f64;
            let err = (n / target).ln().abs();
            if best.is_none_or(|(e, _)| err < e) {
                best = Some((err, d));
            }
            if n > target {
                break;
            }
            d += 16;
        }
        best.unwrap().1
    }

    #[test]
    fn binary_width_search_matches_the_linear_one() {
        let mut t = 1.0f64;
        while t < 1e11 {
            let s = shape_for_params(t, 128, 256).unwrap();
            assert_eq!(s.d_model, linear_width(t, s.n_layer), "target {t}");
            t *= 1.37;
        }
    }

    #[test]
    fn targets_beyond_the_bound_have_no_shape_and_return_at_once() {
        assert!(shape_for_params(MAX_SHAPE_PARAMS, 128, 256).is_some());
        for t in [1.0001e13, 2e19, 1e20, 1e300, f64::INFINITY, f64::NAN] {
            assert!(shape_for_params(t, 128, 256).is_none(), "target {t}");
        }
    }

    #[test]
    fn huge_shapes_are_refused_before_their_counts_overflow() {
        let big = GptShape::new(99_999_999_999, 99_999_999_999, 1, 128, 256);
        let e = big.validate().unwrap_err();
        assert!(e.contains("parameters; at most 1e15"), "{e}");
        let wide_vocab = GptShape::new(1, 64, 1, 128, usize::MAX / 2);
        assert!(wide_vocab.validate().is_err());
        // the largest shape the rule makes still validates and counts exactly
        let s = shape_for_params(MAX_SHAPE_PARAMS, 2048, 256_000).unwrap();
        s.validate().unwrap();
        assert!(s.params().non_embedding as f64 <= MAX_SHAPE_PARAMS * 1.01);
    }
}
