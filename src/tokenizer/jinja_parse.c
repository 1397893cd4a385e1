/* Jinja parser: tokens -> syntax tree. The expression grammar follows
 * jinja2's parser precedence, lowest first:
 *   cond-expr (a if b else c) < or < and < not < compare (== != < <= > >= in, not in)
 *   < + - < ~ < * / // % < ** < unary - + < primary with postfix (.x [i] (args))
 *   and filters / tests (| f, is t), which bind tighter than any binary operator. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "tokenizer/jinja_internal.h"

#define MAX_NESTING 128

typedef struct parser {
    jarena *a;
    const char *src;
    size_t src_len;
    const jtoks *toks;
    size_t i;
    int depth;
    vc_error *err;
} parser;

static int pfail(parser *P, uint32_t pos, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int pfail(parser *P, uint32_t pos, const char *fmt, ...) {
    char where[64], msg[512];
    jinja_where(P->src, P->src_len, pos, where, sizeof where);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return vc_errorf(P->err, "chat template %s: %s", where, msg);
}

static const jtok *cur(const parser *P) { return &P->toks->v[P->i]; }
static const jtok *peek_at(const parser *P, size_t k) {
    size_t j = P->i + k;
    return &P->toks->v[j < P->toks->n ? j : P->toks->n - 1];
}
static void advance(parser *P) { if (P->i + 1 < P->toks->n) P->i++; }

static bool tok_is(const jtok *t, jtok_type type, const char *text) {
    if (t->type != type) return false;
    if (!text) return true;
    size_t k = strlen(text);
    return t->len == k && memcmp(t->s, text, k) == 0;
}
static bool at_op(const parser *P, const char *op) { return tok_is(cur(P), TK_OP, op); }
static bool at_name(const parser *P, const char *name) { return tok_is(cur(P), TK_NAME, name); }

static const char *tok_desc(const jtok *t, char *buf, size_t n) {
    switch (t->type) {
    case TK_EOF: return "end of template";
    case TK_TEXT: return "template text";
    case TK_VAR_BEGIN: return "'{{'";
    case TK_VAR_END: return "'}}'";
    case TK_BLOCK_BEGIN: return "'{%'";
    case TK_BLOCK_END: return "'%}'";
    case TK_STRING: return "a string";
    case TK_INT: case TK_FLOAT: return "a number";
    default:
        snprintf(buf, n, "'%.*s'", (int)(t->len > 40 ? 40 : t->len), t->s);
        return buf;
    }
}

static int expect_op(parser *P, const char *op) {
    if (at_op(P, op)) { advance(P); return 0; }
    char b[64];
    return pfail(P, cur(P)->pos, "expected '%s', got %s", op, tok_desc(cur(P), b, sizeof b));
}

static jnode *mk(parser *P, jnode_kind kind, uint32_t pos) {
    jnode *n = ja_alloc(P->a, sizeof *n);
    if (!n) {
        vc_errorf(P->err, "chat template: out of memory while parsing");
        return NULL;
    }
    n->kind = kind;
    n->pos = pos;
    return n;
}

static int nodes_push(parser *P, jnodes *l, jnode *n) {
    if (l->n == l->cap) {
        int cap = l->cap ? l->cap * 2 : 4;
        jnode **v = ja_alloc(P->a, (size_t)cap * sizeof *v);
        if (!v) return vc_errorf(P->err, "chat template: out of memory while parsing");
        if (l->n) memcpy(v, l->v, (size_t)l->n * sizeof *v);
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = n;
    return 0;
}

static int names_push(parser *P, jnode *n, const char *s, size_t len) {
    const char **names = ja_alloc(P->a, (size_t)(n->n_names + 1) * sizeof *names);
    size_t *lens = ja_alloc(P->a, (size_t)(n->n_names + 1) * sizeof *lens);
    if (!names || !lens) return vc_errorf(P->err, "chat template: out of memory while parsing");
    if (n->n_names) {
        memcpy(names, n->names, (size_t)n->n_names * sizeof *names);
        memcpy(lens, n->name_lens, (size_t)n->n_names * sizeof *lens);
    }
    names[n->n_names] = s;
    lens[n->n_names] = len;
    n->names = names;
    n->name_lens = lens;
    n->n_names++;
    return 0;
}

static jnode *parse_expression(parser *P, bool with_condexpr);
static jnode *parse_unary(parser *P, bool with_filter);
static jnode *parse_or(parser *P);

static bool enter(parser *P) {
    if (++P->depth > MAX_NESTING) {
        pfail(P, cur(P)->pos, "nested too deeply (more than %d levels)", MAX_NESTING);
        return false;
    }
    return true;
}

/* Comma-separated expressions; a tuple if there is a comma. end_name: an
 * extra terminator keyword (e.g. "in"), or NULL. */
