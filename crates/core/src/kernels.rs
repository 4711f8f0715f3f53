//! Vectorised objective kernels.
//!
//! The 4,500-start Chinchilla grid and a 4,000-resample bootstrap evaluate
//! the objective millions of times; `std`'s `exp`/`ln` are scalar library
//! calls that stop the compiler from vectorising the loop. These kernels use
//! table-driven `exp`/`ln` written with plain arithmetic and bit operations
//! (about 1 ulp; a 16-entry table and a short polynomial each, with no
//! division), process runs in blocks of [`LANES`] with per-lane accumulators,
//! and are compiled for AVX-512 (table lookups by permutes) and AVX2 with
//! runtime detection (plain code elsewhere). Polynomials use fused
//! multiply-adds (`mul_add`, correctly rounded in hardware and in the
//! software fallback alike) and every lookup returns the same table entry, so
//! every path gives bit-identical results.

use crate::data::Observations;
use crate::robust::Robust;

/// Runs processed together; per-lane partial sums are added in a fixed order,
/// so results do not depend on the instruction set.
pub const LANES: usize = 8;

// The AVX-512 lookups work on whole 8-lane registers.
const _: () = assert!(LANES.is_multiple_of(8));

const LN2_HI: f64 = 6.931_471_803_691_238e-1;
const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
const ROUND_MAGIC: f64 = 6_755_399_441_055_744.0; // 1.5 · 2^52

// Tables and polynomials of `exp` and `ln`, generated (and checked) by
// crates/core/tools/exp_ln_constants.py.

/// 2^(j/16), j = 0..16, rounded to doubles.
const EXP_T: [f64; 16] = [
    1.0,
    1.044_273_782_427_413_8,
    1.090_507_732_665_257_7,
    1.138_788_634_756_691_6,
    1.189_207_115_002_721,
    1.241_857_812_073_484,
    1.296_839_554_651_009_6,
    1.354_255_546_936_892_7,
    std::f64::consts::SQRT_2,
    1.476_826_145_939_499_3,
    1.542_210_825_407_940_7,
    1.610_490_331_949_254_3,
    1.681_792_830_507_429,
    1.756_252_160_373_299_5,
    1.834_008_086_409_342_4,
    1.915_206_561_397_147_4,
];
/// (e^r − 1 − r)/r² on |r| ≤ ln2/32 (fit error 6e-14, times r² ≤ 4.7e-4).
const EXP_P: [f64; 5] = [
    0.5,
    0.166_666_666_653_011_44,
    0.041_666_666_664_959_766,
    0.008_333_449_724_528_355,
    0.001_388_903_437_769_301_2,
];
/// 1/(1 + (i + ½)/16) rounded to doubles.
const LN_INVC: [f64; 16] = [
    0.969_696_969_696_969_7,
    0.914_285_714_285_714_3,
    0.864_864_864_864_864_9,
    0.820_512_820_512_820_5,
    0.780_487_804_878_048_8,
    0.744_186_046_511_627_9,
    0.711_111_111_111_111_1,
    0.680_851_063_829_787_2,
    0.653_061_224_489_795_9,
    0.627_450_980_392_156_9,
    0.603_773_584_905_660_4,
    0.581_818_181_818_181_8,
    0.561_403_508_771_929_8,
    0.542_372_881_355_932_2,
    0.524_590_163_934_426_3,
    0.507_936_507_936_507_9,
];
/// −ln(LN_INVC[i]) of the rounded doubles, so m = (m·INVC)/INVC splits exactly.
const LN_LOGC: [f64; 16] = [
    0.030_771_658_666_753_66,
    0.089_612_158_689_687_17,
    0.145_182_009_844_497_83,
    0.197_825_743_329_919_92,
    0.247_836_163_904_581_2,
    0.295_464_212_893_835_9,
    0.340_926_586_970_593_2,
    0.384_411_698_910_332_06,
    0.426_084_395_310_900_14,
    0.466_089_729_924_599_24,
    0.504_556_010_752_395_3,
    0.541_597_282_432_744_4,
    0.577_315_365_034_823_6,
    0.611_801_541_105_992_9,
    0.645_137_961_373_584_7,
    0.677_398_823_591_806_1,
];
/// (log1p(u) − u)/u² on |u| ≤ 0.0304 (fit error 4e-14, times u² ≤ 9.2e-4).
const LN_Q: [f64; 7] = [
    -0.5,
    0.333_333_333_342_761_44,
    -0.250_000_000_008_485_5,
    0.199_999_917_886_606_8,
    -0.166_666_592_762_940_9,
    0.143_035_899_676_123_46,
    -0.125_160_883_937_087_2,
];
/// ln2/16 split so that k·LN2_16_HI is exact for |k| < 2^21.
const LN2_16_HI: f64 = LN2_HI / 16.0;
const LN2_16_LO: f64 = 1.192_634_330_794_117_3e-11;
const INV_LN2_16: f64 = 23.083_120_654_223_414;

