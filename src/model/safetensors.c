/* safetensors reader on read-only mmaps.
 *
 * File layout (huggingface/safetensors README):
 *   u64 N (little-endian) | N bytes of JSON header (may be padded with spaces)
 *   | data area
 * header = { "<name>": {"dtype": "F32", "shape": [d0, d1, ...],
 *                       "data_offsets": [begin, end]}, ...,
 *            "__metadata__": {...} (ignored) }
 * Offsets are relative to the start of the data area; shapes are PyTorch
 * order (last dim contiguous), so they are reversed into ggml order here.
 * A sharded checkpoint is a folder with model.safetensors.index.json whose
 * "weight_map" maps each tensor name to its shard file. */
#include "model/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/strmap.h"

#define ST_MAX_HEADER (100u << 20)   /* the safetensors library's own limit */

typedef struct st_file {
    char *path;
    const uint8_t *map;
    size_t size;
} st_file;

struct vc_safetensors {
    st_file *files;
    int n_files;
    vc_tensor *tensors;
    int *tensor_file;       /* index into files, per tensor */
    int64_t n_tensors, cap;
    vc_strmap by_name;      /* built once all tensors are in */
};

void vc_safetensors_free(vc_safetensors *st) {
    if (!st) return;
    for (int64_t i = 0; i < st->n_tensors; i++) free((char *)st->tensors[i].name);
    free(st->tensors);
    free(st->tensor_file);
    for (int i = 0; i < st->n_files; i++) {
        if (st->files[i].map) munmap((void *)st->files[i].map, st->files[i].size);
        free(st->files[i].path);
    }
    free(st->files);
    vc_strmap_free(&st->by_name);
    free(st);
}

static int map_file(st_file *f, const char *path, vc_error *err) {
    f->path = strdup(path);
    if (!f->path) return vc_errorf(err, "%s: out of memory", path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return vc_errorf(err, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return vc_errorf(err, "%s: not a regular file (expected a .safetensors file)", path);
    }
    f->size = (size_t)sb.st_size;
    if (f->size < 8) {
        close(fd);
        return vc_errorf(err, "%s: offset 0: header length: file is %zu bytes (expected at least 8)", path, f->size);
    }
    void *m = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m == MAP_FAILED) return vc_errorf(err, "%s: mmap of %zu bytes failed: %s", path, f->size, strerror(errno));
    f->map = m;
    return 0;
}

static int dtype_from_st(const char *s, vc_dtype *t) {
    if (strcmp(s, "F32") == 0) *t = VC_F32;
    else if (strcmp(s, "F16") == 0) *t = VC_F16;
    else if (strcmp(s, "BF16") == 0) *t = VC_BF16;
    else return -1;
    return 0;
}

static int add_tensor(vc_safetensors *st, const vc_tensor *t, int file, vc_error *err) {
    if (st->n_tensors == st->cap) {
        int64_t cap = st->cap ? st->cap * 2 : 64;
        vc_tensor *nt = realloc(st->tensors, (size_t)cap * sizeof *nt);
        if (!nt) return vc_errorf(err, "out of memory for tensors");
        st->tensors = nt;
        int *nf = realloc(st->tensor_file, (size_t)cap * sizeof *nf);
        if (!nf) return vc_errorf(err, "out of memory for tensors");
        st->tensor_file = nf;
        st->cap = cap;
    }
    st->tensors[st->n_tensors] = *t;
    st->tensor_file[st->n_tensors] = file;
    st->n_tensors++;
    return 0;
}

