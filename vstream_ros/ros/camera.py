"""One camera of the assistant node: its subscription, its outputs and its /diagnostics status, over its own stream
host (several cameras share one model through one Scheduler). Its `query`, `reset` and `ask` endpoints live for the
node's whole life in ros/endpoints.py and reach this camera's stream host while the node is active.

Names are relative to the node's namespace. One camera (the `cameras` parameter empty): `image` |
`image/compressed`, `narration`, `narration_text`, `guidance`, `overlay`, `query`, `reset`, `ask`, exactly the
single-camera interface. Several cameras: the same names under each camera's name (`front/image`,
`front/narration`, …, `wrist/ask`), and one /diagnostics status per camera.

The port is the stream host's sink (publish_narration / publish_text / publish_guidance / log_worker: the LLM
worker thread) and its image callbacks never block (stamp + hand over; decoding happens only for frames the model
clock keeps). Imports rclpy and ROS message packages (an adapter) and the stream host; never the model.
"""
from __future__ import annotations

import time

from diagnostic_msgs.msg import DiagnosticStatus, KeyValue
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import String

from vstream_ros.interfaces.diagnostics import diagnostic_values, input_status
from vstream_ros.ros.conversions import compressed_to_rgb, fill, image_to_rgb, stamp_of
from vstream_ros.ros.qos import GUIDANCE_QOS, NARRATION_QOS, TEXT_QOS, image_qos
from vstream_ros.ros.start_gap import StartGap


def destroy_entity(node, entity) -> None:
    """Destroy a subscription, service, publisher or timer of `node` (lifecycle publishers: their own call)."""
    kind = type(entity).__name__.lower()
    for word, destroy in (("subscription", node.destroy_subscription), ("service", node.destroy_service),
                          ("publisher", node.destroy_publisher), ("timer", node.destroy_timer)):
        if word in kind:
            destroy(entity)
            return


