/* Jinja values: the arena they live in, containers, and their Python text
 * forms (str, repr, json.dumps, float repr), which the output must match byte
 * for byte. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/jinja_internal.h"

/* ---- arena ---- */

struct ja_block {
    ja_block *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
};

void ja_init(jarena *a, size_t limit) {
    a->head = NULL;
    a->total = 0;
    a->limit = limit;
}

void ja_free(jarena *a) {
    ja_block *b = a->head;
    while (b) {
        ja_block *next = b->next;
        free(b);
        b = next;
    }
    a->head = NULL;
    a->total = 0;
}

void *ja_alloc(jarena *a, size_t n) {
    n = (n + 15) & ~(size_t)15;
    if (n == 0) n = 16;
    if (a->limit && (n > a->limit || a->total > a->limit - n)) return NULL;
    ja_block *b = a->head;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > 64 * 1024 ? n : 64 * 1024;
        b = malloc(sizeof(ja_block) + cap);
        if (!b) return NULL;
        b->used = 0;
        b->cap = cap;
        b->next = a->head;
        a->head = b;
    }
    void *p = b->data + b->used;
    b->used += n;
    a->total += n;
    memset(p, 0, n);
    return p;
}

char *ja_strdup(jarena *a, const char *s, size_t len) {
    char *p = ja_alloc(a, len + 1);
    if (!p) return NULL;
    if (len) memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

/* ---- buffer ---- */

int jbuf_put(jbuf *b, const char *s, size_t n) {
    if (b->limit && (n > b->limit || b->len > b->limit - n)) return -1;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->data, cap);
        if (!p) return -1;
        b->data = p;
        b->cap = cap;
    }
    if (n) memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int jbuf_putc(jbuf *b, char c) { return jbuf_put(b, &c, 1); }

void jbuf_free(jbuf *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* ---- containers ---- */

jv_list *jv_list_new(jarena *a, size_t cap) {
    jv_list *l = ja_alloc(a, sizeof *l);
    if (!l) return NULL;
    if (cap) {
        l->items = ja_alloc(a, cap * sizeof(jv));
        if (!l->items) return NULL;
        l->cap = cap;
    }
    return l;
}

int jv_list_push(jarena *a, jv_list *l, jv v) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4;
        jv *items = ja_alloc(a, cap * sizeof(jv));
        if (!items) return -1;
        if (l->n) memcpy(items, l->items, l->n * sizeof(jv));
        l->items = items;
        l->cap = cap;
    }
    l->items[l->n++] = v;
    return 0;
}

jv_dict *jv_dict_new(jarena *a, size_t cap) {
    jv_dict *d = ja_alloc(a, sizeof *d);
    if (!d) return NULL;
    if (cap) {
        d->keys = ja_alloc(a, cap * sizeof(jv));
        d->vals = ja_alloc(a, cap * sizeof(jv));
        if (!d->keys || !d->vals) return NULL;
        d->cap = cap;
    }
    return d;
}

const jv *jv_dict_get(const jv_dict *d, const char *key, size_t klen) {
    for (size_t i = 0; i < d->n; i++)
        if (d->keys[i].u.str.len == klen && memcmp(d->keys[i].u.str.s, key, klen) == 0)
            return &d->vals[i];
    return NULL;
}

int jv_dict_set(jarena *a, jv_dict *d, const char *key, size_t klen, jv v) {
    for (size_t i = 0; i < d->n; i++)
        if (d->keys[i].u.str.len == klen && memcmp(d->keys[i].u.str.s, key, klen) == 0) {
            d->vals[i] = v;
            return 0;
        }
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 4;
        jv *keys = ja_alloc(a, cap * sizeof(jv)), *vals = ja_alloc(a, cap * sizeof(jv));
        if (!keys || !vals) return -1;
        if (d->n) {
            memcpy(keys, d->keys, d->n * sizeof(jv));
            memcpy(vals, d->vals, d->n * sizeof(jv));
        }
        d->keys = keys;
        d->vals = vals;
        d->cap = cap;
    }
    d->keys[d->n] = jv_str(key, klen);
    d->vals[d->n] = v;
    d->n++;
    return 0;
}

/* ---- predicates ---- */

const char *jv_type_name(const jv *v) {
    switch (v->type) {
    case JV_UNDEFINED: return "Undefined";
    case JV_NONE: return "NoneType";
    case JV_BOOL: return "bool";
    case JV_INT: return "int";
    case JV_FLOAT: return "float";
    case JV_STRING: return "str";
    case JV_LIST: return v->u.list->is_gen ? "generator" : v->u.list->is_tuple ? "tuple" : "list";
    case JV_DICT: return v->u.dict->is_namespace ? "Namespace" : "dict";
    case JV_FUNC: return "function";
    case JV_LOOP: return "LoopContext";
    }
    return "?";
}

