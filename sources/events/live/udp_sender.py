"""Replay a recording as a live camera: SPIF datagrams over UDP, paced by the events' timestamps.

Anything that listens to aestream's UDP output (``aestream.UDPInput``, :class:`UdpEventReceiver`,
a SpiNNaker SPIF board) receives it as if a camera were attached.
"""

from __future__ import annotations

import math
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np

from ..event_array import SensorSize
from .spif_udp import MAX_EVENTS_PER_PACKET, encode_spif_words, out_of_range_mask, packetize


@dataclass
class SenderStats:
    """What :meth:`UdpEventSender.send_recording` did: events and datagrams sent, events left out
    or clamped for being outside the sensor, wall time (s) and achieved rate (events/s)."""

    events_sent: int = 0
    packets_sent: int = 0
    out_of_range_events: int = 0
    duration_s: float = 0.0
    events_per_s: float = 0.0

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


class UdpEventSender:
    """Send event chunks to ``host:port`` as SPIF datagrams (at most ``max_events_per_packet`` each).

    ``speed`` scales the recording's clock: 1 = real time, 2 = twice as fast, 0 = as fast as
    possible. Pacing sleeps on a monotonic clock (no busy-wait): all events due by now are sent,
    then the sender sleeps until the next one is due, but at least ``send_interval_s`` (1 ms), so
    datagrams stay full (a camera's USB transfers batch the same way) and an event leaves at most
    ~1 ms late; a sub-ms wake-up per few events would flood receivers with tiny datagrams (aestream
    then loses events in the kernel). Out-of-range coordinates are dropped
    (``out_of_range="drop"``) or clamped (``"clip"``) and counted. Send to loopback
    (``127.0.0.1``) unless you mean another host.
    """

    def __init__(
        self,
        host: str,
        port: int,
        sensor_size: SensorSize,
        speed: float = 1.0,
        out_of_range: Literal["drop", "clip"] = "drop",
        max_events_per_packet: int = MAX_EVENTS_PER_PACKET,
        send_interval_s: float = 0.001,
        max_gap_us: int = 5_000_000,
    ) -> None:
        if not (math.isfinite(speed) and speed >= 0):
            raise ValueError(f"--speed {speed}: expected a number >= 0 (1 = real time, 0 = as fast as possible)")
        if not 0 < port < 65536:
            raise ValueError(f"UDP port {port}: expected a port in 1..65535")
        try:
            family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
        except (socket.gaierror, UnicodeError) as error:
            raise ValueError(
                f"UDP host {host!r}: cannot be resolved ({error}); expected an address such as 127.0.0.1 or [::1]"
            ) from None
        self.address = address
        self.max_gap_us = max_gap_us
        self.sensor_size = sensor_size
        self.speed = speed
        self.out_of_range = out_of_range
        self.max_events_per_packet = max_events_per_packet
        self.send_interval_s = send_interval_s
        self.stats = SenderStats()
        self._stop_event = threading.Event()
        self._sock = socket.socket(family, socket.SOCK_DGRAM)

    def send_recording(self, chunks: Iterable[np.ndarray]) -> SenderStats:
        """Send :data:`EVENT_DTYPE` chunks ``[N]`` (``t`` in µs, non-decreasing) in order, paced.

        Time zero is the first event's ``t``; pacing carries across chunks, so a long recording
        can stream from a reader chunk by chunk. A stretch without events longer than ``max_gap_us``
        is not waited for (the clock skips it: a corrupt timestamp never makes the sender sleep for
        days). Returns (and keeps in ``self.stats``) the counts.
        """
        self._stop_event.clear()
        self.stats = stats = SenderStats()
        start_s = time.monotonic()
        first_t_us: int | None = None
        latest_t_us: int | None = None
        skipped_total_us = 0  # recording time of long gaps not waited for
        for chunk in chunks:
            if self._stop_event.is_set():
                break
            if len(chunk) == 0:
                continue
            outside = out_of_range_mask(chunk, self.sensor_size)
            stats.out_of_range_events += int(outside.sum())
            if self.out_of_range == "drop" and outside.any():
                chunk = chunk[~outside]
            if len(chunk) == 0:
                continue
            # A non-decreasing clock for pacing even if the recording's timestamps jitter backwards.
            raw_t_us = chunk["t"].astype(np.int64)
            t_us = np.maximum.accumulate(raw_t_us if latest_t_us is None else np.maximum(raw_t_us, latest_t_us))
            steps_us = np.diff(t_us, prepend=t_us[0] if latest_t_us is None else latest_t_us)
            skipped_us = skipped_total_us + np.cumsum(
                np.where(steps_us > self.max_gap_us, steps_us - self.max_gap_us, 0)
            )
            latest_t_us, skipped_total_us = int(t_us[-1]), int(skipped_us[-1])
            first_t_us = int(t_us[0]) if first_t_us is None else first_t_us
            t_us = t_us - skipped_us
            words = encode_spif_words(chunk, self.sensor_size, out_of_range="clip")
            due_s = (t_us - first_t_us) / 1e6 / self.speed if self.speed > 0 else np.zeros(len(chunk))
            self._send_paced(words, due_s, start_s)
        stats.duration_s = time.monotonic() - start_s
        stats.events_per_s = stats.events_sent / stats.duration_s if stats.duration_s > 0 else 0.0
        return stats

    def _send_paced(self, words: np.ndarray, due_s: np.ndarray, start_s: float) -> None:
        """Send ``words [M]`` whose send times are ``due_s [M]`` seconds after ``start_s``."""
        sent = 0
        while sent < len(words) and not self._stop_event.is_set():
            now_s = time.monotonic() - start_s
            due_count = int(np.searchsorted(due_s, now_s, side="right"))
            if due_count > sent:
                for payload in packetize(words[sent:due_count], self.max_events_per_packet):
                    self._sock.sendto(payload, self.address)
                    self.stats.packets_sent += 1
                self.stats.events_sent += due_count - sent
                sent = due_count
            if sent < len(words):  # sleep (stop() wakes it) until the next event, batching for send_interval_s
                wake_s = max(due_s[sent], now_s + self.send_interval_s)
                self._stop_event.wait(wake_s - (time.monotonic() - start_s))

    def stop(self) -> None:
        """Interrupt :meth:`send_recording` (from another thread); it returns the stats so far."""
        self._stop_event.set()

    def close(self) -> None:
        self.stop()
        self._sock.close()

    def __enter__(self) -> UdpEventSender:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
