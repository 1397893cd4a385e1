/* Tokenizer from a Hugging Face folder: tokenizer.json (model BPE with
 * vocab + merges, added_tokens, normalizer, pre_tokenizer, decoder,
 * post_processor) and optionally tokenizer_config.json (bos/eos tokens,
 * add_bos_token/add_eos_token, chat_template) and generation_config.json
 * (eos_token_id, for end-of-generation ids). Unsupported components are an
 * error naming the field, never silently ignored. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"

typedef struct json_src {
    const char *path;
    vc_error *err;
} json_src;

static const char *jstr(const json_t *j, const char *key) {
    const json_t *v = json_object_get(j, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static bool jbool(const json_t *j, const char *key, bool dflt) {
    const json_t *v = json_object_get(j, key);
    return json_is_boolean(v) ? json_is_true(v) : dflt;
}

static const char *type_of(const json_t *j) {
    const char *s = jstr(j, "type");
    return s ? s : "(no type)";
}

/* a token given as "text" or {"content": "text", ...} */
static const char *token_content(const json_t *v) {
    if (json_is_string(v)) return json_string_value(v);
    if (json_is_object(v)) return jstr(v, "content");
    return NULL;
}

static int find_token_text(const vc_tokenizer *t, const char *s) {
    size_t n = strlen(s);
    for (int i = 0; i < t->n_added; i++)
        if (t->added[i].len == n && !memcmp(t->added[i].content, s, n)) return t->added[i].id;
    for (int32_t id = 0; id < t->n_vocab; id++)
        if (t->text_len[id] == n && !memcmp(vc_tok_text(t, id), s, n)) return id;
    return -1;
}

static bool has_type(const json_t *j, const char *type, const char *seq_key) {
    if (!json_is_object(j)) return false;
    if (!strcmp(type_of(j), type)) return true;
    const json_t *items = json_object_get(j, seq_key);
    size_t i;
    const json_t *it;
    json_array_foreach(items, i, it) if (has_type(it, type, seq_key)) return true;
    return false;
}

static int load_normalizer(vc_tokenizer *t, const json_t *j, json_src *src) {
    if (!j || json_is_null(j)) return 0;
    const char *type = type_of(j);
    if (!strcmp(type, "Sequence")) {
        size_t i;
        const json_t *it;
        json_array_foreach(json_object_get(j, "normalizers"), i, it) if (load_normalizer(t, it, src)) return -1;
        return 0;
    }
    if (!strcmp(type, "NFC")) { t->unorm = VC_UNORM_NFC; return 0; }
    if (!strcmp(type, "NFKC")) { t->unorm = VC_UNORM_NFKC; return 0; }
    if (!strcmp(type, "NFD")) { t->unorm = VC_UNORM_NFD; return 0; }
    if (!strcmp(type, "NFKD")) { t->unorm = VC_UNORM_NFKD; return 0; }
    if (!strcmp(type, "Prepend")) {
        const char *p = jstr(j, "prepend");
        if (p && !strcmp(p, "\xE2\x96\x81")) { t->spm_prepend = true; return 0; }
    }
    if (!strcmp(type, "Replace")) {
        const json_t *pat = json_object_get(j, "pattern");
        const char *from = jstr(pat, "String"), *to = jstr(j, "content");
        if (from && to && !strcmp(from, " ") && !strcmp(to, "\xE2\x96\x81")) { t->spm_replace_space = true; return 0; }
    }
    return vc_errorf(src->err, "%s: normalizer: unsupported %s (supported: NFC, NFKC, NFD, NFKD, Prepend U+2581, Replace ' ' -> U+2581)",
                     src->path, type);
}

