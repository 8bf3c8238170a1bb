"""Damaged audio files: real files written with soundfile, then cut with ``os.truncate``.

A file shorter than its header says is read as far as it goes, the samples before the cut are
kept, and the frames the header promised but the file did not hold are counted in
``drop_counts()["missing_samples"]`` (at the file's own rate) — no warning, no exception. Files
cut inside their header, or holding no samples, stay an :class:`AudioFileError` at construction.
"""

from __future__ import annotations

import os
import struct
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile

from spikestream.sources.audio.audio_file import AudioFileError, AudioFileSource, declared_wav_frames, read_audio

RATE_HZ = 16_000
WAV_HEADER_BYTES = 44  # soundfile's PCM WAV: RIFF, fmt (16 bytes), data chunk header


def tone(frame_count: int, channels: int = 1) -> np.ndarray:
    """A 440 Hz tone at half scale, ``[frame_count]`` or ``[frame_count, channels]`` float32."""
    samples = (0.5 * np.sin(2 * np.pi * 440 * np.arange(frame_count) / RATE_HZ)).astype(np.float32)
    return samples if channels == 1 else np.repeat(samples[:, None], channels, axis=1)


def read_all(source: AudioFileSource) -> np.ndarray:
    """Every sample of one pass, with warnings turned into errors (the damage must not warn)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        chunks = [chunk.payload for chunk in source]
    return np.concatenate(chunks) if chunks else np.zeros(0, np.float32)


def test_intact_file_reports_no_missing_samples(tmp_path: Path) -> None:
    path = tmp_path / "intact.wav"
    soundfile.write(path, tone(RATE_HZ), RATE_HZ, subtype="PCM_16")
    source = AudioFileSource(path, RATE_HZ)
    assert len(read_all(source)) == RATE_HZ
    assert source.drop_counts() == {"nonfinite_samples": 0}
    assert declared_wav_frames(path) == RATE_HZ


def test_wav_cut_mid_data_keeps_the_samples_and_counts_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "cut.wav"
    soundfile.write(path, tone(RATE_HZ), RATE_HZ, subtype="PCM_16")
    intact, _ = soundfile.read(path, dtype="float32")
    kept_frames = 6_000
    os.truncate(path, WAV_HEADER_BYTES + 2 * kept_frames + 1)  # and half of the next frame
    assert soundfile.info(str(path)).frames == kept_frames  # libsndfile quietly shortens: the loss must not vanish
    source = AudioFileSource(path, RATE_HZ)
    samples = read_all(source)
    np.testing.assert_array_equal(samples, intact[:kept_frames])
    assert source.drop_counts() == {"nonfinite_samples": 0, "missing_samples": RATE_HZ - kept_frames}
    read_all(source)  # a second pass counts again, not twice
    assert source.drop_counts()["missing_samples"] == RATE_HZ - kept_frames
    np.testing.assert_array_equal(read_audio(path, RATE_HZ), intact[:kept_frames])


def test_resampled_stereo_wav_counts_missing_frames_at_the_file_rate(tmp_path: Path) -> None:
    path = tmp_path / "stereo8k.wav"
    file_rate_hz, frame_count, kept_frames = 8_000, 8_000, 3_000
    soundfile.write(path, tone(frame_count, channels=2), file_rate_hz, subtype="FLOAT")
    os.truncate(path, os.path.getsize(path) - 4 * 2 * (frame_count - kept_frames))  # the data chunk is last
    source = AudioFileSource(path, RATE_HZ)
    samples = read_all(source)
    assert abs(len(samples) - 2 * kept_frames) <= 2  # resampled to 16 kHz
    assert source.drop_counts()["missing_samples"] == frame_count - kept_frames


def test_flac_cut_mid_stream_keeps_what_decoded_and_counts_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "cut.flac"
    soundfile.write(path, tone(4 * RATE_HZ), RATE_HZ, subtype="PCM_16")
    intact, _ = soundfile.read(path, dtype="float32")
    os.truncate(path, os.path.getsize(path) // 2)
    assert soundfile.info(str(path)).frames == 4 * RATE_HZ  # the header still promises all of them
    source = AudioFileSource(path, RATE_HZ)
    samples = read_all(source)  # libsndfile fails part way: no warning, no exception
    assert 0 < len(samples) < 4 * RATE_HZ
    np.testing.assert_array_equal(samples, intact[: len(samples)])
    assert source.drop_counts()["missing_samples"] == 4 * RATE_HZ - len(samples)


def test_wav_of_unknown_length_is_not_counted_as_damaged(tmp_path: Path) -> None:
    path = tmp_path / "streamed.wav"
    soundfile.write(path, tone(RATE_HZ), RATE_HZ, subtype="PCM_16")
    content = bytearray(path.read_bytes())
    data_at = content.find(b"data")
    content[data_at + 4 : data_at + 8] = struct.pack("<I", 0xFFFFFFFF)  # what a writer that never finished leaves
    path.write_bytes(bytes(content))
    source = AudioFileSource(path, RATE_HZ)
    assert len(read_all(source)) == RATE_HZ and source.drop_counts() == {"nonfinite_samples": 0}


@pytest.mark.parametrize("kept_bytes", [WAV_HEADER_BYTES, 30])
def test_header_only_or_cut_header_is_an_audio_file_error(tmp_path: Path, kept_bytes: int) -> None:
    path = tmp_path / "header.wav"
    soundfile.write(path, tone(RATE_HZ), RATE_HZ, subtype="PCM_16")
    os.truncate(path, kept_bytes)
    with pytest.raises(AudioFileError, match="header.wav"):
        AudioFileSource(path, RATE_HZ)
