"""StreamHost: the one object the ROS node, `vstream run` and `vstream replay` drive.

    submit(frame, t, stamp) ─► stamp check (duplicates, out of order, bag loop → in-band reset)
        ─► model clock (resampled to the model fps by capture time; O(1), in the caller's thread, BEFORE decoding)
        ─► decode (only frames the model will see; bad payloads counted by reason, never raised)
        ─► engine.pipeline.StreamPipeline (vision worker ‖ LLM worker, catch-up prefill, lossless while talking)
        ─► events ─► OutputRouter (Narration chunks, narration_text, StepGuidance) ─► the sink

Live and replay differ only in where frames come from, where outputs go (the sink) and the pipeline options:
a live camera uses overflow "drop" (frames are dropped only under sustained overload: thinned, then oldest
first, each drop counted by reason); files and bags use `PipelineConfig.reproducible()` (never drop, outputs
independent of timing). Queries (`ask`) preempt between frames (t=None) or are ordered by capture time (t set);
the returned ticket streams chunks, carries the answer and its utterance id, and can be cancelled.

Observers (`HostObserver`: the overlay feed, the Foxglove/MCAP session, the ROS overlay publisher, a replay's
image writer) see what the host sees, one interface for all: `on_frame(t, rgb)` for each decoded frame the model
will decide on (submitting thread, before it is queued; None = no frames wanted) and `on_event(ev)` for every
engine event (model worker thread, after routing). Both must return at once.
Several cameras on one model: one StreamHost per camera, each given its `backend` (Engine.backends) and
`name`, all given one engine.scheduler.Scheduler.

Imports: stdlib, the engine (pipeline, events), vstream_ros.{interfaces, guidance, host.routing}. Never rclpy.
"""
from __future__ import annotations

import collections
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from vstream_ros.engine.config import StreamConfig
from vstream_ros.engine.events import FrameDecision
from vstream_ros.engine.pipeline import PipelineConfig, StreamPipeline
from vstream_ros.engine.pipeline_queue import QueryTicket
from vstream_ros.engine.scheduler import Scheduler
from vstream_ros.host.routing import OutputRouter
from vstream_ros.interfaces.image_codec import ImageDecodeError
from vstream_ros.interfaces.stamps import StampTracker

OK_VERDICTS = ("ok", "jump", "loop")


@dataclass(frozen=True)
class HostOptions:
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    frame_id: str = ""                 # output frame_id; empty = the camera's (set_frame_id)
    language: str = "en"
    loop_back_s: float = 1.0           # a stamp this far back restarts the stream (bag --loop)
    latency_window: int = 512          # recent decision latencies kept for diagnostics


class HostObserver(Protocol):
    """What watches a StreamHost (see the module docstring). `on_frame` may be None: no frames wanted."""

    on_frame: Callable[[float, Any], None] | None

    def on_event(self, event) -> None: ...


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split())[:200] or type(e).__name__


