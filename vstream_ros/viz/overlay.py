"""The overlay: the frame the model saw with the current utterance, a P(silent) bar and memory occupancy drawn on it.

    render_overlay(frame, state[, size])      RGB uint8 in → RGB uint8 out (pure function, any thread)
    OverlayTracker(emit)                      engine events + frames → emit(t, frame, OverlayState) per decision
    OverlayWorker(on_image)                   a drawing thread with a bounded queue that drops the oldest pending job

Layout (`overlay_layout`): a header band at the top (capture time, P(silent), threshold, memory used/capacity with
a thin occupancy line), the P(silent) bar on a strip at the right edge (filled from the bottom in proportion to
P(silent), a white marker at the threshold; orange when the frame decided "respond"), and the utterance text
wrapped over a darkened band at the bottom (only when there is text). Every other pixel is the input frame.

Imports numpy, PIL and the stdlib only; never rclpy, torch or the engine (the caller letterboxes with the engine's
own function when it has it; `letterbox_rgb` is the same geometry in PIL for callers without torch).
"""
from __future__ import annotations

import collections
import contextlib
import functools
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

SILENT_RGB, RESPOND_RGB, TRACK_RGB, MARK_RGB = (70, 150, 255), (255, 140, 0), (40, 40, 40), (255, 255, 255)
TEXT_RGB, MEMORY_RGB = (255, 255, 255), (120, 220, 120)
DARKEN = 0.35                    # background under text keeps this fraction of the frame's brightness


@dataclass(frozen=True)
class OverlayState:
    """What is drawn over one model frame (`decision` None: a query skipped the frame's decision)."""

    t: float
    p_silent: float | None
    threshold: float
    text: str = ""
    memory_used: int | None = None
    memory_capacity: int | None = None
    decision: str | None = None


Box = tuple[int, int, int, int]          # left, top, right, bottom (right/bottom exclusive)


@dataclass(frozen=True)
class Layout:
    header: Box                  # status line band
    strip: Box                   # the right-edge strip holding the bar and the threshold marker
    track: Box                   # the bar's track inside the strip (fill grows from track bottom)
    text: Box | None             # the utterance band (None without text)
    lines: tuple[str, ...]       # the wrapped utterance lines drawn in `text`
    body_font: int
    header_font: int


@functools.lru_cache(maxsize=16)
def font(size: int):
    """PIL's bundled default font at `size` px (Pillow ≥ 10.1 with FreeType), else its fixed bitmap font."""
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError, ImportError):
        return ImageFont.load_default()


def _line_height(f) -> int:
    return int(f.getbbox("Ag|")[3]) + 2


def wrap_text(text: str, f, width: int) -> list[str]:
    """Greedy word wrap to `width` px (explicit newlines kept; a word longer than the width is split)."""
    out: list[str] = []
    for para in text.split("\n"):
        line = ""
        for word in para.split():
            cand = f"{line} {word}" if line else word
            if f.getlength(cand) <= width:
                line = cand
                continue
            if line:
                out.append(line)
            while f.getlength(word) > width and len(word) > 1:
                cut = max(1, max(i for i in range(1, len(word) + 1) if f.getlength(word[:i]) <= width or i == 1))
                out.append(word[:cut])
                word = word[cut:]
            line = word
        out.append(line)
    while out and not out[-1]:
        out.pop()
    return out


