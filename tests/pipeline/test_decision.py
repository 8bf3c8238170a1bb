"""Decision: one detection per event, thresholds, hysteresis, refractory time, background."""

from __future__ import annotations

import numpy as np
import pytest

from spikestream.pipeline.decisions import DecisionConfig, make_decision


def logits_for(classes: list[int], n_classes: int = 4, confidence: float = 8.0) -> np.ndarray:
    """One step per entry: a strong logit for that class."""
    logits = np.zeros((len(classes), n_classes), dtype=np.float32)
    logits[np.arange(len(classes)), classes] = confidence
    return logits


def test_one_word_gives_one_detection_at_the_right_time():
    decision = make_decision(DecisionConfig(window_steps=4, on_threshold=0.6), n_classes=4, step_us=10_000)
    fired = decision.update(logits_for([0] * 10 + [2] * 30 + [0] * 20))
    assert len(fired) == 1
    assert fired[0].class_index == 2
    assert fired[0].time_us == (10 + 3) * 10_000  # window mean reaches 0.75 > 0.6 after 3 of 4 steps
    assert fired[0].score > 0.6


def test_background_and_silence_fire_nothing():
    decision = make_decision(DecisionConfig(), n_classes=4, step_us=10_000)
    assert decision.update(logits_for([0] * 500)) == []
    uncertain = np.zeros((200, 4), dtype=np.float32)  # uniform 0.25 each: below every threshold
    assert decision.update(uncertain) == []


def test_hysteresis_needs_background_before_the_same_class_fires_again():
    config = DecisionConfig(window_steps=4, on_threshold=0.6, off_threshold=0.6, refractory_ms=0)
    decision = make_decision(config, n_classes=4, step_us=10_000)
    # a long word with a dip that never reaches the background: one detection
    uncertain = np.zeros((10, 4), dtype=np.float32)
    steps = np.concatenate([logits_for([1] * 20), uncertain, logits_for([1] * 20)])
    assert len(decision.update(steps)) == 1
    fired = decision.update(logits_for([0] * 10 + [1] * 20))
    assert [f.class_index for f in fired] == [1]


def test_without_class_switch_a_change_of_class_is_still_one_event():
    config = DecisionConfig(window_steps=4, on_threshold=0.6, off_threshold=0.6, refractory_ms=0)
    decision = make_decision(config, n_classes=4, step_us=10_000)
    assert [f.class_index for f in decision.update(logits_for([1] * 20 + [3] * 40))] == [1]


def test_a_different_class_back_to_back_fires_after_the_refractory_time():
    config = DecisionConfig(
        window_steps=4, on_threshold=0.6, off_threshold=0.6, refractory_ms=300, allow_class_switch=True
    )
    decision = make_decision(config, n_classes=4, step_us=10_000)
    # class 3 takes over for 100 ms, all within the refractory time after class 1 fired: no second detection
    assert [f.class_index for f in decision.update(logits_for([1] * 20 + [3] * 10))] == [1]
    decision.reset()
    # class 3 holds on past the refractory time: it is a second event
    fired = decision.update(logits_for([1] * 20 + [3] * 40))
    assert [f.class_index for f in fired] == [1, 3]
    assert fired[1].time_us == (3 + 30) * 10_000  # first step at or after 300 ms of refractory


def test_refractory_time_suppresses_a_quick_repeat():
    config = DecisionConfig(window_steps=2, on_threshold=0.6, off_threshold=0.6, refractory_ms=300)
    decision = make_decision(config, n_classes=4, step_us=10_000)
    steps = [1] * 5 + [0] * 5 + [1] * 5 + [0] * 40 + [1] * 5
    fired = decision.update(logits_for(steps))
    assert [f.time_us for f in fired] == [20_000, (55 + 2) * 10_000]


