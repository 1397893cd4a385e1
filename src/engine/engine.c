/* The engine of include/vllmc.h: request intake, the step loop, streamed
 * outputs and stats.
 *
 * One step:
 *   drain the intake (requests and cancels queued by any thread, under lock)
 *   -> scheduler plan -> runner batch -> forward (logits of sampling rows)
 *   -> scheduler update (n_computed, prefix cache) -> per sequence: sample,
 *   stop checks, detokenize, stop strings -> callbacks (without the lock,
 *   so a callback may add or cancel requests). */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine/block_manager.h"
#include "engine/runner.h"
#include "engine/sampler.h"
#include "engine/scheduler.h"
#include "engine/sequence.h"
#include "engine/stop.h"
#include "model/kv_cache.h"
#include "model/model.h"
#include "model/quantize_model.h"
#include "model/resident.h"
#include "model/transformer.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"
#include "vllmc.h"

enum { MAX_LOGPROBS = 20 };

typedef struct request {
    int64_t id;
    vc_seq *seq;
    vc_sample_params sample;
    int max_tokens;              /* generated tokens, eos included */
    int n_generated;
    bool ignore_eos;
    int32_t *stop_ids;
    int n_stop_ids;
    vc_stop *stop;
    vc_detok *detok;
    int n_logprobs;
    vllmc_logprob *logprobs;     /* [1 + n_logprobs] */
    vc_token_logprob *lp_scratch;
    char *text;                  /* event text assembled here */
    size_t text_cap;
    bool cancelled;
    vllmc_output_fn on_output;
    void *user;
    struct request *next;        /* intake list or live list */
} request;

struct vllmc_engine {
    vc_model *model;
    vc_tokenizer *tok;
    vc_chat_template *tmpl;
    vc_transformer *tf;
    vc_kv_cache *kv;
    vc_block_manager *bm;
    vc_scheduler *sched;
    vc_sampler *sampler;
    vc_runner *runner;
    float *logits;               /* [max_num_seqs][vocab] */
    int *sample_row;             /* [max_num_seqs] */
    int vocab;
    int max_model_len, block_size, n_blocks, max_num_seqs, max_num_batched_tokens;
    int64_t kvmem_mb;
    const int32_t *eog_ids;
    int n_eog;
    char *model_name;

    pthread_mutex_t lock;        /* guards everything below */
    request *intake_head, *intake_tail;
    int64_t *cancels;
    int n_cancels, cap_cancels;
    int n_unfinished;
    int64_t next_id;
    uint64_t seed_counter;
    vllmc_stats stats;

    request *live;               /* step thread only: requests in the scheduler */
};

/* ---- options ---- */

vllmc_engine_options vllmc_engine_default_options(void) {
    return (vllmc_engine_options){
        .model_path = NULL,
        .device = "cpu",
        .kvmem_mb = 4096,
        .kv_dtype = "bf16",
        .block_size = 16,
        .max_num_seqs = 256,
        .max_num_batched_tokens = 2048,
        .max_model_len = 0,
        .enable_prefix_caching = true,
        .n_threads = 0,
        .quant = NULL,
        .chat_template = NULL,
        .show_progress = false,
    };
}

vllmc_sampling_params vllmc_default_sampling(void) {
    return (vllmc_sampling_params){
        .temperature = 0,
        .top_p = 1,
        .top_k = 0,
        .min_p = 0,
        .repetition_penalty = 1,
        .presence_penalty = 0,
        .frequency_penalty = 0,
        .seed = -1,
        .max_tokens = 0,
    };
}

static int set_err(char *err, size_t err_len, const char *msg) {
    if (err && err_len) snprintf(err, err_len, "%s", msg);
    return -1;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* MemAvailable from /proc/meminfo, and a cgroup v2 limit if lower; 0 if unknown */
static int64_t available_memory_bytes(void) {
    int64_t avail = 0;
    FILE *f = fopen("/proc/meminfo", "r");
    if (f) {
        char line[256];
        long long kb;
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "MemAvailable: %lld kB", &kb) == 1) avail = kb * 1024;
        fclose(f);
    }
    f = fopen("/sys/fs/cgroup/memory.max", "r");
    if (f) {
        long long max, cur = 0;
        if (fscanf(f, "%lld", &max) == 1) {
            FILE *g = fopen("/sys/fs/cgroup/memory.current", "r");
            if (g) { if (fscanf(g, "%lld", &cur) != 1) cur = 0; fclose(g); }
            if (max - cur > 0 && (avail == 0 || max - cur < avail)) avail = max - cur;
        }
        fclose(f);
    }
    return avail;
}

