"""The overlay renderer, tracker and drawing worker (vstream_ros/viz/overlay.py), without ROS.

Pixels are checked against the frame the model sees: a frame of the shipped demo stream letterboxed by the
engine's own function at the demo model's input size (384). Outside the documented layout boxes every pixel is the
letterboxed frame; inside the text band the utterance is drawn; the P(silent) bar's height follows P(silent) and
the threshold marker sits at the threshold. The worker is exercised with an Event-gated renderer (no timing).
"""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from vstream_ros.viz.overlay import (MARK_RGB, RESPOND_RGB, SILENT_RGB, OverlayState, OverlayTracker, OverlayWorker,
                                     letterbox_rgb, overlay_layout, render_overlay, wrap_text, font)

STREAM = Path(__file__).resolve().parents[2] / "models" / "demo" / "streams" / "world_000.mp4"
TEXT = "You pick up the red cube and put it on the blue plate, next to the small green cone."


@pytest.fixture(scope="module")
def seen():
    """(source frame, the 384 × 384 frame the demo model saw)."""
    torch = pytest.importorskip("torch")
    from vstream_ros.engine.frames import iter_video_frames, letterbox
    for i, fr in enumerate(iter_video_frames(STREAM)):
        if i == 5:
            break
    with torch.no_grad():
        return fr.rgb, letterbox(fr.rgb, 384).permute(1, 2, 0).numpy().copy()


def _outside(lay, h, w):
    mask = np.ones((h, w), dtype=bool)
    for box in (lay.header, lay.strip, lay.text):
        if box is not None:
            x0, y0, x1, y1 = box
            mask[y0:y1, x0:x1] = False
    return mask


def test_text_band_differs_and_the_rest_is_the_letterboxed_frame(seen):
    _, lb = seen
    state = OverlayState(t=2.5, p_silent=0.4, threshold=0.725, text=TEXT, memory_used=900, memory_capacity=6144,
                         decision="respond")
    out = render_overlay(lb, state)
    assert out.shape == lb.shape and out.dtype == np.uint8
    lay = overlay_layout(384, 384, state)
    x0, y0, x1, y1 = lay.text
    assert (x0, y1) == (0, 384) and x1 == lay.strip[0] and y0 > lay.header[3]      # a band at the bottom
    assert len(lay.lines) >= 2                                                     # wrapped to the width
    outside = _outside(lay, 384, 384)
    assert outside.mean() > 0.6
    np.testing.assert_array_equal(out[outside], lb[outside])
    band, src = out[y0:y1, x0:x1].astype(int), lb[y0:y1, x0:x1].astype(int)
    lit = src.sum(-1) > 30                                                         # picture, not the black pad
    assert lit.any() and (band.sum(-1) < src.sum(-1))[lit].mean() > 0.7             # darkened (or written on)
    glyphs = (band.min(-1) > 200).sum()
    assert glyphs > 200                                                            # white text is there
    # without text the band is untouched
    plain = render_overlay(lb, OverlayState(t=2.5, p_silent=0.4, threshold=0.725))
    np.testing.assert_array_equal(plain[y0:y1, x0:x1], lb[y0:y1, x0:x1])


def test_text_lines_follow_the_text_and_fit_the_width(seen):
    _, lb = seen
    a = render_overlay(lb, OverlayState(t=0, p_silent=0.9, threshold=0.7, text="Short."))
    b = render_overlay(lb, OverlayState(t=0, p_silent=0.9, threshold=0.7, text="Other words here."))
    lay = overlay_layout(384, 384, OverlayState(t=0, p_silent=0.9, threshold=0.7, text="Short."))
    x0, y0, x1, y1 = lay.text
    assert not np.array_equal(a[y0:y1, x0:x1], b[y0:y1, x0:x1])
    f = font(lay.body_font)
    long = OverlayState(t=0, p_silent=0.9, threshold=0.7, text=" ".join(["word"] * 400))
    lay = overlay_layout(384, 384, long)
    assert lay.lines[0].startswith("…") and lay.text[1] >= lay.header[3]          # newest lines kept, bounded
    assert all(f.getlength(line) <= lay.strip[0] for line in lay.lines)
    assert wrap_text("a " + "x" * 300, f, 100)[0] == "a"                          # an over-long word is split
    assert max(f.getlength(s) for s in wrap_text("x" * 300, f, 100)) <= 100


