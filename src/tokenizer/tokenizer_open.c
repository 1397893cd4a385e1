/* vc_tokenizer_open: a .gguf file or a folder with tokenizer.json. */
#include <sys/stat.h>

#include "model/gguf.h"
#include "tokenizer/tok_internal.h"

int vc_tokenizer_open(vc_tokenizer **out, const char *path, vc_error *err) {
    *out = NULL;
    struct stat st;
    if (stat(path, &st)) return vc_errorf(err, "%s: no such file or directory", path);
    if (S_ISDIR(st.st_mode)) return vc_tokenizer_from_dir(out, path, err);
    vc_gguf *g;
    if (vc_gguf_open(&g, path, err)) return -1;
    int rc = vc_tokenizer_from_gguf(out, g, err);
    vc_gguf_free(g);
    return rc;
}

