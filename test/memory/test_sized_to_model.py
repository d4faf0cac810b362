"""Memory sized to the model: the `recent` policy, tiers that shrink to any budget from the sink + 4 frames, the
trained-context record, and the memory the engine derives from it (CLI and node paths) with one warning beyond it."""
from __future__ import annotations

import argparse
import json
import shutil

import pytest

from vstream_ros.engine.memory import Kind, MemoryConfig, MemoryManager, check_ids
from vstream_ros.engine.memory.budgets import FRAME_TOKENS, SINK_TOKENS
from vstream_ros.engine.memory.context import (CONTEXT_FILE, TrainedContext, context_of_samples, read_context,
                                               write_context)
from vstream_ros.engine.memory.simulate import synthetic_stream
from vstream_ros.engine.options import CLI_NAMES, NODE_NAMES, EngineConfig


def _frames(mgr):
    return [s.index for s in mgr.ledger.segs if s.kind is Kind.FRAME]


@pytest.mark.parametrize("k", [4, 60])
def test_recent_keeps_the_sink_and_exactly_the_last_k_frames(k):
    mgr = MemoryManager(MemoryConfig.sized("recent", 2048, recent_frames=k))
    n = 0
    for f in synthetic_stream(400, seed=3, p_reply=0.0, p_query=0.0):
        mgr.observe(f.ids, f.descriptors)
        mgr.step()
        n += 1
        assert _frames(mgr) == list(range(max(0, n - k), n))
    assert mgr.length == SINK_TOKENS + k * FRAME_TOKENS - 1            # the first kept frame has no `,`


def test_recent_with_replies_keeps_the_grammar_and_only_recent_frames():
    mgr = MemoryManager(MemoryConfig.sized("recent", 2048, recent_frames=4))
    for f in synthetic_stream(1500, seed=5, p_reply=0.2, p_query=0.05):
        mgr.observe(f.ids, f.descriptors)
        if mgr.step() is not None:
            check_ids(mgr.ledger.ids())
    frames = _frames(mgr)
    assert len(frames) <= 5 and frames[0] >= mgr.ledger.n_frames - 6
    assert mgr.occupancy()["long"] == 0


@pytest.mark.parametrize("policy", ["window", "keyframes"])
@pytest.mark.parametrize("cap", [76, 300, 1604, 6144, 20000])
def test_sized_tiers_fit_any_budget_from_the_sink_and_four_frames(policy, cap):
    cfg = MemoryConfig.sized(policy, cap)
    assert cfg.budget_tokens <= cap and cfg.window_frames >= 4
    if cap >= 5808:                                                     # today's tiers when they fit
        assert (cfg.window_frames, cfg.block_frames) == (240, 16)
    mgr = MemoryManager(cfg)
    for f in synthetic_stream(600, seed=1, p_reply=0.05, p_query=0.01):
        mgr.observe(f.ids, f.descriptors)
        if mgr.step() is not None:
            check_ids(mgr.ledger.ids())
            assert mgr.length <= cap or cap < 300          # a reply alone may outgrow a few-frame cap
        assert mgr.occupancy()["frames_recent"] <= cfg.window_frames


def test_record_round_trip_and_a_broken_record_is_one_line(tmp_path):
    ctx = context_of_samples([(120, 1500), (118, 1604), (2, 40)], 2.0, written_by="test")
    assert (ctx.frames, ctx.tokens, ctx.memory) == (120, 1604, None)
    write_context(tmp_path, ctx)
    assert read_context(tmp_path) == ctx and read_context(tmp_path / "none") is None
    (tmp_path / CONTEXT_FILE).write_text('{"format": 1, "frames": "x"}')
    with pytest.raises(ValueError, match="is not a trained-context record") as e:
        read_context(tmp_path)
    assert "\n" not in str(e.value)
    aligned = context_of_samples([(600, 5000)], 2.0, MemoryConfig.stress())
    assert aligned.layout == "keyframes" and aligned.default_memory(2.0) == MemoryConfig.stress()


def test_default_memory_never_exceeds_the_record_and_more_names_the_risk():
    ctx = TrainedContext(frames=120, tokens=1604, fps=2.0)
    cfg = ctx.default_memory(2.0)
    assert (cfg.policy, cfg.window_frames, cfg.cap_tokens) == ("recent", 119, 1604) and ctx.beyond(cfg) is None
    assert "more than this model was trained on" in ctx.beyond(MemoryConfig.sized("recent", 6144, recent_frames=119))
    assert "never evicts" in ctx.beyond(None)
    assert "layout never seen in training" in ctx.beyond(MemoryConfig.sized("keyframes", 1604))
    assert ctx.beyond(MemoryConfig.sized("recent", 1604, recent_frames=4)) is None


def _model(tmp_path, ctx: TrainedContext | None):
    folder = tmp_path / "ckpt"
    folder.mkdir(exist_ok=True)
    (folder / CONTEXT_FILE).unlink(missing_ok=True)
    if ctx is not None:
        write_context(folder, ctx)
    return str(folder)


def _cli(ckpt, *argv) -> EngineConfig:
    from vstream_ros.cli_common import add_backend_args, add_model_args, add_stream_args
    p = argparse.ArgumentParser()
    add_model_args(p)
    add_stream_args(p)
    add_backend_args(p)
    return EngineConfig.from_args(p.parse_args(["--model", ckpt, *argv]))


def _node(ckpt, **values) -> EngineConfig:
    from vstream_ros.ros import params as P
    return P.engine_config({**{p.name: p.default for p in P.PARAMS}, "model.checkpoint": ckpt, **values})


