/* A loaded model: its config and views of its weights (mmap'd, never copied
 * when the kernels read the stored type, until vc_model_make_resident copies
 * them into huge pages). Opened from a GGUF file or a
 * safetensors folder; the same struct either way. */
#ifndef VLLMC_MODEL_H
#define VLLMC_MODEL_H

#include "model/config.h"
#include "model/tensor.h"
#include "util/error.h"

typedef struct vc_gguf vc_gguf;
typedef struct vc_safetensors vc_safetensors;

typedef struct vc_layer_weights {
    vc_tensor attn_norm;             /* [dim] */
    vc_tensor wq, wk, wv, wo;        /* [n_heads*head_dim, dim] ... (ne[0] = in) */
    vc_tensor bq, bk, bv;            /* qwen2 biases, else data == NULL */
    vc_tensor q_norm, k_norm;        /* qwen3 [head_dim], else data == NULL */
    vc_tensor ffn_norm;              /* [dim] */
    vc_tensor w_gate, w_up, w_down;  /* gate/up: [hidden_dim, dim]; down: [dim, hidden_dim] */
} vc_layer_weights;

typedef struct vc_model {
    vc_config cfg;
    char *path;
    vc_gguf *gguf;                   /* exactly one of gguf / st is set */
    vc_safetensors *st;
    vc_tensor tok_embd;              /* [vocab, dim] */
    vc_tensor out_norm;              /* [dim] */
    vc_tensor output;                /* [vocab, dim]; == tok_embd when tied */
    vc_tensor rope_freqs;            /* GGUF llama3 scaling: [head_dim/2] divisors of
                                        each rotation frequency, else data == NULL */
    vc_layer_weights *layers;        /* [n_layers] */
    void *owned;                     /* buffers the model owns (e.g. quantized copies) */
    void *resident;                  /* vc_model_make_resident's mapping, else NULL */
    size_t resident_bytes;
} vc_model;

/* Every weight view of m, absent ones included (data == NULL), in order of
 * use: the token embedding, rope_freqs, each layer's VC_MODEL_LAYER_VIEWS
 * (attn_norm, wq, wk, wv, bq, bk, bv, q_norm, k_norm, wo, ffn_norm, w_gate,
 * w_up, w_down), the final norm, the head (the same data as the embedding
 * when tied). out has room for vc_model_n_views(m); returns that count. */
enum { VC_MODEL_LAYER_VIEWS = 14 };
int vc_model_n_views(const vc_model *m);
int vc_model_views(vc_model *m, vc_tensor **out);

/* path: a .gguf file, or a safetensors folder with config.json */
int vc_model_open(vc_model **out, const char *path, vc_error *err);
void vc_model_free(vc_model *m);

#endif
