/* Scheduler + block manager with no model: a simulated engine runs thousands
 * of steps of random arrivals, prompt lengths (some sharing prefixes),
 * output lengths and cancellations on a pool small enough to force
 * preemptions. Checked every step: the block-manager invariants of
 * engine_sim.h, the step limits, FIFO fairness (every running sequence is
 * older than every waiting one, and the oldest running one always runs),
 * progress (a step with work schedules something); at the end every
 * request finished and every block is back in the pool. */
#include "common/testutil.h"

#include "engine/block_manager.h"
#include "engine/scheduler.h"
#include "engine/sequence.h"
#include "engine_sim.h"

typedef struct sim_req {
    vc_seq *seq;
    int max_new;            /* finish after this many generated tokens */
    int arrival_step;
} sim_req;

typedef struct sim_cfg {
    int n_blocks, block_size, max_num_seqs, budget;
    bool caching;
    int n_steps;            /* steps with arrivals; then drain */
    int arrival_pct, cancel_pct;
    int max_prompt, max_new;
    uint64_t seed;
} sim_cfg;

typedef struct sim_result {
    int64_t n_finished, n_cancelled, n_preemptions, n_cached_tokens, n_computed_tokens;
    int max_wait_steps;
} sim_result;

static sim_result simulate(const sim_cfg *c) {
    vc_block_manager *bm;
    vc_scheduler *sch;
    vc_error err;
    assert_int_equal(vc_bm_create(&bm, c->n_blocks, c->block_size, c->caching, &err), 0);
    assert_int_equal(vc_sched_create(&sch, bm, c->max_num_seqs, c->budget, &err), 0);
    uint64_t *pool = calloc((size_t)c->n_blocks * c->block_size, sizeof *pool);
    srand((unsigned)c->seed);
    int32_t doc[256];
    for (int i = 0; i < 256; i++) doc[i] = rand() % 50;

    enum { MAX_REQS = 4096 };
    sim_req *reqs = calloc(MAX_REQS, sizeof *reqs);
    vc_seq **live = calloc(MAX_REQS, sizeof *live);
    int n_reqs = 0;
    sim_result res = {0};
    int pool_tokens = c->n_blocks * c->block_size;

    for (int step = 0; step < c->n_steps || vc_sched_n_running(sch) || vc_sched_n_waiting(sch);
         step++) {
        assert_true(step < c->n_steps + 20000);   /* drains: no deadlock, no livelock */
        /* arrivals */
        while (step < c->n_steps && n_reqs < MAX_REQS && rand() % 100 < c->arrival_pct) {
            int32_t toks[512];
            int n = 1 + rand() % c->max_prompt;
            bool shared = rand() % 2;
            for (int i = 0; i < n; i++) toks[i] = shared && i < 256 ? doc[i] : rand() % 50;
            int max_new = 1 + rand() % c->max_new;
            int max_len = n + max_new;
            if (max_len > pool_tokens) max_len = pool_tokens;   /* the engine clips the same way */
            if (n + 1 > pool_tokens) continue;                 /* ... and refuses these */
            sim_req *r = &reqs[n_reqs];
            assert_int_equal(vc_seq_create(&r->seq, n_reqs, toks, n, max_len, c->block_size, &err), 0);
            r->seq->user = r;
            r->max_new = max_new;
            r->arrival_step = step;
            vc_sched_add(sch, r->seq);
            n_reqs++;
        }
        /* cancellations, from either queue */
        if (rand() % 100 < c->cancel_pct && n_reqs) {
            sim_req *r = &reqs[rand() % n_reqs];
            if (r->seq->status != VC_SEQ_FINISHED) {
                vc_sched_remove(sch, r->seq);
                res.n_cancelled++;
            }
        }

        int n_running_before = vc_sched_n_running(sch), n_waiting_before = vc_sched_n_waiting(sch);
        vc_seq *oldest = n_running_before ? vc_sched_running(sch, 0) : NULL;
        vc_sched_out out;
        vc_sched_schedule(sch, &out);
        res.n_preemptions += out.n_preempted;

        /* step limits and progress */
        assert_true(out.n_seqs <= c->max_num_seqs);
        assert_true(out.n_tokens <= c->budget);
        if (n_running_before + n_waiting_before > 0) assert_true(out.n_seqs > 0);
        if (oldest && oldest->status == VC_SEQ_RUNNING) assert_ptr_equal(out.seqs[0], oldest);
        int sum = 0;
        for (int i = 0; i < out.n_seqs; i++) {
            vc_seq *s = out.seqs[i];
            assert_int_equal(s->status, VC_SEQ_RUNNING);
            assert_true(out.n_new_tokens[i] >= 1);
            assert_true(s->n_computed + out.n_new_tokens[i] <= s->n_tokens);
            assert_true(s->n_blocks * s->block_size >= s->n_computed + out.n_new_tokens[i]);
            for (int j = 0; j < i; j++) assert_ptr_not_equal(out.seqs[j], s);
            sum += out.n_new_tokens[i];
        }
        assert_int_equal(sum, out.n_tokens);
        /* fairness: running ones are all older than waiting ones */
        int64_t max_running = -1;
        for (int i = 0; i < vc_sched_n_running(sch); i++) {
            vc_seq *s = vc_sched_running(sch, i);
            assert_true(s->id > max_running);          /* sorted, oldest first */
            max_running = s->id;
        }
        if (vc_sched_waiting_head(sch)) assert_true(vc_sched_waiting_head(sch)->id > max_running);

        /* "forward": write the K/V of the scheduled tokens */
        for (int i = 0; i < out.n_seqs; i++) {
            vc_seq *s = out.seqs[i];
            sim_compute(pool, s, s->n_computed, s->n_computed + out.n_new_tokens[i]);
            res.n_computed_tokens += out.n_new_tokens[i];
        }
        vc_sched_update(sch, &out);
        /* "sample": sequences whose every token is computed get one more */
        for (int i = 0; i < out.n_seqs; i++) {
            vc_seq *s = out.seqs[i];
            sim_req *r = s->user;
            if (s->n_computed < s->n_tokens) continue;
            if (vc_seq_n_output(s) == 0) res.n_cached_tokens += s->n_cached_tokens;
            if (vc_seq_append(s, rand() % 50) != 0 || vc_seq_n_output(s) >= r->max_new ||
                s->n_tokens >= s->max_len) {
                vc_sched_remove(sch, s);
                res.n_finished++;
                int wait = step - r->arrival_step;
                if (wait > res.max_wait_steps) res.max_wait_steps = wait;
            }
        }
        int n_live = 0;
        for (int i = 0; i < vc_sched_n_running(sch); i++) live[n_live++] = vc_sched_running(sch, i);
        sim_check(bm, live, n_live, pool);
        for (vc_seq *w = vc_sched_waiting_head(sch); w; w = w->next) assert_int_equal(w->n_blocks, 0);
    }
    for (int i = 0; i < n_reqs; i++) {
        assert_int_equal(reqs[i].seq->status, VC_SEQ_FINISHED);   /* no request starved */
        assert_int_equal(reqs[i].seq->n_blocks, 0);
        vc_seq_free(reqs[i].seq);
    }
    assert_int_equal(vc_bm_n_free(bm), c->n_blocks);               /* every block back */
    assert_int_equal(res.n_finished + res.n_cancelled, n_reqs);
    assert_int_equal(vc_sched_n_preemptions(sch), res.n_preemptions);
    free(reqs);
    free(live);
    free(pool);
    vc_sched_free(sch);
    vc_bm_free(bm);
    return res;
}

