/* Our side of bench/run.py: drives the engine through include/vllmc.h with
 * random token prompts (ignore_eos, greedy), prints one JSON line per result.
 *
 *   bench_engine MODEL single   PROMPT_LEN GEN_LEN THREADS
 *       one stream: prefill tokens/s of PROMPT_LEN tokens, decode tokens/s of GEN_LEN
 *   bench_engine MODEL sweep    "1,2,4,...,64" PROMPT_LEN GEN_LEN THREADS
 *       B streams at once: decode tokens/s (steps with no prefill in them)
 *   bench_engine MODEL throughput N MIN_LEN MAX_LEN THREADS SEED
 *       nano-vllm's run: N sequences, prompt and output lengths uniform in
 *       [MIN_LEN, MAX_LEN], all submitted at once; total tokens/s and decode tokens/s
 *   bench_engine --act8 MODEL ...   the same with 8-bit activations in every matmul
 *   bench_engine --precise MODEL ... the same with value + residual pairs in every matmul
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vllmc.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint64_t rng_next(uint64_t *s) { /* splitmix64 */
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

typedef struct run_totals {
    double decode_s, prefill_s;
    int64_t decode_tokens, prefill_tokens;
} run_totals;

/* Steps the engine to completion; a step whose prefill counter did not move
 * is a pure decode step and is timed as such. */
static int run_all(vllmc_engine *e, run_totals *t) {
    memset(t, 0, sizeof *t);
    vllmc_stats before, after;
    while (vllmc_has_unfinished(e)) {
        vllmc_get_stats(e, &before);
        double t0 = now_s();
        if (vllmc_step(e) < 0) return -1;
        double dt = now_s() - t0;
        vllmc_get_stats(e, &after);
        int64_t pf = after.prefill_tokens - before.prefill_tokens;
        int64_t gen = after.generated_tokens - before.generated_tokens;
        if (pf == 0) { t->decode_s += dt; t->decode_tokens += gen; }
        else { t->prefill_s += dt; t->prefill_tokens += pf; }
    }
    return 0;
}

static int add_random(vllmc_engine *e, uint64_t *rng, int prompt_len, int gen_len, int vocab) {
    int32_t *ids = malloc(sizeof *ids * prompt_len);
    for (int i = 0; i < prompt_len; i++) ids[i] = (int32_t)(100 + rng_next(rng) % (uint64_t)(vocab - 200));
    vllmc_request r = {0};
    r.prompt_ids = ids;
    r.n_prompt_ids = prompt_len;
    r.params = vllmc_default_sampling();
    r.params.temperature = 0;
    r.params.max_tokens = gen_len;
    r.params.ignore_eos = true;
    char err[512];
    int64_t id = vllmc_add_request(e, &r, err, sizeof err);
    free(ids);
    if (id < 0) { fprintf(stderr, "bench_engine: %s\n", err); return -1; }
    return 0;
}

/* numerics: 0 default, 1 --act8, 2 --precise */
static vllmc_engine *open_engine(const char *model, int threads, int max_seqs, int numerics) {
    vllmc_engine_options o = vllmc_engine_default_options();
    o.act8 = numerics == 1;
    o.precise = numerics == 2;
    o.model_path = model;
    o.n_threads = threads;
    o.max_num_seqs = max_seqs;
    o.kvmem_mb = 2048;
    o.enable_prefix_caching = false; /* random prompts: nothing to share; measure compute */
    char err[1024];
    vllmc_engine *e = NULL;
    if (vllmc_engine_create(&e, &o, err, sizeof err)) { fprintf(stderr, "bench_engine: %s\n", err); return NULL; }
    return e;
}

