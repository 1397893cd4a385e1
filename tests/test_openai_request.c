/* OpenAI request parsing: defaults, field types and ranges, error shapes,
 * and a fuzz-ish batch of malformed bodies (each must be a 4xx, no crash). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/testutil.h"
#include "server/openai_request.h"

static int parse(vc_oai_endpoint ep, const char *body, vc_oai_request *r, vc_oai_error *e) {
    memset(e, 0, sizeof *e);
    return vc_oai_parse(ep, body, strlen(body), r, e);
}

/* asserts a 400 naming `param` (when given) */
static void expect_400(vc_oai_endpoint ep, const char *body, const char *param) {
    vc_oai_request r;
    vc_oai_error e;
    int rc = parse(ep, body, &r, &e);
    if (rc != -1 || e.status != 400 || (param && strcmp(e.param, param) != 0))
        fail_msg("body %s: rc=%d status=%d param='%s' (want 400, '%s'): %s", body, rc, e.status, e.param,
                 param ? param : "", e.message);
    assert_string_equal(e.type, "invalid_request_error");
    assert_true(strlen(e.message) > 0);
    assert_null(r.messages);
    assert_null(r.prompts);
}

static void test_chat_defaults(void **state) {
    (void)state;
    vc_oai_request r;
    vc_oai_error e;
    assert_int_equal(parse(VC_OAI_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", &r, &e), 0);
    assert_string_equal(r.model, "m");
    assert_int_equal(r.n_messages, 1);
    assert_string_equal(r.messages[0].role, "user");
    assert_string_equal(r.messages[0].content, "hi");
    assert_int_equal(r.max_tokens, -1);
    assert_true(r.temperature == 1.f && r.top_p == 1.f && r.top_k == 0 && r.min_p == 0.f);
    assert_true(r.presence_penalty == 0.f && r.frequency_penalty == 0.f && r.repetition_penalty == 1.f);
    assert_int_equal(r.seed, -1);
    assert_int_equal(r.n, 1);
    assert_false(r.stream);
    assert_false(r.include_usage);
    assert_false(r.logprobs);
    assert_int_equal(r.n_stop, 0);
    assert_false(r.ignore_eos);
    vc_oai_request_free(&r);
}

static void test_chat_all_fields(void **state) {
    (void)state;
    vc_oai_request r;
    vc_oai_error e;
    const char *body =
        "{\"messages\":[{\"role\":\"system\",\"content\":\"be brief\"},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},{\"type\":\"text\",\"text\":\"b\"}]},"
        "{\"role\":\"assistant\",\"content\":null}],"
        "\"max_tokens\":10,\"max_completion_tokens\":12,\"temperature\":0.5,\"top_p\":0.9,\"top_k\":-1,"
        "\"min_p\":0.05,\"presence_penalty\":-1.5,\"frequency_penalty\":2,\"repetition_penalty\":1.1,"
        "\"seed\":-7,\"stop\":[\"x\",\"yz\"],\"n\":2,\"stream\":true,\"stream_options\":{\"include_usage\":true},"
        "\"logprobs\":true,\"top_logprobs\":3,\"ignore_eos\":true,\"user\":\"ignored\",\"tools\":[1,{}],"
        "\"stop_token_ids\":[5,6],\"response_format\":null}";
    assert_int_equal(parse(VC_OAI_CHAT, body, &r, &e), 0);
    assert_null(r.model);
    assert_int_equal(r.n_messages, 3);
    assert_string_equal(r.messages[1].content, "a\nb");
    assert_string_equal(r.messages[2].content, "");
    assert_int_equal(r.max_tokens, 12);   /* max_completion_tokens wins */
    assert_true(r.temperature == 0.5f && r.top_p == 0.9f && r.top_k == 0);
    assert_true(r.min_p == 0.05f && r.presence_penalty == -1.5f && r.frequency_penalty == 2.f);
    assert_true(r.repetition_penalty == 1.1f);
    assert_true(r.seed >= 0);            /* negative seeds map to a fixed non-negative one */
    assert_int_equal(r.n_stop, 2);
    assert_string_equal(r.stop[1], "yz");
    assert_int_equal(r.n, 2);
    assert_true(r.stream && r.include_usage && r.logprobs && r.ignore_eos);
    assert_int_equal(r.top_logprobs, 3);
    assert_int_equal(r.n_stop_token_ids, 2);
    assert_int_equal(r.stop_token_ids[1], 6);
    vc_oai_request_free(&r);

    /* the same negative seed maps to the same value */
    vc_oai_request r2;
    assert_int_equal(parse(VC_OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"\"}],\"seed\":-7}", &r2, &e), 0);
    vc_oai_request r3;
    assert_int_equal(parse(VC_OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"\"}],\"seed\":-7}", &r3, &e), 0);
    assert_true(r2.seed == r3.seed && r2.seed >= 0);
    vc_oai_request_free(&r2);
    vc_oai_request_free(&r3);
}

static void test_completion_prompts(void **state) {
    (void)state;
    vc_oai_request r;
    vc_oai_error e;
    assert_int_equal(parse(VC_OAI_COMPLETION, "{\"prompt\":\"Once\",\"stop\":\"\\n\",\"logprobs\":2,\"max_tokens\":16.0}", &r, &e), 0);
    assert_int_equal(r.n_prompts, 1);
    assert_string_equal(r.prompts[0].text, "Once");
    assert_int_equal(r.n_stop, 1);
    assert_string_equal(r.stop[0], "\n");
    assert_true(r.logprobs);
    assert_int_equal(r.top_logprobs, 2);
    assert_int_equal(r.max_tokens, 16);
    vc_oai_request_free(&r);

    assert_int_equal(parse(VC_OAI_COMPLETION, "{\"prompt\":[\"a\",\"b\",\"c\"],\"logprobs\":0}", &r, &e), 0);
    assert_int_equal(r.n_prompts, 3);
    assert_string_equal(r.prompts[2].text, "c");
    assert_true(r.logprobs);
    assert_int_equal(r.top_logprobs, 0);
    vc_oai_request_free(&r);

    assert_int_equal(parse(VC_OAI_COMPLETION, "{\"prompt\":[1,2,3]}", &r, &e), 0);
    assert_int_equal(r.n_prompts, 1);
    assert_null(r.prompts[0].text);
    assert_int_equal(r.prompts[0].n_ids, 3);
    assert_int_equal(r.prompts[0].ids[2], 3);
    vc_oai_request_free(&r);

    assert_int_equal(parse(VC_OAI_COMPLETION, "{\"prompt\":[[1,2],\"x\",[7]]}", &r, &e), 0);
    assert_int_equal(r.n_prompts, 3);
    assert_int_equal(r.prompts[0].n_ids, 2);
    assert_string_equal(r.prompts[1].text, "x");
    assert_int_equal(r.prompts[2].ids[0], 7);
    vc_oai_request_free(&r);
}

static void test_tokenize_detokenize(void **state) {
    (void)state;
    vc_oai_request r;
    vc_oai_error e;
    assert_int_equal(parse(VC_OAI_TOKENIZE, "{\"prompt\":\"hi\"}", &r, &e), 0);
    assert_true(r.add_special_tokens);
    assert_string_equal(r.prompts[0].text, "hi");
    vc_oai_request_free(&r);
    assert_int_equal(parse(VC_OAI_TOKENIZE, "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"add_generation_prompt\":false}", &r, &e), 0);
    assert_true(r.add_special_tokens);
    assert_false(r.add_generation_prompt);
    assert_int_equal(r.n_messages, 1);
    vc_oai_request_free(&r);
    assert_int_equal(parse(VC_OAI_DETOKENIZE, "{\"tokens\":[0,5,2147483647]}", &r, &e), 0);
    assert_int_equal(r.n_tokens, 3);
    assert_int_equal(r.tokens[2], 2147483647);
    vc_oai_request_free(&r);
    expect_400(VC_OAI_TOKENIZE, "{}", "prompt");
    expect_400(VC_OAI_TOKENIZE, "{\"prompt\":\"a\",\"messages\":[]}", "prompt");
    expect_400(VC_OAI_TOKENIZE, "{\"prompt\":[1]}", "prompt");
    expect_400(VC_OAI_DETOKENIZE, "{}", "tokens");
    expect_400(VC_OAI_DETOKENIZE, "{\"tokens\":[-1]}", "tokens");
    expect_400(VC_OAI_DETOKENIZE, "{\"tokens\":[2147483648]}", "tokens");
    expect_400(VC_OAI_DETOKENIZE, "{\"tokens\":[1.5]}", "tokens");
    expect_400(VC_OAI_DETOKENIZE, "{\"tokens\":\"1 2\"}", "tokens");
}

static void test_nulls_are_absent(void **state) {
    (void)state;
    vc_oai_request r;
    vc_oai_error e;
    assert_int_equal(parse(VC_OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"model\":null,"
                                        "\"temperature\":null,\"stop\":null,\"n\":null,\"stream\":null,\"seed\":null}", &r, &e), 0);
    assert_null(r.model);
    assert_true(r.temperature == 1.f);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.seed, -1);
    vc_oai_request_free(&r);
}

#define M "\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]"

static void test_wrong_types(void **state) {
    (void)state;
    expect_400(VC_OAI_CHAT, "{" M ",\"temperature\":\"0.5\"}", "temperature");
    expect_400(VC_OAI_CHAT, "{" M ",\"top_p\":true}", "top_p");
    expect_400(VC_OAI_CHAT, "{" M ",\"top_k\":1.5}", "top_k");
    expect_400(VC_OAI_CHAT, "{" M ",\"max_tokens\":\"16\"}", "max_tokens");
    expect_400(VC_OAI_CHAT, "{" M ",\"max_completion_tokens\":[16]}", "max_completion_tokens");
    expect_400(VC_OAI_CHAT, "{" M ",\"n\":{}}", "n");
    expect_400(VC_OAI_CHAT, "{" M ",\"stream\":1}", "stream");
    expect_400(VC_OAI_CHAT, "{" M ",\"stream\":\"true\"}", "stream");
    expect_400(VC_OAI_CHAT, "{" M ",\"seed\":\"1\"}", "seed");
    expect_400(VC_OAI_CHAT, "{" M ",\"stop\":5}", "stop");
    expect_400(VC_OAI_CHAT, "{" M ",\"stop\":[\"a\",5]}", "stop");
    expect_400(VC_OAI_CHAT, "{" M ",\"stop\":[\"\"]}", "stop");
    expect_400(VC_OAI_CHAT, "{" M ",\"logprobs\":1}", "logprobs");
    expect_400(VC_OAI_CHAT, "{" M ",\"top_logprobs\":2}", "top_logprobs");
    expect_400(VC_OAI_CHAT, "{" M ",\"ignore_eos\":\"no\"}", "ignore_eos");
    expect_400(VC_OAI_CHAT, "{" M ",\"model\":3}", "model");
    expect_400(VC_OAI_CHAT, "{" M ",\"stream_options\":true,\"stream\":true}", "stream_options");
    expect_400(VC_OAI_CHAT, "{" M ",\"stream_options\":{\"include_usage\":1},\"stream\":true}", "stream_options.include_usage");
    expect_400(VC_OAI_CHAT, "{" M ",\"stream_options\":{\"include_usage\":true}}", "stream_options");
    expect_400(VC_OAI_CHAT, "{" M ",\"stop_token_ids\":[\"a\"]}", "stop_token_ids");
    expect_400(VC_OAI_COMPLETION, "{\"prompt\":\"x\",\"logprobs\":true}", "logprobs");
    expect_400(VC_OAI_COMPLETION, "{\"prompt\":5}", "prompt");
    expect_400(VC_OAI_COMPLETION, "{\"prompt\":[]}", "prompt");
    expect_400(VC_OAI_COMPLETION, "{\"prompt\":[\"a\",5]}", "prompt[1]");
    expect_400(VC_OAI_COMPLETION, "{\"prompt\":[\"a\",[]]}", "prompt[1]");
    expect_400(VC_OAI_COMPLETION, "{\"prompt\":[1,\"a\"]}", "prompt");
    expect_400(VC_OAI_COMPLETION, "{\"prompt\":[[1,-2]]}", "prompt[0]");
    expect_400(VC_OAI_COMPLETION, "{\"prompt\":{\"text\":\"a\"}}", "prompt");
}

static void test_ranges(void **state) {
    (void)state;
    expect_400(VC_OAI_CHAT, "{" M ",\"temperature\":-0.1}", "temperature");
    expect_400(VC_OAI_CHAT, "{" M ",\"temperature\":2.5}", "temperature");
    expect_400(VC_OAI_CHAT, "{" M ",\"top_p\":0}", "top_p");
    expect_400(VC_OAI_CHAT, "{" M ",\"top_p\":1.01}", "top_p");
    expect_400(VC_OAI_CHAT, "{" M ",\"top_k\":-2}", "top_k");
    expect_400(VC_OAI_CHAT, "{" M ",\"min_p\":1.5}", "min_p");
    expect_400(VC_OAI_CHAT, "{" M ",\"presence_penalty\":-3}", "presence_penalty");
    expect_400(VC_OAI_CHAT, "{" M ",\"frequency_penalty\":2.01}", "frequency_penalty");
    expect_400(VC_OAI_CHAT, "{" M ",\"repetition_penalty\":0}", "repetition_penalty");
    expect_400(VC_OAI_CHAT, "{" M ",\"max_tokens\":0}", "max_tokens");
    expect_400(VC_OAI_CHAT, "{" M ",\"max_tokens\":-5}", "max_tokens");
    expect_400(VC_OAI_CHAT, "{" M ",\"max_tokens\":4294967296}", "max_tokens");
    expect_400(VC_OAI_CHAT, "{" M ",\"max_tokens\":1e300}", "max_tokens");
    expect_400(VC_OAI_CHAT, "{" M ",\"n\":0}", "n");
    expect_400(VC_OAI_CHAT, "{" M ",\"n\":17}", "n");
    expect_400(VC_OAI_CHAT, "{" M ",\"n\":-1}", "n");
    expect_400(VC_OAI_CHAT, "{" M ",\"logprobs\":true,\"top_logprobs\":21}", "top_logprobs");
    expect_400(VC_OAI_CHAT, "{" M ",\"seed\":1.5}", "seed");
    expect_400(VC_OAI_COMPLETION, "{\"prompt\":\"x\",\"logprobs\":-1}", "logprobs");
    expect_400(VC_OAI_COMPLETION, "{\"prompt\":\"x\",\"logprobs\":21}", "logprobs");
    /* limits on list lengths */
    char body[4096];
    int w = snprintf(body, sizeof body, "{" M ",\"stop\":[");
    for (int i = 0; i < VC_OAI_MAX_STOP + 1; i++) w += snprintf(body + w, sizeof body - (size_t)w, "%s\"s%d\"", i ? "," : "", i);
    snprintf(body + w, sizeof body - (size_t)w, "]}");
    expect_400(VC_OAI_CHAT, body, "stop");
    /* boundaries that are fine */
    vc_oai_request r;
    vc_oai_error e;
    assert_int_equal(parse(VC_OAI_CHAT, "{" M ",\"temperature\":0,\"top_p\":1,\"n\":16,\"presence_penalty\":-2,\"min_p\":1,\"seed\":9223372036854775807}", &r, &e), 0);
    assert_int_equal(r.seed, INT64_MAX);
    vc_oai_request_free(&r);
}

static void test_messages(void **state) {
    (void)state;
    expect_400(VC_OAI_CHAT, "{}", "messages");
    expect_400(VC_OAI_CHAT, "{\"messages\":null}", "messages");
    expect_400(VC_OAI_CHAT, "{\"messages\":[]}", "messages");
    expect_400(VC_OAI_CHAT, "{\"messages\":\"hi\"}", "messages");
    expect_400(VC_OAI_CHAT, "{\"messages\":[\"hi\"]}", "messages[0]");
    expect_400(VC_OAI_CHAT, "{\"messages\":[{\"content\":\"hi\"}]}", "messages[0].role");
    expect_400(VC_OAI_CHAT, "{\"messages\":[{\"role\":\"wizard\",\"content\":\"hi\"}]}", "messages[0].role");
    expect_400(VC_OAI_CHAT, "{\"messages\":[{\"role\":7,\"content\":\"hi\"}]}", "messages[0].role");
    expect_400(VC_OAI_CHAT, "{\"messages\":[{\"role\":\"user\"}]}", "messages[0].content");
    expect_400(VC_OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":5}]}", "messages[0].content");
    expect_400(VC_OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{}}]}]}", "messages[0].content");
    expect_400(VC_OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\"}]}]}", "messages[0].content");
    expect_400(VC_OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":[\"x\"]}]}", "messages[0].content");
    expect_400(VC_OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"},{\"role\":\"user\",\"content\":{}}]}", "messages[1].content");
}

