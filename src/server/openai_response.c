/* OpenAI response bodies and SSE framing (see openai_response.h). Built with
 * jansson so that every string is escaped correctly. */
#include "server/openai_response.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

const char *vc_oai_finish_name(vllmc_finish_reason f) {
    switch (f) {
    case VLLMC_FINISH_NONE: return NULL;
    case VLLMC_FINISH_STOP: return "stop";
    case VLLMC_FINISH_LENGTH: return "length";
    case VLLMC_FINISH_ABORT: return "abort";
    case VLLMC_FINISH_ERROR: return "error";
    }
    return "error";
}

/* A JSON string of n bytes; invalid UTF-8 bytes become U+FFFD. */
static json_t *str_lossy(const char *s, size_t n) {
    if (!s) s = "", n = 0;
    json_t *j = json_stringn(s, n);
    if (j) return j;
    char *buf = malloc(n * 3 + 1);   /* each bad byte -> 3 bytes of U+FFFD */
    if (!buf) return NULL;
    size_t w = 0, i = 0;
    while (i < n) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(n - i), &cp);
        if (k > 0) {
            memcpy(buf + w, s + i, (size_t)k);
            w += (size_t)k;
            i += (size_t)k;
        } else {
            memcpy(buf + w, "\xEF\xBF\xBD", 3);
            w += 3;
            i++;
        }
    }
    j = json_stringn(buf, w);
    free(buf);
    return j;
}

/* JSON has no infinities: an impossible token gets -9999 (as vLLM writes it) */
static json_t *logprob_value(float lp) {
    return json_real(isfinite(lp) ? (double)lp : -9999.0);
}

static json_t *bytes_array(const char *s, size_t n) {
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(a, json_integer((unsigned char)s[i]));
    return a;
}

/* chat: {"content":[{"token","logprob","bytes","top_logprobs":[...]}]} */
static json_t *chat_logprobs(const vc_oai_logprobs *lp) {
    json_t *content = json_array();
    int stride = 1 + lp->n_top;
    for (int p = 0; p < lp->n_pos; p++) {
        const vc_oai_token_lp *e = lp->entry + (size_t)p * stride;
        json_t *top = json_array();
        for (int k = 1; k < stride; k++)
            json_array_append_new(top, json_pack("{s:o,s:o,s:o}", "token", str_lossy(e[k].bytes, e[k].len),
                                                 "logprob", logprob_value(e[k].logprob), "bytes",
                                                 bytes_array(e[k].bytes, e[k].len)));
        json_array_append_new(content, json_pack("{s:o,s:o,s:o,s:o}", "token", str_lossy(e[0].bytes, e[0].len),
                                                 "logprob", logprob_value(e[0].logprob), "bytes",
                                                 bytes_array(e[0].bytes, e[0].len), "top_logprobs", top));
    }
    return json_pack("{s:o}", "content", content);
}

/* completions: {"tokens","token_logprobs","top_logprobs":[{tok:lp}],"text_offset"};
 * each top_logprobs dict holds the chosen token and its alternatives */
static json_t *completion_logprobs(const vc_oai_logprobs *lp) {
    json_t *tokens = json_array(), *token_lps = json_array(), *tops = json_array(),
           *offsets = json_array();
    int stride = 1 + lp->n_top;
    size_t off = lp->text_offset;
    for (int p = 0; p < lp->n_pos; p++) {
        const vc_oai_token_lp *e = lp->entry + (size_t)p * stride;
        json_array_append_new(tokens, str_lossy(e[0].bytes, e[0].len));
        json_array_append_new(token_lps, logprob_value(e[0].logprob));
        json_t *d = json_object();
        for (int k = 0; k < stride; k++) {
            json_t *key = str_lossy(e[k].bytes, e[k].len);
            if (key && !json_object_get(d, json_string_value(key)))
                json_object_set_new(d, json_string_value(key), logprob_value(e[k].logprob));
            json_decref(key);
        }
        json_array_append_new(tops, d);
        json_array_append_new(offsets, json_integer((json_int_t)off));
        off += e[0].len;
    }
    return json_pack("{s:o,s:o,s:o,s:o}", "tokens", tokens, "token_logprobs", token_lps,
                     "top_logprobs", tops, "text_offset", offsets);
}

static json_t *logprobs_json(vc_oai_endpoint ep, const vc_oai_logprobs *lp) {
    if (!lp) return json_null();
    return ep == VC_OAI_CHAT ? chat_logprobs(lp) : completion_logprobs(lp);
}

static json_t *finish_json(vllmc_finish_reason f) {
    const char *name = vc_oai_finish_name(f);
    return name ? json_string(name) : json_null();
}

static json_t *usage_json(const vc_oai_usage *u) {
    return json_pack("{s:i,s:i,s:i}", "prompt_tokens", u->prompt_tokens, "completion_tokens",
                     u->completion_tokens, "total_tokens", u->prompt_tokens + u->completion_tokens);
}

