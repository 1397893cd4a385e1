/* Perplexity of a token stream, scored the way llama.cpp's llama-perplexity
 * scores it, so numbers compare:
 *
 *   default (stride 0): the tokens are cut into chunks of ctx tokens
 *     (n_chunks = n_tokens / ctx, or fewer if asked); each chunk is a fresh
 *     sequence starting at position 0 whose first token is replaced by BOS
 *     when the tokenizer adds one; the logits of positions ctx/2 .. ctx-2
 *     predict the next token and are scored, the first half only gives
 *     context. PPL = exp(mean NLL), +/- ppl * stddev(NLL) / sqrt(count-1).
 *   stride > 0: windows of ctx tokens start every stride tokens
 *     (n = (n_tokens - ctx + stride - 1) / stride); the last stride
 *     predictions of each window are scored (no BOS replacement, as in
 *     llama-perplexity's --ppl-stride mode).
 *
 * Several chunks run in one forward (seqs_per_batch sequences, each on its
 * own blocks of the paged KV cache), the engine's batching. */
#ifndef VLLMC_PERPLEXITY_H
#define VLLMC_PERPLEXITY_H

#include <stdbool.h>
#include <stdint.h>

#include "model/model.h"
#include "model/quant.h"
#include "model/transformer.h"
#include "util/error.h"

typedef struct vc_ppl_params {
    int ctx;                /* tokens per chunk (llama-perplexity -c), >= 4 */
    int stride;             /* 0 = chunk mode; > 0 = strided windows */
    int max_chunks;         /* -1 = all */
    int seqs_per_batch;     /* chunks per forward (<= 0: 4, fewer if the logits would be huge) */
    int n_threads;          /* <= 0: physical cores */
    vc_numerics numerics;   /* vc_transformer_create */
    int bos_id;             /* replaces each chunk's first token; -1 = none */
    vc_dtype kv_dtype;      /* KV cache dtype (llama.cpp's default is F16) */
} vc_ppl_params;

typedef struct vc_ppl_result {
    double ppl, ppl_err;
    int64_t n_scored;       /* predictions scored */
    int n_chunks;
    double seconds;
} vc_ppl_result;

/* Called after each forward: chunks done so far, of total, running PPL. */
typedef void (*vc_ppl_progress_fn)(int done, int total, double ppl, void *user);

int vc_perplexity(const vc_model *m, const int32_t *tokens, int n_tokens, const vc_ppl_params *p,
                  vc_ppl_result *out, vc_ppl_progress_fn progress, void *user, vc_error *err);

#endif
