/* Jinja evaluator: walks the syntax tree, writing output. Scoping follows
 * jinja2: {% set %} writes the innermost frame; each for-loop iteration gets a
 * fresh frame (so a set inside a loop is gone after it, hence namespace());
 * {% if %} opens no frame. */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/jinja_internal.h"

#define MAX_EVAL_DEPTH 1000
#define MAX_MACRO_DEPTH 64

struct jscope {
    jscope *parent;
    const char **names;
    size_t *lens;
    jv *vals;
    int n, cap;
};

int jr_fail(jrender *r, uint32_t pos, const char *fmt, ...) {
    char where[64], msg[700];
    jinja_where(r->src, r->src_len, pos, where, sizeof where);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return vc_errorf(r->err, "chat template %s: %s", where, msg);
}

static int oom(jrender *r, uint32_t pos) {
    return jr_fail(r, pos, "out of memory (the template's intermediate values passed the memory limit)");
}

static const jv *scope_get(const jrender *r, const char *name, size_t len) {
    for (const jscope *s = r->scope; s; s = s->parent)
        for (int i = s->n - 1; i >= 0; i--)
            if (s->lens[i] == len && memcmp(s->names[i], name, len) == 0) return &s->vals[i];
    return NULL;
}

static int scope_set(jrender *r, uint32_t pos, const char *name, size_t len, jv v) {
    jscope *s = r->scope;
    for (int i = 0; i < s->n; i++)
        if (s->lens[i] == len && memcmp(s->names[i], name, len) == 0) {
            s->vals[i] = v;
            return 0;
        }
    if (s->n == s->cap) {
        int cap = s->cap ? s->cap * 2 : 8;
        const char **names = realloc(s->names, (size_t)cap * sizeof *names);
        if (names) s->names = names;
        size_t *lens = realloc(s->lens, (size_t)cap * sizeof *lens);
        if (lens) s->lens = lens;
        jv *vals = realloc(s->vals, (size_t)cap * sizeof *vals);
        if (vals) s->vals = vals;
        if (!names || !lens || !vals) return oom(r, pos);
        s->cap = cap;
    }
    s->names[s->n] = name;
    s->lens[s->n] = len;
    s->vals[s->n] = v;
    s->n++;
    return 0;
}

static void scope_push(jrender *r, jscope *s) {
    memset(s, 0, sizeof *s);
    s->parent = r->scope;
    r->scope = s;
}

static void scope_pop(jrender *r) {
    jscope *s = r->scope;
    r->scope = s->parent;
    free(s->names);
    free(s->lens);
    free(s->vals);
}

static int step(jrender *r, uint32_t pos) {
    if (++r->steps > r->max_steps)
        return jr_fail(r, pos, "template exceeded %ld evaluation steps (runaway loop?)", r->max_steps);
    return 0;
}

static int eval(jrender *r, const jnode *n, jv *out);
static int exec_body(jrender *r, const jnodes *body);

static int eval_args(jrender *r, const jnode *n, jargs *a) {
    memset(a, 0, sizeof *a);
    if (n->items.n) {
        a->pos = ja_alloc(r->arena, (size_t)n->items.n * sizeof(jv));
        if (!a->pos) return oom(r, n->pos);
        for (int i = 0; i < n->items.n; i++)
            if (eval(r, n->items.v[i], &a->pos[i])) return -1;
        a->n_pos = n->items.n;
    }
    if (n->n_names) {
        a->kw = ja_alloc(r->arena, (size_t)n->n_names * sizeof(jv));
        if (!a->kw) return oom(r, n->pos);
        for (int i = 0; i < n->n_names; i++)
            if (eval(r, n->items2.v[i], &a->kw[i])) return -1;
        a->kw_names = n->names;
        a->kw_lens = n->name_lens;
        a->n_kw = n->n_names;
    }
    return 0;
}

static int undefined_error(jrender *r, uint32_t pos, const jv *v) {
    if (v->u.str.s) return jr_fail(r, pos, "'%.*s' is undefined", (int)v->u.str.len, v->u.str.s);
    return jr_fail(r, pos, "use of an undefined value");
}

