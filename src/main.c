/* vllmc: the command line. Parses flags, opens the engine, and dispatches:
 * --prompts (batched completion), --i (interactive chat), --server (HTTP). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/batch.h"
#include "cli/chat.h"
#include "cli/quant_main.h"
#include "tokenizer/tokenize_cli.h"
#include "vllmc.h"

#if __has_include("server/server.h")
#include "server/server.h"
#define VLLMC_HAVE_SERVER 1
#endif

/* the only global: set by SIGINT, read by the chat loop */
static volatile sig_atomic_t interrupted;

static void on_sigint(int sig) {
    (void)sig;
    interrupted = 1;
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: vllmc --w MODEL [--prompts \"a | b\" | --i | --server] [options]\n"
            "  --w PATH              model: a .gguf file or a safetensors folder\n"
            "  --prompts \"a | b\"     batched completion of '|'-separated prompts\n"
            "  --i                   interactive chat\n"
            "  --server              OpenAI-compatible HTTP server (--host, --port, --api-key)\n"
            "  --host ADDR           server address (default 127.0.0.1)\n"
            "  --port N              server port (default 8000; 0 = any free port)\n"
            "  --api-key KEY         require 'Authorization: Bearer KEY' on /v1/*, /tokenize, /detokenize\n"
            "  --served-model-name NAME  the model name the API reports (default: the file's)\n"
            "  --max-pending N       generation requests admitted at once; more get 429 (default 256)\n"
            "  --max-connections N   open HTTP connections (default 512)\n"
            "  --idle-timeout S      close a connection idle this long (default 30)\n"
            "  --read-timeout S      a request body must arrive within S seconds (default 30)\n"
            "  --max-body-kb N       larger request bodies get 413 (default 1024)\n"
            "  --quiet               no access log on stderr\n"
            "  --raw                 no chat template on --prompts\n"
            "  --system TEXT         system message for --i\n"
            "  --d DEVICE            cpu (default) or cuda\n"
            "  --kvmem MB            paged KV cache size in MB (default 4096, clipped to memory)\n"
            "  --dtype T             KV cache dtype: bf16 (default), f16, f32\n"
            "  --max N               max tokens to generate (default 4096, clipped to the context)\n"
            "  --ctx N               context length (default: the model's)\n"
            "  --quant TYPE          in-situ quantization of safetensors weights (q4k, q8_0, ...)\n"
            "  --mmap                read the weights from the mapped file (4 KB pages) instead of\n"
            "                        a copy in 2 MB pages (less memory, slower decode)\n"
            "  --temperature T       0 = greedy (default 0)\n"
            "  --top-p P             nucleus sampling (default 1 = off)\n"
            "  --top-k K             (default 0 = off)\n"
            "  --min-p P             (default 0 = off)\n"
            "  --repetition-penalty R  (default 1 = off)\n"
            "  --presence-penalty P  (default 0)\n"
            "  --frequency-penalty F (default 0)\n"
            "  --seed S              sampling seed (default random)\n"
            "  --stop TEXT           stop string (repeatable)\n"
            "  --ignore-eos          generate past the end-of-sequence token\n"
            "  --max-num-seqs N      sequences per step (default 256)\n"
            "  --max-num-batched-tokens N  tokens per step (default 2048)\n"
            "  --block-size N        tokens per KV block (default 16)\n"
            "  --no-prefix-caching   turn automatic prefix caching off\n"
            "  --chat-template NAME  override the model's template (chatml, llama3, ...)\n"
            "  --threads N           CPU threads (default: physical cores)\n"
            "  --act8                8-bit activations in every matmul, rounded as llama.cpp rounds\n"
            "                        them: faster prefill and batches, less accurate (default: an\n"
            "                        f32 scale per 32 values, and Q8_0/Q5_0/Q5_1 weights get\n"
            "                        16-bit-class ones)\n"
            "  --precise             value + residual 8-bit pairs in every matmul: within ~1e-3\n"
            "                        nats of transformers' float32 logits, slower prefill and batches\n"
            "  --verbose             per-answer token ids and every counter\n"
            "  --tokenize FILE       print the token ids of FILE's text (BOS/EOS per the tokenizer)\n"
            "  --detokenize FILE     print the text of the token ids in FILE\n"
            "  --quant-out FILE      with --quant: write the quantized model as a GGUF\n"
            "  --perplexity TEXT     perplexity on a text file (--ctx N, --ppl-stride N, --chunks N)\n"
            "  --help                this text\n");
}

static int parse_int(const char *flag, const char *v, long long lo, long long hi, long long *out) {
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || *end || end == v || x < lo || x > hi) {
        fprintf(stderr, "vllmc: %s '%s': expected an integer in [%lld, %lld]\n", flag, v, lo, hi);
        return -1;
    }
    *out = x;
    return 0;
}

static int parse_float(const char *flag, const char *v, float *out) {
    char *end;
    errno = 0;
    float x = strtof(v, &end);
    if (errno || *end || end == v) {
        fprintf(stderr, "vllmc: %s '%s': expected a number\n", flag, v);
        return -1;
    }
    *out = x;
    return 0;
}

