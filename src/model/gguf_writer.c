/* GGUF v3 writer; the layout is in gguf_writer.h. Metadata is serialized into
 * a byte buffer as it is set (so the header is ready when writing starts);
 * tensor data is borrowed from the caller and streamed at write time. */
#include "model/gguf_writer.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define GGUF_DEFAULT_ALIGNMENT 32

typedef struct bytes {
    uint8_t *p;
    size_t len, cap;
} bytes;

typedef struct tensor_info {
    char *name;
    vc_dtype type;
    int n_dims;
    int64_t ne[VC_MAX_DIMS];
    const void *data;
    size_t nbytes;
    uint64_t offset;    /* relative to the start of the data section */
} tensor_info;

struct vc_gguf_writer {
    bytes kv;               /* serialized key/value pairs */
    uint64_t n_kv;
    char **keys;            /* for duplicate detection */
    tensor_info *tensors;
    uint64_t n_tensors, cap_tensors;
    uint64_t data_size;     /* running size of the data section */
    uint32_t alignment;
    int failed;             /* first setter failure, remembered */
    vc_error first_err;
};

static int bytes_reserve(bytes *b, size_t extra) {
    if (b->len + extra <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra) cap *= 2;
    uint8_t *p = realloc(b->p, cap);
    if (!p) return -1;
    b->p = p;
    b->cap = cap;
    return 0;
}

static int bytes_put(bytes *b, const void *src, size_t n) {
    if (n == 0) return 0;
    if (bytes_reserve(b, n)) return -1;
    memcpy(b->p + b->len, src, n);
    b->len += n;
    return 0;
}

/* GGUF is little-endian; so are the hosts we build for (x86-64, aarch64). */
static int put_u32(bytes *b, uint32_t v) { return bytes_put(b, &v, 4); }
static int put_u64(bytes *b, uint64_t v) { return bytes_put(b, &v, 8); }
static int put_str(bytes *b, const char *s, uint64_t len) {
    return put_u64(b, len) || bytes_put(b, s, len);
}

static size_t gguf_type_size(vc_gguf_type t) {
    switch (t) {
    case VC_GGUF_UINT8: case VC_GGUF_INT8: case VC_GGUF_BOOL: return 1;
    case VC_GGUF_UINT16: case VC_GGUF_INT16: return 2;
    case VC_GGUF_UINT32: case VC_GGUF_INT32: case VC_GGUF_FLOAT32: return 4;
    case VC_GGUF_UINT64: case VC_GGUF_INT64: case VC_GGUF_FLOAT64: return 8;
    default: return 0;
    }
}

int vc_gguf_writer_create(vc_gguf_writer **out, vc_error *err) {
    *out = NULL;
    vc_gguf_writer *w = calloc(1, sizeof *w);
    if (!w) return vc_errorf(err, "gguf writer: out of memory");
    w->alignment = GGUF_DEFAULT_ALIGNMENT;
    *out = w;
    return 0;
}

void vc_gguf_writer_free(vc_gguf_writer *w) {
    if (!w) return;
    free(w->kv.p);
    for (uint64_t i = 0; i < w->n_kv; i++) free(w->keys[i]);
    free(w->keys);
    for (uint64_t i = 0; i < w->n_tensors; i++) free(w->tensors[i].name);
    free(w->tensors);
    free(w);
}

static int fail(vc_gguf_writer *w, const char *fmt, const char *what) {
    if (!w->failed) {
        w->failed = 1;
        vc_errorf(&w->first_err, fmt, what);
    }
    return -1;
}

/* Starts a key/value: checks the key is new, records it, writes key + type. */
static int begin_kv(vc_gguf_writer *w, const char *key, vc_gguf_type type) {
    if (!key || !*key) return fail(w, "gguf writer: empty metadata key%s", "");
    for (uint64_t i = 0; i < w->n_kv; i++)
        if (!strcmp(w->keys[i], key)) return fail(w, "gguf writer: metadata key '%s' set twice", key);
    char **keys = realloc(w->keys, (w->n_kv + 1) * sizeof *keys);
    if (!keys) return fail(w, "gguf writer: out of memory at key '%s'", key);
    w->keys = keys;
    if (!(keys[w->n_kv] = strdup(key))) return fail(w, "gguf writer: out of memory at key '%s'", key);
    w->n_kv++;
    if (put_str(&w->kv, key, strlen(key)) || put_u32(&w->kv, (uint32_t)type))
        return fail(w, "gguf writer: out of memory at key '%s'", key);
    return 0;
}

