/* The 8-bit-activation dot kernels, written once and compiled twice by
 * qdot.c (AVX2 and AVX-512 VNNI). The includer defines
 *   QK(name)     the kernel's name for this instruction set
 *   DOT_ACC(acc, u, s) __m256i: acc + 8 int32 lanes, lane k = sum_{i<4}
 *                u[4k+i] * s[4k+i] for 32 unsigned bytes u and 32 signed bytes s
 *                (exact: every operand here keeps |u * s| + |u' * s'| < 2^15)
 * Both definitions give the same integers, and the float arithmetic around
 * them is the same code, so the two variants are bitwise equal.
 *
 * Every kernel: out[j] = sum over the row of dequant(w) * dequant(qx row j)
 * for j < nr (nr a compile-time constant after DISPATCH in qdot.c); per
 * 32-value block the integer dot is exact, then one float multiply-add into
 * 8 lanes per row (blocks in order), one horizontal sum at the end, plus the
 * weights' offsets (Q4_1 m, Q4_K mins) summed separately. A row's arithmetic
 * does not depend on nr (batch invariance). */

/* 8 x 8 transpose of 32-bit lanes: out[j] lane b = r[b] lane j */
static inline void QK(transpose8)(__m256i r[8]) {
    const __m256i t0 = _mm256_unpacklo_epi32(r[0], r[1]), t1 = _mm256_unpackhi_epi32(r[0], r[1]);
    const __m256i t2 = _mm256_unpacklo_epi32(r[2], r[3]), t3 = _mm256_unpackhi_epi32(r[2], r[3]);
    const __m256i t4 = _mm256_unpacklo_epi32(r[4], r[5]), t5 = _mm256_unpackhi_epi32(r[4], r[5]);
    const __m256i t6 = _mm256_unpacklo_epi32(r[6], r[7]), t7 = _mm256_unpackhi_epi32(r[6], r[7]);
    const __m256i u0 = _mm256_unpacklo_epi64(t0, t2), u1 = _mm256_unpackhi_epi64(t0, t2);
    const __m256i u2 = _mm256_unpacklo_epi64(t1, t3), u3 = _mm256_unpackhi_epi64(t1, t3);
    const __m256i u4 = _mm256_unpacklo_epi64(t4, t6), u5 = _mm256_unpackhi_epi64(t4, t6);
    const __m256i u6 = _mm256_unpacklo_epi64(t5, t7), u7 = _mm256_unpackhi_epi64(t5, t7);
    r[0] = _mm256_permute2x128_si256(u0, u4, 0x20);
    r[1] = _mm256_permute2x128_si256(u1, u5, 0x20);
    r[2] = _mm256_permute2x128_si256(u2, u6, 0x20);
    r[3] = _mm256_permute2x128_si256(u3, u7, 0x20);
    r[4] = _mm256_permute2x128_si256(u0, u4, 0x31);
    r[5] = _mm256_permute2x128_si256(u1, u5, 0x31);
    r[6] = _mm256_permute2x128_si256(u2, u6, 0x31);
    r[7] = _mm256_permute2x128_si256(u3, u7, 0x31);
}

/* 32 nibbles of a 16-byte block, element k < 16 = low nibble of qs[k],
 * element 16 + k = high nibble (Q4_0 / Q4_1 order) */
static inline __m256i QK(nibbles32)(const uint8_t *qs) {
    const __m128i raw = _mm_loadu_si128((const __m128i *)qs);
    const __m256i both = _mm256_set_m128i(_mm_srli_epi16(raw, 4), raw);
    return _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
}

/* Structure of every kernel. The activation rows are in the interleaved
 * layout of qdot.c: per group of 8 blocks, vector j (32 bytes) holds bytes
 * 4j..4j+3 of each of the 8 blocks (a last group of fewer than 8 blocks is
 * in natural order: one dot per block, then exact horizontal sums). The weight row's 8 blocks of a group are
 * unpacked to bytes and transposed the same way (once per group, shared by
 * the rows), so 8 accumulating integer dots (vpdpbusd, or vpmaddubsw +
 * vpmaddwd + add) leave the 8 blocks' exact integer dots in the 8 lanes;
 * then one conversion and one multiply-add by the 8 pair scales
 * sc[k] = wd[k] * d_a[k] per group and row. The weight row's per-block
 * scale wd[k] (and offset wm[k] for Q4_1 / Q4_K) is decoded once per call
 * (prep); pair scales are formed per segment of SEG blocks; the offsets
 * accumulate as 8-lane wm[k] * s_a[k] (then a scalar tail); the 8-lane sums
 * of a group's rows are reduced together (hsum_rows). Rows go by in
 * groups of up to QGROUP; nothing in a row's arithmetic depends on its group
 * (batch invariance). */

