/* vllmc: the command line. (Placeholder until the engine lands: --help only.) */
#include <stdio.h>
#include <string.h>

#include "tokenizer/tokenize_cli.h"
#include "cli/quant_main.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: vllmc --w MODEL [options]\n"
            "  --w PATH          model: a .gguf file or a safetensors folder\n"
            "  --d DEVICE        cpu (default) or cuda\n"
            "  --kvmem MB        paged KV cache size in MB (default 4096)\n"
            "  --dtype T         KV cache dtype: bf16 (default), f16, f32\n"
            "  --max N           max tokens to generate (default 4096)\n"
            "  --prompts \"a | b\" batched completion of '|'-separated prompts\n"
            "  --i               interactive chat\n"
            "  --server          OpenAI-compatible HTTP server\n"
            "  --quant TYPE      in-situ quantization of safetensors weights (q4k, q8_0, ...)\n"
            "  --tokenize FILE   print the token ids of FILE's text (BOS/EOS per the tokenizer)\n"
            "  --detokenize FILE print the text of the token ids in FILE\n"
            "  --quant-out FILE  with --quant: write the quantized model as a GGUF\n"
            "  --perplexity TEXT perplexity on a text file (--ctx N, --ppl-stride N, --chunks N)\n"
            "  --help            this text\n");
}

int main(int argc, char **argv) {
    if (vc_cli_is_quant_mode(argc, argv)) {
        int rc = vc_cli_quant_main(&argc, &argv);   /* may rewrite argv to go on */
        if (rc != VC_CLI_CONTINUE) return rc;
    }
    const char *model = NULL, *tok_file = NULL;
    bool detokenize = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { usage(stdout); return 0; }
        if (!strcmp(argv[i], "--w") && i + 1 < argc) model = argv[++i];
        else if ((!strcmp(argv[i], "--tokenize") || !strcmp(argv[i], "--detokenize")) && i + 1 < argc) {
            detokenize = !strcmp(argv[i], "--detokenize");
            tok_file = argv[++i];
        }
    }
    if (tok_file) {
        if (!model) { fprintf(stderr, "vllmc: --tokenize/--detokenize need --w MODEL_OR_TOKENIZER_PATH\n"); return 2; }
        vc_error err = {{0}};
        if (vc_tokenize_cli(model, tok_file, detokenize, stdout, &err)) { fprintf(stderr, "vllmc: %s\n", err.msg); return 1; }
        return 0;
    }
    usage(stderr);
    return 2;
}
