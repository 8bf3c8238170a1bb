"""``spikestream train audio`` and ``spikestream evaluate`` on a small real folder, in subprocesses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from spikestream.models.checkpoint import load_checkpoint
from spikestream.sources.audio.front_end import AudioFrontEndConfig
from spikestream.sources.audio.mfcc import MfccConfig

from .cli_runner import REPO_ROOT, run_cli


def jackson_takes(folder: Path, fsdd_dir: Path, takes) -> Path:
    """``folder`` of symlinks to FSDD's jackson saying every digit, the given ``takes`` of each."""
    folder.mkdir()
    for digit in range(10):
        for take in takes:
            (folder / f"{digit}_jackson_{take}.wav").symlink_to(fsdd_dir / f"{digit}_jackson_{take}.wav")
    return folder


@pytest.mark.slow  # trains through the CLI: the default suite stays under 20 minutes on 2 cores (CI runs slow checks)
def test_train_then_evaluate_audio_on_a_small_fsdd_folder(tmp_path, fsdd_dir):
    data = jackson_takes(tmp_path / "clips", fsdd_dir, range(10))  # takes 0-4 are held back as the test set, 5-9 train
    extra = tmp_path / "extra"  # one sub-folder per label, no take numbers: every clip trains
    for digit in (3, 7):
        (extra / str(digit)).mkdir(parents=True)
        for voice in ("en-us+m3", "en+m7"):
            name = f"{digit}_{voice.replace('-', 'x').replace('+', 'x')}_0.wav"
            (extra / str(digit) / name).symlink_to(REPO_ROOT / "recordings" / "espeak_digits" / name)
    out = tmp_path / "model"
    result = run_cli(
        "train",
        "audio",
        "--data",
        str(data),
        "--extra-data",
        str(extra),
        "--channels",
        "8,8,12",
        "--speed-range",
        "0.8,1.25",
        "--equaliser-db",
        "6",
        "--reverb-probability",
        "0.5",
        "--band-limit-probability",
        "0.5",
        "--decide-fraction",
        "0.4",
        "--hardware-friendly",
        "--background-weight",
        "0.3",
        "--spec-augment",
        "2,80,2,3",
        "--speech-mean",
        "200,30,0.5",
        "--epochs",
        "1",
        "--out",
        str(out),
        timeout_s=600,
    )
    assert result.returncode == 0, result.stderr
    assert "epoch 1/1" in result.stderr  # progress is shown
    loaded = load_checkpoint(out)
    assert (
        loaded.model.config.downsample == "stride" and loaded.config["training"]["settings"]["background_weight"] == 0.3
    )
    assert loaded.config["training"]["settings"]["feature_masks"] == {
        "time_masks": 2,
        "time_mask_ms": 80.0,
        "coefficient_masks": 2,
        "coefficient_mask_width": 3,
    }
    speech_mean = {"time_constant_frames": 200.0, "prior_frames": 30.0, "gate_z": 0.5}
    assert loaded.config["front_end"]["speech_mean"] == speech_mean
    exported = run_cli("export", str(out), "--nir", str(tmp_path / "model.nir"))  # trained hardware-friendly: exact
    assert exported.returncode == 0, exported.stderr
    assert loaded.labels == ["background"] + [str(d) for d in range(10)]
    assert loaded.config["training"]["train_clips"] == 54 and loaded.config["training"]["extra_train_clips"] == 4
    assert loaded.config["training"]["held_out_clips"] == 50
    # the training records its real file lists: no test take (0-4) ever trains
    train_files = [Path(name).name for name in loaded.config["training"]["train_files"]]
    held_out_files = [Path(name).name for name in loaded.config["training"]["held_out_files"]]
    assert len(train_files) == 54 and len(held_out_files) == 50  # takes 5-9 of 10 digits, and the 4 extra clips
    assert sorted(held_out_files) == sorted(f"{d}_jackson_{t}.wav" for d in range(10) for t in range(5))
    assert not set(train_files) & set(held_out_files)
    assert loaded.config["model"]["channels"] == [8, 8, 12]
    canvas = loaded.config["training"]["settings"]["canvas"]
    assert (
        canvas["speed_range"] == [0.8, 1.25]
        and canvas["equaliser_max_db"] == 6.0
        and canvas["reverb_probability"] == 0.5
        and canvas["band_limit_probability"] == 0.5
    )
    assert canvas["timing"]["decide_fraction"] == 0.4 and canvas["timing"]["early_fraction"] == 0.3
    front_end = loaded.config["front_end"]
    assert front_end["mfcc"]["sample_rate_hz"] == 8000 and len(front_end["feature_mean"]) == front_end["mfcc"]["n_mfcc"]

    report = tmp_path / "eval"
    result = run_cli("evaluate", "--model", str(out), "--data", str(data), "--out", str(report), timeout_s=600)
    assert result.returncode == 0, result.stderr
    metrics = json.loads((report / "metrics.json").read_text())
    assert metrics["clips"] == 50
    assert sum(map(sum, metrics["confusion"]["counts"])) == 50
    assert Image.open(report / "confusion.png").size[0] > 200