static jnode *parse_tuple(parser *P, bool with_condexpr, const char *end_name, bool explicit_parens) {
    uint32_t pos = cur(P)->pos;
    jnode *t = mk(P, N_TUPLE, pos);
    if (!t) return NULL;
    bool is_tuple = false;
    for (;;) {
        if (t->items.n && expect_op(P, ",")) return NULL;
        const jtok *c = cur(P);
        if (c->type == TK_VAR_END || c->type == TK_BLOCK_END || tok_is(c, TK_OP, ")") ||
            (end_name && tok_is(c, TK_NAME, end_name)))
            break;
        jnode *e = parse_expression(P, with_condexpr);
        if (!e || nodes_push(P, &t->items, e)) return NULL;
        if (at_op(P, ",")) is_tuple = true;
        else break;
    }
    if (!is_tuple) {
        if (t->items.n) return t->items.v[0];
        if (!explicit_parens) {
            char b[64];
            pfail(P, cur(P)->pos, "expected an expression, got %s", tok_desc(cur(P), b, sizeof b));
            return NULL;
        }
    }
    return t;
}

/* (args, name=value) after the '(' has been seen; fills items / names+items2. */
static int parse_call_args(parser *P, jnode *n) {
    if (expect_op(P, "(")) return -1;
    bool first = true;
    while (!at_op(P, ")")) {
        if (!first && expect_op(P, ",")) return -1;
        first = false;
        if (at_op(P, ")")) break;
        if (at_op(P, "*") || at_op(P, "**"))
            return pfail(P, cur(P)->pos, "unsupported construct: *args / **kwargs in a call");
        if (cur(P)->type == TK_NAME && tok_is(peek_at(P, 1), TK_OP, "=")) {
            const jtok *name = cur(P);
            advance(P);
            advance(P);
            jnode *v = parse_expression(P, true);
            if (!v || names_push(P, n, name->s, name->len) || nodes_push(P, &n->items2, v)) return -1;
        } else {
            if (n->n_names) return pfail(P, cur(P)->pos, "positional argument after keyword argument");
            jnode *v = parse_expression(P, true);
            if (!v || nodes_push(P, &n->items, v)) return -1;
        }
    }
    return expect_op(P, ")");
}

