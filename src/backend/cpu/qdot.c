/* Quantized-activation dot products: an activation row is quantized to 8 bits
 * per 32-value block (vc_cpu_quantize_row_q8, the same way for every kernel
 * level; or by llama.cpp's rules, vc_cpu_quantize_row_q8_rule), and
 * a weight row of Q8_0 / Q4_0 / Q4_1 / Q5_0 / Q5_1 / Q4_K / Q6_K is dotted
 * with it in integers (exact per block), one float multiply-add per block.
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
 *          s[b] = d[b] * sum(q of block b) (VC_Q8_RULE_K: d per 256 values,
 *          s[b] the integer sum itself) */
#include "backend/backend.h"

#include <math.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "model/quant.h"

static inline int64_t qrow_groups(int64_t n) { return (n / 32 + 7) / 8; }

size_t vc_cpu_qrow_bytes(int64_t n) { return (size_t)qrow_groups(n) * 320; }
/* The plain int8 copy of a row (nat): its n values in order, padded to a
 * multiple of 64 bytes; then, where nb = n / 32 is not a multiple of 8, the
 * "stream" the few-row kernels read packed weight rows against (qdot_few.h):
 * R = qnat_pack(n) rows of nb blocks are R nb blocks one after the other, a
 * whole number S = R nb / 8 of groups of 8, and stream group s holds
 * activation block (8 s + b) mod nb in lane b, interleaved as the quantized
 * row's whole groups; groups s < nb / 8 are those whole groups, so only
 * s = nb / 8 .. S - 1 are stored (256 bytes each, at qnat_tail). The first
 * of them begins with the row's last partial group. */
static inline size_t qnat_tail(int64_t n) { return ((size_t)n + 63) & ~(size_t)63; }
static inline int qnat_pack(int64_t n) {
    const int kb = (int)((n / 32) % 8);
    return kb == 0 ? 1 : kb % 2 ? 8 : kb % 4 ? 4 : 2; /* 8 / gcd(kb, 8) */
}
static inline int64_t qnat_stream_groups(int64_t n) { return qnat_pack(n) * (n / 32) / 8 - (n / 32) / 8; }
size_t vc_cpu_qnat_bytes(int64_t n) { return qnat_tail(n) + 256 * (size_t)qnat_stream_groups(n); }
enum { PACK_GROUPS = 64 }; /* stream groups per pack at most (qdot_few.h's stack arrays) */
int vc_cpu_qdot_few_pack(vc_dtype t, int64_t n) {
    const int R = qnat_pack(n);
    return (t == VC_Q4_0 || t == VC_Q4_1 || t == VC_Q8_0) && R * (n / 32) <= 8 * PACK_GROUPS ? R : 1;
}

/* the stream groups of nat from its values in order */
static void qnat_stream(int8_t *nat, int64_t n) {
    const int64_t nb = n / 32, ng = nb / 8, ns = qnat_stream_groups(n);
    int8_t *st = nat + qnat_tail(n);
    for (int64_t s = 0; s < ns; s++)
        for (int b = 0; b < 8; b++) {
            const int8_t *src = nat + 32 * ((8 * (ng + s) + b) % nb);
            for (int i = 0; i < 8; i++) memcpy(st + 256 * s + 32 * i + 4 * b, src + 4 * i, 4);
        }
}

void vc_cpu_qrow_natural(const void *row, int64_t n, int8_t *dst) {
    for (int64_t k = 0; k < n; k++) dst[k] = vc_cpu_qrow_q(row, n, k);
    qnat_stream(dst, n);
}

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
void vc_cpu_quantize_row_q8(const float *x, int64_t n, void *dst) { vc_cpu_quantize_row_q8_nat(x, n, dst, NULL); }

/* len values sharing one scale (a 32-value block, or with spans of 256 a
 * super-block, as llama.cpp's Q8_K): q = round(x / d), d = max|x| / 127
 * (all 0 when every x is 0); returns d */
static float quant_span(const float *xb, int len, int8_t *qb) {
    float amax = 0.0f;
    for (int i = 0; i < len; i++) {
        const float a = fabsf(xb[i]);
        amax = a > amax ? a : amax;
    }
    const float id = amax > 0.0f ? 127.0f / amax : 0.0f;
    for (int i = 0; i < len; i++) qb[i] = (int8_t)(int)nearbyintf(xb[i] * id);
    return amax / 127.0f;
}

/* one 32-value block; *sum = sum of q */
static float quant_block(const float *xb, int8_t qb[32], int *sum) {
    const float d = quant_span(xb, 32, qb);
    *sum = 0;
    for (int i = 0; i < 32; i++) *sum += qb[i];
    return d;
}

/* block b of a quantized row (layout at the top), and of its plain copy;
 * its d and s as given */
