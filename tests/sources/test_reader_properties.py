"""Property tests of the readers' bad-input policy and of the event front end's chunking contract.

Readers: a small valid file of each format (written by ``write_formats``, or a real recording cut
to a few packets) is damaged at random (truncated at any byte, bytes overwritten, random bytes
spliced in, a byte range duplicated, garbage after the right magic) and then opened and read
to the end. Every outcome must be events (``EVENT_DTYPE``, inside the sensor) or an
``EventFileError``: never another exception, never more than :data:`DEADLINE_S` seconds, never more
than :data:`MEMORY_LIMIT_BYTES` (traced allocations and peak resident memory) over the baseline. A
file cut at any byte must moreover raise, or yield a prefix of the intact file's events.

Front end: random time-ordered events pushed to :class:`StreamingEventFramer` in random pieces give
the frames of one :class:`FrameEvents` call; coordinates outside the sensor raise ``ValueError``.

The default run takes a few dozen examples per format (well under a minute); the ``slow`` sweep
takes hundreds.
"""

from __future__ import annotations

import struct
import time
import tracemalloc
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spikestream.sources.events.event_array import EVENT_DTYPE, SensorSize, make_events
from spikestream.sources.events.formats import write_formats
from spikestream.sources.events.formats.dispatch import open_recording
from spikestream.sources.events.formats.read_aedat2 import read_aedat2_header
from spikestream.sources.events.formats.read_aedat4 import read_aedat4_header
from spikestream.sources.events.formats.read_prophesee import read_prophesee_header
from spikestream.sources.events.formats.recording import EventFileError, EventFileWarning
from spikestream.sources.events.front_end.framing import EventFrontEndConfig, FrameEvents, StreamingEventFramer

