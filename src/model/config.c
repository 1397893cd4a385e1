/* Model hyperparameters from GGUF metadata (llama.cpp's key names) or a
 * Hugging Face config.json (transformers' field names and per-class
 * defaults, as in transformers 5: configuration_{llama,mistral,qwen2,qwen3}.py).
 * Both paths end in the same sanity check. */
#include "model/config.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "model/gguf.h"

const char *vc_arch_name(vc_arch a) {
    switch (a) {
    case VC_ARCH_LLAMA: return "llama";
    case VC_ARCH_MISTRAL: return "mistral";
    case VC_ARCH_QWEN2: return "qwen2";
    case VC_ARCH_QWEN3: return "qwen3";
    }
    return "?";
}

static void config_defaults(vc_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->rope_theta = 10000.0f;
    cfg->rope_factor = 1.0f;
    cfg->bos_id = -1;
    cfg->eos_id = -1;
}

/* Where each checked value came from, for messages: "field 'x'" in a
 * config.json, "key 'arch.x'" in a GGUF file. */
typedef struct field_labels {
    char n_layers[96], dim[96], hidden_dim[96], n_heads[96], n_kv_heads[96], head_dim[96], vocab_size[96],
        max_seq_len[96], sliding_window[96], rms_eps[96], rope_theta[96], rope[96], bos_eos[96];
} field_labels;

static void labels_json(field_labels *l) {
    snprintf(l->n_layers, sizeof l->n_layers, "field 'num_hidden_layers'");
    snprintf(l->dim, sizeof l->dim, "field 'hidden_size'");
    snprintf(l->hidden_dim, sizeof l->hidden_dim, "field 'intermediate_size'");
    snprintf(l->n_heads, sizeof l->n_heads, "field 'num_attention_heads'");
    snprintf(l->n_kv_heads, sizeof l->n_kv_heads, "field 'num_key_value_heads'");
    snprintf(l->head_dim, sizeof l->head_dim, "field 'head_dim'");
    snprintf(l->vocab_size, sizeof l->vocab_size, "field 'vocab_size'");
    snprintf(l->max_seq_len, sizeof l->max_seq_len, "field 'max_position_embeddings'");
    snprintf(l->sliding_window, sizeof l->sliding_window, "field 'sliding_window'");
    snprintf(l->rms_eps, sizeof l->rms_eps, "field 'rms_norm_eps'");
    snprintf(l->rope_theta, sizeof l->rope_theta, "field 'rope_theta'");
    snprintf(l->rope, sizeof l->rope, "field 'rope_scaling' or 'rope_parameters'");
    snprintf(l->bos_eos, sizeof l->bos_eos, "fields 'bos_token_id'/'eos_token_id'");
}

static void labels_gguf(field_labels *l, const char *arch) {
    snprintf(l->n_layers, sizeof l->n_layers, "key '%s.block_count'", arch);
    snprintf(l->dim, sizeof l->dim, "key '%s.embedding_length'", arch);
    snprintf(l->hidden_dim, sizeof l->hidden_dim, "key '%s.feed_forward_length'", arch);
    snprintf(l->n_heads, sizeof l->n_heads, "key '%s.attention.head_count'", arch);
    snprintf(l->n_kv_heads, sizeof l->n_kv_heads, "key '%s.attention.head_count_kv'", arch);
    snprintf(l->head_dim, sizeof l->head_dim, "key '%s.attention.key_length'", arch);
    snprintf(l->vocab_size, sizeof l->vocab_size, "key 'tokenizer.ggml.tokens'");
    snprintf(l->max_seq_len, sizeof l->max_seq_len, "key '%s.context_length'", arch);
    snprintf(l->sliding_window, sizeof l->sliding_window, "key '%s.attention.sliding_window'", arch);
    snprintf(l->rms_eps, sizeof l->rms_eps, "key '%s.attention.layer_norm_rms_epsilon'", arch);
    snprintf(l->rope_theta, sizeof l->rope_theta, "key '%s.rope.freq_base'", arch);
    snprintf(l->rope, sizeof l->rope, "key '%s.rope.scaling.factor'", arch);
    snprintf(l->bos_eos, sizeof l->bos_eos, "keys 'tokenizer.ggml.bos_token_id'/'eos_token_id'");
}

