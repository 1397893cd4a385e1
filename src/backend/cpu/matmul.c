/* y = x W^T with W as stored (rows = output features). Work is split over
 * chunks of output rows; within a chunk the weight rows stay in cache while
 * the activation rows pass by, VC_DOT_MAX_ROWS at a time (each weight row
 * unpacked once per group), so a decode step of many sequences reads each
 * weight block from memory once. y[r][o] depends only on W[o] and x[r]
 * however rows are grouped or threads split (batch invariance).
 *
 * Kernels (vc_cpu_kernels, env VLLMC_KERNELS): at the avx2 / avx512 / amx
 * levels, matrices of Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q6_K get the
 * activation rows quantized once per call (each row by itself: the same
 * bytes alone or batched) and integer dots (AMX tiles for whole 16 x 16
 * tiles): one 8-bit row each, or for vc_cpu_matmul_precise and Q8_0 / Q5_0 /
 * Q5_1 matrices a pair (value, residual) whose two outputs are added; other
 * types and vc_cpu_matmul_float_act use the float dots of dot.c; portable
 * uses the plain C dots for everything. VC_ACT_Q8 (--act8) rounds as
 * llama.cpp instead (backend.h).
 * vc_cpu_matmul_act runs several matrices sharing the input (q/k/v, gate/up) in
 * one parallel region: one fork/join instead of several. */
#include "backend/backend.h"

#include "model/quant.h"

enum { ROWS_PER_CHUNK = 16, PF_ROWS = 2, PF_BYTES = 2048, MAX_MATS = 4, STACK_QBUF = 32768, QTILE_BYTES = 32768,
       SPAN_MAX = 8,      /* chunks per task at most (task_span) */
       SPAN_MAX_ROWS = 64, /* activation rows up to which tasks take runs of chunks */
       PAIR_SLICE = 64, /* quantized rows (32 pairs) per slice of the pair path */
       GEMM_ROWS = 64   /* activation rows per decode of the weight rows (float path) */ };

typedef struct matmul_job {
    int n_mats;
    const vc_tensor *const *w;
    const float *x;              /* [n_rows][in] */
    const uint8_t *qx;           /* [n_rows] quantized rows of qx_stride bytes, or NULL */
    size_t qx_stride;
    vc_q8_rule rule;             /* how the rows were quantized */
    const int8_t *qnat;          /* [n_rows] the same as plain int8, nat_stride apart (AMX), or NULL */
    size_t nat_stride;
    int n_rows;                  /* quantized rows: 2 per activation row when pairs */
    int pairs;                   /* rows come as (value, residual) pairs; y gets their sum */
    vc_kernels k;
    int use_q[MAX_MATS];
    int use_amx[MAX_MATS];
    float *y[MAX_MATS];
    int64_t first_chunk[MAX_MATS + 1];   /* chunk index where matrix i starts */
    size_t row_bytes[MAX_MATS];          /* bytes of one weight row of matrix i */
    int pack[MAX_MATS];                  /* vc_cpu_qdot_few_pack of matrix i */
    int span;                            /* chunks per task (task_span) */
} matmul_job;

/* quantized rows [r, r + nr) against weight rows [o0, o1) of matrix i, into
 * out[(row - r) * os + (o - o0)]: AMX tiles for all the rows once there are
 * enough of them to pay for the weights' repacking (a last partial group of
 * fewer than 16 included), else the integer dots over tiles of rows that
 * stay in L1 while the weight rows pass over them (each weight row's scales
 * decoded once per tile); the same bits whichever path computes a row */
