/* vllm.c public API: open a model, submit requests, stream their output.
 *
 *   vllmc_engine *e; vllmc_engine_options o = vllmc_engine_default_options();
 *   o.model_path = "model.gguf";
 *   if (vllmc_engine_create(&e, &o, errbuf, sizeof errbuf)) ...;
 *   vllmc_request r = {.prompt = "Hello", .params = vllmc_default_sampling()};
 *   int64_t id = vllmc_add_request(e, &r, errbuf, sizeof errbuf);
 *   while (vllmc_has_unfinished(e)) vllmc_step(e);   // or a thread running vllmc_run
 *
 * Output arrives through each request's callback, called from the thread that
 * steps the engine. Requests may be added and cancelled from any thread.
 */
#ifndef VLLMC_H
#define VLLMC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vllmc_engine vllmc_engine;

typedef struct vllmc_engine_options {
    const char *model_path;      /* .gguf file or safetensors folder */
    const char *device;          /* "cpu" (default) or "cuda" */
    int64_t kvmem_mb;            /* KV pool size in MB (default 4096, clipped to RAM) */
    const char *kv_dtype;        /* "bf16" (default), "f16", "f32" */
    int block_size;              /* tokens per KV block (default 16) */
    int max_num_seqs;            /* running sequences per step (default 256) */
    int max_num_batched_tokens;  /* token budget per step (default 2048) */
    int max_model_len;           /* 0 = the model's context */
    bool enable_prefix_caching;  /* default true */
    int n_threads;               /* 0 = physical cores */
    bool act8;                   /* 8-bit activations in every matmul, as llama.cpp
                                    (faster, less accurate; default false) */
    bool precise;                /* value + residual 8-bit pairs in every matmul:
                                    transformers' logits within ~1e-3 nats, slower
                                    prefill and batches (default false; not with act8) */
    const char *quant;           /* in-situ quantization type or NULL */
    const char *chat_template;   /* override name or NULL */
    bool show_progress;          /* loading progress bar on stderr */
    bool mmap_weights;           /* read the weights from the file mapping (4 KB pages)
                                    instead of a copy in 2 MB pages (default false:
                                    copied, faster decode; see src/model/resident.h) */
} vllmc_engine_options;

typedef struct vllmc_sampling_params {
    float temperature;           /* 0 = greedy */
    float top_p;                 /* 1 = off */
    int top_k;                   /* 0 = off */
    float min_p;                 /* 0 = off */
    float repetition_penalty;    /* 1 = off */
    float presence_penalty;      /* 0 = off */
    float frequency_penalty;     /* 0 = off */
    int64_t seed;                /* -1 = random */
    int max_tokens;              /* 0 = up to the context */
    bool ignore_eos;
    const char *const *stop;     /* stop strings, n_stop of them */
    int n_stop;
    const int32_t *stop_token_ids;
    int n_stop_token_ids;
    int logprobs;                /* 0 = none; k > 0: chosen token + top k */
} vllmc_sampling_params;

typedef enum vllmc_finish_reason {
    VLLMC_FINISH_NONE = 0,       /* still running */
    VLLMC_FINISH_STOP,           /* eos / stop string / stop token */
    VLLMC_FINISH_LENGTH,         /* max_tokens or context */
    VLLMC_FINISH_ABORT,          /* cancelled */
    VLLMC_FINISH_ERROR
} vllmc_finish_reason;

typedef struct vllmc_logprob {
    int32_t token;
    float logprob;
} vllmc_logprob;

/* One streamed event of one request. text is the new detokenized text (may
 * be empty while a UTF-8 sequence or a possible stop string is held back). */
typedef struct vllmc_output {
    int64_t request_id;
    const char *text;
    size_t text_len;
    const int32_t *tokens;       /* tokens produced by this step (usually 1) */
    int n_tokens;
    const vllmc_logprob *logprobs;     /* per token: chosen, then top k: n_tokens*(1+k) */
    int n_top_logprobs;
    vllmc_finish_reason finish;  /* != NONE on the last event */
    int prompt_tokens;
    int completion_tokens;
    int cached_prompt_tokens;    /* prefix-cache hits */
} vllmc_output;

typedef void (*vllmc_output_fn)(const vllmc_output *out, void *user);

typedef struct vllmc_request {
    const char *prompt;          /* text (the chat template NOT applied), or NULL */
    const int32_t *prompt_ids;   /* or token ids */
    int n_prompt_ids;
    vllmc_sampling_params params;
    vllmc_output_fn on_output;
    void *user;
} vllmc_request;

vllmc_engine_options vllmc_engine_default_options(void);
vllmc_sampling_params vllmc_default_sampling(void);

int vllmc_engine_create(vllmc_engine **out, const vllmc_engine_options *o, char *err, size_t err_len);
void vllmc_engine_free(vllmc_engine *e);

/* Returns the request id (>= 0), or -1 with a message (e.g. prompt longer
 * than the context, with the token counts). Thread-safe. */
int64_t vllmc_add_request(vllmc_engine *e, const vllmc_request *r, char *err, size_t err_len);
/* Thread-safe; the request finishes with VLLMC_FINISH_ABORT at the next step
 * and its KV blocks return to the pool. */
void vllmc_cancel(vllmc_engine *e, int64_t request_id);

/* One scheduler step + forward + sampling. Returns the number of sequences
 * that ran, 0 when idle, -1 on an internal error. */
int vllmc_step(vllmc_engine *e);
bool vllmc_has_unfinished(vllmc_engine *e);
/* Steps until no request is unfinished (including ones added meanwhile).
 * Returns 0, or -1 after a failed step. */
int vllmc_run(vllmc_engine *e);

typedef struct vllmc_stats {
    int64_t requests_finished;
    int64_t prompt_tokens, prefill_tokens, cached_tokens, generated_tokens;
    double prefill_seconds, decode_seconds;
    int running, waiting;
    int kv_blocks_total, kv_blocks_free;
    int64_t preemptions;
} vllmc_stats;
void vllmc_get_stats(vllmc_engine *e, vllmc_stats *s);

/* Model facts for the CLI and the server. */
const char *vllmc_model_name(vllmc_engine *e);
int vllmc_max_model_len(vllmc_engine *e);

/* Tokenizer and chat template of the loaded model (malloc'd results). */
int vllmc_tokenize(vllmc_engine *e, const char *text, bool add_special, int32_t **ids, int *n,
                   char *err, size_t err_len);
int vllmc_detokenize(vllmc_engine *e, const int32_t *ids, int n, char **text, char *err,
                     size_t err_len);
/* The raw bytes one token adds to decoded text (*bytes malloc'd, *len bytes,
 * NUL-terminated for convenience): a piece of a UTF-8 character stays as it
 * is (vllmc_detokenize would give U+FFFD), a special token gives its text.
 * For log-probabilities. -1 for an id out of range. */
int vllmc_token_bytes(vllmc_engine *e, int32_t id, char **bytes, size_t *len, char *err, size_t err_len);
typedef struct vllmc_message {
    const char *role;
    const char *content;
} vllmc_message;
int vllmc_apply_chat_template(vllmc_engine *e, const vllmc_message *msgs, int n,
                              bool add_generation_prompt, char **out, char *err, size_t err_len);

#ifdef __cplusplus
}
#endif
#endif
