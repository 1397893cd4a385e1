/* libFuzzer target for the encoder (and decoder): any bytes must encode or
 * fail with a message (invalid UTF-8); ASan/UBSan catch the rest. The first
 * input byte picks the tokenizer and the flags; the rest is the text.
 * Tokenizers: Llama 3 (byte-level, tokenizer.json), Qwen3 (NFC), Mistral-style
 * SentencePiece (tokenizer.json), Llama SentencePiece (GGUF, merges from scores),
 * GPT-2 (GGUF). Byte-level ones without a normalizer must also round-trip: decode(encode(x)) == x.
 *   make fuzz FUZZ_SECONDS=600     (unpacks the fixtures first; see docs/tokenizer.md) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer.h"

#define N_TOK 5
static vc_tokenizer *g_tok[N_TOK];   /* loaded once per fuzzing process */
static const bool g_roundtrip[N_TOK] = {true, false, false, false, true};   /* byte-level, no normalizer */

static vc_tokenizer *load(const char *path) {
    vc_tokenizer *t;
    vc_error err;
    if (vc_tokenizer_open(&t, path, &err)) {
        fprintf(stderr, "fuzz_tokenize: %s (run `make fuzz`, which unpacks the fixtures)\n", err.msg);
        exit(1);
    }
    return t;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    static const char *const paths[N_TOK] = {
        "tests/fixtures/tmp/tokenizer/llama3", "tests/fixtures/tmp/tokenizer/qwen3", "tests/fixtures/tmp/tokenizer/llama2",
        "tests/fixtures/tmp/tokenizer/ggml-vocab-llama-spm.gguf", "tests/fixtures/tmp/tokenizer/ggml-vocab-gpt-2.gguf"};
    for (int i = 0; i < N_TOK; i++) g_tok[i] = load(paths[i]);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    int which = data[0] % N_TOK;
    bool add_special = data[0] & 0x40, parse_special = data[0] & 0x80;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    vc_tokenizer *t = g_tok[which];
    int32_t *ids;
    int n;
    vc_error err;
    if (vc_tokenize(t, text, len, add_special, parse_special, &ids, &n, &err)) {
        if (!strstr(err.msg, "invalid UTF-8")) __builtin_trap();   /* the only way valid-length input may fail */
        return 0;
    }
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= vc_tokenizer_vocab_size(t)) __builtin_trap();
    char *back;
    if (vc_detokenize(t, ids, n, parse_special, &back, &err)) __builtin_trap();
    if (g_roundtrip[which] && !add_special && !parse_special && !memchr(text, 0, len))
        if (strlen(back) != len || memcmp(back, text, len)) __builtin_trap();
    free(back);
    free(ids);
    return 0;
}
