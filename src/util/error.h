/* Errors are values: a function that can fail returns int (0 = ok, -1 = error)
 * and fills a caller-owned vc_error with a message that says what, where
 * (file, offset, field) and what was expected. Nothing aborts on bad input. */
#ifndef VLLMC_ERROR_H
#define VLLMC_ERROR_H

typedef struct vc_error {
    char msg[1024];
} vc_error;

/* Formats the message into e (if e is non-NULL) and returns -1, so that
 *   if (bad) return vc_errorf(err, "%s: tensor '%s': offset %llu past end", ...);
 * is the whole error path. */
int vc_errorf(vc_error *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prepends "prefix: " to an existing message (adding context on the way up). */
int vc_error_prefix(vc_error *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
