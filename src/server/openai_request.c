/* OpenAI request bodies -> vc_oai_request (see openai_request.h). JSON is
 * parsed by jansson (which also rejects invalid UTF-8, NUL escapes and
 * nesting deeper than its parser limit); this file checks fields. */
#include "server/openai_request.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int vc_oai_errorf(vc_oai_error *e, int status, const char *type, const char *code,
                  const char *param, const char *fmt, ...) {
    if (!e) return -1;
    e->status = status;
    e->type = type ? type : "invalid_request_error";
    e->code = code;
    snprintf(e->param, sizeof e->param, "%s", param ? param : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return -1;
}

/* 400 invalid_request_error naming the field */
#define BAD(err, param, ...) vc_oai_errorf((err), 400, "invalid_request_error", NULL, (param), __VA_ARGS__)

static const char *json_kind(const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number";
    case JSON_TRUE: case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "a value";
}

/* the field's value, or NULL when absent or null */
static json_t *field(json_t *obj, const char *key) {
    json_t *v = json_object_get(obj, key);
    return (v && !json_is_null(v)) ? v : NULL;
}

static char *dup_n(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

/* A number field in [lo, hi] (inclusive unless lo_open). */
static int get_float(json_t *obj, const char *key, float lo, float hi, bool lo_open, float *out,
                     vc_oai_error *err) {
    json_t *v = field(obj, key);
    if (!v) return 0;
    if (!json_is_number(v)) return BAD(err, key, "'%s' must be a number, got %s", key, json_kind(v));
    double x = json_number_value(v);
    if (!isfinite(x) || x > hi || x < lo || (lo_open && x <= lo))
        return BAD(err, key, "'%s' must be in %s%g, %g], got %g", key, lo_open ? "(" : "[", lo,
                   hi, x);
    *out = (float)x;
    return 0;
}

/* An integer field (an integral real such as 16.0 is accepted too). */
static int get_int64(json_t *obj, const char *key, int64_t lo, int64_t hi, int64_t *out,
                     vc_oai_error *err) {
    json_t *v = field(obj, key);
    if (!v) return 0;
    int64_t x;
    if (json_is_integer(v)) {
        x = (int64_t)json_integer_value(v);
    } else if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!(d == floor(d)) || d < -9.2e18 || d > 9.2e18)
            return BAD(err, key, "'%s' must be an integer, got %g", key, d);
        x = (int64_t)d;
    } else {
        return BAD(err, key, "'%s' must be an integer, got %s", key, json_kind(v));
    }
    if (x < lo || x > hi)
        return BAD(err, key, "'%s' must be in [%lld, %lld], got %lld", key, (long long)lo,
                   (long long)hi, (long long)x);
    *out = x;
    return 0;
}

static int get_int(json_t *obj, const char *key, int lo, int hi, int *out, vc_oai_error *err) {
    int64_t x = *out;
    if (get_int64(obj, key, lo, hi, &x, err)) return -1;
    *out = (int)x;
    return 0;
}

static int get_bool(json_t *obj, const char *key, bool *out, vc_oai_error *err) {
    json_t *v = field(obj, key);
    if (!v) return 0;
    if (!json_is_boolean(v)) return BAD(err, key, "'%s' must be a boolean, got %s", key, json_kind(v));
    *out = json_is_true(v);
    return 0;
}

/* A token id list: a JSON array of integers in [0, INT32_MAX]. */
static int get_ids(json_t *arr, const char *param, int32_t **ids, int *n, vc_oai_error *err) {
    size_t len = json_array_size(arr);
    *ids = malloc((len ? len : 1) * sizeof **ids);
    if (!*ids) return vc_oai_errorf(err, 500, "server_error", NULL, param, "out of memory");
    for (size_t i = 0; i < len; i++) {
        json_t *t = json_array_get(arr, i);
        if (!json_is_integer(t) || json_integer_value(t) < 0 || json_integer_value(t) > INT32_MAX) {
            free(*ids);
            *ids = NULL;
            return BAD(err, param, "'%s[%zu]' must be a token id (a non-negative integer), got %s",
                       param, i, json_kind(t));
        }
        (*ids)[i] = (int32_t)json_integer_value(t);
    }
    *n = (int)len;
    return 0;
}

