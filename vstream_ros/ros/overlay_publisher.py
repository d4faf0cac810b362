"""The assistant node's overlay topics: `overlay` (sensor_msgs/Image rgb8) and, with `overlay.compressed`,
`overlay/compressed` (sensor_msgs/CompressedImage JPEG) — one image per model frame, the frame the model saw
(letterboxed at the model's input size) with the utterance, the P(silent) bar and memory occupancy drawn on it,
stamped with that frame's exact capture stamp (the host router's StampBook) and the outputs' frame_id.

Drawing and encoding run on the overlay worker's own thread (host/overlay_feed.py, viz/overlay.py): the LLM worker
only hands over a reference (bounded queue of 2, oldest pending dropped and counted), so decisions never wait on it.
A failing render or publish is counted (`overlay_failed` on /diagnostics) and logged once; the node keeps going.

Imports sensor_msgs, ros.qos (this is an adapter), PIL (JPEG), vstream_ros.host.overlay_feed.
"""
from __future__ import annotations

import io

from sensor_msgs.msg import CompressedImage, Image

from vstream_ros.host.overlay_feed import OverlayFeed
from vstream_ros.ros.conversions import fill
from vstream_ros.ros.qos import OVERLAY_QOS
JPEG_FORMAT = "rgb8; jpeg compressed bgr8"      # image_transport's convention (rqt_image_view, Foxglove read it)
JPEG_QUALITY = 85


def jpeg_bytes(rgb, quality: int = JPEG_QUALITY) -> bytes:
    from PIL import Image as PILImage  # noqa: PLC0415
    buf = io.BytesIO()
    PILImage.fromarray(rgb).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


class OverlayPublisher:
    """Created at configure when `overlay.enabled`; `create(node)` makes the lifecycle publishers (returned, so the
    node activates and destroys them with its own); `bind(host)` gives the stamps, frame_id and live threshold."""

    def __init__(self, node, engine, values: dict):
        self.node = node
        self.compressed = bool(values.get("overlay.compressed", False))
        self.host = None
        self.pub_raw = self.pub_jpeg = None
        self.feed = OverlayFeed.for_engine(engine, self._publish, threshold=self._threshold,
                                           max_backlog=int(values.get("stream.max_backlog", 32)),
                                           log=lambda m: node.get_logger().warning(m))

    def create(self, node, prefix: str = "") -> list:
        """`prefix`: the camera's (`front/`) when the node serves several cameras (ros/camera.py)."""
        self.pub_raw = node.create_lifecycle_publisher(Image, prefix + "overlay", OVERLAY_QOS)
        self.pub_jpeg = (node.create_lifecycle_publisher(CompressedImage, prefix + "overlay/compressed",
                                                         OVERLAY_QOS) if self.compressed else None)
        return [p for p in (self.pub_raw, self.pub_jpeg) if p is not None]

    def bind(self, host) -> None:
        self.host = host

    def _threshold(self) -> float:
        return float(self.host.cfg.threshold) if self.host is not None else float("nan")

    # HostObserver (host/stream_host.py): the submitting thread and the model worker; both return at once
    def on_frame(self, t: float, rgb) -> None:
        self.feed.on_frame(t, rgb)

    def on_event(self, ev) -> None:
        self.feed.on_event(ev)

    def _publish(self, t: float, rgb) -> None:               # the drawing thread
        host = self.host
        if host is None:
            return
        sec, nanosec = host.router.stamp(t)
        header = {"stamp": {"sec": int(sec), "nanosec": int(nanosec)}, "frame_id": host.router.frame_id}
        h, w = rgb.shape[:2]
        if self.pub_raw is not None:
            self.pub_raw.publish(fill(Image(), {"header": header, "height": h, "width": w, "encoding": "rgb8",
                                                "is_bigendian": 0, "step": 3 * w, "data": rgb.tobytes()}))
        if self.pub_jpeg is not None:
            self.pub_jpeg.publish(fill(CompressedImage(), {"header": header, "format": JPEG_FORMAT,
                                                           "data": jpeg_bytes(rgb)}))

    def stats(self) -> dict:
        return self.feed.stats()

    def close(self) -> None:
        self.feed.close(drain=False)


def make_overlay(node, engine, values: dict) -> OverlayPublisher | None:
    """The overlay of a configured node, or None when `overlay.enabled` is false."""
    return OverlayPublisher(node, engine, values) if values.get("overlay.enabled", False) else None
