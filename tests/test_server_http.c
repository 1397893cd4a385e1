/* The HTTP layer over real sockets, on a scripted engine (no model): routing,
 * status codes (404/405/401/413/429/400), non-streamed and streamed bodies,
 * SSE framing, cancellation on disconnect, timeouts, shutdown in flight.
 *
 * The scripted engine produces token 300+k with text "w<k+1> " at step k,
 * finishes with "length" at max_tokens, tokenizes one byte per token and
 * renders a chat as "<|role|>content\n"... + "<|assistant|>". */
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "common/testutil.h"
#include "server/server.h"

/* ---- the scripted engine ---------------------------------------------- */

#define FAKE_MAX 128
#define FAKE_CTX 64
#define FAKE_BLOCKS 100

typedef struct fake_req {
    bool used, cancelled;
    int64_t id;
    vllmc_output_fn fn;
    void *user;
    int max_tokens, produced, n_prompt, logprobs;
} fake_req;

typedef struct fake {
    pthread_mutex_t mu;
    fake_req reqs[FAKE_MAX];
    int64_t next_id;
    int n_active, n_cancelled, n_added;
    int step_delay_ms;
} fake;

static int64_t fake_add(void *ctx, const vllmc_request *r, char *err, size_t err_len) {
    fake *f = ctx;
    pthread_mutex_lock(&f->mu);
    for (int i = 0; i < FAKE_MAX; i++) {
        if (f->reqs[i].used) continue;
        f->reqs[i] = (fake_req){.used = true, .id = f->next_id++, .fn = r->on_output, .user = r->user,
                                .max_tokens = r->params.max_tokens, .n_prompt = r->n_prompt_ids,
                                .logprobs = r->params.logprobs};
        f->n_active++;
        f->n_added++;
        int64_t id = f->reqs[i].id;
        pthread_mutex_unlock(&f->mu);
        return id;
    }
    pthread_mutex_unlock(&f->mu);
    snprintf(err, err_len, "fake engine full");
    return -1;
}

static void fake_cancel(void *ctx, int64_t id) {
    fake *f = ctx;
    pthread_mutex_lock(&f->mu);
    for (int i = 0; i < FAKE_MAX; i++)
        if (f->reqs[i].used && f->reqs[i].id == id) f->reqs[i].cancelled = true;
    pthread_mutex_unlock(&f->mu);
}

