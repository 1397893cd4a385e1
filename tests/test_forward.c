/* The forward pass against Hugging Face transformers' logits
 * (tests/fixtures/models/<arch>/, written by scripts/make_fixtures.py):
 * four tiny random-weight models (llama + llama3 rope scaling, mistral +
 * sliding window, qwen2 + q/k/v bias, qwen3 + q/k norm), loaded from
 * safetensors and from GGUF (F32, F16, Q8_0), three sequences of 5, 11 and 17
 * tokens run together in one batch over a paged KV cache, logits at every
 * position. Plus batch invariance, scattered KV blocks, incremental decode,
 * KV dtypes, malformed batches and malformed model files. */
#include "common/testutil.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/gguf.h"
#include "model/kv_cache.h"
#include "model/model.h"
#include "model/resident.h"
#include "model/safetensors.h"
#include "model/transformer.h"

#define FIX "tests/fixtures/models/"
enum { N_SEQS = 3, BLOCK = 4, POOL_BLOCKS = 40, MAX_BLOCKS = 8, MAX_LEN = 32 };

typedef struct ref {
    int vocab;
    int n_seqs;
    int len[N_SEQS];
    int32_t tok[N_SEQS][MAX_LEN];
    int total;          /* sum of len */
    float *logits;      /* [total][vocab], sequence after sequence */
} ref;

static void load_ref(ref *r, const char *arch) {
    char path[512];
    memset(r, 0, sizeof *r);
    snprintf(path, sizeof path, FIX "%s/ref.json", arch);
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    assert_non_null(root);
    r->vocab = (int)json_integer_value(json_object_get(root, "vocab_size"));
    json_t *seqs = json_object_get(root, "seqs");
    r->n_seqs = (int)json_array_size(seqs);
    assert_int_equal(r->n_seqs, N_SEQS);
    for (int s = 0; s < r->n_seqs; s++) {
        json_t *a = json_array_get(seqs, (size_t)s);
        r->len[s] = (int)json_array_size(a);
        assert_true(r->len[s] > 0 && r->len[s] <= MAX_LEN);
        for (int i = 0; i < r->len[s]; i++)
            r->tok[s][i] = (int32_t)json_integer_value(json_array_get(a, (size_t)i));
        r->total += r->len[s];
    }
    json_decref(root);
    snprintf(path, sizeof path, FIX "%s/logits.f32", arch);
    size_t n = 0;
    r->logits = (float *)tu_read_file(path, &n);
    assert_non_null(r->logits);
    assert_int_equal(n, (size_t)r->total * r->vocab * sizeof(float));
}

/* A flat batch builder: sequences get their KV blocks from block_of(seq, i). */
typedef struct bbuild {
    int n_tokens, n_seqs;
    int32_t tokens[N_SEQS * MAX_LEN], positions[N_SEQS * MAX_LEN], slots[N_SEQS * MAX_LEN];
    int32_t query_start[N_SEQS + 1], context_lens[N_SEQS];
    int32_t tables[N_SEQS * MAX_BLOCKS];
    int32_t logits_rows[N_SEQS * MAX_LEN];
} bbuild;

/* the i-th block of sequence s: contiguous (s*MAX_BLOCKS + i) or scattered
 * over the pool by a fixed permutation (7 is coprime with 40) */
static int32_t block_id(int s, int i, int scattered) {
    int c = s * MAX_BLOCKS + i;
    return scattered ? (int32_t)((c * 7 + 3) % POOL_BLOCKS) : (int32_t)c;
}

static void bb_init(bbuild *b) { memset(b, 0, sizeof *b); }

/* appends the tokens [from, to) of a sequence whose slot in the batch is s
 * (its table row), tokens already cached: from */