/// Lane-wise lookups in a 16-entry table (indices taken modulo 16). Every
/// implementation returns the same table entries, so results do not depend
/// on which one runs.
pub trait Lookup {
    fn lookup16(table: &[f64; 16], idx: &[u64; LANES]) -> [f64; LANES];
}

/// Plain indexing: any CPU.
pub struct Portable;

impl Lookup for Portable {
    #[inline(always)]
    fn lookup16(table: &[f64; 16], idx: &[u64; LANES]) -> [f64; LANES] {
        std::array::from_fn(|j| table[(idx[j] & 15) as usize])
    }
}

/// One two-table permute (`vpermt2pd`) per lookup, instead of a gather.
/// Only called from code compiled with AVX-512F enabled, after detection.
#[cfg(target_arch = "x86_64")]
struct Avx512;

#[cfg(target_arch = "x86_64")]
impl Lookup for Avx512 {
    #[inline(always)]
    fn lookup16(table: &[f64; 16], idx: &[u64; LANES]) -> [f64; LANES] {
        use std::arch::x86_64::*;
        let mut out = [0.0; LANES];
        // SAFETY: only instantiated inside functions compiled with
        // `target_feature(enable = "avx512f")`, which run after the feature
        // was detected; all pointers are to arrays of whole multiples of 8
        // elements.
        unsafe {
            let lo = _mm512_loadu_pd(table.as_ptr());
            let hi = _mm512_loadu_pd(table.as_ptr().add(8));
            for c in 0..LANES / 8 {
                let i = _mm512_loadu_si512(idx.as_ptr().add(8 * c).cast());
                _mm512_storeu_pd(
                    out.as_mut_ptr().add(8 * c),
                    _mm512_permutex2var_pd(lo, i, hi),
                );
            }
        }
        out
    }
}

/// `exp` of each lane, |x| ≤ 708 (normal, finite results), to about 1 ulp.
///
/// x = (16K + j)·ln2/16 + r with |r| ≤ ln2/32, so e^x = 2^K · 2^(j/16) · e^r:
/// a table entry and a degree-6 polynomial (seven fused multiply-adds, where
/// a single interval of width ln2 needs degree 11).
#[inline(always)]
fn exp_lanes<L: Lookup>(x: &[f64; LANES]) -> [f64; LANES] {
    let mut r = [0.0; LANES];
    let mut ki = [0u64; LANES];
    for j in 0..LANES {
        let kk = x[j].mul_add(INV_LN2_16, ROUND_MAGIC);
        let k = kk - ROUND_MAGIC;
        ki[j] = kk.to_bits().wrapping_sub(ROUND_MAGIC.to_bits());
        r[j] = k.mul_add(-LN2_16_LO, k.mul_add(-LN2_16_HI, x[j]));
    }
    let t = L::lookup16(&EXP_T, &ki);
    let mut out = [0.0; LANES];
    for j in 0..LANES {
        let r = r[j];
        // Estrin's scheme: a shorter dependency chain than Horner's, for the
        // same number of operations
        let r2 = r * r;
        let p = r2.mul_add(
            r2.mul_add(EXP_P[4], EXP_P[3].mul_add(r, EXP_P[2])),
            EXP_P[1].mul_add(r, EXP_P[0]),
        );
        // e^r − 1, then 2^(j/16)·e^r with one rounding
        let q = r2.mul_add(p, r);
        let v = t[j].mul_add(q, t[j]);
        // ·2^K by adding K (the integer k shifted right by 4, arithmetic)
        // to the exponent field: exact for normal results
        let big_k = (ki[j] as i64) >> 4;
        out[j] = f64::from_bits(v.to_bits().wrapping_add((big_k as u64) << 52));
    }
    out
}

