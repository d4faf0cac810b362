"""The streaming engine: pure PyTorch, importable without ROS.

Modules: config, template, events, frames, vision, model, checkpoint, backend, reference, session, runner.
Import what you need from the modules; this package imports nothing heavy at import time.
"""