/* sc[j][k] = wd[k] * d_j[b0 + k] (0 past nb up to the group end);
 * accm[j] += wm[k] * s_j[b0 + k] (wm NULL: none) */
static inline __attribute__((always_inline)) void QK(seg_scales)(
    const float *wd, const float *wm, const uint8_t *qx, size_t xs, int nr, int64_t n, int64_t b0,
    int nb, float sc[][SEG], __m256 *accm, float *accm_tail) {
    _Pragma("GCC unroll 8")
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
        for (; k % 8; k++) sc[j][k] = 0.0f;
    }
}

/* lane b < kb = the sum of the 8 lanes of p[b], other lanes 0; p[b] for b
 * up to kb rounded up to 2, 4 or 8 are read (exact integer sums) */
static inline __m256i QK(block_sums)(const __m256i *p, int kb) {
    const __m256i z = _mm256_setzero_si256();
    const __m256i t0 = _mm256_hadd_epi32(p[0], kb > 1 ? p[1] : z);
    const __m256i t1 = kb > 2 ? _mm256_hadd_epi32(p[2], p[3]) : z;
    __m256i u0 = _mm256_hadd_epi32(t0, t1), u1 = z;
    if (kb > 4) u1 = _mm256_hadd_epi32(_mm256_hadd_epi32(p[4], p[5]), _mm256_hadd_epi32(p[6], p[7]));
    /* u0 = [b0..b3 low halves | b0..b3 high halves], u1 the same for b4..b7 */
    return _mm256_add_epi32(_mm256_permute2x128_si256(u0, u1, 0x20), _mm256_permute2x128_si256(u0, u1, 0x31));
}

/* the same for floats: lane b < kb = the sum of the 8 lanes of p[b] (in an
 * order exact only for integer values below 2^24, as ksum's) */
static inline __m256 QK(block_sums_ps)(const __m256 *p, int kb) {
    const __m256 z = _mm256_setzero_ps();
    const __m256 t0 = _mm256_hadd_ps(p[0], kb > 1 ? p[1] : z);
    const __m256 t1 = kb > 2 ? _mm256_hadd_ps(p[2], p[3]) : z;
    __m256 u0 = _mm256_hadd_ps(t0, t1), u1 = z;
    if (kb > 4) u1 = _mm256_hadd_ps(_mm256_hadd_ps(p[4], p[5]), _mm256_hadd_ps(p[6], p[7]));
    return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));
}

/* tot[j] = sum of the 8 lanes of v[j] for j < nr, the 8 rows together:
 * per row always ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7)) */
static inline __m256 QK(hsum8)(const __m256 r[8]) {
    const __m256 t0 = _mm256_hadd_ps(r[0], r[1]), t1 = _mm256_hadd_ps(r[2], r[3]);
    const __m256 t2 = _mm256_hadd_ps(r[4], r[5]), t3 = _mm256_hadd_ps(r[6], r[7]);
    const __m256 u0 = _mm256_hadd_ps(t0, t1), u1 = _mm256_hadd_ps(t2, t3);
    return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));
}
static inline void QK(hsum_rows)(const __m256 *v, int nr, float *tot) {
    __m256 r[8];
    for (int j = 0; j < 8; j++) r[j] = j < nr ? v[j] : _mm256_setzero_ps();
    _mm256_storeu_ps(tot, QK(hsum8)(r));
}

/* Q6_K super-block wb: v[8] its 8 blocks' values - 32 (signed bytes),
 * transposed as the activation rows; *s_first / *s_second lane b: block b's
 * first / second 16-value scale (scales[2b], scales[2b+1]) in both 16-bit
 * halves, for vpmaddwd of the pair products of steps 0-3 / 4-7 */
