/* The 8-bit-activation dot kernels, written once and compiled twice by
 * qdot.c (AVX2 and AVX-512 VNNI). The includer defines
 *   QK(name)     the kernel's name for this instruction set
 *   DOT_US(u, s) __m256i: 8 int32 lanes, lane k = sum_{i<4} u[4k+i] * s[4k+i]
 *                for 32 unsigned bytes u and 32 signed bytes s (exact: every
 *                operand here keeps |u * s| + |u' * s'| < 2^15)
 * Both definitions give the same integers, and the float arithmetic around
 * them is the same code, so the two variants are bitwise equal.
 *
 * Every kernel: out[j] = sum over the row of dequant(w) * dequant(qx row j)
 * for j < nr (nr a compile-time constant after DISPATCH in qdot.c); per
 * 32-value block the integer dot is exact, then one float multiply-add into
 * 8 lanes per row (blocks in order), one horizontal sum at the end, plus the
 * weights' offsets (Q4_1 m, Q4_K mins) summed separately. A row's arithmetic
 * does not depend on nr (batch invariance). */

/* signed x signed through the unsigned x signed dot: |w| and a * sign(w) */
static inline __m256i QK(dot_ss)(__m256i w, __m256i a) {
    return DOT_US(_mm256_sign_epi8(w, w), _mm256_sign_epi8(a, w));
}

/* 32 nibbles of a 16-byte block, element k < 16 = low nibble of qs[k],
 * element 16 + k = high nibble (Q4_0 / Q4_1 order) */
static inline __m256i QK(nibbles32)(const uint8_t *qs) {
    const __m128i raw = _mm_loadu_si128((const __m128i *)qs);
    const __m256i both = _mm256_set_m128i(_mm_srli_epi16(raw, 4), raw);
    return _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
}

/* Structure of every kernel: the weight row's per-block float scale wd[k]
 * (and offset wm[k] for Q4_1 / Q4_K) is decoded once per call (prep), then
 * the activation rows go by in groups of up to QGROUP (8); per segment
 * of SEG blocks each row's pair scales sc[j][k] = wd[k] * d_j[k] are formed
 * 8 blocks per multiply and the offset term accumulates as 8-lane
 * wm[k] * s_j[k] (then a scalar tail); the block loop does one integer dot,
 * one conversion and one multiply-add per (block, row). Nothing in a row's
 * arithmetic depends on the group it is in. */

/* sc[j][k] = wd[k] * d_j[b0 + k]; accm[j] += wm[k] * s_j[b0 + k] (wm NULL: none) */
static inline __attribute__((always_inline)) void QK(seg_scales)(
    const float *wd, const float *wm, const uint8_t *qx, size_t xs, int nr, int64_t n, int64_t b0,
    int nb, float sc[][SEG], __m256 *accm, float *accm_tail) {
    for (int j = 0; j < nr; j++) {
        const float *dj = qrow_d(qx + j * xs, n) + b0, *sj = qrow_s(qx + j * xs, n) + b0;
        int k = 0;
        for (; k + 8 <= nb; k += 8) {
            _mm256_store_ps(sc[j] + k, _mm256_mul_ps(_mm256_loadu_ps(wd + k), _mm256_loadu_ps(dj + k)));
            if (wm) accm[j] = _mm256_fmadd_ps(_mm256_loadu_ps(wm + k), _mm256_loadu_ps(sj + k), accm[j]);
        }
        for (; k < nb; k++) {
            sc[j][k] = wd[k] * dj[k];
            if (wm) accm_tail[j] += wm[k] * sj[k];
        }
    }
}

/* the group loop around a block loop (the variadic argument) over the
 * segment [b0, b0 + ns), in which
 * ROW_BLOCK(j, p, k) adds block k's integer dot p of row j */
#define GROUP_KERNEL(NAME, WM, SIGN, ...)                                                       \
    KERNEL QK(NAME)(const uint8_t *w, const float *wd, const float *wmv, const uint8_t *qx,       \
                    size_t xs, int nr, int64_t n, float *out, size_t os) {                        \
        __m256 acc[QGROUP], accm[QGROUP];                                       \
        float accm_tail[QGROUP];                                                         \
        float sc[QGROUP][SEG] __attribute__((aligned(32)));                              \
        (void)wmv;                                                                                \
        for (int j = 0; j < nr; j++) {                                                            \
            acc[j] = accm[j] = _mm256_setzero_ps();                                               \
            accm_tail[j] = 0.0f;                                                                  \
        }                                                                                         \
        const int64_t nb = n / 32;                                                                \
        for (int64_t b0 = 0; b0 < nb; b0 += SEG) {                                                \
            const int ns = nb - b0 < SEG ? (int)(nb - b0) : SEG;                                  \
            QK(seg_scales)(wd + b0, WM, qx, xs, nr, n, b0, ns, sc, accm, accm_tail);              \
            __VA_ARGS__                                                                           \
        }                                                                                         \
        for (int j = 0; j < nr; j++)                                                              \
            out[j * os] = hsum256(acc[j]) SIGN (hsum256(accm[j]) + accm_tail[j]);                 \
    }

