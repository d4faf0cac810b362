"""The stream host (vstream_ros/host) with the tiny published-layout model: the product path gives the synchronous
oracle's events, loses no model-clock frame while the model is busy, restarts in-band on a loop, cancels asks
cleanly and survives a failing step."""
import time

import pytest

from vstream_ros.bench.wrappers import ForcedLength, SlowBackend, _Wrapper
from vstream_ros.engine.config import StreamConfig
from vstream_ros.engine.events import FrameDecision, Response
from vstream_ros.engine.factory import build_backend
from vstream_ros.engine.pipeline import PipelineConfig
from vstream_ros.engine.runner import StreamRunner
from vstream_ros.engine.options import NODE_NAMES, EngineConfig
from vstream_ros.host.build import Engine
from vstream_ros.host.stream_host import HostOptions, StreamHost
from vstream_ros.testing.tiny import calibration_images

CFG = StreamConfig(max_new_tokens=6)


class Recorder:
    def __init__(self):
        self.events, self.texts, self.narrations = [], [], []

    def on_event(self, ev):
        if isinstance(ev, (FrameDecision, Response)):
            self.events.append(ev)

    def publish_text(self, text, stamp):
        self.texts.append((text, stamp))

    def publish_narration(self, fields):
        self.narrations.append(fields)


def oracle(model, backend, images, cfg=CFG):
    runner = StreamRunner(model, backend, cfg)
    out = []
    for i, im in enumerate(images):
        out += [e for e in runner.push(im, 100 + i * 0.5) if isinstance(e, (FrameDecision, Response))]
    return out