static inline void QK(q6k_group)(const uint8_t *wb, __m256i v[8], __m256i *s_first, __m256i *s_second) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(3), k32 = _mm256_set1_epi8(32);
    for (int h = 0; h < 2; h++) {
        const uint8_t *ql = wb + 64 * h, *qh = wb + 128 + 32 * h;
        const __m256i l0 = _mm256_loadu_si256((const __m256i *)ql);
        const __m256i l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
        const __m256i hb = _mm256_loadu_si256((const __m256i *)qh);
        v[4 * h] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_slli_epi16(_mm256_and_si256(hb, m2), 4));
        v[4 * h + 1] = _mm256_or_si256(_mm256_and_si256(l1, m4),
                                       _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2), m2), 4));
        v[4 * h + 2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                                       _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 4), m2), 4));
        v[4 * h + 3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                       _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 6), m2), 4));
    }
    for (int i = 0; i < 8; i++) v[i] = _mm256_sub_epi8(v[i], k32);
    QK(transpose8)(v);
    const __m128i s16 = _mm_loadu_si128((const __m128i *)(wb + 192));
    const __m256i se = _mm256_cvtepi8_epi32(_mm_shuffle_epi8(s16, _mm_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, -1, -1, -1, -1, -1, -1, -1, -1)));
    const __m256i so = _mm256_cvtepi8_epi32(_mm_shuffle_epi8(s16, _mm_setr_epi8(1, 3, 5, 7, 9, 11, 13, 15, -1, -1, -1, -1, -1, -1, -1, -1)));
    const __m256i lo16 = _mm256_set1_epi32(0xFFFF);
    *s_first = _mm256_or_si256(_mm256_and_si256(se, lo16), _mm256_slli_epi32(se, 16));
    *s_second = _mm256_or_si256(_mm256_and_si256(so, lo16), _mm256_slli_epi32(so, 16));
}

/* Q4_K super-block qs (its 128 bytes of nibbles): v[8] its 8 blocks' values
 * (unsigned bytes); chunk c holds block 2c (low nibbles) and 2c+1 (high) */
static inline void QK(q4k_group)(const uint8_t *qs, __m256i v[8]) {
    for (int c = 0; c < 4; c++) {
        const __m256i raw = _mm256_loadu_si256((const __m256i *)(qs + 32 * c));
        v[2 * c] = _mm256_and_si256(raw, _mm256_set1_epi8(0x0F));
        v[2 * c + 1] = _mm256_and_si256(_mm256_srli_epi16(raw, 4), _mm256_set1_epi8(0x0F));
    }
}

/* GROUP_KERNEL(NAME, WM, WM_USED, SIGN, SIGNED, ...): the variadic argument fills
 * __m256i v[8] with the bytes of blocks b0 + k8 + i (i < 8, zeros past nb),
 * values as the integer dot needs them (signed if SIGNED, else unsigned) */
