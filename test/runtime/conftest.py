"""Fixtures of the runtime tests: the tiny checkpoint (from test/conftest.py); `same_events` is in test/conftest.py."""
import pytest


@pytest.fixture(scope="session")
def tiny_live(tiny_model):
    return tiny_model


@pytest.fixture(scope="session")
def tiny_live_peft(tiny_paths):
    from vstream_ros.engine.checkpoint import load_live_model
    return load_live_model(tiny_paths.spec(merge_lora=False))
