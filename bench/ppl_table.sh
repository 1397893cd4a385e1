#!/usr/bin/env bash
# Perplexity of vllm.c's in-situ quantization next to llama.cpp's own
# quantizer + perplexity tool, on the same BF16 weights and the same text;
# and our exported GGUFs run in llama.cpp. Writes the table into
# docs/quantization.md (between the ppl-table markers).
#
#   bench/ppl_table.sh                      all types, 16 chunks of 512 tokens (~1 h on 2 busy cores)
#   CHUNKS=40 TYPES="q8_0 q4k" bench/ppl_table.sh
#   CTX=1024 CHUNKS=196 bench/ppl_table.sh  the whole text: 100,156 tokens scored per run (~3 h)
#
# Environment: CHUNKS (default 16), CTX (512) for the main table; XCHUNKS, XCTX
# (default 16, 512) for the export table; THREADS (2), TYPES (all),
# EXPORT_TYPES (types whose exported GGUF is also run in llama.cpp; default
# all but bf16), VLLMC (./vllmc), VLLMC_CACHE (~/.cache/vllmc),
# LLAMA_PPL_ARGS (extra llama-perplexity arguments; default "-nr": no weight
# repacking; with it, llama.cpp 0.3.36's repacked CPU path segfaults on the
# Q4_K_M file on an AVX-512/AMX machine; repacking changes the layout, not the model),
# SIDES (default "ours llamacpp": "ours" alone runs only vllm.c, without
# building llama.cpp, e.g. while it builds; the table is written either way
# from what the cache holds).
# Results are cached per run in $VLLMC_CACHE/ppl/results/, so a rerun resumes.
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE="${VLLMC_CACHE:-$HOME/.cache/vllmc}"
CHUNKS="${CHUNKS:-16}"
CTX="${CTX:-512}"
XCHUNKS="${XCHUNKS:-16}"
XCTX="${XCTX:-512}"
THREADS="${THREADS:-2}"
LLAMA_PPL_ARGS="${LLAMA_PPL_ARGS--nr}"
TYPES="${TYPES:-bf16 q8_0 q6k q5k q4k q4_0 q3k q2k}"
EXPORT_TYPES="${EXPORT_TYPES:-q8_0 q6k q5k q4k q4_0 q3k q2k}"
VLLMC="${VLLMC:-./vllmc}"
SIDES="${SIDES:-ours llamacpp}"
side() { case " $SIDES " in *" $1 "*) return 0;; esac; return 1; }
D="$CACHE/ppl"
R="$D/results"
mkdir -p "$R"

BIN="$(bash scripts/build-llamacpp-tools.sh --print)"
side llamacpp && bash scripts/build-llamacpp-tools.sh >/dev/null
TEXT="$(bash scripts/fetch-ppl-text.sh)"
ST=models/smollm2-bf16
[ -f "$ST/model.safetensors" ] || python3 scripts/gguf_to_safetensors.py models/SmolLM2-135M-Instruct.Q4_1.gguf "$ST"
[ -x "$VLLMC" ] || make -j2 >/dev/null
LSRC="$CACHE/llama.cpp/src"
BF16_GGUF="$D/smollm2-bf16.gguf"
if side llamacpp && [ ! -s "$BF16_GGUF" ]; then
  PYTHONPATH="$LSRC/gguf-py" python3 "$LSRC/convert_hf_to_gguf.py" "$ST" --outtype bf16 --outfile "$BF16_GGUF" >/dev/null 2>&1
fi

# our type name -> llama-quantize's mix name
mix() { case "$1" in bf16) echo BF16;; q2k) echo Q2_K;; q3k) echo Q3_K_M;; q4k) echo Q4_K_M;;
        q5k) echo Q5_K_M;; q6k) echo Q6_K;; q4_0) echo Q4_0;; q8_0) echo Q8_0;; esac; }
ppl_of() { grep -o "Final estimate: PPL = [0-9.]*" "$1" | awk '{print $NF}'; }
run() {  # run OUT cmd...: runs unless OUT already holds a final estimate
  local out="$1"; shift
  if [ -s "$out" ] && grep -q "Final estimate" "$out"; then return 0; fi
  echo "+ $*" >&2
  echo "# $*" >"$out.cmd"
  nice -n 10 "$@" >"$out.tmp" 2>&1 && mv "$out.tmp" "$out" || { echo "failed: see $out.tmp" >&2; return 1; }
}

