"""VizSession: the one object `vstream run` / `vstream replay` call for `--foxglove` and `--mcap`.

    viz = start_viz(plan, engine, command)      after the model loaded; with --foxglove-wait: returns once a client
                                                subscribed. A plan that asks for nothing gives a session that does
                                                nothing (viz.on_frame is None then, so the host skips the hook).
    StreamHost(..., observers=(viz,))           a host.stream_host.HostObserver:
      viz.on_frame(t, rgb)                        each frame the model will decide on → /vstream/camera (JPEG, in the
                                                submitting thread) and the overlay tracker
      viz.on_event(ev)                            every engine event (model worker) → narration chunks, log, P(silent),
                                                decisions, memory; each decision's frame → the overlay worker
    viz.close(ok)                                drains the overlay worker, finishes the MCAP (FILE, or FILE.partial
                                                when not ok), stops the server; prints where the recording went.
                                                Frames and events arriving once close() began are dropped (Ctrl-C
                                                while the pipeline still runs): no write on a closed channel

The overlay is drawn by OverlayWorker (vstream_ros/viz/overlay.py; fed through host/overlay_feed.py when an engine
is at hand, on the frame as the engine letterboxes it) on its own thread, never on the inference thread.
When an MCAP is recorded the worker blocks at 8 pending frames instead of dropping (a file run's recording holds one
overlay per decision); live-only it drops the oldest pending frame. The live view and the recording use two SDK
contexts with the same channels (viz/channels.py): the recording gets everything, the live view what clients
subscribe to.

Imports: stdlib, vstream_ros.viz.* (foxglove, numpy, PIL, cv2: lazily); start_viz also host.overlay_feed (torch,
lazily: the engine is loaded by then). Never ROS.
"""
from __future__ import annotations

import sys
import threading
from collections.abc import Callable

from vstream_ros.viz.options import VizPlan

OVERLAY_BACKLOG = 8


def _say(message: str) -> None:
    print(f"vstream: {message}", file=sys.stderr, flush=True)


