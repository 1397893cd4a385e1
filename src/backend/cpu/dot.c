/* Fused weight-row x float-vector dot products: the weight row is read in its
 * stored format and never dequantized into memory: f32, f16, bf16, Q4_0,
 * Q4_1, Q8_0 are unpacked in registers; Q4_K, Q5_K, Q6_K (one 256-value
 * super-block at a time) and Q5_0, Q5_1 (32 values) are decoded into an L1
 * buffer by SIMD decoders here;
 * other block types the same way through quant.c's vc_dequantize_row.
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

#include "backend/cpu/avx2_util.h"

/* 8 unsigned bytes -> 8 floats */
static inline __m256 u8x8_to_ps(__m128i b) { return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(b)); }
static inline __m256 i8x8_to_ps(__m128i b) { return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(b)); }

/* Every kernel below computes nr (1..VC_DOT_MAX_ROWS) dot products of one
 * weight row with activation rows x + j * x_stride at once: the weights are
 * unpacked once and used nr times. Each row j has its own accumulators and
 * goes through exactly the same operations in the same order whatever nr is,
 * so a result never depends on how many rows shared the pass. */
#define KERNEL static inline __attribute__((always_inline)) void

static inline __m256 load8_f32(const void *w, int64_t i) { return _mm256_loadu_ps((const float *)w + i); }
static inline __m256 load8_f16(const void *w, int64_t i) {
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)w + i)));
}
static inline __m256 load8_bf16(const void *w, int64_t i) {
    __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)((const uint16_t *)w + i)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}
static inline float load1_f32(const void *w, int64_t i) { return ((const float *)w)[i]; }
static inline float load1_f16(const void *w, int64_t i) { return _cvtsh_ss(((const uint16_t *)w)[i]); }
static inline float load1_bf16(const void *w, int64_t i) { return vc_bf16_to_f32(((const uint16_t *)w)[i]); }

/* f32 / f16 / bf16: two 8-lane accumulators per row (even / odd 8-groups of
 * each 16), then one 8-group, one horizontal sum, then the scalar tail */
KERNEL float_rows(__m256 (*load8)(const void *, int64_t), float (*load1)(const void *, int64_t),
                  const void *w, const float *x, int64_t xs, int nr, int64_t n, float *out) {
    __m256 a0[VC_DOT_MAX_ROWS], a1[VC_DOT_MAX_ROWS];
    for (int j = 0; j < nr; j++) a0[j] = a1[j] = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m256 w0 = load8(w, i), w1 = load8(w, i + 8);
        for (int j = 0; j < nr; j++) {
            a0[j] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x + j * xs + i), a0[j]);
            a1[j] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x + j * xs + i + 8), a1[j]);
        }
    }
    int64_t i8 = i;
    if (i + 8 <= n) {
        const __m256 w0 = load8(w, i);
        for (int j = 0; j < nr; j++) a0[j] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x + j * xs + i), a0[j]);
        i8 = i + 8;
    }
    for (int j = 0; j < nr; j++) {
        float s = hsum256(_mm256_add_ps(a0[j], a1[j]));
        for (int64_t k = i8; k < n; k++) s += load1(w, k) * x[j * xs + k];
        out[j] = s;
    }
}

/* 4 x 8 values of a 32-block of nibbles (element k: low nibble of qs[k],
 * element k+16: high nibble) */
static inline void unpack_nibbles(const uint8_t *qs, __m256 wv[4]) {
    const __m128i raw = _mm_loadu_si128((const __m128i *)qs);
    const __m128i mask = _mm_set1_epi8(0x0F);
    const __m128i lo = _mm_and_si128(raw, mask);
    const __m128i hi = _mm_and_si128(_mm_srli_epi16(raw, 4), mask);
    wv[0] = u8x8_to_ps(lo);
    wv[1] = u8x8_to_ps(_mm_srli_si128(lo, 8));
    wv[2] = u8x8_to_ps(hi);
    wv[3] = u8x8_to_ps(_mm_srli_si128(hi, 8));
}