/* Python slice semantics on a list, tuple or string. */
static int eval_slice(jrender *r, const jnode *n, jv *out) {
    jv obj, parts[3];
    if (eval(r, n->a, &obj)) return -1;
    for (int k = 0; k < 3; k++) {
        parts[k] = jv_none();
        if (n->items.v[k] && eval(r, n->items.v[k], &parts[k])) return -1;
        if (parts[k].type != JV_NONE && parts[k].type != JV_INT)
            return jr_fail(r, n->pos, "slice indices must be integers or none, not '%s'", jv_type_name(&parts[k]));
    }
    if (obj.type == JV_UNDEFINED) return undefined_error(r, n->pos, &obj);
    int64_t len;
    size_t *offs = NULL; /* code point offsets of a string */
    if (obj.type == JV_LIST && !obj.u.list->is_gen) {
        len = (int64_t)obj.u.list->n;
    } else if (obj.type == JV_STRING) {
        size_t cnt = ju_count(obj.u.str.s, obj.u.str.len);
        offs = ja_alloc(r->arena, (cnt + 1) * sizeof *offs);
        if (!offs) return oom(r, n->pos);
        size_t i = 0, k = 0;
        while (i < obj.u.str.len) { offs[k++] = i; ju_next(obj.u.str.s, obj.u.str.len, &i); }
        offs[k] = obj.u.str.len;
        len = (int64_t)cnt;
    } else { /* jinja2 compiles a slice to a plain Python subscript: a TypeError */
        if (obj.type == JV_DICT) return jr_fail(r, n->pos, "unhashable type: 'slice'");
        return jr_fail(r, n->pos, "'%s' object is not subscriptable", jv_type_name(&obj));
    }
    int64_t stepv = parts[2].type == JV_INT ? parts[2].u.i : 1;
    if (stepv == 0) return jr_fail(r, n->pos, "slice step cannot be zero");
    int64_t start, stop;
    if (stepv > 0) {
        start = parts[0].type == JV_INT ? parts[0].u.i : 0;
        stop = parts[1].type == JV_INT ? parts[1].u.i : len;
        if (start < 0) start = start + len < 0 ? 0 : start + len;
        if (start > len) start = len;
        if (stop < 0) stop = stop + len < 0 ? 0 : stop + len;
        if (stop > len) stop = len;
    } else {
        start = parts[0].type == JV_INT ? parts[0].u.i : len - 1;
        stop = parts[1].type == JV_INT ? parts[1].u.i : -1 - len; /* "before the start" */
        if (start < 0) start = start + len < 0 ? -1 : start + len;
        if (start >= len) start = len - 1;
        if (stop < 0) stop = stop + len < 0 ? -1 : stop + len;
        if (stop >= len) stop = len - 1;
    }
    if (obj.type == JV_LIST) {
        jv_list *l = jv_list_new(r->arena, 0);
        if (!l) return oom(r, n->pos);
        l->is_tuple = obj.u.list->is_tuple;
        for (int64_t i = start; stepv > 0 ? i < stop : i > stop; i += stepv)
            if (jv_list_push(r->arena, l, obj.u.list->items[i])) return oom(r, n->pos);
        out->type = JV_LIST;
        out->u.list = l;
        return 0;
    }
    jbuf b = {0};
    for (int64_t i = start; stepv > 0 ? i < stop : i > stop; i += stepv)
        if (jbuf_put(&b, obj.u.str.s + offs[i], offs[i + 1] - offs[i])) { jbuf_free(&b); return oom(r, n->pos); }
    char *s = ja_strdup(r->arena, b.data ? b.data : "", b.len);
    size_t slen = b.len;
    jbuf_free(&b);
    if (!s) return oom(r, n->pos);
    *out = jv_str(s, slen);
    return 0;
}

/* Calls a {% macro %}: a frame over the template's top level (macros do not
 * see their caller's locals), parameters bound from args or their defaults,
 * extra arguments in varargs / kwargs; returns the body's output as a string. */
