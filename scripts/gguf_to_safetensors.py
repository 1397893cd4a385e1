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
GGUF metadata. BF16 is rounded to nearest even from float32 (as torch's
.to(bfloat16)) in numpy, and model.safetensors written in the safetensors
layout (8-byte header length, JSON header, data), so no torch is needed. The
tokenizer (a byte-level BPE vocabulary: gpt2-style GGUFs only) is rebuilt from
the GGUF vocab and merges with Hugging Face `tokenizers`, as transformers'
GGUF converter builds it (BPE, ByteLevel pre-tokenizer and decoder, control
and user-defined tokens as special added tokens). Needs gguf, numpy,
tokenizers (scripts/install-deps.sh). Nothing here is vllm.c code.
"""
import argparse
import json
import os
import re
import sys


SAFETENSORS_DTYPE = {"bfloat16": "BF16", "float16": "F16", "float32": "F32"}


def to_dtype(w, dtype):
    """float32 array -> (safetensors dtype name, shape, raw little-endian bytes)"""
    import numpy as np
    if dtype == "float32":
        raw = w.astype("<f4")
    elif dtype == "float16":
        raw = w.astype("<f2")
    else:  # bfloat16: round to nearest even on the upper 16 bits
        u = w.view(np.uint32).astype(np.uint64)
        raw = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype("<u2")
    return SAFETENSORS_DTYPE[dtype], list(w.shape), raw.tobytes()


def write_safetensors(path, tensors, metadata):
    """The safetensors layout: u64 header size, JSON header (names -> dtype,
    shape, data_offsets), padded with spaces to 8 bytes, then the data."""
    header, offset = {"__metadata__": metadata}, 0
    for name, (dt, shape, raw) in tensors.items():
        header[name] = {"dtype": dt, "shape": shape, "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path + ".tmp", "wb") as f:
        f.write(len(h).to_bytes(8, "little"))
        f.write(h)
        for _, _, raw in tensors.values():
            f.write(raw)
    os.replace(path + ".tmp", path)


def build_tokenizer(r, chat_template):
    """tokenizer.json + tokenizer_config.json from a gpt2-style GGUF vocabulary."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors
    f = r.fields
    if f["tokenizer.ggml.model"].contents() != "gpt2":
        sys.exit("gguf_to_safetensors: only byte-level BPE (tokenizer.ggml.model = gpt2) vocabularies")
    tokens = f["tokenizer.ggml.tokens"].contents()
    types = f["tokenizer.ggml.token_type"].contents()
    merges = [tuple(m.split(" ", 1)) for m in f["tokenizer.ggml.merges"].contents()]
    tk = Tokenizer(models.BPE(vocab={t: i for i, t in enumerate(tokens)}, merges=merges,
                              unk_token=None, fuse_unk=False, byte_fallback=False))
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    tk.post_processor = processors.TemplateProcessing(single="$A", pair="$A $B:1", special_tokens=[])
    special = [AddedToken(t, special=True, normalized=False) for t, ty in zip(tokens, types) if ty in (3, 4)]
    tk.add_special_tokens(special)
    def tok(key):
        k = f"tokenizer.ggml.{key}_token_id"
        return tokens[int(f[k].contents())] if k in f else None
    cfg = {"bos_token": tok("bos"), "eos_token": tok("eos"), "unk_token": tok("unknown"),
           "pad_token": tok("padding"), "model_max_length": 1000000000000000019884624838656,
           "tokenizer_class": "PreTrainedTokenizerFast"}
    cfg = {k: v for k, v in cfg.items() if v is not None}
    if chat_template:
        cfg["chat_template"] = chat_template
    return tk, cfg


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("gguf", help="input .gguf file")
    ap.add_argument("out_dir", help="output folder")
    ap.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float16", "float32"])
    args = ap.parse_args()

    import numpy as np
    from gguf import GGUFReader
    from gguf.quants import dequantize

    r = GGUFReader(args.gguf)
    meta = {k: f.contents() for k, f in r.fields.items()
            if not k.startswith("tokenizer.ggml.") and not k.startswith("GGUF.")}
    arch = meta["general.architecture"]
    if arch != "llama":
        sys.exit(f"gguf_to_safetensors: architecture '{arch}' not handled (llama only)")
    n_heads = meta["llama.attention.head_count"]
    n_kv_heads = meta.get("llama.attention.head_count_kv", n_heads)

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
        tensors[hf] = to_dtype(np.ascontiguousarray(w, dtype=np.float32), args.dtype)
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
        "vocab_size": tensors["model.embed_tokens.weight"][1][0],
        "tie_word_embeddings": tied,
        "hidden_act": "silu",
        "attention_bias": False,
        "mlp_bias": False,
        "torch_dtype": args.dtype,
        "bos_token_id": int(r.fields["tokenizer.ggml.bos_token_id"].contents()),
        "eos_token_id": int(r.fields["tokenizer.ggml.eos_token_id"].contents()),
    }

    os.makedirs(args.out_dir, exist_ok=True)
    write_safetensors(os.path.join(args.out_dir, "model.safetensors"), tensors, {"format": "pt"})
    with open(os.path.join(args.out_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    with open(os.path.join(args.out_dir, "generation_config.json"), "w") as f:
        json.dump({"bos_token_id": cfg["bos_token_id"], "eos_token_id": cfg["eos_token_id"]}, f, indent=2)

    tok_json, tok_cfg = build_tokenizer(r, meta.get("tokenizer.chat_template"))
    tok_json.save(os.path.join(args.out_dir, "tokenizer.json"))
    with open(os.path.join(args.out_dir, "tokenizer_config.json"), "w") as f:
        json.dump(tok_cfg, f, indent=2, ensure_ascii=False)

    print(f"wrote {args.out_dir}: {cfg['architectures']} {args.dtype}, "
          f"{cfg['num_hidden_layers']} layers, hidden {cfg['hidden_size']}, "
          f"vocab {cfg['vocab_size']}, tied={cfg.get('tie_word_embeddings')}")


if __name__ == "__main__":
    main()