/* s = sum_k wv[k] * x[8k..8k+8) and xsum = (x0 + x1) + (x2 + x3), 8 lanes */
static inline __m256 block_fma(const __m256 wv[4], const float *x, __m256 *xsum) {
    const __m256 x0 = _mm256_loadu_ps(x), x1 = _mm256_loadu_ps(x + 8);
    const __m256 x2 = _mm256_loadu_ps(x + 16), x3 = _mm256_loadu_ps(x + 24);
    __m256 s = _mm256_mul_ps(wv[0], x0);
    s = _mm256_fmadd_ps(wv[1], x1, s);
    s = _mm256_fmadd_ps(wv[2], x2, s);
    s = _mm256_fmadd_ps(wv[3], x3, s);
    if (xsum) *xsum = _mm256_add_ps(_mm256_add_ps(x0, x1), _mm256_add_ps(x2, x3));
    return s;
}

/* Q8_0 block: f16 d; i8 qs[32]. value = d * q */
KERNEL q8_0_rows(const uint8_t *w, const float *x, int64_t xs, int nr, int64_t n, float *out) {
    __m256 acc[VC_DOT_MAX_ROWS];
    for (int j = 0; j < nr; j++) acc[j] = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / 32; b++, w += 34) {
        const __m128i q0 = _mm_loadu_si128((const __m128i *)(w + 2));
        const __m128i q1 = _mm_loadu_si128((const __m128i *)(w + 18));
        const __m256 wv[4] = { i8x8_to_ps(q0), i8x8_to_ps(_mm_srli_si128(q0, 8)),
                               i8x8_to_ps(q1), i8x8_to_ps(_mm_srli_si128(q1, 8)) };
        const __m256 d = _mm256_set1_ps(f16_load(w));
        for (int j = 0; j < nr; j++)
            acc[j] = _mm256_fmadd_ps(d, block_fma(wv, x + j * xs + b * 32, NULL), acc[j]);
    }
    for (int j = 0; j < nr; j++) out[j] = hsum256(acc[j]);
}

/* Q4_0 block: f16 d; u8 qs[16]. value = d * (q - 8) = d*q - 8d */
KERNEL q4_0_rows(const uint8_t *w, const float *x, int64_t xs, int nr, int64_t n, float *out) {
    __m256 acc[VC_DOT_MAX_ROWS];
    for (int j = 0; j < nr; j++) acc[j] = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / 32; b++, w += 18) {
        __m256 wv[4];
        unpack_nibbles(w + 2, wv);
        const float df = f16_load(w);
        const __m256 d = _mm256_set1_ps(df), m = _mm256_set1_ps(-8.0f * df);
        for (int j = 0; j < nr; j++) {
            __m256 xsum;
            const __m256 s = block_fma(wv, x + j * xs + b * 32, &xsum);
            acc[j] = _mm256_fmadd_ps(d, s, acc[j]);
            acc[j] = _mm256_fmadd_ps(m, xsum, acc[j]);
        }
    }
    for (int j = 0; j < nr; j++) out[j] = hsum256(acc[j]);
}

/* Q4_1 block: f16 d, m; u8 qs[16]. value = d * q + m */
KERNEL q4_1_rows(const uint8_t *w, const float *x, int64_t xs, int nr, int64_t n, float *out) {
    __m256 acc[VC_DOT_MAX_ROWS];
    for (int j = 0; j < nr; j++) acc[j] = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / 32; b++, w += 20) {
        __m256 wv[4];
        unpack_nibbles(w + 4, wv);
        const __m256 d = _mm256_set1_ps(f16_load(w)), m = _mm256_set1_ps(f16_load(w + 2));
        for (int j = 0; j < nr; j++) {
            __m256 xsum;
            const __m256 s = block_fma(wv, x + j * xs + b * 32, &xsum);
            acc[j] = _mm256_fmadd_ps(d, s, acc[j]);
            acc[j] = _mm256_fmadd_ps(m, xsum, acc[j]);
        }
    }
    for (int j = 0; j < nr; j++) out[j] = hsum256(acc[j]);
}

