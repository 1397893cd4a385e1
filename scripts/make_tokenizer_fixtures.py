#!/usr/bin/env python3
"""Generates tests/fixtures/tokenizer/ with Hugging Face `tokenizers` as the
reference (never with vllm.c's own code).

Inputs (the project's shared data, default ../shared/data relative to the repo):
  tokenizers/{llama2,llama3,qwen3}/   tokenizer.json + tokenizer_config.json
  vocab-tests/                        ggml-vocab-*.gguf(.inp/.out)
  models/SmolLM2-135M-Instruct.Q4_1.gguf (scripts/fetch-model.sh)

Outputs:
  <name>.tokenizer.json.xz, <name>.tokenizer_config.json   (the tokenizer folders, compressed)
  ggml-vocab-*.gguf.xz, ggml-vocab-*.gguf.inp/.out          (the vocab-tests suite)
  cases-<name>-added.json (llama2, qwen3): the same for the tokenizer with extra
                      added tokens carrying lstrip/rstrip/single_word/normalized/
                      special flags; "added_tokens" holds the tokenizer.json
                      added_tokens array to patch in
  cases-<variant>.json (llama2-meta, llama2-metasplit, qwen3-nfkc): the base
                      tokenizer.json with the top-level fields in "patch" replaced
                      (Metaspace pre-tokenizer instead of the normalizer, NFKC)
  cases-<name>.json   {"texts": [{"text", "add_special", "parse_special", "ids"}],
                       "decodes": [{"ids", "text", "text_skip"}]}
    ids: tokenizers' encode; text/text_skip: tokenizers' decode without / with
    skip_special_tokens. Decodes cover the encoded cases and random id streams.

SmolLM2's tokenizer is rebuilt from its GGUF vocabulary (gguf-py) with the
pre-tokenizer of its published tokenizer.json: Digits(individual_digits) then
ByteLevel(add_prefix_space=False, use_regex=True), ByteLevel decoder, and the
tokens the GGUF marks CONTROL as special added tokens.

usage: python3 scripts/make_tokenizer_fixtures.py [--shared DIR]
"""
import argparse
import json
import lzma
import os
import random
import shutil
import sys

import gguf
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "tokenizer")

FIXED_TEXTS = [
    "", " ", "  ", "\n", "\n\n\n", "\t\t", " \n \n", "\r\n", "   leading and trailing   ",
    "Hello world", "Hello, world! How's it going? I'm fine; they'll see, we'd go, you've been, it's.",
    "HELLO'S THE WORLD'LL 'RE", "don't DON'T Don'T",
    "Árvíztűrő tükörfúrógép, Ça va? Straße, naïve café, señor, Øresund, Łódź",
    "Cafe\u0301 vs Caf\u00e9, A\u030a vs \u00c5, n\u0303",          # decomposed vs precomposed (NFC)
    "日本語のテキストです。東京は大きい都市です。",
    "中文文本：我想在苹果公司工作。１２３４５",
    "한국어 텍스트입니다.",
    "مرحبا بالعالم، هذا نص عربي.",
    "नमस्ते दुनिया, यह हिंदी पाठ है।",
    "Привет, мир! Съешь же ещё этих мягких французских булок.",
    "ελληνικά κείμενα",
    "ไทย ภาษา",
    "🦙🦙 🚀 😶\u200d🌫️ 👨\u200d👩\u200d👧\u200d👦 👍🏽 🏳️\u200d🌈 ❤️ 🇫🇷🇩🇪",
    "def f(x):\n    return x**2 + 1  # comment\n\nclass A:\n\tpass\n",
    "int main(void) { printf(\"%d\\n\", 42); return 0; }",
    "for (let i = 0; i < n; i++) { sum += a[i] * b[i]; } // js",
    "<div class=\"x\">&amp; &lt;tag&gt;</div>",
    "1234567890 3.14159 1,000,000 2024-01-01 0x1F 1e-9 ٣٤٥ ४५६",
    "12345678901234567890123456789012345678901234567890",
    "a" * 300,
    " " * 50 + "x" + "\n" * 20 + "y" + "\t" * 7,
    "    Hello\n    Hello\n\n\n  \n",
    "\u00a0non-breaking\u00a0space\u3000ideographic\u2009thin",
    "zero\u200bwidth\u200cjoiners\u200d",
    "!!!!!!?????......,,,,,;;;;::::",
    "'''''```````\"\"\"\"",
    "mixed日本語and English和中文123abc",
    "tab\tseparated\tvalues\tand\rcarriage\rreturns",
]


def special_texts(specials):
    out = []
    for s in specials[:6]:
        out += [f"{s}", f"Hello{s}world", f" {s} spaced {s} ", f"{s}{s}", f"text\n{s}\nmore"]
    if specials:
        out.append("<|partial" + specials[0][2:4] + " not a token <| |>")
    return out


