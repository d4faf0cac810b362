"""`vstream replay --with-images`: the frames the model decided on, written into the output bag as JPEG
sensor_msgs/msg/CompressedImage, so the bag opened in Foxglove (or played with `ros2 bag play`) shows the narration
beside the pictures it is about.

One message per model frame (frames the model clock skipped are not written), header.stamp = bag time = the frame's
exact capture stamp (the stream host's stamp book, bit-exact with the Narration stamps), header.frame_id = the
camera's. Topic: the camera topic's compressed transport — the input topic itself when it already is a
CompressedImage topic ending in `/compressed`, else `<input topic>/compressed` (image_transport's naming), so a raw
`sensor_msgs/Image` topic never changes type. The JPEGs are kept in memory until the bag is written (~20–60 kB
each: 2 fps for an hour of 640×480 is roughly 0.3–0.9 GB).

Imports: numpy, rosbags (through the typestore), vstream_ros.{interfaces, replay.bagwrite, viz.jpeg}. Never rclpy,
torch or foxglove.
"""
from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np

from vstream_ros.replay.bagwrite import OutRecord
from vstream_ros.viz.jpeg import DEFAULT_QUALITY, encode_jpeg

COMPRESSED_T = "sensor_msgs/msg/CompressedImage"


def images_topic(camera_topic: str) -> str:
    """Where the JPEG frames go for an input camera topic (see the module docstring)."""
    topic = camera_topic.rstrip("/")
    return topic if topic.endswith("/compressed") else topic + "/compressed"


class FrameImages:
    """A HostObserver (frames only) → CompressedImage records. `stamp_of(t)` gives the exact (sec, nanosec) of the frame
    captured at t, `frame_id()` the camera's frame id."""

    def __init__(self, ts, topic: str, stamp_of: Callable[[float], tuple[int, int]], frame_id: Callable[[], str],
                 quality: int = DEFAULT_QUALITY):
        self.ts, self.topic, self.stamp_of, self.frame_id, self.quality = ts, topic, stamp_of, frame_id, quality
        self.records: list[OutRecord] = []
        self._lock = threading.Lock()

    def on_event(self, event) -> None:
        """A HostObserver of frames only: engine events are not drawn here."""

    def on_frame(self, t: float, rgb) -> None:
        sec, nanosec = self.stamp_of(t)
        types = self.ts.types
        header = types["std_msgs/msg/Header"](stamp=types["builtin_interfaces/msg/Time"](sec=int(sec),
                                                                                          nanosec=int(nanosec)),
                                              frame_id=self.frame_id() or "")
        data = np.frombuffer(encode_jpeg(rgb, self.quality), dtype=np.uint8)
        msg = types[COMPRESSED_T](header=header, format="jpeg", data=data)
        with self._lock:
            self.records.append(OutRecord(self.topic, COMPRESSED_T, int(sec) * 1_000_000_000 + int(nanosec), msg))
