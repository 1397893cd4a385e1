/* vc_detokenize: ids -> text, through the same stages as the incremental
 * detokenizer (detok.c), so streaming and one-shot decoding agree. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"

int vc_detokenize(const vc_tokenizer *t, const int32_t *ids, int n_ids, bool skip_special, char **text,
                  vc_error *err) {
    *text = NULL;
    if (n_ids < 0 || (n_ids > 0 && !ids)) return vc_errorf(err, "vc_detokenize: bad id array (n_ids %d)", n_ids);
    vc_detok *d;
    if (vc_detok_create(&d, t, skip_special, err)) return -1;
    size_t cap = 64, n = 0;
    char *buf = malloc(cap);
    if (!buf) { vc_detok_free(d); return vc_errorf(err, "vc_detokenize: out of memory"); }
    for (int i = 0; i <= n_ids; i++) {
        const char *delta;
        size_t dl;
        int rc = i < n_ids ? vc_detok_push(d, ids[i], &delta, &dl, err) : vc_detok_flush(d, &delta, &dl);
        if (rc) {
            if (i == n_ids) vc_errorf(err, "vc_detokenize: out of memory");
            else vc_error_prefix(err, "vc_detokenize: ids[%d]", i);
            free(buf);
            vc_detok_free(d);
            return -1;
        }
        if (n + dl + 1 > cap) {
            while (n + dl + 1 > cap) cap *= 2;
            char *nb = realloc(buf, cap);
            if (!nb) { free(buf); vc_detok_free(d); return vc_errorf(err, "vc_detokenize: out of memory"); }
            buf = nb;
        }
        memcpy(buf + n, delta, dl);
        n += dl;
    }
    buf[n] = 0;
    vc_detok_free(d);
    *text = buf;
    return 0;
}
