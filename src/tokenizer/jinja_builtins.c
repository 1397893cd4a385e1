/* Jinja builtins: operators, attribute/item access, filters, tests, global
 * functions and the Python str/dict methods chat templates call, each with
 * Python's semantics (the output must equal what jinja2 prints). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <utf8proc.h>

#include "tokenizer/jinja_internal.h"

#define MAX_RANGE 100000 /* jinja2's sandbox limit */

static int oom(jrender *r, uint32_t pos) {
    return jr_fail(r, pos, "out of memory (the template's intermediate values passed the memory limit)");
}

static int undef_err(jrender *r, uint32_t pos, const jv *v) {
    if (v->u.str.s) return jr_fail(r, pos, "'%.*s' is undefined", (int)v->u.str.len, v->u.str.s);
    return jr_fail(r, pos, "use of an undefined value");
}

/* Moves a buffer into an arena string value. */
static int take_str(jrender *r, uint32_t pos, jbuf *b, jv *out) {
    char *s = ja_strdup(r->arena, b->data ? b->data : "", b->len);
    size_t len = b->len;
    jbuf_free(b);
    if (!s) return oom(r, pos);
    *out = jv_str(s, len);
    return 0;
}

int jb_str(jrender *r, const jv *v, jv *out) {
    if (v->type == JV_STRING) { *out = *v; return 0; }
    jbuf b = {0};
    if (jv_write_str(&b, v)) { jbuf_free(&b); return oom(r, 0); }
    return take_str(r, 0, &b, out);
}

static jv mk_list(jv_list *l) { jv v = {0}; v.type = JV_LIST; v.u.list = l; return v; }
static jv mk_gen(jv_list *l) { l->is_gen = true; return mk_list(l); }
static bool is_gen(const jv *v) { return v->type == JV_LIST && v->u.list->is_gen; }
static jv mk_dict(jv_dict *d) { jv v = {0}; v.type = JV_DICT; v.u.dict = d; return v; }

/* ---- iteration ---- */

static int str_chars(jrender *r, uint32_t pos, const jv *s, jv_list **out) {
    jv_list *l = jv_list_new(r->arena, 0);
    if (!l) return oom(r, pos);
    for (size_t i = 0; i < s->u.str.len;) {
        size_t st = i;
        ju_next(s->u.str.s, s->u.str.len, &i);
        if (jv_list_push(r->arena, l, jv_str(s->u.str.s + st, i - st))) return oom(r, pos);
    }
    *out = l;
    return 0;
}

int jb_iterate(jrender *r, uint32_t pos, const jv *v, const jv **items, size_t *n) {
    switch (v->type) {
    case JV_UNDEFINED: *items = NULL; *n = 0; return 0;
    case JV_LIST: *items = v->u.list->items; *n = v->u.list->n; return 0;
    case JV_DICT:
        if (v->u.dict->is_namespace) break;
        *items = v->u.dict->keys;
        *n = v->u.dict->n;
        return 0;
    case JV_STRING: {
        jv_list *l = NULL;
        if (str_chars(r, pos, v, &l)) return -1;
        *items = l->items;
        *n = l->n;
        return 0;
    }
    default: break;
    }
    return jr_fail(r, pos, "'%s' object is not iterable", jv_type_name(v));
}

/* ---- operators ---- */

static bool is_num(const jv *v) { return v->type == JV_BOOL || v->type == JV_INT || v->type == JV_FLOAT; }
static bool is_intlike(const jv *v) { return v->type == JV_BOOL || v->type == JV_INT; }
static int64_t as_int(const jv *v) { return v->type == JV_BOOL ? v->u.b : v->u.i; }
static double as_num(const jv *v) { return v->type == JV_FLOAT ? v->u.f : (double)as_int(v); }

static int type_err(jrender *r, uint32_t pos, const char *op, const jv *a, const jv *b) {
    return jr_fail(r, pos, "unsupported operand type(s) for %s: '%s' and '%s'", op, jv_type_name(a), jv_type_name(b));
}

static int repeat(jrender *r, uint32_t pos, const jv *seq, int64_t times, jv *out) {
    if (times < 0) times = 0;
    if (seq->type == JV_STRING) {
        if (seq->u.str.len && (uint64_t)times > r->arena->limit / seq->u.str.len) return oom(r, pos);
        jbuf b = {0};
        for (int64_t k = 0; k < times; k++)
            if (jbuf_put(&b, seq->u.str.s, seq->u.str.len)) { jbuf_free(&b); return oom(r, pos); }
        return take_str(r, pos, &b, out);
    }
    jv_list *l = jv_list_new(r->arena, 0);
    if (!l) return oom(r, pos);
    l->is_tuple = seq->u.list->is_tuple;
    if (seq->u.list->n && (uint64_t)times > r->arena->limit / (seq->u.list->n * sizeof(jv))) return oom(r, pos);
    for (int64_t k = 0; k < times; k++)
        for (size_t i = 0; i < seq->u.list->n; i++)
            if (jv_list_push(r->arena, l, seq->u.list->items[i])) return oom(r, pos);
    *out = mk_list(l);
    return 0;
}

static int compare_order(jrender *r, uint32_t pos, const char *op, const jv *a, const jv *b, int *cmp) {
    if (is_num(a) && is_num(b)) {
        if (is_intlike(a) && is_intlike(b)) *cmp = (as_int(a) > as_int(b)) - (as_int(a) < as_int(b));
        else *cmp = (as_num(a) > as_num(b)) - (as_num(a) < as_num(b));
        return 0;
    }
    if (a->type == JV_STRING && b->type == JV_STRING) {
        size_t n = a->u.str.len < b->u.str.len ? a->u.str.len : b->u.str.len;
        int c = memcmp(a->u.str.s, b->u.str.s, n); /* UTF-8 byte order is code point order */
        *cmp = c ? (c > 0) - (c < 0) : (a->u.str.len > b->u.str.len) - (a->u.str.len < b->u.str.len);
        return 0;
    }
    if (a->type == JV_LIST && b->type == JV_LIST && a->u.list->is_tuple == b->u.list->is_tuple) {
        size_t n = a->u.list->n < b->u.list->n ? a->u.list->n : b->u.list->n;
        for (size_t i = 0; i < n; i++) {
            if (jv_equal(&a->u.list->items[i], &b->u.list->items[i])) continue;
            return compare_order(r, pos, op, &a->u.list->items[i], &b->u.list->items[i], cmp);
        }
        *cmp = (a->u.list->n > b->u.list->n) - (a->u.list->n < b->u.list->n);
        return 0;
    }
    if (a->type == JV_UNDEFINED) return undef_err(r, pos, a);
    if (b->type == JV_UNDEFINED) return undef_err(r, pos, b);
    return jr_fail(r, pos, "'%s' not supported between instances of '%s' and '%s'", op, jv_type_name(a),
                   jv_type_name(b));
}

static int contains(jrender *r, uint32_t pos, const jv *needle, const jv *hay, bool *out) {
    switch (hay->type) {
    case JV_UNDEFINED: *out = false; return 0;
    case JV_STRING:
        if (needle->type != JV_STRING)
            return jr_fail(r, pos, "'in <string>' requires string as left operand, not %s", jv_type_name(needle));
        *out = needle->u.str.len == 0 ||
               memmem(hay->u.str.s, hay->u.str.len, needle->u.str.s, needle->u.str.len) != NULL;
        return 0;
    case JV_LIST:
        *out = false;
        for (size_t i = 0; i < hay->u.list->n && !*out; i++) *out = jv_equal(needle, &hay->u.list->items[i]);
        return 0;
    case JV_DICT:
        if (hay->u.dict->is_namespace) break;
        *out = needle->type == JV_STRING && jv_dict_get(hay->u.dict, needle->u.str.s, needle->u.str.len);
        return 0;
    default: break;
    }
    return jr_fail(r, pos, "argument of type '%s' is not iterable", jv_type_name(hay));
}

