"""`assistant` executable: lifecycle node wrapping the streaming engine (thin: convert, delegate, publish).

configure = validate params + load the model (engine.checkpoint.load_live_model → backend → StreamRunner) + create
pubs/subs; activate = start the worker thread; deactivate = stop it; cleanup = free the model. `autostart` (default
true) configures and activates at start so plain `ros2 launch` works. The image callback only decodes, checks the
stamp and hands the frame to the worker (vstream_ros/ros/assistant_core.py); it never runs the model.

Topics (relative, node namespace `vstream` in the launch file): sub `image` | `image/compressed` (sensor-data QoS),
`query` (std_msgs/String); pub `narration` (vstream_msgs/Narration), `narration_text` (std_msgs/String),
`guidance` (vstream_msgs/StepGuidance, transient-local, assist mode), `/diagnostics`; service `reset`
(std_srvs/Trigger); action `ask` (vstream_msgs/action/Ask) when vstream_msgs is installed.

Imports rclpy and ROS message packages (this is an adapter); torch only inside the default runner factory.
"""
from __future__ import annotations

import importlib
import time

import rclpy
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rcl_interfaces.msg import SetParametersResult
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import String
from std_srvs.srv import Trigger

from vstream_ros.guidance import StepTracker, goal_prompt
from vstream_ros.interfaces.image_codec import ImageDecodeError
from vstream_ros.ros import params as P
from vstream_ros.ros.assistant_core import AssistantCore
from vstream_ros.ros.conversions import compressed_to_rgb, fill, image_to_rgb, stamp_of

NARRATION_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=50, reliability=ReliabilityPolicy.RELIABLE,
                           durability=DurabilityPolicy.VOLATILE)
GUIDANCE_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.RELIABLE,
                          durability=DurabilityPolicy.TRANSIENT_LOCAL)




