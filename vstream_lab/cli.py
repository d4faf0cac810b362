"""The `vstream-lab` command: the lab's tools, apart from the product's `vstream`.

    vstream-lab synth OUT_DIR …            synthetic egocentric streams with exact ground truth (videos, bags, Ego4D files)
    vstream-lab demo-streams [--out DIR]   re-make the held-out streams shipped with the demo model
    vstream-lab longrun [--duration-s 3600] simulated hour-long stream: cache size and latency under a memory policy

The demo model itself is trained with `python -m vstream_lab.demo_model.train_demo` (docs/demo.md).
Imports nothing heavy at start-up; never ROS.
"""
from __future__ import annotations

import argparse
import importlib
import sys

SUBCOMMANDS = (
    "vstream_lab.synth.cli_synth",
    "vstream_lab.demo_model.cli_streams",
    "vstream_lab.longrun",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vstream-lab", description="vstream_ros lab tools (research, test data).")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in SUBCOMMANDS:
        importlib.import_module(module).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("vstream-lab: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
