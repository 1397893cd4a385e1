#!/usr/bin/env bash
# Installs every dependency of vllm.c. Idempotent: re-running is cheap.
#   scripts/install-deps.sh          build + test deps (Debian packages, small PyPI set)
#   scripts/install-deps.sh --ref    + the reference stack for regenerating fixtures
#                                      (torch, transformers, gguf, tokenizers, jinja2,
#                                      sentencepiece)
#   scripts/install-deps.sh --bench  + llama-cpp-python (the peer for bench/)
set -euo pipefail

APT_PKGS="build-essential pkg-config libpcre2-dev libutf8proc-dev libjansson-dev \
libmicrohttpd-dev libedit-dev libxxhash-dev libcmocka-dev curl unzip clang xz-utils \
libclang-rt-14-dev"

missing=""
for p in $APT_PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing
fi

PIP="python3 -m pip install -q"
pyhave() { python3 -c "import $1" 2>/dev/null; }

# end-to-end tests (server) need pytest and the openai client
pyhave pytest || $PIP pytest
pyhave openai || $PIP openai
pyhave numpy  || $PIP numpy
# the interactive-chat test drives --i through a pseudo-terminal
pyhave pexpect || $PIP pexpect
# gguf-py: e2e tests check that our GGUF exports read back in another reader
pyhave gguf   || $PIP gguf
# tokenizers: scripts/gguf_to_safetensors.py rebuilds the HF tokenizer of the
# BF16 folder that the --quant e2e tests quantize (no torch needed)
pyhave tokenizers || $PIP tokenizers

for arg in "$@"; do
  case "$arg" in
    --ref)
      pyhave torch        || $PIP torch
      pyhave transformers || $PIP transformers safetensors
      pyhave gguf         || $PIP gguf
      pyhave tokenizers   || $PIP tokenizers
      pyhave jinja2       || $PIP jinja2
      # llama.cpp's convert_hf_to_gguf.py imports it before it looks for a
      # tokenizer.model (bench/ppl_table.sh converts a BF16 folder with it)
      pyhave sentencepiece || $PIP sentencepiece
      ;;
    --bench)
      pyhave llama_cpp    || CMAKE_ARGS="-DGGML_NATIVE=ON" $PIP llama-cpp-python
      pyhave matplotlib   || $PIP matplotlib
      ;;
    *) echo "install-deps.sh: unknown option '$arg' (expected --ref or --bench)" >&2; exit 2;;
  esac
done
echo "install-deps: ok"
