/* The GPT-2 byte <-> unicode spelling of byte-level BPE vocabularies, and
 * small UTF-8 helpers. Printable Latin-1 bytes (0x21-0x7E, 0xA1-0xAC,
 * 0xAE-0xFF) stand for themselves; the other 68 bytes, in increasing order,
 * are spelled U+0100, U+0101, ... (so ' ' is U+0120 'Ġ', '\n' is U+010A 'Ċ'). */
#include "tokenizer/tok_internal.h"

static bool byte_is_printable(unsigned b) {
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

uint32_t vc_byte_to_cp(uint8_t b) {
    if (byte_is_printable(b)) return b;
    /* rank of b among the non-printable bytes */
    uint32_t rank = 0;
    for (unsigned x = 0; x < b; x++) rank += !byte_is_printable(x);
    return 256 + rank;
}

int vc_cp_to_byte(uint32_t cp) {
    if (cp < 256) return byte_is_printable(cp) ? (int)cp : -1;
    if (cp >= 256 + 68) return -1;
    uint32_t rank = cp - 256;
    for (unsigned x = 0; x < 256; x++) {
        if (byte_is_printable(x)) continue;
        if (rank == 0) return (int)x;
        rank--;
    }
    return -1;
}

int vc_utf8_decode(const uint8_t *s, size_t n, uint32_t *cp) {
    if (n == 0) return 0;
    uint8_t b = s[0];
    if (b < 0x80) { *cp = b; return 1; }
    int len;
    uint32_t c;
    uint8_t lo = 0x80, hi = 0xBF;   /* allowed range of the second byte */
    if (b >= 0xC2 && b <= 0xDF) { len = 2; c = b & 0x1F; }
    else if (b >= 0xE0 && b <= 0xEF) {
        len = 3; c = b & 0x0F;
        if (b == 0xE0) lo = 0xA0;
        if (b == 0xED) hi = 0x9F;   /* no surrogates */
    } else if (b >= 0xF0 && b <= 0xF4) {
        len = 4; c = b & 0x07;
        if (b == 0xF0) lo = 0x90;
        if (b == 0xF4) hi = 0x8F;
    } else return 0;
    if ((size_t)len > n) return 0;
    for (int i = 1; i < len; i++) {
        uint8_t x = s[i];
        if (i == 1 ? (x < lo || x > hi) : (x < 0x80 || x > 0xBF)) return 0;
        c = (c << 6) | (x & 0x3F);
    }
    *cp = c;
    return len;
}

size_t vc_utf8_validate(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        if (s[i] < 0x80) { i++; continue; }
        uint32_t cp;
        int l = vc_utf8_decode(s + i, n - i, &cp);
        if (!l) return i;
        i += (size_t)l;
    }
    return n;
}
