/* Block quant formats against gguf-py's numpy quant code and numpy's float16.
 * Fixtures: tests/fixtures/quant/ (scripts/make_quant_fixtures.py). */
#include "common/testutil.h"

#include <float.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/quant.h"

#define FIX "tests/fixtures/quant/"

/* ------------------------------------------------------------ helpers */

static json_t *load_index(void) {
    json_error_t jerr;
    json_t *index = json_load_file(FIX "index.json", 0, &jerr);
    if (!index) fail_msg("%sindex.json: %s (line %d)", FIX, jerr.text, jerr.line);
    return index;
}

/* reads fixture file `name`, checks it holds exactly `expect` bytes */
static void *load_bin(const char *name, size_t expect) {
    char path[512];
    snprintf(path, sizeof path, FIX "%s", name);
    size_t len = 0;
    void *buf = tu_read_file(path, &len);
    if (!buf) fail_msg("cannot read %s", path);
    if (len != expect) fail_msg("%s: %zu bytes, expected %zu", path, len, expect);
    return buf;
}

static int64_t jint(json_t *o, const char *key) {
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v)) fail_msg("index.json: '%s' missing or not an integer", key);
    return json_integer_value(v);
}
static const char *jstr(json_t *o, const char *key) {
    json_t *v = json_object_get(o, key);
    if (!json_is_string(v)) fail_msg("index.json: '%s' missing or not a string", key);
    return json_string_value(v);
}

static float *load_floats(json_t *index, const char *key, int64_t *n) {
    json_t *o = json_object_get(index, key);
    *n = jint(o, "n");
    return load_bin(jstr(o, "file"), (size_t)*n * sizeof(float));
}

static void first_float_mismatch(const char *what, const float *got, const float *want, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (memcmp(&got[i], &want[i], 4) != 0)
            fail_msg("%s: element %lld: got %.9g, gguf-py %.9g", what, (long long)i, got[i], want[i]);
}

/* ------------------------------------------------------- names, sizes */

static void test_dtype_from_name(void **state) {
    (void)state;
    assert_int_equal(vc_dtype_from_name("Q4_K"), VC_Q4_K);
    assert_int_equal(vc_dtype_from_name("q4_k"), VC_Q4_K);
    assert_int_equal(vc_dtype_from_name("bf16"), VC_BF16);
    assert_int_equal(vc_dtype_from_name("F32"), VC_F32);
    assert_int_equal(vc_dtype_from_name("q8_1"), VC_Q8_1);
    assert_int_equal(vc_dtype_from_name("Q4_2"), -1);
    assert_int_equal(vc_dtype_from_name(""), -1);
    assert_int_equal(vc_dtype_from_name(NULL), -1);
}

/* ---------------------------------------------------------- f16 / bf16 */

static void test_f16_from_f32_matches_numpy(void **state) {
    (void)state;
    json_t *index = load_index();
    json_t *o = json_object_get(index, "f16_from_f32");
    int64_t n = jint(o, "n");
    uint32_t *in = load_bin(jstr(o, "in"), (size_t)n * 4);
    uint16_t *want = load_bin(jstr(o, "out"), (size_t)n * 2);
    for (int64_t i = 0; i < n; i++) {
        float f;
        memcpy(&f, &in[i], 4);
        uint16_t got = vc_f32_to_f16(f);
        if (got != want[i]) fail_msg("f32 0x%08x -> f16: got 0x%04x, numpy 0x%04x", in[i], got, want[i]);
    }
    free(in);
    free(want);
    json_decref(index);
}

static void test_bf16_from_f32_matches_gguf(void **state) {
    (void)state;
    json_t *index = load_index();
    json_t *o = json_object_get(index, "bf16_from_f32");
    int64_t n = jint(o, "n");
    uint32_t *in = load_bin(jstr(o, "in"), (size_t)n * 4);
    uint16_t *want = load_bin(jstr(o, "out"), (size_t)n * 2);
    for (int64_t i = 0; i < n; i++) {
        float f;
        memcpy(&f, &in[i], 4);
        uint16_t got = vc_f32_to_bf16(f);
        if (got != want[i]) fail_msg("f32 0x%08x -> bf16: got 0x%04x, gguf-py 0x%04x", in[i], got, want[i]);
    }
    free(in);
    free(want);
    json_decref(index);
}

