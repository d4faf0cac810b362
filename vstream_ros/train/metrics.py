"""Teacher-forced VideoLLM-online streaming metrics (live-format.md §9): LM-PPL, LM-Correctness,
frame_diff → TimeDiff, Fluency. One forward per sample (θ = 0: plain argmax over the full vocabulary) plus,
for a turn whose reply never fired early/on time, one forward with k real next frames appended as
`,` + 10×`<v>` to find how late it fires.

Turns end at each `<|eot_id|>` (inclusive); tokens after the last one belong to no turn. Per turn:
`stream` = labelled positions whose input is `<v>`, `lm` = the other labelled positions. Per-sample lists
(over turns that have the needed positions) are averaged; empty lists give PPL 1, correctness 1,
fluency 1, frame_diff 0; then samples are averaged. TimeDiff = mean |frame_diff| / fps.

replay/teacher_forced.py computes the same metrics from a reference stream through an engine backend; this
module works on labelled training samples (user turns, instruction turns, learn ranges) in one batched forward.
test/train/test_loss_collator_metrics.py checks that both give identical numbers on the same stream.

Imports: torch, engine.template. Never ROS.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from vstream_ros.engine.template import EOT_ID, FRAME_NUM_TOKENS, SILENT_ID, V_TOKEN_ID

from .loss import IGNORE, sanitize_labels

# forward(ids LongTensor [L], frames [F, 10, D]) -> float logits [L, V]
ForwardFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class Turn:
    stream: list = field(default_factory=list)     # positions
    lm: list = field(default_factory=list)
    last_v: int = -1                               # position of the turn's last `<v>` input


def split_turns(input_ids: torch.Tensor, labels: torch.Tensor) -> list[Turn]:
    ids, labs = input_ids.tolist(), sanitize_labels(labels).tolist()
    turns, cur = [], Turn()
    for i, (t, lab) in enumerate(zip(ids, labs)):
        if t == V_TOKEN_ID:
            cur.last_v = i
        if lab != IGNORE:
            (cur.stream if t == V_TOKEN_ID else cur.lm).append(i)
        if t == EOT_ID:
            turns.append(cur)
            cur = Turn()
    return turns


@dataclass
class SampleMetrics:
    ppl: float
    correctness: float
    frame_diff: float          # mean |frame_diff| in frames
    fluency: float
    turns: int


def _mean(xs, default):
    return sum(xs) / len(xs) if xs else default


def _late_frames(forward: ForwardFn, ids: torch.Tensor, frames: torch.Tensor, turn: Turn, k: int) -> int:
    """frame_diff ≤ 0 of a turn that did not fire: −(j+1) at the first appended frame predicting non-`,`."""
    used = int((ids[: turn.last_v + 1] == V_TOKEN_ID).sum()) // FRAME_NUM_TOKENS
    k = min(k, frames.shape[0] - used)
    if k <= 0:
        return 0
    extra = torch.tensor(([SILENT_ID] + [V_TOKEN_ID] * FRAME_NUM_TOKENS) * k, dtype=ids.dtype)
    ext_ids = torch.cat([ids[: turn.last_v + 1], extra])
    logits = forward(ext_ids, frames[: used + k])
    ends = [turn.last_v + (j + 1) * (FRAME_NUM_TOKENS + 1) for j in range(k)]
    pred = logits[ends].argmax(-1).tolist()
    for j, p in enumerate(pred):
        if p != SILENT_ID:
            return -(j + 1)
    return -k


@torch.no_grad()
def sample_metrics(forward: ForwardFn, input_ids: torch.Tensor, labels: torch.Tensor,
                   frames: torch.Tensor) -> SampleMetrics:
    logits = forward(input_ids, frames)
    pred = logits.argmax(-1)
    labs = sanitize_labels(labels)
    turns = split_turns(input_ids, labels)
    ppls, corrs, diffs, flus = [], [], [], []
    for n, turn in enumerate(turns):
        correct_prefix = 0
        if turn.lm:
            pos = torch.tensor(turn.lm)
            ce = F.cross_entropy(logits[pos].float(), labs[pos], reduction="mean")
            ppls.append(math.exp(float(ce)))
            wrong = (pred[pos] != labs[pos]).tolist()
            correct_prefix = wrong.index(True) if True in wrong else len(wrong)
            corrs.append(correct_prefix / len(wrong))
        if turn.stream:
            sp = pred[torch.tensor(turn.stream)].tolist()
            fired = [i for i, p in enumerate(sp) if p != SILENT_ID]
            if fired:
                fd = len(sp) - fired[0] - 1
            elif n == len(turns) - 1:
                fd = 0
            else:
                k = min(len(turns[n + 1].stream), len(sp) - 1)
                fd = _late_frames(forward, input_ids, frames, turn, k)
            diffs.append(abs(fd))
            if turn.lm:
                total = len(sp) + len(turn.lm)
                if fd == 0:
                    flus.append((len(sp) + correct_prefix) / total)
                elif fd > 0:
                    flus.append((len(sp) - fd) / total)
                else:
                    flus.append((len(sp) - 1) / total)
    return SampleMetrics(ppl=_mean(ppls, 1.0), correctness=_mean(corrs, 1.0), frame_diff=_mean(diffs, 0.0),
                         fluency=_mean(flus, 1.0), turns=len(turns))


def aggregate(samples: list[SampleMetrics], fps: float = 2.0) -> dict:
    """Mean over samples → {lm_ppl, lm_correctness, time_diff (s), fluency, samples}."""
    if not samples:
        return {}
    n = len(samples)
    return {"lm_ppl": sum(s.ppl for s in samples) / n, "lm_correctness": sum(s.correctness for s in samples) / n,
            "time_diff": sum(s.frame_diff for s in samples) / n / fps,
            "fluency": sum(s.fluency for s in samples) / n, "samples": n}