static int parse_kv_dtype(const char *s, vc_dtype *out) {
    if (!s || !strcmp(s, "bf16")) *out = VC_BF16;
    else if (!strcmp(s, "f16")) *out = VC_F16;
    else if (!strcmp(s, "f32")) *out = VC_F32;
    else return -1;
    return 0;
}

static const char *basename_of(const char *path) {
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') n--;
    const char *end = path + n, *p = end;
    while (p > path && p[-1] != '/') p--;
    (void)end;
    return p;
}

int vllmc_engine_create(vllmc_engine **out, const vllmc_engine_options *o, char *err,
                        size_t err_len) {
    *out = NULL;
    vc_error e = {{0}};
    if (!o || !o->model_path) return set_err(err, err_len, "no model path (--w)");
    if (o->device && strcmp(o->device, "cpu") != 0)
        return set_err(err, err_len, "device: only 'cpu' is built in this binary");
    vc_dtype kv_dtype;
    if (parse_kv_dtype(o->kv_dtype, &kv_dtype)) {
        snprintf(err, err_len, "KV dtype '%s': expected bf16, f16 or f32", o->kv_dtype);
        return -1;
    }
    vllmc_engine *en = calloc(1, sizeof *en);
    if (!en) return set_err(err, err_len, "engine: out of memory");
    pthread_mutex_init(&en->lock, NULL);
    en->block_size = o->block_size > 0 ? o->block_size : 16;
    en->max_num_seqs = o->max_num_seqs > 0 ? o->max_num_seqs : 256;
    en->max_num_batched_tokens = o->max_num_batched_tokens > 0 ? o->max_num_batched_tokens : 2048;
    if (en->max_num_batched_tokens < en->max_num_seqs) en->max_num_batched_tokens = en->max_num_seqs;
    en->seed_counter = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);

    if (vc_model_open(&en->model, o->model_path, &e)) goto fail;
    if (o->quant) {   /* in-situ quantization of a safetensors model's weights */
        vc_dtype mix;
        if (vc_quant_parse(o->quant, &mix, &e) ||
            vc_model_quantize(en->model, mix, o->n_threads, o->show_progress, &e))
            goto fail;
    }
    const vc_config *cfg = &en->model->cfg;
    if (o->mmap_weights) {
        if (o->show_progress) vc_model_prefault(en->model, isatty(2));
    } else if (vc_model_make_resident(en->model, o->show_progress && isatty(2), &e)) {
        goto fail;
    }
    if (en->model->gguf) {
        if (vc_tokenizer_from_gguf(&en->tok, en->model->gguf, &e)) goto fail;
    } else if (vc_tokenizer_open(&en->tok, o->model_path, &e)) {
        goto fail;
    }
    en->vocab = cfg->vocab_size;
    if (vc_tokenizer_vocab_size(en->tok) > en->vocab) {
        vc_errorf(&e, "tokenizer has %d tokens, the model's vocabulary %d",
                  vc_tokenizer_vocab_size(en->tok), en->vocab);
        goto fail;
    }
    en->n_eog = vc_tokenizer_eog_ids(en->tok, &en->eog_ids);
    {
        const char *src = vc_tokenizer_chat_template(en->tok);
        int bos = vc_tokenizer_bos(en->tok), eos = vc_tokenizer_eos(en->tok);
        const char *bos_text = bos >= 0 ? vc_tokenizer_token_text(en->tok, bos) : NULL;
        const char *eos_text = eos >= 0 ? vc_tokenizer_token_text(en->tok, eos) : NULL;
        vc_error te = {{0}};
        /* the model's template, an override, or a built-in fallback (with a note) */
        if (vc_chat_template_create(&en->tmpl, src, o->chat_template, bos_text, eos_text, &te)) {
            if (o->chat_template) { e = te; goto fail; }
            fprintf(stderr, "vllmc: warning: no usable chat template (%s)\n", te.msg);
            en->tmpl = NULL;
        } else if (vc_chat_template_note(en->tmpl)) {
            fprintf(stderr, "vllmc: note: %s\n", vc_chat_template_note(en->tmpl));
        }
    }
    en->max_model_len = cfg->max_seq_len > 0 ? cfg->max_seq_len : 4096;
    if (o->max_model_len > 0 && o->max_model_len < en->max_model_len) en->max_model_len = o->max_model_len;

    /* the KV pool: --kvmem MB, clipped to what the machine can give */
    {
        int64_t want = (o->kvmem_mb > 0 ? o->kvmem_mb : 4096) * 1024 * 1024;
        int64_t avail = available_memory_bytes();
        if (avail > 0) {
            struct stat st;
            int64_t weights = stat(o->model_path, &st) == 0 && S_ISREG(st.st_mode) ? st.st_size : 0;
            int64_t limit = (int64_t)(avail * 0.8) - weights;
            if (limit < 64ll * 1024 * 1024) limit = 64ll * 1024 * 1024;
            if (want > limit) {
                fprintf(stderr, "vllmc: --kvmem %lld MB clipped to %lld MB (memory available: %lld MB)\n",
                        (long long)(want >> 20), (long long)(limit >> 20), (long long)(avail >> 20));
                want = limit;
            }
        }
        en->kvmem_mb = want >> 20;
        size_t block_bytes = vc_kv_block_bytes(cfg, kv_dtype, en->block_size);
        int64_t n_blocks = want / (int64_t)block_bytes;
        int64_t useful = (int64_t)en->max_num_seqs * ((en->max_model_len + en->block_size - 1) / en->block_size);
        if (n_blocks > useful) n_blocks = useful;   /* never more than every sequence at full length */
        if (n_blocks > (1 << 30) / en->block_size) n_blocks = (1 << 30) / en->block_size;
        if (n_blocks < 1) {
            vc_errorf(&e, "--kvmem %lld MB holds no KV block (one block of %d tokens is %zu bytes)",
                      (long long)(want >> 20), en->block_size, block_bytes);
            goto fail;
        }
        en->n_blocks = (int)n_blocks;
    }
    if (vc_kv_cache_create(&en->kv, cfg, kv_dtype, en->block_size, en->n_blocks, &e)) goto fail;
    if (vc_bm_create(&en->bm, en->n_blocks, en->block_size, o->enable_prefix_caching, &e)) goto fail;
    if (vc_sched_create(&en->sched, en->bm, en->max_num_seqs, en->max_num_batched_tokens, &e)) goto fail;
    if (vc_sampler_create(&en->sampler, en->vocab, &e)) goto fail;
    if (vc_runner_create(&en->runner, en->max_num_batched_tokens, en->max_num_seqs,
                         (en->max_model_len + en->block_size - 1) / en->block_size + 1, &e))
        goto fail;
    if (o->act8 && o->precise) {
        vc_errorf(&e, "act8 and precise numerics exclude each other");
        goto fail;
    }
    const vc_numerics numerics = o->precise ? VC_NUMERICS_PRECISE : o->act8 ? VC_NUMERICS_ACT8 : VC_NUMERICS_DEFAULT;
    if (vc_transformer_create(&en->tf, en->model, en->max_num_batched_tokens, o->n_threads, numerics, &e)) goto fail;
    en->logits = malloc((size_t)en->max_num_seqs * en->vocab * sizeof *en->logits);
    en->sample_row = malloc((size_t)en->max_num_seqs * sizeof *en->sample_row);
    en->model_name = strdup(basename_of(o->model_path));
    if (!en->logits || !en->sample_row || !en->model_name) {
        vc_errorf(&e, "engine: out of memory for logits of %d sequences", en->max_num_seqs);
        goto fail;
    }
    en->stats.kv_blocks_total = en->n_blocks;
    en->stats.kv_blocks_free = en->n_blocks;
    *out = en;
    return 0;
