/* The OpenAI-compatible HTTP server (see server.h for the threads).
 *
 * Ownership: a generation is a `job` (one HTTP request, n_choices engine
 * requests). It is reference counted: one reference for the HTTP side
 * (dropped when the response is done or the client is gone) and one per
 * engine request (dropped by the output callback on its final event). The
 * engine thread only ever appends events to the job's queue under job->mu;
 * the HTTP thread drains and formats them. */
#include "server/server.h"

#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "server/metrics.h"
#include "server/openai_request.h"
#include "server/openai_response.h"

/* how often a waiting HTTP thread looks at its socket for a hangup */
#define POLL_INTERVAL_MS 50

typedef enum route {
    R_NONE = 0,
    R_CHAT,
    R_COMPLETION,
    R_MODELS,
    R_TOKENIZE,
    R_DETOKENIZE,
    R_HEALTH,
    R_METRICS,
} route;

static const struct {
    const char *path;
    const char *method;
    route r;
    bool needs_key;     /* behind --api-key */
} routes[] = {
    {"/v1/chat/completions", "POST", R_CHAT, true},
    {"/v1/completions", "POST", R_COMPLETION, true},
    {"/v1/models", "GET", R_MODELS, true},
    {"/tokenize", "POST", R_TOKENIZE, true},
    {"/detokenize", "POST", R_DETOKENIZE, true},
    {"/health", "GET", R_HEALTH, false},
    {"/metrics", "GET", R_METRICS, false},
};

struct vc_server {
    vc_server_options opt;
    char *host, *api_key, *model_name;   /* owned copies */
    vc_server_engine eng;
    struct MHD_Daemon *mhd;
    vc_metrics *metrics;
    int64_t created;                     /* unix seconds at start */

    pthread_mutex_t mu;                  /* guards the fields below */
    pthread_cond_t engine_cv;            /* wakes the engine thread */
    bool work;                           /* a request was added or cancelled */
    bool stopping;                       /* HTTP side: give up waiting, cancel */
    bool engine_stop;                    /* engine thread: exit once drained */
    int n_pending;                       /* admitted jobs not yet freed */
    uint64_t next_id;

    pthread_t engine_thread;
    bool engine_started;
};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void wake_engine(vc_server *s) {
    pthread_mutex_lock(&s->mu);
    s->work = true;
    pthread_cond_signal(&s->engine_cv);
    pthread_mutex_unlock(&s->mu);
}

static bool server_stopping(vc_server *s) {
    pthread_mutex_lock(&s->mu);
    bool st = s->stopping;
    pthread_mutex_unlock(&s->mu);
    return st;
}

/* ---- the engine thread ------------------------------------------------- */

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void *engine_main(void *arg) {
    vc_server *s = arg;
    int failures = 0;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        while (!s->work && !s->engine_stop) pthread_cond_wait(&s->engine_cv, &s->mu);
        bool stopping = s->engine_stop;
        s->work = false;
        pthread_mutex_unlock(&s->mu);
        while (s->eng.has_unfinished(s->eng.ctx)) {
            int ran = s->eng.step(s->eng.ctx);
            if (ran < 0) {
                fprintf(stderr, "vllmc server: engine step failed\n");
                if (stopping && ++failures > 100) break;
                sleep_ms(10);
            } else if (ran == 0) {
                sleep_ms(1);   /* unfinished but nothing schedulable: do not spin */
            }
        }
        if (stopping) break;
    }
    return NULL;
}

/* ---- jobs: one generation request ------------------------------------- */

typedef struct event {
    struct event *next;
    int choice;
    char *text;
    size_t text_len;
    int32_t *tokens;
    int n_tokens;
    vllmc_logprob *logprobs;   /* n_tokens * (1 + k) */
    int k;
    vllmc_finish_reason finish;
    int completion_tokens;
} event;

typedef struct token_lps {     /* growing list of per-position logprob entries */
    vc_oai_token_lp *e;        /* bytes are owned (malloc'd) */
    int n_pos, cap_pos;
} token_lps;

typedef struct choice {
    struct job *job;
    int index;                 /* OpenAI index: prompt * n + sample */
    int prompt;                /* which prompt */
    int64_t req_id;            /* -1 until added (job->mu) */
    bool finished;             /* final event queued (job->mu) */
    /* engine thread only */
    bool got_first;
    double t_last;
    /* HTTP thread only */
    char *text;
    size_t text_len, text_cap;
    token_lps lps;
    vllmc_finish_reason finish;
    int completion_tokens;
} choice;

typedef struct job {
    vc_server *s;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int refs;
    event *head, *tail;
    int n_finished;
    bool oom;                  /* an event was lost: fail the response */

    vc_oai_request req;
    int n_choices;
    choice *choices;
    int32_t **prompt_ids;      /* [n_prompts] */
    int *n_prompt_ids;
    int n_prompts;             /* 1 for chat, req.n_prompts for completions */
    int total_prompt_tokens;
    char id[64];
    vc_oai_meta meta;
    double t_arrival;
    int fd;                    /* the client's socket, for hangup checks */
    struct MHD_Connection *conn;

    /* streaming (HTTP thread only) */
    char *out;
    size_t out_len, out_pos, out_cap;
    bool started, done;
} job;

static void event_free(event *ev) {
    free(ev->text);
    free(ev->tokens);
    free(ev->logprobs);
    free(ev);
}

static void job_free(job *j) {
    for (event *ev = j->head, *next; ev; ev = next) {
        next = ev->next;
        event_free(ev);
    }
    for (int i = 0; i < j->n_choices; i++) {
        choice *c = &j->choices[i];
        free(c->text);
        for (int p = 0; p < c->lps.n_pos * (1 + j->req.top_logprobs); p++) free((void *)c->lps.e[p].bytes);
        free(c->lps.e);
    }
    free(j->choices);
    if (j->prompt_ids)
        for (int i = 0; i < j->n_prompts; i++) free(j->prompt_ids[i]);
    free(j->prompt_ids);
    free(j->n_prompt_ids);
    vc_oai_request_free(&j->req);
    free(j->out);
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->cv);
    vc_server *s = j->s;
    free(j);
    pthread_mutex_lock(&s->mu);
    s->n_pending--;
    pthread_mutex_unlock(&s->mu);
}

