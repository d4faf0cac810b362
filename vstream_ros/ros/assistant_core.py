"""The assistant's ROS-free core: frame hand-off ring, the inference worker thread, and event → message-field routing.

The image callback calls `submit()` (decode already done; O(1), never blocks on the model); the worker thread pops
frames and runs `runner.push(rgb, t)`; engine events arrive through `on_event` (chunks stream while decoding) and are
turned into field dicts by `NarrationBuilder` and handed to the `sink` (the node publishes them). Queries, asks,
threshold changes and resets are commands executed by the worker between frames, so the runner is only ever
touched by one thread.

Imports: stdlib + vstream_ros.{engine.events, interfaces, guidance}. Must not import rclpy.
"""
from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from vstream_ros.engine.events import FrameDecision, Response, UtteranceChunk
from vstream_ros.guidance import StepTracker
from vstream_ros.interfaces.narration import NarrationBuilder, step_guidance
from vstream_ros.interfaces.stamps import StampBook, StampTracker


@dataclass
class Command:
    kind: str                          # query | ask | reset | threshold
    arg: object = None
    on_chunk: Callable[[str], None] | None = None
    done: threading.Event = field(default_factory=threading.Event)
    result: str = ""
    error: str = ""


class AssistantCore:
    """`sink` needs publish_narration(fields), publish_text(str), publish_guidance(fields), log_worker(level, msg).
    `now` returns seconds on the same clock as capture stamps (ROS time; sim time when replaying) for latency."""

    def __init__(self, runner_factory, sink, ring_size: int = 2, frame_id: str = "", language: str = "en",
                 tracker: StepTracker | None = None, goal: str = "", now: Callable[[], float] = time.time):
        self.sink = sink
        self.now = now
        self.ring: collections.deque = collections.deque(maxlen=max(1, int(ring_size)))
        self.commands: collections.deque[Command] = collections.deque()
        self.cv = threading.Condition()
        self.stamps = StampTracker()
        self.book = StampBook()
        self.builder = NarrationBuilder(frame_id=frame_id, language=language, stamps=self.book)
        self.tracker = tracker
        self.goal = goal
        self.frame_id = frame_id
        self.counters = collections.Counter()
        self.decision_ms = float("nan")
        self.window_start: float | None = None
        self.frames_in_window = 0
        self._ask: Command | None = None
        self._stop = False
        self._thread: threading.Thread | None = None
        self.runner = runner_factory(self._on_event)
        self._intro()

    # ------------------------------------------------------------------ called from ROS callbacks
    def submit(self, rgb, stamp: tuple[int, int], t: float) -> str:
        """Hand a decoded frame to the worker. Returns the stamp verdict kind ('ok', 'loop', 'out_of_order', …)."""
        verdict = self.stamps.check(t, wall=time.monotonic())
        if not verdict.accept:
            self.counters[f"dropped_{verdict.kind}"] += 1
            return verdict.kind
        with self.cv:
            if verdict.restart:
                self.ring.clear()
                self.commands.append(Command("reset", "loop"))
            if len(self.ring) == self.ring.maxlen:
                self.counters["dropped_ring"] += 1       # the worker is behind: oldest frame goes
            self.ring.append((rgb, stamp, t))
            self.counters["frames_in"] += 1
            self.cv.notify()
        return verdict.kind

    def command(self, kind: str, arg=None, on_chunk=None) -> Command:
        cmd = Command(kind, arg, on_chunk)
        with self.cv:
            self.commands.append(cmd)
            self.cv.notify()
        return cmd

    # ------------------------------------------------------------------ worker
    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop = False
        self._thread = threading.Thread(target=self._loop, name="vstream-worker", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        with self.cv:
            self._stop = True
            self.cv.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def step(self) -> bool:
        """Do one unit of work (a command, else a frame) on the calling thread; False when idle. The worker thread
        loops on this; tests may call it directly for deterministic runs."""
        with self.cv:
            cmd = self.commands.popleft() if self.commands else None
            item = self.ring.popleft() if cmd is None and self.ring else None
        if cmd is not None:
            self._run_command(cmd)
            return True
        if item is None:
            return False
        rgb, stamp, t = item
        self.book.remember(t, *stamp)
        t0 = time.perf_counter()
        try:
            self.runner.push(rgb, t)
        except Exception as e:  # noqa: BLE001 - a bad frame must never kill the worker
            self.counters["engine_errors"] += 1
            self.sink.log_worker("error", f"engine failed on frame t={t:.3f}: {' '.join(str(e).split())[:200]}")
        self.decision_ms = (time.perf_counter() - t0) * 1000.0
        self.counters["frames_processed"] += 1
        return True

    def _loop(self) -> None:
        while True:
            with self.cv:
                while not self._stop and not self.ring and not self.commands:
                    self.cv.wait(0.5)
                if self._stop:
                    break
            self.step()
        with self.cv:                                    # release anyone waiting on an ask
            pending, self.commands = list(self.commands), collections.deque()
        for cmd in pending:
            cmd.error = "assistant stopped"
            cmd.done.set()

    def _run_command(self, cmd: Command) -> None:
        try:
            if cmd.kind == "reset":
                self.runner.reset()
                self.builder.reset()
                self.window_start, self.frames_in_window = None, 0
                if cmd.arg != "loop":
                    with self.cv:
                        self.ring.clear()
                    self.stamps.reset()
                else:
                    self.counters["stream_restarts"] += 1
                if self.tracker is not None:
                    self.tracker.reset()
                self._intro()
            elif cmd.kind == "threshold":
                self.runner.set_threshold(float(cmd.arg))
            elif cmd.kind in ("query", "ask"):
                self._ask = cmd
                try:
                    self.runner.ask(str(cmd.arg))
                finally:
                    self._ask = None
            else:
                raise ValueError(f"unknown command {cmd.kind!r}")
        except Exception as e:  # noqa: BLE001
            cmd.error = " ".join(str(e).split())[:300] or type(e).__name__
            self.sink.log_worker("error", f"{cmd.kind} failed: {cmd.error}")
        finally:
            cmd.done.set()

    def _intro(self) -> None:
        """Assist mode: give the goal to the model as the user turn (answered at once, published as guidance)."""
        if self.tracker is not None and self.goal:
            self.command("query", self.goal)

    # ------------------------------------------------------------------ engine events (worker thread)
    def _on_event(self, ev) -> None:
        if isinstance(ev, FrameDecision):
            if self.window_start is None:
                self.window_start = ev.time
            self.frames_in_window = int(ev.extra.get("frames_in_window", self.frames_in_window + 1))
            self.counters["decisions"] += 1
            if ev.decision == "respond":
                self.counters["responses"] += 1
        t = getattr(ev, "time", None)
        latency = (self.now() - t) * 1000.0 if isinstance(ev, (UtteranceChunk, Response)) else float("nan")
        for fields in self.builder.narrations(ev, latency, self.frames_in_window, self.window_start):
            self.sink.publish_narration(fields)
            if self._ask is not None and self._ask.on_chunk is not None and fields["text"]:
                self._ask.on_chunk(fields["text"])
        if isinstance(ev, Response):
            if self._ask is not None:
                self._ask.result = ev.text
            for u in self.builder.completed():
                self.sink.publish_text(u.text)
                self.counters["utterances"] += 1
                if self.tracker is not None and ev.trigger == "proactive":
                    upd = self.tracker.update(u.text, u.utterance_id)
                    self.sink.publish_guidance(step_guidance(upd, self.book.stamp(u.time), self.frame_id))

    def diagnostics(self) -> dict:
        """Key/values for /diagnostics (strings)."""
        stats = getattr(self.runner, "stats", None)
        stats = stats.as_dict() if hasattr(stats, "as_dict") else dict(stats or {})
        out = {k: str(v) for k, v in sorted(self.counters.items())}
        out.update({f"engine_{k}": str(v) for k, v in stats.items() if k != "last_error"})
        out["stamp_counts"] = ",".join(f"{k}={v}" for k, v in self.stamps.counts.items())
        out["decision_latency_ms"] = f"{self.decision_ms:.1f}"
        out["ring_occupancy"] = f"{len(self.ring)}/{self.ring.maxlen}"
        backend = getattr(getattr(self.runner, "session", None), "backend", None)
        if backend is not None and hasattr(backend, "length"):
            out["cache_tokens"] = str(backend.length)
        if backend is not None and hasattr(backend, "occupancy"):
            out.update({f"memory_{k}": str(v) for k, v in backend.occupancy().items()})
        return out
