/* Model loading: config + views of every weight, from a GGUF file or a
 * Hugging Face safetensors folder. Weights are the readers' views into the
 * mmap'd files (nothing copied); every shape is checked against the config,
 * and an error names the tensor, the expected and the found shape. */
#include "model/model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "model/gguf.h"
#include "model/safetensors.h"

/* Tensor names of one format; "%d" is the layer index. */
typedef struct name_scheme {
    const char *tok_embd, *out_norm, *output, *rope_freqs;
    const char *attn_norm, *wq, *wk, *wv, *wo, *bq, *bk, *bv, *q_norm, *k_norm;
    const char *ffn_norm, *w_gate, *w_up, *w_down;
} name_scheme;

static const name_scheme GGUF_NAMES = {
    "token_embd.weight", "output_norm.weight", "output.weight", "rope_freqs.weight",
    "blk.%d.attn_norm.weight", "blk.%d.attn_q.weight", "blk.%d.attn_k.weight",
    "blk.%d.attn_v.weight", "blk.%d.attn_output.weight", "blk.%d.attn_q.bias",
    "blk.%d.attn_k.bias", "blk.%d.attn_v.bias", "blk.%d.attn_q_norm.weight",
    "blk.%d.attn_k_norm.weight", "blk.%d.ffn_norm.weight", "blk.%d.ffn_gate.weight",
    "blk.%d.ffn_up.weight", "blk.%d.ffn_down.weight",
};

static const name_scheme HF_NAMES = {
    "model.embed_tokens.weight", "model.norm.weight", "lm_head.weight", NULL,
    "model.layers.%d.input_layernorm.weight", "model.layers.%d.self_attn.q_proj.weight",
    "model.layers.%d.self_attn.k_proj.weight", "model.layers.%d.self_attn.v_proj.weight",
    "model.layers.%d.self_attn.o_proj.weight", "model.layers.%d.self_attn.q_proj.bias",
    "model.layers.%d.self_attn.k_proj.bias", "model.layers.%d.self_attn.v_proj.bias",
    "model.layers.%d.self_attn.q_norm.weight", "model.layers.%d.self_attn.k_norm.weight",
    "model.layers.%d.post_attention_layernorm.weight", "model.layers.%d.mlp.gate_proj.weight",
    "model.layers.%d.mlp.up_proj.weight", "model.layers.%d.mlp.down_proj.weight",
};

typedef struct loader {
    vc_model *m;
    const name_scheme *names;
    vc_error *err;
} loader;

static const vc_tensor *find(const loader *ld, const char *name) {
    return ld->m->gguf ? vc_gguf_tensor(ld->m->gguf, name) : vc_safetensors_tensor(ld->m->st, name);
}

static void fmt_name(char *buf, size_t cap, const char *fmt, int layer) {
    snprintf(buf, cap, fmt, layer);
}

static void shape_str(char *buf, size_t cap, const vc_tensor *t) {
    int at = snprintf(buf, cap, "[");
    for (int d = 0; d < t->n_dims && d < VC_MAX_DIMS; d++)
        at += snprintf(buf + at, cap > (size_t)at ? cap - (size_t)at : 0, "%s%lld", d ? ", " : "",
                       (long long)t->ne[d]);
    snprintf(buf + at, cap > (size_t)at ? cap - (size_t)at : 0, "]");
}

/* Binds *dst to the tensor `name` after checking that its shape is
 * [ne0] (ne1 == 0) or [ne0, ne1] (ggml order: ne0 = row length = input
 * features). Absent: an error if required, else dst->data = NULL.
 * matrix: the kernels read it row by row, so the row must be whole blocks. */
