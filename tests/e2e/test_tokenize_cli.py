"""`vllmc --w MODEL --tokenize FILE` / `--detokenize FILE` against the Hugging Face
tokenizers references in tests/fixtures/tokenizer/cases-*.json."""
import json
import lzma
import os
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIX = os.path.join(ROOT, "tests", "fixtures", "tokenizer")
BIN = os.environ.get("VLLMC_BIN", os.path.join(ROOT, "vllmc"))
MODEL = os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")


def llama3_dir(tmp_path):
    d = tmp_path / "llama3"
    d.mkdir()
    with lzma.open(os.path.join(FIX, "llama3.tokenizer.json.xz")) as f, open(d / "tokenizer.json", "wb") as g:
        shutil.copyfileobj(f, g)
    shutil.copy(os.path.join(FIX, "llama3.tokenizer_config.json"), d / "tokenizer_config.json")
    return str(d)


def cases(name, n=25):
    with open(os.path.join(FIX, f"cases-{name}.json"), encoding="utf-8") as f:
        c = json.load(f)
    # the CLI parses special tokens and adds BOS/EOS per the tokenizer (neither of these two adds any)
    return [x for x in c["texts"] if x["parse_special"] and not x["add_special"]][:n]


def run(model, flag, path):
    p = subprocess.run([BIN, "--w", model, flag, path], capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr.decode()
    return p.stdout


@pytest.mark.parametrize("name", ["smollm2", "llama3"])
def test_tokenize_roundtrip(tmp_path, name):
    model = MODEL if name == "smollm2" else llama3_dir(tmp_path)
    # loading Llama 3's 9 MB tokenizer.json costs ~0.4 s a run: fewer cases there
    for i, case in enumerate(cases(name, 12 if name == "smollm2" else 4)):
        src = tmp_path / f"in{i}.txt"
        src.write_bytes(case["text"].encode("utf-8"))
        out = run(model, "--tokenize", str(src)).decode()
        assert out.endswith("\n")
        assert [int(x) for x in out.split()] == case["ids"], case["text"]
        ids = tmp_path / f"ids{i}.txt"
        ids.write_text(out)
        # every case text is valid UTF-8 and encodes losslessly: decode gives it back
        assert run(model, "--detokenize", str(ids)) == case["text"].encode("utf-8")


def test_detokenize_json_list_and_errors(tmp_path):
    ids = tmp_path / "ids.json"
    ids.write_text("[19556, 905, 2]")
    assert run(MODEL, "--detokenize", str(ids)) == b"Hello world<|im_end|>"
    bad = tmp_path / "bad.txt"
    bad.write_text("12 x 5")
    p = subprocess.run([BIN, "--w", MODEL, "--detokenize", str(bad)], capture_output=True)
    assert p.returncode == 1 and b"byte offset 3" in p.stderr
    bad.write_text("99999999")
    p = subprocess.run([BIN, "--w", MODEL, "--detokenize", str(bad)], capture_output=True)
    assert p.returncode == 1 and b"out of range" in p.stderr
    bad.write_bytes(b"ok \xff")
    p = subprocess.run([BIN, "--w", MODEL, "--tokenize", str(bad)], capture_output=True)
    assert p.returncode == 1 and b"invalid UTF-8" in p.stderr
    p = subprocess.run([BIN, "--tokenize", str(bad)], capture_output=True)
    assert p.returncode == 2