/* 32 unsigned bytes -> 4 x 8 floats, in order */
static inline void u8x32_to_ps(__m256i v, float *dst) {
    const __m128i lo = _mm256_castsi256_si128(v), hi = _mm256_extracti128_si256(v, 1);
    _mm256_store_ps(dst, u8x8_to_ps(lo));
    _mm256_store_ps(dst + 8, u8x8_to_ps(_mm_srli_si128(lo, 8)));
    _mm256_store_ps(dst + 16, u8x8_to_ps(hi));
    _mm256_store_ps(dst + 24, u8x8_to_ps(_mm_srli_si128(hi, 8)));
}

/* dst[32k .. 32k+32) = d_k * src + (-m_k), for src already in dst as floats */
static inline void scale_shift32(float *dst, float d, float negm) {
    const __m256 vd = _mm256_set1_ps(d), vm = _mm256_set1_ps(negm);
    for (int i = 0; i < 32; i += 8) _mm256_store_ps(dst + i, _mm256_fmadd_ps(vd, _mm256_load_ps(dst + i), vm));
}

/* Q4_K { f16 d, dmin; u8 scales[12]; u8 qs[128]; }: 8 sub-blocks of 32;
 * chunk c (64 values) takes qs[32c..32c+32): low nibbles are sub-block 2c,
 * high nibbles sub-block 2c+1; value = d*sc*q - dmin*m */
static void decode_q4_k(const uint8_t *b, float *dst) {
    const float d = f16_load(b), dmin = f16_load(b + 2);
    const uint8_t *sc = b + 4, *qs = b + 16;
    const __m256i mask = _mm256_set1_epi8(0x0F);
    for (int c = 0; c < 4; c++) {
        const __m256i raw = _mm256_loadu_si256((const __m256i *)(qs + 32 * c));
        u8x32_to_ps(_mm256_and_si256(raw, mask), dst + 64 * c);
        u8x32_to_ps(_mm256_and_si256(_mm256_srli_epi16(raw, 4), mask), dst + 64 * c + 32);
        float s0, m0, s1, m1;
        k_scale_min(sc, 2 * c, &s0, &m0);
        k_scale_min(sc, 2 * c + 1, &s1, &m1);
        scale_shift32(dst + 64 * c, d * s0, -dmin * m0);
        scale_shift32(dst + 64 * c + 32, d * s1, -dmin * m1);
    }
}

/* Q5_K { f16 d, dmin; u8 scales[12]; u8 qh[32]; u8 qs[128]; }: as Q4_K with a
 * fifth bit: bit 2c of qh[l] for the low nibble of chunk c, bit 2c+1 for the high */
static void decode_q5_k(const uint8_t *b, float *dst) {
    const float d = f16_load(b), dmin = f16_load(b + 2);
    const uint8_t *sc = b + 4, *qh = b + 16, *qs = b + 48;
    const __m256i mask = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);
    const __m256i hbits = _mm256_loadu_si256((const __m256i *)qh);
    for (int c = 0; c < 4; c++) {
        const __m256i raw = _mm256_loadu_si256((const __m256i *)(qs + 32 * c));
        const __m128i sh_lo = _mm_cvtsi32_si128(2 * c), sh_hi = _mm_cvtsi32_si128(2 * c + 1);
        const __m256i h0 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srl_epi16(hbits, sh_lo), one), 4);
        const __m256i h1 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srl_epi16(hbits, sh_hi), one), 4);
        u8x32_to_ps(_mm256_or_si256(_mm256_and_si256(raw, mask), h0), dst + 64 * c);
        u8x32_to_ps(_mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(raw, 4), mask), h1), dst + 64 * c + 32);
        float s0, m0, s1, m1;
        k_scale_min(sc, 2 * c, &s0, &m0);
        k_scale_min(sc, 2 * c + 1, &s1, &m1);
        scale_shift32(dst + 64 * c, d * s0, -dmin * m0);
        scale_shift32(dst + 64 * c + 32, d * s1, -dmin * m1);
    }
}

