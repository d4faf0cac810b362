"""Parameter table: validation rules and agreement with config/assistant.yaml (no ROS)."""
from pathlib import Path

import pytest
import yaml

from vstream_ros.ros import params as P

ROOT = Path(__file__).resolve().parents[2]


def flatten(d, prefix=""):
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        out.update(flatten(v, key + ".") if isinstance(v, dict) else {key: v})
    return out


def test_yaml_defaults_equal_declared_defaults_and_types():
    doc = yaml.safe_load((ROOT / "config" / "assistant.yaml").read_text())
    values = flatten(doc["/**"]["ros__parameters"])
    for name, v in values.items():
        spec = P.BY_NAME[name]                               # every YAML key is a declared parameter
        assert v == spec.default, name
        assert type(v) is type(spec.default), f"{name}: YAML type {type(v).__name__} would be rejected"
    missing = {p.name for p in P.PARAMS if p.default is not None} - set(values)
    assert not missing


@pytest.mark.parametrize("name,value,ok", [
    ("stream.threshold", 0.8, True), ("stream.threshold", 1.5, False), ("stream.threshold", "x", False),
    ("stream.fps", 0.0, False), ("stream.max_new_tokens", 0, False), ("mode", "assist", True),
    ("mode", "chat", False), ("model.device", "cuda:1", True), ("model.device", "tpu", False),
    ("model.checkpoint", " ", False), ("task.steps", ["a", "b"], True), ("task.steps", [1], False),
    ("autostart", 1, False), ("use_sim_time", True, True), ("memory.policy", "keyframes", True),
    ("memory.policy", "tiered", False), ("cameras", ["front", "wrist_2"], True), ("cameras", ["front", "front"], False),
    ("cameras", ["2nd"], False), ("cameras", ["a/b"], False), ("cameras", [], True),
])
def test_validate(name, value, ok):
    reason = P.validate(name, value)
    assert (reason is None) == ok, reason


def test_assist_needs_goal():
    assert "task.goal" in P.cross_check({"mode": "assist", "task.goal": ""})
    assert "runtime" in P.cross_check({"memory.policy": "keyframes", "model.backend": "reference"})
    assert P.cross_check({"memory.policy": "window", "model.backend": "runtime"}) is None
    assert P.cross_check({"mode": "narration", "task.goal": ""}) is None
