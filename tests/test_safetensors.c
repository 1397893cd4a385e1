/* safetensors reader: files written by the safetensors package
 * (scripts/gen_format_fixtures.py), and bad headers written here. */
#include "common/testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/safetensors.h"

#define FX "tests/fixtures/formats/"

static vc_safetensors *open_ok(const char *path) {
    vc_safetensors *st = NULL;
    vc_error err = {{0}};
    if (vc_safetensors_open(&st, path, &err)) fail_msg("open %s: %s", path, err.msg);
    return st;
}

static uint16_t u16_at(const void *p, int i) {
    uint16_t v;
    memcpy(&v, (const uint8_t *)p + 2 * i, 2);
    return v;
}

static void test_single_file(void **state) {
    (void)state;
    vc_safetensors *st = open_ok(FX "st_single.safetensors");
    assert_int_equal(vc_safetensors_n_tensors(st), 3);   /* __metadata__ is not a tensor */
    /* torch.arange(24).reshape(6, 4) f32 -> ne [4, 6] */
    const vc_tensor *t = vc_safetensors_tensor(st, "model.embed_tokens.weight");
    assert_non_null(t);
    assert_string_equal(t->name, "model.embed_tokens.weight");
    assert_int_equal(t->type, VC_F32);
    assert_int_equal(t->n_dims, 2);
    assert_int_equal(t->ne[0], 4);
    assert_int_equal(t->ne[1], 6);
    assert_int_equal(t->ne[2], 1);
    assert_int_equal(t->nbytes, 96);
    assert_int_equal((uintptr_t)t->data % 4, 0);
    for (int i = 0; i < 24; i++) assert_true(((const float *)t->data)[i] == (float)i);
    /* [1, 2, 3, 4] f16 */
    t = vc_safetensors_tensor(st, "model.norm.weight");
    assert_int_equal(t->type, VC_F16);
    assert_int_equal(t->n_dims, 1);
    assert_int_equal(t->ne[0], 4);
    assert_int_equal(u16_at(t->data, 0), 0x3C00);
    assert_int_equal(u16_at(t->data, 3), 0x4400);
    /* linspace(-1, 1, 24).reshape(2, 3, 4) bf16 -> ne [4, 3, 2] */
    t = vc_safetensors_tensor(st, "lm_head.weight");
    assert_int_equal(t->type, VC_BF16);
    assert_int_equal(t->n_dims, 3);
    assert_int_equal(t->ne[0], 4);
    assert_int_equal(t->ne[1], 3);
    assert_int_equal(t->ne[2], 2);
    assert_int_equal(vc_tensor_nelems(t), 24);
    assert_int_equal(u16_at(t->data, 0), 0xBF80);
    assert_int_equal(u16_at(t->data, 23), 0x3F80);
    assert_null(vc_safetensors_tensor(st, "__metadata__"));
    assert_null(vc_safetensors_tensor(st, "model.norm"));
    assert_null(vc_safetensors_tensor_at(st, 3));
    assert_non_null(vc_safetensors_tensor_at(st, 2));
    vc_safetensors_free(st);
}

static void test_sharded_folder(void **state) {
    (void)state;
    vc_safetensors *st = open_ok(FX "st_sharded");
    assert_int_equal(vc_safetensors_n_tensors(st), 3);
    const vc_tensor *a = vc_safetensors_tensor(st, "a.weight");
    const vc_tensor *b = vc_safetensors_tensor(st, "b.weight");
    const vc_tensor *c = vc_safetensors_tensor(st, "c.weight");
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    assert_int_equal(a->ne[0], 3);
    assert_int_equal(a->ne[1], 2);
    assert_true(((const float *)a->data)[5] == 5.0f);
    assert_int_equal(b->type, VC_F16);
    assert_int_equal(b->ne[0], 5);
    assert_int_equal(c->type, VC_BF16);
    assert_int_equal(u16_at(c->data, 3), 0x3F00);   /* 0.5 in bf16 */
    vc_safetensors_free(st);
}

/* ---- bad files ------------------------------------------------------------ */

static char tmpdir[64];

