"""Task step tracking for assist mode: the goal becomes the user turn; utterances are matched to a step list.

Imports: stdlib only (no rclpy, no torch)."""
from vstream_ros.guidance.tracker import GuidanceUpdate, StepTracker, goal_prompt  # noqa: F401
