/* vc_tokenize: text -> ids.
 *   1. added tokens matched on the raw text (those with normalized=false),
 *      leftmost-longest; special ones only with parse_special
 *   2. each remaining segment is normalized, then added tokens with
 *      normalized=true are matched on the normalized text
 *   3. each remaining piece is pre-tokenized (regexes) and merged (bpe.c)
 * BOS/EOS (prefix/suffix ids) are added with add_special. */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "tokenizer/tok_internal.h"

typedef struct enc_ctx {
    const vc_tokenizer *t;
    vc_bpe_scratch *scratch;
    pcre2_match_data *md;
    vc_idvec out;
    bool parse_special;
    vc_error *err;
} enc_ctx;

static bool cp_is_space(uint32_t cp) {
    if (cp == ' ' || (cp >= 0x09 && cp <= 0x0D)) return true;
    if (cp < 0x80) return false;
    utf8proc_category_t c = utf8proc_category((utf8proc_int32_t)cp);
    return c == UTF8PROC_CATEGORY_ZS || c == UTF8PROC_CATEGORY_ZL || c == UTF8PROC_CATEGORY_ZP || cp == 0x85;
}

static bool cp_is_word(uint32_t cp) {
    if (cp == '_') return true;
    if (cp < 0x80) return (cp >= '0' && cp <= '9') || ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z');
    utf8proc_category_t c = utf8proc_category((utf8proc_int32_t)cp);
    return (c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_LO) || (c >= UTF8PROC_CATEGORY_ND && c <= UTF8PROC_CATEGORY_NO) ||
           (c >= UTF8PROC_CATEGORY_MN && c <= UTF8PROC_CATEGORY_ME);
}

/* the code point that ends just before s[at] */
static uint32_t cp_before(const char *s, size_t at) {
    if (at == 0) return 0;
    size_t b = at - 1;
    while (b > 0 && ((uint8_t)s[b] & 0xC0) == 0x80 && at - b < 4) b--;
    uint32_t cp = 0;
    return vc_utf8_decode((const uint8_t *)s + b, at - b, &cp) ? cp : 0;
}

static uint32_t cp_at(const char *s, size_t n, size_t at) {
    uint32_t cp = 0;
    return at < n && vc_utf8_decode((const uint8_t *)s + at, n - at, &cp) ? cp : 0;
}

/* finds the leftmost-longest added token in s[from..n) among those with the
 * given normalized flag; returns its index or -1; *ms, *me: the span it
 * consumes (widened by lstrip/rstrip) */
static int find_added(const vc_tokenizer *t, const char *s, size_t n, size_t from, bool normalized,
                      bool parse_special, size_t *ms, size_t *me) {
    for (size_t i = from; i < n; i++) {
        uint8_t b = (uint8_t)s[i];
        for (uint32_t k = t->added_first[b]; k < t->added_first[b + 1]; k++) {
            const vc_added_token *a = &t->added[t->added_order[k]];
            if (a->normalized != normalized || (a->special && !parse_special)) continue;
            if (a->match_len > n - i || memcmp(s + i, a->match, a->match_len)) continue;
            size_t start = i, end = i + a->match_len;
            if (a->single_word && (cp_is_word(cp_before(s, start)) || cp_is_word(cp_at(s, n, end)))) continue;
            if (a->lstrip)
                while (start > from) {
                    uint32_t cp = cp_before(s, start);
                    if (!cp_is_space(cp)) break;
                    start -= cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
                }
            if (a->rstrip)
                while (end < n) {
                    uint32_t cp;
                    int l = vc_utf8_decode((const uint8_t *)s + end, n - end, &cp);
                    if (!l || !cp_is_space(cp)) break;
                    end += (size_t)l;
                }
            *ms = start;
            *me = end;
            return t->added_order[k];
        }
    }
    return -1;
}

