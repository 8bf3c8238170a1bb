"""``spikestream train audio`` options → :class:`AudioTrainingSettings`, each bad value a ``UsageError``
that names the option and what was expected."""

from __future__ import annotations

import argparse
from dataclasses import asdict, replace

from ...sources.audio.feature_masks import FeatureMaskConfig
from ...sources.audio.mfcc import MfccConfig
from ...sources.audio.speech_mean import SpeechMeanConfig
from ..errors import UsageError
from .audio import AudioTrainingSettings


def comma_separated(option: str, text: str, convert, count: int, expected: str) -> tuple:
    """``"a,b,c"`` → ``count`` values of ``convert``; otherwise a :class:`UsageError` naming the option."""
    try:
        values = tuple(convert(value) for value in text.split(","))
    except ValueError:
        values = ()
    if len(values) != count:
        raise UsageError(f"{option} {text!r}: expected {expected}")
    return values


def read_flag(text: str) -> bool:
    """``1/true/yes`` → True, ``0/false/no`` → False (case-insensitive); anything else a ``ValueError``."""
    flags = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}
    if text.lower() not in flags:
        raise ValueError(text)
    return flags[text.lower()]


def mfcc_settings(text: str) -> MfccConfig:
    """``--mfcc sample_rate_hz=16000,n_fft=512,hop_ms=20,n_mfcc=30``: fields of the MFCC front end
    (the others keep their defaults; ``log_mel=1,n_mels=40,n_mfcc=40``: log-mel energies, no DCT)."""
    fields = {name: type(value) for name, value in asdict(MfccConfig()).items() if name != "fmax_hz"}
    values = {}
    for item in text.split(","):
        name, _, value = (part.strip() for part in item.partition("="))
        if name not in fields:
            raise UsageError(f"--mfcc {text!r}: {name!r} is not one of {', '.join(fields)} (NAME=VALUE,...)")
        convert, kind = (read_flag, "bool (1 or 0)") if fields[name] is bool else (fields[name], fields[name].__name__)
        try:
            values[name] = convert(value)
        except ValueError:
            raise UsageError(f"--mfcc {text!r}: {item!r} needs a {kind} value") from None
    try:
        return MfccConfig(**values)
    except ValueError as error:
        raise UsageError(f"--mfcc {text!r}: {error}") from None


def speech_mean_settings(text: str) -> SpeechMeanConfig:
    """``--speech-mean TAU_FRAMES,PRIOR_FRAMES,GATE_Z`` (e.g. ``300,50,0``) → the front end's running
    speech-mean normalisation."""
    expected = "TAU_FRAMES,PRIOR_FRAMES,GATE_Z such as 300,50,0 (frames, frames, standard deviations)"
    tau, prior, gate = comma_separated("--speech-mean", text, float, 3, expected)
    try:
        return SpeechMeanConfig(time_constant_frames=tau, prior_frames=prior, gate_z=gate)
    except ValueError as error:
        raise UsageError(f"--speech-mean {text!r}: {error}") from None


