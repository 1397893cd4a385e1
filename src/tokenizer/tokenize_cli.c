/* `vllmc --tokenize` / `--detokenize`: see tokenize_cli.h. */
#include "tokenizer/tokenize_cli.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer.h"

static char *read_all(const char *path, size_t *len, vc_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) { vc_errorf(err, "%s: %s", path, strerror(errno)); return NULL; }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n < cap) break;
        char *nb = realloc(buf, cap *= 2);
        if (!nb) { free(buf); buf = NULL; }
        else buf = nb;
    }
    bool bad = ferror(f);
    fclose(f);
    if (!buf) { vc_errorf(err, "%s: out of memory", path); return NULL; }
    if (bad) { free(buf); vc_errorf(err, "%s: read error", path); return NULL; }
    *len = n;
    return buf;
}

static int parse_ids(const char *s, size_t n, const char *path, int32_t **ids, int *n_ids, vc_error *err) {
    size_t cap = 256;
    int count = 0;
    int32_t *v = malloc(cap * sizeof *v);
    if (!v) return vc_errorf(err, "%s: out of memory", path);
    for (size_t i = 0; i < n;) {
        if (isspace((unsigned char)s[i]) || s[i] == ',' || s[i] == '[' || s[i] == ']') { i++; continue; }
        if (!isdigit((unsigned char)s[i])) {
            free(v);
            return vc_errorf(err, "%s: byte offset %zu: expected a token id (digits), got '%c'", path, i, s[i]);
        }
        int64_t x = 0;
        size_t start = i;
        while (i < n && isdigit((unsigned char)s[i])) {
            x = x * 10 + (s[i++] - '0');
            if (x > INT32_MAX) { free(v); return vc_errorf(err, "%s: byte offset %zu: token id too large", path, start); }
        }
        if ((size_t)count == cap) {
            int32_t *nv = realloc(v, (cap *= 2) * sizeof *nv);
            if (!nv) { free(v); return vc_errorf(err, "%s: out of memory", path); }
            v = nv;
        }
        v[count++] = (int32_t)x;
    }
    *ids = v;
    *n_ids = count;
    return 0;
}

int vc_tokenize_cli(const char *model_path, const char *file, bool detokenize, FILE *out, vc_error *err) {
    vc_tokenizer *t;
    if (vc_tokenizer_open(&t, model_path, err)) return -1;
    size_t len;
    char *data = read_all(file, &len, err);
    int rc = -1;
    int32_t *ids = NULL;
    int n_ids = 0;
    if (!data) goto done;
    if (!detokenize) {
        if (vc_tokenize(t, data, len, true, true, &ids, &n_ids, err)) { vc_error_prefix(err, "%s", file); goto done; }
        for (int i = 0; i < n_ids; i++) fprintf(out, i ? " %d" : "%d", ids[i]);
        fputc('\n', out);
    } else {
        if (parse_ids(data, len, file, &ids, &n_ids, err)) goto done;
        /* streamed through the incremental detokenizer: the text can hold NUL bytes */
        vc_detok *d;
        if (vc_detok_create(&d, t, false, err)) goto done;
        for (int i = 0; i <= n_ids; i++) {
            const char *delta;
            size_t dl;
            int r = i < n_ids ? vc_detok_push(d, ids[i], &delta, &dl, err) : vc_detok_flush(d, &delta, &dl);
            if (r) {
                vc_detok_free(d);
                vc_error_prefix(err, "%s: id #%d", file, i);
                goto done;
            }
            fwrite(delta, 1, dl, out);
        }
        vc_detok_free(d);
    }
    rc = fflush(out) ? vc_errorf(err, "write error: %s", strerror(errno)) : 0;
done:
    free(ids);
    free(data);
    vc_tokenizer_free(t);
    return rc;
}
