/* Model config from config.json (compared with what transformers' config
 * classes make of the same files: configs/expected.json) and from GGUF
 * metadata (files written by gguf-py, and the real model against gguf-py's
 * reading of it), plus bad inputs. */
#include "common/testutil.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/config.h"
#include "model/gguf.h"

#define FX "tests/fixtures/formats/"

static json_t *load_json(const char *path) {
    json_error_t jerr;
    json_t *j = json_load_file(path, 0, &jerr);
    if (!j) fail_msg("%s: %s", path, jerr.text);
    return j;
}

static int jint(json_t *o, const char *k) { return (int)json_integer_value(json_object_get(o, k)); }
static double jnum(json_t *o, const char *k) { return json_number_value(json_object_get(o, k)); }

static void test_json_against_transformers(void **state) {
    (void)state;
    json_t *all = load_json(FX "configs/expected.json");
    json_t *exp = json_object_get(all, "configs");
    const char *name;
    json_t *e;
    int n = 0;
    json_object_foreach(exp, name, e) {
        char path[256];
        snprintf(path, sizeof path, FX "configs/%s", name);
        vc_config c;
        vc_error err;
        if (vc_config_from_json(&c, path, &err)) fail_msg("%s: %s", path, err.msg);
        const char *mt = json_string_value(json_object_get(e, "model_type"));
        assert_string_equal(vc_arch_name(c.arch), mt);
        assert_int_equal(c.n_layers, jint(e, "n_layers"));
        assert_int_equal(c.dim, jint(e, "dim"));
        assert_int_equal(c.hidden_dim, jint(e, "hidden_dim"));
        assert_int_equal(c.n_heads, jint(e, "n_heads"));
        assert_int_equal(c.n_kv_heads, jint(e, "n_kv_heads"));
        assert_int_equal(c.head_dim, jint(e, "head_dim"));
        assert_int_equal(c.vocab_size, jint(e, "vocab_size"));
        assert_int_equal(c.max_seq_len, jint(e, "max_seq_len"));
        assert_true(c.rms_eps == (float)jnum(e, "rms_eps"));
        assert_true(c.rope_theta == (float)jnum(e, "rope_theta"));
        const char *rt = json_string_value(json_object_get(e, "rope_type"));
        vc_rope_scaling want = strcmp(rt, "linear") == 0   ? VC_ROPE_SCALING_LINEAR
                               : strcmp(rt, "llama3") == 0 ? VC_ROPE_SCALING_LLAMA3
                                                           : VC_ROPE_SCALING_NONE;
        if (strcmp(rt, "default") != 0 && want == VC_ROPE_SCALING_NONE) fail_msg("%s: rope type %s", name, rt);
        assert_int_equal(c.rope_scaling, want);
        if (want != VC_ROPE_SCALING_NONE) assert_true(c.rope_factor == (float)jnum(e, "rope_factor"));
        if (want == VC_ROPE_SCALING_LLAMA3) {
            assert_true(c.rope_low_freq_factor == (float)jnum(e, "rope_low_freq_factor"));
            assert_true(c.rope_high_freq_factor == (float)jnum(e, "rope_high_freq_factor"));
            assert_int_equal(c.rope_orig_max_pos, jint(e, "rope_orig_max_pos"));
        }
        assert_int_equal(c.sliding_window, jint(e, "sliding_window"));
        assert_int_equal(c.tied_embeddings, json_is_true(json_object_get(e, "tied_embeddings")));
        assert_int_equal(c.bos_id, jint(e, "bos_id"));
        assert_int_equal(c.eos_id, jint(e, "eos_id"));
        /* layout flags: HF checkpoints rotate NeoX halves; family flags */
        assert_true(c.rope_neox);
        assert_int_equal(c.attn_qkv_bias, c.arch == VC_ARCH_QWEN2);
        assert_int_equal(c.qk_norm, c.arch == VC_ARCH_QWEN3);
        n++;
    }
    assert_true(n >= 8);
    json_decref(all);
}

static vc_gguf *open_gguf(const char *path) {
    vc_gguf *g = NULL;
    vc_error err;
    if (vc_gguf_open(&g, path, &err)) fail_msg("%s", err.msg);
    return g;
}

