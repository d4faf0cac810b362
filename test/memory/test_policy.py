"""Ledger + policy over simulated streams (no model): boundedness, survival, grammar, host memory."""
from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from vstream_ros.engine.memory import Kind, MemoryConfig, MemoryManager, Tier, check_ids, kv_bytes
from vstream_ros.engine.memory.simulate import SINK_IDS, synthetic_stream

LLAMA3_8B = dict(layers=32, kv_heads=8, head_dim=128, dtype_bytes=2)


def drive(mgr, feeds, every=None):
    lengths = []
    for k, f in enumerate(feeds):
        mgr.observe(f.ids, f.descriptors)
        mgr.step()
        lengths.append(mgr.length)
        if every and k % every == 0:
            check_ids(mgr.ledger.ids())
    return lengths


def test_kv_bytes_formula():
    assert kv_bytes(1, **LLAMA3_8B) == 131072                      # 128 KiB per token (docs/design/memory.md §1.1)
    assert kv_bytes(6144, **LLAMA3_8B) == 768 * 2 ** 20


@pytest.mark.parametrize("kw,msg", [(dict(policy="lru"), "policy"), (dict(block_frames=300), "block_frames"),
                                    (dict(cap_tokens=4000), "cap_tokens"), (dict(tau=1.5), "tau"),
                                    (dict(text_pinned_tokens=2000), "text_pinned")])
def test_config_validation(kw, msg):
    with pytest.raises(ValueError, match=msg):
        MemoryConfig(**kw)


def test_default_budgets_match_spec():
    cfg = MemoryConfig()
    assert cfg.budget_tokens == 5808 and cfg.cap_tokens == 6144 and cfg.block_frames == 16