def test_train_audio_without_labels_is_a_clear_error(tmp_path):
    (tmp_path / "recording.wav").write_bytes(b"RIFF")
    result = run_cli("train", "audio", "--data", str(tmp_path), "--epochs", "1", "--out", str(tmp_path / "m"))
    assert result.returncode == 2
    assert "cannot read a label" in result.stderr and "recording.wav" in result.stderr


def test_extra_data_with_labels_the_main_data_lacks_is_a_clear_error(tmp_path, fsdd_dir):
    data, extra = tmp_path / "clips", tmp_path / "extra" / "hello"
    data.mkdir()
    extra.mkdir(parents=True)
    for take in range(6):
        (data / f"1_george_{take}.wav").symlink_to(fsdd_dir / f"1_george_{take}.wav")
    (extra / "a.wav").symlink_to(fsdd_dir / "1_george_9.wav")
    result = run_cli(
        "train",
        "audio",
        "--data",
        str(data),
        "--extra-data",
        str(extra.parent),
        "--epochs",
        "1",
        "--out",
        str(tmp_path / "m"),
    )
    assert result.returncode == 2
    assert "--extra-data" in result.stderr and "'hello'" in result.stderr


@pytest.mark.slow  # a CLI process per case: the default suite stays under 20 minutes on 2 cores (CI runs slow checks)
def test_augmentation_and_channel_options_out_of_range_are_clear_errors(tmp_path, fsdd_dir):
    result = run_cli("train", "audio", "--data", str(fsdd_dir), "--channels", "8,x,8", "--out", str(tmp_path / "m"))
    assert result.returncode == 2 and "--channels '8,x,8'" in result.stderr
    result = run_cli(
        "train", "audio", "--data", str(fsdd_dir), "--speed-range", "1.2,0.9", "--out", str(tmp_path / "m")
    )
    assert result.returncode == 2 and "--speed-range '1.2,0.9'" in result.stderr and "MIN <= MAX" in result.stderr
    result = run_cli(
        "train", "audio", "--data", str(fsdd_dir), "--reverb-probability", "1.5", "--out", str(tmp_path / "m")
    )
    assert result.returncode == 2 and "--reverb-probability 1.5" in result.stderr and "between 0 and 1" in result.stderr
    result = run_cli(
        "train", "audio", "--data", str(fsdd_dir), "--band-limit-probability", "-0.1", "--out", str(tmp_path / "m")
    )
    assert result.returncode == 2 and "--band-limit-probability -0.1: expected a probability" in result.stderr
    result = run_cli(
        "train", "audio", "--data", str(fsdd_dir), "--background-weight", "0", "--out", str(tmp_path / "m")
    )
    assert result.returncode == 2 and "--background-weight" in result.stderr and "Traceback" not in result.stderr
    result = run_cli("train", "audio", "--data", str(fsdd_dir), "--equaliser-db", "-3", "--out", str(tmp_path / "m"))
    assert result.returncode == 2 and "--equaliser-db -3.0" in result.stderr
    result = run_cli(
        "train", "audio", "--data", str(fsdd_dir), "--decide-fraction", "1.2", "--out", str(tmp_path / "m")
    )
    assert result.returncode == 2 and "--decide-fraction 1.2" in result.stderr and "in [0, 1]" in result.stderr
    for mfcc, message in (("rate=16000", "'rate' is not one of"), ("n_fft=big", "needs a int value"),
                          ("n_mfcc=80", "n_mfcc must be in 1..n_mels=40"),
                          ("log_mel=maybe", "needs a bool (1 or 0) value"),
                          ("log_mel=1", "n_mfcc must equal it, got 20")):  # fmt: skip
        result = run_cli("train", "audio", "--data", str(fsdd_dir), "--mfcc", mfcc, "--out", str(tmp_path / "m"))
        assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr, result.stderr


def test_a_fine_tune_keeps_the_front_end_and_decision_of_the_checkpoint_it_starts_from(tmp_path, fsdd_dir):
    # the shipped models' decisions were tuned after training (level gate, word-end commit); a fine-tune
    # that fell back to the default decision silently lost them (latency 190 -> 540 ms for keywords)
    data = jackson_takes(tmp_path / "clips", fsdd_dir, (0, 5))  # take 0 held back, 5 trains
    out = tmp_path / "tuned"
    options = ("--data", str(data), "--init-from", "fsdd-digits", "--epochs", "1", "--threads", "1", "--out", str(out))
    result = run_cli("train", "audio", *options, timeout_s=600)
    assert result.returncode == 0, result.stderr
    shipped, tuned = load_checkpoint("fsdd-digits").config, load_checkpoint(out).config
    assert tuned["decision"] == shipped["decision"] and tuned["decision"]["min_rise_db"] == 10.0
    front_end = AudioFrontEndConfig.from_dict  # the same settings (defaults now written out)
    assert front_end(tuned["front_end"]) == front_end(shipped["front_end"])