bool jv_truthy(const jv *v) {
    switch (v->type) {
    case JV_UNDEFINED: case JV_NONE: return false;
    case JV_BOOL: return v->u.b;
    case JV_INT: return v->u.i != 0;
    case JV_FLOAT: return v->u.f != 0.0;
    case JV_STRING: return v->u.str.len != 0;
    case JV_LIST: return v->u.list->is_gen || v->u.list->n != 0;
    case JV_DICT: return v->u.dict->is_namespace || v->u.dict->n != 0;
    default: return true;
    }
}

static bool jv_is_number(const jv *v) {
    return v->type == JV_BOOL || v->type == JV_INT || v->type == JV_FLOAT;
}

static double jv_num(const jv *v) {
    return v->type == JV_FLOAT ? v->u.f : v->type == JV_INT ? (double)v->u.i : (double)v->u.b;
}

bool jv_equal(const jv *a, const jv *b) {
    if (jv_is_number(a) && jv_is_number(b)) {
        if (a->type != JV_FLOAT && b->type != JV_FLOAT) {
            int64_t x = a->type == JV_INT ? a->u.i : a->u.b, y = b->type == JV_INT ? b->u.i : b->u.b;
            return x == y;
        }
        return jv_num(a) == jv_num(b);
    }
    if (a->type != b->type) return false;
    switch (a->type) {
    case JV_UNDEFINED: case JV_NONE: return true;
    case JV_STRING:
        return a->u.str.len == b->u.str.len && memcmp(a->u.str.s, b->u.str.s, a->u.str.len) == 0;
    case JV_LIST:
        if (a->u.list->is_gen || b->u.list->is_gen) return a->u.list == b->u.list;
        if (a->u.list->is_tuple != b->u.list->is_tuple || a->u.list->n != b->u.list->n) return false;
        for (size_t i = 0; i < a->u.list->n; i++)
            if (!jv_equal(&a->u.list->items[i], &b->u.list->items[i])) return false;
        return true;
    case JV_DICT:
        if (a->u.dict->is_namespace || b->u.dict->is_namespace) return a->u.dict == b->u.dict;
        if (a->u.dict->n != b->u.dict->n) return false;
        for (size_t i = 0; i < a->u.dict->n; i++) {
            const jv *other = jv_dict_get(b->u.dict, a->u.dict->keys[i].u.str.s, a->u.dict->keys[i].u.str.len);
            if (!other || !jv_equal(&a->u.dict->vals[i], other)) return false;
        }
        return true;
    case JV_FUNC: return a->u.func == b->u.func;
    case JV_LOOP: return a->u.loop == b->u.loop;
    default: return false;
    }
}

/* ---- text forms ---- */

int jv_write_float(jbuf *b, double f) {
    char buf[64];
    if (isnan(f)) return jbuf_put(b, "nan", 3);
    if (isinf(f)) return f > 0 ? jbuf_put(b, "inf", 3) : jbuf_put(b, "-inf", 4);
    /* shortest digits that round-trip, as Python's repr does */
    int prec;
    for (prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*e", prec - 1, f);
        if (strtod(buf, NULL) == f) break;
    }
    /* buf = [-]d[.ddd]e[+-]XX */
    char digits[32];
    int nd = 0, exp10;
    const char *p = buf;
    bool neg = false;
    if (*p == '-') { neg = true; p++; }
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9') digits[nd++] = *p;
    exp10 = atoi(p + 1);
    while (nd > 1 && digits[nd - 1] == '0') nd--; /* trailing zeros */
    char out[64];
    int o = 0;
    if (neg) out[o++] = '-';
    if (exp10 >= -4 && exp10 < 16) {
        if (exp10 < 0) {
            out[o++] = '0';
            out[o++] = '.';
            for (int k = 0; k < -exp10 - 1; k++) out[o++] = '0';
            for (int k = 0; k < nd; k++) out[o++] = digits[k];
        } else {
            for (int k = 0; k <= exp10; k++) out[o++] = k < nd ? digits[k] : '0';
            out[o++] = '.';
            if (nd > exp10 + 1)
                for (int k = exp10 + 1; k < nd; k++) out[o++] = digits[k];
            else
                out[o++] = '0';
        }
    } else {
        out[o++] = digits[0];
        if (nd > 1) {
            out[o++] = '.';
            for (int k = 1; k < nd; k++) out[o++] = digits[k];
        }
        o += snprintf(out + o, sizeof out - o, "e%c%02d", exp10 < 0 ? '-' : '+', exp10 < 0 ? -exp10 : exp10);
    }
    return jbuf_put(b, out, o);
}