static void job_unref(job *j) {
    pthread_mutex_lock(&j->mu);
    int refs = --j->refs;
    pthread_mutex_unlock(&j->mu);
    if (refs == 0) job_free(j);
}

/* Cancels every engine request of j that has not finished. */
static void job_cancel(job *j) {
    int64_t ids[VC_OAI_MAX_N * VC_OAI_MAX_PROMPTS];
    int n = 0;
    pthread_mutex_lock(&j->mu);
    for (int i = 0; i < j->n_choices; i++)
        if (j->choices[i].req_id >= 0 && !j->choices[i].finished) ids[n++] = j->choices[i].req_id;
    pthread_mutex_unlock(&j->mu);
    for (int i = 0; i < n; i++) j->s->eng.cancel(j->s->eng.ctx, ids[i]);
    if (n) wake_engine(j->s);
}

/* the engine's output callback (engine thread): copy, queue, wake */
static void on_output(const vllmc_output *o, void *user) {
    choice *c = user;
    job *j = c->job;
    vc_server *s = j->s;
    double t = now_s();
    if (o->n_tokens > 0) {
        if (!c->got_first) {
            vc_metrics_observe_ttft(s->metrics, t - j->t_arrival);
            c->got_first = true;
            for (int i = 1; i < o->n_tokens; i++) vc_metrics_observe_tpot(s->metrics, 0.0);
        } else {
            for (int i = 0; i < o->n_tokens; i++)
                vc_metrics_observe_tpot(s->metrics, (t - c->t_last) / o->n_tokens);
        }
        c->t_last = t;
    }
    event *ev = calloc(1, sizeof *ev);
    bool ok = ev != NULL;
    if (ok) {
        ev->choice = (int)(c - j->choices);
        ev->finish = o->finish;
        ev->completion_tokens = o->completion_tokens;
        ev->text_len = o->text ? o->text_len : 0;
        ev->text = malloc(ev->text_len + 1);
        ok = ev->text != NULL;
        if (ok) {
            if (ev->text_len) memcpy(ev->text, o->text, ev->text_len);
            ev->text[ev->text_len] = 0;
        }
        if (ok && o->n_tokens > 0 && o->tokens) {
            ev->n_tokens = o->n_tokens;
            ev->tokens = malloc(sizeof *ev->tokens * (size_t)o->n_tokens);
            ok = ev->tokens != NULL;
            if (ok) memcpy(ev->tokens, o->tokens, sizeof *ev->tokens * (size_t)o->n_tokens);
            if (ok && o->logprobs && j->req.logprobs) {
                size_t n = (size_t)o->n_tokens * (size_t)(1 + o->n_top_logprobs);
                ev->k = o->n_top_logprobs;
                ev->logprobs = malloc(sizeof *ev->logprobs * n);
                ok = ev->logprobs != NULL;
                if (ok) memcpy(ev->logprobs, o->logprobs, sizeof *ev->logprobs * n);
            }
        }
    }
    /* counted before the event is visible: a client that has its answer
     * reads /metrics with this generation in it */
    if (o->finish != VLLMC_FINISH_NONE)
        vc_metrics_count_finish(s->metrics, o->finish, c->index % j->req.n == 0 ? o->prompt_tokens : 0,
                                o->completion_tokens);
    pthread_mutex_lock(&j->mu);
    if (ok) {
        if (j->tail) j->tail->next = ev;
        else j->head = ev;
        j->tail = ev;
    } else {
        j->oom = true;
    }
    if (o->finish != VLLMC_FINISH_NONE && !c->finished) {
        c->finished = true;
        j->n_finished++;
    }
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
    if (!ok && ev) event_free(ev);
    if (o->finish != VLLMC_FINISH_NONE) job_unref(j);   /* the engine's reference */
}

/* ---- turning events into choices and SSE bytes (HTTP thread) ----------- */

static int append(char **buf, size_t *len, size_t *cap, const char *s, size_t n) {
    if (*len + n + 1 > *cap) {
        size_t nc = (*cap ? *cap * 2 : 256);
        while (nc < *len + n + 1) nc *= 2;
        char *b = realloc(*buf, nc);
        if (!b) return -1;
        *buf = b;
        *cap = nc;
    }
    if (n) memcpy(*buf + *len, s, n);
    *len += n;
    (*buf)[*len] = 0;
    return 0;
}

/* the raw bytes of one token (malloc'd): a piece of a UTF-8 character stays
 * as it is, so that the "bytes" of consecutive logprob entries join into the
 * text (the JSON "token" string shows U+FFFD for it) */
static char *token_bytes(job *j, int32_t id, size_t *len) {
    char *text = NULL, err[128];
    if (j->s->eng.token_bytes(j->s->eng.ctx, id, &text, len, err, sizeof err) || !text) {
        free(text);
        text = strdup("");
        *len = 0;
    }
    return text;
}

/* Appends the logprob entries of ev to c; the new positions start at
 * c->lps.n_pos (returned in *first). */
