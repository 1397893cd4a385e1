/* The one forward for llama / mistral / qwen2 / qwen3: architecture
 * differences are the presence of tensors (q/k/v bias, q/k norm, output head)
 * and config values (rope pairing and scaling, sliding window), not code
 * copies.
 *
 * Per layer, for the T tokens of the batch (x: [T][dim] residual stream):
 *   xn = rmsnorm(x) * attn_norm
 *   q, k, v = xn Wq^T (+bq), xn Wk^T (+bk), xn Wv^T (+bv)
 *   qwen3: q, k = per-head rmsnorm(q) * q_norm, rmsnorm(k) * k_norm
 *   q, k = rope(q, k) at each token's position
 *   K/V of every token -> the paged pool at its slot
 *   att = paged causal attention of each token over its own sequence
 *   x += att Wo^T
 *   x += (silu(xn2 Wg^T) * (xn2 Wu^T)) Wd^T,  xn2 = rmsnorm(x) * ffn_norm
 * then logits = (rmsnorm(x[row]) * out_norm) Wout^T for the requested rows.
 * All scratch is allocated once in create for max_batch_tokens. */
#include "model/transformer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "model/quant.h"

enum { MAX_HEAD_DIM = 1024 }; /* the attention kernel's per-task accumulator */

typedef struct layer_vecs {    /* the layer's 1-D weights as float32 */
    const float *attn_norm, *ffn_norm, *bq, *bk, *bv, *q_norm, *k_norm;
} layer_vecs;

struct vc_transformer {
    const vc_model *m;
    int max_tokens;
    int n_threads;
    vc_numerics numerics;       /* how activations enter the matmuls (vc_transformer_create) */
    vc_pool *pool;              /* n_threads - 1 workers + the caller */
    float *inv_freq;            /* [head_dim/2] rope frequencies, scaling applied */
    layer_vecs *vecs;           /* [n_layers] */
    const float *out_norm;
    float *owned_vecs;          /* float32 copies of 1-D weights not stored as F32 */
    /* scratch, [max_tokens][...] */
    float *x, *xn, *q, *k, *v, *att, *gate, *up;
    int32_t *seq_of_token;
};

/* A 1-D weight as float32: the mapped data when stored F32, else a
 * converted copy (norms and biases are tiny). */
static const float *vec_f32(const vc_tensor *t, float **pool) {
    if (!t->data) return NULL;
    if (t->type == VC_F32) return t->data;
    float *dst = *pool;
    vc_dequantize_row(t->type, t->data, dst, t->ne[0]);
    *pool += t->ne[0];
    return dst;
}

static size_t vec_f32_need(const vc_tensor *t) {
    return t->data && t->type != VC_F32 ? (size_t)t->ne[0] : 0;
}

/* inv_freq[i] = theta^(-2i/head_dim), then scaled: transformers'
 * default / linear / llama3 rope, or llama.cpp's rope_freqs divisors. */
static void rope_frequencies(float *inv_freq, const vc_model *m, const float *rope_freqs) {
    const vc_config *c = &m->cfg;
    const int half = c->head_dim / 2;
    for (int i = 0; i < half; i++) {
        /* transformers computes this in float32: base ** (2i / d) */
        const float expo = (float)(2 * i) / (float)c->head_dim;
        float f = 1.0f / powf(c->rope_theta, expo);
        if (rope_freqs) {
            f /= rope_freqs[i];
        } else if (c->rope_scaling == VC_ROPE_SCALING_LINEAR && c->rope_factor > 0) {
            f /= c->rope_factor;
        } else if (c->rope_scaling == VC_ROPE_SCALING_LLAMA3 && c->rope_factor > 0) {
            const double old_ctx = c->rope_orig_max_pos;
            const double lo_wl = old_ctx / c->rope_low_freq_factor;
            const double hi_wl = old_ctx / c->rope_high_freq_factor;
            const double wl = 2.0 * M_PI / f;
            if (wl > lo_wl) {
                f = f / c->rope_factor;
            } else if (wl >= hi_wl) {
                const double smooth = (old_ctx / wl - c->rope_low_freq_factor) /
                                      (c->rope_high_freq_factor - c->rope_low_freq_factor);
                f = (float)((1.0 - smooth) * f / c->rope_factor + smooth * f);
            }
        }
        inv_freq[i] = f;
    }
}

