"""The overlapped pipeline's queue items, backpressure policy and counters (engine.pipeline uses them).

- `QueuedFrame`: one sampled camera frame on its way through the capture and ready queues, or a reset
  marker (`marker="reset"`) that travels in order with the frames (a bag loop restarts the stream in-band).
- `QueryTicket`: one user query on its way to an answer: streamed text (`on_chunk`), the answer and its
  utterance id when `done` is set, `cancel()` from any thread.
- `apply_backpressure(queue, capacity, thin_fps)`: make room in a full queue without blocking the camera:
  first THIN the backlog to `thin_fps` (keep the newest frame of each 1/thin_fps slot of capture time), then,
  if still full, DROP THE OLDEST frames. Reset markers are never dropped. Returns the counts so every drop
  is reported.
- `PipelineStats`: frame, drop and reply counters plus bounded timing records (capture → decision, decision
  → first token, tokens/s, queue depth), summarised by `as_dict()` for `vstream bench` and the ROS node.

Imports: stdlib, torch (type only). Never ROS, never a model.
"""
from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass
class QueuedFrame:
    t: float                       # capture time (stream seconds)
    t_in: float                    # host perf_counter at push
    rgb: Any = None                # uint8 [H, W, 3] until encoded
    tokens: torch.Tensor | None = None   # [10, Dv] once encoded
    ready_event: Any = None        # CUDA event recorded on the vision stream
    t_enc: float = 0.0
    marker: str = ""               # "reset": not a frame; the stream restarts here


@dataclass(eq=False)
class QueryTicket:
    """A query handed to the pipeline. `done` is set once it is answered, cancelled or failed."""

    text: str
    t: float | None = None                          # None: answer now (preempts queued frames)
    on_chunk: Callable[[str], None] | None = None   # new text as it is decoded (LLM worker thread)
    answer: str = ""
    utterance_id: str = ""
    stop: str = ""                                  # eos | length | cancelled
    error: str = ""                                 # why there is no answer ("cancelled", "stream reset", …)
    evidence: tuple = ()                            # capture times the answer drew on (recalled memory)
    recall: object = None                           # a RecallConfig for this query (None: the stream's)
    done: threading.Event = field(default_factory=threading.Event)
    _cancelled: bool = False

    def cancel(self) -> None:
        """Ask for the query to be dropped (not started yet) or cut short (being answered)."""
        self._cancelled = True

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def fail(self, reason: str) -> None:
        self.error = reason
        self.done.set()


def apply_backpressure(queue: deque, capacity: int, thin_fps: float) -> tuple[int, int]:
    """Make room for one more frame in `queue` (oldest first). Returns (thinned, dropped_oldest).

    Step 1 thins to `thin_fps`, keeping the newest frame of each slot floor(t·thin_fps); step 2 drops
    the oldest frames until len(queue) < capacity.
    """
    if len(queue) < capacity:
        return 0, 0
    kept: list[QueuedFrame | None] = []
    slots: dict[tuple[int, int], int] = {}
    segment = 0                                       # timelines between reset markers are thinned apart
    for f in queue:
        if f.marker:
            segment += 1
            kept.append(f)
            continue
        key = (segment, math.floor(f.t * thin_fps))
        if key in slots:
            kept[slots[key]] = None                   # a newer frame of the same slot replaces it
        slots[key] = len(kept)
        kept.append(f)
    keep = [f for f in kept if f is not None]
    thinned = len(queue) - len(keep)
    dropped = 0
    while len(keep) >= capacity:
        oldest = next((i for i, f in enumerate(keep) if not f.marker), None)
        if oldest is None:
            break
        del keep[oldest]
        dropped += 1
    if thinned or dropped:
        queue.clear()
        queue.extend(keep)
    return thinned, dropped


@dataclass
class PipelineStats:
    frames_in: int = 0
    frames_skipped: int = 0        # off the model-fps grid
    frames_decided: int = 0
    frames_reprefilled: int = 0    # prefilled again after a mid-batch reply
    midbatch_replies: int = 0      # replies decided at a frame that was not first in its prefill
    dropped_thinned: int = 0
    dropped_oldest: int = 0
    max_queue_depth: int = 0
    corrupt: int = 0               # frames that could not be letterboxed/encoded (skipped)
    engine_errors: int = 0         # worker steps that failed (reported through on_error; stream reset)
    dropped_error: int = 0         # frames lost with a failed step
    resets: int = 0                # reset markers executed (stream restarts)
    last_error: str = ""
    prefills: int = 0
    decision_latency_s: deque = field(default_factory=deque)   # capture (push) → decision
    queue_depth: deque = field(default_factory=deque)          # ready frames at each decision
    first_token_s: list = field(default_factory=list)          # decision/query → first token
    utterance_s: list = field(default_factory=list)            # decision/query → final token
    utterance_tokens: list = field(default_factory=list)

    @property
    def dropped(self) -> int:
        return self.dropped_thinned + self.dropped_oldest

    def as_dict(self) -> dict:
        lat = sorted(self.decision_latency_s)
        tok = sum(self.utterance_tokens)
        dec_time = sum(self.utterance_s)

        def pct(q):
            return lat[min(len(lat) - 1, int(q * len(lat)))] if lat else float("nan")
        return {"frames_in": self.frames_in, "frames_skipped": self.frames_skipped,
                "frames_decided": self.frames_decided, "frames_reprefilled": self.frames_reprefilled,
                "midbatch_replies": self.midbatch_replies,
                "dropped": self.dropped, "dropped_thinned": self.dropped_thinned,
                "dropped_oldest": self.dropped_oldest, "max_queue_depth": self.max_queue_depth,
                "corrupt": self.corrupt, "engine_errors": self.engine_errors,
                "dropped_error": self.dropped_error, "resets": self.resets,
                "prefills": self.prefills, "decision_p50_s": pct(0.5), "decision_p99_s": pct(0.99),
                "replies": len(self.utterance_s),
                "first_token_p50_s": sorted(self.first_token_s)[len(self.first_token_s) // 2]
                if self.first_token_s else float("nan"),
                "decode_tok_s": tok / dec_time if dec_time > 0 else float("nan")}
