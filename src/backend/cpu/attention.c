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
    const int hd = kv->head_dim, n = kv->n_kv_heads * hd;
    for (int t = 0; t < n_tokens; t++)
        for (int h = 0; h < kv->n_kv_heads; h++) {
            store_row(kv->dtype, vc_kv_k_row(kv, layer, slot_mapping[t], h), k + (size_t)t * n + (size_t)h * hd, hd);
            store_row(kv->dtype, vc_kv_v_row(kv, layer, slot_mapping[t], h), v + (size_t)t * n + (size_t)h * hd, hd);
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

/* the pool slot of position j through a sequence's block table */
static inline int64_t pos_slot(const int32_t *table, int bs, int j) {
    return (int64_t)table[j / bs] * bs + j % bs;
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
/* out[p] = the sum of the 8 lanes of s[p] for 8 rows at once, pairwise
 * within each row: ((0+1)+(2+3)) + ((4+5)+(6+7)) */
static inline void hsum8x8(const __m256 s[8], float *out) {
    const __m256 t0 = _mm256_hadd_ps(s[0], s[1]), t1 = _mm256_hadd_ps(s[2], s[3]);
    const __m256 t2 = _mm256_hadd_ps(s[4], s[5]), t3 = _mm256_hadd_ps(s[6], s[7]);
    const __m256 u0 = _mm256_hadd_ps(t0, t1), u1 = _mm256_hadd_ps(t2, t3);
    _mm256_storeu_ps(out, _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20),
                                        _mm256_permute2f128_ps(u0, u1, 0x31)));
}

enum { RB = 3 }; /* query rows per register block: 3 x 8 accumulators */

/* s[b][p] = q[b] . k[p] for NB <= RB rows q[b] and 8 K rows src[p] in the
 * KV dtype (head_dim n, n % 8 == 0). Per row and position one 8-lane
 * accumulator over the dims in order (fma(k, q, s)), then hsum8x8: each
 * row's operations are those it would have alone. Each K value is loaded
 * and converted once for the NB rows (before: the 8 rows converted into a
 * buffer, then read back per row: loads, not fmas, bounded the loop). */
static inline __attribute__((always_inline)) void kdot_block_t(vc_dtype dtype, const uint8_t *const *src,
                                                               const float *const *q, int NB, int n,
                                                               float s[RB][8]) {
    __m256 a[RB][8];
    for (int b = 0; b < NB; b++)
        for (int p = 0; p < 8; p++) a[b][p] = _mm256_setzero_ps();
    for (int i = 0; i < n; i += 8) {
        __m256 qv[RB];
        for (int b = 0; b < NB; b++) qv[b] = _mm256_loadu_ps(q[b] + i);
        for (int p = 0; p < 8; p++) {
            const __m256 kv = load8_kv(dtype, src[p], i);
            for (int b = 0; b < NB; b++) a[b][p] = _mm256_fmadd_ps(kv, qv[b], a[b][p]);
        }
    }
    for (int b = 0; b < NB; b++) hsum8x8(a[b], s[b]);
}

/* for NB <= RB rows b: acc[b][i] (times corr[b] first, unless corr is
 * NULL) += p[b][j] * v_j[i] for j < nj in order, V rows src[j] in the KV
 * dtype (head_dim n, n % 8 == 0); 64 dims at a time (8 independent fma
 * chains per row), each V value loaded and converted once for the rows;
 * each element's steps are the same whatever the blocking */
