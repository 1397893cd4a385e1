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

#include "backend/cpu/vexp.h"
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

/* s[j] = e^(s[j] - m) for j < n (n <= SCORE_CHUNK; s has room for
 * SCORE_CHUNK); returns their sum (AVX2: 8-lane partial sums, then the
 * lanes; else in order) */
static float exp_shifted(float *s, int n, float m) {
#ifdef VC_ATT_AVX2
    /* pad to whole vectors with -inf so that every score takes the same path */
    for (int j = n; j < ((n + 7) & ~7); j++) s[j] = -INFINITY;
    const __m256 vm = _mm256_set1_ps(m);
    __m256 sum = _mm256_setzero_ps();
    for (int j = 0; j < n; j += 8) {
        const __m256 e = vc_exp8_nonpos(_mm256_sub_ps(_mm256_loadu_ps(s + j), vm));
        _mm256_storeu_ps(s + j, e);
        sum = _mm256_add_ps(sum, e);
    }
    __m128 lo = _mm_add_ps(_mm256_castps256_ps128(sum), _mm256_extractf128_ps(sum, 1));
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
    return _mm_cvtss_f32(lo);
#else
    float sum = 0.0f;
    for (int j = 0; j < n; j++) {
        s[j] = expf(s[j] - m);
        sum += s[j];
    }
    return sum;
#endif
}

/* value i of a K or V row in the KV dtype, as a float (exact) */
static inline float load1_kv(vc_dtype dtype, const uint8_t *v, int i) {
    if (dtype == VC_F32) return ((const float *)v)[i];
    if (dtype == VC_F16) return vc_f16_to_f32(((const uint16_t *)v)[i]);
    return vc_bf16_to_f32(((const uint16_t *)v)[i]);
}

#ifdef VC_ATT_AVX2
/* values i .. i + 7 of a K or V row, as floats (exact) */
static inline __m256 load8_kv(vc_dtype dtype, const uint8_t *v, int i) {
    if (dtype == VC_F32) return _mm256_loadu_ps((const float *)v + i);
    const __m128i h = _mm_loadu_si128((const __m128i *)((const uint16_t *)v + i));
    if (dtype == VC_F16) return _mm256_cvtph_ps(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}
#endif

/* acc[i] = acc[i] * corr + p * v[i] */
static void scale_axpy(float *acc, float corr, float p, vc_dtype dtype, const uint8_t *v, int n) {
    int i = 0;
#ifdef VC_ATT_AVX2
    const __m256 vc = _mm256_set1_ps(corr), vp = _mm256_set1_ps(p);
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(acc + i, _mm256_fmadd_ps(vp, load8_kv(dtype, v, i), _mm256_mul_ps(_mm256_loadu_ps(acc + i), vc)));
#endif
    for (; i < n; i++) {
        const float x = load1_kv(dtype, v, i);
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
    for (; i + 16 <= n; i += 16) {
        a0 = _mm256_fmadd_ps(load8_kv(dtype, k, i), _mm256_loadu_ps(q + i), a0);
        a1 = _mm256_fmadd_ps(load8_kv(dtype, k, i + 8), _mm256_loadu_ps(q + i + 8), a1);
    }
    if (i + 8 <= n) {
        a0 = _mm256_fmadd_ps(load8_kv(dtype, k, i), _mm256_loadu_ps(q + i), a0);
        i += 8;
    }
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
        s += load1_kv(dtype, k, i) * q[i];
    }
    return s;
}

#ifdef VC_ATT_AVX2
/* out[p] = q . k[p] for 8 float rows k[p] (head_dim n, n % 8 == 0): one
 * 8-lane accumulator per row over the dims in order, then the 8 horizontal
 * sums together (pairwise within each row: ((0+1)+(2+3)) + ((4+5)+(6+7))) */
static void kdot8(const float *const *k, const float *q, int n, float *out) {
    __m256 s[8];
    for (int p = 0; p < 8; p++) s[p] = _mm256_setzero_ps();
    for (int i = 0; i < n; i += 8) {
        const __m256 qv = _mm256_loadu_ps(q + i);
        for (int p = 0; p < 8; p++) s[p] = _mm256_fmadd_ps(_mm256_loadu_ps(k[p] + i), qv, s[p]);
    }
    const __m256 t0 = _mm256_hadd_ps(s[0], s[1]), t1 = _mm256_hadd_ps(s[2], s[3]);
    const __m256 t2 = _mm256_hadd_ps(s[4], s[5]), t3 = _mm256_hadd_ps(s[6], s[7]);
    const __m256 u0 = _mm256_hadd_ps(t0, t1), u1 = _mm256_hadd_ps(t2, t3);
    _mm256_storeu_ps(out, _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20),
                                        _mm256_permute2f128_ps(u0, u1, 0x31)));
}

