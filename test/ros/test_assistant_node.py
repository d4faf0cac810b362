"""AssistantNode against the rclpy double (Humble and Jazzy flavours) over the real stream host with a scripted
engine (stand-in vision tower and LLM backend; real pipeline, template, router and message fields).

Tier: T0 adapter. Proves parameters/QoS/topics/lifecycle/message fields (every publish is CDR-serialized with the
Humble and Jazzy typestores); does not prove real executor or DDS behaviour (test/ros_real does).
"""
import threading

import numpy as np
import pytest

from conftest import image_msg


def make_node(ros, scripted, **params):
    from rclpy.parameter import Parameter
    from vstream_ros.ros.assistant_node import AssistantNode
    overrides = [Parameter(k, value=v) for k, v in params.items()]
    return AssistantNode(engine_factory=scripted, namespace="vstream", parameter_overrides=overrides)


def started(ros, scripted, **params):
    node = make_node(ros, scripted, **params)
    assert node.autostart(), node.get_logger().records
    return node


def drain(node):
    """Wait until every submitted frame is decided and every reply published (the workers are real threads)."""
    node.host.finish(timeout=30)


def decided(node):
    return node.host.stats()["frames_decided"]


def utterances(msgs):
    by_uid = {}
    for m in msgs:
        by_uid.setdefault(m.utterance_id, []).append(m)
    return list(by_uid.values())


def offered_reliable(ros):
    from rclpy.qos import QoSProfile
    return QoSProfile(depth=10)           # what `ros2 bag play` offers


def test_autostart_lifecycle_topics_and_qos(ros, scripted):
    from rclpy.qos import DurabilityPolicy, ReliabilityPolicy
    node = started(ros, scripted)
    assert node.lifecycle_state == "active" and len(scripted.made) == 1 and node.host.running
    sub = node.subscription("/vstream/image")
    assert sub.qos_profile.reliability == ReliabilityPolicy.BEST_EFFORT and sub.qos_profile.depth == 2
    nar = node.publisher("/vstream/narration")
    assert nar.qos_profile.reliability == ReliabilityPolicy.RELIABLE and nar.qos_profile.depth == 50
    assert nar.qos_profile.durability == DurabilityPolicy.VOLATILE
    assert nar.enabled and node.publisher("/vstream/narration_text").enabled   # lifecycle publishers, activated
    node.publisher("/diagnostics")
    node.subscription("/vstream/query")
    node.service("/vstream/reset")
    with pytest.raises(StopIteration):
        node.publisher("/vstream/guidance")          # narration mode: no guidance
    assert node.trigger_deactivate() == 97 and not nar.enabled and not node.host.running
    assert node.trigger_activate() == 97 and nar.enabled and node.host.running        # restartable, one worker set
    assert sum(t.name == "vstream-llm" and t.is_alive() for t in threading.enumerate()) == 1
    assert node.trigger_deactivate() == 97 and node.trigger_cleanup() == 97
    assert node.host is None and not node._pubs and node.lifecycle_state == "unconfigured"


def test_image_reliability_and_depth_for_a_bag_that_must_match_replay(ros, scripted):
    from rclpy.qos import ReliabilityPolicy
    node = started(ros, scripted, **{"image.reliability": "reliable", "image.queue_depth": 30})
    sub = node.subscription("/vstream/image")
    assert sub.qos_profile.reliability == ReliabilityPolicy.RELIABLE and sub.qos_profile.depth == 30


def test_images_in_narration_out_with_capture_stamps_seq_final(ros, scripted):
    node = started(ros, scripted)
    sub = node.subscription("/vstream/image")
    for i in range(4):
        assert sub.deliver(image_msg(ros, sec=1_700_000_000 + i, nanosec=123_456_789), offered_reliable(ros))
    drain(node)
    assert decided(node) == 4 and scripted.made[0].backend.frames == 4
    utts = utterances(node.publisher("/vstream/narration").decoded)   # CDR round-tripped (Humble typestore)
    assert len(utts) == 2                                # frames 2 and 4 spoke, token by token
    for utt, frame in zip(utts, (1, 3)):
        assert [m.seq for m in utt] == list(range(len(utt))) and len(utt) > 2
        assert [m.final for m in utt] == [False] * (len(utt) - 1) + [True]
        for m in utt:                                    # bit-exact capture stamp of the deciding frame
            assert (m.header.stamp.sec, m.header.stamp.nanosec) == (1_700_000_000 + frame, 123_456_789)
            assert m.header.frame_id == "cam" and m.kind == 0 and m.language == "en"
        assert "".join(m.text for m in utt).strip() == "Boil the water now."
        assert utt[0].confidence == pytest.approx(0.7)
    texts = [m.data for m in node.publisher("/vstream/narration_text").decoded]
    assert texts == ["Boil the water now."] * 2


