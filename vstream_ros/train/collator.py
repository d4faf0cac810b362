"""Batch stream samples: right-pad ids with `<|eot_id|>` (labels −100, attention 0), explicit position ids
(0… per sample, so padding never shifts RoPE), and the frames of all samples concatenated in batch order —
the order in which `engine.live_model.embed_stream` fills `<v>` rows of the [B, L] ids.

Imports: torch, engine.template. Never ROS.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from vstream_ros.engine.template import EOT_ID, FRAME_NUM_TOKENS, V_TOKEN_ID

from .loss import IGNORE, sanitize_labels


@dataclass
class StreamCollator:
    pad_id: int = EOT_ID
    max_length: int | None = None        # None: no truncation (a dialogue is already capped in frames)

    def __call__(self, items: list[dict]) -> dict:
        if self.max_length is not None:
            too_long = [len(it["input_ids"]) for it in items if len(it["input_ids"]) > self.max_length]
            if too_long:
                raise ValueError(f"a sample has {too_long[0]} tokens > max_length {self.max_length}: "
                                 "lower data.max_frames")
        length = max(len(it["input_ids"]) for it in items)
        b = len(items)
        ids = torch.full((b, length), self.pad_id, dtype=torch.long)
        labels = torch.full((b, length), IGNORE, dtype=torch.long)
        mask = torch.zeros((b, length), dtype=torch.long)
        for i, it in enumerate(items):
            n = len(it["input_ids"])
            ids[i, :n] = it["input_ids"]
            labels[i, :n] = sanitize_labels(it["labels"])
            mask[i, :n] = 1
            if int((it["input_ids"] == V_TOKEN_ID).sum()) != FRAME_NUM_TOKENS * it["frames"].shape[0]:
                raise ValueError("sample has a different number of `<v>` placeholders than frames × 10")
        positions = (mask.cumsum(1) - 1).clamp(min=0)
        frames = torch.cat([it["frames"] for it in items]) if items else None
        return {"input_ids": ids, "labels": labels, "attention_mask": mask, "position_ids": positions,
                "frames": frames}
