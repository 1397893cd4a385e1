/* Sampler and stop strings: greedy, the filters against a naive full-sort
 * reference, seeded determinism, the draw's distribution, penalties (each
 * test states the expected logits), log-probabilities, and stop strings
 * split at random points. */
#include "common/testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/sampler.h"
#include "engine/stop.h"

static vc_sample_params greedy(void) {
    return (vc_sample_params){.temperature = 0, .top_p = 1, .repetition_penalty = 1};
}

static void test_greedy(void **state) {
    (void)state;
    vc_sampler *s;
    vc_error err;
    assert_int_equal(vc_sampler_create(&s, 5, &err), 0);
    vc_sample_params p = greedy();
    float l1[5] = {0.1f, 3.0f, -2.0f, 2.9f, 0.0f};
    int32_t prompt[1] = {4};
    assert_int_equal(vc_sampler_sample(s, &p, l1, prompt, 1, 1, 0, NULL), 1);
    float l2[5] = {1.0f, 5.0f, 5.0f, 0.0f, 5.0f};      /* ties: lowest id */
    assert_int_equal(vc_sampler_sample(s, &p, l2, prompt, 1, 1, 0, NULL), 1);
    vc_sampler_free(s);
}

/* The reference: sort the whole vocabulary, then min-p, top-k, top-p, draw. */
typedef struct ref_cand { float p; int id; } ref_cand;
static int ref_cmp(const void *a, const void *b) {
    const ref_cand *x = a, *y = b;
    if (x->p != y->p) return x->p > y->p ? -1 : 1;
    return x->id - y->id;
}
static int ref_sample(const float *logits, int V, const vc_sample_params *p, double u) {
    float m = logits[0];
    for (int i = 1; i < V; i++) if (logits[i] > m) m = logits[i];
    ref_cand *c = malloc((size_t)V * sizeof *c);
    double total = 0;
    int n = 0;
    for (int i = 0; i < V; i++) {
        float e = expf((logits[i] - m) * (1.0f / p->temperature));
        total += e;
        if (e > 0 && (p->min_p <= 0 || e >= p->min_p)) c[n++] = (ref_cand){e, i};
    }
    qsort(c, (size_t)n, sizeof *c, ref_cmp);
    if (p->top_k > 0 && p->top_k < n) n = p->top_k;
    double set_total = 0;
    if (p->top_k <= 0 && p->min_p <= 0) set_total = total;
    else for (int i = 0; i < n; i++) set_total += c[i].p;
    int keep = n;
    if (p->top_p < 1) {
        double cum = 0;
        for (int i = 0; i < n; i++) { cum += c[i].p; if (cum >= p->top_p * set_total) { keep = i + 1; break; } }
    }
    double kt = 0;
    for (int i = 0; i < keep; i++) kt += c[i].p;
    double cum = 0, target = u * kt;
    int tok = c[keep - 1].id;
    for (int i = 0; i < keep; i++) { cum += c[i].p; if (target < cum) { tok = c[i].id; break; } }
    free(c);
    return tok;
}

static void test_filters_match_reference(void **state) {
    (void)state;
    enum { V = 20000 };
    vc_sampler *s;
    vc_error err;
    assert_int_equal(vc_sampler_create(&s, V, &err), 0);
    float *logits = malloc(V * sizeof *logits), *work = malloc(V * sizeof *work);
    srand(3);
    const struct { float t, top_p, min_p; int top_k; } cfgs[] = {
        {1.0f, 1, 0, 0}, {0.7f, 0.9f, 0, 0}, {1.3f, 0.5f, 0, 0}, {1.0f, 1, 0, 40},
        {0.8f, 0.95f, 0, 50}, {1.0f, 1, 0.05f, 0}, {1.5f, 0.8f, 0.01f, 100}, {0.3f, 0.99f, 0, 0},
        {2.0f, 0.999f, 0, 0}, {1.0f, 1, 0, 1},
    };
    int n_diff_tokens = 0, prev = -1;
    for (int trial = 0; trial < 200; trial++) {
        float scale = (float)(1 + trial % 7);   /* flat to peaked distributions */
        for (int i = 0; i < V; i++) logits[i] = scale * ((float)rand() / RAND_MAX * 8 - 4);
        const __typeof__(cfgs[0]) *c = &cfgs[trial % 10];
        vc_sample_params p = {.temperature = c->t, .top_p = c->top_p, .top_k = c->top_k,
                              .min_p = c->min_p, .repetition_penalty = 1,
                              .seed = (uint64_t)trial * 7919};
        int32_t prompt[3] = {1, 2, 3};
        memcpy(work, logits, V * sizeof *work);
        int got = vc_sampler_sample(s, &p, work, prompt, 3, 3, 0, NULL);
        int want = ref_sample(logits, V, &p, vc_sampler_uniform(p.seed, 0));
        if (got != want) fail_msg("trial %d: sampler %d, reference %d", trial, got, want);
        n_diff_tokens += got != prev;
        prev = got;
    }
    assert_true(n_diff_tokens > 100);   /* the draws are not stuck on one token */
    free(logits);
    free(work);
    vc_sampler_free(s);
}