def _fill_rows(out, lay, colour):
    col = out[lay.track[1]:lay.track[3], (lay.track[0] + lay.track[2]) // 2]
    return int((col == colour).all(-1).sum())


def test_bar_height_is_proportional_to_p_silent(seen):
    _, lb = seen
    lo, hi = (OverlayState(t=0, p_silent=p, threshold=1.0, decision="silent") for p in (0.25, 0.75))
    lay = overlay_layout(384, 384, lo)
    track_h = lay.track[3] - lay.track[1]
    n_lo, n_hi = _fill_rows(render_overlay(lb, lo), lay, SILENT_RGB), _fill_rows(render_overlay(lb, hi), lay, SILENT_RGB)
    assert n_lo == round(0.25 * track_h) and n_hi == round(0.75 * track_h)
    assert n_hi == pytest.approx(3 * n_lo, abs=1)
    # filled from the bottom of the track
    out = render_overlay(lb, hi)
    cx = (lay.track[0] + lay.track[2]) // 2
    assert (out[lay.track[3] - 1, cx] == SILENT_RGB).all() and not (out[lay.track[1], cx] == SILENT_RGB).all()
    # a "respond" frame is drawn in the respond colour
    red = render_overlay(lb, OverlayState(t=0, p_silent=0.25, threshold=1.0, decision="respond"))
    assert _fill_rows(red, lay, RESPOND_RGB) == n_lo and _fill_rows(red, lay, SILENT_RGB) == 0


def _marker_rows(out, lay):
    x = lay.strip[0] + 2                                          # left of the track: only the marker is white there
    return np.flatnonzero((out[:, x] == MARK_RGB).all(-1))


def test_threshold_marker_position(seen):
    _, lb = seen
    lay = overlay_layout(384, 384, OverlayState(t=0, p_silent=0.5, threshold=0.5))
    track_h = lay.track[3] - lay.track[1]
    rows = {}
    for th in (0.2, 0.725):
        r = _marker_rows(render_overlay(lb, OverlayState(t=0, p_silent=0.5, threshold=th)), lay)
        assert len(r) == 2 and r[1] == r[0] + 1
        assert r[1] == lay.track[3] - round(th * track_h)                       # the marker's lower row
        rows[th] = r[0]
    assert rows[0.2] - rows[0.725] == round(0.725 * track_h) - round(0.2 * track_h)


def test_memory_line_and_status(seen):
    _, lb = seen
    lay = overlay_layout(384, 384, OverlayState(t=0, p_silent=0.5, threshold=0.5))
    hy = lay.header[3] - 3

    def green(used):
        out = render_overlay(lb, OverlayState(t=0, p_silent=0.5, threshold=0.5, memory_used=used, memory_capacity=1000))
        return int((out[hy] == (120, 220, 120)).all(-1).sum())
    assert green(0) == 0 and green(1000) == lay.header[2] - 4
    assert green(500) == pytest.approx((lay.header[2] - 4) / 2, abs=1)
    a = render_overlay(lb, OverlayState(t=1.0, p_silent=0.5, threshold=0.5))
    b = render_overlay(lb, OverlayState(t=1.0, p_silent=0.5, threshold=0.5, memory_used=4321))
    assert not np.array_equal(a[:lay.header[3]], b[:lay.header[3]])               # the status line says it


def test_size_letterboxes_like_the_engine(seen):
    src, lb = seen
    from vstream_ros.engine.frames import letterbox_geometry
    for h, w in ((480, 640), (640, 480), (97, 203), (300, 300)):
        frame = np.random.default_rng(h).integers(0, 256, (h, w, 3), dtype=np.uint8)
        nh, nw, top, left = letterbox_geometry(h, w, 96)
        got = letterbox_rgb(frame, 96)
        assert got.shape == (96, 96, 3)
        inside = np.zeros((96, 96), bool)
        inside[top:top + nh, left:left + nw] = True
        assert not got[~inside].any() and got[inside].any()
    mine = letterbox_rgb(src, 384).astype(int)
    assert np.abs(mine - lb.astype(int)).mean() < 3.0                              # same picture as the engine's
    out = render_overlay(src, OverlayState(t=0, p_silent=0.5, threshold=0.5), size=384)
    assert out.shape == (384, 384, 3)


def test_bad_frames_are_refused():
    for bad in (np.zeros((10, 10), np.uint8), np.zeros((10, 10, 3), np.float32), np.zeros((2, 2, 3), np.uint8)):
        with pytest.raises(ValueError):
            render_overlay(bad, OverlayState(t=0, p_silent=0.5, threshold=0.5))


# ------------------------------------------------------------------------------------------------------- tracker
def _events():
    from vstream_ros.engine.events import FrameDecision, QueryEvent, Response, UtteranceChunk
    return FrameDecision, QueryEvent, Response, UtteranceChunk


def test_tracker_accumulates_chunks_and_clears_after_hold():
    FrameDecision, QueryEvent, Response, UtteranceChunk = _events()
    got = []
    tr = OverlayTracker(lambda t, f, s: got.append((t, f, s)), threshold=0.7, memory_capacity=6144, hold_s=1.0)
    frames = {t: np.full((8, 8, 3), int(t * 10), np.uint8) for t in (0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0)}
    for t, f in frames.items():
        tr.on_frame(t, f)
    tr.on_event(FrameDecision(0, 0.0, 0.3, "respond", {"cache": {"total": 120}}))
    tr.on_event(UtteranceChunk("u-1", 0, 0.0, 0, "proactive", " You pick", False))
    tr.on_event(FrameDecision(1, 0.5, 0.9, "silent", {"cache": {"total": 131}}))
    tr.on_event(UtteranceChunk("u-1", 1, 0.0, 0, "proactive", " up the cube.", True))
    tr.on_event(Response(0.0, 0, "proactive", " You pick up the cube.", (1, 2), utterance_id="u-1"))
    tr.on_event(FrameDecision(2, 1.0, 0.9, "silent"))
    tr.on_event(FrameDecision(3, 1.5, 0.9, "silent"))         # 1.0 s after the utterance ended (at 0.5): held
    tr.on_event(FrameDecision(4, 2.0, 0.9, "silent"))         # 1.5 s after: cleared
    tr.on_event(QueryEvent(2.2, "What is it?"))
    tr.on_event(FrameDecision(5, 2.5, None, None))
    tr.on_event(UtteranceChunk("u-2", 0, 2.2, 5, "query", " A cube.", True))
    tr.on_event(FrameDecision(6, 3.0, 0.8, "silent"))
    texts = [s.text for _, _, s in got]
    assert texts == ["", "You pick", "You pick up the cube.", "You pick up the cube.", "",
                     "> What is it?", "> What is it?\n A cube."]
    assert [t for t, _, _ in got] == sorted(frames)
    assert all(f is frames[t] for t, f, _ in got)                                  # the very frame seen
    first = got[0][2]
    assert (first.memory_used, first.memory_capacity, first.decision, first.threshold) == (120, 6144, "respond", 0.7)
    assert got[2][2].memory_used is None and got[5][2].p_silent is None


def test_tracker_bounds_pending_frames_and_counts_missing():
    FrameDecision = _events()[0]
    got = []
    live = {"th": 0.5}
    tr = OverlayTracker(lambda t, f, s: got.append(s), threshold=lambda: live["th"], max_frames=3)
    for i in range(5):
        tr.on_frame(float(i), np.zeros((8, 8, 3), np.uint8))
    tr.on_event(FrameDecision(0, 0.0, 0.5, "silent"))                              # evicted: not drawn
    live["th"] = 0.9
    tr.on_event(FrameDecision(3, 3.0, 0.5, "silent"))
    assert tr.missing_frames == 1 and [s.t for s in got] == [3.0] and got[0].threshold == 0.9
    tr.on_event(FrameDecision(2, 2.0, 0.5, "silent"))                              # older than 3.0: forgotten
    assert tr.missing_frames == 2 and len(tr._frames) == 1


# ------------------------------------------------------------------------------------------------------- worker
class GatedRender:
    """Holds every render until `gate` is set; `started` is set when the first render begins."""

    def __init__(self):
        self.gate, self.started, self.seen = threading.Event(), threading.Event(), []

    def __call__(self, frame, state):
        self.started.set()
        assert self.gate.wait(30)
        self.seen.append(state.t)
        return frame


def test_worker_drops_oldest_and_never_blocks():
    render, images = GatedRender(), []
    w = OverlayWorker(lambda t, img: images.append(t), render=render, capacity=2)
    try:
        w.submit(0.0, np.zeros((8, 8, 3), np.uint8), OverlayState(t=0.0, p_silent=0.5, threshold=0.5))
        assert render.started.wait(30)                                             # job 0 is being drawn, held
        for i in range(1, 6):                                                      # the renderer is blocked: these
            w.submit(float(i), np.zeros((8, 8, 3), np.uint8), OverlayState(t=i, p_silent=0.5, threshold=0.5))
        assert w.pending == 2 and w.dropped == 3 and w.drawn == 0                  # returned without waiting
        render.gate.set()
        assert w.drain(30)
    finally:
        render.gate.set()
        w.close()
    assert images == [0.0, 4.0, 5.0] and w.drawn == 3
    assert w.stats() == {"overlay_submitted": 6, "overlay_drawn": 3, "overlay_dropped": 3, "overlay_failed": 0}


def test_worker_block_mode_keeps_every_job():
    render, images = GatedRender(), []
    w = OverlayWorker(lambda t, img: images.append(t), render=render, capacity=1, overflow="block")
    feeder = threading.Thread(target=lambda: [w.submit(float(i), np.zeros((8, 8, 3), np.uint8),
                                                       OverlayState(t=i, p_silent=0.5, threshold=0.5))
                                              for i in range(5)])
    feeder.start()
    assert render.started.wait(30)
    render.gate.set()
    feeder.join(30)
    assert w.drain(30)
    w.close()
    assert images == [0.0, 1.0, 2.0, 3.0, 4.0] and w.dropped == 0


def test_worker_counts_failures_logs_once_and_keeps_going():
    logs, images = [], []

    def render(frame, state):
        return render_overlay(frame, state)
    w = OverlayWorker(lambda t, img: images.append(img.shape), render=render, log=logs.append, overflow="block")
    ok = np.zeros((16, 16, 3), np.uint8)
    for i, f in enumerate([np.zeros((4, 4), np.uint8), ok, np.zeros((16, 16, 3), np.float64), ok]):
        w.submit(float(i), f, OverlayState(t=i, p_silent=0.5, threshold=0.5))
    assert w.drain(30)
    w.close()
    assert (w.failed, w.drawn) == (2, 2) and images == [(16, 16, 3)] * 2
    assert len(logs) == 1 and "ValueError" in logs[0]


@pytest.mark.skipif(not hasattr(__import__("os"), "getpriority"), reason="no per-thread priorities here")
def test_worker_nice_lowers_only_the_drawing_threads_priority():
    import os
    base = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    render = GatedRender()
    w = OverlayWorker(lambda t, img: None, render=render, nice=5)
    try:
        w.submit(0.0, np.zeros((8, 8, 3), np.uint8), OverlayState(t=0.0, p_silent=0.5, threshold=0.5))
        assert render.started.wait(30)                               # the thread has set its priority by now
        assert os.getpriority(os.PRIO_PROCESS, w._thread.native_id) == min(19, base + 5)
        assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == base     # this thread unchanged
    finally:
        render.gate.set()
        w.close()


def test_viz_never_imports_ros_and_torch_only_lazily():
    """vstream_ros/viz: the renderer needs numpy + PIL only; the Foxglove modules add the SDK (the optional [viz]
    extra) and ROS-free helpers of this package; never rclpy, and torch/the engine only inside functions (the one
    place: the overlay feed of a loaded engine)."""
    import ast
    import sys as _sys
    base = {"numpy", "PIL", "__future__"} | set(_sys.stdlib_module_names)
    allowed = {"overlay.py": base, "jpeg.py": base, "options.py": base, "__init__.py": base}
    extra = base | {"foxglove", "mcap", "vstream_ros"}
    for path in (Path(__file__).resolve().parents[2] / "vstream_ros" / "viz").glob("*.py"):
        tree = ast.parse(path.read_text())
        assert ast.get_docstring(tree), f"{path.name} needs a module docstring"
        top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
        names = {a.name for n in top if isinstance(n, ast.Import) for a in n.names}
        names |= {n.module for n in top if isinstance(n, ast.ImportFrom) and n.module and not n.level}
        bad = {m for m in names if m.split(".")[0] not in allowed.get(path.name, extra)
               or m.startswith(("vstream_ros.engine", "vstream_ros.host", "vstream_ros.ros"))}
        assert not bad, f"{path.name} imports {sorted(bad)} at module level"
        every = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        every |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        assert not any(m.split(".")[0] in ("rclpy", "torch") or m.startswith("vstream_ros.ros") for m in every), \
            path.name
