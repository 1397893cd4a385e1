/* Block quant formats: scalar f16/bf16 conversion, dequantize, quantize and
 * the reference fused dot product for every vc_dtype.
 *
 * Bit layouts are those of the GGUF spec (see quant.h); element order inside
 * a block was checked against gguf-py's numpy dequantizers, which the tests
 * reproduce bit-exactly. That needs each dequantized value computed with the
 * same float32 operations in the same order as gguf-py (e.g. (d*sc)*q - dmin*m,
 * each product rounded on its own), so no FMA contraction in this file: gcc
 * has -ffp-contract=off in ISO C mode (-std=c11), clang needs the pragma. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#include "model/quant.h"
#include "model/quant_k.h"

#include <math.h>
#include <string.h>
#include <strings.h>

#define QK 32   /* elements of a Q4_0..Q8_1 block */
#define QKK 256 /* elements of a K-quant super-block */

/* ---------------------------------------------------------------- names */

int vc_dtype_from_name(const char *name) {
    if (!name) return -1;
    for (int t = 0; t < VC_DTYPE_COUNT; t++)
        if (vc_dtype_known(t) && strcasecmp(name, vc_dtype_name((vc_dtype)t)) == 0) return t;
    return -1;
}

/* ------------------------------------------------- scalar f16 and bf16 */

static inline uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}
static inline float bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* Exact, branch-free (so loops over it vectorize): normal numbers and
 * inf/NaN by re-biasing the exponent field (NaN payloads kept, not quieted,
 * as numpy), zero and subnormals as em * 2^-24, exact in float. */
float vc_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t em = h & 0x7fffu; /* exponent and mantissa */
    uint32_t bits = (em << 13) + (112u << 23);    /* exponent 15-bias -> 127-bias */
    bits += em >= 0x7c00u ? (112u << 23) : 0u;    /* inf/NaN: exponent all ones */
    uint32_t sub = f32_bits((float)em * 0x1p-24f);
    return bits_f32(sign | (em < 0x400u ? sub : bits));
}

/* IEEE round-to-nearest-even with subnormals and overflow to inf, as numpy's
 * astype(float16). NaN keeps its sign and top 10 payload bits (forced
 * non-zero), like numpy; it is not quieted (F16C would quiet it, which is why
 * there is no F16C path here). */
uint16_t vc_f32_to_f16(float f) {
    uint32_t x = f32_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    uint32_t ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) {
        if (ax == 0x7f800000u) return sign | 0x7c00u;
        uint16_t payload = (uint16_t)((ax >> 13) & 0x3ffu);
        return sign | 0x7c00u | (payload ? payload : 1u);
    }
    if (ax >= 0x477ff000u) return sign | 0x7c00u; /* >= 65520 rounds to inf */
    if (ax >= 0x38800000u) {                      /* >= 2^-14: a normal f16 */
        uint32_t r = ax - (112u << 23);           /* rebias the exponent 127 -> 15 */
        r += 0xfffu + ((r >> 13) & 1u);           /* round to nearest, ties to even */
        return sign | (uint16_t)(r >> 13);
    }
    if (ax < 0x33000000u) return sign; /* <= 2^-25 (the tie rounds to even 0) */
    /* subnormal f16: count units of 2^-24 */
    uint32_t e = ax >> 23, m = (ax & 0x7fffffu) | 0x800000u;
    uint32_t shift = 126u - e; /* 14..24 */
    uint32_t q = m >> shift, rem = m & ((1u << shift) - 1u), half = 1u << (shift - 1u);
    if (rem > half || (rem == half && (q & 1u))) q++;
    return sign | (uint16_t)q; /* q == 0x400 is the smallest normal, correctly encoded */
}

float vc_bf16_to_f32(uint16_t h) { return bits_f32((uint32_t)h << 16); }

/* Round to nearest even; NaN is quieted (keeps sign and top payload bits),
 * the rule of gguf-py's BF16 quantizer. */
