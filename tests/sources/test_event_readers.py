"""Event-file readers and writers: the real recordings in ../shared/data/dvs against reference
readers (tonic, expelliarmus), exact write/read round trips, chunked streaming, format detection
by content, and the error policy for missing, empty, corrupt and truncated files."""

from __future__ import annotations

import io
import shutil
import struct
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
import tonic.io
from expelliarmus import Wizard

from spikestream.sources.events.event_array import EVENT_DTYPE, SensorSize, make_events
from spikestream.sources.events.formats import read_prophesee, write_formats
from spikestream.sources.events.formats.dispatch import detect_format, open_recording
from spikestream.sources.events.formats.read_aedat31 import PACKET_HEADER
from spikestream.sources.events.formats.recording import EventFileError, EventFileWarning, MissingSensorSizeError
from spikestream.sources.events.simulation.dvs_gesture_dataset import (
    DVSGestureFolder,
    labels_path_for,
    read_gesture_labels,
)

EVT3_PLUGIN_SIZE = SensorSize(1280, 720)


def random_events(seed: int, count: int, width: int, height: int, span_us: int, t0_us: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t_us = np.sort(rng.integers(t0_us, t0_us + span_us, count))
    return make_events(rng.integers(0, width, count), rng.integers(0, height, count), t_us, rng.integers(0, 2, count))


def read_words(path: Path, dtype: str) -> np.ndarray:
    header = read_prophesee.read_prophesee_header(path)
    return np.fromfile(path, dtype=dtype, offset=header.data_offset)


# --- real recordings -------------------------------------------------------------------------


def test_real_aedat4_matches_tonic(dvs_dir: Path) -> None:
    path = dvs_dir / "sample.aedat4"
    recording = open_recording(path)
    events = recording.read_all()
    assert recording.format_name == "aedat4"
    assert recording.sensor_size == SensorSize(320, 240)  # the header's sizeX/sizeY (a DVXplorer), not 346x260
    assert len(events) == 111_954
    assert events["t"][-1] - events["t"][0] == 589_917  # 0.59 s
    assert events["x"].max() == 319 and events["y"].max() == 239
    assert np.all(np.diff(events["t"]) >= 0)
    reference = tonic.io.read_aedat4(str(path))
    for name, ref_name in (("x", "x"), ("y", "y"), ("t", "t"), ("p", "on")):
        np.testing.assert_array_equal(events[name], reference[ref_name].astype(events[name].dtype))
    assert recording.t0_us == int(reference["t"][0])


def test_real_evt3_matches_expelliarmus_except_its_time_bug(dvs_dir: Path) -> None:
    path = dvs_dir / "evt3_sample.raw"
    recording = open_recording(path)
    events = recording.read_all()
    assert recording.format_name == "evt3"
    assert recording.sensor_size == EVT3_PLUGIN_SIZE  # from '% plugin_name hal_plugin_gen41_evk3'
    assert len(events) == 219_596 and recording.dropped_out_of_range == 0
    assert events["x"].max() == 1279 and events["y"].max() == 719
    # TIME_HIGH words run 2861..2863 and 8812 TIME_LOW words tick 1 µs apart: 8.8 ms, not 54 ms
    assert events["t"][0] == 2861 << 12 and events["t"][-1] - events["t"][0] == 8_801
    assert np.all(np.diff(events["t"]) >= 0)
    reference = Wizard(encoding="evt3", fpath=path).read()
    for name in ("x", "y", "p"):
        np.testing.assert_array_equal(events[name], reference[name].astype(events[name].dtype))
    excess_us = reference["t"] - events["t"]  # expelliarmus adds 4096 µs at every TIME_LOW decrease
    assert np.all(excess_us % 4096 == 0) and np.all(np.diff(excess_us) >= 0) and excess_us[-1] == 11 * 4096


def test_real_ncars_dat_matches_expelliarmus(dvs_dir: Path) -> None:
    path = dvs_dir / "sample_ncars.dat"
    recording = open_recording(path)
    events = recording.read_all()
    assert recording.format_name == "dat" and recording.sensor_size == SensorSize(120, 100)
    assert len(events) == 2_009 and events["t"][-1] - events["t"][0] == 99_952  # 0.1 s
    assert events["x"].max() < 120 and events["y"].max() < 100
    reference = Wizard(encoding="dat", fpath=path).read()
    for name in ("x", "y", "t", "p"):
        np.testing.assert_array_equal(events[name], reference[name].astype(events[name].dtype))


def test_real_nmnist_matches_tonic(dvs_dir: Path) -> None:
    path = dvs_dir / "sample_nmnist.bin"
    recording = open_recording(path)
    events = recording.read_all()
    assert recording.format_name == "nmnist" and recording.sensor_size == SensorSize(34, 34)
    assert len(events) == 4_325 and (events["t"][0], events["t"][-1]) == (654, 311_175)  # 0.31 s
    assert events["x"].max() <= 33 and events["y"].max() <= 33
    reference = tonic.io.read_mnist_file(str(path), dtype=np.dtype([("x", int), ("y", int), ("t", int), ("p", int)]))
    for name in ("x", "y", "t", "p"):
        np.testing.assert_array_equal(events[name], reference[name])


@pytest.mark.parametrize("name", ["sample.aedat4", "evt3_sample.raw", "sample_ncars.dat", "sample_nmnist.bin"])
def test_real_chunks_concatenate_to_read_all(dvs_dir: Path, name: str) -> None:
    recording = open_recording(dvs_dir / name)
    whole = recording.read_all()
    for max_events in (1_000, 4_096, 70_001):
        chunks = list(recording.iter_chunks(max_events))
        assert all(len(chunk) == max_events for chunk in chunks[:-1]) and 0 < len(chunks[-1]) <= max_events
        assert all(chunk.dtype == EVENT_DTYPE for chunk in chunks)
        np.testing.assert_array_equal(np.concatenate(chunks), whole)


def test_evt3_decoder_state_carries_across_any_block_split(dvs_dir: Path) -> None:
    words = read_words(dvs_dir / "evt3_sample.raw", "<u2")[:40_000]
    whole = read_prophesee.decode_evt3_words(words, dict(read_prophesee._INITIAL_STATE["evt3"]))
    cuts = np.sort(np.random.default_rng(3).choice(np.arange(1, len(words)), 300, replace=False))
    state = dict(read_prophesee._INITIAL_STATE["evt3"])
    pieces = [read_prophesee.decode_evt3_words(piece, state) for piece in np.split(words, cuts)]
    np.testing.assert_array_equal(np.concatenate(pieces), whole)


def test_evt3_vectors_and_time_words_by_hand() -> None:
    words = np.array([0x0005, 0x8001, 0x60C8, 0x0064, 0x3800, 0x4E38, 0x5081, 0x2805, 0x8002, 0x2006], dtype=np.uint16)
    events = read_prophesee.decode_evt3_words(words, dict(read_prophesee._INITIAL_STATE["evt3"]))
    # the ADDR_Y before the first TIME_HIGH is skipped (y stays 0 until 0x0064)
    assert events["x"].tolist() == [3, 4, 5, 9, 10, 11, 12, 19, 5, 6]  # VECT_12 at base 0, VECT_8 at base 12
    assert events["y"].tolist() == [100] * 10
    assert events["p"].tolist() == [1] * 6 + [1, 1, 1, 0]
    assert events["t"].tolist() == [4096 + 200] * 9 + [8192]  # TIME_HIGH resets the low part
    state = dict(read_prophesee._INITIAL_STATE["evt3"])
    split = [read_prophesee.decode_evt3_words(piece, state) for piece in (words[:6], words[6:8], words[8:])]
    np.testing.assert_array_equal(np.concatenate(split), events)  # also when the reset comes in a later block


# --- writers: exact round trips ---------------------------------------------------------------

WRITERS = {
    "dat": (".dat", lambda path, events, size: write_formats.write_dat(path, events, size), 640, 480, 10**9),
    "evt2": (".raw", lambda path, events, size: write_formats.write_evt2(path, events, size), 640, 480, 10**11),
    "evt3": (".raw", lambda path, events, size: write_formats.write_evt3(path, events, size), 1280, 720, 10**9),
    "nmnist": (".bin", lambda path, events, size: write_formats.write_nmnist(path, events), 34, 34, 1 << 23),
    "aedat3.1": (
        ".aedat",
        lambda path, events, size: write_formats.write_dvs_gesture_aedat31(path, events, special_packet=True),
        128,
        128,
        1 << 33,
    ),
    "npy": (".npy", lambda path, events, size: write_formats.write_npy(path, events), 640, 480, 10**12),
    "npz": (".npz", lambda path, events, size: write_formats.write_npz(path, events, size), 640, 480, 10**12),
}


def write_sample(
    tmp_path: Path, format_name: str, count: int = 20_000, seed: int = 0, span_us: int | None = None
) -> tuple[Path, np.ndarray, SensorSize]:
    suffix, write, width, height, default_span_us = WRITERS[format_name]
    events = random_events(seed, count, width, height, span_us or default_span_us)
    size = SensorSize(width, height)
    return write(tmp_path / f"sample{suffix}", events, size), events, size


@pytest.mark.parametrize("format_name", list(WRITERS))
def test_write_then_read_is_exact(tmp_path: Path, format_name: str) -> None:
    path, events, size = write_sample(tmp_path, format_name)
    recording = open_recording(path, sensor_size=size if format_name == "npy" else None)
    assert recording.format_name == format_name and recording.sensor_size == size
    np.testing.assert_array_equal(recording.read_all(), events)
    for max_events in (1, 777, 65_536):
        chunks = list(recording.iter_chunks(max_events))
        assert max(len(chunk) for chunk in chunks) == min(max_events, len(events))
        np.testing.assert_array_equal(np.concatenate(chunks), events)
    assert recording.t0_us == events["t"][0]


@pytest.mark.parametrize("format_name", ["evt2", "evt3", "dat"])
def test_prophesee_times_survive_wraps_and_long_gaps(tmp_path: Path, format_name: str) -> None:
    t_us = {
        "evt2": [5, 64, 1 << 33, (1 << 34) + 7, 5 * (1 << 34) + 99],
        "evt3": [0, 4095, 4096, 1 << 24, 10**9, 10**9 + 3 * (1 << 24) + 1],
        "dat": [0, (1 << 31) - 1, (1 << 32) - 10, (1 << 32) + 5, (1 << 32) + (1 << 31) - 1],
    }[format_name]
    events = make_events(np.arange(len(t_us)), np.arange(len(t_us)), np.array(t_us), np.arange(len(t_us)) % 2)
    _, write, *_ = WRITERS[format_name]
    path = write(tmp_path / f"gaps.{'dat' if format_name == 'dat' else 'raw'}", events, SensorSize(64, 64))
    np.testing.assert_array_equal(open_recording(path).read_all(), events)


@pytest.mark.parametrize("format_name", ["dat", "evt2"])
def test_expelliarmus_reads_our_dat_and_evt2_identically(tmp_path: Path, format_name: str) -> None:
    # expelliarmus ignores EVT2 wraps (2**34 µs)
    path, events, _ = write_sample(tmp_path, format_name, seed=5, span_us=10**9)
    reference = Wizard(encoding=format_name, fpath=path).read()
    for name in ("x", "y", "t", "p"):
        np.testing.assert_array_equal(reference[name], events[name].astype(reference[name].dtype))


def test_expelliarmus_reads_our_evt3_inside_one_time_high_window(tmp_path: Path) -> None:
    events = random_events(6, 5_000, 1280, 720, 4_000, t0_us=7 * 4096)  # no TIME_LOW decrease: its bug stays silent
    path = write_formats.write_evt3(tmp_path / "window.raw", events, EVT3_PLUGIN_SIZE)
    reference = Wizard(encoding="evt3", fpath=path).read()
    for name in ("x", "y", "t", "p"):
        np.testing.assert_array_equal(reference[name], events[name].astype(reference[name].dtype))


def test_tonic_aedat31_reader_agrees_with_our_writer(tmp_path: Path) -> None:
    events = random_events(7, 10_000, 128, 128, 10**8)
    path = write_formats.write_dvs_gesture_aedat31(tmp_path / "user01_led.aedat", events, packet_events=3_000)
    version, start, _ = tonic.io.read_aedat_header_from_file(str(path))
    raw = tonic.io.get_aer_events_from_file(str(path), version, start)
    assert version == 3.1
    np.testing.assert_array_equal((raw["address"] >> 17) & 0x1FFF, events["x"])
    np.testing.assert_array_equal((raw["address"] >> 2) & 0x1FFF, events["y"])
    np.testing.assert_array_equal((raw["address"] >> 1) & 1, events["p"])
    np.testing.assert_array_equal(raw["timeStamp"], events["t"])


def test_aedat31_skips_invalid_events_and_other_packet_types(tmp_path: Path) -> None:
    events = random_events(8, 1_000, 128, 128, 10**6)
    path = write_formats.write_dvs_gesture_aedat31(tmp_path / "g.aedat", events, special_packet=True)
    data = bytearray(path.read_bytes())
    recording = open_recording(path)
    payload_offset = next(recording.iter_packets())[0]
    for index in (0, 10, 999):  # clear the valid bit of three events
        data[payload_offset + 8 * index] &= 0xFE
    path.write_bytes(bytes(data))
    kept = open_recording(path)
    np.testing.assert_array_equal(kept.read_all(), np.delete(events, [0, 10, 999]))
    assert kept.invalid_events == 3


def test_t0_probe_keeps_the_counts_of_the_latest_pass(tmp_path: Path) -> None:
    events = random_events(9, 20_000, 128, 128, 10**6)  # more than the first decode block
    path = write_formats.write_dvs_gesture_aedat31(tmp_path / "g.aedat", events)
    data = bytearray(path.read_bytes())
    payload_offset = next(open_recording(path).iter_packets())[0]
    for index in (0, 10, 19_999):  # the last one lies beyond the block t0_us decodes
        data[payload_offset + 8 * index] &= 0xFE
    path.write_bytes(bytes(data))
    recording = open_recording(path)
    recording.read_all()
    assert recording.t0_us == events["t"][1] and recording.invalid_events == 3


def test_writers_reject_what_the_format_cannot_hold(tmp_path: Path) -> None:
    unsorted = make_events([1, 2], [1, 2], [10, 5], [0, 1])
    with pytest.raises(ValueError, match="sorted"):
        write_formats.write_evt3(tmp_path / "a.raw", unsorted)
    with pytest.raises(ValueError, match="x < 34"):
        write_formats.write_evt2(tmp_path / "b.raw", make_events([40], [1], [0], [1]), SensorSize(34, 34))
    with pytest.raises(ValueError, match="240"):
        write_formats.write_nmnist(tmp_path / "c.bin", make_events([1], [240], [0], [1]))
    with pytest.raises(ValueError, match="2\\*\\*23"):
        write_formats.write_nmnist(tmp_path / "d.bin", make_events([1], [1], [1 << 23], [1]))


# --- detection, geometry, bounds -------------------------------------------------------------


def test_content_decides_over_a_misleading_extension(tmp_path: Path, dvs_dir: Path) -> None:
    cases = {"evt3_as.dat": dvs_dir / "evt3_sample.raw", "aedat4_as.raw": dvs_dir / "sample.aedat4"}
    for name, source in cases.items():
        shutil.copyfile(source, tmp_path / name)
    dat_path, dat_events, _ = write_sample(tmp_path, "dat")
    npz_path, npz_events, _ = write_sample(tmp_path, "npz")
    (tmp_path / "dat_as.raw").write_bytes(dat_path.read_bytes())
    (tmp_path / "npz_as.bin").write_bytes(npz_path.read_bytes())
    assert detect_format(tmp_path / "evt3_as.dat") == "evt3"
    assert detect_format(tmp_path / "aedat4_as.raw") == "aedat4"
    assert detect_format(tmp_path / "dat_as.raw") == "dat"
    assert detect_format(tmp_path / "npz_as.bin") == "npz"
    assert len(open_recording(tmp_path / "evt3_as.dat").read_all()) == 219_596
    assert len(open_recording(tmp_path / "aedat4_as.raw").read_all()) == 111_954
    np.testing.assert_array_equal(open_recording(tmp_path / "dat_as.raw").read_all(), dat_events)
    np.testing.assert_array_equal(open_recording(tmp_path / "npz_as.bin").read_all(), npz_events)


def test_geometry_from_headers_or_required(tmp_path: Path) -> None:
    events = random_events(9, 100, 200, 100, 10**6)
    with_size = write_formats.write_evt3(tmp_path / "with.raw", events, SensorSize(304, 240))
    without = write_formats.write_evt2(tmp_path / "without.raw", events)
    assert open_recording(with_size).sensor_size == SensorSize(304, 240)
    with pytest.raises(EventFileError, match="without.raw.*sensor_size"):
        open_recording(without)
    assert open_recording(without, sensor_size=SensorSize(200, 100)).sensor_size == SensorSize(200, 100)
    assert open_recording(write_formats.write_dat(tmp_path / "nohead.dat", events)).sensor_size == SensorSize(120, 100)
    with pytest.raises(EventFileError, match="x.npy.*sensor_size"):
        open_recording(write_formats.write_npy(tmp_path / "x.npy", events))


def test_out_of_range_events_are_dropped_and_counted(tmp_path: Path) -> None:
    events = random_events(10, 5_000, 640, 480, 10**6)
    path = write_formats.write_evt3(tmp_path / "big.raw", events, SensorSize(640, 480))
    small = SensorSize(320, 240)
    recording = open_recording(path, sensor_size=small)
    inside = (events["x"] < 320) & (events["y"] < 240)
    np.testing.assert_array_equal(recording.read_all(), events[inside])
    assert recording.dropped_out_of_range == int(np.count_nonzero(~inside)) > 0
    signed = np.zeros(3, dtype=[("x", "<i4"), ("y", "<i4"), ("t", "<i8"), ("p", "u1")])
    signed["x"], signed["y"], signed["t"] = [-1, 5, 65_541], [1, 1, 1], [0, 1, 2]  # -1, 65541 must not wrap into range
    np.save(tmp_path / "signed.npy", signed)
    recording = open_recording(tmp_path / "signed.npy", sensor_size=SensorSize(10, 10))
    assert recording.read_all()["x"].tolist() == [5] and recording.dropped_out_of_range == 2


# --- bad input -------------------------------------------------------------------------------


def test_missing_empty_and_unknown_files(tmp_path: Path) -> None:
    with pytest.raises(EventFileError, match="nothere.aedat4.*no such file"):
        open_recording(tmp_path / "nothere.aedat4")
    for suffix in (".aedat4", ".raw", ".dat", ".bin", ".npy", ".npz", ".aedat"):
        (tmp_path / f"empty{suffix}").write_bytes(b"")
        with pytest.raises(EventFileError, match=f"empty\\{suffix}.*empty file"):
            open_recording(tmp_path / f"empty{suffix}")
    (tmp_path / "notes.txt").write_bytes(b"hello world\n")
    with pytest.raises(EventFileError, match="notes.txt.*unknown format"):
        open_recording(tmp_path / "notes.txt")
    (tmp_path / "fake.aedat4").write_bytes(b"not an aedat file at all")
    with pytest.raises(EventFileError, match="fake.aedat4.*AEDAT 4 magic"):
        open_recording(tmp_path / "fake.aedat4")


@pytest.mark.parametrize("format_name", ["dat", "evt2", "evt3", "nmnist", "aedat3.1", "npy"])
def test_truncated_files_raise_or_yield_the_complete_prefix(tmp_path: Path, format_name: str) -> None:
    path, events, size = write_sample(tmp_path, format_name, count=2_000)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 3])  # cut inside the last event / word
    size_arg = size if format_name == "npy" else None
    with pytest.raises(EventFileError, match=f"{path.name}.*truncated"):
        open_recording(path, sensor_size=size_arg)
    with pytest.warns(EventFileWarning, match="truncated"):
        recording = open_recording(path, sensor_size=size_arg, allow_truncated=True)
    salvaged = recording.read_all()
    assert recording.truncation and 0 < len(salvaged) < len(events)
    np.testing.assert_array_equal(salvaged, events[: len(salvaged)])
    assert len(salvaged) >= len(events) - 1


