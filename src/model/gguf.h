/* GGUF reader (v2 and v3), mmap-based. The file stays mapped for the life of
 * the vc_gguf; tensor data and string values point into the mapping.
 * Every count, offset and size is checked against the file size before use;
 * a bad file yields an error naming the file, the field and the offset. */
#ifndef VLLMC_GGUF_H
#define VLLMC_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/tensor.h"
#include "util/error.h"

typedef enum vc_gguf_type {
    VC_GGUF_UINT8 = 0, VC_GGUF_INT8 = 1, VC_GGUF_UINT16 = 2, VC_GGUF_INT16 = 3,
    VC_GGUF_UINT32 = 4, VC_GGUF_INT32 = 5, VC_GGUF_FLOAT32 = 6, VC_GGUF_BOOL = 7,
    VC_GGUF_STRING = 8, VC_GGUF_ARRAY = 9, VC_GGUF_UINT64 = 10, VC_GGUF_INT64 = 11,
    VC_GGUF_FLOAT64 = 12
} vc_gguf_type;

/* A string inside the file: NOT NUL-terminated. */
typedef struct vc_str {
    const char *ptr;
    uint64_t len;
} vc_str;

typedef struct vc_gguf_value vc_gguf_value;
struct vc_gguf_value {
    vc_gguf_type type;
    union {
        uint64_t u;     /* UINT8..UINT64, BOOL */
        int64_t i;      /* INT8..INT64 */
        double f;       /* FLOAT32, FLOAT64 */
        vc_str s;       /* STRING */
        struct {
            vc_gguf_type elem_type;
            uint64_t n;
            const void *raw;        /* fixed-size elements: packed little-endian in the file */
            vc_str *strs;           /* elem_type STRING: n strings */
            vc_gguf_value *items;   /* elem_type ARRAY: n nested arrays */
        } arr;
    };
};

typedef struct vc_gguf_kv {
    vc_str key;
    vc_gguf_value val;
} vc_gguf_kv;

typedef struct vc_gguf vc_gguf;

int vc_gguf_open(vc_gguf **out, const char *path, vc_error *err);
void vc_gguf_free(vc_gguf *g);

const char *vc_gguf_path(const vc_gguf *g);
uint32_t vc_gguf_version(const vc_gguf *g);
int64_t vc_gguf_n_kv(const vc_gguf *g);
const vc_gguf_kv *vc_gguf_kv_at(const vc_gguf *g, int64_t i);
const vc_gguf_kv *vc_gguf_find(const vc_gguf *g, const char *key);   /* NULL if absent */

/* Typed getters: 0 on success; -1 with a message naming file + key when the
 * key is absent or its type cannot be converted (integers convert among
 * themselves when the value fits; floats from FLOAT32/FLOAT64). */
int vc_gguf_get_u64(const vc_gguf *g, const char *key, uint64_t *out, vc_error *err);
int vc_gguf_get_i64(const vc_gguf *g, const char *key, int64_t *out, vc_error *err);
int vc_gguf_get_f64(const vc_gguf *g, const char *key, double *out, vc_error *err);
int vc_gguf_get_bool(const vc_gguf *g, const char *key, bool *out, vc_error *err);
int vc_gguf_get_str(const vc_gguf *g, const char *key, vc_str *out, vc_error *err);
/* array element access; the caller checks elem_type / bounds via kv->val.arr */
int64_t vc_gguf_arr_int(const vc_gguf_value *arr, uint64_t i);  /* integer element types */
double vc_gguf_arr_float(const vc_gguf_value *arr, uint64_t i); /* FLOAT32/FLOAT64 */

/* Tensors: data points into the mapping, aligned to general.alignment. */
int64_t vc_gguf_n_tensors(const vc_gguf *g);
const vc_tensor *vc_gguf_tensor_at(const vc_gguf *g, int64_t i);
const vc_tensor *vc_gguf_tensor(const vc_gguf *g, const char *name); /* NULL if absent */

#endif
