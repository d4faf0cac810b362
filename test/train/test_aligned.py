"""Memory-aligned training samples (train/aligned.py): the sample built for frame k equals, id for id and position
for position, what the runtime's bounded cache (BoundedBackend over the fast runtime) holds before frame k; every
label of the dialogue is learned exactly once; the config knobs are checked."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from vstream_ros.engine.memory import BoundedBackend, MemoryConfig, check_ids
from vstream_ros.engine.teacher_forced import IGNORE
from vstream_ros.engine.template import V_TOKEN_ID
from vstream_ros.testing.tiny import VISION_HIDDEN, llm_config
from vstream_ros.train.aligned import build_item, plan_dialogue, runtime_feeds
from vstream_ros.train.dialogue import encode_dialogue


def long_conversation(n_blocks: int, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    words = ["cup", "knife", "door", "table", "red", "box", "you", "take", "open", "put"]
    conv = []
    for k in range(n_blocks):
        conv.append({"role": "stream", "num_frames": int(rng.integers(1, 7))})
        if rng.random() < 0.25:
            conv.append({"role": "user", "content": f"What is the {words[k % 10]}?"})
        conv.append({"role": "assistant", "content": " ".join(rng.choice(words, int(rng.integers(2, 7)))) + "."})
    conv.append({"role": "stream", "num_frames": 3})
    return conv


@pytest.fixture(scope="module")
def tiny_llm():
    from vstream_ros.engine.live_model import LiveLlamaForCausalLM
    torch.manual_seed(0)
    return LiveLlamaForCausalLM(llm_config()).eval()


CONFIGS = {
    "keyframes": MemoryConfig(policy="keyframes", cap_tokens=420, window_frames=12, block_frames=4,
                              longterm_frames=6, text_tokens=90, text_pinned_tokens=20, tau=0.7, heartbeat_s=6.0),
    "window": MemoryConfig.sized("window", 260),
    "recent": MemoryConfig.sized("recent", 400, recent_frames=4),
}


@pytest.mark.parametrize("policy", list(CONFIGS))
def test_the_sample_for_frame_k_is_what_the_runtime_cache_holds_before_frame_k(tokenizer, tiny_llm, policy):
    from vstream_ros.engine.runtime.runtime_backend import RuntimeBackend
    cfg = CONFIGS[policy]
    enc = encode_dialogue(long_conversation(40, seed=1), tokenizer)
    ids = enc.input_ids
    n_frames = enc.num_frames
    gen = torch.Generator().manual_seed(2)
    feats = torch.randn(n_frames, 10, VISION_HIDDEN, generator=gen)
    # the runtime: the fast runtime's cache under BoundedBackend, fed piece by piece
    inner = RuntimeBackend(SimpleNamespace(llm=tiny_llm, device="cpu", dtype=torch.float32),
                           capacity=cfg.cap_tokens + 256)
    backend = BoundedBackend(inner, cfg)
    before: dict[int, list[int]] = {}          # frame k → the cache's ids before frame k is fed
    frame_at: dict[int, int] = {}              # frame k → position of its feed in the dialogue's ids
    frame, events = 0, 0
    with torch.no_grad():
        for a, b in runtime_feeds(ids):
            n = sum(1 for t in ids[a:b] if t == V_TOKEN_ID) // 10
            if n:
                assert n == 1
                before[frame] = backend.manager.ledger.ids()
                frame_at[frame] = a
                assert backend.length == len(before[frame])            # the KV cache holds exactly these
                backend.prefill(ids[a:b], feats[frame:frame + 1], [-1])
                frame += 1
            elif b - a == 1 and frame:
                backend.decode(ids[a])
            else:
                backend.prefill(ids[a:b], None, [-1])
            events += bool(backend.events)
    assert frame == n_frames and events >= 5
    # the training samples, from the same memory code
    plans = plan_dialogue(ids, enc.labels, feats[:, 0, :].numpy(), cfg, 2.0)
    checked = 0
    for plan in plans:
        item = build_item(ids, enc.labels, feats, plan)
        pos = plan.positions().tolist()
        check_ids(item["input_ids"].tolist())
        for k, a in frame_at.items():
            if plan.a <= a < plan.b:
                cut = pos.index(a)                                    # frame k's place in the sample
                assert item["input_ids"][:cut].tolist() == before[k], (policy, k)
                v_before = int((item["input_ids"][:cut] == V_TOKEN_ID).sum()) // 10
                held = [s.index for s in _frames_of(before[k], ids, pos[:cut])]
                assert len(held) == v_before
                assert torch.equal(item["frames"][:v_before], feats[held])   # the same frames, in order
                checked += 1
    assert checked >= n_frames - 1          # a stretch holding only the unlabelled last frame makes no sample


def _frames_of(prefix_ids, ids, positions):
    """Frame indices of the <v> runs in a sample prefix (original positions → frame numbers)."""
    v_all = [i for i, t in enumerate(ids) if t == V_TOKEN_ID]
    frame_of = {p: j // 10 for j, p in enumerate(v_all)}
    out = []
    for p in positions:
        if p in frame_of and (not out or out[-1].index != frame_of[p]):
            out.append(SimpleNamespace(index=frame_of[p]))
    return out


@pytest.mark.parametrize("policy", list(CONFIGS))
def test_every_label_is_learned_exactly_once(tokenizer, policy):
    enc = encode_dialogue(long_conversation(60, seed=3), tokenizer)
    feats = torch.randn(enc.num_frames, 10, VISION_HIDDEN)
    plans = plan_dialogue(enc.input_ids, enc.labels, feats[:, 0, :].numpy(), CONFIGS[policy], 2.0)
    learned = []
    for plan in plans:
        item = build_item(enc.input_ids, enc.labels, feats, plan)
        pos = plan.positions()
        lab = item["labels"].numpy()
        assert (lab[: pos.size - (plan.b - plan.a)] == IGNORE).all()            # the kept context: no loss
        learned += [int(p) for p, lb in zip(pos, lab) if lb != IGNORE]
        assert len(item["input_ids"]) <= CONFIGS[policy].cap_tokens + (plan.b - plan.a)
    want = [i for i, lb in enumerate(enc.labels) if lb != IGNORE]
    assert sorted(learned) == want


def test_memory_knobs_are_checked():
    from vstream_ros.train.cli_train import ConfigError, memory_settings
    assert memory_settings({}) is None
    cfg, every = memory_settings({"fps": 2.0, "memory": {"policy": "recent", "recent_frames": 4, "budget_tokens": 200,
                                                          "sample_every": 2}})
    assert (cfg.policy, cfg.window_frames, cfg.cap_tokens, every) == ("recent", 4, 200, 2)
    cfg, _ = memory_settings({"memory": {"policy": "keyframes", "budget_tokens": 6144, "window_frames": 120}})
    assert cfg.window_frames == 120 and cfg.longterm_frames == 192
    for bad, msg in (({"policy": "full"}, "must be one of"), ({"budget": 1}, "unknown key"),
                     ({"sample_every": 0}, "sample_every"), ({"budget_tokens": 10}, "data.memory")):
        with pytest.raises(ConfigError, match=msg):
            memory_settings({"memory": bad})