static void test_f16_to_f32_matches_numpy(void **state) {
    (void)state;
    json_t *index = load_index();
    json_t *o = json_object_get(index, "f16_to_f32");
    int64_t n = jint(o, "n");
    uint16_t *in = load_bin(jstr(o, "in"), (size_t)n * 2);
    uint32_t *want = load_bin(jstr(o, "out"), (size_t)n * 4);
    for (int64_t i = 0; i < n; i++) {
        float f = vc_f16_to_f32(in[i]);
        uint32_t got;
        memcpy(&got, &f, 4);
        if (got != want[i]) fail_msg("f16 0x%04x -> f32: got 0x%08x, numpy 0x%08x", in[i], got, want[i]);
    }
    free(in);
    free(want);
    json_decref(index);
}

/* Every f16 and bf16 value survives a round trip through float (conversion
 * to f32 is exact, so RNE back must return the same bits; NaNs keep their
 * payload in f16, and are only quieted in bf16). */
static void test_f16_bf16_round_trip_all(void **state) {
    (void)state;
    for (uint32_t h = 0; h < 65536; h++) {
        uint16_t back = vc_f32_to_f16(vc_f16_to_f32((uint16_t)h));
        if (back != h) fail_msg("f16 0x%04x -> f32 -> f16 gave 0x%04x", h, back);
        int bf_nan = (h & 0x7f80) == 0x7f80 && (h & 0x7f);
        uint16_t bback = vc_f32_to_bf16(vc_bf16_to_f32((uint16_t)h));
        uint16_t bwant = bf_nan ? (uint16_t)(h | 0x40) : (uint16_t)h;
        if (bback != bwant) fail_msg("bf16 0x%04x -> f32 -> bf16 gave 0x%04x", h, bback);
    }
}

/* -------------------------------------------------------- dequantize */

static void test_dequantize_matches_gguf(void **state) {
    (void)state;
    json_t *index = load_index();
    json_t *formats = json_object_get(index, "formats");
    const char *name;
    json_t *f;
    int checked = 0;
    json_object_foreach(formats, name, f) {
        vc_dtype t = (vc_dtype)jint(f, "type");
        assert_int_equal(vc_dtype_from_name(name), t);
        assert_int_equal(vc_dtype_block_elems(t), jint(f, "block_elems"));
        assert_int_equal(vc_dtype_block_bytes(t), jint(f, "block_bytes"));
        json_t *dq = json_object_get(f, "dequant");
        int64_t nb = jint(dq, "n_blocks"), n = nb * vc_dtype_block_elems(t);
        uint8_t *blocks = load_bin(jstr(dq, "blocks"), vc_row_bytes(t, n));
        float *want = load_bin(jstr(dq, "values"), (size_t)n * 4);
        float *got = malloc((size_t)n * 4);
        vc_dequantize_row(t, blocks, got, n);
        char what[64];
        snprintf(what, sizeof what, "dequantize %s", name);
        first_float_mismatch(what, got, want, n);
        free(blocks);
        free(want);
        free(got);
        checked++;
    }
    assert_int_equal(checked, 12); /* F16 BF16 Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q2_K..Q6_K */
    json_decref(index);
}

/* Q8_1 and Q8_K have no gguf-py dequantizer. Q8_1 is Q8_0 plus a sum field:
 * same d and qs must give the values gguf-py gives for the Q8_0 block.
 * Q8_K's f32 d times int8 q is checked against the product computed here. */
