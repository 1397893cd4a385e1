/* CPU kernels against quant.c's reference dot (itself tested against gguf-py):
 * the fused SIMD dots agree with vc_vec_dot_f32, and the multi-row form is
 * bitwise the single-row one whatever the row count (batch invariance). */
#include "common/testutil.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "model/kv_cache.h"
#include "model/quant.h"

static float frand(unsigned *s) {
    *s = *s * 1664525u + 1013904223u;
    return ((*s >> 8) / 16777216.0f) * 2.0f - 1.0f;
}

static void check_type(vc_dtype t, int64_t n) {
    unsigned seed = 42u + (unsigned)t * 7u + (unsigned)n;
    float *w = malloc((size_t)n * sizeof(float));
    float *x = malloc((size_t)n * VC_DOT_MAX_ROWS * sizeof(float));
    for (int64_t i = 0; i < n; i++) w[i] = frand(&seed);
    for (int64_t i = 0; i < n * VC_DOT_MAX_ROWS; i++) x[i] = frand(&seed);
    uint8_t *row = malloc(vc_row_bytes(t, n) + 16);
    if (t == VC_F32) memcpy(row, w, (size_t)n * sizeof(float));
    else if (t == VC_F16) for (int64_t i = 0; i < n; i++) ((uint16_t *)row)[i] = vc_f32_to_f16(w[i]);
    else if (t == VC_BF16) for (int64_t i = 0; i < n; i++) ((uint16_t *)row)[i] = vc_f32_to_bf16(w[i]);
    else assert_int_equal(vc_quantize_row(t, w, row, n), 0);

    float single[VC_DOT_MAX_ROWS];
    for (int j = 0; j < VC_DOT_MAX_ROWS; j++) {
        single[j] = vc_cpu_dot(t, row, x + j * n, n);
        const float ref = vc_vec_dot_f32(t, row, x + j * n, n);
        double scale = 0;
        float *deq = malloc((size_t)n * sizeof(float));
        vc_dequantize_row(t, row, deq, n);
        for (int64_t i = 0; i < n; i++) scale += fabs((double)deq[i] * x[j * n + i]);
        free(deq);
        if (fabs(single[j] - ref) > 1e-5 * scale)
            fail_msg("%s n=%lld row %d: fused %.9g vs reference %.9g", vc_dtype_name(t), (long long)n,
                     j, single[j], ref);
    }
    for (int nr = 1; nr <= VC_DOT_MAX_ROWS; nr++) {
        for (int off = 0; off + nr <= VC_DOT_MAX_ROWS; off++) {
            float out[VC_DOT_MAX_ROWS];
            vc_cpu_dot_rows(t, row, x + off * n, n, nr, n, out);
            assert_memory_equal(out, single + off, (size_t)nr * sizeof(float));
        }
    }
    /* several weight rows against one activation row (decode): bitwise the single dot */
    const uint8_t *rows4[VC_DOT_WROWS];
    for (int k = 0; k < VC_DOT_WROWS; k++) rows4[k] = row;
    float w4[VC_DOT_WROWS];
    if (vc_cpu_dot_wrows(t, rows4, x + n, n, w4))
        for (int k = 0; k < VC_DOT_WROWS; k++) assert_memory_equal(&w4[k], &single[1], sizeof(float));
    free(w);
    free(x);
    free(row);
}

static void test_dots(void **state) {
    (void)state;
    const vc_dtype block_types[] = { VC_Q4_0, VC_Q4_1, VC_Q8_0, VC_Q5_0, VC_Q5_1 };
    for (size_t i = 0; i < sizeof block_types / sizeof block_types[0]; i++) {
        check_type(block_types[i], 32);
        check_type(block_types[i], 576);
    }
    const vc_dtype k_types[] = { VC_Q2_K, VC_Q3_K, VC_Q4_K, VC_Q5_K, VC_Q6_K };
    for (size_t i = 0; i < sizeof k_types / sizeof k_types[0]; i++) {
        check_type(k_types[i], 256);
        check_type(k_types[i], 1536);
    }
    const vc_dtype float_types[] = { VC_F32, VC_F16, VC_BF16 };
    const int64_t ns[] = { 1, 7, 8, 16, 43, 64, 1000 };
    for (size_t i = 0; i < 3; i++)
        for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) check_type(float_types[i], ns[k]);
}

/* 8-bit activations: the row quantizer keeps every value within half a step
 * of its block scale; the integer kernels equal, up to float rounding, the
 * double-precision dot of quant.c's dequantized weights with the dequantized
 * activation row; avx2 and avx512 variants and every row count give the same
 * bits. Rows by VC_Q8_RULE_F32, and by VC_Q8_RULE_K (one d per 256 values, s
 * the integer sum) against the K-quants (their super-block integer sums). */
enum { QR = 11 }; /* activation rows: a group of 8 and one of 3 */

