#!/usr/bin/env python3
"""Hugging Face transformers' float32 first-token log-probabilities of the
real model on the France prompt (tests/e2e/test_cli.py::test_precise_logprobs).

Loads models/SmolLM2-135M-Instruct.Q4_1.gguf with transformers (its GGUF
loader dequantizes every tensor to float32 with gguf-py), applies the chat
template from the GGUF through transformers (jinja2), runs the prompt in
float32 and float64 and stores under tests/fixtures/transformers/:

  smollm2-q4_1-france.json  the prompt's token ids and the 20 most likely
                            first tokens: id, text, log-probability (float64
                            run; the float32 run's largest difference from it
                            is stored too)

Run once from the repo root:  python3 scripts/make_precise_fixture.py
Needs: torch, transformers, gguf, accelerate (pip install accelerate; the
GGUF loader asks for it).
"""
import json

import torch
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer

DIR, FILE = "models", "SmolLM2-135M-Instruct.Q4_1.gguf"
OUT = "tests/fixtures/transformers/smollm2-q4_1-france.json"
PROMPT = "What is the capital of France?"

tok = AutoTokenizer.from_pretrained(DIR, gguf_file=FILE)
model = AutoModelForCausalLM.from_pretrained(DIR, gguf_file=FILE, torch_dtype=torch.float32)
ids = tok.apply_chat_template([{"role": "user", "content": PROMPT}], add_generation_prompt=True,
                              return_tensors="pt")
if not isinstance(ids, torch.Tensor):
    ids = ids["input_ids"]
lp = {}
with torch.no_grad():
    for dt in (torch.float32, torch.float64):
        logits = model.to(dt)(ids).logits[0, -1].to(torch.float64)
        lp[dt] = torch.log_softmax(logits, -1)
top = torch.topk(lp[torch.float64], 20)
json.dump({
    "model": FILE, "prompt": PROMPT, "prompt_ids": ids[0].tolist(),
    "transformers": transformers.__version__, "torch": torch.__version__,
    "float32_vs_float64_max_abs": float((lp[torch.float32] - lp[torch.float64]).abs().max()),
    "top": [{"id": int(i), "text": tok.decode([int(i)]), "logprob": float(v)}
            for v, i in zip(top.values, top.indices)],
}, open(OUT, "w"), indent=1, ensure_ascii=False)
print("wrote", OUT)
