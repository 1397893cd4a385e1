/* Block manager: allocation, ref counts, prefix-cache hits, LRU eviction,
 * and thousands of random operations with every invariant checked. */
#include "common/testutil.h"

#include "engine/block_manager.h"
#include "engine/sequence.h"
#include "engine_sim.h"

enum { BS = 4 };

static vc_seq *mkseq(int64_t id, const int32_t *toks, int n, int max_len) {
    vc_seq *s;
    vc_error err;
    assert_int_equal(vc_seq_create(&s, id, toks, n, max_len, BS, &err), 0);
    return s;
}

/* computes all of s's tokens into the simulated pool */
static void compute_all(vc_block_manager *bm, vc_seq *s, uint64_t *pool) {
    assert_int_equal(vc_bm_allocate(bm, s, 0, s->n_tokens), 0);
    sim_compute(pool, s, s->n_computed, s->n_tokens);
    s->n_computed = s->n_tokens;
    vc_bm_commit(bm, s);
}

static void test_allocate_release(void **state) {
    (void)state;
    vc_block_manager *bm;
    vc_error err;
    assert_int_equal(vc_bm_create(&bm, 8, BS, true, &err), 0);
    int32_t toks[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    vc_seq *s = mkseq(0, toks, 10, 32);
    assert_int_equal(vc_bm_allocate(bm, s, 0, 10), 0);
    assert_int_equal(s->n_blocks, 3);                 /* ceil(10 / 4) */
    assert_int_equal(vc_bm_n_free(bm), 5);
    assert_int_equal(vc_bm_allocate(bm, s, 0, 12), 0);  /* still 3 blocks */
    assert_int_equal(s->n_blocks, 3);
    assert_int_equal(vc_bm_allocate(bm, s, 0, 33), -1); /* past max_len */
    assert_int_equal(vc_bm_allocate(bm, s, 0, 32), 0);  /* 8 blocks: the whole pool */
    assert_int_equal(vc_bm_n_free(bm), 0);
    vc_seq *t = mkseq(1, toks, 1, 8);
    assert_int_equal(vc_bm_allocate(bm, t, 0, 1), -1);  /* nothing left, nothing changed */
    assert_int_equal(t->n_blocks, 0);
    vc_bm_release(bm, s);
    assert_int_equal(vc_bm_n_free(bm), 8);
    assert_int_equal(vc_bm_check(bm, &err), 0);
    vc_seq_free(s);
    vc_seq_free(t);
    vc_bm_free(bm);
}

static void test_prefix_hits(void **state) {
    (void)state;
    vc_block_manager *bm;
    vc_error err;
    uint64_t pool[16 * BS] = {0};
    assert_int_equal(vc_bm_create(&bm, 16, BS, true, &err), 0);
    int32_t a[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    vc_seq *sa = mkseq(0, a, 10, 16);
    assert_int_equal(vc_bm_count_prefix_hits(bm, sa), 0);
    compute_all(bm, sa, pool);
    assert_int_equal(sa->n_committed, 2);             /* two full blocks registered */

    int32_t b[11] = {1, 2, 3, 4, 5, 6, 7, 8, 42, 43, 44};
    vc_seq *sb = mkseq(1, b, 11, 16);
    assert_int_equal(vc_bm_count_prefix_hits(bm, sb), 2);
    int32_t c[11] = {1, 2, 3, 4, 99, 6, 7, 8, 42, 43, 44};   /* differs in block 1 */
    vc_seq *sc = mkseq(2, c, 11, 16);
    assert_int_equal(vc_bm_count_prefix_hits(bm, sc), 1);
    int32_t d[8] = {1, 2, 3, 4, 5, 6, 7, 8};   /* whole prompt cached: the last token is recomputed */
    vc_seq *sd = mkseq(3, d, 8, 16);
    assert_int_equal(vc_bm_count_prefix_hits(bm, sd), 1);
    int32_t e[9] = {5, 6, 7, 8, 1, 2, 3, 4, 0};   /* same blocks in another order: no hit */
    vc_seq *se = mkseq(4, e, 9, 16);
    assert_int_equal(vc_bm_count_prefix_hits(bm, se), 0);

    assert_int_equal(vc_bm_allocate(bm, sb, 2, 11), 0);
    assert_int_equal(sb->block_table[0], sa->block_table[0]);
    assert_int_equal(sb->block_table[1], sa->block_table[1]);
    assert_int_not_equal(sb->block_table[2], sa->block_table[2]);
    assert_int_equal(vc_bm_ref_count(bm, sa->block_table[0]), 2);
    sb->n_computed = 8;
    sim_compute(pool, sb, 8, 11);
    sb->n_computed = 11;
    vc_bm_commit(bm, sb);
    vc_seq *live[2] = {sa, sb};
    sim_check(bm, live, 2, pool);

    /* release a: shared blocks stay with b; a's private block is cached free */
    vc_bm_release(bm, sa);
    assert_int_equal(vc_bm_ref_count(bm, sb->block_table[0]), 1);
    sim_check(bm, live + 1, 1, pool);
    vc_bm_release(bm, sb);
    assert_int_equal(vc_bm_n_free(bm), 16);
    /* cached blocks survive release: a fresh copy of a hits again */
    vc_seq *sa2 = mkseq(5, a, 10, 16);
    assert_int_equal(vc_bm_count_prefix_hits(bm, sa2), 2);
    vc_seq_free(sa); vc_seq_free(sb); vc_seq_free(sc); vc_seq_free(sd); vc_seq_free(se);
    vc_seq_free(sa2);
    vc_bm_free(bm);
}

static void test_lru_eviction(void **state) {
    (void)state;
    vc_block_manager *bm;
    vc_error err;
    uint64_t pool[3 * BS] = {0};
    assert_int_equal(vc_bm_create(&bm, 3, BS, true, &err), 0);
    int32_t a[5] = {1, 1, 1, 1, 0}, b[5] = {2, 2, 2, 2, 0}, c[5] = {3, 3, 3, 3, 0};
    vc_seq *sa = mkseq(0, a, 5, 8), *sb = mkseq(1, b, 5, 8), *sc = mkseq(2, c, 5, 8);
    compute_all(bm, sa, pool);
    vc_bm_release(bm, sa);            /* a's full block cached, freed first */
    compute_all(bm, sb, pool);        /* takes the 2 unregistered blocks, a's stays cached */
    vc_seq *pa = mkseq(9, a, 5, 8);
    assert_int_equal(vc_bm_count_prefix_hits(bm, pa), 1);
    vc_seq_free(pa);
    vc_bm_release(bm, sb);            /* b's full block cached, freed after a's */
    assert_int_equal(vc_bm_n_evictions(bm), 0);
    compute_all(bm, sc, pool);        /* 2 blocks: 1 unregistered + the LRU cached one (a's) */
    assert_int_equal(vc_bm_n_evictions(bm), 1);
    vc_seq *qa = mkseq(10, a, 5, 8), *qb = mkseq(11, b, 5, 8);
    assert_int_equal(vc_bm_count_prefix_hits(bm, qa), 0);   /* a evicted */
    assert_int_equal(vc_bm_count_prefix_hits(bm, qb), 1);   /* b still cached */
    vc_bm_release(bm, sc);
    assert_int_equal(vc_bm_check(bm, &err), 0);
    vc_seq_free(sa); vc_seq_free(sb); vc_seq_free(sc); vc_seq_free(qa); vc_seq_free(qb);
    vc_bm_free(bm);
}

static void test_caching_off(void **state) {
    (void)state;
    vc_block_manager *bm;
    vc_error err;
    uint64_t pool[8 * BS] = {0};
    assert_int_equal(vc_bm_create(&bm, 8, BS, false, &err), 0);
    int32_t a[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    vc_seq *sa = mkseq(0, a, 9, 12), *sb = mkseq(1, a, 9, 12);
    compute_all(bm, sa, pool);
    assert_int_equal(vc_bm_count_prefix_hits(bm, sb), 0);
    assert_false(vc_bm_block_hash(bm, sa->block_table[0], NULL));
    vc_bm_release(bm, sa);
    assert_int_equal(vc_bm_check(bm, &err), 0);
    vc_seq_free(sa); vc_seq_free(sb);
    vc_bm_free(bm);
}

/* Random sequences drawn from a few shared "documents" are allocated chunk by
 * chunk, grow by generated tokens, and are released at random, with every
 * invariant checked after every operation. */
static void random_ops(bool caching, uint64_t seed) {
    enum { N_BLOCKS = 48, MAX_LIVE = 12, N_OPS = 4000, MAX_LEN = 40 };
    vc_block_manager *bm;
    vc_error err;
    uint64_t pool[N_BLOCKS * BS] = {0};
    assert_int_equal(vc_bm_create(&bm, N_BLOCKS, BS, caching, &err), 0);
    srand((unsigned)seed);
    int32_t docs[3][MAX_LEN];
    for (int d = 0; d < 3; d++)
        for (int i = 0; i < MAX_LEN; i++) docs[d][i] = rand() % 5;
    vc_seq *live[MAX_LIVE];
    int n_live = 0, n_hits = 0, n_shared_allocs = 0;
    int64_t next_id = 0;
    for (int op = 0; op < N_OPS; op++) {
        int r = rand() % 10;
        if (r < 3 && n_live < MAX_LIVE) {             /* new sequence, maybe a shared prefix */
            int32_t toks[MAX_LEN];
            int n = 1 + rand() % 24, d = rand() % 4;
            for (int i = 0; i < n; i++) toks[i] = d < 3 ? docs[d][i] : rand() % 5;
            if (d < 3 && rand() % 2) toks[n - 1] = 7;   /* diverge at the end */
            vc_seq *s = mkseq(next_id++, toks, n, MAX_LEN);
            int hits = vc_bm_count_prefix_hits(bm, s);
            int chunk = 1 + rand() % (s->n_tokens - hits * BS);
            if (vc_bm_allocate(bm, s, hits, hits * BS + chunk) == 0) {
                n_hits += hits;
                n_shared_allocs += hits > 0;
                s->n_computed = hits * BS;
                sim_compute(pool, s, s->n_computed, s->n_computed + chunk);
                s->n_computed += chunk;
                vc_bm_commit(bm, s);
                live[n_live++] = s;
            } else {
                assert_int_equal(s->n_blocks, 0);
                vc_seq_free(s);
            }
        } else if (r < 6 && n_live) {                  /* advance: next chunk or a new token */
            vc_seq *s = live[rand() % n_live];
            if (s->n_computed == s->n_tokens) {
                if (s->n_tokens == s->max_len) continue;
                vc_seq_append(s, rand() % 5);
            }
            int chunk = 1 + rand() % (s->n_tokens - s->n_computed);
            int n_free = vc_bm_n_free(bm), n_blocks = s->n_blocks;
            if (vc_bm_allocate(bm, s, 0, s->n_computed + chunk) == 0) {
                sim_compute(pool, s, s->n_computed, s->n_computed + chunk);
                s->n_computed += chunk;
                vc_bm_commit(bm, s);
            } else {
                assert_int_equal(vc_bm_n_free(bm), n_free);
                assert_int_equal(s->n_blocks, n_blocks);
            }
        } else if (n_live) {                           /* release (finish or preempt) */
            int k = rand() % n_live;
            vc_bm_release(bm, live[k]);
            vc_seq_free(live[k]);
            live[k] = live[--n_live];
        }
        sim_check(bm, live, n_live, pool);
    }
    while (n_live) {
        vc_bm_release(bm, live[--n_live]);
        vc_seq_free(live[n_live]);
    }
    assert_int_equal(vc_bm_n_free(bm), N_BLOCKS);   /* every block back in the pool */
    sim_check(bm, live, 0, pool);
    if (caching) {
        assert_true(n_hits > 0);            /* the test exercised sharing */
        assert_true(n_shared_allocs > 10);
        assert_true(vc_bm_n_evictions(bm) > 0);
    } else {
        assert_int_equal(n_hits, 0);
    }
    vc_bm_free(bm);
}

static void test_random_caching(void **state) { (void)state; random_ops(true, 1); random_ops(true, 2); }
static void test_random_no_caching(void **state) { (void)state; random_ops(false, 3); }

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_allocate_release),
        cmocka_unit_test(test_prefix_hits),
        cmocka_unit_test(test_lru_eviction),
        cmocka_unit_test(test_caching_off),
        cmocka_unit_test(test_random_caching),
        cmocka_unit_test(test_random_no_caching),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