static void check_qdot_rule(vc_dtype t, int64_t n, vc_q8_rule rule) {
    unsigned seed = 4242u + (unsigned)t * 13u + (unsigned)n;
    float *w = malloc((size_t)n * sizeof(float));
    float *x = malloc((size_t)n * QR * sizeof(float));
    for (int64_t i = 0; i < n; i++) w[i] = frand(&seed);
    for (int64_t i = 0; i < n * QR; i++) x[i] = frand(&seed) * (1.0f + (float)(i % 97));
    for (int64_t i = 0; i < 32; i++) x[64 + i] = 0.0f; /* an all-zero block */
    uint8_t *row = malloc(vc_row_bytes(t, n));
    assert_int_equal(vc_quantize_row(t, w, row, n), 0);
    float *deq = malloc((size_t)n * sizeof(float));
    vc_dequantize_row(t, row, deq, n);
    const size_t qb = vc_cpu_qrow_bytes(n);
    assert_int_equal(qb % 64, 0);
    uint8_t *qx = aligned_alloc(64, qb * QR);
    float single[QR];
    const vc_kernels best = vc_cpu_kernels();
    for (int j = 0; j < QR; j++) {
        uint8_t *qj = qx + j * qb;
        vc_cpu_quantize_row_q8_rule(x + j * n, n, rule, qj, NULL);
        double ref = 0, scale = 0;
        for (int64_t b = 0; b < n / 32; b++) {
            int sum = 0;
            const float d = vc_cpu_qrow_d(qj, n, b);
            for (int i = 0; i < 32; i++) {
                const int64_t k = 32 * b + i;
                const int q = vc_cpu_qrow_q(qj, n, k);
                const double a = (double)q * d;
                if (fabs(a - x[j * n + k]) > 0.5 * d * (1 + 1e-6))
                    fail_msg("%s: activation %lld quantized to %g, was %g (d %g)", vc_dtype_name(t),
                             (long long)k, a, x[j * n + k], d);
                ref += (double)deq[k] * a;
                scale += fabs((double)deq[k] * a);
                sum += q;
            }
            assert_true(vc_cpu_qrow_s(qj, n, b) == (rule == VC_Q8_RULE_K ? (float)sum : d * (float)sum));
            if (rule == VC_Q8_RULE_K) assert_true(d == vc_cpu_qrow_d(qj, n, b / 8 * 8));
        }
        vc_cpu_qdot_rows(VC_KERNELS_AVX2, t, row, qj, qb, rule, 1, n, &single[j], 1);
        if (fabs(single[j] - ref) > 1e-5 * scale)
            fail_msg("%s n=%lld row %d: q8 dot %.9g vs reference %.9g", vc_dtype_name(t), (long long)n,
                     j, single[j], ref);
        if (best == VC_KERNELS_AVX512) {
            float v;
            vc_cpu_qdot_rows(VC_KERNELS_AVX512, t, row, qj, qb, rule, 1, n, &v, 1);
            assert_memory_equal(&v, &single[j], sizeof v);
        }
    }
    for (int nr = 1; nr <= QR; nr++)
        for (int off = 0; off + nr <= QR; off++)
            for (int k = VC_KERNELS_AVX2; k <= (int)best; k++) {
                float out[QR];
                vc_cpu_qdot_rows((vc_kernels)k, t, row, qx + off * qb, qb, rule, nr, n, out, 1);
                assert_memory_equal(out, single + off, (size_t)nr * sizeof(float));
            }
    free(w);
    free(x);
    free(row);
    free(deq);
    free(qx);
}

static void check_qdot(vc_dtype t, int64_t n) {
    check_qdot_rule(t, n, VC_Q8_RULE_F32);
    if (vc_dtype_block_elems(t) == 256) check_qdot_rule(t, n, VC_Q8_RULE_K);
}

static void test_qdots(void **state) {
    (void)state;
    if (vc_cpu_kernels() < VC_KERNELS_AVX2) {
        /* not a skip: on this CPU (or with VLLMC_KERNELS=portable) nothing may claim the path */
        assert_false(vc_cpu_qdot_supported(vc_cpu_kernels(), VC_Q4_1, 256));
        return;
    }
    const vc_dtype types[] = { VC_Q8_0, VC_Q4_0, VC_Q4_1, VC_Q5_0, VC_Q5_1, VC_Q4_K, VC_Q6_K };
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        assert_true(vc_cpu_qdot_supported(VC_KERNELS_AVX2, types[i], 1536));
        check_qdot(types[i], 256);   /* one scale segment */
        check_qdot(types[i], 1536);  /* 48 blocks: a full segment and a part */
        check_qdot(types[i], 2816);  /* 88 blocks: 32 + 32 + 24 */
        if (vc_dtype_block_elems(types[i]) == 32) check_qdot(types[i], 576); /* 18: an 8-block tail */
    }
    assert_false(vc_cpu_qdot_supported(VC_KERNELS_AVX2, VC_F16, 256));
    assert_false(vc_cpu_qdot_supported(VC_KERNELS_PORTABLE, VC_Q4_1, 256));
    assert_false(vc_cpu_qdot_supported(VC_KERNELS_AVX2, VC_Q4_1, 32 * VC_QDOT_MAX_BLOCKS + 32));
}

/* The plain copy's stream (qdot.c): after the values padded to 64 bytes,
 * for the smallest R with R nb a multiple of 8 (nb = n / 32 blocks), stream
 * groups s = nb / 8 .. R nb / 8 - 1 of 256 bytes, byte 32 i + 4 b + m of
 * group s = value 4 i + m of block (8 s + b) mod nb */
static void check_nat_stream(const int8_t *nat, int64_t n, size_t nat_bytes) {
    const int64_t nb = n / 32, ng = nb / 8;
    int64_t R = 1;
    while ((R * nb) % 8) R++;
    const size_t tail = ((size_t)n + 63) & ~(size_t)63;
    assert_int_equal(nat_bytes, tail + 256 * (size_t)(R * nb / 8 - ng));
    for (int64_t s = ng; s < R * nb / 8; s++)
        for (int i = 0; i < 8; i++)
            for (int b = 0; b < 8; b++)
                for (int m = 0; m < 4; m++) {
                    const int8_t got = nat[tail + 256 * (s - ng) + 32 * i + 4 * b + m];
                    const int8_t want = nat[32 * ((8 * s + b) % nb) + 4 * i + m];
                    if (got != want)
                        fail_msg("n=%lld stream group %lld lane %d byte %d: %d, value %d", (long long)n, (long long)s,
                                 b, 4 * i + m, got, want);
                }
}

/* AMX tiles give bitwise the vpdpbusd kernel's results, for every row and
 * column: two whole groups of 16 activation rows and a partial one of 5,
 * and a call of 3 rows (a partial group only) */
