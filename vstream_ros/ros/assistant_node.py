"""`assistant` executable: lifecycle node over the host runtime (thin: convert, delegate, publish).

configure = validate params + load the engine (host.build.load_engine) + create the host runtime
(vstream_ros/host/runtime.py) and the entities (lifecycle publishers); activate = start the pipeline workers;
deactivate = stop them (queued frames wait); cleanup = free the model. `autostart` (default true) configures and
activates at start so plain `ros2 launch` works. The image callback only reads the stamp and hands the frame
to the host runtime, which resamples to the model fps and decodes only what the model will see; it never runs
the model.

Topics (relative, node namespace `vstream` in the launch file): sub `image` | `image/compressed` (sensor-data QoS),
`query` (std_msgs/String); pub `narration` (vstream_msgs/Narration), `narration_text` (std_msgs/String),
`guidance` (vstream_msgs/StepGuidance, transient-local, assist mode), `/diagnostics`, `overlay` (+ `overlay/compressed`)
when overlay.enabled (ros/overlay_publisher.py); service `reset`
(std_srvs/Trigger); action `ask` (vstream_msgs/action/Ask, cancellable; goals rejected while inactive) when
vstream_msgs is installed.

Imports rclpy and ROS message packages (this is an adapter), and the host runtime (torch); the model is loaded only
by the engine factory at configure.
"""
from __future__ import annotations

import importlib
import signal
import sys
import time

import rclpy
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.clock import Clock, ClockType
from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn
from rcl_interfaces.msg import SetParametersResult
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import String
from std_srvs.srv import Trigger

from vstream_ros.guidance import StepTracker, goal_prompt
from vstream_ros.engine.pipeline import PipelineConfig
from vstream_ros.host.runtime import HostOptions, HostRuntime
from vstream_ros.ros import params as P
from vstream_ros.ros.conversions import compressed_to_rgb, fill, image_to_rgb, stamp_of
from vstream_ros.ros.overlay_publisher import make_overlay
from vstream_ros.ros.qos import GUIDANCE_QOS, NARRATION_QOS, TEXT_QOS, image_qos

ASK_TIMEOUT_S = 300.0


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


def default_engine_factory(values: dict):
    """The engine the parameters describe, loaded exactly like `vstream run` loads it (host.build)."""
    from vstream_ros.host.build import load_engine  # noqa: PLC0415 - torch at configure only
    return load_engine(P.engine_config(values))


