"""vstream_ros.viz: what the model saw, drawn for people — the overlay renderer (frame + utterance text +
P(silent) bar against the threshold + memory occupancy), the tracker that turns engine events into overlay states
and the bounded drawing worker. Viewers (the ROS overlay topic, `vstream run --overlay-dir`, Foxglove) build on it.

The renderer (overlay.py, jpeg.py) and the option checks (options.py) import numpy, PIL and the stdlib only; the
Foxglove modules (channels, foxglove_live, mcap_file, session) add the optional `[viz]` extra's foxglove-sdk.
Never rclpy; torch and the engine only inside functions (session.py's overlay feed of a loaded engine).
"""
