/* The physical KV pool: n_blocks blocks of block_size slots, a K and a V
 * array laid out [n_blocks][n_layers][n_kv_heads][block_size][head_dim] in
 * the KV dtype (F32, F16 or BF16): a block's rows of one layer and kv head
 * are contiguous, so attention (one task per kv head) streams them, and a
 * block's layers are together, so a sequence's first tokens touch (and the
 * kernel zeroes) a few huge pages, not two per layer (layer-major, a
 * SmolLM2 decode of 256 tokens spent 6% in the kernel zeroing pages on
 * first touch). Which sequence owns which block is the engine's business
 * (block_manager); the pool only stores. */
#ifndef VLLMC_KV_CACHE_H
#define VLLMC_KV_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "model/config.h"
#include "model/quant.h"
#include "util/error.h"

typedef struct vc_kv_cache {
    vc_dtype dtype;
    int n_layers, n_kv_heads, head_dim;
    int block_size;
    int n_blocks;
    size_t slot_bytes;      /* n_kv_heads * head_dim * sizeof(dtype) */
    size_t row_bytes;       /* head_dim * sizeof(dtype) */
    uint8_t *k;             /* [n_blocks][n_layers][n_kv_heads][block_size][head_dim] */
    uint8_t *v;
    size_t mapped;          /* bytes mapped for each of k and v */
} vc_kv_cache;

/* bytes of one block across all layers, K and V */
size_t vc_kv_block_bytes(const vc_config *cfg, vc_dtype dtype, int block_size);
/* n_blocks = mem_bytes / vc_kv_block_bytes(...) */
int vc_kv_cache_create(vc_kv_cache **out, const vc_config *cfg, vc_dtype dtype,
                       int block_size, int n_blocks, vc_error *err);
void vc_kv_cache_free(vc_kv_cache *kv);

/* the K (V) row of kv head `head` at slot `slot` (block slot / block_size) */
static inline size_t vc_kv_row_offset(const vc_kv_cache *kv, int layer, int64_t slot, int head) {
    const size_t block = (size_t)(slot / kv->block_size) * kv->n_layers + (size_t)layer;
    return ((block * kv->n_kv_heads + (size_t)head) * kv->block_size + (size_t)(slot % kv->block_size)) *
           kv->row_bytes;
}
static inline uint8_t *vc_kv_k_row(const vc_kv_cache *kv, int layer, int64_t slot, int head) {
    return kv->k + vc_kv_row_offset(kv, layer, slot, head);
}
static inline uint8_t *vc_kv_v_row(const vc_kv_cache *kv, int layer, int64_t slot, int head) {
    return kv->v + vc_kv_row_offset(kv, layer, slot, head);
}

#endif
