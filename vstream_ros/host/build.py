"""EngineConfig → Engine (LiveModel + LLM backend + stream settings): loads what the user chose.

`vstream run`, `vstream replay` and the ROS node describe what to load with an `engine.options.EngineConfig`
(built from command-line arguments or node parameters, checked before anything loads); `load_engine()` loads the
model and builds the backends (engine.factory: one per stream over one copy of the weights).

Imports: stdlib and engine config/options (torch only inside load_engine). Never rclpy.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from vstream_ros.engine.config import StreamConfig
from vstream_ros.engine.options import EngineConfig


@dataclass
class Engine:
    """A loaded engine: the model (template + vision tower), its LLM backend and the stream settings."""

    model: object
    backend: object
    stream: StreamConfig = field(default_factory=StreamConfig)
    backends: tuple = ()            # one per stream (several streams, one model); () = (backend,)

    def __post_init__(self):
        self.backends = tuple(self.backends) or (self.backend,)


def load_engine(choice: EngineConfig, streams: int = 1) -> Engine:
    """The engine for `choice`, serving `streams` streams from one copy of the weights (`backends`, one per
    stream; `backend` is the first); raises CheckpointError / FileNotFoundError / ValueError."""
    from vstream_ros.engine.checkpoint import load_live_model  # noqa: PLC0415 - torch only here
    from vstream_ros.engine.factory import build_backends  # noqa: PLC0415

    choice.check()
    model = load_live_model(choice.model)
    backends = build_backends(model, streams, choice.backend, choice.memory_policy, choice.memory_budget_tokens,
                              choice.stream.fps)
    return Engine(model, backends[0], choice.stream, tuple(backends))
