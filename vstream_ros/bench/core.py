"""The benchmark: the reference synchronous loop (ReferenceBackend + StreamRunner, the original's design) and the
product path — the stream host the ROS node, `vstream run` and `vstream replay` drive (RuntimeBackend under
vstream_ros.host.StreamHost: model clock at ingest, vision ‖ LLM pipeline) — on the same synthetic frames, in
one run.

Both loops see identical frames and identical scripted decisions (wrappers.ScriptedDecisions: about one
frame in `respond_every` speaks) and forced-length replies (wrappers.ForcedLength). Modes:
  * camera_fps=None — replay as fast as possible (timestamps on the model-fps grid, nothing dropped);
  * camera_fps=F    — a paced camera at F fps (model fps = F); the synchronous loop takes the newest
    frame whenever it is free (the rest are lost, as in the original demo); the stream host queues with
    the node's default backlog (PipelineConfig()) and drops only under sustained overload.
Timings are host clocks taken after a host sync (every decision and every greedy token syncs).

Imports: numpy, torch, engine modules. Never ROS.
"""
from __future__ import annotations

import math
import resource
import statistics
import time
from dataclasses import dataclass

import numpy as np
import torch

from ..engine.config import StreamConfig
from ..engine.events import FrameDecision, Response, UtteranceChunk
from .table import HIGHER_IS_BETTER  # noqa: F401 - defined once, in bench/table.py
from .wrappers import ForcedLength, ScriptedDecisions

METRICS = ("ingest_fps", "decision_p50_ms", "decision_p99_ms", "first_token_ms", "decode_tok_s",
           "utterance_ms", "dropped", "peak_mem_mb")


@dataclass(frozen=True)
class BenchConfig:
    preset: str = "tiny"
    frames: int = 60
    camera_fps: float | None = None
    utterance_tokens: int = 20
    respond_every: int = 10
    repeats: int = 3
    model_fps: float = 2.0
    layers: int | None = None      # live-8b: decoder/encoder depth override (CPU check of the GPU path)
    quantize: str = "none"         # none | int8 | int4: the LLM of both loops (engine/quantize.py)

    def __post_init__(self):
        if self.frames < 2 or self.repeats < 1 or self.utterance_tokens < 1 or self.respond_every < 1:
            raise ValueError("frames >= 2, repeats >= 1, utterance_tokens >= 1, respond_every >= 1")
        from ..engine.config import QUANTIZE_CHOICES
        if self.quantize not in QUANTIZE_CHOICES:
            raise ValueError(f"quantize must be one of {', '.join(QUANTIZE_CHOICES)}, got {self.quantize!r}")
        if self.camera_fps is not None and not 0 < self.camera_fps <= 60:
            raise ValueError(f"camera fps must be in (0, 60], got {self.camera_fps}")


def synthetic_frames(n: int, hw: tuple[int, int], seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (hw[0], hw[1], 3), dtype=np.uint8) for _ in range(n)]


class _Clock:
    """Collects host timestamps of events (called from whichever thread emits them)."""

    def __init__(self):
        self.decision_at: dict[int, float] = {}
        self.time_of: dict[int, float] = {}
        self.speak_at: dict[int, float] = {}
        self.first_chunk: dict[str, float] = {}
        self.responses: list[tuple[Response, float]] = []

    def __call__(self, e) -> None:
        now = time.perf_counter()
        if isinstance(e, FrameDecision):
            self.decision_at[e.index] = now
            self.time_of[e.index] = e.time
            if e.decision == "respond":
                self.speak_at[e.index] = now
        elif isinstance(e, UtteranceChunk):
            self.first_chunk.setdefault(e.utterance_id, now)
        elif isinstance(e, Response):
            self.responses.append((e, now))


def _sync():
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _peak_mb() -> float:
    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024     # process-wide on CPU


def _reset_peak():
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()


