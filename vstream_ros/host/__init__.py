"""The stream host (one per stream): what the ROS node, `vstream run` and `vstream replay` share (ROS-free).

stream_host.py  StreamHost: stamps → model clock at ingest → engine pipeline → events → outputs
routing.py  OutputRouter: events → Narration chunks / narration_text / StepGuidance (the one copy)
build.py    EngineConfig (engine/options.py) → loaded model + backend

Must not import rclpy.
"""