static jnode *parse_primary(parser *P) {
    const jtok *t = cur(P);
    jnode *n;
    char b[64];
    switch (t->type) {
    case TK_NAME:
        n = mk(P, N_CONST, t->pos);
        if (!n) return NULL;
        if (tok_is(t, TK_NAME, "true") || tok_is(t, TK_NAME, "True")) n->value = jv_bool(true);
        else if (tok_is(t, TK_NAME, "false") || tok_is(t, TK_NAME, "False")) n->value = jv_bool(false);
        else if (tok_is(t, TK_NAME, "none") || tok_is(t, TK_NAME, "None")) n->value = jv_none();
        else {
            n->kind = N_NAME;
            n->name = t->s;
            n->name_len = t->len;
        }
        advance(P);
        return n;
    case TK_STRING: {
        /* adjacent literals concatenate */
        size_t total = 0, k = 0;
        while (peek_at(P, k)->type == TK_STRING) total += peek_at(P, k++)->len;
        char *s = ja_alloc(P->a, total + 1);
        n = mk(P, N_CONST, t->pos);
        if (!s || !n) return NULL;
        size_t o = 0;
        while (cur(P)->type == TK_STRING) {
            memcpy(s + o, cur(P)->s, cur(P)->len);
            o += cur(P)->len;
            advance(P);
        }
        n->value = jv_str(s, total);
        return n;
    }
    case TK_INT:
        n = mk(P, N_CONST, t->pos);
        if (!n) return NULL;
        n->value = jv_int(t->i);
        advance(P);
        return n;
    case TK_FLOAT:
        n = mk(P, N_CONST, t->pos);
        if (!n) return NULL;
        n->value = jv_float(t->f);
        advance(P);
        return n;
    case TK_OP:
        if (at_op(P, "(")) {
            advance(P);
            n = parse_tuple(P, true, NULL, true);
            if (!n || expect_op(P, ")")) return NULL;
            return n;
        }
        if (at_op(P, "[")) {
            n = mk(P, N_LIST, t->pos);
            if (!n) return NULL;
            advance(P);
            while (!at_op(P, "]")) {
                if (n->items.n && expect_op(P, ",")) return NULL;
                if (at_op(P, "]")) break;
                jnode *e = parse_expression(P, true);
                if (!e || nodes_push(P, &n->items, e)) return NULL;
            }
            advance(P);
            return n;
        }
        if (at_op(P, "{")) {
            n = mk(P, N_DICT, t->pos);
            if (!n) return NULL;
            advance(P);
            while (!at_op(P, "}")) {
                if (n->items.n && expect_op(P, ",")) return NULL;
                if (at_op(P, "}")) break;
                jnode *k = parse_expression(P, true);
                if (!k || expect_op(P, ":")) return NULL;
                jnode *v = parse_expression(P, true);
                if (!v || nodes_push(P, &n->items, k) || nodes_push(P, &n->items2, v)) return NULL;
            }
            advance(P);
            return n;
        }
        /* fallthrough */
    default:
        pfail(P, t->pos, "unexpected %s in an expression", tok_desc(t, b, sizeof b));
        return NULL;
    }
}

static jnode *parse_subscribed(parser *P) {
    uint32_t pos = cur(P)->pos;
    jnode *parts[3] = {NULL, NULL, NULL};
    if (!at_op(P, ":")) {
        jnode *e = parse_expression(P, true);
        if (!e) return NULL;
        if (!at_op(P, ":")) return e;
        parts[0] = e;
    }
    advance(P); /* ':' */
    if (!at_op(P, "]") && !at_op(P, ",") && !at_op(P, ":")) {
        if (!(parts[1] = parse_expression(P, true))) return NULL;
    }
    if (at_op(P, ":")) {
        advance(P);
        if (!at_op(P, "]") && !at_op(P, ",")) {
            if (!(parts[2] = parse_expression(P, true))) return NULL;
        }
    }
    jnode *s = mk(P, N_SLICE, pos);
    if (!s) return NULL;
    s->a = parts[0];
    s->b = parts[1];
    s->c = parts[2];
    return s;
}

/* .name, .0, [key], [a:b:c], (args) */
static jnode *parse_postfix(parser *P, jnode *node) {
    for (;;) {
        const jtok *t = cur(P);
        if (tok_is(t, TK_OP, ".")) {
            advance(P);
            const jtok *k = cur(P);
            if (k->type == TK_NAME) {
                jnode *g = mk(P, N_GETATTR, k->pos);
                if (!g) return NULL;
                g->a = node;
                g->name = k->s;
                g->name_len = k->len;
                advance(P);
                node = g;
            } else if (k->type == TK_INT) {
                jnode *g = mk(P, N_GETITEM, k->pos), *c = mk(P, N_CONST, k->pos);
                if (!g || !c) return NULL;
                c->value = jv_int(k->i);
                g->a = node;
                g->b = c;
                advance(P);
                node = g;
            } else {
                char b[64];
                pfail(P, k->pos, "expected an attribute name after '.', got %s", tok_desc(k, b, sizeof b));
                return NULL;
            }
        } else if (tok_is(t, TK_OP, "[")) {
            advance(P);
            jnode *g = mk(P, N_GETITEM, t->pos), *tuple = mk(P, N_TUPLE, t->pos);
            if (!g || !tuple) return NULL;
            while (!at_op(P, "]")) {
                if (tuple->items.n && expect_op(P, ",")) return NULL;
                jnode *e = parse_subscribed(P);
                if (!e || nodes_push(P, &tuple->items, e)) return NULL;
            }
            advance(P);
            if (tuple->items.n == 0) {
                pfail(P, t->pos, "empty subscript []");
                return NULL;
            }
            g->a = node;
            if (tuple->items.n == 1 && tuple->items.v[0]->kind == N_SLICE) {
                /* parse_subscribed put start/stop/step in a/b/c; the slice node
                 * keeps the object in a and start/stop/step in items */
                jnode *s = tuple->items.v[0];
                jnode *sl = mk(P, N_SLICE, s->pos);
                if (!sl) return NULL;
                sl->a = node;
                if (nodes_push(P, &sl->items, s->a) || nodes_push(P, &sl->items, s->b) ||
                    nodes_push(P, &sl->items, s->c))
                    return NULL;
                node = sl;
                continue;
            }
            g->b = tuple->items.n == 1 ? tuple->items.v[0] : tuple;
            node = g;
        } else if (tok_is(t, TK_OP, "(")) {
            jnode *c = mk(P, N_CALL, t->pos);
            if (!c) return NULL;
            c->a = node;
            if (parse_call_args(P, c)) return NULL;
            node = c;
        } else {
            return node;
        }
    }
}

