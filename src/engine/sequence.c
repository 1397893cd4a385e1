#include "engine/sequence.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

int vc_seq_create(vc_seq **out, int64_t id, const int32_t *prompt, int n_prompt, int max_len,
                  int block_size, vc_error *err) {
    *out = NULL;
    if (n_prompt < 1) return vc_errorf(err, "sequence %lld: empty prompt", (long long)id);
    if (max_len < n_prompt)
        return vc_errorf(err, "sequence %lld: max_len %d < prompt length %d", (long long)id,
                         max_len, n_prompt);
    if (block_size < 1) return vc_errorf(err, "sequence: block_size %d < 1", block_size);
    vc_seq *s = calloc(1, sizeof *s);
    if (!s) return vc_errorf(err, "sequence: out of memory");
    s->id = id;
    s->max_len = max_len;
    s->block_size = block_size;
    s->max_blocks = (max_len + block_size - 1) / block_size;
    s->tokens = malloc((size_t)max_len * sizeof *s->tokens);
    s->block_table = malloc((size_t)s->max_blocks * sizeof *s->block_table);
    s->block_hashes = malloc((size_t)s->max_blocks * sizeof *s->block_hashes);
    if (!s->tokens || !s->block_table || !s->block_hashes) {
        vc_seq_free(s);
        return vc_errorf(err, "sequence: out of memory for %d tokens", max_len);
    }
    memcpy(s->tokens, prompt, (size_t)n_prompt * sizeof *prompt);
    s->n_tokens = s->n_prompt = n_prompt;
    vc_seq_update_hashes(s);
    *out = s;
    return 0;
}

void vc_seq_free(vc_seq *s) {
    if (!s) return;
    free(s->tokens);
    free(s->block_table);
    free(s->block_hashes);
    free(s);
}

int vc_seq_append(vc_seq *s, int32_t token) {
    if (s->n_tokens >= s->max_len) return -1;
    s->tokens[s->n_tokens++] = token;
    if (s->n_tokens % s->block_size == 0) vc_seq_update_hashes(s);
    return 0;
}

void vc_seq_update_hashes(vc_seq *s) {
    int n_full = s->n_tokens / s->block_size;
    for (int i = s->n_hashed; i < n_full; i++) {
        uint64_t parent = i ? s->block_hashes[i - 1] : VC_SEQ_HASH_ROOT;
        s->block_hashes[i] = XXH3_64bits_withSeed(s->tokens + (size_t)i * s->block_size,
                                                  (size_t)s->block_size * sizeof(int32_t), parent);
    }
    if (n_full > s->n_hashed) s->n_hashed = n_full;
}