/* The real model: every number against gguf-py's reading of the file. */
static void test_gguf_real_model(void **state) {
    (void)state;
    if (!tu_exists(TU_REAL_MODEL)) fail_msg("%s missing: run scripts/fetch-model.sh", TU_REAL_MODEL);
    json_t *facts = load_json(FX "smollm2_facts.json");
    json_t *sc = json_object_get(facts, "scalars");
#define FACT(k) json_object_get(json_object_get(sc, k), "value")
    vc_gguf *g = open_gguf(TU_REAL_MODEL);
    vc_config c;
    vc_error err;
    if (vc_config_from_gguf(&c, g, &err)) fail_msg("%s", err.msg);
    assert_string_equal(vc_arch_name(c.arch), json_string_value(FACT("general.architecture")));
    assert_int_equal(c.n_layers, json_integer_value(FACT("llama.block_count")));
    assert_int_equal(c.dim, json_integer_value(FACT("llama.embedding_length")));
    assert_int_equal(c.hidden_dim, json_integer_value(FACT("llama.feed_forward_length")));
    assert_int_equal(c.n_heads, json_integer_value(FACT("llama.attention.head_count")));
    assert_int_equal(c.n_kv_heads, json_integer_value(FACT("llama.attention.head_count_kv")));
    assert_int_equal(c.head_dim, c.dim / c.n_heads);
    assert_int_equal(c.max_seq_len, json_integer_value(FACT("llama.context_length")));
    assert_true(c.rms_eps == (float)json_real_value(FACT("llama.attention.layer_norm_rms_epsilon")));
    assert_true(c.rope_theta == (float)json_real_value(FACT("llama.rope.freq_base")));
    assert_int_equal(c.vocab_size, json_integer_value(json_object_get(json_object_get(facts, "tokens"), "n")));
    assert_int_equal(c.bos_id, json_integer_value(FACT("tokenizer.ggml.bos_token_id")));
    assert_int_equal(c.eos_id, json_integer_value(FACT("tokenizer.ggml.eos_token_id")));
    assert_int_equal(c.tied_embeddings, !json_is_true(json_object_get(facts, "has_output_weight")));
    assert_false(c.rope_neox);
    assert_int_equal(c.rope_scaling, VC_ROPE_SCALING_NONE);
    assert_int_equal(c.sliding_window, 0);
    assert_false(c.attn_qkv_bias);
    assert_false(c.qk_norm);
#undef FACT
    vc_gguf_free(g);
    json_decref(facts);
}

/* arch_*.gguf: written by gguf-py with the values in scripts/gen_format_fixtures.py */
static void test_gguf_arches(void **state) {
    (void)state;
    vc_config c;
    vc_error err;
    vc_gguf *g = open_gguf(FX "arch_qwen2.gguf");
    if (vc_config_from_gguf(&c, g, &err)) fail_msg("%s", err.msg);
    assert_int_equal(c.arch, VC_ARCH_QWEN2);
    assert_int_equal(c.n_layers, 2);
    assert_int_equal(c.dim, 16);
    assert_int_equal(c.hidden_dim, 32);
    assert_int_equal(c.n_heads, 4);
    assert_int_equal(c.n_kv_heads, 2);
    assert_int_equal(c.head_dim, 4);
    assert_int_equal(c.vocab_size, 40);
    assert_int_equal(c.max_seq_len, 4096);
    assert_true(c.rope_theta == 1000000.0f);
    assert_true(c.rms_eps == 1e-6f);
    assert_true(c.rope_neox);
    assert_true(c.attn_qkv_bias);
    assert_false(c.qk_norm);
    assert_true(c.tied_embeddings);     /* no output.weight */
    assert_int_equal(c.bos_id, 3);
    assert_int_equal(c.eos_id, 5);
    vc_gguf_free(g);

    g = open_gguf(FX "arch_qwen3.gguf");
    if (vc_config_from_gguf(&c, g, &err)) fail_msg("%s", err.msg);
    assert_int_equal(c.arch, VC_ARCH_QWEN3);
    assert_int_equal(c.head_dim, 8);    /* qwen3.attention.key_length, not dim / heads */
    assert_true(c.rope_neox);
    assert_true(c.qk_norm);
    assert_false(c.attn_qkv_bias);
    assert_false(c.tied_embeddings);
    vc_gguf_free(g);

    g = open_gguf(FX "arch_mistral.gguf");   /* llama.cpp writes mistral as "llama" */
    if (vc_config_from_gguf(&c, g, &err)) fail_msg("%s", err.msg);
    assert_int_equal(c.arch, VC_ARCH_LLAMA);
    assert_false(c.rope_neox);
    assert_int_equal(c.rope_scaling, VC_ROPE_SCALING_LINEAR);
    assert_true(c.rope_factor == 4.0f);
    assert_int_equal(c.sliding_window, 4096);
    assert_false(c.tied_embeddings);
    vc_gguf_free(g);

    g = open_gguf(FX "arch_mistral_named.gguf");
    if (vc_config_from_gguf(&c, g, &err)) fail_msg("%s", err.msg);
    assert_int_equal(c.arch, VC_ARCH_MISTRAL);
    assert_false(c.rope_neox);
    assert_true(c.rope_theta == 10000.0f);     /* default */
    vc_gguf_free(g);
}