fail:
    if (err && err_len) snprintf(err, err_len, "%s", e.msg[0] ? e.msg : "engine: unknown error");
    vllmc_engine_free(en);
    return -1;
}

static void request_free(request *r) {
    if (!r) return;
    vc_seq_free(r->seq);
    free(r->stop_ids);
    vc_stop_free(r->stop);
    vc_detok_free(r->detok);
    free(r->logprobs);
    free(r->lp_scratch);
    free(r->text);
    free(r);
}

void vllmc_engine_free(vllmc_engine *e) {
    if (!e) return;
    for (request *r = e->intake_head, *n; r; r = n) { n = r->next; request_free(r); }
    for (request *r = e->live, *n; r; r = n) { n = r->next; request_free(r); }
    vc_transformer_free(e->tf);
    vc_runner_free(e->runner);
    vc_sampler_free(e->sampler);
    vc_sched_free(e->sched);
    vc_bm_free(e->bm);
    vc_kv_cache_free(e->kv);
    vc_chat_template_free(e->tmpl);
    vc_tokenizer_free(e->tok);
    vc_model_free(e->model);
    free(e->logits);
    free(e->sample_row);
    free(e->model_name);
    free(e->cancels);
    pthread_mutex_destroy(&e->lock);
    free(e);
}

const char *vllmc_model_name(vllmc_engine *e) { return e->model_name; }
int vllmc_max_model_len(vllmc_engine *e) { return e->max_model_len; }

