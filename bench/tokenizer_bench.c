/* Encoding speed of vc_tokenize on one text, one thread.
 *   tokenizer_bench TOKENIZER_PATH TEXT_FILE [REPEATS] [IDS_OUT] [lines]
 * Encodes the whole file REPEATS times (default 5) -- or, with "lines", each
 * line (without its '\n') as its own call -- and prints one JSON line:
 * {"bytes": ..., "tokens": ..., "best_s": ..., "mb_per_s": ...} (best of the runs).
 * IDS_OUT, if given, receives the ids (one line, spaces) for checking against a reference. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tokenizer/tokenizer.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s TOKENIZER_PATH TEXT_FILE [REPEATS] [IDS_OUT]\n", argv[0]);
        return 2;
    }
    int repeats = argc > 3 ? atoi(argv[3]) : 5;
    vc_error err;
    vc_tokenizer *t;
    if (vc_tokenizer_open(&t, argv[1], &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    FILE *f = fopen(argv[2], "rb");
    if (!f) { perror(argv[2]); return 1; }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)n + 1);
    if (!text || fread(text, 1, (size_t)n, f) != (size_t)n) { fprintf(stderr, "read error\n"); return 1; }
    fclose(f);
    bool lines = argc > 5 && !strcmp(argv[5], "lines");
    double best = 1e30;
    int n_ids = 0;
    int32_t *ids = NULL;
    for (int r = 0; r < repeats; r++) {
        free(ids);
        ids = NULL;
        double t0 = now_s();
        if (!lines) {
            if (vc_tokenize(t, text, (size_t)n, false, false, &ids, &n_ids, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
        } else {
            n_ids = 0;
            for (long a = 0; a < n;) {
                const char *nl = memchr(text + a, '\n', (size_t)(n - a));
                long b = nl ? nl - text : n;
                int32_t *li;
                int nl_ids;
                if (vc_tokenize(t, text + a, (size_t)(b - a), false, false, &li, &nl_ids, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
                n_ids += nl_ids;
                free(li);
                a = b + 1;
            }
        }
        double dt = now_s() - t0;
        if (dt < best) best = dt;
    }
    if (argc > 4 && ids && strcmp(argv[4], "-")) {
        FILE *o = fopen(argv[4], "w");
        if (!o) { perror(argv[4]); return 1; }
        for (int i = 0; i < n_ids; i++) fprintf(o, i ? " %d" : "%d", ids[i]);
        fputc('\n', o);
        fclose(o);
    }
    printf("{\"bytes\": %ld, \"tokens\": %d, \"best_s\": %.6f, \"mb_per_s\": %.3f}\n", n, n_ids, best, (double)n / best / 1e6);
    free(ids);
    free(text);
    vc_tokenizer_free(t);
    return 0;
}