def host_run(model, backend, images, options=None, cfg=CFG, t0=100.0):
    rec = Recorder()
    host = StreamHost(Engine(model, backend, cfg), rec, options or HostOptions(pipeline=PipelineConfig.reproducible()))
    host.start()
    for i, im in enumerate(images):
        host.submit(im, t0 + i * 0.5, (int(t0) + i // 2, 500_000_000 * (i % 2)))
    host.finish(timeout=120)
    host.stop()
    return host, rec


@pytest.mark.parametrize("backend", ["reference", "runtime"])
def test_host_runtime_gives_the_synchronous_oracles_events(tiny_model, same_events, backend):
    images = calibration_images(24, seed=5)
    expected = oracle(tiny_model, build_backend(tiny_model, backend, "full"), images)
    host, rec = host_run(tiny_model, build_backend(tiny_model, backend, "full"), images)
    same_events(rec.events, expected)
    replies = [e for e in expected if isinstance(e, Response)]
    assert replies and [t for t, _ in rec.texts] == [r.text for r in replies]
    s = host.stats()
    assert s["frames_decided"] == 24 and s["frames_lost"] == 0 and s["frames_sampled"] == 24


def test_live_options_lose_no_model_frame_while_the_model_is_busy(tiny_model, same_events):
    """A 30 Hz camera pushed in real time while every forward takes 20 ms and replies are forced long: the 2 fps
    model frames queue instead of being dropped, and the decisions equal the oracle's."""
    images = calibration_images(12, seed=9)
    cfg = StreamConfig(max_new_tokens=8)
    slow = ForcedLength(SlowBackend(build_backend(tiny_model, "runtime", "full"), 0.02))
    expected = oracle(tiny_model, ForcedLength(build_backend(tiny_model, "runtime", "full")), images, cfg)
    rec = Recorder()
    host = StreamHost(Engine(tiny_model, slow, cfg), rec, HostOptions())      # live: overflow "drop"
    host.start()
    for k in range(12 * 15):                                                 # 15 camera frames per model frame
        host.submit(images[k // 15], 100 + k / 30, None)
        time.sleep(1 / 30 / 4)
    host.finish(timeout=120)
    host.stop()
    s = host.stats()
    assert s["frames_sampled"] == 12 and s["off_grid"] == 12 * 14 and s["frames_lost"] == 0
    assert [e.time for e in rec.events if isinstance(e, FrameDecision)] == \
        [e.time for e in expected if isinstance(e, FrameDecision)]
    assert [e.text for e in rec.events if isinstance(e, Response)] == \
        [e.text for e in expected if isinstance(e, Response)]


def test_a_loop_back_in_time_restarts_the_stream_in_band(tiny_model):
    """The same 5 s played twice (a bag --loop): the second pass must replay the first exactly (fresh session)."""
    images = calibration_images(10, seed=2)
    rec = Recorder()
    h = StreamHost(Engine(tiny_model, build_backend(tiny_model, "runtime", "full"), CFG), rec,
                    HostOptions(pipeline=PipelineConfig.reproducible()))
    h.start()
    for rep in range(2):
        for i, im in enumerate(images):
            assert h.submit(im, 100 + i * 0.5) == ("loop" if rep and i == 0 else "ok")
    h.finish(timeout=120)
    h.stop()
    first, second = rec.events[:len(rec.events) // 2], rec.events[len(rec.events) // 2:]
    assert [(type(e), e.time, getattr(e, "text", None)) for e in first] == \
        [(type(e), e.time, getattr(e, "text", None)) for e in second]
    assert h.stats()["stream_restarts"] == 1 and h.stats()["resets"] == 1 and h.stats()["frames_lost"] == 0


def test_an_ask_is_cancelled_mid_answer_and_the_stream_goes_on(tiny_model):
    rec = Recorder()
    backend = ForcedLength(build_backend(tiny_model, "runtime", "full"))       # answers never end by themselves
    host = StreamHost(Engine(tiny_model, backend, StreamConfig(max_new_tokens=50)), rec,
                       HostOptions(pipeline=PipelineConfig.reproducible()))
    host.start()
    images = calibration_images(4, seed=1)
    host.submit(images[0], 100.0)
    chunks = []

    def on_chunk(text):
        chunks.append(text)
        if len(chunks) == 3:
            ticket.cancel()
    ticket = host.ask("what is this?", on_chunk=on_chunk)
    assert ticket.done.wait(60)
    assert ticket.error == "cancelled" and ticket.stop == "cancelled" and ticket.utterance_id
    assert 3 <= len(chunks) < 50 and ticket.answer
    for i, im in enumerate(images[1:], 1):
        host.submit(im, 100.0 + i * 0.5)
    host.finish(timeout=60)
    host.stop()
    answer = [e for e in rec.events if isinstance(e, Response) and e.trigger == "query"]
    assert answer and answer[0].stop == "cancelled" and len(answer[0].token_ids) == len(chunks)
    assert host.stats()["frames_decided"] == 4
    late = host.ask("too late")
    late.cancel()
    host.start()
    assert late.done.wait(10) and late.error == "cancelled" and not late.answer
    host.stop()


class FailsOnce(_Wrapper):
    def __init__(self, backend):
        super().__init__(backend)
        self.calls = 0

    def prefill(self, ids, vision_tokens, logits_at):
        self.calls += 1
        if self.calls == 3:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return self.inner.prefill(ids, vision_tokens, logits_at)


def test_a_failing_step_is_reported_once_and_the_stream_goes_on(tiny_model):
    logs = []
    rec = Recorder()
    host = StreamHost(Engine(tiny_model, FailsOnce(build_backend(tiny_model, "runtime", "full")), CFG), rec,
                       HostOptions(pipeline=PipelineConfig.reproducible()), log=lambda lvl, msg: logs.append((lvl, msg)))
    host.start()
    for i, im in enumerate(calibration_images(8, seed=4)):
        host.submit(im, 100 + i * 0.5)
    host.finish(timeout=120)
    host.stop()
    s = host.stats()
    assert s["engine_errors"] == 1 and s["dropped_error"] >= 1 and s["corrupt_frames"] == 0
    assert s["frames_decided"] + s["frames_lost"] == 8
    assert [lvl for lvl, _ in logs] == ["error"] and "out of memory" in logs[0][1]


def test_engine_config_is_checked_before_anything_loads():
    EngineConfig().check()                                           # defaults: runtime + auto + the model's budget
    assert EngineConfig().policy == "keyframes" and EngineConfig(backend="reference").policy == "full"
    EngineConfig(memory_budget_tokens=4096).check()                  # small budgets: the tiers shrink to fit
    with pytest.raises(ValueError, match="pass --memory-budget-tokens 76 or more"):
        EngineConfig(memory_budget_tokens=70).check()
    with pytest.raises(ValueError, match="pass memory.budget_tokens 76 or more"):
        EngineConfig(memory_policy="window", memory_budget_tokens=50).check(NODE_NAMES)
    with pytest.raises(ValueError, match="needs --backend runtime"):
        EngineConfig(backend="reference", memory_policy="window").check()
    with pytest.raises(ValueError, match=r"must be in \[0, 131072\]"):
        EngineConfig(memory_policy="full", memory_budget_tokens=-1).check()


def test_submit_decodes_only_the_frames_the_model_clock_wants(tiny_model):
    calls = []
    img = calibration_images(1)[0]

    def decode():
        calls.append(1)
        return img
    host = StreamHost(Engine(tiny_model, build_backend(tiny_model, "runtime", "full"), CFG), Recorder(),
                       HostOptions(pipeline=PipelineConfig.reproducible()))
    host.start()
    verdicts = [host.submit(decode, 100 + k / 30) for k in range(60)]            # 2 s of a 30 Hz camera
    host.finish(timeout=60)
    host.stop()
    assert len(calls) == 4 and verdicts.count("off_grid") == 56


def test_observers_see_exactly_the_frames_the_model_decides_on_and_every_event(tiny_model):
    seen, events = [], []

    class Watcher:                           # a HostObserver: frames (submitting thread) and events (model worker)
        on_frame = staticmethod(lambda t, rgb: seen.append((t, rgb)))
        on_event = staticmethod(events.append)

    class EventsOnly:                        # on_frame None: wants no frames
        on_frame = None
        on_event = staticmethod(lambda ev: None)
    images = calibration_images(12, seed=2)
    rec = Recorder()
    host = StreamHost(Engine(tiny_model, build_backend(tiny_model, "reference", "full"), CFG), rec,
                       HostOptions(pipeline=PipelineConfig.reproducible()), observers=(Watcher(), EventsOnly(), None))
    host.start()
    for i, im in enumerate(images):          # 4 Hz camera, 2 fps model clock: every other frame is off the grid
        host.submit(im, 100 + i * 0.25)
    host.finish(timeout=60)
    host.stop()
    decided = [e.time for e in rec.events if isinstance(e, FrameDecision)]
    assert [t for t, _ in seen] == decided and len(decided) == 6
    assert all(rgb is images[int(round((t - 100) / 0.25))] for t, rgb in seen)
    assert [e for e in events if isinstance(e, FrameDecision)] == [e for e in rec.events if isinstance(e, FrameDecision)]


def test_narration_window_is_what_the_bounded_memory_holds(tiny_model):
    """frames_in_window / window_start describe the model's context: past the window they stop growing."""
    backend = build_backend(tiny_model, "runtime", "window", 2672, 2.0)       # W 240 frames (MemoryConfig.sized)
    rec = Recorder()
    host = StreamHost(Engine(tiny_model, backend, CFG), rec, HostOptions(pipeline=PipelineConfig.reproducible()))
    host.start()
    images = calibration_images(8, seed=4)
    for i in range(300):                                     # 150 s at 2 fps; the window holds fewer frames
        host.submit(images[i % 8], 100 + i * 0.5)
    host.finish(timeout=300)
    host.stop()
    held = backend.occupancy()["frames_recent"] + backend.occupancy()["frames_long"]
    assert held < 300 and host.router.frames_in_window == held
    assert host.router.window_start == pytest.approx(100 + (300 - held) * 0.5)
    late = [n for n in rec.narrations if n["header"]["stamp"]["sec"] >= 100 + 150 - 10]
    assert all(n["frames_in_window"] <= held + 1 and n["window_start"]["sec"] > 100 for n in late)
