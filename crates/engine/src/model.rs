//! The GPT model: parameter layout, activation buffers, forward and backward.
//!
//! # Parameter layout
//!
//! All parameters live in **one flat buffer** (and the gradients, and AdamW's
//! first and second moments, each in one more buffer of the same layout).
//! Tensors are stored back to back, row-major, in this order (as in llm.c),
//! with `L` layers, width `C`, MLP width `F`, context `T`, vocabulary `V`:
//!
//! | # | name          | shape       | weight decay |
//! |---|---------------|-------------|--------------|
//! | 0 | `wte`         | (V, C)      | yes (also the tied output head) |
//! | 1 | `wpe`         | (T, C)      | yes |
//! | 2 | `ln1_w`       | (L, C)      | no  |
//! | 3 | `ln1_b`       | (L, C)      | no  |
//! | 4 | `qkv_w`       | (L, 3C, C)  | yes |
//! | 5 | `qkv_b`       | (L, 3C)     | no  |
//! | 6 | `attn_proj_w` | (L, C, C)   | yes |
//! | 7 | `attn_proj_b` | (L, C)      | no  |
//! | 8 | `ln2_w`       | (L, C)      | no  |
//! | 9 | `ln2_b`       | (L, C)      | no  |
//! | 10| `fc_w`        | (L, F, C)   | yes |
//! | 11| `fc_b`        | (L, F)      | no  |
//! | 12| `fc_proj_w`   | (L, C, F)   | yes |
//! | 13| `fc_proj_b`   | (L, C)      | no  |
//! | 14| `lnf_w`       | (C)         | no  |
//! | 15| `lnf_b`       | (C)         | no  |
//!
//! Weight matrices are stored as PyTorch's `nn.Linear` does,
//! `(out_features, in_features)`, and applied as `y = x·Wᵀ + b`. The QKV
//! projection's output columns are `[q | k | v]`, head `h` at `h·C/NH` within
//! each. Weight decay applies to the 2-D matrices (embeddings included) and
//! not to biases or LayerNorm parameters.
//!
//! # Activations
//!
//! [`Activations`] are allocated once per (batch, sequence length) and
//! reused for every step; a step allocates nothing (the `gemm` crate may use
//! its own internal workspace).

use crate::kernels::*;
use crate::real::Real;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use scalelab_core::accounting::GptShape;
use serde::{Deserialize, Serialize};

/// Number of parameter tensors.
pub const N_TENSORS: usize = 16;

/// Names of the parameter tensors, in layout order.
pub const TENSOR_NAMES: [&str; N_TENSORS] = [
    "wte",
    "wpe",
    "ln1_w",
    "ln1_b",
    "qkv_w",
    "qkv_b",
    "attn_proj_w",
    "attn_proj_b",
    "ln2_w",
    "ln2_b",
    "fc_w",
    "fc_b",
    "fc_proj_w",
    "fc_proj_b",
    "lnf_w",
    "lnf_b",
];

/// One tensor in the flat parameter buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorSpec {
    pub name: &'static str,
    /// Offset in elements from the start of the buffer.
    pub offset: usize,
    pub shape: Vec<usize>,
    /// Whether AdamW applies weight decay to it.
    pub decay: bool,
}

impl TensorSpec {
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn range(&self) -> std::ops::Range<usize> {
        self.offset..self.offset + self.len()
    }
}

/// The layout of the flat parameter buffer (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamLayout {
    pub tensors: Vec<TensorSpec>,
    pub total: usize,
}

impl ParamLayout {
    pub fn new(s: &GptShape) -> Self {
        let (l, c, f, t, v) = (s.n_layer, s.d_model, s.d_ff, s.context, s.vocab);
        let shapes: [Vec<usize>; N_TENSORS] = [
            vec![v, c],
            vec![t, c],
            vec![l, c],
            vec![l, c],
            vec![l, 3 * c, c],
            vec![l, 3 * c],
            vec![l, c, c],
            vec![l, c],
            vec![l, c],
            vec![l, c],
            vec![l, f, c],
            vec![l, f],
            vec![l, c, f],
            vec![l, c],
            vec![c],
            vec![c],
        ];
        let decay = [
            true, true, false, false, true, false, true, false, false, false, true, false, true,
            false, false, false,
        ];
        let mut offset = 0;
        let mut tensors = Vec::with_capacity(N_TENSORS);
        for (i, shape) in shapes.into_iter().enumerate() {
            let spec = TensorSpec {
                name: TENSOR_NAMES[i],
                offset,
                shape,
                decay: decay[i],
            };
            offset += spec.len();
            tensors.push(spec);
        }
        ParamLayout {
            tensors,
            total: offset,
        }
    }

    /// The spec of the tensor called `name`.
    pub fn get(&self, name: &str) -> Option<&TensorSpec> {
        self.tensors.iter().find(|t| t.name == name)
    }
}

