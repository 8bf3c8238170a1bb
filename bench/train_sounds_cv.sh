#!/bin/bash
# The four cross-validation members behind bench/bench_sounds.py (and the shipped `sounds`, member 4):
# each trains on three of ESC-10 folds 1-4 and is scored on the fourth (--keep last: the held-back
# fold selects nothing). About 9 minutes a member on one core (the shipped recipe's 40 epochs; 100,
# the experiment in bench/results/sounds_100_epochs.json, take 14). Run from the repository root.
# FOLDS="4 3" trains only those members; EPOCHS, OUT (the members' folder prefix) and MFCC (the front
# end, e.g. MFCC=sample_rate_hz=16000,n_fft=512,hop_ms=20,n_mels=40,n_mfcc=40,log_mel=1) may be set.
set -euo pipefail
E=../shared/data/esc10
EPOCHS=${EPOCHS:-40}
MFCC=${MFCC:-sample_rate_hz=16000,n_fft=512,hop_ms=20,n_mfcc=30}
OUT=${OUT:-out/candidates/sounds-cv}
for k in ${FOLDS:-4 3 2 1}; do
  others=(); for j in 1 2 3 4; do [ "$j" != "$k" ] && others+=("$j"); done
  .venv/bin/spikestream train audio --data "$E/fold${others[0]}" --extra-data "$E/fold${others[1]}" \
    --extra-data "$E/fold${others[2]}" --validation "$E/fold$k" --keep last \
    --mfcc "$MFCC" --trim-db 40 --canvas-ms 2800 --crop-ms 2200 \
    --decide-fraction 0.15 --epochs "$EPOCHS" --batch-size 16 --threads 1 --seed "$k" --out "$OUT$k"
done