static void qdot_chunk(const matmul_job *job, int i, int64_t o0, int64_t o1, int r, int nr, float *out,
                       size_t os) {
    const vc_tensor *w = job->w[i];
    const int64_t n_in = w->ne[0], n_out = w->ne[1];
    const size_t row_bytes = job->row_bytes[i];
    const uint8_t *wdata = w->data, *qx = job->qx + (size_t)r * job->qx_stride;
    /* few activation rows: the weight rows stream from DRAM, each thread
     * through its run of chunks (task_span); the rows PF_BYTES ahead are
     * asked for, at least PF_ROWS (2 rows ahead before the runs: SmolLM2
     * decode 133-141 -> 139-149 tok/s; 2-8 KB measured alike) */
    const int64_t pfr = (int64_t)(PF_BYTES / row_bytes) > PF_ROWS ? (int64_t)(PF_BYTES / row_bytes) : PF_ROWS;
    int done = 0;
    if (job->use_amx[i] && job->qnat && o1 - o0 == 16 && nr >= vc_cpu_amx_min_rows(w->type)) {
        done = nr;
        /* the weight rows of the next two chunks (the ones this thread
         * takes next in its run of chunks, or the other thread) into L2
         * while the tiles work: their first touch, the scale decoding,
         * stalled on DRAM (10% of a batch-64 decode) */
        const int64_t pf1 = o1 + 2 * ROWS_PER_CHUNK < n_out ? o1 + 2 * ROWS_PER_CHUNK : n_out;
        vc_cpu_amx_rows16(w->type, wdata + (size_t)o0 * row_bytes, row_bytes, job->qnat + (size_t)r * job->nat_stride,
                          job->nat_stride, qx, job->qx_stride, job->rule, done, n_in, out, os,
                          wdata + (size_t)o1 * row_bytes, (size_t)(pf1 - o1) * row_bytes);
    }
    if (!done && job->qnat && nr <= VC_QDOT_FEW_ROWS) {
        /* one activation row (or one pair): the 512-bit kernels without
         * the weights' transposition, the same bits (qdot_few.h) */
        const int8_t *nat = job->qnat + (size_t)r * job->nat_stride;
        const int pack = job->pack[i];
        int64_t o = o0;
        while (o < o1) {
            const int step = o1 - o >= pack ? pack : 1;
            /* the lines of rows [o + pfr, o + pfr + step) */
            const int64_t p1 = o + pfr + step < n_out ? o + pfr + step : n_out;
            if (o + pfr < p1)
                for (uintptr_t a = (uintptr_t)(wdata + (size_t)(o + pfr) * row_bytes) & ~(uintptr_t)63;
                     a < (uintptr_t)(wdata + (size_t)p1 * row_bytes); a += 64)
                    __builtin_prefetch((const void *)a, 0, 3);
            if (!vc_cpu_qdot_few(job->k, w->type, wdata + (size_t)o * row_bytes, step, nat, job->nat_stride, qx,
                                 job->qx_stride, job->rule, nr, n_in, out + (o - o0), os))
                break;
            o += step;
        }
        if (o == o1) return;
    }
    int tile = (int)(QTILE_BYTES / job->qx_stride) & ~(VC_DOT_MAX_ROWS - 1);
    if (tile < VC_DOT_MAX_ROWS) tile = VC_DOT_MAX_ROWS;
    for (int t = done; t < nr; t += tile) {
        const int m = nr - t < tile ? nr - t : tile;
        for (int64_t o = o0; o < o1; o++) {
            /* few activation rows (decode): the weights stream from DRAM;
             * ask for the row pfr ahead (PF_ROWS ahead, with the float path
             * of then: single-stream decode on SmolLM2 80 -> 101 tok/s; a
             * non-temporal hint was 30% slower) */
            if (m <= 8 && o + pfr < n_out)
                for (size_t b = 0; b < row_bytes; b += 64)
                    __builtin_prefetch(wdata + (size_t)(o + pfr) * row_bytes + b, 0, 3);
            vc_cpu_qdot_rows(job->k, w->type, wdata + (size_t)o * row_bytes, qx + (size_t)t * job->qx_stride,
                             job->qx_stride, job->rule, m, n_in, out + (size_t)t * os + (o - o0), os);
        }
    }
}

