/* Shared between jinja_*.c: the arena, values, tokens and the syntax tree.
 * Not a public interface (see jinja.h). */
#ifndef VLLMC_JINJA_INTERNAL_H
#define VLLMC_JINJA_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tokenizer/jinja.h"
#include "util/error.h"

/* ---- arena: every value and tree node lives in one, freed at once ---- */

typedef struct ja_block ja_block;
typedef struct jarena {
    ja_block *head;
    size_t total, limit; /* bytes handed out so far; 0 limit = unlimited */
} jarena;

void ja_init(jarena *a, size_t limit);
void ja_free(jarena *a);
void *ja_alloc(jarena *a, size_t n); /* zeroed, 16-aligned; NULL when over limit */
char *ja_strdup(jarena *a, const char *s, size_t len); /* NUL-terminated copy */

/* ---- growable byte buffer (malloc'd) ---- */

typedef struct jbuf {
    char *data;
    size_t len, cap, limit; /* limit 0 = unlimited */
} jbuf;

int jbuf_put(jbuf *b, const char *s, size_t n); /* -1 on OOM or over limit */
int jbuf_putc(jbuf *b, char c);
void jbuf_free(jbuf *b);

/* ---- values ---- */

typedef enum {
    JV_UNDEFINED, JV_NONE, JV_BOOL, JV_INT, JV_FLOAT, JV_STRING,
    JV_LIST,      /* also tuples (is_tuple) */
    JV_DICT,      /* string keys, insertion order; also namespace() objects */
    JV_FUNC,      /* a global function or a method bound to a value */
    JV_LOOP,      /* the `loop` object of a for loop */
} jv_type;

typedef struct jv_list jv_list;
typedef struct jv_dict jv_dict;
typedef struct jv_func jv_func;
typedef struct jv_loop jv_loop;

typedef struct jv {
    jv_type type;
    union {
        bool b;
        int64_t i;
        double f;
        struct { const char *s; size_t len; } str; /* JV_STRING; JV_UNDEFINED: its name (may be NULL) */
        jv_list *list;
        jv_dict *dict;
        jv_func *func;
        jv_loop *loop;
    } u;
} jv;

struct jv_list {
    jv *items;
    size_t n, cap;
    bool is_tuple;
    /* the result of a lazy jinja2 filter (map, select, unique, reverse, ...):
     * always true, no len(), not subscriptable, printed as a generator */
    bool is_gen;
};

struct jv_dict {
    jv *keys; /* JV_STRING */
    jv *vals;
    size_t n, cap;
    bool is_namespace;
};

typedef enum {
    JF_RANGE, JF_NAMESPACE, JF_DICT, JF_RAISE, JF_STRFTIME, /* globals */
    JF_METHOD, /* name called on self */
    JF_CYCLE,  /* loop.cycle */
    JF_MACRO,  /* a {% macro %} of the template */
} jv_func_kind;

struct jnode;
struct jv_func {
    jv_func_kind kind;
    const char *name;
    jv self;
    const struct jnode *macro; /* JF_MACRO: its N_MACRO node */
};

struct jv_loop {
    const jv *items; /* the iterated values */
    size_t index0, length;
    int depth0;
};

static inline jv jv_undef(void) { jv v = {0}; v.type = JV_UNDEFINED; return v; }
static inline jv jv_none(void) { jv v = {0}; v.type = JV_NONE; return v; }
static inline jv jv_bool(bool b) { jv v = {0}; v.type = JV_BOOL; v.u.b = b; return v; }
static inline jv jv_int(int64_t i) { jv v = {0}; v.type = JV_INT; v.u.i = i; return v; }
static inline jv jv_float(double f) { jv v = {0}; v.type = JV_FLOAT; v.u.f = f; return v; }
static inline jv jv_str(const char *s, size_t len) {
    jv v = {0}; v.type = JV_STRING; v.u.str.s = s; v.u.str.len = len; return v;
}

jv_list *jv_list_new(jarena *a, size_t cap);
int jv_list_push(jarena *a, jv_list *l, jv v);
jv_dict *jv_dict_new(jarena *a, size_t cap);
int jv_dict_set(jarena *a, jv_dict *d, const char *key, size_t klen, jv v);
const jv *jv_dict_get(const jv_dict *d, const char *key, size_t klen); /* NULL if absent */

