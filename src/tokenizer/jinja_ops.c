/* Jinja operators and access with Python's semantics: arithmetic,
 * comparison, membership, iteration, obj.attr / obj[key] (dict keys, bound
 * str/dict methods, loop attributes), and the helpers the builtins share. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/jinja_internal.h"

int jh_oom(jrender *r, uint32_t pos) {
    return jr_fail(r, pos, "out of memory (the template's intermediate values passed the memory limit)");
}

int jh_undef_err(jrender *r, uint32_t pos, const jv *v) {
    if (v->u.str.s) return jr_fail(r, pos, "'%.*s' is undefined", (int)v->u.str.len, v->u.str.s);
    return jr_fail(r, pos, "use of an undefined value");
}

/* Moves a buffer into an arena string value. */
int jh_take_str(jrender *r, uint32_t pos, jbuf *b, jv *out) {
    char *s = ja_strdup(r->arena, b->data ? b->data : "", b->len);
    size_t len = b->len;
    jbuf_free(b);
    if (!s) return jh_oom(r, pos);
    *out = jv_str(s, len);
    return 0;
}

int jb_str(jrender *r, const jv *v, jv *out) {
    if (v->type == JV_STRING) { *out = *v; return 0; }
    jbuf b = {0};
    if (jv_write_str(&b, v)) { jbuf_free(&b); return jh_oom(r, 0); }
    return jh_take_str(r, 0, &b, out);
}


/* ---- iteration ---- */