static void test_dequantize_q8_1_q8_k(void **state) {
    (void)state;
    json_t *index = load_index();
    json_t *dq = json_object_get(json_object_get(json_object_get(index, "formats"), "Q8_0"), "dequant");
    int64_t nb = jint(dq, "n_blocks"), n = nb * 32;
    uint8_t *q80 = load_bin(jstr(dq, "blocks"), (size_t)nb * 34);
    float *want = load_bin(jstr(dq, "values"), (size_t)n * 4);
    uint8_t *q81 = malloc((size_t)nb * 36);
    for (int64_t b = 0; b < nb; b++) {
        memcpy(q81 + b * 36, q80 + b * 34, 2);
        q81[b * 36 + 2] = 0xab; /* s: arbitrary, must not matter */
        q81[b * 36 + 3] = 0x3c;
        memcpy(q81 + b * 36 + 4, q80 + b * 34 + 2, 32);
    }
    float *got = malloc((size_t)n * 4);
    vc_dequantize_row(VC_Q8_1, q81, got, n);
    first_float_mismatch("dequantize Q8_1 (as Q8_0)", got, want, n);

    /* Q8_K: two blocks, d = 0.0371 and -3e-3, qs covering -128..127 */
    uint8_t q8k[2 * 292];
    float dk[2] = {0.0371f, -3e-3f};
    for (int b = 0; b < 2; b++) {
        memcpy(q8k + b * 292, &dk[b], 4);
        for (int j = 0; j < 256; j++) q8k[b * 292 + 4 + j] = (uint8_t)(j * 37 + b);
        memset(q8k + b * 292 + 260, 0, 32);
    }
    float yk[512];
    vc_dequantize_row(VC_Q8_K, q8k, yk, 512);
    for (int b = 0; b < 2; b++)
        for (int j = 0; j < 256; j++) {
            float expect = dk[b] * (float)(int8_t)(uint8_t)(j * 37 + b);
            assert_memory_equal(&yk[b * 256 + j], &expect, 4);
        }
    free(q80);
    free(q81);
    free(want);
    free(got);
    json_decref(index);
}

/* ----------------------------------------------------------- fused dot */

/* |vc_vec_dot_f32 - sum_i w_i x_i (in double)| <= n * FLT_EPSILON * sum_i |w_i x_i|,
 * where w is gguf-py's dequantization of the row. vc_vec_dot_f32 forms each
 * w_i exactly as dequantize does (bit-exact, tested above), rounds each
 * product once and adds n terms in float: the classic bound for that is
 * (n-1) * (FLT_EPSILON/2) * sum|w_i x_i| (+ the product roundings), which
 * the stated bound covers. */
static void check_dot(const char *name, vc_dtype t, const void *row, const float *w, const float *x, int64_t n) {
    double ref = 0.0, mag = 0.0;
    for (int64_t i = 0; i < n; i++) {
        ref += (double)w[i] * (double)x[i];
        mag += fabs((double)w[i] * (double)x[i]);
    }
    float got = vc_vec_dot_f32(t, row, x, n);
    double bound = (double)n * FLT_EPSILON * mag;
    if (!(fabs((double)got - ref) <= bound))
        fail_msg("vec_dot %s (n=%lld): got %.9g, reference %.9g, |diff| %.3g > bound %.3g", name,
                 (long long)n, got, ref, fabs((double)got - ref), bound);
}

static void test_vec_dot_matches_dequantized_dot(void **state) {
    (void)state;
    json_t *index = load_index();
    int64_t nx;
    float *x = load_floats(index, "normal", &nx);
    json_t *formats = json_object_get(index, "formats");
    const char *name;
    json_t *f;
    json_object_foreach(formats, name, f) {
        vc_dtype t = (vc_dtype)jint(f, "type");
        json_t *dq = json_object_get(f, "dequant");
        int64_t nb = jint(dq, "n_blocks"), n = nb * vc_dtype_block_elems(t);
        assert_true(n <= nx);
        uint8_t *blocks = load_bin(jstr(dq, "blocks"), vc_row_bytes(t, n));
        float *w = load_bin(jstr(dq, "values"), (size_t)n * 4);
        /* the F16/BF16 fixtures hold random bit patterns: zero the inf/NaN
         * elements (in the row and in w) so the reference is a number */
        if (vc_dtype_block_elems(t) == 1)
            for (int64_t i = 0; i < n; i++)
                if (!isfinite(w[i])) {
                    blocks[2 * i] = blocks[2 * i + 1] = 0;
                    w[i] = 0.0f;
                }
        check_dot(name, t, blocks, w, x, n);
        /* one block, or a short row not a multiple of 8 for 16-bit types */
        check_dot(name, t, blocks, w, x, vc_dtype_block_elems(t) == 1 ? 37 : vc_dtype_block_elems(t));
        free(blocks);
        free(w);
    }
    /* F32 */
    check_dot("F32", VC_F32, x, x, x + 1, 1000);

    /* Q8_1: gguf-py's Q8_0 blocks with a sum field; w = gguf-py's Q8_0 values */
    json_t *dq = json_object_get(json_object_get(formats, "Q8_0"), "dequant");
    int64_t nb = jint(dq, "n_blocks");
    uint8_t *q80 = load_bin(jstr(dq, "blocks"), (size_t)nb * 34);
    float *w80 = load_bin(jstr(dq, "values"), (size_t)nb * 32 * 4);
    uint8_t *q81 = calloc((size_t)nb, 36);
    for (int64_t b = 0; b < nb; b++) {
        memcpy(q81 + b * 36, q80 + b * 34, 2);
        memcpy(q81 + b * 36 + 4, q80 + b * 34 + 2, 32);
    }
    check_dot("Q8_1", VC_Q8_1, q81, w80, x, nb * 32);
    /* Q8_K: f32 d, w = d*q formed here */
    uint8_t q8k[4 * 292];
    float w8k[4 * 256];
    for (int b = 0; b < 4; b++) {
        float d = 0.01f * (float)(b + 1) * (b % 2 ? -1.0f : 1.0f);
        memcpy(q8k + b * 292, &d, 4);
        for (int j = 0; j < 256; j++) {
            int8_t q = (int8_t)(uint8_t)(j * 73 + 11 * b);
            q8k[b * 292 + 4 + j] = (uint8_t)q;
            w8k[b * 256 + j] = d * (float)q;
        }
        memset(q8k + b * 292 + 260, 0, 32);
    }
    check_dot("Q8_K", VC_Q8_K, q8k, w8k, x, 1024);
    free(q80);
    free(w80);
    free(q81);
    free(x);
    json_decref(index);
}

