/* Vocabulary building blocks shared by the tokenizer.json and GGUF loaders:
 * token texts and their decode bytes, the text -> id map, the merge map,
 * added tokens and end-of-generation ids. */
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "tokenizer/tok_internal.h"

static uint32_t pow2_at_least(uint64_t n) {
    uint32_t c = 16;
    while (c < n) c <<= 1;
    return c;
}

int vc_tok_alloc(vc_tokenizer *t, int32_t n, vc_error *err) {
    if (n <= 0) return vc_errorf(err, "tokenizer: vocabulary is empty");
    t->n_vocab = n;
    t->text_off = calloc((size_t)n, sizeof *t->text_off);
    t->text_len = calloc((size_t)n, sizeof *t->text_len);
    t->dec_off = calloc((size_t)n, sizeof *t->dec_off);
    t->dec_len = calloc((size_t)n, sizeof *t->dec_len);
    t->flags = calloc((size_t)n, 1);
    if (!t->text_off || !t->text_len || !t->dec_off || !t->dec_len || !t->flags)
        return vc_errorf(err, "tokenizer: out of memory for %d tokens", n);
    for (int i = 0; i < 256; i++) t->byte_id[i] = -1;
    t->unk_id = t->bos_id = t->eos_id = -1;
    return 0;
}