def audio_training_settings(args: argparse.Namespace) -> AudioTrainingSettings:
    """The settings ``args`` (parsed ``train audio`` options) ask for."""
    if not args.data:
        raise UsageError("train audio needs --data DIR (a folder of labelled clips, e.g. ../shared/data/fsdd)")
    settings = AudioTrainingSettings(seed=args.seed, encoder=args.encoder)
    if args.epochs:
        settings.epochs = args.epochs
    if args.learning_rate:
        settings.learning_rate = args.learning_rate
    settings.init_from = args.init_from
    settings.shared_layers_from = args.shared_layers_from
    settings.freeze_shared_layers = args.freeze_shared_layers
    settings.extra_data = tuple(args.extra_data)
    settings.validation_data = args.validation
    settings.keep = args.keep
    settings.unknown_data = tuple(args.unknown)
    settings.noise_data = tuple(args.noise)
    settings.field_data = tuple(args.background_recordings)
    settings.trim_db = args.trim_db
    settings.crop_ms = args.crop_ms
    if args.hardware_friendly:
        settings.downsample = "stride"
    if args.background_weight is not None:
        settings.background_weight = args.background_weight
    settings.no_event_weight = args.no_event_weight
    if args.batch_size:
        settings.batch_size = args.batch_size
    if args.threads:
        settings.threads = args.threads
    if args.canvas_ms is not None:
        settings.canvas = replace(settings.canvas, canvas_ms=args.canvas_ms)
    if args.speed_range:
        low, high = comma_separated("--speed-range", args.speed_range, float, 2, "two numbers MIN,MAX such as 0.8,1.25")
        if not 0.0 < low <= high <= 4.0:
            raise UsageError(f"--speed-range {args.speed_range!r}: expected 0 < MIN <= MAX <= 4")
        settings.canvas = replace(settings.canvas, speed_range=(low, high))
    if args.equaliser_db is not None:
        if not 0.0 <= args.equaliser_db <= 24.0:
            raise UsageError(f"--equaliser-db {args.equaliser_db}: expected a gain bound in dB between 0 and 24")
        settings.canvas = replace(settings.canvas, equaliser_max_db=args.equaliser_db)
    if args.reverb_probability is not None:
        if not 0.0 <= args.reverb_probability <= 1.0:
            raise UsageError(f"--reverb-probability {args.reverb_probability}: expected a probability between 0 and 1")
        settings.canvas = replace(settings.canvas, reverb_probability=args.reverb_probability)
    if args.band_limit_probability is not None:
        if not 0.0 <= args.band_limit_probability <= 1.0:
            raise UsageError(
                f"--band-limit-probability {args.band_limit_probability}: expected a probability in [0, 1]"
            )
        settings.canvas = replace(settings.canvas, band_limit_probability=args.band_limit_probability)
    if args.nonspeech_background is not None:
        if not 0.0 <= args.nonspeech_background < 1.0:
            raise UsageError(f"--nonspeech-background {args.nonspeech_background}: expected a share in [0, 1)")
        share = args.nonspeech_background
        settings.canvas = replace(settings.canvas, background_only_probability=share, nonspeech_background=True)
    if args.gain_range:
        low, high = comma_separated("--gain-range", args.gain_range, float, 2, "two gains in dB MIN,MAX such as -35,20")
        if not -80.0 <= low <= high <= 40.0:
            raise UsageError(f"--gain-range {args.gain_range!r}: expected -80 <= MIN <= MAX <= 40 dB")
        settings.canvas = replace(settings.canvas, gain_db_range=(low, high))
    if args.dc_cutoff_hz is not None:
        if not 1.0 <= args.dc_cutoff_hz <= 200.0:
            raise UsageError(f"--dc-cutoff-hz {args.dc_cutoff_hz}: expected a cut-off between 1 and 200 Hz, e.g. 30")
        settings.dc_cutoff_hz = args.dc_cutoff_hz
    if args.decide_fraction is not None:
        timing = settings.canvas.timing
        if not 0.0 <= args.decide_fraction <= 1.0:
            raise UsageError(f"--decide-fraction {args.decide_fraction}: expected a fraction of the clip in [0, 1]")
        early = min(timing.early_fraction, args.decide_fraction)  # below 0.3: no ignored stretch before it
        timing = replace(timing, early_fraction=early, decide_fraction=args.decide_fraction)
        settings.canvas = replace(settings.canvas, timing=timing)
    if args.mfcc:
        settings.mfcc = mfcc_settings(args.mfcc)
    if args.speech_mean is not None:
        settings.speech_mean = speech_mean_settings(args.speech_mean)
    if args.spec_augment is not None:  # an empty value is refused below, not read as "no masks"
        expected = "TIME_MASKS,TIME_MASK_MS,COEFFICIENT_MASKS,COEFFICIENT_WIDTH such as 2,80,2,3"
        time_masks, time_ms, coefficient_masks, width = comma_separated(
            "--spec-augment", args.spec_augment, float, 4, expected
        )
        counts = (time_masks, coefficient_masks, width)
        if any(value < 0 or value != int(value) for value in counts) or not 0 <= time_ms <= 2000:
            raise UsageError(f"--spec-augment {args.spec_augment!r}: expected {expected} (whole counts, 0-2000 ms)")
        settings.feature_masks = FeatureMaskConfig(int(time_masks), time_ms, int(coefficient_masks), int(width))
    if args.mfcc and args.init_from:
        raise UsageError("--mfcc: the front end comes from --init-from (a fine-tune keeps it); drop one of the two")
    if args.channels and args.shared_layers_from:
        raise UsageError("--channels: the conv blocks come from --shared-layers-from; drop one of the two")
    if args.channels:
        expected = f"{len(settings.kernel_t)} integers, one per conv block, such as 24,32,48"
        settings.channels = comma_separated("--channels", args.channels, int, len(settings.kernel_t), expected)
        if not all(0 < channels <= 1024 for channels in settings.channels):
            raise UsageError(f"--channels {args.channels!r}: expected {expected}, each in 1..1024")
    return settings