#define GROUP_KERNEL(NAME, WM, WM_USED, SIGN, SIGNED, ...)                                                 \
    KERNEL QK(NAME)(const uint8_t *w, const float *wd, const float *wmv, const uint8_t *qx,       \
                    size_t xs, int nr, int64_t n, float *out, size_t os) {                        \
        __m256 acc[QGROUP], accm[QGROUP];                                                         \
        float accm_tail[QGROUP];                                                                  \
        float sc[QGROUP][SEG] __attribute__((aligned(32)));                                       \
        (void)wmv;                                                                                \
        _Pragma("GCC unroll 8")                                                                   \
        for (int j = 0; j < nr; j++) {                                                            \
            acc[j] = accm[j] = _mm256_setzero_ps();                                               \
            accm_tail[j] = 0.0f;                                                                  \
        }                                                                                         \
        const int64_t nb = n / 32;                                                                \
        for (int64_t b0 = 0; b0 < nb; b0 += SEG) {                                                \
            const int ns = nb - b0 < SEG ? (int)(nb - b0) : SEG;                                  \
            QK(seg_scales)(wd + b0, WM, qx, xs, nr, n, b0, ns, sc, accm, accm_tail);              \
            for (int k8 = 0; k8 < ns; k8 += 8) {                                                  \
                const int kb = ns - k8 < 8 ? ns - k8 : 8;                                         \
                __m256i v[8];                                                                     \
                __VA_ARGS__                                                                       \
                for (int i = kb; i < 8; i++) v[i] = _mm256_setzero_si256();                       \
                const int64_t g = (b0 + k8) / 8;                                                  \
                if (kb < 8) { /* the row's last group, in natural order */                        \
                    _Pragma("GCC unroll 8")                                                       \
                    for (int j = 0; j < nr; j++) {                                                \
                        const uint8_t *a = qx + j * xs + 256 * g;                                 \
                        __m256i p[8];                                                             \
                        for (int i = 0; i < 8; i++) {                                             \
                            const __m256i ai = _mm256_load_si256((const __m256i *)(a + 32 * i));  \
                            p[i] = SIGNED ? DOT_ACC(_mm256_setzero_si256(), _mm256_sign_epi8(v[i], v[i]), \
                                                    _mm256_sign_epi8(ai, v[i]))                   \
                                          : DOT_ACC(_mm256_setzero_si256(), v[i], ai);            \
                            if (i + 1 >= kb && (i == 1 || i == 3 || i == 7)) break;               \
                        }                                                                         \
                        acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(QK(block_sums)(p, kb)),       \
                                                 _mm256_load_ps(sc[j] + k8), acc[j]);             \
                    }                                                                             \
                    continue;                                                                     \
                }                                                                                 \
                QK(transpose8)(v);                                                                \
                if (SIGNED) {                                                                     \
                    __m256i va[8];                                                                \
                    for (int i = 0; i < 8; i++) va[i] = _mm256_sign_epi8(v[i], v[i]);             \
                    _Pragma("GCC unroll 8")                                                       \
                    for (int j = 0; j < nr; j++) {                                                \
                        const uint8_t *a = qx + j * xs + 256 * g;                                 \
                        __m256i p[2] = { _mm256_setzero_si256(), _mm256_setzero_si256() };        \
                        for (int i = 0; i < 8; i++)                                               \
                            p[i & 1] = DOT_ACC(p[i & 1], va[i], _mm256_sign_epi8(                 \
                                _mm256_load_si256((const __m256i *)(a + 32 * i)), v[i]));         \
                        acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(p[0], p[1])), \
                                                 _mm256_load_ps(sc[j] + k8), acc[j]);             \
                    }                                                                             \
                } else {                                                                          \
                    _Pragma("GCC unroll 8")                                                       \
                    for (int j = 0; j < nr; j++) {                                                \
                        const uint8_t *a = qx + j * xs + 256 * g;                                 \
                        __m256i p[2] = { _mm256_setzero_si256(), _mm256_setzero_si256() };        \
                        for (int i = 0; i < 8; i++)                                               \
                            p[i & 1] = DOT_ACC(p[i & 1], v[i], _mm256_load_si256((const __m256i *)(a + 32 * i))); \
                        acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(p[0], p[1])), \
                                                 _mm256_load_ps(sc[j] + k8), acc[j]);             \
                    }                                                                             \
                }                                                                                 \
            }                                                                                     \
        }                                                                                         \
        float tot[QGROUP], totm[QGROUP];                                                          \
        QK(hsum_rows)(acc, nr, tot);                                                              \
        if (WM_USED) QK(hsum_rows)(accm, nr, totm);                                               \
        _Pragma("GCC unroll 8")                                                                   \
        for (int j = 0; j < nr; j++)                                                              \
            out[j * os] = WM_USED ? tot[j] SIGN (totm[j] + accm_tail[j]) : tot[j];                \
    }

/* Q8_0 { f16 d; i8 q[32] }: value = d * q */
GROUP_KERNEL(q8_0, NULL, 0, +, 1, {
    const uint8_t *wb = w + 34 * (b0 + k8);
    for (int i = 0; i < kb; i++) v[i] = _mm256_loadu_si256((const __m256i *)(wb + 34 * i + 2));
})

/* Q4_0 { f16 d; u8 qs[16] }: value = d * (q - 8) */
GROUP_KERNEL(q4_0, NULL, 0, +, 1, {
    const uint8_t *wb = w + 18 * (b0 + k8);
    for (int i = 0; i < kb; i++) v[i] = _mm256_sub_epi8(QK(nibbles32)(wb + 18 * i + 2), _mm256_set1_epi8(8));
})

/* Q4_1 { f16 d, m; u8 qs[16] }: value = d * q + m; the m part is
 * m * (d_a * sum of the activation block's q) = m * s */
