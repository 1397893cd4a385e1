/* vllmc --prompts "a | b | c": one batch of completions, printed in order,
 * then the run's numbers. */
#ifndef VLLMC_CLI_BATCH_H
#define VLLMC_CLI_BATCH_H

#include <stdbool.h>
#include <stdio.h>

#include "vllmc.h"

/* prompts: '|'-separated (each trimmed). raw: no chat template. verbose: also
 * a "stats:" line with every counter. Returns 0, or -1 with a message on stderr. */
int vc_cli_batch(vllmc_engine *e, const char *prompts, bool raw, const vllmc_sampling_params *p,
                 bool verbose, FILE *out);

/* The engine's counters on one "stats: key=value ..." line. */
void vc_cli_print_stats(vllmc_engine *e, FILE *out);

/* Splits on '|' and trims; returns the count (malloc'd strings in *items). */
int vc_cli_split_prompts(const char *prompts, char ***items);

#endif
