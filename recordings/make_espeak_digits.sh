#!/usr/bin/env bash
# Spoken digits from voices the shipped model never heard (espeak-ng), FSDD naming:
#   recordings/espeak_digits/{digit}_{voice}_{take}.wav   (8 kHz mono 16-bit)
# Used to report generalisation to unheard voices (README). Needs: apt-get install -y espeak-ng sox
set -euo pipefail
out=${1:-recordings/espeak_digits}
mkdir -p "$out"
words=(zero one two three four five six seven eight nine)
voices=("en-us+m3" "en-us+f2" "en+m7" "en-gb+f4")
for v in "${!voices[@]}"; do
  voice=${voices[$v]}
  name=$(echo "$voice" | tr -c 'a-z0-9\n' 'x')
  for d in "${!words[@]}"; do
    for take in 0 1; do
      speed=$((130 + 25 * take)); pitch=$((40 + 20 * take))
      tmp=$(mktemp --suffix=.wav)
      espeak-ng -v "$voice" -s "$speed" -p "$pitch" -w "$tmp" "${words[$d]}"
      sox "$tmp" -r 8000 -c 1 -b 16 -e signed-integer "$out/${d}_${name}_${take}.wav" silence 1 0.01 0.5% reverse silence 1 0.01 0.5% reverse
      rm -f "$tmp"
    done
  done
done
echo "wrote $(ls "$out" | wc -l) clips to $out"
