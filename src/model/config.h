/* Model hyperparameters, from GGUF metadata or a Hugging Face config.json.
 * The four families differ only by the flags below (one forward). */
#ifndef VLLMC_CONFIG_H
#define VLLMC_CONFIG_H

#include <stdbool.h>

#include "util/error.h"

typedef struct vc_gguf vc_gguf;

typedef enum vc_arch { VC_ARCH_LLAMA, VC_ARCH_MISTRAL, VC_ARCH_QWEN2, VC_ARCH_QWEN3 } vc_arch;

typedef enum vc_rope_scaling {
    VC_ROPE_SCALING_NONE,
    VC_ROPE_SCALING_LINEAR,   /* positions divided by factor */
    VC_ROPE_SCALING_LLAMA3    /* Llama 3.1 per-frequency smoothing */
} vc_rope_scaling;

typedef struct vc_config {
    vc_arch arch;
    int n_layers;
    int dim;              /* hidden_size */
    int hidden_dim;       /* intermediate_size (FFN) */
    int n_heads;
    int n_kv_heads;
    int head_dim;         /* usually dim / n_heads; Qwen3 sets it explicitly */
    int vocab_size;
    int max_seq_len;      /* max_position_embeddings / context_length */
    float rms_eps;
    float rope_theta;
    /* Pairing of rotated dims: false = interleaved (x[2i], x[2i+1]) as in
     * GGUF llama files (the converter permutes q/k); true = NeoX halves
     * (x[i], x[i + head_dim/2]) as in HF safetensors and GGUF qwen2/qwen3. */
    bool rope_neox;
    vc_rope_scaling rope_scaling;
    float rope_factor;
    float rope_low_freq_factor;     /* llama3 */
    float rope_high_freq_factor;    /* llama3 */
    int rope_orig_max_pos;          /* llama3: original_max_position_embeddings */
    int sliding_window;   /* 0 = none */
    bool tied_embeddings; /* output head = token embedding */
    bool attn_qkv_bias;   /* qwen2 */
    bool qk_norm;         /* qwen3: per-head RMSNorm of q and k before rope */
    int bos_id, eos_id;   /* -1 if unknown */
} vc_config;

const char *vc_arch_name(vc_arch a);

/* from GGUF metadata ("general.architecture" and "<arch>.*" keys) */
int vc_config_from_gguf(vc_config *cfg, const vc_gguf *g, vc_error *err);
/* from a config.json file; a missing required field is an error naming it */
int vc_config_from_json(vc_config *cfg, const char *config_json_path, vc_error *err);

#endif
