/* y = x W^T with W as stored (rows = output features). Work is split over
 * chunks of output rows; within a chunk the weight rows stay in cache while
 * the activation rows pass by, VC_DOT_MAX_ROWS at a time (each weight row
 * unpacked once per group). y[r][o] is bitwise vc_cpu_dot(W[o], x[r]) however
 * rows are grouped or threads split (batch invariance).
 * vc_cpu_matmul_n runs several matrices sharing the input (q/k/v, gate/up) in
 * one parallel region: one fork/join instead of several. */
#include "backend/backend.h"

#include "model/quant.h"

enum { ROWS_PER_CHUNK = 16, MAX_MATS = 4 };

/* rows [o0, o1) of one matrix for all activation rows */
static void matmul_chunk(const vc_tensor *w, const float *x, int n_rows, float *y, int64_t o0,
                         int64_t o1) {
    const int64_t n_in = w->ne[0], n_out = w->ne[1];
    const size_t row_bytes = vc_row_bytes(w->type, n_in);
    const uint8_t *wdata = w->data;
    for (int r = 0; r < n_rows; r += VC_DOT_MAX_ROWS) {
        const int nr = n_rows - r < VC_DOT_MAX_ROWS ? n_rows - r : VC_DOT_MAX_ROWS;
        const float *xr = x + (size_t)r * n_in;
        for (int64_t o = o0; o < o1; o++) {
            float out[VC_DOT_MAX_ROWS];
            vc_cpu_dot_rows(w->type, wdata + (size_t)o * row_bytes, xr, n_in, nr, n_in, out);
            for (int j = 0; j < nr; j++) y[(size_t)(r + j) * n_out + o] = out[j];
        }
    }
}

typedef struct matmul_job {
    int n_mats;
    const vc_tensor *const *w;
    const float *x;
    int n_rows;
    float *const *y;
    int64_t first_chunk[MAX_MATS + 1];   /* chunk index where matrix i starts */
} matmul_job;

static void matmul_task(void *arg, int64_t c) {
    const matmul_job *job = arg;
    int i = 0;
    while (c >= job->first_chunk[i + 1]) i++;
    const vc_tensor *w = job->w[i];
    const int64_t o0 = (c - job->first_chunk[i]) * ROWS_PER_CHUNK;
    const int64_t o1 = o0 + ROWS_PER_CHUNK < w->ne[1] ? o0 + ROWS_PER_CHUNK : w->ne[1];
    matmul_chunk(w, job->x, job->n_rows, job->y[i], o0, o1);
}

void vc_cpu_matmul_n(int n_mats, const vc_tensor *const *w, const float *x, int n_rows,
                     float *const *y, vc_pool *pool) {
    matmul_job job = { .n_mats = n_mats, .w = w, .x = x, .n_rows = n_rows, .y = y };
    int64_t work = 0;
    job.first_chunk[0] = 0;
    for (int i = 0; i < n_mats && i < MAX_MATS; i++) {
        job.first_chunk[i + 1] = job.first_chunk[i] + (w[i]->ne[1] + ROWS_PER_CHUNK - 1) / ROWS_PER_CHUNK;
        work += (int64_t)n_rows * w[i]->ne[1] * w[i]->ne[0];
    }
    /* tiny problems are not worth waking the workers */
    vc_pool_run(work < 65536 ? NULL : pool, job.first_chunk[n_mats], matmul_task, &job);
}

void vc_cpu_matmul(const vc_tensor *w, const float *x, int n_rows, float *y, vc_pool *pool) {
    vc_cpu_matmul_n(1, &w, x, n_rows, &y, pool);
}