static int call_macro(jrender *r, uint32_t pos, const jnode *m, const jargs *a, jv *out) {
    if (r->macro_depth >= MAX_MACRO_DEPTH)
        return jr_fail(r, pos, "macro calls nested too deeply (more than %d levels)", MAX_MACRO_DEPTH);
    jscope frame, *saved_scope = r->scope;
    memset(&frame, 0, sizeof frame);
    frame.parent = r->root_scope;
    r->scope = &frame;
    r->macro_depth++;
    int rc = 0;
    jv_list *varargs = jv_list_new(r->arena, 0); /* a tuple, as in Python */
    jv_dict *kwargs = jv_dict_new(r->arena, 0);
    if (!varargs || !kwargs) rc = oom(r, pos);
    else varargs->is_tuple = true;
    for (int i = 0; !rc && i < a->n_pos; i++) {
        if (i < m->n_names) rc = scope_set(r, pos, m->names[i], m->name_lens[i], a->pos[i]);
        else if (jv_list_push(r->arena, varargs, a->pos[i])) rc = oom(r, pos);
    }
    for (int i = 0; !rc && i < m->n_names; i++) {
        if (i < a->n_pos) continue;
        const jv *given = NULL;
        for (int k = 0; k < a->n_kw; k++)
            if (a->kw_lens[k] == m->name_lens[i] && memcmp(a->kw_names[k], m->names[i], m->name_lens[i]) == 0)
                given = &a->kw[k];
        jv v = jv_undef();
        if (given) v = *given;
        else if (m->items2.v[i] && eval(r, m->items2.v[i], &v)) rc = -1;
        if (!rc) rc = scope_set(r, pos, m->names[i], m->name_lens[i], v);
    }
    for (int k = 0; !rc && k < a->n_kw; k++) {
        bool is_param = false;
        for (int i = 0; i < m->n_names; i++)
            is_param |= a->kw_lens[k] == m->name_lens[i] && memcmp(a->kw_names[k], m->names[i], m->name_lens[i]) == 0;
        if (!is_param && jv_dict_set(r->arena, kwargs, a->kw_names[k], a->kw_lens[k], a->kw[k])) rc = oom(r, pos);
    }
    if (!rc) {
        jv vl = {0}, kd = {0};
        vl.type = JV_LIST;
        vl.u.list = varargs;
        kd.type = JV_DICT;
        kd.u.dict = kwargs;
        rc = scope_set(r, pos, "varargs", 7, vl);
        if (!rc) rc = scope_set(r, pos, "kwargs", 6, kd);
    }
    jbuf saved = r->out, capture = {0};
    capture.limit = saved.limit;
    r->out = capture;
    if (!rc) rc = exec_body(r, &m->items);
    capture = r->out;
    r->out = saved;
    r->macro_depth--;
    r->scope = saved_scope;
    free(frame.names);
    free(frame.lens);
    free(frame.vals);
    if (rc) {
        jbuf_free(&capture);
        return -1;
    }
    char *s = ja_strdup(r->arena, capture.data ? capture.data : "", capture.len);
    size_t len = capture.len;
    jbuf_free(&capture);
    if (!s) return oom(r, pos);
    *out = jv_str(s, len);
    return 0;
}

static int eval_compare(jrender *r, const jnode *n, jv *out) {
    jv left;
    if (eval(r, n->items.v[0], &left)) return -1;
    for (int k = 1; k < n->items.n; k++) {
        jv right, res;
        if (eval(r, n->items.v[k], &right)) return -1;
        if (jb_binop(r, n->pos, n->ops[k - 1], &left, &right, &res)) return -1;
        if (!res.u.b) { *out = jv_bool(false); return 0; }
        left = right;
    }
    *out = jv_bool(true);
    return 0;
}

