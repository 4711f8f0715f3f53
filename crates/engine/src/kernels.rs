//! The layers: one forward and one backward function each, with tensor shapes
//! in the doc comment. `N = B·T` is the number of token positions, `C` the
//! width, `F` the MLP width, `NH` the number of heads, `hs = C/NH`, `V` the
//! vocabulary. All tensors are row-major, contiguous, in one of the flat
//! buffers described in `model.rs`.
//!
//! Conventions, chosen so that nothing is allocated per step and so that a
//! GPU backend can implement the same functions on the same buffers:
//! * forward functions overwrite their outputs;
//! * backward functions *accumulate* (`+=`) into parameter gradients, and
//!   either overwrite or accumulate into input gradients as documented
//!   (LayerNorm backward accumulates, so the residual-stream gradient is
//!   updated in place);
//! * `threads` is the number of chunks work is split into (deterministic for
//!   a given value); loops run on the current rayon pool.

use crate::par::{for_chunks, simd, SyncPtr};
use crate::real::Real;
use gemm::Parallelism;

/// Independent partial sums in reductions: strict floating-point order
/// would otherwise keep sums and maxima scalar.
const LANES: usize = 16;

/// `Σ f(i)` for `i` in `0..n`, accumulated in [`LANES`] partial sums (so the
/// loop vectorises) combined in a fixed order (so it stays deterministic).
#[inline(always)]
fn lane_sum<T: Real>(n: usize, mut f: impl FnMut(usize) -> T) -> T {
    let mut acc = [T::ZERO; LANES];
    let full = n / LANES * LANES;
    let mut i = 0;
    while i < full {
        for (l, a) in acc.iter_mut().enumerate() {
            *a += f(i + l);
        }
        i += LANES;
    }
    let mut s = T::ZERO;
    for j in full..n {
        s += f(j);
    }
    for a in acc {
        s += a;
    }
    s
}

/// The maximum of a non-empty slice, vectorisably.
#[inline(always)]
fn lane_max<T: Real>(x: &[T]) -> T {
    let mut acc = [x[0]; LANES];
    let mut chunks = x.chunks_exact(LANES);
    for ch in &mut chunks {
        for l in 0..LANES {
            acc[l] = acc[l].max(ch[l]);
        }
    }
    let mut m = x[0];
    for &v in chunks.remainder() {
        m = m.max(v);
    }
    for a in acc {
        m = m.max(a);
    }
    m
}

/// LayerNorm epsilon (as PyTorch's default).
pub const LN_EPS: f64 = 1e-5;

fn parallelism(threads: usize) -> Parallelism {
    if threads > 1 {
        Parallelism::Rayon(threads)
    } else {
        Parallelism::None
    }
}

/// `dst (m×n) = [dst +] scale · lhs (m×k) · rhs (k×n)` for strided matrices
/// (`*_rs` row stride, `*_cs` column stride, in elements).
///
/// # Safety
/// The pointers must be valid for the strided extents given, and `dst` must
/// not overlap `lhs` or `rhs`.
#[allow(clippy::too_many_arguments)]
#[inline]
pub(crate) unsafe fn gemm_raw<T: Real>(
    m: usize,
    n: usize,
    k: usize,
    dst: *mut T,
    dst_rs: usize,
    dst_cs: usize,
    accumulate: bool,
    lhs: *const T,
    lhs_rs: usize,
    lhs_cs: usize,
    rhs: *const T,
    rhs_rs: usize,
    rhs_cs: usize,
    scale: T,
    threads: usize,
) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            for i in 0..m {
                for j in 0..n {
                    *dst.add(i * dst_rs + j * dst_cs) = T::ZERO;
                }
            }
        }
        return;
    }
    gemm::gemm(
        m,
        n,
        k,
        dst,
        dst_cs as isize,
        dst_rs as isize,
        accumulate,
        lhs,
        lhs_cs as isize,
        lhs_rs as isize,
        rhs,
        rhs_cs as isize,
        rhs_rs as isize,
        T::ONE,
        scale,
        false,
        false,
        false,
        parallelism(threads),
    );
}