DEADLINE_S = 5.0
MEMORY_LIMIT_BYTES = 200 << 20
CHUNK_EVENTS = 97  # small, so that a pass crosses many chunk and block boundaries
SENSOR = SensorSize(64, 48)
EXAMPLES_PER_FORMAT = 30
TRUNCATIONS_PER_FORMAT = 15
SWEEP_EXAMPLES = 400
FAST = settings(
    max_examples=EXAMPLES_PER_FORMAT,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@dataclass(frozen=True)
class BaseFile:
    """A small valid recording: its ``content``, file ``suffix``, ``sensor_size`` to pass (None: the
    file states it), ``header_bytes`` (magic and header, kept by the garbage mutation), the
    ``events`` it holds, and whether any cut of it must raise (its layout shows every cut)."""

    content: bytes
    suffix: str
    sensor_size: SensorSize | None
    header_bytes: int
    events: np.ndarray
    every_cut_detected: bool


def random_events(seed: int, count: int, width: int, height: int, span_us: int) -> np.ndarray:
    """``count`` sorted random events inside ``width × height`` over ``span_us`` µs."""
    rng = np.random.default_rng(seed)
    return make_events(
        rng.integers(0, width, count),
        rng.integers(0, height, count),
        np.sort(rng.integers(0, span_us, count)),
        rng.integers(0, 2, count),
    )


def aedat2_extra_words(seed: int, count: int, span_us: int) -> np.ndarray:
    """``count`` random DAVIS APS, IMU and special words (jAER AEDAT 2.0 addresses) over ``span_us`` µs."""
    rng = np.random.default_rng(seed)
    kinds = np.array([1 << 31, 1 << 31 | 3 << 10, 1 << 10], dtype=np.uint32)  # APS, IMU, special
    words = np.empty(count, dtype=[("address", "<u4"), ("t", "<i8")])
    words["address"] = kinds[rng.integers(0, 3, count)] | rng.integers(0, 1 << 10, count).astype(np.uint32)
    words["t"] = np.sort(rng.integers(0, span_us, count))
    return words


def small_aedat4(original: bytes, packet_count: int) -> bytes:
    """The real recording's header and first ``packet_count`` packets, then its packet index, with the
    IOHeader's ``file_data_position`` (int64 field 1 of the flatbuffer) moved to the new index offset."""
    (header_bytes,) = struct.unpack_from("<I", original, 14)
    data_offset = 18 + header_bytes
    offset = data_offset
    for _ in range(packet_count):
        offset += 8 + struct.unpack_from("<iI", original, offset)[1]
    ioheader = bytearray(original[18:data_offset])
    (table,) = struct.unpack_from("<I", ioheader, 0)
    vtable = table - struct.unpack_from("<i", ioheader, table)[0]
    (field_offset,) = struct.unpack_from("<H", ioheader, vtable + 4 + 2 * 1)
    old_index = struct.unpack_from("<q", ioheader, table + field_offset)[0]
    struct.pack_into("<q", ioheader, table + field_offset, offset)
    return original[:18] + bytes(ioheader) + original[data_offset:offset] + original[old_index:]


@pytest.fixture(scope="module")
def base_files(tmp_path_factory: pytest.TempPathFactory, dvs_dir: Path) -> dict[str, BaseFile]:
    folder = tmp_path_factory.mktemp("bases")
    written = {
        "dat": (write_formats.write_dat(folder / "a.dat", random_events(1, 300, 64, 48, 10**6), SENSOR), None),
        "evt2": (write_formats.write_evt2(folder / "a.raw", random_events(2, 300, 64, 48, 10**6), SENSOR), None),
        "evt3": (write_formats.write_evt3(folder / "b.raw", random_events(3, 300, 64, 48, 10**6), SENSOR), None),
        "nmnist": (write_formats.write_nmnist(folder / "a.bin", random_events(4, 300, 34, 34, 10**5)), None),
        "aedat3.1": (
            write_formats.write_dvs_gesture_aedat31(
                folder / "a.aedat", random_events(5, 300, 128, 128, 10**6), packet_events=64, special_packet=True
            ),
            None,
        ),
        "aedat2-dvs128": (
            write_formats.write_aedat2(
                folder / "d.aedat", random_events(9, 300, 128, 128, 10**6), SensorSize(128, 128)
            ),
            None,
        ),
        "aedat2-davis": (
            write_formats.write_aedat2(
                folder / "e.aedat",
                random_events(10, 300, 346, 260, 3 << 32),  # timestamps wrap
                SensorSize(346, 260),
                extra_words=aedat2_extra_words(11, 60, 3 << 32),
            ),
            None,
        ),
        "npy": (write_formats.write_npy(folder / "a.npy", random_events(6, 300, 64, 48, 10**6)), SENSOR),
        "npz": (write_formats.write_npz(folder / "a.npz", random_events(7, 300, 64, 48, 10**6), SENSOR), None),
        "npz-columns": (
            write_formats.write_npz(folder / "c.npz", random_events(8, 300, 64, 48, 10**6), SENSOR, columns=True),
            None,
        ),
    }
    real_evt3 = dvs_dir / "evt3_sample.raw"
    evt3_offset = read_prophesee_header(real_evt3).data_offset
    (folder / "real.raw").write_bytes(real_evt3.read_bytes()[: evt3_offset + 2 * 3_000])  # vectors, TIME_LOW words
    written["evt3-real"] = (folder / "real.raw", None)
    (folder / "real.aedat4").write_bytes(small_aedat4((dvs_dir / "sample.aedat4").read_bytes(), 6))
    written["aedat4"] = (folder / "real.aedat4", None)
    header_bytes = {
        "aedat4": read_aedat4_header(folder / "real.aedat4").data_offset,
        "nmnist": 0,
        "npy": 128,
        "npz": 128,
        "npz-columns": 128,
        "aedat3.1": 140,
        "evt3-real": evt3_offset,
    }
    bases = {}
    for name, (path, sensor_size) in written.items():
        events = open_recording(path, sensor_size=sensor_size).read_all()
        if name in ("dat", "evt2", "evt3"):
            header = read_prophesee_header(path).data_offset
        elif name.startswith("aedat2"):
            header = read_aedat2_header(path).data_offset
        else:
            header = header_bytes[name]
        bases[name] = BaseFile(
            path.read_bytes(),
            path.suffix,
            sensor_size,
            header,
            events,
            every_cut_detected=name in ("aedat4", "npy", "npz", "npz-columns"),
        )
    return bases


BASE_NAMES = [
    "dat",
    "evt2",
    "evt3",
    "evt3-real",
    "nmnist",
    "aedat3.1",
    "aedat2-dvs128",
    "aedat2-davis",
    "npy",
    "npz",
    "npz-columns",
    "aedat4",
]


@st.composite
def damaged(draw: st.DrawFn, base: BaseFile) -> bytes:
    """``base.content`` with one random kind of damage (positions biased to the first 512 bytes: headers)."""
    content = base.content
    size = len(content)
    position = st.one_of(st.integers(0, min(size, 512) - 1), st.integers(0, size - 1))
    kind = draw(st.sampled_from(["truncate", "overwrite", "splice", "duplicate", "garbage"]))
    if kind == "truncate":
        return content[: draw(position)]
    if kind == "overwrite":
        damaged_content = bytearray(content)
        for index, value in draw(st.lists(st.tuples(position, st.integers(0, 255)), min_size=1, max_size=16)):
            damaged_content[index] = value
        return bytes(damaged_content)
    if kind == "splice":
        at = draw(position)
        return content[:at] + draw(st.binary(min_size=1, max_size=64)) + content[at:]
    if kind == "duplicate":
        start = draw(st.integers(0, size - 1))
        stop = min(size, start + draw(st.integers(1, 4_096)))
        at = draw(st.integers(0, size))
        return content[:at] + content[start:stop] + content[at:]
    keep = draw(st.integers(min(base.header_bytes, 14), max(base.header_bytes, 14)))
    return content[:keep] + draw(st.binary(max_size=4_096))


def _current_rss_bytes() -> int | None:
    """Resident memory now, after resetting the peak (``VmHWM``) to it; None where /proc lacks either."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return _status_bytes("VmRSS")
    except OSError:
        return None


def _status_bytes(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise OSError(f"/proc/self/status has no {key}")


@contextmanager
def bounded_memory() -> Iterator[None]:
    """Fail if the block allocates more than :data:`MEMORY_LIMIT_BYTES`: traced Python/NumPy
    allocations (tracemalloc peak) or peak resident memory (also native allocations, e.g. Rust's)."""
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    tracemalloc.reset_peak()
    traced_before = tracemalloc.get_traced_memory()[0]
    rss_before = _current_rss_bytes()
    try:
        yield
    finally:
        traced_peak = tracemalloc.get_traced_memory()[1] - traced_before
        if not was_tracing:
            tracemalloc.stop()
        rss_growth = _status_bytes("VmHWM") - rss_before if rss_before is not None else 0
    assert traced_peak < MEMORY_LIMIT_BYTES, f"allocated {traced_peak / 2**20:.0f} MiB (traced) reading one small file"
    assert rss_growth < MEMORY_LIMIT_BYTES, f"resident memory grew {rss_growth / 2**20:.0f} MiB reading one small file"


def read_within_bounds(
    path: Path, sensor_size: SensorSize | None, allow_truncated: bool = False
) -> tuple[np.ndarray | None, EventFileError | None]:
    """Open ``path`` and read every chunk, within :data:`DEADLINE_S` and the memory bound.

    Returns ``(events, None)`` or ``(events before the error or None, error)``; any exception but
    :class:`EventFileError` fails the test, and so do chunks outside the sensor or of another dtype.
    """
    started = time.monotonic()
    chunks: list[np.ndarray] = []
    error = None
    with bounded_memory(), warnings.catch_warnings():
        warnings.simplefilter("ignore", EventFileWarning)
        try:
            recording = open_recording(path, sensor_size=sensor_size, allow_truncated=allow_truncated)
            for chunk in recording.iter_chunks(CHUNK_EVENTS):
                elapsed_s = time.monotonic() - started
                assert elapsed_s < DEADLINE_S, f"still reading after {elapsed_s:.1f} s"
                assert chunk.dtype == EVENT_DTYPE and 0 < len(chunk) <= CHUNK_EVENTS
                size = recording.sensor_size
                assert chunk["x"].max() < size.width and chunk["y"].max() < size.height, "an event outside the sensor"
                chunks.append(chunk)
        except EventFileError as caught:
            error = caught
        except (KeyboardInterrupt, SystemExit, AssertionError):
            raise
        except BaseException as other:  # noqa: B036 - a Rust panic (pyo3) derives from BaseException
            pytest.fail(f"{path.name}: {type(other).__name__} instead of EventFileError: {other}")
    elapsed_s = time.monotonic() - started
    assert elapsed_s < DEADLINE_S, f"took {elapsed_s:.1f} s"
    if error is not None:
        assert path.name in str(error), f"the message does not name the file: {error}"
    events = np.concatenate(chunks) if chunks else None
    return events, error


def check_damaged(base: BaseFile, path: Path, content: bytes) -> None:
    path.write_bytes(content)
    events, error = read_within_bounds(path, base.sensor_size)
    assert events is not None or error is not None


def check_cut(base: BaseFile, path: Path, cut: int) -> None:
    path.write_bytes(base.content[:cut])
    events, error = read_within_bounds(path, base.sensor_size)
    if base.every_cut_detected and error is None:  # only a cut that loses no event (AEDAT 4: in the packet index)
        assert events is not None and len(events) == len(base.events), (
            f"a cut at byte {cut} of {len(base.content)} went unnoticed"
        )
    if error is None:  # an undetectable cut (at an event / word / packet boundary): the events before it
        np.testing.assert_array_equal(events, base.events[: len(events)])
    salvaged, _ = read_within_bounds(path, base.sensor_size, allow_truncated=True)
    if salvaged is not None:
        assert len(salvaged) <= len(base.events)
        np.testing.assert_array_equal(salvaged, base.events[: len(salvaged)])


@pytest.mark.parametrize("name", BASE_NAMES)
@FAST
@given(data=st.data())
def test_damaged_files_yield_events_or_raise_event_file_error(
    base_files: dict[str, BaseFile], tmp_path: Path, name: str, data: st.DataObject
) -> None:
    base = base_files[name]
    check_damaged(base, tmp_path / f"damaged{base.suffix}", data.draw(damaged(base), label="content"))


@pytest.mark.parametrize("name", BASE_NAMES)
@settings(FAST, max_examples=TRUNCATIONS_PER_FORMAT)
@given(data=st.data())
def test_files_cut_at_any_byte_raise_or_yield_a_prefix(
    base_files: dict[str, BaseFile], tmp_path: Path, name: str, data: st.DataObject
) -> None:
    base = base_files[name]
    check_cut(base, tmp_path / f"cut{base.suffix}", data.draw(st.integers(0, len(base.content) - 1), label="cut"))


@pytest.mark.slow
@pytest.mark.parametrize("name", BASE_NAMES)
@settings(FAST, max_examples=SWEEP_EXAMPLES)
@given(data=st.data())
def test_damaged_files_sweep(base_files: dict[str, BaseFile], tmp_path: Path, name: str, data: st.DataObject) -> None:
    base = base_files[name]
    check_damaged(base, tmp_path / f"damaged{base.suffix}", data.draw(damaged(base), label="content"))


@pytest.mark.slow
@pytest.mark.parametrize("name", BASE_NAMES)
def test_every_cut_raises_or_yields_a_prefix(base_files: dict[str, BaseFile], tmp_path: Path, name: str) -> None:
    base = base_files[name]
    step = max(1, len(base.content) // 2_000)
    for cut in range(0, len(base.content), step):
        check_cut(base, tmp_path / f"cut{base.suffix}", cut)


# --- the event front end --------------------------------------------------------------------------


@st.composite
def front_end_configs(draw: st.DrawFn) -> EventFrontEndConfig:
    width, height = draw(st.integers(1, 24)), draw(st.integers(1, 24))
    roi = None
    if draw(st.booleans()):
        x0, y0 = draw(st.integers(0, width - 1)), draw(st.integers(0, height - 1))
        roi = (x0, y0, draw(st.integers(1, width - x0)), draw(st.integers(1, height - y0)))
    return EventFrontEndConfig(
        sensor_width=width,
        sensor_height=height,
        bin_ms=draw(st.sampled_from([0.05, 0.1, 1.0, 2.5])),
        roi=roi,
        downsample_factor=draw(st.integers(1, 3)),
        output_mode=draw(st.sampled_from(["binary", "counts"])),
        refractory_ms=draw(st.none() | st.sampled_from([0.1, 1.0])),
        denoise_ms=draw(st.none() | st.sampled_from([0.5, 2.0])),
    )


@st.composite
def event_arrays(draw: st.DrawFn, width: int, height: int, bin_us: int) -> np.ndarray:
    """Time-ordered events inside ``width × height``: gaps of 0 to 3 bins between neighbours."""
    count = draw(st.integers(0, 200))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    t0_us = draw(st.integers(0, 10**9))
    t_us = t0_us + np.cumsum(rng.integers(0, 3 * bin_us + 1, count))
    return make_events(rng.integers(0, width, count), rng.integers(0, height, count), t_us, rng.integers(0, 2, count))


@settings(max_examples=60, deadline=None, database=None)
@given(data=st.data())
def test_framer_in_random_pieces_equals_one_frame_events_call(data: st.DataObject) -> None:
    config = data.draw(front_end_configs(), label="config")
    events = data.draw(event_arrays(config.sensor_width, config.sensor_height, config.bin_us), label="events")
    t_start_us = None
    if len(events) and data.draw(st.booleans(), label="explicit start"):
        t_start_us = int(events["t"][0]) - data.draw(st.integers(0, 3 * config.bin_us), label="start before t[0]")
    whole = FrameEvents(config, t_start_us)(events)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(events)), max_size=12), label="cuts"))  # repeats: empty pieces
    framer = StreamingEventFramer(config, t_start_us)
    pieces = [framer.push(piece) for piece in np.split(events, cuts)] + [framer.flush()]
    streamed = np.concatenate(pieces)
    assert streamed.shape[1:] == config.output_shape and streamed.dtype == np.float32
    np.testing.assert_array_equal(streamed, whole)


