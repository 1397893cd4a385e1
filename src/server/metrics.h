/* Server metrics in the Prometheus text exposition format (version 0.0.4).
 *
 * Counters and histograms are fed by the HTTP threads and the engine thread
 * (every call locks); engine gauges (running/waiting sequences, KV blocks,
 * prefix-cache hits) come from a vllmc_stats snapshot at render time. */
#ifndef VLLMC_METRICS_H
#define VLLMC_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "vllmc.h"

typedef struct vc_metrics vc_metrics;

vc_metrics *vc_metrics_create(void);
void vc_metrics_free(vc_metrics *m);

/* one finished HTTP request with its status code */
void vc_metrics_count_request(vc_metrics *m, int status);
/* one finished generation (choice): its prompt and generated token counts and
 * how it ended (stop/length count as success; abort = cancelled, e.g. the
 * client went away; error = the engine failed) */
void vc_metrics_count_finish(vc_metrics *m, vllmc_finish_reason finish, int prompt_tokens,
                             int generated_tokens);
/* seconds from arrival to the first generated token */
void vc_metrics_observe_ttft(vc_metrics *m, double seconds);
/* seconds between two consecutive generated tokens of one sequence */
void vc_metrics_observe_tpot(vc_metrics *m, double seconds);

/* Renders everything; *out is malloc'd (free it), *len its length. -1 when
 * out of memory. */
int vc_metrics_render(vc_metrics *m, const vllmc_stats *s, char **out, size_t *len);

#endif
