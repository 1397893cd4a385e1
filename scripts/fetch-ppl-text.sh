#!/usr/bin/env bash
# Fetches the perplexity text: the King James Version of the Bible (1611, public
# domain), from Debian's bible-kjv-text package (its data file) read with the
# bible-kjv package's `bible` program. Both are unpacked into the cache with
# `apt-get download` + `dpkg -x`: nothing is installed system-wide, nothing is
# committed. The output is plain prose: book and chapter headings kept, verse
# numbers dropped, lines joined per verse.
#
#   scripts/fetch-ppl-text.sh          -> prints the path of the text file
#
# The text is Genesis through Deuteronomy (the five books of Moses): about
# 920 KB, ~230k tokens with the SmolLM2 tokenizer; use the first part of it for
# shorter runs (vllmc --perplexity and llama-perplexity both take --chunks).
set -euo pipefail

CACHE="${VLLMC_CACHE:-$HOME/.cache/vllmc}"
DIR="$CACHE/ppl"
OUT="$DIR/kjv-pentateuch.txt"
if [ -s "$OUT" ]; then echo "$OUT"; exit 0; fi

mkdir -p "$DIR/deb" "$DIR/root"
cd "$DIR/deb"
if ! ls bible-kjv-text_*.deb >/dev/null 2>&1 || ! ls bible-kjv_*.deb >/dev/null 2>&1; then
  apt-get download bible-kjv-text bible-kjv >/dev/null 2>&1 || {
    echo "fetch-ppl-text: 'apt-get download bible-kjv-text bible-kjv' failed (run 'apt-get update' first?)" >&2
    exit 1
  }
fi
for d in bible-kjv-text_*.deb bible-kjv_*.deb; do dpkg -x "$d" "$DIR/root"; done

BIBLE="$DIR/root/usr/bin/bible"
DATA="$DIR/root/usr/lib"
# `bible` formats each verse as "  N text" with continuation lines; join each
# verse onto one line and drop its number; keep "Genesis 1" chapter headings.
"$BIBLE" -p "$DATA" -l 100000 "gen1:1-deu34:12" </dev/null |
  sed -E 's/^ +[0-9]+ //' | sed -E '/^$/d' >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo "$OUT"
