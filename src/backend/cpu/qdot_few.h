/* Few-row (decode) dot kernels, included by qdot.c in its AVX-512 VNNI
 * section. One weight row against nr <= VC_QDOT_FEW_ROWS quantized
 * activation rows (qx, the group kernels' interleaved layout, and nat, the
 * same bytes in natural order: the AMX path's copy, with a row's last
 * partial group once more interleaved after it). The group kernels
 * transpose 8 weight blocks by shuffles (8 x 8 of 32-bit lanes), which one
 * or two activation rows do not amortize; here the weight bytes arrive in
 * the interleaved layout from the load units and permutes instead: Q4_1,
 * Q4_K and Q6_K by 64-byte loads and a permute per two vectors (few_q41_8,
 * few_q4k8, few_q6k8; Q6_K's two 16-value scales per block multiply the
 * exact half-block dots), Q4_0 / Q8_0 (blocks of 18 and 34 bytes, not
 * dword-aligned) by loads and transposes in registers (few_blocks8). So
 * vpdpbusd leaves each block's exact dot in its lane as in the group
 * kernels, and the float part repeats theirs step for step in registers
 * (vnni_few_nr): out is bitwise vc_cpu_qdot_rows', which kernel ran never
 * shows. A row's last, partial group (n / 32 not a multiple of 8; never the
 * K-quants): Q4_1 as a whole group of masked loads against nat's
 * interleaved copy; Q4_0 / Q8_0 from few_group, two blocks per 512-bit
 * vector over the natural-order copy, vpdpbusd's 8 partial sums per block
 * reduced by few_red8. Signed weights (Q4_0, Q8_0) take |w| and the
 * activation's sign flipped where w < 0 (vpdpbusd multiplies unsigned by
 * signed bytes). One weight row, one core, from L2: Q4_1 1536 -> 512
 * 14.8 -> 19.7 GB/s by gathers, 27.7 by permutes (576-wide rows, with their
 * 2-block tail: 11.0 -> 11.6 -> 16.0); Q6_K 2816 -> 256 (the group kernel
 * at one row before) 11.3 -> 19.1 GB/s (Sapphire Rapids). Rows whose
 * blocks make no whole groups go by packs of rows that do (vnni_pack_nr,
 * no partial group per row): on Zen 4 a 576-wide Q4_1 row 27.8 -> 25.4 ns;
 * Q8_0 with a pair (and Q4_0) by loads + transposes instead of gathers,
 * 71 -> 36 ns (50 -> 27). */

enum { FEW_ROWS = VC_QDOT_FEW_ROWS };

/* p[i] lanes 0-7 / 8-15: the partial sums of blocks 2i / 2i + 1; returns
 * the 8 blocks' totals in block order (lane L of the result = dword
 * pairs[L] of s, where dword i = block 2i, 8 + i = block 2i + 1) */
