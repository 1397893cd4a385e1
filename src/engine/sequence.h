/* Per-request state the scheduler and the block manager share: the token ids
 * (prompt, then output), how many of them have their K/V in the cache, the
 * block table and the chained prefix-cache hash of every full block.
 *
 * All arrays are sized once at creation for the sequence's longest possible
 * length (max_len = prompt + max new tokens, clipped by the engine to the
 * context and to the KV pool), so appending a token never allocates. */
#ifndef VLLMC_SEQUENCE_H
#define VLLMC_SEQUENCE_H

#include <stdbool.h>
#include <stdint.h>

#include "util/error.h"

typedef enum vc_seq_status {
    VC_SEQ_WAITING = 0,   /* in the scheduler's waiting queue (new or preempted) */
    VC_SEQ_RUNNING,       /* holds KV blocks, scheduled every step it fits */
    VC_SEQ_FINISHED       /* out of both queues, no blocks */
} vc_seq_status;

typedef struct vc_seq {
    int64_t id;              /* arrival order: smaller = older */
    vc_seq_status status;

    int32_t *tokens;         /* [max_len]: prompt then generated ids */
    int n_tokens;
    int n_prompt;
    int max_len;

    /* tokens [0, n_computed) have K/V in the cache (computed or prefix hits) */
    int n_computed;
    int n_cached_tokens;     /* prefix-cache hits at the first scheduling (stats) */
    int n_preemptions;

    int block_size;
    int32_t *block_table;    /* [max_blocks] physical block ids */
    int n_blocks;
    int max_blocks;          /* ceil(max_len / block_size) */
    uint64_t *block_hashes;  /* [max_blocks] chained hash of each full block of tokens */
    int n_hashed;            /* full blocks hashed so far */
    int n_committed;         /* leading blocks the block manager has put in the prefix cache */

    /* waiting-queue links (owned by the scheduler) */
    struct vc_seq *prev, *next;
    void *user;              /* the engine's per-request state */
} vc_seq;

/* Copies the prompt; max_len >= n_prompt >= 1. */
int vc_seq_create(vc_seq **out, int64_t id, const int32_t *prompt, int n_prompt, int max_len,
                  int block_size, vc_error *err);
void vc_seq_free(vc_seq *s);

/* Appends one token; -1 if the sequence is at max_len. */
int vc_seq_append(vc_seq *s, int32_t token);

/* Hashes every full block of tokens not hashed yet:
 *   hash[i] = XXH3_64(tokens of block i, seed = hash[i-1]), hash[-1] = VC_SEQ_HASH_ROOT
 * so a block's hash names its whole prefix. */
#define VC_SEQ_HASH_ROOT 0x9e3779b97f4a7c15ull
void vc_seq_update_hashes(vc_seq *s);

static inline int vc_seq_n_uncomputed(const vc_seq *s) { return s->n_tokens - s->n_computed; }
static inline int vc_seq_n_output(const vc_seq *s) { return s->n_tokens - s->n_prompt; }

#endif
