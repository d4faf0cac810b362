"""`vstream run SOURCE… --model CKPT …`: stream videos, cameras or network streams through ONE model and print
replies live.

Examples:
    vstream run cooking.mp4 --model chenjoya/videollm-online-8b-v1plus --ask 5:"What am I doing?" \
        --events-jsonl events.jsonl
    vstream run a.mp4 b.mp4 rtsp://127.0.0.1:8554/cam --model demo --events-jsonl ev.jsonl

Several sources: one Scheduler serves one stream per source from one copy of the weights; events carry
`stream` (the source's name, engine/video_sources.py). Files never drop; cameras and network streams are paced
by arrival and drop under overload (counted).

Imports torch/engine only inside `main` so `vstream --help` stays fast. Never ROS.
"""
from __future__ import annotations

import argparse
import math
import sys
import threading

from .cli_common import add_backend_args, add_model_args, add_stream_args, fail
from .engine.protocol import clock_text
from .eventlog import JsonlWriter, run_header
from .invocation import command_of
from .options_table import add_assist_args, add_overlay_arg, add_progress_arg, cli_tracker
from .preflight import parse_asks, preflight_run  # noqa: F401 - parse_asks: public here since the first release
from .viz.options import add_viz_args, check_viz


def register(sub) -> None:
    p = sub.add_parser("run", help="run the assistant on videos, cameras or network streams",
                       description="Stream one or more sources through one model; print timestamped replies as "
                       "they happen. Several sources share one copy of the weights (one stream each).")
    p.add_argument("video", metavar="SOURCE", nargs="+",
                   help="a video file (anything PyAV/FFmpeg decodes), a camera (/dev/videoN) or a network stream "
                   "(rtsp://, http(s)://, …); files never drop a frame, cameras and streams drop under overload")
    add_model_args(p)
    add_stream_args(p)
    add_backend_args(p)
    p.add_argument("--ask", action="append", default=[], metavar="SECONDS:TEXT",
                   help="a user query at a stream time, e.g. --ask '12.5:What is on the table?' (repeatable; "
                   "with several sources every stream gets it)")
    p.add_argument("--ask-stdin", action="store_true",
                   help="read questions typed on stdin while the sources play (one per line; 'NAME: text' asks "
                   "only the stream NAME); on by default when stdin is a terminal")
    p.add_argument("--events-jsonl", metavar="PATH", help="write frame/query/response events, one JSON per line "
                   "(several sources: one file, each event with its `stream`)")
    add_progress_arg(p)
    add_assist_args(p)
    add_viz_args(p)
    add_overlay_arg(p)
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    try:
        plan = preflight_run(args)       # every option checked before anything heavy is imported or loaded
        viz_plan = check_viz(args)       # --foxglove / --mcap: SDK installed, port free, file creatable
        if len(plan.videos) > 1 and (args.overlay_dir or viz_plan.wanted):
            raise ValueError("--overlay-dir, --foxglove and --mcap show one stream: give one SOURCE with them")
        cli_tracker(args)                # assist mode: steps or a name without a goal are refused here
    except ValueError as e:
        return fail(e)
    asks, choice, videos = plan.asks, plan.config, plan.videos
    cfg = choice.stream
    multi = len(videos) > 1
    from .engine.frames import DecodeStats, VideoError, iter_video_frames, probe_video
    try:
        for v in videos:
            if not v.live:
                probe_video(v.url)
    except VideoError as e:
        return fail(e, 1)
    if args.no_progress:
        from transformers.utils import logging as hf_logging
        hf_logging.disable_progress_bar()

    from .engine.checkpoint import CheckpointError
    from .engine.pipeline import PipelineConfig
    from .engine.scheduler import Scheduler
    from .host.build import load_engine
    from .host.stream_host import HostOptions, StreamHost

    try:
        engine = load_engine(choice, streams=len(videos))
    except (CheckpointError, FileNotFoundError, ValueError) as e:
        return fail(e)
    from .viz.session import start_viz
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
    bar = None if args.no_progress else _progress(model_frames_due(plan.video_frames, plan.video_duration, cfg.fps))

    class Sink:                      # every engine event of one stream: the JSONL log, the live printer, the bar
        def __init__(self, name: str | None):
            self.name = name

        def publish_guidance(self, g: dict) -> None:       # assist mode: the step after each proactive reply
            printer.guidance(g, self.name)

        def on_event(self, event) -> None:
            writer.write(event, self.name)
            printer(event, self.name)
            if bar is not None and type(event).__name__ == "FrameDecision":   # the model's progress, not decoding's
                bar.update(1)
                bar.set_postfix(t=f"{event.time:.1f}s", replies=printer.replies, refresh=False)

    scheduler = Scheduler()          # one model worker for every stream
    hosts = []
    for v, backend in zip(videos, engine.backends):
        # a file is read faster than real time: never drop, outputs independent of timing; a live source drops
        options = HostOptions(pipeline=PipelineConfig() if v.live else PipelineConfig.reproducible())
        tracker, goal = cli_tracker(args)            # assist mode: each stream its own tracker, the goal turn first
        hosts.append(StreamHost(engine, Sink(v.name if multi else None), options, tracker=tracker, goal=goal or "",
                                 backend=backend,
                                 scheduler=scheduler, name=v.name if multi else "u",   # utterance ids name-N
                                 observers=(viz, overlay)))      # Foxglove / MCAP session, overlay PNGs
    for host in hosts:
        for t, text in asks:
            host.ask(text, t)
    stats = [DecodeStats() for _ in videos]
    errors: list[BaseException] = []
    ok = False
    for host in hosts:
        host.start()
    readers = [threading.Thread(target=_read, args=(v, host, st, errors, iter_video_frames), daemon=True,
                                name=f"vstream-read-{v.name}") for v, host, st in zip(videos, hosts, stats)]
    questions = None
    if args.ask_stdin or (sys.stdin is not None and sys.stdin.isatty()):
        questions = threading.Thread(target=_stdin_questions, args=(hosts,), daemon=True, name="vstream-stdin")
    try:
        for th in readers:
            th.start()
        if questions is not None:
            questions.start()
        for th in readers:
            while th.is_alive():
                th.join(0.2)
        if questions is not None and args.ask_stdin and not sys.stdin.isatty():
            while questions.is_alive():          # piped questions: every line is asked before the end
                questions.join(0.2)
        for host in hosts:
            host.finish()
        video_errors = [e for e in errors if isinstance(e, VideoError)]
        if video_errors:
            return fail(video_errors[0], 1)
        if errors:
            raise errors[0]
        ok = True
    finally:
        for host in hosts:
            host.stop()
        scheduler.stop()
        if bar is not None:
            bar.close()
        writer.close(ok)
        viz.close(ok)
        if overlay is not None:
            overlay.close(timeout=60)
    for v, host, st in zip(videos, hosts, stats):
        s = host.stats()
        lost = f", {s['frames_lost']} dropped (live)" if v.live and s["frames_lost"] else ""
        print(f"vstream: {(v.name + ': ') if multi else ''}{st.frames} frames decoded, {s['frames_decided']} fed at "
              f"{cfg.fps:g} fps, {st.corrupt + s['corrupt_frames']} corrupt skipped{lost}, "
              f"{printer.by_stream.get(v.name if multi else None, 0)} replies", file=sys.stderr)
    if overlay is not None:
        missed = overlay.stats()["overlay_missing_frames"] + overlay.worker.failed
        print(f"vstream: {overlay.worker.drawn} overlay PNGs in {args.overlay_dir}"
              + (f" ({missed} model frames not drawn)" if missed else ""), file=sys.stderr)
    return 0