static void test_malformed_json(void **state) {
    (void)state;
    expect_400(VC_OAI_CHAT, "", "");
    expect_400(VC_OAI_CHAT, "{", "");
    expect_400(VC_OAI_CHAT, "[]", "");
    expect_400(VC_OAI_CHAT, "null", "");
    expect_400(VC_OAI_CHAT, "\"x\"", "");
    expect_400(VC_OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"\\u0000\"}]}", "");
    expect_400(VC_OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"\xff\xfe\"}]}", "");
    expect_400(VC_OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"\xc3\"}]}", "");
    expect_400(VC_OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"\\ud800\"}]}", "");
    expect_400(VC_OAI_CHAT, "{\"max_tokens\":99999999999999999999999," M "}", "");
    expect_400(VC_OAI_CHAT, "{\"temperature\":1e999," M "}", "");
    expect_400(VC_OAI_CHAT, "{" M "} trailing", "");
    /* a message names the position */
    vc_oai_request r;
    vc_oai_error e;
    assert_int_equal(parse(VC_OAI_CHAT, "{\"a\":}", &r, &e), -1);
    assert_non_null(strstr(e.message, "column"));
}

/* ---- fuzz-ish: every body below must be refused with a 4xx ------------ */

static unsigned rng_next(unsigned *s) {
    *s = *s * 1103515245u + 12345u;
    return *s >> 8;
}