int jb_binop(jrender *r, uint32_t pos, jop op, const jv *a, const jv *b, jv *out) {
    static const char *const sym[] = {"+", "-", "*", "/", "//", "%", "**", "~",
                                      "==", "!=", "<", "<=", ">", ">=", "in", "not in"};
    switch (op) {
    case OP_EQ: *out = jv_bool(jv_equal(a, b)); return 0;
    case OP_NE: *out = jv_bool(!jv_equal(a, b)); return 0;
    case OP_LT: case OP_LE: case OP_GT: case OP_GE: {
        int c = 0;
        if (compare_order(r, pos, sym[op], a, b, &c)) return -1;
        *out = jv_bool(op == OP_LT ? c < 0 : op == OP_LE ? c <= 0 : op == OP_GT ? c > 0 : c >= 0);
        return 0;
    }
    case OP_IN: case OP_NOTIN: {
        bool in = false;
        if (contains(r, pos, a, b, &in)) return -1;
        *out = jv_bool(op == OP_IN ? in : !in);
        return 0;
    }
    case OP_CONCAT: {
        jbuf buf = {0};
        if (jv_write_str(&buf, a) || jv_write_str(&buf, b)) { jbuf_free(&buf); return oom(r, pos); }
        return take_str(r, pos, &buf, out);
    }
    default: break;
    }
    if (a->type == JV_UNDEFINED) return undef_err(r, pos, a);
    if (b->type == JV_UNDEFINED) return undef_err(r, pos, b);
    if (is_intlike(a) && is_intlike(b)) {
        int64_t x = as_int(a), y = as_int(b), z;
        switch (op) {
        case OP_ADD: if (__builtin_add_overflow(x, y, &z)) goto overflow; *out = jv_int(z); return 0;
        case OP_SUB: if (__builtin_sub_overflow(x, y, &z)) goto overflow; *out = jv_int(z); return 0;
        case OP_MUL: if (__builtin_mul_overflow(x, y, &z)) goto overflow; *out = jv_int(z); return 0;
        case OP_DIV:
            if (y == 0) return jr_fail(r, pos, "division by zero");
            *out = jv_float((double)x / (double)y);
            return 0;
        case OP_FLOORDIV: case OP_MOD: {
            if (y == 0) return jr_fail(r, pos, "integer division or modulo by zero");
            if (x == INT64_MIN && y == -1) goto overflow;
            int64_t q = x / y, m = x % y;
            if (m != 0 && ((m < 0) != (y < 0))) { q--; m += y; }
            *out = jv_int(op == OP_FLOORDIV ? q : m);
            return 0;
        }
        case OP_POW: {
            if (y < 0) { *out = jv_float(pow((double)x, (double)y)); return 0; }
            int64_t acc = 1, base = x;
            for (int64_t e = y; e > 0; e >>= 1) {
                if ((e & 1) && __builtin_mul_overflow(acc, base, &acc)) goto overflow;
                if (e > 1 && __builtin_mul_overflow(base, base, &base)) goto overflow;
            }
            *out = jv_int(acc);
            return 0;
        }
        default: break;
        }
    }
    if (is_num(a) && is_num(b)) {
        double x = as_num(a), y = as_num(b);
        switch (op) {
        case OP_ADD: *out = jv_float(x + y); return 0;
        case OP_SUB: *out = jv_float(x - y); return 0;
        case OP_MUL: *out = jv_float(x * y); return 0;
        case OP_DIV:
            if (y == 0) return jr_fail(r, pos, "float division by zero");
            *out = jv_float(x / y);
            return 0;
        case OP_FLOORDIV: case OP_MOD: { /* Python's float divmod */
            if (y == 0) return jr_fail(r, pos, op == OP_MOD ? "float modulo by zero" : "float floor division by zero");
            double m = fmod(x, y), d = (x - m) / y, fd;
            if (m != 0) {
                if ((y < 0) != (m < 0)) { m += y; d -= 1.0; }
            } else {
                m = copysign(0.0, y);
            }
            if (d != 0) {
                fd = floor(d);
                if (d - fd > 0.5) fd += 1.0;
            } else {
                fd = copysign(0.0, x / y);
            }
            *out = jv_float(op == OP_FLOORDIV ? fd : m);
            return 0;
        }
        case OP_POW: *out = jv_float(pow(x, y)); return 0;
        default: break;
        }
    }
    if (op == OP_ADD) {
        if (a->type == JV_STRING && b->type == JV_STRING) {
            jbuf buf = {0};
            if (jbuf_put(&buf, a->u.str.s, a->u.str.len) || jbuf_put(&buf, b->u.str.s, b->u.str.len)) {
                jbuf_free(&buf);
                return oom(r, pos);
            }
            return take_str(r, pos, &buf, out);
        }
        if (a->type == JV_STRING)
            return jr_fail(r, pos, "can only concatenate str (not \"%s\") to str", jv_type_name(b));
        if (a->type == JV_LIST && b->type == JV_LIST && a->u.list->is_tuple == b->u.list->is_tuple && !is_gen(a) &&
            !is_gen(b)) {
            jv_list *l = jv_list_new(r->arena, a->u.list->n + b->u.list->n);
            if (!l) return oom(r, pos);
            l->is_tuple = a->u.list->is_tuple;
            for (size_t i = 0; i < a->u.list->n; i++) jv_list_push(r->arena, l, a->u.list->items[i]);
            for (size_t i = 0; i < b->u.list->n; i++) jv_list_push(r->arena, l, b->u.list->items[i]);
            *out = mk_list(l);
            return 0;
        }
    }
    if (op == OP_MUL) {
        if ((a->type == JV_STRING || a->type == JV_LIST) && is_intlike(b)) return repeat(r, pos, a, as_int(b), out);
        if ((b->type == JV_STRING || b->type == JV_LIST) && is_intlike(a)) return repeat(r, pos, b, as_int(a), out);
    }
    if (op == OP_MOD && a->type == JV_STRING)
        return jr_fail(r, pos, "unsupported construct: printf-style string formatting with '%%'");
    return type_err(r, pos, sym[op], a, b);
overflow:
    return jr_fail(r, pos, "integer overflow in '%s' (this interpreter's integers are 64-bit)", sym[op]);
}

/* ---- attribute and item access ---- */

static const char *const STR_METHODS[] = {
    "strip", "lstrip", "rstrip", "split", "rsplit", "startswith", "endswith", "replace", "lower", "upper",
    "title", "capitalize", "find", "rfind", "count", "join", "isdigit", "isalpha", "isalnum", "isspace",
    "islower", "isupper", NULL};
static const char *const DICT_METHODS[] = {"items", "keys", "values", "get", NULL};

static bool name_in(const char *name, size_t len, const char *const *list) {
    for (int k = 0; list[k]; k++)
        if (strlen(list[k]) == len && memcmp(list[k], name, len) == 0) return true;
    return false;
}

static bool name_is(const char *name, size_t len, const char *lit) {
    return strlen(lit) == len && memcmp(name, lit, len) == 0;
}

static int bind_method(jrender *r, uint32_t pos, const jv *self, const char *name, size_t len, jv_func_kind kind,
                       jv *out) {
    jv_func *f = ja_alloc(r->arena, sizeof *f);
    char *nm = ja_strdup(r->arena, name, len);
    if (!f || !nm) return oom(r, pos);
    f->kind = kind;
    f->name = nm;
    f->self = *self;
    out->type = JV_FUNC;
    out->u.func = f;
    return 0;
}

static int loop_attr(jrender *r, uint32_t pos, const jv *obj, const char *name, size_t len, jv *out) {
    const jv_loop *L = obj->u.loop;
    int64_t i0 = (int64_t)L->index0, n = (int64_t)L->length;
    if (name_is(name, len, "index0")) *out = jv_int(i0);
    else if (name_is(name, len, "index")) *out = jv_int(i0 + 1);
    else if (name_is(name, len, "revindex")) *out = jv_int(n - i0);
    else if (name_is(name, len, "revindex0")) *out = jv_int(n - i0 - 1);
    else if (name_is(name, len, "first")) *out = jv_bool(i0 == 0);
    else if (name_is(name, len, "last")) *out = jv_bool(i0 == n - 1);
    else if (name_is(name, len, "length")) *out = jv_int(n);
    else if (name_is(name, len, "depth")) *out = jv_int(1);
    else if (name_is(name, len, "depth0")) *out = jv_int(0);
    else if (name_is(name, len, "previtem")) *out = i0 > 0 ? L->items[i0 - 1] : jv_undef();
    else if (name_is(name, len, "nextitem")) *out = i0 + 1 < n ? L->items[i0 + 1] : jv_undef();
    else if (name_is(name, len, "cycle")) return bind_method(r, pos, obj, name, len, JF_CYCLE, out);
    else *out = jv_undef();
    return 0;
}