def _read(video, host, stats, errors: list, iter_video_frames) -> None:
    """One source's frames into its stream (a file waits for room; a live source is never held back)."""
    try:
        for frame in iter_video_frames(video.url, stats):
            host.submit(frame.rgb, frame.t)
    except BaseException as e:  # noqa: BLE001 - reported by main after the other streams finish
        errors.append(e)


def _stdin_questions(hosts) -> None:
    """Typed questions, one per line: `NAME: text` asks that stream, anything else asks every stream (now)."""
    by_name = {h.name: h for h in hosts}
    for line in sys.stdin:
        name, sep, rest = line.partition(":")
        targets = [by_name[name.strip()]] if sep and name.strip() in by_name and len(hosts) > 1 else hosts
        text = rest if targets is not hosts else line
        if text.strip():
            for host in targets:
                host.ask(text)


class ReplyPrinter:
    """Prints queries and replies as `[  12.50s] Assistant: …` lines on stdout (`cam1 [  12.50s] …` with several
    streams); an answer over recalled memory ends with the stretch it recalled, `(recalled 12:28–12:34)`."""

    def __init__(self):
        self.replies = 0
        self.by_stream: dict = {}
        self._lock = threading.Lock()

    def __call__(self, event, stream: str | None = None) -> None:
        kind = type(event).__name__
        who = f"{stream} " if stream else ""
        with self._lock:
            if kind == "QueryEvent":
                print(f"{who}[{event.time:8.2f}s] User: {event.text}", flush=True)
            elif kind == "Response":
                self.replies += 1
                self.by_stream[stream] = self.by_stream.get(stream, 0) + 1
                seen = ""
                if getattr(event, "evidence", ()):
                    a, b = min(event.evidence), max(event.evidence)
                    seen = f"  (recalled {clock_text(a)}" + (f"–{clock_text(b)})" if b - a >= 1 else ")")
                print(f"{who}[{event.time:8.2f}s] Assistant: {event.text}{seen}", flush=True)

    def guidance(self, g: dict, stream: str | None = None) -> None:
        """Assist mode: `[  12.50s] Step 2/4 (in progress, 25 %): Pour the water` (a StepGuidance, as the node
        publishes it)."""
        t = g["header"]["stamp"]["sec"] + g["header"]["stamp"]["nanosec"] / 1e9
        status = ("pending", "in progress", "done", "mistake")[g["status"]] if 0 <= g["status"] < 4 else g["status"]
        with self._lock:
            print(f"{stream + ' ' if stream else ''}[{t:8.2f}s] Step {g['step_index'] + 1}/{g['step_count']} "
                  f"({status}, {g['progress']:.0%}): {g['instruction']}", flush=True)


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