static void check_amx_rule(vc_dtype t, int64_t n, vc_q8_rule rule) {
    enum { COLS = 16, ROWS = 37, FEW = 3 };
    unsigned seed = 77u + (unsigned)t + (unsigned)n;
    const size_t rb = vc_row_bytes(t, n), qb = vc_cpu_qrow_bytes(n), nb = vc_cpu_qnat_bytes(n);
    float *wf = malloc((size_t)n * sizeof(float)), *x = malloc((size_t)n * sizeof(float));
    uint8_t *w = malloc(rb * COLS), *qx = aligned_alloc(64, qb * ROWS);
    int8_t *nat = aligned_alloc(64, nb * ROWS);
    for (int c = 0; c < COLS; c++) {
        for (int64_t i = 0; i < n; i++) wf[i] = frand(&seed) * (float)(1 + c % 5);
        assert_int_equal(vc_quantize_row(t, wf, w + c * rb, n), 0);
    }
    for (int r = 0; r < ROWS; r++) {
        for (int64_t i = 0; i < n; i++) x[i] = frand(&seed) * (float)(1 + (r * 7 + i) % 13);
        vc_cpu_quantize_row_q8_rule(x, n, rule, qx + r * qb, nat + r * nb);
        /* the values in order, and a partial last group's interleaved copy
         * after the padding to 64 bytes (the quantizer transposes it, the
         * accessor reads it value by value) */
        int8_t *check = malloc(nb);
        vc_cpu_qrow_natural(qx + r * qb, n, check);
        assert_memory_equal(check, nat + r * nb, (size_t)n);
        const size_t tail = ((size_t)n + 63) & ~(size_t)63;
        check_nat_stream(nat + r * nb, n, nb);
        if (nb > tail) assert_memory_equal(check + tail, nat + r * nb + tail, nb - tail);
        free(check);
    }
    float amx[ROWS][COLS], few[FEW][COLS], ref[ROWS][COLS];
    vc_cpu_amx_rows16(t, w, rb, nat, nb, qx, qb, rule, ROWS, n, &amx[0][0], COLS, w, 16 * rb);
    vc_cpu_amx_rows16(t, w, rb, nat, nb, qx, qb, rule, FEW, n, &few[0][0], COLS, NULL, 0);
    for (int c = 0; c < COLS; c++)
        vc_cpu_qdot_rows(VC_KERNELS_AVX512, t, w + c * rb, qx, qb, rule, ROWS, n, &ref[0][c], COLS);
    for (int r = 0; r < ROWS; r++)
        for (int c = 0; c < COLS; c++) {
            if (memcmp(&amx[r][c], &ref[r][c], sizeof(float)))
                fail_msg("%s n=%lld rule %d row %d col %d: amx %.9g vs vnni %.9g", vc_dtype_name(t), (long long)n,
                         (int)rule, r, c, amx[r][c], ref[r][c]);
            if (r < FEW && memcmp(&few[r][c], &ref[r][c], sizeof(float)))
                fail_msg("%s n=%lld row %d col %d of %d: amx %.9g vs vnni %.9g", vc_dtype_name(t), (long long)n, r,
                         c, FEW, few[r][c], ref[r][c]);
        }
    free(wf); free(x); free(w); free(qx); free(nat);
}

static void check_amx(vc_dtype t, int64_t n) {
    check_amx_rule(t, n, VC_Q8_RULE_F32);
    if (vc_dtype_block_elems(t) == 256) check_amx_rule(t, n, VC_Q8_RULE_K);
}

static void test_amx(void **state) {
    (void)state;
    if (vc_cpu_kernels() < VC_KERNELS_AMX) { /* not a skip: nothing may claim AMX here */
        assert_true(vc_cpu_kernels() < VC_KERNELS_AMX);
        return;
    }
    const vc_dtype types[] = { VC_Q8_0, VC_Q4_0, VC_Q4_1, VC_Q5_0, VC_Q5_1, VC_Q4_K, VC_Q6_K };
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        check_amx(types[i], 256);
        check_amx(types[i], 2816);   /* 88 blocks: segments of 32 + a tail */
        if (vc_dtype_block_elems(types[i]) == 32) {
            check_amx(types[i], 576);  /* 18 blocks: a partial group of 2 */
            check_amx(types[i], 96);   /* 3 blocks */
        }
    }
    assert_false(vc_cpu_amx_supported(VC_F16, 256));
    assert_false(vc_cpu_amx_supported(VC_Q4_1, 32 * VC_AMX_MAX_BLOCKS + 32));
}

/* Activation quantization, at every kernel level, gives the bytes of a
 * plain reference written here (q = nearbyint(x * (127 / max|x|)), d =
 * max / 127, s = d * sum q; F16: d and s rounded to f16): rows with a zero
 * block, exact ties (max 127, so x * id = x: 2.5 rounds to 2), and partial
 * groups; the plain copy too */
static float f16r(float v);

static void check_quantize_level(int64_t n, vc_q8_rule rule) {
    unsigned seed = 5u + (unsigned)n + 17u * (unsigned)rule;
    float *x = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++) x[i] = frand(&seed) * (float)(1 + i % 9) * (i % 64 < 32 ? 1.0f : 1e-3f);
    for (int i = 0; i < 32 && n >= 64; i++) x[32 + i] = 0.0f;                       /* block 1: zeros */
    for (int i = 0; i < 32 && n >= 96; i++) x[64 + i] = i == 0 ? 127.0f : (float)(i % 7) - 3.5f + (i % 2) * 1.0f;
    const size_t qb = vc_cpu_qrow_bytes(n), nb = vc_cpu_qnat_bytes(n);
    uint8_t *q = aligned_alloc(64, qb);
    int8_t *nat = aligned_alloc(64, nb);
    for (int k = VC_KERNELS_PORTABLE; k <= (int)vc_cpu_kernels(); k++) {
        memset(q, 0x55, qb);
        memset(nat, 0x55, nb);
        vc_cpu_quantize_row_q8_level((vc_kernels)k, x, n, rule, q, nat);
        for (int64_t b = 0; b < n / 32; b++) {
            float amax = 0.0f;
            for (int i = 0; i < 32; i++) amax = fmaxf(amax, fabsf(x[32 * b + i]));
            const float id = amax > 0.0f ? 127.0f / amax : 0.0f;
            int sum = 0;
            for (int i = 0; i < 32; i++) {
                const int v = (int)nearbyintf(x[32 * b + i] * id);
                sum += v;
                if (vc_cpu_qrow_q(q, n, 32 * b + i) != v || nat[32 * b + i] != v)
                    fail_msg("level %d n=%lld rule %d value %lld: q %d nat %d, expected %d", k, (long long)n, (int)rule,
                             (long long)(32 * b + i), vc_cpu_qrow_q(q, n, 32 * b + i), nat[32 * b + i], v);
            }
            float d = amax / 127.0f, sv = d * (float)sum;
            if (rule == VC_Q8_RULE_F16) {
                sv = f16r(sv);
                d = f16r(d);
            }
            const float gd = vc_cpu_qrow_d(q, n, b), gs = vc_cpu_qrow_s(q, n, b);
            if (memcmp(&gd, &d, sizeof d) || memcmp(&gs, &sv, sizeof sv))
                fail_msg("level %d n=%lld rule %d block %lld: d %.9g s %.9g, expected %.9g %.9g", k, (long long)n,
                         (int)rule, (long long)b, gd, gs, d, sv);
        }
        check_nat_stream(nat, n, nb);
        /* the padding of a partial group is zero blocks */
        for (int64_t b = n / 32; b % 8; b++) {
            assert_true(vc_cpu_qrow_d(q, n, b) == 0.0f && vc_cpu_qrow_s(q, n, b) == 0.0f);
            for (int i = 0; i < 32; i++) assert_int_equal(((int8_t *)q)[256 * (b / 8) + 32 * (b % 8) + i], 0);
        }
    }
    free(x); free(q); free(nat);
}