def overlay_layout(height: int, width: int, state: OverlayState) -> Layout:
    """Where everything goes on a height × width frame (pure geometry; render_overlay draws exactly this)."""
    margin = max(2, width // 96)
    bar_w = max(6, width // 24)
    strip = (width - bar_w - 2 * margin, 0, width, height)
    track = (width - bar_w - margin, margin, width - margin, height - margin)
    header_font, body_font = max(9, height // 32), max(10, height // 24)
    header = (0, 0, strip[0], _line_height(font(header_font)) + 2 * margin + 3)
    text_box, lines = None, ()
    if state.text.strip():
        f = font(body_font)
        lh = _line_height(f)
        wrapped = wrap_text(state.text.strip(), f, max(8, strip[0] - 2 * margin))
        max_lines = max(1, int(0.4 * height) // lh)
        if len(wrapped) > max_lines:                      # the newest text matters most: keep the end
            wrapped = wrapped[-max_lines:]
            wrapped[0] = "…" + wrapped[0]
        lines = tuple(wrapped)
        top = max(header[3], height - len(lines) * lh - 2 * margin)
        text_box = (0, top, strip[0], height)
    return Layout(header, strip, track, text_box, lines, body_font, header_font)


def bar_fill_rows(track: Box, p_silent: float | None) -> int:
    """Rows of the track filled for P(silent) (0 when unknown)."""
    if p_silent is None or p_silent != p_silent:
        return 0
    return int(round(min(1.0, max(0.0, float(p_silent))) * (track[3] - track[1])))


def threshold_row(track: Box, threshold: float) -> int:
    """The row of the threshold marker's top line (the marker is 2 px tall)."""
    t = min(1.0, max(0.0, float(threshold)))
    return min(track[3] - 2, max(track[1], track[3] - int(round(t * (track[3] - track[1]))) - 1))


def letterbox_rgb(frame: np.ndarray, size: int) -> np.ndarray:
    """[H, W, 3] uint8 → [size, size, 3] uint8 with the engine's letterbox geometry (engine/frames.py), resized with
    PIL's antialiased bicubic; for callers without torch. The node and `vstream run` use the engine's own function."""
    h, w = frame.shape[:2]
    if w > h:
        new_w, new_h = size, max(2, 2 * round(h * size / (2 * w)))
    else:
        new_h, new_w = size, max(2, 2 * round(w * size / (2 * h)))
    top, left = ((size - new_h) // 2) & ~1, ((size - new_w) // 2) & ~1
    out = np.zeros((size, size, 3), dtype=np.uint8)
    img = Image.fromarray(frame)
    if (new_h, new_w) != (h, w):
        img = img.resize((new_w, new_h), Image.BICUBIC)
    out[top:top + new_h, left:left + new_w] = np.asarray(img)
    return out


def _check(frame) -> np.ndarray:
    a = np.asarray(frame)
    if a.ndim != 3 or a.shape[2] != 3 or a.dtype != np.uint8 or a.shape[0] < 8 or a.shape[1] < 8:
        raise ValueError(f"expected an RGB uint8 frame [H>=8, W>=8, 3], got {a.shape} {a.dtype}")
    return a


def _darken(a: np.ndarray, box: Box) -> None:
    x0, y0, x1, y1 = box
    a[y0:y1, x0:x1] = (a[y0:y1, x0:x1].astype(np.float32) * DARKEN).astype(np.uint8)


def status_line(state: OverlayState) -> str:
    p = "–" if state.p_silent is None or state.p_silent != state.p_silent else f"{state.p_silent:.2f}"
    parts = [f"{state.t:.2f}s", f"P(silent) {p} / {state.threshold:.2f}"]
    if state.decision:
        parts.append(state.decision)
    if state.memory_used is not None:
        parts.append(f"mem {state.memory_used}" + (f"/{state.memory_capacity}" if state.memory_capacity else ""))
    return "  ".join(parts)


def render_overlay(frame: np.ndarray, state: OverlayState, size: int | None = None) -> np.ndarray:
    """The overlay image: RGB uint8 [H, W, 3] in (letterboxed to size × size first when `size` is given and the
    frame is not already that size), a new RGB uint8 array out. ValueError for a frame that is not RGB uint8."""
    a = _check(frame)
    if size is not None and a.shape[:2] != (size, size):
        a = letterbox_rgb(a, size)
    a = np.array(a, dtype=np.uint8, copy=True)
    h, w = a.shape[:2]
    lay = overlay_layout(h, w, state)
    _darken(a, lay.header)
    _darken(a, lay.strip)
    if lay.text is not None:
        _darken(a, lay.text)
    x0, y0, x1, y1 = lay.track
    a[y0:y1, x0:x1] = TRACK_RGB
    fill = bar_fill_rows(lay.track, state.p_silent)
    if fill:
        a[y1 - fill:y1, x0:x1] = RESPOND_RGB if state.decision == "respond" else SILENT_RGB
    ty = threshold_row(lay.track, state.threshold)
    a[ty:ty + 2, lay.strip[0] + 1:x1] = MARK_RGB
    if state.memory_used is not None and state.memory_capacity:            # occupancy line under the status text
        frac = min(1.0, max(0.0, state.memory_used / state.memory_capacity))
        hx0, hx1, hy = lay.header[0] + 2, lay.header[2] - 2, lay.header[3] - 3
        a[hy:hy + 2, hx0:hx1] = TRACK_RGB
        a[hy:hy + 2, hx0:hx0 + int(round(frac * (hx1 - hx0)))] = MEMORY_RGB
    img = Image.fromarray(a)
    draw = ImageDraw.Draw(img)
    margin = max(2, w // 96)
    draw.text((lay.header[0] + margin, lay.header[1] + margin), status_line(state), fill=TEXT_RGB,
              font=font(lay.header_font))
    if lay.text is not None:
        f = font(lay.body_font)
        lh = _line_height(f)
        for i, line in enumerate(lay.lines):
            draw.text((lay.text[0] + margin, lay.text[1] + margin + i * lh), line, fill=TEXT_RGB, font=f)
    return np.asarray(img, dtype=np.uint8).copy()


# ---------------------------------------------------------------------------------------------------------- tracker
class OverlayTracker:
    """Engine events + frames → one `emit(t, frame, OverlayState)` per FrameDecision that has its frame.

    `on_frame(t, rgb)` (StreamHost's hook, submitting thread) keeps the frame until its decision arrives (at most
    `max_frames` pending, oldest forgotten first). `on_event(ev)` (every engine event, LLM thread): utterance chunks
    accumulate into the current text (a query shows as "> question" above its answer); a Response replaces it with
    the full reply, and the text is cleared `hold_s` seconds of capture time after that utterance ended. Memory
    occupancy comes from the decision's `extra["cache"]["total"]` (the bounded memory's ledger), capacity from
    `memory_capacity`. `threshold` is a number or a no-argument callable (the live threshold). Both hooks return at
    once: emit must not block (OverlayWorker.submit does not)."""

    def __init__(self, emit: Callable[[float, np.ndarray, OverlayState], None],
                 threshold: float | Callable[[], float] = 0.725, memory_capacity: int | None = None,
                 hold_s: float = 3.0, max_frames: int = 64):
        self.emit = emit
        self._threshold = threshold
        self.memory_capacity = memory_capacity
        self.hold_s, self.max_frames = float(hold_s), int(max_frames)
        self._frames: collections.OrderedDict[float, np.ndarray] = collections.OrderedDict()
        self._lock = threading.Lock()
        self.text = ""
        self._utterance = ""              # id of the utterance the text belongs to
        self._ended_at: float | None = None
        self._last_t: float | None = None
        self.missing_frames = 0           # decisions whose frame was not (or no longer) kept

    @property
    def threshold(self) -> float:
        return float(self._threshold() if callable(self._threshold) else self._threshold)

    def on_frame(self, t: float, rgb) -> None:
        with self._lock:
            self._frames[float(t)] = rgb
            while len(self._frames) > self.max_frames:
                self._frames.popitem(last=False)

    def reset(self) -> None:
        """A new stream: pending frames and the text are forgotten."""
        with self._lock:
            self._frames.clear()
            self._clear_text()
            self._last_t = None

    def _clear_text(self) -> None:
        self.text, self._utterance, self._ended_at = "", "", None

    def on_event(self, ev) -> None:
        kind = type(ev).__name__
        if kind == "FrameDecision":
            self._on_decision(ev)
            return
        with self._lock:
            if kind == "QueryEvent":
                self.text, self._utterance, self._ended_at = f"> {ev.text.strip()}\n", "", None
            elif kind == "UtteranceChunk":
                if ev.utterance_id != self._utterance:
                    question = self.text if self.text.startswith("> ") and not self._utterance else ""
                    self.text, self._utterance = question, ev.utterance_id
                self.text += ev.text
                self._ended_at = None
            elif kind == "Response":
                question = self.text.split("\n", 1)[0] + "\n" if self.text.startswith("> ") else ""
                self.text = question + ev.text if ev.trigger == "query" else ev.text
                self._utterance = ev.utterance_id or self._utterance
                self._ended_at = max(float(ev.time), self._last_t if self._last_t is not None else float(ev.time))

    def _on_decision(self, ev) -> None:
        t = float(ev.time)
        with self._lock:
            if self._last_t is not None and t < self._last_t:           # the stream restarted (loop, reset)
                self._clear_text()
            self._last_t = t
            if self._ended_at is not None and t - self._ended_at > self.hold_s:
                self._clear_text()
            frame = self._frames.pop(t, None)
            if frame is None:
                self.missing_frames += 1
                return
            while self._frames and next(iter(self._frames)) < t:      # older frames never decided (dropped)
                self._frames.popitem(last=False)
            text = self.text
        cache = ev.extra.get("cache") if isinstance(getattr(ev, "extra", None), dict) else None
        used = cache.get("total") if isinstance(cache, dict) else None
        state = OverlayState(t=t, p_silent=None if ev.p_silent is None else float(ev.p_silent),
                             threshold=self.threshold, text=text.strip(),
                             memory_used=None if used is None else int(used),
                             memory_capacity=self.memory_capacity, decision=ev.decision)
        self.emit(t, frame, state)


# ---------------------------------------------------------------------------------------------------------- worker
class OverlayWorker:
    """A daemon thread that renders submitted (t, frame, state) jobs and hands each image to `on_image(t, rgb)`.

    `submit` never waits (with the default overflow "drop"): when `capacity` jobs are already pending the oldest
    pending one is dropped and counted in `dropped`. overflow "block" waits for room instead (file runs that want
    every frame, never a live camera). `render(frame, state) -> rgb` defaults to render_overlay at `size`. A failing
    render or on_image is counted in `failed` and reported once through `log(message)`; the worker keeps going.
    `nice`: raise the drawing thread's nice value by this much (Linux: per thread), so that under CPU contention the
    model's threads run first; None leaves it."""

    def __init__(self, on_image: Callable[[float, np.ndarray], None],
                 render: Callable[[np.ndarray, OverlayState], np.ndarray] | None = None, size: int | None = None,
                 capacity: int = 2, overflow: str = "drop", log: Callable[[str], None] | None = None,
                 name: str = "overlay-draw", nice: int | None = None):
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        if overflow not in ("drop", "block"):
            raise ValueError(f"overflow must be drop or block, got {overflow!r}")
        self.on_image = on_image
        self.render = render or (lambda frame, state: render_overlay(frame, state, size))
        self.capacity, self.overflow, self.log, self.nice = capacity, overflow, log, nice
        self.submitted = self.drawn = self.dropped = self.failed = 0
        self.first_error = ""
        self._pending: collections.deque = collections.deque()
        self._cond = threading.Condition()
        self._busy = False
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, t: float, frame, state: OverlayState) -> None:
        with self._cond:
            if self._closed:
                return
            self.submitted += 1
            if self.overflow == "block":
                while len(self._pending) >= self.capacity and not self._closed:
                    self._cond.wait(0.1)
            elif len(self._pending) >= self.capacity:
                self._pending.popleft()
                self.dropped += 1
            self._pending.append((t, frame, state))
            self._cond.notify_all()

    def _run(self) -> None:
        if self.nice:
            try:                   # Linux applies a thread id's priority to that thread only
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(),
                               min(19, os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) + self.nice))
            except (AttributeError, OSError):
                pass
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._cond.wait()
                if not self._pending:
                    return
                t, frame, state = self._pending.popleft()
                self._busy = True
                self._cond.notify_all()
            try:
                image = self.render(frame, state)
                self.on_image(t, image)
                ok = True
            except Exception as e:  # noqa: BLE001 - a bad frame or a failing viewer must not stop the worker
                ok = False
                with contextlib.suppress(Exception):          # a failing log must not stop the worker either
                    self._fail(e)
            with self._cond:
                self.drawn += ok
                self._busy = False
                self._cond.notify_all()

    def _fail(self, e: BaseException) -> None:
        self.failed += 1
        if not self.first_error:
            self.first_error = " ".join(f"{type(e).__name__}: {e}".split())[:300]
            if self.log is not None:
                self.log(f"overlay render failed (counted in overlay_failed; reported once): {self.first_error}")

    def drain(self, timeout: float | None = None) -> bool:
        """Wait until every pending job is drawn (or dropped); False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._pending and not self._busy, timeout)

    def close(self, timeout: float = 5.0, drain: bool = True) -> None:
        """Stop the thread; with `drain`, the pending jobs are drawn first, else they are dropped (counted)."""
        with self._cond:
            if not drain:
                self.dropped += len(self._pending)
                self._pending.clear()
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout)

    @property
    def pending(self) -> int:
        with self._cond:
            return len(self._pending)

    def stats(self) -> dict:
        with self._cond:
            return {"overlay_submitted": self.submitted, "overlay_drawn": self.drawn,
                    "overlay_dropped": self.dropped, "overlay_failed": self.failed}


__all__ = ["OverlayState", "Layout", "overlay_layout", "render_overlay", "letterbox_rgb", "wrap_text", "bar_fill_rows",
           "threshold_row", "status_line", "OverlayTracker", "OverlayWorker"]