static int add_logprobs(job *j, choice *c, const event *ev, int *first) {
    *first = c->lps.n_pos;
    if (!j->req.logprobs || !ev->logprobs || ev->n_tokens == 0) return 0;
    int n_top = j->req.top_logprobs, stride = 1 + n_top;
    if (c->lps.n_pos + ev->n_tokens > c->lps.cap_pos) {
        int cap = c->lps.cap_pos ? c->lps.cap_pos * 2 : 16;
        while (cap < c->lps.n_pos + ev->n_tokens) cap *= 2;
        vc_oai_token_lp *e = realloc(c->lps.e, sizeof *e * (size_t)cap * (size_t)stride);
        if (!e) return -1;
        c->lps.e = e;
        c->lps.cap_pos = cap;
    }
    for (int p = 0; p < ev->n_tokens; p++) {
        vc_oai_token_lp *dst = c->lps.e + (size_t)(c->lps.n_pos) * (size_t)stride;
        const vllmc_logprob *src = ev->logprobs + (size_t)p * (size_t)(1 + ev->k);
        for (int k = 0; k < stride; k++) {
            /* the engine may return fewer alternatives than asked (k) */
            bool have = k == 0 || k <= ev->k;
            int32_t tok = have ? src[k].token : 0;
            dst[k].bytes = token_bytes(j, tok, &dst[k].len);
            dst[k].logprob = have ? src[k].logprob : -9999.f;
            if (k == 0 && !have) dst[k].logprob = 0.f;
        }
        c->lps.n_pos++;
    }
    return 0;
}

static vc_oai_usage job_usage(job *j) {
    vc_oai_usage u = {.prompt_tokens = j->total_prompt_tokens};
    for (int i = 0; i < j->n_choices; i++) u.completion_tokens += j->choices[i].completion_tokens;
    return u;
}

/* Takes the queued events (caller holds no lock). */
static event *take_events(job *j, bool *all_finished, bool *oom) {
    pthread_mutex_lock(&j->mu);
    event *evs = j->head;
    j->head = j->tail = NULL;
    *all_finished = j->n_finished == j->n_choices;
    *oom = j->oom;
    pthread_mutex_unlock(&j->mu);
    return evs;
}

/* Non-streamed: folds events into the choices' text and logprobs. */
static int accumulate(job *j, event *evs) {
    int rc = 0;
    for (event *ev = evs, *next; ev; ev = next) {
        next = ev->next;
        choice *c = &j->choices[ev->choice];
        int first;
        if (append(&c->text, &c->text_len, &c->text_cap, ev->text, ev->text_len) ||
            add_logprobs(j, c, ev, &first))
            rc = -1;
        if (ev->finish != VLLMC_FINISH_NONE) {
            c->finish = ev->finish;
            c->completion_tokens = ev->completion_tokens;
        }
        event_free(ev);
    }
    return rc;
}

/* takes s; *n is read after s was made (so both may come from one call) */
static int out_append(job *j, char *s, const size_t *n) {
    if (!s) return -1;
    int rc = append(&j->out, &j->out_len, &j->out_cap, s, *n);
    free(s);
    return rc;
}

/* Streamed: formats events into SSE bytes in j->out. */
static int format_events(job *j, event *evs) {
    int rc = 0;
    size_t n;
    for (event *ev = evs, *next; ev; ev = next) {
        next = ev->next;
        choice *c = &j->choices[ev->choice];
        int first;
        if (add_logprobs(j, c, ev, &first)) rc = -1;
        vc_oai_logprobs lp = {.n_pos = c->lps.n_pos - first, .n_top = j->req.top_logprobs,
                              .entry = c->lps.e ? c->lps.e + (size_t)first * (size_t)(1 + j->req.top_logprobs) : NULL,
                              .text_offset = c->text_len};
        bool has_lp = j->req.logprobs && lp.n_pos > 0;
        if (ev->text_len > 0 || has_lp) {
            if (out_append(j, vc_oai_chunk_sse(&j->meta, c->index, false, ev->text, ev->text_len,
                                               has_lp ? &lp : NULL, VLLMC_FINISH_NONE, &n), &n))
                rc = -1;
        }
        c->text_len += ev->text_len;   /* only the length: offsets for completion logprobs */
        if (ev->finish != VLLMC_FINISH_NONE) {
            c->finish = ev->finish;
            c->completion_tokens = ev->completion_tokens;
            if (out_append(j, vc_oai_chunk_sse(&j->meta, c->index, false,
                                               j->meta.endpoint == VC_OAI_CHAT ? NULL : "", 0, NULL,
                                               ev->finish, &n), &n))
                rc = -1;
        }
        event_free(ev);
    }
    return rc;
}

/* The idle timeout is for clients that stall, not for time spent waiting on
 * the engine: restart the connection's timer (documented: setting a timeout
 * after 0 resets it) before handing MHD data produced after a wait. */
static void touch_connection(job *j) {
    MHD_set_connection_option(j->conn, MHD_CONNECTION_OPTION_TIMEOUT, 0u);
    MHD_set_connection_option(j->conn, MHD_CONNECTION_OPTION_TIMEOUT, (unsigned)j->s->opt.idle_timeout_s);
}

static bool client_gone(int fd) {
    if (fd < 0) return false;
    struct pollfd p = {.fd = fd, .events = POLLRDHUP};
    return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL));
}

/* Waits up to POLL_INTERVAL_MS for news on j (caller holds j->mu). */
static void job_wait(job *j) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += POLL_INTERVAL_MS * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&j->cv, &j->mu, &ts);
}

