//! The scalar type of the engine (`f32` for training, `f64` for gradient
//! checks) and fast, accurate, vectorisable `exp` and `tanh` for `f32`.

use std::fmt::Debug;
use std::ops::{Add, AddAssign, Div, Mul, MulAssign, Neg, Sub, SubAssign};

/// A floating-point scalar the engine can run in.
///
/// `f32` uses the polynomial [`exp_f32`] and [`tanh_f32`] below (branch-free,
/// so loops over them autovectorise); `f64` uses the standard library so that
/// finite-difference gradient checks in `f64` are as exact as possible.
pub trait Real:
    Copy
    + Send
    + Sync
    + Default
    + Debug
    + PartialOrd
    + 'static
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + SubAssign
    + MulAssign
{
    const ZERO: Self;
    const ONE: Self;
    /// Name of the safetensors dtype ("F32" or "F64").
    const DTYPE: &'static str;
    fn from_f64(x: f64) -> Self;
    fn to_f64(self) -> f64;
    fn exp(self) -> Self;
    fn tanh(self) -> Self;
    fn sqrt(self) -> Self;
    fn max(self, other: Self) -> Self;
    fn min(self, other: Self) -> Self;
    fn abs(self) -> Self;
}

impl Real for f32 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    const DTYPE: &'static str = "F32";
    #[inline(always)]
    fn from_f64(x: f64) -> Self {
        x as f32
    }
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self as f64
    }
    #[inline(always)]
    fn exp(self) -> Self {
        exp_f32(self)
    }
    #[inline(always)]
    fn tanh(self) -> Self {
        tanh_f32(self)
    }
    #[inline(always)]
    fn sqrt(self) -> Self {
        f32::sqrt(self)
    }
    #[inline(always)]
    fn max(self, o: Self) -> Self {
        if self > o {
            self
        } else {
            o
        }
    }
    #[inline(always)]
    fn min(self, o: Self) -> Self {
        if self < o {
            self
        } else {
            o
        }
    }
    #[inline(always)]
    fn abs(self) -> Self {
        f32::abs(self)
    }
}

impl Real for f64 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    const DTYPE: &'static str = "F64";
    #[inline(always)]
    fn from_f64(x: f64) -> Self {
        x
    }
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self
    }
    #[inline(always)]
    fn exp(self) -> Self {
        f64::exp(self)
    }
    #[inline(always)]
    fn tanh(self) -> Self {
        f64::tanh(self)
    }
    #[inline(always)]
    fn sqrt(self) -> Self {
        f64::sqrt(self)
    }
    #[inline(always)]
    fn max(self, o: Self) -> Self {
        if self > o {
            self
        } else {
            o
        }
    }
    #[inline(always)]
    fn min(self, o: Self) -> Self {
        if self < o {
            self
        } else {
            o
        }
    }
    #[inline(always)]
    fn abs(self) -> Self {
        f64::abs(self)
    }
}

/// `exp(x)` for `f32`, branch-free: `2^n · p(r)` with `n = round(x·log2 e)`,
/// `r = x − n·ln 2` (Cody–Waite split of ln 2) and `p` the degree-6 Taylor
/// polynomial of `e^r` on `|r| ≤ ln2/2`. Relative error below 2.5e-7 (about
/// 2 ulp) on `[-87, 88]`; inputs are clamped to that range (so `exp` of a very
/// negative number is ~1e-38, not 0). Autovectorises: no branches, rounding by
/// the 1.5·2²³ trick, exponent built with integer bit operations.
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    const ROUND: f32 = 12_582_912.0; // 1.5 · 2^23
    let x = x.clamp(-87.0, 88.0);
    // t = 1.5·2^23 + n: the low mantissa bits of t hold n (two's complement).
    let t = x * LOG2E + ROUND;
    let n = t - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.0 / 720.0;
    let p = p * r + 1.0 / 120.0;
    let p = p * r + 1.0 / 24.0;
    let p = p * r + 1.0 / 6.0;
    let p = p * r + 0.5;
    let p = p * r + 1.0;
    let p = p * r + 1.0;
    // 2^n built from t's bits: (n << 23) + (127 << 23), wrapping away the 1.5·2^23.
    let scale = f32::from_bits((t.to_bits() << 23).wrapping_add(127 << 23));
    p * scale
}

/// `tanh(x)` for `f32` as `sign(x) · (1 − 2 / (exp(2|x|) + 1))` with
/// [`exp_f32`]; absolute error below 3e-7 (the quantity GELU and its
/// derivative need). Branch-free.
#[inline(always)]
pub fn tanh_f32(x: f32) -> f32 {
    let a = x.abs().min(10.0);
    let e = exp_f32(2.0 * a);
    let t = 1.0 - 2.0 / (e + 1.0);
    t.copysign(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_exp_and_tanh_are_accurate() {
        let mut worst_exp = 0f64;
        let mut worst_tanh = 0f64;
        let mut x = -80.0f32;
        while x < 80.0 {
            let e = exp_f32(x) as f64;
            let r = (x as f64).exp();
            worst_exp = worst_exp.max(((e - r) / r).abs());
            let t = tanh_f32(x / 8.0) as f64;
            worst_tanh = worst_tanh.max((t - ((x / 8.0) as f64).tanh()).abs());
            x += 0.001_37;
        }
        assert!(worst_exp < 4e-7, "exp relative error {worst_exp}");
        assert!(worst_tanh < 4e-7, "tanh absolute error {worst_tanh}");
        assert_eq!(tanh_f32(0.0), 0.0);
        assert!(tanh_f32(50.0) == 1.0 && tanh_f32(-50.0) == -1.0);
        assert!(exp_f32(-1000.0) < 1e-37 && exp_f32(-1000.0) >= 0.0);
    }
}