/* ---- tokenizer facade ---- */

int vllmc_tokenize(vllmc_engine *e, const char *text, bool add_special, int32_t **ids, int *n,
                   char *err, size_t err_len) {
    vc_error ve = {{0}};
    if (vc_tokenize(e->tok, text, strlen(text), add_special, true, ids, n, &ve))
        return set_err(err, err_len, ve.msg);
    /* a chat template that writes the BOS text, tokenized with add_special: one BOS */
    int bos = vc_tokenizer_bos(e->tok);
    if (add_special && bos >= 0 && *n >= 2 && (*ids)[0] == bos && (*ids)[1] == bos) {
        memmove(*ids, *ids + 1, (size_t)(*n - 1) * sizeof **ids);
        (*n)--;
    }
    return 0;
}

int vllmc_detokenize(vllmc_engine *e, const int32_t *ids, int n, char **text, char *err,
                     size_t err_len) {
    vc_error ve = {{0}};
    if (vc_detokenize(e->tok, ids, n, true, text, &ve)) return set_err(err, err_len, ve.msg);
    return 0;
}

int vllmc_token_bytes(vllmc_engine *e, int32_t id, char **bytes, size_t *len, char *err, size_t err_len) {
    *bytes = NULL;
    *len = 0;
    size_t n;
    const char *b = vc_tokenizer_token_bytes(e->tok, id, &n);
    if (!b) {
        char msg[96];
        snprintf(msg, sizeof msg, "token id %d out of range [0, %d)", (int)id, vc_tokenizer_vocab_size(e->tok));
        return set_err(err, err_len, msg);
    }
    char *out = malloc(n + 1);
    if (!out) return set_err(err, err_len, "out of memory");
    memcpy(out, b, n);
    out[n] = 0;
    *bytes = out;
    *len = n;
    return 0;
}

int vllmc_apply_chat_template(vllmc_engine *e, const vllmc_message *msgs, int n,
                              bool add_generation_prompt, char **out, char *err, size_t err_len) {
    if (!e->tmpl) return set_err(err, err_len, "the model has no chat template (use raw prompts)");
    vc_chat_message *cm = calloc((size_t)(n > 0 ? n : 1), sizeof *cm);
    if (!cm) return set_err(err, err_len, "out of memory");
    for (int i = 0; i < n; i++) cm[i] = (vc_chat_message){msgs[i].role, msgs[i].content};
    vc_error ve = {{0}};
    int rc = vc_chat_template_render(e->tmpl, cm, n, add_generation_prompt, true, out, &ve);
    free(cm);
    if (rc) return set_err(err, err_len, ve.msg);
    return 0;
}

