"""Eviction policies over the ledger: `full`, `window`, `recent`, `keyframes` (docs/design/memory.md §2–§3).

`MemoryManager.step()` runs between forwards. When the recent window W overflows it releases its
oldest frames in blocks of E (recent: one frame at a time, so exactly W frames stay): each goes to the text tier if a kept turn follows it, else (keyframes)
is admitted to L if novel (cos to the last admitted < τ) or the heartbeat expired, else evicted.
Turns beyond the text budget leave FIFO (never pinned ones, never ones inside W); L beyond its
budget drops the older frame of the most similar adjacent pair (ties: oldest pair). If the cache is
still over `cap_tokens`, W gives up further blocks. The result is the list of positions to gather.

Imports: numpy and stdlib only.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .budgets import FRAME_TOKENS, MemoryConfig
from .grammar import Conflict, is_anchor, resolve
from .ledger import Kind, Ledger, Tier


@dataclass
class Eviction:
    """One memory event: positions to keep (ascending) and what happened, for logs and events."""

    keep: list
    frame_index: int
    time: float
    evicted_tokens: int
    evicted_frames: int
    evicted_turns: int
    admitted: list = field(default_factory=list)     # frame indices admitted to L
    dropped: list = field(default_factory=list)      # L frame indices dropped as redundant
    occupancy: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        d = {k: v for k, v in self.__dict__.items() if k != "keep"}
        d["type"] = "memory"
        d["kept_tokens"] = len(self.keep)
        return d


def cosine(a, b) -> float:
    if a is None or b is None:
        return 0.0
    return float(np.dot(a, b))


class MemoryManager:
    """Ledger + policy for one stream."""

    def __init__(self, cfg: MemoryConfig):
        self.cfg = cfg
        self.ledger = Ledger(pinned_tokens=cfg.effective_pinned_tokens, fps=cfg.fps)
        self.reset()

    def reset(self) -> None:
        self.ledger.reset()
        self.last_admit_desc = None
        self.last_admit_time = None
        self.n_events = 0

    # ---- the step
    def step(self) -> Eviction | None:
        """Plan and apply evictions if W or the cap overflowed; None when nothing changes."""
        cfg, led = self.cfg, self.ledger
        if cfg.policy == "full":
            return None
        if led.n_recent <= cfg.window_frames and led.length <= cfg.cap_tokens:
            return None
        excess = max(0, led.n_recent - cfg.window_frames)
        block = cfg.effective_block_frames
        n_release = -(-excess // block) * block
        # frames of the latest feed never leave W (a caller may crop them, counting from the end)
        recent = [i for i, s in enumerate(led.segs) if s.tier is Tier.RECENT]       # frames of W, oldest first
        # … nor does the frame an open turn follows (a reply being decoded: the turn has no segment yet)
        last_open = len(led.segs) - 1 if led.tail else -1
        releasable = sum(1 for i in recent if i < led.fresh_from and i != last_open)
        while True:
            n_release = min(n_release, releasable)
            plan = self._plan(recent[:n_release])
            after = led.length - sum(len(led.segs[i]) for i in plan[0]) - len(plan[1])
            if after <= cfg.cap_tokens or n_release >= releasable:
                break
            n_release += block
        return self._commit(*plan)

    def _plan(self, release: list):
        cfg, led = self.cfg, self.ledger
        segs = led.segs
        tier = {}                                   # new tiers of frames that stay
        released = set(release)
        last_desc, last_time = self.last_admit_desc, self.last_admit_time
        admitted, evict = [], set()
        for i in release:
            s = segs[i]
            if is_anchor(segs, i):
                tier[i] = Tier.TEXT
            elif cfg.policy == "keyframes" and cfg.longterm_frames > 0 and (
                    last_time is None or cosine(s.desc, last_desc) < cfg.tau
                    or s.time - last_time >= cfg.heartbeat_s):
                tier[i] = Tier.LONG
                admitted.append(i)
                last_desc, last_time = s.desc, s.time
            else:
                evict.add(i)
        tail_open = bool(led.tail)

        def cur_tier(i):
            return tier.get(i, segs[i].tier)

        def protected(i):
            s = segs[i]
            if s.kind is Kind.SINK or (s.kind is Kind.TURN and s.pinned):
                return True
            if i >= led.fresh_from or (tail_open and i == len(segs) - 1):
                return True
            if s.kind is Kind.FRAME:
                return cur_tier(i) is Tier.RECENT and i not in released
            return cur_tier(i - 1) is Tier.RECENT and (i - 1) not in released   # a turn inside W

        # text tier: FIFO by whole turns (+ the frame each follows)
        evict, drop = resolve(segs, evict, protected)

        def counts_as_text(i):
            s = segs[i]
            return s.kind is Kind.TURN or (s.kind is Kind.FRAME and cur_tier(i) is Tier.TEXT)

        budget = cfg.effective_text_tokens
        used = led.tier_tokens[Tier.TEXT] + sum(len(segs[i]) for i, t in tier.items() if t is Tier.TEXT)
        if used > budget:
            for i, s in enumerate(segs):
                if used <= budget:
                    break
                if s.kind is not Kind.TURN or i in evict or protected(i):
                    continue
                unit = {i}
                a = i - 1                     # the frame the turn follows
                if segs[a].kind is Kind.FRAME and not segs[a].comma and not protected(a):
                    unit.add(a)               # a one-frame run goes with its turn: no cascade into the next run
                try:
                    trial, trial_drop = resolve(segs, evict | unit, protected)
                except Conflict:
                    break                     # FIFO: the oldest unpinned turn cannot go yet
                used -= sum(len(segs[j]) for j in trial - evict if counts_as_text(j))
                evict, drop = trial, trial_drop
        # a frame left behind by an evicted turn becomes a keyframe (keyframes) or goes (window)
        for j in [j for j in evict if segs[j].kind is Kind.TURN]:
            i = j - 1
            if i not in evict and segs[i].kind is Kind.FRAME and cur_tier(i) is Tier.TEXT:
                if cfg.policy == "keyframes":
                    tier[i] = Tier.LONG
                else:
                    evict.add(i)
        evict, drop = resolve(segs, evict, protected)
        # long-term tier: adjacent-most-similar drop
        dropped = []
        members = sorted([i for i, s in enumerate(segs) if s.tier is Tier.LONG and i not in evict and i not in tier]
                         + [i for i, t in tier.items() if t is Tier.LONG and i not in evict])
        over = len(members) - cfg.effective_longterm_frames
        if over > 0:
            descs = [segs[i].desc for i in members]
            if all(d is not None for d in descs):
                mat = np.stack(descs)
                sims = np.einsum("ij,ij->i", mat[:-1], mat[1:]).tolist()
            else:
                sims = [cosine(descs[k], descs[k + 1]) for k in range(len(members) - 1)]
            for _ in range(over):
                if not sims:
                    break
                k = int(np.argmax(sims))           # first maximum = oldest pair on ties
                dropped.append(members[k])
                del members[k], descs[k], sims[k]
                if k > 0:
                    sims[k - 1] = cosine(descs[k - 1], descs[k])
            evict |= set(dropped)
            evict, drop = resolve(segs, evict, protected)
        for i in list(tier):
            if i in evict:
                del tier[i]
        admitted = [segs[i].index for i in admitted]           # dropped ones included
        return evict, drop, tier, admitted, [segs[i].index for i in dropped], (last_desc, last_time)

    def _commit(self, evict, drop, tier, admitted, dropped, last) -> Eviction | None:
        led = self.ledger
        segs = led.segs
        for i, t in tier.items():
            led.set_tier(segs[i], t)
        self.last_admit_desc, self.last_admit_time = last
        n_frames = sum(1 for i in evict if segs[i].kind is Kind.FRAME)
        n_turns = sum(1 for i in evict if segs[i].kind is Kind.TURN)
        if not evict and not drop and not tier:
            return None
        newest = next((s for s in reversed(segs) if s.kind is Kind.FRAME), None)
        before = led.length
        keep = led.apply(evict, drop)
        self.n_events += 1
        return Eviction(keep=keep, frame_index=newest.index if newest else -1,
                        time=newest.time if newest else 0.0, evicted_tokens=before - len(keep),
                        evicted_frames=n_frames, evicted_turns=n_turns, admitted=admitted,
                        dropped=dropped, occupancy=led.occupancy())

    # ---- pass-throughs
    def observe(self, ids, descriptors=None) -> None:
        self.ledger.append(ids, descriptors)

    def truncate(self, n: int) -> None:
        self.ledger.truncate(n)

    @property
    def length(self) -> int:
        return self.ledger.length

    def occupancy(self) -> dict:
        return self.ledger.occupancy()

    def frame_budget_tokens(self) -> int:
        return FRAME_TOKENS * (self.cfg.effective_longterm_frames + self.cfg.window_frames)
