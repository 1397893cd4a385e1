/* Jinja filters and tests (jinja2's builtins that chat templates use, with
 * transformers' tojson), including jinja2's lazy-generator behaviour for
 * map / select / unique / reverse / items. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/jinja_internal.h"

/* ---- tests ---- */

int jb_test(jrender *r, uint32_t pos, const char *name, size_t nlen, const jv *v, const jargs *a, bool *out) {
    const jv *a0 = jh_arg(a, 0, NULL);
#define IS(lit) jh_name_is(name, nlen, lit)
    if (IS("defined")) *out = v->type != JV_UNDEFINED;
    else if (IS("undefined")) *out = v->type == JV_UNDEFINED;
    else if (IS("none")) *out = v->type == JV_NONE;
    else if (IS("boolean")) *out = v->type == JV_BOOL;
    else if (IS("true")) *out = v->type == JV_BOOL && v->u.b;
    else if (IS("false")) *out = v->type == JV_BOOL && !v->u.b;
    else if (IS("integer")) *out = v->type == JV_INT;
    else if (IS("float")) *out = v->type == JV_FLOAT;
    else if (IS("number")) *out = jv_is_num(v);
    else if (IS("string")) *out = v->type == JV_STRING;
    else if (IS("mapping")) *out = v->type == JV_DICT && !v->u.dict->is_namespace;
    else if (IS("sequence")) *out = v->type == JV_STRING || (v->type == JV_LIST && !v->u.list->is_gen) ||
                                    (v->type == JV_DICT && !v->u.dict->is_namespace);
    else if (IS("iterable")) *out = v->type == JV_STRING || v->type == JV_LIST || v->type == JV_UNDEFINED ||
                                    (v->type == JV_DICT && !v->u.dict->is_namespace);
    else if (IS("callable")) *out = v->type == JV_FUNC;
    else if (IS("odd") || IS("even") || IS("divisibleby")) {
        if (!jv_is_intlike(v)) return jr_fail(r, pos, "test '%.*s' needs an integer, got '%s'", (int)nlen, name, jv_type_name(v));
        int64_t m = IS("divisibleby") ? (a0 && jv_is_intlike(a0) ? jv_as_int(a0) : 0) : 2;
        if (m == 0) return jr_fail(r, pos, "divisibleby needs a non-zero integer argument");
        int64_t rem = jv_as_int(v) % m;
        *out = IS("odd") ? rem != 0 : rem == 0;
    } else if (IS("lower") || IS("upper")) { /* on str(value), as jinja2 */
        jargs none = {0};
        jv res, s;
        if (jb_str(r, v, &s) || jh_str_method(r, pos, &s, IS("lower") ? "islower" : "isupper", &none, &res)) return -1;
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
    if (jh_need_str(r, pos, "attribute", path)) return -1;
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
    const jv *attr = by_attr ? jh_arg(a, 0, NULL) : NULL;
    if (by_attr && !attr) return jr_fail(r, pos, "selectattr/rejectattr need an attribute name");
    const jv *test = jh_arg(a, first_test, NULL);
    if (test && test->type != JV_STRING) return jr_fail(r, pos, "the test name must be a string");
    jargs rest = {0};
    if (a->n_pos > first_test + 1) { rest.pos = a->pos + first_test + 1; rest.n_pos = a->n_pos - first_test - 1; }
    jv_list *l = jv_list_new(r->arena, 0);
    if (!l) return jh_oom(r, pos);
    for (size_t i = 0; i < n; i++) {
        jv val = items[i];
        if (by_attr && attr_path(r, pos, &items[i], attr, &val)) return -1;
        bool t;
        if (test) {
            if (jb_test(r, pos, test->u.str.s, test->u.str.len, &val, &rest, &t)) return -1;
        } else {
            t = jv_truthy(&val);
        }
        if (t == keep && jv_list_push(r->arena, l, items[i])) return jh_oom(r, pos);
    }
    *out = jv_mk_gen(l);
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

bool jb_has_filter(const char *name, size_t len) { return jh_name_in(name, len, FILTERS); }
bool jb_has_test(const char *name, size_t len) { return jh_name_in(name, len, TESTS); }

static int filter_map(jrender *r, uint32_t pos, const jv *in, const jargs *a, jv *out) {
    const jv *items = NULL;
    size_t n = 0;
    if (jv_truthy(in) && seq_of(r, pos, in, &items, &n)) return -1; /* falsy input: empty, as jinja2 */
    jv_list *l = jv_list_new(r->arena, n);
    if (!l) return jh_oom(r, pos);
    const jv *attr = jh_arg(a, -1, "attribute");
    if (attr) {
        const jv *dflt = jh_arg(a, -1, "default");
        for (size_t i = 0; i < n; i++) {
            jv v;
            if (attr_path(r, pos, &items[i], attr, &v)) return -1;
            if (v.type == JV_UNDEFINED && dflt) v = *dflt;
            if (jv_list_push(r->arena, l, v)) return jh_oom(r, pos);
        }
    } else {
        const jv *fname = jh_arg(a, 0, NULL);
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
            if (jv_list_push(r->arena, l, v)) return jh_oom(r, pos);
        }
    }
    *out = jv_mk_gen(l);
    return 0;
}

int jb_filter(jrender *r, uint32_t pos, const char *name, size_t nlen, const jv *in, const jargs *a, jv *out) {
#define IS(lit) jh_name_is(name, nlen, lit)
    const jv *a0 = jh_arg(a, 0, NULL);
    if (IS("default") || IS("d")) {
        const jv *dflt = jh_arg(a, 0, "default_value"), *boolean = jh_arg(a, 1, "boolean");
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
        if (in->type == JV_UNDEFINED) { *out = jv_mk_list(jv_list_new(r->arena, 0)); return out->u.list ? 0 : jh_oom(r, pos); }
        if (in->type != JV_DICT || in->u.dict->is_namespace)
            return jr_fail(r, pos, "filter 'items' needs a mapping, got '%s'", jv_type_name(in));
        if (jh_dict_items(r, pos, in->u.dict, out)) return -1;
        out->u.list->is_gen = true;
        return 0;
    }
    if (IS("tojson")) {
        static const char *const kws[] = {"ensure_ascii", "indent", "separators", "sort_keys", NULL};
        if (jh_check_args(r, pos, "tojson", a, 4, kws)) return -1;
        const jv *ea = jh_arg(a, 0, "ensure_ascii"), *ind = jh_arg(a, 1, "indent"), *sep = jh_arg(a, 2, "separators"),
                 *sk = jh_arg(a, 3, "sort_keys");
        if (ea && jv_truthy(ea)) return jr_fail(r, pos, "unsupported construct: tojson(ensure_ascii=True)");
        if (sep && sep->type != JV_NONE) return jr_fail(r, pos, "unsupported construct: tojson(separators=...)");
        int indent = -1;
        if (ind && ind->type != JV_NONE) {
            if (!jv_is_intlike(ind) || jv_as_int(ind) < 0 || jv_as_int(ind) > 64)
                return jr_fail(r, pos, "unsupported construct: tojson indent must be an integer 0..64");
            indent = (int)jv_as_int(ind);
        }
        jbuf b = {0};
        int rc = jv_write_json(&b, in, indent, sk && jv_truthy(sk), 0);
        if (rc == -2) { jbuf_free(&b); return jr_fail(r, pos, "Object of type %s is not JSON serializable", jv_type_name(in)); }
        if (rc) { jbuf_free(&b); return jh_oom(r, pos); }
        return jh_take_str(r, pos, &b, out);
    }
    if (IS("list")) {
        const jv *items;
        size_t n;
        if (seq_of(r, pos, in, &items, &n)) return -1;
        jv_list *l = jv_list_new(r->arena, n);
        if (!l) return jh_oom(r, pos);
        for (size_t i = 0; i < n; i++) jv_list_push(r->arena, l, items[i]);
        *out = jv_mk_list(l);
        return 0;
    }
    if (IS("first") || IS("last") || IS("reverse") || IS("unique") || IS("min") || IS("max") || IS("sum")) {
        const jv *items;
        size_t n;
        if (seq_of(r, pos, in, &items, &n)) return -1;
        if (IS("first")) { *out = n ? items[0] : jv_undef(); return 0; }
        if (IS("last")) {
            if (jv_is_gen(in)) return jr_fail(r, pos, "'generator' object is not reversible");
            *out = n ? items[n - 1] : jv_undef();
            return 0;
        }
        if (IS("reverse")) {
            if (in->type == JV_STRING) {
                jbuf b = {0};
                for (size_t i = n; i-- > 0;)
                    if (jbuf_put(&b, items[i].u.str.s, items[i].u.str.len)) { jbuf_free(&b); return jh_oom(r, pos); }
                return jh_take_str(r, pos, &b, out);
            }
            jv_list *l = jv_list_new(r->arena, n);
            if (!l) return jh_oom(r, pos);
            for (size_t i = n; i-- > 0;) jv_list_push(r->arena, l, items[i]);
            *out = jv_is_gen(in) ? jv_mk_list(l) : jv_mk_gen(l); /* reversed(list) is an iterator; a generator is listed */
            return 0;
        }
        if (IS("unique")) {
            jv_list *l = jv_list_new(r->arena, n);
            if (!l) return jh_oom(r, pos);
            for (size_t i = 0; i < n; i++) {
                bool seen = false;
                for (size_t k = 0; k < l->n && !seen; k++) seen = jv_equal(&l->items[k], &items[i]);
                if (!seen) jv_list_push(r->arena, l, items[i]);
            }
            *out = jv_mk_gen(l);
            return 0;
        }
        if (IS("sum")) {
            jv acc = jh_arg(a, 1, "start") ? *jh_arg(a, 1, "start") : jv_int(0);
            const jv *attr = jh_arg(a, 0, "attribute");
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
        const jv *sep = jh_arg(a, 0, "d"), *attr = jh_arg(a, 1, "attribute");
        jv sepv = jv_str("", 0);
        if (sep && jb_str(r, sep, &sepv)) return -1;
        jbuf b = {0};
        for (size_t i = 0; i < n; i++) {
            jv v = items[i];
            if (attr && attr_path(r, pos, &items[i], attr, &v)) { jbuf_free(&b); return -1; }
            if ((i && jbuf_put(&b, sepv.u.str.s, sepv.u.str.len)) || jv_write_str(&b, &v)) { jbuf_free(&b); return jh_oom(r, pos); }
        }
        return jh_take_str(r, pos, &b, out);
    }
    if (IS("int") || IS("float") || IS("abs")) {
        if (IS("abs")) {
            if (jv_is_intlike(in)) {
                if (jv_as_int(in) == INT64_MIN) return jr_fail(r, pos, "integer overflow in abs");
                *out = jv_int(jv_as_int(in) < 0 ? -jv_as_int(in) : jv_as_int(in));
            } else if (in->type == JV_FLOAT) *out = jv_float(fabs(in->u.f));
            else return jr_fail(r, pos, "bad operand type for abs(): '%s'", jv_type_name(in));
            return 0;
        }
        bool to_int = IS("int");
        const jv *dflt = jh_arg(a, 0, "default");
        jv fallback = dflt ? *dflt : to_int ? jv_int(0) : jv_float(0.0);
        if (jv_is_intlike(in)) { *out = to_int ? jv_int(jv_as_int(in)) : jv_float((double)jv_as_int(in)); return 0; }
        if (in->type == JV_FLOAT) {
            if (to_int && !(fabs(in->u.f) < 9.2e18)) { *out = fallback; return 0; }
            *out = to_int ? jv_int((int64_t)in->u.f) : *in;
            return 0;
        }
        if (in->type == JV_STRING) {
            char buf[128];
            jv t = jh_strip(in, NULL, true, true);
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
        if (a0 && a0->type != JV_NONE && jh_need_str(r, pos, "trim", a0)) return -1;
        *out = jh_strip(&s, jh_arg(a, 0, "chars"), true, true);
        return 0;
    }
    if (IS("upper")) return jh_case(r, pos, &s, CASE_UPPER, out);
    if (IS("lower")) return jh_case(r, pos, &s, CASE_LOWER, out);
    if (IS("capitalize")) return jh_case(r, pos, &s, CASE_CAPITALIZE, out);
    if (IS("title")) return jh_case(r, pos, &s, CASE_JINJA_TITLE, out);
    if (IS("replace")) {
        const jv *old = jh_arg(a, 0, "old"), *rep = jh_arg(a, 1, "new"), *cnt = jh_arg(a, 2, "count");
        if (!old || !rep) return jr_fail(r, pos, "filter 'replace' needs old and new");
        jv olds, reps;
        if (jb_str(r, old, &olds) || jb_str(r, rep, &reps)) return -1;
        return jh_replace(r, pos, &s, &olds, &reps, cnt && jv_is_intlike(cnt) ? jv_as_int(cnt) : -1, out);
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
        if (rc) { jbuf_free(&b); return jh_oom(r, pos); }
        return jh_take_str(r, pos, &b, out);
    }
    if (IS("indent")) {
        if (in->type != JV_STRING) /* jinja2 appends "\n" to the value itself */
            return jr_fail(r, pos, "unsupported operand type(s) for +=: '%s' and 'str'", jv_type_name(in));
        /* indent(width=4, first=False, blank=False): indents lines after the first */
        const jv *w = jh_arg(a, 0, "width"), *first = jh_arg(a, 1, "first"), *blank = jh_arg(a, 2, "blank");
        jv pad = jv_str("    ", 4);
        if (w && w->type == JV_STRING) pad = *w;
        else if (w) {
            if (!jv_is_intlike(w) || jv_as_int(w) < 0 || jv_as_int(w) > 256) return jr_fail(r, pos, "indent width must be 0..256");
            char *sp = ja_alloc(r->arena, (size_t)jv_as_int(w) + 1);
            if (!sp) return jh_oom(r, pos);
            memset(sp, ' ', (size_t)jv_as_int(w));
            pad = jv_str(sp, (size_t)jv_as_int(w));
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
        if (rc) { jbuf_free(&b); return jh_oom(r, pos); }
        return jh_take_str(r, pos, &b, out);
    }
#undef IS
    return jr_fail(r, pos, "unknown filter '%.*s'", (int)nlen, name);
}
