/* Paged attention over the KV pool, and the K/V store that fills it.
 *
 * One task per (token, query head), independent of every other task: the
 * scores of a token are reduced over its own context in chunks of
 * SCORE_CHUNK positions counted from the start of its window, with an online
 * softmax (running max and sum). The arithmetic for a token therefore depends
 * only on its own sequence's K/V and position, never on the batch. */
#include "backend/backend.h"

#include <math.h>
#include <string.h>

#include "model/quant.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>
#define VC_ATT_AVX2 1
#endif

enum { SCORE_CHUNK = 64, MAX_HEAD_DIM = 1024 };

static void store_row(vc_dtype dtype, uint8_t *dst, const float *src, int n) {
    if (dtype == VC_F32) {
        memcpy(dst, src, (size_t)n * sizeof(float));
    } else if (dtype == VC_F16) {
        uint16_t *d = (uint16_t *)dst;
        for (int i = 0; i < n; i++) d[i] = vc_f32_to_f16(src[i]);
    } else { /* VC_BF16 */
        uint16_t *d = (uint16_t *)dst;
        for (int i = 0; i < n; i++) d[i] = vc_f32_to_bf16(src[i]);
    }
}

void vc_cpu_kv_store(vc_kv_cache *kv, int layer, const float *k, const float *v,
                     const int32_t *slot_mapping, int n_tokens) {
    const int n = kv->n_kv_heads * kv->head_dim;
    for (int t = 0; t < n_tokens; t++) {
        store_row(kv->dtype, vc_kv_k_slot(kv, layer, slot_mapping[t]), k + (size_t)t * n, n);
        store_row(kv->dtype, vc_kv_v_slot(kv, layer, slot_mapping[t]), v + (size_t)t * n, n);
    }
}

/* acc[i] = acc[i] * corr + p * v[i] */
static void scale_axpy(float *acc, float corr, float p, vc_dtype dtype, const uint8_t *v, int n) {
    int i = 0;
#ifdef VC_ATT_AVX2
    const __m256 vc = _mm256_set1_ps(corr), vp = _mm256_set1_ps(p);
    for (; i + 8 <= n; i += 8) {
        __m256 x;
        if (dtype == VC_F32) x = _mm256_loadu_ps((const float *)v + i);
        else if (dtype == VC_F16) x = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)v + i)));
        else x = _mm256_castsi256_ps(_mm256_slli_epi32(
                 _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)((const uint16_t *)v + i))), 16));
        _mm256_storeu_ps(acc + i, _mm256_fmadd_ps(vp, x, _mm256_mul_ps(_mm256_loadu_ps(acc + i), vc)));
    }
#endif
    for (; i < n; i++) {
        float x;
        if (dtype == VC_F32) x = ((const float *)v)[i];
        else if (dtype == VC_F16) x = vc_f16_to_f32(((const uint16_t *)v)[i]);
        else x = vc_bf16_to_f32(((const uint16_t *)v)[i]);
#ifdef VC_ATT_AVX2
        acc[i] = fmaf(p, x, acc[i] * corr);
#else
        acc[i] = acc[i] * corr + p * x;
#endif
    }
}

typedef struct att_job {
    float *out;
    const float *q;
    const vc_kv_cache *kv;
    int layer, n_heads;
    const int32_t *positions, *seq_of_token, *block_tables;
    int max_blocks, sliding_window;
    float scale;
} att_job;

/* one (token, query head) */
static void att_task(void *arg, int64_t task) {
    const att_job *J = arg;
    const vc_kv_cache *kv = J->kv;
    const int layer = J->layer, n_heads = J->n_heads, sliding_window = J->sliding_window;
    const int hd = kv->head_dim, bs = kv->block_size;
    const int group = n_heads / kv->n_kv_heads;
    const size_t elem = kv->slot_bytes / ((size_t)kv->n_kv_heads * hd);
    const float scale = J->scale;
    const int t = (int)(task / n_heads), h = (int)(task % n_heads);
    const int s = J->seq_of_token[t], pos = J->positions[t];
    const int kvh = h / group;
    const int32_t *table = J->block_tables + (size_t)s * J->max_blocks;
    const float *qh = J->q + ((size_t)t * n_heads + h) * hd;
    const int j0 = sliding_window > 0 && pos - sliding_window + 1 > 0 ? pos - sliding_window + 1 : 0;

    float acc[MAX_HEAD_DIM];
    float scores[SCORE_CHUNK];
    memset(acc, 0, (size_t)hd * sizeof(float));
    float m = -INFINITY, l = 0.0f;
    for (int c0 = j0; c0 <= pos; c0 += SCORE_CHUNK) {
        const int c1 = c0 + SCORE_CHUNK - 1 < pos ? c0 + SCORE_CHUNK - 1 : pos;
        float cm = -INFINITY;
        for (int j = c0; j <= c1; j++) {
            const int64_t slot = (int64_t)table[j / bs] * bs + j % bs;
            const uint8_t *k = vc_kv_k_slot(kv, layer, slot) + (size_t)kvh * hd * elem;
            scores[j - c0] = vc_cpu_dot(kv->dtype, k, qh, hd) * scale;
            if (scores[j - c0] > cm) cm = scores[j - c0];
        }
        const float m_new = cm > m ? cm : m;
        float corr = expf(m - m_new); /* 0 on the first chunk (m = -inf) */
        l *= corr;
        for (int j = c0; j <= c1; j++) {
            const int64_t slot = (int64_t)table[j / bs] * bs + j % bs;
            const uint8_t *v = vc_kv_v_slot(kv, layer, slot) + (size_t)kvh * hd * elem;
            const float p = expf(scores[j - c0] - m_new);
            l += p;
            scale_axpy(acc, corr, p, kv->dtype, v, hd);
            corr = 1.0f;
        }
        m = m_new;
    }
    float *o = J->out + ((size_t)t * n_heads + h) * hd;
    const float inv_l = 1.0f / l;
    for (int i = 0; i < hd; i++) o[i] = acc[i] * inv_l;
}

void vc_cpu_paged_attention(float *out, const float *q, const vc_kv_cache *kv, int layer,
                            int n_tokens, int n_heads, const int32_t *positions,
                            const int32_t *seq_of_token, const int32_t *block_tables,
                            int max_blocks, int sliding_window, float scale, vc_pool *pool) {
    att_job job = { out, q, kv, layer, n_heads, positions, seq_of_token, block_tables,
                    max_blocks, sliding_window, scale };
    /* short contexts are not worth waking the workers */
    int64_t work = 0;
    for (int t = 0; t < n_tokens; t++)
        work += sliding_window > 0 && positions[t] + 1 > sliding_window ? sliding_window : positions[t] + 1;
    work *= (int64_t)n_heads * kv->head_dim;
    vc_pool_run(work < 65536 ? NULL : pool, (int64_t)n_tokens * n_heads, att_task, &job);
}
