/* OpenAI request bodies: JSON text -> a validated vc_oai_request, or an error
 * in OpenAI's shape with the HTTP status it deserves.
 *
 * Parsing is pure (no engine): types, ranges and defaults are checked here;
 * what needs the model (tokens, context length, model name) is checked by the
 * server. Unknown fields are ignored, as OpenAI does; a field set to null is
 * treated as absent. */
#ifndef VLLMC_OPENAI_REQUEST_H
#define VLLMC_OPENAI_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* An error as the client sees it:
 *   {"error":{"message":..,"type":..,"param":..,"code":..}} with HTTP status. */
typedef struct vc_oai_error {
    int status;            /* 400, 401, 404, 405, 408, 413, 429, 500, 503 */
    const char *type;      /* "invalid_request_error", "server_error", ... (static) */
    const char *code;      /* static short code or NULL */
    char param[64];        /* offending field ("messages[2].content"), "" if none */
    char message[512];
} vc_oai_error;

/* Fills e and returns -1 (so an error path is one line). */
int vc_oai_errorf(vc_oai_error *e, int status, const char *type, const char *code,
                  const char *param, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

typedef enum vc_oai_endpoint {
    VC_OAI_CHAT = 0,       /* POST /v1/chat/completions */
    VC_OAI_COMPLETION,     /* POST /v1/completions */
    VC_OAI_TOKENIZE,       /* POST /tokenize (prompt or messages) */
    VC_OAI_DETOKENIZE,     /* POST /detokenize */
} vc_oai_endpoint;

typedef struct vc_oai_message {
    char *role;
    char *content;         /* string content, or text parts joined with "\n" */
} vc_oai_message;

/* One completion prompt: text, or token ids (exactly one is set). */
typedef struct vc_oai_prompt {
    char *text;
    int32_t *ids;
    int n_ids;
} vc_oai_prompt;

/* Upper bounds on what one request may ask for (bodies are also capped in
 * bytes by the server). */
enum {
    VC_OAI_MAX_N = 16,
    VC_OAI_MAX_PROMPTS = 64,
    VC_OAI_MAX_STOP = 16,
    VC_OAI_MAX_STOP_LEN = 256,
    VC_OAI_MAX_TOP_LOGPROBS = 20,
    VC_OAI_MAX_MESSAGES = 1024,
};

typedef struct vc_oai_request {
    vc_oai_endpoint endpoint;
    char *model;                   /* NULL: the served model */

    vc_oai_message *messages;      /* chat, tokenize(messages) */
    int n_messages;
    vc_oai_prompt *prompts;        /* completion, tokenize(prompt): >= 1 */
    int n_prompts;
    int32_t *tokens;               /* detokenize */
    int n_tokens;

    int max_tokens;                /* -1: unset (chat: up to the context; completion: 16) */
    float temperature;             /* 1 */
    float top_p;                   /* 1 */
    int top_k;                     /* 0 = off (-1 accepted as off) */
    float min_p;                   /* 0 */
    float presence_penalty;        /* 0 */
    float frequency_penalty;       /* 0 */
    float repetition_penalty;      /* 1 */
    int64_t seed;                  /* -1: random */
    char **stop;                   /* n_stop strings, each non-empty */
    int n_stop;
    int32_t *stop_token_ids;       /* vLLM extension */
    int n_stop_token_ids;
    int n;                         /* choices per prompt, 1 */
    bool stream;
    bool include_usage;            /* stream_options.include_usage */
    bool logprobs;                 /* chat: logprobs=true; completion: logprobs is an int */
    int top_logprobs;              /* alternatives per position, 0..VC_OAI_MAX_TOP_LOGPROBS */
    bool ignore_eos;

    bool add_special_tokens;       /* tokenize: default true (as generation tokenizes) */
    bool add_generation_prompt;    /* tokenize(messages): default true */
} vc_oai_request;

/* Parses and validates body[0..len) for endpoint ep. On success *out owns
 * everything (free with vc_oai_request_free); on error *out is left empty and
 * err holds a 4xx. Never aborts on any input. */
int vc_oai_parse(vc_oai_endpoint ep, const char *body, size_t len, vc_oai_request *out,
                 vc_oai_error *err);
void vc_oai_request_free(vc_oai_request *r);

#endif