static void test_single_request(void **state) {
    (void)state;
    vc_block_manager *bm;
    vc_scheduler *sch;
    vc_error err;
    assert_int_equal(vc_bm_create(&bm, 8, 4, true, &err), 0);
    assert_int_equal(vc_sched_create(&sch, bm, 4, 6, &err), 0);
    int32_t toks[10] = {0};
    vc_seq *s;
    assert_int_equal(vc_seq_create(&s, 0, toks, 10, 12, 4, &err), 0);
    vc_sched_add(sch, s);
    vc_sched_out out;
    vc_sched_schedule(sch, &out);                 /* chunked prefill: 6 of 10 */
    assert_int_equal(out.n_seqs, 1);
    assert_int_equal(out.n_new_tokens[0], 6);
    vc_sched_update(sch, &out);
    vc_sched_schedule(sch, &out);                 /* the other 4 */
    assert_int_equal(out.n_new_tokens[0], 4);
    vc_sched_update(sch, &out);
    assert_int_equal(s->n_computed, 10);
    vc_seq_append(s, 1);
    vc_sched_schedule(sch, &out);                 /* decode: 1 */
    assert_int_equal(out.n_new_tokens[0], 1);
    assert_int_equal(out.n_prefill_tokens, 0);
    vc_sched_remove(sch, s);
    assert_int_equal(vc_bm_n_free(bm), 8);
    vc_seq_free(s);
    vc_sched_free(sch);
    vc_bm_free(bm);
}

