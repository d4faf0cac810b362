"""rclpy Node and LifecycleNode for the double (signatures as in Humble and Jazzy)."""
from __future__ import annotations

import enum
import threading

from .node import (Clock, InvalidNodeNameException, InvalidParameterTypeException, InvalidParameterValueException,
                   Logger, NAME_RE, NotInitializedException, Parameter, ParameterAlreadyDeclaredException,
                   ParameterNotDeclaredException, ParameterUninitializedException, Publisher, Service, Subscription,
                   Timer, validate_topic_name)
from .qos import as_profile


class Context:
    def __init__(self, distro):
        self.distro = distro
        self.ok = False
        self.lock = threading.RLock()
        self.nodes: list = []

    def publishers(self, topic):
        return [p for n in self.nodes for p in n._pubs if p.topic_name == topic]

    def subscriptions(self, topic):
        return [s for n in self.nodes for s in n._subs if s.topic_name == topic]


class Node:
    _DISTRO_KW = {"jazzy": {"enable_logger_service"}}

    def __init__(self, node_name, *, context=None, cli_args=None, namespace=None, use_global_arguments=True,
                 enable_rosout=True, start_parameter_services=True, parameter_overrides=None,
                 allow_undeclared_parameters=False, automatically_declare_parameters_from_overrides=False,
                 **distro_kw):
        self.context = context or self._default_context
        bad = set(distro_kw) - self._DISTRO_KW.get(self.context.distro, set())
        if bad:
            raise TypeError(f"Node.__init__() got an unexpected keyword argument {sorted(bad)[0]!r}")
        if not self.context.ok:
            raise NotInitializedException("rclpy.init() has not been called")
        if not NAME_RE.match(node_name):
            raise InvalidNodeNameException(f"node name '{node_name}' is invalid")
        ns = namespace or "/"
        ns = ns if ns.startswith("/") else "/" + ns
        if ns != "/":
            validate_topic_name(ns, "namespace")
        self._name, self._namespace = node_name, ns
        self._overrides = {p.name: p for p in (parameter_overrides or [])}
        self._params: dict = {}
        self._descriptors: dict = {}
        self._types: dict = {}
        self._callbacks: list = []
        self._pubs, self._subs, self._services, self._timers = [], [], [], []
        self._logger = Logger(node_name)
        self._clock = Clock()
        self.context.nodes.append(self)
        self.declare_parameter("use_sim_time", False)

    # ------------------------------------------------------------------ names
    def get_name(self):
        return self._name

    def get_namespace(self):
        return self._namespace

    def resolve_topic_name(self, topic, *, only_expand=False):
        validate_topic_name(topic)
        if topic.startswith("/"):
            return topic
        if topic.startswith("~"):
            base = self._namespace.rstrip("/") + "/" + self._name
            return base + topic[1:]
        return self._namespace.rstrip("/") + "/" + topic

    def get_logger(self):
        return self._logger

    def get_clock(self):
        return self._clock

    # ------------------------------------------------------------------ parameters
    def declare_parameter(self, name, value=None, descriptor=None, ignore_override=False):
        from .messages import message_class
        if name in self._params:
            raise ParameterAlreadyDeclaredException(f"parameter '{name}' has already been declared")
        descriptor = descriptor if descriptor is not None else message_class("rcl_interfaces/msg/ParameterDescriptor")()
        if isinstance(value, Parameter.Type):
            if value == Parameter.Type.NOT_SET:
                raise ValueError("Cannot declare parameter with type NOT_SET")
            ptype, value = value, None
        else:
            ptype = Parameter.Type.from_parameter_value(value)
        if name in self._overrides and not ignore_override:
            ov = self._overrides[name].value
            if not descriptor.dynamic_typing and ptype != Parameter.Type.NOT_SET and not ptype.check(ov):
                raise InvalidParameterTypeException(
                    f"Trying to set parameter '{name}' to '{ov}' of type "
                    f"'{Parameter.Type.from_parameter_value(ov).name}', expecting type '{ptype.name}'")
            value = ov
        self._check_range(name, value, descriptor)
        descriptor.type = int(ptype)
        if value is not None and not ptype.check(value):
            ptype = Parameter.Type.from_parameter_value(value)     # dynamic typing
        param = Parameter(name, ptype, value)
        for cb in self._callbacks:
            res = cb([param])
            if not res.successful:
                raise InvalidParameterValueException(f"parameter '{name}': {res.reason}")
        self._params[name] = param
        self._descriptors[name] = descriptor
        self._types[name] = param.type_
        return param

    def declare_parameters(self, namespace, parameters, ignore_override=False):
        out = []
        for entry in parameters:
            full = f"{namespace}.{entry[0]}" if namespace else entry[0]
            out.append(self.declare_parameter(full, *entry[1:3], ignore_override=ignore_override))
        return out

    @staticmethod
    def _check_range(name, value, d):
        if value is None:
            return
        for r in d.floating_point_range:
            if not (r.from_value <= value <= r.to_value):
                raise InvalidParameterValueException(f"parameter '{name}' = {value} out of [{r.from_value}, "
                                                     f"{r.to_value}]")
        for r in d.integer_range:
            if not (r.from_value <= value <= r.to_value):
                raise InvalidParameterValueException(f"parameter '{name}' = {value} out of integer range")

    def has_parameter(self, name):
        return name in self._params

    def get_parameter(self, name):
        if name not in self._params:
            raise ParameterNotDeclaredException(f"parameter '{name}' has not been declared")
        p = self._params[name]
        if p.value is None and p.type_ != Parameter.Type.NOT_SET:      # declared with a type only, never set
            raise ParameterUninitializedException(f"The parameter '{name}' is not initialized")
        return p

    def get_parameter_or(self, name, alternative_value=None):
        return self._params.get(name, alternative_value)

    def add_on_set_parameters_callback(self, callback):
        self._callbacks.insert(0, callback)

    def set_parameters(self, parameter_list):
        from .messages import message_class
        Result = message_class("rcl_interfaces/msg/SetParametersResult")
        results = []
        for p in parameter_list:
            if p.name not in self._params:
                raise ParameterNotDeclaredException(p.name)
            d, static = self._descriptors[p.name], self._types[p.name]
            if d.read_only:
                results.append(Result(successful=False, reason="parameter is read-only"))
                continue
            if not d.dynamic_typing and static != Parameter.Type.NOT_SET and not static.check(p.value):
                results.append(Result(successful=False, reason=f"Wrong parameter type, parameter {{{p.name}}} is of "
                                                               f"type {{{static.name}}}, setting it to "
                                                               f"{{{p.type_.name}}} is not allowed."))
                continue
            try:
                self._check_range(p.name, p.value, d)
            except InvalidParameterValueException as e:
                results.append(Result(successful=False, reason=str(e)))
                continue
            res = Result(successful=True, reason="")
            for cb in self._callbacks:
                res = cb([p])
                if not isinstance(res, Result):
                    raise TypeError("on-set-parameters callback must return SetParametersResult")
                if not res.successful:
                    break
            if res.successful:
                self._params[p.name] = p
            results.append(res)
        return results

    # ------------------------------------------------------------------ entities
    def create_publisher(self, msg_type, topic, qos_profile, *, callback_group=None, event_callbacks=None,
                         qos_overriding_options=None, publisher_class=None):
        self._check_type(msg_type)
        pub = Publisher(self, msg_type, self.resolve_topic_name(topic), as_profile(qos_profile))
        self._pubs.append(pub)
        return pub

    def create_subscription(self, msg_type, topic, callback, qos_profile, *, callback_group=None,
                            event_callbacks=None, qos_overriding_options=None, raw=False):
        self._check_type(msg_type)
        if not callable(callback):
            raise TypeError("callback must be callable")
        sub = Subscription(self, msg_type, self.resolve_topic_name(topic), callback, as_profile(qos_profile), raw)
        sub.callback_group = callback_group              # None: the node's default group
        self._subs.append(sub)
        return sub

    def create_service(self, srv_type, srv_name, callback, *, qos_profile=None, callback_group=None):
        if not (hasattr(srv_type, "Request") and hasattr(srv_type, "Response")):
            raise TypeError("srv_type must be a service type")
        srv = Service(self, srv_type, self.resolve_topic_name(srv_name), callback, qos_profile)
        srv.callback_group = callback_group
        self._services.append(srv)
        return srv

    def create_timer(self, timer_period_sec, callback, callback_group=None, clock=None, **distro_kw):
        if set(distro_kw) - ({"autostart"} if self.context.distro == "jazzy" else set()):
            raise TypeError(f"create_timer() got an unexpected keyword argument {sorted(distro_kw)[0]!r}")
        t = Timer(timer_period_sec, callback, callback_group, clock)
        self._timers.append(t)
        return t

    @staticmethod
    def _check_type(msg_type):
        if not (isinstance(msg_type, type) and hasattr(msg_type, "_TYPE") and "/msg/" in msg_type._TYPE):
            raise TypeError(f"{msg_type!r} is not a ROS message type")

    def _destroy(self, lst, ent):
        if ent in lst:
            lst.remove(ent)
            return True
        return False

    def destroy_publisher(self, p):
        return self._destroy(self._pubs, p)

    def destroy_subscription(self, s):
        return self._destroy(self._subs, s)

    def destroy_service(self, s):
        return self._destroy(self._services, s)

    def destroy_timer(self, t):
        t.cancel()
        return self._destroy(self._timers, t)

    def destroy_node(self):
        self._pubs, self._subs, self._services, self._timers = [], [], [], []
        if self in self.context.nodes:
            self.context.nodes.remove(self)
        return True

    # test helpers (not rclpy API)
    def publisher(self, topic):
        return next(p for p in self._pubs if p.topic_name == topic)

    def subscription(self, topic):
        return next(s for s in self._subs if s.topic_name == topic)

    def service(self, name):
        return next(s for s in self._services if s.srv_name == name)