tag="c$CTX-n$CHUNKS"
xtag="c$XCTX-n$XCHUNKS"
for t in $TYPES; do
  m="$(mix "$t")"
  g="$D/smollm2-$m.gguf"
  [ "$t" = bf16 ] && g="$BF16_GGUF"
  if side llamacpp; then
    [ -s "$g" ] || nice -n 10 "$BIN/llama-quantize" "$BF16_GGUF" "$g" "$m" "$THREADS" >"$D/quantize-$m.log" 2>&1
    run "$R/llamacpp-$t-$tag.txt" "$BIN/llama-perplexity" -m "$g" -f "$TEXT" -c "$CTX" --chunks "$CHUNKS" -t "$THREADS" $LLAMA_PPL_ARGS || true
  fi
  q=(); [ "$t" != bf16 ] && q=(--quant "$t")
  side ours && { run "$R/ours-$t-$tag.txt" "$VLLMC" --w "$ST" "${q[@]}" --perplexity "$TEXT" --ctx "$CTX" --chunks "$CHUNKS" --threads "$THREADS" || true; }
done
for t in $EXPORT_TYPES; do
  e="$D/ours-smollm2-$t.gguf"
  [ -s "$e" ] || nice -n 10 "$VLLMC" --w "$ST" --quant "$t" --quant-out "$e" --threads "$THREADS" 2>/dev/null
  side llamacpp && { run "$R/export-llamacpp-$t-$xtag.txt" "$BIN/llama-perplexity" -m "$e" -f "$TEXT" -c "$XCTX" --chunks "$XCHUNKS" -t "$THREADS" $LLAMA_PPL_ARGS || true; }
  side ours && { run "$R/export-ours-$t-$xtag.txt" "$VLLMC" --w "$e" --perplexity "$TEXT" --ctx "$XCTX" --chunks "$XCHUNKS" --threads "$THREADS" || true; }
  # and with llama.cpp's numerics (8-bit activations in every matmul)
  side ours && { run "$R/export-ours-act8-$t-$xtag.txt" "$VLLMC" --w "$e" --act8 --perplexity "$TEXT" --ctx "$XCTX" --chunks "$XCHUNKS" --threads "$THREADS" || true; }
done

# the table
pct() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "") print "-"; else printf "%+.2f%%", (a / b - 1) * 100 }'; }
val() { [ -s "$1" ] && ppl_of "$1" || true; }
pm() { [ -s "$1" ] && grep -o "Final estimate: PPL = [0-9.]* +/- [0-9.]*" "$1" | awk '{print $5 " ± " $7}' || echo -; }
ours_s() { [ -s "$1" ] && grep -o "tokens scored, [0-9.]* s" "$1" | awk '{print $3}' || echo -; }
# llama.cpp's log lines start with a M.SS.mmm.uuu timestamp: the scoring time is
# from "calculating perplexity" to "Final estimate" (ours prints the same span)
llama_s() { [ -s "$1" ] && awk '/calculating perplexity|Final estimate/ { split($1, t, "."); s = t[1] * 60 + t[2] + t[3] / 1000
            if (/calculating/) a = s; else b = s } END { if (b) printf "%.1f", b - a; else print "-" }' "$1" || echo -; }
