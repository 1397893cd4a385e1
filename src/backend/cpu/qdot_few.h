/* Few-row (decode) dot kernels on 512-bit vectors, included by qdot.c in its
 * AVX-512 VNNI section. One weight row against nr <= VC_QDOT_FEW_ROWS
 * quantized activation rows, given also as plain int8 in natural order
 * (nat, the AMX path's copy): the weight bytes are not transposed (the
 * group kernels' 8 x 8 shuffle, which one or two rows do not amortize);
 * instead two blocks share a 512-bit vector, vpdpbusd leaves 8 partial sums
 * per block, and one reduction per 8 blocks (few_red8) gives the 8 blocks'
 * exact integer dots in the lanes where the group kernel has them. The float
 * part is the group kernel's, step for step (seg_scales' products and
 * offset split, the same fma per group, hsum_rows' order in few_hsum2), so
 * out is bitwise vc_cpu_qdot_rows': which kernel ran never shows.
 *
 *   Q4_0 / Q4_1 / Q8_0: vector = blocks k, k+1 (their activation bytes: one
 *   64-byte load); Q4_K: one 64-byte load of the nibbles is sub-blocks
 *   (2c, 2c+2) in the low nibbles, (2c+1, 2c+3) in the high ones, and the
 *   activation halves are loaded to match. Signed weights (Q4_0, Q8_0) take
 *   |w| and the activation's sign flipped where w < 0 (vpdpbusd multiplies
 *   unsigned by signed bytes). */

enum { FEW_ROWS = VC_QDOT_FEW_ROWS };

/* p[i] lanes 0-7 / 8-15: the partial sums of the blocks first[i] /
 * second[i]; returns the 8 blocks' totals in the order idx names (lane L of
 * the result = dword idx[L] of s, where dword i = first[i], 8 + i =
 * second[i]) */
static inline __m256i few_red8(__m512i p0, __m512i p1, __m512i p2, __m512i p3, __m512i idx) {
    const __m512i q0 = _mm512_add_epi32(_mm512_unpacklo_epi32(p0, p1), _mm512_unpackhi_epi32(p0, p1));
    const __m512i q1 = _mm512_add_epi32(_mm512_unpacklo_epi32(p2, p3), _mm512_unpackhi_epi32(p2, p3));
    /* r, per 128-bit lane: that lane's sums of p0, p1, p2, p3 */
    const __m512i r = _mm512_add_epi32(_mm512_unpacklo_epi64(q0, q1), _mm512_unpackhi_epi64(q0, q1));
    /* s: lane 0 the first blocks' totals, lane 2 the second blocks' */
    const __m512i s = _mm512_add_epi32(r, _mm512_shuffle_i32x4(r, r, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm512_castsi512_si256(_mm512_permutexvar_epi32(idx, s));
}

/* 32 nibbles of each of two 16-byte blocks (nibbles32's order) */
static inline __m512i few_nibbles2(const uint8_t *qs0, const uint8_t *qs1) {
    const __m256i a = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)qs0));
    const __m256i b = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)qs1));
    __m512i z = _mm512_inserti64x4(_mm512_castsi256_si512(a), b, 1);
    z = _mm512_mask_srli_epi16(z, 0xFF00FF00u, z, 4); /* bytes 16-31 and 48-63: the high nibbles */
    return _mm512_and_si512(z, _mm512_set1_epi8(0x0F));
}

/* vpdpbusd of signed weight bytes w with activation bytes a */
static inline __m512i few_dot_signed(__m512i w, __m512i a) {
    const __mmask64 neg = _mm512_movepi8_mask(w);
    return _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_abs_epi8(w),
                               _mm512_mask_sub_epi8(a, neg, _mm512_setzero_si512(), a));
}

/* the 64 activation bytes at p (at a multiple of 64 in a row of vc_cpu_qnat_bytes)
 * for a pair with kb > 0 blocks present (those bytes are in the row: the
 * weights' zeros meet the padding past n), zeros for kb <= 0 (nothing read) */
static inline __m512i few_load(const void *p, int kb) {
    return kb > 0 ? _mm512_loadu_si512(p) : _mm512_setzero_si512();
}

