"""`vstream eval --pred OUT --ref REF …`: score a replay (or a `ros2 bag record` of the live node) against
references, as a whole and per time window on long streams (replay/windows.py), print the metrics and optionally
write report.md + timeline.png + latency.png (+ quality_time.png with windows).

    vstream eval --pred run.mcap --ref session.mcap --ref-topic /ref/narration --tolerance 2.0 --report rep/
    vstream eval --pred run_events.jsonl --ref all_narrations_redacted.json --video-uid UID --time-offset 0
    vstream eval --pred run_events.jsonl --ref narration.json --video-uid UID --window-minutes 1 --report rep/
    vstream eval --pred run.mcap --stream front --ref session.mcap --ref-topic /ref/narration   # one camera
    vstream eval --pred run.mcap --ref session.mcap --ref-topic /ref/narration --teacher-forced \\
        --model CKPT --frames-bag session.mcap

Exit codes: 0 ok, 2 bad input with a one-line message on stderr.

Imports: argparse, json and this package (torch only with --teacher-forced). Must not import rclpy.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(subparsers) -> argparse.ArgumentParser:
    from vstream_ros.replay.cli_replay import add_model_args
    p = subparsers.add_parser("eval", help="score predicted utterances against references",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("--pred", required=True, help="output bag of `vstream replay`/`ros2 bag record`, or events JSONL")
    p.add_argument("--pred-topic", help="prediction topic in a bag (default /vstream/narration, else narration_text)")
    p.add_argument("--stream", metavar="NAME",
                   help="score one stream of a several-stream run: a camera of `vstream replay --cameras` / the "
                   "node's cameras (its /vstream/NAME/ topics and stats) or a source of `vstream run a.mp4 b.mp4` "
                   "(the events with that `stream`)")
    p.add_argument("--include-answers", action="store_true", help="also score answers to user queries")
    p.add_argument("--ref", required=True, help="reference bag, or Ego4D narration.json / all_narrations_redacted.json")
    p.add_argument("--ref-topic", help="reference topic in a bag (std_msgs/String or vstream_msgs/Narration)")
    p.add_argument("--ref-stamp", default="auto", choices=("auto", "header", "receive"),
                   help="reference time: header stamp if present (auto), header, or bag receive time")
    p.add_argument("--video-uid", help="Ego4D video uid (JSON references)")
    p.add_argument("--time-offset", type=float, default=0.0, help="bag time (s) of video time 0 (JSON references)")
    p.add_argument("--ref-pass", type=int, default=0, help="Ego4D annotator pass, 0-based (default 0)")
    p.add_argument("--tolerance", type=float, default=2.0, help="matching tolerance in seconds (default 2.0)")
    p.add_argument("--window-minutes", type=float, default=None, metavar="M",
                   help="also score each M-minute window of the stream (quality over time); default: 10-minute "
                        "windows for streams over 20 minutes, none for shorter ones; 0 = whole stream only")
    p.add_argument("--report", metavar="DIR", help="write report.md, timeline.png, latency.png here")
    p.add_argument("--json", metavar="PATH", help="write all metrics as JSON")
    p.add_argument("--run-stats", metavar="PATH", help="run stats JSON (default: <pred>.replay.json when present)")
    tf = p.add_argument_group("teacher-forced metrics (LM-PPL, TimeDiff, Fluency, LM-Correctness)")
    tf.add_argument("--teacher-forced", action="store_true", help="also compute them with --model on the references")
    tf.add_argument("--frames-bag", help="bag with the camera frames (default: --ref when it is a bag, else the "
                                         "bag named in the run stats)")
    tf.add_argument("--image-topic", help="image topic of the frames bag")
    add_model_args(p, required=False)
    p.set_defaults(func=main)
    return p


def _teacher(args, refs, stats) -> dict:
    from vstream_ros.replay.cli_replay import build_engine
    from vstream_ros.replay.references import ReferenceError
    from vstream_ros.engine.teacher_forced import stream_metrics
    if not args.model:
        raise ReferenceError("--teacher-forced needs --model")
    bag = args.frames_bag or (args.ref if Path(args.ref).suffix != ".json" else stats.get("bag"))
    if not bag:
        raise ReferenceError("--teacher-forced needs the camera frames: pass --frames-bag")
    # teacher forcing scores the whole reference dialogue, as the original does: never evict
    engine = build_engine(argparse.Namespace(**{**vars(args), "memory_policy": "full"}))
    model = engine.model
    frames, skipped = encode_bag_frames(bag, model, args.fps, args.image_topic or stats.get("image_topic"))
    if not frames:
        raise ReferenceError(f"no decodable frame in {bag} for the teacher-forced metrics ({skipped})")
    out = stream_metrics(engine.backend, model.protocol, frames, refs, args.fps)
    out["frames_skipped"] = skipped
    return out


def encode_bag_frames(bag, model, fps: float, topic: str | None = None) -> tuple[list[tuple[float, "torch.Tensor"]],
                                                                                  dict[str, int]]:
    """Frames of the bag's image topic at the model fps as (t, vision tokens [10, Dv]); + skip counters."""
    from vstream_ros.engine.frames import FrameClock
    from vstream_ros.engine.vision import encode_frames
    from vstream_ros.interfaces.image_codec import ImageDecodeError
    from vstream_ros.replay.bagio import iter_images
    from vstream_ros.replay.driver import _decode
    clock = FrameClock(fps)
    out, skipped = [], {"undecodable": 0, "off_grid": 0}
    for m in iter_images(bag, topic):
        t = m.stamp_ns / 1e9
        try:
            rgb = _decode(m)
        except ImageDecodeError:
            skipped["undecodable"] += 1
            continue
        if not clock.accept(t):
            skipped["off_grid"] += 1
            continue
        tokens = encode_frames(model.vision, [rgb])[0]
        out.append((t, tokens))
    return out, skipped


