/* The kernels' thread pool (see pool.h for why not OpenMP).
 *
 * State: one 64-bit atomic `claim` = (generation << 32) | next task index.
 * The caller publishes a job (fn, arg, n_tasks) and bumps the generation; a
 * thread claims task i by a compare-and-swap from (gen, i) to (gen, i + 1), so
 * a worker holding a stale view of an older job can never claim a task of a
 * newer one. `done` counts finished tasks of the current job; the thread that
 * finishes the last one wakes the caller. */
#include "backend/cpu/pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <unistd.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

enum { SPIN_ITERS = 4000 };   /* ~tens of microseconds before sleeping */

struct vc_pool {
    int n_threads;
    pthread_t *workers;
    int n_started;

    pthread_mutex_t mu;
    pthread_cond_t job_cv;     /* workers: a new generation (or stop) */
    pthread_cond_t done_cv;    /* caller: the last task finished */

    /* the current job; written by the caller before the generation bump */
    void (*fn)(void *arg, int64_t task);
    void *arg;
    int64_t n_tasks;

    _Atomic uint64_t claim;    /* (generation << 32) | next task */
    _Atomic int64_t done;
    _Atomic uint32_t generation;
    _Atomic bool stop;

    void *scratch;             /* vc_pool_reserve */
    size_t scratch_bytes;
};

/* claims and runs tasks of generation gen (job fn, arg, n) until none is left */
static void work(vc_pool *p, uint32_t gen, void (*fn)(void *, int64_t), void *arg, int64_t n) {
    uint64_t cur = atomic_load_explicit(&p->claim, memory_order_acquire);
    for (;;) {
        if ((uint32_t)(cur >> 32) != gen) return;
        const int64_t i = (int64_t)(cur & 0xffffffffu);
        if (i >= n) return;
        if (!atomic_compare_exchange_weak_explicit(&p->claim, &cur, cur + 1, memory_order_acq_rel,
                                                   memory_order_acquire))
            continue;
        fn(arg, i);
        if (atomic_fetch_add_explicit(&p->done, 1, memory_order_acq_rel) + 1 == n) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->done_cv);
            pthread_mutex_unlock(&p->mu);
        }
        cur = atomic_load_explicit(&p->claim, memory_order_acquire);
    }
}

static void *worker_main(void *vp) {
    vc_pool *p = vp;
    uint32_t seen = 0;
    for (;;) {
        uint32_t gen = atomic_load_explicit(&p->generation, memory_order_acquire);
        for (int s = 0; gen == seen && s < SPIN_ITERS && !atomic_load(&p->stop); s++) {
            CPU_RELAX();
            gen = atomic_load_explicit(&p->generation, memory_order_acquire);
        }
        if (gen == seen) {
            pthread_mutex_lock(&p->mu);
            while ((gen = atomic_load(&p->generation)) == seen && !atomic_load(&p->stop))
                pthread_cond_wait(&p->job_cv, &p->mu);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->stop)) return NULL;
        seen = gen;
        /* the job of gen is read under the mutex it was written under; if a
         * newer job replaces it meanwhile, every claim below fails */
        pthread_mutex_lock(&p->mu);
        const bool current = atomic_load(&p->generation) == gen;
        void (*fn)(void *, int64_t) = p->fn;
        void *arg = p->arg;
        const int64_t n = p->n_tasks;
        pthread_mutex_unlock(&p->mu);
        if (current) work(p, gen, fn, arg, n);
    }
}

int vc_pool_create(vc_pool **out, int n_threads, vc_error *err) {
    *out = NULL;
    if (n_threads < 1) return vc_errorf(err, "thread pool: %d threads, expected >= 1", n_threads);
    vc_pool *p = calloc(1, sizeof *p);
    if (!p) return vc_errorf(err, "thread pool: out of memory");
    p->n_threads = n_threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->job_cv, NULL);
    pthread_cond_init(&p->done_cv, NULL);
    atomic_init(&p->claim, 0);
    atomic_init(&p->done, 0);
    atomic_init(&p->generation, 0);
    atomic_init(&p->stop, false);
    if (n_threads > 1) {
        p->workers = calloc((size_t)n_threads - 1, sizeof *p->workers);
        if (!p->workers) {
            vc_pool_free(p);
            return vc_errorf(err, "thread pool: out of memory");
        }
        for (int i = 0; i < n_threads - 1; i++) {
            if (pthread_create(&p->workers[i], NULL, worker_main, p) != 0) {
                vc_pool_free(p);
                return vc_errorf(err, "thread pool: cannot start thread %d of %d", i + 1, n_threads);
            }
            p->n_started++;
        }
    }
    *out = p;
    return 0;
}