/// `ln` of each lane, positive normal x, to about 1 ulp (absolute error below
/// 2.3e-16 for x near 1).
///
/// x = 2^e·m, m ∈ [1, 2); with c the centre of m's sixteenth of [1, 2),
/// ln x = e·ln2 − ln(1/c) + log1p(m/c − 1), where m/c − 1 is formed exactly
/// by one fused multiply-add and |m/c − 1| < 0.031: no division, a table
/// and a degree-8 polynomial.
#[inline(always)]
fn ln_lanes<L: Lookup>(x: &[f64; LANES]) -> [f64; LANES] {
    let mut e = [0.0; LANES];
    let mut m = [0.0; LANES];
    let mut idx = [0u64; LANES];
    for j in 0..LANES {
        let bits = x[j].to_bits();
        let e_bits = bits >> 52;
        // exponent as f64 without an int → float conversion instruction
        e[j] = f64::from_bits(0x4330_0000_0000_0000 | e_bits) - (4_503_599_627_370_496.0 + 1023.0);
        m[j] = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000);
        idx[j] = bits >> 48;
    }
    let invc = L::lookup16(&LN_INVC, &idx);
    let logc = L::lookup16(&LN_LOGC, &idx);
    let mut out = [0.0; LANES];
    for j in 0..LANES {
        let u = m[j].mul_add(invc[j], -1.0);
        // Estrin's scheme (one multiply more than Horner's, half the chain)
        let u2 = u * u;
        let u4 = u2 * u2;
        let q = u4.mul_add(
            u2.mul_add(LN_Q[6], LN_Q[5].mul_add(u, LN_Q[4])),
            u2.mul_add(LN_Q[3].mul_add(u, LN_Q[2]), LN_Q[1].mul_add(u, LN_Q[0])),
        );
        let log1p = u2.mul_add(q, u);
        let hi = e[j].mul_add(LN2_HI, logc[j]);
        out[j] = hi + e[j].mul_add(LN2_LO, log1p);
    }
    out
}

/// `exp(x)` for |x| ≤ 708 (normal, finite results), without a clamp; the
/// scalar form of the lane kernels' exp (bit-identical to it).
pub fn exp_bounded(x: f64) -> f64 {
    exp_lanes::<Portable>(&[x; LANES])[0]
}

/// `exp(x)` for x ≤ 0 (arguments of a max-shifted log-sum-exp); clamped below
/// at −708, where the result (≈ 3e−308) is negligible next to the largest
/// term, which is exactly 1.
pub fn exp_nonpos(x: f64) -> f64 {
    exp_bounded(if x < -708.0 { -708.0 } else { x })
}

/// `ln(x)` for positive normal x; the scalar form of the lane kernels' ln.
pub fn ln_pos(x: f64) -> f64 {
    ln_lanes::<Portable>(&[x; LANES])[0]
}

/// Bound on the log-sum-exp's arguments below which the sum can be formed
/// without the max shift: every term is then a normal, finite number
/// (e^±700 ≈ 1e±304), so the sum neither overflows nor underflows.
const DIRECT_LIMIT: f64 = 700.0;

/// The Huber (or squared) loss of residual `res` and its derivative.
#[inline(always)]
fn loss<const HUBER: bool>(res: f64, delta: f64) -> (f64, f64) {
    if HUBER {
        // ψ = res clamped to ±δ is the derivative, and ψ·(res − ψ/2) the
        // value: ½res² inside, δ(|res| − δ/2) outside, rounded exactly as
        // those (two multiplies fewer, no blends). A NaN res stays NaN.
        let psi = if res > delta {
            delta
        } else if res < -delta {
            -delta
        } else {
            res
        };
        (psi * (-0.5f64).mul_add(psi, res), psi)
    } else {
        (0.5 * res * res, res)
    }
}

/// Per-lane partial sums of one evaluation: the value, Σ c·E (two parts, see
/// [`chin_block`]), Σ c·e1, Σ c·e2, Σ c·e1·ln N and Σ c·e2·ln D, where
/// c = w·ψ/s is the weighted loss derivative divided by the prediction.
type Acc = [[f64; LANES]; 7];

