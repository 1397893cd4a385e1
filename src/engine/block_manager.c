#include "engine/block_manager.h"

#include <stdlib.h>
#include <string.h>

typedef struct vc_block {
    int ref;
    bool hashed;            /* registered in the prefix cache */
    uint64_t hash;
    int prev, next;         /* free-list links, -1 = none; valid while ref == 0 */
    int hash_next;          /* bucket chain, -1 = end */
} vc_block;

struct vc_block_manager {
    int n_blocks, block_size;
    bool prefix_caching;
    vc_block *blocks;       /* [n_blocks] */
    int32_t *block_tokens;  /* [n_blocks][block_size]: tokens of registered blocks (verified on hit) */
    int free_head, free_tail, n_free;
    int *buckets;           /* [n_buckets] first block of each hash chain, -1 = empty */
    uint64_t bucket_mask;
    int64_t n_evictions;
};

/* ---- free list ---- */

static void free_unlink(vc_block_manager *bm, int b) {
    vc_block *blk = &bm->blocks[b];
    if (blk->prev >= 0) bm->blocks[blk->prev].next = blk->next; else bm->free_head = blk->next;
    if (blk->next >= 0) bm->blocks[blk->next].prev = blk->prev; else bm->free_tail = blk->prev;
    blk->prev = blk->next = -1;
    bm->n_free--;
}

static void free_push_tail(vc_block_manager *bm, int b) {
    vc_block *blk = &bm->blocks[b];
    blk->prev = bm->free_tail;
    blk->next = -1;
    if (bm->free_tail >= 0) bm->blocks[bm->free_tail].next = b; else bm->free_head = b;
    bm->free_tail = b;
    bm->n_free++;
}

static void free_push_head(vc_block_manager *bm, int b) {
    vc_block *blk = &bm->blocks[b];
    blk->next = bm->free_head;
    blk->prev = -1;
    if (bm->free_head >= 0) bm->blocks[bm->free_head].prev = b; else bm->free_tail = b;
    bm->free_head = b;
    bm->n_free++;
}

/* ---- hash table: hash -> block, chained through the blocks ---- */

static int *bucket_of(const vc_block_manager *bm, uint64_t hash) {
    return &bm->buckets[hash & bm->bucket_mask];
}

static int hash_find(const vc_block_manager *bm, uint64_t hash, const int32_t *tokens) {
    for (int b = *bucket_of(bm, hash); b >= 0; b = bm->blocks[b].hash_next)
        if (bm->blocks[b].hash == hash &&
            !memcmp(bm->block_tokens + (size_t)b * bm->block_size, tokens,
                    (size_t)bm->block_size * sizeof *tokens))
            return b;
    return -1;
}

static void hash_insert(vc_block_manager *bm, int b, uint64_t hash, const int32_t *tokens) {
    vc_block *blk = &bm->blocks[b];
    blk->hashed = true;
    blk->hash = hash;
    memcpy(bm->block_tokens + (size_t)b * bm->block_size, tokens,
           (size_t)bm->block_size * sizeof *tokens);
    int *head = bucket_of(bm, hash);
    blk->hash_next = *head;
    *head = b;
}

static void hash_remove(vc_block_manager *bm, int b) {
    vc_block *blk = &bm->blocks[b];
    int *link = bucket_of(bm, blk->hash);
    while (*link != b) link = &bm->blocks[*link].hash_next;
    *link = blk->hash_next;
    blk->hash_next = -1;
    blk->hashed = false;
}

/* ---- public ---- */