/* ---- requests ---- */

static int check_params(const vllmc_sampling_params *p, char *err, size_t err_len) {
    char msg[256] = "";
    if (!(p->temperature >= 0) || isinf(p->temperature))
        snprintf(msg, sizeof msg, "temperature %g: expected >= 0", p->temperature);
    else if (!(p->top_p > 0 && p->top_p <= 1))
        snprintf(msg, sizeof msg, "top_p %g: expected in (0, 1]", p->top_p);
    else if (p->top_k < 0)
        snprintf(msg, sizeof msg, "top_k %d: expected >= 0 (0 = off)", p->top_k);
    else if (!(p->min_p >= 0 && p->min_p <= 1))
        snprintf(msg, sizeof msg, "min_p %g: expected in [0, 1]", p->min_p);
    else if (!(p->repetition_penalty > 0) || isinf(p->repetition_penalty))
        snprintf(msg, sizeof msg, "repetition_penalty %g: expected > 0", p->repetition_penalty);
    else if (isnan(p->presence_penalty) || isnan(p->frequency_penalty))
        snprintf(msg, sizeof msg, "presence/frequency penalty is NaN");
    else if (p->max_tokens < 0)
        snprintf(msg, sizeof msg, "max_tokens %d: expected >= 0 (0 = up to the context)", p->max_tokens);
    else if (p->logprobs < 0 || p->logprobs > MAX_LOGPROBS)
        snprintf(msg, sizeof msg, "logprobs %d: expected 0..%d", p->logprobs, MAX_LOGPROBS);
    else if (p->n_stop < 0 || (p->n_stop > 0 && !p->stop) || p->n_stop_token_ids < 0 ||
             (p->n_stop_token_ids > 0 && !p->stop_token_ids))
        snprintf(msg, sizeof msg, "stop strings / stop token ids: count without array");
    if (!msg[0]) return 0;
    return set_err(err, err_len, msg);
}

