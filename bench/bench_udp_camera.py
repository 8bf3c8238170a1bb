"""Live event-camera transport on loopback: how many events/s does a receiver take without loss?

Receivers (same run, same sender, same rates):

* ``spikestream``: :class:`UdpEventReceiver` (plain socket, batched vectorised decoding, every
  word validated, arrival stamps) with a consumer draining ``iter_chunks``;
* ``spikestream_default_rcvbuf``: the same with the kernel's default 208 KiB receive buffer (what
  aestream's socket gets), to separate the buffer from the receive loop;
* ``aestream`` (the named baseline): ``aestream.UDPInput((W, H), port=P)`` read every 2 ms, the
  frame counts summed (what aestream delivers; no per-event decoding, no timestamps).

The sender is :class:`UdpEventSender` in a separate process pinned to CPU 1, replaying a uniform
recording (DAVIS346 geometry, 346×260) at a given rate in real time (speed 1) for 1 s, 128
events per datagram. The receiving process is pinned to CPU 0 (one core: the receive thread and
the consumer share it; so does aestream's C++ thread). A rate counts as sustained when every sent
event arrived (and, for ours, nothing was dropped in the kernel or the queue); the summary is the
highest achieved sender rate lossless at it and every lower rate (``sender_limited`` when the top
rate was lossless but the Python sender fell short of it). Other processes share this machine's
two cores, so treat the numbers as a floor. Writes ``bench/results/udp_camera.json``.
Run: ``.venv/bin/python bench/bench_udp_camera.py`` (< 60 s).
"""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from spikestream.sources.events.event_array import SensorSize, make_events
from spikestream.sources.events.live.udp_camera import UdpEventReceiver, UdpEventSender

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
SENSOR = SensorSize(346, 260)
HOST = "127.0.0.1"
RATES_EVENTS_PER_S = [300_000, 1_000_000, 2_000_000, 4_000_000, 8_000_000, 16_000_000]
DURATION_S = 1.0
AESTREAM_READ_PERIOD_S = 0.002
DEFAULT_RCVBUF_BYTES = 212_992  # Linux net.core.rmem_default: what aestream's socket gets
RECEIVERS = ("spikestream", "spikestream_default_rcvbuf", "aestream")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def socket_drops(port: int) -> int:
    """Datagrams the kernel dropped for the socket bound to ``port`` (``/proc/net/udp`` drops, Linux)."""
    try:
        for line in Path("/proc/net/udp").read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].split(":")[1], 16) == port:
                return int(fields[-1])
    except (OSError, ValueError, IndexError):
        pass
    return -1


def pin_to_cpu(cpu: int) -> None:
    if hasattr(os, "sched_setaffinity") and cpu < (os.cpu_count() or 1):
        os.sched_setaffinity(0, {cpu})


def run_sender(port: int, rate: float, duration_s: float) -> None:
    """Sender process: a uniform recording of ``rate * duration_s`` events, sent in real time."""
    pin_to_cpu(1)
    count = int(rate * duration_s)
    rng = np.random.default_rng(0)
    t_us = (np.arange(count) * (1e6 / rate)).astype(np.int64)
    events = make_events(
        rng.integers(0, SENSOR.width, count), rng.integers(0, SENSOR.height, count), t_us, rng.integers(0, 2, count)
    )
    chunk = 65_536
    with UdpEventSender(HOST, port, SENSOR, speed=1.0) as sender:
        stats = sender.send_recording(events[i : i + chunk] for i in range(0, count, chunk))
    print(json.dumps(stats.as_dict()))


def start_sender(port: int, rate: float) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, __file__, "--send", str(port), str(rate), str(DURATION_S)], stdout=subprocess.PIPE, text=True
    )


def finish_sender(process: subprocess.Popen) -> dict:
    out, _ = process.communicate(timeout=30)
    return json.loads(out.strip().splitlines()[-1])


