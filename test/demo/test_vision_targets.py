"""Vision pre-training targets and losses of the demo tower: the dense patch labels sit on the objects as
drawn (held / touched object in its own classes), the balanced losses are wired, and a tiny tower learns
the patch labels of a few frames (the loss falls) without pre-training anything big.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vstream_lab.demo_model.data import (
    PATCH_CLASSES,
    PATCH_SHAPE_CLASSES,
    SHAPE_NAMES,
    grid_len,
    make_config,
    patch_shape_targets,
    patch_targets,
    render_world,
    vision_targets,
)
from vstream_ros.engine.frames import letterbox_geometry
from vstream_lab.synth.labels import COLOUR_NAMES
from vstream_lab.synth.world import World

NC = len(COLOUR_NAMES)


@pytest.fixture(scope="module")
def world():
    return World(make_config(10_000, 30.0, 2.0))


def _patch_of(world, t, x, y, size=384, patch=32):
    """Patch (row, col) holding world point (x, y) at time t, through the camera and the letterbox."""
    i = min(int(round(t * world.cfg.fps)), world.cfg.num_frames - 1)
    u, v = world.world_to_pixel(i) @ np.array([x, y, 1.0])
    new_h, new_w, top, left = letterbox_geometry(world.cfg.height, world.cfg.width, size)
    u, v = left + u * new_w / world.cfg.width, top + v * new_h / world.cfg.height
    return int(v // patch), int(u // patch)


def test_patch_targets_mark_held_and_table_objects(world):
    pt = patch_targets(world, 2.0)
    vt = vision_targets(world, 2.0)
    assert pt.shape == (grid_len(world, 2.0), 12, 12) and pt.dtype == np.int64
    assert pt.min() >= 0 and pt.max() < PATCH_CLASSES
    held_frames = np.nonzero(vt["held"] > 0)[0]
    assert len(held_frames) >= 3, "the test world should contain a pick"
    for k in held_frames:
        colour = int(vt["held"][k]) - 1
        assert (pt[k] == 1 + NC + colour).any(), f"frame {k}: held {COLOUR_NAMES[colour]} not in the patch labels"
        # no other object is in the contact classes while one is held
        contact = {int(c) - 1 - NC for c in np.unique(pt[k]) if c > NC}
        assert contact == {colour}, (k, contact)
    # every object at rest inside the image is labelled, with its table class, at its own patch
    k = int(np.nonzero((vt["held"] == 0) & (vt["touch"] == 0))[0][0])
    placed = world.objects_at(k / 2.0)
    checked = 0
    for p in placed:
        covered = any(q is not p and q.level > p.level and math.hypot(q.x - p.x, q.y - p.y) < 0.2 for q in placed)
        r, c = _patch_of(world, k / 2.0, p.x - 0.008 * p.level, p.y - 0.012 * p.level)
        if 0 <= r < 12 and 0 <= c < 12 and not covered:
            assert pt[k, r, c] == 1 + COLOUR_NAMES.index(p.spec.colour), (k, p.spec.name, pt[k])
            checked += 1
    assert checked >= 3
    assert pt[k].max() <= NC, "nothing is held or touched in this frame"


def test_patch_shape_targets_name_the_shape_of_each_labelled_object(world):
    colour = patch_targets(world, 2.0)
    shape = patch_shape_targets(world, 2.0)
    assert shape.shape == colour.shape and shape.dtype == np.int64
    assert np.array_equal(shape > 0, colour > 0), "shape and colour labels cover the same patches"
    assert shape.max() < PATCH_SHAPE_CLASSES
    shape_of = {o.colour: SHAPE_NAMES.index(o.shape) for o in world.script.objects}
    assert len(set(shape_of.values())) >= 2, "the test world should hold objects of several shapes"
    # every labelled patch: the shape label is the shape of the object its colour label names
    c = colour[colour > 0] - 1
    named = np.array([shape_of[COLOUR_NAMES[i % NC]] for i in c])
    assert np.array_equal(shape[colour > 0] - 1, named)


def test_contact_target_covers_touch_and_hold(world):
    vt = vision_targets(world, 2.0)
    held, contact, touch, under = vt["held"], vt["contact"], vt["touch"], vt["under"]
    assert np.array_equal(contact[held > 0], held[held > 0])
    free = held == 0
    assert np.array_equal(contact[free], (under * touch)[free])
    # the frame before a pick onset shows the hand on the object it is about to lift: same colour
    onsets = np.nonzero(vt["onset"] == 1)[0]
    agree = [contact[k - 1] == held[k] for k in onsets if k > 0 and contact[k - 1] > 0]
    assert agree and np.mean(agree) >= 0.5, agree


def test_pretrain_vision_patch_loss_learns_and_checks_its_inputs():
    from vstream_lab.demo_model.train_demo import _frames_and_targets
    from vstream_lab.demo_model.vision_pretrain import VisionSettings, pretrain_vision

    s = VisionSettings(hidden=32, layers=1, heads=2, intermediate=64, patch=32, image_size=96, steps=60, batch=8,
                       lr=3e-3, patch_weight=1.0, shape_weight=1.0)
    w = render_world(make_config(10_001, 20.0, 2.0), 2.0, size=96)
    frames, targets = _frames_and_targets([w], 2.0, s)
    assert targets["patch"].shape == targets["patch_shape"].shape == (frames.shape[0], 3, 3)
    losses = []
    tower, acc = pretrain_vision(frames, targets, s, log=lambda line: losses.append(
        float(line.split("loss ")[1].split()[0])) if "vision step" in line else None, heldout=(frames, targets))
    assert not any(p.requires_grad for p in tower.parameters())
    assert losses[-1] < losses[0], losses
    for k in ("heldout/held_pos", "heldout/contact_pos", "heldout/under_pos", "heldout/onset_pos"):
        assert k in acc, sorted(acc)
        assert math.isnan(acc[k]) or 0.0 <= acc[k] <= 1.0
    bad = {k: v for k, v in targets.items() if k != "patch"}
    with pytest.raises(ValueError, match="patch_weight"):
        pretrain_vision(frames, bad, s, log=None)
    bad = {k: v for k, v in targets.items() if k != "patch_shape"}
    with pytest.raises(ValueError, match="shape_weight > 0 needs targets\\['patch_shape'\\]"):
        pretrain_vision(frames, bad, s, log=None)


def test_concat_releasing_equals_cat_and_releases_the_parts():
    from vstream_lab.demo_model.train_demo import _concat_releasing

    parts = [torch.arange(i * 12, i * 12 + 4 * 3, dtype=torch.uint8).view(-1, 3)[: i + 1] for i in range(4)]
    expected = torch.cat(parts)
    got = _concat_releasing(parts)
    assert torch.equal(got, expected) and got.dtype == torch.uint8
    assert parts == [], "each part is dropped once copied (peak RAM ≈ one copy of the frames)"


def test_pretrain_vision_sets_loads_one_set_at_a_time_and_splits_the_steps():
    import weakref

    from vstream_lab.demo_model.train_demo import DataSettings, _frames_and_targets
    from vstream_lab.demo_model.vision_pretrain import VisionSettings, pretrain_vision_sets

    s = VisionSettings(hidden=32, layers=1, heads=2, intermediate=64, patch=32, image_size=96, steps=7, batch=4,
                       lr=3e-3, patch_weight=1.0)
    events, alive = [], []

    def loader(r):
        def load():
            # the previous set is released before this one is loaded: RAM holds one set
            events.append(("load", r, [ref() is not None for ref in alive]))
            frames, targets = _frames_and_targets([render_world(make_config(10_000 + r, 8.0, 2.0), 2.0, size=96)],
                                                  2.0, s)
            alive.append(weakref.ref(frames))
            return frames, targets
        return load

    def log(line):
        if "vision step" in line or "vision set" in line:
            events.append(line.strip() if "vision set" in line else int(line.split()[2].split("/")[0]))

    tower, acc = pretrain_vision_sets([loader(0), loader(1), loader(2)], s, log=log)
    loads = [e for e in events if isinstance(e, tuple)]
    assert loads == [("load", 0, []), ("load", 1, [False]), ("load", 2, [False, False])], events
    sets = [e for e in events if isinstance(e, str)]
    assert [line.split(":")[0] for line in sets] == ["vision set 1/3", "vision set 2/3", "vision set 3/3"], sets
    assert [line.split("steps ")[1] for line in sets] == ["0…1", "2…3", "4…6"], sets     # 7 steps split 2 / 2 / 3
    assert [e for e in events if isinstance(e, int)] == [0, 6], events      # step lines: every 100th and the last
    assert not any(p.requires_grad for p in tower.parameters()) and "held" in acc
    events.clear()
    pretrain_vision_sets([loader(0), loader(1)], s, log=None, time_budget_s=0.0)   # out of time after one step:
    assert [e[1] for e in events] == [0], events                                     # set 2 is never rendered
    with pytest.raises(ValueError, match="at least one"):
        pretrain_vision_sets([], s, log=None)
    with pytest.raises(ValueError, match="vision_sets"):
        DataSettings(vision_sets=0)
