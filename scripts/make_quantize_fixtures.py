#!/usr/bin/env python3
"""Records which type llama.cpp's llama-quantize gives each weight of a real
model for each of our --quant mixes: tests/fixtures/quantize/llamacpp_types.json.
tests/test_quantize_model.c checks our type rules against it.

Needs the llama.cpp tools (scripts/build-llamacpp-tools.sh), gguf-py, and a
BF16 GGUF of the model (bench/ppl_table.sh makes one from models/smollm2-bf16
with llama.cpp's convert_hf_to_gguf.py):

    python3 scripts/make_quantize_fixtures.py ~/.cache/vllmc/ppl/smollm2-bf16.gguf
"""
import json
import os
import re
import subprocess
import sys

from gguf import GGUFReader

MIXES = ["Q2_K", "Q3_K_M", "Q4_K_M", "Q5_K_M", "Q6_K", "Q4_0", "Q8_0"]
ROLES = ["attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"]


def main():
    src = sys.argv[1]
    cache = os.path.dirname(os.path.abspath(src))
    tools = subprocess.check_output(["bash", "scripts/build-llamacpp-tools.sh", "--print"], text=True).strip()
    base = GGUFReader(src)
    arch = base.fields["general.architecture"].contents()
    n_layers = base.fields[f"{arch}.block_count"].contents()
    n_heads = base.fields[f"{arch}.attention.head_count"].contents()
    n_kv = base.fields[f"{arch}.attention.head_count_kv"].contents()
    names = {t.name: t for t in base.tensors}
    out = {
        "source": os.path.basename(src),
        "llama_cpp": open(os.path.join(os.path.dirname(tools), "VERSION")).read().strip(),
        "n_layers": n_layers,
        "n_gqa": n_heads // n_kv,
        "tied": "output.weight" not in names,
        "ne0": {"token_embd": int(names["token_embd.weight"].shape[0])},
        "mixes": {},
    }
    for r in ROLES:
        out["ne0"][r] = int(names[f"blk.0.{r}.weight"].shape[0])
    for mix in MIXES:
        dst = os.path.join(cache, f"smollm2-{mix}.gguf")
        if not os.path.exists(dst):
            subprocess.run([os.path.join(tools, "llama-quantize"), src, dst, mix, "2"], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        q = {t.name: t.tensor_type.name for t in GGUFReader(dst).tensors}
        entry = {"token_embd": q["token_embd.weight"]}
        if "output.weight" in q:
            entry["output"] = q["output.weight"]
        for r in ROLES:
            entry[r] = [q[f"blk.{i}.{r}.weight"] for i in range(n_layers)]
        out["mixes"][mix] = entry
    os.makedirs("tests/fixtures/quantize", exist_ok=True)
    with open("tests/fixtures/quantize/llamacpp_types.json", "w") as f:
        json.dump(out, f, indent=1)
    print("wrote tests/fixtures/quantize/llamacpp_types.json")
    ppl_reference(tools)


def ppl_reference(tools):
    """llama-perplexity on the shipped SmolLM2 Q4_1 GGUF and a short public-domain
    text (tests/fixtures/quantize/genesis-kjv.txt: the first 3 KB of the
    KJV Genesis from scripts/fetch-ppl-text.sh): the number vllmc --perplexity
    must reproduce with the same scoring convention."""
    model, text, ctx, chunks = "models/SmolLM2-135M-Instruct.Q4_1.gguf", "tests/fixtures/quantize/genesis-kjv.txt", 128, 4
    r = subprocess.run([os.path.join(tools, "llama-perplexity"), "-m", model, "-f", text, "-c", str(ctx),
                        "--chunks", str(chunks), "-t", "2"], capture_output=True, text=True, check=True)
    m = re.search(r"Final estimate: PPL = ([0-9.]+) \+/- ([0-9.]+)", r.stdout + r.stderr)
    out = {"model": model, "text": text, "ctx": ctx, "chunks": chunks, "ppl": float(m.group(1)),
           "ppl_err": float(m.group(2))}
    with open("tests/fixtures/quantize/ppl_ref.json", "w") as f:
        json.dump(out, f, indent=1)
    print("wrote tests/fixtures/quantize/ppl_ref.json", out)


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[2] == "--ppl-only":
        ppl_reference(subprocess.check_output(["bash", "scripts/build-llamacpp-tools.sh", "--print"], text=True).strip())
    else:
        main()
