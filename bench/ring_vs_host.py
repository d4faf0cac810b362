"""Product path vs the previous node design, side by side in one run (CPU): model-clock frames kept and narration F1.

A held-out synthetic world (the demo model's) is played in real time as a 10 Hz and a 30 Hz camera into
  (a) the previous node design: a 2-slot hand-off ring BEFORE the model clock, one worker thread running the
      synchronous StreamRunner (frame clock → vision → session) — what ros/assistant_core.py did;
  (b) the stream host the node now drives (vstream_ros.host): model clock at ingest, vision ‖ LLM pipeline,
      frames queued while the model talks.
Both run the shipped demo model on the same runtime backend, slowed by `--delay-ms` per forward (prefill or decode
step) to stand in for an 8B model's per-token time (the demo model itself replies in milliseconds on a CPU). The
reference of "what the model should say" is the offline replay of the same frames (stream host, reproducible:
nothing dropped); F1 is scored against the world's ground-truth narrations at ±1 s, as `vstream demo` does.

    python bench/ring_vs_host.py --duration 30 --delay-ms 40 --json bench/out/ring_vs_host.json

Lab code: imports vstream_ros (engine, host, demo, synth, replay.metrics); never ROS.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


class Ring:
    """The previous node's hand-off: deque(maxlen=2) of (rgb, t) → worker → StreamRunner.push."""

    def __init__(self, runner, size: int = 2):
        self.runner, self.ring = runner, collections.deque(maxlen=size)
        self.cv, self.stop, self.dropped = threading.Condition(), False, 0
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def submit(self, rgb, t):
        with self.cv:
            if len(self.ring) == self.ring.maxlen:
                self.dropped += 1
            self.ring.append((rgb, t))
            self.cv.notify()

    def _loop(self):
        while True:
            with self.cv:
                while not self.ring and not self.stop:
                    self.cv.wait(0.2)
                if not self.ring and self.stop:
                    return
                rgb, t = self.ring.popleft()
            self.runner.push(rgb, t)

    def close(self):
        with self.cv:
            self.stop = True
            self.cv.notify()
        self.thread.join()
        self.runner.finish()


def play(frames, submit, speed: float = 1.0) -> None:
    """Submit (t, rgb) frames at their capture times (real time / speed)."""
    t0, w0 = frames[0][0], time.perf_counter()
    for t, rgb in frames:
        ahead = (t - t0) / speed - (time.perf_counter() - w0)
        if ahead > 0:
            time.sleep(ahead)
        submit(rgb, t)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--world", type=int, default=0, help="held-out world index")
    ap.add_argument("--duration", type=float, default=30.0, help="seconds of the world to play")
    ap.add_argument("--rates", type=float, nargs="+", default=[10.0, 30.0], help="camera rates (Hz)")
    ap.add_argument("--delay-ms", type=float, default=40.0, help="added time per LLM forward (8B stand-in)")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    from vstream_ros.bench.wrappers import SlowBackend
    from vstream_lab.demo_model.heldout import heldout_config, references
    from vstream_ros.demo.evaluate import TOLERANCE
    from vstream_ros.engine.checkpoint import load_live_model
    from vstream_ros.engine.config import ModelSpec, StreamConfig
    from vstream_ros.engine.events import FrameDecision, Response
    from vstream_ros.engine.factory import build_backend
    from vstream_ros.engine.pipeline import PipelineConfig
    from vstream_ros.engine.runner import StreamRunner
    from vstream_ros.host.build import Engine
    from vstream_ros.host.stream_host import HostOptions, StreamHost
    from vstream_ros.replay.metrics import Utterance, timing_metrics
    from vstream_lab.synth.render import Renderer
    from vstream_lab.synth.world import World

    torch.set_num_threads(1)                 # the camera thread and the workers share 2 cores
    root = REPO / "models" / "demo"
    model = load_live_model(ModelSpec(checkpoint=str(root / "checkpoint"), llm=str(root / "llm"),
                                      vision=str(root / "vision"), device="cpu", dtype="float32"))
    cfg = StreamConfig()
    delay = args.delay_ms / 1e3

    def backend():
        fast = build_backend(model, "runtime", "full")
        return SlowBackend(fast, delay) if delay else fast

    class Collect:
        def __init__(self):
            self.decisions, self.replies = [], []

        def on_event(self, ev):
            if isinstance(ev, FrameDecision):
                self.decisions.append(ev.time)
            elif isinstance(ev, Response) and ev.trigger == "proactive":
                self.replies.append(Utterance(ev.time, ev.text))

    out = {"device": "CPU (2 cores)", "date": time.strftime("%Y-%m-%d"), "delay_ms": args.delay_ms,
           "duration_s": args.duration, "world": args.world, "command": " ".join(["python", *sys.argv]), "rates": {}}
    for hz in args.rates:
        world = World(heldout_config(args.world, args.duration, hz))
        frames = list(Renderer(world).frames())
        refs = references(world)
        dur = world.cfg.num_frames / world.cfg.fps
        offline = Collect()
        host = StreamHost(Engine(model, backend(), cfg), offline, HostOptions(pipeline=PipelineConfig.reproducible()))
        host.start()
        for t, rgb in frames:
            host.submit(rgb, t)
        host.finish()
        host.stop()
        due = len(offline.decisions)
        row = {"model_frames_due": due, "offline": {
            "f1": timing_metrics(refs, offline.replies, TOLERANCE, duration_s=dur).f1, "replies": len(offline.replies)}}
        # (a) the previous ring design
        ring_out = Collect()
        runner = StreamRunner(model, backend(), cfg, on_event=ring_out.on_event)
        ring = Ring(runner)
        play(frames, ring.submit)
        ring.close()
        # (b) the stream host, live options (drop only under sustained overload)
        host_out = Collect()
        host = StreamHost(Engine(model, backend(), cfg), host_out, HostOptions())
        host.start()
        play(frames, lambda rgb, t: host.submit(rgb, t))
        host.finish()
        host.stop()
        hs = host.stats()
        offline_texts = [u.text for u in offline.replies]
        for name, got, lost in (("ring", ring_out, ring.dropped), ("host", host_out, hs["frames_lost"])):
            m = timing_metrics(refs, got.replies, TOLERANCE, duration_s=dur)
            row[name] = {"model_frames_decided": len(got.decisions), "kept": len(got.decisions) / due,
                         "camera_frames_dropped": lost, "replies": len(got.replies), "f1": m.f1,
                         "same_narration_as_offline": [u.text for u in got.replies] == offline_texts}
        row["ratio_host_over_ring"] = {"kept": row["host"]["kept"] / max(row["ring"]["kept"], 1e-9),
                                       "f1": row["host"]["f1"] / max(row["ring"]["f1"], 1e-9)}
        out["rates"][f"{hz:g}"] = row
        print(f"{hz:g} Hz: due {due}; ring kept {row['ring']['kept']:.2f} F1 {row['ring']['f1']:.3f}; host kept "
              f"{row['host']['kept']:.2f} F1 {row['host']['f1']:.3f} (offline F1 {row['offline']['f1']:.3f}); "
              f"host narration == offline: {row['host']['same_narration_as_offline']}", flush=True)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(args.json + ".tmp")
        tmp.write_text(json.dumps(out, indent=1))
        os.replace(tmp, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