static void store_block(void *dst, int8_t *nat, int64_t n, int64_t b, const int8_t qb[32], float db, float sb) {
    const int64_t nb = n / 32, ng = qrow_groups(n);
    int8_t *q = dst;
    float *d = (float *)((uint8_t *)dst + 256 * ng), *s = d + 8 * ng;
    if (8 * (b / 8 + 1) <= nb) { /* a whole group: interleaved */
        int8_t *g = q + 256 * (b / 8) + 4 * (b % 8);
        for (int i = 0; i < 8; i++) memcpy(g + 32 * i, qb + 4 * i, 4);
    } else { /* the last, partial group: natural order */
        memcpy(q + 256 * (b / 8) + 32 * (b % 8), qb, 32);
    }
    if (nat && b < nb) memcpy(nat + 32 * b, qb, 32); /* the stream: qnat_stream, once all are in */
    d[b] = db;
    s[b] = sb;
}

static inline float f16_round(float v) { return vc_f16_to_f32(vc_f32_to_f16(v)); }

void vc_cpu_quantize_row_q8_nat(const float *x, int64_t n, void *dst, int8_t *nat) {
    vc_cpu_quantize_row_q8_rule(x, n, VC_Q8_RULE_F32, dst, nat);
}

static void quantize_row_c(const float *x, int64_t n, vc_q8_rule rule, void *dst, int8_t *nat) {
    const int64_t nb = n / 32, ng = qrow_groups(n);
    int8_t q[256];
    float d = 0.0f;
    for (int64_t b = 0; b < 8 * ng; b++) {
        int8_t qb[32] = { 0 };
        int sum = 0;
        float db = 0.0f, sb = 0.0f;
        if (b < nb) {
            if (rule != VC_Q8_RULE_K) {
                db = quant_block(x + 32 * b, qb, &sum);
                sb = db * (float)sum;
                if (rule == VC_Q8_RULE_F16) { /* as llama.cpp stores them: s from the f32 d */
                    sb = f16_round(sb);
                    db = f16_round(db);
                }
            } else { /* the super-block's q, at its first block */
                if (b % 8 == 0) d = quant_span(x + 32 * b, 256, q);
                memcpy(qb, q + 32 * (b % 8), 32);
                for (int i = 0; i < 32; i++) sum += qb[i];
                db = d;
                sb = (float)sum; /* the integer sum: the K-quant kernels' integer super-block sums */
            }
        }
        store_block(dst, nat, n, b, qb, db, sb);
    }
    if (nat) qnat_stream(nat, n);
}

static int quantize_row_vnni(const float *x, int64_t n, vc_q8_rule rule, void *dst, int8_t *nat);

void vc_cpu_quantize_row_q8_level(vc_kernels k, const float *x, int64_t n, vc_q8_rule rule, void *dst, int8_t *nat) {
    if (k >= VC_KERNELS_AVX512 && quantize_row_vnni(x, n, rule, dst, nat)) return;
    quantize_row_c(x, n, rule, dst, nat);
}

void vc_cpu_quantize_row_q8_rule(const float *x, int64_t n, vc_q8_rule rule, void *dst, int8_t *nat) {
    vc_cpu_quantize_row_q8_level(vc_cpu_kernels(), x, n, rule, dst, nat);
}

void vc_cpu_round_row_q8(const float *x, int64_t n, vc_q8_rule rule, float *dst) {
    const int span = rule == VC_Q8_RULE_K ? 256 : 32;
    int8_t q[256];
    for (int64_t b = 0; b < n; b += span) {
        float d = quant_span(x + b, span, q);
        if (rule == VC_Q8_RULE_F16) d = f16_round(d);
        for (int i = 0; i < span; i++) dst[b + i] = (float)q[i] * d;
    }
}

void vc_cpu_quantize_row_q8_pair(const float *x, int64_t n, void *hi, int8_t *nat_hi, void *lo, int8_t *nat_lo) {
    const int64_t nb = n / 32, ng = qrow_groups(n);
    for (int64_t b = 0; b < 8 * ng; b++) {
        int8_t qh[32] = { 0 }, ql[32] = { 0 };
        int sh = 0, sl = 0;
        float dh = 0.0f, dl = 0.0f;
        if (b < nb) {
            const float *xb = x + 32 * b;
            float r[32];
            dh = quant_block(xb, qh, &sh);
            for (int i = 0; i < 32; i++) r[i] = xb[i] - dh * (float)qh[i]; /* two roundings, no fma (ISO C) */
            dl = quant_block(r, ql, &sl);
        }
        store_block(hi, nat_hi, n, b, qh, dh, dh * (float)sh);
        store_block(lo, nat_lo, n, b, ql, dl, dl * (float)sl);
    }
    if (nat_hi) qnat_stream(nat_hi, n);
    if (nat_lo) qnat_stream(nat_lo, n);
}

int vc_cpu_qdot_supported(vc_kernels k, vc_dtype t, int64_t n) {
    if (k == VC_KERNELS_PORTABLE || n > 32 * VC_QDOT_MAX_BLOCKS) return 0;
#if defined(__x86_64__) || defined(__i386__)
    switch (t) {
    case VC_Q8_0: case VC_Q4_0: case VC_Q4_1: case VC_Q5_0: case VC_Q5_1: case VC_Q4_K: case VC_Q6_K: return 1;
    default: return 0;
    }
#else
    (void)t;
    return 0;
#endif
}

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

