"""vstream_ros.viz: what the model saw, drawn for people — the overlay renderer (frame + utterance text +
P(silent) bar against the threshold + memory occupancy), the tracker that turns engine events into overlay states
and the bounded drawing worker. Viewers (the ROS overlay topic, `vstream run --overlay-dir`, Foxglove) build on it.

Imports numpy and PIL only (and the stdlib); never rclpy, torch or the engine.
"""
