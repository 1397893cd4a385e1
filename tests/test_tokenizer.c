/* Tokenizer against Hugging Face tokenizers references:
 *  - the vocab-tests suite (tests/fixtures/tokenizer/ggml-vocab-*.inp/.out)
 *  - cases-*.json from scripts/make_tokenizer_fixtures.py: encode ids and
 *    decode texts (with and without skip_special), for Llama 3, Qwen3,
 *    Mistral-style SentencePiece (llama2 folder) and SmolLM2 (GGUF)
 *  - the incremental detokenizer on random id streams of every tokenizer. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/testutil.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer_fixtures.h"

static vc_tokenizer *open_dir(const char *name) {
    char dir[512];
    assert_int_equal(tokfx_dir(name, dir, sizeof dir), 0);
    vc_tokenizer *t = NULL;
    vc_error err = {{0}};
    if (vc_tokenizer_from_dir(&t, dir, &err)) fail_msg("open %s: %s", dir, err.msg);
    return t;
}

static vc_tokenizer *open_gguf(const char *name) {
    char path[512];
    assert_int_equal(tokfx_gguf(name, path, sizeof path), 0);
    vc_tokenizer *t = NULL;
    vc_error err = {{0}};
    if (vc_tokenizer_open(&t, path, &err)) fail_msg("open %s: %s", path, err.msg);
    return t;
}

static vc_tokenizer *open_smollm2(void) {
    assert_true(tu_exists(TU_REAL_MODEL));   /* scripts/fetch-model.sh */
    vc_tokenizer *t = NULL;
    vc_error err = {{0}};
    if (vc_tokenizer_open(&t, TU_REAL_MODEL, &err)) fail_msg("open %s: %s", TU_REAL_MODEL, err.msg);
    return t;
}

/* *.inp: texts separated by "\n__ggml_vocab_test__\n"; *.out: one line of ids per text */
static void run_vocab_test(vc_tokenizer *t, const char *name) {
    char p[512];
    size_t ni, no;
    snprintf(p, sizeof p, TOKFX_SRC "/ggml-vocab-%s.gguf.inp", name);
    char *inp = tu_read_file(p, &ni);
    snprintf(p, sizeof p, TOKFX_SRC "/ggml-vocab-%s.gguf.out", name);
    char *out = tu_read_file(p, &no);
    assert_non_null(inp);
    assert_non_null(out);
    static const char sep[] = "\n__ggml_vocab_test__\n";
    char *text = inp, *line = out;
    int n_cases = 0, n_fail = 0;
    for (char *end; (end = strstr(text, sep)); text = end + strlen(sep)) {
        char *eol = strchr(line, '\n');
        assert_non_null(eol);
        int32_t *ids;
        int n;
        vc_error err = {{0}};
        if (vc_tokenize(t, text, (size_t)(end - text), false, false, &ids, &n, &err)) fail_msg("%s", err.msg);
        char got[1 << 16];
        size_t g = 0;
        for (int i = 0; i < n && g + 16 < sizeof got; i++) g += (size_t)sprintf(got + g, " %d", ids[i]);
        if (g != (size_t)(eol - line) || memcmp(got, line, g)) {
            n_fail++;
            print_error("%s case %d: %.*s\n  expected:%.*s\n  got:     %s\n", name, n_cases, (int)(end - text), text,
                        (int)(eol - line), line, got);
        }
        free(ids);
        n_cases++;
        line = eol + 1;
    }
    assert_int_equal(n_cases, 46);
    assert_int_equal(n_fail, 0);
    free(inp);
    free(out);
}

/* decodes ids both at once and through the streaming detokenizer; checks each
 * delta is valid UTF-8 and the deltas concatenate to the expected text */
static void check_decode(vc_tokenizer *t, const int32_t *ids, int n, bool skip, const char *expect, size_t expect_len,
                         const char *what) {
    vc_error err = {{0}};
    vc_detok *d;
    assert_int_equal(vc_detok_create(&d, t, skip, &err), 0);
    size_t cap = 256, len = 0;
    char *acc = malloc(cap);
    for (int i = 0; i <= n; i++) {
        const char *delta;
        size_t dl;
        int rc = i < n ? vc_detok_push(d, ids[i], &delta, &dl, &err) : vc_detok_flush(d, &delta, &dl);
        if (rc) fail_msg("%s: detok: %s", what, err.msg);
        /* never a broken UTF-8 sequence: validate with jansson's strict UTF-8 decoder */
        json_t *js = json_stringn(delta, dl);
        if (!js) fail_msg("%s: delta %d is not valid UTF-8", what, i);
        json_decref(js);
        while (len + dl + 1 > cap) cap *= 2;
        acc = realloc(acc, cap);
        memcpy(acc + len, delta, dl);
        len += dl;
    }
    vc_detok_free(d);
    if (len != expect_len || memcmp(acc, expect, len))
        fail_msg("%s: decode mismatch\n  expected [%.*s]\n  got      [%.*s]", what, (int)expect_len, expect, (int)len, acc);
    char *whole;
    assert_int_equal(vc_detokenize(t, ids, n, skip, &whole, &err), 0);
    if (!memchr(expect, 0, expect_len)) assert_string_equal(whole, expect);
    free(whole);
    free(acc);
}

