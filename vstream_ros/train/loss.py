"""The stream loss of docs/design/stream-format.md §7: per-token cross-entropy on pre-shifted labels, weighted by
`stream_loss_weight` where the INPUT token is `<v>` (frame-end decisions) and 1 elsewhere (LM tokens) — or, for
LM tokens, a per-target-token weight when `token_weights` is given (e.g. object words up-weighted so a small
model learns to read them off the frames) —, summed and divided by the number of labelled positions.

Labels are pre-shifted (label[i] is the target for logits[i]); −100 is ignored; labels ≥ 128256 (`<v>`,
which lm_head cannot emit) are rewritten to `<|eot_id|>` as upstream's collator does.

Imports: torch and engine.{template, teacher_forced} only. Never ROS.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from vstream_ros.engine.teacher_forced import IGNORE, sanitize_labels
from vstream_ros.engine.template import TEXT_VOCAB_SIZE, V_TOKEN_ID

__all__ = ["IGNORE", "sanitize_labels", "stream_loss", "token_weight_table"]


def token_weight_table(weights: dict[int, float] | None) -> torch.Tensor | None:
    """{target token id: weight} → a [TEXT_VOCAB_SIZE] float table (1 elsewhere) for stream_loss; None/{} → None."""
    if not weights:
        return None
    table = torch.ones(TEXT_VOCAB_SIZE)
    for tid, w in weights.items():
        if not 0 <= int(tid) < TEXT_VOCAB_SIZE:
            raise ValueError(f"token weight for id {tid}: not a text token id (0…{TEXT_VOCAB_SIZE - 1})")
        if not float(w) >= 0:
            raise ValueError(f"token weight for id {tid} must be >= 0, got {w}")
        table[int(tid)] = float(w)
    return table


def stream_loss(logits: torch.Tensor, labels: torch.Tensor, input_ids: torch.Tensor,
                stream_loss_weight: float = 1.0, token_weights: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, dict]:
    """logits [..., V] (any dtype), labels / input_ids [...] aligned with logits; token_weights: optional
    [TEXT_VOCAB_SIZE] table (token_weight_table) weighting LM positions by their target token.

    Returns (loss, parts) where parts holds detached `stream_ce` / `lm_ce` means and the position counts.
    A batch with no labelled position gives a zero loss that still carries the graph.
    """
    labels = sanitize_labels(labels)
    mask = labels != IGNORE
    n = int(mask.sum())                                         # host sync: count of labelled positions
    if n == 0:
        return logits.sum() * 0.0, {"stream_ce": 0.0, "lm_ce": 0.0, "n_stream": 0, "n_lm": 0}
    sel_logits = logits[mask].float()                           # [n, V]
    ce = F.cross_entropy(sel_logits, labels[mask], reduction="none")   # [n]
    is_stream = input_ids[mask] == V_TOKEN_ID
    lm_weight = torch.ones_like(ce) if token_weights is None else token_weights.to(ce.device)[labels[mask]]
    weight = torch.where(is_stream, torch.full_like(ce, float(stream_loss_weight)), lm_weight)
    loss = (ce * weight).sum() / n
    with torch.no_grad():
        ns, nl = int(is_stream.sum()), int((~is_stream).sum())
        parts = {"stream_ce": float(ce[is_stream].mean()) if ns else 0.0,
                 "lm_ce": float(ce[~is_stream].mean()) if nl else 0.0, "n_stream": ns, "n_lm": nl}
    return loss, parts
