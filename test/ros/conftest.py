"""Fixtures for the ROS adapter tier: the rclpy test double (installed into sys.modules only inside fixtures),
a scripted engine (stand-in vision tower + LLM backend under the real stream host, pipeline and template) and
image message builders."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from vstream_ros.engine.llm_backend import BackendBase

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fake_rclpy  # noqa: E402



def _double(distro, **kw):
    with fake_rclpy.installed(distro, **kw) as handle:
        import rclpy
        rclpy.init()
        yield handle
        rclpy.try_shutdown()


@pytest.fixture(params=["humble", "jazzy"])
def ros(request):
    """The rclpy double for one distro, with vstream_msgs available."""
    yield from _double(request.param)


@pytest.fixture
def humble():
    """The Humble double only (tests that load a real model once, not per distro)."""
    yield from _double("humble")


@pytest.fixture
def ros_no_msgs():
    """The double without vstream_msgs (node must degrade to the String mirror)."""
    yield from _double("humble", with_vstream_msgs=False)


PROACTIVE_TEXT, ANSWER_TEXT = " Boil the water now.", " It is a kitchen."


class ScriptedVision:
    """A vision tower stand-in: 10 zero tokens per frame, records how many frames it encoded."""

    image_size, device = 16, "cpu"

    def __init__(self):
        self.encoded = 0

    def encode(self, pixels):
        import torch
        self.encoded += len(pixels)
        return torch.zeros(len(pixels), 10, 8)


class ScriptedBackend(BackendBase):
    """An LLM backend stand-in speaking on every `every`-th frame (P(silent) 0.3, else 0.9), replying
    PROACTIVE_TEXT to frames and ANSWER_TEXT to queries, token by token; records frames, queries and resets.
    `gate` (a threading.Event) can hold every forward until set, to simulate a slow model."""

    def __init__(self, protocol, every=2):
        from vstream_ros.engine.template import TEXT_VOCAB_SIZE
        self.protocol, self.every, self.vocab_size = protocol, every, TEXT_VOCAB_SIZE
        self.prompts, self.resets, self._len = [], 0, 0
        self._ends: list[int] = []                 # cache positions of the frames' last <v> (re-prefill safe)
        self._reply: list[int] = []
        self.gate = None
        self.proactive, self.answer = list(protocol.encode(PROACTIVE_TEXT)), list(protocol.encode(ANSWER_TEXT))

    @property
    def length(self):
        return self._len

    @property
    def frames(self):
        """Frames in the cache of this stream."""
        return len(self._ends)

    def reset(self):
        self.resets += 1
        self._len, self._ends = 0, []

    def truncate(self, n):
        self._len = n
        self._ends = [e for e in self._ends if e < n]

    def _logits(self, probs: dict):
        import math
        import torch
        out = torch.full((self.vocab_size,), -1e9)
        for tok, p in probs.items():
            out[tok] = math.log(p)
        return out

    def prefill(self, ids, vision_tokens, logits_at):
        import torch
        from vstream_ros.engine.template import EOT_ID, SILENT_ID, SPEAK_ID, V_TOKEN_ID
        if self.gate is not None:
            self.gate.wait(30)
        base, rows = self._len, []
        self._len += len(ids)
        for off in logits_at:
            pos = off + len(ids) if off < 0 else off
            if ids[pos] == V_TOKEN_ID:                         # a frame's last <v>: the decision
                self._ends.append(base + pos)
                speak = len(self._ends) % self.every == 0
                rows.append(self._logits({SILENT_ID: 0.3, SPEAK_ID: 0.7} if speak else {SILENT_ID: 0.9, SPEAK_ID: 0.1}))
            else:                                              # a reply or query prompt: the first token
                proactive = tuple(ids[-len(self.protocol.reply_prompt_ids):]) == self.protocol.reply_prompt_ids
                if not proactive:
                    self.prompts.append(self.protocol.decode(list(ids)))
                self._reply = list(self.proactive if proactive else self.answer) + [EOT_ID]
                rows.append(self._logits({self._reply.pop(0): 1.0}))
        return torch.stack(rows)

    def decode(self, token_id):
        from vstream_ros.engine.template import EOT_ID
        self._len += 1
        return self._logits({self._reply.pop(0) if self._reply else EOT_ID: 1.0})


@pytest.fixture(scope="session")
def scripted_template():
    from vstream_ros.engine.template import load_tokenizer
    from vstream_ros.engine.protocol import StreamProtocol
    return StreamProtocol.build(load_tokenizer())


@pytest.fixture
def scripted(scripted_template):
    """engine_factory for AssistantNode: values → a host.build.Engine over ScriptedVision + ScriptedBackend;
    the made engines are recorded in `scripted.made`."""
    from types import SimpleNamespace

    from vstream_ros.engine.config import StreamConfig
    from vstream_ros.host.build import Engine
    made = []

    def factory(values):
        model = SimpleNamespace(protocol=scripted_template, vision=ScriptedVision())
        from vstream_ros.engine.options import EngineConfig
        cfg = StreamConfig(fps=values["stream.fps"], threshold=values["stream.threshold"],
                           max_new_tokens=values["stream.max_new_tokens"],
                           recall=EngineConfig.from_values(values).recall_config(None))   # as load_engine: `on`
        backends = [ScriptedBackend(scripted_template) for _ in (values.get("cameras") or [""])]
        engine = Engine(model, backends[0], cfg, backends=tuple(backends))
        made.append(engine)
        return engine
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
