"""The synthetic world: determinism, ground-truth consistency, physical consistency of the script."""
from __future__ import annotations

import numpy as np
import pytest

from vstream_lab.synth.render import Renderer
from vstream_lab.synth.script import SynthConfig
from vstream_lab.synth.truth import ground_truth, video_uid
from vstream_lab.synth.world import World

SEEDS = (0, 1, 2, 3, 7)


def _world(seed=0, **kw):
    kw.setdefault("duration", 40.0)
    kw.setdefault("fps", 5.0)
    return World(SynthConfig(seed=seed, **kw))


def test_same_seed_same_frames_and_truth():
    a, b = _world(3), _world(3)
    assert ground_truth(a) == ground_truth(b)
    ra, rb = Renderer(a), Renderer(b)
    for i in range(0, a.num_frames, 7):
        assert np.array_equal(ra.frame(i), rb.frame(i)), f"frame {i} differs between two renders"
    # frames do not depend on render order
    assert np.array_equal(ra.frame(11), Renderer(a).frame(11))


def test_different_seeds_differ():
    a, b = _world(0), _world(1)
    assert video_uid(a.cfg) != video_uid(b.cfg)
    assert [e.text for e in a.script.events] != [e.text for e in b.script.events]
    assert not np.array_equal(Renderer(a).frame(0), Renderer(b).frame(0))


def test_frame_shape_and_type():
    w = _world(0, width=256, height=192)
    img = Renderer(w).frame(3)
    assert img.shape == (192, 256, 3) and img.dtype == np.uint8
    assert w.num_frames == 200


@pytest.mark.parametrize("seed", SEEDS)
def test_events_are_sequential_and_narrations_inside(seed):
    w = _world(seed, duration=60.0)
    ev = w.script.events
    assert len(ev) >= 6, "a minute should hold several tasks"
    names = {o.name for o in w.script.objects}
    for k, e in enumerate(ev):
        assert e.index == k
        assert 0.0 < e.start < e.end <= w.cfg.duration
        assert e.start <= e.time <= e.end
        assert e.text.startswith("#C C ") and e.obj in e.text and e.obj in names
        if k:
            assert ev[k - 1].end <= e.start, f"events {k - 1} and {k} overlap: one hand does one thing"
    assert [e.kind for e in ev] == ["pick", "place"] * (len(ev) // 2)


@pytest.mark.parametrize("seed", SEEDS)
def test_tasks_nest_their_steps(seed):
    w = _world(seed, duration=60.0)
    sc = w.script
    assert sum(len(t.events) for t in sc.tasks) == len(sc.events)
    for k, t in enumerate(sc.tasks):
        steps = [sc.events[i] for i in t.events]
        assert [s.kind for s in steps] == ["pick", "place"]
        assert all(s.task == t.index == k and s.obj == t.obj for s in steps)
        assert t.start == steps[0].start and t.end == steps[-1].end
        assert all(t.start <= s.start <= s.end <= t.end for s in steps)
        if k:
            assert sc.tasks[k - 1].end <= t.start
        if t.kind == "stack":
            assert steps[1].target == t.target and f"on the {t.target}" in steps[1].text
        if t.kind == "put_in":
            assert f"in the {t.target}" in steps[1].text


@pytest.mark.parametrize("seed", SEEDS[:3])
def test_hand_touches_object_at_grasp_and_carries_it(seed):
    w = _world(seed, duration=60.0)
    for e in w.script.events:
        hx, hy, hz = w.hand_at(e.time)
        placed = {p.spec.name: p for p in w.objects_at(e.time + 1e-3)}
        p = placed[e.obj]
        if e.kind == "pick":
            assert p.held and abs(p.x - hx) < 1e-6 and hz < 0.5, "object jumps to the hand at grasp"
            mid = (e.time + e.end) / 2
            q = {x.spec.name: x for x in w.objects_at(mid)}[e.obj]
            assert q.held and np.allclose((q.x, q.y), w.hand_at(mid)[:2])
        else:
            assert not p.held and np.hypot(p.x - hx, p.y - hy) < 1e-6, "object released where the hand is"
        assert w.active_event(e.time) is e or w.active_event(e.time).index == e.index


def test_objects_have_distinct_names_and_colours():
    for seed in range(10):
        objs = _world(seed).script.objects
        assert len({o.name for o in objs}) == len(objs) == len({o.colour for o in objs})
        assert sum(o.shape == "block" for o in objs) >= 2


def test_distractors_change_pixels_but_are_not_narrated():
    w = _world(0, duration=60.0)
    lights = [d for d in w.script.distractors if d.kind == "light"]
    assert lights, "a minute has at least one lighting change"
    d = lights[0]
    g = w.light((d.start + d.end) / 2)
    assert max(abs(x - 1.0) for x in g) > 0.05
    assert all(not e.text.lower().count("light") for e in w.script.events)


@pytest.mark.parametrize("bad", [dict(duration=1.0), dict(fps=0.0), dict(width=63), dict(n_objects=2),
                                 dict(needle_at=38.0), dict(needle_at=-1.0), dict(idle=(3.0, 1.0)),
                                 dict(hover=1.5)])
def test_config_validation(bad):
    kw = dict(duration=40.0)
    kw.update(bad)
    with pytest.raises(ValueError):
        SynthConfig(**kw)


@pytest.mark.parametrize("seed", SEEDS)
def test_hovers_happen_in_pauses_only(seed):
    w = _world(seed, duration=120.0, hover=1.0)
    hovers = [d for d in w.script.distractors if d.kind == "hover"]
    assert hovers, "with hover=1 every long pause has a hover"
    for d in hovers:
        assert all(d.end <= e.start or e.end <= d.start for e in w.script.events), f"hover {d} overlaps an event"
        mid = (d.start + d.end) / 2
        assert w.active_event(mid) is None
        assert all(not p.held for p in w.objects_at(mid))


def test_longer_pauses_give_fewer_events():
    dense = _world(0, duration=120.0, idle=(0.5, 1.0))
    sparse = _world(0, duration=120.0, idle=(8.0, 12.0))
    assert len(dense.script.events) > 1.5 * len(sparse.script.events)
