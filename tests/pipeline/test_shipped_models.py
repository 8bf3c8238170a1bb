"""Accuracy of the shipped checkpoints, streamed through the real pipeline on held-back data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spikestream.models.checkpoint import load_checkpoint
from spikestream.pipeline.training.evaluate import evaluate_audio, evaluation_clips
from spikestream.pipeline.training.gesture import HELD_OUT_SEED, evaluate_gestures

from .cli_runner import run_cli

# The target is 97 %; the shipped model reaches 97.6 % (6 errors). It is a merged ensemble of
# four (spikestream merge): the single model of the previous release (96.0 % here, 96.25 % on unheard
# voices) and three fine-tunes of it (94.8 %, 94.8 %, 95.6 %); bench/bench_ensemble.py.
# On unheard espeak-ng voices it reaches 98.75 %. The extra-voices recipe behind its members lifts a
# real speaker left out of training from 53.6 % to 60.6 % (george) and from 67.6 % to 81.2 % (lucas;
# bench/bench_unseen_speaker.py).
# Since issue 14 its front end removes DC (a 10 Hz blocker the members were not trained with) and its
# decision needs the input to rise 10 dB above its floor: 96.4 % (9 errors; new: two "six" read wrong,
# decided on scores below 0.5, and one 0.14 s clip whose level never rises 10 dB above its own quietest
# frame, missed), in exchange for no detection on noise, DC or tones (tests/pipeline/test_noise_robustness.py).
# Since stop 28 a word is decided as its input falls 30 dB below it (end_fall_db, README: "Reported as
# the word ends"): 96.0 %, one more "six" read early (p50 latency in a room 460 -> 180 ms).
# The bars sit at what is shipped so a regression fails; raise them with the model.
SHIPPED_DIGIT_ACCURACY = 0.96
SHIPPED_UNHEARD_VOICE_ACCURACY = 0.9875
RECORDINGS = Path(__file__).resolve().parents[2] / "recordings"


def test_digit_model_accuracy_streaming_on_fsdd_test_takes(fsdd_dir, tmp_path):
    loaded = load_checkpoint("fsdd-digits")
    clips = evaluation_clips(fsdd_dir, "test")
    assert len(clips) == 250 and all(clip.take < 5 for clip in clips)  # official test takes only
    metrics = evaluate_audio(loaded, clips, tmp_path)  # bare clips, as replay streams them
    assert metrics["accuracy"] >= SHIPPED_DIGIT_ACCURACY, json.dumps(metrics, indent=1)
    assert metrics["missed"] <= 2 and metrics["clips_with_more_than_one_detection"] <= 2  # one word, one detection
    assert (tmp_path / "confusion.png").stat().st_size > 1000
    assert json.loads((tmp_path / "metrics.json").read_text())["clips"] == 250


def test_digit_model_on_voices_it_never_heard(tmp_path):
    # 80 clips of four espeak-ng voices (recordings/make_espeak_digits.sh heldout); the training voices
    # (make_espeak_digits.sh OUT train) share none of their variants
    loaded = load_checkpoint("fsdd-digits")
    clips = evaluation_clips(RECORDINGS / "espeak_digits", "all")
    assert len(clips) == 80 and len({clip.speaker for clip in clips}) == 4
    metrics = evaluate_audio(loaded, clips)
    assert metrics["accuracy"] >= SHIPPED_UNHEARD_VOICE_ACCURACY, json.dumps(metrics, indent=1)


def test_digit_model_never_trained_on_test_takes(fsdd_dir):
    training = load_checkpoint("fsdd-digits").config["training"]
    members = [member["training"] for member in training["ensemble_of"]] if "ensemble_of" in training else [training]
    test_takes = {clip.path.name for clip in evaluation_clips(fsdd_dir, "test")}
    for member in members:  # a merged ensemble (spikestream merge): every member's own training record
        fsdd_train_clips = member["train_clips"] - member.get("extra_train_clips", 0)
        assert fsdd_train_clips == 2250 and member["held_out_clips"] == 250
        if (
            "train_files" in member
        ):  # recorded by trainings since the file lists were kept (the shipped members predate it)
            assert not {Path(name).name for name in member["train_files"]} & test_takes
        for folder in member["settings"].get("extra_data", []):  # extra voices: none of the held-out espeak voices
            assert Path(folder).name != "espeak_digits"


def test_gesture_model_reaches_95_percent_on_unseen_seeds(tmp_path):
    loaded = load_checkpoint("dvs-gestures")
    assert loaded.config["training"]["data"] == "synthetic"
    metrics = evaluate_gestures(loaded, None, 220, tmp_path)
    assert metrics["data"] == f"synthetic (seed {HELD_OUT_SEED})"
    assert metrics["accuracy"] >= 0.95, json.dumps(metrics, indent=1)


def test_mnist_vae_reconstructs_held_back_images_better_than_the_mean_and_samples(tmp_path):
    # trained on the first 8,000 MNIST images (8 epochs); judged on the last 2,000, never trained on
    import numpy as np
    import torch

    from spikestream.pipeline.training.autoencoder import (
        AutoencoderTrainingSettings,
        held_out_reconstruction,
        mnist_batches,
    )
    from spikestream.sources.images.mnist import mnist_split

    loaded = load_checkpoint("mnist-vae")
    assert loaded.model_kind == "esvae" and loaded.config["training"]["train_items"] == 8000
    _, (test_images, _) = mnist_split(Path(__file__).resolve().parents[3] / "shared" / "data" / "mnist")
    settings = AutoencoderTrainingSettings(batch_size=64)
    batches = list(
        mnist_batches(test_images[-512:], settings, np.random.default_rng(7), torch.Generator().manual_seed(7))
    )
    held = held_out_reconstruction(loaded.model, batches)
    # measured on these 512 images: nRMSE 0.611 against 0.826 for the per-pixel mean (the 4,000-image,
    # 2-epoch model before it: 0.787)
    assert held["nrmse"] < held["baseline_nrmse"] - 0.15, held
    drawn = loaded.model.sample(16, 16, generator=torch.Generator().manual_seed(0))
    assert drawn.shape == (16, 16, 1, 28, 28) and torch.isfinite(drawn).all()


SHIPPED_NIR_DIGIT_ACCURACY_BARE = 0.952  # fsdd-digits-nir, bare test takes as replay streams them


def test_hardware_friendly_digit_model_on_bare_fsdd_test_takes(fsdd_dir):
    """The NIR-exportable digits (one network, strided convolutions): on the official test takes,
    streamed bare (no silence added), never trained on them."""
    loaded = load_checkpoint("fsdd-digits-nir")
    assert loaded.model.config.downsample == "stride"
    clips = evaluation_clips(fsdd_dir, "test")
    training = loaded.config["training"]
    assert not {Path(name).name for name in training["train_files"]} & {clip.path.name for clip in clips}
    metrics = evaluate_audio(loaded, clips, pad=False)
    assert metrics["accuracy"] >= SHIPPED_NIR_DIGIT_ACCURACY_BARE, json.dumps(metrics, indent=1)


def stream_anomaly_times_us(
    loaded, events, end_us: int, labels: tuple[str, ...] = ("anomaly", "hot-pixels")
) -> list[int]:
    """Detection times of ``labels`` when an event autoencoder streams ``events`` as replay slices them
    (both of its rules by default: the reconstruction error's and the hot-pixel rate's)."""
    from spikestream.pipeline.streaming_model import make_streaming_model
    from spikestream.sources.events.chunking import slice_span

    model = make_streaming_model(loaded, "test")
    detections = [d for chunk in slice_span(events, 0, end_us) for d in model.process(chunk)] + model.finish()
    return [d.time_us for d in detections if d.label in labels]


def test_gesture_autoencoder_flags_flicker_and_noise_bursts_within_100_ms_and_is_quiet_on_gestures():
    # bench/bench_event_faults.py measures the same over minutes of stream, beside an event-rate detector
    import numpy as np

    from spikestream.sources.events.event_array import SensorSize
    from spikestream.sources.events.simulation.dvs_simulator import sort_by_time
    from spikestream.sources.events.simulation.faults import fault_events
    from spikestream.sources.events.simulation.gesture_examples import gesture_sequence
    from spikestream.sources.events.simulation.synthetic_gestures import SyntheticGestures

    loaded = load_checkpoint("gestures-ae")
    assert loaded.config["front_end"]["output_mode"] == "log-counts" and loaded.config["decision"]["mode"] == "anomaly"
    sensor, rng = SensorSize(128, 128), np.random.default_rng(5)
    gestures = SyntheticGestures(12, seed=777)  # a seed never trained or calibrated on
    events, spans, end_us = gesture_sequence([gestures[i][0] for i in range(12)], sensor, (300.0, 800.0), 0.1, rng)
    assert end_us > 15_000_000
    assert stream_anomaly_times_us(loaded, events, end_us) == []  # held-out gestures: no false alarm
    kinds, onsets_us = ("flicker", "noise-burst"), [spans[k][0] + 400_000 for k in (3, 8)]  # mid-gesture
    faults = [fault_events(kind, sensor, t, t + 300_000, rng) for kind, t in zip(kinds, onsets_us)]
    flagged = stream_anomaly_times_us(loaded, sort_by_time(events, *faults), end_us)
    for kind, onset_us in zip(kinds, onsets_us):
        latencies_ms = [(t - onset_us) / 1000 for t in flagged if 0 <= t - onset_us <= 800_000]
        assert latencies_ms and latencies_ms[0] <= 100.0, (kind, latencies_ms, flagged)
    assert len(flagged) <= 2 * len(kinds), flagged  # nothing outside the faults (a fault may re-fire once)


def test_gesture_autoencoder_flags_hot_pixels_by_their_rate_which_its_reconstruction_error_misses():
    # 8 hot pixels at 1 kHz triple the reconstruction error where they fire, but that stays below the
    # threshold gestures set (bench/results/event_faults.json: 0 % by that rule): the hot-pixel rule
    # (the busiest steady pixel's rate, decisions/anomaly.py) flags them within 100 ms instead
    import numpy as np
    import torch

    from spikestream.pipeline.streaming_model import reconstruction_error
    from spikestream.sources.events.event_array import SensorSize
    from spikestream.sources.events.front_end.framing import EventFrontEndConfig
    from spikestream.sources.events.front_end.streaming import events_to_steps
    from spikestream.sources.events.simulation.dvs_simulator import sort_by_time
    from spikestream.sources.events.simulation.faults import fault_events
    from spikestream.sources.events.simulation.gesture_examples import gesture_sequence
    from spikestream.sources.events.simulation.synthetic_gestures import SyntheticGestures

    loaded = load_checkpoint("gestures-ae")
    assert loaded.labels == ["score", "anomaly", "hot-pixels"] and loaded.config["decision"]["hot_pixel_rate_hz"] > 200
    front_end = EventFrontEndConfig.from_dict(loaded.config["front_end"])
    sensor, rng = SensorSize(128, 128), np.random.default_rng(6)
    gestures = SyntheticGestures(4, seed=779)
    events, spans, end_us = gesture_sequence([gestures[i][0] for i in range(4)], sensor, (300.0, 800.0), 0.1, rng)
    onset_us, bin_us = spans[1][0] + 300_000, front_end.bin_us
    faulty = sort_by_time(events, fault_events("hot-pixels", sensor, onset_us, onset_us + 300_000, rng))

    def fault_span_error(stream: np.ndarray) -> float:
        steps = torch.from_numpy(events_to_steps(stream, front_end, 0, -(-end_us // bin_us))).float()[:, None]
        with torch.no_grad():
            reconstruction, _ = loaded.model(steps)
        return float(
            reconstruction_error(reconstruction, steps)[onset_us // bin_us : (onset_us + 300_000) // bin_us].mean()
        )

    clean, hot = fault_span_error(events), fault_span_error(faulty)
    assert 2.0 * clean < hot < loaded.config["decision"]["score_threshold"], (clean, hot)
    assert stream_anomaly_times_us(loaded, events, end_us) == []
    flagged = stream_anomaly_times_us(loaded, faulty, end_us, ("hot-pixels",))
    assert len(flagged) == 1 and 0 < flagged[0] - onset_us <= 100_000, (onset_us, flagged)


def test_gesture_autoencoder_flags_the_hot_pixels_of_a_real_camera(dvs_dir):
    # sample.aedat4, a real DAVIS recording (0.59 s): a few pixels fire at 0.9-1.1 kHz in every 25 ms
    # bin of it, whatever the scene (measured by hand: 22-35 events per bin), while the median active
    # pixel fires at 5 Hz. Replayed as a user would, the hot-pixel rule names them at once.
    result = run_cli("replay", str(dvs_dir / "sample.aedat4"), "--model", "gestures-ae", "--speed", "0",
                     "--jsonl", "-")  # fmt: skip
    assert result.returncode == 0, result.stderr
    hot = [r for r in map(json.loads, result.stdout.splitlines()) if r["label"] == "hot-pixels"]
    assert len(hot) == 1 and hot[0]["time_us"] <= 100_000 and hot[0]["score"] >= 800.0, result.stdout


def test_a_hot_pixel_beside_a_gesture_classifier_does_not_make_its_gestures_unknown():
    # paired (--model dvs-gestures --anomaly-model gestures-ae), a classifier detection becomes "unknown"
    # when the autoencoder's window error reached its threshold since the last one; a hot-pixels
    # record carries a rate in Hz, not an error, and must not count as one
    from spikestream.pipeline.detection import Detection
    from spikestream.pipeline.streaming_model import make_paired_model

    pair = make_paired_model(load_checkpoint("dvs-gestures"), load_checkpoint("gestures-ae"), "test")
    gesture = Detection(500_000, "hand_clap", 0.9, "test", 1.0)
    hot = Detection(450_000, "hot-pixels", 1080.0, "test", 1.0, 380.0)
    assert [d.label for d in pair._relabel([gesture], [hot])] == ["hand_clap"]
    anomaly = Detection(450_000, "anomaly", 5.0, "test", 1.0, 0.68)
    assert [d.label for d in pair._relabel([gesture], [anomaly])] == ["unknown"]


def test_gesture_autoencoder_reconstructs_held_back_gestures_better_than_the_mean():
    from spikestream.pipeline.training.autoencoder import (
        AutoencoderTrainingSettings,
        gesture_frames,
        held_out_reconstruction,
        pad_sequences,
    )
    from spikestream.sources.events.simulation.synthetic_gestures import SyntheticGestures

    loaded = load_checkpoint("gestures-ae")
    frames = gesture_frames(SyntheticGestures(44, seed=778), AutoencoderTrainingSettings(), 778, "gestures")
    held = held_out_reconstruction(loaded.model, [(pad_sequences(frames[:22]),) * 2, (pad_sequences(frames[22:]),) * 2])
    assert held["nrmse"] < held["baseline_nrmse"] - 0.05, held


def test_speech_autoencoder_reconstructs_voices_it_never_heard_better_than_the_mean():
    # speech-ae: trained on Speech Commands train (+ FSDD); streamed here on clips of the validation
    # partition, whose speakers are not in the training partition, as replay streams them
    import numpy as np

    from spikestream.pipeline.training.anomaly_evaluation import file_score

    loaded = load_checkpoint("speech-ae")
    assert loaded.model_kind == "sae" and loaded.model.config.target_delay_steps == 8
    validation = Path(__file__).resolve().parents[3] / "shared" / "data" / "speech_commands" / "validation"
    files = [path for word in ("yes", "no", "up", "down") for path in sorted((validation / word).glob("*.flac"))[:3]]
    nrmse = np.array([file_score(loaded, path)["nrmse"] for path in files])
    # measured on these 12 clips: mean 0.757, 0.668-0.933; predicting each stream's mean gives 1.0
    assert nrmse.mean() < 0.8 and nrmse.max() < 1.0, nrmse


def test_speech_autoencoder_is_quiet_on_normal_speech_from_its_first_step():
    # digits read aloud, replayed as a user would: no anomaly at the calibrated 1 % false-alarm rate
    # (from rest, the network's climb to the input level was this stream's one anomaly, at 0.1 s)
    result = run_cli(
        "replay", str(RECORDINGS / "digits_sequence.wav"), "--model", "speech-ae", "--speed", "0", "--jsonl", "-"
    )
    assert result.returncode == 0, result.stderr
    assert [json.loads(line) for line in result.stdout.splitlines() if line.strip()] == []


def test_speech_autoencoder_tells_environmental_sounds_from_unheard_speech_by_its_relative_error(tmp_path):
    # evaluate as a user runs it: unheard speakers' words (validation partition) against ESC-10 sounds
    data = Path(__file__).resolve().parents[3] / "shared" / "data"
    normal, anomalous = tmp_path / "normal", tmp_path / "anomalous"
    normal.mkdir(), anomalous.mkdir()
    for word in ("yes", "no", "up", "down"):
        for path in sorted((data / "speech_commands" / "validation" / word).glob("*.flac"))[10:14]:
            (normal / f"{word}_{path.name}").symlink_to(path)
    for path in sorted((data / "esc10").glob("fold2/*/*.ogg"))[::5]:  # 16 clips, every class
        (anomalous / path.name).symlink_to(path)
    result = run_cli(
        "evaluate", "--model", "speech-ae", "--normal", str(normal), "--anomalous", str(anomalous),
        "--out", str(tmp_path / "eval"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    # measured: relative error 0.973; the plain MSE 0.395 (below chance: sounds are reconstructed better)
    assert metrics["auroc_relative_error"] >= 0.9 and metrics["auroc"] < 0.6, metrics


def test_keywords_beside_speech_ae_say_unknown_to_environmental_sounds_and_keep_the_words():
    # keywords fires on field recordings (dogs, rain, engines); beside speech-ae, what it cannot
    # reconstruct better than a running mean becomes "unknown"; words of unheard speakers stay
    import numpy as np

    from spikestream.pipeline.inputs import AUDIO_BLOCK_MS, sample_rate_hz
    from spikestream.pipeline.runtime import run_stream
    from spikestream.pipeline.streaming_model import make_paired_model, make_streaming_model
    from spikestream.pipeline.training.evaluate import samples_chunks
    from spikestream.sources.audio.audio_file import read_audio

    keywords, autoencoder = load_checkpoint("keywords"), load_checkpoint("speech-ae")
    words = {"yes", "no", "up", "down"}
    rate = sample_rate_hz(keywords)  # the autoencoder hears the same stream at its own rate (resampled)

    def detections(samples, paired):
        model = make_paired_model(keywords, autoencoder, "t") if paired else make_streaming_model(keywords, "t")
        return run_stream(samples_chunks(samples, rate, AUDIO_BLOCK_MS), model, sinks=[]).detections

    data = Path(__file__).resolve().parents[3] / "shared" / "data"
    sounds = np.concatenate([read_audio(path, rate) for path in sorted((data / "esc10").glob("fold1/*/*.ogg"))[::4]])
    false_alone = sum(d.label in words for d in detections(sounds, False))
    false_paired = sum(d.label in words for d in detections(sounds, True))
    right_alone = right_paired = 0
    for word in sorted(words):
        for path in sorted((data / "speech_commands" / "validation" / word).glob("*.flac"))[20:26]:
            samples = read_audio(path, rate)
            right_alone += [d.label for d in detections(samples, False)][:1] == [word]
            right_paired += [d.label for d in detections(samples, True)][:1] == [word]
    # measured: false keywords 20 -> 6 on these 1.7 minutes of sounds; words right 22 -> 21 of 24
    assert false_paired <= 0.5 * false_alone and right_paired >= right_alone - 2, (
        (false_alone, false_paired),
        (right_alone, right_paired),
    )


def test_digits_beside_speech_ae_keep_every_word_of_the_demo_recording():
    # the relative-error rule must not call known speech "unknown": make run's recording, paired
    expected = [u["label"] for u in json.loads((RECORDINGS / "digits_sequence.json").read_text())["utterances"]]
    result = run_cli(
        "replay", str(RECORDINGS / "digits_sequence.wav"), "--model", "fsdd-digits", "--anomaly-model", "speech-ae",
        "--speed", "0", "--jsonl", "-",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert [json.loads(line)["label"] for line in result.stdout.splitlines() if line.strip()] == expected


def test_a_classifier_at_16_khz_pairs_with_the_8_khz_speech_ae_through_a_streaming_resampler(shared_data_dir, tmp_path):
    # the pair resamples the classifier's stream for the autoencoder: its scores are those of the
    # autoencoder alone on the same file read at 8 kHz (one soxr conversion either way, chunk-invariant)
    import shutil

    from spikestream.pipeline.runtime import run_stream
    from spikestream.pipeline.streaming_model import make_paired_model, make_streaming_model
    from spikestream.pipeline.training.evaluate import samples_chunks
    from spikestream.sources.audio.audio_file import read_audio

    wide = tmp_path / "keywords-16k"  # the shipped keyword network given a 16 kHz front end (its labels are moot)
    shutil.copytree(load_checkpoint("keywords").path, wide)
    config = json.loads((wide / "config.json").read_text())
    config["front_end"]["mfcc"].update(sample_rate_hz=16000, n_fft=512)
    (wide / "config.json").write_text(json.dumps(config))
    classifier, autoencoder = load_checkpoint(wide), load_checkpoint("speech-ae")
    path = sorted((shared_data_dir / "speech_commands" / "validation" / "up").glob("*.flac"))[3]
    paired = make_paired_model(classifier, autoencoder, "t")
    assert paired.resampler is not None and (paired.resampler.from_hz, paired.resampler.to_hz) == (16000, 8000)
    run_stream(samples_chunks(read_audio(path, 16000), 16000), paired, sinks=[])
    alone = make_streaming_model(autoencoder, "t")
    run_stream(samples_chunks(read_audio(path, 8000), 8000, block_ms=30.0), alone, sinks=[])
    assert paired.autoencoder.steps == alone.steps > 50
    # the same steps; the sums of their errors differ in the last bits only (added up per chunk)
    assert paired.autoencoder.reconstruction_metrics() == pytest.approx(alone.reconstruction_metrics(), rel=1e-6)
