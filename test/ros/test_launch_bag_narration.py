"""T2 (real ROS only): play a synthetic bag and wait for /vstream/narration with launch_testing.

Skips with a stated reason where rclpy / launch_testing are absent (the ROS-less CI box): it is never reported as
passed there. On a sourced Humble/Jazzy workspace with vstream_ros + vstream_msgs built:
    python -m pytest test/ros/test_launch_bag_narration.py
It uses the tiny test model (vstream_ros/testing/tiny.py) with stream.threshold 1.0, so every frame narrates.
"""
import unittest

import pytest

pytest.importorskip("rclpy", reason="rclpy not available: real-ROS launch test needs a sourced ROS 2 install")
pytest.importorskip("launch_testing", reason="launch_testing not installed (ros-<distro>-launch-testing)")
pytest.importorskip("launch_testing_ros", reason="launch_testing_ros not installed")
pytest.importorskip("vstream_msgs.msg", reason="vstream_msgs not built (colcon build ... src/vstream_ros/vstream_msgs)")

import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import launch  # noqa: E402
import launch_ros.actions  # noqa: E402
import launch_testing.actions  # noqa: E402
import launch_testing.asserts  # noqa: E402
import numpy as np  # noqa: E402
from launch_testing_ros import WaitForTopics  # noqa: E402
from vstream_msgs.msg import Narration  # noqa: E402


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
        self.assertEqual(msgs[0].header.stamp.sec, 1_700_000_000)


@launch_testing.post_shutdown_test()
class TestShutdown(unittest.TestCase):
    def test_exit_codes(self, proc_info):
        launch_testing.asserts.assertExitCodes(proc_info, allowable_exit_codes=[0, -2, -15])