def test_chunking_does_not_change_decisions():
    rng = np.random.default_rng(0)
    steps = rng.choice([0, 0, 0, 1, 2, 3], size=400).tolist()
    logits = logits_for(steps, confidence=3.0) + rng.normal(0, 1, (400, 4)).astype(np.float32)
    whole = make_decision(DecisionConfig(), 4, 10_000).update(logits)
    chunked_decision = make_decision(DecisionConfig(), 4, 10_000)
    chunked = [d for i in range(0, 400, 7) for d in chunked_decision.update(logits[i : i + 7])]
    assert whole == chunked and len(whole) > 0


@pytest.mark.parametrize("field, value", [("window_steps", 0), ("on_threshold", 1.5), ("off_threshold", 0.0)])
def test_bad_settings_are_named(field, value):
    with pytest.raises(ValueError, match=field):
        DecisionConfig(**{field: value})


def test_segment_mode_decides_on_the_whole_word_once_it_ends():
    config = DecisionConfig(mode="segment", window_steps=4, on_threshold=0.5, off_threshold=0.6, min_score=0.15)
    decision = make_decision(config, n_classes=4, step_us=10_000)
    # the word starts looking like class 2 but most of it is class 3: one detection, class 3, at its end
    steps = [0] * 10 + [2] * 8 + [3] * 20 + [0] * 20
    fired = decision.update(logits_for(steps))
    assert [f.class_index for f in fired] == [3]
    assert 38 * 10_000 < fired[0].time_us <= 42 * 10_000  # when the background window mean is back
    assert 0.4 < fired[0].score < 0.8  # class 3's mean probability over the segment


def test_segment_evidence_can_leave_out_the_decaying_tail():
    # the word is class 2 while it lasts; as the readout decays after it, class 1 lingers until the
    # background returns: whole-segment evidence picks the tail's class, the trimmed evidence does not
    steps = [0] * 10 + [2] * 12 + [1] * 16 + [0] * 20
    whole = DecisionConfig(mode="segment", window_steps=4, on_threshold=0.5, off_threshold=0.6, min_score=0.15)
    trimmed = DecisionConfig(**{**whole.__dict__, "evidence_end_fraction": 0.5})
    assert [f.class_index for f in make_decision(whole, n_classes=4, step_us=10_000).update(logits_for(steps))] == [1]
    fired = make_decision(trimmed, n_classes=4, step_us=10_000).update(logits_for(steps))
    assert [f.class_index for f in fired] == [2]
    assert 0.6 < fired[0].score < 0.8  # the first half of the segment: about 11 steps of class 2, 4 of class 1


@pytest.mark.parametrize("start, end", [(0.5, 0.5), (-0.1, 1.0), (0.0, 1.2)])
def test_evidence_fractions_out_of_order_are_rejected(start, end):
    with pytest.raises(ValueError, match="evidence fractions"):
        DecisionConfig(evidence_start_fraction=start, evidence_end_fraction=end)


def test_segment_mode_ignores_silence_and_weak_blips():
    config = DecisionConfig(mode="segment", window_steps=4, on_threshold=0.5, off_threshold=0.6, min_score=0.15)
    decision = make_decision(config, n_classes=4, step_us=10_000)
    assert decision.update(logits_for([0] * 300)) == []
    assert decision.update(logits_for([0] * 10 + [1] + [0] * 10)) == []  # one step never opens a segment


def test_segment_commits_early_when_the_evidence_is_decisive_and_only_once():
    config = DecisionConfig(
        mode="segment", window_steps=4, on_threshold=0.5, off_threshold=0.6, min_score=0.15, commit_score=0.8,
        commit_min_ms=100.0,
    )  # fmt: skip
    decision = make_decision(config, n_classes=4, step_us=10_000)
    fired = decision.update(logits_for([0] * 10 + [2] * 30 + [0] * 20))
    assert [f.class_index for f in fired] == [2]  # one detection, not a second when the word ends
    assert fired[0].time_us < 30 * 10_000  # long before the background returns (step ~44)
    # an ambiguous word (classes 2 then 3) never becomes decisive: decided when it ends, as without commit
    ambiguous = decision.update(logits_for([2, 3] * 10 + [0] * 20))
    assert [f.class_index for f in ambiguous] == [2] or [f.class_index for f in ambiguous] == [3]
    assert ambiguous[0].time_us > 80 * 10_000