/* Limits that keep later size arithmetic in range and catch nonsense early.
 * src names the file for the message. */
static int config_check(const vc_config *c, const char *src, const field_labels *l, vc_error *err) {
#define RANGE(field, lo, hi)                                                                             \
    if (c->field < (lo) || c->field > (hi))                                                              \
        return vc_errorf(err, "%s: %s (%s) = %d (expected %d .. %d)", src, l->field, #field, c->field, (lo), (hi));
    RANGE(n_layers, 1, 1024)
    RANGE(dim, 1, 1 << 16)
    RANGE(hidden_dim, 1, 1 << 18)
    RANGE(n_heads, 1, 1024)
    RANGE(n_kv_heads, 1, 1024)
    RANGE(head_dim, 2, 1024)
    RANGE(vocab_size, 1, 1 << 24)
    RANGE(max_seq_len, 1, 1 << 24)
    RANGE(sliding_window, 0, 1 << 24)
#undef RANGE
    if (c->n_heads % c->n_kv_heads != 0)
        return vc_errorf(err, "%s: %s: n_heads %d is not a multiple of n_kv_heads %d (expected grouped-query heads)",
                         src, l->n_kv_heads, c->n_heads, c->n_kv_heads);
    if (c->head_dim % 2 != 0)
        return vc_errorf(err, "%s: %s: head_dim %d is odd (expected an even size for rotary embeddings)", src,
                         l->head_dim, c->head_dim);
    if (!(c->rms_eps > 0.0f) || !isfinite(c->rms_eps) || c->rms_eps > 1.0f)
        return vc_errorf(err, "%s: %s: rms_eps %g (expected a small positive number)", src, l->rms_eps,
                         (double)c->rms_eps);
    if (!(c->rope_theta > 0.0f) || !isfinite(c->rope_theta))
        return vc_errorf(err, "%s: %s: rope_theta %g (expected a positive number)", src, l->rope_theta,
                         (double)c->rope_theta);
    if (c->rope_scaling != VC_ROPE_SCALING_NONE && (!(c->rope_factor > 0.0f) || !isfinite(c->rope_factor)))
        return vc_errorf(err, "%s: %s: rope scaling factor %g (expected a positive number)", src, l->rope,
                         (double)c->rope_factor);
    if (c->rope_scaling == VC_ROPE_SCALING_LLAMA3) {
        if (!(c->rope_low_freq_factor > 0.0f) || !(c->rope_high_freq_factor > c->rope_low_freq_factor))
            return vc_errorf(err, "%s: %s: llama3 rope low_freq_factor %g, high_freq_factor %g (expected 0 < low < high)",
                             src, l->rope, (double)c->rope_low_freq_factor, (double)c->rope_high_freq_factor);
        if (c->rope_orig_max_pos <= 0)
            return vc_errorf(err, "%s: %s: llama3 rope original_max_position_embeddings %d (expected > 0)", src,
                             l->rope, c->rope_orig_max_pos);
    }
    if (c->bos_id >= c->vocab_size || c->eos_id >= c->vocab_size)
        return vc_errorf(err, "%s: %s: bos_id %d / eos_id %d outside the vocabulary of %d (expected < vocab_size)",
                         src, l->bos_eos, c->bos_id, c->eos_id, c->vocab_size);
    return 0;
}

/* ---- GGUF ---------------------------------------------------------------- */

/* An integer key into an int field, range-checked to int. */
static int gguf_int(const vc_gguf *g, const char *key, int *out, vc_error *err) {
    int64_t v;
    if (vc_gguf_get_i64(g, key, &v, err)) return -1;
    if (v < -2147483647 - 1 || v > 2147483647)
        return vc_errorf(err, "%s: key '%s': value %lld does not fit an int", vc_gguf_path(g), key, (long long)v);
    *out = (int)v;
    return 0;
}

/* The same for an optional key: absent leaves *out unchanged. */
static int gguf_int_opt(const vc_gguf *g, const char *key, int *out, vc_error *err) {
    return vc_gguf_find(g, key) ? gguf_int(g, key, out, err) : 0;
}

static int gguf_float_opt(const vc_gguf *g, const char *key, float *out, vc_error *err) {
    if (!vc_gguf_find(g, key)) return 0;
    double v;
    if (vc_gguf_get_f64(g, key, &v, err)) return -1;
    *out = (float)v;
    return 0;
}

int vc_config_from_gguf(vc_config *cfg, const vc_gguf *g, vc_error *err) {
    config_defaults(cfg);
    const char *path = vc_gguf_path(g);
    vc_str archs;
    if (vc_gguf_get_str(g, "general.architecture", &archs, err)) return -1;
    char arch[32];
    if (archs.len >= sizeof arch) archs.len = sizeof arch - 1;
    memcpy(arch, archs.ptr, archs.len);
    arch[archs.len] = 0;
    if (strcmp(arch, "llama") == 0) cfg->arch = VC_ARCH_LLAMA;
    else if (strcmp(arch, "mistral") == 0) cfg->arch = VC_ARCH_MISTRAL;
    else if (strcmp(arch, "qwen2") == 0) cfg->arch = VC_ARCH_QWEN2;
    else if (strcmp(arch, "qwen3") == 0) cfg->arch = VC_ARCH_QWEN3;
    else
        return vc_errorf(err, "%s: key 'general.architecture': '%s' not supported (expected llama, mistral, qwen2 or qwen3)",
                         path, arch);
    char key[128];
#define K(suffix) (snprintf(key, sizeof key, "%s." suffix, arch), key)
    if (gguf_int(g, K("block_count"), &cfg->n_layers, err) ||
        gguf_int(g, K("embedding_length"), &cfg->dim, err) ||
        gguf_int(g, K("feed_forward_length"), &cfg->hidden_dim, err) ||
        gguf_int(g, K("attention.head_count"), &cfg->n_heads, err) ||
        gguf_int(g, K("context_length"), &cfg->max_seq_len, err))
        return -1;
    double eps;
    if (vc_gguf_get_f64(g, K("attention.layer_norm_rms_epsilon"), &eps, err)) return -1;
    cfg->rms_eps = (float)eps;
    cfg->n_kv_heads = cfg->n_heads;
    if (gguf_int_opt(g, K("attention.head_count_kv"), &cfg->n_kv_heads, err)) return -1;
    cfg->head_dim = cfg->n_heads > 0 ? cfg->dim / cfg->n_heads : 0;
    if (gguf_int_opt(g, K("attention.key_length"), &cfg->head_dim, err)) return -1;
    int value_len = cfg->head_dim;
    if (gguf_int_opt(g, K("attention.value_length"), &value_len, err)) return -1;
    if (value_len != cfg->head_dim)
        return vc_errorf(err, "%s: key '%s': %d differs from the key length %d (expected equal)", path, key,
                         value_len, cfg->head_dim);
    if (gguf_float_opt(g, K("rope.freq_base"), &cfg->rope_theta, err)) return -1;
    if (gguf_int_opt(g, K("attention.sliding_window"), &cfg->sliding_window, err)) return -1;

    /* rope scaling: "<arch>.rope.scaling.type" (+ .factor), or the older
     * "<arch>.rope.scale_linear" */
    const vc_gguf_kv *st = vc_gguf_find(g, K("rope.scaling.type"));
    if (st) {
        vc_str s;
        if (vc_gguf_get_str(g, key, &s, err)) return -1;
        if (s.len == 6 && memcmp(s.ptr, "linear", 6) == 0) cfg->rope_scaling = VC_ROPE_SCALING_LINEAR;
        else if (!(s.len == 4 && memcmp(s.ptr, "none", 4) == 0))
            return vc_errorf(err, "%s: key '%s': '%.*s' not supported (expected none or linear)", path, key,
                             (int)(s.len > 64 ? 64 : s.len), s.ptr);
        if (cfg->rope_scaling == VC_ROPE_SCALING_LINEAR) {
            if (!vc_gguf_find(g, K("rope.scaling.factor")))
                return vc_errorf(err, "%s: key '%s' not found (expected with linear rope scaling)", path, key);
            if (gguf_float_opt(g, key, &cfg->rope_factor, err)) return -1;
        }
    } else if (vc_gguf_find(g, K("rope.scale_linear"))) {
        cfg->rope_scaling = VC_ROPE_SCALING_LINEAR;
        if (gguf_float_opt(g, key, &cfg->rope_factor, err)) return -1;
    }
#undef K

    /* vocabulary: the token list, cross-checked with the embedding matrix */
    const vc_gguf_kv *toks = vc_gguf_find(g, "tokenizer.ggml.tokens");
    const vc_tensor *embd = vc_gguf_tensor(g, "token_embd.weight");
    if (toks) {
        if (toks->val.type != VC_GGUF_ARRAY || toks->val.arr.elem_type != VC_GGUF_STRING)
            return vc_errorf(err, "%s: key 'tokenizer.ggml.tokens': expected an array of strings", path);
        if (toks->val.arr.n > (1u << 24))
            return vc_errorf(err, "%s: key 'tokenizer.ggml.tokens': %llu tokens (expected at most 2^24)", path,
                             (unsigned long long)toks->val.arr.n);
        cfg->vocab_size = (int)toks->val.arr.n;
        if (embd && embd->ne[1] != cfg->vocab_size)
            return vc_errorf(err, "%s: tensor 'token_embd.weight': %lld rows but %d tokens in 'tokenizer.ggml.tokens' "
                             "(expected equal)", path, (long long)embd->ne[1], cfg->vocab_size);
    } else if (embd) {
        if (embd->ne[1] > (1 << 24))
            return vc_errorf(err, "%s: tensor 'token_embd.weight': %lld rows (expected at most 2^24)", path,
                             (long long)embd->ne[1]);
        cfg->vocab_size = (int)embd->ne[1];
    } else {
        return vc_errorf(err, "%s: neither key 'tokenizer.ggml.tokens' nor tensor 'token_embd.weight' "
                         "(expected one to give the vocabulary size)", path);
    }
    if (gguf_int_opt(g, "tokenizer.ggml.bos_token_id", &cfg->bos_id, err) ||
        gguf_int_opt(g, "tokenizer.ggml.eos_token_id", &cfg->eos_id, err))
        return -1;

    /* llama.cpp's converter permutes llama/mistral q/k rows so rotation pairs
     * are adjacent; qwen2/qwen3 files keep the HF (NeoX) halves. */
    cfg->rope_neox = cfg->arch == VC_ARCH_QWEN2 || cfg->arch == VC_ARCH_QWEN3;
    cfg->attn_qkv_bias = cfg->arch == VC_ARCH_QWEN2 || vc_gguf_tensor(g, "blk.0.attn_q.bias") != NULL;
    cfg->qk_norm = cfg->arch == VC_ARCH_QWEN3;
    cfg->tied_embeddings = vc_gguf_tensor(g, "output.weight") == NULL;
    field_labels labels;
    labels_gguf(&labels, arch);
    return config_check(cfg, path, &labels, err);
}

/* ---- config.json ------------------------------------------------------------ */

typedef struct json_src {
    const char *path;
    vc_error *err;
} json_src;

/* Required integer field. */
static int j_int(const json_src *s, json_t *o, const char *field, int *out) {
    json_t *v = json_object_get(o, field);
    if (!v) return vc_errorf(s->err, "%s: field '%s' missing (expected an integer)", s->path, field);
    if (!json_is_integer(v)) return vc_errorf(s->err, "%s: field '%s' is not an integer", s->path, field);
    json_int_t x = json_integer_value(v);
    if (x < -2147483647 - 1 || x > 2147483647)
        return vc_errorf(s->err, "%s: field '%s' = %lld does not fit an int", s->path, field, (long long)x);
    *out = (int)x;
    return 0;
}

/* Optional integer: absent or null leaves *out unchanged. */
static int j_int_opt(const json_src *s, json_t *o, const char *field, int *out) {
    json_t *v = json_object_get(o, field);
    return v && !json_is_null(v) ? j_int(s, o, field, out) : 0;
}

/* Optional number (integer or real). */
static int j_num_opt(const json_src *s, json_t *o, const char *field, float *out) {
    json_t *v = json_object_get(o, field);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_number(v)) return vc_errorf(s->err, "%s: field '%s' is not a number", s->path, field);
    *out = (float)json_number_value(v);
    return 0;
}