/* MHD content reader of a streamed response */
static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    job *j = cls;
    size_t n;
    if (!j->started) {   /* the role chunk of every choice comes first */
        j->started = true;
        if (j->meta.endpoint == VC_OAI_CHAT)
            for (int i = 0; i < j->n_choices; i++)
                if (out_append(j, vc_oai_chunk_sse(&j->meta, j->choices[i].index, true, "", 0, NULL,
                                                   VLLMC_FINISH_NONE, &n), &n))
                    return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    for (;;) {
        if (j->out_pos < j->out_len) {
            size_t k = j->out_len - j->out_pos < max ? j->out_len - j->out_pos : max;
            memcpy(buf, j->out + j->out_pos, k);
            j->out_pos += k;
            if (j->out_pos == j->out_len) j->out_pos = j->out_len = 0;
            touch_connection(j);
            return (ssize_t)k;
        }
        if (j->done) {
            touch_connection(j);
            return MHD_CONTENT_READER_END_OF_STREAM;
        }
        bool all_finished, oom;
        event *evs = take_events(j, &all_finished, &oom);
        if (oom || format_events(j, evs)) return MHD_CONTENT_READER_END_WITH_ERROR;
        if (all_finished) {
            /* take_events saw every final event queued: nothing can follow */
            bool again, oom2;
            event *rest = take_events(j, &again, &oom2);
            if (oom2 || format_events(j, rest)) return MHD_CONTENT_READER_END_WITH_ERROR;
            if (j->req.include_usage) {
                vc_oai_usage u = job_usage(j);
                if (out_append(j, vc_oai_usage_sse(&j->meta, &u, &n), &n))
                    return MHD_CONTENT_READER_END_WITH_ERROR;
            }
            if (append(&j->out, &j->out_len, &j->out_cap, VC_OAI_SSE_DONE, strlen(VC_OAI_SSE_DONE)))
                return MHD_CONTENT_READER_END_WITH_ERROR;
            j->done = true;
            continue;
        }
        if (j->out_len > 0) continue;
        if (client_gone(j->fd) || server_stopping(j->s)) return MHD_CONTENT_READER_END_WITH_ERROR;
        pthread_mutex_lock(&j->mu);
        if (!j->head && j->n_finished < j->n_choices) job_wait(j);
        pthread_mutex_unlock(&j->mu);
    }
}

/* MHD frees the streamed response: the client is done or gone */
static void stream_free(void *cls) {
    job *j = cls;
    job_cancel(j);
    job_unref(j);
}

/* ---- HTTP plumbing ------------------------------------------------------ */

typedef struct conn {
    vc_server *s;
    route r;
    char method[16];
    char url[128];
    double t_start;
    char *body;
    size_t len, cap;
    int status;                /* what was queued (for metrics and the log) */
    bool responded;
    vc_oai_error deferred;     /* an error found while the body still streams in */
    bool has_deferred;
} conn;

static enum MHD_Result reply(struct MHD_Connection *c, conn *k, int status, const char *ctype,
                             char *body, size_t len) {
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, body ? body : (void *)"", body ? MHD_RESPMEM_MUST_FREE
                                                                            : MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        free(body);
        return MHD_NO;
    }
    if (ctype) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    if (status == 405) {
        for (size_t i = 0; i < sizeof routes / sizeof *routes; i++)
            if (routes[i].r == k->r) MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, routes[i].method);
    }
    if (status == 401) MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    enum MHD_Result rc = MHD_queue_response(c, (unsigned)status, resp);
    MHD_destroy_response(resp);
    k->status = status;
    k->responded = true;
    return rc;
}

static enum MHD_Result reply_error(struct MHD_Connection *c, conn *k, const vc_oai_error *e) {
    size_t len = 0;
    char *body = vc_oai_error_body(e, &len);
    if (!body) return MHD_NO;
    return reply(c, k, e->status, "application/json", body, len);
}

static enum MHD_Result reply_json(struct MHD_Connection *c, conn *k, char *body, size_t len) {
    if (!body) {
        vc_oai_error e;
        vc_oai_errorf(&e, 500, "server_error", NULL, NULL, "out of memory");
        return reply_error(c, k, &e);
    }
    return reply(c, k, 200, "application/json", body, len);
}

/* constant-time comparison of the bearer token */
static bool key_ok(const vc_server *s, struct MHD_Connection *c) {
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h || strncasecmp(h, "Bearer ", 7) != 0) return false;
    const char *given = h + 7, *want = s->api_key;
    size_t gl = strlen(given), wl = strlen(want);
    unsigned char diff = (unsigned char)(gl != wl);
    for (size_t i = 0; i < wl; i++) diff |= (unsigned char)(want[i] ^ (i < gl ? given[i] : 0));
    return diff == 0;
}

static bool model_ok(const vc_server *s, const char *model) {
    if (!model) return true;
    const char *engine_name = s->eng.model_name(s->eng.ctx);
    return !strcmp(model, s->model_name) || (engine_name && !strcmp(model, engine_name));
}

static int check_model(const vc_server *s, const char *model, vc_oai_error *err) {
    if (model_ok(s, model)) return 0;
    return vc_oai_errorf(err, 404, "invalid_request_error", "model_not_found", "model",
                         "The model '%.200s' does not exist; this server serves '%.200s'.", model,
                         s->model_name);
}

/* ---- endpoints ---------------------------------------------------------- */

