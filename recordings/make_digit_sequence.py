"""Assemble recordings/digits_sequence.wav from Free Spoken Digit Dataset clips.

The clips come from ../shared/data/fsdd (FSDD, CC BY-SA 4.0, github.com/Jakobovski/free-spoken-digit-dataset),
test takes 0–4 only (never used for training), so the demo replays speech the shipped model has not heard.
A sidecar JSON lists each digit with its start/end time in µs. Run from the repository root:

    .venv/bin/python recordings/make_digit_sequence.py [--fsdd ../shared/data/fsdd] [--out recordings]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import soundfile

# (digit, speaker, take): a digit sequence over all five speakers' held-out takes
SEQUENCE = [
    (3, "george", 0),
    (1, "jackson", 1),
    (4, "lucas", 2),
    (1, "nicolas", 3),
    (5, "yweweler", 4),
    (9, "george", 2),
    (2, "jackson", 3),
    (6, "lucas", 0),
    (0, "nicolas", 1),
    (7, "yweweler", 2),
    (8, "jackson", 4),
]
SAMPLE_RATE_HZ = 8000
GAP_S = 0.7


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fsdd", type=Path, default=Path("../shared/data/fsdd"))
    parser.add_argument("--out", type=Path, default=Path("recordings"))
    args = parser.parse_args()
    pieces, spans = [np.zeros(int(0.5 * SAMPLE_RATE_HZ), np.float32)], []
    position = pieces[0].size
    for digit, speaker, take in SEQUENCE:
        samples, rate = soundfile.read(args.fsdd / f"{digit}_{speaker}_{take}.wav", dtype="float32")
        assert rate == SAMPLE_RATE_HZ, rate
        spans.append(
            {
                "label": str(digit),
                "speaker": speaker,
                "take": take,
                "start_us": position * 1_000_000 // rate,
                "end_us": (position + samples.size) * 1_000_000 // rate,
            }
        )
        gap = np.zeros(int(GAP_S * rate), np.float32)
        pieces += [samples, gap]
        position += samples.size + gap.size
    args.out.mkdir(parents=True, exist_ok=True)
    soundfile.write(args.out / "digits_sequence.wav", np.concatenate(pieces), SAMPLE_RATE_HZ, subtype="PCM_16")
    (args.out / "digits_sequence.json").write_text(
        json.dumps(
            {"sample_rate_hz": SAMPLE_RATE_HZ, "source": "FSDD test takes, CC BY-SA 4.0", "utterances": spans}, indent=1
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
