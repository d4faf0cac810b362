"""Teacher-forced streaming metrics of the VideoLLM-online protocol (docs/design/stream-format.md §9), the one copy:
LM-PPL, LM-Correctness (LG-Match), frame_diff → TimeDiff, Fluency, with θ = 0 (plain argmax over the vocabulary).

Two front ends share the per-turn scoring (`score_turn`) and the "how late does it fire" probe:
- `sample_metrics(forward, input_ids, labels, frames)`: a labelled training sample (train.dialogue), one batched
  forward; turns end at each `<|eot_id|>` (inclusive), `stream` = labelled positions whose input is `<v>`,
  `lm` = the other labelled positions; tokens after the last `<|eot_id|>` belong to no turn.
- `stream_metrics(backend, protocol, frames, refs, fps)`: a reference stream (a bag's frames at the model fps and
  its reference utterances) through an engine `LLMBackend` (`vstream eval --teacher-forced`). Each reference is
  placed at the first frame at or after its time (ceiled; two on one frame keep the later text); ids follow the
  inference grammar exactly (engine.protocol): first prefix, `,` between frames, `]\\nAssistant: text` after the
  frame that should speak, `<|eot_id|>\\n[` before the next frame. No instruction turn is added.

Per turn: LM-PPL = exp(mean CE over lm); LM-Correctness = (index of the first wrong argmax in lm) / #lm, 1 if none;
frame_diff = #stream − i − 1 for the first stream position i whose argmax ≠ `,` (0 on time, > 0 early); if none:
0 for the last turn, else k = min(#frames of the next turn, #stream − 1) real next frames are appended as silent
frames after the turn's last `<v>` and the first non-`,` at appended index j gives −(j+1), none −k (k = 0 → 0);
Fluency (turns with both kinds) = (#stream + correct lm prefix)/total if frame_diff = 0, (#stream − frame_diff)/total
if > 0, (#stream − 1)/total if < 0; total = #stream + #lm. Empty lists: PPL 1, correctness 1, fluency 1, diff 0.
Aggregates: means over turns (a stream) or over samples (training); TimeDiff = mean |frame_diff| / fps (s).

Imports: torch, engine.protocol/template. Never ROS, never train/replay (both import this).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from .protocol import StreamState, in_run_frames_ids
from .template import EOT_ID, FRAME_NUM_TOKENS, SILENT_ID, TEXT_VOCAB_SIZE, V_TOKEN_ID

IGNORE = -100
# forward(ids LongTensor [L], frames [F, 10, D]) -> float logits [L, V]
ForwardFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


# ------------------------------------------------------------------ shared scoring
@dataclass(frozen=True)
class TurnScore:
    frames: int
    lm_tokens: int
    ppl: float | None            # None: the turn has no lm positions
    correctness: float | None
    frame_diff: int | None       # None: the turn has no stream positions
    fluency: float | None        # only turns with both kinds


def _fired(stream_pred: Sequence[int]) -> int | None:
    return next((i for i, p in enumerate(stream_pred) if p != SILENT_ID), None)


def score_turn(stream_pred: Sequence[int], lm_logits: torch.Tensor | None, lm_targets: torch.Tensor | None,
               late: Callable[[], int], last: bool) -> TurnScore:
    """Score one turn from its stream argmaxes and its lm logits/targets; `late()` probes a turn that never fired."""
    ppl = corr = fluency = None
    prefix, n_lm = 0, 0 if lm_targets is None else len(lm_targets)
    if n_lm:
        ppl = math.exp(float(F.cross_entropy(lm_logits.float(), lm_targets, reduction="mean")))
        wrong = (lm_logits.argmax(-1) != lm_targets).nonzero()
        prefix = int(wrong[0, 0]) if len(wrong) else n_lm
        corr = prefix / n_lm
    n = len(stream_pred)
    diff = None
    if n:
        i = _fired(stream_pred)
        diff = n - i - 1 if i is not None else (0 if last else late())
        if n_lm:
            total = n + n_lm
            fluency = ((n + prefix) if diff == 0 else (n - diff) if diff > 0 else (n - 1)) / total
    return TurnScore(n, n_lm, ppl, corr, diff, fluency)


def _first_nonsilent_of_appended(pred: Sequence[int], k: int) -> int:
    j = _fired(pred)
    return -(j + 1) if j is not None else -k


def _mean(xs, default):
    xs = [x for x in xs if x is not None]
    return sum(xs) / len(xs) if xs else default


# ------------------------------------------------------------------ labelled training samples
@dataclass
class Turn:
    stream: list = field(default_factory=list)     # positions
    lm: list = field(default_factory=list)
    last_v: int = -1                               # position of the turn's last `<v>` input


@dataclass
class SampleMetrics:
    ppl: float
    correctness: float
    frame_diff: float          # mean |frame_diff| in frames
    fluency: float
    turns: int


def sanitize_labels(labels: torch.Tensor) -> torch.Tensor:
    """Targets lm_head cannot emit (`<v>` and beyond) become `<|eot_id|>`, as upstream's collator does."""
    return torch.where(labels >= TEXT_VOCAB_SIZE, torch.full_like(labels, EOT_ID), labels)


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


def _late_in_sample(forward: ForwardFn, ids: torch.Tensor, frames: torch.Tensor, turn: Turn, k: int,
                    frame_tokens: int) -> int:
    used = int((ids[: turn.last_v + 1] == V_TOKEN_ID).sum()) // frame_tokens
    k = min(k, frames.shape[0] - used)
    if k <= 0:
        return 0
    extra, ends = in_run_frames_ids(k, frame_tokens, offset=turn.last_v + 1)
    logits = forward(torch.cat([ids[: turn.last_v + 1], torch.tensor(extra, dtype=ids.dtype)]), frames[: used + k])
    return _first_nonsilent_of_appended(logits[ends].argmax(-1).tolist(), k)