static int fake_step(void *ctx) {
    fake *f = ctx;
    if (f->step_delay_ms) {
        struct timespec ts = {f->step_delay_ms / 1000, (f->step_delay_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    fake_req snap[FAKE_MAX];
    int n = 0;
    pthread_mutex_lock(&f->mu);
    for (int i = 0; i < FAKE_MAX; i++) {
        fake_req *q = &f->reqs[i];
        if (!q->used) continue;
        if (!q->cancelled) q->produced++;
        snap[n++] = *q;
        if (q->cancelled || q->produced >= q->max_tokens) {
            if (q->cancelled) f->n_cancelled++;
            q->used = false;
            f->n_active--;
        }
    }
    pthread_mutex_unlock(&f->mu);
    for (int i = 0; i < n; i++) {
        fake_req *q = &snap[i];
        vllmc_output o = {.request_id = q->id, .prompt_tokens = q->n_prompt, .completion_tokens = q->produced};
        char text[32] = "";
        int32_t tok = 300 + q->produced - 1;
        vllmc_logprob lps[1 + 8];
        if (q->cancelled) {
            o.finish = VLLMC_FINISH_ABORT;
            o.text = "";
        } else {
            snprintf(text, sizeof text, "w%d ", q->produced);
            o.text = text;
            o.text_len = strlen(text);
            o.tokens = &tok;
            o.n_tokens = 1;
            if (q->logprobs) {
                lps[0] = (vllmc_logprob){tok, -0.5f};
                for (int k = 1; k <= q->logprobs && k < 9; k++) lps[k] = (vllmc_logprob){(int32_t)('a' + k - 1), -1.0f * k};
                if (q->logprobs >= 3) lps[3].token = 0xF0;   /* a lone UTF-8 lead byte */
                o.logprobs = lps;
                o.n_top_logprobs = q->logprobs < 8 ? q->logprobs : 8;
            }
            if (q->produced >= q->max_tokens) o.finish = VLLMC_FINISH_LENGTH;
        }
        q->fn(&o, q->user);
    }
    return n;
}

static bool fake_unfinished(void *ctx) {
    fake *f = ctx;
    pthread_mutex_lock(&f->mu);
    bool b = f->n_active > 0;
    pthread_mutex_unlock(&f->mu);
    return b;
}

static void fake_stats(void *ctx, vllmc_stats *s) {
    fake *f = ctx;
    pthread_mutex_lock(&f->mu);
    int used = 0;
    for (int i = 0; i < FAKE_MAX; i++)
        if (f->reqs[i].used) used += 1 + (f->reqs[i].n_prompt + f->reqs[i].produced) / 16;
    s->kv_blocks_total = FAKE_BLOCKS;
    s->kv_blocks_free = FAKE_BLOCKS - used;
    s->running = f->n_active;
    pthread_mutex_unlock(&f->mu);
}

static const char *fake_name(void *ctx) { (void)ctx; return "fake-model"; }
static int fake_ctx_len(void *ctx) { (void)ctx; return FAKE_CTX; }

static int fake_tokenize(void *ctx, const char *text, bool add_special, int32_t **ids, int *n, char *err, size_t err_len) {
    (void)ctx; (void)err; (void)err_len;
    size_t len = strlen(text);
    *ids = malloc(sizeof **ids * (len + 1));
    int k = 0;
    if (add_special) (*ids)[k++] = 1;
    for (size_t i = 0; i < len; i++) (*ids)[k++] = (unsigned char)text[i];
    *n = k;
    return 0;
}

static int fake_detokenize(void *ctx, const int32_t *ids, int n, char **text, char *err, size_t err_len) {
    (void)ctx;
    char *out = malloc((size_t)n * 16 + 1);
    size_t w = 0;
    for (int i = 0; i < n; i++) {
        if (ids[i] >= 100000) {
            free(out);
            snprintf(err, err_len, "token id %d out of range", ids[i]);
            return -1;
        }
        if (ids[i] < 0x80) out[w++] = (char)ids[i];
        else if (ids[i] < 256) w += (size_t)sprintf(out + w, "\xEF\xBF\xBD");   /* lossy, as the real one */
        else w += (size_t)sprintf(out + w, "w%d ", ids[i] - 300 + 1);
    }
    out[w] = 0;
    *text = out;
    return 0;
}

static int fake_token_bytes(void *ctx, int32_t id, char **bytes, size_t *len, char *err, size_t err_len) {
    (void)ctx;
    if (id < 0 || id >= 100000) {
        snprintf(err, err_len, "token id %d out of range", id);
        return -1;
    }
    char *out = malloc(16);
    if (id < 256) {
        out[0] = (char)id;   /* raw: 0xF0 stays 0xF0 */
        out[1] = 0;
        *len = 1;
    } else {
        *len = (size_t)sprintf(out, "w%d ", id - 300 + 1);
    }
    *bytes = out;
    return 0;
}

static int fake_template(void *ctx, const vllmc_message *msgs, int n, bool gen, char **out, char *err, size_t err_len) {
    (void)ctx; (void)err; (void)err_len;
    size_t cap = 32;
    for (int i = 0; i < n; i++) cap += strlen(msgs[i].role) + strlen(msgs[i].content) + 8;
    char *s = malloc(cap);
    size_t w = 0;
    for (int i = 0; i < n; i++) w += (size_t)sprintf(s + w, "<|%s|>%s\n", msgs[i].role, msgs[i].content);
    if (gen) w += (size_t)sprintf(s + w, "<|assistant|>");
    s[w] = 0;
    *out = s;
    return 0;
}

typedef struct fixture {
    fake f;
    vc_server *s;
    int port;
} fixture;

static fixture *start(vc_server_options o) {
    fixture *fx = calloc(1, sizeof *fx);
    pthread_mutex_init(&fx->f.mu, NULL);
    vc_server_engine eng = {.ctx = &fx->f, .add_request = fake_add, .cancel = fake_cancel, .step = fake_step,
                            .has_unfinished = fake_unfinished, .get_stats = fake_stats, .model_name = fake_name,
                            .max_model_len = fake_ctx_len, .tokenize = fake_tokenize, .detokenize = fake_detokenize,
                            .token_bytes = fake_token_bytes,
                            .apply_chat_template = fake_template};
    o.host = "127.0.0.1";
    o.port = 0;
    o.quiet = getenv("VERBOSE") == NULL;
    vc_error err;
    if (vc_server_create(&fx->s, &o, &eng, &err)) fail_msg("%s", err.msg);
    fx->port = vc_server_port(fx->s);
    assert_true(fx->port > 0);
    return fx;
}

static void stop(fixture *fx) {
    vc_server_free(fx->s);
    assert_int_equal(fx->f.n_active, 0);
    pthread_mutex_destroy(&fx->f.mu);
    free(fx);
}

/* ---- a minimal HTTP client -------------------------------------------- */

static int dial(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static void send_str(int fd, const char *s, size_t n) {
    while (n) {
        ssize_t k = send(fd, s, n, MSG_NOSIGNAL);
        if (k <= 0) return;
        s += k;
        n -= (size_t)k;
    }
}

/* reads until the peer closes (or the receive timeout) */
static char *read_all(int fd, size_t *len) {
    size_t cap = 4096, n = 0;
    char *b = malloc(cap);
    for (;;) {
        if (n + 1024 > cap) b = realloc(b, cap *= 2);
        ssize_t k = recv(fd, b + n, cap - n - 1, 0);
        if (k <= 0) break;
        n += (size_t)k;
    }
    b[n] = 0;
    if (len) *len = n;
    return b;
}

typedef struct response {
    int status;
    char *raw;
    char *headers;   /* points into raw */
    char *body;      /* de-chunked copy */
    size_t body_len;
} response;

static void response_free(response *r) {
    free(r->raw);
    free(r->body);
}

static void parse_response(response *r, char *raw) {
    memset(r, 0, sizeof *r);
    r->raw = raw;
    r->status = strncmp(raw, "HTTP/1.", 7) == 0 ? atoi(raw + 9) : 0;
    r->headers = raw;
    char *sep = strstr(raw, "\r\n\r\n");
    const char *body = sep ? sep + 4 : "";
    size_t blen = strlen(body);
    r->body = malloc(blen + 1);
    if (sep && (strcasestr(raw, "transfer-encoding: chunked") != NULL) && strcasestr(raw, "transfer-encoding: chunked") < sep) {
        size_t w = 0;
        const char *p = body;
        for (;;) {
            char *end;
            unsigned long n = strtoul(p, &end, 16);
            if (end == p || n == 0) break;
            p = strstr(end, "\r\n");
            if (!p) break;
            p += 2;
            if ((size_t)(p - body) + n > blen) n = blen - (size_t)(p - body);
            memcpy(r->body + w, p, n);
            w += n;
            p += n;
            if (strncmp(p, "\r\n", 2) == 0) p += 2;
        }
        r->body_len = w;
    } else {
        memcpy(r->body, body, blen);
        r->body_len = blen;
    }
    r->body[r->body_len] = 0;
}

static response request(int port, const char *method, const char *path, const char *extra_headers, const char *body) {
    char head[1024];
    int fd = dial(port);
    int n = snprintf(head, sizeof head, "%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n%s%s", method,
                     path, extra_headers ? extra_headers : "", body ? "" : "\r\n");
    send_str(fd, head, (size_t)n);
    if (body) {
        n = snprintf(head, sizeof head, "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n", strlen(body));
        send_str(fd, head, (size_t)n);
        send_str(fd, body, strlen(body));
    }
    char *raw = read_all(fd, NULL);
    close(fd);
    response r;
    parse_response(&r, raw);
    return r;
}

static json_t *json_of(const response *r) {
    json_error_t e;
    json_t *j = json_loads(r->body, 0, &e);
    if (!j) fail_msg("not JSON (%s): status %d body '%s'", e.text, r->status, r->body);
    return j;
}

/* asserts an OpenAI-shaped error with the status */
static void expect_error(response r, int status, const char *code) {
    if (r.status != status) fail_msg("want %d, got %d: %s", status, r.status, r.raw);
    json_t *j = json_of(&r);
    json_t *e = json_object_get(j, "error");
    assert_true(json_is_object(e));
    assert_true(json_is_string(json_object_get(e, "message")));
    assert_true(json_is_string(json_object_get(e, "type")));
    assert_non_null(json_object_get(e, "param"));
    if (code) assert_string_equal(json_string_value(json_object_get(e, "code")), code);
    json_decref(j);
    response_free(&r);
}

static double metric_value(int port, const char *name) {
    response r = request(port, "GET", "/metrics", NULL, NULL);
    assert_int_equal(r.status, 200);
    size_t n = strlen(name);
    double v = -1;
    for (char *p = r.body; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (strncmp(p, name, n) == 0 && p[n] == ' ') v = atof(p + n + 1);
    response_free(&r);
    return v;
}

static bool wait_until_idle(fixture *fx, int ms) {
    for (int t = 0; t < ms; t += 10) {
        pthread_mutex_lock(&fx->f.mu);
        bool idle = fx->f.n_active == 0;
        pthread_mutex_unlock(&fx->f.mu);
        if (idle) return true;
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return false;
}

#define CHAT1 "{\"model\":\"fake-model\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]"

/* ---- tests ------------------------------------------------------------- */

static void test_routes(void **state) {
    (void)state;
    fixture *fx = start(vc_server_default_options());
    response r = request(fx->port, "GET", "/health", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, 0);
    response_free(&r);

    r = request(fx->port, "GET", "/v1/models", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strcasestr(r.headers, "content-type: application/json"));
    json_t *j = json_of(&r);
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(j, "data"), 0), "id")), "fake-model");
    json_decref(j);
    response_free(&r);

    expect_error(request(fx->port, "GET", "/v2/nothing", NULL, NULL), 404, "not_found");
    r = request(fx->port, "GET", "/v1/chat/completions", NULL, NULL);
    assert_non_null(strcasestr(r.headers, "allow: POST"));
    expect_error(r, 405, "method_not_allowed");
    expect_error(request(fx->port, "DELETE", "/v1/models", NULL, NULL), 405, "method_not_allowed");
    expect_error(request(fx->port, "POST", "/health", NULL, "{}"), 405, NULL);

    r = request(fx->port, "GET", "/metrics", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strcasestr(r.headers, "content-type: text/plain"));
    assert_non_null(strstr(r.body, "vllmc_kv_blocks_free 100\n"));
    assert_non_null(strstr(r.body, "vllmc_http_requests_total{status=\"404\"} 1\n"));
    response_free(&r);

    /* tokenize / detokenize */
    r = request(fx->port, "POST", "/tokenize", NULL, "{\"prompt\":\"ab\"}");
    assert_int_equal(r.status, 200);
    j = json_of(&r);
    assert_int_equal(json_integer_value(json_object_get(j, "count")), 3);   /* BOS + 2 bytes */
    assert_int_equal(json_integer_value(json_array_get(json_object_get(j, "tokens"), 1)), 'a');
    json_decref(j);
    response_free(&r);
    r = request(fx->port, "POST", "/tokenize", NULL, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}");
    j = json_of(&r);
    assert_int_equal(json_integer_value(json_object_get(j, "count")), 1 + (int)strlen("<|user|>x\n<|assistant|>"));
    json_decref(j);
    response_free(&r);
    r = request(fx->port, "POST", "/detokenize", NULL, "{\"tokens\":[104,105,300]}");
    j = json_of(&r);
    assert_string_equal(json_string_value(json_object_get(j, "prompt")), "hiw1 ");
    json_decref(j);
    response_free(&r);
    expect_error(request(fx->port, "POST", "/detokenize", NULL, "{\"tokens\":[100001]}"), 400, NULL);
    stop(fx);
}

static void test_api_key(void **state) {
    (void)state;
    vc_server_options o = vc_server_default_options();
    o.api_key = "sekrit";
    fixture *fx = start(o);
    response r = request(fx->port, "GET", "/v1/models", NULL, NULL);
    assert_non_null(strcasestr(r.headers, "www-authenticate: Bearer"));
    expect_error(r, 401, "invalid_api_key");
    expect_error(request(fx->port, "GET", "/v1/models", "Authorization: Bearer sekri\r\n", NULL), 401, "invalid_api_key");
    expect_error(request(fx->port, "GET", "/v1/models", "Authorization: Bearer sekrit2\r\n", NULL), 401, "invalid_api_key");
    expect_error(request(fx->port, "POST", "/v1/chat/completions", "Authorization: Basic sekrit\r\n", CHAT1 "}"), 401, NULL);
    r = request(fx->port, "GET", "/v1/models", "Authorization: Bearer sekrit\r\n", NULL);
    assert_int_equal(r.status, 200);
    response_free(&r);
    r = request(fx->port, "GET", "/health", NULL, NULL);
    assert_int_equal(r.status, 200);
    response_free(&r);
    stop(fx);
}

static void test_bad_requests(void **state) {
    (void)state;
    vc_server_options o = vc_server_default_options();
    o.max_body_bytes = 1024;
    fixture *fx = start(o);
    char big[3000];
    memset(big, ' ', sizeof big - 1);
    big[0] = '{';
    big[sizeof big - 2] = '}';
    big[sizeof big - 1] = 0;
    expect_error(request(fx->port, "POST", "/v1/completions", NULL, big), 413, "request_too_large");
    /* a declared size far over the limit is refused before any body byte */
    int fd0 = dial(fx->port);
    const char *h0 = "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n";
    send_str(fd0, h0, strlen(h0));
    response r0;
    parse_response(&r0, read_all(fd0, NULL));
    close(fd0);
    expect_error(r0, 413, "request_too_large");
    /* the same, chunked (no Content-Length) */
    int fd = dial(fx->port);
    const char *h = "POST /v1/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n";
    send_str(fd, h, strlen(h));
    for (int i = 0; i < 4; i++) {
        char chunk[600];
        int n = snprintf(chunk, sizeof chunk, "%x\r\n", 500);
        memset(chunk + n, ' ', 500);
        memcpy(chunk + n + 500, "\r\n", 2);
        send_str(fd, chunk, (size_t)n + 502);
    }
    send_str(fd, "0\r\n\r\n", 5);
    response r;
    parse_response(&r, read_all(fd, NULL));
    close(fd);
    expect_error(r, 413, "request_too_large");

    expect_error(request(fx->port, "POST", "/v1/chat/completions", NULL, "{\"messages\":"), 400, NULL);
    expect_error(request(fx->port, "POST", "/v1/chat/completions", NULL, ""), 400, NULL);
    expect_error(request(fx->port, "POST", "/v1/chat/completions", NULL, CHAT1 ",\"n\":\"2\"}"), 400, NULL);
    expect_error(request(fx->port, "POST", "/v1/chat/completions", NULL,
                         "{\"model\":\"gpt-9\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"), 404, "model_not_found");
    /* prompt over the context (64): the message names the counts */
    r = request(fx->port, "POST", "/v1/completions", NULL,
                "{\"prompt\":\"0123456789012345678901234567890123456789012345678901234567890123456789\"}");
    assert_non_null(strstr(r.body, "maximum context length is 64"));
    assert_non_null(strstr(r.body, "71 in the prompt"));
    expect_error(r, 400, "context_length_exceeded");
    r = request(fx->port, "POST", "/v1/completions", NULL, "{\"prompt\":\"abc\",\"max_tokens\":61}");
    assert_non_null(strstr(r.body, "65 tokens"));
    expect_error(r, 400, "context_length_exceeded");
    expect_error(request(fx->port, "POST", "/v1/completions", NULL, "{\"prompt\":[[5, 100005]]}"), 400, NULL);
    assert_int_equal(fx->f.n_added, 0);
    stop(fx);
}

static void test_chat_nonstream(void **state) {
    (void)state;
    fixture *fx = start(vc_server_default_options());
    response r = request(fx->port, "POST", "/v1/chat/completions", NULL, CHAT1 ",\"max_tokens\":3,\"n\":2,\"logprobs\":true,\"top_logprobs\":2}");
    assert_int_equal(r.status, 200);
    json_t *j = json_of(&r);
    assert_string_equal(json_string_value(json_object_get(j, "object")), "chat.completion");
    assert_int_equal(strncmp(json_string_value(json_object_get(j, "id")), "chatcmpl-", 9), 0);
    assert_string_equal(json_string_value(json_object_get(j, "model")), "fake-model");
    json_t *choices = json_object_get(j, "choices");
    assert_int_equal(json_array_size(choices), 2);
    for (int i = 0; i < 2; i++) {
        json_t *c = json_array_get(choices, (size_t)i);
        assert_int_equal(json_integer_value(json_object_get(c, "index")), i);
        assert_string_equal(json_string_value(json_object_get(json_object_get(c, "message"), "content")), "w1 w2 w3 ");
        assert_string_equal(json_string_value(json_object_get(c, "finish_reason")), "length");
        json_t *content = json_object_get(json_object_get(c, "logprobs"), "content");
        assert_int_equal(json_array_size(content), 3);
        json_t *p2 = json_array_get(content, 2);
        assert_string_equal(json_string_value(json_object_get(p2, "token")), "w3 ");
        assert_int_equal(json_array_size(json_object_get(p2, "top_logprobs")), 2);
        assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(p2, "top_logprobs"), 1), "token")), "b");
    }
    json_t *u = json_object_get(j, "usage");
    int prompt = 1 + (int)strlen("<|user|>hi\n<|assistant|>");   /* BOS + one token a byte */
    assert_int_equal(json_integer_value(json_object_get(u, "prompt_tokens")), prompt);
    assert_int_equal(json_integer_value(json_object_get(u, "completion_tokens")), 6);
    assert_int_equal(json_integer_value(json_object_get(u, "total_tokens")), prompt + 6);
    json_decref(j);
    response_free(&r);

    /* completions with two prompts and n=2: 4 choices, indexes prompt*n+j */
    r = request(fx->port, "POST", "/v1/completions", NULL, "{\"prompt\":[\"ab\",\"cde\"],\"n\":2,\"max_tokens\":2}");
    assert_int_equal(r.status, 200);
    j = json_of(&r);
    assert_int_equal(json_array_size(json_object_get(j, "choices")), 4);
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(j, "choices"), 3), "text")), "w1 w2 ");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "usage"), "prompt_tokens")), 3 + 4);   /* BOS + bytes */
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "usage"), "completion_tokens")), 8);
    json_decref(j);
    response_free(&r);
    /* completions default to 16 tokens */
    r = request(fx->port, "POST", "/v1/completions", NULL, "{\"prompt\":\"a\"}");
    j = json_of(&r);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "usage"), "completion_tokens")), 16);
    json_decref(j);
    response_free(&r);
    assert_true(metric_value(fx->port, "vllmc_generation_tokens_total") == 6 + 8 + 16);
    stop(fx);
}

