/* Shared by test_block_manager.c and test_scheduler.c: a simulated KV pool
 * and the invariants checked after every step.
 *
 * The simulated pool stores, per slot, an id of the token's whole prefix
 * (prefix_id[i] = mix(prefix_id[i-1], token[i])). Computing tokens writes
 * their ids; a sequence reading its block table must find its own ids in
 * every computed slot. A wrongly shared or overwritten block breaks this. */
#ifndef VLLMC_TEST_ENGINE_SIM_H
#define VLLMC_TEST_ENGINE_SIM_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/block_manager.h"
#include "engine/sequence.h"

static uint64_t sim_mix(uint64_t h, int32_t tok) {
    h ^= (uint64_t)(uint32_t)tok + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    h *= 0xbf58476d1ce4e5b9ull;
    return h ^ (h >> 29);
}

/* writes the prefix ids of tokens [from, to) into their slots */
static void sim_compute(uint64_t *pool, const vc_seq *s, int from, int to) {
    uint64_t h = 1;
    for (int i = 0; i < to; i++) {
        h = sim_mix(h, s->tokens[i]);
        if (i < from) continue;
        int blk = i / s->block_size;
        assert_true(blk < s->n_blocks);
        int64_t slot = (int64_t)s->block_table[blk] * s->block_size + i % s->block_size;
        pool[slot] = h;
    }
}

/* Checks everything about the live sequences and the block manager:
 *  - vc_bm_check (free list, hash table);
 *  - each block's ref count == its occurrences in live block tables;
 *  - a block in two tables (or twice) only if shared by prefix: registered,
 *    at the same index, under the hash of that index in both sequences;
 *  - every computed token's slot holds its prefix id;
 *  - a table covers at least the computed tokens;
 *  - free blocks + blocks in use == pool. */
static void sim_check(const vc_block_manager *bm, vc_seq *const *live, int n_live,
                      const uint64_t *pool) {
    vc_error err = {{0}};
    if (vc_bm_check(bm, &err)) fail_msg("vc_bm_check: %s", err.msg);
    int n_blocks = vc_bm_n_blocks(bm);
    int *refs = calloc((size_t)n_blocks, sizeof *refs);
    int *owner = malloc((size_t)n_blocks * sizeof *owner);     /* first (seq index) */
    int *owner_idx = malloc((size_t)n_blocks * sizeof *owner_idx);
    for (int b = 0; b < n_blocks; b++) owner[b] = -1;
    for (int k = 0; k < n_live; k++) {
        const vc_seq *s = live[k];
        if (s->n_computed > s->n_blocks * s->block_size)
            fail_msg("seq %lld: %d computed tokens but %d blocks", (long long)s->id,
                     s->n_computed, s->n_blocks);
        for (int i = 0; i < s->n_blocks; i++) {
            int b = s->block_table[i];
            assert_true(b >= 0 && b < n_blocks);
            refs[b]++;
            if (owner[b] < 0) { owner[b] = k; owner_idx[b] = i; continue; }
            /* shared: both must be the same prefix, registered in the cache */
            uint64_t h;
            if (!vc_bm_block_hash(bm, b, &h))
                fail_msg("block %d in two tables (seq %lld, %lld) but not a cached prefix block", b,
                         (long long)live[owner[b]]->id, (long long)s->id);
            const vc_seq *o = live[owner[b]];
            if (owner_idx[b] != i || i >= s->n_hashed || i >= o->n_hashed ||
                s->block_hashes[i] != h || o->block_hashes[i] != h)
                fail_msg("block %d shared by seq %lld[%d] and %lld[%d] with different prefixes", b,
                         (long long)o->id, owner_idx[b], (long long)s->id, i);
        }
        uint64_t h = 1;
        for (int i = 0; i < s->n_computed; i++) {
            h = sim_mix(h, s->tokens[i]);
            int64_t slot = (int64_t)s->block_table[i / s->block_size] * s->block_size +
                           i % s->block_size;
            if (pool[slot] != h)
                fail_msg("seq %lld token %d: slot %lld holds another prefix's K/V", (long long)s->id,
                         i, (long long)slot);
        }
    }
    int in_use = 0;
    for (int b = 0; b < n_blocks; b++) {
        if (refs[b] != vc_bm_ref_count(bm, b))
            fail_msg("block %d: ref count %d, but %d live tables hold it", b, vc_bm_ref_count(bm, b),
                     refs[b]);
        in_use += refs[b] > 0;
    }
    if (in_use + vc_bm_n_free(bm) != n_blocks)
        fail_msg("%d blocks in use + %d free != %d", in_use, vc_bm_n_free(bm), n_blocks);
    free(refs);
    free(owner);
    free(owner_idx);
}

#endif
