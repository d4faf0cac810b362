"""Memory-aligned training samples: each one laid out exactly as the runtime's bounded cache holds a long stream at
that moment (docs/training.md "Long streams", docs/design/memory.md §8 item 1 and §11).

The runtime (engine/memory/bounded.py) feeds a stream to its LLM in pieces, and after every piece its
MemoryManager may evict (grammar-preserving; the kept entries sit at contiguous positions 0…m−1). Here the same
MemoryManager (one implementation) is fed the same pieces of a training dialogue's ids, in the runtime's order:

    frame 0            SINK + <v>×10                         (prefill)
    next frame         `,` + <v>×10  |  `<|eot_id|>\\n[` + <v>×10 after a reply
    a reply            `]\\nAssistant:` (prefill; a query: `]\\nUser: …\\nAssistant:`), then each content token
                       alone (greedy decode feeds one token per forward)

with each frame's descriptor = its first vision token (what BoundedBackend passes). Between two evictions the cache
only grows, so one sample covers one such stretch: the ids the cache kept at the last eviction (labels ignored:
they were learned in an earlier sample) followed by every id fed until the next eviction, with the dialogue's own
pre-shifted labels (the LIVE loss unchanged: each label is learned exactly once). Every prefix of a sample is, id
for id and position for position, the runtime's cache at that moment: in particular, the ids before frame k's
segment are what the cache holds before frame k is fed (test/train/test_aligned.py checks it against a running
BoundedBackend).

`plan_dialogue` returns compact plans (kept positions of the original encoding, run-length coded, + the fed
range); `AlignedDataset` turns them into {input_ids, labels, frames} items like train.dataset.StreamDataset.

Imports: numpy, torch, engine.memory (MemoryManager, MemoryConfig), engine.protocol/template ids, train.dialogue (the
train.dataset.StreamDataset is passed in: no import back). Never ROS, never a model.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from vstream_ros.engine.memory import MemoryConfig, MemoryManager
from vstream_ros.engine.protocol import AFTER_REPLY_IDS, ASSISTANT_ID, COLON_ID
from vstream_ros.engine.template import EOT_ID, FRAME_NUM_TOKENS, V_TOKEN_ID
from vstream_ros.engine.teacher_forced import IGNORE

from .dialogue import encode_dialogue

CLOSE_RUN_ID = 60            # `]`: what a dialogue that ends with a stream ends with (no reply follows)


def runtime_feeds(ids: Sequence[int]) -> list[tuple[int, int]]:
    """The ranges [a, b) of `ids` in the order and pieces the runtime feeds them (see the module docstring)."""
    ids = list(ids)
    v_ends = [i for i, t in enumerate(ids) if t == V_TOKEN_ID and (i + 1 == len(ids) or ids[i + 1] != V_TOKEN_ID)]
    feeds: list[tuple[int, int]] = []
    a = 0
    for end in v_ends:
        start = end - FRAME_NUM_TOKENS + 1                 # the frame's first <v>
        gap = ids[a:start]
        head = 3 if feeds and gap[-3:] == list(AFTER_REPLY_IDS) else (1 if feeds else len(gap))
        if feeds and len(gap) > head:                      # a turn before this frame: prompt, then decoded tokens
            turn_end = start - head
            feeds += _turn_feeds(ids, a, turn_end)
            a = turn_end
        feeds.append((a, end + 1))                         # the frame with its prefix
        a = end + 1
    if a < len(ids) and ids[a:] != [CLOSE_RUN_ID]:       # a trailing reply (a trailing stream's `]` is never fed)
        feeds += _turn_feeds(ids, a, len(ids))
    return feeds


def _turn_feeds(ids: list, a: int, b: int) -> list[tuple[int, int]]:
    """A turn: each prompt up to its `Assistant:` in one prefill, then each reply token alone (decoded) up to its
    <|eot_id|>, which the next prefill carries (a query after a reply: `<|eot_id|>\nUser: …\nAssistant:`)."""
    out, i = [], a
    while i < b:
        j = i + 1
        while j < b and not (ids[j] == COLON_ID and ids[j - 1] == ASSISTANT_ID):
            j += 1
        if j >= b:
            out.append((i, b))
            break
        out.append((i, j + 1))
        i = j + 1
        while i < b and ids[i] != EOT_ID:
            out.append((i, i + 1))
            i += 1
    return out


def _runs(pos: np.ndarray) -> np.ndarray:
    """Run-length code of ascending positions: [[start, length], …] (int32)."""
    if pos.size == 0:
        return np.zeros((0, 2), np.int32)
    cut = np.flatnonzero(np.diff(pos) != 1) + 1
    starts = np.concatenate([[0], cut])
    lengths = np.diff(np.concatenate([starts, [pos.size]]))
    return np.stack([pos[starts], lengths], 1).astype(np.int32)


def _unruns(runs: np.ndarray) -> np.ndarray:
    if runs.size == 0:
        return np.zeros(0, np.int64)
    return np.concatenate([np.arange(s, s + n) for s, n in runs.tolist()])


@dataclass(frozen=True)
class SamplePlan:
    """One aligned sample of one dialogue: the original positions the cache kept (run-length coded) + fed [a, b)."""

    kept: np.ndarray          # [[start, length], …] of positions into the dialogue's encoding
    a: int
    b: int

    def positions(self) -> np.ndarray:
        return np.concatenate([_unruns(self.kept), np.arange(self.a, self.b)])


def plan_dialogue(ids: Sequence[int], labels: Sequence[int], descriptors: np.ndarray | None, cfg: MemoryConfig,
                  fps: float = 2.0) -> list[SamplePlan]:
    """The samples of one encoded dialogue under memory `cfg` (only those with at least one label).

    descriptors: [frames, D] (a frame's first vision token) for the keyframes admission, or None.
    """
    mgr = MemoryManager(dataclasses.replace(cfg, fps=fps))
    lab = np.asarray(labels)
    cache = np.zeros(0, np.int64)          # original position of every cache entry (the ledger's ids, in order)
    kept = cache
    span_a = 0
    frame = 0
    plans: list[SamplePlan] = []
    feeds = runtime_feeds(ids)
    for k, (a, b) in enumerate(feeds):
        n_frames = sum(1 for i in range(a, b) if ids[i] == V_TOKEN_ID) // FRAME_NUM_TOKENS
        desc = None
        if descriptors is not None and n_frames:
            desc = descriptors[frame:frame + n_frames]
        frame += n_frames
        mgr.observe(ids[a:b], desc)
        cache = np.concatenate([cache, np.arange(a, b)])
        ev = mgr.step()
        if ev is None and k + 1 < len(feeds):
            continue
        if (lab[span_a:b] != IGNORE).any():
            plans.append(SamplePlan(_runs(kept), span_a, b))
        if ev is not None:
            cache = cache[np.asarray(ev.keep, np.int64)]
        kept, span_a = cache, b
    return plans


class AlignedDataset(torch.utils.data.Dataset):
    """Memory-aligned samples of long dialogues (items like StreamDataset's: input_ids, labels, frames [F, 10, D]).

    Every dialogue is encoded and planned up front (its features read once for the descriptors); `sample_every`
    keeps one sample in n of each dialogue (cost control on long streams)."""

    def __init__(self, base, tokenizer, cfg: MemoryConfig, sample_every: int = 1, log=print):
        """`base`: the train.dataset.StreamDataset of the dialogues (its feature checks and per-file stores)."""
        self.base = base
        self.skipped = self.base.skipped
        self.tokenizer, self.cfg = tokenizer, cfg
        if int(sample_every) < 1:
            raise ValueError(f"data.memory.sample_every must be >= 1, got {sample_every}")
        self.plans: list[tuple[int, SamplePlan]] = []
        self.lengths: list[tuple[int, int]] = []          # (frames, tokens) of every sample: the trained context
        for di, d in enumerate(self.base.items):
            enc = encode_dialogue(d.conversation, tokenizer)
            desc = self.base.frames(d)[:, 0, :].float().numpy()
            plans = plan_dialogue(enc.input_ids, enc.labels, desc, cfg, d.fps)
            for plan in plans[::int(sample_every)]:
                pos = plan.positions()
                n_v = int(sum(1 for p in pos if enc.input_ids[p] == V_TOKEN_ID))
                self.plans.append((di, plan))
                self.lengths.append((n_v // FRAME_NUM_TOKENS, int(pos.size)))
        if log:
            tok = [t for _, t in self.lengths]
            log(f"data: memory-aligned ({cfg.policy}, cap {cfg.cap_tokens} tokens): {len(self.plans)} samples of "
                f"{len(self.base.items)} dialogues, {min(tok) if tok else 0}–{max(tok) if tok else 0} tokens each")

    def __len__(self) -> int:
        return len(self.plans)

    def __getitem__(self, i: int) -> dict:
        di, plan = self.plans[i]
        d = self.base.items[di]
        enc = encode_dialogue(d.conversation, self.tokenizer)
        return build_item(enc.input_ids, enc.labels, self.base.frames(d), plan)


def build_item(ids: Sequence[int], labels: Sequence[int], frames: torch.Tensor, plan: SamplePlan) -> dict:
    """{input_ids, labels, frames} of one plan: the kept context (labels ignored) then the fed range."""
    ids_t = torch.as_tensor(list(ids), dtype=torch.long)
    pos = torch.as_tensor(plan.positions(), dtype=torch.long)
    n_ctx = int(pos.numel()) - (plan.b - plan.a)
    lab = torch.as_tensor(list(labels), dtype=torch.long)[pos]
    lab[:n_ctx] = IGNORE
    sample_ids = ids_t[pos]
    v_orig = (ids_t == V_TOKEN_ID).nonzero().squeeze(1)              # <v> positions of the whole dialogue, in order
    frame_of = torch.full((ids_t.numel(),), -1, dtype=torch.long)
    frame_of[v_orig] = torch.arange(v_orig.numel()) // FRAME_NUM_TOKENS
    used = frame_of[pos][sample_ids == V_TOKEN_ID].view(-1, FRAME_NUM_TOKENS)[:, 0]
    return {"input_ids": sample_ids, "labels": lab, "frames": frames[used]}


__all__ = ["runtime_feeds", "plan_dialogue", "SamplePlan", "AlignedDataset", "build_item"]
