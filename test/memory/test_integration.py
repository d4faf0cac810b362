"""BoundedBackend under the real StreamSession and StreamPipeline (tiny random Llama, CPU)."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from vstream_ros.engine.config import StreamConfig
from vstream_ros.engine.events import FrameDecision, Response
from vstream_ros.engine.memory import BoundedBackend, MemoryConfig, check_ids
from vstream_ros.engine.live_model import LiveLlamaForCausalLM
from vstream_ros.engine.runtime.runtime_backend import RuntimeBackend
from vstream_ros.engine.session import StreamSession
from vstream_ros.engine.template import load_tokenizer
from vstream_ros.engine.protocol import StreamProtocol
from vstream_ros.testing.tiny import VISION_HIDDEN, llm_config


@pytest.fixture(scope="module")
def parts():
    torch.manual_seed(0)
    llm = LiveLlamaForCausalLM(llm_config()).eval()
    return llm, StreamProtocol.build(load_tokenizer())


def bounded(llm, policy="keyframes"):
    inner = RuntimeBackend(SimpleNamespace(llm=llm, device="cpu", dtype=torch.float32), capacity=1024)
    mem = MemoryConfig(policy=policy, cap_tokens=700, window_frames=16, block_frames=4, longterm_frames=8,
                       text_tokens=160, text_pinned_tokens=40)
    return BoundedBackend(inner, mem)


def frames(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(10, VISION_HIDDEN, generator=g) for _ in range(n)]


def test_session_over_bounded_backend(parts):
    llm, protocol = parts
    backend = bounded(llm)
    plain = StreamSession(RuntimeBackend(SimpleNamespace(llm=llm, device="cpu", dtype=torch.float32),
                                         capacity=4096), protocol, StreamConfig(threshold=0.0, max_new_tokens=4))
    session = StreamSession(backend, protocol, StreamConfig(threshold=0.0, max_new_tokens=4))
    first_event = None
    got, want = [], []
    for k, v in enumerate(frames(50)):
        if k in (20, 40):
            session.ask("what is happening?", t=k / 2)
            plain.ask("what is happening?", t=k / 2)
        before = len(got)
        got += session.push_frame(v, k / 2)
        want += plain.push_frame(v, k / 2)
        if first_event is None and backend.manager.n_events:
            first_event = before
        check_ids(backend.manager.ledger.ids())
        assert backend.length == backend.manager.length <= 700 + 40
    assert first_event is not None
    # identical until the first eviction (policy changes nothing before it)
    def plain_json(events):     # the bounded backend adds per-tier occupancy ("cache") to frame events
        return [{k: v for k, v in e.to_json().items() if k != "cache"} for e in events]
    assert plain_json(got[:first_event]) == plain_json(want[:first_event])
    assert all("cache" in e.to_json() for e in got if isinstance(e, FrameDecision))
    assert sum(isinstance(e, FrameDecision) for e in got) == 50
    assert any(isinstance(e, Response) and e.trigger == "query" for e in got)


def test_pipeline_catch_up_crop_over_bounded_backend(parts):
    from vstream_ros.engine.pipeline import PipelineConfig, StreamPipeline
    llm, protocol = parts
    backend = bounded(llm)
    pipe = StreamPipeline(backend, protocol, StreamConfig(threshold=0.725, max_new_tokens=4),
                          options=PipelineConfig(max_backlog=200, max_prefill_frames=8), start=False)
    for k, v in enumerate(frames(60, seed=1)):
        pipe.push_tokens(v, k / 2)
    events = pipe.finish(timeout=120)
    pipe.close()
    assert sum(isinstance(e, FrameDecision) for e in events) == 60
    assert any(isinstance(e, Response) for e in events)          # crops happened inside catch-up prefills
    check_ids(backend.manager.ledger.ids())
    assert backend.length == backend.manager.length and backend.manager.cfg.cap_tokens + 100 >= backend.length
