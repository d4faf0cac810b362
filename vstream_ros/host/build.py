"""EngineConfig → Engine (LiveModel + LLM backend + stream settings): loads what the user chose.

`vstream run`, `vstream replay` and the ROS node describe what to load with an `engine.options.EngineConfig`
(built from command-line arguments or node parameters, checked before anything loads); `load_engine()` sizes the
memory for the model (EngineConfig.memory_plan: its trained-context record), says once which memory and why (and
warns once when it exceeds what the model was trained on), loads the model and builds the backends (engine.factory: one per stream over one copy of the weights).

Imports: stdlib and engine config/options (torch only inside load_engine). Never rclpy.
"""
from __future__ import annotations

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


def load_engine(choice: EngineConfig, streams: int = 1, say: Callable[[str], None] = _stderr) -> Engine:
    """The engine for `choice`, serving `streams` streams from one copy of the weights (`backends`, one per
    stream; `backend` is the first); raises CheckpointError / FileNotFoundError / ValueError. `say` gets the
    memory note and, beyond the model's trained context, the one warning (`warning: …`)."""
    from vstream_ros.engine.checkpoint import load_live_model  # noqa: PLC0415 - torch only here
    from vstream_ros.engine.factory import build_backends  # noqa: PLC0415

    choice.check()
    plan = choice.memory_plan(choice.trained_context())
    model = load_live_model(choice.model)          # first: a model that cannot load is the one line the user sees
    say(plan.note)
    if plan.warning:
        say(f"warning: {plan.warning}")
    backends = build_backends(model, streams, choice.backend, plan.policy, fps=choice.stream.fps,
                              memory=plan.memory)
    return Engine(model, backends[0], choice.stream, plan, tuple(backends))
