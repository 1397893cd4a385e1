/* Chat templates and the Jinja interpreter under them, against references
 * rendered by transformers / jinja2 (scripts/make_chat_fixtures.py ->
 * tests/fixtures/chat/chat_cases.json): real templates of each family byte for
 * byte, small templates covering the supported Jinja subset, error cases and
 * random templates (no crash). */
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/testutil.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/jinja.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer_fixtures.h"

#define FIXTURE "tests/fixtures/chat/chat_cases.json"

static json_t *load_fixture(void) {
    json_error_t jerr;
    json_t *root = json_load_file(FIXTURE, 0, &jerr);
    if (!root) fail_msg("%s: %s (line %d)", FIXTURE, jerr.text, jerr.line);
    return root;
}

static const char *opt_str(json_t *obj, const char *key) {
    json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Prints the first differing byte, for a readable failure. */
static void assert_same(const char *what, const char *expected, const char *got) {
    if (strcmp(expected, got) == 0) return;
    size_t i = 0;
    while (expected[i] && expected[i] == got[i]) i++;
    fail_msg("%s: output differs at byte %zu\n  expected: ...%.60s\n  got:      ...%.60s", what, i,
             expected + (i > 20 ? i - 20 : 0), got + (i > 20 ? i - 20 : 0));
}

static void test_family_conversations(void **state) {
    (void)state;
    json_t *root = load_fixture();
    json_t *templates = json_object_get(root, "templates"), *tokens = json_object_get(root, "tokens");
    json_t *cases = json_object_get(root, "cases");
    assert_true(json_array_size(cases) > 0);
    const char *families[] = {"llama2", "llama3", "qwen3", "smollm2", "mistral", "qwen2", "chatml"};
    int passed[7] = {0}, errors_matched = 0;
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c) {
        const char *fam = opt_str(c, "family"), *name = opt_str(c, "name");
        char what[128];
        snprintf(what, sizeof what, "%s/%s", fam, name);
        const char *tpl_text = opt_str(templates, fam);
        json_t *tok = json_object_get(tokens, fam);
        const char *bos = opt_str(tok, "bos_token"), *eos = opt_str(tok, "eos_token");
        json_t *msgs = json_object_get(c, "messages"), *think = json_object_get(c, "enable_thinking");
        size_t n = json_array_size(msgs);
        jinja_chat_msg *jm = calloc(n + 1, sizeof *jm);
        vc_chat_message *vm = calloc(n + 1, sizeof *vm);
        bool has_reasoning = false;
        for (size_t k = 0; k < n; k++) {
            json_t *m = json_array_get(msgs, k);
            vm[k].role = jm[k].role = opt_str(m, "role");
            vm[k].content = jm[k].content = opt_str(m, "content");
            jm[k].reasoning_content = opt_str(m, "reasoning_content");
            has_reasoning |= jm[k].reasoning_content != NULL;
        }
        bool gen = json_is_true(json_object_get(c, "add_generation_prompt"));
        int et = json_is_null(think) || !think ? -1 : json_is_true(think) ? 1 : 0;
        const char *expected = opt_str(c, "expected"), *expected_err = opt_str(c, "error");

        /* 1. the interpreter directly */
        vc_error err = {{0}};
        jinja_template *tpl = NULL;
        if (jinja_template_parse(&tpl, tpl_text, strlen(tpl_text), &err)) fail_msg("%s: parse: %s", what, err.msg);
        jinja_chat_vars vars = {.messages = jm, .n_messages = (int)n, .add_generation_prompt = gen,
                                .bos_token = bos, .eos_token = eos, .enable_thinking = et};
        char *out = NULL;
        int rc = jinja_render_chat(tpl, &vars, NULL, &out, NULL, &err);
        if (expected) {
            if (rc) fail_msg("%s: render: %s", what, err.msg);
            assert_same(what, expected, out);
        } else {
            assert_non_null(expected_err);
            assert_int_equal(rc, -1);
            if (!strstr(err.msg, expected_err)) fail_msg("%s: error '%s' lacks '%s'", what, err.msg, expected_err);
            errors_matched++;
        }
        free(out);
        jinja_template_free(tpl);

        /* 2. the public API with the model's template (no fallback taken) */
        if (!has_reasoning) {
            vc_chat_template *ct = NULL;
            if (vc_chat_template_create(&ct, tpl_text, NULL, bos, eos, &err)) fail_msg("%s: create: %s", what, err.msg);
            assert_string_equal(vc_chat_template_name(ct), "model");
            assert_null(vc_chat_template_note(ct));
            vc_chat_render_opts opts = {.add_generation_prompt = gen, .enable_thinking = et};
            out = NULL;
            rc = vc_chat_template_render_opts(ct, vm, (int)n, &opts, &out, &err);
            if (expected) {
                if (rc) fail_msg("%s: render: %s", what, err.msg);
                assert_same(what, expected, out);
            } else {
                assert_int_equal(rc, -1);
            }
            free(out);
            vc_chat_template_free(ct);
        }
        if (expected)
            for (int f = 0; f < 7; f++)
                if (!strcmp(fam, families[f])) passed[f]++;
        free(jm);
        free(vm);
    }
    for (int f = 0; f < 7; f++) {
        print_message("chat fixtures: %-8s %d conversations equal byte for byte\n", families[f], passed[f]);
        assert_true(passed[f] >= 5);
    }
    assert_true(errors_matched >= 3);
    json_decref(root);
}

