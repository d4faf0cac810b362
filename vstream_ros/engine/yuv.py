"""Pixel-format conversion (RGB ↔ YUV) that gives the same bytes on every CPU.

FFmpeg's swscale picks its conversion kernels by the CPU's SIMD features at run time, and by default those
kernels do not round alike: on one machine the C path and the SSSE3 path of yuv420p → rgb24 differ by a few
grey levels (docs/reproducibility.md). Two machines therefore decoded the same video to different pixels, and
an encoder fed from different conversions wrote different files. swscale's BITEXACT + ACCURATE_RND flags
select code that rounds identically on every path (FFmpeg's own regression tests rely on them); every
conversion of the product and the lab goes through the two functions here with those flags and one thread.

- `frame_to_rgb(frame)`: a decoded PyAV frame of any pixel format → RGB uint8 [H, W, 3], nearest chroma (the
  fastest exact mode, within 3 grey levels of swscale's default), the frame's own colourspace and range.
- `rgb_to_yuv420p(rgb)`: RGB uint8 → a yuv420p PyAV frame, chroma averaged over 2×2 (AREA), for encoders.

Imports: numpy, av (lazily). Never torch or ROS.
"""
from __future__ import annotations

import functools

import numpy as np


@functools.cache
def _flags(name: str):
    """swscale flags for `name` + BITEXACT + ACCURATE_RND (built once: this runs per frame)."""
    from av.video.reformatter import Interpolation  # noqa: PLC0415 - av is an optional heavy import here
    return getattr(Interpolation, name) | Interpolation.BITEXACT | Interpolation.ACCURATE_RND


def frame_to_rgb(frame) -> np.ndarray:
    """A decoded PyAV VideoFrame → RGB uint8 [H, W, 3], identical on every CPU."""
    return frame.reformat(format="rgb24", interpolation=_flags("POINT"), threads=1).to_ndarray()


def rgb_to_yuv420p(rgb: np.ndarray):
    """RGB uint8 [H, W, 3] with even H and W → an av.VideoFrame in yuv420p, identical on every CPU."""
    import av  # noqa: PLC0415
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected RGB uint8 [H, W, 3], got {rgb.dtype} {rgb.shape}")
    if rgb.shape[0] % 2 or rgb.shape[1] % 2:
        raise ValueError(f"yuv420p needs an even frame size, got {rgb.shape[1]}x{rgb.shape[0]}")
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
    return frame.reformat(format="yuv420p", interpolation=_flags("AREA"), threads=1)