/* dots[j] = exact integer dots of blocks 8g .. 8g + kb - 1 with row j, 0 in
 * the lanes past them (kb = 8 but for a row's last group) */
static inline __attribute__((always_inline)) void few_group(vc_dtype t, const uint8_t *w, int64_t g, int kb,
                                                            const int8_t *nat, size_t ns, int nr, __m256i *dots) {
    const __m512i pairs = _mm512_setr_epi32(0, 8, 1, 9, 2, 10, 3, 11, 0, 0, 0, 0, 0, 0, 0, 0);
    if (t == VC_Q4_K) { /* kb = 8: super-blocks are whole */
        const uint8_t *qs = w + 144 * g + 16;
        const __m512i z0 = _mm512_loadu_si512(qs), z1 = _mm512_loadu_si512(qs + 64), m4 = _mm512_set1_epi8(0x0F);
        const __m512i w0 = _mm512_and_si512(z0, m4), w1 = _mm512_and_si512(_mm512_srli_epi16(z0, 4), m4);
        const __m512i w2 = _mm512_and_si512(z1, m4), w3 = _mm512_and_si512(_mm512_srli_epi16(z1, 4), m4);
        /* w0 = sub-blocks (0, 2), w1 = (1, 3), w2 = (4, 6), w3 = (5, 7) */
        const __m512i order = _mm512_setr_epi32(0, 1, 8, 9, 2, 3, 10, 11, 0, 0, 0, 0, 0, 0, 0, 0);
        for (int j = 0; j < nr; j++) {
            const int8_t *a = nat + j * ns + 256 * g;
#define HALVES(x, y) _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(a + 32 * (x)))), \
                                        _mm256_loadu_si256((const __m256i *)(a + 32 * (y))), 1)
            const __m512i z = _mm512_setzero_si512();
            dots[j] = few_red8(_mm512_dpbusd_epi32(z, w0, HALVES(0, 2)), _mm512_dpbusd_epi32(z, w1, HALVES(1, 3)),
                               _mm512_dpbusd_epi32(z, w2, HALVES(4, 6)), _mm512_dpbusd_epi32(z, w3, HALVES(5, 7)),
                               order);
#undef HALVES
        }
        return;
    }
    /* wv[i]: blocks k = 8g + 2i and k + 1, zeros for blocks past kb */
    __m512i wv[4];
    for (int i = 0; i < 4; i++) {
        const int64_t k = 8 * g + 2 * i;
        const int left = kb - 2 * i; /* blocks of this pair present: >= 2, 1 or <= 0 */
        if (left <= 0) {
            wv[i] = _mm512_setzero_si512();
            continue;
        }
        const int k1 = left >= 2; /* offset of the second block: itself, or the first again (then zeroed) */
        switch (t) {
        case VC_Q4_1: wv[i] = few_nibbles2(w + 20 * k + 4, w + 20 * (k + k1) + 4); break;
        case VC_Q4_0: wv[i] = _mm512_sub_epi8(few_nibbles2(w + 18 * k + 2, w + 18 * (k + k1) + 2), _mm512_set1_epi8(8)); break;
        default: /* VC_Q8_0 */
            wv[i] = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(w + 34 * k + 2))),
                                       _mm256_loadu_si256((const __m256i *)(w + 34 * (k + k1) + 2)), 1);
            break;
        }
        if (!k1) wv[i] = _mm512_zextsi256_si512(_mm512_castsi512_si256(wv[i]));
    }
    for (int j = 0; j < nr; j++) {
        const int8_t *a = nat + j * ns + 256 * g;
        __m512i p[4];
        for (int i = 0; i < 4; i++) {
            const __m512i ai = few_load(a + 64 * i, kb - 2 * i);
            p[i] = t == VC_Q4_1 ? _mm512_dpbusd_epi32(_mm512_setzero_si512(), wv[i], ai) : few_dot_signed(wv[i], ai);
        }
        dots[j] = few_red8(p[0], p[1], p[2], p[3], pairs);
    }
}

/* the group kernels' hsum_rows for one row (the same additions in the same
 * order), its offsets' sum alongside: *t = sum of acc, *m = sum of accm */