/// How initialisation, the output head, attention and per-tensor learning
/// rates depend on the width `C` (`d_model`).
///
/// * [`Parametrization::Standard`]: GPT-2 initialisation, logits
///   `lnf · wteᵀ`, attention scores `q·k / √d_head`, one learning rate.
/// * [`Parametrization::Mup`]: the maximal-update parametrisation (Yang et
///   al. 2021, "Tensor Programs V") for Adam, relative to a base width. With
///   `m = C / base_width`:
///   - hidden matrices (`qkv_w`, `attn_proj_w`, `fc_w`, `fc_proj_w`): init
///     std divided by `√m` and AdamW learning rate divided by `m` (weight
///     decay is coupled to the learning rate as in PyTorch's AdamW, so the
///     per-step decay `lr·wd` of these tensors is divided by `m` too, as in
///     the `mup` package's `MuAdamW`);
///   - embeddings (`wte`, `wpe`), biases, LayerNorm: unchanged;
///   - output logits multiplied by `1/m` (the tied head's readout
///     multiplier), forward and backward;
///   - attention scores scaled by `√base_head_dim / d_head` instead of
///     `1/√d_head` (equal when `d_head == base_head_dim`: with the head
///     dimension fixed across widths the attention is unchanged).
///
///   At `C == base_width` and `d_head == base_head_dim` every one of these
///   factors is exactly 1 and the model is bit-for-bit the standard one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "kind")]
pub enum Parametrization {
    #[default]
    Standard,
    Mup {
        base_width: usize,
        base_head_dim: usize,
    },
}

/// Whether tensor `i` of the layout is a hidden (width × width) matrix.
fn is_hidden_matrix(i: usize) -> bool {
    matches!(i, QKVW | PROJW | FCW | FCPW)
}

impl Parametrization {
    /// `m = d_model / base_width` (1 under standard parametrisation).
    pub fn width_mult(&self, d_model: usize) -> f64 {
        match *self {
            Parametrization::Standard => 1.0,
            Parametrization::Mup { base_width, .. } => d_model as f64 / base_width as f64,
        }
    }

    /// The factor applied to the logits (`1/m` under μP).
    pub fn output_mult(&self, d_model: usize) -> f64 {
        1.0 / self.width_mult(d_model)
    }

    /// The attention-score scale for head dimension `head_dim`.
    pub fn attn_scale(&self, head_dim: usize) -> f64 {
        match *self {
            Parametrization::Mup { base_head_dim, .. } if base_head_dim != head_dim => {
                (base_head_dim as f64).sqrt() / head_dim as f64
            }
            _ => 1.0 / (head_dim as f64).sqrt(),
        }
    }

    /// The factor on the standard init std of tensor `i` of the layout.
    pub fn init_std_mult(&self, i: usize, d_model: usize) -> f64 {
        if is_hidden_matrix(i) {
            1.0 / self.width_mult(d_model).sqrt()
        } else {
            1.0
        }
    }

    /// The learning-rate multiplier of every tensor of the layout (all 1
    /// under standard parametrisation), for [`crate::optim::adamw_step`].
    pub fn lr_mults(&self, d_model: usize) -> [f64; N_TENSORS] {
        let m = self.width_mult(d_model);
        std::array::from_fn(|i| if is_hidden_matrix(i) { 1.0 / m } else { 1.0 })
    }

    /// Checks the base shape against the model's: a clear message otherwise.
    pub fn validate(&self, shape: &GptShape) -> Result<(), String> {
        match *self {
            Parametrization::Standard => Ok(()),
            Parametrization::Mup {
                base_width,
                base_head_dim,
            } => {
                if base_width == 0 {
                    return Err("mup_base_width must be at least 1".into());
                }
                if base_head_dim == 0 {
                    return Err("mup_base_head_dim must be at least 1".into());
                }
                let _ = shape;
                Ok(())
            }
        }
    }

    /// `"standard"` or `"mup"`.
    pub fn name(&self) -> &'static str {
        match self {
            Parametrization::Standard => "standard",
            Parametrization::Mup { .. } => "mup",
        }
    }
}

// Indices into the layout, for readability.
const WTE: usize = 0;
const WPE: usize = 1;
const LN1W: usize = 2;
const LN1B: usize = 3;
const QKVW: usize = 4;
const QKVB: usize = 5;
const PROJW: usize = 6;
const PROJB: usize = 7;
const LN2W: usize = 8;
const LN2B: usize = 9;
const FCW: usize = 10;
const FCB: usize = 11;
const FCPW: usize = 12;
const FCPB: usize = 13;
const LNFW: usize = 14;
const LNFB: usize = 15;

