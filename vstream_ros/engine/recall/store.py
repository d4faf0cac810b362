"""`RecallStore`: one stream's past in host RAM — the vision tokens of every frame fed to the model, with its capture
stamp, in a ring bounded by `RecallConfig.hours`, and the timestamped text log (narrations, answers). Times shown
to the model and named in questions count from `origin` (the stream's first frame unless given). With
`RecallConfig.disk` (a folder) the tokens go to a file there instead (recall/spill.py) and RAM keeps only the
stamps: the same frames come back, bit for bit.

A frame's tokens are kept exactly as they were fed (same tensor values and dtype, moved to the CPU), so a
recalled frame is the frame the model saw. Bytes per hour = fps × 3600 × frame_tokens × width × dtype size
(`bytes_per_hour`); e.g. the demo model (10 × 64 float32) 18 MB/h at 2 fps, SigLIP-L (10 × 1024 bf16) 147 MB/h.

Imports: stdlib, torch, engine.config, recall.spill. Never ROS.
"""
from __future__ import annotations

import bisect
from collections import deque
from dataclasses import dataclass

import torch

from ..config import RECALL_CONTEXTS, RECALL_METHODS
from .spill import DiskRing


@dataclass(frozen=True)
class RecallConfig:
    """hours: how far back frames are kept (the ring holds hours × 3600 × fps frames; the text log is kept whole);
    method: how the past is chosen (engine.recall.retrieve.METHODS); window_s: seconds of frames kept around a
    recalled moment (before, after); frames_per_s: frames per second of recalled video; max_tokens: the most
    cache positions a recall may add before the question (it must fit the cache's answer headroom);
    recent_frames: how many of the last frames method `recent` gives; context: what the answer sees before the
    recalled memory, "cache" (the whole bounded cache) or "first_frame" (the cache cut after its first frame, as
    the demo model's question stage was trained: config/train/demo_qa_clock.yaml); disk: a folder to keep the
    frames' tokens in instead of RAM ("" = RAM)."""

    hours: float = 4.0
    method: str = "log"
    window_s: tuple[float, float] = (3.0, 3.0)
    frames_per_s: float = 1.0
    max_tokens: int = 1024
    recent_frames: int = 4
    context: str = "cache"
    disk: str = ""

    def __post_init__(self):
        if not (0 < self.hours <= 48):
            raise ValueError(f"recall hours must be in (0, 48], got {self.hours}")
        if self.method not in RECALL_METHODS:
            raise ValueError(f"recall method must be one of {', '.join(RECALL_METHODS)}, got {self.method!r}")
        if min(self.window_s) < 0 or sum(self.window_s) <= 0:
            raise ValueError(f"recall window_s must be two seconds ≥ 0 (before, after), got {self.window_s}")
        if not (0 < self.frames_per_s <= 30):
            raise ValueError(f"recall frames_per_s must be in (0, 30], got {self.frames_per_s}")
        if self.context not in RECALL_CONTEXTS:
            raise ValueError(f"recall context must be one of {', '.join(RECALL_CONTEXTS)}, got {self.context!r}")
        if self.recent_frames < 1:
            raise ValueError(f"recall recent_frames must be ≥ 1, got {self.recent_frames}")
        if self.max_tokens < 64:
            raise ValueError(f"recall max_tokens must be ≥ 64, got {self.max_tokens}")


@dataclass(frozen=True)
class LogLine:
    """One line of the text log: `kind` "narration" (a proactive reply) or "answer" (a reply to a query)."""

    t: float
    kind: str
    text: str


class RecallStore:
    """Frames (t, tokens [n, D]) in capture order, at most `max_frames`; the text log in capture order."""

    def __init__(self, cfg: RecallConfig | None = None, fps: float = 2.0, origin: float | None = None):
        """`origin`: the capture time the stream's clock starts from (what "at 12:31" counts from); None = the
        first frame's (a ROS camera's stamps are seconds since 1970; a file's start at 0)."""
        self.cfg = cfg or RecallConfig()
        self.fps = float(fps)
        self.max_frames = max(1, int(self.cfg.hours * 3600 * self.fps))
        self._fixed_origin = origin
        self.disk = DiskRing(self.cfg.disk, self.max_frames) if self.cfg.disk else None
        self.reset()

    def reset(self) -> None:
        self.origin = self._fixed_origin
        self._t: deque[float] = deque()
        self._tokens: deque = deque()          # tensors in RAM, or slots of the disk ring
        self.log: list[LogLine] = []
        self.frame_bytes = 0
        self.dropped = 0                      # frames older than the ring (counted, never silently)

    # ---- writing (the decision routine, the model's thread)
    def add_frame(self, t: float, tokens: torch.Tensor) -> None:
        tokens = tokens.detach().to("cpu", copy=True)
        if self.origin is None:
            self.origin = float(t)
        if self._t and t < self._t[-1]:
            raise ValueError(f"recall frames must come in capture order: {t} after {self._t[-1]}")
        self._t.append(float(t))
        if self.disk is not None:
            slot = (len(self._t) - 1 + self.dropped) % self.max_frames     # frames ever added, this one excluded
            self.disk.put(slot, tokens)
            self._tokens.append(slot)
        else:
            self._tokens.append(tokens)
        self.frame_bytes = tokens.numel() * tokens.element_size()
        if len(self._t) > self.max_frames:
            self._t.popleft()
            self._tokens.popleft()
            self.dropped += 1

    def add_line(self, t: float, kind: str, text: str) -> None:
        if text.strip():
            self.log.append(LogLine(float(t), kind, " ".join(text.split())))

    # ---- reading
    @property
    def frames(self) -> int:
        return len(self._t)

    @property
    def oldest_t(self) -> float | None:
        return self._t[0] if self._t else None

    @property
    def bytes(self) -> int:
        """Host RAM bytes held by the frames' tokens now (0 with a disk: see disk_bytes)."""
        return 0 if self.disk is not None else self.frame_bytes * len(self._t)

    @property
    def disk_bytes(self) -> int:
        """Bytes of the disk file (0 without a disk)."""
        return 0 if self.disk is None else self.disk.bytes

    def close(self) -> None:
        """Remove the disk file, if any (also done when the store is garbage-collected or the process exits)."""
        if self.disk is not None:
            self.disk.close()

    def bytes_per_hour(self) -> int:
        return int(self.frame_bytes * self.fps * 3600)

    def frames_between(self, t0: float, t1: float, per_s: float) -> list[tuple[float, torch.Tensor]]:
        """Frames with t0 ≤ t ≤ t1, thinned to at most `per_s` per second (the first of each 1/per_s slot)."""
        lo = bisect.bisect_left(self._t, t0)
        out, last_slot = [], None
        for i in range(lo, len(self._t)):
            t = self._t[i]
            if t > t1:
                break
            slot = int(t * per_s + 1e-9)
            if slot != last_slot:
                tok = self._tokens[i]
                out.append((t, self.disk.get(tok) if self.disk is not None else tok))
                last_slot = slot
        return out

    def lines_between(self, t0: float, t1: float, kinds=("narration",)) -> list[LogLine]:
        return [ln for ln in self.log if t0 <= ln.t <= t1 and ln.kind in kinds]
