"""StreamRunner: RGB frames with capture times in, events out, one frame at a time on the caller's thread —
the synchronous oracle (frame clock → letterbox → vision tokens → StreamSession) that the demo evaluation and
the benchmark's "original loop" use. The product path (node, `vstream run`, `vstream replay`) is the host
runtime (vstream_ros/host), which must give the same events when nothing is dropped.

Imports: numpy, torch and engine modules. Never ROS/replay/train.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from .llm_backend import LLMBackend
from .checkpoint import LiveModel
from .config import StreamConfig
from .events import Event
from .frames import FrameClock, FrameError
from .session import StreamSession
from .vision import encode_frames


@dataclass
class RunnerStats:
    frames_in: int = 0          # frames offered to push()
    frames_used: int = 0        # frames fed to the LLM
    frames_skipped: int = 0     # not on the model-fps grid
    out_of_order: int = 0       # capture time went backwards
    corrupt: int = 0            # frames that could not be letterboxed (bad shape/dtype)
    last_error: str = ""
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        d = {k: v for k, v in self.__dict__.items() if k != "extra"}
        d.update(self.extra)
        return d


class StreamRunner:
    """Drive a StreamSession from raw frames. `on_event` sees every event as it happens (chunks too)."""

    def __init__(self, model: LiveModel, backend: LLMBackend, cfg: StreamConfig | None = None,
                 on_event: Callable[[Event], None] | None = None, emit_chunks: bool = False, record: bool = False):
        self.model = model
        self.cfg = cfg or StreamConfig()
        self.session = StreamSession(backend, model.protocol, self.cfg, on_event=on_event,
                                     emit_chunks=emit_chunks, record=record)
        self.clock = FrameClock(self.cfg.fps)
        self.stats = RunnerStats()

    def encode(self, rgb: np.ndarray) -> torch.Tensor:
        """One RGB frame → vision tokens [10, Dv]. FrameError for a malformed frame; model failures propagate."""
        return encode_frames(self.model.vision, [rgb])[0]

    def push(self, rgb: np.ndarray, t: float) -> list[Event]:
        """Offer a frame captured at t. Frames off the model-fps grid or out of order are skipped and
        counted; a malformed frame is counted in `corrupt` and skipped (never raises for bad pixels)."""
        self.stats.frames_in += 1
        before = self.clock.out_of_order
        if not self.clock.accept(float(t)):
            if self.clock.out_of_order > before:
                self.stats.out_of_order += 1
            else:
                self.stats.frames_skipped += 1
            return []
        try:
            tokens = self.encode(rgb)
        except FrameError as e:            # bad pixels only: an out-of-memory or kernel error is raised, not counted
            self.stats.corrupt += 1
            self.stats.last_error = " ".join(str(e).split())[:200]
            return []
        self.stats.frames_used += 1
        return self.session.push_frame(tokens, float(t))

    def ask(self, text: str, t: float | None = None) -> list[Event]:
        return self.session.ask(text, t)

    def set_threshold(self, threshold: float) -> None:
        self.session.set_threshold(threshold)
        self.cfg = self.session.cfg

    def finish(self) -> list[Event]:
        """End of stream: answer the queries still queued."""
        return self.session.flush()

    def reset(self) -> None:
        self.session.reset()
        self.clock.reset()