/* "stop": a string or a list of strings */
static int parse_stop(json_t *obj, vc_oai_request *r, vc_oai_error *err) {
    json_t *v = field(obj, "stop");
    if (!v) return 0;
    size_t n = json_is_string(v) ? 1 : json_is_array(v) ? json_array_size(v) : 0;
    if (!json_is_string(v) && !json_is_array(v))
        return BAD(err, "stop", "'stop' must be a string or a list of strings, got %s", json_kind(v));
    if (n > VC_OAI_MAX_STOP)
        return BAD(err, "stop", "'stop' has %zu entries; at most %d are allowed", n, VC_OAI_MAX_STOP);
    r->stop = calloc(n ? n : 1, sizeof *r->stop);
    if (!r->stop) return vc_oai_errorf(err, 500, "server_error", NULL, "stop", "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_is_string(v) ? v : json_array_get(v, i);
        if (!json_is_string(s))
            return BAD(err, "stop", "'stop[%zu]' must be a string, got %s", i, json_kind(s));
        size_t len = json_string_length(s);
        if (len == 0) return BAD(err, "stop", "'stop[%zu]' is empty", i);
        if (len > VC_OAI_MAX_STOP_LEN)
            return BAD(err, "stop", "'stop[%zu]' is %zu bytes; at most %d are allowed", i, len,
                       VC_OAI_MAX_STOP_LEN);
        if (!(r->stop[i] = dup_n(json_string_value(s), len)))
            return vc_oai_errorf(err, 500, "server_error", NULL, "stop", "out of memory");
        r->n_stop++;
    }
    return 0;
}

static const char *const known_roles[] = {"system", "user", "assistant", "tool", "developer"};

/* content: a string, a list of {"type":"text","text":...} parts, or null
 * (assistant only). Parts are joined with "\n" (as vLLM does). */
static int parse_content(json_t *c, const char *role, int idx, char **out, vc_oai_error *err) {
    char param[64];
    snprintf(param, sizeof param, "messages[%d].content", idx);
    if (!c) {
        if (strcmp(role, "assistant") != 0)
            return BAD(err, param, "'%s' is missing (a %s message needs content)", param, role);
        *out = dup_n("", 0);
        return *out ? 0 : vc_oai_errorf(err, 500, "server_error", NULL, param, "out of memory");
    }
    if (json_is_string(c)) {
        *out = dup_n(json_string_value(c), json_string_length(c));
        return *out ? 0 : vc_oai_errorf(err, 500, "server_error", NULL, param, "out of memory");
    }
    if (!json_is_array(c))
        return BAD(err, param, "'%s' must be a string or a list of content parts, got %s", param,
                   json_kind(c));
    size_t total = 0, n = json_array_size(c);
    for (size_t i = 0; i < n; i++) {
        json_t *p = json_array_get(c, i);
        if (!json_is_object(p))
            return BAD(err, param, "'%s[%zu]' must be an object, got %s", param, i, json_kind(p));
        json_t *type = json_object_get(p, "type");
        if (!json_is_string(type))
            return BAD(err, param, "'%s[%zu].type' must be a string", param, i);
        if (strcmp(json_string_value(type), "text") != 0)
            return BAD(err, param, "'%s[%zu].type' is '%s'; only 'text' parts are supported", param,
                       i, json_string_value(type));
        json_t *t = json_object_get(p, "text");
        if (!json_is_string(t))
            return BAD(err, param, "'%s[%zu].text' must be a string", param, i);
        total += json_string_length(t) + 1;
    }
    char *s = malloc(total + 1), *w = s;
    if (!s) return vc_oai_errorf(err, 500, "server_error", NULL, param, "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *t = json_object_get(json_array_get(c, i), "text");
        if (i) *w++ = '\n';
        memcpy(w, json_string_value(t), json_string_length(t));
        w += json_string_length(t);
    }
    *w = 0;
    *out = s;
    return 0;
}

