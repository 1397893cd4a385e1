/* The server on a real engine: include/vllmc.h behind vc_server_engine, and
 * the CLI entry that serves until SIGINT/SIGTERM. (Kept apart from server.c
 * so that the HTTP layer links and tests without an engine.) */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>

#include "server/server.h"

static int64_t add_request(void *ctx, const vllmc_request *r, char *err, size_t err_len) {
    return vllmc_add_request(ctx, r, err, err_len);
}
static void cancel(void *ctx, int64_t id) { vllmc_cancel(ctx, id); }
static int step(void *ctx) { return vllmc_step(ctx); }
static bool has_unfinished(void *ctx) { return vllmc_has_unfinished(ctx); }
static void get_stats(void *ctx, vllmc_stats *s) { vllmc_get_stats(ctx, s); }
static const char *model_name(void *ctx) { return vllmc_model_name(ctx); }
static int max_model_len(void *ctx) { return vllmc_max_model_len(ctx); }
static int tokenize(void *ctx, const char *text, bool add_special, int32_t **ids, int *n, char *err,
                    size_t err_len) {
    return vllmc_tokenize(ctx, text, add_special, ids, n, err, err_len);
}
static int detokenize(void *ctx, const int32_t *ids, int n, char **text, char *err, size_t err_len) {
    return vllmc_detokenize(ctx, ids, n, text, err, err_len);
}
static int token_bytes(void *ctx, int32_t id, char **bytes, size_t *len, char *err, size_t err_len) {
    return vllmc_token_bytes(ctx, id, bytes, len, err, err_len);
}
static int apply_chat_template(void *ctx, const vllmc_message *msgs, int n, bool add_generation_prompt,
                               char **out, char *err, size_t err_len) {
    return vllmc_apply_chat_template(ctx, msgs, n, add_generation_prompt, out, err, err_len);
}

vc_server_engine vc_server_engine_of(vllmc_engine *e) {
    return (vc_server_engine){.ctx = e, .add_request = add_request, .cancel = cancel, .step = step,
                              .has_unfinished = has_unfinished, .get_stats = get_stats,
                              .model_name = model_name, .max_model_len = max_model_len,
                              .tokenize = tokenize, .detokenize = detokenize, .token_bytes = token_bytes,
                              .apply_chat_template = apply_chat_template};
}

int vc_server_run(const vc_server_options *o, vllmc_engine *e, vc_error *err) {
    /* Block the stop signals (and SIGPIPE) before any thread starts, so that
     * every thread inherits the mask and sigwait below receives them. */
    sigset_t stop_set, old;
    sigemptyset(&stop_set);
    sigaddset(&stop_set, SIGINT);
    sigaddset(&stop_set, SIGTERM);
    sigaddset(&stop_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &stop_set, &old);
    vc_server_engine eng = vc_server_engine_of(e);
    vc_server *s;
    if (vc_server_create(&s, o, &eng, err)) {
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        return -1;
    }
    fprintf(stderr, "vllmc: serving %s on http://%s:%d (Ctrl-C stops)\n", vllmc_model_name(e),
            o->host, vc_server_port(s));
    sigdelset(&stop_set, SIGPIPE);
    int sig = 0;
    sigwait(&stop_set, &sig);
    fprintf(stderr, "vllmc: signal %d, shutting down\n", sig);
    vc_server_free(s);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return 0;
}
