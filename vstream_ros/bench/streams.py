"""`vstream bench --streams N`: N streams on ONE model in one process (one Scheduler, batched steps) against N
single-stream processes side by side, in one run, on the shipped demo model (float32, CPU or the model device).

Each worker is a child process (`python -m vstream_ros.bench.streams --worker S`, torch intra-op threads
`--threads`, default 1 for every process of both sides): it loads the demo model once and serves S streams (the
shipped held-out videos, decoded on the fly by PyAV as `vstream run` does) through StreamPipelines sharing one
Scheduler, in two phases, each started at once in every worker (all load first):
  1. throughput: the first `seconds` s of each video as fast as they are taken (overflow "block", none dropped);
  2. latency: the first `live_seconds` s again (a new stream), paced at real time like a camera (overflow
     "drop"): capture → decision latency of every decided frame, and the frames dropped.
It prints one JSON line (decisions, wall time, latencies, drops, peak RSS).
  (a) one worker with N streams;  (b) N workers with one stream each; (b)'s wall time runs from the first start
  to the last end.
Reported: aggregate decisions/s of (a) and (b) and their ratio; CPU time per decision of each side (every thread;
on a machine shared with other work it moves less than wall time); whether each stream's decisions and reply
texts in (a) equal those of the (b) process playing the same video; decision latency p50/p99; peak RSS of the
N-stream process vs one single-stream process (and the N processes' sum). `repeats` alternates (a) and (b).

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


def worker(streams: int, seconds: float, first_video: int = 0, threads: int = 1, barrier: bool = False,
           live_seconds: float = 15.0) -> dict:
    """Serve `streams` demo videos on one model; the measurement of one process. barrier: print a line once ready
    for a phase and wait for a line on stdin before starting it (the parent starts N workers together).

    Phase 1 (throughput): each video's first `seconds` s decoded on the fly (PyAV, as `vstream run` does) and
    pushed as fast as it is taken (overflow "block": nothing dropped). Phase 2 (latency): the first `live_seconds`
    s again, a new stream, paced at real time like a camera (overflow "drop"); capture → decision latency."""
    import resource  # noqa: PLC0415
    import threading  # noqa: PLC0415

    import torch  # noqa: PLC0415

    from ..demo.streams import load_stream, shipped_indices  # noqa: PLC0415
    from ..engine.checkpoint import load_live_model  # noqa: PLC0415
    from ..engine.config import ModelSpec, StreamConfig  # noqa: PLC0415
    from ..engine.events import FrameDecision, Response  # noqa: PLC0415
    from ..engine.factory import build_backends  # noqa: PLC0415
    from ..engine.frames import iter_video_frames  # noqa: PLC0415
    from ..engine.pipeline import PipelineConfig, StreamPipeline  # noqa: PLC0415
    from ..engine.scheduler import Scheduler  # noqa: PLC0415
    from ..engine.sources import find_demo_root  # noqa: PLC0415

    torch.set_num_threads(threads)
    root = find_demo_root()
    model = load_live_model(ModelSpec(checkpoint=str(root / "checkpoint"), llm=str(root / "llm"),
                                      vision=str(root / "vision"), device="cpu", dtype="float32"))
    cfg = StreamConfig()
    indices = shipped_indices(root)
    videos = [load_stream(root, indices[(first_video + k) % len(indices)]).video for k in range(streams)]
    backends = build_backends(model, streams, fps=cfg.fps)
    sched = Scheduler()
    decided = [0] * streams
    outputs = [{"decisions": [], "replies": []} for _ in range(streams)]
    recording = [True]                         # the throughput phase's outputs (compared between (a) and (b))

    def counter(k):
        def hook(ev):
            if not recording[0]:
                return
            if isinstance(ev, FrameDecision):
                decided[k] += 1
                outputs[k]["decisions"].append("s" if ev.decision == "silent" else "r")
            elif isinstance(ev, Response):
                outputs[k]["replies"].append([ev.frame_index, ev.text])
        return hook

    def phase(name: str, options: PipelineConfig, start: float, end: float, paced: bool):
        for b in backends:
            b.reset()
        pipes = [StreamPipeline(b, model.protocol, cfg, vision=model.vision, on_event=counter(k), name=f"s{k}",
                                options=options, scheduler=sched, start=False) for k, b in enumerate(backends)]
        if barrier:
            print(name, flush=True)
            sys.stdin.readline()
        wall0, t0 = time.time(), time.perf_counter()
        for p in pipes:
            p.start()

        def feed(p, video):
            for fr in iter_video_frames(video):
                if fr.t >= end:
                    break
                if fr.t < start or not p.wants(fr.t):
                    continue
                if paced and (ahead := t0 + fr.t - start - time.perf_counter()) > 0:
                    time.sleep(ahead)
                p.push(fr.rgb, fr.t)
        feeders = [threading.Thread(target=feed, args=(p, v)) for p, v in zip(pipes, videos)]
        for th in feeders:
            th.start()
        for th in feeders:
            th.join()
        for p in pipes:
            p.finish()
        wall = time.perf_counter() - t0
        for p in pipes:
            p.close()
        return pipes, wall0, wall

    def cpu() -> float:
        ru = resource.getrusage(resource.RUSAGE_SELF)
        return ru.ru_utime + ru.ru_stime

    decided[:] = [0] * streams
    cpu0 = cpu()
    _, wall0, wall = phase("ready", PipelineConfig(overflow="block"), 0.0, seconds, paced=False)
    cpu_s = cpu() - cpu0
    decisions = sum(decided)
    steps, requests = sched.steps, sched.requests
    throughput_outputs = [{"decisions": "".join(o["decisions"]), "replies": o["replies"]} for o in outputs]
    recording[0] = False
    pipes, _, _ = phase("live", PipelineConfig(), 0.0, live_seconds, paced=True)     # the videos again, from 0
    latency = [x for p in pipes for x in p.stats.decision_latency_s]
    dropped = sum(p.stats.dropped for p in pipes)
    sched.stop()
    return {"streams": streams, "decisions": decisions, "wall_s": wall, "start": wall0, "end": wall0 + wall,
            "cpu_s": cpu_s, "outputs": throughput_outputs, "steps": steps, "requests": requests, "latency": latency,
            "dropped_live": dropped,
            "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _run_workers(jobs: list[tuple[int, int]], seconds: float, threads: int, live_seconds: float) -> list[dict]:
    """Start one worker per (streams, first_video); once all are loaded, start their clocks together."""
    procs = [subprocess.Popen([sys.executable, "-m", "vstream_ros.bench.streams", "--worker", str(streams),
                               "--seconds", str(seconds), "--first-video", str(first), "--threads", str(threads),
                               "--live-seconds", str(live_seconds), "--barrier"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "HF_HUB_OFFLINE": "1"}) for streams, first in jobs]
    try:
        for expected in ("ready", "live"):                 # two phases, each started together
            for p in procs:
                if p.stdout.readline().strip() != expected:
                    raise RuntimeError(f"a bench worker failed before its {expected} phase")
            for p in procs:
                p.stdin.write("go\n")
                p.stdin.flush()
        out = []
        for p in procs:
            stdout, _ = p.communicate()
            if p.returncode != 0:
                raise RuntimeError(f"bench worker failed (exit {p.returncode})")
            out.append(json.loads(stdout.strip().splitlines()[-1]))
        return out
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()


def compare(n: int, seconds: float = 20.0, threads: int = 1, log=lambda s: None, live_seconds: float = 15.0,
            repeats: int = 1) -> dict:
    """(a) one process with n streams, then (b) n single-stream processes whose clocks start together; `repeats`
    alternates (a) and (b) that many times (a machine shared with other work drifts: adjacent runs compare best)
    and reports the round with the median ratio (the lower middle one of an even count); every round is kept."""
    rounds = []
    for r in range(repeats):
        tag = f" [{r + 1}/{repeats}]" if repeats > 1 else ""
        log(f"(a) one process, {n} streams on one model …{tag}")
        one = _run_workers([(n, 0)], seconds, threads, live_seconds)[0]
        log(f"(b) {n} single-stream processes side by side …{tag}")
        many = _run_workers([(1, k) for k in range(n)], seconds, threads, live_seconds)
        rounds.append(_one_round(n, one, many))
    ratios = [x["throughput_ratio"] for x in rounds]
    # the median round (the lower one of an even count)
    out = dict(rounds[sorted(range(repeats), key=lambda i: ratios[i])[(repeats - 1) // 2]])
    out.update({"seconds": seconds, "live_seconds": live_seconds, "torch_threads": threads,
                "repeats": repeats, "ratios": ratios, "rounds": rounds if repeats > 1 else []})
    return out


def _one_round(n: int, one: dict, many: list[dict]) -> dict:
    wall_b = max(r["end"] for r in many) - min(r["start"] for r in many)
    agg_a = one["decisions"] / one["wall_s"]
    agg_b = sum(r["decisions"] for r in many) / wall_b
    lat_b = [x for r in many for x in r["latency"]]
    cpu_b = sum(r["cpu_s"] for r in many)
    same = [one["outputs"][k] == many[k]["outputs"][0] for k in range(n)]
    return {"streams": n,
            "a": {"decisions": one["decisions"], "wall_s": one["wall_s"], "decisions_per_s": agg_a,
                  "cpu_ms_per_decision": 1e3 * one["cpu_s"] / max(1, one["decisions"]),
                  "latency_p50_ms": 1e3 * _pct(one["latency"], 0.5),
                  "latency_p99_ms": 1e3 * _pct(one["latency"], 0.99), "dropped_live": one["dropped_live"],
                  "rss_mb": one["rss_mb"],
                  "mean_batch": one["requests"] / max(1, one["steps"])},
            "b": {"decisions": sum(r["decisions"] for r in many), "wall_s": wall_b, "decisions_per_s": agg_b,
                  "cpu_ms_per_decision": 1e3 * cpu_b / max(1, sum(r["decisions"] for r in many)),
                  "latency_p50_ms": 1e3 * _pct(lat_b, 0.5), "latency_p99_ms": 1e3 * _pct(lat_b, 0.99),
                  "dropped_live": sum(r["dropped_live"] for r in many),
                  "rss_mb_one": statistics.median(r["rss_mb"] for r in many),
                  "rss_mb_sum": sum(r["rss_mb"] for r in many)},
            "outputs_equal": sum(same), "outputs_differ": [k for k, ok in enumerate(same) if not ok],
            "throughput_ratio": agg_a / agg_b,
            "rss_ratio_vs_one_process": one["rss_mb"] / statistics.median(r["rss_mb"] for r in many)}


def format_result(r: dict) -> str:
    a, b = r["a"], r["b"]
    n = r["streams"]
    return "\n".join([
        f"{'':34s}{'decisions':>10s}{'wall s':>9s}{'dec/s':>8s}{'p50 ms':>9s}{'p99 ms':>9s}{'RSS MB':>9s}",
        f"{f'(a) 1 process, {n} streams':34s}{a['decisions']:>10d}{a['wall_s']:>9.1f}{a['decisions_per_s']:>8.1f}"
        f"{a['latency_p50_ms']:>9.0f}{a['latency_p99_ms']:>9.0f}{a['rss_mb']:>9.0f}",
        f"{f'(b) {n} processes, 1 stream each':34s}{b['decisions']:>10d}{b['wall_s']:>9.1f}{b['decisions_per_s']:>8.1f}"
        f"{b['latency_p50_ms']:>9.0f}{b['latency_p99_ms']:>9.0f}{b['rss_mb_one']:>9.0f}",
        f"CPU time per decision (every thread, throughput phase): (a) {a['cpu_ms_per_decision']:.1f} ms, "
        f"(b) {b['cpu_ms_per_decision']:.1f} ms",
        f"each stream's decisions and reply texts, (a) vs (b) playing the same video: equal {r['outputs_equal']}/{n}"
        + (f" (differ: {', '.join(f's{k}' for k in r['outputs_differ'])})" if r["outputs_differ"] else ""),
        *([f"a/b per round (alternating, median reported): {' '.join(f'{x:.2f}x' for x in r['ratios'])}"]
          if r.get("repeats", 1) > 1 else []),
        f"aggregate decisions/s a/b = {r['throughput_ratio']:.2f}x; RSS of (a) / one process of (b) = "
        f"{r['rss_ratio_vs_one_process']:.2f}x (the {n} processes of (b) hold {b['rss_mb_sum']:.0f} MB together); "
        f"mean streams per model step in (a) = {a['mean_batch']:.2f}",
        f"p50/p99: capture → decision latency per frame, live phase ({r['live_seconds']:g} s paced like a camera; "
        f"frames dropped: (a) {a['dropped_live']}, (b) {b['dropped_live']})"])


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker", type=int, required=True)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--first-video", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--barrier", action="store_true")
    ap.add_argument("--live-seconds", type=float, default=15.0)
    a = ap.parse_args()
    print(json.dumps(worker(a.worker, a.seconds, a.first_video, a.threads, a.barrier, a.live_seconds)), flush=True)
