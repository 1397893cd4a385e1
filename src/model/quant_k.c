/* K-quant quantizers: Q2_K, Q3_K, Q4_K, Q5_K, Q6_K.
 *
 * A super-block of 256 values is cut into groups (16 of 16 or 8 of 32). Each
 * group j gets its own scale (and, for Q2_K/Q4_K/Q5_K, a min), stored as small
 * integers sc_j (m_j) times one f16 super-scale d (dmin):
 *   affine    (Q2_K, Q4_K, Q5_K): y = (d*sc_j)*q - dmin*m_j,  q in [0, nmax]
 *   symmetric (Q3_K, Q6_K):       y = (d*sc_j)*q,            q in [-nmax, nmax-1]
 *
 * The search (the approach of ggml's reference make_qkx2_quants /
 * make_qx_quants, written anew here) minimises a weighted squared error
 * sum_i w_i (y_i - x_i)^2 with per-element importance weights
 * w = rms(group) + |x| (no imatrix):
 *   1. per group: try a grid of candidate inverse scales around the min-max
 *      one, round, fit (scale, min) by weighted least squares on the rounded
 *      values, keep the best; then alternate re-rounding and re-fitting;
 *   2. quantize the group scales (mins) against the f16-rounded super-scale;
 *   3. refine the whole super-block (beyond the reference): a local search
 *      of each integer scale/min (+-1) with the elements re-rounded, and a
 *      least-squares re-fit of the super-scales d, dmin given all integers,
 *      kept only when the weighted error goes down.
 * Elements are always rounded to nearest given the final (f16) scales, the
 * same float expression as the dequantizer, so the error measured here is
 * the error of the stored block. */
#include "model/quant_k.h"

#include <math.h>
#include <string.h>

#include "model/quant.h"

#define QKK 256
#define MAX_GROUPS 16

/* round to nearest (ties to even) and clamp to [lo, hi]; the clamp comes
 * first so NaN/inf input (-> lo) never reaches an out-of-range conversion */
static inline int round_clamp(float v, int lo, int hi) {
    v = fminf(fmaxf(v, (float)lo), (float)hi); /* fmaxf(NaN, lo) = lo */
    return (int)rintf(v);                      /* in range now; ties to even */
}

/* the value an f16 field will hold (and never inf: clamp to the f16 range) */
static inline float f16_round(float v) {
    if (v > 65504.0f) v = 65504.0f;
    if (v < -65504.0f) v = -65504.0f;
    return vc_f16_to_f32(vc_f32_to_f16(v));
}
/* the f16 value nearest v that is at least as large in magnitude, so the
 * largest group scale still fits in the integer range; a tiny v gets the
 * smallest subnormal 2^-24 instead of 0 (which would zero the block) */
static float f16_at_least(float v) {
    if (v > 65504.0f) return 65504.0f;
    if (v < -65504.0f) return -65504.0f;
    uint16_t h = vc_f32_to_f16(v);
    if (fabsf(vc_f16_to_f32(h)) < fabsf(v)) h++; /* next magnitude up, same sign */
    return vc_f16_to_f32(h);
}

static inline void put_f16(uint8_t *p, float v) {
    uint16_t h = vc_f32_to_f16(v);
    p[0] = (uint8_t)h;
    p[1] = (uint8_t)(h >> 8);
}

/* Importance of each element when choosing scales: w = rms(group) + |x|.
 * Large weights count more (they dominate a matmul's output error), but
 * not so much that small ones are ignored. This is what ggml's reference
 * uses for Q4_K/Q5_K; applied here to every K type, it gives lower plain
 * RMSE on normal data than ggml's choices for Q2_K (|x|) and Q3_K/Q6_K (x^2)
 * (numbers in docs/quant.md). */
static void importance(const float *x, int n_groups, int gsize, float *w) {
    for (int g = 0; g < n_groups; g++) {
        const float *xg = x + g * gsize;
        float rms = 0.0f;
        for (int i = 0; i < gsize; i++) rms += xg[i] * xg[i];
        rms = sqrtf(rms / (float)gsize);
        for (int i = 0; i < gsize; i++) w[g * gsize + i] = rms + fabsf(xg[i]);
    }
}

