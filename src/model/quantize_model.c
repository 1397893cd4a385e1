/* In-situ quantization: the type rules (llama-quantize's mixes, learned from
 * llama.cpp's src/llama-quant.cpp; facts, not code) and the threaded
 * quantization of a loaded safetensors model into one owned buffer. */
#include "model/quantize_model.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#ifdef _OPENMP
#include <omp.h>
#endif

const char VC_QUANT_NAMES[] = "q2k, q3k, q4k, q5k, q6k, q4_0, q8_0";

typedef struct quant_name {
    const char *names[4];   /* accepted spellings, compared case-insensitively */
    vc_dtype mix;
    const char *mix_name;   /* llama-quantize's name for the same mix */
} quant_name;

static const quant_name QUANT_NAMES[] = {
    {{"q2k", "q2_k", NULL, NULL}, VC_Q2_K, "Q2_K"},
    {{"q3k", "q3_k", "q3_k_m", NULL}, VC_Q3_K, "Q3_K_M"},
    {{"q4k", "q4_k", "q4_k_m", NULL}, VC_Q4_K, "Q4_K_M"},
    {{"q5k", "q5_k", "q5_k_m", NULL}, VC_Q5_K, "Q5_K_M"},
    {{"q6k", "q6_k", NULL, NULL}, VC_Q6_K, "Q6_K"},
    {{"q4_0", "q40", NULL, NULL}, VC_Q4_0, "Q4_0"},
    {{"q8_0", "q80", NULL, NULL}, VC_Q8_0, "Q8_0"},
};
#define N_QUANT_NAMES (sizeof QUANT_NAMES / sizeof QUANT_NAMES[0])

int vc_quant_parse(const char *arg, vc_dtype *out, vc_error *err) {
    for (size_t i = 0; arg && i < N_QUANT_NAMES; i++)
        for (int j = 0; j < 4 && QUANT_NAMES[i].names[j]; j++)
            if (!strcasecmp(arg, QUANT_NAMES[i].names[j])) {
                *out = QUANT_NAMES[i].mix;
                return 0;
            }
    return vc_errorf(err, "--quant: unknown type '%s' (valid: %s)", arg ? arg : "", VC_QUANT_NAMES);
}

const char *vc_quant_mix_name(vc_dtype mix) {
    for (size_t i = 0; i < N_QUANT_NAMES; i++)
        if (QUANT_NAMES[i].mix == mix) return QUANT_NAMES[i].mix_name;
    return "?";
}

/* llama.cpp's layer selector for the "_M" bumps: the first and last eighth
 * of the layers, and every third layer in between. */
static bool use_more_bits(int layer, int n_layers) {
    return layer < n_layers / 8 || layer >= 7 * n_layers / 8 || (layer - n_layers / 8) % 3 == 2;
}

static bool fits(vc_dtype t, int64_t ne0) { return ne0 % vc_dtype_block_elems(t) == 0; }

/* the mix's type for a weight, before any fallback */
static vc_dtype rule_type(vc_dtype mix, vc_weight_role role, int layer, int n_layers, int64_t ne0,
                          bool tied, int n_gqa) {
    vc_dtype t = mix;
    if (role == VC_ROLE_OUTPUT || (tied && role == VC_ROLE_TOK_EMBD)) {
        /* the output head is the most sensitive matrix: Q6_K, or Q8_0 when
         * the mix's blocks do not fit its rows */
        if (!fits(mix, ne0)) t = VC_Q8_0;
        else if (mix != VC_Q8_0) t = VC_Q6_K;
    } else if (role == VC_ROLE_ATTN_V) {
        if (mix == VC_Q2_K) t = n_gqa >= 4 ? VC_Q4_K : VC_Q3_K;
        else if (mix == VC_Q3_K) t = layer < 2 ? VC_Q5_K : VC_Q4_K;
        else if ((mix == VC_Q4_K || mix == VC_Q5_K) && use_more_bits(layer, n_layers)) t = VC_Q6_K;
    } else if (role == VC_ROLE_FFN_DOWN) {
        if (mix == VC_Q2_K) t = VC_Q3_K;
        else if (mix == VC_Q3_K) t = layer < n_layers / 16 ? VC_Q5_K : VC_Q4_K;
        else if ((mix == VC_Q4_K || mix == VC_Q5_K) && use_more_bits(layer, n_layers)) t = VC_Q6_K;
    } else if (role == VC_ROLE_ATTN_OUT) {
        if (mix == VC_Q2_K) t = VC_Q3_K;
        else if (mix == VC_Q3_K) t = VC_Q4_K;
    }
    return t;
}

/* rows that are not whole 256-blocks: the nearest 32-block type; rows that
 * are not even whole 32-blocks: F16 */
