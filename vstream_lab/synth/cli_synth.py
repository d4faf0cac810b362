"""`vstream-lab synth OUT_DIR`: write synthetic egocentric streams with exact ground truth.

    vstream-lab synth out/ --seed 0 --duration 60 --fps 10 --video
    vstream-lab synth out/ --seed 100 --num-videos 20 --split val --video --baselines
    vstream-lab synth out/ --needle-at 30 --bag mcap --compressed

Video i of --num-videos uses seed + i. See writers.py for the output layout.

Imports: argparse, synth.{script, writers}. No ROS, no torch.
"""
from __future__ import annotations

import argparse
import sys

from vstream_lab.synth.script import SynthConfig
from vstream_lab.synth.writers import BAG_STORAGES, SynthError, WriteOptions, write_dataset


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(x) for x in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 320x240, got {text!r}") from None
    return w, h


def _range(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected MIN,MAX seconds like 2,8, got {text!r}") from None
    return lo, hi


def register(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("synth", help="write synthetic egocentric streams with ground truth",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("out_dir", help="output folder (Ego4D-like layout)")
    p.add_argument("--seed", type=int, default=0, help="seed of the first world (default 0)")
    p.add_argument("--num-videos", type=int, default=1, help="worlds to write, seeds seed…seed+N-1 (default 1)")
    p.add_argument("--duration", type=float, default=60.0, help="seconds per stream (default 60)")
    p.add_argument("--fps", type=float, default=10.0, help="capture fps (default 10)")
    p.add_argument("--size", type=_size, default=(320, 240), help="frame size WxH (default 320x240)")
    p.add_argument("--objects", type=int, default=None, help="objects per scene, 4..8 (default: 4..6 by seed)")
    p.add_argument("--needle-at", type=float, default=None, help="show a needle object from this time (s)")
    p.add_argument("--needle-duration", type=float, default=4.0, help="needle visibility in s (default 4)")
    p.add_argument("--idle", type=_range, default=(2.0, 8.0), help="pause between tasks MIN,MAX s (default 2,8)")
    p.add_argument("--hover", type=float, default=0.3, help="chance of a hand hover (no event) in a pause")
    p.add_argument("--split", default="train", help="split name of goalstep_<split>.json / dialogues (default train)")
    p.add_argument("--video", action="store_true", help="write v2/full_scale/<uid>.mp4")
    p.add_argument("--codec", default=None, help="video encoder (default: libx264, else mpeg4)")
    p.add_argument("--bag", choices=BAG_STORAGES, default=None, help="also write a rosbag with this storage")
    p.add_argument("--compressed", action="store_true", help="bag images as CompressedImage (JPEG) on /camera/image_raw/compressed")
    p.add_argument("--baselines", action="store_true", help="run the silent/interval/change baselines")
    p.add_argument("--labels", action="store_true", help="write per-frame labels labels/<uid>.npz (dialogue fps)")
    p.add_argument("--dialogue-fps", type=float, default=2.0, help="model fps of the dialogue JSONL (default 2)")
    p.set_defaults(func=main)
    return p


def main(args) -> int:
    if args.num_videos < 1:
        print("vstream synth: --num-videos must be >= 1", file=sys.stderr)
        return 2
    try:
        configs = [SynthConfig(seed=args.seed + i, duration=args.duration, fps=args.fps, width=args.size[0],
                               height=args.size[1], n_objects=args.objects, needle_at=args.needle_at,
                               needle_duration=args.needle_duration, split=args.split,
                               idle=args.idle, hover=args.hover)
                   for i in range(args.num_videos)]
        opts = WriteOptions(video=args.video, codec=args.codec, bag=args.bag, compressed=args.compressed,
                            baselines=args.baselines, labels=args.labels, dialogue_fps=args.dialogue_fps,
                            split=args.split)
        summary = write_dataset(args.out_dir, configs, opts, log=print)
    except (ValueError, SynthError, OSError) as e:
        print(f"vstream synth: {e}", file=sys.stderr)
        return 2
    for note in summary["notes"]:
        print(f"note: {note}")
    print(f"wrote {len(summary['videos'])} stream(s), {summary['events']} events to {args.out_dir}")
    return 0


if __name__ == "__main__":   # python -m vstream_lab.synth.cli_synth OUT_DIR …
    _p = argparse.ArgumentParser(prog="vstream")
    _sp = _p.add_subparsers(dest="cmd", required=True)
    register(_sp)
    _a = _p.parse_args(["synth", *sys.argv[1:]])
    sys.exit(_a.func(_a))