/* Q4_K's 8 six-bit sub-block scales and mins (bytes 4-15 of super-block sb,
 * k_scale_min's layout): byte b of *sc / *mn is sub-block b's */
static inline void q4k_scales(const uint8_t *sb, uint64_t *sc, uint64_t *mn) {
    uint32_t u0, u1, u2;
    memcpy(&u0, sb + 4, 4);
    memcpy(&u1, sb + 8, 4);
    memcpy(&u2, sb + 12, 4);
    *sc = (uint64_t)(u0 & 0x3f3f3f3fu) | (uint64_t)((u2 & 0x0f0f0f0fu) | (((u0 >> 6) & 0x03030303u) << 4)) << 32;
    *mn = (uint64_t)(u1 & 0x3f3f3f3fu) | (uint64_t)(((u2 >> 4) & 0x0f0f0f0fu) | (((u1 >> 6) & 0x03030303u) << 4)) << 32;
}

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

#include "backend/cpu/avx2_util.h"

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

#include "backend/cpu/qdot_few.h"

/* quantize_row_c on 512-bit vectors (VC_Q8_RULE_F32 / _F16): per block the
 * same steps (max |x|, one division for 127 / max, one multiply per value,
 * rounding to nearest even, d = max / 127, s = d * sum q), so the same bytes
 * for finite x; the 8 blocks of a group transposed into the interleaved
 * layout at once */
static int quantize_row_vnni(const float *x, int64_t n, vc_q8_rule rule, void *dst, int8_t *nat) {
    if (rule == VC_Q8_RULE_K) return 0;
    const int64_t nb = n / 32, ng = qrow_groups(n);
    int8_t *q = dst;
    float *d = (float *)((uint8_t *)dst + 256 * ng), *s = d + 8 * ng;
    for (int64_t g = 0; g < ng; g++) {
        __m256i blk[8];
        for (int b = 0; b < 8; b++) {
            const int64_t k = 8 * g + b;
            if (k >= nb) {
                blk[b] = _mm256_setzero_si256();
                d[k] = s[k] = 0.0f;
                continue;
            }
            const __m512 x0 = _mm512_loadu_ps(x + 32 * k), x1 = _mm512_loadu_ps(x + 32 * k + 16);
            const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(x0), _mm512_abs_ps(x1)));
            const __m512 id = _mm512_set1_ps(amax > 0.0f ? 127.0f / amax : 0.0f);
            const __m512i q0 = _mm512_cvtps_epi32(_mm512_mul_ps(x0, id)), q1 = _mm512_cvtps_epi32(_mm512_mul_ps(x1, id));
            const int sum = _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
            blk[b] = _mm256_set_m128i(_mm512_cvtepi32_epi8(q1), _mm512_cvtepi32_epi8(q0));
            float db = amax / 127.0f, sb = db * (float)sum;
            if (rule == VC_Q8_RULE_F16) {
                sb = f16_round(sb);
                db = f16_round(db);
            }
            d[k] = db;
            s[k] = sb;
            if (nat) _mm256_storeu_si256((__m256i *)(nat + 32 * k), blk[b]);
        }
        if (8 * (g + 1) <= nb) vnni_transpose8(blk); /* a whole group: interleaved */
        for (int i = 0; i < 8; i++) _mm256_storeu_si256((__m256i *)(q + 256 * g + 32 * i), blk[i]);
    }
    if (nat) qnat_stream(nat, n);
    return 1;
}

#pragma GCC pop_options

void vc_cpu_qdot_rows(vc_kernels k, vc_dtype t, const void *w_row, const void *qx, size_t qx_stride,
                      vc_q8_rule rule, int nr, int64_t n, float *out, size_t out_stride) {
    if (k >= VC_KERNELS_AVX512) vnni_rows(t, w_row, qx, qx_stride, rule, nr, n, out, out_stride);
    else avx2_rows(t, w_row, qx, qx_stride, rule, nr, n, out, out_stride);
}

int vc_cpu_qdot_few(vc_kernels k, vc_dtype t, const void *w_rows, int rows, const int8_t *nat, size_t nat_stride,
                    const void *qx, size_t qx_stride, vc_q8_rule rule, int nr, int64_t n, float *out,
                    size_t out_stride) {
    if (k < VC_KERNELS_AVX512 || nr < 1 || nr > VC_QDOT_FEW_ROWS || !vnni_few_supported(t) ||
        n > 32 * VC_QDOT_MAX_BLOCKS)
        return 0;
    if (rule == VC_Q8_RULE_K && (t == VC_Q4_K || t == VC_Q6_K)) {
        const size_t rb = rows > 1 ? vc_row_bytes(t, n) : 0; /* matmul passes one row (pack 1) */
        for (int c = 0; c < rows; c++)
            vnni_few_ksum(t, (const uint8_t *)w_rows + (size_t)c * rb, qx, qx_stride, nr, n, (float *)out + c,
                          out_stride);
        return 1;
    }
    if (rows == 1) vnni_few(t, w_rows, nat, nat_stride, qx, qx_stride, nr, n, out, out_stride);
    else vnni_few_rows(t, w_rows, rows, nat, nat_stride, qx, qx_stride, nr, n, out, out_stride);
    return 1;
}