/* Distribution of many draws (different seeds) vs softmax, and the filters'
 * supports on a 4-token distribution p = (0.5, 0.3, 0.15, 0.05). */
static void draw_counts(vc_sampler *s, vc_sample_params p, int n, int counts[4]) {
    const float lp[4] = {logf(0.5f), logf(0.3f), logf(0.15f), logf(0.05f)};
    memset(counts, 0, 4 * sizeof *counts);
    int32_t prompt[1] = {0};
    for (int i = 0; i < n; i++) {
        float l[4];
        memcpy(l, lp, sizeof l);
        p.seed = (uint64_t)i;
        counts[vc_sampler_sample(s, &p, l, prompt, 1, 1, 0, NULL)]++;
    }
}

static void test_distribution_and_filters(void **state) {
    (void)state;
    vc_sampler *s;
    vc_error err;
    assert_int_equal(vc_sampler_create(&s, 4, &err), 0);
    int c[4], n = 40000;
    vc_sample_params p = {.temperature = 1, .top_p = 1, .repetition_penalty = 1};
    draw_counts(s, p, n, c);
    const double want[4] = {0.5, 0.3, 0.15, 0.05};
    for (int i = 0; i < 4; i++) assert_true(fabs((double)c[i] / n - want[i]) < 0.01);
    p.top_p = 0.7f;                       /* 0.5 < 0.7 <= 0.8: tokens 0 and 1, renormalized */
    draw_counts(s, p, n, c);
    assert_int_equal(c[2] + c[3], 0);
    assert_true(fabs((double)c[0] / n - 0.625) < 0.01);
    p.top_p = 0.5f;                       /* token 0 alone reaches 0.5 */
    draw_counts(s, p, n, c);
    assert_int_equal(c[0], n);
    p.top_p = 1; p.top_k = 3;
    draw_counts(s, p, n, c);
    assert_int_equal(c[3], 0);
    assert_true(fabs((double)c[2] / n - 0.15 / 0.95) < 0.01);
    p.top_k = 0; p.min_p = 0.35f;         /* keep p >= 0.175: tokens 0, 1 */
    draw_counts(s, p, n, c);
    assert_int_equal(c[2] + c[3], 0);
    assert_true(c[1] > n / 4);
    p.min_p = 0; p.temperature = 0.25f;   /* sharper: p ~ p^4 -> token 0 ~ 0.87 */
    draw_counts(s, p, n, c);
    double z = pow(0.5, 4) + pow(0.3, 4) + pow(0.15, 4) + pow(0.05, 4);
    assert_true(fabs((double)c[0] / n - pow(0.5, 4) / z) < 0.01);
    vc_sampler_free(s);
}

