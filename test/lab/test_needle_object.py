"""Needle variants: the needle is visible in its window only, and the question is answerable."""
from __future__ import annotations

import numpy as np
import pytest

from vstream_lab.synth import catalog as C
from vstream_lab.synth.render import Renderer
from vstream_lab.synth.script import SynthConfig
from vstream_lab.synth.truth import ground_truth
from vstream_lab.synth.world import World


def _pair(seed, at, dur=4.0):
    base = World(SynthConfig(seed=seed, duration=40.0, fps=5.0))
    nd = World(SynthConfig(seed=seed, duration=40.0, fps=5.0, needle_at=at, needle_duration=dur))
    return base, nd


@pytest.mark.parametrize("seed,at", [(0, 12.0), (4, 30.0)])
def test_needle_only_in_its_window(seed, at):
    base, nd = _pair(seed, at)
    rb, rn = Renderer(base), Renderer(nd)
    inside = []
    for i in range(nd.num_frames):
        t = nd.time_of(i)
        differs = not np.array_equal(rb.frame(i), rn.frame(i))
        if nd.needle.visible(t):
            inside.append(differs)
        else:
            assert not differs, f"frame {i} (t={t:.1f}s) outside the needle window differs"
    assert len(inside) == 20
    assert np.mean(inside) >= 0.9, "the needle must be visible in (almost) every frame of its window"


def test_needle_does_not_change_the_rest_of_the_truth():
    base, nd = _pair(2, 20.0)
    gb, gn = ground_truth(base), ground_truth(nd)
    assert gb["events"] == gn["events"] and gb["tasks"] == gn["tasks"] and gb["objects"] == gn["objects"]
    assert gb["needle"] is None and gn["needle"]["start"] == 20.0 and gn["needle"]["end"] == 24.0


def test_needle_pixels_have_the_needle_colour():
    _, nd = _pair(1, 10.0)
    img = Renderer(nd).frame(int(12.0 * nd.cfg.fps)).astype(int)
    col = np.array(nd.needle.rgb)
    close = (np.abs(img - col).sum(axis=2) < 60).sum()
    assert close > 40, "the needle should cover a visible patch of its own colour"


@pytest.mark.parametrize("seed", range(6))
def test_question_has_four_distinct_options_and_the_right_answer(seed):
    _, nd = _pair(seed, 15.0)
    q = nd.question
    assert len(q.options) == 4 and len(set(q.options)) == 4
    assert q.answer == nd.needle.name == q.options[q.answer_index]
    scene = {o.name for o in nd.script.objects} | {o.colour for o in nd.script.objects}
    needle_names = {C.needle_name(s, c) for s, c in C.NEEDLES}
    assert set(q.options) <= needle_names and not (set(q.options) & scene)
    assert q.ask_times == (29.0, 40.0)
    assert nd.needle.colour not in C.COLOURS and nd.needle.shape not in C.SHAPES
