//! CRC-32C of record bodies, fast for the sizes the journal actually writes.
//!
//! Owns [`crc32c`], the checksum every record carries. It computes exactly
//! the standard CRC-32C (Castagnoli, as the `crc32c` crate and iSCSI define
//! it); only the speed differs. Never allocates, never fails.
//!
//! ## Why not just the `crc32c` crate
//!
//! The SSE 4.2 `crc32` instruction has a latency of 3 cycles and a throughput
//! of 1 per cycle, so one dependency chain runs at a third of the hardware's
//! speed. The crate interleaves three chains only for buffers of at least
//! 768 bytes (3 × its 256-byte short block); a journal record body (24 header
//! bytes + a 64–512 byte event payload) is below that and runs one serial
//! chain: ~105 cycles for a 256-byte payload, more than the copy itself.
//!
//! For bodies of [`PARALLEL_MIN`]..[`PARALLEL_MAX`] bytes (72 B: a 48-byte
//! payload, the smallest where three lanes of three words beat one chain) this module splits
//! the 8-byte words into three equal lanes A, B, C (plus a short tail), runs
//! the three chains side by side, and combines them:
//!
//! ```text
//! crc(A‖B‖C) = shift(crc(A), 2L) ⊕ shift(crc₀(B), L) ⊕ crc₀(C)
//! ```
//!
//! where `crc₀` starts from a zero register and `shift(r, n)` multiplies the
//! register by x^(8n) mod P. With reflected operands, a carry-less multiply
//! by `K = x^(8n−33) mod P` followed by one `crc32` of the 64-bit product
//! computes that shift (the product carries one extra factor x, the `crc32`
//! instruction another x^32: 8n − 33 + 1 + 32 = 8n). The constants for every
//! lane length are computed at compile time ([`SHIFT_TABLE`]). Outside that
//! range, or on a CPU without SSE 4.2 and PCLMULQDQ, the crate does the work.

/// Bodies shorter than this are done by the crate (too short to split).
pub(crate) const PARALLEL_MIN: usize = 72;
/// Bodies at least this long are done by the crate (its own 3-way path).
pub(crate) const PARALLEL_MAX: usize = 8 * 3 * MAX_LANE_WORDS;
/// The longest lane, in 8-byte words, that [`SHIFT_TABLE`] covers.
const MAX_LANE_WORDS: usize = 64;

/// CRC-32C (Castagnoli), polynomial in normal form without the x^32 term.
const POLY_NORMAL: u64 = 0x1EDC_6F41;

/// `x^m mod P`, as a reflected 32-bit value (bit i ↔ x^(31−i)), at compile time.
const fn xpow_mod_p_reflected(m: u32) -> u32 {
    // Normal form: bit i ↔ x^i. Multiply by x m times, reducing by P.
    let mut v: u64 = 1;
    let mut i = 0;
    while i < m {
        v <<= 1;
        if v & (1 << 32) != 0 {
            v ^= (1 << 32) | POLY_NORMAL;
        }
        i += 1;
    }
    (v as u32).reverse_bits()
}

/// `SHIFT_TABLE[w] = (K(8w), K(16w))` with `K(n) = x^(8n−33) mod P`
/// reflected: the multipliers that shift a register over one lane of `w`
/// words and over two.
const SHIFT_TABLE: [(u32, u32); MAX_LANE_WORDS + 1] = {
    let mut t = [(0u32, 0u32); MAX_LANE_WORDS + 1];
    let mut w = 1;
    while w <= MAX_LANE_WORDS {
        let lane_bits = 64 * w as u32;
        t[w] = (
            xpow_mod_p_reflected(lane_bits - 33),
            xpow_mod_p_reflected(2 * lane_bits - 33),
        );
        w += 1;
    }
    t
};

