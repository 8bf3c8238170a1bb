"""Live event cameras: UDP receivers (aestream's SPIF wire format), aestream USB, camera URIs.

Receivers are :class:`~.event_queue.ThreadedEventSource` s (bounded queue of :data:`EVENT_DTYPE`
chunks, every loss counted); events are stamped with their arrival time (``time.monotonic_ns() //
1000`` µs) since timestamps do not travel. :class:`UdpEventReceiver` (plain ``socket``, every word
validated) is the default. :class:`AestreamUdpReceiver` (``aestream.UDPInput``) is the interop
baseline; aestream 0.6.4 does no bounds check (an out-of-range word lands outside its frame or on
another pixel, marker-less words count, a 3-byte datagram yields a phantom event), binds a port once
per process (a second bind prints ``bind: Address already in use``, then reads zeros) and drops
polarity: use it with trusted senders only. URIs: ``udp://HOST:PORT``, ``aestream+udp://HOST:PORT``,
``usb``, ``usb://SERIAL`` (:func:`parse_camera_uri`).
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import struct
import sys
import time
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

import numpy as np

from ..event_array import EVENT_DTYPE, SensorSize
from .event_queue import ReceiverStats, ThreadedEventSource, monotonic_us
from .spif_udp import WORD_BYTES, words_to_events
from .udp_sender import SenderStats, UdpEventSender

__all__ = [
    "AestreamFrameReceiver",
    "AestreamUdpReceiver",
    "CameraSpec",
    "ReceiverStats",
    "SenderStats",  # noqa: RUF022
    "UdpEventReceiver",
    "UdpEventSender",
    "check_usb_camera_support",
    "frame_counts_to_events",
    "open_camera",
    "open_usb_camera",
    "parse_camera_uri",
]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 3333  # aestream's default
_SO_RXQ_OVFL = getattr(socket, "SO_RXQ_OVFL", 40)  # Linux: per-socket kernel drop counter
_MAX_DATAGRAM_BYTES = 65536
_BATCH_BUFFER_BYTES = 1 << 20


class UdpEventReceiver(ThreadedEventSource):
    """The project's receiver: a plain UDP socket, every word validated, bursts absorbed.

    Binds ``host:port`` at construction (``OSError`` if taken) and starts receiving at once.
    ``recv_buffer_bytes`` is the kernel buffer actually granted (``SO_RCVBUF``, capped by
    ``net.core.rmem_max``). Packets are read in batches and decoded with one vectorised pass.
    Words without the marker bit are invalid unless ``require_marker=False`` (aestream's leniency).
    """

    def __init__(
        self,
        host: str,
        port: int,
        sensor_size: SensorSize,
        queue_max_events: int = 2_000_000,
        idle_timeout_s: float | None = None,
        recv_buffer_bytes: int = 8 << 20,
        require_marker: bool = True,
    ) -> None:
        super().__init__(sensor_size, queue_max_events, idle_timeout_s)
        self.require_marker = require_marker
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, recv_buffer_bytes)
            self._overflow_counter = sys.platform.startswith("linux")
            if self._overflow_counter:
                self._sock.setsockopt(socket.SOL_SOCKET, _SO_RXQ_OVFL, 1)
            self._sock.bind((host, port))
        except OSError as error:
            self._sock.close()
            raise OSError(
                f"UdpEventReceiver: cannot listen on udp://{host}:{port}: {error}; pick a free port"
            ) from error
        self._sock.setblocking(False)
        self.address: tuple[str, int] = self._sock.getsockname()
        self.recv_buffer_bytes = self._sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        self._thread.start()

    def _run(self) -> None:
        buffer = bytearray(_BATCH_BUFFER_BYTES + _MAX_DATAGRAM_BYTES)
        view = memoryview(buffer)
        ancillary_bytes = socket.CMSG_SPACE(4) if self._overflow_counter else 0
        with selectors.DefaultSelector() as selector:
            selector.register(self._sock, selectors.EVENT_READ)
            while not self._stop_event.is_set():
                if not selector.select(timeout=0.05):
                    continue
                offset, malformed, stamps_us, word_counts = 0, 0, [], []
                while offset < _BATCH_BUFFER_BYTES:
                    try:
                        nbytes, ancillary, _, _ = self._sock.recvmsg_into([view[offset:]], ancillary_bytes)
                    except (BlockingIOError, InterruptedError):
                        break
                    stamps_us.append(monotonic_us())
                    fragment = nbytes % WORD_BYTES  # truncated word: drop it, count the packet
                    malformed += fragment != 0
                    word_counts.append((nbytes - fragment) // WORD_BYTES)
                    offset += nbytes - fragment
                    for level, kind, data in ancillary:
                        if level == socket.SOL_SOCKET and kind == _SO_RXQ_OVFL and len(data) >= 4:
                            self._stats.kernel_dropped_packets = struct.unpack("=I", data[:4])[0]
                words = np.frombuffer(buffer, dtype="<u4", count=offset // WORD_BYTES)
                events, valid = words_to_events(words, self.sensor_size, self.require_marker)
                events["t"] = np.repeat(np.asarray(stamps_us, dtype=np.int64), word_counts)[valid]
                self._push(events, packets=len(stamps_us), malformed=malformed, invalid=len(words) - len(events))

    def _release(self) -> None:
        self._sock.close()  # after the thread ended: no receive call races the close


def frame_counts_to_events(counts_wh: np.ndarray, t_us: int) -> np.ndarray:
    """Turn a ``[W, H]`` frame of event counts into events ``[sum(counts)]`` at time ``t_us``.

    Each pixel with count ``c`` becomes ``c`` events; polarity is unknown and set to ON (1).
    """
    xs, ys = np.nonzero(counts_wh)
    repeats = np.clip(np.rint(counts_wh[xs, ys]), 0, None).astype(np.int64)
    events = np.empty(int(repeats.sum()), dtype=EVENT_DTYPE)
    events["x"] = np.repeat(xs, repeats)
    events["y"] = np.repeat(ys, repeats)
    events["t"] = t_us
    events["p"] = 1
    return events


class AestreamFrameReceiver(ThreadedEventSource):
    """Events from an entered aestream input (``UDPInput``/``USBInput``) read as count frames.

    Every ``read_period_s`` the ``[W, H]`` frame is read and turned into events stamped at read
    time (resolution = the period), polarity ON. ``packets``/``invalid_events`` stay 0: aestream
    does not report them.
    """

    def __init__(
        self,
        aestream_input: Any,
        sensor_size: SensorSize,
        queue_max_events: int = 2_000_000,
        idle_timeout_s: float | None = None,
        read_period_s: float = 0.002,
    ) -> None:
        super().__init__(sensor_size, queue_max_events, idle_timeout_s)
        self.read_period_s = read_period_s
        self._input = aestream_input
        self._thread.start()

    def _read_once(self) -> None:
        counts_wh = np.asarray(self._input.read())
        self._push(frame_counts_to_events(counts_wh, monotonic_us()))

    def _run(self) -> None:
        while not self._stop_event.wait(self.read_period_s):
            self._read_once()
        self._read_once()  # what arrived before stop()

    def _release(self) -> None:
        self._input.__exit__(None, None, None)


def _ensure_port_free(port: int) -> None:
    """aestream prints a bind error and then reads zeros forever; fail loudly here instead."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind(("0.0.0.0", port))
        except OSError as error:
            raise OSError(
                f"AestreamUdpReceiver: UDP port {port} is taken ({error}); aestream can bind a port only "
                "once per process: use a fresh port or another process"
            ) from error


class AestreamUdpReceiver(AestreamFrameReceiver):
    """Same interface as :class:`UdpEventReceiver`, backed by ``aestream.UDPInput((W, H), port=P)``.

    aestream listens on all interfaces (``host`` is only used to wake its thread on close). It
    does no bounds check, so a bad packet can corrupt memory: :class:`UdpEventReceiver` is the
    project's default. On close an empty datagram wakes aestream's blocked receive thread, which
    otherwise keeps the port bound until the next packet.
    """

    def __init__(
        self,
        host: str,
        port: int,
        sensor_size: SensorSize,
        queue_max_events: int = 2_000_000,
        idle_timeout_s: float | None = None,
        read_period_s: float = 0.002,
    ) -> None:
        import aestream

        _ensure_port_free(port)
        self.address = (host, port)
        udp_input = aestream.UDPInput((sensor_size.width, sensor_size.height), device="cpu", port=port)
        udp_input.__enter__()
        try:
            super().__init__(udp_input, sensor_size, queue_max_events, idle_timeout_s, read_period_s)
        except BaseException:  # bad settings: free aestream's thread and port before raising
            self._input = udp_input
            self._release()
            raise

    def _release(self) -> None:
        super()._release()
        wake_host = DEFAULT_HOST if self.address[0] in ("", "0.0.0.0") else self.address[0]
        deadline_s = time.monotonic() + 1.0
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as waker:
            while time.monotonic() < deadline_s:  # wake aestream's thread until it closed its socket
                waker.sendto(b"", (wake_host, self.address[1]))
                time.sleep(0.005)
                with contextlib.suppress(OSError):  # still bound: retry; after the deadline a bind says so
                    return _ensure_port_free(self.address[1])


@dataclass(frozen=True)
class CameraSpec:
    """A parsed camera URI: ``transport`` and its address (``host``/``port``) or USB ``serial``."""

    transport: Literal["udp", "aestream+udp", "usb"]
    host: str | None = None
    port: int | None = None
    serial: str | None = None


_URI_FORMS = "udp://HOST:PORT, aestream+udp://HOST:PORT (e.g. udp://127.0.0.1:3333), usb or usb://SERIAL"


def parse_camera_uri(uri: str) -> CameraSpec:
    """Parse ``udp://HOST:PORT``, ``aestream+udp://HOST:PORT``, ``usb`` or ``usb://SERIAL``.

    The port defaults to 3333 (aestream's). Raises ``ValueError`` naming the value and the forms.
    """
    text = uri.strip()
    if text == "usb":
        return CameraSpec("usb")
    if "://" not in text:
        raise ValueError(f"camera {uri!r}: not a camera URI; accepted forms: {_URI_FORMS}")
    scheme = text.split("://", 1)[0].lower()
    if scheme == "usb":
        serial = text.split("://", 1)[1]
        if not serial or "/" in serial:
            raise ValueError(
                f"camera {uri!r}: expected usb://SERIAL with a serial number; accepted forms: {_URI_FORMS}"
            )
        return CameraSpec("usb", serial=serial)
    if scheme not in ("udp", "aestream+udp"):
        raise ValueError(f"camera {uri!r}: unknown scheme {scheme!r}; accepted forms: {_URI_FORMS}")
    parts = urlsplit(text)
    try:
        port = parts.port if parts.port is not None else DEFAULT_PORT
    except ValueError as error:  # non-numeric or out-of-range port
        raise ValueError(f"camera {uri!r}: bad port ({error}); accepted forms: {_URI_FORMS}") from None
    if not parts.hostname or parts.path not in ("", "/") or parts.query or port == 0:
        raise ValueError(
            f"camera {uri!r}: expected {scheme}://HOST:PORT with port 1..65535; accepted forms: {_URI_FORMS}"
        )
    return CameraSpec(scheme, host=parts.hostname, port=port)  # type: ignore[arg-type]


def check_usb_camera_support() -> tuple[str, ...]:
    """Return aestream's camera drivers (e.g. ``("caer",)``); ``RuntimeError`` if there are none."""
    import aestream

    drivers = tuple(aestream.drivers)
    if not any(name in drivers for name in ("caer", "metavision")):
        raise RuntimeError(
            f"this aestream build has no camera drivers (aestream.drivers == {list(drivers)}); the PyPI wheel "
            "ships none. Build aestream from source with the vendor SDK installed (libcaer for iniVation, "
            "OpenEB/Metavision for Prophesee): `pip install --no-binary aestream aestream`, or stream the camera "
            "over UDP with an aestream UDP output / `spikestream send` and open udp://HOST:PORT"
        )
    return drivers


def open_usb_camera(
    sensor_size: SensorSize,
    serial: str | None = None,
    queue_max_events: int = 2_000_000,
    idle_timeout_s: float | None = None,
    read_period_s: float = 0.002,
) -> AestreamFrameReceiver:
    """Open a USB event camera through ``aestream.USBInput`` (needs a build with drivers).

    ``serial`` selects a Prophesee camera by serial number (Metavision builds); without it the
    first camera is used. Untested here: the PyPI wheel has no drivers and CI has no camera.
    """
    check_usb_camera_support()
    import aestream

    by_serial = {"serial_number": serial} if serial else {}  # Metavision builds select by serial number
    usb_input = aestream.USBInput((sensor_size.width, sensor_size.height), device="cpu", **by_serial)
    usb_input.__enter__()
    return AestreamFrameReceiver(usb_input, sensor_size, queue_max_events, idle_timeout_s, read_period_s)


def open_camera(camera: str | CameraSpec, sensor_size: SensorSize, **options: Any) -> ThreadedEventSource:
    """Open the live source a URI or :class:`CameraSpec` names (``options``: queue and timeout settings)."""
    spec = parse_camera_uri(camera) if isinstance(camera, str) else camera
    if spec.transport == "udp":
        return UdpEventReceiver(spec.host or DEFAULT_HOST, spec.port or DEFAULT_PORT, sensor_size, **options)
    if spec.transport == "aestream+udp":
        return AestreamUdpReceiver(spec.host or DEFAULT_HOST, spec.port or DEFAULT_PORT, sensor_size, **options)
    return open_usb_camera(sensor_size, spec.serial, **options)