static int bind(const loader *ld, vc_tensor *dst, const char *name, int64_t ne0, int64_t ne1,
                bool required, bool matrix) {
    memset(dst, 0, sizeof *dst);
    const vc_tensor *t = find(ld, name);
    const char *path = ld->m->path;
    if (!t || !t->data) {
        if (!required) return 0;
        if (ne1)
            return vc_errorf(ld->err, "model '%s': tensor '%s' missing (expected shape [%lld, %lld])",
                             path, name, (long long)ne0, (long long)ne1);
        return vc_errorf(ld->err, "model '%s': tensor '%s' missing (expected shape [%lld])", path,
                         name, (long long)ne0);
    }
    const int want_dims = ne1 ? 2 : 1;
    bool ok = t->ne[0] == ne0 && t->ne[1] == (ne1 ? ne1 : 1) && t->ne[2] == 1 && t->ne[3] == 1 &&
              t->n_dims <= want_dims;
    if (!ok) {
        char found[128];
        shape_str(found, sizeof found, t);
        if (ne1)
            return vc_errorf(ld->err,
                             "model '%s': tensor '%s': expected shape [%lld, %lld] "
                             "(ne0 = input features, ne1 = output features), found %s",
                             path, name, (long long)ne0, (long long)ne1, found);
        return vc_errorf(ld->err, "model '%s': tensor '%s': expected shape [%lld], found %s", path,
                         name, (long long)ne0, found);
    }
    if (!vc_dtype_known(t->type))
        return vc_errorf(ld->err, "model '%s': tensor '%s': unsupported type id %d", path, name,
                         (int)t->type);
    if (!matrix && t->type != VC_F32 && t->type != VC_F16 && t->type != VC_BF16)
        return vc_errorf(ld->err, "model '%s': tensor '%s': type %s, expected F32, F16 or BF16 "
                         "for a vector", path, name, vc_dtype_name(t->type));
    if (ne0 % vc_dtype_block_elems(t->type) != 0)
        return vc_errorf(ld->err, "model '%s': tensor '%s': row length %lld is not a multiple of "
                         "the %s block size %lld", path, name, (long long)ne0,
                         vc_dtype_name(t->type), (long long)vc_dtype_block_elems(t->type));
    const size_t need = vc_row_bytes(t->type, ne0) * (size_t)(ne1 ? ne1 : 1);
    if (t->nbytes < need)
        return vc_errorf(ld->err, "model '%s': tensor '%s': %zu bytes, expected %zu for its shape "
                         "and type %s", path, name, t->nbytes, need, vc_dtype_name(t->type));
    *dst = *t;
    return 0;
}

static int check_config(const vc_model *m, vc_error *err) {
    const vc_config *c = &m->cfg;
    if (c->n_layers <= 0 || c->dim <= 0 || c->hidden_dim <= 0 || c->n_heads <= 0 ||
        c->n_kv_heads <= 0 || c->head_dim <= 0 || c->vocab_size <= 0)
        return vc_errorf(err, "model '%s': bad config: n_layers %d, dim %d, hidden_dim %d, "
                         "n_heads %d, n_kv_heads %d, head_dim %d, vocab_size %d (all must be > 0)",
                         m->path, c->n_layers, c->dim, c->hidden_dim, c->n_heads, c->n_kv_heads,
                         c->head_dim, c->vocab_size);
    if (c->n_heads % c->n_kv_heads != 0)
        return vc_errorf(err, "model '%s': n_heads %d is not a multiple of n_kv_heads %d", m->path,
                         c->n_heads, c->n_kv_heads);
    if (c->head_dim % 2 != 0)
        return vc_errorf(err, "model '%s': head_dim %d must be even for rope", m->path, c->head_dim);
    if (c->sliding_window < 0)
        return vc_errorf(err, "model '%s': sliding_window %d < 0", m->path, c->sliding_window);
    return 0;
}

