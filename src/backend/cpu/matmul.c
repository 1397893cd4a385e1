/* y = x W^T with W as stored (rows = output features). Work is split over
 * chunks of output rows; within a chunk the weight rows stay in cache while
 * the activation rows pass by, VC_DOT_MAX_ROWS at a time (each weight row
 * unpacked once per group). y[r][o] is bitwise vc_cpu_dot(W[o], x[r]) however
 * rows are grouped or threads split (batch invariance). */
#include "backend/backend.h"

#include "model/quant.h"

enum { ROWS_PER_CHUNK = 16 };

void vc_cpu_matmul(const vc_tensor *w, const float *x, int n_rows, float *y, int n_threads) {
    const int64_t n_in = w->ne[0], n_out = w->ne[1];
    const size_t row_bytes = vc_row_bytes(w->type, n_in);
    const uint8_t *wdata = w->data;
    const vc_dtype type = w->type;
    const int64_t n_chunks = (n_out + ROWS_PER_CHUNK - 1) / ROWS_PER_CHUNK;
    if (n_threads <= 0) n_threads = 1;
    /* tiny problems are not worth waking the team */
    if ((int64_t)n_rows * n_out * n_in < 32768) n_threads = 1;

#pragma omp parallel for schedule(static) num_threads(n_threads)
    for (int64_t c = 0; c < n_chunks; c++) {
        const int64_t o0 = c * ROWS_PER_CHUNK;
        const int64_t o1 = o0 + ROWS_PER_CHUNK < n_out ? o0 + ROWS_PER_CHUNK : n_out;
        for (int r = 0; r < n_rows; r += VC_DOT_MAX_ROWS) {
            const int nr = n_rows - r < VC_DOT_MAX_ROWS ? n_rows - r : VC_DOT_MAX_ROWS;
            const float *xr = x + (size_t)r * n_in;
            for (int64_t o = o0; o < o1; o++) {
                float out[VC_DOT_MAX_ROWS];
                vc_cpu_dot_rows(type, wdata + (size_t)o * row_bytes, xr, n_in, nr, n_in, out);
                for (int j = 0; j < nr; j++) y[(size_t)(r + j) * n_out + o] = out[j];
            }
        }
    }
}