static int j_num_req(const json_src *s, json_t *o, const char *where, const char *field, float *out) {
    json_t *v = json_object_get(o, field);
    if (!v || json_is_null(v))
        return vc_errorf(s->err, "%s: field '%s.%s' missing (expected a number)", s->path, where, field);
    return j_num_opt(s, o, field, out);
}

static int j_bool_opt(const json_src *s, json_t *o, const char *field, bool *out) {
    json_t *v = json_object_get(o, field);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_boolean(v)) return vc_errorf(s->err, "%s: field '%s' is not a boolean", s->path, field);
    *out = json_is_true(v);
    return 0;
}

/* bos/eos: an integer, null, or (eos) a list whose first entry is used */
static int j_token_id(const json_src *s, json_t *o, const char *field, int *out) {
    json_t *v = json_object_get(o, field);
    if (!v) return 0;
    if (json_is_null(v)) { *out = -1; return 0; }
    if (json_is_array(v)) {
        if (json_array_size(v) == 0) { *out = -1; return 0; }
        v = json_array_get(v, 0);
    }
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 2147483647)
        return vc_errorf(s->err, "%s: field '%s' (expected a token id, null or a list of ids)", s->path, field);
    *out = (int)json_integer_value(v);
    return 0;
}

static int arch_from_hf(const json_src *s, json_t *root, vc_arch *arch) {
    static const struct { const char *cls, *type; vc_arch arch; } known[] = {
        {"LlamaForCausalLM", "llama", VC_ARCH_LLAMA},
        {"MistralForCausalLM", "mistral", VC_ARCH_MISTRAL},
        {"Qwen2ForCausalLM", "qwen2", VC_ARCH_QWEN2},
        {"Qwen3ForCausalLM", "qwen3", VC_ARCH_QWEN3},
    };
    json_t *a = json_object_get(root, "architectures");
    json_t *first = json_is_array(a) ? json_array_get(a, 0) : NULL;
    json_t *mt = json_object_get(root, "model_type");
    const char *cls = json_is_string(first) ? json_string_value(first) : NULL;
    const char *type = json_is_string(mt) ? json_string_value(mt) : NULL;
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (cls && strcmp(cls, known[i].cls) == 0) { *arch = known[i].arch; return 0; }
    if (!cls)
        for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
            if (type && strcmp(type, known[i].type) == 0) { *arch = known[i].arch; return 0; }
    if (!cls && !type)
        return vc_errorf(s->err, "%s: fields 'architectures' and 'model_type' missing (expected e.g. "
                         "[\"LlamaForCausalLM\"] or \"llama\")", s->path);
    return vc_errorf(s->err, "%s: field '%s': '%s' not supported (expected LlamaForCausalLM, MistralForCausalLM, "
                     "Qwen2ForCausalLM or Qwen3ForCausalLM)", s->path, cls ? "architectures" : "model_type",
                     cls ? cls : type);
}

