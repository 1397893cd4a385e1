"""Every --quant type, quantized in situ from a BF16 safetensors folder, loads
and answers the README's prompts. The folder is made from the shipped SmolLM2
GGUF by scripts/gguf_to_safetensors.py (gguf-py dequantizes, HF tokenizers
rebuilds the tokenizer; both from scripts/install-deps.sh), once, into
models/smollm2-bf16 (or VLLMC_BF16_DIR).

What "sensibly" means for a 135M model, greedy. Whether a quantization keeps
the model's answer is a question about its weights, so those checks run with
--precise (the matmuls within ~1e-3 nats of float32, docs/forward.md): the
default's 8-bit activations move near-ties (q5k's first token, q4k's eighth)
one way or the other. The BF16 model answers "Paris"; so do q8_0, q6k, q4_0,
q3k and q2k. q4k answers in French ("La femme de France, le Grand Croix, est
le Grand Croix de la Cité, ..."), word for word what llama.cpp's own Q4_K_M of
the same BF16 weights answers (llama-completion --temp 0). q5k answers in
French too ("La femme, le grand, le grand, ...") where llama.cpp's Q5_K_M
says Paris: the files differ only in the 30 ffn_down Q5_K/Q6_K tensors (ours
have the lower quantization error), the 166 Q5_1 and 15 Q8_0 tensors are
bit-identical; a near-tie on the first token. Every type must answer the
haiku prompt with words about the sea in the default numerics (the shipped
GGUF's weights are Q4_1 values: every requantization adds its rounding on top
of that).
"""
import os
import subprocess
import sys

import pytest

from vllmc_cli import BIN, ROOT, Run

GGUF = os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")
BF16 = os.environ.get("VLLMC_BF16_DIR", os.path.join(ROOT, "models", "smollm2-bf16"))
PROMPTS = "What is the capital of France? | Write a haiku about the sea."


@pytest.fixture(scope="module")
def bf16_dir():
    if not os.path.exists(os.path.join(BF16, "model.safetensors")):
        r = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "gguf_to_safetensors.py"), GGUF, BF16],
                           capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, ("scripts/gguf_to_safetensors.py failed (it needs gguf, numpy, tokenizers: "
                                   "scripts/install-deps.sh):\n" + r.stderr[-2000:])
    for f in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"):
        assert os.path.exists(os.path.join(BF16, f)), f
    return BF16


def answers(d, *args):
    cmd = [BIN, "--w", d, *args, "--prompts", PROMPTS, "--max", "48", "--threads", "2", "--verbose"]
    r = Run(subprocess.run(cmd, capture_output=True, text=True, timeout=300))
    assert r.rc == 0, f"{cmd}\n{r.err[-2000:]}"
    texts = r.texts()
    assert len(texts) == 2, r.out
    return texts, r.err


@pytest.mark.heavy
def test_bf16_folder_answers(bf16_dir):
    (france, haiku), _ = answers(bf16_dir)
    assert "Paris" in france, france
    assert "sea" in haiku.lower() or "wave" in haiku.lower(), haiku


MIXES = {"q8_0": "Q8_0", "q6k": "Q6_K", "q5k": "Q5_K_M", "q4k": "Q4_K_M", "q4_0": "Q4_0", "q3k": "Q3_K_M",
         "q2k": "Q2_K"}
# llama.cpp's greedy answer from its own Q4_K_M of the same BF16 file (llama-completion
# -nr --temp 0 on the chat-formatted prompt; see docs/quantization.md)
LLAMACPP_Q4_K_M_FRANCE = "La femme de France, le Grand Croix, est le Grand Croix de la Cité"


@pytest.fixture(scope="module")
def quant_answers(bf16_dir):
    cache = {}
    def get(quant, *numerics):
        key = (quant, *numerics)
        if key not in cache:
            (france, haiku), err = answers(bf16_dir, "--quant", quant, *numerics)
            assert f"tensors to the {MIXES[quant]} mix" in err, err  # the summary line names the mix
            print(f"{quant} {' '.join(numerics)}: {france!r} | {haiku!r}")
            cache[key] = (france, haiku)
        return cache[key]
    return get


@pytest.mark.heavy
@pytest.mark.parametrize("quant", list(MIXES))
def test_every_quant_type_writes_about_the_sea(quant_answers, quant):
    france, haiku = quant_answers(quant)
    assert france.strip()
    low = haiku.lower()
    assert any(w in low for w in ("sea", "wave", "ocean", "shore", "foam")), haiku


@pytest.mark.heavy
@pytest.mark.parametrize("quant", [
    "q8_0", "q6k", "q4_0", "q3k", "q2k",
    pytest.param("q5k", marks=pytest.mark.xfail(strict=True, reason=(
        "answers 'La femme, le grand, le grand, ...' where llama.cpp's Q5_K_M says Paris: "
        "only the ffn_down Q5_K/Q6_K blocks differ (ours closer to the BF16 weights)"))),
])
def test_quant_type_knows_paris(quant_answers, quant):
    france, _ = quant_answers(quant, "--precise")
    assert "Paris" in france, france


@pytest.mark.heavy
def test_q4k_answers_as_llama_cpp_q4_k_m(quant_answers):
    france, _ = quant_answers("q4k", "--precise")
    assert france.startswith(LLAMACPP_Q4_K_M_FRANCE), france
