#include "util/strmap.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

int vc_strmap_init(vc_strmap *m, int64_t max_entries) {
    memset(m, 0, sizeof *m);
    if (max_entries < 0) return -1;
    uint64_t cap = 16;
    while (cap < (uint64_t)max_entries * 2) cap <<= 1;
    m->slots = calloc(cap, sizeof *m->slots);
    if (!m->slots) return -1;
    m->mask = cap - 1;
    m->max_entries = max_entries;
    return 0;
}

void vc_strmap_free(vc_strmap *m) {
    free(m->slots);
    memset(m, 0, sizeof *m);
}

/* the slot holding s, or the empty slot where it would go (load <= 1/2, so
 * there always is one) */
static vc_strmap_entry *find_slot(const vc_strmap *m, const char *s, size_t len) {
    uint64_t h = XXH3_64bits(s, len) & m->mask;
    for (;;) {
        vc_strmap_entry *e = &m->slots[h];
        if (!e->s || (e->len == len && memcmp(e->s, s, len) == 0)) return e;
        h = (h + 1) & m->mask;
    }
}

int64_t vc_strmap_get(const vc_strmap *m, const char *s, size_t len) {
    if (!m->slots) return -1;
    const vc_strmap_entry *e = find_slot(m, s, len);
    return e->s ? e->value : -1;
}

int vc_strmap_put(vc_strmap *m, const char *s, size_t len, int64_t value, int64_t *existing) {
    if (!m->slots) return -1;
    vc_strmap_entry *e = find_slot(m, s, len);
    if (e->s) {
        if (existing) *existing = e->value;
        return 1;
    }
    if (m->count >= m->max_entries) return -1;
    e->s = s;
    e->len = len;
    e->value = value;
    m->count++;
    return 0;
}