/* rope: transformers 5 writes "rope_parameters" {rope_type, rope_theta, ...};
 * older files "rope_theta" + "rope_scaling" {type|rope_type, factor, ...}.
 * rope_parameters' values win, as in transformers. */
static int rope_from_hf(const json_src *s, json_t *root, vc_config *cfg) {
    if (j_num_opt(s, root, "rope_theta", &cfg->rope_theta)) return -1;
    json_t *rp = json_object_get(root, "rope_parameters");
    const char *where = "rope_parameters";
    if (!rp || json_is_null(rp)) { rp = json_object_get(root, "rope_scaling"); where = "rope_scaling"; }
    if (!rp || json_is_null(rp)) return 0;
    if (!json_is_object(rp))
        return vc_errorf(s->err, "%s: field '%s' is not an object", s->path, where);
    const char *sub;
    json_t *sv;
    json_object_foreach(rp, sub, sv) {
        if (json_is_object(sv))   /* transformers 5 per-layer-type rope ("full_attention": {...}) */
            return vc_errorf(s->err, "%s: field '%s.%s': rope parameters per layer type are not supported "
                             "(expected one set for all layers)", s->path, where, sub);
    }
    if (j_num_opt(s, rp, "rope_theta", &cfg->rope_theta)) return -1;
    json_t *jt = json_object_get(rp, "rope_type");
    if (!jt) jt = json_object_get(rp, "type");
    const char *type = json_is_string(jt) ? json_string_value(jt) : "default";
    if (jt && !json_is_null(jt) && !json_is_string(jt))
        return vc_errorf(s->err, "%s: field '%s.rope_type' is not a string", s->path, where);
    if (strcmp(type, "default") == 0) return 0;
    if (strcmp(type, "linear") == 0) {
        cfg->rope_scaling = VC_ROPE_SCALING_LINEAR;
        return j_num_req(s, rp, where, "factor", &cfg->rope_factor);
    }
    if (strcmp(type, "llama3") == 0) {
        cfg->rope_scaling = VC_ROPE_SCALING_LLAMA3;
        cfg->rope_orig_max_pos = cfg->max_seq_len;  /* transformers' default */
        if (j_num_req(s, rp, where, "factor", &cfg->rope_factor) ||
            j_num_req(s, rp, where, "low_freq_factor", &cfg->rope_low_freq_factor) ||
            j_num_req(s, rp, where, "high_freq_factor", &cfg->rope_high_freq_factor))
            return -1;
        json_t *om = json_object_get(rp, "original_max_position_embeddings");
        if (om && !json_is_null(om)) {
            if (!json_is_integer(om))
                return vc_errorf(s->err, "%s: field '%s.original_max_position_embeddings' is not an integer",
                                 s->path, where);
            cfg->rope_orig_max_pos = (int)json_integer_value(om);
        }
        return 0;
    }
    return vc_errorf(s->err, "%s: field '%s': rope type '%s' not supported (expected default, linear or llama3)",
                     s->path, where, type);
}

