/* Argument parsing for the quantize/export and perplexity modes. */
#include "cli/quant_main.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/perplexity.h"
#include "cli/quantize.h"

bool vc_cli_is_quant_mode(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--quant-out") || !strcmp(argv[i], "--perplexity")) return true;
    return false;
}

static int parse_int(const char *flag, const char *v, int lo, int *out) {
    char *end;
    long x = strtol(v, &end, 10);
    if (!*v || *end || x < lo || x > 1 << 24) {
        fprintf(stderr, "vllmc: %s '%s': expected an integer >= %d\n", flag, v, lo);
        return -1;
    }
    *out = (int)x;
    return 0;
}

static bool is_serving_flag(const char *a) {
    return !strcmp(a, "--prompts") || !strcmp(a, "--i") || !strcmp(a, "--server");
}

/* --quant-out with a serving mode: export, then hand main an argv that runs
 * the mode on the exported file */
static int export_then_continue(int *argc_io, char ***argv_io) {
    int argc = *argc_io;
    char **argv = *argv_io;
    const char *model = NULL, *quant = NULL, *out = NULL;
    int threads = 0;
    for (int i = 1; i + 1 < argc; i++) {
        if (!strcmp(argv[i], "--w")) model = argv[i + 1];
        else if (!strcmp(argv[i], "--quant")) quant = argv[i + 1];
        else if (!strcmp(argv[i], "--quant-out")) out = argv[i + 1];
        else if (!strcmp(argv[i], "--threads") && parse_int("--threads", argv[i + 1], 0, &threads)) return 2;
    }
    if (!model || !quant || !out) {
        fprintf(stderr, "vllmc: --quant-out needs --w MODEL and --quant TYPE\n");
        return 2;
    }
    if (vc_cli_quantize_export(model, quant, out, threads, isatty(STDERR_FILENO))) return 1;
    char **nv = malloc(((size_t)argc + 1) * sizeof *nv);
    if (!nv) return 1;
    int n = 0;
    for (int i = 0; i < argc; i++) {
        if (i > 0 && i + 1 < argc && (!strcmp(argv[i], "--quant") || !strcmp(argv[i], "--quant-out"))) {
            i++;
            continue;
        }
        nv[n++] = argv[i];
        if (i > 0 && i + 1 < argc && !strcmp(argv[i], "--w")) {
            nv[n++] = (char *)out;
            i++;
        }
    }
    nv[n] = NULL;
    *argc_io = n;
    *argv_io = nv;
    return VC_CLI_CONTINUE;
}

int vc_cli_quant_main(int *argc_io, char ***argv_io) {
    int argc = *argc_io;
    char **argv = *argv_io;
    bool serving = false, ppl = false;
    for (int i = 1; i < argc; i++) {
        serving |= is_serving_flag(argv[i]);
        ppl |= !strcmp(argv[i], "--perplexity");
    }
    if (serving && !ppl) return export_then_continue(argc_io, argv_io);
    const char *model = NULL, *quant = NULL, *quant_out = NULL, *text = NULL, *dtype = NULL;
    int ctx = 512, stride = 0, chunks = -1, batch = 4, threads = 0;
    bool act8 = false, precise = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--act8")) {
            act8 = true;
            continue;
        }
        if (!strcmp(a, "--precise")) {
            precise = true;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "vllmc: %s: missing value (or unknown flag in this mode)\n", a);
            return 2;
        }
        const char *v = argv[++i];
        int bad = 0;
        if (!strcmp(a, "--w")) model = v;
        else if (!strcmp(a, "--quant")) quant = v;
        else if (!strcmp(a, "--quant-out")) quant_out = v;
        else if (!strcmp(a, "--perplexity")) text = v;
        else if (!strcmp(a, "--dtype")) dtype = v;
        else if (!strcmp(a, "--ctx")) bad = parse_int(a, v, 4, &ctx);
        else if (!strcmp(a, "--ppl-stride")) bad = parse_int(a, v, 0, &stride);
        else if (!strcmp(a, "--chunks")) bad = parse_int(a, v, 1, &chunks);
        else if (!strcmp(a, "--ppl-batch")) bad = parse_int(a, v, 1, &batch);
        else if (!strcmp(a, "--threads")) bad = parse_int(a, v, 0, &threads);
        else {
            fprintf(stderr, "vllmc: unknown flag '%s' with --quant-out/--perplexity (see --help)\n", a);
            return 2;
        }
        if (bad) return 2;
    }
    if (!model) {
        fprintf(stderr, "vllmc: --w MODEL is required\n");
        return 2;
    }
    const bool progress = isatty(STDERR_FILENO);
    if (quant_out) {
        if (!quant) {
            fprintf(stderr, "vllmc: --quant-out needs --quant TYPE (the type to write)\n");
            return 2;
        }
        if (vc_cli_quantize_export(model, quant, quant_out, threads, progress)) return 1;
        if (!text) return 0;
        /* go on with the exported file: no second quantization */
        model = quant_out;
        quant = NULL;
    }
    vc_cli_ppl_opts o = {
        .model_path = model, .text_path = text, .quant = quant, .kv_dtype = dtype, .ctx = ctx,
        .stride = stride, .chunks = chunks, .seqs_per_batch = batch, .n_threads = threads,
        .act8 = act8, .precise = precise, .progress = progress,
    };
    return vc_cli_perplexity(&o) ? 1 : 0;
}
