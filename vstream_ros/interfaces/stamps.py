"""Capture-stamp sanity for live image streams: duplicates, out-of-order frames, forward jumps, bag loops, stalls.

`StampTracker.check(t)` classifies each capture time (seconds) against the previous accepted one and says whether
to feed the frame and whether the stream restarted (a bag loop or a clock reset → the session must be reset).
Pure logic: stdlib only; must not import rclpy, numpy or the engine.
"""
from __future__ import annotations

from dataclasses import dataclass, field

OK, DUPLICATE, OUT_OF_ORDER, JUMP, LOOP = "ok", "duplicate", "out_of_order", "jump", "loop"


@dataclass(frozen=True)
class StampVerdict:
    kind: str          # ok | duplicate | out_of_order | jump | loop
    accept: bool       # feed this frame to the engine
    restart: bool      # the timeline restarted: reset the session before feeding


@dataclass
class StampTracker:
    """Classify capture stamps. `loop_back_s`: a backwards step at least this large is a restart (bag loop,
    sim clock reset), smaller ones are out-of-order frames and dropped. `max_gap_s`: a forward step larger than
    this is a jump (counted, accepted). `stall_s`: no frame for this long (wall clock) is a stall."""

    loop_back_s: float = 1.0
    max_gap_s: float = 5.0
    stall_s: float = 2.0
    last: float | None = None
    last_wall: float | None = None
    counts: dict = field(default_factory=lambda: {OK: 0, DUPLICATE: 0, OUT_OF_ORDER: 0, JUMP: 0, LOOP: 0})

    def __post_init__(self):
        if self.loop_back_s <= 0 or self.max_gap_s <= 0 or self.stall_s <= 0:
            raise ValueError("loop_back_s, max_gap_s and stall_s must be positive")

    def check(self, t: float, wall: float | None = None) -> StampVerdict:
        if t != t or t in (float("inf"), float("-inf")):
            self.counts[OUT_OF_ORDER] += 1
            return StampVerdict(OUT_OF_ORDER, False, False)
        if wall is not None:
            self.last_wall = wall
        if self.last is None:
            return self._take(t, OK, False)
        dt = t - self.last
        if dt == 0:
            self.counts[DUPLICATE] += 1
            return StampVerdict(DUPLICATE, False, False)
        if dt < 0:
            if -dt >= self.loop_back_s:
                return self._take(t, LOOP, True)
            self.counts[OUT_OF_ORDER] += 1
            return StampVerdict(OUT_OF_ORDER, False, False)
        if dt > self.max_gap_s:
            return self._take(t, JUMP, False)
        return self._take(t, OK, False)

    def _take(self, t: float, kind: str, restart: bool) -> StampVerdict:
        self.last = t
        self.counts[kind] += 1
        return StampVerdict(kind, True, restart)

    def stalled(self, wall_now: float) -> bool:
        """True when frames have been seen but none for `stall_s` of wall time."""
        return self.last_wall is not None and wall_now - self.last_wall > self.stall_s

    def reset(self) -> None:
        self.last = None
        self.last_wall = None


def stamp_to_sec(sec: int, nanosec: int) -> float:
    return int(sec) + int(nanosec) * 1e-9


def sec_to_stamp(t: float) -> tuple[int, int]:
    """Seconds → (sec, nanosec) with nanosec in [0, 1e9), robust to float rounding."""
    ns = int(round(t * 1e9))
    return ns // 1_000_000_000, ns % 1_000_000_000


class StampBook:
    """Remembers the exact (sec, nanosec) header stamp of recent frames by their float capture time, so outputs carry
    the camera's stamp bit-exactly (a float64 of ~1.7e9 s only resolves ~240 ns). Bounded to `capacity` entries."""

    def __init__(self, capacity: int = 256):
        self.capacity = capacity
        self._book: dict[float, tuple[int, int]] = {}

    def remember(self, t: float, sec: int, nanosec: int) -> None:
        self._book[t] = (int(sec), int(nanosec))
        while len(self._book) > self.capacity:
            self._book.pop(next(iter(self._book)))

    def stamp(self, t: float) -> tuple[int, int]:
        hit = self._book.get(t)
        return hit if hit is not None else sec_to_stamp(t)

    def clear(self) -> None:
        self._book.clear()