// ---------------------------------------------------------------------------
// Embedding

/// Encoder forward: `out[n] = wte[tokens[n]] + wpe[n mod T]`.
/// out (N, C), tokens (N), wte (V, C), wpe (≥T, C).
pub fn encoder_forward<T: Real>(
    out: &mut [T],
    tokens: &[u32],
    wte: &[T],
    wpe: &[T],
    t: usize,
    c: usize,
) {
    for (n, row) in out.chunks_exact_mut(c).enumerate() {
        let tok = tokens[n] as usize;
        let pos = n % t;
        let e = &wte[tok * c..(tok + 1) * c];
        let p = &wpe[pos * c..(pos + 1) * c];
        for i in 0..c {
            row[i] = e[i] + p[i];
        }
    }
}

/// Encoder backward: `dwte[tokens[n]] += dout[n]`, `dwpe[n mod T] += dout[n]`.
/// dwte (V, C), dwpe (≥T, C), dout (N, C), tokens (N). Parallel over column
/// ranges, rows in order, so the result is deterministic.
#[allow(clippy::too_many_arguments)]
pub fn encoder_backward<T: Real>(
    dwte: &mut [T],
    dwpe: &mut [T],
    dout: &[T],
    tokens: &[u32],
    t: usize,
    c: usize,
    threads: usize,
) {
    let pte = SyncPtr::new(dwte.as_mut_ptr());
    let ppe = SyncPtr::new(dwpe.as_mut_ptr());
    let rows = tokens.len();
    for_chunks(c, threads, |_, cols| {
        for n in 0..rows {
            let tok = tokens[n] as usize;
            let pos = n % t;
            let d = &dout[n * c..(n + 1) * c];
            for i in cols.clone() {
                unsafe {
                    *pte.get().add(tok * c + i) += d[i];
                    *ppe.get().add(pos * c + i) += d[i];
                }
            }
        }
    });
}

// ---------------------------------------------------------------------------
// LayerNorm

/// LayerNorm forward: `out = (x − mean)·rstd·w + b` per row.
/// out (N, C), mean (N), rstd (N), inp (N, C), w (C), b (C).
#[allow(clippy::too_many_arguments)]
pub fn layernorm_forward<T: Real>(
    out: &mut [T],
    mean: &mut [T],
    rstd: &mut [T],
    inp: &[T],
    w: &[T],
    b: &[T],
    c: usize,
    threads: usize,
) {
    let rows = mean.len();
    let po = SyncPtr::new(out.as_mut_ptr());
    let pm = SyncPtr::new(mean.as_mut_ptr());
    let pr = SyncPtr::new(rstd.as_mut_ptr());
    let inv_c = T::from_f64(1.0 / c as f64);
    let eps = T::from_f64(LN_EPS);
    for_chunks(rows, threads, |_, range| {
        simd(
            #[inline(always)]
            || {
                for r in range {
                    let x = &inp[r * c..(r + 1) * c];
                    let o = unsafe { std::slice::from_raw_parts_mut(po.get().add(r * c), c) };
                    let m = lane_sum(c, |i| x[i]) * inv_c;
                    let v = lane_sum(c, |i| {
                        let d = x[i] - m;
                        d * d
                    });
                    let rs = T::ONE / (v * inv_c + eps).sqrt();
                    for i in 0..c {
                        o[i] = (x[i] - m) * rs * w[i] + b[i];
                    }
                    unsafe {
                        *pm.get().add(r) = m;
                        *pr.get().add(r) = rs;
                    }
                }
            },
        )
    });
}

