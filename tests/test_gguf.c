/* GGUF reader: valid files written by gguf-py (scripts/gen_format_fixtures.py),
 * facts about the real model dumped by gguf-py's GGUFReader
 * (scripts/gguf_facts.py), and bad files made by corrupting valid ones. */
#include "common/testutil.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/gguf.h"

#define FX "tests/fixtures/formats/"

static json_t *load_json(const char *path) {
    json_error_t jerr;
    json_t *j = json_load_file(path, 0, &jerr);
    if (!j) fail_msg("%s: %s", path, jerr.text);
    return j;
}

static int str_eq(vc_str s, const char *want) {
    return s.len == strlen(want) && memcmp(s.ptr, want, s.len) == 0;
}

static vc_gguf *open_ok(const char *path) {
    vc_gguf *g = NULL;
    vc_error err = {{0}};
    if (vc_gguf_open(&g, path, &err)) fail_msg("open %s: %s", path, err.msg);
    return g;
}

/* Compares our tensors with what GGUFReader saw: names, types, shapes, sizes,
 * and the data pointer's bytes with the file's bytes at gguf-py's offset. */
static void check_tensors_against(const vc_gguf *g, const char *file, json_t *tensors, size_t alignment) {
    size_t flen;
    char *bytes = tu_read_file(file, &flen);
    assert_non_null(bytes);
    size_t i;
    json_t *jt;
    json_array_foreach(tensors, i, jt) {
        const char *name = json_string_value(json_object_get(jt, "name"));
        const vc_tensor *t = vc_gguf_tensor(g, name);
        assert_non_null(t);
        assert_string_equal(t->name, name);
        assert_int_equal(t->type, json_integer_value(json_object_get(jt, "type")));
        json_t *ne = json_object_get(jt, "ne");
        assert_int_equal(t->n_dims, json_array_size(ne));
        for (int d = 0; d < VC_MAX_DIMS; d++) {
            int64_t want = d < (int)json_array_size(ne) ? json_integer_value(json_array_get(ne, d)) : 1;
            assert_int_equal(t->ne[d], want);
        }
        assert_int_equal(t->nbytes, json_integer_value(json_object_get(jt, "n_bytes")));
        size_t off = (size_t)json_integer_value(json_object_get(jt, "data_offset"));
        assert_true(off + t->nbytes <= flen);
        assert_memory_equal(t->data, bytes + off, t->nbytes);
        assert_int_equal((uintptr_t)t->data % alignment, 0);
    }
    free(bytes);
}

static void test_all_types_values(void **state) {
    (void)state;
    vc_gguf *g = open_ok(FX "all_types.gguf");
    json_t *facts = load_json(FX "all_types.json");
    assert_int_equal(vc_gguf_version(g), 3);
    assert_int_equal(vc_gguf_n_kv(g), json_integer_value(json_object_get(facts, "n_kv")));
    assert_int_equal(vc_gguf_n_tensors(g), json_integer_value(json_object_get(facts, "n_tensors")));
    assert_string_equal(vc_gguf_path(g), FX "all_types.gguf");

    /* scalars: the values scripts/gen_format_fixtures.py wrote */
    const vc_gguf_kv *kv;
    assert_non_null(kv = vc_gguf_find(g, "t.u8"));
    assert_int_equal(kv->val.type, VC_GGUF_UINT8);
    assert_int_equal(kv->val.u, 200);
    assert_non_null(kv = vc_gguf_find(g, "t.i8"));
    assert_int_equal(kv->val.type, VC_GGUF_INT8);
    assert_int_equal(kv->val.i, -100);
    assert_non_null(kv = vc_gguf_find(g, "t.u16"));
    assert_int_equal(kv->val.u, 60000);
    assert_non_null(kv = vc_gguf_find(g, "t.i16"));
    assert_int_equal(kv->val.i, -30000);
    assert_non_null(kv = vc_gguf_find(g, "t.u32"));
    assert_int_equal(kv->val.u, 4000000000u);
    assert_non_null(kv = vc_gguf_find(g, "t.i32"));
    assert_int_equal(kv->val.i, -2000000000);
    assert_non_null(kv = vc_gguf_find(g, "t.f32"));
    assert_int_equal(kv->val.type, VC_GGUF_FLOAT32);
    assert_true(kv->val.f == 1.5);
    assert_non_null(kv = vc_gguf_find(g, "t.bool"));
    assert_int_equal(kv->val.type, VC_GGUF_BOOL);
    assert_int_equal(kv->val.u, 1);
    assert_non_null(kv = vc_gguf_find(g, "t.str"));
    assert_int_equal(kv->val.type, VC_GGUF_STRING);
    assert_true(str_eq(kv->val.s, "h\xc3\xa9llo w\xc3\xb6rld"));
    assert_non_null(kv = vc_gguf_find(g, "t.u64"));
    assert_int_equal(kv->val.type, VC_GGUF_UINT64);
    assert_true(kv->val.u == (1ull << 63) + 5);
    assert_non_null(kv = vc_gguf_find(g, "t.i64"));
    assert_true(kv->val.i == -(1ll << 62) - 7);
    assert_non_null(kv = vc_gguf_find(g, "t.f64"));
    assert_int_equal(kv->val.type, VC_GGUF_FLOAT64);
    assert_true(kv->val.f == 3.141592653589793);
    assert_null(vc_gguf_find(g, "t.absent"));
    assert_null(vc_gguf_find(g, "t.u"));      /* prefix of a key is not the key */

    /* string values point into the file mapping, not NUL-terminated copies */
    vc_str s;
    vc_error err;
    assert_int_equal(vc_gguf_get_str(g, "general.architecture", &s, &err), 0);
    assert_true(str_eq(s, "llama"));

    /* kv_at walks in file order */
    assert_true(str_eq(vc_gguf_kv_at(g, 0)->key, "general.architecture"));
    assert_true(str_eq(vc_gguf_kv_at(g, 1)->key, "t.u8"));
    assert_null(vc_gguf_kv_at(g, vc_gguf_n_kv(g)));
    assert_null(vc_gguf_kv_at(g, -1));
    json_decref(facts);
    vc_gguf_free(g);
}