int jb_getattr(jrender *r, uint32_t pos, const jv *obj, const char *name, size_t len, jv *out) {
    switch (obj->type) {
    case JV_UNDEFINED: return undef_err(r, pos, obj);
    case JV_DICT:
        if (!obj->u.dict->is_namespace && name_in(name, len, DICT_METHODS))
            return bind_method(r, pos, obj, name, len, JF_METHOD, out);
        {
            const jv *v = jv_dict_get(obj->u.dict, name, len);
            *out = v ? *v : jv_undef();
        }
        return 0;
    case JV_STRING:
        if (name_in(name, len, STR_METHODS)) return bind_method(r, pos, obj, name, len, JF_METHOD, out);
        *out = jv_undef();
        return 0;
    case JV_LOOP: return loop_attr(r, pos, obj, name, len, out);
    default: *out = jv_undef(); return 0;
    }
}

int jb_getitem(jrender *r, uint32_t pos, const jv *obj, const jv *key, jv *out) {
    switch (obj->type) {
    case JV_UNDEFINED: return undef_err(r, pos, obj);
    case JV_DICT: case JV_LOOP:
        if (key->type != JV_STRING) { *out = jv_undef(); return 0; }
        if (obj->type == JV_DICT) { /* d['k']: the key first, then (as jinja2) the attribute */
            const jv *v = jv_dict_get(obj->u.dict, key->u.str.s, key->u.str.len);
            if (v) { *out = *v; return 0; }
        }
        return jb_getattr(r, pos, obj, key->u.str.s, key->u.str.len, out);
    case JV_LIST: case JV_STRING: {
        if (!is_intlike(key) || is_gen(obj)) { *out = jv_undef(); return 0; }
        int64_t i = as_int(key);
        if (obj->type == JV_LIST) {
            int64_t n = (int64_t)obj->u.list->n;
            if (i < 0) i += n;
            *out = (i >= 0 && i < n) ? obj->u.list->items[i] : jv_undef();
            return 0;
        }
        int64_t n = (int64_t)ju_count(obj->u.str.s, obj->u.str.len);
        if (i < 0) i += n;
        if (i < 0 || i >= n) { *out = jv_undef(); return 0; }
        size_t p = 0;
        for (int64_t k = 0; k < i; k++) ju_next(obj->u.str.s, obj->u.str.len, &p);
        size_t st = p;
        ju_next(obj->u.str.s, obj->u.str.len, &p);
        *out = jv_str(obj->u.str.s + st, p - st);
        return 0;
    }
    default: *out = jv_undef(); return 0;
    }
}

/* ---- argument helpers ---- */

/* The argument named kw or at position idx (after the implicit ones). */
static const jv *arg(const jargs *a, int idx, const char *kw) {
    if (idx >= 0 && idx < a->n_pos) return &a->pos[idx];
    for (int k = 0; kw && k < a->n_kw; k++)
        if (name_is(a->kw_names[k], a->kw_lens[k], kw)) return &a->kw[k];
    return NULL;
}

static int check_args(jrender *r, uint32_t pos, const char *what, const jargs *a, int max_pos,
                      const char *const *kws) {
    if (a->n_pos > max_pos) return jr_fail(r, pos, "%s takes at most %d positional argument(s), got %d", what, max_pos, a->n_pos);
    for (int k = 0; k < a->n_kw; k++) {
        bool ok = false;
        for (int j = 0; kws && kws[j]; j++) ok |= name_is(a->kw_names[k], a->kw_lens[k], kws[j]);
        if (!ok) return jr_fail(r, pos, "%s got an unexpected keyword argument '%.*s'", what, (int)a->kw_lens[k], a->kw_names[k]);
    }
    return 0;
}

static int need_str(jrender *r, uint32_t pos, const char *what, const jv *v) {
    if (v->type == JV_STRING) return 0;
    return jr_fail(r, pos, "%s expects a string, got '%s'", what, jv_type_name(v));
}

/* ---- string operations ---- */

/* Is code point cp in the set given by chars (NULL: whitespace)? */
static bool in_set(uint32_t cp, const jv *chars) {
    if (!chars || chars->type == JV_NONE) return ju_isspace(cp);
    for (size_t i = 0; i < chars->u.str.len;)
        if (ju_next(chars->u.str.s, chars->u.str.len, &i) == cp) return true;
    return false;
}

static jv do_strip(const jv *s, const jv *chars, bool left, bool right) {
    const char *p = s->u.str.s;
    size_t st = 0, en = s->u.str.len;
    if (left) {
        while (st < en) {
            size_t i = st;
            uint32_t cp = ju_next(p, en, &i);
            if (!in_set(cp, chars)) break;
            st = i;
        }
    }
    if (right) {
        while (en > st) {
            size_t b = en - 1;
            while (b > st && ((unsigned char)p[b] & 0xc0) == 0x80) b--;
            size_t i = b;
            uint32_t cp = ju_next(p, en, &i);
            if (i != en || !in_set(cp, chars)) break;
            en = b;
        }
    }
    return jv_str(p + st, en - st);
}

static int do_split(jrender *r, uint32_t pos, const jv *s, const jv *sep, int64_t maxsplit, bool from_right, jv *out) {
    jv_list *l = jv_list_new(r->arena, 0);
    if (!l) return oom(r, pos);
    const char *p = s->u.str.s;
    size_t n = s->u.str.len;
    if (sep && sep->type != JV_NONE) {
        if (need_str(r, pos, "split()", sep)) return -1;
        size_t k = sep->u.str.len;
        if (k == 0) return jr_fail(r, pos, "empty separator");
        if (!from_right) {
            size_t st = 0;
            int64_t splits = 0;
            for (;;) {
                const char *hit = (maxsplit < 0 || splits < maxsplit) ? memmem(p + st, n - st, sep->u.str.s, k) : NULL;
                if (!hit) break;
                if (jv_list_push(r->arena, l, jv_str(p + st, (size_t)(hit - (p + st))))) return oom(r, pos);
                st = (size_t)(hit - p) + k;
                splits++;
            }
            if (jv_list_push(r->arena, l, jv_str(p + st, n - st))) return oom(r, pos);
        } else {
            /* collect from the right, then reverse */
            size_t en = n;
            int64_t splits = 0;
            while (maxsplit < 0 || splits < maxsplit) {
                size_t found = (size_t)-1;
                for (size_t i = en >= k ? en - k + 1 : 0; i-- > 0;)
                    if (memcmp(p + i, sep->u.str.s, k) == 0) { found = i; break; }
                if (found == (size_t)-1) break;
                if (jv_list_push(r->arena, l, jv_str(p + found + k, en - found - k))) return oom(r, pos);
                en = found;
                splits++;
            }
            if (jv_list_push(r->arena, l, jv_str(p, en))) return oom(r, pos);
            for (size_t i = 0; i < l->n / 2; i++) {
                jv t = l->items[i];
                l->items[i] = l->items[l->n - 1 - i];
                l->items[l->n - 1 - i] = t;
            }
        }
    } else if (!from_right) { /* runs of whitespace */
        size_t i = 0;
        int64_t splits = 0;
        for (;;) {
            while (i < n) { size_t j = i; if (!ju_isspace(ju_next(p, n, &j))) break; i = j; }
            if (i >= n) break;
            if (maxsplit >= 0 && splits >= maxsplit) {
                if (jv_list_push(r->arena, l, jv_str(p + i, n - i))) return oom(r, pos);
                break;
            }
            size_t st = i;
            while (i < n) { size_t j = i; if (ju_isspace(ju_next(p, n, &j))) break; i = j; }
            if (jv_list_push(r->arena, l, jv_str(p + st, i - st))) return oom(r, pos);
            splits++;
        }
    } else {
        jv trimmed = do_strip(s, NULL, false, true);
        size_t en = trimmed.u.str.len;
        int64_t splits = 0;
        while (en > 0) {
            if (maxsplit >= 0 && splits >= maxsplit) {
                if (jv_list_push(r->arena, l, jv_str(p, en))) return oom(r, pos);
                break;
            }
            size_t st = en;
            while (st > 0) {
                size_t b = st - 1;
                while (b > 0 && ((unsigned char)p[b] & 0xc0) == 0x80) b--;
                size_t j = b;
                if (ju_isspace(ju_next(p, n, &j))) break;
                st = b;
            }
            if (jv_list_push(r->arena, l, jv_str(p + st, en - st))) return oom(r, pos);
            splits++;
            en = st;
            while (en > 0) { /* skip the whitespace run */
                size_t b = en - 1;
                while (b > 0 && ((unsigned char)p[b] & 0xc0) == 0x80) b--;
                size_t j = b;
                if (!ju_isspace(ju_next(p, n, &j))) break;
                en = b;
            }
        }
        for (size_t i = 0; i < l->n / 2; i++) {
            jv t = l->items[i];
            l->items[i] = l->items[l->n - 1 - i];
            l->items[l->n - 1 - i] = t;
        }
    }
    *out = mk_list(l);
    return 0;
}