/// LayerNorm backward. dinp (N, C) is **accumulated** into; dw (C) and db (C)
/// are accumulated into; dout (N, C), inp (N, C), mean (N), rstd (N), w (C).
/// `scratch` holds `2·C·threads` values for per-chunk partial sums, reduced
/// in chunk order.
#[allow(clippy::too_many_arguments)]
pub fn layernorm_backward<T: Real>(
    dinp: &mut [T],
    dw: &mut [T],
    db: &mut [T],
    scratch: &mut [T],
    dout: &[T],
    inp: &[T],
    mean: &[T],
    rstd: &[T],
    w: &[T],
    c: usize,
    threads: usize,
) {
    let rows = mean.len();
    let chunks = threads.max(1).min(rows.max(1));
    let scratch = &mut scratch[..2 * c * chunks];
    scratch.fill(T::ZERO);
    let pd = SyncPtr::new(dinp.as_mut_ptr());
    let ps = SyncPtr::new(scratch.as_mut_ptr());
    let inv_c = T::from_f64(1.0 / c as f64);
    for_chunks(rows, chunks, |ch, range| {
        simd(
            #[inline(always)]
            || {
                let part =
                    unsafe { std::slice::from_raw_parts_mut(ps.get().add(2 * c * ch), 2 * c) };
                let (pdw, pdb) = part.split_at_mut(c);
                for r in range {
                    let x = &inp[r * c..(r + 1) * c];
                    let dy = &dout[r * c..(r + 1) * c];
                    let di = unsafe { std::slice::from_raw_parts_mut(pd.get().add(r * c), c) };
                    let m = mean[r];
                    let rs = rstd[r];
                    let dnorm_mean = lane_sum(c, |i| w[i] * dy[i]) * inv_c;
                    let dnorm_norm_mean = lane_sum(c, |i| w[i] * dy[i] * ((x[i] - m) * rs)) * inv_c;
                    for i in 0..c {
                        let norm = (x[i] - m) * rs;
                        let dnorm = w[i] * dy[i];
                        pdb[i] += dy[i];
                        pdw[i] += norm * dy[i];
                        di[i] += (dnorm - dnorm_mean - norm * dnorm_norm_mean) * rs;
                    }
                }
            },
        )
    });
    for ch in 0..chunks {
        let part = &scratch[2 * c * ch..2 * c * (ch + 1)];
        for i in 0..c {
            dw[i] += part[i];
            db[i] += part[c + i];
        }
    }
}

// ---------------------------------------------------------------------------
// Linear layers

/// Linear forward: `out = [out +] inp · wᵀ + bias`.
/// out (N, OC), inp (N, C), w (OC, C), bias (OC). With `accumulate` the
/// product is added to what `out` holds (used to fuse residual additions).
#[allow(clippy::too_many_arguments)]
pub fn matmul_forward<T: Real>(
    out: &mut [T],
    inp: &[T],
    w: &[T],
    bias: Option<&[T]>,
    c: usize,
    oc: usize,
    accumulate: bool,
    threads: usize,
) {
    let rows = inp.len() / c;
    debug_assert_eq!(out.len(), rows * oc);
    debug_assert_eq!(w.len(), oc * c);
    let read_dst = accumulate || bias.is_some();
    // Threads take contiguous row ranges (bias first, then one
    // single-threaded gemm): one synchronisation per product, deterministic.
    let (po, pi, pw) = (SyncPtr::new(out.as_mut_ptr()), cptr(inp), cptr(w));
    for_chunks(rows, threads, |_, r| unsafe {
        if let Some(b) = bias {
            let rows_out = std::slice::from_raw_parts_mut(po.get().add(r.start * oc), r.len() * oc);
            simd(
                #[inline(always)]
                || {
                    for row in rows_out.chunks_exact_mut(oc) {
                        if accumulate {
                            for i in 0..oc {
                                row[i] += b[i];
                            }
                        } else {
                            row.copy_from_slice(b);
                        }
                    }
                },
            );
        }
        gemm_raw(
            r.len(),
            oc,
            c,
            po.get().add(r.start * oc),
            oc,
            1,
            read_dst,
            pi.get().add(r.start * c),
            c,
            1,
            pw.get(),
            1,
            c,
            T::ONE,
            1,
        );
    });
}

/// A shared read-only pointer for parallel gemm calls.
fn cptr<T>(x: &[T]) -> SyncPtr<T> {
    SyncPtr::new(x.as_ptr() as *mut T)
}

