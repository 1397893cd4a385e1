/* Memory bandwidth of this machine, for the roofline in bench/REPORT.md.
 * Streams a buffer much larger than the caches; reports GB/s of
 *   read:  sum of a 1 GiB array (what a decode step does to the weights)
 *   copy:  memcpy of 512 MiB (counted as read + write bytes)
 * with n_threads OpenMP threads, best of several runs.
 *   usage: membw [n_threads] */
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    int n_threads = argc > 1 ? atoi(argv[1]) : omp_get_num_procs();
    if (n_threads < 1) n_threads = 1;
    omp_set_num_threads(n_threads);
    const size_t n = (size_t)1 << 27; /* 128 Mi uint64 = 1 GiB */
    uint64_t *a = malloc(n * sizeof *a), *b = malloc(n / 2 * sizeof *b);
    if (!a || !b) { fprintf(stderr, "membw: out of memory\n"); return 1; }
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) a[i] = i;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n / 2; i++) b[i] = 0;

    double best_read = 0, best_copy = 0;
    uint64_t sink = 0;
    for (int rep = 0; rep < 5; rep++) {
        double t0 = now_s();
        uint64_t s = 0;
#pragma omp parallel for schedule(static) reduction(+ : s)
        for (size_t i = 0; i < n; i++) s += a[i];
        double dt = now_s() - t0;
        sink += s;
        double gbs = n * sizeof *a / dt / 1e9;
        if (gbs > best_read) best_read = gbs;

        t0 = now_s();
#pragma omp parallel
        {
            int t = omp_get_thread_num(), nt = omp_get_num_threads();
            size_t per = (n / 2 + nt - 1) / nt, lo = t * per, hi = lo + per > n / 2 ? n / 2 : lo + per;
            if (lo < hi) memcpy(b + lo, a + lo, (hi - lo) * sizeof *a);
        }
        dt = now_s() - t0;
        gbs = 2.0 * (n / 2) * sizeof *a / dt / 1e9;
        if (gbs > best_copy) best_copy = gbs;
    }
    printf("{\"threads\": %d, \"read_gbs\": %.2f, \"copy_gbs\": %.2f, \"sink\": %llu}\n", n_threads,
           best_read, best_copy, (unsigned long long)(sink & 1));
    free(a);
    free(b);
    return 0;
}
