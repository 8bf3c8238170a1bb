"""AEDAT 2.0 (jAER) reader: exact write/read round trips for DVS128, DAVIS240 and DAVIS346, the
address bits by hand, skipped APS/IMU/special words, 32-bit timestamp wraps across decode blocks,
the error policy (truncation, wrong magic, unterminated header, unknown chip), the real jAER header
in ../shared/data/dvs, and the real CLI (show, replay, a damaged file) in subprocesses."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import tonic.io
from PIL import Image

from spikestream.sources.events.event_array import SensorSize, make_events
from spikestream.sources.events.formats import write_formats
from spikestream.sources.events.formats.dispatch import content_note, detect_format, open_recording
from spikestream.sources.events.formats.read_aedat2 import (
    AEDAT2_RECORD,
    Aedat2Recording,
    chip_geometry,
    read_aedat2_header,
    unwrap_timestamps,
)
from spikestream.sources.events.formats.recording import (
    DECODE_BLOCK_RANGE,
    EventFileError,
    EventFileWarning,
    MissingSensorSizeError,
)

from ..pipeline.cli_runner import REPO_ROOT, json_lines, longest_common_subsequence, run_cli

DVS128, DAVIS240, DAVIS346 = SensorSize(128, 128), SensorSize(240, 180), SensorSize(346, 260)
WRAP_US = 1 << 32
HEADER = b"#!AER-DAT2.0\r\n# AEChip: %s\r\n# End Of ASCII Header\r\n"


def random_events(seed: int, count: int, size: SensorSize, span_us: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t_us = np.sort(rng.integers(0, span_us, count))
    return make_events(
        rng.integers(0, size.width, count), rng.integers(0, size.height, count), t_us, rng.integers(0, 2, count)
    )


def raw_file(path: Path, chip: bytes, addresses: list[int], t_us: list[int]) -> Path:
    """An AEDAT 2.0 file of hand-made records (addresses and 32-bit timestamps as given)."""
    records = np.empty(len(addresses), dtype=AEDAT2_RECORD)
    records["address"], records["t"] = addresses, t_us
    path.write_bytes(HEADER % chip + records.tobytes())
    return path


def extra_words(addresses: list[int], t_us: list[int]) -> np.ndarray:
    words = np.empty(len(addresses), dtype=[("address", "<u4"), ("t", "<i8")])
    words["address"], words["t"] = addresses, t_us
    return words


# --- round trips and the address layout -------------------------------------------------------


@pytest.mark.parametrize(
    "size, layout, chip",
    [(DVS128, "dvs128", "DVS128"), (DAVIS240, "davis", "DAVIS240C"), (DAVIS346, "davis", "Davis346B")],
)
def test_write_then_read_is_exact(tmp_path: Path, size: SensorSize, layout: str, chip: str) -> None:
    events = random_events(1, 20_000, size, 3 * WRAP_US)  # three timestamp wraps
    path = write_formats.write_aedat2(tmp_path / "sample.aedat", events, size)
    assert detect_format(path) == "aedat2" and content_note(path, "aedat2") is None
    recording = open_recording(path)
    assert isinstance(recording, Aedat2Recording) and recording.format_name == "aedat2"
    assert recording.layout == layout and recording.sensor_size == size and recording.header.chip == chip
    np.testing.assert_array_equal(recording.read_all(), events)
    for max_events in (1, 777, 65_536):
        np.testing.assert_array_equal(np.concatenate(list(recording.iter_chunks(max_events))), events)
    assert recording.t0_us == events["t"][0] and recording.dropped_out_of_range == 0
    assert recording.skipped_words() == {"aps_samples": 0, "imu_samples": 0, "special_events": 0}


def test_address_bits_by_hand(tmp_path: Path) -> None:
    # DVS128: raw x in bits 1..7 runs right to left (jAER, libcaer mirror it), y in bits 8..14 bottom-up,
    # bit 0 clear = ON
    dvs = raw_file(tmp_path / "dvs.aedat", b"ch.unizh.ini.jaer.chip.retina.DVS128", [5 << 1 | 10 << 8, 1], [7, 9])
    events = open_recording(dvs).read_all()
    assert events.tolist() == [(122, 117, 7, 1), (127, 127, 9, 0)]
    # DAVIS: x in bits 12..21 as stored, y in bits 22..30 bottom-up, bit 11 = ON
    davis = raw_file(
        tmp_path / "davis.aedat", b"eu.seebetter.ini.chips.davis.Davis346red", [7 << 12 | 3 << 22 | 1 << 11], [5]
    )
    assert open_recording(davis).read_all().tolist() == [(7, 256, 5, 1)]


def test_aps_imu_and_special_words_are_skipped_and_counted(tmp_path: Path) -> None:
    events = random_events(2, 20_000, DAVIS346, 10**6)  # more than the first decode block
    aps = [1 << 31 | 100 << 12 | 50 << 22 | 512, 1 << 31 | 1 << 10 | 345 << 12]  # reset and signal reads
    imu = [1 << 31 | 3 << 10 | code << 28 | 0x123 << 12 for code in range(7)]  # subtype 3: bits 10 and 11
    special = [1 << 10 | 5, 1 << 10 | 1 << 11]
    words = aps * 40 + imu * 10 + special * 3
    t_us = np.sort(np.random.default_rng(3).integers(0, 10**6, len(words)))
    path = write_formats.write_aedat2(tmp_path / "davis.aedat", events, DAVIS346, extra_words=extra_words(words, t_us))
    recording = open_recording(path)
    assert recording.record_count == len(events) + len(words)
    np.testing.assert_array_equal(recording.read_all(), events)
    assert recording.skipped_words() == {"aps_samples": 80, "imu_samples": 70, "special_events": 6}
    assert recording.t0_us == events["t"][0] and recording.aps_samples == 80  # the probe keeps the pass's counts
    dvs_events = random_events(4, 1_000, DVS128, 10**6)
    dvs_extra = extra_words([0x8000, 0x8000 | 0x1234, 1 << 31], [10, 500_000, 999_999])
    dvs = open_recording(write_formats.write_aedat2(tmp_path / "dvs.aedat", dvs_events, DVS128, extra_words=dvs_extra))
    np.testing.assert_array_equal(dvs.read_all(), dvs_events)
    assert dvs.special_events == 3 and dvs.aps_samples == dvs.imu_samples == 0


def test_only_non_polarity_words_is_no_events(tmp_path: Path) -> None:
    path = raw_file(tmp_path / "frames.aedat", b"Davis346", [1 << 31, 1 << 31 | 1 << 11], [1, 2])
    recording = open_recording(path)
    with pytest.raises(EventFileError, match="frames.aedat.*no events inside the 346x260 sensor"):
        recording.read_all()
    assert recording.aps_samples == 1 and recording.imu_samples == 1


def test_out_of_range_addresses_are_dropped_and_counted_never_wrapped(tmp_path: Path) -> None:
    # DAVIS240 sensor: y addresses 180..511 flip to negative rows, x addresses 240..1023 lie beyond it
    addresses = [3 << 12 | 4 << 22, 500 << 22, 511 << 22 | 1023 << 12, 239 << 12 | 179 << 22, 240 << 12]
    path = raw_file(tmp_path / "garbage.aedat", b"eu.seebetter.ini.chips.davis.DAVIS240C", addresses, [1, 2, 3, 4, 5])
    recording = open_recording(path)
    assert recording.read_all().tolist() == [(3, 175, 1, 0), (239, 0, 4, 0)]
    assert recording.dropped_out_of_range == 3
    # a DVS128 chip read on a smaller sensor: mirrored coordinates beyond it are dropped, not negative
    small = raw_file(tmp_path / "small.aedat", b"DVS128", [0, 100 << 1 | 100 << 8], [1, 2])
    recording = open_recording(small, sensor_size=SensorSize(64, 64))
    assert recording.layout == "dvs128" and recording.read_all().tolist() == [(63, 63, 1, 1)]
    assert recording.dropped_out_of_range == 1


# --- timestamps -------------------------------------------------------------------------------


def test_timestamp_wraps_carry_across_decode_blocks(tmp_path: Path) -> None:
    block = DECODE_BLOCK_RANGE[1]
    step_us = 60_000
    count = 2 * block + 20_000
    t_us = np.arange(count, dtype=np.int64) * step_us + (WRAP_US - block * step_us)  # a wrap exactly at a block edge
    events = make_events(np.arange(count) % 128, np.arange(count) % 127, t_us, np.arange(count) % 2)
    path = write_formats.write_aedat2(tmp_path / "long.aedat", events, DVS128)
    raw_t = np.fromfile(path, dtype=AEDAT2_RECORD, offset=read_aedat2_header(path).data_offset)["t"]
    assert raw_t[block] < raw_t[block - 1] and int(t_us[-1]) > 2 * WRAP_US  # the file wraps, twice
    recording = open_recording(path)
    np.testing.assert_array_equal(recording.read_all(), events)  # blocks of 65 536 records
    np.testing.assert_array_equal(np.concatenate(list(recording.iter_chunks(1_000))), events)  # blocks of 8 192


def test_unwrap_rules_and_state_across_any_split() -> None:
    raw = np.array([100, 50, WRAP_US - 10, 5, 3, (1 << 31) + 20, 10], dtype=np.uint32)
    t_us, last, wraps = unwrap_timestamps(raw, None, 0)
    # small backward steps stay; a backward jump of more than 2**31 µs is a wrap
    expected = [100, 50, WRAP_US - 10, WRAP_US + 5, WRAP_US + 3, WRAP_US + (1 << 31) + 20, 2 * WRAP_US + 10]
    assert t_us.tolist() == expected and (last, wraps) == (10, 2)
    for cut in range(len(raw) + 1):
        head, last, wraps = unwrap_timestamps(raw[:cut], None, 0)
        tail, _, _ = unwrap_timestamps(raw[cut:], last, wraps)
        assert np.concatenate([head, tail]).tolist() == expected


# --- bad input --------------------------------------------------------------------------------


def test_truncated_file_raises_at_open_or_yields_the_complete_events(tmp_path: Path) -> None:
    events = random_events(5, 2_000, DAVIS346, 10**6)
    path = write_formats.write_aedat2(tmp_path / "cut.aedat", events, DAVIS346)
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(EventFileError, match="cut.aedat.*truncated.*not a whole number of 8-byte records"):
        open_recording(path)
    with pytest.warns(EventFileWarning, match="truncated"):
        recording = open_recording(path, allow_truncated=True)
    assert recording.truncation
    np.testing.assert_array_equal(recording.read_all(), events[:-1])


def test_wrong_magic_and_other_aedat_versions(tmp_path: Path) -> None:
    for version in (b"1.0", b"3.0"):
        path = tmp_path / f"v{version.decode()}.aedat"
        path.write_bytes(b"#!AER-DAT" + version + b"\r\n# x\r\n" + bytes(16))
        with pytest.raises(EventFileError, match=f"{path.name}.*AEDAT version {version.decode()}.*4.0, 3.1 or 2.0"):
            open_recording(path)
    gesture = write_formats.write_dvs_gesture_aedat31(tmp_path / "g.aedat", random_events(6, 10, DVS128, 1000))
    with pytest.raises(EventFileError, match="g.aedat.*first line b'#!AER-DAT3.1'.*AEDAT 2.0 header"):
        open_recording(gesture, format_name="aedat2")
    (tmp_path / "junk.aedat").write_bytes(b"#!AER-DAT2.0x\r\n" + bytes(8))
    with pytest.raises(EventFileError, match="junk.aedat.*first line"):
        Aedat2Recording(tmp_path / "junk.aedat")
    (tmp_path / "fake.aedat").write_bytes(b"not an aedat file")
    with pytest.raises(EventFileError, match="fake.aedat.*'#!AER-DAT3.1' or '#!AER-DAT2.0'"):
        open_recording(tmp_path / "fake.aedat")


def test_header_without_end(tmp_path: Path) -> None:
    (tmp_path / "cutline.aedat").write_bytes(b"#!AER-DAT2.0\r\n# AEChip: DVS128\r\n# Creation ti")
    with pytest.raises(EventFileError, match="cutline.aedat.*header cut inside a line"):
        open_recording(tmp_path / "cutline.aedat")
    endless = b"#!AER-DAT2.0\r\n" + b"# a comment line that never ends the header\r\n" * 30_000  # > 1 MiB
    (tmp_path / "endless.aedat").write_bytes(endless + bytes(80))
    with pytest.raises(
        EventFileError, match="endless.aedat.*no end of the '#' header lines in the first 1048576 bytes"
    ):
        open_recording(tmp_path / "endless.aedat")
    # the end marker ends the header even when the first record starts with '#' (0x23)
    hashed = raw_file(tmp_path / "hashed.aedat", b"Davis346", [0x23 << 24 | 5 << 12], [42])
    assert open_recording(hashed).read_all().tolist() == [(5, 259 - 0x8C, 42, 0)]


def test_header_fields_absent_or_garbled(tmp_path: Path) -> None:
    (tmp_path / "plain.aedat").write_bytes(b"#!AER-DAT2.0\n# AEChip: DVS128\n" + bytes(8))  # LF only, no time
    header = read_aedat2_header(tmp_path / "plain.aedat")
    assert (header.start_time_ms, header.chip, header.data_offset) == (None, "DVS128", 30)
    huge = b"#!AER-DAT2.0\r\n# Creation time: System.currentTimeMillis() " + b"9" * 5_000 + b"\r\n# AEChip: DVS128\r\n"
    (tmp_path / "huge.aedat").write_bytes(huge + bytes(8))
    assert read_aedat2_header(tmp_path / "huge.aedat").start_time_ms is None


def test_unknown_chip_needs_a_sensor_size(tmp_path: Path) -> None:
    events = random_events(7, 500, SensorSize(64, 48), 10**6)
    path = write_formats.write_aedat2(tmp_path / "odd.aedat", events, SensorSize(64, 48), chip="org.example.OddChip")
    with pytest.raises(MissingSensorSizeError) as caught:
        open_recording(path)
    message = str(caught.value)
    assert "odd.aedat" in message and "'org.example.OddChip'" in message and "--sensor WxH" in message
    recording = open_recording(path, sensor_size=SensorSize(64, 48))
    assert recording.layout == "davis"
    np.testing.assert_array_equal(recording.read_all(), events)
    nochip = tmp_path / "nochip.aedat"
    nochip.write_bytes(b"#!AER-DAT2.0\r\n# no chip line\r\n" + bytes(8))
    with pytest.raises(MissingSensorSizeError, match="nochip.aedat.*no '# AEChip:' line"):
        open_recording(nochip)
    with pytest.raises(EventFileError, match="odd.aedat.*sensor size 2000x600.*at most 1024x512"):
        open_recording(path, sensor_size=SensorSize(2000, 600))


def test_sensor_size_chooses_the_layout_over_the_chip(tmp_path: Path) -> None:
    events = random_events(8, 300, DVS128, 10**5)
    path = write_formats.write_aedat2(
        tmp_path / "a.aedat", events, DVS128, chip="eu.seebetter.ini.chips.davis.Davis346B"
    )
    assert open_recording(path).layout == "davis"  # the chip's layout and size, without a size
    recording = open_recording(path, sensor_size=DVS128)
    assert recording.layout == "dvs128"
    np.testing.assert_array_equal(recording.read_all(), events)
    assert chip_geometry("ch.unizh.ini.jaer.chip.retina.Tmpdiff128") == ("dvs128", DVS128)
    assert chip_geometry("DAVI346") == ("davis", DAVIS346) and chip_geometry("Davis240") == ("davis", DAVIS240)


def test_real_jaer_header(dvs_dir: Path) -> None:
    path = dvs_dir / "sample_aedat2_header.aedat"
    header = read_aedat2_header(path)
    assert header.data_version == 2.0 and header.start_time_ms == 1_695_355_587_880
    assert header.chip == "Davis346red" and header.chip_class == "eu.seebetter.ini.chips.davis.Davis346red"
    assert header.data_offset == path.stat().st_size == 599
    assert chip_geometry(header.chip_class) == ("davis", DAVIS346)
    version, _, start_ms = tonic.io.read_aedat_header_from_file(str(path))  # tonic's test of this file
    assert (version, start_ms) == (header.data_version, header.start_time_ms)
    assert detect_format(path) == "aedat2"
    with pytest.raises(EventFileError, match="sample_aedat2_header.aedat: found no events .a 599-byte header"):
        open_recording(path)


# --- the real command line --------------------------------------------------------------------


def test_cli_show_and_replay_read_aedat2(tmp_path: Path) -> None:
    davis = write_formats.write_aedat2(tmp_path / "davis.aedat", random_events(9, 20_000, DAVIS346, 500_000), DAVIS346)
    png = tmp_path / "x.png"
    shown = run_cli("show", str(davis), "--out", str(png), "--bin-ms", "100", timeout_s=120)
    assert shown.returncode == 0, shown.stderr
    assert "aedat2, 346x260" in shown.stderr and Image.open(png).size[0] > 256
    sequence = REPO_ROOT / "recordings" / "gestures" / "gesture_sequence.npy"
    events = open_recording(sequence, sensor_size=DVS128).read_all()
    sync = extra_words([0x8000] * 3, [10, 1_000_000, 2_000_000])  # DVS128 sync words: special, not events
    gestures = write_formats.write_aedat2(tmp_path / "gestures.aedat", events, DVS128, extra_words=sync)
    replayed = run_cli(
        "replay", str(gestures), "--model", "dvs-gestures", "--speed", "0", "--jsonl", "-", timeout_s=120
    )
    assert replayed.returncode == 0, replayed.stderr
    assert re.search(r"gestures.aedat: \d+ detections in 4.20 s of stream", replayed.stderr), replayed.stderr
    assert "note: gestures.aedat: skipped 3 special events (not DVS events)" in replayed.stderr
    expected = [item["name"] for item in json.loads(sequence.with_suffix(".json").read_text())["gestures"]]
    labels = [detection["label"] for detection in json_lines(replayed.stdout)]
    assert longest_common_subsequence(labels, expected) == len(expected), (labels, expected)


def test_cli_damaged_aedat2_exits_2_naming_the_file(tmp_path: Path) -> None:
    path = write_formats.write_aedat2(tmp_path / "broken.aedat", random_events(10, 100, DVS128, 10**5), DVS128)
    path.write_bytes(path.read_bytes()[:-5])
    result = run_cli("replay", str(path), "--model", "dvs-gestures", "--speed", "0", timeout_s=120)
    assert result.returncode == 2
    assert "broken.aedat" in result.stderr and "truncated" in result.stderr and "Traceback" not in result.stderr