static inline __m256i few_red8(__m512i p0, __m512i p1, __m512i p2, __m512i p3) {
    const __m512i q0 = _mm512_add_epi32(_mm512_unpacklo_epi32(p0, p1), _mm512_unpackhi_epi32(p0, p1));
    const __m512i q1 = _mm512_add_epi32(_mm512_unpacklo_epi32(p2, p3), _mm512_unpackhi_epi32(p2, p3));
    /* r, per 128-bit lane: that lane's sums of p0, p1, p2, p3 */
    const __m512i r = _mm512_add_epi32(_mm512_unpacklo_epi64(q0, q1), _mm512_unpackhi_epi64(q0, q1));
    /* s: lane 0 the first blocks' totals, lane 2 the second blocks' */
    const __m512i s = _mm512_add_epi32(r, _mm512_shuffle_i32x4(r, r, _MM_SHUFFLE(2, 3, 0, 1)));
    const __m512i pairs = _mm512_setr_epi32(0, 8, 1, 9, 2, 10, 3, 11, 0, 0, 0, 0, 0, 0, 0, 0);
    return _mm512_castsi512_si256(_mm512_permutexvar_epi32(pairs, s));
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

/* dots[j] = exact integer dots of blocks 8g .. 8g + kb - 1 (kb < 8: a row's
 * last, partial group; Q4_0 / Q8_0) with row j, 0 in the lanes past them */
static inline __attribute__((always_inline)) void few_group(vc_dtype t, const uint8_t *w, int64_t g, int kb,
                                                            const int8_t *nat, size_t ns, int nr, __m256i *dots) {
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
            p[i] = few_dot_signed(wv[i], ai);
        }
        dots[j] = few_red8(p[0], p[1], p[2], p[3]);
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

/* the types vnni_few_nr knows (Q4_K / Q6_K rows are whole super-blocks: no
 * partial last group, the only use of few_group) */
static int vnni_few_supported(vc_dtype t) {
    return t == VC_Q4_0 || t == VC_Q4_1 || t == VC_Q8_0 || t == VC_Q4_K || t == VC_Q6_K;
}

/* the f16 scales at the start of 8 blocks `stride` bytes apart, as floats
 * (16-bit loads: fewer cycles than a gather on Zen 4) */
static inline __m256 few_scales8(const uint8_t *b, int stride) {
    uint16_t h[8];
    for (int i = 0; i < 8; i++) memcpy(&h[i], b + stride * i, 2);
    __m128i v = _mm_cvtsi32_si128(h[0]);
    v = _mm_insert_epi16(v, h[1], 1);
    v = _mm_insert_epi16(v, h[2], 2);
    v = _mm_insert_epi16(v, h[3], 3);
    v = _mm_insert_epi16(v, h[4], 4);
    v = _mm_insert_epi16(v, h[5], 5);
    v = _mm_insert_epi16(v, h[6], 6);
    v = _mm_insert_epi16(v, h[7], 7);
    return _mm256_cvtph_ps(v);
}

/* the 8 blocks at b of a Q4_0 / Q8_0 row (quants at byte 2 of each) in the
 * activations' interleaved layout: wv[j] lane b = bytes 4j..4j+3 of block b
 * (Q4_0: of its 32 values, nibbles32's order), signed. By loads and
 * transposes in registers (the group kernels' 8 x 8 for Q8_0, 4 x 4 within
 * 128-bit lanes for Q4_0): on Zen 4 a Q8_0 row of 576 with a pair 71 -> 40
 * ns than by 8 gathers of dword j of the 8 blocks. */
static inline __attribute__((always_inline)) void few_blocks8(vc_dtype t, const uint8_t *b, __m256i wv[8]) {
    const int stride = 18; /* Q4_0 (Q8_0 returns first) */
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    if (t == VC_Q8_0) {
        for (int j = 0; j < 8; j++) wv[j] = _mm256_loadu_si256((const __m256i *)(const void *)(b + 2 + 34 * j));
        vnni_transpose8(wv);
        return;
    }
    /* Q4_0: r[i] = the 16 quant bytes of blocks i | i + 4, transposed 4 x 4
     * within 128-bit lanes: q[j] lane b = dword j of block b */
    __m256i r[4], q4[4];
    for (int i = 0; i < 4; i++)
        r[i] = _mm256_loadu2_m128i((const __m128i *)(const void *)(b + 2 + (size_t)stride * (i + 4)),
                                   (const __m128i *)(const void *)(b + 2 + (size_t)stride * i));
    const __m256i t0 = _mm256_unpacklo_epi32(r[0], r[1]), t1 = _mm256_unpackhi_epi32(r[0], r[1]);
    const __m256i t2 = _mm256_unpacklo_epi32(r[2], r[3]), t3 = _mm256_unpackhi_epi32(r[2], r[3]);
    q4[0] = _mm256_unpacklo_epi64(t0, t2);
    q4[1] = _mm256_unpackhi_epi64(t0, t2);
    q4[2] = _mm256_unpacklo_epi64(t1, t3);
    q4[3] = _mm256_unpackhi_epi64(t1, t3);
    for (int j = 0; j < 4; j++) {
        const __m256i q = q4[j];
        wv[j] = _mm256_and_si256(q, m4);                          /* values 4j.. : low nibbles */
        wv[j + 4] = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4); /* values 16 + 4j.. : high nibbles */
        wv[j] = _mm256_sub_epi8(wv[j], _mm256_set1_epi8(8));
        wv[j + 4] = _mm256_sub_epi8(wv[j + 4], _mm256_set1_epi8(8));
    }
}

/* Q4_K super-block g's 8 blocks the same way, two vectors per register:
 * wv[i] lanes 0-7 = vector 2i, lanes 8-15 = vector 2i + 1 (sub-blocks 2c,
 * 2c + 1 share the bytes qs[32c..32c+31]: low and high nibbles) */
static inline __attribute__((always_inline)) void few_q4k8(const uint8_t *sb, __m512i wv[4]) {
    const __m512i q0 = _mm512_loadu_si512(sb + 16), q1 = _mm512_loadu_si512(sb + 80);
    /* lane L of wv[i]: dword 8 c + 2 i + L / 8 of qs, c = (L % 8) / 2; odd L % 8: high nibbles */
    const __m512i base = _mm512_setr_epi32(0, 0, 8, 8, 16, 16, 24, 24, 1, 1, 9, 9, 17, 17, 25, 25);
    const __m512i sh = _mm512_setr_epi32(0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4);
    for (int i = 0; i < 4; i++) {
        const __m512i v = _mm512_permutex2var_epi32(q0, _mm512_add_epi32(base, _mm512_set1_epi32(2 * i)), q1);
        wv[i] = _mm512_and_si512(_mm512_srlv_epi32(v, sh), _mm512_set1_epi8(0x0F));
    }
}

