"""`vstream-lab demo-streams`: (re)write the held-out streams shipped with the demo model (heldout.write_streams).

    vstream-lab demo-streams                      # models/demo/streams/world_000 … world_002
    vstream-lab demo-streams --count 5 --out /tmp/streams

Imports: argparse; the renderer lazily. Never ROS.
"""
from __future__ import annotations

import argparse
import shlex
import sys

DEFAULT_OUT = "models/demo/streams"


def register(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("demo-streams", help="write the held-out streams shipped with the demo model",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})")
    p.add_argument("--count", type=int, default=3, help="held-out worlds 0…N-1 (default 3)")
    p.add_argument("--duration", type=float, default=60.0, help="seconds per stream (default 60)")
    p.add_argument("--fps", type=float, default=10.0, help="camera fps (default 10)")
    p.set_defaults(func=main)
    return p


def main(args) -> int:
    if args.count < 1 or args.duration <= 0 or args.fps <= 0:
        print("vstream-lab demo-streams: error: --count, --duration and --fps must be > 0", file=sys.stderr)
        return 2
    from .heldout import write_streams  # noqa: PLC0415
    made_by = "vstream-lab demo-streams " + " ".join(shlex.quote(a) for a in sys.argv[2:])
    write_streams(args.out, args.count, args.duration, args.fps, made_by=made_by.strip())
    return 0