/* ---- bad config.json ------------------------------------------------------ */

static const char *BASE =
    "{\"architectures\": [\"LlamaForCausalLM\"], \"hidden_size\": 64, \"intermediate_size\": 128,"
    " \"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"vocab_size\": 100, \"max_position_embeddings\": 512}";

/* Writes text to a temp config.json and expects an error naming the file
 * and every wanted substring. */
static void expect_bad_json_at(int line, const char *text, const char *const *want) {
    char path[] = "/tmp/vllmc_test_config_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    vc_config c;
    vc_error err = {{0}};
    int rc = vc_config_from_json(&c, path, &err);
    unlink(path);
    if (rc == 0) fail_msg("line %d: accepted: %s", line, text);
    if (getenv("VLLMC_TEST_VERBOSE")) printf("  rejected: %s\n", err.msg);
    if (!strstr(err.msg, path)) fail_msg("line %d: message does not name the file: %s", line, err.msg);
    for (; *want; want++)
        if (!strstr(err.msg, *want)) fail_msg("line %d: message lacks '%s': %s", line, *want, err.msg);
}
#define BAD(text, ...) expect_bad_json_at(__LINE__, text, (const char *const[]){__VA_ARGS__, NULL})

/* BASE with one field's text replaced (or removed when repl is ""). */
static char *base_with(const char *field, const char *repl) {
    static char buf[1024];
    const char *at = strstr(BASE, field);
    assert_non_null(at);
    const char *end = strpbrk(at + strlen(field), ",}");
    snprintf(buf, sizeof buf, "%.*s%s%s", (int)(at - BASE), BASE, repl, end + (repl[0] == 0 && *end == ',' ? 1 : 0));
    return buf;
}