const char *jv_type_name(const jv *v); /* Python's name: 'str', 'int', 'dict', ... */
bool jv_truthy(const jv *v);
bool jv_equal(const jv *a, const jv *b);
/* str(v) as Python prints it, appended to b. */
int jv_write_str(jbuf *b, const jv *v);
/* repr(v) as Python prints it inside containers. */
int jv_write_repr(jbuf *b, const jv *v);
/* json.dumps(v, ensure_ascii=False, indent=indent (<0: none), sort_keys). -2 if not serializable. */
int jv_write_json(jbuf *b, const jv *v, int indent, bool sort_keys, int level);
/* JSON -> value (jinja_json.c); strings point into j. -1 OOM, -2 too deep. */
struct json_t;
int jv_from_json(jarena *a, const struct json_t *j, jv *out, int depth);
/* Python float repr (shortest round-trip). */
int jv_write_float(jbuf *b, double f);

/* ---- UTF-8 / Python string helpers ---- */

/* Decodes one code point at s[*i] (advancing *i); invalid bytes decode as themselves. */
uint32_t ju_next(const char *s, size_t len, size_t *i);
size_t ju_count(const char *s, size_t len); /* code points */
bool ju_isspace(uint32_t cp);              /* Python str.isspace() */

/* ---- tokens ---- */

typedef enum {
    TK_EOF, TK_TEXT, TK_VAR_BEGIN, TK_VAR_END, TK_BLOCK_BEGIN, TK_BLOCK_END,
    TK_NAME, TK_STRING, TK_INT, TK_FLOAT, TK_OP,
} jtok_type;

typedef struct jtok {
    jtok_type type;
    uint32_t pos;    /* byte offset in the normalized source */
    const char *s;   /* TEXT, NAME, STRING (unescaped), OP: text */
    size_t len;
    int64_t i;       /* TK_INT */
    double f;        /* TK_FLOAT */
} jtok;

typedef struct jtoks {
    jtok *v;
    size_t n, cap;
} jtoks;

/* Normalizes newlines (\r\n and \r -> \n, one trailing newline dropped, as
 * jinja2 does) into *norm (arena) and splits it into tokens. */
int jinja_lex(jarena *a, const char *src, size_t len, const char **norm, size_t *norm_len,
              jtoks *out, vc_error *err);
/* "line L col C" of a byte offset, into buf. */
void jinja_where(const char *src, size_t len, uint32_t pos, char *buf, size_t bufsz);

/* ---- syntax tree ---- */

typedef enum {
    /* statements */
    N_TEXT, N_OUTPUT, N_IF, N_FOR, N_SET, N_SET_BLOCK, N_BREAK, N_CONTINUE, N_GENERATION, N_MACRO,
    N_FILTER_BLOCK, /* {% filter f|g %}: items = body, items2 = the N_FILTER chain (a = NULL) */
    /* expressions */
    N_CONST, N_NAME, N_GETATTR, N_GETITEM, N_SLICE, N_CALL, N_FILTER, N_TEST,
    N_NOT, N_NEG, N_POS, N_BINOP, N_AND, N_OR, N_COMPARE, N_COND, N_LIST, N_TUPLE, N_DICT,
} jnode_kind;

typedef enum {
    OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_FLOORDIV, OP_MOD, OP_POW, OP_CONCAT,
    OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE, OP_IN, OP_NOTIN,
} jop;

typedef struct jnode jnode;
typedef struct jnodes {
    jnode **v;
    int n, cap;
} jnodes;

struct jnode {
    jnode_kind kind;
    uint32_t pos;       /* source offset, for error messages */
    jop op;
    bool negated;       /* N_TEST: `is not` */
    const char *name;   /* N_NAME, N_GETATTR, N_FILTER, N_TEST, N_SET target, N_MACRO */
    size_t name_len;
    jnode *a, *b, *c;   /* operands; N_IF: cond; N_FOR: iter (a), filter (b); N_SET: attr target */
    jnodes items;       /* args, list items, body, compare operands */
    jnodes items2;      /* else body, kwarg values, dict values, macro defaults (NULL: none) */
    const char **names; /* kwarg names, for/set targets, macro parameters */
    size_t *name_lens;
    int n_names;
    jop *ops;           /* N_COMPARE: ops[k] between items[k] and items[k+1] */
    jv value;           /* N_CONST */
};

struct jinja_template {
    jarena arena;
    const char *src; /* normalized source, for error positions */
    size_t src_len;
    jnodes body;
};

int jinja_parse_tokens(jarena *a, const char *src, size_t src_len, const jtoks *toks,
                       jnodes *body, vc_error *err);

/* ---- evaluation (jinja_eval.c); operators and access (jinja_ops.c), calls and
 * str/dict methods (jinja_methods.c), filters and tests (jinja_filters.c) ---- */

