"""The node's `model.checkpoint` (the launch file's `model:=`) takes the shipped demo model by name, from any
working directory; a memory budget below the policy's minimum is refused at configure, before the model loads."""

import pytest

from conftest import image_msg

pytest.importorskip("torch")
pytest.importorskip("transformers")


def _node(params):
    from rclpy.parameter import Parameter
    from vstream_ros.ros.assistant_node import AssistantNode
    return AssistantNode(namespace="vstream", parameter_overrides=[Parameter(k, value=v) for k, v in params.items()])


def test_model_checkpoint_demo_configures_from_any_cwd(humble, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    node = _node({"model.checkpoint": "demo", "model.device": "cpu", "stream.max_new_tokens": 4})
    assert node.autostart(), node.get_logger().records
    sub = node.subscription("/vstream/image")
    for i in range(2):
        sub.deliver(image_msg(humble, h=48, w=64, sec=300 + i))
    node.host.finish(timeout=60)
    assert node.host.stats()["frames_decided"] == 2
    # one line at each transition says what is loaded and where; /diagnostics names the device used
    node._publish_diagnostics()
    assert node.publisher("/diagnostics").decoded[-1].status[0].hardware_id == "cpu"
    node.trigger_deactivate()
    node.trigger_cleanup()
    infos = [m for lvl, m in node.get_logger().records if lvl == "info"]
    configured = next(m for m in infos if m.startswith("configured: "))
    for part in ("model=demo", "device=cpu", "dtype=float32", "quantize=none", "fps=2", "memory=keyframes cap 1604"):
        assert part in configured, configured
    assert [m.split(":")[0] for m in infos if m.split(":")[0] in ("configured", "activated", "deactivated",
                                                                   "cleaned up")] == [
        "configured", "activated", "deactivated", "cleaned up"]


def test_budget_below_the_minimum_fails_configure_with_the_minimum(humble):
    node = _node({"model.checkpoint": "/nonexistent", "model.backend": "runtime", "memory.policy": "keyframes",
                  "memory.budget_tokens": 60})
    assert not node.autostart()
    errors = " ".join(str(r) for r in node.get_logger().records)
    assert "memory.budget_tokens 60" in errors and "76" in errors
    assert "model load failed" not in errors                   # refused before loading anything
