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
 * 8 lanes per row (blocks in order), one horizontal sum at the end, plus a
 * scalar sum for the weights' offsets (Q4_1 m, Q4_K mins). A row's arithmetic
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

KERNEL QK(q8_0)(const uint8_t *w, const uint8_t *qx, size_t xs, int nr, int64_t n, float *out) {
    __m256 acc[VC_DOT_MAX_ROWS];
    for (int j = 0; j < nr; j++) acc[j] = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / 32; b++, w += 34) {
        const __m256i q = _mm256_loadu_si256((const __m256i *)(w + 2));
        const float dw = f16_load(w);
        for (int j = 0; j < nr; j++) {
            const __m256i a = _mm256_loadu_si256((const __m256i *)(qx + j * xs + 32 * b));
            const __m256 s = _mm256_cvtepi32_ps(QK(dot_ss)(q, a));
            acc[j] = _mm256_fmadd_ps(s, _mm256_set1_ps(dw * qrow_d(qx + j * xs, n)[b]), acc[j]);
        }
    }
    for (int j = 0; j < nr; j++) out[j] = hsum256(acc[j]);
}

/* Q4_0: value = d * (q - 8) */
KERNEL QK(q4_0)(const uint8_t *w, const uint8_t *qx, size_t xs, int nr, int64_t n, float *out) {
    __m256 acc[VC_DOT_MAX_ROWS];
    for (int j = 0; j < nr; j++) acc[j] = _mm256_setzero_ps();
    const __m256i eight = _mm256_set1_epi8(8);
    for (int64_t b = 0; b < n / 32; b++, w += 18) {
        const __m256i q = _mm256_sub_epi8(QK(nibbles32)(w + 2), eight);
        const float dw = f16_load(w);
        for (int j = 0; j < nr; j++) {
            const __m256i a = _mm256_loadu_si256((const __m256i *)(qx + j * xs + 32 * b));
            const __m256 s = _mm256_cvtepi32_ps(QK(dot_ss)(q, a));
            acc[j] = _mm256_fmadd_ps(s, _mm256_set1_ps(dw * qrow_d(qx + j * xs, n)[b]), acc[j]);
        }
    }
    for (int j = 0; j < nr; j++) out[j] = hsum256(acc[j]);
}

/* Q4_1: value = d * q + m; the m part is m * (sum of the activation block) */
KERNEL QK(q4_1)(const uint8_t *w, const uint8_t *qx, size_t xs, int nr, int64_t n, float *out) {
    __m256 acc[VC_DOT_MAX_ROWS];
    float accm[VC_DOT_MAX_ROWS];
    for (int j = 0; j < nr; j++) { acc[j] = _mm256_setzero_ps(); accm[j] = 0.0f; }
    for (int64_t b = 0; b < n / 32; b++, w += 20) {
        const __m256i q = QK(nibbles32)(w + 4);
        const float dw = f16_load(w), mw = f16_load(w + 2);
        for (int j = 0; j < nr; j++) {
            const __m256i a = _mm256_loadu_si256((const __m256i *)(qx + j * xs + 32 * b));
            const __m256 s = _mm256_cvtepi32_ps(DOT_US(q, a));
            acc[j] = _mm256_fmadd_ps(s, _mm256_set1_ps(dw * qrow_d(qx + j * xs, n)[b]), acc[j]);
            accm[j] += mw * qrow_s(qx + j * xs, n)[b];
        }
    }
    for (int j = 0; j < nr; j++) out[j] = hsum256(acc[j]) + accm[j];
}