static int load_pre(vc_tokenizer *t, const json_t *j, json_src *src) {
    if (!j || json_is_null(j)) return 0;
    const char *type = type_of(j);
    if (!strcmp(type, "Sequence")) {
        size_t i;
        const json_t *it;
        json_array_foreach(json_object_get(j, "pretokenizers"), i, it) if (load_pre(t, it, src)) return -1;
        return 0;
    }
    if (!strcmp(type, "ByteLevel")) {
        t->add_prefix_space = jbool(j, "add_prefix_space", false);
        if (jbool(j, "use_regex", true)) {
            static const char gpt2[] = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
            if (vc_tok_add_regex(t, gpt2, strlen(gpt2), src->err)) return vc_error_prefix(src->err, "%s: pre_tokenizer ByteLevel", src->path);
        }
        return 0;
    }
    if (!strcmp(type, "Metaspace")) {
        const char *rep = jstr(j, "replacement"), *scheme = jstr(j, "prepend_scheme");
        if (!rep || strcmp(rep, "\xE2\x96\x81"))
            return vc_errorf(src->err, "%s: pre_tokenizer Metaspace: only replacement U+2581 is supported", src->path);
        t->meta = true;
        t->meta_split = jbool(j, "split", true);
        if (!scheme) t->meta_prepend = jbool(j, "add_prefix_space", true) ? 1 : 0;   /* older files */
        else if (!strcmp(scheme, "always")) t->meta_prepend = 1;
        else if (!strcmp(scheme, "first")) t->meta_prepend = 2;
        else if (!strcmp(scheme, "never")) t->meta_prepend = 0;
        else return vc_errorf(src->err, "%s: pre_tokenizer Metaspace: unknown prepend_scheme '%s'", src->path, scheme);
        return 0;
    }
    if (!strcmp(type, "Digits")) {
        const char *re = jbool(j, "individual_digits", false) ? "\\p{N}" : "\\p{N}+";
        if (vc_tok_add_regex(t, re, strlen(re), src->err)) return vc_error_prefix(src->err, "%s: pre_tokenizer Digits", src->path);
        return 0;
    }
    if (!strcmp(type, "Split")) {
        const char *behavior = jstr(j, "behavior");
        const json_t *pat = json_object_get(j, "pattern");
        const json_t *re = json_object_get(pat, "Regex");
        if (!behavior || strcmp(behavior, "Isolated") || jbool(j, "invert", false) || !json_is_string(re))
            return vc_errorf(src->err, "%s: pre_tokenizer Split: only {\"Regex\": ...} with behavior Isolated, "
                             "invert false is supported", src->path);
        if (vc_tok_add_regex(t, json_string_value(re), json_string_length(re), src->err))
            return vc_error_prefix(src->err, "%s: pre_tokenizer Split", src->path);
        return 0;
    }
    return vc_errorf(src->err, "%s: pre_tokenizer: unsupported type %s (supported: Sequence, Split, ByteLevel, Digits, Metaspace)",
                     src->path, type);
}

static int load_decoder(vc_tokenizer *t, const json_t *j, json_src *src) {
    if (!j || json_is_null(j)) return 0;
    const char *type = type_of(j);
    if (!strcmp(type, "Sequence")) {
        size_t i;
        const json_t *it;
        json_array_foreach(json_object_get(j, "decoders"), i, it) if (load_decoder(t, it, src)) return -1;
        return 0;
    }
    if (!strcmp(type, "ByteLevel") || !strcmp(type, "Fuse")) return 0;
    if (!strcmp(type, "ByteFallback")) { t->dec_byte_fallback = true; return 0; }
    if (!strcmp(type, "Replace") && t->kind == VC_TOK_SPM) {
        const char *from = jstr(json_object_get(j, "pattern"), "String"), *to = jstr(j, "content");
        if (from && to && !strcmp(from, "\xE2\x96\x81") && !strcmp(to, " ")) return 0;   /* built into SPM decoding */
    }
    if (!strcmp(type, "Strip")) {
        const char *c = jstr(j, "content");
        const json_t *stop = json_object_get(j, "stop"), *start = json_object_get(j, "start");
        if (c && !strcmp(c, " ") && json_integer_value(stop) == 0 && json_is_integer(start)) {
            t->dec_strip_leading = (int)json_integer_value(start);
            return 0;
        }
    }
    return vc_errorf(src->err, "%s: decoder: unsupported %s", src->path, type);
}

