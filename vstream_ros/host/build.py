"""EngineConfig → Engine (LiveModel + LLM backend + stream settings): loads what the user chose.

`vstream run`, `vstream replay` and the ROS node describe what to load with an `engine.options.EngineConfig`
(built from command-line arguments or node parameters, checked before anything loads); `load_engine()` sizes the
memory for the model (EngineConfig.memory_plan: its trained-context record), says once which memory and why (and
warns once when it exceeds what the model was trained on), turns on the recall tier when asked or when the model was
trained for it (EngineConfig.recall_config; one line with its bytes per hour, in RAM or on disk; a disk without
room for them is refused), loads the model and builds the
backends (engine.factory: one per stream over one copy of the weights).

Imports: stdlib and engine config/options (torch only inside load_engine). Never rclpy.
"""
from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from typing import Callable

from vstream_ros.engine.config import StreamConfig
from vstream_ros.engine.options import EngineConfig


@dataclass
class Engine:
    """A loaded engine: the model (template + vision tower), its LLM backend and the stream settings."""

    model: object
    backend: object
    stream: StreamConfig = field(default_factory=StreamConfig)
    memory: object = None           # the engine.options.MemoryPlan it runs
    backends: tuple = ()            # one per stream (several streams, one model); () = (backend,)

    def __post_init__(self):
        self.backends = tuple(self.backends) or (self.backend,)


def _stderr(line: str) -> None:
    print(f"vstream: {line}", file=sys.stderr, flush=True)


def _writable(folder: str) -> None:
    """ValueError (one line, with the way out) unless a file can be made in `folder` (made if missing)."""
    import tempfile  # noqa: PLC0415
    from pathlib import Path  # noqa: PLC0415
    try:
        Path(folder).expanduser().mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=Path(folder).expanduser()):
            pass
    except OSError as e:
        raise ValueError(f"recall disk {folder}: cannot write there ({e.strerror or e}); choose another folder "
                         f"(memory.recall_disk / --recall-disk) or leave it empty to keep frames in RAM") from None


def _free_bytes(folder: str) -> int:
    """Free bytes where `folder` is (or would be made: its nearest existing parent)."""
    import shutil  # noqa: PLC0415
    from pathlib import Path  # noqa: PLC0415
    p = Path(folder).expanduser().resolve()
    while not p.exists() and p != p.parent:
        p = p.parent
    return shutil.disk_usage(p).free


def load_engine(choice: EngineConfig, streams: int = 1, say: Callable[[str], None] = _stderr) -> Engine:
    """The engine for `choice`, serving `streams` streams from one copy of the weights (`backends`, one per
    stream; `backend` is the first); raises CheckpointError / FileNotFoundError / ValueError. `say` gets the
    memory note and, beyond the model's trained context, the one warning (`warning: …`)."""
    import torch  # noqa: PLC0415 - torch only here
    from vstream_ros.engine.checkpoint import load_live_model  # noqa: PLC0415
    from vstream_ros.engine.factory import build_backends  # noqa: PLC0415

    choice.check()
    ctx = choice.trained_context()
    plan = choice.memory_plan(ctx)
    recall = choice.recall_config(ctx)
    model = load_live_model(choice.model)          # first: a model that cannot load is the one line the user sees
    say(plan.note)
    if plan.warning:
        say(f"warning: {plan.warning}")
    stream = choice.stream
    if recall is not None:
        stream = dataclasses.replace(stream, recall=recall)
        per_hour = stream.fps * 3600 * model.protocol.frame_tokens * model.vision.hidden_size * \
            torch.tensor([], dtype=model.vision.dtype).element_size()
        need = per_hour * recall.hours * streams
        where = "host RAM"
        if recall.disk:
            where = f"files in {recall.disk}"
            _writable(recall.disk)
            free = _free_bytes(recall.disk)
            if free < need:
                raise ValueError(f"recall disk {recall.disk} has {free / 1e9:.1f} GB free; {recall.hours:g} h of "
                                 f"{streams} stream(s) need {need / 1e9:.1f} GB: lower memory.recall_hours "
                                 f"(--recall-hours) or choose another folder")
        say(f"recall on: questions are answered over the past they are about ({recall.method}); every frame's "
            f"vision tokens kept in {where} for {recall.hours:g} h ({per_hour / 1e6:.0f} MB per hour, at most "
            f"{per_hour * recall.hours / 1e6:.0f} MB per stream)")
    backends = build_backends(model, streams, choice.backend, plan.policy, fps=choice.stream.fps,
                              memory=plan.memory)
    return Engine(model, backends[0], stream, plan, tuple(backends))
