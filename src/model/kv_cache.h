/* The physical KV pool: one allocation, n_blocks blocks of block_size slots,
 * per layer a K and a V array laid out [n_blocks][block_size][n_kv_heads][head_dim]
 * in the KV dtype (F32, F16 or BF16). Which sequence owns which block is the
 * engine's business (block_manager); the pool only stores. */
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
    uint8_t *k;             /* [n_layers][n_blocks][block_size][n_kv_heads][head_dim] */
    uint8_t *v;
} vc_kv_cache;

/* bytes of one block across all layers, K and V */
size_t vc_kv_block_bytes(const vc_config *cfg, vc_dtype dtype, int block_size);
/* n_blocks = mem_bytes / vc_kv_block_bytes(...) */
int vc_kv_cache_create(vc_kv_cache **out, const vc_config *cfg, vc_dtype dtype,
                       int block_size, int n_blocks, vc_error *err);
void vc_kv_cache_free(vc_kv_cache *kv);

static inline uint8_t *vc_kv_k_slot(const vc_kv_cache *kv, int layer, int64_t slot) {
    return kv->k + ((size_t)layer * kv->n_blocks * kv->block_size + (size_t)slot) * kv->slot_bytes;
}
static inline uint8_t *vc_kv_v_slot(const vc_kv_cache *kv, int layer, int64_t slot) {
    return kv->v + ((size_t)layer * kv->n_blocks * kv->block_size + (size_t)slot) * kv->slot_bytes;
}

#endif
