"""Real ROS 2: the assistant's request endpoints answer at once while it is not active (skipped without ROS).

`ros2 action send_goal …/ask` and `ros2 service call …/reset` against a node launched with `autostart:=false`
(unconfigured, no model loaded) finish within seconds with the reason, instead of waiting for a server that
appears only at configure.
"""
from __future__ import annotations

import time

import pytest

from rosutil import launched, ros


@pytest.mark.every_distro
def test_ask_and_reset_answer_not_active_before_configure(ros_env, demo_params, tmp_path):
    with launched(ros_env, tmp_path, f"params_file:={demo_params}", "model:=demo", "autostart:=false",
                  wait_for="") as run:
        start = time.monotonic()
        goal = ros(ros_env, "action", "send_goal", "/vstream/ask", "vstream_msgs/action/Ask",
                   "{question: 'What is on the table?'}", timeout=90, check=False)
        said = goal.stdout + goal.stderr
        assert "ABORTED" in said and "not active (the assistant is unconfigured)" in said, said
        assert "ros2 lifecycle set /vstream/assistant configure, then activate" in said, said
        assert time.monotonic() - start < 60, said                        # node start-up included
        reset = ros(ros_env, "service", "call", "/vstream/reset", "std_srvs/srv/Trigger", timeout=30)
        assert "success=False" in reset.stdout and "not configured" in reset.stdout, reset.stdout
        assert "unconfigured [1]" in ros(ros_env, "lifecycle", "get", "/vstream/assistant").stdout
        assert "model load" not in run.output()                             # nothing was loaded