/* ------------------------------------------------------ one group: affine */

/* Weighted sums of one group that do not depend on the rounding. */
typedef struct {
    double sw, sx, sxx; /* sum w, sum w x, sum w x^2 */
} group_sums;

/* Rounds x to L = clamp(round(iscale*(x - off)), 0, nmax), fits
 * x ~ s*L + o by weighted least squares with o <= 0 (the format stores the
 * offset as -dmin*m, m >= 0), and returns the weighted squared error of that
 * fit, from the sums (one pass over the group). */
static double round_fit_affine(const float *x, const float *w, int n, int nmax, float iscale, float off,
                               const group_sums *gs, float *s_out, float *off_out) {
    double sl = 0, sl2 = 0, sxl = 0;
    for (int i = 0; i < n; i++) {
        double l = round_clamp(iscale * (x[i] - off), 0, nmax);
        sl += w[i] * l;
        sl2 += w[i] * l * l;
        sxl += w[i] * (double)x[i] * l;
    }
    double det = gs->sw * sl2 - sl * sl, s, o;
    if (det > 0.0) {
        s = (gs->sw * sxl - gs->sx * sl) / det;
        o = (sl2 * gs->sx - sl * sxl) / det;
    } else {
        o = 0.0;
        s = 0.0;
    }
    if (o > 0.0 || !(det > 0.0)) {
        o = 0.0;
        s = sl2 > 0.0 ? sxl / sl2 : 0.0;
    }
    *s_out = (float)s;
    *off_out = (float)o;
    /* sum w (s l + o - x)^2 expanded */
    return gs->sxx - 2 * s * sxl - 2 * o * gs->sx + s * s * sl2 + 2 * s * o * sl + o * o * gs->sw;
}

/* Fits one group: returns the scale s > 0 (0 for a flat group) and the min
 * m >= 0 of x ~ s*q - m. Candidates: the min-max scale and iscale =
 * (nmax + rmin + rdelta*k) / (max - min), k = 0..nstep, each rounded and
 * re-fitted; then the best is alternately re-rounded and re-fitted. */
static float fit_affine(const float *x, const float *w, int n, int nmax, float rmin, float rdelta, int nstep,
                        float *m_out) {
    float lo = x[0], hi = x[0];
    group_sums gs = {0, 0, 0};
    for (int i = 0; i < n; i++) {
        if (x[i] < lo) lo = x[i];
        if (x[i] > hi) hi = x[i];
        gs.sw += w[i];
        gs.sx += w[i] * (double)x[i];
        gs.sxx += w[i] * (double)x[i] * x[i];
    }
    if (lo > 0.0f) lo = 0.0f; /* offsets can only be <= 0 */
    if (!(hi > lo)) {
        *m_out = -lo;
        return 0.0f;
    }
    float best_s = (hi - lo) / (float)nmax, best_off = lo;
    double best = INFINITY;
    for (int k = -1; k <= nstep; k++) {
        float iscale = k < 0 ? (float)nmax / (hi - lo) : ((float)nmax + rmin + rdelta * (float)k) / (hi - lo);
        float s, off;
        double e = round_fit_affine(x, w, n, nmax, iscale, lo, &gs, &s, &off);
        if (s > 0.0f && e < best) {
            best = e;
            best_s = s;
            best_off = off;
        }
    }
    for (int it = 0; it < 4; it++) {
        float s, off;
        double e = round_fit_affine(x, w, n, nmax, 1.0f / best_s, best_off, &gs, &s, &off);
        if (!(s > 0.0f) || !(e < best)) break;
        best = e;
        best_s = s;
        best_off = off;
    }
    *m_out = -best_off;
    return best_s;
}

/* ---------------------------------------------------- one group: symmetric */

/* Fits x ~ s*q, q in [-nmax, nmax-1]; returns s (may be negative: mapping
 * the largest magnitude to -nmax uses the extra negative level). */
