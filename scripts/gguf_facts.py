#!/usr/bin/env python3
"""Dumps facts about the real model file, read with gguf-py's GGUFReader (an
independent reader), into tests/fixtures/formats/smollm2_facts.json for
tests/test_gguf.c and tests/test_config.c to compare against.

Run: python3 scripts/gguf_facts.py [models/SmolLM2-135M-Instruct.Q4_1.gguf]
"""
import json
import os
import sys

from gguf import GGUFReader, GGUFValueType

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
MODEL = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")
OUT = os.path.join(ROOT, "tests", "fixtures", "formats", "smollm2_facts.json")

SCALAR_KEYS = [
    "general.architecture", "general.name", "llama.block_count", "llama.context_length",
    "llama.embedding_length", "llama.feed_forward_length", "llama.attention.head_count",
    "llama.attention.head_count_kv", "llama.rope.freq_base", "llama.attention.layer_norm_rms_epsilon",
    "tokenizer.ggml.model", "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
    "tokenizer.ggml.add_bos_token", "general.alignment",
]
TENSORS = ["token_embd.weight", "blk.0.attn_q.weight", "blk.0.attn_norm.weight", "blk.29.ffn_down.weight",
           "output_norm.weight"]


def value(field):
    t = field.types[0]
    if t == GGUFValueType.STRING:
        return bytes(field.parts[field.data[0]]).decode("utf-8")
    v = field.parts[field.data[0]][0]
    if t in (GGUFValueType.FLOAT32, GGUFValueType.FLOAT64):
        return float(v)
    if t == GGUFValueType.BOOL:
        return bool(v)
    return int(v)


def main():
    r = GGUFReader(MODEL)
    facts = {
        "file": os.path.basename(MODEL),
        "version": int(r.fields["GGUF.version"].parts[-1][0]),
        "n_kv": int(r.fields["GGUF.kv_count"].parts[-1][0]),
        "n_tensors": int(r.fields["GGUF.tensor_count"].parts[-1][0]),
        "alignment": int(r.alignment),
        "data_section_offset": int(r.data_offset),
        "keys": [f for f in r.fields if not f.startswith("GGUF.")],
        "scalars": {k: {"type": int(r.fields[k].types[0]), "value": value(r.fields[k])}
                    for k in SCALAR_KEYS if k in r.fields},
    }
    toks = r.fields["tokenizer.ggml.tokens"]
    facts["tokens"] = {"n": len(toks.data),
                       "first": [bytes(toks.parts[i]).decode("utf-8") for i in toks.data[:5]],
                       "last": bytes(toks.parts[toks.data[-1]]).decode("utf-8")}
    merges = r.fields["tokenizer.ggml.merges"]
    facts["merges"] = {"n": len(merges.data), "first": bytes(merges.parts[merges.data[0]]).decode("utf-8")}
    tt = r.fields["tokenizer.ggml.token_type"]
    facts["token_type"] = {"elem_type": int(tt.types[1]), "first": [int(tt.parts[i][0]) for i in tt.data[:5]]}
    by_name = {t.name: t for t in r.tensors}
    facts["tensors"] = [
        {"name": n, "type": int(by_name[n].tensor_type), "ne": [int(x) for x in by_name[n].shape],
         "n_bytes": int(by_name[n].n_bytes), "data_offset": int(by_name[n].data_offset)}
        for n in TENSORS if n in by_name
    ]
    facts["has_output_weight"] = "output.weight" in by_name
    with open(OUT, "w") as f:
        json.dump(facts, f, indent=1, ensure_ascii=False)
    print("wrote", os.path.normpath(OUT))


if __name__ == "__main__":
    main()