/* Q6_K super-block wb's 8 blocks the same way (values - 32, signed), two
 * vectors per register as few_q4k8: block b = 4h + r takes the low (r < 2)
 * or high nibbles of ql dword 16h + 8(r & 1) + j and bits 2r, 2r + 1 of qh
 * dword 8h + j (the layout q6k_group unpacks) */
static inline __attribute__((always_inline)) void few_q6k8(const uint8_t *wb, __m512i wv[4]) {
    const __m512i l0 = _mm512_loadu_si512(wb), l1 = _mm512_loadu_si512(wb + 64), hb = _mm512_loadu_si512(wb + 128);
    const __m512i lidx = _mm512_setr_epi32(0, 8, 0, 8, 16, 24, 16, 24, 1, 9, 1, 9, 17, 25, 17, 25);
    const __m512i hidx = _mm512_setr_epi32(0, 0, 0, 0, 8, 8, 8, 8, 1, 1, 1, 1, 9, 9, 9, 9);
    const __m512i lsh = _mm512_setr_epi32(0, 0, 4, 4, 0, 0, 4, 4, 0, 0, 4, 4, 0, 0, 4, 4);
    const __m512i hsh = _mm512_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6, 0, 2, 4, 6, 0, 2, 4, 6);
    for (int i = 0; i < 4; i++) {
        const __m512i step = _mm512_set1_epi32(2 * i);
        const __m512i lo = _mm512_and_si512(_mm512_srlv_epi32(_mm512_permutex2var_epi32(l0, _mm512_add_epi32(lidx, step), l1), lsh),
                                            _mm512_set1_epi8(0x0F));
        const __m512i hi = _mm512_and_si512(_mm512_srlv_epi32(_mm512_permutexvar_epi32(_mm512_add_epi32(hidx, step), hb), hsh),
                                            _mm512_set1_epi8(0x03));
        wv[i] = _mm512_sub_epi8(_mm512_or_si512(lo, _mm512_slli_epi32(hi, 4)), _mm512_set1_epi8(32));
    }
}

/* the first c (clamped to 0..16) lanes */
static inline __mmask16 few_mask16(int c) {
    return (__mmask16)(c >= 16 ? 0xFFFF : c <= 0 ? 0 : (1u << c) - 1);
}

/* Q4_1 group g's 8 blocks (160 bytes: per block 5 dwords, d and m, then
 * qs dwords 0-3) in the interleaved layout by permutes of 64-byte loads
 * instead of gathers: group dword k from A, B (k < 32, one vpermt2d) or C
 * (loaded at dword 24: the k >= 32 of blocks 6 and 7, a masked vpermd).
 * dm lane b = dword 5b; wv[0] / wv[1] the low nibbles of qs dwords 0, 1 /
 * 2, 3 (lanes 0-7 / 8-15), wv[2] / wv[3] their high nibbles: against the
 * activation bytes at 0, 64, 128, 192 of the group */
static inline __attribute__((always_inline)) void few_q41_8(const uint8_t *b, int kb, __m256i *dm, __m512i wv[4]) {
    __m512i A, B, C;
    if (kb == 8) {
        A = _mm512_loadu_si512(b);
        B = _mm512_loadu_si512(b + 64);
        C = _mm512_loadu_si512(b + 96);
    } else { /* a row's last kb < 8 blocks: the 5 kb dwords present, zeros past them */
        const int nd = 5 * kb;
        A = _mm512_maskz_loadu_epi32(few_mask16(nd), b);
        B = _mm512_maskz_loadu_epi32(few_mask16(nd - 16), b + 64);
        C = _mm512_maskz_loadu_epi32(few_mask16(nd - 24), b + 96);
    }
    /* lane L of Q0: k = 5 (L % 8) + 1 + L / 8; of Q1: k = 5 (L % 8) + 3 + L / 8 */
    const __m512i k_dm = _mm512_setr_epi32(0, 5, 10, 15, 20, 25, 30, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m512i c_dm = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 11, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m512i k_q0 = _mm512_setr_epi32(1, 6, 11, 16, 21, 26, 31, 0, 2, 7, 12, 17, 22, 27, 0, 0);
    const __m512i c_q0 = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 12, 0, 0, 0, 0, 0, 0, 8, 13);
    const __m512i k_q1 = _mm512_setr_epi32(3, 8, 13, 18, 23, 28, 0, 0, 4, 9, 14, 19, 24, 29, 0, 0);
    const __m512i c_q1 = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 9, 14, 0, 0, 0, 0, 0, 0, 10, 15);
    const __m512i d = _mm512_mask_permutexvar_epi32(_mm512_permutex2var_epi32(A, k_dm, B), 0x0080, c_dm, C);
    const __m512i q0 = _mm512_mask_permutexvar_epi32(_mm512_permutex2var_epi32(A, k_q0, B), 0xC080, c_q0, C);
    const __m512i q1 = _mm512_mask_permutexvar_epi32(_mm512_permutex2var_epi32(A, k_q1, B), 0xC0C0, c_q1, C);
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    *dm = _mm512_castsi512_si256(d);
    wv[0] = _mm512_and_si512(q0, m4);
    wv[1] = _mm512_and_si512(q1, m4);
    wv[2] = _mm512_and_si512(_mm512_srli_epi16(q0, 4), m4);
    wv[3] = _mm512_and_si512(_mm512_srli_epi16(q1, 4), m4);
}