#define ROW_BLOCK(j, p, k)                                                                        \
    acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(sc[j][k]), acc[j])

#define A_BLOCK(j, b) _mm256_loadu_si256((const __m256i *)(qx + (j) * xs + 32 * (b)))

/* Q8_0 { f16 d; i8 q[32] }: value = d * q */
GROUP_KERNEL(q8_0, NULL, +, {
    const uint8_t *wb = w + 34 * b0;
    for (int k = 0; k < ns; k++, wb += 34) {
        const __m256i q = _mm256_loadu_si256((const __m256i *)(wb + 2));
        for (int j = 0; j < nr; j++) ROW_BLOCK(j, QK(dot_ss)(q, A_BLOCK(j, b0 + k)), k);
    }
})

/* Q4_0 { f16 d; u8 qs[16] }: value = d * (q - 8) */
GROUP_KERNEL(q4_0, NULL, +, {
    const uint8_t *wb = w + 18 * b0;
    for (int k = 0; k < ns; k++, wb += 18) {
        const __m256i q = _mm256_sub_epi8(QK(nibbles32)(wb + 2), _mm256_set1_epi8(8));
        for (int j = 0; j < nr; j++) ROW_BLOCK(j, QK(dot_ss)(q, A_BLOCK(j, b0 + k)), k);
    }
})

/* Q4_1 { f16 d, m; u8 qs[16] }: value = d * q + m; the m part is
 * m * (d_a * sum of the activation block's q) = m * s */
GROUP_KERNEL(q4_1, wmv + b0, +, {
    const uint8_t *wb = w + 20 * b0;
    for (int k = 0; k < ns; k++, wb += 20) {
        const __m256i q = QK(nibbles32)(wb + 4);
        for (int j = 0; j < nr; j++) ROW_BLOCK(j, DOT_US(q, A_BLOCK(j, b0 + k)), k);
    }
})

/* Q4_K: 8 sub-blocks of 32 per 256, value = d*sc*q - dmin*m (see dot.c);
 * chunk c of a super-block holds sub-block 2c (low nibbles) and 2c+1 (high) */
GROUP_KERNEL(q4_k, wmv + b0, -, {
    for (int k = 0; k < ns; k += 2) {
        const int64_t b = b0 + k;
        const uint8_t *raw_p = w + 144 * (b / 8) + 16 + 16 * (b % 8);
        const __m256i raw = _mm256_loadu_si256((const __m256i *)raw_p);
        const __m256i q0 = _mm256_and_si256(raw, _mm256_set1_epi8(0x0F));
        const __m256i q1 = _mm256_and_si256(_mm256_srli_epi16(raw, 4), _mm256_set1_epi8(0x0F));
        for (int j = 0; j < nr; j++) {
            ROW_BLOCK(j, DOT_US(q0, A_BLOCK(j, b)), k);
            ROW_BLOCK(j, DOT_US(q1, A_BLOCK(j, b + 1)), k + 1);
        }
    }
})

/* Q6_K: value = d * scales[16-group] * (v - 32), v 6 bits (see dot.c for the
 * bit layout). The 16-bit pair products of a block's first 16 values are
 * multiplied by the first int8 scale and those of the second 16 by the
 * second while summing to 32 bits (vpmaddwd: exact); the float scale is
 * d * d_a. Same instructions in both variants. */
GROUP_KERNEL(q6_k, NULL, +, {
    const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(3), k32 = _mm256_set1_epi8(32);
    for (int k8 = 0; k8 < ns; k8 += 8) {
        const uint8_t *wb = w + 210 * ((b0 + k8) / 8);
        const int8_t *scales = (const int8_t *)(wb + 192);
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = wb + 64 * h, *qh = wb + 128 + 32 * h;
            const __m256i l0 = _mm256_loadu_si256((const __m256i *)ql);
            const __m256i l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
            const __m256i hb = _mm256_loadu_si256((const __m256i *)qh);
            const __m256i v[4] = {
                _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_slli_epi16(_mm256_and_si256(hb, m2), 4)),
                _mm256_or_si256(_mm256_and_si256(l1, m4),
                                _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2), m2), 4)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                                _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 4), m2), 4)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 6), m2), 4)),
            };
            for (int kk = 0; kk < 4; kk++) {
                const __m256i q = _mm256_sub_epi8(v[kk], k32), qa = _mm256_sign_epi8(q, q);
                const int si = 8 * h + 2 * kk, k = k8 + 4 * h + kk;
                /* 16-bit pair products (|q| * a * sign q, |.| <= 2 * 32 * 127)
                 * times the scale of their 16-value half, summed in pairs */
                const __m256i sv = _mm256_set_m128i(_mm_set1_epi16(scales[si + 1]), _mm_set1_epi16(scales[si]));
                for (int j = 0; j < nr; j++) {
                    const __m256i a = _mm256_sign_epi8(A_BLOCK(j, b0 + k), q);
                    ROW_BLOCK(j, _mm256_madd_epi16(_mm256_maddubs_epi16(qa, a), sv), k);
                }
            }
        }
    }
})