GROUP_KERNEL(q4_1, wmv + b0, 1, +, 0, {
    const uint8_t *wb = w + 20 * (b0 + k8);
    for (int i = 0; i < kb; i++) v[i] = QK(nibbles32)(wb + 20 * i + 4);
})

/* Q4_K: 8 sub-blocks of 32 per 256 (a group is one super-block), value =
 * d*sc*q - dmin*m (see dot.c); chunk c holds sub-block 2c (low nibbles) and
 * 2c+1 (high) */
GROUP_KERNEL(q4_k, wmv + b0, 1, -, 0, {
    QK(q4k_group)(w + 144 * ((b0 + k8) / 8) + 16, v);
})

/* Q5_0 { f16 d; u8 qh[4]; u8 qs[16] }: value = d * (q - 16), q 5 bits */
GROUP_KERNEL(q5_0, NULL, 0, +, 1, {
    const uint8_t *wb = w + 22 * (b0 + k8);
    for (int i = 0; i < kb; i++) v[i] = _mm256_sub_epi8(q5_values(wb + 22 * i + 2, wb + 22 * i + 6), _mm256_set1_epi8(16));
})

/* Q5_1 { f16 d, m; u8 qh[4]; u8 qs[16] }: value = d * q + m (m as Q4_1's) */
GROUP_KERNEL(q5_1, wmv + b0, 1, +, 0, {
    const uint8_t *wb = w + 24 * (b0 + k8);
    for (int i = 0; i < kb; i++) v[i] = q5_values(wb + 24 * i + 4, wb + 24 * i + 8);
})

#undef GROUP_KERNEL

/* Q6_K: value = d * scales[16-group] * (v - 32), v 6 bits (see dot.c for the
 * bit layout); a group is one super-block. Its 16-value sub-scales apply to
 * the 16-bit pair products (vpmaddwd by a vector holding, for lane b, the
 * scale of block b's first half in steps 0-3 and of its second half in steps
 * 4-7): exact, and the same instructions in both variants; the float scale
 * is d * d_a. */
KERNEL QK(q6_k)(const uint8_t *w, const float *wd, const float *wmv, const uint8_t *qx, size_t xs, int nr,
                int64_t n, float *out, size_t os) {
    __m256 acc[QGROUP], accm[QGROUP];
    float accm_tail[QGROUP];
    float sc[QGROUP][SEG] __attribute__((aligned(32)));
    (void)wmv;
    _Pragma("GCC unroll 8")
    for (int j = 0; j < nr; j++) {
        acc[j] = accm[j] = _mm256_setzero_ps();
        accm_tail[j] = 0.0f;
    }
    const int64_t nb = n / 32;
    for (int64_t b0 = 0; b0 < nb; b0 += SEG) {
        const int ns = nb - b0 < SEG ? (int)(nb - b0) : SEG;
        QK(seg_scales)(wd + b0, NULL, qx, xs, nr, n, b0, ns, sc, accm, accm_tail);
        for (int k8 = 0; k8 < ns; k8 += 8) {
            const uint8_t *wb = w + 210 * ((b0 + k8) / 8);
            __m256i v[8], s_first, s_second;
            QK(q6k_group)(wb, v, &s_first, &s_second);
            __m256i va[8];
            for (int i = 0; i < 8; i++) va[i] = _mm256_sign_epi8(v[i], v[i]);
            const int64_t g = (b0 + k8) / 8;
            _Pragma("GCC unroll 8")
            for (int j = 0; j < nr; j++) {
                const uint8_t *a = qx + j * xs + 256 * g;
                __m256i p[2] = { _mm256_setzero_si256(), _mm256_setzero_si256() };
                for (int i = 0; i < 8; i++) {
                    const __m256i ai = _mm256_sign_epi8(_mm256_load_si256((const __m256i *)(a + 32 * i)), v[i]);
                    p[i & 1] = _mm256_add_epi32(p[i & 1], _mm256_madd_epi16(_mm256_maddubs_epi16(va[i], ai),
                                                                            i < 4 ? s_first : s_second));
                }
                acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(p[0], p[1])), _mm256_load_ps(sc[j] + k8),
                                         acc[j]);
            }
        }
    }
    float tot[QGROUP];
    QK(hsum_rows)(acc, nr, tot);
    _Pragma("GCC unroll 8")
    for (int j = 0; j < nr; j++) out[j * os] = tot[j];
}