/* splits an SSE body into its events (the JSON or [DONE] after "data: ") */
static int sse_events(char *body, char **ev, int max) {
    int n = 0;
    char *p = body;
    while (*p && n < max) {
        assert_int_equal(strncmp(p, "data: ", 6), 0);
        char *end = strstr(p, "\n\n");
        assert_non_null(end);
        *end = 0;
        ev[n++] = p + 6;
        p = end + 2;
    }
    return n;
}

/* logprob "bytes" are a token's raw bytes (a piece of a UTF-8 character
 * included); its "token" string shows U+FFFD */
static void test_logprob_raw_bytes(void **state) {
    (void)state;
    fixture *fx = start(vc_server_default_options());
    response r = request(fx->port, "POST", "/v1/chat/completions", NULL, CHAT1 ",\"max_tokens\":1,\"logprobs\":true,\"top_logprobs\":3}");
    assert_int_equal(r.status, 200);
    json_t *j = json_of(&r);
    json_t *e = json_array_get(json_object_get(json_object_get(json_array_get(json_object_get(j, "choices"), 0), "logprobs"), "content"), 0);
    json_t *alt = json_array_get(json_object_get(e, "top_logprobs"), 2);
    assert_string_equal(json_string_value(json_object_get(alt, "token")), "\xEF\xBF\xBD");
    json_t *bytes = json_object_get(alt, "bytes");
    assert_int_equal(json_array_size(bytes), 1);
    assert_int_equal(json_integer_value(json_array_get(bytes, 0)), 0xF0);
    /* the chosen token's bytes are its text */
    bytes = json_object_get(e, "bytes");
    assert_int_equal(json_array_size(bytes), 3);
    assert_int_equal(json_integer_value(json_array_get(bytes, 0)), 'w');
    json_decref(j);
    response_free(&r);
    stop(fx);
}

