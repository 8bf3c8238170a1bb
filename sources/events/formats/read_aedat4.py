"""iniVation DV AEDAT 4.0 files, streamed packet by packet through ``aedat.Decoder``.

The file holds LZ4/ZSTD-compressed packets of several streams (events, IMU, triggers, frames);
the events of the event stream with the lowest id are read, as ``tonic.io.read_aedat4`` does.
Geometry comes from that stream's ``sizeX`` / ``sizeY`` in the XML header. Timestamps are the
camera's absolute clock in µs (Unix epoch), returned unchanged.

Layout: the magic ``#!AER-DAT4.0\\r\\n``, a uint32 length and the IOHeader flatbuffer (compression,
``file_data_position`` = byte offset of the packet index DV appends, or -1, and the XML stream
description), then packets of an int32 stream id, a uint32 byte length and that many bytes.

Why this module checks the bytes before ``aedat`` sees them: ``aedat`` (2.3) reads the IOHeader
with an *unchecked* flatbuffer accessor, so a damaged header makes it read outside its buffer
(Rust panics, or worse) or hand invalid UTF-8 to its XML parser (a panic); and it allocates every
length the file states (IOHeader and packets, up to 4 GiB each) before reading, which aborts the
process where memory is limited. :func:`read_aedat4_header` therefore verifies the IOHeader
(sizes, flatbuffer offsets, UTF-8) and :meth:`Aedat4Recording._decode_blocks` walks the packet
headers in step with the decoder, stopping at a cut or at an impossible length before the decoder
reads it. A Rust panic that still escapes becomes an :class:`EventFileError` (it derives from
``BaseException``, not ``Exception``).

A cut only shows while decoding: :meth:`Aedat4Recording.iter_chunks` raises :class:`EventFileError`
there, after the complete packets before it, or with ``allow_truncated=True`` stops there with a
warning. A file that ends before the packet index its header points to is cut too, even between
packets. A corrupt packet (unknown stream, decompression error) always raises. Not guarded: the
size a packet decompresses to (``aedat`` decompresses a packet whole).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aedat
import numpy as np

from ..event_array import EVENT_DTYPE, SensorSize
from .recording import EventRecording, MissingSensorSizeError, file_error

MAGIC = b"#!AER-DAT4.0\r\n"
MAX_IOHEADER_BYTES = 16 << 20  # DV writes a few kB of XML; more is a damaged length field
MAX_PACKET_BYTES = 64 << 20  # DV writes packets of at most a few MB (one frame, some thousand events)
COMPRESSIONS = ("none", "lz4", "lz4-high", "zstd", "zstd-high")
_TRUNCATED_MESSAGE = "failed to fill whole buffer"
_PACKET_HEADER = struct.Struct("<iI")  # stream id, byte length


@dataclass(frozen=True)
class Aedat4Header:
    """What an AEDAT 4.0 IOHeader says: ``data_offset`` (byte offset of the first packet),
    ``file_data_position`` (byte offset of the packet index, -1 when the file has none),
    ``compression`` (one of :data:`COMPRESSIONS`) and the XML ``description``."""

    data_offset: int
    file_data_position: int
    compression: str
    description: str


def packet_events(packet_events_array: np.ndarray) -> np.ndarray:
    """One ``aedat`` packet's events (fields t uint64 µs, x, y uint16, on bool) as :data:`EVENT_DTYPE`."""
    events = np.empty(len(packet_events_array), dtype=EVENT_DTYPE)
    events["x"] = packet_events_array["x"]
    events["y"] = packet_events_array["y"]
    events["t"] = packet_events_array["t"]
    events["p"] = packet_events_array["on"]
    return events


