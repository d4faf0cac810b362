"""Scheduler: several streams served by ONE model on one worker thread.

Each step the worker asks every member stream (a StreamPipeline) for work: `member.next_work()` returns a
decision-routine generator (engine/decision.py: a "now" query first, else a reset, else a catch-up prefill of
the ready frames, else the end-of-stream flush) or None. Every active routine has exactly one pending model
request (a frame prefill or one reply token); the step runs all of them together — in ONE forward when the
members' backends share a batch runner (engine/llm_backend.run_steps; RuntimeBackend.streams), one by one
otherwise — and sends each routine its logits. So frame prefills are batched across streams, reply decodes are
batched across streams, and a stream that talks holds the others back by at most one step (one token).

Catch-up prefills share one budget per step: each member takes at most `frames_per_step // members` ready frames
(at least 1; default budget 32 = one stream's own `max_prefill_frames`), so a step of N streams prefills about as
many frames as one stream alone would, and a reply mid-batch crops (and re-prefills) fewer speculative frames
(bench/RESULTS.md "Many streams, one model" measures it).

Members: `backend`, `next_work(max_frames) -> generator | None`, `work_done(result)`, `work_failed(exc)`. A member
that needs the worker (frames or queries arrived) calls `wake()`.

Imports: stdlib and engine.llm_backend. Never ROS.
"""
from __future__ import annotations

import threading

from .llm_backend import run_steps


class Scheduler:
    """The model's worker thread. Start/stop follow membership: `add` starts it, `stop` ends it."""

    def __init__(self, name: str = "vstream-llm", frames_per_step: int = 32):
        if frames_per_step < 1:
            raise ValueError(f"frames_per_step must be >= 1, got {frames_per_step}")
        self.name = name
        self.frames_per_step = frames_per_step
        self._members: list = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._stop = False
        self.steps = 0              # model steps run
        self.requests = 0           # routine requests served (requests / steps = mean batch)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def add(self, member) -> None:
        with self._lock:
            if member not in self._members:
                self._members.append(member)
            if not self.alive:
                self._stop = False
                self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
                self._thread.start()
        self.wake()

    def remove(self, member) -> None:
        with self._lock:
            if member in self._members:
                self._members.remove(member)

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float | None = 10.0) -> None:
        """End the worker once the routines in progress are done (their members cut replies short when closing)."""
        with self._lock:
            self._stop = True
        self.wake()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    # ------------------------------------------------------------------ the worker
    def _loop(self) -> None:
        active: dict = {}                                     # member -> (routine, its pending request)
        while True:
            self._wake.clear()
            with self._lock:
                members, stop = list(self._members), self._stop
            if not stop:
                share = max(1, self.frames_per_step // max(1, len(members)))
                for m in members:
                    if m not in active:
                        gen = m.next_work(share)
                        if gen is not None:
                            self._advance(active, m, gen, None, first=True)
            if not active:
                if stop:
                    return
                self._wake.wait(0.5)
                continue
            items = list(active.items())
            try:
                results = run_steps([m.backend for m, _ in items], [req for _, (_, req) in items])
            except Exception as exc:  # noqa: BLE001 - the model failed: every routine of the step fails with it
                for m, (gen, _) in items:
                    del active[m]
                    gen.close()
                    m.work_failed(exc)
                continue
            self.steps += 1
            self.requests += len(items)
            for (m, (gen, _)), logits in zip(items, results):
                self._advance(active, m, gen, logits)

    @staticmethod
    def _advance(active: dict, member, gen, value, first: bool = False) -> None:
        try:
            active[member] = (gen, next(gen) if first else gen.send(value))
        except StopIteration as done:
            active.pop(member, None)
            member.work_done(done.value)
        except Exception as exc:  # noqa: BLE001 - this stream's routine failed; the member reports it
            active.pop(member, None)
            member.work_failed(exc)
