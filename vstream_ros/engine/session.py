"""StreamSession: one stream driven synchronously, one frame at a time — the behaviour contract and the oracle
of a single stream. It owns a `Stream` (engine/stream.py) and runs the decision routine (engine/decision.py)
directly on its backend: every other driver (the scheduler behind the pipeline, hence run, replay, the node)
runs the same routine, so with nothing dropped they give the same events.

Imports: torch and engine modules. Never ROS/replay/train.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from . import decision
from .config import StreamConfig
from .decision import decide  # noqa: F401 - the decision rule, public here since the first release
from .events import Event, UtteranceChunk
from .llm_backend import LLMBackend
from .pipeline_queue import QueryTicket
from .protocol import StreamProtocol
from .stream import Stream


@dataclass
class _Frame:
    t: float
    tokens: torch.Tensor


class StreamSession:
    """One stream over one backend. Not thread-safe: drive it from one thread.

    Returned event lists hold responses (and query/frame events); utterance chunks only with emit_chunks=True
    (`on_event` always sees them)."""

    def __init__(self, backend: LLMBackend, protocol: StreamProtocol, cfg: StreamConfig | None = None,
                 on_event: Callable[[Event], None] | None = None, emit_chunks: bool = False,
                 record: bool = False, session_id: str = "u"):
        self.stream = Stream(backend, protocol, cfg, name=session_id, on_event=on_event, record=record)
        self.backend, self.protocol, self.emit_chunks = backend, protocol, emit_chunks

    # the stream's state, read-only views (tests, the overlay)
    cfg = property(lambda self: self.stream.cfg)
    state = property(lambda self: self.stream.state)
    frame_index = property(lambda self: self.stream.frame_index)
    last_time = property(lambda self: self.stream.last_time)
    pending = property(lambda self: self.stream.pending)
    transcript_ids = property(lambda self: self.stream.transcript_ids)
    transcript_vision = property(lambda self: self.stream.transcript_vision)
    trace = property(lambda self: self.stream.trace)
    queued_queries = property(lambda self: self.stream.queued_queries)

    def reset(self) -> None:
        """Forget the stream: empty cache, no pending queries, frame index back to -1."""
        self.stream.reset()
        self.stream.drop_timed()

    def set_threshold(self, threshold: float) -> None:
        self.stream.set_threshold(threshold)

    def _run(self, gen) -> list[Event]:
        events = decision.run(gen, self.backend)
        return events if self.emit_chunks else [e for e in events if not isinstance(e, UtteranceChunk)]

    def ask(self, text: str, t: float | None = None) -> list[Event]:
        """A user query. t=None: answer now (after the last fed frame). Else queue it for time t."""
        text = text.strip()
        if not text:
            raise ValueError("a query needs some text")
        if t is None:
            return self.answer(self.stream.last_time, text)
        self.stream.add_query(QueryTicket(text, float(t)))
        return []

    def answer(self, t: float, text: str) -> list[Event]:
        """Answer a query now, stamped `t`."""
        return self._run(decision.answer(self.stream, QueryTicket(text.strip(), float(t)), t))

    def push_frame(self, vision_tokens: torch.Tensor, t: float) -> list[Event]:
        """Feed one frame's vision tokens [10, Dv] captured at time t; return the events it caused."""
        n = self.protocol.frame_tokens
        if vision_tokens.ndim != 2 or vision_tokens.shape[0] != n:
            raise ValueError(f"expected vision tokens [{n}, D], got {tuple(vision_tokens.shape)}")
        events: list[Event] = []
        rest = [_Frame(float(t), vision_tokens)]
        while rest:                                   # queries before the frame come back with it, once each
            step_events, rest = decision.run(decision.frames_step(self.stream, rest), self.backend)
            events += step_events
        return events if self.emit_chunks else [e for e in events if not isinstance(e, UtteranceChunk)]

    def flush(self) -> list[Event]:
        """Answer every queued query (end of stream)."""
        return self._run(decision.flush(self.stream))
