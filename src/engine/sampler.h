/* logits -> token, one sequence at a time, so a request's choice never
 * depends on what else is in the batch.
 *
 * Order: penalties (also for greedy) -> greedy argmax if temperature == 0,
 * else logits / temperature -> softmax -> min-p (drop p < min_p * p_max)
 * -> top-k -> top-p (smallest head of the sorted rest whose mass >= top_p)
 * -> draw with u = U[0,1) derived from (seed, index of the token in the
 * output): a pure function of the request, not of the batch or the step.
 *
 * Penalties, as in vLLM / the OpenAI API:
 *   repetition r over prompt and output tokens:  l > 0 ? l / r : l * r
 *   frequency f and presence p over output tokens: l -= f * count + p * (count > 0)
 * Log-probabilities are of the model's raw distribution (log_softmax of the
 * logits before penalties and temperature). */
#ifndef VLLMC_SAMPLER_H
#define VLLMC_SAMPLER_H

#include <stdint.h>

#include "util/error.h"

typedef struct vc_sample_params {
    float temperature;          /* <= 0: greedy */
    float top_p;                /* 1 = off */
    int top_k;                  /* 0 = off */
    float min_p;                /* 0 = off */
    float repetition_penalty;   /* 1 = off */
    float presence_penalty;
    float frequency_penalty;
    uint64_t seed;
} vc_sample_params;

typedef struct vc_token_logprob {
    int32_t token;
    float logprob;
} vc_token_logprob;

typedef struct vc_sampler vc_sampler;

int vc_sampler_create(vc_sampler **out, int vocab_size, vc_error *err);
void vc_sampler_free(vc_sampler *s);

/* Picks the next token from logits[vocab] (modified in place). tokens[n_tokens]
 * is the sequence so far, of which the first n_prompt are the prompt.
 * If n_top > 0, lp[0] gets the chosen token's log-probability and
 * lp[1..n_top] the n_top most likely tokens, most likely first (ties: lower id). */
int32_t vc_sampler_sample(vc_sampler *s, const vc_sample_params *p, float *logits,
                          const int32_t *tokens, int n_tokens, int n_prompt, int n_top,
                          vc_token_logprob *lp);

/* The uniform draw for output token `index` of a request with this seed. */
double vc_sampler_uniform(uint64_t seed, uint64_t index);

#endif
