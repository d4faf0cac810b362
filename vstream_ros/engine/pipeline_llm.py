"""The model side of engine.pipeline.StreamPipeline (a mixin): what the pipeline hands the Scheduler.

`next_work(max_frames)` picks this stream's next routine (engine/decision.py), in this order: a "now" query
(preempts the queued frames, answered at the last decided frame's time), a reset marker, ONE catch-up prefill of
the ready frames (up to `max_prefill_frames` and the scheduler's share of a step, `max_frames`; frames a
mid-batch reply cropped go back to the head of the ready queue), and, once every frame is decided, the
end-of-stream flush that `finish()` asked for. `work_failed` sends a failure to `on_error` when the pipeline has
one (the stream restarts, the pipeline goes on), else it stops the stream and `finish()` raises it.
`PipelineCounters` turns what the routine did into `PipelineStats`.

Imports: torch and engine modules. Never ROS.
"""
from __future__ import annotations

import time

import torch

from . import decision
from .pipeline_queue import QueuedFrame, QueryTicket
from .stream import StreamObserver


class PipelineCounters(StreamObserver):
    """Counts a pipeline's prefills, decisions and reply timings into its current `stats`."""

    def __init__(self, pipeline):
        self.pipe = pipeline
        self._t0 = 0.0
        self._first = False

    def prefilled(self, frames: int) -> None:
        self.pipe.stats.prefills += 1

    def decided(self, frame, depth: int) -> None:
        st = self.pipe.stats
        st.frames_decided += 1
        st.decision_latency_s.append(time.perf_counter() - frame.t_in)
        st.queue_depth.append(depth)
        while len(st.decision_latency_s) > self.pipe.options.history:
            st.decision_latency_s.popleft()
            st.queue_depth.popleft()

    def reply_started(self) -> None:
        self._t0, self._first = time.perf_counter(), True

    def first_token(self) -> None:
        if self._first:
            self._first = False
            self.pipe.stats.first_token_s.append(time.perf_counter() - self._t0)

    def reply_done(self, tokens: int) -> None:
        self.pipe.stats.utterance_s.append(time.perf_counter() - self._t0)
        self.pipe.stats.utterance_tokens.append(tokens)

    def replied_midbatch(self, index: int, reprefilled: int) -> None:
        self.pipe.stats.frames_reprefilled += reprefilled
        self.pipe.stats.midbatch_replies += index > 0


class LLMWork:
    """Mixin: needs the attributes StreamPipeline.__init__ sets (stream, options, stats, _lock, _ready, _capture,
    _encoding, _closing, _busy, _flush, _taken, _error, on_error, on_reset)."""

    # ------------------------------------------------------------------ called by the Scheduler's worker
    def next_work(self, max_frames: int | None = None):
        """This stream's next routine, or None; a catch-up prefill takes at most `max_frames` frames (the
        scheduler's share of one step) and at most `options.max_prefill_frames`."""
        cap = min(self.options.max_prefill_frames, max_frames or self.options.max_prefill_frames)
        with self._lock:
            if self._closing or self._error is not None or self._busy:
                return None
            now = self.stream.pop_now()
            if now is not None:
                self._busy, self._taken = True, []
                return decision.answer(self.stream, now, None)
            if self._ready:
                frames: list[QueuedFrame] = []
                while self._ready and len(frames) < cap \
                        and not (frames and self._ready[0].marker):
                    frames.append(self._ready.popleft())
                    if frames[-1].marker:
                        break
                self._busy, self._taken = True, frames
                self._lock.notify_all()                          # room in the ready queue (overflow "block")
                return self._restart() if frames[0].marker else self._frames(frames)
            if self._flush and not (self._capture or self._encoding):
                self._busy, self._taken, self._flush = True, [], False
                return decision.flush(self.stream)
        return None

    def work_done(self, result) -> None:
        with self._lock:
            self._busy = False
            self._lock.notify_all()

    def work_failed(self, exc: BaseException) -> None:
        if self.on_error is None:
            with self._lock:
                self._error = exc
                self._busy = False
                self._lock.notify_all()
            return
        with self._lock:
            self.stats.engine_errors += 1
            self.stats.dropped_error += sum(1 for f in self._taken if not f.marker)
            self.stats.last_error = " ".join(str(exc).split())[:200]
        try:
            self.stream.reset()
            self.on_error(exc)
        finally:
            with self._lock:
                self._busy = False
                self._lock.notify_all()

    # ------------------------------------------------------------------ the routines
    def _frames(self, frames: list[QueuedFrame]):
        for f in frames:
            if f.ready_event is not None:                      # encoded on the vision stream
                torch.cuda.current_stream().wait_event(f.ready_event)
                f.tokens.record_stream(torch.cuda.current_stream())
        _, rest = yield from decision.frames_step(self.stream, frames)
        with self._lock:
            self._ready.extendleft(reversed(rest))

    def _restart(self):
        """A reset marker: timed queries of the old timeline are dropped, the stream starts anew."""
        with self._lock:
            self.stats.resets += 1
        for ticket in self.stream.drop_timed():
            ticket.fail("stream reset")
        self.stream.reset()
        if self.on_reset is not None:
            self.on_reset()
        return
        yield  # a routine with no model work


__all__ = ["LLMWork", "PipelineCounters", "QueryTicket"]