def _summarise(clock: _Clock, pushed_at: dict[int, float], t0: float, t1: float, decided: int,
               dropped: int) -> dict:
    lat = sorted(clock.decision_at[i] - pushed_at[i] for i in clock.decision_at if i in pushed_at)
    first, utter, rates = [], [], []
    for resp, t_end in clock.responses:
        if resp.trigger != "proactive" or resp.frame_index not in clock.speak_at:
            continue
        t_dec = clock.speak_at[resp.frame_index]
        t_first = clock.first_chunk.get(resp.utterance_id, t_end)
        first.append(t_first - t_dec)
        utter.append(t_end - t_dec)
        if len(resp.token_ids) > 1 and t_end > t_first:
            rates.append((len(resp.token_ids) - 1) / (t_end - t_first))

    def pct(xs, q):
        return xs[min(len(xs) - 1, int(q * len(xs)))] * 1e3 if xs else math.nan
    return {"ingest_fps": decided / (t1 - t0), "decision_p50_ms": pct(lat, 0.5), "decision_p99_ms": pct(lat, 0.99),
            "first_token_ms": statistics.median(first) * 1e3 if first else math.nan,
            "decode_tok_s": statistics.median(rates) if rates else math.nan,
            "utterance_ms": statistics.median(utter) * 1e3 if utter else math.nan,
            "dropped": dropped, "peak_mem_mb": _peak_mb(), "frames_decided": decided,
            "replies": len(utter)}


def run_reference(live, frames, cfg: BenchConfig) -> dict:
    """(a) the original synchronous loop: ReferenceBackend + StreamRunner (frame clock → vision → session)."""
    from ..engine.reference import ReferenceBackend
    from ..engine.runner import StreamRunner
    fps = cfg.camera_fps or cfg.model_fps
    backend = ForcedLength(ScriptedDecisions(ReferenceBackend(live), cfg.respond_every))
    clock = _Clock()
    runner = StreamRunner(live, backend, StreamConfig(fps=fps, max_new_tokens=cfg.utterance_tokens),
                          on_event=clock)
    pushed_at: dict[int, float] = {}
    _reset_peak()
    _sync()
    t0 = time.perf_counter()
    fed, last = 0, -1
    while True:
        if cfg.camera_fps is None:
            i = last + 1
        else:                                   # paced camera: take the newest available frame
            avail = int((time.perf_counter() - t0) * cfg.camera_fps)
            if avail <= last:
                time.sleep(max(0.0, (last + 1) / cfg.camera_fps - (time.perf_counter() - t0)))
                continue
            i = avail
        if i >= len(frames):
            break
        pushed_at[fed] = t0 + i / cfg.camera_fps if cfg.camera_fps else time.perf_counter()
        runner.push(frames[i], i / fps)
        fed, last = fed + 1, i
    runner.finish()
    _sync()
    t1 = time.perf_counter()
    decided = sum(1 for _ in clock.decision_at)
    return _summarise(clock, pushed_at, t0, t1, decided, dropped=len(frames) - fed)


