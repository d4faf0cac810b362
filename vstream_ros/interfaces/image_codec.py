"""Decode sensor_msgs/Image fields and CompressedImage bytes into RGB uint8 arrays without cv_bridge.

`decode_image(height, width, encoding, is_bigendian, step, data)` handles rgb8, bgr8, rgba8, bgra8, mono8,
mono16/16UC1 (scaled to 8 bit), 8UC3 (treated as bgr8), 8UC1, yuv422 (UYVY), yuv422_yuy2/yuyv (YUYV);
`decode_compressed(format, data)` handles jpeg/png through cv2.imdecode. Every malformed input raises
`ImageDecodeError` with a one-line reason (wrong step, truncated data, zero size, unknown encoding);
`reason` is a short stable key used for drop counters.

Imports numpy and (lazily) cv2. Must not import rclpy or any ROS package.
"""
from __future__ import annotations

import numpy as np

# encoding -> (channels, bytes per channel)
_LAYOUT = {
    "rgb8": (3, 1), "bgr8": (3, 1), "rgba8": (4, 1), "bgra8": (4, 1), "mono8": (1, 1), "8uc1": (1, 1),
    "8uc3": (3, 1), "mono16": (1, 2), "16uc1": (1, 2),
    "yuv422": (2, 1), "uyvy": (2, 1), "yuv422_yuy2": (2, 1), "yuyv": (2, 1),
}
SUPPORTED_ENCODINGS = tuple(sorted(_LAYOUT))
MAX_SIDE = 16384


class ImageDecodeError(ValueError):
    """A frame that cannot be decoded; `reason` is a short key (e.g. 'bad_step') for counters."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


def _as_u8(data) -> np.ndarray:
    if isinstance(data, np.ndarray):
        return data.reshape(-1).view(np.uint8) if data.dtype != np.uint8 else data.reshape(-1)
    return np.frombuffer(memoryview(data).cast("B"), dtype=np.uint8)


def decode_image(height: int, width: int, encoding: str, is_bigendian: int, step: int, data) -> np.ndarray:
    """Return an RGB uint8 array [height, width, 3] (a copy, safe to keep) or raise ImageDecodeError."""
    enc = (encoding or "").strip().lower()
    if enc not in _LAYOUT:
        raise ImageDecodeError("unknown_encoding",
                               f"unsupported image encoding {encoding!r}; supported: {', '.join(SUPPORTED_ENCODINGS)}")
    if height <= 0 or width <= 0:
        raise ImageDecodeError("zero_size", f"image has zero size ({width}x{height})")
    if height > MAX_SIDE or width > MAX_SIDE:
        raise ImageDecodeError("too_large", f"image {width}x{height} exceeds {MAX_SIDE} pixels per side")
    channels, depth = _LAYOUT[enc]
    if enc in ("yuv422", "uyvy", "yuv422_yuy2", "yuyv") and width % 2:
        raise ImageDecodeError("bad_size", f"{encoding} needs an even width, got {width}")
    row = width * channels * depth
    if step < row:
        raise ImageDecodeError("bad_step", f"step {step} is smaller than width*bytes_per_pixel = {row} ({encoding})")
    buf = _as_u8(data)
    need = step * (height - 1) + row
    if buf.size < need:
        raise ImageDecodeError("truncated", f"image data has {buf.size} bytes, {width}x{height} {encoding} "
                                            f"with step {step} needs {need}")
    if buf.size < step * height:     # last row may legally omit its padding only if nothing else is missing
        buf = np.concatenate([buf, np.zeros(step * height - buf.size, np.uint8)])
    rows = buf[: step * height].reshape(height, step)[:, :row]
    if depth == 2:
        dt = np.dtype(">u2" if is_bigendian else "<u2")
        px = rows.copy().view(dt).reshape(height, width).astype(np.uint16)
        gray = (px >> 8).astype(np.uint8)   # 16 → 8 bit by the top byte (deterministic, no per-frame gain)
        return np.repeat(gray[:, :, None], 3, axis=2)
    img = rows.reshape(height, width, channels)
    if enc in ("rgb8",):
        return img.copy()
    if enc in ("bgr8", "8uc3"):
        return img[:, :, ::-1].copy()
    if enc == "rgba8":
        return img[:, :, :3].copy()
    if enc == "bgra8":
        return img[:, :, 2::-1].copy()
    if enc in ("mono8", "8uc1"):
        return np.repeat(img, 3, axis=2)
    return _yuv422_to_rgb(rows.reshape(height, width // 2, 4), uyvy=enc in ("yuv422", "uyvy"))


def _yuv422_to_rgb(quads: np.ndarray, uyvy: bool) -> np.ndarray:
    """quads [H, W/2, 4] of UYVY or YUYV bytes → RGB [H, W, 3] (BT.601 limited range)."""
    q = quads.astype(np.float32)
    if uyvy:
        u, y0, v, y1 = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    else:
        y0, u, y1, v = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    h, half = u.shape
    y = np.stack([y0, y1], axis=-1).reshape(h, half * 2)
    u = np.repeat(u, 2, axis=1) - 128.0
    v = np.repeat(v, 2, axis=1) - 128.0
    c = (y - 16.0) * 1.164
    r = c + 1.596 * v
    g = c - 0.392 * u - 0.813 * v
    b = c + 2.017 * u
    return np.clip(np.stack([r, g, b], axis=-1) + 0.5, 0, 255).astype(np.uint8)


def decode_compressed(fmt: str, data) -> np.ndarray:
    """Decode a CompressedImage (jpeg/png/...) to RGB uint8 [H, W, 3] or raise ImageDecodeError."""
    import cv2  # noqa: PLC0415 - heavy import only when compressed transport is used

    buf = _as_u8(data)
    if buf.size == 0:
        raise ImageDecodeError("empty", f"compressed image (format {fmt!r}) has no data")
    img = cv2.imdecode(buf, cv2.IMREAD_ANYCOLOR | cv2.IMREAD_ANYDEPTH)
    if img is None or img.size == 0:
        raise ImageDecodeError("undecodable", f"cannot decode compressed image of format {fmt!r} ({buf.size} bytes)")
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    if img.ndim == 2:
        return np.repeat(img[:, :, None], 3, axis=2)
    if img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