class AssistantNode(LifecycleNode):
    """`engine_factory(values) -> host.build.Engine` is the seam tests replace (a tiny or scripted engine)."""

    def __init__(self, node_name: str = "assistant", engine_factory=default_engine_factory, **kwargs):
        super().__init__(node_name, **kwargs)
        self._engine_factory = engine_factory
        P.declare_all(self)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.msgs, self.actions = vstream_msgs()
        if self.msgs is None:
            self.get_logger().warning("vstream_msgs not found (build it: colcon build --base-paths src "
                                      "src/vstream_ros/vstream_msgs); publishing narration_text only")
        self.host: HostRuntime | None = None
        self.overlay = None
        self.active = False
        self.inactive_frames = 0
        self._ents: list = []
        self._lifecycle_pubs: list = []
        self._action = None
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
        try:
            engine = self._engine_factory(values)
            options = HostOptions(pipeline=PipelineConfig(max_backlog=values["stream.max_backlog"]),
                                  frame_id=values["image.frame_id"], language=values["language"])
            self.overlay = make_overlay(self, engine, values)
            self.host = HostRuntime(engine, self, options, tracker=tracker, goal=goal, now=self._now,
                                    log=self.log_worker, observers=(self.overlay,))
            if self.overlay is not None:
                self.overlay.bind(self.host)
        except Exception as e:  # noqa: BLE001 - any load failure leaves us unconfigured with a clear message
            self.get_logger().error(f"model load failed ({type(e).__name__}): {' '.join(str(e).split())[:400]}")
            self.host = None
            if self.overlay is not None:
                self.overlay.close()
            self.overlay = None
            return TransitionCallbackReturn.FAILURE
        self._create_entities(values)
        self.get_logger().info(f"configured: mode={values['mode']} transport={values['image.transport']} "
                               f"backend={values['model.backend']} memory={values['memory.policy']}")
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state) -> TransitionCallbackReturn:
        ret = super().on_activate(state)               # activates the lifecycle publishers
        self.host.start()
        self.active = True
        if self.host.tracker is not None and self.pub_guidance is not None:
            from vstream_ros.interfaces.narration import step_guidance  # noqa: PLC0415
            now = self._stamp_now()
            self.publish_guidance(step_guidance(self.host.tracker.current(), now, self.values["image.frame_id"]))
        return ret

    def on_deactivate(self, state) -> TransitionCallbackReturn:
        self.active = False
        if self.host is not None:
            self.host.stop()
        return super().on_deactivate(state)

    def on_cleanup(self, state) -> TransitionCallbackReturn:
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state) -> TransitionCallbackReturn:
        self.active = False
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def _release(self) -> None:
        """Stop the workers, destroy the entities and drop the engine (model weights freed)."""
        if self.host is not None:
            self.host.stop()
        if self.overlay is not None:
            self.overlay.close()
        self._destroy_entities()
        self.host, self.overlay = None, None
        import gc  # noqa: PLC0415
        gc.collect()
        torch = sys.modules.get("torch")
        if torch is not None and torch.cuda.is_available():
            torch.cuda.empty_cache()

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
        self.pub_text = self.create_lifecycle_publisher(String, "narration_text", TEXT_QOS)
        self.pub_narration = (self.create_lifecycle_publisher(self.msgs.Narration, "narration", NARRATION_QOS)
                              if self.msgs is not None else None)
        self.pub_guidance = (self.create_lifecycle_publisher(self.msgs.StepGuidance, "guidance", GUIDANCE_QOS)
                             if self.msgs is not None and v["mode"] == "assist" else None)
        self.pub_diag = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._lifecycle_pubs = [p for p in (self.pub_text, self.pub_narration, self.pub_guidance) if p is not None]
        if self.overlay is not None:
            self._lifecycle_pubs += self.overlay.create(self)
        self._ents = [sub, self.pub_diag,
                      self.create_subscription(String, "query", self._on_query, 10),
                      self.create_service(Trigger, "reset", self._on_reset),
                      # on the steady clock: /diagnostics keep coming with use_sim_time before /clock (or when paused)
                      self.create_timer(v["diagnostics_period_s"], self._publish_diagnostics,
                                        clock=Clock(clock_type=ClockType.STEADY_TIME))]
        if self.actions is not None:
            from rclpy.action import ActionServer  # noqa: PLC0415
            self._action = ActionServer(self, self.actions.Ask, "ask", execute_callback=self._execute_ask,
                                        goal_callback=self._on_ask_goal, cancel_callback=self._on_ask_cancel,
                                        callback_group=self._group)

    def _destroy_entities(self) -> None:
        for p in self._lifecycle_pubs:
            self.destroy_lifecycle_publisher(p)
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
        if self._action is not None:
            self._action.destroy()
            self._action = None
        self._ents, self._lifecycle_pubs = [], []

    # ---------------------------------------------------------------- inputs (executor threads; never block)
    def _on_image(self, msg) -> None:
        self._ingest(msg, image_to_rgb)

    def _on_compressed(self, msg) -> None:
        self._ingest(msg, compressed_to_rgb)

    def _ingest(self, msg, decode) -> None:
        if not self.active or self.host is None:
            self.inactive_frames += 1
            return
        stamp, t = stamp_of(msg)
        self.host.set_frame_id(msg.header.frame_id)
        kind = self.host.submit(lambda: decode(msg), t, stamp)
        if kind in ("duplicate", "out_of_order", "loop", "corrupt"):
            self.get_logger().warning(f"frame at t={t:.3f}: {kind}", throttle_duration_sec=5.0)

    def _on_query(self, msg) -> None:
        if self.host is None or not self.active or not msg.data.strip():
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
        if not self.active or self.host is None or not goal.question.strip():
            self.get_logger().warning("ask goal rejected: " + ("empty question" if self.active else "node not active"))
            return GoalResponse.REJECT
        return GoalResponse.ACCEPT

    def _on_ask_cancel(self, goal_handle):
        from rclpy.action import CancelResponse  # noqa: PLC0415
        return CancelResponse.ACCEPT

    def _execute_ask(self, goal_handle):
        feedback = self.actions.Ask.Feedback()
        result = self.actions.Ask.Result()

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
            if time.monotonic() > deadline or not self.active:
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

    def _on_set_parameters(self, params) -> SetParametersResult:
        for p in params:
            reason = P.validate(p.name, p.value)
            if reason:
                return SetParametersResult(successful=False, reason=reason)
        for p in params:
            if p.name == "stream.threshold" and self.host is not None:
                self.host.set_threshold(p.value)
            elif p.name in P.BY_NAME and not P.BY_NAME[p.name].dynamic and self.host is not None:
                self.get_logger().info(f"{p.name} takes effect at the next configure")
        return SetParametersResult(successful=True, reason="")

    # ---------------------------------------------------------------- sink (LLM worker thread)
    def publish_narration(self, fields: dict) -> None:
        if self.pub_narration is not None:
            self.pub_narration.publish(fill(self.msgs.Narration(), fields))

    def publish_text(self, text: str, stamp=None) -> None:
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
        host = self.host
        if host is None:
            return
        kv = host.diagnostics()
        now, frames = time.monotonic(), host.counters["frames_in"]
        then, before = self._last_diag
        self._last_diag = (now, frames)
        kv["ingest_fps"] = f"{(frames - before) / max(now - then, 1e-6):.2f}"
        kv["dropped_inactive"] = str(self.inactive_frames)
        if self.overlay is not None:
            kv.update({k: str(v) for k, v in self.overlay.stats().items()})
        status = DiagnosticStatus()
        status.name = f"{self.get_name()}: stream"
        status.hardware_id = self.values["model.device"]
        stalled = self.active and host.stamps.stalled(now)
        status.level = DiagnosticStatus.WARN if stalled else DiagnosticStatus.OK
        status.message = "camera stalled" if stalled else ("active" if self.active else "inactive")
        status.values = [fill(KeyValue(), {"key": k, "value": v}) for k, v in kv.items()]
        arr = DiagnosticArray()
        arr.header.stamp = self.get_clock().now().to_msg()
        arr.status = [status]
        self.pub_diag.publish(arr)


def main(args=None) -> int:
    """Spin until Ctrl-C / shutdown; exits 0 without a traceback (a second SIGINT from launch is ignored)."""
    from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor  # noqa: PLC0415

    rclpy.init(args=args)
    node = AssistantNode()
    executor = MultiThreadedExecutor()
    executor.add_node(node)
    try:
        if not node.autostart():
            node.get_logger().error("autostart failed; node stays unconfigured (see the error above); "
                                    "fix the parameters and call the lifecycle configure transition")
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)          # launch forwards a second SIGINT: ignore it
        try:
            node.active = False
            if node.host is not None:
                node.host.stop()
            executor.shutdown(timeout_sec=1.0)
            node.destroy_node()
        except KeyboardInterrupt:                             # a SIGINT that arrived before SIG_IGN took
            pass
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
