"""The LLM worker of engine.pipeline.StreamPipeline (a mixin: the pipeline's state, its decisions and replies).

One loop: "now" queries first, then reset markers in order, then ONE prefill of the ready frames (up to
`max_prefill_frames`) with logits at every frame's last `<v>`; timed queries are answered before the first frame
after them (or right after a frame at the same time, whose decision is then skipped); the first "respond" frame
crops the speculative frames from the cache, the reply is decoded, and the frames after it go back to the head of
the ready queue. Worker failures go to `on_error` when the pipeline has one (the stream restarts), else they stop
the pipeline and `finish()` raises them.

Imports: torch and engine modules. Never ROS.
"""
from __future__ import annotations

import time
from collections.abc import Callable

import torch

from .events import Response
from .pipeline_queue import QueuedFrame, QueryTicket
from .session import decide
from .protocol import StreamState


class LLMWorker:
    """Mixin: needs the attributes StreamPipeline.__init__ sets (session, backend, protocol, cfg, options, stats,
    _lock, _ready, _queries, _now_queries, _closing, _busy, _active, on_error, on_reset)."""

    def _llm_loop(self) -> None:
        while True:
            with self._lock:
                self._lock.wait_for(lambda: self._now_queries or self._ready or self._closing)
                if self._closing:
                    return
                self._busy = True
                now_query = self._now_queries.popleft() if self._now_queries else None
                frames: list[QueuedFrame] = []
                while not now_query and self._ready and not (frames and self._ready[0].marker):
                    frames.append(self._ready.popleft())
                    if frames[-1].marker:
                        break
                self._lock.notify_all()                          # room in the ready queue (overflow "block")
            try:
                if now_query is not None:
                    self._answer(self.session.last_time, now_query)
                elif frames[0].marker:
                    self._restart()
                else:
                    leftover = self._step(frames[:self.options.max_prefill_frames])
                    leftover += frames[self.options.max_prefill_frames:]
                    with self._lock:
                        self._ready.extendleft(reversed(leftover))
            except Exception as exc:  # noqa: BLE001 - reported, the stream restarts, the worker goes on
                if self.on_error is None:
                    raise
                with self._lock:
                    self.stats.engine_errors += 1
                    self.stats.dropped_error += sum(1 for f in frames if not f.marker)
                    self.stats.last_error = " ".join(str(exc).split())[:200]
                self.session.reset()
                self.on_error(exc)
            finally:
                with self._lock:
                    self._busy = False
                    self._lock.notify_all()

    def _restart(self) -> None:
        """Execute a reset marker: timed queries of the old timeline are dropped, the session starts anew."""
        with self._lock:
            stale, self._queries = self._queries, []
            self.stats.resets += 1
        for _, _, ticket in stale:
            ticket.fail("stream reset")
        self.session.reset()
        if self.on_reset is not None:
            self.on_reset()

    def _answer(self, t: float, ticket: QueryTicket) -> None:
        if ticket.cancelled:
            ticket.fail("cancelled")
            return
        self._active = ticket
        try:
            self._timed_reply(lambda: self.session.answer(t, ticket.text, self._stopper(ticket)))
        except BaseException as exc:
            ticket.fail(" ".join(str(exc).split())[:200] or type(exc).__name__)
            raise
        finally:
            self._active = None
        if ticket.stop == "cancelled":
            ticket.error = "cancelled"
        ticket.done.set()

    def _stopper(self, ticket: QueryTicket | None = None) -> Callable[[], bool]:
        return lambda: self._closing or (ticket is not None and ticket.cancelled)

    def _pop_query_before(self, t: float, inclusive: bool):
        with self._lock:
            if self._queries and (self._queries[0][0] < t or (inclusive and self._queries[0][0] <= t)):
                return self._queries.pop(0)
        return None

    def _timed_reply(self, fn) -> None:
        self._reply_t0 = time.perf_counter()
        self._first_token_pending = True
        events = fn()
        self._first_token_pending = False
        self.stats.utterance_s.append(time.perf_counter() - self._reply_t0)
        resp = [e for e in events if isinstance(e, Response)]
        self.stats.utterance_tokens.append(len(resp[-1].token_ids) if resp else 0)

    def _step(self, frames: list[QueuedFrame]) -> list[QueuedFrame]:
        """Prefill `frames` in one forward and decide each; return the frames to feed again later."""
        s = self.session
        q = self._pop_query_before(frames[0].t, inclusive=False)   # queries earlier than the first frame
        if q is not None:
            self._answer(q[0], q[2])
            return frames
        batch: list[QueuedFrame] = []
        query_frame = False
        with self._lock:
            for f in frames:
                if self._queries and self._queries[0][0] < f.t:
                    break                                           # the query goes before this frame
                batch.append(f)
                if self._queries and self._queries[0][0] <= f.t:
                    query_frame = True                              # answered right after this frame
                    break
        if not batch:
            return frames
        ids, ends = self.protocol.frames_ids(s.state, len(batch))
        ids, ends = s.pending + ids, [e + len(s.pending) for e in ends]
        for f in batch:
            if f.ready_event is not None:                      # encoded on the vision stream
                torch.cuda.current_stream().wait_event(f.ready_event)
                f.tokens.record_stream(torch.cuda.current_stream())
        vision = torch.stack([f.tokens for f in batch])            # [F, 10, Dv]
        for f in batch:
            s.stamp_frame(f.t)
        logits = self.backend.prefill(ids, vision, ends)          # [F, vocab]
        self.stats.prefills += 1
        s.pending, s.state = [], StreamState.IN_RUN
        for i, f in enumerate(batch):
            s.frame_index += 1
            s.last_time = f.t
            skip = query_frame and i == len(batch) - 1
            p_silent, respond = decide(logits[i], self.cfg.threshold)   # host sync per frame
            self._record_decision(f, len(frames) - i - 1)
            if skip:
                s.emit(s.frame_event(s.frame_index, f.t, p_silent, None))
                while (q := self._pop_query_before(f.t, inclusive=True)) is not None:
                    self._answer(q[0], q[2])
                break
            s.emit(s.frame_event(s.frame_index, f.t, p_silent, "respond" if respond else "silent"))
            if respond:
                # Drop the speculative frames, counted from the END: a bounded-memory wrapper may have
                # evicted older entries after the prefill (it never evicts the newest chunk).
                self.backend.truncate(self.backend.length - (len(ids) - ends[i] - 1))
                self._timed_reply(lambda f=f, p=p_silent: s.reply(self.protocol.reply_prompt(),
                                                                  "proactive", f.t, p, self._stopper()))
                rest = frames[i + 1:]
                self.stats.frames_reprefilled += len(batch) - i - 1
                self.stats.midbatch_replies += i > 0
                return rest
        return frames[len(batch):]

    def _record_decision(self, f: QueuedFrame, depth: int) -> None:
        st = self.stats
        st.frames_decided += 1
        st.decision_latency_s.append(time.perf_counter() - f.t_in)
        st.queue_depth.append(depth)
        while len(st.decision_latency_s) > self.options.history:
            st.decision_latency_s.popleft()
            st.queue_depth.popleft()
