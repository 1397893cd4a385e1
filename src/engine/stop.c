#include "engine/stop.h"

#include <stdlib.h>
#include <string.h>

struct vc_stop {
    char **stops;
    size_t *stop_lens;
    int n_stops;
    char *held;             /* [cap] text not shown yet, after `consumed` shown bytes */
    size_t len, cap, consumed;
};

int vc_stop_create(vc_stop **out, const char *const *stops, int n_stops, vc_error *err) {
    *out = NULL;
    vc_stop *m = calloc(1, sizeof *m);
    if (!m) return vc_errorf(err, "stop strings: out of memory");
    if (n_stops > 0) {
        m->stops = calloc((size_t)n_stops, sizeof *m->stops);
        m->stop_lens = calloc((size_t)n_stops, sizeof *m->stop_lens);
        if (!m->stops || !m->stop_lens) goto oom;
    }
    for (int i = 0; i < n_stops; i++) {
        if (!stops[i] || !stops[i][0]) continue;
        m->stops[m->n_stops] = strdup(stops[i]);
        if (!m->stops[m->n_stops]) goto oom;
        m->stop_lens[m->n_stops] = strlen(stops[i]);
        m->n_stops++;
    }
    *out = m;
    return 0;
oom:
    vc_stop_free(m);
    return vc_errorf(err, "stop strings: out of memory for %d strings", n_stops);
}

void vc_stop_free(vc_stop *m) {
    if (!m) return;
    for (int i = 0; i < m->n_stops; i++) free(m->stops[i]);
    free(m->stops);
    free(m->stop_lens);
    free(m->held);
    free(m);
}

/* Length of the longest tail of s[0..n) that is a proper prefix of a stop. */
static size_t held_tail(const vc_stop *m, const char *s, size_t n) {
    size_t best = 0;
    for (int i = 0; i < m->n_stops; i++) {
        size_t k = m->stop_lens[i] - 1 < n ? m->stop_lens[i] - 1 : n;
        for (; k > best; k--)
            if (!memcmp(s + n - k, m->stops[i], k)) { best = k; break; }
    }
    return best;
}

int vc_stop_push(vc_stop *m, const char *text, size_t len, const char **emit, size_t *emit_len) {
    /* drop what the previous call emitted */
    if (m->consumed) {
        memmove(m->held, m->held + m->consumed, m->len - m->consumed);
        m->len -= m->consumed;
        m->consumed = 0;
    }
    if (m->len + len + 1 > m->cap) {
        size_t cap = m->cap ? m->cap : 64;
        while (cap < m->len + len + 1) cap *= 2;
        char *held = realloc(m->held, cap);
        if (!held) return -1;
        m->held = held;
        m->cap = cap;
    }
    memcpy(m->held + m->len, text, len);
    m->len += len;
    m->held[m->len] = 0;
    *emit = m->held;

    /* the earliest stop match wins */
    size_t first = m->len + 1;
    for (int i = 0; i < m->n_stops; i++) {
        const char *hit = memmem(m->held, m->len, m->stops[i], m->stop_lens[i]);
        if (hit && (size_t)(hit - m->held) < first) first = (size_t)(hit - m->held);
    }
    if (first <= m->len) {
        *emit_len = first;
        m->consumed = m->len;   /* the rest, stop string included, is dropped */
        return 1;
    }
    *emit_len = m->len - held_tail(m, m->held, m->len);
    m->consumed = *emit_len;
    return 0;
}

void vc_stop_flush(vc_stop *m, const char **emit, size_t *emit_len) {
    *emit = m->held ? m->held + m->consumed : "";
    *emit_len = m->len - m->consumed;
    m->consumed = m->len;
}
