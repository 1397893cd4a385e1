/* The perplexity mode (see perplexity.h). */
#include "cli/perplexity.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "model/model.h"
#include "model/perplexity.h"
#include "model/quantize_model.h"
#include "model/resident.h"
#include "tokenizer/tokenizer.h"

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    if (fseek(f, 0, SEEK_END) == 0) {
        long n = ftell(f);
        if (n >= 0 && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1))) {
            if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
                free(buf);
                buf = NULL;
            } else {
                buf[n] = 0;
                *len = (size_t)n;
            }
        }
    }
    fclose(f);
    return buf;
}

static void on_progress(int done, int total, double ppl, void *user) {
    (void)total;
    (void)user;
    printf("[%d]%.4f,", done, ppl);
    fflush(stdout);
}

int vc_cli_perplexity(const vc_cli_ppl_opts *o) {
    vc_error err = {{0}};
    vc_dtype kv = VC_F16;
    if (o->kv_dtype) {
        if (!strcasecmp(o->kv_dtype, "f16")) kv = VC_F16;
        else if (!strcasecmp(o->kv_dtype, "bf16")) kv = VC_BF16;
        else if (!strcasecmp(o->kv_dtype, "f32")) kv = VC_F32;
        else {
            fprintf(stderr, "vllmc: --dtype '%s': expected f16, bf16 or f32\n", o->kv_dtype);
            return -1;
        }
    }
    vc_dtype mix = VC_BF16;
    if (o->quant && vc_quant_parse(o->quant, &mix, &err)) {
        fprintf(stderr, "vllmc: %s\n", err.msg);
        return -1;
    }
    size_t len = 0;
    char *text = read_file(o->text_path, &len);
    if (!text) {
        fprintf(stderr, "vllmc: --perplexity: cannot read '%s'\n", o->text_path);
        return -1;
    }
    if (o->act8 && o->precise) {
        fprintf(stderr, "vllmc: --act8 and --precise exclude each other\n");
        free(text);
        return -1;
    }
    vc_model *m = NULL;
    vc_tokenizer *tok = NULL;
    int32_t *ids = NULL, *probe = NULL;
    int n_ids = 0, n_probe = 0, rc = -1;
    if (vc_model_open(&m, o->model_path, &err) || vc_tokenizer_open(&tok, o->model_path, &err) ||
        (o->quant && vc_model_quantize(m, mix, o->n_threads, o->progress, &err)) ||
        vc_model_make_resident(m, false, &err) ||
        vc_tokenize(tok, text, len, true, false, &ids, &n_ids, &err) ||
        vc_tokenize(tok, "a", 1, true, false, &probe, &n_probe, &err)) {
        fprintf(stderr, "vllmc: %s\n", err.msg);
        goto out;
    }
    /* the tokenizer adds BOS (so llama.cpp replaces each chunk's first token) */
    const int bos = vc_tokenizer_bos(tok);
    const bool add_bos = bos >= 0 && n_probe > 0 && probe[0] == bos;
    vc_ppl_params p = {
        .ctx = o->ctx > 0 ? o->ctx : 512, .stride = o->stride, .max_chunks = o->chunks > 0 ? o->chunks : -1,
        .seqs_per_batch = o->seqs_per_batch, .n_threads = o->n_threads,
        .numerics = o->precise ? VC_NUMERICS_PRECISE : o->act8 ? VC_NUMERICS_ACT8 : VC_NUMERICS_DEFAULT, .bos_id = add_bos ? bos : -1,
        .kv_dtype = kv,
    };
    fprintf(stderr, "perplexity: %d tokens, ctx %d, stride %d, BOS %s, KV %s\n", n_ids, p.ctx, p.stride,
            add_bos ? "added" : "none", vc_dtype_name(kv));
    vc_ppl_result r;
    if (vc_perplexity(m, ids, n_ids, &p, &r, on_progress, NULL, &err)) {
        printf("\n");
        fprintf(stderr, "vllmc: %s\n", err.msg);
        goto out;
    }
    printf("\nFinal estimate: PPL = %.4f +/- %.5f\n", r.ppl, r.ppl_err);
    fprintf(stderr, "perplexity: %d chunks, %lld tokens scored, %.1f s (%.1f tokens/s)\n", r.n_chunks,
            (long long)r.n_scored, r.seconds, r.seconds > 0 ? (double)r.n_chunks * p.ctx / r.seconds : 0.0);
    rc = 0;
out:
    free(ids);
    free(probe);
    free(text);
    vc_tokenizer_free(tok);
    vc_model_free(m);
    return rc;
}
