"""The QoS profiles of every vstream topic, in one place (docs/design/ros-interfaces.md §3): both nodes and their
tests take them from here, so a publisher and its subscriber can never disagree.

Imports: rclpy.qos only.
"""
from __future__ import annotations

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy


def _reliable(depth: int, latched: bool = False) -> QoSProfile:
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth, reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.TRANSIENT_LOCAL if latched else DurabilityPolicy.VOLATILE)


TEXT_QOS = _reliable(10)                       # narration_text (std_msgs/String)
NARRATION_QOS = _reliable(50)                  # narration chunks: a burst of chunks must not be lost
GUIDANCE_QOS = _reliable(1, latched=True)      # the latest StepGuidance, for late joiners
SPEECH_QOS = _reliable(50)                     # SpeechAudio


def image_qos(depth: int) -> QoSProfile:
    """Camera subscriptions: BEST_EFFORT matches both reliable and best-effort cameras (and `ros2 bag play`)."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth, reliability=ReliabilityPolicy.BEST_EFFORT,
                      durability=DurabilityPolicy.VOLATILE)
