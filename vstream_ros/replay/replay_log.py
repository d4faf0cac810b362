"""The events log of `vstream replay --events-jsonl`, streamed: the runner's events are written and flushed line
by line as the replay runs (vstream_ros/eventlog.py), so an interrupted replay keeps every line so far; the run
stats beside it (`<events>.replay.json`) are a final artefact, written atomically at the end. Also the replay's
checks before the model loads (vstream_ros/preflight.py).

Imports: stdlib and this package (lazily). Must not import rclpy.
"""
from __future__ import annotations

import argparse
import json


def check_replay_options(args: argparse.Namespace):
    """Model folders, memory budget, device and output paths, before the model loads (vstream_ros/preflight.py)."""
    from vstream_ros.preflight import check_output_file, model_options
    check_output_file(args.events_jsonl, "--events-jsonl")
    return model_options(args)[2]


def open_event_log(path: str | None, command: str, sources, cfg):
    """The durable events log of a replay (vstream_ros/eventlog.py): pass its `write` to replay(on_event=…)."""
    from vstream_ros.eventlog import JsonlWriter, run_header
    return JsonlWriter(path, header=run_header(command, sources, cfg))


def save_event_stats(result, events_jsonl: str | None, command: str) -> dict[str, str]:
    """The run stats beside a streamed events log (`<events>.replay.json`, atomic), as save_outputs does for bags."""
    if not events_jsonl:
        return {}
    from vstream_ros.atomic import write_text_atomic
    from vstream_ros.replay.references import sidecar_path
    stats = dict(result.stats, command=command)
    return {"events": str(events_jsonl),
            "events_stats": str(write_text_atomic(sidecar_path(events_jsonl), json.dumps(stats, indent=1)))}