/* Parses the flags and runs the chosen mode; `stops` has room for argc
 * entries (the --stop strings point into argv). */
static int run(int argc, char **argv, const char **stops) {
    vllmc_engine_options eo = vllmc_engine_default_options();
    vllmc_sampling_params sp = vllmc_default_sampling();
    const char *prompts = NULL, *system_prompt = NULL;
    bool chat = false, server = false, raw = false, verbose = false;
    long long max_tokens = 4096;
    bool max_given = false;
    int n_stops = 0;
    const char *host = NULL, *api_key = NULL, *tok_file = NULL, *served_name = NULL;
    bool detokenize = false, quiet = false;
    long long port = -1, max_pending = -1, max_connections = -1, idle_timeout = -1, read_timeout = -1,
              max_body_kb = -1;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        long long x;
#define NEED_VALUE() \
    do { if (!v) { fprintf(stderr, "vllmc: %s needs a value\n", a); return 2; } i++; } while (0)
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); return 0; }
        else if (!strcmp(a, "--w")) { NEED_VALUE(); eo.model_path = v; }
        else if (!strcmp(a, "--prompts")) { NEED_VALUE(); prompts = v; }
        else if (!strcmp(a, "--i")) chat = true;
        else if (!strcmp(a, "--tokenize") || !strcmp(a, "--detokenize")) {
            NEED_VALUE();
            detokenize = !strcmp(a, "--detokenize");
            tok_file = v;
        }
        else if (!strcmp(a, "--server")) server = true;
        else if (!strcmp(a, "--raw")) raw = true;
        else if (!strcmp(a, "--verbose")) verbose = true;
        else if (!strcmp(a, "--ignore-eos")) sp.ignore_eos = true;
        else if (!strcmp(a, "--no-prefix-caching")) eo.enable_prefix_caching = false;
        else if (!strcmp(a, "--act8")) eo.act8 = true;
        else if (!strcmp(a, "--precise")) eo.precise = true;
        else if (!strcmp(a, "--system")) { NEED_VALUE(); system_prompt = v; }
        else if (!strcmp(a, "--d")) { NEED_VALUE(); eo.device = v; }
        else if (!strcmp(a, "--dtype")) { NEED_VALUE(); eo.kv_dtype = v; }
        else if (!strcmp(a, "--quant")) { NEED_VALUE(); eo.quant = v; }
        else if (!strcmp(a, "--mmap")) eo.mmap_weights = true;
        else if (!strcmp(a, "--chat-template")) { NEED_VALUE(); eo.chat_template = v; }
        else if (!strcmp(a, "--stop")) { NEED_VALUE(); stops[n_stops++] = v; }
        else if (!strcmp(a, "--host")) { NEED_VALUE(); host = v; }
        else if (!strcmp(a, "--api-key")) { NEED_VALUE(); api_key = v; }
        else if (!strcmp(a, "--port")) { NEED_VALUE(); if (parse_int(a, v, 0, 65535, &port)) return 2; }
        else if (!strcmp(a, "--served-model-name")) { NEED_VALUE(); served_name = v; }
        else if (!strcmp(a, "--quiet")) quiet = true;
        else if (!strcmp(a, "--max-pending")) { NEED_VALUE(); if (parse_int(a, v, 1, 1 << 20, &max_pending)) return 2; }
        else if (!strcmp(a, "--max-connections")) { NEED_VALUE(); if (parse_int(a, v, 1, 1 << 16, &max_connections)) return 2; }
        else if (!strcmp(a, "--idle-timeout")) { NEED_VALUE(); if (parse_int(a, v, 1, 1 << 20, &idle_timeout)) return 2; }
        else if (!strcmp(a, "--read-timeout")) { NEED_VALUE(); if (parse_int(a, v, 1, 1 << 20, &read_timeout)) return 2; }
        else if (!strcmp(a, "--max-body-kb")) { NEED_VALUE(); if (parse_int(a, v, 1, 1 << 20, &max_body_kb)) return 2; }
        else if (!strcmp(a, "--kvmem")) { NEED_VALUE(); if (parse_int(a, v, 1, 1ll << 30, &x)) return 2; eo.kvmem_mb = x; }
        else if (!strcmp(a, "--max")) { NEED_VALUE(); if (parse_int(a, v, 1, 1 << 30, &max_tokens)) return 2; max_given = true; }
        else if (!strcmp(a, "--ctx")) { NEED_VALUE(); if (parse_int(a, v, 2, 1 << 30, &x)) return 2; eo.max_model_len = (int)x; }
        else if (!strcmp(a, "--max-num-seqs")) { NEED_VALUE(); if (parse_int(a, v, 1, 1 << 16, &x)) return 2; eo.max_num_seqs = (int)x; }
        else if (!strcmp(a, "--max-num-batched-tokens")) { NEED_VALUE(); if (parse_int(a, v, 1, 1 << 20, &x)) return 2; eo.max_num_batched_tokens = (int)x; }
        else if (!strcmp(a, "--block-size")) { NEED_VALUE(); if (parse_int(a, v, 1, 1024, &x)) return 2; eo.block_size = (int)x; }
        else if (!strcmp(a, "--threads")) { NEED_VALUE(); if (parse_int(a, v, 0, 4096, &x)) return 2; eo.n_threads = (int)x; }
        else if (!strcmp(a, "--top-k")) { NEED_VALUE(); if (parse_int(a, v, 0, 1 << 30, &x)) return 2; sp.top_k = (int)x; }
        else if (!strcmp(a, "--seed")) { NEED_VALUE(); if (parse_int(a, v, -1, INT64_MAX, &x)) return 2; sp.seed = x; }
        else if (!strcmp(a, "--temperature")) { NEED_VALUE(); if (parse_float(a, v, &sp.temperature)) return 2; }
        else if (!strcmp(a, "--top-p")) { NEED_VALUE(); if (parse_float(a, v, &sp.top_p)) return 2; }
        else if (!strcmp(a, "--min-p")) { NEED_VALUE(); if (parse_float(a, v, &sp.min_p)) return 2; }
        else if (!strcmp(a, "--repetition-penalty")) { NEED_VALUE(); if (parse_float(a, v, &sp.repetition_penalty)) return 2; }
        else if (!strcmp(a, "--presence-penalty")) { NEED_VALUE(); if (parse_float(a, v, &sp.presence_penalty)) return 2; }
        else if (!strcmp(a, "--frequency-penalty")) { NEED_VALUE(); if (parse_float(a, v, &sp.frequency_penalty)) return 2; }
        else { fprintf(stderr, "vllmc: unknown option '%s' (see --help)\n", a); return 2; }
