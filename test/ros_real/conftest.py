"""The real-ROS tier: fixtures that build this repo with colcon against each real ROS 2 present and run real nodes.

`ros_env` is parametrized by the distributions installed under /opt/ros (ids `humble`, `jazzy`, `lyrical`; see
distros.py; $VSTREAM_ROS_DISTROS=jazzy keeps one), and with none installed a single `none` instance skips with the
reason. With several distributions, $VSTREAM_ROS_TIER picks how the tests share them: `spread` (the default, and
what CI runs) runs each long test on one distribution, taking turns in collection order so that every distribution
runs about half of them and the cases of one parametrized test land on different ones, while tests marked
`every_distro` (endpoints, the orphan guard, the install tree: seconds each) run on all; `each` runs every test on
every distribution (run it before resolving ROS work; about twice as long). Under pytest-xdist (`-n 2`: for
machines with 4 cores or more; the test command runs the tier in one process) all tests of one distribution go to
one worker (`pytest_xdist_make_scheduler`), so distributions run side by side. For each distribution the workspace
(vstream_msgs, vstream_ros) is built once per session: colcon runs under this Python, so the installed nodes start
with it, and rosidl's generators run under the distribution's own small build venv (its empy). The pytest process
never imports rclpy: the ROS
environment (setup.bash + the workspace built here) is captured once and given to subprocesses — `ros2 launch`,
`ros2 bag`, `ros2 param`, and driver.py (a real rclpy node playing the camera and recording outputs). DDS stays on
loopback (ROS_LOCALHOST_ONLY=1 on Humble, ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST from Jazzy on) on a domain id of
its own per distribution; the ros2 daemon is stopped at the end.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from distros import build_venv, present, python_mismatch, ros_root  # noqa: E402
from rosutil import DEMO, REPO  # noqa: E402

DISTROS = present()
TIER = os.environ.get("VSTREAM_ROS_TIER", "spread")
if TIER not in ("spread", "each"):
    raise pytest.UsageError(f"VSTREAM_ROS_TIER={TIER!r}: use 'spread' (each long test on one distribution, the "
                            f"default) or 'each' (every test on every distribution)")


def pytest_xdist_make_scheduler(config, log):
    """Under pytest-xdist (`-n 2`) every test of one distribution runs in the same worker, so that the
    distributions run side by side, each with its one colcon build and its own ROS domain (a scope per distribution:
    the id in the test's brackets)."""
    from xdist.scheduler import LoadScopeScheduling

    class OneWorkerPerDistribution(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            m = re.search(r"\[(humble|jazzy|lyrical|none)[-\]]", nodeid)
            return m.group(1) if m else super()._split_scope(nodeid)
    return OneWorkerPerDistribution(config, log)


def pytest_collection_modifyitems(config, items):
    """VSTREAM_ROS_TIER=spread: keep one distribution per long test (turns in collection order)."""
    if TIER == "each" or len(DISTROS) < 2:
        return
    here = Path(__file__).resolve().parent
    turns: dict[tuple, int] = {}
    keep, drop = [], []
    for item in items:
        distro = getattr(getattr(item, "callspec", None), "params", {}).get("ros_env")
        if distro is None or Path(str(item.fspath)).resolve().parent != here \
                or item.get_closest_marker("every_distro") is not None:
            keep.append(item)
            continue
        others = tuple(sorted((k, repr(v)) for k, v in item.callspec.params.items() if k != "ros_env"))
        key = (str(item.fspath), item.originalname, others)
        turn = turns.setdefault(key, len(turns))
        (keep if DISTROS[turn % len(DISTROS)] == distro else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def _capture_env(script: str) -> dict:
    out = subprocess.run(["bash", "-c", f"{script} >/dev/null 2>&1 && env -0"], capture_output=True, check=True,
                         timeout=120).stdout
    return dict(kv.split("=", 1) for kv in out.decode().split("\0") if "=" in kv)


@pytest.fixture(scope="session", params=DISTROS or [None], ids=DISTROS or ["none"])
def ros_env(request, tmp_path_factory):
    """Environment with one ROS 2 distribution + this repo's workspace (vstream_msgs, vstream_ros) built by colcon;
    env["ROS_DISTRO"] names it, env["VSTREAM_ROS_BUILD_PYTHON"] is its generator venv's Python (PYTHON_EXECUTABLE)."""
    distro = request.param
    if distro is None:
        only = os.environ.get("VSTREAM_ROS_DISTROS")
        pytest.skip(f"real-ROS tier: no ROS 2 under {ros_root()} (looked for humble, jazzy, lyrical"
                    f"{'; $VSTREAM_ROS_DISTROS=' + only if only else ''}; see docs/ros.md)")
    setup = ros_root() / distro / "setup.bash"
    why = python_mismatch(distro)
    if why:
        pytest.skip(f"real-ROS tier ({distro}): {why}")
    try:
        subprocess.run([sys.executable, "-c", "import colcon_cmake, colcon_ros"], check=True, capture_output=True)
    except subprocess.CalledProcessError:
        pytest.skip("real-ROS tier: colcon must be installed in this venv (pip install colcon-common-extensions)")
    try:
        gen_python = build_venv(distro)
    except RuntimeError as e:
        pytest.skip(f"real-ROS tier ({distro}): {e}")
    venv_bin = str(Path(sys.executable).parent)
    base = _capture_env(f"export PATH={venv_bin}:$PATH; source {setup}")
    ws = tmp_path_factory.mktemp(f"ros_ws_{distro}")
    (ws / "src").mkdir()
    (ws / "src" / "vstream_ros").symlink_to(REPO)
    build = subprocess.run(
        ["colcon", "build", "--base-paths", "src", "src/vstream_ros/vstream_msgs", "--cmake-args",
         f"-DPYTHON_EXECUTABLE={gen_python}", f"-DPython3_EXECUTABLE={gen_python}", "-DBUILD_TESTING=OFF"],
        cwd=ws, env=base, capture_output=True, text=True, timeout=900)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    env = _capture_env(f"export PATH={venv_bin}:$PATH; source {setup} && source {ws}/install/setup.bash")
    if distro == "humble":                    # Jazzy deprecates ROS_LOCALHOST_ONLY (a warning from every node)
        env["ROS_LOCALHOST_ONLY"] = "1"
    else:
        env.pop("ROS_LOCALHOST_ONLY", None)
        env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    env.update(RMW_IMPLEMENTATION="rmw_cyclonedds_cpp", HF_HUB_OFFLINE="1",
               ROS_DOMAIN_ID=str(20 + (os.getpid() % 25) * 3 + DISTROS.index(distro)), PYTHONUNBUFFERED="1",
               ROS_LOG_DIR=str(tmp_path_factory.mktemp(f"ros_log_{distro}")))
    env["VSTREAM_ROS_BUILD_PYTHON"] = str(gen_python)        # for tests that run colcon themselves
    assert env.get("ROS_DISTRO") == distro, env.get("ROS_DISTRO")
    yield env
    subprocess.run(["ros2", "daemon", "stop"], env=env, capture_output=True, timeout=60)


@pytest.fixture(scope="session")
def demo_params(tmp_path_factory):
    """A params file pointing the assistant at the shipped demo model (CPU, float32)."""
    p = tmp_path_factory.mktemp("params") / "demo.yaml"
    p.write_text("/**:\n  ros__parameters:\n    model:\n"
                 f"      checkpoint: {DEMO / 'checkpoint'}\n      llm: {DEMO / 'llm'}\n"
                 f"      vision: {DEMO / 'vision'}\n      device: cpu\n      dtype: float32\n")
    return p
