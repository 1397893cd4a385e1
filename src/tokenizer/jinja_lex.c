/* Jinja lexer: template text -> tokens, with jinja2's whitespace rules as
 * transformers configures them:
 *   - newlines normalized to \n, one trailing newline dropped;
 *   - "{%-" / "{{-" / "{#-" strip all whitespace before the tag,
 *     "-%}" / "-}}" / "-#}" all whitespace after it;
 *   - trim_blocks: one \n right after "%}" or "#}" is dropped;
 *   - lstrip_blocks: spaces/tabs between a line start and "{%" or "{#" are
 *     dropped ("{%+" keeps them; never for "{{").
 * Comments vanish; {% raw %}...{% endraw %} becomes one text token. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "tokenizer/jinja_internal.h"

typedef struct lexer {
    jarena *a;
    const char *s;
    size_t n, pos;
    bool line_starting; /* the last consumed text ended with \n (or nothing consumed) */
    jtoks *out;
    vc_error *err;
    char brackets[256]; /* expected closers inside a tag */
    int depth;
} lexer;

void jinja_where(const char *src, size_t len, uint32_t pos, char *buf, size_t bufsz) {
    int line = 1, col = 1;
    for (size_t i = 0; i < pos && i < len; i++) {
        if (src[i] == '\n') { line++; col = 1; } else col++;
    }
    snprintf(buf, bufsz, "line %d col %d", line, col);
}

static int lex_fail(lexer *L, size_t pos, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int lex_fail(lexer *L, size_t pos, const char *fmt, ...) {
    char where[64], msg[512];
    jinja_where(L->s, L->n, (uint32_t)pos, where, sizeof where);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return vc_errorf(L->err, "chat template %s: %s", where, msg);
}

static int push(lexer *L, jtok_type type, size_t pos, const char *s, size_t len) {
    jtoks *t = L->out;
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 256;
        jtok *v = ja_alloc(L->a, cap * sizeof *v);
        if (!v) return vc_errorf(L->err, "chat template: out of memory while lexing");
        if (t->n) memcpy(v, t->v, t->n * sizeof *v);
        t->v = v;
        t->cap = cap;
    }
    jtok *k = &t->v[t->n++];
    memset(k, 0, sizeof *k);
    k->type = type;
    k->pos = (uint32_t)pos;
    k->s = s;
    k->len = len;
    return 0;
}

/* Length of the whitespace code point at s[i], 0 if none. */
static size_t space_at(const char *s, size_t n, size_t i) {
    if (i >= n) return 0;
    size_t j = i;
    uint32_t cp = ju_next(s, n, &j);
    return ju_isspace(cp) ? j - i : 0;
}

static size_t skip_spaces(const char *s, size_t n, size_t i) {
    size_t k;
    while ((k = space_at(s, n, i)) > 0) i += k;
    return i;
}

/* Python str.rstrip(): end of text once trailing whitespace is removed. */
static size_t rstrip_end(const char *s, size_t start, size_t end) {
    size_t e = end;
    while (e > start) {
        size_t b = e - 1;
        while (b > start && ((unsigned char)s[b] & 0xc0) == 0x80) b--;
        size_t j = b;
        uint32_t cp = ju_next(s, end, &j);
        if (j != e || !ju_isspace(cp)) break;
        e = b;
    }
    return e;
}

/* Emits the text s[start, end) before a tag, stripped as the tag's sign and kind ask. */
static int emit_text(lexer *L, size_t start, size_t end, char sign, bool is_variable) {
    if (sign == '-') {
        end = rstrip_end(L->s, start, end);
    } else if (sign != '+' && !is_variable) {
        size_t l_pos = start; /* start of the text's last line */
        for (size_t i = end; i > start; i--)
            if (L->s[i - 1] == '\n') { l_pos = i; break; }
        if (l_pos > start || L->line_starting) {
            if (l_pos < end && skip_spaces(L->s, end, l_pos) == end) end = l_pos;
        }
    }
    if (end > start) return push(L, TK_TEXT, start, L->s + start, end - start);
    return 0;
}

static bool starts(const lexer *L, size_t i, const char *lit) {
    size_t k = strlen(lit);
    return i + k <= L->n && memcmp(L->s + i, lit, k) == 0;
}