POOLS = [
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "0123456789",
    " \t\n\r   \u00a0\u3000",
    ".,;:!?'\"()[]{}<>-_=+*/\\|@#$%^&~`",
    "日本語中文漢字한국어",
    "مرحبابالعالم",
    "नमस्तेदुनिया\u094d\u093e",
    "àáâãäåèéêëìíîïòóôõöùúûüçñßøæœ",
    "e\u0301a\u0300o\u0308n\u0303",
    "🦙🚀😁👍🏽\u200d❤️🌫️",
    "ℝ∑∫√∞≈≠≤≥",
]


def random_text(rng, specials):
    parts = []
    for _ in range(rng.randint(1, 12)):
        if specials and rng.random() < 0.08:
            parts.append(rng.choice(specials))
            continue
        pool = rng.choice(POOLS)
        parts.append("".join(rng.choice(pool) for _ in range(rng.randint(1, 10))))
    return "".join(parts)


def make_cases(tok, specials, n_vocab, rng, n_random=120, bos_check=True):
    texts = []
    for t in FIXED_TEXTS + special_texts(specials):
        texts.append((t, False, True))
    for t in special_texts(specials)[:10]:
        texts.append((t, False, False))
    for _ in range(n_random):
        texts.append((random_text(rng, specials), False, rng.random() < 0.8))
    if bos_check:
        texts += [("Hello world", True, True), ("", True, True), (" x", True, False)]
    cases, decodes = [], []
    for text, add_special, parse_special in texts:
        tok.encode_special_tokens = not parse_special
        ids = tok.encode(text, add_special_tokens=add_special).ids
        cases.append({"text": text, "add_special": add_special, "parse_special": parse_special, "ids": ids})
    tok.encode_special_tokens = False
    streams = [c["ids"] for c in cases if c["ids"]][:60]
    special_ids = [tok.token_to_id(s) for s in specials]
    for _ in range(80):   # random id streams: broken UTF-8, byte tokens, specials
        n = rng.randint(1, 40)
        ids = [rng.randrange(n_vocab) if rng.random() < 0.9 or not special_ids else rng.choice(special_ids)
               for _ in range(n)]
        streams.append(ids)
    for ids in streams:
        decodes.append({"ids": ids, "text": tok.decode(ids, skip_special_tokens=False),
                        "text_skip": tok.decode(ids, skip_special_tokens=True)})
    return {"texts": cases, "decodes": decodes}


EXTRA_ADDED = [
    dict(content="<ls>", lstrip=True, normalized=False),
    dict(content="<rs>", rstrip=True, normalized=False),
    dict(content="word", single_word=True, normalized=False),
    dict(content="nrm x", normalized=True),
    dict(content="<sp>", special=True, lstrip=True, rstrip=True, normalized=False),
    dict(content="<both>", lstrip=True, rstrip=True, normalized=True),
    dict(content="\u00dcn\u00ef", normalized=True),          # NFC form: matches decomposed text after NFC
    dict(content="<ls><rs>", normalized=False),               # longer than <ls>: leftmost-longest
]

ADDED_TEXTS = [
    "a <ls> b", "a  <rs>  b", "a word b", "swordfish word words _word word_ éword", "a nrm x b", "anrm xb",
    "x <sp>  y", " <ls>", "<rs> ", "\t<ls>\n<rs>\n", "<both>", "  <both>  ", "U\u0308n\u0131 Ünï U\u0308ni\u0308",
    "<ls><rs>", "<ls> <rs>", "a<ls><rs>b<rs><ls>", "word,word.word", "nrm  x nrm x",
]


def added_cases(tok, rng):
    specials = [a.content for a in tok.get_added_tokens_decoder().values() if a.special]
    tok.add_tokens([AddedToken(**d) for d in EXTRA_ADDED])
    pool = [d["content"] for d in EXTRA_ADDED] + [" ", "  ", "\n", "a", "b", "_", "é", "x"]
    texts = ADDED_TEXTS + ["".join(rng.choice(pool) for _ in range(rng.randint(1, 12))) for _ in range(60)]
    cases = []
    for parse_special in (True, False):
        tok.encode_special_tokens = not parse_special
        for t in texts:
            cases.append({"text": t, "add_special": False, "parse_special": parse_special,
                          "ids": tok.encode(t, add_special_tokens=False).ids})
    tok.encode_special_tokens = False
    decodes = []
    for c in cases[: len(texts)]:
        decodes.append({"ids": c["ids"], "text": tok.decode(c["ids"], skip_special_tokens=False),
                        "text_skip": tok.decode(c["ids"], skip_special_tokens=True)})
    added = json.loads(tok.to_str())["added_tokens"]
    return {"added_tokens": added, "texts": cases, "decodes": decodes}