/* TemplateProcessing "single": special tokens before/after the sequence */
static int load_post(vc_tokenizer *t, const json_t *j, json_src *src) {
    if (!j || json_is_null(j)) return 0;
    const char *type = type_of(j);
    if (!strcmp(type, "Sequence")) {
        size_t i;
        const json_t *it;
        json_array_foreach(json_object_get(j, "processors"), i, it) if (load_post(t, it, src)) return -1;
        return 0;
    }
    if (strcmp(type, "TemplateProcessing")) return 0;   /* ByteLevel etc.: no ids added */
    const json_t *single = json_object_get(j, "single"), *specials = json_object_get(j, "special_tokens");
    bool seen_seq = false;
    size_t i;
    const json_t *it;
    json_array_foreach(single, i, it) {
        if (json_object_get(it, "Sequence")) { seen_seq = true; continue; }
        const char *name = jstr(json_object_get(it, "SpecialToken"), "id");
        const json_t *ids = json_object_get(json_object_get(specials, name ? name : ""), "ids");
        size_t k;
        const json_t *idv;
        json_array_foreach(ids, k, idv) {
            int32_t id = (int32_t)json_integer_value(idv);
            if (id < 0 || id >= t->n_vocab)
                return vc_errorf(src->err, "%s: post_processor: special token id %d out of range", src->path, id);
            if (!seen_seq && t->n_prefix < 4) t->prefix_ids[t->n_prefix++] = id;
            else if (seen_seq && t->n_suffix < 4) t->suffix_ids[t->n_suffix++] = id;
        }
    }
    return 0;
}

