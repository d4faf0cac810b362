"""One camera of the assistant node: its subscription, its outputs, its query/reset/ask endpoints and its
/diagnostics status, over its own host runtime (several cameras share one model through one Scheduler).

Names are relative to the node's namespace. One camera (the `cameras` parameter empty): `image` |
`image/compressed`, `narration`, `narration_text`, `guidance`, `overlay`, `query`, `reset`, `ask`, exactly the
single-camera interface. Several cameras: the same names under each camera's name (`front/image`,
`front/narration`, …, `wrist/ask`), and one /diagnostics status per camera.

The port is the host runtime's sink (publish_narration / publish_text / publish_guidance / log_worker: the LLM
worker thread) and its image callbacks never block (stamp + hand over; decoding happens only for frames the model
clock keeps). Imports rclpy and ROS message packages (an adapter) and the host runtime; never the model.
"""
from __future__ import annotations

import time

from diagnostic_msgs.msg import DiagnosticStatus, KeyValue
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import String
from std_srvs.srv import Trigger

from vstream_ros.ros.conversions import compressed_to_rgb, fill, image_to_rgb, stamp_of
from vstream_ros.ros.qos import ASK_FEEDBACK_QOS, GUIDANCE_QOS, NARRATION_QOS, TEXT_QOS, image_qos
from vstream_ros.ros.start_gap import StartGap

ASK_TIMEOUT_S = 300.0


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
        self.action = None
        self._last_diag = (time.monotonic(), 0)

    def attach_host(self, host) -> None:
        """The camera's host runtime (made after the port: the host's sink is the port), and a fresh StartGap."""
        self.host = host
        self.start_gap = StartGap(host.cfg.fps)

    def saw_clock(self, t: float) -> None:
        """A /clock message (sim time t): evidence of the stream's time (StartGap)."""
        if self.start_gap is not None:
            self.start_gap.clock(t)

    # ---------------------------------------------------------------- entities
    def create(self, v: dict, msgs, actions, group) -> None:
        node, pre = self.node, self.prefix
        qos = image_qos(v["image.queue_depth"], v["image.reliability"] == "reliable")
        if v["image.transport"] == "compressed":
            sub = node.create_subscription(CompressedImage, pre + "image/compressed", self._on_compressed, qos)
        else:
            sub = node.create_subscription(Image, pre + "image", self._on_image, qos)
        self.pub_text = node.create_lifecycle_publisher(String, pre + "narration_text", TEXT_QOS)
        self.pub_narration = (node.create_lifecycle_publisher(msgs.Narration, pre + "narration", NARRATION_QOS)
                              if msgs is not None else None)
        self.pub_guidance = (node.create_lifecycle_publisher(msgs.StepGuidance, pre + "guidance", GUIDANCE_QOS)
                             if msgs is not None and v["mode"] == "assist" else None)
        self.lifecycle_pubs = [p for p in (self.pub_text, self.pub_narration, self.pub_guidance) if p is not None]
        if self.overlay is not None:
            self.lifecycle_pubs += self.overlay.create(node, pre)
        self.entities = [sub, node.create_subscription(String, pre + "query", self._on_query, 10),
                         node.create_service(Trigger, pre + "reset", self._on_reset)]
        if actions is not None:
            from rclpy.action import ActionServer  # noqa: PLC0415
            self.msgs_ask = actions.Ask
            self.action = ActionServer(node, actions.Ask, pre + "ask", execute_callback=self._execute_ask,
                                       goal_callback=self._on_ask_goal, cancel_callback=self._on_ask_cancel,
                                       callback_group=group, feedback_pub_qos_profile=ASK_FEEDBACK_QOS)

    def destroy(self) -> None:
        node = self.node
        for p in self.lifecycle_pubs:
            node.destroy_lifecycle_publisher(p)
        for e in self.entities:
            destroy_entity(node, e)
        if self.action is not None:
            self.action.destroy()
            self.action = None
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
        host.set_frame_id(msg.header.frame_id)
        kind = host.submit(lambda: decode(msg), t, stamp)
        if self.start_gap is not None:
            self.start_gap.frame(t, kept=kind in ("ok", "jump", "loop"))
        if kind in ("duplicate", "out_of_order", "loop", "corrupt"):
            self.node.get_logger().warning(f"{self.prefix}frame at t={t:.3f}: {kind}", throttle_duration_sec=5.0)

    def _on_query(self, msg) -> None:
        if self.host is None or not self.node.active or not msg.data.strip():
            return
        self.host.ask(msg.data)

    def _on_reset(self, request, response):
        if self.host is None:
            response.success, response.message = False, "not configured"
            return response
        self.host.reset()
        response.success, response.message = True, "stream reset queued"
        return response

    def _on_ask_goal(self, goal):
        from rclpy.action import GoalResponse  # noqa: PLC0415
        if not self.node.active or self.host is None or not goal.question.strip():
            self.node.get_logger().warning(f"{self.prefix}ask goal rejected: "
                                           + ("empty question" if self.node.active else "node not active"))
            return GoalResponse.REJECT
        return GoalResponse.ACCEPT

    def _on_ask_cancel(self, goal_handle):
        from rclpy.action import CancelResponse  # noqa: PLC0415
        return CancelResponse.ACCEPT

    def _execute_ask(self, goal_handle):
        feedback = self.msgs_ask.Feedback()
        result = self.msgs_ask.Result()

        def on_chunk(text):
            feedback.partial_text = text
            goal_handle.publish_feedback(feedback)
        host = self.host
        if host is None:
            goal_handle.abort()
            return result
        ticket = host.ask(goal_handle.request.question, on_chunk=on_chunk)
        deadline = time.monotonic() + ASK_TIMEOUT_S
        while not ticket.done.wait(0.05):
            if goal_handle.is_cancel_requested:
                ticket.cancel()
            if time.monotonic() > deadline or not self.node.active:
                ticket.cancel()
                break
        result.answer, result.utterance_id = ticket.answer, ticket.utterance_id
        if goal_handle.is_cancel_requested:
            goal_handle.canceled()
        elif ticket.done.is_set() and not ticket.error:
            goal_handle.succeed()
        else:
            goal_handle.abort()
        return result

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
        """This camera's DiagnosticStatus (None before configure)."""
        host = self.host
        if host is None:
            return None
        kv = host.diagnostics()
        now, frames = time.monotonic(), host.counters["frames_in"]
        then, before = self._last_diag
        self._last_diag = (now, frames)
        kv["ingest_fps"] = f"{(frames - before) / max(now - then, 1e-6):.2f}"
        kv["dropped_inactive"] = str(self.inactive_frames)
        if self.start_gap is not None:
            kv["frames_missed_at_start"] = str(self.start_gap.missed())
        if self.overlay is not None:
            kv.update({k: str(v) for k, v in self.overlay.stats().items()})
        status = DiagnosticStatus()
        status.name = f"{self.node.get_name()}: {self.name or 'stream'}"
        status.hardware_id = hardware_id
        active = self.node.active
        stalled = active and host.stamps.stalled(now)
        status.level = DiagnosticStatus.WARN if stalled else DiagnosticStatus.OK
        status.message = "camera stalled" if stalled else ("active" if active else "inactive")
        status.values = [fill(KeyValue(), {"key": k, "value": v}) for k, v in kv.items()]
        return status
