/* Memory bandwidth of this machine, for the roofline in bench/REPORT.md.
 * Streams buffers much larger than the caches; reports GB/s of
 *   read:  sum of a 1 GiB array (what a decode step does to the weights)
 *   copy:  memcpy of 512 MiB (counted as read + write bytes)
 * with n_threads OpenMP threads, best of several runs, once on 4 KB pages and
 * once on 2 MB pages (madvise(MADV_HUGEPAGE), as the engine's resident weights:
 * src/model/resident.h). read_gbs / copy_gbs are the better of the two, the
 * machine's bandwidth as far as this program can reach it.
 *   usage: membw [n_threads] */
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* bytes of fresh anonymous memory, 2 MB-aligned, with huge pages asked for or not */
static void *map_bytes(size_t bytes, int huge) {
    const size_t H = (size_t)2 << 20;
    uint8_t *p = mmap(NULL, bytes + H, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
    uint8_t *a = (uint8_t *)(((uintptr_t)p + H - 1) / H * H);
#ifdef MADV_HUGEPAGE
    if (huge) (void)madvise(a, bytes, MADV_HUGEPAGE);
#else
    (void)huge;
#endif
    return a;
}

/* best read and copy GB/s over 5 runs on fresh buffers of one page kind */
static int measure(int huge, double *best_read, double *best_copy, uint64_t *sink) {
    const size_t n = (size_t)1 << 27; /* 128 Mi uint64 = 1 GiB */
    uint64_t *a = map_bytes(n * sizeof *a, huge), *b = map_bytes(n / 2 * sizeof *b, huge);
    if (!a || !b) return -1;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) a[i] = i;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n / 2; i++) b[i] = 0;
    *best_read = *best_copy = 0;
    for (int rep = 0; rep < 5; rep++) {
        double t0 = now_s();
        uint64_t s = 0;
#pragma omp parallel for schedule(static) reduction(+ : s)
        for (size_t i = 0; i < n; i++) s += a[i];
        double dt = now_s() - t0;
        *sink += s;
        double gbs = n * sizeof *a / dt / 1e9;
        if (gbs > *best_read) *best_read = gbs;

        t0 = now_s();
#pragma omp parallel
        {
            int t = omp_get_thread_num(), nt = omp_get_num_threads();
            size_t per = (n / 2 + nt - 1) / nt, lo = t * per, hi = lo + per > n / 2 ? n / 2 : lo + per;
            if (lo < hi) memcpy(b + lo, a + lo, (hi - lo) * sizeof *a);
        }
        dt = now_s() - t0;
        gbs = 2.0 * (n / 2) * sizeof *a / dt / 1e9;
        if (gbs > *best_copy) *best_copy = gbs;
    }
    /* the mappings are left to the process's exit (two, of 1.5 GiB each) */
    return 0;
}

int main(int argc, char **argv) {
    int n_threads = argc > 1 ? atoi(argv[1]) : omp_get_num_procs();
    if (n_threads < 1) n_threads = 1;
    omp_set_num_threads(n_threads);
    double r4 = 0, c4 = 0, rh = 0, ch = 0;
    uint64_t sink = 0;
    if (measure(0, &r4, &c4, &sink) || measure(1, &rh, &ch, &sink)) {
        fprintf(stderr, "membw: out of memory\n");
        return 1;
    }
    printf("{\"threads\": %d, \"read_gbs\": %.2f, \"copy_gbs\": %.2f, \"read_4k_gbs\": %.2f, \"copy_4k_gbs\": %.2f, "
           "\"read_2m_gbs\": %.2f, \"copy_2m_gbs\": %.2f, \"sink\": %llu}\n",
           n_threads, r4 > rh ? r4 : rh, c4 > ch ? c4 : ch, r4, c4, rh, ch, (unsigned long long)(sink & 1));
    return 0;
}
