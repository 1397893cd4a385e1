/* GGUF reader, versions 2 and 3 (little-endian), on a read-only mmap.
 *
 * File layout (GGUF spec, docs/gguf.md in the ggml repository):
 *   u32 magic "GGUF" | u32 version | u64 n_tensors | u64 n_kv
 *   n_kv x { string key | u32 type | value }
 *   n_tensors x { string name | u32 n_dims | u64 ne[n_dims] | u32 type | u64 offset }
 *   padding to general.alignment (default 32) | tensor data
 * where string = { u64 len | len bytes, no NUL } and an array value is
 * { u32 elem_type | u64 n | n elements } (elements may themselves be arrays).
 *
 * Every length, count and offset is checked against the bytes left in the
 * file before it is used, and nothing is allocated in proportion to a count
 * the file merely claims: string and nested arrays are walked (validated)
 * first and allocated after, so an allocation never exceeds a small multiple
 * of the bytes actually present. */
#include "model/gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/strmap.h"

#define GGUF_MAGIC 0x46554747u      /* "GGUF" read as a little-endian u32 */
#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_NESTING 8          /* arrays of arrays of ... */
#define KV_MIN_BYTES 13             /* u64 key len + >=1 key byte + u32 type; +values below */
#define TENSOR_INFO_MIN_BYTES 25    /* u64 len + >=1 name byte + u32 n_dims + u32 type + u64 offset */

struct vc_gguf {
    char *path;
    const uint8_t *map;
    size_t size;
    uint32_t version;
    int64_t n_kv;
    vc_gguf_kv *kvs;
    int64_t n_tensors;
    vc_tensor *tensors;
    char *tensor_names;             /* NUL-terminated names, back to back */
    size_t alignment;
    size_t data_offset;             /* start of the tensor data section */
    vc_strmap kv_index, tensor_index;   /* name -> index */
};

/* ---- a bounds-checked read cursor over the mapping ---------------------- */

typedef struct cursor {
    const uint8_t *base;
    size_t size, pos;
    const char *path;
    vc_error *err;
    char field[300];    /* what is being read, for messages: "key 'x'", "tensor 'y'" */
} cursor;