/// Linear backward, parameter part: `dw += doutᵀ · inp`, `dbias += Σ_n dout[n]`.
/// dw (OC, C), dbias (OC), dout (N, OC), inp (N, C).
pub fn matmul_backward_params<T: Real>(
    dw: &mut [T],
    dbias: Option<&mut [T]>,
    dout: &[T],
    inp: &[T],
    c: usize,
    oc: usize,
    threads: usize,
) {
    let rows = inp.len() / c;
    // Threads take ranges of dw's rows (output features).
    let (pw, pd, pi) = (SyncPtr::new(dw.as_mut_ptr()), cptr(dout), cptr(inp));
    for_chunks(oc, threads, |_, r| unsafe {
        gemm_raw(
            r.len(),
            c,
            rows,
            pw.get().add(r.start * c),
            c,
            1,
            true,
            pd.get().add(r.start),
            1,
            oc,
            pi.get(),
            c,
            1,
            T::ONE,
            1,
        );
    });
    if let Some(db) = dbias {
        let p = SyncPtr::new(db.as_mut_ptr());
        for_chunks(oc, threads, |_, cols| {
            simd(
                #[inline(always)]
                || {
                    let db = unsafe {
                        std::slice::from_raw_parts_mut(p.get().add(cols.start), cols.len())
                    };
                    for n in 0..rows {
                        let d = &dout[n * oc + cols.start..n * oc + cols.end];
                        for i in 0..d.len() {
                            db[i] += d[i];
                        }
                    }
                },
            )
        });
    }
}

/// Linear backward, input part: `dinp = dout · w` (overwritten).
/// dinp (N, C), dout (N, OC), w (OC, C).
pub fn matmul_backward_input<T: Real>(
    dinp: &mut [T],
    dout: &[T],
    w: &[T],
    c: usize,
    oc: usize,
    threads: usize,
) {
    let rows = dout.len() / oc;
    let (pi, pd, pw) = (SyncPtr::new(dinp.as_mut_ptr()), cptr(dout), cptr(w));
    for_chunks(rows, threads, |_, r| unsafe {
        gemm_raw(
            r.len(),
            c,
            oc,
            pi.get().add(r.start * c),
            c,
            1,
            false,
            pd.get().add(r.start * oc),
            oc,
            1,
            pw.get(),
            c,
            1,
            T::ONE,
            1,
        );
    });
}

// ---------------------------------------------------------------------------
// GELU (tanh approximation)

const GELU_S: f64 = 0.797_884_560_802_865_4; // sqrt(2/π)
const GELU_K: f64 = 0.044_715;

/// GELU forward: `out = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))`.
/// out (N, F), inp (N, F).
pub fn gelu_forward<T: Real>(out: &mut [T], inp: &[T], threads: usize) {
    let n = inp.len();
    let po = SyncPtr::new(out.as_mut_ptr());
    let s = T::from_f64(GELU_S);
    let k = T::from_f64(GELU_K);
    let half = T::from_f64(0.5);
    for_chunks(n, threads, |_, range| {
        simd(
            #[inline(always)]
            || {
                let o = unsafe {
                    std::slice::from_raw_parts_mut(po.get().add(range.start), range.len())
                };
                let x = &inp[range];
                for i in 0..x.len() {
                    let xi = x[i];
                    let u = s * (xi + k * xi * xi * xi);
                    o[i] = half * xi * (T::ONE + u.tanh());
                }
            },
        )
    });
}

/// GELU backward, in place: `d = d · gelu'(x)`.
/// d (N, F) holds dout on entry and dinp on exit; inp (N, F) is the GELU input.
pub fn gelu_backward_inplace<T: Real>(d: &mut [T], inp: &[T], threads: usize) {
    let n = inp.len();
    let pd = SyncPtr::new(d.as_mut_ptr());
    let s = T::from_f64(GELU_S);
    let k = T::from_f64(GELU_K);
    let k3 = T::from_f64(3.0 * GELU_K);
    let half = T::from_f64(0.5);
    for_chunks(n, threads, |_, range| {
        simd(
            #[inline(always)]
            || {
                let d = unsafe {
                    std::slice::from_raw_parts_mut(pd.get().add(range.start), range.len())
                };
                let x = &inp[range];
                for i in 0..x.len() {
                    let xi = x[i];
                    let x2 = xi * xi;
                    let u = s * (xi + k * x2 * xi);
                    let t = u.tanh();
                    let du = s * (T::ONE + k3 * x2);
                    let g = half * (T::ONE + t) + half * xi * (T::ONE - t * t) * du;
                    d[i] *= g;
                }
            },
        )
    });
}