uint16_t vc_f32_to_bf16(float f) {
    uint32_t u = f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

/* little-endian field readers/writers (blocks are little-endian on disk) */
static inline float rd_f16(const uint8_t *p) { return vc_f16_to_f32((uint16_t)(p[0] | (p[1] << 8))); }
static inline void wr_f16(uint8_t *p, float f) {
    uint16_t h = vc_f32_to_f16(f);
    p[0] = (uint8_t)h;
    p[1] = (uint8_t)(h >> 8);
}
static inline float rd_f32(const uint8_t *p) {
    return bits_f32((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
}
static inline void wr_f32(uint8_t *p, float f) {
    uint32_t u = f32_bits(f);
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(u >> (8 * i));
}

/* ----------------------------------------------------- block dequantizers
 * Each takes one block and writes its block_elems floats. */

/* Q4_0 { f16 d; u8 qs[16] }: x[j] = low nibble of qs[j], x[j+16] = high; y = d*(q-8) */
static void dq_q4_0(const uint8_t *restrict b, float *restrict y) {
    float d = rd_f16(b);
    const uint8_t *qs = b + 2;
    for (int j = 0; j < 16; j++) {
        y[j] = d * (float)((qs[j] & 0xf) - 8);
        y[j + 16] = d * (float)((qs[j] >> 4) - 8);
    }
}

/* Q4_1 { f16 d, m; u8 qs[16] }: y = d*q + m */
static void dq_q4_1(const uint8_t *restrict b, float *restrict y) {
    float d = rd_f16(b), m = rd_f16(b + 2);
    const uint8_t *qs = b + 4;
    for (int j = 0; j < 16; j++) {
        y[j] = d * (float)(qs[j] & 0xf) + m;
        y[j + 16] = d * (float)(qs[j] >> 4) + m;
    }
}

static inline uint32_t rd_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Q5_0 { f16 d; u8 qh[4]; u8 qs[16] }: bit j of the little-endian u32 qh is
 * bit 4 of element j; y = d*(q-16) */
static void dq_q5_0(const uint8_t *restrict b, float *restrict y) {
    float d = rd_f16(b);
    uint32_t qh = rd_u32(b + 2);
    const uint8_t *qs = b + 6;
    for (int j = 0; j < 16; j++) {
        int lo = (qs[j] & 0xf) | (int)((qh >> j) & 1u) << 4;
        int hi = (qs[j] >> 4) | (int)((qh >> (j + 16)) & 1u) << 4;
        y[j] = d * (float)(lo - 16);
        y[j + 16] = d * (float)(hi - 16);
    }
}

/* Q5_1 { f16 d, m; u8 qh[4]; u8 qs[16] }: y = d*q + m */
static void dq_q5_1(const uint8_t *restrict b, float *restrict y) {
    float d = rd_f16(b), m = rd_f16(b + 2);
    uint32_t qh = rd_u32(b + 4);
    const uint8_t *qs = b + 8;
    for (int j = 0; j < 16; j++) {
        int lo = (qs[j] & 0xf) | (int)((qh >> j) & 1u) << 4;
        int hi = (qs[j] >> 4) | (int)((qh >> (j + 16)) & 1u) << 4;
        y[j] = d * (float)lo + m;
        y[j + 16] = d * (float)hi + m;
    }
}

/* Q8_0 { f16 d; i8 qs[32] } and Q8_1 { f16 d, s; i8 qs[32] } (s = d*sum(qs), unused here) */
static void dq_q8_0(const uint8_t *restrict b, float *restrict y) {
    float d = rd_f16(b);
    const int8_t *qs = (const int8_t *)(b + 2);
    for (int j = 0; j < QK; j++) y[j] = (float)qs[j] * d;
}
static void dq_q8_1(const uint8_t *restrict b, float *restrict y) {
    float d = rd_f16(b);
    const int8_t *qs = (const int8_t *)(b + 4);
    for (int j = 0; j < QK; j++) y[j] = (float)qs[j] * d;
}

/* Q2_K { u8 scales[16]; u8 qs[64]; f16 d, dmin }: 16 groups of 16; scales[g]
 * low nibble = scale, high = min. Element i = h*128 + s*32 + l (h 0..1,
 * s 0..3, l 0..31) is bits 2s..2s+1 of qs[h*32 + l]. y = (d*sc)*q - dmin*m */
static void dq_q2_k(const uint8_t *restrict b, float *restrict y) {
    const uint8_t *scales = b, *qs = b + 16;
    float d = rd_f16(b + 80), dmin = rd_f16(b + 82);
    for (int h = 0; h < 2; h++)
        for (int s = 0; s < 4; s++)
            for (int half = 0; half < 2; half++) {
                int g = h * 8 + s * 2 + half; /* group of 16 */
                float dl = d * (float)(scales[g] & 0xf), ml = dmin * (float)(scales[g] >> 4);
                for (int l = half * 16; l < half * 16 + 16; l++)
                    y[h * 128 + s * 32 + l] = dl * (float)((qs[h * 32 + l] >> (2 * s)) & 3) - ml;
            }
}

/* Q3_K { u8 hmask[32]; u8 qs[64]; u8 scales[12]; f16 d }: 16 groups of 16 with
 * 6-bit scales (low 4 bits: nibble g%8 of scales[g%8] (g<8 low, else high);
 * high 2 bits: bits 2*(g/4).. of scales[8 + g%4]), minus 32. Element
 * i = h*128 + s*32 + l: low 2 bits from qs like Q2_K, and 4 is subtracted
 * when bit i/32 of hmask[l] is clear. y = (d*scale)*q */
static void q3k_scales(const uint8_t *sc, int *out) {
    for (int g = 0; g < 16; g++) {
        int lo = g < 8 ? (sc[g] & 0xf) : (sc[g - 8] >> 4);
        int hi = (sc[8 + g % 4] >> (2 * (g / 4))) & 3;
        out[g] = (lo | hi << 4) - 32;
    }
}
static void dq_q3_k(const uint8_t *restrict b, float *restrict y) {
    const uint8_t *hmask = b, *qs = b + 32;
    float d = rd_f16(b + 108);
    int scale[16];
    q3k_scales(b + 96, scale);
    for (int h = 0; h < 2; h++)
        for (int s = 0; s < 4; s++)
            for (int half = 0; half < 2; half++) {
                int g = h * 8 + s * 2 + half;
                float dl = d * (float)scale[g];
                int bit = h * 4 + s;
                for (int l = half * 16; l < half * 16 + 16; l++) {
                    int q = ((qs[h * 32 + l] >> (2 * s)) & 3) - (((hmask[l] >> bit) & 1) ? 0 : 4);
                    y[h * 128 + s * 32 + l] = dl * (float)q;
                }
            }
}

/* Q4_K/Q5_K scales[12]: 8 sub-blocks of 32, 6-bit scale sc[j] and min m[j].
 * j < 4: sc = scales[j] & 63, m = scales[j+4] & 63;
 * j >= 4: sc = (scales[j+4] & 15) | (scales[j-4] >> 6) << 4,
 *         m  = (scales[j+4] >> 4) | (scales[j] >> 6) << 4. */
static void k_scale_min(const uint8_t *s, uint8_t *sc, uint8_t *m) {
    for (int j = 0; j < 4; j++) {
        sc[j] = s[j] & 63;
        m[j] = s[j + 4] & 63;
        sc[j + 4] = (uint8_t)((s[j + 8] & 15) | ((s[j] >> 6) << 4));
        m[j + 4] = (uint8_t)((s[j + 8] >> 4) | ((s[j + 4] >> 6) << 4));
    }
}

/* Q4_K { f16 d, dmin; u8 scales[12]; u8 qs[128] }: sub-block j = 2c + s
 * (c 0..3, s 0..1), element l is nibble s of qs[c*32 + l].
 * y = (d*sc)*q - dmin*m */
static void dq_q4_k(const uint8_t *restrict b, float *restrict y) {
    float d = rd_f16(b), dmin = rd_f16(b + 2);
    uint8_t sc[8], m[8];
    k_scale_min(b + 4, sc, m);
    const uint8_t *qs = b + 16;
    for (int j = 0; j < 8; j++) {
        float dl = d * (float)sc[j], ml = dmin * (float)m[j];
        const uint8_t *q = qs + (j / 2) * 32;
        int shift = 4 * (j & 1);
        for (int l = 0; l < 32; l++) y[j * 32 + l] = dl * (float)((q[l] >> shift) & 0xf) - ml;
    }
}

/* Q5_K { f16 d, dmin; u8 scales[12]; u8 qh[32]; u8 qs[128] }: like Q4_K plus
 * bit 4 of element l of sub-block j = bit j of qh[l]. */
static void dq_q5_k(const uint8_t *restrict b, float *restrict y) {
    float d = rd_f16(b), dmin = rd_f16(b + 2);
    uint8_t sc[8], m[8];
    k_scale_min(b + 4, sc, m);
    const uint8_t *qh = b + 16, *qs = b + 48;
    for (int j = 0; j < 8; j++) {
        float dl = d * (float)sc[j], ml = dmin * (float)m[j];
        const uint8_t *q = qs + (j / 2) * 32;
        int shift = 4 * (j & 1);
        for (int l = 0; l < 32; l++) {
            int v = ((q[l] >> shift) & 0xf) | ((qh[l] >> j) & 1) << 4;
            y[j * 32 + l] = dl * (float)v - ml;
        }
    }
}

/* Q6_K { u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d }: element
 * i = h*128 + s*32 + l (h 0..1, s 0..3, l 0..31): low 4 bits are nibble
 * s/2 of ql[h*64 + (s%2)*32 + l], high 2 bits are bits 2s.. of qh[h*32 + l];
 * q - 32, 16 groups of 16 with int8 scales. y = (d*scale)*q */
static void dq_q6_k(const uint8_t *restrict b, float *restrict y) {
    const uint8_t *ql = b, *qh = b + 128;
    const int8_t *scales = (const int8_t *)(b + 192);
    float d = rd_f16(b + 208);
    for (int h = 0; h < 2; h++)
        for (int s = 0; s < 4; s++)
            for (int half = 0; half < 2; half++) {
                int g = h * 8 + s * 2 + half;
                float dl = d * (float)scales[g];
                for (int l = half * 16; l < half * 16 + 16; l++) {
                    int lo = (ql[h * 64 + (s % 2) * 32 + l] >> (4 * (s / 2))) & 0xf;
                    int hi = (qh[h * 32 + l] >> (2 * s)) & 3;
                    y[h * 128 + s * 32 + l] = dl * (float)((lo | hi << 4) - 32);
                }
            }
}

/* Q8_K { f32 d; i8 qs[256]; i16 bsums[16] }: y = d*q (bsums are for dot kernels) */
static void dq_q8_k(const uint8_t *restrict b, float *restrict y) {
    float d = rd_f32(b);
    const int8_t *qs = (const int8_t *)(b + 4);
    for (int j = 0; j < QKK; j++) y[j] = d * (float)qs[j];
}

typedef void (*block_dq_fn)(const uint8_t *, float *);

static block_dq_fn block_dequantizer(vc_dtype t) {
    switch (t) {
    case VC_Q4_0: return dq_q4_0;
    case VC_Q4_1: return dq_q4_1;
    case VC_Q5_0: return dq_q5_0;
    case VC_Q5_1: return dq_q5_1;
    case VC_Q8_0: return dq_q8_0;
    case VC_Q8_1: return dq_q8_1;
    case VC_Q2_K: return dq_q2_k;
    case VC_Q3_K: return dq_q3_k;
    case VC_Q4_K: return dq_q4_k;
    case VC_Q5_K: return dq_q5_k;
    case VC_Q6_K: return dq_q6_k;
    case VC_Q8_K: return dq_q8_k;
    default: return NULL;
    }
}

void vc_dequantize_row(vc_dtype t, const void *src, float *dst, int64_t n) {
    const uint8_t *p = src;
    switch (t) {
    case VC_F32: memcpy(dst, src, (size_t)n * sizeof(float)); return;
    case VC_F16:
        for (int64_t i = 0; i < n; i++) dst[i] = rd_f16(p + 2 * i);
        return;
    case VC_BF16:
        for (int64_t i = 0; i < n; i++) dst[i] = vc_bf16_to_f32((uint16_t)(p[2 * i] | p[2 * i + 1] << 8));
        return;
    default: break;
    }
    block_dq_fn dq = block_dequantizer(t);
    if (!dq) return;
    int64_t be = vc_dtype_block_elems(t);
    size_t bb = vc_dtype_block_bytes(t);
    for (int64_t i = 0; i < n / be; i++) dq(p + (size_t)i * bb, dst + i * be);
}

/* ------------------------------------------------------------ fused dot */

/* sum a[i]*b[i] over n (a multiple of 8) with 8 independent float lanes, so
 * the compiler can keep them in one vector register. */
static float dot_lanes(const float *restrict a, const float *restrict b, int n) {
    float acc[8] = {0};
    for (int i = 0; i < n; i += 8)
        for (int k = 0; k < 8; k++) acc[k] += a[i + k] * b[i + k];
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

/* The reference path: each block is decoded into a block-sized buffer on the
 * stack (the same values vc_dequantize_row gives) and dotted with x at once,
 * so the dequantized row never exists. */
float vc_vec_dot_f32(vc_dtype t, const void *w_row, const float *x, int64_t n) {
    const uint8_t *p = w_row;
    float sum = 0.0f;
    if (t == VC_F32 || t == VC_F16 || t == VC_BF16) {
        float buf[64];
        for (int64_t i = 0; i < n; i += 64) {
            int len = (int)(n - i < 64 ? n - i : 64);
            if (t == VC_F32) memcpy(buf, p + 4 * i, (size_t)len * 4);
            else vc_dequantize_row(t, p + 2 * i, buf, len);
            int len8 = len & ~7;
            float s = dot_lanes(buf, x + i, len8);
            for (int k = len8; k < len; k++) s += buf[k] * x[i + k];
            sum += s;
        }
        return sum;
    }
    block_dq_fn dq = block_dequantizer(t);
    if (!dq) return 0.0f;
    int be = (int)vc_dtype_block_elems(t);
    size_t bb = vc_dtype_block_bytes(t);
    float buf[QKK];
    for (int64_t i = 0; i < n / be; i++) {
        dq(p + (size_t)i * bb, buf);
        sum += dot_lanes(buf, x + i * be, be);
    }
    return sum;
}

/* -------------------------------------------------------- quantizers */

/* trunc(v) clamped to [0, hi]; NaN gives 0. The clamp comes before the
 * conversion, so a NaN or inf input never reaches an out-of-range cast. */
static inline int trunc_clamp(float v, int hi) {
    if (!(v >= 0.0f)) return 0;
    if (v >= (float)hi) return hi;
    return (int)v;
}
/* round-half-away(v) clamped to [-127, 127]; NaN gives 0 */
static inline int8_t round_i8(float v) {
    if (!(v >= -127.0f)) return v != v ? 0 : -127;
    if (v > 127.0f) return 127;
    return (int8_t)roundf(v);
}

/* index of the element with the largest |x| (first one on ties) */
static int argmax_abs(const float *x, int n) {
    int best = 0;
    float amax = fabsf(x[0]);
    for (int i = 1; i < n; i++)
        if (fabsf(x[i]) > amax) {
            amax = fabsf(x[i]);
            best = i;
        }
    return best;
}

/* Q4_0 and Q5_0: d = (signed value of largest magnitude) / -(2^(bits-1)), so
 * that value maps to q = 0 exactly; q = trunc(x/d + 2^(bits-1) + 0.5) clamped.
 * This is gguf-py's (and ggml's reference) rule, reproduced bit for bit:
 * x*id with id = 1/d in float32, then + 8.5f, then truncation. */
static void q_q4_0(const float *x, uint8_t *b) {
    float max = x[argmax_abs(x, QK)];
    float d = max / -8.0f;
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    uint8_t q[QK];
    for (int j = 0; j < QK; j++) {
        q[j] = (uint8_t)trunc_clamp(x[j] * id + 8.5f, 15);
    }
    wr_f16(b, d);
    for (int j = 0; j < 16; j++) b[2 + j] = (uint8_t)(q[j] | q[j + 16] << 4);
}

static void q_q5_0(const float *x, uint8_t *b) {
    float max = x[argmax_abs(x, QK)];
    float d = max / -16.0f;
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    uint8_t q[QK];
    uint32_t qh = 0;
    for (int j = 0; j < QK; j++) {
        q[j] = (uint8_t)trunc_clamp(x[j] * id + 16.5f, 31);
        qh |= (uint32_t)(q[j] >> 4) << j;
    }
    wr_f16(b, d);
    for (int i = 0; i < 4; i++) b[2 + i] = (uint8_t)(qh >> (8 * i));
    for (int j = 0; j < 16; j++) b[6 + j] = (uint8_t)((q[j] & 0xf) | (q[j + 16] & 0xf) << 4);
}

/* Q4_1 and Q5_1: min and max of the block, d = (max-min)/(2^bits - 1),
 * q = trunc((x-min)/d + 0.5) clamped; gguf-py's rule bit for bit. */
static void minmax(const float *x, int n, float *mn, float *mx) {
    float lo = x[0], hi = x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < lo) lo = x[i];
        if (x[i] > hi) hi = x[i];
    }
    *mn = lo;
    *mx = hi;
}

static void q_q4_1(const float *x, uint8_t *b) {
    float mn, mx;
    minmax(x, QK, &mn, &mx);
    float d = (mx - mn) / 15.0f;
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    uint8_t q[QK];
    for (int j = 0; j < QK; j++) {
        q[j] = (uint8_t)trunc_clamp((x[j] - mn) * id + 0.5f, 15);
    }
    wr_f16(b, d);
    wr_f16(b + 2, mn);
    for (int j = 0; j < 16; j++) b[4 + j] = (uint8_t)(q[j] | q[j + 16] << 4);
}

static void q_q5_1(const float *x, uint8_t *b) {
    float mn, mx;
    minmax(x, QK, &mn, &mx);
    float d = (mx - mn) / 31.0f;
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    uint8_t q[QK];
    uint32_t qh = 0;
    for (int j = 0; j < QK; j++) {
        q[j] = (uint8_t)trunc_clamp((x[j] - mn) * id + 0.5f, 31);
        qh |= (uint32_t)(q[j] >> 4) << j;
    }
    wr_f16(b, d);
    wr_f16(b + 2, mn);
    for (int i = 0; i < 4; i++) b[4 + i] = (uint8_t)(qh >> (8 * i));
    for (int j = 0; j < 16; j++) b[8 + j] = (uint8_t)((q[j] & 0xf) | (q[j + 16] & 0xf) << 4);
}

/* Q8_0 / Q8_1: d = max|x|/127, q = round-half-away(x/d) with id = 1/d in
 * float32 (gguf-py's rule). Q8_1 also stores s = d * sum(q). */
static float q8_block(const float *x, int8_t *q) {
    float amax = 0.0f;
    for (int j = 0; j < QK; j++)
        if (fabsf(x[j]) > amax) amax = fabsf(x[j]);
    float d = amax / 127.0f;
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    for (int j = 0; j < QK; j++) q[j] = round_i8(x[j] * id);
    return d;
}
static void q_q8_0(const float *x, uint8_t *b) {
    float d = q8_block(x, (int8_t *)(b + 2));
    wr_f16(b, d);
}
static void q_q8_1(const float *x, uint8_t *b) {
    int8_t *q = (int8_t *)(b + 4);
    float d = q8_block(x, q);
    int sum = 0;
    for (int j = 0; j < QK; j++) sum += q[j];
    wr_f16(b, d);
    wr_f16(b + 2, d * (float)sum);
}

/* Q8_K (activations for K-quant dot kernels): d = max|x|/127 in float32,
 * q = round-half-away(x/d), bsums[g] = sum of q over group g of 16. */
static void q_q8_k(const float *x, uint8_t *b) {
    float amax = 0.0f;
    for (int j = 0; j < QKK; j++)
        if (fabsf(x[j]) > amax) amax = fabsf(x[j]);
    float d = amax / 127.0f;
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    int8_t *q = (int8_t *)(b + 4);
    for (int j = 0; j < QKK; j++) q[j] = round_i8(x[j] * id);
    for (int g = 0; g < 16; g++) {
        int sum = 0;
        for (int j = 0; j < 16; j++) sum += q[g * 16 + j];
        b[260 + 2 * g] = (uint8_t)((uint16_t)(int16_t)sum);
        b[261 + 2 * g] = (uint8_t)((uint16_t)(int16_t)sum >> 8);
    }
    wr_f32(b, d);
}

typedef void (*block_q_fn)(const float *, uint8_t *);

static block_q_fn block_quantizer(vc_dtype t) {
    switch (t) {
    case VC_Q4_0: return q_q4_0;
    case VC_Q4_1: return q_q4_1;
    case VC_Q5_0: return q_q5_0;
    case VC_Q5_1: return q_q5_1;
    case VC_Q8_0: return q_q8_0;
    case VC_Q8_1: return q_q8_1;
    case VC_Q8_K: return q_q8_k;
    case VC_Q2_K: return vc_quantize_block_q2_k;
    case VC_Q3_K: return vc_quantize_block_q3_k;
    case VC_Q4_K: return vc_quantize_block_q4_k;
    case VC_Q5_K: return vc_quantize_block_q5_k;
    case VC_Q6_K: return vc_quantize_block_q6_k;
    default: return NULL;
    }
}

int vc_quantize_row(vc_dtype t, const float *src, void *dst, int64_t n) {
    uint8_t *p = dst;
    switch (t) {
    case VC_F32: memcpy(dst, src, (size_t)n * sizeof(float)); return 0;
    case VC_F16:
        for (int64_t i = 0; i < n; i++) {
            uint16_t h = vc_f32_to_f16(src[i]);
            p[2 * i] = (uint8_t)h;
            p[2 * i + 1] = (uint8_t)(h >> 8);
        }
        return 0;
    case VC_BF16:
        for (int64_t i = 0; i < n; i++) {
            uint16_t h = vc_f32_to_bf16(src[i]);
            p[2 * i] = (uint8_t)h;
            p[2 * i + 1] = (uint8_t)(h >> 8);
        }
        return 0;
    default: break;
    }
    block_q_fn q = block_quantizer(t);
    if (!q) return -1;
    int64_t be = vc_dtype_block_elems(t);
    size_t bb = vc_dtype_block_bytes(t);
    for (int64_t i = 0; i < n / be; i++) q(src + i * be, p + (size_t)i * bb);
    return 0;
}