static void test_stream_framing(void **state) {
    (void)state;
    fixture *fx = start(vc_server_default_options());
    response r = request(fx->port, "POST", "/v1/chat/completions", NULL,
                         CHAT1 ",\"max_tokens\":3,\"stream\":true,\"stream_options\":{\"include_usage\":true}}");
    assert_int_equal(r.status, 200);
    assert_non_null(strcasestr(r.headers, "content-type: text/event-stream"));
    char *ev[32];
    if (getenv("VERBOSE")) fprintf(stderr, "RAW: %s\n", r.raw);
    int n = sse_events(r.body, ev, 32);
    /* role, 3 contents, finish, usage, [DONE] */
    assert_int_equal(n, 7);
    json_t *j[6];
    for (int i = 0; i < 6; i++) {
        j[i] = json_loads(ev[i], 0, NULL);
        assert_non_null(j[i]);
        assert_string_equal(json_string_value(json_object_get(j[i], "object")), "chat.completion.chunk");
    }
    json_t *d0 = json_object_get(json_array_get(json_object_get(j[0], "choices"), 0), "delta");
    assert_string_equal(json_string_value(json_object_get(d0, "role")), "assistant");
    assert_string_equal(json_string_value(json_object_get(d0, "content")), "");
    for (int i = 1; i <= 3; i++) {
        json_t *c = json_array_get(json_object_get(j[i], "choices"), 0);
        char want[16];
        snprintf(want, sizeof want, "w%d ", i);
        assert_string_equal(json_string_value(json_object_get(json_object_get(c, "delta"), "content")), want);
        assert_true(json_is_null(json_object_get(c, "finish_reason")));
    }
    json_t *c4 = json_array_get(json_object_get(j[4], "choices"), 0);
    assert_int_equal(json_object_size(json_object_get(c4, "delta")), 0);
    assert_string_equal(json_string_value(json_object_get(c4, "finish_reason")), "length");
    assert_int_equal(json_array_size(json_object_get(j[5], "choices")), 0);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j[5], "usage"), "completion_tokens")), 3);
    assert_string_equal(ev[6], "[DONE]");
    /* one id for the whole stream */
    for (int i = 1; i < 6; i++)
        assert_string_equal(json_string_value(json_object_get(j[i], "id")), json_string_value(json_object_get(j[0], "id")));
    for (int i = 0; i < 6; i++) json_decref(j[i]);
    response_free(&r);

    /* completions, n=2, no usage: 2x(2 texts + finish) + [DONE] */
    r = request(fx->port, "POST", "/v1/completions", NULL, "{\"prompt\":\"x\",\"max_tokens\":2,\"n\":2,\"stream\":true,\"logprobs\":1}");
    assert_int_equal(r.status, 200);
    n = sse_events(r.body, ev, 32);
    assert_int_equal(n, 7);
    assert_string_equal(ev[6], "[DONE]");
    int texts[2] = {0, 0}, finishes[2] = {0, 0};
    for (int i = 0; i < 6; i++) {
        json_t *e = json_loads(ev[i], 0, NULL);
        json_t *c = json_array_get(json_object_get(e, "choices"), 0);
        int idx = (int)json_integer_value(json_object_get(c, "index"));
        assert_true(idx == 0 || idx == 1);
        if (json_is_string(json_object_get(c, "finish_reason"))) {
            finishes[idx]++;
        } else {
            texts[idx]++;
            json_t *lp = json_object_get(c, "logprobs");
            assert_int_equal(json_array_size(json_object_get(lp, "tokens")), 1);
        }
        json_decref(e);
    }
    assert_true(texts[0] == 2 && texts[1] == 2 && finishes[0] == 1 && finishes[1] == 1);
    response_free(&r);
    stop(fx);
}