static vc_dtype fallback_type(vc_dtype t, int64_t ne0) {
    if (!fits(t, ne0)) {
        switch (t) {
        case VC_Q2_K: case VC_Q3_K: t = VC_Q4_0; break;
        case VC_Q4_K: t = VC_Q5_0; break;
        case VC_Q5_K: t = VC_Q5_1; break;
        case VC_Q6_K: t = VC_Q8_0; break;
        default: break;
        }
        if (!fits(t, ne0)) t = VC_F16;
    }
    return t;
}

vc_dtype vc_quant_tensor_type(vc_dtype mix, vc_weight_role role, int layer, int n_layers,
                              int64_t ne0, bool tied, int n_gqa, bool *fell_back) {
    vc_dtype want = rule_type(mix, role, layer, n_layers, ne0, tied, n_gqa);
    vc_dtype t = fallback_type(want, ne0);
    if (fell_back) *fell_back = t != want;
    return t;
}

/* One weight to quantize. */
typedef struct qjob {
    vc_tensor *views[2];     /* the model's views to repoint (2: tied embedding/head) */
    vc_weight_role role;
    int layer;
    vc_dtype type;
    bool fell_back;
    vc_dtype wanted;         /* the rule's type before the fallback */
    size_t offset, nbytes;   /* in the owned buffer */
} qjob;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void progress_bar(int done, int total, double t0) {
    const int width = 30;
    int fill = total ? done * width / total : width;
    char bar[64];
    for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
    bar[width] = 0;
    fprintf(stderr, "\rquantizing [%s] %3d%% %d/%d tensors %.1f s", bar, total ? done * 100 / total : 100,
            done, total, now_s() - t0);
    fflush(stderr);
}

/* Quantizes one tensor's rows in parallel into dst. */
static int quantize_tensor(const vc_tensor *src, vc_dtype type, uint8_t *dst, int n_threads) {
    const int64_t ne0 = src->ne[0], rows = vc_tensor_nelems(src) / ne0;
    const size_t in_row = vc_row_bytes(src->type, ne0), out_row = vc_row_bytes(type, ne0);
    const int64_t chunk = 16;
    atomic_int failed = 0;
#pragma omp parallel num_threads(n_threads)
    {
        float *row = malloc((size_t)ne0 * sizeof(float));
        if (!row) atomic_store(&failed, 1);
#pragma omp for schedule(dynamic, 1)
        for (int64_t c = 0; c < (rows + chunk - 1) / chunk; c++) {
            if (!row || atomic_load(&failed)) continue;
            for (int64_t r = c * chunk; r < rows && r < (c + 1) * chunk; r++) {
                vc_dequantize_row(src->type, (const uint8_t *)src->data + (size_t)r * in_row, row, ne0);
                if (vc_quantize_row(type, row, dst + (size_t)r * out_row, ne0)) {
                    atomic_store(&failed, 1);
                    break;
                }
            }
        }
        free(row);
    }
    return atomic_load(&failed) ? -1 : 0;
}

static void add_job(qjob *jobs, int *n, vc_tensor *a, vc_tensor *b, vc_weight_role role, int layer) {
    qjob *j = &jobs[(*n)++];
    memset(j, 0, sizeof *j);
    j->views[0] = a;
    j->views[1] = b;
    j->role = role;
    j->layer = layer;
}

