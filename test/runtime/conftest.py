"""Fixtures of the runtime tests: the tiny checkpoint (from test/conftest.py) and an event comparator."""
import math

import pytest

from vstream_ros.engine.events import FrameDecision, Response

TOL = 1e-4


@pytest.fixture(scope="session")
def tiny_live(tiny_model):
    return tiny_model


@pytest.fixture(scope="session")
def tiny_live_peft(tiny_paths):
    from vstream_ros.engine.checkpoint import load_live_model
    return load_live_model(tiny_paths.spec(merge_lora=False))


def assert_same_events(a, b, tol=TOL):
    assert [type(e) for e in a] == [type(e) for e in b]
    for x, y in zip(a, b):
        if isinstance(x, FrameDecision):
            assert (x.index, x.time, x.decision) == (y.index, y.time, y.decision)
            assert math.isclose(x.p_silent, y.p_silent, abs_tol=tol)
        elif isinstance(x, Response):
            assert (x.token_ids, x.trigger, x.frame_index, x.stop, x.text) == \
                   (y.token_ids, y.trigger, y.frame_index, y.stop, y.text)
        else:
            assert x == y


@pytest.fixture(scope="session")
def same_events():
    """assert_same_events(a, b): decisions, replies and order equal; p_silent within TOL."""
    return assert_same_events
