"""Message classes for the rclpy double, generated from rosbags typestores, plus CDR round-trips.

Classes behave like rosidl-generated rclpy messages: no-arg constructor with defaults, keyword constructor,
`__slots__` (unknown attribute → AttributeError), typed setters (AssertionError like rclpy under __debug__),
uint8[] stored as array.array('B'), bounded sequences enforced, byte fields/constants as 1-byte `bytes`.
"""
from __future__ import annotations

import array
import math

import numpy as np
from rosbags.typesys.store import Nodetype

from vstream_ros.interfaces.typestore import get_typestore

INT_RANGES = {"int8": (-2**7, 2**7 - 1), "uint8": (0, 255), "int16": (-2**15, 2**15 - 1), "uint16": (0, 2**16 - 1),
              "int32": (-2**31, 2**31 - 1), "uint32": (0, 2**32 - 1), "int64": (-2**63, 2**63 - 1),
              "uint64": (0, 2**64 - 1), "char": (0, 255)}
ARRAY_CODES = {"uint8": "B", "int8": "b", "uint16": "H", "int16": "h", "uint32": "I", "int32": "i", "uint64": "Q",
               "int64": "q", "float32": "f", "float64": "d", "char": "B"}
_CLASSES: dict = {}


def _check_base(name, typ, value):
    if typ == "bool":
        assert isinstance(value, bool), f"The '{name}' field must be of type 'bool'"
    elif typ == "byte":
        assert isinstance(value, (bytes, bytearray)) and len(value) == 1, \
            f"The '{name}' field must be of type 'bytes' of length 1"
    elif typ in INT_RANGES:
        assert isinstance(value, int) and not isinstance(value, bool), f"The '{name}' field must be of type 'int'"
        lo, hi = INT_RANGES[typ]
        assert lo <= value <= hi, f"The '{name}' field must be an integer in [{lo}, {hi}]"
    elif typ in ("float32", "float64"):
        assert isinstance(value, float), f"The '{name}' field must be of type 'float'"
        if typ == "float32" and math.isfinite(value):
            assert abs(value) <= 3.4028234663852886e38, f"The '{name}' field exceeds float32 range"
    elif typ in ("string", "wstring"):
        assert isinstance(value, str), f"The '{name}' field must be of type 'str'"
    else:
        raise AssertionError(f"unsupported base type {typ}")


def _default(node):
    kind, detail = node
    if kind == Nodetype.BASE:
        typ = detail[0]
        return {"bool": False, "byte": b"\x00", "string": "", "wstring": "", "float32": 0.0,
                "float64": 0.0}.get(typ, 0)
    if kind == Nodetype.NAME:
        return message_class(detail)()
    if kind == Nodetype.ARRAY:
        sub, n = detail
        if sub[0] == Nodetype.BASE and sub[1][0] in ARRAY_CODES:
            return array.array(ARRAY_CODES[sub[1][0]], [0] * n)
        return [_default(sub) for _ in range(n)]
    sub = detail[0]
    if sub[0] == Nodetype.BASE and sub[1][0] in ARRAY_CODES:
        return array.array(ARRAY_CODES[sub[1][0]])
    return []


def _coerce(name, node, value):
    kind, detail = node
    if kind == Nodetype.BASE:
        _check_base(name, detail[0], value)
        return value
    if kind == Nodetype.NAME:
        cls = message_class(detail)
        assert isinstance(value, cls), f"The '{name}' field must be a sub message of type '{cls.__name__}'"
        return value
    sub, bound = detail
    fixed = kind == Nodetype.ARRAY
    if sub[0] == Nodetype.BASE and sub[1][0] in ARRAY_CODES:
        code = ARRAY_CODES[sub[1][0]]
        if isinstance(value, array.array):
            assert value.typecode == code, f"The '{name}' array.array() must have the type code of '{code}'"
            out = value
        else:
            assert not isinstance(value, str), f"The '{name}' field must be a sequence, not str"
            vals = list(value)
            for v in vals:
                _check_base(name, sub[1][0], v)
            out = array.array(code, vals)
    else:
        assert not isinstance(value, (str, bytes)), f"The '{name}' field must be a sequence"
        out = [_coerce(name, sub, v) for v in value]
    if fixed:
        assert len(out) == bound, f"The '{name}' field must have exactly {bound} elements"
    elif bound:
        assert len(out) <= bound, f"The '{name}' field must have at most {bound} elements"
    return out