static int fail_at(const cursor *c, size_t off, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail_at(const cursor *c, size_t off, const char *fmt, ...) {
    char what[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return vc_errorf(c->err, "%s: offset %zu: %s: %s", c->path, off, c->field, what);
}

/* Copies up to 200 bytes of a file string into buf, non-printables as '?'. */
static const char *printable(char *buf, size_t cap, const char *s, uint64_t len) {
    size_t n = 0;
    for (uint64_t i = 0; i < len && n + 4 < cap && i < 200; i++) {
        unsigned char ch = (unsigned char)s[i];
        buf[n++] = (ch >= 32 && ch < 127) ? (char)ch : '?';
    }
    if (len > 200 && n + 4 < cap) { buf[n++] = '.'; buf[n++] = '.'; buf[n++] = '.'; }
    buf[n] = 0;
    return buf;
}

static int need(cursor *c, uint64_t n, const char *what) {
    if (n > c->size - c->pos)
        return fail_at(c, c->pos, "truncated %s: need %llu bytes, only %zu left (file size %zu)",
                       what, (unsigned long long)n, c->size - c->pos, c->size);
    return 0;
}

static int rd_u32(cursor *c, uint32_t *v, const char *what) {
    if (need(c, 4, what)) return -1;
    memcpy(v, c->base + c->pos, 4);
    c->pos += 4;
    return 0;
}

static int rd_u64(cursor *c, uint64_t *v, const char *what) {
    if (need(c, 8, what)) return -1;
    memcpy(v, c->base + c->pos, 8);
    c->pos += 8;
    return 0;
}

static int rd_str(cursor *c, vc_str *s, const char *what) {
    size_t at = c->pos;
    uint64_t len;
    if (rd_u64(c, &len, what)) return -1;
    if (len > c->size - c->pos)
        return fail_at(c, at, "%s length %llu runs past the end of the file (expected at most %zu)",
                       what, (unsigned long long)len, c->size - c->pos);
    s->ptr = (const char *)c->base + c->pos;
    s->len = len;
    c->pos += len;
    return 0;
}

/* ---- metadata values ------------------------------------------------------ */

static const char *type_name(uint32_t t) {
    static const char *names[] = {"UINT8", "INT8", "UINT16", "INT16", "UINT32", "INT32",
                                  "FLOAT32", "BOOL", "STRING", "ARRAY", "UINT64", "INT64",
                                  "FLOAT64"};
    return t < sizeof names / sizeof names[0] ? names[t] : "unknown";
}

/* bytes of a fixed-size value type; 0 for STRING, ARRAY and unknown types */
static size_t fixed_size(uint32_t t) {
    switch (t) {
    case VC_GGUF_UINT8: case VC_GGUF_INT8: case VC_GGUF_BOOL: return 1;
    case VC_GGUF_UINT16: case VC_GGUF_INT16: return 2;
    case VC_GGUF_UINT32: case VC_GGUF_INT32: case VC_GGUF_FLOAT32: return 4;
    case VC_GGUF_UINT64: case VC_GGUF_INT64: case VC_GGUF_FLOAT64: return 8;
    default: return 0;
    }
}

static int known_type(uint32_t t) { return t <= VC_GGUF_FLOAT64; }

/* Decodes a fixed-size scalar at p into v (type already set). */
static void decode_scalar(vc_gguf_value *v, const uint8_t *p) {
    switch (v->type) {
    case VC_GGUF_UINT8: case VC_GGUF_BOOL: v->u = p[0]; break;
    case VC_GGUF_INT8: { int8_t x; memcpy(&x, p, 1); v->i = x; break; }
    case VC_GGUF_UINT16: { uint16_t x; memcpy(&x, p, 2); v->u = x; break; }
    case VC_GGUF_INT16: { int16_t x; memcpy(&x, p, 2); v->i = x; break; }
    case VC_GGUF_UINT32: { uint32_t x; memcpy(&x, p, 4); v->u = x; break; }
    case VC_GGUF_INT32: { int32_t x; memcpy(&x, p, 4); v->i = x; break; }
    case VC_GGUF_FLOAT32: { float x; memcpy(&x, p, 4); v->f = x; break; }
    case VC_GGUF_UINT64: { uint64_t x; memcpy(&x, p, 8); v->u = x; break; }
    case VC_GGUF_INT64: { int64_t x; memcpy(&x, p, 8); v->i = x; break; }
    case VC_GGUF_FLOAT64: { double x; memcpy(&x, p, 8); v->f = x; break; }
    default: break;
    }
}

static void value_free(vc_gguf_value *v) {
    if (v->type != VC_GGUF_ARRAY) return;
    free(v->arr.strs);
    if (v->arr.items) {
        for (uint64_t i = 0; i < v->arr.n; i++) value_free(&v->arr.items[i]);
        free(v->arr.items);
    }
    v->arr.strs = NULL;
    v->arr.items = NULL;
}

/* Reads an array payload { u32 elem_type | u64 n | elements } at the cursor.
 * out == NULL: only validate and skip. Otherwise validate first (a dry walk),
 * then allocate n entries and fill them, so allocations follow real bytes. */
static int parse_array(cursor *c, vc_gguf_value *out, int depth) {
    size_t start = c->pos;
    if (depth > GGUF_MAX_NESTING)
        return fail_at(c, start, "arrays nested deeper than %d levels (expected at most %d)",
                       depth, GGUF_MAX_NESTING);
    uint32_t et;
    uint64_t n;
    if (rd_u32(c, &et, "array element type")) return -1;
    if (!known_type(et))
        return fail_at(c, start, "array element type %u unknown (expected 0..12)", et);
    size_t n_at = c->pos;
    if (rd_u64(c, &n, "array length")) return -1;
    size_t left = c->size - c->pos;
    size_t es = fixed_size(et);
    if (es) {
        if (n > left / es)
            return fail_at(c, n_at, "array of %llu %s needs %llu bytes, only %zu left in the file",
                           (unsigned long long)n, type_name(et),
                           (unsigned long long)(n > UINT64_MAX / es ? UINT64_MAX : n * es), left);
        const uint8_t *raw = c->base + c->pos;
        if (et == VC_GGUF_BOOL)
            for (uint64_t i = 0; i < n; i++)
                if (raw[i] > 1)
                    return fail_at(c, c->pos + i, "array element %llu: BOOL byte %u (expected 0 or 1)",
                                   (unsigned long long)i, raw[i]);
        c->pos += n * es;
        if (out) {
            memset(out, 0, sizeof *out);
            out->type = VC_GGUF_ARRAY;
            out->arr.elem_type = (vc_gguf_type)et;
            out->arr.n = n;
            out->arr.raw = raw;
        }
        return 0;
    }
    /* strings take >= 8 bytes each, nested arrays >= 12: an early bound */
    size_t min_elem = et == VC_GGUF_STRING ? 8 : 12;
    if (n > left / min_elem)
        return fail_at(c, n_at, "array of %llu %s cannot fit: only %zu bytes left (each takes at least %zu)",
                       (unsigned long long)n, type_name(et), left, min_elem);
    size_t elems_at = c->pos;
    if (et == VC_GGUF_STRING) {
        vc_str s;
        for (uint64_t i = 0; i < n; i++)
            if (rd_str(c, &s, "array string")) return -1;
    } else {
        for (uint64_t i = 0; i < n; i++)
            if (parse_array(c, NULL, depth + 1)) return -1;
    }
    if (!out) return 0;
    /* valid: now allocate and fill */
    memset(out, 0, sizeof *out);
    out->type = VC_GGUF_ARRAY;
    out->arr.elem_type = (vc_gguf_type)et;
    out->arr.raw = c->base + elems_at;
    if (n == 0) return 0;
    size_t end = c->pos;
    c->pos = elems_at;
    if (et == VC_GGUF_STRING) {
        out->arr.strs = calloc(n, sizeof *out->arr.strs);
        if (!out->arr.strs) return fail_at(c, start, "out of memory for %llu strings", (unsigned long long)n);
        out->arr.n = n;
        for (uint64_t i = 0; i < n; i++)
            if (rd_str(c, &out->arr.strs[i], "array string")) return -1;
    } else {
        out->arr.items = calloc(n, sizeof *out->arr.items);
        if (!out->arr.items) return fail_at(c, start, "out of memory for %llu arrays", (unsigned long long)n);
        out->arr.n = n;
        for (uint64_t i = 0; i < n; i++)
            if (parse_array(c, &out->arr.items[i], depth + 1)) return -1;
    }
    c->pos = end;
    return 0;
}

static int parse_value(cursor *c, uint32_t type, size_t type_at, vc_gguf_value *out) {
    memset(out, 0, sizeof *out);
    if (!known_type(type))
        return fail_at(c, type_at, "value type %u unknown (expected 0..12)", type);
    out->type = (vc_gguf_type)type;
    size_t es = fixed_size(type);
    if (es) {
        if (need(c, es, type_name(type))) return -1;
        if (type == VC_GGUF_BOOL && c->base[c->pos] > 1)
            return fail_at(c, c->pos, "BOOL byte %u (expected 0 or 1)", c->base[c->pos]);
        decode_scalar(out, c->base + c->pos);
        c->pos += es;
        return 0;
    }
    if (type == VC_GGUF_STRING) return rd_str(c, &out->s, "string value");
    return parse_array(c, out, 1);
}

/* ---- open ------------------------------------------------------------------ */

typedef struct tensor_extra {   /* per tensor, only while parsing */
    vc_str name;
    uint64_t rel_offset;        /* from the start of the data section */
    size_t info_at;             /* file offset of its tensor info */
} tensor_extra;

static int parse_header(vc_gguf *g, cursor *c) {
    snprintf(c->field, sizeof c->field, "header");
    uint32_t magic;
    if (rd_u32(c, &magic, "magic")) return -1;
    if (magic != GGUF_MAGIC) {
        char got[8];
        return fail_at(c, 0, "bad magic \"%s\" (expected \"GGUF\")",
                       printable(got, sizeof got, (const char *)c->base, 4));
    }
    size_t at = c->pos;
    if (rd_u32(c, &g->version, "version")) return -1;
    if (g->version == 1)
        return fail_at(c, at, "GGUF version 1 is not supported (expected version 2 or 3)");
    if (g->version == 0x02000000u || g->version == 0x03000000u)
        return fail_at(c, at, "big-endian GGUF is not supported (expected a little-endian file)");
    if (g->version != 2 && g->version != 3)
        return fail_at(c, at, "unsupported GGUF version %u (expected 2 or 3)", g->version);
    uint64_t n_tensors, n_kv;
    size_t nt_at = c->pos;
    if (rd_u64(c, &n_tensors, "tensor count")) return -1;
    size_t nkv_at = c->pos;
    if (rd_u64(c, &n_kv, "metadata count")) return -1;
    size_t left = c->size - c->pos;
    if (n_kv > left / KV_MIN_BYTES)
        return fail_at(c, nkv_at, "n_kv = %llu cannot fit: %zu bytes left hold at most %zu key/value pairs",
                       (unsigned long long)n_kv, left, left / KV_MIN_BYTES);
    if (n_tensors > left / TENSOR_INFO_MIN_BYTES)
        return fail_at(c, nt_at, "n_tensors = %llu cannot fit: %zu bytes left hold at most %zu tensor infos",
                       (unsigned long long)n_tensors, left, left / TENSOR_INFO_MIN_BYTES);
    g->n_kv = (int64_t)n_kv;
    g->n_tensors = (int64_t)n_tensors;
    return 0;
}

static int parse_kvs(vc_gguf *g, cursor *c) {
    int64_t claimed = g->n_kv, cap = 0;
    g->n_kv = 0;    /* counts entries allocated and zeroed, for cleanup */
    if (claimed == 0) return 0;
    for (int64_t i = 0; i < claimed; i++) {
        /* grow as entries are actually read: a count the file merely claims
         * never decides an allocation */
        if (i == cap) {
            cap = cap ? cap * 2 : 64;
            if (cap > claimed) cap = claimed;
            vc_gguf_kv *nk = realloc(g->kvs, (size_t)cap * sizeof *nk);
            if (!nk) return vc_errorf(c->err, "%s: out of memory for %lld metadata entries", c->path, (long long)cap);
            g->kvs = nk;
        }
        vc_gguf_kv *kv = &g->kvs[i];
        memset(kv, 0, sizeof *kv);
        g->n_kv = i + 1;
        size_t key_at = c->pos;
        snprintf(c->field, sizeof c->field, "metadata entry #%lld", (long long)i);
        if (rd_str(c, &kv->key, "key")) return -1;
        if (kv->key.len == 0) return fail_at(c, key_at, "empty key (expected a name)");
        if (memchr(kv->key.ptr, 0, kv->key.len))
            return fail_at(c, key_at, "key contains a NUL byte (expected a plain name)");
        char pk[256];
        snprintf(c->field, sizeof c->field, "key '%s'", printable(pk, sizeof pk, kv->key.ptr, kv->key.len));
        uint32_t type;
        size_t type_at = c->pos;
        if (rd_u32(c, &type, "value type")) return -1;
        /* on failure a partly filled value is freed by vc_gguf_free */
        if (parse_value(c, type, type_at, &kv->val)) return -1;
    }
    if (vc_strmap_init(&g->kv_index, g->n_kv)) return vc_errorf(c->err, "%s: out of memory", c->path);
    for (int64_t i = 0; i < g->n_kv; i++) {
        const vc_str *k = &g->kvs[i].key;
        int64_t first;
        if (vc_strmap_put(&g->kv_index, k->ptr, k->len, i, &first) == 1) {
            char pk[256];
            size_t first_at = (size_t)((const uint8_t *)g->kvs[first].key.ptr - g->map) - 8;
            return vc_errorf(c->err, "%s: offset %zu: key '%s': duplicate key (first defined at offset %zu; expected unique keys)",
                             c->path, (size_t)((const uint8_t *)k->ptr - g->map) - 8,
                             printable(pk, sizeof pk, k->ptr, k->len), first_at);
        }
    }
    return 0;
}

static int read_alignment(vc_gguf *g, cursor *c) {
    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    const vc_gguf_kv *kv = vc_gguf_find(g, "general.alignment");
    if (!kv) return 0;
    size_t at = (size_t)((const uint8_t *)kv->key.ptr - g->map) - 8;
    snprintf(c->field, sizeof c->field, "key 'general.alignment'");
    uint64_t a;
    switch (kv->val.type) {
    case VC_GGUF_UINT8: case VC_GGUF_UINT16: case VC_GGUF_UINT32: case VC_GGUF_UINT64:
        a = kv->val.u; break;
    case VC_GGUF_INT8: case VC_GGUF_INT16: case VC_GGUF_INT32: case VC_GGUF_INT64:
        if (kv->val.i <= 0) return fail_at(c, at, "alignment %lld (expected a power of 2)", (long long)kv->val.i);
        a = (uint64_t)kv->val.i; break;
    default:
        return fail_at(c, at, "type %s (expected UINT32)", type_name(kv->val.type));
    }
    if (a == 0 || (a & (a - 1)) != 0 || a > (1u << 30))
        return fail_at(c, at, "alignment %llu (expected a nonzero power of 2, at most 2^30)", (unsigned long long)a);
    g->alignment = (size_t)a;
    return 0;
}

/* a * b into *out; 0 if it fits in int64, -1 on overflow (a, b > 0) */
static int mul_i64(int64_t a, int64_t b, int64_t *out) {
    if (a > INT64_MAX / b) return -1;
    *out = a * b;
    return 0;
}

static int parse_tensor_info(vc_gguf *g, cursor *c, int64_t i, tensor_extra *x) {
    vc_tensor *t = &g->tensors[i];
    x->info_at = c->pos;
    snprintf(c->field, sizeof c->field, "tensor #%lld", (long long)i);
    if (rd_str(c, &x->name, "tensor name")) return -1;
    if (x->name.len == 0) return fail_at(c, x->info_at, "empty tensor name (expected a name)");
    if (memchr(x->name.ptr, 0, x->name.len))
        return fail_at(c, x->info_at, "tensor name contains a NUL byte (expected a plain name)");
    char pn[256];
    snprintf(c->field, sizeof c->field, "tensor '%s'", printable(pn, sizeof pn, x->name.ptr, x->name.len));
    uint32_t n_dims;
    size_t at = c->pos;
    if (rd_u32(c, &n_dims, "n_dims")) return -1;
    if (n_dims > VC_MAX_DIMS)
        return fail_at(c, at, "n_dims %u (expected at most %d)", n_dims, VC_MAX_DIMS);
    t->n_dims = (int)n_dims;
    for (int d = 0; d < VC_MAX_DIMS; d++) t->ne[d] = 1;
    int64_t nelems = 1;
    for (uint32_t d = 0; d < n_dims; d++) {
        uint64_t ne;
        at = c->pos;
        if (rd_u64(c, &ne, "dimension")) return -1;
        if (ne == 0 || ne > (uint64_t)INT64_MAX)
            return fail_at(c, at, "ne[%u] = %llu (expected 1 .. 2^63-1)", d, (unsigned long long)ne);
        t->ne[d] = (int64_t)ne;
        if (mul_i64(nelems, (int64_t)ne, &nelems))
            return fail_at(c, at, "element count overflows at ne[%u] = %llu (expected a product below 2^63)",
                           d, (unsigned long long)ne);
    }
    uint32_t type;
    at = c->pos;
    if (rd_u32(c, &type, "tensor type")) return -1;
    if (!vc_dtype_known((int)type))
        return fail_at(c, at, "tensor type %u unknown (expected one of F32, F16, BF16, Q4_0..Q8_1, Q2_K..Q8_K)", type);
    t->type = (vc_dtype)type;
    int64_t be = vc_dtype_block_elems(t->type);
    if (t->ne[0] % be != 0)
        return fail_at(c, x->info_at, "ne[0] = %lld is not a multiple of the %s block size %lld",
                       (long long)t->ne[0], vc_dtype_name(t->type), (long long)be);
    if (rd_u64(c, &x->rel_offset, "tensor data offset")) return -1;
    /* nbytes = row bytes * rows, with overflow checks */
    size_t row = vc_row_bytes(t->type, t->ne[0]);
    int64_t rows = t->ne[1] * t->ne[2] * t->ne[3];  /* <= nelems, fits */
    if (row == 0 || (uint64_t)rows > SIZE_MAX / row)
        return fail_at(c, x->info_at, "byte size overflows (ne %lld x %lld x %lld x %lld of %s)",
                       (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2], (long long)t->ne[3],
                       vc_dtype_name(t->type));
    t->nbytes = row * (size_t)rows;
    return 0;
}

static int parse_tensors(vc_gguf *g, cursor *c) {
    snprintf(c->field, sizeof c->field, "tensor infos");
    size_t left = c->size - c->pos;
    if ((uint64_t)g->n_tensors > left / TENSOR_INFO_MIN_BYTES)
        return fail_at(c, c->pos, "%lld tensor infos cannot fit: %zu bytes left hold at most %zu",
                       (long long)g->n_tensors, left, left / TENSOR_INFO_MIN_BYTES);
    if (g->n_tensors == 0) {
        g->data_offset = c->pos;
        return 0;
    }
    size_t n = (size_t)g->n_tensors, cap = 0;
    tensor_extra *xs = NULL;
    int rc = -1;
    size_t names_bytes = 0;
    for (size_t i = 0; i < n; i++) {
        if (i == cap) {     /* grow as infos are read, as for the metadata */
            cap = cap ? cap * 2 : 64;
            if (cap > n) cap = n;
            tensor_extra *nx = realloc(xs, cap * sizeof *nx);
            if (nx) xs = nx;
            vc_tensor *nt = nx ? realloc(g->tensors, cap * sizeof *nt) : NULL;
            if (nt) g->tensors = nt;
            if (!nx || !nt) { vc_errorf(c->err, "%s: out of memory for %zu tensors", c->path, cap); goto done; }
        }
        memset(&g->tensors[i], 0, sizeof g->tensors[i]);
        if (parse_tensor_info(g, c, (int64_t)i, &xs[i])) goto done;
        names_bytes += xs[i].name.len + 1;   /* <= file size */
    }
    /* data section: aligned start, then every tensor aligned and inside the file */
    size_t a = g->alignment;
    size_t infos_end = c->pos;
    size_t data_off = (infos_end + a - 1) / a * a;
    if (data_off > c->size) {
        snprintf(c->field, sizeof c->field, "tensor data");
        fail_at(c, infos_end, "data section would start at %zu (tensor infos end at %zu, alignment %zu) "
                "but the file has only %zu bytes", data_off, infos_end, a, c->size);
        goto done;
    }
    g->data_offset = data_off;
    size_t data_size = c->size - data_off;
    g->tensor_names = malloc(names_bytes);
    if (!g->tensor_names) { vc_errorf(c->err, "%s: out of memory for tensor names", c->path); goto done; }
    char *np = g->tensor_names;
    for (size_t i = 0; i < n; i++) {
        memcpy(np, xs[i].name.ptr, xs[i].name.len);
        np[xs[i].name.len] = 0;
        g->tensors[i].name = np;
        np += xs[i].name.len + 1;
    }
    for (size_t i = 0; i < n; i++) {
        vc_tensor *t = &g->tensors[i];
        char pn[256];
        snprintf(c->field, sizeof c->field, "tensor '%s'", printable(pn, sizeof pn, t->name, xs[i].name.len));
        uint64_t off = xs[i].rel_offset;
        if (off % a != 0) {
            fail_at(c, xs[i].info_at, "data offset %llu is not a multiple of the alignment %zu",
                    (unsigned long long)off, a);
            goto done;
        }
        if (off > data_size || t->nbytes > data_size - off) {
            fail_at(c, xs[i].info_at, "data at +%llu, %zu bytes, runs past the end of the file (the data "
                    "section starts at offset %zu and holds %zu bytes)", (unsigned long long)off, t->nbytes,
                    data_off, data_size);
            goto done;
        }
        t->data = g->map + data_off + off;
    }
    if (vc_strmap_init(&g->tensor_index, g->n_tensors)) { vc_errorf(c->err, "%s: out of memory", c->path); goto done; }
    for (size_t i = 0; i < n; i++) {
        const char *name = g->tensors[i].name;
        int64_t first;
        if (vc_strmap_put(&g->tensor_index, name, xs[i].name.len, (int64_t)i, &first) == 1) {
            char pn[256];
            snprintf(c->field, sizeof c->field, "tensor '%s'", printable(pn, sizeof pn, name, xs[i].name.len));
            fail_at(c, xs[i].info_at, "duplicate tensor name (first defined at offset %zu; expected unique names)",
                    xs[first].info_at);
            goto done;
        }
    }
    rc = 0;
done:
    free(xs);
    return rc;
}

int vc_gguf_open(vc_gguf **out, const char *path, vc_error *err) {
    *out = NULL;
    vc_gguf *g = calloc(1, sizeof *g);
    if (!g) return vc_errorf(err, "%s: out of memory", path);
    g->path = strdup(path);
    if (!g->path) { free(g); return vc_errorf(err, "%s: out of memory", path); }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        vc_errorf(err, "%s: cannot open: %s", path, strerror(errno));
        vc_gguf_free(g);
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        vc_errorf(err, "%s: not a regular file (expected a .gguf file)", path);
        close(fd);
        vc_gguf_free(g);
        return -1;
    }
    g->size = (size_t)st.st_size;
    if (g->size == 0) {
        vc_errorf(err, "%s: offset 0: header: empty file (expected a GGUF header of at least 24 bytes)", path);
        close(fd);
        vc_gguf_free(g);
        return -1;
    }
    void *m = mmap(NULL, g->size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m == MAP_FAILED) {
        vc_errorf(err, "%s: mmap of %zu bytes failed: %s", path, g->size, strerror(errno));
        vc_gguf_free(g);
        return -1;
    }
    g->map = m;
    cursor c = {.base = g->map, .size = g->size, .pos = 0, .path = g->path, .err = err};
    if (parse_header(g, &c) || parse_kvs(g, &c) || read_alignment(g, &c) || parse_tensors(g, &c)) {
        vc_gguf_free(g);
        return -1;
    }
    *out = g;
    return 0;
}

void vc_gguf_free(vc_gguf *g) {
    if (!g) return;
    if (g->kvs)
        for (int64_t i = 0; i < g->n_kv; i++) value_free(&g->kvs[i].val);
    free(g->kvs);
    free(g->tensors);
    free(g->tensor_names);
    vc_strmap_free(&g->kv_index);
    vc_strmap_free(&g->tensor_index);
    if (g->map) munmap((void *)g->map, g->size);
    free(g->path);
    free(g);
}

/* ---- accessors ------------------------------------------------------------- */

const char *vc_gguf_path(const vc_gguf *g) { return g->path; }
uint32_t vc_gguf_version(const vc_gguf *g) { return g->version; }
int64_t vc_gguf_n_kv(const vc_gguf *g) { return g->n_kv; }

const vc_gguf_kv *vc_gguf_kv_at(const vc_gguf *g, int64_t i) {
    return (i >= 0 && i < g->n_kv) ? &g->kvs[i] : NULL;
}

const vc_gguf_kv *vc_gguf_find(const vc_gguf *g, const char *key) {
    int64_t i = vc_strmap_get(&g->kv_index, key, strlen(key));
    return i >= 0 ? &g->kvs[i] : NULL;
}

int64_t vc_gguf_n_tensors(const vc_gguf *g) { return g->n_tensors; }

const vc_tensor *vc_gguf_tensor_at(const vc_gguf *g, int64_t i) {
    return (i >= 0 && i < g->n_tensors) ? &g->tensors[i] : NULL;
}

const vc_tensor *vc_gguf_tensor(const vc_gguf *g, const char *name) {
    int64_t i = vc_strmap_get(&g->tensor_index, name, strlen(name));
    return i >= 0 ? &g->tensors[i] : NULL;
}

/* ---- typed getters --------------------------------------------------------- */

static const vc_gguf_kv *find_or_fail(const vc_gguf *g, const char *key, const char *expected, vc_error *err) {
    const vc_gguf_kv *kv = vc_gguf_find(g, key);
    if (!kv) vc_errorf(err, "%s: key '%s' not found (expected %s)", g->path, key, expected);
    return kv;
}

static int is_unsigned(vc_gguf_type t) {
    return t == VC_GGUF_UINT8 || t == VC_GGUF_UINT16 || t == VC_GGUF_UINT32 || t == VC_GGUF_UINT64;
}

static int is_signed(vc_gguf_type t) {
    return t == VC_GGUF_INT8 || t == VC_GGUF_INT16 || t == VC_GGUF_INT32 || t == VC_GGUF_INT64;
}

int vc_gguf_get_u64(const vc_gguf *g, const char *key, uint64_t *out, vc_error *err) {
    const vc_gguf_kv *kv = find_or_fail(g, key, "an unsigned integer", err);
    if (!kv) return -1;
    if (is_unsigned(kv->val.type)) { *out = kv->val.u; return 0; }
    if (is_signed(kv->val.type)) {
        if (kv->val.i < 0)
            return vc_errorf(err, "%s: key '%s': value %lld is negative (expected an unsigned integer)",
                             g->path, key, (long long)kv->val.i);
        *out = (uint64_t)kv->val.i;
        return 0;
    }
    return vc_errorf(err, "%s: key '%s': type %s (expected an integer)", g->path, key, type_name(kv->val.type));
}

int vc_gguf_get_i64(const vc_gguf *g, const char *key, int64_t *out, vc_error *err) {
    const vc_gguf_kv *kv = find_or_fail(g, key, "an integer", err);
    if (!kv) return -1;
    if (is_signed(kv->val.type)) { *out = kv->val.i; return 0; }
    if (is_unsigned(kv->val.type)) {
        if (kv->val.u > (uint64_t)INT64_MAX)
            return vc_errorf(err, "%s: key '%s': value %llu does not fit a signed 64-bit integer",
                             g->path, key, (unsigned long long)kv->val.u);
        *out = (int64_t)kv->val.u;
        return 0;
    }
    return vc_errorf(err, "%s: key '%s': type %s (expected an integer)", g->path, key, type_name(kv->val.type));
}

int vc_gguf_get_f64(const vc_gguf *g, const char *key, double *out, vc_error *err) {
    const vc_gguf_kv *kv = find_or_fail(g, key, "a float", err);
    if (!kv) return -1;
    if (kv->val.type == VC_GGUF_FLOAT32 || kv->val.type == VC_GGUF_FLOAT64) { *out = kv->val.f; return 0; }
    return vc_errorf(err, "%s: key '%s': type %s (expected FLOAT32 or FLOAT64)", g->path, key,
                     type_name(kv->val.type));
}

int vc_gguf_get_bool(const vc_gguf *g, const char *key, bool *out, vc_error *err) {
    const vc_gguf_kv *kv = find_or_fail(g, key, "a BOOL", err);
    if (!kv) return -1;
    if (kv->val.type == VC_GGUF_BOOL) { *out = kv->val.u != 0; return 0; }
    return vc_errorf(err, "%s: key '%s': type %s (expected BOOL)", g->path, key, type_name(kv->val.type));
}

int vc_gguf_get_str(const vc_gguf *g, const char *key, vc_str *out, vc_error *err) {
    const vc_gguf_kv *kv = find_or_fail(g, key, "a STRING", err);
    if (!kv) return -1;
    if (kv->val.type == VC_GGUF_STRING) { *out = kv->val.s; return 0; }
    return vc_errorf(err, "%s: key '%s': type %s (expected STRING)", g->path, key, type_name(kv->val.type));
}

int64_t vc_gguf_arr_int(const vc_gguf_value *arr, uint64_t i) {
    if (arr->type != VC_GGUF_ARRAY || i >= arr->arr.n) return 0;
    size_t es = fixed_size(arr->arr.elem_type);
    if (!es || arr->arr.elem_type == VC_GGUF_FLOAT32 || arr->arr.elem_type == VC_GGUF_FLOAT64) return 0;
    vc_gguf_value v = {.type = arr->arr.elem_type};
    decode_scalar(&v, (const uint8_t *)arr->arr.raw + i * es);
    return is_signed(v.type) ? v.i : (int64_t)v.u;
}

double vc_gguf_arr_float(const vc_gguf_value *arr, uint64_t i) {
    if (arr->type != VC_GGUF_ARRAY || i >= arr->arr.n) return 0;
    if (arr->arr.elem_type != VC_GGUF_FLOAT32 && arr->arr.elem_type != VC_GGUF_FLOAT64) return 0;
    vc_gguf_value v = {.type = arr->arr.elem_type};
    decode_scalar(&v, (const uint8_t *)arr->arr.raw + i * fixed_size(arr->arr.elem_type));
    return v.f;
}