/* -------------------------------------------------------- quantize */

static void test_quantize_matches_gguf(void **state) {
    (void)state;
    json_t *index = load_index();
    int64_t n;
    float *x = load_floats(index, "input", &n);
    json_t *formats = json_object_get(index, "formats");
    const char *name;
    json_t *f;
    int checked = 0;
    json_object_foreach(formats, name, f) {
        json_t *q = json_object_get(f, "quant");
        if (!q) continue;
        vc_dtype t = (vc_dtype)jint(f, "type");
        size_t bytes = vc_row_bytes(t, n);
        uint8_t *want = load_bin(jstr(q, "file"), bytes);
        uint8_t *got = malloc(bytes);
        assert_int_equal(vc_quantize_row(t, x, got, n), 0);
        for (size_t i = 0; i < bytes; i++)
            if (got[i] != want[i])
                fail_msg("quantize %s: byte %zu (block %zu, offset %zu): got 0x%02x, gguf-py 0x%02x", name, i,
                         i / vc_dtype_block_bytes(t), i % vc_dtype_block_bytes(t), got[i], want[i]);
        free(want);
        free(got);
        checked++;
    }
    assert_int_equal(checked, 7); /* F16 BF16 Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 */
    free(x);
    json_decref(index);
}

/* Q8_1 uses Q8_0's rule: same d and qs; s = d * sum(qs) rounded to f16. */
static void test_quantize_q8_1_is_q8_0_plus_sum(void **state) {
    (void)state;
    json_t *index = load_index();
    int64_t n;
    float *x = load_floats(index, "input", &n);
    json_t *q = json_object_get(json_object_get(json_object_get(index, "formats"), "Q8_0"), "quant");
    uint8_t *q80 = load_bin(jstr(q, "file"), vc_row_bytes(VC_Q8_0, n));
    uint8_t *q81 = malloc(vc_row_bytes(VC_Q8_1, n));
    assert_int_equal(vc_quantize_row(VC_Q8_1, x, q81, n), 0);
    for (int64_t b = 0; b < n / 32; b++) {
        const uint8_t *a = q80 + b * 34, *c = q81 + b * 36;
        assert_memory_equal(a, c, 2);
        assert_memory_equal(a + 2, c + 4, 32);
        int sum = 0;
        for (int j = 0; j < 32; j++) sum += (int8_t)c[4 + j];
        float d = vc_f16_to_f32((uint16_t)(a[0] | a[1] << 8));
        float s = vc_f16_to_f32((uint16_t)(c[2] | c[3] << 8));
        /* s = f16(d' * sum) where d' is d before its own f16 rounding:
         * |d' - d| <= |d| 2^-11 + 2^-25 (half an f16 ulp, subnormals included),
         * and the rounding of s adds |s| 2^-11 + 2^-25. */
        double ds = fabs((double)d) * 0x1p-11 + 0x1p-25;
        double bound = fabs((double)sum) * ds + fabs((double)d * sum) * 0x1p-10 + 0x1p-24;
        if (!(fabs((double)s - (double)d * sum) <= bound))
            fail_msg("Q8_1 block %lld: s %.9g, d*sum %.9g", (long long)b, s, (double)d * sum);
    }
    free(x);
    free(q80);
    free(q81);
    json_decref(index);
}

