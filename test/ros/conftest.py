"""Fixtures for the ROS adapter tier: the rclpy test double (installed into sys.modules only inside fixtures),
a scripted engine runner that emits real engine event dataclasses, and image message builders."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fake_rclpy  # noqa: E402

from vstream_ros.engine.events import FrameDecision, QueryEvent, Response, UtteranceChunk  # noqa: E402


@pytest.fixture(params=["humble", "jazzy"])
def ros(request):
    """The rclpy double for one distro, with vstream_msgs available."""
    with fake_rclpy.installed(request.param) as handle:
        import rclpy
        rclpy.init()
        yield handle
        rclpy.try_shutdown()


@pytest.fixture
def ros_no_msgs():
    """The double without vstream_msgs (node must degrade to the String mirror)."""
    with fake_rclpy.installed("humble", with_vstream_msgs=False) as handle:
        import rclpy
        rclpy.init()
        yield handle
        rclpy.try_shutdown()


class ScriptedRunner:
    """Same methods as engine.runner.StreamRunner; speaks on every `every`-th pushed frame with two chunks."""

    def __init__(self, on_event, every=2, threshold=0.725):
        self.on_event, self.every, self.threshold = on_event, every, threshold
        self.pushed: list[float] = []
        self.asked: list[str] = []
        self.resets = 0
        self.stats = {"frames_in": 0, "frames_used": 0}
        self._u = 0

    def _emit(self, evs):
        for e in evs:
            self.on_event(e)
        return evs

    def _reply(self, t, idx, trigger, words, p):
        uid = f"s-{self._u}"
        self._u += 1
        chunks = [UtteranceChunk(uid, i, t, idx, trigger, w, False) for i, w in enumerate(words)]
        final = UtteranceChunk(uid, len(words), t, idx, trigger, "", True)
        return chunks + [final, Response(t, idx, trigger, "".join(words).strip(), (1, 2), "eos", uid, p)]

    def push(self, rgb, t):
        assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3
        self.stats["frames_in"] += 1
        self.stats["frames_used"] += 1
        idx = len(self.pushed)
        self.pushed.append(t)
        speak = (idx + 1) % self.every == 0
        p = 0.3 if speak else 0.9
        evs = [FrameDecision(idx, t, p, "respond" if speak else "silent")]
        if speak:
            evs += self._reply(t, idx, "proactive", ["Boil the", " water now."], p)
        return self._emit(evs)

    def ask(self, text, t=None):
        self.asked.append(text)
        t = self.pushed[-1] if self.pushed else 0.0
        return self._emit([QueryEvent(t, text)] + self._reply(t, len(self.pushed) - 1, "query",
                                                               ["It is", " a kitchen."], float("nan")))

    def set_threshold(self, x):
        self.threshold = x

    def finish(self):
        return []

    def reset(self):
        self.resets += 1
        self.pushed.clear()


@pytest.fixture
def scripted():
    """runner_factory for AssistantNode: values → (on_event → ScriptedRunner); the made runners are recorded."""
    made = []

    def factory(values):
        def make(on_event):
            r = ScriptedRunner(on_event)
            made.append(r)
            return r
        return make
    factory.made = made
    return factory


def image_msg(ros, h=6, w=8, encoding="rgb8", sec=100, nanosec=0, frame_id="cam", step=None, data=None):
    Image = ros.msg("sensor_msgs/msg/Image")
    m = Image()
    m.header.stamp.sec, m.header.stamp.nanosec, m.header.frame_id = sec, nanosec, frame_id
    m.height, m.width, m.encoding = h, w, encoding
    bpp = {"rgb8": 3, "bgr8": 3, "mono8": 1, "rgba8": 4}.get(encoding, 3)
    m.step = step if step is not None else w * bpp
    if data is None:
        data = np.random.default_rng(sec * 7 + nanosec).integers(0, 255, m.step * h, dtype=np.uint8).tobytes()
    m.data = data
    return m