int vc_transformer_create(vc_transformer **out, const vc_model *m, int max_batch_tokens,
                          int n_threads, vc_numerics numerics, vc_error *err) {
    *out = NULL;
    const vc_config *c = &m->cfg;
    if (max_batch_tokens <= 0)
        return vc_errorf(err, "transformer: max_batch_tokens %d must be > 0", max_batch_tokens);
    if (c->head_dim > MAX_HEAD_DIM)
        return vc_errorf(err, "transformer: head_dim %d > %d is not supported", c->head_dim,
                         MAX_HEAD_DIM);
    if (c->rope_scaling == VC_ROPE_SCALING_LLAMA3 && !m->rope_freqs.data &&
        (c->rope_orig_max_pos <= 0 || c->rope_high_freq_factor <= c->rope_low_freq_factor))
        return vc_errorf(err, "transformer: llama3 rope scaling needs original_max_position_embeddings "
                         "> 0 and high_freq_factor > low_freq_factor (got %d, %g, %g)",
                         c->rope_orig_max_pos, c->rope_high_freq_factor, c->rope_low_freq_factor);
    vc_transformer *t = calloc(1, sizeof *t);
    if (!t) return vc_errorf(err, "transformer: out of memory");
    t->m = m;
    t->max_tokens = max_batch_tokens;
    if (n_threads <= 0) n_threads = vc_pool_default_threads();
    t->n_threads = n_threads;
    t->numerics = numerics;
    if (vc_pool_create(&t->pool, n_threads, err)) {
        vc_transformer_free(t);
        return -1;
    }

    /* scratch for the 8-bit activation rows of the widest matmul input, two
     * per row for Q8_0 matrices (value + residual) */
    {
        const int64_t widest = c->hidden_dim > c->dim ? c->hidden_dim : c->dim;
        const int64_t q_in = (int64_t)c->n_heads * c->head_dim;
        const int64_t in = widest > q_in ? widest : q_in;
        if (vc_pool_reserve(t->pool, 2 * (size_t)max_batch_tokens * (vc_cpu_qrow_bytes(in) + vc_cpu_qnat_bytes(in)),
                            err)) {
            vc_transformer_free(t);
            return -1;
        }
    }

    size_t need = vec_f32_need(&m->out_norm) + vec_f32_need(&m->rope_freqs);
    for (int l = 0; l < c->n_layers; l++) {
        const vc_layer_weights *L = &m->layers[l];
        need += vec_f32_need(&L->attn_norm) + vec_f32_need(&L->ffn_norm) + vec_f32_need(&L->bq) +
                vec_f32_need(&L->bk) + vec_f32_need(&L->bv) + vec_f32_need(&L->q_norm) +
                vec_f32_need(&L->k_norm);
    }
    const size_t T = (size_t)max_batch_tokens;
    const size_t q_dim = (size_t)c->n_heads * c->head_dim, kv_dim = (size_t)c->n_kv_heads * c->head_dim;
    t->owned_vecs = malloc((need ? need : 1) * sizeof(float));
    t->vecs = calloc((size_t)c->n_layers, sizeof *t->vecs);
    t->inv_freq = malloc((size_t)(c->head_dim / 2 + 1) * sizeof(float));
    t->x = malloc(T * c->dim * sizeof(float));
    t->xn = malloc(T * (c->dim > (int)q_dim ? (size_t)c->dim : q_dim) * sizeof(float));
    t->q = malloc(T * q_dim * sizeof(float));
    t->k = malloc(T * kv_dim * sizeof(float));
    t->v = malloc(T * kv_dim * sizeof(float));
    t->att = malloc(T * q_dim * sizeof(float));
    t->gate = malloc(T * c->hidden_dim * sizeof(float));
    t->up = malloc(T * c->hidden_dim * sizeof(float));
    t->seq_of_token = malloc(T * sizeof(int32_t));
    if (!t->owned_vecs || !t->vecs || !t->inv_freq || !t->x || !t->xn || !t->q || !t->k ||
        !t->v || !t->att || !t->gate || !t->up || !t->seq_of_token) {
        vc_transformer_free(t);
        return vc_errorf(err, "transformer: out of memory for %d batch tokens", max_batch_tokens);
    }
    float *pool = t->owned_vecs;
    t->out_norm = vec_f32(&m->out_norm, &pool);
    const float *rope_freqs = vec_f32(&m->rope_freqs, &pool);
    for (int l = 0; l < c->n_layers; l++) {
        const vc_layer_weights *L = &m->layers[l];
        layer_vecs *V = &t->vecs[l];
        V->attn_norm = vec_f32(&L->attn_norm, &pool);
        V->ffn_norm = vec_f32(&L->ffn_norm, &pool);
        V->bq = vec_f32(&L->bq, &pool);
        V->bk = vec_f32(&L->bk, &pool);
        V->bv = vec_f32(&L->bv, &pool);
        V->q_norm = vec_f32(&L->q_norm, &pool);
        V->k_norm = vec_f32(&L->k_norm, &pool);
    }
    rope_frequencies(t->inv_freq, m, rope_freqs);
    *out = t;
    return 0;
}