def _flatbuffer_fields(buffer: bytes) -> tuple[dict[int, int], int]:
    """Verify the root table of a flatbuffer ``buffer``: ``({field index: field byte offset}, table end
    offset)`` for the fields present. Raises ``ValueError`` naming the first offset outside ``buffer``."""
    size = len(buffer)
    if size < 8:
        raise ValueError(f"{size} bytes, too short for a flatbuffer")
    (table,) = struct.unpack_from("<I", buffer, 0)
    if table + 4 > size:
        raise ValueError(f"root table offset {table} beyond its {size} bytes")
    (to_vtable,) = struct.unpack_from("<i", buffer, table)
    vtable = table - to_vtable
    if vtable < 0 or vtable + 4 > size:
        raise ValueError(f"vtable offset {vtable} outside its {size} bytes")
    vtable_bytes, table_bytes = struct.unpack_from("<HH", buffer, vtable)
    if (
        vtable_bytes < 4
        or vtable_bytes % 2
        or vtable + vtable_bytes > size
        or table_bytes < 4
        or table + table_bytes > size
    ):
        raise ValueError(f"vtable of {vtable_bytes} bytes / table of {table_bytes} bytes outside its {size} bytes")
    fields = {}
    for index in range((vtable_bytes - 4) // 2):
        (offset,) = struct.unpack_from("<H", buffer, vtable + 4 + 2 * index)
        if offset:
            fields[index] = table + offset
    return fields, table + table_bytes


def _scalar(buffer: bytes, fields: dict[int, int], index: int, code: str, default: int, table_end: int) -> int:
    if index not in fields:
        return default
    if fields[index] + struct.calcsize(code) > table_end:
        raise ValueError(f"field {index} beyond its table")
    return struct.unpack_from(code, buffer, fields[index])[0]


def parse_ioheader(buffer: bytes) -> tuple[int, int, str]:
    """``(compression code, file_data_position, description)`` of an IOHeader flatbuffer, every offset
    checked. Raises ``ValueError`` (offsets outside the buffer, invalid UTF-8, no description)."""
    fields, table_end = _flatbuffer_fields(buffer)
    compression = _scalar(buffer, fields, 0, "<i", 0, table_end)
    file_data_position = _scalar(buffer, fields, 1, "<q", -1, table_end)
    if 2 not in fields:
        raise ValueError("no stream description")
    to_string = _scalar(buffer, fields, 2, "<I", 0, table_end)
    start = fields[2] + to_string
    if start + 4 > len(buffer):
        raise ValueError(f"description offset {start} beyond its {len(buffer)} bytes")
    (length,) = struct.unpack_from("<I", buffer, start)
    if start + 4 + length > len(buffer):
        raise ValueError(f"description of {length} bytes at {start} beyond its {len(buffer)} bytes")
    description = buffer[start + 4 : start + 4 + length].decode("utf-8")  # strict: the decoder trusts it blindly
    return compression, file_data_position, description


def read_aedat4_header(path: Path) -> Aedat4Header:
    """Read and verify the magic and IOHeader of ``path`` (reads only the header's bytes).

    Raises :class:`EventFileError` for a file too short for its header, an impossible header length,
    offsets outside the header, an unknown compression or a description that is not UTF-8.
    """
    path = Path(path)
    file_bytes = path.stat().st_size
    with path.open("rb") as handle:
        head = handle.read(len(MAGIC) + 4)
        if len(head) < len(MAGIC) + 4:
            raise file_error(
                path,
                f"a {file_bytes}-byte file, too short to hold an AEDAT 4.0 header (truncated)",
                f"the magic {MAGIC!r} and an IOHeader",
                "Re-copy the file.",
            )
        if not head.startswith(MAGIC):
            raise file_error(
                path,
                f"first bytes {head[: len(MAGIC)]!r}",
                f"the AEDAT 4.0 magic {MAGIC!r}",
                "The file is corrupt or not an AEDAT 4.0 recording.",
            )
        (header_bytes,) = struct.unpack_from("<I", head, len(MAGIC))
        data_offset = len(MAGIC) + 4 + header_bytes
        if data_offset > file_bytes:
            raise file_error(
                path,
                f"a truncated header (it announces {header_bytes} bytes, the {file_bytes}-byte file "
                f"holds {file_bytes - len(MAGIC) - 4})",
                "a complete AEDAT 4.0 header",
                "Re-copy or re-export the file from DV.",
            )
        if header_bytes > MAX_IOHEADER_BYTES:
            raise file_error(
                path,
                f"an IOHeader length of {header_bytes} bytes",
                f"at most {MAX_IOHEADER_BYTES} bytes",
                "The header is corrupt; re-copy or re-export the file from DV.",
            )
        buffer = handle.read(header_bytes)
    try:
        compression, file_data_position, description = parse_ioheader(buffer)
    except (ValueError, struct.error) as error:
        raise file_error(
            path,
            f"a corrupt IOHeader ({error})",
            "an AEDAT 4.0 header (IOHeader flatbuffer, XML stream description)",
            "The file is corrupt; re-copy or re-export it from DV.",
        ) from None
    if not 0 <= compression < len(COMPRESSIONS):
        raise file_error(
            path,
            f"compression code {compression}",
            f"one of {COMPRESSIONS} (codes 0..4)",
            "The header is corrupt; re-copy or re-export the file from DV.",
        )
    return Aedat4Header(data_offset, file_data_position, COMPRESSIONS[compression], description)


def _is_rust_panic(error: BaseException) -> bool:
    """True for pyo3's ``PanicException`` (a Rust panic inside ``aedat``; derives from BaseException)."""
    return type(error).__name__ == "PanicException"


def _open_decoder(path: Path) -> aedat.Decoder:
    try:
        return aedat.Decoder(str(path))
    except BaseException as error:  # noqa: B036 - pyo3 panics derive from BaseException; others re-raised
        if not isinstance(error, (RuntimeError, OSError, ValueError)) and not _is_rust_panic(error):
            raise
        reason = str(error)
        found = "a truncated header" if _TRUNCATED_MESSAGE in reason else f"an unreadable header ({reason})"
        raise file_error(
            path,
            found,
            "an AEDAT 4.0 header (magic, IOHeader, XML stream description)",
            "The file is corrupt or truncated; re-copy or re-export it from DV.",
        ) from None


class Aedat4Recording(EventRecording):
    """An AEDAT 4.0 file; ``stream_id`` is the event stream read, ``header`` the :class:`Aedat4Header`."""

    format_name = "aedat4"

    def __init__(self, path: Path, sensor_size: SensorSize | None = None, allow_truncated: bool = False) -> None:
        self.header = read_aedat4_header(Path(path))
        streams = _open_decoder(Path(path)).id_to_stream()
        event_ids = sorted(stream_id for stream_id, stream in streams.items() if stream.get("type") == "events")
        if not event_ids:
            kinds = sorted({str(stream.get("type")) for stream in streams.values()})
            raise file_error(
                path,
                f"streams of types {kinds} only",
                "an 'events' stream",
                "Record or export the DVS event output too.",
            )
        self.stream_id = event_ids[0]
        stream = streams[self.stream_id]
        if sensor_size is None:
            width, height = int(stream.get("width") or 0), int(stream.get("height") or 0)
            if width < 1 or height < 1:
                raise MissingSensorSizeError(
                    str(
                        file_error(
                            path,
                            f"event stream geometry {width}x{height}",
                            "sizeX/sizeY in the header",
                            "Pass sensor_size=SensorSize(width, height) to open_recording "
                            "(--sensor WxH on the command line).",
                        )
                    )
                )
            sensor_size = SensorSize(width, height)
        super().__init__(Path(path), sensor_size, allow_truncated)

    def _packet_ahead(self, handle, offset: int, file_bytes: int) -> int | None:
        """Check the packet at ``offset`` before the decoder reads it: its end offset, or None where the
        data ends (at the packet index, or at the end of the file; a cut is reported)."""
        index_at = self.header.file_data_position
        if index_at > -1 and offset == index_at:
            return None  # the decoder stops here too
        handle.seek(offset)
        raw = handle.read(_PACKET_HEADER.size)
        if not raw:
            if index_at > offset:
                self._truncated(f"the file ends at byte {offset}, before its packet index at byte {index_at}")
            return None
        if len(raw) < _PACKET_HEADER.size:
            self._truncated(f"packet header at byte {offset} has {len(raw)} of {_PACKET_HEADER.size} bytes")
            return None
        stream_id, length = _PACKET_HEADER.unpack(raw)
        end = offset + _PACKET_HEADER.size + length
        if length > MAX_PACKET_BYTES:
            raise file_error(
                self.path,
                f"a corrupt packet at byte {offset} (stream {stream_id}, {length} bytes)",
                f"AEDAT 4.0 packets of at most {MAX_PACKET_BYTES} bytes",
                "The file is damaged; re-copy or re-export it from DV.",
            )
        if end > file_bytes:
            self._truncated(
                f"packet at byte {offset} announces {length} bytes, the file holds "
                f"{file_bytes - offset - _PACKET_HEADER.size}"
            )
            return None
        return end

    def _decode_blocks(self, block_events: int) -> Iterator[np.ndarray]:
        """One array per packet of the event stream (packets are a few thousand events)."""
        packets = iter(_open_decoder(self.path))
        file_bytes, offset = self.path.stat().st_size, self.header.data_offset
        with self.path.open("rb") as handle:
            while True:
                end = self._packet_ahead(handle, offset, file_bytes)
                if end is None:
                    return
                try:
                    packet = next(packets)
                except StopIteration:
                    return
                except BaseException as error:  # noqa: B036 - pyo3 panics derive from BaseException; others re-raised
                    if not isinstance(error, (RuntimeError, OSError, ValueError)) and not _is_rust_panic(error):
                        raise
                    if _TRUNCATED_MESSAGE in str(error):
                        self._truncated(f"a packet cut short ({error})")
                        return
                    raise file_error(
                        self.path,
                        f"a corrupt packet at byte {offset} ({error})",
                        "decodable AEDAT 4.0 packets",
                        "The file is damaged; re-copy or re-export it from DV.",
                    ) from None
                offset = end
                if packet.get("stream_id") == self.stream_id and "events" in packet and len(packet["events"]):
                    yield packet_events(packet["events"])
