"""Rosbag replay and evaluation: bag I/O (rosbags, no ROS), the replay driver over the stream host
(vstream_ros/host, the node's own path), metrics, references, reports and the `vstream replay` / `vstream eval` subcommands.

Importing this package imports nothing heavy (no torch, no rosbags, no rclpy).
"""
