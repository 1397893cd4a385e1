/* Model -> GGUF: hyperparameters, tokenizer, tensors (see gguf_export.h). */
#include "model/gguf_export.h"

#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* llama.cpp's general.file_type values (enum llama_ftype) for our mixes */
static uint32_t file_type(vc_dtype mix) {
    switch (mix) {
    case VC_F32: return 0;
    case VC_F16: return 1;
    case VC_Q4_0: return 2;
    case VC_Q8_0: return 7;
    case VC_Q2_K: return 10;
    case VC_Q3_K: return 12;   /* Q3_K_M */
    case VC_Q4_K: return 15;   /* Q4_K_M */
    case VC_Q5_K: return 17;   /* Q5_K_M */
    case VC_Q6_K: return 18;
    case VC_BF16: return 32;
    default: return 0;
    }
}

static const char *arch_key(vc_arch a) {
    switch (a) {
    case VC_ARCH_QWEN2: return "qwen2";
    case VC_ARCH_QWEN3: return "qwen3";
    default: return "llama";   /* llama.cpp reads Mistral as llama */
    }
}

/* Buffers made for the export (F32 vectors, permuted q/k), freed at the end. */
typedef struct scratch {
    void **bufs;
    int n, cap;
} scratch;

static void *scratch_alloc(scratch *s, size_t bytes) {
    if (s->n == s->cap) {
        int cap = s->cap ? s->cap * 2 : 64;
        void **b = realloc(s->bufs, (size_t)cap * sizeof *b);
        if (!b) return NULL;
        s->bufs = b;
        s->cap = cap;
    }
    void *p = malloc(bytes ? bytes : 1);
    if (p) s->bufs[s->n++] = p;
    return p;
}

static void scratch_free(scratch *s) {
    for (int i = 0; i < s->n; i++) free(s->bufs[i]);
    free(s->bufs);
}

/* Adds a tensor (a writer error is remembered by the writer and reported by
 * its write; -1 here is for our own failures, with err set); 1-D tensors are converted to F32 (llama.cpp keeps norms
 * and biases F32). permute_heads > 0: rows are q or k of that many heads in
 * HF order (NeoX halves) and are reordered to llama.cpp's interleaved pairs:
 * within a head of hd rows, new row 2j+i = old row i*hd/2 + j. */
static int add(vc_gguf_writer *w, scratch *s, const char *name, const vc_tensor *t, int permute_heads,
               vc_error *err) {
    if (!t->data) return 0;
    const int64_t ne0 = t->ne[0], rows = vc_tensor_nelems(t) / t->ne[0];
    int n_dims = t->ne[1] > 1 ? 2 : 1;
    int64_t ne[2] = {ne0, rows};
    if (n_dims == 1 && t->type != VC_F32) {
        float *f = scratch_alloc(s, (size_t)ne0 * sizeof(float));
        if (!f) return vc_errorf(err, "GGUF export: out of memory at '%s'", name);
        vc_dequantize_row(t->type, t->data, f, ne0);
        vc_gguf_writer_add_tensor(w, name, VC_F32, 1, ne, f, (size_t)ne0 * sizeof(float));
        return 0;
    }
    if (permute_heads > 0) {
        const size_t row = vc_row_bytes(t->type, ne0);
        const int64_t hd = rows / permute_heads;
        if (hd * permute_heads != rows || hd % 2)
            return vc_errorf(err, "GGUF export: '%s': %lld rows do not split into %d heads of even size", name,
                             (long long)rows, permute_heads);
        uint8_t *p = scratch_alloc(s, (size_t)rows * row);
        if (!p) return vc_errorf(err, "GGUF export: out of memory at '%s'", name);
        const uint8_t *src = t->data;
        for (int64_t h = 0; h < permute_heads; h++)
            for (int64_t j = 0; j < hd / 2; j++)
                for (int64_t i = 0; i < 2; i++)
                    memcpy(p + (size_t)(h * hd + 2 * j + i) * row, src + (size_t)(h * hd + i * hd / 2 + j) * row, row);
        vc_gguf_writer_add_tensor(w, name, t->type, n_dims, ne, p, (size_t)rows * row);
        return 0;
    }
    vc_gguf_writer_add_tensor(w, name, t->type, n_dims, ne, t->data, vc_row_bytes(t->type, ne0) * (size_t)rows);
    return 0;
}

/* llama.cpp's rope_freqs for Llama 3.1 rope scaling: per frequency, the
 * divisor the scaling applies (1 = high frequencies kept, factor = low
 * frequencies stretched, smooth in between). */
static float *llama3_rope_freqs(const vc_config *c, scratch *s) {
    const int n = c->head_dim / 2;
    float *f = scratch_alloc(s, (size_t)n * sizeof(float));
    if (!f) return NULL;
    const double lo_wavelen = c->rope_orig_max_pos / c->rope_low_freq_factor;
    const double hi_wavelen = c->rope_orig_max_pos / c->rope_high_freq_factor;
    for (int i = 0; i < n; i++) {
        double freq = 1.0 / pow(c->rope_theta, 2.0 * i / c->head_dim);
        double wavelen = 2 * M_PI / freq;
        if (wavelen < hi_wavelen) f[i] = 1.0f;
        else if (wavelen > lo_wavelen) f[i] = c->rope_factor;
        else {
            double smooth = (c->rope_orig_max_pos / wavelen - c->rope_low_freq_factor) /
                            (c->rope_high_freq_factor - c->rope_low_freq_factor);
            f[i] = (float)(1.0 / ((1 - smooth) / c->rope_factor + smooth));
        }
    }
    return f;
}