static int parse_dotted_name(parser *P, jnode *n) {
    const jtok *t = cur(P);
    if (t->type != TK_NAME) {
        char b[64];
        return pfail(P, t->pos, "expected a filter or test name, got %s", tok_desc(t, b, sizeof b));
    }
    n->name = t->s;
    n->name_len = t->len;
    advance(P);
    while (at_op(P, ".") && peek_at(P, 1)->type == TK_NAME) {
        advance(P);
        n->name_len = (size_t)(cur(P)->s + cur(P)->len - n->name);
        advance(P);
    }
    return 0;
}

/* | filter(args), is [not] test(args) / is test arg, (args) */
static jnode *parse_filter_expr(parser *P, jnode *node) {
    for (;;) {
        const jtok *t = cur(P);
        if (tok_is(t, TK_OP, "|")) {
            advance(P);
            jnode *f = mk(P, N_FILTER, cur(P)->pos);
            if (!f) return NULL;
            f->a = node;
            if (parse_dotted_name(P, f)) return NULL;
            if (!jb_has_filter(f->name, f->name_len)) {
                pfail(P, f->pos, "unknown filter '%.*s'", (int)f->name_len, f->name);
                return NULL;
            }
            if (at_op(P, "(") && parse_call_args(P, f)) return NULL;
            node = f;
        } else if (tok_is(t, TK_NAME, "is")) {
            advance(P);
            jnode *f = mk(P, N_TEST, cur(P)->pos);
            if (!f) return NULL;
            f->a = node;
            if (at_name(P, "not")) {
                f->negated = true;
                advance(P);
            }
            if (parse_dotted_name(P, f)) return NULL;
            if (!jb_has_test(f->name, f->name_len)) {
                pfail(P, f->pos, "unknown test '%.*s'", (int)f->name_len, f->name);
                return NULL;
            }
            const jtok *c = cur(P);
            if (tok_is(c, TK_OP, "(")) {
                if (parse_call_args(P, f)) return NULL;
            } else if ((c->type == TK_NAME || c->type == TK_STRING || c->type == TK_INT || c->type == TK_FLOAT ||
                        tok_is(c, TK_OP, "[") || tok_is(c, TK_OP, "{")) &&
                       !tok_is(c, TK_NAME, "else") && !tok_is(c, TK_NAME, "or") && !tok_is(c, TK_NAME, "and")) {
                if (tok_is(c, TK_NAME, "is")) {
                    pfail(P, c->pos, "you cannot chain multiple tests with 'is'");
                    return NULL;
                }
                jnode *arg = parse_primary(P);
                if (!arg || !(arg = parse_postfix(P, arg)) || nodes_push(P, &f->items, arg)) return NULL;
            }
            node = f;
        } else if (tok_is(t, TK_OP, "(")) {
            jnode *c = mk(P, N_CALL, t->pos);
            if (!c) return NULL;
            c->a = node;
            if (parse_call_args(P, c)) return NULL;
            node = c;
        } else {
            return node;
        }
    }
}