static void test_all_types_arrays(void **state) {
    (void)state;
    vc_gguf *g = open_ok(FX "all_types.gguf");
    const vc_gguf_value *v;
#define ARR(key, et, count)                                   \
    v = &vc_gguf_find(g, key)->val;                           \
    assert_int_equal(v->type, VC_GGUF_ARRAY);                 \
    assert_int_equal(v->arr.elem_type, et);                   \
    assert_int_equal(v->arr.n, count);
    ARR("a.u8", VC_GGUF_UINT8, 3);
    assert_int_equal(vc_gguf_arr_int(v, 0), 1);
    assert_int_equal(vc_gguf_arr_int(v, 2), 255);
    ARR("a.i8", VC_GGUF_INT8, 3);
    assert_int_equal(vc_gguf_arr_int(v, 0), -1);
    assert_int_equal(vc_gguf_arr_int(v, 2), 127);
    ARR("a.u16", VC_GGUF_UINT16, 2);
    assert_int_equal(vc_gguf_arr_int(v, 0), 65535);
    assert_int_equal(vc_gguf_arr_int(v, 1), 7);
    ARR("a.i16", VC_GGUF_INT16, 2);
    assert_int_equal(vc_gguf_arr_int(v, 0), -32768);
    assert_int_equal(vc_gguf_arr_int(v, 1), 32767);
    ARR("a.u32", VC_GGUF_UINT32, 2);
    assert_int_equal(vc_gguf_arr_int(v, 1), 4294967295ll);
    ARR("a.i32", VC_GGUF_INT32, 3);
    assert_int_equal(vc_gguf_arr_int(v, 0), -5);
    assert_int_equal(vc_gguf_arr_int(v, 1), 6);
    assert_int_equal(vc_gguf_arr_int(v, 2), -7);
    ARR("a.f32", VC_GGUF_FLOAT32, 2);
    assert_true(vc_gguf_arr_float(v, 0) == 0.25);
    assert_true(vc_gguf_arr_float(v, 1) == -2.5);
    ARR("a.bool", VC_GGUF_BOOL, 3);
    assert_int_equal(vc_gguf_arr_int(v, 0), 1);
    assert_int_equal(vc_gguf_arr_int(v, 1), 0);
    assert_int_equal(vc_gguf_arr_int(v, 2), 1);
    ARR("a.str", VC_GGUF_STRING, 3);
    assert_non_null(v->arr.strs);
    assert_true(str_eq(v->arr.strs[0], "alpha"));
    assert_true(str_eq(v->arr.strs[1], ""));
    assert_true(str_eq(v->arr.strs[2], "\xce\xb3" "amma"));
    ARR("a.u64", VC_GGUF_UINT64, 1);
    assert_true((uint64_t)vc_gguf_arr_int(v, 0) == UINT64_MAX);
    ARR("a.i64", VC_GGUF_INT64, 2);
    assert_true(vc_gguf_arr_int(v, 0) == INT64_MIN);
    assert_true(vc_gguf_arr_int(v, 1) == INT64_MAX);
    ARR("a.f64", VC_GGUF_FLOAT64, 2);
    assert_true(vc_gguf_arr_float(v, 0) == 1e300);
    assert_true(vc_gguf_arr_float(v, 1) == -0.5);
    /* out of range / wrong kind: 0 */
    assert_int_equal(vc_gguf_arr_int(v, 2), 0);
    ARR("a.f32", VC_GGUF_FLOAT32, 2);
    assert_int_equal(vc_gguf_arr_int(v, 0), 0);

    /* [[1,2,3],[4,5]] */
    ARR("a.nested", VC_GGUF_ARRAY, 2);
    assert_non_null(v->arr.items);
    const vc_gguf_value *a0 = &v->arr.items[0], *a1 = &v->arr.items[1];
    assert_int_equal(a0->type, VC_GGUF_ARRAY);
    assert_int_equal(a0->arr.elem_type, VC_GGUF_INT32);
    assert_int_equal(a0->arr.n, 3);
    assert_int_equal(vc_gguf_arr_int(a0, 0), 1);
    assert_int_equal(vc_gguf_arr_int(a0, 2), 3);
    assert_int_equal(a1->arr.n, 2);
    assert_int_equal(vc_gguf_arr_int(a1, 0), 4);
    assert_int_equal(vc_gguf_arr_int(a1, 1), 5);
    /* [["x","yz"],["w"]] */
    ARR("a.nested_str", VC_GGUF_ARRAY, 2);
    assert_int_equal(v->arr.items[0].arr.elem_type, VC_GGUF_STRING);
    assert_int_equal(v->arr.items[0].arr.n, 2);
    assert_true(str_eq(v->arr.items[0].arr.strs[0], "x"));
    assert_true(str_eq(v->arr.items[0].arr.strs[1], "yz"));
    assert_int_equal(v->arr.items[1].arr.n, 1);
    assert_true(str_eq(v->arr.items[1].arr.strs[0], "w"));
    /* [[[1],[2,3]],[[4,5,6]]] */
    ARR("a.deep", VC_GGUF_ARRAY, 2);
    const vc_gguf_value *d0 = &v->arr.items[0], *d1 = &v->arr.items[1];
    assert_int_equal(d0->arr.elem_type, VC_GGUF_ARRAY);
    assert_int_equal(d0->arr.n, 2);
    assert_int_equal(d0->arr.items[0].arr.n, 1);
    assert_int_equal(vc_gguf_arr_int(&d0->arr.items[0], 0), 1);
    assert_int_equal(d0->arr.items[1].arr.n, 2);
    assert_int_equal(vc_gguf_arr_int(&d0->arr.items[1], 1), 3);
    assert_int_equal(d1->arr.n, 1);
    assert_int_equal(d1->arr.items[0].arr.n, 3);
    assert_int_equal(vc_gguf_arr_int(&d1->arr.items[0], 2), 6);
#undef ARR
    vc_gguf_free(g);
}

