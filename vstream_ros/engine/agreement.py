"""How far two runs of the same stream agree (e.g. a quantized model against the unquantized one).

`agreement(a, b)` pairs the FrameDecisions of two event lists by frame index and the Responses in order, and
counts: frames with the same speak/silent decision, replies with the same token ids, the largest |Δ P(',')|
over frames both scored. The runs are free-running: after a first different decision or token the contexts
differ, so later frames are compared as each run saw them (the agreement a user would see).

Imports: engine.events only. Never torch-heavy code, never ROS.
"""
from __future__ import annotations

from dataclasses import dataclass

from .events import FrameDecision, Response


@dataclass(frozen=True)
class Agreement:
    frames: int                 # frames decided in run a
    same_decisions: int         # frames whose decision (respond / silent / None = skipped) equals run b's
    replies: int                # replies in run a
    same_replies: int           # replies (paired in order) with identical token ids
    max_dp_silent: float        # largest |P_a(',') - P_b(',')| over frames both scored

    @property
    def decision_rate(self) -> float:
        return self.same_decisions / self.frames if self.frames else 1.0

    @property
    def reply_rate(self) -> float:
        return self.same_replies / self.replies if self.replies else 1.0

    def __add__(self, other: Agreement) -> Agreement:
        return Agreement(self.frames + other.frames, self.same_decisions + other.same_decisions,
                         self.replies + other.replies, self.same_replies + other.same_replies,
                         max(self.max_dp_silent, other.max_dp_silent))

    def line(self) -> str:
        return (f"decisions {self.same_decisions}/{self.frames} same, replies {self.same_replies}/{self.replies} "
                f"token-identical, max |dP(',')| {self.max_dp_silent:.4f}")


def agreement(a: list, b: list) -> Agreement:
    da = {e.index: e for e in a if isinstance(e, FrameDecision)}
    db = {e.index: e for e in b if isinstance(e, FrameDecision)}
    same = sum(1 for i, e in da.items() if i in db and db[i].decision == e.decision)
    dps = [abs(e.p_silent - db[i].p_silent) for i, e in da.items()
           if i in db and e.p_silent is not None and db[i].p_silent is not None]
    ra = [e for e in a if isinstance(e, Response)]
    rb = [e for e in b if isinstance(e, Response)]
    same_r = sum(1 for x, y in zip(ra, rb) if tuple(x.token_ids) == tuple(y.token_ids))
    return Agreement(len(da), same, len(ra), same_r, max(dps, default=0.0))
