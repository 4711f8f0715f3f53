//! A small, fast, seeded 64-bit hash for content fingerprints, document
//! splitting and shingles (not for adversarial inputs). Stable across
//! platforms and releases: changing it changes splits, so it is frozen.

const K0: u64 = 0x9E37_79B9_7F4A_7C15;
const K1: u64 = 0xC2B2_AE3D_27D4_EB4F;

/// Finaliser of MurmurHash3: full avalanche of a 64-bit value.
#[inline]
pub fn mix64(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

/// Hashes bytes with a seed, eight bytes at a time.
#[inline]
pub fn hash64(bytes: &[u8], seed: u64) -> u64 {
    let mut h = seed ^ K0 ^ (bytes.len() as u64).wrapping_mul(K1);
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let v = u64::from_le_bytes(c.try_into().unwrap());
        h = (h ^ v.wrapping_mul(K1)).rotate_left(31).wrapping_mul(K0);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut buf = [0u8; 8];
        buf[..rest.len()].copy_from_slice(rest);
        let v = u64::from_le_bytes(buf);
        h = (h ^ v.wrapping_mul(K1)).rotate_left(31).wrapping_mul(K0);
    }
    mix64(h)
}

/// Combines two hashes (order matters).
#[inline]
pub fn combine(a: u64, b: u64) -> u64 {
    mix64(a.rotate_left(17) ^ b.wrapping_mul(K0))
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn distinct_and_stable() {
        assert_ne!(hash64(b"abc", 0), hash64(b"abd", 0));
        assert_ne!(hash64(b"abc", 0), hash64(b"abc", 1));
        assert_ne!(hash64(b"", 0), hash64(b"\0", 0));
        assert_eq!(hash64(b"scalelab", 0), hash64(b"scalelab", 0));
    }
}
