/* Tokenizer: byte-level BPE (GPT-2 style: Llama 3, Qwen2/3, SmolLM2) and
 * SentencePiece-style BPE (Llama 2, Mistral), from GGUF metadata or from a
 * tokenizer.json (+ tokenizer_config.json) folder. Added/special tokens are
 * split out before BPE. */
#ifndef VLLMC_TOKENIZER_H
#define VLLMC_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

typedef struct vc_gguf vc_gguf;
typedef struct vc_tokenizer vc_tokenizer;

int vc_tokenizer_from_gguf(vc_tokenizer **out, const vc_gguf *g, vc_error *err);
/* dir holds tokenizer.json and (optionally) tokenizer_config.json */
int vc_tokenizer_from_dir(vc_tokenizer **out, const char *dir, vc_error *err);
/* a .gguf file, or a folder with tokenizer.json */
int vc_tokenizer_open(vc_tokenizer **out, const char *path, vc_error *err);
void vc_tokenizer_free(vc_tokenizer *t);

int vc_tokenizer_vocab_size(const vc_tokenizer *t);
int vc_tokenizer_bos(const vc_tokenizer *t);   /* -1 if none */
int vc_tokenizer_eos(const vc_tokenizer *t);   /* -1 if none */
/* all ids that end a generation (eos, eot, <|im_end|>, ...); returns count */
int vc_tokenizer_eog_ids(const vc_tokenizer *t, const int32_t **ids);
bool vc_tokenizer_is_special(const vc_tokenizer *t, int32_t id);
/* the chat_template string found with the tokenizer, or NULL */
const char *vc_tokenizer_chat_template(const vc_tokenizer *t);
/* text of a token id as stored (e.g. "<|im_end|>"); NULL if out of range */
const char *vc_tokenizer_token_text(const vc_tokenizer *t, int32_t id);
/* the raw bytes token id adds to decoded text (not NUL-terminated; may be a
 * piece of a UTF-8 character: no U+FFFD replacement; a special token gives
 * its content; SentencePiece's leading-space strip is not applied); NULL if
 * out of range */
const char *vc_tokenizer_token_bytes(const vc_tokenizer *t, int32_t id, size_t *len);

/* Encodes len bytes of text. add_special: BOS/EOS per the tokenizer's
 * add_bos/add_eos flags. parse_special: special tokens written in the text
 * become their ids (else they are encoded as plain text).
 * *ids is malloc'd (caller frees), *n_ids its length. */
int vc_tokenize(const vc_tokenizer *t, const char *text, size_t len, bool add_special,
                bool parse_special, int32_t **ids, int *n_ids, vc_error *err);

/* Decodes ids to a malloc'd NUL-terminated string. skip_special drops
 * control/special tokens. Invalid ids are an error. */
int vc_detokenize(const vc_tokenizer *t, const int32_t *ids, int n_ids, bool skip_special,
                  char **text, vc_error *err);

/* Incremental detokenizer for streaming: push ids one at a time; each push
 * returns the newly complete text (never a broken UTF-8 sequence). The
 * concatenation of all deltas plus vc_detok_flush equals vc_detokenize. */
typedef struct vc_detok vc_detok;
int vc_detok_create(vc_detok **out, const vc_tokenizer *t, bool skip_special, vc_error *err);
void vc_detok_free(vc_detok *d);
/* *delta points into d's buffer, valid until the next call; may be "" */
int vc_detok_push(vc_detok *d, int32_t id, const char **delta, size_t *delta_len, vc_error *err);
int vc_detok_flush(vc_detok *d, const char **delta, size_t *delta_len);

#endif
