"""Shared pytest fixtures: the tiny VideoLLM-online checkpoint (built once per run) and its loaded model.

Tests never touch the network: the hub is switched off here.
"""
from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

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
