/* OpenAI response bodies and server-sent-event framing.
 *
 * Every function returns a malloc'd NUL-terminated string (free with free())
 * and its length in *len, or NULL when out of memory. Text that is not valid
 * UTF-8 is written with U+FFFD in place of the bad bytes (JSON must be UTF-8).
 *
 * Stream framing, as OpenAI frames it (one "data: <json>\n\n" event each):
 *   chat:        {"choices":[{"index":i,"delta":{"role":"assistant","content":""},..}]}
 *                {"choices":[{"index":i,"delta":{"content":"Hel"},..}]}  ...
 *                {"choices":[{"index":i,"delta":{},"finish_reason":"stop"}]}
 *   completions: {"choices":[{"index":i,"text":"Hel","logprobs":null,"finish_reason":null}]} ...
 *   then, with stream_options.include_usage, {"choices":[],"usage":{...}}
 *   then "data: [DONE]\n\n". */
#ifndef VLLMC_OPENAI_RESPONSE_H
#define VLLMC_OPENAI_RESPONSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/openai_request.h"
#include "vllmc.h"

#define VC_OAI_SSE_DONE "data: [DONE]\n\n"

/* what every body of one response shares */
typedef struct vc_oai_meta {
    vc_oai_endpoint endpoint;   /* VC_OAI_CHAT or VC_OAI_COMPLETION */
    const char *id;             /* "chatcmpl-..." / "cmpl-..." */
    int64_t created;            /* unix seconds */
    const char *model;
} vc_oai_meta;

/* one token with its log-probability; bytes are the token's raw text */
typedef struct vc_oai_token_lp {
    const char *bytes;
    size_t len;
    float logprob;
} vc_oai_token_lp;

/* logprobs of n_pos consecutive positions of one choice:
 * entry[p*(1+n_top)] is the chosen token, the next n_top its alternatives */
typedef struct vc_oai_logprobs {
    int n_pos;
    int n_top;
    const vc_oai_token_lp *entry;
    size_t text_offset;         /* completions: bytes of the choice's text before position 0 */
} vc_oai_logprobs;

typedef struct vc_oai_usage {
    int prompt_tokens;
    int completion_tokens;
} vc_oai_usage;

typedef struct vc_oai_choice {
    int index;
    const char *text;
    size_t text_len;
    vllmc_finish_reason finish;
    const vc_oai_logprobs *logprobs;   /* NULL: "logprobs": null */
} vc_oai_choice;

/* "stop", "length", "abort", "error", or NULL for VLLMC_FINISH_NONE */
const char *vc_oai_finish_name(vllmc_finish_reason f);

/* {"error":{"message":..,"type":..,"param":..|null,"code":..|null}} */
char *vc_oai_error_body(const vc_oai_error *e, size_t *len);

/* the whole non-streamed response: chat.completion or text_completion */
char *vc_oai_response_body(const vc_oai_meta *m, const vc_oai_choice *choices, int n_choices,
                           const vc_oai_usage *u, size_t *len);

/* One SSE event for choice `index`. Chat: the delta holds the role when
 * with_role, content when text != NULL; finish != NONE sets finish_reason.
 * Completions: text (or "") and finish_reason; with_role is ignored. */
char *vc_oai_chunk_sse(const vc_oai_meta *m, int index, bool with_role, const char *text,
                       size_t text_len, const vc_oai_logprobs *lp, vllmc_finish_reason finish,
                       size_t *len);

/* the usage event: "choices": [] and "usage" */
char *vc_oai_usage_sse(const vc_oai_meta *m, const vc_oai_usage *u, size_t *len);

/* GET /v1/models */
char *vc_oai_models_body(const char *model, int64_t created, int max_model_len, size_t *len);
/* POST /tokenize: {"count":n,"max_model_len":L,"tokens":[...]} */
char *vc_oai_tokenize_body(const int32_t *ids, int n, int max_model_len, size_t *len);
/* POST /detokenize: {"prompt":"..."} */
char *vc_oai_detokenize_body(const char *text, size_t text_len, size_t *len);

#endif