/// One block of [`LANES`] runs, written stage by stage over lane arrays so
/// the compiler turns each stage into vector instructions. Adds the block's
/// value and gradient terms into the per-lane accumulators.
///
/// `exp_e` is e^r[0], or `None` when |r[0]| > [`DIRECT_LIMIT`]. When it and
/// every other argument of the block's log-sum-exp lie within the limit,
/// ln(e^e + e^t1 + e^t2) is formed directly, with two exponentials per run,
/// and Σ c is kept apart (`acc[6]`, multiplied by e^e once at the end);
/// otherwise by the max-shifted form m + ln(Σ e^(t−m)), with three, and Σ c·e3
/// goes to `acc[1]`. Both are accurate to a few ulp; the choice depends only
/// on the values, so it is the same on every instruction set.
#[inline(always)]
#[allow(clippy::too_many_arguments, clippy::needless_range_loop)]
fn chin_block<L: Lookup, const HUBER: bool, const WEIGHTED: bool>(
    r: &[f64; 5],
    exp_e: Option<f64>,
    delta: f64,
    ln_n: &[f64; LANES],
    ln_d: &[f64; LANES],
    ln_l: &[f64; LANES],
    w: &[f64; LANES],
    acc: &mut Acc,
) {
    let mut t1 = [0.0; LANES];
    let mut t2 = [0.0; LANES];
    for j in 0..LANES {
        t1[j] = r[3].mul_add(-ln_n[j], r[1]);
        t2[j] = r[4].mul_add(-ln_d[j], r[2]);
    }
    if let Some(ee) = exp_e {
        let mut inside = true;
        for j in 0..LANES {
            // false for NaN too
            inside &= (t1[j].abs() <= DIRECT_LIMIT) & (t2[j].abs() <= DIRECT_LIMIT);
        }
        if inside {
            let e1 = exp_lanes::<L>(&t1);
            let e2 = exp_lanes::<L>(&t2);
            let mut s = [0.0; LANES];
            for j in 0..LANES {
                s[j] = e1[j] + e2[j] + ee;
            }
            let lns = ln_lanes::<L>(&s);
            for j in 0..LANES {
                let res = ln_l[j] - lns[j];
                let c = add_run::<HUBER, WEIGHTED>(
                    acc, j, res, s[j], e1[j], e2[j], ln_n, ln_d, w, delta,
                );
                acc[6][j] += c;
            }
            return;
        }
    }
    let mut m = [0.0; LANES];
    let mut d1 = [0.0; LANES];
    let mut d2 = [0.0; LANES];
    let mut d3 = [0.0; LANES];
    for j in 0..LANES {
        let m12 = if t1[j] > t2[j] { t1[j] } else { t2[j] };
        m[j] = if m12 > r[0] { m12 } else { r[0] };
        // clamped at −708: e^−708 ≈ 3e−308 is negligible next to the
        // largest term, which is exactly 1
        d1[j] = (t1[j] - m[j]).max(-708.0);
        d2[j] = (t2[j] - m[j]).max(-708.0);
        d3[j] = (r[0] - m[j]).max(-708.0);
    }
    let e1 = exp_lanes::<L>(&d1);
    let e2 = exp_lanes::<L>(&d2);
    let e3 = exp_lanes::<L>(&d3);
    let mut s = [0.0; LANES];
    for j in 0..LANES {
        s[j] = e1[j] + e2[j] + e3[j];
    }
    let lns = ln_lanes::<L>(&s);
    for j in 0..LANES {
        let res = ln_l[j] - (m[j] + lns[j]);
        let c = add_run::<HUBER, WEIGHTED>(acc, j, res, s[j], e1[j], e2[j], ln_n, ln_d, w, delta);
        acc[1][j] = c.mul_add(e3[j], acc[1][j]);
    }
}

/// Adds run `j`'s loss and its N and D gradient terms to the accumulators,
/// given its residual, the log-sum-exp's sum `s` and the N and D terms (in
/// the same scale as `s`); returns c = w·ψ/s for the caller's E term.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn add_run<const HUBER: bool, const WEIGHTED: bool>(
    acc: &mut Acc,
    j: usize,
    res: f64,
    s: f64,
    e1: f64,
    e2: f64,
    ln_n: &[f64; LANES],
    ln_d: &[f64; LANES],
    w: &[f64; LANES],
    delta: f64,
) -> f64 {
    let (v, dv) = loss::<HUBER>(res, delta);
    // unweighted: no multiplies by 1 (the same values)
    let (v, dv) = if WEIGHTED {
        (w[j] * v, w[j] * dv)
    } else {
        (v, dv)
    };
    let c = dv / s;
    let (ce1, ce2) = (c * e1, c * e2);
    acc[0][j] += v;
    acc[2][j] += ce1;
    acc[3][j] += ce2;
    acc[4][j] = ce1.mul_add(ln_n[j], acc[4][j]);
    acc[5][j] = ce2.mul_add(ln_d[j], acc[5][j]);
    c
}

