"""The streaming model step: front end → network (persistent state) → decision, for one stream.

:class:`StreamingModel` drives any network that follows the ``forward(x_seq, state) -> (y_seq,
state)`` contract: it is called on the few steps each chunk yields with its state passed back, so no
window is ever recomputed. :func:`make_streaming_model` builds one from a checkpoint: the front end
it was trained with (through ``sources``), the network (through ``models``) and the decision kind
it names (through :mod:`.decisions`).
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any, Protocol

import numpy as np
import torch

from ..models.autoencoder import delayed_target, settled_state
from ..models.checkpoint import CheckpointError, LoadedModel
from ..models.registry import MODEL_KINDS
from ..sources.audio.front_end import AudioFrontEnd, AudioFrontEndConfig
from ..sources.audio.resampling import StreamResampler
from ..sources.chunk import Chunk
from ..sources.events.front_end.framing import EventFrontEndConfig
from ..sources.events.front_end.streaming import EventFrontEnd
from ..sources.step_targets import UNKNOWN_LABEL
from .decisions import DecisionConfig, SegmentDecision, StreamDecision, make_decision
from .decisions.anomaly import threshold_at
from .detection import Detection
from .relative_error import RecentRelativeError, RunningMeanBaseline, step_squared_errors


class FrontEnd(Protocol):
    """What the runtime needs of a front end (audio or events); steps are ``[T, 1, ...]`` tensors."""

    step_us: int

    def push(self, payload: Any) -> torch.Tensor: ...

    def advance_to(self, t_us: int) -> torch.Tensor: ...

    def skip_to(self, t_us: int) -> tuple[torch.Tensor, int]: ...

    def flush(self) -> torch.Tensor: ...


def build_front_end(front_end_config: dict, framed: bool = True) -> FrontEnd:
    """The streaming front end a checkpoint was trained with (audio MFCC or event framing); an audio
    stream that is not ``framed`` (live input, autoencoders) gets no silence before and after it."""
    kind = front_end_config.get("kind")
    if kind == "audio":
        config = AudioFrontEndConfig.from_dict(front_end_config)
        if not framed:
            config = replace(config, lead_silence_ms=0.0, tail_silence_ms=0.0)
        return AudioFrontEnd(config)
    if kind == "events":
        return EventFrontEnd(EventFrontEndConfig.from_dict(front_end_config))
    raise ValueError(f"checkpoint front end kind {kind!r} is unknown; expected 'audio' or 'events'")


def decision_config(loaded: LoadedModel, overrides: dict | None = None) -> DecisionConfig:
    """The checkpoint's default decision settings, with overrides (``None`` values ignored) applied;
    settings that do not make a decision (a checkpoint edited by hand) raise :class:`CheckpointError`
    (the options that override them are checked when they are parsed)."""
    values = dict(loaded.config.get("decision", {}))
    values.update({key: value for key, value in (overrides or {}).items() if value is not None})
    try:
        return DecisionConfig(**values)
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"{loaded.path}: its decision settings are not usable ({error})") from error


def reconstruction_error(reconstruction: torch.Tensor, steps: torch.Tensor) -> torch.Tensor:
    """Per-step anomaly score of an autoencoder: mean squared error over each step's features,
    ``[T, B, ...] × [T, B, ...] → [T, B]`` (``steps``: the target, the input delayed by the model's
    ``target_delay_steps``, :func:`~spikestream.models.autoencoder.delayed_target`)."""
    return (reconstruction - steps).pow(2).flatten(2).mean(dim=2)


def within_recording(detections: list[Detection], end_us: int) -> list[Detection]:
    """Detections that the tail of silence after a recording brought out, placed at its end."""
    return [replace(d, time_us=end_us) if d.time_us > end_us else d for d in detections]


class StreamingModel:
    """Front end + network + persistent state + decision for one stream; holds no signal processing.

    A classifier's decision reads its logits ``[T, K]``; an autoencoder's reads the per-step
    reconstruction error of its input (:func:`reconstruction_error`). ``process(chunk)`` returns
    the detections its steps fired; ``finish()`` flushes the front end and closes the decision at
    the end of the stream (a word still open is reported)."""

    def __init__(self, loaded: LoadedModel, front_end: FrontEnd, decision: StreamDecision, source_name: str) -> None:
        self.network = loaded.model.eval() if loaded.model.training else loaded.model  # eval() walks every module
        self.reconstructs = MODEL_KINDS[loaded.model_kind].outputs == "reconstruction"
        # autoencoders: running sums for the stream's reconstruction error (MSE, nRMSE = RMSE / σ_X)
        self.squared_error_sum = self.value_sum = self.value_squared_sum = self.baseline_error_sum = 0.0
        self.baseline = RunningMeanBaseline()  # the relative error's denominator (pipeline/relative_error.py)
        self.recent = RecentRelativeError()  # ... and its value over the last steps (a paired detection's word)
        self.value_count = 0
        self.target_history: torch.Tensor | None = None  # the last target_delay_steps input steps
        self.labels = loaded.labels
        self.front_end = front_end
        self.decision = decision
        self.source_name = source_name
        self.state: Any = None
        self.steps = 0
        self.gaps = 0
        self.end_us = 0  # the end of the last chunk: where the recording (or live input) stops

    @property
    def gated_segments(self) -> int:
        """Segments the decision's level gate closed without a detection (0 for other decision kinds)."""
        return self.decision.gated_segments if isinstance(self.decision, SegmentDecision) else 0

    def _run_steps(self, steps: torch.Tensor, available_ns: int) -> list[Detection]:
        if steps.shape[0] == 0:
            return []
        if self.reconstructs and self.state is None:  # a stream's start (or after a gap)
            self.state = settled_state(self.network, steps)
        with torch.no_grad():
            outputs, self.state = self.network(steps, self.state)
        self.steps += steps.shape[0]
        if self.reconstructs:
            delay = self.network.config.target_delay_steps
            target, self.target_history = delayed_target(steps, delay, self.target_history)
            readout = reconstruction_error(outputs, target)[:, 0]
            errors = step_squared_errors(outputs, target)  # [T]
            baseline_errors = self.baseline.squared_errors(steps, target)
            self.recent.push(errors, baseline_errors)
            self.squared_error_sum += float(errors.sum())
            self.baseline_error_sum += float(baseline_errors.sum())
            self.value_sum += float(target.sum())
            self.value_squared_sum += float(target.pow(2).sum())
            self.value_count += target.numel()
        else:
            readout = outputs[:, 0]
        pixel_rates_hz = getattr(self.front_end, "take_pixel_rates", lambda: None)()
        if pixel_rates_hz is not None:  # an event autoencoder with a hot-pixel rule (decisions/anomaly.py)
            return self._detections(self.decision.update(readout, None, pixel_rates_hz), available_ns)
        return self._detections(self.decision.update(readout, self.take_levels()), available_ns)

    def take_levels(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The front end's ``(level_db [T], floor_db [T])`` of the steps it returned since the last call, or
        ``None`` when it computes none."""
        take = getattr(self.front_end, "take_levels", None)
        return None if take is None else take()

    def _detections(self, decisions: list, available_ns: int) -> list[Detection]:
        """Decisions as detections at recording times (the front end's lead of silence taken off)."""
        latency_ms = (time.monotonic_ns() - available_ns) / 1e6 if available_ns else 0.0
        lead_us = getattr(self.front_end, "lead_us", 0)
        return [
            Detection(
                max(0, d.time_us - lead_us),
                self.labels[d.class_index],
                d.score,
                self.source_name,
                latency_ms,
                d.threshold,
            )
            for d in decisions
        ]

    def process(self, chunk: Chunk) -> list[Detection]:
        """The chunk's payload through the front end and the network; its time span is complete, so
        bins ending by ``chunk.end_us`` are closed even when no input came (live cameras)."""
        self.end_us = max(self.end_us, chunk.end_us)
        if chunk.gap:
            return self._skip_gap(chunk)
        steps = self.front_end.push(chunk.payload)
        closed = self.front_end.advance_to(chunk.end_us)
        if closed.shape[0]:
            steps = torch.cat([steps, closed]) if steps.shape[0] else closed
        return self._run_steps(steps, chunk.available_ns)

    def _skip_gap(self, chunk: Chunk) -> list[Detection]:
        """A long stretch without input: close what is open, then move the clock over the gap without
        computing its empty steps; the network starts again from rest (its state is reset)."""
        closed = self.front_end.advance_to(chunk.start_us)
        last_bin, skipped_steps = self.front_end.skip_to(chunk.end_us)
        detections = self._run_steps(torch.cat([closed, last_bin]), chunk.available_ns)
        detections += self._detections(self.decision.close(), chunk.available_ns)
        self.decision.reset_after_gap(skipped_steps)
        self.state = self.target_history = None
        self.baseline.reset()
        self.recent.reset()
        self.gaps += 1
        return detections

    def reconstruction_metrics(self) -> dict[str, float]:
        """The stream's reconstruction error so far: ``mse``, ``nrmse`` = RMSE(X, X̂) / σ_X and
        ``relative_error`` (against a running mean of the input, :mod:`spikestream.pipeline.relative_error`)."""
        count = max(self.value_count, 1)
        mse = self.squared_error_sum / count
        variance = max(self.value_squared_sum / count - (self.value_sum / count) ** 2, 1e-12)
        relative = self.squared_error_sum / max(self.baseline_error_sum, 1e-12)
        return {"mse": mse, "nrmse": (mse / variance) ** 0.5, "relative_error": relative}

    def finish(self) -> list[Detection]:
        """Flush the front end (a recording's tail of silence) and close the decision; a detection the
        tail brings out is placed at the recording's last step, not in the silence after it."""
        now_ns = time.monotonic_ns()
        detections = self._run_steps(self.front_end.flush(), now_ns)
        return within_recording(detections + self._detections(self.decision.close(), now_ns), self.end_us)


def make_streaming_model(
    loaded: LoadedModel, source_name: str, decision_overrides: dict | None = None, live: bool = False
) -> StreamingModel:
    """A checkpoint's front end, network and decision (with overrides) as one streaming model.

    A recording's audio is framed with silence (:mod:`spikestream.sources.audio.front_end`) for a
    classifier; live input is not (the room is heard before anyone speaks, and a start from digital
    silence would make the room's noise an onset), nor is an autoencoder's (its scores would cover
    silence that is not in the recording)."""
    reconstructs = MODEL_KINDS[loaded.model_kind].outputs == "reconstruction"
    front_end = build_front_end(loaded.config["front_end"], framed=not (live or reconstructs))
    config = decision_config(loaded, decision_overrides)
    for setting in ("min_rise_db", "end_fall_db"):  # both read the input level
        if getattr(config, setting) is not None and getattr(front_end, "level_rise", None) is None:
            raise CheckpointError(
                f"model {loaded.name!r}: its decision reads the input level ({setting}={getattr(config, setting)}) "
                f"but its front end computes no level track (front_end.level_rise); add one or drop {setting}"
            )
    if config.hot_pixel_rate_hz is not None:
        if not isinstance(front_end, EventFrontEnd) or len(loaded.labels) < 3:
            raise CheckpointError(
                f"model {loaded.name!r}: its decision has a hot-pixel rule (hot_pixel_rate_hz) but it is not an "
                f"event autoencoder labelled ['score', 'anomaly', 'hot-pixels'] (front end {loaded.front_end_kind}, "
                f"labels {loaded.labels}); drop hot_pixel_rate_hz"
            )
        front_end.track_pixel_rates(config.hot_pixel_window_steps)
    return StreamingModel(loaded, front_end, make_decision(config, len(loaded.labels), front_end.step_us), source_name)


class PairedStreamingModel:
    """A classifier and an autoencoder on the same input: each classifier detection whose stretch of
    input the autoencoder could not reconstruct is reported as ``"unknown"`` (a word it was never
    trained on, a sound that is not speech). With ``relative_threshold`` (autoencoders calibrated
    with relative scores): when the relative error of the last
    :data:`~spikestream.pipeline.relative_error.RELATIVE_WINDOW_STEPS` steps (the word just decided)
    reaches it; otherwise when the windowed error reached the decision's threshold since the previous
    detection (with ``speech-ae`` beside ``keywords`` that rule cost 14 points of words against 4 for
    the relative one). Same ``process`` / ``finish`` face as :class:`StreamingModel`."""

    UNKNOWN = UNKNOWN_LABEL

    def __init__(
        self,
        classifier: StreamingModel,
        autoencoder: StreamingModel,
        relative_threshold: float | None = None,
        resampler: StreamResampler | None = None,
    ) -> None:
        self.classifier, self.autoencoder = classifier, autoencoder
        self.relative_threshold = relative_threshold
        self.resampler = resampler  # the classifier's audio to the autoencoder's rate, when they differ
        self.source_name = classifier.source_name
        self._peak_score = 0.0  # the autoencoder's largest window score since the last detection

    @property
    def steps(self) -> int:
        return self.classifier.steps

    @property
    def gaps(self) -> int:
        return self.classifier.gaps

    @property
    def gated_segments(self) -> int:
        return self.classifier.gated_segments

    def _relabel(self, detections: list[Detection], scores: list[Detection]) -> list[Detection]:
        threshold = float(self.autoencoder.decision.config.score_threshold)
        window_scores = [score.score for score in scores if score.label in ("score", "anomaly")]  # not hot-pixels' Hz
        self._peak_score = max([self._peak_score] + window_scores)
        relabelled, relative = [], self.autoencoder.recent.value()
        for detection in detections:
            if self.relative_threshold is None:
                unknown = self._peak_score >= threshold
            else:
                unknown = relative >= self.relative_threshold
            relabelled.append(replace(detection, label=self.UNKNOWN) if unknown else detection)
            self._peak_score = 0.0
        return relabelled

    def process(self, chunk: Chunk) -> list[Detection]:
        at_autoencoder_rate = chunk
        if self.resampler is not None and not chunk.gap:
            at_autoencoder_rate = replace(chunk, payload=self.resampler.push(chunk.payload))
        scores = self.autoencoder.process(at_autoencoder_rate)
        return self._relabel(self.classifier.process(chunk), scores)

    def finish(self) -> list[Detection]:
        scores = []
        if self.resampler is not None:  # what the resampling filter still holds: the stream's last samples
            end_us = self.classifier.end_us
            scores = self.autoencoder.process(Chunk(self.resampler.flush(), end_us, end_us))
        scores += self.autoencoder.finish()
        return self._relabel(self.classifier.finish(), scores)


def make_paired_model(
    classifier: LoadedModel,
    autoencoder: LoadedModel,
    source_name: str,
    overrides: dict | None = None,
    live: bool = False,
    false_alarm_rate: float | None = None,
) -> PairedStreamingModel:
    """A classifier with an autoencoder beside it; their front ends must take the same kind of input
    (audio, events); audio at another rate is resampled for the autoencoder as it streams. The
    relative-error threshold is the calibration's at ``false_alarm_rate`` (default: the checkpoint's)."""
    if classifier.front_end_kind != autoencoder.front_end_kind:
        raise ValueError(
            f"--anomaly-model {autoencoder.name!r} takes other input ({autoencoder.front_end_kind}) than "
            f"model {classifier.name!r} ({classifier.front_end_kind}); pair models with the same front end"
        )
    resampler = None
    if classifier.front_end_kind == "audio":
        rates_hz = [model.config["front_end"]["mfcc"]["sample_rate_hz"] for model in (classifier, autoencoder)]
        resampler = StreamResampler(*rates_hz) if rates_hz[0] != rates_hz[1] else None
    scores_override = {"emit_scores": True, **{k: v for k, v in (overrides or {}).items() if k == "score_threshold"}}
    classifier_overrides = {k: v for k, v in (overrides or {}).items() if k == "on_threshold"}
    calibration = autoencoder.config.get("calibration", {})
    relative_threshold = None
    if calibration.get("relative_scores"):  # checkpoints calibrated before it have none
        rate = calibration["false_alarm_rate"] if false_alarm_rate is None else false_alarm_rate
        relative_threshold = threshold_at(calibration, rate, key="relative_scores")
    return PairedStreamingModel(
        make_streaming_model(classifier, source_name, classifier_overrides, live),
        make_streaming_model(autoencoder, source_name, scores_override, live),
        relative_threshold,
        resampler,
    )
