"""Our message types (`msg/*.msg`) registered into `rosbags` typestores for Humble and Jazzy.

Used to write/read bags with vstream_msgs and by the rclpy test double to serialize every publish.
Must not import rclpy.
"""
from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

MSG_NAMES = ("Narration", "StepGuidance", "SpeechAudio")
PACKAGE = "vstream_msgs"


def msg_dir() -> Path:
    """Folder holding the canonical `.msg` files: $VSTREAM_MSG_DIR, the source tree, or share/vstream_ros/msg."""
    candidates = []
    if os.environ.get("VSTREAM_MSG_DIR"):
        candidates.append(Path(os.environ["VSTREAM_MSG_DIR"]))
    candidates.append(Path(__file__).resolve().parents[2] / "msg")
    candidates.append(Path(sys.prefix) / "share" / "vstream_ros" / "msg")
    try:  # a sourced ROS workspace
        from ament_index_python.packages import get_package_share_directory  # noqa: PLC0415
        candidates.append(Path(get_package_share_directory("vstream_ros")) / "msg")
    except Exception:  # noqa: BLE001 - ament is optional
        pass
    for c in candidates:
        if all((c / f"{n}.msg").is_file() for n in MSG_NAMES):
            return c
    raise FileNotFoundError(
        "vstream message definitions not found; looked in " + ", ".join(str(c) for c in candidates)
        + " (set VSTREAM_MSG_DIR to the folder holding Narration.msg)")


def msg_text(name: str) -> str:
    return (msg_dir() / f"{name}.msg").read_text()


@functools.lru_cache(maxsize=None)
def get_typestore(distro: str = "humble"):
    """A rosbags typestore of `distro` (humble|jazzy|noetic) with vstream_msgs/msg/* registered."""
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore as _get

    stores = {"humble": Stores.ROS2_HUMBLE, "jazzy": Stores.ROS2_JAZZY, "noetic": Stores.ROS1_NOETIC}
    if distro not in stores:
        raise ValueError(f"unknown distro {distro!r}; expected one of {sorted(stores)}")
    ts = _get(stores[distro])
    types = {}
    for name in MSG_NAMES:
        types.update(get_types_from_msg(msg_text(name), f"{PACKAGE}/msg/{name}"))
    ts.register(types)
    return ts


def msgtype(name: str) -> str:
    """Full ROS 2 type name, e.g. msgtype('Narration') == 'vstream_msgs/msg/Narration'."""
    if name not in MSG_NAMES:
        raise ValueError(f"unknown vstream message {name!r}")
    return f"{PACKAGE}/msg/{name}"