/* Q8_K (no gguf-py quantizer): per 256-block d = max|x|/127, so every
 * element is within half a step of its value (rounding to nearest, the
 * theoretical bound), and bsums[g] is the sum of q over group g of 16. */
static void test_quantize_q8_k(void **state) {
    (void)state;
    json_t *index = load_index();
    int64_t n;
    float *x = load_floats(index, "input", &n);
    uint8_t *q = malloc(vc_row_bytes(VC_Q8_K, n));
    float *y = malloc((size_t)n * 4);
    assert_int_equal(vc_quantize_row(VC_Q8_K, x, q, n), 0);
    vc_dequantize_row(VC_Q8_K, q, y, n);
    for (int64_t b = 0; b < n / 256; b++) {
        const uint8_t *blk = q + b * 292;
        float d, amax = 0.0f;
        memcpy(&d, blk, 4);
        for (int j = 0; j < 256; j++) amax = fmaxf(amax, fabsf(x[b * 256 + j]));
        assert_true(fabsf(d - amax / 127.0f) <= amax / 127.0f * 1e-6f);
        for (int g = 0; g < 16; g++) {
            int sum = 0;
            for (int j = 0; j < 16; j++) sum += (int8_t)blk[4 + g * 16 + j];
            int16_t bs = (int16_t)(uint16_t)(blk[260 + 2 * g] | blk[261 + 2 * g] << 8);
            assert_int_equal(bs, sum);
        }
        for (int j = 0; j < 256; j++) {
            double err = fabs((double)y[b * 256 + j] - x[b * 256 + j]);
            if (!(err <= d * 0.5 * (1 + 1e-6) + 1e-30))
                fail_msg("Q8_K block %lld elem %d: x %.9g -> %.9g, error %.3g > d/2 = %.3g", (long long)b, j,
                         x[b * 256 + j], y[b * 256 + j], err, d * 0.5);
        }
    }
    free(x);
    free(q);
    free(y);
    json_decref(index);
}

/* ------------------------------------------------ quantize -> dequantize */

static double rmse_round_trip(vc_dtype t, const float *x, int64_t n) {
    uint8_t *q = malloc(vc_row_bytes(t, n));
    float *y = malloc((size_t)n * 4);
    assert_int_equal(vc_quantize_row(t, x, q, n), 0);
    vc_dequantize_row(t, q, y, n);
    double se = 0.0;
    for (int64_t i = 0; i < n; i++) se += ((double)y[i] - x[i]) * ((double)y[i] - x[i]);
    free(q);
    free(y);
    return sqrt(se / (double)n);
}

/* For the types gguf-py quantizes: our RMSE on standard normal data is no
 * worse than gguf-py's (it is equal, the blocks being bit-identical). */
static void test_rmse_vs_gguf(void **state) {
    (void)state;
    json_t *index = load_index();
    int64_t n;
    float *x = load_floats(index, "normal", &n);
    json_t *formats = json_object_get(index, "formats");
    const char *name;
    json_t *f;
    json_object_foreach(formats, name, f) {
        json_t *q = json_object_get(f, "quant");
        if (!q) continue;
        vc_dtype t = (vc_dtype)jint(f, "type");
        double gguf = json_real_value(json_object_get(q, "normal_rmse"));
        double ours = rmse_round_trip(t, x, n);
        print_message("rmse %-5s ours %.6g gguf-py %.6g\n", name, ours, gguf);
        if (!(ours <= gguf)) fail_msg("%s: rmse %.6g worse than gguf-py's %.6g", name, ours, gguf);
    }
    /* Q8_1 quantizes like Q8_0 */
    double q80 = json_real_value(json_object_get(
        json_object_get(json_object_get(json_object_get(index, "formats"), "Q8_0"), "quant"), "normal_rmse"));
    assert_true(rmse_round_trip(VC_Q8_1, x, n) <= q80);
    free(x);
    json_decref(index);
}