static inline __attribute__((always_inline)) void pv_block_t(vc_dtype dtype, const uint8_t *const *src, int nj,
                                                             const float *const *p, float *const *acc,
                                                             const float *corr, int NB, int n) {
    int i0 = 0;
    for (; i0 + 64 <= n; i0 += 64) {
        __m256 a[RB][8];
        for (int b = 0; b < NB; b++)
            for (int u = 0; u < 8; u++) {
                a[b][u] = _mm256_loadu_ps(acc[b] + i0 + 8 * u);
                if (corr) a[b][u] = _mm256_mul_ps(a[b][u], _mm256_set1_ps(corr[b]));
            }
        for (int j = 0; j < nj; j++) {
            __m256 vp[RB];
            for (int b = 0; b < NB; b++) vp[b] = _mm256_set1_ps(p[b][j]);
            for (int u = 0; u < 8; u++) {
                const __m256 v = load8_kv(dtype, src[j], i0 + 8 * u);
                for (int b = 0; b < NB; b++) a[b][u] = _mm256_fmadd_ps(vp[b], v, a[b][u]);
            }
        }
        for (int b = 0; b < NB; b++)
            for (int u = 0; u < 8; u++) _mm256_storeu_ps(acc[b] + i0 + 8 * u, a[b][u]);
    }
    for (; i0 < n; i0 += 8) {
        __m256 a[RB];
        for (int b = 0; b < NB; b++) {
            a[b] = _mm256_loadu_ps(acc[b] + i0);
            if (corr) a[b] = _mm256_mul_ps(a[b], _mm256_set1_ps(corr[b]));
        }
        for (int j = 0; j < nj; j++) {
            const __m256 v = load8_kv(dtype, src[j], i0);
            for (int b = 0; b < NB; b++) a[b] = _mm256_fmadd_ps(_mm256_set1_ps(p[b][j]), v, a[b]);
        }
        for (int b = 0; b < NB; b++) _mm256_storeu_ps(acc[b] + i0, a[b]);
    }
}

/* the two with the dtype and the row count as constants */
#define KV_DISPATCH(dtype, nb, CALL)                                           \
    switch ((dtype) * 4 + (nb)) {                                              \
    case VC_F32 * 4 + 1: { const vc_dtype dt_ = VC_F32; const int nb_ = 1; CALL; } break; \
    case VC_F32 * 4 + 2: { const vc_dtype dt_ = VC_F32; const int nb_ = 2; CALL; } break; \
    case VC_F32 * 4 + 3: { const vc_dtype dt_ = VC_F32; const int nb_ = 3; CALL; } break; \
    case VC_F16 * 4 + 1: { const vc_dtype dt_ = VC_F16; const int nb_ = 1; CALL; } break; \
    case VC_F16 * 4 + 2: { const vc_dtype dt_ = VC_F16; const int nb_ = 2; CALL; } break; \
    case VC_F16 * 4 + 3: { const vc_dtype dt_ = VC_F16; const int nb_ = 3; CALL; } break; \
    case VC_BF16 * 4 + 1: { const vc_dtype dt_ = VC_BF16; const int nb_ = 1; CALL; } break; \
    case VC_BF16 * 4 + 2: { const vc_dtype dt_ = VC_BF16; const int nb_ = 2; CALL; } break; \
    default: { const vc_dtype dt_ = VC_BF16; const int nb_ = 3; CALL; } break; \
    }
static void kdot_block(vc_dtype dtype, const uint8_t *const *src, const float *const *q, int nb, int n,
                       float s[RB][8]) {
    KV_DISPATCH(dtype, nb, kdot_block_t(dt_, src, q, nb_, n, s))
}
static void pv_block(vc_dtype dtype, const uint8_t *const *src, int nj, const float *const *p, float *const *acc,
                     const float *corr, int nb, int n) {
    KV_DISPATCH(dtype, nb, pv_block_t(dt_, src, nj, p, acc, corr, nb_, n))
}
#undef KV_DISPATCH

/* One row's online-softmax step over its next n scores s (room for
 * SCORE_CHUNK): the running max *m and sum *l move on, s becomes
 * e^(s - m); returns the factor for the row's accumulator (0 on the first
 * chunk, where *m = -inf) */
