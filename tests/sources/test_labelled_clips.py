"""Labelled folders: both layouts, takes that are not numbers, Speech Commands speakers, and
held-back sets chosen by speaker, never by clip."""

from __future__ import annotations

import numpy as np
import soundfile

from spikestream.sources.labelled_clips import hold_back, list_labelled_clips, split_by_speaker, split_by_take


def write_wav(path, seconds=0.2, rate=8000):
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, np.zeros(int(seconds * rate), np.float32), rate)


def test_a_take_that_is_not_a_number_is_kept_and_never_counts_as_a_test_take(tmp_path):
    for name in ("7_ana_kitchen.wav", "7_ana_3.wav", "2_bo_outside.wav"):
        write_wav(tmp_path / name)
    clips = {clip.path.name: clip for clip in list_labelled_clips(tmp_path)}
    assert clips["7_ana_kitchen.wav"].take == "kitchen" and clips["7_ana_kitchen.wav"].speaker == "ana"
    assert clips["7_ana_3.wav"].take == 3
    train, test = split_by_take(list(clips.values()))
    assert [clip.path.name for clip in test] == ["7_ana_3.wav"]
    assert {clip.path.name for clip in train} == {"7_ana_kitchen.wav", "2_bo_outside.wav"}


def test_speech_commands_names_give_the_speaker_and_no_test_split(shared_data_dir):
    clips = list_labelled_clips(shared_data_dir / "speech_commands" / "validation")
    assert len(clips) == 1530 and {clip.label for clip in clips} == {"yes", "no", "up", "down"}
    first = clips[0]
    assert first.speaker == first.path.stem.split("_nohash_")[0] and first.take is None
    assert split_by_take(clips)[1] == []  # "_nohash_0" is a repetition count, not an FSDD test take


def test_held_back_speakers_share_no_clip_with_training(shared_data_dir):
    clips = list_labelled_clips(shared_data_dir / "speech_commands" / "train")
    train, held = split_by_speaker(clips, 0.1)
    train_speakers, held_speakers = {c.speaker for c in train}, {c.speaker for c in held}
    assert not train_speakers & held_speakers
    assert 0.07 < len(held_speakers) / (len(train_speakers) + len(held_speakers)) < 0.13
    assert split_by_speaker(list(reversed(clips)), 0.1)[1] == sorted(held, key=lambda c: -clips.index(c))


def test_five_fsdd_speakers_hold_one_back_whole(fsdd_dir):
    train, held = split_by_speaker(list_labelled_clips(fsdd_dir), 0.1)
    assert len({clip.speaker for clip in held}) == 1 and len(held) == 500
    assert {clip.speaker for clip in train}.isdisjoint({clip.speaker for clip in held})


def test_hold_back_uses_test_takes_only_when_some_take_is_left_to_train(tmp_path):
    for name in ("1_ana_0.wav", "1_ana_7.wav", "2_bo_1.wav", "2_bo_8.wav"):
        write_wav(tmp_path / "fsdd" / name)
    train, held = hold_back(list_labelled_clips(tmp_path / "fsdd"))
    assert sorted(c.path.name for c in held) == ["1_ana_0.wav", "2_bo_1.wav"]  # the official test takes
    for name in ("1_me_0.wav", "2_me_1.wav", "3_me_4.wav"):  # one's own voice, test takes only
        write_wav(tmp_path / "mine" / name)
    train, held = hold_back(list_labelled_clips(tmp_path / "mine"))
    assert len(train) == 3 and held == []  # every clip trains; nothing can be held back by speaker
    for name in ("1_ana_0.wav", "1_bo_2.wav", "2_cy_3.wav"):  # test takes only, three speakers
        write_wav(tmp_path / "three" / name)
    train, held = hold_back(list_labelled_clips(tmp_path / "three"))
    assert len(held) == 1 and len(train) == 2 and {c.speaker for c in held}.isdisjoint(c.speaker for c in train)
