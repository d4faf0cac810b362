"""StreamPipeline vs StreamSession (same events when nothing is dropped) and the backpressure policy."""
import threading
from collections import deque

import pytest
import torch

from vstream_ros.bench.wrappers import ForcedLength, ScriptedDecisions, frame_speaks
from vstream_ros.engine.config import StreamConfig
from vstream_ros.engine.llm_backend import BackendBase
from vstream_ros.engine.events import (
    FrameDecision,
    QueryEvent,
    Response,
    UtteranceChunk,
)
from vstream_ros.engine.pipeline import (
    PipelineConfig,
    QueuedFrame,
    StreamPipeline,
    apply_backpressure,
)
from vstream_ros.engine.runtime.runtime_backend import RuntimeBackend
from vstream_ros.engine.session import StreamSession
from vstream_ros.testing.tiny import random_vision_tokens

CFG = StreamConfig(max_new_tokens=5)
FRAMES = 40


def scripted(live):
    return ForcedLength(ScriptedDecisions(RuntimeBackend(live), every=4))


def session_run(live, vision):
    """Reference: the synchronous session; asks a timed query during reply 1 and a 'now' query after reply 2."""
    s = StreamSession(scripted(live), live.protocol, CFG, emit_chunks=True)
    s.ask("what was that?", t=1.0)
    events, replies = [], 0
    for i in range(len(vision)):
        out = s.push_frame(vision[i], i * 0.5)
        events += out
        for e in out:
            if isinstance(e, Response) and e.trigger == "proactive":
                replies += 1
                if replies == 1:
                    s.ask("timed question", t=e.time + 0.25)
                elif replies == 2:
                    events += s.ask("right now?")
    return events + s.flush()


def test_pipeline_equals_session_with_midbatch_replies_and_queries_during_replies(tiny_live, same_events):
    vision = random_vision_tokens(FRAMES, seed=21)
    speaks = [frame_speaks(vision[i], 4) for i in range(FRAMES)]
    assert any(speaks[1:]) and not all(speaks)
    expected = session_run(tiny_live, vision)

    state = {"replies": 0}

    def on_event(e):       # runs on the LLM worker, in the middle of a reply
        if isinstance(e, UtteranceChunk) and e.trigger == "proactive" and e.seq == 0:
            state["replies"] += 1
            if state["replies"] == 1:
                pipe.ask("timed question", t=e.time + 0.25)
            elif state["replies"] == 2:
                pipe.ask("right now?")

    pipe = StreamPipeline(scripted(tiny_live), tiny_live.protocol, CFG, on_event=on_event, start=False,
                          options=PipelineConfig(max_backlog=FRAMES + 1, vision_batch=FRAMES))
    with pipe:
        pipe.ask("what was that?", t=1.0)
        for i in range(FRAMES):
            assert pipe.push_tokens(vision[i], i * 0.5)
        pipe.start()
        pipe.finish(timeout=300)
        got = pipe.events(chunks=True)
        stats = pipe.stats.as_dict()
    same_events(expected, got)
    assert stats["dropped"] == 0 and stats["frames_decided"] == FRAMES
    assert stats["midbatch_replies"] > 0 and stats["frames_reprefilled"] > 0
    assert stats["prefills"] < FRAMES                   # frames really were batched
    kinds = [type(e) for e in got]
    assert kinds.count(QueryEvent) == 3
    assert any(isinstance(e, FrameDecision) and e.decision is None for e in got)   # query at a frame's time


class Gate(BackendBase):
    """Wraps a backend; every prefill waits until the gate is opened (the LLM 'falls behind')."""

    def __init__(self, inner):
        self.inner, self.vocab_size, self.open = inner, inner.vocab_size, threading.Event()

    length = property(lambda self: self.inner.length)

    def reset(self):
        self.inner.reset()

    def truncate(self, n):
        self.inner.truncate(n)

    def prefill(self, *a):
        self.open.wait()
        return self.inner.prefill(*a)

    def decode(self, tok):
        return self.inner.decode(tok)