static float fit_symmetric(const float *x, const float *w, int n, int nmax) {
    float amax = 0.0f, max = 0.0f;
    for (int i = 0; i < n; i++)
        if (fabsf(x[i]) > amax) {
            amax = fabsf(x[i]);
            max = x[i];
        }
    if (amax < 1e-30f) return 0.0f;
    float best_score = -1.0f, best_s = 0.0f;
    for (int k = -9; k <= 9; k++) {
        float iscale = -((float)nmax + 0.1f * (float)k) / max;
        float sxl = 0, sl2 = 0;
        for (int i = 0; i < n; i++) {
            float l = (float)round_clamp(iscale * x[i], -nmax, nmax - 1);
            sxl += w[i] * x[i] * l;
            sl2 += w[i] * l * l;
        }
        /* sum w x^2 - sxl^2/sl2 is the error: maximise sxl^2/sl2 */
        if (sl2 > 0.0f && sxl * sxl / sl2 > best_score) {
            best_score = sxl * sxl / sl2;
            best_s = sxl / sl2;
        }
    }
    for (int it = 0; it < 4 && best_s != 0.0f; it++) {
        float iscale = 1.0f / best_s, sxl = 0, sl2 = 0;
        for (int i = 0; i < n; i++) {
            float l = (float)round_clamp(iscale * x[i], -nmax, nmax - 1);
            sxl += w[i] * x[i] * l;
            sl2 += w[i] * l * l;
        }
        if (!(sl2 > 0.0f && sxl * sxl / sl2 > best_score)) break;
        best_score = sxl * sxl / sl2;
        best_s = sxl / sl2;
    }
    return best_s;
}

/* ----------------------------------------------- super-block: affine */

typedef struct {
    int n_groups, gsize; /* 16 x 16 or 8 x 32 */
    int nmax;            /* q in [0, nmax] */
    int smax;            /* sc, m in [0, smax] */
    float rmin, rdelta;  /* candidate grid of fit_affine */
    int nstep;
} affine_spec;

typedef struct {
    float d, dmin; /* f16-representable */
    int sc[MAX_GROUPS], m[MAX_GROUPS];
    uint8_t q[QKK];
} affine_block;

/* rounds group g's elements for the given integer scale/min; returns the
 * weighted error, evaluated with the dequantizer's float expression */
static float requant_affine_group(const affine_spec *sp, const float *x, const float *w, float d, float dmin, int sc,
                                  int m, uint8_t *q) {
    float dl = d * (float)sc, ml = dmin * (float)m, e = 0.0f;
    float id = dl != 0.0f ? 1.0f / dl : 0.0f;
    for (int i = 0; i < sp->gsize; i++) {
        int v = dl != 0.0f ? round_clamp((x[i] + ml) * id, 0, sp->nmax) : 0;
        q[i] = (uint8_t)v;
        float diff = dl * (float)v - ml - x[i];
        e += w[i] * diff * diff;
    }
    return e;
}

static float requant_affine(const affine_spec *sp, const float *x, const float *w, affine_block *b) {
    float e = 0.0f;
    for (int g = 0; g < sp->n_groups; g++) {
        int o = g * sp->gsize;
        e += requant_affine_group(sp, x + o, w + o, b->d, b->dmin, b->sc[g], b->m[g], b->q + o);
    }
    return e;
}