static void test_bad_json(void **state) {
    (void)state;
    /* the base is valid */
    char path[] = "/tmp/vllmc_test_config_XXXXXX";
    int fd = mkstemp(path);
    assert_int_equal(write(fd, BASE, strlen(BASE)), (ssize_t)strlen(BASE));
    close(fd);
    vc_config c;
    vc_error err;
    assert_int_equal(vc_config_from_json(&c, path, &err), 0);
    unlink(path);
    assert_int_equal(c.head_dim, 16);

    const char *required[] = {"\"hidden_size\"", "\"intermediate_size\"", "\"num_hidden_layers\"",
                              "\"num_attention_heads\"", "\"vocab_size\""};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
        char field[64];
        snprintf(field, sizeof field, "field '%.*s' missing", (int)strlen(required[i]) - 2, required[i] + 1);
        BAD(base_with(required[i], ""), field, "expected an integer");
        snprintf(field, sizeof field, "field '%.*s' is not an integer", (int)strlen(required[i]) - 2,
                 required[i] + 1);
        char repl[64];
        snprintf(repl, sizeof repl, "%s: \"64\"", required[i]);
        BAD(base_with(required[i], repl), field);
    }
    BAD(base_with("\"architectures\"", ""), "'architectures' and 'model_type' missing");
    BAD(base_with("\"architectures\"", "\"architectures\": [\"GPT2LMHeadModel\"]"), "'GPT2LMHeadModel' not supported",
        "expected LlamaForCausalLM");
    BAD(base_with("\"architectures\"", "\"model_type\": \"phi3\""), "field 'model_type': 'phi3' not supported");
    BAD("not json", "expected a JSON object");
    BAD("[1, 2]", "not a JSON object");
    BAD("", "expected a JSON object");
    BAD(base_with("\"vocab_size\"", "\"vocab_size\": 100, \"vocab_size\": 101"), "duplicate");
    BAD(base_with("\"hidden_size\"", "\"hidden_size\": 99999999999"), "'hidden_size'", "does not fit an int");
    /* wrong types of optional fields */
    BAD(base_with("\"vocab_size\"", "\"vocab_size\": 100, \"rope_theta\": \"big\""), "'rope_theta' is not a number");
    BAD(base_with("\"vocab_size\"", "\"vocab_size\": 100, \"rms_norm_eps\": [1]"), "'rms_norm_eps' is not a number");
    BAD(base_with("\"vocab_size\"", "\"vocab_size\": 100, \"tie_word_embeddings\": \"yes\""),
        "'tie_word_embeddings' is not a boolean");
    BAD(base_with("\"vocab_size\"", "\"vocab_size\": 100, \"eos_token_id\": \"</s>\""), "'eos_token_id'",
        "expected a token id");
    BAD(base_with("\"vocab_size\"", "\"vocab_size\": 100, \"rope_scaling\": 3"), "'rope_scaling' is not an object");
    /* rope scaling */
    BAD(base_with("\"vocab_size\"", "\"vocab_size\": 100, \"rope_scaling\": {\"type\": \"yarn\", \"factor\": 4}"),
        "rope type 'yarn' not supported", "expected default, linear or llama3");
    BAD(base_with("\"vocab_size\"", "\"vocab_size\": 100, \"rope_scaling\": {\"rope_type\": \"dynamic\"}"),
        "'dynamic' not supported");
    BAD(base_with("\"vocab_size\"", "\"vocab_size\": 100, \"rope_scaling\": {\"rope_type\": \"linear\"}"),
        "'rope_scaling.factor' missing");
    BAD(base_with("\"vocab_size\"", "\"vocab_size\": 100, \"rope_parameters\": {\"rope_type\": \"llama3\", "
                                    "\"factor\": 8, \"high_freq_factor\": 4}"),
        "'rope_parameters.low_freq_factor' missing");
    BAD(base_with("\"vocab_size\"", "\"vocab_size\": 100, \"rope_scaling\": {\"rope_type\": \"llama3\", "
                                    "\"factor\": 8, \"low_freq_factor\": 4, \"high_freq_factor\": 1}"),
        "expected 0 < low < high");
    BAD(base_with("\"vocab_size\"", "\"vocab_size\": 100, \"rope_theta\": -1"), "field 'rope_theta'", "rope_theta -1");
    /* sanity limits */
    BAD(base_with("\"num_hidden_layers\"", "\"num_hidden_layers\": 0"), "field 'num_hidden_layers' (n_layers) = 0", "expected 1 .. 1024");
    BAD(base_with("\"num_hidden_layers\"", "\"num_hidden_layers\": 2000"), "(n_layers) = 2000");
    BAD(base_with("\"hidden_size\"", "\"hidden_size\": -64"), "field 'hidden_size' (dim) = -64");
    BAD(base_with("\"num_attention_heads\"", "\"num_attention_heads\": 0"), "'num_attention_heads' = 0");
    BAD(base_with("\"vocab_size\"", "\"vocab_size\": 100, \"num_key_value_heads\": 3"),
        "field 'num_key_value_heads'", "n_heads 4 is not a multiple of n_kv_heads 3");
    BAD(base_with("\"vocab_size\"", "\"vocab_size\": 100, \"head_dim\": 15"), "field 'head_dim'", "head_dim 15 is odd");
    BAD(base_with("\"vocab_size\"", "\"vocab_size\": 100, \"eos_token_id\": 100"), "'eos_token_id'", "eos_id 100", "vocabulary of 100");
    BAD(base_with("\"vocab_size\"", "\"vocab_size\": 100, \"rms_norm_eps\": 0"), "field 'rms_norm_eps'", "rms_eps 0");
    /* features the forward does not have */
    BAD(base_with("\"vocab_size\"", "\"vocab_size\": 100, \"attention_bias\": true"), "'attention_bias' = true");
    BAD(base_with("\"vocab_size\"", "\"vocab_size\": 100, \"mlp_bias\": true"), "'mlp_bias' = true");
    BAD("{\"architectures\": [\"Qwen2ForCausalLM\"], \"hidden_size\": 64, \"intermediate_size\": 128,"
        " \"num_hidden_layers\": 4, \"num_attention_heads\": 4, \"num_key_value_heads\": 2, \"vocab_size\": 100,"
        " \"use_sliding_window\": true, \"sliding_window\": 32, \"max_window_layers\": 2}",
        "field 'max_window_layers'", "sliding window on 2 of 4 layers", "expected all layers or none");
    BAD("{\"architectures\": [\"Qwen3ForCausalLM\"], \"hidden_size\": 64, \"intermediate_size\": 128,"
        " \"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"num_key_value_heads\": 2, \"vocab_size\": 100,"
        " \"use_sliding_window\": true, \"sliding_window\": 32,"
        " \"layer_types\": [\"full_attention\", \"sliding_attention\"]}",
        "field 'layer_types'", "sliding window on 1 of 2 layers");
    BAD("{\"architectures\": [\"Qwen3ForCausalLM\"], \"hidden_size\": 64, \"intermediate_size\": 128,"
        " \"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"num_key_value_heads\": 2, \"vocab_size\": 100,"
        " \"use_sliding_window\": true, \"sliding_window\": 32, \"layer_types\": [\"full_attention\"]}",
        "field 'layer_types'", "expected a list of 2 layer types");
    BAD(base_with("\"vocab_size\"", "\"vocab_size\": 100, \"rope_parameters\": {\"full_attention\": "
                                    "{\"rope_type\": \"default\", \"rope_theta\": 10000}}"),
        "field 'rope_parameters.full_attention'", "per layer type are not supported");
}