qspeed() { [ -s "$1" ] && grep -o "in [0-9.]* s: .*MB/s" "$1" | awk '{print $2 " s, " $(NF-1) " MB/s"}' || echo -; }
{
  echo "<!-- ppl-table:begin (written by bench/ppl_table.sh) -->"
  echo "SmolLM2-135M-Instruct, BF16 safetensors from \`scripts/gguf_to_safetensors.py\`;"
  echo "text: \`scripts/fetch-ppl-text.sh\` (KJV Genesis-Deuteronomy, $(wc -c <"$TEXT") bytes);"
  echo "\`--ctx $CTX\`, first $CHUNKS chunks ($((CHUNKS * CTX)) tokens evaluated, $((CHUNKS * (CTX - CTX / 2 - 1))) scored); llama.cpp $(cat "$CACHE/llama.cpp/VERSION" 2>/dev/null || echo '(not built)')."
  echo
  echo "| --quant | llama-quantize mix | vllm.c PPL | llama.cpp PPL | ours vs llama.cpp | vllm.c run (s) | llama.cpp run (s) | vllm.c --quant |"
  echo "|---|---|---|---|---|---|---|---|"
  for t in $TYPES; do
    a="$(val "$R/ours-$t-$tag.txt")"; b="$(val "$R/llamacpp-$t-$tag.txt")"
    echo "| $t | $(mix "$t") | $(pm "$R/ours-$t-$tag.txt") | $(pm "$R/llamacpp-$t-$tag.txt") | $(pct "$a" "$b") | $(ours_s "$R/ours-$t-$tag.txt") | $(llama_s "$R/llamacpp-$t-$tag.txt") | $(qspeed "$R/ours-$t-$tag.txt") |"
  done
  echo
  echo "PPL ± its standard error (the same text on both sides, so the difference"
  echo "between the two columns is far better determined than either). Run times:"
  echo "whole perplexity run, $THREADS threads, on a shared machine ($(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p' | head -1))"
  echo "with other jobs running: indicative only. \`vllm.c --quant\`: the in-situ"
  echo "quantization of the 269 MB BF16 model at load (MB/s of input), from the same run."
  echo
  bin="${BIN/#$HOME/\~}"; text="${TEXT/#$HOME/\~}"
  echo "Commands, for each type T (llama-quantize mix M):"
  echo
  echo "    $bin/llama-quantize smollm2-bf16.gguf smollm2-M.gguf M $THREADS"
  echo "    $bin/llama-perplexity -m smollm2-M.gguf -f $text -c $CTX --chunks $CHUNKS -t $THREADS $LLAMA_PPL_ARGS"
  echo "    ./vllmc --w $ST --quant T --perplexity $text --ctx $CTX --chunks $CHUNKS --threads $THREADS"
  echo "    ./vllmc --w $ST --quant T --quant-out ours-smollm2-T.gguf     # the export, then both tools on it"
  echo
  echo "(\`smollm2-bf16.gguf\`: \`convert_hf_to_gguf.py $ST --outtype bf16\` of llama.cpp; the bf16"
  echo "row runs without \`--quant\` / llama-quantize.)"
  echo
  echo "Our exported GGUF (\`--quant T --quant-out F.gguf\`), perplexity in llama.cpp vs in vllm.c"
  echo "(\`--ctx $XCTX\`, first $XCHUNKS chunks: $((XCHUNKS * (XCTX - XCTX / 2 - 1))) tokens scored; llama.cpp's own quantization at the same length):"
  echo
  echo "| --quant | vllm.c on its export | llama.cpp on our export | difference | vllm.c \`--act8\` on its export | difference | llama.cpp on its own quantization | our blocks vs llama-quantize's, both run by llama.cpp |"
  echo "|---|---|---|---|---|---|---|---|"
  for t in $EXPORT_TYPES; do
    a="$(val "$R/export-ours-$t-$xtag.txt")"; b="$(val "$R/export-llamacpp-$t-$xtag.txt")"; c="$(val "$R/llamacpp-$t-$xtag.txt")"
    a8="$(val "$R/export-ours-act8-$t-$xtag.txt")"
    echo "| $t | ${a:--} | ${b:--} | $(pct "$a" "$b") | ${a8:--} | $(pct "$a8" "$b") | ${c:--} | $(pct "$b" "$c") |"
  done
  echo
  echo "\`--act8\`: 8-bit activations in every matmul, rounded as llama.cpp rounds them (f16 scales per"
  echo "32 values, Q8_K per 256 for K-quants); by default vllm.c keeps value + residual pairs for the down"
  echo "projection and for Q8_0/Q5_0/Q5_1 (docs/forward.md)."
  echo
  echo "    ./vllmc --w ours-smollm2-T.gguf [--act8] --perplexity $text --ctx $XCTX --chunks $XCHUNKS --threads $THREADS"
  echo "<!-- ppl-table:end -->"
} >"$R/table-$tag.md"
cat "$R/table-$tag.md"
if [ -f docs/quantization.md ] && grep -q "ppl-table:begin" docs/quantization.md; then
  python3 - "$R/table-$tag.md" <<'EOF'
import re, sys
table = open(sys.argv[1]).read().rstrip("\n")
doc = open("docs/quantization.md").read()
doc = re.sub(r"<!-- ppl-table:begin.*?<!-- ppl-table:end -->", lambda _: table, doc, flags=re.S)
open("docs/quantization.md", "w").write(doc)
EOF
fi
