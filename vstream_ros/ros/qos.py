"""The QoS profiles of every vstream topic, in one place (docs/design/ros-interfaces.md §3): both nodes and their
tests take them from here, so a publisher and its subscriber can never disagree.

Imports: rclpy.qos and interfaces.topic_qos (the ROS-free table).
"""
from __future__ import annotations

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from vstream_ros.interfaces.topic_qos import topic_qos


def reliable_qos(topic: str) -> QoSProfile:
    """The RELIABLE profile of one of our topics (depth and durability from interfaces/topic_qos.py)."""
    depth, latched = topic_qos(topic)
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth, reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.TRANSIENT_LOCAL if latched else DurabilityPolicy.VOLATILE)


TEXT_QOS = reliable_qos("narration_text")
NARRATION_QOS = reliable_qos("narration")
GUIDANCE_QOS = reliable_qos("guidance")
SPEECH_QOS = reliable_qos("speech")
OVERLAY_QOS = reliable_qos("overlay")          # images: a short queue, a slow viewer must not hold many
# the ask action's feedback (one message per chunk of the answer): rclpy's default depth 10 lets a busy client lose
# chunks (the writer replaces unacknowledged ones), and the chunks joined must be the answer
ASK_FEEDBACK_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=200, reliability=ReliabilityPolicy.RELIABLE,
                              durability=DurabilityPolicy.VOLATILE)


def image_qos(depth: int, reliable: bool = False) -> QoSProfile:
    """Camera subscriptions: BEST_EFFORT (the default) matches both reliable and best-effort cameras (and
    `ros2 bag play`) and never slows a camera down; RELIABLE (`image.reliability: reliable`) loses no frame of a
    reliable publisher such as `ros2 bag play` — what a bag that must narrate like `vstream replay` needs."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth,
                      reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT,
                      durability=DurabilityPolicy.VOLATILE)
