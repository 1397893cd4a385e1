/* The only thing that crosses from the engine to the model: a flat batch of
 * T tokens from S sequences over the paged KV cache.
 *
 *   tokens[T], positions[T]       token id and its position in its sequence
 *   slot_mapping[T]               KV slot to write: block * block_size + offset
 *   query_start[S+1]              sequence s owns tokens [query_start[s], query_start[s+1])
 *   context_lens[S]               tokens in the KV of s after this step (incl. new ones)
 *   block_tables[S][max_blocks]   physical block ids of s, in order (-1 past the end)
 *   logits_rows[n_logits]         which token rows get logits (usually each
 *                                 sequence's last token; tests ask for all)
 */
#ifndef VLLMC_BATCH_H
#define VLLMC_BATCH_H

#include <stdint.h>

typedef struct vc_batch {
    int n_tokens;
    const int32_t *tokens;
    const int32_t *positions;
    const int32_t *slot_mapping;
    int n_seqs;
    const int32_t *query_start;
    const int32_t *context_lens;
    const int32_t *block_tables;
    int max_blocks_per_seq;
    int n_logits;
    const int32_t *logits_rows;
} vc_batch;

#endif
