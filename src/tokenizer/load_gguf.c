/* Tokenizer from GGUF metadata (llama.cpp key names):
 *   tokenizer.ggml.model      "gpt2" (byte-level BPE) or "llama" (SentencePiece-style)
 *   tokenizer.ggml.pre        pre-tokenizer name (byte-level), see pretokenize.c
 *   tokenizer.ggml.tokens     [n] strings;  .token_type [n] ints (1 normal, 2 unknown,
 *                             3 control, 4 user-defined, 5 unused, 6 byte);  .scores [n] floats
 *   tokenizer.ggml.merges     ["left right", ...] (optional for "llama": derived from scores)
 *   tokenizer.ggml.{bos,eos,unknown,eot,eom}_token_id, .add_bos_token, .add_eos_token,
 *   .add_space_prefix, tokenizer.chat_template
 * Control and unknown tokens become special added tokens, user-defined ones
 * plain added tokens (both matched whole on the raw text). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/gguf.h"
#include "tokenizer/tok_internal.h"

static const vc_gguf_value *find_array(const vc_gguf *g, const char *key, vc_gguf_type elem, bool integer_ok,
                                       uint64_t n_expect, bool *bad, vc_error *err) {
    *bad = false;
    const vc_gguf_kv *kv = vc_gguf_find(g, key);
    if (!kv) return NULL;
    const vc_gguf_value *v = &kv->val;
    bool type_ok = v->type == VC_GGUF_ARRAY &&
                   (v->arr.elem_type == elem ||
                    (integer_ok && v->arr.elem_type != VC_GGUF_STRING && v->arr.elem_type != VC_GGUF_ARRAY &&
                     v->arr.elem_type != VC_GGUF_FLOAT32 && v->arr.elem_type != VC_GGUF_FLOAT64 &&
                     v->arr.elem_type != VC_GGUF_BOOL));
    if (!type_ok) {
        *bad = true;
        vc_errorf(err, "%s: %s: expected an array of %s", vc_gguf_path(g), key,
                  elem == VC_GGUF_STRING ? "strings" : elem == VC_GGUF_FLOAT32 ? "float32" : "integers");
        return NULL;
    }
    if (n_expect != UINT64_MAX && v->arr.n != n_expect) {
        *bad = true;
        vc_errorf(err, "%s: %s has %llu entries, but tokenizer.ggml.tokens has %llu", vc_gguf_path(g), key,
                  (unsigned long long)v->arr.n, (unsigned long long)n_expect);
        return NULL;
    }
    return v;
}

static int32_t opt_id(const vc_gguf *g, const char *key, int32_t n_vocab) {
    uint64_t v;
    if (!vc_gguf_find(g, key) || vc_gguf_get_u64(g, key, &v, NULL)) return -1;
    return v < (uint64_t)n_vocab ? (int32_t)v : -1;
}

static bool opt_bool(const vc_gguf *g, const char *key, bool dflt) {
    bool b;
    if (!vc_gguf_find(g, key) || vc_gguf_get_bool(g, key, &b, NULL)) return dflt;
    return b;
}

int vc_tokenizer_from_gguf(vc_tokenizer **out, const vc_gguf *g, vc_error *err) {
    *out = NULL;
    const char *path = vc_gguf_path(g);
    vc_str model;
    if (vc_gguf_get_str(g, "tokenizer.ggml.model", &model, err)) return -1;
    vc_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return vc_errorf(err, "%s: out of memory", path);
    const char **ptrs = NULL;
    uint64_t *lens = NULL;
    int rc = -1;
    bool bad;
    if (model.len == 4 && !memcmp(model.ptr, "gpt2", 4)) t->kind = VC_TOK_BYTE_BPE;
    else if (model.len == 5 && !memcmp(model.ptr, "llama", 5)) t->kind = VC_TOK_SPM;
    else {
        vc_errorf(err, "%s: tokenizer.ggml.model is '%.*s'; supported: 'gpt2' (byte-level BPE), 'llama' (SentencePiece BPE)",
                  path, (int)(model.len > 64 ? 64 : model.len), model.ptr);
        goto done;
    }
    const vc_gguf_value *tokens = find_array(g, "tokenizer.ggml.tokens", VC_GGUF_STRING, false, UINT64_MAX, &bad, err);
    if (!tokens) {
        if (!bad) vc_errorf(err, "%s: tokenizer.ggml.tokens: missing", path);
        goto done;
    }
    if (tokens->arr.n == 0 || tokens->arr.n > 10000000) {
        vc_errorf(err, "%s: tokenizer.ggml.tokens: %llu tokens, expected 1..1e7", path, (unsigned long long)tokens->arr.n);
        goto done;
    }
    uint64_t n = tokens->arr.n;
    const vc_gguf_value *types = find_array(g, "tokenizer.ggml.token_type", VC_GGUF_INT32, true, n, &bad, err);
    if (bad) goto done;
    const vc_gguf_value *scores = find_array(g, "tokenizer.ggml.scores", VC_GGUF_FLOAT32, false, n, &bad, err);
    if (bad) goto done;
    const vc_gguf_value *merges = find_array(g, "tokenizer.ggml.merges", VC_GGUF_STRING, false, UINT64_MAX, &bad, err);
    if (bad) goto done;

    if (vc_tok_alloc(t, (int32_t)n, err)) { vc_error_prefix(err, "%s", path); goto done; }
    ptrs = malloc(n * sizeof *ptrs);
    lens = malloc(n * sizeof *lens);
    if (!ptrs || !lens) { vc_errorf(err, "%s: out of memory", path); goto done; }
    for (uint64_t i = 0; i < n; i++) {
        ptrs[i] = tokens->arr.strs[i].ptr;
        lens[i] = tokens->arr.strs[i].len;
        int64_t ty = types ? vc_gguf_arr_int(types, i) : 1;
        if (ty == 2 || ty == 3) t->flags[i] |= VC_TOKF_SPECIAL;
        if (ty == 5) t->flags[i] |= VC_TOKF_UNUSED;
    }
    if (scores) {
        t->scores = malloc(n * sizeof *t->scores);
        if (!t->scores) { vc_errorf(err, "%s: out of memory", path); goto done; }
        for (uint64_t i = 0; i < n; i++) t->scores[i] = (float)vc_gguf_arr_float(scores, i);
    }
    if (vc_tok_set_texts(t, ptrs, lens, err)) { vc_error_prefix(err, "%s", path); goto done; }
    vc_tok_find_byte_tokens(t);
    t->unk_id = opt_id(g, "tokenizer.ggml.unknown_token_id", t->n_vocab);
    t->bos_id = opt_id(g, "tokenizer.ggml.bos_token_id", t->n_vocab);
    t->eos_id = opt_id(g, "tokenizer.ggml.eos_token_id", t->n_vocab);

    if (merges) {
        for (uint64_t i = 0; i < merges->arr.n; i++) {
            const vc_str *m = &merges->arr.strs[i];
            const char *sp = memchr(m->ptr, ' ', m->len);
            if (!sp || sp == m->ptr) {
                vc_errorf(err, "%s: tokenizer.ggml.merges[%llu]: expected \"left right\"", path, (unsigned long long)i);
                goto done;
            }
            size_t nl = (size_t)(sp - m->ptr);
            if (vc_tok_add_merge_text(t, m->ptr, nl, sp + 1, m->len - nl - 1, (int32_t)i, err)) goto done;
        }
    } else if (t->kind == VC_TOK_SPM) {
        if (vc_tok_merges_from_scores(t, err)) { vc_error_prefix(err, "%s", path); goto done; }
    } else {
        vc_errorf(err, "%s: tokenizer.ggml.merges: missing (required for a gpt2 tokenizer)", path);
        goto done;
    }

    if (t->kind == VC_TOK_BYTE_BPE) {
        vc_str pre = {"default", 7};
        if (vc_gguf_find(g, "tokenizer.ggml.pre") && vc_gguf_get_str(g, "tokenizer.ggml.pre", &pre, err)) goto done;
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)(pre.len > 63 ? 63 : pre.len), pre.ptr);
        if (vc_tok_set_pre_by_name(t, name, err)) { vc_error_prefix(err, "%s", path); goto done; }
        t->add_prefix_space = opt_bool(g, "tokenizer.ggml.add_space_prefix", false);
    } else {
        bool prefix = opt_bool(g, "tokenizer.ggml.add_space_prefix", true);
        t->spm_prepend = prefix;
        t->spm_replace_space = true;
        t->dec_byte_fallback = true;
        t->dec_strip_leading = prefix ? 1 : 0;
    }

    for (uint64_t i = 0; i < n; i++) {
        int64_t ty = types ? vc_gguf_arr_int(types, i) : 1;
        if ((ty == 2 || ty == 3 || ty == 4) &&
            vc_tok_add_added(t, (int32_t)i, ty != 4, false, false, false, false, err))
            goto done;
    }
    if (vc_tok_index_added(t, err)) goto done;

    if (opt_bool(g, "tokenizer.ggml.add_bos_token", t->kind == VC_TOK_SPM) && t->bos_id >= 0)
        t->prefix_ids[t->n_prefix++] = t->bos_id;
    if (opt_bool(g, "tokenizer.ggml.add_eos_token", false) && t->eos_id >= 0) t->suffix_ids[t->n_suffix++] = t->eos_id;

    if (vc_tok_add_eog(t, t->eos_id, err) || vc_tok_add_eog(t, opt_id(g, "tokenizer.ggml.eot_token_id", t->n_vocab), err) ||
        vc_tok_add_eog(t, opt_id(g, "tokenizer.ggml.eom_token_id", t->n_vocab), err) || vc_tok_add_known_eogs(t, err))
        goto done;

    vc_str tmpl;
    if (vc_gguf_find(g, "tokenizer.chat_template") && !vc_gguf_get_str(g, "tokenizer.chat_template", &tmpl, NULL)) {
        t->chat_template = malloc(tmpl.len + 1);
        if (!t->chat_template) { vc_errorf(err, "%s: out of memory", path); goto done; }
        memcpy(t->chat_template, tmpl.ptr, tmpl.len);
        t->chat_template[tmpl.len] = 0;
    }
    rc = 0;
done:
    free(ptrs);
    free(lens);
    if (rc) vc_tokenizer_free(t);
    else *out = t;
    return rc;
}
