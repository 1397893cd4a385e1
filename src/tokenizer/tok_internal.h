/* Internal state of a vc_tokenizer, shared by the files of src/tokenizer/.
 *
 * Two model kinds share one merge engine (bpe.c):
 *  - byte-level BPE (GPT-2 style): text -> regex pre-tokens -> bytes; the
 *    vocabulary is keyed by the raw bytes a token stands for (the GPT-2
 *    byte->unicode spelling is undone at load), so no remapping per call.
 *  - SentencePiece-style BPE: text -> ' ' replaced by U+2581, U+2581 prepended
 *    -> UTF-8 chars (byte fallback <0xNN> for chars not in the vocabulary);
 *    the vocabulary is keyed by the token text as stored.
 * Merges are (left id, right id) -> (rank, result id); lower rank merges first,
 * ties go to the leftmost pair. SentencePiece vocabularies without merges get
 * them derived from token scores (higher score = lower rank). */
#ifndef VLLMC_TOK_INTERNAL_H
#define VLLMC_TOK_INTERNAL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tokenizer/tokenizer.h"
#include "util/error.h"

enum vc_tok_kind { VC_TOK_BYTE_BPE = 1, VC_TOK_SPM = 2 };

/* per-token flags */
enum {
    VC_TOKF_SPECIAL = 1,   /* skipped by decode(skip_special); parsed only with parse_special */
    VC_TOKF_BYTE = 2,      /* SentencePiece byte-fallback token "<0xNN>" */
    VC_TOKF_UNUSED = 4,
};

typedef struct vc_added_token {
    int32_t id;
    const char *content;   /* points into the tokenizer's text blob, NUL-terminated */
    uint32_t len;
    /* what is matched: content, or for normalized tokens the normalized content
     * (matched on normalized text); owned when != content */
    char *match;
    uint32_t match_len;
    bool special, lstrip, rstrip, normalized, single_word;
} vc_added_token;

/* open-addressing maps; capacity a power of two */
typedef struct vc_tok_strmap {
    uint32_t mask;
    int32_t *slot;         /* token id or -1 */
} vc_tok_strmap;

typedef struct vc_merge_slot {
    uint64_t key;          /* (uint64)left << 32 | right; UINT64_MAX = empty */
    int32_t rank;
    int32_t result;
} vc_merge_slot;

typedef struct vc_tok_mergemap {
    uint32_t mask;
    uint32_t count;
    vc_merge_slot *slot;
} vc_tok_mergemap;

#define VC_TOK_MAX_REGEX 4

struct vc_tokenizer {
    enum vc_tok_kind kind;
    int32_t n_vocab;

    /* token text as stored (NUL-terminated) and the bytes it decodes to */
    char *text_blob;
    uint64_t *text_off;    /* [n_vocab] */
    uint32_t *text_len;    /* [n_vocab] */
    char *dec_blob;
    uint64_t dec_used;     /* bytes of dec_blob in use */
    uint64_t *dec_off;     /* [n_vocab] */
    uint32_t *dec_len;     /* [n_vocab] */
    uint8_t *flags;        /* [n_vocab] VC_TOKF_* */
    float *scores;         /* [n_vocab] or NULL */

    vc_tok_strmap vocab;   /* key: dec bytes (byte-level) or text (SPM) */
    vc_tok_mergemap merges;
    int32_t byte_id[256];  /* byte-level: token of one byte; SPM: "<0xNN>"; -1 if none */
    int32_t unk_id;        /* -1 if none */
    bool ignore_merges;    /* a pre-token found whole in the vocabulary is not merged */

    /* normalization */
    enum { VC_UNORM_NONE, VC_UNORM_NFC, VC_UNORM_NFKC, VC_UNORM_NFD, VC_UNORM_NFKD } unorm;   /* utf8proc */
    bool spm_prepend;      /* prepend U+2581 to each non-empty text segment */
    bool spm_replace_space;/* ' ' -> U+2581 */
    bool add_prefix_space; /* byte-level: prepend ' ' when the segment does not start with one */

    /* Metaspace pre-tokenizer (SentencePiece-style without a normalizer): ' ' -> U+2581,
     * U+2581 prepended unless present (always, or only to the piece at input offset 0),
     * and with meta_split a new piece before each U+2581 */
    bool meta;
    int meta_prepend;      /* 0 never, 1 always, 2 first */
    bool meta_split;

    /* pre-tokenizer: regexes applied in sequence (each splits the pieces of the previous) */
    int n_regex;
    pcre2_code *regex[VC_TOK_MAX_REGEX];

    /* added tokens, matched leftmost-longest before normalization/BPE */
    int n_added;
    vc_added_token *added;
    uint32_t added_first[257];   /* CSR by first byte into added_order */
    int32_t *added_order;        /* indices into added, longest first within a byte */

    /* special ids */
    int32_t bos_id, eos_id;
    int n_prefix, n_suffix;      /* ids added by add_special */
    int32_t prefix_ids[4], suffix_ids[4];
    int n_eog;
    int32_t *eog_ids;
    char *chat_template;

    /* decoding */
    bool dec_byte_fallback;      /* runs of <0xNN> tokens are UTF-8 checked as a whole */
    int dec_strip_leading;       /* leading ' ' removed from the decoded text (SPM: 1) */
};