int main(int argc, char **argv) {
    const int act8 = argc > 1 && !strcmp(argv[1], "--act8") ? 1 : argc > 1 && !strcmp(argv[1], "--precise") ? 2 : 0;
    if (act8) {
        argv++;
        argc--;
    }
    if (argc < 3) { fprintf(stderr, "usage: see the comment at the top of bench/bench_engine.c\n"); return 2; }
    const char *model = argv[1], *mode = argv[2];
    const int vocab = 32000; /* ids drawn below every supported vocab size */
    uint64_t rng = 1234;
    if (!strcmp(mode, "single") && argc >= 6) {
        int plen = atoi(argv[3]), glen = atoi(argv[4]), threads = atoi(argv[5]);
        vllmc_engine *e = open_engine(model, threads, 1, act8);
        if (!e) return 1;
        /* warm-up, as llama-bench's: a run of the same shape first (the
         * scratch buffers and KV blocks touched once, as in a serving process) */
        if (add_random(e, &rng, plen, 4, vocab) || run_all(e, &(run_totals){0})) return 1;
        run_totals t;
        if (add_random(e, &rng, plen, glen, vocab) || run_all(e, &t)) return 1;
        printf("{\"mode\": \"single\", \"threads\": %d, \"prompt_len\": %d, \"gen_len\": %d, "
               "\"prefill_tps\": %.2f, \"decode_tps\": %.2f}\n",
               threads, plen, glen, t.prefill_tokens / t.prefill_s, t.decode_tokens / t.decode_s);
        vllmc_engine_free(e);
        return 0;
    }
    if (!strcmp(mode, "sweep") && argc >= 7) {
        int plen = atoi(argv[4]), glen = atoi(argv[5]), threads = atoi(argv[6]);
        vllmc_engine *e = open_engine(model, threads, 256, act8);
        if (!e) return 1;
        for (char *s = argv[3]; *s;) {
            int b = (int)strtol(s, &s, 10);
            if (*s == ',') s++;
            if (b <= 0) continue;
            for (int i = 0; i < b; i++)
                if (add_random(e, &rng, plen, glen, vocab)) return 1;
            run_totals t;
            if (run_all(e, &t)) return 1;
            printf("{\"mode\": \"sweep\", \"threads\": %d, \"batch\": %d, \"prompt_len\": %d, "
                   "\"gen_len\": %d, \"decode_tps\": %.2f}\n",
                   threads, b, plen, glen, t.decode_tokens / t.decode_s);
            fflush(stdout);
        }
        vllmc_engine_free(e);
        return 0;
    }
    if (!strcmp(mode, "throughput") && argc >= 8) {
        int n = atoi(argv[3]), lo = atoi(argv[4]), hi = atoi(argv[5]), threads = atoi(argv[6]);
        rng = (uint64_t)atoll(argv[7]);
        vllmc_engine *e = open_engine(model, threads, 256, act8);
        if (!e) return 1;
        int64_t total_prompt = 0, total_gen = 0;
        for (int i = 0; i < n; i++) {
            int p = lo + (int)(rng_next(&rng) % (uint64_t)(hi - lo + 1));
            int g = lo + (int)(rng_next(&rng) % (uint64_t)(hi - lo + 1));
            total_prompt += p;
            total_gen += g;
            if (add_random(e, &rng, p, g, vocab)) return 1;
        }
        double t0 = now_s();
        run_totals t;
        if (run_all(e, &t)) return 1;
        double dt = now_s() - t0;
        printf("{\"mode\": \"throughput\", \"threads\": %d, \"n_seqs\": %d, \"prompt_tokens\": %lld, "
               "\"gen_tokens\": %lld, \"seconds\": %.3f, \"total_tps\": %.2f, \"gen_tps\": %.2f, "
               "\"prefill_step_s\": %.3f, \"decode_step_s\": %.3f}\n",
               threads, n, (long long)total_prompt, (long long)total_gen, dt,
               (total_prompt + total_gen) / dt, total_gen / dt, t.prefill_s, t.decode_s);
        vllmc_engine_free(e);
        return 0;
    }
    fprintf(stderr, "bench_engine: bad arguments; see the comment at the top of bench/bench_engine.c\n");
    return 2;
}