static int str_chars(jrender *r, uint32_t pos, const jv *s, jv_list **out) {
    jv_list *l = jv_list_new(r->arena, 0);
    if (!l) return jh_oom(r, pos);
    for (size_t i = 0; i < s->u.str.len;) {
        size_t st = i;
        ju_next(s->u.str.s, s->u.str.len, &i);
        if (jv_list_push(r->arena, l, jv_str(s->u.str.s + st, i - st))) return jh_oom(r, pos);
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


static int type_err(jrender *r, uint32_t pos, const char *op, const jv *a, const jv *b) {
    return jr_fail(r, pos, "unsupported operand type(s) for %s: '%s' and '%s'", op, jv_type_name(a), jv_type_name(b));
}

static int repeat(jrender *r, uint32_t pos, const jv *seq, int64_t times, jv *out) {
    if (times < 0) times = 0;
    if (seq->type == JV_STRING) {
        if (seq->u.str.len && (uint64_t)times > r->arena->limit / seq->u.str.len) return jh_oom(r, pos);
        jbuf b = {0};
        for (int64_t k = 0; k < times; k++)
            if (jbuf_put(&b, seq->u.str.s, seq->u.str.len)) { jbuf_free(&b); return jh_oom(r, pos); }
        return jh_take_str(r, pos, &b, out);
    }
    jv_list *l = jv_list_new(r->arena, 0);
    if (!l) return jh_oom(r, pos);
    l->is_tuple = seq->u.list->is_tuple;
    if (seq->u.list->n && (uint64_t)times > r->arena->limit / (seq->u.list->n * sizeof(jv))) return jh_oom(r, pos);
    for (int64_t k = 0; k < times; k++)
        for (size_t i = 0; i < seq->u.list->n; i++)
            if (jv_list_push(r->arena, l, seq->u.list->items[i])) return jh_oom(r, pos);
    *out = jv_mk_list(l);
    return 0;
}

static int compare_order(jrender *r, uint32_t pos, const char *op, const jv *a, const jv *b, int *cmp) {
    if (jv_is_num(a) && jv_is_num(b)) {
        if (jv_is_intlike(a) && jv_is_intlike(b)) *cmp = (jv_as_int(a) > jv_as_int(b)) - (jv_as_int(a) < jv_as_int(b));
        else *cmp = (jv_as_num(a) > jv_as_num(b)) - (jv_as_num(a) < jv_as_num(b));
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
    if (a->type == JV_UNDEFINED) return jh_undef_err(r, pos, a);
    if (b->type == JV_UNDEFINED) return jh_undef_err(r, pos, b);
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
        if (jv_write_str(&buf, a) || jv_write_str(&buf, b)) { jbuf_free(&buf); return jh_oom(r, pos); }
        return jh_take_str(r, pos, &buf, out);
    }
    default: break;
    }
    if (a->type == JV_UNDEFINED) return jh_undef_err(r, pos, a);
    if (b->type == JV_UNDEFINED) return jh_undef_err(r, pos, b);
    if (jv_is_intlike(a) && jv_is_intlike(b)) {
        int64_t x = jv_as_int(a), y = jv_as_int(b), z;
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
    if (jv_is_num(a) && jv_is_num(b)) {
        double x = jv_as_num(a), y = jv_as_num(b);
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
                return jh_oom(r, pos);
            }
            return jh_take_str(r, pos, &buf, out);
        }
        if (a->type == JV_STRING)
            return jr_fail(r, pos, "can only concatenate str (not \"%s\") to str", jv_type_name(b));
        if (a->type == JV_LIST && b->type == JV_LIST && a->u.list->is_tuple == b->u.list->is_tuple && !jv_is_gen(a) &&
            !jv_is_gen(b)) {
            jv_list *l = jv_list_new(r->arena, a->u.list->n + b->u.list->n);
            if (!l) return jh_oom(r, pos);
            l->is_tuple = a->u.list->is_tuple;
            for (size_t i = 0; i < a->u.list->n; i++) jv_list_push(r->arena, l, a->u.list->items[i]);
            for (size_t i = 0; i < b->u.list->n; i++) jv_list_push(r->arena, l, b->u.list->items[i]);
            *out = jv_mk_list(l);
            return 0;
        }
    }
    if (op == OP_MUL) {
        if ((a->type == JV_STRING || a->type == JV_LIST) && jv_is_intlike(b)) return repeat(r, pos, a, jv_as_int(b), out);
        if ((b->type == JV_STRING || b->type == JV_LIST) && jv_is_intlike(a)) return repeat(r, pos, b, jv_as_int(a), out);
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

static int bind_method(jrender *r, uint32_t pos, const jv *self, const char *name, size_t len, jv_func_kind kind,
                       jv *out) {
    jv_func *f = ja_alloc(r->arena, sizeof *f);
    char *nm = ja_strdup(r->arena, name, len);
    if (!f || !nm) return jh_oom(r, pos);
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
    if (jh_name_is(name, len, "index0")) *out = jv_int(i0);
    else if (jh_name_is(name, len, "index")) *out = jv_int(i0 + 1);
    else if (jh_name_is(name, len, "revindex")) *out = jv_int(n - i0);
    else if (jh_name_is(name, len, "revindex0")) *out = jv_int(n - i0 - 1);
    else if (jh_name_is(name, len, "first")) *out = jv_bool(i0 == 0);
    else if (jh_name_is(name, len, "last")) *out = jv_bool(i0 == n - 1);
    else if (jh_name_is(name, len, "length")) *out = jv_int(n);
    else if (jh_name_is(name, len, "depth")) *out = jv_int(1);
    else if (jh_name_is(name, len, "depth0")) *out = jv_int(0);
    else if (jh_name_is(name, len, "previtem")) *out = i0 > 0 ? L->items[i0 - 1] : jv_undef();
    else if (jh_name_is(name, len, "nextitem")) *out = i0 + 1 < n ? L->items[i0 + 1] : jv_undef();
    else if (jh_name_is(name, len, "cycle")) return bind_method(r, pos, obj, name, len, JF_CYCLE, out);
    else *out = jv_undef();
    return 0;
}

int jb_getattr(jrender *r, uint32_t pos, const jv *obj, const char *name, size_t len, jv *out) {
    switch (obj->type) {
    case JV_UNDEFINED: return jh_undef_err(r, pos, obj);
    case JV_DICT:
        if (!obj->u.dict->is_namespace && jh_name_in(name, len, DICT_METHODS))
            return bind_method(r, pos, obj, name, len, JF_METHOD, out);
        {
            const jv *v = jv_dict_get(obj->u.dict, name, len);
            *out = v ? *v : jv_undef();
        }
        return 0;
    case JV_STRING:
        if (jh_name_in(name, len, STR_METHODS)) return bind_method(r, pos, obj, name, len, JF_METHOD, out);
        *out = jv_undef();
        return 0;
    case JV_LOOP: return loop_attr(r, pos, obj, name, len, out);
    default: *out = jv_undef(); return 0;
    }
}

int jb_getitem(jrender *r, uint32_t pos, const jv *obj, const jv *key, jv *out) {
    switch (obj->type) {
    case JV_UNDEFINED: return jh_undef_err(r, pos, obj);
    case JV_DICT: case JV_LOOP:
        if (key->type != JV_STRING) { *out = jv_undef(); return 0; }
        if (obj->type == JV_DICT) { /* d['k']: the key first, then (as jinja2) the attribute */
            const jv *v = jv_dict_get(obj->u.dict, key->u.str.s, key->u.str.len);
            if (v) { *out = *v; return 0; }
        }
        return jb_getattr(r, pos, obj, key->u.str.s, key->u.str.len, out);
    case JV_LIST: case JV_STRING: {
        if (!jv_is_intlike(key) || jv_is_gen(obj)) { *out = jv_undef(); return 0; }
        int64_t i = jv_as_int(key);
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
const jv *jh_arg(const jargs *a, int idx, const char *kw) {
    if (idx >= 0 && idx < a->n_pos) return &a->pos[idx];
    for (int k = 0; kw && k < a->n_kw; k++)
        if (jh_name_is(a->kw_names[k], a->kw_lens[k], kw)) return &a->kw[k];
    return NULL;
}

int jh_check_args(jrender *r, uint32_t pos, const char *what, const jargs *a, int max_pos,
                      const char *const *kws) {
    if (a->n_pos > max_pos) return jr_fail(r, pos, "%s takes at most %d positional argument(s), got %d", what, max_pos, a->n_pos);
    for (int k = 0; k < a->n_kw; k++) {
        bool ok = false;
        for (int j = 0; kws && kws[j]; j++) ok |= jh_name_is(a->kw_names[k], a->kw_lens[k], kws[j]);
        if (!ok) return jr_fail(r, pos, "%s got an unexpected keyword argument '%.*s'", what, (int)a->kw_lens[k], a->kw_names[k]);
    }
    return 0;
}

int jh_need_str(jrender *r, uint32_t pos, const char *what, const jv *v) {
    if (v->type == JV_STRING) return 0;
    return jr_fail(r, pos, "%s expects a string, got '%s'", what, jv_type_name(v));
}

bool jh_name_in(const char *name, size_t len, const char *const *list) {
    for (int k = 0; list[k]; k++)
        if (strlen(list[k]) == len && memcmp(list[k], name, len) == 0) return true;
    return false;
}

bool jh_name_is(const char *name, size_t len, const char *lit) {
    return strlen(lit) == len && memcmp(name, lit, len) == 0;
}