def test_frames_faster_than_the_llm_are_thinned_then_dropped_and_counted(tiny_live):
    vision = random_vision_tokens(60, seed=5)
    gate = Gate(RuntimeBackend(tiny_live))
    pipe = StreamPipeline(gate, tiny_live.protocol, StreamConfig(fps=10.0, max_new_tokens=2),
                          options=PipelineConfig(max_backlog=8, thin_fps=2.0, vision_batch=2))
    with pipe:
        pusher = threading.Thread(target=lambda: [pipe.push_tokens(vision[i], i * 0.1) for i in range(60)])
        pusher.start()
        pusher.join(timeout=60)
        assert not pusher.is_alive()          # the camera side never waits for the (blocked) LLM
        gate.open.set()
        events = pipe.finish(timeout=300)
        st = pipe.stats
    decided = [e for e in events if isinstance(e, FrameDecision)]
    assert st.frames_in == 60 and st.frames_skipped == 0
    assert st.dropped_thinned > 0 and st.dropped > 0
    assert len(decided) == st.frames_decided == 60 - st.dropped        # every frame decided or counted
    times = [e.time for e in decided]
    assert times == sorted(times) and len(set(times)) == len(times)   # no frame seen twice, order kept
    assert times[-1] == pytest.approx(5.9)                            # the newest frame survives


def frames_at(times):
    return deque(QueuedFrame(t, 0.0) for t in times)


def test_backpressure_thins_to_thin_fps_keeping_newest_then_drops_oldest():
    q = frames_at([0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75])
    assert apply_backpressure(q, 8, thin_fps=1.0) == (6, 0)
    assert [f.t for f in q] == [0.75, 1.75]
    q = frames_at([0.0, 0.1, 0.2, 0.3])           # all in one thin slot except none: thinning then dropping
    assert apply_backpressure(q, 4, thin_fps=0.5) == (3, 0)
    q = frames_at([0.0, 2.0, 4.0, 6.0])            # nothing to thin: drop the oldest
    assert apply_backpressure(q, 4, thin_fps=0.5) == (0, 1)
    assert [f.t for f in q] == [2.0, 4.0, 6.0]
    q = frames_at([0.0, 1.0])
    assert apply_backpressure(q, 4, thin_fps=1.0) == (0, 0) and len(q) == 2


def test_raw_frames_through_the_vision_worker_equal_the_runner(tiny_live, same_events):
    import numpy as np

    from vstream_ros.engine.runner import StreamRunner
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (48, 64, 3), dtype=np.uint8) for _ in range(6)]
    times = [0.0, 0.2, 0.5, 0.7, 1.0, 1.5]                     # 0.2 and 0.7 fall off the 2-fps grid
    runner = StreamRunner(tiny_live, ForcedLength(RuntimeBackend(tiny_live)), StreamConfig(max_new_tokens=3))
    expected = [e for rgb, t in zip(frames, times) for e in runner.push(rgb, t)] + runner.finish()
    with StreamPipeline(ForcedLength(RuntimeBackend(tiny_live)), tiny_live.protocol, StreamConfig(max_new_tokens=3),
                        vision=tiny_live.vision, options=PipelineConfig(vision_batch=3)) as pipe:
        accepted = [pipe.push(rgb, t) for rgb, t in zip(frames, times)]
        got = pipe.finish(timeout=300)
    assert accepted == [True, False, True, False, True, True]
    assert pipe.stats.frames_skipped == runner.stats.frames_skipped == 2
    assert sum(isinstance(e, FrameDecision) for e in got) == 4
    same_events(expected, got)


def test_reset_starts_a_fresh_stream(tiny_live):
    vision = random_vision_tokens(3, seed=2)
    with StreamPipeline(RuntimeBackend(tiny_live), tiny_live.protocol, StreamConfig(max_new_tokens=2)) as pipe:
        for i in range(3):
            pipe.push_tokens(vision[i], i * 0.5)
        first = pipe.finish(timeout=300)
        pipe.reset()
        assert pipe.events() == [] and pipe.backend.length == 0 and pipe.stats.frames_in == 0
        for i in range(3):
            pipe.push_tokens(vision[i], i * 0.5)
        again = pipe.finish(timeout=300)
    assert [(type(e), getattr(e, "decision", None)) for e in first] == \
           [(type(e), getattr(e, "decision", None)) for e in again]


def test_malformed_frames_are_counted_not_raised(tiny_live):
    import numpy as np
    with StreamPipeline(RuntimeBackend(tiny_live), tiny_live.protocol, StreamConfig(max_new_tokens=2),
                        vision=tiny_live.vision) as pipe:
        assert not pipe.push(np.zeros((8, 8), np.uint8), 0.0)
        assert not pipe.push(np.zeros((8, 8, 3), np.float32), 0.5)
        assert pipe.push(np.zeros((8, 8, 3), np.uint8), 1.0)
        events = pipe.finish(timeout=300)
    assert pipe.stats.corrupt == 2 and "uint8" in pipe.stats.last_error
    assert sum(isinstance(e, FrameDecision) for e in events) == 1


