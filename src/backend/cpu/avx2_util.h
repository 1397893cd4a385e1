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

#endif