static int scalar(vc_gguf_writer *w, const char *key, vc_gguf_type type, const void *v) {
    if (begin_kv(w, key, type)) return -1;
    if (bytes_put(&w->kv, v, gguf_type_size(type)))
        return fail(w, "gguf writer: out of memory at key '%s'", key);
    return 0;
}

int vc_gguf_writer_set_u8(vc_gguf_writer *w, const char *k, uint8_t v) { return scalar(w, k, VC_GGUF_UINT8, &v); }
int vc_gguf_writer_set_i8(vc_gguf_writer *w, const char *k, int8_t v) { return scalar(w, k, VC_GGUF_INT8, &v); }
int vc_gguf_writer_set_u16(vc_gguf_writer *w, const char *k, uint16_t v) { return scalar(w, k, VC_GGUF_UINT16, &v); }
int vc_gguf_writer_set_i16(vc_gguf_writer *w, const char *k, int16_t v) { return scalar(w, k, VC_GGUF_INT16, &v); }
int vc_gguf_writer_set_i32(vc_gguf_writer *w, const char *k, int32_t v) { return scalar(w, k, VC_GGUF_INT32, &v); }
int vc_gguf_writer_set_u64(vc_gguf_writer *w, const char *k, uint64_t v) { return scalar(w, k, VC_GGUF_UINT64, &v); }
int vc_gguf_writer_set_i64(vc_gguf_writer *w, const char *k, int64_t v) { return scalar(w, k, VC_GGUF_INT64, &v); }
int vc_gguf_writer_set_f32(vc_gguf_writer *w, const char *k, float v) { return scalar(w, k, VC_GGUF_FLOAT32, &v); }
int vc_gguf_writer_set_f64(vc_gguf_writer *w, const char *k, double v) { return scalar(w, k, VC_GGUF_FLOAT64, &v); }

int vc_gguf_writer_set_bool(vc_gguf_writer *w, const char *k, bool v) {
    uint8_t b = v ? 1 : 0;
    return scalar(w, k, VC_GGUF_BOOL, &b);
}

int vc_gguf_writer_set_u32(vc_gguf_writer *w, const char *k, uint32_t v) {
    if (k && !strcmp(k, "general.alignment")) {
        if (v == 0 || (v & (v - 1)) || v % 8)
            return fail(w, "gguf writer: general.alignment must be a power of two >= 8%s", "");
        if (w->n_tensors) return fail(w, "gguf writer: general.alignment set after tensors were added%s", "");
        w->alignment = v;
    }
    return scalar(w, k, VC_GGUF_UINT32, &v);
}

int vc_gguf_writer_set_strn(vc_gguf_writer *w, const char *key, const char *s, uint64_t len) {
    if (begin_kv(w, key, VC_GGUF_STRING)) return -1;
    if (put_str(&w->kv, s, len)) return fail(w, "gguf writer: out of memory at key '%s'", key);
    return 0;
}

int vc_gguf_writer_set_str(vc_gguf_writer *w, const char *key, const char *s) {
    return vc_gguf_writer_set_strn(w, key, s, strlen(s));
}

int vc_gguf_writer_set_arr(vc_gguf_writer *w, const char *key, vc_gguf_type elem_type,
                           const void *elems, uint64_t n) {
    size_t es = gguf_type_size(elem_type);
    if (!es) return fail(w, "gguf writer: key '%s': array element type must be a fixed-size type", key);
    if (begin_kv(w, key, VC_GGUF_ARRAY)) return -1;
    if (put_u32(&w->kv, (uint32_t)elem_type) || put_u64(&w->kv, n) || bytes_put(&w->kv, elems, es * n))
        return fail(w, "gguf writer: out of memory at key '%s'", key);
    return 0;
}

int vc_gguf_writer_set_arr_str(vc_gguf_writer *w, const char *key, const char *const *strs,
                               const uint64_t *lens, uint64_t n) {
    if (begin_kv(w, key, VC_GGUF_ARRAY)) return -1;
    if (put_u32(&w->kv, VC_GGUF_STRING) || put_u64(&w->kv, n))
        return fail(w, "gguf writer: out of memory at key '%s'", key);
    for (uint64_t i = 0; i < n; i++)
        if (put_str(&w->kv, strs[i], lens ? lens[i] : strlen(strs[i])))
            return fail(w, "gguf writer: out of memory at key '%s'", key);
    return 0;
}

