/* Incremental detokenizer. Ids go in one at a time; text comes out as soon as
 * it is certain. Bytes flow through three stages:
 *   1. (SentencePiece byte fallback) a run of <0xNN> tokens is held until a
 *      non-byte token ends it; then it becomes its bytes if they are valid
 *      UTF-8 as a whole, else one U+FFFD per byte (Hugging Face ByteFallback)
 *   2. a lossy UTF-8 converter: valid chars pass, an invalid sequence becomes
 *      one U+FFFD per maximal subpart (Rust's from_utf8_lossy), and a
 *      sequence cut by the end of the buffer waits for more bytes
 *   3. leading ' ' removal (SentencePiece decoders strip the dummy prefix)
 * vc_detokenize runs the same stages over all ids, so the concatenated
 * deltas equal the full decode by construction. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"

typedef struct bytebuf {
    char *p;
    size_t n, cap;
} bytebuf;

struct vc_detok {
    const vc_tokenizer *t;
    bool skip_special;
    bytebuf run;    /* stage 1: pending byte-fallback run */
    bytebuf pend;   /* stage 2: bytes not yet converted */
    bytebuf out;    /* the delta of the current call */
    int strip_left; /* stage 3: leading spaces still to remove */
};

static int buf_add(bytebuf *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 64;
        while (nc < b->n + n + 1) nc *= 2;
        char *np = realloc(b->p, nc);
        if (!np) return -1;
        b->p = np;
        b->cap = nc;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
    return 0;
}

static const char REPLACEMENT[] = "\xEF\xBF\xBD";   /* U+FFFD */

int vc_detok_create(vc_detok **out, const vc_tokenizer *t, bool skip_special, vc_error *err) {
    vc_detok *d = calloc(1, sizeof *d);
    if (!d) return vc_errorf(err, "vc_detok_create: out of memory");
    d->t = t;
    d->skip_special = skip_special;
    d->strip_left = t->dec_strip_leading;
    if (buf_add(&d->out, "", 0)) { free(d); return vc_errorf(err, "vc_detok_create: out of memory"); }
    *out = d;
    return 0;
}

void vc_detok_free(vc_detok *d) {
    if (!d) return;
    free(d->run.p);
    free(d->pend.p);
    free(d->out.p);
    free(d);
}

/* stage 1 -> 2 */
static int resolve_run(vc_detok *d) {
    if (!d->run.n) return 0;
    int rc = 0;
    if (vc_utf8_validate((const uint8_t *)d->run.p, d->run.n) == d->run.n) rc = buf_add(&d->pend, d->run.p, d->run.n);
    else
        for (size_t i = 0; i < d->run.n && !rc; i++) rc = buf_add(&d->pend, REPLACEMENT, 3);
    d->run.n = 0;
    return rc;
}

/* length of the maximal valid-prefix subpart at s[0..n); *cut: it ran into the end */
static size_t subpart(const uint8_t *s, size_t n, bool *cut) {
    uint8_t b = s[0];
    size_t len;
    uint8_t lo = 0x80, hi = 0xBF;
    *cut = false;
    if (b >= 0xC2 && b <= 0xDF) len = 2;
    else if (b >= 0xE0 && b <= 0xEF) { len = 3; if (b == 0xE0) lo = 0xA0; if (b == 0xED) hi = 0x9F; }
    else if (b >= 0xF0 && b <= 0xF4) { len = 4; if (b == 0xF0) lo = 0x90; if (b == 0xF4) hi = 0x8F; }
    else return 1;
    for (size_t j = 1; j < len; j++) {
        if (j >= n) { *cut = true; return j; }
        uint8_t x = s[j];
        bool ok = j == 1 ? (x >= lo && x <= hi) : (x >= 0x80 && x <= 0xBF);
        if (!ok) return j;
    }
    return len;   /* complete and valid */
}

/* stage 2 -> 3: converts what is certain of pend into out */
static int convert(vc_detok *d, bool final) {
    const uint8_t *s = (const uint8_t *)d->pend.p;
    size_t n = d->pend.n, i = 0;
    size_t out_start = d->out.n;
    while (i < n) {
        if (s[i] < 0x80) {
            size_t j = i;
            while (j < n && s[j] < 0x80) j++;
            if (buf_add(&d->out, (const char *)s + i, j - i)) return -1;
            i = j;
            continue;
        }
        uint32_t cp;
        int l = vc_utf8_decode(s + i, n - i, &cp);
        if (l) {
            if (buf_add(&d->out, (const char *)s + i, (size_t)l)) return -1;
            i += (size_t)l;
            continue;
        }
        bool cut;
        size_t k = subpart(s + i, n - i, &cut);
        if (cut && !final) break;   /* may still complete */
        if (buf_add(&d->out, REPLACEMENT, 3)) return -1;
        i += k;
    }
    if (i > 0) memmove(d->pend.p, d->pend.p + i, n - i);
    d->pend.n = n - i;
    /* stage 3 */
    while (d->strip_left > 0 && d->out.n > out_start) {
        if (d->out.p[out_start] != ' ') { d->strip_left = 0; break; }
        memmove(d->out.p + out_start, d->out.p + out_start + 1, d->out.n - out_start - 1);
        d->out.n--;
        d->out.p[d->out.n] = 0;
        d->strip_left--;
    }
    if (d->out.n > out_start) d->strip_left = 0;
    return 0;
}

int vc_detok_push(vc_detok *d, int32_t id, const char **delta, size_t *delta_len, vc_error *err) {
    const vc_tokenizer *t = d->t;
    d->out.n = 0;
    d->out.p[0] = 0;
    *delta = d->out.p;
    *delta_len = 0;
    if (id < 0 || id >= t->n_vocab) return vc_errorf(err, "detokenize: token id %d out of range [0, %d)", id, t->n_vocab);
    if (d->skip_special && (t->flags[id] & VC_TOKF_SPECIAL)) return 0;
    int rc;
    if (t->dec_byte_fallback && (t->flags[id] & VC_TOKF_BYTE)) rc = buf_add(&d->run, vc_tok_dec(t, id), 1);
    else rc = resolve_run(d) || buf_add(&d->pend, vc_tok_dec(t, id), t->dec_len[id]) || convert(d, false);
    if (rc) return vc_errorf(err, "detokenize: out of memory");
    *delta = d->out.p;
    *delta_len = d->out.n;
    return 0;
}

int vc_detok_flush(vc_detok *d, const char **delta, size_t *delta_len) {
    d->out.n = 0;
    d->out.p[0] = 0;
    int rc = resolve_run(d) || convert(d, true);
    *delta = d->out.p;
    *delta_len = d->out.n;
    return rc ? -1 : 0;
}
