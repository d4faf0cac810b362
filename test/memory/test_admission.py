"""Long-term admission (novelty τ + heartbeat) and adjacent-most-similar drop on synthetic descriptors."""
from __future__ import annotations

import numpy as np

from vstream_ros.engine.memory import Kind, MemoryConfig, MemoryManager, Tier, check_ids
from vstream_ros.engine.memory.simulate import FRAME_V, SINK_IDS
from vstream_ros.engine.protocol import AFTER_REPLY_IDS, REPLY_PROMPT_IDS
from vstream_ros.engine.template import SILENT_ID


def scenes(lengths, dim=64, noise=0.05, seed=0):
    """Descriptors: scene s for lengths[s] frames; returns (descs [N, dim], scene id per frame)."""
    rng = np.random.default_rng(seed)
    out, sid = [], []
    for s, n in enumerate(lengths):
        base = rng.standard_normal(dim)
        for _ in range(n):
            v = base + noise * rng.standard_normal(dim)
            out.append(v / np.linalg.norm(v))
            sid.append(s)
    return np.asarray(out, np.float32), sid


def feed(mgr, descs, fps=2.0, reply_after=(), events=None):
    for k, d in enumerate(descs):
        if k == 0:
            prefix = SINK_IDS
        elif k - 1 in reply_after:
            prefix = list(AFTER_REPLY_IDS)
        else:
            prefix = [SILENT_ID]
        mgr.ledger.stamp(k / fps)
        mgr.observe(prefix + FRAME_V, d[None])
        ev = mgr.step()
        if events is not None and ev is not None:
            events.append(ev)
        if k in reply_after:
            mgr.observe(list(REPLY_PROMPT_IDS) + [5000, 5001, 5002])
            ev = mgr.step()
            if events is not None and ev is not None:
                events.append(ev)


def expected_admissions(cuts_times, n, fps, tau_ok, heartbeat):
    """Independent rule: first frame, every scene cut, and every heartbeat since the last admission."""
    out, last = [], None
    for k in range(n):
        t = k / fps
        if last is None or k in cuts_times or t - last >= heartbeat:
            out.append(k)
            last = t
    return out


def test_admissions_at_scene_changes_and_heartbeats():
    lengths = [50, 350, 30, 570, 300]                      # long static scenes need heartbeats (60 s = 120 frames)
    descs, sid = scenes(lengths)
    cuts = {k for k in range(1, len(sid)) if sid[k] != sid[k - 1]}
    cfg = MemoryConfig(window_frames=16, block_frames=16, longterm_frames=500, text_tokens=0, text_pinned_tokens=0,
                       cap_tokens=20000)
    mgr = MemoryManager(cfg)
    events = []
    feed(mgr, descs, events=events)
    admitted = [i for ev in events for i in ev.admitted]
    released = len(descs) - mgr.ledger.n_recent
    want = expected_admissions(cuts, released, 2.0, True, 60.0)
    assert admitted == want
    assert {k for k in cuts if k < released} <= set(admitted)
    assert any(k not in cuts and k != 0 for k in admitted)            # heartbeats happened
    long_idx = [s.index for s in mgr.ledger.segs if s.kind is Kind.FRAME and s.tier is Tier.LONG]
    assert long_idx == want                                            # nothing else kept from outside W
    check_ids(mgr.ledger.ids(), open_tail=False)


def test_adjacent_most_similar_drop_keeps_distinct_frames():
    rng = np.random.default_rng(1)
    a, b, c = (v / np.linalg.norm(v) for v in rng.standard_normal((3, 64)).astype(np.float32))
    fresh, _ = scenes([1], seed=9)
    descs = np.concatenate([np.stack([a, a, a, b, b, c]), fresh])
    cfg = MemoryConfig(window_frames=6, block_frames=6, longterm_frames=3, text_tokens=0, text_pinned_tokens=0,
                       tau=1.0, heartbeat_s=1e-3, cap_tokens=4000)
    mgr = MemoryManager(cfg)
    events = []
    feed(mgr, descs, events=events)
    assert events[0].admitted == [0, 1, 2, 3, 4, 5]
    assert sorted(events[0].dropped) == [0, 1, 3]                      # older member of each redundant pair
    long_idx = [s.index for s in mgr.ledger.segs if s.kind is Kind.FRAME and s.tier is Tier.LONG]
    assert long_idx == [2, 4, 5]


def test_drop_keeps_one_frame_per_scene():
    descs, sid = scenes([8, 8, 8, 8, 8, 8], seed=3)
    cfg = MemoryConfig(window_frames=8, block_frames=8, longterm_frames=5, text_tokens=0, text_pinned_tokens=0,
                       tau=1.0, heartbeat_s=1e-3, cap_tokens=4000)
    mgr = MemoryManager(cfg)
    feed(mgr, descs)
    long_idx = [s.index for s in mgr.ledger.segs if s.kind is Kind.FRAME and s.tier is Tier.LONG]
    assert len(long_idx) == 5
    assert sorted(sid[i] for i in long_idx) == [0, 1, 2, 3, 4]         # one per released scene


def test_frame_before_a_turn_is_kept_and_counted_as_text():
    descs, _ = scenes([200], seed=4)                                  # one static scene: little is novel
    cfg = MemoryConfig(window_frames=16, block_frames=16, longterm_frames=50, text_tokens=200,
                       text_pinned_tokens=0, cap_tokens=4000)
    mgr = MemoryManager(cfg)
    feed(mgr, descs, reply_after={20, 33, 90})
    segs = mgr.ledger.segs
    for k in (20, 33, 90):
        i = next(j for j, s in enumerate(segs) if s.kind is Kind.FRAME and s.index == k)
        assert segs[i].tier is Tier.TEXT and segs[i + 1].kind is Kind.TURN
    check_ids(mgr.ledger.ids(), open_tail=False)


def test_text_fifo_unpins_nothing_and_keeps_first_turns():
    descs, _ = scenes([400], seed=5)
    replies = set(range(5, 380, 6))
    cfg = MemoryConfig(window_frames=16, block_frames=16, longterm_frames=20, text_tokens=60,
                       text_pinned_tokens=20, cap_tokens=4000)
    mgr = MemoryManager(cfg)
    feed(mgr, descs, reply_after=replies)
    turns = [(j, s) for j, s in enumerate(mgr.ledger.segs) if s.kind is Kind.TURN]
    pinned = [s for _, s in turns if s.pinned]
    assert pinned and sum(len(s) for s in pinned) <= 20
    first_frames = [mgr.ledger.segs[j - 1].index for j, _ in turns[:len(pinned)]]
    assert first_frames == sorted(replies)[:len(pinned)]              # the first turns survive
    outside_w = [s for j, s in turns if mgr.ledger.segs[j - 1].tier is not Tier.RECENT]
    text_outside_w = sum(len(s) for s in outside_w) + sum(
        len(mgr.ledger.segs[j - 1]) for j, s in turns if mgr.ledger.segs[j - 1].tier is Tier.TEXT)
    assert text_outside_w <= 60
    check_ids(mgr.ledger.ids(), open_tail=False)