static int write_int(jbuf *b, int64_t i) {
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%lld", (long long)i);
    return jbuf_put(b, buf, n);
}

/* Python's repr of a str: single quotes unless the text has ' and no ". */
static int write_str_repr(jbuf *b, const char *s, size_t len) {
    bool has_sq = memchr(s, '\'', len) != NULL, has_dq = memchr(s, '"', len) != NULL;
    char q = has_sq && !has_dq ? '"' : '\'';
    if (jbuf_putc(b, q)) return -1;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[8];
        int n = 0;
        if (c == '\\') n = snprintf(esc, sizeof esc, "\\\\");
        else if (c == (unsigned char)q) n = snprintf(esc, sizeof esc, "\\%c", q);
        else if (c == '\n') n = snprintf(esc, sizeof esc, "\\n");
        else if (c == '\r') n = snprintf(esc, sizeof esc, "\\r");
        else if (c == '\t') n = snprintf(esc, sizeof esc, "\\t");
        else if (c < 0x20 || c == 0x7f) n = snprintf(esc, sizeof esc, "\\x%02x", c);
        if (n) {
            if (jbuf_put(b, esc, n)) return -1;
        } else if (jbuf_putc(b, (char)c)) {
            return -1;
        }
    }
    return jbuf_putc(b, q);
}

static int write_dict_body(jbuf *b, const jv_dict *d) {
    if (jbuf_putc(b, '{')) return -1;
    for (size_t i = 0; i < d->n; i++) {
        if (i && jbuf_put(b, ", ", 2)) return -1;
        if (jv_write_repr(b, &d->keys[i]) || jbuf_put(b, ": ", 2) || jv_write_repr(b, &d->vals[i]))
            return -1;
    }
    return jbuf_putc(b, '}');
}

int jv_write_repr(jbuf *b, const jv *v) {
    switch (v->type) {
    case JV_STRING: return write_str_repr(b, v->u.str.s, v->u.str.len);
    case JV_LIST: {
        const jv_list *l = v->u.list;
        if (l->is_gen) return jbuf_put(b, "<generator object>", 18);
        if (jbuf_putc(b, l->is_tuple ? '(' : '[')) return -1;
        for (size_t i = 0; i < l->n; i++) {
            if (i && jbuf_put(b, ", ", 2)) return -1;
            if (jv_write_repr(b, &l->items[i])) return -1;
        }
        if (l->is_tuple && l->n == 1 && jbuf_putc(b, ',')) return -1;
        return jbuf_putc(b, l->is_tuple ? ')' : ']');
    }
    case JV_UNDEFINED: return 0;
    default: return jv_write_str(b, v);
    }
}

int jv_write_str(jbuf *b, const jv *v) {
    switch (v->type) {
    case JV_UNDEFINED: return 0;
    case JV_NONE: return jbuf_put(b, "None", 4);
    case JV_BOOL: return v->u.b ? jbuf_put(b, "True", 4) : jbuf_put(b, "False", 5);
    case JV_INT: return write_int(b, v->u.i);
    case JV_FLOAT: return jv_write_float(b, v->u.f);
    case JV_STRING: return jbuf_put(b, v->u.str.s, v->u.str.len);
    case JV_LIST: return jv_write_repr(b, v);
    case JV_DICT:
        if (v->u.dict->is_namespace) {
            if (jbuf_put(b, "<Namespace ", 11) || write_dict_body(b, v->u.dict)) return -1;
            return jbuf_putc(b, '>');
        }
        return write_dict_body(b, v->u.dict);
    case JV_FUNC: return jbuf_put(b, "<function>", 10);
    case JV_LOOP: return jbuf_put(b, "<LoopContext>", 13);
    }
    return 0;
}

static int write_json_str(jbuf *b, const char *s, size_t len) {
    if (jbuf_putc(b, '"')) return -1;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[8];
        int n = 0;
        switch (c) {
        case '"': n = snprintf(esc, sizeof esc, "\\\""); break;
        case '\\': n = snprintf(esc, sizeof esc, "\\\\"); break;
        case '\n': n = snprintf(esc, sizeof esc, "\\n"); break;
        case '\r': n = snprintf(esc, sizeof esc, "\\r"); break;
        case '\t': n = snprintf(esc, sizeof esc, "\\t"); break;
        case '\b': n = snprintf(esc, sizeof esc, "\\b"); break;
        case '\f': n = snprintf(esc, sizeof esc, "\\f"); break;
        default:
            if (c < 0x20) n = snprintf(esc, sizeof esc, "\\u%04x", c);
        }
        if (n) {
            if (jbuf_put(b, esc, n)) return -1;
        } else if (jbuf_putc(b, (char)c)) {
            return -1;
        }
    }
    return jbuf_putc(b, '"');
}