static float softmax_step(float *s, int n, float *m, float *l) {
    float cm = -INFINITY;
    int j = 0;
    __m256 vmax = _mm256_set1_ps(-INFINITY);
    for (; j + 8 <= n; j += 8) vmax = _mm256_max_ps(vmax, _mm256_loadu_ps(s + j));
    float m8[8];
    _mm256_storeu_ps(m8, vmax);
    for (int u = 0; u < 8; u++) cm = m8[u] > cm ? m8[u] : cm;
    for (; j < n; j++) cm = s[j] > cm ? s[j] : cm;
    const float m_new = cm > *m ? cm : *m;
    const float corr = expf(*m - m_new);
    *l *= corr;
    *m = m_new;
    *l += exp_shifted(s, n, m_new);
    return corr;
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
    int amx;           /* tiles through attend_tile_amx */
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
            const int64_t slot = pos_slot(table, bs, j);
            const uint8_t *k = vc_kv_k_row(kv, layer, slot, kvh);
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
            const int64_t slot = pos_slot(table, bs, j);
            const uint8_t *v = vc_kv_v_row(kv, layer, slot, kvh);
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
/* a tile's output rows: row r (token t0 + r / ng, head h0 + r % ng) =
 * acc[r] / l[r] */
static void tile_out(const att_job *J, int t0, int h0, int ng, int R, int hd, const float *acc, const float *l) {
    for (int r = 0; r < R; r++) {
        float *o = J->out + ((size_t)(t0 + r / ng) * J->n_heads + h0 + r % ng) * hd;
        const float *a = acc + (size_t)r * hd;
        const float inv_l = 1.0f / l[r];
        for (int i = 0; i < hd; i++) o[i] = a[i] * inv_l;
    }
}

/* The chunk of a tile (rows r = token r / ng, tokens at positions pos0 ..
 * pos_last) starting at position c0: returns its longest row's length;
 * *r0 = the first row still reading (rows of tokens whose context ends
 * before c0 are done), len[r] = each later row's length */
static int chunk_rows(int c0, int pos0, int pos_last, int ng, int R, int *r0, int *len) {
    *r0 = (c0 > pos0 ? c0 - pos0 : 0) * ng;
    for (int r = *r0; r < R; r++) {
        const int pos = pos0 + r / ng;
        len[r] = (c0 + SCORE_CHUNK - 1 < pos ? c0 + SCORE_CHUNK - 1 : pos) - c0 + 1;
    }
    return (c0 + SCORE_CHUNK - 1 < pos_last ? c0 + SCORE_CHUNK - 1 : pos_last) - c0 + 1;
}

/* the K or V rows (base: kv->k or kv->v) of kv head h at positions
 * [j, j + n), into L2 (l2) or L1 */
static inline void prefetch_rows(const vc_kv_cache *kv, const uint8_t *base, int layer, const int32_t *table, int j,
                                 int n, int h, int l2) {
    const int bs = kv->block_size;
    for (int p = j; p < j + n; p++) {
        const uint8_t *r = base + vc_kv_row_offset(kv, layer, pos_slot(table, bs, p), h);
        for (size_t o = 0; o < kv->row_bytes; o += 64) {
            if (l2) _mm_prefetch((const char *)r + o, _MM_HINT_T1);
            else _mm_prefetch((const char *)r + o, _MM_HINT_T0);
        }
    }
}

/* A tile: tokens [t0, t0 + nt) of one sequence at consecutive positions,
 * sharing one window start (nt = 1 where a sliding window cuts in), x query
 * heads [h0, h0 + ng) of kv head kvh; row r = token r / ng, head r % ng.
 * Each 8 K or V positions are loaded (and converted to floats) once per
 * block of up to RB rows (kdot_block, pv_block: the rows' accumulators in
 * registers). Every row goes through exactly the operations it would alone,
 * in the same order: its chunks of SCORE_CHUNK positions from the window
 * start, the scores 8 positions at a time (the positions past the row's own
 * end are computed on other positions and dropped), the online softmax,
 * then acc * corr and one fma per position in order. */
static void attend_tile(const att_job *J, int t0, int nt, int kvh, int h0, int ng) {
    const vc_kv_cache *kv = J->kv;
    const int layer = J->layer, n_heads = J->n_heads;
    const int hd = kv->head_dim, bs = kv->block_size;
    const float scale = J->scale;
    const int32_t *table = J->block_tables + (size_t)J->seq_of_token[t0] * J->max_blocks;
    const int pos0 = J->positions[t0], pos_last = pos0 + nt - 1, j0 = window_start(J, t0);
    const int R = nt * ng;

    float acc[TILE_FLOATS];                  /* [R][hd] */
    float scores[TILE_ROWS][SCORE_CHUNK];
    float m[TILE_ROWS], l[TILE_ROWS], corr[TILE_ROWS];
    const float *qr[TILE_ROWS];
    for (int r = 0; r < R; r++) {
        memset(acc + (size_t)r * hd, 0, (size_t)hd * sizeof(float));
        m[r] = -INFINITY;
        l[r] = 0.0f;
        qr[r] = J->q + ((size_t)(t0 + r / ng) * n_heads + h0 + r % ng) * hd;
    }
    for (int c0 = j0; c0 <= pos_last; c0 += SCORE_CHUNK) {
        int r0, len[TILE_ROWS];
        const int len_max = chunk_rows(c0, pos0, pos_last, ng, R, &r0, len);
        /* into L2: this chunk's K and V rows on the first chunk, the next
         * chunk's from then on (a block's rows of one kv head are
         * contiguous, the blocks far apart: each would start with a wait
         * on DRAM) */
        for (int c = c0 == j0 ? c0 : c0 + SCORE_CHUNK; c <= c0 + SCORE_CHUNK && c <= pos_last; c += SCORE_CHUNK) {
            const int n = pos_last - c + 1 < SCORE_CHUNK ? pos_last - c + 1 : SCORE_CHUNK;
            prefetch_rows(kv, kv->k, layer, table, c, n, kvh, 1);
            prefetch_rows(kv, kv->v, layer, table, c, n, kvh, 1);
        }
        /* scores, 8 positions at a time (the last group padded with the
         * tile's last position), by blocks of up to RB rows of one token
         * (the same length) */
        for (int jb = 0; jb < len_max; jb += 8) {
            const uint8_t *src[8];
            for (int p = 0; p < 8; p++) {
                const int j = c0 + (jb + p < len_max ? jb + p : len_max - 1);
                src[p] = vc_kv_k_row(kv, layer, pos_slot(table, bs, j), kvh);
            }
            for (int r = r0, nb; r < R; r += nb) {
                nb = 1;
                while (nb < RB && r + nb < R && (r + nb) / ng == r / ng) nb++;
                if (jb >= len[r]) continue;
                float s8[RB][8];
                kdot_block(kv->dtype, src, qr + r, nb, hd, s8);
                for (int b = 0; b < nb; b++)
                    for (int u = 0; u < 8 && jb + u < len[r]; u++) scores[r + b][jb + u] = s8[b][u] * scale;
            }
        }
        for (int r = r0; r < R; r++) corr[r] = softmax_step(scores[r], len[r], &m[r], &l[r]);
        /* acc = acc * corr, then + p_j v_j in order, 8 positions at a time,
         * by the same blocks of rows (pv_block) */
        for (int jb = 0; jb < len_max; jb += 8) {
            const int n8 = len_max - jb < 8 ? len_max - jb : 8;
            const uint8_t *src[8];
            for (int p = 0; p < n8; p++) {
                const int j = c0 + jb + p;
                src[p] = vc_kv_v_row(kv, layer, pos_slot(table, bs, j), kvh);
            }
            for (int r = r0, nb; r < R; r += nb) {
                nb = 1;
                while (nb < RB && r + nb < R && (r + nb) / ng == r / ng) nb++;
                if (jb >= len[r]) continue;
                const int nj = len[r] - jb < 8 ? len[r] - jb : 8;
                const float *pr[RB];
                float *ar[RB];
                for (int b = 0; b < nb; b++) {
                    pr[b] = scores[r + b] + jb;
                    ar[b] = acc + (size_t)(r + b) * hd;
                }
                pv_block(kv->dtype, src, nj, pr, ar, jb == 0 ? corr + r : NULL, nb, hd);
            }
        }
    }
    tile_out(J, t0, h0, ng, R, hd, acc, l);
}
#endif

#if defined(VC_ATT_AVX2) && defined(__x86_64__)
#define VC_ATT_AMX 1
/* AMX tiles with bf16 K/V (the default KV dtype; vc_cpu_paged_attention
 * takes this path at kernel level amx when the CPU has AMX-BF16). A tile
 * of rows as attend_tile, the same chunks of SCORE_CHUNK positions from the
 * window start and the same online softmax (softmax_step), but the two
 * products run on the tile unit (tdpbf16ps: bf16 pairs, fp32 sums):
 *   scores: C (16 positions x rows) = K (16 positions x 32 dims, loaded
 *           straight from the KV blocks) . Q^T, dim block by dim block;
 *   values: C (rows x 16 dims) = P (rows x 32 positions) . V (32 positions,
 *           interleaved by pairs of positions, x 16 dims), over the chunk.
 * The float side is split into three bf16 terms, hi + mid + lo (each the
 * rounding of what the previous left; their sum is the float but for
 * ~2^-24 of it), and the three products accumulate into one C: K and V are
 * exact in bf16, so the results are fp32-accurate sums in another order
 * than the float path's. Each C element depends only on its own row's
 * Q or P and the K/V positions it covers; positions past a row's end get
 * p = 0 (adding +-0 leaves C as it is), so a token alone gives bitwise its
 * row of a tile. */
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,amx-tile,amx-bf16")

enum { AMX_HD_MAX = 256 };

typedef struct att_tilecfg {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} att_tilecfg;

/* the 16 floats x as three bf16 terms t[0] + t[1] + t[2] */
static inline void split3_bf16(__m512 x, __m256i t[3]) {
    for (int e = 0; e < 3; e++) {
        t[e] = (__m256i)_mm512_cvtneps_pbh(x);
        x = _mm512_sub_ps(x, _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(t[e]), 16)));
    }
}