/* Tag end at i ("%}" or "}}" with its modifiers)? Returns bytes consumed, 0 if none. */
static size_t tag_end_at(const lexer *L, size_t i, bool block) {
    const char *close = block ? "%}" : "}}";
    if (block && i < L->n && L->s[i] == '+' && starts(L, i + 1, close)) return 3;
    if (i < L->n && L->s[i] == '-' && starts(L, i + 1, close)) return skip_spaces(L->s, L->n, i + 3) - i;
    if (starts(L, i, close)) {
        if (block && i + 2 < L->n && L->s[i + 2] == '\n') return 3; /* trim_blocks */
        return 2;
    }
    return 0;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int put_utf8(jbuf *b, uint32_t cp) {
    char u[4];
    int n;
    if (cp < 0x80) { u[0] = (char)cp; n = 1; }
    else if (cp < 0x800) { u[0] = (char)(0xc0 | (cp >> 6)); u[1] = (char)(0x80 | (cp & 0x3f)); n = 2; }
    else if (cp < 0x10000) {
        u[0] = (char)(0xe0 | (cp >> 12)); u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[2] = (char)(0x80 | (cp & 0x3f)); n = 3;
    } else {
        u[0] = (char)(0xf0 | (cp >> 18)); u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3f)); u[3] = (char)(0x80 | (cp & 0x3f)); n = 4;
    }
    return jbuf_put(b, u, n);
}

