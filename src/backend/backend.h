/* The ops the model calls, as plain functions over float buffers, weight
 * tensors (any vc_dtype, row-major as stored) and the paged KV pool.
 *
 * Batch invariance: every output element is computed by one thread with one
 * fixed reduction order that depends only on that element's own inputs, never
 * on how many rows are in the batch, how work is split among threads, or
 * which other sequences are present. So a token's result is bitwise the same
 * alone or inside any batch.
 *
 * pool: the threads to spread an op over (NULL: the calling thread only). */
#ifndef VLLMC_BACKEND_H
#define VLLMC_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend/cpu/pool.h"
#include "model/kv_cache.h"
#include "model/tensor.h"

/* 1 if vc_cpu_dot has a SIMD kernel or block decoder for t in this build
 * (others decode blocks with quant.c's reference dequantizer). */
int vc_cpu_dot_is_fast(vc_dtype t);

/* sum_i dequant(w_row)[i] * x[i] for one weight row of n elements. */
float vc_cpu_dot(vc_dtype t, const void *w_row, const float *x, int64_t n);

/* out[j] = vc_cpu_dot(t, w_row, x + j * x_stride, n) for j < nr <= VC_DOT_MAX_ROWS,
 * bitwise: the row is unpacked once and used nr times, each x row keeping its
 * own accumulators and order. */
#define VC_DOT_MAX_ROWS 4
void vc_cpu_dot_rows(vc_dtype t, const void *w_row, const float *x, int64_t x_stride, int nr,
                     int64_t n, float *out);

/* out[k] = vc_cpu_dot(t, w_rows[k], x, n) for k < VC_DOT_WROWS, bitwise, the
 * four accumulation chains interleaved (one activation row: decode); returns
 * 0 (nothing written) for a type without this form */
#define VC_DOT_WROWS 4
int vc_cpu_dot_wrows(vc_dtype t, const uint8_t *const *w_rows, const float *x, int64_t n, float *out);

/* y[j * ys + k] = vc_cpu_dot(t, w + k * row_bytes, x + j * xs, n) for k < nw
 * <= 4, j < nx, bitwise: each weight row decoded once for all nx rows (the
 * float path of many activation rows). Q4_1 / Q4_K / Q5_K / Q6_K rows of
 * n <= 8192 values; returns 0 (nothing written) otherwise. */
int vc_cpu_dot_gemm(vc_dtype t, const uint8_t *w, size_t row_bytes, int nw, const float *x, int64_t xs, int nx,
                    int64_t n, float *y, size_t ys);

/* The plain C form of vc_cpu_dot_rows, in every build (reference order:
 * quant.c's vc_vec_dot_f32 per row). */
void vc_cpu_dot_rows_portable(vc_dtype t, const void *w_row, const float *x, int64_t x_stride,
                              int nr, int64_t n, float *out);

/* Kernel levels (src/backend/cpu/kernels.c). vc_cpu_kernels() is the best
 * level this CPU supports, lowered by the environment variable
 * VLLMC_KERNELS=portable|avx2|avx512:
 *   portable  plain C dots over float activations (vc_cpu_dot_rows_portable)
 *   avx2      AVX2 float dots (dot.c; -march builds) and, for Q8_0, Q4_0,
 *             Q4_1, Q5_0, Q5_1, Q4_K, Q6_K weights, 8-bit activations with
 *             AVX2 integer dots
 *   avx512    the same with AVX-512 VNNI integer dots (bitwise equal to avx2)
 *   amx       avx512, plus AMX tile products over tiles of 16 output
 *             rows x up to 16 activation rows: bitwise equal again */
typedef enum { VC_KERNELS_PORTABLE = 0, VC_KERNELS_AVX2 = 1, VC_KERNELS_AVX512 = 2, VC_KERNELS_AMX = 3 } vc_kernels;
vc_kernels vc_cpu_kernels(void);
const char *vc_cpu_kernels_name(vc_kernels k);

/* 8-bit activations (src/backend/cpu/qdot.c). A quantized row of n values
 * (n % 32 == 0) takes vc_cpu_qrow_bytes(n) bytes (a multiple of 64): per
 * 32-value block b an int8 q per value, a scale d[b] (value = q * d[b]) and
 * s[b] = d[b] * sum of the block's q; the bytes are interleaved by groups of
 * 8 blocks (layout in qdot.c), read them through the accessors. */
