"""Small test-bag generator (rosbags, no ROS) for tests, docs and the synthetic world.

`write_image_bag(path, frames, ...)` writes a camera stream (sensor_msgs/Image or CompressedImage, stamped
with the frame time in both the header and the bag receive time), an optional reference narration topic
(std_msgs/String or vstream_msgs/Narration) and an optional user-query topic (std_msgs/String), as
rosbag2 mcap / sqlite3 (a folder; `x.mcap` → folder `x/`) or a ROS 1 `.bag` file. Times are seconds and
become `round(t * 1e9)` ns stamps. The bag is written atomically.

Imports: stdlib, numpy, cv2 (compressed frames only), rosbags, vstream_ros.interfaces, this package's
bagwrite. Must not import rclpy, torch or the engine.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from vstream_ros.interfaces.typestore import get_typestore
from vstream_ros.replay.bagwrite import (
    NS,
    OutRecord,
    _publish_mode,
    narration_msg,
    output_bag_dir,
    string_msg,
    write_bag,
)

DEFAULT_QUERY_TOPIC = "/vstream/query"   # the assistant node subscribes <namespace>/query


def _ns(t: float) -> int:
    ns = round(float(t) * NS)
    if ns < 0:
        raise ValueError(f"bag times must be >= 0 s, got {t}")
    return ns


def _image_msg(ts, ns: int, rgb: np.ndarray, seq: int, *, compressed: bool, encoding: str, fmt: str,
               frame_id: str, ros1: bool):
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"frames must be uint8 HxWx3 RGB, got shape {rgb.shape}")
    T = ts.types["builtin_interfaces/msg/Time"]
    H = ts.types["std_msgs/msg/Header"]
    stamp = T(sec=ns // NS, nanosec=ns % NS)
    header = H(seq=seq, stamp=stamp, frame_id=frame_id) if ros1 else H(stamp=stamp, frame_id=frame_id)
    if compressed:
        import cv2
        ok, buf = cv2.imencode("." + fmt, rgb[:, :, ::-1])
        if not ok:
            raise ValueError(f"cv2 could not encode a frame as {fmt}")
        C = ts.types["sensor_msgs/msg/CompressedImage"]
        return "sensor_msgs/msg/CompressedImage", C(header=header, format=f"rgb8; {fmt} compressed bgr8",
                                                     data=np.frombuffer(buf.tobytes(), np.uint8))
    h, w, _ = rgb.shape
    if encoding == "bgr8":
        data, step = rgb[:, :, ::-1], w * 3
    elif encoding == "mono8":
        data, step = rgb.mean(axis=2).astype(np.uint8), w
    else:                      # rgb8, or any other label written over RGB bytes (for bad-input tests)
        data, step = rgb, w * 3
    Img = ts.types["sensor_msgs/msg/Image"]
    return "sensor_msgs/msg/Image", Img(header=header, height=h, width=w, encoding=encoding, is_bigendian=0,
                                        step=step, data=np.ascontiguousarray(data).reshape(-1))


def write_image_bag(path, frames: Iterable, topic: str = "/camera/image_raw", compressed: bool = False,
                    storage: str = "mcap", ref_narrations: Iterable = (), ref_topic: str = "/ref/narration",
                    queries: Iterable = (), query_topic: str = DEFAULT_QUERY_TOPIC, *,
                    encoding: str = "rgb8", compressed_format: str = "jpeg", frame_id: str = "camera",
                    ref_type: str = "string") -> Path:
    """Write a test bag; returns the bag path (rosbag2 folder or .bag file).

    frames: iterable of (t seconds, rgb uint8 HxWx3) or objects with `.t` and `.rgb` (engine Frame), in time
    order; they are streamed to disk one by one. ref_narrations / queries: iterables of (t, text).
    storage: 'mcap' | 'sqlite3' | 'ros1'. ref_type: 'string' (std_msgs/String, stamped by receive time)
    or 'narration' (vstream_msgs/Narration with header.stamp = t; rosbag2 only).
    """
    if storage not in ("mcap", "sqlite3", "ros1"):
        raise ValueError(f"storage must be mcap, sqlite3 or ros1, got {storage!r}")
    if ref_type not in ("string", "narration"):
        raise ValueError(f"ref_type must be string or narration, got {ref_type!r}")
    if compressed_format not in ("jpeg", "png"):
        raise ValueError(f"compressed_format must be jpeg or png, got {compressed_format!r}")
    ros1 = storage == "ros1"
    ts = get_typestore("noetic" if ros1 else "humble")
    distro = "noetic" if ros1 else "humble"
    texts: list[OutRecord] = []
    for t, text in ref_narrations:
        ns = _ns(t)
        if ref_type == "narration":
            if ros1:
                raise ValueError("ref_type='narration' needs a rosbag2 storage (mcap or sqlite3)")
            texts.append(OutRecord(ref_topic, "vstream_msgs/msg/Narration", ns,
                                   narration_msg(ns, str(text), frame_id=frame_id, confidence=1.0)))
        else:
            texts.append(OutRecord(ref_topic, "std_msgs/msg/String", ns, string_msg(str(text), distro)))
    for t, text in queries:
        ns = _ns(t)
        texts.append(OutRecord(query_topic, "std_msgs/msg/String", ns, string_msg(str(text), distro)))
    texts.sort(key=lambda r: r.stamp_ns)

    def records():
        """Frames streamed one by one (never all in memory), texts merged in at their stamps."""
        k = 0
        for i, item in enumerate(frames):
            t, rgb = (item.t, item.rgb) if hasattr(item, "rgb") else item      # (t, rgb) or an engine Frame
            ns = _ns(t)
            while k < len(texts) and texts[k].stamp_ns < ns:
                yield texts[k]
                k += 1
            mt, msg = _image_msg(ts, ns, rgb, i, compressed=compressed, encoding=encoding, fmt=compressed_format,
                                 frame_id=frame_id, ros1=ros1)
            yield OutRecord(topic, mt, ns, msg)
        yield from texts[k:]

    if not ros1:
        return write_bag(path, records(), storage=storage)
    return _write_ros1(Path(path), records(), ts)


def _write_ros1(path: Path, recs, ts) -> Path:
    from rosbags.rosbag1 import Writer
    if path.suffix != ".bag":
        path = path.with_suffix(".bag")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    try:
        tmp = tmp_dir / path.name
        with Writer(tmp) as writer:
            conns = {}
            for r in recs:
                if r.topic not in conns:
                    conns[r.topic] = writer.add_connection(r.topic, r.msgtype, typestore=ts)
                writer.write(conns[r.topic], r.stamp_ns, ts.serialize_ros1(r.msg, r.msgtype))
        _publish_mode(tmp)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    return path


def bag_path_for(path, storage: str) -> Path:
    """Where `write_image_bag(path, storage=storage)` puts the bag."""
    if storage == "ros1":
        p = Path(path)
        return p if p.suffix == ".bag" else p.with_suffix(".bag")
    return output_bag_dir(path, storage)[0]