static void test_jinja_snippets(void **state) {
    (void)state;
    json_t *root = load_fixture();
    json_t *snippets = json_object_get(root, "snippets"), *smsgs = json_object_get(root, "snippet_messages");
    size_t n = json_array_size(smsgs);
    jinja_chat_msg *jm = calloc(n, sizeof *jm);
    for (size_t k = 0; k < n; k++) {
        jm[k].role = opt_str(json_array_get(smsgs, k), "role");
        jm[k].content = opt_str(json_array_get(smsgs, k), "content");
    }
    jinja_chat_vars vars = {.messages = jm, .n_messages = (int)n, .add_generation_prompt = true,
                            .bos_token = "<s>", .eos_token = "</s>", .enable_thinking = -1};
    size_t i;
    json_t *s;
    int count = 0;
    json_array_foreach(snippets, i, s) {
        const char *text = opt_str(s, "template"), *expected = opt_str(s, "expected");
        vc_error err = {{0}};
        jinja_template *tpl = NULL;
        char *out = NULL;
        if (jinja_template_parse(&tpl, text, strlen(text), &err)) fail_msg("snippet %zu %s: %s", i, text, err.msg);
        if (jinja_render_chat(tpl, &vars, NULL, &out, NULL, &err)) fail_msg("snippet %zu %s: %s", i, text, err.msg);
        char what[160];
        snprintf(what, sizeof what, "snippet %zu (%.100s)", i, text);
        assert_same(what, expected, out);
        free(out);
        jinja_template_free(tpl);
        count++;
    }
    print_message("jinja snippets: %d equal jinja2's output\n", count);
    assert_true(count >= 50);
    free(jm);
    json_decref(root);
}