static int32_t *json_ids(const json_t *arr, int *n) {
    *n = (int)json_array_size(arr);
    int32_t *ids = malloc(((size_t)*n + 1) * sizeof *ids);
    for (int i = 0; i < *n; i++) ids[i] = (int32_t)json_integer_value(json_array_get(arr, (size_t)i));
    return ids;
}

/* tests/fixtures/tokenizer cases-NAME.json (from scripts/make_tokenizer_fixtures.py) */
static json_t *load_cases(const char *name) {
    char p[512];
    snprintf(p, sizeof p, TOKFX_SRC "/cases-%s.json", name);
    json_error_t jerr;
    json_t *root = json_load_file(p, 0, &jerr);
    if (!root) fail_msg("%s: %s", p, jerr.text);
    return root;
}

static void run_cases(vc_tokenizer *t, const char *name) {
    json_t *root = load_cases(name);
    const json_t *texts = json_object_get(root, "texts"), *decodes = json_object_get(root, "decodes");
    assert_true(json_array_size(texts) > 100);
    assert_true(json_array_size(decodes) > 70);
    size_t i;
    const json_t *c;
    int n_fail = 0;
    json_array_foreach(texts, i, c) {
        const json_t *jt = json_object_get(c, "text");
        int n_exp;
        int32_t *exp = json_ids(json_object_get(c, "ids"), &n_exp);
        int32_t *ids;
        int n;
        vc_error err = {{0}};
        if (vc_tokenize(t, json_string_value(jt), json_string_length(jt), json_is_true(json_object_get(c, "add_special")),
                        json_is_true(json_object_get(c, "parse_special")), &ids, &n, &err))
            fail_msg("%s case %zu: %s", name, i, err.msg);
        if (n != n_exp || memcmp(ids, exp, (size_t)n * sizeof *ids)) {
            n_fail++;
            char got[8192] = "", want[8192] = "";
            for (int k = 0, g = 0; k < n && g < 8000; k++) g += sprintf(got + g, " %d", ids[k]);
            for (int k = 0, g = 0; k < n_exp && g < 8000; k++) g += sprintf(want + g, " %d", exp[k]);
            print_error("%s case %zu (parse_special %d) [%s]\n  expected:%s\n  got:     %s\n", name, i,
                        json_is_true(json_object_get(c, "parse_special")), json_string_value(jt), want, got);
        }
        free(ids);
        free(exp);
    }
    assert_int_equal(n_fail, 0);
    json_array_foreach(decodes, i, c) {
        int n;
        int32_t *ids = json_ids(json_object_get(c, "ids"), &n);
        const json_t *a = json_object_get(c, "text"), *b = json_object_get(c, "text_skip");
        char what[64];
        snprintf(what, sizeof what, "%s decode %zu", name, i);
        check_decode(t, ids, n, false, json_string_value(a), json_string_length(a), what);
        snprintf(what, sizeof what, "%s decode %zu skip_special", name, i);
        check_decode(t, ids, n, true, json_string_value(b), json_string_length(b), what);
        free(ids);
    }
    json_decref(root);
}

/* byte-level BPE: the raw bytes of the Hugging Face ids of every case join
 * into the case's text (pieces of UTF-8 characters included) */