def test_aedat4_truncated_and_corrupted_copies(tmp_path: Path, dvs_dir: Path) -> None:
    original = (dvs_dir / "sample.aedat4").read_bytes()
    reference = open_recording(dvs_dir / "sample.aedat4").read_all()
    cut = tmp_path / "cut.aedat4"
    cut.write_bytes(original[:500_000])
    recording = open_recording(cut)
    delivered = []
    with pytest.raises(EventFileError, match="cut.aedat4.*truncated"):
        for chunk in recording.iter_chunks(10_000):
            delivered.append(chunk)
    assert 0 < sum(map(len, delivered)) < len(reference)
    with pytest.warns(EventFileWarning):
        salvaged = open_recording(cut, allow_truncated=True).read_all()
    np.testing.assert_array_equal(salvaged, reference[: len(salvaged)])
    (tmp_path / "head.aedat4").write_bytes(original[:300])
    with pytest.raises(EventFileError, match="head.aedat4.*header"):
        open_recording(tmp_path / "head.aedat4")
    broken_xml = bytearray(original)
    broken_xml[100:104] = b"XXXX"
    (tmp_path / "xml.aedat4").write_bytes(bytes(broken_xml))
    with pytest.raises(EventFileError, match="xml.aedat4.*header"):
        open_recording(tmp_path / "xml.aedat4")
    broken_packet = bytearray(original)
    broken_packet[400_000:400_008] = b"\xff" * 8
    (tmp_path / "packet.aedat4").write_bytes(bytes(broken_packet))
    with pytest.raises(EventFileError, match="packet.aedat4.*corrupt packet"):
        open_recording(tmp_path / "packet.aedat4").read_all()


