/* Tokenizer on bad and extreme input: invalid UTF-8, empty text, a 1 MB
 * prompt, broken tokenizer.json files and GGUF vocabularies with mismatched
 * arrays. Each must give a clear error or the right output, never a crash. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/testutil.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer_fixtures.h"

static vc_tokenizer *open_path(const char *path) {
    vc_tokenizer *t = NULL;
    vc_error err = {{0}};
    if (vc_tokenizer_open(&t, path, &err)) fail_msg("open %s: %s", path, err.msg);
    return t;
}

static vc_tokenizer *open_fixture_dir(const char *name) {
    char dir[512];
    assert_int_equal(tokfx_dir(name, dir, sizeof dir), 0);
    return open_path(dir);
}

static vc_tokenizer *open_fixture_gguf(const char *name) {
    char path[512];
    assert_int_equal(tokfx_gguf(name, path, sizeof path), 0);
    return open_path(path);
}

static void test_invalid_utf8(void **state) {
    (void)state;
    vc_tokenizer *t = open_fixture_dir("llama3");
    static const char *const bad[] = {"abc\xff", "\xc3", "ok \xe2\x82", "\xed\xa0\x80 surrogate", "\xc0\xaf overlong"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int32_t *ids = (int32_t *)1;
        int n = -1;
        vc_error err = {{0}};
        assert_int_equal(vc_tokenize(t, bad[i], strlen(bad[i]), true, true, &ids, &n, &err), -1);
        assert_non_null(strstr(err.msg, "invalid UTF-8 at byte offset"));
        assert_null(ids);
        assert_int_equal(n, 0);
    }
    vc_tokenizer_free(t);
}

static void test_empty_text(void **state) {
    (void)state;
    vc_tokenizer *t = open_fixture_gguf("llama-spm");
    int32_t *ids;
    int n;
    vc_error err = {{0}};
    assert_int_equal(vc_tokenize(t, "", 0, false, true, &ids, &n, &err), 0);
    assert_int_equal(n, 0);
    free(ids);
    /* add_special on a vocabulary with add_bos_token: just BOS */
    assert_int_equal(vc_tokenize(t, "", 0, true, true, &ids, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(ids[0], vc_tokenizer_bos(t));
    assert_int_equal(ids[0], 1);
    free(ids);
    char *text;
    assert_int_equal(vc_detokenize(t, NULL, 0, false, &text, &err), 0);
    assert_string_equal(text, "");
    free(text);
    /* ids out of range are an error */
    int32_t badid[] = {5, 40000};
    assert_int_equal(vc_detokenize(t, badid, 2, false, &text, &err), -1);
    assert_non_null(strstr(err.msg, "out of range"));
    vc_tokenizer_free(t);
}

/* 1 MB of a paragraph that starts with a letter and ends with a newline:
 * pre-token boundaries fall between copies, so the ids are the unit's ids repeated */
static void test_one_megabyte(void **state) {
    (void)state;
    static const char unit[] = "The quick brown fox jumps over the lazy dog; 1234567 émigré naïve 日本語 🦙 'tis.\n";
    size_t ul = strlen(unit), reps = (1u << 20) / ul + 1, len = ul * reps;
    char *big = malloc(len + 1);
    for (size_t i = 0; i < reps; i++) memcpy(big + i * ul, unit, ul);
    big[len] = 0;
    vc_tokenizer *t = open_fixture_dir("llama3");
    int32_t *u, *ids;
    int nu, n;
    vc_error err = {{0}};
    assert_int_equal(vc_tokenize(t, unit, ul, false, false, &u, &nu, &err), 0);
    assert_int_equal(vc_tokenize(t, big, len, false, false, &ids, &n, &err), 0);
    assert_int_equal((size_t)n, (size_t)nu * reps);
    for (size_t i = 0; i < reps; i++) assert_memory_equal(ids + i * (size_t)nu, u, (size_t)nu * sizeof *u);
    char *back;
    assert_int_equal(vc_detokenize(t, ids, n, false, &back, &err), 0);
    assert_int_equal(strlen(back), len);
    assert_memory_equal(back, big, len);
    free(back);
    free(ids);
    free(u);
    vc_tokenizer_free(t);

    /* SentencePiece without a pre-tokenizer: the whole megabyte is one word */
    t = open_fixture_gguf("llama-spm");
    assert_int_equal(vc_tokenize(t, big, len, true, false, &ids, &n, &err), 0);
    assert_true(n > 1000 && (size_t)n < len);
    assert_int_equal(vc_detokenize(t, ids, n, true, &back, &err), 0);
    assert_int_equal(strlen(back), len);
    assert_memory_equal(back, big, len);
    free(back);
    free(ids);
    vc_tokenizer_free(t);
    free(big);
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* writes dir/tokenizer.json and expects loading to fail with a message containing want */
static void expect_json_error(const char *json, const char *want) {
    const char *dir = TOKFX_TMP "/bad_json";
    mkdir("tests/fixtures/tmp", 0755);
    mkdir(TOKFX_TMP, 0755);
    mkdir(dir, 0755);
    write_file(TOKFX_TMP "/bad_json/tokenizer.json", json);
    vc_tokenizer *t = (vc_tokenizer *)1;
    vc_error err = {{0}};
    assert_int_equal(vc_tokenizer_open(&t, dir, &err), -1);
    assert_null(t);
    if (!strstr(err.msg, want)) fail_msg("error [%s] lacks [%s]", err.msg, want);
}

static void test_bad_tokenizer_json(void **state) {
    (void)state;
    expect_json_error("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}}}", "model.merges");
    expect_json_error("{\"model\": {\"type\": \"BPE\", \"merges\": []}}", "model.vocab");
    expect_json_error("{\"added_tokens\": []}", "'model'");
    expect_json_error("{\"model\": {\"type\": \"Unigram\", \"vocab\": []}}", "expected 'BPE'");
    expect_json_error("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": -3}, \"merges\": []}}", "model.vocab['a']");
    expect_json_error("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [7]}}", "model.merges[0]");
    expect_json_error("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, "
                      "\"added_tokens\": [{\"id\": \"x\"}]}", "added_tokens[0]");
    expect_json_error("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, "
                      "\"pre_tokenizer\": {\"type\": \"Whitespace\"}}", "unsupported type Whitespace");
    expect_json_error("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, "
                      "\"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"Regex\": \"(unclosed\"}, \"behavior\": \"Isolated\"}}",
                      "regex");
    expect_json_error("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, "
                      "\"normalizer\": {\"type\": \"Lowercase\"}}", "normalizer: unsupported Lowercase");
    expect_json_error("{\"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": []}}", "empty");
    expect_json_error("{\"model\": {\"type\": \"BPE\"", "line 1");
    expect_json_error("", "tokenizer.json");
}

