//! Vectorised objective kernels.
//!
//! The 4,500-start Chinchilla grid and a 4,000-resample bootstrap evaluate
//! the objective millions of times; `std`'s `exp`/`ln` are scalar library
//! calls that stop the compiler from vectorising the loop. These kernels use
//! polynomial `exp`/`ln` written with plain arithmetic and bit operations
//! (accurate to about 1 ulp on the ranges used), process runs in blocks of
//! [`LANES`] with per-lane accumulators, and are compiled for AVX-512 and
//! AVX2 with runtime detection (plain code elsewhere). Polynomials use fused
//! multiply-adds (`mul_add`, correctly rounded in hardware and in the
//! software fallback alike), so every path gives bit-identical results.

use crate::data::Observations;
use crate::robust::Robust;

/// Runs processed together; per-lane partial sums are added in a fixed order,
/// so results do not depend on the instruction set.
pub const LANES: usize = 8;

const LN2_HI: f64 = 6.931_471_803_691_238e-1;
const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
const LOG2E: f64 = std::f64::consts::LOG2_E;
const ROUND_MAGIC: f64 = 6_755_399_441_055_744.0; // 1.5 · 2^52

/// `exp(x)` for x ≤ 0 (arguments of a max-shifted log-sum-exp); clamped below
/// at −708, where the result (≈ 3e−308) is negligible next to the largest
/// term, which is exactly 1.
#[inline(always)]
pub fn exp_nonpos(x: f64) -> f64 {
    exp_bounded(if x < -708.0 { -708.0 } else { x })
}

/// `exp(x)` for |x| ≤ 708 (normal, finite results), without a clamp.
#[inline(always)]
pub fn exp_bounded(x: f64) -> f64 {
    let kk = x * LOG2E + ROUND_MAGIC;
    let k = kk - ROUND_MAGIC;
    let ki = (kk.to_bits() as i64).wrapping_sub(ROUND_MAGIC.to_bits() as i64);
    let r = (x - k * LN2_HI) - k * LN2_LO;
    // Degree-11 polynomial interpolating e^r at the Chebyshev nodes of
    // |r| ≤ ln2/2 (relative error < 2e-17, below the 1.1e-16 of rounding),
    // evaluated as even and odd parts in r² (11 fused multiply-adds and one
    // multiply; the kernel is bound by its multiply throughput, so fewer
    // operations matter more than a shorter dependency chain).
    const C: [f64; 12] = [
        1.0,
        1.0,
        0.500_000_000_000_001_9,
        0.166_666_666_666_666_8,
        0.041_666_666_666_488_1,
        0.008_333_333_333_319_601,
        0.001_388_888_895_231_477_5,
        0.000_198_412_698_900_471_13,
        2.480_148_548_232_849_4e-5,
        2.755_724_091_857_897e-6,
        2.763_263_963_904_103e-7,
        2.511_003_760_596_377_7e-8,
    ];
    let r2 = r * r;
    let even = C[10]
        .mul_add(r2, C[8])
        .mul_add(r2, C[6])
        .mul_add(r2, C[4])
        .mul_add(r2, C[2])
        .mul_add(r2, C[0]);
    let odd = C[11]
        .mul_add(r2, C[9])
        .mul_add(r2, C[7])
        .mul_add(r2, C[5])
        .mul_add(r2, C[3])
        .mul_add(r2, C[1]);
    let p = odd.mul_add(r, even);
    // p·2^k by adding k to the exponent field: exact (the result is normal
    // for |x| ≤ 708) and an integer operation, not a multiply.
    f64::from_bits(p.to_bits().wrapping_add((ki as u64) << 52))
}

/// `ln(x)` for positive normal x.
#[inline(always)]
pub fn ln_pos(x: f64) -> f64 {
    const SQRT2: f64 = std::f64::consts::SQRT_2;
    let bits = x.to_bits();
    let e_bits = (bits >> 52) & 0x7ff;
    // exponent as f64 without an int → float conversion instruction
    let e = f64::from_bits(0x4330_0000_0000_0000 | e_bits) - (4_503_599_627_370_496.0 + 1023.0);
    let m = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000);
    let big = m > SQRT2;
    let m = if big { m * 0.5 } else { m };
    let e = if big { e + 1.0 } else { e };
    let s = (m - 1.0) / (m + 1.0);
    // ln m = 2 atanh(s) = Σ 2 s^(2k+1)/(2k+1), |s| ≤ 0.1716: ten terms
    // (the next is below 3e-17 of the sum), as even and odd parts in s⁴.
    const A: [f64; 10] = [
        2.0,
        2.0 / 3.0,
        2.0 / 5.0,
        2.0 / 7.0,
        2.0 / 9.0,
        2.0 / 11.0,
        2.0 / 13.0,
        2.0 / 15.0,
        2.0 / 17.0,
        2.0 / 19.0,
    ];
    let z = s * s;
    let z2 = z * z;
    let even = A[8]
        .mul_add(z2, A[6])
        .mul_add(z2, A[4])
        .mul_add(z2, A[2])
        .mul_add(z2, A[0]);
    let odd = A[9]
        .mul_add(z2, A[7])
        .mul_add(z2, A[5])
        .mul_add(z2, A[3])
        .mul_add(z2, A[1]);
    let ln_m = s * odd.mul_add(z, even);
    e * LN2_HI + (ln_m + e * LN2_LO)
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

