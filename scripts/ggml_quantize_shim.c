/* Quantizes float32 rows with llama.cpp's own ggml_quantize_chunk (no
 * imatrix: the path llama-quantize takes without one). Built and run by
 * scripts/make_quant_fixtures.py against a llama.cpp build; never part of
 * vllm.c.  usage: ggml_quantize_shim TYPE_ID N_PER_ROW IN.f32 OUT.bin */
#include <stdio.h>
#include <stdlib.h>

#include "ggml.h"

int main(int argc, char **argv) {
    if (argc != 5) return 2;
    enum ggml_type type = (enum ggml_type)atoi(argv[1]);
    long long n_per_row = atoll(argv[2]);
    FILE *f = fopen(argv[3], "rb");
    if (!f) return 1;
    fseek(f, 0, SEEK_END);
    long long n = ftell(f) / 4;
    fseek(f, 0, SEEK_SET);
    float *x = malloc((size_t)n * 4);
    if (fread(x, 4, (size_t)n, f) != (size_t)n) return 1;
    fclose(f);
    long long nrows = n / n_per_row;
    size_t bytes = ggml_row_size(type, n_per_row) * (size_t)nrows;
    void *out = malloc(bytes);
    ggml_quantize_init(type);
    size_t written = ggml_quantize_chunk(type, x, out, 0, nrows, n_per_row, NULL);
    if (written != bytes) return 1;
    f = fopen(argv[4], "wb");
    if (!f || fwrite(out, 1, bytes, f) != bytes) return 1;
    fclose(f);
    return 0;
}