int vc_bm_create(vc_block_manager **out, int n_blocks, int block_size, bool prefix_caching,
                 vc_error *err) {
    *out = NULL;
    if (n_blocks < 1) return vc_errorf(err, "block manager: %d blocks (need >= 1)", n_blocks);
    if (block_size < 1) return vc_errorf(err, "block manager: block size %d (need >= 1)", block_size);
    vc_block_manager *bm = calloc(1, sizeof *bm);
    if (!bm) return vc_errorf(err, "block manager: out of memory");
    bm->n_blocks = n_blocks;
    bm->block_size = block_size;
    bm->prefix_caching = prefix_caching;
    size_t n_buckets = 1;
    while (n_buckets < (size_t)n_blocks * 2) n_buckets <<= 1;
    bm->bucket_mask = n_buckets - 1;
    bm->blocks = calloc((size_t)n_blocks, sizeof *bm->blocks);
    bm->buckets = malloc(n_buckets * sizeof *bm->buckets);
    if (prefix_caching)
        bm->block_tokens = malloc((size_t)n_blocks * block_size * sizeof *bm->block_tokens);
    if (!bm->blocks || !bm->buckets || (prefix_caching && !bm->block_tokens)) {
        vc_bm_free(bm);
        return vc_errorf(err, "block manager: out of memory for %d blocks", n_blocks);
    }
    for (size_t i = 0; i < n_buckets; i++) bm->buckets[i] = -1;
    bm->free_head = bm->free_tail = -1;
    for (int b = 0; b < n_blocks; b++) {
        bm->blocks[b].hash_next = -1;
        free_push_tail(bm, b);
    }
    *out = bm;
    return 0;
}

void vc_bm_free(vc_block_manager *bm) {
    if (!bm) return;
    free(bm->blocks);
    free(bm->block_tokens);
    free(bm->buckets);
    free(bm);
}

int vc_bm_n_blocks(const vc_block_manager *bm) { return bm->n_blocks; }
int vc_bm_block_size(const vc_block_manager *bm) { return bm->block_size; }
int vc_bm_n_free(const vc_block_manager *bm) { return bm->n_free; }
bool vc_bm_prefix_caching(const vc_block_manager *bm) { return bm->prefix_caching; }
int64_t vc_bm_n_evictions(const vc_block_manager *bm) { return bm->n_evictions; }

int vc_bm_ref_count(const vc_block_manager *bm, int block) { return bm->blocks[block].ref; }

bool vc_bm_block_hash(const vc_block_manager *bm, int block, uint64_t *hash) {
    if (bm->blocks[block].hashed && hash) *hash = bm->blocks[block].hash;
    return bm->blocks[block].hashed;
}

int vc_bm_count_prefix_hits(const vc_block_manager *bm, const vc_seq *s) {
    if (!bm->prefix_caching || s->n_blocks) return 0;
    int max_hits = (s->n_tokens - 1) / bm->block_size;
    if (max_hits > s->n_hashed) max_hits = s->n_hashed;
    int n = 0;
    while (n < max_hits &&
           hash_find(bm, s->block_hashes[n], s->tokens + (size_t)n * bm->block_size) >= 0)
        n++;
    return n;
}

int vc_bm_allocate(vc_block_manager *bm, vc_seq *s, int n_hit_blocks, int n_total_tokens) {
    if (s->n_blocks) n_hit_blocks = 0;
    int n_needed_total = (n_total_tokens + bm->block_size - 1) / bm->block_size;
    if (n_needed_total > s->max_blocks) return -1;
    if (n_hit_blocks > n_needed_total) n_hit_blocks = n_needed_total;
    int n_new = n_needed_total - s->n_blocks - n_hit_blocks;
    if (n_new < 0) n_new = 0;
    /* hits with ref 0 sit in the free list: taking them uses up free blocks too */
    int n_hits_free = 0;
    for (int i = 0; i < n_hit_blocks; i++) {
        int b = hash_find(bm, s->block_hashes[i], s->tokens + (size_t)i * bm->block_size);
        if (b < 0) return -1;   /* the caller's count is stale */
        if (bm->blocks[b].ref == 0) n_hits_free++;
    }
    if (n_new + n_hits_free > bm->n_free) return -1;

    for (int i = 0; i < n_hit_blocks; i++) {
        int b = hash_find(bm, s->block_hashes[i], s->tokens + (size_t)i * bm->block_size);
        if (bm->blocks[b].ref++ == 0) free_unlink(bm, b);
        s->block_table[s->n_blocks++] = b;
    }
    if (n_hit_blocks) s->n_committed = n_hit_blocks;
    for (int i = 0; i < n_new; i++) {
        int b = bm->free_head;
        free_unlink(bm, b);
        if (bm->blocks[b].hashed) {       /* evict the least recently used cached block */
            hash_remove(bm, b);
            bm->n_evictions++;
        }
        bm->blocks[b].ref = 1;
        s->block_table[s->n_blocks++] = b;
    }
    return 0;
}