/* reads until `needle` shows up in what arrived */
static void read_until(int fd, const char *needle) {
    char buf[8192];
    size_t n = 0;
    while (n < sizeof buf - 1) {
        ssize_t k = recv(fd, buf + n, sizeof buf - 1 - n, 0);
        assert_true(k > 0);
        n += (size_t)k;
        buf[n] = 0;
        if (strstr(buf, needle)) return;
    }
    fail_msg("'%s' never arrived", needle);
}

static int open_request(int port, const char *path, const char *body) {
    int fd = dial(port);
    char head[512];
    int n = snprintf(head, sizeof head, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n", path, strlen(body));
    send_str(fd, head, (size_t)n);
    send_str(fd, body, strlen(body));
    return fd;
}

static void test_disconnect_cancels(void **state) {
    (void)state;
    fixture *fx = start(vc_server_default_options());
    fx->f.step_delay_ms = 5;
    /* streamed: read the first content, then hang up */
    int fd = open_request(fx->port, "/v1/completions", "{\"prompt\":\"x\",\"max_tokens\":60,\"stream\":true,\"n\":2}");
    read_until(fd, "w2 ");
    close(fd);
    assert_true(wait_until_idle(fx, 10000));
    assert_int_equal(fx->f.n_cancelled, 2);
    /* non-streamed: hang up while it generates */
    fd = open_request(fx->port, "/v1/chat/completions", CHAT1 ",\"max_tokens\":35}");
    for (int t = 0; t < 200 && fx->f.n_added < 3; t++) {
        struct timespec ts = {0, 5 * 1000000L};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(fx->f.n_added, 3);
    close(fd);
    assert_true(wait_until_idle(fx, 10000));
    assert_int_equal(fx->f.n_cancelled, 3);
    assert_true(metric_value(fx->port, "vllmc_kv_blocks_free") == FAKE_BLOCKS);
    assert_true(metric_value(fx->port, "vllmc_num_requests_running") == 0);
    /* the fake engine reports idle just before it sends the final events */
    double aborted = 0;
    for (int t = 0; t < 300 && (aborted = metric_value(fx->port, "vllmc_request_aborted_total")) != 3; t++) {
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    assert_true(aborted == 3);
    assert_true(metric_value(fx->port, "vllmc_request_success_total") == 0);
    stop(fx);
}

static void test_queue_full_429(void **state) {
    (void)state;
    vc_server_options o = vc_server_default_options();
    o.max_pending = 1;
    fixture *fx = start(o);
    fx->f.step_delay_ms = 5;
    int fd = open_request(fx->port, "/v1/completions", "{\"prompt\":\"x\",\"max_tokens\":60,\"stream\":true}");
    read_until(fd, "w1 ");
    expect_error(request(fx->port, "POST", "/v1/completions", NULL, "{\"prompt\":\"x\",\"max_tokens\":2}"), 429, "rate_limit_exceeded");
    close(fd);
    assert_true(wait_until_idle(fx, 10000));
    /* the slot frees once the job is gone */
    response r = {0};
    for (int t = 0; t < 100; t++) {
        r = request(fx->port, "POST", "/v1/completions", NULL, "{\"prompt\":\"x\",\"max_tokens\":2}");
        if (r.status != 429) break;
        response_free(&r);
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(r.status, 200);
    response_free(&r);
    stop(fx);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* a body over the limit announced with "Expect: 100-continue" gets the 413
 * at once, not a "100 Continue" that makes the client send it all */
static void test_expect_continue_413(void **state) {
    (void)state;
    vc_server_options o = vc_server_default_options();
    o.max_body_bytes = 1000;
    fixture *fx = start(o);
    int fd = dial(fx->port);
    const char *h = "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n"
                    "Expect: 100-continue\r\n\r\n";
    send_str(fd, h, strlen(h));
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buf[512];
    ssize_t got = recv(fd, buf, sizeof buf - 1, 0);
    assert_true(got > 12);
    buf[got] = 0;
    assert_int_equal(strncmp(buf, "HTTP/1.1 413", 12), 0);
    close(fd);
    /* within the limit the client gets its 100 and an answer */
    fd = dial(fx->port);
    const char *body = "{\"prompt\":\"x\",\"max_tokens\":1}";
    char head[256];
    int n = snprintf(head, sizeof head, "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n"
                     "Expect: 100-continue\r\nConnection: close\r\n\r\n", strlen(body));
    send_str(fd, head, (size_t)n);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    got = recv(fd, buf, sizeof buf - 1, 0);
    assert_true(got > 12);
    buf[got] = 0;
    assert_int_equal(strncmp(buf, "HTTP/1.1 100", 12), 0);
    send_str(fd, body, strlen(body));
    char *rest = read_all(fd, NULL);
    assert_non_null(strstr(rest, "HTTP/1.1 200"));
    free(rest);
    close(fd);
    stop(fx);
}

static void test_timeouts(void **state) {
    (void)state;
    vc_server_options o = vc_server_default_options();
    o.idle_timeout_s = 1;
    o.read_timeout_s = 1;
    fixture *fx = start(o);
    /* idle: connect and say nothing; half a request line */
    for (int k = 0; k < 2; k++) {
        int fd = dial(fx->port);
        if (k) send_str(fd, "POST /v1/comp", 13);
        double t0 = now_s();
        char buf[256];
        ssize_t got = recv(fd, buf, sizeof buf, 0);
        double dt = now_s() - t0;
        assert_true(got <= 0 || (got > 0 && strncmp(buf, "HTTP/1.1 4", 10) == 0));
        assert_true(dt < 4.0);
        close(fd);
    }
    /* a slow body: 4 bytes every 300 ms never finishes within 1 s */
    int fd = dial(fx->port);
    const char *h = "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 60\r\n\r\n";
    send_str(fd, h, strlen(h));
    double t0 = now_s();
    bool closed = false;
    for (int i = 0; i < 15 && !closed; i++) {
        if (send(fd, "    ", 4, MSG_NOSIGNAL) < 0) closed = true;
        struct timespec ts = {0, 300 * 1000000L};
        nanosleep(&ts, NULL);
        char c;
        ssize_t k = recv(fd, &c, 1, MSG_DONTWAIT);
        if (k == 0 || (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) closed = true;
    }
    assert_true(closed);
    assert_true(now_s() - t0 < 4.0);
    close(fd);
    /* and the server still serves */
    response r = request(fx->port, "GET", "/health", NULL, NULL);
    assert_int_equal(r.status, 200);
    response_free(&r);
    stop(fx);
}

/* an engine slower than the idle timeout is not the client's fault: the
 * response must arrive whole (streamed and not) */
static void test_slow_engine_not_timed_out(void **state) {
    (void)state;
    vc_server_options o = vc_server_default_options();
    o.idle_timeout_s = 1;
    fixture *fx = start(o);
    fx->f.step_delay_ms = 1600;
    int fd = open_request(fx->port, "/v1/completions", "{\"prompt\":\"x\",\"max_tokens\":2,\"stream\":true}");
    response r = request(fx->port, "POST", "/v1/completions", NULL, "{\"prompt\":\"y\",\"max_tokens\":2}");
    assert_int_equal(r.status, 200);
    json_t *j = json_of(&r);
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(j, "choices"), 0), "text")), "w1 w2 ");
    json_decref(j);
    response_free(&r);
    read_until(fd, "data: [DONE]");
    close(fd);
    stop(fx);
}

static void test_shutdown_in_flight(void **state) {
    (void)state;
    fixture *fx = start(vc_server_default_options());
    fx->f.step_delay_ms = 5;
    int fd1 = open_request(fx->port, "/v1/completions", "{\"prompt\":\"x\",\"max_tokens\":60,\"stream\":true}");
    int fd2 = open_request(fx->port, "/v1/completions", "{\"prompt\":\"y\",\"max_tokens\":60}");
    read_until(fd1, "w1 ");
    double t0 = now_s();
    stop(fx);   /* cancels both, drains the engine, joins every thread */
    assert_true(now_s() - t0 < 3.0);
    close(fd1);
    close(fd2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routes),          cmocka_unit_test(test_api_key),
        cmocka_unit_test(test_bad_requests),    cmocka_unit_test(test_chat_nonstream),
        cmocka_unit_test(test_logprob_raw_bytes), cmocka_unit_test(test_stream_framing),  cmocka_unit_test(test_disconnect_cancels),
        cmocka_unit_test(test_queue_full_429),  cmocka_unit_test(test_timeouts),
        cmocka_unit_test(test_expect_continue_413),
        cmocka_unit_test(test_slow_engine_not_timed_out), cmocka_unit_test(test_shutdown_in_flight),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
