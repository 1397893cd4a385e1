/* OpenAI response bodies and SSE framing, read back with jansson; metrics
 * text format. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/testutil.h"
#include "server/metrics.h"
#include "server/openai_response.h"

static const vc_oai_meta chat_meta = {VC_OAI_CHAT, "chatcmpl-1", 1700000000, "smol"};
static const vc_oai_meta cmpl_meta = {VC_OAI_COMPLETION, "cmpl-1", 1700000000, "smol"};

/* checks "data: <json>\n\n" framing and returns the parsed JSON */
static json_t *sse_json(char *sse, const size_t *lenp) {
    size_t len = *lenp;
    assert_non_null(sse);
    assert_int_equal(len, strlen(sse));
    assert_true(len > 8);
    assert_memory_equal(sse, "data: ", 6);
    assert_memory_equal(sse + len - 2, "\n\n", 2);
    assert_null(memchr(sse, '\n', len - 2));   /* one line: compact JSON */
    json_error_t jerr;
    json_t *j = json_loadb(sse + 6, len - 8, 0, &jerr);
    if (!j) fail_msg("bad JSON in SSE event: %s: %s", jerr.text, sse);
    free(sse);
    return j;
}

static json_t *body_json(char *body, const size_t *lenp) {
    size_t len = *lenp;
    assert_non_null(body);
    assert_int_equal(len, strlen(body));
    json_error_t jerr;
    json_t *j = json_loadb(body, len, 0, &jerr);
    if (!j) fail_msg("bad JSON: %s: %s", jerr.text, body);
    free(body);
    return j;
}

static void check_head(json_t *j, const char *object, const char *id) {
    assert_string_equal(json_string_value(json_object_get(j, "object")), object);
    assert_string_equal(json_string_value(json_object_get(j, "id")), id);
    assert_int_equal(json_integer_value(json_object_get(j, "created")), 1700000000);
    assert_string_equal(json_string_value(json_object_get(j, "model")), "smol");
}

static void test_chat_stream_frames(void **state) {
    (void)state;
    size_t len;
    /* role chunk */
    json_t *j = sse_json(vc_oai_chunk_sse(&chat_meta, 0, true, "", 0, NULL, VLLMC_FINISH_NONE, &len), &len);
    check_head(j, "chat.completion.chunk", "chatcmpl-1");
    json_t *c0 = json_array_get(json_object_get(j, "choices"), 0);
    assert_int_equal(json_array_size(json_object_get(j, "choices")), 1);
    assert_int_equal(json_integer_value(json_object_get(c0, "index")), 0);
    json_t *delta = json_object_get(c0, "delta");
    assert_string_equal(json_string_value(json_object_get(delta, "role")), "assistant");
    assert_string_equal(json_string_value(json_object_get(delta, "content")), "");
    assert_true(json_is_null(json_object_get(c0, "finish_reason")));
    assert_true(json_is_null(json_object_get(c0, "logprobs")));
    json_decref(j);
    /* content chunk, with quotes, newline and non-ASCII text */
    const char *text = "He said \"h\xc3\xa9\"\n";
    j = sse_json(vc_oai_chunk_sse(&chat_meta, 1, false, text, strlen(text), NULL, VLLMC_FINISH_NONE, &len), &len);
    c0 = json_array_get(json_object_get(j, "choices"), 0);
    assert_int_equal(json_integer_value(json_object_get(c0, "index")), 1);
    delta = json_object_get(c0, "delta");
    assert_null(json_object_get(delta, "role"));
    assert_string_equal(json_string_value(json_object_get(delta, "content")), text);
    json_decref(j);
    /* finish chunk: empty delta */
    j = sse_json(vc_oai_chunk_sse(&chat_meta, 0, false, NULL, 0, NULL, VLLMC_FINISH_LENGTH, &len), &len);
    c0 = json_array_get(json_object_get(j, "choices"), 0);
    assert_int_equal(json_object_size(json_object_get(c0, "delta")), 0);
    assert_string_equal(json_string_value(json_object_get(c0, "finish_reason")), "length");
    json_decref(j);
    /* usage chunk */
    vc_oai_usage u = {7, 5};
    j = sse_json(vc_oai_usage_sse(&chat_meta, &u, &len), &len);
    check_head(j, "chat.completion.chunk", "chatcmpl-1");
    assert_true(json_is_array(json_object_get(j, "choices")));
    assert_int_equal(json_array_size(json_object_get(j, "choices")), 0);
    json_t *usage = json_object_get(j, "usage");
    assert_int_equal(json_integer_value(json_object_get(usage, "prompt_tokens")), 7);
    assert_int_equal(json_integer_value(json_object_get(usage, "completion_tokens")), 5);
    assert_int_equal(json_integer_value(json_object_get(usage, "total_tokens")), 12);
    json_decref(j);
    assert_string_equal(VC_OAI_SSE_DONE, "data: [DONE]\n\n");
}

