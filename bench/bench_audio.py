"""Audio benchmarks, each against a named baseline in the same run; writes bench/results/audio.json.

1. Streaming MFCC per hop vs recomputing ``librosa.feature.mfcc`` over the sliding window at every hop.
2. Stateful step-by-step SNN inference vs re-running the model over the whole sliding window at
   every hop, for several window lengths.
3. Whole live path (audio in → detection out) on one core: real-time factor of a replay at
   ``--speed 0`` of real FSDD test clips (baseline: real time), and latency from the end of each
   utterance to its detection (stream time of the decision + measured processing delay).
4. Peak memory (max RSS) of ``spikestream replay`` and of ``spikestream listen`` on the
   ALSA file-capture device (tests/pipeline/test_live_microphone.py recipe), in subprocesses.

Run: ``.venv/bin/python bench/bench_audio.py`` (about 2 minutes on 2 cores).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import librosa
import numpy as np
import soundfile
import soxr
import torch

from spikestream.models.checkpoint import load_checkpoint
from spikestream.pipeline.inputs import AUDIO_BLOCK_MS
from spikestream.pipeline.training.evaluate import evaluation_clips, stream_clip
from spikestream.sources.audio.audio_file import read_audio
from spikestream.sources.audio.mfcc import MfccConfig, StreamingMfcc

REPO = Path(__file__).resolve().parents[1]
FSDD = REPO.parent / "shared" / "data" / "fsdd"
RESULTS = REPO / "bench" / "results"


def best_of(repeats: int, function) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def bench_mfcc(audio: np.ndarray, config: MfccConfig, window_s: float = 1.0) -> dict:
    hop = config.hop_length
    hops = 300
    window = int(window_s * config.sample_rate_hz)
    signal = np.tile(audio, 1 + (window + hops * hop) // audio.size)[: window + hops * hop]

    def streaming():
        stream = StreamingMfcc(config)
        stream.push(signal[:window])
        for k in range(hops):
            stream.push(signal[window + k * hop : window + (k + 1) * hop])

    def recompute():
        for k in range(hops):
            librosa.feature.mfcc(
                y=signal[(k + 1) * hop : window + (k + 1) * hop],
                sr=config.sample_rate_hz,
                n_mfcc=config.n_mfcc,
                n_fft=config.n_fft,
                hop_length=hop,
                n_mels=config.n_mels,
                fmin=config.fmin_hz,
            )

    stream_s, recompute_s = best_of(3, streaming), best_of(3, recompute)
    return {
        "window_s": window_s,
        "hops": hops,
        "streaming_us_per_hop": stream_s / hops * 1e6,
        "librosa_recompute_us_per_hop": recompute_s / hops * 1e6,
        "speedup": recompute_s / stream_s,
    }


def bench_stateful_model(model: torch.nn.Module, input_shape: tuple[int, ...], step_ms: float) -> list[dict]:
    rows = []
    hops = 50
    for window_s in (0.25, 0.5, 1.0, 2.0):
        window_steps = int(window_s * 1000 / step_ms)
        x = torch.rand((window_steps + hops, 1) + input_shape)
        with torch.no_grad():
            _, state = model(x[:window_steps])

            def stateful(state=state, x=x, window_steps=window_steps):
                s = state
                for k in range(hops):
                    _, s = model(x[window_steps + k : window_steps + k + 1], s)

            def rerun(x=x, window_steps=window_steps):
                for k in range(hops):
                    model(x[k + 1 : window_steps + k + 1])

            stateful_s, rerun_s = best_of(3, stateful), best_of(2, rerun)
        rows.append(
            {
                "window_s": window_s,
                "window_steps": window_steps,
                "stateful_ms_per_hop": stateful_s / hops * 1e3,
                "rerun_window_ms_per_hop": rerun_s / hops * 1e3,
                "speedup": rerun_s / stateful_s,
            }
        )
    return rows


def bench_live_path(loaded, clips) -> dict:
    lead_s = 0.3
    rate = loaded.config["front_end"]["mfcc"]["sample_rate_hz"]
    processing_s = stream_s = 0.0
    latencies_ms, processing_delays_ms = [], []
    for clip in clips:
        samples = read_audio(clip.path, rate)
        report = stream_clip(loaded, samples, clip.path.name, lead_s=lead_s, tail_s=0.7)
        processing_s += report.processing_s
        stream_s += report.stream_us / 1e6
        if report.detections:
            first = report.detections[0]
            end_us = int((lead_s + samples.size / rate) * 1e6)
            # live, the step that fired is processed when its whole audio block has arrived
            block_us = int(AUDIO_BLOCK_MS * 1000)
            block_end_us = -(-first.time_us // block_us) * block_us
            latencies_ms.append((block_end_us - end_us) / 1e3 + first.latency_ms)
            processing_delays_ms.append(first.latency_ms)
    latencies = np.array(latencies_ms)
    return {
        "clips": len(clips),
        "stream_seconds": stream_s,
        "processing_seconds": processing_s,
        "real_time_factor": processing_s / stream_s,
        "times_faster_than_real_time": stream_s / processing_s,
        "latency_end_of_utterance_to_detection_ms": {
            "p50": float(np.percentile(latencies, 50)),
            "p90": float(np.percentile(latencies, 90)),
            "p99": float(np.percentile(latencies, 99)),
            "min": float(latencies.min()),
            "note": "utterance end -> end of the audio block holding the step that fired "
            "(segment decision: when the background returns) + processing delay",
        },
        "processing_delay_ms_p50": float(np.percentile(processing_delays_ms, 50)),
        "processing_delay_ms_p99": float(np.percentile(processing_delays_ms, 99)),
    }


def peak_rss_mib(command: list[str], env: dict | None = None) -> dict:
    """Max RSS of a subprocess via ``wait4`` resource usage."""
    process = subprocess.Popen(
        command, cwd=REPO, env=dict(os.environ, **(env or {})), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(process.pid, 0)
    return {
        "command": " ".join(command[2:]),
        "exit_status": os.waitstatus_to_exitcode(status),
        "peak_rss_mib": usage.ru_maxrss / 1024,
    }


def bench_memory() -> list[dict]:
    cli = [sys.executable, "-m", "spikestream.pipeline.cli"]
    recording = str(REPO / "recordings" / "digits_sequence.wav")
    rows = [peak_rss_mib(cli + ["replay", recording, "--speed", "0", "--quiet"])]
    with tempfile.TemporaryDirectory() as home:
        samples, rate = soundfile.read(recording, dtype="float32")
        raw = Path(home) / "speech.raw"
        (np.clip(soxr.resample(samples, rate, 16000), -1, 1) * 32767).astype("<i2").tofile(raw)
        (Path(home) / ".asoundrc").write_text(
            f'pcm.!default {{\n type file\n slave.pcm "null"\n file "/dev/null"\n infile "{raw}"\n format "raw"\n}}\n'
        )
        rows.append(
            peak_rss_mib(
                cli + ["listen", "--device-rate", "16000", "--seconds", "15", "--buffer-seconds", "20", "--quiet"],
                {"HOME": home},
            )
        )
    return rows


def main() -> None:
    torch.set_num_threads(1)
    loaded = load_checkpoint("fsdd-digits")
    front_end = loaded.config["front_end"]
    config = MfccConfig.from_dict(front_end["mfcc"])
    audio = read_audio(FSDD / "7_jackson_32.wav", config.sample_rate_hz)
    clips = evaluation_clips(FSDD, "test")
    results = {
        "machine": {
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "librosa": librosa.__version__,
            "platform": platform.platform(),
        },
        "streaming_mfcc_vs_librosa_recompute": bench_mfcc(audio, config),
        "stateful_snn_vs_rerun_window": bench_stateful_model(
            loaded.model, tuple(loaded.model.config.input_shape), loaded.model.config.step_ms
        ),
        "live_path": bench_live_path(loaded, clips),
        "peak_memory": bench_memory(),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "audio.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
