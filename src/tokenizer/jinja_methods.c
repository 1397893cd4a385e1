/* Jinja calls: the global functions (range, namespace, dict,
 * raise_exception, strftime_now, loop.cycle) and the Python str / dict
 * methods chat templates use, with Python's semantics. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <utf8proc.h>

#include "tokenizer/jinja_internal.h"

#define MAX_RANGE 100000 /* jinja2's sandbox limit */

/* ---- string operations ---- */

/* Is code point cp in the set given by chars (NULL: whitespace)? */
static bool in_set(uint32_t cp, const jv *chars) {
    if (!chars || chars->type == JV_NONE) return ju_isspace(cp);
    for (size_t i = 0; i < chars->u.str.len;)
        if (ju_next(chars->u.str.s, chars->u.str.len, &i) == cp) return true;
    return false;
}

jv jh_strip(const jv *s, const jv *chars, bool left, bool right) {
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
    if (!l) return jh_oom(r, pos);
    const char *p = s->u.str.s;
    size_t n = s->u.str.len;
    if (sep && sep->type != JV_NONE) {
        if (jh_need_str(r, pos, "split()", sep)) return -1;
        size_t k = sep->u.str.len;
        if (k == 0) return jr_fail(r, pos, "empty separator");
        if (!from_right) {
            size_t st = 0;
            int64_t splits = 0;
            for (;;) {
                const char *hit = (maxsplit < 0 || splits < maxsplit) ? memmem(p + st, n - st, sep->u.str.s, k) : NULL;
                if (!hit) break;
                if (jv_list_push(r->arena, l, jv_str(p + st, (size_t)(hit - (p + st))))) return jh_oom(r, pos);
                st = (size_t)(hit - p) + k;
                splits++;
            }
            if (jv_list_push(r->arena, l, jv_str(p + st, n - st))) return jh_oom(r, pos);
        } else {
            /* collect from the right, then reverse */
            size_t en = n;
            int64_t splits = 0;
            while (maxsplit < 0 || splits < maxsplit) {
                size_t found = (size_t)-1;
                for (size_t i = en >= k ? en - k + 1 : 0; i-- > 0;)
                    if (memcmp(p + i, sep->u.str.s, k) == 0) { found = i; break; }
                if (found == (size_t)-1) break;
                if (jv_list_push(r->arena, l, jv_str(p + found + k, en - found - k))) return jh_oom(r, pos);
                en = found;
                splits++;
            }
            if (jv_list_push(r->arena, l, jv_str(p, en))) return jh_oom(r, pos);
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
                if (jv_list_push(r->arena, l, jv_str(p + i, n - i))) return jh_oom(r, pos);
                break;
            }
            size_t st = i;
            while (i < n) { size_t j = i; if (ju_isspace(ju_next(p, n, &j))) break; i = j; }
            if (jv_list_push(r->arena, l, jv_str(p + st, i - st))) return jh_oom(r, pos);
            splits++;
        }
    } else {
        jv trimmed = jh_strip(s, NULL, false, true);
        size_t en = trimmed.u.str.len;
        int64_t splits = 0;
        while (en > 0) {
            if (maxsplit >= 0 && splits >= maxsplit) {
                if (jv_list_push(r->arena, l, jv_str(p, en))) return jh_oom(r, pos);
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
            if (jv_list_push(r->arena, l, jv_str(p + st, en - st))) return jh_oom(r, pos);
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
    *out = jv_mk_list(l);
    return 0;
}

int jh_replace(jrender *r, uint32_t pos, const jv *s, const jv *old, const jv *rep, int64_t count, jv *out) {
    if (jh_need_str(r, pos, "replace()", old) || jh_need_str(r, pos, "replace()", rep)) return -1;
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
    if (rc) { jbuf_free(&b); return jh_oom(r, pos); }
    return jh_take_str(r, pos, &b, out);
}

static bool is_cased(uint32_t cp) {
    utf8proc_category_t c = utf8proc_category((utf8proc_int32_t)cp);
    return c == UTF8PROC_CATEGORY_LU || c == UTF8PROC_CATEGORY_LL || c == UTF8PROC_CATEGORY_LT;
}

static bool jinja_title_sep(uint32_t cp) {
    return cp == '-' || cp == '(' || cp == '{' || cp == '[' || cp == '<' || ju_isspace(cp);
}

/* lower/upper use simple (one-to-one) case mapping; Python's full mapping
 * differs only for a few characters such as U+00DF. */
int jh_case(jrender *r, uint32_t pos, const jv *s, jh_case_mode mode, jv *out) {
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
    if (rc) { jbuf_free(&b); return jh_oom(r, pos); }
    return jh_take_str(r, pos, &b, out);
}

static int64_t cp_index(const char *p, size_t byte_off) { return (int64_t)ju_count(p, byte_off); }

int jh_str_method(jrender *r, uint32_t pos, const jv *s, const char *name, const jargs *a, jv *out) {
    const jv *a0 = jh_arg(a, 0, NULL), *a1 = jh_arg(a, 1, NULL);
    if (a->n_kw && !jh_name_is(name, strlen(name), "split") && !jh_name_is(name, strlen(name), "rsplit"))
        return jr_fail(r, pos, "str.%s() takes no keyword arguments", name);
    if (!strcmp(name, "strip") || !strcmp(name, "lstrip") || !strcmp(name, "rstrip")) {
        if (a0 && a0->type != JV_NONE && jh_need_str(r, pos, name, a0)) return -1;
        *out = jh_strip(s, a0, name[0] != 'r', name[0] != 'l');
        return 0;
    }
    if (!strcmp(name, "split") || !strcmp(name, "rsplit")) {
        static const char *const kws[] = {"sep", "maxsplit", NULL};
        if (jh_check_args(r, pos, name, a, 2, kws)) return -1;
        const jv *sep = jh_arg(a, 0, "sep"), *mx = jh_arg(a, 1, "maxsplit");
        if (mx && !jv_is_intlike(mx)) return jr_fail(r, pos, "%s(): maxsplit must be an integer", name);
        return do_split(r, pos, s, sep, mx ? jv_as_int(mx) : -1, name[0] == 'r', out);
    }
    if (!strcmp(name, "startswith") || !strcmp(name, "endswith")) {
        if (!a0 || a->n_pos > 1) return jr_fail(r, pos, "str.%s() takes exactly one argument here", name);
        const jv *cands = a0->type == JV_LIST ? a0->u.list->items : a0;
        size_t nc = a0->type == JV_LIST ? a0->u.list->n : 1;
        bool res = false;
        for (size_t k = 0; k < nc; k++) {
            if (jh_need_str(r, pos, name, &cands[k])) return -1;
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
        const jv *cnt = jh_arg(a, 2, NULL);
        if (cnt && !jv_is_intlike(cnt)) return jr_fail(r, pos, "str.replace(): count must be an integer");
        return jh_replace(r, pos, s, a0, a1, cnt ? jv_as_int(cnt) : -1, out);
    }
    if (!strcmp(name, "lower")) return jh_case(r, pos, s, CASE_LOWER, out);
    if (!strcmp(name, "upper")) return jh_case(r, pos, s, CASE_UPPER, out);
    if (!strcmp(name, "title")) return jh_case(r, pos, s, CASE_TITLE, out);
    if (!strcmp(name, "capitalize")) return jh_case(r, pos, s, CASE_CAPITALIZE, out);
    if (!strcmp(name, "find") || !strcmp(name, "rfind") || !strcmp(name, "count")) {
        if (!a0 || a->n_pos > 1 || jh_need_str(r, pos, name, a0))
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
                return jh_oom(r, pos);
            }
        }
        return jh_take_str(r, pos, &b, out);
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

int jh_dict_items(jrender *r, uint32_t pos, const jv_dict *d, jv *out) {
    jv_list *l = jv_list_new(r->arena, d->n);
    if (!l) return jh_oom(r, pos);
    for (size_t i = 0; i < d->n; i++) {
        jv_list *pair = jv_list_new(r->arena, 2);
        if (!pair) return jh_oom(r, pos);
        pair->is_tuple = true;
        jv_list_push(r->arena, pair, d->keys[i]);
        jv_list_push(r->arena, pair, d->vals[i]);
        jv_list_push(r->arena, l, jv_mk_list(pair));
    }
    *out = jv_mk_list(l);
    return 0;
}

static int dict_method(jrender *r, uint32_t pos, const jv *self, const char *name, const jargs *a, jv *out) {
    const jv_dict *d = self->u.dict;
    if (!strcmp(name, "items")) return jh_dict_items(r, pos, d, out);
    if (!strcmp(name, "keys") || !strcmp(name, "values")) {
        jv_list *l = jv_list_new(r->arena, d->n);
        if (!l) return jh_oom(r, pos);
        for (size_t i = 0; i < d->n; i++) jv_list_push(r->arena, l, name[0] == 'k' ? d->keys[i] : d->vals[i]);
        *out = jv_mk_list(l);
        return 0;
    }
    /* get(key, default=None) */
    const jv *key = jh_arg(a, 0, NULL), *dflt = jh_arg(a, 1, NULL);
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
            if (!jv_is_intlike(&a->pos[k]))
                return jr_fail(r, pos, "range(): '%s' object cannot be interpreted as an integer", jv_type_name(&a->pos[k]));
        int64_t start = a->n_pos > 1 ? jv_as_int(&a->pos[0]) : 0;
        int64_t stop = a->n_pos > 1 ? jv_as_int(&a->pos[1]) : jv_as_int(&a->pos[0]);
        int64_t stepv = a->n_pos > 2 ? jv_as_int(&a->pos[2]) : 1;
        if (stepv == 0) return jr_fail(r, pos, "range() arg 3 must not be zero");
        double count = stepv > 0 ? ceil(((double)stop - (double)start) / (double)stepv)
                                 : ceil(((double)start - (double)stop) / (double)-stepv);
        if (count < 0) count = 0;
        if (count > MAX_RANGE)
            return jr_fail(r, pos, "range too big: %.0f items (the sandbox limit is %d)", count, MAX_RANGE);
        jv_list *l = jv_list_new(r->arena, (size_t)count);
        if (!l) return jh_oom(r, pos);
        for (int64_t k = 0; k < (int64_t)count; k++) jv_list_push(r->arena, l, jv_int(start + k * stepv));
        *out = jv_mk_list(l);
        return 0;
    }
    case JF_NAMESPACE: case JF_DICT: {
        jv_dict *d = jv_dict_new(r->arena, (size_t)a->n_kw);
        if (!d) return jh_oom(r, pos);
        d->is_namespace = f->kind == JF_NAMESPACE;
        if (a->n_pos > 1) return jr_fail(r, pos, "%s() takes at most one positional argument", f->name);
        if (a->n_pos == 1) {
            if (a->pos[0].type != JV_DICT) return jr_fail(r, pos, "%s(): positional argument must be a dict", f->name);
            const jv_dict *src = a->pos[0].u.dict;
            for (size_t i = 0; i < src->n; i++)
                if (jv_dict_set(r->arena, d, src->keys[i].u.str.s, src->keys[i].u.str.len, src->vals[i])) return jh_oom(r, pos);
        }
        for (int k = 0; k < a->n_kw; k++) {
            if (d->is_namespace && a->kw_names[k][0] == '_')
                return jr_fail(r, pos, "namespace attributes cannot start with '_'");
            if (jv_dict_set(r->arena, d, a->kw_names[k], a->kw_lens[k], a->kw[k])) return jh_oom(r, pos);
        }
        *out = jv_mk_dict(d);
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
        if (!s) return jh_oom(r, pos);
        *out = jv_str(s, n);
        return 0;
    }
    case JF_CYCLE: {
        if (a->n_pos == 0) return jr_fail(r, pos, "loop.cycle() needs at least one argument");
        *out = a->pos[f->self.u.loop->index0 % (size_t)a->n_pos];
        return 0;
    }
    case JF_METHOD:
        if (f->self.type == JV_STRING) return jh_str_method(r, pos, &f->self, f->name, a, out);
        if (f->self.type == JV_DICT) return dict_method(r, pos, &f->self, f->name, a, out);
        break;
    case JF_MACRO: /* called by the evaluator, which owns statement execution */
        break;
    }
    return jr_fail(r, pos, "'%s' is not callable", f->name ? f->name : "value");
}
