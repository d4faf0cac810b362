"""Real ROS 2: the assistant's request endpoints (skipped without ROS).

`ros2 action send_goal …/ask` and `ros2 service call …/reset` against a node launched with `autostart:=false`
(unconfigured, no model loaded) finish within seconds with the reason, instead of waiting for a server that
appears only at configure. With recall on, `ros2 action send_goal …/ask` about a moment that has left the bounded
cache returns the answer with the evidence stamps of the recalled frames: camera stamps of that moment.
"""
from __future__ import annotations

import re
import time

import pytest

from rosutil import demo_args, drive, launched, ros


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


def test_ask_about_a_moment_that_left_the_cache_returns_recalled_evidence_stamps(ros_env, demo_params, tmp_path):
    # a window of 6 frames (3 s) over a 10-s live camera: at the question the frames of 0:00-0:05 are long evicted
    params = tmp_path / "recall.yaml"
    params.write_text(demo_params.read_text() + "    memory:\n      policy: window\n      budget_tokens: 100\n"
                      "      recall: \"on\"\n")
    with launched(ros_env, tmp_path, *demo_args(params)) as run:
        got = drive(ros_env, tmp_path, "stream", "--world", "0", "--duration", "10", "--hz", "10", "--base-sec", "now")
        goal = ros(ros_env, "action", "send_goal", "/vstream/ask", "vstream_msgs/action/Ask",
                   "{question: 'What did I pick up at 0:02?'}", timeout=90, check=False)
    said = goal.stdout + goal.stderr
    assert "SUCCEEDED" in said and "recall on:" in run.output(), said + run.output()[-2000:]
    answer = re.search(r"answer: (.+)", said)
    assert answer and answer.group(1).strip(" '\""), said
    base = got["base_sec"] + got["published"][0][1]                   # the stream's first frame: 0:00
    last = got["base_sec"] + got["published"][-1][1]
    evidence = [int(sec) + int(ns) / 1e9 - base for sec, ns in re.findall(r"sec: (\d+)\s+nanosec: (\d+)", said)]
    assert evidence and all(-0.01 <= t <= 5.01 for t in evidence), (evidence, said)       # 0:02 ± 3 s
    assert max(evidence) < last - base - 3.0, (evidence, last - base)      # older than the 3-s window it holds
