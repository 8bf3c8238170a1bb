"""Writers for the event formats the readers understand (no AEDAT 4 writer).

All take an :data:`EVENT_DTYPE`-compatible array (fields x, y, t in µs, p), require times sorted
and non-negative, check that every value fits the format (``ValueError`` naming the limit
otherwise) and return the path written. Prophesee files are written here byte by byte following
Prophesee's specification (expelliarmus 1.1.12's EVT3 writer encodes wrong times) and read back
identically by :mod:`.read_prophesee`; EVT2 and DAT also by ``expelliarmus``.

Encoding choices: a ``% end`` line closes EVT headers and the data starts with a zero TIME_HIGH
word, so no data byte can pass for a ``%`` header line; EVT3 uses single ADDR_X events (no
vectors); TIME_HIGH words are repeated in steps below half their range, so long gaps and absolute
times beyond one wrap (EVT3: 2**24 µs) decode exactly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..event_array import SensorSize, as_event_array
from .read_aedat2 import AEDAT2_RECORD, LAYOUT_LIMITS, layout_for
from .read_aedat31 import PACKET_HEADER, POLARITY_EVENT
from .read_prophesee import DAT_RECORD


def _checked(
    events: np.ndarray, format_label: str, max_x: int, max_y: int, sensor_size: SensorSize | None = None
) -> np.ndarray:
    """Events as EVENT_DTYPE after checking order, sign and coordinate limits (exclusive maxima)."""
    events = as_event_array(np.asarray(events))
    if len(events) == 0:
        raise ValueError(f"{format_label}: no events to write (a recording needs at least one)")
    t_us = events["t"]
    if t_us[0] < 0 or np.any(np.diff(t_us) < 0):
        raise ValueError(f"{format_label}: timestamps must be non-negative and sorted (got t[0]={t_us[0]} µs)")
    if sensor_size is not None:
        max_x, max_y = min(max_x, sensor_size.width), min(max_y, sensor_size.height)
    if events["x"].max() >= max_x or events["y"].max() >= max_y:
        raise ValueError(
            f"{format_label}: coordinates must be x < {max_x}, y < {max_y}; "
            f"got max x {events['x'].max()}, max y {events['y'].max()}"
        )
    return events


def _header_text(lines: list[str]) -> bytes:
    return "".join(f"% {line}\n" for line in lines).encode("ascii")


def _time_high_words(high: np.ndarray, max_step: int) -> tuple[np.ndarray, np.ndarray]:
    """TIME_HIGH values to emit before each event: ``(count per event, values in order)``.

    Starts from 0 (the leading zero word) and climbs in steps of at most ``max_step``.
    """
    previous = np.concatenate(([0], high[:-1]))
    counts = -((previous - high) // max_step)  # ceil((high - previous) / max_step)
    event_of = np.repeat(np.arange(len(high)), counts)
    step = np.arange(len(event_of)) - np.repeat(np.cumsum(counts) - counts, counts) + 1
    return counts, np.minimum(previous[event_of] + step * max_step, high[event_of])


def write_dat(path: Path | str, events: np.ndarray, sensor_size: SensorSize | None = None) -> Path:
    """Prophesee DAT (CD events, 8 bytes: uint32 t µs, uint32 x | y << 14 | p << 28)."""
    events = _checked(events, "DAT", 1 << 14, 1 << 14, sensor_size)
    t_us = events["t"]
    if t_us[0] >= 1 << 32 or np.any(np.diff(t_us) >= 1 << 31):
        raise ValueError("DAT: 32-bit timestamps need t[0] < 2**32 µs and gaps < 2**31 µs")
    lines = ["Data file containing CD events", "Version 2", "Date 1970-01-01 00:00:00"]
    if sensor_size is not None:
        lines += [f"Height {sensor_size.height}", f"Width {sensor_size.width}"]
    records = np.empty(len(events), dtype=DAT_RECORD)
    records["t"] = t_us & 0xFFFFFFFF
    x, y, p = (events[name].astype(np.uint32) for name in ("x", "y", "p"))
    records["data"] = x | (y << 14) | (p << 28)
    path = Path(path)
    path.write_bytes(_header_text(lines) + bytes([0, 8]) + records.tobytes())
    return path


def _evt_header(version: str, sensor_size: SensorSize | None) -> bytes:
    lines = [f"evt {version}", "integrator_name spikestream"]
    if sensor_size is not None:
        lines += [
            f"format EVT{version[0]};height={sensor_size.height};width={sensor_size.width}",
            f"geometry {sensor_size.width}x{sensor_size.height}",
        ]
    return _header_text(lines + ["end"])


def write_evt2(path: Path | str, events: np.ndarray, sensor_size: SensorSize | None = None) -> Path:
    """Prophesee EVT 2.0 ``.raw``: 32-bit words, TIME_HIGH (t >> 6) and CD words (6 low time bits)."""
    events = _checked(events, "EVT2", 2048, 2048, sensor_size)
    t_us = events["t"].astype(np.int64)
    counts, highs = _time_high_words(t_us >> 6, (1 << 27) - 1)
    words_per_event = counts + 1
    ends = np.cumsum(words_per_event)  # +1 below: the leading zero TIME_HIGH word
    words = np.empty(int(ends[-1]) + 1, dtype="<u4")
    words[0] = 0x8 << 28
    is_event_word = np.zeros(len(words), dtype=bool)
    is_event_word[ends] = True
    words[1:][~is_event_word[1:]] = (0x8 << 28) | (highs & 0x0FFFFFFF).astype(np.uint32)
    words[ends] = (
        ((events["p"].astype(np.uint32) & 1) << 28)
        | ((t_us & 0x3F).astype(np.uint32) << 22)
        | (events["x"].astype(np.uint32) << 11)
        | events["y"].astype(np.uint32)
    )
    path = Path(path)
    path.write_bytes(_evt_header("2.0", sensor_size) + words.tobytes())
    return path


def write_evt3(path: Path | str, events: np.ndarray, sensor_size: SensorSize | None = None) -> Path:
    """Prophesee EVT 3.0 ``.raw``: 16-bit words TIME_HIGH, TIME_LOW, ADDR_Y, ADDR_X per event as needed."""
    events = _checked(events, "EVT3", 2048, 2048, sensor_size)
    t_us = events["t"].astype(np.int64)
    high_counts, highs = _time_high_words(t_us >> 12, (1 << 11) - 1)
    first = np.arange(len(events)) == 0
    previous_t = np.concatenate(([-1], t_us[:-1]))
    needs_low = (first | (high_counts > 0) | (t_us != previous_t)).astype(np.int64)
    needs_y = (first | (events["y"] != np.concatenate(([0], events["y"][:-1])))).astype(np.int64)
    words_per_event = high_counts + needs_low + needs_y + 1
    starts = np.cumsum(words_per_event) - words_per_event + 1  # +1: the leading zero TIME_HIGH word
    words = np.zeros(int(starts[-1] + words_per_event[-1]), dtype="<u2")
    words[0] = 0x8 << 12
    high_rank = np.arange(len(highs)) - np.repeat(np.cumsum(high_counts) - high_counts, high_counts)
    high_slot = np.repeat(starts, high_counts) + high_rank
    words[high_slot] = (0x8 << 12) | (highs & 0xFFF)
    low_slot = (starts + high_counts)[needs_low > 0]
    words[low_slot] = (0x6 << 12) | (t_us[needs_low > 0] & 0xFFF)
    y_slot = (starts + high_counts + needs_low)[needs_y > 0]
    words[y_slot] = (0x0 << 12) | events["y"][needs_y > 0].astype(np.uint16)
    x, p = events["x"].astype(np.uint16), events["p"].astype(np.uint16) & 1
    words[starts + words_per_event - 1] = (0x2 << 12) | (p << 11) | x
    path = Path(path)
    path.write_bytes(_evt_header("3.0", sensor_size) + words.tobytes())
    return path


def write_nmnist(path: Path | str, events: np.ndarray) -> Path:
    """N-MNIST ``.bin``: 5 bytes per event (x, y, p << 23 | t µs in 24 bits big-endian); t < 2**23."""
    events = _checked(events, "N-MNIST", 256, 256)
    if np.any(events["y"] == 240):
        raise ValueError("N-MNIST: y == 240 marks a timestamp overflow and cannot be an event")
    if events["t"][-1] >= 1 << 23:
        raise ValueError(f"N-MNIST: timestamps must be < 2**23 µs, got {events['t'][-1]}")
    packed = np.empty((len(events), 5), dtype=np.uint8)
    word = (events["p"].astype(np.int64) << 23) | events["t"]
    packed[:, 0], packed[:, 1] = events["x"], events["y"]
    packed[:, 2], packed[:, 3], packed[:, 4] = word >> 16, (word >> 8) & 0xFF, word & 0xFF
    path = Path(path)
    path.write_bytes(packed.tobytes())
    return path


def write_gesture_labels(path: Path | str, segments: list[tuple[int, int, int]]) -> Path:
    """DVS Gesture labels CSV from ``(label_index 0..10, start_us, end_us)``; written as class 1..11."""
    rows = ["class,startTime_usec,endTime_usec"] + [f"{label + 1},{start},{end}" for label, start, end in segments]
    path = Path(path)
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def write_dvs_gesture_aedat31(
    path: Path | str,
    events: np.ndarray,
    segments: list[tuple[int, int, int]] | None = None,
    packet_events: int = 4096,
    special_packet: bool = False,
) -> Path:
    """DVS128 Gesture-style AEDAT 3.1 (polarity packets of up to ``packet_events``), plus
    ``<stem>_labels.csv`` when ``segments`` are given. ``special_packet`` prepends a packet of one
    type-0 event (as cameras write) that readers must skip."""
    events = _checked(events, "AEDAT 3.1", 1 << 15, 1 << 15)
    header = (
        "#!AER-DAT3.1\r\n#Format: RAW\r\n#Source 1: DVS128\r\n#Start-Time: 1970-01-01 00:00:00 (TZ+0000)\r\n"
        "#!END-HEADER\r\n"
    )
    parts = [header.encode("ascii")]
    if special_packet:
        parts.append(np.array([(0, 1, 8, 4, 0, 1, 1, 1)], dtype=PACKET_HEADER).tobytes())
        parts.append(np.array([(0x00000001, 0)], dtype=POLARITY_EVENT).tobytes())
    overflow = events["t"] >> 31
    cuts = np.union1d(np.flatnonzero(np.diff(overflow)) + 1, np.arange(0, len(events), packet_events))
    for start, stop in zip(cuts, np.append(cuts[1:], len(events)), strict=True):
        chunk = events[start:stop]
        count = len(chunk)
        parts.append(np.array([(1, 1, 8, 4, int(overflow[start]), count, count, count)], dtype=PACKET_HEADER).tobytes())
        records = np.empty(count, dtype=POLARITY_EVENT)
        x, y, p = (chunk[name].astype(np.uint32) for name in ("x", "y", "p"))
        records["data"] = (x << 17) | (y << 2) | ((p & 1) << 1) | 1
        records["t"] = chunk["t"] & 0x7FFFFFFF
        parts.append(records.tobytes())
    path = Path(path)
    path.write_bytes(b"".join(parts))
    if segments is not None:
        write_gesture_labels(path.with_name(f"{path.stem}_labels.csv"), segments)
    return path


AEDAT2_CHIPS = {  # the jAER chip class written for a sensor size when no chip is given
    (128, 128): "ch.unizh.ini.jaer.chip.retina.DVS128",
    (240, 180): "eu.seebetter.ini.chips.davis.DAVIS240C",
    (346, 260): "eu.seebetter.ini.chips.davis.Davis346B",
}


def aedat2_addresses(events: np.ndarray, layout: str, sensor_size: SensorSize) -> np.ndarray:
    """jAER polarity-event addresses ``(N,)`` uint32 (``layout``: "dvs128" or "davis"), the inverse of
    :func:`.read_aedat2.decode_addresses`: y (and DVS128 x) flipped back, ``height - 1 - y``."""
    x, p = events["x"].astype(np.int64), events["p"].astype(np.uint32) & 1
    y_address = (sensor_size.height - 1 - events["y"].astype(np.int64)).astype(np.uint32)
    if layout == "dvs128":
        x_address = (sensor_size.width - 1 - x).astype(np.uint32)
        return (y_address << 8) | (x_address << 1) | (1 - p)  # bit 0 clear: ON
    return (y_address << 22) | (x.astype(np.uint32) << 12) | (p << 11)


def write_aedat2(
    path: Path | str,
    events: np.ndarray,
    sensor_size: SensorSize,
    chip: str | None = None,
    extra_words: np.ndarray | None = None,
    start_time_ms: int = 1_695_355_587_880,
) -> Path:
    """jAER AEDAT 2.0 ``.aedat``: a jAER-like header, then 8-byte big-endian (address, t µs mod 2**32)
    records. ``chip``: the jAER AEChip class (default: DVS128, DAVIS240C or Davis346B by the sensor
    size); the address layout follows the size, else the chip (as :mod:`.read_aedat2` reads it).
    ``extra_words``: records with fields ``address`` (uint32, written as is: APS, IMU, special words)
    and ``t`` (µs), merged with the events in time order. Needs t[0] < 2**32 µs and gaps < 2**31 µs."""
    chip = chip or AEDAT2_CHIPS.get((sensor_size.width, sensor_size.height))
    if chip is None:
        raise ValueError(f"AEDAT 2.0: pass chip= for a {sensor_size.width}x{sensor_size.height} sensor")
    layout = layout_for(chip, sensor_size)
    events = _checked(events, "AEDAT 2.0", *LAYOUT_LIMITS[layout], sensor_size)
    records = np.empty(len(events), dtype=[("address", "<u4"), ("t", "<i8")])
    records["address"], records["t"] = aedat2_addresses(events, layout, sensor_size), events["t"]
    if extra_words is not None and len(extra_words):
        extra = np.empty(len(extra_words), dtype=records.dtype)
        extra["address"], extra["t"] = extra_words["address"], extra_words["t"]
        records = np.concatenate([records, extra])
        records = records[np.argsort(records["t"], kind="stable")]
    t_us = records["t"]
    if t_us[0] < 0 or t_us[0] >= 1 << 32 or np.any(np.diff(t_us) >= 1 << 31):
        raise ValueError("AEDAT 2.0: 32-bit timestamps need 0 <= t[0] < 2**32 µs and gaps < 2**31 µs")
    header = (
        "#!AER-DAT2.0\r\n"
        "# This is a raw AE data file - do not edit\r\n"
        "# Data format is int32 address, int32 timestamp (8 bytes total), repeated for each event\r\n"
        "# Timestamps tick is 1 us\r\n"
        f"# Creation time: System.currentTimeMillis() {int(start_time_ms)}\r\n"
        f"# AEChip: {chip}\r\n"
        "# End Of ASCII Header\r\n"
    )
    written = np.empty(len(records), dtype=AEDAT2_RECORD)
    written["address"], written["t"] = records["address"], t_us & 0xFFFFFFFF
    path = Path(path)
    path.write_bytes(header.encode("ascii") + written.tobytes())
    return path


def write_npy(path: Path | str, events: np.ndarray) -> Path:
    """``.npy`` of the :data:`EVENT_DTYPE` structured array (reading needs ``sensor_size``)."""
    path = Path(path)
    with path.open("wb") as handle:  # a file handle: numpy.save would append '.npy' to other names
        np.save(handle, as_event_array(np.asarray(events)), allow_pickle=False)
    return path


def write_npz(
    path: Path | str, events: np.ndarray, sensor_size: SensorSize | None = None, columns: bool = False
) -> Path:
    """``.npz`` with an ``events`` array (or ``x, y, t, p`` members if ``columns``) and ``sensor_size``."""
    events = as_event_array(np.asarray(events))
    members = {name: events[name] for name in ("x", "y", "t", "p")} if columns else {"events": events}
    if sensor_size is not None:
        members["sensor_size"] = np.array(sensor_size.as_tonic(), dtype=np.int64)
    path = Path(path)
    with path.open("wb") as handle:
        np.savez(handle, **members)
    return path