/// Activation buffers for one (batch, sequence length), allocated once.
/// Per-layer buffers hold all `L` layers back to back.
#[derive(Debug)]
pub struct Activations<T: Real> {
    /// Sequences held (this replica's share of the step's batch).
    pub batch: usize,
    pub seq: usize,
    /// First row of the step's batch that this replica holds.
    pub row0: usize,
    res: Vec<T>, // (L+1, N, C) residual stream entering each layer, and the final one
    ln1: Vec<T>, // (L, N, C)
    ln1_mean: Vec<T>, // (L, N)
    ln1_rstd: Vec<T>, // (L, N)
    qkv: Vec<T>, // (L, N, 3C)
    atty: Vec<T>, // (L, N, C)
    att: Vec<T>, // (L, B, NH, T, T)
    res2: Vec<T>, // (L, N, C) residual after attention
    ln2: Vec<T>, // (L, N, C)
    ln2_mean: Vec<T>, // (L, N)
    ln2_rstd: Vec<T>, // (L, N)
    fch: Vec<T>, // (L, N, F) MLP pre-activation (GELU recomputed in backward)
    lnf: Vec<T>, // (N, C)
    lnf_mean: Vec<T>, // (N)
    lnf_rstd: Vec<T>, // (N)
    pub logits: Vec<T>, // (N, V), dlogits after backward-enabled forward
    pub losses: Vec<f64>, // (N)
    // scratch, shared by all layers
    gelu: Vec<T>,       // (N, F)
    dres: Vec<T>,       // (N, C)
    dtmp: Vec<T>,       // (N, C)
    dqkv: Vec<T>,       // (N, 3C)
    datt: Vec<T>,       // (threads, T, T)
    ln_scratch: Vec<T>, // (threads, 2C)
}

impl<T: Real> Activations<T> {
    fn new(s: &GptShape, batch: usize, seq: usize, threads: usize, row0: usize) -> Self {
        let (l, c, f, v, nh) = (s.n_layer, s.d_model, s.d_ff, s.vocab, s.n_head);
        let n = batch * seq;
        let z = |len: usize| vec![T::ZERO; len];
        let th = threads.max(1);
        Activations {
            batch,
            seq,
            row0,
            res: z((l + 1) * n * c),
            ln1: z(l * n * c),
            ln1_mean: z(l * n),
            ln1_rstd: z(l * n),
            qkv: z(l * n * 3 * c),
            atty: z(l * n * c),
            att: z(l * batch * nh * seq * seq),
            res2: z(l * n * c),
            ln2: z(l * n * c),
            ln2_mean: z(l * n),
            ln2_rstd: z(l * n),
            fch: z(l * n * f),
            lnf: z(n * c),
            lnf_mean: z(n),
            lnf_rstd: z(n),
            logits: z(n * v),
            losses: vec![0.0; n],
            gelu: z(n * f),
            dres: z(n * c),
            dtmp: z(n * c),
            dqkv: z(n * 3 * c),
            datt: z(th * seq * seq),
            ln_scratch: z(th * 2 * c),
        }
    }

    /// Bytes [`Activations::new`] would allocate for this shape, batch,
    /// sequence length and thread count (checked before allocating).
    pub fn bytes_for(s: &GptShape, batch: usize, seq: usize, threads: usize) -> u128 {
        let (l, c, f, v, nh) = (
            s.n_layer as u128,
            s.d_model as u128,
            s.d_ff as u128,
            s.vocab as u128,
            s.n_head as u128,
        );
        let (b, t, th) = (batch as u128, seq as u128, threads.max(1) as u128);
        let n = b * t;
        let elems = (l + 1) * n * c          // res
            + l * n * (c + 3 * c + c + c + c + f) // ln1, qkv, atty, res2, ln2, fch
            + l * n * 4                     // LayerNorm means and rstds
            + l * b * nh * t * t            // att
            + n * c + 2 * n                 // lnf
            + n * v                         // logits
            + n * (f + c + c + 3 * c)       // scratch
            + th * (t * t + 2 * c);
        elems * std::mem::size_of::<T>() as u128 + n * 8
    }

    /// The residual stream entering layer `l` of the last forward pass
    /// (`l == n_layer`: the final one, before the last LayerNorm), (N, C).
    pub fn residual(&self, l: usize) -> &[T] {
        let nc = self.lnf.len();
        &self.res[l * nc..(l + 1) * nc]
    }

    /// Layer `l`'s attention output (before its output projection) of the
    /// last forward pass, (N, C).
    pub fn attention_out(&self, l: usize) -> &[T] {
        let nc = self.lnf.len();
        &self.atty[l * nc..(l + 1) * nc]
    }

