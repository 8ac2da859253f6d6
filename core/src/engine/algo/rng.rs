//! SplitMix64: the algos' deterministic, seeded random numbers.
//!
//! Owns [`SplitMix64`] (Steele, Lea and Flood, "Fast splittable pseudorandom
//! number generators", OOPSLA 2014; constants as in Vigna's reference
//! `splitmix64.c`) and uniform draws from inclusive integer ranges. Same
//! seed, same sequence, on every machine. Never allocates, never panics,
//! never reads a clock or the OS: not for cryptography.

/// A 64-bit SplitMix generator: one `u64` of state, every seed valid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator seeded with `seed` (0 is fine).
    pub const fn new(seed: u64) -> SplitMix64 {
        SplitMix64 { state: seed }
    }

    /// The next 64 random bits.
    pub const fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo ..= hi` (the bounds swapped if given the wrong way
    /// round). Lemire's multiply-shift reduction: a bias of at most
    /// `span / 2^64`, irrelevant for slice sizes and delays.
    pub const fn range_u64(&mut self, lo: u64, hi: u64) -> u64 {
        let (lo, hi) = if lo <= hi { (lo, hi) } else { (hi, lo) };
        let span = (hi - lo) as u128 + 1; // 1 ..= 2^64
        let r = self.next_u64() as u128;
        // (r * span) >> 64 < span ≤ 2^64, so it fits u64 and lo + it ≤ hi.
        lo + ((r * span) >> 64) as u64
    }

    /// Uniform in `lo ..= hi` for signed bounds (swapped if reversed).
    pub const fn range_i64(&mut self, lo: i64, hi: i64) -> i64 {
        let (lo, hi) = if lo <= hi { (lo, hi) } else { (hi, lo) };
        // The span of two i64 fits u64 exactly; lo + offset ≤ hi fits i64.
        let span = hi.abs_diff(lo);
        let off = self.range_u64(0, span);
        lo.wrapping_add(off as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_reference_sequence() {
        // splitmix64.c with x = 0: the first outputs.
        let mut r = SplitMix64::new(0);
        assert_eq!(r.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(r.next_u64(), 0x6E78_9E6A_A1B9_65F4);
        assert_eq!(r.next_u64(), 0x06C4_5D18_8009_454F);
    }

    #[test]
    fn same_seed_same_sequence() {
        let mut a = SplitMix64::new(42);
        let mut b = SplitMix64::new(42);
        let mut c = SplitMix64::new(43);
        let xs: Vec<u64> = (0..8).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..8).map(|_| b.next_u64()).collect();
        let zs: Vec<u64> = (0..8).map(|_| c.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs, zs);
    }

    #[test]
    fn ranges_stay_inside_and_reach_both_ends() {
        let mut r = SplitMix64::new(7);
        let (mut lo_seen, mut hi_seen) = (false, false);
        for _ in 0..2000 {
            let v = r.range_u64(3, 9);
            assert!((3..=9).contains(&v));
            lo_seen |= v == 3;
            hi_seen |= v == 9;
            let s = r.range_i64(-5, 5);
            assert!((-5..=5).contains(&s));
        }
        assert!(lo_seen && hi_seen);
        assert_eq!(r.range_u64(4, 4), 4);
        assert!((2..=8).contains(&r.range_u64(8, 2)));
        // Full ranges do not overflow.
        let _ = r.range_u64(0, u64::MAX);
        let _ = r.range_i64(i64::MIN, i64::MAX);
    }
}