/* Real templates beyond the built-ins (macros, namespaces, tool branches). */
static void test_extra_real_templates(void **state) {
    (void)state;
    json_t *root = load_fixture();
    json_t *extra = json_object_get(root, "extra"), *templates = json_object_get(extra, "templates");
    json_t *vars_obj = json_object_get(extra, "vars");
    const char *names[8], *values[8];
    int n_extra = 0;
    const char *key;
    json_t *v;
    json_object_foreach(vars_obj, key, v) {
        if (n_extra < 8) { names[n_extra] = key; values[n_extra] = json_string_value(v); n_extra++; }
    }
    size_t i;
    json_t *c;
    int ok = 0, errors = 0, n_templates = (int)json_object_size(templates);
    json_array_foreach(json_object_get(extra, "cases"), i, c) {
        const char *tname = opt_str(c, "template");
        const char *text = opt_str(templates, tname);
        json_t *msgs = json_object_get(c, "messages");
        size_t n = json_array_size(msgs);
        jinja_chat_msg *jm = calloc(n + 1, sizeof *jm);
        for (size_t k = 0; k < n; k++) {
            jm[k].role = opt_str(json_array_get(msgs, k), "role");
            jm[k].content = opt_str(json_array_get(msgs, k), "content");
        }
        jinja_chat_vars vars = {.messages = jm, .n_messages = (int)n,
                                .add_generation_prompt = json_is_true(json_object_get(c, "add_generation_prompt")),
                                .bos_token = opt_str(extra, "bos_token"), .eos_token = opt_str(extra, "eos_token"),
                                .enable_thinking = -1, .extra_names = names, .extra_values = values, .n_extra = n_extra};
        char what[200];
        snprintf(what, sizeof what, "%s/%s", tname, opt_str(c, "name"));
        vc_error err = {{0}};
        jinja_template *tpl = NULL;
        char *out = NULL;
        if (jinja_template_parse(&tpl, text, strlen(text), &err)) fail_msg("%s: parse: %s", what, err.msg);
        int rc = jinja_render_chat(tpl, &vars, NULL, &out, NULL, &err);
        const char *expected = opt_str(c, "expected"), *expected_err = opt_str(c, "error");
        if (expected) {
            if (rc) fail_msg("%s: render: %s", what, err.msg);
            assert_same(what, expected, out);
            ok++;
        } else {
            assert_int_equal(rc, -1);
            if (!strstr(err.msg, expected_err)) fail_msg("%s: error '%s' lacks '%s'", what, err.msg, expected_err);
            errors++;
        }
        free(out);
        jinja_template_free(tpl);
        free(jm);
    }
    print_message("extra real templates: %d, %d conversations equal, %d expected errors matched\n", n_templates, ok,
                  errors);
    assert_true(n_templates >= 9);
    assert_true(ok >= 5 * n_templates);
    json_decref(root);
}

/* Renders every fixture conversation of family fam with ct; returns how many matched. */
static int render_family(json_t *cases, const char *fam, const vc_chat_template *ct) {
    int matched = 0;
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c) {
        if (strcmp(opt_str(c, "family"), fam) != 0) continue;
        json_t *msgs = json_object_get(c, "messages"), *think = json_object_get(c, "enable_thinking");
        size_t n = json_array_size(msgs);
        bool reasoning = false;
        vc_chat_message *vm = calloc(n + 1, sizeof *vm);
        for (size_t k = 0; k < n; k++) {
            vm[k].role = opt_str(json_array_get(msgs, k), "role");
            vm[k].content = opt_str(json_array_get(msgs, k), "content");
            reasoning |= opt_str(json_array_get(msgs, k), "reasoning_content") != NULL;
        }
        vc_chat_render_opts opts = {.add_generation_prompt = json_is_true(json_object_get(c, "add_generation_prompt")),
                                    .enable_thinking = !think || json_is_null(think) ? -1 : json_is_true(think)};
        char what[128], *out = NULL;
        snprintf(what, sizeof what, "%s/%s (template from the model files)", fam, opt_str(c, "name"));
        vc_error err = {{0}};
        int rc = vc_chat_template_render_opts(ct, vm, (int)n, &opts, &out, &err);
        const char *expected = opt_str(c, "expected");
        if (!reasoning && expected) {
            if (rc) fail_msg("%s: %s", what, err.msg);
            assert_same(what, expected, out);
            matched++;
        } else if (!reasoning) {
            assert_int_equal(rc, -1);
            assert_non_null(strstr(err.msg, opt_str(c, "error")));
        }
        free(out);
        free(vm);
    }
    return matched;
}

/* The template found in the model files (tokenizer folders, the GGUF), with
 * the bos/eos texts of their tokenizer, chosen without any override. */