static int json_newline(jbuf *b, int indent, int level) {
    if (jbuf_putc(b, '\n')) return -1;
    for (int k = 0; k < indent * level; k++)
        if (jbuf_putc(b, ' ')) return -1;
    return 0;
}

static int key_cmp(const void *x, const void *y) {
    const jv *a = *(const jv *const *)x, *b = *(const jv *const *)y;
    size_t n = a->u.str.len < b->u.str.len ? a->u.str.len : b->u.str.len;
    int c = memcmp(a->u.str.s, b->u.str.s, n);
    return c ? c : (a->u.str.len > b->u.str.len) - (a->u.str.len < b->u.str.len);
}

int jv_write_json(jbuf *b, const jv *v, int indent, bool sort_keys, int level) {
    if (level > 200) return -2;
    switch (v->type) {
    case JV_NONE: return jbuf_put(b, "null", 4);
    case JV_BOOL: return v->u.b ? jbuf_put(b, "true", 4) : jbuf_put(b, "false", 5);
    case JV_INT: return write_int(b, v->u.i);
    case JV_FLOAT:
        if (isnan(v->u.f)) return jbuf_put(b, "NaN", 3);
        if (isinf(v->u.f)) return v->u.f > 0 ? jbuf_put(b, "Infinity", 8) : jbuf_put(b, "-Infinity", 9);
        return jv_write_float(b, v->u.f);
    case JV_STRING: return write_json_str(b, v->u.str.s, v->u.str.len);
    case JV_LIST: {
        const jv_list *l = v->u.list;
        if (l->is_gen) return -2;
        if (jbuf_putc(b, '[')) return -1;
        if (l->n == 0) return jbuf_putc(b, ']');
        for (size_t i = 0; i < l->n; i++) {
            if (i && jbuf_put(b, indent >= 0 ? "," : ", ", indent >= 0 ? 1 : 2)) return -1;
            if (indent >= 0 && json_newline(b, indent, level + 1)) return -1;
            int rc = jv_write_json(b, &l->items[i], indent, sort_keys, level + 1);
            if (rc) return rc;
        }
        if (indent >= 0 && json_newline(b, indent, level)) return -1;
        return jbuf_putc(b, ']');
    }
    case JV_DICT: {
        const jv_dict *d = v->u.dict;
        if (d->is_namespace) return -2;
        if (jbuf_putc(b, '{')) return -1;
        if (d->n == 0) return jbuf_putc(b, '}');
        /* order of keys: insertion, or sorted */
        const jv **order = malloc(d->n * sizeof *order);
        if (!order) return -1;
        for (size_t i = 0; i < d->n; i++) order[i] = &d->keys[i];
        if (sort_keys) qsort(order, d->n, sizeof *order, key_cmp);
        int rc = 0;
        for (size_t i = 0; i < d->n && !rc; i++) {
            size_t k = (size_t)(order[i] - d->keys);
            if (i && jbuf_put(b, indent >= 0 ? "," : ", ", indent >= 0 ? 1 : 2)) rc = -1;
            else if (indent >= 0 && json_newline(b, indent, level + 1)) rc = -1;
            else if (write_json_str(b, d->keys[k].u.str.s, d->keys[k].u.str.len) || jbuf_put(b, ": ", 2)) rc = -1;
            else rc = jv_write_json(b, &d->vals[k], indent, sort_keys, level + 1);
        }
        free(order);
        if (rc) return rc;
        if (indent >= 0 && json_newline(b, indent, level)) return -1;
        return jbuf_putc(b, '}');
    }
    default: return -2;
    }
}

/* ---- UTF-8 ---- */

uint32_t ju_next(const char *s, size_t len, size_t *i) {
    const unsigned char *p = (const unsigned char *)s + *i;
    size_t left = len - *i;
    uint32_t c = p[0];
    int n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n <= 1 || (size_t)n > left) { (*i)++; return c; }
    uint32_t cp = c & (0x7f >> n);
    for (int k = 1; k < n; k++) {
        if ((p[k] & 0xc0) != 0x80) { (*i)++; return c; }
        cp = (cp << 6) | (p[k] & 0x3f);
    }
    *i += (size_t)n;
    return cp;
}

size_t ju_count(const char *s, size_t len) {
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        ju_next(s, len, &i);
        n++;
    }
    return n;
}

bool ju_isspace(uint32_t c) {
    return (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20) || c == 0x85 || c == 0xa0 ||
           c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 ||
           c == 0x202f || c == 0x205f || c == 0x3000;
}