void vc_transformer_free(vc_transformer *t) {
    if (!t) return;
    vc_pool_free(t->pool);
    free(t->owned_vecs);
    free(t->vecs);
    free(t->inv_freq);
    free(t->x);
    free(t->xn);
    free(t->q);
    free(t->k);
    free(t->v);
    free(t->att);
    free(t->gate);
    free(t->up);
    free(t->seq_of_token);
    free(t);
}

/* Checks everything the kernels will index with, so that a malformed batch
 * is an error and never an out-of-bounds access; fills seq_of_token. */
static int validate_batch(vc_transformer *t, const vc_kv_cache *kv, const vc_batch *b,
                          vc_error *err) {
    const vc_config *c = &t->m->cfg;
    if (kv->n_layers != c->n_layers || kv->n_kv_heads != c->n_kv_heads || kv->head_dim != c->head_dim)
        return vc_errorf(err, "forward: kv cache shape (layers %d, kv heads %d, head_dim %d) does "
                         "not match the model (%d, %d, %d)", kv->n_layers, kv->n_kv_heads,
                         kv->head_dim, c->n_layers, c->n_kv_heads, c->head_dim);
    if (b->n_tokens <= 0 || b->n_tokens > t->max_tokens)
        return vc_errorf(err, "forward: batch has %d tokens, expected 1..%d (max_batch_tokens)",
                         b->n_tokens, t->max_tokens);
    if (b->n_seqs <= 0 || b->n_seqs > b->n_tokens)
        return vc_errorf(err, "forward: batch has %d sequences for %d tokens", b->n_seqs, b->n_tokens);
    if (!b->tokens || !b->positions || !b->slot_mapping || !b->query_start || !b->context_lens ||
        !b->block_tables || (b->n_logits > 0 && !b->logits_rows))
        return vc_errorf(err, "forward: batch has a NULL array");
    if (b->max_blocks_per_seq <= 0)
        return vc_errorf(err, "forward: max_blocks_per_seq %d must be > 0", b->max_blocks_per_seq);
    if (b->n_logits < 0 || b->n_logits > b->n_tokens)
        return vc_errorf(err, "forward: n_logits %d, expected 0..%d", b->n_logits, b->n_tokens);
    if (b->query_start[0] != 0 || b->query_start[b->n_seqs] != b->n_tokens)
        return vc_errorf(err, "forward: query_start must run from 0 to n_tokens %d (got %d..%d)",
                         b->n_tokens, b->query_start[0], b->query_start[b->n_seqs]);
    const int bs = kv->block_size;
    const int64_t n_slots = (int64_t)kv->n_blocks * bs;
    for (int s = 0; s < b->n_seqs; s++) {
        const int q0 = b->query_start[s], q1 = b->query_start[s + 1];
        const int ctx = b->context_lens[s];
        if (q0 < 0 || q1 <= q0 || q1 > b->n_tokens)
            return vc_errorf(err, "forward: sequence %d: query_start %d..%d, expected increasing "
                             "within 0..%d (at least one token per sequence)", s, q0, q1, b->n_tokens);
        if (ctx < q1 - q0 || (int64_t)ctx > (int64_t)b->max_blocks_per_seq * bs)
            return vc_errorf(err, "forward: sequence %d: context_len %d, expected %d..%lld "
                             "(new tokens .. max_blocks_per_seq * block_size)", s, ctx, q1 - q0,
                             (long long)b->max_blocks_per_seq * bs);
        if (c->max_seq_len > 0 && ctx > c->max_seq_len)
            return vc_errorf(err, "forward: sequence %d: context_len %d exceeds the model's "
                             "max_seq_len %d", s, ctx, c->max_seq_len);
        const int32_t *table = b->block_tables + (size_t)s * b->max_blocks_per_seq;
        /* blocks read: from the first position any new token sees (sliding
         * window) to the last; earlier ones may already be released */
        const int first_pos = ctx - (q1 - q0);
        const int lo = c->sliding_window > 0 && first_pos - c->sliding_window + 1 > 0
                           ? first_pos - c->sliding_window + 1 : 0;
        const int n_blocks_used = (ctx + bs - 1) / bs;
        for (int i = lo / bs; i < n_blocks_used; i++)
            if (table[i] < 0 || table[i] >= kv->n_blocks)
                return vc_errorf(err, "forward: sequence %d: block_tables[%d] = %d, expected "
                                 "0..%d", s, i, table[i], kv->n_blocks - 1);
        for (int i = q0; i < q1; i++) {
            const int pos = ctx - (q1 - q0) + (i - q0);
            if (b->positions[i] != pos)
                return vc_errorf(err, "forward: token %d of sequence %d: position %d, expected %d "
                                 "(new tokens are the last of context_len %d, in order)", i, s,
                                 b->positions[i], pos, ctx);
            if (b->tokens[i] < 0 || b->tokens[i] >= c->vocab_size)
                return vc_errorf(err, "forward: token %d: id %d outside the vocabulary 0..%d", i,
                                 b->tokens[i], c->vocab_size - 1);
            const int64_t slot = (int64_t)table[pos / bs] * bs + pos % bs;
            if (b->slot_mapping[i] < 0 || b->slot_mapping[i] >= n_slots || b->slot_mapping[i] != slot)
                return vc_errorf(err, "forward: token %d (sequence %d, position %d): slot_mapping "
                                 "%d, expected %lld from its block table", i, s, pos,
                                 b->slot_mapping[i], (long long)slot);
            t->seq_of_token[i] = s;
        }
    }
    for (int r = 0; r < b->n_logits; r++)
        if (b->logits_rows[r] < 0 || b->logits_rows[r] >= b->n_tokens)
            return vc_errorf(err, "forward: logits_rows[%d] = %d, expected 0..%d", r,
                             b->logits_rows[r], b->n_tokens - 1);
    return 0;
}

