/* tokenizer.json (+ tokenizer_config.json) -> tokenizer.ggml.* metadata, the
 * way llama.cpp's converter lays it out for byte-level BPE vocabularies:
 *   tokenizer.ggml.model       "gpt2"
 *   tokenizer.ggml.pre         pre-tokenizer name llama.cpp knows ("llama-bpe",
 *                              "qwen2", "smollm", "gpt-2"), from the pre_tokenizer
 *   tokenizer.ggml.tokens      [vocab_size] token strings (byte-level encoded)
 *   tokenizer.ggml.token_type  [vocab_size] i32: 1 normal, 3 control (special
 *                              added tokens), 4 user-defined, 5 unused (padding ids)
 *   tokenizer.ggml.merges      ["a b", ...] in rank order
 *   tokenizer.ggml.{bos,eos,unknown,padding}_token_id, add_bos_token, add_eos_token
 *   tokenizer.chat_template */
#include "model/gguf_export.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TT_NORMAL 1
#define TT_CONTROL 3
#define TT_USER_DEFINED 4
#define TT_UNUSED 5

/* flags: JSON_DECODE_INT_AS_REAL for the config files, whose integers may
 * not fit 64 bits (model_max_length is often 1e30) */
static json_t *load_json(const char *dir, const char *name, size_t flags, bool required, vc_error *err) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    json_error_t je;
    json_t *j = json_load_file(path, flags, &je);
    if (!j && required) vc_errorf(err, "%s: %s (line %d)", path, je.text, je.line);
    return j;
}

static char *read_text(const char *dir, const char *name) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    if (s) s[n] = 0;
    fclose(f);
    return s;
}

/* a special token in tokenizer_config.json: "text" or {"content": "text"} */
static const char *token_str(const json_t *v) {
    if (json_is_string(v)) return json_string_value(v);
    if (json_is_object(v)) return json_string_value(json_object_get(v, "content"));
    return NULL;
}

static const char *LLAMA3_REGEX =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char *QWEN2_REGEX =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/* Name of the llama.cpp pre-tokenizer equivalent to tokenizer.json's
 * pre_tokenizer; NULL if none is known. */
static const char *pre_name(const json_t *pre) {
    const char *type = json_string_value(json_object_get(pre, "type"));
    if (!type) return NULL;
    if (!strcmp(type, "ByteLevel")) return json_is_false(json_object_get(pre, "use_regex")) ? NULL : "gpt-2";
    if (strcmp(type, "Sequence")) return NULL;
    const json_t *list = json_object_get(pre, "pretokenizers");
    bool digits = false, bytelevel_regex = false;
    const char *regex = NULL;
    size_t i;
    const json_t *p;
    json_array_foreach(list, i, p) {
        const char *t = json_string_value(json_object_get(p, "type"));
        if (!t) return NULL;
        if (!strcmp(t, "Digits") && json_is_true(json_object_get(p, "individual_digits"))) digits = true;
        else if (!strcmp(t, "ByteLevel")) bytelevel_regex = !json_is_false(json_object_get(p, "use_regex"));
        else if (!strcmp(t, "Split")) regex = json_string_value(json_object_get(json_object_get(p, "pattern"), "Regex"));
        else return NULL;
    }
    if (regex && !strcmp(regex, LLAMA3_REGEX)) return "llama-bpe";
    if (regex && !strcmp(regex, QWEN2_REGEX)) return "qwen2";
    if (!regex && digits && bytelevel_regex) return "smollm";
    if (!regex && !digits && bytelevel_regex) return "gpt-2"; /* llama.cpp's name: "gpt2" is refused */
    return NULL;
}

/* add_bos from tokenizer_config.json, else from a TemplateProcessing post
 * processor whose single-sequence template starts with a special token. */
static bool adds_bos(const json_t *tok, const json_t *tcfg) {
    const json_t *v = json_object_get(tcfg, "add_bos_token");
    if (json_is_boolean(v)) return json_is_true(v);
    const json_t *pp = json_object_get(tok, "post_processor");
    const char *type = json_string_value(json_object_get(pp, "type"));
    if (type && !strcmp(type, "Sequence")) {
        size_t i;
        const json_t *p;
        json_array_foreach(json_object_get(pp, "processors"), i, p) {
            const char *t = json_string_value(json_object_get(p, "type"));
            if (t && !strcmp(t, "TemplateProcessing")) { pp = p; type = t; break; }
        }
    }
    if (!type || strcmp(type, "TemplateProcessing")) return false;
    const json_t *first = json_array_get(json_object_get(pp, "single"), 0);
    return json_object_get(first, "SpecialToken") != NULL;
}