static void attend_tile_amx(const att_job *J, int t0, int nt, int kvh, int h0, int ng) {
    const vc_kv_cache *kv = J->kv;
    const int layer = J->layer, n_heads = J->n_heads;
    const int hd = kv->head_dim, bs = kv->block_size, nb32 = hd / 32, ndg = hd / 16;
    const float scale = J->scale;
    const int32_t *table = J->block_tables + (size_t)J->seq_of_token[t0] * J->max_blocks;
    const int pos0 = J->positions[t0], pos_last = pos0 + nt - 1, j0 = window_start(J, t0);
    const int R = nt * ng, ngr = (R + 15) / 16, gr = R < 16 ? R : 16;

    float acc[TILE_FLOATS];                                /* [R][hd] */
    float scores[TILE_ROWS][SCORE_CHUNK];
    float m[TILE_ROWS], l[TILE_ROWS], corr[TILE_ROWS];
    /* Q^T terms [row group][dim block][term][16 dim pairs][16 rows] */
    uint32_t bq[TILE_ROWS / 16][AMX_HD_MAX / 32][3][16][16] __attribute__((aligned(64)));
    /* P terms [row group][32-position half][term][16 rows][32 positions] */
    uint16_t ap[TILE_ROWS / 16][2][3][16][32] __attribute__((aligned(64)));
    /* V [32-position half][16-dim group][16 position pairs][16 dims][2] */
    uint16_t bv[2][AMX_HD_MAX / 16][16][32] __attribute__((aligned(64)));
    uint16_t kbuf[16][AMX_HD_MAX] __attribute__((aligned(64)));
    float ct[16][16] __attribute__((aligned(64)));

    memset(bq, 0, sizeof bq[0] * (size_t)ngr);
    memset(ap, 0, sizeof ap[0] * (size_t)ngr);
    for (int r = 0; r < R; r++) {
        memset(acc + (size_t)r * hd, 0, (size_t)hd * sizeof(float));
        m[r] = -INFINITY;
        l[r] = 0.0f;
        const float *q = J->q + ((size_t)(t0 + r / ng) * n_heads + h0 + r % ng) * hd;
        for (int d = 0; d < hd; d += 16) {
            __m256i t[3];
            split3_bf16(_mm512_loadu_ps(q + d), t);
            for (int e = 0; e < 3; e++) {
                uint32_t w[8];
                _mm256_storeu_si256((__m256i *)w, t[e]);
                for (int i = 0; i < 8; i++) bq[r / 16][d / 32][e][(d % 32) / 2 + i][r % 16] = w[i];
            }
        }
    }

    att_tilecfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    /* scores: C 0, K 1, Q^T 2; values: C 3, P 4, V 5 */
    cfg.rows[0] = 16; cfg.colsb[0] = (uint16_t)(4 * gr);
    cfg.rows[1] = 16; cfg.colsb[1] = 64;
    cfg.rows[2] = 16; cfg.colsb[2] = (uint16_t)(4 * gr);
    cfg.rows[3] = (uint8_t)gr; cfg.colsb[3] = 64;
    cfg.rows[4] = (uint8_t)gr; cfg.colsb[4] = 64;
    cfg.rows[5] = 16; cfg.colsb[5] = 64;
    _tile_loadconfig(&cfg);

    const __m512i vidx = _mm512_setr_epi32(0, 16, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240);
    const __m512i ilo = _mm512_set_epi16(47, 15, 46, 14, 45, 13, 44, 12, 43, 11, 42, 10, 41, 9, 40, 8,
                                         39, 7, 38, 6, 37, 5, 36, 4, 35, 3, 34, 2, 33, 1, 32, 0);
    const __m512i ihi = _mm512_add_epi16(ilo, _mm512_set1_epi16(16));
    for (int c0 = j0; c0 <= pos_last; c0 += SCORE_CHUNK) {
        int r0, len[TILE_ROWS];
        const int len_max = chunk_rows(c0, pos0, pos_last, ng, R, &r0, len);
        /* into L2: this chunk's K and V rows on the first chunk, the next
         * chunk's from then on */
        for (int c = c0 == j0 ? c0 : c0 + SCORE_CHUNK; c <= c0 + SCORE_CHUNK && c <= pos_last; c += SCORE_CHUNK) {
            const int n = pos_last - c + 1 < SCORE_CHUNK ? pos_last - c + 1 : SCORE_CHUNK;
            prefetch_rows(kv, kv->k, layer, table, c, n, kvh, 1);
            prefetch_rows(kv, kv->v, layer, table, c, n, kvh, 1);
        }
        /* scores, 16 positions at a time */
        for (int jb = 0; jb < len_max; jb += 16) {
            const int n16 = len_max - jb < 16 ? len_max - jb : 16, p0 = c0 + jb;
            /* into L1: the next 16 positions' K rows (to this tile's last
             * position) and these 16 positions' V rows */
            const int pn = p0 + 16 <= pos_last ? (pos_last - p0 - 16 + 1 < 16 ? pos_last - p0 - 16 + 1 : 16) : 0;
            prefetch_rows(kv, kv->k, layer, table, p0 + 16, pn, kvh, 0);
            prefetch_rows(kv, kv->v, layer, table, p0, n16, kvh, 0);
            /* K rows straight from the block, or copied (block edges, the
             * chunk's end: zero rows) */
            const uint8_t *kb;
            size_t kstride;
            if (n16 == 16 && p0 / bs == (p0 + 15) / bs) {
                kb = vc_kv_k_row(kv, layer, pos_slot(table, bs, p0), kvh);
                kstride = kv->row_bytes;
            } else {
                for (int p = 0; p < 16; p++) {
                    const int j = p0 + p;
                    if (p < n16)
                        memcpy(kbuf[p], vc_kv_k_row(kv, layer, pos_slot(table, bs, j), kvh),
                               (size_t)hd * 2);
                    else
                        memset(kbuf[p], 0, (size_t)hd * 2);
                }
                kb = (const uint8_t *)kbuf;
                kstride = sizeof kbuf[0];
            }
            for (int g = r0 / 16; g < ngr; g++) {
                _tile_zero(0);
                for (int b = 0; b < nb32; b++) {
                    _tile_loadd(1, kb + 64 * b, kstride);
                    for (int e = 0; e < 3; e++) {
                        _tile_loadd(2, bq[g][b][e], 64);
                        _tile_dpbf16ps(0, 1, 2);
                    }
                }
                _tile_stored(0, ct, 64);
                for (int r = g * 16 > r0 ? g * 16 : r0; r < R && r < g * 16 + 16; r++) {
                    if (jb >= len[r]) continue;
                    const __m512 sv = _mm512_i32gather_ps(vidx, &ct[0][r % 16], 4);
                    _mm512_storeu_ps(scores[r] + jb, _mm512_mul_ps(sv, _mm512_set1_ps(scale)));
                }
            }
        }
        for (int r = r0; r < R; r++) corr[r] = softmax_step(scores[r], len[r], &m[r], &l[r]);
        /* P as three bf16 terms (0 past each row's end, and for rows done) */
        const int nh = (len_max + 31) / 32;
        for (int r = r0 / 16 * 16; r < ngr * 16; r++) {
            for (int h = 0; h < nh; h++)
                for (int u = 0; u < 32; u += 16) {
                    const int j = 32 * h + u;
                    __m512 p = _mm512_setzero_ps();
                    if (r >= r0 && r < R && j < len[r]) {
                        const __mmask16 k = len[r] - j >= 16 ? 0xFFFF : (__mmask16)((1u << (len[r] - j)) - 1);
                        p = _mm512_maskz_loadu_ps(k, scores[r] + j);
                    }
                    __m256i t[3];
                    split3_bf16(p, t);
                    for (int e = 0; e < 3; e++) _mm256_store_si256((__m256i *)&ap[r / 16][h][e][r % 16][u], t[e]);
                }
        }
        /* V by pairs of positions (0 past the chunk's end) */
        for (int h = 0; h < nh; h++)
            for (int i = 0; i < 16; i++) {
                const uint8_t *va = NULL, *vb = NULL;
                const int ja = c0 + 32 * h + 2 * i, jbb = ja + 1;
                if (ja - c0 < len_max) va = vc_kv_v_row(kv, layer, pos_slot(table, bs, ja), kvh);
                if (jbb - c0 < len_max) vb = vc_kv_v_row(kv, layer, pos_slot(table, bs, jbb), kvh);
                for (int d = 0; d < hd; d += 32) {
                    const __m512i a = va ? _mm512_loadu_si512(va + 2 * d) : _mm512_setzero_si512();
                    const __m512i b = vb ? _mm512_loadu_si512(vb + 2 * d) : _mm512_setzero_si512();
                    _mm512_store_si512(bv[h][d / 16][i], _mm512_permutex2var_epi16(a, ilo, b));
                    _mm512_store_si512(bv[h][d / 16 + 1][i], _mm512_permutex2var_epi16(a, ihi, b));
                }
            }
        /* acc = fma(acc, corr, P . V) */
        for (int g = r0 / 16; g < ngr; g++)
            for (int dg = 0; dg < ndg; dg++) {
                _tile_zero(3);
                for (int h = 0; h < nh; h++) {
                    _tile_loadd(5, bv[h][dg], 64);
                    for (int e = 0; e < 3; e++) {
                        _tile_loadd(4, ap[g][h][e], 64);
                        _tile_dpbf16ps(3, 4, 5);
                    }
                }
                _tile_stored(3, ct, 64);
                for (int r = g * 16 > r0 ? g * 16 : r0; r < R && r < g * 16 + 16; r++) {
                    float *a = acc + (size_t)r * hd + 16 * dg;
                    _mm512_storeu_ps(a, _mm512_fmadd_ps(_mm512_loadu_ps(a), _mm512_set1_ps(corr[r]),
                                                        _mm512_load_ps(ct[r % 16])));
                }
            }
    }
    _tile_release();
    tile_out(J, t0, h0, ng, R, hd, acc, l);
}
#pragma GCC pop_options
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
#ifdef VC_ATT_AMX
        if (J->amx) {
            attend_tile_amx(J, t, nt, kvh, kvh * group + g0, ng);
            continue;
        }
#endif
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
                    max_blocks, sliding_window, 1, 0, scale };
#ifdef VC_ATT_AMX
    job.amx = kv->dtype == VC_BF16 && kv->head_dim % 32 == 0 && kv->head_dim <= AMX_HD_MAX &&
              vc_cpu_kernels() >= VC_KERNELS_AMX && __builtin_cpu_supports("amx-bf16") &&
              __builtin_cpu_supports("avx512bf16");
#endif
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