/* Q4_K: 8 sub-blocks of 32 per 256, value = d*sc*q - dmin*m (see dot.c) */
KERNEL QK(q4_k)(const uint8_t *w, const uint8_t *qx, size_t xs, int nr, int64_t n, float *out) {
    __m256 acc[VC_DOT_MAX_ROWS];
    float accm[VC_DOT_MAX_ROWS];
    for (int j = 0; j < nr; j++) { acc[j] = _mm256_setzero_ps(); accm[j] = 0.0f; }
    const __m256i mask = _mm256_set1_epi8(0x0F);
    for (int64_t sb = 0; sb < n / 256; sb++, w += 144) {
        const float d = f16_load(w), dmin = f16_load(w + 2);
        for (int c = 0; c < 4; c++) {
            const __m256i raw = _mm256_loadu_si256((const __m256i *)(w + 16 + 32 * c));
            const __m256i q[2] = { _mm256_and_si256(raw, mask),
                                   _mm256_and_si256(_mm256_srli_epi16(raw, 4), mask) };
            for (int h = 0; h < 2; h++) {
                float sc, mn;
                k_scale_min(w + 4, 2 * c + h, &sc, &mn);
                const float dsc = d * sc, dmn = dmin * mn;
                const int64_t b = sb * 8 + 2 * c + h;
                for (int j = 0; j < nr; j++) {
                    const __m256i a = _mm256_loadu_si256((const __m256i *)(qx + j * xs + 32 * b));
                    const __m256 s = _mm256_cvtepi32_ps(DOT_US(q[h], a));
                    acc[j] = _mm256_fmadd_ps(s, _mm256_set1_ps(dsc * qrow_d(qx + j * xs, n)[b]), acc[j]);
                    accm[j] += dmn * qrow_s(qx + j * xs, n)[b];
                }
            }
        }
    }
    for (int j = 0; j < nr; j++) out[j] = hsum256(acc[j]) - accm[j];
}

/* Q6_K: value = d * scales[16-group] * (v - 32), v 6 bits (see dot.c for the
 * bit layout). Lanes 0-3 of a block's integer dot are its first 16 values,
 * lanes 4-7 the second 16: one scale vector per block. */
KERNEL QK(q6_k)(const uint8_t *w, const uint8_t *qx, size_t xs, int nr, int64_t n, float *out) {
    __m256 acc[VC_DOT_MAX_ROWS];
    for (int j = 0; j < nr; j++) acc[j] = _mm256_setzero_ps();
    const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(3), k32 = _mm256_set1_epi8(32);
    for (int64_t sb = 0; sb < n / 256; sb++, w += 210) {
        const float d = f16_load(w + 208);
        const int8_t *scales = (const int8_t *)(w + 192);
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = w + 64 * h, *qh = w + 128 + 32 * h;
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
            for (int k = 0; k < 4; k++) {
                const __m256i q = _mm256_sub_epi8(v[k], k32);
                const int si = 8 * h + 2 * k;
                const float s0 = d * scales[si], s1 = d * scales[si + 1];
                const __m256 sv = _mm256_setr_ps(s0, s0, s0, s0, s1, s1, s1, s1);
                const int64_t b = sb * 8 + 4 * h + k;
                for (int j = 0; j < nr; j++) {
                    const __m256i a = _mm256_loadu_si256((const __m256i *)(qx + j * xs + 32 * b));
                    const __m256 s = _mm256_cvtepi32_ps(QK(dot_ss)(q, a));
                    const __m256 f = _mm256_mul_ps(sv, _mm256_set1_ps(qrow_d(qx + j * xs, n)[b]));
                    acc[j] = _mm256_fmadd_ps(s, f, acc[j]);
                }
            }
        }
    }
    for (int j = 0; j < nr; j++) out[j] = hsum256(acc[j]);
}

static void QK(rows)(vc_dtype t, const void *w_row, const void *qx, size_t xs, int nr, int64_t n,
                     float *out) {
    switch (t) {
    case VC_Q8_0: DISPATCH_NR(QK(q8_0)(w_row, qx, xs, nr_, n, out)); return;
    case VC_Q4_0: DISPATCH_NR(QK(q4_0)(w_row, qx, xs, nr_, n, out)); return;
    case VC_Q4_1: DISPATCH_NR(QK(q4_1)(w_row, qx, xs, nr_, n, out)); return;
    case VC_Q4_K: DISPATCH_NR(QK(q4_k)(w_row, qx, xs, nr_, n, out)); return;
    case VC_Q6_K: DISPATCH_NR(QK(q6_k)(w_row, qx, xs, nr_, n, out)); return;
    default: return;
    }
}
