/* Continuous batching: which sequences run this step and how many tokens each.
 *
 * Policy (one step):
 *  1. Running sequences, oldest first, each get min(uncomputed tokens, budget
 *     left): one token for a decode, a chunk for an unfinished prefill. When
 *     the block manager cannot cover them, the NEWEST running sequence is
 *     preempted (its blocks freed, its tokens kept, recomputed later as a
 *     prefill) until the older one fits, or it is itself the newest.
 *  2. If nothing was preempted, waiting sequences, oldest first, are admitted
 *     while max_num_seqs and the token budget allow and their blocks fit
 *     (prefix-cache hits first, then a prefill chunk); the first one that
 *     does not fit stops admission (FIFO, so nothing starves).
 * The budget is max_num_batched_tokens; a prefill longer than what is left
 * is split across steps (chunked prefill).
 *
 * Every sequence must fit the pool alone (max_len <= n_blocks * block_size;
 * the engine refuses or clips requests), so preempting all newer sequences
 * always lets the oldest one proceed: no deadlock. */
#ifndef VLLMC_SCHEDULER_H
#define VLLMC_SCHEDULER_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/block_manager.h"
#include "engine/sequence.h"
#include "util/error.h"

typedef struct vc_scheduler vc_scheduler;

/* The plan of one step, valid until the next vc_sched_schedule. */
typedef struct vc_sched_out {
    int n_seqs;
    vc_seq **seqs;          /* [n_seqs], running order (oldest first) */
    int *n_new_tokens;      /* [n_seqs] tokens to compute: [n_computed, n_computed + n_new) */
    int n_tokens;           /* sum of n_new_tokens */
    int n_preempted;        /* preemptions done while planning this step */
    int n_prefill_tokens;   /* tokens of sequences that were in prefill (n_new > 1 or first chunk) */
} vc_sched_out;

int vc_sched_create(vc_scheduler **out, vc_block_manager *bm, int max_num_seqs,
                    int max_num_batched_tokens, vc_error *err);
void vc_sched_free(vc_scheduler *s);

/* Queues a new sequence (status WAITING, no blocks). */
void vc_sched_add(vc_scheduler *s, vc_seq *seq);
/* Plans the step. */
void vc_sched_schedule(vc_scheduler *s, vc_sched_out *out);
/* After the forward: each scheduled sequence's n_computed advances by its
 * n_new_tokens and its newly full blocks enter the prefix cache. */
void vc_sched_update(vc_scheduler *s, const vc_sched_out *out);
/* Takes seq out of whichever queue holds it and frees its blocks (finish or
 * cancel); status becomes FINISHED. */
void vc_sched_remove(vc_scheduler *s, vc_seq *seq);

int vc_sched_n_running(const vc_scheduler *s);
int vc_sched_n_waiting(const vc_scheduler *s);
vc_seq *vc_sched_running(const vc_scheduler *s, int i);
vc_seq *vc_sched_waiting_head(const vc_scheduler *s);
int64_t vc_sched_n_preemptions(const vc_scheduler *s);

#endif