/* A string literal at L->pos (quote char); decodes Python escapes. */
static int lex_string(lexer *L) {
    size_t start = L->pos;
    char q = L->s[start];
    size_t i = start + 1;
    while (i < L->n && L->s[i] != q) i += (L->s[i] == '\\' && i + 1 < L->n) ? 2 : 1;
    if (i >= L->n) return lex_fail(L, start, "unterminated string literal");
    size_t end = i; /* closing quote */
    jbuf b = {0};
    int rc = 0;
    for (i = start + 1; i < end && !rc; i++) {
        char c = L->s[i];
        if (c != '\\') { rc = jbuf_putc(&b, c); continue; }
        char e = L->s[++i];
        int digits = 0;
        switch (e) {
        case '\\': case '\'': case '"': rc = jbuf_putc(&b, e); break;
        case 'a': rc = jbuf_putc(&b, '\a'); break;
        case 'b': rc = jbuf_putc(&b, '\b'); break;
        case 'f': rc = jbuf_putc(&b, '\f'); break;
        case 'n': rc = jbuf_putc(&b, '\n'); break;
        case 'r': rc = jbuf_putc(&b, '\r'); break;
        case 't': rc = jbuf_putc(&b, '\t'); break;
        case 'v': rc = jbuf_putc(&b, '\v'); break;
        case '\n': break; /* line continuation */
        case 'x': digits = 2; break;
        case 'u': digits = 4; break;
        case 'U': digits = 8; break;
        case 'N':
            jbuf_free(&b);
            return lex_fail(L, i - 1, "unsupported string escape '\\N{...}'");
        default:
            if (e >= '0' && e <= '7') {
                uint32_t cp = 0;
                int k = 0;
                while (k < 3 && i < end && L->s[i] >= '0' && L->s[i] <= '7') cp = cp * 8 + (uint32_t)(L->s[i++] - '0'), k++;
                i--;
                rc = put_utf8(&b, cp);
            } else {
                rc = jbuf_putc(&b, '\\');
                if (!rc) rc = jbuf_putc(&b, e);
            }
        }
        if (digits) {
            uint32_t cp = 0;
            for (int k = 0; k < digits; k++) {
                int h = i + 1 + (size_t)k < end ? hexval(L->s[i + 1 + k]) : -1;
                if (h < 0) {
                    jbuf_free(&b);
                    return lex_fail(L, i - 1, "truncated \\%c escape in string literal", e);
                }
                cp = cp * 16 + (uint32_t)h;
            }
            i += (size_t)digits;
            if (cp > 0x10ffff) {
                jbuf_free(&b);
                return lex_fail(L, i, "string escape beyond U+10FFFF");
            }
            rc = put_utf8(&b, cp);
        }
    }
    if (rc) {
        jbuf_free(&b);
        return vc_errorf(L->err, "chat template: out of memory while lexing");
    }
    char *s = ja_strdup(L->a, b.data ? b.data : "", b.len);
    size_t slen = b.len;
    jbuf_free(&b);
    if (!s) return vc_errorf(L->err, "chat template: out of memory while lexing");
    L->pos = end + 1;
    return push(L, TK_STRING, start, s, slen);
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* Digits with single '_' separators ((\d+_)*\d+); returns end or start if none. */
static size_t digits_end(const lexer *L, size_t i) {
    if (i >= L->n || !is_digit(L->s[i])) return i;
    while (i < L->n) {
        while (i < L->n && is_digit(L->s[i])) i++;
        if (i + 1 < L->n && L->s[i] == '_' && is_digit(L->s[i + 1])) i++;
        else break;
    }
    return i;
}

static int lex_number(lexer *L) {
    size_t start = L->pos, i = digits_end(L, start);
    bool is_float = false;
    size_t j = i;
    if (j + 1 < L->n && L->s[j] == '.' && is_digit(L->s[j + 1])) { j = digits_end(L, j + 1); is_float = true; }
    if (j < L->n && (L->s[j] == 'e' || L->s[j] == 'E')) {
        size_t k = j + 1;
        if (k < L->n && (L->s[k] == '+' || L->s[k] == '-')) k++;
        size_t e = digits_end(L, k);
        if (e > k) { j = e; is_float = true; }
    }
    char buf[128];
    size_t o = 0;
    size_t end = is_float ? j : i;
    for (size_t k = start; k < end && o + 1 < sizeof buf; k++)
        if (L->s[k] != '_') buf[o++] = L->s[k];
    buf[o] = '\0';
    if (end - start >= sizeof buf - 1) return lex_fail(L, start, "number literal too long");
    if (push(L, is_float ? TK_FLOAT : TK_INT, start, L->s + start, end - start)) return -1;
    jtok *t = &L->out->v[L->out->n - 1];
    if (is_float) {
        t->f = strtod(buf, NULL);
    } else {
        if (buf[0] == '0' && (buf[1] == 'x' || buf[1] == 'X' || buf[1] == 'b' || buf[1] == 'B' ||
                              buf[1] == 'o' || buf[1] == 'O'))
            return lex_fail(L, start, "unsupported integer literal '%s'", buf);
        if (o > 1 && buf[0] == '0') {
            for (size_t k = 0; k < o; k++)
                if (buf[k] != '0') return lex_fail(L, start, "invalid integer literal '%s'", buf);
        }
        errno = 0;
        long long v = strtoll(buf, NULL, 10);
        if (errno == ERANGE) return lex_fail(L, start, "integer literal '%s' beyond 64 bits", buf);
        t->i = v;
    }
    L->pos = end;
    return 0;
}

static const char *const OPS2[] = {"//", "**", "==", "!=", ">=", "<="};
static const char OPS1[] = "+-/*%~[](){}><=.:|,;";

/* Tokens of one {{ }} or {% %} tag; L->pos is just past its opening (and sign). */
static int lex_tag(lexer *L, bool block, size_t open_pos) {
    L->depth = 0;
    for (;;) {
        L->pos = skip_spaces(L->s, L->n, L->pos);
        if (L->pos >= L->n)
            return lex_fail(L, open_pos, "unterminated tag '%s' (no matching '%s')", block ? "{%" : "{{",
                            block ? "%}" : "}}");
        if (L->depth == 0) {
            size_t k = tag_end_at(L, L->pos, block);
            if (k) {
                if (push(L, block ? TK_BLOCK_END : TK_VAR_END, L->pos, NULL, 0)) return -1;
                L->pos += k;
                L->line_starting = L->s[L->pos - 1] == '\n';
                return 0;
            }
        }
        char c = L->s[L->pos];
        if (is_digit(c)) {
            if (lex_number(L)) return -1;
        } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') {
            size_t e = L->pos + 1;
            while (e < L->n && ((L->s[e] >= 'a' && L->s[e] <= 'z') || (L->s[e] >= 'A' && L->s[e] <= 'Z') ||
                                is_digit(L->s[e]) || L->s[e] == '_'))
                e++;
            if (push(L, TK_NAME, L->pos, L->s + L->pos, e - L->pos)) return -1;
            L->pos = e;
        } else if (c == '\'' || c == '"') {
            if (lex_string(L)) return -1;
        } else {
            size_t len = 0;
            for (size_t k = 0; k < sizeof OPS2 / sizeof *OPS2; k++)
                if (starts(L, L->pos, OPS2[k])) { len = 2; break; }
            if (!len && c && strchr(OPS1, c)) len = 1;
            if (!len) {
                if ((unsigned char)c >= 0x20 && (unsigned char)c < 0x7f)
                    return lex_fail(L, L->pos, "unexpected character '%c'", c);
                return lex_fail(L, L->pos, "unexpected byte 0x%02x", (unsigned char)c);
            }
            if (len == 1 && (c == '(' || c == '[' || c == '{')) {
                if (L->depth >= (int)sizeof L->brackets)
                    return lex_fail(L, L->pos, "brackets nested too deeply");
                L->brackets[L->depth++] = c == '(' ? ')' : c == '[' ? ']' : '}';
            } else if (len == 1 && (c == ')' || c == ']' || c == '}')) {
                if (L->depth == 0) return lex_fail(L, L->pos, "unexpected '%c'", c);
                char want = L->brackets[--L->depth];
                if (want != c) return lex_fail(L, L->pos, "unexpected '%c', expected '%c'", c, want);
            }
            if (push(L, TK_OP, L->pos, L->s + L->pos, len)) return -1;
            L->pos += len;
        }
    }
}

