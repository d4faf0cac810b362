"""OutputRouter: engine events → Narration / narration_text / StepGuidance outputs, the one copy of that bookkeeping.

Runs on the LLM worker thread (events arrive there, in order). For every event it keeps the frame window
(`window_start`, `frames_in_window`), turns chunks and replies into Narration field dicts with
`vstream_ros.interfaces.narration.NarrationBuilder` (capture stamps bit-exact through a StampBook), mirrors each
finished utterance as plain text, and in assist mode feeds proactive utterances to the StepTracker and emits
StepGuidance. The sink decides where the outputs go: ROS publishers (the node), bag records (replay).

Sink protocol (any method may be absent):
  publish_narration(fields: dict)                  one Narration per chunk
  publish_text(text: str, stamp: (sec, nanosec))   the finished utterance
  publish_guidance(fields: dict)                   assist mode, after a proactive utterance
  on_event(event)                                  every raw engine event (JSONL logs, printers)

Imports: stdlib and vstream_ros.{engine.events, interfaces, guidance}. Must not import rclpy or torch.
"""
from __future__ import annotations

import collections
from collections.abc import Callable

from vstream_ros.engine.events import FrameDecision, Response, UtteranceChunk
from vstream_ros.interfaces.narration import NarrationBuilder, step_guidance
from vstream_ros.interfaces.stamps import StampBook


class OutputRouter:
    """`latency_ms(event)` gives Narration.latency_ms for chunks and replies (NaN when absent)."""

    def __init__(self, sink=None, frame_id: str = "", language: str = "en", tracker=None,
                 latency_ms: Callable[[object], float] | None = None, stamp_capacity: int = 4096):
        self.sink = sink
        self.tracker = tracker
        self.latency_ms = latency_ms
        self.builder = NarrationBuilder(frame_id=frame_id, language=language, stamps=StampBook(stamp_capacity))
        self.counters: collections.Counter = collections.Counter()
        self.window_start: float | None = None
        self.frames_in_window = 0
        self._publish_narration = getattr(sink, "publish_narration", None)
        self._publish_text = getattr(sink, "publish_text", None)
        self._publish_guidance = getattr(sink, "publish_guidance", None)
        self._raw = getattr(sink, "on_event", None)

    @property
    def frame_id(self) -> str:
        return self.builder.frame_id

    @frame_id.setter
    def frame_id(self, value: str) -> None:
        self.builder.frame_id = value

    def remember(self, t: float, stamp: tuple[int, int] | None) -> None:
        """The exact header stamp of the frame captured at t (outputs carry it bit-exactly)."""
        if stamp is not None:
            self.builder.stamps.remember(t, *stamp)

    def stamp(self, t: float) -> tuple[int, int]:
        return self.builder.stamps.stamp(t)

    def reset(self) -> None:
        """A new stream: open utterances and the frame window are forgotten (stamps are kept)."""
        self.builder.reset()
        self.window_start, self.frames_in_window = None, 0
        if self.tracker is not None:
            self.tracker.reset()

    def route(self, ev) -> None:
        if self._raw is not None:
            self._raw(ev)
        if isinstance(ev, FrameDecision):
            cache = ev.extra.get("cache") or {}
            if "frames_recent" in cache:              # bounded memory: what the model holds now
                self.frames_in_window = int(cache["frames_recent"] + cache.get("frames_long", 0))
                if cache.get("oldest_frame_t") is not None:
                    self.window_start = float(cache["oldest_frame_t"])
            else:                                     # full cache: every frame since the stream started
                self.frames_in_window += 1
            if self.window_start is None:
                self.window_start = ev.time
            self.counters["decisions"] += 1
            self.counters["responses"] += ev.decision == "respond"
        latency = float("nan")
        if self.latency_ms is not None and isinstance(ev, (UtteranceChunk, Response)):
            latency = self.latency_ms(ev)
        for fields in self.builder.narrations(ev, latency, self.frames_in_window, self.window_start):
            if self._publish_narration is not None:
                self._publish_narration(fields)
        if not isinstance(ev, Response):
            return
        for u in self.builder.completed():
            stamp = self.builder.stamps.stamp(u.time)
            self.counters["utterances"] += 1
            if self._publish_text is not None:
                self._publish_text(u.text, stamp)
            if self.tracker is not None and ev.trigger == "proactive":
                guidance = step_guidance(self.tracker.update(u.text, u.utterance_id), stamp, self.builder.frame_id)
                if self._publish_guidance is not None:
                    self._publish_guidance(guidance)