/* Sliding window as transformers applies it: mistral uses "sliding_window"
 * on every layer (null = none); qwen2/qwen3 only with use_sliding_window, and
 * then on the layers that "layer_types" marks "sliding_attention" (when
 * absent: layers >= max_window_layers). The forward has one window for all
 * layers, so a mix of sliding and full layers is refused. */
static int window_from_hf(const json_src *s, json_t *root, vc_config *cfg) {
    if (cfg->arch == VC_ARCH_LLAMA) return 0;
    int window = 4096;   /* class default of all three */
    json_t *w = json_object_get(root, "sliding_window");
    if (w && json_is_null(w)) window = 0;
    else if (j_int_opt(s, root, "sliding_window", &window)) return -1;
    if (cfg->arch == VC_ARCH_MISTRAL) {
        cfg->sliding_window = window;
        return 0;
    }
    bool use = false;
    if (j_bool_opt(s, root, "use_sliding_window", &use)) return -1;
    if (!use || window == 0) return 0;
    int n_sliding = 0;
    const char *decided_by;
    json_t *lt = json_object_get(root, "layer_types");
    if (lt && !json_is_null(lt)) {
        decided_by = "layer_types";
        if (!json_is_array(lt) || json_array_size(lt) != (size_t)cfg->n_layers)
            return vc_errorf(s->err, "%s: field 'layer_types' (expected a list of %d layer types)", s->path,
                             cfg->n_layers);
        for (int i = 0; i < cfg->n_layers; i++) {
            const char *t = json_string_value(json_array_get(lt, (size_t)i));
            if (!t || (strcmp(t, "sliding_attention") != 0 && strcmp(t, "full_attention") != 0))
                return vc_errorf(s->err, "%s: field 'layer_types'[%d] (expected \"full_attention\" or "
                                 "\"sliding_attention\")", s->path, i);
            n_sliding += strcmp(t, "sliding_attention") == 0;
        }
    } else {
        decided_by = "max_window_layers";
        int max_window_layers = 28;
        if (j_int_opt(s, root, "max_window_layers", &max_window_layers)) return -1;
        /* layers i >= max_window_layers slide (counted, not looped: n_layers is unchecked yet) */
        if (max_window_layers < 0) max_window_layers = 0;
        n_sliding = cfg->n_layers > max_window_layers ? cfg->n_layers - max_window_layers : 0;
    }
    if (n_sliding != 0 && n_sliding != cfg->n_layers)
        return vc_errorf(s->err, "%s: field '%s': sliding window on %d of %d layers is not supported (expected "
                         "all layers or none)", s->path, decided_by, n_sliding, cfg->n_layers);
    cfg->sliding_window = n_sliding ? window : 0;
    return 0;
}