#undef ROW_BLOCK
#undef A_BLOCK
#undef GROUP_KERNEL

/* the f16 at the low (hi = 0) or high half of 8 gathered 32-bit words -> 8 floats */
static inline __m256 QK(f16_lanes)(__m256i g, int hi) {
    const __m256i h = hi ? _mm256_srli_epi32(g, 16) : _mm256_and_si256(g, _mm256_set1_epi32(0xFFFF));
    const __m256i p = _mm256_permute4x64_epi64(_mm256_packus_epi32(h, h), 0x08);
    return _mm256_cvtph_ps(_mm256_castsi256_si128(p));
}

/* wd[k] (and wm[k]) = the f16 at byte `off` (and off + 2) of block k, blocks
 * of `stride` bytes: 8 blocks per gather of their first 4 bytes */
static inline void QK(prep32)(const uint8_t *w, int64_t nb, int stride, float *wd, float *wm) {
    const __m256i idx = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(stride));
    int64_t k = 0;
    for (; k + 8 <= nb; k += 8) {
        const __m256i g = _mm256_i32gather_epi32((const int *)(const void *)(w + stride * k), idx, 1);
        _mm256_storeu_ps(wd + k, QK(f16_lanes)(g, 0));
        if (wm) _mm256_storeu_ps(wm + k, QK(f16_lanes)(g, 1));
    }
    for (; k < nb; k++) {
        wd[k] = f16_load(w + stride * k);
        if (wm) wm[k] = f16_load(w + stride * k + 2);
    }
}

/* per-block scales (and offsets) of a whole weight row; nb <= VC_QDOT_MAX_BLOCKS */
static void QK(prep)(vc_dtype t, const uint8_t *w, int64_t nb, float *wd, float *wm) {
    switch (t) {
    case VC_Q8_0: QK(prep32)(w, nb, 34, wd, NULL); break;
    case VC_Q4_0: QK(prep32)(w, nb, 18, wd, NULL); break;
    case VC_Q4_1: QK(prep32)(w, nb, 20, wd, wm); break;
    case VC_Q4_K:
        for (int64_t k = 0; k < nb; k++) {
            const uint8_t *sb = w + 144 * (k / 8);
            float s, m;
            k_scale_min(sb + 4, (int)(k % 8), &s, &m);
            wd[k] = f16_load(sb) * s;
            wm[k] = f16_load(sb + 2) * m;
        }
        break;
    case VC_Q6_K: for (int64_t k = 0; k < nb; k++) wd[k] = f16_load(w + 210 * (k / 8) + 208); break;
    default: break;
    }
}

static void QK(rows)(vc_dtype t, const void *w_row, const void *qx_v, size_t xs, int nr, int64_t n,
                     float *out, size_t os) {
    float wd[VC_QDOT_MAX_BLOCKS] __attribute__((aligned(32))), wm[VC_QDOT_MAX_BLOCKS] __attribute__((aligned(32)));
    const uint8_t *w = w_row, *qx = qx_v;
    QK(prep)(t, w, n / 32, wd, wm);
    for (int r = 0; r < nr; r += QGROUP, qx += QGROUP * xs, out += QGROUP * os) {
        const int g = nr - r < QGROUP ? nr - r : QGROUP;
        switch (t) {
        case VC_Q8_0: DISPATCH_NR(g, QK(q8_0)(w, wd, wm, qx, xs, nr_, n, out, os)); break;
        case VC_Q4_0: DISPATCH_NR(g, QK(q4_0)(w, wd, wm, qx, xs, nr_, n, out, os)); break;
        case VC_Q4_1: DISPATCH_NR(g, QK(q4_1)(w, wd, wm, qx, xs, nr_, n, out, os)); break;
        case VC_Q4_K: DISPATCH_NR(g, QK(q4_k)(w, wd, wm, qx, xs, nr_, n, out, os)); break;
        case VC_Q6_K: DISPATCH_NR(g, QK(q6_k)(w, wd, wm, qx, xs, nr_, n, out, os)); break;
        default: return;
        }
    }
}