def test_bad_inputs_are_counted_and_skipped(ros, scripted):
    node = started(ros, scripted)
    sub = node.subscription("/vstream/image")
    good = image_msg(ros, sec=10)
    bad = [image_msg(ros, sec=11, step=5),                          # step smaller than a row
           image_msg(ros, sec=12, data=bytes(10)),                  # truncated
           image_msg(ros, sec=13, encoding="bayer_rggb8"),          # unknown encoding
           image_msg(ros, sec=14, h=0, data=b"")]                   # zero size
    for m in [good] + bad:
        sub.deliver(m)
    sub.deliver(image_msg(ros, sec=14))                              # duplicate stamp
    sub.deliver(image_msg(ros, sec=13, nanosec=900_000_000))         # small step back: out of order
    sub.deliver(image_msg(ros, sec=25))                              # forward jump (stall/seek)
    sub.deliver(image_msg(ros, sec=5))                               # bag loop → stream reset, in order
    drain(node)
    host = node.host
    assert dict(host.decode_errors) == {"bad_step": 1, "truncated": 1, "unknown_encoding": 1, "zero_size": 1}
    c = host.counters
    assert c["dropped_duplicate"] == 1 and c["dropped_out_of_order"] == 1 and c["stream_restarts"] == 1
    assert host.pipeline.stats.resets == 1 and scripted.made[0].backend.resets == 2   # at start + the loop
    assert decided(node) == 3 and host.pipeline.stream.last_time == 5.0     # 10, 25, then 5 in the new stream
    node._publish_diagnostics()
    diag = node.publisher("/diagnostics").decoded[-1].status[0]
    kv = {v.key: v.value for v in diag.values}
    assert kv["corrupt_truncated"] == "1" and kv["dropped_out_of_order"] == "1" and "ingest_fps" in kv
    assert kv["stamp_jumps"] == "1" and kv["queue_capture"] == "0" and kv["frames_lost"] == "0"
    assert kv["corrupt_frames"] == "4" and kv["dropped_duplicate"] == "1"
    assert kv["frames_decided"] == "3" and kv["stream_restarts"] == "1" and "decision_latency_ms" in kv
    assert any("dropped frame" in msg for lvl, msg in node.get_logger().records if lvl == "warning")
    assert diag.level == 0 and diag.message == "active"                # decoded (rosbags) form: int


def test_diagnostics_keys_are_documented_once_each(ros, scripted):
    """Every published key is in the docs/ros.md table (interfaces/diagnostics.KEYS) and no concept is published
    twice (the engine's internal synonyms are gone)."""
    from vstream_ros.interfaces.diagnostics import documented
    node = started(ros, scripted, **{"overlay.enabled": True})
    sub = node.subscription("/vstream/image")
    for i in range(4):
        sub.deliver(image_msg(ros, sec=10 + i))
    sub.deliver(image_msg(ros, sec=14, step=5))
    node.endpoints[0].action.send_goal(__import__("vstream_msgs.action", fromlist=["Ask"]).Ask.Goal(question="Hm?"))
    drain(node)
    node._publish_diagnostics()
    status = node.publisher("/diagnostics").decoded[-1].status[0]
    kv = {v.key: v.value for v in status.values}
    assert [k for k in kv if not documented(k)] == []
    assert not {"decisions", "responses", "replies", "dropped", "decision_p50_s", "stamp_counts", "frames_skipped",
                "first_token_p50_s", "memory_total", "corrupt"} & set(kv)
    assert kv["frames_decided"] == "4" and kv["frames_spoken"] == "2" and kv["utterances"] == "3"   # 2 + the answer
    assert kv["queries"] == "1" and kv["corrupt_frames"] == "1" and kv["corrupt_bad_step"] == "1"
    assert kv["overlay_submitted"] == "4" and not any(k.startswith("memory_") for k in kv)     # full memory
    assert float(kv["first_token_ms"]) > 0