static int emit_piece(void *vctx, const char *piece, size_t len) {
    enc_ctx *c = vctx;
    if (vc_bpe_word(c->t, c->scratch, piece, len, &c->out)) return vc_errorf(c->err, "tokenizer: out of memory");
    return 0;
}

static int encode_normalized(enc_ctx *c, const char *s, size_t n, bool at_origin) {
    size_t pos = 0;
    while (pos < n) {
        size_t ms = n, me = n;
        int k = c->t->n_added ? find_added(c->t, s, n, pos, true, c->parse_special, &ms, &me) : -1;
        if (k < 0) ms = me = n;
        if (ms > pos && vc_pretokenize(c->t, c->md, s + pos, ms - pos, at_origin && pos == 0, emit_piece, c)) {
            if (!c->err->msg[0]) vc_errorf(c->err, "tokenizer: out of memory");
            return -1;
        }
        if (k >= 0 && vc_idvec_push(&c->out, c->t->added[k].id)) return vc_errorf(c->err, "tokenizer: out of memory");
        pos = me;
    }
    return 0;
}

static int encode_segment(enc_ctx *c, const char *s, size_t n, bool at_origin) {
    char *norm;
    size_t nn;
    if (vc_tok_normalize(c->t, s, n, false, &norm, &nn, c->err)) return -1;
    int rc = encode_normalized(c, norm, nn, at_origin);
    if (norm != s) free(norm);
    return rc;
}

int vc_tokenize(const vc_tokenizer *t, const char *text, size_t len, bool add_special, bool parse_special,
                int32_t **ids, int *n_ids, vc_error *err) {
    *ids = NULL;
    *n_ids = 0;
    if (!text && len) return vc_errorf(err, "vc_tokenize: text is NULL");
    size_t bad = vc_utf8_validate((const uint8_t *)text, len);
    if (bad != len) return vc_errorf(err, "vc_tokenize: invalid UTF-8 at byte offset %zu (byte 0x%02x)", bad, (uint8_t)text[bad]);
    if (len > (size_t)INT32_MAX / 2) return vc_errorf(err, "vc_tokenize: text of %zu bytes is too long", len);
    enc_ctx c = {.t = t, .parse_special = parse_special, .err = err};
    c.scratch = vc_bpe_scratch_new();
    c.md = pcre2_match_data_create(4, NULL);
    int rc = -1;
    if (!c.scratch || !c.md) { vc_errorf(err, "vc_tokenize: out of memory"); goto done; }
    if (add_special)
        for (int i = 0; i < t->n_prefix; i++)
            if (vc_idvec_push(&c.out, t->prefix_ids[i])) { vc_errorf(err, "vc_tokenize: out of memory"); goto done; }
    size_t pos = 0;
    while (pos < len) {
        size_t ms = len, me = len;
        int k = t->n_added ? find_added(t, text, len, pos, false, parse_special, &ms, &me) : -1;
        if (k < 0) ms = me = len;
        if (ms > pos && encode_segment(&c, text + pos, ms - pos, pos == 0)) goto done;
        if (k >= 0 && vc_idvec_push(&c.out, t->added[k].id)) { vc_errorf(err, "vc_tokenize: out of memory"); goto done; }
        pos = me;
    }
    if (add_special)
        for (int i = 0; i < t->n_suffix; i++)
            if (vc_idvec_push(&c.out, t->suffix_ids[i])) { vc_errorf(err, "vc_tokenize: out of memory"); goto done; }
    if (c.out.n > (size_t)INT32_MAX) { vc_errorf(err, "vc_tokenize: too many tokens"); goto done; }
    *ids = c.out.v ? c.out.v : malloc(sizeof(int32_t));
    if (!*ids) { vc_errorf(err, "vc_tokenize: out of memory"); goto done; }
    *n_ids = (int)c.out.n;
    c.out.v = NULL;
    rc = 0;
done:
    free(c.out.v);
    vc_bpe_scratch_free(c.scratch);
    if (c.md) pcre2_match_data_free(c.md);
    return rc;
}
