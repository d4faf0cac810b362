"""Shared pytest fixtures: the tiny VideoLLM-online checkpoint (built once per run) and its loaded model.

Tests never touch the network: the hub is switched off here. Under pytest-xdist (the test command's `-n 2`) each
worker's torch, and every process it starts, gets the cores divided by the workers as its threads: two workers of two
intra-op threads each on two cores spin against each other (the demo training fixture took 492 s so, 282 s alone on
one thread).
"""
from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    _threads = str(max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"])))
    for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_var, _threads)

import math  # noqa: E402

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def tiny_paths(tmp_path_factory):
    """Paths (checkpoint, llm, vision) of a tiny checkpoint in the published layout."""
    from vstream_ros.testing.tiny import build_tiny_checkpoint
    return build_tiny_checkpoint(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="session")
def tiny_model(tiny_paths):
    """The tiny checkpoint loaded (LoRA merged, float32, CPU). Treat as read-only."""
    from vstream_ros.engine.checkpoint import load_live_model
    return load_live_model(tiny_paths.spec())


@pytest.fixture(scope="session")
def tokenizer():
    from vstream_ros.engine.template import load_tokenizer
    return load_tokenizer()


@pytest.fixture(scope="session")
def protocol(tokenizer):
    from vstream_ros.engine.protocol import StreamProtocol
    return StreamProtocol.build(tokenizer)


TOL = 1e-4


def assert_same_events(a, b, tol=TOL):
    from vstream_ros.engine.events import FrameDecision, Response

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