int vc_config_from_json(vc_config *cfg, const char *path, vc_error *err) {
    config_defaults(cfg);
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return vc_errorf(err, "%s: line %d column %d: %s (expected a JSON object)", path, jerr.line, jerr.column,
                         jerr.text);
    json_src s = {path, err};
    int rc = -1;
    if (!json_is_object(root)) {
        vc_errorf(err, "%s: top level is not a JSON object (expected a Hugging Face config.json)", path);
        goto done;
    }
    if (arch_from_hf(&s, root, &cfg->arch)) goto done;
    vc_arch a = cfg->arch;
    if (j_int(&s, root, "hidden_size", &cfg->dim) || j_int(&s, root, "intermediate_size", &cfg->hidden_dim) ||
        j_int(&s, root, "num_hidden_layers", &cfg->n_layers) ||
        j_int(&s, root, "num_attention_heads", &cfg->n_heads) || j_int(&s, root, "vocab_size", &cfg->vocab_size))
        goto done;
    if (cfg->n_heads <= 0) {
        vc_errorf(err, "%s: field 'num_attention_heads' = %d (expected > 0)", path, cfg->n_heads);
        goto done;
    }
    /* per-class defaults (transformers 5) for fields a file may leave out */
    cfg->n_kv_heads = a == VC_ARCH_MISTRAL ? 8 : a == VC_ARCH_LLAMA ? cfg->n_heads : 32;
    cfg->head_dim = a == VC_ARCH_QWEN3 ? 128 : cfg->dim / cfg->n_heads;
    cfg->max_seq_len = a == VC_ARCH_LLAMA ? 2048 : a == VC_ARCH_MISTRAL ? 4096 * 32 : 32768;
    cfg->rms_eps = 1e-6f;
    cfg->bos_id = a == VC_ARCH_LLAMA || a == VC_ARCH_MISTRAL ? 1 : -1;
    cfg->eos_id = a == VC_ARCH_LLAMA || a == VC_ARCH_MISTRAL ? 2 : -1;
    json_t *kv = json_object_get(root, "num_key_value_heads");
    if (kv && json_is_null(kv)) cfg->n_kv_heads = cfg->n_heads;
    json_t *hd = json_object_get(root, "head_dim");
    if (hd && json_is_null(hd)) cfg->head_dim = cfg->dim / cfg->n_heads;
    if (j_int_opt(&s, root, "num_key_value_heads", &cfg->n_kv_heads) ||
        j_int_opt(&s, root, "head_dim", &cfg->head_dim) ||
        j_int_opt(&s, root, "max_position_embeddings", &cfg->max_seq_len) ||
        j_num_opt(&s, root, "rms_norm_eps", &cfg->rms_eps) || j_bool_opt(&s, root, "tie_word_embeddings", &cfg->tied_embeddings) ||
        j_token_id(&s, root, "bos_token_id", &cfg->bos_id) || j_token_id(&s, root, "eos_token_id", &cfg->eos_id))
        goto done;
    if (rope_from_hf(&s, root, cfg) || window_from_hf(&s, root, cfg)) goto done;
    /* o_proj / MLP biases have no place in the forward: refuse, don't ignore */
    bool attention_bias = false, mlp_bias = false;
    if (j_bool_opt(&s, root, "attention_bias", &attention_bias) || j_bool_opt(&s, root, "mlp_bias", &mlp_bias))
        goto done;
    if ((attention_bias && a != VC_ARCH_QWEN2) || mlp_bias) {
        vc_errorf(err, "%s: field '%s' = true is not supported (expected false: the forward has no o_proj/MLP bias)",
                  path, mlp_bias ? "mlp_bias" : "attention_bias");
        goto done;
    }
    cfg->rope_neox = true;          /* HF checkpoints rotate NeoX halves */
    cfg->attn_qkv_bias = a == VC_ARCH_QWEN2;
    cfg->qk_norm = a == VC_ARCH_QWEN3;
    field_labels labels;
    labels_json(&labels);
    rc = config_check(cfg, path, &labels, err);
done:
    json_decref(root);
    return rc;
}