static int load_tokenizer_json(vc_tokenizer *t, const char *path, vc_error *err) {
    json_src src = {path, err};
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (!root) return vc_errorf(err, "%s: line %d column %d: %s", path, jerr.line, jerr.column, jerr.text);
    int rc = -1;
    const char **ptrs = NULL;
    uint64_t *lens = NULL;
    const json_t *model = json_object_get(root, "model");
    const json_t *vocab = json_object_get(model, "vocab"), *merges = json_object_get(model, "merges");
    const json_t *added = json_object_get(root, "added_tokens");
    if (!json_is_object(model)) { vc_errorf(err, "%s: field 'model' missing or not an object", path); goto done; }
    const char *mtype = jstr(model, "type");
    if (!mtype || strcmp(mtype, "BPE")) { vc_errorf(err, "%s: model.type is '%s', expected 'BPE'", path, mtype ? mtype : "(missing)"); goto done; }
    if (!json_is_object(vocab)) { vc_errorf(err, "%s: field 'model.vocab' missing or not an object", path); goto done; }
    if (!json_is_array(merges)) { vc_errorf(err, "%s: field 'model.merges' missing or not an array", path); goto done; }
    if (added && !json_is_array(added)) { vc_errorf(err, "%s: field 'added_tokens' is not an array", path); goto done; }
    const char *cprefix = jstr(model, "continuing_subword_prefix"), *wsuffix = jstr(model, "end_of_word_suffix");
    if ((cprefix && *cprefix) || (wsuffix && *wsuffix)) {
        vc_errorf(err, "%s: model: continuing_subword_prefix / end_of_word_suffix are not supported", path);
        goto done;
    }

    /* ids: vocab values and added token ids; n_vocab = max + 1 */
    int64_t max_id = -1;
    const char *key;
    size_t klen, i;
    json_t *val;
    json_object_keylen_foreach((json_t *)vocab, key, klen, val) {
        if (!json_is_integer(val) || json_integer_value(val) < 0 || json_integer_value(val) > 10000000) {
            vc_errorf(err, "%s: model.vocab['%.64s']: expected an id in [0, 1e7]", path, key);
            goto done;
        }
        if (json_integer_value(val) > max_id) max_id = json_integer_value(val);
    }
    json_array_foreach(added, i, val) {
        const json_t *id = json_object_get(val, "id");
        if (!json_is_integer(id) || json_integer_value(id) < 0 || json_integer_value(id) > 10000000 || !jstr(val, "content")) {
            vc_errorf(err, "%s: added_tokens[%zu]: expected an object with integer 'id' and string 'content'", path, i);
            goto done;
        }
        if (json_integer_value(id) > max_id) max_id = json_integer_value(id);
    }
    if (vc_tok_alloc(t, (int32_t)(max_id + 1), err)) { vc_error_prefix(err, "%s", path); goto done; }
    ptrs = calloc((size_t)t->n_vocab, sizeof *ptrs);
    lens = calloc((size_t)t->n_vocab, sizeof *lens);
    if (!ptrs || !lens) { vc_errorf(err, "%s: out of memory", path); goto done; }
    for (int32_t id = 0; id < t->n_vocab; id++) { ptrs[id] = ""; t->flags[id] |= VC_TOKF_UNUSED; }
    json_object_keylen_foreach((json_t *)vocab, key, klen, val) {
        int32_t id = (int32_t)json_integer_value(val);
        ptrs[id] = key;
        lens[id] = klen;
        t->flags[id] &= (uint8_t)~VC_TOKF_UNUSED;
    }
    json_array_foreach(added, i, val) {
        int32_t id = (int32_t)json_integer_value(json_object_get(val, "id"));
        const json_t *c = json_object_get(val, "content");
        ptrs[id] = json_string_value(c);
        lens[id] = json_string_length(c);
        t->flags[id] &= (uint8_t)~VC_TOKF_UNUSED;
        if (jbool(val, "special", false)) t->flags[id] |= VC_TOKF_SPECIAL;
    }

    const json_t *pre = json_object_get(root, "pre_tokenizer"), *dec = json_object_get(root, "decoder");
    t->kind = (has_type(pre, "ByteLevel", "pretokenizers") || has_type(dec, "ByteLevel", "decoders")) ? VC_TOK_BYTE_BPE : VC_TOK_SPM;
    if (vc_tok_set_texts(t, ptrs, lens, err)) { vc_error_prefix(err, "%s", path); goto done; }
    vc_tok_find_byte_tokens(t);
    t->ignore_merges = jbool(model, "ignore_merges", false);
    const char *unk = jstr(model, "unk_token");
    if (unk) t->unk_id = vc_tok_lookup(t, unk, strlen(unk));
    if (!jbool(model, "byte_fallback", false) && t->kind == VC_TOK_SPM)
        for (int b = 0; b < 256; b++) t->byte_id[b] = -1;

    /* merges: "a b" strings or ["a", "b"] pairs; rank = position */
    const json_t *m;
    json_array_foreach(merges, i, m) {
        const char *a, *b;
        size_t na, nb;
        if (json_is_string(m)) {
            a = json_string_value(m);
            const char *sp = strchr(a, ' ');
            if (!sp) { vc_errorf(err, "%s: model.merges[%zu]: expected \"left right\"", path, i); goto done; }
            na = (size_t)(sp - a);
            b = sp + 1;
            nb = json_string_length(m) - na - 1;
        } else if (json_is_array(m) && json_array_size(m) == 2 && json_is_string(json_array_get(m, 0)) &&
                   json_is_string(json_array_get(m, 1))) {
            a = json_string_value(json_array_get(m, 0));
            na = json_string_length(json_array_get(m, 0));
            b = json_string_value(json_array_get(m, 1));
            nb = json_string_length(json_array_get(m, 1));
        } else {
            vc_errorf(err, "%s: model.merges[%zu]: expected a string or a pair of strings", path, i);
            goto done;
        }
        if (vc_tok_add_merge_text(t, a, na, b, nb, (int32_t)i, err)) goto done;
    }

    json_array_foreach(added, i, val) {
        int32_t id = (int32_t)json_integer_value(json_object_get(val, "id"));
        if (vc_tok_add_added(t, id, jbool(val, "special", false), jbool(val, "lstrip", false), jbool(val, "rstrip", false),
                             jbool(val, "normalized", !jbool(val, "special", false)), jbool(val, "single_word", false), err))
            goto done;
    }
    if (load_normalizer(t, json_object_get(root, "normalizer"), &src)) goto done;
    if (load_pre(t, pre, &src)) goto done;
    if (load_decoder(t, dec, &src)) goto done;
    if (vc_tok_index_added(t, err)) goto done;
    if (load_post(t, json_object_get(root, "post_processor"), &src)) goto done;
    rc = 0;
done:
    free(ptrs);
    free(lens);
    json_decref(root);
    return rc;
}