class VizSession:
    """Fan-out of one run's frames and events to the live view and/or the MCAP recording (see the module docstring)."""

    def __init__(self, plan: VizPlan, threshold: float, capacity: int | None = None, metadata: dict | None = None,
                 say: Callable[[str], None] = _say, make_overlay: Callable | None = None):
        self.plan, self.threshold, self.capacity, self.say = plan, float(threshold), capacity, say
        self.channels: list = []
        self.server = self.recording = None
        self.on_frame = None
        self.overlay = None
        self.counts: dict[str, int] = {}
        self._closed = False
        self._channels_open = True            # guarded by _chan_lock: no channel write after close() closed them
        self._chan_lock = threading.Lock()
        if not plan.wanted:
            return
        import foxglove  # noqa: PLC0415 - the [viz] extra; checked by options.check_viz before the model loaded

        from vstream_ros.viz.channels import VizChannels  # noqa: PLC0415
        try:
            if plan.mcap is not None:
                from vstream_ros.viz.mcap_file import AtomicMcap  # noqa: PLC0415
                ctx = foxglove.Context()
                self.channels.append(VizChannels(ctx))
                self.recording = AtomicMcap(plan.mcap, ctx, metadata)
            if plan.live:
                from vstream_ros.viz.foxglove_live import LiveServer  # noqa: PLC0415
                ctx = foxglove.Context()
                self.live_channels = VizChannels(ctx)
                self.channels.append(self.live_channels)
                self.server = LiveServer(ctx, plan.host, plan.port)
        except BaseException:
            self.close(False, quiet=True)
            raise
        overflow = "block" if plan.mcap is not None else "drop"
        kw = dict(overflow=overflow, capacity=OVERLAY_BACKLOG if overflow == "block" else 2,
                  log=lambda m: say(f"Foxglove: {m}"))
        self.overlay = (make_overlay or self._plain_overlay)(self._overlay_image, **kw)
        self.on_frame = self._on_frame
        if self.server is not None:
            say(f"Foxglove live view on {self.server.url} (in Foxglove: Open connection → Foxglove WebSocket → "
                f"{self.server.url}; panels: import docs/foxglove-layout.json)")

    def _plain_overlay(self, on_image, overflow: str, capacity: int, log):
        """The overlay drawn on the frame as it came (no engine at hand); start_viz uses the engine's view."""
        from vstream_ros.viz.overlay import OverlayTracker, OverlayWorker  # noqa: PLC0415
        worker = OverlayWorker(on_image, capacity=capacity, overflow=overflow, log=log)
        tracker = OverlayTracker(worker.submit, threshold=self.threshold, memory_capacity=self.capacity)
        tracker.close = worker.close
        return tracker

    # ------------------------------------------------------------------ inputs
    def wait_for_client(self) -> None:
        if self.server is not None:
            self.say(f"waiting for a Foxglove client to subscribe on {self.server.url} (--foxglove-wait) …")
            self.server.wait_for_client(self.live_channels.all())

    def _on_frame(self, t: float, rgb) -> None:
        from vstream_ros.viz.channels import CAMERA  # noqa: PLC0415
        from vstream_ros.viz.jpeg import encode_jpeg  # noqa: PLC0415
        if self._closed:                      # Ctrl-C: frames still in flight after close() began are not logged
            return
        jpeg = encode_jpeg(rgb)
        with self._chan_lock:
            if not self._channels_open:
                return
            for ch in self.channels:
                ch.image(CAMERA, t, jpeg)
            self._count(CAMERA)
        self.overlay.on_frame(t, rgb)

    def on_event(self, ev) -> None:
        if self.overlay is None or self._closed:
            return
        from vstream_ros.viz.channels import LOG, event_messages  # noqa: PLC0415
        self.overlay.on_event(ev)
        with self._chan_lock:
            if not self._channels_open:
                return
            for topic, t, msg in event_messages(ev, self.threshold, self.capacity):
                for ch in self.channels:
                    if topic == LOG:
                        ch.text(t, *msg)
                    else:
                        ch.record(topic, t, msg)
                self._count(topic)

    def _overlay_image(self, t: float, rgb) -> None:
        from vstream_ros.viz.channels import OVERLAY  # noqa: PLC0415
        from vstream_ros.viz.jpeg import encode_jpeg  # noqa: PLC0415
        jpeg = encode_jpeg(rgb)
        with self._chan_lock:                 # the overlay drains during close(): written until channels close
            if not self._channels_open:
                return
            for ch in self.channels:
                ch.image(OVERLAY, t, jpeg)
            self._count(OVERLAY)

    def _count(self, topic: str) -> None:
        self.counts[topic] = self.counts.get(topic, 0) + 1

    # ------------------------------------------------------------------ end
    def close(self, ok: bool = True, quiet: bool = False):
        """Drain the overlay, close the channels, finish the recording (FILE, or FILE.partial when not ok), stop the
        server. Returns the recording's path (None without --mcap). Idempotent."""
        if self._closed:
            return self.recording.final if self.recording is not None else None
        self._closed = True
        path = None
        try:
            if self.overlay is not None:
                self.overlay.close(timeout=60.0, drain=True)
            with self._chan_lock:
                self._channels_open = False
                for ch in self.channels:
                    ch.close()
            if self.recording is not None:
                path = self.recording.close(ok)
                if not quiet:
                    state = "" if ok else " (run interrupted: complete up to there)"
                    self.say(f"Foxglove recording{state}: {path} ({sum(self.counts.values())} messages)")
        finally:
            if self.server is not None:
                self.server.stop()
        return path


def start_viz(plan: VizPlan, engine, command: str = "", max_backlog: int | None = None) -> VizSession:
    """The session for `plan` once the engine is loaded (threshold and memory cap from it; the overlay drawn on the
    frame as the engine letterboxes it, host/overlay_feed.py, the same view as the node's overlay topic and
    `--overlay-dir`); waits for a client when the plan says so. `max_backlog`: the pipeline's (default: the
    reproducible file/bag pipeline's). OSError when the server cannot start (the port was taken since the check)."""
    stream = getattr(engine, "stream", None)
    make_overlay = None
    if plan.wanted:
        from vstream_ros.host.overlay_feed import OverlayFeed  # noqa: PLC0415 - torch: the engine is loaded anyway
        if max_backlog is None:
            from vstream_ros.engine.pipeline import PipelineConfig  # noqa: PLC0415
            max_backlog = PipelineConfig.reproducible().max_backlog

        def overlay_for_engine(on_image, **kw):
            return OverlayFeed.for_engine(engine, on_image, max_backlog=max_backlog, **kw)
        make_overlay = overlay_for_engine
    session = VizSession(plan, threshold=getattr(stream, "threshold", 0.725), capacity=engine.backend.cap_tokens,
                         metadata={"command": command, "fps": getattr(stream, "fps", "")} if plan.wanted else None,
                         make_overlay=make_overlay)
    if plan.wait:
        try:
            session.wait_for_client()
        except BaseException:                 # Ctrl-C while waiting: nothing was recorded, no partial file kept
            session.close(False, quiet=True)
            if session.recording is not None and session.recording.final is not None:
                session.recording.final.unlink(missing_ok=True)
            raise
    return session
