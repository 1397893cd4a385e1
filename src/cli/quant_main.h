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

/* vc_cli_quant_main's answer when the run goes on: --quant-out together with
 * a serving mode (--prompts, --i, --server) exports, then *argv is rewritten
 * to run that mode on the exported GGUF (no --quant, no --quant-out). */
#define VC_CLI_CONTINUE (-1)

/* Runs the mode; returns the process exit code, or VC_CLI_CONTINUE with
 * argc and argv replaced (a malloc'd array pointing into the old one). */
int vc_cli_quant_main(int *argc, char ***argv);

#endif
