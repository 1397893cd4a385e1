#!/usr/bin/env python3
"""llama.cpp's logits for the real model (tests/test_real_model.c).

Runs models/SmolLM2-135M-Instruct.Q4_1.gguf with llama-cpp-python
(logits_all=True, one sequence at a time from an empty KV cache) on three
fixed token sequences (llama.cpp's own tokenization of three fixed texts) and
stores under tests/fixtures/llamacpp/:

  smollm2-q4_1.json        the token ids of each sequence, llama-cpp-python version
  smollm2-q4_1.logits.f32  the last-position logits of each sequence,
                           float32 little endian, [3][n_vocab]

Run once from the repo root:  python3 scripts/make_llamacpp_fixtures.py
Needs: llama-cpp-python (scripts/install-deps.sh --bench), numpy.
"""
import json

import numpy as np
import llama_cpp

MODEL = "models/SmolLM2-135M-Instruct.Q4_1.gguf"
OUT = "tests/fixtures/llamacpp/smollm2-q4_1"
TEXTS = [
    "The capital of France is",
    "<|im_start|>user\nWhat is 2 + 2? Answer with one number.<|im_end|>\n<|im_start|>assistant\n",
    "Once upon a time, in a small village at the edge of a great forest, there lived an old "
    "clockmaker who repaired every clock in the valley. One winter morning,",
]


def main():
    llm = llama_cpp.Llama(model_path=MODEL, logits_all=True, n_ctx=256, n_batch=256,
                          n_threads=2, seed=0, verbose=False)
    seqs, rows = [], []
    for text in TEXTS:
        toks = llm.tokenize(text.encode(), add_bos=False, special=True)
        llm.reset()
        llm.eval(toks)
        logits = np.array(llm.scores[len(toks) - 1], dtype=np.float32)
        seqs.append(toks)
        rows.append(logits)
        top = np.argsort(-logits)[:3]
        print(f"{len(toks):3d} tokens, argmax {top[0]} {llm.detokenize([int(top[0])])!r}, top3 {top.tolist()}")
    np.stack(rows).astype("<f4").tofile(OUT + ".logits.f32")
    with open(OUT + ".json", "w") as f:
        json.dump({"model": MODEL, "n_vocab": int(llm.n_vocab()), "seqs": seqs,
                   "generator": "scripts/make_llamacpp_fixtures.py (llama-cpp-python %s)"
                   % llama_cpp.__version__}, f)


if __name__ == "__main__":
    main()
