/* Prometheus text metrics (see metrics.h). */
#include "server/metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* bucket upper bounds in seconds (the +Inf bucket is the count) */
static const double ttft_bounds[] = {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5,
                                     0.75,  1.0,   2.5,  5.0,  7.5,  10.0, 20.0, 40.0, 80.0};
static const double tpot_bounds[] = {0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2,
                                     0.3,   0.4,  0.5,   0.75, 1.0,   2.5, 5.0};
#define N_TTFT (sizeof ttft_bounds / sizeof *ttft_bounds)
#define N_TPOT (sizeof tpot_bounds / sizeof *tpot_bounds)

typedef struct histogram {
    const double *bounds;
    size_t n_bounds;
    uint64_t counts[32];    /* per bucket (not cumulative); n_bounds <= 32 */
    uint64_t count;
    double sum;
} histogram;

/* status codes are counted in a small table: 1xx..5xx fit in 600 slots */
#define N_STATUS 600

struct vc_metrics {
    pthread_mutex_t mu;
    uint64_t requests_by_status[N_STATUS];
    uint64_t prompt_tokens, generated_tokens;
    uint64_t succeeded, aborted, failed;   /* finished generations by how they ended */
    histogram ttft, tpot;
};

vc_metrics *vc_metrics_create(void) {
    vc_metrics *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    pthread_mutex_init(&m->mu, NULL);
    m->ttft.bounds = ttft_bounds;
    m->ttft.n_bounds = N_TTFT;
    m->tpot.bounds = tpot_bounds;
    m->tpot.n_bounds = N_TPOT;
    return m;
}

void vc_metrics_free(vc_metrics *m) {
    if (!m) return;
    pthread_mutex_destroy(&m->mu);
    free(m);
}

void vc_metrics_count_request(vc_metrics *m, int status) {
    if (!m || status < 0 || status >= N_STATUS) return;
    pthread_mutex_lock(&m->mu);
    m->requests_by_status[status]++;
    pthread_mutex_unlock(&m->mu);
}

void vc_metrics_count_finish(vc_metrics *m, vllmc_finish_reason finish, int prompt_tokens,
                             int generated_tokens) {
    if (!m) return;
    pthread_mutex_lock(&m->mu);
    m->prompt_tokens += (uint64_t)(prompt_tokens > 0 ? prompt_tokens : 0);
    m->generated_tokens += (uint64_t)(generated_tokens > 0 ? generated_tokens : 0);
    if (finish == VLLMC_FINISH_ABORT) m->aborted++;
    else if (finish == VLLMC_FINISH_ERROR) m->failed++;
    else m->succeeded++;
    pthread_mutex_unlock(&m->mu);
}

static void observe(vc_metrics *m, histogram *h, double x) {
    if (!m) return;
    pthread_mutex_lock(&m->mu);
    size_t b = 0;
    while (b < h->n_bounds && x > h->bounds[b]) b++;
    if (b < h->n_bounds) h->counts[b]++;
    h->count++;
    h->sum += x;
    pthread_mutex_unlock(&m->mu);
}

void vc_metrics_observe_ttft(vc_metrics *m, double seconds) { if (m) observe(m, &m->ttft, seconds); }
void vc_metrics_observe_tpot(vc_metrics *m, double seconds) { if (m) observe(m, &m->tpot, seconds); }

/* a growing text buffer; ok turns false on the first failed allocation */
typedef struct text {
    char *buf;
    size_t len, cap;
    int ok;
} text;

__attribute__((format(printf, 2, 3))) static void put(text *t, const char *fmt, ...) {
    if (!t->ok) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n < 0) { t->ok = 0; return; }
        if ((size_t)n < t->cap - t->len) { t->len += (size_t)n; return; }
        size_t cap = (t->cap + (size_t)n + 1) * 2;
        char *b = realloc(t->buf, cap);
        if (!b) { t->ok = 0; return; }
        t->buf = b;
        t->cap = cap;
    }
}