static void bb_add(bbuild *b, int table_row, const int32_t *toks, int from, int to, int scattered) {
    const int s = b->n_seqs++;
    (void)table_row;
    b->query_start[s] = b->n_tokens;
    b->context_lens[s] = to;
    for (int i = 0; i < MAX_BLOCKS; i++) b->tables[s * MAX_BLOCKS + i] = block_id(table_row, i, scattered);
    for (int p = from; p < to; p++) {
        const int t = b->n_tokens++;
        b->tokens[t] = toks[p];
        b->positions[t] = p;
        b->slots[t] = b->tables[s * MAX_BLOCKS + p / BLOCK] * BLOCK + p % BLOCK;
        b->logits_rows[t] = t;
    }
    b->query_start[s + 1] = b->n_tokens;
}

static vc_batch bb_batch(const bbuild *b) {
    vc_batch v = { .n_tokens = b->n_tokens, .tokens = b->tokens, .positions = b->positions,
                   .slot_mapping = b->slots, .n_seqs = b->n_seqs, .query_start = b->query_start,
                   .context_lens = b->context_lens, .block_tables = b->tables,
                   .max_blocks_per_seq = MAX_BLOCKS, .n_logits = b->n_tokens,
                   .logits_rows = b->logits_rows };
    return v;
}

typedef struct runner {
    vc_model *m;
    vc_transformer *t;
    vc_kv_cache *kv;
} runner;

/* resident: the weights copied into huge pages first (vc_model_make_resident) */
static void runner_open_as(runner *r, const char *path, vc_dtype kv_dtype, int resident) {
    vc_error err = { { 0 } };
    if (vc_model_open(&r->m, path, &err) != 0) fail_msg("open %s: %s", path, err.msg);
    if (resident && vc_model_make_resident(r->m, false, &err) != 0) fail_msg("resident %s: %s", path, err.msg);
    if (vc_transformer_create(&r->t, r->m, N_SEQS * MAX_LEN, 2, VC_NUMERICS_DEFAULT, &err) != 0) fail_msg("%s", err.msg);
    if (vc_kv_cache_create(&r->kv, &r->m->cfg, kv_dtype, BLOCK, POOL_BLOCKS, &err) != 0)
        fail_msg("%s", err.msg);
}

static void runner_open(runner *r, const char *path, vc_dtype kv_dtype) { runner_open_as(r, path, kv_dtype, 0); }

static void runner_close(runner *r) {
    vc_kv_cache_free(r->kv);
    vc_transformer_free(r->t);
    vc_model_free(r->m);
}

static void forward(runner *r, const bbuild *b, float *logits) {
    vc_error err = { { 0 } };
    vc_batch v = bb_batch(b);
    if (vc_transformer_forward(r->t, r->kv, &v, logits, &err) != 0) fail_msg("forward: %s", err.msg);
}

/* all 3 sequences in one batch, full prompts; out: [total][vocab] */
static void run_all(runner *r, const ref *rf, int scattered, float *out) {
    bbuild b;
    bb_init(&b);
    for (int s = 0; s < rf->n_seqs; s++) bb_add(&b, s, rf->tok[s], 0, rf->len[s], scattered);
    forward(r, &b, out);
}

static double max_rel_diff(const float *a, const float *ref, size_t n) {
    double md = 0, mr = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - ref[i]);
        if (d > md) md = d;
        if (fabs(ref[i]) > mr) mr = fabs(ref[i]);
    }
    return md / mr;
}