int vc_cpu_amx_supported(vc_dtype t, int64_t n) {
    switch (t) {
    case VC_Q8_0: case VC_Q4_0: case VC_Q4_1: case VC_Q5_0: case VC_Q5_1: case VC_Q4_K: case VC_Q6_K: break;
    default: return 0;
    }
    return n <= 32 * VC_AMX_MAX_BLOCKS;
}

/* Fewest quantized activation rows for which the tile path below beats the
 * vpdpbusd kernel against one weight chunk (bench/matmul_bench, one core:
 * Q4_1 576 -> 1536 at 5 rows 146 vs 154 us, Q8_0 at 3 rows 153 vs 158;
 * Q4_K 1024 -> 2816 at 12 rows 505 vs 542 us, at 8 rows 466 vs 362, where
 * repacking the super-blocks' scales costs more) */
int vc_cpu_amx_min_rows(vc_dtype t) {
    return vc_dtype_block_elems(t) == 256 ? 10 : 4;
}

/* AMX: for 16 weight rows (output columns) x 16 activation rows, per block
 * one tile product of the natural-order int8 activations (A: 16 x 32) and
 * the weights' bytes (B: 8 x 64, 4 bytes of each of the 16 columns per row)
 * gives the 256 exact block dots; the float part then repeats, per (row,
 * column), exactly the operations of the vpdpbusd kernel above: lane k % 8
 * of an 8-lane accumulator takes fma(dot, wd[k] * d_a[k]), the offsets the
 * same segment / tail split as seg_scales, the same final sums. So this path
 * is bitwise the avx512 one, and which rows take it never shows. A last
 * group of fewer than 16 activation rows runs with A and C tiles of that
 * many rows. */
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,amx-tile,amx-int8")

typedef struct amx_cfg {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} amx_cfg;

/* the 32 byte values of block k of weight row w, as the integer dots use them
 * (Q4_K's blocks are built in pairs in vc_cpu_amx_rows16, not here) */
static inline __m256i amx_block_bytes(vc_dtype t, const uint8_t *w, int64_t k) {
    switch (t) {
    case VC_Q8_0: return _mm256_loadu_si256((const __m256i *)(w + 34 * k + 2));
    case VC_Q4_0: return _mm256_sub_epi8(vnni_nibbles32(w + 18 * k + 2), _mm256_set1_epi8(8));
    case VC_Q4_1: return vnni_nibbles32(w + 20 * k + 4);
    case VC_Q5_0: return _mm256_sub_epi8(q5_values(w + 22 * k + 2, w + 22 * k + 6), _mm256_set1_epi8(16));
    case VC_Q5_1: return q5_values(w + 24 * k + 4, w + 24 * k + 8);
    default: { /* VC_Q6_K: block k % 8 = 4h + kk of super-block k / 8 */
        const uint8_t *b = w + 210 * (k / 8);
        const int h = (int)(k % 8) / 4, kk = (int)(k % 8) % 4;
        const __m256i ql = _mm256_loadu_si256((const __m256i *)(b + 64 * h + 32 * (kk % 2)));
        const __m256i qh = _mm256_loadu_si256((const __m256i *)(b + 128 + 32 * h));
        const __m256i lo = _mm256_and_si256(kk < 2 ? ql : _mm256_srli_epi16(ql, 4), _mm256_set1_epi8(0x0F));
        const __m128i sh = _mm_cvtsi32_si128(2 * kk);
        const __m256i hi = _mm256_and_si256(_mm256_srl_epi16(qh, sh), _mm256_set1_epi8(3));
        return _mm256_sub_epi8(_mm256_or_si256(lo, _mm256_slli_epi16(hi, 4)), _mm256_set1_epi8(32));
    }
    }
}

enum { AMX_COL_BLOCKS = VC_AMX_MAX_BLOCKS + 16 }; /* a column's blocks, room for the last 16-wide load */

/* out[k][c] = in[c][k] (16 rows of `AMX_COL_BLOCKS` 32-bit values) for k < nb:
 * 16 x 16 transposes on 512-bit vectors (only moves bits) */
