/* The KV block pool's bookkeeping: which physical block belongs to which
 * sequence, ref counts, and the automatic prefix cache.
 *
 * A full block whose K/V are computed is registered under its chained hash
 * (sequence.h), so a later sequence whose tokens start the same way takes the
 * same physical blocks (ref count > 1) instead of recomputing them. A block
 * whose ref count drops to 0 goes to the free list; if it is registered it
 * keeps its contents and its hash until it is reused, so freed blocks are a
 * cache evicted least-recently-used:
 *
 *   free list:  head = next to reuse ............................ tail = freed last
 *               unregistered blocks are pushed at the head (nothing to keep),
 *               registered ones at the tail; a sequence's blocks are freed last
 *               block first, so its deepest (least shareable) blocks go first.
 *
 * The pool itself (K/V storage) is model/kv_cache.h; this file never sees it. */
#ifndef VLLMC_BLOCK_MANAGER_H
#define VLLMC_BLOCK_MANAGER_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/sequence.h"
#include "util/error.h"

typedef struct vc_block_manager vc_block_manager;

int vc_bm_create(vc_block_manager **out, int n_blocks, int block_size, bool prefix_caching,
                 vc_error *err);
void vc_bm_free(vc_block_manager *bm);

int vc_bm_n_blocks(const vc_block_manager *bm);
int vc_bm_block_size(const vc_block_manager *bm);
/* blocks with ref count 0 (including cached ones, which are reusable) */
int vc_bm_n_free(const vc_block_manager *bm);
bool vc_bm_prefix_caching(const vc_block_manager *bm);

/* How many leading full blocks of a fresh sequence (no blocks yet) are in the
 * prefix cache. At most (n_tokens - 1) / block_size, so at least one token is
 * left to compute (its logits are needed). Changes nothing. */
int vc_bm_count_prefix_hits(const vc_block_manager *bm, const vc_seq *s);

/* Makes s's block table cover n_total_tokens. For a fresh sequence,
 * n_hit_blocks (from vc_bm_count_prefix_hits) cached blocks are taken first.
 * Returns -1 and changes nothing if the free blocks do not suffice. */
int vc_bm_allocate(vc_block_manager *bm, vc_seq *s, int n_hit_blocks, int n_total_tokens);

/* Registers in the prefix cache every full block of s whose K/V are now
 * computed (tokens [0, s->n_computed)). Call after each step that ran s. */
void vc_bm_commit(vc_block_manager *bm, vc_seq *s);

/* Returns all of s's blocks (ref counts down, last block first). */
void vc_bm_release(vc_block_manager *bm, vc_seq *s);

/* For tests and debugging. */
int vc_bm_ref_count(const vc_block_manager *bm, int block);
/* 1 and *hash if the block is registered in the prefix cache */
bool vc_bm_block_hash(const vc_block_manager *bm, int block, uint64_t *hash);
int64_t vc_bm_n_evictions(const vc_block_manager *bm);
/* Checks the internal invariants (free list == blocks with ref 0, hash table
 * consistent with the blocks' hashes); -1 with a message naming the block. */
int vc_bm_check(const vc_block_manager *bm, vc_error *err);

#endif