META = {"type": "Metaspace", "replacement": "\u2581"}
PATCHES = {
    "llama2-meta": ("llama2", {"normalizer": None, "pre_tokenizer": dict(META, prepend_scheme="first", split=False)}),
    "llama2-metasplit": ("llama2", {"normalizer": None, "pre_tokenizer": dict(META, prepend_scheme="always", split=True)}),
    "qwen3-nfkc": ("qwen3", {"normalizer": {"type": "NFKC"}}),
}


def smollm2_tokenizer(path):
    r = gguf.GGUFReader(path)

    def strings(key):
        f = r.fields[key]
        return [bytes(f.parts[i]).decode("utf-8") for i in f.data]

    tokens = strings("tokenizer.ggml.tokens")
    merges = [tuple(m.split(" ", 1)) for m in strings("tokenizer.ggml.merges")]
    ttype = [int(r.fields["tokenizer.ggml.token_type"].parts[i][0]) for i in r.fields["tokenizer.ggml.token_type"].data]
    tok = Tokenizer(models.BPE(vocab={t: i for i, t in enumerate(tokens)}, merges=merges))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True),
         pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    tok.decoder = decoders.ByteLevel()
    control = [t for t, ty in zip(tokens, ttype) if ty == 3]
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in control])
    return tok, control, len(tokens)


def xz_copy(src, dst):
    with open(src, "rb") as f, lzma.open(dst, "wb", preset=9 | lzma.PRESET_EXTREME) as g:
        shutil.copyfileobj(f, g)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=os.path.join(ROOT, "..", "shared", "data"))
    ap.add_argument("--model", default=os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf"))
    args = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    rng = random.Random(1234)

    vt = os.path.join(args.shared, "vocab-tests")
    for name in sorted(os.listdir(vt)):
        src = os.path.join(vt, name)
        if name.endswith(".gguf"):
            xz_copy(src, os.path.join(OUT, name + ".xz"))
        elif name.endswith((".inp", ".out")):
            shutil.copyfile(src, os.path.join(OUT, name))

    for name in ["llama2", "llama3", "qwen3"]:
        d = os.path.join(args.shared, "tokenizers", name)
        xz_copy(os.path.join(d, "tokenizer.json"), os.path.join(OUT, name + ".tokenizer.json.xz"))
        shutil.copyfile(os.path.join(d, "tokenizer_config.json"), os.path.join(OUT, name + ".tokenizer_config.json"))
        tok = Tokenizer.from_file(os.path.join(d, "tokenizer.json"))
        specials = [a.content for a in tok.get_added_tokens_decoder().values() if a.special]
        # llama2's folder adds BOS through tokenizer_config (add_bos_token), which
        # transformers applies; its tokenizer.json post-processor does the same.
        cases = make_cases(tok, sorted(specials, key=lambda s: (len(s), s))[:40], tok.get_vocab_size(), rng)
        with open(os.path.join(OUT, f"cases-{name}.json"), "w") as f:
            json.dump(cases, f, ensure_ascii=False, separators=(",", ":"))
        if name in ("llama2", "qwen3"):
            cases = added_cases(Tokenizer.from_file(os.path.join(d, "tokenizer.json")), random.Random(99))
            with open(os.path.join(OUT, f"cases-{name}-added.json"), "w") as f:
                json.dump(cases, f, ensure_ascii=False, separators=(",", ":"))

    for variant, (name, patch) in PATCHES.items():
        with open(os.path.join(args.shared, "tokenizers", name, "tokenizer.json"), encoding="utf-8") as f:
            j = json.load(f)
        j.update(patch)
        tok = Tokenizer.from_str(json.dumps(j))
        specials = [a.content for a in tok.get_added_tokens_decoder().values() if a.special]
        cases = make_cases(tok, sorted(specials, key=lambda s: (len(s), s))[:40], tok.get_vocab_size(), rng, n_random=60)
        cases["patch"] = patch
        with open(os.path.join(OUT, f"cases-{variant}.json"), "w") as f:
            json.dump(cases, f, ensure_ascii=False, separators=(",", ":"))

    tok, control, n_vocab = smollm2_tokenizer(args.model)
    cases = make_cases(tok, control, n_vocab, rng)
    with open(os.path.join(OUT, "cases-smollm2.json"), "w") as f:
        json.dump(cases, f, ensure_ascii=False, separators=(",", ":"))
    total = sum(os.path.getsize(os.path.join(OUT, n)) for n in os.listdir(OUT))
    print(f"wrote {OUT}: {total / 1e6:.2f} MB", file=sys.stderr)


if __name__ == "__main__":
    main()