/* decode bytes of one token text; returns length written to out (cap >= n) */
static size_t byte_level_unspell(const char *s, size_t n, char *out) {
    size_t i = 0, o = 0;
    while (i < n) {
        uint32_t cp;
        int l = vc_utf8_decode((const uint8_t *)s + i, n - i, &cp);
        int b = l ? vc_cp_to_byte(cp) : -1;
        if (b < 0) { memcpy(out, s, n); return n; }  /* not byte-level spelled: raw */
        out[o++] = (char)b;
        i += (size_t)l;
    }
    return o;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* "<0xNN>" -> NN, else -1 */
static int spm_byte_token(const char *s, size_t n) {
    if (n != 6 || memcmp(s, "<0x", 3) || s[5] != '>') return -1;
    int hi = hexval(s[3]), lo = hexval(s[4]);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

static const char SPM_SPACE[] = "\xE2\x96\x81";   /* U+2581 */

static size_t spm_unspell(const char *s, size_t n, char *out) {
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        if (i + 3 <= n && !memcmp(s + i, SPM_SPACE, 3)) { out[o++] = ' '; i += 3; }
        else out[o++] = s[i++];
    }
    return o;
}

/* the bytes a token text decodes to, NUL-terminated into d (capacity n + 1) */
static size_t make_dec(const vc_tokenizer *t, const char *s, size_t n, char *d, bool *is_byte) {
    size_t dn;
    *is_byte = false;
    if (t->kind == VC_TOK_BYTE_BPE) dn = byte_level_unspell(s, n, d);
    else {
        int b = spm_byte_token(s, n);
        if (b >= 0) { d[0] = (char)b; dn = 1; *is_byte = true; }
        else dn = spm_unspell(s, n, d);
    }
    d[dn] = 0;
    return dn;
}

/* re-derives a token's decode bytes from another spelling (appended to dec_blob) */
static int set_dec_from(vc_tokenizer *t, int32_t id, const char *s, size_t n) {
    char *nb = realloc(t->dec_blob, t->dec_used + n + 1);
    if (!nb) return -1;
    t->dec_blob = nb;
    bool is_byte;
    size_t dn = make_dec(t, s, n, t->dec_blob + t->dec_used, &is_byte);
    t->dec_off[id] = t->dec_used;
    t->dec_len[id] = (uint32_t)dn;
    t->dec_used += dn + 1;
    return 0;
}

const char *vc_tok_key(const vc_tokenizer *t, int32_t id, uint32_t *len) {
    if (t->kind == VC_TOK_BYTE_BPE) { *len = t->dec_len[id]; return vc_tok_dec(t, id); }
    *len = t->text_len[id];
    return vc_tok_text(t, id);
}

static uint64_t hash_bytes(const char *s, size_t n) { return XXH3_64bits(s, n); }

int32_t vc_tok_lookup(const vc_tokenizer *t, const char *s, size_t n) {
    if (!t->vocab.slot) return -1;
    uint32_t i = (uint32_t)hash_bytes(s, n) & t->vocab.mask;
    for (;;) {
        int32_t id = t->vocab.slot[i];
        if (id < 0) return -1;
        uint32_t kl;
        const char *k = vc_tok_key(t, id, &kl);
        if (kl == n && !memcmp(k, s, n)) return id;
        i = (i + 1) & t->vocab.mask;
    }
}

static int build_vocab_map(vc_tokenizer *t, vc_error *err) {
    uint32_t cap = pow2_at_least((uint64_t)t->n_vocab * 2);
    t->vocab.mask = cap - 1;
    t->vocab.slot = malloc(cap * sizeof *t->vocab.slot);
    if (!t->vocab.slot) return vc_errorf(err, "tokenizer: out of memory (vocab map)");
    memset(t->vocab.slot, 0xff, cap * sizeof *t->vocab.slot);
    for (int32_t id = 0; id < t->n_vocab; id++) {
        /* special tokens are matched whole before BPE, never produced by it */
        if (t->flags[id] & (VC_TOKF_SPECIAL | VC_TOKF_UNUSED)) continue;
        uint32_t kl;
        const char *k = vc_tok_key(t, id, &kl);
        uint32_t i = (uint32_t)hash_bytes(k, kl) & t->vocab.mask;
        bool dup = false;
        while (t->vocab.slot[i] >= 0) {
            uint32_t ol;
            const char *o = vc_tok_key(t, t->vocab.slot[i], &ol);
            if (ol == kl && !memcmp(o, k, kl)) { dup = true; break; }   /* first id wins */
            i = (i + 1) & t->vocab.mask;
        }
        if (!dup) t->vocab.slot[i] = id;
    }
    return 0;
}

int vc_tok_set_texts(vc_tokenizer *t, const char *const *ptrs, const uint64_t *lens, vc_error *err) {
    uint64_t total = 0;
    for (int32_t i = 0; i < t->n_vocab; i++) {
        if (lens[i] > UINT32_MAX / 2) return vc_errorf(err, "tokenizer: token %d is %llu bytes long", i, (unsigned long long)lens[i]);
        total += lens[i] + 1;
    }
    t->text_blob = malloc(total ? total : 1);
    t->dec_blob = malloc(total ? total : 1);
    if (!t->text_blob || !t->dec_blob) return vc_errorf(err, "tokenizer: out of memory (%llu bytes of token text)", (unsigned long long)total);
    uint64_t at = 0, dat = 0;
    for (int32_t i = 0; i < t->n_vocab; i++) {
        const char *s = ptrs[i];
        size_t n = (size_t)lens[i];
        memcpy(t->text_blob + at, s, n);
        t->text_blob[at + n] = 0;
        t->text_off[i] = at;
        t->text_len[i] = (uint32_t)n;
        at += n + 1;
        bool is_byte;
        size_t dn = make_dec(t, s, n, t->dec_blob + dat, &is_byte);
        if (is_byte) t->flags[i] |= VC_TOKF_BYTE;
        t->dec_off[i] = dat;
        t->dec_len[i] = (uint32_t)dn;
        dat += dn + 1;
    }
    t->dec_used = dat;
    return build_vocab_map(t, err);
}

void vc_tok_find_byte_tokens(vc_tokenizer *t) {
    for (int b = 0; b < 256; b++) {
        if (t->kind == VC_TOK_BYTE_BPE) {
            char c = (char)b;
            t->byte_id[b] = vc_tok_lookup(t, &c, 1);
        } else {
            static const char hex[] = "0123456789ABCDEF";
            char s[7] = {'<', '0', 'x', hex[b >> 4], hex[b & 15], '>', 0};
            t->byte_id[b] = vc_tok_lookup(t, s, 6);
        }
    }
}

/* ---- merges ---- */

static int mergemap_grow(vc_tok_mergemap *m) {
    uint32_t ncap = m->slot ? (m->mask + 1) * 2 : 1024;
    vc_merge_slot *ns = malloc(ncap * sizeof *ns);
    if (!ns) return -1;
    for (uint32_t i = 0; i < ncap; i++) ns[i].key = UINT64_MAX;
    if (m->slot) {
        for (uint32_t i = 0; i <= m->mask; i++) {
            if (m->slot[i].key == UINT64_MAX) continue;
            uint32_t j = (uint32_t)XXH3_64bits(&m->slot[i].key, 8) & (ncap - 1);
            while (ns[j].key != UINT64_MAX) j = (j + 1) & (ncap - 1);
            ns[j] = m->slot[i];
        }
        free(m->slot);
    }
    m->slot = ns;
    m->mask = ncap - 1;
    return 0;
}

/* inserts unless the pair is present (the first, best-ranked merge wins) */
static int mergemap_put(vc_tok_mergemap *m, int32_t left, int32_t right, int32_t rank, int32_t result) {
    if (!m->slot || (uint64_t)(m->count + 1) * 2 > (uint64_t)m->mask + 1)
        if (mergemap_grow(m)) return -1;
    uint64_t key = (uint64_t)(uint32_t)left << 32 | (uint32_t)right;
    uint32_t j = (uint32_t)XXH3_64bits(&key, 8) & m->mask;
    while (m->slot[j].key != UINT64_MAX) {
        if (m->slot[j].key == key) return 0;
        j = (j + 1) & m->mask;
    }
    m->slot[j] = (vc_merge_slot){key, rank, result};
    m->count++;
    return 0;
}

int vc_tok_merge_lookup(const vc_tokenizer *t, int32_t left, int32_t right, int32_t *rank) {
    const vc_tok_mergemap *m = &t->merges;
    if (!m->slot) return -1;
    uint64_t key = (uint64_t)(uint32_t)left << 32 | (uint32_t)right;
    uint32_t j = (uint32_t)XXH3_64bits(&key, 8) & m->mask;
    for (;;) {
        const vc_merge_slot *s = &m->slot[j];
        if (s->key == key) { *rank = s->rank; return s->result; }
        if (s->key == UINT64_MAX) return -1;
        j = (j + 1) & m->mask;
    }
}

int vc_tok_add_merge_ids(vc_tokenizer *t, int32_t left, int32_t right, int32_t rank, vc_error *err) {
    uint32_t la, lb;
    const char *a = vc_tok_key(t, left, &la), *b = vc_tok_key(t, right, &lb);
    char stackbuf[256];
    char *cat = la + lb <= sizeof stackbuf ? stackbuf : malloc(la + lb);
    if (!cat) return vc_errorf(err, "tokenizer: out of memory (merge)");
    memcpy(cat, a, la);
    memcpy(cat + la, b, lb);
    int32_t result = vc_tok_lookup(t, cat, la + lb);
    if (cat != stackbuf) free(cat);
    if (result < 0) return 0;   /* a merge whose result is not a token can never apply */
    if (mergemap_put(&t->merges, left, right, rank, result)) return vc_errorf(err, "tokenizer: out of memory (merges)");
    return 0;
}

/* a merge part as stored -> its vocabulary key */
static int32_t lookup_spelled(const vc_tokenizer *t, const char *s, size_t n) {
    if (t->kind != VC_TOK_BYTE_BPE) return vc_tok_lookup(t, s, n);
    char stackbuf[256] = {0};
    char *d = n <= sizeof stackbuf ? stackbuf : malloc(n);
    if (!d) return -1;
    size_t dn = byte_level_unspell(s, n, d);
    int32_t id = vc_tok_lookup(t, d, dn);
    if (d != stackbuf) free(d);
    return id;
}

int vc_tok_add_merge_text(vc_tokenizer *t, const char *left, size_t nl, const char *right, size_t nr,
                          int32_t rank, vc_error *err) {
    int32_t a = lookup_spelled(t, left, nl), b = lookup_spelled(t, right, nr);
    if (a < 0 || b < 0) return 0;
    return vc_tok_add_merge_ids(t, a, b, rank, err);
}


typedef struct { float score; int32_t id; } score_id;
static int by_score_desc(const void *x, const void *y) {
    const score_id *a = x, *b = y;
    if (a->score != b->score) return a->score > b->score ? -1 : 1;
    return a->id - b->id;
}

int vc_tok_merges_from_scores(vc_tokenizer *t, vc_error *err) {
    if (!t->scores) return vc_errorf(err, "tokenizer: SentencePiece vocabulary has neither merges nor scores");
    score_id *order = malloc((size_t)t->n_vocab * sizeof *order);
    if (!order) return vc_errorf(err, "tokenizer: out of memory");
    int32_t n = 0;
    for (int32_t id = 0; id < t->n_vocab; id++)
        if (!(t->flags[id] & (VC_TOKF_BYTE | VC_TOKF_UNUSED | VC_TOKF_SPECIAL)) && t->text_len[id] > 1)
            order[n++] = (score_id){t->scores[id], id};
    qsort(order, (size_t)n, sizeof *order, by_score_desc);
    int32_t rank = 0;
    for (int32_t k = 0; k < n; k++) {
        if (k > 0 && order[k].score != order[k - 1].score) rank++;
        int32_t id = order[k].id;
        const char *s = vc_tok_text(t, id);
        uint32_t len = t->text_len[id];
        for (uint32_t cut = 1; cut < len; cut++) {
            if (((uint8_t)s[cut] & 0xC0) == 0x80) continue;   /* inside a UTF-8 char */
            int32_t a = vc_tok_lookup(t, s, cut), b = vc_tok_lookup(t, s + cut, len - cut);
            if (a < 0 || b < 0) continue;
            if (mergemap_put(&t->merges, a, b, rank, id)) { free(order); return vc_errorf(err, "tokenizer: out of memory (merges)"); }
        }
    }
    free(order);
    return 0;
}

/* ---- added tokens ---- */

int vc_tok_add_added(vc_tokenizer *t, int32_t id, bool special, bool lstrip, bool rstrip, bool normalized,
                     bool single_word, vc_error *err) {
    if (id < 0 || id >= t->n_vocab) return vc_errorf(err, "tokenizer: added token id %d out of range [0, %d)", id, t->n_vocab);
    if (t->text_len[id] == 0) return 0;   /* an empty token can never match */
    for (int i = 0; i < t->n_added; i++)
        if (t->added[i].id == id) return 0;
    vc_added_token *na = realloc(t->added, (size_t)(t->n_added + 1) * sizeof *na);
    if (!na) return vc_errorf(err, "tokenizer: out of memory (added tokens)");
    t->added = na;
    t->added[t->n_added++] = (vc_added_token){
        .id = id, .content = vc_tok_text(t, id), .len = t->text_len[id], .match = (char *)vc_tok_text(t, id),
        .match_len = t->text_len[id], .special = special,
        .lstrip = lstrip, .rstrip = rstrip, .normalized = normalized, .single_word = single_word};
    if (special) t->flags[id] |= VC_TOKF_SPECIAL;
    return 0;
}

typedef struct { uint8_t first; uint32_t len; int32_t idx; } added_key;
static int by_first_then_len(const void *x, const void *y) {
    const added_key *a = x, *b = y;
    if (a->first != b->first) return a->first - b->first;
    if (a->len != b->len) return a->len > b->len ? -1 : 1;
    return a->idx - b->idx;
}

int vc_tok_index_added(vc_tokenizer *t, vc_error *err) {
    free(t->added_order);
    t->added_order = malloc((size_t)(t->n_added ? t->n_added : 1) * sizeof *t->added_order);
    added_key *keys = malloc((size_t)(t->n_added ? t->n_added : 1) * sizeof *keys);
    if (!t->added_order || !keys) { free(keys); return vc_errorf(err, "tokenizer: out of memory"); }
    for (int i = 0; i < t->n_added; i++) {
        vc_added_token *a = &t->added[i];
        if (a->normalized && a->match == a->content) {
            char *m;
            size_t ml;
            if (vc_tok_normalize(t, a->content, a->len, true, &m, &ml, err)) { free(keys); return -1; }
            if (m == a->content) m = NULL;   /* unchanged */
            if (m && ml == 0) { free(m); m = NULL; }
            if (m) {
                a->match = m;
                a->match_len = (uint32_t)ml;
                /* Hugging Face spells such a token by its normalized content, also when decoding */
                if (set_dec_from(t, a->id, m, ml)) { free(keys); return vc_errorf(err, "tokenizer: out of memory"); }
            }
        }
    }
    for (int i = 0; i < t->n_added; i++)
        keys[i] = (added_key){(uint8_t)t->added[i].match[0], t->added[i].match_len, i};
    qsort(keys, (size_t)t->n_added, sizeof *keys, by_first_then_len);
    memset(t->added_first, 0, sizeof t->added_first);
    for (int i = 0; i < t->n_added; i++) {
        t->added_order[i] = keys[i].idx;
        t->added_first[keys[i].first + 1]++;
    }
    for (int b = 0; b < 256; b++) t->added_first[b + 1] += t->added_first[b];
    free(keys);
    return 0;
}

int vc_tok_add_eog(vc_tokenizer *t, int32_t id, vc_error *err) {
    if (id < 0 || id >= t->n_vocab) return 0;
    for (int i = 0; i < t->n_eog; i++)
        if (t->eog_ids[i] == id) return 0;
    int32_t *n = realloc(t->eog_ids, (size_t)(t->n_eog + 1) * sizeof *n);
    if (!n) return vc_errorf(err, "tokenizer: out of memory");
    t->eog_ids = n;
    t->eog_ids[t->n_eog++] = id;
    return 0;
}

int vc_tok_add_known_eogs(vc_tokenizer *t, vc_error *err) {
    static const char *const names[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<|eom_id|>", "<end_of_turn>",
                                        "<|endoftext|>", "<|end_of_text|>", "<EOT>", "<|EOT|>", "<|return|>"};
    for (size_t k = 0; k < sizeof names / sizeof *names; k++) {
        for (int i = 0; i < t->n_added; i++) {
            const vc_added_token *a = &t->added[i];
            if (a->special && a->len == strlen(names[k]) && !memcmp(a->content, names[k], a->len))
                if (vc_tok_add_eog(t, a->id, err)) return -1;
        }
    }
    return 0;
}