/* Rows rounded by VC_Q8_RULE_K (llama.cpp's Q8_K: one d per 256 values,
 * s[b] = block b's integer sum of q) against Q4_K / Q6_K: per super-block g
 * the block dots are scaled by the weights' integer sub-block scales and
 * summed in integers, the mins' term too, then one float step per
 * super-block and row (as llama.cpp's own dot):
 *   I = sum_b sc_b * dot_b    (Q6_K: per 16-value half)   int32, exact
 *   M = sum_b m_b * s_b       (Q4_K)                      < 2^24, exact in float
 *   acc = fma(float(I), d * d_a, acc); accm = fma(M, dmin * d_a, accm)
 * and out = acc - accm. Here the lanes are the nr rows (the 8 blocks' lanes
 * summed in integers first); the AMX path (qdot.c) does the same two float
 * steps per row and column, so the two give the same bits. */
KERNEL QK(ksum)(vc_dtype t, const uint8_t *w, const uint8_t *qx, size_t xs, int nr, int64_t n, float *out,
                size_t os) {
    __m256 acc = _mm256_setzero_ps(), accm = _mm256_setzero_ps();
    const int q6 = t == VC_Q6_K;
    for (int64_t g = 0; g < n / 256; g++) {
        __m256i v[8], s_first, s_second, sc = _mm256_setzero_si256();
        __m256 mins = _mm256_setzero_ps();
        float dw, dmw = 0.0f;
        if (q6) {
            const uint8_t *wb = w + 210 * g;
            QK(q6k_group)(wb, v, &s_first, &s_second);
            dw = f16_load(wb + 208);
        } else {
            const uint8_t *wb = w + 144 * g;
            uint64_t scb, mnb;
            q4k_scales(wb, &scb, &mnb);
            QK(q4k_group)(wb + 16, v);
            QK(transpose8)(v);
            sc = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)scb));
            mins = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)mnb)));
            dw = f16_load(wb);
            dmw = f16_load(wb + 2);
        }
        __m256i p[8];
        __m256 mp[8];
        float da[8] __attribute__((aligned(32)));
        for (int j = 0; j < 8; j++) {
            p[j] = _mm256_setzero_si256();
            mp[j] = _mm256_setzero_ps();
            da[j] = 0.0f;
        }
        _Pragma("GCC unroll 8")
        for (int j = 0; j < nr; j++) {
            const uint8_t *a = qx + j * xs + 256 * g;
            da[j] = qrow_d(qx + j * xs, n)[8 * g];
            __m256i q[2] = { _mm256_setzero_si256(), _mm256_setzero_si256() };
            if (q6) {
                for (int i = 0; i < 8; i++) {
                    const __m256i ai = _mm256_sign_epi8(_mm256_load_si256((const __m256i *)(a + 32 * i)), v[i]);
                    q[i & 1] = _mm256_add_epi32(q[i & 1], _mm256_madd_epi16(_mm256_maddubs_epi16(
                                                    _mm256_sign_epi8(v[i], v[i]), ai), i < 4 ? s_first : s_second));
                }
                p[j] = _mm256_add_epi32(q[0], q[1]);
            } else {
                for (int i = 0; i < 8; i++)
                    q[i & 1] = DOT_ACC(q[i & 1], v[i], _mm256_load_si256((const __m256i *)(a + 32 * i)));
                p[j] = _mm256_mullo_epi32(_mm256_add_epi32(q[0], q[1]), sc);
                mp[j] = _mm256_mul_ps(mins, _mm256_loadu_ps(qrow_s(qx + j * xs, n) + 8 * g));
            }
        }
        const __m256 dav = _mm256_load_ps(da);
        if (nr == 1 && !q6) {
            /* one row (decode): I and M in one integer reduction (M's
             * products as integers: the same exact value) */
            const __m256i mi = _mm256_cvtps_epi32(mp[0]);
            const __m256i h2 = _mm256_hadd_epi32(p[0], mi);               /* P01 P23 M01 M23 | P45 P67 M45 M67 */
            const __m256i h4 = _mm256_hadd_epi32(h2, h2);                 /* P0123 M0123 . . | P4567 M4567 . . */
            const __m128i im = _mm_add_epi32(_mm256_castsi256_si128(h4), _mm256_extracti128_si256(h4, 1));
            acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_zextsi128_si256(im)),
                                  _mm256_mul_ps(_mm256_set1_ps(dw), dav), acc);
            accm = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_zextsi128_si256(_mm_shuffle_epi32(im, 1))),
                                   _mm256_mul_ps(_mm256_set1_ps(dmw), dav), accm);
            continue;
        }
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(QK(block_sums)(p, nr)), _mm256_mul_ps(_mm256_set1_ps(dw), dav), acc);
        if (!q6) accm = _mm256_fmadd_ps(QK(block_sums_ps)(mp, nr), _mm256_mul_ps(_mm256_set1_ps(dmw), dav), accm);
    }
    float o[8] __attribute__((aligned(32)));
    _mm256_store_ps(o, _mm256_sub_ps(acc, accm));
    _Pragma("GCC unroll 8")
    for (int j = 0; j < nr; j++) out[j * os] = o[j];
}

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
    case VC_Q5_0: QK(prep32)(w, nb, 22, wd, NULL); break;
    case VC_Q5_1: QK(prep32)(w, nb, 24, wd, wm); break;
    case VC_Q4_K:
        /* the 8 six-bit scales and mins of a super-block (k_scale_min's
         * layout) as two 32-bit words each, then 8 lanes at once: the same
         * exact integer -> float and one multiply as the scalar form */
        for (int64_t k = 0; k < nb; k += 8) {
            const uint8_t *sb = w + 144 * (k / 8);
            uint64_t sc, mn;
            q4k_scales(sb, &sc, &mn);
            const __m256 vs = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)sc)));
            const __m256 vm = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)mn)));
            _mm256_storeu_ps(wd + k, _mm256_mul_ps(_mm256_set1_ps(f16_load(sb)), vs));
            _mm256_storeu_ps(wm + k, _mm256_mul_ps(_mm256_set1_ps(f16_load(sb + 2)), vm));
        }
        break;
    case VC_Q6_K: for (int64_t k = 0; k < nb; k++) wd[k] = f16_load(w + 210 * (k / 8) + 208); break;
    default: break;
    }
}

