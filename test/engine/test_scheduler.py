"""Many streams, one model: each stream's decisions, reply ids and texts in an N-stream run (one Scheduler, one
copy of the weights, batched forwards) equal the same stream run alone (StreamSession, the single-stream oracle);
tiny published-layout model and the shipped demo model, float32 on CPU.

Batching changes which rows the matrix products see, which may move float rounding in the last bits: the logit
difference between a batched step and the same steps run alone is bounded by LOGIT_TOL (stated here, checked
below), and p_silent by P_TOL; decisions and texts must be identical."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from vstream_ros.engine.config import StreamConfig
from vstream_ros.engine.events import FrameDecision, QueryEvent, Response
from vstream_ros.engine.factory import build_backends
from vstream_ros.engine.llm_backend import Decode, Prefill, run_step, run_steps
from vstream_ros.engine.pipeline import PipelineConfig, StreamPipeline
from vstream_ros.engine.protocol import StreamState
from vstream_ros.engine.runtime.runtime_backend import RuntimeBackend
from vstream_ros.engine.scheduler import Scheduler
from vstream_ros.engine.session import StreamSession
from vstream_ros.testing.tiny import random_vision_tokens

LOGIT_TOL = 1e-4     # max |logit| difference, batched step vs the same requests alone (float32, CPU)
P_TOL = 1e-5         # max |p_silent| difference per frame decision
DEMO = Path(__file__).resolve().parents[2] / "models" / "demo"


def _key(events):
    """What must be identical: per event its kind, frame index/time/decision, reply ids/text/stop, query text."""
    out = []
    for e in events:
        if isinstance(e, FrameDecision):
            out.append(("frame", e.index, e.time, e.decision))
        elif isinstance(e, Response):
            out.append(("reply", e.time, e.frame_index, e.trigger, e.token_ids, e.text, e.stop, e.utterance_id))
        elif isinstance(e, QueryEvent):
            out.append(("query", e.time, e.text))
    return out


def _p(events):
    return [e.p_silent for e in events if isinstance(e, FrameDecision)]


def _alone(model, backend, frames, asks, cfg, name):
    events = []
    s = StreamSession(backend, model.protocol, cfg, on_event=events.append, session_id=name)
    for t, text in asks:
        s.ask(text, t)
    for tokens, t in frames:
        s.push_frame(tokens, t)
    s.flush()
    return events


def _together(model, backends, streams, asks, cfg, vision=None):
    """All streams through pipelines sharing one Scheduler; frames pushed round-robin, never dropped."""
    sched = Scheduler()
    logs = [[] for _ in streams]
    pipes = [StreamPipeline(b, model.protocol, cfg, vision=vision, on_event=log.append, name=f"s{i}",
                            options=PipelineConfig.reproducible(), scheduler=sched)
             for i, (b, log) in enumerate(zip(backends, logs))]
    for p, qs in zip(pipes, asks):
        for t, text in qs:
            p.ask(text, t)
    for k in range(max(len(s) for s in streams)):
        for p, frames in zip(pipes, streams):
            if k < len(frames):
                item, t = frames[k]
                (p.push_tokens if vision is None else p.push)(item, t)
    for p in pipes:
        p.finish(timeout=600)
    for p in pipes:
        p.close()
    sched.stop()
    return logs, sched


def _check(alone, together):
    assert _key(together) == _key(alone)
    assert max((abs(a - b) for a, b in zip(_p(alone), _p(together))), default=0.0) <= P_TOL


def test_batched_step_logits_match_each_stream_alone(tiny_model):
    """One SegmentRunner step over 3 streams (two prefills of different lengths and a decode) vs each alone."""
    many = RuntimeBackend.streams(tiny_model, 3, capacity=512)
    alone = [RuntimeBackend(tiny_model, capacity=512) for _ in range(3)]
    assert many[0].batch is many[2].batch is not None and many[0].model is many[1].model
    p = tiny_model.protocol
    reqs = []
    for k, n in enumerate((1, 3, 2)):
        ids, ends = p.frames_ids(StreamState.START, n)
        reqs.append(Prefill(ids, random_vision_tokens(n, seed=k), ends))
    got = run_steps(many, reqs)
    want = [run_step(b, r) for b, r in zip(alone, reqs)]
    assert many[0].batch.forwards == 1
    for g, w in zip(got, want):
        assert g.shape == w.shape and (g - w).abs().max().item() <= LOGIT_TOL
    toks = [int(w[-1].argmax()) for w in want]
    got = run_steps(many, [Decode(t) for t in toks])
    want = [run_step(b, Decode(t)) for b, t in zip(alone, toks)]
    for g, w in zip(got, want):
        assert g.shape == w.shape and (g - w).abs().max().item() <= LOGIT_TOL
    assert [b.length for b in many] == [b.length for b in alone]


def test_three_tiny_streams_on_one_model_equal_each_alone(tiny_model):
    cfg = StreamConfig(max_new_tokens=4)
    streams = [[(tok, 0.5 * i) for i, tok in enumerate(random_vision_tokens(24, seed=10 + k))] for k in range(3)]
    asks = [[(3.0, "What is here?")], [], [(0.0, "Hello?"), (7.25, "And now?")]]
    backends = build_backends(tiny_model, 3, memory_policy="full")
    logs, sched = _together(tiny_model, backends, streams, asks, cfg)
    assert sched.requests > sched.steps                  # steps really served several streams at once
    for k, frames in enumerate(streams):
        alone = _alone(tiny_model, RuntimeBackend(tiny_model), frames, asks[k], cfg, f"s{k}")
        assert any(isinstance(e, Response) for e in alone)
        _check(alone, logs[k])


@pytest.fixture(scope="module")
def demo_model():
    from vstream_ros.engine.checkpoint import load_live_model
    from vstream_ros.engine.config import ModelSpec
    if not (DEMO / "checkpoint").is_dir():
        pytest.fail("models/demo is missing")
    return load_live_model(ModelSpec(checkpoint=str(DEMO / "checkpoint"), llm=str(DEMO / "llm"),
                                     vision=str(DEMO / "vision"), device="cpu", dtype="float32"))


def test_four_demo_streams_on_one_model_equal_each_alone(demo_model):
    """The shipped demo model on 4 streams (the 3 held-out videos, the 4th plays the first again; 12 s each, raw
    frames through the vision workers), bounded memory (the product default), vs each stream alone through
    StreamSession."""
    from vstream_ros.demo.streams import load_stream, shipped_indices
    from vstream_ros.engine.frames import FrameClock
    from vstream_ros.engine.vision import encode_frames
    cfg = StreamConfig()
    videos = []
    shipped = shipped_indices(DEMO)
    for index in (shipped * 4)[:4]:
        clock = FrameClock(cfg.fps)
        videos.append([(rgb, t) for t, rgb in load_stream(DEMO, index).frames() if t < 12.0 and clock.accept(t)])
    backends = build_backends(demo_model, len(videos))
    logs, sched = _together(demo_model, backends, videos, [[] for _ in videos], cfg, vision=demo_model.vision)
    assert sched.requests > sched.steps
    replies = 0
    for k, frames in enumerate(videos):
        tokens = [(encode_frames(demo_model.vision, [rgb])[0], t) for rgb, t in frames]
        alone = _alone(demo_model, build_backends(demo_model, 1)[0], tokens, [], cfg, f"s{k}")
        replies += sum(isinstance(e, Response) for e in alone)
        _check(alone, logs[k])
    assert replies > 0 and math.isfinite(sum(_p(logs[0])))


def test_catch_up_frames_of_a_step_are_shared_among_streams(tiny_model, monkeypatch):
    """Each of N streams takes at most frames_per_step // N ready frames per catch-up prefill (at least 1), and
    never more than its own max_prefill_frames; decisions still cover every frame."""
    from vstream_ros.engine import decision
    taken = []
    step = decision.frames_step

    def frames_step(s, frames):
        taken.append(len(frames))
        return (yield from step(s, frames))
    monkeypatch.setattr(decision, "frames_step", frames_step)
    cfg = StreamConfig(max_new_tokens=2)
    for per_step, streams, cap in ((8, 2, 8), (3, 4, 8), (32, 1, 5)):
        taken.clear()
        sched = Scheduler(frames_per_step=per_step)
        backends = build_backends(tiny_model, streams, memory_policy="full")
        pipes = [StreamPipeline(b, tiny_model.protocol, cfg, name=f"s{i}", scheduler=sched, start=False,
                                options=PipelineConfig(overflow="block", max_backlog=64, vision_batch=16,
                                                       max_prefill_frames=cap))
                 for i, b in enumerate(backends)]
        for k, p in enumerate(pipes):
            for i, tok in enumerate(random_vision_tokens(12, seed=k)):
                p.push_tokens(tok, 0.5 * i)               # all queued before the workers start: full catch-ups
        for p in pipes:
            sched.add(p)                                  # every member known before the first frame is ready
        for p in pipes:
            p.start()
        for p in pipes:
            p.finish(timeout=120)
            p.close()
        sched.stop()
        assert max(taken) == min(cap, max(1, per_step // streams))
        assert sum(p.stats.frames_decided for p in pipes) == 12 * streams
    with pytest.raises(ValueError):
        Scheduler(frames_per_step=0)
