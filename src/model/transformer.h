/* The one forward: llama / mistral / qwen2 / qwen3 over a flat batch with a
 * paged KV cache. Scratch buffers are sized once for max_batch_tokens; no
 * allocation per step. */
#ifndef VLLMC_TRANSFORMER_H
#define VLLMC_TRANSFORMER_H

#include <stdbool.h>

#include "model/batch.h"
#include "model/kv_cache.h"
#include "model/model.h"
#include "util/error.h"

typedef struct vc_transformer vc_transformer;

/* How matmul activations enter the kernels (docs/forward.md, "Kernels and
 * numerics"):
 *   VC_NUMERICS_DEFAULT  8-bit rows, an f32 scale per 32 values (value +
 *                        residual pairs for Q8_0 / Q5_0 / Q5_1 weights)
 *   VC_NUMERICS_ACT8     8-bit rows in every matmul, rounded as llama.cpp does
 *   VC_NUMERICS_PRECISE  value + residual pairs in every matmul (floats where a
 *                        type has no integer kernels): transformers' float32
 *                        logits within ~1e-3 nats, slower prefill and batches */
typedef enum { VC_NUMERICS_DEFAULT = 0, VC_NUMERICS_ACT8, VC_NUMERICS_PRECISE } vc_numerics;

/* n_threads <= 0: the physical cores (vc_pool_default_threads). A vc_transformer owns scratch
 * buffers and a thread pool: one forward at a time per transformer.
 * numerics: see vc_numerics. */
int vc_transformer_create(vc_transformer **out, const vc_model *m, int max_batch_tokens,
                          int n_threads, vc_numerics numerics, vc_error *err);
void vc_transformer_free(vc_transformer *t);

/* Runs the batch; writes K/V of every token into kv at its slot and
 * logits[b->n_logits][vocab] for the requested rows. Returns -1 (with a
 * message) on a malformed batch (too many tokens, slot out of range, ...). */
int vc_transformer_forward(vc_transformer *t, vc_kv_cache *kv, const vc_batch *b,
                           float *logits, vc_error *err);

#endif