static jnode *parse_unary(parser *P, bool with_filter) {
    if (!enter(P)) return NULL;
    const jtok *t = cur(P);
    jnode *node;
    if (tok_is(t, TK_OP, "-") || tok_is(t, TK_OP, "+")) {
        node = mk(P, tok_is(t, TK_OP, "-") ? N_NEG : N_POS, t->pos);
        advance(P);
        if (!node || !(node->a = parse_unary(P, false))) return NULL;
    } else {
        node = parse_primary(P);
        if (!node) return NULL;
    }
    node = parse_postfix(P, node);
    if (node && with_filter) node = parse_filter_expr(P, node);
    P->depth--;
    return node;
}

static jnode *binop(parser *P, jop op, uint32_t pos, jnode *l, jnode *r) {
    if (!l || !r) return NULL;
    jnode *n = mk(P, N_BINOP, pos);
    if (!n) return NULL;
    n->op = op;
    n->a = l;
    n->b = r;
    return n;
}

static jnode *parse_pow(parser *P) {
    jnode *l = parse_unary(P, true);
    while (l && at_op(P, "**")) {
        uint32_t pos = cur(P)->pos;
        advance(P);
        l = binop(P, OP_POW, pos, l, parse_unary(P, true));
    }
    return l;
}

static jnode *parse_math2(parser *P) {
    jnode *l = parse_pow(P);
    while (l) {
        jop op;
        if (at_op(P, "*")) op = OP_MUL;
        else if (at_op(P, "/")) op = OP_DIV;
        else if (at_op(P, "//")) op = OP_FLOORDIV;
        else if (at_op(P, "%")) op = OP_MOD;
        else break;
        uint32_t pos = cur(P)->pos;
        advance(P);
        l = binop(P, op, pos, l, parse_pow(P));
    }
    return l;
}

static jnode *parse_concat(parser *P) {
    jnode *l = parse_math2(P);
    while (l && at_op(P, "~")) {
        uint32_t pos = cur(P)->pos;
        advance(P);
        l = binop(P, OP_CONCAT, pos, l, parse_math2(P));
    }
    return l;
}

static jnode *parse_math1(parser *P) {
    jnode *l = parse_concat(P);
    while (l && (at_op(P, "+") || at_op(P, "-"))) {
        jop op = at_op(P, "+") ? OP_ADD : OP_SUB;
        uint32_t pos = cur(P)->pos;
        advance(P);
        l = binop(P, op, pos, l, parse_concat(P));
    }
    return l;
}

static jnode *parse_compare(parser *P) {
    uint32_t pos = cur(P)->pos;
    jnode *first = parse_math1(P);
    if (!first) return NULL;
    jnode *cmp = NULL;
    for (;;) {
        jop op;
        if (at_op(P, "==")) op = OP_EQ;
        else if (at_op(P, "!=")) op = OP_NE;
        else if (at_op(P, "<")) op = OP_LT;
        else if (at_op(P, "<=")) op = OP_LE;
        else if (at_op(P, ">")) op = OP_GT;
        else if (at_op(P, ">=")) op = OP_GE;
        else if (at_name(P, "in")) op = OP_IN;
        else if (at_name(P, "not") && tok_is(peek_at(P, 1), TK_NAME, "in")) { op = OP_NOTIN; advance(P); }
        else break;
        advance(P);
        if (!cmp) {
            if (!(cmp = mk(P, N_COMPARE, pos)) || nodes_push(P, &cmp->items, first)) return NULL;
        }
        jnode *r = parse_math1(P);
        if (!r || nodes_push(P, &cmp->items, r)) return NULL;
        jop *ops = ja_alloc(P->a, (size_t)cmp->items.n * sizeof *ops);
        if (!ops) { vc_errorf(P->err, "chat template: out of memory while parsing"); return NULL; }
        if (cmp->items.n > 2) memcpy(ops, cmp->ops, (size_t)(cmp->items.n - 2) * sizeof *ops);
        ops[cmp->items.n - 2] = op;
        cmp->ops = ops;
    }
    return cmp ? cmp : first;
}

static jnode *parse_not(parser *P) {
    if (at_name(P, "not")) {
        if (!enter(P)) return NULL;
        jnode *n = mk(P, N_NOT, cur(P)->pos);
        advance(P);
        if (!n || !(n->a = parse_not(P))) return NULL;
        P->depth--;
        return n;
    }
    return parse_compare(P);
}

