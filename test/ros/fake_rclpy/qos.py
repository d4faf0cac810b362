"""rclpy.qos for the double: policy enums, QoSProfile with rclpy's history/depth rule, presets, compatibility."""
from __future__ import annotations

import enum
import warnings


class InvalidQoSProfileException(Exception):
    pass


class HistoryPolicy(enum.IntEnum):
    SYSTEM_DEFAULT = 0
    KEEP_LAST = 1
    KEEP_ALL = 2
    UNKNOWN = 3


class ReliabilityPolicy(enum.IntEnum):
    SYSTEM_DEFAULT = 0
    RELIABLE = 1
    BEST_EFFORT = 2
    UNKNOWN = 3
    BEST_AVAILABLE = 4        # Iron+ only; removed from the Humble flavour by install.py


class DurabilityPolicy(enum.IntEnum):
    SYSTEM_DEFAULT = 0
    TRANSIENT_LOCAL = 1
    VOLATILE = 2
    UNKNOWN = 3
    BEST_AVAILABLE = 4


class LivelinessPolicy(enum.IntEnum):
    SYSTEM_DEFAULT = 0
    AUTOMATIC = 1
    MANUAL_BY_TOPIC = 3
    UNKNOWN = 4
    BEST_AVAILABLE = 5


class QoSProfile:
    __slots__ = ("history", "depth", "reliability", "durability", "liveliness")

    def __init__(self, **kwargs):
        allowed = set(self.__slots__) | {"deadline", "lifespan", "liveliness_lease_duration",
                                         "avoid_ros_namespace_conventions"}
        bad = set(kwargs) - allowed
        if bad:
            raise TypeError(f"QoSProfile got unexpected keyword arguments {sorted(bad)}")
        if "history" not in kwargs:
            if "depth" not in kwargs:
                raise InvalidQoSProfileException("History and/or depth settings are required.")
            kwargs["history"] = HistoryPolicy.KEEP_LAST
        self.history = HistoryPolicy(kwargs["history"])
        if self.history == HistoryPolicy.KEEP_LAST and "depth" not in kwargs:
            warnings.warn("A QoSProfile with history set to KEEP_LAST needs a depth specified.", UserWarning,
                          stacklevel=2)
        depth = kwargs.get("depth", 0)
        if not isinstance(depth, int) or isinstance(depth, bool) or depth < 0:
            raise TypeError("depth must be a non-negative int")
        self.depth = depth
        self.reliability = ReliabilityPolicy(kwargs.get("reliability", ReliabilityPolicy.RELIABLE))
        self.durability = DurabilityPolicy(kwargs.get("durability", DurabilityPolicy.VOLATILE))
        self.liveliness = LivelinessPolicy(kwargs.get("liveliness", LivelinessPolicy.SYSTEM_DEFAULT))

    def __eq__(self, other):
        return isinstance(other, QoSProfile) and all(getattr(self, s) == getattr(other, s) for s in self.__slots__)

    def __repr__(self):
        return (f"QoSProfile(history={self.history.name}, depth={self.depth}, reliability={self.reliability.name}, "
                f"durability={self.durability.name})")


qos_profile_sensor_data = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=5,
                                     reliability=ReliabilityPolicy.BEST_EFFORT, durability=DurabilityPolicy.VOLATILE)
qos_profile_system_default = QoSProfile(history=HistoryPolicy.SYSTEM_DEFAULT,
                                        reliability=ReliabilityPolicy.SYSTEM_DEFAULT,
                                        durability=DurabilityPolicy.SYSTEM_DEFAULT)
qos_profile_services_default = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10)


def as_profile(qos) -> QoSProfile:
    """rclpy's rule for the positional qos argument: a QoSProfile, or an int = KEEP_LAST(depth)."""
    if isinstance(qos, QoSProfile):
        return qos
    if isinstance(qos, int) and not isinstance(qos, bool):
        return QoSProfile(depth=qos)
    raise TypeError("Expected QoSProfile or int, but received " + repr(type(qos)))


def compatible(offered: QoSProfile, requested: QoSProfile) -> bool:
    """DDS request/offer matching for reliability and durability."""
    if requested.reliability == ReliabilityPolicy.RELIABLE and offered.reliability == ReliabilityPolicy.BEST_EFFORT:
        return False
    if requested.durability == DurabilityPolicy.TRANSIENT_LOCAL and offered.durability == DurabilityPolicy.VOLATILE:
        return False
    return True