static void test_json_edge_values(void **state) {
    (void)state;
    /* eos as a list, bos null, qwen2 sliding window on every layer, rope_parameters winning over rope_theta */
    const char *text =
        "{\"architectures\": [\"Qwen2ForCausalLM\"], \"hidden_size\": 64, \"intermediate_size\": 128,"
        " \"num_hidden_layers\": 4, \"num_attention_heads\": 4, \"num_key_value_heads\": 2, \"vocab_size\": 100,"
        " \"use_sliding_window\": true, \"sliding_window\": 32, \"max_window_layers\": 0,"
        " \"bos_token_id\": null, \"eos_token_id\": [7, 8], \"rope_theta\": 5.0,"
        " \"rope_parameters\": {\"rope_type\": \"default\", \"rope_theta\": 7.0}}";
    char path[] = "/tmp/vllmc_test_config_XXXXXX";
    int fd = mkstemp(path);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    vc_config c;
    vc_error err;
    int rc = vc_config_from_json(&c, path, &err);
    unlink(path);
    if (rc) fail_msg("%s", err.msg);
    assert_int_equal(c.bos_id, -1);
    assert_int_equal(c.eos_id, 7);
    assert_int_equal(c.sliding_window, 32);
    assert_true(c.rope_theta == 7.0f);
    assert_true(c.attn_qkv_bias);
}

/* ---- bad GGUF metadata ---------------------------------------------------- */

static void expect_bad_gguf_cfg_at(int line, const uint8_t *p, size_t n, const char *const *want) {
    char path[] = "/tmp/vllmc_test_config_XXXXXX";
    int fd = mkstemp(path);
    assert_int_equal(write(fd, p, n), (ssize_t)n);
    close(fd);
    vc_gguf *g = NULL;
    vc_error err;
    if (vc_gguf_open(&g, path, &err)) fail_msg("line %d: gguf open failed: %s", line, err.msg);
    vc_config c;
    int rc = vc_config_from_gguf(&c, g, &err);
    vc_gguf_free(g);
    unlink(path);
    if (rc == 0) fail_msg("line %d: accepted", line);
    if (getenv("VLLMC_TEST_VERBOSE")) printf("  rejected: %s\n", err.msg);
    if (!strstr(err.msg, path)) fail_msg("line %d: message does not name the file: %s", line, err.msg);
    for (; *want; want++)
        if (!strstr(err.msg, *want)) fail_msg("line %d: message lacks '%s': %s", line, *want, err.msg);
}
#define BAD_GGUF(p, n, ...) expect_bad_gguf_cfg_at(__LINE__, p, n, (const char *const[]){__VA_ARGS__, NULL})

