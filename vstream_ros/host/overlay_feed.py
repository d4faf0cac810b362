"""OverlayFeed: a stream host's frames and events → overlay images (the frame the model saw, drawn on), off the
inference thread.

    StreamHost(observers=(feed,)): feed.on_frame (submitting thread) + feed.on_event (model worker)
        ─► viz.OverlayTracker (LLM thread: O(1) bookkeeping, one job per FrameDecision)
        ─► viz.OverlayWorker (its own thread, bounded queue, drops the oldest pending job under load)
        ─► the engine's own letterbox at the model's input size (engine/frames.py) ─► render_overlay
        ─► on_image(t, rgb)

Used by the ROS overlay topic (ros/overlay_publisher.py), `vstream run --overlay-dir` and bench/overlay_cost.py.
Imports: stdlib, numpy, vstream_ros.viz.overlay, vstream_ros.engine.frames (torch). Never rclpy, never
viz.session (which imports this module: no import cycle, test/packaging/test_import_graph.py).
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from vstream_ros.engine.frames import letterbox
from vstream_ros.viz.overlay import OverlayState, OverlayTracker, OverlayWorker, render_overlay


def model_input_size(engine) -> int:
    """The side the engine letterboxes frames to (its vision tower's input size)."""
    size = getattr(getattr(engine.model, "vision", None), "image_size", None)
    return int(size) if size else int(getattr(engine.stream, "frame_size", 384))


def model_view(frame, size: int) -> np.ndarray:
    """The [size, size, 3] uint8 frame exactly as the engine letterboxes it for the vision tower."""
    with torch.inference_mode():
        return letterbox(frame, size).permute(1, 2, 0).contiguous().numpy()


class OverlayFeed:
    """`on_image(t, rgb)` gets each rendered overlay (drawing thread). `threshold`: number or callable (the live
    one). `overflow` "drop" (live: never waits; the default) or "block" (files: every frame drawn). `max_pending`:
    frames kept (by reference) until their decision arrives; it must exceed what the pipeline may hold, or frames are
    forgotten before they are drawn (counted in overlay_missing_frames). for_engine uses 4 × max_backlog + 64: a
    file run of the demo model was measured holding 96 frames undecided at max_backlog 32 (capture and ready queues,
    the batches in flight and the frames taken while a reply is decoded)."""

    def __init__(self, on_image: Callable[[float, np.ndarray], None], size: int,
                 threshold: float | Callable[[], float] = 0.725, memory_capacity: int | None = None,
                 capacity: int = 2, overflow: str = "drop", hold_s: float = 3.0, max_pending: int = 80,
                 log: Callable[[str], None] | None = None):
        self.size = int(size)
        self._single_threaded = False
        self.worker = OverlayWorker(on_image, render=self._render, capacity=capacity, overflow=overflow, log=log,
                                    nice=19 if overflow == "drop" else None)   # live: the model's threads first
        self.tracker = OverlayTracker(self.worker.submit, threshold=threshold, memory_capacity=memory_capacity,
                                      hold_s=hold_s, max_frames=max_pending)

    @classmethod
    def for_engine(cls, engine, on_image, threshold=None, max_backlog: int = 32, **kw) -> "OverlayFeed":
        return cls(on_image, model_input_size(engine), max_pending=4 * int(max_backlog) + 64,
                   threshold=threshold if threshold is not None else engine.stream.threshold,
                   memory_capacity=engine.backend.cap_tokens, **kw)

    def _render(self, frame, state: OverlayState) -> np.ndarray:
        if not self._single_threaded:
            # torch's intra-op thread count is per calling thread (OpenMP): the drawing thread's letterbox runs on
            # one thread instead of spinning up a pool that competes with the model's (measured on 2 busy cores:
            # 62 ms → 3 ms per letterbox); the model's threads keep their setting
            torch.set_num_threads(1)
            self._single_threaded = True
        return render_overlay(model_view(frame, self.size), state)

    # StreamHost hooks (must return at once)
    def on_frame(self, t: float, rgb) -> None:
        self.tracker.on_frame(t, rgb)

    def on_event(self, ev) -> None:
        self.tracker.on_event(ev)

    def drain(self, timeout: float | None = None) -> bool:
        return self.worker.drain(timeout)

    def close(self, timeout: float = 5.0, drain: bool = True) -> None:
        self.worker.close(timeout, drain)

    def stats(self) -> dict:
        return {**self.worker.stats(), "overlay_missing_frames": self.tracker.missing_frames}


class PngDir:
    """on_image for OverlayFeed: writes each overlay as DIR/overlay-<capture time, ms>.png, atomically (a temporary
    name renamed into place, so a reader never sees a half-written file); `written` counts them."""

    def __init__(self, directory):
        from pathlib import Path  # noqa: PLC0415
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.written = 0

    def path(self, t: float):
        return self.dir / f"overlay-{max(0, int(round(t * 1000))):09d}ms.png"

    def __call__(self, t: float, rgb) -> None:
        import os  # noqa: PLC0415

        from PIL import Image  # noqa: PLC0415
        final = self.path(t)
        tmp = final.with_name(f".{final.name}.tmp")
        Image.fromarray(rgb).save(tmp, format="PNG")
        os.replace(tmp, final)
        self.written += 1