static void embed(const vc_transformer *t, const vc_batch *b) {
    const vc_tensor *e = &t->m->tok_embd;
    const int dim = t->m->cfg.dim;
    const size_t row_bytes = vc_row_bytes(e->type, dim);
    for (int i = 0; i < b->n_tokens; i++) {
        const uint8_t *row = (const uint8_t *)e->data + (size_t)b->tokens[i] * row_bytes;
        float *dst = t->x + (size_t)i * dim;
        if (e->type == VC_F32) memcpy(dst, row, (size_t)dim * sizeof(float));
        else vc_dequantize_row(e->type, row, dst, dim);
    }
}

/* the activation mode of every matmul. The default's one 8-bit row per
 * activation row holds silu(gate) * up's outliers too (a scale per 32
 * values): float activations or value + residual pairs at the down
 * projection scored 0.05-0.09% lower perplexity (docs/forward.md) at ~1.2x
 * the prefill time */
static vc_act act_of(const vc_transformer *t) {
    switch (t->numerics) {
    case VC_NUMERICS_ACT8: return VC_ACT_Q8;
    case VC_NUMERICS_PRECISE: return VC_ACT_PAIRS;
    default: return VC_ACT_AUTO;
    }
}

/* The row-wise steps between the matmuls (norms, bias, rope, KV store,
 * residual adds, SwiGLU) on token rows [r0, r1): each row computed by
 * itself, so the pool may split a batch's rows anywhere (the same bytes). On
 * one thread they were 5-6% of a prefill or batch-64 decode with the other
 * thread idle. */