def main(args: argparse.Namespace) -> int:
    from vstream_ros.replay.bagio import BagError
    from vstream_ros.atomic import write_text_atomic
    from vstream_ros.invocation import command_of, recorded_command
    from vstream_ros.replay.metrics import run_metrics, timing_metrics
    from vstream_ros.replay.references import ReferenceError, load_predictions, load_references, stream_duration_s
    from vstream_ros.replay.windows import auto_window_s, format_windows, window_metrics
    try:
        if args.teacher_forced and args.model:
            from vstream_ros.preflight import model_options
            model_options(args)                          # the model's folders, memory, device: before any work
        if not args.tolerance >= 0:
            raise ValueError(f"--tolerance must be >= 0, got {args.tolerance}")
        refs = load_references(args.ref, topic=args.ref_topic, stamp=args.ref_stamp, video_uid=args.video_uid,
                               offset=args.time_offset, pass_index=args.ref_pass)
        preds, stats = load_predictions(args.pred, args.pred_topic, proactive_only=not args.include_answers,
                                        stream=args.stream)
        if args.run_stats:
            stats = dict(stats, **json.loads(Path(args.run_stats).read_text(encoding="utf-8")))
        duration = stream_duration_s(args.pred, args.ref, stats)
        result = timing_metrics(refs, preds, args.tolerance, duration_s=duration)
        window_s = auto_window_s(result.duration_s, args.window_minutes)
        windows = window_metrics(refs, preds, args.tolerance, window_s, duration) if window_s else None
        run = run_metrics(stats)
        result.run = run
        teacher = _teacher(args, refs, stats) if args.teacher_forced else None
        summary = result.to_dict()
        if windows is not None:
            summary["windows"] = windows
        if teacher is not None:
            summary["teacher_forced"] = teacher
        command = command_of(args)                       # as typed, not rebuilt from defaults
        if args.report:
            from vstream_ros.replay.report import write_report
            table = {k: v for k, v in teacher.items() if k != "per_turn"} if teacher else None
            write_report(args.report, result, refs, preds, stats, run, command, table,
                         made_by=recorded_command(args.pred, stats), windows=windows)
        if args.json:
            write_text_atomic(args.json, json.dumps(summary, indent=1, default=str))
    except (ReferenceError, BagError, ValueError, FileNotFoundError, OSError) as err:
        print(f"vstream eval: error: {' '.join(str(err).split())}", file=sys.stderr)
        return 2
    r = result
    fmt = (lambda x: "n/a" if x is None else f"{x:.3f}")
    print(f"refs {r.n_ref}  preds {r.n_pred}  matched {r.tp}  P {r.precision:.3f}  R {r.recall:.3f}  "
          f"F1 {r.f1:.3f}  mean|dt| {fmt(r.mean_abs_dt)} s  median|dt| {fmt(r.median_abs_dt)} s  "
          f"early/on-time/late {r.early}/{r.on_time}/{r.late}  {r.pred_per_min:.2f}/min  ROUGE-L {fmt(r.rouge_l)}")
    if windows is not None:
        print(f"per {windows['window_s'] / 60:g}-minute window (same matching):")
        print(format_windows(windows))
    if teacher is not None:
        print(f"teacher-forced: LM-PPL {teacher['lm_ppl']:.3f}  TimeDiff {teacher['time_diff_s']:.3f} s  "
              f"Fluency {teacher['fluency']:.3f}  LM-Correctness {teacher['lm_correctness']:.3f}  "
              f"({teacher['turns']} turns)")
    if args.report:
        print(f"report: {Path(args.report) / 'report.md'}")
    return 0