static void test_quantize_levels(void **state) {
    (void)state;
    const int64_t sizes[] = { 96, 256, 544, 576, 896, 1024, 2816 };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        check_quantize_level(sizes[i], VC_Q8_RULE_F32);
        check_quantize_level(sizes[i], VC_Q8_RULE_F16);
    }
}

/* The few-row 512-bit kernels (decode) give bitwise vc_cpu_qdot_rows, for
 * one row and for a pair, whole groups and partial ones (17 and 33 blocks:
 * a last group of 1, a segment tail of 1), rows quantized by each rule; the
 * plain int8 copies have garbage past n (their loads are masked), and
 * types or rules without such a kernel say so (0) */
static void check_qdot_few(vc_dtype t, int64_t n, vc_q8_rule rule) {
    enum { COLS = 16, ROWS = 2 };
    unsigned seed = 99u + (unsigned)t + (unsigned)n;
    const size_t rb = vc_row_bytes(t, n), qb = vc_cpu_qrow_bytes(n), nb = vc_cpu_qnat_bytes(n);
    float *wf = malloc((size_t)n * sizeof(float)), *x = malloc((size_t)n * sizeof(float));
    uint8_t *w = malloc(rb * COLS), *qx = aligned_alloc(64, qb * ROWS);
    int8_t *nat = aligned_alloc(64, nb * ROWS);
    memset(nat, 0x7F, nb * ROWS);
    for (int c = 0; c < COLS; c++) {
        for (int64_t i = 0; i < n; i++) wf[i] = frand(&seed) * (float)(1 + (c + i) % 7);
        assert_int_equal(vc_quantize_row(t, wf, w + c * rb, n), 0);
    }
    for (int r = 0; r < ROWS; r++) {
        for (int64_t i = 0; i < n; i++) x[i] = frand(&seed) * (float)(1 + (r * 5 + i) % 11);
        vc_cpu_quantize_row_q8_rule(x, n, rule, qx + r * qb, nat + r * nb);
    }
    const int has = t == VC_Q8_0 || t == VC_Q4_0 || t == VC_Q4_1 || t == VC_Q4_K || t == VC_Q6_K;
    /* weight rows one by one, and runs of them (packs where the type has
     * them, vc_cpu_qdot_few_pack: from row 0, from an odd row, with rows
     * left over) */
    const int runs[][2] = { { 0, 1 }, { 5, 1 }, { 0, COLS }, { 1, COLS - 1 }, { 3, 9 }, { 2, 4 } };
    for (int nr = 1; nr <= ROWS; nr++) {
        float ref[ROWS][COLS];
        for (int c = 0; c < COLS; c++) vc_cpu_qdot_rows(VC_KERNELS_AVX512, t, w + c * rb, qx, qb, rule, nr, n, &ref[0][c], COLS);
        for (size_t u = 0; u < sizeof runs / sizeof runs[0]; u++) {
            const int c0 = runs[u][0], cn = runs[u][1];
            float few[ROWS][COLS];
            const int did = vc_cpu_qdot_few(VC_KERNELS_AVX512, t, w + c0 * rb, cn, nat, nb, qx, qb, rule, nr, n,
                                            &few[0][0], COLS);
            if (did != has) fail_msg("%s rule %d: vc_cpu_qdot_few said %d", vc_dtype_name(t), (int)rule, did);
            if (!did) continue;
            for (int j = 0; j < nr; j++)
                for (int c = 0; c < cn; c++)
                    if (memcmp(&few[j][c], &ref[j][c0 + c], sizeof(float)))
                        fail_msg("%s n=%lld rule %d col %d (of %d from %d) row %d of %d: few %.9g vs vnni %.9g",
                                 vc_dtype_name(t), (long long)n, (int)rule, c0 + c, cn, c0, j, nr, few[j][c],
                                 ref[j][c0 + c]);
        }
    }
    free(wf); free(x); free(w); free(qx); free(nat);
}

static void test_qdot_few(void **state) {
    (void)state;
    if (vc_cpu_kernels() < VC_KERNELS_AVX512) { /* not a skip: no level below may claim the path */
        assert_false(vc_cpu_qdot_few(VC_KERNELS_AVX2, VC_Q4_1, NULL, 1, NULL, 0, NULL, 0, VC_Q8_RULE_F32, 1, 256,
                                     NULL, 1));
        return;
    }
    const vc_dtype types[] = { VC_Q8_0, VC_Q4_0, VC_Q4_1, VC_Q4_K, VC_Q6_K, VC_Q5_0 };
    const int64_t sizes[] = { 256, 544, 576, 608, 896, 672, 704, 736, 1056, 1536, 2816 }; /* last groups of 0-7 blocks */
    const vc_q8_rule rules[] = { VC_Q8_RULE_F32, VC_Q8_RULE_F16, VC_Q8_RULE_K };
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
            for (size_t r = 0; r < sizeof rules / sizeof rules[0]; r++) {
                if (sizes[s] % vc_dtype_block_elems(types[i])) continue;
                if (rules[r] == VC_Q8_RULE_K && vc_dtype_block_elems(types[i]) != 256) continue;
                check_qdot_few(types[i], sizes[s], rules[r]);
            }
    assert_false(vc_cpu_qdot_few(VC_KERNELS_AVX512, VC_Q4_1, NULL, 1, NULL, 0, NULL, 0, VC_Q8_RULE_F32, 3, 256, NULL, 1));
    /* rows per pack: R rows of n / 32 blocks make whole groups of 8 */
    const int64_t pn[] = { 256, 544, 576, 608, 896, 704 };
    const int pr[] = { 1, 8, 4, 8, 2, 4 };
    for (size_t i = 0; i < sizeof pn / sizeof pn[0]; i++) {
        assert_int_equal(vc_cpu_qdot_few_pack(VC_Q4_1, pn[i]), pr[i]);
        assert_int_equal(vc_cpu_qdot_few_pack(VC_Q8_0, pn[i]), pr[i]);
    }
    assert_int_equal(vc_cpu_qdot_few_pack(VC_Q4_K, 2816), 1);
}