static void test_templates_from_models(void **state) {
    (void)state;
    (void)tokfx_gguf;
    json_t *root = load_fixture();
    json_t *cases = json_object_get(root, "cases");
    struct { const char *fam, *expect_name; bool note; } dirs[] = {
        {"llama2", "llama2", true}, /* its tokenizer_config.json has no chat_template: the guessed fallback */
        {"llama3", "model", false},
        {"qwen3", "model", false},
    };
    for (size_t k = 0; k < sizeof dirs / sizeof *dirs; k++) {
        char dir[256];
        vc_error err = {{0}};
        vc_tokenizer *tok = NULL;
        vc_chat_template *ct = NULL;
        if (tokfx_dir(dirs[k].fam, dir, sizeof dir)) fail_msg("cannot unpack tokenizer fixture %s", dirs[k].fam);
        if (vc_tokenizer_from_dir(&tok, dir, &err)) fail_msg("%s: %s", dir, err.msg);
        if (vc_chat_template_from_tokenizer(&ct, tok, NULL, &err)) fail_msg("%s: %s", dir, err.msg);
        assert_string_equal(vc_chat_template_name(ct), dirs[k].expect_name);
        assert_true((vc_chat_template_note(ct) != NULL) == dirs[k].note);
        int matched = render_family(cases, dirs[k].fam, ct);
        print_message("from %s: template '%s', %d conversations equal\n", dir, vc_chat_template_name(ct), matched);
        assert_true(matched >= 5);
        vc_chat_template_free(ct);
        vc_tokenizer_free(tok);
    }
    if (!tu_exists(TU_REAL_MODEL)) fail_msg("%s missing: run scripts/fetch-model.sh", TU_REAL_MODEL);
    vc_error err = {{0}};
    vc_tokenizer *tok = NULL;
    vc_chat_template *ct = NULL;
    if (vc_tokenizer_open(&tok, TU_REAL_MODEL, &err)) fail_msg("%s: %s", TU_REAL_MODEL, err.msg);
    if (vc_chat_template_from_tokenizer(&ct, tok, NULL, &err)) fail_msg("%s: %s", TU_REAL_MODEL, err.msg);
    assert_string_equal(vc_chat_template_name(ct), "model");
    int matched = render_family(cases, "smollm2", ct);
    print_message("from %s: %d conversations equal\n", TU_REAL_MODEL, matched);
    assert_true(matched >= 5);
    vc_chat_template_free(ct);
    /* an override still wins over the model's template */
    if (vc_chat_template_from_tokenizer(&ct, tok, "chatml", &err)) fail_msg("%s", err.msg);
    assert_string_equal(vc_chat_template_name(ct), "chatml");
    assert_true(render_family(cases, "chatml", ct) >= 5);
    vc_chat_template_free(ct);
    vc_tokenizer_free(tok);
    json_decref(root);
}

/* Tool use: messages with tool_calls / tool results and tool schemas, passed
 * as JSON (vc_chat_template_render_json for the Qwen3 family template,
 * jinja_render_json with the extra variables for the others). */
static void test_tool_use(void **state) {
    (void)state;
    json_t *root = load_fixture();
    json_t *templates = json_object_get(root, "templates");
    json_t *extra_templates = json_object_get(json_object_get(root, "extra"), "templates");
    size_t i;
    json_t *c;
    int ok = 0, errors = 0, qwen3_ok = 0;
    json_array_foreach(json_object_get(root, "tool_cases"), i, c) {
        const char *key = opt_str(c, "template"), *where = opt_str(c, "where");
        bool family = !strcmp(where, "family");
        const char *text = opt_str(family ? templates : extra_templates, key);
        json_t *vars = json_object_get(c, "vars"), *tools = json_object_get(c, "tools");
        bool gen = json_is_true(json_object_get(c, "add_generation_prompt"));
        char what[200];
        snprintf(what, sizeof what, "tools %s/%s", key, opt_str(c, "name"));
        vc_error err = {{0}};
        char *out = NULL;
        int rc;
        if (family) {
            vc_chat_template *ct = NULL;
            if (vc_chat_template_create(&ct, text, NULL, opt_str(vars, "bos_token"), opt_str(vars, "eos_token"), &err))
                fail_msg("%s: %s", what, err.msg);
            json_t *think = json_object_get(vars, "enable_thinking");
            vc_chat_render_opts opts = {.add_generation_prompt = gen, .enable_thinking = think ? json_is_true(think) : -1};
            char *msgs_json = json_dumps(json_object_get(c, "messages"), 0);
            char *tools_json = json_is_null(tools) ? NULL : json_dumps(tools, 0);
            rc = vc_chat_template_render_json(ct, msgs_json, tools_json, &opts, &out, &err);
            free(msgs_json);
            free(tools_json);
            vc_chat_template_free(ct);
        } else {
            jinja_template *tpl = NULL;
            if (jinja_template_parse(&tpl, text, strlen(text), &err)) fail_msg("%s: parse: %s", what, err.msg);
            json_t *v = json_deep_copy(vars);
            json_object_set(v, "messages", json_object_get(c, "messages"));
            json_object_set(v, "tools", tools);
            json_object_set_new(v, "documents", json_null());
            json_object_set_new(v, "add_generation_prompt", json_boolean(gen));
            rc = jinja_render_json(tpl, v, NULL, &out, NULL, &err);
            json_decref(v);
            jinja_template_free(tpl);
        }
        const char *expected = opt_str(c, "expected"), *expected_err = opt_str(c, "error");
        if (expected) {
            if (rc) fail_msg("%s: %s", what, err.msg);
            assert_same(what, expected, out);
            ok++;
            qwen3_ok += family;
        } else {
            assert_int_equal(rc, -1);
            if (!strstr(err.msg, expected_err)) fail_msg("%s: error '%s' lacks '%s'", what, err.msg, expected_err);
            errors++;
        }
        free(out);
    }
    print_message("tool use: %d conversations equal (%d with Qwen3), %d expected errors matched\n", ok, qwen3_ok, errors);
    assert_true(qwen3_ok >= 8);
    assert_true(ok >= 30);
    json_decref(root);
}