/* Q6_K { u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d; }: two halves of 128;
 * in half h (ql += 64h, qh += 32h, scales += 8h), for l < 32:
 *   v[l]      = (ql[l] & 15)    | ((qh[l] >> 0) & 3) << 4
 *   v[l + 32] = (ql[l+32] & 15) | ((qh[l] >> 2) & 3) << 4
 *   v[l + 64] = (ql[l] >> 4)    | ((qh[l] >> 4) & 3) << 4
 *   v[l + 96] = (ql[l+32] >> 4) | ((qh[l] >> 6) & 3) << 4
 * value = d * scales[16-value group] * (v - 32) */
static void decode_q6_k(const uint8_t *b, float *dst) {
    const float d = f16_load(b + 208);
    const int8_t *scales = (const int8_t *)(b + 192);
    const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(3);
    for (int h = 0; h < 2; h++) {
        const uint8_t *ql = b + 64 * h, *qh = b + 128 + 32 * h;
        const __m256i l0 = _mm256_loadu_si256((const __m256i *)ql);
        const __m256i l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
        const __m256i hb = _mm256_loadu_si256((const __m256i *)qh);
        const __m256i v[4] = {
            _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_slli_epi16(_mm256_and_si256(hb, m2), 4)),
            _mm256_or_si256(_mm256_and_si256(l1, m4),
                            _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2), m2), 4)),
            _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                            _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 4), m2), 4)),
            _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                            _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 6), m2), 4)),
        };
        for (int k = 0; k < 4; k++) {
            float *o = dst + 128 * h + 32 * k;
            u8x32_to_ps(v[k], o);
            const int si = 8 * h + 2 * k; /* scales of values l < 16 and l >= 16 */
            scale_shift32(o, 1.0f, -32.0f);
            const __m256 s0 = _mm256_set1_ps(d * scales[si]), s1 = _mm256_set1_ps(d * scales[si + 1]);
            _mm256_store_ps(o, _mm256_mul_ps(s0, _mm256_load_ps(o)));
            _mm256_store_ps(o + 8, _mm256_mul_ps(s0, _mm256_load_ps(o + 8)));
            _mm256_store_ps(o + 16, _mm256_mul_ps(s1, _mm256_load_ps(o + 16)));
            _mm256_store_ps(o + 24, _mm256_mul_ps(s1, _mm256_load_ps(o + 24)));
        }
    }
}

/* Q5_0 { f16 d; u8 qh[4]; u8 qs[16] }: value = d*(q-16), as quant.c computes it */
static void decode_q5_0(const uint8_t *b, float *dst) {
    const __m256 d = _mm256_set1_ps(f16_load(b));
    const __m256i q = _mm256_sub_epi8(q5_values(b + 2, b + 6), _mm256_set1_epi8(16));
    const __m128i lo = _mm256_castsi256_si128(q), hi = _mm256_extracti128_si256(q, 1);
    _mm256_store_ps(dst, _mm256_mul_ps(d, i8x8_to_ps(lo)));
    _mm256_store_ps(dst + 8, _mm256_mul_ps(d, i8x8_to_ps(_mm_srli_si128(lo, 8))));
    _mm256_store_ps(dst + 16, _mm256_mul_ps(d, i8x8_to_ps(hi)));
    _mm256_store_ps(dst + 24, _mm256_mul_ps(d, i8x8_to_ps(_mm_srli_si128(hi, 8))));
}

/* Q5_1 { f16 d, m; u8 qh[4]; u8 qs[16] }: value = d*q + m (product rounded, then the sum, as quant.c) */
static void decode_q5_1(const uint8_t *b, float *dst) {
    const __m256 d = _mm256_set1_ps(f16_load(b)), m = _mm256_set1_ps(f16_load(b + 2));
    u8x32_to_ps(q5_values(b + 4, b + 8), dst);
    for (int i = 0; i < 32; i += 8) _mm256_store_ps(dst + i, _mm256_add_ps(_mm256_mul_ps(d, _mm256_load_ps(dst + i)), m));
}

static inline void decode_block(vc_dtype t, const uint8_t *w, float *buf, int64_t be) {
    switch (t) {
    case VC_Q4_K: decode_q4_k(w, buf); break;
    case VC_Q5_K: decode_q5_k(w, buf); break;
    case VC_Q6_K: decode_q6_k(w, buf); break;
    case VC_Q5_0: decode_q5_0(w, buf); break;
    case VC_Q5_1: decode_q5_1(w, buf); break;
    default: vc_dequantize_row(t, w, buf, be); break;
    }
}

