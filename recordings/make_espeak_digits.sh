#!/usr/bin/env bash
# Spoken digits from synthetic espeak-ng voices, FSDD naming (8 kHz mono 16-bit):
#   OUT/{digit}_{voice}_{take}.wav
#
#   make_espeak_digits.sh [OUT] [heldout|train]
#
# heldout (default, OUT=recordings/espeak_digits): 4 voices x 10 digits x 2 takes = 80 clips, shipped;
#   used only to report generalisation to voices the model never heard (README).
# train: 36 other voices (no variant of the held-out set: m3, f2, m7, f4 are excluded) x 10 digits
#   x 2 takes = 720 clips, extra training speakers for `spikestream train audio --extra-data OUT`
#   (not shipped: regenerate with this script, about 1 minute).
# Needs: apt-get install -y espeak-ng sox
set -euo pipefail
out=${1:-recordings/espeak_digits}
set_name=${2:-heldout}
mkdir -p "$out"
words=(zero one two three four five six seven eight nine)
case "$set_name" in
  heldout) voices=("en-us+m3" "en-us+f2" "en+m7" "en-gb+f4") ;;
  train)
    voices=()
    for accent in en-us en en-gb-scotland en-gb-x-rp en-029 en-us-nyc; do
      for variant in m1 m2 m4 f1 f3 Andy; do voices+=("$accent+$variant"); done
    done ;;
  *) echo "unknown voice set '$set_name': expected heldout or train" >&2; exit 2 ;;
esac
for v in "${!voices[@]}"; do
  voice=${voices[$v]}
  name=$(echo "$voice" | tr -c 'a-z0-9\n' 'x')
  for d in "${!words[@]}"; do
    for take in 0 1; do
      if [ "$set_name" = heldout ]; then
        speed=$((130 + 25 * take)); pitch=$((40 + 20 * take))
      else  # vary rate and pitch per voice too, deterministically
        speed=$((115 + (v * 7 + take * 31) % 60)); pitch=$((25 + (v * 13 + take * 29) % 50))
      fi
      tmp=$(mktemp --suffix=.wav)
      espeak-ng -v "$voice" -s "$speed" -p "$pitch" -w "$tmp" "${words[$d]}"
      sox "$tmp" -r 8000 -c 1 -b 16 -e signed-integer "$out/${d}_${name}_${take}.wav" silence 1 0.01 0.5% reverse silence 1 0.01 0.5% reverse
      rm -f "$tmp"
    done
  done
done
echo "wrote $(ls "$out" | wc -l) clips to $out"