int vc_model_export_gguf(const vc_model *m, vc_dtype mix, const char *path, vc_error *err) {
    if (!m->st)
        return vc_errorf(err, "--quant-out: '%s' is already a GGUF file; export works on a safetensors folder",
                         m->path);
    const vc_config *c = &m->cfg;
    vc_gguf_writer *w;
    if (vc_gguf_writer_create(&w, err)) return -1;
    scratch s = {0};
    int rc = -1;
    const char *a = arch_key(c->arch);
    char key[128];
#define K(suffix) (snprintf(key, sizeof key, "%s.%s", a, suffix), key)

    char *dir_copy = strdup(m->path);
    vc_gguf_writer_set_str(w, "general.architecture", a);
    vc_gguf_writer_set_str(w, "general.name", dir_copy ? basename(dir_copy) : "model");
    vc_gguf_writer_set_u32(w, "general.file_type", file_type(mix));
    vc_gguf_writer_set_u32(w, "general.quantization_version", 2);
    vc_gguf_writer_set_u32(w, K("block_count"), (uint32_t)c->n_layers);
    vc_gguf_writer_set_u32(w, K("context_length"), (uint32_t)c->max_seq_len);
    vc_gguf_writer_set_u32(w, K("embedding_length"), (uint32_t)c->dim);
    vc_gguf_writer_set_u32(w, K("feed_forward_length"), (uint32_t)c->hidden_dim);
    vc_gguf_writer_set_u32(w, K("attention.head_count"), (uint32_t)c->n_heads);
    vc_gguf_writer_set_u32(w, K("attention.head_count_kv"), (uint32_t)c->n_kv_heads);
    vc_gguf_writer_set_u32(w, K("attention.key_length"), (uint32_t)c->head_dim);
    vc_gguf_writer_set_u32(w, K("attention.value_length"), (uint32_t)c->head_dim);
    vc_gguf_writer_set_f32(w, K("rope.freq_base"), c->rope_theta);
    vc_gguf_writer_set_f32(w, K("attention.layer_norm_rms_epsilon"), c->rms_eps);
    vc_gguf_writer_set_u32(w, K("rope.dimension_count"), (uint32_t)c->head_dim);
    vc_gguf_writer_set_u32(w, K("vocab_size"), (uint32_t)c->vocab_size);
    if (c->rope_scaling == VC_ROPE_SCALING_LINEAR) {
        vc_gguf_writer_set_str(w, K("rope.scaling.type"), "linear");
        vc_gguf_writer_set_f32(w, K("rope.scaling.factor"), c->rope_factor);
    }
    if (c->sliding_window > 0 && c->arch != VC_ARCH_LLAMA)
        vc_gguf_writer_set_u32(w, K("attention.sliding_window"), (uint32_t)c->sliding_window);
#undef K
    free(dir_copy);
    if (vc_export_tokenizer_meta(w, m->path, c->vocab_size, err)) goto out;

    /* llama/mistral GGUFs pair rope dims interleaved; our HF-loaded weights
     * are NeoX-paired, so q/k rows get permuted. qwen2/3 stay NeoX. */
    const bool permute = (c->arch == VC_ARCH_LLAMA || c->arch == VC_ARCH_MISTRAL) && c->rope_neox;
    char name[128];
    if (add(w, &s, "token_embd.weight", &m->tok_embd, 0, err)) goto out;
    for (int l = 0; l < c->n_layers; l++) {
        const vc_layer_weights *L = &m->layers[l];
        struct { const char *suffix; const vc_tensor *t; int heads; } list[] = {
            {"attn_norm.weight", &L->attn_norm, 0},
            {"attn_q.weight", &L->wq, permute ? c->n_heads : 0},
            {"attn_k.weight", &L->wk, permute ? c->n_kv_heads : 0},
            {"attn_v.weight", &L->wv, 0},
            {"attn_output.weight", &L->wo, 0},
            {"attn_q.bias", &L->bq, 0},
            {"attn_k.bias", &L->bk, 0},
            {"attn_v.bias", &L->bv, 0},
            {"attn_q_norm.weight", &L->q_norm, 0},
            {"attn_k_norm.weight", &L->k_norm, 0},
            {"ffn_norm.weight", &L->ffn_norm, 0},
            {"ffn_gate.weight", &L->w_gate, 0},
            {"ffn_up.weight", &L->w_up, 0},
            {"ffn_down.weight", &L->w_down, 0},
        };
        for (size_t i = 0; i < sizeof list / sizeof list[0]; i++) {
            snprintf(name, sizeof name, "blk.%d.%s", l, list[i].suffix);
            if (add(w, &s, name, list[i].t, list[i].heads, err)) goto out;
        }
    }
    if (add(w, &s, "output_norm.weight", &m->out_norm, 0, err)) goto out;
    const bool tied = c->tied_embeddings || m->output.data == m->tok_embd.data;
    if (!tied && add(w, &s, "output.weight", &m->output, 0, err)) goto out;
    if (c->rope_scaling == VC_ROPE_SCALING_LLAMA3) {
        float *f = llama3_rope_freqs(c, &s);
        int64_t ne[1] = {c->head_dim / 2};
        if (!f) {
            vc_errorf(err, "GGUF export: out of memory");
            goto out;
        }
        vc_gguf_writer_add_tensor(w, "rope_freqs.weight", VC_F32, 1, ne, f, (size_t)ne[0] * sizeof(float));
    }
    rc = vc_gguf_writer_write(w, path, err);
out:
    vc_gguf_writer_free(w);
    scratch_free(&s);
    return rc;
}