static int setup_tmp(void **state) {
    (void)state;
    strcpy(tmpdir, "/tmp/vllmc_test_st_XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_tmp(void **state) {
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void write_file(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    fclose(f);
}

/* A safetensors file: u64 len | header | data_len bytes of data. claimed < 0:
 * the true length, the header padded with spaces to a multiple of 8 as the
 * safetensors writer does; else that length field over the unpadded header. */
static void write_st(const char *path, const char *header, int64_t claimed, size_t data_len) {
    size_t hl = strlen(header);
    size_t padded = claimed < 0 ? (hl + 7) / 8 * 8 : hl;
    uint64_t len_field = claimed < 0 ? padded : (uint64_t)claimed;
    size_t n = 8 + padded + data_len;
    uint8_t *b = calloc(1, n);
    memcpy(b, &len_field, 8);
    memset(b + 8, ' ', padded);
    memcpy(b + 8, header, hl);
    write_file(path, b, n);
    free(b);
}

static void expect_bad_at(int line, const char *path, const char *const *want) {
    vc_safetensors *st = NULL;
    vc_error err = {{0}};
    if (vc_safetensors_open(&st, path, &err) == 0) {
        vc_safetensors_free(st);
        fail_msg("line %d: bad %s was accepted", line, path);
    }
    assert_null(st);
    if (getenv("VLLMC_TEST_VERBOSE")) printf("  rejected: %s\n", err.msg);
    for (; want && *want; want++)
        if (!strstr(err.msg, *want)) fail_msg("line %d: message lacks '%s': %s", line, *want, err.msg);
}
#define expect_bad(path, want) expect_bad_at(__LINE__, path, want)
#define WANT(...) ((const char *const[]){__VA_ARGS__, NULL})

/* one-file cases: header text, the length field, data bytes, expected words */
static void bad_header(int line, const char *header, int64_t claimed, size_t data_len, const char *const *want) {
    char path[128];
    snprintf(path, sizeof path, "%s/bad.safetensors", tmpdir);
    write_st(path, header, claimed, data_len);
    const char *all[16] = {path};
    int n = 1;
    for (; want && *want && n < 15; want++) all[n++] = *want;
    all[n] = NULL;
    expect_bad_at(line, path, all);
}
#define BAD(header, claimed, data_len, ...) bad_header(__LINE__, header, claimed, data_len, WANT(__VA_ARGS__))

#define T1 "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}}"

static void test_bad_headers(void **state) {
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/ok.safetensors", tmpdir);
    /* the baseline is valid, with space padding after the JSON */
    write_st(path, T1 "      ", -1, 24);
    vc_safetensors *st = open_ok(path);
    assert_int_equal(vc_safetensors_tensor(st, "w")->ne[0], 3);
    vc_safetensors_free(st);

    snprintf(path, sizeof path, "%s/short.safetensors", tmpdir);
    write_file(path, "abc", 3);
    expect_bad(path, WANT(path, "file is 3 bytes", "expected at least 8"));
    snprintf(path, sizeof path, "%s/missing.safetensors", tmpdir);
    expect_bad(path, WANT(path, "cannot open"));

    BAD(T1, 1000, 24, "header length 1000 runs past the end of the file");
    BAD(T1, (int64_t)1 << 62, 24, "header length 4611686018427387904");
    BAD("not json at all", -1, 0, "header JSON", "expected a JSON object");
    BAD("[1,2,3]", -1, 0, "not an object");
    BAD(T1, (int64_t)strlen(T1) - 3, 27, "header JSON");           /* header cut inside the JSON */
    BAD("{\"w\": 5}", -1, 0, "tensor 'w'", "expected an object");
    BAD("{\"w\":{\"shape\":[2],\"data_offsets\":[0,8]}}", -1, 8, "tensor 'w'", "'dtype' missing");
    BAD("{\"w\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}", -1, 8, "tensor 'w'", "dtype 'I64'",
        "expected F32, F16 or BF16");
    BAD("{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", -1, 8, "tensor 'w'", "'shape' missing");
    BAD("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,-1],\"data_offsets\":[0,8]}}", -1, 8, "tensor 'w'",
        "'shape'[1] is not a positive integer");
    BAD("{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,2],\"data_offsets\":[0,8]}}", -1, 8, "tensor 'w'",
        "5 dims", "at most 4");
    BAD("{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}", -1, 8,
        "tensor 'w'", "overflows");
    BAD("{\"w\":{\"dtype\":\"F32\",\"shape\":[2]}}", -1, 8, "tensor 'w'", "'data_offsets' missing");
    BAD("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", -1, 8, "tensor 'w'",
        "'data_offsets' malformed", "[begin, end]");
    BAD("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", -1, 8, "tensor 'w'",
        "[8, 0]", "begin <= end");
    BAD("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]}}", -1, 8, "tensor 'w'", "begin <= end");
    BAD("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", -1, 4, "tensor 'w'",
        "end 8 is past the data area of 4 bytes");
    BAD("{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", -1, 8, "tensor 'w'",
        "span 8 bytes", "needs 12");
    BAD("{\"w\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[0,8]}}", -1, 8, "tensor 'w'", "needs 6");
    BAD("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[2,6]}}", -1, 8, "tensor 'w'", "not aligned");
    BAD("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
        "\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", -1, 8, "header JSON", "duplicate");
    /* a real writer's file with an I64 tensor */
    expect_bad(FX "st_i64.safetensors", WANT(FX "st_i64.safetensors", "tensor 'ids'", "dtype 'I64'"));
}

static void test_bad_sharded(void **state) {
    (void)state;
    char dir[128], path[256];
    snprintf(dir, sizeof dir, "%s/shards", tmpdir);
    assert_int_equal(mkdir(dir, 0755), 0);
    expect_bad(dir, WANT(dir, "neither model.safetensors.index.json nor model.safetensors"));
    /* a folder with model.safetensors only */
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    write_st(path, T1, -1, 24);
    vc_safetensors *st = open_ok(dir);
    assert_int_equal(vc_safetensors_n_tensors(st), 1);
    vc_safetensors_free(st);
    /* shard files */
    snprintf(path, sizeof path, "%s/s1.safetensors", dir);
    write_st(path, T1, -1, 24);
    snprintf(path, sizeof path, "%s/s2.safetensors", dir);
    write_st(path, "{\"v\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]}}", -1, 4);
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    const struct { const char *index; const char *want[3]; } cases[] = {
        {"{not json", {"expected a JSON object with \"weight_map\""}},
        {"{\"metadata\":{}}", {"'weight_map' missing"}},
        {"{\"weight_map\":[]}", {"'weight_map' is not an object"}},
        {"{\"weight_map\":{}}", {"'weight_map' is empty"}},
        {"{\"weight_map\":{\"w\":3}}", {"tensor 'w'", "non-string"}},
        {"{\"weight_map\":{\"w\":\"../s1.safetensors\"}}", {"tensor 'w'", "same folder"}},
        {"{\"weight_map\":{\"w\":\"nope.safetensors\"}}", {"shard of tensor 'w'", "nope.safetensors", "cannot open"}},
        {"{\"weight_map\":{\"w\":\"s1.safetensors\",\"x\":\"s1.safetensors\"}}", {"tensor 'x' is not in"}},
        {"{\"weight_map\":{\"w\":\"s1.safetensors\",\"v\":\"s1.safetensors\",\"z\":\"s2.safetensors\"}}",
         {"tensor 'v' is in", "s2.safetensors", "not in"}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_file(path, cases[i].index, strlen(cases[i].index));
        const char *want[5] = {"model.safetensors.index.json", cases[i].want[0], cases[i].want[1], cases[i].want[2],
                               NULL};
        expect_bad_at((int)i, dir, want);
    }
    /* the same tensor in two shards */
    snprintf(path, sizeof path, "%s/s2.safetensors", dir);
    write_st(path, T1, -1, 24);
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    const char *both = "{\"weight_map\":{\"w\":\"s1.safetensors\",\"x\":\"s2.safetensors\"}}";
    write_file(path, both, strlen(both));
    expect_bad(dir, WANT("tensor 'w'", "also in", "expected each tensor in one shard"));
    /* and a valid index over both shard files */
    snprintf(path, sizeof path, "%s/s2.safetensors", dir);
    write_st(path, "{\"v\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]}}", -1, 4);
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    const char *ok = "{\"weight_map\":{\"w\":\"s1.safetensors\",\"v\":\"s2.safetensors\"}}";
    write_file(path, ok, strlen(ok));
    st = open_ok(dir);
    assert_int_equal(vc_safetensors_n_tensors(st), 2);
    assert_int_equal(vc_safetensors_tensor(st, "v")->type, VC_F16);
    vc_safetensors_free(st);
}


/* Random byte flips in a real file's length field and header: a clean open
 * or a clean error, never a crash (ASan/UBSan watch). */
static void test_random_corruption(void **state) {
    (void)state;
    size_t n;
    uint8_t *orig = (uint8_t *)tu_read_file(FX "st_single.safetensors", &n);
    assert_non_null(orig);
    uint64_t hlen;
    memcpy(&hlen, orig, 8);
    assert_true(8 + hlen < n);
    uint8_t *c = malloc(n);
    char path[128];
    snprintf(path, sizeof path, "%s/rand.safetensors", tmpdir);
    uint64_t rng = 0x2545F4914F6CDD1Dull;
    int opened = 0, rejected = 0;
    for (int iter = 0; iter < 600; iter++) {
        memcpy(c, orig, n);
        for (int k = 0; k < 1 + iter % 3; k++) {
            rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
            c[rng % (8 + hlen)] = (uint8_t)(rng >> 40);
        }
        write_file(path, c, n);
        vc_safetensors *st = NULL;
        vc_error err = {{0}};
        if (vc_safetensors_open(&st, path, &err) == 0) {
            for (int64_t i = 0; i < vc_safetensors_n_tensors(st); i++) {
                const vc_tensor *t = vc_safetensors_tensor_at(st, i);
                volatile uint8_t sink = ((const uint8_t *)t->data)[t->nbytes - 1];
                (void)sink;
            }
            vc_safetensors_free(st);
            opened++;
        } else {
            if (!strstr(err.msg, path)) fail_msg("message does not name the file: %s", err.msg);
            rejected++;
        }
    }
    assert_true(rejected > 0);
    if (getenv("VLLMC_TEST_VERBOSE")) printf("  random corruption: %d opened, %d rejected\n", opened, rejected);
    free(c);
    free(orig);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_file),
        cmocka_unit_test(test_sharded_folder),
        cmocka_unit_test(test_bad_headers),
        cmocka_unit_test(test_bad_sharded),
        cmocka_unit_test(test_random_corruption),
    };
    return cmocka_run_group_tests(tests, setup_tmp, teardown_tmp);
}