static enum MHD_Result do_metrics(struct MHD_Connection *c, conn *k) {
    vllmc_stats st;
    memset(&st, 0, sizeof st);
    k->s->eng.get_stats(k->s->eng.ctx, &st);
    char *text;
    size_t len;
    if (vc_metrics_render(k->s->metrics, &st, &text, &len)) return MHD_NO;
    return reply(c, k, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
}

/* Renders the messages through the chat template and tokenizes the text. */
static int tokenize_messages(vc_server *s, const vc_oai_request *r, bool add_generation_prompt,
                             bool add_special, int32_t **ids, int *n, vc_oai_error *err) {
    vllmc_message *msgs = calloc((size_t)r->n_messages, sizeof *msgs);
    if (!msgs) return vc_oai_errorf(err, 500, "server_error", NULL, NULL, "out of memory");
    for (int i = 0; i < r->n_messages; i++) {
        msgs[i].role = r->messages[i].role;
        msgs[i].content = r->messages[i].content;
    }
    char *text = NULL, emsg[256] = "";
    int rc = s->eng.apply_chat_template(s->eng.ctx, msgs, r->n_messages, add_generation_prompt, &text,
                                        emsg, sizeof emsg);
    free(msgs);
    if (rc) return vc_oai_errorf(err, 400, "invalid_request_error", NULL, "messages", "chat template: %s", emsg);
    rc = s->eng.tokenize(s->eng.ctx, text, add_special, ids, n, emsg, sizeof emsg);
    free(text);
    if (rc) return vc_oai_errorf(err, 400, "invalid_request_error", NULL, "messages", "tokenizer: %s", emsg);
    return 0;
}

/* Checks token ids against the vocabulary (the detokenizer rejects bad ids). */
static int check_ids(vc_server *s, const int32_t *ids, int n, const char *param, vc_oai_error *err) {
    char *text = NULL, emsg[256] = "";
    int rc = s->eng.detokenize(s->eng.ctx, ids, n, &text, emsg, sizeof emsg);
    free(text);
    if (rc) return vc_oai_errorf(err, 400, "invalid_request_error", NULL, param, "invalid token ids: %s", emsg);
    return 0;
}

static enum MHD_Result do_tokenize(struct MHD_Connection *c, conn *k, vc_oai_request *r) {
    vc_server *s = k->s;
    vc_oai_error err;
    int32_t *ids = NULL;
    int n = 0;
    if (r->n_messages) {
        if (tokenize_messages(s, r, r->add_generation_prompt, r->add_special_tokens, &ids, &n, &err))
            return reply_error(c, k, &err);
    } else {
        char emsg[256] = "";
        if (s->eng.tokenize(s->eng.ctx, r->prompts[0].text, r->add_special_tokens, &ids, &n, emsg, sizeof emsg)) {
            vc_oai_errorf(&err, 400, "invalid_request_error", NULL, "prompt", "tokenizer: %s", emsg);
            return reply_error(c, k, &err);
        }
    }
    size_t len;
    char *body = vc_oai_tokenize_body(ids, n, s->eng.max_model_len(s->eng.ctx), &len);
    free(ids);
    return reply_json(c, k, body, len);
}

static enum MHD_Result do_detokenize(struct MHD_Connection *c, conn *k, vc_oai_request *r) {
    vc_server *s = k->s;
    char *text = NULL, emsg[256] = "";
    if (s->eng.detokenize(s->eng.ctx, r->tokens, r->n_tokens, &text, emsg, sizeof emsg)) {
        free(text);
        vc_oai_error err;
        vc_oai_errorf(&err, 400, "invalid_request_error", NULL, "tokens", "invalid token ids: %s", emsg);
        return reply_error(c, k, &err);
    }
    size_t len;
    char *body = vc_oai_detokenize_body(text ? text : "", text ? strlen(text) : 0, &len);
    free(text);
    return reply_json(c, k, body, len);
}

/* Prompts -> token ids, context check, default max_tokens. */
static int prepare_prompts(job *j, vc_oai_error *err) {
    vc_server *s = j->s;
    vc_oai_request *r = &j->req;
    int n_prompts = j->n_prompts;
    j->prompt_ids = calloc((size_t)n_prompts, sizeof *j->prompt_ids);
    j->n_prompt_ids = calloc((size_t)n_prompts, sizeof *j->n_prompt_ids);
    if (!j->prompt_ids || !j->n_prompt_ids)
        return vc_oai_errorf(err, 500, "server_error", NULL, NULL, "out of memory");
    int max_len = s->eng.max_model_len(s->eng.ctx);
    int min_room = INT32_MAX;
    for (int i = 0; i < n_prompts; i++) {
        char param[32];
        snprintf(param, sizeof param, r->n_prompts > 1 ? "prompt[%d]" : "prompt", i);
        if (r->endpoint == VC_OAI_CHAT) {
            snprintf(param, sizeof param, "messages");
            /* add_special as the engine and the CLI do (a template's BOS is not doubled) */
            if (tokenize_messages(s, r, true, true, &j->prompt_ids[i], &j->n_prompt_ids[i], err)) return -1;
        } else if (r->prompts[i].text) {
            char emsg[256] = "";
            if (s->eng.tokenize(s->eng.ctx, r->prompts[i].text, true, &j->prompt_ids[i],
                                &j->n_prompt_ids[i], emsg, sizeof emsg))
                return vc_oai_errorf(err, 400, "invalid_request_error", NULL, param, "tokenizer: %s", emsg);
        } else {
            if (check_ids(s, r->prompts[i].ids, r->prompts[i].n_ids, param, err)) return -1;
            j->prompt_ids[i] = malloc(sizeof(int32_t) * (size_t)r->prompts[i].n_ids);
            if (!j->prompt_ids[i]) return vc_oai_errorf(err, 500, "server_error", NULL, NULL, "out of memory");
            memcpy(j->prompt_ids[i], r->prompts[i].ids, sizeof(int32_t) * (size_t)r->prompts[i].n_ids);
            j->n_prompt_ids[i] = r->prompts[i].n_ids;
        }
        int np = j->n_prompt_ids[i];
        if (np == 0) return vc_oai_errorf(err, 400, "invalid_request_error", NULL, param, "the prompt is empty (0 tokens)");
        int want = r->max_tokens > 0 ? r->max_tokens : r->endpoint == VC_OAI_COMPLETION ? 16 : 1;
        if (np >= max_len || (int64_t)np + want > max_len)
            return vc_oai_errorf(err, 400, "invalid_request_error", "context_length_exceeded", param,
                                 "This model's maximum context length is %d tokens. However, you "
                                 "requested %lld tokens (%d in the %s, %d for the completion). Please "
                                 "reduce the length of the %s or the completion.",
                                 max_len, (long long)np + want, np,
                                 r->endpoint == VC_OAI_CHAT ? "messages" : "prompt", want,
                                 r->endpoint == VC_OAI_CHAT ? "messages" : "prompt");
        if (max_len - np < min_room) min_room = max_len - np;
        j->total_prompt_tokens += np;
    }
    if (r->max_tokens <= 0) r->max_tokens = r->endpoint == VC_OAI_COMPLETION ? 16 : min_room;
    return 0;
}

/* Creates the engine requests of j (one per choice). */
static int submit(job *j, vc_oai_error *err) {
    vc_server *s = j->s;
    vc_oai_request *r = &j->req;
    for (int i = 0; i < j->n_choices; i++) {
        choice *c = &j->choices[i];
        vllmc_request er = {.prompt_ids = j->prompt_ids[c->prompt], .n_prompt_ids = j->n_prompt_ids[c->prompt],
                            .on_output = on_output, .user = c};
        vllmc_sampling_params *p = &er.params;
        p->temperature = r->temperature;
        p->top_p = r->top_p;
        p->top_k = r->top_k;
        p->min_p = r->min_p;
        p->repetition_penalty = r->repetition_penalty;
        p->presence_penalty = r->presence_penalty;
        p->frequency_penalty = r->frequency_penalty;
        /* each sample of a seeded request gets its own reproducible seed */
        p->seed = r->seed >= 0 ? (int64_t)(((uint64_t)r->seed + (uint64_t)(c->index % r->n)) & INT64_MAX) : -1;
        p->max_tokens = r->max_tokens;
        p->ignore_eos = r->ignore_eos;
        p->stop = (const char *const *)r->stop;
        p->n_stop = r->n_stop;
        p->stop_token_ids = r->stop_token_ids;
        p->n_stop_token_ids = r->n_stop_token_ids;
        p->logprobs = r->logprobs ? (r->top_logprobs > 0 ? r->top_logprobs : 1) : 0;

        pthread_mutex_lock(&j->mu);
        j->refs++;   /* the engine's reference, dropped by its final event */
        pthread_mutex_unlock(&j->mu);
        char emsg[512] = "";
        int64_t id = s->eng.add_request(s->eng.ctx, &er, emsg, sizeof emsg);
        if (id < 0) {
            pthread_mutex_lock(&j->mu);
            j->refs--;
            pthread_mutex_unlock(&j->mu);
            job_cancel(j);
            return vc_oai_errorf(err, 400, "invalid_request_error", NULL, NULL, "%s", emsg[0] ? emsg : "request rejected by the engine");
        }
        pthread_mutex_lock(&j->mu);
        c->req_id = c->finished ? -1 : id;
        pthread_mutex_unlock(&j->mu);
    }
    wake_engine(s);
    return 0;
}

static job *job_create(vc_server *s, vc_oai_request *r, struct MHD_Connection *c) {
    job *j = calloc(1, sizeof *j);
    if (!j) return NULL;
    j->s = s;
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->cv, NULL);
    j->refs = 1;
    j->req = *r;   /* takes ownership */
    memset(r, 0, sizeof *r);
    j->t_arrival = now_s();
    j->n_prompts = j->req.endpoint == VC_OAI_CHAT ? 1 : j->req.n_prompts;
    j->n_choices = j->n_prompts * j->req.n;
    j->choices = calloc((size_t)j->n_choices, sizeof *j->choices);
    for (int i = 0; j->choices && i < j->n_choices; i++) {
        j->choices[i].job = j;
        j->choices[i].index = i;
        j->choices[i].prompt = i / j->req.n;
        j->choices[i].req_id = -1;
    }
    j->conn = c;
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    j->fd = ci ? ci->connect_fd : -1;
    pthread_mutex_lock(&s->mu);
    uint64_t seq = s->next_id++;
    pthread_mutex_unlock(&s->mu);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(j->id, sizeof j->id, "%s-%08llx%016llx", j->req.endpoint == VC_OAI_CHAT ? "chatcmpl" : "cmpl",
             (unsigned long long)seq,
             (unsigned long long)((uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec));
    j->meta = (vc_oai_meta){.endpoint = j->req.endpoint, .id = j->id, .created = (int64_t)ts.tv_sec,
                            .model = s->model_name};
    if (!j->choices) {
        j->n_choices = 0;
        job_free(j);
        return NULL;
    }
    return j;
}

/* Non-streamed: waits for every choice, then answers with the whole body. */
static enum MHD_Result finish_blocking(struct MHD_Connection *c, conn *k, job *j) {
    pthread_mutex_lock(&j->mu);
    bool gone = false;
    while (j->n_finished < j->n_choices) {
        pthread_mutex_unlock(&j->mu);
        gone = client_gone(j->fd) || server_stopping(j->s);
        pthread_mutex_lock(&j->mu);
        if (gone) break;
        if (j->n_finished < j->n_choices) job_wait(j);
    }
    pthread_mutex_unlock(&j->mu);
    if (gone) {
        job_cancel(j);
        job_unref(j);
        k->status = 499;   /* nginx's "client closed request", for the log and metrics */
        return MHD_NO;
    }
    touch_connection(j);
    bool all, oom;
    event *evs = take_events(j, &all, &oom);
    int rc = accumulate(j, evs);
    enum MHD_Result res;
    if (rc || oom) {
        vc_oai_error e;
        vc_oai_errorf(&e, 500, "server_error", NULL, NULL, "out of memory while collecting the output");
        res = reply_error(c, k, &e);
    } else {
        bool failed = false;
        vc_oai_choice *cs = calloc((size_t)j->n_choices, sizeof *cs);
        vc_oai_logprobs *lps = calloc((size_t)j->n_choices, sizeof *lps);
        for (int i = 0; cs && lps && i < j->n_choices; i++) {
            choice *ch = &j->choices[i];
            failed |= ch->finish == VLLMC_FINISH_ERROR;
            lps[i] = (vc_oai_logprobs){.n_pos = ch->lps.n_pos, .n_top = j->req.top_logprobs, .entry = ch->lps.e};
            cs[i] = (vc_oai_choice){.index = ch->index, .text = ch->text ? ch->text : "", .text_len = ch->text_len,
                                    .finish = ch->finish, .logprobs = j->req.logprobs ? &lps[i] : NULL};
        }
        if (failed) {
            vc_oai_error e;
            vc_oai_errorf(&e, 500, "server_error", NULL, NULL, "the engine failed while generating");
            res = reply_error(c, k, &e);
        } else {
            vc_oai_usage u = job_usage(j);
            size_t len = 0;
            char *body = cs && lps ? vc_oai_response_body(&j->meta, cs, j->n_choices, &u, &len) : NULL;
            res = reply_json(c, k, body, len);
        }
        free(cs);
        free(lps);
    }
    job_unref(j);
    return res;
}

static enum MHD_Result do_generate(struct MHD_Connection *c, conn *k, vc_oai_request *r) {
    vc_server *s = k->s;
    vc_oai_error err;
    pthread_mutex_lock(&s->mu);
    bool admitted = s->n_pending < s->opt.max_pending && !s->stopping;
    if (admitted) s->n_pending++;
    pthread_mutex_unlock(&s->mu);
    if (!admitted) {
        vc_oai_errorf(&err, 429, "rate_limit_exceeded", "rate_limit_exceeded", NULL,
                      "the server is busy: %d requests are queued already; retry later", s->opt.max_pending);
        return reply_error(c, k, &err);
    }
    job *j = job_create(s, r, c);   /* from here job_free releases the slot */
    if (!j) {
        pthread_mutex_lock(&s->mu);
        s->n_pending--;
        pthread_mutex_unlock(&s->mu);
        vc_oai_errorf(&err, 500, "server_error", NULL, NULL, "out of memory");
        return reply_error(c, k, &err);
    }
    if (prepare_prompts(j, &err) || submit(j, &err)) {
        job_unref(j);
        return reply_error(c, k, &err);
    }
    if (!j->req.stream) return finish_blocking(c, k, j);

    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, stream_read, j, stream_free);
    if (!resp) {
        stream_free(j);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream; charset=utf-8");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    enum MHD_Result rc = MHD_queue_response(c, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);   /* stream_free runs when MHD is done with it */
    k->status = 200;
    k->responded = true;
    return rc;
}

static enum MHD_Result dispatch(struct MHD_Connection *c, conn *k) {
    vc_server *s = k->s;
    switch (k->r) {
    case R_HEALTH: return reply(c, k, 200, NULL, NULL, 0);
    case R_METRICS: return do_metrics(c, k);
    case R_MODELS: {
        size_t len;
        char *body = vc_oai_models_body(s->model_name, s->created, s->eng.max_model_len(s->eng.ctx), &len);
        return reply_json(c, k, body, len);
    }
    default: break;
    }
    vc_oai_endpoint ep = k->r == R_CHAT ? VC_OAI_CHAT : k->r == R_COMPLETION ? VC_OAI_COMPLETION
                       : k->r == R_TOKENIZE ? VC_OAI_TOKENIZE : VC_OAI_DETOKENIZE;
    vc_oai_request req;
    vc_oai_error err;
    if (vc_oai_parse(ep, k->body, k->len, &req, &err)) return reply_error(c, k, &err);
    enum MHD_Result rc;
    if (check_model(s, req.model, &err)) rc = reply_error(c, k, &err);
    else if (ep == VC_OAI_TOKENIZE) rc = do_tokenize(c, k, &req);
    else if (ep == VC_OAI_DETOKENIZE) rc = do_detokenize(c, k, &req);
    else rc = do_generate(c, k, &req);
    vc_oai_request_free(&req);
    return rc;
}

/* First call: route, method, key and declared size are checked before any
 * body byte is read. Then body chunks arrive; the last call has none. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_size, void **con_cls) {
    (void)version;
    vc_server *s = cls;
    conn *k = *con_cls;
    vc_oai_error err;
    if (!k) {
        k = calloc(1, sizeof *k);
        if (!k) return MHD_NO;
        k->s = s;
        k->t_start = now_s();
        snprintf(k->method, sizeof k->method, "%s", method);
        snprintf(k->url, sizeof k->url, "%s", url);
        *con_cls = k;
        bool path_known = false, method_ok = false, needs_key = false;
        for (size_t i = 0; i < sizeof routes / sizeof *routes; i++) {
            if (strcmp(url, routes[i].path) != 0) continue;
            path_known = true;
            k->r = routes[i].r;
            needs_key = routes[i].needs_key;
            method_ok = strcmp(method, routes[i].method) == 0;
        }
        if (!path_known) {
            vc_oai_errorf(&err, 404, "invalid_request_error", "not_found", NULL, "no such endpoint: %.100s", url);
            k->r = R_NONE;
        } else if (!method_ok) {
            vc_oai_errorf(&err, 405, "invalid_request_error", "method_not_allowed", NULL,
                          "method %.16s is not allowed on %.100s", method, url);
        } else if (needs_key && s->api_key && !key_ok(s, c)) {
            vc_oai_errorf(&err, 401, "invalid_request_error", "invalid_api_key", NULL,
                          "missing or wrong API key: send 'Authorization: Bearer <key>'");
        } else {
            const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
            unsigned long long declared = cl ? strtoull(cl, NULL, 10) : 0;
            if (declared > s->opt.max_body_bytes) {
                vc_oai_errorf(&err, 413, "invalid_request_error", "request_too_large", NULL,
                              "the request body is %.24s bytes; at most %zu are accepted", cl,
                              s->opt.max_body_bytes);
                /* A client that is still sending when the answer comes and the
                 * socket closes often sees a reset instead of the 413: a body
                 * up to 16x the limit is read and dropped first (the read
                 * timeout still applies); a larger one is refused at once. So
                 * is one sent with "Expect: 100-continue": that client waits
                 * for our go-ahead, so it gets the 413 instead of a 100. */
                const char *expect = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT);
                bool waits = expect && strcasecmp(expect, "100-continue") == 0;
                if (!waits && declared <= 16ull * s->opt.max_body_bytes) {
                    k->deferred = err;
                    k->has_deferred = true;
                    return MHD_YES;
                }
            } else {
                return MHD_YES;   /* wait for the body */
            }
        }
        return reply_error(c, k, &err);
    }
    if (k->responded) {   /* answered early: drop whatever still arrives */
        *upload_size = 0;
        return MHD_YES;
    }
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        if (now_s() - k->t_start > s->opt.read_timeout_s) {
            vc_oai_errorf(&k->deferred, 408, "invalid_request_error", "request_timeout", NULL,
                          "the request body did not arrive within %d s", s->opt.read_timeout_s);
            k->has_deferred = true;
            return MHD_NO;   /* a slow sender is cut off, not waited for */
        }
        if (k->has_deferred) return MHD_YES;   /* the answer is known: drop the rest */
        if (k->len + n > s->opt.max_body_bytes) {
            vc_oai_errorf(&k->deferred, 413, "invalid_request_error", "request_too_large", NULL,
                          "the request body is over %zu bytes", s->opt.max_body_bytes);
            k->has_deferred = true;
            free(k->body);
            k->body = NULL;
            k->len = k->cap = 0;
            return MHD_YES;
        }
        if (append(&k->body, &k->len, &k->cap, upload_data, n)) {
            vc_oai_errorf(&k->deferred, 500, "server_error", NULL, NULL, "out of memory");
            k->has_deferred = true;
        }
        return MHD_YES;
    }
    if (k->has_deferred) return reply_error(c, k, &k->deferred);
    return dispatch(c, k);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
    (void)c;
    vc_server *s = cls;
    conn *k = *con_cls;
    if (!k) return;
    int status = k->status ? k->status : 499;
    if (!k->status && k->has_deferred) status = k->deferred.status;
    vc_metrics_count_request(s->metrics, status);
    if (!s->opt.quiet)
        fprintf(stderr, "%s %s %d %.1f ms%s\n", k->method, k->url, status, (now_s() - k->t_start) * 1e3,
                toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " (connection closed early)");
    free(k->body);
    free(k);
    *con_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap) {
    vc_server *s = cls;
    if (s->opt.quiet) return;
    fprintf(stderr, "vllmc server (http): ");
    vfprintf(stderr, fmt, ap);
}