    /// Bytes held by the activation buffers.
    pub fn bytes(&self) -> usize {
        let t = std::mem::size_of::<T>();
        let vecs = [
            &self.res,
            &self.ln1,
            &self.ln1_mean,
            &self.ln1_rstd,
            &self.qkv,
            &self.atty,
            &self.att,
            &self.res2,
            &self.ln2,
            &self.ln2_mean,
            &self.ln2_rstd,
            &self.fch,
            &self.lnf,
            &self.lnf_mean,
            &self.lnf_rstd,
            &self.logits,
            &self.gelu,
            &self.dres,
            &self.dtmp,
            &self.dqkv,
            &self.datt,
            &self.ln_scratch,
        ];
        vecs.iter().map(|v| v.len() * t).sum::<usize>() + self.losses.len() * 8
    }
}

/// A GPT with its flat parameter and gradient buffers.
///
/// # Threads
///
/// With more than one thread and at least as many sequences in the batch as
/// threads, the batch is split into one contiguous share of sequences per
/// thread (a *replica*: its own activation buffers, the same parameters), each
/// replica runs the whole forward and backward single-threaded, and the
/// replicas' weight gradients are summed in replica order. This needs one
/// synchronisation per pass instead of one per operation, which is what small
/// models need. Otherwise (one thread, or inference on one sequence) every
/// operation is split across the threads instead. Either way the result is
/// deterministic for a given thread count.
#[derive(Debug)]
pub struct Gpt<T: Real> {
    pub shape: GptShape,
    pub layout: ParamLayout,
    /// Parameters, laid out as [`ParamLayout`].
    pub params: Vec<T>,
    /// Gradients of the mean loss of the last `backward`, same layout.
    pub grads: Vec<T>,
    /// How the model depends on its width (see [`Parametrization`]).
    pub parametrization: Parametrization,
    threads: usize,
    /// Activation buffers: one per replica, in batch order (empty until
    /// [`Gpt::ensure_activations`]).
    acts: Vec<Activations<T>>,
    /// Gradient buffers of replicas 1.. (replica 0 writes into `grads`).
    grad_parts: Vec<Vec<T>>,
    tokens: Vec<u32>,  // (N) inputs of the step
    targets: Vec<u32>, // (N) next tokens
}

/// How many replicas a batch of `batch` sequences is split into.
fn replica_count(batch: usize, threads: usize) -> usize {
    if threads > 1 && batch >= threads {
        threads
    } else {
        1
    }
}

impl<T: Real> Gpt<T> {
    /// A model with GPT-2 style initialisation from `seed`: matrices and
    /// embeddings normal(0, 0.02), the two residual output projections
    /// normal(0, 0.02/√(2L)), biases 0, LayerNorm gains 1.
    /// The shape must be valid and have a tied head.
    pub fn new(shape: GptShape, seed: u64, threads: usize) -> Self {
        Self::with_parametrization(shape, Parametrization::Standard, seed, threads)
    }

    /// A model under parametrisation `par`: the initialisation of
    /// [`Gpt::new`] with every tensor's std multiplied by
    /// [`Parametrization::init_std_mult`] (the random stream is the same, so
    /// at the base width the parameters are identical to [`Gpt::new`]'s).
    pub fn with_parametrization(
        shape: GptShape,
        par: Parametrization,
        seed: u64,
        threads: usize,
    ) -> Self {
        assert!(
            shape.validate().is_ok() && shape.tied_head,
            "invalid shape {shape:?}"
        );
        let layout = ParamLayout::new(&shape);
        let mut params = vec![T::ZERO; layout.total];
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let resid_std = 0.02 / (2.0 * shape.n_layer as f64).sqrt();
        for (i, t) in layout.tensors.iter().enumerate() {
            let p = &mut params[t.range()];
            match i {
                LN1W | LN2W | LNFW => p.fill(T::ONE),
                QKVB | PROJB | FCB | FCPB | LN1B | LN2B | LNFB => {}
                PROJW | FCPW => {
                    fill_normal(p, resid_std * par.init_std_mult(i, shape.d_model), &mut rng)
                }
                _ => fill_normal(p, 0.02 * par.init_std_mult(i, shape.d_model), &mut rng),
            }
        }
        let mut gpt = Self::from_params(shape, layout, params, threads);
        gpt.parametrization = par;
        gpt
    }

    fn from_params(shape: GptShape, layout: ParamLayout, params: Vec<T>, threads: usize) -> Self {
        let grads = vec![T::ZERO; layout.total];
        Gpt {
            shape,
            layout,
            params,
            grads,
            parametrization: Parametrization::Standard,
            threads: threads.max(1),
            acts: Vec::new(),
            grad_parts: Vec::new(),
            tokens: Vec::new(),
            targets: Vec::new(),
        }
    }

    /// Number of threads (work chunks) the kernels use.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// The parameter tensor called `name`.
    pub fn param(&self, name: &str) -> &[T] {
        &self.params[self.layout.get(name).expect("tensor name").range()]
    }