def test_a_committed_word_at_the_end_of_a_stream_is_not_reported_twice():
    config = DecisionConfig(mode="segment", window_steps=4, on_threshold=0.5, commit_score=0.8, commit_min_ms=50.0)
    decision = make_decision(config, n_classes=4, step_us=10_000)
    assert len(decision.update(logits_for([0] * 5 + [1] * 20))) == 1
    assert decision.close() == []


def segment_gate(min_rise_db: float | None):
    config = DecisionConfig(window_steps=4, mode="segment", on_threshold=0.6, min_rise_db=min_rise_db)
    return make_decision(config, n_classes=4, step_us=10_000)


def levels(level_db: np.ndarray, floor_db: float = -40.0) -> tuple[np.ndarray, np.ndarray]:
    return level_db, np.full(level_db.shape, floor_db)


def test_level_gate_drops_a_segment_whose_input_never_rose_and_counts_it():
    word = logits_for([0] * 10 + [2] * 30 + [0] * 20)
    flat = np.full(word.shape[0], -37.0)  # a steady sound: 3 dB above its own floor
    decision = segment_gate(8.0)
    assert decision.update(word, levels(flat)) == []
    assert decision.gated_segments == 1
    rising = flat.copy()
    rising[12:20] = -15.0  # the same readout over a word 25 dB above the room
    assert [d.class_index for d in segment_gate(8.0).update(word, levels(rising))] == [2]
    # the rise may come in the window just before the segment opens (the network answers later)
    early = flat.copy()
    early[10] = -15.0  # the segment opens at step 12
    assert [d.class_index for d in segment_gate(8.0).update(word, levels(early))] == [2]
    assert [d.class_index for d in segment_gate(None).update(word, levels(flat))] == [2]  # no gate: as before


def test_level_gate_reads_the_floor_when_the_segment_is_decided():
    """A bare word at the start of a recording: the floor is its own first frame until the quiet after it."""
    word = logits_for([0] * 2 + [2] * 30 + [0] * 20)
    level_db = np.concatenate([np.full(22, -20.0), np.full(30, -45.0)])
    floor_db = np.minimum.accumulate(level_db)  # the quietest level so far
    assert [d.class_index for d in segment_gate(8.0).update(word, (level_db, floor_db))] == [2]
    unknown = np.full(word.shape[0], np.nan)  # no clean frame at all (digital silence): no rise
    assert segment_gate(8.0).update(word, (unknown, unknown)) == []


def test_level_gate_also_holds_a_word_open_at_the_end_of_the_stream():
    decision = segment_gate(8.0)
    assert decision.update(logits_for([0] * 10 + [2] * 30), levels(np.full(40, -40.0))) == []
    assert decision.close() == []


def test_level_gate_settings_are_checked():
    with pytest.raises(ValueError, match="min_rise_db"):
        DecisionConfig(mode="threshold", min_rise_db=6.0)
    with pytest.raises(ValueError, match="min_rise_db"):
        DecisionConfig(mode="segment", min_rise_db=-1.0)
    with pytest.raises(ValueError, match="levels and"):
        segment_gate(6.0).update(logits_for([0] * 5), levels(np.zeros(4)))


def word_end_decision(end_fall_db: float | None = 20.0):
    config = DecisionConfig(
        window_steps=4, mode="segment", on_threshold=0.5, off_threshold=0.6, min_score=0.15,
        end_fall_db=end_fall_db, end_hold_ms=50.0,
    )  # fmt: skip
    return make_decision(config, n_classes=4, step_us=10_000)


