"""vllmc --quant T --quant-out F.gguf on a tiny Llama safetensors folder made
here with numpy: gguf-py (an independent reader and quantizer) reads the file,
finds llama.cpp's names, metadata and tokenizer keys, and the Q8_0 / Q4_0
blocks are bit-identical to gguf-py's own quantization of the same weights
after llama.cpp's q/k row permutation. Bad input is refused clearly."""
import json
import os
import resource
import signal
import struct
import subprocess

import numpy as np
import pytest
from gguf import GGMLQuantizationType as QT
from gguf import GGUFReader
from gguf.quants import quantize

VLLMC = os.environ.get("VLLMC_BIN", os.path.abspath("vllmc"))
DIM, HIDDEN, N_HEADS, N_KV, LAYERS, VOCAB = 256, 512, 4, 2, 2, 64
HEAD_DIM = DIM // N_HEADS


def bf16_bits(x):
    """float32 -> bf16 bit patterns, round to nearest even (as torch does)"""
    u = x.astype(np.float32).view(np.uint32)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def bf16_to_f32(b):
    return (b.astype(np.uint32) << 16).view(np.float32)


def write_safetensors(path, tensors):
    header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    for name, bits in tensors.items():
        raw = bits.tobytes()
        header[name] = {"dtype": "BF16", "shape": list(bits.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def byte_level_alphabet():
    """GPT-2's bytes->unicode map, printable chars first (the vocab's characters)"""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    return [chr(b) for b in bs]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    d = tmp_path_factory.mktemp("tiny-llama")
    rng = np.random.default_rng(7)
    w = {}
    def mat(name, rows, cols, scale=0.05):
        w[name] = bf16_bits(rng.standard_normal((rows, cols)).astype(np.float32) * scale)
    mat("model.embed_tokens.weight", VOCAB, DIM)
    mat("lm_head.weight", VOCAB, DIM)
    w["model.norm.weight"] = bf16_bits(1 + 0.1 * rng.standard_normal(DIM).astype(np.float32))
    for l in range(LAYERS):
        p = f"model.layers.{l}."
        mat(p + "self_attn.q_proj.weight", N_HEADS * HEAD_DIM, DIM)
        mat(p + "self_attn.k_proj.weight", N_KV * HEAD_DIM, DIM)
        mat(p + "self_attn.v_proj.weight", N_KV * HEAD_DIM, DIM)
        mat(p + "self_attn.o_proj.weight", DIM, N_HEADS * HEAD_DIM)
        mat(p + "mlp.gate_proj.weight", HIDDEN, DIM)
        mat(p + "mlp.up_proj.weight", HIDDEN, DIM)
        mat(p + "mlp.down_proj.weight", DIM, HIDDEN)
        w[p + "input_layernorm.weight"] = bf16_bits(1 + 0.1 * rng.standard_normal(DIM).astype(np.float32))
        w[p + "post_attention_layernorm.weight"] = bf16_bits(1 + 0.1 * rng.standard_normal(DIM).astype(np.float32))
    write_safetensors(d / "model.safetensors", w)
    (d / "config.json").write_text(json.dumps({
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": DIM,
        "intermediate_size": HIDDEN, "num_hidden_layers": LAYERS, "num_attention_heads": N_HEADS,
        "num_key_value_heads": N_KV, "max_position_embeddings": 256, "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0, "vocab_size": VOCAB, "tie_word_embeddings": False,
        "bos_token_id": 0, "eos_token_id": 1, "torch_dtype": "bfloat16"}))
    chars = byte_level_alphabet()
    vocab = {c: i for i, c in enumerate(chars[:VOCAB - 2])}
    vocab["ab"] = VOCAB - 2
    tok = {"version": "1.0", "added_tokens": [
               {"id": VOCAB - 1, "content": "<|end|>", "special": True, "single_word": False,
                "lstrip": False, "rstrip": False, "normalized": False}],
           "normalizer": None,
           "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
           "post_processor": None, "decoder": {"type": "ByteLevel"},
           "model": {"type": "BPE", "vocab": vocab, "merges": [["a", "b"]], "byte_fallback": False}}
    # the added token replaces id VOCAB-1 of the byte alphabet
    (d / "tokenizer.json").write_text(json.dumps(tok))
    (d / "tokenizer_config.json").write_text(json.dumps({
        "bos_token": chars[0], "eos_token": "<|end|>", "model_max_length": 10**30,
        "chat_template": "{% for m in messages %}{{ m['content'] }}{% endfor %}"}))
    return d, w


def permute(x, heads):
    """llama.cpp convert_hf_to_gguf.py's q/k permutation (HF -> GGUF rows)"""
    return x.reshape(heads, 2, x.shape[0] // heads // 2, *x.shape[1:]).swapaxes(1, 2).reshape(x.shape)


def run(*args, **kw):
    return subprocess.run([VLLMC, *args], capture_output=True, text=True, timeout=120, **kw)


@pytest.mark.parametrize("quant,qtype", [("q8_0", QT.Q8_0), ("q4_0", QT.Q4_0)])
def test_export_reads_in_gguf_py_bit_identical(tiny, tmp_path, quant, qtype):
    d, w = tiny
    out = tmp_path / f"tiny-{quant}.gguf"
    r = run("--w", str(d), "--quant", quant, "--quant-out", str(out), "--threads", "2")
    assert r.returncode == 0, r.stderr
    assert not os.path.exists(str(out) + ".tmp")
    g = GGUFReader(str(out))
    f = {k: v.contents() for k, v in g.fields.items()}
    assert f["general.architecture"] == "llama"
    assert f["llama.block_count"] == LAYERS and f["llama.embedding_length"] == DIM
    assert f["llama.attention.head_count"] == N_HEADS and f["llama.attention.head_count_kv"] == N_KV
    assert f["llama.feed_forward_length"] == HIDDEN
    # llama.cpp's names (src/llama-vocab.cpp): model "gpt2", pre-tokenizer "gpt-2"
    # for a plain ByteLevel one; it refuses a file whose pre name it does not know
    assert f["tokenizer.ggml.model"] == "gpt2" and f["tokenizer.ggml.pre"] == "gpt-2"
    assert len(f["tokenizer.ggml.tokens"]) == VOCAB
    assert f["tokenizer.ggml.tokens"][VOCAB - 1] == "<|end|>"
    assert f["tokenizer.ggml.token_type"][VOCAB - 1] == 3 and f["tokenizer.ggml.token_type"][5] == 1
    assert f["tokenizer.ggml.merges"] == ["a b"]
    assert f["tokenizer.ggml.bos_token_id"] == 0 and f["tokenizer.ggml.eos_token_id"] == VOCAB - 1
    assert "messages" in f["tokenizer.chat_template"]
    t = {x.name: x for x in g.tensors}
    assert len(t) == 2 + 1 + LAYERS * 9
    for l in range(LAYERS):
        p = f"model.layers.{l}."
        for gname, hname, heads in [("attn_q", "self_attn.q_proj", N_HEADS), ("attn_k", "self_attn.k_proj", N_KV),
                                    ("attn_v", "self_attn.v_proj", 0), ("attn_output", "self_attn.o_proj", 0),
                                    ("ffn_gate", "mlp.gate_proj", 0), ("ffn_up", "mlp.up_proj", 0)]:
            x = bf16_to_f32(w[p + hname + ".weight"])
            if heads:
                x = permute(x, heads)
            ten = t[f"blk.{l}.{gname}.weight"]
            assert ten.tensor_type == qtype, (gname, ten.tensor_type)
            ref = quantize(x, qtype)
            assert np.array_equal(np.asarray(ten.data).reshape(ref.shape), ref), f"blk.{l}.{gname}"
        norm = t[f"blk.{l}.attn_norm.weight"]
        assert norm.tensor_type == QT.F32
        assert np.array_equal(np.asarray(norm.data), bf16_to_f32(w[p + "input_layernorm.weight"]))
    # the output head gets Q6_K unless the mix is Q8_0 (llama.cpp's rule)
    assert t["output.weight"].tensor_type == (QT.Q8_0 if quant == "q8_0" else QT.Q6_K)


def test_export_loads_back_with_the_same_tokens(tiny, tmp_path):
    """the exported file is a model vllmc runs: it tokenizes as the folder does"""
    d, _ = tiny
    out = tmp_path / "back.gguf"
    assert run("--w", str(d), "--quant", "q8_0", "--quant-out", str(out)).returncode == 0
    text = tmp_path / "text.txt"
    text.write_text("ab cab <|end|> 12 ab")
    a = run("--w", str(d), "--tokenize", str(text))
    b = run("--w", str(out), "--tokenize", str(text))
    assert a.returncode == 0 and b.returncode == 0, (a.stderr, b.stderr)
    assert a.stdout.split() and a.stdout == b.stdout


def test_quant_on_gguf_says_what_to_do(tmp_path, tiny):
    d, _ = tiny
    g = tmp_path / "t.gguf"
    assert run("--w", str(d), "--quant", "q8_0", "--quant-out", str(g)).returncode == 0
    r = run("--w", str(g), "--quant", "q4k", "--quant-out", str(tmp_path / "again.gguf"))
    assert r.returncode != 0
    assert "already quantized" in r.stderr and "safetensors" in r.stderr
    assert not (tmp_path / "again.gguf").exists()


def test_unknown_type_lists_valid(tiny, tmp_path):
    d, _ = tiny
    r = run("--w", str(d), "--quant", "q9k", "--quant-out", str(tmp_path / "x.gguf"))
    assert r.returncode != 0
    for name in ["q2k", "q3k", "q4k", "q5k", "q6k", "q4_0", "q8_0"]:
        assert name in r.stderr
    assert not (tmp_path / "x.gguf").exists()


def test_write_failure_leaves_no_file(tiny, tmp_path):
    """a file-size limit makes the write fail midway, as a full disk does"""
    d, _ = tiny
    out = tmp_path / "big.gguf"
    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))
    r = run("--w", str(d), "--quant", "q8_0", "--quant-out", str(out), preexec_fn=limit)
    assert r.returncode != 0
    assert str(out) in r.stderr and "write failed" in r.stderr
    assert not out.exists() and not os.path.exists(str(out) + ".tmp")
