"""Several cameras on one AssistantNode (the `cameras` parameter) against the rclpy double, scripted engine: each
camera's own topics, endpoints and /diagnostics status over one engine and one model worker; a camera's outputs
are those of the same frames through a one-camera node.

Tier: T0 adapter (real stream host, pipeline, scheduler and message fields; no DDS: test/ros_real does that).
"""
import pytest

from conftest import image_msg
from test_assistant_node import make_node, utterances

CAMS = ["front", "wrist", "top"]


def test_each_camera_gets_its_own_topics_and_one_model_serves_them(ros, scripted):
    node = make_node(ros, scripted, cameras=CAMS[:2])
    assert node.autostart(), node.get_logger().records
    assert len(scripted.made) == 1 and len(node.cameras) == 2            # one engine, two streams
    for cam in CAMS[:2]:
        node.subscription(f"/vstream/{cam}/image")
        assert node.publisher(f"/vstream/{cam}/narration").enabled
        node.publisher(f"/vstream/{cam}/narration_text")
        node.subscription(f"/vstream/{cam}/query")
        node.service(f"/vstream/{cam}/reset")
    for gone in ("/vstream/image", "/vstream/narration"):
        with pytest.raises(StopIteration):
            node.subscription(gone) if gone.endswith("image") else node.publisher(gone)
    # front speaks on its 2nd and 4th frame; wrist gets 3 frames (speaks on its 2nd)
    for i in range(4):
        node.subscription("/vstream/front/image").deliver(image_msg(ros, sec=1_700_000_000 + i, frame_id="f"))
        if i < 3:
            node.subscription("/vstream/wrist/image").deliver(image_msg(ros, sec=1_700_000_100 + i, frame_id="w"))
    for cam in node.cameras:
        cam.host.finish(timeout=30)
    front, wrist = (utterances(node.publisher(f"/vstream/{c}/narration").decoded) for c in CAMS[:2])
    assert len(front) == 2 and len(wrist) == 1
    assert {m.header.frame_id for u in front for m in u} == {"f"} and {m.header.frame_id for u in wrist for m in u} == {"w"}
    assert [u[0].header.stamp.sec for u in wrist] == [1_700_000_101]
    assert [m.data for m in node.publisher("/vstream/wrist/narration_text").decoded] == ["Boil the water now."]
    worker = node._scheduler                                               # one model worker for both cameras
    assert worker.alive and all(c.host.pipeline.scheduler is worker for c in node.cameras)
    node._publish_diagnostics()
    statuses = node.publisher("/diagnostics").decoded[-1].status
    assert [s.name for s in statuses] == ["assistant: front", "assistant: wrist"]
    decided = [{v.key: v.value for v in s.values}["frames_decided"] for s in statuses]
    assert decided == ["4", "3"]
    assert node.trigger_deactivate() == 97 and not worker.alive
    assert node.trigger_activate() == 97 and all(c.host.running for c in node.cameras)
    assert node.trigger_deactivate() == 97 and node.trigger_cleanup() == 97 and node.cameras == []


def test_a_camera_answers_on_its_own_endpoints(humble, scripted):
    node = make_node(humble, scripted, cameras=CAMS)
    assert node.autostart()
    Ask = __import__("vstream_msgs.action", fromlist=["Ask"]).Ask
    for i in range(2):
        node.subscription("/vstream/top/image").deliver(image_msg(humble, sec=10 + i))
    q = humble.msg("std_msgs/msg/String")(data="What is on the table?")
    node.subscription("/vstream/top/query").deliver(q)
    handle, result = node.endpoints[2].action.send_goal(Ask.Goal(question="And now?"))
    assert handle.status == "succeeded" and result.answer == "It is a kitchen."
    assert result.utterance_id.startswith("top-")
    for cam in node.cameras:
        cam.host.finish(timeout=30)
    prompts = [b.prompts for b in scripted.made[0].backends]
    assert not prompts[0] and not prompts[1] and len(prompts[2]) == 2          # only the asked camera was asked
    answers = [m for m in node.publisher("/vstream/top/narration").decoded if m.kind == 2]
    assert {m.utterance_id for m in answers} >= {result.utterance_id}
    node.trigger_deactivate()
    node.trigger_cleanup()


@pytest.mark.parametrize("bad,reason", [(["front", "front"], "twice"), (["9cam"], "not a usable name")])
def test_bad_camera_lists_leave_the_node_unconfigured_with_the_reason(humble, scripted, bad, reason):
    node = make_node(humble, scripted, cameras=bad)
    assert not node.autostart()
    assert any(reason in msg for lvl, msg in node.get_logger().records if lvl == "error")
    assert scripted.made == []