/* ROWS_ADD_NORM: x += xn (a residual), then xn = rmsnorm(x) with the job's
 * norm weights (the FFN's, or the next layer's attention norm) */
typedef enum { ROWS_ATTN_IN, ROWS_QKV, ROWS_SILU, ROWS_RESID, ROWS_ADD_NORM } rows_step;

typedef struct rows_job {
    vc_transformer *t;
    vc_kv_cache *kv;
    const vc_batch *b;
    int l, n_rows, per_task;
    rows_step step;
    const float *norm; /* ROWS_ADD_NORM's weights */
} rows_job;

static void rows_run(const rows_job *j, int r0, int r1) {
    vc_transformer *t = j->t;
    const vc_config *c = &t->m->cfg;
    const layer_vecs *V = &t->vecs[j->l];
    const int n = r1 - r0, hd = c->head_dim, q_dim = c->n_heads * hd, kv_dim = c->n_kv_heads * hd;
    float *x = t->x + (size_t)r0 * c->dim, *xn = t->xn + (size_t)r0 * c->dim;
    switch (j->step) {
    case ROWS_ATTN_IN: vc_cpu_rmsnorm(xn, x, V->attn_norm, n, c->dim, c->rms_eps); break;
    case ROWS_QKV: {
        float *q = t->q + (size_t)r0 * q_dim, *k = t->k + (size_t)r0 * kv_dim, *v = t->v + (size_t)r0 * kv_dim;
        if (V->bq) {
            vc_cpu_add_bias(q, V->bq, n, q_dim);
            vc_cpu_add_bias(k, V->bk, n, kv_dim);
            vc_cpu_add_bias(v, V->bv, n, kv_dim);
        }
        if (V->q_norm) { /* per head: rows of head_dim */
            vc_cpu_rmsnorm(q, q, V->q_norm, n * c->n_heads, hd, c->rms_eps);
            vc_cpu_rmsnorm(k, k, V->k_norm, n * c->n_kv_heads, hd, c->rms_eps);
        }
        vc_cpu_rope(q, n, c->n_heads, hd, j->b->positions + r0, t->inv_freq, c->rope_neox);
        vc_cpu_rope(k, n, c->n_kv_heads, hd, j->b->positions + r0, t->inv_freq, c->rope_neox);
        vc_cpu_kv_store(j->kv, j->l, k, v, j->b->slot_mapping + r0, n);
        break;
    }
    case ROWS_SILU: /* row by row: a row's vector / scalar split never depends on its neighbours */
        for (int r = r0; r < r1; r++)
            vc_cpu_silu_mul(t->gate + (size_t)r * c->hidden_dim, t->up + (size_t)r * c->hidden_dim,
                            (size_t)c->hidden_dim);
        break;
    case ROWS_RESID: vc_cpu_add(x, xn, (size_t)n * c->dim); break;
    case ROWS_ADD_NORM:
        vc_cpu_add(x, xn, (size_t)n * c->dim);
        vc_cpu_rmsnorm(xn, x, j->norm, n, c->dim, c->rms_eps);
        break;
    }
}

static void rows_task(void *arg, int64_t task) {
    const rows_job *j = arg;
    const int r0 = (int)task * j->per_task, r1 = r0 + j->per_task < j->n_rows ? r0 + j->per_task : j->n_rows;
    rows_run(j, r0, r1);
}

enum { ROWS_PARALLEL_MIN = 16 }; /* fewer rows: on the caller (waking the workers costs more) */