size_t vc_cpu_qrow_bytes(int64_t n);
/* the plain int8 copy of a row (AMX, few-row kernels): the n values in
 * order, padded to 64 bytes, then, when n / 32 is not a multiple of 8, the
 * blocks once more interleaved as the few-row kernels' packed rows read
 * them (qdot.c); a 64-byte multiple */
size_t vc_cpu_qnat_bytes(int64_t n);
void vc_cpu_quantize_row_q8(const float *x, int64_t n, void *dst);
/* the same, and (nat not NULL) the plain copy into nat[vc_cpu_qnat_bytes(n)] */
void vc_cpu_quantize_row_q8_nat(const float *x, int64_t n, void *dst, int8_t *nat);
/* How vc_cpu_quantize_row_q8_rule rounds a row (q = round(x / d), d = max|x| / 127):
 *   VC_Q8_RULE_F32  one scale per 32 values, d and s = d * sum q as f32 (the above)
 *   VC_Q8_RULE_F16  the same q, then d and s rounded to f16, as llama.cpp
 *                   stores its Q8_0 / Q8_1 activation blocks (s from the f32 d)
 *   VC_Q8_RULE_K    one f32 scale per 256 values (n % 256 == 0), llama.cpp's
 *                   Q8_K for K-quant weights: every 32-value block of a
 *                   super-block gets its d, and s = the block's integer sum
 *                   of q (as a float, exact), as Q8_K's bsums */
typedef enum { VC_Q8_RULE_F32 = 0, VC_Q8_RULE_F16, VC_Q8_RULE_K } vc_q8_rule;
void vc_cpu_quantize_row_q8_rule(const float *x, int64_t n, vc_q8_rule rule, void *dst, int8_t *nat);
/* the same with the kernel level given (the above asks vc_cpu_kernels):
 * from avx512 up F32 / F16 rows are quantized on 512-bit vectors, the same
 * bytes for finite x */
void vc_cpu_quantize_row_q8_level(vc_kernels k, const float *x, int64_t n, vc_q8_rule rule, void *dst, int8_t *nat);
/* dst = the values q * d of x rounded by rule, as floats (dst may be x):
 * 8-bit activations for weights without integer kernels, dotted in float
 * (an offset m then meets the sum of these values, not an f16 s) */
void vc_cpu_round_row_q8(const float *x, int64_t n, vc_q8_rule rule, float *dst);
/* x as two quantized rows whose values add up to it (16-bit class): hi as
 * vc_cpu_quantize_row_q8_nat(x), lo the same of the residual x - hi (each
 * step one IEEE rounding, so every build gives the same bytes); per value
 * |x - hi - lo| <= max|x of its block| / (2 * 127 * 254). nat_* may be NULL. */
void vc_cpu_quantize_row_q8_pair(const float *x, int64_t n, void *hi, int8_t *nat_hi, void *lo, int8_t *nat_lo);
int8_t vc_cpu_qrow_q(const void *row, int64_t n, int64_t k);  /* value k's q */
float vc_cpu_qrow_d(const void *row, int64_t n, int64_t b);   /* block b's d */
float vc_cpu_qrow_s(const void *row, int64_t n, int64_t b);   /* block b's s */
/* 1 if weights of type t, rows of n values, are dotted with 8-bit
 * activations at level k (n <= 32 * VC_QDOT_MAX_BLOCKS) */
#define VC_QDOT_MAX_BLOCKS 1024
int vc_cpu_qdot_supported(vc_kernels k, vc_dtype t, int64_t n);
/* out[j * out_stride] = dot(dequant(w_row), dequant(qx + j * qx_stride)) for
 * j < nr (any nr >= 1; the weight row's scales are decoded once, rows go by
 * 8 at a time); k must be avx2 or avx512 and vc_cpu_qdot_supported(k, t, n);
 * rule: how the rows were quantized (VC_Q8_RULE_K only against 256-value
 * block types: Q4_K / Q6_K then sum each super-block's scaled block dots in
 * integers, one float step per super-block, as llama.cpp).
 * Bitwise the same for both levels and whatever nr or the row's place. */