static void test_json_input_errors(void **state) {
    (void)state;
    vc_error err = {{0}};
    vc_chat_template *ct = NULL;
    char *out = NULL;
    vc_chat_render_opts opts = {.add_generation_prompt = true, .enable_thinking = -1};
    assert_int_equal(vc_chat_template_create(&ct, NULL, "qwen3", NULL, "<|im_end|>", &err), 0);
    assert_int_equal(vc_chat_template_render_json(ct, "[{\"role\": \"user\", ", NULL, &opts, &out, &err), -1);
    assert_non_null(strstr(err.msg, "messages JSON"));
    assert_int_equal(vc_chat_template_render_json(ct, "{\"role\": \"user\"}", NULL, &opts, &out, &err), -1);
    assert_non_null(strstr(err.msg, "must be an array"));
    assert_int_equal(vc_chat_template_render_json(ct, "[1]", NULL, &opts, &out, &err), -1);
    assert_non_null(strstr(err.msg, "message 0 is not a JSON object"));
    assert_int_equal(vc_chat_template_render_json(ct, "[{\"role\": \"user\", \"content\": \"x\"}]", "{", &opts, &out, &err), -1);
    assert_non_null(strstr(err.msg, "tools JSON"));
    /* content null where the template needs a string: an error, not a crash */
    assert_int_equal(vc_chat_template_render_json(ct, "[{\"role\": \"user\", \"content\": null}]", NULL, &opts, &out, &err), -1);
    /* the same conversation as structs and as JSON renders the same */
    vc_chat_message m[] = {{"user", "hi"}};
    char *a = NULL, *b = NULL;
    assert_int_equal(vc_chat_template_render_opts(ct, m, 1, &opts, &a, &err), 0);
    assert_int_equal(vc_chat_template_render_json(ct, "[{\"role\": \"user\", \"content\": \"hi\"}]", NULL, &opts, &b, &err), 0);
    assert_string_equal(a, b);
    free(a);
    free(b);
    vc_chat_template_free(ct);
}

static void test_builtins_are_the_real_texts(void **state) {
    (void)state;
    json_t *root = load_fixture();
    json_t *templates = json_object_get(root, "templates");
    int n = 0;
    for (const char *name; (name = vc_chat_template_builtin_name(n)); n++) {
        const char *ref = opt_str(templates, name);
        if (!ref) fail_msg("built-in '%s' has no reference template in the fixture", name);
        assert_string_equal(vc_chat_template_builtin(name), ref);
    }
    assert_int_equal(n, 7);
    assert_null(vc_chat_template_builtin("nope"));
    json_decref(root);
}