static void amx_transpose16(const float *in, int64_t nb, float (*out)[16]) {
    for (int64_t k0 = 0; k0 < nb; k0 += 16) {
        __m512 r[16], a[16], b[16];
        for (int c = 0; c < 16; c++) r[c] = _mm512_load_ps(in + (size_t)c * AMX_COL_BLOCKS + k0);
        for (int i = 0; i < 8; i++) {
            a[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
            a[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
        }
        /* b[4i + m], 128-bit lane L: value 4L + m of rows 4i .. 4i + 3 */
        for (int i = 0; i < 4; i++) {
            b[4 * i] = _mm512_shuffle_ps(a[4 * i], a[4 * i + 2], 0x44);
            b[4 * i + 1] = _mm512_shuffle_ps(a[4 * i], a[4 * i + 2], 0xEE);
            b[4 * i + 2] = _mm512_shuffle_ps(a[4 * i + 1], a[4 * i + 3], 0x44);
            b[4 * i + 3] = _mm512_shuffle_ps(a[4 * i + 1], a[4 * i + 3], 0xEE);
        }
        for (int m = 0; m < 4; m++) {
            const __m512 x0 = _mm512_shuffle_f32x4(b[m], b[4 + m], _MM_SHUFFLE(2, 0, 2, 0));
            const __m512 x1 = _mm512_shuffle_f32x4(b[m], b[4 + m], _MM_SHUFFLE(3, 1, 3, 1));
            const __m512 y0 = _mm512_shuffle_f32x4(b[8 + m], b[12 + m], _MM_SHUFFLE(2, 0, 2, 0));
            const __m512 y1 = _mm512_shuffle_f32x4(b[8 + m], b[12 + m], _MM_SHUFFLE(3, 1, 3, 1));
            r[m] = _mm512_shuffle_f32x4(x0, y0, _MM_SHUFFLE(2, 0, 2, 0));
            r[8 + m] = _mm512_shuffle_f32x4(x0, y0, _MM_SHUFFLE(3, 1, 3, 1));
            r[4 + m] = _mm512_shuffle_f32x4(x1, y1, _MM_SHUFFLE(2, 0, 2, 0));
            r[12 + m] = _mm512_shuffle_f32x4(x1, y1, _MM_SHUFFLE(3, 1, 3, 1));
        }
        for (int i = 0; i < 16 && k0 + i < nb; i++) _mm512_store_ps(out[k0 + i], r[i]);
    }
}

void vc_cpu_amx_rows16(vc_dtype t, const uint8_t *w, size_t row_bytes, const int8_t *qnat, size_t nat_stride,
                       const uint8_t *qx, size_t qx_stride, vc_q8_rule rule, int nr, int64_t n, float *y,
                       size_t y_stride, const uint8_t *pf, size_t pf_bytes) {
    const int64_t nb = n / 32;
    const int offs = t == VC_Q4_1 || t == VC_Q5_1 || t == VC_Q4_K;
    const int q6 = t == VC_Q6_K;
    /* VC_Q8_RULE_K rows against Q4_K / Q6_K: the super-block integer sums
     * of qdot_kernels.h's ksum, per row and column: I += C * sc per block
     * (exact), then per super-block acc = fma(float(I), d * d_a, acc) and
     * accm = fma(M, dmin * d_a, accm), M = sum_b m_b * s_b in exact floats */
    const int ksum = rule == VC_Q8_RULE_K && (t == VC_Q4_K || q6);
    /* weights: B tiles, scales (and offsets, Q6_K sub-scales) per block for
     * the 16 columns; ksum: wd16 the super-block's d, wm16 the sub-block's
     * min m_b, s16[0] (Q4_K) its scale sc_b, dm16 the super-block's dmin */
    uint8_t bt[VC_AMX_MAX_BLOCKS][8][64] __attribute__((aligned(64)));
    float wd16[VC_AMX_MAX_BLOCKS][16] __attribute__((aligned(64)));
    float wm16[VC_AMX_MAX_BLOCKS][16] __attribute__((aligned(64)));
    float dm16[VC_AMX_MAX_BLOCKS / 8][16] __attribute__((aligned(64)));
    int32_t s16[2][VC_AMX_MAX_BLOCKS][16] __attribute__((aligned(64)));
    {
        float wdc[16][AMX_COL_BLOCKS] __attribute__((aligned(64))), wmc[16][AMX_COL_BLOCKS] __attribute__((aligned(64)));
        int32_t s0c[16][AMX_COL_BLOCKS] __attribute__((aligned(64))), s1c[16][AMX_COL_BLOCKS] __attribute__((aligned(64)));
        for (int c = 0; c < 16; c++) {
            const uint8_t *wc = w + c * row_bytes;
            if (ksum && !q6) {
                for (int64_t g = 0; g < nb / 8; g++) {
                    const uint8_t *sb = wc + 144 * g;
                    uint64_t sc, mn;
                    q4k_scales(sb, &sc, &mn);
                    dm16[g][c] = f16_load(sb + 2);
                    for (int b = 0; b < 8; b++) {
                        wd16[8 * g + b][c] = f16_load(sb);
                        wm16[8 * g + b][c] = (float)(uint8_t)(mn >> (8 * b));
                        s16[0][8 * g + b][c] = (uint8_t)(sc >> (8 * b));
                    }
                }
                continue;
            }
            /* column c's values in row c of wdc / wmc / s0c / s1c, turned
             * into [block][column] below, 16 x 16 at a time (scalar stores
             * one value per block and column were ~10% of a 64-row matmul) */
            vnni_prep(t, wc, nb, wdc[c], wmc[c]);
            if (q6)
                for (int64_t k = 0; k < nb; k++) {
                    const int8_t *sc = (const int8_t *)(wc + 210 * (k / 8) + 192);
                    s0c[c][k] = sc[2 * (k % 8)];
                    s1c[c][k] = sc[2 * (k % 8) + 1];
                }
        }
        if (!ksum || q6) {
            amx_transpose16(&wdc[0][0], nb, wd16);
            if (offs) amx_transpose16(&wmc[0][0], nb, wm16);
            else memset(wm16, 0, sizeof wm16[0] * (size_t)nb);
            if (q6) {
                amx_transpose16((const float *)(const void *)&s0c[0][0], nb, (float(*)[16])(void *)s16[0]);
                amx_transpose16((const float *)(const void *)&s1c[0][0], nb, (float(*)[16])(void *)s16[1]);
            }
        }
        if (t == VC_Q4_K) {
            /* blocks 2j and 2j + 1 are the low and high nibbles of the same
             * 32 bytes: those are transposed once (moving whole dwords
             * commutes with taking nibbles), half the shuffles */
            for (int64_t k = 0; k < nb; k += 2)
                for (int half = 0; half < 2; half++) {
                    __m256i v[8];
                    for (int c = 0; c < 8; c++)
                        v[c] = _mm256_loadu_si256((const __m256i *)(w + (8 * half + c) * row_bytes + 144 * (k / 8) + 16 +
                                                                     32 * ((k % 8) / 2)));
                    vnni_transpose8(v);
                    const __m256i lo = _mm256_set1_epi8(0x0F);
                    for (int r = 0; r < 8; r++) {
                        _mm256_store_si256((__m256i *)(bt[k][r] + 32 * half), _mm256_and_si256(v[r], lo));
                        _mm256_store_si256((__m256i *)(bt[k + 1][r] + 32 * half),
                                           _mm256_and_si256(_mm256_srli_epi16(v[r], 4), lo));
                    }
                }
        } else {
            int64_t k0 = 0;
            if (t == VC_Q4_0 || t == VC_Q4_1) {
                /* the same for blocks k and k + 1 side by side: dwords 0-3
                 * of the transposed rows are block k's 16 bytes, 4-7 block
                 * k + 1's; low nibbles give rows 0-3, high nibbles 4-7 */
                const size_t bb = t == VC_Q4_0 ? 18 : 20, off = t == VC_Q4_0 ? 2 : 4;
                const __m256i lo = _mm256_set1_epi8(0x0F), bias = _mm256_set1_epi8(t == VC_Q4_0 ? 8 : 0);
                for (; k0 + 2 <= nb; k0 += 2)
                    for (int half = 0; half < 2; half++) {
                        __m256i v[8];
                        for (int c = 0; c < 8; c++) {
                            const uint8_t *b = w + (8 * half + c) * row_bytes + bb * k0 + off;
                            v[c] = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)b)),
                                                           _mm_loadu_si128((const __m128i *)(b + bb)), 1);
                        }
                        vnni_transpose8(v);
                        for (int j = 0; j < 2; j++)
                            for (int r = 0; r < 4; r++) {
                                const __m256i q = v[4 * j + r];
                                _mm256_store_si256((__m256i *)(bt[k0 + j][r] + 32 * half),
                                                   _mm256_sub_epi8(_mm256_and_si256(q, lo), bias));
                                _mm256_store_si256((__m256i *)(bt[k0 + j][r + 4] + 32 * half),
                                                   _mm256_sub_epi8(_mm256_and_si256(_mm256_srli_epi16(q, 4), lo), bias));
                            }
                    }
            }
            for (int64_t k = k0; k < nb; k++)
                for (int half = 0; half < 2; half++) {
                    __m256i v[8];
                    for (int c = 0; c < 8; c++) v[c] = amx_block_bytes(t, w + (8 * half + c) * row_bytes, k);
                    vnni_transpose8(v);
                    for (int r = 0; r < 8; r++) _mm256_store_si256((__m256i *)(bt[k][r] + 32 * half), v[r]);
                }
        }
    }
    amx_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    /* two sets, even and odd blocks: C (and C of the second halves, Q6_K),
     * A, B = tiles 0, 3, 1, 2 and 4, 5, 6, 7 */
    for (int c = 0; c < 2; c++) {
        const int tc = 4 * c, tc2 = 3 + 2 * c, ta = 1 + 5 * c, tb = 2 + 5 * c;
        cfg.rows[tc] = 16; cfg.colsb[tc] = 64;
        cfg.rows[tc2] = 16; cfg.colsb[tc2] = 64;
        cfg.rows[ta] = 16; cfg.colsb[ta] = q6 ? 16 : 32;
        cfg.rows[tb] = q6 ? 4 : 8; cfg.colsb[tb] = 64;
    }
    _tile_loadconfig(&cfg);
    int32_t ct[2][16][16] __attribute__((aligned(64)));
    /* block k's products into tile C (Q6_K: halves into C and C2) from A, B */
