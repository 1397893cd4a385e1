/* Kernel micro-benchmark: y = x W^T for one random matrix, best of several
 * runs, in GMAC/s and weight GB/s (VLLMC_KERNELS picks the kernel variant).
 *
 *   matmul_bench TYPE OUT IN ROWS THREADS [REPS [MODE]]     e.g. matmul_bench q4_1 1536 576 64 2
 * MODE: 8bit (vc_cpu_matmul, the default), pairs (vc_cpu_matmul_precise),
 * float (vc_cpu_matmul_float_act), act8 (llama.cpp's numerics, VC_ACT_Q8)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <time.h>

#include "backend/backend.h"
#include "model/quant.h"

static double clock_s(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void matmul_act8(const vc_tensor *w, const float *x, int n_rows, float *y, vc_pool *pool) {
    vc_cpu_matmul_act(1, &w, x, n_rows, &y, pool, VC_ACT_Q8);
}

int main(int argc, char **argv) {
    if (argc < 6) { fprintf(stderr, "usage: matmul_bench TYPE OUT IN ROWS THREADS [REPS]\n"); return 2; }
    vc_dtype t = VC_F32;
    int found = 0;
    for (int i = 0; i < 64 && !found; i++)
        if (!strcasecmp(vc_dtype_name((vc_dtype)i), argv[1])) { t = (vc_dtype)i; found = 1; }
    if (!found) { fprintf(stderr, "matmul_bench: unknown type %s\n", argv[1]); return 2; }
    const int n_out = atoi(argv[2]), n_in = atoi(argv[3]), rows = atoi(argv[4]), threads = atoi(argv[5]);
    const int reps = argc > 6 ? atoi(argv[6]) : 20;
    const char *mode = argc > 7 ? argv[7] : "8bit";
    void (*mm)(const vc_tensor *, const float *, int, float *, vc_pool *) =
        !strcmp(mode, "pairs")   ? vc_cpu_matmul_precise
        : !strcmp(mode, "float") ? vc_cpu_matmul_float_act
        : !strcmp(mode, "act8")  ? matmul_act8
                                 : vc_cpu_matmul;
    const size_t rb = vc_row_bytes(t, n_in);
    /* the weights on 2 MB pages, as the engine's resident copy (src/model/resident.h) */
    const size_t wbytes = (rb * n_out + ((size_t)2 << 20) - 1) & ~(((size_t)2 << 20) - 1);
    uint8_t *w = aligned_alloc((size_t)2 << 20, wbytes);
    if (w) (void)madvise(w, wbytes, MADV_HUGEPAGE);
    float *wf = malloc(sizeof(float) * n_in), *x = malloc(sizeof(float) * n_in * rows);
    float *y = malloc(sizeof(float) * n_out * rows);
    unsigned s = 1;
    for (int o = 0; o < n_out; o++) {
        for (int i = 0; i < n_in; i++) { s = s * 1664525u + 1013904223u; wf[i] = (float)(s >> 8) / 16777216.0f - 0.5f; }
        if (t == VC_F32) memcpy(w + o * rb, wf, rb);
        else if (vc_quantize_row(t, wf, w + o * rb, n_in)) { fprintf(stderr, "matmul_bench: cannot quantize to %s\n", argv[1]); return 1; }
    }
    for (int i = 0; i < n_in * rows; i++) { s = s * 1664525u + 1013904223u; x[i] = (float)(s >> 8) / 16777216.0f - 0.5f; }
    vc_tensor wt = { .name = "w", .type = t, .n_dims = 2, .ne = { n_in, n_out, 1, 1 }, .data = w, .nbytes = rb * n_out };
    vc_pool *pool = NULL;
    vc_error err;
    if (vc_pool_create(&pool, threads, &err) || vc_pool_reserve(pool, 2 * (size_t)rows * (vc_cpu_qrow_bytes(n_in) + vc_cpu_qnat_bytes(n_in)), &err)) {
        fprintf(stderr, "matmul_bench: %s\n", err.msg);
        return 1;
    }
    /* best wall time, and best process CPU time per thread (on a shared
     * machine the latter is what the kernel itself costs) */
    double best = 1e30, best_cpu = 1e30;
    for (int r = 0; r < reps; r++) {
        const double t0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
        mm(&wt, x, rows, y, pool);
        const double dt = clock_s(CLOCK_MONOTONIC) - t0, dc = (clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0) / threads;
        if (dt < best) best = dt;
        if (dc < best_cpu) best_cpu = dc;
    }
    printf("{\"type\": \"%s\", \"mode\": \"%s\", \"kernels\": \"%s\", \"out\": %d, \"in\": %d, \"rows\": %d, \"threads\": %d, "
           "\"us\": %.1f, \"gmacs\": %.2f, \"weight_gbs\": %.2f, \"cpu_gmacs\": %.2f}\n",
           vc_dtype_name(t), mode, vc_cpu_kernels_name(vc_cpu_kernels()), n_out, n_in, rows, threads, best * 1e6,
           (double)n_out * n_in * rows / best * 1e-9, (double)rb * n_out / best * 1e-9,
           (double)n_out * n_in * rows / best_cpu * 1e-9);
    vc_pool_free(pool);
    free(w); free(wf); free(x); free(y);
    return 0;
}
