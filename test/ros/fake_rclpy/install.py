"""Build the double's module tree (rclpy, rclpy.*, message packages) and install it into sys.modules — only inside
a `with installed(distro):` block (used by pytest fixtures); everything is restored on exit."""
from __future__ import annotations

import contextlib
import sys
import types

from . import action, graph, node, qos
from .messages import extra_class, message_class

MSG_PACKAGES = ("std_msgs", "sensor_msgs", "builtin_interfaces", "diagnostic_msgs", "rcl_interfaces", "rosgraph_msgs",
                "vstream_msgs")


def _msg_module(pkg):
    mod = types.ModuleType(f"{pkg}.msg")

    def __getattr__(name):
        try:
            return message_class(f"{pkg}/msg/{name}")
        except KeyError:
            raise AttributeError(f"module '{pkg}.msg' has no attribute '{name}'") from None
    mod.__getattr__ = __getattr__
    return mod


def _composite(name, **parts):
    return type(name, (), parts)


def _build(distro, with_vstream_msgs):
    ctx = graph.Context(distro)
    graph.Node._default_context = ctx
    m = {}

    def module(name, **attrs):
        mod = types.ModuleType(name)
        mod.__dict__.update(attrs)
        m[name] = mod
        return mod

    def init(*, args=None, context=None, domain_id=None, signal_handler_options=None):
        (context or ctx).ok = True

    def shutdown(*, context=None, uninstall_handlers=None):
        c = context or ctx
        if not c.ok:
            raise RuntimeError("Context must be initialized before it can be shutdown")
        c.ok = False

    def try_shutdown(*, context=None, uninstall_handlers=None):
        (context or ctx).ok = False

    def spin(node_, executor=None):
        raise KeyboardInterrupt

    qos_attrs = {k: getattr(qos, k) for k in ("QoSProfile", "HistoryPolicy", "ReliabilityPolicy", "DurabilityPolicy",
                                               "LivelinessPolicy", "qos_profile_sensor_data",
                                               "qos_profile_system_default", "qos_profile_services_default",
                                               "InvalidQoSProfileException")}
    if distro == "jazzy":
        qos_attrs["qos_profile_best_available"] = qos.QoSProfile(depth=10)
    module("rclpy.qos", **qos_attrs)
    module("rclpy.node", Node=graph.Node)
    module("rclpy.parameter", Parameter=node.Parameter)
    module("rclpy.time", Time=node.Time)
    module("rclpy.clock", Clock=node.Clock, ClockType=node.ClockType)
    module("rclpy.exceptions", **{k: getattr(node, k) for k in dir(node) if k.endswith("Exception")})
    module("rclpy.callback_groups", ReentrantCallbackGroup=type("ReentrantCallbackGroup", (), {}),
           MutuallyExclusiveCallbackGroup=type("MutuallyExclusiveCallbackGroup", (), {}))
    module("rclpy.lifecycle", LifecycleNode=graph.LifecycleNode, LifecycleState=graph.LifecycleState,
           TransitionCallbackReturn=graph.TransitionCallbackReturn)
    module("rclpy.executors", SingleThreadedExecutor=action.SingleThreadedExecutor,
           MultiThreadedExecutor=action.MultiThreadedExecutor,
           ExternalShutdownException=action.ExternalShutdownException)
    module("rclpy.action", ActionServer=action.ActionServer, GoalResponse=action.GoalResponse,
           CancelResponse=action.CancelResponse)
    rclpy = module("rclpy", init=init, shutdown=shutdown, try_shutdown=try_shutdown, spin=spin,
                   ok=lambda *, context=None: (context or ctx).ok)
    for sub in ("qos", "node", "parameter", "time", "clock", "exceptions", "callback_groups", "lifecycle",
                "executors", "action"):
        setattr(rclpy, sub, m[f"rclpy.{sub}"])
    for pkg in MSG_PACKAGES:
        if pkg == "vstream_msgs" and not with_vstream_msgs:
            continue
        root = module(pkg)
        root.msg = m[f"{pkg}.msg"] = _msg_module(pkg)
    trigger = _composite("Trigger", Request=extra_class("std_srvs/srv/Trigger_Request"),
                         Response=extra_class("std_srvs/srv/Trigger_Response"))
    module("std_srvs").srv = module("std_srvs.srv", Trigger=trigger)
    if with_vstream_msgs:
        ask = _composite("Ask", Goal=extra_class("vstream_msgs/action/Ask_Goal"),
                         Result=extra_class("vstream_msgs/action/Ask_Result"),
                         Feedback=extra_class("vstream_msgs/action/Ask_Feedback"))
        m["vstream_msgs"].action = module("vstream_msgs.action", Ask=ask)
    return ctx, m


class Handle:
    """What the fixture yields: the fake context plus helpers."""

    def __init__(self, distro, ctx, modules):
        self.distro, self.context, self.modules = distro, ctx, modules

    def msg(self, typename):
        return message_class(typename)

    def publishers(self, topic):
        return self.context.publishers(topic)


@contextlib.contextmanager
def installed(distro="humble", with_vstream_msgs=True):
    if distro not in ("humble", "jazzy"):
        raise ValueError("distro must be humble or jazzy")
    ctx, mods = _build(distro, with_vstream_msgs)
    names = set(mods) | {"vstream_msgs", "vstream_msgs.msg", "vstream_msgs.action"}
    saved = {n: sys.modules.get(n) for n in names}
    ours = [n for n in sys.modules if n.startswith("vstream_ros.ros.")]
    for n in ours:                                         # make node modules re-import against the double
        sys.modules.pop(n)
    for n in names:
        sys.modules.pop(n, None)
    sys.modules.update(mods)
    try:
        yield Handle(distro, ctx, mods)
    finally:
        for n in [n for n in sys.modules if n.startswith("vstream_ros.ros.")]:
            sys.modules.pop(n)
        for n, mod in saved.items():
            if mod is None:
                sys.modules.pop(n, None)
            else:
                sys.modules[n] = mod