void vc_pool_free(vc_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stop, true);
    pthread_cond_broadcast(&p->job_cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n_started; i++) pthread_join(p->workers[i], NULL);
    free(p->workers);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->job_cv);
    pthread_cond_destroy(&p->done_cv);
    free(p->scratch);
    free(p);
}

int vc_pool_threads(const vc_pool *p) { return p ? p->n_threads : 1; }

void vc_pool_run(vc_pool *p, int64_t n_tasks, void (*fn)(void *arg, int64_t task), void *arg) {
    if (n_tasks <= 0) return;
    if (!p || p->n_threads == 1 || n_tasks == 1) {
        for (int64_t i = 0; i < n_tasks; i++) fn(arg, i);
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->arg = arg;
    p->n_tasks = n_tasks;
    atomic_store(&p->done, 0);
    const uint32_t gen = atomic_load(&p->generation) + 1;
    atomic_store_explicit(&p->claim, (uint64_t)gen << 32, memory_order_release);
    atomic_store_explicit(&p->generation, gen, memory_order_release);
    pthread_cond_broadcast(&p->job_cv);
    pthread_mutex_unlock(&p->mu);

    work(p, gen, fn, arg, n_tasks);
    /* wait for tasks still running on workers, not for idle workers */
    for (int s = 0; s < SPIN_ITERS && atomic_load_explicit(&p->done, memory_order_acquire) < n_tasks; s++)
        CPU_RELAX();
    if (atomic_load_explicit(&p->done, memory_order_acquire) < n_tasks) {
        pthread_mutex_lock(&p->mu);
        while (atomic_load(&p->done) < n_tasks) pthread_cond_wait(&p->done_cv, &p->mu);
        pthread_mutex_unlock(&p->mu);
    }
}

int vc_pool_reserve(vc_pool *p, size_t bytes, vc_error *err) {
    if (!p || bytes <= p->scratch_bytes) return 0;
    const size_t rounded = (bytes + 63) & ~(size_t)63;
    void *buf = aligned_alloc(64, rounded);
    if (!buf) return vc_errorf(err, "thread pool: out of memory for %zu bytes of scratch", rounded);
    free(p->scratch);
    p->scratch = buf;
    p->scratch_bytes = rounded;
    return 0;
}

void *vc_pool_scratch(vc_pool *p, size_t *bytes) {
    *bytes = p ? p->scratch_bytes : 0;
    return p ? p->scratch : NULL;
}

static int read_int_file(const char *path, int *out) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    const int ok = fscanf(f, "%d", out) == 1;
    fclose(f);
    return ok ? 0 : -1;
}

int vc_pool_default_threads(void) {
    const long online = sysconf(_SC_NPROCESSORS_ONLN);
    const int fallback = online > 0 ? (int)online : 1;
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) != 0) return fallback;
    enum { MAX_CORES = 1024 };
    long seen[MAX_CORES];
    int n_seen = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
        if (!CPU_ISSET(cpu, &set)) continue;
        char path[128];
        int core = 0, pkg = 0;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%d/topology/core_id", cpu);
        if (read_int_file(path, &core)) return CPU_COUNT(&set) > 0 ? CPU_COUNT(&set) : fallback;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%d/topology/physical_package_id", cpu);
        if (read_int_file(path, &pkg)) pkg = 0;
        const long key = (long)pkg * 65536 + core;
        int dup = 0;
        for (int i = 0; i < n_seen && !dup; i++) dup = seen[i] == key;
        if (!dup && n_seen < MAX_CORES) seen[n_seen++] = key;
    }
    return n_seen > 0 ? n_seen : fallback;
}
