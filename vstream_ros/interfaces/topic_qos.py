"""Depth and durability of every topic vstream publishes (docs/design/ros-interfaces.md §3), without ROS: the
nodes build their rclpy profiles from this table (ros/qos.py) and replay records the same offered QoS in its
output bags (replay/bagwrite.py), so a recording and the live node offer the same.

Imports: stdlib only.
"""
from __future__ import annotations

# topic (last name) → (KEEP_LAST depth, latched = TRANSIENT_LOCAL); all RELIABLE
TOPIC_QOS: dict[str, tuple[int, bool]] = {
    "narration": (50, False),       # chunks: a burst must not be lost
    "narration_text": (10, False),
    "guidance": (1, True),          # the latest StepGuidance, for late joiners
    "speech": (50, False),
    "overlay": (2, False),          # overlay images (and overlay/compressed)
    "compressed": (2, False),
}
DEFAULT_QOS = (10, False)


def topic_qos(topic: str) -> tuple[int, bool]:
    """(depth, latched) of a topic by its last name component (unknown topics: depth 10, volatile)."""
    return TOPIC_QOS.get(topic.rstrip("/").rsplit("/", 1)[-1], DEFAULT_QOS)