static int bind_all(vc_model *m, const name_scheme *names, vc_error *err) {
    loader ld = { m, names, err };
    vc_config *c = &m->cfg;
    const int64_t dim = c->dim, q_dim = (int64_t)c->n_heads * c->head_dim,
                  kv_dim = (int64_t)c->n_kv_heads * c->head_dim, hid = c->hidden_dim;
    char name[256];

    if (bind(&ld, &m->tok_embd, names->tok_embd, dim, c->vocab_size, true, true)) return -1;
    if (bind(&ld, &m->out_norm, names->out_norm, dim, 0, true, false)) return -1;
    if (bind(&ld, &m->output, names->output, dim, c->vocab_size, false, true)) return -1;
    c->tied_embeddings = m->output.data == NULL;
    if (c->tied_embeddings) m->output = m->tok_embd;
    if (names->rope_freqs &&
        bind(&ld, &m->rope_freqs, names->rope_freqs, c->head_dim / 2, 0, false, false))
        return -1;

    /* optional families are decided by layer 0 and then required everywhere */
    fmt_name(name, sizeof name, names->bq, 0);
    const bool has_bias = c->attn_qkv_bias || find(&ld, name) != NULL;
    fmt_name(name, sizeof name, names->q_norm, 0);
    const bool has_qk_norm = c->qk_norm || find(&ld, name) != NULL;
    c->attn_qkv_bias = has_bias;
    c->qk_norm = has_qk_norm;

    /* weights the forward has no place for would be silently ignored: refuse */
    static const char *const unsupported_gguf[] = { "blk.0.attn_output.bias", "blk.0.ffn_gate.bias",
                                                     "blk.0.ffn_up.bias", "blk.0.ffn_down.bias",
                                                     "blk.0.attn_norm.bias", "blk.0.ffn_gate_exps.weight" };
    static const char *const unsupported_hf[] = { "model.layers.0.self_attn.o_proj.bias",
                                                  "model.layers.0.mlp.gate_proj.bias",
                                                  "model.layers.0.mlp.up_proj.bias",
                                                  "model.layers.0.mlp.down_proj.bias",
                                                  "model.layers.0.input_layernorm.bias",
                                                  "lm_head.bias" };
    const char *const *unsupported = names == &GGUF_NAMES ? unsupported_gguf : unsupported_hf;
    for (int i = 0; i < 6; i++)
        if (find(&ld, unsupported[i]))
            return vc_errorf(err, "model '%s': tensor '%s' is not supported (no output-projection "
                             "or MLP biases, norm biases or experts in this forward)", m->path,
                             unsupported[i]);

    m->layers = calloc((size_t)c->n_layers, sizeof *m->layers);
    if (!m->layers) return vc_errorf(err, "model '%s': out of memory", m->path);
    for (int i = 0; i < c->n_layers; i++) {
        vc_layer_weights *L = &m->layers[i];
#define BIND(field, fmt, ne0, ne1, req, mat)                          \
    do {                                                              \
        fmt_name(name, sizeof name, names->fmt, i);                   \
        if (bind(&ld, &L->field, name, ne0, ne1, req, mat)) return -1; \
    } while (0)
        BIND(attn_norm, attn_norm, dim, 0, true, false);
        BIND(wq, wq, dim, q_dim, true, true);
        BIND(wk, wk, dim, kv_dim, true, true);
        BIND(wv, wv, dim, kv_dim, true, true);
        BIND(wo, wo, q_dim, dim, true, true);
        BIND(bq, bq, q_dim, 0, has_bias, false);
        BIND(bk, bk, kv_dim, 0, has_bias, false);
        BIND(bv, bv, kv_dim, 0, has_bias, false);
        BIND(q_norm, q_norm, c->head_dim, 0, has_qk_norm, false);
        BIND(k_norm, k_norm, c->head_dim, 0, has_qk_norm, false);
        BIND(ffn_norm, ffn_norm, dim, 0, true, false);
        BIND(w_gate, w_gate, dim, hid, true, true);
        BIND(w_up, w_up, dim, hid, true, true);
        BIND(w_down, w_down, hid, dim, true, true);
#undef BIND
    }
    return 0;
}

int vc_model_n_views(const vc_model *m) { return 4 + VC_MODEL_LAYER_VIEWS * m->cfg.n_layers; }

int vc_model_views(vc_model *m, vc_tensor **out) {
    int n = 0;
    out[n++] = &m->tok_embd;
    out[n++] = &m->rope_freqs;
    for (int l = 0; l < m->cfg.n_layers; l++) {
        vc_layer_weights *w = &m->layers[l];
        vc_tensor *lt[VC_MODEL_LAYER_VIEWS] = {&w->attn_norm, &w->wq, &w->wk, &w->wv, &w->bq, &w->bk, &w->bv,
                                               &w->q_norm, &w->k_norm, &w->wo, &w->ffn_norm, &w->w_gate,
                                               &w->w_up, &w->w_down};
        for (int i = 0; i < VC_MODEL_LAYER_VIEWS; i++) out[n++] = lt[i];
    }
    out[n++] = &m->out_norm;
    out[n++] = &m->output;
    return n;
}

int vc_model_open(vc_model **out, const char *path, vc_error *err) {
    *out = NULL;
    struct stat st;
    if (stat(path, &st) != 0) return vc_errorf(err, "model '%s': no such file or folder", path);
    vc_model *m = calloc(1, sizeof *m);
    if (!m || !(m->path = strdup(path))) {
        free(m);
        return vc_errorf(err, "model '%s': out of memory", path);
    }
    const name_scheme *names;
    if (S_ISDIR(st.st_mode)) {
        char cfg_path[4096];
        snprintf(cfg_path, sizeof cfg_path, "%s/config.json", path);
        if (vc_config_from_json(&m->cfg, cfg_path, err) ||
            vc_safetensors_open(&m->st, path, err))
            goto fail;
        names = &HF_NAMES;
    } else {
        if (vc_gguf_open(&m->gguf, path, err) || vc_config_from_gguf(&m->cfg, m->gguf, err))
            goto fail;
        names = &GGUF_NAMES;
    }
    if (check_config(m, err) || bind_all(m, names, err)) goto fail;
    *out = m;
    return 0;
fail:
    vc_model_free(m);
    return -1;
}

void vc_model_free(vc_model *m) {
    if (!m) return;
    free(m->layers);
    free(m->owned);
    if (m->resident) munmap(m->resident, m->resident_bytes);
    if (m->gguf) vc_gguf_free(m->gguf);
    if (m->st) vc_safetensors_free(m->st);
    free(m->path);
    free(m);
}
