"""ROS message definitions and conversions that need no ROS runtime (pure Python + rosbags).

Shared by the replay tools and the rclpy nodes. Must not import rclpy or any ROS package.
"""
