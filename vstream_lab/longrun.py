"""Long-run memory simulation: cache size and per-frame latency over simulated hours at 2 and 10 fps.

Without a backend, the synthetic id stream (engine.memory.simulate) drives the ledger + policy only:
cache tokens are exact and KV bytes follow `kv_bytes` at the given model shapes (default Llama-3-8B:
32 layers × 8 KV heads × 128, bf16); latency is the memory manager's own cost. With `backend_factory`
(e.g. a BoundedBackend over the runtime on a GPU) every frame also runs the real forward and the trace
records `torch.cuda.memory_allocated`. Writes JSON + PNG (matplotlib Agg), atomically.

    vstream-lab longrun --duration-s 3600 --fps 2 10 --out out/longrun

Imports: numpy, matplotlib (Agg, inside plot), vstream_ros.engine.memory. Never ROS.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np

from vstream_ros.atomic import atomic_path, write_json_atomic

from vstream_ros.engine.memory import POLICIES, MemoryConfig, MemoryManager, kv_bytes
from vstream_ros.engine.memory.simulate import synthetic_stream


def register(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("longrun", help="simulate an hour-long stream: cache size and latency over time",
                              description=__doc__.split("\n\n")[0])
    add_arguments(p)
    p.set_defaults(func=main)
    return p


def add_arguments(p) -> None:
    p.add_argument("--duration-s", type=float, default=3600.0, help="simulated stream length (default 1 h)")
    p.add_argument("--fps", type=float, nargs="+", default=[2.0, 10.0], help="model fps values to run (default 2 10)")
    p.add_argument("--policy", choices=POLICIES, default="keyframes", help="memory policy")
    p.add_argument("--log-every-s", type=float, default=10.0, help="trace bucket length in simulated seconds")
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic stream (replies, queries)")
    p.add_argument("--out", default="out/longrun", help="folder for longrun.json and longrun.png")


@dataclass(frozen=True)
class Shapes:
    layers: int = 32
    kv_heads: int = 8
    head_dim: int = 128
    dtype_bytes: int = 2


def simulate(mem: MemoryConfig, fps: float, duration_s: float, shapes: Shapes = Shapes(), log_every_s: float = 10.0,
             seed: int = 0, p_reply: float = 0.01, p_query: float = 0.002,
             backend_factory: Callable | None = None) -> dict:
    """One run. Returns {fps, buckets: [{t, tokens, kv_bytes, max_tokens, lat_p50_ms, lat_p99_ms, ...}], ...}."""
    if duration_s <= 0 or log_every_s <= 0:
        raise ValueError("duration_s and log_every_s must be positive")
    mem = MemoryConfig(**{**asdict(mem), "fps": fps})
    n_frames = int(round(duration_s * fps))
    backend = backend_factory(mem) if backend_factory is not None else None
    mgr = backend.manager if backend is not None else MemoryManager(mem)
    torch_mod, vision_dim = _torch_if(backend)
    buckets, lat, max_tok, events = [], [], 0, 0
    next_log = log_every_s
    for f in synthetic_stream(n_frames, fps=fps, seed=seed, p_reply=p_reply, p_query=p_query):
        t0 = time.perf_counter()
        if backend is not None:
            vision = None
            if f.kind == "frame":
                vision = torch_mod.from_numpy(np.repeat(_pad(f.descriptors, vision_dim)[:, None], 10, 1))
            if f.kind == "frame":
                backend.stamp(f.time)
            backend.prefill(f.ids, vision, [-1])
            if backend.events:
                events += 1
            if torch_mod is not None and torch_mod.cuda.is_available():
                torch_mod.cuda.synchronize()                      # host sync: honest per-frame latency
        else:
            if f.kind == "frame":
                mgr.ledger.stamp(f.time)
            mgr.observe(f.ids, f.descriptors)
            events += mgr.step() is not None
        lat.append(time.perf_counter() - t0)
        max_tok = max(max_tok, mgr.length)
        if f.time + 1e-9 >= next_log and f.kind == "frame":
            buckets.append(_bucket(f.time, mgr, lat, max_tok, shapes, torch_mod))
            lat, max_tok = [], 0
            next_log += log_every_s
    if lat:
        buckets.append(_bucket(n_frames / fps, mgr, lat, max_tok, shapes, torch_mod))
    return {"fps": fps, "duration_s": duration_s, "frames": n_frames, "events": events, "memory": asdict(mem),
            "shapes": asdict(shapes), "cap_kv_bytes": kv_bytes(mem.cap_tokens, **asdict(shapes)),
            "with_model": backend is not None, "buckets": buckets}


def _torch_if(backend):
    if backend is None:
        return None, 0
    import torch
    dv = getattr(getattr(backend.inner, "model", None), "cfg", None)
    return torch, getattr(dv, "vision_hidden_size", None) or 64


def _pad(desc: np.ndarray, dim: int) -> np.ndarray:
    out = np.zeros((desc.shape[0], dim), np.float32)
    out[:, : min(dim, desc.shape[1])] = desc[:, :dim]
    return out


def _bucket(t, mgr, lat, max_tok, shapes, torch_mod) -> dict:
    ms = np.asarray(lat) * 1e3
    b = {"t": round(float(t), 3), "tokens": mgr.length, "max_tokens": max_tok,
         "kv_bytes": kv_bytes(mgr.length, **asdict(shapes)), "max_kv_bytes": kv_bytes(max_tok, **asdict(shapes)),
         "lat_p50_ms": float(np.percentile(ms, 50)), "lat_p99_ms": float(np.percentile(ms, 99)),
         "lat_max_ms": float(ms.max()), "occupancy": mgr.occupancy()}
    if torch_mod is not None and torch_mod.cuda.is_available():
        b["cuda_allocated"] = int(torch_mod.cuda.memory_allocated())
        b["cuda_peak"] = int(torch_mod.cuda.max_memory_allocated())
    return b


def plot(runs: list, png_path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    for run in runs:
        minutes = [b["t"] / 60 for b in run["buckets"]]
        ax1.plot(minutes, [b["max_kv_bytes"] / 2 ** 20 for b in run["buckets"]], label=f"{run['fps']:g} fps")
        ax2.plot(minutes, [b["lat_p99_ms"] for b in run["buckets"]], label=f"{run['fps']:g} fps p99")
    if runs:
        ax1.axhline(runs[0]["cap_kv_bytes"] / 2 ** 20, color="grey", ls="--", label="cap")
    ax1.set_ylabel("KV cache (MiB, max per bucket)")
    ax2.set_ylabel("per-frame latency (ms)")
    ax2.set_xlabel("stream time (min)")
    ax1.legend()
    ax2.legend()
    fig.tight_layout()
    with atomic_path(png_path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


def write(runs: list, out_dir: str) -> tuple[str, str]:
    os.makedirs(out_dir, exist_ok=True)
    js, png = os.path.join(out_dir, "longrun.json"), os.path.join(out_dir, "longrun.png")
    write_json_atomic(js, {"runs": runs}, indent=1)
    plot(runs, png)
    return js, png


def main(args) -> int:
    try:
        mem = MemoryConfig(policy=args.policy)
        runs = [simulate(mem, fps, args.duration_s, log_every_s=args.log_every_s, seed=args.seed) for fps in args.fps]
    except ValueError as e:
        print(f"vstream-lab longrun: error: {e}", file=sys.stderr)
        return 2
    js, png = write(runs, args.out)
    for run in runs:
        last = run["buckets"][-1]
        print(f"{run['fps']:g} fps: {run['frames']} frames, {run['events']} memory events, "
              f"final {last['tokens']} tokens = {last['kv_bytes'] / 2 ** 20:.1f} MiB, p99 {last['lat_p99_ms']:.3f} ms")
    print(f"wrote {js} and {png}")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    raise SystemExit(main(parser.parse_args()))
