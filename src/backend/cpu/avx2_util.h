/* Small AVX2 helpers shared by the float dots (dot.c, built with AVX2 at
 * compile time) and the quantized-activation dots (qdot.c, under a target
 * pragma): include where AVX2, FMA and F16C are enabled, after
 * <immintrin.h>. */
#ifndef VLLMC_AVX2_UTIL_H
#define VLLMC_AVX2_UTIL_H

#include <stdint.h>
#include <string.h>

/* the sum of the 8 lanes, in a fixed order */
static inline float hsum256(__m256 v) {
    __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
    lo = _mm_add_ps(lo, hi);
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
    return _mm_cvtss_f32(lo);
}

/* an IEEE half at p (unaligned) as a float */
static inline float f16_load(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

/* the 6-bit scale and min of sub-block j of a Q4_K/Q5_K super-block (the
 * 12-byte packing of the GGUF spec) */
static inline void k_scale_min(const uint8_t *q, int j, float *sc, float *mn) {
    if (j < 4) {
        *sc = (float)(q[j] & 63);
        *mn = (float)(q[j + 4] & 63);
    } else {
        *sc = (float)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *mn = (float)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

/* Q5_0 / Q5_1 blocks of 32: the 5-bit values as 32 bytes in element order.
 * qs[j] holds element j (low nibble) and j+16 (high nibble); bit j of the
 * little-endian u32 qh is bit 4 of element j. */
static inline __m256i q5_values(const uint8_t *qh4, const uint8_t *qs) {
    uint32_t qh;
    memcpy(&qh, qh4, 4);
    const __m128i raw = _mm_loadu_si128((const __m128i *)qs), m4 = _mm_set1_epi8(0x0F);
    const __m256i nib = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(raw, 4), m4), _mm_and_si128(raw, m4));
    /* byte j <- byte j/8 of qh, then keep bit j%8 */
    const __m256i pick = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0);
    const __m256i bit = _mm256_set1_epi64x((int64_t)0x8040201008040201ull);
    __m256i hb = _mm256_shuffle_epi8(_mm256_set1_epi32((int)qh), pick);
    hb = _mm256_cmpeq_epi8(_mm256_and_si256(hb, bit), bit);
    return _mm256_or_si256(nib, _mm256_and_si256(hb, _mm256_set1_epi8(0x10)));
}

#endif