/* the 8 blocks' exact dots of unsigned weight bytes wv (two vectors per
 * register, as few_q4k8 / few_q41_8 leave them) with the group's 256
 * interleaved activation bytes at a */
static inline __m256i few_dot4(const __m512i wv[4], const int8_t *a) {
    __m512i s0 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), wv[0], _mm512_loadu_si512(a));
    __m512i s1 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), wv[1], _mm512_loadu_si512(a + 64));
    s0 = _mm512_dpbusd_epi32(s0, wv[2], _mm512_loadu_si512(a + 128));
    s1 = _mm512_dpbusd_epi32(s1, wv[3], _mm512_loadu_si512(a + 192));
    s0 = _mm512_add_epi32(s0, s1);
    return _mm256_add_epi32(_mm512_castsi512_si256(s0), _mm512_extracti64x4_epi64(s0, 1));
}

/* dots[j] = the exact dots of a whole group's 8 blocks at b (Q4_1 /
 * Q4_0 / Q8_0) with the 256 interleaved activation bytes a[j]; *wd / *wm
 * the blocks' weight scales / offsets (Q4_1; 0 otherwise) */
static inline __attribute__((always_inline)) void few_group_dots(vc_dtype t, const uint8_t *b, int stride,
                                                                 const int8_t *const *a, int nr, __m256i *dots,
                                                                 __m256 *wd, __m256 *wm) {
    if (t == VC_Q4_1) {
        __m256i dm;
        __m512i wv[4];
        few_q41_8(b, 8, &dm, wv);
        *wd = vnni_f16_lanes(dm, 0);
        *wm = vnni_f16_lanes(dm, 1);
        for (int j = 0; j < nr; j++) dots[j] = few_dot4(wv, a[j]);
        return;
    }
    *wd = few_scales8(b, stride);
    *wm = _mm256_setzero_ps();
    __m256i wv[8], wa[8]; /* signed weights: |w|, the activations take w's sign */
    few_blocks8(t, b, wv);
    for (int i = 0; i < 8; i++) wa[i] = _mm256_abs_epi8(wv[i]);
    for (int j = 0; j < nr; j++) {
        __m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();
        for (int i = 0; i < 8; i += 2) {
            const __m256i a0 = _mm256_loadu_si256((const __m256i *)(a[j] + 32 * i));
            const __m256i a1 = _mm256_loadu_si256((const __m256i *)(a[j] + 32 * i + 32));
            s0 = _mm256_dpbusd_epi32(s0, wa[i], _mm256_sign_epi8(a0, wv[i]));
            s1 = _mm256_dpbusd_epi32(s1, wa[i + 1], _mm256_sign_epi8(a1, wv[i + 1]));
        }
        dots[j] = _mm256_add_epi32(s0, s1);
    }
}

/* dots[j] = the exact integer dots of Q6_K super-block wb's 8 blocks with
 * a[j]: s_first * (a block's first 16 products) + s_second * (its last 16),
 * vectors 0-3 and 4-7 */
static inline __attribute__((always_inline)) void few_q6k_dots(const uint8_t *wb, const int8_t *const *a, int nr,
                                                               __m256i *dots) {
    const __m128i s16 = _mm_loadu_si128((const __m128i *)(const void *)(wb + 192));
    const __m256i s_first = _mm256_cvtepi8_epi32(_mm_shuffle_epi8(s16, _mm_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, -1, -1, -1, -1, -1, -1, -1, -1)));
    const __m256i s_second = _mm256_cvtepi8_epi32(_mm_shuffle_epi8(s16, _mm_setr_epi8(1, 3, 5, 7, 9, 11, 13, 15, -1, -1, -1, -1, -1, -1, -1, -1)));
    __m512i wv[4], wa[4];
    __mmask64 neg[4];
    few_q6k8(wb, wv);
    for (int i = 0; i < 4; i++) {
        wa[i] = _mm512_abs_epi8(wv[i]);
        neg[i] = _mm512_movepi8_mask(wv[i]);
    }
    for (int j = 0; j < nr; j++) {
        __m512i p[4];
        for (int i = 0; i < 4; i++) {
            const __m512i ai = _mm512_loadu_si512(a[j] + 64 * i);
            p[i] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), wa[i],
                                       _mm512_mask_sub_epi8(ai, neg[i], _mm512_setzero_si512(), ai));
        }
        const __m512i f = _mm512_add_epi32(p[0], p[1]), sd = _mm512_add_epi32(p[2], p[3]);
        const __m256i f8 = _mm256_add_epi32(_mm512_castsi512_si256(f), _mm512_extracti64x4_epi64(f, 1));
        const __m256i s8 = _mm256_add_epi32(_mm512_castsi512_si256(sd), _mm512_extracti64x4_epi64(sd, 1));
        dots[j] = _mm256_add_epi32(_mm256_mullo_epi32(f8, s_first), _mm256_mullo_epi32(s8, s_second));
    }
}

