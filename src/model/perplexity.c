/* Perplexity (see perplexity.h for the scoring convention). */
#include "model/perplexity.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model/batch.h"
#include "model/kv_cache.h"
#include "model/transformer.h"

#define PPL_BLOCK 16

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* -log softmax(logits)[target], in double */
static double nll_of(const float *logits, int vocab, int target) {
    float mx = logits[0];
    for (int i = 1; i < vocab; i++) mx = logits[i] > mx ? logits[i] : mx;
    double sum = 0;
    for (int i = 0; i < vocab; i++) sum += exp((double)logits[i] - mx);
    return log(sum) - ((double)logits[target] - mx);
}

int vc_perplexity(const vc_model *m, const int32_t *tokens, int n_tokens, const vc_ppl_params *p,
                  vc_ppl_result *out, vc_ppl_progress_fn progress, void *user, vc_error *err) {
    memset(out, 0, sizeof *out);
    const int ctx = p->ctx, stride = p->stride, vocab = m->cfg.vocab_size;
    if (ctx < 4) return vc_errorf(err, "perplexity: --ctx %d is too small (at least 4)", ctx);
    if (stride < 0 || stride >= ctx)
        return vc_errorf(err, "perplexity: --ppl-stride %d must be in 0..%d (below --ctx)", stride, ctx - 1);
    if (m->cfg.max_seq_len > 0 && ctx > m->cfg.max_seq_len)
        return vc_errorf(err, "perplexity: --ctx %d exceeds the model's context %d", ctx, m->cfg.max_seq_len);
    if (n_tokens < 2 * ctx)
        return vc_errorf(err, "perplexity: the text has %d tokens; --ctx %d needs at least %d", n_tokens, ctx,
                         2 * ctx);
    int n_chunks = stride ? (n_tokens - ctx + stride - 1) / stride : n_tokens / ctx;
    if (p->max_chunks >= 0 && p->max_chunks < n_chunks) n_chunks = p->max_chunks;
    if (n_chunks <= 0) return vc_errorf(err, "perplexity: no chunk to score");

    /* scored predictions per chunk: logits rows [first, ctx-2] predict tokens first+1 .. ctx-1 */
    const int first = stride ? ctx - stride - 1 : ctx / 2;
    const int n_scored = ctx - 1 - first;
    int seqs = p->seqs_per_batch > 0 ? p->seqs_per_batch : 4;
    while (seqs > 1 && (double)seqs * n_scored * vocab * sizeof(float) > 1e9) seqs--;
    if (seqs > n_chunks) seqs = n_chunks;

    const int blocks_per_seq = (ctx + PPL_BLOCK - 1) / PPL_BLOCK;
    const int max_tokens = seqs * ctx;
    int rc = -1;
    vc_transformer *tf = NULL;
    vc_kv_cache *kv = NULL;
    int32_t *tok = malloc((size_t)max_tokens * sizeof *tok), *pos = malloc((size_t)max_tokens * sizeof *pos);
    int32_t *slots = malloc((size_t)max_tokens * sizeof *slots);
    int32_t *qstart = malloc((size_t)(seqs + 1) * sizeof *qstart), *clen = malloc((size_t)seqs * sizeof *clen);
    int32_t *btab = malloc((size_t)seqs * blocks_per_seq * sizeof *btab);
    int32_t *rows = malloc((size_t)seqs * n_scored * sizeof *rows);
    float *logits = malloc((size_t)seqs * n_scored * vocab * sizeof *logits);
    if (!tok || !pos || !slots || !qstart || !clen || !btab || !rows || !logits) {
        vc_errorf(err, "perplexity: out of memory (%d sequences of %d tokens, vocab %d)", seqs, ctx, vocab);
        goto out;
    }
    if (vc_transformer_create(&tf, m, max_tokens, p->n_threads, p->numerics, err) ||
        vc_kv_cache_create(&kv, &m->cfg, p->kv_dtype, PPL_BLOCK, seqs * blocks_per_seq, err))
        goto out;

    double nll = 0, nll2 = 0;
    int64_t count = 0;
    const double t0 = now_s();
    for (int c0 = 0; c0 < n_chunks; c0 += seqs) {
        const int ns = c0 + seqs <= n_chunks ? seqs : n_chunks - c0;
        /* each chunk is a fresh sequence on its own blocks: slot = s*blocks*16 + pos */
        for (int s = 0; s < ns; s++) {
            const int start = stride ? (c0 + s) * stride : (c0 + s) * ctx;
            qstart[s] = s * ctx;
            clen[s] = ctx;
            for (int b = 0; b < blocks_per_seq; b++) btab[s * blocks_per_seq + b] = s * blocks_per_seq + b;
            for (int i = 0; i < ctx; i++) {
                tok[s * ctx + i] = tokens[start + i];
                pos[s * ctx + i] = i;
                slots[s * ctx + i] = s * blocks_per_seq * PPL_BLOCK + i;
            }
            if (!stride && p->bos_id >= 0) tok[s * ctx] = p->bos_id;
            for (int j = 0; j < n_scored; j++) rows[s * n_scored + j] = s * ctx + first + j;
        }
        qstart[ns] = ns * ctx;
        vc_batch b = {
            .n_tokens = ns * ctx, .tokens = tok, .positions = pos, .slot_mapping = slots,
            .n_seqs = ns, .query_start = qstart, .context_lens = clen, .block_tables = btab,
            .max_blocks_per_seq = blocks_per_seq, .n_logits = ns * n_scored, .logits_rows = rows,
        };
        if (vc_transformer_forward(tf, kv, &b, logits, err)) goto out;
        for (int s = 0; s < ns; s++) {
            const int start = stride ? (c0 + s) * stride : (c0 + s) * ctx;
            for (int j = 0; j < n_scored; j++) {
                double v = nll_of(logits + (size_t)(s * n_scored + j) * vocab, vocab, tokens[start + first + j + 1]);
                nll += v;
                nll2 += v * v;
                count++;
            }
        }
        if (progress) progress(c0 + ns, n_chunks, exp(nll / count), user);
    }
    const double mean = nll / count;
    double var = nll2 / count - mean * mean;
    out->ppl = exp(mean);
    out->ppl_err = var > 0 && count > 1 ? out->ppl * sqrt(var / (count - 1)) : 0;
    out->n_scored = count;
    out->n_chunks = n_chunks;
    out->seconds = now_s() - t0;
    rc = 0;
out:
    vc_kv_cache_free(kv);
    vc_transformer_free(tf);
    free(tok);
    free(pos);
    free(slots);
    free(qstart);
    free(clen);
    free(btab);
    free(rows);
    free(logits);
    return rc;
}