/// One block of [`LANES`] runs, written stage by stage over lane arrays so
/// the compiler turns each stage into vector instructions. Adds the block's
/// value and gradient into the per-lane accumulators.
///
/// `exp_e` is e^r[0], or `None` when |r[0]| > [`DIRECT_LIMIT`]. When it and
/// every other argument of the block's log-sum-exp lie within the limit,
/// ln(e^e + e^t1 + e^t2) is formed directly, with two exponentials per run;
/// otherwise by the max-shifted form m + ln(Σ e^(t−m)), with three. Both
/// are accurate to a few ulp; the choice depends only on the values, so it
/// is the same on every instruction set.
#[inline(always)]
#[allow(clippy::too_many_arguments, clippy::needless_range_loop)]
fn chin_block<const HUBER: bool, const WEIGHTED: bool>(
    r: &[f64; 5],
    exp_e: Option<f64>,
    delta: f64,
    ln_n: &[f64; LANES],
    ln_d: &[f64; LANES],
    ln_l: &[f64; LANES],
    w: &[f64; LANES],
    acc: &mut [[f64; LANES]; 6],
) {
    let mut t1 = [0.0; LANES];
    let mut t2 = [0.0; LANES];
    for j in 0..LANES {
        t1[j] = r[1] - r[3] * ln_n[j];
        t2[j] = r[2] - r[4] * ln_d[j];
    }
    if let Some(ee) = exp_e {
        let mut inside = true;
        for j in 0..LANES {
            // false for NaN too
            inside &= (t1[j].abs() <= DIRECT_LIMIT) & (t2[j].abs() <= DIRECT_LIMIT);
        }
        if inside {
            let mut e1 = [0.0; LANES];
            let mut e2 = [0.0; LANES];
            let mut s = [0.0; LANES];
            let mut lns = [0.0; LANES];
            for j in 0..LANES {
                e1[j] = exp_bounded(t1[j]);
            }
            for j in 0..LANES {
                e2[j] = exp_bounded(t2[j]);
            }
            for j in 0..LANES {
                s[j] = e1[j] + e2[j] + ee;
            }
            for j in 0..LANES {
                lns[j] = ln_pos(s[j]);
            }
            for j in 0..LANES {
                let (v, dv) = loss::<HUBER>(ln_l[j] - lns[j], delta);
                // unweighted: no multiplies by 1 (the same values)
                let (wv, wdv) = if WEIGHTED {
                    (w[j] * v, w[j] * dv)
                } else {
                    (v, dv)
                };
                let c = -wdv / s[j];
                acc[0][j] += wv;
                acc[1][j] += c * ee;
                acc[2][j] += c * e1[j];
                acc[3][j] += c * e2[j];
                acc[4][j] -= c * e1[j] * ln_n[j];
                acc[5][j] -= c * e2[j] * ln_d[j];
            }
            return;
        }
    }
    let mut m = [0.0; LANES];
    for j in 0..LANES {
        let m12 = if t1[j] > t2[j] { t1[j] } else { t2[j] };
        m[j] = if m12 > r[0] { m12 } else { r[0] };
    }
    let mut e1 = [0.0; LANES];
    let mut e2 = [0.0; LANES];
    let mut e3 = [0.0; LANES];
    for j in 0..LANES {
        e1[j] = exp_nonpos(t1[j] - m[j]);
    }
    for j in 0..LANES {
        e2[j] = exp_nonpos(t2[j] - m[j]);
    }
    for j in 0..LANES {
        e3[j] = exp_nonpos(r[0] - m[j]);
    }
    let mut s = [0.0; LANES];
    let mut lns = [0.0; LANES];
    for j in 0..LANES {
        s[j] = e1[j] + e2[j] + e3[j];
    }
    for j in 0..LANES {
        lns[j] = ln_pos(s[j]);
    }
    for j in 0..LANES {
        let (v, dv) = loss::<HUBER>(ln_l[j] - (m[j] + lns[j]), delta);
        let (wv, wdv) = if WEIGHTED {
            (w[j] * v, w[j] * dv)
        } else {
            (v, dv)
        };
        let c = -wdv / s[j];
        acc[0][j] += wv;
        acc[1][j] += c * e3[j];
        acc[2][j] += c * e1[j];
        acc[3][j] += c * e2[j];
        acc[4][j] -= c * e1[j] * ln_n[j];
        acc[5][j] -= c * e2[j] * ln_d[j];
    }
}

#[inline(always)]
fn chin_body<const HUBER: bool>(
    raw: &[f64],
    obs: &Observations,
    weights: Option<&[f64]>,
    delta: f64,
    grad: &mut [f64],
) -> f64 {
    let r: [f64; 5] = [raw[0], raw[1], raw[2], raw[3], raw[4]];
    let n = obs.len();
    let mut acc = [[0.0f64; LANES]; 6];
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
            chin_block::<HUBER, true>(&r, exp_e, delta, &ln_n, &ln_d, &ln_l, &w, &mut acc);
        } else {
            chin_block::<HUBER, false>(&r, exp_e, delta, &ln_n, &ln_d, &ln_l, &w, &mut acc);
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
        chin_block::<HUBER, true>(
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
    let mut out = [0.0; 6];
    for k in 0..6 {
        let mut s = 0.0;
        for v in acc[k] {
            s += v;
        }
        out[k] = s;
    }
    grad[..5].copy_from_slice(&out[1..6]);
    out[0]
}

#[inline(always)]
fn chin_dispatch(
    raw: &[f64],
    obs: &Observations,
    weights: Option<&[f64]>,
    robust: Robust,
    grad: &mut [f64],
) -> f64 {
    match robust {
        Robust::Huber { delta } => chin_body::<true>(raw, obs, weights, delta, grad),
        Robust::LeastSquares => chin_body::<false>(raw, obs, weights, 0.0, grad),
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
    chin_dispatch(raw, obs, weights, robust, grad)
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
    chin_dispatch(raw, obs, weights, robust, grad)
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
    chin_dispatch(raw, obs, weights, robust, grad)
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
                let f_plain = chin_dispatch(&raw, &obs, weights, robust, &mut g_plain);
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
