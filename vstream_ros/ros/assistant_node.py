"""`assistant` executable: lifecycle node over the stream host (thin: convert, delegate, publish).

configure = validate params + load the engine (host.build.load_engine) + create the stream host
(vstream_ros/host/stream_host.py) and the entities (lifecycle publishers); activate = start the pipeline workers;
deactivate = stop them (queued frames wait); cleanup = free the model. `autostart` (default true) configures and
activates at start so plain `ros2 launch` works. The image callback only reads the stamp and hands the frame
to the stream host, which resamples to the model fps and decodes only what the model will see; it never runs
the model.

Topics (relative, node namespace `vstream` in the launch file): sub `image` | `image/compressed` (sensor-data QoS),
`query` (std_msgs/String); pub `narration` (vstream_msgs/Narration), `narration_text` (std_msgs/String),
`guidance` (vstream_msgs/StepGuidance, transient-local, assist mode), `/diagnostics`, `overlay` (+ `overlay/compressed`)
when overlay.enabled (ros/overlay_publisher.py); under use_sim_time also sub `/clock` (deep queue, from configure to
cleanup, read until every camera's start gap settled: frames_missed_at_start, ros/start_gap.py); service `reset` (std_srvs/Trigger); action `ask`
(vstream_msgs/action/Ask, cancellable) when vstream_msgs is installed. `query`, `reset` and `ask` exist from
construction (ros/endpoints.py): while not active they answer at once with the reason.

Imports rclpy and ROS message packages (this is an adapter), and the stream host (torch); the model is loaded only
by the engine factory at configure.
"""
from __future__ import annotations

import importlib
import signal
import sys

import rclpy
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.clock import Clock, ClockType
from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn
from rcl_interfaces.msg import SetParametersResult
from diagnostic_msgs.msg import DiagnosticArray

from vstream_ros.guidance import StepTracker, goal_prompt
from vstream_ros.engine.pipeline import PipelineConfig
from vstream_ros.engine.scheduler import Scheduler
from vstream_ros.host.stream_host import HostOptions, StreamHost
from vstream_ros.interfaces.stamps import stamp_to_sec
from vstream_ros.ros import params as P
from vstream_ros.ros.camera import CameraPort, destroy_entity
from vstream_ros.ros.endpoints import Endpoints
from vstream_ros.ros.overlay_publisher import make_overlay


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
    return load_engine(P.engine_config(values), streams=len(P.camera_names(values)))


def loaded_summary(engine, values: dict, names: list[str]) -> str:
    """One line: what is loaded and where (model, device, dtype, quantization, fps, memory), and how it runs."""
    model = engine.model
    dtype = str(getattr(model, "dtype", values["model.dtype"])).replace("torch.", "")
    plan = getattr(engine, "memory", None)
    memory = values["memory.policy"]
    if plan is not None:
        cfg = plan.memory
        memory = plan.policy + (f" cap {cfg.cap_tokens} tokens" if cfg is not None else "")
    cams = f" cameras={','.join(names)}" if names != [""] else ""
    return (f"model={values['model.checkpoint']} device={getattr(model, 'device', values['model.device'])} "
            f"dtype={dtype} quantize={values['model.quantize']} fps={engine.stream.fps:g} memory={memory} "
            f"backend={values['model.backend']} mode={values['mode']} transport={values['image.transport']}{cams}")


