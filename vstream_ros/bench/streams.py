"""`vstream bench --streams N`: N streams on ONE model in one process (one Scheduler, batched steps) against N
single-stream processes side by side, in one run, on the shipped demo model (float32, CPU or the model device).

Each worker is a child process (`python -m vstream_ros.bench.streams --worker S`): it loads the demo model once,
serves S streams — the shipped held-out videos, first `seconds` s, decoded at the model fps before the clock
starts — through StreamPipelines sharing one Scheduler, frames pushed as fast as they are taken (never
dropped), and prints one JSON line: decisions, wall time, each stream's decision intervals (the time a stream
waits between two decisions at full load: its decision latency under load) and its peak RSS.
  (a) one worker with N streams;  (b) N workers with one stream each, started together.
Reported: aggregate decisions/s of (a) and (b) and their ratio; per-stream decision interval p50/p99; peak RSS
of the N-stream process vs one single-stream process (and the N processes' sum).

Imports: stdlib at import time; torch and the engine in the worker only. Never ROS.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


def worker(streams: int, seconds: float, first_video: int = 0) -> dict:
    """Serve `streams` demo videos on one model; the measurement of one process."""
    import resource  # noqa: PLC0415

    from ..demo.streams import load_stream, shipped_indices  # noqa: PLC0415
    from ..engine.checkpoint import load_live_model  # noqa: PLC0415
    from ..engine.config import ModelSpec, StreamConfig  # noqa: PLC0415
    from ..engine.events import FrameDecision  # noqa: PLC0415
    from ..engine.factory import build_backends  # noqa: PLC0415
    from ..engine.frames import FrameClock  # noqa: PLC0415
    from ..engine.pipeline import PipelineConfig, StreamPipeline  # noqa: PLC0415
    from ..engine.scheduler import Scheduler  # noqa: PLC0415
    from ..engine.sources import find_demo_root  # noqa: PLC0415

    root = find_demo_root()
    model = load_live_model(ModelSpec(checkpoint=str(root / "checkpoint"), llm=str(root / "llm"),
                                      vision=str(root / "vision"), device="cpu", dtype="float32"))
    cfg = StreamConfig()
    indices = shipped_indices(root)
    videos = []
    for k in range(streams):
        clock = FrameClock(cfg.fps)
        stream = load_stream(root, indices[(first_video + k) % len(indices)])
        videos.append([(rgb, t) for t, rgb in stream.frames() if t < seconds and clock.accept(t)])
    sched = Scheduler()
    stamps: list[list[float]] = [[] for _ in range(streams)]

    def on_event(k):
        def hook(ev):
            if isinstance(ev, FrameDecision):
                stamps[k].append(time.perf_counter())
        return hook
    pipes = [StreamPipeline(b, model.protocol, cfg, vision=model.vision, on_event=on_event(k), name=f"s{k}",
                            options=PipelineConfig.reproducible(), scheduler=sched, start=False)
             for k, b in enumerate(build_backends(model, streams, fps=cfg.fps))]
    t0 = time.perf_counter()
    for p in pipes:
        p.start()
    import threading  # noqa: PLC0415
    feeders = [threading.Thread(target=lambda p=p, v=v: [p.push(rgb, t) for rgb, t in v]) for p, v in zip(pipes, videos)]
    for th in feeders:
        th.start()
    for th in feeders:
        th.join()
    for p in pipes:
        p.finish()
    wall = time.perf_counter() - t0
    for p in pipes:
        p.close()
    intervals = [b - a for s in stamps for a, b in zip([t0] + s[:-1], s)]
    return {"streams": streams, "decisions": sum(len(s) for s in stamps), "wall_s": wall,
            "intervals": intervals, "steps": sched.steps, "requests": sched.requests,
            "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _spawn(streams: int, seconds: float, first_video: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "vstream_ros.bench.streams", "--worker", str(streams),
                             "--seconds", str(seconds), "--first-video", str(first_video)],
                            stdout=subprocess.PIPE, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})


def _collect(procs: list[subprocess.Popen]) -> list[dict]:
    out = []
    for p in procs:
        stdout, _ = p.communicate()
        if p.returncode != 0:
            raise RuntimeError(f"bench worker failed (exit {p.returncode})")
        out.append(json.loads(stdout.strip().splitlines()[-1]))
    return out


def compare(n: int, seconds: float = 20.0, log=lambda s: None) -> dict:
    """(a) one process with n streams, then (b) n single-stream processes started together."""
    log(f"(a) one process, {n} streams on one model …")
    one = _collect([_spawn(n, seconds, 0)])[0]
    log(f"(b) {n} single-stream processes side by side …")
    many = _collect([_spawn(1, seconds, k) for k in range(n)])
    wall_b = max(r["wall_s"] for r in many)
    agg_a = one["decisions"] / one["wall_s"]
    agg_b = sum(r["decisions"] for r in many) / wall_b
    iv_b = [x for r in many for x in r["intervals"]]
    return {"streams": n, "seconds": seconds,
            "a": {"decisions": one["decisions"], "wall_s": one["wall_s"], "decisions_per_s": agg_a,
                  "interval_p50_ms": 1e3 * _pct(one["intervals"], 0.5),
                  "interval_p99_ms": 1e3 * _pct(one["intervals"], 0.99), "rss_mb": one["rss_mb"],
                  "mean_batch": one["requests"] / max(1, one["steps"])},
            "b": {"decisions": sum(r["decisions"] for r in many), "wall_s": wall_b, "decisions_per_s": agg_b,
                  "interval_p50_ms": 1e3 * _pct(iv_b, 0.5), "interval_p99_ms": 1e3 * _pct(iv_b, 0.99),
                  "rss_mb_one": statistics.median(r["rss_mb"] for r in many),
                  "rss_mb_sum": sum(r["rss_mb"] for r in many)},
            "throughput_ratio": agg_a / agg_b,
            "rss_ratio_vs_one_process": one["rss_mb"] / statistics.median(r["rss_mb"] for r in many)}


def format_result(r: dict) -> str:
    a, b = r["a"], r["b"]
    n = r["streams"]
    return "\n".join([
        f"{'':34s}{'decisions':>10s}{'wall s':>9s}{'dec/s':>8s}{'p50 ms':>9s}{'p99 ms':>9s}{'RSS MB':>9s}",
        f"{f'(a) 1 process, {n} streams':34s}{a['decisions']:>10d}{a['wall_s']:>9.1f}{a['decisions_per_s']:>8.1f}"
        f"{a['interval_p50_ms']:>9.0f}{a['interval_p99_ms']:>9.0f}{a['rss_mb']:>9.0f}",
        f"{f'(b) {n} processes, 1 stream each':34s}{b['decisions']:>10d}{b['wall_s']:>9.1f}{b['decisions_per_s']:>8.1f}"
        f"{b['interval_p50_ms']:>9.0f}{b['interval_p99_ms']:>9.0f}{b['rss_mb_one']:>9.0f}",
        f"aggregate decisions/s a/b = {r['throughput_ratio']:.2f}x; RSS of (a) / one process of (b) = "
        f"{r['rss_ratio_vs_one_process']:.2f}x (the {n} processes of (b) hold {b['rss_mb_sum']:.0f} MB together); "
        f"mean streams per model step in (a) = {a['mean_batch']:.2f}",
        "p50/p99: per-stream decision interval at full load (time a stream waits between two decisions)"])


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker", type=int, required=True)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--first-video", type=int, default=0)
    a = ap.parse_args()
    print(json.dumps(worker(a.worker, a.seconds, a.first_video)), flush=True)
