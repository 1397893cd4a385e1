/* Chat templates: picks the template (override, the model's, or a built-in
 * fallback) and renders conversations with the Jinja interpreter. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/chat_template.h"
#include "tokenizer/jinja.h"
#include "tokenizer/tokenizer.h"

struct vc_chat_template {
    jinja_template *tpl;
    char *name;      /* "model" or a built-in's name */
    char *note;      /* fallback message or NULL */
    char *bos_token; /* NULL: undefined in the template */
    char *eos_token;
};

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

const char *vc_chat_template_guess(const char *source) {
    if (!source) return "chatml";
    if (strstr(source, "<|im_start|>")) {
        if (strstr(source, "enable_thinking") || strstr(source, "<think>")) return "qwen3";
        if (strstr(source, "SmolLM")) return "smollm2";
        if (strstr(source, "You are a helpful assistant")) return "qwen2";
        return "chatml";
    }
    if (strstr(source, "<|start_header_id|>")) return "llama3";
    if (strstr(source, "<<SYS>>")) return "llama2";
    if (strstr(source, "[INST]")) return "mistral";
    return "chatml";
}

static int builtin_list(char *buf, size_t n) {
    size_t o = 0;
    buf[0] = '\0';
    for (int i = 0; vc_chat_template_builtin_name(i) && o < n; i++)
        o += (size_t)snprintf(buf + o, n - o, "%s%s", i ? ", " : "", vc_chat_template_builtin_name(i));
    return 0;
}

int vc_chat_template_create(vc_chat_template **out, const char *source, const char *name,
                            const char *bos_token, const char *eos_token, vc_error *err) {
    *out = NULL;
    vc_chat_template *ct = calloc(1, sizeof *ct);
    if (!ct) return vc_errorf(err, "chat template: out of memory");
    ct->bos_token = dup_or_null(bos_token);
    ct->eos_token = dup_or_null(eos_token);
    if ((bos_token && !ct->bos_token) || (eos_token && !ct->eos_token)) goto nomem;

    const char *chosen = NULL; /* built-in name */
    if (name) {
        if (!vc_chat_template_builtin(name)) {
            char names[256];
            builtin_list(names, sizeof names);
            vc_chat_template_free(ct);
            return vc_errorf(err, "--chat-template '%s': unknown name (built-ins: %s)", name, names);
        }
        chosen = name;
    } else if (source) {
        vc_error perr;
        if (jinja_template_parse(&ct->tpl, source, strlen(source), &perr) == 0) {
            if (!(ct->name = strdup("model"))) goto nomem;
            *out = ct;
            return 0;
        }
        chosen = vc_chat_template_guess(source);
        char note[1400];
        snprintf(note, sizeof note, "the model's chat template is not supported (%s); using the built-in '%s' template",
                 perr.msg, chosen);
        if (!(ct->note = strdup(note))) goto nomem;
    } else {
        chosen = "chatml";
        if (!(ct->note = strdup("the model has no chat template; using the built-in 'chatml' template"))) goto nomem;
    }
    const char *text = vc_chat_template_builtin(chosen);
    if (jinja_template_parse(&ct->tpl, text, strlen(text), err)) {
        vc_error_prefix(err, "built-in chat template '%s'", chosen);
        vc_chat_template_free(ct);
        return -1;
    }
    if (!(ct->name = strdup(chosen))) goto nomem;
    *out = ct;
    return 0;
nomem:
    vc_chat_template_free(ct);
    return vc_errorf(err, "chat template: out of memory");
}

static bool has_token(const vc_tokenizer *tok, const char *text) {
    int n = vc_tokenizer_vocab_size(tok);
    for (int i = 0; i < n; i++) {
        const char *t = vc_tokenizer_token_text(tok, i);
        if (t && strcmp(t, text) == 0) return true;
    }
    return false;
}

int vc_chat_template_from_tokenizer(vc_chat_template **out, const vc_tokenizer *tok, const char *name,
                                    vc_error *err) {
    int bos = vc_tokenizer_bos(tok), eos = vc_tokenizer_eos(tok);
    const char *bos_text = bos >= 0 ? vc_tokenizer_token_text(tok, bos) : NULL;
    const char *eos_text = eos >= 0 ? vc_tokenizer_token_text(tok, eos) : NULL;
    const char *source = vc_tokenizer_chat_template(tok);
    if (name || source) return vc_chat_template_create(out, source, name, bos_text, eos_text, err);
    const char *guess = has_token(tok, "<|im_start|>")         ? "chatml"
                        : has_token(tok, "<|start_header_id|>") ? "llama3"
                        : (bos_text && !strcmp(bos_text, "<s>")) ? "llama2"
                                                                 : "chatml";
    if (vc_chat_template_create(out, NULL, guess, bos_text, eos_text, err)) return -1;
    char note[160];
    snprintf(note, sizeof note, "the model has no chat template; using the built-in '%s' template (guessed from its vocabulary)",
             guess);
    free((*out)->note);
    if (!((*out)->note = strdup(note))) {
        vc_chat_template_free(*out);
        *out = NULL;
        return vc_errorf(err, "chat template: out of memory");
    }
    return 0;
}

void vc_chat_template_free(vc_chat_template *ct) {
    if (!ct) return;
    jinja_template_free(ct->tpl);
    free(ct->name);
    free(ct->note);
    free(ct->bos_token);
    free(ct->eos_token);
    free(ct);
}

