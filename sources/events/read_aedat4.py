"""iniVation DV AEDAT 4.0 files, streamed packet by packet through ``aedat.Decoder``.

The file holds LZ4/ZSTD-compressed packets of several streams (events, IMU, triggers, frames);
the events of the event stream with the lowest id are read, as ``tonic.io.read_aedat4`` does.
Geometry comes from that stream's ``sizeX`` / ``sizeY`` in the XML header. Timestamps are the
camera's absolute clock in µs (Unix epoch), returned unchanged.

A cut inside a packet only shows while decoding (the decoder reports "failed to fill whole
buffer"): :meth:`Aedat4Recording.iter_chunks` raises :class:`EventFileError` there, after the
complete packets before it, or with ``allow_truncated=True`` stops there with a warning. A
corrupt packet (decompression error) always raises.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import aedat
import numpy as np

from .event_array import EVENT_DTYPE, SensorSize
from .recording import EventRecording, file_error

_TRUNCATED_MESSAGE = "failed to fill whole buffer"


def packet_events(packet_events_array: np.ndarray) -> np.ndarray:
    """One ``aedat`` packet's events (fields t uint64 µs, x, y uint16, on bool) as :data:`EVENT_DTYPE`."""
    events = np.empty(len(packet_events_array), dtype=EVENT_DTYPE)
    events["x"] = packet_events_array["x"]
    events["y"] = packet_events_array["y"]
    events["t"] = packet_events_array["t"]
    events["p"] = packet_events_array["on"]
    return events


def _open_decoder(path: Path) -> aedat.Decoder:
    try:
        return aedat.Decoder(str(path))
    except (RuntimeError, OSError, ValueError) as error:
        reason = str(error)
        found = "a truncated header" if _TRUNCATED_MESSAGE in reason else f"an unreadable header ({reason})"
        raise file_error(path, found, "an AEDAT 4.0 header (magic, IOHeader, XML stream description)",
                         "The file is corrupt or truncated; re-copy or re-export it from DV.") from None


class Aedat4Recording(EventRecording):
    """An AEDAT 4.0 file; ``stream_id`` is the event stream read."""

    format_name = "aedat4"

    def __init__(self, path: Path, sensor_size: SensorSize | None = None, allow_truncated: bool = False) -> None:
        streams = _open_decoder(Path(path)).id_to_stream()
        event_ids = sorted(stream_id for stream_id, stream in streams.items() if stream.get("type") == "events")
        if not event_ids:
            kinds = sorted({str(stream.get("type")) for stream in streams.values()})
            raise file_error(path, f"streams of types {kinds} only", "an 'events' stream",
                             "Record or export the DVS event output too.")
        self.stream_id = event_ids[0]
        stream = streams[self.stream_id]
        if sensor_size is None:
            width, height = int(stream.get("width") or 0), int(stream.get("height") or 0)
            if width < 1 or height < 1:
                raise file_error(path, f"event stream geometry {width}x{height}", "sizeX/sizeY in the header",
                                 "Pass sensor_size=SensorSize(width, height) to open_recording.")
            sensor_size = SensorSize(width, height)
        super().__init__(Path(path), sensor_size, allow_truncated)

    def _decode_blocks(self, block_events: int) -> Iterator[np.ndarray]:
        """One array per packet of the event stream (packets are a few thousand events)."""
        packets = iter(_open_decoder(self.path))
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                return
            except (RuntimeError, OSError, ValueError) as error:
                if _TRUNCATED_MESSAGE in str(error):
                    self._truncated(f"a packet cut short ({error})")
                    return
                raise file_error(self.path, f"a corrupt packet ({error})", "decodable AEDAT 4.0 packets",
                                 "The file is damaged; re-copy or re-export it from DV.") from None
            if packet.get("stream_id") == self.stream_id and "events" in packet and len(packet["events"]):
                yield packet_events(packet["events"])
