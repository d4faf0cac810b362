"""`vstream bench`: the reference synchronous loop vs the fast overlapped pipeline, in one run.

Imports: torch, engine modules. Never ROS.
"""