static void test_all_types_tensors(void **state) {
    (void)state;
    vc_gguf *g = open_ok(FX "all_types.gguf");
    json_t *facts = load_json(FX "all_types.json");
    check_tensors_against(g, FX "all_types.gguf", json_object_get(facts, "tensors"), 32);
    /* file order */
    assert_string_equal(vc_gguf_tensor_at(g, 0)->name, "f32.weight");
    assert_null(vc_gguf_tensor_at(g, vc_gguf_n_tensors(g)));
    assert_null(vc_gguf_tensor(g, "nope.weight"));
    /* values: np.arange(12).reshape(3, 4) -> ne = [4, 3], row-major */
    const vc_tensor *t = vc_gguf_tensor(g, "f32.weight");
    const float *f = t->data;
    for (int i = 0; i < 12; i++) assert_true(f[i] == (float)i);
    assert_int_equal(vc_tensor_nelems(t), 12);
    t = vc_gguf_tensor(g, "t3d.weight");
    assert_int_equal(t->n_dims, 3);
    assert_int_equal(t->ne[0], 4);
    assert_int_equal(t->ne[2], 2);
    json_decref(facts);
    vc_gguf_free(g);
}

static void test_v2_alignment64(void **state) {
    (void)state;
    vc_gguf *g = open_ok(FX "v2_align64.gguf");
    json_t *facts = load_json(FX "v2_align64.json");
    assert_int_equal(vc_gguf_version(g), 2);
    uint64_t a;
    vc_error err;
    assert_int_equal(vc_gguf_get_u64(g, "general.alignment", &a, &err), 0);
    assert_int_equal(a, 64);
    check_tensors_against(g, FX "v2_align64.gguf", json_object_get(facts, "tensors"), 64);
    const float *b = vc_gguf_tensor(g, "b.weight")->data;
    for (int i = 0; i < 7; i++) assert_true(b[i] == (float)i);
    json_decref(facts);
    vc_gguf_free(g);
}

static void test_typed_getters(void **state) {
    (void)state;
    vc_gguf *g = open_ok(FX "all_types.gguf");
    vc_error err;
    uint64_t u;
    int64_t i;
    double f;
    bool b;
    vc_str s;
    assert_int_equal(vc_gguf_get_u64(g, "t.u8", &u, &err), 0);
    assert_int_equal(u, 200);
    assert_int_equal(vc_gguf_get_u64(g, "t.u64", &u, &err), 0);
    assert_true(u == (1ull << 63) + 5);
    assert_int_equal(vc_gguf_get_i64(g, "t.u32", &i, &err), 0);
    assert_int_equal(i, 4000000000ll);
    assert_int_equal(vc_gguf_get_i64(g, "t.i16", &i, &err), 0);
    assert_int_equal(i, -30000);
    assert_int_equal(vc_gguf_get_f64(g, "t.f32", &f, &err), 0);
    assert_true(f == 1.5);
    assert_int_equal(vc_gguf_get_bool(g, "t.bool", &b, &err), 0);
    assert_true(b);
    assert_int_equal(vc_gguf_get_str(g, "t.str", &s, &err), 0);
    assert_int_equal(s.len, strlen("h\xc3\xa9llo w\xc3\xb6rld"));

    /* conversions that do not fit, wrong types, absent keys: errors naming file + key */
    assert_int_equal(vc_gguf_get_u64(g, "t.i8", &u, &err), -1);
    assert_non_null(strstr(err.msg, FX "all_types.gguf"));
    assert_non_null(strstr(err.msg, "'t.i8'"));
    assert_non_null(strstr(err.msg, "negative"));
    assert_int_equal(vc_gguf_get_i64(g, "t.u64", &i, &err), -1);
    assert_non_null(strstr(err.msg, "'t.u64'"));
    assert_int_equal(vc_gguf_get_f64(g, "t.u32", &f, &err), -1);
    assert_non_null(strstr(err.msg, "UINT32"));
    assert_non_null(strstr(err.msg, "expected FLOAT32 or FLOAT64"));
    assert_int_equal(vc_gguf_get_bool(g, "t.u8", &b, &err), -1);
    assert_non_null(strstr(err.msg, "expected BOOL"));
    assert_int_equal(vc_gguf_get_str(g, "a.str", &s, &err), -1);
    assert_non_null(strstr(err.msg, "ARRAY"));
    assert_int_equal(vc_gguf_get_u64(g, "no.such.key", &u, &err), -1);
    assert_non_null(strstr(err.msg, "'no.such.key' not found"));
    assert_int_equal(vc_gguf_get_i64(g, "t.str", &i, &err), -1);
    assert_non_null(strstr(err.msg, "STRING"));
    vc_gguf_free(g);
}