typedef struct jscope jscope;
typedef struct jrender {
    jarena *arena;
    vc_error *err;
    const char *src;
    size_t src_len;
    jbuf out;
    jscope *scope;
    jscope *root_scope; /* the template's top-level frame: what macros see */
    int macro_depth;
    long steps, max_steps;
    int depth;
    int loop_ctl; /* 1 break, 2 continue pending */
} jrender;

/* Formats "chat template line L col C: <msg>" and returns -1. */
int jr_fail(jrender *r, uint32_t pos, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Call argument pack, evaluated. */
typedef struct jargs {
    jv *pos;
    int n_pos;
    jv *kw;
    const char **kw_names;
    size_t *kw_lens;
    int n_kw;
} jargs;

int jb_filter(jrender *r, uint32_t pos, const char *name, size_t nlen, const jv *in,
              const jargs *args, jv *out);
int jb_test(jrender *r, uint32_t pos, const char *name, size_t nlen, const jv *in,
            const jargs *args, bool *out);
int jb_call(jrender *r, uint32_t pos, const jv *fn, const jargs *args, jv *out);
/* obj.name: a dict key, a method bound to obj, or a loop attribute; undefined if none. */
int jb_getattr(jrender *r, uint32_t pos, const jv *obj, const char *name, size_t nlen, jv *out);
/* obj[key] */
int jb_getitem(jrender *r, uint32_t pos, const jv *obj, const jv *key, jv *out);
int jb_binop(jrender *r, uint32_t pos, jop op, const jv *a, const jv *b, jv *out);
/* Python iteration: list items, dict keys, string characters; undefined -> empty. */
int jb_iterate(jrender *r, uint32_t pos, const jv *v, const jv **items, size_t *n);
int jb_str(jrender *r, const jv *v, jv *out); /* str(v) as a string value */
/* Known filter / test names (checked when parsing, as jinja2 does when compiling). */
bool jb_has_filter(const char *name, size_t len);
bool jb_has_test(const char *name, size_t len);

/* ---- helpers shared by jinja_ops.c, jinja_methods.c, jinja_filters.c ---- */

static inline jv jv_mk_list(jv_list *l) { jv v = {0}; v.type = JV_LIST; v.u.list = l; return v; }
static inline jv jv_mk_gen(jv_list *l) { l->is_gen = true; return jv_mk_list(l); }
static inline jv jv_mk_dict(jv_dict *d) { jv v = {0}; v.type = JV_DICT; v.u.dict = d; return v; }
static inline bool jv_is_gen(const jv *v) { return v->type == JV_LIST && v->u.list->is_gen; }
static inline bool jv_is_num(const jv *v) { return v->type == JV_BOOL || v->type == JV_INT || v->type == JV_FLOAT; }
static inline bool jv_is_intlike(const jv *v) { return v->type == JV_BOOL || v->type == JV_INT; }
static inline int64_t jv_as_int(const jv *v) { return v->type == JV_BOOL ? v->u.b : v->u.i; }
static inline double jv_as_num(const jv *v) { return v->type == JV_FLOAT ? v->u.f : (double)jv_as_int(v); }

bool jh_name_is(const char *name, size_t len, const char *lit);
bool jh_name_in(const char *name, size_t len, const char *const *list);
int jh_oom(jrender *r, uint32_t pos);
int jh_undef_err(jrender *r, uint32_t pos, const jv *v);
int jh_take_str(jrender *r, uint32_t pos, jbuf *b, jv *out); /* buffer -> arena string */
/* argument idx (positional) or kw (keyword), NULL if absent */
const jv *jh_arg(const jargs *a, int idx, const char *kw);
int jh_check_args(jrender *r, uint32_t pos, const char *what, const jargs *a, int max_pos, const char *const *kws);
int jh_need_str(jrender *r, uint32_t pos, const char *what, const jv *v);
/* str.strip/lstrip/rstrip (chars NULL or none: whitespace) */
jv jh_strip(const jv *s, const jv *chars, bool left, bool right);
int jh_replace(jrender *r, uint32_t pos, const jv *s, const jv *old, const jv *rep, int64_t count, jv *out);
typedef enum { CASE_LOWER, CASE_UPPER, CASE_TITLE, CASE_CAPITALIZE, CASE_JINJA_TITLE } jh_case_mode;
int jh_case(jrender *r, uint32_t pos, const jv *s, jh_case_mode mode, jv *out);
int jh_str_method(jrender *r, uint32_t pos, const jv *s, const char *name, const jargs *a, jv *out);
int jh_dict_items(jrender *r, uint32_t pos, const jv_dict *d, jv *out); /* list of (key, value) tuples */

#endif
