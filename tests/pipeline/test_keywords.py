"""Keyword spotting for any voice: the shipped ``keywords`` model on speakers it never heard, other
words and non-speech, through the real pipeline (CLI in a subprocess, real PortAudio capture), and
``train audio`` on a Speech Commands-style folder."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import soundfile
import soxr

from spikestream.models.checkpoint import load_checkpoint
from spikestream.pipeline.training.evaluate import evaluate_audio, evaluation_clips
from spikestream.sources.audio.audio_file import read_audio
from spikestream.sources.labelled_clips import list_labelled_clips

from .cli_runner import json_lines, longest_common_subsequence, run_cli
from .test_live_microphone import ASOUNDRC

RATE_HZ = 16000  # Speech Commands' own rate; the model's front end resamples once at the source
# bars at what is shipped (bench/results/keywords.json), so a regression fails; raise them with the model
SHIPPED_VALIDATION_ACCURACY = 0.77
SHIPPED_OTHER_WORDS_REJECTED = 0.73
KEYWORDS = {"yes", "no", "up", "down"}


@pytest.fixture(scope="module")
def commands_dir(shared_data_dir):
    return shared_data_dir / "speech_commands"


def test_keywords_on_speakers_never_heard_bare_clips(commands_dir):
    # the official validation partition: other speakers than training; bare one-second clips as recorded
    loaded = load_checkpoint("keywords")
    clips = evaluation_clips(commands_dir / "validation", "all")[::3]
    assert len(clips) == 510
    metrics = evaluate_audio(loaded, clips, pad=False)
    assert metrics["accuracy"] >= SHIPPED_VALIDATION_ACCURACY, json.dumps(metrics, indent=1)


def test_keywords_reject_other_words_from_another_corpus(fsdd_dir):
    loaded = load_checkpoint("keywords")
    clips = evaluation_clips(fsdd_dir, "test")  # spoken digits: words the model never learned
    metrics = evaluate_audio(loaded, [replace(clip, label="unknown") for clip in clips], pad=False)
    assert metrics["accuracy"] >= SHIPPED_OTHER_WORDS_REJECTED, json.dumps(metrics, indent=1)


def test_keyword_model_was_selected_on_validation_and_never_trained_on_it(commands_dir):
    training = load_checkpoint("keywords").config["training"]
    assert training["settings"]["validation_data"].endswith("speech_commands/validation")
    validation_speakers = {c.speaker for c in list_labelled_clips(commands_dir / "validation")}
    keyword_names = [name.split("/")[-1] for name in training["train_files"] if "/unknown/" not in name]
    assert len(keyword_names) == 7964
    assert not {name.split("_nohash_")[0] for name in keyword_names} & validation_speakers
    # the shipped model also trained on other words by 4 of the 235 validation speakers (training now
    # holds such clips back: test_train_audio_on_a_speech_commands_folder_holds_back_by_speaker)


def assemble_stream(shared_data_dir, tmp_path):
    """Real clips end to end with 0.7 s of quiet between: keywords by unheard speakers, spoken digits,
    other words and ESC-10 field recordings. Returns the WAV, the expected keywords and the spans
    ``(start_s, end_s, kind)`` of everything that must not give a keyword."""
    rng = np.random.default_rng(3)
    validation = evaluation_clips(shared_data_dir / "speech_commands" / "validation", "all")
    by_word = {word: [c for c in validation if c.label == word] for word in sorted(KEYWORDS)}
    words = [by_word[word][index] for index in (5, 40) for word in sorted(KEYWORDS)]
    digits = evaluation_clips(shared_data_dir / "fsdd", "test")[7::60]
    sounds = sorted((shared_data_dir / "esc10" / "fold1").rglob("*.ogg"))[4::33]
    items = [(c.path, c.label) for c in words[:4]] + [(c.path, "digit") for c in digits[:2]]
    items += [(sounds[0], "sound")] + [(c.path, c.label) for c in words[4:]]
    items += [(c.path, "digit") for c in digits[2:]] + [(p, "sound") for p in sounds[1:]]
    pieces, spans, expected, at_s = [], [], [], 0.0
    for path, kind in items:
        gap = (rng.standard_normal(int(0.7 * RATE_HZ)) * 10 ** (-65 / 20)).astype(np.float32)
        samples = read_audio(path, RATE_HZ)
        pieces += [gap, samples]
        at_s += 0.7
        if kind in KEYWORDS:
            expected.append(kind)
        else:
            spans.append((at_s, at_s + samples.size / RATE_HZ, kind))
        at_s += samples.size / RATE_HZ
    wav = tmp_path / "keywords_stream.wav"
    soundfile.write(wav, np.concatenate(pieces + [np.zeros(RATE_HZ, np.float32)]), RATE_HZ)
    return wav, expected, spans


# The goal is no keyword at all during other words and non-speech. The shipped model still
# hears keywords in field recordings and some digits: over the whole of ESC-10 folds 1-4 (26.7 min,
# bench/results/keywords.json) 155 false keywords per 10 minutes (the previous release: 220) and 26 %
# of the 250 FSDD digits (previous: 31 %). On this stream's six clips it says one keyword during a
# digit and five during the sounds (the previous release: none and three), so these bars hold what
# is shipped on this stream; the bench is the measure of better or worse.
SHIPPED_FALSE_KEYWORDS_IN_DIGITS = 1
SHIPPED_FALSE_KEYWORDS_IN_SOUNDS = 5


def check_detections(detections, expected, spans):
    keywords = [d for d in detections if d["label"] in KEYWORDS]
    assert longest_common_subsequence([d["label"] for d in keywords], expected) >= len(expected) - 1, (
        [d["label"] for d in keywords],
        expected,
    )
    during_other = [
        (d["label"], kind) for d in keywords for start, end, kind in spans if start <= d["time_us"] / 1e6 <= end + 0.3
    ]
    kinds = [kind for _, kind in during_other]
    assert kinds.count("digit") <= SHIPPED_FALSE_KEYWORDS_IN_DIGITS, during_other
    assert kinds.count("sound") <= SHIPPED_FALSE_KEYWORDS_IN_SOUNDS, during_other


def test_long_stream_of_real_clips_gives_the_keywords_in_order_and_nothing_else(shared_data_dir, tmp_path):
    wav, expected, spans = assemble_stream(shared_data_dir, tmp_path)
    assert len(expected) == 8 and {kind for *_, kind in spans} == {"digit", "sound"}
    result = run_cli("replay", str(wav), "--model", "keywords", "--jsonl", "-", timeout_s=300)
    assert result.returncode == 0, result.stderr
    check_detections(json_lines(result.stdout), expected, spans)


def test_live_microphone_with_the_keyword_model(shared_data_dir, tmp_path):
    # real PortAudio capture; ALSA's file plug-in plays the assembled stream as the default device
    wav, expected, spans = assemble_stream(shared_data_dir, tmp_path)
    samples, rate = soundfile.read(wav, dtype="float32")
    raw = tmp_path / "stream_16k_s16le_mono.raw"
    (np.clip(soxr.resample(samples, rate, RATE_HZ), -1, 1) * 32767).astype("<i2").tofile(raw)
    (tmp_path / ".asoundrc").write_text(ASOUNDRC.format(raw=raw))
    seconds = samples.size / rate + 1.0
    result = run_cli(
        "listen",
        "--model",
        "keywords",
        "--jsonl",
        "-",
        "--device-rate",
        str(RATE_HZ),
        "--seconds",
        f"{seconds:.1f}",
        "--buffer-seconds",
        str(int(seconds) + 10),
        env={"HOME": str(tmp_path)},
        timeout_s=300,
    )
    assert result.returncode == 0, result.stderr
    detections = json_lines(result.stdout)
    assert all(d["source"].startswith("mic:") for d in detections)
    check_detections(detections, expected, spans)


@pytest.mark.slow  # two trainings, about 90 s: the default suite stays under 20 minutes on 2 cores
def test_train_audio_on_a_speech_commands_folder_holds_back_by_speaker(commands_dir, tmp_path):
    data = tmp_path / "words"
    for word in ("yes", "no"):  # a small copy of the layout: one sub-folder per label, <speaker>_nohash_<n>
        (data / word).mkdir(parents=True)
        for clip in list_labelled_clips(commands_dir / "train" / word)[:30]:
            (data / word / clip.path.name).symlink_to(clip.path.resolve())
    unknown = commands_dir / "unknown"
    out = tmp_path / "kw"
    result = run_cli(
        "train", "audio", "--data", str(data), "--unknown", str(unknown), "--noise",
        str(commands_dir / "_background_noise_"), "--trim-db", "25", "--canvas-ms", "1600",
        "--epochs", "1", "--threads", "1", "--out", str(out), timeout_s=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    config = json.loads((out / "config.json").read_text())
    assert config["labels"] == ["background", "no", "unknown", "yes"]
    training = config["training"]
    speaker = lambda name: name.split("/")[-1].split("_nohash_")[0]  # noqa: E731
    train_speakers = {speaker(n) for n in training["train_files"]}
    held_speakers = {speaker(n) for n in training["held_out_files"]}
    assert held_speakers and not train_speakers & held_speakers  # by speaker, never by clip
    assert training["train_clips"] > 60  # the unknown words, repeated towards a keyword's count
    validation = tmp_path / "validation"  # other words by a validation speaker are held back, not trained on
    (validation / "yes").mkdir(parents=True)
    speaker_clip = list_labelled_clips(unknown)[0]
    (validation / "yes" / speaker_clip.path.name).symlink_to(speaker_clip.path.resolve())
    held = run_cli(
        "train", "audio", "--data", str(data), "--validation", str(validation), "--unknown", str(unknown),
        "--epochs", "1", "--threads", "1", "--out", str(tmp_path / "kw2"), timeout_s=600,
    )  # fmt: skip
    assert held.returncode == 0, held.stderr
    record = json.loads((tmp_path / "kw2" / "config.json").read_text())["training"]
    assert str(speaker_clip.path) not in record["train_files"] and str(speaker_clip.path) in record["held_out_files"]
    bad = run_cli("train", "audio", "--data", str(data), "--noise", str(tmp_path / "nothing"), "--out", str(out))
    assert bad.returncode == 2 and "nothing" in bad.stderr and "Traceback" not in bad.stderr


def test_keyword_front_end_streams_recordings_unframed():
    # chosen on the validation speakers (bench_keywords): 76.3 % unframed, 75.6 % framed by silence
    front_end = load_checkpoint("keywords").config["front_end"]
    assert front_end["lead_silence_ms"] == 0 and front_end["tail_silence_ms"] == 0