/* Any other block type (K-quants, Q5_0/Q5_1, ...): each block is decoded (by
 * the decoders above, else by quant.c) into a float buffer on the stack (L1, never the whole row), then
 * dotted with the nr rows: the decode is shared by the rows and each row's
 * arithmetic is the same whatever nr is. Sums: 8-lane accumulator per row,
 * blocks in order. */
KERNEL decoded_rows(vc_dtype t, const uint8_t *w, const float *x, int64_t xs, int nr, int64_t n,
                    float *out) {
    const int64_t be = vc_dtype_block_elems(t);
    const size_t bb = vc_dtype_block_bytes(t);
    float buf[256] __attribute__((aligned(32)));
    __m256 acc[VC_DOT_MAX_ROWS];
    for (int j = 0; j < nr; j++) acc[j] = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / be; b++, w += bb) {
        decode_block(t, w, buf, be);
        for (int j = 0; j < nr; j++) {
            const float *xj = x + j * xs + b * be;
            for (int64_t i = 0; i < be; i += 8)
                acc[j] = _mm256_fmadd_ps(_mm256_load_ps(buf + i), _mm256_loadu_ps(xj + i), acc[j]);
        }
    }
    for (int j = 0; j < nr; j++) out[j] = hsum256(acc[j]);
}

/* One activation row against NW weight rows: for each weight row exactly the
 * operations of the nr = 1 kernels above (so bitwise the same results), the
 * NW independent accumulation chains interleaved (a single chain waits on
 * the multiply-add latency). */
enum { NW = 4 };

static void q4_1_wrows(const uint8_t *const *w, const float *x, int64_t n, float *out) {
    __m256 acc[NW];
    for (int k = 0; k < NW; k++) acc[k] = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / 32; b++) {
        for (int k = 0; k < NW; k++) {
            const uint8_t *wb = w[k] + 20 * b;
            __m256 wv[4], xsum;
            unpack_nibbles(wb + 4, wv);
            const __m256 d = _mm256_set1_ps(f16_load(wb)), m = _mm256_set1_ps(f16_load(wb + 2));
            const __m256 sv = block_fma(wv, x + b * 32, &xsum);
            acc[k] = _mm256_fmadd_ps(d, sv, acc[k]);
            acc[k] = _mm256_fmadd_ps(m, xsum, acc[k]);
        }
    }
    for (int k = 0; k < NW; k++) out[k] = hsum256(acc[k]);
}

static void q8_0_wrows(const uint8_t *const *w, const float *x, int64_t n, float *out) {
    __m256 acc[NW];
    for (int k = 0; k < NW; k++) acc[k] = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / 32; b++) {
        for (int k = 0; k < NW; k++) {
            const uint8_t *wb = w[k] + 34 * b;
            const __m128i q0 = _mm_loadu_si128((const __m128i *)(wb + 2));
            const __m128i q1 = _mm_loadu_si128((const __m128i *)(wb + 18));
            const __m256 wv[4] = { i8x8_to_ps(q0), i8x8_to_ps(_mm_srli_si128(q0, 8)),
                                   i8x8_to_ps(q1), i8x8_to_ps(_mm_srli_si128(q1, 8)) };
            const __m256 d = _mm256_set1_ps(f16_load(wb));
            acc[k] = _mm256_fmadd_ps(d, block_fma(wv, x + b * 32, NULL), acc[k]);
        }
    }
    for (int k = 0; k < NW; k++) out[k] = hsum256(acc[k]);
}