def test_segment_is_decided_when_the_input_falls_after_the_word_not_when_the_readout_does():
    # the readout holds the word 30 steps after the input fell (as a trained network's does): steps 10-50
    word = logits_for([0] * 10 + [2] * 40 + [0] * 20)
    level_db = np.concatenate([np.full(10, -45.0), np.full(10, -15.0), np.full(50, -45.0)])  # word: steps 10-20
    fired = word_end_decision().update(word, levels(level_db))
    assert [f.class_index for f in fired] == [2]  # one detection: the rest of the segment is spent
    assert fired[0].time_us == (20 + 5) * 10_000  # 50 ms after the fall, not when the background returns
    waited = word_end_decision(None).update(word, levels(level_db))
    assert [f.class_index for f in waited] == [2] and waited[0].time_us > 50 * 10_000


def test_a_short_dip_inside_a_word_or_an_unknown_level_does_not_end_it():
    word = logits_for([0] * 10 + [2] * 40 + [0] * 20)
    dip = np.concatenate([np.full(10, -45.0), np.full(8, -15.0), np.full(3, -45.0), np.full(9, -15.0)])
    level_db = np.concatenate([dip, np.full(40, -45.0)])  # a 30 ms closure ("u-p"), then the word goes on
    fired = word_end_decision().update(word, levels(level_db))
    assert [f.time_us for f in fired] == [(30 + 5) * 10_000]  # decided after the real end (step 30)
    no_track = word_end_decision().update(word)  # no level track: every level +inf, never a fall
    assert len(no_track) == 1 and no_track[0].time_us > 50 * 10_000
    unknown = word_end_decision().update(word, levels(np.full(70, np.nan)))  # digital silence, clipping
    assert len(unknown) == 1 and unknown[0].time_us > 50 * 10_000
    with pytest.raises(ValueError, match="end_fall_db"):
        DecisionConfig(mode="threshold", end_fall_db=20.0)


def test_hot_pixel_rule_fires_once_per_hot_spell_apart_from_the_reconstruction_rule():
    config = DecisionConfig(mode="anomaly", window_steps=2, score_threshold=1.0, refractory_ms=100.0,
                            hot_pixel_rate_hz=400.0)  # fmt: skip
    decision = make_decision(config, 3, 25_000)
    rates = np.array([0, 360, 1000, 1000, 900, 1000, 0, 0, 0, 0, 0, 0, 1000, 1000], np.float64)
    fired = decision.update(np.full(len(rates), 0.1), None, rates)  # reconstruction always below its threshold
    assert [(d.class_index, d.time_us, d.score, d.threshold) for d in fired] == [
        (2, 75_000, 1000.0, 400.0),  # class 2 = "hot-pixels", at the end of the first step that reached 400 Hz
        (2, 325_000, 1000.0, 400.0),  # re-armed below 0.8 · 400 Hz and past the refractory time
    ]
    chunked = make_decision(config, 3, 25_000)
    again = [d for k in range(0, len(rates), 3) for d in chunked.update(np.full(3, 0.1)[: len(rates[k:k + 3])],
                                                                         None, rates[k : k + 3])]  # fmt: skip
    assert again == fired
    assert make_decision(config, 3, 25_000).update(np.full(4, 0.1), None, None) == []  # no rates: no rule
    with pytest.raises(ValueError, match="3 pixel rates for 2 scores"):
        make_decision(config, 3, 25_000).update(np.zeros(2), None, np.zeros(3))


@pytest.mark.parametrize(
    "values, message",
    [
        ({"mode": "anomaly", "score_threshold": 1.0, "hot_pixel_rate_hz": 0.0}, "hot_pixel_rate_hz must be > 0"),
        ({"mode": "segment", "hot_pixel_rate_hz": 400.0}, "read by anomaly decisions only"),
        ({"mode": "anomaly", "score_threshold": 1.0, "hot_pixel_window_steps": 0}, "hot_pixel_window_steps must be"),
    ],
)
def test_hot_pixel_settings_are_checked(values, message):
    with pytest.raises(ValueError, match=message):
        DecisionConfig(**values)
