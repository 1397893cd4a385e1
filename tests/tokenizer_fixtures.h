/* Tokenizer test fixtures: compressed files under tests/fixtures/tokenizer/
 * are unpacked (xz) into tests/fixtures/tmp/tokenizer/ on first use.
 * Header-only, shared by the tokenizer test binaries. */
#ifndef VLLMC_TOKENIZER_FIXTURES_H
#define VLLMC_TOKENIZER_FIXTURES_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/testutil.h"

#define TOKFX_SRC "tests/fixtures/tokenizer"
#define TOKFX_TMP "tests/fixtures/tmp/tokenizer"

/* unpacks SRC/xz_name into TMP/out_rel (creating folders); 0 on success */
static int tokfx_unpack(const char *xz_name, const char *out_rel) {
    char out[256], cmd[2048];
    snprintf(out, sizeof out, TOKFX_TMP "/%s", out_rel);
    if (tu_exists(out)) return 0;
    snprintf(cmd, sizeof cmd, "mkdir -p \"$(dirname '%s')\" && xz -dc '" TOKFX_SRC "/%s' > '%s.part' && mv '%s.part' '%s'",
             out, xz_name, out, out, out);
    return system(cmd) == 0 ? 0 : -1;
}

static int tokfx_copy(const char *name, const char *out_rel) {
    char out[256], cmd[2048];
    snprintf(out, sizeof out, TOKFX_TMP "/%s", out_rel);
    if (tu_exists(out)) return 0;
    snprintf(cmd, sizeof cmd, "mkdir -p \"$(dirname '%s')\" && cp '" TOKFX_SRC "/%s' '%s'", out, name, out);
    return system(cmd) == 0 ? 0 : -1;
}

/* a tokenizer folder (llama2, llama3, qwen3): writes its path into dir */
static int tokfx_dir(const char *name, char *dir, size_t cap) {
    char a[128], b[128];
    snprintf(a, sizeof a, "%s.tokenizer.json.xz", name);
    snprintf(b, sizeof b, "%s/tokenizer.json", name);
    if (tokfx_unpack(a, b)) return -1;
    snprintf(a, sizeof a, "%s.tokenizer_config.json", name);
    snprintf(b, sizeof b, "%s/tokenizer_config.json", name);
    if (tokfx_copy(a, b)) return -1;
    snprintf(dir, cap, TOKFX_TMP "/%s", name);
    return 0;
}

/* a vocab-test GGUF (gpt-2, llama-spm, phi-3): writes its path into path */
static int tokfx_gguf(const char *name, char *path, size_t cap) {
    char a[128], b[128];
    snprintf(a, sizeof a, "ggml-vocab-%s.gguf.xz", name);
    snprintf(b, sizeof b, "ggml-vocab-%s.gguf", name);
    if (tokfx_unpack(a, b)) return -1;
    snprintf(path, cap, TOKFX_TMP "/%s", b);
    return 0;
}

#endif