/* ---- vocab.c: building blocks shared by the loaders ---- */
/* allocates the per-token arrays for n tokens (all zero / -1) */
int vc_tok_alloc(vc_tokenizer *t, int32_t n, vc_error *err);
/* sets the text of every token from an array of (ptr,len) strings and computes
 * the decode bytes for the tokenizer's kind; builds the vocabulary map */
int vc_tok_set_texts(vc_tokenizer *t, const char *const *ptrs, const uint64_t *lens, vc_error *err);
static inline const char *vc_tok_text(const vc_tokenizer *t, int32_t id) { return t->text_blob + t->text_off[id]; }
static inline const char *vc_tok_dec(const vc_tokenizer *t, int32_t id) { return t->dec_blob + t->dec_off[id]; }
/* the vocabulary key of a token (see vocab field) */
const char *vc_tok_key(const vc_tokenizer *t, int32_t id, uint32_t *len);
int32_t vc_tok_lookup(const vc_tokenizer *t, const char *s, size_t n);
/* adds a merge "left right" (the two texts as stored); unknown parts are skipped */
int vc_tok_add_merge_ids(vc_tokenizer *t, int32_t left, int32_t right, int32_t rank, vc_error *err);
int vc_tok_add_merge_text(vc_tokenizer *t, const char *left, size_t nl, const char *right,
                          size_t nr, int32_t rank, vc_error *err);
/* SentencePiece without merges: every split a+b of a token t with a, b in the
 * vocabulary becomes a merge, ranked by t's score (equal scores, equal rank) */
int vc_tok_merges_from_scores(vc_tokenizer *t, vc_error *err);
int vc_tok_merge_lookup(const vc_tokenizer *t, int32_t left, int32_t right, int32_t *rank);
/* fills byte_id[] after the texts are set */
void vc_tok_find_byte_tokens(vc_tokenizer *t);
/* registers an added token (id must be in range) */
int vc_tok_add_added(vc_tokenizer *t, int32_t id, bool special, bool lstrip, bool rstrip,
                     bool normalized, bool single_word, vc_error *err);
/* sorts added tokens into the first-byte index; call once after all are added
 * and after the normalizer is set (normalized tokens match their normalized content) */
int vc_tok_index_added(vc_tokenizer *t, vc_error *err);
int vc_tok_add_eog(vc_tokenizer *t, int32_t id, vc_error *err);
/* adds well-known end-of-turn token texts present in the vocabulary as EOG */
int vc_tok_add_known_eogs(vc_tokenizer *t, vc_error *err);

/* ---- bytes_unicode.c: GPT-2 byte <-> unicode spelling ---- */
uint32_t vc_byte_to_cp(uint8_t b);
/* -1 if the code point is not one of the 256 */
int vc_cp_to_byte(uint32_t cp);
/* decodes one UTF-8 char at s[0..n); returns its length or 0 if invalid */
int vc_utf8_decode(const uint8_t *s, size_t n, uint32_t *cp);
/* offset of the first invalid byte, or n if s is valid UTF-8 */
size_t vc_utf8_validate(const uint8_t *s, size_t n);

/* ---- pretokenize.c ---- */
int vc_tok_add_regex(vc_tokenizer *t, const char *pattern, size_t len, vc_error *err);
/* the regexes for a GGUF tokenizer.ggml.pre name; -1 if unknown */
int vc_tok_set_pre_by_name(vc_tokenizer *t, const char *name, vc_error *err);
/* calls emit(ctx, piece, len) for every pre-token of text (in order);
 * at_origin: text starts at offset 0 of the input (Metaspace prepend "first").
 * Returns -1 if emit failed or memory ran out. */
typedef int (*vc_piece_fn)(void *ctx, const char *piece, size_t len);
int vc_pretokenize(const vc_tokenizer *t, pcre2_match_data *md, const char *text, size_t len, bool at_origin,
                   vc_piece_fn emit, void *ctx);

/* ---- bpe.c: merge engine ---- */
typedef struct vc_bpe_scratch vc_bpe_scratch;
vc_bpe_scratch *vc_bpe_scratch_new(void);
void vc_bpe_scratch_free(vc_bpe_scratch *s);
/* merges a word given as initial symbol ids; appends the result ids to out */
typedef struct vc_idvec {
    int32_t *v;
    size_t n, cap;
} vc_idvec;
int vc_idvec_push(vc_idvec *a, int32_t id);
int vc_bpe_merge(const vc_tokenizer *t, vc_bpe_scratch *s, const int32_t *syms, size_t n, vc_idvec *out);
/* encodes one pre-token (byte-level: bytes; SPM: normalized text) */
int vc_bpe_word(const vc_tokenizer *t, vc_bpe_scratch *s, const char *w, size_t n, vc_idvec *out);

/* ---- normalize.c ---- */
/* applies the tokenizer's normalizer to one segment; *out malloc'd (or == text when unchanged).
 * normalizer_only: without the byte-level add_prefix_space (a pre-tokenizer step),
 * as for the content of normalized added tokens */
int vc_tok_normalize(const vc_tokenizer *t, const char *text, size_t len, bool normalizer_only, char **out,
                     size_t *out_len, vc_error *err);

/* ---- load_json.c / load_gguf.c ---- */
void vc_tok_free_internal(vc_tokenizer *t);

#endif