#define AMX_ISSUE(k, C, C2, A, B)                                   \
    do {                                                            \
        _tile_zero(C);                                              \
        _tile_loadd(A, a + 32 * (k), nat_stride);                   \
        _tile_loadd(B, bt[k][0], 64);                               \
        _tile_dpbssd(C, A, B);                                      \
        if (q6) {                                                   \
            _tile_zero(C2);                                         \
            _tile_loadd(A, a + 32 * (k) + 16, nat_stride);          \
            _tile_loadd(B, bt[k][4], 64);                           \
            _tile_dpbssd(C2, A, B);                                 \
        }                                                           \
    } while (0)
#define AMX_STORE(C, C2)                                            \
    do {                                                            \
        _tile_stored(C, ct[0], 64);                                 \
        if (q6) _tile_stored(C2, ct[1], 64);                        \
    } while (0)
    __m512 acc[16][8], accm[16][8], tail[16];
    __m512i isum[16];
    /* the prefetch lines, a few per block of the first row group (all at
     * once they stalled on the fill buffers: 6% of a batch-64 decode sat on
     * the prefetch instructions) */
    const size_t pf_lines = pf && nb > 0 ? (pf_bytes + 63) / 64 : 0, pf_step = nb > 0 ? (pf_lines + nb - 1) / nb : 0;
    size_t pf_done = 0;
    for (int m0 = 0; m0 < nr; m0 += 16) {
        const int8_t *a = qnat + (size_t)m0 * nat_stride;
        const int mr = nr - m0 < 16 ? nr - m0 : 16;
        if (mr < 16) {
            /* the last, partial group: A and C tiles of mr rows (the tile
             * unit reads and writes only those; the loop ends with it) */
            for (int c = 0; c < 2; c++) cfg.rows[4 * c] = cfg.rows[3 + 2 * c] = cfg.rows[1 + 5 * c] = (uint8_t)mr;
            _tile_loadconfig(&cfg);
        }
        for (int m = 0; m < mr; m++) {
            /* the output lines, for writing at the end (their misses
             * stalled the final stores) */
            __builtin_prefetch(y + (size_t)(m0 + m) * y_stride, 1, 3);
            tail[m] = _mm512_setzero_ps();
            for (int l = 0; l < (ksum ? 1 : 8); l++) acc[m][l] = accm[m][l] = _mm512_setzero_ps();
        }
        /* block k + 1's tile products are issued before block k's results
         * are stored and used (the tile unit works while the float part
         * runs: a store right after its product stalled on its latency) */
        if (nb > 0) AMX_ISSUE(0, 0, 3, 1, 2);
        for (int64_t k = 0; k < nb; k++) {
            for (const size_t to = pf_done + pf_step < pf_lines ? pf_done + pf_step : pf_lines; pf_done < to; pf_done++)
                __builtin_prefetch(pf + 64 * pf_done, 0, 2);
            if (k % 2 == 0) {
                if (k + 1 < nb) AMX_ISSUE(k + 1, 4, 5, 6, 7);
                AMX_STORE(0, 3);
            } else {
                if (k + 1 < nb) AMX_ISSUE(k + 1, 0, 3, 1, 2);
                AMX_STORE(4, 5);
            }
            if (ksum) {
                for (int m = 0; m < mr; m++) {
                    __m512i p = _mm512_load_si512(ct[0][m]);
                    p = _mm512_mullo_epi32(p, _mm512_load_si512(s16[0][k]));
                    if (q6)
                        p = _mm512_add_epi32(p, _mm512_mullo_epi32(_mm512_load_si512(ct[1][m]),
                                                                   _mm512_load_si512(s16[1][k])));
                    isum[m] = k % 8 ? _mm512_add_epi32(isum[m], p) : p;
                }
                if (k % 8 == 7) {
                    const int64_t g = k / 8;
                    const __m512 dv = _mm512_load_ps(wd16[k]);
                    for (int m = 0; m < mr; m++) {
                        const uint8_t *row = qx + (size_t)(m0 + m) * qx_stride;
                        const __m512 da = _mm512_set1_ps(qrow_d(row, n)[8 * g]);
                        acc[m][0] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[m]), _mm512_mul_ps(dv, da), acc[m][0]);
                        if (!q6) {
                            const float *sr = qrow_s(row, n) + 8 * g;
                            __m512 mv[4]; /* four chains (exact: any order gives the same M) */
                            for (int b = 0; b < 8; b++) {
                                const __m512 wm = _mm512_load_ps(wm16[8 * g + b]), sv = _mm512_set1_ps(sr[b]);
                                mv[b % 4] = b < 4 ? _mm512_mul_ps(wm, sv) : _mm512_fmadd_ps(wm, sv, mv[b % 4]);
                            }
                            mv[0] = _mm512_add_ps(_mm512_add_ps(mv[0], mv[1]), _mm512_add_ps(mv[2], mv[3]));
                            accm[m][0] = _mm512_fmadd_ps(mv[0], _mm512_mul_ps(_mm512_load_ps(dm16[g]), da), accm[m][0]);
                        }
                    }
                }
                continue;
            }
            const __m512 wdv = _mm512_load_ps(wd16[k]), wmv = _mm512_load_ps(wm16[k]);
            const int lane = (int)(k % 8);
            const int64_t seg0 = k / SEG * SEG, ns = nb - seg0 < SEG ? nb - seg0 : SEG;
            const int in_lanes = k - seg0 < (ns & ~7);
            for (int m = 0; m < mr; m++) {
                const uint8_t *row = qx + (size_t)(m0 + m) * qx_stride;
                __m512i p = _mm512_load_si512(ct[0][m]);
                if (q6)
                    p = _mm512_add_epi32(_mm512_mullo_epi32(p, _mm512_load_si512(s16[0][k])),
                                         _mm512_mullo_epi32(_mm512_load_si512(ct[1][m]), _mm512_load_si512(s16[1][k])));
                const __m512 sc = _mm512_mul_ps(wdv, _mm512_set1_ps(qrow_d(row, n)[k]));
                acc[m][lane] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), sc, acc[m][lane]);
                if (offs) {
                    const __m512 sv = _mm512_set1_ps(qrow_s(row, n)[k]);
                    if (in_lanes) accm[m][lane] = _mm512_fmadd_ps(wmv, sv, accm[m][lane]);
                    else tail[m] = _mm512_add_ps(tail[m], _mm512_mul_ps(wmv, sv));
                }
            }
        }
        for (int m = 0; m < mr; m++) {
            if (ksum) {
                _mm512_storeu_ps(y + (size_t)(m0 + m) * y_stride, _mm512_sub_ps(acc[m][0], accm[m][0]));
                continue;
            }
            const __m512 *A = acc[m], *M = accm[m];
            const __m512 tot = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(A[0], A[1]), _mm512_add_ps(A[2], A[3])),
                                             _mm512_add_ps(_mm512_add_ps(A[4], A[5]), _mm512_add_ps(A[6], A[7])));
            __m512 o = tot;
            if (offs) {
                const __m512 totm = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(M[0], M[1]), _mm512_add_ps(M[2], M[3])),
                                                  _mm512_add_ps(_mm512_add_ps(M[4], M[5]), _mm512_add_ps(M[6], M[7])));
                const __m512 off = _mm512_add_ps(totm, tail[m]);
                o = t == VC_Q4_K ? _mm512_sub_ps(tot, off) : _mm512_add_ps(tot, off);
            }
            _mm512_storeu_ps(y + (size_t)(m0 + m) * y_stride, o);
        }
    }
    _tile_release();
