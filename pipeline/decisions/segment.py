"""Segment decision (spoken words): one detection per event, decided on its whole evidence.

A segment opens when the non-background mass of the window mean reaches ``on_threshold``; every
step's class probabilities are kept while it lasts; when the background returns
(``off_threshold``), ``max_active_ms`` passes or the stream ends (:meth:`SegmentDecision.close`),
one detection is emitted with the class of largest summed evidence and, as score, that class's
mean probability (emitted if ≥ ``min_score``). Slower than a threshold (it waits for the word to
end) but it does not commit to the first syllables: "six" and "seven" start alike.

The evidence is summed over the part of the segment between ``evidence_start_fraction`` and
``evidence_end_fraction`` of its steps. A segment runs from the first syllables until the
background has come back in the window mean; its last part is the readout decaying after the word,
which training leaves unconstrained (see :mod:`spikestream.sources.step_targets`: targets are
ignored from ``hold_ms`` to ``release_ms`` after the word), so audio checkpoints drop it. A segment
still open when the stream ends has no such tail, so all of it is evidence.

**Early commit** (``commit_score``): waiting for the background to come back costs the time the
readout takes to fall after the word (about 400 ms). With ``commit_score`` set, once a segment is
``commit_min_ms`` old and one class holds at least ``commit_score`` of both the segment's mean
probability and the current window's, the detection is emitted at once; the rest of that segment
is spent (no second detection) until the background returns. Segments that never become that
decisive are decided as before, when they close.

**End of the word** (``end_fall_db``, with the level track): a word is over when the input falls
back, long before the readout does. With ``end_fall_db`` set, once the input's speech-band level has
stayed at least ``end_fall_db`` below the open segment's peak for ``end_hold_ms`` (the closure of a
stop such as the "p" of "up" is shorter), the segment is decided at once and the rest of it is
spent, as after an early commit. Its evidence is the segment's steps so far from
``end_evidence_start_fraction`` on: the second half of the word and the steps after it, where the
readout has heard the whole word (training holds the word's label for ``hold_ms`` after it,
:mod:`spikestream.sources.step_targets`); the first syllables are left out, because the network has
not heard enough of the word yet (``bench/bench_word_end.py`` compares the settings: 20 dB / 200 ms
for ``keywords``, 30 dB / 150 ms for ``fsdd-digits``, whose "six" ends in an "s" mostly above the
level band at 8 kHz). A word that never rose ``end_fall_db`` above the room (loud noise), or a level
that stays unknown (NaN: digital silence, clipping), ends as before, when the background returns.

**Level gate** (``min_rise_db``): a word rises above the room it is spoken in, and the room is heard
again after it; noise, hum, tones and DC levels do not rise above themselves. With ``min_rise_db``
set, a segment is reported only if the peak speech-band level of its steps (and of the window before
it opened: the network answers after the sound) is at least that far above the input's noise floor
when it is decided — the quietest clean level of the last seconds, which by then holds the quiet
after the word (the audio front end's level track, :mod:`spikestream.sources.audio.level_rise`). A
segment that fails is closed without a detection (counted in :attr:`SegmentDecision.gated_segments`).
"""

from __future__ import annotations

import numpy as np

from .window import Decision, DecisionConfig, StreamDecision


