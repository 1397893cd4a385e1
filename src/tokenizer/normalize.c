/* Normalizers: Unicode NFC (utf8proc) for tokenizers that ask for it, and
 * the SentencePiece spelling (' ' -> U+2581, U+2581 prepended to a non-empty
 * segment). Applied per text segment, after added tokens are split out. */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "tokenizer/tok_internal.h"

static bool is_ascii(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if ((uint8_t)s[i] >= 0x80) return false;
    return true;
}

int vc_tok_normalize(const vc_tokenizer *t, const char *text, size_t len, bool normalizer_only, char **out,
                     size_t *out_len, vc_error *err) {
    char *cur = (char *)text;
    size_t n = len;
    bool owned = false;
    if (t->unorm != VC_UNORM_NONE && n > 0 && !is_ascii(text, n)) {   /* ASCII is normalized in every form */
        utf8proc_uint8_t *dst = NULL;
        utf8proc_option_t opt = UTF8PROC_STABLE;
        switch (t->unorm) {
        case VC_UNORM_NFC: opt |= UTF8PROC_COMPOSE; break;
        case VC_UNORM_NFKC: opt |= UTF8PROC_COMPOSE | UTF8PROC_COMPAT; break;
        case VC_UNORM_NFD: opt |= UTF8PROC_DECOMPOSE; break;
        default: opt |= UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT; break;
        }
        utf8proc_ssize_t r = utf8proc_map((const utf8proc_uint8_t *)text, (utf8proc_ssize_t)n, &dst, opt);
        if (r < 0) return vc_errorf(err, "tokenizer: Unicode normalization failed: %s", utf8proc_errmsg(r));
        cur = (char *)dst;
        n = (size_t)r;
        owned = true;
    }
    if ((t->spm_prepend || t->spm_replace_space) && n > 0) {
        size_t spaces = 0;
        if (t->spm_replace_space)
            for (size_t i = 0; i < n; i++) spaces += cur[i] == ' ';
        size_t nn = n + spaces * 2 + (t->spm_prepend ? 3 : 0);
        char *d = malloc(nn + 1);
        if (!d) {
            if (owned) free(cur);
            return vc_errorf(err, "tokenizer: out of memory normalizing %zu bytes", len);
        }
        size_t o = 0;
        if (t->spm_prepend) { memcpy(d, "\xE2\x96\x81", 3); o = 3; }
        for (size_t i = 0; i < n; i++) {
            if (t->spm_replace_space && cur[i] == ' ') { memcpy(d + o, "\xE2\x96\x81", 3); o += 3; }
            else d[o++] = cur[i];
        }
        d[o] = 0;
        if (owned) free(cur);
        cur = d;
        n = o;
        owned = true;
    }
    if (t->add_prefix_space && !normalizer_only && n > 0 && cur[0] != ' ') {
        char *d = malloc(n + 2);
        if (!d) {
            if (owned) free(cur);
            return vc_errorf(err, "tokenizer: out of memory normalizing %zu bytes", len);
        }
        d[0] = ' ';
        memcpy(d + 1, cur, n);
        d[n + 1] = 0;
        if (owned) free(cur);
        cur = d;
        n++;
        owned = true;
    }
    *out = cur;
    *out_len = n;
    return 0;
}
