/* A weight tensor as the loaders hand it out: a view into the mmap'd file.
 * Shapes are ggml-style: ne[0] is the innermost (contiguous) dimension, so a
 * PyTorch Linear weight of shape [out, in] has ne[0] = in, ne[1] = out and is
 * stored as ne[1] rows of vc_row_bytes(type, ne[0]) bytes. */
#ifndef VLLMC_TENSOR_H
#define VLLMC_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "model/quant.h"

#define VC_MAX_DIMS 4

typedef struct vc_tensor {
    const char *name;       /* owned by the file object it came from */
    vc_dtype type;
    int n_dims;
    int64_t ne[VC_MAX_DIMS];/* unused dims are 1 */
    const void *data;       /* NULL when the tensor is absent (optional weights) */
    size_t nbytes;
} vc_tensor;

static inline int64_t vc_tensor_nelems(const vc_tensor *t) {
    return t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
}

#endif
