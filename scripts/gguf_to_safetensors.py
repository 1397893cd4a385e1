#!/usr/bin/env python3
"""Turns a Llama-family GGUF into a Hugging Face safetensors folder (BF16 by
default): config.json (LlamaForCausalLM), model.safetensors, tokenizer.json,
tokenizer_config.json (with the chat template), generation_config.json.

It gives vllm.c a real safetensors model to quantize in situ (vllmc --quant):

    python3 scripts/gguf_to_safetensors.py \
        models/SmolLM2-135M-Instruct.Q4_1.gguf models/smollm2-bf16

The weights are dequantized by gguf-py (gguf.quants.dequantize); llama.cpp's
q/k row permutation is undone (GGUF llama files store q/k rows so that rope
pairs are interleaved, HF files with NeoX halves). config.json comes from the
GGUF metadata. The tokenizer is rebuilt from the GGUF vocab and merges by
Hugging Face transformers' GGUF tokenizer converter. Nothing here is vllm.c
code.
"""
import argparse
import json
import os
import re
import sys


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("gguf", help="input .gguf file")
    ap.add_argument("out_dir", help="output folder")
    ap.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float16", "float32"])
    args = ap.parse_args()

    import numpy as np
    import torch
    from gguf import GGUFReader
    from gguf.quants import dequantize
    from safetensors.torch import save_file
    from transformers import AutoTokenizer

    r = GGUFReader(args.gguf)
    meta = {k: f.contents() for k, f in r.fields.items()
            if not k.startswith("tokenizer.ggml.") and not k.startswith("GGUF.")}
    arch = meta["general.architecture"]
    if arch != "llama":
        sys.exit(f"gguf_to_safetensors: architecture '{arch}' not handled (llama only)")
    n_heads = meta["llama.attention.head_count"]
    n_kv_heads = meta.get("llama.attention.head_count_kv", n_heads)
    dtype = getattr(torch, args.dtype)

    def unpermute(w, heads):
        # inverse of convert_hf_to_gguf's permute: rows of each head go from
        # (half, pair) order back to (pair-of-halves) order
        rows = w.shape[0]
        return w.reshape(heads, rows // heads // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)

    names = {"token_embd.weight": "model.embed_tokens.weight",
             "output_norm.weight": "model.norm.weight",
             "output.weight": "lm_head.weight"}
    per_layer = {"attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm",
                 "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj",
                 "attn_v": "self_attn.v_proj", "attn_output": "self_attn.o_proj",
                 "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj"}
    tensors = {}
    for t in r.tensors:
        w = dequantize(t.data, t.tensor_type)       # numpy, shape reversed from ne: [rows, cols]
        w = np.asarray(w, dtype=np.float32).reshape([int(x) for x in reversed(t.shape)])
        m = re.match(r"blk\.(\d+)\.(\w+)\.weight$", t.name)
        if m:
            kind = m.group(2)
            if kind == "attn_q":
                w = unpermute(w, n_heads)
            elif kind == "attn_k":
                w = unpermute(w, n_kv_heads)
            hf = f"model.layers.{m.group(1)}.{per_layer[kind]}.weight"
        else:
            hf = names[t.name]
        tensors[hf] = torch.from_numpy(np.ascontiguousarray(w)).to(dtype)
    tied = "lm_head.weight" not in tensors

    kv = lambda k, d=None: meta.get(f"llama.{k}", d)
    dim = kv("embedding_length")
    cfg = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": dim,
        "intermediate_size": kv("feed_forward_length"),
        "num_hidden_layers": kv("block_count"),
        "num_attention_heads": n_heads,
        "num_key_value_heads": n_kv_heads,
        "head_dim": kv("rope.dimension_count", dim // n_heads),
        "max_position_embeddings": kv("context_length"),
        "rms_norm_eps": float(np.float32(kv("attention.layer_norm_rms_epsilon"))),
        "rope_theta": float(kv("rope.freq_base", 10000.0)),
        "vocab_size": tensors["model.embed_tokens.weight"].shape[0],
        "tie_word_embeddings": tied,
        "hidden_act": "silu",
        "attention_bias": False,
        "mlp_bias": False,
        "torch_dtype": args.dtype,
        "bos_token_id": int(r.fields["tokenizer.ggml.bos_token_id"].contents()),
        "eos_token_id": int(r.fields["tokenizer.ggml.eos_token_id"].contents()),
    }

    os.makedirs(args.out_dir, exist_ok=True)
    save_file(tensors, os.path.join(args.out_dir, "model.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(args.out_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    with open(os.path.join(args.out_dir, "generation_config.json"), "w") as f:
        json.dump({"bos_token_id": cfg["bos_token_id"], "eos_token_id": cfg["eos_token_id"]}, f, indent=2)

    gguf_dir, gguf_name = os.path.split(os.path.abspath(args.gguf))
    tok = AutoTokenizer.from_pretrained(gguf_dir, gguf_file=gguf_name)
    tmpl = meta.get("tokenizer.chat_template")
    if tmpl and not getattr(tok, "chat_template", None):
        tok.chat_template = tmpl
    tok.save_pretrained(args.out_dir)
    # Newer transformers put the template in chat_template.jinja only; readers
    # that look in tokenizer_config.json (the older place) find it there too.
    tc_path = os.path.join(args.out_dir, "tokenizer_config.json")
    with open(tc_path) as f:
        tc = json.load(f)
    if tmpl and "chat_template" not in tc:
        tc["chat_template"] = tmpl
        with open(tc_path, "w") as f:
            json.dump(tc, f, indent=2, ensure_ascii=False)

    print(f"wrote {args.out_dir}: {cfg['architectures']} {args.dtype}, "
          f"{cfg['num_hidden_layers']} layers, hidden {cfg['hidden_size']}, "
          f"vocab {cfg['vocab_size']}, tied={cfg.get('tie_word_embeddings')}")


if __name__ == "__main__":
    main()