static int do_replace(jrender *r, uint32_t pos, const jv *s, const jv *old, const jv *rep, int64_t count, jv *out) {
    if (need_str(r, pos, "replace()", old) || need_str(r, pos, "replace()", rep)) return -1;
    jbuf b = {0};
    const char *p = s->u.str.s;
    size_t n = s->u.str.len, k = old->u.str.len;
    int64_t done = 0;
    int rc = 0;
    if (k == 0) { /* inserts between code points and at both ends */
        size_t i = 0;
        for (;;) {
            if (count < 0 || done < count) { rc |= jbuf_put(&b, rep->u.str.s, rep->u.str.len); done++; }
            if (i >= n) break;
            size_t st = i;
            ju_next(p, n, &i);
            rc |= jbuf_put(&b, p + st, i - st);
        }
    } else {
        size_t st = 0;
        for (;;) {
            const char *hit = (count < 0 || done < count) ? memmem(p + st, n - st, old->u.str.s, k) : NULL;
            if (!hit) break;
            rc |= jbuf_put(&b, p + st, (size_t)(hit - (p + st)));
            rc |= jbuf_put(&b, rep->u.str.s, rep->u.str.len);
            st = (size_t)(hit - p) + k;
            done++;
        }
        rc |= jbuf_put(&b, p + st, n - st);
    }
    if (rc) { jbuf_free(&b); return oom(r, pos); }
    return take_str(r, pos, &b, out);
}

typedef enum { CASE_LOWER, CASE_UPPER, CASE_TITLE, CASE_CAPITALIZE, CASE_JINJA_TITLE } case_mode;

static bool is_cased(uint32_t cp) {
    utf8proc_category_t c = utf8proc_category((utf8proc_int32_t)cp);
    return c == UTF8PROC_CATEGORY_LU || c == UTF8PROC_CATEGORY_LL || c == UTF8PROC_CATEGORY_LT;
}

static bool jinja_title_sep(uint32_t cp) {
    return cp == '-' || cp == '(' || cp == '{' || cp == '[' || cp == '<' || ju_isspace(cp);
}

/* lower/upper use simple (one-to-one) case mapping; Python's full mapping
 * differs only for a few characters such as U+00DF. */
static int do_case(jrender *r, uint32_t pos, const jv *s, case_mode mode, jv *out) {
    jbuf b = {0};
    const char *p = s->u.str.s;
    size_t n = s->u.str.len, i = 0;
    bool prev_cased = false, first = true;
    int rc = 0;
    while (i < n && !rc) {
        uint32_t cp = ju_next(p, n, &i), m;
        switch (mode) {
        case CASE_LOWER: m = (uint32_t)utf8proc_tolower((utf8proc_int32_t)cp); break;
        case CASE_UPPER: m = (uint32_t)utf8proc_toupper((utf8proc_int32_t)cp); break;
        case CASE_CAPITALIZE:
            m = first ? (uint32_t)utf8proc_totitle((utf8proc_int32_t)cp) : (uint32_t)utf8proc_tolower((utf8proc_int32_t)cp);
            break;
        case CASE_TITLE:
            m = prev_cased ? (uint32_t)utf8proc_tolower((utf8proc_int32_t)cp) : (uint32_t)utf8proc_totitle((utf8proc_int32_t)cp);
            prev_cased = is_cased(cp);
            break;
        default: /* jinja's title filter: words start after runs of -({[< or whitespace */
            if (jinja_title_sep(cp)) { m = cp; prev_cased = false; }
            else { m = prev_cased ? (uint32_t)utf8proc_tolower((utf8proc_int32_t)cp) : (uint32_t)utf8proc_toupper((utf8proc_int32_t)cp); prev_cased = true; }
            break;
        }
        first = false;
        utf8proc_uint8_t enc[4];
        utf8proc_ssize_t k = utf8proc_encode_char((utf8proc_int32_t)m, enc);
        rc = jbuf_put(&b, (const char *)enc, (size_t)k);
    }
    if (rc) { jbuf_free(&b); return oom(r, pos); }
    return take_str(r, pos, &b, out);
}

static int64_t cp_index(const char *p, size_t byte_off) { return (int64_t)ju_count(p, byte_off); }