def message_class(typename: str, store: str = "humble"):
    """The rclpy-style class of `pkg/msg/Name` (or a type registered under srv/action names)."""
    key = (typename, store)
    if key in _CLASSES:
        return _CLASSES[key]
    ts = get_typestore(store) if store in ("humble", "jazzy") else _extra_store()
    consts, fields = ts.fielddefs[_ALIAS.get(typename, typename)]
    spec = dict(fields)

    def __init__(self, **kw):
        unknown = set(kw) - set(spec)
        assert not unknown, f"Invalid arguments passed to constructor: {', '.join(sorted(unknown))}"
        for fname, node in spec.items():
            setattr(self, fname, kw[fname] if fname in kw else _default(node))

    def __setattr__(self, fname, value):
        if fname not in spec:
            raise AttributeError(f"'{type(self).__name__}' object has no attribute '{fname}'")
        object.__setattr__(self, fname, _coerce(fname, spec[fname], value))

    def __eq__(self, other):
        return type(self) is type(other) and all(getattr(self, f) == getattr(other, f) for f in spec)

    def __repr__(self):
        return f"{typename.replace('/', '.')}(" + ", ".join(f"{f}={getattr(self, f)!r}" for f in spec) + ")"

    ns = {"__slots__": tuple(spec), "__init__": __init__, "__setattr__": __setattr__, "__eq__": __eq__,
          "__repr__": __repr__, "__hash__": None, "_TYPE": _ALIAS.get(typename, typename), "_FIELDS": spec,
          "_STORE": store,
          "get_fields_and_field_types": classmethod(lambda c: {f: str(n) for f, n in spec.items()})}
    for cname, ctype, cval in consts:
        ns[cname] = bytes([cval]) if ctype == "byte" else cval
    cls = type(typename.rsplit("/", 1)[-1], (), ns)
    _CLASSES[key] = cls
    return cls


def to_rosbags(msg, ts):
    """rclpy-style message → rosbags dataclass of typestore `ts` (recursively)."""
    cls = ts.types[msg._TYPE]
    kw = {}
    for fname, node in msg._FIELDS.items():
        kw[fname] = _conv(getattr(msg, fname), node, ts)
    return cls(**kw)


def _conv(value, node, ts):
    kind, detail = node
    if kind == Nodetype.BASE:
        return value[0] if detail[0] == "byte" else value
    if kind == Nodetype.NAME:
        return to_rosbags(value, ts)
    sub = detail[0]
    if sub[0] == Nodetype.BASE and sub[1][0] in ARRAY_CODES:
        return np.array(value, dtype=np.dtype(ARRAY_CODES[sub[1][0]]))
    return [_conv(v, sub, ts) for v in value]


def round_trip(msg) -> dict:
    """Serialize `msg` with serialize_cdr in the Humble and Jazzy typestores and deserialize it back.
    Returns {'humble': obj, 'jazzy': obj, 'cdr': bytes}. Raises on any field/type mismatch."""
    out = {}
    for distro in ("humble", "jazzy"):
        ts = get_typestore(distro) if msg._STORE in ("humble", "jazzy") else _extra_store(distro)
        raw = ts.serialize_cdr(to_rosbags(msg, ts), msg._TYPE)
        out[distro] = ts.deserialize_cdr(raw, msg._TYPE)
        out.setdefault("cdr", bytes(raw))
        assert bytes(raw) == out["cdr"], f"{msg._TYPE}: Humble and Jazzy CDR differ"
    return out


_EXTRA = {}
_ALIAS: dict = {}
SRV_ACTION_DEFS = {
    "std_srvs/srv/Trigger_Request": "uint8 structure_needs_at_least_one_member\n",   # as rosidl does
    "std_srvs/srv/Trigger_Response": "bool success\nstring message\n",
}


def _extra_store(distro: str = "humble"):
    """A separate typestore (not the shared cached one) holding service/action types."""
    if distro in _EXTRA:
        return _EXTRA[distro]
    from pathlib import Path

    from rosbags.typesys import Stores, get_types_from_msg, get_typestore as _get

    from vstream_ros.interfaces.typestore import MSG_NAMES, msg_text

    ts = _get(Stores.ROS2_HUMBLE if distro == "humble" else Stores.ROS2_JAZZY)
    types = {}
    for name in MSG_NAMES:
        types.update(get_types_from_msg(msg_text(name), f"vstream_msgs/msg/{name}"))
    defs = dict(SRV_ACTION_DEFS)
    action = Path(__file__).resolve().parents[3] / "action" / "Ask.action"
    parts = action.read_text().split("\n---\n") if action.is_file() else []
    if len(parts) == 3:
        for suffix, text in zip(("Goal", "Result", "Feedback"), parts, strict=True):
            defs[f"vstream_msgs/action/Ask_{suffix}"] = text
    for name, text in defs.items():
        got = get_types_from_msg(text, name)
        for real in got:                      # rosbags may rename (srv → srv/msg); keep our name as alias
            _ALIAS[name] = real
        types.update(got)
    ts.register(types)
    _EXTRA[distro] = ts
    return ts


def extra_class(typename: str):
    _extra_store("humble")
    _extra_store("jazzy")
    return message_class(typename, store="extra")