/* matmul rows are bitwise independent of the number of rows in the call and
 * of the pool (with its scratch for 8-bit activation rows, or none) */
static void check_matmul_row_invariance(vc_dtype t, vc_act act) {
    enum { IN = 512, OUT = 37, ROWS = 37 }; /* AMX: 37 rows (the last group partial) x the two whole 16-row chunks */
    unsigned seed = 7;
    float *wf = malloc(IN * OUT * sizeof(float));
    for (int i = 0; i < IN * OUT; i++) wf[i] = frand(&seed);
    const size_t rb = vc_row_bytes(t, IN);
    uint8_t *wq = malloc(rb * OUT);
    for (int o = 0; o < OUT; o++) {
        if (t == VC_F16) for (int i = 0; i < IN; i++) ((uint16_t *)(wq + o * rb))[i] = vc_f32_to_f16(wf[o * IN + i]);
        else assert_int_equal(vc_quantize_row(t, wf + o * IN, wq + o * rb, IN), 0);
    }
    vc_tensor w = { .name = "w", .type = t, .n_dims = 2, .ne = { IN, OUT, 1, 1 }, .data = wq,
                    .nbytes = rb * OUT };
    float *x = malloc(ROWS * IN * sizeof(float)), *all = malloc(ROWS * OUT * sizeof(float));
    float one[OUT];
    for (int i = 0; i < ROWS * IN; i++) x[i] = frand(&seed);
    vc_pool *pool = NULL;
    vc_error err;
    assert_int_equal(vc_pool_create(&pool, 3, &err), 0);
    assert_int_equal(vc_pool_reserve(pool, 2 * (size_t)ROWS * (vc_cpu_qrow_bytes(IN) + vc_cpu_qnat_bytes(IN)),
                                     &err), 0);
    const vc_tensor *wp = &w;
    float *ya = all, *yo = one;
    vc_cpu_matmul_act(1, &wp, x, ROWS, &ya, pool, act);
    for (int r = 0; r < ROWS; r++) {
        vc_cpu_matmul_act(1, &wp, x + r * IN, 1, &yo, NULL, act);
        assert_memory_equal(one, all + r * OUT, sizeof one);
    }
    vc_pool_free(pool);
    free(wf);
    free(wq);
    free(x);
    free(all);
}

static void test_matmul_row_invariance(void **state) {
    (void)state;
    /* every activation path: 8-bit rows, value + residual pairs, float
     * activations (the decoded-weights GEMM of K-quants when batched) */
    const vc_dtype types[] = { VC_Q4_1, VC_Q4_K, VC_Q6_K, VC_Q5_K, VC_Q4_0, VC_Q8_0, VC_Q5_0, VC_Q5_1, VC_F16 };
    const vc_act acts[] = { VC_ACT_AUTO, VC_ACT_Q8, VC_ACT_PAIRS, VC_ACT_FLOAT };
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        for (size_t a = 0; a < sizeof acts / sizeof acts[0]; a++) check_matmul_row_invariance(types[i], acts[a]);
}

/* VC_ACT_Q8 (--act8, llama.cpp's numerics): activations rounded to 8 bits
 * as llama.cpp rounds them: one f32 scale per 256 values against K-quant
 * weights (its Q8_K), per 32 values with the scale d and the scaled sum s
 * stored as f16 against the others (its Q8_0 / Q8_1), whether the weights
 * have integer kernels or take the rounded values as floats; checked against
 * a double product of the dequantized weights with x rounded by that rule
 * here (Q4_1 / Q5_1 on the integer kernels: their m times the f16 s, as
 * llama.cpp's dot; the portable level's rounded floats carry no s). The
 * rules differ by far more than the float tolerance (an outlier per 256
 * coarsens the other 7 blocks' scales; f16 scales move every block), so the
 * wrong rule fails. Matrices of different kinds in one call give what they
 * give alone. */
static float f16r(float v) { return vc_f16_to_f32(vc_f32_to_f16(v)); }

/* x rounded per span (32 or 256), d as f16 if f16; corr[b] = s[b] - d[b] *
 * sum q of block b (nonzero only for f16: s is rounded from the f32 d) */
static void round_ref(const float *x, int n, int span, int f16, double *dst, double *corr) {
    for (int b = 0; b < n; b += span) {
        float amax = 0;
        for (int i = 0; i < span; i++) amax = fmaxf(amax, fabsf(x[b + i]));
        const float id = amax > 0 ? 127.0f / amax : 0.0f, d = amax / 127.0f, ds = f16 ? f16r(d) : d;
        int sum = 0;
        for (int i = 0; i < span; i++) {
            const int q = (int)nearbyintf(x[b + i] * id);
            dst[b + i] = (double)q * ds;
            sum += q;
        }
        if (span == 32) corr[b / 32] = f16 ? (double)f16r(d * (float)sum) - (double)ds * sum : 0.0;
    }
}