static int str_method(jrender *r, uint32_t pos, const jv *s, const char *name, const jargs *a, jv *out) {
    const jv *a0 = arg(a, 0, NULL), *a1 = arg(a, 1, NULL);
    if (a->n_kw && !name_is(name, strlen(name), "split") && !name_is(name, strlen(name), "rsplit"))
        return jr_fail(r, pos, "str.%s() takes no keyword arguments", name);
    if (!strcmp(name, "strip") || !strcmp(name, "lstrip") || !strcmp(name, "rstrip")) {
        if (a0 && a0->type != JV_NONE && need_str(r, pos, name, a0)) return -1;
        *out = do_strip(s, a0, name[0] != 'r', name[0] != 'l');
        return 0;
    }
    if (!strcmp(name, "split") || !strcmp(name, "rsplit")) {
        static const char *const kws[] = {"sep", "maxsplit", NULL};
        if (check_args(r, pos, name, a, 2, kws)) return -1;
        const jv *sep = arg(a, 0, "sep"), *mx = arg(a, 1, "maxsplit");
        if (mx && !is_intlike(mx)) return jr_fail(r, pos, "%s(): maxsplit must be an integer", name);
        return do_split(r, pos, s, sep, mx ? as_int(mx) : -1, name[0] == 'r', out);
    }
    if (!strcmp(name, "startswith") || !strcmp(name, "endswith")) {
        if (!a0 || a->n_pos > 1) return jr_fail(r, pos, "str.%s() takes exactly one argument here", name);
        const jv *cands = a0->type == JV_LIST ? a0->u.list->items : a0;
        size_t nc = a0->type == JV_LIST ? a0->u.list->n : 1;
        bool res = false;
        for (size_t k = 0; k < nc; k++) {
            if (need_str(r, pos, name, &cands[k])) return -1;
            size_t kl = cands[k].u.str.len;
            if (kl > s->u.str.len) continue;
            const char *at = name[0] == 's' ? s->u.str.s : s->u.str.s + s->u.str.len - kl;
            if (memcmp(at, cands[k].u.str.s, kl) == 0) res = true;
        }
        *out = jv_bool(res);
        return 0;
    }
    if (!strcmp(name, "replace")) {
        if (!a0 || !a1) return jr_fail(r, pos, "str.replace() needs old and new");
        const jv *cnt = arg(a, 2, NULL);
        if (cnt && !is_intlike(cnt)) return jr_fail(r, pos, "str.replace(): count must be an integer");
        return do_replace(r, pos, s, a0, a1, cnt ? as_int(cnt) : -1, out);
    }
    if (!strcmp(name, "lower")) return do_case(r, pos, s, CASE_LOWER, out);
    if (!strcmp(name, "upper")) return do_case(r, pos, s, CASE_UPPER, out);
    if (!strcmp(name, "title")) return do_case(r, pos, s, CASE_TITLE, out);
    if (!strcmp(name, "capitalize")) return do_case(r, pos, s, CASE_CAPITALIZE, out);
    if (!strcmp(name, "find") || !strcmp(name, "rfind") || !strcmp(name, "count")) {
        if (!a0 || a->n_pos > 1 || need_str(r, pos, name, a0))
            return jr_fail(r, pos, "str.%s() takes exactly one string argument here", name);
        const char *p = s->u.str.s;
        size_t n = s->u.str.len, k = a0->u.str.len;
        if (!strcmp(name, "count")) {
            if (k == 0) { *out = jv_int((int64_t)ju_count(p, n) + 1); return 0; }
            int64_t c = 0;
            for (const char *h = p; (h = memmem(h, n - (size_t)(h - p), a0->u.str.s, k)); h += k) c++;
            *out = jv_int(c);
            return 0;
        }
        int64_t found = -1;
        if (name[0] == 'f') {
            const char *h = memmem(p, n, a0->u.str.s, k);
            if (h) found = cp_index(p, (size_t)(h - p));
        } else {
            for (size_t i = n >= k ? n - k + 1 : 0; i-- > 0;)
                if (memcmp(p + i, a0->u.str.s, k) == 0) { found = cp_index(p, i); break; }
        }
        *out = jv_int(found);
        return 0;
    }
    if (!strcmp(name, "join")) {
        if (!a0 || a->n_pos > 1) return jr_fail(r, pos, "str.join() takes exactly one argument");
        const jv *items;
        size_t n;
        if (jb_iterate(r, pos, a0, &items, &n)) return -1;
        jbuf b = {0};
        for (size_t k = 0; k < n; k++) {
            if (items[k].type != JV_STRING) {
                jbuf_free(&b);
                return jr_fail(r, pos, "sequence item %zu: expected str instance, %s found", k, jv_type_name(&items[k]));
            }
            if ((k && jbuf_put(&b, s->u.str.s, s->u.str.len)) || jbuf_put(&b, items[k].u.str.s, items[k].u.str.len)) {
                jbuf_free(&b);
                return oom(r, pos);
            }
        }
        return take_str(r, pos, &b, out);
    }
    /* is* predicates: true if non-empty and every code point passes */
    size_t i = 0, n = s->u.str.len;
    bool all = n > 0, any_cased = false, ok_lower = true, ok_upper = true;
    while (i < n) {
        uint32_t cp = ju_next(s->u.str.s, n, &i);
        utf8proc_category_t c = utf8proc_category((utf8proc_int32_t)cp);
        bool alpha = c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_LO;
        bool digit = c == UTF8PROC_CATEGORY_ND;
        if (!strcmp(name, "isdigit")) all &= digit;
        else if (!strcmp(name, "isalpha")) all &= alpha;
        else if (!strcmp(name, "isalnum")) all &= alpha || digit || c == UTF8PROC_CATEGORY_NL || c == UTF8PROC_CATEGORY_NO;
        else if (!strcmp(name, "isspace")) all &= ju_isspace(cp);
        if (c == UTF8PROC_CATEGORY_LU || c == UTF8PROC_CATEGORY_LT) { any_cased = true; ok_lower = false; }
        if (c == UTF8PROC_CATEGORY_LL) { any_cased = true; ok_upper = false; }
    }
    if (!strcmp(name, "islower")) { *out = jv_bool(any_cased && ok_lower); return 0; }
    if (!strcmp(name, "isupper")) { *out = jv_bool(any_cased && ok_upper); return 0; }
    *out = jv_bool(all);
    return 0;
}

static int dict_items(jrender *r, uint32_t pos, const jv_dict *d, jv *out) {
    jv_list *l = jv_list_new(r->arena, d->n);
    if (!l) return oom(r, pos);
    for (size_t i = 0; i < d->n; i++) {
        jv_list *pair = jv_list_new(r->arena, 2);
        if (!pair) return oom(r, pos);
        pair->is_tuple = true;
        jv_list_push(r->arena, pair, d->keys[i]);
        jv_list_push(r->arena, pair, d->vals[i]);
        jv_list_push(r->arena, l, mk_list(pair));
    }
    *out = mk_list(l);
    return 0;
}

static int dict_method(jrender *r, uint32_t pos, const jv *self, const char *name, const jargs *a, jv *out) {
    const jv_dict *d = self->u.dict;
    if (!strcmp(name, "items")) return dict_items(r, pos, d, out);
    if (!strcmp(name, "keys") || !strcmp(name, "values")) {
        jv_list *l = jv_list_new(r->arena, d->n);
        if (!l) return oom(r, pos);
        for (size_t i = 0; i < d->n; i++) jv_list_push(r->arena, l, name[0] == 'k' ? d->keys[i] : d->vals[i]);
        *out = mk_list(l);
        return 0;
    }
    /* get(key, default=None) */
    const jv *key = arg(a, 0, NULL), *dflt = arg(a, 1, NULL);
    if (!key) return jr_fail(r, pos, "dict.get() needs a key");
    const jv *v = key->type == JV_STRING ? jv_dict_get(d, key->u.str.s, key->u.str.len) : NULL;
    *out = v ? *v : dflt ? *dflt : jv_none();
    return 0;
}

/* ---- calls ---- */

int jb_call(jrender *r, uint32_t pos, const jv *fn, const jargs *a, jv *out) {
    const jv_func *f = fn->u.func;
    switch (f->kind) {
    case JF_RANGE: {
        if (a->n_kw || a->n_pos < 1 || a->n_pos > 3) return jr_fail(r, pos, "range() takes 1 to 3 integer arguments");
        for (int k = 0; k < a->n_pos; k++)
            if (!is_intlike(&a->pos[k]))
                return jr_fail(r, pos, "range(): '%s' object cannot be interpreted as an integer", jv_type_name(&a->pos[k]));
        int64_t start = a->n_pos > 1 ? as_int(&a->pos[0]) : 0;
        int64_t stop = a->n_pos > 1 ? as_int(&a->pos[1]) : as_int(&a->pos[0]);
        int64_t stepv = a->n_pos > 2 ? as_int(&a->pos[2]) : 1;
        if (stepv == 0) return jr_fail(r, pos, "range() arg 3 must not be zero");
        double count = stepv > 0 ? ceil(((double)stop - (double)start) / (double)stepv)
                                 : ceil(((double)start - (double)stop) / (double)-stepv);
        if (count < 0) count = 0;
        if (count > MAX_RANGE)
            return jr_fail(r, pos, "range too big: %.0f items (the sandbox limit is %d)", count, MAX_RANGE);
        jv_list *l = jv_list_new(r->arena, (size_t)count);
        if (!l) return oom(r, pos);
        for (int64_t k = 0; k < (int64_t)count; k++) jv_list_push(r->arena, l, jv_int(start + k * stepv));
        *out = mk_list(l);
        return 0;
    }
    case JF_NAMESPACE: case JF_DICT: {
        jv_dict *d = jv_dict_new(r->arena, (size_t)a->n_kw);
        if (!d) return oom(r, pos);
        d->is_namespace = f->kind == JF_NAMESPACE;
        if (a->n_pos > 1) return jr_fail(r, pos, "%s() takes at most one positional argument", f->name);
        if (a->n_pos == 1) {
            if (a->pos[0].type != JV_DICT) return jr_fail(r, pos, "%s(): positional argument must be a dict", f->name);
            const jv_dict *src = a->pos[0].u.dict;
            for (size_t i = 0; i < src->n; i++)
                if (jv_dict_set(r->arena, d, src->keys[i].u.str.s, src->keys[i].u.str.len, src->vals[i])) return oom(r, pos);
        }
        for (int k = 0; k < a->n_kw; k++) {
            if (d->is_namespace && a->kw_names[k][0] == '_')
                return jr_fail(r, pos, "namespace attributes cannot start with '_'");
            if (jv_dict_set(r->arena, d, a->kw_names[k], a->kw_lens[k], a->kw[k])) return oom(r, pos);
        }
        *out = mk_dict(d);
        return 0;
    }
    case JF_RAISE: {
        jv msg = jv_str("", 0);
        if (a->n_pos > 0 && jb_str(r, &a->pos[0], &msg)) return -1;
        return jr_fail(r, pos, "the template raised an exception: %.*s", (int)msg.u.str.len, msg.u.str.s);
    }
    case JF_STRFTIME: {
        if (a->n_pos != 1 || a->pos[0].type != JV_STRING) return jr_fail(r, pos, "strftime_now() takes one format string");
        char fmt[256], buf[512];
        snprintf(fmt, sizeof fmt, "%.*s", (int)a->pos[0].u.str.len, a->pos[0].u.str.s);
        time_t now = time(NULL);
        struct tm tmv;
        localtime_r(&now, &tmv);
        size_t n = strftime(buf, sizeof buf, fmt, &tmv);
        char *s = ja_strdup(r->arena, buf, n);
        if (!s) return oom(r, pos);
        *out = jv_str(s, n);
        return 0;
    }
    case JF_CYCLE: {
        if (a->n_pos == 0) return jr_fail(r, pos, "loop.cycle() needs at least one argument");
        *out = a->pos[f->self.u.loop->index0 % (size_t)a->n_pos];
        return 0;
    }
    case JF_METHOD:
        if (f->self.type == JV_STRING) return str_method(r, pos, &f->self, f->name, a, out);
        if (f->self.type == JV_DICT) return dict_method(r, pos, &f->self, f->name, a, out);
        break;
    case JF_MACRO: /* called by the evaluator, which owns statement execution */
        break;
    }
    return jr_fail(r, pos, "'%s' is not callable", f->name ? f->name : "value");
}