static int eval_inner(jrender *r, const jnode *n, jv *out) {
    switch (n->kind) {
    case N_CONST:
        *out = n->value;
        return 0;
    case N_NAME: {
        const jv *v = scope_get(r, n->name, n->name_len);
        if (v) *out = *v;
        else { *out = jv_undef(); out->u.str.s = n->name; out->u.str.len = n->name_len; }
        return 0;
    }
    case N_GETATTR: {
        jv obj;
        if (eval(r, n->a, &obj)) return -1;
        return jb_getattr(r, n->pos, &obj, n->name, n->name_len, out);
    }
    case N_GETITEM: {
        jv obj, key;
        if (eval(r, n->a, &obj) || eval(r, n->b, &key)) return -1;
        return jb_getitem(r, n->pos, &obj, &key, out);
    }
    case N_SLICE:
        return eval_slice(r, n, out);
    case N_CALL: {
        jv fn;
        jargs args;
        if (eval(r, n->a, &fn)) return -1;
        if (fn.type == JV_UNDEFINED) return undefined_error(r, n->pos, &fn);
        if (fn.type != JV_FUNC) return jr_fail(r, n->pos, "'%s' object is not callable", jv_type_name(&fn));
        if (step(r, n->pos) || eval_args(r, n, &args)) return -1;
        if (fn.u.func->kind == JF_MACRO) return call_macro(r, n->pos, fn.u.func->macro, &args, out);
        return jb_call(r, n->pos, &fn, &args, out);
    }
    case N_FILTER: {
        jv in;
        jargs args;
        if (eval(r, n->a, &in) || eval_args(r, n, &args)) return -1;
        return jb_filter(r, n->pos, n->name, n->name_len, &in, &args, out);
    }
    case N_TEST: {
        jv in;
        jargs args;
        bool res;
        if (eval(r, n->a, &in) || eval_args(r, n, &args)) return -1;
        if (jb_test(r, n->pos, n->name, n->name_len, &in, &args, &res)) return -1;
        *out = jv_bool(n->negated ? !res : res);
        return 0;
    }
    case N_NOT: {
        jv v;
        if (eval(r, n->a, &v)) return -1;
        *out = jv_bool(!jv_truthy(&v));
        return 0;
    }
    case N_NEG: case N_POS: {
        jv v;
        if (eval(r, n->a, &v)) return -1;
        if (v.type == JV_UNDEFINED) return undefined_error(r, n->pos, &v);
        if (v.type == JV_BOOL) v = jv_int(v.u.b);
        if (v.type == JV_INT) {
            if (n->kind == N_NEG && v.u.i == INT64_MIN) return jr_fail(r, n->pos, "integer overflow");
            *out = jv_int(n->kind == N_NEG ? -v.u.i : v.u.i);
        } else if (v.type == JV_FLOAT) {
            *out = jv_float(n->kind == N_NEG ? -v.u.f : v.u.f);
        } else {
            return jr_fail(r, n->pos, "bad operand type for unary %c: '%s'", n->kind == N_NEG ? '-' : '+',
                           jv_type_name(&v));
        }
        return 0;
    }
    case N_BINOP: {
        jv a, b;
        if (eval(r, n->a, &a) || eval(r, n->b, &b)) return -1;
        return jb_binop(r, n->pos, n->op, &a, &b, out);
    }
    case N_AND: case N_OR: {
        if (eval(r, n->a, out)) return -1;
        bool t = jv_truthy(out);
        if ((n->kind == N_AND) == t) return eval(r, n->b, out);
        return 0;
    }
    case N_COMPARE:
        return eval_compare(r, n, out);
    case N_COND: {
        jv c;
        if (eval(r, n->a, &c)) return -1;
        if (jv_truthy(&c)) return eval(r, n->b, out);
        if (n->c) return eval(r, n->c, out);
        *out = jv_undef();
        return 0;
    }
    case N_LIST: case N_TUPLE: {
        jv_list *l = jv_list_new(r->arena, (size_t)n->items.n);
        if (!l) return oom(r, n->pos);
        l->is_tuple = n->kind == N_TUPLE;
        for (int i = 0; i < n->items.n; i++) {
            jv v;
            if (eval(r, n->items.v[i], &v)) return -1;
            if (jv_list_push(r->arena, l, v)) return oom(r, n->pos);
        }
        out->type = JV_LIST;
        out->u.list = l;
        return 0;
    }
    case N_DICT: {
        jv_dict *d = jv_dict_new(r->arena, (size_t)n->items.n);
        if (!d) return oom(r, n->pos);
        for (int i = 0; i < n->items.n; i++) {
            jv k, v;
            if (eval(r, n->items.v[i], &k) || eval(r, n->items2.v[i], &v)) return -1;
            if (k.type != JV_STRING)
                return jr_fail(r, n->items.v[i]->pos, "unsupported construct: dict key of type '%s' (only strings)",
                               jv_type_name(&k));
            if (jv_dict_set(r->arena, d, k.u.str.s, k.u.str.len, v)) return oom(r, n->pos);
        }
        out->type = JV_DICT;
        out->u.dict = d;
        return 0;
    }
    default:
        return jr_fail(r, n->pos, "internal: statement node in an expression");
    }
}

