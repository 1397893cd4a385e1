/* In-situ quantization of a safetensors model (F32/F16/BF16 weights): every
 * 2-D weight gets a quantized copy at load, in the model's owned buffer, and
 * the model's tensor views point at the copies; the forward then runs as on
 * a quantized GGUF. Which tensor gets which type follows llama.cpp's
 * llama-quantize "mixes" (docs/quantization.md):
 *
 *   --quant  mix (llama-quantize name)   default type
 *   q2k      Q2_K                        Q2_K
 *   q3k      Q3_K_M                      Q3_K
 *   q4k      Q4_K_M                      Q4_K
 *   q5k      Q5_K_M                      Q5_K
 *   q6k      Q6_K                        Q6_K
 *   q4_0     Q4_0                        Q4_0
 *   q8_0     Q8_0                        Q8_0
 */
#ifndef VLLMC_QUANTIZE_MODEL_H
#define VLLMC_QUANTIZE_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "model/model.h"
#include "model/quant.h"
#include "util/error.h"

/* The valid --quant names, for messages: "q2k, q3k, q4k, q5k, q6k, q4_0, q8_0". */
extern const char VC_QUANT_NAMES[];

/* --quant argument -> the mix's default type (VC_Q4_K for "q4k", "q4_k",
 * "q4_k_m", "Q4_K_M", ...). -1 with a message listing the valid names. */
int vc_quant_parse(const char *arg, vc_dtype *out, vc_error *err);
/* "Q4_K_M" etc.: the llama-quantize name of the mix for a default type */
const char *vc_quant_mix_name(vc_dtype mix);

/* What a weight is, for the type rules. */
typedef enum vc_weight_role {
    VC_ROLE_TOK_EMBD, VC_ROLE_OUTPUT, VC_ROLE_ATTN_Q, VC_ROLE_ATTN_K, VC_ROLE_ATTN_V,
    VC_ROLE_ATTN_OUT, VC_ROLE_FFN_GATE, VC_ROLE_FFN_UP, VC_ROLE_FFN_DOWN
} vc_weight_role;

/* The type a weight gets in a mix. layer/n_layers place it in the stack
 * (0 for the embedding/head); ne0 is its row length; tied: the embedding is
 * also the output head; n_gqa = n_heads / n_kv_heads. When the rule's type
 * does not fit ne0 (rows not whole blocks) the fallback is taken and
 * *fell_back is set (may be NULL). */
vc_dtype vc_quant_tensor_type(vc_dtype mix, vc_weight_role role, int layer, int n_layers,
                              int64_t ne0, bool tied, int n_gqa, bool *fell_back);

/* Quantizes m's weights per the mix (norms and biases stay as they are).
 * m must come from a safetensors folder. n_threads <= 0: all cores.
 * progress: a progress bar on stderr (when stderr is a terminal). Prints the
 * fallbacks and a summary (tensors, MB in -> MB out, seconds, MB/s) on
 * stderr. */
int vc_model_quantize(vc_model *m, vc_dtype mix, int n_threads, bool progress, vc_error *err);

#endif
