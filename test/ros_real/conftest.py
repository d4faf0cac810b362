"""The real-ROS tier: fixtures that build this repo with colcon against a real ROS 2 Humble and run real nodes.

Runs wherever /opt/ros/humble/setup.bash exists (or $VSTREAM_ROS_SETUP names another setup.bash); skips with the
reason elsewhere. The pytest process never imports rclpy: the ROS environment (setup.bash + the workspace built
here) is captured once and given to subprocesses — `ros2 launch`, `ros2 bag`, `ros2 param`, and driver.py (a real
rclpy node playing the camera and recording outputs). DDS stays on loopback (ROS_LOCALHOST_ONLY=1) on a domain id
of its own.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from rosutil import DEMO, REPO  # noqa: E402

SETUP = Path(os.environ.get("VSTREAM_ROS_SETUP", "/opt/ros/humble/setup.bash"))


def _capture_env(script: str) -> dict:
    out = subprocess.run(["bash", "-c", f"{script} >/dev/null 2>&1 && env -0"], capture_output=True, check=True,
                         timeout=120).stdout
    return dict(kv.split("=", 1) for kv in out.decode().split("\0") if "=" in kv)


@pytest.fixture(scope="session")
def ros_env(tmp_path_factory):
    """Environment with ROS 2 Humble + this repo's workspace (vstream_msgs, vstream_ros) built by colcon."""
    if not SETUP.is_file():
        pytest.skip(f"real-ROS tier: no ROS 2 at {SETUP} (build Humble into /opt/ros/humble; see docs/ros.md)")
    venv_bin = str(Path(sys.executable).parent)
    base = _capture_env(f"export PATH={venv_bin}:$PATH; source {SETUP}")
    try:
        subprocess.run([sys.executable, "-c", "import colcon_cmake, em, lark, netifaces"], check=True,
                       capture_output=True)
    except subprocess.CalledProcessError:
        pytest.skip("real-ROS tier: colcon-cmake, empy==3.3.4, lark and netifaces must be installed in this venv "
                    "(pip install colcon-common-extensions empy==3.3.4 lark netifaces)")
    ws = tmp_path_factory.mktemp("ros_ws")
    (ws / "src").mkdir()
    (ws / "src" / "vstream_ros").symlink_to(REPO)
    build = subprocess.run(
        ["colcon", "build", "--base-paths", "src", "src/vstream_ros/vstream_msgs", "--cmake-args",
         f"-DPYTHON_EXECUTABLE={sys.executable}", "-DBUILD_TESTING=OFF"],
        cwd=ws, env=base, capture_output=True, text=True, timeout=900)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    env = _capture_env(f"export PATH={venv_bin}:$PATH; source {SETUP} && source {ws}/install/setup.bash")
    env.update(ROS_LOCALHOST_ONLY="1", RMW_IMPLEMENTATION="rmw_cyclonedds_cpp", HF_HUB_OFFLINE="1",
               ROS_DOMAIN_ID=str(40 + os.getpid() % 50), PYTHONUNBUFFERED="1",
               ROS_LOG_DIR=str(tmp_path_factory.mktemp("ros_log")))
    return env


@pytest.fixture(scope="session")
def demo_params(tmp_path_factory):
    """A params file pointing the assistant at the shipped demo model (CPU, float32)."""
    p = tmp_path_factory.mktemp("params") / "demo.yaml"
    p.write_text("/**:\n  ros__parameters:\n    model:\n"
                 f"      checkpoint: {DEMO / 'checkpoint'}\n      llm: {DEMO / 'llm'}\n"
                 f"      vision: {DEMO / 'vision'}\n      device: cpu\n      dtype: float32\n")
    return p