/* out[j * os] for j < nr <= FEW_ROWS: vnni_rows' value (VC_Q8_RULE_F32 or
 * _F16 rows), bitwise. Whole groups of 8 blocks: the weight bytes come in
 * the interleaved layout (few_blocks8, few_q4k8, few_q6k8), so vpdpbusd leaves each
 * block's exact dot in its own lane as in the group kernels, and the float
 * part runs in registers: per group the same products wd * d_a, the same fma
 * into 8 lanes, the same offsets' fma (the scalar tail of seg_scales for a
 * last partial group, whose dots come from few_group over the natural-order
 * copy) and the same final sums (few_hsum2). */
static inline __attribute__((always_inline)) void vnni_few_nr(vc_dtype t, const uint8_t *w, const int8_t *nat,
                                                              size_t ns, const uint8_t *qx, size_t xs, int nr,
                                                              int64_t n, float *out, size_t os) {
    const int offs = t == VC_Q4_1 || t == VC_Q4_K;
    const int stride = t == VC_Q4_1 ? 20 : t == VC_Q4_0 ? 18 : 34;
    const __m256i idx = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(stride));
    __m256 acc[FEW_ROWS], accm[FEW_ROWS];
    float accm_tail[FEW_ROWS];
    const float *dj[FEW_ROWS], *sj[FEW_ROWS];
    const int8_t *qa[FEW_ROWS];
    for (int j = 0; j < nr; j++) {
        acc[j] = accm[j] = _mm256_setzero_ps();
        accm_tail[j] = 0.0f;
        dj[j] = qrow_d(qx + j * xs, n);
        sj[j] = qrow_s(qx + j * xs, n);
        qa[j] = (const int8_t *)(qx + j * xs);
    }
    const int64_t nb = n / 32, ng = nb / 8;
    for (int64_t g = 0; g < ng; g++) {
        __m256 wd, wm = _mm256_setzero_ps();
        __m256i dots[FEW_ROWS];
        if (t == VC_Q4_K) {
            const uint8_t *sb = w + 144 * g;
            uint64_t sc, mn;
            q4k_scales(sb, &sc, &mn);
            wd = _mm256_mul_ps(_mm256_set1_ps(f16_load(sb)),
                               _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)sc))));
            wm = _mm256_mul_ps(_mm256_set1_ps(f16_load(sb + 2)),
                               _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)mn))));
            __m512i wv[4];
            few_q4k8(sb, wv);
            for (int j = 0; j < nr; j++) dots[j] = few_dot4(wv, qa[j] + 256 * g);
        } else {
            const int8_t *ag[FEW_ROWS];
            for (int j = 0; j < nr; j++) ag[j] = qa[j] + 256 * g;
            if (t == VC_Q6_K) {
                const uint8_t *wb = w + 210 * g;
                wd = _mm256_set1_ps(f16_load(wb + 208));
                few_q6k_dots(wb, ag, nr, dots);
            } else {
                few_group_dots(t, w + (size_t)stride * 8 * g, stride, ag, nr, dots, &wd, &wm);
            }
        }
        for (int j = 0; j < nr; j++) {
            const __m256 sc = _mm256_mul_ps(wd, _mm256_loadu_ps(dj[j] + 8 * g));
            if (offs) accm[j] = _mm256_fmadd_ps(wm, _mm256_loadu_ps(sj[j] + 8 * g), accm[j]);
            acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dots[j]), sc, acc[j]);
        }
    }
    const int kb = (int)(nb - 8 * ng);
    if (kb > 0) { /* the last, partial group (not Q4_K): dots from few_group
                   * over the natural-order copy, the scales by a masked gather
                   * (lanes past kb 0, as seg_scales' zeros), the offsets
                   * seg_scales' scalar tail */
        const __mmask8 km = (__mmask8)((1u << kb) - 1);
        const __m256i z = _mm256_setzero_si256();
        const uint8_t *b = w + (size_t)stride * 8 * ng;
        __m256i dots[FEW_ROWS];
        __m256 wd;
        if (t == VC_Q4_1) { /* against the interleaved copy of the group in nat */
            __m256i dm;
            __m512i wv[4];
            few_q41_8(b, kb, &dm, wv);
            wd = vnni_f16_lanes(dm, 0);
            for (int j = 0; j < nr; j++) dots[j] = few_dot4(wv, nat + j * ns + qnat_tail(n));
        } else {
            wd = vnni_f16_lanes(_mm256_mmask_i32gather_epi32(z, km, idx, (const void *)b, 1), 0);
            few_group(t, w, ng, kb, nat, ns, nr, dots);
        }
        for (int j = 0; j < nr; j++) {
            const __m256 sc = _mm256_mul_ps(wd, _mm256_maskz_loadu_ps(km, dj[j] + 8 * ng));
            if (offs)
                for (int k = 0; k < kb; k++) accm_tail[j] += f16_load(b + (size_t)stride * k + 2) * sj[j][8 * ng + k];
            acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dots[j]), sc, acc[j]);
        }
    }
    float tot[FEW_ROWS], totm[FEW_ROWS];
    for (int j = 0; j < nr; j++) few_hsum2(acc[j], accm[j], &tot[j], &totm[j]);
    for (int j = 0; j < nr; j++)
        out[j * os] = !offs ? tot[j] : t == VC_Q4_K ? tot[j] - (totm[j] + accm_tail[j]) : tot[j] + (totm[j] + accm_tail[j]);
}

