/* Fused weight-row x float-vector dot products: the weight row is read in its
 * stored format (f32, f16, bf16, Q4_0, Q4_1, Q8_0 here; others through
 * quant.h's reference vc_vec_dot_f32) and never dequantized into memory.
 *
 * Each kernel's reduction order is fixed by n alone (8-wide lanes, blocks in
 * order, one horizontal sum at the end), which is what batch invariance needs.
 * Activations stay float32 (llama.cpp instead quantizes them to Q8 for the
 * quantized types; we trade a little speed for exactness against the float
 * references). */
#include "backend/backend.h"

#include <string.h>

#include "model/quant.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#define VC_DOT_AVX2 1
#include <immintrin.h>
#endif

#ifdef VC_DOT_AVX2

static inline float hsum256(__m256 v) {
    __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
    lo = _mm_add_ps(lo, hi);
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
    return _mm_cvtss_f32(lo);
}

static inline float f16_load(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

/* 8 unsigned bytes -> 8 floats */
static inline __m256 u8x8_to_ps(__m128i b) { return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(b)); }
static inline __m256 i8x8_to_ps(__m128i b) { return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(b)); }

static float dot_f32(const float *w, const float *x, int64_t n) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(x + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 8), _mm256_loadu_ps(x + i + 8), a1);
    }
    for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(x + i), a0);
    float s = hsum256(_mm256_add_ps(a0, a1));
    for (; i < n; i++) s += w[i] * x[i];
    return s;
}

static float dot_f16(const uint16_t *w, const float *x, int64_t n) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 w0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + i)));
        __m256 w1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + i + 8)));
        a0 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x + i), a0);
        a1 = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x + i + 8), a1);
    }
    for (; i + 8 <= n; i += 8)
        a0 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + i))),
                             _mm256_loadu_ps(x + i), a0);
    float s = hsum256(_mm256_add_ps(a0, a1));
    for (; i < n; i++) s += _cvtsh_ss(w[i]) * x[i];
    return s;
}

static inline __m256 bf16x8_to_ps(const uint16_t *p) {
    __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}

static float dot_bf16(const uint16_t *w, const float *x, int64_t n) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = _mm256_fmadd_ps(bf16x8_to_ps(w + i), _mm256_loadu_ps(x + i), a0);
        a1 = _mm256_fmadd_ps(bf16x8_to_ps(w + i + 8), _mm256_loadu_ps(x + i + 8), a1);
    }
    for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(bf16x8_to_ps(w + i), _mm256_loadu_ps(x + i), a0);
    float s = hsum256(_mm256_add_ps(a0, a1));
    for (; i < n; i++) s += vc_bf16_to_f32(w[i]) * x[i];
    return s;
}

/* Q8_0 block: f16 d; i8 qs[32]. value = d * q */
static float dot_q8_0(const uint8_t *w, const float *x, int64_t n) {
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / 32; b++, w += 34, x += 32) {
        const __m128i q0 = _mm_loadu_si128((const __m128i *)(w + 2));
        const __m128i q1 = _mm_loadu_si128((const __m128i *)(w + 18));
        __m256 s = _mm256_mul_ps(i8x8_to_ps(q0), _mm256_loadu_ps(x));
        s = _mm256_fmadd_ps(i8x8_to_ps(_mm_srli_si128(q0, 8)), _mm256_loadu_ps(x + 8), s);
        s = _mm256_fmadd_ps(i8x8_to_ps(q1), _mm256_loadu_ps(x + 16), s);
        s = _mm256_fmadd_ps(i8x8_to_ps(_mm_srli_si128(q1, 8)), _mm256_loadu_ps(x + 24), s);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(f16_load(w)), s, acc);
    }
    return hsum256(acc);
}

/* sum over a 32-block of nibbles q (element j: low nibble of qs[j], element
 * j+16: high nibble) times x, returned as 8 lanes */
static inline __m256 nibble_block_dot(const uint8_t *qs, const float *x) {
    const __m128i raw = _mm_loadu_si128((const __m128i *)qs);
    const __m128i mask = _mm_set1_epi8(0x0F);
    const __m128i lo = _mm_and_si128(raw, mask);
    const __m128i hi = _mm_and_si128(_mm_srli_epi16(raw, 4), mask);
    __m256 s = _mm256_mul_ps(u8x8_to_ps(lo), _mm256_loadu_ps(x));
    s = _mm256_fmadd_ps(u8x8_to_ps(_mm_srli_si128(lo, 8)), _mm256_loadu_ps(x + 8), s);
    s = _mm256_fmadd_ps(u8x8_to_ps(hi), _mm256_loadu_ps(x + 16), s);
    s = _mm256_fmadd_ps(u8x8_to_ps(_mm_srli_si128(hi, 8)), _mm256_loadu_ps(x + 24), s);
    return s;
}

static inline __m256 block_xsum(const float *x) {
    return _mm256_add_ps(_mm256_add_ps(_mm256_loadu_ps(x), _mm256_loadu_ps(x + 8)),
                         _mm256_add_ps(_mm256_loadu_ps(x + 16), _mm256_loadu_ps(x + 24)));
}

/* Q4_0 block: f16 d; u8 qs[16]. value = d * (q - 8) = d*q - 8d */
static float dot_q4_0(const uint8_t *w, const float *x, int64_t n) {
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / 32; b++, w += 18, x += 32) {
        const float d = f16_load(w);
        __m256 s = nibble_block_dot(w + 2, x);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), s, acc);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(-8.0f * d), block_xsum(x), acc);
    }
    return hsum256(acc);
}

/* Q4_1 block: f16 d, m; u8 qs[16]. value = d * q + m */
static float dot_q4_1(const uint8_t *w, const float *x, int64_t n) {
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / 32; b++, w += 20, x += 32) {
        __m256 s = nibble_block_dot(w + 4, x);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(f16_load(w)), s, acc);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(f16_load(w + 2)), block_xsum(x), acc);
    }
    return hsum256(acc);
}

int vc_cpu_dot_is_fast(vc_dtype t) {
    switch (t) {
    case VC_F32: case VC_F16: case VC_BF16: case VC_Q8_0: case VC_Q4_0: case VC_Q4_1: return 1;
    default: return 0;
    }
}

float vc_cpu_dot(vc_dtype t, const void *w_row, const float *x, int64_t n) {
    switch (t) {
    case VC_F32: return dot_f32(w_row, x, n);
    case VC_F16: return dot_f16(w_row, x, n);
    case VC_BF16: return dot_bf16(w_row, x, n);
    case VC_Q8_0: return dot_q8_0(w_row, x, n);
    case VC_Q4_0: return dot_q4_0(w_row, x, n);
    case VC_Q4_1: return dot_q4_1(w_row, x, n);
    default: return vc_vec_dot_f32(t, w_row, x, n);
    }
}

#else /* portable build: the reference dot for every type */

int vc_cpu_dot_is_fast(vc_dtype t) {
    (void)t;
    return 0;
}

float vc_cpu_dot(vc_dtype t, const void *w_row, const float *x, int64_t n) {
    if (t == VC_F32) {
        const float *w = w_row;
        float s = 0.0f;
        for (int64_t i = 0; i < n; i++) s += w[i] * x[i];
        return s;
    }
    return vc_vec_dot_f32(t, w_row, x, n);
}

#endif