def test_a_stopped_input_is_stalled_only_when_it_was_live(ros, scripted):
    """/diagnostics level and message (docs/ros.md "Status"): waiting, active, WARN "camera stalled" when a live
    camera stops while the clock runs, OK "idle" when the clock stopped too (a bag on /clock ended) or when the
    stamps were a recording's (a bag played without --clock)."""
    node = started(ros, scripted)
    clock = node.get_clock()

    def status():
        node._publish_diagnostics()
        return node.publisher("/diagnostics").decoded[-1].status[0]
    assert (status().level, status().message) == (0, "active, waiting for the first frame")
    live_sec = clock.ns // 10**9
    node.subscription("/vstream/image").deliver(image_msg(ros, sec=live_sec))       # stamped by the node's clock
    drain(node)
    assert (status().level, status().message) == (0, "active")
    cam = node.cameras[0]
    wall, at, t = cam.last_rx
    cam.last_rx = (wall - 30.0, at, t)                                               # 30 s without a frame …
    clock.ns += 30 * 10**9                                                           # … while the clock ran
    st = status()
    assert (st.level, st.message) == (1, "camera stalled: no frame for 30 s")
    clock.ns -= 30 * 10**9                                                           # the clock stopped with it
    st = status()
    assert st.level == 0 and st.message.startswith("idle: no frame for 30 s and the clock stopped"), st.message
    clock.ns += 30 * 10**9
    cam.last_rx = (wall - 30.0, at, t - 3600.0)                                      # stamps an hour old: a bag
    st = status()
    assert st.level == 0 and "the input was recorded" in st.message and "3600 s" in st.message, st.message
    node.trigger_deactivate()
    assert (status().level, status().message) == (0, "inactive")


def test_compressed_transport_and_undecodable_payload(ros, scripted):
    import cv2
    node = started(ros, scripted, **{"image.transport": "compressed"})
    sub = node.subscription("/vstream/image/compressed")
    Compressed = ros.msg("sensor_msgs/msg/CompressedImage")
    ok, buf = cv2.imencode(".jpg", np.full((8, 8, 3), 128, np.uint8))
    m = Compressed(format="jpeg", data=buf.tobytes())
    m.header.stamp.sec = 3
    sub.deliver(m)
    broken = Compressed(format="jpeg", data=b"\xff\xd8nope")
    broken.header.stamp.sec = 4
    sub.deliver(broken)
    drain(node)
    assert decided(node) == 1 and dict(node.host.decode_errors) == {"undecodable": 1}


