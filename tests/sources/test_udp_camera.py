"""The live event-camera path for real: UDP datagrams on 127.0.0.1 between real sockets.

Each test uses a fresh port (aestream binds a port once per process). Loops are bounded.
"""

from __future__ import annotations

import socket
import threading
import time

import numpy as np
import pytest

from spikestream.sources.events.event_array import EVENT_DTYPE, SensorSize, make_events
from spikestream.sources.events.live.udp_camera import (
    AestreamUdpReceiver,
    CameraSpec,
    UdpEventReceiver,
    UdpEventSender,
    check_usb_camera_support,
    frame_counts_to_events,
    open_camera,
    parse_camera_uri,
)

SENSOR = SensorSize(128, 96)
HOST = "127.0.0.1"


def _recording(count: int, duration_us: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return make_events(
        rng.integers(0, SENSOR.width, count),
        rng.integers(0, SENSOR.height, count),
        np.sort(rng.integers(0, duration_us, count)),
        rng.integers(0, 2, count),
    )


def _keys(events: np.ndarray) -> np.ndarray:
    """Sorted ``(x, y, p)`` keys: equal arrays mean equal multisets of events."""
    keys = (events["x"].astype(np.int64) * SENSOR.height + events["y"]) * 2 + events["p"]
    return np.sort(keys)


def _counts(events: np.ndarray) -> np.ndarray:
    """Per-pixel event counts ``[W, H]`` (polarity ignored, as aestream's frames)."""
    flat = events["x"].astype(np.int64) * SENSOR.height + events["y"]
    return np.bincount(flat, minlength=SENSOR.width * SENSOR.height).reshape(SENSOR.width, SENSOR.height)


def _collect(receiver, limit_s: float = 10.0) -> np.ndarray:
    chunks, deadline = [], time.monotonic() + limit_s
    for chunk in receiver.iter_chunks(poll_s=0.01):
        chunks.append(chunk)
        assert time.monotonic() < deadline, "receiver iteration did not end"
    return np.concatenate(chunks) if chunks else np.empty(0, dtype=EVENT_DTYPE)


def _send_in_background(sender: UdpEventSender, events: np.ndarray) -> threading.Thread:
    thread = threading.Thread(target=sender.send_recording, args=([events],), daemon=True)
    thread.start()
    return thread


def test_sender_to_receiver_delivers_every_event_at_full_speed(free_udp_port: int) -> None:
    events = _recording(20_000, 1_000_000)
    with UdpEventReceiver(HOST, free_udp_port, SENSOR, idle_timeout_s=0.3) as receiver:
        with UdpEventSender(HOST, free_udp_port, SENSOR, speed=0) as sender:
            stats = sender.send_recording([events[:7_000], events[7_000:]])
        received = _collect(receiver)
        rx = receiver.stats
    assert stats.events_sent == len(events) and stats.packets_sent == -(-7_000 // 128) - (-13_000 // 128)
    assert rx.kernel_dropped_packets == 0 and rx.dropped_events == 0
    assert rx.packets == stats.packets_sent and rx.events == len(events)
    np.testing.assert_array_equal(_keys(received), _keys(events))
    assert received.dtype == EVENT_DTYPE and np.all(np.diff(received["t"]) >= 0)


@pytest.mark.parametrize("speed, expected_s", [(1.0, 0.3), (2.0, 0.15)])
def test_pacing_follows_the_recording_clock(free_udp_port: int, speed: float, expected_s: float) -> None:
    events = _recording(3_000, 300_000)
    with UdpEventReceiver(HOST, free_udp_port, SENSOR, idle_timeout_s=0.3) as receiver:
        with UdpEventSender(HOST, free_udp_port, SENSOR, speed=speed) as sender:
            start_us = time.monotonic_ns() // 1000
            stats = sender.send_recording([events])
        received = _collect(receiver)
    assert 0.8 * expected_s <= stats.duration_s <= expected_s + 0.5
    assert stats.packets_sent <= expected_s * 1000 * 1.3 + 10  # batched per ~1 ms, not one datagram per event
    assert len(received) == len(events)
    # Arrival stamps (monotonic µs) spread like the recording, scaled by the speed.
    span_s = (received["t"].max() - received["t"].min()) / 1e6
    assert 0.8 * expected_s <= span_s <= expected_s + 0.5
    assert received["t"].min() >= start_us
    first_half = received["t"] < received["t"].min() + expected_s * 1e6 / 2
    assert 0.3 < first_half.mean() < 0.7  # uniform recording: about half the events in the first half


def test_sender_drops_and_counts_out_of_range_events(free_udp_port: int) -> None:
    events = make_events([5, SENSOR.width, 7, 60_000], [5, 1, SENSOR.height, 1], [0, 1, 2, 3], [1, 0, 1, 0])
    with UdpEventReceiver(HOST, free_udp_port, SENSOR, idle_timeout_s=0.2) as receiver:
        with UdpEventSender(HOST, free_udp_port, SENSOR, speed=0) as sender:
            stats = sender.send_recording([events])
        received = _collect(receiver)
    assert stats.out_of_range_events == 3 and stats.events_sent == 1
    assert received[["x", "y", "p"]].tolist() == [(5, 5, 1)]


def test_malformed_and_out_of_range_packets_are_counted_and_the_stream_goes_on(free_udp_port: int) -> None:
    def word(x: int, y: int, p: int = 0, marker: int = 0x8000) -> int:
        return ((x | marker) << 16) | y | (p << 15)

    good = np.array([word(1, 2, 1), word(3, 4)], dtype="<u4").tobytes()
    hostile = [
        b"\x01\x02\x03",  # shorter than a word
        good + b"\xff\xff",  # truncated: two whole words survive
        np.array([word(SENSOR.width, 0), word(0, SENSOR.height), word(0x7FFF, 0x7FFF)], dtype="<u4").tobytes(),
        np.array([word(9, 9, marker=0)], dtype="<u4").tobytes(),  # no marker bit
        b"",  # empty datagram: a packet with no events
        np.random.default_rng(1).integers(0, 256, 512, dtype=np.uint8).tobytes(),  # noise
        good,
    ]
    with UdpEventReceiver(HOST, free_udp_port, SENSOR, idle_timeout_s=0.3) as receiver:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as raw:
            for payload in hostile:
                raw.sendto(payload, (HOST, free_udp_port))
        received = _collect(receiver)
        stats = receiver.stats
    noise_words = np.frombuffer(hostile[5], dtype="<u4")
    noise_valid = (
        ((noise_words >> 31) == 1)
        & (((noise_words >> 16) & 0x7FFF) < SENSOR.width)
        & ((noise_words & 0x7FFF) < SENSOR.height)
    )
    assert stats.packets == len(hostile) and stats.malformed_packets == 2
    assert stats.invalid_events == 4 + int((~noise_valid).sum())
    assert stats.events == 4 + int(noise_valid.sum()) == len(received)
    assert received[["x", "y", "p"]].tolist()[:2] == [(1, 2, 1), (3, 4, 0)]
    assert received[["x", "y", "p"]].tolist()[-2:] == [(1, 2, 1), (3, 4, 0)]
    assert received["x"].max() < SENSOR.width and received["y"].max() < SENSOR.height


def test_a_burst_beyond_the_consumer_fills_the_bounded_queue_and_counts_drops(free_udp_port: int) -> None:
    events = _recording(60_000, 1_000_000)
    with UdpEventReceiver(HOST, free_udp_port, SENSOR, queue_max_events=5_000, idle_timeout_s=0.3) as receiver:
        with UdpEventSender(HOST, free_udp_port, SENSOR, speed=0) as sender:
            sent = sender.send_recording([events])  # nobody consumes while this runs
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            rx = receiver.stats
            if rx.packets + rx.kernel_dropped_packets >= sent.packets_sent:
                break
            time.sleep(0.02)
        received = _collect(receiver)
        rx = receiver.stats
    assert len(received) == 5_000  # the queue's bound, no more
    assert rx.dropped_events == rx.events - 5_000 > 0
    assert len(received) + rx.dropped_events == rx.events <= sent.events_sent
    if rx.kernel_dropped_packets == 0:  # no loss in the kernel: every sent event is accounted for
        assert rx.events == sent.events_sent
    np.testing.assert_array_equal(_keys(received), _keys(events[:5_000]))  # the oldest are kept


def test_iteration_ends_after_the_idle_timeout_and_close_never_hangs(free_udp_port: int) -> None:
    started = time.monotonic()
    with UdpEventReceiver(HOST, free_udp_port, SENSOR, idle_timeout_s=0.2) as receiver:
        assert len(_collect(receiver, limit_s=3.0)) == 0  # nothing ever arrives
    assert time.monotonic() - started < 2.0
    with UdpEventReceiver(HOST, free_udp_port, SENSOR, idle_timeout_s=0.25) as receiver:
        with UdpEventSender(HOST, free_udp_port, SENSOR, speed=1.0) as sender:
            sender.send_recording([_recording(500, 100_000)])
        stopped = time.monotonic()
        assert len(_collect(receiver, limit_s=3.0)) == 500
        assert time.monotonic() - stopped < 1.5
    receiver = UdpEventReceiver(HOST, free_udp_port, SENSOR)  # idle_timeout_s=None: forever
    started = time.monotonic()
    receiver.close()
    assert time.monotonic() - started < 1.0 and not receiver._thread.is_alive()


def test_stop_ends_iteration_and_sender_stop_interrupts_pacing(free_udp_port: int) -> None:
    with UdpEventReceiver(HOST, free_udp_port, SENSOR, idle_timeout_s=None) as receiver:
        sender = UdpEventSender(HOST, free_udp_port, SENSOR, speed=1.0)
        thread = _send_in_background(sender, _recording(10_000, 10_000_000))  # 10 s of events
        time.sleep(0.3)
        sender.stop()
        thread.join(2.0)
        assert not thread.is_alive() and 0 < sender.stats.events_sent < 10_000
        threading.Timer(0.3, receiver.stop).start()
        started = time.monotonic()
        received = _collect(receiver, limit_s=3.0)
        assert time.monotonic() - started < 2.0
        sender.close()
    assert len(received) == sender.stats.events_sent


def test_our_sender_to_aestream_udp_input_gives_the_same_pixel_counts(free_udp_port: int) -> None:
    events = _recording(8_000, 200_000, seed=3)
    with AestreamUdpReceiver(HOST, free_udp_port, SENSOR, idle_timeout_s=0.3, read_period_s=0.002) as aestream_rx:
        time.sleep(0.05)  # aestream binds in its own thread
        with UdpEventSender(HOST, free_udp_port, SENSOR, speed=1.0) as sender:
            sender.send_recording([events])
        received = _collect(aestream_rx)
    np.testing.assert_array_equal(_counts(received), _counts(events))
    assert np.all(received["p"] == 1) and np.all(np.diff(received["t"]) >= 0)
    # Closing woke aestream's blocked thread, so the port is free again in this process.
    with UdpEventReceiver(HOST, free_udp_port, SENSOR, idle_timeout_s=0.2) as ours:
        with UdpEventSender(HOST, free_udp_port, SENSOR, speed=1.0) as sender:
            sender.send_recording([events])
        np.testing.assert_array_equal(_counts(_collect(ours)), _counts(events))


def test_aestream_receiver_refuses_a_taken_port(free_udp_port: int) -> None:
    with UdpEventReceiver(HOST, free_udp_port, SENSOR):
        with pytest.raises(OSError, match=f"port {free_udp_port} is taken"):
            AestreamUdpReceiver(HOST, free_udp_port, SENSOR)


def test_frame_counts_become_repeated_events() -> None:
    counts = np.zeros((SENSOR.width, SENSOR.height), dtype=np.float32)
    counts[218 % SENSOR.width, 15] = 10
    counts[3, 4] = 1
    events = frame_counts_to_events(counts, t_us=1234)
    assert len(events) == 11 and np.all(events["t"] == 1234) and np.all(events["p"] == 1)
    np.testing.assert_array_equal(_counts(events), counts.astype(np.int64))


@pytest.mark.parametrize(
    "uri, spec",
    [
        ("udp://127.0.0.1:3333", CameraSpec("udp", "127.0.0.1", 3333)),
        ("aestream+udp://127.0.0.1:4000", CameraSpec("aestream+udp", "127.0.0.1", 4000)),
        ("udp://localhost", CameraSpec("udp", "localhost", 3333)),
        ("usb", CameraSpec("usb")),
        ("usb://00050123", CameraSpec("usb", serial="00050123")),
    ],
)
def test_parse_camera_uri_accepts_the_documented_forms(uri: str, spec: CameraSpec) -> None:
    assert parse_camera_uri(uri) == spec


@pytest.mark.parametrize(
    "uri",
    [
        "",
        "camera0",
        "tcp://127.0.0.1:3333",
        "udp://127.0.0.1:99999",
        "udp://127.0.0.1:port",
        "udp://:3333",
        "udp://127.0.0.1:0",
        "usb://",
        "udp://127.0.0.1:3333/path",
    ],
)
def test_parse_camera_uri_rejects_bad_forms_naming_value_and_forms(uri: str) -> None:
    with pytest.raises(ValueError) as error:
        parse_camera_uri(uri)
    assert (
        repr(uri) in str(error.value) and "udp://HOST:PORT" in str(error.value) and "usb://SERIAL" in str(error.value)
    )


def test_open_camera_dispatches_on_the_uri(free_udp_port: int) -> None:
    with open_camera(f"udp://127.0.0.1:{free_udp_port}", SENSOR, idle_timeout_s=0.1) as receiver:
        assert isinstance(receiver, UdpEventReceiver) and receiver.address == (HOST, free_udp_port)


def test_usb_check_explains_a_wheel_without_drivers(monkeypatch: pytest.MonkeyPatch) -> None:
    import aestream

    monkeypatch.setattr(aestream, "drivers", [])
    with pytest.raises(RuntimeError, match="no camera drivers") as error:
        check_usb_camera_support()
    assert "from source" in str(error.value) and "UDP" in str(error.value)
    with pytest.raises(RuntimeError, match="no camera drivers"):
        open_camera("usb", SENSOR)
    monkeypatch.setattr(aestream, "drivers", ["caer"])
    assert check_usb_camera_support() == ("caer",)