static int argmax(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

static double cosine(const float *a, const float *b, int n) {
    double ab = 0, aa = 0, bb = 0;
    for (int i = 0; i < n; i++) {
        ab += (double)a[i] * b[i];
        aa += (double)a[i] * a[i];
        bb += (double)b[i] * b[i];
    }
    return ab / sqrt(aa * bb);
}

/* logits of every position vs transformers: max|diff|/max|ref| <= tol */
static void check_close(const char *arch, const char *file, vc_dtype kv_dtype, double tol) {
    ref rf;
    load_ref(&rf, arch);
    char path[512];
    snprintf(path, sizeof path, FIX "%s%s%s", arch, file[0] ? "/" : "", file);
    runner r = { 0 };
    runner_open(&r, path, kv_dtype);
    assert_int_equal(r.m->cfg.vocab_size, rf.vocab);
    float *out = malloc((size_t)rf.total * rf.vocab * sizeof(float));
    run_all(&r, &rf, 0, out);
    double rel = max_rel_diff(out, rf.logits, (size_t)rf.total * rf.vocab);
    printf("  %-8s %-16s kv %-4s max|diff|/max|ref| = %.3g (tol %.0e)\n", arch,
           file[0] ? file : "(safetensors)", vc_dtype_name(kv_dtype), rel, tol);
    assert_true(rel <= tol);
    /* and the argmax agrees everywhere (the references have clear maxima) */
    for (int t = 0; t < rf.total; t++)
        assert_int_equal(argmax(out + (size_t)t * rf.vocab, rf.vocab),
                         argmax(rf.logits + (size_t)t * rf.vocab, rf.vocab));
    free(out);
    free(rf.logits);
    runner_close(&r);
}

/* Q8_0 weights: same argmax at every position, cosine >= 0.999 */
static void check_q8(const char *arch) {
    ref rf;
    load_ref(&rf, arch);
    char path[512];
    snprintf(path, sizeof path, FIX "%s/model-q8_0.gguf", arch);
    runner r = { 0 };
    runner_open(&r, path, VC_F32);
    float *out = malloc((size_t)rf.total * rf.vocab * sizeof(float));
    run_all(&r, &rf, 0, out);
    double min_cos = 1.0;
    for (int t = 0; t < rf.total; t++) {
        const float *a = out + (size_t)t * rf.vocab, *b = rf.logits + (size_t)t * rf.vocab;
        assert_int_equal(argmax(a, rf.vocab), argmax(b, rf.vocab));
        double c = cosine(a, b, rf.vocab);
        if (c < min_cos) min_cos = c;
    }
    printf("  %-8s model-q8_0.gguf  min cosine %.6f (>= 0.999)\n", arch, min_cos);
    assert_true(min_cos >= 0.999);
    free(out);
    free(rf.logits);
    runner_close(&r);
}

#define ARCH_TESTS(a)                                                                   \
    static void test_##a##_safetensors_f32(void **s) { (void)s; check_close(#a, "", VC_F32, 1e-4); } \
    static void test_##a##_gguf_f32(void **s) { (void)s; check_close(#a, "model-f32.gguf", VC_F32, 1e-4); } \
    static void test_##a##_gguf_f16(void **s) { (void)s; check_close(#a, "model-f16.gguf", VC_F32, 2e-2); } \
    static void test_##a##_gguf_q8_0(void **s) { (void)s; check_q8(#a); }
ARCH_TESTS(llama)
ARCH_TESTS(mistral)
ARCH_TESTS(qwen2)
ARCH_TESTS(qwen3)

static void test_llama_safetensors_bf16(void **s) {
    (void)s;
    /* BF16 weights of the llama model; reference: the float32 model */
    ref rf;
    load_ref(&rf, "llama");
    runner r = { 0 };
    runner_open(&r, FIX "llama-bf16", VC_F32);
    assert_int_equal(r.m->tok_embd.type, VC_BF16);
    float *out = malloc((size_t)rf.total * rf.vocab * sizeof(float));
    run_all(&r, &rf, 0, out);
    double rel = max_rel_diff(out, rf.logits, (size_t)rf.total * rf.vocab);
    printf("  llama    bf16 safetensors max|diff|/max|ref| = %.3g (tol 2e-2)\n", rel);
    assert_true(rel <= 2e-2);
    free(out);
    free(rf.logits);
    runner_close(&r);
}

/* linear rope scaling (factor 2) on the qwen2 weights, config.json and GGUF keys */
static void test_rope_linear_safetensors(void **s) { (void)s; check_close("qwen2-linear", "", VC_F32, 1e-4); }
static void test_rope_linear_gguf_f16(void **s) { (void)s; check_close("qwen2-linear", "model-f16.gguf", VC_F32, 2e-2); }

/* KV cache in F16 / BF16: the only rounding is K/V storage */
static void test_kv_f16(void **s) { (void)s; check_close("qwen3", "model-f32.gguf", VC_F16, 2e-2); }
static void test_kv_bf16(void **s) { (void)s; check_close("mistral", "model-f32.gguf", VC_BF16, 2e-2); }

static void expect_bad_msg(runner *r, bbuild *b, const char *needle);

/* A sequence alone, inside the batch, and with scattered blocks: bitwise equal. */
static void check_invariance(const char *arch, const char *file) {
    ref rf;
    load_ref(&rf, arch);
    char path[512];
    snprintf(path, sizeof path, FIX "%s/%s", arch, file);
    runner r = { 0 };
    runner_open(&r, path, VC_F32);
    const size_t V = (size_t)rf.vocab;
    float *all = malloc((size_t)rf.total * V * sizeof(float));
    float *scat = malloc((size_t)rf.total * V * sizeof(float));
    float *alone = malloc((size_t)MAX_LEN * V * sizeof(float));
    run_all(&r, &rf, 0, all);
    memset(r.kv->k, 0x7f, (size_t)r.kv->n_layers * POOL_BLOCKS * BLOCK * r.kv->slot_bytes);
    run_all(&r, &rf, 1, scat);
    assert_memory_equal(all, scat, (size_t)rf.total * V * sizeof(float));
    int off = 0;
    for (int s = 0; s < rf.n_seqs; s++) {
        bbuild b;
        bb_init(&b);
        bb_add(&b, 2 - s, rf.tok[s], 0, rf.len[s], s & 1); /* other blocks, too */
        forward(&r, &b, alone);
        assert_memory_equal(alone, all + (size_t)off * V, (size_t)rf.len[s] * V * sizeof(float));
        off += rf.len[s];
    }
    free(all);
    free(scat);
    free(alone);
    free(rf.logits);
    runner_close(&r);
}

static void test_batch_invariance_llama(void **s) { (void)s; check_invariance("llama", "model-q8_0.gguf"); }
static void test_batch_invariance_qwen2(void **s) { (void)s; check_invariance("qwen2", "model-f32.gguf"); }
static void test_batch_invariance_mistral(void **s) { (void)s; check_invariance("mistral", "model-f16.gguf"); }

/* chunked prefill then decode: the first 3 tokens of each sequence, then a
 * chunk of 5 more (new tokens on top of cached context), then one token per
 * step, all unfinished sequences together each step: matches the
 * full-prompt reference */
static void check_decode(const char *arch, const char *file) {
    ref rf;
    load_ref(&rf, arch);
    char path[512];
    snprintf(path, sizeof path, FIX "%s/%s", arch, file);
    runner r = { 0 };
    runner_open(&r, path, VC_F32);
    const size_t V = (size_t)rf.vocab;
    float *got = malloc((size_t)rf.total * V * sizeof(float));
    float *step = malloc((size_t)N_SEQS * MAX_LEN * V * sizeof(float));
    int off[N_SEQS], o = 0;
    for (int s = 0; s < rf.n_seqs; s++) { off[s] = o; o += rf.len[s]; }
    int done = 0;
    for (int k = 0; done < MAX_LEN; k++) {
        const int chunk = k == 0 ? 3 : k == 1 ? 5 : 1;
        bbuild b;
        bb_init(&b);
        int seq_of[N_SEQS], from_of[N_SEQS], n_of[N_SEQS];
        for (int s = 0; s < rf.n_seqs; s++) {
            if (done >= rf.len[s]) continue;
            const int to = done + chunk < rf.len[s] ? done + chunk : rf.len[s];
            seq_of[b.n_seqs] = s;
            from_of[b.n_seqs] = done;
            n_of[b.n_seqs] = to - done;
            bb_add(&b, s, rf.tok[s], done, to, 1);
        }
        if (b.n_seqs == 0) break;
        forward(&r, &b, step);
        for (int i = 0; i < b.n_seqs; i++)
            memcpy(got + (size_t)(off[seq_of[i]] + from_of[i]) * V,
                   step + (size_t)b.query_start[i] * V, (size_t)n_of[i] * V * sizeof(float));
        done += chunk;
    }
    double rel = max_rel_diff(got, rf.logits, (size_t)rf.total * V);
    printf("  %-8s %-16s chunked prefill + decode max|diff|/max|ref| = %.3g\n", arch, file, rel);
    assert_true(rel <= 1e-4);
    free(got);
    free(step);
    free(rf.logits);
    runner_close(&r);
}

/* sliding window: once a block is entirely outside every new token's window
 * the engine may release it (-1 in the table); decode still matches */
static void test_sliding_window_released_blocks(void **state) {
    (void)state;
    ref rf;
    load_ref(&rf, "mistral");
    runner r = { 0 };
    runner_open(&r, FIX "mistral/model-f32.gguf", VC_F32);
    assert_int_equal(r.m->cfg.sliding_window, 4);
    const size_t V = (size_t)rf.vocab;
    const int s = 2, prefill = 12, off = rf.len[0] + rf.len[1];
    float *step = malloc((size_t)prefill * V * sizeof(float));
    bbuild b;
    bb_init(&b);
    bb_add(&b, 0, rf.tok[s], 0, prefill, 1);
    forward(&r, &b, step);
    for (int p = prefill; p < rf.len[s]; p++) {
        bb_init(&b);
        bb_add(&b, 0, rf.tok[s], p, p + 1, 1);
        /* position p reads p-3..p: blocks below (p-3)/BLOCK are released */
        for (int i = 0; i < (p - 3) / BLOCK; i++) b.tables[i] = -1;
        forward(&r, &b, step);
        const double rel = max_rel_diff(step, rf.logits + (size_t)(off + p) * V, V);
        assert_true(rel <= 1e-4);
    }
    /* but a released block inside the window is an error */
    bb_init(&b);
    bb_add(&b, 0, rf.tok[s], 12, 13, 1);
    b.tables[2] = -1;
    expect_bad_msg(&r, &b, "block_tables[2]");
    free(step);
    free(rf.logits);
    runner_close(&r);
}

static void test_decode_llama(void **s) { (void)s; check_decode("llama", "model-f32.gguf"); }
static void test_decode_mistral(void **s) { (void)s; check_decode("mistral", "model-f32.gguf"); }
static void test_decode_qwen3(void **s) { (void)s; check_decode("qwen3", "model-f32.gguf"); }

/* malformed batches are errors with a message, never a crash */
static void expect_bad_msg(runner *r, bbuild *b, const char *needle) {
    vc_error err = { { 0 } };
    vc_batch v = bb_batch(b);
    static float out[N_SEQS * MAX_LEN * 512];
    assert_int_equal(vc_transformer_forward(r->t, r->kv, &v, out, &err), -1);
    if (!strstr(err.msg, needle)) fail_msg("error '%s' lacks '%s'", err.msg, needle);
}

static void test_bad_batches(void **s) {
    (void)s;
    ref rf;
    load_ref(&rf, "llama");
    runner r = { 0 };
    runner_open(&r, FIX "llama/model-q8_0.gguf", VC_F32);
    bbuild b;
#define FRESH() do { bb_init(&b); bb_add(&b, 0, rf.tok[2], 0, 10, 0); bb_add(&b, 1, rf.tok[1], 0, 5, 0); } while (0)
    FRESH(); b.slots[3] = POOL_BLOCKS * BLOCK;            expect_bad_msg(&r, &b, "slot_mapping");
    FRESH(); b.slots[3] = b.slots[4];                      expect_bad_msg(&r, &b, "slot_mapping");
    FRESH(); b.tables[1] = POOL_BLOCKS;                    expect_bad_msg(&r, &b, "block_tables[1]");
    FRESH(); b.tables[MAX_BLOCKS] = -1;                    expect_bad_msg(&r, &b, "block_tables[0]");
    FRESH(); b.positions[12] = 7;                          expect_bad_msg(&r, &b, "position");
    FRESH(); b.context_lens[1] = 4;                        expect_bad_msg(&r, &b, "context_len");
    FRESH(); b.context_lens[0] = MAX_BLOCKS * BLOCK + 1;   expect_bad_msg(&r, &b, "context_len");
    FRESH(); b.tokens[0] = rf.vocab;                       expect_bad_msg(&r, &b, "vocabulary");
    FRESH(); b.query_start[2] = 14;                        expect_bad_msg(&r, &b, "query_start");
    FRESH(); b.query_start[1] = 40;                        expect_bad_msg(&r, &b, "query_start");
    FRESH(); b.query_start[1] = -3;                        expect_bad_msg(&r, &b, "query_start");
    FRESH(); b.logits_rows[0] = 15;                        expect_bad_msg(&r, &b, "logits_rows");
    FRESH(); b.n_tokens = N_SEQS * MAX_LEN + 1;            expect_bad_msg(&r, &b, "max_batch_tokens");
#undef FRESH
    free(rf.logits);
    runner_close(&r);
}

/* random corruptions of a valid batch: each forward either succeeds or
 * returns an error; never a crash (run under SANITIZE=1 too) */
static void test_random_bad_batches(void **s) {
    (void)s;
    ref rf;
    load_ref(&rf, "qwen3");
    runner r = { 0 };
    runner_open(&r, FIX "qwen3/model-q8_0.gguf", VC_F32);
    static float out[N_SEQS * MAX_LEN * 512];
    unsigned seed = 12345;
    int n_err = 0, n_ok = 0;
    for (int it = 0; it < 400; it++) {
        bbuild b;
        bb_init(&b);
        bb_add(&b, 0, rf.tok[2], 0, 9, it & 1);
        bb_add(&b, 1, rf.tok[1], 0, 6, 0);
        int32_t *fields[] = { b.tokens, b.positions, b.slots, b.query_start, b.context_lens, b.tables,
                              b.logits_rows };
        const int sizes[] = { 15, 15, 15, 3, 2, 2 * MAX_BLOCKS, 15 };
        for (int k = 0; k < 1 + it % 3; k++) {
            seed = seed * 1103515245u + 12345u;
            const int f = (int)((seed >> 16) % 7);
            seed = seed * 1103515245u + 12345u;
            const int i = (int)((seed >> 16) % (unsigned)sizes[f]);
            seed = seed * 1103515245u + 12345u;
            const int32_t vals[] = { -1, 0, 1, 5, 15, 16, 31, 32, 159, 160, 511, 512, INT32_MAX, INT32_MIN,
                                     (int32_t)(seed >> 8) };
            fields[f][i] = vals[(seed >> 4) % 15];
        }
        /* exact-size heap copies, so that ASan sees any read past an array */
        int32_t *heap[7];
        for (int f = 0; f < 7; f++) {
            heap[f] = malloc((size_t)sizes[f] * sizeof(int32_t));
            memcpy(heap[f], fields[f], (size_t)sizes[f] * sizeof(int32_t));
        }
        vc_batch v = bb_batch(&b);
        v.tokens = heap[0]; v.positions = heap[1]; v.slot_mapping = heap[2]; v.query_start = heap[3];
        v.context_lens = heap[4]; v.block_tables = heap[5]; v.logits_rows = heap[6];
        vc_error err = { { 0 } };
        if (vc_transformer_forward(r.t, r.kv, &v, out, &err) == 0) n_ok++;
        else { n_err++; assert_true(err.msg[0] != 0); }
        for (int f = 0; f < 7; f++) free(heap[f]);
    }
    printf("  400 corrupted batches: %d rejected, %d harmless\n", n_err, n_ok);
    assert_true(n_err > 200);
    free(rf.logits);
    runner_close(&r);
}

static void test_bad_model_files(void **s) {
    (void)s;
    vc_model *m = NULL;
    vc_error err = { { 0 } };
    /* the micro model the bad files derive from loads */
    if (vc_model_open(&m, FIX "bad/good.gguf", &err) != 0) fail_msg("%s", err.msg);
    vc_model_free(m);
    m = NULL;
    assert_int_equal(vc_model_open(&m, FIX "bad/wrong-shape.gguf", &err), -1);
    assert_null(m);
    printf("  wrong shape: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "blk.1.attn_k.weight"));
    assert_non_null(strstr(err.msg, "expected shape [32, 16]"));
    assert_non_null(strstr(err.msg, "found [32, 24]"));
    assert_int_equal(vc_model_open(&m, FIX "bad/missing-tensor.gguf", &err), -1);
    printf("  missing: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "blk.0.ffn_up.weight"));
    assert_non_null(strstr(err.msg, "missing"));
    assert_int_equal(vc_model_open(&m, FIX "bad/unsupported-bias.gguf", &err), -1);
    printf("  unsupported: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "blk.0.attn_output.bias"));
    assert_non_null(strstr(err.msg, "not supported"));
    assert_int_equal(vc_model_open(&m, FIX "no-such-model.gguf", &err), -1);
    assert_non_null(strstr(err.msg, "no-such-model"));
}

/* what the loader found: flags from tensors, tied heads, views not copies */
static void test_loader_flags(void **s) {
    (void)s;
    vc_model *m = NULL;
    vc_error err = { { 0 } };
    assert_int_equal(vc_model_open(&m, FIX "qwen2/model-f16.gguf", &err), 0);
    assert_true(m->cfg.attn_qkv_bias && !m->cfg.qk_norm && m->cfg.tied_embeddings);
    assert_ptr_equal(m->output.data, m->tok_embd.data);
    assert_ptr_equal(m->layers[1].bk.data, vc_gguf_tensor(m->gguf, "blk.1.attn_k.bias")->data);
    assert_int_equal(m->layers[0].wq.type, VC_F16);
    assert_int_equal(m->layers[0].attn_norm.type, VC_F32);
    vc_model_free(m);
    assert_int_equal(vc_model_open(&m, FIX "qwen3", &err), 0);
    assert_true(!m->cfg.attn_qkv_bias && m->cfg.qk_norm && m->cfg.tied_embeddings);
    assert_int_equal(m->cfg.head_dim, 32);
    assert_true(m->cfg.rope_neox);
    assert_ptr_equal(m->layers[0].q_norm.data,
                     vc_safetensors_tensor(m->st, "model.layers.0.self_attn.q_norm.weight")->data);
    vc_model_free(m);
    assert_int_equal(vc_model_open(&m, FIX "llama/model-f32.gguf", &err), 0);
    assert_true(!m->cfg.tied_embeddings && !m->cfg.rope_neox);
    assert_non_null(m->rope_freqs.data);
    assert_ptr_not_equal(m->output.data, m->tok_embd.data);
    vc_model_free(m);
    assert_int_equal(vc_model_open(&m, FIX "mistral/model-f32.gguf", &err), 0);
    assert_int_equal(m->cfg.sliding_window, 4);
    vc_model_free(m);
}

/* every weight view of a model (the order of vc_layer_weights) */
static int all_views(const vc_model *m, const vc_tensor **v) {
    int n = 0;
    v[n++] = &m->tok_embd, v[n++] = &m->out_norm, v[n++] = &m->output, v[n++] = &m->rope_freqs;
    for (int l = 0; l < m->cfg.n_layers; l++) {
        const vc_layer_weights *w = &m->layers[l];
        const vc_tensor *lt[] = {&w->attn_norm, &w->wq, &w->wk, &w->wv, &w->wo, &w->bq, &w->bk,
                                 &w->bv, &w->q_norm, &w->k_norm, &w->ffn_norm, &w->w_gate,
                                 &w->w_up, &w->w_down};
        for (size_t i = 0; i < sizeof lt / sizeof *lt; i++) v[n++] = lt[i];
    }
    return n;
}

/* resident weights: every view moved into the copy (64-byte aligned, the
 * same bytes, tied views still one tensor), and logits bitwise those of the
 * file-mapped weights */
static void check_resident(const char *arch, const char *file) {
    ref rf;
    load_ref(&rf, arch);
    char path[512];
    snprintf(path, sizeof path, FIX "%s%s%s", arch, file[0] ? "/" : "", file);
    runner a = { 0 }, b = { 0 };
    runner_open_as(&a, path, VC_F32, 0);
    runner_open_as(&b, path, VC_F32, 1);
    assert_non_null(b.m->resident);
    const vc_tensor *va[4 + 14 * 64], *vb[4 + 14 * 64];
    assert_true(a.m->cfg.n_layers <= 64);
    const int n = all_views(a.m, va);
    assert_int_equal(all_views(b.m, vb), n);
    const uint8_t *lo = (const uint8_t *)b.m->resident, *hi = lo + b.m->resident_bytes;
    for (int i = 0; i < n; i++) {
        assert_true((va[i]->data == NULL) == (vb[i]->data == NULL));
        if (!va[i]->data) continue;
        const uint8_t *p = vb[i]->data;
        assert_true(p >= lo && p + vb[i]->nbytes <= hi);
        assert_int_equal((uintptr_t)p % 64, 0);
        assert_int_equal(vb[i]->nbytes, va[i]->nbytes);
        assert_int_equal(memcmp(p, va[i]->data, va[i]->nbytes), 0);
    }
    assert_true((a.m->output.data == a.m->tok_embd.data) == (b.m->output.data == b.m->tok_embd.data));
    const size_t nl = (size_t)rf.total * rf.vocab;
    float *oa = malloc(nl * sizeof(float)), *ob = malloc(nl * sizeof(float));
    run_all(&a, &rf, 0, oa);
    run_all(&b, &rf, 0, ob);
    assert_int_equal(memcmp(oa, ob, nl * sizeof(float)), 0);
    printf("  %-8s %-16s resident: %d views checked, logits bitwise the mapped file's\n", arch,
           file[0] ? file : "(safetensors)", n);
    free(oa), free(ob), free(rf.logits);
    runner_close(&a);
    runner_close(&b);
}

static void test_resident_weights(void **s) {
    (void)s;
    check_resident("qwen2", "model-f16.gguf");    /* tied head, biases */
    check_resident("llama", "model-q8_0.gguf");   /* untied, rope_freqs */
    check_resident("qwen3", "");                  /* safetensors, q/k norms */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_llama_safetensors_f32),   cmocka_unit_test(test_llama_gguf_f32),
        cmocka_unit_test(test_llama_gguf_f16),          cmocka_unit_test(test_llama_gguf_q8_0),
        cmocka_unit_test(test_llama_safetensors_bf16),
        cmocka_unit_test(test_mistral_safetensors_f32), cmocka_unit_test(test_mistral_gguf_f32),
        cmocka_unit_test(test_mistral_gguf_f16),        cmocka_unit_test(test_mistral_gguf_q8_0),
        cmocka_unit_test(test_qwen2_safetensors_f32),   cmocka_unit_test(test_qwen2_gguf_f32),
        cmocka_unit_test(test_qwen2_gguf_f16),          cmocka_unit_test(test_qwen2_gguf_q8_0),
        cmocka_unit_test(test_qwen3_safetensors_f32),   cmocka_unit_test(test_qwen3_gguf_f32),
        cmocka_unit_test(test_qwen3_gguf_f16),          cmocka_unit_test(test_qwen3_gguf_q8_0),
        cmocka_unit_test(test_rope_linear_safetensors), cmocka_unit_test(test_rope_linear_gguf_f16),
        cmocka_unit_test(test_kv_f16),                  cmocka_unit_test(test_kv_bf16),
        cmocka_unit_test(test_batch_invariance_llama),  cmocka_unit_test(test_batch_invariance_qwen2),
        cmocka_unit_test(test_batch_invariance_mistral),
        cmocka_unit_test(test_decode_llama),            cmocka_unit_test(test_decode_mistral),
        cmocka_unit_test(test_decode_qwen3),            cmocka_unit_test(test_sliding_window_released_blocks),
        cmocka_unit_test(test_bad_batches),             cmocka_unit_test(test_random_bad_batches),             cmocka_unit_test(test_bad_model_files),
        cmocka_unit_test(test_loader_flags),            cmocka_unit_test(test_resident_weights),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
