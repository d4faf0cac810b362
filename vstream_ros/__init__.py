"""vstream_ros: proactive streaming video-LLM narration for ROS 2 (VideoLLM-online family).

The top-level package imports nothing heavy; import subpackages explicitly:
`vstream_ros.engine` (pure PyTorch), `vstream_ros.ros` (rclpy nodes, ROS machines only).
"""

__version__ = "0.1.0"

from . import logfilters as _logfilters  # noqa: E402  (stdlib only: drops torchao's known start-up noise)

_logfilters.install()
