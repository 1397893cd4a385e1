/* Paged attention over the KV pool, and the K/V store that fills it.
 *
 * One task per (token, kv head), independent of every other task; it serves
 * the query heads of that kv head (GQA) in one pass over K/V. The scores of a
 * head are reduced over its own context in chunks of SCORE_CHUNK positions
 * counted from the start of its window, with an online softmax (running max
 * and sum). The arithmetic for a token therefore depends only on its own
 * sequence's K/V and position, never on the batch. */
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

/* q . k for one head, k in the KV dtype; fixed order: two 8-lane
 * accumulators over 16-value steps, then 8, then scalars */
static inline float kdot(vc_dtype dtype, const uint8_t *k, const float *q, int n) {
#ifdef VC_ATT_AVX2
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    int i = 0;
#define KLOAD(i)                                                                                   \
    (dtype == VC_F32 ? _mm256_loadu_ps((const float *)k + (i))                                     \
     : dtype == VC_F16 ? _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)k + (i)))) \
     : _mm256_castsi256_ps(_mm256_slli_epi32(                                                      \
           _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)((const uint16_t *)k + (i)))), 16)))
    for (; i + 16 <= n; i += 16) {
        a0 = _mm256_fmadd_ps(KLOAD(i), _mm256_loadu_ps(q + i), a0);
        a1 = _mm256_fmadd_ps(KLOAD(i + 8), _mm256_loadu_ps(q + i + 8), a1);
    }
    if (i + 8 <= n) {
        a0 = _mm256_fmadd_ps(KLOAD(i), _mm256_loadu_ps(q + i), a0);
        i += 8;
    }
#undef KLOAD
    __m256 v = _mm256_add_ps(a0, a1);
    __m128 lo = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
    float s = _mm_cvtss_f32(lo);
#else
    float s = 0.0f;
    int i = 0;
#endif
    for (; i < n; i++) {
        float x;
        if (dtype == VC_F32) x = ((const float *)k)[i];
        else if (dtype == VC_F16) x = vc_f16_to_f32(((const uint16_t *)k)[i]);
        else x = vc_bf16_to_f32(((const uint16_t *)k)[i]);
        s += x * q[i];
    }
    return s;
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

enum { GROUP_MAX = 8 };   /* query heads sharing one pass over K/V */

/* Query heads [h0, h0 + ng) of token t, all reading kv head kvh: K and V of
 * each position are loaded once for the ng heads. Each head keeps its own
 * running max, sum and accumulator, in exactly the order a lone head would. */
static void attend_heads(const att_job *J, int t, int kvh, int h0, int ng) {
    const vc_kv_cache *kv = J->kv;
    const int layer = J->layer, n_heads = J->n_heads, sliding_window = J->sliding_window;
    const int hd = kv->head_dim, bs = kv->block_size;
    const size_t elem = kv->slot_bytes / ((size_t)kv->n_kv_heads * hd);
    const float scale = J->scale;
    const int s = J->seq_of_token[t], pos = J->positions[t];
    const int32_t *table = J->block_tables + (size_t)s * J->max_blocks;
    const int j0 = sliding_window > 0 && pos - sliding_window + 1 > 0 ? pos - sliding_window + 1 : 0;

    float acc[GROUP_MAX][MAX_HEAD_DIM];
    float scores[GROUP_MAX][SCORE_CHUNK];
    float m[GROUP_MAX], l[GROUP_MAX], corr[GROUP_MAX];
    const float *qh[GROUP_MAX];
    for (int g = 0; g < ng; g++) {
        memset(acc[g], 0, (size_t)hd * sizeof(float));
        m[g] = -INFINITY;
        l[g] = 0.0f;
        qh[g] = J->q + ((size_t)t * n_heads + h0 + g) * hd;
    }
    for (int c0 = j0; c0 <= pos; c0 += SCORE_CHUNK) {
        const int c1 = c0 + SCORE_CHUNK - 1 < pos ? c0 + SCORE_CHUNK - 1 : pos;
        for (int j = c0; j <= c1; j++) {
            const int64_t slot = (int64_t)table[j / bs] * bs + j % bs;
            const uint8_t *k = vc_kv_k_slot(kv, layer, slot) + (size_t)kvh * hd * elem;
            for (int g = 0; g < ng; g++) scores[g][j - c0] = kdot(kv->dtype, k, qh[g], hd) * scale;
        }
        for (int g = 0; g < ng; g++) {
            float cm = -INFINITY;
            for (int j = 0; j <= c1 - c0; j++)
                if (scores[g][j] > cm) cm = scores[g][j];
            const float m_new = cm > m[g] ? cm : m[g];
            corr[g] = expf(m[g] - m_new); /* 0 on the first chunk (m = -inf) */
            l[g] *= corr[g];
            m[g] = m_new;
            for (int j = 0; j <= c1 - c0; j++) {
                scores[g][j] = expf(scores[g][j] - m_new);
                l[g] += scores[g][j];
            }
        }
        for (int j = c0; j <= c1; j++) {
            const int64_t slot = (int64_t)table[j / bs] * bs + j % bs;
            const uint8_t *v = vc_kv_v_slot(kv, layer, slot) + (size_t)kvh * hd * elem;
            for (int g = 0; g < ng; g++)
                scale_axpy(acc[g], j == c0 ? corr[g] : 1.0f, scores[g][j - c0], kv->dtype, v, hd);
        }
    }
    for (int g = 0; g < ng; g++) {
        float *o = J->out + ((size_t)t * n_heads + h0 + g) * hd;
        const float inv_l = 1.0f / l[g];
        for (int i = 0; i < hd; i++) o[i] = acc[g][i] * inv_l;
    }
}

/* one (token, kv head): its group of query heads, GROUP_MAX at a time */
static void att_task(void *arg, int64_t task) {
    const att_job *J = arg;
    const int n_kv = J->kv->n_kv_heads, group = J->n_heads / n_kv;
    const int t = (int)(task / n_kv), kvh = (int)(task % n_kv);
    for (int g0 = 0; g0 < group; g0 += GROUP_MAX)
        attend_heads(J, t, kvh, kvh * group + g0, group - g0 < GROUP_MAX ? group - g0 : GROUP_MAX);
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
    vc_pool_run(work < 65536 ? NULL : pool, (int64_t)n_tokens * kv->n_kv_heads, att_task, &job);
}