def test_cli_and_node_derive_the_same_memory_from_the_record(tmp_path):
    ckpt = _model(tmp_path, TrainedContext(frames=120, tokens=1604, fps=2.0))
    for config, names in ((_cli(ckpt), CLI_NAMES), (_node(ckpt), NODE_NAMES)):
        config.check(names)
        plan = config.memory_plan(config.trained_context(), names)
        assert plan.warning is None and plan.policy == "recent"
        assert (plan.memory.window_frames, plan.memory.cap_tokens) == (119, 1604)
        assert "trained on 120 frames (60 s at 2 fps), 1604 tokens" in plan.note
    big_cli = _cli(ckpt, "--memory-budget-tokens", "6144")
    big_node = _node(ckpt, **{"memory.budget_tokens": 6144})
    warnings = [c.memory_plan(c.trained_context()).warning for c in (big_cli, big_node)]
    assert warnings[0] == warnings[1] and "6144 tokens is more than this model was trained on" in warnings[0]
    four = _cli(ckpt, "--memory-policy", "recent", "--memory-recent-frames", "4")
    plan = four.memory_plan(four.trained_context())
    assert plan.memory.window_frames == 4 and plan.warning is None
    kf = _node(ckpt, **{"memory.policy": "keyframes"}).memory_plan(TrainedContext(frames=120, tokens=1604))
    assert kf.memory.cap_tokens == 1604 and "layout never seen" in kf.warning


def test_a_keyframes_trained_model_runs_its_recorded_layout_by_default_and_by_policy_name(tmp_path):
    """Memory-aligned training records its cache layout: `auto` and `--memory-policy keyframes` (no budget) run
    exactly that layout; a budget beyond it warns."""
    rec = MemoryConfig.sized("keyframes", 1604)
    fields = {k: v for k, v in rec.__dict__.items() if k != "fps"}
    ckpt = _model(tmp_path, TrainedContext(frames=127, tokens=1617, fps=2.0, memory=fields))
    plans = [c.memory_plan(c.trained_context()) for c in (_cli(ckpt), _cli(ckpt, "--memory-policy", "keyframes"),
                                                          _node(ckpt, **{"memory.policy": "keyframes"}))]
    assert all(p.memory == rec and p.policy == "keyframes" and p.warning is None for p in plans)
    big = _cli(ckpt, "--memory-policy", "keyframes", "--memory-budget-tokens", "6144")
    assert "6144" in big.memory_plan(big.trained_context()).warning


def test_a_model_without_a_record_keeps_todays_memory_and_says_so(tmp_path):
    ckpt = _model(tmp_path, None)
    for config in (_cli(ckpt), _node(ckpt)):
        plan = config.memory_plan(config.trained_context())
        assert plan.policy == "keyframes" and plan.memory == MemoryConfig.sized("keyframes", 6144)
        assert plan.memory.window_frames == 240 and plan.warning is None
        assert "has no trained-context record" in plan.note
    assert _cli(ckpt, "--backend", "reference").memory_plan(None).memory is None


def test_small_budgets_are_accepted_and_below_the_sink_plus_four_frames_refused(tmp_path):
    ckpt = _model(tmp_path, None)
    _cli(ckpt, "--memory-policy", "window", "--memory-budget-tokens", "76").check()
    with pytest.raises(ValueError, match="pass --memory-budget-tokens 76 or more, 0 for the model's own"):
        _cli(ckpt, "--memory-policy", "window", "--memory-budget-tokens", "75").check()
    with pytest.raises(ValueError, match="pass --memory-budget-tokens 120 or more"):
        _cli(ckpt, "--memory-policy", "recent", "--memory-recent-frames", "8", "--memory-budget-tokens", "100").check()


def test_the_shipped_demo_model_records_its_training_and_runs_within_it():
    """The demo model was trained on memory-aligned samples of 10-minute streams (config/train/demo_long.yaml):
    its record holds that keyframes layout, which is what it runs by default."""
    config = EngineConfig.from_values({"model.checkpoint": "demo"})
    ctx = config.trained_context()
    assert ctx is not None and ctx.fps == 2.0 and ctx.layout == "keyframes"
    plan = config.memory_plan(ctx)
    assert plan.warning is None and plan.policy == "keyframes"
    assert plan.memory == MemoryConfig(**{**ctx.memory, "fps": 2.0}) and plan.memory.cap_tokens <= ctx.tokens
    assert plan.memory.effective_longterm_frames > 0 and plan.memory.effective_text_tokens > 0


def test_load_engine_says_the_memory_once_and_warns_once_beyond_the_record(tiny_paths, tmp_path):
    from vstream_ros.engine.memory import BoundedBackend
    from vstream_ros.host.build import load_engine
    ckpt = tmp_path / "ckpt"
    shutil.copytree(tiny_paths.checkpoint, ckpt)
    write_context(ckpt, TrainedContext(frames=40, tokens=600, fps=2.0))
    base = {"model.checkpoint": str(ckpt), "model.llm": str(tiny_paths.llm), "model.vision": str(tiny_paths.vision),
            "model.device": "cpu"}
    said: list[str] = []
    engine = load_engine(EngineConfig.from_values(base), say=said.append)
    assert isinstance(engine.backend, BoundedBackend) and engine.backend.cfg.window_frames == 39
    assert len(said) == 1 and not said[0].startswith("warning")
    said.clear()
    load_engine(EngineConfig.from_values({**base, "memory.budget_tokens": 2000}), say=said.append)
    assert [s for s in said if s.startswith("warning:")] == said[1:] and len(said) == 2
    assert "2000 tokens is more than this model was trained on 40 frames" in said[1]
    assert json.loads((ckpt / CONTEXT_FILE).read_text())["frames"] == 40