class AssistantNode(LifecycleNode):
    """`engine_factory(values) -> host.build.Engine` is the seam tests replace (a tiny or scripted engine); it serves
    `camera_names(values)` streams (Engine.backends, one per camera)."""

    def __init__(self, node_name: str = "assistant", engine_factory=default_engine_factory, **kwargs):
        super().__init__(node_name, **kwargs)
        self._engine_factory = engine_factory
        P.declare_all(self)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.msgs, self.actions = vstream_msgs()
        if self.msgs is None:
            self.get_logger().warning("vstream_msgs not found (build it: colcon build --base-paths src "
                                      "src/vstream_ros/vstream_msgs); publishing narration_text only")
        self.cameras: list[CameraPort] = []
        self.device = ""                                 # the device the model runs on (hardware_id), at configure
        self._scheduler: Scheduler | None = None
        self.active = False
        self._ents: list = []
        self._group = ReentrantCallbackGroup()
        # the entities made at configure and destroyed at cleanup (camera subscriptions, /clock, the diagnostics
        # timer) get a callback group of their own, made anew at each configure: rclpy's executors take a message
        # outside their try/finally, so a subscription destroyed while its callback was queued leaves its group
        # "executing" for good (InvalidHandle) -- with the node's default group that silenced every timer and
        # camera, and the lifecycle services with them (seen: a Humble node stopped 1 s into a bag)
        self._stream_group: MutuallyExclusiveCallbackGroup | None = None
        self._clock_sub = None                           # /clock for frames_missed_at_start (configure → cleanup)
        self._clock_settled = False                      # every camera's StartGap settled: /clock is ignored
        self._early_clock: float | None = None           # the first /clock before the cameras exist
        self.endpoints: list[Endpoints] = []
        self._sync_endpoints(P.camera_names(P.read_all(self)))

    @property
    def host(self) -> StreamHost | None:
        """The first camera's stream host (the only one with one camera)."""
        return self.cameras[0].host if self.cameras else None

    @property
    def overlay(self):
        return self.cameras[0].overlay if self.cameras else None

    def _subscribe_clock(self) -> None:
        """Under use_sim_time, from the start of configure until every camera's StartGap is settled: our own /clock
        subscription with a deep queue, so the first /clock is the earliest stream time the node saw
        (frames_missed_at_start, ros/start_gap.py) even when the model took seconds to load."""
        self._early_clock = None
        self._clock_settled = False
        if self._clock_sub is not None or not self.get_parameter("use_sim_time").value:
            return
        from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy  # noqa: PLC0415
        from rosgraph_msgs.msg import Clock as ClockMsg  # noqa: PLC0415

        def on_clock(msg):
            if self._clock_settled:
                return
            t = stamp_to_sec(msg.clock.sec, msg.clock.nanosec)
            if not self.cameras and self._early_clock is None:
                self._early_clock = t
            for cam in self.cameras:
                cam.saw_clock(t)
        qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=2000, reliability=ReliabilityPolicy.BEST_EFFORT)
        self._clock_sub = self.create_subscription(ClockMsg, "/clock", on_clock, qos,
                                                  callback_group=self._stream_group)

    def _drop_clock(self) -> None:
        if self._clock_sub is not None:
            self.destroy_subscription(self._clock_sub)
            self._clock_sub = None

    # ---------------------------------------------------------------- lifecycle
    def on_configure(self, state) -> TransitionCallbackReturn:
        values = P.read_all(self)
        problem = P.cross_check(values)
        if problem:
            self.get_logger().error(f"configure failed: {problem}")
            return TransitionCallbackReturn.FAILURE
        self.values = values
        names = P.camera_names(values)
        self._sync_endpoints(names)
        self._stream_group = MutuallyExclusiveCallbackGroup()
        self._subscribe_clock()
        try:
            engine = self._engine_factory(values)
            if len(engine.backends) < len(names):
                raise ValueError(f"the engine serves {len(engine.backends)} stream(s), {len(names)} cameras asked")
            # several cameras: one model worker for all (one camera: its pipeline owns its worker, as before)
            self._scheduler = scheduler = Scheduler() if len(names) > 1 else None
            options = HostOptions(pipeline=PipelineConfig(max_backlog=values["stream.max_backlog"]),
                                  frame_id=values["image.frame_id"], language=values["language"])
            for name, backend in zip(names, engine.backends):
                tracker, goal = None, ""
                if values["mode"] == "assist":
                    tracker = StepTracker(values["task.name"] or values["task.goal"], values["task.steps"])
                    goal = goal_prompt(values["task.goal"], values["task.steps"])
                port = CameraPort(self, name, None, make_overlay(self, engine, values))
                port.attach_host(StreamHost(engine, port, options, tracker=tracker, goal=goal, now=self._now,
                                            log=port.log_worker, observers=(port.overlay,), backend=backend,
                                            scheduler=scheduler, name=name or "u"))
                if port.overlay is not None:
                    port.overlay.bind(port.host)
                self.cameras.append(port)
        except Exception as e:  # noqa: BLE001 - any load failure leaves us unconfigured with a clear message
            self.get_logger().error(f"model load failed ({type(e).__name__}): {' '.join(str(e).split())[:400]}")
            self._release()
            return TransitionCallbackReturn.FAILURE
        if self._early_clock is not None:
            for cam in self.cameras:
                cam.saw_clock(self._early_clock)
        self._create_entities(values)
        self.device = str(getattr(engine.model, "device", values["model.device"]))
        self.get_logger().info("configured: " + loaded_summary(engine, values, names))
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state) -> TransitionCallbackReturn:
        ret = super().on_activate(state)               # activates the lifecycle publishers
        for cam in self.cameras:
            cam.host.start()
        self.active = True
        self.get_logger().info(f"activated: narrating {len(self.cameras)} camera(s)"
                               + (f" ({', '.join(c.name for c in self.cameras)})" if self.cameras[0].name else ""))
        for cam in self.cameras:
            if cam.host.tracker is not None and cam.pub_guidance is not None:
                from vstream_ros.interfaces.narration import step_guidance  # noqa: PLC0415
                cam.publish_guidance(step_guidance(cam.host.tracker.current(), self._stamp_now(),
                                                   self.values["image.frame_id"]))
        return ret

    def on_deactivate(self, state) -> TransitionCallbackReturn:
        self.active = False
        self.stop_hosts()
        self.get_logger().info("deactivated: workers stopped (queued frames wait for activate; frames arriving now "
                               "are counted in dropped_inactive)")
        return super().on_deactivate(state)

    def on_cleanup(self, state) -> TransitionCallbackReturn:
        self._release()
        self.get_logger().info("cleaned up: model released (configure loads it again)")
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state) -> TransitionCallbackReturn:
        self.active = False
        self._release()
        self.get_logger().info("shut down: model released")
        return TransitionCallbackReturn.SUCCESS

    def _release(self) -> None:
        """Stop the workers, destroy the entities and drop the engine (model weights freed)."""
        self.stop_hosts()
        for cam in self.cameras:
            if cam.overlay is not None:
                cam.overlay.close()
        self._destroy_entities()
        self._drop_clock()
        self._stream_group = None                        # a wedged one (see __init__) goes with its entities
        self.cameras = []
        import gc  # noqa: PLC0415
        gc.collect()
        torch = sys.modules.get("torch")
        if torch is not None and torch.cuda.is_available():
            torch.cuda.empty_cache()

    def stop_hosts(self) -> None:
        """Stop every camera's workers, then the shared model worker (restarted by the next activate)."""
        for cam in self.cameras:
            if cam.host is not None:
                cam.host.stop()
        if self._scheduler is not None:
            self._scheduler.stop()

    def autostart(self) -> bool:
        """configure + activate when the `autostart` parameter is true; False if a transition failed."""
        if not self.get_parameter("autostart").value:
            return True
        if self.trigger_configure() != TransitionCallbackReturn.SUCCESS:
            return False
        return self.trigger_activate() == TransitionCallbackReturn.SUCCESS

    # ---------------------------------------------------------------- entities
    def _create_entities(self, v: dict) -> None:
        self.pub_diag = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        for cam in self.cameras:
            cam.create(v, self.msgs, self._stream_group)
        # on the steady clock: /diagnostics keep coming with use_sim_time before /clock (or when paused)
        self._ents = [self.pub_diag, self.create_timer(v["diagnostics_period_s"], self._publish_diagnostics,
                                                       callback_group=self._stream_group,
                                                       clock=Clock(clock_type=ClockType.STEADY_TIME))]

    def _destroy_entities(self) -> None:
        for cam in self.cameras:
            cam.destroy()
        for e in self._ents:
            destroy_entity(self, e)
        self._ents = []

    def _sync_endpoints(self, names: list[str]) -> None:
        """query / reset / ask for these camera names (kept when the names did not change; none for an unusable
        `cameras` list until configure has said why)."""
        if [e.name for e in self.endpoints] == names or P.camera_problem([n for n in names if n]):
            return
        for e in self.endpoints:
            e.destroy()
        self.endpoints = [Endpoints(self, name, self.actions, self._group) for name in names]

    def state_label(self) -> str:
        """unconfigured | inactive | active (what a request is told while the node is not active)."""
        return "active" if self.active else ("inactive" if self.cameras else "unconfigured")

    def _on_set_parameters(self, params) -> SetParametersResult:
        for p in params:
            reason = P.validate(p.name, p.value)
            if reason:
                return SetParametersResult(successful=False, reason=reason)
        for p in params:
            if p.name == "stream.threshold":
                for cam in self.cameras:
                    cam.host.set_threshold(p.value)
            elif p.name in P.BY_NAME and not P.BY_NAME[p.name].dynamic and self.cameras:
                self.get_logger().info(f"{p.name} takes effect at the next configure")
        return SetParametersResult(successful=True, reason="")

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _stamp_now(self) -> tuple[int, int]:
        ns = self.get_clock().now().nanoseconds
        return ns // 1_000_000_000, ns % 1_000_000_000

    def _publish_diagnostics(self) -> None:
        if self._clock_sub is not None and all(c.start_gap is not None and c.start_gap.settled() for c in self.cameras):
            self._clock_settled = True   # frames_missed_at_start no longer needs /clock (destroyed at cleanup only)
        statuses = [st for st in (cam.status(self.device) for cam in self.cameras) if st is not None]
        if not statuses:
            return
        arr = DiagnosticArray()
        arr.header.stamp = self.get_clock().now().to_msg()
        arr.status = statuses
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
    except Exception:  # noqa: BLE001 - Ctrl-C may shut the context down while spin builds its wait set (RCLError)
        if rclpy.ok():
            raise
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)          # launch forwards a second SIGINT: ignore it
        try:
            node.active = False
            node.stop_hosts()
            executor.shutdown(timeout_sec=1.0)
            node.destroy_node()
        except KeyboardInterrupt:                             # a SIGINT that arrived before SIG_IGN took
            pass
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