def test_100k_frames_bounded_default_config():
    """10^5 silent frames: the length after each eviction event is the same; max position constant."""
    cfg = MemoryConfig()
    mgr = MemoryManager(cfg)
    after_event, lengths = [], []
    for f in synthetic_stream(100_000, seed=3, p_reply=0.0, p_query=0.0, cut_every=25):
        mgr.observe(f.ids, f.descriptors)
        ev = mgr.step()
        lengths.append(mgr.length)
        if ev is not None:
            after_event.append(mgr.length)
    warm = len(lengths) // 10
    assert max(lengths[warm:]) <= cfg.cap_tokens
    assert max(lengths[warm: len(lengths) // 2]) == max(lengths[len(lengths) // 2:])      # max position constant
    assert len(set(after_event[len(after_event) // 10:])) == 1                          # same length every event
    assert kv_bytes(max(lengths), **LLAMA3_8B) <= kv_bytes(cfg.cap_tokens, **LLAMA3_8B)
    occ = mgr.occupancy()
    assert occ["frames_long"] == cfg.longterm_frames
    assert mgr.ledger.segs[0].ids == SINK_IDS
    check_ids(mgr.ledger.ids(), open_tail=False)


def test_30k_frames_with_turns_stress_config():
    """Replies and queries everywhere: cap, tier budgets, sink, pinned turns and order all hold."""
    cfg = MemoryConfig.stress()
    mgr = MemoryManager(cfg)
    pinned_ids = None
    max_len = 0
    for k, f in enumerate(synthetic_stream(30_000, seed=5, p_reply=0.03, p_query=0.01)):
        mgr.observe(f.ids, f.descriptors)
        mgr.step()
        if f.kind == "frame":
            max_len = max(max_len, mgr.length)
        if pinned_ids is None and any(s.kind is Kind.TURN and not s.pinned for s in mgr.ledger.segs):
            pinned_ids = [s.ids for s in mgr.ledger.segs if s.kind is Kind.TURN and s.pinned]
        if k % 3000 == 0 and k:
            led = mgr.ledger
            assert sum(led.tier_tokens.values()) + len(led.tail) == led.length == len(led.ids())
            assert led.segs[0].ids == SINK_IDS
            assert [s.ids for s in led.segs if s.kind is Kind.TURN and s.pinned] == pinned_ids
            idx = [s.index for s in led.segs if s.kind is Kind.FRAME]
            assert idx == sorted(idx)                                          # chronological
            occ = mgr.occupancy()
            assert occ["frames_long"] <= cfg.longterm_frames
            assert occ["frames_recent"] <= cfg.window_frames
            check_ids(led.ids())
    assert pinned_ids and sum(len(p) for p in pinned_ids) <= cfg.text_pinned_tokens
    assert max_len <= cfg.cap_tokens


@pytest.mark.parametrize("policy", ["window", "recent", "keyframes"])
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_grammar_after_every_eviction(policy, seed):
    rng = np.random.default_rng(seed)
    cfg = MemoryConfig.stress(policy=policy, window_frames=int(rng.integers(8, 40)), block_frames=4,
                              longterm_frames=int(rng.integers(2, 20)), cap_tokens=1500, text_tokens=300,
                              text_pinned_tokens=int(rng.integers(0, 100)), tau=float(rng.uniform(0.5, 1.0)))
    mgr = MemoryManager(cfg)
    n_events = 0
    for f in synthetic_stream(3000, seed=seed, p_reply=float(rng.uniform(0, 0.3)),
                              p_query=float(rng.uniform(0, 0.1)), cut_every=int(rng.integers(2, 30))):
        mgr.observe(f.ids, f.descriptors)
        if mgr.step() is not None:
            n_events += 1
            check_ids(mgr.ledger.ids())
            assert mgr.length <= cfg.cap_tokens
    assert n_events > 10


def test_window_policy_keeps_only_sink_and_recent():
    cfg = MemoryConfig(policy="window", window_frames=32, block_frames=8, cap_tokens=1024)
    mgr = MemoryManager(cfg)
    drive(mgr, synthetic_stream(2000, seed=4, p_reply=0.05, p_query=0.0))
    occ = mgr.occupancy()
    assert occ["long"] == 0 and occ["frames_recent"] <= 32
    frames = [s for s in mgr.ledger.segs if s.kind is Kind.FRAME]
    assert all(s.tier in (Tier.RECENT, Tier.TEXT) for s in frames)
    assert frames[0].index >= 2000 - 32 - 8 - 2                      # nothing old but a turn's frame


def test_full_policy_never_evicts():
    mgr = MemoryManager(MemoryConfig(policy="full"))
    lengths = drive(mgr, synthetic_stream(800, seed=1))
    assert lengths == sorted(lengths) and mgr.ledger.n_frames == 800


def test_truncate_mirrors_cache():
    mgr = MemoryManager(MemoryConfig.stress())
    feeds = list(synthetic_stream(100, seed=2, p_reply=0.2))
    drive(mgr, feeds)
    ids = mgr.ledger.ids()
    for n in (len(ids) - 1, len(ids) - 7, len(ids) - 30):
        mgr.truncate(n)
        assert mgr.ledger.ids() == ids[:n] and mgr.length == n
    mgr.observe(ids[n:n + 40])                                        # re-feed: same ledger again
    assert mgr.ledger.ids() == ids[:n + 40]


def test_host_structures_bounded():
    cfg = MemoryConfig.stress()
    mgr = MemoryManager(cfg)
    feeds = synthetic_stream(9_000, seed=7, p_reply=0.03, p_query=0.01)
    for _, f in zip(range(3000), feeds):
        mgr.observe(f.ids, f.descriptors)
        mgr.step()
    tracemalloc.start()
    try:
        samples = []
        for k, f in enumerate(feeds):
            mgr.observe(f.ids, f.descriptors)
            mgr.step()
            if k % 3000 == 2999:
                samples.append(tracemalloc.get_traced_memory()[0])
    finally:
        tracemalloc.stop()
    # Flat: the ledger holds at most cap tokens; later samples do not exceed the first by more than a frame's worth.
    assert max(samples) - samples[0] < 64 * 1024, samples


@pytest.mark.parametrize("policy", ["window", "recent", "keyframes"])
def test_reply_after_every_frame_stays_under_cap(policy):
    """VO's failure mode (a reply on every frame): one-frame runs leave with their turns, cap holds."""
    cfg = MemoryConfig.stress(policy=policy)
    mgr = MemoryManager(cfg)
    lengths = []
    for f in synthetic_stream(3000, seed=11, p_reply=1.0, p_query=0.0, max_reply=12):
        mgr.observe(f.ids, f.descriptors)
        if mgr.step() is not None:
            check_ids(mgr.ledger.ids())
        if f.kind == "frame":
            lengths.append(mgr.length)
    assert max(lengths[500:]) <= cfg.cap_tokens
    assert mgr.ledger.segs[0].ids == SINK_IDS