int vc_model_quantize(vc_model *m, vc_dtype mix, int n_threads, bool progress, vc_error *err) {
    if (!strcmp(vc_quant_mix_name(mix), "?"))
        return vc_errorf(err, "--quant: type %s is not a quantization mix (valid: %s)", vc_dtype_name(mix),
                         VC_QUANT_NAMES);
    if (m->gguf)
        return vc_errorf(err, "--quant: '%s' is a GGUF file, already quantized (its weights are %s); "
                         "--quant works on a safetensors folder with F32/F16/BF16 weights: run this file "
                         "without --quant, or quantize the original safetensors model",
                         m->path, vc_dtype_name(m->layers[0].wq.type));
    if (m->owned) return vc_errorf(err, "--quant: model '%s' is already quantized", m->path);
#ifdef _OPENMP
    if (n_threads <= 0) n_threads = omp_get_num_procs();
#else
    n_threads = 1;
#endif
    const vc_config *c = &m->cfg;
    const int n_gqa = c->n_kv_heads > 0 ? c->n_heads / c->n_kv_heads : 1;
    const int max_jobs = 2 + 7 * c->n_layers;
    qjob *jobs = calloc((size_t)max_jobs, sizeof *jobs);
    if (!jobs) return vc_errorf(err, "--quant: out of memory");
    int n = 0;
    const bool tied = c->tied_embeddings || m->output.data == m->tok_embd.data;
    add_job(jobs, &n, &m->tok_embd, tied ? &m->output : NULL, VC_ROLE_TOK_EMBD, 0);
    if (!tied) add_job(jobs, &n, &m->output, NULL, VC_ROLE_OUTPUT, 0);
    for (int l = 0; l < c->n_layers; l++) {
        vc_layer_weights *L = &m->layers[l];
        add_job(jobs, &n, &L->wq, NULL, VC_ROLE_ATTN_Q, l);
        add_job(jobs, &n, &L->wk, NULL, VC_ROLE_ATTN_K, l);
        add_job(jobs, &n, &L->wv, NULL, VC_ROLE_ATTN_V, l);
        add_job(jobs, &n, &L->wo, NULL, VC_ROLE_ATTN_OUT, l);
        add_job(jobs, &n, &L->w_gate, NULL, VC_ROLE_FFN_GATE, l);
        add_job(jobs, &n, &L->w_up, NULL, VC_ROLE_FFN_UP, l);
        add_job(jobs, &n, &L->w_down, NULL, VC_ROLE_FFN_DOWN, l);
    }

    /* plan: types, sizes, offsets (64-byte aligned for the SIMD kernels) */
    size_t total = 0, in_bytes = 0;
    for (int i = 0; i < n; i++) {
        qjob *j = &jobs[i];
        const vc_tensor *t = j->views[0];
        if (t->type != VC_F32 && t->type != VC_F16 && t->type != VC_BF16) {
            free(jobs);
            return vc_errorf(err, "--quant: tensor '%s' is %s; in-situ quantization needs F32, F16 or BF16",
                             t->name ? t->name : "?", vc_dtype_name(t->type));
        }
        j->wanted = rule_type(mix, j->role, j->layer, c->n_layers, t->ne[0], tied, n_gqa);
        j->type = fallback_type(j->wanted, t->ne[0]);
        j->fell_back = j->type != j->wanted;
        j->nbytes = vc_row_bytes(j->type, t->ne[0]) * (size_t)(vc_tensor_nelems(t) / t->ne[0]);
        j->offset = total;
        total += (j->nbytes + 63) / 64 * 64;
        in_bytes += t->nbytes;
    }
    uint8_t *buf = NULL;
    if (posix_memalign((void **)&buf, 64, total ? total : 64)) {
        free(jobs);
        return vc_errorf(err, "--quant: out of memory for %.1f MB of quantized weights", total / 1e6);
    }

    /* fallbacks: one line per (row length, wanted type, fallback type) group */
    for (int i = 0; i < n; i++) {
        const qjob *j = &jobs[i];
        if (!j->fell_back) continue;
        bool seen = false;
        int count = 0;
        for (int k = 0; k < n; k++) {
            bool same = jobs[k].fell_back && jobs[k].views[0]->ne[0] == j->views[0]->ne[0] &&
                        jobs[k].wanted == j->wanted && jobs[k].type == j->type;
            if (same && k < i) seen = true;
            count += same;
        }
        if (seen) continue;
        fprintf(stderr, "quantize: %d tensor(s) with rows of %lld elements (e.g. '%s') do not fill "
                        "%s's %lld-element blocks: stored as %s instead\n",
                count, (long long)j->views[0]->ne[0], j->views[0]->name ? j->views[0]->name : "?",
                vc_dtype_name(j->wanted), (long long)vc_dtype_block_elems(j->wanted), vc_dtype_name(j->type));
    }

    const double t0 = now_s();
    const bool bar = progress && isatty(STDERR_FILENO);
    for (int i = 0; i < n; i++) {
        qjob *j = &jobs[i];
        if (quantize_tensor(j->views[0], j->type, buf + j->offset, n_threads)) {
            if (bar) fputc('\n', stderr);
            vc_errorf(err, "--quant: no %s quantizer in this build (tensor '%s')", vc_dtype_name(j->type),
                      j->views[0]->name ? j->views[0]->name : "?");
            free(buf);
            free(jobs);
            return -1;
        }
        if (bar) progress_bar(i + 1, n, t0);
    }
    const double secs = now_s() - t0;
    if (bar) fputc('\n', stderr);

    /* repoint the model's views at the quantized copies */
    for (int i = 0; i < n; i++) {
        for (int v = 0; v < 2; v++) {
            vc_tensor *t = jobs[i].views[v];
            if (!t) continue;
            t->type = jobs[i].type;
            t->data = buf + jobs[i].offset;
            t->nbytes = jobs[i].nbytes;
        }
    }
    m->owned = buf;
    fprintf(stderr, "quantize: %d tensors to the %s mix in %.2f s: %.1f MB -> %.1f MB, %.1f MB/s (%d threads)\n",
            n, vc_quant_mix_name(mix), secs, in_bytes / 1e6, total / 1e6, secs > 0 ? in_bytes / 1e6 / secs : 0.0,
            n_threads);
    free(jobs);
    return 0;
}