static void test_override_and_fallback(void **state) {
    (void)state;
    json_t *root = load_fixture();
    json_t *cases = json_object_get(root, "cases");
    vc_error err = {{0}};
    vc_chat_template *ct = NULL;
    vc_chat_message msgs[] = {{"system", "You are a terse assistant."}, {"user", "Hello!"}};
    char *out = NULL;

    /* override by name wins over the model's template */
    assert_int_equal(vc_chat_template_create(&ct, "{{ 'model' }}", "llama3", "<|begin_of_text|>", "<|end_of_text|>", &err), 0);
    assert_string_equal(vc_chat_template_name(ct), "llama3");
    assert_int_equal(vc_chat_template_render(ct, msgs, 2, true, true, &out, &err), 0);
    const char *want = NULL;
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c) {
        if (!strcmp(opt_str(c, "family"), "llama3") && !strcmp(opt_str(c, "name"), "system_user_gen"))
            want = opt_str(c, "expected");
    }
    assert_non_null(want);
    assert_same("override llama3", want, out);
    free(out);
    vc_chat_template_free(ct);

    /* unknown override name: an error naming the built-ins */
    assert_int_equal(vc_chat_template_create(&ct, NULL, "vicuna", NULL, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "vicuna"));
    assert_non_null(strstr(err.msg, "chatml"));
    assert_null(ct);

    /* a model template using an unsupported construct falls back by its markers */
    const char *unsupported = "{% call turn() %}<|start_header_id|>{% endcall %}";
    assert_int_equal(vc_chat_template_create(&ct, unsupported, NULL, "<|begin_of_text|>", "<|end_of_text|>", &err), 0);
    assert_string_equal(vc_chat_template_name(ct), "llama3");
    assert_non_null(vc_chat_template_note(ct));
    assert_non_null(strstr(vc_chat_template_note(ct), "'{% call %}' tag"));
    assert_non_null(strstr(vc_chat_template_note(ct), "line 1 col"));
    assert_int_equal(vc_chat_template_render(ct, msgs, 2, true, true, &out, &err), 0);
    assert_same("fallback llama3", want, out);
    free(out);
    vc_chat_template_free(ct);

    /* no template at all: chatml, with a note */
    assert_int_equal(vc_chat_template_create(&ct, NULL, NULL, NULL, NULL, &err), 0);
    assert_string_equal(vc_chat_template_name(ct), "chatml");
    assert_non_null(vc_chat_template_note(ct));
    vc_chat_template_free(ct);

    assert_string_equal(vc_chat_template_guess("x [INST] y"), "mistral");
    assert_string_equal(vc_chat_template_guess("<<SYS>>"), "llama2");
    assert_string_equal(vc_chat_template_guess("<|im_start|> enable_thinking"), "qwen3");
    json_decref(root);
}

/* A template that must fail (at parse or render) with msg containing want. */
static void expect_error(const char *text, const char *want) {
    vc_error err = {{0}};
    jinja_template *tpl = NULL;
    jinja_chat_msg m = {"user", "hi", NULL};
    jinja_chat_vars vars = {.messages = &m, .n_messages = 1, .enable_thinking = -1};
    jinja_limits lim = {.max_output = 1 << 20, .max_memory = 16 << 20, .max_steps = 200000};
    int rc = jinja_template_parse(&tpl, text, strlen(text), &err);
    if (rc == 0) {
        char *out = NULL;
        rc = jinja_render_chat(tpl, &vars, &lim, &out, NULL, &err);
        free(out);
        jinja_template_free(tpl);
    }
    if (rc != -1) fail_msg("template %.80s: expected an error containing '%s', got success", text, want);
    if (!strstr(err.msg, want)) fail_msg("template %.80s: error '%s' lacks '%s'", text, err.msg, want);
}

static char *repeat_str(const char *a, int n, const char *mid, const char *b, int m) {
    size_t la = strlen(a), lb = strlen(b), lm = strlen(mid);
    char *s = malloc(la * (size_t)n + lm + lb * (size_t)m + 1), *p = s;
    for (int k = 0; k < n; k++, p += la) memcpy(p, a, la);
    memcpy(p, mid, lm);
    p += lm;
    for (int k = 0; k < m; k++, p += lb) memcpy(p, b, lb);
    *p = '\0';
    return s;
}

