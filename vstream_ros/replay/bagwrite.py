"""Write rosbag2 bags atomically with `rosbags` (no ROS), and build our output messages.

- `output_bag_dir(path)`: `run.mcap` → (`run/`, mcap), `run.db3` → (`run/`, sqlite3), `run/` → (`run/`, default).
  A rosbag2 bag is a folder (metadata.yaml + one storage file); readers here accept all three spellings.
- `write_bag(path, records, storage=..., version=8)`: writes into a temporary sibling folder, then renames
  it into place (an existing bag at `path` is replaced only after the new one is complete), so an
  interrupted run never leaves a half-written bag under the final name. `version=8` keeps the QoS
  metadata string-shaped, which Humble's rosbag2 reads (docs/design/ros-interfaces.md §7).
- `narration_msg`, `string_msg`, `guidance_msg`, `time_msg`: message instances of the Humble typestore
  with vstream_msgs registered (`vstream_ros.interfaces.typestore`).

Imports: stdlib, numpy, rosbags, vstream_ros.interfaces. Must not import rclpy, torch or the engine.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vstream_ros.interfaces.typestore import get_typestore

STORAGES = ("mcap", "sqlite3")
NS = 1_000_000_000


@dataclass(frozen=True)
class OutRecord:
    """One message to write: topic, full type name, bag timestamp (ns) and the message instance."""

    topic: str
    msgtype: str
    stamp_ns: int
    msg: Any


def output_bag_dir(path: str | Path, storage: str | None = None) -> tuple[Path, str]:
    """(bag folder, storage id) for an output path; see module docstring."""
    p = Path(path)
    if p.suffix == ".mcap":
        guess, p = "mcap", p.with_suffix("")
    elif p.suffix == ".db3":
        guess, p = "sqlite3", p.with_suffix("")
    else:
        guess = "mcap"
    storage = storage or guess
    if storage not in STORAGES:
        raise ValueError(f"storage must be one of {STORAGES}, got {storage!r}")
    if p.name in ("", ".", ".."):
        raise ValueError(f"output bag path {path!r} has no name")
    return p, storage


def time_msg(stamp_ns: int, distro: str = "humble"):
    ts = get_typestore(distro)
    T = ts.types["builtin_interfaces/msg/Time"]
    return T(sec=int(stamp_ns // NS), nanosec=int(stamp_ns % NS))


def header_msg(stamp_ns: int, frame_id: str = "", distro: str = "humble"):
    ts = get_typestore(distro)
    H = ts.types["std_msgs/msg/Header"]
    return H(stamp=time_msg(stamp_ns, distro), frame_id=frame_id)


def string_msg(text: str, distro: str = "humble"):
    return get_typestore(distro).types["std_msgs/msg/String"](data=text)


def narration_msg(stamp_ns: int, text: str, *, kind: int = 0, frame_id: str = "", language: str = "en",
                  confidence: float = float("nan"), window_start_ns: int = 0, frames_in_window: int = 0,
                  latency_ms: float = float("nan"), utterance_id: str = "", seq: int = 0, final: bool = True,
                  distro: str = "humble"):
    """A vstream_msgs/msg/Narration (kind: 0 narration, 1 alert, 2 answer)."""
    N = get_typestore(distro).types["vstream_msgs/msg/Narration"]
    return N(header=header_msg(stamp_ns, frame_id, distro), kind=int(kind), text=text, language=language,
             confidence=float(confidence), window_start=time_msg(window_start_ns, distro),
             frames_in_window=int(frames_in_window), latency_ms=float(latency_ms), utterance_id=utterance_id,
             seq=int(seq), final=bool(final))


def guidance_msg(stamp_ns: int, *, task_id: str = "", task_name: str = "", step_index: int = 0,
                 step_count: int = 0, instruction: str = "", status: int = 0, feedback: str = "",
                 progress: float = 0.0, utterance_id: str = "", frame_id: str = "", distro: str = "humble"):
    """A vstream_msgs/msg/StepGuidance (status: 0 pending, 1 in progress, 2 done, 3 mistake)."""
    G = get_typestore(distro).types["vstream_msgs/msg/StepGuidance"]
    return G(header=header_msg(stamp_ns, frame_id, distro), task_id=task_id, task_name=task_name,
             step_index=int(step_index), step_count=int(step_count), instruction=instruction, status=int(status),
             feedback=feedback, progress=float(progress), utterance_id=utterance_id)


def _storage_plugin(storage: str):
    from rosbags.rosbag2 import StoragePlugin
    return {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}[storage]


def _qos(msgtype_topic: str):
    """Offered QoS recorded for a topic (what the live node offers, docs/design/ros-interfaces.md §3)."""
    from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime
    from vstream_ros.interfaces.topic_qos import topic_qos
    depth, durable = topic_qos(msgtype_topic)
    inf = QosTime(0x7FFFFFFF, 0xFFFFFFFF)
    return [Qos(QosHistory.KEEP_LAST, depth, QosReliability.RELIABLE,
                QosDurability.TRANSIENT_LOCAL if durable else QosDurability.VOLATILE,
                inf, inf, QosLiveliness.AUTOMATIC, inf, False)]


def write_bag(path: str | Path, records: Iterable[OutRecord], *, storage: str | None = None, version: int = 8,
              distro: str = "humble", topics: Iterable[tuple[str, str]] = (),
              custom_data: dict[str, str] | None = None) -> Path:
    """Write `records` (in order) into the rosbag2 folder for `path`; returns the folder.

    `topics` = extra (topic, msgtype) connections declared even when no record uses them, so a reader sees
    the type of an empty output topic. The bag appears under its final name only when complete.
    """
    from rosbags.rosbag2 import Writer
    final, storage = output_bag_dir(path, storage)
    final.parent.mkdir(parents=True, exist_ok=True)
    ts = get_typestore(distro)
    tmp_root = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    tmp = tmp_root / final.name                     # storage file is named after the folder: keep the name
    try:
        with Writer(tmp, version=version, storage_plugin=_storage_plugin(storage)) as writer:
            for key, value in (custom_data or {}).items():
                writer.set_custom_data(key, value)
            conns: dict[str, Any] = {}

            def conn(topic: str, msgtype: str):
                if topic not in conns:
                    conns[topic] = writer.add_connection(topic, msgtype, typestore=ts,
                                                         offered_qos_profiles=_qos(topic))
                elif conns[topic].msgtype != msgtype:
                    raise ValueError(f"topic {topic} written with two types {conns[topic].msgtype} and {msgtype}")
                return conns[topic]

            for topic, msgtype in topics:
                conn(topic, msgtype)
            for rec in records:
                c = conn(rec.topic, rec.msgtype)
                writer.write(c, int(rec.stamp_ns), ts.serialize_cdr(rec.msg, rec.msgtype))
        _replace_dir(tmp, final)
    finally:
        shutil.rmtree(tmp_root, ignore_errors=True)
    return final


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _publish_mode(path: Path) -> None:
    """mkstemp/mkdtemp create 0600/0700 entries; give the final file/folder the usual umask-based mode."""
    mode = (0o777 if path.is_dir() else 0o666) & ~_umask()
    os.chmod(path, mode)
    if path.is_dir():
        for child in path.iterdir():
            os.chmod(child, (0o777 if child.is_dir() else 0o666) & ~_umask())


def _replace_dir(src: Path, dst: Path) -> None:
    """Move folder `src` to `dst`; an existing `dst` is swapped out first and deleted after the move."""
    old = None
    if dst.exists() or dst.is_symlink():
        if not dst.is_dir() or not ((dst / "metadata.yaml").is_file() or not any(dst.iterdir())):
            raise FileExistsError(f"{dst} exists and is not a rosbag2 folder; refusing to replace it")
        old = Path(tempfile.mkdtemp(prefix=f".{dst.name}.old-", dir=dst.parent)) / dst.name
        os.replace(dst, old)
    _publish_mode(src)
    os.replace(src, dst)
    if old is not None:
        shutil.rmtree(old.parent, ignore_errors=True)
