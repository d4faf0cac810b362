"""Checks that run before a model loads: every option whose validity can be known up front is checked here,
cheapest first, and refused with one line that says what to pass instead (never a traceback, never after a
minute of loading).

Order matters: queries, stream numbers and the model's folders (engine/sources.py) are checked without importing
torch or transformers, so a mistyped `--model` fails in a fraction of a second; then output paths and the video's
length (PyAV only); then memory budgets against the memory policy at the model fps and the device, which import
torch (still nothing is loaded).

Used by `vstream run` (all of it), `vstream replay` / `vstream eval --teacher-forced` (model, memory, device,
outputs). The memory minimum itself is stated in engine/options.py (budget_problem), which the node's configure
step uses too. Imports: stdlib, vstream_ros.engine.config/options/sources at module level; PyAV and torch inside
functions. Never ROS.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from .engine.config import ModelSpec, StreamConfig
from .engine.options import CLI_NAMES, EngineConfig
from .engine.sources import ModelSources, resolve_sources

ASK_END_SLACK_S = 0.05


# ----------------------------------------------------------------------------- queries
def parse_asks(items: list[str]) -> list[tuple[float, str]]:
    """['12.5:What?'] → [(12.5, 'What?')]; ValueError with the offending item otherwise."""
    out = []
    for item in items:
        head, sep, text = item.partition(":")
        try:
            t = float(head)
        except ValueError:
            t = float("nan")
        if not sep or not text.strip() or not t >= 0 or not math.isfinite(t):
            raise ValueError(f"--ask {item!r} must look like SECONDS:TEXT with SECONDS ≥ 0, "
                             "e.g. '12.5:What is this?'")
        out.append((t, text.strip()))
    return sorted(out, key=lambda x: x[0])


def check_asks_within(asks: list[tuple[float, str]], duration_s: float | None, video: str) -> None:
    """Refuse a query after the end of the video (it would be answered silently at a time nothing was seen)."""
    if duration_s is None:
        return
    for t, text in asks:
        if t > duration_s + ASK_END_SLACK_S:
            short = text if len(text) <= 30 else text[:29] + "…"
            raise ValueError(f"--ask '{t:g}:{short}' is at {t:g} s but {video} is only {duration_s:.2f} s long: "
                             f"ask at a time between 0 and {duration_s:.2f} s")


# ----------------------------------------------------------------------------- memory
def check_memory(config: EngineConfig) -> None:
    """The backend × memory policy × budget at the model fps (engine/options.py states the minimum)."""
    config.check(CLI_NAMES)


# ----------------------------------------------------------------------------- model, device, outputs
def check_model(spec: ModelSpec) -> ModelSources:
    """The model's folders exist and agree (engine/sources.py); hub ids are usable now. No torch."""
    return resolve_sources(spec)


def check_device(device: str) -> None:
    """A CUDA device this torch cannot use is refused (imports torch)."""
    from .engine.config import resolve_device  # noqa: PLC0415
    resolve_device(device)


def check_output_file(path: str | None, flag: str) -> None:
    """An output file we will be able to create (its folder is made later when missing)."""
    if not path:
        return
    p = Path(path).expanduser()
    if p.is_dir():
        raise ValueError(f"{flag} {path} is a folder; pass a file name")
    parent = next((d for d in (p.parent, *p.parent.parents) if d.exists()), None)
    if parent is not None and (not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK)):
        raise ValueError(f"{flag} {path}: cannot create files under {parent}")


# ----------------------------------------------------------------------------- video
def video_length(path: str) -> tuple[int | None, float | None]:
    """(frame count, duration s) from the container's header, or None where unknown (PyAV; decodes nothing).
    Problems with the file itself are left to the decoder's own checks (engine/frames.py)."""
    p = Path(path)
    if not p.is_file():
        return None, None
    try:
        import av  # noqa: PLC0415
        with av.open(str(p)) as container:
            if not container.streams.video:
                return None, None
            s = container.streams.video[0]
            duration = None
            if s.duration and s.time_base:
                duration = float(s.duration * s.time_base)
            elif container.duration:
                duration = container.duration / 1e6
            frames = int(s.frames or 0) or None
            if frames is None and duration and s.average_rate:
                frames = max(1, round(duration * float(s.average_rate)))
            return frames, duration
    except Exception:  # noqa: BLE001 - any header problem: unknown length; decoding reports the real error
        return None, None


# ----------------------------------------------------------------------------- per command
@dataclass(frozen=True)
class RunPlan:
    """What `vstream run` will do, every option checked."""

    asks: list[tuple[float, str]]
    config: EngineConfig
    sources: ModelSources
    video_frames: int | None
    video_duration: float | None
    videos: list = field(default_factory=list)      # engine.video_sources.VideoSource, one per stream


def model_options(args) -> tuple[ModelSpec, StreamConfig, ModelSources]:
    """Shared by run/replay/eval: the model spec, stream config, model folders, memory and device, in that order."""
    config = EngineConfig.from_args(args)
    spec, cfg = config.model, config.stream
    sources = check_model(spec)
    check_memory(config)
    check_device(spec.device)
    return spec, cfg, sources


def preflight_run(args) -> RunPlan:
    """Every `vstream run` option, cheapest first; ValueError with one line for the first bad one."""
    asks = parse_asks(args.ask)
    config = EngineConfig.from_args(args)
    spec = config.model
    sources = check_model(spec)                                   # before any heavy import
    check_output_file(args.events_jsonl, "--events-jsonl")
    from .engine.video_sources import video_sources  # noqa: PLC0415 - stdlib only
    videos = video_sources(args.video if isinstance(args.video, list) else [args.video])
    if len(videos) > 1 and config.backend == "reference":
        raise ValueError("--backend reference serves one stream (it is the oracle); several sources need "
                         "--backend runtime (the default)")
    lengths = [video_length(v.url) if not v.live else (None, None) for v in videos]
    for v, (_, duration) in zip(videos, lengths):
        check_asks_within(asks, duration, v.spec)
    check_memory(config)
    check_device(spec.device)
    frames = None if len(videos) > 1 else lengths[0][0]
    duration = None if len(videos) > 1 else lengths[0][1]
    return RunPlan(asks, config, sources, frames, duration, videos)
