//! Threading and instruction-set dispatch helpers.
//!
//! All parallel loops split their work into a fixed number of contiguous
//! chunks that depends only on the thread count, and every reduction combines
//! per-chunk partial results in chunk order, so results are deterministic for
//! a given thread count. Loops run on whichever rayon pool is current: the
//! trainer installs its own local pool, never the global one.

/// A raw pointer that may be shared between threads. Used where parallel
/// workers write disjoint parts of one buffer.
#[derive(Clone, Copy)]
pub(crate) struct SyncPtr<T>(*mut T);
unsafe impl<T> Send for SyncPtr<T> {}
unsafe impl<T> Sync for SyncPtr<T> {}

impl<T> SyncPtr<T> {
    pub(crate) fn new(p: *mut T) -> Self {
        SyncPtr(p)
    }
    #[inline(always)]
    pub(crate) fn get(self) -> *mut T {
        self.0
    }
}

/// Runs `f(chunk, range)` for `chunks` contiguous ranges covering `0..n`,
/// in parallel on the current rayon pool when `chunks > 1`.
pub(crate) fn for_chunks<F>(n: usize, chunks: usize, f: F)
where
    F: Fn(usize, std::ops::Range<usize>) + Sync + Send,
{
    let chunks = chunks.max(1).min(n.max(1));
    if chunks == 1 {
        f(0, 0..n);
        return;
    }
    use rayon::prelude::*;
    (0..chunks).into_par_iter().for_each(|c| {
        let lo = n * c / chunks;
        let hi = n * (c + 1) / chunks;
        f(c, lo..hi)
    });
}

/// Runs `f` compiled for the best instruction set the CPU offers (AVX-512,
/// else AVX2+FMA, else the baseline). `f` should be a closure whose loops
/// autovectorise; the helpers it calls must be `#[inline(always)]`.
#[inline(always)]
pub(crate) fn simd<R, F: FnOnce() -> R>(f: F) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        match level() {
            2 => return unsafe { v4(f) },
            1 => return unsafe { v3(f) },
            _ => {}
        }
    }
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx512dq,avx512bw,avx2,fma,bmi2")]
unsafe fn v4<R, F: FnOnce() -> R>(f: F) -> R {
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,bmi2")]
unsafe fn v3<R, F: FnOnce() -> R>(f: F) -> R {
    f()
}

#[cfg(target_arch = "x86_64")]
fn level() -> u8 {
    use std::sync::atomic::{AtomicU8, Ordering};
    static LEVEL: AtomicU8 = AtomicU8::new(255);
    let l = LEVEL.load(Ordering::Relaxed);
    if l != 255 {
        return l;
    }
    let l = if std::env::var_os("SCALELAB_NO_AVX512").is_none()
        && is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512vl")
        && is_x86_feature_detected!("avx512dq")
        && is_x86_feature_detected!("avx512bw")
        && is_x86_feature_detected!("fma")
    {
        2
    } else if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
        1
    } else {
        0
    };
    LEVEL.store(l, Ordering::Relaxed);
    l
}

/// The instruction set the element-wise kernels use on this CPU.
pub fn simd_level_name() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        match level() {
            2 => return "avx512",
            1 => return "avx2+fma",
            _ => return "baseline",
        }
    }
    #[allow(unreachable_code)]
    "baseline"
}