/* rows [o0, o1) of matrix i for all activation rows */
static void matmul_chunk(const matmul_job *job, int i, int64_t o0, int64_t o1) {
    const vc_tensor *w = job->w[i];
    const int64_t n_in = w->ne[0], n_out = w->ne[1];
    const size_t row_bytes = job->row_bytes[i];
    const uint8_t *wdata = w->data;
    float *y = job->y[i];
    if (job->use_q[i] && job->pairs) {
        /* (value, residual) row pairs: slices into part[][], then their sums */
        float part[PAIR_SLICE][ROWS_PER_CHUNK];
        for (int r = 0; r < job->n_rows; r += PAIR_SLICE) {
            const int nr = job->n_rows - r < PAIR_SLICE ? job->n_rows - r : PAIR_SLICE;
            qdot_chunk(job, i, o0, o1, r, nr, &part[0][0], ROWS_PER_CHUNK);
            for (int j = 0; j < nr; j += 2) {
                float *yr = y + (size_t)((r + j) / 2) * n_out;
                for (int64_t o = o0; o < o1; o++) yr[o] = part[j][o - o0] + part[j + 1][o - o0];
            }
        }
        return;
    }
    if (job->use_q[i]) {
        qdot_chunk(job, i, o0, o1, 0, job->n_rows, y + o0, (size_t)n_out);
        return;
    }
    const int n_act = job->pairs ? job->n_rows / 2 : job->n_rows;   /* float rows of x */
    int64_t o_done = o0;
    if (n_act > 1 && job->k != VC_KERNELS_PORTABLE) {
        /* many rows of a super-block type: each weight row decoded once per
         * GEMM_ROWS activation rows (bitwise the same as below) */
        for (int r = 0; r < n_act; r += GEMM_ROWS) {
            const int nr = n_act - r < GEMM_ROWS ? n_act - r : GEMM_ROWS;
            for (int64_t o = o0; o < o1; o += 4)
                if (!vc_cpu_dot_gemm(w->type, wdata + (size_t)o * row_bytes, row_bytes, o1 - o < 4 ? (int)(o1 - o) : 4,
                                     job->x + (size_t)r * n_in, n_in, nr, n_in, y + (size_t)r * n_out + o,
                                     (size_t)n_out))
                    goto rows;
        }
        return;
    }
rows:
    if (n_act == 1 && job->k != VC_KERNELS_PORTABLE) {
        /* one row (decode): weight rows 4 at a time, bitwise vc_cpu_dot */
        for (; o_done + VC_DOT_WROWS <= o1; o_done += VC_DOT_WROWS) {
            const uint8_t *wr[VC_DOT_WROWS];
            for (int k = 0; k < VC_DOT_WROWS; k++) wr[k] = wdata + (size_t)(o_done + k) * row_bytes;
            if (o_done + 2 * VC_DOT_WROWS <= n_out) /* the next 4 rows, as above */
                for (size_t b = 0; b < VC_DOT_WROWS * row_bytes; b += 64)
                    __builtin_prefetch(wdata + (size_t)(o_done + VC_DOT_WROWS) * row_bytes + b, 0, 3);
            if (!vc_cpu_dot_wrows(w->type, wr, job->x, n_in, y + o_done)) break;
        }
    }
    for (int r = 0; r < n_act; r += VC_DOT_MAX_ROWS) {
        const int nr = n_act - r < VC_DOT_MAX_ROWS ? n_act - r : VC_DOT_MAX_ROWS;
        const float *xr = job->x + (size_t)r * n_in;
        for (int64_t o = o_done; o < o1; o++) {
            float out[VC_DOT_MAX_ROWS];
            const uint8_t *wr = wdata + (size_t)o * row_bytes;
            if (job->k == VC_KERNELS_PORTABLE) vc_cpu_dot_rows_portable(w->type, wr, xr, n_in, nr, n_in, out);
            else vc_cpu_dot_rows(w->type, wr, xr, n_in, nr, n_in, out);
            for (int j = 0; j < nr; j++) y[(size_t)(r + j) * n_out + o] = out[j];
        }
    }
}

