/* The quantization-side modes of the command line, parsed here so that
 * main.c only dispatches:
 *   vllmc --w DIR --quant TYPE --quant-out FILE.gguf          quantize + export
 *   vllmc --w MODEL --perplexity TEXT [--quant TYPE] [--ctx N]
 *         [--ppl-stride N] [--chunks N] [--ppl-batch N] [--dtype T] [--threads N]
 */
#ifndef VLLMC_CLI_QUANT_MAIN_H
#define VLLMC_CLI_QUANT_MAIN_H

#include <stdbool.h>

/* true if argv asks for one of these modes (--quant-out or --perplexity) */
bool vc_cli_is_quant_mode(int argc, char **argv);
/* runs it; returns the process exit code */
int vc_cli_quant_main(int argc, char **argv);

#endif
