/* The KV pool: two zeroed allocations (K and V), each
 * [n_blocks][n_layers][n_kv_heads][block_size][head_dim] in the KV dtype,
 * mapped anonymously and advised into transparent huge pages: attention
 * reads a sequence's blocks scattered over the pool, 2 KB runs per kv head
 * at 4 KB pages took a TLB miss each. */
#include "model/kv_cache.h"

#include <stdlib.h>
#include <sys/mman.h>

enum { HUGE_PAGE = 2 << 20 };

/* n zeroed bytes (whole huge pages), or NULL */
static uint8_t *pool_alloc(size_t n, size_t *mapped) {
    *mapped = (n + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
    void *p = mmap(NULL, *mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
#ifdef MADV_HUGEPAGE
    (void)madvise(p, *mapped, MADV_HUGEPAGE); /* advice: without it, 4 KB pages */
#endif
    return p;
}

static size_t kv_elem_bytes(vc_dtype dtype) {
    switch (dtype) {
    case VC_F32: return 4;
    case VC_F16: case VC_BF16: return 2;
    default: return 0;
    }
}

size_t vc_kv_block_bytes(const vc_config *cfg, vc_dtype dtype, int block_size) {
    return 2 * (size_t)cfg->n_layers * (size_t)block_size * (size_t)cfg->n_kv_heads *
           (size_t)cfg->head_dim * kv_elem_bytes(dtype);
}

int vc_kv_cache_create(vc_kv_cache **out, const vc_config *cfg, vc_dtype dtype,
                       int block_size, int n_blocks, vc_error *err) {
    *out = NULL;
    const size_t elem = kv_elem_bytes(dtype);
    if (elem == 0)
        return vc_errorf(err, "kv cache: dtype %s not supported (expected F32, F16 or BF16)",
                         vc_dtype_name(dtype));
    if (block_size <= 0 || n_blocks <= 0)
        return vc_errorf(err, "kv cache: block_size %d and n_blocks %d must be positive",
                         block_size, n_blocks);
    if (cfg->n_layers <= 0 || cfg->n_kv_heads <= 0 || cfg->head_dim <= 0)
        return vc_errorf(err, "kv cache: bad config (n_layers %d, n_kv_heads %d, head_dim %d)",
                         cfg->n_layers, cfg->n_kv_heads, cfg->head_dim);
    const size_t slot_bytes = (size_t)cfg->n_kv_heads * cfg->head_dim * elem;
    const size_t slots = (size_t)cfg->n_layers * (size_t)n_blocks * (size_t)block_size;
    if (slots / (size_t)n_blocks / (size_t)block_size != (size_t)cfg->n_layers ||
        slots > SIZE_MAX / 2 / slot_bytes)
        return vc_errorf(err, "kv cache: %d blocks of %d slots overflow the address space",
                         n_blocks, block_size);
    vc_kv_cache *kv = calloc(1, sizeof *kv);
    if (!kv) return vc_errorf(err, "kv cache: out of memory");
    kv->dtype = dtype;
    kv->n_layers = cfg->n_layers;
    kv->n_kv_heads = cfg->n_kv_heads;
    kv->head_dim = cfg->head_dim;
    kv->block_size = block_size;
    kv->n_blocks = n_blocks;
    kv->slot_bytes = slot_bytes;
    kv->row_bytes = (size_t)cfg->head_dim * elem;
    kv->k = pool_alloc(slots * slot_bytes, &kv->mapped);
    kv->v = pool_alloc(slots * slot_bytes, &kv->mapped);
    if (!kv->k || !kv->v) {
        vc_kv_cache_free(kv);
        return vc_errorf(err, "kv cache: out of memory for %zu MB",
                         2 * slots * slot_bytes / (1024 * 1024));
    }
    *out = kv;
    return 0;
}

void vc_kv_cache_free(vc_kv_cache *kv) {
    if (!kv) return;
    if (kv->k) munmap(kv->k, kv->mapped);
    if (kv->v) munmap(kv->v, kv->mapped);
    free(kv);
}