static jnode *parse_and(parser *P) {
    jnode *l = parse_not(P);
    while (l && at_name(P, "and")) {
        jnode *n = mk(P, N_AND, cur(P)->pos);
        advance(P);
        if (!n || !(n->b = parse_not(P))) return NULL;
        n->a = l;
        l = n;
    }
    return l;
}

static jnode *parse_or(parser *P) {
    jnode *l = parse_and(P);
    while (l && at_name(P, "or")) {
        jnode *n = mk(P, N_OR, cur(P)->pos);
        advance(P);
        if (!n || !(n->b = parse_and(P))) return NULL;
        n->a = l;
        l = n;
    }
    return l;
}

static jnode *parse_condexpr(parser *P) {
    if (!enter(P)) return NULL;
    jnode *e1 = parse_or(P);
    while (e1 && at_name(P, "if")) {
        jnode *n = mk(P, N_COND, cur(P)->pos);
        advance(P);
        if (!n || !(n->a = parse_or(P))) return NULL;
        n->b = e1;
        if (at_name(P, "else")) {
            advance(P);
            if (!(n->c = parse_condexpr(P))) return NULL;
        }
        e1 = n;
    }
    P->depth--;
    return e1;
}

static jnode *parse_expression(parser *P, bool with_condexpr) {
    return with_condexpr ? parse_condexpr(P) : parse_or(P);
}

/* ---- statements ---- */

static int expect_block_end(parser *P) {
    if (cur(P)->type == TK_BLOCK_END) { advance(P); return 0; }
    char b[64];
    return pfail(P, cur(P)->pos, "expected '%%}', got %s", tok_desc(cur(P), b, sizeof b));
}

/* Parses statements into body until a "{% name" with name in ends[] (left at the
 * name) or, when ends is NULL, the end of the template. */
static int parse_body(parser *P, jnodes *body, const char *const *ends, const char *opener, uint32_t opener_pos);

static int parse_statement(parser *P, jnodes *body, uint32_t tag_pos);

static bool in_list(const jtok *t, const char *const *ends) {
    for (int k = 0; ends && ends[k]; k++)
        if (tok_is(t, TK_NAME, ends[k])) return true;
    return false;
}

static int parse_body(parser *P, jnodes *body, const char *const *ends, const char *opener, uint32_t opener_pos) {
    if (!enter(P)) return -1;
    for (;;) {
        const jtok *t = cur(P);
        if (t->type == TK_EOF) {
            if (ends) return pfail(P, opener_pos, "'%s' tag is never closed (expected '{%% %s %%}')", opener, ends[0]);
            break;
        }
        if (t->type == TK_TEXT) {
            jnode *n = mk(P, N_TEXT, t->pos);
            if (!n) return -1;
            n->value = jv_str(t->s, t->len);
            if (nodes_push(P, body, n)) return -1;
            advance(P);
        } else if (t->type == TK_VAR_BEGIN) {
            advance(P);
            jnode *n = mk(P, N_OUTPUT, t->pos);
            if (!n || !(n->a = parse_tuple(P, true, NULL, false))) return -1;
            if (cur(P)->type != TK_VAR_END) {
                char b[64];
                return pfail(P, cur(P)->pos, "expected '}}', got %s", tok_desc(cur(P), b, sizeof b));
            }
            advance(P);
            if (nodes_push(P, body, n)) return -1;
        } else if (t->type == TK_BLOCK_BEGIN) {
            if (in_list(peek_at(P, 1), ends)) {
                advance(P);
                break;
            }
            advance(P);
            if (parse_statement(P, body, t->pos)) return -1;
        } else {
            char b[64];
            return pfail(P, t->pos, "unexpected %s", tok_desc(t, b, sizeof b));
        }
    }
    P->depth--;
    return 0;
}

