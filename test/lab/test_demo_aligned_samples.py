"""The lab's demo trainer builds memory-aligned samples with the product's code when its data.memory is set, and
records that layout as the trained context."""
from __future__ import annotations

import torch

from vstream_ros.engine.teacher_forced import IGNORE
from vstream_ros.train.dialogue import StreamDialogue


def _dialogue(uid: str, blocks: int = 30) -> StreamDialogue:
    conv = []
    for k in range(blocks):
        conv += [{"role": "stream", "num_frames": 2 + k % 4}, {"role": "assistant", "content": f"You take cup {k}."}]
    return StreamDialogue(id=uid, video_uid=uid, conversation=conv + [{"role": "stream", "num_frames": 2}])


def test_aligned_demo_samples_learn_every_label_once_within_the_cap(tokenizer):
    from vstream_lab.demo_model.llm_train import make_samples
    from vstream_lab.demo_model.train_demo import DataSettings
    d = _dialogue("w0")
    feats = {"w0": torch.randn(d.num_frames, 10, 16)}
    whole = make_samples([d], feats, tokenizer)
    aligned_cfg = DataSettings(memory={"policy": "recent", "recent_frames": 8, "budget_tokens": 400}).memory_settings()
    aligned = make_samples([d], feats, tokenizer, aligned_cfg)
    assert DataSettings().memory_settings() is None
    assert len(whole) == 1 and len(aligned) > 5
    n_labels = int((whole[0]["labels"] != IGNORE).sum())
    assert sum(int((x["labels"] != IGNORE).sum()) for x in aligned) == n_labels
    assert all(x["frames"].shape[0] <= 9 and x["input_ids"].numel() <= 400 + 60 for x in aligned)
