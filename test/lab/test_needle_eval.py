"""Streaming needle harness: plumbing on a tiny random Llama + scoring logic on a rigged backend."""
from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch

from vstream_ros.engine.memory import BoundedBackend, MemoryConfig
from vstream_ros.engine.live_model import LiveLlamaForCausalLM
from vstream_ros.engine.runtime.runtime_backend import RuntimeBackend
from vstream_ros.engine.template import load_tokenizer
from vstream_ros.engine.protocol import StreamProtocol
from vstream_lab.needle_eval import (NeedleConfig, SyntheticSource, needle_position, option_scores, run_needle,
                                       write_report)
from vstream_ros.testing.tiny import VISION_HIDDEN, llm_config


@pytest.fixture(scope="module")
def protocol():
    return StreamProtocol.build(load_tokenizer())


class RiggedBackend:
    """Always prefers the token of ` red`: accuracy must be exactly 1/len(options) per cell."""

    vocab_size = 128256

    def __init__(self, favourite: int):
        self.favourite, self.n = favourite, 0

    @property
    def length(self):
        return self.n

    def reset(self):
        self.n = 0

    def prefill(self, ids, vision, logits_at):
        self.n += len(ids)
        out = torch.zeros(len(logits_at), self.vocab_size)
        out[:, self.favourite] = 10.0
        return out

    def truncate(self, n):
        self.n = n


def test_config_validation():
    with pytest.raises(ValueError, match="depths"):
        NeedleConfig(depths=(1.5,))
    with pytest.raises(ValueError, match="longer than the needle"):
        NeedleConfig(lengths_s=(2.0,), needle_s=4.0)


def test_needle_position_bounds():
    assert needle_position(100, 8, 0.0) == 0 and needle_position(100, 8, 1.0) == 92


def test_scoring_and_rotation_on_rigged_backend(protocol):
    red = protocol.encode(" red")[0]
    cfg = NeedleConfig(lengths_s=(10.0, 20.0), depths=(0.0, 0.5, 1.0), items_per_cell=4)
    backend = RiggedBackend(red)
    report = run_needle(backend, protocol, SyntheticSource(4, 4), cfg)
    assert report["accuracy"] == [[0.25] * 3] * 2                       # answers rotate through all 4 options
    assert all(item["pred"] == 0 for item in report["items"])
    scores = option_scores(backend, protocol, "q?", ["red", "blue"])
    assert scores[0] > scores[1]


@pytest.mark.parametrize("policy", ["full", "keyframes"])
def test_needle_plumbing_on_tiny_model(protocol, tmp_path, policy):
    torch.manual_seed(0)
    llm = LiveLlamaForCausalLM(llm_config()).eval()
    inner = RuntimeBackend(SimpleNamespace(llm=llm, device="cpu", dtype=torch.float32), capacity=1024)
    mem = MemoryConfig(policy=policy, cap_tokens=600, window_frames=12, block_frames=4, longterm_frames=8,
                       text_tokens=64, text_pinned_tokens=0)
    backend = BoundedBackend(inner, mem)
    cfg = NeedleConfig(lengths_s=(10.0, 25.0), depths=(0.1, 0.9), items_per_cell=2, needle_s=2.0)
    report = run_needle(backend, protocol, SyntheticSource(VISION_HIDDEN, 4, seed=1), cfg)
    assert len(report["accuracy"]) == 2 and all(len(r) == 2 for r in report["accuracy"])
    assert all(0.0 <= a <= 1.0 for r in report["accuracy"] for a in r)
    assert len(report["items"]) == 8 and report["memory"] == policy
    long_item = max(it["cache_length"] for it in report["items"] if it["length_s"] == 25.0)
    if policy == "full":
        assert long_item > 50 * 11                                      # every frame still in the cache
    else:
        assert long_item <= (12 + 8) * 11 + 32 + 60                     # W + L frames, sink, question
    out = tmp_path / "needle.json"
    write_report(report, str(out))
    assert json.loads(out.read_text())["accuracy"] == report["accuracy"]