/// The standard CRC-32C of `data`.
#[inline]
pub(crate) fn crc32c(data: &[u8]) -> u32 {
    #[cfg(target_arch = "x86_64")]
    {
        if (PARALLEL_MIN..PARALLEL_MAX).contains(&data.len())
            && std::arch::is_x86_feature_detected!("sse4.2")
            && std::arch::is_x86_feature_detected!("pclmulqdq")
        {
            // SAFETY: both target features were detected on this CPU just
            // above (the macro caches the answer), and the length is in the
            // range `crc32c_3way` requires.
            return unsafe { x86::crc32c_3way(data) };
        }
    }
    ::crc32c::crc32c(data)
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::{
        _mm_clmulepi64_si128, _mm_crc32_u8, _mm_crc32_u64, _mm_cvtsi64_si128, _mm_cvtsi128_si64,
    };

    use super::{MAX_LANE_WORDS, PARALLEL_MIN, SHIFT_TABLE};

    #[inline(always)]
    fn word(bytes: &[u8], i: usize) -> u64 {
        let mut w = [0u8; 8];
        w.copy_from_slice(&bytes[8 * i..8 * i + 8]);
        u64::from_le_bytes(w)
    }

    /// `r · x^(8n) mod P` for a lane of `n` bytes, given `k = K(n)`.
    #[inline]
    #[target_feature(enable = "sse4.2,pclmulqdq")]
    fn shift(r: u32, k: u32) -> u32 {
        let a = _mm_cvtsi64_si128(i64::from(r));
        let b = _mm_cvtsi64_si128(i64::from(k));
        // Low 64 bits of the 32×32 carry-less product (it has at most 63).
        let product = _mm_cvtsi128_si64(_mm_clmulepi64_si128(a, b, 0x00)) as u64;
        _mm_crc32_u64(0, product) as u32
    }

    /// Three interleaved `crc32` chains over equal lanes, combined.
    ///
    /// # Safety
    /// The CPU supports SSE 4.2 and PCLMULQDQ, and
    /// `PARALLEL_MIN <= data.len() < PARALLEL_MAX`.
    #[target_feature(enable = "sse4.2,pclmulqdq")]
    pub(super) unsafe fn crc32c_3way(data: &[u8]) -> u32 {
        debug_assert!(data.len() >= PARALLEL_MIN);
        let words = data.len() / 8;
        let lane = (words / 3).min(MAX_LANE_WORDS);
        let (a, rest) = data.split_at(8 * lane);
        let (b, rest) = rest.split_at(8 * lane);
        let (c, tail) = rest.split_at(8 * lane);

        let mut ra: u64 = 0xFFFF_FFFF; // the standard initial register
        let mut rb: u64 = 0;
        let mut rc: u64 = 0;
        for i in 0..lane {
            ra = _mm_crc32_u64(ra, word(a, i));
            rb = _mm_crc32_u64(rb, word(b, i));
            rc = _mm_crc32_u64(rc, word(c, i));
        }
        let (k1, k2) = SHIFT_TABLE[lane];
        let mut r = u64::from(shift(ra as u32, k2) ^ shift(rb as u32, k1) ^ rc as u32);

        let tail_words = tail.len() / 8;
        for i in 0..tail_words {
            r = _mm_crc32_u64(r, word(tail, i));
        }
        let mut r = r as u32;
        for &byte in &tail[8 * tail_words..] {
            r = _mm_crc32_u8(r, byte);
        }
        !r
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use proptest::prelude::*;

    use super::*;

    #[test]
    fn known_answer_vectors() {
        // RFC 3720 (iSCSI) B.4 test patterns.
        assert_eq!(crc32c(&[0u8; 32]), 0x8A91_36AA);
        assert_eq!(crc32c(&[0xFFu8; 32]), 0x62A8_AB43);
        let ascending: Vec<u8> = (0u8..32).collect();
        assert_eq!(crc32c(&ascending), 0x46DD_794E);
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
    }

    #[test]
    fn every_length_in_and_around_the_parallel_range_matches_the_crate() {
        let data: Vec<u8> = (0..PARALLEL_MAX + 64)
            .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[3])
            .collect();
        for len in 0..data.len() {
            for offset in [0, 1, 3] {
                if offset + len > data.len() {
                    continue;
                }
                let slice = &data[offset..offset + len];
                assert_eq!(
                    crc32c(slice),
                    ::crc32c::crc32c(slice),
                    "len {len} offset {offset}"
                );
            }
        }
    }

    proptest! {
        #[test]
        fn matches_the_crate_on_random_bodies(data in proptest::collection::vec(any::<u8>(), 0..2000)) {
            prop_assert_eq!(crc32c(&data), ::crc32c::crc32c(&data));
        }
    }
}
