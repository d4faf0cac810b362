"""JPEG encoding of RGB frames for viewers (Foxglove channels, `vstream replay --with-images`), with OpenCV (a core
dependency). Kept apart from viz/channels.py so that code without the Foxglove SDK can use it.

Imports: numpy, cv2 (lazily). Never ROS, torch or foxglove.
"""
from __future__ import annotations

import numpy as np

DEFAULT_QUALITY = 90


def encode_jpeg(rgb: np.ndarray, quality: int = DEFAULT_QUALITY) -> bytes:
    """RGB uint8 (H×W×3, or H×W grey) → JPEG bytes; ValueError for anything OpenCV cannot encode."""
    import cv2  # noqa: PLC0415

    a = np.ascontiguousarray(rgb)
    if a.dtype != np.uint8 or a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] != 3):
        raise ValueError(f"expected an RGB uint8 image [H, W, 3], got {a.shape} {a.dtype}")
    if a.ndim == 3:
        a = cv2.cvtColor(a, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".jpg", a, [int(cv2.IMWRITE_JPEG_QUALITY), int(quality)])
    if not ok:
        raise ValueError(f"cannot JPEG-encode an image of shape {a.shape}")
    return buf.tobytes()