static void quantize_affine(const affine_spec *sp, const float *x, affine_block *b) {
    float w[QKK], s[MAX_GROUPS], mins[MAX_GROUPS];
    importance(x, sp->n_groups, sp->gsize, w);
    float max_s = 0.0f, max_m = 0.0f;
    for (int g = 0; g < sp->n_groups; g++) {
        int o = g * sp->gsize;
        s[g] = fit_affine(x + o, w + o, sp->gsize, sp->nmax, sp->rmin, sp->rdelta, sp->nstep, &mins[g]);
        if (s[g] > max_s) max_s = s[g];
        if (mins[g] > max_m) max_m = mins[g];
    }
    b->d = f16_at_least(max_s / (float)sp->smax);
    b->dmin = f16_at_least(max_m / (float)sp->smax);
    for (int g = 0; g < sp->n_groups; g++) {
        b->sc[g] = b->d > 0.0f ? round_clamp(s[g] / b->d, 0, sp->smax) : 0;
        b->m[g] = b->dmin > 0.0f ? round_clamp(mins[g] / b->dmin, 0, sp->smax) : 0;
    }
    float err = requant_affine(sp, x, w, b);

    for (int round = 0; round < 2; round++) {
        /* each group's integer scale and min, +-1, with d and dmin fixed */
        for (int g = 0; g < sp->n_groups; g++) {
            int o = g * sp->gsize;
            uint8_t q[32];
            float cur = requant_affine_group(sp, x + o, w + o, b->d, b->dmin, b->sc[g], b->m[g], q);
            int best_sc = b->sc[g], best_m = b->m[g];
            for (int ds = -1; ds <= 1; ds++)
                for (int dm = -1; dm <= 1; dm++) {
                    int sc = b->sc[g] + ds, m = b->m[g] + dm;
                    if ((!ds && !dm) || sc < 0 || sc > sp->smax || m < 0 || m > sp->smax) continue;
                    float e = requant_affine_group(sp, x + o, w + o, b->d, b->dmin, sc, m, q);
                    if (e < cur) {
                        cur = e;
                        best_sc = sc;
                        best_m = m;
                    }
                }
            b->sc[g] = best_sc;
            b->m[g] = best_m;
        }
        err = requant_affine(sp, x, w, b);
        /* least squares for (d, dmin) with every integer fixed:
         * x ~ d*a - dmin*c, a = sc*q, c = m */
        double saa = 0, sac = 0, scc = 0, sax = 0, scx = 0;
        for (int i = 0; i < QKK; i++) {
            int g = i / sp->gsize;
            double a = (double)b->sc[g] * b->q[i], c = b->m[g];
            saa += w[i] * a * a;
            sac += w[i] * a * c;
            scc += w[i] * c * c;
            sax += w[i] * a * x[i];
            scx += w[i] * c * x[i];
        }
        double det = saa * scc - sac * sac, nd, ndmin;
        if (det > 0.0) {
            nd = (sax * scc - scx * sac) / det;
            ndmin = (sax * sac - scx * saa) / det;
        } else {
            nd = saa > 0.0 ? sax / saa : 0.0;
            ndmin = b->dmin;
        }
        if (!(nd > 0.0) || !(ndmin >= 0.0)) break;
        affine_block trial = *b;
        trial.d = f16_round((float)nd);
        trial.dmin = f16_round((float)ndmin);
        float e = requant_affine(sp, x, w, &trial);
        if (!(e < err)) break;
        *b = trial;
        err = e;
    }
}

/* --------------------------------------------- super-block: symmetric */

typedef struct {
    int nmax;           /* q in [-nmax, nmax-1] */
    int sc_lo, sc_hi;   /* integer group scale range */
} sym_spec;

typedef struct {
    float d; /* f16-representable, may be negative */
    int sc[16];
    int8_t q[QKK]; /* signed, in [-nmax, nmax-1] */
} sym_block;

static float requant_sym_group(const sym_spec *sp, const float *x, const float *w, float d, int sc, int8_t *q) {
    float dl = d * (float)sc, e = 0.0f;
    float id = dl != 0.0f ? 1.0f / dl : 0.0f;
    for (int i = 0; i < 16; i++) {
        int v = dl != 0.0f ? round_clamp(x[i] * id, -sp->nmax, sp->nmax - 1) : 0;
        q[i] = (int8_t)v;
        float diff = dl * (float)v - x[i];
        e += w[i] * diff * diff;
    }
    return e;
}

static float requant_sym(const sym_spec *sp, const float *x, const float *w, sym_block *b) {
    float e = 0.0f;
    for (int g = 0; g < 16; g++) e += requant_sym_group(sp, x + 16 * g, w + 16 * g, b->d, b->sc[g], b->q + 16 * g);
    return e;
}