#undef AMX_ISSUE
#undef AMX_STORE
}

#pragma GCC pop_options

int vc_cpu_amx_enable(void) {
    /* Linux: ask for the AMX tile state (arch_prctl ARCH_REQ_XCOMP_PERM,
     * XFEATURE_XTILEDATA); 0 when granted (idempotent) */
    return syscall(SYS_arch_prctl, 0x1023, 18) == 0 ? 0 : -1;
}

#else

static int quantize_row_vnni(const float *x, int64_t n, vc_q8_rule rule, void *dst, int8_t *nat) {
    (void)x; (void)n; (void)rule; (void)dst; (void)nat;
    return 0;
}
void vc_cpu_qdot_rows(vc_kernels k, vc_dtype t, const void *w_row, const void *qx, size_t qx_stride,
                      vc_q8_rule rule, int nr, int64_t n, float *out, size_t out_stride) {
    (void)k; (void)t; (void)w_row; (void)qx; (void)qx_stride; (void)rule; (void)nr; (void)n; (void)out;
    (void)out_stride;
}
int vc_cpu_qdot_few(vc_kernels k, vc_dtype t, const void *w_rows, int rows, const int8_t *nat, size_t nat_stride,
                    const void *qx, size_t qx_stride, vc_q8_rule rule, int nr, int64_t n, float *out,
                    size_t out_stride) {
    (void)k; (void)t; (void)w_rows; (void)rows; (void)nat; (void)nat_stride; (void)qx; (void)qx_stride; (void)rule; (void)nr;
    (void)n; (void)out; (void)out_stride;
    return 0;
}
int vc_cpu_amx_supported(vc_dtype t, int64_t n) { (void)t; (void)n; return 0; }
int vc_cpu_amx_min_rows(vc_dtype t) { (void)t; return 16; }
void vc_cpu_amx_rows16(vc_dtype t, const uint8_t *w, size_t row_bytes, const int8_t *qnat, size_t nat_stride,
                       const uint8_t *qx, size_t qx_stride, vc_q8_rule rule, int nr, int64_t n, float *y,
                       size_t y_stride, const uint8_t *pf, size_t pf_bytes) {
    (void)t; (void)w; (void)row_bytes; (void)qnat; (void)nat_stride; (void)qx; (void)qx_stride; (void)rule; (void)nr;
    (void)n;
    (void)y; (void)y_stride; (void)pf; (void)pf_bytes;
}
int vc_cpu_amx_enable(void) { return -1; }

#endif
