/* Weight formats: f32/f16/bf16 and the ggml block quant formats.
 *
 * Type ids are ggml's (they are what a GGUF tensor info stores), so a GGUF
 * tensor's type maps to vc_dtype with no table. A row of n elements of type t
 * is n / vc_dtype_block_elems(t) blocks of vc_dtype_block_bytes(t) bytes;
 * rows are stored back to back (row-major, ne[0] = row length).
 *
 * Block layouts follow the GGUF spec / ggml's ggml-common.h (facts, not code):
 *   Q4_0 { f16 d; u8 qs[16]; }                     32 elems, 18 bytes
 *   Q4_1 { f16 d, m; u8 qs[16]; }                  32 elems, 20 bytes
 *   Q5_0 { f16 d; u8 qh[4]; u8 qs[16]; }           32 elems, 22 bytes
 *   Q5_1 { f16 d, m; u8 qh[4]; u8 qs[16]; }        32 elems, 24 bytes
 *   Q8_0 { f16 d; i8 qs[32]; }                     32 elems, 34 bytes
 *   Q8_1 { f16 d, s; i8 qs[32]; }                  32 elems, 36 bytes
 *   Q2_K { u8 scales[16]; u8 qs[64]; f16 d, dmin; }           256 elems, 84 bytes
 *   Q3_K { u8 hmask[32]; u8 qs[64]; u8 scales[12]; f16 d; }   256 elems, 110 bytes
 *   Q4_K { f16 d, dmin; u8 scales[12]; u8 qs[128]; }          256 elems, 144 bytes
 *   Q5_K { f16 d, dmin; u8 scales[12]; u8 qh[32]; u8 qs[128]; } 256 elems, 176 bytes
 *   Q6_K { u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d; }     256 elems, 210 bytes
 *   Q8_K { f32 d; i8 qs[256]; i16 bsums[16]; }                256 elems, 292 bytes
 */
#ifndef VLLMC_QUANT_H
#define VLLMC_QUANT_H

#include <stddef.h>
#include <stdint.h>

typedef enum vc_dtype {
    VC_F32 = 0,
    VC_F16 = 1,
    VC_Q4_0 = 2,
    VC_Q4_1 = 3,
    VC_Q5_0 = 6,
    VC_Q5_1 = 7,
    VC_Q8_0 = 8,
    VC_Q8_1 = 9,
    VC_Q2_K = 10,
    VC_Q3_K = 11,
    VC_Q4_K = 12,
    VC_Q5_K = 13,
    VC_Q6_K = 14,
    VC_Q8_K = 15,
    VC_BF16 = 30,
    VC_DTYPE_COUNT = 40 /* upper bound on ids, for tables */
} vc_dtype;

/* 1 if t is a type this build reads (all of the above), else 0. */
int vc_dtype_known(int t);
const char *vc_dtype_name(vc_dtype t);          /* "Q4_K", "F16", ... ; "?" if unknown */
int vc_dtype_from_name(const char *name);       /* case-insensitive; -1 if unknown */
int64_t vc_dtype_block_elems(vc_dtype t);       /* 1 for f32/f16/bf16, 32 or 256 */
size_t vc_dtype_block_bytes(vc_dtype t);        /* bytes per block */
/* bytes of a row of n elements; n must be a multiple of block_elems */
size_t vc_row_bytes(vc_dtype t, int64_t n);

/* scalar conversions (round-to-nearest-even, like the hardware / numpy) */
float vc_f16_to_f32(uint16_t h);
uint16_t vc_f32_to_f16(float f);
float vc_bf16_to_f32(uint16_t h);
uint16_t vc_f32_to_bf16(float f);

/* dst[0..n) = dequantized src row; n a multiple of the block size. */
void vc_dequantize_row(vc_dtype t, const void *src, float *dst, int64_t n);

/* Quantizes n floats into dst (vc_row_bytes(t, n) bytes). imatrix-free.
 * Returns 0, or -1 if t has no quantizer. */
int vc_quantize_row(vc_dtype t, const float *src, void *dst, int64_t n);

/* Fused dot product of one weight row (type t, n elements) with float x[n]:
 * sum_i dequant(w)[i] * x[i], accumulated in float, never materialising the
 * dequantized row. The reference path; the fast kernels live in backend/cpu. */
float vc_vec_dot_f32(vc_dtype t, const void *w_row, const float *x, int64_t n);

#endif