int vc_export_tokenizer_meta(vc_gguf_writer *w, const char *dir, int vocab_size, vc_error *err) {
    json_t *tok = load_json(dir, "tokenizer.json", 0, true, err);
    if (!tok) return vc_error_prefix(err, "GGUF export needs the tokenizer");
    json_t *tcfg = load_json(dir, "tokenizer_config.json", JSON_DECODE_INT_AS_REAL, false, err);
    json_t *mcfg = load_json(dir, "config.json", JSON_DECODE_INT_AS_REAL, false, err);
    char **strs = NULL;
    int32_t *types = NULL;
    const char **merges = NULL;
    char *merge_buf = NULL, *tmpl_file = NULL;
    int rc = -1;

    const json_t *model = json_object_get(tok, "model");
    const char *mtype = json_string_value(json_object_get(model, "type"));
    const json_t *vocab = json_object_get(model, "vocab");
    if (!mtype || strcmp(mtype, "BPE") || !json_is_object(vocab)) {
        vc_errorf(err, "%s/tokenizer.json: model.type '%s': only BPE vocabularies can be exported", dir,
                  mtype ? mtype : "?");
        goto out;
    }
    if (json_is_true(json_object_get(model, "byte_fallback"))) {
        vc_errorf(err, "%s/tokenizer.json: a SentencePiece-style (byte_fallback) vocabulary; GGUF export "
                  "handles byte-level BPE (GPT-2 style) tokenizers only", dir);
        goto out;
    }
    const json_t *pre_tok = json_object_get(tok, "pre_tokenizer");
    const char *pre = pre_name(pre_tok);
    if (!pre) {
        fprintf(stderr, "gguf export: %s/tokenizer.json: pre_tokenizer not recognised; writing "
                        "tokenizer.ggml.pre = \"default\" (llama.cpp may split text differently)\n", dir);
        pre = "default";
    }

    /* tokens by id: the BPE vocab, then the added tokens */
    int n = vocab_size;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)vocab, k, v) {
        json_int_t id = json_integer_value(v);
        if (id >= n) n = (int)id + 1;
    }
    size_t i;
    json_t *at;
    json_array_foreach(json_object_get(tok, "added_tokens"), i, at) {
        json_int_t id = json_integer_value(json_object_get(at, "id"));
        if (id >= n) n = (int)id + 1;
    }
    strs = calloc((size_t)n, sizeof *strs);
    types = calloc((size_t)n, sizeof *types);
    if (!strs || !types) { vc_errorf(err, "GGUF export: out of memory"); goto out; }
    json_object_foreach((json_t *)vocab, k, v) {
        json_int_t id = json_integer_value(v);
        if (id < 0 || strs[id]) continue;
        strs[id] = (char *)k;
        types[id] = TT_NORMAL;
    }
    json_array_foreach(json_object_get(tok, "added_tokens"), i, at) {
        json_int_t id = json_integer_value(json_object_get(at, "id"));
        const char *content = json_string_value(json_object_get(at, "content"));
        if (id < 0 || !content) continue;
        strs[id] = (char *)content;
        types[id] = json_is_true(json_object_get(at, "special")) ? TT_CONTROL : TT_USER_DEFINED;
    }
    /* ids nobody names (a config vocab_size padded past the tokenizer) */
    char **pads = calloc((size_t)n, sizeof *pads);
    if (!pads) { vc_errorf(err, "GGUF export: out of memory"); goto out; }
    for (int id = 0; id < n; id++) {
        if (strs[id]) continue;
        pads[id] = malloc(24);
        if (pads[id]) snprintf(pads[id], 24, "[PAD%d]", id);
        strs[id] = pads[id] ? pads[id] : "[PAD]";
        types[id] = TT_UNUSED;
    }

    /* merges: "a b" strings (older files) or ["a", "b"] pairs (newer) */
    const json_t *jm = json_object_get(model, "merges");
    size_t n_merges = json_array_size(jm), buf_len = 0;
    json_array_foreach(jm, i, v) {
        if (json_is_string(v)) buf_len += strlen(json_string_value(v)) + 1;
        else buf_len += strlen(json_string_value(json_array_get(v, 0)) ? json_string_value(json_array_get(v, 0)) : "") +
                        strlen(json_string_value(json_array_get(v, 1)) ? json_string_value(json_array_get(v, 1)) : "") + 2;
    }
    merges = calloc(n_merges ? n_merges : 1, sizeof *merges);
    merge_buf = malloc(buf_len ? buf_len : 1);
    if (!merges || !merge_buf) { vc_errorf(err, "GGUF export: out of memory"); goto free_pads; }
    char *at_buf = merge_buf;
    json_array_foreach(jm, i, v) {
        merges[i] = at_buf;
        if (json_is_string(v)) {
            at_buf += sprintf(at_buf, "%s", json_string_value(v)) + 1;
        } else {
            const char *a = json_string_value(json_array_get(v, 0)), *b = json_string_value(json_array_get(v, 1));
            if (!a || !b) {
                vc_errorf(err, "%s/tokenizer.json: model.merges[%zu] is not a pair of strings", dir, i);
                goto free_pads;
            }
            at_buf += sprintf(at_buf, "%s %s", a, b) + 1;
        }
    }

    vc_gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2");
    vc_gguf_writer_set_str(w, "tokenizer.ggml.pre", pre);
    vc_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)strs, NULL, (uint64_t)n);
    vc_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", VC_GGUF_INT32, types, (uint64_t)n);
    vc_gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", merges, NULL, n_merges);

    /* special ids: tokenizer_config's token strings, else config.json's ids */
    static const char *const SPECIAL[][3] = {
        {"bos_token", "tokenizer.ggml.bos_token_id", "bos_token_id"},
        {"eos_token", "tokenizer.ggml.eos_token_id", "eos_token_id"},
        {"unk_token", "tokenizer.ggml.unknown_token_id", NULL},
        {"pad_token", "tokenizer.ggml.padding_token_id", "pad_token_id"},
    };
    for (size_t s = 0; s < sizeof SPECIAL / sizeof SPECIAL[0]; s++) {
        const char *text = token_str(json_object_get(tcfg, SPECIAL[s][0]));
        long long id = -1;
        for (int t = 0; text && t < n && id < 0; t++)
            if (!strcmp(strs[t], text)) id = t;
        if (id < 0 && SPECIAL[s][2]) {
            const json_t *jv = json_object_get(mcfg, SPECIAL[s][2]);
            if (json_is_array(jv)) jv = json_array_get(jv, 0);
            if (json_is_number(jv) && json_number_value(jv) >= 0) id = (long long)json_number_value(jv);
        }
        if (id >= 0) vc_gguf_writer_set_u32(w, SPECIAL[s][1], (uint32_t)id);
    }
    vc_gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", adds_bos(tok, tcfg));
    vc_gguf_writer_set_bool(w, "tokenizer.ggml.add_eos_token",
                            json_is_true(json_object_get(tcfg, "add_eos_token")));

    /* chat template: tokenizer_config.json's (a string, or a list of named
     * templates: the "default" one), else chat_template.jinja */
    const json_t *ct = json_object_get(tcfg, "chat_template");
    const char *tmpl = json_string_value(ct);
    if (json_is_array(ct)) {
        const json_t *e;
        json_array_foreach(ct, i, e) {
            const char *name = json_string_value(json_object_get(e, "name"));
            if (name && !strcmp(name, "default")) tmpl = json_string_value(json_object_get(e, "template"));
        }
    }
    if (!tmpl && (tmpl_file = read_text(dir, "chat_template.jinja"))) tmpl = tmpl_file;
    if (tmpl) vc_gguf_writer_set_str(w, "tokenizer.chat_template", tmpl);
    rc = 0;

free_pads:
    for (int id = 0; id < n; id++) free(pads[id]);
    free(pads);
out:
    free(strs);
    free(types);
    free(merges);
    free(merge_buf);
    free(tmpl_file);
    json_decref(tok);
    json_decref(tcfg);
    json_decref(mcfg);
    return rc;
}