static void decoded_wrows(vc_dtype t, const uint8_t *const *w, const float *x, int64_t n, float *out) {
    const int64_t be = vc_dtype_block_elems(t);
    const size_t bb = vc_dtype_block_bytes(t);
    float buf[NW][256] __attribute__((aligned(32)));
    __m256 acc[NW];
    for (int k = 0; k < NW; k++) acc[k] = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / be; b++) {
        for (int k = 0; k < NW; k++) decode_block(t, w[k] + b * bb, buf[k], be);
        const float *xb = x + b * be;
        for (int64_t i = 0; i < be; i += 8) {
            const __m256 xv = _mm256_loadu_ps(xb + i);
            for (int k = 0; k < NW; k++) acc[k] = _mm256_fmadd_ps(_mm256_load_ps(buf[k] + i), xv, acc[k]);
        }
    }
    for (int k = 0; k < NW; k++) out[k] = hsum256(acc[k]);
}

/* Many activation rows against up to 4 weight rows of a super-block type:
 * each weight row decoded once (not once per 4 activation rows as
 * decoded_rows does), then tiles of 4 activation rows x 4 weight rows, 16
 * accumulators; per output exactly decoded_rows' operations (one 8-lane
 * multiply-add chain over the row in order, then hsum256), so bitwise
 * vc_cpu_dot. */
enum { GEMM_MAX_N = 8192 };

KERNEL gemm_tile(const float (*wb)[GEMM_MAX_N], int nw, const float *x, int64_t xs, int nx, int64_t n,
                 float *y, size_t ys) {
    __m256 acc[4][4];
    for (int j = 0; j < nx; j++)
        for (int k = 0; k < nw; k++) acc[j][k] = _mm256_setzero_ps();
    for (int64_t i = 0; i < n; i += 8) {
        __m256 wv[4];
        for (int k = 0; k < nw; k++) wv[k] = _mm256_load_ps(wb[k] + i);
        for (int j = 0; j < nx; j++) {
            const __m256 xv = _mm256_loadu_ps(x + j * xs + i);
            for (int k = 0; k < nw; k++) acc[j][k] = _mm256_fmadd_ps(wv[k], xv, acc[j][k]);
        }
    }
    for (int j = 0; j < nx; j++)
        for (int k = 0; k < nw; k++) y[(size_t)j * ys + k] = hsum256(acc[j][k]);
}

/* Q4_1: the nibbles unpacked to floats once per weight row (wq) with the
 * block scales (wd, wm); per output exactly q4_1_rows' operations: per block
 * s = block_fma, acc += d * s, acc += m * xsum (xsum shared by the weight
 * rows of a tile); tiles of 2 activation rows x up to 4 weight rows */
KERNEL gemm_q4_1_tile(const float (*wq)[GEMM_MAX_N], const float (*wd)[GEMM_MAX_N / 32],
                      const float (*wm)[GEMM_MAX_N / 32], int nw, const float *x, int64_t xs, int nx, int64_t n,
                      float *y, size_t ys) {
    __m256 acc[2][4];
    for (int j = 0; j < nx; j++)
        for (int k = 0; k < nw; k++) acc[j][k] = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / 32; b++) {
        __m256 xv[2][4], xsum[2];
        for (int j = 0; j < nx; j++) {
            for (int q = 0; q < 4; q++) xv[j][q] = _mm256_loadu_ps(x + j * xs + 32 * b + 8 * q);
            xsum[j] = _mm256_add_ps(_mm256_add_ps(xv[j][0], xv[j][1]), _mm256_add_ps(xv[j][2], xv[j][3]));
        }
        for (int k = 0; k < nw; k++) {
            const float *wb = wq[k] + 32 * b;
            const __m256 w0 = _mm256_load_ps(wb), w1 = _mm256_load_ps(wb + 8);
            const __m256 w2 = _mm256_load_ps(wb + 16), w3 = _mm256_load_ps(wb + 24);
            const __m256 d = _mm256_set1_ps(wd[k][b]), m = _mm256_set1_ps(wm[k][b]);
            for (int j = 0; j < nx; j++) {
                __m256 s = _mm256_mul_ps(w0, xv[j][0]);
                s = _mm256_fmadd_ps(w1, xv[j][1], s);
                s = _mm256_fmadd_ps(w2, xv[j][2], s);
                s = _mm256_fmadd_ps(w3, xv[j][3], s);
                acc[j][k] = _mm256_fmadd_ps(d, s, acc[j][k]);
                acc[j][k] = _mm256_fmadd_ps(m, xsum[j], acc[j][k]);
            }
        }
    }
    for (int j = 0; j < nx; j++)
        for (int k = 0; k < nw; k++) y[(size_t)j * ys + k] = hsum256(acc[j][k]);
}

