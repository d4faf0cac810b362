"""`vstream replay BAG --model CKPT …`: replay a recorded camera stream through the engine in bag time and
write an output bag (Narration, narration_text, StepGuidance at the deciding frames' stamps), the events
JSONL of `vstream run` and the run stats `<out>.replay.json`.

    vstream replay session.mcap --model chenjoya/videollm-online-8b-v1plus --out session_vstream.mcap \\
        --events-jsonl session_events.jsonl --rate asap
    vstream replay two_cams.mcap --model demo --cameras front:/cam_front/image_raw,wrist:/cam_wrist/image_raw

Several cameras (--cameras, or --image-topic repeated): one stream per image topic on one model, each camera's
outputs under /vstream/NAME/ in one output bag (replay/driver.py).

Exit codes: 0 ok, 2 bad input (bag, topic, model, options) with a one-line message on stderr.

Imports: argparse and this package (engine loaded lazily in main). Must not import rclpy.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vstream_ros.invocation import command_of
from vstream_ros.options_table import add_assist_args, add_overlay_arg, add_progress_arg, cli_tracker
from vstream_ros.replay.replay_log import check_replay_options, save_event_stats, open_event_log
from vstream_ros.viz.options import add_viz_args, check_viz


def add_model_args(p: argparse.ArgumentParser, required: bool = True) -> None:
    """Model/stream options of `vstream run` (cli_common) + the backend/memory choices of the node."""
    from vstream_ros.cli_common import add_model_args as add_model
    from vstream_ros.cli_common import add_backend_args, add_stream_args
    add_model(p, require_model=required)
    add_stream_args(p)
    add_backend_args(p)


def register(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("replay", help="replay a rosbag through the assistant (no ROS needed)",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("bag", help="rosbag2 folder, .mcap, .db3 or ROS 1 .bag")
    add_model_args(p)
    p.add_argument("--image-topic", action="append", metavar="TOPIC",
                   help="Image/CompressedImage topic (default: the bag's only image topic); repeat it to replay "
                   "several cameras, each named after its topic (see --cameras)")
    p.add_argument("--cameras", metavar="NAME:TOPIC,…",
                   help="several cameras, one model (as the node's cameras:=): one stream per image topic, each "
                   "camera's outputs under /vstream/NAME/ (narration, narration_text, guidance)")
    p.add_argument("--ask-topic", help="topic of user queries (std_msgs/String) to replay at their stamps (every "
                   "camera gets them)")
    p.add_argument("--rate", default="asap", help="asap (default) | realtime | <factor> × real time")
    p.add_argument("--out", help="output bag: run.mcap / run.db3 → rosbag2 folder run/ (default <bag>_vstream.mcap)")
    p.add_argument("--storage", choices=("mcap", "sqlite3"), help="output storage (default: from --out suffix, mcap)")
    p.add_argument("--events-jsonl", metavar="PATH", help="also write the engine events, one JSON per line")
    add_progress_arg(p)
    add_assist_args(p)
    p.add_argument("--with-images", action="store_true", help="also write the frames the model decided on into the "
                   "output bag (JPEG sensor_msgs/CompressedImage on <camera topic>/compressed, capture stamps)")
    add_viz_args(p)
    add_overlay_arg(p)
    p.set_defaults(func=main)
    return p


def default_out(bag: str) -> str:
    p = Path(bag.rstrip("/"))
    stem = p.with_suffix("") if p.suffix in (".mcap", ".db3", ".bag") else p
    return str(stem) + "_vstream.mcap"


def build_engine(args: argparse.Namespace, streams: int = 1):
    """The host.build.Engine of the arguments, loaded like the assistant node's (host.build.load_engine)."""
    from vstream_ros.cli_common import engine_config
    from vstream_ros.host.build import load_engine
    return load_engine(engine_config(args), streams=streams)


def chosen_cameras(args: argparse.Namespace) -> tuple[str | None, tuple[tuple[str, str], ...]]:
    """(image topic, cameras) of --image-topic / --cameras: one --image-topic (or none) = one camera with the
    single-camera outputs; --image-topic repeated = cameras named after their topics; --cameras NAME:TOPIC,…
    as given. ValueError (one line) for a bad or contradictory choice."""
    from vstream_ros.interfaces.cameras import camera_problem, default_names, parse_cameras
    topics = list(args.image_topic or [])
    if args.cameras is not None:
        if topics:
            raise ValueError("--cameras names the image topics itself: drop --image-topic")
        cams = parse_cameras(args.cameras)
        if not cams:
            raise ValueError("--cameras is empty: give NAME:TOPIC,… (e.g. front:/cam_front/image_raw)")
    elif len(topics) > 1:
        if len(set(topics)) < len(topics):
            raise ValueError(f"--image-topic {sorted(t for t in topics if topics.count(t) > 1)[0]} is given twice")
        cams = list(zip(default_names(topics), topics))
    else:
        return (topics[0] if topics else None), ()
    problem = camera_problem([n for n, _ in cams])
    if problem:
        raise ValueError(problem)
    if len({t for _, t in cams}) < len(cams):
        raise ValueError("--cameras: two cameras on one topic; give each camera its own image topic")
    return None, tuple(cams)