typedef struct quant_job {
    const float *x;    /* [rows][n] */
    int64_t n;
    int rows;
    vc_q8_rule rule;   /* how rows are rounded (VC_Q8_RULE_F32 but under VC_ACT_Q8) */
    float *rounded;    /* not NULL: rows rounded to 8 bits, as floats, here ([rows][n]) instead */
    int pairs;         /* row r -> quantized rows 2r (value) and 2r + 1 (residual) */
    uint8_t *qx;       /* [rows] of qb bytes */
    size_t qb;
    int8_t *qnat;      /* [rows] of nat bytes, or NULL */
    size_t nat;
    vc_kernels k;
} quant_job;

enum { QUANT_ROWS_PER_TASK = 8 };

/* rows [8 t, 8 t + 8) of the activations, each quantized by itself */
static void quant_task(void *arg, int64_t t) {
    const quant_job *q = arg;
    const int r1 = (int)(t + 1) * QUANT_ROWS_PER_TASK < q->rows ? (int)(t + 1) * QUANT_ROWS_PER_TASK : q->rows;
    for (int r = (int)t * QUANT_ROWS_PER_TASK; r < r1; r++) {
        if (q->rounded) {
            vc_cpu_round_row_q8(q->x + (size_t)r * q->n, q->n, q->rule, q->rounded + (size_t)r * q->n);
            continue;
        }
        if (!q->pairs) {
            vc_cpu_quantize_row_q8_level(q->k, q->x + (size_t)r * q->n, q->n, q->rule, q->qx + (size_t)r * q->qb,
                                         q->qnat ? q->qnat + (size_t)r * q->nat : NULL);
            continue;
        }
        const size_t h = 2 * (size_t)r, l = h + 1;
        vc_cpu_quantize_row_q8_pair(q->x + (size_t)r * q->n, q->n, q->qx + h * q->qb,
                                    q->qnat ? q->qnat + h * q->nat : NULL, q->qx + l * q->qb,
                                    q->qnat ? q->qnat + l * q->nat : NULL);
    }
}

/* task t: chunks [t * span, (t + 1) * span) (of all matrices in turn) */
static void matmul_task(void *arg, int64_t t) {
    const matmul_job *job = arg;
    const int64_t end = job->first_chunk[job->n_mats];
    const int64_t c1 = (t + 1) * job->span < end ? (t + 1) * job->span : end;
    for (int64_t c = t * job->span; c < c1; c++) {
        int i = 0;
        while (c >= job->first_chunk[i + 1]) i++;
        const int64_t n_out = job->w[i]->ne[1];
        const int64_t o0 = (c - job->first_chunk[i]) * ROWS_PER_CHUNK;
        const int64_t o1 = o0 + ROWS_PER_CHUNK < n_out ? o0 + ROWS_PER_CHUNK : n_out;
        matmul_chunk(job, i, o0, o1);
    }
}

/* Chunks per task. With up to a decode batch of activation rows a chunk is
 * little work on a few KB of weights: one chunk per task had the two
 * threads claim every other chunk (a contended counter per chunk, and each
 * thread's weight reads out of sequence). Runs of up to SPAN_MAX
 * consecutive chunks, still 4 tasks per thread for balance: single-stream
 * decode SmolLM2 89 -> 136-139 tok/s, 320M 54 -> 65; 320M batch 64 decode
 * 364-374 -> 385-403, its throughput run 404-409 -> 418-424 tok/s. One
 * activation row (or pair: the few-row kernels, which stream the weights at
 * DRAM speed) takes 2 tasks per thread, however long: each thread's reads
 * stay in sequence through a quarter of the matrices (decode SmolLM2
 * 167-179 -> 182-186, 320M 97-98 -> 105 tok/s; one task per thread alike;
 * a 173 MB Q4_K matrix streams 22 GB/s in runs of 8 chunks, 27 in halves).
 * Prefill (more rows) keeps one chunk per task (no gain measured). */