int64_t vllmc_add_request(vllmc_engine *e, const vllmc_request *rq, char *err, size_t err_len) {
    char msg[512];
    if (!rq) return set_err(err, err_len, "no request");
    const vllmc_sampling_params *p = &rq->params;
    if (check_params(p, err, err_len)) return -1;
    int32_t *ids = NULL;
    int n = 0;
    if (rq->prompt_ids) {
        n = rq->n_prompt_ids;
        for (int i = 0; i < n; i++)
            if (rq->prompt_ids[i] < 0 || rq->prompt_ids[i] >= e->vocab) {
                snprintf(msg, sizeof msg, "prompt token %d (at %d) is outside the vocabulary [0, %d)",
                         rq->prompt_ids[i], i, e->vocab);
                return set_err(err, err_len, msg);
            }
    } else if (rq->prompt) {
        if (vllmc_tokenize(e, rq->prompt, true, &ids, &n, err, err_len)) return -1;
    } else {
        return set_err(err, err_len, "request has neither a prompt nor prompt ids");
    }
    const int32_t *prompt = rq->prompt_ids ? rq->prompt_ids : ids;
    int pool_tokens = e->n_blocks * e->block_size;
    if (n < 1) {
        free(ids);
        return set_err(err, err_len, "empty prompt (0 tokens)");
    }
    if (n >= e->max_model_len) {
        snprintf(msg, sizeof msg,
                 "prompt has %d tokens; the context holds %d, so no token is left to generate", n,
                 e->max_model_len);
        free(ids);
        return set_err(err, err_len, msg);
    }
    if (n + 1 > pool_tokens) {
        snprintf(msg, sizeof msg,
                 "prompt has %d tokens but the whole KV cache holds %d (%d blocks of %d tokens, "
                 "--kvmem %lld MB); raise --kvmem",
                 n, pool_tokens, e->n_blocks, e->block_size, (long long)e->kvmem_mb);
        free(ids);
        return set_err(err, err_len, msg);
    }
    int64_t max_len = (int64_t)n + (p->max_tokens > 0 ? p->max_tokens : e->max_model_len);
    if (max_len > e->max_model_len) max_len = e->max_model_len;
    if (max_len > pool_tokens) max_len = pool_tokens;   /* alone it always fits: no deadlock */

    request *r = calloc(1, sizeof *r);
    vc_error ve = {{0}};
    if (!r) { free(ids); return set_err(err, err_len, "out of memory"); }
    if (vc_seq_create(&r->seq, 0, prompt, n, (int)max_len, e->block_size, &ve) ||
        vc_stop_create(&r->stop, p->stop, p->n_stop, &ve) ||
        vc_detok_create(&r->detok, e->tok, true, &ve)) {
        free(ids);
        request_free(r);
        return set_err(err, err_len, ve.msg);
    }
    free(ids);
    r->seq->user = r;
    r->max_tokens = (int)(max_len - n);
    r->ignore_eos = p->ignore_eos;
    r->n_logprobs = p->logprobs;
    r->logprobs = calloc((size_t)(1 + r->n_logprobs), sizeof *r->logprobs);
    r->lp_scratch = calloc((size_t)(1 + r->n_logprobs), sizeof *r->lp_scratch);
    if (p->n_stop_token_ids > 0) {
        r->stop_ids = malloc((size_t)p->n_stop_token_ids * sizeof *r->stop_ids);
        if (r->stop_ids) memcpy(r->stop_ids, p->stop_token_ids, (size_t)p->n_stop_token_ids * sizeof *r->stop_ids);
        r->n_stop_ids = p->n_stop_token_ids;
    }
    r->text_cap = 256;
    r->text = malloc(r->text_cap);
    if (!r->logprobs || !r->lp_scratch || !r->text || (p->n_stop_token_ids > 0 && !r->stop_ids)) {
        request_free(r);
        return set_err(err, err_len, "out of memory");
    }
    r->sample = (vc_sample_params){
        .temperature = p->temperature,
        .top_p = p->top_p,
        .top_k = p->top_k,
        .min_p = p->min_p,
        .repetition_penalty = p->repetition_penalty,
        .presence_penalty = p->presence_penalty,
        .frequency_penalty = p->frequency_penalty,
    };
    r->on_output = rq->on_output;
    r->user = rq->user;

    pthread_mutex_lock(&e->lock);
    r->id = e->next_id++;
    r->seq->id = r->id;
    r->sample.seed = p->seed >= 0 ? (uint64_t)p->seed
                                  : (e->seed_counter += 0x9e3779b97f4a7c15ull) ^ (uint64_t)r->id;
    if (e->intake_tail) e->intake_tail->next = r; else e->intake_head = r;
    e->intake_tail = r;
    e->n_unfinished++;
    e->stats.waiting++;
    pthread_mutex_unlock(&e->lock);
    return r->id;
}

void vllmc_cancel(vllmc_engine *e, int64_t request_id) {
    pthread_mutex_lock(&e->lock);
    if (e->n_cancels == e->cap_cancels) {
        int cap = e->cap_cancels ? e->cap_cancels * 2 : 16;
        int64_t *c = realloc(e->cancels, (size_t)cap * sizeof *c);
        if (!c) { pthread_mutex_unlock(&e->lock); return; }
        e->cancels = c;
        e->cap_cancels = cap;
    }
    e->cancels[e->n_cancels++] = request_id;
    pthread_mutex_unlock(&e->lock);
}

bool vllmc_has_unfinished(vllmc_engine *e) {
    pthread_mutex_lock(&e->lock);
    bool any = e->n_unfinished > 0;
    pthread_mutex_unlock(&e->lock);
    return any;
}

void vllmc_get_stats(vllmc_engine *e, vllmc_stats *s) {
    pthread_mutex_lock(&e->lock);
    *s = e->stats;
    pthread_mutex_unlock(&e->lock);
}

/* ---- the step ---- */

static int text_append(request *r, size_t *len, const char *s, size_t n) {
    if (*len + n + 1 > r->text_cap) {
        size_t cap = r->text_cap * 2;
        while (cap < *len + n + 1) cap *= 2;
        char *t = realloc(r->text, cap);
        if (!t) return -1;
        r->text = t;
        r->text_cap = cap;
    }
    memcpy(r->text + *len, s, n);
    *len += n;
    r->text[*len] = 0;
    return 0;
}