static int eval(jrender *r, const jnode *n, jv *out) {
    if (++r->depth > MAX_EVAL_DEPTH) {
        r->depth--;
        return jr_fail(r, n->pos, "expression nested too deeply (more than %d levels)", MAX_EVAL_DEPTH);
    }
    int rc = eval_inner(r, n, out);
    r->depth--;
    return rc;
}

/* Binds for/set targets: one name, or unpacks a list/tuple into several. */
static int bind_targets(jrender *r, const jnode *n, const jv *v) {
    if (n->n_names == 1) return scope_set(r, n->pos, n->names[0], n->name_lens[0], *v);
    const jv *items;
    size_t cnt;
    if (v->type == JV_LIST) { items = v->u.list->items; cnt = v->u.list->n; }
    else if (jb_iterate(r, n->pos, v, &items, &cnt)) return -1;
    if (cnt != (size_t)n->n_names)
        return jr_fail(r, n->pos, "%s values to unpack (expected %d, got %zu)",
                       cnt > (size_t)n->n_names ? "too many" : "not enough", n->n_names, cnt);
    for (int i = 0; i < n->n_names; i++)
        if (scope_set(r, n->pos, n->names[i], n->name_lens[i], items[i])) return -1;
    return 0;
}

static int exec_for(jrender *r, const jnode *n) {
    jv seq;
    const jv *items;
    size_t cnt;
    if (eval(r, n->a, &seq) || jb_iterate(r, n->pos, &seq, &items, &cnt)) return -1;
    if (n->b) { /* {% for x in xs if cond %}: filter first, so loop.length counts what runs */
        jv_list *kept = jv_list_new(r->arena, cnt);
        if (!kept) return oom(r, n->pos);
        for (size_t i = 0; i < cnt; i++) {
            jscope frame;
            jv c;
            scope_push(r, &frame);
            int rc = bind_targets(r, n, &items[i]);
            if (!rc) rc = eval(r, n->b, &c);
            scope_pop(r);
            if (rc || step(r, n->pos)) return -1;
            if (jv_truthy(&c) && jv_list_push(r->arena, kept, items[i])) return oom(r, n->pos);
        }
        items = kept->items;
        cnt = kept->n;
    }
    if (cnt == 0) return exec_body(r, &n->items2);
    jv_loop *loop = ja_alloc(r->arena, sizeof *loop);
    if (!loop) return oom(r, n->pos);
    loop->items = items;
    loop->length = cnt;
    jv loopv = {0};
    loopv.type = JV_LOOP;
    loopv.u.loop = loop;
    for (size_t i = 0; i < cnt; i++) {
        jscope frame;
        loop->index0 = i;
        scope_push(r, &frame);
        int rc = step(r, n->pos);
        if (!rc) rc = scope_set(r, n->pos, "loop", 4, loopv);
        if (!rc) rc = bind_targets(r, n, &items[i]);
        if (!rc) rc = exec_body(r, &n->items);
        scope_pop(r);
        if (rc) return -1;
        if (r->loop_ctl == 1) { r->loop_ctl = 0; break; }
        r->loop_ctl = 0;
    }
    return 0;
}

