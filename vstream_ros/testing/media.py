"""Small media writers for tests and docs: a video file of synthetic frames via PyAV.

Imports: numpy, av (lazily). Never ROS.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np


def write_test_video(path: str | Path, n: int = 20, fps: int = 10, size: tuple[int, int] = (240, 320),
                     noise: bool = False, seed: int = 0) -> Path:
    """Write `n` frames (H×W = `size`) at `fps` as MPEG-4; frame i is tinted by i (or random noise)."""
    import av  # noqa: PLC0415

    rng = np.random.default_rng(seed)
    path = Path(path)
    with av.open(str(path), "w") as c:
        s = c.add_stream("mpeg4", rate=fps)
        s.width, s.height, s.pix_fmt = size[1], size[0], "yuv420p"
        for i in range(n):
            if noise:
                img = rng.integers(0, 255, (*size, 3), dtype=np.uint8)
            else:
                img = np.zeros((*size, 3), np.uint8)
                img[..., i % 3] = 40 + (10 * i) % 200
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path
