#!/usr/bin/env bash
# Builds llama.cpp's command-line tools from the llama.cpp sources bundled in the
# llama-cpp-python sdist (the same code the llama-cpp-python package runs), into
# the cache. They are the peer we compare against: bench/ and the perplexity table
# in docs/quantization.md use them. Nothing fetched here is committed.
#
#   scripts/build-llamacpp-tools.sh            build (or skip when already built)
#   scripts/build-llamacpp-tools.sh --print    print the bin directory and exit
#
# Environment:
#   VLLMC_CACHE        cache root (default ~/.cache/vllmc)
#   LLAMACPP_VERSION   llama-cpp-python version to fetch (default: newest on PyPI)
#   LLAMACPP_JOBS      parallel compile jobs (default 2; the build is niced)
#   LLAMACPP_SERVER=1  also build llama-server and llama-cli (slow: many minutes)
#
# Result: $VLLMC_CACHE/llama.cpp/bin/{llama-quantize,llama-perplexity,llama-bench,
#         llama-batched-bench,llama-completion[,llama-server,llama-cli]}
#         and $VLLMC_CACHE/llama.cpp/src -> the unpacked llama.cpp tree
#         (convert_hf_to_gguf.py, gguf-py/ live there).
set -euo pipefail

CACHE="${VLLMC_CACHE:-$HOME/.cache/vllmc}"
ROOT="$CACHE/llama.cpp"
BIN="$ROOT/bin"
JOBS="${LLAMACPP_JOBS:-2}"

if [ "${1:-}" = "--print" ]; then echo "$BIN"; exit 0; fi

TARGETS="llama-quantize llama-perplexity llama-bench llama-batched-bench llama-completion"
SERVER_FLAG=OFF
if [ "${LLAMACPP_SERVER:-0}" = 1 ]; then
  TARGETS="$TARGETS llama-server llama-cli"
  SERVER_FLAG=ON
fi

all_built=1
for t in $TARGETS; do [ -x "$BIN/$t" ] || all_built=0; done
if [ $all_built = 1 ]; then
  echo "build-llamacpp-tools: already built in $BIN"
  exit 0
fi

mkdir -p "$ROOT/dl"
# 1. the sdist (source only, no dependencies) into the cache
if ! ls "$ROOT"/dl/llama_cpp_python-*.tar.gz >/dev/null 2>&1; then
  spec="llama-cpp-python"
  [ -n "${LLAMACPP_VERSION:-}" ] && spec="llama-cpp-python==$LLAMACPP_VERSION"
  python3 -m pip download -q --no-deps --no-binary :all: "$spec" -d "$ROOT/dl"
fi
SDIST="$(ls "$ROOT"/dl/llama_cpp_python-*.tar.gz | sort -V | tail -1)"
NAME="$(basename "$SDIST" .tar.gz)"

# 2. unpack only the bundled llama.cpp tree
if [ ! -f "$ROOT/$NAME/vendor/llama.cpp/CMakeLists.txt" ]; then
  tar xzf "$SDIST" -C "$ROOT" "$NAME/vendor/llama.cpp"
fi
SRC="$ROOT/$NAME/vendor/llama.cpp"
ln -sfn "$SRC" "$ROOT/src"

# 3. configure + build just the tools we use (CPU backend, native SIMD)
BUILD="$ROOT/build-$NAME"
if [ ! -f "$BUILD/CMakeCache.txt" ] || ! grep -q "LLAMA_BUILD_SERVER:BOOL=$SERVER_FLAG" "$BUILD/CMakeCache.txt"; then
  cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release \
    -DGGML_NATIVE=ON -DBUILD_SHARED_LIBS=OFF \
    -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_COMMON=ON \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
    -DLLAMA_BUILD_SERVER=$SERVER_FLAG -DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_UI=OFF \
    -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_OPENSSL=OFF >"$ROOT/cmake-configure.log"
fi
# shellcheck disable=SC2086
nice -n 10 cmake --build "$BUILD" -j "$JOBS" --target $TARGETS

mkdir -p "$BIN"
for t in $TARGETS; do
  cp -f "$BUILD/bin/$t" "$BIN/$t"
done
echo "$NAME" >"$ROOT/VERSION"
echo "build-llamacpp-tools: built $TARGETS from $NAME into $BIN"
