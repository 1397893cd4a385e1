/* A small Jinja2 interpreter: the subset that Hugging Face chat templates use,
 * rendered the way transformers renders them (ImmutableSandboxedEnvironment
 * with trim_blocks=True, lstrip_blocks=True, loop controls, keep_trailing_newline
 * False, tojson with ensure_ascii=False). docs/chat_templates.md lists the
 * supported constructs.
 *
 * Lifecycle: jinja_template_parse() once, jinja_render() any number of times
 * (a template is read-only while rendering, so renders may run concurrently),
 * jinja_template_free(). */
#ifndef VLLMC_JINJA_H
#define VLLMC_JINJA_H

#include <stdbool.h>
#include <stddef.h>

#include "util/error.h"

typedef struct jinja_template jinja_template;

/* Parses src (UTF-8, len bytes). Errors name the construct and its line:column. */
int jinja_template_parse(jinja_template **out, const char *src, size_t len, vc_error *err);
void jinja_template_free(jinja_template *tpl);

/* The variables a chat template sees. A field left NULL (or < 0 for the
 * tri-states) is undefined in the template, as with transformers when the
 * kwarg is not passed. */
typedef struct jinja_chat_msg {
    const char *role;
    const char *content;           /* NULL -> none */
    const char *reasoning_content; /* NULL -> key absent */
} jinja_chat_msg;

typedef struct jinja_chat_vars {
    const jinja_chat_msg *messages;
    int n_messages;
    bool add_generation_prompt;
    const char *bos_token; /* NULL -> undefined */
    const char *eos_token; /* NULL -> undefined */
    int enable_thinking;   /* -1 undefined, 0 false, 1 true */
    /* further string variables (apply_chat_template's extra kwargs, e.g. date_string) */
    const char *const *extra_names;
    const char *const *extra_values;
    int n_extra;
} jinja_chat_vars;

/* Limits that keep a hostile template from exhausting the process. */
typedef struct jinja_limits {
    size_t max_output;    /* bytes of rendered text */
    size_t max_memory;    /* bytes of intermediate values */
    long max_steps;       /* statements + loop iterations + calls */
} jinja_limits;

/* Renders into a malloc'd NUL-terminated string (*out_len bytes, optional). */
int jinja_render_chat(const jinja_template *tpl, const jinja_chat_vars *vars,
                      const jinja_limits *limits, char **out, size_t *out_len, vc_error *err);

/* The same with every variable given as one JSON object (jansson json_t):
 * each key becomes a variable, with JSON types mapped to Python's (null ->
 * none, objects -> dicts in key order). Nothing else is defined but the
 * globals (range, namespace, dict, raise_exception, strftime_now). */
struct json_t;
int jinja_render_json(const jinja_template *tpl, const struct json_t *vars, const jinja_limits *limits,
                      char **out, size_t *out_len, vc_error *err);

#endif
