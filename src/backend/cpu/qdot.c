/* Quantized-activation dot products: an activation row is quantized to 8 bits
 * per 32-value block (vc_cpu_quantize_row_q8, the same way for every kernel
 * level), and a weight row of Q8_0 / Q4_0 / Q4_1 / Q4_K / Q6_K is dotted with
 * it in integers (exact per block), one float multiply-add per block.
 * Two builds of the same kernels (qdot_kernels.h): AVX2 (vpmaddubsw +
 * vpmaddwd) and AVX-512 VNNI (vpdpbusd on 256-bit vectors); they give the
 * same bits. The functions carry their own target attributes, so they exist
 * in PORTABLE builds too and are picked at run time (vc_cpu_kernels).
 *
 * Quantized row of n values (n % 32 == 0), nb = n / 32 blocks:
 *   int8 q[n]; float d[nb]; float s[nb]; padding to 64 bytes
 * block b: d[b] = max|x| / 127, q = round(x / d[b]) (0 for an all-zero block),
 *          s[b] = d[b] * sum(q of block b) */
#include "backend/backend.h"

#include <math.h>
#include <string.h>

#include "model/quant.h"

size_t vc_cpu_qrow_bytes(int64_t n) {
    const size_t b = (size_t)n + 8 * (size_t)(n / 32);
    return (b + 63) & ~(size_t)63;
}

static inline const float *qrow_d(const uint8_t *row, int64_t n) { return (const float *)(row + n); }
static inline const float *qrow_s(const uint8_t *row, int64_t n) { return (const float *)(row + n) + n / 32; }

/* Plain C: every step is exact or one correctly rounded IEEE operation, so
 * any vectorization the compiler chooses gives the same bytes. */
void vc_cpu_quantize_row_q8(const float *x, int64_t n, void *dst) {
    int8_t *q = dst;
    float *d = (float *)((uint8_t *)dst + n), *s = d + n / 32;
    for (int64_t b = 0; b < n / 32; b++) {
        const float *xb = x + 32 * b;
        float amax = 0.0f;
        for (int i = 0; i < 32; i++) {
            const float a = fabsf(xb[i]);
            amax = a > amax ? a : amax;
        }
        const float db = amax / 127.0f, id = amax > 0.0f ? 127.0f / amax : 0.0f;
        int sum = 0;
        for (int i = 0; i < 32; i++) {
            const int v = (int)nearbyintf(xb[i] * id);
            q[32 * b + i] = (int8_t)v;
            sum += v;
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

static inline __m256i dot_us_avx2(__m256i u, __m256i s) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

#define QK(name) avx2_##name
#define DOT_US(u, s) dot_us_avx2(u, s)
#include "backend/cpu/qdot_kernels.h"
#undef QK
#undef DOT_US

#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")

#define QK(name) vnni_##name
#define DOT_US(u, s) _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s)
#include "backend/cpu/qdot_kernels.h"
#undef QK
#undef DOT_US

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
