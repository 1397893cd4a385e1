#!/usr/bin/env python3
"""Builds the second benchmark model: random weights at a ~320M-parameter
Llama shape whose every matrix width is a multiple of 256 (so llama-quantize
keeps K-quants everywhere instead of falling back to Q5_0/Q8_0), written as
F16 with gguf-py, quantized to Q4_K_M by llama.cpp's llama-quantize. The
tokenizer (and chat template) is copied from the SmolLM2 GGUF so that both
engines load it. Output cached in ~/.cache/vllmc and linked into models/;
never committed.

    python3 scripts/make-q4k-model.py            # -> models/random-320M.Q4_K_M.gguf

Needs: gguf (gguf-py), numpy, scripts/fetch-model.sh's model, and
scripts/build-llamacpp-tools.sh's llama-quantize.

Shape: dim 1024, 24 layers, 16 heads (head_dim 64), 4 KV heads, FFN 2816,
vocab 49152, tied embedding; weights N(0, 0.02), norms 1.
"""
import os
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.environ.get("VLLMC_CACHE", os.path.expanduser("~/.cache/vllmc"))
NAME = "random-320M.Q4_K_M.gguf"
SRC_TOK = os.path.join(ROOT, "models/SmolLM2-135M-Instruct.Q4_1.gguf")
DIM, LAYERS, HEADS, KV_HEADS, FFN, VOCAB = 1024, 24, 16, 4, 2816, 49152


def write_f16(path):
    import gguf
    src = gguf.GGUFReader(SRC_TOK)
    w = gguf.GGUFWriter(path, "llama")
    w.add_name("random-320M")
    w.add_block_count(LAYERS)
    w.add_context_length(8192)
    w.add_embedding_length(DIM)
    w.add_feed_forward_length(FFN)
    w.add_head_count(HEADS)
    w.add_head_count_kv(KV_HEADS)
    w.add_rope_freq_base(100000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_vocab_size(VOCAB)
    w.add_rope_dimension_count(DIM // HEADS)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    # tokenizer keys as they are in the SmolLM2 file
    for key, f in src.fields.items():
        if not key.startswith("tokenizer."):
            continue
        vt = f.types[0]
        if vt == gguf.GGUFValueType.ARRAY:
            w.add_key_value(key, f.contents(), vt, sub_type=f.types[-1])
        else:
            w.add_key_value(key, f.contents(), vt)
    rng = np.random.default_rng(0)

    def mat(rows, cols):
        return (rng.standard_normal((rows, cols), dtype=np.float32) * 0.02).astype(np.float16)

    hd = DIM // HEADS
    w.add_tensor("token_embd.weight", mat(VOCAB, DIM))
    w.add_tensor("output_norm.weight", np.ones(DIM, dtype=np.float32))
    for i in range(LAYERS):
        p = f"blk.{i}."
        w.add_tensor(p + "attn_norm.weight", np.ones(DIM, dtype=np.float32))
        w.add_tensor(p + "ffn_norm.weight", np.ones(DIM, dtype=np.float32))
        w.add_tensor(p + "attn_q.weight", mat(HEADS * hd, DIM))
        w.add_tensor(p + "attn_k.weight", mat(KV_HEADS * hd, DIM))
        w.add_tensor(p + "attn_v.weight", mat(KV_HEADS * hd, DIM))
        w.add_tensor(p + "attn_output.weight", mat(DIM, HEADS * hd))
        w.add_tensor(p + "ffn_gate.weight", mat(FFN, DIM))
        w.add_tensor(p + "ffn_up.weight", mat(FFN, DIM))
        w.add_tensor(p + "ffn_down.weight", mat(DIM, FFN))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main():
    out = os.path.join(CACHE, NAME)
    dest = os.path.join(ROOT, "models", NAME)
    if not os.path.exists(out):
        if not os.path.exists(SRC_TOK):
            subprocess.run(["bash", os.path.join(ROOT, "scripts/fetch-model.sh")], check=True)
        bin_dir = subprocess.run(["bash", os.path.join(ROOT, "scripts/build-llamacpp-tools.sh"), "--print"],
                                 check=True, capture_output=True, text=True).stdout.strip()
        quantize = os.path.join(bin_dir, "llama-quantize")
        if not os.access(quantize, os.X_OK):
            sys.exit(f"make-q4k-model: {quantize} missing: run scripts/build-llamacpp-tools.sh")
        os.makedirs(CACHE, exist_ok=True)
        f16 = out + ".f16.tmp"
        write_f16(f16)
        subprocess.run([quantize, f16, out + ".tmp", "Q4_K_M"], check=True, stdout=subprocess.DEVNULL)
        os.remove(f16)
        os.rename(out + ".tmp", out)
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    if not os.path.exists(dest):
        os.symlink(out, dest)
    print(f"make-q4k-model: {os.path.relpath(dest, ROOT)} ok ({os.path.getsize(out)} bytes)")


if __name__ == "__main__":
    main()