/* The real model against gguf-py's GGUFReader (scripts/gguf_facts.py). */
static void test_real_model(void **state) {
    (void)state;
    if (!tu_exists(TU_REAL_MODEL)) fail_msg("%s missing: run scripts/fetch-model.sh", TU_REAL_MODEL);
    vc_gguf *g = open_ok(TU_REAL_MODEL);
    json_t *facts = load_json(FX "smollm2_facts.json");
    assert_int_equal(vc_gguf_version(g), json_integer_value(json_object_get(facts, "version")));
    assert_int_equal(vc_gguf_n_kv(g), json_integer_value(json_object_get(facts, "n_kv")));
    assert_int_equal(vc_gguf_n_tensors(g), json_integer_value(json_object_get(facts, "n_tensors")));
    size_t i;
    json_t *jk;
    json_array_foreach(json_object_get(facts, "keys"), i, jk) {
        assert_true(str_eq(vc_gguf_kv_at(g, (int64_t)i)->key, json_string_value(jk)));
    }
    const char *key;
    json_t *js;
    json_object_foreach(json_object_get(facts, "scalars"), key, js) {
        const vc_gguf_kv *kv = vc_gguf_find(g, key);
        assert_non_null(kv);
        assert_int_equal(kv->val.type, json_integer_value(json_object_get(js, "type")));
        json_t *want = json_object_get(js, "value");
        if (json_is_string(want)) assert_true(str_eq(kv->val.s, json_string_value(want)));
        else if (json_is_real(want)) assert_true((float)kv->val.f == (float)json_real_value(want));
        else if (json_is_boolean(want)) assert_int_equal(kv->val.u, json_is_true(want));
        else assert_int_equal(kv->val.u, json_integer_value(want));
    }
    json_t *tok = json_object_get(facts, "tokens");
    const vc_gguf_value *tv = &vc_gguf_find(g, "tokenizer.ggml.tokens")->val;
    assert_int_equal(tv->arr.elem_type, VC_GGUF_STRING);
    assert_int_equal(tv->arr.n, json_integer_value(json_object_get(tok, "n")));
    json_array_foreach(json_object_get(tok, "first"), i, js) {
        assert_true(str_eq(tv->arr.strs[i], json_string_value(js)));
    }
    assert_true(str_eq(tv->arr.strs[tv->arr.n - 1], json_string_value(json_object_get(tok, "last"))));
    json_t *mg = json_object_get(facts, "merges");
    const vc_gguf_value *mv = &vc_gguf_find(g, "tokenizer.ggml.merges")->val;
    assert_int_equal(mv->arr.n, json_integer_value(json_object_get(mg, "n")));
    assert_true(str_eq(mv->arr.strs[0], json_string_value(json_object_get(mg, "first"))));
    json_t *tt = json_object_get(facts, "token_type");
    const vc_gguf_value *ttv = &vc_gguf_find(g, "tokenizer.ggml.token_type")->val;
    assert_int_equal(ttv->arr.elem_type, json_integer_value(json_object_get(tt, "elem_type")));
    json_array_foreach(json_object_get(tt, "first"), i, js) {
        assert_int_equal(vc_gguf_arr_int(ttv, i), json_integer_value(js));
    }
    check_tensors_against(g, TU_REAL_MODEL, json_object_get(facts, "tensors"),
                          (size_t)json_integer_value(json_object_get(facts, "alignment")));
    assert_int_equal(vc_gguf_tensor(g, "output.weight") != NULL,
                     json_is_true(json_object_get(facts, "has_output_weight")));
    json_decref(facts);
    vc_gguf_free(g);
}

/* ---- bad files ------------------------------------------------------------ */

typedef struct blob {
    uint8_t *p;
    size_t n;
} blob;

static blob read_blob(const char *path) {
    blob b;
    b.p = (uint8_t *)tu_read_file(path, &b.n);
    assert_non_null(b.p);
    return b;
}

/* Writes n bytes of p to a temp file, opens it, expects failure with every
 * one of the NULL-terminated substrings in the message. Returns nothing; the
 * message also must name the file. */
static void expect_bad_at(int line, const uint8_t *p, size_t n, const char *const *want) {
    char path[] = "/tmp/vllmc_test_gguf_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, p, n), (ssize_t)n);
    close(fd);
    vc_gguf *g = NULL;
    vc_error err = {{0}};
    int rc = vc_gguf_open(&g, path, &err);
    unlink(path);
    if (rc == 0) {
        vc_gguf_free(g);
        fail_msg("line %d: a bad file of %zu bytes was accepted", line, n);
    }
    assert_null(g);
    if (getenv("VLLMC_TEST_VERBOSE")) printf("  rejected: %s\n", err.msg);
    if (!strstr(err.msg, path)) fail_msg("line %d: message does not name the file: %s", line, err.msg);
    for (; want && *want; want++)
        if (!strstr(err.msg, *want)) fail_msg("line %d: message lacks '%s': %s", line, *want, err.msg);
}

#define expect_bad(p, n, want) expect_bad_at(__LINE__, p, n, want)
#define WANT(...) ((const char *const[]){__VA_ARGS__, NULL})

static void put_u32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put_u64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

