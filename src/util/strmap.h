/* A fixed-capacity string -> int64 hash map (open addressing, XXH3) for
 * name lookups in the file readers: GGUF keys and tensor names. It does not
 * own the strings (they live in a mapping or an arena that outlives it) and
 * strings need not be NUL-terminated. Capacity is fixed at init from the
 * number of entries the caller will put; put beyond that fails. */
#ifndef VLLMC_STRMAP_H
#define VLLMC_STRMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct vc_strmap_entry {
    const char *s;      /* NULL = empty slot */
    size_t len;
    int64_t value;
} vc_strmap_entry;

typedef struct vc_strmap {
    vc_strmap_entry *slots;
    uint64_t mask;      /* capacity - 1 (a power of 2, >= 2 * max_entries) */
    int64_t count, max_entries;
} vc_strmap;

/* 0, or -1 if out of memory */
int vc_strmap_init(vc_strmap *m, int64_t max_entries);
void vc_strmap_free(vc_strmap *m);
/* the value stored for s, or -1 if absent */
int64_t vc_strmap_get(const vc_strmap *m, const char *s, size_t len);
/* Inserts s -> value. Returns 0; 1 if s is already present (*existing, if
 * non-NULL, gets its value and nothing changes); -1 if the map is full. */
int vc_strmap_put(vc_strmap *m, const char *s, size_t len, int64_t value, int64_t *existing);

#endif
