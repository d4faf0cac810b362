"""The cache grammar `SINK run (TURN run)*` (docs/design/memory.md §2.1) and grammar-preserving eviction: the parser
of what engine/protocol.py (StreamProtocol) builds.

run = frame (',' frame)*, frame = 10 × `<v>` (128256), TURN = `]\\n` (933) … `[` (58) with no `<v>`.
`check_ids` parses an id list; `resolve` closes a set of planned evictions under the §2.1 rules:
a frame that would follow a frame without its `,` (the first frame after an evicted turn) goes too;
a turn whose frame (the one it follows) goes, goes too; a frame first in its run loses its `,`.

Imports: stdlib, engine.protocol/template (pinned ids) and the ledger's types.
"""
from __future__ import annotations

from typing import Sequence

from ..protocol import OPEN_RUN_ID
from ..template import BOS_ID, FRAME_NUM_TOKENS, SILENT_ID, SPEAK_ID, V_TOKEN_ID
from .ledger import Kind, Segment, Tier


class GrammarError(ValueError):
    """The id list does not read as `SINK run (TURN run)*`."""


class Conflict(Exception):
    """An eviction plan would remove a protected segment; the caller drops that part of the plan."""


def check_ids(ids: Sequence[int], open_tail: bool = True) -> None:
    """Raise GrammarError unless ids parse as `SINK run (TURN run)*`.

    open_tail=True also accepts a trailing incomplete TURN (a turn being fed/decoded) and an empty
    cache or a lone sink prefix (nothing fed but a prompt).
    """
    ids = list(ids)
    if not ids:
        return
    if ids[0] != BOS_ID:
        raise GrammarError(f"the cache must start with BOS {BOS_ID}, got {ids[0]}")
    # split into maximal <v> blocks and the gaps between them
    blocks, gaps, start = [], [], 0
    i = 0
    while i < len(ids):
        if ids[i] == V_TOKEN_ID:
            j = i
            while j < len(ids) and ids[j] == V_TOKEN_ID:
                j += 1
            gaps.append(ids[start:i])
            blocks.append(j - i)
            start = i = j
        else:
            i += 1
    trailing = ids[start:]
    if not blocks:
        if open_tail:
            return
        raise GrammarError("no frame in the cache")
    if gaps[0][-1:] != [OPEN_RUN_ID]:
        raise GrammarError("the sink must end with `[` (58) right before the first frame")
    for k, n in enumerate(blocks):
        if n != FRAME_NUM_TOKENS:
            raise GrammarError(f"frame {k} has {n} <v> (two frames without `,` or a split frame)")
    for k, gap in enumerate(gaps[1:], start=1):
        if gap == [SILENT_ID]:
            continue
        if len(gap) >= 2 and gap[0] == SPEAK_ID and gap[-1] == OPEN_RUN_ID:
            continue
        raise GrammarError(f"between frames {k - 1} and {k}: {gap[:6]}… is neither `,` nor a TURN `]\\n`…`[`")
    if trailing:
        if not open_tail:
            raise GrammarError(f"the cache ends with an open turn {trailing[:6]}…")
        if trailing[0] != SPEAK_ID and trailing != [SILENT_ID]:
            raise GrammarError(f"an open turn must start with `]\\n` (933), got {trailing[:6]}…")


def resolve(segs: list[Segment], evict: set, protected) -> tuple[set, set]:
    """Close `evict` (segment indices) under the §2.1 rules; return (evict, comma_drop).

    protected(i) -> bool marks segments that must stay (sink, recent window, pinned turns); forcing
    one of them out raises Conflict. One pass from the first planned eviction to the last change.
    """
    evict = set(evict)
    comma_drop: set = set()
    if not evict:
        return evict, comma_drop
    lo, hi = min(evict), max(evict)
    prev = segs[lo - 1].kind if lo > 0 else None     # everything before lo is kept
    for i in range(lo, len(segs)):
        if i > hi and (i - 1) not in evict:
            break                         # past every change with a kept neighbour: the rest is unchanged
        s = segs[i]
        if i in evict:
            if protected(i):
                raise Conflict(f"segment {i} is protected")
            continue
        if s.kind is Kind.SINK:
            prev = Kind.SINK
        elif s.kind is Kind.FRAME:
            if prev is Kind.FRAME:
                if not s.comma:           # was first in its run: its turn went, so it goes too
                    if protected(i):
                        raise Conflict(f"frame {i} must go with the turn before it but is protected")
                    evict.add(i)
                    hi = max(hi, i)
                    continue
            elif s.comma:
                comma_drop.add(i)         # now first in its run
            prev = Kind.FRAME
        else:
            anchor_gone = i > 0 and (i - 1) in evict and segs[i - 1].kind is Kind.FRAME
            if prev is not Kind.FRAME or anchor_gone:
                if protected(i):
                    raise Conflict(f"turn {i} lost the frame it follows but is protected")
                evict.add(i)
                hi = max(hi, i)
                continue
            prev = Kind.TURN
    return evict, comma_drop


def is_anchor(segs: list[Segment], i: int) -> bool:
    """Frame i is followed by a turn (it triggered it, or a query came right after it)."""
    return i + 1 < len(segs) and segs[i + 1].kind is Kind.TURN


__all__ = ["GrammarError", "Conflict", "check_ids", "resolve", "is_anchor", "Tier"]
