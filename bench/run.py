#!/usr/bin/env python3
"""Side-by-side CPU benchmark: vllm.c vs llama.cpp (from llama-cpp-python's
bundled sources, built by scripts/build-llamacpp-tools.sh), same model file,
same thread count, one invocation. Writes bench/REPORT.md and
bench/throughput_vs_batch.png.

    python3 bench/run.py [--model models/SmolLM2-135M-Instruct.Q4_1.gguf]
                         [--threads 2] [--quick]

Parts (the issue's numbering):
  1. single stream: prefill of 512 tokens (tokens/s), decode of 128 tokens (tokens/s)
  2. throughput: N sequences, random prompt/output lengths, ignore_eos, all at once
  3. decode tokens/s against batch size 1, 2, 4, ..., 64
  + roofline: memory bandwidth / bytes read per decoded token
"""
import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def sh(cmd, **kw):
    print("+", " ".join(cmd), file=sys.stderr, flush=True)
    return subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT, **kw).stdout


def json_lines(text):
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            out.append(json.loads(line))
    return out


def machine():
    model = "?"
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    flags = open("/proc/cpuinfo").read()
    simd = [f for f in ("avx2", "avx512f", "avx512_vnni", "avx512_bf16") if re.search(r"\b%s\b" % f, flags)]
    mem = int(open("/proc/meminfo").readline().split()[1]) // (1024 * 1024)
    return f"{model}, {os.cpu_count()} logical CPUs, {mem} GiB RAM, {platform.system()} {platform.release()}, SIMD: {' '.join(simd)}"


def weight_bytes_per_token(model_path):
    """Bytes of weights a decode step reads per token: every matrix once
    (the token embedding only one row unless it is also the output head)."""
    import gguf  # gguf-py, an independent reader
    r = gguf.GGUFReader(model_path)
    names = {t.name for t in r.tensors}
    total = 0
    for t in r.tensors:
        if t.name == "token_embd.weight" and "output.weight" in names:
            total += int(t.n_bytes) // int(t.shape[-1] if len(t.shape) > 1 else 1)
        else:
            total += int(t.n_bytes)
    arch = r.fields["general.architecture"].contents()
    n_layers = int(r.fields[f"{arch}.block_count"].contents())
    n_kv = int(r.fields[f"{arch}.attention.head_count_kv"].contents())
    n_head = int(r.fields[f"{arch}.attention.head_count"].contents())
    dim = int(r.fields[f"{arch}.embedding_length"].contents())
    head_dim = dim // n_head
    kv_per_pos = 2 * n_layers * n_kv * head_dim * 2  # K and V, bf16/f16
    return total, kv_per_pos


def llama_bench(bin_dir, model, threads, p, n):
    out = sh([f"{bin_dir}/llama-bench", "-m", model, "-t", str(threads), "-p", str(p), "-n", str(n), "-o", "json", "-r", "3"])
    rows = json.loads(out)
    res = {}
    for row in rows:
        if row.get("n_prompt", 0) > 0 and row.get("n_gen", 0) == 0:
            res["prefill_tps"] = row["avg_ts"]
        if row.get("n_gen", 0) > 0 and row.get("n_prompt", 0) == 0:
            res["decode_tps"] = row["avg_ts"]
    return res


