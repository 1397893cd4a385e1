#!/usr/bin/env python3
"""Writes the small "valid file" fixtures of tests/test_{gguf,safetensors,config}.c
with independent writers (gguf-py's GGUFWriter, the safetensors package,
transformers' config classes) into tests/fixtures/formats/:

  all_types.gguf     v3, every metadata value type (scalars, arrays of each
                     type, arrays of strings, nested arrays), tensors of
                     several dtypes; all_types.json = what gguf-py's
                     GGUFReader reads back (tensor offsets, shapes, types)
  v2_align64.gguf    general.alignment = 64, version field set to 2 (v2 and
                     v3 are byte-identical for little-endian files)
  arch_*.gguf        metadata-only files for the qwen2/qwen3/mistral config
  st_single.safetensors, st_sharded/   safetensors with F32/F16/BF16
  st_i64.safetensors                   an I64 tensor (must be rejected)
  configs/*.json     HF config.json files; configs/expected.json = what
                     transformers' config classes make of them

Run: python3 scripts/gen_format_fixtures.py   (needs gguf, safetensors, torch,
transformers: scripts/install-deps.sh --ref)
"""
import json
import os
import sys

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "formats")


def gguf_files():
    import gguf
    from gguf import GGUFWriter, GGUFValueType as T, GGMLQuantizationType as Q

    path = os.path.join(OUT, "all_types.gguf")
    w = GGUFWriter(path, "llama")
    w.add_key_value("t.u8", 200, T.UINT8)
    w.add_key_value("t.i8", -100, T.INT8)
    w.add_key_value("t.u16", 60000, T.UINT16)
    w.add_key_value("t.i16", -30000, T.INT16)
    w.add_key_value("t.u32", 4000000000, T.UINT32)
    w.add_key_value("t.i32", -2000000000, T.INT32)
    w.add_key_value("t.f32", 1.5, T.FLOAT32)
    w.add_key_value("t.bool", True, T.BOOL)
    w.add_key_value("t.str", "h\u00e9llo w\u00f6rld", T.STRING)
    w.add_key_value("t.u64", 2**63 + 5, T.UINT64)
    w.add_key_value("t.i64", -(2**62) - 7, T.INT64)
    w.add_key_value("t.f64", 3.141592653589793, T.FLOAT64)
    w.add_key_value("a.u8", [1, 2, 255], T.ARRAY, T.UINT8)
    w.add_key_value("a.i8", [-1, 0, 127], T.ARRAY, T.INT8)
    w.add_key_value("a.u16", [65535, 7], T.ARRAY, T.UINT16)
    w.add_key_value("a.i16", [-32768, 32767], T.ARRAY, T.INT16)
    w.add_key_value("a.u32", [0, 4294967295], T.ARRAY, T.UINT32)
    w.add_key_value("a.i32", [-5, 6, -7], T.ARRAY, T.INT32)
    w.add_key_value("a.f32", [0.25, -2.5], T.ARRAY, T.FLOAT32)
    w.add_key_value("a.bool", [True, False, True], T.ARRAY, T.BOOL)
    w.add_key_value("a.str", ["alpha", "", "\u03b3amma"], T.ARRAY, T.STRING)
    w.add_key_value("a.u64", [2**64 - 1], T.ARRAY, T.UINT64)
    w.add_key_value("a.i64", [-(2**63), 2**63 - 1], T.ARRAY, T.INT64)
    w.add_key_value("a.f64", [1e300, -0.5], T.ARRAY, T.FLOAT64)
    w.add_array("a.nested", [[1, 2, 3], [4, 5]])                 # ARRAY of ARRAY of INT32
    w.add_array("a.nested_str", [["x", "yz"], ["w"]])             # ARRAY of ARRAY of STRING
    w.add_array("a.deep", [[[1], [2, 3]], [[4, 5, 6]]])          # three levels
    # tensors: numpy shape (rows, cols) -> GGUF ne = [cols, rows]
    w.add_tensor("f32.weight", np.arange(12, dtype=np.float32).reshape(3, 4))
    w.add_tensor("f16.weight", (np.arange(64, dtype=np.float32) / 8).astype(np.float16).reshape(2, 32))
    w.add_tensor("vec.bias", np.array([1.0, -1.0, 0.5], dtype=np.float32))
    q8 = gguf.quants.quantize(np.linspace(-1, 1, 64, dtype=np.float32).reshape(2, 32), Q.Q8_0)
    w.add_tensor("q8.weight", q8, raw_dtype=Q.Q8_0)
    rng = np.random.default_rng(7)
    w.add_tensor("q4k.weight", rng.integers(0, 256, size=(3, 144), dtype=np.uint8), raw_dtype=Q.Q4_K)
    w.add_tensor("t3d.weight", np.ones((2, 3, 4), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    dump_facts(path, os.path.join(OUT, "all_types.json"))

    path = os.path.join(OUT, "v2_align64.gguf")
    w = GGUFWriter(path, "llama")
    w.add_custom_alignment(64)
    w.add_string("general.name", "align64")
    w.add_tensor("a.weight", np.arange(5, dtype=np.float32))
    w.add_tensor("b.weight", np.arange(7, dtype=np.float32).reshape(1, 7))
    w.add_tensor("c.weight", np.arange(3, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    with open(path, "r+b") as f:          # version field -> 2
        f.seek(4)
        f.write((2).to_bytes(4, "little"))
    dump_facts(path, os.path.join(OUT, "v2_align64.json"))

    # metadata-only files for config_from_gguf (one tiny tensor each so the
    # token_embd / output checks have something to look at)
    def arch_file(name, arch, extra, tensors):
        p = os.path.join(OUT, name)
        w = GGUFWriter(p, arch)
        w.add_block_count(2)
        w.add_embedding_length(16)
        w.add_feed_forward_length(32)
        w.add_head_count(4)
        w.add_head_count_kv(2)
        w.add_context_length(4096)
        w.add_layer_norm_rms_eps(1e-6)
        for k, v, t in extra:
            w.add_key_value(k, v, t)
        w.add_array("tokenizer.ggml.tokens", [f"t{i}" for i in range(40)])
        w.add_uint32("tokenizer.ggml.bos_token_id", 3)
        w.add_uint32("tokenizer.ggml.eos_token_id", 5)
        for tn, shape in tensors:
            w.add_tensor(tn, np.zeros(shape, dtype=np.float16))
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()

    arch_file("arch_qwen2.gguf", "qwen2",
              [("qwen2.rope.freq_base", 1000000.0, T.FLOAT32)],
              [("token_embd.weight", (40, 16)), ("blk.0.attn_q.bias", (16,))])
    arch_file("arch_qwen3.gguf", "qwen3",
              [("qwen3.rope.freq_base", 1000000.0, T.FLOAT32), ("qwen3.attention.key_length", 8, T.UINT32),
               ("qwen3.attention.value_length", 8, T.UINT32)],
              [("token_embd.weight", (40, 16)), ("output.weight", (40, 16))])
    arch_file("arch_mistral_named.gguf", "mistral", [],
              [("token_embd.weight", (40, 16))])
    arch_file("arch_mistral.gguf", "llama",
              [("llama.rope.freq_base", 10000.0, T.FLOAT32), ("llama.rope.scaling.type", "linear", T.STRING),
               ("llama.rope.scaling.factor", 4.0, T.FLOAT32), ("llama.attention.sliding_window", 4096, T.UINT32)],
              [("token_embd.weight", (40, 16)), ("output.weight", (40, 16))])


def dump_facts(path, out):
    from gguf import GGUFReader
    r = GGUFReader(path)
    facts = {
        "n_kv": int(r.fields["GGUF.kv_count"].parts[-1][0]),
        "n_tensors": int(r.fields["GGUF.tensor_count"].parts[-1][0]),
        "tensors": [
            {"name": t.name, "type": int(t.tensor_type), "ne": [int(x) for x in t.shape],
             "n_elements": int(t.n_elements), "n_bytes": int(t.n_bytes), "data_offset": int(t.data_offset)}
            for t in r.tensors
        ],
    }
    with open(out, "w") as f:
        json.dump(facts, f, indent=1)


def safetensors_files():
    import torch
    from safetensors.torch import save_file

    single = {
        "model.embed_tokens.weight": torch.arange(24, dtype=torch.float32).reshape(6, 4),
        "model.norm.weight": torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float16),
        "lm_head.weight": torch.linspace(-1, 1, 24).reshape(2, 3, 4).to(torch.bfloat16),
    }
    save_file(single, os.path.join(OUT, "st_single.safetensors"), metadata={"format": "pt"})

    d = os.path.join(OUT, "st_sharded")
    os.makedirs(d, exist_ok=True)
    shard1 = {"a.weight": torch.arange(6, dtype=torch.float32).reshape(2, 3),
              "b.weight": torch.ones(5, dtype=torch.float16)}
    shard2 = {"c.weight": torch.full((2, 2), 0.5, dtype=torch.bfloat16)}
    names = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    save_file(shard1, os.path.join(d, names[0]), metadata={"format": "pt"})
    save_file(shard2, os.path.join(d, names[1]), metadata={"format": "pt"})
    index = {"metadata": {"total_size": 6 * 4 + 5 * 2 + 4 * 2},
             "weight_map": {"a.weight": names[0], "b.weight": names[0], "c.weight": names[1]}}
    with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
        json.dump(index, f, indent=2)

    save_file({"ids": torch.arange(4, dtype=torch.int64), "w": torch.ones(2)},
              os.path.join(OUT, "st_i64.safetensors"))


# config.json files shaped like the real ones of each family (values as
# published on the Hugging Face hub), and what transformers makes of them.
CONFIGS = {
    "smollm2_135m.json": {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 576,
        "intermediate_size": 1536, "num_hidden_layers": 30, "num_attention_heads": 9,
        "num_key_value_heads": 3, "max_position_embeddings": 8192, "rms_norm_eps": 1e-05,
        "rope_theta": 100000, "rope_scaling": None, "tie_word_embeddings": True, "vocab_size": 49152,
        "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu", "torch_dtype": "bfloat16"},
    "llama32_1b.json": {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 2048,
        "intermediate_size": 8192, "num_hidden_layers": 16, "num_attention_heads": 32,
        "num_key_value_heads": 8, "head_dim": 64, "max_position_embeddings": 131072,
        "rms_norm_eps": 1e-05, "rope_theta": 500000.0,
        "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                         "original_max_position_embeddings": 8192, "rope_type": "llama3"},
        "tie_word_embeddings": True, "vocab_size": 128256, "bos_token_id": 128000,
        "eos_token_id": [128001, 128008, 128009], "attention_bias": False, "mlp_bias": False},
    "mistral_7b.json": {
        "architectures": ["MistralForCausalLM"], "model_type": "mistral", "hidden_size": 4096,
        "intermediate_size": 14336, "num_hidden_layers": 32, "num_attention_heads": 32,
        "num_key_value_heads": 8, "max_position_embeddings": 32768, "rms_norm_eps": 1e-05,
        "rope_theta": 10000.0, "sliding_window": 4096, "tie_word_embeddings": False,
        "vocab_size": 32000, "bos_token_id": 1, "eos_token_id": 2},
    "mistral_nowindow.json": {
        "architectures": ["MistralForCausalLM"], "model_type": "mistral", "hidden_size": 4096,
        "intermediate_size": 14336, "num_hidden_layers": 32, "num_attention_heads": 32,
        "max_position_embeddings": 32768, "rms_norm_eps": 1e-05, "rope_theta": 1000000.0,
        "sliding_window": None, "vocab_size": 32768, "bos_token_id": 1, "eos_token_id": 2},
    "qwen25_05b.json": {
        "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 896,
        "intermediate_size": 4864, "num_hidden_layers": 24, "num_attention_heads": 14,
        "num_key_value_heads": 2, "max_position_embeddings": 32768, "max_window_layers": 21,
        "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "sliding_window": 32768,
        "use_sliding_window": False, "tie_word_embeddings": True, "vocab_size": 151936,
        "bos_token_id": 151643, "eos_token_id": 151645},
    "qwen3_06b.json": {
        "architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3", "hidden_size": 1024,
        "intermediate_size": 3072, "num_hidden_layers": 28, "num_attention_heads": 16,
        "num_key_value_heads": 8, "head_dim": 128, "max_position_embeddings": 40960,
        "max_window_layers": 28, "rms_norm_eps": 1e-06, "rope_theta": 1000000,
        "rope_scaling": None, "sliding_window": None, "use_sliding_window": False,
        "tie_word_embeddings": True, "vocab_size": 151936, "bos_token_id": 151643,
        "eos_token_id": 151645, "attention_bias": False},
    # transformers 5 layout: rope under rope_parameters; defaults left out
    "qwen3_tf5_defaults.json": {
        "architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3", "hidden_size": 256,
        "intermediate_size": 512, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 2, "vocab_size": 1000,
        "rope_parameters": {"rope_type": "linear", "factor": 2.0, "rope_theta": 5000.0}},
    # qwen2 with the sliding window on every layer, given by layer_types
    "qwen2_swa_all.json": {
        "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 256,
        "intermediate_size": 512, "num_hidden_layers": 3, "num_attention_heads": 4,
        "num_key_value_heads": 2, "vocab_size": 1000, "use_sliding_window": True, "sliding_window": 64,
        "max_window_layers": 3, "layer_types": ["sliding_attention"] * 3},
    # qwen3 with use_sliding_window false: layer_types saying sliding do not matter
    "qwen3_swa_off.json": {
        "architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3", "hidden_size": 256,
        "intermediate_size": 512, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 4, "head_dim": 64, "vocab_size": 1000, "use_sliding_window": False,
        "sliding_window": 64, "max_window_layers": 0,
        "layer_types": ["sliding_attention", "sliding_attention"]},
    "llama_defaults.json": {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 128, "intermediate_size": 256,
        "num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 100},
}


def config_files():
    import transformers
    d = os.path.join(OUT, "configs")
    os.makedirs(d, exist_ok=True)
    expected = {}
    for name, cfg in CONFIGS.items():
        p = os.path.join(d, name)
        with open(p, "w") as f:
            json.dump(cfg, f, indent=2)
        c = transformers.AutoConfig.from_pretrained(p)
        rp = dict(getattr(c, "rope_parameters", None) or {})
        rtype = rp.get("rope_type", rp.get("type", "default"))
        # per layer, transformers uses sliding_window where layer_types[i] is
        # "sliding_attention" (qwen2/3: sliding_window is None unless
        # use_sliding_window); mistral ignores layer_types
        window = getattr(c, "sliding_window", None)
        layer_types = getattr(c, "layer_types", None)
        if c.model_type != "mistral" and layer_types is not None:
            sliding = [t == "sliding_attention" for t in layer_types]
            if not any(sliding):
                window = None
            elif not all(sliding):
                raise SystemExit(f"{name}: mixed sliding/full layers are not a supported fixture")
        eos = c.eos_token_id
        if isinstance(eos, list):
            eos = eos[0]
        e = {
            "model_type": c.model_type,
            "n_layers": c.num_hidden_layers, "dim": c.hidden_size, "hidden_dim": c.intermediate_size,
            "n_heads": c.num_attention_heads, "n_kv_heads": c.num_key_value_heads,
            "head_dim": getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads,
            "vocab_size": c.vocab_size, "max_seq_len": c.max_position_embeddings,
            "rms_eps": c.rms_norm_eps, "rope_theta": rp.get("rope_theta"),
            "rope_type": rtype, "rope_factor": rp.get("factor"),
            "rope_low_freq_factor": rp.get("low_freq_factor"),
            "rope_high_freq_factor": rp.get("high_freq_factor"),
            "rope_orig_max_pos": rp.get("original_max_position_embeddings"),
            "sliding_window": window or 0, "tied_embeddings": bool(c.tie_word_embeddings),
            "bos_id": -1 if c.bos_token_id is None else c.bos_token_id,
            "eos_id": -1 if eos is None else eos,
        }
        expected[name] = e
    with open(os.path.join(d, "expected.json"), "w") as f:
        json.dump({"transformers": transformers.__version__, "configs": expected}, f, indent=1)


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    parts = sys.argv[1:] or ["gguf", "safetensors", "config"]
    if "gguf" in parts:
        gguf_files()
    if "safetensors" in parts:
        safetensors_files()
    if "config" in parts:
        config_files()
    print("wrote fixtures to", os.path.normpath(OUT))
