"""Real ROS 2: `colcon test` runs what the two package.xml files declare (skipped with the reason without ROS).

vstream_msgs: lint_cmake through ament_lint_auto (BUILD_TESTING on, colcon's default); vstream_ros: pytest on
test/ (here two pure files picked with --pytest-args, as docs/ros.md shows), with ROS sourced — Humble's
launch_testing pytest plugins are disabled in setup.cfg because they do not load under pytest 8+.
"""
from __future__ import annotations

import subprocess
import sys

from rosutil import REPO


def test_colcon_test_runs_lint_cmake_and_pytest(ros_env, tmp_path):
    ws = tmp_path / "ws"
    (ws / "src").mkdir(parents=True)
    (ws / "src" / "vstream_ros").symlink_to(REPO)
    paths = ["--base-paths", "src", "src/vstream_ros/vstream_msgs"]

    def colcon(*args, timeout=900):
        r = subprocess.run(["colcon", *args], cwd=ws, env=ros_env, capture_output=True, text=True, timeout=timeout)
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
        return r.stdout
    colcon("build", *paths, "--cmake-args", f"-DPYTHON_EXECUTABLE={sys.executable}")
    colcon("test", *paths, "--pytest-args", "test/ros/test_stamps.py", "test/ros/test_diagnostics_table.py")
    results = colcon("test-result", "--all", "--verbose")
    lines = {line.split(":")[0].rsplit("/", 1)[-1]: line for line in results.splitlines() if ".xml:" in line}
    assert "1 test, 0 errors, 0 failures" in lines["lint_cmake.xunit.xml"], results
    assert "0 errors, 0 failures" in lines["pytest.xml"] and int(lines["pytest.xml"].split()[1]) >= 8, results
