#include "engine/runner.h"

#include <stdlib.h>

struct vc_runner {
    int max_tokens, max_seqs, max_blocks_per_seq;
    int32_t *tokens, *positions, *slot_mapping;   /* [max_tokens] */
    int32_t *query_start;                         /* [max_seqs + 1] */
    int32_t *context_lens, *logits_rows;          /* [max_seqs] */
    int32_t *block_tables;                        /* [max_seqs][max_blocks_per_seq] */
};

int vc_runner_create(vc_runner **out, int max_tokens, int max_seqs, int max_blocks_per_seq,
                     vc_error *err) {
    *out = NULL;
    vc_runner *r = calloc(1, sizeof *r);
    if (!r) return vc_errorf(err, "runner: out of memory");
    r->max_tokens = max_tokens;
    r->max_seqs = max_seqs;
    r->max_blocks_per_seq = max_blocks_per_seq;
    r->tokens = malloc((size_t)max_tokens * sizeof(int32_t));
    r->positions = malloc((size_t)max_tokens * sizeof(int32_t));
    r->slot_mapping = malloc((size_t)max_tokens * sizeof(int32_t));
    r->query_start = malloc((size_t)(max_seqs + 1) * sizeof(int32_t));
    r->context_lens = malloc((size_t)max_seqs * sizeof(int32_t));
    r->logits_rows = malloc((size_t)max_seqs * sizeof(int32_t));
    r->block_tables = malloc((size_t)max_seqs * max_blocks_per_seq * sizeof(int32_t));
    if (!r->tokens || !r->positions || !r->slot_mapping || !r->query_start || !r->context_lens ||
        !r->logits_rows || !r->block_tables) {
        vc_runner_free(r);
        return vc_errorf(err, "runner: out of memory for %d tokens x %d sequences", max_tokens,
                         max_seqs);
    }
    *out = r;
    return 0;
}

void vc_runner_free(vc_runner *r) {
    if (!r) return;
    free(r->tokens);
    free(r->positions);
    free(r->slot_mapping);
    free(r->query_start);
    free(r->context_lens);
    free(r->logits_rows);
    free(r->block_tables);
    free(r);
}

int vc_runner_build(vc_runner *r, const vc_sched_out *plan, vc_batch *b, int *sample_row,
                    vc_error *err) {
    if (plan->n_seqs > r->max_seqs || plan->n_tokens > r->max_tokens)
        return vc_errorf(err, "runner: plan of %d sequences / %d tokens exceeds %d / %d",
                         plan->n_seqs, plan->n_tokens, r->max_seqs, r->max_tokens);
    int stride = 1;
    for (int s = 0; s < plan->n_seqs; s++)
        if (plan->seqs[s]->n_blocks > stride) stride = plan->seqs[s]->n_blocks;
    if (stride > r->max_blocks_per_seq)
        return vc_errorf(err, "runner: a sequence holds %d blocks, more than %d", stride,
                         r->max_blocks_per_seq);
    int t = 0, n_logits = 0;
    for (int s = 0; s < plan->n_seqs; s++) {
        const vc_seq *seq = plan->seqs[s];
        int from = seq->n_computed, to = seq->n_computed + plan->n_new_tokens[s];
        r->query_start[s] = t;
        for (int pos = from; pos < to; pos++, t++) {
            r->tokens[t] = seq->tokens[pos];
            r->positions[t] = pos;
            r->slot_mapping[t] = seq->block_table[pos / seq->block_size] * seq->block_size +
                                 pos % seq->block_size;
        }
        r->context_lens[s] = to;
        int32_t *row = r->block_tables + (size_t)s * stride;
        for (int i = 0; i < stride; i++) row[i] = i < seq->n_blocks ? seq->block_table[i] : -1;
        if (to == seq->n_tokens) {
            sample_row[s] = n_logits;
            r->logits_rows[n_logits++] = t - 1;
        } else {
            sample_row[s] = -1;
        }
    }
    r->query_start[plan->n_seqs] = t;
    *b = (vc_batch){
        .n_tokens = t,
        .tokens = r->tokens,
        .positions = r->positions,
        .slot_mapping = r->slot_mapping,
        .n_seqs = plan->n_seqs,
        .query_start = r->query_start,
        .context_lens = r->context_lens,
        .block_tables = r->block_tables,
        .max_blocks_per_seq = stride,
        .n_logits = n_logits,
        .logits_rows = r->logits_rows,
    };
    return 0;
}
