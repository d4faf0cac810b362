"""What ran: the command line exactly as the user typed it, recorded by `vstream` at start-up so outputs can
carry it (events JSONL header, replay bag metadata and run stats) and reports can quote it instead of
reconstructing one from parsed options (which would print defaults the user never chose).

    remember(args, argv)   in vstream_ros.cli.main, once per invocation
    command_of(args)       "vstream run clip.mp4 --model demo" (shell-quoted, re-runnable)
    recorded_command(path, stats)   the command stored with a prediction file, or "" when none was stored

Imports: stdlib only (yaml lazily, to read a rosbag2 folder's metadata). Never torch or ROS.
"""
from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

ARGV_ATTR = "vstream_argv"
BAG_KEY = "vstream.command"          # rosbag2 custom_data key written by `vstream replay`


def remember(args: argparse.Namespace, argv: list[str] | None) -> None:
    setattr(args, ARGV_ATTR, list(sys.argv[1:] if argv is None else argv))


def command_of(args: argparse.Namespace | None = None) -> str:
    """The running command, shell-quoted, as `vstream …` (falls back to this process's argv)."""
    argv = getattr(args, ARGV_ATTR, None) if args is not None else None
    return shlex.join(["vstream", *(sys.argv[1:] if argv is None else argv)])


def recorded_command(path: str | Path, stats: dict | None = None) -> str:
    """The command recorded with predictions: run stats / events header first, then a bag's metadata."""
    if stats and stats.get("command"):
        return str(stats["command"])
    meta = Path(path)
    meta = meta / "metadata.yaml" if meta.is_dir() else meta.with_suffix("") / "metadata.yaml"
    if not meta.is_file():
        return ""
    try:
        import yaml  # noqa: PLC0415
        info = yaml.safe_load(meta.read_text(encoding="utf-8")) or {}
        custom = (info.get("rosbag2_bagfile_information") or {}).get("custom_data") or {}
        return str(custom.get(BAG_KEY, ""))
    except (OSError, ValueError, AttributeError, yaml.YAMLError):
        return ""