/* Packed rows (Q4_0, Q4_1, Q8_0 rows of nb blocks, nb % 8 != 0): R =
 * qnat_pack(n) weight rows lie one after the other as R nb blocks, a whole
 * number of groups of 8 ("stream groups", qdot.c's nat layout). Each stream
 * group's 8 block dots and weight scales are computed once, as a whole group
 * against nat's stream copy of the activations, so no row has a partial group
 * of its own to load and dot; row k's group g is then lanes o..o+7 (o = k nb
 * mod 8) of stream groups s and s + 1, one two-source permute of the dots and
 * of the scales (lanes past a partial group's blocks zeroed, as vnni_few_nr's
 * masked loads leave them), and from there vnni_few_nr's float steps exactly:
 * the same bits. SmolLM2's 576-wide rows (2 groups + 2 blocks): 4 rows take 9
 * stream groups instead of 12 group passes. */

/* stream group s of the packed rows at w: d[j] lane b the exact dot of block
 * 8 s + b with activation row j, wd / wm (Q4_1) its weight scale / offset */
static inline __attribute__((always_inline)) void few_stream_group(vc_dtype t, const uint8_t *w, int64_t s, int stride,
                                                                   const int8_t *const *act, int64_t ng,
                                                                   int nr, __m256i *d, __m256 *wd, __m256 *wm) {
    const int8_t *a[FEW_ROWS];
    for (int j = 0; j < nr; j++) a[j] = act[2 * j + (s >= ng)] + 256 * s;
    few_group_dots(t, w + (size_t)stride * 8 * s, stride, a, nr, d, wd, wm);
}

/* out[j * os + k] for the R rows k at w (row_bytes apart, R nb % 8 == 0,
 * R nb / 8 <= PACK_GROUPS): first every stream group (into L1), then each
 * row's groups from them */