void vc_cpu_qdot_rows(vc_kernels k, vc_dtype t, const void *w_row, const void *qx, size_t qx_stride,
                      vc_q8_rule rule, int nr, int64_t n, float *out, size_t out_stride);
/* The same for nr <= VC_QDOT_FEW_ROWS rows given also as plain int8 (nat,
 * nat_stride apart; vc_cpu_quantize_row_q8_nat's copy), against `rows`
 * weight rows one after the other from w_rows: out[j * out_stride + c] for
 * weight row c. Kernels for decode that take the weight bytes in the
 * activations' layout by gathers or permutes instead of transposing them
 * (qdot_few.h; Q4_0, Q4_1, Q8_0, Q4_K, Q6_K; VC_Q8_RULE_K rows against
 * Q4_K / Q6_K too), bitwise vc_cpu_qdot_rows. Returns 0, having done
 * nothing, where there is none (level below avx512, the type).
 * vc_cpu_qdot_few_pack: how many
 * rows the kernel takes at once for rows of n values of type t (Q4_0 / Q4_1 /
 * Q8_0 rows whose n / 32 blocks are no whole number of groups of 8: rows
 * that together are; 1 otherwise); calls with a multiple of it go fastest. */
#define VC_QDOT_FEW_ROWS 2
int vc_cpu_qdot_few(vc_kernels k, vc_dtype t, const void *w_rows, int rows, const int8_t *nat, size_t nat_stride,
                    const void *qx, size_t qx_stride, vc_q8_rule rule, int nr, int64_t n, float *out,
                    size_t out_stride);
int vc_cpu_qdot_few_pack(vc_dtype t, int64_t n);

/* AMX (src/backend/cpu/qdot.c). vc_cpu_amx_enable asks the OS for the tile
 * state (once per process is enough; 0 when granted). vc_cpu_amx_rows16:
 * y[r * y_stride + c] = vc_cpu_qdot_rows of weight row c (c < 16, rows
 * row_bytes apart from w) with quantized row r (r < nr, any nr >= 1; tiles
 * of 16 rows, the last one partial), given the rows both as quantized (qx)
 * and as plain int8 (qnat, vc_cpu_qrow_natural); meanwhile pf_bytes at pf
 * (NULL: none; matmul passes the weight rows it takes next) are prefetched
 * into L2, a few lines per tile product. vc_cpu_amx_min_rows: the fewest
 * rows for which matmul takes this path on weights of type t. */
#define VC_AMX_MAX_BLOCKS 128
int vc_cpu_amx_enable(void);
int vc_cpu_amx_supported(vc_dtype t, int64_t n);
int vc_cpu_amx_min_rows(vc_dtype t);
void vc_cpu_qrow_natural(const void *row, int64_t n, int8_t *dst);
void vc_cpu_amx_rows16(vc_dtype t, const uint8_t *w, size_t row_bytes, const int8_t *qnat, size_t nat_stride,
                       const uint8_t *qx, size_t qx_stride, vc_q8_rule rule, int nr, int64_t n, float *y,
                       size_t y_stride, const uint8_t *pf, size_t pf_bytes);

/* y[r][o] = sum_i W[o][i] * x[r][i]   for r < n_rows, o < W->ne[1]
 *   W: [out = ne[1]][in = ne[0]] in its stored type
 *   x: [n_rows][in] floats, y: [n_rows][out] floats (no aliasing)
 * Parallel over output rows. */
void vc_cpu_matmul(const vc_tensor *w, const float *x, int n_rows, float *y, vc_pool *pool);
/* How a matmul's activation rows enter the integer kernels (types with
 * them, at the avx2 / avx512 / amx levels; portable and other types always
 * take float activations):
 *   VC_ACT_AUTO   one 8-bit row each; Q8_0, Q5_0, Q5_1 matrices as value +
 *                 residual pairs
 *   VC_ACT_Q8     llama.cpp's numerics: one 8-bit row each, rounded as
 *                 VC_Q8_RULE_F16 (Q8_0 / Q8_1), VC_Q8_RULE_K against K-quant weights; block types
 *                 without integer kernels (Q2_K, Q3_K, Q5_K, any type at
 *                 portable) get the rounded values as floats
 *   VC_ACT_PAIRS  value + residual pairs (vc_cpu_matmul_precise)
 *   VC_ACT_FLOAT  float activations (vc_cpu_matmul_float_act) */