def run_pipeline(live, frames, cfg: BenchConfig, runtime_backend=None) -> dict:
    """(b) the product path: RuntimeBackend under the stream host (what the node runs)."""
    from ..engine.pipeline import PipelineConfig
    from ..engine.runtime.runtime_backend import RuntimeBackend
    from ..host.build import Engine
    from ..host.stream_host import HostOptions, StreamHost
    fps = cfg.camera_fps or cfg.model_fps
    inner = runtime_backend or RuntimeBackend(live)
    backend = ForcedLength(ScriptedDecisions(inner, cfg.respond_every))
    clock = _Clock()
    sink = type("Sink", (), {"on_event": staticmethod(clock)})()
    options = (PipelineConfig(max_backlog=len(frames) + 1, overflow="block") if cfg.camera_fps is None
               else PipelineConfig())                          # replay: never drop; camera: the node's default
    inner.reset()
    host = StreamHost(Engine(live, backend, StreamConfig(fps=fps, max_new_tokens=cfg.utterance_tokens)), sink,
                       HostOptions(pipeline=options))
    pushed: list[float] = []
    host.start()
    try:
        _reset_peak()
        _sync()
        t0 = time.perf_counter()
        for i, rgb in enumerate(frames):
            if cfg.camera_fps is not None:
                time.sleep(max(0.0, i / cfg.camera_fps - (time.perf_counter() - t0)))
            pushed.append(t0 + i / cfg.camera_fps if cfg.camera_fps else time.perf_counter())
            host.submit(rgb, i / fps)
        host.finish(timeout=3600)
        _sync()
        t1 = time.perf_counter()
    finally:
        host.stop()
    st = host.stats()
    # Map decided frame indices back to push times through their capture times.
    by_time = {round(i / fps, 6): pushed[i] for i in range(len(frames))}
    pushed_at = {idx: by_time[round(t, 6)] for idx, t in clock.time_of.items() if round(t, 6) in by_time}
    out = _summarise(clock, pushed_at, t0, t1, st["frames_decided"], dropped=st["frames_lost"])
    out["modes"] = getattr(inner, "modes", {})
    return out


def run_bench(cfg: BenchConfig, log=print) -> dict:
    """Run (a) and (b) `repeats` times each (alternating); return {'reference', 'pipeline', 'ratio', ...}."""
    from ..engine.runtime.runtime_backend import RuntimeBackend
    from .presets import PRESETS, build_live_model
    preset = PRESETS[cfg.preset]
    live = build_live_model(cfg.preset, cfg.layers)
    if cfg.quantize != "none":                      # in place, shared by both loops
        from ..engine.quantize import quantize_llm
        quantize_llm(live.llm, cfg.quantize)
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    frames = synthetic_frames(cfg.frames, preset.frame_hw)
    fast = RuntimeBackend(live)                     # built once: compile/capture is start-up cost
    warm = BenchConfig(**{**cfg.__dict__, "frames": 4, "repeats": 1, "camera_fps": None})
    run_reference(live, frames[:4], warm)
    run_pipeline(live, frames[:4], warm, fast)
    runs = {"reference": [], "pipeline": []}
    for r in range(cfg.repeats):
        runs["reference"].append(run_reference(live, frames, cfg))
        runs["pipeline"].append(run_pipeline(live, frames, cfg, fast))
        log(f"repeat {r + 1}/{cfg.repeats}: reference {runs['reference'][-1]['ingest_fps']:.2f} fps, "
            f"pipeline {runs['pipeline'][-1]['ingest_fps']:.2f} fps")
    summary = {name: {m: _mmm([x[m] for x in xs]) for m in METRICS} for name, xs in runs.items()}
    ratio = {}
    for m in METRICS:
        a, b = summary["reference"][m]["median"], summary["pipeline"][m]["median"]
        ratio[m] = b / a if a and not math.isnan(a) and not math.isnan(b) else math.nan
    from ..engine.accounting import memory_report
    return {"config": cfg.__dict__, "device": _device_name(), "torch": torch.__version__,
            "modes": runs["pipeline"][-1].get("modes", {}), "summary": summary, "ratio_b_over_a": ratio,
            "memory": memory_report(fast), "runs": runs}


def _mmm(xs):
    xs = [x for x in xs if not (isinstance(x, float) and math.isnan(x))]
    if not xs:
        return {"min": math.nan, "median": math.nan, "max": math.nan}
    return {"min": min(xs), "median": statistics.median(xs), "max": max(xs)}


def _device_name() -> str:
    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    import platform
    return f"CPU {platform.processor() or platform.machine()} x{torch.get_num_threads()} threads"


def format_table(result: dict) -> str:
    """The printed comparison (bench/table.py: one direction of "better" for every row)."""
    from .table import format_table as table  # noqa: PLC0415
    return table(result, METRICS)