static int count_4xx;

static void expect_4xx_len(vc_oai_endpoint ep, const char *body, size_t len) {
    vc_oai_request r;
    vc_oai_error e;
    memset(&e, 0, sizeof e);
    int rc = vc_oai_parse(ep, body, len, &r, &e);
    if (rc != -1 || e.status < 400 || e.status > 499)
        fail_msg("malformed body #%d (%zu bytes) accepted or not 4xx: rc=%d status=%d", count_4xx, len, rc, e.status);
    count_4xx++;
}

static void test_fuzz_malformed(void **state) {
    (void)state;
    const char *valid =
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"h\\u00e9llo\"}]}],"
        "\"max_tokens\":16,\"temperature\":0.7,\"stop\":[\"a\",\"b\"],\"n\":2,\"stream\":true,"
        "\"stream_options\":{\"include_usage\":true},\"logprobs\":true,\"top_logprobs\":2}";
    size_t vlen = strlen(valid);
    /* the valid body parses */
    vc_oai_request r;
    vc_oai_error e;
    assert_int_equal(vc_oai_parse(VC_OAI_CHAT, valid, vlen, &r, &e), 0);
    vc_oai_request_free(&r);
    count_4xx = 0;

    /* 1. every strict prefix (truncated bodies) */
    for (size_t cut = 0; cut < vlen; cut++) expect_4xx_len(VC_OAI_CHAT, valid, cut);

    /* 2. a byte replaced by one that cannot appear there: an invalid UTF-8
     *    lead byte inside strings or a stray byte in structure */
    char *buf = malloc(vlen + 1);
    for (size_t pos = 0; pos < vlen; pos += 7) {
        memcpy(buf, valid, vlen);
        buf[pos] = (char)0xff;
        expect_4xx_len(VC_OAI_CHAT, buf, vlen);
    }
    free(buf);

    /* 3. deep nesting: arrays and objects 100000 levels deep */
    size_t depth = 100000;
    char *deep = malloc(depth * 2 + 64);
    for (int kind = 0; kind < 2; kind++) {
        size_t w = (size_t)sprintf(deep, "{" M ",\"x\":");
        for (size_t i = 0; i < depth; i++) deep[w++] = kind ? '[' : '{';
        if (kind == 0) {   /* {{{... is malformed anyway; make it {"a":{"a":... */
            w = (size_t)sprintf(deep, "{" M ",\"x\":");
            for (size_t i = 0; i < depth / 5; i++) w += (size_t)sprintf(deep + w, "{\"a\":");
        }
        expect_4xx_len(VC_OAI_CHAT, deep, w);
    }
    /* closed deep nesting (valid JSON past jansson's depth limit) */
    {
        size_t w = (size_t)sprintf(deep, "{" M ",\"x\":");
        size_t d = 5000;
        for (size_t i = 0; i < d; i++) deep[w++] = '[';
        for (size_t i = 0; i < d; i++) deep[w++] = ']';
        deep[w++] = '}';
        expect_4xx_len(VC_OAI_CHAT, deep, w);
    }
    free(deep);

    /* 4. hostile values for every typed field */
    const char *fields[] = {"max_tokens", "max_completion_tokens", "temperature", "top_p", "top_k", "min_p",
                            "presence_penalty", "frequency_penalty", "repetition_penalty", "seed", "n",
                            "stream", "stop", "logprobs", "top_logprobs", "ignore_eos", "model",
                            "stream_options", "stop_token_ids"};
    const char *values[] = {"\"x\"", "[1]", "{}", "-1e400", "1e400", "-99999999999999999999999",
                            "99999999999999999999999", "[[[[]]]]", "\"\\ud800\"", "1e-400x", "tru", "-"};
    char body[1024];
    for (size_t f = 0; f < sizeof fields / sizeof *fields; f++) {
        for (size_t v = 0; v < sizeof values / sizeof *values; v++) {
            int n = snprintf(body, sizeof body, "{" M ",\"%s\":%s}", fields[f], values[v]);
            /* "model":"x" and "stop":"x" are valid; a top_logprobs without logprobs is not */
            if (!strcmp(values[v], "\"x\"") && (!strcmp(fields[f], "model") || !strcmp(fields[f], "stop")))
                continue;
            if (!strcmp(values[v], "[1]") && !strcmp(fields[f], "stop_token_ids")) continue;
            expect_4xx_len(VC_OAI_CHAT, body, (size_t)n);
        }
    }

    /* 5. random bytes (never valid JSON objects: they start with a non-'{' byte) */
    unsigned seed = 12345;
    char junk[256];
    for (int i = 0; i < 100; i++) {
        size_t n = 1 + rng_next(&seed) % (sizeof junk - 1);
        for (size_t k = 0; k < n; k++) junk[k] = (char)(rng_next(&seed) & 0xff);
        if (junk[0] == '{' || junk[0] == ' ' || junk[0] == '\t' || junk[0] == '\n' || junk[0] == '\r') junk[0] = '#';
        expect_4xx_len(i % 2 ? VC_OAI_COMPLETION : VC_OAI_CHAT, junk, n);
    }

    /* 6. random single-byte mutations of the valid body: no crash, and when
     *    refused the status is a 4xx (some mutations stay valid) */
    seed = 777;
    char *mut = malloc(vlen);
    int refused = 0;
    for (int i = 0; i < 300; i++) {
        memcpy(mut, valid, vlen);
        mut[rng_next(&seed) % vlen] = (char)(rng_next(&seed) & 0xff);
        vc_oai_request mr;
        vc_oai_error me;
        memset(&me, 0, sizeof me);
        if (vc_oai_parse(VC_OAI_CHAT, mut, vlen, &mr, &me) == 0) {
            vc_oai_request_free(&mr);
        } else {
            assert_true(me.status >= 400 && me.status <= 499);
            refused++;
        }
    }
    free(mut);
    assert_true(refused > 100);
    print_message("fuzz: %d malformed bodies refused with 4xx, %d/300 mutations refused\n", count_4xx, refused);
    assert_true(count_4xx >= 200);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chat_defaults),     cmocka_unit_test(test_chat_all_fields),
        cmocka_unit_test(test_completion_prompts), cmocka_unit_test(test_tokenize_detokenize),
        cmocka_unit_test(test_nulls_are_absent),  cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_ranges),            cmocka_unit_test(test_messages),
        cmocka_unit_test(test_malformed_json),    cmocka_unit_test(test_fuzz_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
