/* Chat templates rendered exactly as their Jinja chat_template renders. */
#ifndef VLLMC_CHAT_TEMPLATE_H
#define VLLMC_CHAT_TEMPLATE_H

#include <stdbool.h>

#include "util/error.h"

typedef struct vc_chat_message {
    const char *role;      /* "system", "user", "assistant", ... */
    const char *content;   /* NULL renders as none */
} vc_chat_message;

typedef struct vc_chat_template vc_chat_template;

/* source: the template text from the model (GGUF tokenizer.chat_template or
 * tokenizer_config.json), may be NULL; name: an override ("chatml", "llama3",
 * "llama2", "mistral", ...) or NULL to use source. bos/eos: the token texts
 * the template may reference (bos_token, eos_token); NULL leaves them undefined.
 *
 * Choice: name if given (unknown name -> error listing the built-ins); else
 * source if it parses; else a built-in guessed from source (or "chatml" when
 * there is no source), with a message in vc_chat_template_note(). */
int vc_chat_template_create(vc_chat_template **out, const char *source, const char *name,
                            const char *bos_token, const char *eos_token, vc_error *err);
void vc_chat_template_free(vc_chat_template *ct);

/* Renders to a malloc'd string. enable_thinking: Qwen3's switch (ignored by
 * templates that do not read it): false passes enable_thinking=False; true
 * leaves it unpassed, which these templates treat as thinking on. */
int vc_chat_template_render(const vc_chat_template *ct, const vc_chat_message *msgs, int n_msgs,
                            bool add_generation_prompt, bool enable_thinking, char **out,
                            vc_error *err);

/* ---- extensions ---- */

typedef struct vc_chat_render_opts {
    bool add_generation_prompt;
    int enable_thinking; /* -1: not passed (undefined in the template), 0: False, 1: True */
} vc_chat_render_opts;

int vc_chat_template_render_opts(const vc_chat_template *ct, const vc_chat_message *msgs, int n_msgs,
                                 const vc_chat_render_opts *opts, char **out, vc_error *err);

/* The same with messages (and optionally tools) as JSON text, as an OpenAI
 * request carries them: messages_json is an array of objects (role, content
 * - a string or null -, tool_calls, tool_call_id, reasoning_content, ...,
 * passed through as they are); tools_json is an array of tool schemas or
 * NULL. A message's reasoning_content (or thinking / reasoning) is also
 * given as "thinking" and "reasoning_content", as transformers does. */
int vc_chat_template_render_json(const vc_chat_template *ct, const char *messages_json, const char *tools_json,
                                 const vc_chat_render_opts *opts, char **out, vc_error *err);

/* Why a fallback was taken (for the caller to print), or NULL if none was. */
const char *vc_chat_template_note(const vc_chat_template *ct);
/* "model" when the model's own template is used, else the built-in's name. */
const char *vc_chat_template_name(const vc_chat_template *ct);

/* The template of a loaded tokenizer: its chat_template (GGUF metadata or
 * tokenizer_config.json) and its bos/eos token texts; name overrides as in
 * vc_chat_template_create. With no template in the model the fallback is
 * guessed from the vocabulary (<|im_start|> -> chatml, <|start_header_id|>
 * -> llama3, a "<s>" bos -> llama2, else chatml), with a note. */
typedef struct vc_tokenizer vc_tokenizer;
int vc_chat_template_from_tokenizer(vc_chat_template **out, const vc_tokenizer *tok, const char *name,
                                    vc_error *err);

/* Built-ins: the text of one by name (NULL if unknown); the i-th name (NULL past the end). */
const char *vc_chat_template_builtin(const char *name);
const char *vc_chat_template_builtin_name(int i);
/* The built-in closest to a template text, by the markers it contains. */
const char *vc_chat_template_guess(const char *source);

#endif