def test_init_from_a_checkpoint_with_other_labels_is_a_clear_error(tmp_path, fsdd_dir):
    data = tmp_path / "clips"
    data.mkdir()
    for take in range(6):  # one label only: the shipped digit model has ten
        (data / f"1_george_{take}.wav").symlink_to(fsdd_dir / f"1_george_{take}.wav")
    result = run_cli(
        "train",
        "audio",
        "--data",
        str(data),
        "--init-from",
        "fsdd-digits",
        "--epochs",
        "1",
        "--out",
        str(tmp_path / "m"),
    )
    assert result.returncode == 2
    assert "--init-from fsdd-digits" in result.stderr and "differ from the data's ['background', '1']" in result.stderr
    assert not (tmp_path / "m").exists()


def test_shared_layers_from_the_keyword_model_start_the_digit_model_and_stay_frozen(tmp_path, fsdd_dir):
    data = tmp_path / "clips"
    data.mkdir()
    for digit in (1, 4, 7):
        for take in range(8):  # takes 0-4 held back, 5-7 train
            (data / f"{digit}_lucas_{take}.wav").symlink_to(fsdd_dir / f"{digit}_lucas_{take}.wav")
    out = tmp_path / "model"
    result = run_cli(
        "train",
        "audio",
        "--data",
        str(data),
        "--shared-layers-from",
        "keywords",
        "--freeze-shared-layers",
        "--epochs",
        "1",
        "--out",
        str(out),
        timeout_s=600,
    )
    assert result.returncode == 0, result.stderr
    trained, keywords = load_checkpoint(out), load_checkpoint("keywords")
    assert trained.labels == ["background", "1", "4", "7"]
    assert trained.config["front_end"]["feature_mean"] == keywords.config["front_end"]["feature_mean"]
    shared = {name: value for name, value in keywords.model.state_dict().items() if name.startswith(("convs", "norms"))}
    own = trained.model.state_dict()
    assert all(own[name].equal(value) for name, value in shared.items())  # weights and running statistics kept
    assert not own["hidden_in.0.weight"].equal(keywords.model.state_dict()["hidden_in.0.weight"])


@pytest.mark.slow  # a CLI process per case: the default suite stays under 20 minutes on 2 cores (CI runs slow checks)
def test_shared_layers_options_that_cannot_work_are_clear_errors(tmp_path, fsdd_dir):
    common = ("train", "audio", "--data", str(fsdd_dir), "--epochs", "1", "--out", str(tmp_path / "m"))
    for extra, message in (
        (("--shared-layers-from", "fsdd-digits"), "expected one audio conv SNN classifier"),  # a merged ensemble
        (("--shared-layers-from", "gestures-ae"), "expected one audio conv SNN classifier"),
        (("--freeze-shared-layers",), "--freeze-shared-layers needs --shared-layers-from"),
        (("--shared-layers-from", "keywords", "--channels", "8,8,8"), "--channels: the conv blocks come from"),
        (("--shared-layers-from", "keywords", "--mfcc", "n_mfcc=13"), "differs from --mfcc"),
        (("--shared-layers-from", "keywords", "--init-from", "keywords"), "choose one"),
    ):
        result = run_cli(*common, *extra)
        assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert not (tmp_path / "m").exists()


def test_speech_mean_values_that_cannot_work_are_clear_errors(tmp_path, fsdd_dir):
    for value, expected in (("300,50", "TAU_FRAMES,PRIOR_FRAMES,GATE_Z"), ("0,50,0", "time_constant_frames=0.0")):
        options = ("--data", str(fsdd_dir), f"--speech-mean={value}", "--out", str(tmp_path / "m"))
        result = run_cli("train", "audio", *options)
        assert result.returncode == 2 and f"--speech-mean {value!r}" in result.stderr, result.stderr
        assert expected in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert not (tmp_path / "m").exists()


@pytest.mark.slow  # a CLI process per case: the default suite stays under 20 minutes on 2 cores (CI runs slow checks)
def test_spec_augment_values_that_cannot_work_are_clear_errors(tmp_path, fsdd_dir):
    for value in ("2,80,2", "-1,80,2,3", "1.5,80,2,3", ""):  # empty: an error, not "no masks"
        result = run_cli(
            "train", "audio", "--data", str(fsdd_dir), f"--spec-augment={value}", "--out", str(tmp_path / "m")
        )
        assert result.returncode == 2 and f"--spec-augment {value!r}" in result.stderr, result.stderr
    assert not (tmp_path / "m").exists()