    /// Sequences per step the activations are allocated for (0 before
    /// [`Gpt::ensure_activations`]).
    pub fn batch(&self) -> usize {
        self.acts.iter().map(|a| a.batch).sum()
    }

    /// Allocates activations for (batch, seq) unless already allocated.
    pub fn ensure_activations(&mut self, batch: usize, seq: usize) {
        assert!(seq <= self.shape.context && seq > 0 && batch > 0);
        let ok = self.batch() == batch && self.acts.first().is_some_and(|a| a.seq == seq);
        if ok {
            return;
        }
        self.acts.clear();
        self.grad_parts.clear();
        let r = replica_count(batch, self.threads);
        let th = if r > 1 { 1 } else { self.threads };
        for i in 0..r {
            let (lo, hi) = (batch * i / r, batch * (i + 1) / r);
            self.acts
                .push(Activations::new(&self.shape, hi - lo, seq, th, lo));
        }
        for _ in 1..r {
            self.grad_parts.push(vec![T::ZERO; self.layout.total]);
        }
        self.tokens = vec![0; batch * seq];
        self.targets = vec![0; batch * seq];
    }

    /// Bytes [`Gpt::ensure_activations`] would allocate for this shape, batch,
    /// sequence length and thread count: the replicas' activations, their
    /// gradient buffers and the token buffers (checked before allocating).
    pub fn activation_bytes_for(s: &GptShape, batch: usize, seq: usize, threads: usize) -> u128 {
        let r = replica_count(batch, threads.max(1));
        let th = if r > 1 { 1 } else { threads };
        let acts: u128 = (0..r)
            .map(|i| {
                let b = batch * (i + 1) / r - batch * i / r;
                Activations::<T>::bytes_for(s, b, seq, th)
            })
            .sum();
        let grads = (r as u128 - 1) * s.params().total as u128 * std::mem::size_of::<T>() as u128;
        acts + grads + (batch * seq) as u128 * 8
    }

    /// Bytes held by the buffers [`Gpt::activation_bytes_for`] counts.
    pub fn activation_bytes(&self) -> usize {
        let t = std::mem::size_of::<T>();
        self.acts.iter().map(|a| a.bytes()).sum::<usize>()
            + self.grad_parts.iter().map(|g| g.len() * t).sum::<usize>()
            + (self.tokens.len() + self.targets.len()) * 4
    }

    /// The activation buffers, one per replica in batch order (empty before
    /// [`Gpt::ensure_activations`]).
    pub fn activations(&self) -> &[Activations<T>] {
        &self.acts
    }

    /// Mutable access to the token and target buffers, (N) each.
    pub fn io_buffers(&mut self) -> (&mut [u32], &mut [u32]) {
        assert!(!self.acts.is_empty(), "activations allocated");
        (&mut self.tokens, &mut self.targets)
    }

    /// The replica holding token row `i` (0..N) and the row within it.
    fn locate(&self, i: usize) -> (&Activations<T>, usize) {
        let seq = self.acts[0].seq;
        let b = i / seq;
        let a = self
            .acts
            .iter()
            .find(|a| b >= a.row0 && b < a.row0 + a.batch)
            .expect("row within the batch");
        (a, i - a.row0 * seq)
    }

    /// Logits (or, after `forward(true)`, d(mean loss)/d(logits)) of token
    /// row `i` of the batch, (V).
    pub fn logits_row(&self, i: usize) -> &[T] {
        let v = self.shape.vocab;
        let (a, r) = self.locate(i);
        &a.logits[r * v..(r + 1) * v]
    }

    /// Cross-entropy (nats) of token row `i` after a forward pass.
    pub fn token_loss(&self, i: usize) -> f64 {
        let (a, r) = self.locate(i);
        a.losses[r]
    }

    /// Forward pass on the tokens and targets already in the token buffers
    /// (see [`Gpt::io_buffers`]). Returns the mean cross-entropy loss
    /// (nats). With `for_backward`, the logits buffers are left holding
    /// d(mean loss)/d(logits) for [`Gpt::backward`]; otherwise they hold the
    /// logits.
    pub fn forward(&mut self, for_backward: bool) -> f64 {
        assert!(!self.acts.is_empty(), "activations allocated");
        let n = self.tokens.len();
        let dscale = for_backward.then(|| T::from_f64(1.0 / n as f64));
        let (s, layout, p) = (&self.shape, &self.layout, &self.params[..]);
        let par = self.parametrization;
        let (tokens, targets) = (&self.tokens[..], &self.targets[..]);
        let th = if self.acts.len() > 1 { 1 } else { self.threads };
        let run = |a: &mut Activations<T>| {
            let rows = a.row0 * a.seq..(a.row0 + a.batch) * a.seq;
            forward_pass(
                s,
                &par,
                layout,
                p,
                a,
                &tokens[rows.clone()],
                &targets[rows],
                dscale,
                th,
            )
        };
        if self.acts.len() == 1 {
            run(&mut self.acts[0]);
        } else {
            use rayon::prelude::*;
            self.acts.par_iter_mut().for_each(run);
        }
        // Summed in token order whatever the split.
        self.acts.iter().flat_map(|a| a.losses.iter()).sum::<f64>() / n as f64
    }