static inline __attribute__((always_inline)) void vnni_pack_nr(vc_dtype t, const uint8_t *w, const int8_t *nat,
                                                               size_t ns, const uint8_t *qx, size_t xs, int nr,
                                                               int64_t n, int R, float *out, size_t os) {
    const int offs = t == VC_Q4_1;
    const int stride = t == VC_Q4_1 ? 20 : t == VC_Q4_0 ? 18 : 34;
    const int64_t nb = n / 32, ng = nb / 8, S = R * nb / 8;
    const int kb = (int)(nb - 8 * ng);
    const size_t row_bytes = (size_t)stride * (size_t)nb;
    const float *dj[FEW_ROWS], *sj[FEW_ROWS];
    /* act[2 j]: the quantized row's whole groups (s < ng); act[2 j + 1]: nat's
     * stream groups, based so that group s is at + 256 s there too */
    const int8_t *act[2 * FEW_ROWS];
    for (int j = 0; j < nr; j++) {
        dj[j] = qrow_d(qx + j * xs, n);
        sj[j] = qrow_s(qx + j * xs, n);
        act[2 * j] = (const int8_t *)(qx + j * xs);
        act[2 * j + 1] = nat + j * ns + qnat_tail(n) - 256 * ng;
    }
    /* one more group of zeros: a row's lanes o..o+7 may reach into group S
     * only where they are masked off */
    __m256i D[PACK_GROUPS + 1][FEW_ROWS];
    __m256 WD[PACK_GROUPS + 1], WM[PACK_GROUPS + 1];
    for (int64_t s = 0; s < S; s++) few_stream_group(t, w, s, stride, act, ng, nr, D[s], &WD[s], &WM[s]);
    for (int j = 0; j < nr; j++) D[S][j] = _mm256_setzero_si256();
    WD[S] = WM[S] = _mm256_setzero_ps();
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __mmask8 km = (__mmask8)((1u << kb) - 1);
    for (int k = 0; k < R; k++) {
        const int64_t p0 = (int64_t)k * nb, base = p0 / 8;
        const __m256i pidx = _mm256_add_epi32(iota, _mm256_set1_epi32((int)(p0 % 8)));
        __m256 acc[FEW_ROWS], accm[FEW_ROWS];
        for (int j = 0; j < nr; j++) acc[j] = accm[j] = _mm256_setzero_ps();
        for (int64_t g = 0; g < ng; g++) {
            const int64_t s = base + g;
            const __m256 wd = _mm256_permutex2var_ps(WD[s], pidx, WD[s + 1]);
            const __m256 wm = _mm256_permutex2var_ps(WM[s], pidx, WM[s + 1]);
            for (int j = 0; j < nr; j++) {
                const __m256i dots = _mm256_permutex2var_epi32(D[s][j], pidx, D[s + 1][j]);
                const __m256 sc = _mm256_mul_ps(wd, _mm256_loadu_ps(dj[j] + 8 * g));
                if (offs) accm[j] = _mm256_fmadd_ps(wm, _mm256_loadu_ps(sj[j] + 8 * g), accm[j]);
                acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dots), sc, acc[j]);
            }
        }
        /* the row's last, partial group: vnni_few_nr's tail steps (lanes
         * past kb zero, as its masked loads leave them) */
        const int64_t s = base + ng;
        const __m256 wd = _mm256_maskz_permutex2var_ps(km, WD[s], pidx, WD[s + 1]);
        const uint8_t *b = w + (size_t)k * row_bytes + (size_t)stride * 8 * ng;
        for (int j = 0; j < nr; j++) {
            const __m256i dots = _mm256_maskz_permutex2var_epi32(km, D[s][j], pidx, D[s + 1][j]);
            const __m256 sc = _mm256_mul_ps(wd, _mm256_maskz_loadu_ps(km, dj[j] + 8 * ng));
            float accm_tail = 0.0f;
            if (offs)
                for (int q = 0; q < kb; q++) accm_tail += f16_load(b + (size_t)stride * q + 2) * sj[j][8 * ng + q];
            acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dots), sc, acc[j]);
            float tot, totm;
            few_hsum2(acc[j], accm[j], &tot, &totm);
            out[j * os + k] = !offs ? tot : tot + (totm + accm_tail);
        }
    }
}

/* VC_Q8_RULE_K rows (llama.cpp's Q8_K, --act8) against Q4_K / Q6_K, nr <=
 * FEW_ROWS rows: ksum's value bitwise. Per super-block the weights as
 * few_q4k8 / few_q6k8 leave them (no transposition), the block dots exact
 * in 8 lanes, then the same integers ksum forms (I = sum of the blocks'
 * dots times their integer scales; M = sum of mins times the blocks'
 * integer activation sums) and its two float steps per super-block and row:
 * acc = fma(I, d * d_a, acc), accm = fma(M, dmin * d_a, accm); out = acc - accm */
static inline int32_t few_hsum_epi32(__m256i v) {
    const __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    const __m128i t = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
    return _mm_cvtsi128_si32(_mm_add_epi32(t, _mm_shuffle_epi32(t, _MM_SHUFFLE(2, 3, 0, 1))));
}
static inline float few_fma1(float a, float b, float c) {
    return _mm_cvtss_f32(_mm_fmadd_ss(_mm_set_ss(a), _mm_set_ss(b), _mm_set_ss(c)));
}
static inline __attribute__((always_inline)) void vnni_few_ksum_nr(vc_dtype t, const uint8_t *w, const uint8_t *qx,
                                                                   size_t xs, int nr, int64_t n, float *out,
                                                                   size_t os) {
    float acc[FEW_ROWS], accm[FEW_ROWS];
    for (int j = 0; j < nr; j++) acc[j] = accm[j] = 0.0f;
    for (int64_t g = 0; g < n / 256; g++) {
        int32_t I[FEW_ROWS], M[FEW_ROWS];
        float dw, dmw = 0.0f;
        if (t == VC_Q4_K) {
            const uint8_t *sb = w + 144 * g;
            uint64_t scb, mnb;
            q4k_scales(sb, &scb, &mnb);
            const __m256i sc = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)scb));
            const __m256i mins = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)mnb));
            dw = f16_load(sb);
            dmw = f16_load(sb + 2);
            __m512i wv[4];
            few_q4k8(sb, wv);
            for (int j = 0; j < nr; j++) {
                const uint8_t *a = qx + j * xs;
                I[j] = few_hsum_epi32(_mm256_mullo_epi32(few_dot4(wv, (const int8_t *)a + 256 * g), sc));
                /* s: the blocks' integer sums of q, as floats (exact) */
                const __m256i si = _mm256_cvtps_epi32(_mm256_loadu_ps(qrow_s(a, n) + 8 * g));
                M[j] = few_hsum_epi32(_mm256_mullo_epi32(mins, si));
            }
        } else { /* Q6_K: the exact half-block dots times the 16-value scales */
            const uint8_t *wb = w + 210 * g;
            dw = f16_load(wb + 208);
            const int8_t *ag[FEW_ROWS];
            __m256i dots[FEW_ROWS];
            for (int j = 0; j < nr; j++) ag[j] = (const int8_t *)(qx + j * xs) + 256 * g;
            few_q6k_dots(wb, ag, nr, dots);
            for (int j = 0; j < nr; j++) {
                I[j] = few_hsum_epi32(dots[j]);
                M[j] = 0;
            }
        }
        for (int j = 0; j < nr; j++) {
            const float da = qrow_d(qx + j * xs, n)[8 * g];
            acc[j] = few_fma1((float)I[j], dw * da, acc[j]);
            if (t == VC_Q4_K) accm[j] = few_fma1((float)M[j], dmw * da, accm[j]);
        }
    }
    for (int j = 0; j < nr; j++) out[j * os] = acc[j] - accm[j];
}