class StreamHost:
    """Frames in, outputs to `sink` (see host.routing). `engine` (host.build.Engine) gives the model (`.protocol`,
    `.vision`), the LLM backend and the stream settings. `now()`: seconds on the capture clock (ROS time) for
    Narration.latency_ms; None = compute time since the deciding frame was submitted. `log(level, msg)` gets
    problems met on the worker side (throttle it in the caller). `observers`: HostObserver objects (viewers,
    recorders: see the module docstring)."""

    def __init__(self, engine, sink=None, options: HostOptions | None = None, tracker=None, goal: str = "",
                 now: Callable[[], float] | None = None, log: Callable[[str, str], None] | None = None,
                 observers: tuple = (), backend=None,
                 scheduler: Scheduler | None = None, name: str = "u"):
        self.options = options or HostOptions()
        self.cfg: StreamConfig = engine.stream
        self.engine = engine
        self.name = name
        model, backend = engine.model, backend or engine.backend
        self.backend = backend
        self.tracker, self.goal = tracker, goal
        self.now, self.log = now, log or (lambda level, msg: None)
        self.observers = tuple(o for o in observers if o is not None)
        self._frame_hooks = tuple(o.on_frame for o in self.observers if o.on_frame is not None)
        self.stamps = StampTracker(loop_back_s=self.options.loop_back_s)
        self.router = OutputRouter(sink, frame_id=self.options.frame_id, language=self.options.language,
                                   tracker=tracker, latency_ms=self._latency_ms)
        self.counters: collections.Counter = collections.Counter()
        self.decode_errors: collections.Counter = collections.Counter()
        self.first_decode_error = ""
        self._submitted: collections.OrderedDict[float, float] = collections.OrderedDict()
        self._decision_ms: collections.deque = collections.deque(maxlen=self.options.latency_window)
        self._lock = threading.Lock()
        self.pipeline = StreamPipeline(backend, model.protocol, self.cfg, vision=model.vision,
                                       on_event=self._on_event, options=self.options.pipeline, start=False,
                                       on_error=self._on_error, on_reset=self._on_reset, name=name,
                                       scheduler=scheduler)
        self._intro()

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self.pipeline.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the workers (a reply in progress is cut short); queued frames wait for the next start()."""
        self.pipeline.close(timeout)

    @property
    def running(self) -> bool:
        return self.pipeline.running

    def finish(self, timeout: float | None = None) -> None:
        """End of input: decide every queued frame and answer the remaining timed queries."""
        self.pipeline.finish(timeout)
        self.pipeline.clear_events()

    # ------------------------------------------------------------------ inputs (any thread; never wait on the model
    # unless the pipeline's overflow is "block")
    def submit(self, frame, t: float, stamp: tuple[int, int] | None = None) -> str:
        """Offer a frame captured at t (seconds; `stamp` = its exact header stamp). `frame` is an RGB uint8
        array or a no-argument callable that decodes one (called only when the model clock wants the frame).
        Returns what happened: ok | jump | loop (accepted) | duplicate | out_of_order | off_grid | corrupt."""
        t = float(t)
        with self._lock:
            self.counters["frames_in"] += 1
            verdict = self.stamps.check(t, wall=time.monotonic())
            if not verdict.accept:
                self.counters[f"dropped_{verdict.kind}"] += 1
                return verdict.kind
            if verdict.restart:
                self.counters["stream_restarts"] += 1
                self.pipeline.request_reset()
            if not self.pipeline.wants(t):
                self.counters["off_grid"] += 1
                return "off_grid"
            if callable(frame):
                try:
                    frame = frame()
                except ImageDecodeError as e:
                    self.decode_errors[e.reason] += 1
                    self.first_decode_error = self.first_decode_error or str(e)
                    self.counters["corrupt"] += 1
                    self.log("warning", f"dropped frame at t={t:.3f}: {e}")
                    return "corrupt"
            self.router.remember(t, stamp)
            self._submitted[t] = time.perf_counter()
            for hook in self._frame_hooks:
                hook(t, frame)
            while len(self._submitted) > 4096:
                self._submitted.popitem(last=False)
        # outside the host lock: with overflow "block" this may wait for room
        if not self.pipeline.push(frame, t):
            with self._lock:
                self.counters["corrupt"] += 1
            return "corrupt"
        with self._lock:
            self.counters["frames_sampled"] += 1
        return verdict.kind

    def ask(self, text: str, t: float | None = None, on_chunk: Callable[[str], None] | None = None) -> QueryTicket:
        """A user query: t=None answers it next (between frames), else at capture time t. ValueError if empty."""
        ticket = self.pipeline.ask(text, t, on_chunk)
        with self._lock:
            self.counters["queries"] += 1
        return ticket

    def reset(self) -> None:
        """Forget the stream (a new session): frames already queued are decided first, in the old one."""
        with self._lock:
            self.stamps.reset()
            self.counters["resets_requested"] += 1
            self.pipeline.request_reset()

    def set_threshold(self, threshold: float) -> None:
        StreamConfig(fps=self.cfg.fps, threshold=threshold)       # validates (ValueError)
        self.pipeline.set_threshold(threshold)
        self.cfg = self.pipeline.cfg

    def set_frame_id(self, frame_id: str) -> None:
        if not self.options.frame_id:
            self.router.frame_id = frame_id

    # ------------------------------------------------------------------ worker side (LLM thread)
    def _on_event(self, ev) -> None:
        if isinstance(ev, FrameDecision):
            t_in = self._submitted.get(ev.time)
            if t_in is not None:
                self._decision_ms.append((time.perf_counter() - t_in) * 1e3)
        self.router.route(ev)
        for observer in self.observers:
            observer.on_event(ev)

    def _latency_ms(self, ev) -> float:
        if self.now is not None:
            return (self.now() - ev.time) * 1e3
        t_in = self._submitted.get(ev.time)
        return (time.perf_counter() - t_in) * 1e3 if t_in is not None else float("nan")

    def _on_reset(self) -> None:
        self.router.reset()
        self._intro()

    def _on_error(self, exc: BaseException) -> None:
        kind = "out of memory" if "out of memory" in str(exc).lower() else type(exc).__name__
        self.log("error", f"engine step failed ({kind}): {_one_line(exc)}; the stream was reset"
                 + (" — lower memory.budget_tokens or use a smaller dtype" if kind == "out of memory" else ""))
        self.router.reset()

    def _intro(self) -> None:
        """Assist mode: the goal is the user turn of every new stream (answered at once)."""
        if self.tracker is not None and self.goal:
            self.pipeline.ask(self.goal)

    # ------------------------------------------------------------------ reporting
    def stats(self) -> dict:
        """Counters of the host and the pipeline, one flat dict (run stats, replay sidecar; the node's /diagnostics
        keys are made from it by vstream_ros/interfaces/diagnostics.py)."""
        with self._lock:
            out = dict(self.counters)
            out.update({f"corrupt_{k}": v for k, v in self.decode_errors.items()})
            out["stamp_counts"] = dict(self.stamps.counts)
        ps = self.pipeline.stats.as_dict()
        out.update({k: v for k, v in ps.items() if k not in ("frames_in", "corrupt")})
        out["corrupt_frames"] = ps["corrupt"]
        out.update(self.router.counters)
        out["frames_lost"] = ps["dropped"] + ps["dropped_error"] + ps["corrupt"]
        lat = sorted(self._decision_ms)
        out["decision_latency_ms"] = lat[len(lat) // 2] if lat else math.nan
        out["decision_latency_p99_ms"] = lat[min(len(lat) - 1, int(0.99 * len(lat)))] if lat else math.nan
        capture, ready = self.pipeline.queued()
        out.update(queue_capture=capture, queue_ready=ready, queue_capacity=self.options.pipeline.max_backlog)
        out["cache_tokens"] = self.backend.length
        occupancy = self.backend.occupancy()
        if occupancy is not None:
            out.update({f"memory_{k}": v for k, v in occupancy.items()})
        return out


__all__ = ["HostObserver", "HostOptions", "StreamHost", "QueryTicket", "OK_VERDICTS"]