/* ---- lifecycle ---------------------------------------------------------- */

vc_server_options vc_server_default_options(void) {
    return (vc_server_options){.host = "127.0.0.1", .port = 8000, .max_body_bytes = 1u << 20,
                               .max_pending = 256, .max_connections = 512, .idle_timeout_s = 30,
                               .read_timeout_s = 30};
}

int vc_server_create(vc_server **out, const vc_server_options *o, const vc_server_engine *eng,
                     vc_error *err) {
    *out = NULL;
    if (o->port < 0 || o->port > 65535) return vc_errorf(err, "server: port %d is not in [0, 65535]", o->port);
    if (o->max_pending < 1 || o->max_connections < 1 || o->idle_timeout_s < 1 || o->read_timeout_s < 1 ||
        o->max_body_bytes < 16)
        return vc_errorf(err, "server: max_pending, max_connections, timeouts must be >= 1 and the body limit >= 16 bytes");
    vc_server *s = calloc(1, sizeof *s);
    if (!s) return vc_errorf(err, "server: out of memory");
    s->opt = *o;
    s->eng = *eng;
    const char *name = o->served_model_name ? o->served_model_name : eng->model_name(eng->ctx);
    s->host = strdup(o->host ? o->host : "127.0.0.1");
    s->api_key = o->api_key && o->api_key[0] ? strdup(o->api_key) : NULL;
    s->model_name = strdup(name ? name : "model");
    s->metrics = vc_metrics_create();
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->engine_cv, NULL);
    s->created = (int64_t)time(NULL);
    if (!s->host || !s->model_name || !s->metrics || (o->api_key && o->api_key[0] && !s->api_key)) {
        vc_server_free(s);
        return vc_errorf(err, "server: out of memory");
    }
    s->opt.host = s->host;
    s->opt.api_key = s->api_key;
    s->opt.served_model_name = s->model_name;

    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *ai = NULL;
    char port[16];
    snprintf(port, sizeof port, "%d", o->port);
    int gai = getaddrinfo(s->host, port, &hints, &ai);
    if (gai != 0 || !ai) {
        vc_server_free(s);
        return vc_errorf(err, "server: cannot resolve host '%s': %s", o->host, gai_strerror(gai));
    }
    if (pthread_create(&s->engine_thread, NULL, engine_main, s) != 0) {
        freeaddrinfo(ai);
        vc_server_free(s);
        return vc_errorf(err, "server: cannot start the engine thread");
    }
    s->engine_started = true;
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
                     MHD_USE_ERROR_LOG | (ai->ai_family == AF_INET6 ? MHD_USE_IPv6 : 0);
    s->mhd = MHD_start_daemon(flags, (uint16_t)o->port, NULL, NULL, on_request, s,
                              MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s,
                              MHD_OPTION_SOCK_ADDR, ai->ai_addr,
                              MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)o->idle_timeout_s,
                              MHD_OPTION_CONNECTION_LIMIT, (unsigned)o->max_connections,
                              MHD_OPTION_LISTEN_BACKLOG_SIZE, 256u,
                              MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                              MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!s->mhd) {
        int e = errno;
        vc_server_free(s);
        return vc_errorf(err, "server: cannot listen on %s:%d: %s", o->host, o->port, strerror(e));
    }
    *out = s;
    return 0;
}

int vc_server_port(const vc_server *s) {
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);
    return di ? (int)di->port : -1;
}

void vc_server_free(vc_server *s) {
    if (!s) return;
    pthread_mutex_lock(&s->mu);
    s->stopping = true;        /* waiting HTTP threads give up and cancel */
    pthread_mutex_unlock(&s->mu);
    if (s->mhd) MHD_stop_daemon(s->mhd);   /* joins every connection thread */
    pthread_mutex_lock(&s->mu);
    s->engine_stop = true;     /* every job is cancelled: drain the aborts and exit */
    pthread_cond_signal(&s->engine_cv);
    pthread_mutex_unlock(&s->mu);
    if (s->engine_started) pthread_join(s->engine_thread, NULL);   /* drains the aborts */
    vc_metrics_free(s->metrics);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->engine_cv);
    free(s->host);
    free(s->api_key);
    free(s->model_name);
    free(s);
}