static void test_errors(void **state) {
    (void)state;
    expect_error("abc {{ x ", "unterminated tag '{{'");
    expect_error("abc {% if x ", "unterminated tag '{%'");
    expect_error("{# never closed", "missing end of comment");
    expect_error("{% if true %}open", "'if' tag is never closed");
    expect_error("{% for x in y %}", "'for' tag is never closed");
    expect_error("{% endif %}", "unexpected '{% endif %}'");
    expect_error("{{ 'x'|nosuchfilter }}", "unknown filter 'nosuchfilter'");
    expect_error("{{ 1 is nosuchtest }}", "unknown test 'nosuchtest'");
    expect_error("{% call m() %}x{% endcall %}", "unsupported construct: '{% call %}' tag");
    expect_error("{% filter nosuch %}x{% endfilter %}", "unknown filter 'nosuch'");
    expect_error("{% macro m(n) %}{{ m(n + 1) }}{% endmacro %}{{ m(0) }}", "macro calls nested too deeply");
    expect_error("{% include 'x' %}", "unsupported construct");
    expect_error("{{ 'a' % 1 }}", "unsupported construct");
    expect_error("{{ (1 }}", "expected ')'");
    expect_error("{{ 1 ]}}", "unexpected ']'");
    expect_error("{{ 'abc }}", "unterminated string");
    expect_error("{{ @ }}", "unexpected character '@'");
    expect_error("line one\n{{ 1 +  }}", "line 2 col");
    expect_error("{{ raise_exception('custom failure') }}", "custom failure");
    expect_error("{{ nothing.attr }}", "'nothing' is undefined");
    expect_error("{{ 1 + 'a' }}", "unsupported operand type(s) for +");
    expect_error("{{ 'a' + 1 }}", "can only concatenate str");
    expect_error("{{ 1 // 0 }}", "division or modulo by zero");
    expect_error("{{ 9223372036854775807 + 1 }}", "integer overflow");
    expect_error("{% for x in 5 %}{% endfor %}", "'int' object is not iterable");
    expect_error("{% set x = 1 %}{% set x.y = 2 %}", "non-namespace");
    expect_error("{% break %}", "outside of a for loop");
    /* huge loop bounds: the sandbox's range limit, then the step limit */
    expect_error("{% for i in range(100000000) %}x{% endfor %}", "range too big");
    expect_error("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
                 "evaluation steps");
    /* memory and output limits */
    expect_error("{{ 'abcdefgh' * 100000000 }}", "out of memory");
    expect_error("{% for i in range(100000) %}{{ 'abcdefghijklmnopqrstuvwxyz' }}{% endfor %}", "output limit");
    /* deep nesting: parens, ifs, unary minus, a long left-deep chain */
    char *deep = repeat_str("(", 5000, "1", ")", 5000);
    char *tpl = malloc(strlen(deep) + 8);
    sprintf(tpl, "{{ %s }}", deep);
    expect_error(tpl, "nested too deeply");
    free(deep);
    free(tpl);
    deep = repeat_str("{% if true %}", 3000, "x", "{% endif %}", 3000);
    expect_error(deep, "nested too deeply");
    free(deep);
    deep = repeat_str("-", 5000, "1", "", 0);
    tpl = malloc(strlen(deep) + 8);
    sprintf(tpl, "{{ %s }}", deep);
    expect_error(tpl, "nested too deeply");
    free(deep);
    free(tpl);
    deep = repeat_str("1 + ", 5000, "1", "", 0);
    tpl = malloc(strlen(deep) + 8);
    sprintf(tpl, "{{ %s }}", deep);
    expect_error(tpl, "nested too deeply");
    free(deep);
    free(tpl);
}

/* xorshift: a fixed sequence, so a failure reproduces */
static uint32_t rnd(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return (uint32_t)(*s >> 11);
}

static int n_parsed, n_rendered;