    /// Backward pass after `forward(true)`: overwrites [`Gpt::grads`] with the
    /// gradient of the mean loss.
    pub fn backward(&mut self) {
        assert!(!self.acts.is_empty(), "activations allocated");
        let (s, layout, p) = (&self.shape, &self.layout, &self.params[..]);
        let par = &self.parametrization;
        let tokens = &self.tokens[..];
        let rows = |a: &Activations<T>| a.row0 * a.seq..(a.row0 + a.batch) * a.seq;
        if self.acts.len() == 1 {
            let a = &mut self.acts[0];
            let r = rows(a);
            backward_pass(
                s,
                par,
                layout,
                p,
                a,
                &mut self.grads,
                &tokens[r],
                self.threads,
            );
            return;
        }
        use rayon::prelude::*;
        let (first, rest) = self.acts.split_at_mut(1);
        let grads = &mut self.grads;
        let parts = &mut self.grad_parts;
        rayon::join(
            || {
                let a = &mut first[0];
                let r = rows(a);
                backward_pass(s, par, layout, p, a, grads, &tokens[r], 1)
            },
            || {
                rest.par_iter_mut()
                    .zip(parts.par_iter_mut())
                    .for_each(|(a, g)| {
                        let r = rows(a);
                        backward_pass(s, par, layout, p, a, g, &tokens[r], 1)
                    })
            },
        );
        // grads += parts, in replica order, split over the threads.
        let out = crate::par::SyncPtr::new(self.grads.as_mut_ptr());
        let parts = &self.grad_parts;
        crate::par::for_chunks(self.grads.len(), self.threads, |_, range| {
            // SAFETY: chunks are disjoint ranges of `grads`.
            let g =
                unsafe { std::slice::from_raw_parts_mut(out.get().add(range.start), range.len()) };
            crate::par::simd(|| {
                for part in parts {
                    for (x, y) in g.iter_mut().zip(&part[range.clone()]) {
                        *x += *y;
                    }
                }
            })
        });
    }

    /// Converts the parameters to another scalar type (e.g. f32 → f64 for
    /// gradient checks).
    pub fn cast<U: Real>(&self) -> Gpt<U> {
        let mut g = Gpt::from_params(
            self.shape,
            self.layout.clone(),
            self.params
                .iter()
                .map(|x| U::from_f64(x.to_f64()))
                .collect(),
            self.threads,
        );
        g.parametrization = self.parametrization;
        g
    }
}