COORDINATE_DTYPES = ["<u2", ">u2", "<i4", ">i4", "<i8", ">i8", "<u8", ">u8"]


@settings(max_examples=60, deadline=None, database=None)
@given(data=st.data())
def test_out_of_range_coordinates_raise_value_error(data: st.DataObject) -> None:
    config = data.draw(front_end_configs(), label="config")
    coordinate_dtype = np.dtype(data.draw(st.sampled_from(COORDINATE_DTYPES), label="dtype"))
    info = np.iinfo(coordinate_dtype)
    count = data.draw(st.integers(1, 50), label="count")
    events = np.zeros(count, dtype=[("x", coordinate_dtype), ("y", coordinate_dtype), ("t", "<i8"), ("p", "u1")])
    events["x"] = data.draw(st.lists(st.integers(0, config.sensor_width - 1), min_size=count, max_size=count))
    events["y"] = data.draw(st.lists(st.integers(0, config.sensor_height - 1), min_size=count, max_size=count))
    events["t"] = np.arange(count) * 7
    bad_index = data.draw(st.integers(0, count - 1), label="bad event")
    field = data.draw(st.sampled_from(["x", "y"]), label="field")
    limit = config.sensor_width if field == "x" else config.sensor_height
    outside = st.sampled_from([limit, int(info.max)]) | st.integers(limit, int(info.max))
    if info.min < 0:
        outside = outside | st.sampled_from([-1, int(info.min)]) | st.integers(int(info.min), -1)
    else:  # unsigned 64-bit: values from 2**63 on wrap negative in intp arithmetic
        outside = outside | st.integers(max(limit, int(info.max) // 2), int(info.max))
    events[field][bad_index] = data.draw(outside, label="outside value")
    with pytest.raises(ValueError, match="outside|x=|y="):
        FrameEvents(config)(events)
    with pytest.raises(ValueError, match="outside|x=|y="):
        StreamingEventFramer(config).push(events)