// ---------------------------------------------------------------------------
// Causal self-attention

/// Row-block size for the causal attention products (blocks above the
/// diagonal are skipped).
const ATT_BLOCK: usize = 64;

/// Attention forward.
/// out (B, T, C), att (B, NH, T, T) softmax probabilities (zero above the
/// diagonal), qkv (B, T, 3C) with q, k, v at column offsets 0, C, 2C and head
/// `h` at `h·hs` within each.
#[allow(clippy::too_many_arguments)]
pub fn attention_forward<T: Real>(
    out: &mut [T],
    att: &mut [T],
    qkv: &[T],
    b: usize,
    t: usize,
    c: usize,
    nh: usize,
    threads: usize,
) {
    let scale = 1.0 / ((c / nh) as f64).sqrt();
    attention_forward_scaled(out, att, qkv, b, t, c, nh, scale, threads)
}

/// [`attention_forward`] with scores `scale · q·k` instead of `q·k / √hs`
/// (μP's attention scaling).
#[allow(clippy::too_many_arguments)]
pub fn attention_forward_scaled<T: Real>(
    out: &mut [T],
    att: &mut [T],
    qkv: &[T],
    b: usize,
    t: usize,
    c: usize,
    nh: usize,
    scale: f64,
    threads: usize,
) {
    let hs = c / nh;
    let scale = T::from_f64(scale);
    let po = SyncPtr::new(out.as_mut_ptr());
    let pa = SyncPtr::new(att.as_mut_ptr());
    let c3 = 3 * c;
    for_chunks(b * nh, threads, |_, range| {
        for bh in range {
            let (bi, h) = (bh / nh, bh % nh);
            let q = unsafe { qkv.as_ptr().add(bi * t * c3 + h * hs) };
            let k = unsafe { q.add(c) };
            let v = unsafe { q.add(2 * c) };
            let a = unsafe { pa.get().add(bh * t * t) };
            let o = unsafe { po.get().add(bi * t * c + h * hs) };
            let mut r0 = 0;
            while r0 < t {
                let r1 = (r0 + ATT_BLOCK).min(t);
                // S[r0..r1, 0..r1] = scale · Q[r0..r1] · K[0..r1]ᵀ
                unsafe {
                    gemm_raw(
                        r1 - r0,
                        r1,
                        hs,
                        a.add(r0 * t),
                        t,
                        1,
                        false,
                        q.add(r0 * c3),
                        c3,
                        1,
                        k,
                        1,
                        c3,
                        scale,
                        1,
                    );
                }
                // causal softmax of each row
                for row in r0..r1 {
                    let p = unsafe { std::slice::from_raw_parts_mut(a.add(row * t), t) };
                    softmax_causal_row(p, row + 1);
                }
                // out[r0..r1] = P[r0..r1, 0..r1] · V[0..r1]
                unsafe {
                    gemm_raw(
                        r1 - r0,
                        hs,
                        r1,
                        o.add(r0 * c),
                        c,
                        1,
                        false,
                        a.add(r0 * t),
                        t,
                        1,
                        v,
                        c3,
                        1,
                        T::ONE,
                        1,
                    );
                }
                r0 = r1;
            }
        }
    });
}

/// Softmax over the first `len` entries of `p` in place; entries from `len`
/// on are set to zero (the causal mask).
#[inline]
fn softmax_causal_row<T: Real>(p: &mut [T], len: usize) {
    simd(
        #[inline(always)]
        || {
            let (live, masked) = p.split_at_mut(len);
            let m = lane_max(live);
            let s = lane_sum(len, |j| {
                let e = (live[j] - m).exp();
                live[j] = e;
                e
            });
            let inv = T::ONE / s;
            for x in live.iter_mut() {
                *x *= inv;
            }
            for x in masked.iter_mut() {
                *x = T::ZERO;
            }
        },
    )
}

