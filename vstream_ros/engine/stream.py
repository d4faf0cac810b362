"""`Stream`: the state of ONE stream served by the engine — its name, its backend (its KV-cache slot), where it
stands in the stream grammar (state, tokens owed to the cache, last frame index and time), its queries (timed,
ordered by capture time, and "now" ones that preempt) and its settings (threshold, reply length).

The decision routine (engine/decision.py) reads and writes this object and nothing else; every driver — the
synchronous StreamSession, the StreamPipeline's scheduler, hence `vstream run`, replay, the node, the demo and
the benchmark — owns one Stream per stream. `StreamObserver` is how a driver counts what the routine did
(prefills, decisions, reply timings) without reaching into it.

`cfg.recall` (engine/recall: a RecallConfig), when set, gives the stream a RecallStore that keeps every fed frame and the narration log in host RAM and
makes every query an answer over recalled memory on a fork of the cache (rolled back after the answer).

Imports: stdlib, torch, engine.{config, events, protocol, pipeline_queue, llm_backend, recall}. Never ROS.
"""
from __future__ import annotations

import bisect
import dataclasses
import itertools
import threading
from collections import deque
from typing import Callable

import torch

from .config import StreamConfig
from .events import Event
from .llm_backend import LLMBackend
from .pipeline_queue import QueryTicket
from .protocol import StreamProtocol, StreamState
from .recall import RecallStore


class StreamObserver:
    """What a driver wants to know of the routine's work (all no-ops here; the pipeline counts them)."""

    def prefilled(self, frames: int) -> None: ...

    def decided(self, frame, depth: int) -> None: ...

    def reply_started(self) -> None: ...

    def first_token(self) -> None: ...

    def reply_done(self, tokens: int) -> None: ...

    def replied_midbatch(self, index: int, reprefilled: int) -> None: ...


class Stream:
    """One stream's state. Queries may be added from any thread; everything else belongs to the thread that
    runs the stream's routine (the caller of StreamSession, or the scheduler's worker)."""

    def __init__(self, backend: LLMBackend, protocol: StreamProtocol, cfg: StreamConfig | None = None,
                 name: str = "u", on_event: Callable[[Event], None] | None = None, record: bool = False,
                 observer: StreamObserver | None = None):
        self.backend = backend
        self.protocol = protocol
        self.cfg = cfg or StreamConfig()
        self.name = name
        self.on_event = on_event
        self.record = record                       # keep the fed transcript + logits (tests, debugging)
        self.observer = observer or StreamObserver()
        # host-RAM past + text log (cfg.recall); None = queries enter the stream as in the original
        self.recall = RecallStore(self.cfg.recall, self.cfg.fps) if self.cfg.recall is not None else None
        self.should_stop: Callable[[], bool] = lambda: False   # polled between reply tokens (a closing driver)
        self._qlock = threading.Lock()
        self._timed: list[tuple[float, int, QueryTicket]] = []
        self._now: deque[QueryTicket] = deque()
        self._qseq = itertools.count()
        self.reset()

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        """A new stream: empty cache, grammar at START, frame index back to -1 (queries are kept)."""
        self.backend.reset()
        if self.recall is not None:
            self.recall.reset()
        self.state = StreamState.START
        self.pending: list[int] = []               # tokens owed to the cache before the next prefix
        self.frame_index = -1
        self.last_time = 0.0
        self.utterances = itertools.count()
        self.transcript_ids: list[int] = []
        self.transcript_vision: list[torch.Tensor] = []
        self.trace: list[tuple[int, torch.Tensor]] = []   # (transcript position, logits) when record=True

    def set_threshold(self, threshold: float) -> None:
        self.cfg = dataclasses.replace(self.cfg, threshold=float(threshold))

    def emit(self, event: Event) -> Event:
        if self.on_event is not None:
            self.on_event(event)
        return event

    # ------------------------------------------------------------------ queries (any thread)
    def add_query(self, ticket: QueryTicket) -> None:
        """Queue a query: ticket.t None = answer next (preempts frames), else at that capture time."""
        with self._qlock:
            if ticket.t is None:
                self._now.append(ticket)
            else:
                bisect.insort(self._timed, (float(ticket.t), next(self._qseq), ticket), key=lambda q: q[:2])

    def pop_now(self) -> QueryTicket | None:
        with self._qlock:
            return self._now.popleft() if self._now else None

    def pop_timed(self, t: float = float("inf"), inclusive: bool = True) -> QueryTicket | None:
        """The earliest timed query strictly before t (or at t when inclusive), else None."""
        with self._qlock:
            if self._timed and (self._timed[0][0] < t or (inclusive and self._timed[0][0] <= t)):
                return self._timed.pop(0)[2]
        return None

    def next_query_time(self) -> float:
        with self._qlock:
            return self._timed[0][0] if self._timed else float("inf")

    def drop_timed(self) -> list[QueryTicket]:
        """Remove and return every timed query (a reset: they belonged to the old timeline)."""
        with self._qlock:
            stale, self._timed = self._timed, []
        return [q[2] for q in stale]

    @property
    def queued_queries(self) -> int:
        with self._qlock:
            return len(self._timed) + len(self._now)

    @property
    def has_now_query(self) -> bool:
        with self._qlock:
            return bool(self._now)
