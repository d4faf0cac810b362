"""Fixtures of the viz tests: a free TCP port on 127.0.0.1 for the Foxglove server."""
import socket

import pytest


@pytest.fixture
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