static inline void few_hsum2(__m256 acc, __m256 accm, float *t, float *m) {
    const __m256 h = _mm256_hadd_ps(acc, accm); /* a01 a23 m01 m23 | a45 a67 m45 m67 */
    const __m256 h2 = _mm256_hadd_ps(h, h);     /* a0123 m0123 . . | a4567 m4567 . . */
    const __m128 r = _mm_add_ps(_mm256_castps256_ps128(h2), _mm256_extractf128_ps(h2, 1));
    *t = _mm_cvtss_f32(r);
    *m = _mm_cvtss_f32(_mm_shuffle_ps(r, r, 1));
}

/* the types few_group knows (Q4_K rows are whole super-blocks: its kb is always 8) */
static int vnni_few_supported(vc_dtype t) { return t == VC_Q4_0 || t == VC_Q4_1 || t == VC_Q8_0 || t == VC_Q4_K; }

/* out[j * os] for j < nr <= FEW_ROWS: vnni_rows' value (VC_Q8_RULE_F32 or
 * _F16 rows); the structure of GROUP_KERNEL with the dots from few_group */
static inline __attribute__((always_inline)) void vnni_few_nr(vc_dtype t, const uint8_t *w, const float *wd,
                                                              const float *wm, const int8_t *nat, size_t ns,
                                                              const uint8_t *qx, size_t xs, int nr, int64_t n,
                                                              float *out, size_t os) {
    const int offs = t == VC_Q4_1 || t == VC_Q4_K;
    __m256 acc[FEW_ROWS], accm[FEW_ROWS];
    float accm_tail[FEW_ROWS];
    float sc[FEW_ROWS][SEG] __attribute__((aligned(32)));
    for (int j = 0; j < nr; j++) {
        acc[j] = accm[j] = _mm256_setzero_ps();
        accm_tail[j] = 0.0f;
    }
    const int64_t nb = n / 32;
    for (int64_t b0 = 0; b0 < nb; b0 += SEG) {
        const int ns_ = nb - b0 < SEG ? (int)(nb - b0) : SEG;
        vnni_seg_scales(wd + b0, offs ? wm + b0 : NULL, qx, xs, nr, n, b0, ns_, sc, accm, accm_tail);
        for (int k8 = 0; k8 < ns_; k8 += 8) {
            const int kb = ns_ - k8 < 8 ? ns_ - k8 : 8;
            const int64_t g = (b0 + k8) / 8;
            __m256i dots[FEW_ROWS];
            /* 8 as a constant: the whole groups inline without the tail's branches */
            if (kb == 8) few_group(t, w, g, 8, nat, ns, nr, dots);
            else few_group(t, w, g, kb, nat, ns, nr, dots);
            for (int j = 0; j < nr; j++)
                acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dots[j]), _mm256_load_ps(sc[j] + k8), acc[j]);
        }
    }
    float tot[FEW_ROWS], totm[FEW_ROWS];
    for (int j = 0; j < nr; j++) few_hsum2(acc[j], accm[j], &tot[j], &totm[j]);
    for (int j = 0; j < nr; j++)
        out[j * os] = !offs ? tot[j] : t == VC_Q4_K ? tot[j] - (totm[j] + accm_tail[j]) : tot[j] + (totm[j] + accm_tail[j]);
}

static void vnni_few(vc_dtype t, const uint8_t *w, const int8_t *nat, size_t ns, const uint8_t *qx, size_t xs,
                     int nr, int64_t n, float *out, size_t os) {
    float wd[VC_QDOT_MAX_BLOCKS] __attribute__((aligned(32))), wm[VC_QDOT_MAX_BLOCKS] __attribute__((aligned(32)));
    vnni_prep(t, w, n / 32, wd, wm);
#define FEW_CASE(T, NR) vnni_few_nr(T, w, wd, wm, nat, ns, qx, xs, NR, n, out, os)
#define FEW_TYPE(T) if (nr == 1) FEW_CASE(T, 1); else FEW_CASE(T, 2); break
    switch (t) {
    case VC_Q4_K: FEW_TYPE(VC_Q4_K);
    case VC_Q4_1: FEW_TYPE(VC_Q4_1);
    case VC_Q4_0: FEW_TYPE(VC_Q4_0);
    default: FEW_TYPE(VC_Q8_0);
    }
#undef FEW_TYPE
#undef FEW_CASE
}