/* ---- a minimal GGUF writer (v3, no tensors) for broken vocabularies ---- */
typedef struct gw {
    unsigned char buf[4096];
    size_t n;
} gw;
static void w_bytes(gw *w, const void *p, size_t n) { memcpy(w->buf + w->n, p, n); w->n += n; }
static void w_u32(gw *w, uint32_t v) { w_bytes(w, &v, 4); }
static void w_u64(gw *w, uint64_t v) { w_bytes(w, &v, 8); }
static void w_str(gw *w, const char *s) { w_u64(w, strlen(s)); w_bytes(w, s, strlen(s)); }
static void w_kv_str(gw *w, const char *k, const char *v) { w_str(w, k); w_u32(w, 8); w_str(w, v); }
static void w_kv_strs(gw *w, const char *k, int n, const char *const *v) {
    w_str(w, k); w_u32(w, 9); w_u32(w, 8); w_u64(w, (uint64_t)n);
    for (int i = 0; i < n; i++) w_str(w, v[i]);
}
static void w_kv_f32s(gw *w, const char *k, int n) {
    w_str(w, k); w_u32(w, 9); w_u32(w, 6); w_u64(w, (uint64_t)n);
    for (int i = 0; i < n; i++) { float f = -(float)i; w_bytes(w, &f, 4); }
}
static void w_kv_i32s(gw *w, const char *k, int n) {
    w_str(w, k); w_u32(w, 9); w_u32(w, 5); w_u64(w, (uint64_t)n);
    for (int i = 0; i < n; i++) w_u32(w, 1);
}

