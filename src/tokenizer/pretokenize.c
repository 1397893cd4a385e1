/* Pre-tokenization: the text is cut into pieces by a sequence of regexes
 * (Hugging Face "Split" with behavior "Isolated": every match is a piece and
 * so is every gap between matches). Each regex of the sequence cuts the
 * pieces of the previous one. Compiled by PCRE2 with UTF + UCP (so \s, \p{L}
 * follow Unicode) and JIT. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"

/* Patterns, written from the tokenizers' published pre-tokenizer definitions. */
static const char RE_GPT2[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
static const char RE_LLAMA3[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}"
    "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char RE_QWEN2[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}"
    "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char RE_DIGIT[] = "\\p{N}";   /* Digits(individual_digits=true) */

int vc_tok_add_regex(vc_tokenizer *t, const char *pattern, size_t len, vc_error *err) {
    if (t->n_regex >= VC_TOK_MAX_REGEX)
        return vc_errorf(err, "tokenizer: more than %d pre-tokenizer regexes", VC_TOK_MAX_REGEX);
    int code;
    PCRE2_SIZE at;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, len, PCRE2_UTF | PCRE2_UCP, &code, &at, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof msg);
        return vc_errorf(err, "tokenizer: pre-tokenizer regex '%.*s': %s at offset %zu", (int)(len > 200 ? 200 : len),
                         pattern, (const char *)msg, (size_t)at);
    }
    /* JIT is an optimization: without it (e.g. unsupported CPU) the interpreter runs the same pattern */
    (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
    t->regex[t->n_regex++] = re;
    return 0;
}

int vc_tok_set_pre_by_name(vc_tokenizer *t, const char *name, vc_error *err) {
    static const char *const gpt2[] = {"gpt-2", "default", "phi-2", "jina-es", "jina-de", "jina-v1-en",
                                       "roberta-bpe", "mpt", "olmo", "gpt-neox", "poro-chat", "viking",
                                       "bloom", "gpt3-finnish", "trillion", "jais", NULL};
    static const char *const llama3[] = {"llama3", "llama-v3", "llama-bpe", "falcon3", "dbrx",
                                         "smaug-bpe", "pixtral", "lfm2", "midm-2.0", NULL};
    static const char *const qwen2[] = {"qwen2", "deepseek-r1-qwen", "megrez", NULL};
    static const char *const digits_gpt2[] = {"smollm", "starcoder", "refact", "command-r", "codeshell",
                                              "exaone", "minerva-7b", NULL};
    struct { const char *const *names; const char *re1, *re2; } table[] = {
        {gpt2, RE_GPT2, NULL}, {llama3, RE_LLAMA3, NULL}, {qwen2, RE_QWEN2, NULL}, {digits_gpt2, RE_DIGIT, RE_GPT2}};
    for (size_t k = 0; k < sizeof table / sizeof *table; k++)
        for (const char *const *n = table[k].names; *n; n++)
            if (!strcmp(*n, name)) {
                if (vc_tok_add_regex(t, table[k].re1, strlen(table[k].re1), err)) return -1;
                if (table[k].re2 && vc_tok_add_regex(t, table[k].re2, strlen(table[k].re2), err)) return -1;
                return 0;
            }
    return vc_errorf(err, "tokenizer.ggml.pre: unknown pre-tokenizer '%s' (known: gpt-2 family, llama-bpe/llama3, "
                     "qwen2, smollm/starcoder family)", name);
}

typedef struct split_ctx {
    const vc_tokenizer *t;
    pcre2_match_data *md;
    vc_piece_fn emit;
    void *ctx;
} split_ctx;

static int split_level(split_ctx *c, int level, const char *s, size_t n) {
    if (n == 0) return 0;
    if (level >= c->t->n_regex || level >= VC_TOK_MAX_REGEX) return c->emit(c->ctx, s, n);
    const pcre2_code *re = c->t->regex[level];
    size_t pos = 0, gap = 0;   /* gap: start of the unmatched text before the next match */
    while (pos < n) {
        int rc = pcre2_match(re, (PCRE2_SPTR)s, n, pos, PCRE2_NO_UTF_CHECK, c->md, NULL);
        if (rc < 0) break;   /* no more matches (or a match error: the rest is one gap) */
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(c->md);
        size_t ms = ov[0], me = ov[1];
        if (me == ms) {       /* empty match: step over one char */
            pos = ms + 1;
            while (pos < n && ((uint8_t)s[pos] & 0xC0) == 0x80) pos++;
            continue;
        }
        if (ms > gap && split_level(c, level + 1, s + gap, ms - gap)) return -1;
        if (split_level(c, level + 1, s + ms, me - ms)) return -1;
        gap = pos = me;
    }
    if (gap < n && split_level(c, level + 1, s + gap, n - gap)) return -1;
    return 0;
}

static const char META[] = "\xE2\x96\x81";   /* U+2581 */

static int metaspace(split_ctx *c, const char *text, size_t len, bool at_origin) {
    const vc_tokenizer *t = c->t;
    size_t spaces = 0;
    for (size_t i = 0; i < len; i++) spaces += text[i] == ' ';
    bool starts = (len > 0 && text[0] == ' ') || (len >= 3 && !memcmp(text, META, 3));
    bool prepend = !starts && (t->meta_prepend == 1 || (t->meta_prepend == 2 && at_origin));
    char *s = malloc(len + 2 * spaces + 3 + 1);
    if (!s) return -1;
    size_t n = 0;
    if (prepend) { memcpy(s, META, 3); n = 3; }
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') { memcpy(s + n, META, 3); n += 3; }
        else s[n++] = text[i];
    }
    int rc = 0;
    if (!t->meta_split) rc = split_level(c, 0, s, n);
    else   /* a piece starts at each U+2581 (merged with what follows it) */
        for (size_t a = 0; a < n && !rc;) {
            size_t b = a + (n - a >= 3 && !memcmp(s + a, META, 3) ? 3 : 0);
            while (b < n && !(n - b >= 3 && !memcmp(s + b, META, 3))) b++;
            rc = split_level(c, 0, s + a, b - a);
            a = b;
        }
    free(s);
    return rc;
}

int vc_pretokenize(const vc_tokenizer *t, pcre2_match_data *md, const char *text, size_t len, bool at_origin,
                   vc_piece_fn emit, void *ctx) {
    split_ctx c = {t, md, emit, ctx};
    if (t->meta) return metaspace(&c, text, len, at_origin);
    return split_level(&c, 0, text, len);
}