static void vnni_few_ksum(vc_dtype t, const uint8_t *w, const uint8_t *qx, size_t xs, int nr, int64_t n, float *out,
                          size_t os) {
    if (t == VC_Q4_K) {
        if (nr == 1) vnni_few_ksum_nr(VC_Q4_K, w, qx, xs, 1, n, out, os);
        else vnni_few_ksum_nr(VC_Q4_K, w, qx, xs, 2, n, out, os);
    } else {
        if (nr == 1) vnni_few_ksum_nr(VC_Q6_K, w, qx, xs, 1, n, out, os);
        else vnni_few_ksum_nr(VC_Q6_K, w, qx, xs, 2, n, out, os);
    }
}

/* rows weight rows from w (one after the other), packs of R where there are
 * (vnni_pack_nr), the others one by one (vnni_few) */
static __attribute__((noinline)) void vnni_few(vc_dtype t, const uint8_t *w, const int8_t *nat, size_t ns,
                                               const uint8_t *qx, size_t xs, int nr, int64_t n, float *out,
                                               size_t os);
static __attribute__((noinline)) void vnni_few_rows(vc_dtype t, const uint8_t *w, int rows, const int8_t *nat,
                                                    size_t ns, const uint8_t *qx, size_t xs, int nr, int64_t n,
                                                    float *out, size_t os) {
    const int R = vc_cpu_qdot_few_pack(t, n);
    const size_t rb = R > 1 ? (size_t)(t == VC_Q4_1 ? 20 : t == VC_Q4_0 ? 18 : 34) * (size_t)(n / 32)
                            : vc_row_bytes(t, n);
    int c = 0;
    if (R > 1)
        for (; c + R <= rows; c += R) {
#define PACK_CASE(T, NR) vnni_pack_nr(T, w + (size_t)c * rb, nat, ns, qx, xs, NR, n, R, out + c, os)
#define PACK_TYPE(T) if (nr == 1) PACK_CASE(T, 1); else PACK_CASE(T, 2); break
            switch (t) {
            case VC_Q4_1: PACK_TYPE(VC_Q4_1);
            case VC_Q4_0: PACK_TYPE(VC_Q4_0);
            default: PACK_TYPE(VC_Q8_0);
            }
#undef PACK_TYPE
#undef PACK_CASE
        }
    for (; c < rows; c++) vnni_few(t, w + (size_t)c * rb, nat, ns, qx, xs, nr, n, out + c, os);
}

static __attribute__((noinline)) void vnni_few(vc_dtype t, const uint8_t *w, const int8_t *nat, size_t ns,
                                               const uint8_t *qx, size_t xs, int nr, int64_t n, float *out,
                                               size_t os) {
#define FEW_CASE(T, NR) vnni_few_nr(T, w, nat, ns, qx, xs, NR, n, out, os)
#define FEW_TYPE(T) if (nr == 1) FEW_CASE(T, 1); else FEW_CASE(T, 2); break
    switch (t) {
    case VC_Q4_K: FEW_TYPE(VC_Q4_K);
    case VC_Q6_K: FEW_TYPE(VC_Q6_K);
    case VC_Q4_1: FEW_TYPE(VC_Q4_1);
    case VC_Q4_0: FEW_TYPE(VC_Q4_0);
    default: FEW_TYPE(VC_Q8_0);
    }
#undef FEW_TYPE
#undef FEW_CASE
}