/* Two sequences that together outgrow the pool: the newer is preempted, the
 * older finishes, then the newer is recomputed. */
static void test_preempt_newest(void **state) {
    (void)state;
    vc_block_manager *bm;
    vc_scheduler *sch;
    vc_error err;
    assert_int_equal(vc_bm_create(&bm, 4, 4, false, &err), 0);   /* 16 slots */
    assert_int_equal(vc_sched_create(&sch, bm, 4, 64, &err), 0);
    int32_t toks[8] = {0};
    vc_seq *a, *b;
    assert_int_equal(vc_seq_create(&a, 0, toks, 8, 16, 4, &err), 0);
    assert_int_equal(vc_seq_create(&b, 1, toks, 8, 16, 4, &err), 0);
    vc_sched_add(sch, a);
    vc_sched_add(sch, b);
    vc_sched_out out;
    vc_sched_schedule(sch, &out);
    assert_int_equal(out.n_seqs, 2);              /* 2 + 2 blocks: the pool */
    vc_sched_update(sch, &out);
    vc_seq_append(a, 1);
    vc_seq_append(b, 1);
    vc_sched_schedule(sch, &out);                 /* a needs a 3rd block: b goes */
    assert_int_equal(out.n_preempted, 1);
    assert_int_equal(out.n_seqs, 1);
    assert_ptr_equal(out.seqs[0], a);
    assert_int_equal(b->status, VC_SEQ_WAITING);
    assert_int_equal(b->n_computed, 0);
    assert_int_equal(b->n_tokens, 9);             /* its generated token is kept */
    vc_sched_update(sch, &out);
    vc_sched_remove(sch, a);
    vc_sched_schedule(sch, &out);                 /* b recomputes all 9 */
    assert_ptr_equal(out.seqs[0], b);
    assert_int_equal(out.n_new_tokens[0], 9);
    vc_sched_remove(sch, b);
    assert_int_equal(vc_sched_n_preemptions(sch), 1);
    vc_seq_free(a);
    vc_seq_free(b);
    vc_sched_free(sch);
    vc_bm_free(bm);
}

static void test_random_tight_pool(void **state) {
    (void)state;
    /* 24 blocks of 4 = 96 slots; prompts up to 40, outputs up to 40 */
    sim_cfg c = {.n_blocks = 24, .block_size = 4, .max_num_seqs = 8, .budget = 32, .caching = true,
                 .n_steps = 3000, .arrival_pct = 30, .cancel_pct = 3, .max_prompt = 40,
                 .max_new = 40, .seed = 7};
    sim_result r = simulate(&c);
    print_message("finished %lld cancelled %lld preemptions %lld cached %lld computed %lld max wait %d steps\n",
                  (long long)r.n_finished, (long long)r.n_cancelled, (long long)r.n_preemptions,
                  (long long)r.n_cached_tokens, (long long)r.n_computed_tokens, r.max_wait_steps);
    assert_true(r.n_preemptions > 20);
    assert_true(r.n_cached_tokens > 0);
    assert_true(r.n_finished > 300);
}

static void test_random_no_caching(void **state) {
    (void)state;
    sim_cfg c = {.n_blocks = 32, .block_size = 8, .max_num_seqs = 6, .budget = 20, .caching = false,
                 .n_steps = 3000, .arrival_pct = 25, .cancel_pct = 5, .max_prompt = 60,
                 .max_new = 30, .seed = 11};
    sim_result r = simulate(&c);
    assert_true(r.n_preemptions > 0);
    assert_int_equal(r.n_cached_tokens, 0);
}

static void test_random_roomy_pool(void **state) {
    (void)state;
    /* many sequences, big pool: batching limits, not memory, bind */
    sim_cfg c = {.n_blocks = 512, .block_size = 16, .max_num_seqs = 32, .budget = 128,
                 .caching = true, .n_steps = 2000, .arrival_pct = 60, .cancel_pct = 2,
                 .max_prompt = 200, .max_new = 60, .seed = 5};
    sim_result r = simulate(&c);
    assert_true(r.n_cached_tokens > 1000);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_request),
        cmocka_unit_test(test_preempt_newest),
        cmocka_unit_test(test_random_tight_pool),
        cmocka_unit_test(test_random_no_caching),
        cmocka_unit_test(test_random_roomy_pool),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
