/* vllmc --w MODEL --perplexity TEXT_FILE [--ctx N] [--ppl-stride N]
 * [--chunks N] [--quant TYPE]: perplexity of the model on a text file,
 * scored like llama.cpp's llama-perplexity (see model/perplexity.h). */
#ifndef VLLMC_CLI_PERPLEXITY_H
#define VLLMC_CLI_PERPLEXITY_H

#include <stdbool.h>

typedef struct vc_cli_ppl_opts {
    const char *model_path;
    const char *text_path;
    const char *quant;       /* in-situ quantization first, or NULL */
    const char *kv_dtype;    /* "f16" (default, as llama.cpp), "bf16", "f32" */
    int ctx;                 /* default 512 */
    int stride;              /* default 0 */
    int chunks;              /* default -1 = all */
    int seqs_per_batch;      /* default 4 */
    int n_threads;           /* 0 = all cores */
    bool act8;               /* 8-bit activations in every matmul (--act8) */
    bool precise;            /* value + residual pairs in every matmul (--precise) */
    bool progress;
} vc_cli_ppl_opts;

/* Prints "[k]ppl," per forward and a final line
 *   Final estimate: PPL = 12.3456 +/- 0.12345
 * Returns 0, or -1 with a message on stderr. */
int vc_cli_perplexity(const vc_cli_ppl_opts *o);

#endif