/* ---- tests ---- */

int jb_test(jrender *r, uint32_t pos, const char *name, size_t nlen, const jv *v, const jargs *a, bool *out) {
    const jv *a0 = arg(a, 0, NULL);
#define IS(lit) name_is(name, nlen, lit)
    if (IS("defined")) *out = v->type != JV_UNDEFINED;
    else if (IS("undefined")) *out = v->type == JV_UNDEFINED;
    else if (IS("none")) *out = v->type == JV_NONE;
    else if (IS("boolean")) *out = v->type == JV_BOOL;
    else if (IS("true")) *out = v->type == JV_BOOL && v->u.b;
    else if (IS("false")) *out = v->type == JV_BOOL && !v->u.b;
    else if (IS("integer")) *out = v->type == JV_INT;
    else if (IS("float")) *out = v->type == JV_FLOAT;
    else if (IS("number")) *out = is_num(v);
    else if (IS("string")) *out = v->type == JV_STRING;
    else if (IS("mapping")) *out = v->type == JV_DICT && !v->u.dict->is_namespace;
    else if (IS("sequence")) *out = v->type == JV_STRING || (v->type == JV_LIST && !v->u.list->is_gen) ||
                                    (v->type == JV_DICT && !v->u.dict->is_namespace);
    else if (IS("iterable")) *out = v->type == JV_STRING || v->type == JV_LIST || v->type == JV_UNDEFINED ||
                                    (v->type == JV_DICT && !v->u.dict->is_namespace);
    else if (IS("callable")) *out = v->type == JV_FUNC;
    else if (IS("odd") || IS("even") || IS("divisibleby")) {
        if (!is_intlike(v)) return jr_fail(r, pos, "test '%.*s' needs an integer, got '%s'", (int)nlen, name, jv_type_name(v));
        int64_t m = IS("divisibleby") ? (a0 && is_intlike(a0) ? as_int(a0) : 0) : 2;
        if (m == 0) return jr_fail(r, pos, "divisibleby needs a non-zero integer argument");
        int64_t rem = as_int(v) % m;
        *out = IS("odd") ? rem != 0 : rem == 0;
    } else if (IS("lower") || IS("upper")) { /* on str(value), as jinja2 */
        jargs none = {0};
        jv res, s;
        if (jb_str(r, v, &s) || str_method(r, pos, &s, IS("lower") ? "islower" : "isupper", &none, &res)) return -1;
        *out = res.u.b;
    } else {
        jop op;
        if (IS("eq") || IS("equalto") || IS("==")) op = OP_EQ;
        else if (IS("ne") || IS("!=")) op = OP_NE;
        else if (IS("lt") || IS("lessthan") || IS("<")) op = OP_LT;
        else if (IS("le") || IS("<=")) op = OP_LE;
        else if (IS("gt") || IS("greaterthan") || IS(">")) op = OP_GT;
        else if (IS("ge") || IS(">=")) op = OP_GE;
        else if (IS("in")) op = OP_IN;
        else if (IS("sameas")) {
            if (!a0) return jr_fail(r, pos, "test 'sameas' needs an argument");
            *out = (v->type == a0->type) && (v->type == JV_NONE || v->type == JV_UNDEFINED ||
                                             (v->type == JV_BOOL && v->u.b == a0->u.b) || jv_equal(v, a0));
            return 0;
        } else
            return jr_fail(r, pos, "unknown test '%.*s'", (int)nlen, name);
        if (!a0) return jr_fail(r, pos, "test '%.*s' needs an argument", (int)nlen, name);
        jv res;
        if (jb_binop(r, pos, op, v, a0, &res)) return -1;
        *out = res.u.b;
    }
#undef IS
    return 0;
}

/* ---- filters ---- */

static int seq_of(jrender *r, uint32_t pos, const jv *v, const jv **items, size_t *n) {
    return jb_iterate(r, pos, v, items, n);
}

/* attribute lookup for selectattr / map / join: "a.b" walks nested keys */
static int attr_path(jrender *r, uint32_t pos, const jv *obj, const jv *path, jv *out) {
    if (path->type == JV_INT) return jb_getitem(r, pos, obj, path, out);
    if (need_str(r, pos, "attribute", path)) return -1;
    jv cur = *obj;
    const char *p = path->u.str.s, *end = p + path->u.str.len;
    while (p <= end) {
        const char *dot = memchr(p, '.', (size_t)(end - p));
        size_t len = dot ? (size_t)(dot - p) : (size_t)(end - p);
        jv next;
        if (cur.type == JV_UNDEFINED) { *out = cur; return 0; }
        bool digits = len > 0;
        for (size_t k = 0; k < len; k++) digits &= p[k] >= '0' && p[k] <= '9';
        if (digits && cur.type == JV_LIST) {
            jv idx = jv_int(strtoll(p, NULL, 10));
            if (jb_getitem(r, pos, &cur, &idx, &next)) return -1;
        } else {
            jv key = jv_str(p, len);
            if (jb_getitem(r, pos, &cur, &key, &next)) return -1;
        }
        cur = next;
        if (!dot) break;
        p = dot + 1;
    }
    *out = cur;
    return 0;
}

static int filter_select(jrender *r, uint32_t pos, const jv *in, const jargs *a, bool by_attr, bool keep, jv *out) {
    const jv *items = NULL;
    size_t n = 0;
    /* jinja2 skips falsy input (none, empty) rather than iterating it */
    if (jv_truthy(in) && seq_of(r, pos, in, &items, &n)) return -1;
    int first_test = by_attr ? 1 : 0;
    const jv *attr = by_attr ? arg(a, 0, NULL) : NULL;
    if (by_attr && !attr) return jr_fail(r, pos, "selectattr/rejectattr need an attribute name");
    const jv *test = arg(a, first_test, NULL);
    if (test && test->type != JV_STRING) return jr_fail(r, pos, "the test name must be a string");
    jargs rest = {0};
    if (a->n_pos > first_test + 1) { rest.pos = a->pos + first_test + 1; rest.n_pos = a->n_pos - first_test - 1; }
    jv_list *l = jv_list_new(r->arena, 0);
    if (!l) return oom(r, pos);
    for (size_t i = 0; i < n; i++) {
        jv val = items[i];
        if (by_attr && attr_path(r, pos, &items[i], attr, &val)) return -1;
        bool t;
        if (test) {
            if (jb_test(r, pos, test->u.str.s, test->u.str.len, &val, &rest, &t)) return -1;
        } else {
            t = jv_truthy(&val);
        }
        if (t == keep && jv_list_push(r->arena, l, items[i])) return oom(r, pos);
    }
    *out = mk_gen(l);
    return 0;
}