/* 16 groups of 16 */
static void quantize_sym(const sym_spec *sp, const float *x, sym_block *b) {
    float w[QKK], s[16];
    importance(x, 16, 16, w);
    float max_scale = 0.0f;
    for (int g = 0; g < 16; g++) {
        s[g] = fit_symmetric(x + 16 * g, w + 16 * g, 16, sp->nmax);
        if (fabsf(s[g]) > fabsf(max_scale)) max_scale = s[g];
    }
    /* the largest |scale| maps to the extra negative level sc_lo */
    b->d = f16_at_least(max_scale / (float)sp->sc_lo);
    for (int g = 0; g < 16; g++) b->sc[g] = b->d != 0.0f ? round_clamp(s[g] / b->d, sp->sc_lo, sp->sc_hi) : 0;
    float err = requant_sym(sp, x, w, b);

    for (int round = 0; round < 2 && b->d != 0.0f; round++) {
        for (int g = 0; g < 16; g++) {
            int8_t q[16];
            float cur = requant_sym_group(sp, x + 16 * g, w + 16 * g, b->d, b->sc[g], q);
            int best_sc = b->sc[g];
            for (int ds = -1; ds <= 1; ds += 2) {
                int sc = b->sc[g] + ds;
                if (sc < sp->sc_lo || sc > sp->sc_hi) continue;
                float e = requant_sym_group(sp, x + 16 * g, w + 16 * g, b->d, sc, q);
                if (e < cur) {
                    cur = e;
                    best_sc = sc;
                }
            }
            b->sc[g] = best_sc;
        }
        err = requant_sym(sp, x, w, b);
        /* least squares for d with the integers fixed: x ~ d * (sc*q) */
        double saa = 0, sax = 0;
        for (int i = 0; i < QKK; i++) {
            double a = (double)b->sc[i / 16] * b->q[i];
            saa += w[i] * a * a;
            sax += w[i] * a * x[i];
        }
        if (!(saa > 0.0)) break;
        sym_block trial = *b;
        trial.d = f16_round((float)(sax / saa));
        if (trial.d == 0.0f) break;
        float e = requant_sym(sp, x, w, &trial);
        if (!(e < err)) break;
        *b = trial;
        err = e;
    }
}

/* ------------------------------------------------------- block packing */

static const affine_spec Q2K_SPEC = {16, 16, 3, 15, -0.5f, 0.1f, 15};
static const affine_spec Q4K_SPEC = {8, 32, 15, 63, -1.0f, 0.1f, 20};
static const affine_spec Q5K_SPEC = {8, 32, 31, 63, -0.5f, 0.1f, 15};
static const sym_spec Q3K_SPEC = {4, -32, 31};
static const sym_spec Q6K_SPEC = {32, -128, 127};

/* Q2_K { u8 scales[16] (sc | m<<4); u8 qs[64]; f16 d, dmin }:
 * element i = h*128 + s*32 + l sits in bits 2s of qs[h*32 + l] */
void vc_quantize_block_q2_k(const float *x, uint8_t *blk) {
    affine_block b;
    quantize_affine(&Q2K_SPEC, x, &b);
    memset(blk, 0, 84);
    for (int g = 0; g < 16; g++) blk[g] = (uint8_t)(b.sc[g] | b.m[g] << 4);
    for (int i = 0; i < QKK; i++) blk[16 + (i / 128) * 32 + i % 32] |= (uint8_t)(b.q[i] << (2 * ((i / 32) % 4)));
    put_f16(blk + 80, b.d);
    put_f16(blk + 82, b.dmin);
}

/* Q4_K/Q5_K 12 scale bytes (see k_scale_min in quant.c) */
static void pack_k_scales(const int *sc, const int *m, uint8_t *s) {
    for (int j = 0; j < 4; j++) {
        s[j] = (uint8_t)((sc[j] & 63) | (sc[j + 4] >> 4) << 6);
        s[j + 4] = (uint8_t)((m[j] & 63) | (m[j + 4] >> 4) << 6);
        s[j + 8] = (uint8_t)((sc[j + 4] & 15) | (m[j + 4] & 15) << 4);
    }
}

