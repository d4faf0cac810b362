"""`vstream demo`: narrate a held-out synthetic stream with the shipped demo model, live, on a CPU.

    vstream demo                       # shipped stream 0: 60 s at 10 fps, about 15 s on 2 cores
    vstream demo --world 2 --out demo_out/ --threshold 0.6
    vstream demo --stream s600 --window-minutes 1    # a longer held-out stream: vstream-lab synth s600 --video …

Decodes a shipped egocentric video the model never saw (models/demo/streams/, demo/streams.py: rendered once
from held-out synthetic worlds by the lab), feeds every frame to the streaming engine (`StreamRunner` on the
backend engine.factory builds, product defaults: runtime, bounded memory) with the demo model, prints each
narration as it is produced with its capture time beside the ground truth; with a model trained to answer over
recalled memory (recall auto: its trained_context.json), asks three questions about the stream's past at its end
(demo/questions.py) and prints each answer beside the truth; then the metric table (timing F1 at ±1 s, |Δt|, text similarity)
of the model and of the model-free baselines on the same frames (on streams over 20 minutes also per
10-minute window, replay/windows.py), and writes OUT/timeline.png and
OUT/demo.json. The model folder is --model (a model root), else (`demo`, the default) $VSTREAM_DEMO_MODEL, the
source tree's models/demo/ or <prefix>/share/vstream_ros/models/demo/. Options are spelled as in run/replay (the
table of vstream_ros/options_table.py).

Imports: argparse, stdlib, cli_common / engine.options / options_table (torch-free; torch and the engine lazily).
No ROS.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from dataclasses import replace

from vstream_ros.cli_common import add_option
from vstream_ros.engine.options import BY_KEY as ENGINE_OPTIONS
from vstream_ros.options_table import BY_CONCEPT

MODEL_ENV = "VSTREAM_DEMO_MODEL"


def model_candidates() -> list[Path]:
    from vstream_ros.engine.sources import demo_candidates  # noqa: PLC0415
    return demo_candidates()


def find_model(model_dir: str | None) -> Path:
    """The demo model root: --model (a model root), else (`demo` or nothing) the shipped one (engine/sources.py
    searches the usual places)."""
    from vstream_ros.engine.sources import CheckpointError, find_demo_root  # noqa: PLC0415
    if not model_dir or model_dir == "demo":
        try:
            return find_demo_root()
        except CheckpointError as e:
            raise FileNotFoundError(str(e)) from None
    c = Path(model_dir)
    if (c / "checkpoint" / "adapter_config.json").is_file() and (c / "llm").is_dir() and (c / "vision").is_dir():
        return c
    raise FileNotFoundError(f"no demo model (checkpoint/, llm/, vision/) in {c}; pass --model DIR or train one: "
                            "python -m vstream_lab.demo_model.train_demo --config config/train/demo.yaml --out models/demo")


def register(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("demo", help="narrate a held-out synthetic stream with the shipped demo model",
                              description=__doc__.split("\n\n")[0])
    model = BY_CONCEPT["model.checkpoint"].names()["demo"][1]
    p.add_argument("--model", default=model, metavar="CKPT",
                   help=f"`demo` (default: the shipped demo model, ${MODEL_ENV} or models/demo) or a model root "
                   "(checkpoint/ + llm/ + vision/, e.g. one trained with vstream_lab.demo_model.train_demo)")
    p.add_argument("--model-dir", dest="model", help=argparse.SUPPRESS)          # the name before --model
    p.add_argument("--world", type=int, default=0,
                   help="which shipped held-out stream to watch (models/demo/streams/world_N; default 0)")
    p.add_argument("--stream", default=None, metavar="DIR",
                   help="watch a longer held-out stream instead: the folder of `vstream-lab synth DIR --seed S "
                        "--duration 600 --fps 2 --video --split heldout` (scores per 10-minute window over 20 min)")
    p.add_argument("--duration", type=float, default=None,
                   help="watch only the first SECONDS of the stream (default: all of it, 60 s)")
    p.add_argument("--window-minutes", type=float, default=None, metavar="M",
                   help="also score every M-minute window (default: 10 on streams over 20 minutes, else none; 0 = none)")
    for concept in ("stream.threshold", "stream.max_new_tokens"):      # the table's checks; the demo's defaults
        flag, default = BY_CONCEPT[concept].names()["demo"]
        add_option(p, replace(ENGINE_OPTIONS[concept], default=default))
    p.add_argument("--out", default="vstream_demo", help="folder for timeline.png and demo.json (default vstream_demo/)")
    p.add_argument("--no-baselines", action="store_true", help="skip the baseline narrators")
    p.add_argument("--quiet", action="store_true", help="no live narration, only the final table")
    p.set_defaults(func=main)
    return p


def check_demo_args(args) -> None:
    """ValueError for options that can be refused before anything is generated or loaded."""
    if args.world < 0:
        raise ValueError(f"--world must be a held-out stream index >= 0, got {args.world}")
    if args.window_minutes is not None and not args.window_minutes >= 0:
        raise ValueError(f"--window-minutes must be >= 0 (0 = the whole stream only), got {args.window_minutes:g}")
    if args.duration is not None and not args.duration > 0:
        raise ValueError(f"--duration must be > 0 seconds, got {args.duration:g}")


def main(args) -> int:
    try:
        check_demo_args(args)
        root = find_model(args.model)
        from vstream_ros.engine.config import StreamConfig  # noqa: PLC0415
        cfg = StreamConfig(max_new_tokens=args.max_new_tokens, threshold=args.threshold)
        from .streams import load_stream, load_synth_stream  # noqa: PLC0415
        stream = load_synth_stream(args.stream) if args.stream else load_stream(root, args.world)
    except (FileNotFoundError, ValueError) as e:
        print(f"vstream demo: error: {e}", file=sys.stderr)
        return 2
    return run_demo(root, stream, cfg, Path(args.out), baselines=not args.no_baselines, live=not args.quiet,
                    duration=args.duration, window_minutes=args.window_minutes)


def run_demo(root: Path, stream, cfg, out: Path, baselines: bool = True, live: bool = True,
             duration: float | None = None, window_minutes: float | None = None) -> int:
    """Watch `stream` (a demo.streams.DemoStream; its first `duration` seconds if given) with the demo model."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    import warnings  # noqa: PLC0415
    warnings.filterwarnings("ignore")
    from vstream_ros.engine.checkpoint import CheckpointError, load_live_model  # noqa: PLC0415
    from vstream_ros.engine.config import ModelSpec  # noqa: PLC0415
    from vstream_ros.engine.events import Response  # noqa: PLC0415
    from vstream_ros.engine.options import EngineConfig  # noqa: PLC0415
    from vstream_ros.replay.report import timeline_png  # noqa: PLC0415
    from .evaluate import (TOLERANCE, Aggregate, format_table, grid_frames, run_baselines,  # noqa: PLC0415
                           run_model, score)
    from .live import LivePrinter  # noqa: PLC0415

    t_start = time.perf_counter()
    length = stream.duration if duration is None else min(duration, stream.duration)
    refs = [r for r in stream.references if r.t < length]
    decoded = ((t, rgb) for t, rgb in stream.frames() if t < length)   # decoded once: model and baselines
    if stream.seed is None:                      # --stream: a long synth stream, only what the model clock takes
        frames = grid_frames(decoded, cfg.fps)    # (the same frames for the model and the baselines)
        print(f"vstream demo: held-out stream {stream.video} ({length:g} s at {stream.fps:g} fps, {len(refs)} "
              f"narrated events)")
    else:
        frames = list(decoded)
        print(f"vstream demo: held-out stream {stream.index} ({stream.video.name}, world seed {stream.seed}; "
              f"{length:g} s at {stream.fps:g} fps, {len(refs)} narrated events; objects: "
              f"{', '.join(stream.objects)})")
    spec = ModelSpec(checkpoint=str(root / "checkpoint"), llm=str(root / "llm"), vision=str(root / "vision"),
                     device="cpu", dtype="float32")
    choice = EngineConfig(spec, cfg)
    ctx = choice.trained_context()
    plan = choice.memory_plan(ctx)                              # the product default: sized to the model
    recall = choice.recall_config(ctx)                          # on for a model trained to answer over it
    asks = []
    if recall is not None:
        from dataclasses import replace as _replace  # noqa: PLC0415
        from .questions import questions  # noqa: PLC0415
        cfg = _replace(cfg, recall=recall)
        asks = questions(refs, length - 0.5)
    try:
        model = load_live_model(spec)
    except (CheckpointError, OSError, ValueError) as e:
        print(f"vstream demo: error: cannot load the demo model from {root}: {e}", file=sys.stderr)
        return 2
    print(f"model: {root} (loaded in {time.perf_counter() - t_start:.1f} s); model fps {cfg.fps:g}, "
          f"threshold {cfg.threshold:g}")
    print(f"memory: {plan.note}")
    printer = LivePrinter(refs, live, TOLERANCE)
    if live:
        print(f"\n(each reply is shown with the truth it is scored against, once its ±{TOLERANCE:g} s window has "
              "closed)\n   time    who    │ narration")

    def on_event(ev):
        if isinstance(ev, Response) and ev.trigger == "proactive":
            printer.reply(ev.time, ev.text)

    run = run_model(model, frames, cfg, on_frame=printer.frame, on_event=on_event, memory=plan.memory,
                    asks=[(length - 0.5, q.text) for q in asks])
    printer.frame(float("inf"))
    qa = [{"question": q.text, "answer": a[2], "truth": q.truth, "right": q.right(a[2]), "evidence": list(a[3])}
          for q, a in zip(asks, run.answers)]
    if qa:
        print(f"\nquestions about the past at {length - 0.5:g} s, answered over recalled memory (truth from the "
              "reference narrations):")
        for x in qa:
            print(f"  {'✓' if x['right'] else '✗'} {x['question']}\n      model: {x['answer']}\n      truth: {x['truth']}")
    said = {"demo model": run.preds}
    if baselines:
        said.update(run_baselines(frames, cfg.fps))
    results = {name: score(refs, preds, length) for name, preds in said.items()}
    rows = [Aggregate(name).add(r).row() for name, r in results.items()]
    from vstream_ros.replay.windows import auto_window_s, f1_series, window_metrics  # noqa: PLC0415
    window_s = auto_window_s(length, window_minutes)   # long streams: every narrator also per window, same matching
    windows = ({name: window_metrics(refs, preds, TOLERANCE, window_s, length) for name, preds in said.items()}
               if window_s else {})
    print(f"\nmetrics on this stream (one-to-one matching, tolerance ±{TOLERANCE:g} s; text similarity over matched "
          f"pairs):\n")
    print(format_table(rows))
    if windows:
        print(f"\nF1 per {window_s / 60:g}-minute window:")
        for name, w in windows.items():
            print(f"  {name:<12} {f1_series(w)}")
    out.mkdir(parents=True, exist_ok=True)
    png = timeline_png(out / "timeline.png", refs, run.preds, results["demo model"], run.trace, cfg.threshold)
    record = {"stream": {"index": stream.index, "video": str(stream.video), "seed": stream.seed, "duration": length,
                         "fps": stream.fps},
              "model": str(root), "threshold": cfg.threshold, "tolerance": TOLERANCE, "table": rows, "windows": windows,
              "references": [[u.t, u.text] for u in refs], "predictions": [[u.t, u.text] for u in run.preds],
              "run": {k: v for k, v in run.stats.items() if isinstance(v, (int, float, str))}, "questions": qa}
    tmp = out / ".demo.json.tmp"
    tmp.write_text(json.dumps(record, indent=1))
    os.replace(tmp, out / "demo.json")
    s = run.stats
    print(f"\nengine: {s.get('frames_used', 0)} of {s.get('frames_in', 0)} frames used at {cfg.fps:g} fps, "
          f"{s['wall_s']:.1f} s for a {length:.0f} s stream; total {time.perf_counter() - t_start:.0f} s")
    print(f"wrote {png} and {out / 'demo.json'}")
    return 0


if __name__ == "__main__":   # python -m vstream_ros.demo.cli_demo [...]
    _p = argparse.ArgumentParser(prog="vstream")
    _sp = _p.add_subparsers(dest="cmd", required=True)
    register(_sp)
    _a = _p.parse_args(["demo", *sys.argv[1:]])
    sys.exit(_a.func(_a))
