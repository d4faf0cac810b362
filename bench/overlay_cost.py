"""Overlay on vs off, side by side in one run (CPU): does drawing the overlay slow the model's decisions?

The shipped demo model (runtime backend, bounded keyframes memory, the product defaults) watches the shipped demo
stream models/demo/streams/world_000.mp4 through the stream host, paced two ways:
  live    every video frame (10 Hz) is submitted at its capture time, in real time, as a camera would (the node's
          live pipeline options: drop under overload) — the model is idle between its 2 fps frames;
  closed  each model frame is submitted as soon as the previous one is decided (reproducible pipeline), so the
          drawing worker always competes with inference: the worst case, no idle time at all.
"on" adds what the node does with overlay.enabled:
StreamHost(observers=(feed,)): frames and every event to the overlay feed, the drawing worker (engine letterbox, render_overlay) and
the publish copy of the image (bytes → array('B'), as rclpy's uint8[] takes it); `--compressed` adds the JPEG of
overlay.compressed. Runs alternate off/on, on/off, … (interleaved repeats); decision latency = submit → that frame's
FrameDecision event. Printed: per-run medians and the ratio on/off (median over the pairs), ratios only.

    python bench/overlay_cost.py --pace closed --repeats 6 [--compressed] [--seconds 60] [--json out.json]
    python bench/overlay_cost.py --pace live --repeats 3 --seconds 30

Bench code: imports vstream_ros (engine, host, viz); never ROS.
"""
from __future__ import annotations

import argparse
import array
import json
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DEMO = REPO / "models" / "demo"
STREAM = DEMO / "streams" / "world_000.mp4"


def load():
    from vstream_ros.engine.config import ModelSpec
    from vstream_ros.host.build import EngineChoice, load_engine
    return load_engine(EngineChoice(ModelSpec(checkpoint=str(DEMO / "checkpoint"), llm=str(DEMO / "llm"),
                                              vision=str(DEMO / "vision"), device="cpu", dtype="float32")))


def video_frames(fps: float, seconds: float, model_only: bool):
    from vstream_ros.engine.frames import FrameClock, iter_video_frames
    clock = FrameClock(fps)
    return [(f.t, f.rgb) for f in iter_video_frames(STREAM) if f.t < seconds and (clock.accept(f.t) or not model_only)]


def run_once(engine, frames, overlay: bool, compressed: bool, live: bool = False) -> dict:
    from vstream_ros.engine.pipeline import PipelineConfig
    from vstream_ros.host.overlay_feed import OverlayFeed
    from vstream_ros.host.stream_host import HostOptions, StreamHost

    decided: dict[float, float] = {}
    cond = threading.Condition()
    feed = None

    def publish(t, rgb):                                    # what the node's publisher costs, without ROS
        array.array("B", rgb.tobytes())
        if compressed:
            import io

            from PIL import Image
            Image.fromarray(rgb).save(io.BytesIO(), format="JPEG", quality=85)
    if overlay:
        feed = OverlayFeed.for_engine(engine, publish)

    class Sink:
        @staticmethod
        def on_event(ev):
            if type(ev).__name__ == "FrameDecision":
                with cond:
                    decided[ev.time] = time.perf_counter()
                    cond.notify_all()

    engine.backend.reset()
    host = StreamHost(engine, Sink(), HostOptions(pipeline=PipelineConfig() if live else PipelineConfig.reproducible()),
                       observers=(feed,))
    host.start()
    submitted: dict[float, float] = {}
    wall0 = time.perf_counter()
    try:
        for t, rgb in frames:
            if live and (ahead := wall0 + t - time.perf_counter()) > 0:
                time.sleep(ahead)
            t0 = time.perf_counter()
            if host.submit(rgb, t) not in ("ok", "jump", "loop"):
                continue
            submitted[t] = t0
            if not live:
                with cond:
                    if not cond.wait_for(lambda: t in decided, 120):
                        raise RuntimeError(f"no decision for the frame at {t}")
        host.finish()
    finally:
        host.stop()
    wall = time.perf_counter() - wall0
    lat = [(decided[t] - t0) * 1e3 for t, t0 in submitted.items() if t in decided]
    out = {"overlay": overlay, "frames": len(lat), "median_ms": statistics.median(lat),
           "mean_ms": statistics.fmean(lat), "p90_ms": sorted(lat)[int(0.9 * (len(lat) - 1))], "wall_s": wall}
    if feed is not None:
        feed.close(timeout=30)
        out.update(feed.stats())
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=6, help="pairs of runs (off/on, then on/off, …)")
    ap.add_argument("--seconds", type=float, default=60.0, help="stream seconds per run (the stream is 60 s)")
    ap.add_argument("--compressed", action="store_true", help="also JPEG-encode each overlay (overlay.compressed)")
    ap.add_argument("--pace", choices=("closed", "live"), default="closed", help="see the module docstring")
    ap.add_argument("--json", help="write the runs and ratios here")
    args = ap.parse_args(argv)
    import torch
    engine = load()
    live = args.pace == "live"
    frames = video_frames(engine.stream.fps, args.seconds, model_only=not live)
    warm = video_frames(engine.stream.fps, 5.0, model_only=True)
    run_once(engine, warm, True, args.compressed)                        # warm-up (both paths' first calls)
    run_once(engine, warm, False, args.compressed)
    runs, ratios, mean_ratios, wall_ratios = [], [], [], []
    for r in range(args.repeats):
        pair = {}
        for mode in ((False, True) if r % 2 == 0 else (True, False)):
            res = run_once(engine, frames, mode, args.compressed, live)
            runs.append(res)
            pair[mode] = res
            print(f"repeat {r} overlay {'on ' if mode else 'off'}: {res['frames']} decisions, median "
                  f"{res['median_ms']:.1f} ms, p90 {res['p90_ms']:.1f} ms"
                  + (f", drawn {res['overlay_drawn']}, dropped {res['overlay_dropped']}" if mode else ""), flush=True)
        ratios.append(pair[True]["median_ms"] / pair[False]["median_ms"])
        mean_ratios.append(pair[True]["mean_ms"] / pair[False]["mean_ms"])
        wall_ratios.append(pair[True]["wall_s"] / pair[False]["wall_s"])
    summary = {"ratio_median_latency": statistics.median(ratios), "ratio_mean_latency": statistics.median(mean_ratios),
               "ratio_wall": statistics.median(wall_ratios), "pair_ratios": ratios, "repeats": args.repeats,
               "compressed": args.compressed, "pace": args.pace, "torch_threads": torch.get_num_threads(),
               "commit": subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                                        text=True).stdout.strip()}
    print(f"{args.pace} pace: decision latency, overlay on / off (median of {args.repeats} interleaved pairs): "
          f"median {summary['ratio_median_latency']:.3f}, mean {summary['ratio_mean_latency']:.3f}, "
          f"run wall time {summary['ratio_wall']:.3f}; pairs: " + " ".join(f"{x:.3f}" for x in ratios))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"summary": summary, "runs": runs}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
