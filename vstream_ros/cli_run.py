"""`vstream run VIDEO --model CKPT …`: stream a video file through the engine and print replies live.

Example (GPU box with the public checkpoint):
    vstream run cooking.mp4 --model chenjoya/videollm-online-8b-v1plus --ask 5:"What am I doing?" \
        --events-jsonl events.jsonl

Imports torch/engine only inside `main` so `vstream --help` stays fast. Never ROS.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from .cli_common import add_backend_args, add_model_args, add_stream_args, engine_choice, fail


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
    p.set_defaults(func=main)


def parse_asks(items: list[str]) -> list[tuple[float, str]]:
    """['12.5:What?'] → [(12.5, 'What?')]; ValueError with the offending item otherwise."""
    out = []
    for item in items:
        head, sep, text = item.partition(":")
        try:
            t = float(head)
        except ValueError:
            t = float("nan")
        if not sep or not text.strip() or not t >= 0:
            raise ValueError(f"--ask {item!r} must look like SECONDS:TEXT with SECONDS ≥ 0, e.g. '12.5:What is this?'")
        out.append((t, text.strip()))
    return sorted(out, key=lambda x: x[0])


class JsonlWriter:
    """Events to a temp file beside PATH, renamed into place on close (atomic)."""

    KINDS = ("frame", "query", "response")

    def __init__(self, path: str | None):
        self.path = Path(path) if path else None
        self._f = None
        if self.path:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, self._tmp = tempfile.mkstemp(prefix=self.path.name + ".", suffix=".tmp", dir=self.path.parent)
            self._f = os.fdopen(fd, "w", encoding="utf-8")

    def write(self, event) -> None:
        if self._f is not None:
            d = event.to_json()
            if d["event"] in self.KINDS:
                self._f.write(json.dumps(d, ensure_ascii=False) + "\n")

    def close(self, ok: bool) -> None:
        if self._f is None:
            return
        self._f.close()
        if ok:
            os.replace(self._tmp, self.path)
        else:
            os.unlink(self._tmp)


def main(args: argparse.Namespace) -> int:
    try:
        asks = parse_asks(args.ask)
        choice = engine_choice(args)
    except ValueError as e:
        return fail(e)
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
    writer = JsonlWriter(args.events_jsonl)
    printer = ReplyPrinter()

    class Sink:                      # every engine event: the JSONL log and the live printer
        @staticmethod
        def on_event(event) -> None:
            writer.write(event)
            printer(event)

    # a file is read faster than real time: never drop, outputs independent of timing
    host = HostRuntime(engine, Sink(), HostOptions(pipeline=PipelineConfig.reproducible()))
    for t, text in asks:
        host.ask(text, t)
    stats = DecodeStats()
    bar = None if args.no_progress else _progress()
    ok = False
    host.start()
    try:
        for frame in iter_video_frames(args.video, stats):
            host.submit(frame.rgb, frame.t)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(t=f"{frame.t:.1f}s", replies=printer.replies, refresh=False)
        host.finish()
        ok = True
    except VideoError as e:
        return fail(e, 1)
    finally:
        host.stop()
        if bar is not None:
            bar.close()
        writer.close(ok)
    s = host.stats()
    print(f"vstream: {stats.frames} frames decoded, {s['frames_decided']} fed at {choice.stream.fps:g} fps, "
          f"{stats.corrupt + s['corrupt_frames']} corrupt skipped, {printer.replies} replies", file=sys.stderr)
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


def _progress():
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(unit="frame", file=sys.stderr, desc="streaming", dynamic_ncols=True)