def test_frames_queue_while_the_model_is_busy_none_lost(ros, scripted):
    node = started(ros, scripted)
    backend = scripted.made[0].backend
    backend.gate = threading.Event()                                 # the model is busy (a long reply)
    sub = node.subscription("/vstream/image")
    for i in range(20):                                              # 10 s of a 2 Hz camera = 20 model frames
        sub.deliver(image_msg(ros, sec=100 + i // 2, nanosec=500_000_000 * (i % 2)))
    backend.gate.set()
    drain(node)
    s = node.host.stats()
    assert s["frames_decided"] == 20 and s["frames_lost"] == 0 and s["dropped"] == 0


def test_sustained_overload_drops_by_policy_and_counts(ros, scripted):
    node = started(ros, scripted, **{"stream.max_backlog": 4})
    backend = scripted.made[0].backend
    backend.gate = threading.Event()
    sub = node.subscription("/vstream/image")
    for i in range(20):
        sub.deliver(image_msg(ros, sec=100 + i // 2, nanosec=500_000_000 * (i % 2)))
    backend.gate.set()
    drain(node)
    s = node.host.stats()
    assert s["dropped_thinned"] + s["dropped_oldest"] > 0
    assert s["frames_decided"] + s["frames_lost"] == s["frames_sampled"] == 20
    assert node.host.pipeline.stream.last_time == 109.5                 # the newest frame is never the one dropped


def test_parameters_validated_and_threshold_live(ros, scripted):
    from rclpy.parameter import Parameter
    node = started(ros, scripted)
    ok = node.set_parameters([Parameter("stream.threshold", value=0.9)])[0]
    assert ok.successful
    assert node.host.cfg.threshold == 0.9 and node.host.pipeline.stream.cfg.threshold == 0.9
    for name, value in (("stream.threshold", 1.5), ("mode", "chat"), ("stream.fps", 5),
                        ("image.transport", "h264"), ("memory.policy", "lru")):
        res = node.set_parameters([Parameter(name, value=value)])[0]
        assert not res.successful and res.reason, name
    assert node.get_parameter("stream.threshold").value == 0.9


def test_query_topic_reset_service_and_ask_action(ros, scripted):
    node = started(ros, scripted)
    try:
        String = ros.msg("std_msgs/msg/String")
        Ask = __import__("vstream_msgs.action", fromlist=["Ask"]).Ask
        handle, result = node.endpoints[0].action.send_goal(Ask.Goal(question="What is this?"))
        assert handle.status == "succeeded" and result.answer == "It is a kitchen."
        assert "".join(handle.feedback).strip() == "It is a kitchen." and len(handle.feedback) > 1
        answers = [m for m in node.publisher("/vstream/narration").decoded if m.kind == 2]
        assert result.utterance_id and {m.utterance_id for m in answers} == {result.utterance_id}
        node.subscription("/vstream/query").deliver(String(data="And now?"))
        drain(node)
        backend = scripted.made[0].backend
        assert [("What is this?" in p, "And now?" in p) for p in backend.prompts] == [(True, False), (False, True)]
        assert node.service("/vstream/reset").call().success
        drain(node)
        assert backend.resets == 2
    finally:
        node.trigger_deactivate()
    handle, result = node.endpoints[0].action.send_goal(Ask.Goal(question="still there?"))   # inactive: at once
    assert handle.status == "aborted" and result.answer.startswith("not active (the assistant is inactive)")
    assert result.answer.endswith("ros2 lifecycle set /vstream/assistant activate")
    assert node.endpoints[0].action.send_goal(Ask.Goal(question="  ")) == (None, None)       # empty: rejected


def test_ask_with_recall_returns_the_camera_stamps_it_drew_on(ros, scripted):
    """memory.recall on: the answer is given over recalled frames (a fork of the cache, rolled back) and the `ask`
    result carries their camera header stamps; the question names a time since the stream's first frame."""
    node = started(ros, scripted, **{"memory.recall": "on"})
    try:
        sub = node.subscription("/vstream/image")
        for k in range(12):                                    # 6 s at 2 fps, stamps 1000.0 … 1005.5
            sub.deliver(image_msg(ros, sec=1000 + k // 2, nanosec=500_000_000 * (k % 2)))
        drain(node)
        length = scripted.made[0].backend.length
        Ask = __import__("vstream_msgs.action", fromlist=["Ask"]).Ask
        handle, result = node.endpoints[0].action.send_goal(Ask.Goal(question="What did I see at 0:01?"))
        assert handle.status == "succeeded" and result.answer == "It is a kitchen."
        stamps = [(t.sec, t.nanosec) for t in result.evidence]
        # 0:01 ± 3 s: the frames at 1 per second and the narration lines (this model speaks on every 2nd frame)
        assert stamps == [(1000 + k // 2, 500_000_000 * (k % 2)) for k in range(9)]
        assert scripted.made[0].backend.length == length                               # rolled back
        assert "\nMemory:\n0:00 [" in scripted.made[0].backend.prompts[-1]
    finally:
        node.trigger_deactivate()


def test_requests_before_configure_are_answered_at_once_with_the_reason(ros, scripted):
    """query / reset / ask exist from construction: unconfigured, a goal is aborted with the reason (not left
    waiting for a server), reset says why it failed, a query is logged as ignored; after configure and activate
    the same endpoints serve the model."""
    String = ros.msg("std_msgs/msg/String")
    Ask = __import__("vstream_msgs.action", fromlist=["Ask"]).Ask
    node = make_node(ros, scripted, autostart=False)
    assert node.autostart() and node.lifecycle_state == "unconfigured" and scripted.made == []
    server = node.endpoints[0].action
    assert server.name == "/vstream/ask"
    handle, result = server.send_goal(Ask.Goal(question="What is this?"))
    assert handle.status == "aborted" and result.utterance_id == ""
    assert result.answer == ("not active (the assistant is unconfigured): "
                             "ros2 lifecycle set /vstream/assistant configure, then activate")
    reply = node.service("/vstream/reset").call()
    assert not reply.success and reply.message.startswith("not configured (the assistant is unconfigured)")
    node.subscription("/vstream/query").deliver(String(data="anyone?"))
    assert any("query ignored: not active" in m for lvl, m in node.get_logger().records if lvl == "warning")
    assert node.trigger_configure() == 97 and node.trigger_activate() == 97
    assert node.endpoints[0].action is server                       # the same server, now answering
    handle, result = server.send_goal(Ask.Goal(question="What is this?"))
    assert handle.status == "succeeded" and result.answer == "It is a kitchen."
    node.trigger_deactivate()


def test_assist_mode_publishes_transient_local_guidance(ros, scripted):
    from rclpy.qos import DurabilityPolicy
    steps = ["Boil the water", "Pour the water into the cup"]
    node = started(ros, scripted, mode="assist", **{"task.goal": "make tea", "task.steps": steps})
    pub = node.publisher("/vstream/guidance")
    assert pub.qos_profile.durability == DurabilityPolicy.TRANSIENT_LOCAL and pub.qos_profile.depth == 1
    assert pub.decoded[0].status == 0 and pub.decoded[0].instruction == "Boil the water"   # state at activation
    drain(node)
    backend = scripted.made[0].backend
    assert "make tea" in backend.prompts[0] and "1. Boil the water." in backend.prompts[0]  # goal as the user turn
    sub = node.subscription("/vstream/image")
    for i in range(2):
        sub.deliver(image_msg(ros, sec=50 + i, nanosec=7))
    drain(node)
    g = pub.decoded[-1]
    assert (g.step_index, g.step_count, g.status, g.task_name) == (0, 2, 1, "make tea")
    assert (g.header.stamp.sec, g.header.stamp.nanosec) == (51, 7) and g.utterance_id


def test_assist_without_goal_and_failed_model_load_stay_unconfigured(ros, scripted):
    node = make_node(ros, scripted, mode="assist")
    assert not node.autostart() and node.lifecycle_state == "unconfigured"
    assert any("task.goal" in msg for lvl, msg in node.get_logger().records if lvl == "error")
    from rclpy.parameter import Parameter
    from vstream_ros.ros.assistant_node import AssistantNode
    broken = AssistantNode(node_name="broken", parameter_overrides=[
        Parameter("model.checkpoint", value="/nonexistent/checkpoint"), Parameter("model.device", value="cpu")])
    assert not broken.autostart() and broken.lifecycle_state == "unconfigured" and broken.host is None
    errors = [msg for lvl, msg in broken.get_logger().records if lvl == "error"]
    assert errors and "model load failed" in errors[0] and "/nonexistent/checkpoint" in errors[0]
    small = make_node(ros, scripted, **{"memory.budget_tokens": 50})
    assert not small.autostart()
    assert any("76" in msg for lvl, msg in small.get_logger().records if lvl == "error")


def test_without_vstream_msgs_only_the_string_mirror(ros_no_msgs, scripted):
    node = started(ros_no_msgs, scripted)
    assert sorted(p.topic_name for p in node._pubs) == ["/diagnostics", "/vstream/narration_text"]
    assert any("vstream_msgs not found" in m for _, m in node.get_logger().records)
    for i in range(2):
        node.subscription("/vstream/image").deliver(image_msg(ros_no_msgs, sec=i + 1))
    drain(node)
    assert [m.data for m in node.publisher("/vstream/narration_text").decoded] == ["Boil the water now."]


def test_entities_of_a_configure_live_outside_the_default_group_and_clock_is_never_destroyed_while_active(
        ros, scripted):
    """rclpy's executors take a message outside their try/finally: an entity destroyed while its callback is queued
    leaves its callback group "executing" for good. So what configure makes and cleanup destroys (camera
    subscription, /clock, the diagnostics timer) shares one group made per configure, the endpoints have groups of
    their own, and the /clock subscription is only ignored once settled, never destroyed from a callback."""
    node = started(ros, scripted, use_sim_time=True)
    clock, image = node.subscription("/clock"), node.subscription("/vstream/image")
    (timer,) = node._timers
    group = image.callback_group
    assert group is not None and clock.callback_group is group and timer.callback_group is group
    assert node.subscription("/vstream/query").callback_group is not None
    assert node.service("/vstream/reset").callback_group is not None
    Clock = ros.msg("rosgraph_msgs/msg/Clock")

    def tick(sec):
        m = Clock()
        m.clock.sec = sec
        clock.deliver(m)
    tick(99)
    image.deliver(image_msg(ros, sec=100))
    tick(100)                                             # agrees with the first model frame: judged
    drain(node)
    node._publish_diagnostics()
    assert node._clock_settled and node.subscription("/clock") is clock     # settled: ignored, still there
    kv = {v.key: v.value for v in node.publisher("/diagnostics").decoded[-1].status[0].values}
    assert kv["frames_missed_at_start"] == "2"            # 99.0 → 100.0 at 2 fps
    tick(50)                                              # ignored now (would be an early clock otherwise)
    assert node.cameras[0].start_gap.first_clock == 99.0
    assert node.trigger_deactivate() and node.trigger_cleanup()
    assert not [s for s in node._subs if s.topic_name in ("/clock", "/vstream/image")] and not node._timers
    assert node.trigger_configure()
    assert node.subscription("/vstream/image").callback_group not in (None, group)   # a fresh group
    assert node.subscription("/clock").callback_group is node.subscription("/vstream/image").callback_group