def test_pipeline_over_the_bounded_memory_backend_keeps_the_ledger_in_step(tiny_live):
    """Catch-up prefills + mid-batch crops on top of evictions: BoundedBackend raises if its ledger and the
    cache ever disagree; the cache must stay within its cap and every frame must be decided."""
    from vstream_ros.engine.memory import BoundedBackend, MemoryConfig
    cfg = MemoryConfig(policy="window", cap_tokens=200, window_frames=8, block_frames=2)
    bounded = BoundedBackend(RuntimeBackend(tiny_live, capacity=512), cfg)
    vision = random_vision_tokens(24, seed=21)
    lengths = []
    pipe = StreamPipeline(ForcedLength(ScriptedDecisions(bounded, every=4)), tiny_live.protocol, CFG,
                          on_event=lambda e: lengths.append(bounded.length), start=False,
                          options=PipelineConfig(max_backlog=25, vision_batch=24))
    with pipe:
        for i in range(24):
            pipe.push_tokens(vision[i], i * 0.5)
        pipe.start()
        events = pipe.finish(timeout=300)
    assert sum(isinstance(e, FrameDecision) for e in events) == 24
    assert pipe.stats.midbatch_replies > 0
    unbounded = 32 + 11 * 24                                   # sink + frames, replies not even counted
    assert bounded.length <= 200 < unbounded                    # evictions happened, cap held between forwards


class _VisionThatRunsOutOfMemory:
    """The tiny vision tower, failing like CUDA does on chosen calls (a RuntimeError subclass, as torch's OOM is)."""

    def __init__(self, vision, fail_calls):
        self.inner, self.fail_calls, self.calls = vision, set(fail_calls), 0
        self.image_size = vision.image_size

    def encode(self, pixels):
        self.calls += 1
        if self.calls in self.fail_calls:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return self.inner.encode(pixels)


def test_out_of_memory_in_the_vision_worker_is_an_engine_error_not_a_corrupt_frame(tiny_live):
    import numpy as np
    seen = []
    vision = _VisionThatRunsOutOfMemory(tiny_live.vision, fail_calls={2})
    frames = [np.full((8, 8, 3), 10 * i, np.uint8) for i in range(4)]
    with StreamPipeline(RuntimeBackend(tiny_live), tiny_live.protocol, StreamConfig(max_new_tokens=2),
                        vision=vision, options=PipelineConfig.reproducible(), on_error=seen.append) as pipe:
        for i, rgb in enumerate(frames):
            assert pipe.push(rgb, i * 0.5)
        events = pipe.finish(timeout=300)
    assert pipe.stats.corrupt == 0                                   # the frame was fine: the model failed
    assert pipe.stats.engine_errors == 1 and pipe.stats.dropped_error == 1
    assert len(seen) == 1 and isinstance(seen[0], torch.cuda.OutOfMemoryError)
    assert "out of memory" in pipe.stats.last_error
    assert sum(isinstance(e, FrameDecision) for e in events) == 3    # the stream goes on


def test_without_an_error_handler_a_model_failure_is_raised_not_counted(tiny_live):
    import numpy as np
    vision = _VisionThatRunsOutOfMemory(tiny_live.vision, fail_calls={1})
    with StreamPipeline(RuntimeBackend(tiny_live), tiny_live.protocol, StreamConfig(max_new_tokens=2),
                        vision=vision, options=PipelineConfig.reproducible()) as pipe:
        pipe.push(np.zeros((8, 8, 3), np.uint8), 0.0)
        with pytest.raises(RuntimeError, match="pipeline worker failed: CUDA out of memory") as err:
            pipe.finish(timeout=300)
    assert isinstance(err.value.__cause__, torch.cuda.OutOfMemoryError) and pipe.stats.corrupt == 0


def test_runner_counts_bad_pixels_but_raises_model_failures(tiny_live):
    import numpy as np

    from vstream_ros.engine.runner import StreamRunner
    runner = StreamRunner(tiny_live, RuntimeBackend(tiny_live), StreamConfig(max_new_tokens=2))
    assert runner.push(np.zeros((8, 8), np.uint8), 0.0) == [] and runner.stats.corrupt == 1
    runner.model = type("M", (), {"vision": _VisionThatRunsOutOfMemory(tiny_live.vision, fail_calls={1})})()
    with pytest.raises(torch.cuda.OutOfMemoryError):
        runner.push(np.zeros((8, 8, 3), np.uint8), 0.5)
    assert runner.stats.corrupt == 1