/* Reads one tensor entry of the header of file f into t (name not set). */
static int parse_entry(const st_file *f, const char *name, json_t *e, size_t data_start, vc_tensor *t,
                       vc_error *err) {
    const char *p = f->path;
    if (!json_is_object(e))
        return vc_errorf(err, "%s: header: tensor '%s': expected an object with dtype, shape, data_offsets", p, name);
    json_t *jd = json_object_get(e, "dtype"), *js = json_object_get(e, "shape"),
           *jo = json_object_get(e, "data_offsets");
    if (!json_is_string(jd))
        return vc_errorf(err, "%s: header: tensor '%s': field 'dtype' %s (expected a string)", p, name,
                         jd ? "is not a string" : "missing");
    if (dtype_from_st(json_string_value(jd), &t->type))
        return vc_errorf(err, "%s: header: tensor '%s': dtype '%s' not supported (expected F32, F16 or BF16)",
                         p, name, json_string_value(jd));
    if (!json_is_array(js))
        return vc_errorf(err, "%s: header: tensor '%s': field 'shape' %s (expected an array of dimensions)", p,
                         name, js ? "is not an array" : "missing");
    size_t nd = json_array_size(js);
    if (nd > VC_MAX_DIMS)
        return vc_errorf(err, "%s: header: tensor '%s': field 'shape' has %zu dims (expected at most %d)", p,
                         name, nd, VC_MAX_DIMS);
    t->n_dims = (int)nd;
    for (int d = 0; d < VC_MAX_DIMS; d++) t->ne[d] = 1;
    int64_t nelems = 1;
    for (size_t d = 0; d < nd; d++) {
        json_t *jv = json_array_get(js, d);
        if (!json_is_integer(jv) || json_integer_value(jv) <= 0)
            return vc_errorf(err, "%s: header: tensor '%s': field 'shape'[%zu] is not a positive integer", p,
                             name, d);
        int64_t dim = json_integer_value(jv);
        if (nelems > INT64_MAX / 4 / dim)   /* also keeps nelems * elem size in range */
            return vc_errorf(err, "%s: header: tensor '%s': field 'shape': element count overflows", p, name);
        nelems *= dim;
        t->ne[nd - 1 - d] = dim;            /* PyTorch [.., rows, cols] -> ne[0] = cols */
    }
    size_t es = vc_dtype_block_bytes(t->type);
    if (!json_is_array(jo) || json_array_size(jo) != 2 || !json_is_integer(json_array_get(jo, 0)) ||
        !json_is_integer(json_array_get(jo, 1)))
        return vc_errorf(err, "%s: header: tensor '%s': field 'data_offsets' %s (expected [begin, end])", p,
                         name, jo ? "malformed" : "missing");
    json_int_t b = json_integer_value(json_array_get(jo, 0)), e2 = json_integer_value(json_array_get(jo, 1));
    size_t data_size = f->size - data_start;
    if (b < 0 || e2 < b)
        return vc_errorf(err, "%s: header: tensor '%s': field 'data_offsets' [%lld, %lld] (expected 0 <= begin <= end)",
                         p, name, (long long)b, (long long)e2);
    if ((uint64_t)e2 > data_size)
        return vc_errorf(err, "%s: header: tensor '%s': field 'data_offsets' end %lld is past the data area of %zu bytes "
                         "(data starts at file offset %zu)", p, name, (long long)e2, data_size, data_start);
    uint64_t want = (uint64_t)nelems * es;
    if ((uint64_t)(e2 - b) != want)
        return vc_errorf(err, "%s: header: tensor '%s': field 'data_offsets' span %lld bytes but dtype %s x shape "
                         "needs %llu (expected end - begin = %lld elements x %zu bytes)", p, name,
                         (long long)(e2 - b), json_string_value(jd), (unsigned long long)want, (long long)nelems, es);
    if ((data_start + (size_t)b) % es != 0)
        return vc_errorf(err, "%s: header: tensor '%s': data at file offset %zu is not aligned to its %zu-byte "
                         "elements", p, name, data_start + (size_t)b, es);
    t->data = f->map + data_start + b;
    t->nbytes = (size_t)want;
    return 0;
}