static int exec_stmt(jrender *r, const jnode *n) {
    if (step(r, n->pos)) return -1;
    switch (n->kind) {
    case N_TEXT:
        if (jbuf_put(&r->out, n->value.u.str.s, n->value.u.str.len))
            return jr_fail(r, n->pos, "rendered text passed the output limit (%zu bytes)", r->out.limit);
        return 0;
    case N_OUTPUT: {
        jv v;
        if (eval(r, n->a, &v)) return -1;
        if (jv_write_str(&r->out, &v))
            return jr_fail(r, n->pos, "rendered text passed the output limit (%zu bytes)", r->out.limit);
        return 0;
    }
    case N_IF: {
        jv c;
        if (eval(r, n->a, &c)) return -1;
        return exec_body(r, jv_truthy(&c) ? &n->items : &n->items2);
    }
    case N_FOR:
        return exec_for(r, n);
    case N_SET: {
        jv v;
        if (eval(r, n->a, &v)) return -1;
        if (n->name) { /* ns.attr = v */
            const jv *ns = scope_get(r, n->names[0], n->name_lens[0]);
            if (!ns || ns->type != JV_DICT || !ns->u.dict->is_namespace)
                return jr_fail(r, n->pos, "cannot assign attribute on non-namespace object '%.*s'",
                               (int)n->name_lens[0], n->names[0]);
            if (jv_dict_set(r->arena, ns->u.dict, n->name, n->name_len, v)) return oom(r, n->pos);
            return 0;
        }
        return bind_targets(r, n, &v);
    }
    case N_SET_BLOCK: {
        jbuf saved = r->out;
        jbuf capture = {0};
        capture.limit = saved.limit;
        r->out = capture;
        int rc = exec_body(r, &n->items);
        capture = r->out;
        r->out = saved;
        if (rc) { jbuf_free(&capture); return -1; }
        char *s = ja_strdup(r->arena, capture.data ? capture.data : "", capture.len);
        size_t len = capture.len;
        jbuf_free(&capture);
        if (!s) return oom(r, n->pos);
        return scope_set(r, n->pos, n->names[0], n->name_lens[0], jv_str(s, len));
    }
    case N_BREAK: case N_CONTINUE: {
        bool in_loop = false;
        for (const jscope *s = r->scope; s && !in_loop; s = s->parent)
            for (int i = 0; i < s->n; i++)
                if (s->lens[i] == 4 && memcmp(s->names[i], "loop", 4) == 0 && s->vals[i].type == JV_LOOP) {
                    in_loop = true;
                    break;
                }
        if (!in_loop) return jr_fail(r, n->pos, "'%s' outside of a for loop", n->kind == N_BREAK ? "break" : "continue");
        r->loop_ctl = n->kind == N_BREAK ? 1 : 2;
        return 0;
    }
    case N_GENERATION:
        return exec_body(r, &n->items);
    case N_FILTER_BLOCK: {
        jbuf saved = r->out, capture = {0};
        capture.limit = saved.limit;
        r->out = capture;
        int rc = exec_body(r, &n->items);
        capture = r->out;
        r->out = saved;
        char *s = rc ? NULL : ja_strdup(r->arena, capture.data ? capture.data : "", capture.len);
        jv v = jv_str(s, capture.len);
        jbuf_free(&capture);
        if (rc) return -1;
        if (!s) return oom(r, n->pos);
        for (int i = 0; i < n->items2.n; i++) {
            const jnode *f = n->items2.v[i];
            jargs args;
            if (eval_args(r, f, &args) || jb_filter(r, f->pos, f->name, f->name_len, &v, &args, &v)) return -1;
        }
        if (jv_write_str(&r->out, &v))
            return jr_fail(r, n->pos, "rendered text passed the output limit (%zu bytes)", r->out.limit);
        return 0;
    }
    case N_MACRO: {
        jv_func *f = ja_alloc(r->arena, sizeof *f);
        if (!f) return oom(r, n->pos);
        f->kind = JF_MACRO;
        f->name = ja_strdup(r->arena, n->name, n->name_len);
        f->macro = n;
        if (!f->name) return oom(r, n->pos);
        jv v = {0};
        v.type = JV_FUNC;
        v.u.func = f;
        return scope_set(r, n->pos, n->name, n->name_len, v);
    }
    default:
        return jr_fail(r, n->pos, "internal: expression node as a statement");
    }
}