def test_corrupt_headers_and_header_only_files(tmp_path: Path) -> None:
    cases = {
        "version.raw": (b"% evt 4.0\n% end\n" + b"\x00" * 8, "EVT 2.0 or 3.0"),
        "geometry.raw": (b"% evt 3.0\n% geometry 12x\n" + b"\x00" * 8, "malformed header line"),
        "unterminated.raw": (b"% evt 3.0\n% geometry 640x480", "without end"),
        "eventsize.dat": (b"% Data file containing CD events\n" + bytes([0, 7]) + b"\x00" * 14, "event size 7"),
        "headeronly.raw": (b"% evt 3.0\n% geometry 640x480\n% end\n", "no event data"),
        "headeronly.dat": (b"% Height 100\n% Width 120\n" + bytes([0, 8]), "no event data"),
        "noend.aedat": (b"#!AER-DAT3.1\r\n#Format: RAW\r\n" + b"\x00" * 64, "END-HEADER"),
        "packet.aedat": (
            b"#!AER-DAT3.1\r\n#!END-HEADER\r\n" + np.array([(1, 1, 0, 4, 0, 9, 9, 9)], PACKET_HEADER).tobytes(),
            "corrupt packet header",
        ),
        "header.npy": (b"\x93NUMPY\x01\x00\x10\x00{'descr': broken" + b" " * 10, "corrupt .npy header"),
        "zip.npz": (b"PK\x03\x04" + b"\x00" * 40, "unreadable .npz"),
    }
    for name, (content, message) in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(EventFileError, match=f"{name}.*{message}"):
            open_recording(tmp_path / name, sensor_size=SensorSize(64, 64) if name.endswith(".npy") else None)


