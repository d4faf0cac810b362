"""Measurement primitives of bench/live8b.py: drive the stream host users run (runtime backend, default bounded
memory) as a camera or a replay, run the original synchronous loop, snapshot GPU memory, and say which mode
(compiled / CUDA graph / eager, SDPA / flash) each step really ran in.

* `product_backend(live, eager)` — what `vstream run` / the node build by default (engine/factory.py: runtime backend,
  memory policy auto = keyframes, 6,144-token budget + 2,048 answer headroom); `eager=True` forces eager steps on
  CUDA (the compiled-vs-eager comparison), built the way the factory builds the default.
* `host_run(live, backend, frames, Drive(...))` — one run through `vstream_ros.host.StreamHost` with the scripted
  decisions and forced-length replies of `vstream bench` (vstream_ros/bench/wrappers.py). Replay pushes frames as
  fast as the runtime takes them (overflow "block", a bounded backlog: nothing is dropped, host memory stays flat);
  a paced camera pushes frame i at i / camera_fps with the node's default pipeline options (drops counted).
  Each run stops submitting after `cap_s` seconds (the result says `capped`) and then drains what is queued.
* `reference_run(...)` — the original loop (ReferenceBackend + StreamRunner) of vstream_ros/bench/core.py.

Timings are host clocks after host syncs (every decision and every greedy token syncs; core._summarise).

Imports: numpy, torch, vstream_ros (engine, host, bench). Never ROS, never the lab.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch

from vstream_ros.bench import core
from vstream_ros.bench.wrappers import ForcedLength, ScriptedDecisions
from vstream_ros.engine.accounting import innermost, memory_report
from vstream_ros.engine.config import DEFAULT_BUDGET_TOKENS, StreamConfig
from vstream_ros.engine.pipeline import PipelineConfig

NEVER = 10 ** 9          # respond_every for a silent stream: no frame's hash is a multiple of it in practice


class FramePool:
    """Frame i of a long synthetic stream without holding every frame: `size` random frames, cycled (a prime size,
    so the scripted decisions do not repeat with a short period)."""

    def __init__(self, hw: tuple[int, int], size: int = 61, seed: int = 0):
        self.frames = core.synthetic_frames(size, hw, seed)

    def __getitem__(self, i: int):
        return self.frames[i % len(self.frames)]

    def take(self, n: int) -> list:
        return [self[i] for i in range(n)]


def cuda_mem() -> dict | None:
    """Allocated / reserved / peak bytes of the current CUDA device (None on CPU)."""
    if not torch.cuda.is_available():
        return None
    return {"allocated": torch.cuda.memory_allocated(), "reserved": torch.cuda.memory_reserved(),
            "peak": torch.cuda.max_memory_allocated()}


def reset_peak() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()


def free_cuda() -> None:
    import gc
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
        torch.cuda.empty_cache()


def compile_counters() -> dict:
    """torch.compile's own counters: graphs compiled so far and graph breaks (a measured run that adds graphs
    recompiled while it was timed)."""
    try:
        from torch._dynamo.utils import counters
    except Exception:  # noqa: BLE001 - no dynamo in this torch: nothing compiled
        return {"unique_graphs": 0, "graph_breaks": 0}
    return {"unique_graphs": int(counters["stats"].get("unique_graphs", 0)),
            "graph_breaks": int(sum(counters["graph_break"].values()))}


def modes(backend) -> dict:
    """The mode each step ran in (engine/runtime/compiled_steps.py keeps it up to date, fallbacks included)."""
    return dict(getattr(innermost(backend), "modes", {}) or {})


def product_backend(live, eager: bool | None = None, budget_tokens: int = DEFAULT_BUDGET_TOKENS, fps: float = 2.0):
    """The default LLM backend of `vstream run` and the node; eager=True: the same with eager steps."""
    from vstream_ros.engine.factory import ANSWER_HEADROOM, build_backend
    if eager is None:
        return build_backend(live, "runtime", "auto", budget_tokens, fps)
    from vstream_ros.engine.memory import BoundedBackend, MemoryConfig
    from vstream_ros.engine.runtime.runtime_backend import RuntimeBackend
    mem = MemoryConfig(policy="keyframes", cap_tokens=budget_tokens, fps=fps)
    return BoundedBackend(RuntimeBackend(live, capacity=mem.cap_tokens + ANSWER_HEADROOM, eager=eager), mem)


@dataclass(frozen=True)
class Drive:
    """How one host-runtime run is driven."""

    frames: int
    model_fps: float = 2.0
    camera_fps: float | None = None            # None: replay as fast as the runtime takes frames
    respond_every: int = 10                    # about one frame in N speaks (NEVER: a silent stream)
    utterance_tokens: int = 20
    cap_s: float = 60.0                        # stop submitting after this long (then drain the queue)
    per_frame: bool = False                    # replay with PipelineConfig.reproducible(): one frame per forward
    trace_every: int = 0                       # submitted frames between memory samples (0: none)
    options: PipelineConfig | None = field(default=None, compare=False)

    def pipeline_options(self) -> PipelineConfig:
        if self.options is not None:
            return self.options
        if self.camera_fps is not None:
            return PipelineConfig()                                    # the live node's default
        if self.per_frame:
            return PipelineConfig.reproducible(max_backlog=64)         # `vstream replay`: one frame per forward
        return PipelineConfig(max_backlog=64, overflow="block")        # replay, catch-up prefill, never drop


def _windows(decision_at: dict[int, float], frac: float = 0.1, least: int = 200) -> dict:
    """Decisions per second over the first and the last `frac` of the decided frames (is the rate sustained?);
    empty under `least` decisions (catch-up prefills decide frames in bursts: short windows mean nothing)."""
    times = [decision_at[i] for i in sorted(decision_at)]
    if len(times) < least:
        return {}
    k = int(len(times) * frac)

    def rate(ts):
        return (len(ts) - 1) / (ts[-1] - ts[0]) if ts[-1] > ts[0] else None
    return {"fps_first_10pct": rate(times[:k]), "fps_last_10pct": rate(times[-k:])}


def host_run(live, backend, frames: FramePool, d: Drive) -> dict:
    """One run of the stream host over `backend` (reset first); the figures of vstream bench + memory + modes."""
    from vstream_ros.host.build import Engine
    from vstream_ros.host.stream_host import HostOptions, StreamHost
    wrapped = ForcedLength(ScriptedDecisions(backend, d.respond_every))
    clock = core._Clock()
    sink = type("Sink", (), {"on_event": staticmethod(clock)})()
    problems: list[str] = []
    backend.reset()
    host = StreamHost(Engine(live, wrapped, StreamConfig(fps=d.model_fps, max_new_tokens=d.utterance_tokens)),
                       sink, HostOptions(pipeline=d.pipeline_options()),
                       log=lambda level, msg: problems.append(f"{level}: {msg}"))
    rate = d.camera_fps or d.model_fps
    pushed: dict[float, float] = {}
    trace: list[dict] = []
    graphs0 = compile_counters()
    host.start()
    try:
        reset_peak()
        mem_start, tokens_start = cuda_mem(), backend.length
        t0 = time.perf_counter()
        submitted, capped = 0, False
        for i in range(d.frames):
            now = time.perf_counter()
            if now - t0 > d.cap_s:
                capped = True
                break
            if d.camera_fps is not None:
                time.sleep(max(0.0, i / d.camera_fps - (now - t0)))
            t = i / rate
            pushed[round(t, 6)] = t0 + i / d.camera_fps if d.camera_fps else time.perf_counter()
            host.submit(frames[i], t)
            submitted += 1
            if d.trace_every and i % d.trace_every == 0:
                trace.append({"frame": i, "s": round(time.perf_counter() - t0, 3), "cache_tokens": backend.length,
                              "cuda": cuda_mem()})
        host.finish(timeout=max(120.0, 2 * d.cap_s))
        core._sync()
        t1 = time.perf_counter()
        mem_end = cuda_mem()
    finally:
        host.stop()
    st = host.stats()
    pushed_at = {idx: pushed[round(t, 6)] for idx, t in clock.time_of.items() if round(t, 6) in pushed}
    out = core._summarise(clock, pushed_at, t0, t1, st["frames_decided"], dropped=st["frames_lost"])
    graphs1 = compile_counters()
    out.update(_windows(clock.decision_at))
    out.update(frames_asked=d.frames, frames_submitted=submitted, capped=capped, wall_s=t1 - t0,
               stream_s=submitted / rate, model_fps=d.model_fps, camera_fps=d.camera_fps,
               respond_every=d.respond_every if d.respond_every != NEVER else None,
               pipeline={k: getattr(d.pipeline_options(), k) for k in ("max_backlog", "vision_batch",
                                                                       "max_prefill_frames", "overflow")},
               off_grid=st.get("off_grid", 0), frames_lost=st["frames_lost"],
               lost_by_reason={k: v for k, v in st.items() if k.startswith("dropped") and v},
               cache_tokens_start=tokens_start, cache_tokens_end=backend.length,
               memory_occupancy=backend.occupancy() if hasattr(backend, "occupancy") else None,
               cuda_start=mem_start, cuda_end=mem_end, trace=trace, modes=modes(backend),
               graphs_compiled_during_run=graphs1["unique_graphs"] - graphs0["unique_graphs"],
               problems=problems[:5], problems_total=len(problems))
    return out


def reference_run(live, frames: FramePool, n: int, respond_every: int = 10, utterance_tokens: int = 20,
                  camera_fps: float | None = None) -> dict:
    """The original synchronous loop (transformers + DynamicCache, unbounded) on the same frames and decisions."""
    cfg = core.BenchConfig(preset="live-8b", frames=n, camera_fps=camera_fps, utterance_tokens=utterance_tokens,
                           respond_every=respond_every, repeats=1)
    out = core.run_reference(live, frames.take(n), cfg)
    out.update(frames_asked=n, camera_fps=camera_fps, respond_every=respond_every, modes={"loop": "reference"})
    return out


def weights_report(backend) -> dict:
    """Weight / KV bytes of the backend's LLM and the formats holding them (engine/accounting.py)."""
    rep = memory_report(backend)
    return {k: rep[k] for k in ("weight_bytes", "kv_bytes", "kv_capacity", "weight_formats")}
