/* Resident weights (see resident.h). */
#include "model/resident.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

enum { HUGE_PAGE = 2 << 20, ALIGN = 64 };

int vc_model_make_resident(vc_model *m, bool show, vc_error *err) {
    if (m->resident) return 0;
    const int cap = vc_model_n_views(m);
    vc_tensor **v = malloc((size_t)cap * sizeof *v);
    const void **src = malloc((size_t)cap * sizeof *src);  /* first view of each distinct source */
    size_t *off = malloc((size_t)cap * sizeof *off);
    if (!v || !src || !off) {
        free(v), free(src), free(off);
        return vc_errorf(err, "model '%s': resident weights: out of memory", m->path);
    }
    const int n = vc_model_views(m, v);
    /* layout: distinct sources in order, each at a multiple of ALIGN */
    int n_src = 0;
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        if (!v[i]->data) continue;
        int s = 0;
        while (s < n_src && src[s] != v[i]->data) s++;
        if (s < n_src) continue;
        src[n_src] = v[i]->data;
        off[n_src++] = total;
        total += (v[i]->nbytes + ALIGN - 1) / ALIGN * ALIGN;
    }
    const size_t mapped = (total + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE + HUGE_PAGE;
    void *map = mmap(NULL, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED) {
        free(v), free(src), free(off);
        return vc_errorf(err, "model '%s': resident weights: mmap of %zu bytes failed: %s", m->path, mapped,
                         strerror(errno));
    }
    /* the copy starts on a 2 MB boundary, so that every page of it can be huge */
    uint8_t *base = (uint8_t *)(((uintptr_t)map + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE);
#ifdef MADV_HUGEPAGE
    (void)madvise(base, mapped - (size_t)(base - (uint8_t *)map), MADV_HUGEPAGE); /* advice only */
#endif
    size_t done = 0;
    int last_pct = -1;
    for (int s = 0; s < n_src; s++) {
        const vc_tensor *t = NULL;
        for (int i = 0; i < n && !t; i++)
            if (v[i]->data == src[s]) t = v[i];
        memcpy(base + off[s], t->data, t->nbytes);
        done += t->nbytes;
        const int pct = total ? (int)(100.0 * done / total) : 100;
        if (show && pct != last_pct) {
            const int bar = pct * 30 / 100;
            fprintf(stderr, "\rloading [%.*s%*s] %3d%% %.2f / %.2f GB", bar, "##############################",
                    30 - bar, "", pct, done / 1e9, total / 1e9);
            last_pct = pct;
        }
    }
    if (show) fputc('\n', stderr);
    for (int i = 0; i < n; i++) {
        if (!v[i]->data) continue;
        int s = 0;
        while (src[s] != v[i]->data) s++;
        v[i]->data = base + off[s];
    }
    free(m->owned);   /* an in-situ quantized buffer: copied above */
    m->owned = NULL;
    m->resident = map;
    m->resident_bytes = mapped;
    free(v), free(src), free(off);
    return 0;
}