static const char *const FILTERS[] = {
    "trim", "length", "count", "tojson", "string", "upper", "lower", "capitalize", "title", "default", "d",
    "first", "last", "join", "items", "replace", "selectattr", "rejectattr", "select", "reject", "map", "list",
    "reverse", "safe", "escape", "e", "int", "float", "abs", "unique", "sum", "min", "max", "indent", NULL};

static const char *const TESTS[] = {
    "defined", "undefined", "none", "boolean", "true", "false", "integer", "float", "number", "string", "mapping",
    "sequence", "iterable", "callable", "odd", "even", "divisibleby", "lower", "upper", "eq", "equalto", "==", "ne",
    "!=", "lt", "lessthan", "<", "le", "<=", "gt", "greaterthan", ">", "ge", ">=", "in", "sameas", NULL};

bool jb_has_filter(const char *name, size_t len) { return name_in(name, len, FILTERS); }
bool jb_has_test(const char *name, size_t len) { return name_in(name, len, TESTS); }

static int filter_map(jrender *r, uint32_t pos, const jv *in, const jargs *a, jv *out) {
    const jv *items = NULL;
    size_t n = 0;
    if (jv_truthy(in) && seq_of(r, pos, in, &items, &n)) return -1; /* falsy input: empty, as jinja2 */
    jv_list *l = jv_list_new(r->arena, n);
    if (!l) return oom(r, pos);
    const jv *attr = arg(a, -1, "attribute");
    if (attr) {
        const jv *dflt = arg(a, -1, "default");
        for (size_t i = 0; i < n; i++) {
            jv v;
            if (attr_path(r, pos, &items[i], attr, &v)) return -1;
            if (v.type == JV_UNDEFINED && dflt) v = *dflt;
            if (jv_list_push(r->arena, l, v)) return oom(r, pos);
        }
    } else {
        const jv *fname = arg(a, 0, NULL);
        if (!fname || fname->type != JV_STRING) return jr_fail(r, pos, "map() needs a filter name or attribute=");
        if (!jb_has_filter(fname->u.str.s, fname->u.str.len))
            return jr_fail(r, pos, "unknown filter '%.*s'", (int)fname->u.str.len, fname->u.str.s);
        jargs rest = {0};
        rest.pos = a->pos + 1;
        rest.n_pos = a->n_pos - 1;
        rest.kw = a->kw; rest.kw_names = a->kw_names; rest.kw_lens = a->kw_lens; rest.n_kw = a->n_kw;
        for (size_t i = 0; i < n; i++) {
            jv v;
            if (jb_filter(r, pos, fname->u.str.s, fname->u.str.len, &items[i], &rest, &v)) return -1;
            if (jv_list_push(r->arena, l, v)) return oom(r, pos);
        }
    }
    *out = mk_gen(l);
    return 0;
}