/* The value part (no key, no outer type) of v, recursively for nested arrays. */
static int put_value(bytes *b, const vc_gguf_value *v) {
    if (v->type == VC_GGUF_STRING) return put_str(b, v->s.ptr, v->s.len);
    if (v->type != VC_GGUF_ARRAY) {
        /* scalars: the union holds them widened; narrow to the stored size */
        size_t es = gguf_type_size(v->type);
        uint8_t tmp[8];
        if (v->type == VC_GGUF_FLOAT32) { float f = (float)v->f; memcpy(tmp, &f, 4); }
        else if (v->type == VC_GGUF_FLOAT64) memcpy(tmp, &v->f, 8);
        else if (v->type == VC_GGUF_INT8 || v->type == VC_GGUF_INT16 || v->type == VC_GGUF_INT32 ||
                 v->type == VC_GGUF_INT64) memcpy(tmp, &v->i, 8);   /* low bytes, little-endian */
        else memcpy(tmp, &v->u, 8);
        return bytes_put(b, tmp, es);
    }
    if (put_u32(b, (uint32_t)v->arr.elem_type) || put_u64(b, v->arr.n)) return -1;
    if (v->arr.elem_type == VC_GGUF_STRING) {
        for (uint64_t i = 0; i < v->arr.n; i++)
            if (put_str(b, v->arr.strs[i].ptr, v->arr.strs[i].len)) return -1;
        return 0;
    }
    if (v->arr.elem_type == VC_GGUF_ARRAY) {
        for (uint64_t i = 0; i < v->arr.n; i++)
            if (put_value(b, &v->arr.items[i])) return -1;
        return 0;
    }
    return bytes_put(b, v->arr.raw, gguf_type_size(v->arr.elem_type) * v->arr.n);
}

int vc_gguf_writer_set_value(vc_gguf_writer *w, const char *key, const vc_gguf_value *v) {
    if (v->type == VC_GGUF_UINT32) return vc_gguf_writer_set_u32(w, key, (uint32_t)v->u);
    if (begin_kv(w, key, v->type)) return -1;
    if (put_value(&w->kv, v)) return fail(w, "gguf writer: out of memory at key '%s'", key);
    return 0;
}

static uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

int vc_gguf_writer_add_tensor(vc_gguf_writer *w, const char *name, vc_dtype type, int n_dims,
                              const int64_t *ne, const void *data, size_t nbytes) {
    if (!vc_dtype_known(type)) return fail(w, "gguf writer: tensor '%s': unknown type", name);
    if (n_dims < 1 || n_dims > VC_MAX_DIMS) return fail(w, "gguf writer: tensor '%s': n_dims must be 1..4", name);
    for (int d = 0; d < n_dims; d++)
        if (ne[d] <= 0) return fail(w, "gguf writer: tensor '%s': dimension <= 0", name);
    if (ne[0] % vc_dtype_block_elems(type))
        return fail(w, "gguf writer: tensor '%s': row length is not a multiple of its type's block", name);
    uint64_t rows = 1;
    for (int d = 1; d < n_dims; d++) rows *= (uint64_t)ne[d];
    if ((uint64_t)vc_row_bytes(type, ne[0]) * rows != nbytes)
        return fail(w, "gguf writer: tensor '%s': byte size does not match its type and shape", name);
    for (uint64_t i = 0; i < w->n_tensors; i++)
        if (!strcmp(w->tensors[i].name, name)) return fail(w, "gguf writer: tensor '%s' added twice", name);
    if (w->n_tensors == w->cap_tensors) {
        uint64_t cap = w->cap_tensors ? w->cap_tensors * 2 : 64;
        tensor_info *t = realloc(w->tensors, cap * sizeof *t);
        if (!t) return fail(w, "gguf writer: out of memory at tensor '%s'", name);
        w->tensors = t;
        w->cap_tensors = cap;
    }
    tensor_info *t = &w->tensors[w->n_tensors];
    memset(t, 0, sizeof *t);
    if (!(t->name = strdup(name))) return fail(w, "gguf writer: out of memory at tensor '%s'", name);
    t->type = type;
    t->n_dims = n_dims;
    for (int d = 0; d < VC_MAX_DIMS; d++) t->ne[d] = d < n_dims ? ne[d] : 1;
    t->data = data;
    t->nbytes = nbytes;
    t->offset = align_up(w->data_size, w->alignment);
    w->data_size = t->offset + nbytes;
    w->n_tensors++;
    return 0;
}

