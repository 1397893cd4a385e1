#!/usr/bin/env python3
"""Side-by-side CPU benchmark: vllm.c vs llama.cpp (from llama-cpp-python's
bundled sources, built by scripts/build-llamacpp-tools.sh), same model file,
same thread count, one invocation. Writes bench/REPORT.md and
bench/throughput_vs_batch.png.

    python3 bench/run.py [--model M.gguf ...] [--threads 2] [--quick] [--no-perf]

Models (default both): models/SmolLM2-135M-Instruct.Q4_1.gguf
(scripts/fetch-model.sh) and models/random-320M.Q4_K_M.gguf
(scripts/make-q4k-model.py: random weights, llama-quantize Q4_K_M).
bench/NOTES.md (hand-written analysis) is appended to the report.

Parts (the issue's numbering):
  1. single stream: prefill of 512 tokens (tokens/s), decode of 128 tokens (tokens/s)
  2. throughput: N sequences, random prompt/output lengths, ignore_eos, all at once
  3. decode tokens/s against batch size 1, 2, 4, ..., 64
  + roofline: memory bandwidth / bytes read per decoded token
  + thread scaling of our single stream (1 thread vs --threads), perf profile
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


PEER_NOTES = []   # what had to change in the peer's configuration, for the report


def sh_peer(cmd, no_repack_flag):
    """Runs a llama.cpp tool; when it crashes with weight repacking on (its AMX /
    repack path, the default), runs it again with repacking off and notes it."""
    print("+", " ".join(cmd), file=sys.stderr, flush=True)
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if r.returncode == 0:
        return r.stdout, cmd
    note = (f"`{os.path.basename(cmd[0])}` exited with status {r.returncode} with weight repacking on "
            f"(its default: the AMX / repacked kernels); rerun with `{no_repack_flag}`")
    if note not in PEER_NOTES:
        PEER_NOTES.append(note)
    cmd2 = cmd + no_repack_flag.split()
    return sh(cmd2), cmd2


def llama_bench(bin_dir, model, threads, p, n, depth):
    """llama.cpp's prefill of p tokens (empty context) and decode of n tokens
    after 0 and after `depth` tokens of context, each the best of flash
    attention off and on (llama-bench -fa 0,1 -d 0,depth)."""
    out, _ = sh_peer([f"{bin_dir}/llama-bench", "-m", model, "-t", str(threads), "-p", str(p), "-n", str(n),
                      "-d", f"0,{depth}", "-fa", "0,1", "-o", "json", "-r", "3"], "--repack 0")
    rows = json.loads(out)
    res = {"prefill_tps": 0.0, "decode_tps": 0.0, "decode_depth_tps": 0.0, "depth": depth}
    for row in rows:
        d = row.get("n_depth", 0)
        if row.get("n_prompt", 0) > 0 and row.get("n_gen", 0) == 0 and d == 0:
            res["prefill_tps"] = max(res["prefill_tps"], row["avg_ts"])
        if row.get("n_gen", 0) > 0 and row.get("n_prompt", 0) == 0:
            k = "decode_tps" if d == 0 else "decode_depth_tps"
            res[k] = max(res[k], row["avg_ts"])
    return res


def batched_bench(bin_dir, model, threads, npp, ntg, npl):
    ctx = max(npl) * (npp + ntg) + 64
    out, _ = sh_peer([f"{bin_dir}/llama-batched-bench", "-m", model, "-t", str(threads), "-c", str(ctx),
                      "-b", "2048", "-ub", "512", "-npp", str(npp), "-ntg", str(ntg),
                      "-npl", ",".join(map(str, npl)), "--output-format", "jsonl"], "--no-repack")
    return json_lines(out)


DEFAULT_MODELS = ["models/SmolLM2-135M-Instruct.Q4_1.gguf", "models/random-320M.Q4_K_M.gguf"]
TARGETS = {"prefill": 1.0, "decode": 1.0, "throughput": 2.0, "roofline": 0.70}


def tensor_types(model_path):
    import gguf
    r = gguf.GGUFReader(model_path)
    count = {}
    for t in r.tensors:
        if len(t.shape) > 1:
            count[t.tensor_type.name] = count.get(t.tensor_type.name, 0) + 1
    head = [t.tensor_type.name for t in r.tensors if t.name in ("output.weight",)]
    embd = [t.tensor_type.name for t in r.tensors if t.name == "token_embd.weight"]
    return (", ".join(f"{k} x{v}" for k, v in sorted(count.items(), key=lambda kv: -kv[1])) +
            f"; token_embd {embd[0] if embd else '?'}, output {head[0] if head else '(tied)'}")


def perf_profile(cmd, out_dir):
    """Top symbols of one of our runs (perf record); [] when perf is missing or refused."""
    data = os.path.join(out_dir, "perf.data")
    try:
        subprocess.run(["perf", "record", "-q", "-o", data] + cmd, check=True, capture_output=True, cwd=ROOT)
        rep = subprocess.run(["perf", "report", "-i", data, "--no-children", "--stdio", "--sort", "symbol"],
                             check=True, capture_output=True, text=True, cwd=ROOT).stdout
    except (OSError, subprocess.CalledProcessError):
        return []
    rows = []
    for line in rep.splitlines():
        m = re.match(r"\s+([0-9.]+)%\s+\[[.k]\]\s+(\S+)", line)
        if m:
            rows.append((float(m.group(1)), m.group(2)))
    return rows[:10]


def bench_model(model, T, a, bin_dir, be, membw, cmds):
    batches = [1, 2, 4, 8, 16, 32, 64]
    n_seqs, lo, hi = (32, 32, 128) if a.quick else (64, 64, 256)
    sweep_p, sweep_g = 32, (32 if a.quick else 64)
    gen = 64 if a.quick else 128
    name = os.path.basename(model)
    R = {"model": model, "types": tensor_types(model)}
    wbytes, kv_per_pos = weight_bytes_per_token(model)
    R["wbytes"] = wbytes

    # 1. single stream (ours also at 1 thread: does the pool scale?). Decode
    # at two depths for both: after an 8-token prompt (llama.cpp: empty
    # context) and after the 512-token prompt (llama.cpp: -d 512)
    c = f"{be} {model} single 512 {gen} {T}"
    cmds[f"{name}: ours single"] = c
    R["ours_single"] = json_lines(sh(c.split()))[0]
    c0 = f"{be} {model} single 8 {gen} {T}"
    cmds[f"{name}: ours single, short prompt"] = c0
    R["ours_single_d0"] = json_lines(sh(c0.split()))[0]
    if T > 1:
        c1 = f"{be} {model} single 512 {gen} 1"
        cmds[f"{name}: ours single, 1 thread"] = c1
        R["ours_single_1t"] = json_lines(sh(c1.split()))[0]
    cmds[f"{name}: llama.cpp single"] = (f"{bin_dir}/llama-bench -m {model} -t {T} -p 512 -n {gen} -d 0,512 "
                                         f"-fa 0,1 -o json -r 3")
    R["peer_single"] = llama_bench(bin_dir, model, T, 512, gen, 512)

    # 3. decode vs batch size
    c = f"{be} {model} sweep {','.join(map(str, batches))} {sweep_p} {sweep_g} {T}"
    cmds[f"{name}: ours sweep"] = c
    R["ours_sweep"] = {r["batch"]: r["decode_tps"] for r in json_lines(sh(c.split()))}
    cmds[f"{name}: llama.cpp sweep"] = (f"{bin_dir}/llama-batched-bench -m {model} -t {T} -npp {sweep_p} "
                                        f"-ntg {sweep_g} -npl {','.join(map(str, batches))} --output-format jsonl")
    R["peer_sweep"] = {r["pl"]: r["speed_tg"] for r in batched_bench(bin_dir, model, T, sweep_p, sweep_g, batches)
                       if "pl" in r}

    # 2. throughput run: ours through the engine; llama.cpp's best over parallel counts
    c = f"{be} {model} throughput {n_seqs} {lo} {hi} {T} 0"
    cmds[f"{name}: ours throughput"] = c
    R["ours_tp"] = json_lines(sh(c.split()))[0]
    mean = (lo + hi) // 2
    pls = [p for p in (8, 16, 32, 64) if p <= n_seqs]
    cmds[f"{name}: llama.cpp throughput"] = (f"{bin_dir}/llama-batched-bench -m {model} -t {T} -npp {mean} "
                                             f"-ntg {mean} -npl {','.join(map(str, pls))} --output-format jsonl")
    peer_rows = batched_bench(bin_dir, model, T, mean, mean, pls)
    R["peer_tp"] = max(peer_rows, key=lambda r: r["speed"])
    R["tp_desc"] = f"{n_seqs} seqs, lengths U[{lo},{hi}]"
    R["mean"] = mean

    # ours again with --act8: 8-bit activations in every matmul, llama.cpp's numerics
    A = {}
    for key, args in (("single", f"single 512 {gen} {T}"), ("single_d0", f"single 8 {gen} {T}"),
                      ("tp", f"throughput {n_seqs} {lo} {hi} {T} 0")):
        c = f"{be} --act8 {model} {args}"
        cmds[f"{name}: ours --act8 {key}"] = c
        A[key] = json_lines(sh(c.split()))[0]
    c = f"{be} --act8 {model} sweep {','.join(map(str, batches))} {sweep_p} {sweep_g} {T}"
    cmds[f"{name}: ours --act8 sweep"] = c
    A["sweep"] = {r["batch"]: r["decode_tps"] for r in json_lines(sh(c.split()))}
    A["r_pre"] = A["single"]["prefill_tps"] / R["peer_single"]["prefill_tps"]
    A["r_dec_d0"] = A["single_d0"]["decode_tps"] / R["peer_single"]["decode_tps"]
    A["r_dec_d512"] = A["single"]["decode_tps"] / R["peer_single"]["decode_depth_tps"]
    A["r_tp"] = A["tp"]["total_tps"] / R["peer_tp"]["speed"]
    R["act8"] = A

    # and with --precise (value + residual pairs in every matmul: transformers'
    # float32 logits within ~1e-3 nats), prefill / decode / throughput only
    P = {}
    for key, args in (("single", f"single 512 {gen} {T}"), ("tp", f"throughput {n_seqs} {lo} {hi} {T} 0")):
        c = f"{be} --precise {model} {args}"
        cmds[f"{name}: ours --precise {key}"] = c
        P[key] = json_lines(sh(c.split()))[0]
    R["precise"] = P

    # roofline: bytes per decoded token at single stream ~ weights + KV at
    # the mid-decode context, for each depth
    for key, ctx_mid, tps in (("d0", 8 + gen // 2, R["ours_single_d0"]["decode_tps"]),
                              ("d512", 512 + gen // 2, R["ours_single"]["decode_tps"])):
        R[f"ctx_mid_{key}"] = ctx_mid
        R[f"kv_bytes_{key}"] = kv_per_pos * ctx_mid
        R[f"roof_tps_{key}"] = membw["read_gbs"] * 1e9 / (wbytes + kv_per_pos * ctx_mid)
        R[f"frac_{key}"] = tps / R[f"roof_tps_{key}"]
    R["r_dec_d0"] = R["ours_single_d0"]["decode_tps"] / R["peer_single"]["decode_tps"]
    R["r_dec_d512"] = R["ours_single"]["decode_tps"] / R["peer_single"]["decode_depth_tps"]
    R["r_pre"] = R["ours_single"]["prefill_tps"] / R["peer_single"]["prefill_tps"]
    R["r_tp"] = R["ours_tp"]["total_tps"] / R["peer_tp"]["speed"]
    A["frac_d0"] = A["single_d0"]["decode_tps"] / R["roof_tps_d0"]
    A["frac_d512"] = A["single"]["decode_tps"] / R["roof_tps_d512"]
    R["batches"] = batches
    return R


def verdict(value, target):
    return "met" if value >= target else "**missed**"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", action="append", help="GGUF to run (repeatable; default: the two benchmark models)")
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--quick", action="store_true", help="smaller runs (a smoke test of the whole harness)")
    ap.add_argument("--no-perf", action="store_true", help="skip the perf profile")
    ap.add_argument("--report", default="bench/REPORT.md")
    a = ap.parse_args()
    models = a.model or DEFAULT_MODELS
    T = a.threads

    sh(["make", "-j", str(T), "bench"])
    bin_dir = sh(["bash", "scripts/build-llamacpp-tools.sh", "--print"]).strip()
    sh(["bash", "scripts/build-llamacpp-tools.sh"])
    if "models/SmolLM2-135M-Instruct.Q4_1.gguf" in models:
        sh(["bash", "scripts/fetch-model.sh"])
    if "models/random-320M.Q4_K_M.gguf" in models:
        sh([sys.executable, "scripts/make-q4k-model.py"])
    be = os.path.join(ROOT, "build/release/bench/bench_engine")
    out_dir = os.path.join(ROOT, "bench/out")
    os.makedirs(out_dir, exist_ok=True)
    cmds = {}

    membw = json.loads(sh([os.path.join(ROOT, "build/release/bench/membw"), str(T)]))
    cmds["membw"] = f"build/release/bench/membw {T}"
    results = []
    for m in models:  # each model's numbers saved as soon as they exist
        results.append(bench_model(m, T, a, bin_dir, be, membw, cmds))
        json.dump({"membw": membw, "results": results, "peer_notes": PEER_NOTES, "cmds": cmds},
                  open(os.path.join(out_dir, "results.json"), "w"), indent=1, default=str)

    prof = []
    if not a.no_perf:
        pcmd = [be, models[0], "single", "512", "32", str(T)]
        cmds["perf"] = "perf record -o bench/out/perf.data " + " ".join(pcmd) + "; perf report --no-children --sort symbol"
        prof = perf_profile(pcmd, out_dir)

    # raw numbers first, so that nothing measured is lost
    json.dump({"membw": membw, "results": results, "perf": prof, "peer_notes": PEER_NOTES, "cmds": cmds},
              open(os.path.join(out_dir, "results.json"), "w"), indent=1, default=str)

    # plot: one panel per model (matplotlib: scripts/install-deps.sh --bench)
    png = os.path.join(os.path.dirname(a.report), "throughput_vs_batch.png")
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, axes = plt.subplots(1, len(results), figsize=(6.0 * len(results), 4.2), squeeze=False)
        for ax, R in zip(axes[0], results):
            b = R["batches"]
            ax.plot(b, [R["ours_sweep"].get(x, float("nan")) for x in b], "o-", label="vllm.c")
            ax.plot(b, [R["act8"]["sweep"].get(x, float("nan")) for x in b], "^-", label="vllm.c --act8")
            ax.plot(b, [R["peer_sweep"].get(x, float("nan")) for x in b], "s--", label="llama.cpp")
            ax.set_xscale("log", base=2)
            ax.set_xlabel("sequences decoded together")
            ax.set_ylabel("decode tokens/s")
            ax.set_title(f"{os.path.basename(R['model'])}, {T} threads")
            ax.grid(True, alpha=0.3)
            ax.legend()
        fig.tight_layout()
        fig.savefig(png, dpi=110)
    except ImportError as e:
        png = None
        print(f"run.py: no plot ({e}); scripts/install-deps.sh --bench installs matplotlib", file=sys.stderr)

    L = []
    L.append("# CPU benchmark: vllm.c vs llama.cpp\n")
    L.append(f"Written by `python3 bench/run.py{' --quick' if a.quick else ''}"
             f"{''.join(' --model ' + m for m in a.model or [])} --threads {T}` "
             f"on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.\n")
    L.append(f"- Machine: {machine()}")
    L.append(f"- Threads: {T} for both; our kernels: best the CPU supports (`VLLMC_KERNELS` unset)")
    L.append(f"- Memory read bandwidth: {membw['read_gbs']:.1f} GB/s (`build/release/bench/membw {T}`: the better of "
             f"4 KB pages {membw.get('read_4k_gbs', 0):.1f} and 2 MB pages {membw.get('read_2m_gbs', 0):.1f}; "
             f"copy {membw['copy_gbs']:.1f} GB/s). Our weights are on 2 MB pages (src/model/resident.h), "
             f"llama.cpp's on the file's 4 KB pages (mmap)")
    L.append("- Peer: llama.cpp tools built by `scripts/build-llamacpp-tools.sh` from the llama-cpp-python sdist; "
             "single-stream numbers are its best of flash attention off and on (`-fa 0,1`); decode is measured "
             "at two depths for both: an empty context (`llama-bench -n`; ours after an 8-token prompt) and "
             "512 tokens of context (`-d 512`; ours after the 512-token prompt)")
    for note in PEER_NOTES:
        L.append(f"- Peer configuration: {note}")
    L.append("")
    L.append("## Targets\n")
    L.append("| model | prefill >= 1.0x | decode >= 1.0x, empty context | decode >= 1.0x, 512 context "
             "| throughput >= 2.0x | decode >= 70% of roofline (empty / 512 context) |")
    L.append("|---|---|---|---|---|---|")
    for R in results:
        for label, X in (("", R), (" `--act8`", R["act8"])):
            L.append(f"| {os.path.basename(R['model'])}{label} | {X['r_pre']:.2f}x {verdict(X['r_pre'], 1.0)} | "
                     f"{X['r_dec_d0']:.2f}x {verdict(X['r_dec_d0'], 1.0)} | "
                     f"{X['r_dec_d512']:.2f}x {verdict(X['r_dec_d512'], 1.0)} | "
                     f"{X['r_tp']:.2f}x {verdict(X['r_tp'], 2.0)} | "
                     f"{100 * X['frac_d0']:.0f}% {verdict(X['frac_d0'], 0.70)} / "
                     f"{100 * X['frac_d512']:.0f}% {verdict(X['frac_d512'], 0.70)} |")
    L.append("")
    L.append("`--act8` quantizes the activations of every matmul to 8 bits, as llama.cpp does (against "
             "K-quants one scale per 256 values); the default keeps one f32 scale per 32 values, and "
             "16-bit-class activations for Q8_0 / Q5_0 / Q5_1 weights, which costs some prefill and batched "
             "speed; `--precise` (value + residual 8-bit pairs in every "
             "matmul: Hugging Face transformers' float32 logits within ~1e-3 nats) costs more (docs/forward.md).")
    L.append("")
    for R in results:
        name = os.path.basename(R["model"])
        L.append(f"## {name}\n")
        L.append(f"- Weights: {R['types']}; {R['wbytes'] / 1e6:.1f} MB read per decoded token\n")
        L.append("| run | vllm.c | llama.cpp | ratio | vllm.c `--act8` | ratio |")
        L.append("|---|---:|---:|---:|---:|---:|")
        os_, ps, A = R["ours_single"], R["peer_single"], R["act8"]
        L.append(f"| single-stream prefill, 512 tokens (tok/s) | {os_['prefill_tps']:.1f} | {ps['prefill_tps']:.1f} | "
                 f"{R['r_pre']:.2f}x | {A['single']['prefill_tps']:.1f} | {A['r_pre']:.2f}x |")
        o0 = R["ours_single_d0"]
        L.append(f"| single-stream decode, {o0['gen_len']} tokens, empty context (tok/s) | {o0['decode_tps']:.1f} | "
                 f"{ps['decode_tps']:.1f} | {R['r_dec_d0']:.2f}x | {A['single_d0']['decode_tps']:.1f} | "
                 f"{A['r_dec_d0']:.2f}x |")
        L.append(f"| single-stream decode, {os_['gen_len']} tokens after 512 (tok/s) | {os_['decode_tps']:.1f} | "
                 f"{ps['decode_depth_tps']:.1f} | {R['r_dec_d512']:.2f}x | {A['single']['decode_tps']:.1f} | "
                 f"{A['r_dec_d512']:.2f}x |")
        pt = R["peer_tp"]
        L.append(f"| throughput, {R['tp_desc']} (total tok/s) | {R['ours_tp']['total_tps']:.1f} | "
                 f"{pt['speed']:.1f} (batched-bench, {pt['pl']} parallel, pp=tg={R['mean']}) | {R['r_tp']:.2f}x | "
                 f"{A['tp']['total_tps']:.1f} | {A['r_tp']:.2f}x |")
        for b in R["batches"]:
            o, p, o8 = R["ours_sweep"].get(b), R["peer_sweep"].get(b), A["sweep"].get(b)
            if o and p and o8:
                L.append(f"| decode, batch {b} (tok/s) | {o:.1f} | {p:.1f} | {o / p:.2f}x | {o8:.1f} | {o8 / p:.2f}x |")
        L.append("")
        Pr = R.get("precise")
        if Pr:
            L.append(f"`--precise`: prefill {Pr['single']['prefill_tps']:.1f} tok/s "
                     f"({Pr['single']['prefill_tps'] / ps['prefill_tps']:.2f}x), decode after 512 "
                     f"{Pr['single']['decode_tps']:.1f} tok/s ({Pr['single']['decode_tps'] / ps['decode_depth_tps']:.2f}x), "
                     f"throughput {Pr['tp']['total_tps']:.1f} tok/s ({Pr['tp']['total_tps'] / pt['speed']:.2f}x).\n")
        if "ours_single_1t" in R:
            o1 = R["ours_single_1t"]
            L.append(f"Thread scaling (ours, 1 -> {T} threads): prefill {o1['prefill_tps']:.1f} -> "
                     f"{os_['prefill_tps']:.1f} tok/s ({os_['prefill_tps'] / o1['prefill_tps']:.2f}x), decode "
                     f"{o1['decode_tps']:.1f} -> {os_['decode_tps']:.1f} tok/s ({os_['decode_tps'] / o1['decode_tps']:.2f}x).\n")
        for key, what in (("d0", "empty context"), ("d512", "after 512")):
            L.append(f"Roofline, {what}: {R['wbytes'] / 1e6:.1f} MB weights + {R[f'kv_bytes_{key}'] / 1e6:.2f} MB KV at "
                     f"{R[f'ctx_mid_{key}']} positions per decoded token at {membw['read_gbs']:.1f} GB/s -> "
                     f"{R[f'roof_tps_{key}']:.0f} tok/s; single-stream decode reaches **{100 * R[f'frac_{key}']:.0f}%** "
                     f"of it (llama.cpp: {100 * (ps['decode_tps'] if key == 'd0' else ps['decode_depth_tps']) / R[f'roof_tps_{key}']:.0f}%).\n")
    if png:
        L.append(f"![decode tokens/s against batch size]({os.path.basename(png)})\n")
    else:
        L.append("(no plot: matplotlib missing; `scripts/install-deps.sh --bench`)\n")
    if prof:
        L.append(f"## Where the time goes\n")
        L.append(f"`perf record` of our single stream (512-token prefill + 32 decoded tokens) on "
                 f"`{models[0]}`, {T} threads:\n")
        L.append("| % samples | symbol |")
        L.append("|---:|---|")
        for pct, sym in prof:
            L.append(f"| {pct:.1f} | `{sym}` |")
        L.append("")
    notes = os.path.join(ROOT, "bench/NOTES.md")
    if os.path.exists(notes):
        L.append(open(notes).read().rstrip() + "\n")
    L.append("## Commands\n")
    for k, v in cmds.items():
        L.append(f"- {k}: `{v}`")
    open(a.report, "w").write("\n".join(L) + "\n")
    print("\n".join(L))


if __name__ == "__main__":
    main()
