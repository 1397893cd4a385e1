#!/usr/bin/env python3
"""Tokenizer encoding speed: vllm.c's vc_tokenize vs Hugging Face `tokenizers`,
one thread each, on the same English text with the Llama 3 tokenizer.

  python3 bench/tokenizer_bench.py [--text FILE] [--tokenizer DIR] [--repeats N]

Text: the KJV Pentateuch from scripts/fetch-ppl-text.sh (about 0.8 MB) unless
--text is given. Tokenizer: tests/fixtures/tokenizer/llama3.* (unpacked into
tests/fixtures/tmp/tokenizer/llama3) unless --tokenizer is given.
Two modes: the whole text in one call, and one call per line. Both sides run
pinned to one CPU (taskset) with RAYON_NUM_THREADS=1 / TOKENIZERS_PARALLELISM=false;
the best of N runs counts. The ids of both are checked to be equal. Prints a
table and writes bench/out/tokenizer_bench.json."""
import argparse
import json
import lzma
import os
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def llama3_dir():
    d = os.path.join(ROOT, "tests", "fixtures", "tmp", "tokenizer", "llama3")
    if not os.path.exists(os.path.join(d, "tokenizer.json")):
        os.makedirs(d, exist_ok=True)
        fx = os.path.join(ROOT, "tests", "fixtures", "tokenizer")
        with lzma.open(os.path.join(fx, "llama3.tokenizer.json.xz")) as f, open(os.path.join(d, "tokenizer.json"), "wb") as g:
            shutil.copyfileobj(f, g)
        shutil.copy(os.path.join(fx, "llama3.tokenizer_config.json"), os.path.join(d, "tokenizer_config.json"))
    return d


HF_CHILD = r"""
import json, sys, time
from tokenizers import Tokenizer
tok = Tokenizer.from_file(sys.argv[1] + "/tokenizer.json")
text = open(sys.argv[2], encoding="utf-8").read()
mode, repeats = sys.argv[3], int(sys.argv[4])
lines = text.split("\n")
best, n = 1e30, 0
for _ in range(repeats):
    t0 = time.perf_counter()
    if mode == "whole":
        ids = tok.encode(text, add_special_tokens=False).ids
        n = len(ids)
    else:
        n = sum(len(tok.encode(l, add_special_tokens=False).ids) for l in lines)
    best = min(best, time.perf_counter() - t0)
if mode == "whole":
    open(sys.argv[5], "w").write(" ".join(map(str, ids)) + "\n")
print(json.dumps({"tokens": n, "best_s": best}))
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--text")
    ap.add_argument("--tokenizer")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    text = args.text or subprocess.check_output(["bash", os.path.join(ROOT, "scripts", "fetch-ppl-text.sh")], text=True).strip()
    tok = args.tokenizer or llama3_dir()
    subprocess.check_call(["make", "-s", "-C", ROOT, "build/release/bench/tokenizer_bench"])
    bench = os.path.join(ROOT, "build", "release", "bench", "tokenizer_bench")
    nbytes = os.path.getsize(text)
    env = dict(os.environ, RAYON_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false", OMP_NUM_THREADS="1")
    pin = ["taskset", "-c", "0"] if shutil.which("taskset") else []
    out_dir = os.path.join(ROOT, "bench", "out")
    os.makedirs(out_dir, exist_ok=True)
    ours_ids, hf_ids = os.path.join(out_dir, "tok_ours.ids"), os.path.join(out_dir, "tok_hf.ids")
    rows = []
    for mode in ["whole", "lines"]:
        cmd = pin + [bench, tok, text, str(args.repeats), ours_ids if mode == "whole" else "-"] + (["lines"] if mode == "lines" else [])
        ours = json.loads(subprocess.check_output(cmd, env=env))
        hf = json.loads(subprocess.check_output(pin + [sys.executable, "-c", HF_CHILD, tok, text, mode, str(args.repeats), hf_ids], env=env))
        if ours["tokens"] != hf["tokens"]:
            sys.exit(f"token counts differ in mode {mode}: ours {ours['tokens']}, HF {hf['tokens']}")
        rows.append({"mode": mode, "bytes": nbytes, "tokens": ours["tokens"],
                     "vllmc_mb_s": nbytes / ours["best_s"] / 1e6, "hf_mb_s": nbytes / hf["best_s"] / 1e6})
    if open(ours_ids).read() != open(hf_ids).read():
        sys.exit("ids differ between vllm.c and HF tokenizers on the whole text")
    print(f"text {text} ({nbytes / 1e6:.2f} MB), tokenizer {tok}, one thread, best of {args.repeats}")
    print(f"{'mode':<8}{'tokens':>10}{'vllm.c MB/s':>14}{'HF MB/s':>10}{'ratio':>8}")
    for r in rows:
        print(f"{r['mode']:<8}{r['tokens']:>10}{r['vllmc_mb_s']:>14.2f}{r['hf_mb_s']:>10.2f}{r['vllmc_mb_s'] / r['hf_mb_s']:>8.2f}")
    with open(os.path.join(out_dir, "tokenizer_bench.json"), "w") as f:
        json.dump({"text": text, "tokenizer": tok, "rows": rows, "when": time.strftime("%Y-%m-%d %H:%M:%S")}, f, indent=1)


if __name__ == "__main__":
    main()
