/* Command-line tokenization: `vllmc --w PATH --tokenize FILE` / `--detokenize FILE`. */
#ifndef VLLMC_TOKENIZE_CLI_H
#define VLLMC_TOKENIZE_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "util/error.h"

/* model_path: a .gguf file or a folder with tokenizer.json.
 * tokenize: the file's bytes are encoded like Hugging Face's tokenizer(text)
 *   (BOS/EOS per the tokenizer's flags, special tokens in the text parsed);
 *   the ids are written to out on one line, separated by spaces.
 * detokenize: the file holds ids separated by whitespace or commas (brackets
 *   allowed, so a JSON list works); their text is written to out as is. */
int vc_tokenize_cli(const char *model_path, const char *file, bool detokenize, FILE *out, vc_error *err);

#endif
