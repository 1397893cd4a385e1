#!/usr/bin/env python3
"""Reference fixtures for the forward pass (tests/test_forward.c).

For each architecture (llama with llama3 rope scaling, mistral with a sliding
window, qwen2 with q/k/v biases, qwen3 with q/k norms and an explicit head_dim)
this builds a tiny random-weight model with Hugging Face transformers (float32,
eager attention, fixed seed) and writes under tests/fixtures/models/<arch>/:

  config.json, model.safetensors      save_pretrained (F32)
  model-f32.gguf, model-f16.gguf,     the same weights written with gguf-py the
  model-q8_0.gguf                     way llama.cpp's convert_hf_to_gguf.py lays
                                      them out (names, metadata, q/k row
                                      permutation for llama/mistral, rope_freqs
                                      for llama3 scaling, 1-D tensors kept F32)
  ref.json                            the 3 token sequences and shapes
  logits.f32                          transformers' logits, float32 little
                                      endian, [sum of lengths][vocab], sequence
                                      after sequence, every position

and tests/fixtures/models/llama-bf16/ (the llama weights as BF16 safetensors),
plus tests/fixtures/models/bad/*.gguf (malformed files for loader errors).

Run once from the repo root:  python3 scripts/make_fixtures.py
Needs: torch, transformers (5.x), safetensors, gguf, numpy.
"""
import json
import math
import os
import shutil

import numpy as np
import torch
import gguf
from gguf.quants import quantize, dequantize
from transformers import (LlamaConfig, LlamaForCausalLM, MistralConfig, MistralForCausalLM,
                          Qwen2Config, Qwen2ForCausalLM, Qwen3Config, Qwen3ForCausalLM)

OUT = "tests/fixtures/models"
SEQ_LENS = (5, 11, 17)
SEED = 1234

COMMON = dict(hidden_size=64, intermediate_size=96, num_hidden_layers=2,
              num_attention_heads=4, num_key_value_heads=2, vocab_size=512,
              max_position_embeddings=128, rms_norm_eps=1e-5,
              attn_implementation="eager", torch_dtype=torch.float32)

ARCHS = {
    # llama: llama3 rope scaling with a small original context so that the
    # low / smoothed / high frequency bands all occur for head_dim 16.
    "llama": (LlamaConfig, LlamaForCausalLM, dict(
        tie_word_embeddings=False,
        rope_parameters=dict(rope_type="llama3", rope_theta=50000.0, factor=4.0,
                             low_freq_factor=1.0, high_freq_factor=4.0,
                             original_max_position_embeddings=32))),
    # mistral: window 4 < every test sequence length, so it changes the result
    "mistral": (MistralConfig, MistralForCausalLM, dict(
        tie_word_embeddings=False, sliding_window=4,
        rope_parameters=dict(rope_type="default", rope_theta=20000.0))),
    "qwen2": (Qwen2Config, Qwen2ForCausalLM, dict(
        tie_word_embeddings=True, use_sliding_window=False,
        rope_parameters=dict(rope_type="default", rope_theta=1000000.0))),
    # qwen3: head_dim 32 != hidden / heads = 16
    "qwen3": (Qwen3Config, Qwen3ForCausalLM, dict(
        tie_word_embeddings=True, head_dim=32, use_sliding_window=False,
        rope_parameters=dict(rope_type="default", rope_theta=1000000.0))),
}


