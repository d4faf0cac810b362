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


def test_llm_init_from_continues_a_saved_model_and_checks_its_shape(tmp_path):
    """llm.init_from (the long-stream stage, config/train/demo_long.yaml) starts from the saved weights, tied as
    saved; a config that does not describe the saved model is a one-line error naming the field."""
    import dataclasses

    import pytest

    from vstream_lab.demo_model.llm_train import LLMSettings, build_llm
    s = LLMSettings(hidden=16, layers=1, heads=2, kv_heads=1, intermediate=32, seed=3)
    first = build_llm(s, 8)
    first.save_pretrained(tmp_path / "llm")
    again = build_llm(dataclasses.replace(s, init_from=str(tmp_path / "llm"), seed=99), 8)
    for (name, a), (_, b) in zip(first.state_dict().items(), again.state_dict().items()):
        assert torch.equal(a, b), name
    assert again.lm_head.weight.data_ptr() == again.model.embed_tokens.weight.data_ptr()
    with pytest.raises(ValueError, match="hidden_size is 16, the config says 32"):
        build_llm(dataclasses.replace(s, hidden=32, init_from=str(tmp_path / "llm")), 8)
    with pytest.raises(ValueError, match="no config.json"):
        build_llm(dataclasses.replace(s, init_from=str(tmp_path / "nowhere")), 8)
