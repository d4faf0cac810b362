"""Teacher-forced streaming metrics of the VideoLLM-online protocol (live-format.md §9) on a reference stream:
LM-PPL, TimeDiff, Fluency and LM-Correctness (LG-Match), computed with the model through an engine
`LLMBackend` (reference or runtime), θ = 0 (pure argmax).

Reference stream: the bag's frames at the model fps (same frame clock, letterbox and vision tower as the
replay) and the reference utterances, each placed at the first frame at or after its time (ceiled, as
upstream does for narration; two references on one frame keep the later text). Tokens follow the inference
template exactly: first prefix, `,` between frames, `]\\nAssistant: {text}` after the frame that should
speak, `<|eot_id|>\\n[` before the next frame. No instruction turn is added (the replay has none).

Turn k = the frames since the previous reply + reply k. Labelled positions (labels are next tokens):
`stream` = the last `<v>` of each frame (target `,`, the turn's last frame `]\\n`); `lm` = `]\\n`, `Assistant`,
`:` and the content tokens (targets `Assistant` … content, `<|eot_id|>`). Frames after the last reply
belong to no turn. Per turn:
- LM-PPL = exp(mean CE over lm); LM-Correctness = (index of first wrong argmax in lm) / #lm, 1 if none;
- frame_diff = #stream − i − 1 for the first stream position i with argmax ≠ `,` (0 on time, > 0 early);
  if none: 0 for the last turn, else the cache is cut after the turn's last `<v>`, k = min(#frames of the
  next turn, #stream − 1) real next frames are appended as `,` + 10 `<v>`, and the first non-`,` at
  appended index j gives −(j+1), none −k (k = 0 → 0); the cache is then restored;
- Fluency (turns with both kinds) = (#stream + correct lm prefix)/total if frame_diff = 0,
  (#stream − frame_diff)/total if > 0, (#stream − 1)/total if < 0; total = #stream + #lm.
Aggregates: means over turns; TimeDiff = mean |frame_diff| / fps (s). Empty lists: PPL 1, fluency 1,
correctness 1, frame_diff 0.

Imports: torch, numpy, the engine (frames, template), this package's bagio. Must not import rclpy.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from vstream_ros.engine.template import EOT_ID, FRAME_NUM_TOKENS, SILENT_ID, V_TOKEN_ID, StreamState
from vstream_ros.replay.metrics import Utterance


@dataclass(frozen=True)
class TurnPlan:
    frames: tuple[int, ...]     # indices into the frame list
    text: str


def plan_turns(frame_times: Sequence[float], refs: Sequence[Utterance]) -> tuple[list[TurnPlan], list[int], int]:
    """(turns, trailing frame indices, references dropped) for references placed on frames (ceiled)."""
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


def _first_wrong(pred: torch.Tensor, target: torch.Tensor) -> int:
    wrong = (pred != target).nonzero()
    return int(wrong[0, 0]) if len(wrong) else len(target)


def teacher_forced(backend, template, frames: Sequence[tuple[float, torch.Tensor]], refs: Sequence[Utterance],
                   fps: float) -> dict[str, Any]:
    """Metrics of one reference stream. frames: [(t, vision tokens [10, Dv])] at the model fps."""
    turns, _, dropped = plan_turns([t for t, _ in frames], refs)
    backend.reset()
    per_turn = []
    state = StreamState.START
    v_run = [V_TOKEN_ID] * FRAME_NUM_TOKENS
    for k, turn in enumerate(turns):
        ids, ends = [], []
        for n, _f in enumerate(turn.frames):
            ids += list(template.frame_prefix_ids(state if n == 0 else StreamState.IN_RUN)) + v_run
            ends.append(len(ids) - 1)
        vis = torch.stack([frames[f][1] for f in turn.frames])                   # [F, 10, Dv]
        s_logits = backend.prefill(ids, vis, ends)                                # [F, V]
        n_stream = len(turn.frames)
        s_pred = s_logits.argmax(-1)
        nonsilent = (s_pred != SILENT_ID).nonzero()
        if len(nonsilent):
            frame_diff = n_stream - int(nonsilent[0, 0]) - 1
        elif k == len(turns) - 1:
            frame_diff = 0
        else:
            frame_diff = _late_by(backend, turns[k + 1], frames, n_stream)
        content = list(template.encode(" " + turn.text))
        r_ids = list(template.reply_prompt_ids) + content
        r_logits = backend.prefill(r_ids, None, list(range(len(r_ids))))        # [n_lm, V]
        target = torch.tensor(r_ids[1:] + [EOT_ID], device=r_logits.device)
        ce = torch.nn.functional.cross_entropy(r_logits.float(), target, reduction="mean")
        n_lm = len(r_ids)
        prefix = _first_wrong(r_logits.argmax(-1), target)
        total = n_stream + n_lm
        if frame_diff == 0:
            fluency = (n_stream + prefix) / total
        elif frame_diff > 0:
            fluency = (n_stream - frame_diff) / total
        else:
            fluency = (n_stream - 1) / total
        per_turn.append({"frames": n_stream, "lm_tokens": n_lm, "ppl": math.exp(float(ce)),
                         "correctness": prefix / n_lm, "frame_diff": frame_diff, "fluency": fluency,
                         "text": turn.text})
        state = StreamState.AFTER_REPLY

    def mean(key: str, default: float) -> float:
        xs = [p[key] for p in per_turn]
        return sum(xs) / len(xs) if xs else default

    return {"lm_ppl": mean("ppl", 1.0), "time_diff_s": (sum(abs(p["frame_diff"]) for p in per_turn) / len(per_turn)
                                                       / fps) if per_turn else 0.0,
            "fluency": mean("fluency", 1.0), "lm_correctness": mean("correctness", 1.0),
            "turns": len(per_turn), "frames": len(frames), "refs_dropped": dropped, "per_turn": per_turn}


def _late_by(backend, next_turn: TurnPlan, frames, n_stream: int) -> int:
    """Append up to min(#next-turn frames, n_stream − 1) real next frames as silent frames; −(j+1) or −k."""
    k = min(len(next_turn.frames), n_stream - 1)
    if k <= 0:
        return 0
    keep = backend.length
    ids, ends = [], []
    for _ in range(k):
        ids += [SILENT_ID] + [V_TOKEN_ID] * FRAME_NUM_TOKENS
        ends.append(len(ids) - 1)
    vis = torch.stack([frames[f][1] for f in next_turn.frames[:k]])
    try:
        pred = backend.prefill(ids, vis, ends).argmax(-1)
    finally:
        backend.truncate(keep)
    nonsilent = (pred != SILENT_ID).nonzero()
    return -(int(nonsilent[0, 0]) + 1) if len(nonsilent) else -k


def encode_bag_frames(bag, model, fps: float, topic: str | None = None) -> tuple[list[tuple[float, torch.Tensor]],
                                                                                  dict[str, int]]:
    """Frames of the bag's image topic at the model fps as (t, vision tokens [10, Dv]); + skip counters."""
    from vstream_ros.engine.frames import FrameClock, letterbox, to_pixels
    from vstream_ros.interfaces.image_codec import ImageDecodeError
    from vstream_ros.replay.bagio import iter_images
    from vstream_ros.replay.driver import _decode
    clock = FrameClock(fps)
    out, skipped = [], {"undecodable": 0, "off_grid": 0}
    for m in iter_images(bag, topic):
        t = m.stamp_ns / 1e9
        try:
            rgb = _decode(m)
        except ImageDecodeError:
            skipped["undecodable"] += 1
            continue
        if not clock.accept(t):
            skipped["off_grid"] += 1
            continue
        with torch.inference_mode():
            tokens = model.vision.encode(to_pixels([letterbox(rgb, model.vision.image_size)]))[0]
        out.append((t, tokens))
    return out, skipped
