"""`vstream bench`: reference synchronous loop vs the product path (the stream host the node uses), one run.

    vstream bench --preset tiny [--frames 60] [--camera-fps F] [--utterance-tokens 20] [--repeats 3] [--json out.json]
    vstream bench --preset live-8b ...   (CUDA only: Llama-3-8B + SigLIP-L shapes, random weights, bf16)
    vstream bench --streams 4 [--seconds 20] [--repeats R]   (demo model: N streams in one process vs N
                                                          processes; bench/streams.py)

(The bounded-memory long-run simulation is the lab's: `vstream-lab longrun`.)

Imports: argparse at import time; torch and the engine inside main().
"""
from __future__ import annotations

import argparse
import math
import sys


def register(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("bench", help="benchmark the product path against the reference loop",
                              description="Stream N synthetic frames through (a) the reference synchronous loop "
                                          "and (b) the stream host the ROS node and `vstream run` use (runtime "
                                          "backend, overlapped pipeline); print a table and the ratio b/a.")
    p.add_argument("--preset", choices=("tiny", "live-8b"), default="tiny")
    p.add_argument("--frames", type=int, default=None, help="frames per run (default: tiny 24, live-8b 600)")
    p.add_argument("--camera-fps", type=float, default=None,
                   help="pace the camera at this fps (default: replay as fast as possible)")
    p.add_argument("--utterance-tokens", type=int, default=20, help="forced reply length (default 20)")
    p.add_argument("--respond-every", type=int, default=10, help="about one frame in N speaks (default 10)")
    p.add_argument("--repeats", type=int, default=None,
                   help="repeats of each loop, for min/median/max (default 3); with --streams: alternate (a) and "
                        "(b) R times and report the median ratio (default 1)")
    p.add_argument("--layers", type=int, default=None,
                   help="live-8b only: keep every width but only N layers (runs on CPU: checks the GPU path)")
    from ..cli_common import add_quantize_arg  # noqa: PLC0415
    add_quantize_arg(p)
    p.add_argument("--streams", type=int, default=None, metavar="N",
                   help="instead: N streams of the demo model in one process vs N single-stream processes side "
                        "by side (aggregate decisions/s, per-stream decision interval p50/p99, RSS)")
    p.add_argument("--seconds", type=float, default=20.0, help="--streams: seconds of each demo video (default 20)")
    p.add_argument("--threads", type=int, default=1,
                   help="--streams: torch threads of every process, both sides alike (default 1)")
    p.add_argument("--json", dest="json_path", default=None, help="write the full result as JSON here")
    p.set_defaults(func=main)
    return p



def main(args) -> int:
    if args.streams is not None:
        return _streams(args)
    from .core import BenchConfig, format_table, run_bench
    from .presets import PresetUnavailable
    try:
        frames = args.frames or {"tiny": 24, "live-8b": 600}[args.preset]
        cfg = BenchConfig(preset=args.preset, frames=frames, camera_fps=args.camera_fps,
                          utterance_tokens=args.utterance_tokens, respond_every=args.respond_every,
                          repeats=3 if args.repeats is None else args.repeats, layers=args.layers,
                          quantize=args.quantize)
        from ..engine.quantize import require_torchao  # noqa: PLC0415
        require_torchao(cfg.quantize)
    except ValueError as e:
        print(f"vstream bench: {e}", file=sys.stderr)
        return 2
    try:
        result = run_bench(cfg, log=lambda s: print(s, file=sys.stderr))
    except PresetUnavailable as e:
        print(f"vstream bench: skipped: {e}", file=sys.stderr)
        return 0
    except ValueError as e:                     # a quantize choice this device cannot run (one line)
        print(f"vstream bench: {e}", file=sys.stderr)
        return 2
    from ..engine.accounting import format_memory  # noqa: PLC0415
    print(f"device: {result['device']}  torch {result['torch']}  modes {result['modes']}")
    print(format_table(result))
    print(f"pipeline (b) {format_memory(result['memory'])}")
    if args.json_path:
        _write_json(args.json_path, result)
        print(f"wrote {args.json_path}")
    return 0


def _streams(args) -> int:
    if not 1 <= args.streams <= 64 or not args.seconds > 0 or args.threads < 1 \
            or (args.repeats is not None and args.repeats < 1):
        print("vstream bench: --streams must be 1..64, --seconds > 0, --threads >= 1 and --repeats >= 1",
              file=sys.stderr)
        return 2
    from .streams import compare, format_result  # noqa: PLC0415
    result = compare(args.streams, args.seconds, args.threads, log=lambda s: print(s, file=sys.stderr),
                     repeats=args.repeats or 1)
    print(format_result(result))
    if args.json_path:
        _write_json(args.json_path, result)
        print(f"wrote {args.json_path}")
    return 0


def _write_json(path: str, result: dict) -> None:
    def clean(x):
        if isinstance(x, float) and (math.isnan(x) or math.isinf(x)):
            return None
        if isinstance(x, dict):
            return {str(k): clean(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [clean(v) for v in x]
        return x
    from ..atomic import write_json_atomic  # noqa: PLC0415
    write_json_atomic(path, clean(result), indent=2)


if __name__ == "__main__":     # python -m vstream_ros.bench.cli_bench --preset tiny
    parser = argparse.ArgumentParser(prog="vstream")
    register(parser.add_subparsers(dest="command"))
    sys.exit(main(parser.parse_args(["bench", *sys.argv[1:]])))
