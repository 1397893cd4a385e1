/* vc_tokenizer lifetime and accessors. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"

void vc_tokenizer_free(vc_tokenizer *t) {
    if (!t) return;
    free(t->text_blob);
    free(t->text_off);
    free(t->text_len);
    free(t->dec_blob);
    free(t->dec_off);
    free(t->dec_len);
    free(t->flags);
    free(t->scores);
    free(t->vocab.slot);
    free(t->merges.slot);
    for (int i = 0; i < t->n_regex; i++) pcre2_code_free(t->regex[i]);
    for (int i = 0; i < t->n_added; i++)
        if (t->added[i].match != t->added[i].content) free(t->added[i].match);
    free(t->added);
    free(t->added_order);
    free(t->eog_ids);
    free(t->chat_template);
    free(t);
}

int vc_tokenizer_vocab_size(const vc_tokenizer *t) { return t->n_vocab; }
int vc_tokenizer_bos(const vc_tokenizer *t) { return t->bos_id; }
int vc_tokenizer_eos(const vc_tokenizer *t) { return t->eos_id; }

int vc_tokenizer_eog_ids(const vc_tokenizer *t, const int32_t **ids) {
    *ids = t->eog_ids;
    return t->n_eog;
}

bool vc_tokenizer_is_special(const vc_tokenizer *t, int32_t id) {
    return id >= 0 && id < t->n_vocab && (t->flags[id] & VC_TOKF_SPECIAL);
}

const char *vc_tokenizer_chat_template(const vc_tokenizer *t) { return t->chat_template; }

const char *vc_tokenizer_token_text(const vc_tokenizer *t, int32_t id) {
    return id >= 0 && id < t->n_vocab ? vc_tok_text(t, id) : NULL;
}

const char *vc_tokenizer_token_bytes(const vc_tokenizer *t, int32_t id, size_t *len) {
    *len = 0;
    if (id < 0 || id >= t->n_vocab) return NULL;
    /* a byte-fallback token <0xNN> decodes to its one byte */
    *len = t->dec_byte_fallback && (t->flags[id] & VC_TOKF_BYTE) ? 1 : t->dec_len[id];
    return vc_tok_dec(t, id);
}