static char *join_path(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static int load_config(vc_tokenizer *t, const char *path, vc_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;   /* optional */
    fclose(f);
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_DECODE_INT_AS_REAL, &jerr);   /* model_max_length can be 1e30 */
    if (!root) return vc_errorf(err, "%s: line %d column %d: %s", path, jerr.line, jerr.column, jerr.text);
    if (!json_is_object(root)) { json_decref(root); return vc_errorf(err, "%s: expected a JSON object", path); }
    const char *bos = token_content(json_object_get(root, "bos_token"));
    const char *eos = token_content(json_object_get(root, "eos_token"));
    if (bos) t->bos_id = find_token_text(t, bos);
    if (eos) t->eos_id = find_token_text(t, eos);
    const json_t *ab = json_object_get(root, "add_bos_token"), *ae = json_object_get(root, "add_eos_token");
    /* transformers rebuilds the post-processor from these flags when present */
    if (json_is_boolean(ab)) {
        t->n_prefix = 0;
        if (json_is_true(ab) && t->bos_id >= 0) t->prefix_ids[t->n_prefix++] = t->bos_id;
    }
    if (json_is_boolean(ae)) {
        t->n_suffix = 0;
        if (json_is_true(ae) && t->eos_id >= 0) t->suffix_ids[t->n_suffix++] = t->eos_id;
    }
    const json_t *tmpl = json_object_get(root, "chat_template");
    const char *ts = NULL;
    if (json_is_string(tmpl)) ts = json_string_value(tmpl);
    else if (json_is_array(tmpl)) {   /* [{"name": ..., "template": ...}]: the "default" one */
        size_t i;
        const json_t *it;
        json_array_foreach(tmpl, i, it) {
            const char *name = jstr(it, "name");
            if (!ts || (name && !strcmp(name, "default"))) ts = jstr(it, "template");
        }
    }
    if (ts && !(t->chat_template = strdup(ts))) { json_decref(root); return vc_errorf(err, "%s: out of memory", path); }
    json_decref(root);
    return 0;
}

static int load_generation_config(vc_tokenizer *t, const char *path, vc_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    fclose(f);
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_DECODE_INT_AS_REAL, &jerr);   /* model_max_length can be 1e30 */
    if (!root) return vc_errorf(err, "%s: line %d column %d: %s", path, jerr.line, jerr.column, jerr.text);
    const json_t *e = json_object_get(root, "eos_token_id");
    int rc = 0;
    if (json_is_number(e)) rc = vc_tok_add_eog(t, (int32_t)json_number_value(e), err);
    size_t i;
    const json_t *it;
    json_array_foreach(e, i, it) if (!rc && json_is_number(it)) rc = vc_tok_add_eog(t, (int32_t)json_number_value(it), err);
    json_decref(root);
    return rc;
}

int vc_tokenizer_from_dir(vc_tokenizer **out, const char *dir, vc_error *err) {
    *out = NULL;
    vc_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return vc_errorf(err, "tokenizer: out of memory");
    t->bos_id = t->eos_id = t->unk_id = -1;
    char *tj = join_path(dir, "tokenizer.json"), *tc = join_path(dir, "tokenizer_config.json"),
         *gc = join_path(dir, "generation_config.json");
    int rc = -1;
    if (!tj || !tc || !gc) { vc_errorf(err, "tokenizer: out of memory"); goto done; }
    if (load_tokenizer_json(t, tj, err)) goto done;
    if (load_config(t, tc, err)) goto done;
    if (t->eos_id >= 0 && vc_tok_add_eog(t, t->eos_id, err)) goto done;
    if (load_generation_config(t, gc, err)) goto done;
    if (vc_tok_add_known_eogs(t, err)) goto done;
    rc = 0;
done:
    free(tj);
    free(tc);
    free(gc);
    if (rc) vc_tokenizer_free(t);
    else *out = t;
    return rc;
}
