"""The demo training loop really teaches *when* to speak: a reduced schedule (frozen shipped vision tower,
tiny LLM trained from scratch on 20 synthetic 24-s worlds, 150 steps: ~2 min on one CPU core) is exported in the
published layout, loaded with engine.checkpoint.load_live_model, streamed through the engine on a
held-out world, and must beat the always-silent and fixed-interval narrators on timing F1 (by a clear margin over
silent and the 5-s narrator; the 2-s narrator is only matched-or-beaten, see docs/demo.md).

A regression in the dialogue labels, the loss, the template, the export or the engine shows up here.
"""
from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "models" / "demo"


@pytest.fixture(scope="module")
def reduced_model(tmp_path_factory):
    import torch
    from vstream_lab.demo_model.train_demo import DemoSettings, train_demo
    assert (SHIPPED / "vision" / "config.json").is_file(), "the shipped demo model (models/demo/) is missing"
    s = DemoSettings.from_dict({
        "data": {"worlds": 20, "vision_worlds": 1, "duration": 24.0},
        "llm": {"hidden": 32, "layers": 2, "heads": 4, "kv_heads": 2, "intermediate": 96, "steps": 150,
                "batch": 1, "lr": 5.0e-3, "warmup": 10, "seed": 0}})
    out = tmp_path_factory.mktemp("demo_reduced") / "model"
    _, _, info = train_demo(s, out, log=None, vision_from=SHIPPED / "vision", llm_budget_s=600.0)   # a safety cap only: 150 seeded steps take ~2 min on one core
    assert info["llm"]["stream_ce"] < 0.6, info["llm"]    # frame decisions: far below the 11.8 of a random head
    words = info["llm"]["valid_object_words"]             # the object-word check ran on the 4 validation worlds
    assert words["colour_n"] > 20 and words["shape_n"] > 20 and 0.0 <= words["colour"] <= 1.0, words
    return out


def test_reduced_training_beats_baselines(reduced_model):
    from vstream_lab.demo_model.heldout import heldout_config, references, world_frames
    from vstream_ros.demo.evaluate import run_baselines, run_model, score
    from vstream_ros.engine.checkpoint import load_live_model
    from vstream_ros.engine.config import ModelSpec, StreamConfig
    from vstream_lab.synth.world import World

    model = load_live_model(ModelSpec(checkpoint=str(reduced_model / "checkpoint"), llm=str(reduced_model / "llm"),
                                      vision=str(reduced_model / "vision"), device="cpu", dtype="float32"))
    world = World(heldout_config(1, duration=40.0, fps=4.0))
    refs, frames, length = references(world), list(world_frames(world)), world.cfg.duration
    run = run_model(model, frames, StreamConfig(max_new_tokens=24))
    model_f1 = score(refs, run.preds, length).f1
    base = {k: score(refs, v, length).f1 for k, v in run_baselines(frames).items()}
    print(f"reduced model F1@1s {model_f1:.3f}; baselines {base}")
    assert base["silent"] == 0.0
    # measured 2026-11-22 with the dense-label tower shipped that day (20 worlds of 40 s, 250 steps): model 0.800,
    # interval-2s 0.593, interval-5s 0.267, change 0.421. With 10 worlds (150 or 250 steps) that tower gave
    # 0.545 / 0.556: the LLM memorises the event rhythm of few worlds, so the test trains on 20. 2026-12-07, to
    # halve its time in CI (one core, the lm_head over Llama-3's 128k vocabulary is most of a step): 20 worlds of
    # 24 s, 150 steps → 0.800 (the same margins; 24 s / 250 steps 0.889, 40 s / 150 steps 0.889, 30 s / 180 0.778).
    assert model_f1 >= 0.5, (model_f1, base, run.preds)
    assert model_f1 >= base["interval-5s"] + 0.2, (model_f1, base)
    assert model_f1 >= base["interval-2s"], (model_f1, base)