static int parse_messages(json_t *obj, vc_oai_request *r, vc_oai_error *err) {
    json_t *v = field(obj, "messages");
    if (!v) return BAD(err, "messages", "'messages' is required");
    if (!json_is_array(v)) return BAD(err, "messages", "'messages' must be a list, got %s", json_kind(v));
    size_t n = json_array_size(v);
    if (n == 0) return BAD(err, "messages", "'messages' must not be empty");
    if (n > VC_OAI_MAX_MESSAGES)
        return BAD(err, "messages", "'messages' has %zu entries; at most %d are allowed", n,
                   VC_OAI_MAX_MESSAGES);
    r->messages = calloc(n, sizeof *r->messages);
    if (!r->messages) return vc_oai_errorf(err, 500, "server_error", NULL, "messages", "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *m = json_array_get(v, i);
        char param[64];
        snprintf(param, sizeof param, "messages[%zu]", i);
        if (!json_is_object(m)) return BAD(err, param, "'%s' must be an object, got %s", param, json_kind(m));
        json_t *role = json_object_get(m, "role");
        snprintf(param, sizeof param, "messages[%zu].role", i);
        if (!role) return BAD(err, param, "'%s' is required", param);
        if (!json_is_string(role)) return BAD(err, param, "'%s' must be a string, got %s", param, json_kind(role));
        const char *rs = json_string_value(role);
        bool known = false;
        for (size_t k = 0; k < sizeof known_roles / sizeof *known_roles; k++)
            known |= strcmp(rs, known_roles[k]) == 0;
        if (!known)
            return BAD(err, param,
                       "'%s' is '%.40s'; expected system, user, assistant, tool or developer",
                       param, rs);
        vc_oai_message *out = &r->messages[r->n_messages];
        if (!(out->role = dup_n(rs, json_string_length(role))))
            return vc_oai_errorf(err, 500, "server_error", NULL, param, "out of memory");
        r->n_messages++;
        if (parse_content(field(m, "content"), rs, (int)i, &out->content, err)) return -1;
    }
    return 0;
}

/* "prompt": a string, a list of strings, a list of token ids, or a list of
 * lists of token ids. */
static int parse_prompt(json_t *obj, vc_oai_request *r, vc_oai_error *err) {
    json_t *v = field(obj, "prompt");
    if (!v) return BAD(err, "prompt", "'prompt' is required");
    if (json_is_string(v)) {
        r->prompts = calloc(1, sizeof *r->prompts);
        if (!r->prompts || !(r->prompts[0].text = dup_n(json_string_value(v), json_string_length(v))))
            return vc_oai_errorf(err, 500, "server_error", NULL, "prompt", "out of memory");
        r->n_prompts = 1;
        return 0;
    }
    if (!json_is_array(v))
        return BAD(err, "prompt", "'prompt' must be a string, a list of strings or a list of token ids, got %s",
                   json_kind(v));
    size_t n = json_array_size(v);
    if (n == 0) return BAD(err, "prompt", "'prompt' must not be empty");
    json_t *first = json_array_get(v, 0);
    if (json_is_integer(first)) {  /* one prompt of token ids */
        r->prompts = calloc(1, sizeof *r->prompts);
        if (!r->prompts) return vc_oai_errorf(err, 500, "server_error", NULL, "prompt", "out of memory");
        r->n_prompts = 1;
        return get_ids(v, "prompt", &r->prompts[0].ids, &r->prompts[0].n_ids, err);
    }
    if (n > VC_OAI_MAX_PROMPTS)
        return BAD(err, "prompt", "'prompt' has %zu entries; at most %d are allowed", n, VC_OAI_MAX_PROMPTS);
    r->prompts = calloc(n, sizeof *r->prompts);
    if (!r->prompts) return vc_oai_errorf(err, 500, "server_error", NULL, "prompt", "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *p = json_array_get(v, i);
        char param[64];
        snprintf(param, sizeof param, "prompt[%zu]", i);
        r->n_prompts++;
        if (json_is_string(p)) {
            if (!(r->prompts[i].text = dup_n(json_string_value(p), json_string_length(p))))
                return vc_oai_errorf(err, 500, "server_error", NULL, param, "out of memory");
        } else if (json_is_array(p) && json_array_size(p) > 0) {
            if (get_ids(p, param, &r->prompts[i].ids, &r->prompts[i].n_ids, err)) return -1;
        } else {
            return BAD(err, param, "'%s' must be a string or a non-empty list of token ids, got %s",
                       param, json_kind(p));
        }
    }
    return 0;
}