static void emit(request *r, size_t text_len, const int32_t *tokens, int n_tokens,
                 vllmc_finish_reason finish) {
    if (!r->on_output) return;
    vllmc_output o = {
        .request_id = r->id,
        .text = r->text,
        .text_len = text_len,
        .tokens = tokens,
        .n_tokens = n_tokens,
        .logprobs = r->n_logprobs && n_tokens ? r->logprobs : NULL,
        .n_top_logprobs = r->n_logprobs,
        .finish = finish,
        .prompt_tokens = r->seq->n_prompt,
        .completion_tokens = r->n_generated,
        .cached_prompt_tokens = r->seq->n_cached_tokens,
    };
    r->text[text_len] = 0;
    r->on_output(&o, r->user);
}

static void live_remove(vllmc_engine *e, request *r) {
    for (request **p = &e->live; *p; p = &(*p)->next)
        if (*p == r) { *p = r->next; break; }
}

/* Takes r out of the engine; the final event has been emitted by the caller. */
static void finish_request(vllmc_engine *e, request *r) {
    vc_sched_remove(e->sched, r->seq);
    live_remove(e, r);
    pthread_mutex_lock(&e->lock);
    e->n_unfinished--;
    e->stats.requests_finished++;
    pthread_mutex_unlock(&e->lock);
    request_free(r);
}

static bool is_in(int32_t tok, const int32_t *ids, int n) {
    for (int i = 0; i < n; i++)
        if (ids[i] == tok) return true;
    return false;
}

/* Samples r's next token from logits and streams it. */
static void advance(vllmc_engine *e, request *r, float *logits) {
    vc_seq *s = r->seq;
    int32_t tok = vc_sampler_sample(e->sampler, &r->sample, logits, s->tokens, s->n_tokens,
                                    s->n_prompt, r->n_logprobs, r->lp_scratch);
    for (int i = 0; r->n_logprobs && i <= r->n_logprobs; i++)
        r->logprobs[i] = (vllmc_logprob){r->lp_scratch[i].token, r->lp_scratch[i].logprob};
    r->n_generated++;
    size_t len = 0;
    vllmc_finish_reason finish = VLLMC_FINISH_NONE;
    bool stop_hit = false;
    if ((!r->ignore_eos && is_in(tok, e->eog_ids, e->n_eog)) || is_in(tok, r->stop_ids, r->n_stop_ids)) {
        finish = VLLMC_FINISH_STOP;            /* the stop token's text is not shown */
    } else {
        vc_seq_append(s, tok);
        const char *delta, *shown;
        size_t delta_len, shown_len;
        vc_error ve;
        if (vc_detok_push(r->detok, tok, &delta, &delta_len, &ve) == 0) {
            int st = vc_stop_push(r->stop, delta, delta_len, &shown, &shown_len);
            if (st >= 0) text_append(r, &len, shown, shown_len);
            if (st == 1) { finish = VLLMC_FINISH_STOP; stop_hit = true; }
        }
        if (!finish && (r->n_generated >= r->max_tokens || s->n_tokens >= s->max_len))
            finish = VLLMC_FINISH_LENGTH;
    }
    if (finish && !stop_hit) {                 /* the held-back tail belongs to the answer */
        const char *tail;
        size_t tail_len;
        if (vc_detok_flush(r->detok, &tail, &tail_len) == 0 && tail_len) {
            const char *shown;
            size_t shown_len;
            int st = vc_stop_push(r->stop, tail, tail_len, &shown, &shown_len);
            if (st >= 0) text_append(r, &len, shown, shown_len);
            if (st == 1) stop_hit = true;
        }
        if (!stop_hit) {
            vc_stop_flush(r->stop, &tail, &tail_len);
            text_append(r, &len, tail, tail_len);
        }
    }
    emit(r, len, &tok, 1, finish);
    if (finish) finish_request(e, r);
}

