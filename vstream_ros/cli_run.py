"""`vstream run VIDEO --model CKPT …`: stream a video file through the engine and print replies live.

Example (GPU box with the public checkpoint):
    vstream run cooking.mp4 --model chenjoya/videollm-online-8b-v1plus --ask 5:"What am I doing?" \
        --events-jsonl events.jsonl

Imports torch/engine only inside `main` so `vstream --help` stays fast. Never ROS.
"""
from __future__ import annotations

import argparse
import math
import sys

from .cli_common import add_backend_args, add_model_args, add_stream_args, fail
from .eventlog import JsonlWriter, run_header
from .invocation import command_of
from .preflight import parse_asks, preflight_run  # noqa: F401 - parse_asks: public here since the first release
from .viz.options import add_viz_args, check_viz


def register(sub) -> None:
    p = sub.add_parser("run", help="run the assistant on a video file",
                       description="Stream a video through the engine; print timestamped replies as they happen.")
    p.add_argument("video", metavar="VIDEO", help="video file (anything PyAV/FFmpeg decodes)")
    add_model_args(p)
    add_stream_args(p)
    add_backend_args(p)
    p.add_argument("--ask", action="append", default=[], metavar="SECONDS:TEXT",
                   help="a user query at a stream time, e.g. --ask '12.5:What is on the table?' (repeatable)")
    p.add_argument("--events-jsonl", metavar="PATH", help="write frame/query/response events, one JSON per line")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    add_viz_args(p)
    p.add_argument("--overlay-dir", metavar="DIR", help="write one PNG per model frame into DIR (created): the frame "
                   "the model saw with the utterance, P(silent) vs the threshold and memory drawn on it")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    try:
        plan = preflight_run(args)       # every option checked before anything heavy is imported or loaded
        viz_plan = check_viz(args)       # --foxglove / --mcap: SDK installed, port free, file creatable
    except ValueError as e:
        return fail(e)
    asks, choice = plan.asks, plan.config
    cfg = choice.stream
    from .engine.frames import DecodeStats, VideoError, iter_video_frames, probe_video
    try:
        probe_video(args.video)
    except VideoError as e:
        return fail(e, 1)
    if args.no_progress:
        from transformers.utils import logging as hf_logging
        hf_logging.disable_progress_bar()

    from .engine.checkpoint import CheckpointError
    from .engine.pipeline import PipelineConfig
    from .host.build import load_engine
    from .host.runtime import HostOptions, HostRuntime

    try:
        engine = load_engine(choice)
    except (CheckpointError, FileNotFoundError, ValueError) as e:
        return fail(e)
    from .viz.session import frame_hooks, start_viz
    try:
        viz = start_viz(viz_plan, engine, command_of(args))       # Foxglove view / MCAP recording (or nothing)
    except OSError as e:
        return fail(e)
    overlay = None
    if args.overlay_dir:                 # a file run wants every frame: the drawing worker waits for room
        from .host.overlay_feed import OverlayFeed, PngDir
        try:
            overlay = OverlayFeed.for_engine(engine, PngDir(args.overlay_dir), overflow="block",
                                             max_backlog=PipelineConfig.reproducible().max_backlog,
                                             log=lambda m: print(f"vstream: {m}", file=sys.stderr))
        except OSError as e:
            return fail(f"--overlay-dir {args.overlay_dir}: {e}")
    writer = JsonlWriter(args.events_jsonl, header=run_header(command_of(args), plan.sources, cfg))
    printer = ReplyPrinter()

    bar = None if args.no_progress else _progress(model_frames_due(plan.video_frames, plan.video_duration, choice.stream.fps))

    class Sink:                      # every engine event: the JSONL log, the live printer, the bar
        @staticmethod
        def on_event(event) -> None:
            writer.write(event)
            printer(event)
            viz.on_event(event)
            if overlay is not None:
                overlay.on_event(event)
            if bar is not None and type(event).__name__ == "FrameDecision":   # the model's progress, not decoding's
                bar.update(1)
                bar.set_postfix(t=f"{event.time:.1f}s", replies=printer.replies, refresh=False)

    # a file is read faster than real time: never drop, outputs independent of timing
    host = HostRuntime(engine, Sink(), HostOptions(pipeline=PipelineConfig.reproducible()),
                       on_frame=frame_hooks(viz.on_frame, overlay.on_frame if overlay is not None else None))
    for t, text in asks:
        host.ask(text, t)
    stats = DecodeStats()
    ok = False
    host.start()
    try:
        for frame in iter_video_frames(args.video, stats):
            host.submit(frame.rgb, frame.t)
        host.finish()
        ok = True
    except VideoError as e:
        return fail(e, 1)
    finally:
        host.stop()
        if bar is not None:
            bar.close()
        writer.close(ok)
        viz.close(ok)
        if overlay is not None:
            overlay.close(timeout=60)
    s = host.stats()
    print(f"vstream: {stats.frames} frames decoded, {s['frames_decided']} fed at {choice.stream.fps:g} fps, "
          f"{stats.corrupt + s['corrupt_frames']} corrupt skipped, {printer.replies} replies", file=sys.stderr)
    if overlay is not None:
        missed = overlay.stats()["overlay_missing_frames"] + overlay.worker.failed
        print(f"vstream: {overlay.worker.drawn} overlay PNGs in {args.overlay_dir}"
              + (f" ({missed} model frames not drawn)" if missed else ""), file=sys.stderr)
    return 0


class ReplyPrinter:
    """Prints queries and replies as `[  12.50s] Assistant: …` lines on stdout."""

    def __init__(self):
        self.replies = 0

    def __call__(self, event) -> None:
        kind = type(event).__name__
        if kind == "QueryEvent":
            print(f"[{event.time:8.2f}s] User: {event.text}", flush=True)
        elif kind == "Response":
            self.replies += 1
            print(f"[{event.time:8.2f}s] Assistant: {event.text}", flush=True)


def model_frames_due(frames: int | None, duration_s: float | None, fps: float) -> int | None:
    """Model frames (one per 1/fps slot from the first frame, FrameClock) in a video of this length; None if unknown.

    Estimated from the container header: `frames` evenly spaced over `duration_s`, the last at duration·(n−1)/n."""
    if not frames or not duration_s or duration_s <= 0:
        return None
    last_t = duration_s * (frames - 1) / frames
    return math.floor(last_t * fps + 1e-6) + 1


def _progress(total: int | None = None):
    """One bar on stderr, in model frames; with the video's length it shows the total and an ETA."""
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, unit="frame", file=sys.stderr, desc="model frames", dynamic_ncols=True)