/// The whole forward pass of one replica: `tokens` and `targets` are its
/// rows, (B, T) each. Leaves per-token losses in `a.losses` and the logits
/// (or, with `dscale`, dscale·d(loss)/d(logits)) in `a.logits`.
#[allow(clippy::too_many_arguments)]
fn forward_pass<T: Real>(
    s: &GptShape,
    par: &Parametrization,
    layout: &ParamLayout,
    p: &[T],
    a: &mut Activations<T>,
    tokens: &[u32],
    targets: &[u32],
    dscale: Option<T>,
    th: usize,
) {
    let (b, t) = (a.batch, a.seq);
    let (l_n, c, f, v, nh) = (s.n_layer, s.d_model, s.d_ff, s.vocab, s.n_head);
    let n = b * t;
    let lay = &layout.tensors;
    let pt = |i: usize| &p[lay[i].range()];
    let nc = n * c;
    let attn_scale = par.attn_scale(c / nh);

    encoder_forward(&mut a.res[..nc], tokens, pt(WTE), pt(WPE), t, c);
    for l in 0..l_n {
        let res_in = &a.res[l * nc..(l + 1) * nc];
        let ln1 = &mut a.ln1[l * nc..(l + 1) * nc];
        let (m1, r1) = (
            &mut a.ln1_mean[l * n..(l + 1) * n],
            &mut a.ln1_rstd[l * n..(l + 1) * n],
        );
        layernorm_forward(
            ln1,
            m1,
            r1,
            res_in,
            &pt(LN1W)[l * c..(l + 1) * c],
            &pt(LN1B)[l * c..(l + 1) * c],
            c,
            th,
        );
        let qkv = &mut a.qkv[l * 3 * nc..(l + 1) * 3 * nc];
        let w = &pt(QKVW)[l * 3 * c * c..(l + 1) * 3 * c * c];
        matmul_forward(
            qkv,
            ln1,
            w,
            Some(&pt(QKVB)[l * 3 * c..(l + 1) * 3 * c]),
            c,
            3 * c,
            false,
            th,
        );
        let atty = &mut a.atty[l * nc..(l + 1) * nc];
        let att_len = b * nh * t * t;
        let att = &mut a.att[l * att_len..(l + 1) * att_len];
        attention_forward_scaled(atty, att, qkv, b, t, c, nh, attn_scale, th);
        let res2 = &mut a.res2[l * nc..(l + 1) * nc];
        copy(res2, res_in, th);
        let w = &pt(PROJW)[l * c * c..(l + 1) * c * c];
        matmul_forward(
            res2,
            atty,
            w,
            Some(&pt(PROJB)[l * c..(l + 1) * c]),
            c,
            c,
            true,
            th,
        );
        let ln2 = &mut a.ln2[l * nc..(l + 1) * nc];
        let (m2, r2) = (
            &mut a.ln2_mean[l * n..(l + 1) * n],
            &mut a.ln2_rstd[l * n..(l + 1) * n],
        );
        layernorm_forward(
            ln2,
            m2,
            r2,
            res2,
            &pt(LN2W)[l * c..(l + 1) * c],
            &pt(LN2B)[l * c..(l + 1) * c],
            c,
            th,
        );
        let fch = &mut a.fch[l * n * f..(l + 1) * n * f];
        let w = &pt(FCW)[l * f * c..(l + 1) * f * c];
        matmul_forward(
            fch,
            ln2,
            w,
            Some(&pt(FCB)[l * f..(l + 1) * f]),
            c,
            f,
            false,
            th,
        );
        gelu_forward(&mut a.gelu, fch, th);
        let (res_done, res_next) = a.res.split_at_mut((l + 1) * nc);
        let _ = res_done;
        let res_out = &mut res_next[..nc];
        copy(res_out, res2, th);
        let w = &pt(FCPW)[l * c * f..(l + 1) * c * f];
        matmul_forward(
            res_out,
            &a.gelu,
            w,
            Some(&pt(FCPB)[l * c..(l + 1) * c]),
            f,
            c,
            true,
            th,
        );
    }
    let res_last = &a.res[l_n * nc..(l_n + 1) * nc];
    layernorm_forward(
        &mut a.lnf,
        &mut a.lnf_mean,
        &mut a.lnf_rstd,
        res_last,
        pt(LNFW),
        pt(LNFB),
        c,
        th,
    );
    matmul_forward(&mut a.logits, &a.lnf, pt(WTE), None, c, v, false, th);
    let out_mult = par.output_mult(c);
    if out_mult != 1.0 {
        scale_inplace(&mut a.logits, T::from_f64(out_mult), th);
    }
    crossentropy_forward_backward(&mut a.logits, &mut a.losses, targets, v, dscale, th);
}

