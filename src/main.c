/* vllmc: the command line. (Placeholder until the engine lands: --help only.) */
#include <stdio.h>
#include <string.h>

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
            "  --help            this text\n");
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { usage(stdout); return 0; }
    }
    usage(stderr);
    return 2;
}
