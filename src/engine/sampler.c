#include "engine/sampler.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef struct cand {
    float p;                /* unnormalized probability, max token = 1 */
    int32_t id;
} cand;

struct vc_sampler {
    int vocab;
    int32_t *counts;        /* [vocab] occurrences in the output, zero between calls */
    uint8_t *seen;          /* [vocab] seen in prompt or output, zero between calls */
    float *probs;           /* [vocab] */
    float *raw;             /* [vocab] raw logits, kept for log-probabilities */
    cand *cands;            /* [vocab] */
};

int vc_sampler_create(vc_sampler **out, int vocab_size, vc_error *err) {
    *out = NULL;
    if (vocab_size < 1) return vc_errorf(err, "sampler: vocab size %d", vocab_size);
    vc_sampler *s = calloc(1, sizeof *s);
    if (!s) return vc_errorf(err, "sampler: out of memory");
    s->vocab = vocab_size;
    s->counts = calloc((size_t)vocab_size, sizeof *s->counts);
    s->seen = calloc((size_t)vocab_size, 1);
    s->probs = malloc((size_t)vocab_size * sizeof *s->probs);
    s->raw = malloc((size_t)vocab_size * sizeof *s->raw);
    s->cands = malloc((size_t)vocab_size * sizeof *s->cands);
    if (!s->counts || !s->seen || !s->probs || !s->raw || !s->cands) {
        vc_sampler_free(s);
        return vc_errorf(err, "sampler: out of memory for vocab %d", vocab_size);
    }
    *out = s;
    return 0;
}

void vc_sampler_free(vc_sampler *s) {
    if (!s) return;
    free(s->counts);
    free(s->seen);
    free(s->probs);
    free(s->raw);
    free(s->cands);
    free(s);
}

/* splitmix64 finalizer: a well-mixed 64-bit function of its input */
static uint64_t mix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

double vc_sampler_uniform(uint64_t seed, uint64_t index) {
    uint64_t r = mix64(mix64(seed) ^ (index * 0xd1b54a32d192ed03ull));
    return (double)(r >> 11) * 0x1.0p-53;
}

static void apply_penalties(vc_sampler *s, const vc_sample_params *p, float *logits,
                            const int32_t *tokens, int n_tokens, int n_prompt) {
    int V = s->vocab;
    if (p->repetition_penalty != 1.0f && p->repetition_penalty > 0) {
        float r = p->repetition_penalty;
        for (int i = 0; i < n_tokens; i++) {
            int32_t t = tokens[i];
            if (t < 0 || t >= V || s->seen[t]) continue;
            s->seen[t] = 1;
            logits[t] = logits[t] > 0 ? logits[t] / r : logits[t] * r;
        }
        for (int i = 0; i < n_tokens; i++)
            if (tokens[i] >= 0 && tokens[i] < V) s->seen[tokens[i]] = 0;
    }
    if (p->frequency_penalty != 0 || p->presence_penalty != 0) {
        for (int i = n_prompt; i < n_tokens; i++)
            if (tokens[i] >= 0 && tokens[i] < V) s->counts[tokens[i]]++;
        for (int i = n_prompt; i < n_tokens; i++) {
            int32_t t = tokens[i];
            if (t < 0 || t >= V || s->counts[t] == 0) continue;
            logits[t] -= p->frequency_penalty * (float)s->counts[t] + p->presence_penalty;
            s->counts[t] = 0;   /* applied once per distinct token; also resets the scratch */
        }
    }
}