@pytest.mark.parametrize("name", ["sample.aedat4", "sample_aedat2_header.aedat"])
def test_a_cut_aedat_signature_is_reported_as_truncated_not_as_a_version(
    tmp_path: Path, dvs_dir: Path, name: str
) -> None:
    for size in (2, 10, 11):
        cut = tmp_path / f"cut{size}{Path(name).suffix}"
        cut.write_bytes((dvs_dir / name).read_bytes()[:size])
        with pytest.raises(EventFileError) as caught:
            open_recording(cut)
        message = str(caught.value)
        assert cut.name in message and f"found a {size}-byte file" in message and "truncated" in message
        assert "expected an AEDAT 4.0, 3.1 or 2.0 header" in message and "Re-copy the file" in message
        assert "version" not in message
    (tmp_path / "head.aedat4").write_bytes((dvs_dir / "sample.aedat4").read_bytes()[:16])  # magic, half a length field
    with pytest.raises(EventFileError, match="head.aedat4.*16-byte file, too short to hold an AEDAT 4.0 header"):
        open_recording(tmp_path / "head.aedat4")


def test_content_decides_and_a_refused_misnamed_file_gets_rename_advice(tmp_path: Path, dvs_dir: Path) -> None:
    events = random_events(13, 500, 64, 48, 10**6)
    npy = write_formats.write_npy(tmp_path / "events.aedat4", events)
    with pytest.raises(MissingSensorSizeError) as caught:
        open_recording(npy)
    message = str(caught.value)
    assert "events.aedat4 holds a NumPy .npy array (by its content); rename it to .npy" in message
    assert "--sensor WxH" in message
    recording = open_recording(npy, sensor_size=SensorSize(64, 48))
    assert recording.format_name == "npy"
    np.testing.assert_array_equal(recording.read_all(), events)
    named = {
        "z.aedat4": write_formats.write_npz(tmp_path / "z.npz", events, SensorSize(64, 48)),
        "e.aedat4": write_formats.write_evt3(tmp_path / "e.raw", events, SensorSize(64, 48)),
        "g.aedat4": write_formats.write_dvs_gesture_aedat31(tmp_path / "g.aedat", events),
    }
    for name, source in named.items():
        shutil.copyfile(source, tmp_path / name)
        np.testing.assert_array_equal(open_recording(tmp_path / name).read_all(), events)
    shutil.copyfile(write_formats.write_evt2(tmp_path / "nogeometry.raw", events), tmp_path / "nogeometry.npy")
    with pytest.raises(MissingSensorSizeError, match="nogeometry.npy holds a Prophesee EVT 2.0 .*rename it to .raw"):
        open_recording(tmp_path / "nogeometry.npy")
    (tmp_path / "notes.xyz").write_bytes(b"hello world\n")
    with pytest.raises(EventFileError, match="notes.xyz.*name them .bin or .dat"):
        open_recording(tmp_path / "notes.xyz")