@torch.no_grad()
def sample_metrics(forward: ForwardFn, input_ids: torch.Tensor, labels: torch.Tensor, frames: torch.Tensor,
                   frame_tokens: int = FRAME_NUM_TOKENS) -> SampleMetrics:
    logits = forward(input_ids, frames)
    pred, labs = logits.argmax(-1), sanitize_labels(labels)
    turns = split_turns(input_ids, labels)
    scores = []
    for n, turn in enumerate(turns):
        lm = torch.tensor(turn.lm, dtype=torch.long)
        k = min(len(turns[n + 1].stream), len(turn.stream) - 1) if n + 1 < len(turns) else 0
        scores.append(score_turn(pred[torch.tensor(turn.stream, dtype=torch.long)].tolist(),
                                 logits[lm] if turn.lm else None, labs[lm] if turn.lm else None,
                                 lambda turn=turn, k=k: _late_in_sample(forward, input_ids, frames, turn, k,
                                                                        frame_tokens),
                                 last=n == len(turns) - 1))
    return SampleMetrics(ppl=_mean([s.ppl for s in scores], 1.0), correctness=_mean([s.correctness for s in scores], 1.0),
                         frame_diff=_mean([None if s.frame_diff is None else abs(s.frame_diff) for s in scores], 0.0),
                         fluency=_mean([s.fluency for s in scores], 1.0), turns=len(turns))


def aggregate(samples: list[SampleMetrics], fps: float = 2.0) -> dict:
    """Mean over samples → {lm_ppl, lm_correctness, time_diff (s), fluency, samples}."""
    if not samples:
        return {}
    n = len(samples)
    return {"lm_ppl": sum(s.ppl for s in samples) / n, "lm_correctness": sum(s.correctness for s in samples) / n,
            "time_diff": sum(s.frame_diff for s in samples) / n / fps,
            "fluency": sum(s.fluency for s in samples) / n, "samples": n}


# ------------------------------------------------------------------ reference streams through a backend
@dataclass(frozen=True)
class TurnPlan:
    frames: tuple[int, ...]     # indices into the frame list
    text: str


def plan_turns(frame_times: Sequence[float], refs: Sequence) -> tuple[list[TurnPlan], list[int], int]:
    """(turns, trailing frame indices, references dropped) for references (`.t`, `.text`) placed on frames."""
    replies: dict[int, str] = {}
    dropped = 0
    for u in sorted(refs, key=lambda u: u.t):
        f = next((i for i, t in enumerate(frame_times) if t >= u.t - 1e-9), None)
        if f is None or not u.text.strip():
            dropped += 1
            continue
        if f in replies:
            dropped += 1
        replies[f] = u.text.strip()
    turns, start = [], 0
    for f in sorted(replies):
        turns.append(TurnPlan(tuple(range(start, f + 1)), replies[f]))
        start = f + 1
    return turns, list(range(start, len(frame_times))), dropped


def _late_in_stream(backend, protocol, next_turn: TurnPlan, frames, n_stream: int) -> int:
    k = min(len(next_turn.frames), n_stream - 1)
    if k <= 0:
        return 0
    keep = backend.length
    ids, ends = in_run_frames_ids(k, protocol.frame_tokens)
    vis = torch.stack([frames[f][1] for f in next_turn.frames[:k]])
    try:
        pred = backend.prefill(ids, vis, ends).argmax(-1).tolist()
    finally:
        backend.truncate(keep)
    return _first_nonsilent_of_appended(pred, k)


@torch.no_grad()
def stream_metrics(backend, protocol, frames: Sequence[tuple[float, torch.Tensor]], refs: Sequence,
                   fps: float) -> dict[str, Any]:
    """Metrics of one reference stream. frames: [(t, vision tokens [10, Dv])] at the model fps."""
    turns, _, dropped = plan_turns([t for t, _ in frames], refs)
    backend.reset()
    per_turn, state = [], StreamState.START
    for k, turn in enumerate(turns):
        ids, ends = protocol.frames_ids(state, len(turn.frames))
        s_pred = backend.prefill(ids, torch.stack([frames[f][1] for f in turn.frames]), ends).argmax(-1).tolist()
        last = k == len(turns) - 1
        late = 0 if last or _fired(s_pred) is not None else \
            _late_in_stream(backend, protocol, turns[k + 1], frames, len(turn.frames))   # before the reply is fed
        r_ids, targets = protocol.forced_reply(turn.text)
        r_logits = backend.prefill(r_ids, None, list(range(len(r_ids))))               # [n_lm, V]
        s = score_turn(s_pred, r_logits, torch.tensor(targets, device=r_logits.device), lambda: late, last)
        per_turn.append({"frames": s.frames, "lm_tokens": s.lm_tokens, "ppl": s.ppl, "correctness": s.correctness,
                         "frame_diff": s.frame_diff, "fluency": s.fluency, "text": turn.text})
        state = protocol.state_after_reply()

    def mean(key: str, default: float) -> float:
        return _mean([p[key] for p in per_turn], default)

    return {"lm_ppl": mean("ppl", 1.0),
            "time_diff_s": sum(abs(p["frame_diff"]) for p in per_turn) / len(per_turn) / fps if per_turn else 0.0,
            "fluency": mean("fluency", 1.0), "lm_correctness": mean("correctness", 1.0),
            "turns": len(per_turn), "frames": len(frames), "refs_dropped": dropped, "per_turn": per_turn}
