/* In-situ quantization: the per-tensor type rules give what llama.cpp's
 * llama-quantize gave each weight of SmolLM2 for every mix
 * (tests/fixtures/quantize/llamacpp_types.json, made by
 * scripts/make_quantize_fixtures.py), and --quant names parse. */
#include "common/testutil.h"

#include <jansson.h>
#include <string.h>

#include "model/quantize_model.h"

static const struct {
    const char *mix_name;
    vc_dtype mix;
} MIXES[] = {
    {"Q2_K", VC_Q2_K}, {"Q3_K_M", VC_Q3_K}, {"Q4_K_M", VC_Q4_K}, {"Q5_K_M", VC_Q5_K},
    {"Q6_K", VC_Q6_K}, {"Q4_0", VC_Q4_0},   {"Q8_0", VC_Q8_0},
};

static const struct {
    const char *key;
    vc_weight_role role;
} ROLES[] = {
    {"attn_q", VC_ROLE_ATTN_Q},     {"attn_k", VC_ROLE_ATTN_K},     {"attn_v", VC_ROLE_ATTN_V},
    {"attn_output", VC_ROLE_ATTN_OUT}, {"ffn_gate", VC_ROLE_FFN_GATE}, {"ffn_up", VC_ROLE_FFN_UP},
    {"ffn_down", VC_ROLE_FFN_DOWN},
};

static void test_rules_match_llamacpp(void **state) {
    (void)state;
    json_error_t je;
    json_t *root = json_load_file("tests/fixtures/quantize/llamacpp_types.json", 0, &je);
    if (!root) fail_msg("fixture: %s", je.text);
    const int n_layers = (int)json_integer_value(json_object_get(root, "n_layers"));
    const int n_gqa = (int)json_integer_value(json_object_get(root, "n_gqa"));
    const bool tied = json_is_true(json_object_get(root, "tied"));
    const json_t *ne0 = json_object_get(root, "ne0");
    int checked = 0;
    for (size_t m = 0; m < sizeof MIXES / sizeof MIXES[0]; m++) {
        const json_t *mix = json_object_get(json_object_get(root, "mixes"), MIXES[m].mix_name);
        assert_non_null(mix);
        vc_dtype got = vc_quant_tensor_type(MIXES[m].mix, VC_ROLE_TOK_EMBD, 0, n_layers,
                                            json_integer_value(json_object_get(ne0, "token_embd")), tied,
                                            n_gqa, NULL);
        const char *want = json_string_value(json_object_get(mix, "token_embd"));
        if (strcmp(vc_dtype_name(got), want))
            fail_msg("%s token_embd: ours %s, llama.cpp %s", MIXES[m].mix_name, vc_dtype_name(got), want);
        checked++;
        for (size_t r = 0; r < sizeof ROLES / sizeof ROLES[0]; r++) {
            const json_t *types = json_object_get(mix, ROLES[r].key);
            assert_int_equal(json_array_size(types), n_layers);
            for (int l = 0; l < n_layers; l++) {
                got = vc_quant_tensor_type(MIXES[m].mix, ROLES[r].role, l, n_layers,
                                           json_integer_value(json_object_get(ne0, ROLES[r].key)), tied, n_gqa,
                                           NULL);
                want = json_string_value(json_array_get(types, l));
                if (strcmp(vc_dtype_name(got), want))
                    fail_msg("%s blk.%d.%s: ours %s, llama.cpp %s", MIXES[m].mix_name, l, ROLES[r].key,
                             vc_dtype_name(got), want);
                checked++;
            }
        }
    }
    assert_int_equal(checked, 7 * (1 + 7 * n_layers));
    json_decref(root);
}

/* rows that fill K-blocks keep the rule's type; rows that fill only 32-blocks
 * fall back as llama.cpp does; rows that fill neither become F16 */
static void test_fallbacks(void **state) {
    (void)state;
    bool fb;
    assert_int_equal(vc_quant_tensor_type(VC_Q4_K, VC_ROLE_ATTN_Q, 5, 30, 512, false, 1, &fb), VC_Q4_K);
    assert_false(fb);
    assert_int_equal(vc_quant_tensor_type(VC_Q4_K, VC_ROLE_ATTN_Q, 5, 30, 576, false, 1, &fb), VC_Q5_0);
    assert_true(fb);
    assert_int_equal(vc_quant_tensor_type(VC_Q5_K, VC_ROLE_FFN_UP, 5, 30, 96, false, 1, &fb), VC_Q5_1);
    assert_int_equal(vc_quant_tensor_type(VC_Q6_K, VC_ROLE_FFN_UP, 5, 30, 96, false, 1, &fb), VC_Q8_0);
    assert_int_equal(vc_quant_tensor_type(VC_Q2_K, VC_ROLE_FFN_UP, 5, 30, 96, false, 1, &fb), VC_Q4_0);
    assert_int_equal(vc_quant_tensor_type(VC_Q4_K, VC_ROLE_FFN_UP, 5, 30, 100, false, 1, &fb), VC_F16);
    assert_true(fb);
    assert_int_equal(vc_quant_tensor_type(VC_Q8_0, VC_ROLE_FFN_UP, 5, 30, 100, false, 1, &fb), VC_F16);
    /* untied embedding keeps the mix's type; the separate head gets Q6_K */
    assert_int_equal(vc_quant_tensor_type(VC_Q4_K, VC_ROLE_TOK_EMBD, 0, 30, 4096, false, 4, &fb), VC_Q4_K);
    assert_int_equal(vc_quant_tensor_type(VC_Q4_K, VC_ROLE_OUTPUT, 0, 30, 4096, false, 4, &fb), VC_Q6_K);
    /* Q2_K: attn_v at 4+ query heads per KV head gets Q4_K */
    assert_int_equal(vc_quant_tensor_type(VC_Q2_K, VC_ROLE_ATTN_V, 3, 32, 4096, false, 4, &fb), VC_Q4_K);
    assert_int_equal(vc_quant_tensor_type(VC_Q2_K, VC_ROLE_ATTN_V, 3, 32, 4096, false, 1, &fb), VC_Q3_K);
}

static void test_parse(void **state) {
    (void)state;
    vc_error err = {{0}};
    vc_dtype t;
    assert_int_equal(vc_quant_parse("q4k", &t, &err), 0);
    assert_int_equal(t, VC_Q4_K);
    assert_int_equal(vc_quant_parse("Q4_K_M", &t, &err), 0);
    assert_int_equal(t, VC_Q4_K);
    assert_int_equal(vc_quant_parse("q8_0", &t, &err), 0);
    assert_int_equal(t, VC_Q8_0);
    assert_int_equal(vc_quant_parse("q3k", &t, &err), 0);
    assert_int_equal(t, VC_Q3_K);
    assert_int_equal(vc_quant_parse("q9", &t, &err), -1);
    assert_non_null(strstr(err.msg, "'q9'"));
    assert_non_null(strstr(err.msg, "q2k, q3k, q4k, q5k, q6k, q4_0, q8_0"));
    assert_string_equal(vc_quant_mix_name(VC_Q3_K), "Q3_K_M");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rules_match_llamacpp),
        cmocka_unit_test(test_fallbacks),
        cmocka_unit_test(test_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
