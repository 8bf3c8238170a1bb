"""The ``spikestream`` argument parser: every command, option and argparse ``type`` (numbers within
bounds, ``--speed``). Imports nothing heavy, so ``spikestream --help`` and a mistyped option answer at
once; :mod:`.cli` parses with it, then dispatches to :mod:`.commands`.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path


def number(
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
    integer: bool = False,
):
    """An argparse ``type``: a finite number within ``[low, high]`` (open at ``low`` with ``low_open``, at
    ``high`` with ``high_open``)."""

    def parse(text: str) -> float | int:
        try:
            value = int(text) if integer else float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if integer else 'a number'}") from None
        too_low = low is not None and (value <= low if low_open else value < low)
        too_high = high is not None and (value >= high if high_open else value > high)
        if not math.isfinite(value) or too_low or too_high:
            bound = f"{'>' if low_open else '>='} {low}" if low is not None else ""
            bound += (" and " if bound and high is not None else "") + (
                f"{'<' if high_open else '<='} {high}" if high is not None else ""
            )
            raise argparse.ArgumentTypeError(f"{text!r}: expected a finite number {bound}".rstrip())
        return value

    return parse


POSITIVE_SECONDS = number(0, low_open=True)
PROBABILITY = number(0, 1, low_open=True)
MIN_SPEED, MAX_SPEED = 0.001, 1000.0


def SPEED(text: str) -> float:  # noqa: N802 (an argparse type, named like the others)
    """``--speed``: 0 (as fast as possible) or a factor of real time in [0.001, 1000]."""
    value = number(0, MAX_SPEED)(text)
    if 0 < value < MIN_SPEED:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected 0 (as fast as possible) or a factor between {MIN_SPEED} and {MAX_SPEED}"
        )
    return value


def add_output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="checkpoint name (models/checkpoints/NAME) or folder")
    parser.add_argument(
        "--sink",
        action="append",
        default=None,
        metavar="SPEC",
        help="where detections go: console (default), jsonl (stdout) or jsonl:PATH; repeatable",
    )
    parser.add_argument("--jsonl", metavar="PATH", help="shorthand for --sink jsonl:PATH ('-' = stdout)")
    parser.add_argument(
        "--threshold",
        type=PROBABILITY,
        help="decision on-threshold (probability in (0, 1]), default from the checkpoint",
    )
    parser.add_argument("--quiet", action="store_true", help="no end-of-run summary on stderr")
    parser.add_argument(
        "--anomaly-model",
        metavar="MODEL",
        help="an autoencoder run beside the classifier: detections on input it cannot reconstruct are marked 'unknown'",
    )
    parser.add_argument(
        "--false-alarm-rate",
        type=number(0, 1, low_open=True, high_open=True),  # a rate of 1 would flag everything: no threshold
        metavar="F",
        help=(
            "autoencoders: the threshold normal input exceeds this share of the time"
            " (from the checkpoint's calibration)"
        ),
    )
    parser.add_argument(
        "--scores", action="store_true", help="autoencoders: report every window's anomaly score, not only detections"
    )
    add_stats_options(parser)


def add_stats_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stats",
        action="store_true",
        help="spiking activity per layer (spike rate, silent neurons, synops vs dense MACs); live on a terminal",
    )
    parser.add_argument("--stats-json", type=Path, metavar="PATH", help="also write the --stats figures as JSON")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spikestream", description="Spiking neural networks on streaming audio and event cameras."
    )
    commands = parser.add_subparsers(dest="command")

    listen = commands.add_parser("listen", help="classify live input: microphone (default) or an event camera")
    add_output_options(listen)
    listen.add_argument("--device", help="input device index or name (see --list-devices)")
    listen.add_argument("--list-devices", action="store_true", help="list audio input devices and exit")
    listen.add_argument("--camera", metavar="URI", help="event camera: udp://HOST:PORT or usb")
    listen.add_argument("--seconds", type=POSITIVE_SECONDS, help="stop after this many seconds of input")
    listen.add_argument(
        "--device-rate",
        type=number(1000, 384_000, integer=True),
        help="capture sample rate in Hz (default: the device's)",
    )
    listen.add_argument(
        "--buffer-seconds",
        type=POSITIVE_SECONDS,
        default=10.0,
        help="bounded capture buffer; audio beyond it is dropped and counted",
    )
    listen.add_argument(
        "--idle-timeout", type=POSITIVE_SECONDS, default=5.0, help="stop when no input arrives for this long (s)"
    )

    record = commands.add_parser(
        "record",
        help="record takes of each label from the microphone, to fine-tune a model on your own voice",
    )
    record.add_argument("--out", type=Path, required=True, help="folder to write DIR/LABEL/SPEAKER_nohash_TAKE.wav")
    record.add_argument("--model", help="the model to fine-tune: its labels and sample rate (default fsdd-digits-nir)")
    record.add_argument("--labels", help="comma-separated labels to record instead of the model's")
    record.add_argument("--takes", type=number(1, 100, integer=True), default=5, help="takes of each label")
    record.add_argument("--speaker", default="me", help="your name in the file names (letters, digits, '-')")
    record.add_argument("--seconds", type=number(0.3, 10.0), default=1.5, help="length of each take (s), in [0.3, 10]")
    record.add_argument("--device", help="input device index or name (see listen --list-devices)")
    record.add_argument(
        "--device-rate",
        type=number(1000, 384_000, integer=True),
        help="capture sample rate in Hz (default: the device's)",
    )

    replay = commands.add_parser("replay", help="stream a recording (audio or events) through the pipeline")
    replay.add_argument("recording", type=Path)
    add_output_options(replay)
    replay.add_argument(
        "--speed", type=SPEED, default=1.0, help="1 = real time (default), 2 = twice as fast, 0 = as fast as possible"
    )

    send = commands.add_parser("send", help="replay an event recording as a live UDP camera")
    send.add_argument("recording", type=Path)
    send.add_argument("--udp", required=True, metavar="HOST:PORT", help="e.g. 127.0.0.1:3333 or [::1]:3333")
    send.add_argument("--speed", type=SPEED, default=1.0)
    send.add_argument(
        "--sensor",
        metavar="WxH",
        help="sensor size of a recording that stores none (.npy; AEDAT 2.0 of a chip other than DVS128, "
        "DAVIS240 or DAVIS346), e.g. 128x128",
    )

    train = commands.add_parser("train", help="train a model and write a checkpoint")
    train.add_argument("task", choices=["audio", "gesture", "events", "autoencoder"])
    train.add_argument(
        "--data",
        help="folder of labelled clips (audio), the DVSGesture root (gesture; without it synthetic gestures) or "
        "the MNIST folder (events: N-MNIST digits from simulated saccades; default ../shared/data/mnist); "
        "autoencoder: a folder of audio clips, 'mnist' or 'gestures' (synthetic DVS gestures)",
    )
    train.add_argument(
        "--train-count", type=number(1, 1_000_000, integer=True), help="events: how many MNIST images to train on"
    )
    train.add_argument(
        "--held-out-count",
        type=number(1, 1_000_000, integer=True),
        help="events: how many simulated held-out digits to score each epoch",
    )
    train.add_argument(
        "--out",
        type=Path,
        help="checkpoint folder to write (default out/checkpoints/<default name>; never the shipped model)",
    )
    train.add_argument("--epochs", type=number(1, integer=True))
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--encoder", choices=["direct", "rate", "latency", "delta"], default="direct")
    train.add_argument("--init-from", metavar="MODEL", help="continue training this checkpoint (audio)")
    train.add_argument(
        "--shared-layers-from",
        metavar="MODEL",
        help="start the conv blocks (and the front end) from another audio classifier, e.g. keywords (audio)",
    )
    train.add_argument(
        "--spec-augment",
        metavar="TM,MS,CM,W",
        help="SpecAugment-style masks on training MFCCs: TM time spans of up to MS ms and CM bands of up to "
        "W coefficients, set to the mean (audio; e.g. 2,80,2,3; default none)",
    )
    train.add_argument(
        "--freeze-shared-layers",
        action="store_true",
        help="with --shared-layers-from: keep those blocks as they are; only the later layers train",
    )
    train.add_argument(
        "--learning-rate", type=number(0, 1, low_open=True), help="peak learning rate of the one-cycle schedule"
    )
    train.add_argument(
        "--extra-data",
        action="append",
        default=[],
        metavar="DIR",
        help="more labelled clips, all used for training (audio; repeatable)",
    )
    train.add_argument(
        "--validation",
        metavar="DIR",
        help="held-back labelled clips by other speakers (audio): each epoch is scored on them and the best "
        "is saved (default: FSDD takes 0-4, else a tenth of the speakers)",
    )
    train.add_argument(
        "--keep",
        choices=["best", "last"],
        default="best",
        help="with --validation: save the epoch that scores best on it (model selection) or the last one "
        "(cross-validation, where the held-back fold is the test)",
    )
    train.add_argument(
        "--unknown",
        action="append",
        default=[],
        metavar="DIR",
        help="clips of other words, all one 'unknown' class the model reports instead of forcing a label "
        "(audio; repeatable)",
    )
    train.add_argument(
        "--noise",
        action="append",
        default=[],
        metavar="DIR",
        help="real background recordings laid under the words and used as background-only examples "
        "(audio; repeatable), e.g. ../shared/data/speech_commands/_background_noise_",
    )
    train.add_argument(
        "--background-recordings",
        action="append",
        default=[],
        metavar="DIR",
        help="non-speech field recordings (barks, engines, rain) used only as background-only examples, "
        "half of them, never under a word (audio; repeatable), e.g. ../shared/data/esc10/fold1",
    )
    train.add_argument(
        "--trim-db",
        type=number(1, 90),
        metavar="DB",
        help="cut each clip to its word: from the first to the last 20 ms frame within DB of the loudest "
        "(audio; for one-second recordings such as Speech Commands; default off)",
    )
    train.add_argument(
        "--crop-ms",
        type=number(100, 60_000),
        metavar="MS",
        help="each example is a random stretch this long of a longer clip (audio; for sound events such as "
        "five-second ESC-10 recordings; default whole clips)",
    )
    train.add_argument(
        "--mfcc",
        metavar="NAME=VALUE,...",
        help="MFCC front end fields, e.g. sample_rate_hz=16000,n_fft=512,hop_ms=20,n_mfcc=30 "
        "(audio; default 8 kHz, 256-sample FFT, 10 ms hop, 40 mels, 20 coefficients); "
        "log_mel=1,n_mfcc=40 gives the 40 log-mel energies themselves (no DCT)",
    )
    train.add_argument(
        "--batch-size", type=number(1, 4096, integer=True), help="examples per optimiser step (audio; default 64)"
    )
    train.add_argument(
        "--threads", type=number(1, 64, integer=True), help="CPU threads for training (audio; default 2)"
    )
    train.add_argument(
        "--canvas-ms",
        type=number(200, 10_000),
        metavar="MS",
        help="length of each training example: the word, its lead and at least 450 ms after it (audio; default 1300)",
    )
    train.add_argument("--channels", help="conv channels per block, e.g. 24,32,48 (audio)")
    train.add_argument(
        "--background-weight",
        type=number(0.01, 1.0),
        metavar="W",
        help="audio: loss weight of background steps (default 0.1; higher makes noise and silence cost more)",
    )
    train.add_argument(
        "--no-event-weight",
        type=number(0.01, 10.0),
        metavar="W",
        help="audio: loss weight of the steps of canvases without a word (noise, field recordings), so that "
        "negative examples count apart from the background around each word (default: --background-weight)",
    )
    train.add_argument(
        "--hardware-friendly",
        action="store_true",
        help="audio, gesture: strided convolutions instead of max-pooling, so `spikestream export --nir` is exact",
    )
    train.add_argument(
        "--speed-range",
        metavar="MIN,MAX",
        help="speed perturbation factors of the augmentation, e.g. 0.8,1.25 (audio; default 0.88,1.12)",
    )
    train.add_argument(
        "--equaliser-db",
        type=float,
        metavar="DB",
        help="random smooth equaliser per clip, gains within ±DB at 6 bands (audio; default 0 = off)",
    )
    train.add_argument(
        "--decide-fraction",
        type=float,
        metavar="F",
        help=(
            "targets carry the word's label from this fraction of the clip on;"
            " from 0.3 to F they are ignored (audio; default 0.5)"
        ),
    )
    train.add_argument(
        "--reverb-probability",
        type=float,
        metavar="P",
        help="share of clips put in a synthetic room, RT60 0.1-0.6 s (audio; default 0 = off)",
    )
    train.add_argument(
        "--band-limit-probability",
        type=float,
        metavar="P",
        help="share of canvases band-limited as if recorded at a lower rate, bandwidth 3.4-7 kHz "
        "(audio above 14 kHz sample rate: 8 kHz and telephone recordings; default 0 = off)",
    )
    train.add_argument(
        "--nonspeech-background",
        type=float,
        metavar="P",
        help="share of canvases without a word, drawn from noise at any level up to full scale, DC, tones, "
        "square waves, clipped; half the word canvases get a DC offset (audio; default 0.1, quiet noise only)",
    )
    train.add_argument(
        "--gain-range",
        metavar="MIN,MAX",
        help="gain of the word in dB against a 0.5 peak, clipped to [-1, 1]; write --gain-range=-35,20 "
        "(audio; default -20,6)",
    )
    train.add_argument(
        "--speech-mean",
        metavar="TAU,PRIOR,GATE",
        help="remove the running mean of the speech heard so far from the MFCCs, kept in the checkpoint: "
        "time constant and prior weight in frames, speech gate on the standardised c0 (audio; e.g. "
        "300,50,0; default off or as --init-from)",
    )
    train.add_argument(
        "--dc-cutoff-hz",
        type=float,
        metavar="HZ",
        help="DC blocker ahead of the MFCC with this cut-off, e.g. 30, kept in the checkpoint "
        "(audio; default off or as --init-from)",
    )

    train.add_argument(
        "--kind",
        choices=["sae", "fsvae", "esvae"],
        default="sae",
        help="autoencoder: spiking AE, Fully Spiking VAE or ESVAE",
    )
    train.add_argument(
        "--embedding", type=number(1, 4096, integer=True), help="autoencoder: latent neurons (default 64)"
    )
    train.add_argument(
        "--kernel", type=number(1, 15, integer=True), help="autoencoder: convolution kernel size (default 3)"
    )
    train.add_argument("--recurrent", action="store_true", help="autoencoder: recurrent LIF latent layer")
    train.add_argument(
        "--max-rate-hz",
        type=number(0, 100_000, low_open=True),
        help="autoencoder on images: rate code at this rate for a white pixel (default 100 Hz at 10 ms steps: p = x)",
    )
    train.add_argument(
        "--max-items", type=number(1, integer=True), help="autoencoder: train on at most this many items (quick runs)"
    )
    train.add_argument(
        "--target-delay-steps",
        type=number(0, 100, integer=True),
        help="autoencoder: score the reconstruction of step t against the input of step t - d "
        "(default 8 for audio, whose frames change faster than the network answers; 0 otherwise)",
    )
    train.add_argument(
        "--exclude-labels",
        metavar="A,B",
        help="autoencoder on gestures: leave these gesture classes out of training (to score them as unseen)",
    )

    evaluate = commands.add_parser("evaluate", help="evaluate a model through the streaming pipeline")
    evaluate.add_argument("--model", default=None)
    evaluate.add_argument(
        "--data",
        required=False,
        help=(
            "folder of labelled recordings (audio clips or event recordings, one sub-folder per label or FSDD names);"
            " gestures: DVSGesture root or 'synthetic'"
        ),
    )
    evaluate.add_argument("--split", choices=["test", "train", "all"], default="test")
    evaluate.add_argument(
        "--out", type=Path, default=Path("out/evaluation"), help="folder for metrics.json and confusion.png"
    )
    evaluate.add_argument("--normal", metavar="DIR", help="autoencoders: folder of normal recordings")
    evaluate.add_argument(
        "--anomalous", metavar="DIR", help="autoencoders: folder of anomalous recordings (AUROC, ROC, thresholds)"
    )
    padding = evaluate.add_mutually_exclusive_group()
    padding.add_argument(
        "--pad", action="store_true", help="add 0.3 s of silence before and 0.7 s after each audio clip"
    )
    padding.add_argument(
        "--no-padding", action="store_true", help="stream each audio clip bare, as replay does (the default)"
    )
    add_stats_options(evaluate)

    merge = commands.add_parser(
        "merge", help="merge trained classifiers into one checkpoint that averages their logits (an ensemble)"
    )
    merge.add_argument(
        "models",
        nargs="+",
        metavar="MODEL",
        help="checkpoint names or folders with the same architecture, labels and front end",
    )
    merge.add_argument("--out", type=Path, required=True, help="checkpoint folder to write")
    merge.add_argument("--name", help="the merged model's name (default: the folder's name)")

    sample = commands.add_parser("sample", help="draw new inputs from a spiking VAE's prior")
    sample.add_argument("--model", required=True, help="a VAE checkpoint (fsvae or esvae)")
    sample.add_argument("--out", type=Path, required=True, help="grid.png")
    sample.add_argument("--n", type=number(1, 1024, integer=True), default=64, help="how many samples (default 64)")
    sample.add_argument("--seed", type=int, default=0)

    embed = commands.add_parser("embed", help="latent spike counts of an autoencoder for every input of a folder")
    embed.add_argument("--model", required=True, help="an autoencoder checkpoint")
    embed.add_argument(
        "--data", required=True, help="folder of recordings (labels from sub-folders or FSDD names), or mnist"
    )
    embed.add_argument("--out", type=Path, required=True, help="emb.npz (embeddings, labels, paths)")
    embed.add_argument("--plot", type=Path, help="emb.png: a 2-D PCA view coloured by label")

    show = commands.add_parser("show", help="render an event recording as frames (GIF or PNG)")
    show.add_argument("recording", type=Path)
    show.add_argument("--out", type=Path, required=True, help="clip.gif (animation) or frames.png (montage)")
    show.add_argument("--bin-ms", type=number(0.1, 60_000), default=20.0, help="frame length in ms (0.1 to 60000)")
    show.add_argument(
        "--max-frames", type=number(1, 10_000, integer=True), default=100, help="frames to render (1 to 10000)"
    )
    show.add_argument(
        "--sensor",
        metavar="WxH",
        help="sensor size of a recording that stores none (.npy; AEDAT 2.0 of a chip other than DVS128, "
        "DAVIS240 or DAVIS346), e.g. 128x128",
    )

    export = commands.add_parser(
        "export", help="write a model as a NIR graph (Neuromorphic Intermediate Representation) for other simulators"
    )
    export.add_argument("model", metavar="MODEL", help="checkpoint name (models/checkpoints/NAME) or folder")
    export.add_argument(
        "--nir", type=Path, required=True, metavar="OUT.nir", help="graph file; OUT.json beside it: dt, front end"
    )

    activity = commands.add_parser(
        "show-activity", help="draw a model's spikes layer by layer for one recording (raster PNG)"
    )
    activity.add_argument("recording", type=Path)
    activity.add_argument("--model", help="checkpoint name or folder (default: the one for the recording's kind)")
    activity.add_argument("--out", type=Path, required=True, help="activity.png")
    activity.add_argument(
        "--max-seconds", type=number(0.1, 600), default=10.0, help="draw the first this many seconds (default 10)"
    )

    batch = commands.add_parser(
        "batch", help="classify every file of folders, files or globs into one table; resumable"
    )
    batch.add_argument(
        "inputs", nargs="*", metavar="INPUT", help="audio files, folders (recursive) or quoted globs, in this order"
    )
    batch.add_argument(
        "--files-from", type=Path, metavar="LIST", help="a text file with one input path per line (read lazily)"
    )
    batch.add_argument("--model", help="checkpoint name or folder (default fsdd-digits)")
    batch.add_argument(
        "--out",
        type=Path,
        required=True,
        help="results.jsonl, results.csv or results.parquet (rerun the same command to resume)",
    )
    batch.add_argument(
        "--engine", choices=["local", "ray"], default="local", help="local worker processes (default) or Ray"
    )
    batch.add_argument(
        "--workers", type=number(1, 1024, integer=True), help="worker processes (default: the core count)"
    )
    batch.add_argument("--address", help="Ray cluster to join: auto or ray://HOST:PORT (default: start a local Ray)")
    batch.add_argument(
        "--timeout-s",
        type=POSITIVE_SECONDS,
        default=60.0,
        help="a file still decoding after this long is a failed row (default 60)",
    )
    batch.add_argument(
        "--top-k", type=number(1, 100, integer=True), default=3, help="classes listed per file (default 3)"
    )
    batch.add_argument(
        "--batch-size", type=number(1, 256, integer=True), default=8, help="files per network call (default 8)"
    )
    batch.add_argument(
        "--pad",
        action="store_true",
        help="0.3 s of silence before and 0.7 s after each clip, as evaluate does (default: the bare file, as replay)",
    )
    batch.add_argument("--overwrite", action="store_true", help="start over: discard an existing --out and its journal")
    batch.add_argument(
        "--progress-s",
        type=POSITIVE_SECONDS,
        default=10.0,
        help="seconds between progress lines when stderr is not a terminal",
    )
    batch.add_argument("--quiet", action="store_true", help="no progress or summary on stderr")
    return parser