static void test_completion_stream_frames(void **state) {
    (void)state;
    size_t len;
    json_t *j = sse_json(vc_oai_chunk_sse(&cmpl_meta, 2, true, "abc", 3, NULL, VLLMC_FINISH_NONE, &len), &len);
    check_head(j, "text_completion", "cmpl-1");
    json_t *c0 = json_array_get(json_object_get(j, "choices"), 0);
    assert_int_equal(json_integer_value(json_object_get(c0, "index")), 2);
    assert_string_equal(json_string_value(json_object_get(c0, "text")), "abc");
    assert_null(json_object_get(c0, "delta"));
    assert_true(json_is_null(json_object_get(c0, "finish_reason")));
    json_decref(j);
    j = sse_json(vc_oai_chunk_sse(&cmpl_meta, 0, false, "", 0, NULL, VLLMC_FINISH_STOP, &len), &len);
    c0 = json_array_get(json_object_get(j, "choices"), 0);
    assert_string_equal(json_string_value(json_object_get(c0, "text")), "");
    assert_string_equal(json_string_value(json_object_get(c0, "finish_reason")), "stop");
    json_decref(j);
}

static void test_invalid_utf8_replaced(void **state) {
    (void)state;
    size_t len;
    const char bad[] = "a\xff" "b\xe2\x82";   /* a stray byte and a cut 3-byte sequence */
    json_t *j = sse_json(vc_oai_chunk_sse(&cmpl_meta, 0, false, bad, sizeof bad - 1, NULL, VLLMC_FINISH_NONE, &len), &len);
    const char *t = json_string_value(json_object_get(json_array_get(json_object_get(j, "choices"), 0), "text"));
    assert_string_equal(t, "a\xef\xbf\xbd" "b\xef\xbf\xbd\xef\xbf\xbd");
    json_decref(j);
}

static void test_response_bodies(void **state) {
    (void)state;
    vc_oai_choice cs[2] = {{0, "Hello", 5, VLLMC_FINISH_STOP, NULL}, {1, "Hi there", 8, VLLMC_FINISH_LENGTH, NULL}};
    vc_oai_usage u = {10, 6};
    size_t len;
    json_t *j = body_json(vc_oai_response_body(&chat_meta, cs, 2, &u, &len), &len);
    check_head(j, "chat.completion", "chatcmpl-1");
    json_t *choices = json_object_get(j, "choices");
    assert_int_equal(json_array_size(choices), 2);
    json_t *c1 = json_array_get(choices, 1);
    assert_int_equal(json_integer_value(json_object_get(c1, "index")), 1);
    assert_string_equal(json_string_value(json_object_get(json_object_get(c1, "message"), "role")), "assistant");
    assert_string_equal(json_string_value(json_object_get(json_object_get(c1, "message"), "content")), "Hi there");
    assert_string_equal(json_string_value(json_object_get(c1, "finish_reason")), "length");
    assert_string_equal(json_string_value(json_object_get(json_array_get(choices, 0), "finish_reason")), "stop");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "usage"), "total_tokens")), 16);
    json_decref(j);

    j = body_json(vc_oai_response_body(&cmpl_meta, cs, 2, &u, &len), &len);
    check_head(j, "text_completion", "cmpl-1");
    c1 = json_array_get(json_object_get(j, "choices"), 1);
    assert_string_equal(json_string_value(json_object_get(c1, "text")), "Hi there");
    assert_true(json_is_null(json_object_get(c1, "logprobs")));
    json_decref(j);
}