static void QK(rows)(vc_dtype t, const void *w_row, const void *qx_v, size_t xs, vc_q8_rule rule, int nr,
                     int64_t n, float *out, size_t os) {
    if (rule == VC_Q8_RULE_K && (t == VC_Q4_K || t == VC_Q6_K)) {
        const uint8_t *qx = qx_v;
        for (int r = 0; r < nr; r += QGROUP, qx += QGROUP * xs, out += QGROUP * os) {
            const int g = nr - r < QGROUP ? nr - r : QGROUP;
            DISPATCH_NR(g, QK(ksum)(t, w_row, qx, xs, nr_, n, out, os));
        }
        return;
    }
    float wd[VC_QDOT_MAX_BLOCKS] __attribute__((aligned(32))), wm[VC_QDOT_MAX_BLOCKS] __attribute__((aligned(32)));
    const uint8_t *w = w_row, *qx = qx_v;
    QK(prep)(t, w, n / 32, wd, wm);
    for (int r = 0; r < nr; r += QGROUP, qx += QGROUP * xs, out += QGROUP * os) {
        const int g = nr - r < QGROUP ? nr - r : QGROUP;
        switch (t) {
        case VC_Q8_0: DISPATCH_NR(g, QK(q8_0)(w, wd, wm, qx, xs, nr_, n, out, os)); break;
        case VC_Q4_0: DISPATCH_NR(g, QK(q4_0)(w, wd, wm, qx, xs, nr_, n, out, os)); break;
        case VC_Q4_1: DISPATCH_NR(g, QK(q4_1)(w, wd, wm, qx, xs, nr_, n, out, os)); break;
        case VC_Q5_0: DISPATCH_NR(g, QK(q5_0)(w, wd, wm, qx, xs, nr_, n, out, os)); break;
        case VC_Q5_1: DISPATCH_NR(g, QK(q5_1)(w, wd, wm, qx, xs, nr_, n, out, os)); break;
        case VC_Q4_K: DISPATCH_NR(g, QK(q4_k)(w, wd, wm, qx, xs, nr_, n, out, os)); break;
        case VC_Q6_K: DISPATCH_NR(g, QK(q6_k)(w, wd, wm, qx, xs, nr_, n, out, os)); break;
        default: return;
        }
    }
}
