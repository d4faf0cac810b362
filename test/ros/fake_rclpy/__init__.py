"""A signature-accurate rclpy test double (NOT a real ROS runtime; NOT MagicMock).

It reproduces the parts of the rclpy Humble/Jazzy API our nodes use, with the rules that bite in practice:
required positional `qos_profile`, keyword-only extras, the QoSProfile history/depth rule, static parameter typing
and ParameterAlreadyDeclaredException, descriptor ranges/read-only, topic/node name validation, lifecycle state
machine, and message classes built from the rosbags typestores (vstream_ros.interfaces.typestore) with rclpy-style
typed setters. Every `publish()` serializes the message with `serialize_cdr` in the Humble AND Jazzy typestores and
round-trips it, so a wrong field name or type fails the test.

What it does not prove: executor scheduling, DDS discovery/matching on the wire, real rcl behaviour.
Install it only inside fixtures: `with fake_rclpy.installed('humble') as ros: ...` (see install.py).
"""
from .install import installed  # noqa: F401