void vc_bm_commit(vc_block_manager *bm, vc_seq *s) {
    if (!bm->prefix_caching) return;
    vc_seq_update_hashes(s);
    int n_full = s->n_computed / bm->block_size;
    if (n_full > s->n_hashed) n_full = s->n_hashed;
    if (n_full > s->n_blocks) n_full = s->n_blocks;
    for (int i = s->n_committed; i < n_full; i++) {
        int b = s->block_table[i];
        const int32_t *toks = s->tokens + (size_t)i * bm->block_size;
        /* the same prefix computed twice (two sequences in flight at once):
         * keep the first registration, ours stays a private block */
        if (!bm->blocks[b].hashed && hash_find(bm, s->block_hashes[i], toks) < 0)
            hash_insert(bm, b, s->block_hashes[i], toks);
    }
    if (n_full > s->n_committed) s->n_committed = n_full;
}

void vc_bm_release(vc_block_manager *bm, vc_seq *s) {
    for (int i = s->n_blocks - 1; i >= 0; i--) {
        int b = s->block_table[i];
        if (--bm->blocks[b].ref == 0) {
            if (bm->blocks[b].hashed) free_push_tail(bm, b);
            else free_push_head(bm, b);
        }
    }
    s->n_blocks = 0;
    s->n_committed = 0;
}

int vc_bm_check(const vc_block_manager *bm, vc_error *err) {
    int n_zero = 0;
    for (int b = 0; b < bm->n_blocks; b++) {
        const vc_block *blk = &bm->blocks[b];
        if (blk->ref < 0) return vc_errorf(err, "block %d: ref count %d < 0", b, blk->ref);
        if (blk->ref == 0) n_zero++;
        if (blk->hashed) {
            if (!bm->prefix_caching) return vc_errorf(err, "block %d hashed with caching off", b);
            int found = 0;
            for (int c = *bucket_of(bm, blk->hash); c >= 0; c = bm->blocks[c].hash_next)
                if (c == b) found = 1;
            if (!found) return vc_errorf(err, "block %d: hashed but not in its bucket", b);
        }
    }
    if (n_zero != bm->n_free)
        return vc_errorf(err, "free count %d != blocks with ref 0 (%d)", bm->n_free, n_zero);
    int n_listed = 0, prev = -1;
    for (int b = bm->free_head; b >= 0; b = bm->blocks[b].next) {
        if (bm->blocks[b].ref != 0)
            return vc_errorf(err, "block %d in the free list with ref %d", b, bm->blocks[b].ref);
        if (bm->blocks[b].prev != prev) return vc_errorf(err, "block %d: broken free-list link", b);
        prev = b;
        if (++n_listed > bm->n_blocks) return vc_errorf(err, "free list has a cycle");
    }
    if (prev != bm->free_tail) return vc_errorf(err, "free-list tail %d != last %d", bm->free_tail, prev);
    if (n_listed != bm->n_free)
        return vc_errorf(err, "free list holds %d blocks, count says %d", n_listed, bm->n_free);
    for (uint64_t i = 0; i <= bm->bucket_mask; i++)
        for (int b = bm->buckets[i]; b >= 0; b = bm->blocks[b].hash_next)
            if (!bm->blocks[b].hashed || (bm->blocks[b].hash & bm->bucket_mask) != i)
                return vc_errorf(err, "bucket %llu: block %d does not belong", (unsigned long long)i, b);
    return 0;
}