static int task_span(int64_t chunks, int n_rows, const vc_pool *pool) {
    const int64_t threads = vc_pool_threads(pool);
    if (n_rows <= VC_QDOT_FEW_ROWS) return (int)((chunks + 2 * threads - 1) / (2 * threads));
    if (n_rows > SPAN_MAX_ROWS) return 1;
    const int64_t s = chunks / (4 * threads);
    return s < 1 ? 1 : s > SPAN_MAX ? SPAN_MAX : (int)s;
}

static void run_tasks(vc_pool *pool, matmul_job *job) {
    const int64_t chunks = job->first_chunk[job->n_mats];
    job->span = task_span(chunks, job->n_rows, pool);
    vc_pool_run(pool, (chunks + job->span - 1) / job->span, matmul_task, job);
}

static void matmul_n(int n_mats, const vc_tensor *const *w, const float *x, int n_rows, float *const *y,
                     vc_pool *pool, vc_act act) {
    int precise = act == VC_ACT_PAIRS;
    if (n_mats > MAX_MATS) n_mats = MAX_MATS;
    matmul_job job = { .n_mats = n_mats, .w = w, .x = x, .n_rows = n_rows, .k = vc_cpu_kernels() };
    const int64_t n_in = w[0]->ne[0];
    /* VC_ACT_Q8 rounds as llama.cpp: per 256 values against K-quant
     * weights (Q8_K), else per 32 with f16 scales (Q8_0 / Q8_1); weights
     * without integer kernels get the rounded values as floats. Matrices
     * that differ in this go one at a time. */
    vc_q8_rule rule = VC_Q8_RULE_F32;
    int rounded = 0;
    if (act == VC_ACT_Q8) {
        for (int i = 0; i < n_mats; i++) {
            const int64_t be = vc_dtype_block_elems(w[i]->type);
            const vc_q8_rule ru = be == 256 ? VC_Q8_RULE_K : VC_Q8_RULE_F16;
            const int ro = be > 1 && !vc_cpu_qdot_supported(job.k, w[i]->type, n_in);
            if (i > 0 && (ru != rule || ro != rounded)) {
                for (int j = 0; j < n_mats; j++) matmul_n(1, &w[j], x, n_rows, &y[j], pool, act);
                return;
            }
            rule = ru;
            rounded = ro;
        }
    }
    int64_t work = 0;
    int any_q = 0, any_amx = 0;
    job.first_chunk[0] = 0;
    for (int i = 0; i < n_mats; i++) {
        job.first_chunk[i + 1] = job.first_chunk[i] + (w[i]->ne[1] + ROWS_PER_CHUNK - 1) / ROWS_PER_CHUNK;
        job.row_bytes[i] = vc_row_bytes(w[i]->type, n_in);
        job.pack[i] = vc_cpu_qdot_few_pack(w[i]->type, n_in);
        work += (int64_t)n_rows * w[i]->ne[1] * w[i]->ne[0];
        job.use_q[i] = act != VC_ACT_FLOAT && vc_cpu_qdot_supported(job.k, w[i]->type, n_in);
        /* Q8_0, Q5_0, Q5_1 weights get value + residual pairs: with one
         * 8-bit row the Q8_0 models of tests/test_forward.c flip an argmax
         * against transformers (a Q8_0 file is one that asked for accuracy),
         * and one 8-bit row on the Q5_0/Q5_1 tensors of SmolLM2's K mixes
         * costs 0.6% PPL and turns its q3k answer to "What is the capital
         * of France?" from Paris to Versailles; pairs keep the float PPL */
        if (job.use_q[i] && act == VC_ACT_AUTO &&
            (w[i]->type == VC_Q8_0 || w[i]->type == VC_Q5_0 || w[i]->type == VC_Q5_1))
            precise = 1;
        job.use_amx[i] = job.use_q[i] && job.k >= VC_KERNELS_AMX && n_rows >= vc_cpu_amx_min_rows(w[i]->type) &&
                         vc_cpu_amx_supported(w[i]->type, n_in);
        any_q |= job.use_q[i];
        any_amx |= job.use_amx[i];
        job.y[i] = y[i];
    }
    /* tiny problems are not worth waking the workers */
    vc_pool *run_pool = work < 65536 ? NULL : pool;
    if (!any_q && !rounded) {
        run_tasks(run_pool, &job);
        return;
    }
    /* quantize the activation rows (or, rounded, round them to 8-bit values
     * kept as floats) into the pool's scratch (reserved by the transformer
     * for its largest batch) or, failing that, a stack buffer, as many rows
     * at a time as fit */
    _Alignas(64) uint8_t stack_buf[STACK_QBUF];
    const size_t qb = vc_cpu_qrow_bytes(n_in);
    const int per_row = precise ? 2 : 1;   /* quantized rows per activation row */
    /* plain int8 copies of the rows for the AMX tiles, and for the few-row
     * kernels (vc_cpu_qdot_few) */
    const int want_nat = any_amx || (job.k >= VC_KERNELS_AVX512 && n_rows * per_row <= VC_QDOT_FEW_ROWS);
    const size_t nat = want_nat ? vc_cpu_qnat_bytes(n_in) : 0;
    job.pairs = precise;
    size_t cap = 0;
    uint8_t *buf = vc_pool_scratch(pool, &cap);
    const size_t row_need = rounded ? (size_t)n_in * sizeof(float) : (qb + nat) * (size_t)per_row;
    if (cap < sizeof stack_buf && cap < row_need * (size_t)n_rows) {
        buf = stack_buf;
        cap = sizeof stack_buf;
    }
    const int rows_per = cap / row_need < (size_t)n_rows ? (int)(cap / row_need) : n_rows;
    if (rows_per == 0) { /* a row wider than every buffer: float dots (depends on n_in only) */
        for (int i = 0; i < n_mats; i++) job.use_q[i] = 0;
        run_tasks(run_pool, &job);
        return;
    }
    job.qx = buf;
    job.qx_stride = qb;
    job.rule = rule;
    int8_t *qnat = want_nat ? (int8_t *)(buf + qb * (size_t)(rows_per * per_row)) : NULL;
    job.qnat = qnat;
    job.nat_stride = nat;
    for (int r0 = 0; r0 < n_rows; r0 += rows_per) {
        const int g = n_rows - r0 < rows_per ? n_rows - r0 : rows_per;
        quant_job qj = { .x = x + (size_t)r0 * n_in, .n = n_in, .rows = g, .rule = rule,
                         .rounded = rounded ? (float *)(void *)buf : NULL, .pairs = precise, .qx = buf,
                         .qb = qb, .qnat = qnat, .nat = nat, .k = job.k };
        vc_pool_run(g >= 2 * QUANT_ROWS_PER_TASK ? run_pool : NULL,
                    (g + QUANT_ROWS_PER_TASK - 1) / QUANT_ROWS_PER_TASK, quant_task, &qj);
        job.x = rounded ? (const float *)(const void *)buf : x + (size_t)r0 * n_in;
        job.n_rows = g * per_row;
        for (int i = 0; i < n_mats; i++) job.y[i] = y[i] + (size_t)r0 * w[i]->ne[1];
        run_tasks(run_pool, &job);
    }
}

void vc_cpu_matmul_act(int n_mats, const vc_tensor *const *w, const float *x, int n_rows, float *const *y,
                       vc_pool *pool, vc_act act) {
    matmul_n(n_mats, w, x, n_rows, y, pool, act);
}

void vc_cpu_matmul(const vc_tensor *w, const float *x, int n_rows, float *y, vc_pool *pool) {
    matmul_n(1, &w, x, n_rows, &y, pool, VC_ACT_AUTO);
}

void vc_cpu_matmul_precise(const vc_tensor *w, const float *x, int n_rows, float *y, vc_pool *pool) {
    matmul_n(1, &w, x, n_rows, &y, pool, VC_ACT_PAIRS);
}

void vc_cpu_matmul_float_act(const vc_tensor *w, const float *x, int n_rows, float *y, vc_pool *pool) {
    matmul_n(1, &w, x, n_rows, &y, pool, VC_ACT_FLOAT);
}
