#include "cli/batch.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

typedef struct answer {
    char *text;
    size_t len, cap;
    int32_t *tokens;
    int n_tokens, cap_tokens;
    vllmc_finish_reason finish;
    int prompt_tokens, completion_tokens, cached_tokens;
} answer;

static void on_output(const vllmc_output *o, void *user) {
    answer *a = user;
    if (a->len + o->text_len + 1 > a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 256;
        while (cap < a->len + o->text_len + 1) cap *= 2;
        char *t = realloc(a->text, cap);
        if (!t) return;
        a->text = t;
        a->cap = cap;
    }
    memcpy(a->text + a->len, o->text, o->text_len);
    a->len += o->text_len;
    a->text[a->len] = 0;
    if (a->n_tokens + o->n_tokens > a->cap_tokens) {
        int cap = a->cap_tokens ? a->cap_tokens * 2 : 64;
        while (cap < a->n_tokens + o->n_tokens) cap *= 2;
        int32_t *t = realloc(a->tokens, (size_t)cap * sizeof *t);
        if (!t) return;
        a->tokens = t;
        a->cap_tokens = cap;
    }
    for (int i = 0; i < o->n_tokens; i++) a->tokens[a->n_tokens++] = o->tokens[i];
    a->cached_tokens = o->cached_prompt_tokens;
    a->finish = o->finish;
    a->prompt_tokens = o->prompt_tokens;
    a->completion_tokens = o->completion_tokens;
}

int vc_cli_split_prompts(const char *prompts, char ***items) {
    int n = 0, cap = 4;
    char **v = malloc((size_t)cap * sizeof *v);
    const char *p = prompts;
    for (;;) {
        const char *bar = strchr(p, '|');
        const char *end = bar ? bar : p + strlen(p);
        const char *b = p, *t = end;
        while (b < t && isspace((unsigned char)*b)) b++;
        while (t > b && isspace((unsigned char)t[-1])) t--;
        if (t > b) {
            if (n == cap) v = realloc(v, (size_t)(cap *= 2) * sizeof *v);
            v[n++] = strndup(b, (size_t)(t - b));
        }
        if (!bar) break;
        p = bar + 1;
    }
    *items = v;
    return n;
}

static const char *finish_name(vllmc_finish_reason f) {
    switch (f) {
    case VLLMC_FINISH_STOP: return "stop";
    case VLLMC_FINISH_LENGTH: return "length";
    case VLLMC_FINISH_ABORT: return "abort";
    case VLLMC_FINISH_ERROR: return "error";
    default: return "none";
    }
}

/* one machine-readable line per answer (--verbose): token ids and exact text */
static void print_result(FILE *out, int index, const answer *a) {
    json_t *ids = json_array();
    for (int i = 0; i < a->n_tokens; i++) json_array_append_new(ids, json_integer(a->tokens[i]));
    json_t *o = json_pack("{s:i, s:s, s:i, s:i, s:i, s:o, s:s#}", "index", index, "finish",
                          finish_name(a->finish), "prompt_tokens", a->prompt_tokens,
                          "cached_tokens", a->cached_tokens, "completion_tokens",
                          a->completion_tokens, "tokens", ids, "text", a->text ? a->text : "",
                          (int)a->len);
    char *line = o ? json_dumps(o, JSON_COMPACT) : NULL;
    if (line) fprintf(out, "result: %s\n", line);
    free(line);
    json_decref(o);
}

void vc_cli_print_stats(vllmc_engine *e, FILE *out) {
    vllmc_stats s;
    vllmc_get_stats(e, &s);
    fprintf(out,
            "stats: requests=%lld prompt_tokens=%lld prefill_tokens=%lld cached_tokens=%lld "
            "generated_tokens=%lld preemptions=%lld kv_blocks=%d prefill_s=%.3f decode_s=%.3f\n",
            (long long)s.requests_finished, (long long)s.prompt_tokens, (long long)s.prefill_tokens,
            (long long)s.cached_tokens, (long long)s.generated_tokens, (long long)s.preemptions,
            s.kv_blocks_total, s.prefill_seconds, s.decode_seconds);
}

static double wall_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int vc_cli_batch(vllmc_engine *e, const char *prompts, bool raw, const vllmc_sampling_params *p,
                 bool verbose, FILE *out) {
    char **items;
    int n = vc_cli_split_prompts(prompts, &items);
    if (n == 0) {
        fprintf(stderr, "vllmc: --prompts: no prompt (expected \"a | b | c\")\n");
        free(items);
        return -1;
    }
    answer *answers = calloc((size_t)n, sizeof *answers);
    char err[1024];
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        char *text = NULL;
        if (!raw) {
            vllmc_message m = {"user", items[i]};
            if (vllmc_apply_chat_template(e, &m, 1, true, &text, err, sizeof err)) {
                fprintf(stderr, "vllmc: prompt %d: chat template: %s (use --raw)\n", i + 1, err);
                rc = -1;
                break;
            }
        }
        vllmc_request r = {.prompt = raw ? items[i] : text, .params = *p, .on_output = on_output,
                           .user = &answers[i]};
        if (vllmc_add_request(e, &r, err, sizeof err) < 0) {
            fprintf(stderr, "vllmc: prompt %d: %s\n", i + 1, err);
            rc = -1;
        }
        free(text);
    }
    double t0 = wall_s();
    if (rc == 0 && vllmc_run(e) != 0) rc = -1;
    double dt = wall_s() - t0;
    if (rc == 0) {
        for (int i = 0; i < n; i++) {
            fprintf(out, "> %s\n%s\n", items[i], answers[i].text ? answers[i].text : "");
            if (answers[i].finish == VLLMC_FINISH_ERROR) fprintf(out, "[error]\n");
            fprintf(out, "\n");
        }
        vllmc_stats s;
        vllmc_get_stats(e, &s);
        double prefill_tps = s.prefill_seconds > 0 ? s.prefill_tokens / s.prefill_seconds : 0;
        fprintf(out, "%lld prompt tokens (%lld cached), prefill %.1f tokens/s\n",
                (long long)s.prompt_tokens, (long long)s.cached_tokens, prefill_tps);
        fprintf(out, "%lld tokens generated in %.2f s (decoding throughput: %.2f tokens/s)\n",
                (long long)s.generated_tokens, dt, dt > 0 ? s.generated_tokens / dt : 0);
        if (verbose) {
            for (int i = 0; i < n; i++) print_result(out, i, &answers[i]);
            vc_cli_print_stats(e, out);
        }
    }
    for (int i = 0; i < n; i++) {
        free(items[i]);
        free(answers[i].text);
        free(answers[i].tokens);
    }
    free(items);
    free(answers);
    return rc;
}