static void try_template(const char *text, size_t len) {
    vc_error err = {{0}};
    jinja_template *tpl = NULL;
    jinja_chat_msg m[] = {{"system", "s", NULL}, {"user", "hi", NULL}, {"assistant", "<think>a</think>b", NULL}};
    jinja_chat_vars vars = {.messages = m, .n_messages = 3, .add_generation_prompt = true,
                            .bos_token = "<s>", .eos_token = "</s>", .enable_thinking = -1};
    jinja_limits lim = {.max_output = 1 << 16, .max_memory = 4 << 20, .max_steps = 20000};
    if (jinja_template_parse(&tpl, text, len, &err) == 0) {
        char *out = NULL;
        n_parsed++;
        if (jinja_render_chat(tpl, &vars, &lim, &out, NULL, &err) == 0) {
            assert_non_null(out);
            n_rendered++;
        } else {
            assert_true(err.msg[0] != '\0');
        }
        free(out);
        jinja_template_free(tpl);
    } else {
        assert_true(err.msg[0] != '\0');
    }
}

static void test_fuzz(void **state) {
    (void)state;
    json_t *root = load_fixture();
    json_t *templates = json_object_get(root, "templates");
    static const char alphabet[] = "{}%#-+()[]'\"|.,:~=<>!*/ \nabcdeifnorst0129_";
    static const char *const pieces[] = {"{{", "}}", "{%", "%}", "{#", "#}", "{%-", "-%}", " if ", " for ",
                                         " in ", "endif", "endfor", " set ", "x", "'s'", "loop.", "messages",
                                         "|trim", " is defined", "(", ")", "[", "]", "range(9)", "namespace(a=1)",
                                         " else ", " elif ", "ns.a", " = ", "raw", "endraw", "\n", "  "};
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    char buf[512];
    int runs = 0;
    for (int it = 0; it < 3000; it++, runs++) { /* random bytes, biased to template syntax */
        size_t len = rnd(&seed) % sizeof buf;
        for (size_t k = 0; k < len; k++)
            buf[k] = (rnd(&seed) % 4) ? alphabet[rnd(&seed) % (sizeof alphabet - 1)] : (char)(rnd(&seed) & 0xff);
        try_template(buf, len);
    }
    for (int it = 0; it < 3000; it++, runs++) { /* random token soup */
        size_t len = 0;
        int n = (int)(rnd(&seed) % 40);
        for (int k = 0; k < n; k++) {
            const char *p = pieces[rnd(&seed) % (sizeof pieces / sizeof *pieces)];
            size_t pl = strlen(p);
            if (len + pl >= sizeof buf) break;
            memcpy(buf + len, p, pl);
            len += pl;
        }
        try_template(buf, len);
    }
    const char *key;
    json_t *v;
    json_object_foreach(templates, key, v) { /* mutations of the real templates */
        const char *text = json_string_value(v);
        size_t tl = strlen(text);
        char *mut = malloc(tl + 1);
        for (int it = 0; it < 150; it++, runs++) {
            memcpy(mut, text, tl + 1);
            size_t len = tl;
            int edits = 1 + (int)(rnd(&seed) % 4);
            for (int e = 0; e < edits; e++) {
                size_t at = rnd(&seed) % (len ? len : 1);
                switch (rnd(&seed) % 3) {
                case 0: mut[at] = alphabet[rnd(&seed) % (sizeof alphabet - 1)]; break;
                case 1: memmove(mut + at, mut + at + 1, len - at); len = len ? len - 1 : 0; break;
                default: len = at; mut[len] = '\0'; break; /* truncate */
                }
            }
            try_template(mut, len);
        }
        free(mut);
    }
    print_message("fuzz: %d random templates, %d parsed, %d rendered, no crash\n", runs, n_parsed, n_rendered);
    json_decref(root);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_family_conversations),
        cmocka_unit_test(test_jinja_snippets),
        cmocka_unit_test(test_extra_real_templates),
        cmocka_unit_test(test_templates_from_models),
        cmocka_unit_test(test_tool_use),
        cmocka_unit_test(test_json_input_errors),
        cmocka_unit_test(test_builtins_are_the_real_texts),
        cmocka_unit_test(test_override_and_fallback),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_fuzz),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
