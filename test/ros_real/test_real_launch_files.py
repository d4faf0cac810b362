"""Real ROS 2 (each distribution present): the shipped launch files run as a user runs them (skipped with the
reason without ROS).

- `launch/replay_eval.launch.py`: plays a bag on /clock into the assistant (sim time) once the assistant is active
  (not after a fixed delay), records its outputs, and shuts itself down when playback ends; `vstream eval` of the
  recording finds the narrations of the bag. A node that never becomes active, or one of the same name still
  running from an earlier launch: the launch stops with the reason.
- `launch_test` of a launch_testing description (launch_bag_narration.py): narration arrives with the bag's stamps.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def test_replay_eval_launch_plays_records_and_stops_by_itself(ros_env, demo_params, tmp_path):
    from vstream_lab.cli import main as vstream_lab
    from vstream_ros.cli import main as vstream
    synth = tmp_path / "synth"
    assert vstream_lab(["synth", str(synth), "--num-videos", "1", "--duration", "20", "--fps", "10", "--bag", "mcap",
                        "--seed", "900002"]) == 0
    bag = next((synth / "bags").iterdir())
    out = tmp_path / "live"
    r = subprocess.run(["ros2", "launch", "vstream_ros", "replay_eval.launch.py", f"bag:={bag}", f"out:={out}",
                        "model:=demo", f"params_file:={demo_params}", "tail:=3",
                        "rate:=2.0"],
                       env=ros_env, capture_output=True, text=True, timeout=240)
    log = r.stdout[-3000:] + r.stderr[-3000:]
    assert r.returncode == 0, log
    assert re.search(r"\[assistant-\d+\]: process has finished cleanly", r.stdout), log   # ended by itself
    active = r.stdout.find("/vstream/assistant is active: playing the bag")
    assert active > r.stdout.find("activated:") >= 0, log                      # played once active, no fixed wait
    assert (out / "metadata.yaml").is_file(), log
    report = tmp_path / "eval.json"
    assert vstream(["eval", "--pred", str(out), "--ref", str(bag), "--ref-topic", "/ref/narration", "--tolerance", "1",
                    "--json", str(report)]) == 0
    got = json.loads(report.read_text())
    assert got["n_pred"] >= 1 and got["n_ref"] >= 3, got
    assert got["f1"] >= 0.5, got


def test_replay_eval_launch_stops_with_the_reason_when_the_node_never_activates(ros_env, demo_params, tmp_path):
    r = subprocess.run(["ros2", "launch", "vstream_ros", "replay_eval.launch.py", f"bag:={tmp_path / 'no_bag'}",
                        f"out:={tmp_path / 'live'}", "model:=/nonexistent/checkpoint", f"params_file:={demo_params}"],
                       env=ros_env, capture_output=True, text=True, timeout=180)
    log = r.stdout[-3000:] + r.stderr[-3000:]
    assert "model load failed" in log, log
    assert "/vstream/assistant stayed unconfigured (its autostart failed" in log, log     # at once, not after 600 s
    assert "is active: playing the bag" not in log, log


ORPHAN = """
import rclpy, sys
rclpy.init()
node = rclpy.create_node("assistant", namespace="vstream")
print("up", flush=True)
try:
    rclpy.spin(node)
except BaseException:
    pass
"""


@pytest.mark.every_distro
def test_replay_eval_launch_refuses_while_an_earlier_assistant_still_runs(ros_env, demo_params, tmp_path):
    # a node left by an earlier launch (ended by SIGTERM, its child kept running) must not be taken for the new one
    orphan = subprocess.Popen([sys.executable, "-c", ORPHAN], env=ros_env, stdout=subprocess.PIPE, text=True)
    try:
        assert orphan.stdout.readline().strip() == "up"
        r = subprocess.run(["ros2", "launch", "vstream_ros", "replay_eval.launch.py", f"bag:={tmp_path / 'no_bag'}",
                            f"out:={tmp_path / 'live'}", "model:=demo", f"params_file:={demo_params}"],
                           env=ros_env, capture_output=True, text=True, timeout=120)
    finally:
        orphan.kill()                                   # a stand-in: Humble's rclpy may sit out a SIGTERM in spin()
        orphan.wait(timeout=20)
    log = r.stdout[-3000:] + r.stderr[-3000:]
    assert "a node named /vstream/assistant is already running" in log, log
    assert "[assistant-" not in log and "is active: playing the bag" not in log, log     # nothing else started
    assert not (tmp_path / "live").exists(), log


def test_launch_test_of_a_bag_sees_narration_with_the_bags_stamps(ros_env, tmp_path):
    # launch_test under this Python (the launch file imports torch via the tiny model); the distribution's own
    # `launch_test` script starts the Python the distribution was built with
    r = subprocess.run([sys.executable, "-m", "launch_testing.launch_test", str(HERE / "launch_bag_narration.py")],
                       env=ros_env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-3000:]
    assert "Ran 1 test" in r.stdout + r.stderr or "OK" in r.stdout + r.stderr


@pytest.mark.every_distro
def test_colcon_install_tree_holds_the_product_only(ros_env):
    """The workspace the tier built (conftest.py): vstream_ros is installed, vstream_lab and its command are not."""
    prefix = Path(ros_env["AMENT_PREFIX_PATH"].split(":")[0])
    assert prefix.name == "vstream_ros", prefix
    site = list(prefix.glob("lib/python3*/site-packages"))
    assert site and (site[0] / "vstream_ros" / "engine").is_dir()
    assert not list(site[0].glob("vstream_lab*")), list(site[0].iterdir())
    assert not (prefix / "lib" / "vstream_ros" / "vstream-lab").exists()
    assert (prefix / "share" / "vstream_ros" / "models" / "demo" / "streams" / "world_000.mp4").is_file()