static int exec_body(jrender *r, const jnodes *body) {
    for (int i = 0; i < body->n; i++) {
        if (exec_stmt(r, body->v[i])) return -1;
        if (r->loop_ctl) return 0;
    }
    return 0;
}

/* ---- entry ---- */

static jv fn_value(jrender *r, jv_func_kind kind, const char *name) {
    jv v = jv_none();
    jv_func *f = ja_alloc(r->arena, sizeof *f);
    if (!f) return v;
    f->kind = kind;
    f->name = name;
    v.type = JV_FUNC;
    v.u.func = f;
    return v;
}

static int set_str(jrender *r, const char *name, const char *s) {
    char *copy = ja_strdup(r->arena, s, strlen(s));
    if (!copy) return oom(r, 0);
    return scope_set(r, 0, name, strlen(name), jv_str(copy, strlen(copy)));
}

static int build_messages(jrender *r, const jinja_chat_vars *vars, jv *out) {
    jv_list *l = jv_list_new(r->arena, (size_t)vars->n_messages);
    if (!l) return oom(r, 0);
    for (int i = 0; i < vars->n_messages; i++) {
        const jinja_chat_msg *m = &vars->messages[i];
        jv_dict *d = jv_dict_new(r->arena, 3);
        if (!d) return oom(r, 0);
        const char *role = m->role ? m->role : "";
        jv rolev = jv_str(role, strlen(role));
        jv contentv = m->content ? jv_str(m->content, strlen(m->content)) : jv_none();
        if (jv_dict_set(r->arena, d, "role", 4, rolev) || jv_dict_set(r->arena, d, "content", 7, contentv))
            return oom(r, 0);
        if (m->reasoning_content) {
            /* transformers copies reasoning_content to "thinking" (first) as well */
            jv rv = jv_str(m->reasoning_content, strlen(m->reasoning_content));
            jv_dict *d2 = jv_dict_new(r->arena, 4);
            if (!d2 || jv_dict_set(r->arena, d2, "thinking", 8, rv) || jv_dict_set(r->arena, d2, "role", 4, rolev) ||
                jv_dict_set(r->arena, d2, "content", 7, contentv) ||
                jv_dict_set(r->arena, d2, "reasoning_content", 17, rv))
                return oom(r, 0);
            d = d2;
        }
        jv dv = {0};
        dv.type = JV_DICT;
        dv.u.dict = d;
        if (jv_list_push(r->arena, l, dv)) return oom(r, 0);
    }
    out->type = JV_LIST;
    out->u.list = l;
    return 0;
}

/* Variables of a chat render from the C structs. */
static int bind_chat(jrender *r, const void *ctx) {
    const jinja_chat_vars *vars = ctx;
    jv messages;
    int rc = build_messages(r, vars, &messages);
    if (!rc) rc = scope_set(r, 0, "messages", 8, messages);
    if (!rc) rc = scope_set(r, 0, "tools", 5, jv_none());
    if (!rc) rc = scope_set(r, 0, "documents", 9, jv_none());
    if (!rc) rc = scope_set(r, 0, "add_generation_prompt", 21, jv_bool(vars->add_generation_prompt));
    if (!rc && vars->bos_token) rc = set_str(r, "bos_token", vars->bos_token);
    if (!rc && vars->eos_token) rc = set_str(r, "eos_token", vars->eos_token);
    if (!rc && vars->enable_thinking >= 0)
        rc = scope_set(r, 0, "enable_thinking", 15, jv_bool(vars->enable_thinking != 0));
    for (int i = 0; !rc && i < vars->n_extra; i++) rc = set_str(r, vars->extra_names[i], vars->extra_values[i]);
    return rc;
}