/* offset of the first byte after the key named key's string in b (the value type) */
static size_t find_key(const blob *b, const char *key) {
    size_t kl = strlen(key);
    for (size_t i = 8; i + 8 + kl <= b->n; i++) {
        uint64_t len;
        memcpy(&len, b->p + i, 8);
        if (len == kl && memcmp(b->p + i + 8, key, kl) == 0) return i + 8 + kl;
    }
    fail_msg("key %s not in file", key);
    return 0;
}

/* The file cut short at every byte of its metadata and tensor infos, and at
 * points inside the data: always an error naming the offset, never a crash. */
static void test_truncated_everywhere(void **state) {
    (void)state;
    blob b = read_blob(FX "all_types.gguf");
    json_t *facts = load_json(FX "all_types.json");
    size_t data_start = (size_t)json_integer_value(
        json_object_get(json_array_get(json_object_get(facts, "tensors"), 0), "data_offset"));
    for (size_t n = 1; n < data_start; n++) expect_bad(b.p, n, WANT("offset"));
    for (size_t n = data_start; n < b.n; n += 37) expect_bad(b.p, n, WANT("offset", "past the end"));
    expect_bad(b.p, b.n - 1, WANT("tensor 't3d.weight'", "past the end"));
    json_decref(facts);
    free(b.p);
}

static void test_bad_header(void **state) {
    (void)state;
    blob b = read_blob(FX "all_types.gguf");
    uint8_t *c = malloc(b.n);
    expect_bad(b.p, 0, WANT("empty file"));
    memcpy(c, b.p, b.n);
    memcpy(c, "GGUG", 4);
    expect_bad(c, b.n, WANT("offset 0", "bad magic", "expected \"GGUF\""));
    memcpy(c, b.p, b.n);
    put_u32(c + 4, 1);
    expect_bad(c, b.n, WANT("offset 4", "version 1", "expected version 2 or 3"));
    put_u32(c + 4, 4);
    expect_bad(c, b.n, WANT("offset 4", "version 4", "expected 2 or 3"));
    put_u32(c + 4, 0x03000000u);
    expect_bad(c, b.n, WANT("big-endian"));
    memcpy(c, b.p, b.n);
    put_u64(c + 16, 1ull << 60);            /* n_kv absurd */
    expect_bad(c, b.n, WANT("offset 16", "n_kv = 1152921504606846976", "cannot fit"));
    memcpy(c, b.p, b.n);
    put_u64(c + 8, UINT64_MAX);             /* n_tensors absurd */
    expect_bad(c, b.n, WANT("offset 8", "n_tensors", "cannot fit"));
    memcpy(c, b.p, b.n);
    put_u64(c + 16, 29);                    /* one kv more than there is: runs into tensor infos */
    expect_bad(c, b.n, WANT("offset"));
    free(c);
    free(b.p);
}

static void test_bad_metadata(void **state) {
    (void)state;
    blob b = read_blob(FX "all_types.gguf");
    uint8_t *c = malloc(b.n);
    size_t at;
    /* unknown value type */
    memcpy(c, b.p, b.n);
    at = find_key(&b, "t.u16");
    put_u32(c + at, 13);
    expect_bad(c, b.n, WANT("key 't.u16'", "value type 13 unknown"));
    /* bool byte other than 0/1 */
    memcpy(c, b.p, b.n);
    at = find_key(&b, "t.bool");
    c[at + 4] = 2;
    expect_bad(c, b.n, WANT("key 't.bool'", "BOOL byte 2"));
    /* a string length past the end of the file */
    memcpy(c, b.p, b.n);
    at = find_key(&b, "t.str");
    put_u64(c + at + 4, 1ull << 40);
    char where[64];
    snprintf(where, sizeof where, "offset %zu", at + 4);
    expect_bad(c, b.n, WANT("key 't.str'", where, "string value length 1099511627776", "runs past the end"));
    /* an array count * element size past the end, and one that overflows */
    memcpy(c, b.p, b.n);
    at = find_key(&b, "a.u32");
    put_u64(c + at + 8, 1ull << 40);
    expect_bad(c, b.n, WANT("key 'a.u32'", "array of 1099511627776 UINT32", "only"));
    put_u64(c + at + 8, UINT64_MAX / 2);
    expect_bad(c, b.n, WANT("key 'a.u32'", "UINT32", "left in the file"));
    /* an absurd string-array count */
    memcpy(c, b.p, b.n);
    at = find_key(&b, "a.str");
    put_u64(c + at + 8, 1ull << 60);
    expect_bad(c, b.n, WANT("key 'a.str'", "array of 1152921504606846976 STRING cannot fit"));
    /* unknown array element type */
    memcpy(c, b.p, b.n);
    at = find_key(&b, "a.i8");
    put_u32(c + at + 4, 99);
    expect_bad(c, b.n, WANT("key 'a.i8'", "element type 99 unknown"));
    /* nested: inner count absurd */
    memcpy(c, b.p, b.n);
    at = find_key(&b, "a.nested");    /* type | elem ARRAY | n=2 | [elem INT32 | n=3 | ...] */
    put_u64(c + at + 4 + 4 + 8 + 4, 1ull << 61);
    expect_bad(c, b.n, WANT("key 'a.nested'", "array of 2305843009213693952 INT32"));
    /* a duplicate key: rename t.i8 to t.u8 */
    memcpy(c, b.p, b.n);
    at = find_key(&b, "t.i8");
    memcpy(c + at - 4, "t.u8", 4);
    expect_bad(c, b.n, WANT("key 't.u8'", "duplicate key", "first defined at offset"));
    free(c);
    free(b.p);
}

