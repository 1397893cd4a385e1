/* The dtype table: names, block sizes and row sizes of every weight format
 * this build reads. Numbers are from the GGUF spec / ggml-common.h (see the
 * layouts listed in quant.h). Used by the file readers to validate tensor
 * sizes, and by quant.c and the kernels. */
#include "model/quant.h"

#include <stdint.h>

typedef struct dtype_info {
    const char *name;    /* NULL: not a type this build reads */
    int64_t block_elems;
    size_t block_bytes;
} dtype_info;

static const dtype_info DTYPES[VC_DTYPE_COUNT] = {
    [VC_F32]  = {"F32", 1, 4},
    [VC_F16]  = {"F16", 1, 2},
    [VC_Q4_0] = {"Q4_0", 32, 18},
    [VC_Q4_1] = {"Q4_1", 32, 20},
    [VC_Q5_0] = {"Q5_0", 32, 22},
    [VC_Q5_1] = {"Q5_1", 32, 24},
    [VC_Q8_0] = {"Q8_0", 32, 34},
    [VC_Q8_1] = {"Q8_1", 32, 36},
    [VC_Q2_K] = {"Q2_K", 256, 84},
    [VC_Q3_K] = {"Q3_K", 256, 110},
    [VC_Q4_K] = {"Q4_K", 256, 144},
    [VC_Q5_K] = {"Q5_K", 256, 176},
    [VC_Q6_K] = {"Q6_K", 256, 210},
    [VC_Q8_K] = {"Q8_K", 256, 292},
    [VC_BF16] = {"BF16", 1, 2},
};

int vc_dtype_known(int t) {
    return t >= 0 && t < VC_DTYPE_COUNT && DTYPES[t].name != NULL;
}

const char *vc_dtype_name(vc_dtype t) {
    return vc_dtype_known((int)t) ? DTYPES[t].name : "?";
}

int64_t vc_dtype_block_elems(vc_dtype t) {
    return vc_dtype_known((int)t) ? DTYPES[t].block_elems : 0;
}

size_t vc_dtype_block_bytes(vc_dtype t) {
    return vc_dtype_known((int)t) ? DTYPES[t].block_bytes : 0;
}

/* 0 for an unknown type or an n that is negative or not a multiple of the
 * block size (callers validate first; 0 never passes a size check). */
size_t vc_row_bytes(vc_dtype t, int64_t n) {
    if (!vc_dtype_known((int)t) || n < 0) return 0;
    int64_t be = DTYPES[t].block_elems;
    if (n % be != 0) return 0;
    if ((uint64_t)(n / be) > SIZE_MAX / DTYPES[t].block_bytes) return 0;
    return (size_t)(n / be) * DTYPES[t].block_bytes;
}