/* K-quants (no gguf-py quantizer): the RMSE on standard normal data must
 * beat the error of the plain min-max rounding the scales are searched
 * around: a uniform quantizer of step D has RMSE D/sqrt(12), and for group g
 * D_g = (max_g - min(min_g, 0)) / nmax for the affine types (q in 0..nmax,
 * offsets <= 0), D_g = max|x_g| / nmax for the symmetric ones
 * (q in -nmax..nmax-1). When the fixtures carry the RMSE of llama.cpp's
 * reference quantizer on the same data, ours must be no worse. */
typedef struct {
    vc_dtype t;
    const char *name;
    int group, nmax, affine;
} k_case;

static void test_rmse_k_quants(void **state) {
    (void)state;
    static const k_case cases[] = {
        {VC_Q2_K, "Q2_K", 16, 3, 1},  {VC_Q3_K, "Q3_K", 16, 4, 0},  {VC_Q4_K, "Q4_K", 32, 15, 1},
        {VC_Q5_K, "Q5_K", 32, 31, 1}, {VC_Q6_K, "Q6_K", 16, 32, 0},
    };
    json_t *index = load_index();
    int64_t n;
    float *x = load_floats(index, "normal", &n);
    json_t *llama = json_object_get(index, "llamacpp_normal_rmse");
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const k_case *k = &cases[c];
        double step2 = 0.0;
        for (int64_t g = 0; g < n / k->group; g++) {
            const float *xg = x + g * k->group;
            float lo = 0.0f, hi = xg[0], amax = 0.0f;
            for (int i = 0; i < k->group; i++) {
                lo = fminf(lo, xg[i]);
                hi = fmaxf(hi, xg[i]);
                amax = fmaxf(amax, fabsf(xg[i]));
            }
            double step = k->affine ? (hi - lo) / (double)k->nmax : amax / (double)k->nmax;
            step2 += step * step;
        }
        double bound = sqrt(step2 / (double)(n / k->group) / 12.0);
        double ours = rmse_round_trip(k->t, x, n);
        json_t *ref = json_object_get(llama, k->name);
        if (ref)
            print_message("rmse %-5s ours %.6g  min-max bound %.6g  llama.cpp %.6g\n", k->name, ours, bound,
                          json_real_value(ref));
        else
            print_message("rmse %-5s ours %.6g  min-max bound %.6g\n", k->name, ours, bound);
        if (!(ours <= bound)) fail_msg("%s: rmse %.6g above the min-max rounding bound %.6g", k->name, ours, bound);
        if (ref && !(ours <= json_real_value(ref)))
            fail_msg("%s: rmse %.6g worse than llama.cpp's %.6g", k->name, ours, json_real_value(ref));
    }
    free(x);
    json_decref(index);
}

/* K-quants on the edge-case input, one super-block (256 values) at a time:
 * every value finite, an all-zero super-block exact, and each super-block's
 * RMSE within the worst case of plain min-max rounding, half a step D_g/2
 * (D_g as in test_rmse_k_quants), plus the f16 resolution of the scales
 * (2^-24 absolute: tiny blocks have subnormal f16 scales). The D/sqrt(12)
 * of test_rmse_k_quants is an expectation for continuous data, not a bound
 * for a block of small integers, which the input has. */