/// The whole backward pass of one replica after [`forward_pass`] with
/// `dscale`: overwrites `g` with its rows' gradient.
#[allow(clippy::too_many_arguments)]
fn backward_pass<T: Real>(
    s: &GptShape,
    par: &Parametrization,
    layout: &ParamLayout,
    p: &[T],
    a: &mut Activations<T>,
    g: &mut [T],
    tokens: &[u32],
    th: usize,
) {
    let (b, t) = (a.batch, a.seq);
    let (l_n, c, f, v, nh) = (s.n_layer, s.d_model, s.d_ff, s.vocab, s.n_head);
    let n = b * t;
    let nc = n * c;
    let lay = &layout.tensors;
    let pt = |i: usize| &p[lay[i].range()];
    zero(g, th);
    // Split the gradient buffer into its tensors.
    let mut rest: &mut [T] = g;
    let mut views: [&mut [T]; N_TENSORS] = Default::default();
    for (i, spec) in lay.iter().enumerate() {
        let (head, tail) = std::mem::take(&mut rest).split_at_mut(spec.len());
        views[i] = head;
        rest = tail;
    }
    let [dwte, dwpe, dln1w, dln1b, dqkvw, dqkvb, dprojw, dprojb, dln2w, dln2b, dfcw, dfcb, dfcpw, dfcpb, dlnfw, dlnfb] =
        views;
    let _ = v;

    // Output head (tied): logits = out_mult · lnf · wteᵀ, so the gradient
    // reaching the matmul is out_mult · dlogits.
    let out_mult = par.output_mult(c);
    if out_mult != 1.0 {
        scale_inplace(&mut a.logits, T::from_f64(out_mult), th);
    }
    let attn_scale = par.attn_scale(c / nh);
    matmul_backward_params(dwte, None, &a.logits, &a.lnf, c, v, th);
    matmul_backward_input(&mut a.dtmp, &a.logits, pt(WTE), c, v, th);
    zero(&mut a.dres, th);
    let res_last = &a.res[l_n * nc..(l_n + 1) * nc];
    layernorm_backward(
        &mut a.dres,
        dlnfw,
        dlnfb,
        &mut a.ln_scratch,
        &a.dtmp,
        res_last,
        &a.lnf_mean,
        &a.lnf_rstd,
        pt(LNFW),
        c,
        th,
    );
    for l in (0..l_n).rev() {
        let lc = l * c..(l + 1) * c;
        let fch = &a.fch[l * n * f..(l + 1) * n * f];
        // MLP: res_{l+1} = res2 + gelu(fch) · fc_projᵀ + b
        gelu_forward(&mut a.gelu, fch, th);
        let w_range = l * c * f..(l + 1) * c * f;
        matmul_backward_params(
            &mut dfcpw[w_range.clone()],
            Some(&mut dfcpb[lc.clone()]),
            &a.dres,
            &a.gelu,
            f,
            c,
            th,
        );
        matmul_backward_input(&mut a.gelu, &a.dres, &pt(FCPW)[w_range], f, c, th);
        gelu_backward_inplace(&mut a.gelu, fch, th);
        let ln2 = &a.ln2[l * nc..(l + 1) * nc];
        let w_range = l * f * c..(l + 1) * f * c;
        matmul_backward_params(
            &mut dfcw[w_range.clone()],
            Some(&mut dfcb[l * f..(l + 1) * f]),
            &a.gelu,
            ln2,
            c,
            f,
            th,
        );
        matmul_backward_input(&mut a.dtmp, &a.gelu, &pt(FCW)[w_range], c, f, th);
        let res2 = &a.res2[l * nc..(l + 1) * nc];
        layernorm_backward(
            &mut a.dres,
            &mut dln2w[lc.clone()],
            &mut dln2b[lc.clone()],
            &mut a.ln_scratch,
            &a.dtmp,
            res2,
            &a.ln2_mean[l * n..(l + 1) * n],
            &a.ln2_rstd[l * n..(l + 1) * n],
            &pt(LN2W)[lc.clone()],
            c,
            th,
        );
        // Attention: res2 = res_l + atty · projᵀ + b
        let atty = &a.atty[l * nc..(l + 1) * nc];
        let w_range = l * c * c..(l + 1) * c * c;
        matmul_backward_params(
            &mut dprojw[w_range.clone()],
            Some(&mut dprojb[lc.clone()]),
            &a.dres,
            atty,
            c,
            c,
            th,
        );
        matmul_backward_input(&mut a.dtmp, &a.dres, &pt(PROJW)[w_range], c, c, th);
        let att_len = b * nh * t * t;
        let qkv = &a.qkv[l * 3 * nc..(l + 1) * 3 * nc];
        attention_backward_scaled(
            &mut a.dqkv,
            &mut a.datt,
            &a.dtmp,
            qkv,
            &a.att[l * att_len..(l + 1) * att_len],
            b,
            t,
            c,
            nh,
            attn_scale,
            th,
        );
        let ln1 = &a.ln1[l * nc..(l + 1) * nc];
        let w_range = l * 3 * c * c..(l + 1) * 3 * c * c;
        let b_range = l * 3 * c..(l + 1) * 3 * c;
        matmul_backward_params(
            &mut dqkvw[w_range.clone()],
            Some(&mut dqkvb[b_range]),
            &a.dqkv,
            ln1,
            c,
            3 * c,
            th,
        );
        matmul_backward_input(&mut a.dtmp, &a.dqkv, &pt(QKVW)[w_range], c, 3 * c, th);
        let res_in = &a.res[l * nc..(l + 1) * nc];
        layernorm_backward(
            &mut a.dres,
            &mut dln1w[lc.clone()],
            &mut dln1b[lc.clone()],
            &mut a.ln_scratch,
            &a.dtmp,
            res_in,
            &a.ln1_mean[l * n..(l + 1) * n],
            &a.ln1_rstd[l * n..(l + 1) * n],
            &pt(LN1W)[lc],
            c,
            th,
        );
    }
    encoder_backward(dwte, dwpe, &a.dres, tokens, t, c, th);
}

fn fill_normal<T: Real>(p: &mut [T], std: f64, rng: &mut ChaCha8Rng) {
    // Box–Muller, written out so the stream is fixed by this code alone.
    let mut i = 0;
    while i < p.len() {
        let u1: f64 = 1.0 - rng.gen::<f64>();
        let u2: f64 = rng.gen::<f64>();
        let r = (-2.0 * u1.ln()).sqrt() * std;
        let th = 2.0 * std::f64::consts::PI * u2;
        p[i] = T::from_f64(r * th.cos());
        if i + 1 < p.len() {
            p[i + 1] = T::from_f64(r * th.sin());
        }
        i += 2;
    }
}