static void gemm_q4_1(const uint8_t *w, size_t row_bytes, int nw, const float *x, int64_t xs, int nx, int64_t n,
                      float *y, size_t ys) {
    float wq[4][GEMM_MAX_N] __attribute__((aligned(32)));
    float wd[4][GEMM_MAX_N / 32], wm[4][GEMM_MAX_N / 32];
    for (int k = 0; k < nw; k++)
        for (int64_t b = 0; b < n / 32; b++) {
            const uint8_t *wb = w + (size_t)k * row_bytes + 20 * b;
            __m256 wv[4];
            unpack_nibbles(wb + 4, wv);
            for (int q = 0; q < 4; q++) _mm256_store_ps(wq[k] + 32 * b + 8 * q, wv[q]);
            wd[k][b] = f16_load(wb);
            wm[k][b] = f16_load(wb + 2);
        }
    for (int j = 0; j < nx; j += 2) {
        const int m = nx - j < 2 ? nx - j : 2;
        if (m == 2 && nw == 4)
            gemm_q4_1_tile((const float (*)[GEMM_MAX_N])wq, (const float (*)[GEMM_MAX_N / 32])wd,
                           (const float (*)[GEMM_MAX_N / 32])wm, 4, x + j * xs, xs, 2, n, y + (size_t)j * ys, ys);
        else
            gemm_q4_1_tile((const float (*)[GEMM_MAX_N])wq, (const float (*)[GEMM_MAX_N / 32])wd,
                           (const float (*)[GEMM_MAX_N / 32])wm, nw, x + j * xs, xs, m, n, y + (size_t)j * ys, ys);
    }
}

int vc_cpu_dot_gemm(vc_dtype t, const uint8_t *w, size_t row_bytes, int nw, const float *x, int64_t xs, int nx,
                    int64_t n, float *y, size_t ys) {
    if (n > GEMM_MAX_N || nw < 1 || nw > 4) return 0;
    if (t == VC_Q4_1 && n % 32 == 0) {
        gemm_q4_1(w, row_bytes, nw, x, xs, nx, n, y, ys);
        return 1;
    }
    if ((t != VC_Q4_K && t != VC_Q5_K && t != VC_Q6_K) || n % 256) return 0;
    float wb[4][GEMM_MAX_N] __attribute__((aligned(32)));
    const size_t bb = vc_dtype_block_bytes(t);
    for (int k = 0; k < nw; k++)
        for (int64_t b = 0; b < n / 256; b++) decode_block(t, w + (size_t)k * row_bytes + b * bb, wb[k] + 256 * b, 256);
    for (int j = 0; j < nx; j += 4) {
        const int m = nx - j < 4 ? nx - j : 4;
        /* constant shapes for the common case, so the accumulators stay in registers */
        if (m == 4 && nw == 4) gemm_tile((const float (*)[GEMM_MAX_N])wb, 4, x + j * xs, xs, 4, n, y + (size_t)j * ys, ys);
        else gemm_tile((const float (*)[GEMM_MAX_N])wb, nw, x + j * xs, xs, m, n, y + (size_t)j * ys, ys);
    }
    return 1;
}

int vc_cpu_dot_wrows(vc_dtype t, const uint8_t *const *w_rows, const float *x, int64_t n, float *out) {
    switch (t) {
    case VC_Q4_1: q4_1_wrows(w_rows, x, n, out); return 1;
    case VC_Q8_0: q8_0_wrows(w_rows, x, n, out); return 1;
    case VC_Q4_K: case VC_Q5_K: case VC_Q6_K: decoded_wrows(t, w_rows, x, n, out); return 1;
    default: return 0;
    }
}

/* one call per nr so that every kernel is specialised with a constant row count */
#define DISPATCH_NR(call)                  \
    switch (nr) {                          \
    case 1: { const int nr_ = 1; call; } break; \
    case 2: { const int nr_ = 2; call; } break; \
    case 3: { const int nr_ = 3; call; } break; \
    default: { const int nr_ = 4; call; } break; \
    }

