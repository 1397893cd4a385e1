/* vllmc --i: interactive multi-turn chat on a terminal (libedit line editing
 * and history) or on piped stdin. Each turn renders the whole conversation
 * with the chat template; the prefix cache makes the earlier turns free.
 * Commands: /reset (forget the conversation), /stats (engine counters),
 * /exit; EOF exits.
 * *interrupted is set by the caller's SIGINT handler: it stops the answer
 * being generated (the partial answer stays in the conversation). */
#ifndef VLLMC_CLI_CHAT_H
#define VLLMC_CLI_CHAT_H

#include <signal.h>
#include <stdbool.h>

#include "vllmc.h"

int vc_chat_run(vllmc_engine *e, const vllmc_sampling_params *p, const char *system_prompt,
                volatile sig_atomic_t *interrupted);

#endif
