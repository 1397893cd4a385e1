/* The OpenAI-compatible HTTP server.
 *
 * Threads: libmicrohttpd runs one thread per connection (bounded by
 * max_connections); ONE engine thread steps the engine whenever any request
 * is unfinished, so every request is batched continuously with the others.
 * An HTTP thread turns a body into engine requests (one per choice), and
 * waits on its job's condition variable for the output events that the
 * engine thread's callback queues; streamed responses are written as events
 * arrive. A client that goes away (socket hangup, write error, timeout) has
 * its engine requests cancelled, which returns their KV blocks to the pool.
 *
 * Endpoints: POST /v1/chat/completions, POST /v1/completions, GET /v1/models,
 * POST /tokenize, POST /detokenize, GET /health, GET /metrics. */
#ifndef VLLMC_SERVER_H
#define VLLMC_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"
#include "vllmc.h"

/* The engine as the server uses it: include/vllmc.h's functions behind a
 * table, so that the HTTP layer is testable with a scripted engine.
 * vc_server_engine_of (server_engine.c) fills it from a real vllmc_engine.
 * All but step/has_unfinished are called from HTTP threads concurrently. */
typedef struct vc_server_engine {
    void *ctx;
    int64_t (*add_request)(void *ctx, const vllmc_request *r, char *err, size_t err_len);
    void (*cancel)(void *ctx, int64_t request_id);
    int (*step)(void *ctx);
    bool (*has_unfinished)(void *ctx);
    void (*get_stats)(void *ctx, vllmc_stats *s);
    const char *(*model_name)(void *ctx);
    int (*max_model_len)(void *ctx);
    int (*tokenize)(void *ctx, const char *text, bool add_special, int32_t **ids, int *n, char *err,
                    size_t err_len);
    int (*detokenize)(void *ctx, const int32_t *ids, int n, char **text, char *err, size_t err_len);
    /* one token's raw bytes (vllmc_token_bytes), for logprobs */
    int (*token_bytes)(void *ctx, int32_t id, char **bytes, size_t *len, char *err, size_t err_len);
    int (*apply_chat_template)(void *ctx, const vllmc_message *msgs, int n, bool add_generation_prompt,
                               char **out, char *err, size_t err_len);
} vc_server_engine;

vc_server_engine vc_server_engine_of(vllmc_engine *e);

typedef struct vc_server_options {
    const char *host;              /* "127.0.0.1" (numeric IPv4/IPv6 address) */
    int port;                      /* 8000; 0 = any free port (see vc_server_port) */
    const char *api_key;           /* NULL: no key; else "Authorization: Bearer KEY" on /v1/ */
    const char *served_model_name; /* NULL: the engine's model name */
    size_t max_body_bytes;         /* 1 MiB; larger bodies get 413 */
    int max_pending;               /* admitted generation requests at once (256); then 429 */
    int max_connections;           /* open connections = threads (512) */
    int idle_timeout_s;            /* inactivity on a connection before it is closed (30) */
    int read_timeout_s;            /* a whole request body must arrive within this (30) */
    bool quiet;                    /* no access log on stderr */
} vc_server_options;

vc_server_options vc_server_default_options(void);

typedef struct vc_server vc_server;

/* Binds, starts the engine thread and the HTTP threads. */
int vc_server_create(vc_server **out, const vc_server_options *o, const vc_server_engine *eng,
                     vc_error *err);
/* the bound port (useful with port 0) */
int vc_server_port(const vc_server *s);
/* Stops accepting, closes connections (cancelling their requests), drains the
 * engine and joins every thread. Then frees. */
void vc_server_free(vc_server *s);

/* create + wait for SIGINT/SIGTERM (blocked in the calling thread and, by
 * inheritance, in the server's threads) + free. For the CLI. */
int vc_server_run(const vc_server_options *o, vllmc_engine *e, vc_error *err);

#endif