static json_t *head(const vc_oai_meta *m, const char *object) {
    return json_pack("{s:s,s:s,s:I,s:s}", "id", m->id ? m->id : "", "object", object, "created",
                     (json_int_t)m->created, "model", m->model ? m->model : "");
}

/* serializes and frees j; with sse, as "data: <json>\n\n" */
static char *finish_dump(json_t *j, bool sse, size_t *len) {
    if (!j) return NULL;
    char *body = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (!body) return NULL;
    size_t n = strlen(body);
    if (!sse) {
        if (len) *len = n;
        return body;
    }
    char *out = malloc(n + 9);
    if (out) {
        memcpy(out, "data: ", 6);
        memcpy(out + 6, body, n);
        memcpy(out + 6 + n, "\n\n", 3);
        if (len) *len = n + 8;
    }
    free(body);
    return out;
}

char *vc_oai_error_body(const vc_oai_error *e, size_t *len) {
    json_t *err = json_pack("{s:o,s:s,s:o,s:o}", "message", str_lossy(e->message, strlen(e->message)),
                            "type", e->type ? e->type : "invalid_request_error", "param",
                            e->param[0] ? json_string(e->param) : json_null(), "code",
                            e->code ? json_string(e->code) : json_null());
    return finish_dump(json_pack("{s:o}", "error", err), false, len);
}

char *vc_oai_response_body(const vc_oai_meta *m, const vc_oai_choice *choices, int n_choices,
                           const vc_oai_usage *u, size_t *len) {
    bool chat = m->endpoint == VC_OAI_CHAT;
    json_t *root = head(m, chat ? "chat.completion" : "text_completion");
    json_t *arr = json_array();
    for (int i = 0; i < n_choices; i++) {
        const vc_oai_choice *c = &choices[i];
        json_t *choice;
        if (chat) {
            choice = json_pack("{s:i,s:{s:s,s:o},s:o,s:o}", "index", c->index, "message", "role",
                               "assistant", "content", str_lossy(c->text, c->text_len), "logprobs",
                               logprobs_json(m->endpoint, c->logprobs), "finish_reason",
                               finish_json(c->finish));
        } else {
            choice = json_pack("{s:i,s:o,s:o,s:o}", "index", c->index, "text",
                               str_lossy(c->text, c->text_len), "logprobs",
                               logprobs_json(m->endpoint, c->logprobs), "finish_reason",
                               finish_json(c->finish));
        }
        json_array_append_new(arr, choice);
    }
    json_object_set_new(root, "choices", arr);
    json_object_set_new(root, "usage", usage_json(u));
    return finish_dump(root, false, len);
}

char *vc_oai_chunk_sse(const vc_oai_meta *m, int index, bool with_role, const char *text,
                       size_t text_len, const vc_oai_logprobs *lp, vllmc_finish_reason finish,
                       size_t *len) {
    bool chat = m->endpoint == VC_OAI_CHAT;
    json_t *root = head(m, chat ? "chat.completion.chunk" : "text_completion");
    json_t *choice;
    if (chat) {
        json_t *delta = json_object();
        if (with_role) json_object_set_new(delta, "role", json_string("assistant"));
        if (text) json_object_set_new(delta, "content", str_lossy(text, text_len));
        choice = json_pack("{s:i,s:o,s:o,s:o}", "index", index, "delta", delta, "logprobs",
                           logprobs_json(m->endpoint, lp), "finish_reason", finish_json(finish));
    } else {
        choice = json_pack("{s:i,s:o,s:o,s:o}", "index", index, "text", str_lossy(text, text_len),
                           "logprobs", logprobs_json(m->endpoint, lp), "finish_reason",
                           finish_json(finish));
    }
    json_object_set_new(root, "choices", json_pack("[o]", choice));
    return finish_dump(root, true, len);
}

char *vc_oai_usage_sse(const vc_oai_meta *m, const vc_oai_usage *u, size_t *len) {
    json_t *root = head(m, m->endpoint == VC_OAI_CHAT ? "chat.completion.chunk" : "text_completion");
    json_object_set_new(root, "choices", json_array());
    json_object_set_new(root, "usage", usage_json(u));
    return finish_dump(root, true, len);
}

char *vc_oai_models_body(const char *model, int64_t created, int max_model_len, size_t *len) {
    json_t *entry = json_pack("{s:s,s:s,s:I,s:s,s:i}", "id", model, "object", "model", "created",
                              (json_int_t)created, "owned_by", "vllmc", "max_model_len",
                              max_model_len);
    return finish_dump(json_pack("{s:s,s:[o]}", "object", "list", "data", entry), false, len);
}

char *vc_oai_tokenize_body(const int32_t *ids, int n, int max_model_len, size_t *len) {
    json_t *arr = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(arr, json_integer(ids[i]));
    return finish_dump(json_pack("{s:i,s:i,s:o}", "count", n, "max_model_len", max_model_len,
                                 "tokens", arr),
                       false, len);
}

char *vc_oai_detokenize_body(const char *text, size_t text_len, size_t *len) {
    return finish_dump(json_pack("{s:o}", "prompt", str_lossy(text, text_len)), false, len);
}