def test_fine_tune_on_one_speakers_own_takes_trains_on_all_and_claims_no_accuracy(tmp_path, fsdd_dir):
    """A user's own voice: one speaker, FSDD-style names with takes 0-1 only (the official test takes).
    Every clip trains (none would be left otherwise), and with nothing held back no accuracy is claimed."""
    data = jackson_takes(tmp_path / "me", fsdd_dir, range(2))
    out = tmp_path / "mine"
    result = run_cli(
        "train", "audio", "--data", str(data), "--init-from", "fsdd-digits-nir", "--epochs", "1", "--out", str(out)
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "no clip held back" in result.stderr and "accuracy 0.0000" not in result.stderr
    training = json.loads((out / "config.json").read_text())["training"]
    assert training["train_clips"] == 20 and training["held_out_clips"] == 0
    assert training["history"][0]["held_out_clip_accuracy"] is None


def test_background_recordings_train_as_background_and_a_folder_without_audio_is_a_clear_error(
    tmp_path, fsdd_dir, shared_data_dir
):
    """``--background-recordings``: field recordings (here two ESC-10 barks) as background-only canvases,
    ``--no-event-weight``: their loss weight; both recorded in the checkpoint. A folder holding no audio
    is named, exit 2, before any epoch."""
    data = jackson_takes(tmp_path / "me", fsdd_dir, range(2))
    field = tmp_path / "field"
    field.mkdir()
    for bark in sorted((shared_data_dir / "esc10" / "fold1" / "dog_bark").iterdir())[:2]:
        (field / bark.name).symlink_to(bark)
    common = ("train", "audio", "--data", str(data), "--init-from", "fsdd-digits-nir", "--epochs", "1")
    out = tmp_path / "mine"
    options = ("--nonspeech-background", "0.5", "--background-recordings", str(field), "--no-event-weight", "1")
    result = run_cli(*common, *options, "--out", str(out))
    assert result.returncode == 0, result.stderr[-2000:]
    settings = json.loads((out / "config.json").read_text())["training"]["settings"]
    assert settings["field_data"] == [str(field)] and settings["canvas"]["field_background_probability"] == 0.5
    assert settings["no_event_weight"] == 1.0 and settings["background_weight"] == 0.1
    zero = run_cli(*common, "--no-event-weight", "0", "--out", str(tmp_path / "never"))
    assert zero.returncode == 2 and "--no-event-weight" in zero.stderr and "Traceback" not in zero.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    bad = run_cli(*common, "--background-recordings", str(empty), "--out", str(tmp_path / "never"))
    assert bad.returncode == 2 and f"--background-recordings {empty}: no audio files" in bad.stderr, bad.stderr
    assert "Traceback" not in bad.stderr and not (tmp_path / "never").exists()


def test_a_fine_tune_of_the_16_khz_sound_model_reads_its_clips_at_16_khz(tmp_path, shared_data_dir):
    """``--init-from sounds`` (16 kHz, 20 ms hops) read the clips at the 8 kHz default and died on
    "Expected input batch_size (568) to match target batch_size (2248)"; the fine-tune now reads and
    frames them as the front end it keeps, and an --mfcc beside --init-from is refused."""
    data = tmp_path / "sounds"
    for label_dir in sorted((shared_data_dir / "esc10" / "fold1").iterdir()):
        (data / label_dir.name).mkdir(parents=True)
        first = sorted(label_dir.iterdir())[0]
        (data / label_dir.name / first.name).symlink_to(first)
    common = ("train", "audio", "--data", str(data), "--init-from", "sounds", "--epochs", "1")
    out = tmp_path / "tuned"
    result = run_cli(*common, "--crop-ms", "2200", "--canvas-ms", "2800", "--out", str(out))
    assert result.returncode == 0, result.stderr[-2000:]
    config = json.loads((out / "config.json").read_text())
    shipped_mfcc = MfccConfig.from_dict(load_checkpoint("sounds").config["front_end"]["mfcc"])
    assert MfccConfig.from_dict(config["front_end"]["mfcc"]) == shipped_mfcc  # (its file predates log_mel)
    assert config["training"]["settings"]["mfcc"]["sample_rate_hz"] == 16000
    both = run_cli(*common, "--mfcc", "n_mfcc=30", "--out", str(tmp_path / "never"))
    assert both.returncode == 2 and "--mfcc: the front end comes from --init-from" in both.stderr
    assert "Traceback" not in both.stderr and not (tmp_path / "never").exists()