# ---------------------------------------------------------------------- lifecycle
class TransitionCallbackReturn(enum.IntEnum):
    SUCCESS = 97
    FAILURE = 98
    ERROR = 99


class RCLError(RuntimeError):
    pass


class LifecycleState:
    def __init__(self, state_id, label):
        self.state_id, self.label = state_id, label


_TRANSITIONS = {  # (from, transition) -> (callback, to on success, to on failure)
    ("unconfigured", "configure"): ("on_configure", "inactive", "unconfigured"),
    ("inactive", "cleanup"): ("on_cleanup", "unconfigured", "inactive"),
    ("inactive", "activate"): ("on_activate", "active", "inactive"),
    ("active", "deactivate"): ("on_deactivate", "inactive", "active"),
    ("unconfigured", "shutdown"): ("on_shutdown", "finalized", "finalized"),
    ("inactive", "shutdown"): ("on_shutdown", "finalized", "finalized"),
    ("active", "shutdown"): ("on_shutdown", "finalized", "finalized"),
}
_IDS = {"unconfigured": 1, "inactive": 2, "active": 3, "finalized": 4}


class LifecyclePublisher(Publisher):
    """As rclpy.lifecycle.LifecyclePublisher: publish() does nothing until the node's base on_activate ran."""

    def __init__(self, *args):
        super().__init__(*args)
        self.enabled = False
        self.dropped_inactive = 0

    def publish(self, msg):
        if not self.enabled:
            self.dropped_inactive += 1
            return
        super().publish(msg)

    def on_activate(self, state):
        self.enabled = True
        return TransitionCallbackReturn.SUCCESS

    def on_deactivate(self, state):
        self.enabled = False
        return TransitionCallbackReturn.SUCCESS