/* offset of the tensor info of the named tensor (its name length field) */
static size_t find_tensor_info(const blob *b, const char *name) {
    return find_key(b, name) - 8 - strlen(name);
}

static void test_bad_tensor_infos(void **state) {
    (void)state;
    blob b = read_blob(FX "all_types.gguf");
    uint8_t *c = malloc(b.n);
    size_t ti = find_tensor_info(&b, "q8.weight");
    size_t nd_at = ti + 8 + strlen("q8.weight");    /* u32 n_dims=2 | u64 ne[2] | u32 type | u64 off */
    char where[64];
    memcpy(c, b.p, b.n);
    put_u32(c + nd_at, 5);
    snprintf(where, sizeof where, "offset %zu", nd_at);
    expect_bad(c, b.n, WANT("tensor 'q8.weight'", where, "n_dims 5", "expected at most 4"));
    memcpy(c, b.p, b.n);
    put_u64(c + nd_at + 4, 0);
    expect_bad(c, b.n, WANT("tensor 'q8.weight'", "ne[0] = 0"));
    memcpy(c, b.p, b.n);
    put_u64(c + nd_at + 12, 1ull << 63);
    expect_bad(c, b.n, WANT("tensor 'q8.weight'", "ne[1] = 9223372036854775808"));
    memcpy(c, b.p, b.n);
    put_u64(c + nd_at + 4, 1ull << 40);     /* ne0 * ne1 = 2^40 * 2^30: overflows */
    put_u64(c + nd_at + 12, 1ull << 30);
    expect_bad(c, b.n, WANT("tensor 'q8.weight'", "overflows"));
    memcpy(c, b.p, b.n);
    put_u64(c + nd_at + 12, 1ull << 40);    /* huge but no overflow: past the end */
    expect_bad(c, b.n, WANT("tensor 'q8.weight'", "past the end"));
    memcpy(c, b.p, b.n);
    put_u32(c + nd_at + 20, 4);             /* type 4 (Q4_2, removed) */
    expect_bad(c, b.n, WANT("tensor 'q8.weight'", "tensor type 4 unknown"));
    put_u32(c + nd_at + 20, 1000);
    expect_bad(c, b.n, WANT("tensor 'q8.weight'", "tensor type 1000 unknown"));
    memcpy(c, b.p, b.n);
    put_u64(c + nd_at + 4, 16);             /* Q8_0 row of 16: not a block multiple */
    expect_bad(c, b.n, WANT("tensor 'q8.weight'", "ne[0] = 16", "block size 32"));
    memcpy(c, b.p, b.n);
    put_u64(c + nd_at + 24, 8);             /* misaligned data offset */
    expect_bad(c, b.n, WANT("tensor 'q8.weight'", "data offset 8", "alignment 32"));
    memcpy(c, b.p, b.n);
    put_u64(c + nd_at + 24, 1ull << 50);    /* offset past the end */
    expect_bad(c, b.n, WANT("tensor 'q8.weight'", "runs past the end"));
    memcpy(c, b.p, b.n);                    /* duplicate name: f32.weight -> q4k.weight */
    memcpy(c + find_tensor_info(&b, "f32.weight") + 8, "q4k.weight", 10);
    expect_bad(c, b.n, WANT("offset", "tensor 'q4k.weight'", "duplicate tensor name", "first defined at offset"));
    free(c);
    free(b.p);
}

static void test_bad_alignment(void **state) {
    (void)state;
    blob b = read_blob(FX "v2_align64.gguf");
    uint8_t *c = malloc(b.n);
    size_t at = find_key(&b, "general.alignment");   /* u32 type UINT32 | u32 value */
    uint32_t bad[] = {0, 48, 3, 0x80000000u};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memcpy(c, b.p, b.n);
        put_u32(c + at + 4, bad[i]);
        char v[64];
        snprintf(v, sizeof v, "alignment %u", bad[i]);
        expect_bad(c, b.n, WANT("key 'general.alignment'", v, "power of 2"));
    }
    memcpy(c, b.p, b.n);
    put_u32(c + at, VC_GGUF_FLOAT32);
    expect_bad(c, b.n, WANT("key 'general.alignment'", "FLOAT32", "expected UINT32"));
    memcpy(c, b.p, b.n);
    put_u32(c + at + 4, 16);    /* valid power of 2, but the file was laid out for 64: data start moves */
    vc_gguf *g = NULL;
    vc_error err;
    char path[] = "/tmp/vllmc_test_gguf_XXXXXX";
    int fd = mkstemp(path);
    assert_int_equal(write(fd, c, b.n), (ssize_t)b.n);
    close(fd);
    /* either a clean open (offsets happen to be 16-aligned) or a clean error: no crash */
    if (vc_gguf_open(&g, path, &err) == 0) vc_gguf_free(g);
    unlink(path);
    free(c);
    free(b.p);
}


/* ---- crafted files: a minimal GGUF byte writer for the cases gguf-py
 * cannot write (empty arrays, deep nesting, scalar tensors, bad names) ---- */

typedef struct wbuf {
    uint8_t p[4096];
    size_t n;
} wbuf;

static void w_bytes(wbuf *w, const void *p, size_t n) {
    assert_true(w->n + n <= sizeof w->p);
    memcpy(w->p + w->n, p, n);
    w->n += n;
}
static void w_u32(wbuf *w, uint32_t v) { w_bytes(w, &v, 4); }
static void w_u64(wbuf *w, uint64_t v) { w_bytes(w, &v, 8); }
static void w_strn(wbuf *w, const char *s, size_t n) { w_u64(w, n); w_bytes(w, s, n); }
static void w_str(wbuf *w, const char *s) { w_strn(w, s, strlen(s)); }
static void w_header(wbuf *w, uint64_t n_tensors, uint64_t n_kv) {
    w->n = 0;
    w_bytes(w, "GGUF", 4);
    w_u32(w, 3);
    w_u64(w, n_tensors);
    w_u64(w, n_kv);
}
static void w_pad(wbuf *w, size_t a) {
    while (w->n % a) w->p[w->n++] = 0;
}

