/* Stop strings over streamed text. Text is pushed delta by delta; what can
 * be shown is returned, and any tail that may be the start of a stop string
 * is held back until the next delta decides it, so a stop string that
 * straddles tokens is cut exactly and never half-shown:
 *
 *   stops {"\n\nUser:"}   push "Hi\n"   -> emit "Hi"    (hold "\n")
 *                         push "\nUs"   -> emit ""      (hold "\n\nUs")
 *                         push "er: x"  -> emit "", stop (text before the stop)
 *
 * A match lies entirely in the held text (by induction: any prefix of a
 * match at the end of the text is held), so searching it suffices. */
#ifndef VLLMC_STOP_H
#define VLLMC_STOP_H

#include <stdbool.h>
#include <stddef.h>

#include "util/error.h"

typedef struct vc_stop vc_stop;

/* Copies the stop strings (empty ones are ignored). */
int vc_stop_create(vc_stop **out, const char *const *stops, int n_stops, vc_error *err);
void vc_stop_free(vc_stop *m);

/* Appends len bytes. *emit / *emit_len: text that is now safe to show
 * (points into m, valid until the next call). Returns 1 when a stop string
 * was found: *emit is the text up to it and the stream is over; 0 otherwise;
 * -1 out of memory. */
int vc_stop_push(vc_stop *m, const char *text, size_t len, const char **emit, size_t *emit_len);
/* The held-back text, at the end of the stream (no stop found). */
void vc_stop_flush(vc_stop *m, const char **emit, size_t *emit_len);

#endif