/* header + kv + tensor infos, unpadded */
static int build_header(const vc_gguf_writer *w, bytes *h) {
    if (bytes_put(h, "GGUF", 4) || put_u32(h, 3) || put_u64(h, w->n_tensors) || put_u64(h, w->n_kv) ||
        bytes_put(h, w->kv.p, w->kv.len))
        return -1;
    for (uint64_t i = 0; i < w->n_tensors; i++) {
        const tensor_info *t = &w->tensors[i];
        if (put_str(h, t->name, strlen(t->name)) || put_u32(h, (uint32_t)t->n_dims)) return -1;
        for (int d = 0; d < t->n_dims; d++)
            if (put_u64(h, (uint64_t)t->ne[d])) return -1;
        if (put_u32(h, (uint32_t)t->type) || put_u64(h, t->offset)) return -1;
    }
    return 0;
}

uint64_t vc_gguf_writer_file_size(const vc_gguf_writer *w) {
    bytes h = {0};
    uint64_t size = 0;
    if (!build_header(w, &h)) size = align_up(h.len, w->alignment) + w->data_size;
    free(h.p);
    return size;
}

/* write(2) loop; fails on a short write (ENOSPC shows up as one or as errno) */
static int write_all(int fd, const void *buf, size_t n, const char *path, vc_error *err) {
    const uint8_t *p = buf;
    while (n > 0) {
        size_t chunk = n > (1u << 30) ? (1u << 30) : n;
        ssize_t k = write(fd, p, chunk);
        if (k < 0) {
            if (errno == EINTR) continue;
            return vc_errorf(err, "%s: write failed: %s", path, strerror(errno));
        }
        if (k == 0) return vc_errorf(err, "%s: write failed: no progress (disk full?)", path);
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static const uint8_t zeros[256];

static int write_padding(int fd, uint64_t from, uint64_t to, const char *path, vc_error *err) {
    while (from < to) {
        size_t n = to - from > sizeof zeros ? sizeof zeros : (size_t)(to - from);
        if (write_all(fd, zeros, n, path, err)) return -1;
        from += n;
    }
    return 0;
}

/* fails early, before writing anything, when the file cannot fit */
static int check_space(const char *path, uint64_t need, vc_error *err) {
    char *copy = strdup(path);
    if (!copy) return vc_errorf(err, "%s: out of memory", path);
    struct statvfs fs;
    int rc = statvfs(dirname(copy), &fs);
    free(copy);
    if (rc != 0) return 0;  /* unknown: let the writes tell */
    uint64_t avail = (uint64_t)fs.f_bavail * fs.f_frsize;
    if (avail < need)
        return vc_errorf(err, "%s: not enough disk space: the file needs %.1f MB, %.1f MB free", path,
                         need / 1e6, avail / 1e6);
    return 0;
}

int vc_gguf_writer_write(vc_gguf_writer *w, const char *path, vc_error *err) {
    if (w->failed) {
        if (err) *err = w->first_err;
        return -1;
    }
    bytes h = {0};
    if (build_header(w, &h)) {
        free(h.p);
        return vc_errorf(err, "%s: out of memory building the GGUF header", path);
    }
    uint64_t data_start = align_up(h.len, w->alignment);
    if (check_space(path, data_start + w->data_size, err)) {
        free(h.p);
        return -1;
    }
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 5);
    if (!tmp) {
        free(h.p);
        return vc_errorf(err, "%s: out of memory", path);
    }
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        vc_errorf(err, "%s: cannot create: %s", tmp, strerror(errno));
        free(h.p);
        free(tmp);
        return -1;
    }
    int rc = write_all(fd, h.p, h.len, tmp, err) || write_padding(fd, h.len, data_start, tmp, err);
    uint64_t pos = 0;   /* within the data section */
    for (uint64_t i = 0; !rc && i < w->n_tensors; i++) {
        const tensor_info *t = &w->tensors[i];
        rc = write_padding(fd, pos, t->offset, tmp, err) || write_all(fd, t->data, t->nbytes, tmp, err);
        pos = t->offset + t->nbytes;
    }
    if (!rc && fsync(fd) != 0) rc = vc_errorf(err, "%s: fsync failed: %s", tmp, strerror(errno));
    if (close(fd) != 0 && !rc) rc = vc_errorf(err, "%s: close failed: %s", tmp, strerror(errno));
    if (!rc && rename(tmp, path) != 0) rc = vc_errorf(err, "%s: cannot rename to %s: %s", tmp, path, strerror(errno));
    if (rc) {
        unlink(tmp);
        vc_error_prefix(err, "writing %s", path);
    }
    free(h.p);
    free(tmp);
    return rc ? -1 : 0;
}