#undef NEED_VALUE
    }
    if (!eo.model_path) { usage(stderr); return 2; }
    if (tok_file) {   /* tokenizer only: no engine */
        vc_error ve = {{0}};
        if (vc_tokenize_cli(eo.model_path, tok_file, detokenize, stdout, &ve)) {
            fprintf(stderr, "vllmc: %s\n", ve.msg);
            return 1;
        }
        return 0;
    }
    if (!!prompts + chat + server != 1) {
        fprintf(stderr, "vllmc: give exactly one of --prompts, --i, --server\n");
        return 2;
    }
    sp.stop = stops;
    sp.n_stop = n_stops;
    eo.show_progress = isatty(2);

    char err[1024];
    vllmc_engine *e;
    if (vllmc_engine_create(&e, &eo, err, sizeof err)) {
        fprintf(stderr, "vllmc: %s\n", err);
        return 1;
    }
    if (max_tokens > vllmc_max_model_len(e)) {
        if (max_given)
            fprintf(stderr, "vllmc: --max %lld clipped to the model's context, %d\n", max_tokens,
                    vllmc_max_model_len(e));
        max_tokens = vllmc_max_model_len(e);
    }
    sp.max_tokens = (int)max_tokens;

    int rc = 0;
    if (prompts) {
        rc = vc_cli_batch(e, prompts, raw, &sp, verbose, stdout) ? 1 : 0;
    } else if (chat) {
        struct sigaction sa = {0};
        sa.sa_handler = on_sigint;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);     /* no SA_RESTART: a read is interrupted */
        rc = vc_chat_run(e, &sp, system_prompt, &interrupted) ? 1 : 0;
    } else {
#ifdef VLLMC_HAVE_SERVER
        vc_server_options so = vc_server_default_options();
        if (host) so.host = host;
        if (port >= 0) so.port = (int)port;
        if (api_key) so.api_key = api_key;
        if (served_name) so.served_model_name = served_name;
        if (max_pending > 0) so.max_pending = (int)max_pending;
        if (max_connections > 0) so.max_connections = (int)max_connections;
        if (idle_timeout > 0) so.idle_timeout_s = (int)idle_timeout;
        if (read_timeout > 0) so.read_timeout_s = (int)read_timeout;
        if (max_body_kb > 0) so.max_body_bytes = (size_t)max_body_kb * 1024;
        so.quiet = quiet;
        vc_error ve = {{0}};
        if (vc_server_run(&so, e, &ve)) {
            fprintf(stderr, "vllmc: server: %s\n", ve.msg);
            rc = 1;
        }
#else
        (void)host; (void)api_key; (void)port; (void)served_name; (void)quiet; (void)max_pending;
        (void)max_connections; (void)idle_timeout; (void)read_timeout; (void)max_body_kb;
        fprintf(stderr, "vllmc: --server is not built in yet\n");
        rc = 1;
#endif
    }
    vllmc_engine_free(e);
    return rc;
}

int main(int argc, char **argv) {
    if (vc_cli_is_quant_mode(argc, argv)) {
        int rc = vc_cli_quant_main(&argc, &argv);   /* may rewrite argv to go on */
        if (rc != VC_CLI_CONTINUE) return rc;
    }
    const char **stops = calloc((size_t)argc, sizeof *stops);
    if (!stops) {
        fprintf(stderr, "vllmc: out of memory\n");
        return 1;
    }
    int rc = run(argc, argv, stops);
    free(stops);
    return rc;
}