const char *vc_chat_template_note(const vc_chat_template *ct) { return ct->note; }
const char *vc_chat_template_name(const vc_chat_template *ct) { return ct->name; }

int vc_chat_template_render_opts(const vc_chat_template *ct, const vc_chat_message *msgs, int n_msgs,
                                 const vc_chat_render_opts *opts, char **out, vc_error *err) {
    *out = NULL;
    if (n_msgs < 0 || (n_msgs > 0 && !msgs)) return vc_errorf(err, "chat template: bad message list (%d messages)", n_msgs);
    jinja_chat_msg *jm = calloc(n_msgs > 0 ? (size_t)n_msgs : 1, sizeof *jm);
    if (!jm) return vc_errorf(err, "chat template: out of memory");
    for (int i = 0; i < n_msgs; i++) {
        jm[i].role = msgs[i].role;
        jm[i].content = msgs[i].content;
    }
    jinja_chat_vars vars = {
        .messages = jm,
        .n_messages = n_msgs,
        .add_generation_prompt = opts->add_generation_prompt,
        .bos_token = ct->bos_token,
        .eos_token = ct->eos_token,
        .enable_thinking = opts->enable_thinking,
    };
    int rc = jinja_render_chat(ct->tpl, &vars, NULL, out, NULL, err);
    free(jm);
    return rc;
}

/* transformers' _alias_reasoning_fields: {"thinking": r, **message, "reasoning_content": r} */
static json_t *alias_reasoning(json_t *msg) {
    static const char *const fields[] = {"reasoning_content", "thinking", "reasoning"};
    json_t *reasoning = NULL;
    for (int k = 0; k < 3 && !reasoning; k++) {
        json_t *v = json_object_get(msg, fields[k]);
        if (v && !json_is_null(v)) reasoning = v;
    }
    if (!reasoning) return json_incref(msg);
    json_t *m = json_object();
    if (!m) return NULL;
    int rc = json_object_set(m, "thinking", reasoning);
    const char *key;
    json_t *val;
    json_object_foreach(msg, key, val) rc |= json_object_set(m, key, val);
    rc |= json_object_set(m, "reasoning_content", reasoning);
    if (rc) { json_decref(m); return NULL; }
    return m;
}

static int parse_json_arg(const char *what, const char *text, json_t **out, vc_error *err) {
    json_error_t jerr;
    *out = json_loads(text, JSON_DECODE_ANY, &jerr);
    if (!*out) return vc_errorf(err, "chat template: %s JSON: %s at line %d col %d", what, jerr.text, jerr.line, jerr.column);
    if (!json_is_array(*out)) {
        json_decref(*out);
        *out = NULL;
        return vc_errorf(err, "chat template: %s JSON must be an array", what);
    }
    return 0;
}

int vc_chat_template_render_json(const vc_chat_template *ct, const char *messages_json, const char *tools_json,
                                 const vc_chat_render_opts *opts, char **out, vc_error *err) {
    *out = NULL;
    json_t *msgs = NULL, *tools = NULL, *vars = NULL, *aliased = NULL;
    int rc = -1;
    if (parse_json_arg("messages", messages_json, &msgs, err)) goto done;
    if (tools_json && parse_json_arg("tools", tools_json, &tools, err)) goto done;
    if (!(aliased = json_array()) || !(vars = json_object())) goto nomem;
    size_t i;
    json_t *m;
    json_array_foreach(msgs, i, m) {
        if (!json_is_object(m)) {
            vc_errorf(err, "chat template: message %zu is not a JSON object", i);
            goto done;
        }
        json_t *a = alias_reasoning(m);
        if (!a || json_array_append_new(aliased, a)) goto nomem;
    }
    if (json_object_set(vars, "messages", aliased) || json_object_set_new(vars, "tools", tools ? json_incref(tools) : json_null()) ||
        json_object_set_new(vars, "documents", json_null()) ||
        json_object_set_new(vars, "add_generation_prompt", json_boolean(opts->add_generation_prompt)))
        goto nomem;
    if (ct->bos_token && json_object_set_new(vars, "bos_token", json_string(ct->bos_token))) goto nomem;
    if (ct->eos_token && json_object_set_new(vars, "eos_token", json_string(ct->eos_token))) goto nomem;
    if (opts->enable_thinking >= 0 && json_object_set_new(vars, "enable_thinking", json_boolean(opts->enable_thinking)))
        goto nomem;
    rc = jinja_render_json(ct->tpl, vars, NULL, out, NULL, err);
    goto done;
nomem:
    rc = vc_errorf(err, "chat template: out of memory");
done:
    json_decref(msgs);
    json_decref(tools);
    json_decref(vars);
    json_decref(aliased);
    return rc;
}

int vc_chat_template_render(const vc_chat_template *ct, const vc_chat_message *msgs, int n_msgs,
                            bool add_generation_prompt, bool enable_thinking, char **out,
                            vc_error *err) {
    vc_chat_render_opts opts = {.add_generation_prompt = add_generation_prompt,
                                .enable_thinking = enable_thinking ? -1 : 0};
    return vc_chat_template_render_opts(ct, msgs, n_msgs, &opts, out, err);
}