class LifecycleNode(Node):
    def __init__(self, node_name, *, enable_communication_interface=True, **kwargs):
        super().__init__(node_name, **kwargs)
        self._state = "unconfigured"
        self._managed_entities = set()

    def create_lifecycle_publisher(self, msg_type, topic, qos_profile, **kwargs):
        self._check_type(msg_type)
        pub = LifecyclePublisher(self, msg_type, self.resolve_topic_name(topic), as_profile(qos_profile))
        self._pubs.append(pub)
        self._managed_entities.add(pub)
        return pub

    def destroy_lifecycle_publisher(self, pub):
        self._managed_entities.discard(pub)
        return self.destroy_publisher(pub)

    @property
    def lifecycle_state(self):    # test helper
        return self._state

    def _trigger(self, transition):
        key = (self._state, transition)
        if key not in _TRANSITIONS:
            raise RCLError(f"Transition is not registered: {transition} from {self._state}")
        cb, ok, fail = _TRANSITIONS[key]
        try:                                 # rclpy: an exception in a transition callback is an ERROR return
            ret = getattr(self, cb)(LifecycleState(_IDS[self._state], self._state))
        except Exception:  # noqa: BLE001
            ret = TransitionCallbackReturn.ERROR
        if not isinstance(ret, TransitionCallbackReturn):
            raise TypeError(f"{cb} must return a TransitionCallbackReturn, got {ret!r}")
        if ret == TransitionCallbackReturn.SUCCESS:
            self._state = ok
        elif ret == TransitionCallbackReturn.FAILURE:
            self._state = fail
        else:
            err = self.on_error(LifecycleState(_IDS[self._state], self._state))
            self._state = "unconfigured" if err == TransitionCallbackReturn.SUCCESS else "finalized"
        return ret

    def trigger_configure(self):
        return self._trigger("configure")

    def trigger_cleanup(self):
        return self._trigger("cleanup")

    def trigger_activate(self):
        return self._trigger("activate")

    def trigger_deactivate(self):
        return self._trigger("deactivate")

    def trigger_shutdown(self):
        return self._trigger("shutdown")

    def on_configure(self, state):
        return TransitionCallbackReturn.SUCCESS

    def on_cleanup(self, state):
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state):          # rclpy: activates every managed entity (lifecycle publishers)
        for e in self._managed_entities:
            e.on_activate(state)
        return TransitionCallbackReturn.SUCCESS

    def on_deactivate(self, state):
        for e in self._managed_entities:
            e.on_deactivate(state)
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state):
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state):
        return TransitionCallbackReturn.SUCCESS
