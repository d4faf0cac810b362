"""Host-side ledger: what each KV-cache position holds, as segments in cache order.

Segments: SINK (everything before the first frame: BOS + system prompt + `\\n\\n[`), FRAME (optional
leading `,` + 10 `<v>`; frame index, capture time, unit descriptor, tier) and TURN (the tokens between
two runs: `]\\n … \\n[`). Ids that do not yet close a segment (an open turn being decoded) sit in `tail`
and are never evicted. The ledger is fed exactly the ids the backend is fed, so it mirrors the cache.

Imports: numpy and stdlib only (no torch, no ROS).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from itertools import accumulate
from typing import Sequence

import numpy as np

from ..template import FRAME_NUM_TOKENS, SILENT_ID, V_TOKEN_ID


class Kind(Enum):
    SINK = 0
    FRAME = 1
    TURN = 2


class Tier(Enum):
    SINK = "sink"
    TEXT = "text"        # turns, and the frame each kept turn follows (its anchor)
    LONG = "long"        # admitted keyframes
    RECENT = "recent"    # the recent window W


@dataclass
class Segment:
    kind: Kind
    ids: list = field(default_factory=list)   # ids now in the cache (a dropped `,` is removed)
    tier: Tier = Tier.RECENT
    index: int = -1                           # frame index in the stream
    time: float = 0.0                         # capture time (s)
    desc: np.ndarray | None = None            # unit-norm float32 descriptor (frames)
    pinned: bool = False

    @property
    def comma(self) -> bool:
        return self.kind is Kind.FRAME and len(self.ids) == FRAME_NUM_TOKENS + 1

    def __len__(self) -> int:
        return len(self.ids)


def _unit(v) -> np.ndarray | None:
    if v is None:
        return None
    a = np.asarray(v, dtype=np.float32).reshape(-1)
    n = float(np.linalg.norm(a))
    return a / n if n > 0 else a


class Ledger:
    """Mirror of one stream's cache. `pinned_tokens`: the first turns up to this many tokens are pinned."""

    def __init__(self, pinned_tokens: int = 256, fps: float = 2.0):
        self.pinned_tokens = pinned_tokens
        self.fps = fps
        self.reset()

    def reset(self) -> None:
        self.segs: list[Segment] = []
        self.tail: list[int] = []
        self._seg_tokens = 0
        self.tier_tokens = {t: 0 for t in Tier}   # tokens per tier (segments only)
        self._pending_desc: list = []
        self._pending_time: list = []
        self.fresh_from = 0        # segments from here on came with the latest append: never evicted
        self.n_frames = 0          # index of the next frame
        self.n_recent = 0          # frames in tier RECENT
        self._pinned_used = 0
        self._pinning = True       # turns stay pinned until the first one that does not fit

    # ---- reading
    @property
    def length(self) -> int:
        return self._seg_tokens + len(self.tail)

    @property
    def has_sink(self) -> bool:
        return bool(self.segs) and self.segs[0].kind is Kind.SINK

    def ids(self) -> list[int]:
        out: list[int] = []
        for s in self.segs:
            out.extend(s.ids)
        out.extend(self.tail)
        return out

    def occupancy(self) -> dict:
        occ = {t.value: n for t, n in self.tier_tokens.items()}
        occ["tail"] = len(self.tail)
        occ["total"] = self.length
        occ["frames_long"] = sum(1 for s in self.segs if s.kind is Kind.FRAME and s.tier is Tier.LONG)
        occ["frames_recent"] = self.n_recent
        times = [s.time for s in self.segs if s.kind is Kind.FRAME and s.time is not None]
        occ["oldest_frame_t"] = min(times) if times else None        # the context's first frame (Narration)
        return occ

    # ---- writing (mirrors backend.prefill / decode)
    def stamp(self, t: float) -> None:
        """Capture time of the next frame that closes (optional; default index / fps)."""
        self._pending_time.append(float(t))

    def append(self, ids: Sequence[int], descriptors=None) -> None:
        """Append ids as fed to the backend; `descriptors` [F, D] (one per frame closed here, in order)."""
        self.fresh_from = len(self.segs)
        if descriptors is not None:
            self._pending_desc.extend(list(np.asarray(descriptors, dtype=np.float32)))
        for tok in ids:
            tok = int(tok)
            self.tail.append(tok)
            if tok == V_TOKEN_ID:
                n_v = _trailing_v(self.tail)
                if n_v == FRAME_NUM_TOKENS:
                    self._close_frame()
            elif self.tail[-2:-1] == [V_TOKEN_ID]:
                raise ValueError(f"a frame needs {FRAME_NUM_TOKENS} consecutive <v> ids; got "
                                 f"{_trailing_v(self.tail[:-1])} then id {tok}")
        self._pending_desc.clear()

    def _push(self, seg: Segment) -> None:
        self.segs.append(seg)
        self._seg_tokens += len(seg)
        self.tier_tokens[seg.tier] += len(seg)

    def set_tier(self, seg: Segment, tier: Tier) -> None:
        self.tier_tokens[seg.tier] -= len(seg)
        self.tier_tokens[tier] += len(seg)
        if seg.kind is Kind.FRAME:
            self.n_recent += (tier is Tier.RECENT) - (seg.tier is Tier.RECENT)
        seg.tier = tier

    def _close_frame(self) -> None:
        prefix = self.tail[:-FRAME_NUM_TOKENS]
        frame_ids = self.tail[-FRAME_NUM_TOKENS:]
        self.tail = []
        if not self.has_sink:
            self._push(Segment(Kind.SINK, prefix, Tier.SINK, pinned=True))
        elif prefix == [SILENT_ID] and self.segs[-1].kind is Kind.FRAME:
            frame_ids = prefix + frame_ids
        elif prefix:
            self._push(self._new_turn(prefix))
        desc = _unit(self._pending_desc.pop(0)) if self._pending_desc else None
        t = self._pending_time.pop(0) if self._pending_time else self.n_frames / self.fps
        self._push(Segment(Kind.FRAME, frame_ids, Tier.RECENT, index=self.n_frames, time=t, desc=desc))
        self.n_frames += 1
        self.n_recent += 1

    def _new_turn(self, ids: list) -> Segment:
        pinned = self._pinning and self._pinned_used + len(ids) <= self.pinned_tokens
        if pinned:
            self._pinned_used += len(ids)
        else:
            self._pinning = False
        return Segment(Kind.TURN, ids, Tier.TEXT, pinned=pinned)

    def truncate(self, n: int) -> None:
        """Keep the first n positions (mirrors backend.truncate)."""
        if n >= self.length:
            return
        if n <= self._seg_tokens:
            self.tail = []
            while self.segs and self._seg_tokens > n:
                s = self.segs.pop()
                self._seg_tokens -= len(s)
                self.tier_tokens[s.tier] -= len(s)
                if s.kind is Kind.FRAME and s.tier is Tier.RECENT:
                    self.n_recent -= 1
                if s.kind is Kind.TURN and s.pinned:
                    self._pinned_used -= len(s)
                    self._pinning = True
                if self._seg_tokens < n:        # the segment straddles n: its head goes back to the tail
                    self.tail = list(s.ids[: n - self._seg_tokens])
        else:
            self.tail = self.tail[: n - self._seg_tokens]
        self.fresh_from = min(self.fresh_from, len(self.segs))
        frames = [s for s in self.segs if s.kind is Kind.FRAME]
        self.n_frames = frames[-1].index + 1 if frames else 0
        self._pending_time.clear()

    def apply(self, evict: set, comma_drop: set) -> list[int]:
        """Remove segments `evict` and the leading `,` of frames `comma_drop` (indices into segs).

        Returns the cache positions to keep, ascending (what the runtime gathers).
        """
        lens = [len(seg.ids) for seg in self.segs]
        ends = list(accumulate(lens))
        total = self._seg_tokens + len(self.tail)
        mask = np.ones(total, dtype=bool)
        for i in evict:
            seg = self.segs[i]
            mask[ends[i] - lens[i]: ends[i]] = False
            self.tier_tokens[seg.tier] -= lens[i]
            if seg.kind is Kind.FRAME and seg.tier is Tier.RECENT:
                self.n_recent -= 1
        for i in comma_drop:
            seg = self.segs[i]
            mask[ends[i] - lens[i]] = False
            seg.ids = seg.ids[1:]
            self.tier_tokens[seg.tier] -= 1
        keep = np.flatnonzero(mask).tolist()
        self._seg_tokens -= total - len(keep)
        self.fresh_from -= sum(1 for i in evict if i < self.fresh_from)
        self.segs = [seg for i, seg in enumerate(self.segs) if i not in evict]
        return keep


def _trailing_v(ids: list) -> int:
    n = 0
    for tok in reversed(ids):
        if tok != V_TOKEN_ID:
            break
        n += 1
    return n