void vc_cpu_dot_rows(vc_dtype t, const void *w_row, const float *x, int64_t x_stride, int nr,
                     int64_t n, float *out) {
    switch (t) {
    case VC_F32: DISPATCH_NR(float_rows(load8_f32, load1_f32, w_row, x, x_stride, nr_, n, out)); return;
    case VC_F16: DISPATCH_NR(float_rows(load8_f16, load1_f16, w_row, x, x_stride, nr_, n, out)); return;
    case VC_BF16: DISPATCH_NR(float_rows(load8_bf16, load1_bf16, w_row, x, x_stride, nr_, n, out)); return;
    case VC_Q8_0: DISPATCH_NR(q8_0_rows(w_row, x, x_stride, nr_, n, out)); return;
    case VC_Q4_0: DISPATCH_NR(q4_0_rows(w_row, x, x_stride, nr_, n, out)); return;
    case VC_Q4_1: DISPATCH_NR(q4_1_rows(w_row, x, x_stride, nr_, n, out)); return;
    default:
        if (vc_dtype_block_elems(t) % 8 == 0 && vc_dtype_block_elems(t) <= 256) {
            DISPATCH_NR(decoded_rows(t, w_row, x, x_stride, nr_, n, out));
        } else {
            for (int j = 0; j < nr; j++) out[j] = vc_vec_dot_f32(t, w_row, x + j * x_stride, n);
        }
    }
}

float vc_cpu_dot(vc_dtype t, const void *w_row, const float *x, int64_t n) {
    float out;
    vc_cpu_dot_rows(t, w_row, x, n, 1, n, &out);
    return out;
}

int vc_cpu_dot_is_fast(vc_dtype t) {
    switch (t) {
    case VC_F32: case VC_F16: case VC_BF16: case VC_Q8_0: case VC_Q4_0: case VC_Q4_1:
    case VC_Q4_K: case VC_Q5_K: case VC_Q6_K: case VC_Q5_0: case VC_Q5_1: return 1;
    default: return 0; /* blocks decoded by quant.c's reference dequantizer */
    }
}


#else /* portable build: the reference dot for every type */

int vc_cpu_dot_wrows(vc_dtype t, const uint8_t *const *w_rows, const float *x, int64_t n, float *out) {
    (void)t; (void)w_rows; (void)x; (void)n; (void)out;
    return 0;
}

int vc_cpu_dot_gemm(vc_dtype t, const uint8_t *w, size_t row_bytes, int nw, const float *x, int64_t xs, int nx,
                    int64_t n, float *y, size_t ys) {
    (void)t; (void)w; (void)row_bytes; (void)nw; (void)x; (void)xs; (void)nx; (void)n; (void)y; (void)ys;
    return 0;
}

void vc_cpu_dot_rows(vc_dtype t, const void *w_row, const float *x, int64_t x_stride, int nr,
                     int64_t n, float *out) {
    vc_cpu_dot_rows_portable(t, w_row, x, x_stride, nr, n, out);
}

int vc_cpu_dot_is_fast(vc_dtype t) {
    (void)t;
    return 0;
}

float vc_cpu_dot(vc_dtype t, const void *w_row, const float *x, int64_t n) {
    float out;
    vc_cpu_dot_rows_portable(t, w_row, x, n, 1, n, &out);
    return out;
}

#endif

/* every build: the plain C dots (VLLMC_KERNELS=portable runs these) */
void vc_cpu_dot_rows_portable(vc_dtype t, const void *w_row, const float *x, int64_t x_stride,
                              int nr, int64_t n, float *out) {
    for (int j = 0; j < nr; j++) {
        const float *xj = x + j * x_stride;
        if (t == VC_F32) {
            const float *w = w_row;
            float s = 0.0f;
            for (int64_t i = 0; i < n; i++) s += w[i] * xj[i];
            out[j] = s;
        } else {
            out[j] = vc_vec_dot_f32(t, w_row, xj, n);
        }
    }
}
