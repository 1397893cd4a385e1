/* The merge engine. A word is a doubly linked list of symbols (token ids);
 * candidate pairs sit in a binary min-heap keyed by (rank, position), so the
 * lowest-ranked merge applies first and ties go to the leftmost pair. Stale
 * heap entries (a side already merged away) are dropped when popped: each
 * entry remembers the two ids it was made for. O(n log n) per word. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"

typedef struct heap_entry {
    int32_t rank, pos;        /* pos: index of the left symbol */
    int32_t left_id, right_id;
} heap_entry;

struct vc_bpe_scratch {
    int32_t *id, *prev, *next, *init;
    size_t cap;
    heap_entry *heap;
    size_t hn, hcap;
};

vc_bpe_scratch *vc_bpe_scratch_new(void) { return calloc(1, sizeof(vc_bpe_scratch)); }

void vc_bpe_scratch_free(vc_bpe_scratch *s) {
    if (!s) return;
    free(s->id);
    free(s->prev);
    free(s->next);
    free(s->init);
    free(s->heap);
    free(s);
}

int vc_idvec_push(vc_idvec *a, int32_t id) {
    if (a->n == a->cap) {
        size_t nc = a->cap ? a->cap * 2 : 64;
        int32_t *nv = realloc(a->v, nc * sizeof *nv);
        if (!nv) return -1;
        a->v = nv;
        a->cap = nc;
    }
    a->v[a->n++] = id;
    return 0;
}

static int reserve(vc_bpe_scratch *s, size_t n) {
    if (n <= s->cap) return 0;
    size_t nc = s->cap ? s->cap : 64;
    while (nc < n) nc *= 2;
    int32_t *a = realloc(s->id, nc * sizeof *a);
    if (a) s->id = a;
    int32_t *b = realloc(s->prev, nc * sizeof *b);
    if (b) s->prev = b;
    int32_t *c = realloc(s->next, nc * sizeof *c);
    if (c) s->next = c;
    int32_t *d = realloc(s->init, nc * sizeof *d);
    if (d) s->init = d;
    heap_entry *h = realloc(s->heap, nc * 2 * sizeof *h);
    if (h) s->heap = h;
    if (!a || !b || !c || !d || !h) return -1;
    s->cap = nc;
    s->hcap = nc * 2;
    return 0;
}

static bool entry_less(const heap_entry *a, const heap_entry *b) {
    return a->rank != b->rank ? a->rank < b->rank : a->pos < b->pos;
}

static int heap_push(vc_bpe_scratch *s, heap_entry e) {
    if (s->hn == s->hcap) {
        size_t nc = s->hcap ? s->hcap * 2 : 128;
        heap_entry *h = realloc(s->heap, nc * sizeof *h);
        if (!h) return -1;
        s->heap = h;
        s->hcap = nc;
    }
    size_t i = s->hn++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!entry_less(&e, &s->heap[p])) break;
        s->heap[i] = s->heap[p];
        i = p;
    }
    s->heap[i] = e;
    return 0;
}

static heap_entry heap_pop(vc_bpe_scratch *s) {
    heap_entry top = s->heap[0], last = s->heap[--s->hn];
    size_t i = 0, n = s->hn;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        const heap_entry *best = &last;
        if (l < n && entry_less(&s->heap[l], best)) { m = l; best = &s->heap[l]; }
        if (r < n && entry_less(&s->heap[r], best)) m = r;
        if (m == i) break;
        s->heap[i] = s->heap[m];
        i = m;
    }
    if (n) s->heap[i] = last;
    return top;
}

static int try_pair(const vc_tokenizer *t, vc_bpe_scratch *s, int32_t left) {
    int32_t right = s->next[left];
    if (right < 0) return 0;
    int32_t rank;
    if (vc_tok_merge_lookup(t, s->id[left], s->id[right], &rank) < 0) return 0;
    return heap_push(s, (heap_entry){rank, left, s->id[left], s->id[right]});
}

int vc_bpe_merge(const vc_tokenizer *t, vc_bpe_scratch *s, const int32_t *syms, size_t n, vc_idvec *out) {
    if (n == 0) return 0;
    if (n == 1) return vc_idvec_push(out, syms[0]);
    if (reserve(s, n)) return -1;
    for (size_t i = 0; i < n; i++) {
        s->id[i] = syms[i];
        s->prev[i] = (int32_t)i - 1;
        s->next[i] = i + 1 < n ? (int32_t)i + 1 : -1;
    }
    s->hn = 0;
    for (size_t i = 0; i + 1 < n; i++)
        if (try_pair(t, s, (int32_t)i)) return -1;
    while (s->hn) {
        heap_entry e = heap_pop(s);
        int32_t l = e.pos, r = s->next[l];
        /* stale: the left symbol was absorbed (id -1) or either side changed */
        if (s->id[l] != e.left_id || r < 0 || s->id[r] != e.right_id) continue;
        int32_t rank;
        s->id[l] = vc_tok_merge_lookup(t, e.left_id, e.right_id, &rank);
        s->id[r] = -1;
        s->next[l] = s->next[r];
        if (s->next[r] >= 0) s->prev[s->next[r]] = l;
        if (s->prev[l] >= 0 && try_pair(t, s, s->prev[l])) return -1;
        if (try_pair(t, s, l)) return -1;
    }
    for (int32_t i = 0; i >= 0; i = s->next[i])
        if (vc_idvec_push(out, s->id[i])) return -1;
    return 0;
}

int vc_bpe_word(const vc_tokenizer *t, vc_bpe_scratch *s, const char *w, size_t n, vc_idvec *out) {
    if (n == 0) return 0;
    if (t->ignore_merges) {
        int32_t whole = vc_tok_lookup(t, w, n);
        if (whole >= 0) return vc_idvec_push(out, whole);
    }
    if (reserve(s, n)) return -1;
    size_t ns = 0;
    if (t->kind == VC_TOK_BYTE_BPE) {
        for (size_t i = 0; i < n; i++) {
            int32_t id = t->byte_id[(uint8_t)w[i]];
            if (id < 0) id = t->unk_id;
            if (id >= 0) s->init[ns++] = id;   /* no token and no unk: dropped, as HF does */
        }
    } else {
        for (size_t i = 0; i < n;) {
            uint32_t cp;
            int l = vc_utf8_decode((const uint8_t *)w + i, n - i, &cp);
            if (l == 0) l = 1;   /* input was validated; be safe anyway */
            int32_t id = vc_tok_lookup(t, w + i, (size_t)l);
            if (id >= 0) s->init[ns++] = id;
            else {
                bool all = true;
                for (int k = 0; k < l; k++) all = all && t->byte_id[(uint8_t)w[i + k]] >= 0;
                if (all)
                    for (int k = 0; k < l; k++) s->init[ns++] = t->byte_id[(uint8_t)w[i + k]];
                else if (t->unk_id >= 0 && !(ns > 0 && s->init[ns - 1] == t->unk_id))
                    s->init[ns++] = t->unk_id;   /* consecutive unknowns fuse into one */
            }
            i += (size_t)l;
        }
    }
    /* vc_bpe_merge reads syms while writing id/prev/next: init is its own array */
    return vc_bpe_merge(t, s, s->init, ns, out);
}
