"""Model-free baseline narrators."""
from __future__ import annotations

import numpy as np
import pytest

from vstream_ros.engine.events import event_from_json
from vstream_ros.demo.baselines import (ChangeDetector, IntervalNarrator, SilentNarrator, Utterance, make_baseline,
                                         to_responses)
from vstream_lab.synth.render import Renderer
from vstream_lab.synth.script import SynthConfig
from vstream_lab.synth.world import World


@pytest.fixture(scope="module")
def stream():
    w = World(SynthConfig(seed=5, duration=90.0, fps=5.0))
    return w, list(Renderer(w).frames())


def test_silent_says_nothing(stream):
    assert SilentNarrator().run(stream[1]) == []


def test_interval_speaks_every_n_seconds(stream):
    utts = IntervalNarrator(every=4.0).run(stream[1])
    times = [u.time for u in utts]
    assert times[0] == pytest.approx(4.0) and len(utts) == 22
    assert np.allclose(np.diff(times), 4.0)
    assert all(u.text == utts[0].text for u in utts)


def test_interval_handles_gaps():
    frames = [(t, None) for t in (0.0, 1.0, 9.5, 10.0, 12.0)]
    assert [u.time for u in IntervalNarrator(every=2.0).run(frames)] == [9.5, 10.0, 12.0]


def test_change_detector_fires_near_events_more_than_far(stream):
    w, frames = stream
    utts = ChangeDetector().run(frames)
    assert len(utts) >= 5

    def near(t, pad=1.0):
        return any(e.start - pad <= t <= e.end + pad for e in w.script.events)

    grid = np.arange(0.0, w.cfg.duration, 0.1)
    near_frac = np.mean([near(t) for t in grid])
    hits = np.mean([near(u.time) for u in utts])
    assert hits > near_frac + 0.1, f"{hits:.2f} of firings near events vs {near_frac:.2f} of the time near events"
    # refractory period
    assert np.all(np.diff([u.time for u in utts]) >= 1.5 - 1e-9)


def test_change_detector_ignores_a_static_stream():
    img = np.full((60, 80, 3), 120, np.uint8)
    assert ChangeDetector().run((i / 5, img) for i in range(50)) == []
    dark = (img * 0.6).astype(np.uint8)      # global lighting change only
    seq = [(i / 5, img if i < 25 else dark) for i in range(50)]
    assert ChangeDetector().run(seq) == []


def test_responses_roundtrip_as_engine_events():
    rs = to_responses([Utterance(1.5, "C moves an object.")], fps=10.0)
    back = event_from_json(rs[0].to_json())
    assert back.time == 1.5 and back.frame_index == 15 and back.trigger == "proactive" and back.text == rs[0].text


def test_unknown_baseline():
    with pytest.raises(ValueError, match="unknown baseline"):
        make_baseline("oracle")