def _npy_bytes(array: np.ndarray, shape: tuple[int, ...] | None = None) -> bytes:
    """``array`` as .npy bytes; ``shape`` replaces the shape its header states."""
    buffer = io.BytesIO()
    header = {"descr": np.lib.format.dtype_to_descr(array.dtype), "fortran_order": False, "shape": shape or array.shape}
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue() + array.tobytes()


def test_npz_is_streamed_and_never_allocates_what_a_header_claims(tmp_path: Path) -> None:
    events = random_events(14, 3_000, 64, 48, 10**6)
    claiming = tmp_path / "claims.npz"
    with zipfile.ZipFile(claiming, "w") as archive:
        archive.writestr("events.npy", _npy_bytes(events[:10], shape=(10**9,)))  # numpy.load allocated 16 GB for this
        archive.writestr("sensor_size.npy", _npy_bytes(np.array([64, 48])))
    tracemalloc.start()
    try:
        with pytest.raises(EventFileError, match="claims.npz.*truncated.*announce 1000000000 events, .* holds 10"):
            open_recording(claiming)
        with pytest.warns(EventFileWarning):
            salvaged = open_recording(claiming, allow_truncated=True).read_all()
        peak_bytes = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak_bytes < 20 << 20
    np.testing.assert_array_equal(salvaged, events[:10])
    compressed = tmp_path / "compressed.npz"
    with compressed.open("wb") as handle:
        np.savez_compressed(handle, x=events["x"], y=events["y"], t=events["t"], p=events["p"], sensor_size=[64, 48])
    recording = open_recording(compressed)
    assert recording.sensor_size == SensorSize(64, 48)
    chunks = list(recording.iter_chunks(700))
    assert len(chunks) == 5
    np.testing.assert_array_equal(np.concatenate(chunks), events)
    damaged = bytearray(write_formats.write_npz(tmp_path / "crc.npz", events, SensorSize(64, 48)).read_bytes())
    damaged[2_000] ^= 0xFF  # inside the events member's records: the zip CRC shows it at the member's end
    (tmp_path / "crc.npz").write_bytes(bytes(damaged))
    with pytest.raises(EventFileError, match="crc.npz.*corrupt .npz member"):
        open_recording(tmp_path / "crc.npz").read_all()


