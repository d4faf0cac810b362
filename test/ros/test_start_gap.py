"""frames_missed_at_start: the model-clock slots of a stream that went by before its first model frame, from the
earliest stream time the node observed (frames received while not active, /clock under use_sim_time).

Tier: T0. StartGap is pure; the node check runs AssistantNode on the rclpy double with a scripted engine (2 fps).
"""
from conftest import image_msg

from vstream_ros.ros.start_gap import StartGap

T0 = 1_700_000_000.0


def test_a_stream_seen_from_its_first_frame_misses_nothing():
    gap = StartGap(2.0)
    gap.frame(T0 + 0.1, kept=True)
    gap.frame(T0 + 0.6, kept=True)
    assert gap.missed() == 0 and gap.start == T0 + 0.1


def test_frames_seen_before_the_first_model_frame_count_their_slots():
    gap = StartGap(2.0)
    for k in range(10):                       # 10 Hz while the node is not active: 1.0 s of stream, 2 slots
        gap.frame(T0 + 0.1 * k, kept=False)
    assert gap.missed() == 1                  # before the first model frame: up to the latest frame received
    gap.frame(T0 + 1.0, kept=True)
    assert gap.missed() == 2                  # slots 0 and 1 of the grid went by, slot 2 is the first one taken
    gap.frame(T0 + 7.0, kept=True)            # later frames change nothing
    assert gap.missed() == 2


def test_clock_before_the_first_frame_counts_when_it_agrees_with_the_stamps():
    gap = StartGap(2.0)
    for k in range(40):                       # the bag's /clock from its start, while the model loads (4 s)
        gap.clock(T0 + 0.1 * k)
    gap.frame(T0 + 4.1, kept=True)
    assert gap.missed() == 0 and not gap.settled()     # not judged yet: the frames' evidence only
    gap.clock(T0 + 4.0)                       # the /clock backlog catches up with the first model frame
    assert gap.settled() and gap.clock_ok
    assert gap.missed() == 8                  # slots 0..7 went by before the first model frame (slot 8)


def test_clock_in_another_time_base_is_not_compared_with_the_stamps():
    behind = StartGap(2.0)
    behind.clock(5.0)                         # sim time near 0, camera stamps in epoch time
    behind.frame(T0 + 4.1, kept=True)
    behind.clock(9.0)
    assert behind.missed() == 0 and not behind.settled()
    behind.start_wall -= 11.0                 # no agreeing /clock 10 s after the first model frame: given up
    assert behind.settled() and behind.clock_ok is False and behind.missed() == 0
    ahead = StartGap(2.0)
    ahead.clock(T0 - 100.0)
    ahead.frame(5.0, kept=True)               # stamps near 0, /clock in epoch time
    ahead.clock(T0)
    assert ahead.settled() and ahead.clock_ok is False and ahead.missed() == 0


def test_nothing_seen_is_zero():
    assert StartGap(2.0).missed() == 0


def test_node_reports_the_slots_that_went_by_while_it_was_not_active(ros, scripted):
    from rclpy.parameter import Parameter
    from vstream_ros.ros.assistant_node import AssistantNode
    node = AssistantNode(engine_factory=scripted, namespace="vstream",
                         parameter_overrides=[Parameter("autostart", value=False)])
    assert node.trigger_configure() == 97
    sub = node.subscription("/vstream/image")
    for k in range(6):                        # 3 s of a 2 Hz camera before activation: counted, not decided
        sub.deliver(image_msg(ros, sec=100 + k // 2, nanosec=(k % 2) * 500_000_000))
    assert node.trigger_activate() == 97
    for k in range(6, 10):
        sub.deliver(image_msg(ros, sec=100 + k // 2, nanosec=(k % 2) * 500_000_000))
    node.host.finish(timeout=30)
    node._publish_diagnostics()
    kv = {v.key: v.value for v in node.publisher("/diagnostics").decoded[-1].status[0].values}
    assert kv["dropped_inactive"] == "6" and kv["frames_decided"] == "4"
    assert kv["frames_missed_at_start"] == "6"                        # slots 200..205 of the 2 fps grid
    assert node.trigger_deactivate() == 97 and node.trigger_cleanup() == 97
    assert node.trigger_configure() == 97                             # a new configure: a new stream, a new count
    node._publish_diagnostics()
    kv = {v.key: v.value for v in node.publisher("/diagnostics").decoded[-1].status[0].values}
    assert kv["frames_missed_at_start"] == "0"
