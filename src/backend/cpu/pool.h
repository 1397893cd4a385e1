/* A small thread pool for the CPU kernels: vc_pool_run(p, n, fn, arg) calls
 * fn(arg, i) once for every i in [0, n), spread over the pool's workers and the
 * calling thread, and returns when all calls are done.
 *
 * Why not OpenMP: libgomp's barrier spins by default, and on a machine with
 * more runnable threads than cores (several processes sharing it) a spinning
 * team stalls for a scheduler time slice at every parallel region, which
 * made a forward 10x slower than one thread. Here tasks are claimed one at a
 * time (a descheduled worker holds at most one), idle workers spin only
 * briefly before sleeping on a condition variable, and the caller waits for
 * tasks, never for workers to check in.
 *
 * Which thread runs a task never changes its result: kernels make each task's
 * arithmetic depend on its index only (batch invariance). */
#ifndef VLLMC_POOL_H
#define VLLMC_POOL_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

typedef struct vc_pool vc_pool;

/* n_threads total, the caller included (n_threads - 1 workers); >= 1 */
int vc_pool_create(vc_pool **out, int n_threads, vc_error *err);
void vc_pool_free(vc_pool *p);
int vc_pool_threads(const vc_pool *p);   /* 1 for p == NULL */

/* p == NULL or n_tasks small: runs inline on the caller. Not reentrant: one
 * run at a time per pool (the transformer owns its pool). */
void vc_pool_run(vc_pool *p, int64_t n_tasks, void (*fn)(void *arg, int64_t task), void *arg);

/* The default thread count: physical cores among the CPUs this process may
 * run on (sched_getaffinity; SMT siblings counted once, from sysfs
 * topology/core_id + physical_package_id), else the online CPUs; >= 1. */
int vc_pool_default_threads(void);

/* A workspace the pool owns for its caller's kernels (used by one op at a
 * time, like the pool): vc_pool_reserve grows it to at least bytes (at
 * setup, so that a forward allocates nothing); vc_pool_scratch returns it
 * (64-byte aligned) and its size, NULL and 0 for p == NULL. */
int vc_pool_reserve(vc_pool *p, size_t bytes, vc_error *err);
void *vc_pool_scratch(vc_pool *p, size_t *bytes);

#endif