def test_evt3_vectors_past_uint16_do_not_wrap_into_the_sensor() -> None:
    # one VECT_BASE_X at 0, then 5462 full VECT_12 words: x climbs to 65543, past the uint16 field
    words = np.array([0x8000, 0x0005, 0x3000] + [0x4FFF] * 5462, dtype=np.uint16)
    events = read_prophesee.decode_evt3_words(words, dict(read_prophesee._INITIAL_STATE["evt3"]))
    assert len(events) == 12 * 5462
    assert np.count_nonzero(events["x"] < 64) == 64  # the first 64 only; x = 65536.. used to wrap back to 0..
    assert events["x"][-8:].tolist() == [65535] * 8


def _aedat4_field_offset(ioheader: bytes, field: int) -> int:
    (table,) = struct.unpack_from("<I", ioheader, 0)
    vtable = table - struct.unpack_from("<i", ioheader, table)[0]
    return table + struct.unpack_from("<H", ioheader, vtable + 4 + 2 * field)[0]


def test_aedat4_damaged_headers_raise_event_file_error_not_a_rust_panic(tmp_path: Path, dvs_dir: Path) -> None:
    original = (dvs_dir / "sample.aedat4").read_bytes()
    ioheader = original[18 : 18 + struct.unpack_from("<I", original, 14)[0]]
    description = _aedat4_field_offset(ioheader, 2)
    string_at = description + struct.unpack_from("<I", ioheader, description)[0]
    cases = {
        "length.aedat4": (14, struct.pack("<I", 0xF0000000), "truncated header .it announces 4026531840 bytes"),
        "string.aedat4": (18 + string_at, struct.pack("<I", 0xAA000000), "corrupt IOHeader .description of"),
        "utf8.aedat4": (18 + string_at + 40, b"\xb4", "corrupt IOHeader .'utf-8' codec"),
        "vtable.aedat4": (
            18 + struct.unpack_from("<I", ioheader, 0)[0],
            struct.pack("<i", -(1 << 30)),
            "corrupt IOHeader .vtable",
        ),
        "compression.aedat4": (18 + _aedat4_field_offset(ioheader, 0), struct.pack("<i", 9), "compression code 9"),
    }
    for name, (offset, patch, message) in cases.items():
        damaged = bytearray(original)
        damaged[offset : offset + len(patch)] = patch
        (tmp_path / name).write_bytes(bytes(damaged))
        with pytest.raises(EventFileError, match=f"{name}.*{message}"):
            open_recording(tmp_path / name)
    damaged = bytearray(original)
    first_packet = 18 + len(ioheader)
    damaged[first_packet + 4 : first_packet + 8] = struct.pack("<I", 0xFFFFFF00)  # aedat would allocate 4 GiB first
    (tmp_path / "packet.aedat4").write_bytes(bytes(damaged))
    with pytest.raises(EventFileError, match="packet.aedat4.*corrupt packet at byte 2334"):
        open_recording(tmp_path / "packet.aedat4").read_all()