def main(args: argparse.Namespace) -> int:
    from vstream_ros.replay.bagio import BagError
    from vstream_ros.replay.driver import ReplayError, ReplayOptions, parse_rate, replay, replay_cameras, save_outputs
    try:
        rate = parse_rate(args.rate)
        image_topic, cameras = chosen_cameras(args)
        if args.ask_topic:
            from vstream_ros.replay.bagio import list_topics
            if args.ask_topic not in list_topics(args.bag):
                raise BagError(f"bag {args.bag} has no topic {args.ask_topic!r} (--ask-topic)")
        opts = ReplayOptions(image_topic=image_topic, cameras=cameras, ask_topic=args.ask_topic, rate=rate,
                             progress=not args.no_progress and sys.stderr.isatty(), with_images=args.with_images)
        replay_cameras(args.bag, opts)                          # fail on the bag before loading a model
        sources = check_replay_options(args)                    # model folders, memory, device, outputs
        if args.with_images and not args.out and args.events_jsonl:
            raise ValueError("--with-images writes the frames into the output bag: add --out BAG")
        if len(cameras) > 1 and args.backend == "reference":
            raise ValueError("several cameras share one model on the runtime backend: drop --backend reference "
                             "(the oracle serves one stream) or replay one camera at a time")
        viz_plan = check_viz(args)                              # --foxglove / --mcap, before the model loads
        if cameras and (viz_plan.wanted or args.overlay_dir):
            raise ValueError("--foxglove, --mcap and --overlay-dir show one camera: replay it alone with --image-topic")
        tracker, goal = cli_tracker(args)                       # assist mode, as the node's mode: assist
        engine = build_engine(args, streams=max(1, len(cameras)))
        from vstream_ros.viz.session import start_viz
        viz = start_viz(viz_plan, engine, command_of(args))      # Foxglove view / MCAP recording (or nothing)
        overlay = _overlay(args, engine)                        # --overlay-dir: one PNG per model frame
        log = open_event_log(args.events_jsonl, command_of(args), sources, engine.stream)   # durable, line by line
        done = False
        try:
            result = replay(args.bag, engine, opts, tracker=tracker, goal=goal,
                            on_event=log.write if args.events_jsonl else None, observers=(viz, overlay))
            done = True
        finally:
            log.close(done)
            viz.close(done)
            if overlay is not None:
                overlay.close(timeout=60)
        out = args.out or (None if args.events_jsonl else default_out(args.bag))
        written = save_outputs(result, out, None, storage=args.storage, command=command_of(args))
        written.update(save_event_stats(result, args.events_jsonl, command_of(args)))
    except (BagError, ReplayError, ValueError, FileNotFoundError, FileExistsError, OSError) as err:
        print(f"vstream replay: error: {' '.join(str(err).split())}", file=sys.stderr)
        return 2
    for name, r in (result.cameras.items() or [("", result)]):
        s = r.stats
        print(f"{name + ': ' if name else ''}replayed {s['frames_in']} frames of {s['image_topic']} "
              f"({s['frames_used']} at {s['fps']:g} fps, {s['bad_encoding'] + s['undecodable']} undecodable) in "
              f"{s['wall_s']:.1f} s; {sum(1 for x in r.records if x.topic.endswith('narration_text'))} utterances")
    if overlay is not None:
        written["overlay"] = f"{args.overlay_dir} ({overlay.worker.drawn} PNGs)"
    for kind, path in written.items():
        print(f"  {kind}: {path}")
    return 0


def _overlay(args: argparse.Namespace, engine):
    """The --overlay-dir observer (every model frame drawn: a bag is a file, the drawing waits for room), or None."""
    if not args.overlay_dir:
        return None
    from vstream_ros.engine.pipeline import PipelineConfig
    from vstream_ros.host.overlay_feed import OverlayFeed, PngDir
    try:
        return OverlayFeed.for_engine(engine, PngDir(args.overlay_dir), overflow="block",
                                      max_backlog=PipelineConfig.reproducible().max_backlog,
                                      log=lambda m: print(f"vstream replay: {m}", file=sys.stderr))
    except OSError as e:
        raise ValueError(f"--overlay-dir {args.overlay_dir}: {e}") from None