static void run_token_bytes(vc_tokenizer *t, const char *name) {
    json_t *root = load_cases(name);
    size_t i;
    const json_t *c;
    int n_checked = 0, n_split = 0;
    json_array_foreach(json_object_get(root, "texts"), i, c) {
        if (json_is_true(json_object_get(c, "add_special"))) continue;   /* BOS/EOS are not in the text */
        const json_t *jt = json_object_get(c, "text");
        int n;
        int32_t *ids = json_ids(json_object_get(c, "ids"), &n);
        size_t cap = 64, len = 0;
        char *buf = malloc(cap);
        for (int k = 0; k < n; k++) {
            size_t bl;
            const char *b = vc_tokenizer_token_bytes(t, ids[k], &bl);
            assert_non_null(b);
            json_t *js = json_stringn(b, bl);   /* NULL: not valid UTF-8 alone */
            if (!js) n_split++;
            json_decref(js);
            while (len + bl + 1 > cap) buf = realloc(buf, cap *= 2);
            memcpy(buf + len, b, bl);
            len += bl;
        }
        if (len != json_string_length(jt) || memcmp(buf, json_string_value(jt), len))
            fail_msg("%s case %zu: token bytes join to [%.*s], not [%s]", name, i, (int)len, buf, json_string_value(jt));
        n_checked++;
        free(buf);
        free(ids);
    }
    assert_true(n_checked > 100);
    assert_true(n_split > 10);   /* the cases do split characters across tokens */
    size_t bl;
    assert_null(vc_tokenizer_token_bytes(t, -1, &bl));
    assert_null(vc_tokenizer_token_bytes(t, vc_tokenizer_vocab_size(t), &bl));
    json_decref(root);
}

/* random id streams: streaming == one-shot decode, every delta valid UTF-8 */
static void run_detok_property(vc_tokenizer *t) {
    uint64_t state = 0x9E3779B97F4A7C15ull;
    int nv = vc_tokenizer_vocab_size(t);
    for (int round = 0; round < 300; round++) {
        int n = 1 + (int)(state % 64);
        int32_t ids[64];
        for (int i = 0; i < n; i++) {
            state = state * 6364136223846793005ull + 1442695040888963407ull;
            uint32_t r = (uint32_t)(state >> 33);
            /* bias towards low ids: byte tokens and short pieces split UTF-8 most */
            ids[i] = (int32_t)(r % 4 == 0 ? r % 600 % (uint32_t)nv : r % (uint32_t)nv);
        }
        for (int skip = 0; skip < 2; skip++) {
            vc_error err = {{0}};
            char *whole;
            assert_int_equal(vc_detokenize(t, ids, n, skip, &whole, &err), 0);
            /* the one-shot text may hold NULs; compare the streamed text up to its strlen */
            vc_detok *d;
            assert_int_equal(vc_detok_create(&d, t, skip, &err), 0);
            char acc[64 * 256 + 16];
            size_t len = 0;
            for (int i = 0; i <= n; i++) {
                const char *delta;
                size_t dl;
                assert_int_equal(i < n ? vc_detok_push(d, ids[i], &delta, &dl, &err) : vc_detok_flush(d, &delta, &dl), 0);
                json_t *js = json_stringn(delta, dl);
                assert_non_null(js);   /* valid UTF-8 */
                json_decref(js);
                assert_true(len + dl < sizeof acc);
                memcpy(acc + len, delta, dl);
                len += dl;
            }
            acc[len] = 0;
            assert_int_equal(strlen(whole), strlen(acc));
            assert_memory_equal(whole, acc, strlen(acc));
            vc_detok_free(d);
            free(whole);
        }
    }
}

/* the base tokenizer.json with the fixture cases-<variant>.json's "patch"
 * (top-level fields) and "added_tokens" applied */
static vc_tokenizer *open_patched(const char *name, const char *variant) {
    char dir[512], p[1100], out_dir[512];
    assert_int_equal(tokfx_dir(name, dir, sizeof dir), 0);
    json_t *cases = load_cases(variant);
    json_error_t jerr;
    snprintf(p, sizeof p, "%s/tokenizer.json", dir);
    json_t *root = json_load_file(p, 0, &jerr);
    if (!root) fail_msg("%s: %s", p, jerr.text);
    if (json_object_get(cases, "added_tokens"))
        assert_int_equal(json_object_set(root, "added_tokens", json_object_get(cases, "added_tokens")), 0);
    if (json_object_get(cases, "patch")) assert_int_equal(json_object_update(root, json_object_get(cases, "patch")), 0);
    snprintf(out_dir, sizeof out_dir, TOKFX_TMP "/%s", variant);
    mkdir(out_dir, 0755);
    snprintf(p, sizeof p, "%s/tokenizer.json", out_dir);
    assert_int_equal(json_dump_file(root, p, JSON_COMPACT), 0);
    json_decref(root);
    json_decref(cases);
    vc_tokenizer *t = NULL;
    vc_error err = {{0}};
    if (vc_tokenizer_from_dir(&t, out_dir, &err)) fail_msg("open %s: %s", out_dir, err.msg);
    return t;
}