static void test_matmul_act8_rounding(void **state) {
    (void)state;
    /* float error allowed: TOL_ROUNDINGS roundings of the sum of |terms|
     * (a lane's IN / 8 multiply-adds, the block products, the lane sums and
     * the weights' decoding, with room to spare) */
    enum { IN = 512, OUT = 24, ROWS = 18, NB = IN / 32, TOL_ROUNDINGS = IN / 8 + 16 };
    unsigned seed = 29;
    float *x = malloc(ROWS * IN * sizeof(float));
    for (int i = 0; i < ROWS * IN; i++) x[i] = frand(&seed) * (i % 211 == 0 ? 40.0f : 1.0f);
    /* the Q8_K rule: one d per 256, every value within d / 2 */
    uint8_t *qr = malloc(vc_cpu_qrow_bytes(IN));
    vc_cpu_quantize_row_q8_rule(x, IN, VC_Q8_RULE_K, qr, NULL);
    for (int b = 0; b < NB; b++) {
        assert_true(vc_cpu_qrow_d(qr, IN, b) == vc_cpu_qrow_d(qr, IN, b / 8 * 8));
        for (int i = 32 * b; i < 32 * b + 32; i++)
            assert_true(fabsf(vc_cpu_qrow_q(qr, IN, i) * vc_cpu_qrow_d(qr, IN, b) - x[i]) <=
                        0.5f * vc_cpu_qrow_d(qr, IN, b) * 1.0001f);
    }
    /* the f16 rule: the q of the f32 rule, d and s rounded to f16 */
    uint8_t *q32 = malloc(vc_cpu_qrow_bytes(IN));
    vc_cpu_quantize_row_q8_rule(x, IN, VC_Q8_RULE_F16, qr, NULL);
    vc_cpu_quantize_row_q8(x, IN, q32);
    for (int b = 0; b < NB; b++) {
        assert_true(vc_cpu_qrow_d(qr, IN, b) == f16r(vc_cpu_qrow_d(q32, IN, b)));
        assert_true(vc_cpu_qrow_s(qr, IN, b) == f16r(vc_cpu_qrow_s(q32, IN, b)));
        for (int i = 32 * b; i < 32 * b + 32; i++) assert_int_equal(vc_cpu_qrow_q(qr, IN, i), vc_cpu_qrow_q(q32, IN, i));
    }
    free(qr);
    free(q32);
    double *xr16 = malloc(ROWS * IN * sizeof(double)), *xrk = malloc(ROWS * IN * sizeof(double));
    double *xr32 = malloc(ROWS * IN * sizeof(double));
    double corr16[ROWS][NB], corr0[ROWS][NB];
    for (int r = 0; r < ROWS; r++) {
        round_ref(x + r * IN, IN, 32, 1, xr16 + r * IN, corr16[r]);
        round_ref(x + r * IN, IN, 32, 0, xr32 + r * IN, corr0[r]);
        round_ref(x + r * IN, IN, 256, 0, xrk + r * IN, corr0[r]);
    }
    vc_pool *pool = NULL;
    vc_error err;
    assert_int_equal(vc_pool_create(&pool, 2, &err), 0);
    assert_int_equal(vc_pool_reserve(pool, 2 * (size_t)ROWS * (vc_cpu_qrow_bytes(IN) + vc_cpu_qnat_bytes(IN)),
                                     &err), 0);
    const vc_dtype types[] = { VC_Q4_K, VC_Q6_K, VC_Q5_K, VC_Q3_K, VC_Q2_K, VC_Q4_0, VC_Q4_1, VC_Q5_0, VC_Q5_1,
                               VC_Q8_0 };
    enum { NT = sizeof types / sizeof types[0] };
    uint8_t *wq[NT];
    vc_tensor w[NT];
    float *y[NT];
    for (int ti = 0; ti < NT; ti++) {
        const vc_dtype t = types[ti];
        const int k_rule = vc_dtype_block_elems(t) == 256;
        /* Q4_1 / Q5_1 on the integer kernels: m times llama.cpp's f16 s; on
         * the rounded floats (portable) m meets the rounded values' sum */
        const int has_m = (t == VC_Q4_1 || t == VC_Q5_1) && vc_cpu_qdot_supported(vc_cpu_kernels(), t, IN);
        const double *xr = k_rule ? xrk : xr16;
        const double *others[2] = { k_rule ? xr16 : xrk, xr32 };   /* the other rules' inputs */
        const size_t rb = vc_row_bytes(t, IN);
        wq[ti] = malloc(rb * OUT);
        float *wd = malloc(IN * OUT * sizeof(float));
        y[ti] = malloc(ROWS * OUT * sizeof(float));
        for (int i = 0; i < IN * OUT; i++) wd[i] = frand(&seed);
        for (int o = 0; o < OUT; o++) {
            assert_int_equal(vc_quantize_row(t, wd + o * IN, wq[ti] + o * rb, IN), 0);
            vc_dequantize_row(t, wq[ti] + o * rb, wd + o * IN, IN);
        }
        w[ti] = (vc_tensor){ .name = "w", .type = t, .n_dims = 2, .ne = { IN, OUT, 1, 1 }, .data = wq[ti],
                             .nbytes = rb * OUT };
        const vc_tensor *wp = &w[ti];
        vc_cpu_matmul_act(1, &wp, x, ROWS, &y[ti], pool, VC_ACT_Q8);
        double worst = 0, reach[2] = { 0, 0 };  /* the other rules' references: some output out of reach of each */
        for (int r = 0; r < ROWS; r++)
            for (int o = 0; o < OUT; o++) {
                double ref = 0, alt[2] = { 0, 0 }, mag = 0;
                for (int i = 0; i < IN; i++) {
                    ref += (double)wd[o * IN + i] * xr[r * IN + i];
                    for (int a = 0; a < 2; a++) alt[a] += (double)wd[o * IN + i] * others[a][r * IN + i];
                    mag += fabs((double)wd[o * IN + i] * xr[r * IN + i]);
                }
                if (has_m) /* m * s with llama.cpp's f16 s (block bytes: f16 d, f16 m, ...) */
                    for (int b = 0; b < NB; b++) {
                        uint16_t m;
                        memcpy(&m, wq[ti] + o * rb + b * vc_dtype_block_bytes(t) + 2, 2);
                        ref += (double)vc_f16_to_f32(m) * corr16[r][b];
                    }
                const double tol = mag * TOL_ROUNDINGS * 0x1p-23;
                const double e = fabs(y[ti][r * OUT + o] - ref);
                if (e > tol)
                    fail_msg("%s row %d col %d: %.9g vs rounded-x reference %.9g (tol %.3g)", vc_dtype_name(t), r, o,
                             y[ti][r * OUT + o], ref, tol);
                worst = fmax(worst, e / tol);
                for (int a = 0; a < 2; a++) reach[a] = fmax(reach[a], fabs(alt[a] - ref) / tol);
            }
        printf("  act8 %s (%s): worst error / tol = %.3f; the other rules' references up to %.0f and %.0f x tol away\n",
               vc_dtype_name(t), k_rule ? "Q8_K" : "Q8_0/Q8_1, f16 scales", worst, reach[0], reach[1]);
        assert_true(reach[0] > 4.0 && reach[1] > 4.0);
        free(wd);
    }
    /* a K-quant and a 32-block matrix in one call: each as alone */
    for (int a = 0; a < NT; a++)
        for (int b = 0; b < NT; b++) {
            const vc_tensor *pair[2] = { &w[a], &w[b] };
            float *ya = malloc(ROWS * OUT * sizeof(float)), *yb = malloc(ROWS * OUT * sizeof(float));
            float *ys[2] = { ya, yb };
            vc_cpu_matmul_act(2, pair, x, ROWS, ys, pool, VC_ACT_Q8);
            assert_memory_equal(ya, y[a], ROWS * OUT * sizeof(float));
            assert_memory_equal(yb, y[b], ROWS * OUT * sizeof(float));
            free(ya);
            free(yb);
        }
    for (int ti = 0; ti < NT; ti++) {
        free(wq[ti]);
        free(y[ti]);
    }
    vc_pool_free(pool);
    free(x);
    free(xr16);
    free(xr32);
    free(xrk);
}