/* Variables from the keys of a JSON object. */
static int bind_json(jrender *r, const void *ctx) {
    const json_t *obj = ctx;
    if (!json_is_object(obj)) return vc_errorf(r->err, "chat template: the variables must be a JSON object");
    const char *key;
    const json_t *val;
    json_object_foreach((json_t *)obj, key, val) {
        jv v;
        int rc = jv_from_json(r->arena, val, &v, 0);
        if (rc == -2) return vc_errorf(r->err, "chat template: variable '%s' is nested too deeply", key);
        if (rc) return oom(r, 0);
        if (scope_set(r, 0, key, strlen(key), v)) return -1;
    }
    return 0;
}

static int render(const jinja_template *tpl, const jinja_limits *limits, int (*bind)(jrender *, const void *),
                  const void *ctx, char **out, size_t *out_len, vc_error *err) {
    *out = NULL;
    jinja_limits lim = {.max_output = 64u << 20, .max_memory = 256u << 20, .max_steps = 10000000};
    if (limits) {
        if (limits->max_output) lim.max_output = limits->max_output;
        if (limits->max_memory) lim.max_memory = limits->max_memory;
        if (limits->max_steps) lim.max_steps = limits->max_steps;
    }
    jarena arena;
    ja_init(&arena, lim.max_memory);
    jrender r = {.arena = &arena, .err = err, .src = tpl->src, .src_len = tpl->src_len, .max_steps = lim.max_steps};
    r.out.limit = lim.max_output;
    jscope globals, root;
    scope_push(&r, &globals);
    int rc = scope_set(&r, 0, "range", 5, fn_value(&r, JF_RANGE, "range"));
    if (!rc) rc = scope_set(&r, 0, "namespace", 9, fn_value(&r, JF_NAMESPACE, "namespace"));
    if (!rc) rc = scope_set(&r, 0, "dict", 4, fn_value(&r, JF_DICT, "dict"));
    if (!rc) rc = scope_set(&r, 0, "raise_exception", 15, fn_value(&r, JF_RAISE, "raise_exception"));
    if (!rc) rc = scope_set(&r, 0, "strftime_now", 12, fn_value(&r, JF_STRFTIME, "strftime_now"));
    if (!rc) rc = bind(&r, ctx);
    if (!rc) {
        scope_push(&r, &root);
        r.root_scope = &root;
        rc = exec_body(&r, &tpl->body);
        scope_pop(&r);
    }
    scope_pop(&r);
    ja_free(&arena);
    if (rc) {
        jbuf_free(&r.out);
        return -1;
    }
    if (!r.out.data && jbuf_put(&r.out, "", 0)) return vc_errorf(err, "chat template: out of memory");
    *out = r.out.data;
    if (out_len) *out_len = r.out.len;
    return 0;
}

int jinja_render_chat(const jinja_template *tpl, const jinja_chat_vars *vars,
                      const jinja_limits *limits, char **out, size_t *out_len, vc_error *err) {
    return render(tpl, limits, bind_chat, vars, out, out_len, err);
}

int jinja_render_json(const jinja_template *tpl, const json_t *vars, const jinja_limits *limits,
                      char **out, size_t *out_len, vc_error *err) {
    return render(tpl, limits, bind_json, vars, out, out_len, err);
}

int jinja_template_parse(jinja_template **out, const char *src, size_t len, vc_error *err) {
    *out = NULL;
    jinja_template *t = calloc(1, sizeof *t);
    if (!t) return vc_errorf(err, "chat template: out of memory");
    ja_init(&t->arena, 0);
    jtoks toks;
    if (jinja_lex(&t->arena, src, len, &t->src, &t->src_len, &toks, err) ||
        jinja_parse_tokens(&t->arena, t->src, t->src_len, &toks, &t->body, err)) {
        jinja_template_free(t);
        return -1;
    }
    *out = t;
    return 0;
}

void jinja_template_free(jinja_template *tpl) {
    if (!tpl) return;
    ja_free(&tpl->arena);
    free(tpl);
}
