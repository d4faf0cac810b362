"""rclpy.node / rclpy.parameter / rclpy.time / logging for the double, with rclpy's signatures and rules."""
from __future__ import annotations

import array
import enum
import re
import warnings

from .messages import round_trip
from .qos import compatible


class ParameterAlreadyDeclaredException(Exception):
    pass


class ParameterNotDeclaredException(Exception):
    pass


class InvalidParameterTypeException(Exception):
    pass


class InvalidParameterValueException(Exception):
    pass


class ParameterImmutableException(Exception):
    pass


class ParameterUninitializedException(Exception):
    pass


class NotInitializedException(Exception):
    pass


class InvalidTopicNameException(Exception):
    pass


class InvalidNodeNameException(Exception):
    pass


class Parameter:
    class Type(enum.IntEnum):
        NOT_SET = 0
        BOOL = 1
        INTEGER = 2
        DOUBLE = 3
        STRING = 4
        BYTE_ARRAY = 5
        BOOL_ARRAY = 6
        INTEGER_ARRAY = 7
        DOUBLE_ARRAY = 8
        STRING_ARRAY = 9

        @classmethod
        def from_parameter_value(cls, v):
            if v is None:
                return cls.NOT_SET
            if isinstance(v, bool):
                return cls.BOOL
            if isinstance(v, int):
                return cls.INTEGER
            if isinstance(v, float):
                return cls.DOUBLE
            if isinstance(v, str):
                return cls.STRING
            if isinstance(v, (list, tuple, array.array)):     # [] → BYTE_ARRAY, exactly as rclpy does
                if all(isinstance(x, bytes) for x in v):
                    return cls.BYTE_ARRAY
                if all(isinstance(x, bool) for x in v):
                    return cls.BOOL_ARRAY
                if all(isinstance(x, int) for x in v):
                    return cls.INTEGER_ARRAY
                if all(isinstance(x, float) for x in v):
                    return cls.DOUBLE_ARRAY
                if all(isinstance(x, str) for x in v):
                    return cls.STRING_ARRAY
            raise TypeError(f"The given value is not one of the allowed types '{v}'.")

        def check(self, v):
            T = Parameter.Type
            seq = isinstance(v, (list, tuple, array.array))
            return {T.NOT_SET: v is None, T.BOOL: isinstance(v, bool),
                    T.INTEGER: isinstance(v, int) and not isinstance(v, bool), T.DOUBLE: isinstance(v, float),
                    T.STRING: isinstance(v, str), T.BYTE_ARRAY: seq and all(isinstance(x, bytes) for x in v),
                    T.BOOL_ARRAY: seq and all(isinstance(x, bool) for x in v),
                    T.INTEGER_ARRAY: seq and all(isinstance(x, int) and not isinstance(x, bool) for x in v),
                    T.DOUBLE_ARRAY: seq and all(isinstance(x, float) for x in v),
                    T.STRING_ARRAY: seq and all(isinstance(x, str) for x in v)}[self]

    def __init__(self, name, type_=None, value=None):
        if type_ is None:
            type_ = Parameter.Type.from_parameter_value(value)
        if not isinstance(type_, Parameter.Type):
            raise TypeError("type must be an instance of Parameter.Type")
        if value is not None and not type_.check(value):
            raise ValueError(f"Type '{type_}' and value '{value}' do not agree")
        self._name, self._type, self._value = name, type_, value

    name = property(lambda self: self._name)
    type_ = property(lambda self: self._type)
    value = property(lambda self: self._value)


NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def validate_topic_name(name: str, what: str = "topic") -> None:
    """ros2/rcl validate_topic_name rules (before substitution expansion)."""
    if not name:
        raise InvalidTopicNameException(f"{what} name must not be empty")
    if name.endswith("/"):
        raise InvalidTopicNameException(f"{what} name '{name}' must not end with '/'")
    if "//" in name:
        raise InvalidTopicNameException(f"{what} name '{name}' must not contain '//'")
    if not re.fullmatch(r"~?[A-Za-z0-9_/{}]*", name) or ("~" in name[1:]):
        raise InvalidTopicNameException(f"{what} name '{name}' contains characters other than alphanumerics, '_', "
                                        "'/', '~', '{', '}'")
    if name.startswith("~") and len(name) > 1 and name[1] != "/":
        raise InvalidTopicNameException(f"{what} name '{name}': '~' must be followed by '/'")
    for tok in name.lstrip("~").split("/"):
        if tok and tok[0].isdigit():
            raise InvalidTopicNameException(f"{what} name '{name}': token '{tok}' starts with a digit")
    if len(name) > 255 - 8:
        raise InvalidTopicNameException(f"{what} name too long")