/* the value + residual pair of an activation row: per value within the
 * documented bound of x; and vc_cpu_matmul_precise within the bound that
 * follows from it (sum over i of |w_i| * bound_i, plus float rounding of the
 * sums) of a double-precision product of the dequantized weights with x */
static void test_matmul_precise(void **state) {
    (void)state;
    enum { IN = 1536, OUT = 40, ROWS = 19 };
    unsigned seed = 11;
    float *x = malloc(ROWS * IN * sizeof(float));
    for (int i = 0; i < ROWS * IN; i++) {
        x[i] = frand(&seed);
        if (i % 97 == 0) x[i] *= 300.0f;   /* outliers, as silu(gate) * up has */
    }
    uint8_t *hi = malloc(vc_cpu_qrow_bytes(IN)), *lo = malloc(vc_cpu_qrow_bytes(IN));
    float *bound = malloc(ROWS * IN * sizeof(float));
    double worst = 0;
    for (int r = 0; r < ROWS; r++) {
        const float *xr = x + r * IN;
        vc_cpu_quantize_row_q8_pair(xr, IN, hi, NULL, lo, NULL);
        for (int b = 0; b < IN / 32; b++) {
            float amax = 0;
            for (int i = 0; i < 32; i++) amax = fmaxf(amax, fabsf(xr[32 * b + i]));
            for (int i = 32 * b; i < 32 * b + 32; i++) {
                const double v = (double)vc_cpu_qrow_q(hi, IN, i) * vc_cpu_qrow_d(hi, IN, b) +
                                 (double)vc_cpu_qrow_q(lo, IN, i) * vc_cpu_qrow_d(lo, IN, b);
                bound[r * IN + i] = amax / (2.0f * 127.0f * 254.0f) * 1.001f;
                assert_true(fabs(v - xr[i]) <= bound[r * IN + i]);
                if (fabs(v - xr[i]) / amax > worst) worst = fabs(v - xr[i]) / amax;
            }
        }
    }
    printf("  pair: worst |x - hi - lo| / block max = %.3g (bound %.3g)\n", worst, 1.0 / (2 * 127 * 254));
    const vc_dtype types[] = { VC_Q4_1, VC_Q4_K, VC_Q6_K, VC_Q4_0, VC_Q8_0, VC_Q5_0, VC_Q5_1 };
    vc_pool *pool = NULL;
    vc_error err;
    assert_int_equal(vc_pool_create(&pool, 2, &err), 0);
    assert_int_equal(vc_pool_reserve(pool, 2 * (size_t)ROWS * (vc_cpu_qrow_bytes(IN) + vc_cpu_qnat_bytes(IN)),
                                     &err), 0);
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        const vc_dtype t = types[ti];
        const size_t rb = vc_row_bytes(t, IN);
        uint8_t *wq = malloc(rb * OUT);
        float *wd = malloc(IN * OUT * sizeof(float)), *y = malloc(ROWS * OUT * sizeof(float));
        for (int i = 0; i < IN * OUT; i++) wd[i] = frand(&seed);
        for (int o = 0; o < OUT; o++) {
            assert_int_equal(vc_quantize_row(t, wd + o * IN, wq + o * rb, IN), 0);
            vc_dequantize_row(t, wq + o * rb, wd + o * IN, IN);
        }
        vc_tensor w = { .name = "w", .type = t, .n_dims = 2, .ne = { IN, OUT, 1, 1 }, .data = wq,
                        .nbytes = rb * OUT };
        vc_cpu_matmul_precise(&w, x, ROWS, y, pool);
        double worst_ratio = 0;
        for (int r = 0; r < ROWS; r++)
            for (int o = 0; o < OUT; o++) {
                double ref = 0, b = 0, mag = 0;
                for (int i = 0; i < IN; i++) {
                    ref += (double)wd[o * IN + i] * x[r * IN + i];
                    b += fabs(wd[o * IN + i]) * bound[r * IN + i];
                    mag += fabs((double)wd[o * IN + i] * x[r * IN + i]);
                }
                b += mag * IN * 0x1p-23;   /* float sums of products (blocks, lanes, hi + lo) */
                const double e = fabs(y[r * OUT + o] - ref);
                assert_true(e <= b);
                if (e / b > worst_ratio) worst_ratio = e / b;
            }
        printf("  precise matmul %-4s: worst error / bound = %.3f\n", vc_dtype_name(t), worst_ratio);
        free(wq);
        free(wd);
        free(y);
    }
    vc_pool_free(pool);
    free(x);
    free(hi);
    free(lo);
    free(bound);
}

/* paged attention over long contexts (several 64-position score chunks),
 * GQA, sliding window, KV dtypes, scattered blocks: against the textbook
 * softmax(q k^T * scale) v in double precision */
