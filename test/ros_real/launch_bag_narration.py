"""A launch_testing description (run by `launch_test`, not collected by pytest): play a synthetic bag on /clock
and wait for /vstream/narration — how a user checks the package in their own ROS CI.

    launch_test test/ros_real/launch_bag_narration.py      # in a sourced workspace with vstream_ros built

test_real_launch_files.py runs it in the real-ROS tier. It uses the tiny test model (vstream_ros/testing/tiny.py)
with stream.threshold 1.0, so every frame narrates. Imports launch, launch_ros, launch_testing(_ros), vstream_msgs.
"""
import tempfile
import unittest
from pathlib import Path

import launch
import launch_ros.actions
import launch_testing.actions
import launch_testing.asserts
import numpy as np
import pytest
from launch_testing_ros import WaitForTopics
from vstream_msgs.msg import Narration


def write_bag(path: Path, frames: int = 30, hz: float = 10.0) -> Path:
    """A Humble-compatible (version 8) sqlite3 bag of rgb8 Images on /camera/image_raw."""
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore
    ts = get_typestore(Stores.ROS2_HUMBLE)
    Image, Header, Time = (ts.types[n] for n in ("sensor_msgs/msg/Image", "std_msgs/msg/Header",
                                                 "builtin_interfaces/msg/Time"))
    rng = np.random.default_rng(0)
    with Writer(path, version=8, storage_plugin=StoragePlugin.SQLITE3) as w:
        conn = w.add_connection("/camera/image_raw", "sensor_msgs/msg/Image", typestore=ts)
        for i in range(frames):
            ns = 1_700_000_000 * 10**9 + int(i * 1e9 / hz)
            data = rng.integers(0, 255, 48 * 64 * 3, dtype=np.uint8)
            msg = Image(Header(Time(ns // 10**9, ns % 10**9), "cam"), 48, 64, "rgb8", 0, 64 * 3, data)
            w.write(conn, ns, ts.serialize_cdr(msg, "sensor_msgs/msg/Image"))
    return path


@pytest.mark.launch_test
def generate_test_description():
    from vstream_ros.testing.tiny import cached_tiny_checkpoint
    tiny = cached_tiny_checkpoint()
    bag = write_bag(Path(tempfile.mkdtemp(prefix="vstream_bag_")) / "bag")
    assistant = launch_ros.actions.Node(
        package="vstream_ros", executable="assistant", name="assistant", namespace="vstream",
        parameters=[{"model.checkpoint": str(tiny.checkpoint), "model.llm": str(tiny.llm),
                     "model.vision": str(tiny.vision), "model.device": "cpu", "model.dtype": "float32",
                     "stream.threshold": 1.0, "stream.max_new_tokens": 4, "use_sim_time": True}],
        remappings=[("image", "/camera/image_raw")])
    play = launch.actions.ExecuteProcess(cmd=["ros2", "bag", "play", str(bag), "--clock", "--loop"],
                                         output="screen")
    return launch.LaunchDescription([assistant, play, launch_testing.actions.ReadyToTest()])


class TestNarrationArrives(unittest.TestCase):
    def test_narration_published(self):
        with WaitForTopics([("/vstream/narration", Narration)], timeout=120.0) as wait:
            msgs = wait.received_messages("/vstream/narration")
        self.assertTrue(msgs)
        # stamped with the capture stamp of a bag frame (30 frames at 10 Hz from t = 1.7e9 s), not with wall time;
        # the subscriber may join after the first loop has started, so any of the bag's frames
        bag_stamps = {(1_700_000_000 + i // 10, (i % 10) * 100_000_000) for i in range(30)}
        for m in msgs:
            self.assertIn((m.header.stamp.sec, m.header.stamp.nanosec), bag_stamps)


@launch_testing.post_shutdown_test()
class TestShutdown(unittest.TestCase):
    def test_exit_codes(self, proc_info):
        launch_testing.asserts.assertExitCodes(proc_info, allowable_exit_codes=[0, -2, -15])