static int argmax(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

static int cand_cmp(const void *a, const void *b) {
    const cand *x = a, *y = b;
    if (x->p != y->p) return x->p > y->p ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

/* Top n raw log-probabilities, most likely first (ties: lower id). */
static void top_logprobs(const float *raw, int V, float lse, int n_top, vc_token_logprob *out) {
    int n = 0;
    for (int i = 0; i < V; i++) {
        if (n == n_top && raw[i] <= raw[out[n - 1].token]) continue;
        int j = n < n_top ? n++ : n - 1;
        while (j > 0 && raw[out[j - 1].token] < raw[i]) { out[j] = out[j - 1]; j--; }
        out[j].token = i;
    }
    for (int j = 0; j < n; j++) out[j].logprob = raw[out[j].token] - lse;
}

static float log_sum_exp(const float *x, int n) {
    float m = x[argmax(x, n)];
    double sum = 0;
    for (int i = 0; i < n; i++) sum += exp((double)(x[i] - m));
    return m + (float)log(sum);
}

/* Random draw over probs[] (already scaled by temperature, max = 1). Gathers
 * candidates above a threshold t, lowering t until the candidate set provably
 * contains every token the filters keep: exact, but usually sorts only a few
 * dozen tokens instead of the vocabulary. */
static int32_t draw(vc_sampler *s, const vc_sample_params *p, const float *probs, double total,
                    double u) {
    int V = s->vocab;
    int K = p->top_k > 0 && p->top_k < V ? p->top_k : V;
    float floor_t = p->min_p > 0 ? (p->min_p < 1 ? p->min_p : 1) : 0;   /* min-p, p_max = 1 */
    float top_p = p->top_p > 0 && p->top_p < 1 ? p->top_p : 1;
    float t = 1.0f / 256;
    for (;;) {
        if (t <= floor_t || t < 1e-30f) t = floor_t;
        int n = 0;
        for (int i = 0; i < V; i++)
            if (probs[i] >= t && probs[i] > 0) s->cands[n++] = (cand){probs[i], i};
        bool complete = n >= K || t == floor_t;   /* holds every token min-p and top-k keep */
        bool nucleus_known = false;
        if (!complete && K == V && floor_t == 0 && top_p < 1) {
            double mass = 0;                      /* total over the whole vocabulary is known */
            for (int i = 0; i < n; i++) mass += s->cands[i].p;
            nucleus_known = mass >= top_p * total;
        }
        if (complete || nucleus_known) {
            qsort(s->cands, (size_t)n, sizeof *s->cands, cand_cmp);
            if (n > K) n = K;
            /* with neither min-p nor top-k the set is the vocabulary: its mass
             * is `total` (summed in id order) however it was gathered */
            double set_total = 0;
            if (K == V && floor_t == 0) set_total = total;
            else for (int i = 0; i < n; i++) set_total += s->cands[i].p;
            /* top-p: the shortest head whose mass reaches top_p of the set */
            int n_keep = n;
            if (top_p < 1) {
                double cum = 0;
                for (int i = 0; i < n; i++) {
                    cum += s->cands[i].p;
                    if (cum >= top_p * set_total) { n_keep = i + 1; break; }
                }
            }
            double keep_total = 0;
            for (int i = 0; i < n_keep; i++) keep_total += s->cands[i].p;
            double target = u * keep_total, cum = 0;
            for (int i = 0; i < n_keep; i++) {
                cum += s->cands[i].p;
                if (target < cum) return s->cands[i].id;
            }
            return s->cands[n_keep - 1].id;
        }
        t /= 256;
    }
}

int32_t vc_sampler_sample(vc_sampler *s, const vc_sample_params *p, float *logits,
                          const int32_t *tokens, int n_tokens, int n_prompt, int n_top,
                          vc_token_logprob *lp) {
    int V = s->vocab;
    float lse = 0;
    if (n_top > 0) {   /* raw distribution, before penalties rewrite logits */
        lse = log_sum_exp(logits, V);
        top_logprobs(logits, V, lse, n_top, lp + 1);
        memcpy(s->raw, logits, (size_t)V * sizeof *logits);
    }
    apply_penalties(s, p, logits, tokens, n_tokens, n_prompt);
    int32_t tok;
    if (!(p->temperature > 1e-5f)) {
        tok = argmax(logits, V);
    } else {
        float inv_t = 1.0f / p->temperature;
        float m = logits[argmax(logits, V)];
        double total = 0;
        for (int i = 0; i < V; i++) {
            s->probs[i] = expf((logits[i] - m) * inv_t);
            total += s->probs[i];
        }
        double u = vc_sampler_uniform(p->seed, (uint64_t)(n_tokens - n_prompt));
        tok = draw(s, p, s->probs, total, u);
    }
    if (n_top > 0) {
        lp[0].token = tok;
        lp[0].logprob = s->raw[tok] - lse;
    }
    return tok;
}