static vc_gguf *open_bytes(const wbuf *w, vc_error *err, int *rc) {
    char path[] = "/tmp/vllmc_test_gguf_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, w->p, w->n), (ssize_t)w->n);
    close(fd);
    vc_gguf *g = NULL;
    *rc = vc_gguf_open(&g, path, err);
    unlink(path);
    return g;
}

static void test_crafted_valid(void **state) {
    (void)state;
    wbuf w;
    /* no tensors, empty arrays of each kind, a scalar (n_dims 0) tensor */
    w_header(&w, 1, 4);
    w_str(&w, "e.ints"); w_u32(&w, VC_GGUF_ARRAY); w_u32(&w, VC_GGUF_INT32); w_u64(&w, 0);
    w_str(&w, "e.strs"); w_u32(&w, VC_GGUF_ARRAY); w_u32(&w, VC_GGUF_STRING); w_u64(&w, 0);
    w_str(&w, "e.arrs"); w_u32(&w, VC_GGUF_ARRAY); w_u32(&w, VC_GGUF_ARRAY); w_u64(&w, 2);
    w_u32(&w, VC_GGUF_UINT8); w_u64(&w, 0);
    w_u32(&w, VC_GGUF_STRING); w_u64(&w, 1); w_str(&w, "z");
    w_str(&w, "e.str"); w_u32(&w, VC_GGUF_STRING); w_str(&w, "");
    w_str(&w, "scalar"); w_u32(&w, 0); w_u32(&w, VC_F32); w_u64(&w, 0);
    w_pad(&w, 32);
    float one = 1.0f;
    w_bytes(&w, &one, 4);
    vc_error err;
    int rc;
    vc_gguf *g = open_bytes(&w, &err, &rc);
    if (rc) fail_msg("%s", err.msg);
    assert_int_equal(vc_gguf_find(g, "e.ints")->val.arr.n, 0);
    assert_int_equal(vc_gguf_find(g, "e.strs")->val.arr.n, 0);
    assert_null(vc_gguf_find(g, "e.strs")->val.arr.strs);
    const vc_gguf_value *arrs = &vc_gguf_find(g, "e.arrs")->val;
    assert_int_equal(arrs->arr.n, 2);
    assert_int_equal(arrs->arr.items[0].arr.n, 0);
    assert_true(str_eq(arrs->arr.items[1].arr.strs[0], "z"));
    assert_int_equal(vc_gguf_find(g, "e.str")->val.s.len, 0);
    const vc_tensor *t = vc_gguf_tensor(g, "scalar");
    assert_non_null(t);
    assert_int_equal(t->n_dims, 0);
    assert_int_equal(vc_tensor_nelems(t), 1);
    assert_true(*(const float *)t->data == 1.0f);
    vc_gguf_free(g);

    /* metadata only, no tensors and no padding after the infos */
    w_header(&w, 0, 1);
    w_str(&w, "general.architecture"); w_u32(&w, VC_GGUF_STRING); w_str(&w, "llama");
    g = open_bytes(&w, &err, &rc);
    if (rc) fail_msg("%s", err.msg);
    assert_int_equal(vc_gguf_n_tensors(g), 0);
    assert_null(vc_gguf_tensor(g, "x"));
    assert_null(vc_gguf_tensor_at(g, 0));
    vc_gguf_free(g);

    /* nothing at all after the header */
    w_header(&w, 0, 0);
    g = open_bytes(&w, &err, &rc);
    if (rc) fail_msg("%s", err.msg);
    assert_int_equal(vc_gguf_n_kv(g), 0);
    assert_null(vc_gguf_find(g, "general.architecture"));
    vc_gguf_free(g);
}

static void expect_bad_bytes_at(int line, const wbuf *w, const char *const *want) {
    expect_bad_at(line, w->p, w->n, want);
}
#define expect_bad_w(w, want) expect_bad_bytes_at(__LINE__, w, want)