#[inline(always)]
fn chin_body<L: Lookup, const HUBER: bool>(
    raw: &[f64],
    obs: &Observations,
    weights: Option<&[f64]>,
    delta: f64,
    grad: &mut [f64],
) -> f64 {
    let r: [f64; 5] = [raw[0], raw[1], raw[2], raw[3], raw[4]];
    let n = obs.len();
    let mut acc: Acc = [[0.0f64; LANES]; 7];
    let ones = [1.0; LANES];
    let blocks = n / LANES;
    let exp_e = (r[0].abs() <= DIRECT_LIMIT).then(|| exp_bounded(r[0]));
    let lanes =
        |v: &[f64], base: usize| -> [f64; LANES] { v[base..base + LANES].try_into().unwrap() };
    for b in 0..blocks {
        let base = b * LANES;
        let w = match weights {
            Some(w) => lanes(w, base),
            None => ones,
        };
        let (ln_n, ln_d, ln_l) = (
            lanes(&obs.ln_n, base),
            lanes(&obs.ln_d, base),
            lanes(&obs.ln_loss, base),
        );
        if weights.is_some() {
            chin_block::<L, HUBER, true>(&r, exp_e, delta, &ln_n, &ln_d, &ln_l, &w, &mut acc);
        } else {
            chin_block::<L, HUBER, false>(&r, exp_e, delta, &ln_n, &ln_d, &ln_l, &w, &mut acc);
        }
    }
    let rest = n - blocks * LANES;
    if rest > 0 {
        // pad the last block with zero-weight copies of a real run
        let base = blocks * LANES;
        let pad = |v: &[f64]| -> [f64; LANES] {
            let mut a = [v[base]; LANES];
            a[..rest].copy_from_slice(&v[base..n]);
            a
        };
        let mut w = [0.0; LANES];
        for j in 0..rest {
            w[j] = weights.map_or(1.0, |ws| ws[base + j]);
        }
        chin_block::<L, HUBER, true>(
            &r,
            exp_e,
            delta,
            &pad(&obs.ln_n),
            &pad(&obs.ln_d),
            &pad(&obs.ln_loss),
            &w,
            &mut acc,
        );
    }
    let mut out = [0.0; 7];
    for k in 0..7 {
        let mut s = 0.0;
        for v in acc[k] {
            s += v;
        }
        out[k] = s;
    }
    // ∂/∂e = −Σ c·E; ∂/∂a = −Σ c·e1; ∂/∂b = −Σ c·e2;
    // ∂/∂α = Σ c·e1·ln N; ∂/∂β = Σ c·e2·ln D
    let ee = exp_e.unwrap_or(0.0);
    grad[0] = -ee.mul_add(out[6], out[1]);
    grad[1] = -out[2];
    grad[2] = -out[3];
    grad[3] = out[4];
    grad[4] = out[5];
    out[0]
}

