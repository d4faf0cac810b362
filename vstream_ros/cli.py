"""The `vstream` command: a table of contents of subcommands, each in its own module.

Each module exposes `register(subparsers)`, which adds its parser and sets `func(args) -> int`.
Imports nothing heavy at start-up (subcommands import torch inside their `main`).
"""
from __future__ import annotations

import argparse
import importlib
import sys

from . import __version__

SUBCOMMANDS = (
    "vstream_ros.cli_run",
    "vstream_ros.synth.cli_synth",
    "vstream_ros.bench.cli_bench",
    "vstream_ros.train.cli_extract",
    "vstream_ros.train.cli_synthesize",
    "vstream_ros.train.cli_train",
    "vstream_ros.replay.cli_replay",
    "vstream_ros.replay.cli_eval",
    "vstream_ros.demo.cli_demo",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vstream", description="Streaming video-LLM assistant (VideoLLM-online family).")
    parser.add_argument("--version", action="version", version=f"vstream_ros {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in SUBCOMMANDS:
        importlib.import_module(module).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("vstream: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