class SegmentDecision(StreamDecision):
    """Keeps an open segment's step probabilities and decides when it closes.

    ``gated_segments`` counts the segments the level gate closed without a detection over the whole
    run: :meth:`reset` (which a gap in the input calls, :meth:`reset_after_gap`) keeps it."""

    def __init__(self, config: DecisionConfig, n_classes: int, step_us: int) -> None:
        self.gated_segments = 0  # segments closed by the level gate (min_rise_db), over the run
        super().__init__(config, n_classes, step_us)

    def reset(self) -> None:
        super().reset()
        self._segment: list[np.ndarray] = []  # per-step probabilities of the open segment
        self._spent = False  # the open segment was already decided early (commit_score)
        self._segment_peak_db = np.nan  # the peak input level (dB) of the open segment and the window before it
        self._fallen_steps = 0  # steps in a row the input has stayed end_fall_db below that peak

    def _step(self, step_probabilities: np.ndarray, mean: np.ndarray, now_us: int) -> Decision | None:
        if self._active_since_us is None:
            if self._in_refractory_time(now_us) or 1.0 - mean[0] < self.config.on_threshold:
                return None
            self._active_since_us = now_us
            self._segment, self._fallen_steps = [], 0
            self._segment_peak_db = float(np.fmax.reduce(self._level_window))
        self._segment.append(step_probabilities)
        self._segment_peak_db = float(np.fmax(self._segment_peak_db, self._level_window[self._cursor - 1]))
        timed_out = now_us - self._active_since_us >= self.config.max_active_ms * 1000
        if mean[0] < self.config.off_threshold and not timed_out:
            if self._spent:
                return None
            return self._decide_at_word_end(now_us) if self._word_ended() else self._commit_early(mean, now_us)
        if self._spent:  # decided early: the segment ends without a second detection
            self._active_since_us, self._segment, self._spent = None, [], False
            return None
        steps = len(self._segment)
        last = max(1, steps - int((1.0 - self.config.evidence_end_fraction) * steps + 1e-9))
        return self._decide(last, now_us)

    def _commit_early(self, mean: np.ndarray, now_us: int) -> Decision | None:
        """The detection of the open segment as soon as it is decisive (``commit_score``), else ``None``."""
        commit = self.config.commit_score
        if commit is None or now_us - self._active_since_us < self.config.commit_min_ms * 1000:
            return None
        segment_mean = np.mean(self._segment, axis=0)
        best = int(np.argmax(segment_mean[1:])) + 1
        if segment_mean[best] < commit or mean[best] < commit or not self._rose():
            return None
        self._spent, self._last_fired_us = True, now_us
        return Decision(best, float(segment_mean[best]), now_us)

    def _word_ended(self) -> bool:
        """Whether the input has stayed ``end_fall_db`` below the segment's peak for ``end_hold_ms``
        (counted step by step; never without ``end_fall_db`` or where the level is unknown)."""
        if self.config.end_fall_db is None:
            return False
        level_db = self._level_window[self._cursor - 1]  # this step's
        peak_db = self._segment_peak_db  # no level track: every level +inf, never a fall
        fallen = bool(np.isfinite(level_db) and np.isfinite(peak_db) and level_db <= peak_db - self.config.end_fall_db)
        self._fallen_steps = self._fallen_steps + 1 if fallen else 0
        return fallen and self._fallen_steps * self.step_us >= self.config.end_hold_ms * 1000

    def _decide_at_word_end(self, now_us: int) -> Decision | None:
        """Decide the open segment now on its steps from ``end_evidence_start_fraction`` on; the rest
        of it is spent (no second detection)."""
        opened_us = self._active_since_us
        decision = self._decide(len(self._segment), now_us, self.config.end_evidence_start_fraction)
        self._active_since_us, self._spent = opened_us, True
        return decision

    def _decide(self, evidence_end_step: int, now_us: int, start_fraction: float | None = None) -> Decision | None:
        """Close the open segment, deciding on its steps ``[start fraction, evidence_end_step)``
        (``start_fraction``: ``evidence_start_fraction`` unless given)."""
        self._active_since_us = None
        start = self.config.evidence_start_fraction if start_fraction is None else start_fraction
        first = int(start * len(self._segment))
        evidence_steps = np.asarray(self._segment[first : max(first + 1, evidence_end_step)])
        self._segment = []
        best = int(np.argmax(self.segment_evidence(evidence_steps)[1:])) + 1
        score = float(evidence_steps[:, best].mean())
        if score < self.config.min_score:
            return None
        if not self._rose():
            self.gated_segments += 1
            return None
        self._last_fired_us = now_us
        return Decision(best, score, now_us)

    def _rose(self) -> bool:
        """Whether the open segment passes the level gate (always, without ``min_rise_db``)."""
        if self.config.min_rise_db is None:
            return True
        rise_db = self._segment_peak_db - self._floor_db  # NaN (no clean level or no floor yet): no rise
        return bool(rise_db >= self.config.min_rise_db)

    def close(self) -> list[Decision]:
        """The stream ended inside a segment (a word at the very end of a file): decide on all of it."""
        if self._active_since_us is None or not self._segment or self._spent:
            return []
        decision = self._decide(len(self._segment), self.now_us)
        return [decision] if decision is not None else []

    def segment_evidence(self, probabilities: np.ndarray) -> np.ndarray:
        """Evidence per class ``[K]`` from a segment's kept step probabilities ``[steps, K]``: their sum.

        The detection takes the non-background class of most evidence (``bench/bench_decision_pooling.py``
        compares other poolings by overriding this method)."""
        return probabilities.sum(axis=0)
