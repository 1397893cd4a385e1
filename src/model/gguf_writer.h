/* GGUF v3 writer: metadata of every type (string arrays included), tensor
 * infos, alignment padding and tensor data, as the GGUF spec lays them out:
 *
 *   "GGUF" u32 version=3 u64 n_tensors u64 n_kv
 *   n_kv    x { str key; u32 type; value }            str = u64 len + bytes
 *   n_tensors x { str name; u32 n_dims; u64 ne[n_dims]; u32 dtype; u64 offset }
 *   pad to alignment; tensor data, each tensor starting at an aligned offset
 *
 * Usage: create, set metadata and add tensors (in file order), write, free.
 * Setters return 0 or -1; the first failure is remembered and also returned
 * by vc_gguf_writer_write, so a caller may check only the final write.
 *
 * vc_gguf_writer_write goes to PATH.tmp, checks every write, fsyncs and
 * renames onto PATH; on any failure (ENOSPC, EFBIG, EIO, ...) it says which
 * file and why and removes the .tmp, so no broken PATH is ever left. */
#ifndef VLLMC_GGUF_WRITER_H
#define VLLMC_GGUF_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/gguf.h"
#include "model/quant.h"
#include "util/error.h"

typedef struct vc_gguf_writer vc_gguf_writer;

int vc_gguf_writer_create(vc_gguf_writer **out, vc_error *err);
void vc_gguf_writer_free(vc_gguf_writer *w);

/* Scalars. A key may be set once (a second set is an error). Setting
 * "general.alignment" (u32, a power of two) changes the data alignment
 * (default 32). */
int vc_gguf_writer_set_u8(vc_gguf_writer *w, const char *key, uint8_t v);
int vc_gguf_writer_set_i8(vc_gguf_writer *w, const char *key, int8_t v);
int vc_gguf_writer_set_u16(vc_gguf_writer *w, const char *key, uint16_t v);
int vc_gguf_writer_set_i16(vc_gguf_writer *w, const char *key, int16_t v);
int vc_gguf_writer_set_u32(vc_gguf_writer *w, const char *key, uint32_t v);
int vc_gguf_writer_set_i32(vc_gguf_writer *w, const char *key, int32_t v);
int vc_gguf_writer_set_u64(vc_gguf_writer *w, const char *key, uint64_t v);
int vc_gguf_writer_set_i64(vc_gguf_writer *w, const char *key, int64_t v);
int vc_gguf_writer_set_f32(vc_gguf_writer *w, const char *key, float v);
int vc_gguf_writer_set_f64(vc_gguf_writer *w, const char *key, double v);
int vc_gguf_writer_set_bool(vc_gguf_writer *w, const char *key, bool v);
/* NUL-terminated string, or (ptr, len) for strings that are not */
int vc_gguf_writer_set_str(vc_gguf_writer *w, const char *key, const char *s);
int vc_gguf_writer_set_strn(vc_gguf_writer *w, const char *key, const char *s, uint64_t len);

/* Array of n fixed-size elements of elem_type (UINT8..FLOAT64, BOOL), given
 * as a packed little-endian C array (int32_t[] for INT32, float[] for
 * FLOAT32, uint8_t[] for BOOL, ...). */
int vc_gguf_writer_set_arr(vc_gguf_writer *w, const char *key, vc_gguf_type elem_type,
                           const void *elems, uint64_t n);
/* Array of n strings; lens may be NULL when every string is NUL-terminated. */
int vc_gguf_writer_set_arr_str(vc_gguf_writer *w, const char *key, const char *const *strs,
                               const uint64_t *lens, uint64_t n);
/* Copies an existing key/value (e.g. from a GGUF being re-exported) under key. */
int vc_gguf_writer_set_value(vc_gguf_writer *w, const char *key, const vc_gguf_value *v);

/* Adds a tensor; ne in ggml order (ne[0] = row length). data must stay valid
 * until vc_gguf_writer_write returns; nbytes must equal the type's size for
 * that shape. Names must be unique. */
int vc_gguf_writer_add_tensor(vc_gguf_writer *w, const char *name, vc_dtype type, int n_dims,
                              const int64_t *ne, const void *data, size_t nbytes);

/* Total size the file will have, in bytes (for a disk-space check). */
uint64_t vc_gguf_writer_file_size(const vc_gguf_writer *w);

/* Writes PATH (atomically via PATH.tmp). */
int vc_gguf_writer_write(vc_gguf_writer *w, const char *path, vc_error *err);

#endif