/* {% raw %} at i? Returns the length of the opening tag, 0 if not raw. */
static size_t raw_begin_at(const lexer *L, size_t i) {
    if (!starts(L, i, "{%")) return 0;
    size_t k = i + 2;
    if (k < L->n && (L->s[k] == '-' || L->s[k] == '+')) k++;
    k = skip_spaces(L->s, L->n, k);
    if (!starts(L, k, "raw")) return 0;
    k = skip_spaces(L->s, L->n, k + 3);
    if (starts(L, k, "-%}")) return skip_spaces(L->s, L->n, k + 3) - i;
    if (starts(L, k, "%}")) return k + 2 - i;
    return 0;
}

/* The raw body from L->pos up to {% endraw %}. */
static int lex_raw(lexer *L, size_t open_pos) {
    for (size_t i = L->pos; i + 1 < L->n; i++) {
        if (!starts(L, i, "{%")) continue;
        size_t k = i + 2;
        char sign = 0;
        if (k < L->n && (L->s[k] == '-' || L->s[k] == '+')) sign = L->s[k++];
        k = skip_spaces(L->s, L->n, k);
        if (!starts(L, k, "endraw")) continue;
        k = skip_spaces(L->s, L->n, k + 6);
        size_t tail = 0;
        if (starts(L, k, "+%}")) tail = 3;
        else if (starts(L, k, "-%}")) tail = skip_spaces(L->s, L->n, k + 3) - k;
        else if (starts(L, k, "%}")) tail = (k + 2 < L->n && L->s[k + 2] == '\n') ? 3 : 2;
        if (!tail) continue;
        if (emit_text(L, L->pos, i, sign, false)) return -1;
        L->pos = k + tail;
        L->line_starting = L->s[L->pos - 1] == '\n';
        return 0;
    }
    return lex_fail(L, open_pos, "missing {%% endraw %%} for this {%% raw %%}");
}

/* A comment from L->pos (past "{#" and its sign) to its "#}". */
static int lex_comment(lexer *L, size_t open_pos) {
    for (size_t i = L->pos; i < L->n; i++) {
        if ((L->s[i] == '+' || L->s[i] == '-') && starts(L, i + 1, "#}")) {
            L->pos = L->s[i] == '-' ? skip_spaces(L->s, L->n, i + 3) : i + 3;
            L->line_starting = L->s[L->pos - 1] == '\n';
            return 0;
        }
        if (starts(L, i, "#}")) {
            L->pos = (i + 2 < L->n && L->s[i + 2] == '\n') ? i + 3 : i + 2;
            L->line_starting = L->s[L->pos - 1] == '\n';
            return 0;
        }
    }
    return lex_fail(L, open_pos, "missing end of comment tag '#}'");
}

int jinja_lex(jarena *a, const char *src, size_t len, const char **norm, size_t *norm_len,
              jtoks *out, vc_error *err) {
    char *s = ja_alloc(a, len + 1);
    if (!s) return vc_errorf(err, "chat template: out of memory");
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (src[i] == '\r') {
            s[n++] = '\n';
            if (i + 1 < len && src[i + 1] == '\n') i++;
        } else {
            s[n++] = src[i];
        }
    }
    if (n > 0 && s[n - 1] == '\n') n--; /* keep_trailing_newline=False */
    s[n] = '\0';
    *norm = s;
    *norm_len = n;
    if (n > UINT32_MAX - 16) return vc_errorf(err, "chat template: %zu bytes is too large", n);

    lexer L = {.a = a, .s = s, .n = n, .pos = 0, .line_starting = true, .out = out, .err = err};
    out->v = NULL;
    out->n = out->cap = 0;
    while (L.pos < L.n) {
        size_t i = L.pos;
        while (i + 1 < L.n && !(L.s[i] == '{' && (L.s[i + 1] == '{' || L.s[i + 1] == '%' || L.s[i + 1] == '#'))) i++;
        if (i + 1 >= L.n) { /* plain text to the end */
            if (push(&L, TK_TEXT, L.pos, L.s + L.pos, L.n - L.pos)) return -1;
            break;
        }
        char kind = L.s[i + 1];
        char sign = (i + 2 < L.n && (L.s[i + 2] == '-' || L.s[i + 2] == '+')) ? L.s[i + 2] : 0;
        size_t raw = kind == '%' ? raw_begin_at(&L, i) : 0;
        if (emit_text(&L, L.pos, i, sign, kind == '{')) return -1;
        L.line_starting = false;
        if (raw) {
            L.pos = i + raw;
            L.line_starting = L.s[L.pos - 1] == '\n';
            if (lex_raw(&L, i)) return -1;
            continue;
        }
        L.pos = i + 2 + (sign ? 1 : 0);
        if (kind == '#') {
            if (lex_comment(&L, i)) return -1;
            continue;
        }
        if (push(&L, kind == '%' ? TK_BLOCK_BEGIN : TK_VAR_BEGIN, i, NULL, 0)) return -1;
        if (lex_tag(&L, kind == '%', i)) return -1;
    }
    return push(&L, TK_EOF, L.n, NULL, 0);
}