/* Parses the header of files[fi] and appends its tensors. */
static int parse_file(vc_safetensors *st, int fi, vc_error *err) {
    const st_file *f = &st->files[fi];
    uint64_t hlen;
    memcpy(&hlen, f->map, 8);
    if (hlen > f->size - 8)
        return vc_errorf(err, "%s: offset 0: header length %llu runs past the end of the file (file size %zu, "
                         "expected at most %zu)", f->path, (unsigned long long)hlen, f->size, f->size - 8);
    if (hlen > ST_MAX_HEADER)
        return vc_errorf(err, "%s: offset 0: header length %llu exceeds the %u-byte limit", f->path,
                         (unsigned long long)hlen, ST_MAX_HEADER);
    json_error_t jerr;
    json_t *root = json_loadb((const char *)f->map + 8, (size_t)hlen, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return vc_errorf(err, "%s: offset %lld: header JSON: %s (expected a JSON object of tensors)", f->path,
                         (long long)(8 + (jerr.position > 0 ? jerr.position : 0)), jerr.text);
    int rc = -1;
    if (!json_is_object(root)) {
        vc_errorf(err, "%s: offset 8: header JSON is not an object (expected {\"name\": {...}, ...})", f->path);
        goto done;
    }
    size_t data_start = 8 + (size_t)hlen;
    const char *name;
    json_t *e;
    json_object_foreach(root, name, e) {
        if (strcmp(name, "__metadata__") == 0) continue;
        vc_tensor t = {0};
        if (parse_entry(f, name, e, data_start, &t, err)) goto done;
        t.name = strdup(name);
        if (!t.name) { vc_errorf(err, "out of memory"); goto done; }
        if (add_tensor(st, &t, fi, err)) { free((char *)t.name); goto done; }
    }
    rc = 0;
done:
    json_decref(root);
    return rc;
}

static int add_file(vc_safetensors *st, const char *path, vc_error *err) {
    st_file *nf = realloc(st->files, (size_t)(st->n_files + 1) * sizeof *nf);
    if (!nf) return vc_errorf(err, "%s: out of memory", path);
    st->files = nf;
    st_file *f = &st->files[st->n_files++];
    memset(f, 0, sizeof *f);
    if (map_file(f, path, err)) return -1;
    return parse_file(st, st->n_files - 1, err);
}

static int build_index(vc_safetensors *st, vc_error *err) {
    if (vc_strmap_init(&st->by_name, st->n_tensors)) return vc_errorf(err, "out of memory");
    for (int64_t i = 0; i < st->n_tensors; i++) {
        const char *name = st->tensors[i].name;
        int64_t first;
        if (vc_strmap_put(&st->by_name, name, strlen(name), i, &first) == 1)
            return vc_errorf(err, "%s: tensor '%s': also in %s (expected each tensor in one shard)",
                             st->files[st->tensor_file[i]].path, name, st->files[st->tensor_file[first]].path);
    }
    return 0;
}

/* folder/model.safetensors.index.json: open each shard named in weight_map
 * once, then check every weight_map entry is in the shard it names. */
static int open_sharded(vc_safetensors *st, const char *dir, const char *index_path, vc_error *err) {
    json_error_t jerr;
    json_t *root = json_load_file(index_path, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return vc_errorf(err, "%s: line %d: %s (expected a JSON object with \"weight_map\")", index_path,
                         jerr.line, jerr.text);
    int rc = -1;
    json_t *wm = json_object_get(root, "weight_map");
    if (!json_is_object(wm)) {
        vc_errorf(err, "%s: field 'weight_map' %s (expected an object of tensor name -> shard file)", index_path,
                  wm ? "is not an object" : "missing");
        goto done;
    }
    if (json_object_size(wm) == 0) {
        vc_errorf(err, "%s: field 'weight_map' is empty (expected tensor name -> shard file)", index_path);
        goto done;
    }
    const char *name;
    json_t *jf;
    json_object_foreach(wm, name, jf) {
        if (!json_is_string(jf)) {
            vc_errorf(err, "%s: field 'weight_map': tensor '%s' maps to a non-string (expected a shard file name)",
                      index_path, name);
            goto done;
        }
        const char *shard = json_string_value(jf);
        if (shard[0] == 0 || strchr(shard, '/') || strcmp(shard, "..") == 0 || strcmp(shard, ".") == 0) {
            vc_errorf(err, "%s: field 'weight_map': tensor '%s': shard '%s' (expected a file name in the same folder)",
                      index_path, name, shard);
            goto done;
        }
        char path[4096];
        if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, shard) >= sizeof path) {
            vc_errorf(err, "%s: shard path too long", index_path);
            goto done;
        }
        int seen = 0;
        for (int i = 0; i < st->n_files && !seen; i++) seen = strcmp(st->files[i].path, path) == 0;
        if (!seen && add_file(st, path, err)) {
            vc_error_prefix(err, "%s: shard of tensor '%s'", index_path, name);
            goto done;
        }
    }
    if (build_index(st, err)) goto done;
    json_object_foreach(wm, name, jf) {
        int64_t i = vc_strmap_get(&st->by_name, name, strlen(name));
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, json_string_value(jf));
        if (i < 0) {
            vc_errorf(err, "%s: field 'weight_map': tensor '%s' is not in %s (expected it there)", index_path, name,
                      path);
            goto done;
        }
        if (strcmp(st->files[st->tensor_file[i]].path, path) != 0) {
            vc_errorf(err, "%s: field 'weight_map': tensor '%s' is in %s, not in %s as the map says", index_path,
                      name, st->files[st->tensor_file[i]].path, path);
            goto done;
        }
    }
    rc = 0;
done:
    json_decref(root);
    return rc;
}

int vc_safetensors_open(vc_safetensors **out, const char *path, vc_error *err) {
    *out = NULL;
    vc_safetensors *st = calloc(1, sizeof *st);
    if (!st) return vc_errorf(err, "%s: out of memory", path);
    struct stat sb;
    int rc;
    if (stat(path, &sb) != 0) {
        rc = vc_errorf(err, "%s: cannot open: %s", path, strerror(errno));
    } else if (S_ISDIR(sb.st_mode)) {
        char index[4096], single[4096];
        snprintf(index, sizeof index, "%s/model.safetensors.index.json", path);
        snprintf(single, sizeof single, "%s/model.safetensors", path);
        if (stat(index, &sb) == 0)
            rc = open_sharded(st, path, index, err);
        else if (stat(single, &sb) == 0)
            rc = add_file(st, single, err) || build_index(st, err) ? -1 : 0;
        else
            rc = vc_errorf(err, "%s: folder has neither model.safetensors.index.json nor model.safetensors", path);
    } else {
        rc = add_file(st, path, err) || build_index(st, err) ? -1 : 0;
    }
    if (rc) {
        vc_safetensors_free(st);
        return -1;
    }
    *out = st;
    return 0;
}

int64_t vc_safetensors_n_tensors(const vc_safetensors *st) { return st->n_tensors; }

const vc_tensor *vc_safetensors_tensor_at(const vc_safetensors *st, int64_t i) {
    return (i >= 0 && i < st->n_tensors) ? &st->tensors[i] : NULL;
}

const vc_tensor *vc_safetensors_tensor(const vc_safetensors *st, const char *name) {
    int64_t i = vc_strmap_get(&st->by_name, name, strlen(name));
    return i >= 0 ? &st->tensors[i] : NULL;
}