def measure_ours(rate: float, recv_buffer_bytes: int = 8 << 20) -> dict:
    port = free_port()
    with UdpEventReceiver(HOST, port, SENSOR, idle_timeout_s=None, recv_buffer_bytes=recv_buffer_bytes) as receiver:
        process = start_sender(port, rate)
        received, quiet_since = 0, None
        for chunk in receiver.iter_chunks(poll_s=0.005, yield_empty=True):
            received += len(chunk)
            if len(chunk) or process.poll() is None:  # until the sender is done and 0.3 s passed quietly
                quiet_since = None
            elif quiet_since is None:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since > 0.3:
                break
        sent = finish_sender(process)
        stats = receiver.stats
        drops = socket_drops(port)
    return {
        "received_events": received,
        "sent_events": sent["events_sent"],
        "sender_events_per_s": round(sent["events_per_s"]),
        "kernel_dropped_packets": stats.kernel_dropped_packets,
        "socket_dropped_packets": drops,
        "queue_dropped_events": stats.dropped_events,
        "recv_buffer_bytes": receiver.recv_buffer_bytes,
        "lossless": received == sent["events_sent"] and stats.kernel_dropped_packets == 0,
    }


def measure_aestream(rate: float) -> dict:
    import aestream

    port = free_port()
    received = 0.0
    with aestream.UDPInput((SENSOR.width, SENSOR.height), device="cpu", port=port) as udp_input:
        time.sleep(0.05)  # aestream binds in its own thread
        process = start_sender(port, rate)
        quiet_since = None
        while True:  # read until the sender is done and nothing came for 0.3 s
            time.sleep(AESTREAM_READ_PERIOD_S)
            got = float(udp_input.read().sum())
            received += got
            if got or process.poll() is None:
                quiet_since = None
            elif quiet_since is None:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since > 0.3:
                break
        sent = finish_sender(process)
        drops = socket_drops(port)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as waker:  # let aestream's thread end
            waker.sendto(b"", (HOST, port))
        time.sleep(0.05)  # before udp_input is freed: its thread still holds a pointer to it
    return {
        "received_events": int(received),
        "sent_events": sent["events_sent"],
        "sender_events_per_s": round(sent["events_per_s"]),
        "socket_dropped_packets": drops,
        "lossless": int(received) == sent["events_sent"],
    }


def main() -> None:
    pin_to_cpu(0)
    started = time.monotonic()
    rows = []
    for rate in RATES_EVENTS_PER_S:
        row = {
            "rate_events_per_s": rate,
            "spikestream": measure_ours(rate),
            "spikestream_default_rcvbuf": measure_ours(rate, recv_buffer_bytes=DEFAULT_RCVBUF_BYTES),
            "aestream": measure_aestream(rate),
        }
        rows.append(row)
        print(
            f"{rate / 1e6:5.1f} M ev/s  received/sent:"
            + "".join(f"  {name} {row[name]['received_events']:,}/{row[name]['sent_events']:,}" for name in RECEIVERS),
            flush=True,
        )

    def best(name: str) -> dict:
        """Highest achieved sender rate lossless at it and at every lower rate."""
        achieved = 0
        for row in rows:
            if not row[name]["lossless"]:
                break
            achieved = row[name]["sender_events_per_s"]
        limited = (
            rows[-1][name]["lossless"] and rows[-1][name]["sender_events_per_s"] < 0.95 * rows[-1]["rate_events_per_s"]
        )
        return {"events_per_s": achieved, "sender_limited": bool(limited)}

    result = {
        "benchmark": "udp_camera_receive_loopback",
        "what": "max events/s received on 127.0.0.1 without loss, receiver on one core, sender in another process",
        "sensor_size": [SENSOR.width, SENSOR.height],
        "events_per_packet": 128,
        "duration_per_rate_s": DURATION_S,
        "aestream_read_period_s": AESTREAM_READ_PERIOD_S,
        "baseline": "aestream.UDPInput 0.6.4 frame counts summed",
        "rows": rows,
        "max_lossless": {name: best(name) for name in RECEIVERS},
        "bench_wall_s": round(time.monotonic() - started, 1),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "udp_camera.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["max_lossless"]), f"in {result['bench_wall_s']} s")


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--send":
        run_sender(int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]))
    else:
        main()
