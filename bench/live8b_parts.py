"""The parts of bench/live8b.py, in the order they run (most wanted first), each a function of the shared context.

    build         the preset's LiveModel (live-8b: Llama-3-8B + SigLIP-L/16-384 shapes, random weights, bf16)
    compiled      the product backend (runtime, bounded keyframes memory; compiled + CUDA graphs on a GPU) and
                  its warm-up (compile / capture time, graphs compiled)
    p6_pipeline   replay N frames through the stream host (P3 utterance, numerator of P6)
    p4_long       7,200 frames at 2 fps model time = one hour in compressed time, replayed as fast as possible:
                  sustained ingest (P1) and GPU memory at start and end (P4)
    p2_silent     a 10 fps camera, model at 10 fps, nobody talks: frame → decision latency (P2)
    p5_10fps      a 10 fps camera while talking (model at 10 fps): frames lost (P5)
    p5_30fps      the same at 30 fps (P5 stretch)
    p1_per_frame  replay with one frame per forward (PipelineConfig.reproducible(), as `vstream replay`)
    reference     the original synchronous loop on the same frames and weights (denominator of P6)
    eager         the product backend with eager steps, same replay as p6_pipeline (compiled vs eager)
    int4, int8    torchao weight-only quantization of the same model: resident memory, replay speed, peak memory
    streams       skipped: `vstream bench --streams` runs the demo model only (no 8B-shape multi-stream bench)

Each returns a JSON-able dict; raising marks the part failed (bench/live8b.py records the error and goes on).

Imports: torch, vstream_ros (bench, engine), bench/live8b_runs.py. Never ROS, never the lab.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import torch

import live8b_runs as runs
from live8b_runs import NEVER, Drive

# Expected seconds of each part on an H100 (guesses until a GPU run replaces them: compile + CUDA-graph capture of an
# 8B is the big unknown, 60-180 s; int4 / int8 compile again for their weight types, reusing the Triton kernels of
# the unchanged ops). bench/live8b.py skips a part when less budget than this is left; the sum is the
# estimate written in bench/RESULTS.md. streams: 0, the probe is instant; with a scheduler each N runs in its own
# process, capped by what is left of the budget.
ESTIMATE_S = {"build": 30, "compiled": 120, "p6_pipeline": 10, "p4_long": 60, "p2_silent": 14, "p5_10fps": 17,
              "p5_30fps": 12, "p1_per_frame": 15, "reference": 25, "eager": 25, "int4": 90, "int8": 100,
              "streams": 0}
NEEDS = {"compiled": "build", "p6_pipeline": "compiled", "p4_long": "compiled", "p2_silent": "compiled",
         "p5_10fps": "compiled", "p5_30fps": "compiled", "p1_per_frame": "compiled", "reference": "build",
         "eager": "build", "int4": "build", "int8": "build"}


@dataclass(frozen=True)
class Sizes:
    """Frame counts and time caps of every part (GPU defaults; `small()` for a CPU dry run)."""

    replay_frames: int = 150        # p6_pipeline, reference, eager, int4, int8
    replay_cap_s: float = 60.0
    long_frames: int = 7200         # p4_long: one hour at 2 fps
    long_respond_every: int = 50    # one reply per 25 s of stream time over the hour
    long_cap_s: float = 120.0
    per_frame_frames: int = 600
    per_frame_cap_s: float = 40.0
    silent_s: float = 12.0          # p2_silent camera seconds (10 fps)
    talk10_s: float = 15.0
    talk30_s: float = 10.0
    warm_frames: int = 40

    @classmethod
    def small(cls) -> "Sizes":
        return cls(replay_frames=6, replay_cap_s=120.0, long_frames=24, long_respond_every=8, long_cap_s=120.0,
                   per_frame_frames=6, per_frame_cap_s=60.0, silent_s=1.0, talk10_s=1.0, talk30_s=0.5,
                   warm_frames=4)


def _replay(ctx, backend, n: int | None = None, cap: float | None = None, **kw) -> dict:
    s = ctx.sizes
    kw.setdefault("respond_every", ctx.args.respond_every)
    return runs.host_run(ctx.live, backend, ctx.pool,
                         Drive(frames=n or s.replay_frames, utterance_tokens=ctx.args.utterance_tokens,
                               cap_s=ctx.cap(cap or s.replay_cap_s), **kw))


def _warm(ctx, backend) -> dict:
    """Compile / capture happen here, not in a timed run: catch-up replay (batched prefills) with replies, then
    one frame per forward (single-frame prefills)."""
    t = time.perf_counter()
    g0 = runs.compile_counters()["unique_graphs"]
    _replay(ctx, backend, n=ctx.sizes.warm_frames, cap=600.0, respond_every=3)
    _replay(ctx, backend, n=max(4, ctx.sizes.warm_frames // 4), cap=600.0, respond_every=3, per_frame=True)
    return {"warmup_s": time.perf_counter() - t,
            "graphs_compiled_in_warmup": runs.compile_counters()["unique_graphs"] - g0}


def part_build(ctx) -> dict:
    from vstream_ros.bench.presets import PRESETS, build_live_model
    t = time.perf_counter()
    ctx.live = build_live_model(ctx.args.preset, ctx.args.layers)
    runs.free_cuda()
    ctx.pool = runs.FramePool(PRESETS[ctx.args.preset].frame_hw)
    return {"build_s": time.perf_counter() - t, "device": str(ctx.live.device), "dtype": str(ctx.live.dtype),
            "layers": ctx.live.llm.config.num_hidden_layers, "hidden": ctx.live.llm.config.hidden_size,
            "frame_hw": list(PRESETS[ctx.args.preset].frame_hw), "cuda_after_build": runs.cuda_mem()}


def part_compiled(ctx) -> dict:
    t = time.perf_counter()
    ctx.backend = runs.product_backend(ctx.live)
    setup_s = time.perf_counter() - t
    out = {"backend": type(ctx.backend).__name__, "setup_s": setup_s, "modes_after_setup": runs.modes(ctx.backend)}
    out.update(_warm(ctx, ctx.backend))
    out.update(modes=runs.modes(ctx.backend), weights=runs.weights_report(ctx.backend), cuda=runs.cuda_mem())
    return out


def part_p6_pipeline(ctx) -> dict:
    return _replay(ctx, ctx.backend)


def part_p4_long(ctx) -> dict:
    s = ctx.sizes
    return _replay(ctx, ctx.backend, n=s.long_frames, cap=s.long_cap_s, respond_every=s.long_respond_every,
                   trace_every=max(1, s.long_frames // 24))


def _camera(ctx, fps: float, seconds: float, respond_every: int) -> dict:
    return runs.host_run(ctx.live, ctx.backend, ctx.pool,
                         Drive(frames=max(2, int(fps * seconds)), model_fps=fps, camera_fps=fps,
                               respond_every=respond_every, utterance_tokens=ctx.args.utterance_tokens,
                               cap_s=ctx.cap(seconds + 5.0)))


def part_p2_silent(ctx) -> dict:
    return _camera(ctx, 10.0, ctx.sizes.silent_s, NEVER)


def part_p5_10fps(ctx) -> dict:
    return _camera(ctx, 10.0, ctx.sizes.talk10_s, ctx.args.respond_every)


def part_p5_30fps(ctx) -> dict:
    return _camera(ctx, 30.0, ctx.sizes.talk30_s, ctx.args.respond_every)


def part_p1_per_frame(ctx) -> dict:
    s = ctx.sizes
    return _replay(ctx, ctx.backend, n=s.per_frame_frames, cap=s.per_frame_cap_s, per_frame=True)


def part_reference(ctx) -> dict:
    t = time.perf_counter()
    out = runs.reference_run(ctx.live, ctx.pool, ctx.sizes.replay_frames, ctx.args.respond_every,
                             ctx.args.utterance_tokens)
    out["wall_s"] = time.perf_counter() - t
    return out


def part_eager(ctx) -> dict:
    t = time.perf_counter()
    backend = runs.product_backend(ctx.live, eager=True)
    setup_s = time.perf_counter() - t
    try:
        _replay(ctx, backend, n=ctx.sizes.warm_frames // 4 or 2, cap=300.0)
        out = _replay(ctx, backend)
    finally:
        del backend
        runs.free_cuda()
    out["setup_s"] = setup_s
    return out


def _quantized(ctx, mode: str) -> dict:
    """Free the bf16 backends, quantize the LLM in place (rebuilding it first when an earlier part quantized it),
    build the product backend again (compile + capture again: new weight types) and replay."""
    from vstream_ros.engine.quantize import quantize_llm, require_torchao
    require_torchao(mode)
    ctx.backend = None
    if torch.cuda.is_available():
        torch._dynamo.reset()                       # compiled steps of the bf16 model hold its weights
    runs.free_cuda()
    rebuilt = ctx.quantized is not None
    if rebuilt:                                     # an int-n model cannot be re-quantized: same seed, same weights
        from vstream_ros.bench.presets import build_live_model
        ctx.live = None
        runs.free_cuda()
        ctx.live = build_live_model(ctx.args.preset, ctx.args.layers)
    before = runs.cuda_mem()
    t = time.perf_counter()
    summary = quantize_llm(ctx.live.llm, mode)
    runs.free_cuda()
    quant_s = time.perf_counter() - t
    ctx.quantized = mode
    resident = runs.cuda_mem()
    t = time.perf_counter()
    backend = runs.product_backend(ctx.live)
    setup_s = time.perf_counter() - t
    try:
        warm = _warm(ctx, backend)
        out = _replay(ctx, backend)
        out.update(weights=runs.weights_report(backend), cuda_peak_after=runs.cuda_mem())
    finally:
        del backend
        runs.free_cuda()
    out.update(quantize_s=quant_s, setup_s=setup_s, rebuilt_model=rebuilt, cuda_before_quantize=before,
               cuda_resident_quantized=resident, linears=summary.modules if summary else 0,
               config=type(summary.plan.config(4096)).__name__ if summary else None, **warm)
    return out


def part_int4(ctx) -> dict:
    return _quantized(ctx, "int4")


def part_int8(ctx) -> dict:
    return _quantized(ctx, "int8")


STREAMS_SKIP = ("vstream bench --streams measures the demo model only; several streams at live-8b shapes are not "
                "implemented yet")


def part_streams(ctx) -> dict:
    """Several streams at 8B shapes: `vstream bench --streams N` exists but runs the shipped demo model (CPU-sized),
    so it says nothing about an 8B on a GPU; skipped with that reason until the bench takes --preset live-8b."""
    return {"skipped": STREAMS_SKIP}


PARTS = {"build": part_build, "compiled": part_compiled, "p6_pipeline": part_p6_pipeline, "p4_long": part_p4_long,
         "p2_silent": part_p2_silent, "p5_10fps": part_p5_10fps, "p5_30fps": part_p5_30fps,
         "p1_per_frame": part_p1_per_frame, "reference": part_reference, "eager": part_eager, "int4": part_int4,
         "int8": part_int8, "streams": part_streams}
