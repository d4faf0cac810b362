"""How much of a stream went by before its first model frame: the /diagnostics key `frames_missed_at_start`.

The model clock keeps frames on a fixed grid of capture time (engine/frames.py FrameClock: slot = floor(t·fps)), so
a node that joins a stream late takes the same frames as `vstream replay` from its first frame on; what it never
saw is the stream before that frame. A node cannot know when a stream began, only the earliest stream time it
observed: the capture stamp of any frame its subscription received (also while inactive, or dropped), and, under
`use_sim_time`, the first /clock it received (a bag played with `--clock` publishes its time from the start of
playback; the node subscribes to it, with a deep queue, when configure begins, so it also sees the seconds the model
spent loading). `frames_missed_at_start` = the grid slots from that earliest time to the first model frame (before
the first model frame: to the latest frame received). It is a lower bound: what went by before the node was
configured is not counted. /clock counts only when it agrees with the stamps (the first /clock at or after the
first model frame's stamp is within CLOCK_AGREES_S of it), so a camera stamping in another time base is not
compared with the bag's clock; once that is judged the node drops its /clock subscription (`settled`).

Pure (no rclpy); the engine's FrameClock gives the grid. Never imports ROS or the model.
"""
from __future__ import annotations

import time

from vstream_ros.engine.frames import FrameClock

CLOCK_AGREES_S = 1.0


class StartGap:
    """Evidence of a stream's time before its first model frame, per camera (reset by making a new one)."""

    def __init__(self, fps: float):
        self.grid = FrameClock(fps)
        self.first_frame: float | None = None     # earliest capture time received before the first model frame
        self.last_frame: float | None = None
        self.first_clock: float | None = None     # first /clock received
        self.clock_ok: bool | None = None         # /clock on the stamps' time base? None: not known yet
        self.start: float | None = None           # capture time of the first model frame
        self.start_wall: float | None = None      # time.monotonic() when it came

    def frame(self, t: float, kept: bool) -> None:
        """A frame captured at t reached the camera's callback; `kept` = the model clock took it."""
        if self.start is None:
            self.first_frame = t if self.first_frame is None else min(self.first_frame, t)
            if kept:
                self.start, self.start_wall = t, time.monotonic()
        self.last_frame = t

    def clock(self, t: float) -> None:
        """A /clock message (sim time t), in the order received. The first one after the first model frame's
        stamp decides whether /clock counts: it must be within CLOCK_AGREES_S of that stamp."""
        if self.clock_ok is not None:
            return
        if self.first_clock is None:
            self.first_clock = t
        if self.start is not None and t >= self.start - CLOCK_AGREES_S:
            self.clock_ok = t <= self.start + CLOCK_AGREES_S and self.first_clock <= self.start

    def settled(self, give_up_s: float = 10.0) -> bool:
        """True once /clock is no longer needed: judged, or no agreeing /clock `give_up_s` after the first model
        frame (then it does not count)."""
        if self.clock_ok is None and self.start_wall is not None and time.monotonic() - self.start_wall > give_up_s:
            self.clock_ok = False
        return self.clock_ok is not None

    def missed(self) -> int:
        """Slots of the grid between the earliest stream time observed and the first model frame (see module)."""
        end = self.start if self.start is not None else self.last_frame
        begin = self.first_frame
        if self.clock_ok and self.first_clock is not None:
            begin = self.first_clock if begin is None else min(begin, self.first_clock)
        if begin is None or end is None:
            return 0
        return max(0, self.grid.slot(end) - self.grid.slot(begin))