class CameraPort:
    """The ROS side of one camera (see the module docstring). `name` "" = the single-camera names."""

    def __init__(self, node, name: str, host, overlay=None):
        self.node, self.name, self.host, self.overlay = node, name, host, overlay
        self.prefix = f"{name}/" if name else ""
        self.inactive_frames = 0
        self.start_gap: StartGap | None = None    # frames_missed_at_start; made with the host (attach_host)
        self.pub_text = self.pub_narration = self.pub_guidance = None
        self.entities: list = []
        self.lifecycle_pubs: list = []
        self._last_diag = (time.monotonic(), 0)
        self.last_rx: tuple[float, float, float] | None = None   # last frame: (monotonic, node clock, capture t)

    def attach_host(self, host) -> None:
        """The camera's stream host (made after the port: the host's sink is the port), and a fresh StartGap."""
        self.host = host
        self.start_gap = StartGap(host.cfg.fps)

    def saw_clock(self, t: float) -> None:
        """A /clock message (sim time t): evidence of the stream's time (StartGap)."""
        if self.start_gap is not None:
            self.start_gap.clock(t)

    # ---------------------------------------------------------------- entities
    def create(self, v: dict, msgs, group=None) -> None:
        """The subscription (in `group`: the node's per-configure stream group) and the lifecycle publishers."""
        node, pre = self.node, self.prefix
        qos = image_qos(v["image.queue_depth"], v["image.reliability"] == "reliable")
        if v["image.transport"] == "compressed":
            sub = node.create_subscription(CompressedImage, pre + "image/compressed", self._on_compressed, qos,
                                         callback_group=group)
        else:
            sub = node.create_subscription(Image, pre + "image", self._on_image, qos, callback_group=group)
        self.pub_text = node.create_lifecycle_publisher(String, pre + "narration_text", TEXT_QOS)
        self.pub_narration = (node.create_lifecycle_publisher(msgs.Narration, pre + "narration", NARRATION_QOS)
                              if msgs is not None else None)
        self.pub_guidance = (node.create_lifecycle_publisher(msgs.StepGuidance, pre + "guidance", GUIDANCE_QOS)
                             if msgs is not None and v["mode"] == "assist" else None)
        self.lifecycle_pubs = [p for p in (self.pub_text, self.pub_narration, self.pub_guidance) if p is not None]
        if self.overlay is not None:
            self.lifecycle_pubs += self.overlay.create(node, pre)
        self.entities = [sub]

    def destroy(self) -> None:
        node = self.node
        for p in self.lifecycle_pubs:
            node.destroy_lifecycle_publisher(p)
        for e in self.entities:
            destroy_entity(node, e)
        self.entities, self.lifecycle_pubs = [], []

    # ---------------------------------------------------------------- inputs (executor threads; never block)
    def _on_image(self, msg) -> None:
        self._ingest(msg, image_to_rgb)

    def _on_compressed(self, msg) -> None:
        self._ingest(msg, compressed_to_rgb)

    def _ingest(self, msg, decode) -> None:
        host = self.host
        stamp, t = stamp_of(msg)
        if not self.node.active or host is None:
            self.inactive_frames += 1
            if self.start_gap is not None:
                self.start_gap.frame(t, kept=False)
            return
        self.last_rx = (time.monotonic(), self.node.get_clock().now().nanoseconds * 1e-9, t)
        host.set_frame_id(msg.header.frame_id)
        kind = host.submit(lambda: decode(msg), t, stamp)
        if self.start_gap is not None:
            self.start_gap.frame(t, kept=kind in ("ok", "jump", "loop"))
        if kind in ("duplicate", "out_of_order", "loop", "corrupt"):
            self.node.get_logger().warning(f"{self.prefix}frame at t={t:.3f}: {kind}", throttle_duration_sec=5.0)

    # ---------------------------------------------------------------- sink (LLM worker thread)
    def publish_narration(self, fields: dict) -> None:
        if self.pub_narration is not None:
            self.pub_narration.publish(fill(self.node.msgs.Narration(), fields))

    def publish_text(self, text: str, stamp=None) -> None:
        msg = String()
        msg.data = text
        self.pub_text.publish(msg)

    def publish_guidance(self, fields: dict) -> None:
        if self.pub_guidance is not None:
            self.pub_guidance.publish(fill(self.node.msgs.StepGuidance(), fields))

    def log_worker(self, level: str, message: str) -> None:
        log = self.node.get_logger()
        getattr(log, "error" if level == "error" else "warning")(self.prefix + message, throttle_duration_sec=5.0)

    # ---------------------------------------------------------------- /diagnostics
    def status(self, hardware_id: str) -> DiagnosticStatus | None:
        """This camera's DiagnosticStatus (None before configure): the keys and the level/message rule of
        interfaces/diagnostics.py (documented in docs/ros.md)."""
        host = self.host
        if host is None:
            return None
        now, frames = time.monotonic(), host.counters["frames_in"]
        then, before = self._last_diag
        self._last_diag = (now, frames)
        stats = host.stats()
        if self.start_gap is not None:
            stats["frames_missed_at_start"] = self.start_gap.missed()
        kv = diagnostic_values(stats, ingest_fps=(frames - before) / max(now - then, 1e-6),
                               dropped_inactive=self.inactive_frames,
                               overlay=self.overlay.stats() if self.overlay is not None else None,
                               last_error=host.pipeline.stats.last_error)
        idle = advance = lag = None
        if self.last_rx is not None:
            wall, clock, t = self.last_rx
            idle, advance, lag = now - wall, self.node.get_clock().now().nanoseconds * 1e-9 - clock, clock - t
        level, message = input_status(self.node.active, host.stamps.stall_s, idle, advance or 0.0, lag or 0.0)
        status = DiagnosticStatus()
        status.name = f"{self.node.get_name()}: {self.name or 'stream'}"
        status.hardware_id = hardware_id
        status.level = DiagnosticStatus.WARN if level else DiagnosticStatus.OK
        status.message = message
        status.values = [fill(KeyValue(), {"key": k, "value": v}) for k, v in kv.items()]
        return status
