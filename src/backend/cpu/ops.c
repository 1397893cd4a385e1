/* Elementwise and per-row ops of the forward: rmsnorm, rope, silu*mul, adds.
 * All per row and in a fixed order (batch invariant); cheap next to the
 * matmuls, so single-threaded. */
#include "backend/backend.h"

#include <math.h>

#include "backend/cpu/vexp.h"

void vc_cpu_add_bias(float *y, const float *b, int n_rows, int n) {
    for (int r = 0; r < n_rows; r++)
        for (int i = 0; i < n; i++) y[(size_t)r * n + i] += b[i];
}

void vc_cpu_rmsnorm(float *out, const float *x, const float *w, int n_rows, int n, float eps) {
    for (int r = 0; r < n_rows; r++) {
        const float *xr = x + (size_t)r * n;
        float *yr = out + (size_t)r * n;
        /* sum of squares in double: one row, fixed order, no cancellation worry */
        double ss = 0.0;
        for (int i = 0; i < n; i++) ss += (double)xr[i] * xr[i];
        const float inv = (float)(1.0 / sqrt(ss / n + (double)eps));
        for (int i = 0; i < n; i++) yr[i] = w[i] * (xr[i] * inv);
    }
}

void vc_cpu_add(float *x, const float *y, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] += y[i];
}

void vc_cpu_silu_mul(float *gate, const float *up, size_t n) {
    size_t i = 0;
#if defined(__AVX2__) && defined(__FMA__)
    /* silu(g) = g / (1 + e^-g) = g * e / (1 + e) with e = e^g for g < 0, and
     * g / (1 + e) with e = e^-g for g >= 0: the exponent is never positive */
    const __m256 one = _mm256_set1_ps(1.0f), sign = _mm256_set1_ps(-0.0f);
    for (; i + 8 <= n; i += 8) {
        const __m256 g = _mm256_loadu_ps(gate + i);
        const __m256 e = vc_exp8_nonpos(_mm256_or_ps(g, sign)); /* e^-|g| */
        const __m256 neg = _mm256_cmp_ps(g, _mm256_setzero_ps(), _CMP_LT_OQ);
        const __m256 num = _mm256_blendv_ps(g, _mm256_mul_ps(g, e), neg);
        const __m256 s = _mm256_div_ps(num, _mm256_add_ps(one, e));
        _mm256_storeu_ps(gate + i, _mm256_mul_ps(s, _mm256_loadu_ps(up + i)));
    }
#endif
    for (; i < n; i++) {
        const float g = gate[i];
        gate[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

void vc_cpu_rope(float *x, int n_rows, int n_heads, int head_dim, const int32_t *positions,
                 const float *inv_freq, bool neox) {
    const int half = head_dim / 2;
    for (int r = 0; r < n_rows; r++) {
        const float pos = (float)positions[r];
        float *row = x + (size_t)r * n_heads * head_dim;
        for (int i = 0; i < half; i++) {
            /* angle as transformers forms it: float32 position * float32 inv_freq */
            const float angle = pos * inv_freq[i];
            const float c = cosf(angle), s = sinf(angle);
            for (int h = 0; h < n_heads; h++) {
                float *v = row + (size_t)h * head_dim;
                float *a = neox ? &v[i] : &v[2 * i];
                float *b = neox ? &v[i + half] : &v[2 * i + 1];
                const float x0 = *a, x1 = *b;
                *a = x0 * c - x1 * s;
                *b = x0 * s + x1 * c;
            }
        }
    }
}