static void test_logprobs_shapes(void **state) {
    (void)state;
    /* 2 positions, 2 alternatives each; one impossible alternative (-inf) */
    vc_oai_token_lp e[6] = {{"He", 2, -0.25f}, {"He", 2, -0.25f}, {"Hi", 2, -1.5f},
                            {"llo", 3, -0.5f}, {"llo", 3, -0.5f}, {"\xe2", 1, -INFINITY}};
    vc_oai_logprobs lp = {2, 2, e, 0};
    vc_oai_choice c = {0, "Hello", 5, VLLMC_FINISH_STOP, &lp};
    vc_oai_usage u = {1, 2};
    size_t len;
    json_t *j = body_json(vc_oai_response_body(&chat_meta, &c, 1, &u, &len), &len);
    json_t *content = json_object_get(json_object_get(json_array_get(json_object_get(j, "choices"), 0), "logprobs"), "content");
    assert_int_equal(json_array_size(content), 2);
    json_t *p1 = json_array_get(content, 1);
    assert_string_equal(json_string_value(json_object_get(p1, "token")), "llo");
    assert_true(fabs(json_real_value(json_object_get(p1, "logprob")) + 0.5) < 1e-6);
    json_t *bytes = json_object_get(p1, "bytes");
    assert_int_equal(json_array_size(bytes), 3);
    assert_int_equal(json_integer_value(json_array_get(bytes, 0)), 'l');
    json_t *top = json_object_get(p1, "top_logprobs");
    assert_int_equal(json_array_size(top), 2);
    json_t *alt = json_array_get(top, 1);
    assert_string_equal(json_string_value(json_object_get(alt, "token")), "\xef\xbf\xbd");
    assert_int_equal(json_integer_value(json_array_get(json_object_get(alt, "bytes"), 0)), 0xe2);
    assert_true(json_real_value(json_object_get(alt, "logprob")) == -9999.0);
    json_decref(j);

    lp.text_offset = 4;
    j = sse_json(vc_oai_chunk_sse(&cmpl_meta, 0, false, "Hello", 5, &lp, VLLMC_FINISH_NONE, &len), &len);
    json_t *l = json_object_get(json_array_get(json_object_get(j, "choices"), 0), "logprobs");
    assert_string_equal(json_string_value(json_array_get(json_object_get(l, "tokens"), 1)), "llo");
    assert_true(fabs(json_real_value(json_array_get(json_object_get(l, "token_logprobs"), 0)) + 0.25) < 1e-6);
    json_t *tops0 = json_array_get(json_object_get(l, "top_logprobs"), 0);
    assert_int_equal(json_object_size(tops0), 2);   /* "He" (chosen, listed once) and "Hi" */
    assert_true(fabs(json_real_value(json_object_get(tops0, "Hi")) + 1.5) < 1e-6);
    assert_int_equal(json_integer_value(json_array_get(json_object_get(l, "text_offset"), 0)), 4);
    assert_int_equal(json_integer_value(json_array_get(json_object_get(l, "text_offset"), 1)), 6);
    json_decref(j);
}

static void test_error_body(void **state) {
    (void)state;
    vc_oai_error e;
    assert_int_equal(vc_oai_errorf(&e, 400, "invalid_request_error", NULL, "max_tokens", "bad %d", 5), -1);
    size_t len;
    json_t *j = body_json(vc_oai_error_body(&e, &len), &len);
    assert_int_equal(json_object_size(j), 1);
    json_t *err = json_object_get(j, "error");
    assert_string_equal(json_string_value(json_object_get(err, "message")), "bad 5");
    assert_string_equal(json_string_value(json_object_get(err, "type")), "invalid_request_error");
    assert_string_equal(json_string_value(json_object_get(err, "param")), "max_tokens");
    assert_true(json_is_null(json_object_get(err, "code")));
    json_decref(j);
    vc_oai_errorf(&e, 404, "invalid_request_error", "model_not_found", NULL, "no model '\xff'");
    j = body_json(vc_oai_error_body(&e, &len), &len);
    err = json_object_get(j, "error");
    assert_true(json_is_null(json_object_get(err, "param")));
    assert_string_equal(json_string_value(json_object_get(err, "code")), "model_not_found");
    assert_string_equal(json_string_value(json_object_get(err, "message")), "no model '\xef\xbf\xbd'");
    json_decref(j);
}

static void test_small_bodies(void **state) {
    (void)state;
    size_t len;
    json_t *j = body_json(vc_oai_models_body("smol", 42, 8192, &len), &len);
    assert_string_equal(json_string_value(json_object_get(j, "object")), "list");
    json_t *m = json_array_get(json_object_get(j, "data"), 0);
    assert_string_equal(json_string_value(json_object_get(m, "id")), "smol");
    assert_string_equal(json_string_value(json_object_get(m, "object")), "model");
    assert_int_equal(json_integer_value(json_object_get(m, "max_model_len")), 8192);
    json_decref(j);
    int32_t ids[3] = {5, 0, 77};
    j = body_json(vc_oai_tokenize_body(ids, 3, 100, &len), &len);
    assert_int_equal(json_integer_value(json_object_get(j, "count")), 3);
    assert_int_equal(json_integer_value(json_array_get(json_object_get(j, "tokens"), 2)), 77);
    assert_int_equal(json_integer_value(json_object_get(j, "max_model_len")), 100);
    json_decref(j);
    j = body_json(vc_oai_detokenize_body("a\"b", 3, &len), &len);
    assert_string_equal(json_string_value(json_object_get(j, "prompt")), "a\"b");
    json_decref(j);
}

