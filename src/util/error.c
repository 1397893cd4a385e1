#include "util/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int vc_errorf(vc_error *e, const char *fmt, ...) {
    if (!e) return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return -1;
}

int vc_error_prefix(vc_error *e, const char *fmt, ...) {
    if (!e) return -1;
    char prefix[512], old[sizeof e->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, e->msg, sizeof old);
    /* truncation keeps the head of the message: the prefix and the start */
    size_t np = strlen(prefix), cap = sizeof e->msg - 1;
    if (np > cap) np = cap;
    memcpy(e->msg, prefix, np);
    size_t at = np;
    for (const char *s = ": "; *s && at < cap; s++) e->msg[at++] = *s;
    size_t no = strlen(old);
    if (no > cap - at) no = cap - at;
    memcpy(e->msg + at, old, no);
    e->msg[at + no] = 0;
    return -1;
}
