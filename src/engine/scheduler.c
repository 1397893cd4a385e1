#include "engine/scheduler.h"

#include <stdlib.h>

struct vc_scheduler {
    vc_block_manager *bm;
    int max_num_seqs, max_num_batched_tokens;
    vc_seq **running;           /* [max_num_seqs], sorted by id (oldest first) */
    int n_running;
    vc_seq *wait_head, *wait_tail;   /* doubly linked through seq->prev/next, sorted by id */
    int n_waiting;
    vc_seq **out_seqs;          /* [max_num_seqs] backing vc_sched_out */
    int *out_n_new;
    int64_t n_preemptions;
};

int vc_sched_create(vc_scheduler **out, vc_block_manager *bm, int max_num_seqs,
                    int max_num_batched_tokens, vc_error *err) {
    *out = NULL;
    if (max_num_seqs < 1 || max_num_batched_tokens < 1)
        return vc_errorf(err, "scheduler: max_num_seqs %d and max_num_batched_tokens %d must be >= 1",
                         max_num_seqs, max_num_batched_tokens);
    vc_scheduler *s = calloc(1, sizeof *s);
    if (!s) return vc_errorf(err, "scheduler: out of memory");
    s->bm = bm;
    s->max_num_seqs = max_num_seqs;
    s->max_num_batched_tokens = max_num_batched_tokens;
    s->running = calloc((size_t)max_num_seqs, sizeof *s->running);
    s->out_seqs = calloc((size_t)max_num_seqs, sizeof *s->out_seqs);
    s->out_n_new = calloc((size_t)max_num_seqs, sizeof *s->out_n_new);
    if (!s->running || !s->out_seqs || !s->out_n_new) {
        vc_sched_free(s);
        return vc_errorf(err, "scheduler: out of memory for %d sequences", max_num_seqs);
    }
    *out = s;
    return 0;
}

void vc_sched_free(vc_scheduler *s) {
    if (!s) return;
    free(s->running);
    free(s->out_seqs);
    free(s->out_n_new);
    free(s);
}

static void waiting_insert(vc_scheduler *s, vc_seq *seq) {
    vc_seq *after = s->wait_tail;           /* last one older than seq */
    while (after && after->id > seq->id) after = after->prev;
    seq->prev = after;
    seq->next = after ? after->next : s->wait_head;
    if (seq->next) seq->next->prev = seq; else s->wait_tail = seq;
    if (after) after->next = seq; else s->wait_head = seq;
    s->n_waiting++;
    seq->status = VC_SEQ_WAITING;
}

static void waiting_unlink(vc_scheduler *s, vc_seq *seq) {
    if (seq->prev) seq->prev->next = seq->next; else s->wait_head = seq->next;
    if (seq->next) seq->next->prev = seq->prev; else s->wait_tail = seq->prev;
    seq->prev = seq->next = NULL;
    s->n_waiting--;
}

static void running_insert(vc_scheduler *s, vc_seq *seq) {
    int i = s->n_running;
    while (i > 0 && s->running[i - 1]->id > seq->id) {
        s->running[i] = s->running[i - 1];
        i--;
    }
    s->running[i] = seq;
    s->n_running++;
    seq->status = VC_SEQ_RUNNING;
}

static void running_remove_at(vc_scheduler *s, int i) {
    for (; i + 1 < s->n_running; i++) s->running[i] = s->running[i + 1];
    s->n_running--;
}

void vc_sched_add(vc_scheduler *s, vc_seq *seq) {
    seq->n_computed = 0;
    waiting_insert(s, seq);
}

static void preempt(vc_scheduler *s, vc_seq *seq) {
    vc_bm_release(s->bm, seq);
    seq->n_computed = 0;
    seq->n_preemptions++;
    s->n_preemptions++;
    waiting_insert(s, seq);
}

static void plan(vc_sched_out *out, vc_seq *seq, int n_new) {
    out->seqs[out->n_seqs] = seq;
    out->n_new_tokens[out->n_seqs] = n_new;
    out->n_seqs++;
    out->n_tokens += n_new;
    if (seq->n_computed + n_new < seq->n_tokens || seq->n_computed < seq->n_prompt ||
        n_new > 1)
        out->n_prefill_tokens += n_new;
}

void vc_sched_schedule(vc_scheduler *s, vc_sched_out *out) {
    out->seqs = s->out_seqs;
    out->n_new_tokens = s->out_n_new;
    out->n_seqs = out->n_tokens = out->n_preempted = out->n_prefill_tokens = 0;
    int budget = s->max_num_batched_tokens;

    for (int i = 0; i < s->n_running && budget > 0;) {
        vc_seq *seq = s->running[i];
        int n_new = vc_seq_n_uncomputed(seq);
        if (n_new > budget) n_new = budget;
        if (n_new <= 0) { i++; continue; }
        if (vc_bm_allocate(s->bm, seq, 0, seq->n_computed + n_new) == 0) {
            plan(out, seq, n_new);
            budget -= n_new;
            i++;
            continue;
        }
        /* out of blocks: preempt the newest running sequence (maybe seq itself) */
        vc_seq *victim = s->running[s->n_running - 1];
        running_remove_at(s, s->n_running - 1);
        preempt(s, victim);
        out->n_preempted++;
    }
    if (out->n_preempted) return;

    while (s->wait_head && s->n_running < s->max_num_seqs && budget > 0) {
        vc_seq *seq = s->wait_head;
        int n_hits = vc_bm_count_prefix_hits(s->bm, seq);
        int n_hit_tokens = n_hits * vc_bm_block_size(s->bm);
        int n_new = seq->n_tokens - n_hit_tokens;
        if (n_new > budget) n_new = budget;
        if (vc_bm_allocate(s->bm, seq, n_hits, n_hit_tokens + n_new) != 0) break;
        waiting_unlink(s, seq);
        seq->n_computed = n_hit_tokens;
        if (seq->n_preemptions == 0) seq->n_cached_tokens = n_hit_tokens;
        running_insert(s, seq);
        plan(out, seq, n_new);
        budget -= n_new;
    }
}

void vc_sched_update(vc_scheduler *s, const vc_sched_out *out) {
    for (int i = 0; i < out->n_seqs; i++) {
        vc_seq *seq = out->seqs[i];
        if (seq->status != VC_SEQ_RUNNING) continue;   /* removed meanwhile */
        seq->n_computed += out->n_new_tokens[i];
        vc_bm_commit(s->bm, seq);
    }
}

void vc_sched_remove(vc_scheduler *s, vc_seq *seq) {
    if (seq->status == VC_SEQ_WAITING) {
        waiting_unlink(s, seq);
    } else if (seq->status == VC_SEQ_RUNNING) {
        for (int i = 0; i < s->n_running; i++)
            if (s->running[i] == seq) { running_remove_at(s, i); break; }
    }
    vc_bm_release(s->bm, seq);
    seq->status = VC_SEQ_FINISHED;
}

int vc_sched_n_running(const vc_scheduler *s) { return s->n_running; }
int vc_sched_n_waiting(const vc_scheduler *s) { return s->n_waiting; }
vc_seq *vc_sched_running(const vc_scheduler *s, int i) { return s->running[i]; }
vc_seq *vc_sched_waiting_head(const vc_scheduler *s) { return s->wait_head; }
int64_t vc_sched_n_preemptions(const vc_scheduler *s) { return s->n_preemptions; }
