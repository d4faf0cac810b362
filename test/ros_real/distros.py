"""The ROS 2 distributions the real-ROS tier runs against, and each one's small venv for rosidl's code generators.

A distribution is present when /opt/ros/<distro>/setup.bash exists ($VSTREAM_ROS_ROOT replaces /opt/ros;
$VSTREAM_ROS_DISTROS=humble,jazzy restricts the list). Building vstream_msgs runs rosidl's generators, and they need
the empy of their distribution: Humble's templates need empy 3 (3.3.4), Jazzy's need empy 4, so one venv cannot
serve both. Each distribution gets a venv of its own (made from this Python, so the generated C extensions match
its ABI) holding only what the generators import; colcon itself runs under the project's Python, so the installed
`assistant`/`speech` executables start with it (torch and the rest). Imports stdlib only.

    python test/ros_real/distros.py prepare      # make the build venv of every present distribution (.ci/run does)
"""
from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path

KNOWN = ("humble", "jazzy", "lyrical")
# What rosidl's generators and ament_cmake's scripts import (the `numpy` pin is added from this Python: the Python
# bindings compile against its headers). Lyrical is unverified here: its rosidl templates are empy-4 like Jazzy's.
GENERATOR_DEPS = {
    "humble": ["empy==3.3.4", "lark", "catkin_pkg"],
    "jazzy": ["empy>=4,<5", "lark", "catkin_pkg"],
    "lyrical": ["empy>=4,<5", "lark", "catkin_pkg"],
}


def ros_root() -> Path:
    return Path(os.environ.get("VSTREAM_ROS_ROOT", "/opt/ros"))


def present() -> list[str]:
    """The known distributions installed under ros_root(), in KNOWN order, filtered by $VSTREAM_ROS_DISTROS."""
    wanted = [d.strip() for d in os.environ.get("VSTREAM_ROS_DISTROS", "").split(",") if d.strip()]
    return [d for d in KNOWN if (ros_root() / d / "setup.bash").is_file() and (not wanted or d in wanted)]


def python_dirs(distro: str) -> list[str]:
    """The lib/python3.X directories of a distribution (which Python it was built for)."""
    return sorted(p.name for p in (ros_root() / distro / "lib").glob("python3*") if p.is_dir())


def python_mismatch(distro: str) -> str | None:
    """Why this Python cannot import the distribution's rclpy, or None when the versions match."""
    here = f"python{sys.version_info.major}.{sys.version_info.minor}"
    found = python_dirs(distro)
    if here in found:
        return None
    return (f"{ros_root() / distro} was built for {', '.join(found) or 'no Python'}; this is {here}: make the venv "
            f"from the Python the distribution was built with")


def cache_dir() -> Path:
    base = os.environ.get("VSTREAM_ROS_BUILD_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "vstream_ros", "ros-build")
    return Path(base)


def generator_requirements(distro: str) -> list[str]:
    reqs = list(GENERATOR_DEPS[distro])
    try:
        reqs.append(f"numpy=={importlib.metadata.version('numpy')}")
    except importlib.metadata.PackageNotFoundError:
        reqs.append("numpy")
    return reqs


def build_venv(distro: str) -> Path:
    """The Python of the distribution's generator venv, made (once; again when its requirements change) under
    cache_dir(). Raises RuntimeError with pip's last lines when it cannot be made (no network, no such version)."""
    tag = f"py{sys.version_info.major}{sys.version_info.minor}"
    venv = cache_dir() / f"{distro}-{tag}"
    python = venv / "bin" / "python"
    stamp = venv / "vstream-requirements.json"
    reqs = generator_requirements(distro)
    if python.is_file() and stamp.is_file() and json.loads(stamp.read_text()) == reqs:
        return python
    venv.parent.mkdir(parents=True, exist_ok=True)
    steps = [[sys.executable, "-m", "venv", "--clear", str(venv)],
             [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *reqs]]
    for cmd in steps:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            raise RuntimeError(f"could not make the {distro} build venv {venv} ({' '.join(cmd[-len(reqs):])}): "
                               f"{(r.stdout + r.stderr).strip().splitlines()[-1:]}")
    stamp.write_text(json.dumps(reqs))
    return python


def main(argv: list[str]) -> int:
    if argv[:1] != ["prepare"]:
        print("usage: python test/ros_real/distros.py prepare", file=sys.stderr)
        return 2
    for distro in present():
        why = python_mismatch(distro)
        if why:
            print(f"ci: {distro}: the real-ROS tier will skip: {why}")
            continue
        try:
            print(f"ci: {distro}: build venv {build_venv(distro)}")
        except RuntimeError as e:
            print(f"ci: {distro}: {e}; the tier will try again and skip with the reason")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
