"""Frames in: video decoding (PyAV), resampling to the model fps by capture time, letterbox, normalise.

Letterbox (docs/design/stream-format.md §3, upstream ffmpeg `scale` + `pad`): long side → `size` with bicubic
(antialiased, like swscale when shrinking), short side = aspect-preserving, rounded to the nearest even
number; padded to size×size, centred (offset rounded down to even, as ffmpeg's pad does for yuv420p),
black. Pixels: x/127.5 − 1 (mean 0.5, std 0.5), so the black pad is −1.

Decoded frames become RGB through engine/yuv.py (the same pixels on every CPU).

Imports: numpy, torch, av (lazily), engine.yuv. Never ROS.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F


class VideoError(RuntimeError):
    """A video that cannot be opened or holds no decodable frame (message is one line)."""


class Frame:
    """One frame with its capture time `t` in seconds; `rgb` is the RGB uint8 array [H, W, 3]. A decoded frame is
    converted to RGB on first access to `rgb`, so a reader that skips the frames the model clock does not take
    (most of them: a 10 fps video at the model's 2 fps) never pays for their conversion."""

    __slots__ = ("t", "_rgb", "_decoded")

    def __init__(self, t: float, rgb: np.ndarray | None = None, decoded=None):
        if (rgb is None) == (decoded is None):
            raise ValueError("a Frame needs exactly one of rgb and decoded")
        self.t, self._rgb, self._decoded = t, rgb, decoded

    @property
    def rgb(self) -> np.ndarray:
        if self._rgb is None:
            from .yuv import frame_to_rgb  # noqa: PLC0415
            self._rgb, self._decoded = frame_to_rgb(self._decoded), None
        return self._rgb


@dataclass
class DecodeStats:
    frames: int = 0
    corrupt: int = 0         # packets/frames that failed to decode and were skipped


def iter_video_frames(path: str | Path, stats: DecodeStats | None = None) -> Iterator[Frame]:
    """Decode a video (file, /dev/videoN or network stream: engine/video_sources.py) to frames with capture
    times from the stream's timestamps (RGB converted when a frame's `rgb` is first read).

    Corrupt packets are counted in `stats.corrupt` and skipped. Raises VideoError when the file is
    missing, is not a video, or yields no frame at all.
    """
    import av  # noqa: PLC0415 - optional heavy import

    from .video_sources import video_source  # noqa: PLC0415 - files, /dev/videoN, rtsp:// and http(s):// streams

    stats = stats if stats is not None else DecodeStats()
    try:
        source = video_source(str(path))
    except ValueError as e:
        raise VideoError(str(e)) from None
    if not source.live:
        path = Path(path)
        if not path.is_file():
            raise VideoError(f"video not found: {path}")
    try:
        container = av.open(source.url, **source.av_options)
    except (av.error.FFmpegError, OSError, ValueError) as e:
        raise VideoError(f"cannot open video {path}: {_one_line(e)}") from None
    with container:
        if not container.streams.video:
            raise VideoError(f"no video stream in {path}")
        stream = container.streams.video[0]
        tb = float(stream.time_base) if stream.time_base else None
        rate = float(stream.average_rate) if stream.average_rate else None
        start = None
        try:
            packets = container.demux(stream)
            for packet in packets:
                try:
                    decoded = packet.decode()
                except (av.error.FFmpegError, ValueError):
                    stats.corrupt += 1
                    continue
                for fr in decoded:
                    if fr.pts is not None and tb:
                        t = fr.pts * tb
                    elif rate:
                        t = stats.frames / rate
                    else:
                        t = float(stats.frames)
                    start = t if start is None else start
                    stats.frames += 1
                    yield Frame(t - start, decoded=fr)          # RGB on first access of .rgb
        except av.error.FFmpegError as e:
            if stats.frames == 0:
                raise VideoError(f"cannot decode video {path}: {_one_line(e)}") from None
            stats.corrupt += 1
    if stats.frames == 0:
        raise VideoError(f"no decodable frame in {path}")


def probe_video(path: str | Path) -> Frame:
    """Decode the first frame (fail fast, before a model is loaded). Raises VideoError."""
    for frame in iter_video_frames(path):
        return frame
    raise VideoError(f"no decodable frame in {path}")   # unreachable: iter_video_frames raises first


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__


class FrameClock:
    """Resample a stream to `fps` by capture time (not by index), without look-ahead, on a fixed grid.

    Slot k of the grid is [k/fps, (k+1)/fps) of capture time (slot = floor(t·fps + ε)); the model takes the first
    frame of each slot after the last one taken. The grid does not depend on the first frame seen, so a consumer
    that missed the first frames (a ROS node that joined a bag late, or restarted) takes the same frames as a
    replay of the whole stream from there on. Frames whose time goes backwards are rejected and counted in
    `out_of_order`; `reset()` forgets the last slot (e.g. after a bag loop). Gaps are never filled with duplicates.
    `t0` is the capture time of the first frame taken (since the last reset), `first_slot` its slot.
    """

    EPS = 1e-6

    def __init__(self, fps: float):
        if fps <= 0:
            raise ValueError(f"fps must be > 0, got {fps}")
        self.fps = float(fps)
        self.reset()

    def reset(self) -> None:
        self.t0: float | None = None
        self.first_slot: int | None = None
        self.last_slot: int | None = None
        self.last_t = -math.inf
        self.out_of_order = 0

    def slot(self, t: float) -> int:
        """The grid slot of capture time t."""
        return math.floor(t * self.fps + self.EPS)

    def would_accept(self, t: float) -> bool:
        """What `accept(t)` would say, without changing the clock (check before decoding a frame)."""
        if self.last_slot is None:
            return True
        return t >= self.last_t and self.slot(t) > self.last_slot

    def accept(self, t: float) -> bool:
        if self.last_slot is None:
            self.t0, self.last_t = t, t
            self.first_slot = self.last_slot = self.slot(t)
            return True
        if t < self.last_t:
            self.out_of_order += 1
            return False
        slot = self.slot(t)
        if slot <= self.last_slot:
            return False
        self.last_slot, self.last_t = slot, t
        return True


class FrameError(ValueError):
    """This frame cannot become model pixels (wrong shape or dtype, no pixels): a corrupt frame, counted and skipped.

    Only this counts as a corrupt frame; a failure of the model itself (CUDA out of memory, a kernel error) is not
    one and surfaces as an engine error (engine/pipeline.py)."""


def letterbox_geometry(height: int, width: int, size: int = 384) -> tuple[int, int, int, int]:
    """(new_h, new_w, top, left) of the ffmpeg-style letterbox."""
    if height <= 0 or width <= 0:
        raise FrameError(f"frame has no pixels ({height}x{width})")
    if width > height:
        new_w, new_h = size, max(2, 2 * round(height * size / (2 * width)))
    else:
        new_h, new_w = size, max(2, 2 * round(width * size / (2 * height)))
    top = ((size - new_h) // 2) & ~1
    left = ((size - new_w) // 2) & ~1
    return new_h, new_w, top, left


def letterbox(rgb: np.ndarray | torch.Tensor, size: int = 384) -> torch.Tensor:
    """[H, W, 3] uint8 → [3, size, size] uint8 letterboxed (bicubic, antialiased)."""
    x = torch.as_tensor(rgb)
    if x.ndim != 3 or x.shape[2] != 3 or x.dtype != torch.uint8:
        raise FrameError(f"expected an RGB uint8 frame [H, W, 3], got {tuple(x.shape)} {x.dtype}")
    h, w = x.shape[:2]
    new_h, new_w, top, left = letterbox_geometry(h, w, size)
    chw = x.permute(2, 0, 1).unsqueeze(0).float()
    if (new_h, new_w) != (h, w):
        chw = F.interpolate(chw, size=(new_h, new_w), mode="bicubic", align_corners=False, antialias=True)
    out = torch.zeros(3, size, size, dtype=torch.uint8)
    out[:, top:top + new_h, left:left + new_w] = chw[0].round().clamp(0, 255).to(torch.uint8)
    return out


def to_pixels(frames: Sequence[torch.Tensor]) -> torch.Tensor:
    """List of [3, S, S] uint8 → [B, 3, S, S] float32 in [−1, 1] (x/127.5 − 1)."""
    if not frames:
        raise ValueError("no frames to normalise")
    return torch.stack(list(frames)).float().div_(127.5).sub_(1.0)