/* {% set %} / {% for %} targets: name, name.attr (set only) or a, b. */
static int parse_target(parser *P, jnode *n, bool allow_attr) {
    for (;;) {
        const jtok *t = cur(P);
        if (t->type != TK_NAME) {
            char b[64];
            return pfail(P, t->pos, "expected a variable name, got %s", tok_desc(t, b, sizeof b));
        }
        if (names_push(P, n, t->s, t->len)) return -1;
        advance(P);
        if (allow_attr && n->n_names == 1 && at_op(P, ".")) {
            advance(P);
            if (cur(P)->type != TK_NAME) return pfail(P, cur(P)->pos, "expected an attribute name after '.'");
            n->name = cur(P)->s;
            n->name_len = cur(P)->len;
            advance(P);
            return 0;
        }
        if (!at_op(P, ",")) return 0;
        advance(P);
    }
}

static int parse_statement(parser *P, jnodes *body, uint32_t tag_pos) {
    const jtok *t = cur(P);
    if (t->type != TK_NAME) {
        char b[64];
        return pfail(P, t->pos, "expected a tag name after '{%%', got %s", tok_desc(t, b, sizeof b));
    }
    if (tok_is(t, TK_NAME, "if")) {
        jnode *n = mk(P, N_IF, tag_pos);
        if (!n) return -1;
        advance(P);
        if (!(n->a = parse_tuple(P, false, NULL, false)) || expect_block_end(P)) return -1;
        if (nodes_push(P, body, n)) return -1;
        static const char *const ends[] = {"endif", "elif", "else", NULL};
        for (;;) {
            if (parse_body(P, &n->items, ends, "if", tag_pos)) return -1;
            const jtok *e = cur(P);
            uint32_t epos = e->pos;
            advance(P);
            if (tok_is(e, TK_NAME, "elif")) {
                jnode *m = mk(P, N_IF, epos);
                if (!m || !(m->a = parse_tuple(P, false, NULL, false)) || expect_block_end(P)) return -1;
                if (nodes_push(P, &n->items2, m)) return -1;
                n = m;
                continue;
            }
            if (tok_is(e, TK_NAME, "else")) {
                static const char *const endif[] = {"endif", NULL};
                if (expect_block_end(P) || parse_body(P, &n->items2, endif, "else", epos)) return -1;
                advance(P);
            }
            return expect_block_end(P);
        }
    }
    if (tok_is(t, TK_NAME, "for")) {
        jnode *n = mk(P, N_FOR, tag_pos);
        if (!n) return -1;
        advance(P);
        if (parse_target(P, n, false)) return -1;
        if (!at_name(P, "in")) return pfail(P, cur(P)->pos, "expected 'in' in a for tag");
        advance(P);
        if (!(n->a = parse_tuple(P, false, "recursive", false))) return -1;
        if (at_name(P, "if")) {
            advance(P);
            if (!(n->b = parse_expression(P, true))) return -1;
        }
        if (at_name(P, "recursive")) return pfail(P, cur(P)->pos, "unsupported construct: recursive for loops");
        if (expect_block_end(P)) return -1;
        static const char *const ends[] = {"endfor", "else", NULL};
        if (parse_body(P, &n->items, ends, "for", tag_pos)) return -1;
        if (at_name(P, "else")) {
            uint32_t epos = cur(P)->pos;
            advance(P);
            static const char *const endfor[] = {"endfor", NULL};
            if (expect_block_end(P) || parse_body(P, &n->items2, endfor, "else", epos)) return -1;
        }
        advance(P);
        if (expect_block_end(P)) return -1;
        return nodes_push(P, body, n);
    }
    if (tok_is(t, TK_NAME, "set")) {
        jnode *n = mk(P, N_SET, tag_pos);
        if (!n) return -1;
        advance(P);
        if (parse_target(P, n, true)) return -1;
        if (at_op(P, "=")) {
            advance(P);
            if (!(n->a = parse_tuple(P, true, NULL, false)) || expect_block_end(P)) return -1;
            return nodes_push(P, body, n);
        }
        if (at_op(P, "|")) return pfail(P, cur(P)->pos, "unsupported construct: filtered {%% set %%} block");
        if (n->n_names != 1 || n->name) return pfail(P, cur(P)->pos, "a {%% set %%} block needs a single name");
        n->kind = N_SET_BLOCK;
        static const char *const ends[] = {"endset", NULL};
        if (expect_block_end(P) || parse_body(P, &n->items, ends, "set", tag_pos)) return -1;
        advance(P);
        if (expect_block_end(P)) return -1;
        return nodes_push(P, body, n);
    }
    if (tok_is(t, TK_NAME, "break") || tok_is(t, TK_NAME, "continue")) {
        jnode *n = mk(P, tok_is(t, TK_NAME, "break") ? N_BREAK : N_CONTINUE, tag_pos);
        advance(P);
        if (!n || expect_block_end(P)) return -1;
        return nodes_push(P, body, n);
    }
    if (tok_is(t, TK_NAME, "generation")) {
        /* transformers' {% generation %} marks assistant text; it renders its body */
        jnode *n = mk(P, N_GENERATION, tag_pos);
        advance(P);
        static const char *const ends[] = {"endgeneration", NULL};
        if (!n || expect_block_end(P) || parse_body(P, &n->items, ends, "generation", tag_pos)) return -1;
        advance(P);
        if (expect_block_end(P)) return -1;
        return nodes_push(P, body, n);
    }
    if (tok_is(t, TK_NAME, "filter")) {
        jnode *n = mk(P, N_FILTER_BLOCK, tag_pos);
        if (!n) return -1;
        advance(P);
        do {
            if (n->items2.n) advance(P); /* '|' */
            jnode *f = mk(P, N_FILTER, cur(P)->pos);
            if (!f || parse_dotted_name(P, f)) return -1;
            if (!jb_has_filter(f->name, f->name_len))
                return pfail(P, f->pos, "unknown filter '%.*s'", (int)f->name_len, f->name);
            if (at_op(P, "(") && parse_call_args(P, f)) return -1;
            if (nodes_push(P, &n->items2, f)) return -1;
        } while (at_op(P, "|"));
        static const char *const ends[] = {"endfilter", NULL};
        if (expect_block_end(P) || parse_body(P, &n->items, ends, "filter", tag_pos)) return -1;
        advance(P);
        if (expect_block_end(P)) return -1;
        return nodes_push(P, body, n);
    }
    if (tok_is(t, TK_NAME, "macro")) {
        jnode *n = mk(P, N_MACRO, tag_pos);
        if (!n) return -1;
        advance(P);
        if (cur(P)->type != TK_NAME) return pfail(P, cur(P)->pos, "expected a macro name");
        n->name = cur(P)->s;
        n->name_len = cur(P)->len;
        advance(P);
        if (expect_op(P, "(")) return -1;
        while (!at_op(P, ")")) {
            if (n->n_names && expect_op(P, ",")) return -1;
            if (cur(P)->type != TK_NAME) return pfail(P, cur(P)->pos, "expected a macro parameter name");
            if (names_push(P, n, cur(P)->s, cur(P)->len)) return -1;
            advance(P);
            jnode *dflt = NULL;
            if (at_op(P, "=")) {
                advance(P);
                if (!(dflt = parse_expression(P, true))) return -1;
            }
            if (nodes_push(P, &n->items2, dflt)) return -1;
        }
        advance(P);
        static const char *const ends[] = {"endmacro", NULL};
        if (expect_block_end(P) || parse_body(P, &n->items, ends, "macro", tag_pos)) return -1;
        advance(P);
        if (cur(P)->type == TK_NAME) advance(P); /* {% endmacro name %} */
        if (expect_block_end(P)) return -1;
        return nodes_push(P, body, n);
    }
    static const char *const known_ends[] = {"endif", "elif", "else", "endfor", "endset", "endgeneration",
                                             "endmacro", "endcall", "endfilter", "endraw", NULL};
    if (in_list(t, known_ends))
        return pfail(P, t->pos, "unexpected '{%% %.*s %%}' (no open tag it could close)", (int)t->len, t->s);
    return pfail(P, t->pos, "unsupported construct: '{%% %.*s %%}' tag", (int)(t->len > 40 ? 40 : t->len), t->s);
}

int jinja_parse_tokens(jarena *a, const char *src, size_t src_len, const jtoks *toks,
                       jnodes *body, vc_error *err) {
    parser P = {.a = a, .src = src, .src_len = src_len, .toks = toks, .i = 0, .depth = 0, .err = err};
    body->v = NULL;
    body->n = body->cap = 0;
    return parse_body(&P, body, NULL, NULL, 0);
}