def test_aedat4_cut_between_packets_is_truncated(tmp_path: Path, dvs_dir: Path) -> None:
    original = (dvs_dir / "sample.aedat4").read_bytes()
    reference = open_recording(dvs_dir / "sample.aedat4").read_all()
    offset = 18 + struct.unpack_from("<I", original, 14)[0]
    for _ in range(40):
        offset += 8 + struct.unpack_from("<iI", original, offset)[1]
    for cut_at, detail in ((offset, "the file ends at byte"), (offset + 3, "packet header at byte")):
        (tmp_path / "cut.aedat4").write_bytes(original[:cut_at])  # aedat ends these quietly
        delivered = []
        with pytest.raises(EventFileError, match=f"cut.aedat4.*truncated.*{detail}"):
            for chunk in open_recording(tmp_path / "cut.aedat4").iter_chunks(5_000):
                delivered.append(chunk)
        assert 0 < sum(map(len, delivered)) < len(reference)
        with pytest.warns(EventFileWarning, match=detail):
            salvaged = open_recording(tmp_path / "cut.aedat4", allow_truncated=True).read_all()
        np.testing.assert_array_equal(salvaged, reference[: len(salvaged)])
    index_at = struct.unpack_from("<q", original, 18 + _aedat4_field_offset(original[18:offset], 1))[0]
    (tmp_path / "noindex.aedat4").write_bytes(original[:index_at])  # every packet, only the index lost
    np.testing.assert_array_equal(open_recording(tmp_path / "noindex.aedat4").read_all(), reference)