/* Q4_K { f16 d, dmin; u8 scales[12]; u8 qs[128] }: sub-block j = 2c + s is
 * nibble s of qs[c*32 + l] */
void vc_quantize_block_q4_k(const float *x, uint8_t *blk) {
    affine_block b;
    quantize_affine(&Q4K_SPEC, x, &b);
    put_f16(blk, b.d);
    put_f16(blk + 2, b.dmin);
    pack_k_scales(b.sc, b.m, blk + 4);
    uint8_t *qs = blk + 16;
    for (int c = 0; c < 4; c++)
        for (int l = 0; l < 32; l++) qs[c * 32 + l] = (uint8_t)(b.q[64 * c + l] | b.q[64 * c + 32 + l] << 4);
}

/* Q5_K: as Q4_K, and bit 4 of element l of sub-block j in bit j of qh[l] */
void vc_quantize_block_q5_k(const float *x, uint8_t *blk) {
    affine_block b;
    quantize_affine(&Q5K_SPEC, x, &b);
    put_f16(blk, b.d);
    put_f16(blk + 2, b.dmin);
    pack_k_scales(b.sc, b.m, blk + 4);
    uint8_t *qh = blk + 16, *qs = blk + 48;
    memset(qh, 0, 32);
    for (int c = 0; c < 4; c++)
        for (int l = 0; l < 32; l++)
            qs[c * 32 + l] = (uint8_t)((b.q[64 * c + l] & 15) | (b.q[64 * c + 32 + l] & 15) << 4);
    for (int j = 0; j < 8; j++)
        for (int l = 0; l < 32; l++) qh[l] |= (uint8_t)((b.q[32 * j + l] >> 4) << j);
}

/* Q3_K { u8 hmask[32]; u8 qs[64]; u8 scales[12]; f16 d }: stored q+4 in 0..7,
 * low 2 bits like Q2_K, bit 2 in bit i/32 of hmask[i%32]; scales sc+32 in
 * 6 bits (low nibble g%8 of byte g%8, high 2 bits at 2*(g/4) of byte 8+g%4) */
void vc_quantize_block_q3_k(const float *x, uint8_t *blk) {
    sym_block b;
    quantize_sym(&Q3K_SPEC, x, &b);
    memset(blk, 0, 110);
    uint8_t *hmask = blk, *qs = blk + 32, *sc = blk + 96;
    for (int i = 0; i < QKK; i++) {
        int u = b.q[i] + 4;
        qs[(i / 128) * 32 + i % 32] |= (uint8_t)((u & 3) << (2 * ((i / 32) % 4)));
        hmask[i % 32] |= (uint8_t)((u >> 2) << (i / 32));
    }
    for (int g = 0; g < 16; g++) {
        int u = b.sc[g] + 32;
        sc[g % 8] |= (uint8_t)((u & 15) << (g < 8 ? 0 : 4));
        sc[8 + g % 4] |= (uint8_t)((u >> 4) << (2 * (g / 4)));
    }
    put_f16(blk + 108, b.d);
}

/* Q6_K { u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d }: stored q+32 in 0..63,
 * element i = h*128 + s*32 + l: low nibble in nibble s/2 of
 * ql[h*64 + (s%2)*32 + l], high 2 bits at 2s of qh[h*32 + l] */
void vc_quantize_block_q6_k(const float *x, uint8_t *blk) {
    sym_block b;
    quantize_sym(&Q6K_SPEC, x, &b);
    memset(blk, 0, 210);
    uint8_t *ql = blk, *qh = blk + 128;
    for (int i = 0; i < QKK; i++) {
        int u = b.q[i] + 32, h = i / 128, s = (i / 32) % 4, l = i % 32;
        ql[h * 64 + (s % 2) * 32 + l] |= (uint8_t)((u & 15) << (4 * (s / 2)));
        qh[h * 32 + l] |= (uint8_t)((u >> 4) << (2 * s));
    }
    for (int g = 0; g < 16; g++) blk[192 + g] = (uint8_t)(int8_t)b.sc[g];
    put_f16(blk + 208, b.d);
}