static void drain_intake(vllmc_engine *e) {
    pthread_mutex_lock(&e->lock);
    request *in = e->intake_head;
    e->intake_head = e->intake_tail = NULL;
    int n_cancels = e->n_cancels;
    int64_t cancels[64];
    if (n_cancels > 64) n_cancels = 64;    /* the rest next step */
    if (n_cancels > 0) {
        memcpy(cancels, e->cancels, (size_t)n_cancels * sizeof *cancels);
        memmove(e->cancels, e->cancels + n_cancels,
                (size_t)(e->n_cancels - n_cancels) * sizeof *cancels);
        e->n_cancels -= n_cancels;
    }
    pthread_mutex_unlock(&e->lock);

    /* keep the live list in arrival order: append */
    request **tail = &e->live;
    while (*tail) tail = &(*tail)->next;
    for (request *r = in, *next; r; r = next) {
        next = r->next;
        r->next = NULL;
        *tail = r;
        tail = &r->next;
        vc_sched_add(e->sched, r->seq);
    }
    for (int i = 0; i < n_cancels; i++) {
        for (request *r = e->live; r; r = r->next) {
            if (r->id != cancels[i]) continue;
            emit(r, 0, NULL, 0, VLLMC_FINISH_ABORT);
            finish_request(e, r);
            break;
        }
    }
}

static void update_queue_stats(vllmc_engine *e) {
    pthread_mutex_lock(&e->lock);
    e->stats.running = vc_sched_n_running(e->sched);
    e->stats.waiting = vc_sched_n_waiting(e->sched);
    for (request *r = e->intake_head; r; r = r->next) e->stats.waiting++;
    e->stats.kv_blocks_free = vc_bm_n_free(e->bm);
    e->stats.preemptions = vc_sched_n_preemptions(e->sched);
    pthread_mutex_unlock(&e->lock);
}

int vllmc_step(vllmc_engine *e) {
    drain_intake(e);
    vc_sched_out plan;
    vc_sched_schedule(e->sched, &plan);
    if (plan.n_seqs == 0) {
        update_queue_stats(e);
        return 0;
    }
    double t0 = now_s();
    vc_batch batch;
    vc_error ve = {{0}};
    int rc = vc_runner_build(e->runner, &plan, &batch, e->sample_row, &ve);
    if (rc == 0) rc = vc_transformer_forward(e->tf, e->kv, &batch, e->logits, &ve);
    if (rc != 0) {
        /* an internal error: fail the step's requests rather than loop on it */
        fprintf(stderr, "vllmc: step failed: %s\n", ve.msg);
        for (int i = 0; i < plan.n_seqs; i++) {
            request *r = plan.seqs[i]->user;
            emit(r, 0, NULL, 0, VLLMC_FINISH_ERROR);
            finish_request(e, r);
        }
        update_queue_stats(e);
        return -1;
    }
    vc_sched_update(e->sched, &plan);
    int n_sampled = 0, n_cached = 0, n_prompt = 0;
    for (int i = 0; i < plan.n_seqs; i++) {
        if (e->sample_row[i] < 0) continue;
        request *r = plan.seqs[i]->user;
        if (r->n_generated == 0) {
            n_prompt += r->seq->n_prompt;
            n_cached += r->seq->n_cached_tokens;
        }
        advance(e, r, e->logits + (size_t)e->sample_row[i] * e->vocab);
        n_sampled++;
    }
    double dt = now_s() - t0;
    pthread_mutex_lock(&e->lock);
    e->stats.prompt_tokens += n_prompt;
    e->stats.cached_tokens += n_cached;
    e->stats.prefill_tokens += plan.n_prefill_tokens;
    e->stats.generated_tokens += n_sampled;
    /* a step with prefill work counts as prefill time, a pure decode step as decode time */
    if (plan.n_prefill_tokens > 0) e->stats.prefill_seconds += dt;
    else e->stats.decode_seconds += dt;
    pthread_mutex_unlock(&e->lock);
    update_queue_stats(e);
    return plan.n_seqs;
}

int vllmc_run(vllmc_engine *e) {
    while (vllmc_has_unfinished(e))
        if (vllmc_step(e) < 0) return -1;
    return 0;
}