/// Attention backward. dqkv (B, T, 3C) is **overwritten**; `scratch` holds
/// `T·T·threads` values; dout (B, T, C), qkv (B, T, 3C), att (B, NH, T, T).
#[allow(clippy::too_many_arguments)]
pub fn attention_backward<T: Real>(
    dqkv: &mut [T],
    scratch: &mut [T],
    dout: &[T],
    qkv: &[T],
    att: &[T],
    b: usize,
    t: usize,
    c: usize,
    nh: usize,
    threads: usize,
) {
    let scale = 1.0 / ((c / nh) as f64).sqrt();
    attention_backward_scaled(dqkv, scratch, dout, qkv, att, b, t, c, nh, scale, threads)
}

/// [`attention_backward`] for [`attention_forward_scaled`] with `scale`.
#[allow(clippy::too_many_arguments)]
pub fn attention_backward_scaled<T: Real>(
    dqkv: &mut [T],
    scratch: &mut [T],
    dout: &[T],
    qkv: &[T],
    att: &[T],
    b: usize,
    t: usize,
    c: usize,
    nh: usize,
    scale: f64,
    threads: usize,
) {
    let hs = c / nh;
    let scale = T::from_f64(scale);
    let c3 = 3 * c;
    let chunks = threads.max(1).min(b * nh);
    let pdq = SyncPtr::new(dqkv.as_mut_ptr());
    let ps = SyncPtr::new(scratch[..t * t * chunks].as_mut_ptr());
    for_chunks(b * nh, chunks, |ch, range| {
        let dp = unsafe { ps.get().add(ch * t * t) };
        for bh in range {
            let (bi, h) = (bh / nh, bh % nh);
            let q = unsafe { qkv.as_ptr().add(bi * t * c3 + h * hs) };
            let k = unsafe { q.add(c) };
            let v = unsafe { q.add(2 * c) };
            let dq = unsafe { pdq.get().add(bi * t * c3 + h * hs) };
            let dk = unsafe { dq.add(c) };
            let dv = unsafe { dq.add(2 * c) };
            let p = unsafe { att.as_ptr().add(bh * t * t) };
            let d_o = unsafe { dout.as_ptr().add(bi * t * c + h * hs) };
            let mut r0 = 0;
            while r0 < t {
                let r1 = (r0 + ATT_BLOCK).min(t);
                unsafe {
                    // dP[r0..r1, 0..r1] = dO[r0..r1] · V[0..r1]ᵀ
                    gemm_raw(
                        r1 - r0,
                        r1,
                        hs,
                        dp.add(r0 * t),
                        t,
                        1,
                        false,
                        d_o.add(r0 * c),
                        c,
                        1,
                        v,
                        1,
                        c3,
                        T::ONE,
                        1,
                    );
                    // dV[r0..r1] = P[r0..T, r0..r1]ᵀ · dO[r0..T]
                    gemm_raw(
                        r1 - r0,
                        hs,
                        t - r0,
                        dv.add(r0 * c3),
                        c3,
                        1,
                        false,
                        p.add(r0 * t + r0),
                        1,
                        t,
                        d_o.add(r0 * c),
                        c,
                        1,
                        T::ONE,
                        1,
                    );
                }
                // dS = scale · P ⊙ (dP − rowsum(P ⊙ dP)), zero above the diagonal
                for row in r0..r1 {
                    let pr = unsafe { std::slice::from_raw_parts(p.add(row * t), r1) };
                    let dr = unsafe { std::slice::from_raw_parts_mut(dp.add(row * t), r1) };
                    simd(
                        #[inline(always)]
                        || {
                            let len = row + 1;
                            let dot = lane_sum(len, |j| pr[j] * dr[j]);
                            for j in 0..len {
                                dr[j] = scale * pr[j] * (dr[j] - dot);
                            }
                            for x in dr[len..].iter_mut() {
                                *x = T::ZERO;
                            }
                        },
                    );
                }
                r0 = r1;
            }
            let mut r0 = 0;
            while r0 < t {
                let r1 = (r0 + ATT_BLOCK).min(t);
                unsafe {
                    // dQ[r0..r1] = dS[r0..r1, 0..r1] · K[0..r1]
                    gemm_raw(
                        r1 - r0,
                        hs,
                        r1,
                        dq.add(r0 * c3),
                        c3,
                        1,
                        false,
                        dp.add(r0 * t),
                        t,
                        1,
                        k,
                        c3,
                        1,
                        T::ONE,
                        1,
                    );
                    // dK[r0..r1] = dS[r0..T, r0..r1]ᵀ · Q[r0..T]
                    gemm_raw(
                        r1 - r0,
                        hs,
                        t - r0,
                        dk.add(r0 * c3),
                        c3,
                        1,
                        false,
                        dp.add(r0 * t + r0),
                        1,
                        t,
                        q.add(r0 * c3),
                        c3,
                        1,
                        T::ONE,
                        1,
                    );
                }
                r0 = r1;
            }
        }
    });
}

