/* Quantized-activation dot products: an activation row is quantized to 8 bits
 * per 32-value block (vc_cpu_quantize_row_q8, the same way for every kernel
 * level), and a weight row of Q8_0 / Q4_0 / Q4_1 / Q4_K / Q6_K is dotted with
 * it in integers (exact per block), one float multiply-add per block.
 * Two builds of the same kernels (qdot_kernels.h): AVX2 (vpmaddubsw +
 * vpmaddwd) and AVX-512 VNNI (vpdpbusd on 256-bit vectors); they give the
 * same bits. The functions carry their own target attributes, so they exist
 * in PORTABLE builds too and are picked at run time (vc_cpu_kernels).
 *
 * Quantized row of n values (n % 32 == 0), nb = n / 32 blocks, in groups of
 * 8 blocks (ng = ceil(nb / 8), the last padded with zero blocks):
 *   int8 q[ng][8][8][4]: group g, step i, block b: bytes 4i..4i+3 of block 8g+b
 *                        (a last group of fewer than 8 blocks: q[b][32] in order)
 *   float d[8 ng]; float s[8 ng]      (ng * 320 bytes, a multiple of 64)
 * block b: d[b] = max|x| / 127, q = round(x / d[b]) (0 for an all-zero block),
 *          s[b] = d[b] * sum(q of block b) */
#include "backend/backend.h"

#include <math.h>
#include <string.h>

#include "model/quant.h"

static inline int64_t qrow_groups(int64_t n) { return (n / 32 + 7) / 8; }

size_t vc_cpu_qrow_bytes(int64_t n) { return (size_t)qrow_groups(n) * 320; }

static inline const float *qrow_d(const uint8_t *row, int64_t n) {
    return (const float *)(row + 256 * qrow_groups(n));
}
static inline const float *qrow_s(const uint8_t *row, int64_t n) { return qrow_d(row, n) + 8 * qrow_groups(n); }

int8_t vc_cpu_qrow_q(const void *row, int64_t n, int64_t k) {
    const int64_t b = k / 32, j = k % 32;
    if (8 * (b / 8 + 1) > n / 32) return ((const int8_t *)row)[256 * (b / 8) + 32 * (b % 8) + j];
    return ((const int8_t *)row)[256 * (b / 8) + 4 * (8 * (j / 4) + b % 8) + j % 4];
}
float vc_cpu_qrow_d(const void *row, int64_t n, int64_t b) { return qrow_d(row, n)[b]; }
float vc_cpu_qrow_s(const void *row, int64_t n, int64_t b) { return qrow_s(row, n)[b]; }

/* Plain C: every step is exact or one correctly rounded IEEE operation, so
 * any vectorization the compiler chooses gives the same bytes. */
void vc_cpu_quantize_row_q8(const float *x, int64_t n, void *dst) {
    const int64_t nb = n / 32, ng = qrow_groups(n);
    int8_t *q = dst;
    float *d = (float *)((uint8_t *)dst + 256 * ng), *s = d + 8 * ng;
    for (int64_t b = 0; b < 8 * ng; b++) {
        int8_t qb[32];
        float db = 0.0f;
        int sum = 0;
        if (b < nb) {
            const float *xb = x + 32 * b;
            float amax = 0.0f;
            for (int i = 0; i < 32; i++) {
                const float a = fabsf(xb[i]);
                amax = a > amax ? a : amax;
            }
            db = amax / 127.0f;
            const float id = amax > 0.0f ? 127.0f / amax : 0.0f;
            for (int i = 0; i < 32; i++) {
                const int v = (int)nearbyintf(xb[i] * id);
                qb[i] = (int8_t)v;
                sum += v;
            }
        } else {
            memset(qb, 0, sizeof qb);
        }
        if (8 * (b / 8 + 1) <= nb) { /* a whole group: interleaved */
            int8_t *g = q + 256 * (b / 8) + 4 * (b % 8);
            for (int i = 0; i < 8; i++) memcpy(g + 32 * i, qb + 4 * i, 4);
        } else { /* the last, partial group: natural order */
            memcpy(q + 256 * (b / 8) + 32 * (b % 8), qb, 32);
        }
        d[b] = db;
        s[b] = db * (float)sum;
    }
}

int vc_cpu_qdot_supported(vc_kernels k, vc_dtype t, int64_t n) {
    if (k == VC_KERNELS_PORTABLE || n > 32 * VC_QDOT_MAX_BLOCKS) return 0;
#if defined(__x86_64__) || defined(__i386__)
    switch (t) {
    case VC_Q8_0: case VC_Q4_0: case VC_Q4_1: case VC_Q4_K: case VC_Q6_K: return 1;
    default: return 0;
    }
#else
    (void)t;
    return 0;
#endif
}

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

enum { SEG = 32 }; /* blocks per scale segment in qdot_kernels.h */

#define KERNEL static inline __attribute__((always_inline)) void
enum { QGROUP = 8 }; /* activation rows sharing one pass over a weight row */
#define DISPATCH_NR(nr, call)                            \
    switch (nr) {                                        \
    case 1: { const int nr_ = 1; call; } break;          \
    case 2: { const int nr_ = 2; call; } break;          \
    case 3: { const int nr_ = 3; call; } break;          \
    case 4: { const int nr_ = 4; call; } break;          \
    case 5: { const int nr_ = 5; call; } break;          \
    case 6: { const int nr_ = 6; call; } break;          \
    case 7: { const int nr_ = 7; call; } break;          \
    default: { const int nr_ = 8; call; } break;         \
    }

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")

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

/* the 6-bit scale and min of sub-block j of a Q4_K super-block */
static inline void k_scale_min(const uint8_t *q, int j, float *sc, float *mn) {
    if (j < 4) {
        *sc = (float)(q[j] & 63);
        *mn = (float)(q[j + 4] & 63);
    } else {
        *sc = (float)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *mn = (float)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

static inline __m256i dot_acc_avx2(__m256i acc, __m256i u, __m256i s) {
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)));
}

#define QK(name) avx2_##name
#define DOT_ACC(acc, u, s) dot_acc_avx2(acc, u, s)
#include "backend/cpu/qdot_kernels.h"
#undef QK
#undef DOT_ACC

#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")

#define QK(name) vnni_##name
#define DOT_ACC(acc, u, s) _mm256_dpbusd_epi32(acc, u, s)
#include "backend/cpu/qdot_kernels.h"
#undef QK
#undef DOT_ACC

#pragma GCC pop_options

void vc_cpu_qdot_rows(vc_kernels k, vc_dtype t, const void *w_row, const void *qx, size_t qx_stride,
                      int nr, int64_t n, float *out, size_t out_stride) {
    if (k == VC_KERNELS_AVX512) vnni_rows(t, w_row, qx, qx_stride, nr, n, out, out_stride);
    else avx2_rows(t, w_row, qx, qx_stride, nr, n, out, out_stride);
}

#else

void vc_cpu_qdot_rows(vc_kernels k, vc_dtype t, const void *w_row, const void *qx, size_t qx_stride,
                      int nr, int64_t n, float *out, size_t out_stride) {
    (void)k; (void)t; (void)w_row; (void)qx; (void)qx_stride; (void)nr; (void)n; (void)out; (void)out_stride;
}

#endif