static void check_attention_shape(vc_dtype kv_dtype, int window, double tol, int HD, int BS) {
    enum { NKV = 2, NH = 6, LEN = 300, HD_MAX = 128 };
    const int NB = (LEN + BS - 1) / BS + 5;
    assert_true(HD <= HD_MAX);
    vc_config cfg = { .n_layers = 2, .n_kv_heads = NKV, .head_dim = HD };
    vc_kv_cache *kv = NULL;
    vc_error err;
    assert_int_equal(vc_kv_cache_create(&kv, &cfg, kv_dtype, BS, NB, &err), 0);
    unsigned seed = 99;
    const int max_blocks = (LEN + BS - 1) / BS;   /* all but 5 of the blocks, reversed and offset */
    int32_t table[64], slots[LEN], positions[LEN], seq_of[LEN];
    for (int i = 0; i < max_blocks; i++) table[i] = (int32_t)(NB - 1 - i);
    float *k = malloc((size_t)LEN * NKV * HD * sizeof(float)), *v = malloc((size_t)LEN * NKV * HD * sizeof(float));
    float *q = malloc((size_t)LEN * NH * HD * sizeof(float)), *out = malloc((size_t)LEN * NH * HD * sizeof(float));
    for (int i = 0; i < LEN * NKV * HD; i++) { k[i] = 2.0f * frand(&seed); v[i] = frand(&seed); }
    for (int i = 0; i < LEN * NH * HD; i++) q[i] = frand(&seed);
    for (int p = 0; p < LEN; p++) {
        slots[p] = table[p / BS] * BS + p % BS;
        positions[p] = p;
        seq_of[p] = 0;
    }
    vc_cpu_kv_store(kv, 1, k, v, slots, LEN);
    vc_pool *pool = NULL;
    assert_int_equal(vc_pool_create(&pool, 2, &err), 0);
    const float scale = 1.0f / sqrtf((float)HD);
    vc_cpu_paged_attention(out, q, kv, 1, LEN, NH, positions, seq_of, table, 64, window, scale, pool);
    /* the stored K/V as the kernel sees them (rounded to the KV dtype) */
    double max_err = 0;
    for (int t = 0; t < LEN; t += 7) {
        for (int h = 0; h < NH; h++) {
            const int kvh = h / (NH / NKV);
            const int j0 = window > 0 && t - window + 1 > 0 ? t - window + 1 : 0;
            double mx = -1e300, den = 0, o[HD_MAX] = { 0 };
            double sc[LEN];
            for (int j = j0; j <= t; j++) {
                double d = 0;
                for (int i = 0; i < HD; i++) {
                    float kf = k[(j * NKV + kvh) * HD + i];
                    if (kv_dtype == VC_F16) kf = vc_f16_to_f32(vc_f32_to_f16(kf));
                    if (kv_dtype == VC_BF16) kf = vc_bf16_to_f32(vc_f32_to_bf16(kf));
                    d += (double)q[(t * NH + h) * HD + i] * kf;
                }
                sc[j] = d * scale;
                if (sc[j] > mx) mx = sc[j];
            }
            for (int j = j0; j <= t; j++) {
                const double p = exp(sc[j] - mx);
                den += p;
                for (int i = 0; i < HD; i++) {
                    float vf = v[(j * NKV + kvh) * HD + i];
                    if (kv_dtype == VC_F16) vf = vc_f16_to_f32(vc_f32_to_f16(vf));
                    if (kv_dtype == VC_BF16) vf = vc_bf16_to_f32(vc_f32_to_bf16(vf));
                    o[i] += p * vf;
                }
            }
            for (int i = 0; i < HD; i++) {
                const double e = fabs(o[i] / den - out[(t * NH + h) * HD + i]);
                if (e > max_err) max_err = e;
            }
        }
    }
    printf("  attention kv %s window %d head_dim %d block %d: max abs error %.3g\n", vc_dtype_name(kv_dtype), window,
           HD, BS, max_err);
    assert_true(max_err <= tol);
    /* a token alone gives bitwise its row of the whole prompt (tiles of
     * tokens share K/V loads, never arithmetic), from within a tile, at
     * chunk edges, or after a batch of tokens starting mid-tile */
    const int lone[] = { 0, 5, 63, 64, 65, 130, 299 };
    float one[NH * HD_MAX];
    for (size_t i = 0; i < sizeof lone / sizeof lone[0]; i++) {
        const int t = lone[i];
        vc_cpu_paged_attention(one, q + (size_t)t * NH * HD, kv, 1, 1, NH, positions + t, seq_of, table, 64, window,
                               scale, pool);
        assert_memory_equal(one, out + (size_t)t * NH * HD, (size_t)NH * HD * sizeof(float));
    }
    float *part = malloc((size_t)(LEN - 77) * NH * HD * sizeof(float));
    vc_cpu_paged_attention(part, q + (size_t)77 * NH * HD, kv, 1, LEN - 77, NH, positions + 77, seq_of, table, 64,
                           window, scale, pool);
    assert_memory_equal(part, out + (size_t)77 * NH * HD, (size_t)(LEN - 77) * NH * HD * sizeof(float));
    free(part);
    vc_pool_free(pool);
    vc_kv_cache_free(kv);
    free(k); free(v); free(q); free(out);
}

static void check_attention(vc_dtype kv_dtype, int window, double tol) {
    check_attention_shape(kv_dtype, window, tol, 64, 16);
}

static void test_attention(void **state) {
    (void)state;
    check_attention(VC_F32, 0, 1e-5);
    check_attention(VC_F32, 100, 1e-5);
    check_attention(VC_F16, 0, 1e-5);
    check_attention(VC_BF16, 70, 1e-5);
    check_attention(VC_BF16, 0, 1e-5);   /* amx: K tiles loaded straight from whole blocks */
    /* head_dim 128 (four 32-dim blocks, eight 16-dim groups), blocks of 32
     * and of 8 (16 positions never in one block: K rows copied) */
    check_attention_shape(VC_BF16, 0, 1e-5, 128, 32);
    check_attention_shape(VC_BF16, 0, 1e-5, 32, 8);
    check_attention_shape(VC_F32, 0, 1e-5, 128, 32);
}

/* every task runs exactly once, over many runs of varying size */
typedef struct count_job { _Atomic int *hits; } count_job;
static void count_task(void *arg, int64_t i) {
    count_job *j = arg;
    atomic_fetch_add(&j->hits[i], 1);
}

static void test_pool(void **state) {
    (void)state;
    vc_pool *pool = NULL;
    vc_error err;
    assert_int_equal(vc_pool_create(&pool, 4, &err), 0);
    assert_int_equal(vc_pool_threads(pool), 4);
    static _Atomic int hits[1000];
    for (int run = 0; run < 300; run++) {
        const int n = 1 + (run * 37) % 1000;
        for (int i = 0; i < n; i++) atomic_store(&hits[i], 0);
        count_job j = { hits };
        vc_pool_run(pool, n, count_task, &j);
        for (int i = 0; i < n; i++) assert_int_equal(atomic_load(&hits[i]), 1);
    }
    vc_pool_free(pool);
    assert_int_equal(vc_pool_create(&pool, 0, &err), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dots),
        cmocka_unit_test(test_qdots),
        cmocka_unit_test(test_amx),
        cmocka_unit_test(test_qdot_few),
        cmocka_unit_test(test_quantize_levels),
        cmocka_unit_test(test_matmul_act8_rounding),
        cmocka_unit_test(test_matmul_row_invariance),
        cmocka_unit_test(test_matmul_precise),
        cmocka_unit_test(test_pool),
        cmocka_unit_test(test_attention),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
