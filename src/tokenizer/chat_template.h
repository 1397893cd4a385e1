/* Chat templates rendered exactly as their Jinja chat_template renders. */
#ifndef VLLMC_CHAT_TEMPLATE_H
#define VLLMC_CHAT_TEMPLATE_H

#include <stdbool.h>

#include "util/error.h"

typedef struct vc_chat_message {
    const char *role;      /* "system", "user", "assistant", ... */
    const char *content;
} vc_chat_message;

typedef struct vc_chat_template vc_chat_template;

/* source: the template text from the model (GGUF tokenizer.chat_template or
 * tokenizer_config.json), may be NULL; name: an override ("chatml", "llama3",
 * "llama2", "mistral", ...) or NULL to use source. bos/eos: the token texts
 * the template may reference (bos_token, eos_token). */
int vc_chat_template_create(vc_chat_template **out, const char *source, const char *name,
                            const char *bos_token, const char *eos_token, vc_error *err);
void vc_chat_template_free(vc_chat_template *ct);

/* Renders to a malloc'd string. enable_thinking: Qwen3's switch (ignored by
 * templates that do not read it). */
int vc_chat_template_render(const vc_chat_template *ct, const vc_chat_message *msgs, int n_msgs,
                            bool add_generation_prompt, bool enable_thinking, char **out,
                            vc_error *err);

#endif