enum { MIS_SCORES, MIS_TYPES, BAD_MODEL, BAD_PRE, NO_TOKENS, NO_MERGES };

static void expect_gguf_error(int what, const char *want) {
    static const char *const toks[] = {"<unk>", "a", "b", "ab"};
    gw w = {.n = 0};
    w_bytes(&w, "GGUF", 4);
    w_u32(&w, 3);
    w_u64(&w, 0);   /* tensors */
    int n_kv = what == NO_TOKENS ? 1 : what == BAD_PRE ? 4 : 3;
    w_u64(&w, (uint64_t)n_kv);
    w_kv_str(&w, "tokenizer.ggml.model", what == BAD_MODEL ? "wordpiece" : (what == BAD_PRE || what == NO_MERGES) ? "gpt2" : "llama");
    if (what != NO_TOKENS) {
        w_kv_strs(&w, "tokenizer.ggml.tokens", 4, toks);
        if (what == MIS_TYPES) w_kv_i32s(&w, "tokenizer.ggml.token_type", 5);
        else if (what == BAD_PRE) {
            static const char *const merges[] = {"a b"};
            w_kv_str(&w, "tokenizer.ggml.pre", "no-such-pre");
            w_kv_strs(&w, "tokenizer.ggml.merges", 1, merges);
        }
        else w_kv_f32s(&w, "tokenizer.ggml.scores", what == MIS_SCORES ? 3 : 4);
    }
    const char *path = TOKFX_TMP "/bad.gguf";
    mkdir("tests/fixtures/tmp", 0755);
    mkdir(TOKFX_TMP, 0755);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fwrite(w.buf, 1, w.n, f);
    fclose(f);
    vc_tokenizer *t = (vc_tokenizer *)1;
    vc_error err = {{0}};
    assert_int_equal(vc_tokenizer_open(&t, path, &err), -1);
    assert_null(t);
    if (!strstr(err.msg, want)) fail_msg("error [%s] lacks [%s]", err.msg, want);
}

static void test_bad_gguf(void **state) {
    (void)state;
    expect_gguf_error(MIS_SCORES, "tokenizer.ggml.scores has 3 entries, but tokenizer.ggml.tokens has 4");
    expect_gguf_error(MIS_TYPES, "tokenizer.ggml.token_type has 5 entries");
    expect_gguf_error(BAD_MODEL, "tokenizer.ggml.model is 'wordpiece'");
    expect_gguf_error(BAD_PRE, "unknown pre-tokenizer 'no-such-pre'");
    expect_gguf_error(NO_TOKENS, "tokenizer.ggml.tokens");
    expect_gguf_error(NO_MERGES, "tokenizer.ggml.merges: missing");
}

/* special-token parsing switches */
static void test_parse_special_switch(void **state) {
    (void)state;
    vc_tokenizer *t = open_fixture_dir("qwen3");
    const char *text = "a<|im_end|>b";
    int32_t *ids;
    int n;
    vc_error err = {{0}};
    assert_int_equal(vc_tokenize(t, text, strlen(text), false, true, &ids, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_string_equal(vc_tokenizer_token_text(t, ids[1]), "<|im_end|>");
    assert_true(vc_tokenizer_is_special(t, ids[1]));
    free(ids);
    assert_int_equal(vc_tokenize(t, text, strlen(text), false, false, &ids, &n, &err), 0);
    assert_true(n > 3);
    for (int i = 0; i < n; i++) assert_false(vc_tokenizer_is_special(t, ids[i]));
    free(ids);
    assert_null(vc_tokenizer_token_text(t, -1));
    assert_null(vc_tokenizer_token_text(t, vc_tokenizer_vocab_size(t)));
    vc_tokenizer_free(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_invalid_utf8),       cmocka_unit_test(test_empty_text),
        cmocka_unit_test(test_one_megabyte),       cmocka_unit_test(test_bad_tokenizer_json),
        cmocka_unit_test(test_bad_gguf),           cmocka_unit_test(test_parse_special_switch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