/* dst[p] = the n K or V rows src[p] as floats: F32 rows in place, F16 /
 * BF16 rows converted (exactly) into buf ([n][hd]) */
static void rows_f32(vc_dtype dtype, const uint8_t *const *src, int n, int hd, float *buf, const float **dst) {
    for (int p = 0; p < n; p++) {
        if (dtype == VC_F32) {
            dst[p] = (const float *)(const void *)src[p];
            continue;
        }
        float *d = buf + (size_t)p * hd;
        for (int i = 0; i < hd; i += 8) _mm256_storeu_ps(d + i, load8_kv(dtype, src[p], i));
        dst[p] = d;
    }
}
#endif

typedef struct att_job {
    float *out;
    const float *q;
    const vc_kv_cache *kv;
    int layer, n_heads, n_tokens;
    const int32_t *positions, *seq_of_token, *block_tables;
    int max_blocks, sliding_window;
    int tile_tokens;   /* most tokens per tile (1: no tiles) */
    float scale;
} att_job;

enum { GROUP_MAX = 8,      /* query heads sharing one pass over K/V */
       TILE_TOKENS = 8,    /* consecutive tokens of a sequence sharing one pass */
       TILE_ROWS = 32,     /* (token, head) rows of a tile */
       TILE_FLOATS = 8192  /* their accumulators */ };

static int window_start(const att_job *J, int t) {
    const int pos = J->positions[t], w = J->sliding_window;
    return w > 0 && pos - w + 1 > 0 ? pos - w + 1 : 0;
}

/* Query heads [h0, h0 + ng) of token t, all reading kv head kvh (the path
 * without AVX2, or head dims that are not a multiple of 8). Each head keeps
 * its own running max, sum and accumulator. */