/* value of the metric line starting with `prefix ` */
static double metric(const char *text, const char *prefix) {
    size_t n = strlen(prefix);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, prefix, n) == 0 && p[n] == ' ') return atof(p + n + 1);
    }
    fail_msg("metric '%s' missing", prefix);
    return NAN;
}

static void test_metrics_text(void **state) {
    (void)state;
    vc_metrics *m = vc_metrics_create();
    vc_metrics_count_request(m, 200);
    vc_metrics_count_request(m, 200);
    vc_metrics_count_request(m, 400);
    vc_metrics_count_finish(m, VLLMC_FINISH_STOP, 10, 4);
    vc_metrics_count_finish(m, VLLMC_FINISH_LENGTH, 0, 3);
    vc_metrics_count_finish(m, VLLMC_FINISH_ABORT, 5, 1);
    vc_metrics_count_finish(m, VLLMC_FINISH_ABORT, 0, 0);
    vc_metrics_count_finish(m, VLLMC_FINISH_ERROR, 2, 0);
    vc_metrics_observe_ttft(m, 0.003);
    vc_metrics_observe_ttft(m, 0.3);
    vc_metrics_observe_ttft(m, 1000);
    vc_metrics_observe_tpot(m, 0.02);
    vllmc_stats st = {.running = 2, .waiting = 1, .kv_blocks_total = 100, .kv_blocks_free = 75,
                      .prompt_tokens = 200, .cached_tokens = 50};
    char *text;
    size_t len;
    assert_int_equal(vc_metrics_render(m, &st, &text, &len), 0);
    assert_int_equal(len, strlen(text));
    assert_true(metric(text, "vllmc_http_requests_total{status=\"200\"}") == 2);
    assert_true(metric(text, "vllmc_http_requests_total{status=\"400\"}") == 1);
    assert_true(metric(text, "vllmc_prompt_tokens_total") == 17);
    assert_true(metric(text, "vllmc_generation_tokens_total") == 8);
    assert_true(metric(text, "vllmc_request_success_total") == 2);
    assert_true(metric(text, "vllmc_request_aborted_total") == 2);
    assert_true(metric(text, "vllmc_request_failed_total") == 1);
    assert_true(metric(text, "vllmc_num_requests_running") == 2);
    assert_true(metric(text, "vllmc_num_requests_waiting") == 1);
    assert_true(metric(text, "vllmc_kv_blocks_free") == 75);
    assert_true(metric(text, "vllmc_kv_blocks_used") == 25);
    assert_true(fabs(metric(text, "vllmc_prefix_cache_hit_rate") - 0.25) < 1e-9);
    /* cumulative buckets */
    assert_true(metric(text, "vllmc_time_to_first_token_seconds_bucket{le=\"0.001\"}") == 0);
    assert_true(metric(text, "vllmc_time_to_first_token_seconds_bucket{le=\"0.005\"}") == 1);
    assert_true(metric(text, "vllmc_time_to_first_token_seconds_bucket{le=\"0.5\"}") == 2);
    assert_true(metric(text, "vllmc_time_to_first_token_seconds_bucket{le=\"80\"}") == 2);
    assert_true(metric(text, "vllmc_time_to_first_token_seconds_bucket{le=\"+Inf\"}") == 3);
    assert_true(metric(text, "vllmc_time_to_first_token_seconds_count") == 3);
    assert_true(fabs(metric(text, "vllmc_time_to_first_token_seconds_sum") - 1000.303) < 1e-6);
    assert_true(metric(text, "vllmc_time_per_output_token_seconds_count") == 1);
    /* every non-comment line is "name{labels} value" */
    for (const char *p = text; *p;) {
        const char *e = strchr(p, '\n');
        assert_non_null(e);
        if (*p != '#') assert_non_null(memchr(p, ' ', (size_t)(e - p)));
        p = e + 1;
    }
    free(text);
    vc_metrics_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chat_stream_frames), cmocka_unit_test(test_completion_stream_frames),
        cmocka_unit_test(test_invalid_utf8_replaced), cmocka_unit_test(test_response_bodies),
        cmocka_unit_test(test_logprobs_shapes),    cmocka_unit_test(test_error_body),
        cmocka_unit_test(test_small_bodies),       cmocka_unit_test(test_metrics_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
