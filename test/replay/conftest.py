"""Fixtures of the replay tests: tiny-model engine factory and synthetic camera frames."""
from __future__ import annotations

import numpy as np
import pytest


def _varied_frames(n: int = 40, hz: float = 10.0, t0: float = 100.0, seed: int = 0, size=(96, 128)):
    """(t, rgb) frames whose brightness changes, so the tiny model both stays silent and speaks."""
    rng = np.random.default_rng(seed)
    return [(t0 + i / hz, (np.full((*size, 3), (i * 37) % 200, np.uint8)
                           + rng.integers(0, 55, (*size, 3), dtype=np.uint8))) for i in range(n)]


@pytest.fixture(scope="session")
def live_model(tiny_paths):
    from vstream_ros.engine.checkpoint import load_live_model
    return load_live_model(tiny_paths.spec())


@pytest.fixture()
def make_engine(live_model):
    """make_engine(backend="reference", **StreamConfig overrides) -> a fresh host.build.Engine."""
    from vstream_ros.engine.config import StreamConfig
    from vstream_ros.engine.factory import build_backend
    from vstream_ros.host.build import Engine

    def make(backend="reference", memory_policy="full", **kw):
        kw.setdefault("max_new_tokens", 4)
        cfg = StreamConfig(**kw)
        return Engine(live_model, build_backend(live_model, backend, memory_policy, fps=cfg.fps), cfg)
    return make


@pytest.fixture(scope="session")
def varied_frames():
    """varied_frames(n=40, hz=10, t0=100, seed=0) -> [(t, rgb)] (see `_varied_frames`)."""
    return _varied_frames
