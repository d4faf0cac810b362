"""The node's overlay topics (ros/overlay_publisher.py) on the rclpy double with the scripted engine.

Off by default (no publisher at all); with overlay.enabled one sensor_msgs/Image rgb8 per model frame, at the
model's input size, with the deciding frame's exact capture stamp and frame_id, whose picture is the frame as the
engine letterboxed it; overlay.compressed adds a JPEG twin. A failing render is counted and logged once while
narration goes on.
"""
import io

import numpy as np
import pytest

from conftest import image_msg

SIZE = 96                                    # the scripted vision tower's input size in these tests


@pytest.fixture
def scripted96(scripted):
    def factory(values):
        engine = scripted(values)
        engine.model.vision.image_size = SIZE          # the pipeline letterboxes to this; the overlay too
        return engine
    factory.made = scripted.made
    return factory


def started(scripted, **params):
    from rclpy.parameter import Parameter
    from vstream_ros.ros.assistant_node import AssistantNode
    node = AssistantNode(engine_factory=scripted, namespace="vstream",
                         parameter_overrides=[Parameter(k, value=v) for k, v in params.items()])
    assert node.autostart(), node.get_logger().records
    return node


def smooth(h, w, i):
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 255 // w, y * 255 // h, np.full_like(x, 40 * i)], -1).astype(np.uint8).tobytes()


def feed(ros, node, n=4, h=48, w=64, noise=True):
    sub = node.subscription("/vstream/image")
    msgs = [image_msg(ros, h=h, w=w, sec=1_700_000_000 + i, nanosec=987_654_321,
                      data=None if noise else smooth(h, w, i)) for i in range(n)]
    for m in msgs:                   # one at a time: the (niced) drawing worker drops under a burst, by design
        assert sub.deliver(m)
        node.host.finish(timeout=30)
        if node.overlay is not None:
            assert node.overlay.feed.drain(30)
    return msgs


def test_overlay_is_off_by_default(ros, scripted96):
    node = started(scripted96)
    feed(ros, node, n=2)
    assert node.overlay is None and node.host.observers == ()
    for topic in ("/vstream/overlay", "/vstream/overlay/compressed"):
        with pytest.raises(StopIteration):
            node.publisher(topic)
    assert len(node.publisher("/vstream/narration_text").decoded) == 1          # the node works as before
    node.trigger_deactivate()
    node.trigger_cleanup()


def test_overlay_publishes_each_model_frame_with_its_capture_stamp(ros, scripted96):
    from vstream_ros.host.overlay_feed import model_view
    from vstream_ros.ros.conversions import image_to_rgb
    node = started(scripted96, **{"overlay.enabled": True})
    pub = node.publisher("/vstream/overlay")
    assert pub.enabled                                                           # a lifecycle publisher, active
    with pytest.raises(StopIteration):
        node.publisher("/vstream/overlay/compressed")
    sent = feed(ros, node)
    got = pub.decoded                                                            # CDR round-tripped
    assert [(m.header.stamp.sec, m.header.stamp.nanosec) for m in got] == \
           [(m.header.stamp.sec, m.header.stamp.nanosec) for m in sent]
    for m, src in zip(got, sent):
        assert (m.height, m.width, m.encoding, m.step, m.header.frame_id) == (SIZE, SIZE, "rgb8", 3 * SIZE, "cam")
        out = np.frombuffer(bytes(m.data), np.uint8).reshape(SIZE, SIZE, 3)
        seen = model_view(image_to_rgb(src), SIZE)
        rows = slice(20, int(0.55 * SIZE))                   # below the status band, above any text band
        np.testing.assert_array_equal(out[rows, :SIZE - 12], seen[rows, :SIZE - 12])
        assert not np.array_equal(out, seen)                 # and something is drawn on it
    stats = node.overlay.stats()
    assert stats["overlay_drawn"] == 4 and stats["overlay_failed"] == 0
    node._publish_diagnostics()
    kv = {v.key: v.value for v in node.publisher("/diagnostics").decoded[-1].status[0].values}
    assert kv["overlay_drawn"] == "4" and kv["overlay_dropped"] == "0"
    node.trigger_deactivate()
    node.trigger_cleanup()
    assert node.overlay is None and not any(p.topic_name.startswith("/vstream/overlay") for p in node._pubs)


def test_overlay_compressed_twin_is_jpeg_with_the_same_stamps(ros, scripted96):
    from PIL import Image
    node = started(scripted96, **{"overlay.enabled": True, "overlay.compressed": True})
    feed(ros, node, n=3, noise=False)                 # JPEG is for pictures, not for noise
    raw, jpeg = node.publisher("/vstream/overlay").decoded, node.publisher("/vstream/overlay/compressed").decoded
    assert len(raw) == len(jpeg) == 3
    for r, j in zip(raw, jpeg):
        assert (r.header.stamp.sec, r.header.stamp.nanosec) == (j.header.stamp.sec, j.header.stamp.nanosec)
        assert "jpeg" in j.format
        img = np.asarray(Image.open(io.BytesIO(bytes(j.data))).convert("RGB")).astype(int)
        ref = np.frombuffer(bytes(r.data), np.uint8).reshape(SIZE, SIZE, 3).astype(int)
        assert img.shape == ref.shape and np.abs(img - ref).mean() < 6
    node.trigger_deactivate()
    node.trigger_cleanup()


def test_a_failing_render_is_counted_logged_once_and_narration_goes_on(humble, scripted96):
    node = started(scripted96, **{"overlay.enabled": True})

    def broken(frame, state):
        raise RuntimeError("no pixels today")
    node.overlay.feed.worker.render = broken
    feed(humble, node, n=4)
    assert node.overlay.stats()["overlay_failed"] == 4 and not node.publisher("/vstream/overlay").decoded
    warnings = [r for r in node.get_logger().records if "overlay render failed" in str(r)]
    assert len(warnings) == 1
    assert len(node.publisher("/vstream/narration_text").decoded) == 2           # decisions unaffected
    node.trigger_deactivate()
    node.trigger_cleanup()
