"""The ``spikestream`` command line.

``spikestream`` with no arguments runs the main job: classify spoken digits from the default
microphone, or — when there is none — replay the shipped recording through the same pipeline,
paced in real time. See ``spikestream --help`` and ``spikestream COMMAND --help``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..models.checkpoint import CheckpointError, load_checkpoint

DEFAULT_AUDIO_MODEL = "fsdd-digits"
DEFAULT_GESTURE_MODEL = "dvs-gestures"
REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_RECORDING = REPO_ROOT / "recordings" / "digits_sequence.wav"
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


class UsageError(Exception):
    """A problem with what the user asked for; printed without a traceback, exit code 2."""


def add_output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="checkpoint name (models/checkpoints/NAME) or folder")
    parser.add_argument(
        "--sink", action="append", default=None, metavar="SPEC",
        help="where detections go: console (default), jsonl (stdout) or jsonl:PATH; repeatable",
    )
    parser.add_argument("--jsonl", metavar="PATH", help="shorthand for --sink jsonl:PATH ('-' = stdout)")
    parser.add_argument("--threshold", type=float, help="decision on-threshold (probability), default from the checkpoint")
    parser.add_argument("--quiet", action="store_true", help="no end-of-run summary on stderr")


def sink_specs(args: argparse.Namespace) -> list[str]:
    specs = list(args.sink) if args.sink else []
    if args.jsonl:
        specs.append("jsonl" if args.jsonl == "-" else f"jsonl:{args.jsonl}")
    return specs or ["console"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="spikestream", description="Spiking neural networks on streaming audio and event cameras.")
    commands = parser.add_subparsers(dest="command")

    listen = commands.add_parser("listen", help="classify live input: microphone (default) or an event camera")
    add_output_options(listen)
    listen.add_argument("--device", help="input device index or name (see --list-devices)")
    listen.add_argument("--list-devices", action="store_true", help="list audio input devices and exit")
    listen.add_argument("--camera", metavar="URI", help="event camera: udp://HOST:PORT, aestream+udp://HOST:PORT or usb")
    listen.add_argument("--seconds", type=float, help="stop after this many seconds of input")
    listen.add_argument("--device-rate", type=int, help="capture sample rate in Hz (default: the device's)")
    listen.add_argument("--buffer-seconds", type=float, default=10.0, help="bounded capture buffer; audio beyond it is dropped and counted")
    listen.add_argument("--idle-timeout", type=float, default=5.0, help="stop when no input arrives for this long (s)")

    replay = commands.add_parser("replay", help="stream a recording (audio or events) through the pipeline")
    replay.add_argument("recording", type=Path)
    add_output_options(replay)
    replay.add_argument("--speed", type=float, default=1.0, help="1 = real time (default), 2 = twice as fast, 0 = as fast as possible")

    send = commands.add_parser("send", help="replay an event recording as a live UDP camera")
    send.add_argument("recording", type=Path)
    send.add_argument("--udp", required=True, metavar="HOST:PORT")
    send.add_argument("--speed", type=float, default=1.0)

    train = commands.add_parser("train", help="train a model and write a checkpoint")
    train.add_argument("task", choices=["audio", "gesture"])
    train.add_argument("--data", help="folder of labelled clips (audio) or the DVSGesture root; gesture without --data uses synthetic gestures")
    train.add_argument("--out", type=Path, help="checkpoint folder to write (default models/checkpoints/<default name>)")
    train.add_argument("--epochs", type=int)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--encoder", choices=["direct", "rate", "latency", "delta"], default="direct")
    train.add_argument("--init-from", metavar="MODEL", help="continue training this checkpoint (audio)")
    train.add_argument("--learning-rate", type=float, help="peak learning rate of the one-cycle schedule")
    train.add_argument("--extra-data", action="append", default=[], metavar="DIR", help="more labelled clips, all used for training (audio; repeatable)")
    train.add_argument("--channels", help="conv channels per block, e.g. 24,32,48 (audio)")
    train.add_argument("--speed-range", metavar="MIN,MAX", help="speed perturbation factors of the augmentation, e.g. 0.8,1.25 (audio; default 0.88,1.12)")
    train.add_argument("--equaliser-db", type=float, metavar="DB", help="random smooth equaliser per clip, gains within ±DB at 6 bands (audio; default 0 = off)")
    train.add_argument("--decide-fraction", type=float, metavar="F", help="targets carry the word's label from this fraction of the clip on; from 0.3 to F they are ignored (audio; default 0.5)")
    train.add_argument("--reverb-probability", type=float, metavar="P", help="share of clips put in a synthetic room, RT60 0.1-0.6 s (audio; default 0 = off)")

    evaluate = commands.add_parser("evaluate", help="evaluate a model through the streaming pipeline")
    evaluate.add_argument("--model", default=None)
    evaluate.add_argument("--data", required=False, help="folder of labelled clips (audio) or DVSGesture root / 'synthetic'")
    evaluate.add_argument("--split", choices=["test", "train", "all"], default="test")
    evaluate.add_argument("--out", type=Path, default=Path("out/evaluation"), help="folder for metrics.json and confusion.png")

    merge = commands.add_parser("merge", help="merge trained classifiers into one checkpoint that averages their logits (an ensemble)")
    merge.add_argument("models", nargs="+", metavar="MODEL", help="checkpoint names or folders with the same architecture, labels and front end")
    merge.add_argument("--out", type=Path, required=True, help="checkpoint folder to write")
    merge.add_argument("--name", help="the merged model's name (default: the folder's name)")

    show = commands.add_parser("show", help="render an event recording as frames (GIF or PNG)")
    show.add_argument("recording", type=Path)
    show.add_argument("--out", type=Path, required=True, help="clip.gif (animation) or frames.png (montage)")
    show.add_argument("--bin-ms", type=float, default=20.0)
    show.add_argument("--max-frames", type=int, default=100)
    return parser


def load_model(name: str | None, default: str):
    try:
        return load_checkpoint(name or default)
    except CheckpointError as error:
        raise UsageError(str(error)) from error


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from . import commands  # heavy imports (torch, librosa) only after argument parsing

    try:
        if args.command is None:
            return commands.main_job()
        handler = getattr(commands, f"command_{args.command}")
        return handler(args)
    except UsageError as error:
        print(f"spikestream: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("spikestream: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":  # `python -m spikestream.pipeline.cli`: run the package's module, so that
    from spikestream.pipeline.cli import main as package_main  # its UsageError is the one commands raise

    sys.exit(package_main())