def batched_bench(bin_dir, model, threads, npp, ntg, npl):
    ctx = max(npl) * (npp + ntg) + 64
    out = sh([f"{bin_dir}/llama-batched-bench", "-m", model, "-t", str(threads), "-c", str(ctx),
              "-b", "2048", "-ub", "512", "-npp", str(npp), "-ntg", str(ntg),
              "-npl", ",".join(map(str, npl)), "--output-format", "jsonl"])
    return json_lines(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="models/SmolLM2-135M-Instruct.Q4_1.gguf")
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--quick", action="store_true", help="smaller runs (a few minutes in all)")
    ap.add_argument("--report", default="bench/REPORT.md")
    a = ap.parse_args()
    model = a.model
    T = a.threads
    batches = [1, 2, 4, 8, 16, 32, 64]
    n_seqs, lo, hi = (32, 32, 128) if a.quick else (64, 64, 256)
    sweep_p, sweep_g = 32, (32 if a.quick else 64)

    sh(["make", "-j", str(T), "bench"])
    bin_dir = sh(["bash", "scripts/build-llamacpp-tools.sh", "--print"]).strip()
    sh(["bash", "scripts/build-llamacpp-tools.sh"])
    be = os.path.join(ROOT, "build/release/bench/bench_engine")
    cmds = {}

    # roofline inputs
    membw = json.loads(sh([os.path.join(ROOT, "build/release/bench/membw"), str(T)]))
    wbytes, kv_per_pos = weight_bytes_per_token(model)

    # 1. single stream
    cmds["ours single"] = f"{be} {model} single 512 128 {T}"
    ours_single = json_lines(sh(cmds["ours single"].split()))[0]
    cmds["llama.cpp single"] = f"{bin_dir}/llama-bench -m {model} -t {T} -p 512 -n 128 -o json -r 3"
    peer_single = llama_bench(bin_dir, model, T, 512, 128)

    # 3. decode vs batch size
    cmds["ours sweep"] = f"{be} {model} sweep {','.join(map(str, batches))} {sweep_p} {sweep_g} {T}"
    ours_sweep = {r["batch"]: r["decode_tps"] for r in json_lines(sh(cmds["ours sweep"].split()))}
    cmds["llama.cpp sweep"] = (f"{bin_dir}/llama-batched-bench -m {model} -t {T} -npp {sweep_p} -ntg {sweep_g} "
                               f"-npl {','.join(map(str, batches))} --output-format jsonl")
    peer_sweep = {r["pl"]: r["speed_tg"] for r in batched_bench(bin_dir, model, T, sweep_p, sweep_g, batches)
                  if "pl" in r}

    # 2. throughput run: ours through the engine; llama.cpp's best over parallel counts
    seed = 0
    cmds["ours throughput"] = f"{be} {model} throughput {n_seqs} {lo} {hi} {T} {seed}"
    ours_tp = json_lines(sh(cmds["ours throughput"].split()))[0]
    mean = (lo + hi) // 2
    pls = [p for p in (8, 16, 32, 64) if p <= n_seqs]
    cmds["llama.cpp throughput"] = (f"{bin_dir}/llama-batched-bench -m {model} -t {T} -npp {mean} -ntg {mean} "
                                    f"-npl {','.join(map(str, pls))} --output-format jsonl")
    peer_rows = batched_bench(bin_dir, model, T, mean, mean, pls)
    peer_best = max(peer_rows, key=lambda r: r["speed"])

    # roofline: bytes per decoded token at single stream ~ weights + KV of ~ (512 + 64) positions
    ctx_mid = 512 + 64
    bytes_tok = wbytes + kv_per_pos * ctx_mid
    roof_tps = membw["read_gbs"] * 1e9 / bytes_tok

    r_dec = ours_single["decode_tps"] / peer_single["decode_tps"]
    r_pre = ours_single["prefill_tps"] / peer_single["prefill_tps"]
    r_tp = ours_tp["total_tps"] / peer_best["speed"]
    frac = ours_single["decode_tps"] / roof_tps

    # plot
    png = os.path.join(os.path.dirname(a.report), "throughput_vs_batch.png")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    ax.plot(batches, [ours_sweep.get(b, float("nan")) for b in batches], "o-", label="vllm.c")
    ax.plot(batches, [peer_sweep.get(b, float("nan")) for b in batches], "s--", label="llama.cpp")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("sequences decoded together")
    ax.set_ylabel("decode tokens/s")
    ax.set_title(f"{os.path.basename(model)}, {T} threads")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(png, dpi=110)

    L = []
    L.append("# CPU benchmark: vllm.c vs llama.cpp\n")
    L.append(f"Written by `python3 bench/run.py{' --quick' if a.quick else ''} --model {model} --threads {T}` "
             f"on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.\n")
    L.append(f"- Machine: {machine()}")
    L.append(f"- Model: `{model}` ({wbytes / 1e6:.1f} MB of weights read per decoded token)")
    L.append(f"- Threads: {T} for both")
    L.append(f"- Peer: llama.cpp tools built by `scripts/build-llamacpp-tools.sh` from the llama-cpp-python sdist\n")
    L.append("| run | vllm.c | llama.cpp | ratio |")
    L.append("|---|---:|---:|---:|")
    L.append(f"| single-stream prefill, 512 tokens (tok/s) | {ours_single['prefill_tps']:.1f} | {peer_single['prefill_tps']:.1f} | {r_pre:.2f}x |")
    L.append(f"| single-stream decode, 128 tokens (tok/s) | {ours_single['decode_tps']:.1f} | {peer_single['decode_tps']:.1f} | {r_dec:.2f}x |")
    L.append(f"| throughput, {n_seqs} seqs, lengths U[{lo},{hi}] (total tok/s) | {ours_tp['total_tps']:.1f} | "
             f"{peer_best['speed']:.1f} (batched-bench, {peer_best['pl']} parallel, pp=tg={mean}) | {r_tp:.2f}x |")
    for b in batches:
        o, p = ours_sweep.get(b), peer_sweep.get(b)
        if o and p:
            L.append(f"| decode, batch {b} (tok/s) | {o:.1f} | {p:.1f} | {o / p:.2f}x |")
    L.append("")
    L.append(f"Roofline: memory read bandwidth {membw['read_gbs']:.1f} GB/s (`build/release/bench/membw {T}`, "
             f"copy {membw['copy_gbs']:.1f} GB/s); bytes per decoded token = {wbytes / 1e6:.1f} MB weights + "
             f"{kv_per_pos * ctx_mid / 1e6:.2f} MB KV at {ctx_mid} positions -> roofline {roof_tps:.0f} tok/s; "
             f"single-stream decode reaches **{100 * frac:.0f}%** of it.\n")
    L.append(f"![decode tokens/s against batch size]({os.path.basename(png)})\n")
    L.append("## Commands\n")
    for k, v in cmds.items():
        L.append(f"- {k}: `{v}`")
    open(a.report, "w").write("\n".join(L) + "\n")
    print("\n".join(L))


if __name__ == "__main__":
    main()