/* sampling and output fields shared by chat and completions */
static int parse_sampling(json_t *obj, vc_oai_request *r, vc_oai_error *err) {
    int64_t seed = -1;
    if (get_float(obj, "temperature", 0.f, 2.f, false, &r->temperature, err) ||
        get_float(obj, "top_p", 0.f, 1.f, true, &r->top_p, err) ||
        get_int(obj, "top_k", -1, 1 << 20, &r->top_k, err) ||
        get_float(obj, "min_p", 0.f, 1.f, false, &r->min_p, err) ||
        get_float(obj, "presence_penalty", -2.f, 2.f, false, &r->presence_penalty, err) ||
        get_float(obj, "frequency_penalty", -2.f, 2.f, false, &r->frequency_penalty, err) ||
        get_float(obj, "repetition_penalty", 0.f, 10.f, true, &r->repetition_penalty, err) ||
        get_int64(obj, "seed", INT64_MIN, INT64_MAX, &seed, err) ||
        get_int(obj, "n", 1, VC_OAI_MAX_N, &r->n, err) ||
        get_bool(obj, "stream", &r->stream, err) ||
        get_bool(obj, "ignore_eos", &r->ignore_eos, err))
        return -1;
    if (r->top_k < 0) r->top_k = 0;
    /* a negative seed is a valid OpenAI seed; the engine reserves -1 for
     * "random", so the sign bit is dropped to keep every seed reproducible */
    if (field(obj, "seed")) r->seed = seed & INT64_MAX;

    int max_tokens = -1, max_completion = -1;
    if (get_int(obj, "max_tokens", 1, INT32_MAX, &max_tokens, err) ||
        get_int(obj, "max_completion_tokens", 1, INT32_MAX, &max_completion, err))
        return -1;
    r->max_tokens = max_completion > 0 ? max_completion : max_tokens;

    json_t *so = field(obj, "stream_options");
    if (so) {
        if (!json_is_object(so))
            return BAD(err, "stream_options", "'stream_options' must be an object, got %s", json_kind(so));
        json_t *iu = field(so, "include_usage");
        if (iu && !json_is_boolean(iu))
            return BAD(err, "stream_options.include_usage",
                       "'stream_options.include_usage' must be a boolean, got %s", json_kind(iu));
        if (!r->stream)
            return BAD(err, "stream_options", "'stream_options' is only allowed when 'stream' is true");
        r->include_usage = iu && json_is_true(iu);
    }
    if (parse_stop(obj, r, err)) return -1;
    json_t *sti = field(obj, "stop_token_ids");
    if (sti) {
        if (!json_is_array(sti))
            return BAD(err, "stop_token_ids", "'stop_token_ids' must be a list of token ids, got %s",
                       json_kind(sti));
        if (json_array_size(sti) > VC_OAI_MAX_STOP)
            return BAD(err, "stop_token_ids", "'stop_token_ids' has %zu entries; at most %d are allowed",
                       json_array_size(sti), VC_OAI_MAX_STOP);
        if (get_ids(sti, "stop_token_ids", &r->stop_token_ids, &r->n_stop_token_ids, err)) return -1;
    }

    /* logprobs: chat has logprobs (bool) + top_logprobs (int); completions
     * has logprobs (int, the number of alternatives) */
    json_t *lp = field(obj, "logprobs");
    if (r->endpoint == VC_OAI_CHAT) {
        if (get_bool(obj, "logprobs", &r->logprobs, err) ||
            get_int(obj, "top_logprobs", 0, VC_OAI_MAX_TOP_LOGPROBS, &r->top_logprobs, err))
            return -1;
        if (field(obj, "top_logprobs") && !r->logprobs)
            return BAD(err, "top_logprobs", "'top_logprobs' requires 'logprobs' to be true");
    } else if (lp) {
        if (json_is_boolean(lp))
            return BAD(err, "logprobs", "'logprobs' must be an integer for completions, got a boolean");
        if (get_int(obj, "logprobs", 0, VC_OAI_MAX_TOP_LOGPROBS, &r->top_logprobs, err)) return -1;
        r->logprobs = true;
    }
    return 0;
}