def test_npz_truncated_and_npy_wrong_layout(tmp_path: Path) -> None:
    path, _, _ = write_sample(tmp_path, "npz", count=1_000)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(EventFileError, match="sample.npz.*unreadable"):
        open_recording(path)
    np.save(tmp_path / "table.npy", np.zeros((5, 4)))
    with pytest.raises(EventFileError, match="table.npy.*1-D structured"):
        open_recording(tmp_path / "table.npy", sensor_size=SensorSize(8, 8))
    floats = np.zeros(3, dtype=[("x", "<u2"), ("y", "<u2"), ("t", "<f8"), ("p", "u1")])
    np.save(tmp_path / "floats.npy", floats)
    with pytest.raises(EventFileError, match="floats.npy.*non-integer"):
        open_recording(tmp_path / "floats.npy", sensor_size=SensorSize(8, 8))


# --- DVS Gesture: labels and tonic's .npy layout ---------------------------------------------


def test_gesture_labels_round_trip_and_errors(tmp_path: Path) -> None:
    events = random_events(11, 500, 128, 128, 10**7)
    segments = [(0, 100, 2_000_000), (10, 3_000_000, 6_000_000)]
    path = write_formats.write_dvs_gesture_aedat31(tmp_path / "user03_lab.aedat", events, segments)
    assert labels_path_for(path).name == "user03_lab_labels.csv"
    assert labels_path_for(path).read_text().splitlines()[1] == "1,100,2000000"  # classes 1..11 on disk
    assert [tuple(segment) for segment in read_gesture_labels(labels_path_for(path))] == segments
    (tmp_path / "bad_labels.csv").write_text("class,startTime_usec,endTime_usec\n12,1,2\n")
    with pytest.raises(EventFileError, match="bad_labels.csv.*line 2"):
        read_gesture_labels(tmp_path / "bad_labels.csv")


def test_dvs_gesture_folder_layout(tmp_path: Path) -> None:
    rng = np.random.default_rng(12)
    written = {}
    splits = (("ibmGestureTrain", ("user02_led", "user01_fluorescent")), ("ibmGestureTest", ("user24_natural",)))
    for split, users in splits:
        for user in users:
            (tmp_path / "DVSGesture" / split / user).mkdir(parents=True)
            for label in range(11):
                count = 50 + label
                table = np.column_stack(
                    [
                        rng.integers(0, 128, count),
                        rng.integers(0, 128, count),
                        rng.integers(0, 2, count),
                        np.sort(rng.uniform(0, 6000, count)).round(3),
                    ]
                )
                table[0, 0] = 130  # one out-of-range x per file
                np.save(tmp_path / "DVSGesture" / split / user / f"{label}.npy", table)
                written[(split, user, label)] = table
    train = DVSGestureFolder(tmp_path, train=True)
    assert len(train) == 22 and DVSGestureFolder(tmp_path, train=False).user_ids == [24] * 11
    assert [label for _, label in train.samples] == list(range(11)) * 2
    assert train.user_ids == [1] * 11 + [2] * 11 and train.lightings[0] == "fluorescent"
    events = train.load(13)  # user02_led, label 2
    table = written[("ibmGestureTrain", "user02_led", 2)]
    assert events.dtype == EVENT_DTYPE and len(events) == len(table) - 1 and train.dropped_out_of_range == 1
    np.testing.assert_array_equal(events["t"], np.rint(table[1:, 3] * 1000).astype(np.int64))
    np.testing.assert_array_equal(events["x"], table[1:, 0])
    (tmp_path / "DVSGesture" / "ibmGestureTrain" / "user01_fluorescent" / "notes.npy").write_bytes(b"")
    with pytest.raises(EventFileError, match="notes.npy.*label"):
        DVSGestureFolder(tmp_path, train=True)
    with pytest.raises(EventFileError, match="DVSGesture.*no such folder"):
        DVSGestureFolder(tmp_path / "elsewhere")


@pytest.mark.parametrize("version", [b"\x00\x00", b"\x02\x00"])
def test_npy_header_length_is_checked_before_numpy_reads_it(tmp_path: Path, version: bytes) -> None:
    """A damaged version or length field (found by the property sweep): numpy would read the stated
    length in one call, allocating up to 4 GiB for a file of a few hundred bytes."""
    path = tmp_path / "damaged.npy"
    path.write_bytes(b"\x93NUMPY" + version + (0x3FFF_FFF0).to_bytes(4, "little") + b"{'descr': '<u2'}" + b" " * 200)
    tracemalloc.start()
    try:
        with pytest.raises(EventFileError, match="corrupt .npy header"):
            open_recording(path, SensorSize(64, 48))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2**20