class Time:
    def __init__(self, *, seconds=0, nanoseconds=0, clock_type=None):
        self.nanoseconds = int(seconds * 1e9) + int(nanoseconds)

    def to_msg(self):
        from .messages import message_class
        t = message_class("builtin_interfaces/msg/Time")()
        t.sec, t.nanosec = self.nanoseconds // 10**9, self.nanoseconds % 10**9
        return t

    @classmethod
    def from_msg(cls, msg, clock_type=None):
        return cls(nanoseconds=msg.sec * 10**9 + msg.nanosec)


class ClockType(enum.IntEnum):
    UNINITIALIZED = 0
    ROS_TIME = 1
    SYSTEM_TIME = 2
    STEADY_TIME = 3


class Clock:
    """Settable clock (tests drive it like sim time)."""

    def __init__(self, *, clock_type=ClockType.SYSTEM_TIME):
        if not isinstance(clock_type, ClockType):
            raise TypeError("Clock type must be a ClockType enum")
        self.clock_type = clock_type
        self.ns = 1_700_000_000 * 10**9

    def now(self) -> Time:
        return Time(nanoseconds=self.ns)


LOG_KW = {"throttle_duration_sec", "throttle_time_source_type", "skip_first", "once"}


class Logger:
    def __init__(self, name):
        self.name = name
        self.records: list[tuple[str, str]] = []

    def _log(self, level, msg, **kw):
        bad = set(kw) - LOG_KW
        if bad:
            raise TypeError(f"parameters cannot be specified: {sorted(bad)}")
        if not isinstance(msg, str):
            raise TypeError("log message must be a str")
        self.records.append((level, msg))
        return True

    def debug(self, msg, **kw):
        return self._log("debug", msg, **kw)

    def info(self, msg, **kw):
        return self._log("info", msg, **kw)

    def warning(self, msg, **kw):
        return self._log("warning", msg, **kw)

    def warn(self, msg, **kw):
        warnings.warn("Logger.warn is deprecated, use warning", DeprecationWarning, stacklevel=2)
        return self._log("warning", msg, **kw)

    def error(self, msg, **kw):
        return self._log("error", msg, **kw)

    def fatal(self, msg, **kw):
        return self._log("fatal", msg, **kw)


class Publisher:
    def __init__(self, node, msg_type, topic, qos):
        self.node, self.msg_type, self.topic_name, self.qos_profile = node, msg_type, topic, qos
        self.published: list = []          # the rclpy objects as published
        self.decoded: list = []            # their Humble-typestore CDR round trips

    def publish(self, msg):
        if not isinstance(msg, self.msg_type):
            raise TypeError(f"Expected {self.msg_type.__name__}, got {type(msg).__name__}")
        rt = round_trip(msg)
        with self.node.context.lock:
            self.published.append(msg)
            self.decoded.append(rt["humble"])

    def destroy(self):
        return self.node.destroy_publisher(self)


class Subscription:
    def __init__(self, node, msg_type, topic, callback, qos, raw):
        self.node, self.msg_type, self.topic_name = node, msg_type, topic
        self.callback, self.qos_profile = callback, qos
        self.raw = raw

    def deliver(self, msg, offered_qos=None):
        """Hand `msg` to the callback if the offered QoS matches our requested QoS; returns whether delivered."""
        if offered_qos is not None and not compatible(offered_qos, self.qos_profile):
            return False
        if not isinstance(msg, self.msg_type):
            raise TypeError(f"subscription on {self.topic_name} expects {self.msg_type.__name__}")
        round_trip(msg)
        self.callback(msg)
        return True


class Service:
    def __init__(self, node, srv_type, name, callback, qos):
        self.node, self.srv_type, self.srv_name, self.callback, self.qos_profile = node, srv_type, name, callback, qos

    def call(self, request=None):
        request = request if request is not None else self.srv_type.Request()
        response = self.callback(request, self.srv_type.Response())
        if not isinstance(response, self.srv_type.Response):
            raise TypeError(f"service {self.srv_name} callback must return a {self.srv_type.__name__}.Response")
        round_trip(response)
        return response


class Timer:
    def __init__(self, period, callback, group, clock):
        if period <= 0:
            raise ValueError("timer period must be positive")
        self.timer_period_ns, self.callback, self.callback_group, self.clock = int(period * 1e9), callback, group, clock
        self.cancelled = False

    def fire(self):
        if not self.cancelled:
            self.callback()

    def cancel(self):
        self.cancelled = True