static void test_k_quants_edge_cases(void **state) {
    (void)state;
    static const k_case cases[] = {
        {VC_Q2_K, "Q2_K", 16, 3, 1},  {VC_Q3_K, "Q3_K", 16, 4, 0},  {VC_Q4_K, "Q4_K", 32, 15, 1},
        {VC_Q5_K, "Q5_K", 32, 31, 1}, {VC_Q6_K, "Q6_K", 16, 32, 0},
    };
    json_t *index = load_index();
    int64_t n;
    float *x = load_floats(index, "input", &n);
    float *y = malloc((size_t)n * 4);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const k_case *k = &cases[c];
        uint8_t *q = malloc(vc_row_bytes(k->t, n));
        assert_int_equal(vc_quantize_row(k->t, x, q, n), 0);
        vc_dequantize_row(k->t, q, y, n);
        for (int64_t sb = 0; sb < n / 256; sb++) {
            const float *xs = x + sb * 256, *ys = y + sb * 256;
            double se = 0.0, step2 = 0.0;
            int zero = 1;
            for (int i = 0; i < 256; i++) {
                if (!isfinite(ys[i])) fail_msg("%s super-block %lld elem %d: %g", k->name, (long long)sb, i, ys[i]);
                se += ((double)ys[i] - xs[i]) * ((double)ys[i] - xs[i]);
                zero &= xs[i] == 0.0f;
            }
            if (zero && se != 0.0) fail_msg("%s: all-zero super-block %lld not exact", k->name, (long long)sb);
            for (int g = 0; g < 256 / k->group; g++) {
                const float *xg = xs + g * k->group;
                float lo = 0.0f, hi = xg[0], amax = 0.0f;
                for (int i = 0; i < k->group; i++) {
                    lo = fminf(lo, xg[i]);
                    hi = fmaxf(hi, xg[i]);
                    amax = fmaxf(amax, fabsf(xg[i]));
                }
                double step = k->affine ? (hi - lo) / (double)k->nmax : amax / (double)k->nmax;
                step2 += step * step;
            }
            double ours = sqrt(se / 256), bound = sqrt(step2 / (256 / k->group)) / 2.0 + 0x1p-24;
            if (!(ours <= bound))
                fail_msg("%s super-block %lld: rmse %.6g > half-step bound %.6g", k->name, (long long)sb, ours, bound);
        }
        free(q);
    }
    free(x);
    free(y);
    json_decref(index);
}

/* Bad input must not crash or spill over: rows with NaN, inf and 3e38 in
 * their first super-block quantize (return 0) for every type, and the
 * blocks after it are byte-identical to quantizing the clean part alone. */
static void test_quantize_nonfinite(void **state) {
    (void)state;
    static const vc_dtype types[] = {VC_F16, VC_BF16, VC_Q4_0, VC_Q4_1, VC_Q5_0, VC_Q5_1, VC_Q8_0, VC_Q8_1,
                                     VC_Q2_K, VC_Q3_K, VC_Q4_K, VC_Q5_K, VC_Q6_K, VC_Q8_K};
    json_t *index = load_index();
    int64_t nx;
    float *x = load_floats(index, "normal", &nx);
    float row[1024];
    memcpy(row, x, sizeof row);
    row[3] = NAN;
    row[40] = INFINITY;
    row[77] = -INFINITY;
    row[100] = 3e38f;
    row[200] = -3e38f;
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
        vc_dtype t = types[k];
        size_t rb = vc_row_bytes(t, 1024), head = vc_row_bytes(t, 256);
        uint8_t *q = malloc(rb), *clean = malloc(rb - head);
        assert_int_equal(vc_quantize_row(t, row, q, 1024), 0);
        assert_int_equal(vc_quantize_row(t, row + 256, clean, 768), 0);
        if (memcmp(q + head, clean, rb - head) != 0) fail_msg("%s: bad values in block 0 changed later blocks",
                                                              vc_dtype_name(t));
        float y[1024];
        vc_dequantize_row(t, q, y, 1024); /* must not crash either */
        free(q);
        free(clean);
    }
    free(x);
    json_decref(index);
}

static void test_unquantizable_type(void **state) {
    (void)state;
    float x[32] = {0};
    uint8_t out[64];
    assert_int_equal(vc_quantize_row((vc_dtype)4, x, out, 32), -1); /* Q4_2: removed from ggml */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dtype_from_name),
        cmocka_unit_test(test_f16_from_f32_matches_numpy),
        cmocka_unit_test(test_bf16_from_f32_matches_gguf),
        cmocka_unit_test(test_f16_to_f32_matches_numpy),
        cmocka_unit_test(test_f16_bf16_round_trip_all),
        cmocka_unit_test(test_dequantize_matches_gguf),
        cmocka_unit_test(test_dequantize_q8_1_q8_k),
        cmocka_unit_test(test_vec_dot_matches_dequantized_dot),
        cmocka_unit_test(test_quantize_matches_gguf),
        cmocka_unit_test(test_quantize_q8_1_is_q8_0_plus_sum),
        cmocka_unit_test(test_quantize_q8_k),
        cmocka_unit_test(test_rmse_vs_gguf),
        cmocka_unit_test(test_rmse_k_quants),
        cmocka_unit_test(test_k_quants_edge_cases),
        cmocka_unit_test(test_quantize_nonfinite),
        cmocka_unit_test(test_unquantizable_type),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