/* offset just after key's string (its value type field) */
static size_t key_end(const uint8_t *p, size_t n, const char *key) {
    size_t kl = strlen(key);
    for (size_t i = 0; i + 8 + kl <= n; i++) {
        uint64_t len;
        memcpy(&len, p + i, 8);
        if (len == kl && memcmp(p + i + 8, key, kl) == 0) return i + 8 + kl;
    }
    fail_msg("no key %s", key);
    return 0;
}

static void test_bad_gguf_metadata(void **state) {
    (void)state;
    size_t n;
    uint8_t *orig = (uint8_t *)tu_read_file(FX "arch_qwen2.gguf", &n);
    assert_non_null(orig);
    uint8_t *c = malloc(n);
    uint32_t t;
    /* unsupported architecture (general.architecture value "qwen2" -> "qwen9") */
    memcpy(c, orig, n);
    size_t at = key_end(orig, n, "general.architecture");
    c[at + 4 + 8 + 4] = '9';
    BAD_GGUF(c, n, "'general.architecture': 'qwen9' not supported", "expected llama, mistral, qwen2 or qwen3");
    /* a required key of the wrong type: block_count as FLOAT32 */
    memcpy(c, orig, n);
    at = key_end(orig, n, "qwen2.block_count");
    t = VC_GGUF_FLOAT32;
    memcpy(c + at, &t, 4);
    BAD_GGUF(c, n, "key 'qwen2.block_count'", "FLOAT32", "expected an integer");
    /* a required key missing: rename it */
    memcpy(c, orig, n);
    at = key_end(orig, n, "qwen2.context_length");
    c[at - 1] = 'X';
    BAD_GGUF(c, n, "key 'qwen2.context_length' not found");
    memcpy(c, orig, n);
    at = key_end(orig, n, "qwen2.attention.layer_norm_rms_epsilon");
    c[at - 1] = 'X';
    BAD_GGUF(c, n, "key 'qwen2.attention.layer_norm_rms_epsilon' not found", "expected a float");
    /* nonsense values */
    memcpy(c, orig, n);
    at = key_end(orig, n, "qwen2.attention.head_count_kv");
    t = 3;
    memcpy(c + at + 4, &t, 4);
    BAD_GGUF(c, n, "key 'qwen2.attention.head_count_kv'", "n_heads 4 is not a multiple of n_kv_heads 3");
    memcpy(c, orig, n);
    at = key_end(orig, n, "qwen2.block_count");
    t = 5000;
    memcpy(c + at + 4, &t, 4);
    BAD_GGUF(c, n, "key 'qwen2.block_count' (n_layers) = 5000", "expected 1 .. 1024");
    memcpy(c, orig, n);
    at = key_end(orig, n, "tokenizer.ggml.eos_token_id");
    t = 40;
    memcpy(c + at + 4, &t, 4);
    BAD_GGUF(c, n, "tokenizer.ggml.bos_token_id", "eos_id 40", "vocabulary of 40");
    /* token list and embedding disagree: drop one token from the count */
    memcpy(c, orig, n);
    at = key_end(orig, n, "tokenizer.ggml.tokens");   /* u32 ARRAY | u32 STRING | u64 n */
    uint64_t nt = 39;
    memcpy(c + at + 8, &nt, 8);
    /* the file is now misparsed after the array; only accept a clean error */
    vc_gguf *g = NULL;
    vc_error err;
    char path[] = "/tmp/vllmc_test_config_XXXXXX";
    int fd = mkstemp(path);
    assert_int_equal(write(fd, c, n), (ssize_t)n);
    close(fd);
    if (vc_gguf_open(&g, path, &err) == 0) {
        vc_config cfg;
        assert_int_equal(vc_config_from_gguf(&cfg, g, &err), -1);
        vc_gguf_free(g);
    }
    unlink(path);
    free(c);
    free(orig);

    /* a GGUF with no llama.* keys at all */
    g = open_gguf(FX "all_types.gguf");
    vc_config cfg;
    assert_int_equal(vc_config_from_gguf(&cfg, g, &err), -1);
    assert_non_null(strstr(err.msg, "key 'llama.block_count' not found"));
    vc_gguf_free(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_against_transformers),
        cmocka_unit_test(test_gguf_real_model),
        cmocka_unit_test(test_gguf_arches),
        cmocka_unit_test(test_bad_json),
        cmocka_unit_test(test_json_edge_values),
        cmocka_unit_test(test_bad_gguf_metadata),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
