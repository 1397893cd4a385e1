"""Helpers for the CLI end-to-end tests: run ./vllmc and parse its output.

VLLMC_BIN names the binary (set by `make e2e`), VLLMC_MODEL the model
(default: the SmolLM2 GGUF fetched by scripts/fetch-model.sh)."""
import json
import os
import re
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("VLLMC_BIN", os.path.join(ROOT, "vllmc"))
MODEL = os.environ.get("VLLMC_MODEL", os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf"))
# One thread by default: the suite shares small machines, and an oversubscribed
# machine makes multi-threaded steps wait on descheduled threads.
THREADS = os.environ.get("VLLMC_TEST_THREADS", "1")

STATS_RE = re.compile(r"^stats: (.*)$", re.M)
PREFILL_RE = re.compile(r"^(\d+) prompt tokens \((\d+) cached\), prefill ([\d.]+) tokens/s$", re.M)
DECODE_RE = re.compile(
    r"^(\d+) tokens generated in ([\d.]+) s \(decoding throughput: ([\d.]+) tokens/s\)$", re.M)


class Run:
    def __init__(self, proc):
        self.rc = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr
        self.results = [json.loads(line[len("result: "):])
                        for line in self.out.splitlines() if line.startswith("result: ")]
        self.results.sort(key=lambda r: r["index"])
        m = STATS_RE.search(self.out)
        self.stats = {k: float(v) if "." in v else int(v)
                      for k, v in (kv.split("=") for kv in m.group(1).split())} if m else {}

    def texts(self):
        return [r["text"] for r in self.results]

    def tokens(self):
        return [r["tokens"] for r in self.results]


def run(*args, prompts=None, timeout=600, check=True):
    cmd = [BIN, "--w", MODEL]
    if prompts is not None:
        cmd += ["--prompts", " | ".join(prompts) if isinstance(prompts, list) else prompts]
    cmd += [str(a) for a in args]
    if "--help" not in cmd and "--threads" not in cmd:
        cmd += ["--threads", THREADS]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    r = Run(proc)
    if check:
        assert r.rc == 0, f"{cmd} exited {r.rc}\nstdout:\n{r.out}\nstderr:\n{r.err}"
    return r