def randomize(model, gen):
    """Every parameter random (HF init leaves norms at 1 and biases at 0,
    which would hide bugs in their handling)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=gen))
            elif name.endswith(".bias"):
                p.copy_(0.3 * torch.randn(p.shape, generator=gen))
            elif "embed_tokens" in name or "lm_head" in name:
                # rows of log-normal norms: a few tokens stand out, so the
                # argmax is rarely a near tie (the Q8_0 test compares argmax)
                row_scale = torch.exp(0.7 * torch.randn(p.shape[0], 1, generator=gen))
                p.copy_(0.3 * row_scale * torch.randn(p.shape, generator=gen))
            elif "q_proj" in name or "k_proj" in name:
                # softish attention: a chaotic net would amplify Q8_0 noise
                p.copy_(0.5 * torch.randn(p.shape, generator=gen) / math.sqrt(p.shape[-1]))
            else:
                p.copy_(torch.randn(p.shape, generator=gen) / math.sqrt(p.shape[-1]))


def permute_qk(w, n_head):
    """llama.cpp's converter reorders the rows of q/k inside each head from HF's
    NeoX halves [x0..x(d/2-1), x(d/2)..] to interleaved pairs, so that GGUF
    llama files use adjacent-pair rope: new row 2i = old row i, new row 2i+1 =
    old row i + d/2 (per head)."""
    rows = w.shape[0]
    return (w.reshape(n_head, 2, rows // n_head // 2, *w.shape[1:])
             .swapaxes(1, 2).reshape(w.shape))


def head_dim_of(cfg):
    return getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads


def llama3_rope_freqs(cfg):
    """The per-frequency divisors llama.cpp stores as rope_freqs.weight."""
    rp = cfg.rope_parameters
    head_dim = head_dim_of(cfg)
    base = rp["rope_theta"]
    freqs = 1.0 / (base ** (np.arange(0, head_dim, 2, dtype=np.float32) / head_dim))
    factor, lo, hi = rp["factor"], rp["low_freq_factor"], rp["high_freq_factor"]
    old = rp["original_max_position_embeddings"]
    lo_wl, hi_wl = old / lo, old / hi
    out = []
    for f in freqs:
        wl = 2 * math.pi / f
        if wl < hi_wl:
            out.append(1.0)
        elif wl > lo_wl:
            out.append(factor)
        else:
            s = (old / wl - lo) / (hi - lo)
            out.append(1.0 / ((1 - s) / factor + s))
    return np.array(out, dtype=np.float32)


GGUF_NAMES = {
    "input_layernorm.weight": "attn_norm.weight",
    "self_attn.q_proj.weight": "attn_q.weight",
    "self_attn.k_proj.weight": "attn_k.weight",
    "self_attn.v_proj.weight": "attn_v.weight",
    "self_attn.o_proj.weight": "attn_output.weight",
    "self_attn.q_proj.bias": "attn_q.bias",
    "self_attn.k_proj.bias": "attn_k.bias",
    "self_attn.v_proj.bias": "attn_v.bias",
    "self_attn.q_norm.weight": "attn_q_norm.weight",
    "self_attn.k_norm.weight": "attn_k_norm.weight",
    "post_attention_layernorm.weight": "ffn_norm.weight",
    "mlp.gate_proj.weight": "ffn_gate.weight",
    "mlp.up_proj.weight": "ffn_up.weight",
    "mlp.down_proj.weight": "ffn_down.weight",
}


def gguf_tensors(arch, cfg, sd):
    """HF state dict -> [(gguf name, float32 numpy array)] in converter order."""
    out = [("token_embd.weight", sd["model.embed_tokens.weight"])]
    if arch in ("llama", "mistral") and cfg.rope_parameters.get("rope_type") == "llama3":
        out.append(("rope_freqs.weight", llama3_rope_freqs(cfg)))
    for i in range(cfg.num_hidden_layers):
        pre = f"model.layers.{i}."
        for hf, gg in GGUF_NAMES.items():
            if pre + hf not in sd:
                continue
            w = sd[pre + hf]
            if arch in ("llama", "mistral"):
                if hf == "self_attn.q_proj.weight":
                    w = permute_qk(w, cfg.num_attention_heads)
                elif hf == "self_attn.k_proj.weight":
                    w = permute_qk(w, cfg.num_key_value_heads)
            out.append((f"blk.{i}.{gg}", w))
    out.append(("output_norm.weight", sd["model.norm.weight"]))
    if "lm_head.weight" in sd and not cfg.tie_word_embeddings:
        out.append(("output.weight", sd["lm_head.weight"]))
    return out


def write_gguf(path, arch, cfg, tensors, ftype):
    """ftype: 'f32' | 'f16' | 'q8_0'. As in llama.cpp, 1-D tensors stay F32."""
    gg_arch = "llama" if arch in ("llama", "mistral") else arch
    w = gguf.GGUFWriter(path, gg_arch)
    w.add_name(f"tiny-{arch}")
    w.add_block_count(cfg.num_hidden_layers)
    w.add_context_length(cfg.max_position_embeddings)
    w.add_embedding_length(cfg.hidden_size)
    w.add_feed_forward_length(cfg.intermediate_size)
    w.add_head_count(cfg.num_attention_heads)
    w.add_head_count_kv(cfg.num_key_value_heads)
    w.add_rope_freq_base(cfg.rope_parameters["rope_theta"])
    w.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    w.add_vocab_size(cfg.vocab_size)
    w.add_file_type({"f32": gguf.LlamaFileType.ALL_F32, "f16": gguf.LlamaFileType.MOSTLY_F16,
                     "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0}[ftype])
    if arch == "qwen3":
        w.add_key_length(head_dim_of(cfg))
        w.add_value_length(head_dim_of(cfg))
    else:
        w.add_rope_dimension_count(head_dim_of(cfg))
    if cfg.rope_parameters.get("rope_type") == "linear":
        w.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        w.add_rope_scaling_factor(cfg.rope_parameters["factor"])
    if getattr(cfg, "sliding_window", None) and arch == "mistral":
        w.add_sliding_window(cfg.sliding_window)
    # a minimal vocabulary so that the file is self-describing
    w.add_tokenizer_model("gpt2")
    w.add_token_list([f"<t{i}>" for i in range(cfg.vocab_size)])
    w.add_token_types([1] * cfg.vocab_size)
    for name, t in tensors:
        t = np.ascontiguousarray(t, dtype=np.float32)
        if t.ndim == 1 or ftype == "f32":
            w.add_tensor(name, t)
        elif ftype == "f16":
            w.add_tensor(name, t.astype(np.float16))
        else:
            q = quantize(t, gguf.GGMLQuantizationType.Q8_0)
            w.add_tensor(name, q, raw_shape=q.shape, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def run_logits(model, seqs):
    rows = []
    with torch.no_grad():
        for s in seqs:
            out = model(torch.tensor([s]), use_cache=False)
            rows.append(out.logits[0].float().numpy())
    return np.concatenate(rows, axis=0)


def cosine(a, b):
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))


def q8_check(model_cls, cfg, sd, seqs, logits):
    qmodel = model_cls(cfg).eval()
    qsd = {}
    for k, v in sd.items():
        if v.ndim == 2:
            q = quantize(v, gguf.GGMLQuantizationType.Q8_0)
            v = dequantize(q, gguf.GGMLQuantizationType.Q8_0).reshape(v.shape)
        qsd[k] = torch.from_numpy(np.ascontiguousarray(v))
    qmodel.load_state_dict(qsd, strict=False)
    if cfg.tie_word_embeddings:
        qmodel.tie_weights()
    ql = run_logits(qmodel, seqs)
    same = bool((ql.argmax(-1) == logits.argmax(-1)).all())
    cos = min(cosine(a, b) for a, b in zip(ql, logits))
    srt = np.sort(logits, axis=-1)
    margin = (srt[:, -1] - srt[:, -2]).min()
    return same and cos >= 0.9995, (f"max|logit| {np.abs(logits).max():.3f}, q8 cos {cos:.6f}, "
                                    f"q8 argmax same {same}, min top1-top2 margin {margin:.4f}")


def make_arch(arch, gen):
    cfg_cls, model_cls, extra = ARCHS[arch]
    cfg = cfg_cls(**COMMON, **extra)
    # Draw weights until Q8_0 rounding (gguf-py's quantizer, evaluated with
    # transformers) keeps every argmax and a cosine >= 0.9995: otherwise the
    # Q8_0 acceptance test (argmax + cosine >= 0.999) would hinge on a near
    # tie of the random model rather than on our kernels.
    for attempt in range(20):
        model = model_cls(cfg).eval()
        randomize(model, gen)
        if cfg.tie_word_embeddings:
            model.tie_weights()
        seqs = [torch.randint(0, cfg.vocab_size, (n,), generator=gen).tolist() for n in SEQ_LENS]
        logits = run_logits(model, seqs)
        sd = {k: v.detach().float().numpy() for k, v in model.state_dict().items()}
        ok, msg = q8_check(model_cls, cfg, sd, seqs, logits)
        print(f"{arch} draw {attempt}: {msg}")
        if ok:
            break
    else:
        raise SystemExit(f"{arch}: no draw passed the Q8_0 sanity check")
    d = os.path.join(OUT, arch)
    shutil.rmtree(d, ignore_errors=True)
    model.save_pretrained(d, safe_serialization=True)
    for extra_file in ("generation_config.json",):
        p = os.path.join(d, extra_file)
        if os.path.exists(p):
            os.remove(p)

    logits.astype("<f4").tofile(os.path.join(d, "logits.f32"))
    with open(os.path.join(d, "ref.json"), "w") as f:
        json.dump({"arch": arch, "vocab_size": cfg.vocab_size, "seqs": seqs,
                   "generator": "scripts/make_fixtures.py (transformers %s, torch %s)"
                   % (__import__("transformers").__version__, torch.__version__)}, f)

    tensors = gguf_tensors(arch, cfg, sd)
    for ft in ("f32", "f16", "q8_0"):
        write_gguf(os.path.join(d, f"model-{ft}.gguf"), arch, cfg, tensors, ft)

    if arch == "llama":   # BF16 safetensors of the same weights
        db = os.path.join(OUT, "llama-bf16")
        shutil.rmtree(db, ignore_errors=True)
        model.to(torch.bfloat16).save_pretrained(db, safe_serialization=True)
        p = os.path.join(db, "generation_config.json")
        if os.path.exists(p):
            os.remove(p)
    return cfg, tensors, model, seqs


def make_linear(arch, cfg, model, seqs):
    """The same weights with linear rope scaling (factor 2): config.json and
    logits only, model.safetensors is a symlink to the base model's; plus an
    F16 GGUF carrying <arch>.rope.scaling.type/factor."""
    d = os.path.join(OUT, f"{arch}-linear")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    cfg = cfg.__class__.from_dict(cfg.to_dict())
    cfg.rope_parameters = dict(rope_type="linear", factor=2.0,
                               rope_theta=cfg.rope_parameters["rope_theta"])
    lin = model.__class__(cfg).eval()
    lin.load_state_dict(model.state_dict())
    if cfg.tie_word_embeddings:
        lin.tie_weights()
    logits = run_logits(lin, seqs)
    base = run_logits(model, seqs)
    print(f"{arch}-linear: max|logit diff| vs unscaled {np.abs(logits - base).max():.3f}")
    cfg.save_pretrained(d)
    os.symlink(f"../{arch}/model.safetensors", os.path.join(d, "model.safetensors"))
    logits.astype("<f4").tofile(os.path.join(d, "logits.f32"))
    with open(os.path.join(d, "ref.json"), "w") as f:
        json.dump({"arch": arch, "vocab_size": cfg.vocab_size, "seqs": seqs,
                   "rope": "linear factor 2", "generator": "scripts/make_fixtures.py"}, f)
    sd = {k: v.detach().float().numpy() for k, v in lin.state_dict().items()}
    write_gguf(os.path.join(d, "model-f16.gguf"), arch, cfg, gguf_tensors(arch, cfg, sd), "f16")


def make_bad(gen):
    """Malformed GGUF files for the loader's error paths, from a micro llama
    (hidden 32, 2 layers, 2 heads / 1 kv head of 16, vocab 64; Q8_0) so that
    they stay a few KB."""
    d = os.path.join(OUT, "bad")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    cfg = LlamaConfig(hidden_size=32, intermediate_size=32, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=1, vocab_size=64,
                      max_position_embeddings=64, rms_norm_eps=1e-5, tie_word_embeddings=True,
                      rope_parameters=dict(rope_type="default", rope_theta=10000.0))
    model = LlamaForCausalLM(cfg).eval()
    randomize(model, gen)
    sd = {k: v.detach().float().numpy() for k, v in model.state_dict().items()}
    tensors = gguf_tensors("llama", cfg, sd)
    # blk.1.attn_k.weight with 24 rows instead of 16 (1 kv head of 16)
    bad = [(n, (np.concatenate([t, t[:8]], axis=0) if n == "blk.1.attn_k.weight" else t))
           for n, t in tensors]
    write_gguf(os.path.join(d, "wrong-shape.gguf"), "llama", cfg, bad, "q8_0")
    missing = [(n, t) for n, t in tensors if n != "blk.0.ffn_up.weight"]
    write_gguf(os.path.join(d, "missing-tensor.gguf"), "llama", cfg, missing, "q8_0")
    extra = tensors + [("blk.0.attn_output.bias", np.zeros(32, dtype=np.float32))]
    write_gguf(os.path.join(d, "unsupported-bias.gguf"), "llama", cfg, extra, "q8_0")
    write_gguf(os.path.join(d, "good.gguf"), "llama", cfg, tensors, "q8_0")


def main():
    torch.manual_seed(SEED)
    gen = torch.Generator().manual_seed(SEED)
    for arch in ARCHS:
        r = make_arch(arch, gen)
        if arch == "qwen2":
            make_linear(arch, r[0], r[2], r[3])
    make_bad(gen)
    total = 0
    for root, _, files in os.walk(OUT):
        total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    print(f"fixtures: {total / 1e6:.2f} MB under {OUT}")


if __name__ == "__main__":
    main()