#[inline(always)]
fn chin_dispatch<L: Lookup>(
    raw: &[f64],
    obs: &Observations,
    weights: Option<&[f64]>,
    robust: Robust,
    grad: &mut [f64],
) -> f64 {
    match robust {
        Robust::Huber { delta } => chin_body::<L, true>(raw, obs, weights, delta, grad),
        Robust::LeastSquares => chin_body::<L, false>(raw, obs, weights, 0.0, grad),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2,fma")]
unsafe fn chin_avx512(
    raw: &[f64],
    obs: &Observations,
    weights: Option<&[f64]>,
    robust: Robust,
    grad: &mut [f64],
) -> f64 {
    chin_dispatch::<Avx512>(raw, obs, weights, robust, grad)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn chin_avx2(
    raw: &[f64],
    obs: &Observations,
    weights: Option<&[f64]>,
    robust: Robust,
    grad: &mut [f64],
) -> f64 {
    chin_dispatch::<Portable>(raw, obs, weights, robust, grad)
}

/// Which instruction set the kernels use on this CPU.
pub fn simd_level() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512dq")
            && std::arch::is_x86_feature_detected!("avx512vl")
        {
            return "avx512";
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            return "avx2";
        }
    }
    "scalar"
}

/// The summed robust objective of the Chinchilla law and its gradient with
/// respect to the raw parameters `[e, a, b, α, β]`.
pub fn chinchilla_objective(
    raw: &[f64],
    obs: &Observations,
    weights: Option<&[f64]>,
    robust: Robust,
    grad: &mut [f64],
) -> f64 {
    if let Some(w) = weights {
        assert_eq!(w.len(), obs.len(), "one weight per run");
    }
    #[cfg(target_arch = "x86_64")]
    {
        match simd_level() {
            // SAFETY: the features these functions are compiled for were
            // detected on this CPU just above.
            "avx512" => return unsafe { chin_avx512(raw, obs, weights, robust, grad) },
            "avx2" => return unsafe { chin_avx2(raw, obs, weights, robust, grad) },
            _ => {}
        }
    }
    chin_dispatch::<Portable>(raw, obs, weights, robust, grad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_instruction_set_gives_bit_identical_results() {
        let n: Vec<f64> = (0..37).map(|i| 1e7 * 1.31f64.powi(i)).collect();
        let d: Vec<f64> = (0..37).map(|i| 3e8 * 1.17f64.powi(37 - i)).collect();
        let loss: Vec<f64> = (0..37)
            .map(|i| 2.0 + 0.7 * ((i as f64) * 0.9).cos().abs())
            .collect();
        let obs = Observations::from_nd(n, d, loss).unwrap();
        let w: Vec<f64> = (0..37).map(|i| (i % 3) as f64).collect();
        let raw = [0.6, 6.2, 7.7, 0.35, 0.37];
        for robust in [Robust::Huber { delta: 1e-3 }, Robust::LeastSquares] {
            for weights in [None, Some(&w[..])] {
                let mut g_plain = [0.0; 5];
                let f_plain = chin_dispatch::<Portable>(&raw, &obs, weights, robust, &mut g_plain);
                let mut g = [0.0; 5];
                let f = chinchilla_objective(&raw, &obs, weights, robust, &mut g);
                assert_eq!(f.to_bits(), f_plain.to_bits(), "{} path", simd_level());
                assert_eq!(g.map(f64::to_bits), g_plain.map(f64::to_bits));
                #[cfg(target_arch = "x86_64")]
                if std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
                {
                    let mut g2 = [0.0; 5];
                    // SAFETY: the features were detected just above.
                    let f2 = unsafe { chin_avx2(&raw, &obs, weights, robust, &mut g2) };
                    assert_eq!(f2.to_bits(), f_plain.to_bits());
                    assert_eq!(g2.map(f64::to_bits), g_plain.map(f64::to_bits));
                }
            }
        }
    }

    #[test]
    fn exp_matches_std_to_a_few_ulp() {
        let mut x = -700.0;
        while x <= 0.0 {
            let (a, b) = (exp_nonpos(x), x.exp());
            assert!(
                (a - b).abs() <= 4.0 * f64::EPSILON * b,
                "exp({x}): {a} vs {b}"
            );
            x += 0.0137;
        }
        assert_eq!(exp_nonpos(0.0), 1.0);
        // the direct log-sum-exp uses positive arguments too
        let mut x = -708.0;
        while x <= 708.0 {
            let (a, b) = (exp_bounded(x), x.exp());
            assert!(
                (a - b).abs() <= 2.0 * f64::EPSILON * b,
                "exp({x}): {a} vs {b}"
            );
            x += 0.00917;
        }
    }

    #[test]
    fn ln_matches_std_to_a_few_ulp() {
        let mut x = 1e-300;
        while x < 1e300 {
            let (a, b) = (ln_pos(x), x.ln());
            assert!(
                (a - b).abs() <= 4.0 * f64::EPSILON * b.abs().max(1.0),
                "ln({x}): {a} vs {b}"
            );
            x *= 1.0173;
        }
        for x in [1.0, 1.5, 2.0, 3.0, 0.999_999_999] {
            assert!((ln_pos(x) - f64::ln(x)).abs() <= 2.0 * f64::EPSILON);
        }
    }
}
