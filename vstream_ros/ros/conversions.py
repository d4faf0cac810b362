"""Message conversion between rclpy message objects and our pure representations.

`fill(msg, fields)`: copy a nested field dict (from vstream_ros.interfaces.narration) into an rclpy message
(bytes → array.array('B') for uint8[] fields, the fast path). `image_to_rgb(msg)` / `compressed_to_rgb(msg)` wrap the
pure decoders; `stamp_of(msg)` returns ((sec, nanosec), seconds).
Imports: array, vstream_ros.interfaces.*; no rclpy import needed (works on any object with the message's fields).
"""
from __future__ import annotations

import array

from vstream_ros.interfaces.image_codec import decode_compressed, decode_image
from vstream_ros.interfaces.stamps import stamp_to_sec


def fill(msg, fields: dict):
    """Assign `fields` onto `msg` recursively and return `msg`. Unknown field names raise AttributeError
    (rclpy messages use __slots__), so a field-name mismatch with the .msg is caught in tests."""
    for key, value in fields.items():
        if isinstance(value, dict):
            fill(getattr(msg, key), value)
        elif isinstance(value, (bytes, bytearray, memoryview)):
            setattr(msg, key, array.array("B", bytes(value)))
        else:
            setattr(msg, key, value)
    return msg


def stamp_of(msg) -> tuple[tuple[int, int], float]:
    st = msg.header.stamp
    return (int(st.sec), int(st.nanosec)), stamp_to_sec(st.sec, st.nanosec)


def image_to_rgb(msg):
    return decode_image(int(msg.height), int(msg.width), str(msg.encoding), int(msg.is_bigendian), int(msg.step),
                        msg.data)


def compressed_to_rgb(msg):
    return decode_compressed(str(msg.format), msg.data)
