/* Resident weights (see resident.h). */
#include "model/resident.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

enum { HUGE_PAGE = 2 << 20, ALIGN = 64 };

/* the loading bar on stderr, redrawn when the percentage moves */
static void progress(size_t done, size_t total, int *last_pct) {
    const int pct = total ? (int)(100.0 * done / total) : 100;
    if (pct == *last_pct) return;
    const int bar = pct * 30 / 100;
    fprintf(stderr, "\rloading [%.*s%*s] %3d%% %.2f / %.2f GB", bar, "##############################", 30 - bar, "",
            pct, done / 1e9, total / 1e9);
    *last_pct = pct;
}

int vc_model_make_resident(vc_model *m, bool show, vc_error *err) {
    if (m->resident) return 0;
    const int cap = vc_model_n_views(m);
    vc_tensor **v = malloc((size_t)cap * sizeof *v);
    const vc_tensor **first = malloc((size_t)cap * sizeof *first); /* the first view of each distinct source */
    size_t *off = malloc((size_t)cap * sizeof *off);
    int *src_of = malloc((size_t)cap * sizeof *src_of); /* view i's source */
    if (!v || !first || !off || !src_of) {
        free(v), free(first), free(off), free(src_of);
        return vc_errorf(err, "model '%s': resident weights: out of memory", m->path);
    }
    const int n = vc_model_views(m, v);
    /* layout: distinct sources in order, each at a multiple of ALIGN */
    int n_src = 0;
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        if (!v[i]->data) continue;
        int s = 0;
        while (s < n_src && first[s]->data != v[i]->data) s++;
        src_of[i] = s;
        if (s < n_src) continue;
        first[n_src] = v[i];
        off[n_src++] = total;
        total += (v[i]->nbytes + ALIGN - 1) / ALIGN * ALIGN;
    }
    const size_t mapped = (total + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE + HUGE_PAGE;
    void *map = mmap(NULL, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED) {
        free(v), free(first), free(off), free(src_of);
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
        memcpy(base + off[s], first[s]->data, first[s]->nbytes);
        done += first[s]->nbytes;
        if (show) progress(done, total, &last_pct);
    }
    if (show) fputc('\n', stderr);
    for (int i = 0; i < n; i++)
        if (v[i]->data) v[i]->data = base + off[src_of[i]];
    free(m->owned);   /* an in-situ quantized buffer: copied above */
    m->owned = NULL;
    m->resident = map;
    m->resident_bytes = mapped;
    free(v), free(first), free(off), free(src_of);
    return 0;
}

void vc_model_prefault(vc_model *m, bool show) {
    vc_tensor **v = malloc((size_t)vc_model_n_views(m) * sizeof *v);
    if (!v) return; /* only an early touch */
    const int n = vc_model_views(m, v);
    size_t total = 0, done = 0;
    for (int i = 0; i < n; i++) total += v[i]->data ? v[i]->nbytes : 0;
    volatile uint8_t sink = 0;
    int last_pct = -1;
    for (int i = 0; i < n; i++) {
        if (!v[i]->data) continue;
        const uint8_t *p = v[i]->data;
        for (size_t o = 0; o < v[i]->nbytes; o += 4096) sink ^= p[o];
        done += v[i]->nbytes;
        if (show) progress(done, total, &last_pct);
    }
    if (show) fputc('\n', stderr);
    (void)sink;
    free(v);
}