static void test_added_flags_llama2(void **state) {
    (void)state;
    vc_tokenizer *t = open_patched("llama2", "llama2-added");
    run_cases(t, "llama2-added");
    vc_tokenizer_free(t);
}

static void test_added_flags_qwen3(void **state) {
    (void)state;
    vc_tokenizer *t = open_patched("qwen3", "qwen3-added");
    run_cases(t, "qwen3-added");
    vc_tokenizer_free(t);
}

static void test_metaspace_first(void **state) {
    (void)state;
    vc_tokenizer *t = open_patched("llama2", "llama2-meta");
    run_cases(t, "llama2-meta");
    vc_tokenizer_free(t);
}

static void test_metaspace_split_always(void **state) {
    (void)state;
    vc_tokenizer *t = open_patched("llama2", "llama2-metasplit");
    run_cases(t, "llama2-metasplit");
    vc_tokenizer_free(t);
}

static void test_nfkc(void **state) {
    (void)state;
    vc_tokenizer *t = open_patched("qwen3", "qwen3-nfkc");
    run_cases(t, "qwen3-nfkc");
    vc_tokenizer_free(t);
}

static void test_vocab_llama_bpe(void **state) {
    (void)state;
    vc_tokenizer *t = open_dir("llama3");
    run_vocab_test(t, "llama-bpe");
    vc_tokenizer_free(t);
}

static void test_vocab_qwen2(void **state) {
    (void)state;
    vc_tokenizer *t = open_dir("qwen3");
    run_vocab_test(t, "qwen2");
    vc_tokenizer_free(t);
}

static void test_cases_llama3(void **state) {
    (void)state;
    vc_tokenizer *t = open_dir("llama3");
    run_cases(t, "llama3");
    run_token_bytes(t, "llama3");
    run_detok_property(t);
    vc_tokenizer_free(t);
}

static void test_cases_qwen3(void **state) {
    (void)state;
    vc_tokenizer *t = open_dir("qwen3");
    run_cases(t, "qwen3");
    run_detok_property(t);
    vc_tokenizer_free(t);
}

static void test_cases_llama2(void **state) {
    (void)state;
    vc_tokenizer *t = open_dir("llama2");
    run_cases(t, "llama2");
    run_detok_property(t);
    vc_tokenizer_free(t);
}

static void test_vocab_gpt2(void **state) {
    (void)state;
    vc_tokenizer *t = open_gguf("gpt-2");
    run_vocab_test(t, "gpt-2");
    run_detok_property(t);
    vc_tokenizer_free(t);
}

static void test_vocab_llama_spm(void **state) {
    (void)state;
    vc_tokenizer *t = open_gguf("llama-spm");
    run_vocab_test(t, "llama-spm");
    run_detok_property(t);
    vc_tokenizer_free(t);
}

static void test_vocab_phi3(void **state) {
    (void)state;
    vc_tokenizer *t = open_gguf("phi-3");
    run_vocab_test(t, "phi-3");
    run_detok_property(t);
    vc_tokenizer_free(t);
}

static void test_cases_smollm2(void **state) {
    (void)state;
    vc_tokenizer *t = open_smollm2();
    run_cases(t, "smollm2");
    run_detok_property(t);
    run_token_bytes(t, "smollm2");
    /* what the engine relies on: ids, specials and end-of-generation ids of the real model */
    assert_int_equal(vc_tokenizer_vocab_size(t), 49152);
    assert_string_equal(vc_tokenizer_token_text(t, 2), "<|im_end|>");
    assert_true(vc_tokenizer_is_special(t, 2));
    const int32_t *eog;
    int n_eog = vc_tokenizer_eog_ids(t, &eog);
    bool has_im_end = false;
    for (int i = 0; i < n_eog; i++) has_im_end |= eog[i] == 2;
    assert_true(has_im_end);
    assert_non_null(vc_tokenizer_chat_template(t));
    vc_tokenizer_free(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vocab_llama_bpe),
        cmocka_unit_test(test_vocab_qwen2),
        cmocka_unit_test(test_cases_llama3),
        cmocka_unit_test(test_cases_qwen3),
        cmocka_unit_test(test_cases_llama2),
        cmocka_unit_test(test_vocab_gpt2),
        cmocka_unit_test(test_vocab_llama_spm),
        cmocka_unit_test(test_vocab_phi3),
        cmocka_unit_test(test_cases_smollm2),
        cmocka_unit_test(test_added_flags_llama2),
        cmocka_unit_test(test_added_flags_qwen3),
        cmocka_unit_test(test_metaspace_first),
        cmocka_unit_test(test_metaspace_split_always),
        cmocka_unit_test(test_nfkc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