int jb_filter(jrender *r, uint32_t pos, const char *name, size_t nlen, const jv *in, const jargs *a, jv *out) {
#define IS(lit) name_is(name, nlen, lit)
    const jv *a0 = arg(a, 0, NULL);
    if (IS("default") || IS("d")) {
        const jv *dflt = arg(a, 0, "default_value"), *boolean = arg(a, 1, "boolean");
        bool use = in->type == JV_UNDEFINED || (boolean && jv_truthy(boolean) && !jv_truthy(in));
        *out = use ? (dflt ? *dflt : jv_str("", 0)) : *in;
        return 0;
    }
    if (IS("length") || IS("count")) {
        switch (in->type) {
        case JV_UNDEFINED: *out = jv_int(0); return 0;
        case JV_STRING: *out = jv_int((int64_t)ju_count(in->u.str.s, in->u.str.len)); return 0;
        case JV_LIST:
            if (in->u.list->is_gen) return jr_fail(r, pos, "object of type 'generator' has no len()");
            *out = jv_int((int64_t)in->u.list->n);
            return 0;
        case JV_DICT: if (!in->u.dict->is_namespace) { *out = jv_int((int64_t)in->u.dict->n); return 0; } break;
        default: break;
        }
        return jr_fail(r, pos, "object of type '%s' has no len()", jv_type_name(in));
    }
    if (IS("safe")) { *out = *in; return 0; }
    if (IS("items")) {
        if (in->type == JV_UNDEFINED) { *out = mk_list(jv_list_new(r->arena, 0)); return out->u.list ? 0 : oom(r, pos); }
        if (in->type != JV_DICT || in->u.dict->is_namespace)
            return jr_fail(r, pos, "filter 'items' needs a mapping, got '%s'", jv_type_name(in));
        if (dict_items(r, pos, in->u.dict, out)) return -1;
        out->u.list->is_gen = true;
        return 0;
    }
    if (IS("tojson")) {
        static const char *const kws[] = {"ensure_ascii", "indent", "separators", "sort_keys", NULL};
        if (check_args(r, pos, "tojson", a, 4, kws)) return -1;
        const jv *ea = arg(a, 0, "ensure_ascii"), *ind = arg(a, 1, "indent"), *sep = arg(a, 2, "separators"),
                 *sk = arg(a, 3, "sort_keys");
        if (ea && jv_truthy(ea)) return jr_fail(r, pos, "unsupported construct: tojson(ensure_ascii=True)");
        if (sep && sep->type != JV_NONE) return jr_fail(r, pos, "unsupported construct: tojson(separators=...)");
        int indent = -1;
        if (ind && ind->type != JV_NONE) {
            if (!is_intlike(ind) || as_int(ind) < 0 || as_int(ind) > 64)
                return jr_fail(r, pos, "unsupported construct: tojson indent must be an integer 0..64");
            indent = (int)as_int(ind);
        }
        jbuf b = {0};
        int rc = jv_write_json(&b, in, indent, sk && jv_truthy(sk), 0);
        if (rc == -2) { jbuf_free(&b); return jr_fail(r, pos, "Object of type %s is not JSON serializable", jv_type_name(in)); }
        if (rc) { jbuf_free(&b); return oom(r, pos); }
        return take_str(r, pos, &b, out);
    }
    if (IS("list")) {
        const jv *items;
        size_t n;
        if (seq_of(r, pos, in, &items, &n)) return -1;
        jv_list *l = jv_list_new(r->arena, n);
        if (!l) return oom(r, pos);
        for (size_t i = 0; i < n; i++) jv_list_push(r->arena, l, items[i]);
        *out = mk_list(l);
        return 0;
    }
    if (IS("first") || IS("last") || IS("reverse") || IS("unique") || IS("min") || IS("max") || IS("sum")) {
        const jv *items;
        size_t n;
        if (seq_of(r, pos, in, &items, &n)) return -1;
        if (IS("first")) { *out = n ? items[0] : jv_undef(); return 0; }
        if (IS("last")) {
            if (is_gen(in)) return jr_fail(r, pos, "'generator' object is not reversible");
            *out = n ? items[n - 1] : jv_undef();
            return 0;
        }
        if (IS("reverse")) {
            if (in->type == JV_STRING) {
                jbuf b = {0};
                for (size_t i = n; i-- > 0;)
                    if (jbuf_put(&b, items[i].u.str.s, items[i].u.str.len)) { jbuf_free(&b); return oom(r, pos); }
                return take_str(r, pos, &b, out);
            }
            jv_list *l = jv_list_new(r->arena, n);
            if (!l) return oom(r, pos);
            for (size_t i = n; i-- > 0;) jv_list_push(r->arena, l, items[i]);
            *out = is_gen(in) ? mk_list(l) : mk_gen(l); /* reversed(list) is an iterator; a generator is listed */
            return 0;
        }
        if (IS("unique")) {
            jv_list *l = jv_list_new(r->arena, n);
            if (!l) return oom(r, pos);
            for (size_t i = 0; i < n; i++) {
                bool seen = false;
                for (size_t k = 0; k < l->n && !seen; k++) seen = jv_equal(&l->items[k], &items[i]);
                if (!seen) jv_list_push(r->arena, l, items[i]);
            }
            *out = mk_gen(l);
            return 0;
        }
        if (IS("sum")) {
            jv acc = arg(a, 1, "start") ? *arg(a, 1, "start") : jv_int(0);
            const jv *attr = arg(a, 0, "attribute");
            for (size_t i = 0; i < n; i++) {
                jv v = items[i];
                if (attr && attr_path(r, pos, &items[i], attr, &v)) return -1;
                if (jb_binop(r, pos, OP_ADD, &acc, &v, &acc)) return -1;
            }
            *out = acc;
            return 0;
        }
        if (n == 0) { *out = jv_undef(); return 0; }
        jv best = items[0];
        for (size_t i = 1; i < n; i++) {
            jv res;
            if (jb_binop(r, pos, IS("min") ? OP_LT : OP_GT, &items[i], &best, &res)) return -1;
            if (res.u.b) best = items[i];
        }
        *out = best;
        return 0;
    }
    if (IS("selectattr") || IS("rejectattr")) return filter_select(r, pos, in, a, true, IS("selectattr"), out);
    if (IS("select") || IS("reject")) return filter_select(r, pos, in, a, false, IS("select"), out);
    if (IS("map")) return filter_map(r, pos, in, a, out);
    if (IS("join")) {
        const jv *items;
        size_t n;
        if (seq_of(r, pos, in, &items, &n)) return -1;
        const jv *sep = arg(a, 0, "d"), *attr = arg(a, 1, "attribute");
        jv sepv = jv_str("", 0);
        if (sep && jb_str(r, sep, &sepv)) return -1;
        jbuf b = {0};
        for (size_t i = 0; i < n; i++) {
            jv v = items[i];
            if (attr && attr_path(r, pos, &items[i], attr, &v)) { jbuf_free(&b); return -1; }
            if ((i && jbuf_put(&b, sepv.u.str.s, sepv.u.str.len)) || jv_write_str(&b, &v)) { jbuf_free(&b); return oom(r, pos); }
        }
        return take_str(r, pos, &b, out);
    }
    if (IS("int") || IS("float") || IS("abs")) {
        if (IS("abs")) {
            if (is_intlike(in)) {
                if (as_int(in) == INT64_MIN) return jr_fail(r, pos, "integer overflow in abs");
                *out = jv_int(as_int(in) < 0 ? -as_int(in) : as_int(in));
            } else if (in->type == JV_FLOAT) *out = jv_float(fabs(in->u.f));
            else return jr_fail(r, pos, "bad operand type for abs(): '%s'", jv_type_name(in));
            return 0;
        }
        bool to_int = IS("int");
        const jv *dflt = arg(a, 0, "default");
        jv fallback = dflt ? *dflt : to_int ? jv_int(0) : jv_float(0.0);
        if (is_intlike(in)) { *out = to_int ? jv_int(as_int(in)) : jv_float((double)as_int(in)); return 0; }
        if (in->type == JV_FLOAT) {
            if (to_int && !(fabs(in->u.f) < 9.2e18)) { *out = fallback; return 0; }
            *out = to_int ? jv_int((int64_t)in->u.f) : *in;
            return 0;
        }
        if (in->type == JV_STRING) {
            char buf[128];
            jv t = do_strip(in, NULL, true, true);
            if (t.u.str.len == 0 || t.u.str.len >= sizeof buf) { *out = fallback; return 0; }
            memcpy(buf, t.u.str.s, t.u.str.len);
            buf[t.u.str.len] = '\0';
            char *end;
            errno = 0;
            if (to_int) {
                long long v = strtoll(buf, &end, 10);
                if (*end == '\0' && errno == 0) { *out = jv_int(v); return 0; }
            }
            double d = strtod(buf, &end);
            if (*end == '\0') {
                if (!to_int) { *out = jv_float(d); return 0; }
                if (fabs(d) < 9.2e18) { *out = jv_int((int64_t)d); return 0; }
            }
        }
        *out = fallback;
        return 0;
    }
    /* the rest work on str(value) */
    jv s;
    if (jb_str(r, in, &s)) return -1;
    if (IS("string")) { *out = s; return 0; }
    if (IS("trim")) {
        if (a0 && a0->type != JV_NONE && need_str(r, pos, "trim", a0)) return -1;
        *out = do_strip(&s, arg(a, 0, "chars"), true, true);
        return 0;
    }
    if (IS("upper")) return do_case(r, pos, &s, CASE_UPPER, out);
    if (IS("lower")) return do_case(r, pos, &s, CASE_LOWER, out);
    if (IS("capitalize")) return do_case(r, pos, &s, CASE_CAPITALIZE, out);
    if (IS("title")) return do_case(r, pos, &s, CASE_JINJA_TITLE, out);
    if (IS("replace")) {
        const jv *old = arg(a, 0, "old"), *rep = arg(a, 1, "new"), *cnt = arg(a, 2, "count");
        if (!old || !rep) return jr_fail(r, pos, "filter 'replace' needs old and new");
        jv olds, reps;
        if (jb_str(r, old, &olds) || jb_str(r, rep, &reps)) return -1;
        return do_replace(r, pos, &s, &olds, &reps, cnt && is_intlike(cnt) ? as_int(cnt) : -1, out);
    }
    if (IS("escape") || IS("e")) {
        jbuf b = {0};
        int rc = 0;
        for (size_t i = 0; i < s.u.str.len && !rc; i++) {
            char c = s.u.str.s[i];
            switch (c) {
            case '&': rc = jbuf_put(&b, "&amp;", 5); break;
            case '<': rc = jbuf_put(&b, "&lt;", 4); break;
            case '>': rc = jbuf_put(&b, "&gt;", 4); break;
            case '"': rc = jbuf_put(&b, "&#34;", 5); break;
            case '\'': rc = jbuf_put(&b, "&#39;", 5); break;
            default: rc = jbuf_putc(&b, c);
            }
        }
        if (rc) { jbuf_free(&b); return oom(r, pos); }
        return take_str(r, pos, &b, out);
    }
    if (IS("indent")) {
        if (in->type != JV_STRING) /* jinja2 appends "\n" to the value itself */
            return jr_fail(r, pos, "unsupported operand type(s) for +=: '%s' and 'str'", jv_type_name(in));
        /* indent(width=4, first=False, blank=False): indents lines after the first */
        const jv *w = arg(a, 0, "width"), *first = arg(a, 1, "first"), *blank = arg(a, 2, "blank");
        jv pad = jv_str("    ", 4);
        if (w && w->type == JV_STRING) pad = *w;
        else if (w) {
            if (!is_intlike(w) || as_int(w) < 0 || as_int(w) > 256) return jr_fail(r, pos, "indent width must be 0..256");
            char *sp = ja_alloc(r->arena, (size_t)as_int(w) + 1);
            if (!sp) return oom(r, pos);
            memset(sp, ' ', (size_t)as_int(w));
            pad = jv_str(sp, (size_t)as_int(w));
        }
        jbuf b = {0};
        int rc = 0;
        const char *p = s.u.str.s, *end = p + s.u.str.len;
        bool first_line = true;
        while (!rc) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
            bool do_pad = first_line ? (first && jv_truthy(first)) : (len > 0 || (blank && jv_truthy(blank)));
            if (do_pad) rc |= jbuf_put(&b, pad.u.str.s, pad.u.str.len);
            rc |= jbuf_put(&b, p, len);
            if (!nl) break;
            rc |= jbuf_putc(&b, '\n');
            p = nl + 1;
            first_line = false;
        }
        if (rc) { jbuf_free(&b); return oom(r, pos); }
        return take_str(r, pos, &b, out);
    }
#undef IS
    return jr_fail(r, pos, "unknown filter '%.*s'", (int)nlen, name);
}