static void test_seed_determinism(void **state) {
    (void)state;
    enum { V = 1000 };
    vc_sampler *s;
    vc_error err;
    assert_int_equal(vc_sampler_create(&s, V, &err), 0);
    float base[V], l[V];
    for (int i = 0; i < V; i++) base[i] = sinf((float)i) * 3;
    vc_sample_params p = {.temperature = 1, .top_p = 0.95f, .repetition_penalty = 1, .seed = 42};
    int32_t toks[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    /* same seed and same output position: same token, whatever came before in other calls */
    memcpy(l, base, sizeof l);
    int a = vc_sampler_sample(s, &p, l, toks, 5, 3, 0, NULL);
    for (int k = 0; k < 10; k++) {       /* other requests sampled in between */
        vc_sample_params q = p;
        q.seed = 1000 + k;
        memcpy(l, base, sizeof l);
        vc_sampler_sample(s, &q, l, toks, 8, 1, 0, NULL);
    }
    memcpy(l, base, sizeof l);
    assert_int_equal(vc_sampler_sample(s, &p, l, toks, 5, 3, 0, NULL), a);
    /* the draw depends on the seed and the output index */
    int differs_seed = 0, differs_index = 0;
    for (int k = 0; k < 50; k++) {
        vc_sample_params q = p;
        q.seed = 7 + k;
        memcpy(l, base, sizeof l);
        differs_seed += vc_sampler_sample(s, &q, l, toks, 5, 3, 0, NULL) != a;
        memcpy(l, base, sizeof l);
        differs_index += vc_sampler_sample(s, &p, l, toks, 5 + k % 3, 3 - k % 3, 0, NULL) != a;
    }
    assert_true(differs_seed > 10);
    assert_true(differs_index > 5);
    vc_sampler_free(s);
}

static void test_penalties(void **state) {
    (void)state;
    vc_sampler *s;
    vc_error err;
    assert_int_equal(vc_sampler_create(&s, 6, &err), 0);
    /* tokens: prompt {0, 1}, output {2, 2, 3} */
    int32_t toks[5] = {0, 1, 2, 2, 3};
    /* repetition 2 over prompt and output: positive / 2, negative * 2, others untouched */
    vc_sample_params p = greedy();
    p.repetition_penalty = 2;
    float l[6] = {4, -1, 3, 2, 1, 0.5f};
    vc_sampler_sample(s, &p, l, toks, 5, 2, 0, NULL);
    const float want_rep[6] = {2, -2, 1.5f, 1, 1, 0.5f};
    for (int i = 0; i < 6; i++) assert_float_equal(l[i], want_rep[i], 1e-6);
    /* frequency 0.5: output counts {2: 2, 3: 1}; prompt tokens untouched */
    p = greedy();
    p.frequency_penalty = 0.5f;
    float l2[6] = {4, -1, 3, 2, 1, 0.5f};
    vc_sampler_sample(s, &p, l2, toks, 5, 2, 0, NULL);
    const float want_freq[6] = {4, -1, 2, 1.5f, 1, 0.5f};
    for (int i = 0; i < 6; i++) assert_float_equal(l2[i], want_freq[i], 1e-6);
    /* presence 0.75: once per distinct output token */
    p = greedy();
    p.presence_penalty = 0.75f;
    float l3[6] = {4, -1, 3, 2, 1, 0.5f};
    vc_sampler_sample(s, &p, l3, toks, 5, 2, 0, NULL);
    const float want_pres[6] = {4, -1, 2.25f, 1.25f, 1, 0.5f};
    for (int i = 0; i < 6; i++) assert_float_equal(l3[i], want_pres[i], 1e-6);
    /* the choice changes: token 0 (prompt) is the argmax until a repetition penalty */
    p = greedy();
    float l4[6] = {2.0f, -5, -5, -5, 1.9f, -5};
    assert_int_equal(vc_sampler_sample(s, &p, l4, toks, 5, 2, 0, NULL), 0);
    p.repetition_penalty = 1.2f;
    float l5[6] = {2.0f, -5, -5, -5, 1.9f, -5};
    assert_int_equal(vc_sampler_sample(s, &p, l5, toks, 5, 2, 0, NULL), 4);
    /* scratch state is reset: the same call again gives the same logits */
    p = greedy();
    p.frequency_penalty = 0.5f;
    float l6[6] = {4, -1, 3, 2, 1, 0.5f};
    vc_sampler_sample(s, &p, l6, toks, 5, 2, 0, NULL);
    for (int i = 0; i < 6; i++) assert_float_equal(l6[i], want_freq[i], 1e-6);
    vc_sampler_free(s);
}

static void test_logprobs(void **state) {
    (void)state;
    vc_sampler *s;
    vc_error err;
    assert_int_equal(vc_sampler_create(&s, 4, &err), 0);
    float l[4] = {1, 3, 2, 3};
    double lse = log(exp(1) + exp(3) + exp(2) + exp(3));
    vc_sample_params p = greedy();
    p.repetition_penalty = 100;          /* penalties do not change the reported logprobs */
    int32_t toks[1] = {1};
    vc_token_logprob lp[4];
    int tok = vc_sampler_sample(s, &p, l, toks, 1, 1, 3, lp);
    assert_int_equal(tok, 3);            /* token 1 penalized */
    assert_int_equal(lp[0].token, 3);
    assert_float_equal(lp[0].logprob, 3 - lse, 1e-5);
    assert_int_equal(lp[1].token, 1);    /* top 3: 1, 3 (tie: lower id first), 2 */
    assert_int_equal(lp[2].token, 3);
    assert_int_equal(lp[3].token, 2);
    assert_float_equal(lp[3].logprob, 2 - lse, 1e-5);
    vc_sampler_free(s);
}

/* ---- stop strings ---- */

static char *run_stop(const char *const *stops, int n_stops, const char *text, const int *cuts,
                      int n_cuts, int *stopped) {
    vc_stop *m;
    vc_error err;
    assert_int_equal(vc_stop_create(&m, stops, n_stops, &err), 0);
    size_t n = strlen(text), pos = 0;
    char *out = calloc(n + 1, 1);
    size_t out_len = 0;
    *stopped = 0;
    for (int i = 0; i <= n_cuts && !*stopped; i++) {
        size_t end = i < n_cuts ? (size_t)cuts[i] : n;
        const char *e;
        size_t el;
        int r = vc_stop_push(m, text + pos, end - pos, &e, &el);
        assert_true(r >= 0);
        memcpy(out + out_len, e, el);
        out_len += el;
        pos = end;
        *stopped = r;
    }
    if (!*stopped) {
        const char *e;
        size_t el;
        vc_stop_flush(m, &e, &el);
        memcpy(out + out_len, e, el);
        out_len += el;
    }
    out[out_len] = 0;
    vc_stop_free(m);
    return out;
}

static void test_stop_straddle(void **state) {
    (void)state;
    const char *stops[] = {"\n\nUser:"};
    int cuts[] = {3, 6};     /* "Hi\n" "\nUs" "er: x" */
    int stopped;
    vc_stop *m;
    vc_error err;
    assert_int_equal(vc_stop_create(&m, stops, 1, &err), 0);
    const char *e;
    size_t el;
    assert_int_equal(vc_stop_push(m, "Hi\n", 3, &e, &el), 0);
    assert_int_equal(el, 2);
    assert_memory_equal(e, "Hi", 2);
    assert_int_equal(vc_stop_push(m, "\nUs", 3, &e, &el), 0);
    assert_int_equal(el, 0);
    assert_int_equal(vc_stop_push(m, "er: x", 5, &e, &el), 1);
    assert_int_equal(el, 0);
    vc_stop_free(m);
    char *out = run_stop(stops, 1, "Hi\n\nUser: x", cuts, 2, &stopped);
    assert_string_equal(out, "Hi");
    assert_int_equal(stopped, 1);
    free(out);
    /* a false start is released once it cannot be a stop any more */
    int cuts2[] = {3, 5};
    out = run_stop(stops, 1, "Hi\n\nUx done", cuts2, 2, &stopped);
    assert_string_equal(out, "Hi\n\nUx done");
    assert_int_equal(stopped, 0);
    free(out);
}

static void test_stop_random(void **state) {
    (void)state;
    srand(9);
    const char *alphabet = "ab\n.";
    for (int trial = 0; trial < 5000; trial++) {
        char text[64], stop_buf[3][6];
        int n = rand() % 40;
        for (int i = 0; i < n; i++) text[i] = alphabet[rand() % 4];
        text[n] = 0;
        int n_stops = rand() % 4;
        const char *stops[3];
        for (int k = 0; k < n_stops; k++) {
            int sl = 1 + rand() % 5;
            for (int i = 0; i < sl; i++) stop_buf[k][i] = alphabet[rand() % 4];
            stop_buf[k][sl] = 0;
            stops[k] = stop_buf[k];
        }
        int cuts[40], n_cuts = 0;
        for (int i = 1; i < n; i++) if (rand() % 3 == 0) cuts[n_cuts++] = i;
        /* expected: generation ends with the first delta that completes a stop;
         * the text is cut at the earliest stop found in the text so far */
        size_t want_len = (size_t)n;
        int want_stop = 0;
        for (int i = 0; i <= n_cuts && !want_stop; i++) {
            char prefix[64];
            size_t end = i < n_cuts ? (size_t)cuts[i] : (size_t)n;
            memcpy(prefix, text, end);
            prefix[end] = 0;
            for (int k = 0; k < n_stops; k++) {
                const char *hit = strstr(prefix, stops[k]);
                if (hit && (!want_stop || (size_t)(hit - prefix) < want_len)) {
                    want_len = (size_t)(hit - prefix);
                    want_stop = 1;
                }
            }
        }
        int stopped;
        char *out = run_stop(stops, n_stops, text, cuts, n_cuts, &stopped);
        if (strlen(out) != want_len || memcmp(out, text, want_len) || stopped != want_stop)
            fail_msg("trial %d: text '%s' stops '%s' '%s' '%s' -> '%s' (stopped %d), want %zu bytes (stop %d)", trial,
                     text, n_stops > 0 ? stops[0] : "", n_stops > 1 ? stops[1] : "", n_stops > 2 ? stops[2] : "", out, stopped, want_len, want_stop);
        free(out);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_greedy),
        cmocka_unit_test(test_filters_match_reference),
        cmocka_unit_test(test_distribution_and_filters),
        cmocka_unit_test(test_seed_determinism),
        cmocka_unit_test(test_penalties),
        cmocka_unit_test(test_logprobs),
        cmocka_unit_test(test_stop_straddle),
        cmocka_unit_test(test_stop_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