// ---------------------------------------------------------------------------
// Output head: softmax + cross-entropy, fused

/// Fused softmax cross-entropy over logits (N, V) with targets (N); writes
/// per-position losses (N). With `dscale = Some(s)` the logits are replaced
/// in place by `dloss/dlogits · s` = `(softmax − onehot(target)) · s`
/// (one pass less over the largest activation); otherwise they are left
/// unchanged.
pub fn crossentropy_forward_backward<T: Real>(
    logits: &mut [T],
    losses: &mut [f64],
    targets: &[u32],
    v: usize,
    dscale: Option<T>,
    threads: usize,
) {
    let rows = targets.len();
    let pl = SyncPtr::new(logits.as_mut_ptr());
    let ploss = SyncPtr::new(losses.as_mut_ptr());
    for_chunks(rows, threads, |_, range| {
        for r in range {
            let row = unsafe { std::slice::from_raw_parts_mut(pl.get().add(r * v), v) };
            let tgt = targets[r] as usize;
            let target_logit = row[tgt];
            let (m, s) = simd(
                #[inline(always)]
                || {
                    let m = lane_max(row);
                    let s = if dscale.is_some() {
                        lane_sum(v, |j| {
                            let e = (row[j] - m).exp();
                            row[j] = e;
                            e
                        })
                    } else {
                        lane_sum(v, |j| (row[j] - m).exp())
                    };
                    (m, s)
                },
            );
            let loss = s.to_f64().ln() + m.to_f64() - target_logit.to_f64();
            unsafe { *ploss.get().add(r) = loss };
            if let Some(ds) = dscale {
                let f = ds / s;
                simd(
                    #[inline(always)]
                    || {
                        for x in row.iter_mut() {
                            *x *= f;
                        }
                    },
                );
                row[tgt] -= ds;
            }
        }
    });
}

// ---------------------------------------------------------------------------
// Residual copy

/// `dst = 0` in parallel.
pub fn zero<T: Real>(dst: &mut [T], threads: usize) {
    let p = SyncPtr::new(dst.as_mut_ptr());
    for_chunks(dst.len(), threads, |_, r| {
        let d = unsafe { std::slice::from_raw_parts_mut(p.get().add(r.start), r.len()) };
        d.fill(T::ZERO);
    });
}

/// `dst = src` in parallel (used to start a fused residual addition).
pub fn copy<T: Real>(dst: &mut [T], src: &[T], threads: usize) {
    let p = SyncPtr::new(dst.as_mut_ptr());
    for_chunks(src.len(), threads, |_, r| {
        let d = unsafe { std::slice::from_raw_parts_mut(p.get().add(r.start), r.len()) };
        d.copy_from_slice(&src[r]);
    });
}

/// `dst *= k` in parallel (μP's output multiplier on the logits and their
/// gradient).
pub fn scale_inplace<T: Real>(dst: &mut [T], k: T, threads: usize) {
    let p = SyncPtr::new(dst.as_mut_ptr());
    for_chunks(dst.len(), threads, |_, r| {
        let d = unsafe { std::slice::from_raw_parts_mut(p.get().add(r.start), r.len()) };
        for x in d {
            *x *= k;
        }
    });
}