typedef enum { VC_ACT_AUTO = 0, VC_ACT_Q8, VC_ACT_PAIRS, VC_ACT_FLOAT } vc_act;
/* y[i] = x W[i]^T for n_mats <= 4 matrices with the same input width, in one
 * parallel region (q/k/v, gate/up), the activations as act says; each y[i]
 * bitwise as the one-matrix call */
void vc_cpu_matmul_act(int n_mats, const vc_tensor *const *w, const float *x, int n_rows, float *const *y,
                       vc_pool *pool, vc_act act);
/* vc_cpu_matmul with each activation row as a pair of 8-bit rows, value and
 * residual (vc_cpu_quantize_row_q8_pair), both through the integer kernels
 * and the outputs added: twice the integer work, per-value error <= block
 * max / 64516. Q8_0, Q5_0, Q5_1 matrices go this way in vc_cpu_matmul too.
 * Types without integer kernels, and portable, use float activations. */
void vc_cpu_matmul_precise(const vc_tensor *w, const float *x, int n_rows, float *y, vc_pool *pool);
/* vc_cpu_matmul with float activations at every kernel level (the float dots
 * of dot.c, or portable): for inputs whose outliers 8-bit blocks would crush
 * (the SwiGLU product entering the down projection) */
void vc_cpu_matmul_float_act(const vc_tensor *w, const float *x, int n_rows, float *y, vc_pool *pool);

/* y[r][o] += b[o] */
void vc_cpu_add_bias(float *y, const float *b, int n_rows, int n);
/* out[r] = x[r] / sqrt(mean(x[r]^2) + eps) * w, rows of n; out may be x */
void vc_cpu_rmsnorm(float *out, const float *x, const float *w, int n_rows, int n, float eps);
/* x[i] += y[i] */
void vc_cpu_add(float *x, const float *y, size_t n);
/* gate[i] = silu(gate[i]) * up[i] */
void vc_cpu_silu_mul(float *gate, const float *up, size_t n);

/* Rotary embedding in place on x[n_rows][n_heads][head_dim] (row stride
 * n_heads * head_dim). Rotation pair i (i < head_dim/2) turns by the angle
 * positions[r] * inv_freq[i]; the pair is (x[2i], x[2i+1]) when !neox
 * (interleaved, GGUF llama) or (x[i], x[i + head_dim/2]) when neox. */
void vc_cpu_rope(float *x, int n_rows, int n_heads, int head_dim, const int32_t *positions,
                 const float *inv_freq, bool neox);

/* Writes k[t], v[t] ([n_kv_heads * head_dim] floats each) of every token t
 * into the pool at slot_mapping[t] for one layer, converting to kv->dtype. */
void vc_cpu_kv_store(vc_kv_cache *kv, int layer, const float *k, const float *v,
                     const int32_t *slot_mapping, int n_tokens);

/* Paged causal attention for one layer.
 *   q:   [n_tokens][n_heads][head_dim]  (rope applied)
 *   out: [n_tokens][n_heads][head_dim]
 * Token t belongs to sequence seq_of_token[t], sits at positions[t] and
 * attends to the positions j of its sequence with
 *   j <= positions[t]  and  (sliding_window <= 0 or positions[t] - j < sliding_window),
 * reading K/V of position j from slot
 *   block_tables[s * max_blocks + j / block_size] * block_size + j % block_size.
 * GQA: query head h reads kv head h / (n_heads / n_kv_heads).
 * The caller has validated the block tables for every position read. */
void vc_cpu_paged_attention(float *out, const float *q, const vc_kv_cache *kv, int layer,
                            int n_tokens, int n_heads, const int32_t *positions,
                            const int32_t *seq_of_token, const int32_t *block_tables,
                            int max_blocks, int sliding_window, float scale, vc_pool *pool);

#endif
