/* Turns a scheduler plan into the flat vc_batch of model/batch.h. Buffers are
 * sized once (max tokens per step, max sequences, max blocks per sequence);
 * building a batch allocates nothing.
 *
 * Sequence s of the plan computes tokens [n_computed, n_computed + n_new):
 *   tokens/positions/slot_mapping   one entry per token, sequences back to back
 *   query_start[s]..[s+1]           its rows
 *   context_lens[s]                 n_computed + n_new
 *   block_tables[s][0..n_blocks)    its blocks (the rest -1), row stride = the
 *                                   largest n_blocks of this step
 *   logits_rows                     the last row of each sequence whose every
 *                                   token is now computed (it samples); a
 *                                   prefill chunk that ends mid-prompt gets none */
#ifndef VLLMC_RUNNER_H
#define VLLMC_RUNNER_H

#include "engine/scheduler.h"
#include "model/batch.h"
#include "util/error.h"

typedef struct vc_runner vc_runner;

int vc_runner_create(vc_runner **out, int max_tokens, int max_seqs, int max_blocks_per_seq,
                     vc_error *err);
void vc_runner_free(vc_runner *r);

/* Fills b (pointing into r's buffers, valid until the next build).
 * sample_row[s] = index into the logits rows for plan sequence s, or -1. */
int vc_runner_build(vc_runner *r, const vc_sched_out *plan, vc_batch *b, int *sample_row,
                    vc_error *err);

#endif