static void attend_heads(const att_job *J, int t, int kvh, int h0, int ng) {
    const vc_kv_cache *kv = J->kv;
    const int layer = J->layer, n_heads = J->n_heads;
    const int hd = kv->head_dim, bs = kv->block_size;
    const size_t elem = kv->slot_bytes / ((size_t)kv->n_kv_heads * hd);
    const float scale = J->scale;
    const int s = J->seq_of_token[t], pos = J->positions[t];
    const int32_t *table = J->block_tables + (size_t)s * J->max_blocks;
    const int j0 = window_start(J, t);

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
            for (int j = 0; j <= c1 - c0; j++) cm = scores[g][j] > cm ? scores[g][j] : cm;
            const float m_new = cm > m[g] ? cm : m[g];
            corr[g] = expf(m[g] - m_new); /* 0 on the first chunk (m = -inf) */
            l[g] *= corr[g];
            m[g] = m_new;
            l[g] += exp_shifted(scores[g], c1 - c0 + 1, m_new);
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

#ifdef VC_ATT_AVX2
/* A tile: tokens [t0, t0 + nt) of one sequence at consecutive positions,
 * sharing one window start (nt = 1 where a sliding window cuts in), x query
 * heads [h0, h0 + ng) of kv head kvh; row r = token r / ng, head r % ng.
 * Each 8 K or V positions are loaded (and converted to floats) once for all
 * the rows. Every row goes through exactly the operations it would alone,
 * in the same order: its chunks of SCORE_CHUNK positions from the window
 * start, the scores 8 positions at a time (kdot8; the positions past the
 * row's own end are computed on other positions and dropped), the online
 * softmax, then acc * corr and one fma per position in order. */
static void attend_tile(const att_job *J, int t0, int nt, int kvh, int h0, int ng) {
    const vc_kv_cache *kv = J->kv;
    const int layer = J->layer, n_heads = J->n_heads;
    const int hd = kv->head_dim, bs = kv->block_size;
    const size_t elem = kv->slot_bytes / ((size_t)kv->n_kv_heads * hd);
    const float scale = J->scale;
    const int32_t *table = J->block_tables + (size_t)J->seq_of_token[t0] * J->max_blocks;
    const int pos0 = J->positions[t0], pos_last = pos0 + nt - 1, j0 = window_start(J, t0);
    const int R = nt * ng;

    float acc[TILE_FLOATS];                  /* [R][hd] */
    float scores[TILE_ROWS][SCORE_CHUNK];
    float m[TILE_ROWS], l[TILE_ROWS], corr[TILE_ROWS];
    float buf[8 * MAX_HEAD_DIM];             /* 8 converted K or V rows */
    const float *qr[TILE_ROWS];
    for (int r = 0; r < R; r++) {
        memset(acc + (size_t)r * hd, 0, (size_t)hd * sizeof(float));
        m[r] = -INFINITY;
        l[r] = 0.0f;
        qr[r] = J->q + ((size_t)(t0 + r / ng) * n_heads + h0 + r % ng) * hd;
    }
    for (int c0 = j0; c0 <= pos_last; c0 += SCORE_CHUNK) {
        const int len_max = (c0 + SCORE_CHUNK - 1 < pos_last ? c0 + SCORE_CHUNK - 1 : pos_last) - c0 + 1;
        /* rows of tokens whose context ends before c0 are done */
        const int r0 = (c0 > pos0 ? c0 - pos0 : 0) * ng;
        int len[TILE_ROWS];
        for (int r = r0; r < R; r++) {
            const int pos = pos0 + r / ng;
            len[r] = (c0 + SCORE_CHUNK - 1 < pos ? c0 + SCORE_CHUNK - 1 : pos) - c0 + 1;
        }
        /* scores, 8 positions at a time (the last group padded with the
         * tile's last position) */
        for (int jb = 0; jb < len_max; jb += 8) {
            const uint8_t *src[8];
            const float *kf[8];
            for (int p = 0; p < 8; p++) {
                const int j = c0 + (jb + p < len_max ? jb + p : len_max - 1);
                src[p] = vc_kv_k_slot(kv, layer, (int64_t)table[j / bs] * bs + j % bs) + (size_t)kvh * hd * elem;
            }
            rows_f32(kv->dtype, src, 8, hd, buf, kf);
            for (int r = r0; r < R; r++) {
                if (jb >= len[r]) continue;
                float s8[8];
                kdot8(kf, qr[r], hd, s8);
                for (int u = 0; u < 8 && jb + u < len[r]; u++) scores[r][jb + u] = s8[u] * scale;
            }
        }
        for (int r = r0; r < R; r++) {
            float cm = -INFINITY;
            int j = 0;
            __m256 vmax = _mm256_set1_ps(-INFINITY);
            for (; j + 8 <= len[r]; j += 8) vmax = _mm256_max_ps(vmax, _mm256_loadu_ps(scores[r] + j));
            float m8[8];
            _mm256_storeu_ps(m8, vmax);
            for (int u = 0; u < 8; u++) cm = m8[u] > cm ? m8[u] : cm;
            for (; j < len[r]; j++) cm = scores[r][j] > cm ? scores[r][j] : cm;
            const float m_new = cm > m[r] ? cm : m[r];
            corr[r] = expf(m[r] - m_new); /* 0 on the first chunk (m = -inf) */
            l[r] *= corr[r];
            m[r] = m_new;
            l[r] += exp_shifted(scores[r], len[r], m_new);
        }
        /* acc = acc * corr, then + p_j v_j in order, 8 positions at a time
         * (acc in registers, 4 or 1 vectors of 8 dims, within a group) */
        for (int jb = 0; jb < len_max; jb += 8) {
            const int n8 = len_max - jb < 8 ? len_max - jb : 8;
            const uint8_t *src[8];
            const float *vf[8];
            for (int p = 0; p < n8; p++) {
                const int j = c0 + jb + p;
                src[p] = vc_kv_v_slot(kv, layer, (int64_t)table[j / bs] * bs + j % bs) + (size_t)kvh * hd * elem;
            }
            rows_f32(kv->dtype, src, n8, hd, buf, vf);
            for (int r = r0; r < R; r++) {
                if (jb >= len[r]) continue;
                const int nj = len[r] - jb < 8 ? len[r] - jb : 8;
                float *a = acc + (size_t)r * hd;
                const float *p = scores[r] + jb;
                const __m256 vc = _mm256_set1_ps(jb == 0 ? corr[r] : 1.0f);
                int i0 = 0;
                for (; hd % 32 == 0 && i0 < hd; i0 += 32) {
                    __m256 a0 = _mm256_loadu_ps(a + i0), a1 = _mm256_loadu_ps(a + i0 + 8);
                    __m256 a2 = _mm256_loadu_ps(a + i0 + 16), a3 = _mm256_loadu_ps(a + i0 + 24);
                    if (jb == 0) {
                        a0 = _mm256_mul_ps(a0, vc);
                        a1 = _mm256_mul_ps(a1, vc);
                        a2 = _mm256_mul_ps(a2, vc);
                        a3 = _mm256_mul_ps(a3, vc);
                    }
                    for (int j = 0; j < nj; j++) {
                        const __m256 vp = _mm256_set1_ps(p[j]);
                        a0 = _mm256_fmadd_ps(vp, _mm256_loadu_ps(vf[j] + i0), a0);
                        a1 = _mm256_fmadd_ps(vp, _mm256_loadu_ps(vf[j] + i0 + 8), a1);
                        a2 = _mm256_fmadd_ps(vp, _mm256_loadu_ps(vf[j] + i0 + 16), a2);
                        a3 = _mm256_fmadd_ps(vp, _mm256_loadu_ps(vf[j] + i0 + 24), a3);
                    }
                    _mm256_storeu_ps(a + i0, a0);
                    _mm256_storeu_ps(a + i0 + 8, a1);
                    _mm256_storeu_ps(a + i0 + 16, a2);
                    _mm256_storeu_ps(a + i0 + 24, a3);
                }
                for (; i0 < hd; i0 += 8) {
                    __m256 a0 = _mm256_loadu_ps(a + i0);
                    if (jb == 0) a0 = _mm256_mul_ps(a0, vc);
                    for (int j = 0; j < nj; j++)
                        a0 = _mm256_fmadd_ps(_mm256_set1_ps(p[j]), _mm256_loadu_ps(vf[j] + i0), a0);
                    _mm256_storeu_ps(a + i0, a0);
                }
            }
        }
    }
    for (int r = 0; r < R; r++) {
        float *o = J->out + ((size_t)(t0 + r / ng) * n_heads + h0 + r % ng) * hd;
        const float *a = acc + (size_t)r * hd;
        const float inv_l = 1.0f / l[r];
        for (int i = 0; i < hd; i++) o[i] = a[i] * inv_l;
    }
}
#endif

/* token t starts a tile: a new sequence or a gap in positions, a window
 * that cuts in (then each token is a tile of its own), or a position that
 * is a multiple of the tile size (so that tiles are found from any token) */
static int tile_start(const att_job *J, int t) {
    if (t == 0 || J->tile_tokens == 1) return 1;
    if (J->seq_of_token[t] != J->seq_of_token[t - 1] || J->positions[t] != J->positions[t - 1] + 1) return 1;
    if (window_start(J, t) != window_start(J, t - 1)) return 1;
    return J->positions[t] % J->tile_tokens == 0;
}

/* one (tile starting at token t, kv head): its group of query heads,
 * GROUP_MAX at a time; tasks of tokens inside a tile do nothing (a kv head
 * per task keeps a lone decoded token's attention on several threads) */
static void att_task(void *arg, int64_t task) {
    const att_job *J = arg;
    const int n_kv = J->kv->n_kv_heads, group = J->n_heads / n_kv;
    const int t = (int)(task / n_kv), kvh = (int)(task % n_kv);
    if (!tile_start(J, t)) return;
    int nt = 1;
    while (nt < J->tile_tokens && t + nt < J->n_tokens && !tile_start(J, t + nt)) nt++;
    for (int g0 = 0; g0 < group; g0 += GROUP_MAX) {
        const int ng = group - g0 < GROUP_MAX ? group - g0 : GROUP_MAX;
#ifdef VC_ATT_AVX2
        if (J->kv->head_dim % 8 == 0) {
            attend_tile(J, t, nt, kvh, kvh * group + g0, ng);
            continue;
        }
#endif
        attend_heads(J, t, kvh, kvh * group + g0, ng);
    }
}

void vc_cpu_paged_attention(float *out, const float *q, const vc_kv_cache *kv, int layer,
                            int n_tokens, int n_heads, const int32_t *positions,
                            const int32_t *seq_of_token, const int32_t *block_tables,
                            int max_blocks, int sliding_window, float scale, vc_pool *pool) {
    att_job job = { out, q, kv, layer, n_heads, n_tokens, positions, seq_of_token, block_tables,
                    max_blocks, sliding_window, 1, scale };
#ifdef VC_ATT_AVX2
    if (kv->head_dim % 8 == 0) {
        /* as many tokens as the tile's rows and accumulators hold */
        const int group = n_heads / kv->n_kv_heads, ng = group < GROUP_MAX ? group : GROUP_MAX;
        int nt = TILE_TOKENS;
        while (nt > 1 && (nt * ng > TILE_ROWS || nt * ng * kv->head_dim > TILE_FLOATS)) nt /= 2;
        job.tile_tokens = nt;
    }
#endif
    /* short contexts are not worth waking the workers */
    int64_t work = 0;
    for (int t = 0; t < n_tokens; t++)
        work += sliding_window > 0 && positions[t] + 1 > sliding_window ? sliding_window : positions[t] + 1;
    work *= (int64_t)n_heads * kv->head_dim;
    vc_pool_run(work < 65536 ? NULL : pool, (int64_t)n_tokens * kv->n_kv_heads, att_task, &job);
}