static void put_metric(text *t, const char *name, const char *type, const char *help) {
    put(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void put_histogram(text *t, const char *name, const char *help, const histogram *h) {
    put_metric(t, name, "histogram", help);
    uint64_t cum = 0;
    for (size_t b = 0; b < h->n_bounds; b++) {
        cum += h->counts[b];
        put(t, "%s_bucket{le=\"%g\"} %llu\n", name, h->bounds[b], (unsigned long long)cum);
    }
    put(t, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)h->count);
    put(t, "%s_sum %.9g\n%s_count %llu\n", name, h->sum, name, (unsigned long long)h->count);
}

int vc_metrics_render(vc_metrics *m, const vllmc_stats *s, char **out, size_t *len) {
    text t = {.buf = malloc(4096), .cap = 4096, .ok = 1};
    if (!t.buf) return -1;
    t.buf[0] = 0;
    pthread_mutex_lock(&m->mu);
    put_metric(&t, "vllmc_http_requests_total", "counter", "HTTP requests answered, by status code.");
    for (int st = 0; st < N_STATUS; st++)
        if (m->requests_by_status[st])
            put(&t, "vllmc_http_requests_total{status=\"%d\"} %llu\n", st,
                (unsigned long long)m->requests_by_status[st]);
    put_metric(&t, "vllmc_request_success_total", "counter",
               "Generations (choices) finished by a stop condition or the length limit.");
    put(&t, "vllmc_request_success_total %llu\n", (unsigned long long)m->succeeded);
    put_metric(&t, "vllmc_request_aborted_total", "counter",
               "Generations (choices) cancelled: the client went away or the server stopped.");
    put(&t, "vllmc_request_aborted_total %llu\n", (unsigned long long)m->aborted);
    put_metric(&t, "vllmc_request_failed_total", "counter", "Generations (choices) the engine failed.");
    put(&t, "vllmc_request_failed_total %llu\n", (unsigned long long)m->failed);
    put_metric(&t, "vllmc_prompt_tokens_total", "counter", "Prompt tokens of finished generations.");
    put(&t, "vllmc_prompt_tokens_total %llu\n", (unsigned long long)m->prompt_tokens);
    put_metric(&t, "vllmc_generation_tokens_total", "counter", "Generated tokens of finished generations.");
    put(&t, "vllmc_generation_tokens_total %llu\n", (unsigned long long)m->generated_tokens);
    put_histogram(&t, "vllmc_time_to_first_token_seconds", "Seconds from arrival to the first token.",
                  &m->ttft);
    put_histogram(&t, "vllmc_time_per_output_token_seconds",
                  "Seconds between consecutive tokens of one sequence.", &m->tpot);
    pthread_mutex_unlock(&m->mu);

    put_metric(&t, "vllmc_num_requests_running", "gauge", "Sequences in the running batch.");
    put(&t, "vllmc_num_requests_running %d\n", s->running);
    put_metric(&t, "vllmc_num_requests_waiting", "gauge", "Sequences waiting to be scheduled.");
    put(&t, "vllmc_num_requests_waiting %d\n", s->waiting);
    put_metric(&t, "vllmc_kv_blocks_total", "gauge", "KV cache blocks in the pool.");
    put(&t, "vllmc_kv_blocks_total %d\n", s->kv_blocks_total);
    put_metric(&t, "vllmc_kv_blocks_free", "gauge", "KV cache blocks free.");
    put(&t, "vllmc_kv_blocks_free %d\n", s->kv_blocks_free);
    put_metric(&t, "vllmc_kv_blocks_used", "gauge", "KV cache blocks in use.");
    put(&t, "vllmc_kv_blocks_used %d\n", s->kv_blocks_total - s->kv_blocks_free);
    put_metric(&t, "vllmc_kv_cache_usage_perc", "gauge", "Fraction of KV cache blocks in use.");
    put(&t, "vllmc_kv_cache_usage_perc %.6f\n",
        s->kv_blocks_total > 0 ? (double)(s->kv_blocks_total - s->kv_blocks_free) / s->kv_blocks_total : 0.0);
    put_metric(&t, "vllmc_prefix_cache_hit_rate", "gauge",
               "Prompt tokens served from the prefix cache / prompt tokens (engine lifetime).");
    put(&t, "vllmc_prefix_cache_hit_rate %.6f\n",
        s->prompt_tokens > 0 ? (double)s->cached_tokens / (double)s->prompt_tokens : 0.0);
    put_metric(&t, "vllmc_prefix_cache_hit_tokens_total", "counter", "Prompt tokens served from the prefix cache.");
    put(&t, "vllmc_prefix_cache_hit_tokens_total %lld\n", (long long)s->cached_tokens);
    put_metric(&t, "vllmc_num_preemptions_total", "counter", "Sequences preempted for KV space.");
    put(&t, "vllmc_num_preemptions_total %lld\n", (long long)s->preemptions);
    if (!t.ok) {
        free(t.buf);
        return -1;
    }
    *out = t.buf;
    *len = t.len;
    return 0;
}