static int parse_object(vc_oai_endpoint ep, json_t *obj, vc_oai_request *r, vc_oai_error *err) {
    json_t *model = field(obj, "model");
    if (model) {
        if (!json_is_string(model))
            return BAD(err, "model", "'model' must be a string, got %s", json_kind(model));
        if (!(r->model = dup_n(json_string_value(model), json_string_length(model))))
            return vc_oai_errorf(err, 500, "server_error", NULL, "model", "out of memory");
    }
    switch (ep) {
    case VC_OAI_CHAT:
        return parse_messages(obj, r, err) || parse_sampling(obj, r, err) ? -1 : 0;
    case VC_OAI_COMPLETION:
        return parse_prompt(obj, r, err) || parse_sampling(obj, r, err) ? -1 : 0;
    case VC_OAI_TOKENIZE: {
        bool has_messages = field(obj, "messages") != NULL;
        if (has_messages == (field(obj, "prompt") != NULL))
            return BAD(err, "prompt",
                       "exactly one of 'prompt' and 'messages' is required");
        /* the engine tokenizes every prompt (templated or not) with its
         * special tokens (a template's own BOS is not doubled), so /tokenize
         * counts what generation will see by default */
        r->add_special_tokens = true;
        if (get_bool(obj, "add_special_tokens", &r->add_special_tokens, err) ||
            get_bool(obj, "add_generation_prompt", &r->add_generation_prompt, err))
            return -1;
        if (has_messages) return parse_messages(obj, r, err);
        json_t *p = field(obj, "prompt");
        if (!json_is_string(p))
            return BAD(err, "prompt", "'prompt' must be a string, got %s", json_kind(p));
        return parse_prompt(obj, r, err);
    }
    case VC_OAI_DETOKENIZE: {
        json_t *t = field(obj, "tokens");
        if (!t) return BAD(err, "tokens", "'tokens' is required");
        if (!json_is_array(t)) return BAD(err, "tokens", "'tokens' must be a list of token ids, got %s", json_kind(t));
        return get_ids(t, "tokens", &r->tokens, &r->n_tokens, err);
    }
    }
    return BAD(err, "", "unknown endpoint");
}

int vc_oai_parse(vc_oai_endpoint ep, const char *body, size_t len, vc_oai_request *out,
                 vc_oai_error *err) {
    memset(out, 0, sizeof *out);
    out->endpoint = ep;
    out->max_tokens = -1;
    out->temperature = 1.f;
    out->top_p = 1.f;
    out->repetition_penalty = 1.f;
    out->seed = -1;
    out->n = 1;
    out->add_generation_prompt = true;

    if (!body || len == 0) return BAD(err, "", "the request body is empty; expected a JSON object");
    json_error_t jerr;
    json_t *root = json_loadb(body, len, 0, &jerr);
    if (!root)
        return BAD(err, "", "malformed JSON at line %d, column %d (byte %d): %s", jerr.line,
                   jerr.column, jerr.position, jerr.text);
    int rc;
    if (!json_is_object(root)) {
        rc = BAD(err, "", "the request body must be a JSON object, got %s", json_kind(root));
    } else {
        rc = parse_object(ep, root, out, err);
    }
    json_decref(root);
    if (rc) vc_oai_request_free(out);
    return rc;
}

void vc_oai_request_free(vc_oai_request *r) {
    if (!r) return;
    free(r->model);
    for (int i = 0; i < r->n_messages; i++) {
        free(r->messages[i].role);
        free(r->messages[i].content);
    }
    free(r->messages);
    for (int i = 0; i < r->n_prompts; i++) {
        free(r->prompts[i].text);
        free(r->prompts[i].ids);
    }
    free(r->prompts);
    free(r->tokens);
    for (int i = 0; i < r->n_stop; i++) free(r->stop[i]);
    free(r->stop);
    free(r->stop_token_ids);
    vc_oai_endpoint ep = r->endpoint;
    memset(r, 0, sizeof *r);
    r->endpoint = ep;
}
