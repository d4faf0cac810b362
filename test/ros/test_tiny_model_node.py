"""A real (tiny) VideoLLM-online model through the assistant node on the rclpy double: images in → Narration out.

The tiny checkpoint (vstream_ros/testing/tiny.py) has the published layout; with stream.threshold = 1.0 every
frame's decision is "respond", so each frame yields one utterance whose messages must carry that frame's exact
capture stamp, contiguous seq from 0, and exactly one final. About 10 s per test on 2 CPU cores (+ the session's
one-off tiny build).
"""
import pytest

from conftest import image_msg

pytest.importorskip("torch")
pytest.importorskip("transformers")


@pytest.fixture
def tiny(tiny_paths):
    """The session-wide tiny checkpoint from test/conftest.py."""
    return tiny_paths


def test_tiny_model_images_in_narration_out(humble, tiny):
    from rclpy.parameter import Parameter
    from vstream_ros.ros.assistant_node import AssistantNode
    params = {"model.checkpoint": str(tiny.checkpoint), "model.llm": str(tiny.llm), "model.vision": str(tiny.vision),
              "model.device": "cpu", "model.dtype": "float32", "stream.threshold": 1.0,
              "stream.max_new_tokens": 4, "stream.fps": 2.0}
    node = AssistantNode(namespace="vstream", parameter_overrides=[Parameter(k, value=v) for k, v in params.items()])
    assert node.autostart(), node.get_logger().records
    sub = node.subscription("/vstream/image")
    stamps = [(1_700_000_000 + i // 2, 500_000_000 * (i % 2) + 17) for i in range(4)]   # 2 fps, odd nanoseconds
    for sec, ns in stamps:
        assert sub.deliver(image_msg(humble, h=48, w=64, sec=sec, nanosec=ns))
    node.host.finish(timeout=60)
    stats = node.host.stats()
    assert stats["frames_in"] == 4 and stats["frames_decided"] == 4
    msgs = node.publisher("/vstream/narration").decoded
    by_uid = {}
    for m in msgs:
        by_uid.setdefault(m.utterance_id, []).append(m)
    assert len(by_uid) == 4                                     # one utterance per frame at θ = 1.0
    got_stamps = []
    for ms in by_uid.values():
        assert [m.seq for m in ms] == list(range(len(ms)))
        assert [m.final for m in ms] == [False] * (len(ms) - 1) + [True]
        assert len({(m.header.stamp.sec, m.header.stamp.nanosec) for m in ms}) == 1
        assert 0.0 <= ms[0].confidence <= 1.0 and ms[0].kind == 0
        got_stamps.append((ms[0].header.stamp.sec, ms[0].header.stamp.nanosec))
    assert got_stamps == stamps
    assert len(node.publisher("/vstream/narration_text").decoded) == 4
    # a 60 fps burst: the engine's frame clock keeps the 2 fps grid by capture time; the rest is counted as skipped
    for i in range(30):
        ns = 2 * 10**9 + i * 10**9 // 60
        sub.deliver(image_msg(humble, h=48, w=64, sec=1_700_000_002 + ns // 10**9 - 2, nanosec=ns % 10**9))
    node.host.finish(timeout=60)
    stats = node.host.stats()
    assert stats["frames_in"] == 34 and stats["frames_decided"] == 5 and stats["off_grid"] == 29
    node.trigger_deactivate()
    node.trigger_cleanup()
    assert node.host is None


def test_tiny_model_runtime_backend_with_bounded_memory(humble, tiny):
    """model.backend runtime + memory.policy window: the node builds BoundedBackend(RuntimeBackend) and reports
    the memory occupancy on /diagnostics."""
    from rclpy.parameter import Parameter
    from vstream_ros.ros.assistant_node import AssistantNode
    params = {"model.checkpoint": str(tiny.checkpoint), "model.llm": str(tiny.llm), "model.vision": str(tiny.vision),
              "model.device": "cpu", "model.dtype": "float32", "model.backend": "runtime",
              "memory.policy": "window", "memory.budget_tokens": 4096, "stream.threshold": 1.0,
              "stream.max_new_tokens": 3}
    node = AssistantNode(namespace="vstream", parameter_overrides=[Parameter(k, value=v) for k, v in params.items()])
    assert node.autostart(), node.get_logger().records
    backend = node.host.backend
    assert type(backend).__name__ == "BoundedBackend" and backend.cfg.cap_tokens == 4096
    sub = node.subscription("/vstream/image")
    for i in range(3):
        sub.deliver(image_msg(humble, h=48, w=64, sec=200 + i))
    node.host.finish(timeout=60)
    finals = [m for m in node.publisher("/vstream/narration").decoded if m.final]
    assert [m.header.stamp.sec for m in finals] == [200, 201, 202]
    node._publish_diagnostics()
    kv = {v.key: v.value for v in node.publisher("/diagnostics").decoded[-1].status[0].values}
    assert int(kv["cache_tokens"]) > 0 and any(k.startswith("memory_") for k in kv)
    node.trigger_deactivate()
    node.trigger_cleanup()
