/* vllmc --w DIR --quant TYPE --quant-out FILE.gguf: quantize a safetensors
 * model in situ and write it as a GGUF (which then loads with no
 * quantization step, here and in llama.cpp). */
#ifndef VLLMC_CLI_QUANTIZE_H
#define VLLMC_CLI_QUANTIZE_H

#include <stdbool.h>

/* quant may be NULL (export unquantized, as BF16/F16/F32 as stored).
 * Returns 0, or -1 with a message on stderr. */
int vc_cli_quantize_export(const char *model_path, const char *quant, const char *out_path, int n_threads,
                           bool progress);

#endif