def image_qos(depth: int) -> QoSProfile:
    """BEST_EFFORT matches both reliable and best-effort cameras (and `ros2 bag play`)."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth, reliability=ReliabilityPolicy.BEST_EFFORT,
                      durability=DurabilityPolicy.VOLATILE)


def vstream_msgs():
    """(msg module, action module or None), or (None, None) when vstream_msgs is not built/sourced."""
    try:
        msg = importlib.import_module("vstream_msgs.msg")
    except ImportError:
        return None, None
    try:
        action = importlib.import_module("vstream_msgs.action")
    except ImportError:
        action = None
    return msg, action


def default_runner_factory(values: dict):
    """Build the engine exactly like `vstream run` does; returns factory(on_event) -> StreamRunner."""
    def make(on_event):
        from vstream_ros.engine.checkpoint import load_live_model  # noqa: PLC0415 - torch at configure only
        from vstream_ros.engine.config import ModelSpec, StreamConfig  # noqa: PLC0415
        from vstream_ros.engine.factory import build_backend  # noqa: PLC0415
        from vstream_ros.engine.runner import StreamRunner  # noqa: PLC0415

        spec = ModelSpec(checkpoint=values["model.checkpoint"], llm=values["model.llm"] or None,
                         vision=values["model.vision"] or None, device=values["model.device"],
                         dtype=values["model.dtype"], merge_lora=values["model.merge_lora"])
        cfg = StreamConfig(fps=values["stream.fps"], threshold=values["stream.threshold"],
                           max_new_tokens=values["stream.max_new_tokens"])
        model = load_live_model(spec)
        backend = build_backend(model, values["model.backend"], values["memory.policy"],
                                values["memory.budget_tokens"], values["stream.fps"])
        return StreamRunner(model, backend, cfg, on_event=on_event)
    return make


class AssistantNode(LifecycleNode):
    def __init__(self, node_name: str = "assistant", runner_factory=default_runner_factory, **kwargs):
        super().__init__(node_name, **kwargs)
        self._runner_factory = runner_factory
        P.declare_all(self)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.msgs, self.actions = vstream_msgs()
        if self.msgs is None:
            self.get_logger().warning("vstream_msgs not found (build it: colcon build --base-paths src "
                                      "src/vstream_ros/vstream_msgs); publishing narration_text only")
        self.core: AssistantCore | None = None
        self.active = False
        self._ents: list = []
        self._decode_errors: dict[str, int] = {}
        self._last_diag = (time.monotonic(), 0)
        self._group = ReentrantCallbackGroup()

    # ---------------------------------------------------------------- lifecycle
    def on_configure(self, state) -> TransitionCallbackReturn:
        values = P.read_all(self)
        problem = P.cross_check(values)
        if problem:
            self.get_logger().error(f"configure failed: {problem}")
            return TransitionCallbackReturn.FAILURE
        self.values = values
        tracker, goal = None, ""
        if values["mode"] == "assist":
            tracker = StepTracker(values["task.name"] or values["task.goal"], values["task.steps"])
            goal = goal_prompt(values["task.goal"], values["task.steps"])
        factory = self._runner_factory(values)
        try:
            self.core = AssistantCore(factory, self, ring_size=values["image.queue_depth"],
                                      frame_id=values["image.frame_id"], language=values["language"],
                                      tracker=tracker, goal=goal, now=self._now)
        except Exception as e:  # noqa: BLE001 - any load failure leaves us unconfigured with a clear message
            self.get_logger().error(f"model load failed ({type(e).__name__}): {' '.join(str(e).split())[:400]}")
            self.core = None
            return TransitionCallbackReturn.FAILURE
        self._create_entities(values)
        self.get_logger().info(f"configured: mode={values['mode']} transport={values['image.transport']}")
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state) -> TransitionCallbackReturn:
        self.core.start()
        self.active = True
        if self.core.tracker is not None and self.pub_guidance is not None:
            from vstream_ros.interfaces.narration import step_guidance  # noqa: PLC0415
            now = self._stamp_now()
            self.publish_guidance(step_guidance(self.core.tracker.current(), now, self.values["image.frame_id"]))
        return TransitionCallbackReturn.SUCCESS

    def on_deactivate(self, state) -> TransitionCallbackReturn:
        self.active = False
        self.core.stop()
        return TransitionCallbackReturn.SUCCESS

    def on_cleanup(self, state) -> TransitionCallbackReturn:
        self._destroy_entities()
        self.core = None                     # drops the runner → model weights freed
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state) -> TransitionCallbackReturn:
        if self.core is not None:
            self.core.stop()
        self._destroy_entities()
        self.core = None
        return TransitionCallbackReturn.SUCCESS

    def autostart(self) -> bool:
        """configure + activate when the `autostart` parameter is true; False if a transition failed."""
        if not self.get_parameter("autostart").value:
            return True
        if self.trigger_configure() != TransitionCallbackReturn.SUCCESS:
            return False
        return self.trigger_activate() == TransitionCallbackReturn.SUCCESS

    # ---------------------------------------------------------------- entities
    def _create_entities(self, v: dict) -> None:
        depth = v["image.queue_depth"]
        if v["image.transport"] == "compressed":
            sub = self.create_subscription(CompressedImage, "image/compressed", self._on_compressed, image_qos(depth))
        else:
            sub = self.create_subscription(Image, "image", self._on_image, image_qos(depth))
        self.pub_text = self.create_publisher(String, "narration_text", 10)
        self.pub_narration = (self.create_publisher(self.msgs.Narration, "narration", NARRATION_QOS)
                              if self.msgs is not None else None)
        self.pub_guidance = (self.create_publisher(self.msgs.StepGuidance, "guidance", GUIDANCE_QOS)
                             if self.msgs is not None and v["mode"] == "assist" else None)
        self.pub_diag = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._ents = [sub, self.pub_text, self.pub_diag,
                      self.create_subscription(String, "query", self._on_query, 10),
                      self.create_service(Trigger, "reset", self._on_reset),
                      self.create_timer(v["diagnostics_period_s"], self._publish_diagnostics)]
        self._ents += [e for e in (self.pub_narration, self.pub_guidance) if e is not None]
        self._action = None
        if self.actions is not None:
            from rclpy.action import ActionServer, CancelResponse  # noqa: PLC0415
            self._action = ActionServer(self, self.actions.Ask, "ask", execute_callback=self._execute_ask,
                                        cancel_callback=lambda _g: CancelResponse.REJECT,
                                        callback_group=self._group)

    def _destroy_entities(self) -> None:
        for e in self._ents:
            kind = type(e).__name__.lower()
            if "publisher" in kind:
                self.destroy_publisher(e)
            elif "subscription" in kind:
                self.destroy_subscription(e)
            elif "service" in kind:
                self.destroy_service(e)
            elif "timer" in kind:
                self.destroy_timer(e)
        if getattr(self, "_action", None) is not None:
            self._action.destroy()
            self._action = None
        self._ents = []

    # ---------------------------------------------------------------- inputs (executor threads; never block)
    def _on_image(self, msg) -> None:
        self._ingest(msg, image_to_rgb)

    def _on_compressed(self, msg) -> None:
        self._ingest(msg, compressed_to_rgb)

    def _ingest(self, msg, decode) -> None:
        if not self.active:
            self._count("inactive")
            return
        try:
            rgb = decode(msg)
        except ImageDecodeError as e:
            self._count(e.reason)
            self.get_logger().warning(f"dropped frame: {e}", throttle_duration_sec=5.0)
            return
        stamp, t = stamp_of(msg)
        if not self.values["image.frame_id"]:
            self.core.builder.frame_id = self.core.frame_id = msg.header.frame_id
        kind = self.core.submit(rgb, stamp, t)
        if kind not in ("ok", "jump"):
            self.get_logger().warning(f"frame at t={t:.3f}: {kind}", throttle_duration_sec=5.0)

    def _count(self, reason: str) -> None:
        self._decode_errors[reason] = self._decode_errors.get(reason, 0) + 1

    def _on_query(self, msg) -> None:
        if self.core is None or not msg.data.strip():
            return
        self.core.command("query", msg.data)

    def _on_reset(self, request, response):
        if self.core is None:
            response.success, response.message = False, "not configured"
            return response
        self.core.command("reset")
        response.success, response.message = True, "stream reset queued"
        return response

    def _execute_ask(self, goal_handle):
        feedback = self.actions.Ask.Feedback()

        def on_chunk(text):
            feedback.partial_text = text
            goal_handle.publish_feedback(feedback)
        cmd = self.core.command("ask", goal_handle.request.question, on_chunk) if self.active else None
        result = self.actions.Ask.Result()
        if cmd is None or not cmd.done.wait(300.0) or cmd.error:
            result.answer = ""
            goal_handle.abort()
            return result
        result.answer = cmd.result
        goal_handle.succeed()
        return result

    def _on_set_parameters(self, params) -> SetParametersResult:
        for p in params:
            reason = P.validate(p.name, p.value)
            if reason:
                return SetParametersResult(successful=False, reason=reason)
        for p in params:
            if p.name == "stream.threshold" and self.core is not None:
                self.core.command("threshold", p.value)
            elif p.name in P.BY_NAME and not P.BY_NAME[p.name].dynamic and self.core is not None:
                self.get_logger().info(f"{p.name} takes effect at the next configure")
        return SetParametersResult(successful=True, reason="")

    # ---------------------------------------------------------------- sink (worker thread)
    def publish_narration(self, fields: dict) -> None:
        if self.pub_narration is not None:
            self.pub_narration.publish(fill(self.msgs.Narration(), fields))

    def publish_text(self, text: str) -> None:
        msg = String()
        msg.data = text
        self.pub_text.publish(msg)

    def publish_guidance(self, fields: dict) -> None:
        if self.pub_guidance is not None:
            self.pub_guidance.publish(fill(self.msgs.StepGuidance(), fields))

    def log_worker(self, level: str, message: str) -> None:
        getattr(self.get_logger(), "error" if level == "error" else "warning")(message, throttle_duration_sec=5.0)

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _stamp_now(self) -> tuple[int, int]:
        ns = self.get_clock().now().nanoseconds
        return ns // 1_000_000_000, ns % 1_000_000_000

    def _publish_diagnostics(self) -> None:
        if self.core is None:
            return
        kv = self.core.diagnostics()
        now, frames = time.monotonic(), self.core.counters["frames_in"]
        then, before = self._last_diag
        self._last_diag = (now, frames)
        kv["ingest_fps"] = f"{(frames - before) / max(now - then, 1e-6):.2f}"
        kv.update({f"decode_error_{k}": str(v) for k, v in sorted(self._decode_errors.items())})
        status = DiagnosticStatus()
        status.name = f"{self.get_name()}: stream"
        status.hardware_id = self.values["model.device"]
        stalled = self.active and self.core.stamps.stalled(now)
        status.level = DiagnosticStatus.WARN if stalled else DiagnosticStatus.OK
        status.message = "camera stalled" if stalled else ("active" if self.active else "inactive")
        status.values = [fill(KeyValue(), {"key": k, "value": v}) for k, v in kv.items()]
        arr = DiagnosticArray()
        arr.header.stamp = self.get_clock().now().to_msg()
        arr.status = [status]
        self.pub_diag.publish(arr)


def main(args=None) -> int:
    from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor  # noqa: PLC0415

    rclpy.init(args=args)
    node = AssistantNode()
    executor = MultiThreadedExecutor()
    executor.add_node(node)
    code = 0
    try:
        if not node.autostart():
            node.get_logger().error("autostart failed; node stays unconfigured (see the error above); "
                                    "fix the parameters and call the lifecycle configure transition")
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node.core is not None:
            node.core.stop()
        node.destroy_node()
        rclpy.try_shutdown()
    return code


if __name__ == "__main__":
    raise SystemExit(main())
