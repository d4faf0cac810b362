"""StreamPipeline: the overlapped loop of one stream (camera → vision → LLM), the engine of the stream host.

    camera thread ──push(rgb, t)──► FrameClock ─► capture queue (bounded) ─► vision worker (micro-batches,
    own CUDA stream) ─► ready queue (bounded) ─► Scheduler (engine/scheduler.py, the model's worker, shared by
    every stream of one model): queries first, then ONE prefill of the ready frames with logits at every
    frame's last `<v>`; the first "respond" frame crops the cache right after itself, the reply is decoded
    (chunks stream out through `on_event`), the frames after it go back to the head of the ready queue and
    are re-prefilled (none lost, none seen twice).

Several pipelines passed one `scheduler` (and backends from `RuntimeBackend.streams`) are several streams on
one model: their prefills and reply tokens run batched, one step at a time. Alone, a pipeline makes its own.
The per-frame work is the decision routine (engine/decision.py), the same code StreamSession runs: with nothing
dropped the events equal StreamSession's; only p_silent may differ by float rounding (batched forwards).

Queries: `ask(text, t)` is ordered by capture time exactly like the session; `ask(text)` (t=None)
preempts: it is answered before any queued frame, at the time of the last decided frame. Both return a
`QueryTicket` (streamed chunks, answer, utterance id, `cancel()`).

`request_reset()` restarts the stream in-band: the frames queued before it are decided in the old stream,
those pushed after it start a new one (a bag loop never loses or mixes frames).

Overflow (`PipelineConfig.overflow`): "drop" (live cameras; the camera side never blocks): a full queue first
THINS its backlog to `thin_fps`, then DROPS THE OLDEST frames (engine.pipeline_queue.apply_backpressure), each
drop counted in `stats`; "block" (files, bags): `push` waits for room, nothing is ever dropped.
`PipelineConfig.reproducible()` also feeds the LLM one frame per prefill and the vision tower one frame per
batch, so the outputs depend only on the input, never on timing (replay, `vstream run`).

Imports: numpy, torch, engine modules. Never ROS.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import torch

from .config import StreamConfig
from .events import Event, UtteranceChunk
from .frames import FrameClock, FrameError
from .pipeline_llm import LLMWork, PipelineCounters
from .pipeline_queue import PipelineStats, QueuedFrame, QueryTicket, apply_backpressure
from .scheduler import Scheduler
from .stream import Stream
from .vision import encode_frames

OVERFLOW = ("drop", "block")


@dataclass(frozen=True)
class PipelineConfig:
    max_backlog: int = 32          # frames per queue (capture and ready) before backpressure applies
    thin_fps: float = 1.0          # first backpressure step: thin the backlog to this fps
    vision_batch: int = 4          # frames per vision micro-batch
    max_prefill_frames: int = 32   # frames per catch-up prefill
    history: int = 4096            # per-frame timing records kept (bounded)
    overflow: str = "drop"         # drop (live) | block (files, bags: never drop)

    def __post_init__(self):
        if self.max_backlog < 2 or self.vision_batch < 1 or self.max_prefill_frames < 1 or self.history < 1:
            raise ValueError("max_backlog >= 2, vision_batch, max_prefill_frames and history >= 1 are required")
        if not self.thin_fps > 0:
            raise ValueError(f"thin_fps must be > 0, got {self.thin_fps}")
        if self.overflow not in OVERFLOW:
            raise ValueError(f"overflow must be one of {', '.join(OVERFLOW)}, got {self.overflow!r}")

    @classmethod
    def reproducible(cls, **kw) -> PipelineConfig:
        """Never drop, one frame per vision batch and per prefill: outputs independent of timing."""
        return cls(**{"vision_batch": 1, "max_prefill_frames": 1, "overflow": "block", **kw})


class StreamPipeline(LLMWork):
    """Overlapped stream over a backend. `push`/`push_tokens`/`ask`/`request_reset` are safe from any thread.

    name: the stream's name (utterance ids are `name-N`). scheduler: the model's worker shared with other
    streams (None = a private one).
    on_error: None = a worker failure stops the pipeline and is raised by `finish()`; else it is called with
    the exception (model worker thread), the failed step's frames are counted in `stats.dropped_error`, the
    stream is reset and the workers go on (a long-running node never dies on one bad step).
    on_reset: called on the model worker thread when a reset marker is executed (after the stream reset)."""

    def __init__(self, backend, protocol, cfg: StreamConfig | None = None, vision=None,
                 on_event: Callable[[Event], None] | None = None, options: PipelineConfig | None = None,
                 name: str = "u", start: bool = True,
                 on_error: Callable[[BaseException], None] | None = None, on_reset: Callable[[], None] | None = None,
                 scheduler: Scheduler | None = None):
        self.options = options or PipelineConfig()
        self.vision = vision
        self.user_on_event = on_event
        self.on_error, self.on_reset = on_error, on_reset
        self.stream = Stream(backend, protocol, cfg, name=name, on_event=self._on_event,
                             observer=PipelineCounters(self))
        self.stream.should_stop = lambda: self._closing
        self.backend = backend
        self.protocol = protocol
        self.clock = FrameClock(self.stream.cfg.fps)
        self.stats = PipelineStats()
        self.scheduler = scheduler or Scheduler()
        self._own_scheduler = scheduler is None
        self._lock = threading.Condition()
        self._capture: deque[QueuedFrame] = deque()
        self._ready: deque[QueuedFrame] = deque()
        self._events: list[Event] = []
        self._encoding = 0            # frames taken by the vision worker, not yet in _ready
        self._busy = False            # the scheduler runs a routine of this stream
        self._taken: list[QueuedFrame] = []   # the frames of that routine
        self._flush = False           # finish(): answer the timed queries once every frame is decided
        self._closing = False
        self._error: BaseException | None = None
        self._threads: list[threading.Thread] = []
        if start:
            self.start()

    @property
    def cfg(self) -> StreamConfig:
        return self.stream.cfg

    def start(self) -> None:
        """Start the workers (construct with start=False to queue frames first, e.g. in tests). After `close()`
        it starts fresh workers on the same stream (never a second set: old ones are joined first)."""
        if any(th.is_alive() for th in self._threads) and not self._closing:
            return
        for th in self._threads:
            th.join()
        with self._lock:
            self._closing = False
        self._threads = [threading.Thread(target=self._guard(self._vision_loop), name="vstream-vision", daemon=True)]
        for th in self._threads:
            th.start()
        self.scheduler.add(self)

    @property
    def running(self) -> bool:
        return any(th.is_alive() for th in self._threads) and self.scheduler.alive

    # ------------------------------------------------------------------ camera / user side
    def wants(self, t: float) -> bool:
        """Would a frame captured at t be taken by the model clock? (check before paying for decoding)."""
        with self._lock:
            return self.clock.would_accept(float(t))

    def push(self, rgb, t: float) -> bool:
        """Offer an RGB uint8 frame [H, W, 3] captured at t. With overflow "drop" it never blocks on the model.

        False when the frame clock skips it or it is malformed (counted in stats.corrupt, never raised)."""
        shape, dtype = getattr(rgb, "shape", ()), str(getattr(rgb, "dtype", ""))
        if len(shape) != 3 or shape[2] != 3 or min(shape) <= 0 or dtype not in ("uint8", "torch.uint8"):
            with self._lock:
                self.stats.frames_in += 1
                self.stats.corrupt += 1
                self.stats.last_error = f"expected an RGB uint8 frame [H, W, 3], got {tuple(shape)} {dtype}"
            return False
        return self._enqueue(QueuedFrame(float(t), time.perf_counter(), rgb=rgb))

    def push_tokens(self, tokens: torch.Tensor, t: float) -> bool:
        """Offer already-encoded vision tokens [10, Dv] (tests, benchmarks, feature replay)."""
        n = self.protocol.frame_tokens
        if tokens.ndim != 2 or tokens.shape[0] != n:
            raise ValueError(f"expected vision tokens [{n}, D], got {tuple(tokens.shape)}")
        return self._enqueue(QueuedFrame(float(t), time.perf_counter(), tokens=tokens))

    def ask(self, text: str, t: float | None = None, on_chunk: Callable[[str], None] | None = None) -> QueryTicket:
        text = text.strip()
        if not text:
            raise ValueError("a query needs some text")
        ticket = QueryTicket(text, None if t is None else float(t), on_chunk)
        self.stream.add_query(ticket)
        with self._lock:
            self._lock.notify_all()
        self.scheduler.wake()
        return ticket

    def set_threshold(self, threshold: float) -> None:
        """Change θ for the next decisions (any thread)."""
        self.stream.set_threshold(float(threshold))

    def request_reset(self) -> None:
        """Restart the stream in-band (see the module docstring); returns at once."""
        with self._lock:
            self.clock.reset()
            self._capture.append(QueuedFrame(float("nan"), time.perf_counter(), marker="reset"))
            self._lock.notify_all()

    def finish(self, timeout: float | None = None) -> list[Event]:
        """Wait until every queued frame is decided, answer the remaining timed queries, return all events."""
        self.start()
        with self._lock:
            self._flush = True
        self.scheduler.wake()
        with self._lock:
            done = self._lock.wait_for(lambda: self._error is not None or (self._idle() and not self._flush), timeout)
            if self._error is not None:
                raise RuntimeError(f"pipeline worker failed: {self._error}") from self._error
            if not done:
                raise TimeoutError("pipeline did not drain in time")
        return self.events()

    def reset(self, timeout: float | None = None) -> None:
        """Start a new stream: drain the current one (see finish), then clear cache, queues, clock and stats."""
        self.finish(timeout)
        with self._lock:
            self.stream.reset()
            self.clock.reset()
            self._events.clear()
            self.stats = PipelineStats()

    def events(self, chunks: bool = False) -> list[Event]:
        with self._lock:
            return [e for e in self._events if chunks or not isinstance(e, UtteranceChunk)]

    def clear_events(self) -> None:
        """Forget the kept events (a long-running host reads them through on_event instead)."""
        with self._lock:
            self._events.clear()

    def queued(self) -> tuple[int, int]:
        """(frames waiting for the vision tower, encoded frames waiting for the LLM)."""
        with self._lock:
            return len(self._capture) + self._encoding, len(self._ready)

    def close(self, timeout: float = 10.0) -> None:
        """Stop the workers (a reply being decoded is cut short); queued frames stay for a later start()."""
        with self._lock:
            self._closing = True
            self._lock.notify_all()
        self.scheduler.wake()
        for th in self._threads:
            th.join(timeout=timeout)
        with self._lock:
            self._lock.wait_for(lambda: not self._busy, timeout)
        self.scheduler.remove(self)
        if self._own_scheduler:
            self.scheduler.stop(timeout)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ------------------------------------------------------------------ internals
    def _idle(self) -> bool:
        return not (self._capture or self._ready or self._encoding or self._busy or self.stream.has_now_query)

    def _guard(self, loop):
        def run():
            try:
                loop()
            except BaseException as exc:  # noqa: BLE001 - any worker failure is surfaced by finish()
                with self._lock:
                    self._error = exc
                    self._lock.notify_all()
        return run

    def _on_event(self, event: Event) -> None:
        with self._lock:
            self._events.append(event)
        if self.user_on_event is not None:
            self.user_on_event(event)

    def _enqueue(self, frame: QueuedFrame) -> bool:
        with self._lock:
            self.stats.frames_in += 1
            if not self.clock.accept(frame.t):
                self.stats.frames_skipped += 1
                return False
            self._wait_room(self._capture)
            self._capture.append(frame)
            self._lock.notify_all()
        return True

    def _wait_room(self, queue: deque) -> None:
        """Under the lock: make room in `queue` by the overflow policy."""
        if self.options.overflow == "block":
            if self.running:
                self._lock.wait_for(lambda: len(queue) < self.options.max_backlog or self._closing
                                    or self._error is not None)
            return
        thinned, dropped = apply_backpressure(queue, self.options.max_backlog, self.options.thin_fps)
        self.stats.dropped_thinned += thinned
        self.stats.dropped_oldest += dropped

    def _vision_loop(self) -> None:
        stream = torch.cuda.Stream() if (self.vision is not None and torch.cuda.is_available()
                                         and str(getattr(self.vision, "device", "cpu")).startswith("cuda")) else None
        while True:
            with self._lock:
                self._lock.wait_for(lambda: self._capture or self._closing)
                if self._closing:
                    return
                batch: list[QueuedFrame] = []
                while self._capture and len(batch) < self.options.vision_batch:
                    if self._capture[0].marker and batch:
                        break                                    # a marker travels alone, in order
                    batch.append(self._capture.popleft())
                    if batch[-1].marker:
                        break
                self._encoding = len(batch)
                self._lock.notify_all()
            todo = [f for f in batch if f.tokens is None and not f.marker]
            if todo:
                try:
                    self._encode(todo, stream)
                except Exception as exc:  # noqa: BLE001 - the model failed (OOM, kernel), not the frames
                    if self.on_error is None:
                        raise
                    with self._lock:
                        self.stats.engine_errors += 1
                        self.stats.dropped_error += len(todo)
                        self.stats.last_error = " ".join(str(exc).split())[:200]
                    self.on_error(exc)
                batch = [f for f in batch if f.tokens is not None or f.marker]
            with self._lock:
                for f in batch:
                    f.t_enc = time.perf_counter()
                    self._wait_room(self._ready)
                    self._ready.append(f)
                self._encoding = 0
                self.stats.max_queue_depth = max(self.stats.max_queue_depth, len(self._ready))
                self._lock.notify_all()
            self.scheduler.wake()

    def _encode(self, frames: list[QueuedFrame], stream) -> None:
        if self.vision is None:
            raise ValueError("raw frames were pushed but the pipeline has no vision encoder")

        def bad(i: int, e: FrameError) -> None:              # this frame only: counted, skipped, the batch goes on
            with self._lock:
                self.stats.corrupt += 1
                self.stats.last_error = " ".join(str(e).split())[:200]
            frames[i].rgb = None
        if stream is not None:
            with torch.cuda.stream(stream):
                tokens = encode_frames(self.vision, [f.rgb for f in frames], on_bad=bad)
                done = torch.cuda.Event()
                done.record(stream)
        else:
            tokens, done = encode_frames(self.vision, [f.rgb for f in frames], on_bad=bad), None
        for f, tok in zip([f for f in frames if f.rgb is not None], tokens):
            f.tokens, f.rgb, f.ready_event = tok, None, done
