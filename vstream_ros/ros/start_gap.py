"""How much of a stream went by before its first model frame: the /diagnostics key `frames_missed_at_start`.

The model clock keeps frames on a fixed grid of capture time (engine/frames.py FrameClock: slot = floor(t·fps)), so
a node that joins a stream late takes the same frames as `vstream replay` from its first frame on; what it never
saw is the stream before that frame. A node cannot know when a stream began, only the earliest stream time it
observed: the capture stamp of any frame its subscription received (also while inactive, or dropped), and, under
`use_sim_time`, the first /clock it received (a bag played with `--clock` publishes its time from the start of
playback; the /clock subscription exists from the node's start, so it also sees the seconds the model spent
loading). `frames_missed_at_start` = the grid slots from that earliest time to the first model frame (before the
first model frame: to the latest frame received). It is a lower bound: what went by before the node existed is
not counted. /clock counts only while it agrees with the frames' stamps (latest /clock within CLOCK_AGREES_S of
the latest frame), so a camera stamping in another time base is not compared with the bag's clock.

Pure (no rclpy); the engine's FrameClock gives the grid. Never imports ROS or the model.
"""
from __future__ import annotations

from vstream_ros.engine.frames import FrameClock

CLOCK_AGREES_S = 1.0


class StartGap:
    """Evidence of a stream's time before its first model frame, per camera (reset by making a new one)."""

    def __init__(self, fps: float):
        self.grid = FrameClock(fps)
        self.first_frame: float | None = None     # earliest capture time received before the first model frame
        self.last_frame: float | None = None
        self.first_clock: float | None = None     # first /clock received before the first model frame
        self.last_clock: float | None = None
        self.start: float | None = None           # capture time of the first model frame

    def frame(self, t: float, kept: bool) -> None:
        """A frame captured at t reached the camera's callback; `kept` = the model clock took it."""
        if self.start is None:
            self.first_frame = t if self.first_frame is None else min(self.first_frame, t)
            if kept:
                self.start = t
        self.last_frame = t

    def clock(self, t: float) -> None:
        """A /clock message (sim time t) was received."""
        if self.start is None and self.first_clock is None:
            self.first_clock = t
        self.last_clock = t

    def missed(self) -> int:
        """Slots of the grid between the earliest stream time observed and the first model frame (see module)."""
        end = self.start if self.start is not None else self.last_frame
        begin = self.first_frame
        if (self.first_clock is not None and self.last_clock is not None and self.last_frame is not None
                and abs(self.last_clock - self.last_frame) <= CLOCK_AGREES_S):
            begin = self.first_clock if begin is None else min(begin, self.first_clock)
        if begin is None or end is None:
            return 0
        return max(0, self.grid.slot(end) - self.grid.slot(begin))