static void test_crafted_bad(void **state) {
    (void)state;
    wbuf w;
    /* arrays nested 9 deep */
    w_header(&w, 0, 1);
    w_str(&w, "deep"); w_u32(&w, VC_GGUF_ARRAY);
    for (int i = 0; i < 9; i++) { w_u32(&w, VC_GGUF_ARRAY); w_u64(&w, 1); }
    w_u32(&w, VC_GGUF_UINT8); w_u64(&w, 0);
    expect_bad_w(&w, WANT("key 'deep'", "nested deeper than", "expected at most 8"));
    /* 8 deep is fine */
    w_header(&w, 0, 1);
    w_str(&w, "deep"); w_u32(&w, VC_GGUF_ARRAY);
    for (int i = 0; i < 7; i++) { w_u32(&w, VC_GGUF_ARRAY); w_u64(&w, 1); }
    w_u32(&w, VC_GGUF_UINT8); w_u64(&w, 1); w_u32(&w, 0);
    vc_error err;
    int rc;
    vc_gguf *g = open_bytes(&w, &err, &rc);
    if (rc) fail_msg("%s", err.msg);
    vc_gguf_free(g);
    /* keys: empty, with a NUL byte */
    w_header(&w, 0, 1);
    w_str(&w, ""); w_u32(&w, VC_GGUF_UINT8); w_bytes(&w, "\x01", 1);
    expect_bad_w(&w, WANT("offset 24", "metadata entry #0", "empty key"));
    w_header(&w, 0, 1);
    w_strn(&w, "a\0b", 3); w_u32(&w, VC_GGUF_UINT8); w_bytes(&w, "\x01", 1);
    expect_bad_w(&w, WANT("offset 24", "NUL byte"));
    /* a BOOL array element other than 0/1 */
    w_header(&w, 0, 1);
    w_str(&w, "flags"); w_u32(&w, VC_GGUF_ARRAY); w_u32(&w, VC_GGUF_BOOL); w_u64(&w, 3);
    w_bytes(&w, "\x01\x00\x07", 3);
    expect_bad_w(&w, WANT("key 'flags'", "array element 2", "BOOL byte 7"));
    /* tensor names: empty, with a NUL byte */
    w_header(&w, 1, 0);
    w_str(&w, ""); w_u32(&w, 1); w_u64(&w, 4); w_u32(&w, VC_F32); w_u64(&w, 0);
    w_pad(&w, 32);
    w_bytes(&w, "0123456789abcdef", 16);
    expect_bad_w(&w, WANT("tensor #0", "empty tensor name"));
    w_header(&w, 1, 0);
    w_strn(&w, "w\0x", 3); w_u32(&w, 1); w_u64(&w, 4); w_u32(&w, VC_F32); w_u64(&w, 0);
    w_pad(&w, 32);
    w_bytes(&w, "0123456789abcdef", 16);
    expect_bad_w(&w, WANT("tensor #0", "NUL byte"));
    /* data section start past the end (no padding written) */
    w_header(&w, 1, 0);
    w_str(&w, "w"); w_u32(&w, 1); w_u64(&w, 1); w_u32(&w, VC_F32); w_u64(&w, 0);
    expect_bad_w(&w, WANT("tensor data", "data section would start at 64", "only 57 bytes"));
    /* two tensors overlapping is allowed by the format; one reaching 1 byte past the end is not */
    w_header(&w, 1, 0);
    w_str(&w, "w"); w_u32(&w, 1); w_u64(&w, 5); w_u32(&w, VC_F32); w_u64(&w, 0);
    w_pad(&w, 32);
    w_bytes(&w, "0123456789abcdefghi", 19);
    expect_bad_w(&w, WANT("tensor 'w'", "20 bytes", "holds 19 bytes"));
    /* alignment given as a signed integer <= 0 */
    w_header(&w, 0, 1);
    w_str(&w, "general.alignment"); w_u32(&w, VC_GGUF_INT32); w_u32(&w, (uint32_t)-32);
    expect_bad_w(&w, WANT("key 'general.alignment'", "alignment -32", "power of 2"));
}

/* Random byte flips in the metadata and tensor infos: every outcome is a
 * clean open or a clean error naming the file (ASan/UBSan watch the rest). */
static void test_random_corruption(void **state) {
    (void)state;
    blob b = read_blob(FX "all_types.gguf");
    uint8_t *c = malloc(b.n);
    uint64_t rng = 0x9E3779B97F4A7C15ull;
    int opened = 0, rejected = 0;
    char path[] = "/tmp/vllmc_test_gguf_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    for (int iter = 0; iter < 1500; iter++) {
        memcpy(c, b.p, b.n);
        int flips = 1 + iter % 4;
        for (int k = 0; k < flips; k++) {
            rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
            size_t at = (size_t)(rng % 1408);               /* the part before the data */
            c[at] = (uint8_t)(rng >> 32);
        }
        assert_int_equal(pwrite(fd, c, b.n, 0), (ssize_t)b.n);
        vc_gguf *g = NULL;
        vc_error err = {{0}};
        if (vc_gguf_open(&g, path, &err) == 0) {
            /* walk everything the reader handed out */
            for (int64_t i = 0; i < vc_gguf_n_tensors(g); i++) {
                const vc_tensor *t = vc_gguf_tensor_at(g, i);
                volatile uint8_t sink = 0;
                if (t->nbytes) sink ^= ((const uint8_t *)t->data)[t->nbytes - 1];
                (void)sink;
                assert_ptr_equal(vc_gguf_tensor(g, t->name), t);
            }
            vc_gguf_free(g);
            opened++;
        } else {
            assert_null(g);
            if (!strstr(err.msg, path)) fail_msg("message does not name the file: %s", err.msg);
            rejected++;
        }
    }
    close(fd);
    unlink(path);
    assert_true(rejected > 0);
    if (getenv("VLLMC_TEST_VERBOSE")) printf("  random corruption: %d opened, %d rejected\n", opened, rejected);
    free(c);
    free(b.p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_types_values),
        cmocka_unit_test(test_all_types_arrays),
        cmocka_unit_test(test_all_types_tensors),
        cmocka_unit_test(test_v2_alignment64),
        cmocka_unit_test(test_typed_getters),
        cmocka_unit_test(test_real_model),
        cmocka_unit_test(test_truncated_everywhere),
        cmocka_unit_test(test_bad_header),
        cmocka_unit_test(test_bad_metadata),
        cmocka_unit_test(test_bad_tensor_infos),
        cmocka_unit_test(test_bad_alignment),
        cmocka_unit_test(test_crafted_valid),
        cmocka_unit_test(test_crafted_bad),
        cmocka_unit_test(test_random_corruption),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
