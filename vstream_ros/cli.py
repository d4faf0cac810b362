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
    "vstream_ros.bench.cli_bench",
    "vstream_ros.train.cli_extract",
    "vstream_ros.train.cli_synthesize",
    "vstream_ros.train.cli_train",
    "vstream_ros.replay.cli_replay",
    "vstream_ros.replay.cli_eval",
    "vstream_ros.demo.cli_demo",
)


# Options whose value may start with '-' ("--ask -3:hi"): argparse would read such a value as an option and
# fail with "expected one argument"; joined as "--ask=-3:hi" the subcommand's own check explains what is wrong.
DASH_VALUE_OPTIONS = ("--ask",)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vstream", description="Streaming video-LLM assistant (VideoLLM-online family).")
    parser.add_argument("--version", action="version", version=f"vstream_ros {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in SUBCOMMANDS:
        importlib.import_module(module).register(sub)
    for p in sub.choices.values():
        p.add_argument("--verbose", action="store_true",
                       help="also show third-party logs, warnings and model-loading progress bars")
    return parser


def join_dash_values(argv: list[str]) -> list[str]:
    """['--ask', '-3:hi'] → ['--ask=-3:hi'] for DASH_VALUE_OPTIONS (a value that is not itself an option)."""
    out, i = [], 0
    while i < len(argv):
        a = argv[i]
        if a in DASH_VALUE_OPTIONS and i + 1 < len(argv) and argv[i + 1].startswith("-") \
                and not argv[i + 1].startswith("--"):
            out.append(f"{a}={argv[i + 1]}")
            i += 2
            continue
        out.append(a)
        i += 1
    return out


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(join_dash_values(argv))
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from . import console, invocation  # noqa: PLC0415
    invocation.remember(args, argv)
    console.configure(verbose=getattr(args, "verbose", False))
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("vstream: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