static void rows(vc_transformer *t, vc_kv_cache *kv, const vc_batch *b, int l, rows_step step, const float *norm) {
    rows_job j = { .t = t, .kv = kv, .b = b, .l = l, .n_rows = b->n_tokens, .step = step, .norm = norm };
    const int threads = vc_pool_threads(t->pool);
    if (j.n_rows < ROWS_PARALLEL_MIN || threads == 1) {
        rows_run(&j, 0, j.n_rows);
        return;
    }
    /* 4 tasks per thread */
    j.per_task = (j.n_rows + 4 * threads - 1) / (4 * threads);
    vc_pool_run(t->pool, (j.n_rows + j.per_task - 1) / j.per_task, rows_task, &j);
}

static void attention_block(vc_transformer *t, vc_kv_cache *kv, const vc_batch *b, int l) {
    const vc_config *c = &t->m->cfg;
    const vc_layer_weights *L = &t->m->layers[l];
    const int T = b->n_tokens, hd = c->head_dim;
    vc_pool *nt = t->pool;

    if (l == 0) rows(t, kv, b, l, ROWS_ATTN_IN, NULL); /* later layers: with the previous FFN's residual */
    const vc_tensor *wqkv[3] = { &L->wq, &L->wk, &L->wv };
    float *const yqkv[3] = { t->q, t->k, t->v };
    vc_cpu_matmul_act(3, wqkv, t->xn, T, yqkv, nt, act_of(t));
    rows(t, kv, b, l, ROWS_QKV, NULL);
    vc_cpu_paged_attention(t->att, t->q, kv, l, T, c->n_heads, b->positions, t->seq_of_token,
                           b->block_tables, b->max_blocks_per_seq, c->sliding_window,
                           1.0f / sqrtf((float)hd), nt);
    const vc_tensor *wo = &L->wo;
    vc_cpu_matmul_act(1, &wo, t->att, T, &t->xn, nt, act_of(t));
}

static void ffn_block(vc_transformer *t, vc_kv_cache *kv, const vc_batch *b, int l) {
    const vc_layer_weights *L = &t->m->layers[l];
    const int T = b->n_tokens;
    rows(t, kv, b, l, ROWS_ADD_NORM, t->vecs[l].ffn_norm); /* the attention's residual, the FFN's norm */
    const vc_tensor *wgu[2] = { &L->w_gate, &L->w_up };
    float *const ygu[2] = { t->gate, t->up };
    vc_cpu_matmul_act(2, wgu, t->xn, T, ygu, t->pool, act_of(t));
    rows(t, kv, b, l, ROWS_SILU, NULL);
    const vc_tensor *wd = &L->w_down;
    vc_cpu_matmul_act(1, &wd, t->gate, T, &t->xn, t->pool, act_of(t));
    /* the FFN's residual, and the next layer's attention norm */
    if (l + 1 < t->m->cfg.n_layers) rows(t, kv, b, l, ROWS_ADD_NORM, t->vecs[l + 1].attn_norm);
    else rows(t, kv, b, l, ROWS_RESID, NULL);
}

int vc_transformer_forward(vc_transformer *t, vc_kv_cache *kv, const vc_batch *b, float *logits,
                           vc_error *err) {
    if (validate_batch(t, kv, b, err)) return -1;
    const vc_config *c = &t->m->cfg;
    embed(t, b);
    for (int l = 0; l < c->n_layers; l++) {
        attention_block(t, kv, b, l);
        ffn_block(t, kv, b, l);
    }
    if (b->n_logits == 0) return 0;
    /* gather the rows that want logits, then norm + head on those only */
    for (int r = 0; r < b->n_logits; r++)
        memcpy(t->xn + (size_t)r * c->dim, t->x + (size_t)b->logits_rows[r] * c->dim,
               (size_t)c->dim * sizeof(float));
    vc_cpu_rmsnorm(t->xn, t->xn, t->out_norm, b->n_logits, c->dim, c->rms_eps);
    const vc_tensor *out = &t->m->output;
    vc_cpu_matmul_act(1, &out, t->xn, b->n_logits, &logits, t->pool, act_of(t));
    return 0;
}
