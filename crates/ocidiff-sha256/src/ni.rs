//! The compression function with the x86-64 SHA extensions, for one state or two that take
//! the same blocks.

use std::arch::x86_64::{
    __m128i, _mm_add_epi32, _mm_alignr_epi8, _mm_blend_epi16, _mm_loadu_si128, _mm_set_epi64x,
    _mm_sha256msg1_epu32, _mm_sha256msg2_epu32, _mm_sha256rnds2_epu32, _mm_shuffle_epi8,
    _mm_shuffle_epi32, _mm_storeu_si128,
};

const K: [u32; 64] = [
    0x428a_2f98,
    0x7137_4491,
    0xb5c0_fbcf,
    0xe9b5_dba5,
    0x3956_c25b,
    0x59f1_11f1,
    0x923f_82a4,
    0xab1c_5ed5,
    0xd807_aa98,
    0x1283_5b01,
    0x2431_85be,
    0x550c_7dc3,
    0x72be_5d74,
    0x80de_b1fe,
    0x9bdc_06a7,
    0xc19b_f174,
    0xe49b_69c1,
    0xefbe_4786,
    0x0fc1_9dc6,
    0x240c_a1cc,
    0x2de9_2c6f,
    0x4a74_84aa,
    0x5cb0_a9dc,
    0x76f9_88da,
    0x983e_5152,
    0xa831_c66d,
    0xb003_27c8,
    0xbf59_7fc7,
    0xc6e0_0bf3,
    0xd5a7_9147,
    0x06ca_6351,
    0x1429_2967,
    0x27b7_0a85,
    0x2e1b_2138,
    0x4d2c_6dfc,
    0x5338_0d13,
    0x650a_7354,
    0x766a_0abb,
    0x81c2_c92e,
    0x9272_2c85,
    0xa2bf_e8a1,
    0xa81a_664b,
    0xc24b_8b70,
    0xc76c_51a3,
    0xd192_e819,
    0xd699_0624,
    0xf40e_3585,
    0x106a_a070,
    0x19a4_c116,
    0x1e37_6c08,
    0x2748_774c,
    0x34b0_bcb5,
    0x391c_0cb3,
    0x4ed8_aa4a,
    0x5b9c_ca4f,
    0x682e_6ff3,
    0x748f_82ee,
    0x78a5_636f,
    0x84c8_7814,
    0x8cc7_0208,
    0x90be_fffa,
    0xa450_6ceb,
    0xbef9_a3f7,
    0xc671_78f2,
];

pub(crate) fn available() -> bool {
    std::is_x86_feature_detected!("sha")
        && std::is_x86_feature_detected!("sse4.1")
        && std::is_x86_feature_detected!("ssse3")
}

pub(crate) fn compress(state: &mut [u32; 8], blocks: &[u8]) {
    assert!(available() && blocks.len().is_multiple_of(64));
    // SAFETY: the CPU has the features `one` is compiled for, checked just above.
    unsafe { one(state, blocks) }
}

pub(crate) fn compress_both(a: &mut [u32; 8], b: &mut [u32; 8], blocks: &[u8]) {
    assert!(available() && blocks.len().is_multiple_of(64));
    // SAFETY: as in `compress`.
    unsafe { two(a, b, blocks) }
}

/// `state` (a..h) as the two vectors the round instruction takes: ABEF and CDGH.
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
fn load(state: &[u32; 8]) -> (__m128i, __m128i) {
    // SAFETY: reads 16 bytes from each half of an array of 32; unaligned loads are allowed.
    let (dcba, hgfe) = unsafe {
        (
            _mm_loadu_si128(state.as_ptr().cast()),
            _mm_loadu_si128(state[4..].as_ptr().cast()),
        )
    };
    let cdab = _mm_shuffle_epi32(dcba, 0xB1);
    let efgh = _mm_shuffle_epi32(hgfe, 0x1B);
    (
        _mm_alignr_epi8(cdab, efgh, 8),
        _mm_blend_epi16(efgh, cdab, 0xF0),
    )
}

#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
fn store(state: &mut [u32; 8], abef: __m128i, cdgh: __m128i) {
    let feba = _mm_shuffle_epi32(abef, 0x1B);
    let dchg = _mm_shuffle_epi32(cdgh, 0xB1);
    let dcba = _mm_blend_epi16(feba, dchg, 0xF0);
    let hgfe = _mm_alignr_epi8(dchg, feba, 8);
    // SAFETY: writes 16 bytes into each half of an array of 32.
    unsafe {
        _mm_storeu_si128(state.as_mut_ptr().cast(), dcba);
        _mm_storeu_si128(state[4..].as_mut_ptr().cast(), hgfe);
    }
}

/// The 64 message words of `block` plus the round constants, four to a vector: what both
/// states' rounds take.
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
fn schedule(block: &[u8]) -> [__m128i; 16] {
    let swap = _mm_set_epi64x(0x0c0d_0e0f_0809_0a0b, 0x0405_0607_0001_0203);
    let mut w = [_mm_set_epi64x(0, 0); 16];
    for (i, word) in block.chunks_exact(16).enumerate() {
        // SAFETY: `word` is 16 bytes long.
        w[i] = _mm_shuffle_epi8(unsafe { _mm_loadu_si128(word.as_ptr().cast()) }, swap);
    }
    for i in 4..16 {
        let t = _mm_add_epi32(
            _mm_sha256msg1_epu32(w[i - 4], w[i - 3]),
            _mm_alignr_epi8(w[i - 1], w[i - 2], 4),
        );
        w[i] = _mm_sha256msg2_epu32(t, w[i - 1]);
    }
    for (i, v) in w.iter_mut().enumerate() {
        // SAFETY: reads K[4i..4i+4], inside the array of 64.
        *v = _mm_add_epi32(*v, unsafe { _mm_loadu_si128(K[4 * i..].as_ptr().cast()) });
    }
    w
}

#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
fn one(state: &mut [u32; 8], blocks: &[u8]) {
    let (mut abef, mut cdgh) = load(state);
    for block in blocks.chunks_exact(64) {
        let wk = schedule(block);
        let (start0, start1) = (abef, cdgh);
        for v in wk {
            cdgh = _mm_sha256rnds2_epu32(cdgh, abef, v);
            abef = _mm_sha256rnds2_epu32(abef, cdgh, _mm_shuffle_epi32(v, 0x0E));
        }
        abef = _mm_add_epi32(abef, start0);
        cdgh = _mm_add_epi32(cdgh, start1);
    }
    store(state, abef, cdgh);
}

#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
fn two(a: &mut [u32; 8], b: &mut [u32; 8], blocks: &[u8]) {
    let (mut a0, mut a1) = load(a);
    let (mut b0, mut b1) = load(b);
    for block in blocks.chunks_exact(64) {
        let wk = schedule(block);
        let start = (a0, a1, b0, b1);
        for v in wk {
            let high = _mm_shuffle_epi32(v, 0x0E);
            a1 = _mm_sha256rnds2_epu32(a1, a0, v);
            b1 = _mm_sha256rnds2_epu32(b1, b0, v);
            a0 = _mm_sha256rnds2_epu32(a0, a1, high);
            b0 = _mm_sha256rnds2_epu32(b0, b1, high);
        }
        a0 = _mm_add_epi32(a0, start.0);
        a1 = _mm_add_epi32(a1, start.1);
        b0 = _mm_add_epi32(b0, start.2);
        b1 = _mm_add_epi32(b1, start.3);
    }
    store(a, a0, a1);
    store(b, b0, b1);
}
